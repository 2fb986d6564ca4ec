//! `detection validate`: checks rule files and content roots and prints one finding per entry,
//! `path[:line:col]: rule-id: error|warning: message` (a syntax error adds the offending line
//! with a caret), then a summary on stderr. Searches the engine cannot evaluate are counted
//! apart; `--reach` prints how many rules it can evaluate and what keeps the others out.
//! Exit 1 on any error, or any warning under `--deny-warnings`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use detection::content::validate::{self, Reach, Severity};

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
    /// Print how many rules the engine can evaluate, grouped by what stops the others, most
    /// common first (with -v, the rules of each group), and each such rule's finding.
    #[arg(long)]
    reach: bool,
}

pub(crate) fn run(args: Args, verbose: u8) -> anyhow::Result<ExitCode> {
    let attack = crate::render::load_attack(args.attack.as_deref())?;
    let paths = if args.paths.is_empty() { vec![PathBuf::from(".")] } else { args.paths };
    let validation = validate::validate_content(&paths, &attack)?;
    let mut stdout = std::io::stdout().lock();
    let count = |severity| validation.findings.iter().filter(|f| f.severity == severity).count();
    for finding in &validation.findings {
        if finding.severity != Severity::Unsupported || args.reach {
            writeln!(stdout, "{finding}")?;
        }
    }
    let reach = validation.reach();
    if args.reach {
        write_reach(&mut stdout, &reach, verbose > 0)?;
    }
    stdout.flush()?;
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    let files_with_errors = {
        let mut paths: Vec<&PathBuf> = validation
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| &f.path)
            .collect();
        paths.dedup();
        paths.len()
    };
    crate::note(format_args!(
        "{} rules: {errors} errors in {files_with_errors} files, {warnings} warnings; the engine \
         can evaluate {} of them{}",
        reach.rules,
        reach.evaluable,
        if args.reach || reach.evaluable + reach.not_checked == reach.rules {
            String::new()
        } else {
            format!(
                " ({} need what it lacks: --reach)",
                reach.rules - reach.evaluable - reach.not_checked
            )
        }
    ));
    let failing = errors > 0 || (args.deny_warnings && warnings > 0);
    Ok(if failing { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn write_reach(out: &mut impl Write, reach: &Reach, list_rules: bool) -> std::io::Result<()> {
    // A percentage with one decimal, in integers (tenths, rounded to the nearest).
    let tenths = (reach.evaluable * 1000 + reach.rules / 2).checked_div(reach.rules).unwrap_or(0);
    writeln!(
        out,
        "reach: the engine can evaluate {} of {} rules ({}.{}%)",
        reach.evaluable,
        reach.rules,
        tenths / 10,
        tenths % 10
    )?;
    if reach.not_checked > 0 {
        writeln!(
            out,
            "  {:>5}  not asked: the rule does not load or its search has an error",
            reach.not_checked
        )?;
    }
    for (blocker, rules) in &reach.blockers {
        writeln!(out, "  {:>5}  {blocker}", rules.len())?;
        if list_rules {
            for rule in rules {
                writeln!(out, "           {}", rule.display())?;
            }
        }
    }
    Ok(())
}
