//! The rule tests of a content tree, as `contentctl test` runs them but offline: every rule
//! runs over each dataset it names (and over the benign corpus), each dataset file read once
//! for all the rules that name it. A rule passes when it returns at least one row on each of
//! its own datasets (contentctl's criterion) and its rows equal its snapshot
//! (`snapshots/hits/<rule file stem>.snap`). A changed snapshot is written beside the old one
//! as `.snap.new` for review; nothing else is written.
//!
//! This module decides and reports; it prints nothing. A search the engine cannot evaluate
//! yet (an [`SplError`] with a [`detection::spl::Blocker`]) is reported as not supported, not
//! as a failure of the rule.

pub(crate) mod datasets;
pub(crate) mod snapshot;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use detection::attack::Attack;
use detection::content::validate::{self, Engine};
use detection::content::{self, Detection};
use detection::eval::ResultTable;
use detection::fields::Origin;
use detection::lookup::Lookups;
use detection::scan::{ScanInput, ScanOptions, scan_inputs};
use detection::spl::{Context, Search, SplError};

use self::datasets::{Remote, Source};
use self::snapshot::{Body, Section, Stored};

/// The dataset shown for a rule's rows on the benign corpus.
pub(crate) const BENIGN: &str = "benign corpus";

/// What to test and how.
pub(crate) struct Options {
    /// The content root: `detections/`, `macros/`, `snapshots/hits/`, `datasets.lock`.
    pub(crate) root: PathBuf,
    /// The benign corpus folder; `None` runs none and keeps the benign rows of snapshots.
    pub(crate) benign: Option<PathBuf>,
    /// Only these rule files (relative to `root`); `None` for every rule.
    pub(crate) only: Option<BTreeSet<PathBuf>>,
    /// The K-th of N stable slices of the rules (1-based).
    pub(crate) shard: (u32, u32),
    /// Whether and how a changed snapshot is written.
    pub(crate) update: Update,
    /// What `detection validate` found the engine can do with each rule (from the gate's
    /// validate step); rules it does not cover are asked here when their search does not
    /// compile.
    pub(crate) engine: BTreeMap<PathBuf, Engine>,
}

/// What happens to a snapshot that differs from the rows, after insta's `INSTA_UPDATE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Update {
    /// Write nothing (`no`, and the default under CI).
    No,
    /// Write `<stem>.snap.new` for review (`new`, `auto`, the default).
    Pending,
    /// Overwrite the snapshot itself (`always`).
    Overwrite,
}

impl Update {
    /// From `INSTA_UPDATE`, as insta reads it; `auto` (or unset) writes nothing under CI.
    pub(crate) fn from_env(ci: bool) -> Self {
        match std::env::var("INSTA_UPDATE").as_deref() {
            Ok("no") => Self::No,
            Ok("always") => Self::Overwrite,
            Ok("new" | "unseen") => Self::Pending,
            _ if ci => Self::No,
            _ => Self::Pending,
        }
    }
}

/// The outcome of every rule tested.
pub(crate) struct Report {
    pub(crate) root: PathBuf,
    pub(crate) rules: Vec<RuleReport>,
    /// Snapshot files of no rule, relative to the root (looked for in shard 1).
    pub(crate) orphans: Vec<String>,
    /// The benign files every rule ran over, relative to the root where they are inside it.
    pub(crate) benign_files: Vec<String>,
    /// Things the reader must know that belong to no rule.
    pub(crate) notes: Vec<String>,
    /// Snapshot files written (pending or overwritten), relative to the root.
    pub(crate) written: Vec<String>,
    /// Rules found in the content tree, before selection and sharding.
    pub(crate) rules_found: usize,
}

/// One rule and what happened on each of its datasets.
pub(crate) struct RuleReport {
    /// The rule file, relative to the content root, with `/`.
    pub(crate) file: String,
    /// The rule's name, or the file stem when it does not load.
    pub(crate) name: String,
    /// Its snapshot file, relative to the content root.
    pub(crate) snapshot: String,
    pub(crate) entries: Vec<Entry>,
}

