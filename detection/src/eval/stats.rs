//! `stats`, `eventstats` and `streamstats` over result rows.
//!
//! - Groups are the combinations of the `by` fields' values; a row missing a `by` field joins
//!   no group (as `tstats` documents: "tstats omits rows for events with one or more null
//!   field values"; for `stats` the documentation is silent and Splunk is widely reported to
//!   do the same). A multivalue `by` field puts the row in one group per value.
//! - `stats` answers one row per group, ordered by the `by` values compared as text, byte by
//!   byte (the documentation is silent on the order). Without `by` it answers one row even
//!   over no rows (`count` 0).
//! - `eventstats` adds each group's statistics to every row of the group.
//! - `streamstats` adds the statistics of the rows so far (the last `window` rows), the
//!   current one included unless `current=f`; with `global=f` each group has its own window.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};

use super::aggregate::Accumulator;
use super::expr::{Env, RowFields, evaluate};
use super::spill::{self, Spill as _};
use super::tstats;
use super::tstats::MAX_GROUPS;
use super::value::Value;
use super::{EvalError, FieldValue, ResultTable, Row, parse_epoch_micros};
use crate::spl::{Aggregate, AggregateArgument, Stats, StatsKind};

/// What one row gives each aggregate: for each, the values it adds (`None` for a bare
/// `count`, which counts the row).
type Contribution = Vec<Option<Vec<String>>>;

/// The values a row gives `aggregate`.
fn contribution(
    aggregate: &Aggregate,
    table: &ResultTable,
    row: &Row,
    env: &Env<'_>,
) -> Result<Option<Vec<String>>, EvalError> {
    Ok(match &aggregate.argument {
        None => None,
        Some(AggregateArgument::Field(field)) => Some(
            table
                .column_index(field)
                .and_then(|i| row.get(i)?.as_ref())
                .map(|value| value.values().map(str::to_owned).collect())
                .unwrap_or_default(),
        ),
        Some(AggregateArgument::Eval(expr)) => {
            let value = evaluate(expr, &RowFields { table, row }, env)?;
            Some(match value {
                // `count(eval(condition))` counts the rows where the condition holds.
                Value::Bool(true) => vec!["1".to_owned()],
                Value::Bool(false) | Value::Null => Vec::new(),
                other => other.texts().into_iter().map(std::borrow::Cow::into_owned).collect(),
            })
        }
    })
}

/// Adds a row's contribution to its group's states: the heap bytes they grew by (see
/// [`Accumulator::add`]).
fn add_contribution(
    states: &mut [Accumulator],
    contribution: &Contribution,
    time: Option<i64>,
    aggregates: &[Aggregate],
) -> usize {
    let mut grown = 0;
    for ((state, values), aggregate) in states.iter_mut().zip(contribution).zip(aggregates) {
        match values {
            None => state.add_row(),
            Some(values) => {
                let is_time = aggregate.field() == Some("_time");
                for value in values {
                    grown += state.add(value, time, is_time);
                }
            }
        }
    }
    grown
}

/// The group keys of a row: one per combination of its `by` values; none when a `by` field
/// is missing.
fn keys(by: &[String], table: &ResultTable, row: &Row) -> Vec<Vec<String>> {
    let mut keys: Vec<Vec<String>> = vec![Vec::new()];
    for field in by {
        let Some(value) = table.column_index(field).and_then(|i| row.get(i)?.as_ref()) else {
            return Vec::new();
        };
        let values: Vec<&str> = value.values().collect();
        if values.is_empty() {
            return Vec::new();
        }
        keys = keys
            .into_iter()
            .flat_map(|key| {
                values.iter().map(move |v| {
                    let mut key = key.clone();
                    key.push((*v).to_owned());
                    key
                })
            })
            .collect();
    }
    keys
}

fn row_time(table: &ResultTable, row: &Row) -> Option<i64> {
    let index = table.column_index("_time")?;
    match row.get(index)?.as_ref()? {
        FieldValue::Single(text) => parse_epoch_micros(text),
        FieldValue::Multi(values) => values.first().and_then(|t| parse_epoch_micros(t)),
    }
}

