//! `tstats` over data model records: filter, group by the `by` fields in a `BTreeMap` (so
//! rows come out sorted), and fold each record into its group's aggregates. Records are
//! streamed; only the groups are kept.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use super::condition::{FieldLookup, condition_holds, number};
use super::{EvalError, FieldValue, ResultTable, epoch_seconds};
use crate::datamodel::NodeRecord;
use crate::spl::{Aggregate, AggregateFunction, Search, Tstats};

/// Most distinct `by` combinations one `tstats` may produce.
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
    record.node == tstats.node
        && tstats.filter.as_ref().is_none_or(|filter| {
            condition_holds(filter, &RecordFields { record, node: &tstats.node })
        })
}

/// `tstats` fed one record at a time: the groups so far, keyed (and so sorted) by their
/// `by` values. Nothing else of the records is kept.
pub(crate) struct Groups<'s> {
    search: &'s Search,
    tstats: &'s Tstats,
    by_key: BTreeMap<Vec<String>, Vec<State>>,
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
        let key: Option<Vec<String>> = tstats
            .by
            .iter()
            .map(|field| {
                fields.value(field).map(Cow::into_owned).or_else(|| tstats.fillnull_value.clone())
            })
            .collect();
        let Some(key) = key else { return Ok(()) };
        let group_count = self.by_key.len();
        let states = match self.by_key.entry(key) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                if group_count >= MAX_GROUPS {
                    let location = self.search.locate(&tstats.span);
                    return Err(EvalError::TooManyGroups { location, limit: MAX_GROUPS });
                }
                entry.insert(tstats.aggregates.iter().map(State::new).collect())
            }
        };
        for (state, aggregate) in states.iter_mut().zip(&tstats.aggregates) {
            state.add(aggregate, &fields, record.time_micros);
        }
        Ok(())
    }

    /// The `tstats` result table.
    pub(crate) fn finish(self) -> ResultTable {
        let Self { tstats, by_key: mut groups, .. } = self;
        if tstats.by.is_empty() && groups.is_empty() {
            // Without `by`, tstats answers one row even over no records (`count` 0).
            groups.insert(Vec::new(), tstats.aggregates.iter().map(State::new).collect());
        }
        let columns =
            tstats.by.iter().cloned().chain(tstats.aggregates.iter().map(|a| a.output.clone()));
        let rows = groups
            .into_iter()
            .map(|(key, states)| {
                key.into_iter()
                    .map(|value| Some(FieldValue::Single(value)))
                    .chain(states.into_iter().map(State::finish))
                    .collect()
            })
            .collect();
        ResultTable { columns: columns.collect(), rows }
    }
}

/// How `min`/`max` rank values: numbers by value, before any string; strings byte by byte.
/// `_time` ranks by microseconds so no precision is lost.
#[derive(Debug, Clone, PartialEq)]
enum Rank {
    Time(i64),
    Number(f64),
    Text,
}

fn rank_cmp(a: (&Rank, &str), b: (&Rank, &str)) -> Ordering {
    match (a.0, b.0) {
        (Rank::Time(x), Rank::Time(y)) => x.cmp(y),
        (Rank::Number(x), Rank::Number(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        #[allow(clippy::cast_precision_loss)]
        (Rank::Time(x), Rank::Number(y)) => {
            (*x as f64 / 1e6).partial_cmp(y).unwrap_or(Ordering::Equal)
        }
        #[allow(clippy::cast_precision_loss)]
        (Rank::Number(x), Rank::Time(y)) => {
            x.partial_cmp(&(*y as f64 / 1e6)).unwrap_or(Ordering::Equal)
        }
        (Rank::Text, Rank::Text) => a.1.cmp(b.1),
        (Rank::Text, _) => Ordering::Greater,
        (_, Rank::Text) => Ordering::Less,
    }
}

/// One aggregate's running state in one group.
#[derive(Debug)]
enum State {
    Count(u64),
    Extreme {
        best: Option<(Rank, String)>,
        max: bool,
    },
    Distinct {
        values: BTreeSet<String>,
        count_only: bool,
    },
    /// `earliest`/`latest`: the value at the earliest (first seen on ties) or latest (last
    /// seen on ties) time.
    Timed {
        best: Option<(i64, String)>,
        latest: bool,
    },
}

impl State {
    fn new(aggregate: &Aggregate) -> Self {
        match aggregate.function {
            AggregateFunction::Count => Self::Count(0),
            AggregateFunction::Min => Self::Extreme { best: None, max: false },
            AggregateFunction::Max => Self::Extreme { best: None, max: true },
            AggregateFunction::Values => {
                Self::Distinct { values: BTreeSet::new(), count_only: false }
            }
            AggregateFunction::DistinctCount => {
                Self::Distinct { values: BTreeSet::new(), count_only: true }
            }
            AggregateFunction::Earliest => Self::Timed { best: None, latest: false },
            AggregateFunction::Latest => Self::Timed { best: None, latest: true },
        }
    }

    fn add(&mut self, aggregate: &Aggregate, fields: &RecordFields<'_>, time_micros: i64) {
        let Some(field) = aggregate.field.as_deref() else {
            if let Self::Count(count) = self {
                *count += 1;
            }
            return;
        };
        let Some(value) = fields.value(field) else { return };
        match self {
            Self::Count(count) => *count += 1,
            Self::Extreme { best, max } => {
                let rank = if field == "_time" {
                    Rank::Time(time_micros)
                } else {
                    number(&value).map_or(Rank::Text, Rank::Number)
                };
                let better = best.as_ref().is_none_or(|(best_rank, best_value)| {
                    let ordering = rank_cmp((&rank, &value), (best_rank, best_value));
                    if *max { ordering == Ordering::Greater } else { ordering == Ordering::Less }
                });
                if better {
                    *best = Some((rank, value.into_owned()));
                }
            }
            Self::Distinct { values, .. } => {
                if !values.contains(value.as_ref()) {
                    values.insert(value.into_owned());
                }
            }
            Self::Timed { best, latest } => {
                let better = best.as_ref().is_none_or(|(best_time, _)| {
                    if *latest { time_micros >= *best_time } else { time_micros < *best_time }
                });
                if better {
                    *best = Some((time_micros, value.into_owned()));
                }
            }
        }
    }

    fn finish(self) -> Option<FieldValue> {
        match self {
            Self::Count(count) => Some(FieldValue::Single(count.to_string())),
            Self::Extreme { best, .. } => best.map(|(_, value)| FieldValue::Single(value)),
            Self::Timed { best, .. } => best.map(|(_, value)| FieldValue::Single(value)),
            Self::Distinct { values, count_only: true } => {
                Some(FieldValue::Single(values.len().to_string()))
            }
            Self::Distinct { values, count_only: false } => {
                (!values.is_empty()).then(|| FieldValue::Multi(values.into_iter().collect()))
            }
        }
    }
}
