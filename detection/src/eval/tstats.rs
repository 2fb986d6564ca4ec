//! `tstats` over data model records: filter, group by the `by` fields, and fold each record
//! into its group's aggregates; the groups are sorted once, at the end. Records are
//! streamed; only the groups are kept. `by _time span=…` groups by the start of each
//! record's time bucket.

use std::borrow::Cow;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, PoisonError, RwLock};

use hashbrown::HashTable;

use super::aggregate::Accumulator;
use super::condition::{FieldLookup, Guard};
use super::prune::JoinKeys;
use super::spill::{self, Spill as _};
use super::{EvalError, FieldValue, ResultTable, epoch_seconds};
use crate::datamodel::NodeRecord;
use crate::spl::{Condition, Search, Tstats};

/// Most distinct `by` combinations one `tstats` (or `stats`) may produce.
pub const MAX_GROUPS: usize = 1_000_000;

/// Where a field named in a `tstats` takes its value from a record of its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source<'f> {
    /// `_time`: the record's time, in epoch seconds.
    Time,
    /// The record's field of this name: `Processes.x` is `x`; `host`, `source` and
    /// `sourcetype`, which every event has, keep their names.
    Field(&'f str),
    /// Nothing: a field of another node, or a name without the node's prefix
    /// (`process_name` where `Processes.process_name` is meant).
    Null,
}

fn source<'f>(field: &'f str, node: &str) -> Source<'f> {
    if field == "_time" {
        return Source::Time;
    }
    if matches!(field, "host" | "source" | "sourcetype") {
        return Source::Field(field);
    }
    match field.strip_prefix(node).and_then(|rest| rest.strip_prefix('.')) {
        Some(name) => Source::Field(name),
        None => Source::Null,
    }
}

/// A record seen through the node of `from datamodel=` (see [`source`]).
struct RecordFields<'r> {
    record: &'r NodeRecord,
    node: &'r str,
}

impl<'r> RecordFields<'r> {
    fn value(&self, field: &str) -> Option<Cow<'r, str>> {
        match source(field, self.node) {
            Source::Time => Some(Cow::Owned(epoch_seconds(self.record.time_micros))),
            Source::Field(name) => self.record.field(name).map(Cow::Borrowed),
            Source::Null => None,
        }
    }
}

impl FieldLookup for RecordFields<'_> {
    fn any_value(&self, field: &str, test: &mut dyn FnMut(&str) -> bool) -> Option<bool> {
        self.value(field).map(|value| test(&value))
    }
}

/// Whether `record` is one `tstats` reads: of its node and passing its `where` clause.
/// Running the search over only the records this selects gives the same rows as running it
/// over all of them, which lets one pass over a file serve many searches.
pub(crate) fn selects(tstats: &Tstats, record: &NodeRecord) -> bool {
    let in_dataset = match &tstats.resolved {
        Some(node) => node.selects(record),
        None => record.node == tstats.node,
    };
    in_dataset
        && tstats
            .matcher()
            .is_none_or(|matcher| matcher.holds(&RecordFields { record, node: &tstats.node }))
}

/// The record fields, as a record names them, and lower-cased values one of which a record
/// must hold for `tstats` to select it (see [`Guard`]); `None` when its `where` needs none,
/// or names a field no record holds under that name (`_time`).
pub(crate) fn record_guard(tstats: &Tstats) -> Option<Guard<'_>> {
    let guard = tstats.matcher()?.guard()?;
    guard
        .into_iter()
        .map(|(field, values)| match source(field, &tstats.node) {
            Source::Field(name) => Some((name, values)),
            Source::Time | Source::Null => None,
        })
        .collect()
}

/// Adds to `into` the names of the record fields `tstats` reads (with [`selects`] and
/// [`Groups::add`]): its dataset's constraints, its `where`, `by` and aggregated fields. A
/// record holding only these gives the same rows, so a scan drops the rest before sending
/// a record to another thread.
pub(crate) fn record_fields_read<'t>(tstats: &'t Tstats, into: &mut Vec<&'t str>) {
    if let Some(node) = &tstats.resolved {
        into.extend(node.constraint_fields());
    }
    let filter_fields = tstats.filter.as_ref().map(Condition::fields).unwrap_or_default();
    let named = filter_fields
        .into_iter()
        .chain(tstats.by.iter().map(String::as_str))
        .chain(tstats.aggregates.iter().filter_map(|aggregate| aggregate.field()));
    for field in named {
        if let Source::Field(name) = source(field, &tstats.node) {
            into.push(name);
        }
    }
}

