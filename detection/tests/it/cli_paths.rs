//! The `detection` command as a user types it: rule paths relative to the folder they stand
//! in (inside `detections/<kind>/`, or through `..`), and folders of rules and event files,
//! read recursively in name order, where a file that is not what it should be is reported
//! and passed over while the rest still runs.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::fixture;

fn detection(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_detection"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("detection runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_rule_named_from_its_own_folder_validates_and_runs() {
    let folder = fixture("content/detections/endpoint");
    let validate = detection(&folder, &["validate", "dump_lsass_via_comsvcs_dll.yml"]);
    assert!(validate.status.success(), "{}{}", stdout(&validate), stderr(&validate));
    assert!(!stdout(&validate).contains("error"), "{}", stdout(&validate));

    let run = detection(
        &folder,
        &["run", "--format", "csv", "dump_lsass_via_comsvcs_dll.yml", "../../fixtures/datasets"],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let rows = stdout(&run);
    assert_eq!(rows.lines().count(), 2, "a header and the one MiniDump row:\n{rows}");
    assert!(rows.contains("comsvcs.dll, MiniDump 644"), "{rows}");

    let through_parent =
        detection(&folder, &["validate", "../endpoint/rundll32_advpack_execution.yml"]);
    assert!(through_parent.status.success(), "{}", stdout(&through_parent));
}

#[test]
fn a_folder_of_detections_validates_with_its_trees_macros() {
    // `detection validate endpoint/` from `detections/`, or `.` from `endpoint/`: the rules
    // below, with the macros of the tree the folder is in (not a tree of its own).
    for (inside, folder) in
        [("content/detections", "endpoint/"), ("content/detections/endpoint", ".")]
    {
        let validate = detection(&fixture(inside), &["validate", folder]);
        let out = format!("{}{}", stdout(&validate), stderr(&validate));
        assert!(validate.status.success(), "{out}");
        assert!(out.contains("2 rules: 0 errors"), "{out}");
        assert!(!out.contains("not defined"), "the tree's macros were not read: {out}");
    }
}

#[test]
fn folders_are_read_recursively_and_bad_files_are_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    std::fs::create_dir_all(events.join("b/nested")).unwrap();
    let stand_in = fixture("content/fixtures/datasets/T1003.001-stand-in.log");
    std::fs::copy(&stand_in, events.join("b/nested/z.log")).unwrap();
    std::fs::copy(fixture("content/fixtures/datasets/advpack_sysmon.log"), events.join("a.log"))
        .unwrap();
    std::fs::write(events.join("b/broken.evtx"), b"ElfFile\0 not really").unwrap();
    std::fs::write(events.join("notes.md"), "# not events\n").unwrap();
    std::fs::write(events.join(".hidden.log"), "not read").unwrap();

    let listed = detection(dir.path(), &["events", "events"]);
    let report = stderr(&listed);
    let read: Vec<&str> = report
        .lines()
        .filter(|line| line.starts_with("events/"))
        .map(|line| line.split(": ").next().unwrap())
        .collect();
    assert_eq!(read, ["events/a.log", "events/b/nested/z.log"], "{report}");
    assert!(report.contains("events/b/broken.evtx"), "{report}");
    assert_eq!(listed.status.code(), Some(2), "a file that could not be read is an error");
    assert_eq!(stdout(&listed).lines().count(), 6, "the records of both readable files");

    let rules = fixture("content/detections");
    let run =
        detection(dir.path(), &["run", "--format", "json", rules.to_str().unwrap(), "events"]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(stderr(&run).contains("passed over: events/b/broken.evtx"), "{}", stderr(&run));
    let rows = stdout(&run);
    // Both rules ran over the two readable files as one index.
    assert!(rows.contains(r#""rule":"Dump LSASS via comsvcs DLL""#), "{rows}");
    assert_eq!(rows.matches(r#""rule":"Rundll32 Advpack Execution""#).count(), 2, "{rows}");
}

#[cfg(unix)]
#[test]
fn symbolic_link_loops_in_folders_are_reported_not_walked_forever() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    std::fs::create_dir_all(events.join("sub")).unwrap();
    std::fs::copy(fixture("content/fixtures/datasets/advpack_sysmon.log"), events.join("a.log"))
        .unwrap();
    // Two links back up the tree: a walk that follows them without loop detection never
    // ends, and one that does not keep each file once reads `a.log` many times over.
    std::os::unix::fs::symlink("..", events.join("sub/up")).unwrap();
    std::os::unix::fs::symlink("..", events.join("sub/up_again")).unwrap();
    // A second name for the same file: its events are the same events.
    std::os::unix::fs::symlink("a.log", events.join("b.log")).unwrap();
    // A link to nothing is reported as a file that cannot be opened, not as a folder.
    std::os::unix::fs::symlink("gone.log", events.join("c.log")).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_detection"))
        .current_dir(dir.path())
        .args(["events", "events"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_mins(1) {
            child.kill().unwrap();
            panic!("hang guard: `detection events` still walking after 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let listed = child.wait_with_output().unwrap();
    let report = stderr(&listed);
    let read: Vec<&str> = report
        .lines()
        .filter(|line| line.starts_with("events/") && line.contains(" events, "))
        .map(|line| line.split(": ").next().unwrap())
        .collect();
    assert_eq!(read, ["events/a.log"], "{report}");
    assert_eq!(report.matches("a folder it is in: not followed").count(), 2, "{report}");
    assert!(report.contains("events/c.log"), "{report}");
    assert_eq!(listed.status.code(), Some(2), "a loop and a dangling link are errors");
    assert_eq!(stdout(&listed).lines().count(), 3, "the records of a.log, once");
}
