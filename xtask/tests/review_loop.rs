//! The review loop as the README tells a rule author to run it, on a temporary copy of the
//! fixture content tree and through the `xtask` binary itself: edit a rule → the gate fails
//! naming the rule and showing the new row → `review` shows it → `accept` → `docs` → the
//! gate passes, and its `--junit` file is `JUnit` XML that a parser reads.

// What each command printed is the first thing to read when this test fails.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const RULE: &str = "detections/endpoint/dump_lsass_via_comsvcs_dll.yml";
const SNAPSHOT: &str = "snapshots/hits/dump_lsass_via_comsvcs_dll.snap";

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("folder");
    for entry in std::fs::read_dir(from).expect("listable") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// `xtask <args> --content <root>` as a user's shell runs it: not under CI, writing pending
/// snapshots, with a cache of its own.
fn xtask(root: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .arg("--content")
        .arg(root)
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .env("INSTA_UPDATE", "new")
        .env("DETECTION_DATASET_CACHE", root.join("../cache"))
        .output()
        .expect("xtask runs");
    eprintln!(
        "$ xtask {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn content() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("content");
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/content"), &root);
    (dir, root)
}

#[test]
fn edit_fail_review_accept_docs_pass() {
    let (_dir, root) = content();
    let gate = ["test", "--offline"];
    assert!(xtask(&root, &gate).status.success(), "the fixture content passes as committed");

    let rule = std::fs::read_to_string(root.join(RULE)).expect("rule");
    std::fs::write(root.join(RULE), rule.replacen(" Processes.process=*MiniDump*", "", 1))
        .expect("edit");
    let failed = xtask(&root, &gate);
    assert!(!failed.status.success());
    let report = text(&failed);
    for expected in [
        "Dump LSASS via comsvcs DLL  fixtures/datasets/T1003.001-stand-in.log (stand-in)",
        "1 → 2",
        "rows changed",
        "+ {user: 'EXAMPLE\\admin', process_name: 'rundll32.exe', process: 'rundll32.exe C:\\Windows\\System32\\comsvcs.dll #24 644",
        "new rows written to snapshots/hits/dump_lsass_via_comsvcs_dll.snap.new",
        "documentation pages are not fresh",
        "the gate failed",
    ] {
        assert!(report.contains(expected), "missing {expected:?} in:\n{report}");
    }

    let review = text(&xtask(&root, &["review"]));
    assert!(
        review.contains("snapshots/hits/dump_lsass_via_comsvcs_dll.snap (changed)"),
        "{review}"
    );
    assert!(
        review.contains(": 1 → 2 rows") && review.contains("+ {user: 'EXAMPLE\\admin'"),
        "{review}"
    );

    let accept = xtask(&root, &["accept"]);
    assert!(accept.status.success());
    assert!(text(&accept).contains("accepted snapshots/hits/dump_lsass_via_comsvcs_dll.snap"));
    assert!(std::fs::read_to_string(root.join(SNAPSHOT)).expect("snapshot").contains("#24 644"));
    assert!(!xtask(&root, &gate).status.success(), "the page is still stale");

    assert!(xtask(&root, &["docs"]).status.success());
    let junit = root.join("../junit/results.xml");
    let passed = xtask(&root, &["test", "--offline", "--junit", junit.to_str().expect("utf-8")]);
    assert!(passed.status.success(), "{}", text(&passed));
    assert!(text(&xtask(&root, &["review"])).contains("no snapshots to review"));

    let xml = std::fs::read_to_string(&junit).expect("JUnit file");
    let (cases, failures) = count_cases(&xml);
    assert_eq!(failures, 0, "{xml}");
    assert!(cases >= 6, "{xml}");
    assert!(xml.contains(
        "name=\"Dump LSASS via comsvcs DLL on fixtures/datasets/T1003.001-stand-in.log (stand-in)\""
    ));
}

#[test]
fn a_rule_pointed_at_benign_data_only_fails_with_no_rows_on_its_own_data() {
    let (_dir, root) = content();
    let rule = "detections/endpoint/rundll32_advpack_execution.yml";
    let text_of_rule = std::fs::read_to_string(root.join(rule)).expect("rule");
    let benign_only = text_of_rule
        .replace(
            "data: fixtures/datasets/advpack_sysmon.log",
            "data: fixtures/benign/near_misses.log",
        )
        .replace("Processes.process=*advpack*", "Processes.process=*RegisterOCX*");
    std::fs::write(root.join(rule), benign_only).expect("edit");
    let output = xtask(&root, &["test", "--offline"]);
    assert!(!output.status.success());
    let report = text(&output);
    assert!(report.contains("no rows on its own data"), "{report}");
    assert!(report.contains("Rundll32 Advpack Execution"), "{report}");
}

/// `<testcase>` and `<failure>` elements, read by an XML parser.
fn count_cases(xml: &str) -> (usize, usize) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut cases, mut failures) = (0, 0);
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testcase" => cases += 1,
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"failure" => failures += 1,
            Event::Eof => return (cases, failures),
            _ => {}
        }
    }
}
