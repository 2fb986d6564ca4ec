//! Rendering documentation pages: every published page of `../shared/reference/` byte for
//! byte, snapshots of the fixture pages that exercise each layout rule, a fixture content
//! tree whose committed pages are fresh, page file names that cannot leave their folder,
//! `render --out-dir` writing safely and going on after a failure, and the ATT&CK reader.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use detection::attack::{Attack, AttackError, TechniqueStatus};
use detection::content::{self, Detection};
use detection::render::{self, RenderError, Staleness};

use crate::support::{fixture, shared_reference, with_snapshots};

const COMSVCS: &str = "rules/comsvcs";
const RULE: &str = "rules/comsvcs/detections/endpoint/dump_lsass_via_comsvcs_dll.yml";
const PAGE: &str = "2020-02-21-dump_lsass_via_comsvcs_dll.md";

fn comsvcs_page() -> String {
    let rule = content::load_rule(&fixture(RULE)).unwrap();
    assert_eq!(render::file_name(&rule).unwrap(), PAGE);
    render::page(&rule, &Attack::bundled().unwrap()).unwrap()
}

/// The published pages of `../shared/reference/` and the rule and ATT&CK data of each: the
/// golden page with the bundled data, the 2021 pages with the names of their time.
fn reference_cases(reference: &Path) -> Vec<(PathBuf, PathBuf, Attack)> {
    let golden = (fixture(RULE), reference.join(PAGE), Attack::bundled().unwrap());
    let tree = reference.join("security_content-2021");
    let bundle = std::fs::File::open(tree.join("attack-sample.json")).unwrap();
    let attack_2021 =
        Attack::from_json(std::io::BufReader::new(bundle), "attack-sample.json").unwrap();
    let mut cases = vec![golden];
    for rule in content::discover_rules(&tree).unwrap() {
        let detection = content::load_rule(&rule).unwrap_or_else(|err| panic!("{err}"));
        let page = tree.join("docs/_posts").join(render::file_name(&detection).unwrap());
        cases.push((rule, page, attack_2021.clone()));
    }
    cases
}

