//! The parsed pipeline: one [`Command`] per `|` stage, with the boolean conditions of
//! `search`, `tstats … where` and `where`. Public so that callers can inspect a rule (for
//! example derive a prefilter from [`Condition::required_literals`]).

use std::collections::BTreeSet;
use std::ops::Range;

use super::lexer::CompareOp;
use super::pattern::{FieldGlob, Pattern};
use super::time_format::TimeFormat;

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Command {
    /// `tstats … from datamodel=… [where …] [by …]`, the generating command.
    Tstats(Tstats),
    /// `rename A AS B[, C AS D …]`.
    Rename(Vec<RenamePair>),
    /// `convert [timeformat="…"] ctime(f) [as g] …`.
    Convert(Convert),
    /// `search <condition>` over result rows.
    Search(Condition),
    /// `where <comparisons>` over result rows.
    Where(WhereExpr),
    /// `table f …`: these columns, in this order.
    Table(Vec<FieldGlob>),
    /// `fields [+] f …` keeps, `fields - f …` removes.
    Fields {
        /// `-`: remove the listed fields instead of keeping them.
        remove: bool,
        /// The fields or patterns.
        fields: Vec<FieldGlob>,
    },
}

/// `tstats`: aggregates over the records of one data model node.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Tstats {
    /// `summariesonly=`; offline every record counts as summarized, so it changes nothing.
    pub summaries_only: Option<bool>,
    /// `allow_old_summaries=`; recorded, no effect offline.
    pub allow_old_summaries: Option<bool>,
    /// `fillnull_value=`: the value of a null `by` field; without it such records are dropped.
    pub fillnull_value: Option<String>,
    /// The aggregates, in output order.
    pub aggregates: Vec<Aggregate>,
    /// The data model (`Endpoint`).
    pub datamodel: String,
    /// The node (`Processes`), the prefix of field names.
    pub node: String,
    /// The `where` condition, if any.
    pub filter: Option<Condition>,
    /// The `by` fields as written (`Processes.user`), which are also the output columns.
    pub by: Vec<String>,
    /// Byte range of the command in the expanded search.
    #[serde(skip)]
    pub(crate) span: Range<usize>,
}

/// An aggregate function over a group's records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Aggregate {
    /// What it computes.
    pub function: AggregateFunction,
    /// Its field as written; `None` for a bare `count`.
    pub field: Option<String>,
    /// The output column: the `as` name, else the call as written (`min(_time)`).
    pub output: String,
}

/// The aggregate functions `tstats` evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum AggregateFunction {
    /// `count` (records) or `count(f)` (values of `f`).
    Count,
    /// `min(f)`: numbers compare as numbers and sort before strings.
    Min,
    /// `max(f)`: numbers compare as numbers and sort before strings.
    Max,
    /// `values(f)`: distinct values, sorted byte by byte; multivalue.
    Values,
    /// `dc(f)`: number of distinct values.
    DistinctCount,
    /// `earliest(f)`: the value of the earliest record having one.
    Earliest,
    /// `latest(f)`: the value of the latest record having one.
    Latest,
}

impl AggregateFunction {
    /// The function for `name` as written in SPL.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "count" | "c" => Self::Count,
            "min" => Self::Min,
            "max" => Self::Max,
            "values" => Self::Values,
            "dc" | "distinct_count" => Self::DistinctCount,
            "earliest" => Self::Earliest,
            "latest" => Self::Latest,
            _ => return None,
        })
    }
}

/// One `from AS to` pair of `rename`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RenamePair {
    /// The fields to rename; each `*` captures a run.
    pub from: FieldGlob,
    /// The new name; each `*` takes the matching capture.
    pub to: FieldGlob,
}

/// `convert`: the time format and its `ctime` conversions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Convert {
    /// `timeformat=`, or Splunk's default `%m/%d/%Y %H:%M:%S`.
    pub time_format: TimeFormat,
    /// The `ctime(f) [as g]` conversions, in order.
    pub conversions: Vec<Conversion>,
}

/// `ctime(field) [as output]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conversion {
    /// The field holding epoch seconds.
    pub field: String,
    /// Where the text goes; `None` rewrites `field` in place.
    pub output: Option<String>,
}

/// A search condition as `search` and `tstats … where` read it: values compare
/// case-insensitively with `*` wildcards; field names are case-sensitive.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Condition {
    /// `*`: every row.
    Any,
    /// `field op value`. `=` matches the pattern; `!=` needs a value that does not match
    /// (a null field matches neither); `<`… compare numbers as numbers, else strings.
    Compare {
        /// The field.
        field: String,
        /// `=`, `!=`, `<`, `<=`, `>` or `>=`.
        op: CompareOp,
        /// The value.
        value: Pattern,
    },
    /// `field IN (v, …)`: the field matches one of the values.
    In {
        /// The field.
        field: String,
        /// The values.
        values: Vec<Pattern>,
    },
    /// `NOT c`: also true when `c`'s field is null.
    Not(Box<Condition>),
    /// Terms separated by spaces or `AND`, which bind last: `a OR b c` is
    /// `And[Or[a, b], c]`.
    And(Vec<Condition>),
    /// Terms separated by `OR`, which binds tighter than `AND` in a search.
    Or(Vec<Condition>),
}

impl Condition {
    /// Lower-cased literals every matching row contains in some field: the pieces of `=`
    /// patterns that all alternatives share. A prefilter may skip records lacking any of
    /// them (for the comsvcs rule: `rundll32.exe`, `comsvcs.dll`, `minidump`).
    pub fn required_literals(&self) -> BTreeSet<String> {
        match self {
            Self::Compare { op: CompareOp::Eq, value, .. } => {
                value.literals().map(str::to_owned).collect()
            }
            Self::In { values, .. } => intersect(
                values
                    .iter()
                    .map(|value| value.literals().map(str::to_owned).collect::<BTreeSet<_>>()),
            ),
            Self::And(terms) => terms.iter().flat_map(Self::required_literals).collect(),
            Self::Or(terms) => intersect(terms.iter().map(Self::required_literals)),
            Self::Any | Self::Compare { .. } | Self::Not(_) => BTreeSet::new(),
        }
    }
}

/// The literals in every set; nothing when there are no sets.
fn intersect(mut sets: impl Iterator<Item = BTreeSet<String>>) -> BTreeSet<String> {
    let Some(first) = sets.next() else {
        return BTreeSet::new();
    };
    sets.fold(first, |acc, set| acc.intersection(&set).cloned().collect())
}

/// A `where` expression: comparisons joined by `AND`, `OR`, `NOT`, with `AND` binding tighter
/// than `OR` (the reverse of `search`). Unlike `search`, equality
/// is exact (case-sensitive, no wildcards) and a comparison with a null field is null, which
/// `where` treats as false, also under `NOT`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum WhereExpr {
    /// `left op right`.
    Compare {
        /// The left operand.
        left: Operand,
        /// The operator; `=` and `==` are the same.
        op: CompareOp,
        /// The right operand.
        right: Operand,
    },
    /// `NOT e`.
    Not(Box<WhereExpr>),
    /// `a AND b …`.
    And(Vec<WhereExpr>),
    /// `a OR b …`.
    Or(Vec<WhereExpr>),
}

/// An operand of a `where` comparison.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Operand {
    /// An unquoted name: a field's value.
    Field(String),
    /// A double-quoted string.
    Text(String),
    /// A number as written.
    Number(String),
}