/// `tstats` fed one record at a time: the groups so far, by their `by` values. Nothing
/// else of the records is kept.
///
/// A library of rules offers every record to every `tstats`, and a broad one (a join's
/// unfiltered `Processes` side) folds in nearly all of them, one group per record: the
/// groups are found by hash; their keys (see [`push_key_value`]) and their aggregates are
/// kept in a few buffers per `tstats`, not allocations per group, so a record of a group already
/// seen allocates nothing and a new group rarely does (only what an aggregate keeps, such
/// as the values of `values()`, has allocations of its own). Sorting waits for
/// [`Groups::finish_with`].
///
/// Such groups grow with the input. When those of a scan outgrow its budget, the scan
/// writes the largest tables to a temporary file ([`Groups::spill`]) and starts them
/// afresh; [`Groups::finish_with`] merges the pieces back, group by group, as Splunk's
/// `stats` processor "spills data from RAM to disk" past `max_mem_usage_mb`.
pub(crate) struct Groups<'s> {
    search: &'s Search,
    tstats: &'s Tstats,
    store: Store,
    hasher: RandomState,
    /// The key of the record being added.
    key: Vec<u8>,
    /// The last `_time` (bucket) added, and its text.
    time_text: (Option<i64>, String),
    /// Where each `by` field, and each aggregate's field, takes its value.
    by: Vec<Source<'s>>,
    aggregated: Vec<Option<Source<'s>>>,
    /// The number of this `tstats`'s key recipe among those of a scan (see
    /// [`share_keys`]): the `tstats` of the same recipe make a record's key once.
    recipe: Option<usize>,
    /// Whether every aggregate's states merge exactly, so that the groups may be spilled.
    spillable: bool,
}

/// Where a `tstats`'s groups are kept.
enum Store {
    Own(Table),
    /// Shared with the other `tstats` of a scan that build the same groups (see
    /// [`share_tables`]): the first folds the records in, for all of them.
    Shared {
        table: Arc<RwLock<Table>>,
        folds: bool,
    },
}

/// The groups of a `tstats`.
#[derive(Default)]
struct Table {
    /// Every group's key (see [`push_key_value`]), one after another in the order the
    /// groups were first seen: a group is its number in that order.
    keys: Vec<u8>,
    /// Where each group's key starts in `keys`.
    key_starts: Vec<usize>,
    /// The groups, by the hash of their key.
    index: HashTable<usize>,
    /// Each group's hash, so that growing the index does not hash every key again.
    hashes: Vec<u64>,
    /// Every group's aggregates, as many per group as the `tstats` has, in group order.
    states: Vec<Accumulator>,
    /// Heap bytes the states hold besides themselves (see [`Accumulator::add`]).
    state_bytes: usize,
    /// The pieces of groups spilled, oldest first, and how many groups they hold.
    spilled: Vec<spill::Run>,
    spilled_len: usize,
}

/// What decides the key a `tstats` makes of a record. Most rules of a library group by the
/// same long list of fields (twenty, for many 2024 rules): each record's key is made and
/// hashed once for all of them, not once per rule.
#[derive(PartialEq)]
struct Recipe<'s> {
    by: Vec<Source<'s>>,
    span: Option<crate::spl::Span>,
    fillnull_value: Option<&'s str>,
}

/// The group keys made of the record being offered, by recipe number (see [`share_keys`]).
#[derive(Default)]
pub(crate) struct RecordKeys {
    /// The hasher every `tstats` of a shared recipe uses, so that a hash made once serves
    /// them all; randomly keyed, as the keys come from event data.
    hasher: RandomState,
    /// Which record the entries are of: an entry of an older one is stale.
    generation: u64,
    /// By recipe: the generation of the record it was made of, and what was made.
    made: Vec<(u64, Made)>,
    bytes: Vec<u8>,
}

/// What a recipe made of a record.
#[derive(Clone)]
enum Made {
    /// A null `by` value drops the record.
    Dropped,
    /// The key, a range of [`RecordKeys::bytes`], and its hash.
    Key(std::ops::Range<usize>, u64),
}

/// What [`RecordKeys`] holds of the record for a recipe.
enum Shared<'k> {
    NotMade,
    Dropped,
    Key(&'k [u8], u64),
}

impl RecordKeys {
    /// Forgets the keys of the record before: the next record is another.
    pub(crate) fn next_record(&mut self) {
        self.generation += 1;
        self.bytes.clear();
    }

    fn made(&self, recipe: usize) -> Shared<'_> {
        match self.made.get(recipe) {
            Some((generation, made)) if *generation == self.generation => match made {
                Made::Dropped => Shared::Dropped,
                Made::Key(range, hash) => {
                    Shared::Key(self.bytes.get(range.clone()).unwrap_or_default(), *hash)
                }
            },
            _ => Shared::NotMade,
        }
    }

    fn store(&mut self, recipe: usize, key: Option<(&[u8], u64)>) {
        let made = match key {
            Some((key, hash)) => {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(key);
                Made::Key(start..self.bytes.len(), hash)
            }
            None => Made::Dropped,
        };
        if let Some(slot) = self.made.get_mut(recipe) {
            *slot = (self.generation, made);
        }
    }
}