/// One line of the report: a rule on one dataset (or the benign corpus, or the rule itself
/// when it could not run).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The dataset as shown: the URL or path the rule names, `benign corpus`, or `-`.
    pub(crate) dataset: String,
    /// The committed stand-in read instead of a remote dataset, and why.
    pub(crate) stand_in: Option<(String, String)>,
    /// Rows in the snapshot (`None`: no snapshot of this dataset yet).
    pub(crate) before: Option<usize>,
    /// Rows now (`None`: not run).
    pub(crate) now: Option<usize>,
    pub(crate) status: Status,
    /// Rows gone (`-`) and new (`+`), one line each.
    pub(crate) changes: Vec<(char, String)>,
}

/// The verdict on one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    Pass,
    /// The rows differ from the snapshot.
    RowsChanged,
    /// No snapshot holds these rows yet.
    New,
    /// A downloaded dataset whose rows no snapshot holds yet. They can only be recorded
    /// where the network is (not where the rule was written offline, on its stand-in, and
    /// not in CI, which writes nothing), so until then they are held to Splunk's criterion
    /// alone, at least one row, and shown for recording.
    Unrecorded,
    /// The rule returns nothing on one of its own datasets: Splunk's test would fail.
    NoRows,
    /// Not run: the dataset cannot be had (offline, not pinned) and nothing stands in.
    Unavailable(String),
    /// Not run: the rule names a local dataset that is not there.
    Missing(String),
    /// The dataset could not be read.
    ReadFailed(String),
    /// A shortcut (the prefilter, the two-thread read of one file, files read on two
    /// threads, groups dropped before an inner join) changed the rows: a fault of the
    /// engine. The text says which reading.
    ShortcutChangedRows(String),
    /// The search uses something the engine does not evaluate yet.
    Unsupported(String),
    /// The search itself is wrong (syntax, unknown macro, …).
    SearchError(String),
    /// The rule file does not load, or clashes with another.
    RuleError(String),
    /// The rule names no dataset.
    NoDataset,
    /// The snapshot file is there but cannot be read.
    SnapshotUnreadable(String),
}

impl Status {
    /// Short text for the report's status column.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::RowsChanged => "rows changed",
            Self::New => "new snapshot",
            Self::Unrecorded => "pass, rows to record",
            Self::NoRows => "no rows on its own data",
            Self::Unavailable(_) => "not run: dataset unavailable",
            Self::Missing(_) => "dataset missing",
            Self::ReadFailed(_) => "dataset unreadable",
            Self::ShortcutChangedRows(_) => "engine fault: a shortcut changed rows",
            Self::Unsupported(_) => "search not supported by the engine",
            Self::SearchError(_) => "search error",
            Self::RuleError(_) => "rule does not load",
            Self::NoDataset => "not tested: names no dataset",
            Self::SnapshotUnreadable(_) => "snapshot unreadable",
        }
    }

    /// The detail behind the label, if any.
    pub(crate) fn detail(&self) -> Option<&str> {
        match self {
            Self::Unavailable(text)
            | Self::Missing(text)
            | Self::ReadFailed(text)
            | Self::Unsupported(text)
            | Self::SearchError(text)
            | Self::RuleError(text)
            | Self::SnapshotUnreadable(text)
            | Self::ShortcutChangedRows(text) => Some(text),
            _ => None,
        }
    }

    /// Whether the entry fails the gate. Engine limits never do; a dataset that could not
    /// be had does only when the real datasets are required.
    pub(crate) fn fails(&self, require_datasets: bool) -> bool {
        match self {
            Self::Pass | Self::Unrecorded | Self::Unsupported(_) => false,
            Self::Unavailable(_) | Self::NoDataset => require_datasets,
            _ => true,
        }
    }

    /// Whether the entry did not run for a reason outside the rule (`JUnit`'s "skipped").
    pub(crate) fn skipped(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Unsupported(_) | Self::NoDataset)
    }
}

