//! `datasets.lock`: the pins (commit, sha256, size) of every dataset a rule names, as JSON.
//! Reading validates what later becomes a file name or a request, so a hand-edited lock
//! cannot point the cache outside its folder or fetch a moving branch.

use std::path::Path;

use anyhow::{Context as _, bail, ensure};
use serde::{Deserialize, Serialize};

/// The lock format version this code reads and writes.
const FORMAT: u32 = 1;

/// The whole lock file.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Lock {
    pub(crate) format: u32,
    /// Sorted by `url`, one entry per URL.
    pub(crate) datasets: Vec<Pin>,
}

/// One locked dataset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Pin {
    /// The URL exactly as the rule names it (often on a moving branch such as `master`).
    pub(crate) url: String,
    /// The upstream commit the content was taken from.
    pub(crate) commit: String,
    /// `url` with its branch replaced by `commit`: what is actually downloaded.
    pub(crate) pinned_url: String,
    /// Lowercase hex sha256 of the decoded content.
    pub(crate) sha256: String,
    /// Size in bytes of the decoded content.
    pub(crate) size: u64,
    /// A committed stand-in (path from the workspace root) that the gate and `cargo xtask
    /// run` use when the dataset cannot be fetched; kept across `--update-lock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fixture: Option<String>,
}

impl Lock {
    pub(crate) fn new(mut datasets: Vec<Pin>) -> Self {
        datasets.sort_by(|a, b| a.url.cmp(&b.url));
        Self { format: FORMAT, datasets }
    }

    /// Reads and validates a lock file; a missing file is an empty lock.
    pub(crate) fn read(path: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::new(Vec::new()));
            }
            Err(err) => {
                return Err(err).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        Self::parse(&text).with_context(|| format!("invalid lock file {}", path.display()))
    }

    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        let lock: Self = serde_json::from_str(text).context("not a datasets lock (JSON)")?;
        ensure!(
            lock.format == FORMAT,
            "lock format {} is not supported, expected {FORMAT}",
            lock.format
        );
        for pair in lock.datasets.windows(2) {
            ensure!(
                pair[0].url < pair[1].url,
                "entries must be sorted by url without duplicates, found {} before {}",
                pair[0].url,
                pair[1].url
            );
        }
        for pin in &lock.datasets {
            pin.validate().with_context(|| format!("bad entry for {}", pin.url))?;
        }
        Ok(lock)
    }

    pub(crate) fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(self).context("cannot serialize the lock")?;
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    }

    pub(crate) fn find(&self, url: &str) -> Option<&Pin> {
        self.datasets.iter().find(|pin| pin.url == url)
    }
}

impl Pin {
    fn validate(&self) -> anyhow::Result<()> {
        ensure!(is_lower_hex(&self.sha256, 64), "sha256 must be 64 lowercase hex digits");
        ensure!(is_lower_hex(&self.commit, 40), "commit must be 40 lowercase hex digits");
        // Only URLs we know how to pin can be checked against their commit; others are taken
        // as written so that a lock can name a host this code does not know yet.
        if let Ok(expected) = pin_url(&self.url, &self.commit) {
            ensure!(
                expected == self.pinned_url,
                "pinned_url must be {expected} (url at commit {}), found {}",
                self.commit,
                self.pinned_url
            );
        }
        Ok(())
    }
}

pub(crate) fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Replaces the branch in a GitHub content URL by `commit`.
///
/// Knows `media.githubusercontent.com/media/{owner}/{repo}/{ref}/…` (Git LFS objects) and
/// `raw.githubusercontent.com/{owner}/{repo}/{ref}/…`. A ref containing `/` cannot be told
/// apart from the path and is not supported.
pub(crate) fn pin_url(url: &str, commit: &str) -> anyhow::Result<String> {
    ensure!(is_lower_hex(commit, 40), "commit must be 40 lowercase hex digits, found {commit:?}");
    let parsed = reqwest::Url::parse(url).with_context(|| format!("not a URL: {url}"))?;
    let ref_index = match parsed.host_str() {
        Some("media.githubusercontent.com") => 3,
        Some("raw.githubusercontent.com") => 2,
        _ => bail!(
            "cannot pin {url}: expected a media.githubusercontent.com or \
             raw.githubusercontent.com URL"
        ),
    };
    let mut segments: Vec<&str> = parsed.path_segments().map(Iterator::collect).unwrap_or_default();
    ensure!(
        segments.len() > ref_index + 1 && (ref_index != 3 || segments[0] == "media"),
        "cannot pin {url}: no branch or commit segment where one was expected"
    );
    segments[ref_index] = commit;
    let mut pinned = parsed.clone();
    pinned.set_path(&segments.join("/"));
    ensure!(pinned.scheme() == "https", "cannot pin {url}: only https URLs are fetched");
    Ok(pinned.into())
}
