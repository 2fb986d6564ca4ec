//! The hits of every rule on every dataset, locked in `snapshots/hits@<rule>@<dataset>.snap`:
//! the committed fixtures in `fixtures/datasets/`, the shared real files (when present), and
//! the real datasets `cargo xtask test` fetched (listed in `DETECTION_GATE_DATASETS`). Each
//! dataset is read once for all rules, as `detection run` does, both with the prefilter and
//! reading every event: the rows must agree.
//!
//! `DETECTION_GATE_SHARD=K/N` keeps a stable K-th of the rule × dataset pairs. A real dataset
//! whose snapshot has not been recorded yet is held to what Splunk's own test asserted (at
//! least one row) and named loudly, so the snapshot gets recorded.

// The gate's log: what was skipped and what is still to record must be seen.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};

use detection::content::{self, Detection};
use detection::eval::ResultTable;
use detection::scan::{ScanOptions, scan_files};
use detection::spl::Search;

use crate::support::{files_below, repo_root, shared_datasets, with_snapshots};

/// What a snapshot locks for one rule on one dataset.
#[derive(serde::Serialize)]
struct Hits<'a> {
    rule: &'a str,
    dataset: &'a str,
    /// Events read and input skipped: a reader change that loses events shows here.
    events: u64,
    skipped: u64,
    rows: &'a ResultTable,
}

struct Dataset {
    /// The name in snapshot names.
    name: String,
    /// What the snapshot shows as the dataset: a path in the repository or a URL.
    shown: String,
    path: PathBuf,
    /// A fetched upstream dataset (not a fixture, not a shared file).
    real: bool,
}

#[test]
fn hits_of_every_rule_on_every_dataset() {
    let root = repo_root();
    let rules = compiled_rules(&root);
    assert!(!rules.is_empty(), "no rules under {}", root.join("detections").display());
    let (shard, shards) = shard();
    let mut pairs = 0;
    for dataset in datasets(&root) {
        let in_shard: Vec<&(Detection, Search)> = rules
            .iter()
            .filter(|(rule, _)| {
                stable_hash(&format!("{}@{}", rule.slug(), dataset.name)) % shards == shard - 1
            })
            .collect();
        if in_shard.is_empty() {
            continue;
        }
        let searches: Vec<&Search> = in_shard.iter().map(|(_, search)| search).collect();
        let scan = |options: ScanOptions| {
            scan_files(&searches, std::slice::from_ref(&dataset.path), options)
                .unwrap_or_else(|err| panic!("{}: {err:#}", dataset.path.display()))
        };
        // The product path (prefilter, two threads) must give exactly the rows of reading
        // every event; the full read's report is the one that counts every event and skip.
        let fast = scan(ScanOptions::default());
        let full =
            scan(ScanOptions { prefilter: false, parallel: false, ..ScanOptions::default() });
        assert_eq!(fast.tables, full.tables, "{}: the prefilter changed the rows", dataset.shown);
        let report = &full.reports[0].1;
        for ((rule, _), rows) in in_shard.iter().zip(&full.tables) {
            pairs += 1;
            let name = format!("hits@{}@{}", rule.slug(), dataset.name);
            let hits = Hits {
                rule: &rule.name,
                dataset: &dataset.shown,
                events: report.events_total(),
                skipped: report.skipped_total,
                rows,
            };
            if dataset.real && !snapshot_exists(&root, &name) {
                assert!(
                    !rows.is_empty(),
                    "{name}: the rule returns no row on its real dataset, where Splunk's test \
                     expects at least one"
                );
                eprintln!(
                    "SNAPSHOT TO RECORD: {name} ({} rows): record it with \
                     `INSTA_UPDATE=new cargo xtask test` (only the gate hands the fetched \
                     datasets to this test) and review it with `cargo insta review`",
                    rows.len()
                );
                // Asked to record (INSTA_UPDATE=new/always), fall through to the assertion,
                // which writes the pending snapshot; otherwise the row check above is the test.
                if std::env::var_os("INSTA_UPDATE").is_none_or(|v| v == "no") {
                    continue;
                }
            }
            with_snapshots(|| insta::assert_yaml_snapshot!(name, hits));
        }
    }
    eprintln!("hits: {pairs} rule × dataset pairs in shard {shard}/{shards}");
}

fn compiled_rules(root: &Path) -> Vec<(Detection, Search)> {
    let macros = content::load_macro_table(root).expect("macros load");
    content::discover_rules(root)
        .expect("rules are listed")
        .iter()
        .map(|path| {
            let rule = content::load_rule(&root.join(path)).expect("rule loads");
            let search = Search::compile(&rule.search, &macros, &rule.filter_macro_name())
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            (rule, search)
        })
        .collect()
}

fn datasets(root: &Path) -> Vec<Dataset> {
    let mut datasets = Vec::new();
    for path in files_below(&root.join("fixtures/datasets")) {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        if name == "README.md" {
            continue;
        }
        let shown = format!("fixtures/datasets/{name}");
        datasets.push(Dataset { name: name.to_owned(), shown, path, real: false });
    }
    if let Some(shared) = shared_datasets("hits on the shared datasets") {
        for path in files_below(&shared) {
            let Ok(relative) = path.strip_prefix(&shared) else { continue };
            let relative = relative.to_string_lossy().replace('\\', "/");
            if relative == "README.md" {
                continue;
            }
            let short = relative.replace("datasets/attack_techniques/", "");
            datasets.push(Dataset {
                name: format!("shared.{}", short.replace('/', ".")),
                shown: format!("shared/datasets/{relative}"),
                path,
                real: false,
            });
        }
    }
    datasets.extend(fetched_datasets());
    datasets
}

/// The real datasets `cargo xtask test` could fetch; none under plain `cargo test`.
fn fetched_datasets() -> Vec<Dataset> {
    #[derive(serde::Deserialize)]
    struct Entry {
        name: String,
        url: String,
        path: Option<PathBuf>,
    }
    let Some(manifest) = std::env::var_os("DETECTION_GATE_DATASETS") else {
        eprintln!(
            "hits: DETECTION_GATE_DATASETS is not set: real datasets are left to `cargo xtask test`"
        );
        return Vec::new();
    };
    let text = std::fs::read_to_string(&manifest).expect("the gate's dataset list is readable");
    let entries: Vec<Entry> = serde_json::from_str(&text).expect("the gate's dataset list is JSON");
    entries
        .into_iter()
        .filter_map(|entry| {
            let path = entry.path?;
            Some(Dataset { name: entry.name, shown: entry.url, path, real: true })
        })
        .collect()
}

fn shard() -> (u64, u64) {
    let Ok(text) = std::env::var("DETECTION_GATE_SHARD") else { return (1, 1) };
    let parsed = text
        .split_once('/')
        .and_then(|(k, n)| Some((k.parse::<u64>().ok()?, n.parse::<u64>().ok()?)));
    match parsed {
        Some((k, n)) if k >= 1 && k <= n => (k, n),
        _ => panic!("DETECTION_GATE_SHARD={text:?}: expected K/N with 1 <= K <= N"),
    }
}

/// FNV-1a: the same slice of pairs on every machine and every run, unlike `DefaultHasher`.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn snapshot_exists(root: &Path, name: &str) -> bool {
    root.join("snapshots").join(format!("it__hits__{name}.snap")).exists()
}
