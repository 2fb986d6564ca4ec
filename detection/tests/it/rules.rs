//! Loading rule content and validating it: the repository's rule and macros, the schema
//! shapes the loader accepts, broken files reported with their location, and one finding per
//! defect fixture.

use std::path::Path;
use std::process::Command;

use detection::attack::Attack;
use detection::content::validate::{self, Finding, Severity};
use detection::content::{self, Detection, RuleError};

use crate::support::{fixture, repo_root, with_snapshots};

const RULE: &str = "detections/endpoint/dump_lsass_via_comsvcs_dll.yml";

/// `text` with the checkout's root removed, so snapshots do not depend on where it lives.
fn relative(text: &str) -> String {
    text.replace(&format!("{}/", repo_root().display()), "")
}

fn report(findings: &[Finding]) -> String {
    findings.iter().map(|f| relative(&f.to_string())).collect::<Vec<_>>().join("\n")
}

#[test]
fn loads_the_repository_rule() {
    let rule = content::load_rule(&repo_root().join(RULE)).unwrap();
    assert_eq!(rule.kind, "endpoint");
    assert!(!rule.experimental);
    assert_eq!(rule.slug(), "dump_lsass_via_comsvcs_dll");
    assert_eq!(rule.filter_macro_name(), "dump_lsass_via_comsvcs_dll_filter");
    assert_eq!(rule.dataset_urls().len(), 1);
    with_snapshots(|| insta::assert_yaml_snapshot!("rule@dump_lsass_via_comsvcs_dll", rule));
}

#[test]
fn loads_the_repository_macros() {
    let macros = content::load_macros(&repo_root()).unwrap();
    let names: Vec<&str> = macros.keys().map(String::as_str).collect();
    assert_eq!(names, ["security_content_ctime", "security_content_summariesonly"]);
    assert_eq!(macros["security_content_ctime"].arguments, ["field"]);
    assert_eq!(
        macros["security_content_ctime"].definition,
        r#"convert timeformat="%Y-%m-%dT%H:%M:%S" ctime($field$)"#
    );
    assert!(macros["security_content_summariesonly"].arguments.is_empty());
}

#[test]
fn later_schema_reads_inline_tests_and_ignores_unknown_keys() {
    let rule =
        content::load_rule(&fixture("rules/pages/detections/endpoint/two_techniques.yml")).unwrap();
    assert_eq!(
        rule.dataset_urls(),
        [
            "https://example.com/datasets/two_techniques/first.log",
            "https://example.com/datasets/two_techniques/second.log",
        ]
    );
    assert_eq!(rule.tests[0].attack_data[1].sourcetype.as_deref(), Some("xmlwineventlog"));
}

#[test]
fn experimental_rule_takes_its_kind_from_the_folder_below() {
    let rule = content::load_rule(&fixture(
        "rules/pages/detections/experimental/cloud/experimental_rule.yml",
    ))
    .unwrap();
    assert_eq!(rule.kind, "cloud");
    assert!(rule.experimental);
}

fn minimal_rule(name: &str) -> String {
    format!(
        "name: {name}\nid: x\nversion: 1\ndate: '2021-01-01'\nauthor: a\ntype: TTP\n\
         description: d\nsearch: s\nhow_to_implement: h\nknown_false_positives: k\ntags: {{}}\n"
    )
}

#[test]
fn filter_macro_name_turns_separators_into_underscores() {
    let path = Path::new("content/detections/endpoint/x.yml");
    let rule = Detection::from_yaml(&minimal_rule("Odd-Name v1.2 a/b"), path).unwrap();
    assert_eq!(rule.filter_macro_name(), "odd_name_v1_2_a_b_filter");
    assert_eq!(rule.slug(), "odd-name_v1.2_a/b");
}

#[test]
fn rule_outside_a_kind_folder_is_an_error() {
    let err = Detection::from_yaml(&minimal_rule("A"), Path::new("content/detections/a.yml"))
        .unwrap_err();
    assert!(matches!(err, RuleError::NoKind { .. }), "{err}");
}