/// Numbers the key recipes of `groups` (every `tstats` of a scan's searches, subsearches
/// too) so that the `tstats` of one recipe share each record's key through `keys`, and gives
/// them the hasher of `keys`.
pub(crate) fn share_keys<'a, 's: 'a>(
    groups: impl IntoIterator<Item = &'a mut Groups<'s>>,
    keys: &mut RecordKeys,
) {
    let mut recipes: Vec<Recipe<'s>> = Vec::new();
    for groups in groups {
        let recipe = groups.recipe_of();
        let number = recipes.iter().position(|known| *known == recipe).unwrap_or_else(|| {
            recipes.push(recipe);
            recipes.len() - 1
        });
        groups.recipe = Some(number);
        groups.hasher = keys.hasher.clone();
    }
    keys.made = vec![(0, Made::Dropped); recipes.len()];
    keys.generation = 1;
}

/// Lets the `tstats` of `groups` (every `tstats` of a scan's searches, in the order the
/// scan offers them records) that build the same groups (see [`Groups::builds_alike`])
/// share one table, which the first of them folds the records into. Dozens of a library's
/// rules join one unfiltered `Processes` side, grouped alike, with a side of their own:
/// each built a group per process launch, and spilled and merged them, for itself.
pub(crate) fn share_tables<'a, 's: 'a>(groups: impl IntoIterator<Item = &'a mut Groups<'s>>) {
    let mut builders: Vec<&'a mut Groups<'s>> = Vec::new();
    for groups in groups {
        match builders.iter_mut().find(|builder| builder.builds_alike(groups)) {
            Some(builder) => {
                groups.store = Store::Shared { table: builder.share(), folds: false };
            }
            None => builders.push(groups),
        }
    }
}

/// Appends one `by` value to a group key: its length (4 bytes), then its bytes. A value
/// is at most an event's size, far below 4 GiB.
pub(super) fn push_key_value(key: &mut Vec<u8>, value: &[u8]) {
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    key.extend_from_slice(&len.to_le_bytes());
    key.extend_from_slice(value.get(..len as usize).unwrap_or_default());
}

/// The row of the group of `key` (see [`push_key_value`]), whose aggregates are `states`:
/// its `by` values, then each aggregate's value.
pub(super) fn group_row(key: &[u8], states: &[Accumulator]) -> super::Row {
    let values = key_slices(key)
        // The bytes came from a `str`: the lossy decoding never replaces anything.
        .map(|value| Some(FieldValue::Single(String::from_utf8_lossy(value).into_owned())));
    values.chain(states.iter().map(Accumulator::finish)).collect()
}

/// The bytes of each `by` value of a key [`push_key_value`] wrote.
pub(super) fn key_slices(mut key: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (len, rest) = key.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        let (value, rest) = rest.split_at(len.min(rest.len()));
        key = rest;
        Some(value)
    })
}

impl<'s> Groups<'s> {
    pub(crate) fn new(search: &'s Search, tstats: &'s Tstats) -> Self {
        Self {
            search,
            tstats,
            store: Store::Own(Table::default()),
            hasher: RandomState::new(),
            key: Vec::new(),
            time_text: (None, String::new()),
            by: tstats.by.iter().map(|field| source(field, &tstats.node)).collect(),
            aggregated: tstats
                .aggregates
                .iter()
                .map(|aggregate| aggregate.field().map(|field| source(field, &tstats.node)))
                .collect(),
            recipe: None,
            spillable: tstats
                .aggregates
                .iter()
                .all(|aggregate| Accumulator::merges_exactly(aggregate.function)),
        }
    }

    /// How many groups there are so far, counting those spilled once per piece that holds
    /// them: what finishing them costs, roughly.
    pub(crate) fn len(&self) -> usize {
        match &self.store {
            Store::Own(table) => table.len(),
            Store::Shared { table, .. } => read(table).len(),
        }
    }

    /// Whether `other` builds the very groups this does: the same records (node and
    /// `where`), keys and aggregates. Only the names of the columns may differ.
    fn builds_alike(&self, other: &Groups<'_>) -> bool {
        let (a, b) = (self.tstats, other.tstats);
        a.datamodel == b.datamodel
            && a.dataset == b.dataset
            && a.node == b.node
            && a.filter == b.filter
            && self.recipe_of() == other.recipe_of()
            && self.aggregated == other.aggregated
            && a.aggregates.len() == b.aggregates.len()
            && a.aggregates.iter().zip(&b.aggregates).all(|(x, y)| x.function == y.function)
    }

