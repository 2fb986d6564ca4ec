//! Loading rule content and validating it: a fixture copy of the comsvcs rule and its macros,
//! both schemas the loader accepts (keys it does not read may hold anything), broken files
//! reported with their location, one finding per defect fixture, symbolic link loops, the
//! reader's limits on every path, and the real trees of `../shared` when present: every
//! detection of 2024 loads, and validating it finds only the defects listed here.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use detection::attack::Attack;
use detection::content::validate::{self, Engine, Finding, Severity};
use detection::content::{self, Detection, RuleError, Schema};

use crate::support::{fixture, repo_root, shared_2024, with_snapshots};

const COMSVCS: &str = "rules/comsvcs";
const RULE: &str = "rules/comsvcs/detections/endpoint/dump_lsass_via_comsvcs_dll.yml";

/// `text` with the checkout's root removed, so snapshots do not depend on where it lives.
fn relative(text: &str) -> String {
    text.replace(&format!("{}/", repo_root().display()), "")
}

fn report(findings: &[Finding]) -> String {
    findings.iter().map(|f| relative(&f.to_string())).collect::<Vec<_>>().join("\n")
}

fn bundled() -> Attack {
    Attack::bundled().unwrap()
}

#[test]
fn loads_the_comsvcs_rule() {
    let rule = content::load_rule(&fixture(RULE)).unwrap();
    assert_eq!(rule.kind, "endpoint");
    assert!(!rule.experimental);
    assert_eq!(rule.schema(), Schema::Escu2021);
    assert_eq!(rule.slug(), "dump_lsass_via_comsvcs_dll");
    assert_eq!(rule.filter_macro_name(), "dump_lsass_via_comsvcs_dll_filter");
    assert_eq!(rule.dataset_urls().len(), 1);
    with_snapshots(|| insta::assert_yaml_snapshot!("rule@dump_lsass_via_comsvcs_dll", rule));
}

