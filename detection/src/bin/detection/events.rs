//! `detection events`: read event files and print their `Endpoint.Processes` records as JSON
//! lines on stdout, with what was read and skipped (the read report) on stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use detection::events::{EventReader, ReadReport};

use crate::note;

/// Arguments of `detection events`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Event files: Splunk XML exports (optionally gzip), EVTX, JSON lines.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Fail on the first piece of input that cannot be read as an event.
    #[arg(long)]
    strict: bool,
}

#[allow(clippy::needless_pass_by_value)] // every subcommand takes its `Args` the same way
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = false;
    for path in &args.files {
        let mut reader = EventReader::open(path)?.strict(args.strict);
        let mut error = None;
        for record in reader.processes() {
            match record {
                Ok(record) => {
                    // As an `io::Error`, so that a closed stdout is seen as one.
                    serde_json::to_writer(&mut out, &record).map_err(std::io::Error::from)?;
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

fn log_error(err: &anyhow::Error) {
    note(format_args!("error: {err:#}"));
}

/// What was read from one file, on stderr; names and reasons from the file are escaped.
pub(crate) fn print_report(report: &ReadReport) {
    let format = report.format.map_or_else(|| "unknown".to_owned(), |format| format!("{format:?}"));
    let gzip = if report.gzip { ", gzip" } else { "" };
    note(format_args!(
        "{}: {format}{gzip}: {} events, {} skipped",
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
