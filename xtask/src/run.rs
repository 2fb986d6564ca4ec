//! `cargo xtask run [RULE…]`: the main job. Runs rules over the datasets they name, as
//! `detection run` does: the verified cached download when it can be had, else the committed
//! fixture that `datasets.lock` names for it (said on stderr, so nobody mistakes one for the
//! other).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};
use detection::content;

use crate::fetch::{self, DatasetState, Mode};

/// Arguments of `cargo xtask run`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Rule files; default: every rule under detections/.
    rules: Vec<PathBuf>,
    /// Do not touch the network: use cached datasets and the committed fixtures.
    #[arg(long)]
    offline: bool,
    /// How `detection run` prints rows: table, json or csv.
    #[arg(long, default_value = "table")]
    format: String,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let root = crate::project_root();
    let rules = if args.rules.is_empty() {
        content::discover_rules(&root)?.into_iter().map(|path| root.join(path)).collect()
    } else {
        args.rules.clone()
    };
    let mode = if args.offline { Mode::Offline } else { Mode::Online };
    let statuses = fetch::ensure_all(&root, mode)?;
    let mut failed = 0;
    for rule_path in &rules {
        let rule = content::load_rule(rule_path)?;
        let mut events = Vec::new();
        for url in rule.dataset_urls() {
            let status = statuses.iter().find(|status| status.url == url);
            match status.map(|status| (&status.state, &status.fixture)) {
                Some((DatasetState::Ready(path), _)) => {
                    eprintln!("{}: dataset {url}", rule.name);
                    events.push(path.clone());
                }
                Some((DatasetState::Unavailable(reason), Some(fixture))) => {
                    eprintln!(
                        "{}: dataset {url} unavailable ({reason}); using the committed fixture {}",
                        rule.name,
                        fixture.display()
                    );
                    events.push(root.join(fixture));
                }
                Some((DatasetState::Unavailable(reason), None)) => {
                    eprintln!(
                        "{}: dataset {url} unavailable ({reason}) and no fixture stands in",
                        rule.name
                    );
                }
                None => eprintln!("{}: dataset {url} is not in {}", rule.name, fetch::LOCK_FILE),
            }
        }
        if events.is_empty() {
            eprintln!("{}: nothing to run over", rule.name);
            failed += 1;
            continue;
        }
        let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(&root)
            .args(["run", "--quiet", "--locked", "-p", "detection", "--", "run", "--format"])
            .arg(&args.format)
            .arg(rule_path)
            .args(&events)
            .status()
            .context("cannot run `detection run`")?;
        if !status.success() {
            failed += 1;
        }
    }
    if failed > 0 {
        bail!("{failed} of {} rules could not be run", rules.len());
    }
    Ok(())
}
