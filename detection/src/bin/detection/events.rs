//! `detection events`: read event files and print their CIM data model records (or, with
//! `--fields`, every field of every event as a search over raw events sees it) as JSON lines
//! on stdout, with what was read and skipped (the read report) on stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use detection::datamodel;
use detection::events::{EventReader, ReadReport};
use detection::fields::{Origin, SplunkEvent};

/// Arguments of `detection events`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Event files (Splunk XML exports, optionally gzip; EVTX; JSON lines) or folders, read
    /// recursively in name order, passing over hidden entries and `.md`, `.yml` files.
    #[arg(required = true, value_name = "FILE|DIR")]
    files: Vec<PathBuf>,
    /// Fail on the first piece of input that cannot be read as an event.
    #[arg(long)]
    strict: bool,
    /// Print every event with all its fields as Splunk's add-ons give them at search time
    /// (what `sysmon`, `wineventlog_security` and other raw searches read), instead of the
    /// data model records.
    #[arg(long)]
    fields: bool,
    /// The `source` the files were indexed with (see `detection run --source`).
    #[arg(long, value_name = "SOURCE")]
    source: Option<String>,
    /// The `sourcetype` the files were indexed with (see `detection run --sourcetype`).
    #[arg(long, value_name = "SOURCETYPE")]
    sourcetype: Option<String>,
}

#[allow(clippy::needless_pass_by_value)] // every subcommand takes its `Args` the same way
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (files, mut failed) = expand_folders(&args.files, |_| false);
    let origin = Origin::given_or_derived(args.source.as_deref(), args.sourcetype.as_deref());
    for path in &files {
        let mut reader = match EventReader::open(path) {
            Ok(reader) => reader.strict(args.strict),
            Err(err) if !args.strict => {
                failed = true;
                log_error(&anyhow::Error::new(err));
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        let mut error = None;
        for event in &mut reader {
            match event {
                Ok(event) => {
                    let view = SplunkEvent::new(&event, &origin);
                    if args.fields {
                        serde_json::to_writer(&mut out, &view.fields())
                            .context("cannot write an event")?;
                    } else if let Some(record) = datamodel::node_record(&view) {
                        serde_json::to_writer(&mut out, &record)
                            .context("cannot write a record")?;
                    } else {
                        continue;
                    }
                    out.write_all(b"\n")?;
                }
                Err(err) => {
                    error = Some(err);
                    break;
                }
            }
        }
        out.flush()?;
        print_report(reader.report());
        if let Some(err) = error {
            failed = true;
            log_error(&anyhow::Error::new(err));
            if args.strict {
                break;
            }
        }
    }
    Ok(if failed { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

#[allow(clippy::print_stderr)]
pub(crate) fn log_error(err: &anyhow::Error) {
    eprintln!("error: {err:#}");
}

/// `paths` with every folder replaced by the files below it, recursively and sorted by path,
/// passing over hidden entries, notes (`.md`) and, unless `take_yaml`, YAML files; a folder
/// given by name is read even when hidden. Also whether some folder could not be listed
/// (said on stderr, the rest is still read). Files named directly are kept as given.
pub(crate) fn expand_folders(
    paths: &[PathBuf],
    mut take_yaml: impl FnMut(&Path) -> bool,
) -> (Vec<PathBuf>, bool) {
    let mut files = Vec::new();
    let mut failed = false;
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut found = Vec::new();
        let mut folders = vec![path.clone()];
        while let Some(folder) = folders.pop() {
            let entries = match std::fs::read_dir(&folder) {
                Ok(entries) => entries,
                Err(err) => {
                    failed = true;
                    log_error(&anyhow::Error::new(err).context(format!(
                        "{}: cannot list the folder, its files are not read",
                        folder.display()
                    )));
                    continue;
                }
            };
            for entry in entries.flatten() {
                let entry_path = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') {
                    continue;
                }
                if entry_path.is_dir() {
                    folders.push(entry_path);
                } else if !has_extension(&entry_path, &["md"])
                    && (!has_extension(&entry_path, &["yml", "yaml"]) || take_yaml(&entry_path))
                {
                    found.push(entry_path);
                }
            }
        }
        found.sort();
        files.extend(found);
    }
    (files, failed)
}

pub(crate) fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| extensions.iter().any(|wanted| ext.eq_ignore_ascii_case(wanted)))
}

#[allow(clippy::print_stderr)]
pub(crate) fn print_report(report: &ReadReport) {
    let format = report.format.map_or_else(|| "unknown".to_owned(), |format| format!("{format:?}"));
    let gzip = if report.gzip { ", gzip" } else { "" };
    eprintln!(
        "{}: {format}{gzip}: {} events, {} skipped",
        report.source,
        report.events_total(),
        report.skipped_total
    );
    for (channel, event_id, count) in report.event_counts() {
        eprintln!("  {channel} {event_id}: {count}");
    }
    for skip in &report.skipped {
        eprintln!("  skipped {}: {}", skip.location, skip.reason);
    }
    if report.skipped_total > report.skipped.len() as u64 {
        eprintln!("  … and {} more skips", report.skipped_total - report.skipped.len() as u64);
    }
    for note in &report.notes {
        eprintln!("  note: {note}");
    }
    if let Some(failure) = &report.failure {
        eprintln!("  stopped: {failure}");
    }
}
