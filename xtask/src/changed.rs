//! `cargo xtask test --changed [BASE]`: which rules a change since BASE (git) can affect, as
//! contentctl's `--mode changes` picks them. A rule is picked when its file, its snapshot, a
//! macro it calls (directly or through other macros), a dataset it names (a local file, its
//! stand-in, its pin in `datasets.lock`) or the benign corpus changed. Files that are not
//! content are the tool's: changing one makes the gate run the tool's tests too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use detection::content::{self, RuleDataset};

use crate::fetch;

/// Folders and files of a content tree; everything else in it is the tool's.
const CONTENT_PATHS: [&str; 9] = [
    "detections/",
    "macros/",
    "lookups/",
    "stories/",
    "data_sources/",
    "docs/",
    "snapshots/hits/",
    "fixtures/datasets/",
    fetch::LOCK_FILE,
];

/// The rules a change selects.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    /// Rule files, relative to the content root, with why each was picked.
    pub(crate) rules: BTreeMap<PathBuf, String>,
    /// Whether a file outside the content changed (the tool's code, its fixtures).
    pub(crate) tool_changed: bool,
    /// Every changed path, relative to the content root.
    pub(crate) files: Vec<String>,
}

/// Compares the work tree (committed or not, and files git does not track yet) with `base`.
pub(crate) fn select(root: &Path, base: &str, benign: Option<&Path>) -> anyhow::Result<Selection> {
    let mut files = git_lines(root, &["diff", "--name-only", "--relative", "-z", base, "--"])?;
    files.extend(git_lines(root, &["ls-files", "--others", "--exclude-standard", "-z"])?);
    files.sort();
    files.dedup();
    let old_lock = git_show(root, base, fetch::LOCK_FILE);
    select_files(root, files, old_lock.as_deref(), benign)
}

/// [`select`] for a given list of changed files and the lock's text at the base.
pub(crate) fn select_files(
    root: &Path,
    files: Vec<String>,
    old_lock: Option<&str>,
    benign: Option<&Path>,
) -> anyhow::Result<Selection> {
    let rules = load_rules(root)?;
    let macros = macro_graph(root)?;
    let lock =
        LockedUrls::read(&std::fs::read_to_string(root.join(fetch::LOCK_FILE)).unwrap_or_default());
    let benign = benign.map(|dir| crate::harness::relative_to(dir, root) + "/");
    let mut selection = Selection::default();
    let mut changed_macros = BTreeSet::new();
    let mut changed_paths = BTreeSet::new();
    for file in &files {
        let path = Path::new(file);
        if file.starts_with("macros/") && is_yaml(path) {
            changed_macros.insert(stem(path));
            if let Ok(definition) = content::load_macro(&root.join(path)) {
                changed_macros.insert(definition.name);
            }
        } else if file.starts_with("detections/") && is_yaml(path) {
            if rules.iter().any(|rule| rule.file == path) {
                // The most telling reason: it replaces any other already noted.
                selection.rules.insert(path.to_path_buf(), "the rule changed".to_owned());
            }
        } else if let Some(name) = file.strip_prefix("snapshots/hits/") {
            let stem = stem(Path::new(name));
            for rule in rules.iter().filter(|rule| self::stem(&rule.file) == stem) {
                selection
                    .rules
                    .entry(rule.file.clone())
                    .or_insert_with(|| "its snapshot changed".to_owned());
            }
        } else if benign.as_deref().is_some_and(|dir| file.starts_with(dir)) {
            for rule in &rules {
                selection
                    .rules
                    .entry(rule.file.clone())
                    .or_insert_with(|| format!("benign file {file} changed"));
            }
        }
        changed_paths.insert(file.as_str());
        let content = CONTENT_PATHS.iter().any(|prefix| file.starts_with(prefix))
            || benign.as_deref().is_some_and(|dir| file.starts_with(dir));
        let named = rules.iter().any(|rule| rule.local.iter().any(|data| data == file))
            || lock.stand_ins().any(|stand_in| stand_in == file);
        if !content && !named {
            selection.tool_changed = true;
        }
    }
    let repinned = repinned_urls(&lock, old_lock, changed_paths.contains(fetch::LOCK_FILE));
    for rule in &rules {
        let reason = if let Some(name) = rule.calls(&macros).intersection(&changed_macros).next() {
            Some(format!("macro `{name}` changed"))
        } else if let Some(data) =
            rule.local.iter().find(|data| changed_paths.contains(data.as_str()))
        {
            Some(format!("its dataset {data} changed"))
        } else {
            rule.urls
                .iter()
                .find(|url| {
                    repinned.contains(url.as_str())
                        || lock
                            .stand_in(url)
                            .is_some_and(|stand_in| changed_paths.contains(stand_in))
                })
                .map(|url| format!("its dataset {url} changed"))
        };
        if let Some(reason) = reason {
            selection.rules.entry(rule.file.clone()).or_insert(reason);
        }
    }
    selection.files = files;
    Ok(selection)
}

