//! Checks a reviewer would otherwise make by hand on rule content: ids, dates, types, ATT&CK
//! ids, risk arithmetic, macro calls, a search the engine cannot evaluate, file names (errors)
//! and fields the search does not return (warnings). Returns findings; printing them is the
//! caller's business.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::{Detection, Macro, RuleError};
use crate::attack::Attack;
use crate::spl::{MacroTable, Search, macro_calls};

/// Rule types the schema knows.
pub const KNOWN_TYPES: [&str; 6] =
    ["TTP", "Anomaly", "Hunting", "Baseline", "Investigation", "Correlation"];

/// Macros no content file defines: `drop_dm_object_name` comes from Splunk's CIM app (one
/// argument); each rule's own filter macro (no argument) is generated from its name.
const BUILTIN_MACROS: [(&str, usize); 1] = [("drop_dm_object_name", 1)];

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Severity {
    /// A defect: the rule must not ship.
    Error,
    /// Probably a defect; fails only when warnings are denied.
    Warning,
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The rule or macro file.
    pub path: PathBuf,
    /// The rule's id, or `-` when the file could not be read far enough to know it.
    pub rule_id: String,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {}: {severity}: {}", self.path.display(), self.rule_id, self.message)
    }
}

/// Loads and checks content. Each path is a rule file or a content root (a folder with
/// `detections/` and `macros/`); a rule file's macros come from its content root. Files that
/// do not load become error findings; only the walk itself can fail.
pub fn validate_paths(paths: &[PathBuf], attack: &Attack) -> Result<Vec<Finding>, RuleError> {
    let mut findings = Vec::new();
    let mut macros_by_root: BTreeMap<PathBuf, BTreeMap<String, Macro>> = BTreeMap::new();
    for path in paths {
        let (root, rules) = if path.is_dir() {
            (Some(path.clone()), super::discover_rules(path)?)
        } else {
            (super::content_root_of(path), vec![path.clone()])
        };
        let root = root.unwrap_or_default();
        if !macros_by_root.contains_key(&root) {
            let macros = load_macros_reporting(&root, &mut findings)?;
            macros_by_root.insert(root.clone(), macros);
        }
        let macros = &macros_by_root[&root];
        for rule in rules {
            match load_rule_reporting(&rule) {
                Ok(detection) => findings.extend(check_detection(&detection, macros, attack)),
                Err(finding) => findings.push(finding),
            }
        }
    }
    Ok(findings)
}

fn load_macros_reporting(
    root: &Path,
    findings: &mut Vec<Finding>,
) -> Result<BTreeMap<String, Macro>, RuleError> {
    let mut macros = BTreeMap::new();
    if root.as_os_str().is_empty() {
        return Ok(macros);
    }
    for path in super::discover_macros(root)? {
        match super::load_macro(&path) {
            Ok(found) => {
                macros.insert(found.name.clone(), found);
            }
            Err(err) => findings.push(Finding {
                path: path.clone(),
                rule_id: "-".to_owned(),
                severity: Severity::Error,
                message: error_without_path(&err),
            }),
        }
    }
    Ok(macros)
}

fn load_rule_reporting(path: &Path) -> Result<Detection, Finding> {
    let text = std::fs::read_to_string(path);
    let result = match &text {
        Ok(text) => Detection::from_yaml(text, path),
        Err(_) => super::load_rule(path),
    };
    result.map_err(|err| Finding {
        path: path.to_owned(),
        rule_id: text.as_deref().ok().and_then(lenient_id).unwrap_or_else(|| "-".to_owned()),
        severity: Severity::Error,
        message: error_without_path(&err),
    })
}

/// The `id` of a rule that does not load, if the YAML is at least a mapping with one.
fn lenient_id(text: &str) -> Option<String> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    Some(value.get("id")?.as_str()?.to_owned())
}

