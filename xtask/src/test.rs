//! `cargo xtask test`: the gate a rule change must pass, the same locally and in CI. It looks
//! up the datasets (fetching what it can), validates the content, checks the generated
//! pages, runs every rule over its own datasets and the benign corpus against
//! `snapshots/hits/` (the rule tests, [`crate::harness`]), then runs the tool's own tests
//! with their raw output in a log file, and ends with one report: a table of rule × dataset ×
//! rows × status, the changed rows, and a total. Every step runs even when an earlier one
//! fails, so one run shows every problem. `--junit` writes the same results as `JUnit` XML, and
//! under GitHub Actions failing rules and findings become annotations.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, bail};
use detection::attack::Attack;
use detection::content::validate::{self, Engine, Finding, Severity, Validation};

use crate::fetch::{self, DatasetState, Mode};
use crate::harness::{self, datasets::Remote};
use crate::libtest::{self, TestCase, TestOutcome};
use crate::report::{self, Gate, Outcome, Step};

/// Where the gate keeps its log and reports, below the workspace root.
pub(crate) const GATE_DIR: &str = "target/gate";

/// Validate findings printed before the rest goes only to the log.
const FINDINGS_SHOWN: usize = 40;

/// Arguments of `cargo xtask test`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The content tree to test (a folder holding detections/, macros/ and optionally
    /// datasets.lock, docs/_posts/, snapshots/hits/, fixtures/benign/); default: this
    /// workspace. The tool's own tests run only for the workspace.
    #[arg(long, value_name = "DIR")]
    content: Option<PathBuf>,
    /// Run the K-th of N stable slices of the rules (1-based), so that a large content tree
    /// can fan the gate out over a CI matrix. Shard 1 also validates, checks the pages and
    /// runs the tool's tests; the check for unused snapshots runs only unsharded.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<(u32, u32)>,
    /// Do not touch the network: use cached datasets and the committed stand-ins.
    #[arg(long)]
    offline: bool,
    /// Test only the rules whose file, snapshot, macros or datasets changed since BASE (a git
    /// revision; HEAD when none is given: what is not committed yet). The tool's tests run
    /// only when a file outside the content changed.
    #[arg(long, value_name = "BASE", num_args = 0..=1, default_missing_value = "HEAD")]
    changed: Option<String>,
    /// The benign corpus every rule also runs over; default: `fixtures/benign/` of the
    /// content tree when it exists.
    #[arg(long, value_name = "DIR")]
    benign: Option<PathBuf>,
    /// Also write the results as `JUnit` XML to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Fail when a rule's real dataset cannot be had: not fetched (even if a stand-in ran),
    /// or none named. For CI with network.
    #[arg(long)]
    require_datasets: bool,
    /// Show the tool tests' raw output here, and every line of the report.
    #[arg(short, long)]
    verbose: bool,
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
    let workspace = crate::project_root();
    let root = crate::content_root(args.content.as_deref());
    let own_content = same_folder(&root, &workspace);
    let (shard, shards) = args.shard.unwrap_or((1, 1));
    let gate_dir = workspace.join(GATE_DIR);
    std::fs::create_dir_all(&gate_dir)
        .with_context(|| format!("cannot create {}", gate_dir.display()))?;
    let benign = match &args.benign {
        Some(dir) => Some(std::path::absolute(dir).unwrap_or_else(|_| dir.clone())),
        None => Some(root.join("fixtures/benign")).filter(|dir| dir.is_dir()),
    };
    let mut steps: Vec<Step> = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut engine = BTreeMap::new();

    let selection = match &args.changed {
        Some(base) => Some(changed_rules(&root, base, benign.as_deref())?),
        None => None,
    };
    let only: Option<BTreeSet<PathBuf>> =
        selection.as_ref().map(|selection| selection.rules.keys().cloned().collect());

    let started = Instant::now();
    step("datasets");
    let mode = if args.offline { Mode::Offline } else { Mode::Online };
    let remote = Remote::resolve(&root, &fetch::cache_dir(&workspace), mode);
    print_datasets(&remote);

    if shard == 1 {
        (findings, engine) =
            content_checks(&root, only.as_ref(), own_content, &gate_dir, &mut steps);
    }

    let options = harness::Options {
        root: root.clone(),
        benign: benign.clone(),
        only,
        shard: (shard, shards),
        update: harness::Update::from_env(is_ci()),
        engine,
    };
    let rules = rule_tests(&options, &remote, args.require_datasets, &mut steps);

    let tool_reason = if shard != 1 {
        Some("they run in shard 1".to_owned())
    } else if !own_content {
        Some("they test the tool, which --content does not change".to_owned())
    } else if selection.as_ref().is_some_and(|selection| !selection.tool_changed) {
        Some("no file outside the content changed".to_owned())
    } else {
        None
    };
    let references = tempfile::NamedTempFile::new().context("cannot create a temporary file")?;
    let (tools_passed, tool_tests) = match &tool_reason {
        Some(reason) => {
            step("tool tests");
            eprintln!("skipped: {reason}");
            steps.push(done("tool tests", Outcome::Skipped(reason.clone()), Instant::now()));
            (false, Vec::new())
        }
        None => {
            tool_tests_step(&workspace, &gate_dir, references.path(), args.verbose, &mut steps)?
        }
    };

    if shards == 1 && tool_reason.is_none() {
        let timer = Instant::now();
        step("unreferenced snapshots");
        let outcome = if tools_passed {
            match check_unreferenced(&root, references.path()) {
                Ok(()) => Outcome::Passed,
                Err(err) => {
                    eprintln!("{err:#}");
                    Outcome::Failed(format!("{err:#}"))
                }
            }
        } else {
            // A test that failed before its assertion would make its snapshot look unused.
            eprintln!("skipped: the tool tests failed");
            Outcome::Skipped("the tool tests failed".to_owned())
        };
        steps.push(done("unreferenced snapshots", outcome, timer));
    }

    let gate = Gate {
        steps: &steps,
        findings: &findings,
        rules: rules.as_ref(),
        tool_tests: &tool_tests,
        require_datasets: args.require_datasets,
    };
    finish(&gate, args, &root, &gate_dir, started)
}