#[test]
fn loads_the_fixture_macros() {
    let macros = content::load_macros(&fixture(COMSVCS)).unwrap();
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
fn contentctl_rules_load_with_status_data_sources_and_rba() {
    let pages = fixture("rules/pages/detections/endpoint");
    let rule = content::load_rule(&pages.join("contentctl_rule___2024.yml")).unwrap();
    assert_eq!(rule.schema(), Schema::Contentctl);
    assert_eq!(rule.status.as_deref(), Some("production"));
    assert_eq!(rule.data_source, ["Sysmon EventID 1"]);
    assert_eq!(rule.expected_file_stem(), "contentctl_rule___2024");
    let rba = content::load_rule(&pages.join("rba_rule.yml")).unwrap();
    assert_eq!(rba.schema(), Schema::Contentctl);
    let scores: Vec<i64> = rba.rba.unwrap().risk_objects.iter().map(|o| o.score).collect();
    assert_eq!(scores, [40, 30]);
}

#[test]
fn keys_the_tool_does_not_read_may_hold_any_yaml_value() {
    // `tags.context` entries that YAML reads as maps, numbers, nulls, nested lists.
    let path = fixture("rules/pages/detections/endpoint/context_maps.yml");
    let rule = content::load_rule(&path).unwrap();
    assert_eq!(rule.tags.mitre_attack_id, ["T1078"]);
    // A key it reads is still checked, at its line and column.
    let text =
        std::fs::read_to_string(&path).unwrap().replace("confidence: 70", "confidence: [70]");
    let err = Detection::from_yaml(&text, &path).unwrap_err();
    assert!(
        relative(&err.to_string()).ends_with(
            "context_maps.yml:24:15: tags.confidence: invalid type: sequence, expected u32"
        ),
        "{err}"
    );
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
fn names_become_filter_macros_slugs_and_file_stems() {
    let path = Path::new("content/detections/endpoint/x.yml");
    let rule = Detection::from_yaml(&minimal_rule("Odd-Name v1.2 a/b - c"), path).unwrap();
    assert_eq!(rule.filter_macro_name(), "odd_name_v1_2_a_b___c_filter");
    // The 2021 page slug keeps `-` and `.`, but never a separator.
    assert_eq!(rule.slug(), "odd-name_v1.2_a_b_-_c");
    assert_eq!(rule.expected_file_stem(), "odd_name_v1_2_a_b___c");
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
    assert_eq!(found.len(), 11);
    assert!(found.contains(&"detections/experimental/cloud/experimental_rule.yml".to_owned()));
}

#[cfg(unix)]
#[test]
fn symbolic_link_loops_are_walked_once_and_rules_reported_by_their_real_path() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let endpoint = root.join("detections/endpoint");
    std::fs::create_dir_all(&endpoint).unwrap();
    std::fs::copy(fixture(RULE), endpoint.join("dump_lsass_via_comsvcs_dll.yml")).unwrap();
    std::fs::create_dir_all(root.join("macros")).unwrap();
    for name in ["security_content_ctime.yml", "security_content_summariesonly.yml"] {
        std::fs::copy(fixture(&format!("{COMSVCS}/macros/{name}")), root.join("macros").join(name))
            .unwrap();
    }
    // Two links back up the tree: without loop detection the walk never ends.
    std::os::unix::fs::symlink("..", endpoint.join("up")).unwrap();
    std::os::unix::fs::symlink("..", endpoint.join("up_again")).unwrap();
    // One out to the content root, whose macros/ are not rules.
    std::os::unix::fs::symlink("../..", endpoint.join("root")).unwrap();
    // A second name for the same folder: its rule is the same rule.
    std::os::unix::fs::symlink("endpoint", root.join("detections/alias")).unwrap();
    let start = Instant::now();
    let found = content::discover_rules(root).unwrap();
    assert_eq!(found, [endpoint.join("dump_lsass_via_comsvcs_dll.yml")]);
    let findings = validate::validate_paths(&[root.to_path_buf()], &bundled()).unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    let docs = detection::render::docs_pages(root, &bundled()).unwrap();
    assert_eq!(docs.pages.len(), 1);
    assert!(docs.failures.is_empty(), "{:?}", docs.failures);
    assert!(start.elapsed() < Duration::from_secs(30), "hang guard: {:?}", start.elapsed());
}

#[test]
fn comsvcs_content_has_no_error_and_one_warning() {
    let findings = validate::validate_paths(&[fixture(COMSVCS)], &bundled()).unwrap();
    assert_eq!(
        report(&findings),
        "fixtures/rules/comsvcs/detections/endpoint/dump_lsass_via_comsvcs_dll.yml: \
         8943b567-f14d-4ee8-a0bb-2121d4ce3184: warning: `parent_process_name` is used by an \
         observable and the message but is not an output field of the search"
    );
}

#[test]
fn page_fixtures_validate_cleanly_but_for_nodes_without_events() {
    let validation = validate::validate_content(&[fixture("rules/pages")], &bundled()).unwrap();
    // No event maps to Web records, so that search cannot be evaluated: a limit of the
    // engine, not a defect of the rule.
    let unsupported: Vec<String> = validation
        .findings
        .iter()
        .map(|f| {
            assert_eq!(f.severity, Severity::Unsupported, "{f}");
            format!("{}", f.blocker.as_ref().unwrap())
        })
        .collect();
    assert_eq!(unsupported, ["data model Web"]);
    let reach = validation.reach();
    assert_eq!((reach.rules, reach.evaluable, reach.not_checked), (11, 10, 0));
}

#[test]
fn each_defect_fixture_produces_its_finding() {
    let root = fixture("rules/defects");
    let findings = validate::validate_paths(std::slice::from_ref(&root), &bundled()).unwrap();
    for path in content::discover_rules(&root).unwrap() {
        let own: Vec<&Finding> = findings.iter().filter(|f| f.path == path).collect();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if stem.starts_with("clean_") {
            assert!(own.is_empty(), "{stem}: {own:?}");
        } else if stem == "escaped_quotes" {
            // Quotes escaped outside a quoted string are no syntax error in Splunk ("The
            // backslash character ( \ ) is used to escape quotes, pipes, and the backslash
            // character itself"), and the engine reads them so: the rule is clean.
            assert!(own.is_empty(), "{own:?}");
        } else {
            assert!(!own.is_empty(), "{stem} gives no finding");
        }
    }
    assert!(findings.iter().any(|f| f.path.ends_with("broken_macro.yml")));
    with_snapshots(|| insta::assert_snapshot!("validate@defects", report(&findings)));
}

#[test]
fn a_syntax_error_comes_first_and_alone_at_its_place_in_the_file() {
    let root = fixture("rules/defects");
    let path = root.join("detections/endpoint/stray_quote.yml");
    let findings = validate::validate_paths(std::slice::from_ref(&path), &bundled()).unwrap();
    let own: Vec<&Finding> = findings.iter().filter(|f| f.path == path).collect();
    let [finding] = own.as_slice() else { panic!("{own:?}") };
    assert_eq!((finding.line, finding.column), (Some(14), Some(23)));
    assert_eq!(
        relative(&finding.to_string()),
        "fixtures/rules/defects/detections/endpoint/stray_quote.yml:14:23: \
         a2b3c4d5-e6f7-4a8b-9c0d-1e2f3a4b5c6d: error: search: unclosed quoted string\n  \
         14 |     Processes.process=\"*comsvcs* by Processes.dest Processes.user\n     |                       ^"
    );
}

#[test]
fn a_lookup_file_that_does_not_read_is_the_contents_error_not_an_engine_limit() {
    // The table's file is reported where it is, and the rule that uses it as a search
    // error of its own: the tree is to mend, not the engine.
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("detections/endpoint");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::create_dir_all(dir.path().join("macros")).unwrap();
    for entry in std::fs::read_dir(fixture(&format!("{COMSVCS}/macros"))).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join("macros").join(path.file_name().unwrap())).unwrap();
    }
    let rule = std::fs::read_to_string(fixture(RULE)).unwrap();
    let rule = rule.replace(
        "| `drop_dm_object_name(Processes)`",
        "| `drop_dm_object_name(Processes)` | lookup bad name AS process_name OUTPUT score",
    );
    let rule_path = folder.join("dump_lsass_via_comsvcs_dll.yml");
    std::fs::write(&rule_path, rule).unwrap();
    let lookups = dir.path().join("lookups");
    std::fs::create_dir_all(&lookups).unwrap();
    std::fs::write(lookups.join("bad.yml"), "name: bad\nfilename: bad.csv\n").unwrap();
    std::fs::write(lookups.join("bad.csv"), b"name,score\na,1\n\xff,2\n").unwrap();
    let findings = validate::validate_paths(&[dir.path().to_path_buf()], &bundled()).unwrap();
    let table = findings.iter().find(|f| f.path == lookups.join("bad.csv"));
    let table = table.unwrap_or_else(|| panic!("{findings:#?}"));
    assert_eq!(table.severity, Severity::Error);
    assert!(table.message.starts_with("line 3: "), "{table}");
    let uses = findings.iter().find(|f| f.path == rule_path && f.message.contains("`bad`"));
    let uses = uses.unwrap_or_else(|| panic!("{findings:#?}"));
    assert_eq!(uses.severity, Severity::Error, "{uses}");
    assert!(uses.message.contains("lookup `bad`: "), "{uses}");
    assert!(findings.iter().all(|f| f.severity != Severity::Unsupported), "{findings:#?}");
}