    /// The table, shared from now on: the groups fold into it here.
    fn share(&mut self) -> Arc<RwLock<Table>> {
        let (table, folds) = match std::mem::replace(&mut self.store, Store::Own(Table::default()))
        {
            Store::Own(table) => (Arc::new(RwLock::new(table)), true),
            Store::Shared { table, folds } => (table, folds),
        };
        self.store = Store::Shared { table: Arc::clone(&table), folds };
        table
    }

    fn recipe_of(&self) -> Recipe<'s> {
        Recipe {
            by: self.by.clone(),
            span: self.tstats.span,
            fillnull_value: self.tstats.fillnull_value.as_deref(),
        }
    }

    /// Folds `record` into its group; records of other nodes or failing `where` are ignored.
    /// Whether the record was read (selected, even when a null `by` field then drops it).
    pub(crate) fn add(
        &mut self,
        record: &NodeRecord,
        keys: Option<&mut RecordKeys>,
    ) -> Result<bool, EvalError> {
        if !selects(self.tstats, record) {
            return Ok(false);
        }
        self.fold(record, keys)?;
        Ok(true)
    }

    /// Folds `record`, which the `tstats` selects (see [`selects`]), into its group. With
    /// `keys`, the record's key is taken from there when a `tstats` of the same recipe made
    /// it already, and left there for the next.
    pub(crate) fn fold(
        &mut self,
        record: &NodeRecord,
        keys: Option<&mut RecordKeys>,
    ) -> Result<(), EvalError> {
        if let Store::Shared { folds: false, .. } = self.store {
            // The `tstats` that builds the same groups folds the record in.
            return Ok(());
        }
        let shared = keys.zip(self.recipe);
        if let Some((keys, recipe)) = &shared {
            match keys.made(*recipe) {
                Shared::Dropped => return Ok(()),
                Shared::Key(key, hash) => return self.fold_keyed(record, key, hash),
                Shared::NotMade => {}
            }
        }
        if !self.make_key(record) {
            if let Some((keys, recipe)) = shared {
                keys.store(recipe, None);
            }
            return Ok(());
        }
        let key = std::mem::take(&mut self.key);
        let hash = self.hasher.hash_one(key.as_slice());
        if let Some((keys, recipe)) = shared {
            keys.store(recipe, Some((&key, hash)));
        }
        let folded = self.fold_keyed(record, &key, hash);
        self.key = key;
        folded
    }

    /// Writes the key of `record` into `self.key`: `false` when a null `by` value drops
    /// the record.
    fn make_key(&mut self, record: &NodeRecord) -> bool {
        let tstats = self.tstats;
        let time_micros = match tstats.span {
            Some(span) => super::time::bucket_start(record.time_micros, span),
            None => record.time_micros,
        };
        // "If you do not provide a fillnull_value argument, tstats omits rows for events with
        // one or more null field values from its results."
        self.key.clear();
        for by in &self.by {
            let value = match by {
                Source::Time => {
                    // `by _time` groups by the bucket; records come in time order, mostly
                    // within the bucket of the one before.
                    if self.time_text.0 != Some(time_micros) {
                        self.time_text = (Some(time_micros), epoch_seconds(time_micros));
                    }
                    Some(self.time_text.1.as_str())
                }
                Source::Field(name) => record.field(name),
                Source::Null => None,
            };
            match (value, &tstats.fillnull_value) {
                (Some(value), _) => push_key_value(&mut self.key, value.as_bytes()),
                (None, Some(fill)) => push_key_value(&mut self.key, fill.as_bytes()),
                (None, None) => return false,
            }
        }
        true
    }

    /// Folds `record` into the group of `key`, whose hash is `hash`.
    fn fold_keyed(&mut self, record: &NodeRecord, key: &[u8], hash: u64) -> Result<(), EvalError> {
        let tstats = self.tstats;
        let mut guard;
        let table = match &mut self.store {
            Store::Own(table) => table,
            Store::Shared { table, .. } => {
                guard = table.write().unwrap_or_else(PoisonError::into_inner);
                &mut *guard
            }
        };
        let (keys, starts) = (&table.keys, &table.key_starts);
        let found = table.index.find(hash, |&group| key_of(keys, starts, group) == key);
        let group = if let Some(&group) = found {
            group
        } else {
            let group = table.key_starts.len();
            if group >= MAX_GROUPS {
                let location = self.search.locate(&tstats.span_in_search);
                return Err(EvalError::TooManyGroups { location, limit: MAX_GROUPS });
            }
            table.key_starts.push(table.keys.len());
            table.keys.extend_from_slice(key);
            table.states.extend(tstats.aggregates.iter().map(|a| Accumulator::new(a.function)));
            table.hashes.push(hash);
            let hashes = &table.hashes;
            table.index.insert_unique(hash, group, |&group| {
                hashes.get(group).copied().unwrap_or_default()
            });
            group
        };
        let width = self.aggregated.len();
        let Some(states) = table.states.get_mut(group * width..(group + 1) * width) else {
            return Ok(());
        };
        for (state, source) in states.iter_mut().zip(&self.aggregated) {
            table.state_bytes += match source {
                None => {
                    state.add_row();
                    0
                }
                Some(Source::Time) => state.add_time(record.time_micros),
                Some(Source::Field(name)) => record
                    .field(name)
                    .map_or(0, |value| state.add(value, Some(record.time_micros), false)),
                Some(Source::Null) => 0,
            };
        }
        Ok(())
    }

    /// The `tstats` result table, given to `sink` in order, `batch` rows at a time: at least
    /// one table, the last perhaps empty, each with every column. Groups are ordered by
    /// their `by` values, `_time` buckets numerically. With `keep`, only the groups it
    /// admits (see [`super::prune`]).
    pub(crate) fn finish_with(
        mut self,
        keep: Option<&JoinKeys>,
        batch: usize,
        sink: &mut dyn FnMut(ResultTable) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        let (search, tstats) = (self.search, self.tstats);
        let failed = |err: std::io::Error| spill_failed(search, tstats, &err);
        let mut rows = Rows::new(tstats, batch, sink);
        let time_index = time_index(tstats);
        let width = tstats.aggregates.len();
        let runs = match &mut self.store {
            Store::Own(table) => {
                table.spill_rest(time_index, width).map_err(failed)?;
                if table.spilled.is_empty() {
                    table.rows_in_memory(time_index, width, keep, &mut rows)?;
                    return rows.end();
                }
                std::mem::take(&mut table.spilled)
            }
            Store::Shared { table, .. } => {
                // The first of the `tstats` sharing the groups to finish spills the rest;
                // the others find it spilled.
                let spilled = table
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .spill_rest(time_index, width);
                spilled.map_err(failed)?;
                let table = read(table);
                if table.spilled.is_empty() {
                    table.rows_in_memory(time_index, width, keep, &mut rows)?;
                    drop(table);
                    return rows.end();
                }
                table.spilled.clone()
            }
        };
        self.merge_spilled(runs, keep, &mut rows)?;
        rows.end()
    }

    /// [`Groups::finish_with`] over spilled groups (see [`merge_runs`]).
    fn merge_spilled(
        &self,
        runs: Vec<spill::Run>,
        keep: Option<&JoinKeys>,
        rows: &mut Rows<'_, '_>,
    ) -> Result<(), EvalError> {
        let tstats = self.tstats;
        let functions: Vec<_> =
            tstats.aggregates.iter().map(|aggregate| aggregate.function).collect();
        let location = || self.search.locate(&tstats.span_in_search);
        let mut scratch = Vec::new();
        merge_runs(
            runs,
            &functions,
            time_index(tstats),
            &|err| self.spill_error(&err),
            &location,
            &mut |key| keep.is_none_or(|keep| keep.admits(key, &mut scratch)),
            &mut |key, states| rows.push(key, states),
        )
    }
}