/// The rule tests as a step.
fn rule_tests(
    options: &harness::Options,
    remote: &Remote,
    require_datasets: bool,
    steps: &mut Vec<Step>,
) -> Option<harness::Report> {
    let timer = Instant::now();
    step(&format!("rule tests (shard {}/{})", options.shard.0, options.shard.1));
    match harness::run(options, remote) {
        Ok(rules) => {
            let outcome = if rules.fails(require_datasets) {
                Outcome::Failed(report::rules_total(&rules, require_datasets))
            } else {
                Outcome::Passed
            };
            eprintln!(
                "{} rule(s) over their datasets and {} benign file(s) in {:.1} s",
                rules.rules.len(),
                rules.benign_files.len(),
                timer.elapsed().as_secs_f64()
            );
            steps.push(done("rule tests", outcome, timer));
            Some(rules)
        }
        Err(err) => {
            eprintln!("{err:#}");
            steps.push(done("rule tests", Outcome::Failed(format!("{err:#}")), timer));
            None
        }
    }
}

/// The rules a change since `base` selects, said on stderr.
fn changed_rules(
    root: &Path,
    base: &str,
    benign: Option<&Path>,
) -> anyhow::Result<crate::changed::Selection> {
    step(&format!("changes since {base}"));
    let selection = crate::changed::select(root, base, benign)?;
    for (file, why) in &selection.rules {
        eprintln!("{}: {why}", file.display());
    }
    eprintln!(
        "{} changed file(s); {} rule(s) to test{}",
        selection.files.len(),
        selection.rules.len(),
        if selection.tool_changed { "; tool files changed: the tool tests run" } else { "" }
    );
    Ok(selection)
}

