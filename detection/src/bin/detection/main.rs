//! The `detection` command line: validate rules, render pages, inspect events and run rules.
//! Results go to stdout; diagnostics and logs go to stderr.

mod events;
mod render;
mod run;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Detection-as-code for Splunk `security_content` rules, offline.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log more to stderr: -v for progress notes, -vv for debugging detail.
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
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {err:#}");
            }
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

/// The library reports through `log` (a dataset wrapped in a JSON string, for example);
/// warnings are always shown, more with `-v`. A few lines here rather than a logging crate.
struct StderrLogger {
    level: log::LevelFilter,
}

impl StderrLogger {
    fn install(verbose: u8) {
        static LOGGER: std::sync::OnceLock<StderrLogger> = std::sync::OnceLock::new();
        let level = match verbose {
            0 => log::LevelFilter::Warn,
            1 => log::LevelFilter::Info,
            _ => log::LevelFilter::Debug,
        };
        let logger = LOGGER.get_or_init(|| StderrLogger { level });
        if log::set_logger(logger).is_ok() {
            log::set_max_level(level);
        }
    }
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    #[allow(clippy::print_stderr)]
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let level = match record.level() {
                log::Level::Error => "error",
                log::Level::Warn => "warning",
                log::Level::Info => "info",
                log::Level::Debug | log::Level::Trace => "debug",
            };
            eprintln!("{level}: {}", record.args());
        }
    }

    fn flush(&self) {}
}
