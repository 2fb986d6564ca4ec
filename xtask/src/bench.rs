//! `cargo xtask bench`: generate large synthetic XML exports (cached in `target/bench/`)
//! and time, each case in a fresh release-built child process: reading the export, a literal
//! scan, mapping every event, the comsvcs rule with and without the prefilter and over gzip,
//! a rule without literals, rules with long `OR` and `IN` lists, many files, the real EVTX
//! files of `../shared/datasets` (read in place), and a rule library in one scan (every
//! production `Endpoint.Processes` rule of `../shared/security_content-2024`, or of
//! `--library`). Peers run in the same bench run: `rg -c -i` and the evtx crate's own JSON
//! output (its Python binding), when installed.
//! It prints medians, throughput, peak memory and ratios to each group's baseline; it
//! asserts that the cases of a family give identical rows. Two hostile inputs follow, the
//! rule's literals outside any event, which once made the prefilter's fast path quadratic:
//! it must stay about as fast as reading every event (`--cases hostile`).

// Sizes and counts shown as floating point lose nothing that matters at these magnitudes.
#![allow(clippy::cast_precision_loss)]

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use detection::content;
use detection::events::EventReader;
use detection::scan::{ScanInput, ScanOptions, scan_files, scan_inputs_each, synthetic};
use detection::spl::Search;
use sha2::{Digest, Sha256};

use crate::project_root;

mod evtx_large;

/// Arguments of `cargo xtask bench`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Size of the generated export: bytes, or a number with KiB, MiB or GiB.
    #[arg(long, default_value = "256MiB")]
    size: String,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Runs per case; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Size of the export the long `OR` list cases read: they test every process event
    /// against the list, so they are slow where the list is evaluated term by term.
    #[arg(long, default_value = "16MiB")]
    or_size: String,
    /// Number of generated exports the many-files cases read.
    #[arg(long, default_value_t = 24)]
    many: usize,
    /// Size of each of those exports.
    #[arg(long, default_value = "4MiB")]
    many_size: String,
    /// Folder searched (recursively) for the `.evtx` files of the EVTX cases, read in place;
    /// default: `../shared/datasets` beside the workspace.
    #[arg(long, value_name = "DIR")]
    evtx_dir: Option<PathBuf>,
    /// Content tree whose production `Endpoint.Processes` rules the library cases run, all
    /// in one scan; default: `../shared/security_content-2024` beside the workspace.
    #[arg(long, value_name = "DIR")]
    library: Option<PathBuf>,
    /// How many times the EVTX corpus names each file found.
    #[arg(long, default_value_t = 100)]
    evtx_repeat: usize,
    /// Only these cases, comma-separated (`interleaved` for the same-process rounds).
    #[arg(long, value_delimiter = ',')]
    cases: Vec<String>,
    /// Measure one case in this process (used by the bench itself).
    #[arg(long, hide = true)]
    case: Option<String>,
    /// The files the case reads.
    #[arg(long, hide = true)]
    file: Vec<PathBuf>,
}

/// What a case reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Input {
    /// The generated export.
    Export,
    /// Its gzip copy.
    Gzip,
    /// The smaller export of the `OR` list cases.
    OrExport,
    /// The many generated exports.
    Many,
    /// The EVTX corpus: every `.evtx` file found, named `--evtx-repeat` times.
    Evtx,
    /// One large EVTX file made of the corpus's chunks, full of records (see [`evtx_large`]).
    EvtxLarge,
}

/// The cases, in the order printed: name, what it reads, what it measures. Each group's
/// first case is the baseline its ratios are taken to.
const CASES: &[(&str, Input, &str)] = &[
    ("read", Input::Export, "read the file (page cache) into a reused 1 MiB buffer"),
    ("literal-ac", Input::Export, "aho-corasick ASCII case-insensitive count of `comsvcs`"),
    ("literal-fold", Input::Export, "case-fold 64 KiB windows + memmem count of `comsvcs`"),
    ("rg", Input::Export, "peer: `rg -c -i comsvcs` (ripgrep, a child process)"),
    (
        "map",
        Input::Export,
        "parse every event and map it to Endpoint.Processes (no rule), one thread",
    ),
    (
        "map-2threads",
        Input::Export,
        "the same through scan_files with no rule: pieces on two threads",
    ),
    ("rule", Input::Export, "comsvcs rule via scan_files, prefilter on, two threads"),
    ("rule-1thread", Input::Export, "comsvcs rule via scan_files, prefilter on, one thread"),
    (
        "rule-full",
        Input::Export,
        "comsvcs rule via scan_files, prefilter off: every event parsed, two threads",
    ),
    ("rule-gzip", Input::Gzip, "comsvcs rule via scan_files over the gzip copy (sequential)"),
    (
        "no-literal",
        Input::Export,
        "`| tstats count from datamodel=Endpoint.Processes by Processes.dest`: no literal to prefilter on",
    ),
    (
        "stats-eval",
        Input::Export,
        "a search over raw Sysmon events with eval, stats by a computed field, where and sort",
    ),
    ("stats-eval-full", Input::Export, "the same, prefilter off"),
    (
        "library",
        Input::Export,
        "every production `Endpoint.Processes` rule of the library (--library) in one scan",
    ),
    ("library-full", Input::Export, "the same, prefilter off"),
    (
        "library-memory",
        Input::Export,
        "the same with the prefilter, every group held in memory (no spill to disk)",
    ),
    (
        "library-200mb",
        Input::Export,
        "the same, groups spilled past 200 MiB, Splunk's budget for one search (`--max-mem-usage-mb 200`)",
    ),
    ("or-2", Input::OrExport, "process_name = one of 2 names, as `OR` terms (compile + scan)"),
    ("or-1000", Input::OrExport, "the same 2 names among 1,000 `OR` terms"),
    ("or-5000", Input::OrExport, "the same 2 names among 5,000 `OR` terms"),
    ("or-20000", Input::OrExport, "the same 2 names among 20,000 `OR` terms"),
    ("in-20000", Input::OrExport, "the same 2 names among 20,000 values of `IN (…)`"),
    ("wild-2", Input::OrExport, "process = one of 2 `*…*` patterns, as `OR` terms"),
    ("wild-1000", Input::OrExport, "the same 2 patterns among 1,000 `*…*` `OR` terms"),
    (
        "raw-or-2",
        Input::OrExport,
        "a search over raw Sysmon events: process_name = one of 2 names, as `OR` terms",
    ),
    ("raw-or-20000", Input::OrExport, "the same 2 names among 20,000 `OR` terms"),
    ("many-read", Input::Many, "read every file (page cache) into a reused 1 MiB buffer"),
    ("many", Input::Many, "comsvcs rule via scan_files over all the files, prefilter on"),
    ("many-full", Input::Many, "the same, prefilter off: every event parsed"),
    ("many-1thread", Input::Many, "the comsvcs rule over all the files, one file after another"),
    ("many-full-1thread", Input::Many, "prefilter off, one file after another"),
    (
        "evtx-py",
        Input::Evtx,
        "peer: the evtx crate's records_json() from Python, one thread, timed in the interpreter",
    ),
    ("evtx-map", Input::Evtx, "read every record and map it to Endpoint.Processes (no rule)"),
    ("evtx-rule", Input::Evtx, "comsvcs rule via scan_files over the corpus"),
    ("evtx-rule-1thread", Input::Evtx, "the comsvcs rule over the corpus, one file after another"),
    (
        "evtx-large-py",
        Input::EvtxLarge,
        "peer: records_json() from Python over one large EVTX file (the corpus's chunks, each filled with copies of its records, over and over), one thread",
    ),
    ("evtx-large", Input::EvtxLarge, "comsvcs rule via scan_files: chunks decoded on two threads"),
    ("evtx-large-1thread", Input::EvtxLarge, "the same on one thread"),
    (
        "evtx-large-crate",
        Input::EvtxLarge,
        "the crate's own records_json() from Rust: its walk over the file, one thread",
    ),
    (
        "evtx-large-chunks",
        Input::EvtxLarge,
        "the crate rendering every record as XML, each chunk decoded on its own (EvtxChunkData::parse), one thread",
    ),
];

