//! Runs a compiled [`Search`] as Splunk would and returns the [`ResultTable`] Splunk would
//! show. The generating command reads the input one item at a time — `tstats` data model
//! records, or raw events for a search over events — and the commands after it work on
//! result rows. The writers in this module print a table as JSON lines, CSV or aligned text;
//! the module itself does no I/O beyond the given writer.
//!
//! # Values
//!
//! A field is null (absent), one value or a multivalue ([`FieldValue::Multi`]): a JSON array
//! in JSON lines, its values joined by newlines in CSV and text. Values are strings; eval
//! arithmetic and comparisons read a string that is a number as that number. `_time` is
//! epoch seconds as Splunk prints them: an integer when whole, else a decimal with up to six
//! digits and no trailing zeros (`1582290855.25`).
//!
//! # Order
//!
//! `tstats` and `stats` rows are sorted ascending by their `by` values, compared as strings
//! byte by byte (`_time` buckets as numbers): Splunk's order for mixed case and numbers is not
//! documented; byte order is deterministic. A search over events sees them newest first,
//! as Splunk retrieves them ("The results of a search are ordered from most recent to least
//! recent by default", Search Manual); events of the same time come in reverse reading order.
//!
//! # Memory
//!
//! Rows are held only where a command needs them all: `tstats` keeps its groups, and a
//! search over events whose first command needing every row is `stats` (without `list`,
//! `first`, `last`) feeds the selected events to it as they are read. Otherwise the selected
//! events are held until the end, then put in Splunk's order.

mod aggregate;
mod combine;
mod commands;
mod condition;
mod expr;
pub(crate) mod functions;
mod output;
mod packed;
mod prune;
mod spath;
pub(crate) mod spill;
mod stats;
mod table;
mod time;
pub(crate) mod tstats;
pub(crate) use table::gather;
pub(crate) use tstats::RecordKeys;
mod value;

use std::borrow::Borrow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use crate::datamodel::NodeRecord;
use crate::spl::{
    AggregateArgument, Command, Condition, Expr, ExprKind, FieldGlob, Location, Pipeline, Search,
    SplError, StatsKind,
};
use condition::{FieldLookup, condition_holds};
pub(crate) use condition::{Guard, Matcher};
use expr::Env;
use packed::PackedTable;

pub use aggregate::LIST_LIMIT;
pub use combine::{JOIN_MAX_ROWS, SUBSEARCH_MAX_ROWS};
pub(crate) use functions::cidr_match;
pub use tstats::MAX_GROUPS;

/// Why a compiled search could not be run to the end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// `tstats` or `stats` found more distinct `by` combinations than [`MAX_GROUPS`].
    #[error("search: {location}: produces more than {limit} groups")]
    TooManyGroups {
        /// The command in the original search.
        location: Location,
        /// The limit.
        limit: usize,
    },
    /// `tstats` groups spilled to a temporary file could not be written or read back (a
    /// full disk, an unwritable temporary folder: see [`crate::scan::ScanOptions::group_memory`]).
    #[error("search: {location}: cannot spill its groups to a temporary file: {message}")]
    Spill {
        /// The `tstats` command in the original search.
        location: Location,
        /// What the system said.
        message: String,
    },
    /// An expression or command could not be evaluated: a regular expression that hit
    /// PCRE's match limit, a pattern built from a field that does not compile.
    #[error("search: {location}: {message}")]
    Expression {
        /// Where in the original search.
        location: Location,
        /// What went wrong.
        message: String,
    },
    /// A command built at run time (`foreach`'s commands for one field) does not compile.
    #[error(transparent)]
    Compile(Box<SplError>),
}

/// A field's value in a result row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(untagged)]
pub enum FieldValue {
    /// One value.
    Single(String),
    /// Several values, as `values()` returns them.
    Multi(Vec<String>),
}

impl FieldValue {
    /// The values: one for [`FieldValue::Single`].
    pub fn values(&self) -> impl Iterator<Item = &str> {
        let slice = match self {
            Self::Single(value) => std::slice::from_ref(value),
            Self::Multi(values) => values.as_slice(),
        };
        slice.iter().map(String::as_str)
    }

    /// The values joined by newlines, as Splunk's CSV export and tables show a multivalue.
    pub fn joined(&self) -> String {
        self.values().collect::<Vec<_>>().join("\n")
    }
}

/// The results of a search: named columns in Splunk's order and rows of optional values.
/// It serializes as a list of maps, fields in column order, null fields left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultTable {
    columns: Vec<String>,
    rows: Vec<Row>,
    /// Column name to index, kept in step with `columns` (see `eval::table`).
    index: HashMap<String, usize>,
}

/// One result row: an entry per column, `None` for null.
pub type Row = Vec<Option<FieldValue>>;

impl ResultTable {
    /// Column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The rows; each has one entry per column, `None` for null.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The value of `column` in row `row`.
    pub fn value(&self, row: usize, column: &str) -> Option<&FieldValue> {
        let index = self.column_index(column)?;
        self.rows.get(row)?.get(index)?.as_ref()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl serde::Serialize for ResultTable {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        struct RowMap<'a>(&'a [String], &'a Row);
        impl serde::Serialize for RowMap<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(None)?;
                for (column, value) in self.0.iter().zip(self.1) {
                    if let Some(value) = value {
                        map.serialize_entry(column, value)?;
                    }
                }
                map.end()
            }
        }
        let mut seq = serializer.serialize_seq(Some(self.rows.len()))?;
        for row in &self.rows {
            seq.serialize_element(&RowMap(&self.columns, row))?;
        }
        seq.end()
    }
}

/// An event as a search over raw events reads it: its time, a way to test a field's values
/// without building every field, and every field when the event becomes a result row.
pub trait EventFields {
    /// `_time`, microseconds since the epoch.
    fn time_micros(&self) -> i64;
    /// Calls `test` on the values of `field` and says whether one passed; `None` when the
    /// event has no such field. `_raw` is the event's text.
    fn any_value(&self, field: &str, test: &mut dyn FnMut(&str) -> bool) -> Option<bool>;
    /// Every field with its value, `_raw` and `_time` included, for a result row.
    fn fields(&self) -> Vec<(String, FieldValue)>;
    /// [`EventFields::fields`] of those named in `names`, and every internal one (`_…`).
    fn fields_named(&self, names: &BTreeSet<String>) -> Vec<(String, FieldValue)> {
        let mut fields = self.fields();
        fields.retain(|(name, _)| name.starts_with('_') || names.contains(name));
        fields
    }
}

struct EventLookup<'e>(&'e dyn EventFields);

impl FieldLookup for EventLookup<'_> {
    fn any_value(&self, field: &str, test: &mut dyn FnMut(&str) -> bool) -> Option<bool> {
        self.0.any_value(field, test)
    }
}

/// Whether `name` (lower-cased) is an eval function taking `arity` arguments, for the parser.
pub(crate) fn known_function(name: &str, arity: usize) -> Result<(), String> {
    functions::check(name, arity)
}

/// Compiles each `foreach`'s commands once with a sample field, so that a template that can
/// never compile is an error of the search rather than of a row.
pub(crate) fn check_templates(search: &Search) -> Result<(), SplError> {
    for command in search.commands() {
        if let Command::Foreach(foreach) = command {
            let wildcards = foreach.fields.first().map_or(0, crate::spl::FieldGlob::wildcards);
            let sample = vec!["0"; wildcards];
            let text = fill_template(&foreach.template, "field", &sample);
            search.compile_nested(&text, foreach.template_offset)?;
        }
    }
    Ok(())
}

