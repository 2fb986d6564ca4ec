//! The running state of one aggregate (`count`, `values(f)`, `avg(f)`, …) in one group, as
//! `stats`, `eventstats`, `streamstats` and `tstats` share them. Values arrive one by one
//! with the `_time` of their row; each multivalue value counts on its own.
//!
//! Choices, with the Search Reference sentence each follows ("Statistical and charting
//! functions"):
//! - `values`: "The order of the values is lexicographical" (byte order here).
//! - `list`: "up to the first 100 values", in the order rows arrive.
//! - `min`/`max`: numbers compare numerically and rank before text, which compares
//!   lexicographically.
//! - `sum`, `avg`, `stdev`, … read the values that are numbers and ignore the others; with
//!   none they give nothing.
//! - `first`/`last`: the first and last value in the order rows arrive, which for a raw
//!   search is newest first ("The first seen value of the field is the most recent instance
//!   of this field").
//! - `earliest`/`latest`: by `_time`; on a tie the first row seen wins for `earliest`, the
//!   last for `latest`.
//! - `median` and `perc<N>`: the docs say nearest rank but show `perc50` of 1…10 as 5.5; the
//!   example is followed, interpolating between the two nearest ranks.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use super::FieldValue;
use super::value::{format_number, parse_number};
use crate::spl::AggregateFunction;

/// Most values `list()` keeps.
pub const LIST_LIMIT: usize = 100;

/// Heap bytes a kept string costs besides its text: its `String`, and its share of the
/// collection's nodes.
const STRING_ENTRY: usize = 32;

/// How `min`/`max` rank values: numbers by value, before any string; strings byte by byte.
/// `_time` ranks by microseconds so no precision is lost.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rank {
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

/// The value `min` or `max` keeps: its text, or a record's `_time`, whose text (epoch
/// seconds) is written only once the fold is over.
#[derive(Debug, Clone)]
pub(crate) enum Kept {
    Text(String),
    Time(i64),
}

/// Puts `candidate` (its rank and text) in `best` when it ranks above (`max`) or below it.
fn keep_extreme(
    best: &mut Option<(Rank, Kept)>,
    max: bool,
    (rank, text): (Rank, &str),
    kept: impl FnOnce() -> Kept,
) {
    let better = best.as_ref().is_none_or(|(best_rank, best_value)| {
        // A kept time ranks as a time, whose text is never compared.
        let best_text = match best_value {
            Kept::Text(text) => text.as_str(),
            Kept::Time(_) => "",
        };
        let ordering = rank_cmp((&rank, text), (best_rank, best_text));
        if max { ordering == Ordering::Greater } else { ordering == Ordering::Less }
    });
    if better {
        *best = Some((rank, kept()));
    }
}

/// One aggregate's running state.
#[derive(Debug, Clone)]
pub(crate) enum Accumulator {
    Count(u64),
    Distinct { values: BTreeSet<String>, count_only: bool },
    List(Vec<String>),
    Extreme { best: Option<(Rank, Kept)>, max: bool },
    Moments { function: AggregateFunction, n: u64, sum: f64, sum_squares: f64 },
    Range { low: Option<f64>, high: Option<f64> },
    Numbers { values: Vec<f64>, percentile: f64 },
    Mode { counts: HashMap<String, (u64, usize)>, seen: usize },
    Timed { best: Option<(i64, String)>, latest: bool, give_time: bool },
    Ordered { value: Option<String>, last: bool },
}

impl Accumulator {
    pub(crate) fn new(function: AggregateFunction) -> Self {
        use AggregateFunction as F;
        match function {
            F::Count => Self::Count(0),
            F::DistinctCount => Self::Distinct { values: BTreeSet::new(), count_only: true },
            F::Values => Self::Distinct { values: BTreeSet::new(), count_only: false },
            F::List => Self::List(Vec::new()),
            F::Min => Self::Extreme { best: None, max: false },
            F::Max => Self::Extreme { best: None, max: true },
            F::Sum | F::SumSquares | F::Avg | F::Stdev | F::Stdevp | F::Var | F::Varp => {
                Self::Moments { function, n: 0, sum: 0.0, sum_squares: 0.0 }
            }
            F::Range => Self::Range { low: None, high: None },
            F::Median => Self::Numbers { values: Vec::new(), percentile: 50.0 },
            F::Percentile(p) => Self::Numbers { values: Vec::new(), percentile: p },
            F::Mode => Self::Mode { counts: HashMap::new(), seen: 0 },
            F::Earliest => Self::Timed { best: None, latest: false, give_time: false },
            F::Latest => Self::Timed { best: None, latest: true, give_time: false },
            F::EarliestTime => Self::Timed { best: None, latest: false, give_time: true },
            F::LatestTime => Self::Timed { best: None, latest: true, give_time: true },
            F::First => Self::Ordered { value: None, last: false },
            F::Last => Self::Ordered { value: None, last: true },
        }
    }

