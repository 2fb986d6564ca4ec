//! The rule tests on copies of the fixture content tree (`fixtures/content/`), edited the way
//! a rule author edits content: each verdict the report can give, and what is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::fetch::Mode;

/// A copy of `fixtures/content` in a temporary folder, with an empty dataset cache beside it.
pub(crate) struct Tree {
    pub(crate) dir: tempfile::TempDir,
}

impl Tree {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_tree(&crate::project_root().join("fixtures/content"), &dir.path().join("content"));
        Self { dir }
    }

    pub(crate) fn root(&self) -> PathBuf {
        self.dir.path().join("content")
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.root().join(relative)
    }

    pub(crate) fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).expect("readable")
    }

    pub(crate) fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("folder");
        std::fs::write(path, text).expect("writable");
    }

    /// Replaces `from` by `to` in a file, which must hold it.
    pub(crate) fn edit(&self, relative: &str, from: &str, to: &str) {
        let text = self.read(relative);
        assert!(text.contains(from), "{relative} does not hold {from:?}");
        self.write(relative, &text.replacen(from, to, 1));
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// The rule tests as the gate runs them offline, pending snapshots written.
    fn run(&self) -> Report {
        self.run_with(|_| {})
    }

    fn run_with(&self, change: impl FnOnce(&mut Options)) -> Report {
        let mut options = Options {
            root: self.root(),
            benign: Some(self.path("fixtures/benign")),
            only: None,
            shard: (1, 1),
            update: Update::Pending,
            engine: BTreeMap::new(),
        };
        change(&mut options);
        let remote = Remote::resolve(&self.root(), &self.cache(), Mode::Offline);
        run(&options, &remote).expect("the rule tests run")
    }
}

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

const COMSVCS: &str = "detections/endpoint/dump_lsass_via_comsvcs_dll.yml";
const ADVPACK: &str = "detections/endpoint/rundll32_advpack_execution.yml";

fn rule<'r>(report: &'r Report, file: &str) -> &'r RuleReport {
    report.rules.iter().find(|rule| rule.file == file).unwrap_or_else(|| panic!("no {file}"))
}

/// `(dataset, before, now, status label)` of each entry of a rule.
fn entries(
    report: &Report,
    file: &str,
) -> Vec<(String, Option<usize>, Option<usize>, &'static str)> {
    rule(report, file)
        .entries
        .iter()
        .map(|e| (e.dataset.clone(), e.before, e.now, e.status.label()))
        .collect()
}

const STAND_IN_URL: &str = "https://media.githubusercontent.com/media/splunk/attack_data/master/\
                            datasets/attack_techniques/T1003.001/atomic_red_team/windows-sysmon.log";

#[test]
fn the_fixture_content_passes_as_committed() {
    let tree = Tree::new();
    let report = tree.run();
    assert!(!report.fails(false), "{}", crate::report::rules_table(&report, false, true));
    assert_eq!(report.rules_found, 2);
    assert_eq!(
        entries(&report, COMSVCS),
        [
            (STAND_IN_URL.to_owned(), Some(1), Some(1), "pass"),
            ("benign corpus".to_owned(), Some(0), Some(0), "pass"),
        ]
    );
    let stand_in = &rule(&report, COMSVCS).entries[0].stand_in;
    assert_eq!(
        stand_in.as_ref().map(|(file, _)| file.as_str()),
        Some("fixtures/datasets/T1003.001-stand-in.log")
    );
    // The advpack rule's known false positive is part of its snapshot.
    assert_eq!(
        entries(&report, ADVPACK),
        [
            ("fixtures/datasets/advpack_sysmon.log".to_owned(), Some(2), Some(2), "pass"),
            ("benign corpus".to_owned(), Some(1), Some(1), "pass"),
        ]
    );
    assert!(report.written.is_empty() && report.orphans.is_empty());
    // Under --require-datasets the stand-in is not good enough.
    assert!(report.fails(true));
}

#[test]
fn a_changed_search_fails_naming_the_new_row_and_passes_once_accepted() {
    let tree = Tree::new();
    tree.edit(COMSVCS, " Processes.process=*MiniDump*", "");
    let report = tree.run();
    assert!(report.fails(false));
    let comsvcs = rule(&report, COMSVCS);
    assert_eq!(comsvcs.name, "Dump LSASS via comsvcs DLL");
    let entry = &comsvcs.entries[0];
    assert_eq!((entry.before, entry.now, entry.status.label()), (Some(1), Some(2), "rows changed"));
    assert_eq!(entry.changes.len(), 1, "{:?}", entry.changes);
    assert_eq!(entry.changes[0].0, '+');
    assert!(entry.changes[0].1.contains("comsvcs.dll #24 644"), "{}", entry.changes[0].1);
    assert!(!rule(&report, ADVPACK).fails(false), "the other rule is untouched");
    assert_eq!(report.written, ["snapshots/hits/dump_lsass_via_comsvcs_dll.snap.new"]);
    // The snapshot itself is untouched until the change is accepted.
    assert!(
        tree.read("snapshots/hits/dump_lsass_via_comsvcs_dll.snap").contains("rows:\n  - user")
    );

    std::fs::rename(
        tree.path("snapshots/hits/dump_lsass_via_comsvcs_dll.snap.new"),
        tree.path("snapshots/hits/dump_lsass_via_comsvcs_dll.snap"),
    )
    .expect("accept");
    let report = tree.run();
    assert!(!report.fails(false), "{}", crate::report::rules_table(&report, false, true));
    assert!(report.written.is_empty());
}

