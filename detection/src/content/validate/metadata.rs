//! Checks of a rule's metadata, by the rules of its schema: id, date, type and status, data
//! sources, ATT&CK ids (revoked and deprecated ones named), the file name, risk arithmetic,
//! observables, inline tests, and top-level keys that look like misspellings.

use std::collections::BTreeMap;

use super::{Report, Tree};
use crate::attack::{Attack, TechniqueStatus};
use crate::content::Schema;

/// Rule types the 2021 schema knows.
pub const KNOWN_TYPES: [&str; 6] =
    ["TTP", "Anomaly", "Hunting", "Baseline", "Investigation", "Correlation"];

/// Detection types of the contentctl schema (baselines and investigations are other files).
pub const CONTENTCTL_TYPES: [&str; 4] = ["TTP", "Anomaly", "Hunting", "Correlation"];

/// Statuses of the contentctl schema.
pub const CONTENTCTL_STATUSES: [&str; 4] =
    ["production", "experimental", "deprecated", "validation"];

/// Risk object types of an `rba` block.
const RISK_OBJECT_TYPES: [&str; 3] = ["user", "system", "other"];

/// Threat object types of an `rba` block.
const THREAT_OBJECT_TYPES: [&str; 26] = [
    "certificate_common_name",
    "certificate_organization",
    "certificate_serial",
    "certificate_unit",
    "command",
    "domain",
    "email_address",
    "email_subject",
    "file_hash",
    "file_name",
    "file_path",
    "http_user_agent",
    "ip_address",
    "process",
    "process_name",
    "parent_process",
    "parent_process_name",
    "process_hash",
    "registry_path",
    "registry_value_name",
    "registry_value_text",
    "service",
    "signature",
    "system",
    "tls_hash",
    "url",
];

/// Top-level keys of each schema, for "did you mean" on a misspelt one (`data_sources`).
const ESCU_2021_KEYS: [&str; 14] = [
    "name",
    "id",
    "version",
    "date",
    "author",
    "type",
    "datamodel",
    "description",
    "search",
    "how_to_implement",
    "known_false_positives",
    "references",
    "tags",
    "tests",
];
const CONTENTCTL_KEYS: [&str; 7] = [
    "status",
    "data_source",
    "rba",
    "drilldown_searches",
    "enabled_by_default",
    "deployment",
    "baselines",
];

pub(super) fn check(report: &mut Report<'_>, tree: &Tree, attack: &Attack) {
    check_identity(report);
    check_type_and_status(report);
    check_data_sources(report, tree);
    check_techniques(report, attack);
    check_file_name(report);
    check_risk(report);
    check_tests(report);
    check_keys(report);
}

fn check_identity(report: &mut Report<'_>) {
    let detection = report.detection;
    if !is_uuid(&detection.id) {
        report.error(format!("id `{}` is not a UUID", detection.id));
    }
    if !crate::content::is_date(&detection.date) {
        report.error(format!("date `{}` is not a real date written YYYY-MM-DD", detection.date));
    }
    if detection.schema() == Schema::Contentctl {
        // contentctl refuses shorter texts (`min_length=4`).
        for (key, text) in [
            ("how_to_implement", &detection.how_to_implement),
            ("known_false_positives", &detection.known_false_positives),
        ] {
            if text.trim().chars().count() < 4 {
                report.error(format!("{key} is empty or shorter than 4 characters"));
            }
        }
    }
}

fn check_type_and_status(report: &mut Report<'_>) {
    let detection = report.detection;
    let types: &[&str] = match detection.schema() {
        Schema::Escu2021 => &KNOWN_TYPES,
        Schema::Contentctl => &CONTENTCTL_TYPES,
    };
    if !types.contains(&detection.rule_type.as_str()) {
        let hint = did_you_mean_hint(&detection.rule_type, types.iter().copied());
        report.error(format!(
            "type `{}` is not one of {}{hint}",
            detection.rule_type,
            types.join(", ")
        ));
    }
    let Some(status) = &detection.status else { return };
    if !CONTENTCTL_STATUSES.contains(&status.as_str()) {
        let hint = did_you_mean_hint(status, CONTENTCTL_STATUSES);
        report.error(format!(
            "status `{status}` is not one of {}{hint}",
            CONTENTCTL_STATUSES.join(", ")
        ));
    }
    let in_deprecated_folder = detection.kind == "deprecated";
    if (status == "deprecated") != in_deprecated_folder {
        report.warning(if in_deprecated_folder {
            format!("status `{status}` in detections/deprecated/: expected `deprecated`")
        } else {
            "status `deprecated` outside detections/deprecated/".to_owned()
        });
    }
}

