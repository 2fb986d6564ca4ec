//! Checks a reviewer would otherwise make by hand on rule content, by the rules of the schema
//! each rule is written in (2021, or contentctl's): ids unique across the tree, dates, types,
//! statuses, data sources, ATT&CK ids, risk arithmetic, tests, file names, macro calls, SPL
//! syntax located in the rule file, and field names the CIM does not define. A search this
//! engine cannot evaluate is not a defect of the rule: it is its own class, counted apart as
//! the engine's reach. Returns findings; printing them is the caller's business.

mod metadata;
mod search;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::{Detection, Macro, RuleError};
use crate::attack::Attack;
use crate::spl::{Blocker, MacroTable};

pub use metadata::{CONTENTCTL_STATUSES, CONTENTCTL_TYPES, KNOWN_TYPES};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Severity {
    /// A defect: the rule must not ship.
    Error,
    /// Probably a defect; fails only when warnings are denied.
    Warning,
    /// Not a defect of the rule: the search is one this engine cannot evaluate yet, so the
    /// gate cannot test it. Counted apart (see [`Validation::reach`]).
    Unsupported,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Unsupported => "unsupported",
        })
    }
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The rule or macro file.
    pub path: PathBuf,
    /// 1-based line in the file, when the finding points at one place.
    pub line: Option<usize>,
    /// 1-based column in characters, with `line`.
    pub column: Option<usize>,
    /// The rule's id, or `-` when the file could not be read far enough to know it.
    pub rule_id: String,
    /// Error, warning, or a limit of the engine.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// The offending line of the file (or of the search) with a caret under the column.
    pub excerpt: Option<String>,
    /// For [`Severity::Unsupported`]: what the engine lacks.
    pub blocker: Option<Blocker>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {}: {}: {}", self.rule_id, self.severity, self.message)?;
        if let Some(excerpt) = &self.excerpt {
            write!(f, "\n{excerpt}")?;
        }
        Ok(())
    }
}

/// Whether the engine can evaluate a rule's search.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Engine {
    /// The search compiles: the gate can run it.
    Evaluable,
    /// The engine lacks what is named (the first thing the compiler met).
    Blocked(Blocker),
    /// The rule did not load, or its search has a defect of its own, so the engine was not
    /// asked.
    NotChecked,
}

/// One rule file that was checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleOutcome {
    /// The rule file.
    pub path: PathBuf,
    /// Whether the engine can evaluate it.
    pub engine: Engine,
}

/// Everything `validate` found in some content.
#[derive(Debug, Clone, Default)]
pub struct Validation {
    /// Findings, file by file in the order the files were checked.
    pub findings: Vec<Finding>,
    /// Each rule file checked.
    pub rules: Vec<RuleOutcome>,
}

/// How many rules the engine can evaluate, and what keeps the others out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reach {
    /// Rule files checked.
    pub rules: usize,
    /// Rules whose search compiles.
    pub evaluable: usize,
    /// Rules not asked of the engine: they did not load or their search has an error.
    pub not_checked: usize,
    /// The other rules by their first blocker, most common first (ties by blocker).
    pub blockers: Vec<(Blocker, Vec<PathBuf>)>,
}

impl Validation {
    /// The engine's reach over the rules checked.
    pub fn reach(&self) -> Reach {
        let mut by_blocker: BTreeMap<&Blocker, Vec<PathBuf>> = BTreeMap::new();
        let (mut evaluable, mut not_checked) = (0, 0);
        for rule in &self.rules {
            match &rule.engine {
                Engine::Evaluable => evaluable += 1,
                Engine::NotChecked => not_checked += 1,
                Engine::Blocked(blocker) => {
                    by_blocker.entry(blocker).or_default().push(rule.path.clone());
                }
            }
        }
        let mut blockers: Vec<(Blocker, Vec<PathBuf>)> =
            by_blocker.into_iter().map(|(blocker, paths)| (blocker.clone(), paths)).collect();
        blockers
            .sort_by(|(a, a_paths), (b, b_paths)| b_paths.len().cmp(&a_paths.len()).then(a.cmp(b)));
        Reach { rules: self.rules.len(), evaluable, not_checked, blockers }
    }
}

/// Loads and checks content; see [`validate_content`]. Only the findings.
pub fn validate_paths(paths: &[PathBuf], attack: &Attack) -> Result<Vec<Finding>, RuleError> {
    Ok(validate_content(paths, attack)?.findings)
}