#[test]
fn a_typo_in_a_data_model_field_gets_a_did_you_mean() {
    let path = fixture("rules/defects/detections/endpoint/field_typo.yml");
    let findings = validate::validate_paths(std::slice::from_ref(&path), &bundled()).unwrap();
    let first = findings.iter().find(|f| f.path == path).unwrap();
    assert_eq!(first.severity, Severity::Warning);
    assert!(first.message.ends_with("did you mean `Processes.process_name`?"), "{first}");
    assert_eq!((first.line, first.column), (Some(12), Some(9)));
}

#[test]
fn validate_reads_files_with_the_same_limits_as_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("detections/endpoint");
    std::fs::create_dir_all(&folder).unwrap();
    // Over the size cap: refused before it is parsed, not read whole.
    let rule = std::fs::read_to_string(fixture(RULE)).unwrap();
    let cap = usize::try_from(content::MAX_CONTENT_FILE_BYTES).unwrap();
    std::fs::write(folder.join("big.yml"), format!("{rule}#{}\n", " ".repeat(cap))).unwrap();
    // Nested too deep: the error path no longer parses the text again without the limit.
    let depth = 300_000;
    let deep = format!("id: 1\nnesting: {}{}\n", "[".repeat(depth), "]".repeat(depth));
    std::fs::write(folder.join("deep.yml"), deep).unwrap();
    let start = Instant::now();
    let findings = validate::validate_paths(&[dir.path().to_path_buf()], &bundled()).unwrap();
    let messages: Vec<(String, &str)> = findings
        .iter()
        .map(|f| (f.path.file_name().unwrap().to_string_lossy().into_owned(), f.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        [
            ("big.yml".to_owned(), "file larger than 1048576 bytes"),
            ("deep.yml".to_owned(), "brackets nested deeper than 1000 levels"),
        ]
    );
    assert!(start.elapsed() < Duration::from_secs(30), "hang guard: {:?}", start.elapsed());
}

fn run_validate(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_detection"))
        .arg("validate")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.code(), text(output.stdout), text(output.stderr))
}