/// `data_source` names each entry of `data_sources/`; an entry may join several with ` AND `.
/// contentctl of 2024 matched them loosely, so an unknown name is a warning.
fn check_data_sources(report: &mut Report<'_>, tree: &Tree) {
    let Some(known) = &tree.data_sources else { return };
    for entry in &report.detection.data_source {
        for name in entry.split(" AND ").map(str::trim) {
            if !known.contains(name) {
                let hint = did_you_mean_hint(name, known.iter().map(String::as_str));
                report.warning(format!(
                    "data_source `{name}` is not a data source in data_sources/{hint}"
                ));
            }
        }
    }
}

fn check_techniques(report: &mut Report<'_>, attack: &Attack) {
    for id in &report.detection.tags.mitre_attack_id {
        if !is_technique_id(id) {
            report.error(format!("mitre_attack_id `{id}` is not shaped like T1234 or T1234.001"));
            continue;
        }
        match attack.technique(id).map(|t| (&t.name, &t.status)) {
            None => report.error(format!("mitre_attack_id `{id}` is not in the ATT&CK data")),
            Some((_, TechniqueStatus::Current)) => {}
            Some((name, TechniqueStatus::Revoked { replaced_by: Some(by) })) => {
                let replacement = attack.technique(by).map_or_else(String::new, |t| format!(" ({})", t.name));
                report.warning(format!(
                    "mitre_attack_id `{id}` ({name}) is revoked in the ATT&CK data: use `{by}`{replacement}"
                ));
            }
            Some((name, TechniqueStatus::Revoked { replaced_by: None })) => {
                report.warning(format!("mitre_attack_id `{id}` ({name}) is revoked in the ATT&CK data"));
            }
            Some((name, TechniqueStatus::Deprecated)) => report.warning(format!(
                "mitre_attack_id `{id}` ({name}) is deprecated in the ATT&CK data, with no replacement"
            )),
        }
    }
}

/// Upstream names a rule's file after its name (every character other than a letter or digit
/// turned into `_`). contentctl refuses other names; the 2021 repository did not check, and
/// some of its files are named otherwise, so there it is a warning.
fn check_file_name(report: &mut Report<'_>) {
    let detection = report.detection;
    let expected = detection.expected_file_stem();
    let stem = detection.path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    if stem != expected {
        let message =
            format!("file name `{stem}` does not match the rule name: expected `{expected}`");
        match detection.schema() {
            Schema::Contentctl => report.error(message),
            Schema::Escu2021 => report.warning(message),
        }
    }
}

fn check_risk(report: &mut Report<'_>) {
    let detection = report.detection;
    match (detection.schema(), &detection.rba) {
        (_, Some(rba)) => check_rba(report, rba),
        (Schema::Escu2021, None) => check_risk_2021(report),
        (Schema::Contentctl, None) => check_risk_contentctl(report),
    }
}

/// 2021: `risk_score` is `impact * confidence / 100`, all three present when any is or when
/// observables are.
fn check_risk_2021(report: &mut Report<'_>) {
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
    check_percentages(report);
}

/// contentctl (2023–2024): `confidence` and `impact` are required, 0–100, and the shipped
/// risk score is `round(confidence * impact / 100)`, whatever `risk_score` says; a written
/// one that disagrees misleads a reader, so it is a warning. A production TTP or Anomaly
/// needs an observable with the role `Victim`.
fn check_risk_contentctl(report: &mut Report<'_>) {
    let detection = report.detection;
    let tags = &detection.tags;
    let (Some(impact), Some(confidence)) = (tags.impact, tags.confidence) else {
        let missing: Vec<&str> = [("impact", tags.impact), ("confidence", tags.confidence)]
            .into_iter()
            .filter_map(|(key, value)| value.is_none().then_some(key))
            .collect();
        report.error(format!(
            "tags lack {}: contentctl computes the risk score from both",
            missing.join(", ")
        ));
        return;
    };
    check_percentages(report);
    let exact = f64::from(impact) * f64::from(confidence) / 100.0;
    let shipped = exact.round();
    if let Some(written) = tags.risk_score
        && (written - exact).abs() > 1e-9
        && (written - shipped).abs() > 1e-9
    {
        report.warning(format!(
            "risk_score {written} is not what contentctl ships: round(impact * confidence / 100) = {shipped}"
        ));
    }
    if tags.message.is_none() {
        report.error("tags lack message: contentctl requires the risk message".to_owned());
    }
    let needs_victim = detection.status.as_deref() == Some("production")
        && ["TTP", "Anomaly"].contains(&detection.rule_type.as_str());
    let has_victim = tags.observable.iter().flatten().any(|o| o.role.iter().any(|r| r == "Victim"));
    if needs_victim && !has_victim {
        report.error(
            "a production TTP or Anomaly needs an observable with the role `Victim`".to_owned(),
        );
    }
}