/// `detection validate` and `cargo xtask docs --check`, as steps; returns the findings, and
/// what validation found the engine can do with each rule (for the rule tests).
fn content_checks(
    root: &Path,
    only: Option<&BTreeSet<PathBuf>>,
    own_content: bool,
    gate_dir: &Path,
    steps: &mut Vec<Step>,
) -> (Vec<Finding>, BTreeMap<PathBuf, Engine>) {
    let timer = Instant::now();
    step("detection validate");
    let (outcome, findings, engine) = match validate_content(root, only) {
        Ok(validation) => (
            findings_outcome(&validation.findings, gate_dir),
            validation.findings,
            validation.rules.into_iter().map(|rule| (rule.path, rule.engine)).collect(),
        ),
        Err(err) => (Outcome::Failed(format!("{err:#}")), Vec::new(), BTreeMap::new()),
    };
    steps.push(done("detection validate", outcome, timer));

    let timer = Instant::now();
    step("cargo xtask docs --check");
    let outcome = if own_content || root.join("docs/_posts").is_dir() {
        match crate::docs::check(root) {
            Ok(()) => Outcome::Passed,
            Err(err) => {
                eprintln!("{err:#}");
                Outcome::Failed(format!("{err:#}"))
            }
        }
    } else {
        Outcome::Skipped("the content tree has no docs/_posts/".to_owned())
    };
    steps.push(done("cargo xtask docs --check", outcome, timer));
    (findings, engine)
}

/// The workspace tests as a step: whether they passed, and each test's result.
fn tool_tests_step(
    workspace: &Path,
    gate_dir: &Path,
    references: &Path,
    verbose: bool,
    steps: &mut Vec<Step>,
) -> anyhow::Result<(bool, Vec<TestCase>)> {
    let timer = Instant::now();
    let log = gate_dir.join("cargo-test.log");
    step(&format!("tool tests (cargo test --workspace, output in {})", shown(&log, workspace)));
    let (passed, cases, errors) = tool_test_run(workspace, &log, references, verbose)?;
    let failed: Vec<&TestCase> =
        cases.iter().filter(|case| case.outcome == TestOutcome::Failed).collect();
    let outcome = if passed {
        let counted = cases.iter().filter(|case| case.outcome == TestOutcome::Passed).count();
        eprintln!("{counted} passed in {:.0} s", timer.elapsed().as_secs_f64());
        Outcome::Passed
    } else {
        let mut text = if failed.is_empty() {
            // No test failed by name: the build failed, or a test binary died (a signal, a
            // full disk). CI keeps only this output, so the cause is shown here.
            let mut text = format!("cargo test failed; see {}", shown(&log, workspace));
            for line in &errors {
                let _ = write!(text, "\n  | {line}");
            }
            text
        } else {
            format!("{} failed (raw output in {})", failed.len(), shown(&log, workspace))
        };
        for case in &failed {
            let _ = write!(text, "\n  {} ({})", case.name, case.binary);
        }
        eprintln!("{text}");
        Outcome::Failed(text)
    };
    steps.push(done("tool tests", outcome, timer));
    Ok((passed, cases))
}

/// The report, the `JUnit` file, the annotations and the verdict.
fn finish(
    gate: &Gate<'_>,
    args: &Args,
    root: &Path,
    gate_dir: &Path,
    started: Instant,
) -> anyhow::Result<()> {
    step("report");
    if let Some(rules) = gate.rules {
        let table = report::rules_table(rules, args.require_datasets, args.verbose);
        let full = report::rules_table(rules, args.require_datasets, true);
        let file = gate_dir.join("rules.txt");
        std::fs::write(&file, &full).with_context(|| format!("cannot write {}", file.display()))?;
        eprint!("{table}");
        for note in &rules.notes {
            eprintln!("note: {note}");
        }
        if let Some(summary) = report::unsupported_summary(rules) {
            eprintln!("{summary}");
        }
        eprintln!("\n{}", report::rules_total(rules, args.require_datasets));
        let unrecorded = rules
            .rules
            .iter()
            .flat_map(|rule| &rule.entries)
            .filter(|entry| entry.status == harness::Status::Unrecorded)
            .count();
        if unrecorded > 0 {
            eprintln!(
                "{unrecorded} downloaded dataset(s) have rows no snapshot holds yet: record them \
                 with `cargo xtask accept` where the download works (CI writes nothing)"
            );
        }
        if rules.fails(args.require_datasets) {
            eprintln!(
                "review the changed rows with `cargo xtask review`; if they are what you meant, \
                 `cargo xtask accept` records them (and `cargo xtask docs` rewrites the pages)"
            );
        }
    }
    for step in gate.steps {
        let verdict = match &step.outcome {
            Outcome::Passed => "passed".to_owned(),
            Outcome::Failed(_) => "FAILED".to_owned(),
            Outcome::Skipped(why) => format!("skipped ({why})"),
        };
        eprintln!("{:28} {verdict} ({:.1} s)", step.name, step.seconds);
    }
    if let Some(path) = &args.junit {
        let xml = report::junit(gate);
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(path, xml).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("JUnit results: {}", path.display());
    }
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|value| value == "true") {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for line in report::github_annotations(gate, root) {
            writeln!(out, "{line}").context("cannot write the annotations")?;
        }
    }
    let failed: Vec<&str> = gate
        .steps
        .iter()
        .filter(|step| matches!(step.outcome, Outcome::Failed(_)))
        .map(|step| step.name)
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    if !failed.is_empty() {
        bail!("the gate failed in {elapsed:.0} s: {}", failed.join(", "));
    }
    eprintln!("\nthe gate passed in {elapsed:.0} s");
    Ok(())
}