/// `foreach`'s template for one field: "`<<FIELD>>` The whole field name", "`<<MATCHSTR>>`
/// The part of the field name that matches the wildcard values", "`<<MATCHSEG1>>` The part
/// of the field name that matches the first wildcard".
fn fill_template(template: &str, field: &str, captures: &[&str]) -> String {
    let mut text = template.replace("<<FIELD>>", field);
    text = text.replace("<<MATCHSTR>>", &captures.concat());
    for (index, capture) in captures.iter().enumerate() {
        text = text.replace(&format!("<<MATCHSEG{}>>", index + 1), capture);
    }
    text
}

impl Search {
    /// Whether the search reads `record` at all: it is of the `tstats` node and passes the
    /// `where` clause. [`Search::run`] over the selected records alone gives the same rows as
    /// over every record.
    /// A subsearch or `join` that starts with `tstats` counts too, as it reads the same
    /// records.
    pub fn selects(&self, record: &NodeRecord) -> bool {
        match self.nested_inputs() {
            None => self.tstats().is_some_and(|tstats| tstats::selects(tstats, record)),
            Some(inputs) => inputs.records.iter().any(|tstats| tstats::selects(tstats, record)),
        }
    }

    /// Whether the search reads `event`: it passes the condition of a pipeline over events,
    /// the top one or one inside (a subsearch in the condition is taken as passing, since
    /// its rows are known only at the end).
    pub fn selects_event(&self, event: &dyn EventFields) -> bool {
        let lookup = EventLookup(event);
        self.event_inputs().iter().any(|input| match &input.matcher {
            Some(matcher) => matcher.holds(&lookup),
            None => preselects(&input.condition, true, &lookup),
        })
    }

    /// Whether some pipeline of the search reads raw events, so that the events themselves
    /// (not only their data model records) must reach it.
    pub fn reads_events(&self) -> bool {
        !self.event_inputs().is_empty()
    }

    /// Runs a `tstats` search over `records`: those of its node are read once, in order;
    /// others are skipped. Records may be owned or borrowed, so a reader's iterator can be
    /// passed as it is and nothing but the `tstats` groups is held.
    pub fn run<R: Borrow<NodeRecord>>(
        &self,
        records: impl IntoIterator<Item = R>,
    ) -> Result<ResultTable, EvalError> {
        let mut run = self.start();
        for record in records {
            run.add(record.borrow())?;
        }
        run.finish()
    }

    /// A run fed one record or event at a time, for callers that read their input once for
    /// several searches. [`SearchRun::finish`] gives what [`Search::run`] over the same
    /// records gives. `now()` is the time of the newest record or event the search reads
    /// (its `tstats` selects, or its event condition passes) unless [`SearchRun::at`] says;
    /// a search that reads none (`| makeresults`, `| inputlookup`) sees 0, 1970-01-01.
    pub fn start(&self) -> SearchRun<'_> {
        SearchRun {
            root: PipelineRun::new(self, self.pipeline()),
            now_micros: None,
            newest: i64::MIN,
            finish: Finish { prune: true, batch_rows: Some(FINISH_BATCH_ROWS) },
        }
    }
}

