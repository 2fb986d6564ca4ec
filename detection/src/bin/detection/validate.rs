//! `detection validate`: checks rule files and content roots and prints one line per finding,
//! `path: rule-id: error|warning: message`. Exit 1 on any error, or any warning under
//! `--deny-warnings`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use detection::content::validate::{self, Severity};

/// Arguments of `detection validate`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Rule files or content roots (folders holding detections/ and macros/); default: the
    /// current folder.
    paths: Vec<PathBuf>,
    /// A MITRE ATT&CK STIX 2 bundle (enterprise-attack.json) instead of the bundled one.
    #[arg(long, value_name = "FILE")]
    attack: Option<PathBuf>,
    /// Fail on warnings too.
    #[arg(long)]
    deny_warnings: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let attack = crate::render::load_attack(args.attack.as_deref())?;
    let paths = if args.paths.is_empty() { vec![PathBuf::from(".")] } else { args.paths };
    let findings = validate::validate_paths(&paths, &attack)?;
    let mut stdout = std::io::stdout().lock();
    for finding in &findings {
        writeln!(stdout, "{finding}")?;
    }
    stdout.flush()?;
    let failing = findings.iter().any(|f| {
        f.severity == Severity::Error || (args.deny_warnings && f.severity == Severity::Warning)
    });
    Ok(if failing { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
