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

/// `--max-mem-usage-mb`: groups past the budget go to a temporary file and come back as the
/// same rows, and so do JSON rows; a temporary folder that cannot be written to is an error
/// naming the rule's `tstats` or the rows, not a crash or rows silently lost.
#[test]
fn groups_past_the_memory_budget_spill_and_a_temporary_folder_that_fails_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let rule = fixture("content/detections/endpoint/rundll32_advpack_execution.yml");
    let text = std::fs::read_to_string(&rule).unwrap();
    let start = text.find("search: ").unwrap();
    let end = text.find("how_to_implement:").unwrap();
    let broad = format!(
        "{}search: '| tstats count from datamodel=Endpoint.Processes by Processes.process \
         | rename Processes.* as *'\n{}",
        &text[..start],
        &text[end..]
    );
    let rule = dir.path().join("broad.yml");
    std::fs::write(&rule, broad).unwrap();
    // 700 launches of 2 KB command lines: over 1 MB of groups.
    let mut export = String::new();
    for n in 0..700 {
        export.push_str(&crate::scan::sysmon(
            r"C:\Windows\System32\cmd.exe",
            &format!("cmd.exe /c {} {n}", "x".repeat(2000)),
            r"LAB\ann",
        ));
    }
    let events = dir.path().join("launches.log");
    std::fs::write(&events, export).unwrap();
    let run = |budget: &str, temp: &Path| {
        Command::new(env!("CARGO_BIN_EXE_detection"))
            .env("TMPDIR", temp)
            .args(["run", "--format", "json", "--max-mem-usage-mb", budget, "--content"])
            .arg(fixture("content"))
            .arg(&rule)
            .arg(&events)
            .output()
            .expect("detection runs")
    };
    let in_memory = run("0", dir.path());
    assert!(in_memory.status.success(), "{}", stderr(&in_memory));
    assert_eq!(stdout(&in_memory).matches("\"count\"").count(), 700, "{}", stdout(&in_memory));
    let spilled = run("1", dir.path());
    assert!(spilled.status.success(), "{}", stderr(&spilled));
    assert_eq!(stdout(&spilled), stdout(&in_memory));

    let missing = dir.path().join("missing");
    let failed = run("1", &missing);
    assert!(!failed.status.success());
    let why = stderr(&failed);
    assert!(why.contains("cannot spill its groups to a temporary file"), "{why}");
    assert!(why.contains("rule \"Rundll32 Advpack Execution\""), "the rule is named: {why}");
    assert!(why.contains(&format!("in {}", missing.display())), "the folder is named: {why}");
    assert!(stdout(&failed).is_empty() || !stdout(&failed).contains("\"count\""), "{why}");
    assert!(!missing.exists(), "nothing was made in its stead");

    // JSON rows past the budget wait in a temporary file too: a search over raw events,
    // which holds no groups, prints 1.4 MB of command lines.
    let listing = format!(
        "{}search: 'search EventCode=1 | table CommandLine'\n{}",
        &text[..start],
        &text[end..]
    );
    std::fs::write(&rule, listing).unwrap();
    let in_memory = run("0", &missing);
    assert!(in_memory.status.success(), "{}", stderr(&in_memory));
    assert_eq!(stdout(&in_memory).matches("\"CommandLine\"").count(), 700);
    let spooled = run("1", dir.path());
    assert!(spooled.status.success(), "{}", stderr(&spooled));
    assert_eq!(stdout(&spooled), stdout(&in_memory));
    let failed = run("1", &missing);
    assert!(!failed.status.success());
    let why = stderr(&failed);
    assert!(why.contains("cannot write the rows to a temporary file"), "{why}");
    assert!(why.contains(&format!("in {}", missing.display())), "the folder is named: {why}");
    assert!(stdout(&failed).is_empty(), "no rows are printed: {why}");
    assert!(!missing.exists(), "nothing was made in its stead");
}