/// `stats` fed table by table, so that rows need not all be held. Its groups are spilled
/// to disk like a `tstats`'s when a scan's groups outgrow their budget (see
/// [`spill::Spill`]), and merged back when it finishes.
pub(crate) struct StatsRun<'s> {
    stats: &'s Stats,
    groups: BTreeMap<Vec<String>, Vec<Accumulator>>,
    location: crate::spl::Location,
    /// Heap bytes the groups held in memory take, roughly (see [`spill::Spill::memory`]).
    bytes: usize,
    /// Whether every aggregate's states merge exactly, so that the groups may be spilled.
    spillable: bool,
    /// The pieces of groups spilled, oldest first, and how many groups they hold.
    spilled: Vec<spill::Run>,
    spilled_len: usize,
}

/// What a map entry costs besides its key's and states' heap: its slot in a B-tree node,
/// whose nodes are about two-thirds full, and an allocation's bookkeeping for each of the
/// key's and states' buffers.
const ENTRY_BYTES: usize = 2 * std::mem::size_of::<Vec<u8>>() * 3 / 2 + 2 * 16;
/// What a `by` value costs besides its text: the `String` and its allocation's bookkeeping.
const VALUE_BYTES: usize = std::mem::size_of::<String>() + 16;

impl<'s> StatsRun<'s> {
    pub(crate) fn new(stats: &'s Stats, location: crate::spl::Location) -> Self {
        let spillable = stats
            .aggregates
            .iter()
            .all(|aggregate| Accumulator::merges_exactly(aggregate.function));
        Self {
            stats,
            groups: BTreeMap::new(),
            location,
            bytes: 0,
            spillable,
            spilled: Vec::new(),
            spilled_len: 0,
        }
    }

    /// How many groups there are so far, counting those spilled once per piece that holds
    /// them.
    pub(crate) fn len(&self) -> usize {
        self.groups.len() + self.spilled_len
    }

    /// Folds every row of `table` into its groups.
    pub(crate) fn add(&mut self, table: &ResultTable, env: &Env<'_>) -> Result<(), EvalError> {
        let width = self.stats.aggregates.len();
        for row in &table.rows {
            let row_keys = keys(&self.stats.by, table, row);
            if row_keys.is_empty() {
                continue;
            }
            let contribution = self
                .stats
                .aggregates
                .iter()
                .map(|a| contribution(a, table, row, env))
                .collect::<Result<Contribution, _>>()?;
            let time = row_time(table, row);
            for key in row_keys {
                let count = self.groups.len();
                let states = match self.groups.entry(key) {
                    Entry::Occupied(entry) => entry.into_mut(),
                    Entry::Vacant(entry) => {
                        if count >= MAX_GROUPS {
                            return Err(EvalError::TooManyGroups {
                                location: self.location.clone(),
                                limit: MAX_GROUPS,
                            });
                        }
                        let key = entry.key();
                        self.bytes += ENTRY_BYTES
                            + key.iter().map(|value| value.len() + VALUE_BYTES).sum::<usize>()
                            + width * std::mem::size_of::<Accumulator>();
                        entry.insert(new_states(&self.stats.aggregates))
                    }
                };
                self.bytes += add_contribution(states, &contribution, time, &self.stats.aggregates);
            }
        }
        Ok(())
    }

    /// One row per group.
    pub(crate) fn finish(self) -> Result<ResultTable, EvalError> {
        let mut table = None;
        self.finish_with(usize::MAX, &mut |rows| {
            super::gather(&mut table, rows);
            Ok(())
        })?;
        Ok(table.unwrap_or_default())
    }

