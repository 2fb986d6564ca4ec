//! The dataset cache: one file per dataset, named by its sha256, in a folder that holds
//! nothing else but in-progress downloads. Files are only ever renamed into place after
//! verification, so a name that looks like a sha256 always holds (or held) those bytes.

use std::fmt::Write as _;
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};
use tempfile::NamedTempFile;

use super::lock::{Pin, is_lower_hex};

/// Prefix of in-progress downloads; never a valid cache entry name (entries are 64 hex digits).
pub(crate) const PARTIAL_PREFIX: &str = ".partial-";

/// An in-progress download older than this is taken as left by a killed run and removed.
/// A live download rewrites its file at least every read timeout, far more often than this.
pub(crate) const STALE_PARTIAL_AGE: Duration = Duration::from_mins(15);

pub(crate) struct Cache {
    dir: PathBuf,
}

/// What the cache holds for one pin.
#[derive(Debug)]
pub(crate) enum Lookup {
    Verified(PathBuf),
    Missing,
    /// A file was there but its size or sha256 was wrong; it has been removed.
    Rejected(String),
    /// Something that is not a file (a folder with things in it) holds the entry's name; it
    /// is left alone and the dataset cannot be cached until it is moved.
    Blocked(String),
}

impl Cache {
    /// Opens (creating if needed) the cache folder.
    pub(crate) fn open(dir: &Path) -> anyhow::Result<Self> {
        // `create_dir_all` would only say "File exists".
        if std::fs::metadata(dir).is_ok_and(|meta| !meta.is_dir()) {
            anyhow::bail!("dataset cache {} is not a directory", dir.display());
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create dataset cache {}", dir.display()))?;
        Ok(Self { dir: dir.to_path_buf() })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn entry_path(&self, sha256: &str) -> PathBuf {
        debug_assert!(is_lower_hex(sha256, 64));
        self.dir.join(sha256)
    }

    /// Re-verifies the cached copy of `pin`, removing it when it is wrong.
    pub(crate) fn lookup(&self, pin: &Pin) -> anyhow::Result<Lookup> {
        let path = self.entry_path(&pin.sha256);
        if let Ok(meta) = std::fs::metadata(&path)
            && !meta.is_file()
        {
            // Not something this cache wrote. An empty folder can go; anything else may be
            // someone's, and stays.
            if meta.is_dir() && std::fs::remove_dir(&path).is_ok() {
                return Ok(Lookup::Rejected(format!(
                    "{} was an empty folder, not a dataset file",
                    path.display()
                )));
            }
            return Ok(Lookup::Blocked(format!(
                "{} is a folder, not a dataset file; move it away to cache the dataset",
                path.display()
            )));
        }
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Lookup::Missing),
            Err(err) => {
                return Err(err).with_context(|| format!("cannot open {}", path.display()));
            }
        };
        let (sha256, size) =
            hash_reader(file).with_context(|| format!("cannot read {}", path.display()))?;
        if sha256 == pin.sha256 && size == pin.size {
            return Ok(Lookup::Verified(path));
        }
        std::fs::remove_file(&path)
            .with_context(|| format!("cannot remove wrong cache entry {}", path.display()))?;
        Ok(Lookup::Rejected(format!(
            "cached {} held {size} bytes with sha256 {sha256}, expected {} bytes with sha256 {}",
            path.display(),
            pin.size,
            pin.sha256
        )))
    }

    /// A temporary file for a download, removed when dropped unless it is persisted.
    pub(crate) fn partial_file(&self) -> anyhow::Result<NamedTempFile> {
        tempfile::Builder::new()
            .prefix(PARTIAL_PREFIX)
            .tempfile_in(&self.dir)
            .with_context(|| format!("cannot create a temporary file in {}", self.dir.display()))
    }

    /// Moves a verified download into place under its sha256.
    pub(crate) fn persist(&self, partial: NamedTempFile, sha256: &str) -> anyhow::Result<PathBuf> {
        let path = self.entry_path(sha256);
        partial.as_file().sync_all().context("cannot flush the download to disk")?;
        partial
            .persist(&path)
            .with_context(|| format!("cannot move the download to {}", path.display()))?;
        Ok(path)
    }

    /// Removes in-progress downloads that no live run can still be writing.
    pub(crate) fn clean_stale_partials(&self, older_than: Duration) -> anyhow::Result<usize> {
        let entries = std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot list {}", self.dir.display()))?;
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", self.dir.display()))?;
            let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
            if !is_file || !entry.file_name().to_string_lossy().starts_with(PARTIAL_PREFIX) {
                continue;
            }
            let modified = entry.metadata().and_then(|meta| meta.modified());
            let age = modified.ok().and_then(|time| now.duration_since(time).ok());
            if age.is_some_and(|age| age >= older_than) {
                // Another run may have just removed it: that is the outcome we want too.
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(err) if err.kind() == ErrorKind::NotFound => {}
                    Err(err) => {
                        return Err(err).with_context(|| {
                            format!("cannot remove stale download {}", entry.path().display())
                        });
                    }
                }
            }
        }
        Ok(removed)
    }
}

/// The sha256 (lowercase hex) and length of everything `reader` yields.
pub(crate) fn hash_reader(mut reader: impl std::io::Read) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&hasher.finalize()), size))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}