/// Lets the `tstats` of `runs` that make a record's group key alike (the same `by` fields,
/// span and fill value) make it once per record: [`SearchRun::add_selected`] takes and leaves
/// it in `keys`, which the caller moves on to each new record.
pub(crate) fn share_record_keys(runs: &mut [SearchRun<'_>], keys: &mut tstats::RecordKeys) {
    let mut groups = Vec::new();
    for run in runs {
        run.root.tstats_groups(&mut groups);
    }
    tstats::share_keys(groups, keys);
}

/// Lets the `tstats` of `runs` that build the very same groups (the same records, keys and
/// aggregates) build them once: the first folds each record in, and each finishes the
/// table into its own rows. `runs` are in the order the scan offers them records.
pub(crate) fn share_groups(runs: &mut [SearchRun<'_>]) {
    let mut groups = Vec::new();
    for run in runs {
        run.root.tstats_groups(&mut groups);
    }
    tstats::share_tables(groups);
}

/// Whether `condition` may hold: as [`condition_holds`], with each subsearch taken as
/// holding (it is decided at the end). Only `AND` of terms narrows; any other shape with a
/// subsearch inside passes everything.
/// `has_subsearch` is the condition's own (known beforehand: working it out walks the
/// whole condition, for every event).
fn preselects(condition: &Condition, has_subsearch: bool, fields: &dyn FieldLookup) -> bool {
    if !has_subsearch {
        return condition_holds(condition, fields);
    }
    match condition {
        Condition::And(terms) => {
            terms.iter().all(|term| preselects(term, term.has_subsearch(), fields))
        }
        _ => true,
    }
}

/// Whether `command` works row by row, so rows can go through it as they come. A command
/// that reads `now()` waits: the search's time is known only once every event is read. So
/// does `foreach`, whose template may be any command (`head`, `sort`, `stats`).
fn is_streaming(command: &Command) -> bool {
    if reads_now(command) {
        return false;
    }
    match command {
        Command::Search(condition) => !condition.has_subsearch(),
        Command::Where(_)
        | Command::Eval(_)
        | Command::Rename(_)
        | Command::Convert(_)
        | Command::Fields { .. }
        | Command::Bin(_)
        | Command::Rex(_)
        | Command::Regex(_)
        | Command::Makemv(_)
        | Command::Nomv(_)
        | Command::Mvexpand { .. }
        | Command::Lookup(_)
        | Command::Spath(_)
        | Command::Xmlkv(_)
        | Command::Fromjson { .. }
        | Command::Replace(_) => true,
        Command::Fillnull(fillnull) => !fillnull.fields.is_empty(),
        _ => false,
    }
}

/// Whether `command` works row by row and makes the same columns whatever the rows hold, so
/// that running it over the rows a batch at a time, and putting the batches together,
/// gives the table it gives over all of them at once. Not the commands that make a column
/// per key they find in the data (`spath`, `xmlkv`, `fromjson`): a batch without the key
/// would put the columns made after it in another order. A `join` counts: by the time a
/// `tstats` finishes its subsearch has, and each row is joined on its own; so does a
/// `search` with a subsearch, its condition resolved once for every batch. So do `table`,
/// whose columns depend on the columns alone, and `dedup` without `sortby`, which keeps
/// what it has seen from one batch to the next (see [`commands::Deduplicated`]).
fn batches_alike(command: &Command) -> bool {
    matches!(command, Command::Join(_) | Command::Table(_))
        || matches!(command, Command::Dedup(dedup) if dedup.sort_by.is_empty())
        || matches!(command, Command::Search(condition) if condition.has_subsearch())
        || (is_streaming(command)
            && !matches!(command, Command::Spath(_) | Command::Xmlkv(_) | Command::Fromjson { .. }))
}

/// Whether an expression of `command` calls `now()` or `time()`.
fn reads_now(command: &Command) -> bool {
    let mut found = false;
    let mut check = |expr: &crate::spl::Expr| {
        expr.visit(&mut |e| {
            if let crate::spl::ExprKind::Call { name, .. } = &e.kind {
                found |= matches!(name.as_str(), "now" | "time");
            }
        });
    };
    match command {
        Command::Where(expr) => check(expr),
        Command::Eval(assignments) => assignments.iter().for_each(|a| check(&a.expr)),
        _ => {}
    }
    found
}

/// Whether `command` keeps at most one row per row and leaves `_time` alone, so that rows
/// can still be put in their events' order after it.
fn keeps_event_order(command: &Command) -> bool {
    if reads_now(command) {
        return false;
    }
    let touches_time = |field: &str| field == "_time";
    match command {
        Command::Search(condition) => !condition.has_subsearch(),
        Command::Where(_) | Command::Regex(_) | Command::Nomv(_) => true,
        Command::Eval(assignments) => !assignments.iter().any(|a| touches_time(&a.field)),
        Command::Rex(rex) => rex.sed.is_none() || !touches_time(&rex.field),
        Command::Makemv(makemv) => !touches_time(&makemv.field),
        Command::Lookup(lookup) => !lookup.outputs.iter().any(|(_, field)| touches_time(field)),
        _ => false,
    }
}

/// The fields of an event that a pipeline over raw events (its `commands`) can read, when its
/// text says which: those named by its commands up to the first that keeps only the fields
/// it names (`stats`, `table`, `fields`), since no later command sees the others. Every
/// internal field is read too (`_time` orders the rows; `_raw` is what a free-text term
/// reads). `None` when the condition holds a subsearch, when a command may read a field it
/// does not name (a wildcard, a dynamic `eval {name}`, `searchmatch`, `fillnull` or a
/// `lookup` of every field, a command not listed here), or when none keeps only named
/// fields: the rows then hold every field, as the results would. A row of every field of a
/// Sysmon event is some eighty values, each worked out, where a `stats count by Computer`
/// reads one.
fn fields_named(commands: &[Command]) -> Option<BTreeSet<String>> {
    // A condition with a subsearch is tested on the rows, once the subsearch's rows, and so
    // the fields the condition names, are known.
    if let Some(Command::Events(condition)) = commands.first()
        && condition.has_subsearch()
    {
        return None;
    }
    let mut named = BTreeSet::new();
    for command in commands.iter().skip(1) {
        let (reads, keeps_only_these) = command_reads(command)?;
        for field in reads {
            if field.contains(['*', '{']) {
                return None;
            }
            named.insert(field.to_owned());
        }
        if keeps_only_these {
            return Some(named);
        }
    }
    None
}

/// The fields `command` names, and whether it keeps only those (see [`fields_named`]);
/// `None` when it may read others. A command belongs on the list only if it reads a field by
/// naming it, never by a pattern or by looking at every column (`fillnull` or `join` without
/// fields, `addtotals`, `foreach` would read fields they do not name).
fn command_reads(command: &Command) -> Option<(Vec<&str>, bool)> {
    // `searchmatch` reads the fields its search text names, which only a run sees.
    fn expression(expr: &Expr) -> Option<Vec<&str>> {
        let mut plain = true;
        expr.visit(&mut |inner| {
            if let ExprKind::Call { name, .. } = &inner.kind {
                plain &= name != "searchmatch";
            }
        });
        plain.then(|| expr.fields())
    }
    let mut reads = Vec::new();
    let keeps_only_these = match command {
        Command::Stats(stats) => {
            for aggregate in &stats.aggregates {
                match &aggregate.argument {
                    Some(AggregateArgument::Field(field)) => reads.push(field.as_str()),
                    Some(AggregateArgument::Eval(expr)) => reads.extend(expression(expr)?),
                    None => {}
                }
            }
            reads.extend(stats.by.iter().map(String::as_str));
            stats.kind == StatsKind::Stats
        }
        Command::Table(fields) | Command::Fields { remove: false, fields } => {
            reads.extend(fields.iter().map(FieldGlob::text));
            true
        }
        Command::Eval(assignments) => {
            for assignment in assignments {
                reads.push(&assignment.field);
                reads.extend(expression(&assignment.expr)?);
            }
            false
        }
        Command::Where(expr) => {
            reads.extend(expression(expr)?);
            false
        }
        Command::Search(condition) if !condition.has_subsearch() => {
            reads.extend(condition.fields());
            false
        }
        Command::Rename(pairs) => {
            reads.extend(pairs.iter().flat_map(|pair| [pair.from.text(), pair.to.text()]));
            false
        }
        Command::Bin(bin) => {
            reads.push(&bin.field);
            reads.extend(bin.output.as_deref());
            false
        }
        Command::Rex(rex) => {
            reads.push(&rex.field);
            false
        }
        Command::Regex(regex) => {
            reads.push(&regex.field);
            false
        }
        Command::Fillnull(fillnull) if !fillnull.fields.is_empty() => {
            reads.extend(fillnull.fields.iter().map(String::as_str));
            false
        }
        Command::Dedup(dedup) => {
            reads.extend(dedup.fields.iter().map(String::as_str));
            reads.extend(dedup.sort_by.iter().map(|key| key.field.as_str()));
            false
        }
        Command::Sort(sort) => {
            reads.extend(sort.keys.iter().map(|key| key.field.as_str()));
            false
        }
        Command::Head(_) | Command::Tail(_) | Command::Reverse => false,
        // `OUTPUTNEW` leaves a row's own value alone, so the outputs are read too.
        Command::Lookup(lookup) if !lookup.outputs.is_empty() => {
            for (column, field) in lookup.inputs.iter().chain(&lookup.outputs) {
                reads.extend([column.as_str(), field.as_str()]);
            }
            false
        }
        _ => return None,
    };
    Some((reads, keeps_only_these))
}

/// A search being run record by record; see [`Search::start`].
pub struct SearchRun<'s> {
    root: PipelineRun<'s>,
    now_micros: Option<i64>,
    newest: i64,
    finish: Finish,
}

/// How a run's `tstats` groups become rows; both shortcuts give the same rows.
#[derive(Clone, Copy)]
struct Finish {
    /// Whether a group an inner `join` drops is dropped before it becomes a row (see
    /// `eval::prune`).
    prune: bool,
    /// How many groups at a time become rows, each batch going through the commands that
    /// work row by row before the next is made (see [`batches_alike`]): a hunting search
    /// that groups every process launch and then keeps a few holds a batch, not every
    /// launch, as rows. `None`: all at once.
    batch_rows: Option<usize>,
}

/// Rows of a `tstats` made at a time when its groups become rows, when a search finishes in
/// batches. Two searches finish at once, each with a batch of rows in hand, and a row of process
/// fields with its command lines is a few kilobytes: batches of 4,096 put the peak of a run
/// over a whole content tree there (107 MB against 99 MB over a 2 GiB export), and cost no
/// less time.
pub const FINISH_BATCH_ROWS: usize = 1024;

impl SearchRun<'_> {
    /// Sets what `now()` and `time()` return: the time the search runs. Without it they
    /// return the time of the newest record or event the search reads, so that results
    /// change neither with the day nor with what else is read in the same pass: other
    /// searches' records, or events the prefilter passes over.
    #[must_use]
    pub fn at(mut self, now_micros: i64) -> Self {
        self.now_micros = Some(now_micros);
        self
    }

    /// Builds every `tstats` group into a row, even those the inner `join` after it drops
    /// anyway: the same rows, slower. For checking that dropping them early changes nothing.
    #[must_use]
    pub fn unpruned(mut self) -> Self {
        self.finish.prune = false;
        self
    }

    /// Gives a search over raw events every field of each event it reads, not only those its
    /// commands name: the same rows, slower. For checking that naming them changes nothing.
    #[must_use]
    pub fn every_field(mut self) -> Self {
        self.root.every_field();
        self
    }

    /// Makes every row of a `tstats` before the commands after it run, rather than a batch
    /// at a time: the same rows, held all at once. For checking that batching changes
    /// nothing.
    #[must_use]
    pub fn whole(mut self) -> Self {
        self.finish.batch_rows = None;
        self
    }

    /// Makes the rows of a `tstats` `rows` at a time (1,024 unless said). Tests make
    /// batches tiny, so that a handful of records spans several.
    #[doc(hidden)]
    #[must_use]
    pub fn in_batches_of(mut self, rows: usize) -> Self {
        self.finish.batch_rows = Some(rows.max(1));
        self
    }

    /// Folds one data model record into a `tstats` search (and its subsearches).
    pub fn add(&mut self, record: &NodeRecord) -> Result<(), EvalError> {
        self.add_with_keys(record, None)
    }

    /// [`SearchRun::add`], with the keys other searches made of the record (see
    /// [`share_record_keys`]).
    fn add_with_keys(
        &mut self,
        record: &NodeRecord,
        keys: Option<&mut tstats::RecordKeys>,
    ) -> Result<(), EvalError> {
        if self.root.add(record, keys)? {
            self.newest = self.newest.max(record.time_micros);
        }
        Ok(())
    }

    /// How many groups or rows the run holds so far: what finishing it costs, roughly.
    pub(crate) fn held(&self) -> usize {
        self.root.held()
    }

    /// Every table of groups the search keeps as it reads: its `tstats`, its subsearches'
    /// too, and the `stats` fed a raw search's events.
    pub(crate) fn groups<'a>(&'a mut self, into: &mut Vec<&'a mut dyn spill::Spill>) {
        self.root.groups(into);
    }

    /// [`SearchRun::add`] for a record the caller knows [`Search::selects`]: a search
    /// whose one input is its `tstats` folds it without asking the `where` clause again.
    /// `keys` holds the group keys other searches made of the same record.
    pub(crate) fn add_selected(
        &mut self,
        record: &NodeRecord,
        keys: &mut tstats::RecordKeys,
    ) -> Result<(), EvalError> {
        let search = self.root.search;
        debug_assert!(search.selects(record), "a record the search does not select");
        // Without nested inputs, the pipelines inside (`append [| makeresults]`) read none,
        // so the top `tstats` is the one that takes the record.
        let (State::Tstats(groups), None) = (&mut self.root.state, search.nested_inputs()) else {
            return self.add_with_keys(record, Some(keys));
        };
        groups.fold(record, Some(keys))?;
        self.newest = self.newest.max(record.time_micros);
        Ok(())
    }

    /// Offers one raw event to a search over events (and its subsearches).
    pub fn add_event(&mut self, event: &dyn EventFields) -> Result<(), EvalError> {
        if self.root.add_event(event, false)? {
            self.newest = self.newest.max(event.time_micros());
        }
        Ok(())
    }

    /// [`SearchRun::add_event`] for an event the caller knows [`Search::selects_event`]: a
    /// search whose one input is its event condition takes it without testing it again.
    pub(crate) fn add_event_selected(&mut self, event: &dyn EventFields) -> Result<(), EvalError> {
        debug_assert!(self.root.search.selects_event(event), "an event the search does not read");
        let selected = self.root.search.nested_inputs().is_none();
        if self.root.add_event(event, selected)? {
            self.newest = self.newest.max(event.time_micros());
        }
        Ok(())
    }

    /// Runs the rest of the pipeline and returns the result.
    pub fn finish(self) -> Result<ResultTable, EvalError> {
        let now = self.now_micros.unwrap_or(self.newest.max(0));
        self.root.finish(now, self.finish)
    }

    /// [`SearchRun::finish`], the result handed to `each` a piece at a time: the pieces, in
    /// order, put together are the table `finish` returns. A `tstats`, or a raw search's
    /// `stats`, whose every later command works row by row (a hunting search that tables
    /// every process launch) gives its rows a batch at a time, so that they need not all be
    /// held; other searches give one piece. On an error, the pieces already given are not
    /// the search's result.
    pub fn finish_each(self, each: &mut dyn FnMut(ResultTable)) -> Result<(), EvalError> {
        let now = self.now_micros.unwrap_or(self.newest.max(0));
        self.root.finish_each(now, self.finish, each)
    }
}