impl Entry {
    fn problem(status: Status) -> Self {
        Self {
            dataset: "-".to_owned(),
            stand_in: None,
            before: None,
            now: None,
            status,
            changes: vec![],
        }
    }

    /// Whether this entry fails the gate; a stand-in fails when real datasets are required.
    pub(crate) fn fails(&self, require_datasets: bool) -> bool {
        self.status.fails(require_datasets) || (require_datasets && self.stand_in.is_some())
    }
}

impl RuleReport {
    pub(crate) fn fails(&self, require_datasets: bool) -> bool {
        self.entries.iter().any(|entry| entry.fails(require_datasets))
    }
}

impl Report {
    pub(crate) fn fails(&self, require_datasets: bool) -> bool {
        !self.orphans.is_empty() || self.rules.iter().any(|rule| rule.fails(require_datasets))
    }
}

/// A rule being tested: what it is, what it runs over, and its rows as they come.
struct Subject {
    file: String,
    stem: String,
    rule: Option<Detection>,
    search: Option<Search>,
    problem: Option<Status>,
    own: Vec<Own>,
    /// Rows on each benign file (by index into the benign file list).
    benign: Vec<Option<Vec<serde_yaml::Value>>>,
    benign_failure: Option<Status>,
}

/// One own dataset of a rule.
struct Own {
    /// As the rule names it.
    data: String,
    /// Whether `data` is a URL (as opposed to a path in the content tree).
    remote: bool,
    /// `source` and `sourcetype` as the test gives them, for the raw-search macros that
    /// filter on them; derived from each event where it gives none.
    origin: Origin,
    source: Source,
    /// Rows, once run; or why it could not be read.
    result: Option<Result<Vec<serde_yaml::Value>, Status>>,
}

/// Runs the rule tests. `Err` only when the content tree cannot be listed or its macros
/// cannot be read; everything about a single rule is in its report.
pub(crate) fn run(options: &Options, remote: &Remote) -> anyhow::Result<Report> {
    let root = &options.root;
    let found = content::discover_rules(root)
        .with_context(|| format!("cannot list the rules of {}", root.display()))?;
    let macros = content::load_macro_table(root)
        .with_context(|| format!("cannot read the macros of {}", root.display()))?;
    let mut notes = Vec::new();
    // Definitions that do not load leave the tree without lookups: the rules that use one
    // report it as unknown, and this note says why. A CSV file that does not read fails
    // only the rules that use it, as they compile, with the file's own error.
    let lookups = Lookups::load(root).unwrap_or_else(|err| {
        notes.push(format!("lookups: {}", detection::error_chain(&err)));
        Lookups::new()
    });
    let context = Context { macros: &macros, lookups: &lookups };
    if let Some(failure) = remote.failure() {
        notes.push(format!("remote datasets could not be looked up: {failure}"));
    }
    let all_stems: BTreeSet<String> = found.iter().map(|path| stem_of(path)).collect();
    let mut subjects: Vec<Subject> = found
        .iter()
        .map(|path| relative_to(path, root))
        .filter(|file| options.only.as_ref().is_none_or(|only| only.contains(Path::new(file))))
        .filter(|file| in_shard(&stem_of(Path::new(file)), options.shard))
        .map(|file| prepare(root, &file, context, remote))
        .collect();
    mark_clashing_stems(&mut subjects, &found, root);
    classify_compile_errors(root, &mut subjects, &options.engine)?;

    let benign_paths = match &options.benign {
        Some(dir) => datasets::benign_files(dir)?,
        None => Vec::new(),
    };
    run_own_datasets(&mut subjects);
    run_benign(&mut subjects, &benign_paths);

    let benign_files: Vec<String> =
        benign_paths.iter().map(|path| relative_to(path, root)).collect();
    let mut written = Vec::new();
    let mut rules = Vec::with_capacity(subjects.len());
    for subject in subjects {
        let judged = judge(root, subject, options.benign.is_some(), &benign_files);
        if let Some(body) = &judged.write {
            match write_snapshot(root, &judged.report, body, options.update) {
                Ok(Some(path)) => written.push(path),
                Ok(None) => {}
                Err(err) => notes.push(format!("{err:#}")),
            }
        } else if let Err(err) = remove_stale_pending(root, &judged.report.snapshot) {
            notes.push(format!("{err:#}"));
        }
        rules.push(judged.report);
    }
    // Every rule file is known even when only some are tested, so a deleted rule's snapshot
    // is found by --changed runs too; one shard says it.
    let orphans =
        if options.shard.0 == 1 { orphan_snapshots(root, &all_stems)? } else { Vec::new() };
    Ok(Report {
        root: root.clone(),
        rules,
        orphans,
        benign_files,
        notes,
        written,
        rules_found: found.len(),
    })
}

