//! The parsed pipeline: one [`Command`] per `|` stage, with the boolean conditions of
//! `search` and `tstats … where`, and the eval expressions of `eval`, `where` and friends.
//! Public so that callers can inspect a rule (for example derive a prefilter from
//! [`Condition::required_literals`]).

use std::collections::BTreeSet;
use std::ops::Range;

use super::expr::Expr;
use super::lexer::CompareOp;
use super::pattern::{FieldGlob, Pattern};
use super::time_format::TimeFormat;

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Command {
    /// `tstats … from datamodel=… [where …] [by …]`, the generating command.
    Tstats(Tstats),
    /// A search over raw events as the first command (`sysmon EventCode=1`, or `search …`
    /// at the start): the events the condition selects, newest first.
    Events(Condition),
    /// `rename A AS B[, C AS D …]`.
    Rename(Vec<RenamePair>),
    /// `convert [timeformat="…"] ctime(f) [as g] …`.
    Convert(Convert),
    /// `search <condition>` over result rows.
    Search(Condition),
    /// `where <expression>`: keeps rows where it is true.
    Where(Expr),
    /// `eval f=expr[, g=expr …]`.
    Eval(Vec<Assignment>),
    /// `table f …`: these columns, in this order.
    Table(Vec<FieldGlob>),
    /// `fields [+] f …` keeps, `fields - f …` removes.
    Fields {
        /// `-`: remove the listed fields instead of keeping them.
        remove: bool,
        /// The fields or patterns.
        fields: Vec<FieldGlob>,
    },
    /// `stats`, `eventstats` or `streamstats`.
    Stats(Stats),
    /// `bin`/`bucket <field> span=…`.
    Bin(Bin),
    /// `rex [field=f] [max_match=n] "regex"` or `rex mode=sed "s/…/…/"`.
    Rex(Rex),
    /// `regex [field[=|!=]]"regex"`.
    Regex(RegexFilter),
    /// `fillnull [value=v] [f …]`.
    Fillnull(Fillnull),
    /// `dedup [N] f … [keepempty=b] [consecutive=b] [sortby …]`.
    Dedup(Dedup),
    /// `sort [N] [+|-]f …`.
    Sort(Sort),
    /// `head [N]`.
    Head(usize),
    /// `tail [N]`.
    Tail(usize),
    /// `reverse`.
    Reverse,
    /// `mvexpand f [limit=n]`.
    Mvexpand {
        /// The multivalue field.
        field: String,
        /// Most rows made from one row; `None` for all.
        limit: Option<usize>,
    },
    /// `makemv [delim="…"|tokenizer="…"] [allowempty=b] [setsv=b] f`.
    Makemv(Makemv),
    /// `nomv f`: a multivalue becomes one value, its values joined by newlines.
    Nomv(String),
    /// `foreach f … [fieldstr=…] [matchstr=…] [ <subsearch> ]`: the inner commands run once
    /// per matching field with `<<FIELD>>` replaced.
    Foreach(Foreach),
    /// `| makeresults [count=N]`: N rows holding only `_time`, the search's time.
    Makeresults(usize),
    /// `| inputlookup [append=t] <table> [where <condition>]`: the rows of a lookup.
    Inputlookup(Inputlookup),
    /// `lookup <table> <field> [AS <f>] … [OUTPUT|OUTPUTNEW <field> [AS <f>] …]`.
    Lookup(LookupCommand),
    /// `join [type=…] [max=…] [overwrite=…] [<fields>] [ <subsearch> ]`.
    Join(Join),
    /// `append [ <subsearch> ]`: the subsearch's rows after the results.
    Append(Pipeline),
    /// `appendpipe [ <commands> ]`: the commands run over the results so far, their rows
    /// appended.
    Appendpipe(Pipeline),
    /// `spath [input=f] [output=f] [path=p]`.
    Spath(Spath),
    /// `xmlkv [field]`: `<tag>value</tag>` pairs of the field (`_raw`) as fields.
    Xmlkv(String),
    /// `fromjson <field> [prefix=p]`: the keys of a JSON object as fields.
    Fromjson {
        /// The field holding JSON.
        field: String,
        /// Put before each new field's name.
        prefix: String,
    },
    /// `transaction <fields> [maxspan=…] [maxpause=…] [startswith=…] [endswith=…]`.
    Transaction(Transaction),
    /// `replace <value> WITH <new>[, …] IN <fields>`.
    Replace(Replace),
    /// `addtotals [fieldname=f] [<fields>]`: each row's sum of its numeric fields.
    Addtotals {
        /// The field the sum goes to (`Total`).
        fieldname: String,
        /// The fields added; every numeric field when empty.
        fields: Vec<FieldGlob>,
    },
    /// `format`: the rows as one search expression, in the field `search`.
    Format,
    /// `return [N] [field | alias=field | $field] …`: the first N rows as a search
    /// expression, in the field `search`.
    Return(Return),
}

