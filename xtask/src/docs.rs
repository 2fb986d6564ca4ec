//! `cargo xtask docs`: writes the page of every rule under `docs/_posts/`, or with `--check`
//! fails naming the pages that are stale, missing or extra. Rendering is
//! `detection::render`; this task only compares and writes files.

use std::io::Write;
use std::path::Path;

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
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let root = crate::project_root();
    if args.check { check(&root) } else { write(&root) }
}

/// Fails, naming each file, when `docs/_posts/` under `root` is not what the rules render.
pub(crate) fn check(root: &Path) -> anyhow::Result<()> {
    let docs = fresh_pages(root)?;
    let stale = render::stale_pages(&root.join(POSTS_DIR), &docs.pages)?;
    if stale.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = stale
        .iter()
        .map(|(file, how)| format!("  {POSTS_DIR}/{file}: {}", describe(*how)))
        .collect();
    anyhow::bail!(
        "documentation pages are not fresh:\n{}\nrun `cargo xtask docs` and commit the result",
        lines.join("\n")
    )
}

fn write(root: &Path) -> anyhow::Result<()> {
    let docs = fresh_pages(root)?;
    let dir = root.join(POSTS_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (file, how) in render::stale_pages(&dir, &docs.pages)? {
        let path = dir.join(&file);
        match how {
            Staleness::Extra => {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
                println!("removed {POSTS_DIR}/{file}");
            }
            Staleness::Missing | Staleness::Differs => {
                write_atomically(&dir, &path, &docs.pages[&file])?;
                println!("wrote {POSTS_DIR}/{file}");
            }
        }
    }
    Ok(())
}

fn fresh_pages(root: &Path) -> anyhow::Result<render::DocsPages> {
    let attack = Attack::bundled()?;
    let docs = render::docs_pages(root, &attack)?;
    for (path, rule_type) in &docs.without_page {
        eprintln!("note: {}: type {rule_type} gets no page", path.display());
    }
    Ok(docs)
}

/// A temporary file in the same folder, renamed over the target: readers never see half a page.
fn write_atomically(dir: &Path, path: &Path, text: &str) -> anyhow::Result<()> {
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    temp.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", temp.path().display()))?;
    temp.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn describe(how: Staleness) -> &'static str {
    match how {
        Staleness::Missing => "missing",
        Staleness::Differs => "differs from a fresh render",
        Staleness::Extra => "no rule renders this page",
    }
}