fn prepare(root: &Path, file: &str, context: Context<'_>, remote: &Remote) -> Subject {
    let stem = stem_of(Path::new(file));
    let mut subject = Subject {
        file: file.to_owned(),
        stem,
        rule: None,
        search: None,
        problem: None,
        own: Vec::new(),
        benign: Vec::new(),
        benign_failure: None,
    };
    let rule = match content::load_rule(&root.join(file)) {
        Ok(rule) => rule,
        Err(err) => {
            subject.problem = Some(Status::RuleError(detection::error_chain(&err)));
            return subject;
        }
    };
    let mut seen = BTreeSet::new();
    for dataset in rule.datasets() {
        // A dataset named twice (in tags.dataset and in a test) is one dataset.
        if seen.insert(dataset.data) {
            let source = datasets::locate(root, &dataset, remote);
            let origin = Origin::given_or_derived(dataset.source, dataset.sourcetype);
            subject.own.push(Own {
                data: dataset.data.to_owned(),
                remote: dataset.is_url(),
                origin,
                source,
                result: None,
            });
        }
    }
    match Search::compile_in(&rule.search, context, &rule.filter_macro_name()) {
        Ok(search) => subject.search = Some(search),
        Err(err) => subject.problem = Some(compile_problem(&err)),
    }
    if subject.problem.is_none() && subject.own.is_empty() {
        subject.problem = Some(Status::NoDataset);
    }
    subject.rule = Some(rule);
    subject
}

fn compile_problem(err: &SplError) -> Status {
    match err.blocker() {
        Some(blocker) => Status::Unsupported(format!("{blocker} ({err})")),
        None => Status::SearchError(err.to_string()),
    }
}

/// A search that does not compile is the rule's error only when Splunk would refuse it too;
/// `detection validate` decides that (an engine's parse error on a search Splunk runs is a
/// limit of the engine), so its verdict is taken, asked once for all such rules.
fn classify_compile_errors(
    root: &Path,
    subjects: &mut [Subject],
    known: &BTreeMap<PathBuf, Engine>,
) -> anyhow::Result<()> {
    let unknown: Vec<PathBuf> = subjects
        .iter()
        .filter(|subject| matches!(subject.problem, Some(Status::SearchError(_))))
        .map(|subject| root.join(&subject.file))
        .filter(|path| !known.contains_key(path))
        .collect();
    let mut asked = BTreeMap::new();
    if !unknown.is_empty() {
        let validation = validate::validate_content(&unknown, &Attack::bundled()?)?;
        asked.extend(validation.rules.into_iter().map(|rule| (rule.path, rule.engine)));
    }
    for subject in subjects {
        let Some(Status::SearchError(message)) = &subject.problem else { continue };
        let path = root.join(&subject.file);
        if let Some(Engine::Blocked(blocker)) = known.get(&path).or_else(|| asked.get(&path)) {
            subject.problem = Some(Status::Unsupported(format!("{blocker} ({message})")));
        }
    }
    Ok(())
}