/// Loads and checks content. Each path is a rule file, a content root (a folder with
/// `detections/`, `macros/` and optionally `data_sources/`) or a folder below a root's
/// `detections/`; a rule's macros and data sources come from its content root. Files that do not load become error findings; only
/// walking a folder can fail.
pub fn validate_content(paths: &[PathBuf], attack: &Attack) -> Result<Validation, RuleError> {
    let mut validation = Validation::default();
    let mut trees: BTreeMap<PathBuf, Tree> = BTreeMap::new();
    let mut claimed = Claimed::default();
    for path in paths {
        let inside_tree =
            || super::content_root_of(path).filter(|_| !path.join("detections").is_dir());
        let (root, rules) = if let (true, Some(root)) = (path.is_dir(), inside_tree()) {
            // A folder of a tree's `detections/` (`detections/endpoint/`): its rules, with
            // the tree's macros.
            let rules = super::discover_rules_in(&root, path)?;
            (Some(root), rules)
        } else if path.is_dir() {
            (Some(path.clone()), super::discover_rules(path)?)
        } else {
            (super::content_root_of(path), vec![path.clone()])
        };
        let root = root.unwrap_or_default();
        if !trees.contains_key(&root) {
            let tree = Tree::load(&root, &mut validation.findings)?;
            trees.insert(root.clone(), tree);
        }
        let tree = &trees[&root];
        for rule in rules {
            let engine = check_file(&rule, tree, attack, &mut claimed, &mut validation.findings);
            validation.rules.push(RuleOutcome { path: rule, engine });
        }
    }
    Ok(validation)
}

/// What a content root provides to the rules below it.
struct Tree {
    macros: BTreeMap<String, Macro>,
    table: MacroTable,
    /// The tree's lookup tables, which `lookup` and `inputlookup` read.
    lookups: crate::lookup::Lookups,
    /// Names of `data_sources/*.yml`, when the root has that folder.
    data_sources: Option<BTreeSet<String>>,
}

impl Tree {
    fn load(root: &Path, findings: &mut Vec<Finding>) -> Result<Self, RuleError> {
        let mut macros = BTreeMap::new();
        let mut data_sources = None;
        if !root.as_os_str().is_empty() {
            for path in super::discover_macros(root)? {
                match super::load_macro(&path) {
                    Ok(found) => {
                        macros.insert(found.name.clone(), found);
                    }
                    Err(err) => findings.push(load_finding(&err, "-".to_owned())),
                }
            }
            data_sources = load_data_source_names(root, findings)?;
        }
        let lookups = if root.as_os_str().is_empty() {
            crate::lookup::Lookups::new()
        } else {
            crate::lookup::Lookups::load(root).unwrap_or_else(|err| {
                findings.push(Finding {
                    path: root.join("lookups"),
                    rule_id: "-".to_owned(),
                    severity: Severity::Error,
                    message: crate::error_chain(&err),
                    line: None,
                    column: None,
                    excerpt: None,
                    blocker: None,
                });
                crate::lookup::Lookups::new()
            })
        };
        // A run reads only the tables its searches use; the check reads every one.
        for lookup in lookups.iter() {
            if let Err(err) = lookup.check() {
                let path = err.path().map_or_else(|| root.join("lookups"), Path::to_path_buf);
                let text = crate::error_chain(&err);
                let shown = path.display().to_string();
                let message = text.strip_prefix(&format!("{shown}: ")).unwrap_or(&text).to_owned();
                findings.push(Finding {
                    path,
                    rule_id: "-".to_owned(),
                    severity: Severity::Error,
                    message,
                    line: None,
                    column: None,
                    excerpt: None,
                    blocker: None,
                });
            }
        }
        Ok(Self::new(macros, data_sources, lookups))
    }

    fn new(
        macros: BTreeMap<String, Macro>,
        data_sources: Option<BTreeSet<String>>,
        lookups: crate::lookup::Lookups,
    ) -> Self {
        let table = macros.values().map(Macro::to_definition).collect();
        Self { macros, table, lookups, data_sources }
    }
}

/// The `name` of every `data_sources/*.yml` below `root`; `None` without that folder.
fn load_data_source_names(
    root: &Path,
    findings: &mut Vec<Finding>,
) -> Result<Option<BTreeSet<String>>, RuleError> {
    #[derive(serde::Deserialize)]
    struct DataSource {
        name: String,
    }
    let dir = root.join("data_sources");
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut names = BTreeSet::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect())
        .map_err(|source| RuleError::Read { path: dir.clone(), source })?;
    files.retain(|p| super::is_yaml(p));
    files.sort();
    for path in files {
        let loaded = super::read_content_file(&path)
            .and_then(|text| super::parse_yaml::<DataSource>(&text, &path));
        match loaded {
            Ok(source) => {
                names.insert(source.name);
            }
            Err(err) => findings.push(load_finding(&err, "-".to_owned())),
        }
    }
    Ok(Some(names))
}

/// Ids and names already used by a rule checked earlier in this run.
#[derive(Default)]
struct Claimed {
    ids: BTreeMap<String, PathBuf>,
    names: BTreeMap<String, PathBuf>,
}

/// Reads, loads and checks one rule file, with the limits every reader has.
fn check_file(
    path: &Path,
    tree: &Tree,
    attack: &Attack,
    claimed: &mut Claimed,
    findings: &mut Vec<Finding>,
) -> Engine {
    let text = match super::read_content_file(path) {
        Ok(text) => text,
        Err(err) => {
            findings.push(load_finding(&err, "-".to_owned()));
            return Engine::NotChecked;
        }
    };
    let detection = match Detection::from_yaml(&text, path) {
        Ok(detection) => detection,
        Err(err) => {
            let id = super::lenient_rule_id(&text, path).unwrap_or_else(|| "-".to_owned());
            findings.push(load_finding(&err, id));
            return Engine::NotChecked;
        }
    };
    let mut report = Report::new(&detection, Some(&text));
    for (key, map, what) in
        [(&detection.id, &mut claimed.ids, "id"), (&detection.name, &mut claimed.names, "name")]
    {
        match map.get(key) {
            Some(first) => {
                report.error(format!("{what} `{key}` is also the {what} of {}", first.display()));
            }
            None => {
                map.insert(key.clone(), path.to_owned());
            }
        }
    }
    let engine = report.check_all(tree, attack);
    findings.extend(report.findings);
    engine
}