/// One pipeline being run: the top search or a subsearch, with the runs of the subsearches
/// written in it, which read the same input.
struct PipelineRun<'s> {
    search: &'s Search,
    pipeline: &'s Pipeline,
    state: State<'s>,
    children: Vec<PipelineRun<'s>>,
    /// The most rows of this pipeline the command it is written in reads: a `join` reads
    /// the first [`JOIN_MAX_ROWS`] of its subsearch, a search condition the first
    /// [`SUBSEARCH_MAX_ROWS`].
    rows_read: Option<usize>,
}

enum State<'s> {
    Tstats(tstats::Groups<'s>),
    Events {
        /// Whether the condition holds a subsearch (see [`preselects`]).
        subsearch: bool,
        /// The condition made ready for many events, as the search made it when compiled
        /// (see [`Search::events_matcher`]); `None` when it holds a subsearch.
        matcher: Option<&'s Matcher>,
        /// The fields of an event the pipeline can read, when its commands say
        /// ([`fields_named`]); `None`: every field.
        named: Option<BTreeSet<String>>,
        /// Index of the first command that waits for every row.
        boundary: usize,
        /// Selected events not yet through the streaming commands.
        pending: ResultTable,
        sink: Sink<'s>,
    },
    /// A generating command that reads no input (`makeresults`, `inputlookup`).
    Generated,
}

enum Sink<'s> {
    /// Rows kept, in reading order, for the commands after the boundary.
    Buffer(ResultTable),
    /// `stats` fed as rows come.
    Stats(stats::StatsRun<'s>),
}

/// Selected events gathered before the streaming commands run over them. Each holds every
/// field of its event the search may read (see [`fields_named`]), and a content tree's
/// searches over raw events each gather their own until the scan ends: at 256, a tree's
/// batches held 7 MB at the peak of its run. A batch of 64 runs the commands as fast, per
/// event.
const BATCH_ROWS: usize = 64;

impl<'s> PipelineRun<'s> {
    /// See [`SearchRun::every_field`].
    fn every_field(&mut self) {
        if let State::Events { named, .. } = &mut self.state {
            *named = None;
        }
        self.children.iter_mut().for_each(PipelineRun::every_field);
    }