fn step(name: &str) {
    eprintln!("\n== {name}");
}

fn done(name: &'static str, outcome: Outcome, timer: Instant) -> Step {
    Step { name, outcome, seconds: timer.elapsed().as_secs_f64() }
}

fn is_ci() -> bool {
    std::env::var_os("CI").is_some_and(|value| !value.is_empty() && value != "false")
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// `path` relative to `base` when below it, for messages.
fn shown(path: &Path, base: &Path) -> String {
    path.strip_prefix(base).unwrap_or(path).display().to_string()
}

fn print_datasets(remote: &Remote) {
    if let Some(failure) = remote.failure() {
        eprintln!("COULD NOT LOOK UP the remote datasets: {failure}");
    }
    for status in remote.statuses() {
        let name = report::short_dataset(&status.url);
        match &status.state {
            DatasetState::Ready(path) => eprintln!("using {name}: {}", path.display()),
            DatasetState::Unavailable(reason) => {
                let fallback = status.fixture.as_ref().map_or_else(
                    || "nothing stands in for it: its rules do not run on it".to_owned(),
                    |fixture| {
                        format!("its committed stand-in {} is read instead", fixture.display())
                    },
                );
                eprintln!("COULD NOT GET {name} ({reason}); {fallback}");
            }
        }
    }
}

/// Errors fail the gate; warnings are shown. With a selection, only those rules.
fn validate_content(root: &Path, only: Option<&BTreeSet<PathBuf>>) -> anyhow::Result<Validation> {
    let paths: Vec<PathBuf> = match only {
        Some(rules) => {
            rules.iter().map(|rule| root.join(rule)).filter(|path| path.exists()).collect()
        }
        None => vec![root.to_path_buf()],
    };
    if paths.is_empty() {
        return Ok(Validation::default());
    }
    Ok(validate::validate_content(&paths, &Attack::bundled()?)?)
}

/// Prints the errors and warnings (every finding goes to `validate.txt`) and says whether any
/// is an error. Searches the engine cannot evaluate are only counted here: the rule tests
/// report them, rule by rule.
fn findings_outcome(findings: &[Finding], gate_dir: &Path) -> Outcome {
    let mut all = String::new();
    for finding in findings {
        let _ = writeln!(all, "{finding}");
    }
    let file = gate_dir.join("validate.txt");
    let saved = std::fs::write(&file, &all).is_ok();
    let shown: Vec<&Finding> =
        findings.iter().filter(|f| f.severity != Severity::Unsupported).collect();
    for finding in shown.iter().take(FINDINGS_SHOWN) {
        eprintln!("{finding}");
    }
    if shown.len() > FINDINGS_SHOWN && saved {
        eprintln!("… {} more in {}", shown.len() - FINDINGS_SHOWN, file.display());
    }
    let count = |severity| findings.iter().filter(|f| f.severity == severity).count();
    let errors = count(Severity::Error);
    eprintln!(
        "{errors} error(s), {} warning(s), {} search(es) the engine cannot evaluate yet",
        count(Severity::Warning),
        count(Severity::Unsupported)
    );
    if errors == 0 {
        Outcome::Passed
    } else {
        Outcome::Failed(format!("{errors} content error(s)"))
    }
}

/// `cargo`, for a nested build that must see what the user's shell would: `cargo run` sets
/// `CARGO_MANIFEST_DIR`, `CARGO_PKG_*` and more for xtask, and a nested cargo that inherits
/// them fingerprints build scripts differently, rebuilding crates on every run.
pub(crate) fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if set_by_cargo_run(key) {
            command.env_remove(key);
        }
    }
    command
}