/// What the selection needs to know of each rule.
struct RuleFacts {
    /// Relative to the content root.
    file: PathBuf,
    /// Macros the search calls directly.
    macros: BTreeSet<String>,
    /// Local datasets, as named (relative to the content root).
    local: Vec<String>,
    urls: Vec<String>,
}

impl RuleFacts {
    /// Every macro the search reaches, through the macros' own calls.
    fn calls(&self, graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
        let mut reached = BTreeSet::new();
        let mut todo: Vec<String> = self.macros.iter().cloned().collect();
        while let Some(name) = todo.pop() {
            if reached.insert(name.clone()) {
                todo.extend(graph.get(&name).into_iter().flatten().cloned());
            }
        }
        reached
    }
}

/// The rules of the tree that load; one that does not is still picked by its file.
fn load_rules(root: &Path) -> anyhow::Result<Vec<RuleFacts>> {
    let mut rules = Vec::new();
    for path in content::discover_rules(root)? {
        let file = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let Ok(rule) = content::load_rule(&path) else {
            rules.push(RuleFacts { file, macros: BTreeSet::new(), local: vec![], urls: vec![] });
            continue;
        };
        let macros = detection::spl::macro_calls(&rule.search)
            .map(|calls| calls.into_iter().map(|call| call.name).collect())
            .unwrap_or_default();
        let (urls, local): (Vec<_>, Vec<_>) =
            rule.datasets().into_iter().partition(RuleDataset::is_url);
        rules.push(RuleFacts {
            file,
            macros,
            local: local.into_iter().map(|d| d.data.to_owned()).collect(),
            urls: urls.into_iter().map(|d| d.data.to_owned()).collect(),
        });
    }
    Ok(rules)
}

/// Each macro of the tree and the macros its definition calls.
fn macro_graph(root: &Path) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
    let mut graph = BTreeMap::new();
    for path in content::discover_macros(root)? {
        let Ok(definition) = content::load_macro(&path) else { continue };
        let calls = detection::spl::macro_calls(&definition.definition)
            .map(|calls| calls.into_iter().map(|call| call.name).collect())
            .unwrap_or_default();
        graph.insert(definition.name, calls);
    }
    Ok(graph)
}

/// The pins of `datasets.lock` by URL, as JSON values: enough to tell which changed and
/// which file stands in for which URL.
struct LockedUrls(BTreeMap<String, serde_json::Value>);

impl LockedUrls {
    /// An unreadable lock pins nothing here; the gate's dataset step reports it.
    fn read(text: &str) -> Self {
        let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let pins = value["datasets"].as_array().cloned().unwrap_or_default();
        Self(
            pins.into_iter()
                .filter_map(|pin| Some((pin["url"].as_str()?.to_owned(), pin)))
                .collect(),
        )
    }

    fn stand_in(&self, url: &str) -> Option<&str> {
        self.0.get(url)?["fixture"].as_str()
    }

    fn stand_ins(&self) -> impl Iterator<Item = &str> {
        self.0.values().filter_map(|pin| pin["fixture"].as_str())
    }
}

/// URLs whose pin differs from the base's lock, or every locked URL when the lock changed
/// and the base had none.
fn repinned_urls(
    lock: &LockedUrls,
    old_lock: Option<&str>,
    lock_changed: bool,
) -> BTreeSet<String> {
    if !lock_changed {
        return BTreeSet::new();
    }
    let Some(old) = old_lock.map(LockedUrls::read) else {
        return lock.0.keys().cloned().collect();
    };
    let mut urls: BTreeSet<String> = lock
        .0
        .iter()
        .filter(|(url, pin)| old.0.get(*url) != Some(*pin))
        .map(|(url, _)| url.clone())
        .collect();
    urls.extend(old.0.keys().filter(|url| !lock.0.contains_key(*url)).cloned());
    urls
}