    fn new(search: &'s Search, pipeline: &'s Pipeline) -> Self {
        let commands = &pipeline.commands;
        let span_of = |index: usize| pipeline.spans.get(index).cloned().unwrap_or(0..0);
        let state = match commands.first() {
            Some(Command::Tstats(tstats)) => State::Tstats(tstats::Groups::new(search, tstats)),
            Some(Command::Events(condition)) => {
                let first_where = |keep: fn(&Command) -> bool| {
                    commands
                        .iter()
                        .enumerate()
                        .skip(1)
                        .find(|(_, command)| !keep(command))
                        .map_or(commands.len(), |(index, _)| index)
                };
                let (boundary, sink) = if condition.has_subsearch() {
                    // The events are filtered at the end, once the subsearch is known.
                    (1, Sink::Buffer(ResultTable::default()))
                } else {
                    let streaming = first_where(is_streaming);
                    match commands.get(streaming) {
                        Some(Command::Stats(stats))
                            if stats.kind == StatsKind::Stats
                                && !stats
                                    .aggregates
                                    .iter()
                                    .any(|a| a.function.depends_on_order()) =>
                        {
                            let location = search.locate(&span_of(streaming));
                            (streaming, Sink::Stats(stats::StatsRun::new(stats, location)))
                        }
                        // Rows held to be put in Splunk's order must still be one per event,
                        // with the event's own `_time`.
                        _ => (first_where(keeps_event_order), Sink::Buffer(ResultTable::default())),
                    }
                };
                let subsearch = condition.has_subsearch();
                let named = fields_named(commands);
                State::Events {
                    subsearch,
                    matcher: search.events_matcher(condition),
                    named,
                    boundary,
                    pending: ResultTable::default(),
                    sink,
                }
            }
            _ => State::Generated,
        };
        let children = commands
            .iter()
            .flat_map(|command| {
                let rows_read = match command {
                    Command::Join(_) => Some(JOIN_MAX_ROWS),
                    // A subsearch in a search condition is formatted from its first rows.
                    Command::Events(_) | Command::Search(_) => Some(SUBSEARCH_MAX_ROWS),
                    _ => None,
                };
                command.pipelines().into_iter().map(move |nested| (nested, rows_read))
            })
            .flat_map(|(nested, rows_read)| match nested.commands.first() {
                // `appendpipe`'s commands read the rows so far; the subsearches inside them
                // read the input.
                Some(first) if !is_generating(first) => nested
                    .commands
                    .iter()
                    .flat_map(Command::pipelines)
                    .map(|p| PipelineRun::new(search, p))
                    .collect::<Vec<_>>(),
                _ => {
                    let mut run = PipelineRun::new(search, nested);
                    run.rows_read = rows_read;
                    vec![run]
                }
            })
            .collect();
        PipelineRun { search, pipeline, state, children, rows_read: None }
    }

    /// Offers `record` to this pipeline's `tstats` and its nested pipelines': whether one
    /// of them reads it.
    fn add(
        &mut self,
        record: &NodeRecord,
        mut keys: Option<&mut tstats::RecordKeys>,
    ) -> Result<bool, EvalError> {
        let mut read = false;
        for child in &mut self.children {
            read |= child.add(record, keys.as_deref_mut())?;
        }
        match &mut self.state {
            State::Tstats(groups) => Ok(groups.add(record, keys)? || read),
            _ => Ok(read),
        }
    }

    /// How many groups or rows this pipeline and those nested in it hold.
    fn held(&self) -> usize {
        let own = match &self.state {
            State::Tstats(groups) => groups.len(),
            State::Events { pending, sink, .. } => {
                pending.len()
                    + match sink {
                        Sink::Buffer(rows) => rows.len(),
                        Sink::Stats(stats) => stats.len(),
                    }
            }
            State::Generated => 0,
        };
        own + self.children.iter().map(PipelineRun::held).sum::<usize>()
    }

    /// Every `tstats` of this pipeline and the pipelines nested in it.
    fn tstats_groups<'a>(&'a mut self, into: &mut Vec<&'a mut tstats::Groups<'s>>) {
        for child in &mut self.children {
            child.tstats_groups(into);
        }
        if let State::Tstats(groups) = &mut self.state {
            into.push(groups);
        }
    }

    /// Every table of groups of this pipeline and the pipelines nested in it.
    fn groups<'a>(&'a mut self, into: &mut Vec<&'a mut dyn spill::Spill>) {
        for child in &mut self.children {
            child.groups(into);
        }
        match &mut self.state {
            State::Tstats(groups) => into.push(groups),
            State::Events { sink: Sink::Stats(stats), .. } => into.push(stats),
            _ => {}
        }
    }

    /// Offers `event` to this pipeline's event search and its nested pipelines': whether
    /// one of them reads it. With `selected`, this pipeline's condition is known to hold.
    fn add_event(&mut self, event: &dyn EventFields, selected: bool) -> Result<bool, EvalError> {
        let mut read = false;
        for child in &mut self.children {
            read |= child.add_event(event, false)?;
        }
        let State::Events { pending, subsearch, matcher, named, .. } = &mut self.state else {
            return Ok(read);
        };
        let Some(Command::Events(condition)) = self.pipeline.commands.first() else {
            return Ok(read);
        };
        if !selected {
            let lookup = EventLookup(event);
            let holds = match *matcher {
                Some(matcher) => matcher.holds(&lookup),
                None => preselects(condition, *subsearch, &lookup),
            };
            if !holds {
                return Ok(read);
            }
        }
        match named {
            Some(named) => pending.push_pairs(event.fields_named(named)),
            None => pending.push_pairs(event.fields()),
        }
        if pending.len() >= BATCH_ROWS {
            let env = Env::streaming(self.search);
            self.flush(&env)?;
        }
        Ok(true)
    }

    /// Runs the pending events through the streaming commands into the sink.
    fn flush(&mut self, env: &Env<'_>) -> Result<(), EvalError> {
        let pipeline = self.pipeline;
        let State::Events { boundary, pending, sink, .. } = &mut self.state else { return Ok(()) };
        if pending.is_empty() {
            return Ok(());
        }
        let mut batch = std::mem::take(pending);
        run_commands(&mut batch, pipeline, 1..*boundary, env)?;
        match sink {
            Sink::Buffer(rows) => rows.append(batch),
            Sink::Stats(stats) => stats.add(&batch, env)?,
        }
        Ok(())
    }

    /// Finishes the subsearches, then this pipeline, into one table.
    fn finish(self, now_micros: i64, finish: Finish) -> Result<ResultTable, EvalError> {
        let mut table = None;
        self.finish_each(now_micros, finish, &mut |rows| gather(&mut table, rows))?;
        Ok(table.unwrap_or_default())
    }

    /// Finishes a subsearch into the packed rows the command that reads it is given,
    /// packed a batch at a time as they are made.
    fn finish_packed(self, now_micros: i64, finish: Finish) -> Result<PackedTable, EvalError> {
        let mut packed = PackedTable::default();
        self.finish_each(now_micros, finish, &mut |rows| packed.push_table(&rows))?;
        Ok(packed)
    }

    /// Finishes the subsearches, then this pipeline: its rows given to `each` a batch at a
    /// time when it may (see [`SearchRun::finish_each`]), else as one table.
    fn finish_each(
        mut self,
        now_micros: i64,
        finish: Finish,
        each: &mut dyn FnMut(ResultTable),
    ) -> Result<(), EvalError> {
        let mut subsearches = HashMap::new();
        for child in std::mem::take(&mut self.children) {
            let start = child.pipeline.start;
            subsearches.insert(start, child.finish_packed(now_micros, finish)?);
        }
        let env = Env { search: self.search, now_micros, subsearches: &subsearches };
        self.flush(&env)?;
        let pipeline = self.pipeline;
        let commands = pipeline.commands.len();
        let table = match self.state {
            State::Tstats(groups) => {
                let keep = match pipeline.commands.first() {
                    Some(Command::Tstats(tstats)) if finish.prune => {
                        prune::join_keys(pipeline, tstats, &env)
                    }
                    _ => None,
                };
                let rows = Box::new(|batch: usize, sink: &mut RowSink<'_>| {
                    groups.finish_with(keep.as_ref(), batch, sink)
                });
                match finish_in_batches(rows, 1, pipeline, self.rows_read, &env, finish, each)? {
                    Some(table) => table,
                    None => return Ok(()),
                }
            }
            State::Events { boundary, sink, .. } => match sink {
                Sink::Stats(stats) => {
                    let rows =
                        Box::new(|batch, sink: &mut RowSink<'_>| stats.finish_with(batch, sink));
                    let (first, read) = (boundary + 1, self.rows_read);
                    match finish_in_batches(rows, first, pipeline, read, &env, finish, each)? {
                        Some(table) => table,
                        None => return Ok(()),
                    }
                }
                Sink::Buffer(mut table) => {
                    if let Some(Command::Events(condition)) = pipeline.commands.first()
                        && condition.has_subsearch()
                    {
                        let span = pipeline.spans.first().cloned().unwrap_or(0..0);
                        let resolved = combine::resolve(condition, &env, &span)?;
                        commands::search(&mut table, &resolved);
                    }
                    newest_first(&mut table);
                    run_commands(&mut table, pipeline, boundary..commands, &env)?;
                    table
                }
            },
            State::Generated => {
                let mut table = ResultTable::default();
                run_commands(&mut table, pipeline, 0..commands, &env)?;
                table
            }
        };
        each(table);
        Ok(())
    }
}