/// A rule that fails as it finishes, after every file was read, is named with the reason and
/// no file: the error is the search's, not a file's.
#[test]
fn a_rule_failing_as_it_finishes_is_named_without_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture(
        "content/detections/endpoint/rundll32_advpack_execution.yml",
    ))
    .unwrap();
    let (start, end) = (text.find("search: ").unwrap(), text.find("how_to_implement:").unwrap());
    // `match` takes the command line as a pattern, and `(` is never closed.
    let failing = format!(
        "{}search: '| tstats count from datamodel=Endpoint.Processes by Processes.process \
         | rename Processes.* as * | eval a=if(match(\"x\", process), 1, 0)'\n{}",
        &text[..start],
        &text[end..]
    );
    let rule = dir.path().join("failing.yml");
    std::fs::write(&rule, failing).unwrap();
    let events = dir.path().join("launch.log");
    std::fs::write(&events, crate::scan::sysmon(r"C:\x\a.exe", "a (", r"LAB\ann")).unwrap();
    let failed = Command::new(env!("CARGO_BIN_EXE_detection"))
        .args(["run", "--content"])
        .arg(fixture("content"))
        .arg(&rule)
        .arg(&events)
        .output()
        .expect("detection runs");
    assert_eq!(failed.status.code(), Some(2), "{}", stderr(&failed));
    let why = stderr(&failed);
    assert!(why.starts_with("error: rule \"Rundll32 Advpack Execution\": search: col "), "{why}");
    assert!(why.contains("missing closing parenthesis"), "{why}");
}

/// `detection run rule.yml <(zcat export.log.gz)`: the events come through a pipe, which
/// reads once. Sniffing it before the scan, or a fast path reading its bytes again, left
/// the scan the rest of them (rows lost, "text outside any <Event>" at byte 0) or nothing
/// at all, the scan then waiting on a pipe nobody writes.
#[cfg(unix)]
#[test]
fn events_through_a_pipe_are_read_once_and_whole() {
    let folder = fixture("content/detections/endpoint");
    let export = fixture("content/fixtures/datasets/T1003.001-stand-in.log");
    let bytes = std::fs::read(&export).unwrap();
    let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzipped, &bytes).unwrap();
    let gzipped = gzipped.finish().unwrap();
    let args = |events: &Path| -> Vec<String> {
        let rule = "dump_lsass_via_comsvcs_dll.yml";
        ["run", "--format", "json", rule, events.to_str().unwrap()].map(String::from).to_vec()
    };
    let from_file =
        detection(&folder, &args(&export).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(from_file.status.success(), "{}", stderr(&from_file));
    assert_eq!(stdout(&from_file).lines().count(), 1, "{}", stdout(&from_file));
    let broken = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(broken.path(), &gzipped[..gzipped.len() / 2]).unwrap();
    for (name, content) in
        [("plain", bytes.clone()), ("gzip", gzipped.clone()), ("broken beside", bytes)]
    {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("events");
        assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let _ = std::fs::write(fifo, content);
            })
        };
        let mut args = args(&fifo);
        if name == "broken beside" {
            args.push(broken.path().to_str().unwrap().to_owned());
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_detection"))
            .current_dir(&folder)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("{name}: the run still waits on the pipe after 20 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let run = child.wait_with_output().unwrap();
        // A writer the run never let in is let in and out, so that it ends.
        drop(std::fs::OpenOptions::new().read(true).write(true).open(&fifo));
        writer.join().unwrap();
        if name == "broken beside" {
            // Another input that fails part way sends the run over the rest again, which a
            // pipe cannot give: the run stops and says why, rather than read it as empty.
            assert!(!run.status.success(), "{}", stdout(&run));
            let why = stderr(&run);
            assert!(
                why.contains("a pipe among the other event inputs cannot be read again"),
                "{why}"
            );
            assert!(why.contains("incomplete deflate stream"), "{why}");
            continue;
        }
        assert!(run.status.success(), "{name}: {}", stderr(&run));
        assert_eq!(stdout(&run), stdout(&from_file), "{name}: {}", stderr(&run));
        assert!(stderr(&run).contains(": 1 events, 0 skipped"), "{name}: {}", stderr(&run));
    }
}
