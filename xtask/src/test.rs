//! `cargo xtask test`: the gate a rule change must pass, the same locally and in CI. It
//! fetches what datasets it can (falling back to the committed fixtures), validates the
//! content, checks the generated pages, then runs the workspace tests, among them the hits of
//! every rule on every dataset against `snapshots/`, and rejects snapshots nothing checked.
//! Every step runs even when an earlier one fails, so one run shows every problem.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use detection::attack::Attack;
use detection::content::validate::{self, Severity};

use crate::fetch::{self, DatasetState, Mode};

/// Environment variable through which the hits test learns the real datasets: a JSON file
/// listing `{name, url, path}` for every locked dataset, `path` null when it is unavailable.
const DATASETS_ENV: &str = "DETECTION_GATE_DATASETS";
/// Environment variable through which the hits test learns its shard, `K/N`.
const SHARD_ENV: &str = "DETECTION_GATE_SHARD";

/// Arguments of `cargo xtask test`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Run the K-th of N stable slices of the rule × dataset pairs (1-based), so that a large
    /// content repository can fan the gate out over a CI matrix. Shard 1 also runs every
    /// other test; the unreferenced-snapshot check needs the whole set and runs only unsharded.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<(u32, u32)>,
    /// Do not touch the network: use cached datasets and the committed fixtures.
    #[arg(long)]
    offline: bool,
}

fn parse_shard(text: &str) -> Result<(u32, u32), String> {
    let (k, n) = text.split_once('/').ok_or("expected K/N, e.g. 1/4")?;
    let k: u32 = k.parse().map_err(|_| format!("shard index {k:?} is not a number"))?;
    let n: u32 = n.parse().map_err(|_| format!("shard count {n:?} is not a number"))?;
    if n == 0 || k == 0 || k > n {
        return Err(format!("expected 1 <= K <= N, got {k}/{n}"));
    }
    Ok((k, n))
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let root = crate::project_root();
    let (shard, shards) = args.shard.unwrap_or((1, 1));
    let mut failed: Vec<&str> = Vec::new();

    step("datasets");
    let mode = if args.offline { Mode::Offline } else { Mode::Online };
    let manifest = datasets_manifest(&root, &fetch::cache_dir(&root), mode)?;

    step("detection validate");
    if let Err(err) = validate_content(&root) {
        eprintln!("{err:#}");
        failed.push("detection validate");
    }

    step("cargo xtask docs --check");
    if let Err(err) = crate::docs::check(&root) {
        eprintln!("{err:#}");
        failed.push("cargo xtask docs --check");
    }

    step(&format!("tests (shard {shard}/{shards})"));
    let references = tempfile::NamedTempFile::new().context("cannot create a temporary file")?;
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.current_dir(&root).arg("test").arg("--locked");
    if shard == 1 {
        cargo.arg("--workspace");
    } else {
        // The other tests already ran in shard 1.
        cargo.args(["-p", "detection", "--test", "it", "hits::"]);
    }
    cargo
        .env(DATASETS_ENV, manifest.path())
        .env(SHARD_ENV, format!("{shard}/{shards}"))
        .env("INSTA_SNAPSHOT_REFERENCES_FILE", references.path());
    if is_ci() {
        // insta must never write in CI: a changed or missing snapshot fails instead.
        cargo.env("INSTA_UPDATE", "no");
    }
    let status = cargo.status().context("cannot run cargo test")?;
    if !status.success() {
        failed.push("cargo test");
    }

    if shards == 1 {
        step("unreferenced snapshots");
        if let Err(err) = check_unreferenced(&root, references.path(), &manifest.unavailable) {
            eprintln!("{err:#}");
            failed.push("unreferenced snapshots");
        }
    }

    if !failed.is_empty() {
        bail!("the gate failed: {}", failed.join(", "));
    }
    eprintln!("\nthe gate passed");
    Ok(())
}

fn step(name: &str) {
    eprintln!("\n== {name}");
}

fn is_ci() -> bool {
    std::env::var_os("CI").is_some_and(|value| !value.is_empty() && value != "false")
}

/// Errors fail the gate; warnings are shown.
fn validate_content(root: &Path) -> anyhow::Result<()> {
    let findings = validate::validate_paths(&[root.to_path_buf()], &Attack::bundled()?)?;
    for finding in &findings {
        eprintln!("{finding}");
    }
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    ensure!(errors == 0, "{errors} content error(s)");
    eprintln!("no errors ({} warning(s))", findings.len());
    Ok(())
}

/// The real datasets written for the hits test, and the names of those it cannot have.
struct Manifest {
    file: tempfile::NamedTempFile,
    unavailable: BTreeSet<String>,
}

impl Manifest {
    fn path(&self) -> &Path {
        self.file.path()
    }
}

fn datasets_manifest(root: &Path, cache_dir: &Path, mode: Mode) -> anyhow::Result<Manifest> {
    let statuses = fetch::ensure_all_in(root, cache_dir, mode)?;
    let mut entries = Vec::new();
    let mut unavailable = BTreeSet::new();
    for status in &statuses {
        let name = dataset_name(&status.url);
        let path = match &status.state {
            DatasetState::Ready(path) => {
                eprintln!("using {name}: {}", path.display());
                Some(path.clone())
            }
            DatasetState::Unavailable(reason) => {
                let fallback = status.fixture.as_ref().map_or_else(
                    || "no committed fixture stands in for it".to_owned(),
                    |fixture| format!("its committed fixture {} stands in", fixture.display()),
                );
                eprintln!("COULD NOT GET {name} ({}): {reason}; {fallback}", status.url);
                unavailable.insert(name.clone());
                None
            }
        };
        entries.push(serde_json::json!({ "name": name, "url": status.url, "path": path }));
    }
    let mut file = tempfile::NamedTempFile::new().context("cannot create a temporary file")?;
    serde_json::to_writer_pretty(&mut file, &entries).context("cannot write the manifest")?;
    Ok(Manifest { file, unavailable })
}

