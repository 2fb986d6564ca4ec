//! Helpers shared by the behaviour tests: where fixtures and snapshots live, and where the
//! shared real datasets are when this checkout has them.

#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("detection/ is a workspace member")
        .to_path_buf()
}

/// A path below `fixtures/`.
#[track_caller]
pub fn fixture(relative: &str) -> PathBuf {
    let path = repo_root().join("fixtures").join(relative);
    assert!(path.exists(), "fixture {} is missing", path.display());
    path
}

/// insta settings every test uses: snapshots in the top-level `snapshots/`, stable order.
pub fn insta_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots"));
    settings.set_sort_maps(true);
    settings.set_omit_expression(true);
    settings
}

/// Runs `f` with [`insta_settings`] bound.
pub fn with_snapshots<R>(f: impl FnOnce() -> R) -> R {
    insta_settings().bind(f)
}

/// The shared real datasets (`../shared/datasets/` next to the checkout), or `None` with a
/// loud note on stderr so that a skipped test is never mistaken for a passing one.
pub fn shared_datasets(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("DETECTION_SHARED_DATASETS")
        .map_or_else(|| repo_root().join("../shared/datasets"), PathBuf::from);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED {test}: {} is absent (set DETECTION_SHARED_DATASETS)", dir.display());
        None
    }
}

/// The shared 2024 content tree (`../shared/security_content-2024/`), or `None` with a loud
/// note on stderr.
pub fn shared_2024(test: &str) -> Option<PathBuf> {
    let dir = repo_root().join("../shared/security_content-2024");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED {test}: {} is absent", dir.display());
        None
    }
}

/// The shared reference folder (`../shared/reference/`), or `None` with a note on stderr.
pub fn shared_reference(test: &str) -> Option<PathBuf> {
    let dir = repo_root().join("../shared/reference");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED {test}: {} is absent", dir.display());
        None
    }
}

/// Every file below `dir`, sorted; a folder that cannot be listed is a test failure.
#[track_caller]
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .unwrap_or_else(|err| panic!("cannot list {}: {err}", folder.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}