#[test]
fn validate_command_exits_by_severity() {
    let comsvcs = fixture(COMSVCS);
    let (code, stdout, stderr) = run_validate(&comsvcs, &[]);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(stdout.lines().count(), 1);
    assert!(stdout.contains(": warning: `parent_process_name`"), "{stdout}");
    assert_eq!(
        stderr,
        "1 rules: 0 errors in 0 files, 1 warnings; the engine can evaluate 1 of them\n"
    );

    let rule = "detections/endpoint/dump_lsass_via_comsvcs_dll.yml";
    let (code, relative_rule, _) = run_validate(&comsvcs, &[rule]);
    assert_eq!(code, Some(0), "{relative_rule}");
    assert_eq!(relative_rule, stdout, "a rule file finds the macros of its content root");

    let (code, _, _) = run_validate(&comsvcs, &["--deny-warnings", rule]);
    assert_eq!(code, Some(1));

    let (code, stdout, _) = run_validate(&fixture("rules"), &["defects"]);
    assert_eq!(code, Some(1));
    let errors = stdout.lines().filter(|l| l.contains(": error: ")).count();
    let expected = validate::validate_paths(&[fixture("rules/defects")], &bundled())
        .unwrap()
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    assert_eq!(errors, expected);
    assert!(!stdout.contains(": unsupported: "), "engine limits are listed only with --reach");
}

#[test]
fn validate_reach_groups_rules_by_what_the_engine_lacks() {
    let (code, stdout, _) = run_validate(&fixture("rules"), &["--reach", "-v", "pages", "defects"]);
    assert_eq!(code, Some(1));
    let reach = &stdout[stdout.find("reach: ").expect("a reach summary")..];
    with_snapshots(|| insta::assert_snapshot!("reach@pages_and_defects", reach));
}

#[test]
fn every_detection_of_the_2024_tree_loads() {
    let Some(tree) = shared_2024("every_detection_of_the_2024_tree_loads") else { return };
    let rules = content::discover_rules(&tree).unwrap();
    let mut failures = Vec::new();
    for path in &rules {
        if let Err(err) = content::load_rule(path) {
            failures.push(err.to_string());
        }
    }
    assert_eq!(rules.len(), 1711);
    assert!(
        failures.is_empty(),
        "{} of {} do not load: {failures:#?}",
        failures.len(),
        rules.len()
    );
}

#[test]
fn every_rule_of_the_2021_reference_tree_loads() {
    let Some(reference) =
        crate::support::shared_reference("every_rule_of_the_2021_reference_tree_loads")
    else {
        return;
    };
    let rules = content::discover_rules(&reference.join("security_content-2021")).unwrap();
    assert_eq!(rules.len(), 13);
    for path in rules {
        content::load_rule(&path).unwrap_or_else(|err| panic!("{err}"));
    }
}

/// Every error `validate` finds in the 2024 tree, each a defect of that rule: anything else
/// would be a false error. See the reasons beside each.
const ERRORS_2024: [(&str, &str); 3] = [
    // `processes.process_name`: field names are case-sensitive, so the lower-case node name
    // names no field and the condition never holds.
    (
        "detections/endpoint/get_wmiobject_group_discovery.yml",
        "search: col 178: field `processes.process_name` is not `_time` nor a field of node Processes (write `Processes.<field>`)",
    ),
    // `by … Processes.parent_process_id temp`: `temp` is no field of the node, so every
    // group has it null and tstats drops every row.
    (
        "detections/endpoint/suspicious_copy_on_system32.yml",
        "search: col 543: field `temp` is not `_time` nor a field of node Processes (write `Processes.<field>`)",
    ),
    // `… | \`windows_adfind_exe_filter\`| \`windows_adfind_exe_filter\``: the filter is
    // piped twice, a copy-paste slip that applies a user's tuning twice.
    (
        "detections/endpoint/windows_adfind_exe.yml",
        "search calls its filter macro `windows_adfind_exe_filter` 2 times: expected exactly once",
    ),
];

#[test]
fn validating_the_2024_tree_finds_only_real_defects() {
    let Some(tree) = shared_2024("validating_the_2024_tree_finds_only_real_defects") else {
        return;
    };
    let validation = validate::validate_content(std::slice::from_ref(&tree), &bundled()).unwrap();
    let errors: Vec<(String, &str)> = validation
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| (f.path.strip_prefix(&tree).unwrap().display().to_string(), f.message.as_str()))
        .collect();
    let expected: Vec<(String, &str)> =
        ERRORS_2024.iter().map(|(p, m)| ((*p).to_owned(), *m)).collect();
    assert_eq!(errors, expected);
    let reach = validation.reach();
    assert_eq!(reach.rules, 1711);
    let blocked: usize = reach.blockers.iter().map(|(_, rules)| rules.len()).sum();
    assert_eq!(reach.evaluable + reach.not_checked + blocked, reach.rules);
    assert!(reach.evaluable > 0);
    let revoked = validation.findings.iter().filter(|f| f.message.contains("is revoked")).count();
    assert_eq!(revoked, 12, "T1574.002 is revoked by T1574.001 in ATT&CK v18");
    assert!(validation.rules.iter().all(|r| r.engine != Engine::NotChecked
        || ERRORS_2024.iter().any(|(path, _)| r.path.ends_with(path))));
}
