//! Project automation: `cargo xtask <task>`. Nothing depends on this crate; it drives cargo,
//! the `detection` library and the dataset cache. A closed stdout or stderr (`cargo xtask
//! fetch --offline | head -1`) ends a task quietly with status 0: write through [`out`] and
//! [`note`].
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod changed;
mod docs;
mod fetch;
mod fuzz;
mod harness;
mod libtest;
mod new;
mod report;
mod review;
mod run;
mod test;

use std::fmt;
use std::io::{self, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// jemalloc, where it builds: the folds and the finishing of many rules allocate small
/// strings from two threads, and it serves them faster than the system allocator.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Project tasks for the detection workspace.
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Time reading, mapping and the comsvcs rule over a generated export (release build).
    Bench(bench::Args),
    /// Regenerate every rule's documentation page, or check that the committed pages are fresh.
    Docs(docs::Args),
    /// Download the locked datasets into the cache, verifying size and sha256.
    Fetch(fetch::Args),
    /// Seed and run the fuzz targets one after another on one core; fail on any crash, hang or OOM.
    Fuzz(fuzz::Args),
    /// Scaffold a rule in the current schema that passes `detection validate`.
    New(new::Args),
    /// Show what accepting each pending snapshot (`snapshots/**/*.snap.new`) would change.
    Review(review::Args),
    /// Keep the new rows: move pending snapshots into place (and drop those of deleted rules).
    Accept(review::Args),
    /// Keep the old rows: delete pending snapshots.
    Reject(review::Args),
    /// Run rules over their datasets (the committed stand-in when a dataset cannot be had).
    Run(run::Args),
    /// The gate: validate content, check docs, run every rule over its datasets, run the tests.
    Test(test::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Bench(args) => bench::run(&args),
        Task::Docs(args) => docs::run(&args),
        Task::Fetch(args) => fetch::run(&args),
        Task::Fuzz(args) => fuzz::run(&args),
        Task::New(args) => new::run(&args),
        Task::Review(args) => review::review(&args),
        Task::Accept(args) => review::accept(&args),
        Task::Reject(args) => review::reject(&args),
        Task::Run(args) => run::run(&args),
        Task::Test(args) => test::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            note(format_args!("error: {err:#}"));
            ExitCode::FAILURE
        }
    }
}

/// One line on stdout. A closed stdout comes back as the error, which `main` ends on
/// quietly.
pub(crate) fn out(line: fmt::Arguments<'_>) -> io::Result<()> {
    writeln!(io::stdout().lock(), "{line}")
}

/// One line on stderr. A closed stderr ends the program quietly (status 0), as a tool in a
/// pipeline does; any other write error loses the line.
pub(crate) fn note(line: fmt::Arguments<'_>) {
    if let Err(err) = writeln!(io::stderr().lock(), "{line}")
        && err.kind() == io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// Whether `err` comes from writing to a closed pipe.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The workspace root, found from this crate's manifest so that tasks work from any directory.
pub(crate) fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// The content tree a task works on: its `--content DIR` (relative to the current folder),
/// or this workspace.
pub(crate) fn content_root(content: Option<&std::path::Path>) -> PathBuf {
    match content {
        Some(dir) => std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
        None => project_root(),
    }
}