/// A load error as a finding: its line and column, and the message without the path.
fn load_finding(err: &RuleError, rule_id: String) -> Finding {
    let (line, column, message) = if let RuleError::Yaml { line, column, message, .. } = err {
        (*line, *column, message.clone())
    } else {
        // The cause (the operating system's reason a file cannot be read) belongs on the line.
        let text = crate::error_chain(err);
        let path = err.path().display().to_string();
        let message = text
            .strip_prefix(&path)
            .map_or(text.clone(), |rest| rest.trim_start_matches(": ").to_owned());
        (None, None, message)
    };
    Finding {
        path: err.path().to_owned(),
        line,
        column,
        rule_id,
        severity: Severity::Error,
        message,
        excerpt: None,
        blocker: None,
    }
}

/// Every check on one loaded rule, errors and warnings, in a fixed order: a syntax error of
/// the search first, then the rule's metadata, then the rest of the search's checks (skipped
/// after a syntax error, whose consequences they would only repeat).
pub fn check_detection(
    detection: &Detection,
    macros: &BTreeMap<String, Macro>,
    attack: &Attack,
) -> Vec<Finding> {
    let tree = Tree::new(macros.clone(), None, crate::lookup::Lookups::new());
    let mut report = Report::new(detection, None);
    report.check_all(&tree, attack);
    report.findings
}

/// The findings of one rule as they are made.
struct Report<'a> {
    detection: &'a Detection,
    /// The rule file's text, to point into it; `None` when the rule came from elsewhere.
    text: Option<&'a str>,
    findings: Vec<Finding>,
}

impl<'a> Report<'a> {
    fn new(detection: &'a Detection, text: Option<&'a str>) -> Self {
        Self { detection, text, findings: Vec::new() }
    }

    fn check_all(&mut self, tree: &Tree, attack: &Attack) -> Engine {
        let search = search::SearchCheck::new(self.detection, self.text);
        let syntax_ok = search.check_syntax(self);
        metadata::check(self, tree, attack);
        if syntax_ok { search.check_semantics(self, tree) } else { Engine::NotChecked }
    }

    fn finding(&self, severity: Severity, message: String) -> Finding {
        Finding {
            path: self.detection.path.clone(),
            line: None,
            column: None,
            rule_id: self.detection.id.clone(),
            severity,
            message,
            excerpt: None,
            blocker: None,
        }
    }

    fn push(&mut self, severity: Severity, message: String) {
        let finding = self.finding(severity, message);
        self.add(finding);
    }

    /// Adds `finding`; the same message twice for one rule (a macro called twice) is
    /// reported once.
    fn add(&mut self, finding: Finding) {
        if !self
            .findings
            .iter()
            .any(|f| f.message == finding.message && f.severity == finding.severity)
        {
            self.findings.push(finding);
        }
    }

    fn error(&mut self, message: String) {
        self.push(Severity::Error, message);
    }

    fn warning(&mut self, message: String) {
        self.push(Severity::Warning, message);
    }
}

/// The candidate closest to `word` when it is close enough to be a likely typo: equal but
/// for case, or within an edit distance of about one in four characters.
/// An abbreviation (`prod` for `production`) names the shortest candidate it starts.
pub(crate) fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let word_lower = word.to_lowercase();
    let candidates: Vec<&str> = candidates.into_iter().filter(|c| *c != word).collect();
    closest(word, candidates.iter().copied()).or_else(|| {
        (word.chars().count() >= 3)
            .then(|| {
                candidates
                    .iter()
                    .filter(|c| c.to_lowercase().starts_with(&word_lower))
                    .min_by_key(|c| c.len())
            })
            .flatten()
            .copied()
    })
}

/// The candidate within an edit distance of about one in four characters of `word` (case
/// ignored), the nearest first.
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let word_lower = word.to_lowercase();
    let limit = (word.chars().count() / 4).clamp(1, 3);
    candidates
        .into_iter()
        .filter(|candidate| *candidate != word)
        .map(|candidate| (edit_distance(&word_lower, &candidate.to_lowercase()), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, candidate)| (*distance, *candidate))
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_close_names_only() {
        let fields = ["process_name", "process", "parent_process_name", "dest"];
        assert_eq!(did_you_mean("proces_name", fields), Some("process_name"));
        assert_eq!(did_you_mean("Process_Name", fields), Some("process_name"));
        assert_eq!(did_you_mean("dst", fields), Some("dest"));
        assert_eq!(did_you_mean("registry_path", fields), None);
        assert_eq!(did_you_mean("prod", ["production", "experimental"]), Some("production"));
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
