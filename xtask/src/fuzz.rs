//! `cargo xtask fuzz`: seeds each fuzz target's corpus from the repository's fixtures and
//! rules, runs the targets one after another in one process each (one core), and fails when
//! a run leaves a crash, timeout or out-of-memory artifact. The targets live in
//! `detection/fuzz/` and run through `cargo fuzz` without a sanitizer (stable toolchain).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

/// Arguments of `cargo xtask fuzz`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// How long each target runs, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Only seed the corpora; do not run.
    #[arg(long)]
    seed_only: bool,
    /// Targets to run (all when none is named).
    targets: Vec<String>,
}

/// Where the seeds of a target come from.
#[derive(Clone, Copy)]
enum Seeds {
    /// Event files: fixtures, datasets and the bad-input corpus.
    Events,
    /// JSON event files only.
    JsonEvents,
    /// EVTX files: the bad-input corpus, and the shared datasets when present.
    Evtx,
    /// The searches of every rule, and the SPL fixtures.
    Searches,
    /// Rule and macro files.
    Rules,
}

/// One fuzz target and how it is run.
struct Target {
    name: &'static str,
    /// Longer inputs are not generated; each is larger than the seeds that matter.
    max_len: usize,
    /// A libFuzzer dictionary in `detection/fuzz/dicts/`.
    dict: &'static str,
    seeds: Seeds,
}

const TARGETS: [Target; 7] = [
    Target { name: "xml_export", max_len: 64 * 1024, dict: "xml.dict", seeds: Seeds::Events },
    // Exports the scan's fast path searches, text between events and all.
    Target {
        name: "candidates",
        max_len: 64 * 1024,
        dict: "candidates.dict",
        seeds: Seeds::Events,
    },
    Target { name: "json_lines", max_len: 64 * 1024, dict: "json.dict", seeds: Seeds::JsonEvents },
    // One EVTX chunk is 64 KiB after a 4 KiB header; two chunks fit.
    Target { name: "evtx", max_len: 4096 + 2 * 65536, dict: "evtx.dict", seeds: Seeds::Evtx },
    Target { name: "spl", max_len: 4096, dict: "spl.dict", seeds: Seeds::Searches },
    Target { name: "rule_yaml", max_len: 16 * 1024, dict: "yaml.dict", seeds: Seeds::Rules },
    Target { name: "render", max_len: 16 * 1024, dict: "yaml.dict", seeds: Seeds::Rules },
];

/// Seed files larger than this are left out: libFuzzer would only truncate them.
const MAX_SEED_BYTES: u64 = 256 * 1024;

/// What one target's run did.
struct Outcome {
    runs: u64,
    seconds: u64,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let root = crate::project_root();
    let targets = selected(&args.targets)?;
    let mut outcomes = Vec::new();
    for target in &targets {
        let corpus = seed(&root, target)?;
        if args.seed_only {
            println!("{}: corpus {}", target.name, corpus.display());
            continue;
        }
        let outcome = fuzz(&root, target, &corpus, args.seconds)?;
        outcomes.push((target.name, outcome));
    }
    for (name, outcome) in &outcomes {
        println!("{name}: {} executions in {} s", outcome.runs, outcome.seconds);
    }
    Ok(())
}

fn selected(names: &[String]) -> anyhow::Result<Vec<&'static Target>> {
    if names.is_empty() {
        return Ok(TARGETS.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            TARGETS.iter().find(|t| t.name == name).with_context(|| {
                let known: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
                format!("no fuzz target `{name}`; the targets are {}", known.join(", "))
            })
        })
        .collect()
}