#[test]
fn broken_files_report_path_line_and_column() {
    let files = ["syntax_error.yml", "wrong_type.yml", "missing_search.yml"];
    let mut lines = Vec::new();
    for file in files {
        let path = fixture(&format!("rules/defects/detections/endpoint/{file}"));
        let err = content::load_rule(&path).unwrap_err();
        let RuleError::Yaml { line: Some(_), column: Some(_), .. } = &err else {
            panic!("{file}: expected a YAML error with a location, got {err}");
        };
        lines.push(relative(&err.to_string()));
    }
    with_snapshots(|| insta::assert_snapshot!("load_errors@defects", lines.join("\n")));
}

#[test]
fn discovers_rules_sorted_under_detections() {
    let root = fixture("rules/pages");
    let found: Vec<String> = content::discover_rules(&root)
        .unwrap()
        .iter()
        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    let mut sorted = found.clone();
    sorted.sort();
    assert_eq!(found, sorted);
    assert_eq!(found.len(), 7);
    assert!(found.contains(&"detections/experimental/cloud/experimental_rule.yml".to_owned()));
}

#[test]
fn repository_content_has_no_error_and_one_warning() {
    let findings = validate::validate_paths(&[repo_root()], &Attack::bundled().unwrap()).unwrap();
    assert_eq!(
        report(&findings),
        "detections/endpoint/dump_lsass_via_comsvcs_dll.yml: 8943b567-f14d-4ee8-a0bb-2121d4ce3184: \
         warning: `parent_process_name` is used by an observable and the message but is not an \
         output field of the search"
    );
}

#[test]
fn page_fixtures_validate_cleanly_but_for_nodes_without_events() {
    let findings =
        validate::validate_paths(&[fixture("rules/pages")], &Attack::bundled().unwrap()).unwrap();
    // No event maps to Web records, so its search cannot be evaluated: an empty result
    // would pass a rule Splunk might fire.
    assert_eq!(
        report(&findings),
        "fixtures/rules/pages/detections/web/escaping.yml: 7a5a6dc0-bf9d-4baa-8c5d-5ebf6b7c8d96: \
         error: the search cannot be evaluated: search: col 31: no events map to `Web.Web` in \
         this engine"
    );
}

#[test]
fn each_defect_fixture_produces_its_finding() {
    let root = fixture("rules/defects");
    let findings =
        validate::validate_paths(std::slice::from_ref(&root), &Attack::bundled().unwrap()).unwrap();
    for path in content::discover_rules(&root).unwrap() {
        let own: Vec<&Finding> = findings.iter().filter(|f| f.path == path).collect();
        let clean = path.ends_with("clean_rule.yml");
        assert_eq!(own.is_empty(), clean, "{}: {own:?}", path.display());
    }
    assert!(findings.iter().any(|f| f.path.ends_with("broken_macro.yml")));
    with_snapshots(|| insta::assert_snapshot!("validate@defects", report(&findings)));
}

fn run_validate(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_detection"))
        .arg("validate")
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap();
    (output.status.code(), String::from_utf8(output.stdout).unwrap())
}

#[test]
fn validate_command_exits_by_severity() {
    let (code, stdout) = run_validate(&[]);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(stdout.lines().count(), 1);
    assert!(stdout.contains(": warning: `parent_process_name`"), "{stdout}");

    let (code, relative_rule) = run_validate(&[RULE]);
    assert_eq!(code, Some(0), "{relative_rule}");
    assert_eq!(relative_rule, stdout, "a rule file finds the macros of its content root");

    let (code, _) = run_validate(&["--deny-warnings", RULE]);
    assert_eq!(code, Some(1));

    let (code, stdout) = run_validate(&["fixtures/rules/defects"]);
    assert_eq!(code, Some(1));
    let errors = stdout.lines().filter(|l| l.contains(": error: ")).count();
    let expected =
        validate::validate_paths(&[fixture("rules/defects")], &Attack::bundled().unwrap())
            .unwrap()
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
    assert_eq!(errors, expected);
}