/// A shared table, read.
fn read(table: &RwLock<Table>) -> std::sync::RwLockReadGuard<'_, Table> {
    table.read().unwrap_or_else(PoisonError::into_inner)
}

impl Table {
    fn len(&self) -> usize {
        self.key_starts.len() + self.spilled_len
    }

    /// The groups held in memory that `keep` admits (all without it), in the order of
    /// their rows: by their `by` values, a `_time` bucket numerically, not as text. Keys
    /// are distinct and ties fall to the text, so the order is total.
    fn sorted_groups(&self, time_index: Option<usize>, keep: Option<&JoinKeys>) -> Vec<usize> {
        let (keys, starts) = (&self.keys, &self.key_starts);
        let mut scratch = Vec::new();
        let mut groups: Vec<usize> = (0..starts.len())
            .filter(|&group| {
                keep.is_none_or(|keep| keep.admits(key_of(keys, starts, group), &mut scratch))
            })
            .collect();
        groups.sort_unstable_by(|&a, &b| {
            compare_keys(time_index, key_of(keys, starts, a), key_of(keys, starts, b))
        });
        groups
    }

    /// The rows of the groups held in memory that `keep` admits, in order, each group's
    /// `width` aggregates after its key.
    fn rows_in_memory(
        &self,
        time_index: Option<usize>,
        width: usize,
        keep: Option<&JoinKeys>,
        rows: &mut Rows<'_, '_>,
    ) -> Result<(), EvalError> {
        for group in self.sorted_groups(time_index, keep) {
            let key = key_of(&self.keys, &self.key_starts, group);
            let states = self.states.get(group * width..(group + 1) * width).unwrap_or_default();
            rows.push(key, states)?;
        }
        Ok(())
    }

