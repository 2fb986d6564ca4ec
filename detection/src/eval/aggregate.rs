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
    /// time they keep when the fold is over, not of every time they see.
    pub(crate) fn add_time(&mut self, micros: i64) {
        match self {
            Self::Extreme { best, max } => {
                keep_extreme(best, *max, (Rank::Time(micros), ""), || Kept::Time(micros));
            }
            _ => self.add(&super::epoch_seconds(micros), Some(micros), true),
        }
    }

    /// One value of the aggregate's field, from a row at `time_micros`; `is_time` when the
    /// field is `_time` itself (ranked by its microseconds).
    pub(crate) fn add(&mut self, value: &str, time_micros: Option<i64>, is_time: bool) {
        match self {
            Self::Count(count) => *count += 1,
            Self::Distinct { values, .. } => {
                if !values.contains(value) {
                    values.insert(value.to_owned());
                }
            }
            Self::List(values) => {
                if values.len() < LIST_LIMIT {
                    values.push(value.to_owned());
                }
            }
            Self::Extreme { best, max } => {
                let rank = match (is_time, time_micros) {
                    (true, Some(micros)) => Rank::Time(micros),
                    _ => parse_number(value).map_or(Rank::Text, Rank::Number),
                };
                keep_extreme(best, *max, (rank, value), || Kept::Text(value.to_owned()));
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
                }
            }
            Self::Mode { counts, seen } => {
                let order = *seen;
                *seen += 1;
                counts.entry(value.to_owned()).or_insert((0, order)).0 += 1;
            }
            Self::Timed { best, latest, .. } => {
                let Some(time) = time_micros else { return };
                let better = best.as_ref().is_none_or(|(best_time, _)| {
                    if *latest { time >= *best_time } else { time < *best_time }
                });
                if better {
                    *best = Some((time, value.to_owned()));
                }
            }
            Self::Ordered { value: kept, last } => {
                if *last || kept.is_none() {
                    *kept = Some(value.to_owned());
                }
            }
        }
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
