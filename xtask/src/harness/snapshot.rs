//! The hits snapshot of one rule, `snapshots/hits/<rule file stem>.snap`: insta's file layout
//! (a `---` header naming the rule file, then YAML) holding the rule's rows on each of its own
//! datasets and its rows on the benign corpus, grouped by dataset. Benign files where the rule
//! returns nothing are left out, so adding a benign file touches only the snapshots of the
//! rules that fire on it. A pending change is written beside it as `.snap.new`, as insta does.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// Where the hits snapshots of a content tree live, below its root.
pub(crate) const HITS_DIR: &str = "snapshots/hits";

/// Extension of an accepted snapshot.
pub(crate) const SNAP: &str = "snap";

/// What a hits snapshot locks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Body {
    /// The rule's name when the snapshot was taken (a rename shows up in review).
    pub(crate) rule: String,
    /// Rows on each of the rule's own datasets, in the order the rule names them.
    #[serde(default)]
    pub(crate) datasets: Vec<Section>,
    /// Rows on benign files, only those where there are any, sorted by file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) benign: Vec<Section>,
}

/// The rows of one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Section {
    /// The dataset as the rule names it (URL or path), or the benign file's path.
    pub(crate) data: String,
    /// The committed file that stood in for `data`: its rows are the stand-in's, kept apart
    /// from those of the real dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stand_in: Option<String>,
    /// Rows as Splunk returns them: one map per row, fields in column order.
    pub(crate) rows: Vec<serde_yaml::Value>,
}

impl Section {
    /// Whether `other` is the same dataset (and the same stand-in).
    pub(crate) fn same_dataset(&self, other: &Section) -> bool {
        self.data == other.data && self.stand_in == other.stand_in
    }
}

impl Body {
    /// Whether there is anything to lock: a section that ran or was kept.
    pub(crate) fn is_empty(&self) -> bool {
        self.datasets.is_empty() && self.benign.is_empty()
    }

    /// The snapshot file's text: the header naming the rule file, then the YAML body.
    pub(crate) fn to_text(&self, rule_file: &str) -> anyhow::Result<String> {
        let yaml = serde_yaml::to_string(self).context("cannot write the snapshot as YAML")?;
        Ok(format!("---\nsource: {rule_file}\n---\n{yaml}"))
    }

    /// Reads a snapshot file's text (header optional).
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        serde_yaml::from_str(strip_header(text)).context("not a hits snapshot")
    }
}

/// The YAML after insta's `---` … `---` header, if there is one.
pub(crate) fn strip_header(text: &str) -> &str {
    if let Some(rest) = text.strip_prefix("---\n")
        && let Some(end) = rest.find("\n---\n")
    {
        return &rest[end + "\n---\n".len()..];
    }
    text
}

/// `snapshots/hits/<stem>.snap` under `root`.
pub(crate) fn path_for(root: &Path, stem: &str) -> PathBuf {
    root.join(HITS_DIR).join(format!("{stem}.{SNAP}"))
}

/// The pending file beside a snapshot.
pub(crate) fn pending_path(snapshot: &Path) -> PathBuf {
    let mut name = snapshot.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// A snapshot as found on disk.
pub(crate) enum Stored {
    Missing,
    Found(Body),
    /// The file is there but is not a snapshot; the text says why.
    Unreadable(String),
}

/// The largest snapshot read: far above any rule's rows on its datasets, and a bound on what
/// a stray file (a dataset saved under `snapshots/hits/` by mistake) can cost.
const MAX_SNAPSHOT_BYTES: u64 = 64 << 20;

pub(crate) fn read(path: &Path) -> Stored {
    read_at_most(path, MAX_SNAPSHOT_BYTES)
}

fn read_at_most(path: &Path, limit: u64) -> Stored {
    match detection::content::read_text_at_most(path, limit) {
        Ok(None) => Stored::Unreadable(format!(
            "{}: larger than {limit} bytes, which no snapshot of rows is",
            path.display()
        )),
        Ok(Some(text)) => match Body::parse(&text) {
            Ok(body) => Stored::Found(body),
            Err(err) => Stored::Unreadable(format!("{}: {err:#}", path.display())),
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Stored::Missing,
        Err(err) => Stored::Unreadable(format!("{}: cannot read: {err}", path.display())),
    }
}

/// One row as a single line of flow YAML, as the report and review show it: values in single
/// quotes, where a backslash is itself.
pub(crate) fn row_line(row: &serde_yaml::Value) -> String {
    let serde_yaml::Value::Mapping(map) = row else { return scalar(row) };
    let fields: Vec<String> =
        map.iter().map(|(key, value)| format!("{}: {}", plain(key), scalar(value))).collect();
    format!("{{{}}}", fields.join(", "))
}

fn plain(key: &serde_yaml::Value) -> String {
    match key {
        serde_yaml::Value::String(text) => text.clone(),
        other => scalar(other),
    }
}

fn scalar(value: &serde_yaml::Value) -> String {
    match value {
        serde_yaml::Value::String(text) => {
            format!("'{}'", text.replace('\'', "''").replace('\n', "↵"))
        }
        serde_yaml::Value::Sequence(items) => {
            format!("[{}]", items.iter().map(scalar).collect::<Vec<_>>().join(", "))
        }
        other => serde_yaml::to_string(other).unwrap_or_default().trim_end().to_owned(),
    }
}

/// Rows in `before` but not in `now` (`-`), then rows in `now` but not in `before` (`+`),
/// each counted as often as it is missing; order within each side is kept.
pub(crate) fn row_changes(
    before: &[serde_yaml::Value],
    now: &[serde_yaml::Value],
) -> Vec<(char, String)> {
    let mut changes = Vec::new();
    let mut unmatched: Vec<&serde_yaml::Value> = now.iter().collect();
    for row in before {
        if let Some(index) = unmatched.iter().position(|candidate| *candidate == row) {
            unmatched.remove(index);
        } else {
            changes.push(('-', row_line(row)));
        }
    }
    changes.extend(unmatched.into_iter().map(|row| ('+', row_line(row))));
    changes
}

#[cfg(test)]
mod cap_tests {
    use super::{Stored, read_at_most};

    #[test]
    fn a_file_past_the_limit_is_named_not_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.snap");
        std::fs::write(&path, "x".repeat(101)).unwrap();
        let Stored::Unreadable(why) = read_at_most(&path, 100) else {
            panic!("a file past the limit was read")
        };
        assert!(why.contains("big.snap: larger than 100 bytes"), "{why}");
        assert!(matches!(read_at_most(&dir.path().join("none.snap"), 100), Stored::Missing));
    }
}