/// The cases timed round by round in one process, so that load from other processes
/// weighs on them alike and their ratios hold.
const INTERLEAVED: &[&str] = &["read", "literal-fold", "literal-ac", "rg", "rule", "rule-1thread"];

/// The inputs, made or found once per bench run.
struct Inputs {
    export: PathBuf,
    written: synthetic::Written,
    gzip: PathBuf,
    or_export: PathBuf,
    or_written: synthetic::Written,
    many: Vec<PathBuf>,
    many_written: synthetic::Written,
    evtx: Vec<PathBuf>,
    evtx_bytes: u64,
    evtx_large: Option<PathBuf>,
    evtx_large_bytes: u64,
}

impl Inputs {
    fn files(&self, input: Input) -> Vec<PathBuf> {
        match input {
            Input::Export => vec![self.export.clone()],
            Input::Gzip => vec![self.gzip.clone()],
            Input::OrExport => vec![self.or_export.clone()],
            Input::Many => self.many.clone(),
            Input::Evtx => self.evtx.clone(),
            Input::EvtxLarge => self.evtx_large.iter().cloned().collect(),
        }
    }

    /// The bytes a case over `input` reads, uncompressed.
    fn bytes(&self, input: Input) -> u64 {
        match input {
            Input::Export | Input::Gzip => self.written.bytes,
            Input::OrExport => self.or_written.bytes,
            Input::Many => self.many_written.bytes,
            Input::Evtx => self.evtx_bytes,
            Input::EvtxLarge => self.evtx_large_bytes,
        }
    }
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    if let Some(case) = &args.case {
        ensure!(!args.file.is_empty(), "--case needs --file");
        return measure(case, &args.file, args.runs, &args.cases, &library_dir(args));
    }
    if cfg!(debug_assertions) {
        return rerun_release(args);
    }
    let wanted = |name: &str| args.cases.is_empty() || args.cases.iter().any(|c| c == name);
    for name in &args.cases {
        ensure!(
            ["interleaved", "hostile"].contains(&name.as_str())
                || CASES.iter().any(|(case, ..)| case == name),
            "unknown case {name:?}"
        );
    }
    let inputs = inputs(args, &wanted)?;
    let written = &inputs.written;
    println!(
        "export: {} ({:.1} MiB, {} events, {} Endpoint.Processes events, {} comsvcs matches, {} near-misses)",
        inputs.export.display(),
        mib(written.bytes),
        written.events,
        written.process_events,
        written.positives,
        written.near_misses
    );
    println!(
        "OR-list export: {:.1} MiB, {} events; many files: {} × {:.1} MiB, {} events; EVTX corpus: {} files, {:.1} MiB",
        mib(inputs.or_written.bytes),
        inputs.or_written.events,
        inputs.many.len(),
        mib(inputs.many_written.bytes) / inputs.many.len().max(1) as f64,
        inputs.many_written.events,
        inputs.evtx.len(),
        mib(inputs.evtx_bytes)
    );
    println!("runs per case: {} (median); every case in its own process; 2 cores", args.runs);
    let peers = Peers::find();
    let exe = std::env::current_exe().context("cannot find the bench executable")?;
    let mut results = Vec::new();
    for &(case, input, what) in CASES {
        if !wanted(case) {
            continue;
        }
        if let Some(missing) = peers.missing(case) {
            println!("{case}: not measured: {missing}");
            continue;
        }
        if input == Input::EvtxLarge && inputs.evtx_large.is_none() {
            println!("{case}: not measured: no .evtx file found to build it from (see --evtx-dir)");
            continue;
        }
        if input == Input::Evtx && inputs.evtx.is_empty() {
            println!("{case}: not measured: no .evtx file found (see --evtx-dir)");
            continue;
        }
        let library = library_dir(args);
        if case.starts_with("library") && !library.join("detections").is_dir() {
            println!(
                "{case}: not measured: no content tree at {} (see --library)",
                library.display()
            );
            continue;
        }
        let mut command = Command::new(&exe);
        command.args(["bench", "--case", case, "--runs", &args.runs.to_string()]);
        command.arg("--library").arg(&library);
        for file in inputs.files(input) {
            command.arg("--file").arg(file);
        }
        let measured: Measured = child(&mut command, &format!("case {case}"))?;
        results.push(CaseResult { case, input, what, measured });
    }
    report(&results, &inputs)?;
    if wanted("interleaved") {
        let cases: Vec<&str> =
            INTERLEAVED.iter().copied().filter(|case| peers.missing(case).is_none()).collect();
        let mut command = Command::new(&exe);
        command
            .args(["bench", "--case", "interleaved", "--runs", &args.runs.to_string()])
            .args(["--cases", &cases.join(","), "--file"])
            .arg(&inputs.export);
        let interleaved: Vec<Vec<f64>> = child(&mut command, "the interleaved cases")?;
        report_interleaved(&cases, &interleaved, written);
    }
    if wanted("hostile") {
        hostile(&exe, args.runs)?;
    }
    Ok(())
}