/// A pipeline inside a search: a subsearch (`[search …]`) or the commands of `appendpipe`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pipeline {
    /// The commands, generating command first for a subsearch.
    pub commands: Vec<Command>,
    /// Each command's byte range in the expanded search.
    #[serde(skip)]
    pub spans: Vec<Range<usize>>,
    /// Where the pipeline starts in the expanded search, which names it within the search.
    #[serde(skip)]
    pub start: usize,
}

impl PartialEq for Pipeline {
    /// Pipelines are equal by their commands, wherever written.
    fn eq(&self, other: &Self) -> bool {
        self.commands == other.commands
    }
}

/// `inputlookup`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Inputlookup {
    /// The lookup's name or file name.
    pub table: String,
    /// `where`: a search condition over its rows.
    pub filter: Option<Condition>,
    /// `append=true`: the rows go after the current results instead of replacing them.
    pub append: bool,
}

/// `lookup`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LookupCommand {
    /// The lookup's name or file name.
    pub table: String,
    /// (lookup column, result field) pairs that must match.
    pub inputs: Vec<(String, String)>,
    /// (lookup column, result field) pairs written; empty for every other column.
    pub outputs: Vec<(String, String)>,
    /// `OUTPUTNEW`: rows that already have the output fields are left alone.
    pub output_new: bool,
}

/// `join`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Join {
    /// `type=left` (or `outer`) keeps rows without a match.
    pub left: bool,
    /// `max=`: subsearch rows one row may join with; 0 for all. 1 by default.
    pub max: usize,
    /// `overwrite=`: subsearch values replace the row's. True by default.
    pub overwrite: bool,
    /// The fields that must be equal; every field both sides have when empty.
    pub fields: Vec<String>,
    /// The subsearch.
    pub subsearch: Pipeline,
}

/// `spath`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Spath {
    /// `input=`; `_raw` by default.
    pub input: String,
    /// `output=`; the path by default.
    pub output: Option<String>,
    /// `path=` (or the bare path); every path when none.
    pub path: Option<String>,
}

/// `transaction`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Transaction {
    /// The fields whose values identify a transaction.
    pub fields: Vec<String>,
    /// `maxspan=`: most time between a transaction's first and last event, in seconds.
    pub max_span: Option<i64>,
    /// `maxpause=`: most time between two events of a transaction, in seconds.
    pub max_pause: Option<i64>,
    /// `startswith=`: an event that opens a transaction.
    pub starts_with: Option<Condition>,
    /// `endswith=`: an event that closes a transaction.
    pub ends_with: Option<Condition>,
}

/// `replace`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Replace {
    /// (value pattern with `*`, replacement with `*` for the captured runs).
    pub pairs: Vec<(FieldGlob, FieldGlob)>,
    /// The fields; every field when empty.
    pub fields: Vec<FieldGlob>,
}

/// `return`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Return {
    /// Rows used: 1 by default.
    pub count: usize,
    /// What each row gives.
    pub items: Vec<ReturnItem>,
}

/// One item of `return`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum ReturnItem {
    /// `field`: `field="value"`.
    Field(String),
    /// `alias=field`: `alias="value"`.
    Alias(String, String),
    /// `$field`: the value alone.
    Value(String),
}

/// `field = expression` of `eval`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Assignment {
    /// The field assigned.
    pub field: String,
    /// Its new value.
    pub expr: Expr,
}

