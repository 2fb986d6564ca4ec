//! `cargo xtask run [RULE…]`: the main job. Runs rules over the datasets they name, found as
//! the gate finds them: a URL through `datasets.lock` and the verified cache, else the
//! committed stand-in the lock names (said on stderr, so nobody mistakes one for the other);
//! a path relative to the content root as it is. Rows are printed as `detection run` prints
//! them.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use detection::content;
use detection::scan::{ScanOptions, scan_files};
use detection::spl::Search;

use crate::fetch::{self, Mode};
use crate::harness::datasets::{self, Remote, Source};

/// Arguments of `cargo xtask run`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The content tree to work on (a folder holding detections/); default: this workspace.
    #[arg(long, value_name = "DIR")]
    content: Option<PathBuf>,
    /// Rule files, relative to the current folder; default: every rule under detections/.
    rules: Vec<PathBuf>,
    /// Do not touch the network: use cached datasets and the committed stand-ins.
    #[arg(long)]
    offline: bool,
    /// How to print rows: table, json or csv.
    #[arg(long, default_value = "table", value_parser = ["table", "json", "csv"])]
    format: String,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let root = crate::content_root(args.content.as_deref());
    let rules =
        if args.rules.is_empty() { content::discover_rules(&root)? } else { args.rules.clone() };
    let mode = if args.offline { Mode::Offline } else { Mode::Online };
    let remote = Remote::resolve(&root, &fetch::cache_dir(&crate::project_root()), mode);
    if let Some(failure) = remote.failure() {
        eprintln!("remote datasets could not be looked up: {failure}");
    }
    let mut macros_by_root = BTreeMap::new();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = 0;
    for rule_path in &rules {
        let rule = content::load_rule(rule_path)?;
        let rule_root = content::content_root_of(rule_path).unwrap_or_else(|| root.clone());
        if !macros_by_root.contains_key(&rule_root) {
            let table = content::load_macro_table(&rule_root)?;
            macros_by_root.insert(rule_root.clone(), table);
        }
        let search =
            Search::compile(&rule.search, &macros_by_root[&rule_root], &rule.filter_macro_name())
                .with_context(|| rule_path.display().to_string())?;
        let mut events = Vec::new();
        for dataset in rule.datasets() {
            match datasets::locate(&rule_root, &dataset, &remote) {
                Source::Real(path) => {
                    eprintln!("{}: dataset {}", rule.name, dataset.data);
                    events.push(path);
                }
                Source::StandIn { file, path, reason } => {
                    eprintln!(
                        "{}: dataset {} unavailable ({reason}); reading its committed stand-in {file}",
                        rule.name, dataset.data
                    );
                    events.push(path);
                }
                Source::Unavailable(reason) | Source::Missing(reason) => {
                    eprintln!("{}: dataset {} not read: {reason}", rule.name, dataset.data);
                }
            }
        }
        if events.is_empty() {
            eprintln!("{}: nothing to run over", rule.name);
            failed += 1;
            continue;
        }
        let outcome = scan_files(&[&search], &events, ScanOptions::default())
            .with_context(|| format!("{}: cannot read its datasets", rule.name))?;
        let table = &outcome.tables[0];
        match args.format.as_str() {
            "json" => table.write_json_lines_labelled(&mut out, None)?,
            "csv" => table.write_csv(&mut out)?,
            _ => {
                writeln!(out, "{} ({} rows)", rule.name, table.len())?;
                table.write_text(&mut out)?;
                writeln!(out)?;
            }
        }
        out.flush()?;
    }
    if failed > 0 {
        bail!("{failed} of {} rules could not be run", rules.len());
    }
    Ok(())
}