    /// About how many bytes the groups held in memory take: their buffers as allocated,
    /// and what their aggregates keep.
    fn memory(&self) -> usize {
        let word = std::mem::size_of::<usize>();
        self.keys.capacity()
            + (self.key_starts.capacity() + self.hashes.capacity()) * word
            // A slot of the index, and its control byte.
            + self.index.capacity() * (word + 1)
            + self.states.capacity() * std::mem::size_of::<Accumulator>()
            + self.state_bytes
    }

    /// When some groups are spilled, spills the rest too (to a file of its own: the scan's
    /// may be read by another thread), so that every group is merged the same way.
    fn spill_rest(&mut self, time_index: Option<usize>, width: usize) -> std::io::Result<()> {
        if self.spilled.is_empty() || self.key_starts.is_empty() {
            return Ok(());
        }
        self.spill(&mut spill::SpillFile::new()?, time_index, width)
    }

    /// Writes the groups held in memory, each with its `width` aggregates, to `to` in the
    /// order of their rows, and frees them: the records still to come start new groups,
    /// merged with these when the search finishes.
    fn spill(
        &mut self,
        to: &mut spill::SpillFile,
        time_index: Option<usize>,
        width: usize,
    ) -> std::io::Result<()> {
        if self.key_starts.is_empty() {
            return Ok(());
        }
        let order = self.sorted_groups(time_index, None);
        let (keys, starts, states) = (&self.keys, &self.key_starts, &self.states);
        let groups = order.iter().map(|&group| {
            let states = states.get(group * width..(group + 1) * width).unwrap_or_default();
            (key_of(keys, starts, group), states)
        });
        let run = spill::Run::write(to, groups)?;
        self.spilled_len += run.len();
        self.spilled.push(run);
        self.keys = Vec::new();
        self.key_starts = Vec::new();
        self.index = HashTable::new();
        self.hashes = Vec::new();
        self.states = Vec::new();
        self.state_bytes = 0;
        Ok(())
    }
}

impl spill::Spill for Groups<'_> {
    /// About how many bytes the groups held in memory take: nothing for a `tstats` whose
    /// groups another folds and counts.
    fn memory(&self) -> usize {
        match &self.store {
            Store::Own(table) => table.memory(),
            Store::Shared { table, folds: true } => read(table).memory(),
            Store::Shared { folds: false, .. } => 0,
        }
    }

    /// Whether [`Groups::spill`] can write these groups out: not when an aggregate sums
    /// floating-point numbers, whose last digits would depend on where the pieces split
    /// the records, nor groups another `tstats` folds and spills.
    fn spillable(&self) -> bool {
        self.spillable && !matches!(self.store, Store::Shared { folds: false, .. })
    }

    /// Writes the groups held in memory to `to`, in the order of their rows, and frees
    /// them: the records still to come start new groups, merged with these by
    /// [`Groups::finish_with`]. Nothing happens when the groups cannot be spilled.
    fn spill(&mut self, to: &mut spill::SpillFile) -> Result<(), EvalError> {
        if !self.spillable() {
            return Ok(());
        }
        let (time_index, width) = (time_index(self.tstats), self.aggregated.len());
        let spilled = match &mut self.store {
            Store::Own(table) => table.spill(to, time_index, width),
            Store::Shared { table, .. } => {
                table.write().unwrap_or_else(PoisonError::into_inner).spill(to, time_index, width)
            }
        };
        spilled.map_err(|err| self.spill_error(&err))
    }

    fn spill_error(&self, err: &std::io::Error) -> EvalError {
        spill_failed(self.search, self.tstats, err)
    }
}

/// The error of a spill file of `tstats` in `search` that could not be written or read.
fn spill_failed(search: &Search, tstats: &Tstats, err: &std::io::Error) -> EvalError {
    EvalError::Spill { location: search.locate(&tstats.span_in_search), message: err.to_string() }
}

/// Takes each merged group: its key and its aggregates' states.
pub(super) type GroupSink<'a> = dyn FnMut(&[u8], &[Accumulator]) -> Result<(), EvalError> + 'a;