    /// One row per group, given to `sink` in order, `batch` rows at a time: at least one
    /// table, the last perhaps empty, each with every column.
    pub(crate) fn finish_with(
        mut self,
        batch: usize,
        sink: &mut dyn FnMut(ResultTable) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        if self.stats.by.is_empty() && self.groups.is_empty() && self.spilled.is_empty() {
            self.groups.insert(Vec::new(), new_states(&self.stats.aggregates));
        }
        let columns: Vec<String> = self
            .stats
            .by
            .iter()
            .cloned()
            .chain(self.stats.aggregates.iter().map(|a| a.output.clone()))
            .collect();
        let mut table = ResultTable::with_columns(columns.clone());
        let mut push = |row: Row| {
            table.push_row(row);
            if table.len() < batch {
                return Ok(());
            }
            sink(std::mem::replace(&mut table, ResultTable::with_columns(columns.clone())))
        };
        if self.spilled.is_empty() {
            for (key, states) in std::mem::take(&mut self.groups) {
                push(
                    key.into_iter()
                        .map(|v| Some(FieldValue::Single(v)))
                        .chain(states.iter().map(Accumulator::finish))
                        .collect(),
                )?;
            }
        } else {
            // The rest is spilled too, to a file of its own, so that every group is merged
            // the same way.
            let mut rest = spill::SpillFile::new().map_err(|err| self.spill_error(&err))?;
            self.spill(&mut rest)?;
            let functions: Vec<_> =
                self.stats.aggregates.iter().map(|aggregate| aggregate.function).collect();
            let runs = std::mem::take(&mut self.spilled);
            tstats::merge_runs(
                runs,
                &functions,
                None,
                &|err| self.spill_error(&err),
                &|| self.location.clone(),
                &mut |_| true,
                &mut |key, states| push(tstats::group_row(key, states)),
            )?;
        }
        sink(table)
    }
}

impl spill::Spill for StatsRun<'_> {
    fn memory(&self) -> usize {
        self.bytes
    }

    fn spillable(&self) -> bool {
        self.spillable
    }

    /// The groups go out in the order of their rows, the map's: their `by` values compared
    /// one by one as bytes, as the merge compares the keys they are written as.
    fn spill(&mut self, to: &mut spill::SpillFile) -> Result<(), EvalError> {
        if !self.spillable || self.groups.is_empty() {
            return Ok(());
        }
        let (mut keys, mut starts) = (Vec::new(), Vec::with_capacity(self.groups.len() + 1));
        for key in self.groups.keys() {
            starts.push(keys.len());
            for value in key {
                tstats::push_key_value(&mut keys, value.as_bytes());
            }
        }
        starts.push(keys.len());
        let groups = self.groups.values().zip(starts.windows(2)).map(|(states, bounds)| {
            let key = match bounds {
                [start, end] => keys.get(*start..*end).unwrap_or_default(),
                _ => &[],
            };
            (key, states.as_slice())
        });
        let run = spill::Run::write(to, groups).map_err(|err| self.spill_error(&err))?;
        self.spilled_len += run.len();
        self.spilled.push(run);
        self.groups = BTreeMap::new();
        self.bytes = 0;
        Ok(())
    }

    fn spill_error(&self, err: &std::io::Error) -> EvalError {
        EvalError::Spill { location: self.location.clone(), message: err.to_string() }
    }
}

fn new_states(aggregates: &[Aggregate]) -> Vec<Accumulator> {
    aggregates.iter().map(|a| Accumulator::new(a.function)).collect()
}

/// Runs `eventstats` or `streamstats` over `table` in place (`stats` goes through
/// [`StatsRun`]).
pub(crate) fn annotate(
    table: &mut ResultTable,
    stats: &Stats,
    env: &Env<'_>,
) -> Result<(), EvalError> {
    let mut per_row = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let contribution = stats
            .aggregates
            .iter()
            .map(|a| contribution(a, table, row, env))
            .collect::<Result<Contribution, _>>()?;
        per_row.push((keys(&stats.by, table, row), contribution, row_time(table, row)));
    }
    let outputs: Vec<usize> =
        stats.aggregates.iter().map(|a| table.ensure_column(&a.output)).collect();
    let results: Vec<Option<Vec<Option<FieldValue>>>> = match stats.kind {
        StatsKind::Eventstats => eventstats(stats, &per_row),
        _ => streamstats(stats, &per_row),
    };
    for (row, result) in table.rows.iter_mut().zip(results) {
        let Some(values) = result else { continue };
        for (&column, value) in outputs.iter().zip(values) {
            if let Some(slot) = row.get_mut(column) {
                *slot = value;
            }
        }
    }
    Ok(())
}

