//! Rendering documentation pages: the golden page byte for byte, snapshots of the fixture
//! pages that exercise each layout rule, the committed `docs/_posts/` kept fresh, and the
//! ATT&CK bundle reader.

use std::collections::BTreeMap;
use std::process::Command;

use detection::attack::{Attack, AttackError};
use detection::content;
use detection::render::{self, RenderError, Staleness};

use crate::support::{fixture, repo_root, shared_reference, with_snapshots};

const RULE: &str = "detections/endpoint/dump_lsass_via_comsvcs_dll.yml";
const PAGE: &str = "2020-02-21-dump_lsass_via_comsvcs_dll.md";

fn repository_page() -> String {
    let rule = content::load_rule(&repo_root().join(RULE)).unwrap();
    assert_eq!(render::file_name(&rule), PAGE);
    render::page(&rule, &Attack::bundled().unwrap()).unwrap()
}

#[test]
fn renders_the_reference_page_byte_for_byte() {
    let Some(reference) = shared_reference("renders_the_reference_page_byte_for_byte") else {
        return;
    };
    let expected = std::fs::read(reference.join(PAGE)).unwrap();
    assert!(repository_page().as_bytes() == expected, "page differs from the reference");
}

#[test]
fn page_of_the_repository_rule() {
    with_snapshots(|| {
        insta::assert_snapshot!("page@dump_lsass_via_comsvcs_dll", repository_page());
    });
}

#[test]
fn pages_of_the_fixture_rules() {
    let attack = Attack::bundled().unwrap();
    let mut rendered = 0;
    for path in content::discover_rules(&fixture("rules/pages")).unwrap() {
        let rule = content::load_rule(&path).unwrap();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        match render::page(&rule, &attack) {
            Ok(page) => {
                assert!(!page.ends_with('\n'), "{stem}: a page has no final newline");
                with_snapshots(|| insta::assert_snapshot!(format!("page@{stem}"), page));
                rendered += 1;
            }
            Err(RenderError::NoPage { rule_type, .. }) => assert_eq!(rule_type, "Baseline"),
            Err(err) => panic!("{err}"),
        }
    }
    assert_eq!(rendered, 6);
}

#[test]
fn unknown_technique_is_an_error() {
    let rule = content::load_rule(&repo_root().join(RULE)).unwrap();
    let err = render::page(&rule, &Attack::default()).unwrap_err();
    assert!(matches!(&err, RenderError::UnknownTechnique { id, .. } if id == "T1003.001"), "{err}");
}

#[test]
fn committed_pages_are_fresh() {
    let root = repo_root();
    let docs = render::docs_pages(&root, &Attack::bundled().unwrap()).unwrap();
    let stale = render::stale_pages(&root.join("docs/_posts"), &docs.pages).unwrap();
    assert!(
        stale.is_empty(),
        "docs/_posts is not what the rules render: {stale:?}; run `cargo xtask docs` and commit"
    );
}

#[test]
fn stale_pages_names_missing_differing_and_extra_pages() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("same.md"), "a").unwrap();
    std::fs::write(dir.path().join("changed.md"), "old").unwrap();
    std::fs::write(dir.path().join("orphan.md"), "x").unwrap();
    std::fs::write(dir.path().join("README.md"), "not a page").unwrap();
    let pages: BTreeMap<String, String> =
        [("same.md", "a"), ("changed.md", "new"), ("new.md", "n")]
            .into_iter()
            .map(|(name, text)| (name.to_owned(), text.to_owned()))
            .collect();
    let stale = render::stale_pages(dir.path(), &pages).unwrap();
    assert_eq!(
        stale,
        [
            ("changed.md".to_owned(), Staleness::Differs),
            ("new.md".to_owned(), Staleness::Missing),
            ("orphan.md".to_owned(), Staleness::Extra),
        ]
    );
}

#[test]
fn render_command_prints_the_page_or_writes_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_detection"))
        .args(["render", RULE])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(output.stdout == repository_page().as_bytes());

    let dir = tempfile::tempdir().unwrap();
    let baseline = fixture("rules/pages/detections/endpoint/baseline_rule.yml");
    let output = Command::new(env!("CARGO_BIN_EXE_detection"))
        .args(["render", RULE])
        .arg(&baseline)
        .arg("--out-dir")
        .arg(dir.path())
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("type Baseline gets no page"));
    let written: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(written, [PAGE]);
    assert_eq!(std::fs::read_to_string(dir.path().join(PAGE)).unwrap(), repository_page());
}

#[test]
fn attack_reads_the_upstream_shape() {
    let bundle = r#"{"type": "bundle", "id": "bundle--1", "spec_version": "2.0", "objects": [
        {"type": "x-mitre-tactic", "id": "x-mitre-tactic--1", "name": "Execution"},
        {"type": "attack-pattern", "id": "attack-pattern--old", "name": "Old Name", "revoked": true,
         "external_references": [{"source_name": "mitre-attack", "external_id": "T1059"}],
         "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "execution"}]},
        {"type": "attack-pattern", "id": "attack-pattern--2", "name": "Command and Scripting Interpreter",
         "description": "…", "x_mitre_platforms": ["Windows"],
         "external_references": [{"source_name": "mitre-attack", "external_id": "T1059", "url": "u"},
                                 {"source_name": "capec", "external_id": "CAPEC-1"}],
         "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"},
                               {"kill_chain_name": "lockheed", "phase_name": "delivery"}]},
        {"type": "attack-pattern", "id": "attack-pattern--3", "name": "No References"}
    ]}"#;
    let attack = Attack::from_json(bundle.as_bytes(), "test").unwrap();
    assert_eq!(attack.len(), 1);
    let technique = attack.technique("T1059").unwrap();
    assert_eq!(technique.name, "Command and Scripting Interpreter");
    assert_eq!(technique.tactics, ["Command And Control"]);
}

#[test]
fn broken_attack_bundle_reports_line_and_column() {
    let err =
        Attack::from_json("{\"objects\": [\n  {\"type\": 3}]}".as_bytes(), "bad.json").unwrap_err();
    let AttackError::Json { line, column, .. } = &err;
    assert_eq!((*line, *column), (2, 13), "{err}");
    assert!(err.to_string().starts_with("bad.json:2:13: invalid type"), "{err}");
}