/// Runs a bench child process (`what` names it in errors) and reads the JSON it prints.
fn child<T: serde::de::DeserializeOwned>(command: &mut Command, what: &str) -> anyhow::Result<T> {
    let output = command.output().with_context(|| format!("cannot run {what}"))?;
    ensure!(output.status.success(), "{what} failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).with_context(|| format!("{what} printed no result"))
}

/// Inputs with the comsvcs rule's literals outside any event: name, file size, what it is,
/// the matches the rule must find.
const HOSTILE: &[(&str, u64, &str, u64)] = &[
    ("gap-text", 16 << 20, "two matching events with 16 MiB of the rule's literals between", 2),
    ("classic-text", 8 << 20, "classic WinEventLog text events, the literals in every line", 0),
];

/// Times the comsvcs rule over each hostile input with the prefilter on and off, each run in
/// its own process, and checks the matches.
fn hostile(exe: &Path, runs: usize) -> anyhow::Result<()> {
    println!("\nrule's literals outside events (each case in its own process):");
    println!(
        "{:<13} {:>9} {:>12} {:>10} {:>9}  what",
        "input", "MiB", "prefilter s", "full s", "ratio"
    );
    for (name, size, what, matches) in HOSTILE {
        let file = hostile_file(name, *size)?;
        let mut seconds = Vec::new();
        for case in ["hostile", "hostile-full"] {
            let mut command = Command::new(exe);
            command
                .args(["bench", "--case", case, "--runs", &runs.to_string(), "--file"])
                .arg(&file);
            let measured: Measured = child(&mut command, &format!("case {case} on {name}"))?;
            ensure!(
                measured.count == *matches,
                "{case} on {name}: the rule counted {} matches, expected {matches}",
                measured.count
            );
            seconds.push(median(&measured.seconds));
        }
        println!(
            "{name:<13} {:>9.1} {:>12.4} {:>10.4} {:>8.2}x  {what}",
            mib(*size),
            seconds[0],
            seconds[1],
            seconds[0] / seconds[1]
        );
    }
    Ok(())
}

/// A hostile input of about `size` bytes, generated into `target/bench/` once.
fn hostile_file(name: &str, size: u64) -> anyhow::Result<PathBuf> {
    const LITERALS: &str =
        "rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 756 C:\\Temp\\out.dmp full";
    const EVENT: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>\
        <System><Provider Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID>\
        <TimeCreated SystemTime='2021-03-04T05:06:07.123Z'/><EventRecordID>1</EventRecordID>\
        <Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>ws01</Computer>\
        </System><EventData><Data Name='Image'>C:\\Windows\\System32\\rundll32.exe</Data>\
        <Data Name='CommandLine'>rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump \
        756 C:\\Temp\\out.dmp full</Data><Data Name='User'>LAB\\alice</Data></EventData>\
        </Event>\n";
    let dir = project_root().join("target/bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{name}-{size}.log"));
    if path.exists() {
        return Ok(path);
    }
    let temp = tempfile::NamedTempFile::new_in(&dir)?;
    let mut out = BufWriter::with_capacity(1 << 20, temp.reopen()?);
    let mut written = 0;
    if name == "gap-text" {
        out.write_all(EVENT.as_bytes())?;
        while written < size {
            writeln!(out, "{LITERALS}")?;
            written += LITERALS.len() as u64 + 1;
        }
        out.write_all(EVENT.as_bytes())?;
    } else {
        let record = format!(
            "01/14/2021 11:41:39 PM\nLogName=Security\nEventCode=4688\n\
             ComputerName=ws01 {LITERALS}\nMessage=A new process has been created. {LITERALS}\n\
             Process Command Line:\t{LITERALS}\n\n"
        );
        while written < size {
            out.write_all(record.as_bytes())?;
            written += record.len() as u64;
        }
    }
    out.flush()?;
    drop(out);
    temp.persist(&path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Timings of a debug build mean nothing: runs this task again from a release build.
fn rerun_release(args: &Args) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(project_root())
        .args(["run", "--quiet", "--release", "--package", "xtask", "--bin", "xtask", "--"])
        .args(["bench", "--size", &args.size, "--seed", &args.seed.to_string()])
        .args(["--runs", &args.runs.to_string(), "--or-size", &args.or_size])
        .args(["--many", &args.many.to_string(), "--many-size", &args.many_size])
        .args(["--evtx-repeat", &args.evtx_repeat.to_string()]);
    if let Some(dir) = &args.evtx_dir {
        command.arg("--evtx-dir").arg(std::path::absolute(dir)?);
    }
    if let Some(dir) = &args.library {
        command.arg("--library").arg(std::path::absolute(dir)?);
    }
    if !args.cases.is_empty() {
        command.args(["--cases", &args.cases.join(",")]);
    }
    let status = command.status().context("cannot run cargo")?;
    ensure!(status.success(), "the release bench failed");
    Ok(())
}

/// The peers a case runs, and whether they are installed.
struct Peers {
    rg: bool,
    python_evtx: bool,
}

impl Peers {
    fn find() -> Self {
        let works =
            |command: &mut Command| command.output().is_ok_and(|output| output.status.success());
        Peers {
            rg: works(Command::new("rg").arg("--version")),
            python_evtx: works(Command::new(PYTHON).args(["-c", "import evtx"])),
        }
    }

    /// Why `case` cannot run here, if it cannot.
    fn missing(&self, case: &str) -> Option<&'static str> {
        match case {
            "rg" if !self.rg => Some("ripgrep (`rg`) is not installed (apt-get install ripgrep)"),
            "evtx-py" | "evtx-large-py" if !self.python_evtx => {
                Some("the evtx Python module is not installed (pip install evtx)")
            }
            _ => None,
        }
    }
}

const PYTHON: &str = "python3";