/// Two rules whose files share a stem would share a snapshot: both are reported.
fn mark_clashing_stems(subjects: &mut [Subject], found: &[PathBuf], root: &Path) {
    let mut by_stem: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in found {
        by_stem.entry(stem_of(path)).or_default().push(relative_to(path, root));
    }
    for subject in subjects {
        let files = &by_stem[&subject.stem];
        if files.len() > 1 {
            subject.search = None;
            subject.problem = Some(Status::RuleError(format!(
                "rule files {} share the snapshot name {}.snap: rename one",
                files.join(", "),
                subject.stem
            )));
        }
    }
}

/// Every own dataset file is read once for all the rules that name it with the same
/// `source` and `sourcetype`.
fn run_own_datasets(subjects: &mut [Subject]) {
    let mut by_input: BTreeMap<(PathBuf, Origin), Vec<(usize, usize)>> = BTreeMap::new();
    for (rule_index, subject) in subjects.iter().enumerate() {
        if subject.search.is_none() {
            continue;
        }
        for (own_index, own) in subject.own.iter().enumerate() {
            if let Source::Real(path) | Source::StandIn { path, .. } = &own.source {
                let key = (path.clone(), own.origin.clone());
                by_input.entry(key).or_default().push((rule_index, own_index));
            }
        }
    }
    for ((path, origin), users) in by_input {
        let input = ScanInput { path, origin };
        let searches: Vec<&Search> = users
            .iter()
            .filter_map(|&(rule_index, _)| subjects[rule_index].search.as_ref())
            .collect();
        let results = scan_both_ways(&searches, std::slice::from_ref(&input));
        for ((rule_index, own_index), result) in users.into_iter().zip(results) {
            subjects[rule_index].own[own_index].result = Some(result);
        }
    }
}

/// Every rule over each benign file, each file read once.
fn run_benign(subjects: &mut [Subject], benign: &[PathBuf]) {
    let runnable: Vec<usize> =
        (0..subjects.len()).filter(|&index| subjects[index].search.is_some()).collect();
    for subject in subjects.iter_mut() {
        subject.benign = vec![None; benign.len()];
    }
    if runnable.is_empty() {
        return;
    }
    for (file_index, path) in benign.iter().enumerate() {
        let searches: Vec<&Search> =
            runnable.iter().filter_map(|&index| subjects[index].search.as_ref()).collect();
        let results = scan_both_ways(&searches, &[ScanInput::derived(path.clone())]);
        for (&rule_index, result) in runnable.iter().zip(results) {
            match result {
                Ok(rows) => subjects[rule_index].benign[file_index] = Some(rows),
                Err(status) => subjects[rule_index].benign_failure = Some(status),
            }
        }
    }
    if benign.len() > 1 {
        // The files together, read on two threads (each file by one) and merged in order,
        // against one after another on this thread: the path a run over many files takes.
        // Only the agreement is kept; each file's rows are the ones above.
        let searches: Vec<&Search> =
            runnable.iter().filter_map(|&index| subjects[index].search.as_ref()).collect();
        let inputs: Vec<ScanInput> = benign.iter().cloned().map(ScanInput::derived).collect();
        for (&rule_index, result) in runnable.iter().zip(scan_both_ways(&searches, &inputs)) {
            let subject = &mut subjects[rule_index];
            if let Err(status) = result
                && subject.benign_failure.is_none()
            {
                subject.benign_failure = Some(status);
            }
        }
    }
}

