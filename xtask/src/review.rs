//! `cargo xtask review`, `accept` and `reject`: the review loop for the snapshots in the
//! content tree's top-level `snapshots/` — the rule tests' `snapshots/hits/*.snap` and the
//! tool tests' insta snapshots. cargo-insta looks for pending snapshots only inside packages,
//! so it does not see these. A pending snapshot is insta's `<name>.snap.new` beside the
//! snapshot; accepting renames it over the snapshot, rejecting deletes it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use detection::content;

use crate::harness::snapshot::{self, Body};

/// Arguments of `cargo xtask review`, `accept` and `reject`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The content tree to work on (a folder holding detections/); default: this workspace.
    #[arg(long, value_name = "DIR")]
    content: Option<PathBuf>,
    /// Snapshots to act on, by file name (`x.snap`), rule file stem (`x`) or path; default:
    /// every pending one.
    snapshots: Vec<String>,
}

/// A pending snapshot and the snapshot it would replace.
struct Pending {
    new: PathBuf,
    old: PathBuf,
}

pub(crate) fn review(args: &Args) -> anyhow::Result<()> {
    let root = crate::content_root(args.content.as_deref());
    let pending = pending_snapshots(&root, &args.snapshots)?;
    let orphans = orphans(&root, &args.snapshots)?;
    if pending.is_empty() && orphans.is_empty() {
        println!("no snapshots to review");
        return Ok(());
    }
    for snapshot in &pending {
        println!("{}", describe(&root, snapshot)?);
    }
    for orphan in &orphans {
        println!("{}: the rule is gone; accepting deletes this snapshot\n", shown(&root, orphan));
    }
    println!(
        "{} to review: `cargo xtask accept [NAME…]` keeps the new rows, `cargo xtask reject \
         [NAME…]` keeps the old ones",
        pending.len() + orphans.len()
    );
    Ok(())
}

pub(crate) fn accept(args: &Args) -> anyhow::Result<()> {
    let root = crate::content_root(args.content.as_deref());
    let pending = pending_snapshots(&root, &args.snapshots)?;
    let orphans = orphans(&root, &args.snapshots)?;
    if pending.is_empty() && orphans.is_empty() {
        println!("no snapshots to accept");
        return Ok(());
    }
    for snapshot in &pending {
        std::fs::rename(&snapshot.new, &snapshot.old)
            .with_context(|| format!("cannot move {} into place", snapshot.new.display()))?;
        println!("accepted {}", shown(&root, &snapshot.old));
    }
    for orphan in &orphans {
        std::fs::remove_file(orphan)
            .with_context(|| format!("cannot remove {}", orphan.display()))?;
        println!("removed {} (its rule is gone)", shown(&root, orphan));
    }
    Ok(())
}

pub(crate) fn reject(args: &Args) -> anyhow::Result<()> {
    let root = crate::content_root(args.content.as_deref());
    let pending = pending_snapshots(&root, &args.snapshots)?;
    if pending.is_empty() {
        println!("no snapshots to reject");
        return Ok(());
    }
    for snapshot in &pending {
        std::fs::remove_file(&snapshot.new)
            .with_context(|| format!("cannot remove {}", snapshot.new.display()))?;
        println!("rejected {}", shown(&root, &snapshot.new));
    }
    Ok(())
}

/// Every `*.snap.new` below `root/snapshots/` that `filters` name (all when empty), sorted.
fn pending_snapshots(root: &Path, filters: &[String]) -> anyhow::Result<Vec<Pending>> {
    let mut found = Vec::new();
    let dir = root.join("snapshots");
    if !dir.is_dir() {
        return Ok(found);
    }
    // Links are not followed: insta writes plain files, and a link to `..` would make the
    // walk endless.
    for entry in walkdir::WalkDir::new(&dir) {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if entry.file_type().is_dir() {
            continue;
        }
        let path = entry.into_path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(old_name) = name
            .strip_suffix(".new")
            .filter(|old| Path::new(old).extension().is_some_and(|ext| ext == "snap"))
            && matches(root, &path.with_file_name(old_name), filters)
        {
            found.push(Pending { old: path.with_file_name(old_name), new: path });
        }
    }
    found.sort_by(|a, b| a.new.cmp(&b.new));
    check_filters_used(root, filters, found.iter().map(|p| p.old.clone()))?;
    Ok(found)
}