    /// A row for a bare `count`.
    pub(crate) fn add_row(&mut self) {
        if let Self::Count(count) = self {
            *count += 1;
        }
    }

    /// Folds in a record's `_time`, as [`Accumulator::add`] does its text (epoch seconds):
    /// `min(_time)` and `max(_time)`, in most rules of a library, write the text of the one
    /// time they keep when the fold is over, not of every time they see. Returns the heap
    /// bytes it now holds more, as [`Accumulator::add`] does.
    pub(crate) fn add_time(&mut self, micros: i64) -> usize {
        match self {
            Self::Extreme { best, max } => {
                keep_extreme(best, *max, (Rank::Time(micros), ""), || Kept::Time(micros));
                0
            }
            _ => self.add(&super::epoch_seconds(micros), Some(micros), true),
        }
    }

    /// One value of the aggregate's field, from a row at `time_micros`; `is_time` when the
    /// field is `_time` itself (ranked by its microseconds). Returns about how many heap
    /// bytes the state holds more than before, never less than it does: what `tstats`
    /// counts against its memory budget (see `tstats::Groups::memory`).
    pub(crate) fn add(&mut self, value: &str, time_micros: Option<i64>, is_time: bool) -> usize {
        match self {
            Self::Count(count) => *count += 1,
            Self::Distinct { values, .. } => {
                if !values.contains(value) {
                    values.insert(value.to_owned());
                    return value.len() + STRING_ENTRY;
                }
            }
            Self::List(values) => {
                if values.len() < LIST_LIMIT {
                    values.push(value.to_owned());
                    return value.len() + STRING_ENTRY;
                }
            }
            Self::Extreme { best, max } => {
                let rank = match (is_time, time_micros) {
                    (true, Some(micros)) => Rank::Time(micros),
                    _ => parse_number(value).map_or(Rank::Text, Rank::Number),
                };
                // A value kept in place of another frees it.
                let before = match best {
                    Some((_, Kept::Text(text))) => text.len(),
                    _ => 0,
                };
                let mut grew = 0;
                keep_extreme(best, *max, (rank, value), || {
                    grew = value.len().saturating_sub(before);
                    Kept::Text(value.to_owned())
                });
                return grew;
            }
            Self::Moments { n, sum, sum_squares, .. } => {
                if let Some(number) = parse_number(value) {
                    *n += 1;
                    *sum += number;
                    *sum_squares += number * number;
                }
            }
            Self::Range { low, high } => {
                if let Some(number) = parse_number(value) {
                    *low = Some(low.map_or(number, |l| l.min(number)));
                    *high = Some(high.map_or(number, |h| h.max(number)));
                }
            }
            Self::Numbers { values, .. } => {
                if let Some(number) = parse_number(value) {
                    values.push(number);
                    return std::mem::size_of::<f64>();
                }
            }
            Self::Mode { counts, seen } => {
                let order = *seen;
                *seen += 1;
                if let Some((count, _)) = counts.get_mut(value) {
                    *count += 1;
                } else {
                    counts.insert(value.to_owned(), (1, order));
                    return value.len() + STRING_ENTRY + 16;
                }
            }
            Self::Timed { best, latest, .. } => {
                let Some(time) = time_micros else { return 0 };
                let better = best.as_ref().is_none_or(|(best_time, _)| {
                    if *latest { time >= *best_time } else { time < *best_time }
                });
                if better {
                    let before = best.as_ref().map_or(0, |(_, kept)| kept.len());
                    *best = Some((time, value.to_owned()));
                    return value.len().saturating_sub(before);
                }
            }
            Self::Ordered { value: kept, last } => {
                if *last || kept.is_none() {
                    let before = kept.as_ref().map_or(0, String::len);
                    *kept = Some(value.to_owned());
                    return value.len().saturating_sub(before);
                }
            }
        }
        0
    }

    /// Whether two states of `function` folded over consecutive runs of rows merge into the
    /// state of folding them all, exactly: not for sums of floating-point numbers, whose
    /// last digits depend on the order of the additions.
    pub(crate) fn merges_exactly(function: AggregateFunction) -> bool {
        !matches!(Self::new(function), Self::Moments { .. })
    }