/// Variables cargo sets for the program it runs (`cargo run`), not ones a user sets to
/// configure cargo (`CARGO_HOME`, `CARGO_TARGET_DIR`, `CARGO_TERM_*`, …).
fn set_by_cargo_run(key: &str) -> bool {
    key.starts_with("CARGO_PKG_")
        || key.starts_with("CARGO_BIN_EXE_")
        || matches!(
            key,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "CARGO_TARGET_TMPDIR"
                | "OUT_DIR"
        )
}

/// Runs the workspace tests, their raw output into `log` (and here too when `verbose`):
/// whether they passed, each test's result, and cargo's error lines.
fn tool_test_run(
    workspace: &Path,
    log: &Path,
    references: &Path,
    verbose: bool,
) -> anyhow::Result<(bool, Vec<TestCase>, Vec<String>)> {
    let file =
        std::fs::File::create(log).with_context(|| format!("cannot write {}", log.display()))?;
    let sink = Arc::new(Mutex::new(file));
    let mut cargo = cargo();
    cargo
        .current_dir(workspace)
        .args(["test", "--workspace", "--locked", "--no-fail-fast"])
        .env("INSTA_SNAPSHOT_REFERENCES_FILE", references)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if is_ci() {
        // insta must never write in CI: a changed or missing snapshot fails instead.
        cargo.env("INSTA_UPDATE", "no");
    }
    let mut child = cargo.spawn().context("cannot run cargo test")?;
    let captured = Arc::new(Mutex::new(String::new()));
    let mut readers = Vec::new();
    let pipes: [Box<dyn std::io::Read + Send>; 2] = [
        Box::new(child.stdout.take().context("cargo test's output")?),
        Box::new(child.stderr.take().context("cargo test's errors")?),
    ];
    for pipe in pipes {
        let sink = Arc::clone(&sink);
        let captured = Arc::clone(&captured);
        readers.push(std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                if verbose {
                    eprintln!("{line}");
                }
                let mut file = sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let _ = writeln!(file, "{line}");
                let mut text = captured.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                text.push_str(&line);
                text.push('\n');
            }
        }));
    }
    let status = child.wait().context("cannot wait for cargo test")?;
    for reader in readers {
        let _ = reader.join();
    }
    let text = captured.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    Ok((status.success(), libtest::parse(&text), cargo_errors(&text)))
}

/// The lines of cargo's output that say why it failed: each `error` line with the few that
/// follow it (`Caused by:` and the exit status of a test binary that died), or the output's
/// last lines when it names no error. Bounded, so a flood of compiler errors stays readable.
fn cargo_errors(output: &str) -> Vec<String> {
    const MAX_LINES: usize = 40;
    const AFTER_ERROR: usize = 6;
    const MAX_CHARS: usize = 300;
    let lines: Vec<&str> = output.lines().collect();
    let mut picked = Vec::new();
    let mut index = 0;
    while index < lines.len() && picked.len() < MAX_LINES {
        if lines[index].starts_with("error") {
            let end = (index + 1 + AFTER_ERROR).min(lines.len());
            let following = lines[index + 1..end]
                .iter()
                .position(|line| is_progress(line))
                .map_or(end, |at| index + 1 + at);
            picked.extend(lines[index..following].iter().copied());
            index = following;
        } else {
            index += 1;
        }
    }
    if picked.is_empty() {
        picked = lines[lines.len().saturating_sub(15)..].to_vec();
    }
    picked
        .into_iter()
        .take(MAX_LINES)
        .map(|line| match line.char_indices().nth(MAX_CHARS) {
            Some((at, _)) => format!("{}…", &line[..at]),
            None => line.to_owned(),
        })
        .collect()
}

