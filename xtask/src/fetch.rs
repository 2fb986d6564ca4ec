//! `cargo xtask fetch`: downloads the datasets pinned in `datasets.lock` into a local cache,
//! verifying size and sha256, and records new pins with `--update-lock`. Without network it
//! reports what could not be fetched instead of failing the caller.
//!
//! # API for the gate
//!
//! [`ensure_all`]`(root, Mode::Online)` (or `Mode::Offline`, which never touches the network)
//! returns one [`DatasetStatus`] per dataset URL that `datasets.lock` pins or a rule under
//! `detections/` names. Each carries the URL as the rule names it and a [`DatasetState`]:
//! `Ready(path)` to a verified file, or `Unavailable(reason)` (not in the cache while offline,
//! not pinned in the lock, or why the download failed). `Err` is kept for problems the caller
//! cannot work around: an unreadable lock or rule, an unusable cache folder.
//!
//! # Cache
//!
//! `target/dataset/` unless the environment variable `DETECTION_DATASET_CACHE` names another
//! folder (CI points it at a folder it caches). Entries are named by their sha256, never by
//! the URL. Downloads go to `.partial-*` temporary files in the same folder and are renamed
//! only once verified; a partial file left by a killed run is ignored, and removed once stale.
//! A cached file is hashed again before every use; a wrong one is removed and fetched again.
//!
//! # Lock format
//!
//! JSON: `{"format": 1, "datasets": [{"url", "commit", "pinned_url", "sha256", "size"}]}`,
//! sorted by `url`. `pinned_url` is `url` with its branch replaced by `commit`; the pin is of
//! the decoded content (after any `Content-Encoding: gzip`).

pub(crate) mod cache;
mod download;
mod lock;
mod rules;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::{note, out};

use self::cache::{Cache, Lookup, STALE_PARTIAL_AGE};
use self::download::{Downloader, Expected, Options};
use self::lock::{Lock, Pin, pin_url};

/// Environment variable naming the dataset cache folder.
pub(crate) const CACHE_ENV: &str = "DETECTION_DATASET_CACHE";

/// The lock file, at the workspace root.
pub(crate) const LOCK_FILE: &str = "datasets.lock";

/// Arguments of `cargo xtask fetch`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Do not touch the network: only report which locked datasets the cache holds.
    #[arg(long, conflicts_with_all = ["update_lock", "commit"])]
    offline: bool,
    /// Download every dataset the rules name and record its sha256 and size in datasets.lock.
    #[arg(long)]
    update_lock: bool,
    /// With --update-lock: pin the rules' URLs at this upstream commit instead of the locked one.
    #[arg(long, requires = "update_lock", value_name = "SHA")]
    commit: Option<String>,
}

/// Whether [`ensure_all`] may use the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Online,
    Offline,
}

/// One dataset and whether it can be used.
#[derive(Debug)]
pub(crate) struct DatasetStatus {
    /// The URL as the rule names it.
    pub(crate) url: String,
    pub(crate) state: DatasetState,
    /// The committed stand-in the lock names, from the workspace root.
    pub(crate) fixture: Option<PathBuf>,
}

#[derive(Debug)]
pub(crate) enum DatasetState {
    /// A verified copy at this path.
    Ready(PathBuf),
    Unavailable(Unavailable),
}

/// Why a dataset cannot be used; the gate then falls back to committed fixtures.
#[derive(Debug)]
pub(crate) enum Unavailable {
    /// Offline and the cache holds no verified copy.
    NotInCache,
    /// A rule names the URL but `datasets.lock` does not pin it.
    NotPinned,
    /// The download failed; the text says why.
    FetchFailed(String),
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotInCache => f.write_str("not in the cache (offline)"),
            Self::NotPinned => write!(
                f,
                "not pinned in {LOCK_FILE}; run `cargo xtask fetch --update-lock --commit <sha>`"
            ),
            Self::FetchFailed(reason) => f.write_str(reason),
        }
    }
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let root = crate::project_root();
    if args.update_lock {
        return update_lock(
            &root.join("detections"),
            &root.join(LOCK_FILE),
            &Cache::open(&cache_dir(&root))?,
            args.commit.as_deref(),
            &Options::production(),
        );
    }
    let mode = if args.offline { Mode::Offline } else { Mode::Online };
    let statuses = ensure_all(&root, mode)?;
    let unavailable = print_statuses(&statuses)?;
    if unavailable > 0 && mode == Mode::Online {
        bail!("{unavailable} of {} datasets could not be fetched", statuses.len());
    }
    Ok(())
}

/// One line per dataset on stdout; how many are unavailable. A closed stdout is the error.
fn print_statuses(statuses: &[DatasetStatus]) -> std::io::Result<usize> {
    let mut unavailable = 0;
    for status in statuses {
        match &status.state {
            DatasetState::Ready(path) => {
                out(format_args!("ready        {} -> {}", status.url, path.display()))?;
            }
            DatasetState::Unavailable(reason) => {
                unavailable += 1;
                out(format_args!("unavailable  {}: {reason}", status.url))?;
            }
        }
    }
    if statuses.is_empty() {
        out(format_args!("no datasets are locked or named by rules"))?;
    }
    Ok(unavailable)
}

/// The cache folder: `$DETECTION_DATASET_CACHE`, or `target/dataset/` under `root`.
pub(crate) fn cache_dir(root: &Path) -> PathBuf {
    match std::env::var_os(CACHE_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => root.join("target").join("dataset"),
    }
}