    /// Folds in `later`, the state of the same aggregate over the rows that came after this
    /// one's: the state of folding them all in order. Only for the functions that
    /// [`Accumulator::merges_exactly`] (a sum is merged too, but may differ in its last digits).
    pub(crate) fn merge(&mut self, later: Self) {
        match (self, later) {
            (Self::Count(count), Self::Count(more)) => *count += more,
            (Self::Distinct { values, .. }, Self::Distinct { values: more, .. }) => {
                values.extend(more);
            }
            (Self::List(values), Self::List(more)) => {
                let room = LIST_LIMIT.saturating_sub(values.len());
                values.extend(more.into_iter().take(room));
            }
            (Self::Extreme { best, max }, Self::Extreme { best: Some((rank, kept)), .. }) => {
                // A later value replaces the kept one only when it ranks strictly above
                // (`max`) or below it, as when the rows are folded one by one.
                let text = match &kept {
                    Kept::Text(text) => text.clone(),
                    Kept::Time(_) => String::new(),
                };
                keep_extreme(best, *max, (rank, &text), || kept);
            }
            (
                Self::Moments { n, sum, sum_squares, .. },
                Self::Moments { n: more, sum: more_sum, sum_squares: more_squares, .. },
            ) => {
                *n += more;
                *sum += more_sum;
                *sum_squares += more_squares;
            }
            (Self::Range { low, high }, Self::Range { low: more_low, high: more_high }) => {
                *low = (*low).into_iter().chain(more_low).reduce(f64::min);
                *high = (*high).into_iter().chain(more_high).reduce(f64::max);
            }
            (Self::Numbers { values, .. }, Self::Numbers { values: more, .. }) => {
                values.extend(more);
            }
            (Self::Mode { counts, seen }, Self::Mode { counts: more, seen: more_seen }) => {
                // A value first seen in the later rows was seen after every earlier row. Each
                // entry merges on its own, so the order they come in changes nothing.
                #[allow(clippy::iter_over_hash_type)]
                for (value, (count, order)) in more {
                    counts.entry(value).or_insert((0, *seen + order)).0 += count;
                }
                *seen += more_seen;
            }
            (Self::Timed { best, latest, .. }, Self::Timed { best: Some((time, value)), .. }) => {
                let better = best.as_ref().is_none_or(|(best_time, _)| {
                    if *latest { time >= *best_time } else { time < *best_time }
                });
                if better {
                    *best = Some((time, value));
                }
            }
            (Self::Ordered { value, last }, Self::Ordered { value: Some(more), .. })
                if *last || value.is_none() =>
            {
                *value = Some(more);
            }
            // A later state that saw no value changes nothing.
            _ => {}
        }
    }

