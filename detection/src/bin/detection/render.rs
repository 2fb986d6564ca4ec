//! `detection render`: prints each rule's documentation page, or writes it to
//! `DIR/<date>-<slug>.md`. Rules of a type without a page are named on stderr, not rendered;
//! a rule that cannot be rendered or written is reported and the others still are.

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
    /// Write each page to DIR/<date>-<slug>.md instead of stdout. A page replaces the file
    /// of that name, never the file a symbolic link of that name points to.
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
        let (file_name, text) = match render_one(path, &attack) {
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
        if let Some(dir) = &out_dir {
            if let Err(err) = write_page(dir, &file_name, &text) {
                log_line("error", err.as_ref());
                failed += 1;
            }
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
    Ok((render::file_name(&detection)?, page))
}

/// Writes `text` as `dir/file_name` through a temporary file in `dir` renamed over the target,
/// so a reader never sees half a page and a symbolic link named like the page is replaced,
/// not followed. `file_name` is one plain name ([`render::file_name`]), so the page stays in
/// `dir`. The page keeps the mode of the file it replaces; a new one gets the usual mode of
/// new files under the umask, not the temporary file's 0600.
fn write_page(dir: &Path, file_name: &str, text: &str) -> anyhow::Result<()> {
    let target = dir.join(file_name);
    let context = || format!("cannot write {}", target.display());
    let mut builder = tempfile::Builder::new();
    builder.prefix(".page-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut temp = builder.tempfile_in(dir).with_context(context)?;
    temp.write_all(text.as_bytes()).with_context(context)?;
    if let Ok(old) = std::fs::symlink_metadata(&target)
        && old.is_file()
    {
        temp.as_file().set_permissions(old.permissions()).with_context(context)?;
    }
    temp.persist(&target).map_err(|err| err.error).with_context(context)?;
    Ok(())
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

/// One line on stderr with the error and every cause (the operating system's reason a file
/// cannot be read or written included).
fn log_line(level: &str, err: &(dyn std::error::Error + 'static)) {
    crate::note(format_args!("{level}: {}", detection::error_chain(err)));
}