/// Merges spilled pieces of groups back into one group each, given to `each` in row
/// order: the pieces are read side by side, each in the order of the rows, and the states
/// of a group found in several are merged in the order the pieces were written, which is
/// the order the records came in. Only the groups `admit` lets through are given; more
/// than [`MAX_GROUPS`] distinct groups, admitted or not, is an error at `location`, as it
/// is for groups held in memory.
pub(super) fn merge_runs(
    runs: Vec<spill::Run>,
    functions: &[crate::spl::AggregateFunction],
    time_index: Option<usize>,
    failed: &dyn Fn(std::io::Error) -> EvalError,
    location: &dyn Fn() -> crate::spl::Location,
    admit: &mut dyn FnMut(&[u8]) -> bool,
    each: &mut GroupSink<'_>,
) -> Result<(), EvalError> {
    // Reading buffers of about 1 MiB in all, but at least 4 KiB a piece: a table spilled
    // every few hundred records (the gate's check) has thousands of pieces.
    let buffer = ((1 << 20) / runs.len().max(1)).clamp(4 << 10, 64 << 10);
    let runs_len: usize = runs.iter().map(spill::Run::len).sum();
    let mut cursors = Vec::with_capacity(runs.len());
    for run in runs {
        cursors.push(spill::Cursor::open(run, functions, buffer));
    }
    let pieces = cursors.len();
    // The next group of each piece, the first in row order on top; of equal ones, that of
    // the oldest piece.
    let mut heads = std::collections::BinaryHeap::with_capacity(pieces);
    // A group `admit` turns away is passed over as it is read: a join's side that groups
    // every process launch keeps a handful of them, and the merge need not order the rest.
    // Only when the pieces cannot hold more than MAX_GROUPS distinct groups, though: past
    // that, every group is merged and counted, as it is counted when held in memory.
    let early = runs_len <= MAX_GROUPS;
    let mut all = |_: &[u8]| true;
    let mut refill = |heads: &mut std::collections::BinaryHeap<Head>,
                      piece: usize,
                      filter: &mut dyn FnMut(&[u8]) -> bool| {
        let next = cursors.get_mut(piece).map(|cursor| cursor.next_admitted(filter)).transpose();
        if let Some((key, states)) = next.map_err(failed)?.flatten() {
            heads.push(Head { key, states, piece, time_index });
        }
        Ok::<(), EvalError>(())
    };
    for piece in 0..pieces {
        refill(&mut heads, piece, if early { &mut *admit } else { &mut all })?;
    }
    let mut distinct = 0;
    while let Some(Head { key, mut states, piece, .. }) = heads.pop() {
        refill(&mut heads, piece, if early { &mut *admit } else { &mut all })?;
        while heads.peek().is_some_and(|next| next.key == key) {
            let Some(later) = heads.pop() else { break };
            refill(&mut heads, later.piece, if early { &mut *admit } else { &mut all })?;
            for (state, later) in states.iter_mut().zip(later.states) {
                state.merge(later);
            }
        }
        distinct += 1;
        if distinct > MAX_GROUPS {
            return Err(EvalError::TooManyGroups { location: location(), limit: MAX_GROUPS });
        }
        if early || admit(&key) {
            each(&key, &states)?;
        }
    }
    Ok(())
}

/// A spilled group waiting its turn in [`Groups::merge_spilled`]: ordered so that the
/// largest in a `BinaryHeap` is the first in row order, and of equal keys that of the
/// oldest piece.
struct Head {
    key: Vec<u8>,
    states: Vec<Accumulator>,
    piece: usize,
    time_index: Option<usize>,
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        compare_keys(self.time_index, &self.key, &other.key)
            .then(self.piece.cmp(&other.piece))
            .reverse()
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Head {}

/// The rows of a `tstats` as its groups give them, handed on a batch at a time.
struct Rows<'t, 's> {
    tstats: &'t Tstats,
    table: ResultTable,
    batch: usize,
    sink: &'s mut dyn FnMut(ResultTable) -> Result<(), EvalError>,
    made: usize,
}

impl<'t, 's> Rows<'t, 's> {
    fn new(
        tstats: &'t Tstats,
        batch: usize,
        sink: &'s mut dyn FnMut(ResultTable) -> Result<(), EvalError>,
    ) -> Self {
        let table = ResultTable::with_columns(columns(tstats));
        Rows { tstats, table, batch, sink, made: 0 }
    }

    /// Adds the row of the group of `key`, whose aggregates are `states`.
    fn push(&mut self, key: &[u8], states: &[Accumulator]) -> Result<(), EvalError> {
        self.table.push_row(group_row(key, states));
        self.made += 1;
        if self.table.len() >= self.batch {
            let full =
                std::mem::replace(&mut self.table, ResultTable::with_columns(columns(self.tstats)));
            (self.sink)(full)?;
        }
        Ok(())
    }