#[test]
fn a_rule_with_no_rows_on_its_own_data_fails_whatever_its_snapshot_says() {
    let tree = Tree::new();
    // Pointed at a benign file only, the rule finds nothing where Splunk's test wants a row.
    tree.edit(
        ADVPACK,
        "data: fixtures/datasets/advpack_sysmon.log",
        "data: fixtures/benign/near_misses.log",
    );
    tree.edit(ADVPACK, "Processes.process=*advpack*", "Processes.process=*RegisterOCX*");
    let report = tree.run();
    let advpack = rule(&report, ADVPACK);
    assert_eq!(advpack.entries[0].status, Status::NoRows);
    assert_eq!(advpack.entries[0].status.label(), "no rows on its own data");
    assert!(advpack.fails(false));
    // Accepting the empty rows does not make it pass.
    std::fs::rename(
        tree.path("snapshots/hits/rundll32_advpack_execution.snap.new"),
        tree.path("snapshots/hits/rundll32_advpack_execution.snap"),
    )
    .expect("accept");
    assert_eq!(rule(&tree.run(), ADVPACK).entries[0].status, Status::NoRows);
}

#[test]
fn a_new_false_positive_in_the_benign_corpus_is_a_change_of_rows() {
    let tree = Tree::new();
    let near_misses = tree.read("fixtures/benign/near_misses.log");
    let rundll_line =
        near_misses.lines().find(|line| line.contains("desk.cpl")).expect("a near miss");
    tree.write(
        "fixtures/benign/more/installer.log",
        &rundll_line
            .replace("shell32.dll,Control_RunDLL desk.cpl", "advpack.dll,LaunchINFSection a.inf"),
    );
    let report = tree.run();
    let benign = rule(&report, ADVPACK).entries.last().expect("benign entry").clone();
    assert_eq!((benign.before, benign.now, benign.status), (Some(1), Some(2), Status::RowsChanged));
    assert!(
        benign.changes[0].1.starts_with("fixtures/benign/more/installer.log: {"),
        "{:?}",
        benign.changes
    );
    // Only the rule that fires on the new file has a change to review.
    assert!(!rule(&report, COMSVCS).fails(false));
    assert_eq!(report.written, ["snapshots/hits/rundll32_advpack_execution.snap.new"]);
}

#[test]
fn datasets_that_cannot_be_had_are_reported_and_their_snapshot_rows_kept() {
    let tree = Tree::new();
    // Without its stand-in, the remote dataset cannot run offline.
    let mut lock: serde_json::Value =
        serde_json::from_str(&tree.read("datasets.lock")).expect("lock");
    lock["datasets"][0].as_object_mut().expect("pin").remove("fixture");
    tree.write("datasets.lock", &lock.to_string());
    let report = tree.run();
    let comsvcs = rule(&report, COMSVCS);
    assert_eq!(comsvcs.entries[0].status.label(), "not run: dataset unavailable");
    // The snapshot still holds the stand-in's row; nothing ran now.
    assert_eq!((comsvcs.entries[0].before, comsvcs.entries[0].now), (Some(1), None));
    assert!(!report.fails(false), "an unavailable dataset alone does not fail");
    assert!(report.fails(true), "but it does when the datasets are required");
    // The stand-in's rows stay in the snapshot: nothing is pending.
    assert!(report.written.is_empty(), "{:?}", report.written);

    // A rule naming a URL nobody pinned.
    tree.edit(
        ADVPACK,
        "  - data: fixtures/datasets/advpack_sysmon.log",
        "  - data: https://example.test/new.log\n  - data: fixtures/datasets/advpack_sysmon.log",
    );
    let report = tree.run();
    let unpinned = &rule(&report, ADVPACK).entries[0];
    assert!(
        matches!(&unpinned.status, Status::Unavailable(why) if why.contains("not pinned")),
        "{unpinned:?}"
    );
    assert!(!rule(&report, ADVPACK).fails(false));
}