/// Copies the target's seeds into `detection/fuzz/corpus/<target>/` (kept between runs, so
/// what the fuzzer found before is the next run's start) and returns that folder.
fn seed(root: &Path, target: &Target) -> anyhow::Result<PathBuf> {
    let corpus = root.join("detection/fuzz/corpus").join(target.name);
    fs::create_dir_all(&corpus).with_context(|| format!("cannot create {}", corpus.display()))?;
    for (name, bytes) in seeds(root, target.seeds)? {
        if bytes.is_empty() || bytes.len() > target.max_len {
            continue;
        }
        let path = corpus.join(format!("seed-{name}"));
        fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(corpus)
}

/// (file name in the corpus, contents) of every seed of a kind.
fn seeds(root: &Path, kind: Seeds) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let files = |dir: &str, keep: &dyn Fn(&Path) -> bool| -> anyhow::Result<Vec<PathBuf>> {
        let mut found = Vec::new();
        walk(&root.join(dir), &mut found)?;
        Ok(found.into_iter().filter(|path| keep(path)).collect())
    };
    let is_yaml = |path: &Path| path.extension().is_some_and(|e| e == "yml" || e == "yaml");
    let not_readme = |path: &Path| path.file_name().is_some_and(|n| n != "README.md");
    let paths: Vec<PathBuf> = match kind {
        Seeds::Events => [
            files("fixtures/events", &not_readme)?,
            files("fixtures/datasets", &not_readme)?,
            files("fixtures/bad/events", &not_readme)?,
        ]
        .concat(),
        Seeds::JsonEvents => {
            let is_json = |path: &Path| path.extension().is_some_and(|e| e == "json");
            [files("fixtures/events", &is_json)?, files("fixtures/bad/events", &is_json)?].concat()
        }
        Seeds::Evtx => {
            let is_evtx = |path: &Path| path.extension().is_some_and(|e| e == "evtx");
            let mut paths = files("fixtures/bad/events", &is_evtx)?;
            // The shared datasets are not in the repository; when this checkout has them
            // their real EVTX files are the best start.
            let shared = root.join("../shared/datasets");
            if shared.is_dir() {
                walk(&shared, &mut paths)?;
                paths.retain(|path| is_evtx(path));
            }
            paths
        }
        Seeds::Searches => return search_seeds(root, &files),
        Seeds::Rules => [
            files("detections", &is_yaml)?,
            files("macros", &is_yaml)?,
            files("fixtures/rules", &is_yaml)?,
            files("fixtures/bad/rules", &is_yaml)?,
            files("fixtures/bad/macros", &is_yaml)?,
        ]
        .concat(),
    };
    let mut seeds = Vec::new();
    for path in paths {
        let size =
            fs::metadata(&path).with_context(|| format!("cannot stat {}", path.display()))?;
        if size.len() > MAX_SEED_BYTES {
            continue;
        }
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        seeds.push((seed_name(root, &path), bytes));
    }
    Ok(seeds)
}

type FileFinder<'a> = dyn Fn(&str, &dyn Fn(&Path) -> bool) -> anyhow::Result<Vec<PathBuf>> + 'a;

/// The search of every rule that loads (the spl target's input is a search), the macro
/// definitions, and the SPL fixtures of the bad-input corpus.
fn search_seeds(root: &Path, files: &FileFinder<'_>) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let is_yaml = |path: &Path| path.extension().is_some_and(|e| e == "yml" || e == "yaml");
    let mut seeds = Vec::new();
    let rules = [files("detections", &is_yaml)?, files("fixtures/rules", &is_yaml)?].concat();
    for path in rules {
        if let Ok(rule) = detection::content::load_rule(&path) {
            seeds.push((seed_name(root, &path), rule.search.into_bytes()));
        }
    }
    for path in files("macros", &is_yaml)? {
        if let Ok(m) = detection::content::load_macro(&path) {
            seeds.push((seed_name(root, &path), m.definition.into_bytes()));
        }
    }
    for path in files("fixtures/bad/spl", &|path| path.extension().is_some_and(|e| e == "spl"))? {
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        seeds.push((seed_name(root, &path), bytes));
    }
    Ok(seeds)
}

/// A flat file name for a repository path: `fixtures/events/a.log` → `fixtures_events_a.log`.
fn seed_name(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative.to_string_lossy().replace(['/', '\\'], "_").replace("..", "up")
}

/// Every file below `dir` in name order, or none when it does not exist. Links to folders
/// are not followed (walkdir's default), so a link back up the tree cannot make the walk
/// endless; a link to a file counts as the file.
fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if entry.path().is_file() {
            found.push(entry.into_path());
        }
    }
    Ok(())
}