/// Hits snapshots whose rule file is gone, among those `filters` name.
fn orphans(root: &Path, filters: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    let dir = root.join(snapshot::HITS_DIR);
    if !dir.is_dir() || !root.join("detections").is_dir() {
        return Ok(Vec::new());
    }
    let stems: BTreeSet<String> = content::discover_rules(root)?
        .iter()
        .filter_map(|path| path.file_stem().map(|stem| stem.to_string_lossy().into_owned()))
        .collect();
    let mut orphans = Vec::new();
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
    {
        let path = entry.with_context(|| format!("cannot list {}", dir.display()))?.path();
        let is_snap = path.extension().is_some_and(|ext| ext == snapshot::SNAP);
        let stem =
            path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
        if is_snap && !stems.contains(&stem) && matches(root, &path, filters) {
            orphans.push(path);
        }
    }
    orphans.sort();
    Ok(orphans)
}

/// Whether a snapshot (`…/x.snap`) is named by a filter: its file name, its stem, or a path
/// (relative to the content root or the current folder) ending in it.
fn matches(root: &Path, snapshot: &Path, filters: &[String]) -> bool {
    if filters.is_empty() {
        return true;
    }
    let name = snapshot.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".snap").unwrap_or(&name).to_owned();
    filters.iter().any(|filter| {
        let filter = filter.strip_suffix(".new").unwrap_or(filter);
        filter == name
            || filter == stem
            || snapshot.ends_with(filter)
            || std::path::absolute(filter).is_ok_and(|path| path == snapshot)
            || root.join(filter) == snapshot
    })
}

/// A filter that names nothing pending is a typo the user must hear about.
fn check_filters_used(
    root: &Path,
    filters: &[String],
    found: impl Iterator<Item = PathBuf>,
) -> anyhow::Result<()> {
    let found: Vec<PathBuf> = found.collect();
    let unused: Vec<&String> = filters
        .iter()
        .filter(|filter| {
            !found.iter().any(|path| matches(root, path, std::slice::from_ref(filter)))
                && !orphans(root, std::slice::from_ref(filter)).is_ok_and(|o| !o.is_empty())
        })
        .collect();
    if !unused.is_empty() {
        let names: Vec<&str> = unused.iter().map(|name| name.as_str()).collect();
        bail!("no pending snapshot matches {}", names.join(", "));
    }
    Ok(())
}

/// What accepting a pending snapshot would change: for hits, the rows of each dataset; for
/// other snapshots, the lines.
fn describe(root: &Path, pending: &Pending) -> anyhow::Result<String> {
    let new_text = std::fs::read_to_string(&pending.new)
        .with_context(|| format!("cannot read {}", pending.new.display()))?;
    let old_text = std::fs::read_to_string(&pending.old).ok();
    let mut out = shown(root, &pending.old);
    out.push_str(if old_text.is_some() { " (changed)\n" } else { " (new)\n" });
    let hits = pending.old.parent().is_some_and(|dir| dir.ends_with(snapshot::HITS_DIR));
    match (hits, Body::parse(&new_text)) {
        (true, Ok(new)) => {
            let old =
                old_text.as_deref().and_then(|text| Body::parse(text).ok()).unwrap_or_default();
            out.push_str(&hits_changes(&old, &new));
        }
        _ => out.push_str(&line_diff(
            snapshot::strip_header(old_text.as_deref().unwrap_or("")),
            snapshot::strip_header(&new_text),
        )),
    }
    Ok(out)
}

fn hits_changes(old: &Body, new: &Body) -> String {
    let mut out = String::new();
    if old.rule != new.rule && !old.rule.is_empty() {
        let _ = writeln!(out, "  rule: {} → {}", old.rule, new.rule);
    }
    let groups = [("", &old.datasets, &new.datasets), ("benign ", &old.benign, &new.benign)];
    for (kind, old_sections, new_sections) in groups {
        for section in new_sections {
            let before = old_sections.iter().find(|old| old.same_dataset(section));
            let changes = snapshot::row_changes(before.map_or(&[][..], |b| &b.rows), &section.rows);
            if changes.is_empty() {
                continue;
            }
            let stand_in = section
                .stand_in
                .as_ref()
                .map(|file| format!(" (stand-in {file})"))
                .unwrap_or_default();
            let before_rows = before.map_or_else(|| "-".to_owned(), |b| b.rows.len().to_string());
            let _ = writeln!(
                out,
                "  {kind}{}{stand_in}: {before_rows} → {} rows",
                section.data,
                section.rows.len()
            );
            for (sign, line) in changes {
                let _ = writeln!(out, "    {sign} {line}");
            }
        }
        for section in
            old_sections.iter().filter(|old| !new_sections.iter().any(|n| n.same_dataset(old)))
        {
            let _ =
                writeln!(out, "  {kind}{}: {} → - rows (gone)", section.data, section.rows.len());
        }
    }
    out
}

