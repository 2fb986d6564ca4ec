//! `detection run`: compile rules with their content's macros, read event files once for all
//! of them, and print the rows Splunk would return. Rows go to stdout; what was read, and
//! what could not be, goes to stderr.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};

use anyhow::{Context as _, bail};
use detection::content;
use detection::eval::ResultTable;
use detection::events::{EventError, EventReader};
use detection::fields::Origin;
use detection::lookup::Lookups;
use detection::scan::{
    DEFAULT_GROUP_MEMORY, ScanError, ScanInput, ScanOptions, scan_inputs, scan_inputs_each,
};
use detection::spl::{Context, MacroTable, Search};
use tempfile::SpooledTempFile;

use crate::events::{expand_folders, has_extension, log_error};

/// Arguments of `detection run`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Rule files (`.yml`, `.yaml`) and event files (Splunk XML exports, optionally gzip;
    /// EVTX; JSON lines), or folders of them read recursively in name order, in any order.
    /// Every rule runs over all the event files together, as over one index. A file found in
    /// a folder that cannot be read as a rule or as events is reported and passed over.
    #[arg(required = true, value_name = "RULE.yml|EVENTS|DIR")]
    inputs: Vec<PathBuf>,
    /// The content root whose `macros/` the rules call; default: the folder holding each
    /// rule's `detections/` folder.
    #[arg(long, value_name = "DIR")]
    content: Option<PathBuf>,
    /// How to print rows.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// With `--format csv`: write every value exactly as it is. By default a cell a
    /// spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) is
    /// written as text with a leading `'`; use this only for tools that are not spreadsheets.
    #[arg(long)]
    csv_raw: bool,
    /// Fail on the first piece of input that cannot be read as an event.
    #[arg(long)]
    strict: bool,
    /// Parse every event, not only those holding the literals a rule needs: slower, same
    /// rows, and a read report that counts every event and every skip.
    #[arg(long)]
    no_prefilter: bool,
    /// Megabytes the rules' groups (their `tstats`, and the `stats` of searches over raw
    /// events) may take in memory, all rules together, before the largest are spilled to
    /// temporary files and merged back at the end: the same rows. As Splunk's
    /// `max_mem_usage_mb`, which is 200 for each search; 0 keeps every group in memory.
    #[arg(long, value_name = "MB", default_value_t = DEFAULT_GROUP_MEMORY >> 20)]
    max_mem_usage_mb: usize,
    /// The `source` every event file was indexed with, as a rule test's `attack_data`
    /// gives it (`XmlWinEventLog:Microsoft-Windows-Sysmon/Operational`): searches over raw
    /// events filter on it through their macros. Default: derived from each event's channel.
    #[arg(long, value_name = "SOURCE")]
    source: Option<String>,
    /// The `sourcetype` every event file was indexed with (`XmlWinEventLog`). Default:
    /// `XmlWinEventLog`, or `WinEventLog` for classic text events.
    #[arg(long, value_name = "SOURCETYPE")]
    sourcetype: Option<String>,
}

/// Output formats.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// Aligned columns for people, with a heading per rule.
    Table,
    /// One object per row, fields in Splunk's column order, every value a string (Splunk's
    /// JSON export). With several rules each object opens with `"rule"`.
    Json,
    /// CSV with a header row; one rule only. Cells that a spreadsheet would run as formulas
    /// get a leading `'` (see `--csv-raw`).
    Csv,
}

