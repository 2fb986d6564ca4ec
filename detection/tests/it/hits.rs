//! The engine on whole datasets: the rules of the fixture content tree (`fixtures/content/`,
//! never the workspace's own rules, which are the user's) over its datasets and benign files
//! and over the shared real datasets (when present), one snapshot per rule and group of
//! datasets — `hits@<rule>@fixtures` and `hits@<rule>@shared` — with the rows, events and
//! skips of each file. Each file is read once for all rules, with the shortcuts (prefilter,
//! two threads) and without: the rows must agree.
//!
//! The gate's own check of the content (each rule on its own datasets, `snapshots/hits/`) is
//! `cargo xtask test`; this test checks that the engine reads real data as it did.

// A skipped group must be seen.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};

use detection::content;
use detection::eval::ResultTable;
use detection::scan::{ScanOptions, scan_files};
use detection::spl::Search;

use crate::support::{files_below, fixture, shared_datasets, with_snapshots};

/// What a snapshot locks for one rule on a group of datasets.
#[derive(serde::Serialize)]
struct Hits<'a> {
    rule: &'a str,
    datasets: Vec<DatasetHits>,
}

#[derive(serde::Serialize)]
struct DatasetHits {
    dataset: String,
    /// Events read and input skipped: a reader change that loses events shows here.
    events: u64,
    skipped: u64,
    rows: ResultTable,
}

struct Rule {
    stem: String,
    name: String,
    search: Search,
}

/// The fixture content tree's rules, compiled with its macros.
fn fixture_rules() -> Vec<Rule> {
    let root = fixture("content");
    let macros = content::load_macro_table(&root).expect("fixture macros load");
    let rules: Vec<Rule> = content::discover_rules(&root)
        .expect("fixture rules are listed")
        .iter()
        .map(|path| {
            let rule = content::load_rule(path).expect("fixture rule loads");
            let search = Search::compile(&rule.search, &macros, &rule.filter_macro_name())
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            let stem = path.file_stem().expect("file name").to_string_lossy().into_owned();
            Rule { stem, name: rule.name, search }
        })
        .collect();
    assert!(rules.len() >= 2, "the fixture content tree has lost its rules");
    rules
}

/// Every rule over every file of `files`, one snapshot per rule named `hits@<rule>@<group>`.
fn check_group(group: &str, files: &[(String, PathBuf)]) {
    let rules = fixture_rules();
    let searches: Vec<&Search> = rules.iter().map(|rule| &rule.search).collect();
    let mut per_rule: Vec<Vec<DatasetHits>> = rules.iter().map(|_| Vec::new()).collect();
    for (shown, path) in files {
        let scan = |options: ScanOptions| {
            scan_files(&searches, std::slice::from_ref(path), options)
                .unwrap_or_else(|err| panic!("{shown}: {err:#}"))
        };
        let fast = scan(ScanOptions::default());
        let full =
            scan(ScanOptions { prefilter: false, parallel: false, ..ScanOptions::default() });
        assert_eq!(fast.tables, full.tables, "{shown}: the shortcuts changed the rows");
        let report = &full.reports[0].1;
        for (hits, rows) in per_rule.iter_mut().zip(full.tables) {
            hits.push(DatasetHits {
                dataset: shown.clone(),
                events: report.events_total(),
                skipped: report.skipped_total,
                rows,
            });
        }
    }
    for (rule, datasets) in rules.iter().zip(per_rule) {
        let name = format!("hits@{}@{group}", rule.stem);
        let hits = Hits { rule: &rule.name, datasets };
        with_snapshots(|| insta::assert_yaml_snapshot!(name, hits));
    }
}

/// Files below `dir` as `(shown name, path)`, the name relative to `base`.
fn named_files(dir: &Path, base: &Path, prefix: &str) -> Vec<(String, PathBuf)> {
    files_below(dir)
        .into_iter()
        .filter(|path| path.file_name().is_some_and(|name| name != "README.md"))
        .map(|path| {
            let relative =
                path.strip_prefix(base).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            (format!("{prefix}{relative}"), path)
        })
        .collect()
}

#[test]
fn fixture_rules_on_the_fixture_datasets() {
    let root = fixture("content");
    let mut files = named_files(&root.join("fixtures/datasets"), &root, "");
    files.extend(named_files(&root.join("fixtures/benign"), &root, ""));
    assert!(files.len() >= 3, "the fixture content tree has lost its datasets");
    check_group("fixtures", &files);
}

#[test]
fn fixture_rules_on_the_shared_real_datasets() {
    let Some(shared) = shared_datasets("hits on the shared datasets") else { return };
    check_group("shared", &named_files(&shared, &shared, "shared/datasets/"));
}