#[test]
fn a_verified_download_in_the_cache_is_the_real_dataset_and_gets_its_own_rows() {
    use sha2::Digest as _;
    let tree = Tree::new();
    let content = tree.read("fixtures/datasets/T1003.001-stand-in.log");
    let sha256 = crate::fetch::cache::hex(&sha2::Sha256::digest(content.as_bytes()));
    let lock = tree.read("datasets.lock");
    let value: serde_json::Value = serde_json::from_str(&lock).expect("lock");
    let pinned = &value["datasets"][0];
    tree.edit("datasets.lock", pinned["sha256"].as_str().expect("sha"), &sha256);
    tree.edit(
        "datasets.lock",
        &format!("\"size\": {}", pinned["size"]),
        &format!("\"size\": {}", content.len()),
    );
    std::fs::create_dir_all(tree.cache()).expect("cache");
    std::fs::write(tree.cache().join(&sha256), &content).expect("cache entry");
    let report = tree.run();
    let entry = &rule(&report, COMSVCS).entries[0];
    assert_eq!((entry.stand_in.is_none(), entry.before, entry.now), (true, None, Some(1)));
    // Recorded where the network is; until then Splunk's criterion holds it.
    assert_eq!(entry.status, Status::Unrecorded);
    assert!(!report.fails(false), "{}", crate::report::rules_table(&report, false, true));
    // The new snapshot holds the real dataset's rows beside the stand-in's.
    let pending = tree.read("snapshots/hits/dump_lsass_via_comsvcs_dll.snap.new");
    let body = snapshot::Body::parse(&pending).expect("snapshot");
    let stand_ins: Vec<Option<&str>> =
        body.datasets.iter().map(|s| s.stand_in.as_deref()).collect();
    assert_eq!(stand_ins, [None, Some("fixtures/datasets/T1003.001-stand-in.log")]);

    // Wrong bytes under the right name are removed and never read.
    std::fs::write(tree.cache().join(&sha256), "other bytes").expect("cache entry");
    let report = tree.run();
    assert!(rule(&report, COMSVCS).entries[0].stand_in.is_some());
    assert!(!tree.cache().join(&sha256).exists());
}

#[test]
fn searches_the_engine_cannot_run_are_not_failures_but_wrong_searches_are() {
    let tree = Tree::new();
    tree.edit(
        ADVPACK,
        "| `drop_dm_object_name(Processes)`",
        "| xyzzy | `drop_dm_object_name(Processes)`",
    );
    tree.edit(COMSVCS, "`security_content_summariesonly`", "`no_such_macro`");
    let report = tree.run();
    let advpack = rule(&report, ADVPACK);
    assert_eq!(advpack.entries.len(), 1, "only the reason, no dataset lines");
    assert!(
        matches!(&advpack.entries[0].status, Status::Unsupported(why) if why.contains("xyzzy")),
        "{:?}",
        advpack.entries
    );
    assert!(!advpack.fails(false));
    let comsvcs = rule(&report, COMSVCS);
    assert!(
        matches!(&comsvcs.entries[0].status, Status::SearchError(why) if why.contains("no_such_macro"))
    );
    assert!(comsvcs.fails(false));
    assert!(report.written.is_empty(), "a rule that did not run keeps its snapshot");
}

#[test]
fn broken_rules_missing_datasets_and_snapshots_of_no_rule_are_named() {
    let tree = Tree::new();
    tree.write("detections/endpoint/broken.yml", "name: [unclosed\n");
    tree.edit(ADVPACK, "fixtures/datasets/advpack_sysmon.log", "fixtures/datasets/gone.log");
    std::fs::rename(
        tree.path("snapshots/hits/dump_lsass_via_comsvcs_dll.snap"),
        tree.path("snapshots/hits/renamed_rule.snap"),
    )
    .expect("rename");
    let report = tree.run();
    let broken = rule(&report, "detections/endpoint/broken.yml");
    assert!(
        matches!(&broken.entries[0].status, Status::RuleError(why) if why.contains("broken.yml"))
    );
    let advpack = rule(&report, ADVPACK);
    assert!(matches!(&advpack.entries[0].status, Status::Missing(why) if why.contains("gone.log")));
    assert!(advpack.fails(false));
    assert_eq!(report.orphans, ["snapshots/hits/renamed_rule.snap"]);
    assert_eq!(rule(&report, COMSVCS).entries[0].status, Status::New);
    // A local dataset must stay inside the content tree.
    tree.edit(ADVPACK, "fixtures/datasets/gone.log", "../outside.log");
    let report = tree.run();
    assert!(
        matches!(&rule(&report, ADVPACK).entries[0].status, Status::Missing(why) if why.contains("inside the content tree"))
    );
}