/// `tstats`: aggregates over the records of one data model node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Tstats {
    /// `summariesonly=`; offline every record counts as summarized, so it changes nothing.
    pub summaries_only: Option<bool>,
    /// `allow_old_summaries=`; recorded, no effect offline.
    pub allow_old_summaries: Option<bool>,
    /// `fillnull_value=`: the value of a null `by` field; without it such records are dropped.
    pub fillnull_value: Option<String>,
    /// `prestats=`: recorded; `true` is refused, as its output is for another command.
    pub prestats: Option<bool>,
    /// The aggregates, in output order.
    pub aggregates: Vec<Aggregate>,
    /// The data model (`Endpoint`).
    pub datamodel: String,
    /// The root dataset (`Processes`, `All_Traffic`), the prefix of field names.
    pub node: String,
    /// The dataset read, from the root (`All_Traffic.Traffic_By_Action.Allowed_Traffic`
    /// when `where nodename=` names a child).
    pub dataset: String,
    /// The `where` condition, if any.
    pub filter: Option<Condition>,
    /// The `by` fields as written (`Processes.user`), which are also the output columns.
    pub by: Vec<String>,
    /// `by _time span=…`: the size of `_time` buckets.
    pub span: Option<Span>,
    /// Byte range of the command in the expanded search.
    #[serde(skip)]
    pub(crate) span_in_search: Range<usize>,
    /// The dataset, resolved when the search was parsed.
    #[serde(skip)]
    pub(crate) resolved: Option<crate::datamodel::Node>,
    /// Aggregated fields that are no field of the node (`dc(registry_value_name)` without
    /// its `Registry.` prefix): they read null, which `validate` warns about.
    #[serde(skip)]
    pub foreign_aggregates: Vec<String>,
    /// The `where` condition made ready for many records, built on first use.
    #[serde(skip)]
    pub(crate) matcher: std::sync::OnceLock<Option<Box<crate::eval::Matcher>>>,
}

impl Tstats {
    /// The `where` condition as records are tested against it (see `eval::condition`).
    pub(crate) fn matcher(&self) -> Option<&crate::eval::Matcher> {
        self.matcher
            .get_or_init(|| {
                self.filter.as_ref().map(|filter| Box::new(crate::eval::Matcher::new(filter)))
            })
            .as_deref()
    }
}

impl PartialEq for Tstats {
    /// Equal by meaning, wherever written.
    fn eq(&self, other: &Self) -> bool {
        self.summaries_only == other.summaries_only
            && self.allow_old_summaries == other.allow_old_summaries
            && self.fillnull_value == other.fillnull_value
            && self.prestats == other.prestats
            && self.aggregates == other.aggregates
            && self.datamodel == other.datamodel
            && self.node == other.node
            && self.dataset == other.dataset
            && self.filter == other.filter
            && self.by == other.by
            && self.span == other.span
    }
}

/// A time bucket size: `span=1h`, `span=5m`, `span=1d`, `span=1mon`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Span {
    /// How many units.
    pub count: u32,
    /// The unit.
    pub unit: SpanUnit,
}

/// Units of a time span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SpanUnit {
    /// Seconds.
    Second,
    /// Minutes.
    Minute,
    /// Hours.
    Hour,
    /// Days.
    Day,
    /// Weeks (seven days).
    Week,
    /// Calendar months.
    Month,
    /// Calendar quarters.
    Quarter,
    /// Calendar years.
    Year,
}

/// An aggregate function over a group's records or rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Aggregate {
    /// What it computes.
    pub function: AggregateFunction,
    /// Its argument; `None` for a bare `count`.
    pub argument: Option<AggregateArgument>,
    /// The output column: the `as` name, else the call as written (`min(_time)`).
    pub output: String,
}

impl Aggregate {
    /// The field the aggregate reads, when its argument is a field.
    pub fn field(&self) -> Option<&str> {
        match &self.argument {
            Some(AggregateArgument::Field(field)) => Some(field),
            _ => None,
        }
    }
}

/// What an aggregate reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum AggregateArgument {
    /// A field's values.
    Field(String),
    /// `eval(expression)`: the expression's value for each row.
    Eval(Expr),
}

/// The aggregate functions of `stats` and `tstats`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum AggregateFunction {
    /// `count` (rows) or `count(f)` (values of `f`).
    Count,
    /// `dc(f)`: number of distinct values.
    DistinctCount,
    /// `values(f)`: distinct values, sorted lexicographically; multivalue.
    Values,
    /// `list(f)`: every value in order (the first 100).
    List,
    /// `min(f)`: numbers compare as numbers and sort before strings.
    Min,
    /// `max(f)`.
    Max,
    /// `sum(f)` of the numeric values.
    Sum,
    /// `sumsq(f)`: sum of squares.
    SumSquares,
    /// `avg(f)`/`mean(f)` of the numeric values.
    Avg,
    /// `stdev(f)`: sample standard deviation.
    Stdev,
    /// `stdevp(f)`: population standard deviation.
    Stdevp,
    /// `var(f)`: sample variance.
    Var,
    /// `varp(f)`: population variance.
    Varp,
    /// `range(f)`: max − min of the numeric values.
    Range,
    /// `median(f)`.
    Median,
    /// `mode(f)`: the most frequent value.
    Mode,
    /// `perc<N>(f)`, `p<N>(f)`: the N-th percentile.
    Percentile(f64),
    /// `earliest(f)`: the value of the earliest row having one.
    Earliest,
    /// `latest(f)`: the value of the latest row having one.
    Latest,
    /// `earliest_time(f)`: the `_time` of that row.
    EarliestTime,
    /// `latest_time(f)`.
    LatestTime,
    /// `first(f)`: the value of the first row, in the order rows arrive.
    First,
    /// `last(f)`.
    Last,
}

