//! `detection render`: prints each rule's documentation page, or writes it to
//! `DIR/<date>-<slug>.md`. Rules of a type without a page are named on stderr, not rendered.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use detection::attack::Attack;
use detection::content;
use detection::render::{self, RenderError};

/// Arguments of `detection render`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Rule files to render.
    #[arg(required = true)]
    rules: Vec<PathBuf>,
    /// A MITRE ATT&CK STIX 2 bundle (enterprise-attack.json) instead of the bundled one.
    #[arg(long, value_name = "FILE")]
    attack: Option<PathBuf>,
    /// Write each page to DIR/<date>-<slug>.md instead of stdout.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Args { rules, attack, out_dir } = args;
    let attack = load_attack(attack.as_deref())?;
    let mut stdout = std::io::stdout().lock();
    let mut printed = 0_usize;
    let mut failed = 0_usize;
    for path in &rules {
        // A broken rule is reported and the others are still rendered.
        let page = match render_one(path, &attack) {
            Ok(page) => page,
            Err(err @ RenderError::NoPage { .. }) => {
                log_line("note", &err);
                continue;
            }
            Err(err) => {
                log_line("error", &err);
                failed += 1;
                continue;
            }
        };
        let (file_name, text) = page;
        if let Some(dir) = &out_dir {
            let target = dir.join(file_name);
            std::fs::write(&target, text)
                .with_context(|| format!("cannot write {}", target.display()))?;
        } else {
            // Pages end without a newline; a newline separates consecutive pages.
            if printed > 0 {
                stdout.write_all(b"\n")?;
            }
            stdout.write_all(text.as_bytes())?;
            printed += 1;
        }
    }
    stdout.flush()?;
    if failed > 0 {
        anyhow::bail!("{failed} of {} rules could not be rendered", rules.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// The page's file name and text.
fn render_one(path: &Path, attack: &Attack) -> Result<(String, String), RenderError> {
    let detection = content::load_rule(path)?;
    let page = render::page(&detection, attack)?;
    Ok((render::file_name(&detection), page))
}

/// The bundled ATT&CK data, or the bundle at `path`.
pub(crate) fn load_attack(path: Option<&Path>) -> anyhow::Result<Attack> {
    Ok(match path {
        None => Attack::bundled()?,
        Some(path) => {
            let file =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            Attack::from_json(BufReader::new(file), &path.display().to_string())?
        }
    })
}

#[allow(clippy::print_stderr)]
fn log_line(level: &str, err: &RenderError) {
    eprintln!("{level}: {err}");
}