/// Makes every locked dataset available in the cache, as far as `mode` and the network allow.
/// See the module docs.
pub(crate) fn ensure_all(root: &Path, mode: Mode) -> anyhow::Result<Vec<DatasetStatus>> {
    ensure_all_in(root, &cache_dir(root), mode)
}

/// [`ensure_all`] with the cache in `cache_dir`, whatever the environment says.
pub(crate) fn ensure_all_in(
    root: &Path,
    cache_dir: &Path,
    mode: Mode,
) -> anyhow::Result<Vec<DatasetStatus>> {
    let lock = Lock::read(&root.join(LOCK_FILE))?;
    let named = rules::dataset_urls(&root.join("detections"))?;
    let cache = Cache::open(cache_dir)?;
    let mut statuses = ensure_pins(&lock.datasets, &cache, mode, &Options::production())?;
    statuses.extend(named.into_iter().filter(|url| lock.find(url).is_none()).map(|url| {
        DatasetStatus {
            url,
            state: DatasetState::Unavailable(Unavailable::NotPinned),
            fixture: None,
        }
    }));
    statuses.sort_by(|a, b| a.url.cmp(&b.url));
    Ok(statuses)
}

/// [`ensure_all`] for given pins, cache and download options.
fn ensure_pins(
    pins: &[Pin],
    cache: &Cache,
    mode: Mode,
    options: &Options,
) -> anyhow::Result<Vec<DatasetStatus>> {
    let mut fetcher = None;
    if mode == Mode::Online {
        let removed = cache.clean_stale_partials(STALE_PARTIAL_AGE)?;
        if removed > 0 {
            let dir = cache.dir().display();
            note(format_args!("removed {removed} unfinished download(s) from {dir}"));
        }
    }
    let mut statuses = Vec::with_capacity(pins.len());
    for pin in pins {
        let state = match cache.lookup(pin)? {
            Lookup::Verified(path) => DatasetState::Ready(path),
            Lookup::Missing if mode == Mode::Offline => {
                DatasetState::Unavailable(Unavailable::NotInCache)
            }
            Lookup::Rejected(reason) if mode == Mode::Offline => {
                note(format_args!("removed a wrong cached copy: {reason}"));
                DatasetState::Unavailable(Unavailable::NotInCache)
            }
            Lookup::Blocked(reason) if mode == Mode::Offline => {
                note(format_args!("cannot use the cache: {reason}"));
                DatasetState::Unavailable(Unavailable::NotInCache)
            }
            Lookup::Blocked(reason) => DatasetState::Unavailable(Unavailable::FetchFailed(
                format!("cannot fetch: {reason}"),
            )),
            found => {
                if let Lookup::Rejected(reason) = found {
                    note(format_args!("removed a wrong cached copy, fetching again: {reason}"));
                }
                let fetcher = match &mut fetcher {
                    Some(fetcher) => fetcher,
                    None => fetcher.insert(Downloader::new(options.clone())?),
                };
                note(format_args!("fetching {} ({} bytes)", pin.pinned_url, pin.size));
                let expected = Expected { sha256: &pin.sha256, size: pin.size };
                match fetcher.download(&pin.pinned_url, Some(expected), cache) {
                    Ok(downloaded) => DatasetState::Ready(downloaded.path),
                    Err(err) => {
                        DatasetState::Unavailable(Unavailable::FetchFailed(format!("{err:#}")))
                    }
                }
            }
        };
        let fixture = pin.fixture.as_deref().map(PathBuf::from);
        statuses.push(DatasetStatus { url: pin.url.clone(), state, fixture });
    }
    Ok(statuses)
}

/// Re-pins every dataset the rules name from a fresh download: of the locked `pinned_url`, or
/// of the rule's URL at `commit` when given. Writes the lock only if every download succeeds.
fn update_lock(
    detections: &Path,
    lock_path: &Path,
    cache: &Cache,
    commit: Option<&str>,
    options: &Options,
) -> anyhow::Result<()> {
    let urls = rules::dataset_urls(detections)?;
    if urls.is_empty() {
        bail!("no rule under {} names a dataset; nothing to lock", detections.display());
    }
    let old = Lock::read(lock_path)?;
    let mut fetcher = Downloader::new(options.clone())?;
    let mut pins = Vec::with_capacity(urls.len());
    for url in urls {
        let (commit, pinned_url) = match (commit, old.find(&url)) {
            (Some(commit), _) => (commit.to_owned(), pin_url(&url, commit)?),
            (None, Some(locked)) => (locked.commit.clone(), locked.pinned_url.clone()),
            (None, None) => bail!("{url} has no pin yet; pass --commit <sha> to pin it"),
        };
        note(format_args!("fetching {pinned_url}"));
        let downloaded = fetcher.download(&pinned_url, None, cache)?;
        let fixture = old.find(&url).and_then(|locked| locked.fixture.clone());
        let pin = Pin {
            url,
            commit,
            pinned_url,
            sha256: downloaded.sha256,
            size: downloaded.size,
            fixture,
        };
        let verdict = match old.find(&pin.url) {
            Some(locked) if *locked == pin => "unchanged",
            Some(_) => "updated",
            None => "added",
        };
        out(format_args!("{verdict:9}  {} sha256 {} {} bytes", pin.url, pin.sha256, pin.size))?;
        pins.push(pin);
    }
    for dropped in old.datasets.iter().filter(|old| !pins.iter().any(|pin| pin.url == old.url)) {
        out(format_args!("removed    {} (no rule names it)", dropped.url))?;
    }
    Lock::new(pins).write(lock_path)
}