/// A load error's message after its `path` (which the finding already prints): the line and
/// column stay.
fn error_without_path(err: &RuleError) -> String {
    // The cause (the operating system's reason a file cannot be read) belongs on the line too.
    let text = crate::error_chain(err);
    let path = err.path().display().to_string();
    match text.strip_prefix(&path) {
        Some(rest) => rest.trim_start_matches(": ").trim_start_matches(':').to_owned(),
        None => text,
    }
}

/// Every check on one loaded rule, errors and warnings, in a fixed order.
pub fn check_detection(
    detection: &Detection,
    macros: &BTreeMap<String, Macro>,
    attack: &Attack,
) -> Vec<Finding> {
    let mut report = Report { detection, findings: Vec::new() };
    check_metadata(&mut report, attack);
    check_risk(&mut report);
    let before = report.findings.len();
    check_macros(&mut report, macros);
    // A search whose macro calls are wrong cannot be read for its fields; warning about them
    // would only repeat the error.
    if report.findings.len() == before {
        check_fields(&mut report, macros);
    }
    report.findings
}

struct Report<'a> {
    detection: &'a Detection,
    findings: Vec<Finding>,
}

impl Report<'_> {
    fn push(&mut self, severity: Severity, message: String) {
        self.findings.push(Finding {
            path: self.detection.path.clone(),
            rule_id: self.detection.id.clone(),
            severity,
            message,
        });
    }

    /// An error; the same message twice for one rule (a macro called twice) is reported once.
    fn error(&mut self, message: String) {
        if !self.findings.iter().any(|f| f.message == message) {
            self.push(Severity::Error, message);
        }
    }
}

fn check_metadata(report: &mut Report<'_>, attack: &Attack) {
    let detection = report.detection;
    if !is_uuid(&detection.id) {
        report.error(format!("id `{}` is not a UUID", detection.id));
    }
    if !is_date(&detection.date) {
        report.error(format!("date `{}` is not a real date written YYYY-MM-DD", detection.date));
    }
    if !KNOWN_TYPES.contains(&detection.rule_type.as_str()) {
        report.error(format!(
            "type `{}` is not one of {}",
            detection.rule_type,
            KNOWN_TYPES.join(", ")
        ));
    }
    for id in &detection.tags.mitre_attack_id {
        if !is_technique_id(id) {
            report.error(format!("mitre_attack_id `{id}` is not shaped like T1234 or T1234.001"));
        } else if attack.technique(id).is_none() {
            report.error(format!("mitre_attack_id `{id}` is not in the ATT&CK data"));
        }
    }
    let expected_stem = detection.slug();
    let stem = detection.path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    if stem != expected_stem {
        report.error(format!(
            "file name `{stem}` does not match the rule name: expected `{expected_stem}`"
        ));
    }
}

fn check_risk(report: &mut Report<'_>) {
    let tags = &report.detection.tags;
    match (tags.impact, tags.confidence, tags.risk_score) {
        (Some(impact), Some(confidence), Some(risk_score)) => {
            let expected = f64::from(impact) * f64::from(confidence) / 100.0;
            if (risk_score - expected).abs() > 1e-9 {
                report.error(format!(
                    "risk_score {risk_score} is not impact * confidence / 100 = {expected}"
                ));
            }
        }
        (None, None, None) if tags.observable.is_none() => {}
        (impact, confidence, risk_score) => {
            let missing: Vec<&str> = [
                ("impact", impact.is_none()),
                ("confidence", confidence.is_none()),
                ("risk_score", risk_score.is_none()),
            ]
            .into_iter()
            .filter_map(|(key, absent)| absent.then_some(key))
            .collect();
            report.error(format!(
                "tags lack {}: risk scoring needs impact, confidence and risk_score",
                missing.join(", ")
            ));
        }
    }
}

