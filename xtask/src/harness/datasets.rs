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
///
/// Symbolic links are followed, so a dataset folder linked in is read; a link back to a
/// folder being walked is said and not followed (the walk would never end), and a file
/// reached by two names is read once.
pub(crate) fn benign_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    use anyhow::Context as _;
    let mut files = Vec::new();
    if !dir.is_dir() {
        return Ok(files);
    }
    let mut seen = std::collections::BTreeSet::new();
    let walk = walkdir::WalkDir::new(dir).follow_links(true).sort_by_file_name().into_iter();
    let walk = walk.filter_entry(|entry| {
        entry.depth() == 0 || !entry.file_name().to_string_lossy().starts_with('.')
    });
    for entry in walk {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) if err.loop_ancestor().is_some() => {
                let link = err.path().unwrap_or(dir).display().to_string();
                let target = err.loop_ancestor().unwrap_or(dir).display().to_string();
                crate::note(format_args!(
                    "{link}: symbolic link to {target}, a folder it is in: not followed"
                ));
                continue;
            }
            Err(err) => {
                let at = err.path().unwrap_or(dir).display().to_string();
                return Err(err).with_context(|| format!("cannot list {at}"));
            }
        };
        let path = entry.path();
        if entry.file_type().is_dir() || path.extension().is_some_and(|ext| ext == "md") {
            continue;
        }
        if seen.insert(path.canonicalize().unwrap_or_else(|_| path.to_owned())) {
            files.push(entry.into_path());
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(all(test, unix))]
mod tests {
    use super::benign_files;

    #[test]
    fn benign_folder_with_symbolic_link_loops_is_walked_once() {
        // Two links to `..` made the gate's `--benign` walk endless.
        let dir = tempfile::tempdir().expect("temp dir");
        let corpus = dir.path().join("benign");
        std::fs::create_dir_all(corpus.join("sub")).expect("folders");
        std::fs::write(corpus.join("a.log"), "<Event/>").expect("file");
        std::fs::write(corpus.join("notes.md"), "# notes").expect("file");
        std::os::unix::fs::symlink("..", corpus.join("sub/up")).expect("link");
        std::os::unix::fs::symlink("..", corpus.join("sub/up_again")).expect("link");
        std::os::unix::fs::symlink("a.log", corpus.join("b.log")).expect("link");
        let files = benign_files(&corpus).expect("walk");
        assert_eq!(files, [corpus.join("a.log")]);
    }
}
