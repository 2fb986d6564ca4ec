//! Where each dataset a rule names can be read: a URL through `datasets.lock` and the
//! verified cache (or the committed stand-in the lock names, said so), a path in the content
//! tree as it is. Also the benign corpus, a folder of event files every rule runs over.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use detection::content::RuleDataset;

use crate::fetch::{self, DatasetState, DatasetStatus, Mode};

/// The datasets of a content tree this run can have, by URL.
pub(crate) struct Remote {
    by_url: BTreeMap<String, DatasetStatus>,
    /// Why no URL could be looked up at all (the lock or a rule would not load).
    failure: Option<String>,
}

impl Remote {
    /// Looks up (and, online, fetches) every dataset `root/datasets.lock` pins, into
    /// `cache_dir`. A URL a rule names that the lock does not pin is found missing by
    /// [`locate`]. An unreadable lock or cache leaves every URL unavailable with the reason
    /// instead of failing: the rule tests still report everything else.
    pub(crate) fn resolve(root: &Path, cache_dir: &Path, mode: Mode) -> Self {
        match lock_statuses(root, cache_dir, mode) {
            Ok(statuses) => Self {
                by_url: statuses.into_iter().map(|status| (status.url.clone(), status)).collect(),
                failure: None,
            },
            Err(err) => Self { by_url: BTreeMap::new(), failure: Some(format!("{err:#}")) },
        }
    }

    /// Whether the lookup itself failed, and why.
    pub(crate) fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    pub(crate) fn statuses(&self) -> impl Iterator<Item = &DatasetStatus> {
        self.by_url.values()
    }
}

/// The lock's datasets only. [`fetch::ensure_all_in`] also loads every rule of the tree for
/// the URLs they name, and stops at the first that does not load; here a broken rule must
/// not cost the others their datasets, so it is handed a folder holding the lock alone.
fn lock_statuses(root: &Path, cache_dir: &Path, mode: Mode) -> anyhow::Result<Vec<DatasetStatus>> {
    use anyhow::Context as _;
    let lock = root.join(fetch::LOCK_FILE);
    let alone = tempfile::tempdir().context("cannot create a temporary folder")?;
    match std::fs::copy(&lock, alone.path().join(fetch::LOCK_FILE)) {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", lock.display())),
    }
    fetch::ensure_all_in(alone.path(), cache_dir, mode)
}

/// Where one dataset of a rule comes from in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// The real dataset: a verified download, or a file in the content tree.
    Real(PathBuf),
    /// The dataset could not be had; the committed stand-in at `path` (as the lock names it,
    /// from the content root) is read instead.
    StandIn { file: String, path: PathBuf, reason: String },
    /// Not run: the dataset cannot be had and nothing stands in for it.
    Unavailable(String),
    /// Not run: the rule names a path that is not a readable file of the content tree.
    Missing(String),
}

/// Where `dataset` of a rule under `root` comes from.
pub(crate) fn locate(root: &Path, dataset: &RuleDataset<'_>, remote: &Remote) -> Source {
    if !dataset.is_url() {
        return local(root, dataset.data);
    }
    if let Some(failure) = &remote.failure {
        return Source::Unavailable(format!("datasets could not be looked up: {failure}"));
    }
    let Some(status) = remote.by_url.get(dataset.data) else {
        return Source::Unavailable(format!("not pinned in {}", fetch::LOCK_FILE));
    };
    match (&status.state, &status.fixture) {
        (DatasetState::Ready(path), _) => Source::Real(path.clone()),
        (DatasetState::Unavailable(reason), Some(fixture)) => {
            let file = fixture.to_string_lossy().replace('\\', "/");
            match local(root, &file) {
                Source::Real(path) => Source::StandIn { file, path, reason: reason.to_string() },
                Source::Missing(why) => Source::Unavailable(format!(
                    "{reason}; its stand-in in {}: {why}",
                    fetch::LOCK_FILE
                )),
                other => other,
            }
        }
        (DatasetState::Unavailable(reason), None) => Source::Unavailable(reason.to_string()),
    }
}

/// A path relative to the content root, which must stay inside it.
fn local(root: &Path, data: &str) -> Source {
    let relative = Path::new(data);
    let inside = relative.components().all(|part| matches!(part, Component::Normal(_)));
    if data.is_empty() || !inside {
        return Source::Missing(format!(
            "`{data}` is not a path inside the content tree (expected a URL, or a path \
             relative to the content root without `..`)"
        ));
    }
    let path = root.join(relative);
    if path.is_file() {
        Source::Real(path)
    } else if path.exists() {
        Source::Missing(format!("{} is not a file", path.display()))
    } else {
        Source::Missing(format!("{} does not exist", path.display()))
    }
}

/// The event files of a benign corpus folder, recursively, sorted, passing over hidden
/// entries and notes (`.md`); none when the folder is absent.
pub(crate) fn benign_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    use anyhow::Context as _;
    let mut files = Vec::new();
    if !dir.is_dir() {
        return Ok(files);
    }
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .with_context(|| format!("cannot list {}", folder.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", folder.display()))?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_none_or(|ext| ext != "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