/// Rows of each search over `inputs` read with the shortcuts (prefilter, only the fields a
/// search over raw events names, a file's pieces or several files on two threads, groups
/// an inner join drops dropped early, group keys made once for the searches that group
/// alike and groups built once for those that build the same, groups spilled to disk, rows
/// made and filtered a batch at a time) and without: they must agree, or the engine is at
/// fault.
fn scan_both_ways(
    searches: &[&Search],
    inputs: &[ScanInput],
) -> Vec<Result<Vec<serde_yaml::Value>, Status>> {
    // A budget of nothing spills every `tstats` table every few hundred records, and a rule
    // that reads one file of 64 KiB or more reads it in pieces (an EVTX file, its chunks on
    // two threads; several files are read two at a time): rule datasets are far below the
    // default budget and sizes, and would never take those paths.
    let shortcuts =
        ScanOptions { group_memory: 0, split_at_least: 64 << 10, ..ScanOptions::default() };
    let fast = scan_inputs(searches, inputs, shortcuts);
    let full = scan_inputs(
        searches,
        inputs,
        ScanOptions {
            prefilter: false,
            named_fields_only: false,
            parallel: false,
            prune_joins: false,
            share_keys: false,
            share_groups: false,
            finish_in_batches: false,
            group_memory: usize::MAX,
            ..ScanOptions::default()
        },
    );
    match (fast, full) {
        (Ok(fast), Ok(full)) => fast
            .tables
            .iter()
            .zip(&full.tables)
            .map(|(fast, full)| agree(fast, full, inputs))
            .collect(),
        (Err(err), _) | (_, Err(err)) => {
            let reason = detection::error_chain(&err);
            searches.iter().map(|_| Err(Status::ReadFailed(reason.clone()))).collect()
        }
    }
}