/// The inputs the wanted cases read: generated when absent, found for EVTX.
fn inputs(args: &Args, wanted: &dyn Fn(&str) -> bool) -> anyhow::Result<Inputs> {
    let wants = |input: Input| CASES.iter().any(|(case, i, _)| *i == input && wanted(case));
    let (export, written) = generated(args.seed, parse_size(&args.size)?)?;
    let gzip = if wants(Input::Gzip) { gzip_copy(&export)? } else { export.clone() };
    let (or_export, or_written) = if wants(Input::OrExport) {
        generated(args.seed, parse_size(&args.or_size)?)?
    } else {
        (export.clone(), synthetic::Written::default())
    };
    let mut many = Vec::new();
    let mut many_written = synthetic::Written::default();
    if wants(Input::Many) {
        let size = parse_size(&args.many_size)?;
        for index in 0..args.many {
            // Seeds of their own, so that the files differ as a real corpus's do.
            let (path, written) = generated(args.seed + 1 + index as u64, size)?;
            many.push(path);
            many_written.bytes += written.bytes;
            many_written.events += written.events;
            many_written.positives += written.positives;
            many_written.near_misses += written.near_misses;
            many_written.process_events += written.process_events;
        }
    }
    let mut evtx = Vec::new();
    let mut evtx_bytes = 0;
    let (mut evtx_large, mut evtx_large_bytes) = (None, 0);
    if wants(Input::Evtx) || wants(Input::EvtxLarge) {
        let dir =
            args.evtx_dir.clone().unwrap_or_else(|| project_root().join("../shared/datasets"));
        let mut found = Vec::new();
        if dir.is_dir() {
            evtx_files(&dir, &mut found)?;
        }
        if wants(Input::EvtxLarge) && !found.is_empty() {
            let path = write_evtx_large(&found, EVTX_LARGE_BYTES)?;
            evtx_large_bytes = std::fs::metadata(&path)?.len();
            evtx_large = Some(path);
        }
        for _ in 0..args.evtx_repeat {
            for path in &found {
                evtx_bytes += std::fs::metadata(path)?.len();
                evtx.push(path.clone());
            }
        }
    }
    let mut made: Vec<&PathBuf> = vec![&export, &gzip, &or_export];
    made.extend(&many);
    made.extend(&evtx_large);
    made.sort_unstable();
    made.dedup();
    for path in made {
        rewrite(path)?;
    }
    Ok(Inputs {
        export,
        written,
        gzip,
        or_export,
        or_written,
        many,
        many_written,
        evtx,
        evtx_bytes,
        evtx_large,
        evtx_large_bytes,
    })
}

/// Writes `path` anew, in place of the file it was. A file's pages read from the page cache
/// at about twice the speed freshly written as after they have aged in the cache (33 ms
/// against 70 ms for the 256 MiB export, on this project's machines: the kernel had split
/// the old file's cached pages), which made the page-cache read, and every case with it,
/// swing between runs for no change of code. Every run now reads freshly written inputs.
fn rewrite(path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().context("an input has a folder")?;
    let temp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::copy(&mut File::open(path)?, &mut temp.as_file())?;
    // Written back before any case is timed, so that no case shares the disk with it.
    temp.as_file().sync_all()?;
    temp.persist(path).with_context(|| format!("cannot rewrite {}", path.display()))?;
    Ok(())
}

/// About how large the large EVTX file is: a day of a busy host's Sysmon log.
const EVTX_LARGE_BYTES: u64 = 64 << 20;

/// The large EVTX file made of `corpus`'s chunks (see [`evtx_large`]), written once.
fn write_evtx_large(corpus: &[PathBuf], size: u64) -> anyhow::Result<PathBuf> {
    let dir = project_root().join("target/bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("evtx-full-{}-{size}.evtx", corpus.len()));
    if !path.exists() {
        eprintln!("writing {} …", path.display());
        evtx_large::write(corpus, size, &path)?;
    }
    Ok(path)
}

/// The `.evtx` files below `dir`, in name order.
fn evtx_files(dir: &Path, found: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            evtx_files(&path, found)?;
        } else if path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("evtx")) {
            found.push(path);
        }
    }
    Ok(())
}

/// The ratios from one process that ran the cases round by round.
fn report_interleaved(cases: &[&str], times: &[Vec<f64>], written: &synthetic::Written) {
    let medians: Vec<f64> = times.iter().map(|seconds| median(seconds)).collect();
    let median = |name: &str| {
        cases
            .iter()
            .position(|case| *case == name)
            .and_then(|index| medians.get(index).copied())
            .unwrap_or(f64::NAN)
    };
    println!(
        "\nsame process, cases in turn each round ({} rounds):",
        times.first().map_or(0, Vec::len)
    );
    for (case, seconds) in cases.iter().zip(&medians) {
        println!(
            "  {case:<13} {seconds:>9.4} s {:>8.0} MB/s {:>6.2}x read",
            written.bytes as f64 / 1e6 / seconds,
            seconds / median("read")
        );
    }
    let rule = median("rule");
    println!("  rule / page-cache read:      {:.2}x", rule / median("read"));
    println!("  rule / literal scan (ac -i): {:.2}x", rule / median("literal-ac"));
    println!("  rule / literal scan (fold):  {:.2}x", rule / median("literal-fold"));
    if cases.contains(&"rg") {
        println!("  rule / rg -c -i comsvcs:     {:.2}x", rule / median("rg"));
    }
    println!("  rule one thread / two:       {:.2}x", median("rule-1thread") / rule);
}

/// What a case's process prints.
#[derive(serde::Serialize, serde::Deserialize)]
struct Measured {
    seconds: Vec<f64>,
    peak_kib: u64,
    /// Events read or matched, depending on the case.
    count: u64,
    /// SHA-256 of the rule's rows as JSON, for the rule cases.
    rows: Option<String>,
}