type RowInput = (Vec<Vec<String>>, Contribution, Option<i64>);

fn eventstats(stats: &Stats, rows: &[RowInput]) -> Vec<Option<Vec<Option<FieldValue>>>> {
    let mut groups: HashMap<&Vec<String>, Vec<Accumulator>> = HashMap::new();
    for (keys, contribution, time) in rows {
        for key in keys {
            let accumulators = groups.entry(key).or_insert_with(|| new_states(&stats.aggregates));
            add_contribution(accumulators, contribution, *time, &stats.aggregates);
        }
    }
    let finished: HashMap<&Vec<String>, Vec<Option<FieldValue>>> =
        groups.into_iter().map(|(k, s)| (k, s.iter().map(Accumulator::finish).collect())).collect();
    rows.iter()
        .map(|(keys, _, _)| keys.first().and_then(|key| finished.get(key).cloned()))
        .collect()
}

fn streamstats(stats: &Stats, rows: &[RowInput]) -> Vec<Option<Vec<Option<FieldValue>>>> {
    let aggregates = &stats.aggregates;
    let mut results = Vec::with_capacity(rows.len());
    if stats.window == 0 {
        // Running statistics per group, the current row added before or after reading them.
        let mut groups: HashMap<Vec<String>, Vec<Accumulator>> = HashMap::new();
        for (keys, contribution, time) in rows {
            let Some(key) = keys.first() else {
                results.push(None);
                continue;
            };
            let accumulators = groups.entry(key.clone()).or_insert_with(|| new_states(aggregates));
            if stats.current {
                add_contribution(accumulators, contribution, *time, aggregates);
                results.push(Some(accumulators.iter().map(Accumulator::finish).collect()));
            } else {
                let before: Vec<Option<FieldValue>> =
                    accumulators.iter().map(Accumulator::finish).collect();
                add_contribution(accumulators, contribution, *time, aggregates);
                results.push(Some(before));
            }
        }
        return results;
    }
    // A window: the statistics are recomputed from the rows in it.
    let mut global: VecDeque<(Vec<String>, &Contribution, Option<i64>)> = VecDeque::new();
    let mut per_group: HashMap<Vec<String>, VecDeque<(&Contribution, Option<i64>)>> =
        HashMap::new();
    for (keys, contribution, time) in rows {
        let Some(key) = keys.first() else {
            results.push(None);
            continue;
        };
        let compute = |entries: &mut dyn Iterator<Item = (&Contribution, Option<i64>)>| {
            let mut accumulators = new_states(aggregates);
            for (c, t) in entries {
                add_contribution(&mut accumulators, c, t, aggregates);
            }
            accumulators.iter().map(Accumulator::finish).collect::<Vec<_>>()
        };
        if stats.global {
            if stats.current {
                global.push_back((key.clone(), contribution, *time));
                if global.len() > stats.window {
                    global.pop_front();
                }
            }
            let mut entries = global.iter().filter(|(k, _, _)| k == key).map(|(_, c, t)| (*c, *t));
            results.push(Some(compute(&mut entries)));
            if !stats.current {
                global.push_back((key.clone(), contribution, *time));
                if global.len() > stats.window {
                    global.pop_front();
                }
            }
        } else {
            let window = per_group.entry(key.clone()).or_default();
            if stats.current {
                window.push_back((contribution, *time));
                if window.len() > stats.window {
                    window.pop_front();
                }
            }
            let mut entries = window.iter().map(|(c, t)| (*c, *t));
            results.push(Some(compute(&mut entries)));
            if !stats.current {
                window.push_back((contribution, *time));
                if window.len() > stats.window {
                    window.pop_front();
                }
            }
        }
    }
    results
}