    /// Hands on the last batch.
    fn end(mut self) -> Result<(), EvalError> {
        if self.tstats.by.is_empty() && self.made == 0 {
            // Without `by`, tstats answers one row even over no records (`count` 0).
            let states: Vec<Accumulator> =
                self.tstats.aggregates.iter().map(|a| Accumulator::new(a.function)).collect();
            self.table.push_row(states.iter().map(Accumulator::finish).collect());
        }
        (self.sink)(self.table)
    }
}

/// Where `_time` is among the `by` fields of `tstats`.
fn time_index(tstats: &Tstats) -> Option<usize> {
    tstats.by.iter().position(|field| field == "_time")
}

/// The order of two groups' rows, by their keys: value by value, a `_time` bucket start
/// (the value at `time_index`) as a number, not as text.
fn compare_keys(time_index: Option<usize>, a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    for (index, (x, y)) in key_slices(a).zip(key_slices(b)).enumerate() {
        let ordering = if Some(index) == time_index {
            let digits = |bytes: &[u8]| bytes.iter().all(u8::is_ascii_digit);
            if x.len() == y.len() && digits(x) && digits(y) {
                // Whole seconds of as many digits, as nearly all are: their text is in the
                // order of their numbers, and reading it as numbers cost a tenth of a
                // library's finishing.
                x.cmp(y)
            } else {
                // Times past 2^33 s that differ by a microsecond compare equal as numbers:
                // their text decides, so that the order never depends on the hash table's.
                let text = |bytes| std::str::from_utf8(bytes).unwrap_or_default();
                super::value::compare_text(text(x), text(y)).then_with(|| x.cmp(y))
            }
        } else {
            // As text: a key's bytes are its values' UTF-8.
            x.cmp(y)
        };
        if ordering.is_ne() {
            return ordering;
        }
    }
    std::cmp::Ordering::Equal
}

/// The columns of the table `tstats` gives: its `by` fields, then its aggregates.
pub(crate) fn columns(tstats: &Tstats) -> Vec<String> {
    let aggregates = tstats.aggregates.iter().map(|aggregate| aggregate.output.clone());
    tstats.by.iter().cloned().chain(aggregates).collect()
}

/// The key of `group` in `keys`, where the groups' keys start at `starts`.
fn key_of<'k>(keys: &'k [u8], starts: &[usize], group: usize) -> &'k [u8] {
    let start = starts.get(group).copied().unwrap_or(keys.len());
    let end = starts.get(group + 1).copied().unwrap_or(keys.len());
    keys.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{key_slices, push_key_value};
    use crate::spl::{MacroTable, Search};

    #[test]
    fn a_group_key_gives_back_its_values() {
        // Empty values, separators and non-ASCII text must not run into each other.
        let values = ["", "a\u{0}b", "ç:\\x", "", "1700000000"];
        let mut key = Vec::new();
        for value in values {
            push_key_value(&mut key, value.as_bytes());
        }
        let back: Vec<&[u8]> = key_slices(&key).collect();
        assert_eq!(back, values.map(str::as_bytes));
        assert_eq!(key_slices(&[]).count(), 0);
    }

    proptest::proptest! {
        /// Times of as many digits are put in order by their text, as by their numbers.
        #[test]
        fn times_of_as_many_digits_order_as_numbers(a in "[0-9]{1,20}", b in "[0-9]{1,20}") {
            let key = |text: &str| {
                let mut key = Vec::new();
                push_key_value(&mut key, text.as_bytes());
                key
            };
            // The same length, with leading zeros, as well as lengths apart.
            let width = a.len().max(b.len());
            for (a, b) in [(a.clone(), b.clone()), (format!("{a:0>width$}"), format!("{b:0>width$}"))] {
                let numeric = crate::eval::value::compare_text(&a, &b).then_with(|| a.cmp(&b));
                proptest::prop_assert_eq!(super::compare_keys(Some(0), &key(&a), &key(&b)), numeric);
            }
        }
    }

    fn fields(search: &str) -> Vec<String> {
        Search::compile(search, &MacroTable::default(), "none").unwrap().record_fields().to_vec()
    }

    #[test]
    fn a_search_reads_its_constraints_and_its_where_by_and_aggregated_fields() {
        // Every `tstats` of the search counts, the one inside a `join` too; `_time` is the
        // record's time, not one of its fields.
        let joined = fields(
            "| tstats count values(Processes.process) as p from datamodel=Endpoint.Processes \
             where Processes.parent_process_name=cmd.exe host=h by Processes.dest _time span=1h \
             | join Processes.dest [| tstats dc(Filesystem.file_name) \
             from datamodel=Endpoint.Filesystem by Filesystem.dest]",
        );
        assert_eq!(joined, ["dest", "file_name", "host", "parent_process_name", "process"]);
        // A dataset below its root reads the fields of the constraints on the way down.
        let allowed = fields(
            "| tstats count from datamodel=Network_Traffic \
             where nodename=All_Traffic.Traffic_By_Action.Allowed_Traffic by All_Traffic.dest",
        );
        assert_eq!(allowed, ["action", "dest"]);
    }
}