#[test]
fn renders_every_reference_page_byte_for_byte() {
    let Some(reference) = shared_reference("renders_every_reference_page_byte_for_byte") else {
        return;
    };
    let cases = reference_cases(&reference);
    let mut differing = Vec::new();
    for (rule, page, attack) in &cases {
        let expected =
            std::fs::read(page).unwrap_or_else(|err| panic!("{}: {err}", page.display()));
        let detection = content::load_rule(rule).unwrap();
        let rendered = render::page(&detection, attack).unwrap_or_else(|err| panic!("{err}"));
        if rendered.as_bytes() != expected {
            differing.push(page.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert_eq!(cases.len(), 14, "the golden page and the 13 pages of 2021");
    assert!(differing.is_empty(), "pages differ from the published ones: {differing:?}");
}

#[test]
fn page_of_the_comsvcs_rule() {
    with_snapshots(|| insta::assert_snapshot!("page@dump_lsass_via_comsvcs_dll", comsvcs_page()));
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
    assert_eq!(rendered, 10);
}

#[test]
fn unknown_technique_is_an_error() {
    let rule = content::load_rule(&fixture(RULE)).unwrap();
    let err = render::page(&rule, &Attack::default()).unwrap_err();
    assert!(matches!(&err, RenderError::UnknownTechnique { id, .. } if id == "T1003.001"), "{err}");
}

#[test]
fn fixture_tree_pages_are_fresh() {
    let root = fixture(COMSVCS);
    let docs = render::docs_pages(&root, &Attack::bundled().unwrap()).unwrap();
    assert!(docs.failures.is_empty(), "{:?}", docs.failures);
    let stale = render::stale_pages(&root.join("docs/_posts"), &docs.pages).unwrap();
    assert!(stale.is_empty(), "{stale:?}");
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
fn a_page_that_cannot_be_read_names_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("folder.md")).unwrap();
    let err = render::stale_pages(dir.path(), &BTreeMap::new()).unwrap_err();
    let text = detection::error_chain(&err);
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(text.matches(&cause).count(), 1, "{text}");
}

/// The comsvcs rule's text with `date` and `name` replaced.
fn rule_with(date: &str, name: &str) -> String {
    let text = std::fs::read_to_string(fixture(RULE)).unwrap();
    text.replace("date: '2020-02-21'", &format!("date: '{date}'"))
        .replace("name: Dump LSASS via comsvcs DLL", &format!("name: {name}"))
}

#[test]
fn page_file_names_cannot_leave_their_folder() {
    let path = Path::new("detections/endpoint/x.yml");
    for (date, name) in [
        ("../../escaped", "Dump"),
        ("/tmp/absolute", "Dump"),
        ("2021-02-30", "Dump"),
        ("2021-01-01/..", "Dump"),
    ] {
        let rule = Detection::from_yaml(&rule_with(date, name), path).unwrap();
        let err = render::file_name(&rule).unwrap_err();
        assert!(matches!(err, RenderError::FileName { .. }), "{date}: {err}");
    }
    for name in ["a/../../b", "..\\..\\c", "x/y", "..", "back\\slash"] {
        let rule = Detection::from_yaml(&rule_with("2021-01-01", name), path).unwrap();
        let file = render::file_name(&rule).unwrap();
        assert!(!file.contains(['/', '\\']) && !file.contains(".."), "{name}: {file}");
        assert_eq!(Path::new(&file).components().count(), 1, "{file}");
    }
}

fn render_command(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_detection")).arg("render").args(args).output().unwrap()
}

#[test]
fn render_command_prints_the_page_or_writes_it() {
    let output = render_command(&[fixture(RULE).as_os_str()]);
    assert!(output.status.success());
    assert!(output.stdout == comsvcs_page().as_bytes());

    let dir = tempfile::tempdir().unwrap();
    let baseline = fixture("rules/pages/detections/endpoint/baseline_rule.yml");
    let output = render_command(&[
        fixture(RULE).as_os_str(),
        baseline.as_os_str(),
        "--out-dir".as_ref(),
        dir.path().as_os_str(),
    ]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("type Baseline gets no page"));
    let written: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(written, [PAGE]);
    assert_eq!(std::fs::read_to_string(dir.path().join(PAGE)).unwrap(), comsvcs_page());
}

/// A content tree in a temporary folder with the comsvcs rule under several names and dates.
fn tree_of(rules: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("content/detections/endpoint");
    std::fs::create_dir_all(&folder).unwrap();
    for (file, date, name) in rules {
        std::fs::write(folder.join(file), rule_with(date, name)).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    dir
}

#[test]
fn render_out_dir_never_writes_outside_the_folder() {
    let dir = tree_of(&[("escape.yml", "../escaped", "Escape")]);
    let absolute = dir.path().join("absolute").display().to_string();
    let rules = dir.path().join("content/detections/endpoint");
    std::fs::write(rules.join("absolute.yml"), rule_with(&absolute, "Absolute")).unwrap();
    let out = dir.path().join("out");
    let output = render_command(&[
        rules.join("escape.yml").as_os_str(),
        rules.join("absolute.yml").as_os_str(),
        "--out-dir".as_ref(),
        out.as_os_str(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot name the page: date `../escaped`"), "{stderr}");
    assert!(stderr.contains(&format!("cannot name the page: date `{absolute}`")), "{stderr}");
    let mut top: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["content", "out"], "nothing is written beside the folder");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

#[cfg(unix)]
#[test]
fn render_out_dir_replaces_a_symbolic_link_instead_of_writing_through_it() {
    let dir = tree_of(&[("linked.yml", "2021-01-01", "Linked")]);
    let out = dir.path().join("out");
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    std::os::unix::fs::symlink(&victim, out.join("2021-01-01-linked.md")).unwrap();
    let rule = dir.path().join("content/detections/endpoint/linked.yml");
    let output = render_command(&[rule.as_os_str(), "--out-dir".as_ref(), out.as_os_str()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    let page = out.join("2021-01-01-linked.md");
    assert!(std::fs::symlink_metadata(&page).unwrap().is_file());
    assert!(std::fs::read_to_string(page).unwrap().starts_with("---\ntitle: \"Linked\""));
}

#[test]
fn render_out_dir_reports_each_failure_with_its_cause_and_goes_on() {
    let dir =
        tree_of(&[("first.yml", "2021-01-01", "First"), ("second.yml", "2021-01-02", "Second")]);
    let out = dir.path().join("out");
    // A folder where the first page should go: the rename cannot replace it.
    std::fs::create_dir(out.join("2021-01-01-first.md")).unwrap();
    std::fs::write(out.join("2021-01-01-first.md/keep"), "x").unwrap();
    let rules = dir.path().join("content/detections/endpoint");
    let missing = rules.join("missing.yml");
    let output = render_command(&[
        rules.join("first.yml").as_os_str(),
        missing.as_os_str(),
        rules.join("second.yml").as_os_str(),
        "--out-dir".as_ref(),
        out.as_os_str(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 3, "{stderr}");
    assert!(
        errors[0].contains("cannot write") && errors[0].contains("2021-01-01-first.md: "),
        "{stderr}"
    );
    assert!(
        errors[1].ends_with("missing.yml: cannot read: No such file or directory (os error 2)"),
        "{stderr}"
    );
    assert!(errors[2].contains("2 of 3 rules could not be rendered"), "{stderr}");
    assert!(out.join("2021-01-02-second.md").is_file(), "the rule after the failures is written");
}

#[cfg(unix)]
#[test]
fn render_out_dir_pages_get_the_usual_file_mode() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tree_of(&[("mode.yml", "2021-01-01", "Mode")]);
    let out = dir.path().join("out");
    let probe = out.join("probe");
    std::fs::write(&probe, "").unwrap();
    let default_mode = std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777;
    std::fs::remove_file(&probe).unwrap();
    let rule = dir.path().join("content/detections/endpoint/mode.yml");
    let page = out.join("2021-01-01-mode.md");
    let args = [rule.as_os_str(), "--out-dir".as_ref(), out.as_os_str()];
    assert!(render_command(&args).status.success());
    assert_eq!(std::fs::metadata(&page).unwrap().permissions().mode() & 0o777, default_mode);
    std::fs::set_permissions(&page, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(render_command(&args).status.success());
    assert_eq!(std::fs::metadata(&page).unwrap().permissions().mode() & 0o777, 0o640);
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
         "external_references": [{"source_name": "capec", "external_id": "CAPEC-1"},
                                 {"source_name": "mitre-attack", "external_id": "T1059", "url": "u"}],
         "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"},
                               {"kill_chain_name": "lockheed", "phase_name": "delivery"}]},
        {"type": "attack-pattern", "id": "attack-pattern--3", "name": "No References"}
    ]}"#;
    let attack = Attack::from_json(bundle.as_bytes(), "test").unwrap();
    assert_eq!(attack.len(), 1);
    let technique = attack.technique("T1059").unwrap();
    assert_eq!(technique.name, "Command and Scripting Interpreter");
    assert_eq!(technique.tactics, ["Command And Control"]);
    assert_eq!(technique.status, TechniqueStatus::Current);
}

#[test]
fn bundled_attack_has_every_technique_and_names_replacements() {
    let attack = Attack::bundled().unwrap();
    assert_eq!(attack.len(), 835);
    let lsass = attack.technique("T1003.001").unwrap();
    assert_eq!(
        (lsass.name.as_str(), lsass.tactics.as_slice()),
        ("LSASS Memory", ["Credential Access".to_owned()].as_slice())
    );
    let revoked = attack.technique("T1574.002").unwrap();
    assert_eq!(
        revoked.status,
        TechniqueStatus::Revoked { replaced_by: Some("T1574.001".to_owned()) }
    );
    assert_eq!(attack.technique("T1062").unwrap().status, TechniqueStatus::Deprecated);
}

#[test]
fn broken_attack_bundle_reports_line_and_column() {
    let err =
        Attack::from_json("{\"objects\": [\n  {\"type\": 3}]}".as_bytes(), "bad.json").unwrap_err();
    let AttackError::Json { line, column, .. } = &err;
    assert_eq!((*line, *column), (2, 13), "{err}");
    assert!(err.to_string().starts_with("bad.json:2:13: invalid type"), "{err}");
}