/// The rows when the reading with shortcuts (`fast`) and the plain one (`full`) agree;
/// otherwise the engine fault, naming the files and the reading.
fn agree(
    fast: &ResultTable,
    full: &ResultTable,
    inputs: &[ScanInput],
) -> Result<Vec<serde_yaml::Value>, Status> {
    if fast == full {
        return Ok(rows_of(full));
    }
    let (what, files) = match inputs {
        [one] => (
            "the prefilter, the two-thread read, the join pruning and spilling groups over",
            one.path.display().to_string(),
        ),
        many => (
            "reading on two threads (with the join pruning and spilling groups) the files",
            many.iter()
                .map(|input| input.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
    };
    Err(Status::ShortcutChangedRows(format!(
        "{what} {files} gave other rows than a plain read ({} row(s) against {})",
        fast.len(),
        full.len()
    )))
}

fn rows_of(table: &ResultTable) -> Vec<serde_yaml::Value> {
    match serde_yaml::to_value(table) {
        Ok(serde_yaml::Value::Sequence(rows)) => rows,
        // A table always serializes as a list of maps.
        _ => Vec::new(),
    }
}

struct Judged {
    report: RuleReport,
    /// The body to write when it differs from the stored snapshot.
    write: Option<Body>,
}

/// Compares a rule's rows with its snapshot and says, dataset by dataset, what changed.
fn judge(root: &Path, subject: Subject, benign_ran: bool, benign_files: &[String]) -> Judged {
    let snapshot_path = snapshot::path_for(root, &subject.stem);
    let name = subject.rule.as_ref().map_or_else(|| subject.stem.clone(), |rule| rule.name.clone());
    let mut report = RuleReport {
        file: subject.file.clone(),
        name: name.clone(),
        snapshot: relative_to(&snapshot_path, root),
        entries: Vec::new(),
    };
    report.entries.extend(subject.problem.clone().map(Entry::problem));
    if subject.search.is_none() {
        // Nothing ran: the problem is the whole story, and the snapshot stays as it is.
        return Judged { report, write: None };
    }
    let (old, unreadable) = match snapshot::read(&snapshot_path) {
        Stored::Missing => (None, None),
        Stored::Found(body) => (Some(body), None),
        Stored::Unreadable(why) => (None, Some(why)),
    };
    let old_body = old.clone().unwrap_or_default();
    let mut body = Body { rule: name, datasets: Vec::new(), benign: Vec::new() };
    for own in &subject.own {
        let (entry, sections) = judge_own(own, &old_body);
        report.entries.push(entry);
        body.datasets.extend(sections);
    }
    // Datasets the snapshot holds that the rule no longer names.
    for old in &old_body.datasets {
        if !subject.own.iter().any(|own| own.data == old.data) {
            report.entries.push(Entry {
                dataset: old.data.clone(),
                stand_in: None,
                before: Some(old.rows.len()),
                now: None,
                status: Status::RowsChanged,
                changes: vec![('-', "the rule no longer names this dataset".to_owned())],
            });
        }
    }
    if benign_ran {
        for (file, rows) in benign_files.iter().zip(&subject.benign) {
            if let Some(rows) = rows.as_ref().filter(|rows| !rows.is_empty()) {
                body.benign.push(Section {
                    data: file.clone(),
                    stand_in: None,
                    rows: rows.clone(),
                });
            }
        }
        report.entries.push(benign_entry(&old_body, &body, old.is_some(), subject.benign_failure));
    } else {
        body.benign.clone_from(&old_body.benign);
    }

    let changed = match &old {
        Some(old) => *old != body,
        None => !body.is_empty() || unreadable.is_some(),
    };
    if let Some(why) = unreadable {
        report.entries.push(Entry::problem(Status::SnapshotUnreadable(why)));
    } else if let Some(old) = old.as_ref().filter(|old| old.rule != body.rule) {
        let mut entry = Entry::problem(Status::RowsChanged);
        entry.changes.push(('-', format!("rule: {}", old.rule)));
        entry.changes.push(('+', format!("rule: {}", body.rule)));
        report.entries.push(entry);
    }
    Judged { report, write: changed.then_some(body) }
}

/// The entry of one own dataset, and the snapshot sections it leaves: the fresh rows, plus
/// the sections of this dataset that did not run now (the real one while offline, or the
/// stand-in's while online), kept as they were.
fn judge_own(own: &Own, old_body: &Body) -> (Entry, Vec<Section>) {
    let stand_in = match &own.source {
        Source::StandIn { file, reason, .. } => Some((file.clone(), reason.clone())),
        _ => None,
    };
    let fresh = match &own.result {
        Some(Ok(rows)) => Some(Section {
            data: own.data.clone(),
            stand_in: stand_in.as_ref().map(|(file, _)| file.clone()),
            rows: rows.clone(),
        }),
        _ => None,
    };
    let kept: Vec<Section> = old_body
        .datasets
        .iter()
        .filter(|old| old.data == own.data && fresh.as_ref().is_none_or(|f| !f.same_dataset(old)))
        .cloned()
        .collect();
    let mut entry = Entry {
        dataset: own.data.clone(),
        stand_in,
        before: None,
        now: None,
        status: Status::Pass,
        changes: Vec::new(),
    };
    match (&own.source, &own.result, &fresh) {
        (_, _, Some(fresh)) => {
            let previous = old_body.datasets.iter().find(|old| old.same_dataset(fresh));
            entry.before = previous.map(|section| section.rows.len());
            entry.now = Some(fresh.rows.len());
            entry.changes = snapshot::row_changes(
                previous.map_or(&[][..], |section| &section.rows),
                &fresh.rows,
            );
            let downloaded = own.remote && entry.stand_in.is_none();
            entry.status = if fresh.rows.is_empty() {
                Status::NoRows
            } else if previous.is_none() && downloaded {
                Status::Unrecorded
            } else if previous.is_none() {
                Status::New
            } else if entry.changes.is_empty() {
                Status::Pass
            } else {
                Status::RowsChanged
            };
        }
        (Source::Unavailable(reason), _, None) => {
            entry.status = Status::Unavailable(reason.clone());
            entry.before = kept.first().map(|section| section.rows.len());
        }
        (Source::Missing(reason), _, None) => entry.status = Status::Missing(reason.clone()),
        (_, Some(Err(status)), None) => entry.status = status.clone(),
        (_, _, None) => entry.status = Status::ReadFailed("the dataset was not read".to_owned()),
    }
    (entry, fresh.into_iter().chain(kept).collect())
}

/// One entry for the benign corpus: any row there is a false positive, and a change in them
/// fails like any other change of rows.
fn benign_entry(old: &Body, new: &Body, had_snapshot: bool, failure: Option<Status>) -> Entry {
    let count = |body: &Body| body.benign.iter().map(|section| section.rows.len()).sum::<usize>();
    let mut changes = Vec::new();
    for section in &new.benign {
        let before = old.benign.iter().find(|old| old.data == section.data);
        for (sign, line) in
            snapshot::row_changes(before.map_or(&[][..], |old| &old.rows), &section.rows)
        {
            changes.push((sign, format!("{}: {line}", section.data)));
        }
    }
    for section in &old.benign {
        if !new.benign.iter().any(|new| new.data == section.data) {
            for row in &section.rows {
                changes.push(('-', format!("{}: {}", section.data, snapshot::row_line(row))));
            }
        }
    }
    let status = match failure {
        Some(status) => status,
        None if changes.is_empty() => Status::Pass,
        None if !had_snapshot => Status::New,
        None => Status::RowsChanged,
    };
    Entry {
        dataset: BENIGN.to_owned(),
        stand_in: None,
        before: had_snapshot.then(|| count(old)),
        now: Some(count(new)),
        status,
        changes,
    }
}

/// Writes the changed snapshot as `update` says; returns the file written.
fn write_snapshot(
    root: &Path,
    report: &RuleReport,
    body: &Body,
    update: Update,
) -> anyhow::Result<Option<String>> {
    let snapshot_path = root.join(&report.snapshot);
    let target = match update {
        Update::No => return Ok(None),
        Update::Pending => snapshot::pending_path(&snapshot_path),
        Update::Overwrite => snapshot_path,
    };
    let text = body.to_text(&report.file)?;
    let dir = target.parent().unwrap_or(root);
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&target, text))
        .with_context(|| format!("cannot write the snapshot {}", target.display()))?;
    Ok(Some(relative_to(&target, root)))
}