#[allow(clippy::needless_pass_by_value)] // every subcommand takes its `Args` the same way
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (files, mut failed) = expand_folders(&args.inputs, |_| true);
    let named: BTreeSet<&PathBuf> = args.inputs.iter().collect();
    let (rule_paths, event_paths): (Vec<PathBuf>, Vec<PathBuf>) =
        files.into_iter().partition(|path| has_extension(path, &["yml", "yaml"]));
    if rule_paths.is_empty() {
        bail!("no rule given: pass at least one rule file (.yml) or a folder holding rules");
    }
    if event_paths.is_empty() {
        bail!("no event file given: pass at least one event file or folder after the rules");
    }
    if args.csv_raw && !matches!(args.format, Format::Csv) {
        bail!("--csv-raw applies to --format csv only");
    }
    let mut tables_by_root: BTreeMap<PathBuf, (MacroTable, Lookups)> = BTreeMap::new();
    // Each rule by its name, which is all the output says of it: a content tree's rules
    // kept whole would hold every description and reference for the length of the run.
    let mut rules: Vec<(String, Search)> = Vec::new();
    for path in &rule_paths {
        match compile_rule(path, args.content.as_deref(), &mut tables_by_root) {
            Ok(rule) => rules.push(rule),
            // A rule named on the command line must run; one found in a folder may not be
            // a rule at all (a dataset's notes), or use what the engine cannot run yet.
            Err(err) if !named.contains(path) => {
                failed = true;
                log_error(&err.context("passed over"));
            }
            Err(err) => return Err(err),
        }
    }
    if rules.is_empty() {
        bail!("none of the rules found could be run");
    }
    if matches!(args.format, Format::Csv) && rules.len() > 1 {
        bail!("--format csv takes one rule; use json or table for several");
    }
    let mut event_paths = readable_event_paths(event_paths, args.strict, &mut failed)?;
    let searches: Vec<&Search> = rules.iter().map(|(_, search)| search).collect();
    let options = ScanOptions {
        strict: args.strict,
        prefilter: !args.no_prefilter,
        group_memory: match args.max_mem_usage_mb {
            0 => usize::MAX,
            megabytes => megabytes.saturating_mul(1024 * 1024),
        },
        ..ScanOptions::default()
    };
    let origin = Origin::given_or_derived(args.source.as_deref(), args.sourcetype.as_deref());
    let several = rules.len() > 1;
    let (reports, rows) = loop {
        let inputs: Vec<ScanInput> = event_paths
            .iter()
            .map(|path| ScanInput { path: path.clone(), origin: origin.clone() })
            .collect();
        let result = if matches!(args.format, Format::Json) {
            let labels = rules.iter().map(|(name, _)| several.then_some(name.as_str()));
            let spool = Spool::new(labels.collect(), options.group_memory);
            scan_inputs_each(&searches, &inputs, options, &|index, rows| spool.add(index, &rows))
                .map(|reports| (reports, Rows::Spooled(spool)))
        } else {
            scan_inputs(&searches, &inputs, options)
                .map(|outcome| (outcome.reports, Rows::Tables(outcome.tables)))
        };
        match result {
            Ok(done) => break done,
            // A file that fails part way is reported, and the rules run again over the
            // others: rows must never mix in part of a file.
            Err(ScanError::Events(err)) if !args.strict => {
                let Some(index) = failed_file(&err, &event_paths) else { return Err(err.into()) };
                event_paths.remove(index);
                // A pipe was read once already: running again would read nothing of it.
                if event_paths.iter().any(|path| !is_regular_file(path)) {
                    let why = "a pipe among the other event inputs cannot be read again";
                    return Err(anyhow::Error::new(err).context(why));
                }
                failed = true;
                log_error(&anyhow::Error::new(err).context("passed over"));
            }
            Err(ScanError::Eval { path, index, source }) => {
                // The scan knows the search by its place in the list; the user, by its rule,
                // and by the file being read unless the rule failed as it finished.
                let name = rules.get(index).map_or("?", |(name, _)| name.as_str());
                let name = detection::terminal::escape_controls(name);
                let mut err = anyhow::Error::new(source);
                if !path.as_os_str().is_empty() {
                    let file = path.display().to_string();
                    err = err.context(detection::terminal::escape_controls(&file).into_owned());
                }
                return Err(err.context(format!("rule {name:?}")));
            }
            Err(err) => return Err(err.into()),
        }
    };
    for (_, report) in &reports {
        crate::events::print_report(report);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    print_rows(rows, &rules, &args, &mut out)?;
    out.flush()?;
    Ok(if failed { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// The event paths the scan is to read: each file opened, which detects its format, so that
/// one that is no event log is reported here (or under `--strict` stops the run) and the
/// others are still read as one index.
fn readable_event_paths(
    event_paths: Vec<PathBuf>,
    strict: bool,
    failed: &mut bool,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut readable = Vec::with_capacity(event_paths.len());
    for path in event_paths {
        // A pipe (`<(zcat log.gz)`) reads once: opening it here would leave the scan the
        // rest of its bytes. The scan opens it, and says so if it is no event log.
        if std::fs::metadata(&path).is_ok_and(|meta| !meta.is_file()) {
            readable.push(path);
            continue;
        }
        // Opening detects the format: a file that is no event log is reported here, and the
        // others are still read as one index.
        match EventReader::open(&path) {
            Ok(_) => readable.push(path),
            Err(err) if !strict => {
                *failed = true;
                log_error(&anyhow::Error::new(err).context("passed over"));
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(readable)
}

/// Whether `path` is a file that can be read again (not a pipe or a device).
fn is_regular_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.is_file())
}

/// Prints each rule's rows in the rules' order, as `--format` says.
fn print_rows(
    rows: Rows,
    rules: &[(String, Search)],
    args: &Args,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let tables = match rows {
        Rows::Spooled(spool) => return spool.write_out(out),
        Rows::Tables(tables) => tables,
    };
    let several = rules.len() > 1;
    for ((name, _), table) in rules.iter().zip(&tables) {
        match args.format {
            Format::Table => {
                let name = detection::terminal::escape_controls(name);
                writeln!(out, "{name} ({} rows)", table.len())?;
                table.write_text(&mut *out)?;
                writeln!(out)?;
            }
            Format::Json => {
                let label = several.then_some(("rule", name.as_str()));
                table.write_json_lines_labelled(&mut *out, label)?;
            }
            Format::Csv if args.csv_raw => table.write_csv_raw(&mut *out)?,
            Format::Csv => table.write_csv(&mut *out)?,
        }
    }
    Ok(())
}

/// The rows of a run, to print in the rules' order.
enum Rows {
    /// Every rule's table (`--format table` and `csv` size columns over all of a table's rows).
    Tables(Vec<ResultTable>),
    /// JSON lines already written out of sight.
    Spooled(Spool),
}

/// JSON lines of several rules, whose rows are made in pieces and in no set order (two
/// threads finish rules), printed in the rules' order without holding them all: each piece
/// is written as it comes, in memory up to the run's memory budget (`--max-mem-usage-mb`)
/// and past it to an unnamed temporary file, gone when the run ends; the pieces are copied
/// out rule by rule at the end. A run over a large export and a whole content tree would
/// otherwise hold every rule's rows as tables until the last rule finished.
struct Spool {
    /// Each rule's `"rule"` label, when there are several.
    labels: Vec<Option<String>>,
    state: Mutex<SpoolState>,
}

struct SpoolState {
    file: SpooledTempFile,
    /// Where each rule's pieces are in the file, in order.
    pieces: Vec<Vec<(u64, u64)>>,
    /// The first write that failed.
    failed: Option<io::Error>,
}

impl Spool {
    /// Holds up to `in_memory` bytes of rows before it moves them to a file.
    fn new(labels: Vec<Option<&str>>, in_memory: usize) -> Self {
        let file = tempfile::spooled_tempfile(in_memory);
        let pieces = vec![Vec::new(); labels.len()];
        Spool {
            labels: labels.into_iter().map(|label| label.map(str::to_owned)).collect(),
            state: Mutex::new(SpoolState { file, pieces, failed: None }),
        }
    }

    /// Writes a piece of rule `index`'s rows, straight into the file: a rule that gives its
    /// whole table at once would otherwise be held twice, as a table and as text.
    fn add(&self, index: usize, rows: &ResultTable) {
        let label = self.labels.get(index).and_then(Option::as_deref).map(|name| ("rule", name));
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.failed.is_some() {
            return;
        }
        let state = &mut *state;
        // Pieces only ever go at the end: one starts where the file ends, and ends where
        // the file then ends.
        let written = state.file.stream_position().and_then(|start| {
            let mut out = io::BufWriter::with_capacity(1 << 16, &mut state.file);
            rows.write_json_lines_labelled(&mut out, label)?;
            out.flush()?;
            drop(out);
            Ok((start, state.file.stream_position()?))
        });
        match written {
            Ok((start, end)) => {
                if let Some(pieces) = state.pieces.get_mut(index) {
                    pieces.push((start, end - start));
                }
            }
            Err(err) => state.failed = Some(err),
        }
    }

    /// Copies every rule's rows to `out`, in the rules' order.
    fn write_out(self, out: &mut impl Write) -> anyhow::Result<()> {
        let state = self.state.into_inner().unwrap_or_else(PoisonError::into_inner);
        let SpoolState { mut file, pieces, failed } = state;
        if let Some(err) = failed {
            return Err(anyhow::Error::new(err).context(format!(
                "cannot write the rows to a temporary file in {}",
                std::env::temp_dir().display()
            )));
        }
        for (start, length) in pieces.into_iter().flatten() {
            file.seek(SeekFrom::Start(start))?;
            let copied = io::copy(&mut (&mut file).take(length), out)?;
            anyhow::ensure!(copied == length, "the temporary file of rows was cut short");
        }
        Ok(())
    }
}

/// Which of `paths` a read error is about.
fn failed_file(err: &EventError, paths: &[PathBuf]) -> Option<usize> {
    let source = match err {
        EventError::Open { path, .. } => path.as_str(),
        EventError::Read { location, .. }
        | EventError::Evtx { location, .. }
        | EventError::NotEvents { location, .. } => &location.source,
        EventError::Skipped(skip) => &skip.location.source,
    };
    paths.iter().position(|path| path.display().to_string() == source)
}

/// Loads a rule and compiles its search with the macros and lookups of its content root (or
/// `content`): its name and its search.
fn compile_rule(
    path: &Path,
    content: Option<&Path>,
    tables_by_root: &mut BTreeMap<PathBuf, (MacroTable, Lookups)>,
) -> anyhow::Result<(String, Search)> {
    let detection = content::load_rule(path)?;
    let root = match content {
        Some(root) => root.to_path_buf(),
        None => content::content_root_of(path).with_context(|| {
            format!("{}: not below a detections/ folder; pass --content DIR", path.display())
        })?,
    };
    if !tables_by_root.contains_key(&root) {
        let table = content::load_macro_table(&root)?;
        let lookups = Lookups::load(&root)?;
        tables_by_root.insert(root.clone(), (table, lookups));
    }
    let (macros, lookups) = &tables_by_root[&root];
    let tree = Context { macros, lookups };
    let search = Search::compile_in(&detection.search, tree, &detection.filter_macro_name())
        .with_context(|| format!("{}", path.display()))?;
    Ok((detection.name, search))
}