fn check_percentages(report: &mut Report<'_>) {
    let tags = &report.detection.tags;
    for (key, value) in [("impact", tags.impact), ("confidence", tags.confidence)] {
        if let Some(value) = value.filter(|v| *v > 100) {
            report.error(format!("{key} {value} is not between 0 and 100"));
        }
    }
}

/// contentctl (2025 on): at least one risk object, each scored 1–100 with a known type; the
/// risk score is the highest score.
fn check_rba(report: &mut Report<'_>, rba: &crate::content::Rba) {
    if rba.risk_objects.is_empty() {
        report.error("rba has no risk_objects: at least one is required".to_owned());
    }
    for object in &rba.risk_objects {
        if !(1..=100).contains(&object.score) {
            report.error(format!(
                "rba risk object `{}` has score {}: expected 1 to 100",
                object.field, object.score
            ));
        }
        if !RISK_OBJECT_TYPES.contains(&object.kind.as_str()) {
            report.error(format!(
                "rba risk object `{}` has type `{}`: expected one of {}",
                object.field,
                object.kind,
                RISK_OBJECT_TYPES.join(", ")
            ));
        }
    }
    for object in &rba.threat_objects {
        if !THREAT_OBJECT_TYPES.contains(&object.kind.as_str()) {
            let hint = did_you_mean_hint(&object.kind, THREAT_OBJECT_TYPES);
            report.error(format!(
                "rba threat object `{}` has unknown type `{}`{hint}",
                object.field, object.kind
            ));
        }
    }
}

/// Inline tests: each named, each dataset with a URL (or a path), `source` and `sourcetype`;
/// contentctl requires a test of every production rule but correlations and manual tests.
fn check_tests(report: &mut Report<'_>) {
    let detection = report.detection;
    for (n, test) in detection.tests.iter().enumerate() {
        if test.name.trim().is_empty() {
            report.error(format!("tests[{n}] has an empty name"));
        }
        if test.attack_data.is_empty() && detection.tags.manual_test.is_none() {
            report.error(format!("tests[{n}] `{}` has no attack_data", test.name));
        }
        for (m, data) in test.attack_data.iter().enumerate() {
            let at = format!("tests[{n}].attack_data[{m}]");
            if data.data.trim().is_empty() {
                report.error(format!("{at}.data is empty"));
            } else if data.data.contains("://")
                && !data.data.starts_with("https://")
                && !data.data.starts_with("http://")
            {
                report.error(format!(
                    "{at}.data `{}` is neither an http(s) URL nor a path",
                    data.data
                ));
            }
            for (key, value) in [("source", &data.source), ("sourcetype", &data.sourcetype)] {
                if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
                    report.error(format!("{at} lacks {key}: replaying the data needs it"));
                }
            }
        }
    }
    let needs_test = detection.status.as_deref() == Some("production")
        && detection.rule_type != "Correlation"
        && detection.tags.manual_test.is_none();
    if needs_test && detection.tests.is_empty() {
        report.error(
            "a production rule needs a test (or tags.manual_test saying why not)".to_owned(),
        );
    }
}

/// A top-level key the schema does not have but that is one typo away from one it has
/// (`data_sources`): the key is ignored, so what it says is lost.
fn check_keys(report: &mut Report<'_>) {
    #[derive(serde::Deserialize)]
    struct Keys(BTreeMap<String, serde_yaml::Value>);
    let Some(text) = report.text else { return };
    let Ok(Keys(keys)) = crate::content::parse_yaml::<Keys>(text, &report.detection.path) else {
        return;
    };
    let known = || ESCU_2021_KEYS.iter().chain(&CONTENTCTL_KEYS).copied();
    for key in keys.keys() {
        if known().any(|k| k == key) {
            continue;
        }
        if let Some(meant) = super::closest(key, known()) {
            report.warning(format!(
                "key `{key}` is not part of the schema and is ignored: did you mean `{meant}`?"
            ));
        }
    }
}

/// ` (did you mean `x`?)`, or nothing when no candidate is close.
fn did_you_mean_hint<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    super::did_you_mean(word, candidates)
        .map_or_else(String::new, |m| format!(": did you mean `{m}`?"))
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
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
    use crate::content::is_date;

    #[test]
    fn dates_must_exist() {
        assert!(is_date("2020-02-29"));
        assert!(!is_date("2021-02-29"));
        assert!(!is_date("2021-13-01"));
        assert!(!is_date("2021-1-01"));
        assert!(!is_date("+202-01-01"));
        assert!(!is_date("../../escaped"));
    }

    #[test]
    fn technique_ids_have_a_shape() {
        assert!(is_technique_id("T1003"));
        assert!(is_technique_id("T1003.001"));
        assert!(!is_technique_id("T103"));
        assert!(!is_technique_id("T1003.01"));
        assert!(!is_technique_id("t1003"));
    }
}