/// A line of cargo's progress (`   Compiling x`, `     Running y`), not part of an error.
fn is_progress(line: &str) -> bool {
    let word = line.trim_start().split(' ').next().unwrap_or("");
    matches!(word, "Compiling" | "Running" | "Finished" | "Doc-tests")
}

/// Fails naming every top-level `snapshots/*.snap` that no tool test read, except those of
/// tests over the shared folder (named `…@shared`) when this checkout does not have all of
/// it beside it: those tests skip. (The hits snapshots in `snapshots/hits/` belong to the
/// rule tests, which report a snapshot of no rule.)
fn check_unreferenced(root: &Path, references: &Path) -> anyhow::Result<()> {
    let checked: BTreeSet<PathBuf> = std::fs::read_to_string(references)
        .with_context(|| format!("cannot read {}", references.display()))?
        .lines()
        .map(|line| std::fs::canonicalize(line).unwrap_or_else(|_| PathBuf::from(line)))
        .collect();
    let shared_present = ["datasets", "security_content-2024", "reference"]
        .iter()
        .all(|folder| root.join("../shared").join(folder).is_dir());
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
        let could_not_run = !shared_present && name.ends_with("@shared.snap");
        let canonical = std::fs::canonicalize(&path).unwrap_or(path.clone());
        if !could_not_run && !checked.contains(&canonical) {
            unreferenced.push(format!("  snapshots/{name}"));
        }
    }
    anyhow::ensure!(
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
    fn shards_are_checked() {
        assert_eq!(parse_shard("2/3"), Ok((2, 3)));
        assert!(parse_shard("0/3").is_err());
        assert!(parse_shard("4/3").is_err());
        assert!(parse_shard("1").is_err());
        assert!(parse_shard("a/b").is_err());
    }

    #[test]
    fn a_failure_with_no_failed_test_shows_cargos_errors() {
        // A test binary that died names no failing test; cargo's lines say why.
        let died = "   Compiling detection v0.1.0\n     Running tests/it/main.rs (it-1)\n\
            running 3 tests\nerror: test failed, to rerun pass `-p detection --test it`\n\n\
            Caused by:\n  process didn't exit successfully: `it-1` (signal: 9, SIGKILL: kill)\n\
                 Running unittests src/main.rs (xtask-2)\n";
        assert_eq!(
            cargo_errors(died),
            [
                "error: test failed, to rerun pass `-p detection --test it`",
                "",
                "Caused by:",
                "  process didn't exit successfully: `it-1` (signal: 9, SIGKILL: kill)",
            ]
        );
        // A build that failed on a full disk.
        let full = "   Compiling xtask v0.1.0\nerror: failed to write `target/debug/deps/x.o`: \
            No space left on device (os error 28)\n\nerror: could not compile `xtask`\n";
        let errors = cargo_errors(full);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("No space left on device"));
        // No error line: the last lines, not nothing.
        let other = (0..30).fold(String::new(), |mut text, n| {
            let _ = writeln!(text, "line {n}");
            text
        });
        let tail = cargo_errors(&other);
        assert_eq!(tail.first().map(String::as_str), Some("line 15"));
        assert_eq!(tail.len(), 15);
        // A flood stays bounded, and long lines are cut.
        let flood = format!("error: {}\n", "x".repeat(1000)).repeat(100);
        let bounded = cargo_errors(&flood);
        assert_eq!(bounded.len(), 40);
        assert!(bounded[0].chars().count() <= 301);
    }

    #[test]
    fn only_what_cargo_run_sets_is_scrubbed() {
        for key in ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME", "CARGO_PKG_VERSION_MAJOR", "OUT_DIR"] {
            assert!(set_by_cargo_run(key), "{key}");
        }
        for key in ["CARGO_HOME", "CARGO_TARGET_DIR", "CARGO_TERM_COLOR", "CARGO", "PATH"] {
            assert!(!set_by_cargo_run(key), "{key}");
        }
    }
}