impl AggregateFunction {
    /// The function for `name` as written in SPL.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "count" | "c" => Self::Count,
            "dc" | "distinct_count" | "estdc" => Self::DistinctCount,
            "values" => Self::Values,
            "list" => Self::List,
            "min" => Self::Min,
            "max" => Self::Max,
            "sum" => Self::Sum,
            "sumsq" => Self::SumSquares,
            "avg" | "mean" => Self::Avg,
            "stdev" => Self::Stdev,
            "stdevp" => Self::Stdevp,
            "var" => Self::Var,
            "varp" => Self::Varp,
            "range" => Self::Range,
            "median" => Self::Median,
            "mode" => Self::Mode,
            "earliest" => Self::Earliest,
            "latest" => Self::Latest,
            "earliest_time" => Self::EarliestTime,
            "latest_time" => Self::LatestTime,
            "first" => Self::First,
            "last" => Self::Last,
            _ => {
                let digits = name
                    .strip_prefix("perc")
                    .or_else(|| name.strip_prefix("exactperc"))
                    .or_else(|| name.strip_prefix("upperperc"))
                    .or_else(|| name.strip_prefix('p'))?;
                let n: f64 = digits.parse().ok().filter(|n| (0.0..=100.0).contains(n))?;
                Self::Percentile(n)
            }
        })
    }

    /// Whether the result depends on the order rows arrive in.
    pub fn depends_on_order(self) -> bool {
        matches!(self, Self::List | Self::First | Self::Last)
    }
}

/// `stats`, `eventstats`, `streamstats`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stats {
    /// Which of the three.
    pub kind: StatsKind,
    /// The aggregates, in output order.
    pub aggregates: Vec<Aggregate>,
    /// The `by` fields.
    pub by: Vec<String>,
    /// `streamstats window=N`: statistics over the last N rows; 0 for all.
    pub window: usize,
    /// `streamstats current=f`: the statistics leave out the current row.
    pub current: bool,
    /// `streamstats global=f` with a window: one window per group.
    pub global: bool,
}

/// The three statistics commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum StatsKind {
    /// One row per group.
    Stats,
    /// Every row, with its group's statistics added.
    Eventstats,
    /// Every row, with the statistics of the rows so far added.
    Streamstats,
}

/// `bin`/`bucket`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bin {
    /// The field bucketed (`_time`).
    pub field: String,
    /// The span; for `_time` a time span, else a number.
    pub span: BinSpan,
    /// `as name`.
    pub output: Option<String>,
}

/// The size of a `bin` bucket.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum BinSpan {
    /// A time span.
    Time(Span),
    /// A numeric width.
    Number(f64),
}

/// `rex`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rex {
    /// `field=`; `_raw` by default.
    pub field: String,
    /// The pattern (extraction) or sed expression.
    pub pattern: String,
    /// `mode=sed`.
    pub sed: Option<SedExpression>,
    /// `max_match=`: 1 by default, 0 for every match.
    pub max_match: usize,
}

/// A sed expression of `rex mode=sed`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum SedExpression {
    /// `s/regex/replacement/flags`: the first match, every match with `g`, or the N-th.
    Substitute {
        /// The pattern.
        pattern: String,
        /// The replacement, `\N` for group N.
        replacement: String,
        /// `g`.
        global: bool,
    },
    /// `y/abc/xyz/`: characters replaced one for one.
    Transliterate {
        /// Characters to replace.
        from: Vec<char>,
        /// Their replacements.
        to: Vec<char>,
    },
}

/// `regex`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RegexFilter {
    /// The field tested; `_raw` by default.
    pub field: String,
    /// `!=`: keep rows that do not match.
    pub negated: bool,
    /// The pattern.
    pub pattern: String,
}

/// `fillnull`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fillnull {
    /// `value=`; `0` by default.
    pub value: String,
    /// The fields; empty for every field of the results.
    pub fields: Vec<String>,
}