/// Runs one target for `seconds` and checks that it left no artifact.
fn fuzz(root: &Path, target: &Target, corpus: &Path, seconds: u64) -> anyhow::Result<Outcome> {
    let fuzz_dir = root.join("detection/fuzz");
    let artifacts = fuzz_dir.join("artifacts").join(target.name);
    fs::create_dir_all(&artifacts)
        .with_context(|| format!("cannot create {}", artifacts.display()))?;
    let before = artifact_files(&artifacts)?;
    let log_dir = fuzz_dir.join("logs");
    fs::create_dir_all(&log_dir).with_context(|| format!("cannot create {}", log_dir.display()))?;
    let log_path = log_dir.join(format!("{}.log", target.name));
    let log = fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    println!("fuzz {}: {seconds} s, log in {}", target.name, log_path.display());

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let status = Command::new(cargo)
        .current_dir(root.join("detection"))
        // No sanitizer: `-Zsanitizer` needs a nightly toolchain. Debug assertions stay on so
        // that arithmetic overflow is a finding.
        .args(["fuzz", "run", "-s", "none", "--debug-assertions", target.name])
        .arg(corpus)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg(format!("-max_len={}", target.max_len))
        .arg(format!("-dict={}", fuzz_dir.join("dicts").join(target.dict).display()))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1")
        .stdout(log.try_clone().context("cannot share the log file")?)
        .stderr(log)
        .stdin(Stdio::null())
        .status()
        .context("cannot run `cargo fuzz` (install it with `cargo install cargo-fuzz`)")?;
    let elapsed = started.elapsed().as_secs();

    let text = fs::read_to_string(&log_path)
        .with_context(|| format!("cannot read {}", log_path.display()))?;
    let found: Vec<PathBuf> = artifact_files(&artifacts)?.difference(&before).cloned().collect();
    if !found.is_empty() {
        let names: Vec<String> = found.iter().map(|p| format!("  {}", p.display())).collect();
        bail!(
            "fuzz target {} failed after {elapsed} s; artifacts:\n{}\nlast lines of {}:\n{}",
            target.name,
            names.join("\n"),
            log_path.display(),
            tail(&text, 30)
        );
    }
    if !status.success() {
        bail!(
            "fuzz target {} exited with {status}; last lines of {}:\n{}",
            target.name,
            log_path.display(),
            tail(&text, 30)
        );
    }
    let (runs, seconds) = done_line(&text).with_context(|| {
        format!("no `Done N runs in S second(s)` line in {}", log_path.display())
    })?;
    Ok(Outcome { runs, seconds })
}

/// Crash, timeout, out-of-memory and leak inputs libFuzzer wrote.
fn artifact_files(dir: &Path) -> anyhow::Result<BTreeSet<PathBuf>> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut files = BTreeSet::new();
    for entry in entries {
        let path = entry.with_context(|| format!("cannot list {}", dir.display()))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if ["crash-", "timeout-", "oom-", "leak-"].iter().any(|prefix| name.starts_with(prefix)) {
            files.insert(path);
        }
    }
    Ok(files)
}

/// `(N, S)` from libFuzzer's closing `Done N runs in S second(s)`.
fn done_line(log: &str) -> Option<(u64, u64)> {
    log.lines().rev().find_map(|line| {
        let rest = line.strip_prefix("Done ")?;
        let (runs, rest) = rest.split_once(" runs in ")?;
        let (seconds, _) = rest.split_once(' ')?;
        Some((runs.parse().ok()?, seconds.parse().ok()?))
    })
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::{done_line, walk};

    #[cfg(unix)]
    #[test]
    fn seed_folders_with_links_back_up_are_walked_once() {
        // Two links to `..` made the hand-written walk go round for ever.
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("events");
        std::fs::create_dir(&inner).unwrap();
        std::fs::write(inner.join("a.log"), "a").unwrap();
        std::fs::write(dir.path().join("b.log"), "b").unwrap();
        std::os::unix::fs::symlink("..", inner.join("up")).unwrap();
        std::os::unix::fs::symlink("..", inner.join("up2")).unwrap();
        std::os::unix::fs::symlink("a.log", inner.join("c.log")).unwrap();
        let mut found = Vec::new();
        walk(dir.path(), &mut found).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|path| path.strip_prefix(dir.path()).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["b.log", "events/a.log", "events/c.log"]);
    }

    #[test]
    fn reads_libfuzzer_closing_line() {
        let log = "#1234\tDONE   cov: 10\nDone 1234 runs in 61 second(s)\nstat::number_of_executed_units: 1234\n";
        assert_eq!(done_line(log), Some((1234, 61)));
        assert_eq!(done_line("INFO: Running with entropic power schedule\n"), None);
    }
}