#[test]
fn a_selection_or_a_shard_tests_only_its_rules_and_orphans_are_still_found() {
    let tree = Tree::new();
    std::fs::remove_file(tree.path(COMSVCS)).expect("delete a rule");
    let only = [PathBuf::from(ADVPACK)].into_iter().collect();
    let report = tree.run_with(|options| options.only = Some(only));
    assert_eq!(report.rules.iter().map(|r| r.file.as_str()).collect::<Vec<_>>(), [ADVPACK]);
    // A deleted rule leaves its snapshot behind, named even when another rule is selected.
    assert_eq!(report.orphans, ["snapshots/hits/dump_lsass_via_comsvcs_dll.snap"]);
    std::fs::copy(crate::project_root().join("fixtures/content").join(COMSVCS), tree.path(COMSVCS))
        .expect("restore the rule");
    let mut seen = Vec::new();
    for k in 1..=3 {
        let report = tree.run_with(|options| options.shard = (k, 3));
        seen.extend(report.rules.into_iter().map(|rule| rule.file));
    }
    seen.sort();
    assert_eq!(seen, [COMSVCS, ADVPACK]);
}

#[test]
fn nothing_is_written_when_updates_are_off_and_stale_pending_files_go() {
    let tree = Tree::new();
    tree.edit(COMSVCS, " Processes.process=*MiniDump*", "");
    let report = tree.run_with(|options| options.update = Update::No);
    assert!(report.fails(false) && report.written.is_empty());
    let pending = tree.path("snapshots/hits/dump_lsass_via_comsvcs_dll.snap.new");
    assert!(!pending.exists());
    tree.run();
    assert!(pending.exists());
    // The edit undone, the pending file is stale and removed.
    tree.edit(
        COMSVCS,
        "Processes.process=*comsvcs.dll*",
        "Processes.process=*comsvcs.dll* Processes.process=*MiniDump*",
    );
    assert!(!tree.run().fails(false));
    assert!(!pending.exists());
}

#[test]
fn a_tests_source_and_sourcetype_reach_a_search_over_raw_events() {
    // A raw search that filters on where the data was indexed, as the `sysmon` and
    // `wineventlog_security` macros do: the test's `source` must be the events' `source`.
    let tree = Tree::new();
    let search = "search: 'source=lab:sysmon sourcetype=lab_xml EventCode=1 \
                  CommandLine=*advpack* | stats count by Computer \
                  | `rundll32_advpack_execution_filter`'";
    let text = tree.read(ADVPACK);
    let start = text.find("search: '").unwrap();
    let end = text.find("how_to_implement:").unwrap();
    let mut edited = format!("{}{search}\n{}", &text[..start], &text[end..]);
    edited = edited.replace(
        "    source: XmlWinEventLog:Microsoft-Windows-Sysmon/Operational\n    sourcetype: xmlwineventlog",
        "    source: lab:sysmon\n    sourcetype: lab_xml",
    );
    tree.write(ADVPACK, &edited);
    let report = tree.run();
    let advpack = rule(&report, ADVPACK);
    assert_eq!(advpack.entries[0].now, Some(1), "{:?}", advpack.entries);
    // Without them the events' own (`XmlWinEventLog:…`) apply and the search finds nothing:
    // the rule fails on its own data, as contentctl's test would.
    tree.write(ADVPACK, &edited.replace("    source: lab:sysmon\n    sourcetype: lab_xml\n", ""));
    let report = tree.run();
    let advpack = rule(&report, ADVPACK);
    assert_eq!(advpack.entries[0].now, Some(0), "{:?}", advpack.entries);
    assert!(advpack.fails(false));
}

#[test]
fn rows_a_shortcut_changed_are_an_engine_fault_naming_the_files_and_the_reading() {
    let table = |count: u32| {
        let text = format!("| makeresults count={count}");
        let search = Search::compile(&text, &detection::spl::MacroTable::new(), "").unwrap();
        search.run(Vec::<detection::datamodel::NodeRecord>::new()).unwrap()
    };
    let one = [ScanInput::derived(PathBuf::from("a.log"))];
    let two = [one[0].clone(), ScanInput::derived(PathBuf::from("b.log"))];
    assert_eq!(agree(&table(2), &table(2), &two).map(|rows| rows.len()), Ok(2));
    let Err(Status::ShortcutChangedRows(why)) = agree(&table(1), &table(2), &one) else {
        panic!("differing rows were taken")
    };
    assert_eq!(
        why,
        "the prefilter, the two-thread read, the join pruning and spilling groups over a.log gave other rows \
         than a plain read \
         (1 row(s) against 2)"
    );
    let Err(status) = agree(&table(3), &table(2), &two) else {
        panic!("differing rows were taken")
    };
    assert_eq!(
        status.detail(),
        Some(
            "reading on two threads (with the join pruning and spilling groups) the files a.log, b.log gave other \
             rows than a plain read (3 row(s) against 2)"
        )
    );
    assert!(status.fails(false));
}