/// Takes rows a batch at a time.
type RowSink<'a> = dyn FnMut(ResultTable) -> Result<(), EvalError> + 'a;
/// Makes rows `batch` at a time (its argument) into a [`RowSink`]: a `tstats`'s groups, a
/// `stats`'s.
type RowMaker<'a> = dyn FnOnce(usize, &mut RowSink<'_>) -> Result<(), EvalError> + 'a;

/// Runs the commands of `pipeline` from `first` on over the rows `rows` makes (a `tstats`'s
/// groups, a `stats`'s): a batch at a time through those that allow it (see
/// [`Finish::batch_rows`]), given to `each` as they are made when every command does
/// (`None` then), else as the table returned. A `stats` after those commands folds the
/// batches as they come, and its rows go through the commands after it the same way.
/// `rows_read` is what the command the pipeline is written in reads of it: batches given
/// to `each` stop there.
fn finish_in_batches(
    rows: Box<RowMaker<'_>>,
    first: usize,
    pipeline: &Pipeline,
    rows_read: Option<usize>,
    env: &Env<'_>,
    finish: Finish,
    each: &mut dyn FnMut(ResultTable),
) -> Result<Option<ResultTable>, EvalError> {
    let commands = pipeline.commands.len();
    let alike = match finish.batch_rows {
        Some(_) => (first..commands)
            .find(|&index| !pipeline.commands.get(index).is_some_and(batches_alike))
            .unwrap_or(commands),
        None => first,
    };
    // A `stats` where the batches stop folds them as they come: its groups are few
    // beside the rows (a hunting search's `tstats` by file and hour, then `stats` by
    // host and extension), and its rows go on through the rest a batch at a time too.
    let mut folds = match (finish.batch_rows, pipeline.commands.get(alike)) {
        (Some(_), Some(Command::Stats(stats))) if stats.kind == StatsKind::Stats => {
            let span = pipeline.spans.get(alike).cloned().unwrap_or(0..0);
            Some(stats::StatsRun::new(stats, env.search.locate(&span)))
        }
        _ => None,
    };
    let batch =
        finish.batch_rows.filter(|_| alike > first || folds.is_some()).unwrap_or(usize::MAX);
    // When every command works row by row, the first rows made are the first of
    // the result: past what the `join` reads, no more are kept. A join's broad
    // subsearch (every process launch, renamed) would otherwise be held whole.
    let wanted = rows_read.filter(|_| alike == commands && batch < usize::MAX);
    // A pipeline whose every command works row by row gives its batches as they are
    // made: put together, they are the table. A subsearch's are cut at what its command
    // reads.
    let streams = alike == commands;
    let (mut handed, mut pieces) = (0, 0);
    let mut table: Option<ResultTable> = None;
    // Over the whole table, the error is that of the first command to fail, at
    // its first failing row. A batch that fails at command `at` ends the rows, but
    // the batches after it still go through the commands before `at`: one of them
    // failing on a later row is the error the whole table would give. Rows past
    // what the join reads are run through the commands for the same reason, and
    // dropped.
    let mut failed: Option<(usize, EvalError)> = None;
    let mut deduplicated: HashMap<usize, commands::Deduplicated> = HashMap::new();
    let mut resolved: HashMap<usize, Condition> = HashMap::new();
    rows(batch, &mut |mut rows| {
        let until = failed.as_ref().map_or(alike, |(at, _)| *at);
        for at in first..until {
            let done = match pipeline.commands.get(at) {
                Some(Command::Dedup(dedup)) => {
                    deduplicated.entry(at).or_default().keep_new(&mut rows, dedup);
                    Ok(())
                }
                Some(Command::Search(condition)) if condition.has_subsearch() => {
                    let span = pipeline.spans.get(at).cloned().unwrap_or(0..0);
                    match resolved.entry(at) {
                        Entry::Occupied(known) => Ok(known.into_mut()),
                        Entry::Vacant(slot) => combine::resolve(condition, env, &span)
                            .map(|condition| slot.insert(condition)),
                    }
                    .map(|condition| commands::search(&mut rows, condition))
                }
                _ => run_commands(&mut rows, pipeline, at..at + 1, env),
            };
            if let Err(err) = done {
                failed = Some((at, err));
                return Ok(());
            }
        }
        if failed.is_some() {
            return Ok(());
        }
        if let Some(run) = &mut folds {
            if let Err(err) = run.add(&rows, env) {
                failed = Some((alike, err));
            }
            return Ok(());
        }
        if !streams {
            gather(&mut table, rows);
            return Ok(());
        }
        if let Some(wanted) = wanted {
            // Past the cap, batches still go through the commands (for their errors),
            // but only the first, perhaps empty, is handed on.
            if handed >= wanted && pieces > 0 {
                return Ok(());
            }
            rows.rows.truncate(wanted - handed);
        }
        handed += rows.len();
        pieces += 1;
        each(rows);
        Ok(())
    })?;
    if let Some((_, err)) = failed {
        return Err(err);
    }
    if let Some(run) = folds {
        let rows = Box::new(|batch, sink: &mut RowSink<'_>| run.finish_with(batch, sink));
        return finish_in_batches(rows, alike + 1, pipeline, rows_read, env, finish, each);
    }
    if streams {
        return Ok(None);
    }
    let mut table = table.unwrap_or_default();
    run_commands(&mut table, pipeline, alike..commands, env)?;
    Ok(Some(table))
}

/// Whether `command` makes rows from nothing (it may start a pipeline).
fn is_generating(command: &Command) -> bool {
    matches!(
        command,
        Command::Tstats(_) | Command::Events(_) | Command::Makeresults(_) | Command::Inputlookup(_)
    )
}

/// Puts rows read in file order into Splunk's order: newest first, and among rows of one
/// time the one read last first.
fn newest_first(table: &mut ResultTable) {
    let Some(index) = table.column_index("_time") else {
        table.rows.reverse();
        return;
    };
    table.rows.reverse();
    let time = |row: &Row| match row.get(index) {
        Some(Some(FieldValue::Single(text))) => parse_epoch_micros(text),
        _ => None,
    };
    table.rows.sort_by_key(|row| std::cmp::Reverse(time(row)));
}

/// Runs the commands at `range` of `pipeline` over `table`, in order.
fn run_commands(
    table: &mut ResultTable,
    pipeline: &Pipeline,
    range: Range<usize>,
    env: &Env<'_>,
) -> Result<(), EvalError> {
    for index in range {
        let Some(command) = pipeline.commands.get(index) else { break };
        let span = pipeline.spans.get(index).cloned().unwrap_or(0..0);
        run_command(table, command, &span, env)?;
    }
    Ok(())
}

/// Runs one command over `table`.
fn run_command(
    table: &mut ResultTable,
    command: &Command,
    span: &Range<usize>,
    env: &Env<'_>,
) -> Result<(), EvalError> {
    match command {
        Command::Tstats(_) | Command::Events(_) => {}
        Command::Rename(pairs) => commands::rename(table, pairs),
        Command::Convert(convert) => commands::convert_times(table, convert),
        Command::Search(condition) => {
            if condition.has_subsearch() {
                let resolved = combine::resolve(condition, env, span)?;
                commands::search(table, &resolved);
            } else {
                commands::search(table, condition);
            }
        }
        Command::Where(expr) => expr::where_command(table, expr, env)?,
        Command::Eval(assignments) => expr::eval_command(table, assignments, env)?,
        Command::Table(globs) => commands::table_columns(table, globs),
        Command::Fields { remove, fields } => commands::keep_fields(table, *remove, fields),
        Command::Stats(stats) => match stats.kind {
            StatsKind::Stats => {
                let mut run = stats::StatsRun::new(stats, env.search.locate(span));
                run.add(table, env)?;
                *table = run.finish()?;
            }
            _ => stats::annotate(table, stats, env)?,
        },
        Command::Bin(bin) => commands::bin(table, bin),
        Command::Rex(rex) => commands::rex(table, rex, env, span)?,
        Command::Regex(filter) => commands::regex(table, filter, env, span)?,
        Command::Fillnull(fillnull) => commands::fillnull(table, fillnull),
        Command::Dedup(dedup) => commands::dedup(table, dedup),
        Command::Sort(sort) => commands::sort(table, sort),
        Command::Head(count) => table.rows.truncate(*count),
        Command::Tail(count) => commands::tail(table, *count),
        Command::Reverse => table.rows.reverse(),
        Command::Mvexpand { field, limit } => commands::mvexpand(table, field, *limit),
        Command::Makemv(makemv) => commands::makemv(table, makemv, env, span)?,
        Command::Nomv(field) => commands::nomv(table, field),
        Command::Foreach(foreach) => {
            let columns = table.columns.clone();
            for column in columns {
                let captures = foreach.fields.iter().find_map(|glob| {
                    // "*" leaves Splunk's internal fields alone.
                    if column.starts_with('_') && glob.text().starts_with('*') {
                        return None;
                    }
                    glob.captures(&column)
                });
                let Some(captures) = captures else { continue };
                let text = fill_template(&foreach.template, &column, &captures);
                let commands = env
                    .search
                    .compile_nested(&text, foreach.template_offset)
                    .map_err(|err| EvalError::Compile(Box::new(err)))?;
                for command in &commands {
                    run_command(table, command, span, env)?;
                }
            }
        }
        Command::Makeresults(count) => combine::makeresults(table, *count, env),
        Command::Inputlookup(input) => combine::inputlookup(table, input, env),
        Command::Lookup(lookup) => combine::lookup(table, lookup, env),
        Command::Join(join) => combine::join(table, join, env),
        Command::Append(pipeline) => {
            if let Some(rows) = env.subsearches.get(&pipeline.start) {
                table.append(rows.unpack());
            }
        }
        Command::Appendpipe(pipeline) => {
            let mut copy = table.clone();
            run_commands(&mut copy, pipeline, 0..pipeline.commands.len(), env)?;
            table.append(copy);
        }
        Command::Spath(spath) => combine::spath(table, spath),
        Command::Xmlkv(field) => combine::xmlkv(table, field),
        Command::Fromjson { field, prefix } => combine::fromjson(table, field, prefix),
        Command::Transaction(transaction) => combine::transaction(table, transaction),
        Command::Replace(replace) => combine::replace(table, replace),
        Command::Addtotals { fieldname, fields } => combine::addtotals(table, fieldname, fields),
        Command::Format => combine::format(table),
        Command::Return(items) => combine::return_rows(table, items),
    }
    Ok(())
}

/// Epoch seconds of `micros` as Splunk prints `_time`: integer when whole, else up to six
/// decimals without trailing zeros.
pub(crate) fn epoch_seconds(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let magnitude = micros.unsigned_abs();
    let (seconds, fraction) = (magnitude / 1_000_000, magnitude % 1_000_000);
    if fraction == 0 {
        format!("{sign}{seconds}")
    } else {
        let digits = format!("{fraction:06}");
        format!("{sign}{seconds}.{}", digits.trim_end_matches('0'))
    }
}

/// Epoch seconds as text (`1582290855`, `1582290855.25`, `-1.5`) to microseconds; digits
/// past the sixth decimal are dropped.
pub(crate) fn parse_epoch_micros(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut micros_part = 0_i64;
    for digit in fraction.bytes().chain(std::iter::repeat(b'0')).take(6) {
        micros_part = micros_part * 10 + i64::from(digit - b'0');
    }
    let micros = whole.checked_mul(1_000_000)?.checked_add(micros_part)?;
    Some(if negative { -micros } else { micros })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipeline_names_the_fields_it_reads_up_to_its_first_projection() {
        let named = |text: &str| {
            let search =
                Search::compile(text, &crate::spl::MacroTable::default(), "none_filter").unwrap();
            fields_named(&search.pipeline().commands)
                .map(|named| named.into_iter().collect::<Vec<_>>().join(" "))
        };
        assert_eq!(
            named("search EventCode=1 | eval x=lower(Image) | stats count by x Computer | table *")
                .as_deref(),
            Some("Computer Image x")
        );
        assert_eq!(
            named("search a | eventstats dc(User) as n by Image | fields + Image n").as_deref(),
            Some("Image User n")
        );
        for every in [
            "search a | head 3",
            "search a | table *",
            "search a | fields - Image | table Image",
            "search a | eval {Image}=1 | stats count",
            "search a | where searchmatch(\"x\") | stats count",
            "search a | fillnull | stats count by Image",
            "search a | stats values(*) as * by Image",
            "search a | transaction Image | table Image",
            "search a [search b | fields User] | table Image",
        ] {
            assert_eq!(named(every), None, "{every}");
        }
    }

    #[test]
    fn prints_epoch_seconds_like_splunk() {
        assert_eq!(epoch_seconds(1_582_290_855_000_000), "1582290855");
        assert_eq!(epoch_seconds(1_582_290_855_250_000), "1582290855.25");
        assert_eq!(epoch_seconds(1), "0.000001");
        assert_eq!(epoch_seconds(-1_500_000), "-1.5");
        assert_eq!(epoch_seconds(i64::MIN), "-9223372036854.775808");
    }

    #[test]
    fn a_capped_subsearch_hands_on_its_first_rows_only() {
        // A join reads the first 50,000 rows of its subsearch: a subsearch's batches are
        // cut there as they are handed on, and the batches after it are not handed on
        // (they still go through the commands, for their errors: see
        // `combine::a_join_reads_the_first_fifty_thousand_rows_of_its_subsearch`).
        let text = "| tstats count from datamodel=Endpoint.Processes by Processes.process_guid \
                    | rename Processes.* as * | eval n=tonumber(process_guid)";
        let search = Search::compile(text, &crate::spl::MacroTable::new(), "").unwrap();
        let env = Env::streaming(&search);
        let finish = Finish { prune: true, batch_rows: Some(4) };
        let rows = |batch: usize, sink: &mut RowSink<'_>| {
            assert_eq!(batch, 4);
            let columns = vec!["Processes.process_guid".to_owned(), "count".to_owned()];
            for start in (0..20).step_by(4) {
                let mut table = ResultTable::with_columns(columns.clone());
                for at in start..start + 4 {
                    let cells = [at.to_string(), "1".to_owned()];
                    table.push_row(cells.map(|c| Some(FieldValue::Single(c))).to_vec());
                }
                sink(table)?;
            }
            Ok(())
        };
        let mut handed = Vec::new();
        let each = &mut |table: ResultTable| handed.push(table);
        let out =
            finish_in_batches(Box::new(rows), 1, search.pipeline(), Some(10), &env, finish, each);
        assert!(matches!(out, Ok(None)));
        let sizes: Vec<usize> = handed.iter().map(ResultTable::len).collect();
        assert_eq!(sizes, [4, 4, 2]);
        let last = handed.last().unwrap();
        assert_eq!(last.columns, ["process_guid", "count", "n"]);
        assert_eq!(last.value(1, "n"), Some(&FieldValue::Single("9".to_owned())));
    }

    #[test]
    fn a_record_folded_as_selected_gives_what_asking_gives() {
        // `add_selected` skips asking a search's one `tstats` again; a search with more
        // inputs (a join's subsearch) or none asks each as `add` does.
        let record = |node: &'static str, name: &str, guid: &str, at: i64| NodeRecord {
            node,
            time_micros: at * 1_000_000,
            fields: [("process_name", name.to_owned()), ("process_guid", guid.to_owned())]
                .into_iter()
                .chain((node == "Filesystem").then(|| ("file_name", format!("{name}.txt"))))
                .collect(),
        };
        let records = [
            record("Processes", "cmd.exe", "g1", 3),
            record("Processes", "calc.exe", "g2", 1),
            record("Filesystem", "cmd.exe", "g1", 2),
            record("Processes", "CMD.EXE", "g3", 4),
        ];
        for text in [
            "| tstats count max(_time) as last from datamodel=Endpoint.Processes \
             where Processes.process_name=cmd.exe by Processes.process_guid",
            "| tstats count from datamodel=Endpoint.Processes by Processes.process_guid \
             | append [| makeresults | eval x=now()]",
            "| tstats count from datamodel=Endpoint.Processes where Processes.process_name=cmd.exe \
             by Processes.process_guid | join type=left Processes.process_guid [| tstats \
             values(Filesystem.file_name) as f from datamodel=Endpoint.Filesystem \
             by Filesystem.process_guid | rename Filesystem.* as Processes.*]",
        ] {
            same_either_way(text, |search, asked, told| {
                for record in &records {
                    asked.add(record).unwrap();
                    if search.selects(record) {
                        told.add_selected(record, &mut tstats::RecordKeys::default()).unwrap();
                    }
                }
            });
        }
    }

    /// Runs `text` fed by `feed` into a run that asks and one that is told, and checks
    /// that both give the same rows, and some.
    fn same_either_way(text: &str, feed: impl Fn(&Search, &mut SearchRun<'_>, &mut SearchRun<'_>)) {
        let search = Search::compile(text, &crate::spl::MacroTable::new(), "").unwrap();
        let (mut asked, mut told) = (search.start(), search.start());
        feed(&search, &mut asked, &mut told);
        let rows = asked.finish().unwrap();
        assert!(!rows.is_empty(), "{text}");
        assert_eq!(told.finish().unwrap(), rows, "{text}");
    }

    /// An event of a few fields.
    struct Fake(i64, Vec<(&'static str, &'static str)>);

    impl EventFields for Fake {
        fn time_micros(&self) -> i64 {
            self.0
        }
        fn any_value(&self, field: &str, test: &mut dyn FnMut(&str) -> bool) -> Option<bool> {
            let mut values = self.1.iter().filter(|(name, _)| *name == field).peekable();
            values.peek()?;
            Some(values.any(|(_, value)| test(value)))
        }
        fn fields(&self) -> Vec<(String, FieldValue)> {
            let time = ("_time".to_owned(), FieldValue::Single(epoch_seconds(self.0)));
            let fields =
                self.1.iter().map(|(n, v)| ((*n).to_owned(), FieldValue::Single((*v).to_owned())));
            std::iter::once(time).chain(fields).collect()
        }
    }

    #[test]
    fn an_event_taken_as_selected_gives_what_testing_it_gives() {
        // `add_event_selected` skips testing a search's one event condition again; a search
        // with more inputs tests each as `add_event` does.
        let events = [
            Fake(1_000_000, vec![("EventCode", "1"), ("user", "ann")]),
            Fake(2_000_000, vec![("EventCode", "3"), ("user", "bob")]),
            Fake(3_000_000, vec![("EventCode", "1"), ("user", "bob")]),
        ];
        for text in [
            "search EventCode=1 | stats count by user",
            "search EventCode=1 | join type=left user [search EventCode=3 | stats count as other by user]",
        ] {
            same_either_way(text, |search, tested, told| {
                for event in &events {
                    tested.add_event(event).unwrap();
                    if search.selects_event(event) {
                        told.add_event_selected(event).unwrap();
                    }
                }
            });
        }
    }

    #[test]
    fn reads_epoch_seconds() {
        assert_eq!(parse_epoch_micros("1582290855"), Some(1_582_290_855_000_000));
        assert_eq!(parse_epoch_micros(" 1.25 "), Some(1_250_000));
        assert_eq!(parse_epoch_micros("-1.5"), Some(-1_500_000));
        assert_eq!(parse_epoch_micros(".5"), Some(500_000));
        assert_eq!(parse_epoch_micros("1.1234567"), Some(1_123_456));
        assert_eq!(parse_epoch_micros("abc"), None);
        assert_eq!(parse_epoch_micros(""), None);
        assert_eq!(parse_epoch_micros("."), None);
        assert_eq!(parse_epoch_micros("99999999999999999999"), None);
    }
}