fn check_macros(report: &mut Report<'_>, macros: &BTreeMap<String, Macro>) {
    let detection = report.detection;
    let calls = match macro_calls(&detection.search) {
        Ok(calls) => calls,
        Err(err) => {
            report.error(format!("search: {err}"));
            return;
        }
    };
    let filter = detection.filter_macro_name();
    let filter_calls = calls.iter().filter(|call| call.name == filter).count();
    if filter_calls != 1 {
        report.error(format!(
            "search calls its filter macro `{filter}` {filter_calls} times: expected exactly once"
        ));
    }
    for call in &calls {
        let expected = if call.name == filter {
            Some(0)
        } else if let Some((_, count)) = BUILTIN_MACROS.iter().find(|(name, _)| *name == call.name)
        {
            Some(*count)
        } else {
            macros.get(&call.name).map(|m| m.arguments.len())
        };
        match expected {
            None => {
                report.error(format!("search calls macro `{}`, which is not defined", call.name));
            }
            Some(count) if count != call.arguments.len() => report.error(format!(
                "search calls macro `{}` with {} argument(s): expected {count}",
                call.name,
                call.arguments.len()
            )),
            Some(_) => {}
        }
    }
}

/// Compiles the search as the engine will run it: a search the engine cannot read is an
/// error (the gate could not test it); one it can read names its output fields, the columns
/// of its result before any record, which already carries every column the commands produce.
fn check_fields(report: &mut Report<'_>, macros: &BTreeMap<String, Macro>) {
    let detection = report.detection;
    let table: MacroTable = macros.values().map(Macro::to_definition).collect();
    let search = match Search::compile(&detection.search, &table, &detection.filter_macro_name()) {
        Ok(search) => search,
        Err(err) => {
            report.error(format!("the search cannot be evaluated: {err}"));
            return;
        }
    };
    let result = search.start().finish().unwrap_or_default();
    let outputs: BTreeSet<&str> = result.columns().iter().map(String::as_str).collect();
    let mut used: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for observable in detection.tags.observable.iter().flatten() {
        used.entry(observable.name.as_str()).or_default().push("an observable");
    }
    if let Some(message) = &detection.tags.message {
        for token in message_tokens(message) {
            let users = used.entry(token).or_default();
            if !users.contains(&"the message") {
                users.push("the message");
            }
        }
    }
    for (field, users) in used {
        if !outputs.contains(field) {
            report.push(
                Severity::Warning,
                format!(
                    "`{field}` is used by {} but is not an output field of the search",
                    users.join(" and ")
                ),
            );
        }
    }
}

/// The `$field$` tokens of a risk message.
fn message_tokens(message: &str) -> Vec<&str> {
    message
        .split('$')
        .skip(1)
        .step_by(2)
        .filter(|token| !token.is_empty() && !token.contains(char::is_whitespace))
        .collect()
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts.as_slice() else { return false };
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return false;
    }
    let (Ok(year), Ok(month), Ok(day)) =
        (year.parse::<u32>(), month.parse::<u32>(), day.parse::<u32>())
    else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

fn is_technique_id(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('T') else { return false };
    let (technique, sub) = match rest.split_once('.') {
        Some((technique, sub)) => (technique, Some(sub)),
        None => (rest, None),
    };
    let digits = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_digit());
    digits(technique, 4) && sub.is_none_or(|sub| digits(sub, 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_exist() {
        assert!(is_date("2020-02-29"));
        assert!(!is_date("2021-02-29"));
        assert!(!is_date("2021-13-01"));
        assert!(!is_date("2021-1-01"));
    }

    #[test]
    fn technique_ids_have_a_shape() {
        assert!(is_technique_id("T1003"));
        assert!(is_technique_id("T1003.001"));
        assert!(!is_technique_id("T103"));
        assert!(!is_technique_id("T1003.01"));
        assert!(!is_technique_id("t1003"));
    }

    #[test]
    fn message_tokens_are_between_dollars() {
        assert_eq!(message_tokens("a $x$ b $y$ on $z$"), ["x", "y", "z"]);
    }
}
