//! `detection events`: read event files and print their `Endpoint.Processes` records as JSON
//! lines on stdout, with what was read and skipped (the read report) on stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use detection::events::{EventReader, ReadReport};

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
                    serde_json::to_writer(&mut out, &record).context("cannot write a record")?;
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
fn log_error(err: &anyhow::Error) {
    eprintln!("error: {err:#}");
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