/// NUL-separated output of `git -C root <args>`.
fn git_lines(root: &Path, args: &[&str]) -> anyhow::Result<Vec<String>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .context("cannot run git (needed by --changed)")?;
    if !output.status.success() {
        bail!(
            "git {} failed in {}: {}",
            args.join(" "),
            root.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .split('\0')
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

/// A file's text at `base`, path relative to `root`; `None` when it did not exist there.
fn git_show(root: &Path, base: &str, file: &str) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .arg("show")
        .arg(format!("{base}:./{file}"))
        .output()
        .ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn is_yaml(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "yml" || ext == "yaml")
}

fn stem(path: &Path) -> String {
    path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::tests::Tree;

    fn git(root: &Path, args: &[&str]) {
        let status = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.test"])
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            status.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    }

    /// The fixture content as a git repository with one commit.
    fn repository() -> Tree {
        let tree = Tree::new();
        git(&tree.root(), &["init", "-q"]);
        git(&tree.root(), &["add", "."]);
        git(&tree.root(), &["commit", "-q", "-m", "content"]);
        tree
    }

    fn selected(tree: &Tree, base: &str) -> Selection {
        select(&tree.root(), base, Some(&tree.path("fixtures/benign"))).expect("selection")
    }

    fn rules(selection: &Selection) -> Vec<(&str, &str)> {
        selection
            .rules
            .iter()
            .map(|(file, why)| (file.to_str().expect("utf-8"), why.as_str()))
            .collect()
    }

    const COMSVCS: &str = "detections/endpoint/dump_lsass_via_comsvcs_dll.yml";
    const ADVPACK: &str = "detections/endpoint/rundll32_advpack_execution.yml";

    #[test]
    fn nothing_changed_selects_nothing() {
        let tree = repository();
        let selection = selected(&tree, "HEAD");
        assert!(
            selection.rules.is_empty() && selection.files.is_empty() && !selection.tool_changed
        );
    }

    #[test]
    fn a_changed_macro_selects_every_rule_that_calls_it() {
        let tree = repository();
        tree.edit(
            "macros/process_rundll32.yml",
            "rundll32.exe OR",
            "rundll32.exe OR Processes.process_name=rundll32 OR",
        );
        assert_eq!(
            rules(&selected(&tree, "HEAD")),
            [(ADVPACK, "macro `process_rundll32` changed")]
        );
        // A macro both rules call, committed: the base is the commit before.
        tree.edit("macros/security_content_ctime.yml", "ctime($field$)", "ctime($field$) ");
        git(&tree.root(), &["commit", "-q", "-am", "macros"]);
        let selection = selected(&tree, "HEAD~1");
        assert_eq!(
            rules(&selection),
            [
                (COMSVCS, "macro `security_content_ctime` changed"),
                (ADVPACK, "macro `process_rundll32` changed")
            ]
        );
        assert!(!selection.tool_changed);
    }

    #[test]
    fn a_macro_reached_through_another_macro_selects_its_callers() {
        let tree = repository();
        tree.write("macros/rundll32_names.yml", "definition: rundll32.exe\nname: rundll32_names\n");
        tree.edit(
            "macros/process_rundll32.yml",
            "Processes.process_name=rundll32.exe",
            "Processes.process_name=`rundll32_names`",
        );
        git(&tree.root(), &["add", "."]);
        git(&tree.root(), &["commit", "-q", "-m", "nested macro"]);
        tree.edit("macros/rundll32_names.yml", "rundll32.exe", "RUNDLL32.EXE");
        assert_eq!(rules(&selected(&tree, "HEAD")), [(ADVPACK, "macro `rundll32_names` changed")]);
    }

    #[test]
    fn rule_snapshot_dataset_benign_and_tool_changes_select_their_rules() {
        let tree = repository();
        tree.edit(COMSVCS, "version: 1", "version: 2");
        tree.write("snapshots/hits/dump_lsass_via_comsvcs_dll.snap.new", "pending\n");
        tree.write("snapshots/hits/dump_lsass_via_comsvcs_dll.snap", "edited\n");
        assert_eq!(rules(&selected(&tree, "HEAD")), [(COMSVCS, "the rule changed")]);
        git(&tree.root(), &["checkout", "-q", "."]);

        tree.edit("fixtures/datasets/advpack_sysmon.log", "EXAMPLE\\bob", "EXAMPLE\\eve");
        assert_eq!(
            rules(&selected(&tree, "HEAD")),
            [(ADVPACK, "its dataset fixtures/datasets/advpack_sysmon.log changed")]
        );
        git(&tree.root(), &["checkout", "-q", "."]);

        tree.edit("fixtures/datasets/T1003.001-stand-in.log", "EXAMPLE\\admin", "EXAMPLE\\root");
        let url = "https://media.githubusercontent.com/media/splunk/attack_data/master/datasets/attack_techniques/T1003.001/atomic_red_team/windows-sysmon.log";
        assert_eq!(
            rules(&selected(&tree, "HEAD")),
            [(COMSVCS, &*format!("its dataset {url} changed"))]
        );
        git(&tree.root(), &["checkout", "-q", "."]);

        tree.write("snapshots/hits/rundll32_advpack_execution.snap", "edited\n");
        assert_eq!(rules(&selected(&tree, "HEAD")), [(ADVPACK, "its snapshot changed")]);
        git(&tree.root(), &["checkout", "-q", "."]);

        tree.write("fixtures/benign/new.log", "<Event/>\n");
        let selection = selected(&tree, "HEAD");
        assert_eq!(selection.rules.len(), 2);
        assert!(!selection.tool_changed);

        tree.write("tool/src/lib.rs", "// the tool\n");
        assert!(selected(&tree, "HEAD").tool_changed);
    }

    #[test]
    fn a_repinned_dataset_selects_the_rules_naming_it() {
        let tree = repository();
        tree.edit("datasets.lock", "\"size\": 14235927", "\"size\": 14235928");
        assert!(rules(&selected(&tree, "HEAD"))[0].1.starts_with("its dataset https://"));
    }

    #[test]
    fn an_unknown_base_is_an_error_naming_it() {
        let tree = repository();
        let err = select(&tree.root(), "no-such-rev", None).expect_err("unknown revision");
        assert!(format!("{err:#}").contains("no-such-rev"), "{err:#}");
    }
}
