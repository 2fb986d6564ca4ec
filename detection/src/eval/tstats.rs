//! `tstats` over data model records: filter, group by the `by` fields in a `BTreeMap` (so
//! rows come out sorted), and fold each record into its group's aggregates. Records are
//! streamed; only the groups are kept. `by _time span=…` groups by the start of each
//! record's time bucket.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use super::aggregate::Accumulator;
use super::condition::{FieldLookup, condition_holds};
use super::{EvalError, FieldValue, ResultTable, epoch_seconds};
use crate::datamodel::NodeRecord;
use crate::spl::{Search, Tstats};

/// Most distinct `by` combinations one `tstats` (or `stats`) may produce.
pub const MAX_GROUPS: usize = 1_000_000;

/// A record seen through the node of `from datamodel=`: `Processes.x` is its field `x`,
/// `_time` its time in epoch seconds.
struct RecordFields<'r> {
    record: &'r NodeRecord,
    node: &'r str,
}

impl<'r> RecordFields<'r> {
    fn value(&self, field: &str) -> Option<Cow<'r, str>> {
        if field == "_time" {
            return Some(Cow::Owned(epoch_seconds(self.record.time_micros)));
        }
        // The indexed fields every event has, which records carry under their own names.
        if matches!(field, "host" | "source" | "sourcetype") {
            return self.record.field(field).map(Cow::Borrowed);
        }
        let name = field.strip_prefix(self.node)?.strip_prefix('.')?;
        self.record.field(name).map(Cow::Borrowed)
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
        && tstats.filter.as_ref().is_none_or(|filter| {
            condition_holds(filter, &RecordFields { record, node: &tstats.node })
        })
}

/// `tstats` fed one record at a time: the groups so far, keyed (and so sorted) by their
/// `by` values. Nothing else of the records is kept.
pub(crate) struct Groups<'s> {
    search: &'s Search,
    tstats: &'s Tstats,
    by_key: BTreeMap<Vec<String>, Vec<Accumulator>>,
}

impl<'s> Groups<'s> {
    pub(crate) fn new(search: &'s Search, tstats: &'s Tstats) -> Self {
        Self { search, tstats, by_key: BTreeMap::new() }
    }

    /// Folds `record` into its group; records of other nodes or failing `where` are ignored.
    pub(crate) fn add(&mut self, record: &NodeRecord) -> Result<(), EvalError> {
        let tstats = self.tstats;
        if !selects(tstats, record) {
            return Ok(());
        }
        let fields = RecordFields { record, node: &tstats.node };
        let time_micros = match tstats.span {
            Some(span) => super::time::bucket_start(record.time_micros, span),
            None => record.time_micros,
        };
        // "If you do not provide a fillnull_value argument, tstats omits rows for events with
        // one or more null field values from its results."
        let key: Option<Vec<String>> = tstats
            .by
            .iter()
            .map(|field| {
                if field == "_time" {
                    return Some(epoch_seconds(time_micros));
                }
                fields.value(field).map(Cow::into_owned).or_else(|| tstats.fillnull_value.clone())
            })
            .collect();
        let Some(key) = key else { return Ok(()) };
        let group_count = self.by_key.len();
        let states = match self.by_key.entry(key) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                if group_count >= MAX_GROUPS {
                    let location = self.search.locate(&tstats.span_in_search);
                    return Err(EvalError::TooManyGroups { location, limit: MAX_GROUPS });
                }
                entry.insert(
                    tstats.aggregates.iter().map(|a| Accumulator::new(a.function)).collect(),
                )
            }
        };
        for (state, aggregate) in states.iter_mut().zip(&tstats.aggregates) {
            match aggregate.field() {
                None => state.add_row(),
                Some(field) => {
                    if let Some(value) = fields.value(field) {
                        state.add(&value, Some(record.time_micros), field == "_time");
                    }
                }
            }
        }
        Ok(())
    }

    /// The `tstats` result table. Groups are ordered by their `by` values, `_time` buckets
    /// numerically.
    pub(crate) fn finish(self) -> ResultTable {
        let Self { tstats, by_key: mut groups, .. } = self;
        if tstats.by.is_empty() && groups.is_empty() {
            // Without `by`, tstats answers one row even over no records (`count` 0).
            groups.insert(
                Vec::new(),
                tstats.aggregates.iter().map(|a| Accumulator::new(a.function)).collect(),
            );
        }
        let columns: Vec<String> = tstats
            .by
            .iter()
            .cloned()
            .chain(tstats.aggregates.iter().map(|a| a.output.clone()))
            .collect();
        let mut table = ResultTable::with_columns(columns);
        let mut rows: Vec<(Vec<String>, Vec<Accumulator>)> = groups.into_iter().collect();
        if let Some(time_index) = tstats.by.iter().position(|f| f == "_time") {
            // A bucket start is a number: order it as one, not as text.
            rows.sort_by(|(a, _), (b, _)| {
                for (index, (x, y)) in a.iter().zip(b).enumerate() {
                    let ordering = if index == time_index {
                        super::value::compare_text(x, y)
                    } else {
                        x.cmp(y)
                    };
                    if ordering.is_ne() {
                        return ordering;
                    }
                }
                std::cmp::Ordering::Equal
            });
        }
        for (key, states) in rows {
            table.push_row(
                key.into_iter()
                    .map(|value| Some(FieldValue::Single(value)))
                    .chain(states.iter().map(Accumulator::finish))
                    .collect(),
            );
        }
        table
    }
}