/// `dedup`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Dedup {
    /// How many rows to keep per combination; 1 by default.
    pub count: usize,
    /// The fields.
    pub fields: Vec<String>,
    /// `keepempty=true`: keep rows missing a field.
    pub keep_empty: bool,
    /// `consecutive=true`: only remove runs of duplicates.
    pub consecutive: bool,
    /// `sortby`: the order of the rows kept.
    pub sort_by: Vec<SortKey>,
}

/// `sort`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sort {
    /// Most rows kept: 10,000 by default, `None` for `sort 0`.
    pub limit: Option<usize>,
    /// The keys, most significant first.
    pub keys: Vec<SortKey>,
}

/// One key of `sort`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SortKey {
    /// The field.
    pub field: String,
    /// `-`.
    pub descending: bool,
    /// How values compare.
    pub order: SortOrder,
}

/// How `sort` compares values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SortOrder {
    /// Numbers numerically, before strings; strings lexicographically.
    Auto,
    /// `num()`.
    Numeric,
    /// `str()`: lexicographic.
    Text,
    /// `ip()`: IP addresses by their numeric value.
    Ip,
}

/// `makemv`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Makemv {
    /// The field.
    pub field: String,
    /// How values are found.
    pub split: MakemvSplit,
    /// `allowempty=true`: keep empty values.
    pub allow_empty: bool,
    /// `setsv=true`: also keep the original single value.
    pub set_single: bool,
}

/// How `makemv` splits a value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum MakemvSplit {
    /// `delim="…"`: a single space by default.
    Delimiter(String),
    /// `tokenizer="regex"`: each match (its first group, if any) is a value.
    Tokenizer(String),
}

/// `foreach`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Foreach {
    /// The fields or patterns.
    pub fields: Vec<FieldGlob>,
    /// The inner commands' text with `<<FIELD>>` (and the other templates) still in it.
    pub template: String,
    /// Where the template starts in the expanded search.
    #[serde(skip)]
    pub template_offset: usize,
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
    /// A free-text term: the raw event (`_raw`) holds it, as Splunk's segmentation finds
    /// terms (see `eval::condition`).
    Term(Pattern),
    /// `[ … ]`: the search expression the subsearch's rows format to, run first.
    Subsearch(Pipeline),
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
            Self::Compare { op: CompareOp::Eq, value, .. } | Self::Term(value) => {
                value.literals().map(str::to_owned).collect()
            }
            Self::In { values, .. } => intersect(
                values
                    .iter()
                    .map(|value| value.literals().map(str::to_owned).collect::<BTreeSet<_>>()),
            ),
            Self::And(terms) => terms.iter().flat_map(Self::required_literals).collect(),
            Self::Or(terms) => intersect(terms.iter().map(Self::required_literals)),
            Self::Any | Self::Compare { .. } | Self::Not(_) | Self::Subsearch(_) => BTreeSet::new(),
        }
    }

    /// Whether a subsearch is part of the condition.
    pub fn has_subsearch(&self) -> bool {
        match self {
            Self::Subsearch(_) => true,
            Self::Not(inner) => inner.has_subsearch(),
            Self::And(terms) | Self::Or(terms) => terms.iter().any(Self::has_subsearch),
            _ => false,
        }
    }

    /// Every field the condition names, in order of first use (`_raw` for a free-text term).
    pub fn fields(&self) -> Vec<&str> {
        let mut named = Vec::new();
        self.collect_fields(&mut named);
        // Kept distinct through a set: a linear search per name made a `where` of 40,000
        // fields quadratic.
        let mut seen = std::collections::HashSet::new();
        named.retain(|field| seen.insert(*field));
        named
    }

    /// Every field named, repeats included, in order.
    fn collect_fields<'c>(&'c self, fields: &mut Vec<&'c str>) {
        match self {
            Self::Any | Self::Subsearch(_) => {}
            Self::Compare { field, .. } | Self::In { field, .. } => fields.push(field),
            Self::Term(_) => fields.push("_raw"),
            Self::Not(inner) => inner.collect_fields(fields),
            Self::And(terms) | Self::Or(terms) => {
                for term in terms {
                    term.collect_fields(fields);
                }
            }
        }
    }
}

/// The literals in every set; nothing when there are no sets.
pub(crate) fn intersect(mut sets: impl Iterator<Item = BTreeSet<String>>) -> BTreeSet<String> {
    let Some(first) = sets.next() else {
        return BTreeSet::new();
    };
    sets.fold(first, |acc, set| acc.intersection(&set).cloned().collect())
}