fn median(seconds: &[f64]) -> f64 {
    let mut sorted = seconds.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A case measured.
struct CaseResult {
    case: &'static str,
    input: Input,
    what: &'static str,
    measured: Measured,
}

fn report(results: &[CaseResult], inputs: &Inputs) -> anyhow::Result<()> {
    let find = |name: &str| results.iter().find(|result| result.case == name);
    let time = |name: &str| find(name).map_or(f64::NAN, |result| median(&result.measured.seconds));
    println!(
        "\n{:<13} {:>9} {:>10} {:>9} {:>8} {:<12}  what",
        "case", "median s", "MB/s", "peak MiB", "ratio", "to"
    );
    for result in results {
        let seconds = median(&result.measured.seconds);
        // Each group's first case measured is its baseline.
        let baseline =
            results.iter().find(|other| other.input == result.input || same_file(other, result));
        let (ratio, to) = baseline.map_or((f64::NAN, ""), |baseline| {
            (seconds / median(&baseline.measured.seconds), baseline.case)
        });
        println!(
            "{:<13} {seconds:>9.4} {:>10.0} {:>9.1} {ratio:>8.2} {to:<12}  {}",
            result.case,
            inputs.bytes(result.input) as f64 / 1e6 / seconds,
            result.measured.peak_kib as f64 / 1024.0,
            result.what
        );
    }
    println!("\nratios, each case in its own process, one after another:");
    let ratio = |label: &str, a: &str, b: &str| {
        let value = time(a) / time(b);
        if value.is_finite() {
            println!("  {label:<34} {value:>7.2}x");
        }
    };
    ratio("rule / page-cache read", "rule", "read");
    ratio("rule / literal scan (ac -i)", "rule", "literal-ac");
    ratio("rule / literal scan (fold)", "rule", "literal-fold");
    ratio("rule / rg -c -i comsvcs", "rule", "rg");
    ratio("rule / rule without prefilter", "rule", "rule-full");
    ratio("no-literal rule / page-cache read", "no-literal", "read");
    ratio("no-literal rule / map", "no-literal", "map");
    ratio("map / page-cache read", "map", "read");
    ratio("stats/eval search / map", "stats-eval", "map");
    ratio("library / map, two threads", "library", "map-2threads");
    ratio("library without prefilter / map, two threads", "library-full", "map-2threads");
    ratio("library / library with every group in memory", "library", "library-memory");
    ratio("library with a 200 MiB budget / library", "library-200mb", "library");
    for long in ["or-1000", "or-5000", "or-20000", "in-20000"] {
        ratio(&format!("{long} / or-2"), long, "or-2");
    }
    ratio("wild-1000 / wild-2", "wild-1000", "wild-2");
    ratio("raw-or-20000 / raw-or-2", "raw-or-20000", "raw-or-2");
    ratio("many files, rule / read", "many", "many-read");
    ratio("many files, rule without prefilter / read", "many-full", "many-read");
    ratio("many files, two threads / one", "many", "many-1thread");
    ratio("many files without prefilter, two threads / one", "many-full", "many-full-1thread");
    ratio("EVTX map / evtx crate JSON (Python)", "evtx-map", "evtx-py");
    ratio("EVTX rule / evtx crate JSON (Python)", "evtx-rule", "evtx-py");
    ratio("EVTX rule, two threads / one", "evtx-rule", "evtx-rule-1thread");
    ratio("large EVTX, rule on two threads / crate JSON (Python)", "evtx-large", "evtx-large-py");
    ratio(
        "large EVTX, rule on one thread / crate JSON (Python)",
        "evtx-large-1thread",
        "evtx-large-py",
    );
    ratio("large EVTX, two threads / one", "evtx-large", "evtx-large-1thread");
    ratio(
        "large EVTX, the crate's walk from Rust / from Python",
        "evtx-large-crate",
        "evtx-large-py",
    );
    ratio(
        "large EVTX, the crate chunk by chunk / its walk",
        "evtx-large-chunks",
        "evtx-large-crate",
    );
    ratio(
        "large EVTX, rule on one thread / the crate chunk by chunk",
        "evtx-large-1thread",
        "evtx-large-chunks",
    );
    check(results, inputs)
}

/// Whether two cases read the same file (the gzip copy is the export, uncompressed).
fn same_file(a: &CaseResult, b: &CaseResult) -> bool {
    matches!((a.input, b.input), (Input::Export, Input::Gzip) | (Input::Gzip, Input::Export))
}

/// The counts and rows each case must agree on.
fn check(results: &[CaseResult], inputs: &Inputs) -> anyhow::Result<()> {
    let written = &inputs.written;
    let find = |name: &str| results.iter().find(|result| result.case == name);
    for result in results.iter().filter(|result| result.case.starts_with("map")) {
        ensure!(
            result.measured.count == written.events,
            "case {}: read {} events, the generator wrote {}",
            result.case,
            result.measured.count,
            written.events
        );
    }
    // Cases of one family give the same rows: the shortcuts never change them.
    let families: &[(&[&str], Option<u64>)] = &[
        (&["rule", "rule-1thread", "rule-full", "rule-gzip"], Some(written.positives)),
        (&["no-literal"], Some(written.process_events)),
        (&["stats-eval", "stats-eval-full"], None),
        (&["library", "library-full", "library-memory", "library-200mb"], None),
        (&["or-2", "or-1000", "or-5000", "or-20000", "in-20000"], None),
        (&["wild-2", "wild-1000"], None),
        (&["raw-or-2", "raw-or-20000"], None),
        (
            &["many", "many-full", "many-1thread", "many-full-1thread"],
            Some(inputs.many_written.positives),
        ),
        (&["evtx-rule", "evtx-rule-1thread"], None),
        (&["evtx-large", "evtx-large-1thread"], None),
    ];
    for (family, expected) in families {
        let members: Vec<&CaseResult> = family.iter().filter_map(|name| find(name)).collect();
        let Some(first) = members.first() else { continue };
        for member in &members {
            let count = member.measured.count;
            if let Some(expected) = expected {
                ensure!(
                    count == *expected,
                    "case {}: the rule counted {count}, the generator wrote {expected}",
                    member.case
                );
            }
            ensure!(count > 0, "case {}: no rows", member.case);
            ensure!(
                member.measured.rows.is_some() && member.measured.rows == first.measured.rows,
                "case {}: rows differ from `{}`",
                member.case,
                first.case
            );
        }
        let names: Vec<&str> = members.iter().map(|member| member.case).collect();
        println!("rows: identical in {} (count {})", names.join(", "), first.measured.count);
    }
    let peers = [
        ("evtx-map", "evtx-py"),
        ("evtx-large-crate", "evtx-large-py"),
        ("evtx-large-chunks", "evtx-large-crate"),
    ];
    for (ours, peer) in peers {
        if let (Some(ours), Some(peer)) = (find(ours), find(peer)) {
            ensure!(
                ours.measured.count == peer.measured.count,
                "EVTX: {} read {} records, {} {}",
                ours.case,
                ours.measured.count,
                peer.case,
                peer.measured.count
            );
        }
    }
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn parse_size(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let number: u64 = number.parse().with_context(|| format!("bad size {text:?}"))?;
    let unit = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        other => bail!("unknown size unit {other:?}: use KiB, MiB or GiB"),
    };
    Ok(number * unit)
}

/// The cached export for `seed` and `size`, generated (atomically) when absent.
fn generated(seed: u64, size: u64) -> anyhow::Result<(PathBuf, synthetic::Written)> {
    let dir = project_root().join("target/bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stem = format!("export-v{}-seed{seed}-{size}", synthetic::GENERATOR_VERSION);
    let path = dir.join(format!("{stem}.log"));
    let meta = dir.join(format!("{stem}.json"));
    if path.exists()
        && let Ok(text) = std::fs::read_to_string(&meta)
        && let Ok(written) = serde_json::from_str::<WrittenJson>(&text)
    {
        return Ok((path, written.into()));
    }
    eprintln!("generating {} …", path.display());
    let temp = tempfile::NamedTempFile::new_in(&dir)?;
    let mut out = BufWriter::with_capacity(1 << 20, temp.reopen()?);
    let written = synthetic::write_export(&mut out, seed, size)?;
    out.flush()?;
    drop(out);
    temp.persist(&path).with_context(|| format!("cannot write {}", path.display()))?;
    let meta_temp = tempfile::NamedTempFile::new_in(&dir)?;
    serde_json::to_writer(meta_temp.reopen()?, &WrittenJson::from(written))?;
    meta_temp.persist(&meta)?;
    Ok((path, written))
}

/// The gzip copy of `export`, made once.
fn gzip_copy(export: &Path) -> anyhow::Result<PathBuf> {
    let path = export.with_extension("log.gz");
    if path.exists() {
        return Ok(path);
    }
    eprintln!("compressing {} …", path.display());
    let dir = export.parent().context("the export has a folder")?;
    let temp = tempfile::NamedTempFile::new_in(dir)?;
    let mut encoder = flate2::write::GzEncoder::new(
        BufWriter::with_capacity(1 << 20, temp.reopen()?),
        flate2::Compression::fast(),
    );
    std::io::copy(&mut File::open(export)?, &mut encoder)?;
    encoder.finish()?.flush()?;
    temp.persist(&path)?;
    Ok(path)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct WrittenJson {
    bytes: u64,
    events: u64,
    positives: u64,
    near_misses: u64,
    process_events: u64,
}

impl From<synthetic::Written> for WrittenJson {
    fn from(w: synthetic::Written) -> Self {
        WrittenJson {
            bytes: w.bytes,
            events: w.events,
            positives: w.positives,
            near_misses: w.near_misses,
            process_events: w.process_events,
        }
    }
}

impl From<WrittenJson> for synthetic::Written {
    fn from(w: WrittenJson) -> Self {
        synthetic::Written {
            bytes: w.bytes,
            events: w.events,
            positives: w.positives,
            near_misses: w.near_misses,
            process_events: w.process_events,
        }
    }
}

/// Runs one case `runs` times in this process and prints a [`Measured`] as JSON; the case
/// `interleaved` runs `cases` round by round instead and prints their times.
fn measure(
    case: &str,
    files: &[PathBuf],
    runs: usize,
    cases: &[String],
    library: &Path,
) -> anyhow::Result<()> {
    if case == "evtx-py" || case == "evtx-large-py" {
        return python_evtx(files, runs);
    }
    let mut buffer = vec![0u8; 1 << 20];
    if case == "interleaved" {
        let mut prepared = Vec::new();
        for name in cases {
            prepared.push(Prepared::new(name, library)?);
        }
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
        for _ in 0..runs.max(1) {
            for (prepared, seconds) in prepared.iter().zip(&mut times) {
                let started = Instant::now();
                prepared.run(files, &mut buffer)?;
                seconds.push(started.elapsed().as_secs_f64());
            }
        }
        println!("{}", serde_json::to_string(&times)?);
        return Ok(());
    }
    let prepared = Prepared::new(case, library)?;
    let mut seconds = Vec::new();
    let mut outcome = (0, None);
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        outcome = prepared.run(files, &mut buffer)?;
        seconds.push(started.elapsed().as_secs_f64());
    }
    let (count, rows) = outcome;
    let measured = Measured { seconds, peak_kib: peak_kib()?, count, rows };
    println!("{}", serde_json::to_string(&measured)?);
    Ok(())
}

/// The evtx crate's own JSON rendering of every record, from its Python binding on one
/// thread, timed inside the interpreter so that its start-up is not counted.
const PYTHON_EVTX: &str = r#"
import json, resource, sys, time, evtx
runs, paths = int(sys.argv[1]), sys.argv[2:]
seconds, count = [], 0
for _ in range(max(runs, 1)):
    started, count = time.perf_counter(), 0
    for path in paths:
        for _record in evtx.PyEvtxParser(path, number_of_threads=1).records_json():
            count += 1
    seconds.append(time.perf_counter() - started)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_kib": peak, "count": count, "rows": None}))
"#;

fn python_evtx(files: &[PathBuf], runs: usize) -> anyhow::Result<()> {
    let mut command = Command::new(PYTHON);
    command.args(["-c", PYTHON_EVTX, &runs.to_string()]).args(files);
    let measured: Measured = child(&mut command, "the evtx Python module")?;
    println!("{}", serde_json::to_string(&measured)?);
    Ok(())
}

/// A case ready to run: its search compiled, when it has one (the `OR` list cases compile
/// theirs in the timed run, since a long list costs in the parser too, from text made here).
struct Prepared {
    case: String,
    search: Option<Search>,
    /// The library cases' rules.
    library: Vec<Search>,
    /// A list case's search text.
    list: Option<String>,
}

impl Prepared {
    fn new(case: &str, library: &Path) -> anyhow::Result<Self> {
        if case.starts_with("library") {
            let library = library_rules(library)?;
            return Ok(Prepared { case: case.to_owned(), search: None, library, list: None });
        }
        // A list case's text is what a rule file holds: built here, compiled in the timed
        // run, since a long list costs in the parser too.
        if ["or-", "in-", "wild-", "raw-or-"].iter().any(|kind| case.starts_with(kind)) {
            let list = Some(list_search(case)?);
            return Ok(Prepared { case: case.to_owned(), search: None, library: Vec::new(), list });
        }
        let search = match case {
            "rule" | "rule-1thread" | "rule-full" | "rule-gzip" | "many" | "many-full"
            | "evtx-rule" | "evtx-rule-1thread" | "evtx-large" | "evtx-large-1thread"
            | "hostile" | "hostile-full" | "many-1thread" | "many-full-1thread" => {
                Some(comsvcs_rule()?)
            }
            "no-literal" => Some(compile(NO_LITERAL)?),
            "stats-eval" | "stats-eval-full" => Some(compile(STATS_EVAL)?),
            _ => None,
        };
        Ok(Prepared { case: case.to_owned(), search, library: Vec::new(), list: None })
    }

    /// Runs the case once: what it counted, and for the rule cases a digest of the rows.
    fn run(&self, files: &[PathBuf], buffer: &mut [u8]) -> anyhow::Result<(u64, Option<String>)> {
        let file = files.first().context("a case reads at least one file")?;
        let count = match self.case.as_str() {
            "read" | "many-read" => {
                let mut count = 0;
                for file in files {
                    count += read_all(file, buffer)?;
                }
                count
            }
            "literal-ac" => {
                let automaton = aho_corasick::AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(["comsvcs"])?;
                block_count(file, buffer, |window| automaton.find_iter(window).count())?
            }
            "literal-fold" => {
                let finder = memchr::memmem::Finder::new(b"comsvcs");
                let mut scratch = Vec::with_capacity(64 * 1024);
                block_count(file, buffer, |window| {
                    scratch.clear();
                    scratch.extend(window.iter().map(u8::to_ascii_lowercase));
                    finder.find_iter(&scratch).count()
                })?
            }
            "rg" => {
                let output = Command::new("rg").args(["-c", "-i", "comsvcs"]).arg(file).output()?;
                ensure!(output.status.success(), "rg failed");
                String::from_utf8_lossy(&output.stdout).trim().parse()?
            }
            "map" => {
                let mut reader = EventReader::open(file)?;
                let records = reader.processes().flatten().count();
                ensure!(records > 0, "no records");
                reader.report().events_total()
            }
            "evtx-map" => {
                let mut count = 0;
                for file in files {
                    let mut reader = EventReader::open(file)?;
                    for record in reader.processes() {
                        record?;
                    }
                    count += reader.report().events_total();
                }
                count
            }
            "evtx-large-crate" | "evtx-large-chunks" => crate_records(&self.case, files)?,
            "map-2threads" => {
                let options = ScanOptions { prefilter: false, ..ScanOptions::default() };
                let outcome = scan_files(&[], std::slice::from_ref(file), options)?;
                outcome.reports.iter().map(|(_, report)| report.events_total()).sum()
            }
            "library" | "library-full" | "library-memory" | "library-200mb" => {
                let options = ScanOptions {
                    prefilter: self.case != "library-full",
                    group_memory: match self.case.as_str() {
                        "library-memory" => usize::MAX,
                        "library-200mb" => 200 << 20,
                        _ => ScanOptions::default().group_memory,
                    },
                    ..ScanOptions::default()
                };
                let searches: Vec<&Search> = self.library.iter().collect();
                return library_rows(&searches, files, options);
            }
            case => {
                let options = ScanOptions {
                    prefilter: !case.contains("-full"),
                    parallel: !case.ends_with("1thread"),
                    ..ScanOptions::default()
                };
                if let Some(search) = &self.search {
                    return rows(search, files, options);
                }
                let list = self.list.as_deref().context("a case without a search is a list")?;
                return rows(&compile(list)?, files, options);
            }
        };
        Ok((count, None))
    }
}

/// Every record of the EVTX `files` as the `evtx` crate renders it on one thread, from Rust:
/// through its own walk over each file (`evtx-large-crate`), or each chunk decoded on its own
/// as a caller can (`evtx-large-chunks`). How many there are.
fn crate_records(case: &str, files: &[PathBuf]) -> anyhow::Result<u64> {
    let settings = evtx::ParserSettings::new().indent(false);
    let shared = std::sync::Arc::new(settings.clone());
    let mut count = 0;
    for file in files {
        let mut parser = evtx::EvtxParser::from_path(file)?.with_configuration(settings.clone());
        if case == "evtx-large-crate" {
            for record in parser.records_json() {
                record?;
                count += 1;
            }
            continue;
        }
        for chunk in parser.chunks() {
            for record in chunk?.parse(std::sync::Arc::clone(&shared))?.iter() {
                record?.into_xml()?;
                count += 1;
            }
        }
    }
    Ok(count)
}

/// The rows of `search` over `files`: the sum of their `count` column and a digest.
fn rows(
    search: &Search,
    files: &[PathBuf],
    options: ScanOptions,
) -> anyhow::Result<(u64, Option<String>)> {
    let outcome = scan_files(&[search], files, options)?;
    let table = outcome.tables.first().context("one table")?;
    let count = (0..table.len())
        .filter_map(|row| table.value(row, "count"))
        .filter_map(|value| value.joined().parse::<u64>().ok())
        .sum();
    Ok((count, Some(digest_json(table)?)))
}

/// The rows of a rule library over `files`: how many, and a digest of every rule's columns
/// and rows.
/// They are hashed as they are made, as a user would print them, and never held: what the
/// scan itself holds is what the peak memory measures.
fn library_rows(
    searches: &[&Search],
    files: &[PathBuf],
    options: ScanOptions,
) -> anyhow::Result<(u64, Option<String>)> {
    // Each rule's columns and rows, as JSON lines, into a hash of their own: two threads
    // finish rules, and one rule's pieces come in order. The columns go in again only when
    // a piece's differ from the last's, so that pieces of a table hash as the table would.
    let tables: Vec<Mutex<RuleRows>> = searches.iter().map(|_| Mutex::default()).collect();
    let failed: Mutex<Option<std::io::Error>> = Mutex::default();
    let inputs: Vec<ScanInput> = files.iter().cloned().map(ScanInput::derived).collect();
    scan_inputs_each(searches, &inputs, options, &|index, rows| {
        let Some(table) = tables.get(index) else { return };
        let mut table = table.lock().unwrap_or_else(PoisonError::into_inner);
        table.rows += rows.len() as u64;
        if table.columns.as_deref() != Some(rows.columns()) {
            table.columns = Some(rows.columns().to_vec());
            if let Err(err) = serde_json::to_writer(&mut table.hash, rows.columns()) {
                *failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(err.into());
            }
        }
        if let Err(err) = rows.write_json_lines_labelled(&mut table.hash, None) {
            *failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(err);
        }
    })?;
    if let Some(err) = failed.into_inner().unwrap_or_else(PoisonError::into_inner) {
        return Err(err.into());
    }
    let mut count = 0;
    let mut all = Sha256::new();
    for table in tables {
        let RuleRows { rows, hash, .. } =
            table.into_inner().unwrap_or_else(PoisonError::into_inner);
        count += rows;
        writeln!(all, "{rows} {:x}", hash.finalize())?;
    }
    Ok((count, Some(format!("{:x}", all.finalize()))))
}

/// What a library case keeps of one rule's rows.
#[derive(Default)]
struct RuleRows {
    rows: u64,
    hash: Sha256,
    /// The columns of the last piece hashed.
    columns: Option<Vec<String>>,
}

/// The SHA-256 of `value` as JSON, written straight into the hash: the JSON of a library's
/// rows over a large export would otherwise be the largest buffer of the process, and
/// weigh in the peak memory measured.
fn digest_json(value: &impl serde::Serialize) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    serde_json::to_writer(&mut hasher, value)?;
    Ok(format!("{:x}", hasher.finalize()))
}

fn read_all(file: &Path, buffer: &mut [u8]) -> anyhow::Result<u64> {
    let mut input = File::open(file)?;
    let mut count = 0;
    loop {
        let read = input.read(buffer)?;
        if read == 0 {
            return Ok(count);
        }
        count += read as u64;
    }
}

/// A rule with no literal at all: nothing to prefilter on, every event read and mapped.
const NO_LITERAL: &str = "| tstats count from datamodel=Endpoint.Processes by Processes.dest";

/// A search over raw events that computes per event and aggregates: every Sysmon process
/// launch is given the fields the add-on gives it, two eval fields, and folded into `stats`.
const STATS_EVAL: &str = r#"search EventCode=1 | eval cmd_len=len(CommandLine), exe=lower(mvindex(split(Image, "\\"), -1)) | stats count avg(cmd_len) as avg_len max(cmd_len) as max_len dc(Computer) as hosts by exe | where count > 0 | sort - count"#;

/// The search of an `or-N`, `in-N`, `wild-N` or `raw-or-N` case: N terms of which two match
/// events of the generated export (the rest are names it never holds), the matching ones
/// last so that a term-by-term evaluation goes through the whole list. A `raw-` case
/// searches the raw Sysmon events, the others a data model.
fn list_search(case: &str) -> anyhow::Result<String> {
    let (raw, case) = match case.strip_prefix("raw-") {
        Some(rest) => (true, rest),
        None => (false, case),
    };
    let (kind, terms) = case.split_once('-').context("a list case is KIND-N")?;
    let terms: usize = terms.parse().with_context(|| format!("bad case {case}"))?;
    let filler = terms.checked_sub(2).context("a list has at least 2 terms")?;
    let (field, values): (&str, Vec<String>) = match kind {
        "or" | "in" => (
            "Processes.process_name",
            (0..filler)
                .map(|n| format!("b{n:05}.exe"))
                // Matched whatever the case, as Splunk compares values.
                .chain(["rundll32.exe".to_owned(), "CMD.EXE".to_owned()])
                .collect(),
        ),
        "wild" => (
            "Processes.process",
            (0..filler)
                .map(|n| format!("\"*b{n:05}.exe*\""))
                .chain(["\"*rundll32.exe shell32*\"".to_owned(), "\"*CMD.EXE /c*\"".to_owned()])
                .collect(),
        ),
        other => bail!("unknown list case {other}"),
    };
    let field = if raw { field.trim_start_matches("Processes.") } else { field };
    let condition = if kind == "in" {
        format!("{field} IN ({})", values.join(", "))
    } else {
        let terms: Vec<String> = values.iter().map(|value| format!("{field}={value}")).collect();
        format!("({})", terms.join(" OR "))
    };
    if raw {
        return Ok(format!(
            "search EventCode=1 {condition} | stats count by Computer process_name"
        ));
    }
    Ok(format!(
        "| tstats count from datamodel=Endpoint.Processes where {condition} \
         by Processes.dest Processes.process_name"
    ))
}

/// The content tree of the library cases.
fn library_dir(args: &Args) -> PathBuf {
    args.library.clone().unwrap_or_else(|| project_root().join("../shared/security_content-2024"))
}

/// Every production rule of the tree at `root` that reads `Endpoint.Processes` and compiles
/// with the tree's macros and lookups. Rules that do not compile are left out (the gate's
/// business, not the bench's); how many were kept is printed on stderr.
fn library_rules(root: &Path) -> anyhow::Result<Vec<Search>> {
    let macros = content::load_macro_table(root)?;
    let lookups = detection::lookup::Lookups::load(root)?;
    let context = detection::spl::Context { macros: &macros, lookups: &lookups };
    let mut rules = Vec::new();
    let mut tried = 0;
    for path in content::discover_rules(root)? {
        let Ok(rule) = content::load_rule(&path) else { continue };
        if rule.status.as_deref().is_some_and(|status| status != "production")
            || !rule.search.contains("datamodel=Endpoint.Processes")
        {
            continue;
        }
        tried += 1;
        if let Ok(search) = Search::compile_in(&rule.search, context, &rule.filter_macro_name()) {
            rules.push(search);
        }
    }
    ensure!(!rules.is_empty(), "no Endpoint.Processes rule compiles in {}", root.display());
    eprintln!("library: {} of {tried} rules compile", rules.len());
    Ok(rules)
}

fn compile(search: &str) -> anyhow::Result<Search> {
    let macros = detection::spl::MacroTable::default();
    Ok(Search::compile(search, &macros, "bench_filter")?)
}

/// Matches of a literal counted by `count` over `file` read in blocks, searched in windows
/// of 64 KiB that overlap by [`OVERLAP`] bytes so that no match of up to that length is missed
/// (nor, being shorter than a window, counted twice).
fn block_count(
    file: &Path,
    buffer: &mut [u8],
    mut count: impl FnMut(&[u8]) -> usize,
) -> anyhow::Result<u64> {
    let mut input = File::open(file)?;
    let mut window: Vec<u8> = Vec::with_capacity(64 * 1024 + OVERLAP);
    let mut total = 0;
    loop {
        let read = input.read(buffer)?;
        if read == 0 {
            break;
        }
        for chunk in buffer.get(..read).unwrap_or_default().chunks(64 * 1024) {
            window.extend_from_slice(chunk);
            total += count(&window) as u64;
            let keep = OVERLAP.min(window.len());
            window.drain(..window.len() - keep);
        }
    }
    Ok(total)
}

/// One less than the literal's length: the tail carried into the next window.
const OVERLAP: usize = b"comsvcs".len() - 1;

fn comsvcs_rule() -> anyhow::Result<Search> {
    let root = project_root();
    let path = root.join("detections/endpoint/dump_lsass_via_comsvcs_dll.yml");
    let detection = content::load_rule(&path)?;
    let macros = content::load_macro_table(&root)?;
    Ok(Search::compile(&detection.search, &macros, &detection.filter_macro_name())?)
}

/// The process's peak resident memory (`VmHWM`), in KiB.
fn peak_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")
}
