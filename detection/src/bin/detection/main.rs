//! The `detection` command line: validate rules, render pages, inspect events and run rules.
//! Results go to stdout; diagnostics and logs go to stderr, through [`note`], with control
//! characters escaped. A closed stdout or stderr (`detection run … | head -1`) ends the
//! program quietly with status 0.

mod events;
mod render;
mod run;
mod validate;

use std::fmt;
use std::io::{self, Write as _};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// jemalloc, where it builds: the folds and the finishing of many rules allocate small
/// strings from two threads, and it serves them faster than the system allocator.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Detection-as-code for Splunk `security_content` rules, offline.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log more to stderr: -v for progress notes and the warnings of the parsers used (EVTX,
    /// YAML), -vv for debugging detail.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check rule and macro files for the defects a reviewer would otherwise catch by hand.
    Validate(validate::Args),
    /// Render the documentation page of each rule.
    Render(render::Args),
    /// Print the CIM data model records read from event files, one JSON object per line.
    Events(events::Args),
    /// Run rules over event files and print the rows Splunk would return.
    Run(run::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    StderrLogger::install(cli.verbose);
    let result = match cli.command {
        Command::Validate(args) => validate::run(args, cli.verbose),
        Command::Render(args) => render::run(args),
        Command::Events(args) => events::run(args),
        Command::Run(args) => run::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            note(format_args!("error: {err:#}"));
            ExitCode::from(2)
        }
    }
}

/// A closed pipe (`detection run … | head`) is not an error for a command-line tool.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes one line of diagnostics to stderr, control characters escaped: file names, channel
/// names and skipped text come from the input and must not drive the terminal. A closed
/// stderr ends the program quietly, as a closed stdout does; other write errors lose only
/// the line.
pub(crate) fn note(line: fmt::Arguments<'_>) {
    let text = line.to_string();
    let mut stderr = io::stderr().lock();
    let written = stderr.write_all(detection::terminal::escape_controls(&text).as_bytes());
    match written.and_then(|()| stderr.write_all(b"\n")) {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        _ => {}
    }
}

/// The library reports through `log` (a dataset wrapped in a JSON string, for example):
/// its warnings are always shown, more with `-v`. Dependencies' logs (the EVTX parser's, the
/// YAML parser's) are their authors' debugging aids, not the user's business: they show from
/// `-v` on. A few lines here rather than a logging crate.
struct StderrLogger {
    /// For this program's own records.
    level: log::LevelFilter,
    /// For every other crate's.
    dependencies: log::LevelFilter,
}

impl StderrLogger {
    fn install(verbose: u8) {
        static LOGGER: std::sync::OnceLock<StderrLogger> = std::sync::OnceLock::new();
        let (level, dependencies) = match verbose {
            0 => (log::LevelFilter::Warn, log::LevelFilter::Off),
            1 => (log::LevelFilter::Info, log::LevelFilter::Warn),
            _ => (log::LevelFilter::Debug, log::LevelFilter::Debug),
        };
        let logger = LOGGER.get_or_init(|| StderrLogger { level, dependencies });
        if log::set_logger(logger).is_ok() {
            log::set_max_level(level.max(dependencies));
        }
    }
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        let ours = metadata.target().split("::").next() == Some("detection");
        metadata.level() <= if ours { self.level } else { self.dependencies }
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let level = match record.level() {
                log::Level::Error => "error",
                log::Level::Warn => "warning",
                log::Level::Info => "info",
                log::Level::Debug | log::Level::Trace => "debug",
            };
            if record.target().split("::").next() == Some("detection") {
                note(format_args!("{level}: {}", record.args()));
            } else {
                note(format_args!("{level}: {}: {}", record.target(), record.args()));
            }
        }
    }

    fn flush(&self) {}
}
