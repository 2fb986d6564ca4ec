//! `detection events`: read event files and print their CIM data model records (or, with
//! `--fields`, every field of every event as a search over raw events sees it) as JSON lines
//! on stdout, with what was read and skipped (the read report) on stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use detection::datamodel;
use detection::events::{EventReader, ReadReport};
use detection::fields::{Origin, SplunkEvent};

use crate::note;

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
                    // As an `io::Error`, so that a closed stdout is seen as one.
                    if args.fields {
                        serde_json::to_writer(&mut out, &view.fields())
                            .map_err(std::io::Error::from)?;
                    } else if let Some(record) = datamodel::node_record(&view) {
                        serde_json::to_writer(&mut out, &record).map_err(std::io::Error::from)?;
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

pub(crate) fn log_error(err: &anyhow::Error) {
    note(format_args!("error: {err:#}"));
}

/// `paths` with every folder replaced by the files below it, recursively and sorted by path,
/// passing over hidden entries, notes (`.md`) and, unless `take_yaml`, YAML files; a folder
/// given by name is read even when hidden. Also whether some folder could not be listed
/// (said on stderr, the rest is still read). Files named directly are kept as given.
///
/// Symbolic links are followed, so a dataset folder linked in is read; a link back to a
/// folder being walked would make the walk endless, so it is reported and not followed, and
/// a file reached through several links is read once, as a second copy would double its
/// rows.
pub(crate) fn expand_folders(
    paths: &[PathBuf],
    mut take_yaml: impl FnMut(&Path) -> bool,
) -> (Vec<PathBuf>, bool) {
    let mut files = Vec::new();
    let mut failed = false;
    let mut seen = std::collections::HashSet::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let walk = walkdir::WalkDir::new(path).follow_links(true).sort_by_file_name();
        // The root is exempt: a hidden folder named on the command line is still read.
        let walk = walk.into_iter().filter_entry(|entry| {
            entry.depth() == 0 || !entry.file_name().to_string_lossy().starts_with('.')
        });
        for entry in walk {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    let dangling = err.loop_ancestor().is_none()
                        && err
                            .path()
                            .is_some_and(|p| p.symlink_metadata().is_ok_and(|m| m.is_symlink()));
                    if let (true, Some(link)) = (dangling, err.path()) {
                        // A link to nothing: opening it says so, as for a file named directly.
                        files.push(link.to_owned());
                        continue;
                    }
                    failed = true;
                    let at = err.path().unwrap_or(path).display().to_string();
                    let message = match err.loop_ancestor() {
                        Some(ancestor) => format!(
                            "{at}: symbolic link to {}, a folder it is in: not followed",
                            ancestor.display()
                        ),
                        None => format!("{at}: cannot list the folder, its files are not read"),
                    };
                    log_error(&anyhow::Error::new(err).context(message));
                    continue;
                }
            };
            let entry_path = entry.path();
            if entry.file_type().is_dir()
                || has_extension(entry_path, &["md"])
                || (has_extension(entry_path, &["yml", "yaml"]) && !take_yaml(entry_path))
            {
                continue;
            }
            let real = entry_path.canonicalize().unwrap_or_else(|_| entry_path.to_owned());
            if seen.insert(real) {
                files.push(entry.into_path());
            }
        }
    }
    (files, failed)
}

pub(crate) fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| extensions.iter().any(|wanted| ext.eq_ignore_ascii_case(wanted)))
}

/// What was read from one file, on stderr; names and reasons from the file are escaped.
pub(crate) fn print_report(report: &ReadReport) {
    let format = report.format.map_or_else(|| "unknown".to_owned(), |format| format!("{format:?}"));
    let gzip = if report.gzip { ", gzip" } else { "" };
    // Events the prefilter passed over are neither events read nor skips: without this, a
    // file of six events would say two and leave the other four unaccounted for.
    let passed_over = match report.prefiltered {
        0 => String::new(),
        count => format!(", {count} passed over unparsed (no search could select them)"),
    };
    note(format_args!(
        "{}: {format}{gzip}: {} events, {} skipped{passed_over}",
        report.source,
        report.events_total(),
        report.skipped_total
    ));
    for (channel, event_id, count) in report.event_counts() {
        note(format_args!("  {channel} {event_id}: {count}"));
    }
    for skip in &report.skipped {
        note(format_args!("  skipped {}: {}", skip.location, skip.reason));
    }
    if report.skipped_total > report.skipped.len() as u64 {
        note(format_args!(
            "  … and {} more skips",
            report.skipped_total - report.skipped.len() as u64
        ));
    }
    for line in &report.notes {
        note(format_args!("  note: {line}"));
    }
    if let Some(failure) = &report.failure {
        note(format_args!("  stopped: {failure}"));
    }
}