    /// Writes the state for [`Accumulator::load`], which is told its function.
    pub(crate) fn save(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        use super::spill::{put_f64, put_text, put_u64};
        fn put_texts<'v>(
            out: &mut impl std::io::Write,
            values: impl ExactSizeIterator<Item = &'v String>,
        ) -> std::io::Result<()> {
            put_u64(out, values.len() as u64)?;
            for value in values {
                put_text(out, value)?;
            }
            Ok(())
        }
        match self {
            Self::Count(count) => put_u64(out, *count),
            Self::Distinct { values, .. } => put_texts(out, values.iter()),
            Self::List(values) => put_texts(out, values.iter()),
            Self::Extreme { best, .. } => match best {
                None => out.write_all(&[0]),
                Some((rank, kept)) => {
                    match rank {
                        Rank::Time(micros) => {
                            out.write_all(&[1])?;
                            put_u64(out, micros.cast_unsigned())?;
                        }
                        Rank::Number(number) => {
                            out.write_all(&[2])?;
                            put_f64(out, *number)?;
                        }
                        Rank::Text => out.write_all(&[3])?,
                    }
                    match kept {
                        Kept::Text(text) => {
                            out.write_all(&[0])?;
                            put_text(out, text)
                        }
                        Kept::Time(micros) => {
                            out.write_all(&[1])?;
                            put_u64(out, micros.cast_unsigned())
                        }
                    }
                }
            },
            Self::Moments { n, sum, sum_squares, .. } => {
                put_u64(out, *n)?;
                put_f64(out, *sum)?;
                put_f64(out, *sum_squares)
            }
            Self::Range { low, high } => {
                for bound in [low, high] {
                    match bound {
                        None => out.write_all(&[0])?,
                        Some(number) => {
                            out.write_all(&[1])?;
                            put_f64(out, *number)?;
                        }
                    }
                }
                Ok(())
            }
            Self::Numbers { values, .. } => {
                put_u64(out, values.len() as u64)?;
                values.iter().try_for_each(|number| put_f64(out, *number))
            }
            Self::Mode { counts, seen } => {
                put_u64(out, *seen as u64)?;
                put_u64(out, counts.len() as u64)?;
                counts.iter().try_for_each(|(value, (count, order))| {
                    put_text(out, value)?;
                    put_u64(out, *count)?;
                    put_u64(out, *order as u64)
                })
            }
            Self::Timed { best, .. } => match best {
                None => out.write_all(&[0]),
                Some((time, value)) => {
                    out.write_all(&[1])?;
                    put_u64(out, time.cast_unsigned())?;
                    put_text(out, value)
                }
            },
            Self::Ordered { value, .. } => match value {
                None => out.write_all(&[0]),
                Some(value) => {
                    out.write_all(&[1])?;
                    put_text(out, value)
                }
            },
        }
    }

    /// Reads a state of `function` that [`Accumulator::save`] wrote.
    pub(crate) fn load(
        function: AggregateFunction,
        input: &mut impl std::io::Read,
    ) -> std::io::Result<Self> {
        use super::spill::{bad, get_f64, get_text, get_u8, get_u64, get_usize};
        let mut state = Self::new(function);
        match &mut state {
            Self::Count(count) => *count = get_u64(input)?,
            Self::Distinct { values, .. } => {
                for _ in 0..get_u64(input)? {
                    values.insert(get_text(input)?);
                }
            }
            Self::List(values) => {
                for _ in 0..get_u64(input)? {
                    values.push(get_text(input)?);
                }
            }
            Self::Extreme { best, .. } => {
                let rank = match get_u8(input)? {
                    0 => None,
                    1 => Some(Rank::Time(get_u64(input)?.cast_signed())),
                    2 => Some(Rank::Number(get_f64(input)?)),
                    3 => Some(Rank::Text),
                    _ => return Err(bad("a min/max rank")),
                };
                if let Some(rank) = rank {
                    let kept = match get_u8(input)? {
                        0 => Kept::Text(get_text(input)?),
                        1 => Kept::Time(get_u64(input)?.cast_signed()),
                        _ => return Err(bad("a min/max value")),
                    };
                    *best = Some((rank, kept));
                }
            }
            Self::Moments { n, sum, sum_squares, .. } => {
                *n = get_u64(input)?;
                *sum = get_f64(input)?;
                *sum_squares = get_f64(input)?;
            }
            Self::Range { low, high } => {
                for bound in [low, high] {
                    *bound = match get_u8(input)? {
                        0 => None,
                        _ => Some(get_f64(input)?),
                    };
                }
            }
            Self::Numbers { values, .. } => {
                for _ in 0..get_u64(input)? {
                    values.push(get_f64(input)?);
                }
            }
            Self::Mode { counts, seen } => {
                *seen = get_usize(input)?;
                for _ in 0..get_u64(input)? {
                    let value = get_text(input)?;
                    let count = get_u64(input)?;
                    counts.insert(value, (count, get_usize(input)?));
                }
            }
            Self::Timed { best, .. } => {
                if get_u8(input)? != 0 {
                    let time = get_u64(input)?.cast_signed();
                    *best = Some((time, get_text(input)?));
                }
            }
            Self::Ordered { value, .. } => {
                if get_u8(input)? != 0 {
                    *value = Some(get_text(input)?);
                }
            }
        }
        Ok(state)
    }

    /// The aggregate's value; `None` when it has none (no values seen).
    pub(crate) fn finish(&self) -> Option<FieldValue> {
        let single = |text: String| Some(FieldValue::Single(text));
        match self {
            Self::Count(count) => single(count.to_string()),
            Self::Distinct { values, count_only: true } => single(values.len().to_string()),
            Self::Distinct { values, count_only: false } => match values.len() {
                0 => None,
                1 => values.iter().next().cloned().map(FieldValue::Single),
                _ => Some(FieldValue::Multi(values.iter().cloned().collect())),
            },
            Self::List(values) => match values.len() {
                0 => None,
                1 => values.first().cloned().map(FieldValue::Single),
                _ => Some(FieldValue::Multi(values.clone())),
            },
            Self::Extreme { best, .. } => match best.as_ref()? {
                (_, Kept::Text(text)) => single(text.clone()),
                (_, Kept::Time(micros)) => single(super::epoch_seconds(*micros)),
            },
            Self::Moments { function, n, sum, sum_squares } => {
                if *n == 0 {
                    return None;
                }
                #[allow(clippy::cast_precision_loss)]
                let count = *n as f64;
                let mean = sum / count;
                let population_variance = (sum_squares / count - mean * mean).max(0.0);
                let sample_variance =
                    if *n > 1 { population_variance * count / (count - 1.0) } else { 0.0 };
                let value = match function {
                    AggregateFunction::Sum => *sum,
                    AggregateFunction::SumSquares => *sum_squares,
                    AggregateFunction::Avg => mean,
                    AggregateFunction::Var => sample_variance,
                    AggregateFunction::Varp => population_variance,
                    AggregateFunction::Stdev => sample_variance.sqrt(),
                    _ => population_variance.sqrt(),
                };
                single(format_number(value))
            }
            Self::Range { low, high } => match (low, high) {
                (Some(l), Some(h)) => single(format_number(h - l)),
                _ => None,
            },
            Self::Numbers { values, percentile } => {
                if values.is_empty() {
                    return None;
                }
                let mut sorted = values.clone();
                sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
                #[allow(clippy::cast_precision_loss)]
                let rank = percentile / 100.0 * (sorted.len() - 1) as f64;
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
                let (a, b) = (sorted.get(low).copied()?, sorted.get(high).copied()?);
                single(format_number(a + (b - a) * (rank - rank.floor())))
            }
            Self::Mode { counts, .. } => counts
                .iter()
                .max_by(|(_, (n1, o1)), (_, (n2, o2))| n1.cmp(n2).then(o2.cmp(o1)))
                .and_then(|(value, _)| single(value.clone())),
            Self::Timed { best, give_time, .. } => best.as_ref().and_then(|(time, value)| {
                if *give_time { single(super::epoch_seconds(*time)) } else { single(value.clone()) }
            }),
            Self::Ordered { value, .. } => value.clone().and_then(single),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::with_cases(256)
        })]

        /// Folding `_time` without its text gives what folding its text does, for every
        /// aggregate, repeated and sub-second times included.
        #[test]
        fn a_time_folds_as_its_text(times in proptest::collection::vec(-3i64..3, 0..12), scale in prop_oneof![Just(1i64), Just(500_000), Just(1_000_000)]) {
            use AggregateFunction as F;
            for function in [F::Min, F::Max, F::Count, F::Values, F::Avg, F::Earliest, F::LatestTime, F::First] {
                let mut lazy = Accumulator::new(function);
                let mut eager = Accumulator::new(function);
                for time in &times {
                    let micros = 1_700_000_000_000_000 + time * scale;
                    lazy.add_time(micros);
                    eager.add(&crate::eval::epoch_seconds(micros), Some(micros), true);
                }
                prop_assert_eq!(lazy.finish(), eager.finish(), "{:?}", function);
            }
        }
    }

    /// Every function, with the values of `values` and `_time` given to it.
    const FUNCTIONS: &[AggregateFunction] = &[
        AggregateFunction::Count,
        AggregateFunction::DistinctCount,
        AggregateFunction::Values,
        AggregateFunction::List,
        AggregateFunction::Min,
        AggregateFunction::Max,
        AggregateFunction::Sum,
        AggregateFunction::Avg,
        AggregateFunction::Stdev,
        AggregateFunction::Range,
        AggregateFunction::Median,
        AggregateFunction::Percentile(90.0),
        AggregateFunction::Mode,
        AggregateFunction::Earliest,
        AggregateFunction::Latest,
        AggregateFunction::EarliestTime,
        AggregateFunction::LatestTime,
        AggregateFunction::First,
        AggregateFunction::Last,
    ];

    /// A value folded in: text or a number, at a time (repeated times included), or a
    /// record's `_time`.
    fn folded() -> impl Strategy<Value = (String, i64, bool)> {
        (
            prop_oneof![
                proptest::sample::select(&["a", "B", "b", "", "é", "10", "9", "-1.5", "1e3"][..])
                    .prop_map(str::to_owned),
                (0..200u32).prop_map(|n| n.to_string()),
            ],
            0..6i64,
            proptest::bool::weighted(0.2),
        )
    }

    fn fold(state: &mut Accumulator, values: &[(String, i64, bool)]) {
        for (value, time, is_time) in values {
            let micros = 1_700_000_000_000_000 + time * 1_000_000;
            if *is_time {
                state.add_time(micros);
            } else {
                state.add(value, Some(micros), false);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::with_cases(512)
        })]

        /// The rows before and after any point, folded apart, written out, read back and
        /// merged, give what folding them all gives: what lets `tstats` spill its groups.
        #[test]
        fn states_merge_as_one_fold(
            values in proptest::collection::vec(folded(), 0..160),
            cut in 0..1000usize,
            pieces in 1..4usize,
        ) {
            for &function in FUNCTIONS.iter().filter(|f| Accumulator::merges_exactly(**f)) {
                let mut whole = Accumulator::new(function);
                fold(&mut whole, &values);
                // `pieces` runs of rows, cut at `cut` and after.
                let mut merged: Option<Accumulator> = None;
                let mut rest = values.as_slice();
                for piece in 0..pieces {
                    let at = if piece + 1 == pieces { rest.len() } else { (cut * (piece + 1)) % (rest.len() + 1) };
                    let (this, after) = rest.split_at(at);
                    rest = after;
                    let mut state = Accumulator::new(function);
                    fold(&mut state, this);
                    let mut bytes = Vec::new();
                    state.save(&mut bytes).unwrap();
                    let mut input = bytes.as_slice();
                    let loaded = Accumulator::load(function, &mut input).unwrap();
                    prop_assert!(input.is_empty(), "{:?}: bytes left", function);
                    prop_assert_eq!(loaded.finish(), state.finish(), "{:?} read back", function);
                    match &mut merged {
                        None => merged = Some(loaded),
                        Some(earlier) => earlier.merge(loaded),
                    }
                }
                prop_assert_eq!(merged.and_then(|state| state.finish()), whole.finish(), "{:?}", function);
            }
        }
    }

    #[test]
    fn only_floating_point_sums_do_not_merge_exactly() {
        let unmerged: Vec<_> =
            FUNCTIONS.iter().filter(|f| !Accumulator::merges_exactly(**f)).collect();
        assert_eq!(
            unmerged,
            [&AggregateFunction::Sum, &AggregateFunction::Avg, &AggregateFunction::Stdev]
        );
    }

    fn run(function: AggregateFunction, values: &[&str]) -> Option<FieldValue> {
        let mut acc = Accumulator::new(function);
        for (i, v) in values.iter().enumerate() {
            acc.add(v, Some(i64::try_from(i).unwrap()), false);
        }
        acc.finish()
    }

    #[allow(clippy::unnecessary_wraps)]
    fn single(text: &str) -> Option<FieldValue> {
        Some(FieldValue::Single(text.to_owned()))
    }

    #[test]
    fn numeric_aggregates_skip_text() {
        assert_eq!(run(AggregateFunction::Sum, &["1", "2", "x"]), single("3"));
        assert_eq!(run(AggregateFunction::Avg, &["1", "2"]), single("1.5"));
        assert_eq!(run(AggregateFunction::Avg, &["x"]), None);
        assert_eq!(run(AggregateFunction::Range, &["5", "1", "9"]), single("8"));
        assert_eq!(
            run(AggregateFunction::Stdev, &["2", "4", "4", "4", "5", "5", "7", "9"]),
            single("2.138089935299395")
        );
        assert_eq!(
            run(AggregateFunction::Stdevp, &["2", "4", "4", "4", "5", "5", "7", "9"]),
            single("2")
        );
    }

    #[test]
    fn percentiles_interpolate_as_the_documented_example() {
        let values = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];
        // Search Reference: perc50 of the values 1 to 10 is shown as 5.5.
        assert_eq!(run(AggregateFunction::Percentile(50.0), &values), single("5.5"));
        assert_eq!(run(AggregateFunction::Median, &["3", "1", "2"]), single("2"));
    }

    #[test]
    fn values_sort_lexicographically_and_min_ranks_numbers_first() {
        assert_eq!(
            run(AggregateFunction::Values, &["9", "10", "b", "A"]),
            Some(FieldValue::Multi(vec!["10".into(), "9".into(), "A".into(), "b".into()]))
        );
        assert_eq!(run(AggregateFunction::Min, &["b", "10", "9"]), single("9"));
        assert_eq!(run(AggregateFunction::Max, &["b", "10", "9"]), single("b"));
        assert_eq!(run(AggregateFunction::Mode, &["a", "b", "b", "a", "c"]), single("a"));
        assert_eq!(run(AggregateFunction::First, &["a", "b"]), single("a"));
        assert_eq!(run(AggregateFunction::Last, &["a", "b"]), single("b"));
    }
}
