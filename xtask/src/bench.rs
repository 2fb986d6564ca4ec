//! `cargo xtask bench`: generate a large synthetic XML export (cached in `target/bench/`)
//! and time, each case in a fresh release-built child process, reading it, a literal scan,
//! mapping every event, and the comsvcs rule with and without the prefilter and over gzip.
//! It prints medians, throughput, peak memory and the ratios; it asserts equal rows. Two
//! hostile inputs follow, the rule's literals outside any event, which once made the
//! prefilter's fast path quadratic: it must stay about as fast as reading every event.

// Sizes and counts shown as floating point lose nothing that matters at these magnitudes.
#![allow(clippy::cast_precision_loss)]

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use detection::content;
use detection::events::EventReader;
use detection::scan::{ScanOptions, scan_files, synthetic};
use detection::spl::Search;
use sha2::{Digest, Sha256};

use crate::project_root;

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
    /// Measure one case in this process (used by the bench itself).
    #[arg(long, hide = true)]
    case: Option<String>,
    /// The file the case reads.
    #[arg(long, hide = true)]
    file: Option<PathBuf>,
}

/// The cases, in the order printed: name, what it measures.
const CASES: &[(&str, &str)] = &[
    ("read", "read the file (page cache) into a reused 1 MiB buffer"),
    ("literal-ac", "aho-corasick ASCII case-insensitive count of `comsvcs`"),
    ("literal-fold", "case-fold 64 KiB windows + memmem count of `comsvcs`"),
    ("map", "parse every event and map it to Endpoint.Processes (no rule), one thread"),
    ("map-2threads", "the same through scan_files with no rule: two halves on two threads"),
    ("rule", "comsvcs rule via scan_files, prefilter on, two threads"),
    ("rule-1thread", "comsvcs rule via scan_files, prefilter on, one thread"),
    ("rule-full", "comsvcs rule via scan_files, prefilter off: every event parsed, two threads"),
    ("rule-gzip", "comsvcs rule via scan_files over the gzip copy (sequential)"),
];

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    if let Some(case) = &args.case {
        let file = args.file.as_deref().context("--case needs --file")?;
        return measure(case, file, args.runs);
    }
    if cfg!(debug_assertions) {
        // Timings of a debug build mean nothing: run this task again from a release build.
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(project_root())
            .args(["run", "--quiet", "--release", "--package", "xtask", "--bin", "xtask", "--"])
            .args(["bench", "--size", &args.size, "--seed", &args.seed.to_string()])
            .args(["--runs", &args.runs.to_string()])
            .status()
            .context("cannot run cargo")?;
        ensure!(status.success(), "the release bench failed");
        return Ok(());
    }
    let size = parse_size(&args.size)?;
    let (export, written) = generated(args.seed, size)?;
    let gzip = gzip_copy(&export)?;
    println!(
        "export: {} ({:.1} MiB, {} events, {} Endpoint.Processes events, {} comsvcs matches, {} near-misses)",
        export.display(),
        mib(written.bytes),
        written.events,
        written.process_events,
        written.positives,
        written.near_misses
    );
    println!("runs per case: {} (median); every case in its own process; 2 cores", args.runs);
    let exe = std::env::current_exe().context("cannot find the bench executable")?;
    let mut results = Vec::new();
    for (case, what) in CASES {
        let file = if *case == "rule-gzip" { &gzip } else { &export };
        let output = Command::new(&exe)
            .args(["bench", "--case", case, "--runs", &args.runs.to_string(), "--file"])
            .arg(file)
            .output()
            .with_context(|| format!("cannot run case {case}"))?;
        ensure!(
            output.status.success(),
            "case {case} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let result: Measured = serde_json::from_slice(&output.stdout)
            .with_context(|| format!("case {case} printed no result"))?;
        results.push((*case, *what, result));
    }
    let output = Command::new(&exe)
        .args(["bench", "--case", "interleaved", "--runs", &args.runs.to_string(), "--file"])
        .arg(&export)
        .output()
        .context("cannot run the interleaved cases")?;
    ensure!(
        output.status.success(),
        "the interleaved cases failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let interleaved: Vec<Vec<f64>> =
        serde_json::from_slice(&output.stdout).context("the interleaved cases printed no times")?;
    report(&results, &written)?;
    report_interleaved(&interleaved, &written);
    hostile(&exe, args.runs)
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
            let output = Command::new(exe)
                .args(["bench", "--case", case, "--runs", &runs.to_string(), "--file"])
                .arg(&file)
                .output()
                .with_context(|| format!("cannot run case {case} on {name}"))?;
            ensure!(
                output.status.success(),
                "case {case} on {name} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let measured: Measured = serde_json::from_slice(&output.stdout)
                .with_context(|| format!("case {case} on {name} printed no result"))?;
            ensure!(
                measured.count == *matches,
                "{case} on {name}: the rule counted {} matches, expected {matches}",
                measured.count
            );
            seconds.push(measured.median());
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

/// The ratios from one process that ran the cases round by round.
fn report_interleaved(times: &[Vec<f64>], written: &synthetic::Written) {
    let medians: Vec<f64> = times
        .iter()
        .map(|seconds| {
            Measured { seconds: seconds.clone(), peak_kib: 0, count: 0, rows: None }.median()
        })
        .collect();
    let median = |name: &str| {
        INTERLEAVED
            .iter()
            .position(|case| *case == name)
            .and_then(|index| medians.get(index).copied())
            .unwrap_or(f64::NAN)
    };
    println!(
        "\nsame process, cases in turn each round ({} rounds):",
        times.first().map_or(0, Vec::len)
    );
    for (case, seconds) in INTERLEAVED.iter().zip(&medians) {
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

impl Measured {
    fn median(&self) -> f64 {
        let mut sorted = self.seconds.clone();
        sorted.sort_by(f64::total_cmp);
        sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
    }
}

fn report(results: &[(&str, &str, Measured)], written: &synthetic::Written) -> anyhow::Result<()> {
    let time = |name: &str| {
        results.iter().find(|(case, ..)| *case == name).map_or(f64::NAN, |(.., m)| m.median())
    };
    let read = time("read");
    let megabytes = written.bytes as f64 / 1e6;
    println!(
        "\n{:<13} {:>9} {:>10} {:>12} {:>9} {:>8}  what",
        "case", "median s", "MB/s", "events/s", "peak MiB", "x read"
    );
    for (case, what, measured) in results {
        let seconds = measured.median();
        println!(
            "{case:<13} {seconds:>9.4} {:>10.0} {:>12.0} {:>9.1} {:>8.2}  {what}",
            megabytes / seconds,
            written.events as f64 / seconds,
            measured.peak_kib as f64 / 1024.0,
            seconds / read
        );
    }
    let rule = time("rule");
    println!("\neach case in its own process, one after another:");
    println!("rule / page-cache read:        {:.2}x", rule / read);
    println!("rule / literal scan (ac -i):   {:.2}x", rule / time("literal-ac"));
    println!("rule / literal scan (fold):    {:.2}x", rule / time("literal-fold"));
    println!("rule / rule without prefilter: {:.3}x", rule / time("rule-full"));
    println!(
        "evtx: not measured: there is no EVTX writer to turn the generated export into an EVTX file"
    );
    for (case, _, measured) in results.iter().filter(|(case, ..)| case.starts_with("map")) {
        ensure!(
            measured.count == written.events,
            "case {case}: read {} events, the generator wrote {}",
            measured.count,
            written.events
        );
    }
    let rows: Vec<_> = results
        .iter()
        .filter(|(case, ..)| case.starts_with("rule"))
        .map(|(case, _, measured)| (case, measured.rows.clone(), measured.count))
        .collect();
    for (case, digest, count) in &rows {
        ensure!(
            *count == written.positives,
            "case {case}: the rule counted {count} matches, the generator wrote {}",
            written.positives
        );
        ensure!(digest.is_some() && *digest == rows[0].1, "case {case}: rows differ from `rule`");
    }
    println!("rows: identical in every rule case ({} matches, as generated)", written.positives);
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
/// `interleaved` runs [`INTERLEAVED`] round by round instead and prints their times.
fn measure(case: &str, file: &Path, runs: usize) -> anyhow::Result<()> {
    let rule = comsvcs_rule()?;
    let mut buffer = vec![0u8; 1 << 20];
    if case == "interleaved" {
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); INTERLEAVED.len()];
        for _ in 0..runs.max(1) {
            for (name, seconds) in INTERLEAVED.iter().zip(&mut times) {
                let started = Instant::now();
                run_case(name, file, &rule, &mut buffer)?;
                seconds.push(started.elapsed().as_secs_f64());
            }
        }
        println!("{}", serde_json::to_string(&times)?);
        return Ok(());
    }
    let mut seconds = Vec::new();
    let mut outcome = (0, None);
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        outcome = run_case(case, file, &rule, &mut buffer)?;
        seconds.push(started.elapsed().as_secs_f64());
    }
    let (count, rows) = outcome;
    let measured = Measured { seconds, peak_kib: peak_kib()?, count, rows };
    println!("{}", serde_json::to_string(&measured)?);
    Ok(())
}

/// The cases timed round by round in one process, so that load from other processes
/// weighs on them alike and their ratios hold.
const INTERLEAVED: &[&str] = &["read", "literal-fold", "literal-ac", "rule", "rule-1thread"];

/// Runs `case` once: what it counted, and for the rule cases a digest of the rows.
fn run_case(
    case: &str,
    file: &Path,
    rule: &Search,
    buffer: &mut [u8],
) -> anyhow::Result<(u64, Option<String>)> {
    let mut rows = None;
    let count = match case {
        "read" => {
            let mut input = File::open(file)?;
            let mut count = 0;
            loop {
                let read = input.read(buffer)?;
                if read == 0 {
                    break count;
                }
                count += read as u64;
            }
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
        "map" => {
            let mut reader = EventReader::open(file)?;
            let records = reader.processes().flatten().count();
            ensure!(records > 0, "no records");
            reader.report().events_total()
        }
        "map-2threads" => {
            let options = ScanOptions { prefilter: false, ..ScanOptions::default() };
            let outcome = scan_files(&[], &[file.to_path_buf()], options)?;
            outcome.reports.iter().map(|(_, report)| report.events_total()).sum()
        }
        "rule" | "rule-1thread" | "rule-full" | "rule-gzip" | "hostile" | "hostile-full" => {
            let options = ScanOptions {
                prefilter: case != "rule-full" && case != "hostile-full",
                parallel: case != "rule-1thread",
                ..ScanOptions::default()
            };
            let outcome = scan_files(&[rule], &[file.to_path_buf()], options)?;
            let table = outcome.tables.first().context("one table")?;
            let json = serde_json::to_vec(table)?;
            rows = Some(format!("{:x}", Sha256::digest(&json)));
            (0..table.len())
                .filter_map(|row| table.value(row, "count"))
                .filter_map(|value| value.joined().parse::<u64>().ok())
                .sum()
        }
        other => bail!("unknown case {other}"),
    };
    Ok((count, rows))
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
