//! `cargo xtask docs`: writes the page of every rule under `docs/_posts/`, or with `--check`
//! fails naming the pages that are stale, missing or extra; `--content DIR --out DIR` does the
//! same for another content tree. Rendering is `detection::render`; this task only compares
//! and writes files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use detection::attack::Attack;
use detection::render::{self, Staleness};

/// Where pages go, relative to the workspace root.
const POSTS_DIR: &str = "docs/_posts";

/// Arguments of `cargo xtask docs`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Do not write; fail if a committed page differs from a fresh render.
    #[arg(long)]
    check: bool,
    /// The content root to render (a folder holding detections/); default: this workspace.
    #[arg(long, value_name = "DIR")]
    content: Option<PathBuf>,
    /// The folder of the pages; default: docs/_posts of the workspace, or DIR/docs/_posts
    /// with --content.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// A MITRE ATT&CK STIX 2 bundle instead of the bundled one (older trees' pages show the
    /// technique names of their time).
    #[arg(long, value_name = "FILE")]
    attack: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let content = args.content.clone().unwrap_or_else(crate::project_root);
    let out = args.out.clone().unwrap_or_else(|| content.join(POSTS_DIR));
    let attack = match &args.attack {
        None => Attack::bundled()?,
        Some(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            Attack::from_json(std::io::BufReader::new(file), &path.display().to_string())?
        }
    };
    let tree = Tree { content, out, attack };
    if args.check { tree.check() } else { tree.write() }
}

/// Fails, naming each file, when `docs/_posts/` under `root` is not what the rules render.
pub(crate) fn check(root: &Path) -> anyhow::Result<()> {
    Tree { content: root.to_owned(), out: root.join(POSTS_DIR), attack: Attack::bundled()? }.check()
}

/// A content tree, where its pages go and the ATT&CK data they show.
struct Tree {
    content: PathBuf,
    out: PathBuf,
    attack: Attack,
}

impl Tree {
    fn check(&self) -> anyhow::Result<()> {
        let docs = self.fresh_pages()?;
        let stale = render::stale_pages(&self.out, &docs.pages)?;
        if stale.is_empty() && docs.failures.is_empty() {
            return Ok(());
        }
        let mut lines: Vec<String> = stale
            .iter()
            .map(|(file, how)| {
                format!("  {}: {}", self.shown(&self.out.join(file)), describe(*how))
            })
            .collect();
        lines.extend(docs.failures.iter().map(|err| format!("  {}", detection::error_chain(err))));
        anyhow::bail!(
            "documentation pages are not fresh:\n{}\nrun `cargo xtask docs` and commit the result",
            lines.join("\n")
        )
    }

    /// Writes the pages that are missing or differ and removes those no rule renders; rules
    /// that cannot be rendered are reported after the others are written.
    fn write(&self) -> anyhow::Result<()> {
        let docs = self.fresh_pages()?;
        let dir = &self.out;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let (mut written, mut removed) = (0_usize, 0_usize);
        for (file, how) in render::stale_pages(dir, &docs.pages)? {
            let path = dir.join(&file);
            match how {
                Staleness::Extra => {
                    std::fs::remove_file(&path)
                        .with_context(|| format!("cannot remove {}", path.display()))?;
                    removed += 1;
                    println!("removed {}", self.shown(&path));
                }
                Staleness::Missing | Staleness::Differs => {
                    write_atomically(dir, &path, &docs.pages[&file])?;
                    written += 1;
                    println!("wrote {}", self.shown(&path));
                }
            }
        }
        eprintln!(
            "{} pages: {written} written, {removed} removed, {} unchanged",
            docs.pages.len(),
            docs.pages.len() - written
        );
        for err in &docs.failures {
            eprintln!("error: {}", detection::error_chain(err));
        }
        anyhow::ensure!(
            docs.failures.is_empty(),
            "{} rules could not be rendered",
            docs.failures.len()
        );
        Ok(())
    }

    /// A page's path as the user knows it: below the content root when it is there.
    fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.content).unwrap_or(path).display().to_string()
    }

    fn fresh_pages(&self) -> anyhow::Result<render::DocsPages> {
        let start = Instant::now();
        let docs = render::docs_pages(&self.content, &self.attack)?;
        for (path, rule_type) in &docs.without_page {
            eprintln!("note: {}: type {rule_type} gets no page", path.display());
        }
        eprintln!(
            "rendered {} pages of {} in {:.2} s",
            docs.pages.len(),
            self.content.display(),
            start.elapsed().as_secs_f64()
        );
        Ok(docs)
    }
}

/// A temporary file in the same folder, renamed over the target: readers never see half a
/// page. The page keeps the mode of the file it replaces; a new page gets the usual mode of
/// new files under the umask rather than the temporary file's 0600.
fn write_atomically(dir: &Path, path: &Path, text: &str) -> anyhow::Result<()> {
    let context = || format!("cannot write {}", path.display());
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut temp = builder.tempfile_in(dir).with_context(context)?;
    temp.write_all(text.as_bytes()).with_context(context)?;
    if let Ok(old) = std::fs::symlink_metadata(path)
        && old.is_file()
    {
        temp.as_file().set_permissions(old.permissions()).with_context(context)?;
    }
    temp.persist(path).map_err(|err| err.error).with_context(context)?;
    Ok(())
}

fn describe(how: Staleness) -> &'static str {
    match how {
        Staleness::Missing => "missing",
        Staleness::Differs => "differs from a fresh render",
        Staleness::Extra => "no rule renders this page",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn rewritten_pages_keep_their_mode_and_new_ones_get_the_umask_default() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let probe = dir.path().join("probe");
        std::fs::write(&probe, "").unwrap();
        let default_mode = mode(&probe);
        let page = dir.path().join("page.md");
        write_atomically(dir.path(), &page, "first").unwrap();
        assert_eq!(mode(&page), default_mode, "a new page, not the temporary file's 0600");
        std::fs::set_permissions(&page, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(dir.path(), &page, "second").unwrap();
        assert_eq!(mode(&page), 0o640);
        assert_eq!(std::fs::read_to_string(&page).unwrap(), "second");
    }

    #[test]
    fn a_failed_write_names_its_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("page.md");
        std::fs::create_dir(&page).unwrap();
        std::fs::write(page.join("keep"), "x").unwrap();
        let err = write_atomically(dir.path(), &page, "text").unwrap_err();
        let text = format!("{err:#}");
        let cause = err.root_cause().to_string();
        assert_eq!(text.matches(&cause).count(), 1, "{text}");
        assert!(text.starts_with(&format!("cannot write {}: ", page.display())), "{text}");
    }
}