/// A pending snapshot left from an earlier run is stale once the rows match again.
fn remove_stale_pending(root: &Path, snapshot_file: &str) -> anyhow::Result<()> {
    let pending = snapshot::pending_path(&root.join(snapshot_file));
    match std::fs::remove_file(&pending) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("cannot remove {}", pending.display()))
        }
        _ => Ok(()),
    }
}

/// `snapshots/hits/*.snap` whose rule file is gone (deleted or renamed).
fn orphan_snapshots(root: &Path, stems: &BTreeSet<String>) -> anyhow::Result<Vec<String>> {
    let dir = root.join(snapshot::HITS_DIR);
    let mut orphans = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(orphans),
        Err(err) => return Err(err).with_context(|| format!("cannot list {}", dir.display())),
    };
    for entry in entries {
        let path = entry.with_context(|| format!("cannot list {}", dir.display()))?.path();
        if path.extension().is_some_and(|ext| ext == snapshot::SNAP)
            && !stems.contains(&stem_of(&path))
        {
            orphans.push(relative_to(&path, root));
        }
    }
    orphans.sort();
    Ok(orphans)
}

/// Whether a rule belongs to shard `(k, n)`: a stable hash of its file stem, the same on
/// every machine and every run.
pub(crate) fn in_shard(stem: &str, (k, n): (u32, u32)) -> bool {
    let hash = stem.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % u64::from(n) == u64::from(k - 1)
}

fn stem_of(path: &Path) -> String {
    path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default()
}

/// `path` relative to `root` with `/` separators, or as given when it is elsewhere.
pub(crate) fn relative_to(path: &Path, root: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative.to_string_lossy().replace('\\', "/")
}