/// A dataset's name in snapshot names: its path below `attack_techniques/` (or its last three
/// path segments), `/` turned into `-`.
pub(crate) fn dataset_name(url: &str) -> String {
    let path = url.split_once("/attack_techniques/").map_or_else(
        || {
            let segments: Vec<&str> = url.rsplit('/').take(3).collect();
            segments.into_iter().rev().collect::<Vec<_>>().join("/")
        },
        |(_, rest)| rest.to_owned(),
    );
    path.replace('/', "-")
}

/// Fails naming every `snapshots/*.snap` that no assertion read, except hits of datasets this
/// run could not have (a real dataset not fetched, the shared datasets when absent).
fn check_unreferenced(
    root: &Path,
    references: &Path,
    unavailable: &BTreeSet<String>,
) -> anyhow::Result<()> {
    let checked: BTreeSet<PathBuf> = std::fs::read_to_string(references)
        .with_context(|| format!("cannot read {}", references.display()))?
        .lines()
        .map(|line| std::fs::canonicalize(line).unwrap_or_else(|_| PathBuf::from(line)))
        .collect();
    let shared_present = root.join("../shared/datasets").is_dir();
    let dir = root.join("snapshots");
    let mut unreferenced = Vec::new();
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
    {
        let path = entry.with_context(|| format!("cannot list {}", dir.display()))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        if path.extension().is_none_or(|ext| ext != "snap") {
            continue;
        }
        let dataset = name.strip_suffix(".snap").and_then(|stem| stem.rsplit_once('@'));
        let could_not_run = dataset.is_some_and(|(_, dataset)| {
            unavailable.contains(dataset) || (!shared_present && dataset.starts_with("shared."))
        });
        let canonical = std::fs::canonicalize(&path).unwrap_or(path.clone());
        if !could_not_run && !checked.contains(&canonical) {
            unreferenced.push(format!("  snapshots/{name}"));
        }
    }
    ensure!(
        unreferenced.is_empty(),
        "snapshots that no test checks (remove them, or restore the test):\n{}",
        unreferenced.join("\n")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_names_come_from_the_technique_path() {
        assert_eq!(
            dataset_name(
                "https://media.githubusercontent.com/media/splunk/attack_data/master/datasets/\
                 attack_techniques/T1003.001/atomic_red_team/windows-sysmon.log"
            ),
            "T1003.001-atomic_red_team-windows-sysmon.log"
        );
        assert_eq!(dataset_name("https://example.test/a/b/c/d.log"), "b-c-d.log");
    }

    /// A temporary content root whose lock pins one dataset with `content`'s sha256.
    fn root_pinning(content: &[u8]) -> (tempfile::TempDir, String) {
        use sha2::Digest as _;
        let root = tempfile::tempdir().expect("temp dir");
        let sha256 = fetch::cache::hex(&sha2::Sha256::digest(content));
        let url = "https://example.test/datasets/attack_techniques/T0000/x/data.log";
        let lock = serde_json::json!({"format": 1, "datasets": [{
            "url": url, "commit": "0".repeat(40), "pinned_url": url,
            "sha256": sha256, "size": content.len(), "fixture": "fixtures/datasets/data.log",
        }]});
        std::fs::write(root.path().join(fetch::LOCK_FILE), lock.to_string()).expect("lock");
        std::fs::create_dir_all(root.path().join("target/dataset")).expect("cache dir");
        (root, sha256)
    }

    fn manifest_paths(manifest: &Manifest) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(manifest.path()).expect("manifest");
        let entries: Vec<serde_json::Value> = serde_json::from_str(&text).expect("JSON");
        entries.into_iter().map(|entry| entry["path"].clone()).collect()
    }

    #[test]
    fn a_dataset_placed_in_the_cache_by_hand_is_used() {
        let content = b"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'/>";
        let (root, sha256) = root_pinning(content);
        let cached = root.path().join("target/dataset").join(&sha256);
        std::fs::write(&cached, content).expect("cache entry");
        let manifest =
            datasets_manifest(root.path(), &root.path().join("target/dataset"), Mode::Offline)
                .expect("manifest");
        assert!(manifest.unavailable.is_empty());
        assert_eq!(manifest_paths(&manifest), [serde_json::json!(cached)]);
    }

    #[test]
    fn wrong_bytes_in_the_cache_are_rejected_and_removed() {
        let (root, sha256) = root_pinning(b"the pinned content");
        let cached = root.path().join("target/dataset").join(&sha256);
        std::fs::write(&cached, b"other content of another length").expect("cache entry");
        let manifest =
            datasets_manifest(root.path(), &root.path().join("target/dataset"), Mode::Offline)
                .expect("manifest");
        assert_eq!(manifest.unavailable.iter().collect::<Vec<_>>(), ["T0000-x-data.log"]);
        assert_eq!(manifest_paths(&manifest), [serde_json::Value::Null]);
        assert!(!cached.exists(), "the wrong copy must leave the cache");
    }

    #[test]
    fn shards_are_checked() {
        assert_eq!(parse_shard("2/3"), Ok((2, 3)));
        assert!(parse_shard("0/3").is_err());
        assert!(parse_shard("4/3").is_err());
        assert!(parse_shard("1").is_err());
        assert!(parse_shard("a/b").is_err());
    }
}