/// Unchanged lines shown around a change.
const CONTEXT: usize = 2;

/// A line diff (longest common subsequence): `-`/`+` lines, with [`CONTEXT`] unchanged
/// lines around each change and `…` for the rest.
fn line_diff(old: &str, new: &str) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    if old.len().saturating_mul(new.len()) > 4_000_000 {
        let mut out = String::new();
        for line in new {
            let _ = writeln!(out, "  + {line}");
        }
        return out;
    }
    // lengths[i][j]: common lines of old[i..] and new[j..].
    let mut lengths = vec![vec![0_usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lengths[i][j] = if old[i] == new[j] {
                lengths[i + 1][j + 1] + 1
            } else {
                lengths[i + 1][j].max(lengths[i][j + 1])
            };
        }
    }
    let mut lines: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            lines.push((' ', old[i]));
            (i, j) = (i + 1, j + 1);
        } else if j < new.len() && (i == old.len() || lengths[i][j + 1] > lengths[i + 1][j]) {
            lines.push(('+', new[j]));
            j += 1;
        } else {
            lines.push(('-', old[i]));
            i += 1;
        }
    }
    let near_change = |index: usize| {
        let from = index.saturating_sub(CONTEXT);
        let to = (index + CONTEXT + 1).min(lines.len());
        lines[from..to].iter().any(|(sign, _)| *sign != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (index, (sign, line)) in lines.iter().enumerate() {
        if near_change(index) {
            if skipped {
                out.push_str("    …\n");
                skipped = false;
            }
            let _ = writeln!(out, "  {sign} {line}");
        } else {
            skipped = true;
        }
    }
    if skipped {
        out.push_str("    …\n");
    }
    out
}

fn shown(root: &Path, path: &Path) -> String {
    crate::harness::relative_to(path, root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_diff_marks_removed_and_added_lines() {
        assert_eq!(line_diff("a\nb\nc\n", "a\nc\nd\n"), "    a\n  - b\n    c\n  + d\n");
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        assert_eq!(
            line_diff(old, &old.replace('5', "five")),
            "    …\n    3\n    4\n  - 5\n  + five\n    6\n    7\n    …\n"
        );
    }

    #[test]
    fn filters_name_snapshots_by_file_stem_or_path() {
        let root = Path::new("/content");
        let snapshot = Path::new("/content/snapshots/hits/rule_one.snap");
        for filter in
            ["rule_one", "rule_one.snap", "rule_one.snap.new", "snapshots/hits/rule_one.snap"]
        {
            assert!(matches(root, snapshot, &[filter.to_owned()]), "{filter}");
        }
        assert!(!matches(root, snapshot, &["rule_two".to_owned()]));
        assert!(matches(root, snapshot, &[]));
    }

    #[cfg(unix)]
    #[test]
    fn pending_snapshots_are_found_once_past_a_symbolic_link_loop() {
        // A link to `..` under snapshots/ made `review`, `accept` and `reject` walk forever.
        let dir = tempfile::tempdir().expect("temp dir");
        let hits = dir.path().join("snapshots/hits");
        std::fs::create_dir_all(&hits).expect("folders");
        std::fs::write(hits.join("rule_one.snap.new"), "new").expect("file");
        std::os::unix::fs::symlink("..", hits.join("up")).expect("link");
        std::os::unix::fs::symlink("..", hits.join("up_again")).expect("link");
        let found = pending_snapshots(dir.path(), &[]).expect("walk");
        let found: Vec<&Path> = found.iter().map(|p| p.new.as_path()).collect();
        assert_eq!(found, [hits.join("rule_one.snap.new")]);
    }
}
