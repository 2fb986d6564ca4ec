//! Parsed SPL printed back as SPL that parses to the same pipeline. The text is canonical,
//! not the author's: every value and field list entry is quoted, `AND` is written out,
//! parentheses appear only where the structure needs them, and `tstats` options, aggregate
//! names and the `convert` time format are always spelled out. Macros are already expanded.

use std::fmt::{self, Display, Formatter};

use super::Search;
use super::ast::{
    Aggregate, AggregateArgument, AggregateFunction, BinSpan, Command, Condition, MakemvSplit,
    Pipeline, ReturnItem, SortKey, SortOrder, Span, SpanUnit, StatsKind, Tstats,
};
use super::expr::{Expr, ExprKind};

impl Display for Search {
    /// The pipeline, `| tstats … | …`: what [`Search::commands`] holds, not the text given.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (idx, command) in self.commands().iter().enumerate() {
            if idx > 0 {
                f.write_str(" ")?;
            }
            write!(f, "| {command}")?;
        }
        Ok(())
    }
}

impl Display for Command {
    #[allow(clippy::too_many_lines)] // One arm per command.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tstats(tstats) => tstats.fmt(f),
            Self::Events(condition) | Self::Search(condition) => write!(f, "search {condition}"),
            Self::Rename(pairs) => {
                f.write_str("rename ")?;
                for (idx, pair) in pairs.iter().enumerate() {
                    if idx > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{} as {}", Quoted(pair.from.text()), Quoted(pair.to.text()))?;
                }
                Ok(())
            }
            Self::Convert(convert) => {
                write!(f, "convert timeformat={}", Quoted(convert.time_format.text()))?;
                for conversion in &convert.conversions {
                    write!(f, " ctime({})", Quoted(&conversion.field))?;
                    if let Some(output) = &conversion.output {
                        write!(f, " as {}", Quoted(output))?;
                    }
                }
                Ok(())
            }
            Self::Where(expr) => write!(f, "where {expr}"),
            Self::Eval(assignments) => {
                f.write_str("eval ")?;
                for (idx, assignment) in assignments.iter().enumerate() {
                    if idx > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}={}", AssignTarget(&assignment.field), assignment.expr)?;
                }
                Ok(())
            }
            Self::Table(fields) => {
                f.write_str("table")?;
                list(f, fields.iter().map(super::FieldGlob::text))
            }
            Self::Fields { remove, fields } => {
                f.write_str(if *remove { "fields -" } else { "fields" })?;
                list(f, fields.iter().map(super::FieldGlob::text))
            }
            Self::Stats(stats) => {
                f.write_str(match stats.kind {
                    StatsKind::Stats => "stats",
                    StatsKind::Eventstats => "eventstats",
                    StatsKind::Streamstats => "streamstats",
                })?;
                if stats.kind == StatsKind::Streamstats {
                    write!(
                        f,
                        " window={} current={} global={}",
                        stats.window, stats.current, stats.global
                    )?;
                }
                for aggregate in &stats.aggregates {
                    write!(f, " {aggregate}")?;
                }
                if !stats.by.is_empty() {
                    f.write_str(" by")?;
                    list(f, stats.by.iter().map(String::as_str))?;
                }
                Ok(())
            }
            Self::Bin(bin) => {
                f.write_str("bin span=")?;
                match &bin.span {
                    BinSpan::Time(span) => span.fmt(f)?,
                    BinSpan::Number(width) => write!(f, "{width}")?,
                }
                write!(f, " {}", Quoted(&bin.field))?;
                if let Some(output) = &bin.output {
                    write!(f, " as {}", Quoted(output))?;
                }
                Ok(())
            }
            Self::Rex(rex) => {
                write!(f, "rex field={}", Quoted(&rex.field))?;
                if rex.sed.is_some() {
                    f.write_str(" mode=sed")?;
                } else {
                    write!(f, " max_match={}", rex.max_match)?;
                }
                write!(f, " {}", Quoted(&rex.pattern))
            }
            Self::Regex(filter) => {
                let op = if filter.negated { "!=" } else { "=" };
                write!(f, "regex {}{op}{}", filter.field, Quoted(&filter.pattern))
            }
            Self::Fillnull(fillnull) => {
                write!(f, "fillnull value={}", Quoted(&fillnull.value))?;
                for field in &fillnull.fields {
                    write!(f, " {}", Quoted(field))?;
                }
                Ok(())
            }
            Self::Dedup(dedup) => {
                write!(f, "dedup {}", dedup.count)?;
                for field in &dedup.fields {
                    write!(f, " {}", Quoted(field))?;
                }
                write!(f, " keepempty={} consecutive={}", dedup.keep_empty, dedup.consecutive)?;
                if !dedup.sort_by.is_empty() {
                    f.write_str(" sortby")?;
                    for key in &dedup.sort_by {
                        write!(f, " {key}")?;
                    }
                }
                Ok(())
            }
            Self::Sort(sort) => {
                write!(f, "sort {}", sort.limit.unwrap_or(0))?;
                for key in &sort.keys {
                    write!(f, " {key}")?;
                }
                Ok(())
            }
            Self::Head(count) => write!(f, "head {count}"),
            Self::Tail(count) => write!(f, "tail {count}"),
            Self::Reverse => f.write_str("reverse"),
            Self::Mvexpand { field, limit } => {
                write!(f, "mvexpand {}", Quoted(field))?;
                if let Some(limit) = limit {
                    write!(f, " limit={limit}")?;
                }
                Ok(())
            }
            Self::Makemv(makemv) => {
                f.write_str("makemv ")?;
                match &makemv.split {
                    MakemvSplit::Delimiter(delimiter) => write!(f, "delim={}", Quoted(delimiter))?,
                    MakemvSplit::Tokenizer(pattern) => write!(f, "tokenizer={}", Quoted(pattern))?,
                }
                write!(
                    f,
                    " allowempty={} setsv={} {}",
                    makemv.allow_empty,
                    makemv.set_single,
                    Quoted(&makemv.field)
                )
            }
            Self::Nomv(field) => write!(f, "nomv {}", Quoted(field)),
            Self::Foreach(foreach) => {
                f.write_str("foreach")?;
                list(f, foreach.fields.iter().map(super::FieldGlob::text))?;
                write!(f, " [{}]", foreach.template)
            }
            Self::Makeresults(count) => write!(f, "makeresults count={count}"),
            Self::Inputlookup(input) => {
                write!(f, "inputlookup append={} {}", input.append, Quoted(&input.table))?;
                if let Some(filter) = &input.filter {
                    write!(f, " where {filter}")?;
                }
                Ok(())
            }
            Self::Lookup(lookup) => {
                write!(f, "lookup {}", Quoted(&lookup.table))?;
                for (column, field) in &lookup.inputs {
                    write!(f, " {} AS {}", Quoted(column), Quoted(field))?;
                }
                if !lookup.outputs.is_empty() {
                    f.write_str(if lookup.output_new { " OUTPUTNEW" } else { " OUTPUT" })?;
                    for (column, field) in &lookup.outputs {
                        write!(f, " {} AS {}", Quoted(column), Quoted(field))?;
                    }
                }
                Ok(())
            }
            Self::Join(join) => {
                let kind = if join.left { "left" } else { "inner" };
                write!(f, "join type={kind} max={} overwrite={}", join.max, join.overwrite)?;
                for field in &join.fields {
                    write!(f, " {}", Quoted(field))?;
                }
                write!(f, " {}", join.subsearch)
            }
            Self::Append(pipeline) => write!(f, "append {pipeline}"),
            Self::Appendpipe(pipeline) => write!(f, "appendpipe {pipeline}"),
            Self::Spath(spath) => {
                write!(f, "spath input={}", Quoted(&spath.input))?;
                if let Some(output) = &spath.output {
                    write!(f, " output={}", Quoted(output))?;
                }
                if let Some(path) = &spath.path {
                    write!(f, " path={}", Quoted(path))?;
                }
                Ok(())
            }
            Self::Xmlkv(field) => write!(f, "xmlkv {}", Quoted(field)),
            Self::Fromjson { field, prefix } => {
                write!(f, "fromjson {} prefix={}", Quoted(field), Quoted(prefix))
            }
            Self::Transaction(transaction) => {
                f.write_str("transaction")?;
                for field in &transaction.fields {
                    write!(f, " {}", Quoted(field))?;
                }
                if let Some(seconds) = transaction.max_span {
                    write!(f, " maxspan={seconds}s")?;
                }
                if let Some(seconds) = transaction.max_pause {
                    write!(f, " maxpause={seconds}s")?;
                }
                if let Some(condition) = &transaction.starts_with {
                    write!(f, " startswith=({condition})")?;
                }
                if let Some(condition) = &transaction.ends_with {
                    write!(f, " endswith=({condition})")?;
                }
                Ok(())
            }
            Self::Replace(replace) => {
                f.write_str("replace")?;
                for (index, (from, to)) in replace.pairs.iter().enumerate() {
                    let separator = if index == 0 { " " } else { ", " };
                    write!(f, "{separator}{} WITH {}", Quoted(from.text()), Quoted(to.text()))?;
                }
                if !replace.fields.is_empty() {
                    f.write_str(" IN")?;
                    list(f, replace.fields.iter().map(super::FieldGlob::text))?;
                }
                Ok(())
            }
            Self::Addtotals { fieldname, fields } => {
                write!(f, "addtotals fieldname={}", Quoted(fieldname))?;
                for field in fields {
                    write!(f, " {}", Quoted(field.text()))?;
                }
                Ok(())
            }
            Self::Format => f.write_str("format"),
            Self::Return(items) => {
                write!(f, "return {}", items.count)?;
                for item in &items.items {
                    match item {
                        ReturnItem::Field(field) => write!(f, " {}", Quoted(field))?,
                        ReturnItem::Alias(alias, field) => write!(f, " {alias}={}", Quoted(field))?,
                        ReturnItem::Value(field) => write!(f, " ${field}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

impl Display for Pipeline {
    /// `[| first | second …]`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for command in &self.commands {
            write!(f, "| {command} ")?;
        }
        f.write_str("]")
    }
}

impl Display for Span {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let unit = match self.unit {
            SpanUnit::Second => "s",
            SpanUnit::Minute => "m",
            SpanUnit::Hour => "h",
            SpanUnit::Day => "d",
            SpanUnit::Week => "w",
            SpanUnit::Month => "mon",
            SpanUnit::Quarter => "q",
            SpanUnit::Year => "y",
        };
        write!(f, "{}{unit}", self.count)
    }
}

impl Display for SortKey {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(if self.descending { "- " } else { "+ " })?;
        let order = match self.order {
            SortOrder::Auto => return Quoted(&self.field).fmt(f),
            SortOrder::Numeric => "num",
            SortOrder::Text => "str",
            SortOrder::Ip => "ip",
        };
        write!(f, "{order}({})", Quoted(&self.field))
    }
}

/// ` "a", "b"`, each quoted.
fn list<'a>(f: &mut Formatter<'_>, items: impl Iterator<Item = &'a str>) -> fmt::Result {
    for (idx, item) in items.enumerate() {
        f.write_str(if idx == 0 { " " } else { ", " })?;
        Quoted(item).fmt(f)?;
    }
    Ok(())
}

impl Display for Tstats {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("tstats")?;
        if let Some(value) = self.summaries_only {
            write!(f, " summariesonly={value}")?;
        }
        if let Some(value) = self.allow_old_summaries {
            write!(f, " allow_old_summaries={value}")?;
        }
        if let Some(value) = &self.fillnull_value {
            write!(f, " fillnull_value={}", Quoted(value))?;
        }
        if let Some(value) = self.prestats {
            write!(f, " prestats={value}")?;
        }
        for aggregate in &self.aggregates {
            write!(f, " {aggregate}")?;
        }
        let datamodel = format!("{}.{}", self.datamodel, self.node);
        write!(f, " from datamodel={}", Quoted(&datamodel))?;
        if let Some(filter) = &self.filter {
            write!(f, " where {filter}")?;
        }
        if !self.by.is_empty() {
            f.write_str(" by")?;
            list(f, self.by.iter().map(String::as_str))?;
        }
        if let Some(span) = self.span {
            write!(f, " span={span}")?;
        }
        Ok(())
    }
}

impl Display for Aggregate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        use AggregateFunction as F;
        let name = match self.function {
            F::Count => "count",
            F::DistinctCount => "dc",
            F::Values => "values",
            F::List => "list",
            F::Min => "min",
            F::Max => "max",
            F::Sum => "sum",
            F::SumSquares => "sumsq",
            F::Avg => "avg",
            F::Stdev => "stdev",
            F::Stdevp => "stdevp",
            F::Var => "var",
            F::Varp => "varp",
            F::Range => "range",
            F::Median => "median",
            F::Mode => "mode",
            F::Percentile(p) => return self.write_rest(f, &format!("perc{p}")),
            F::Earliest => "earliest",
            F::Latest => "latest",
            F::EarliestTime => "earliest_time",
            F::LatestTime => "latest_time",
            F::First => "first",
            F::Last => "last",
        };
        self.write_rest(f, name)
    }
}

impl Aggregate {
    fn write_rest(&self, f: &mut Formatter<'_>, name: &str) -> fmt::Result {
        f.write_str(name)?;
        match &self.argument {
            None => {}
            Some(AggregateArgument::Field(field)) => write!(f, "({})", Quoted(field))?,
            Some(AggregateArgument::Eval(expr)) => write!(f, "(eval({expr}))")?,
        }
        // The output name is written even when it is the default, which depends on how the
        // call was spelled.
        write!(f, " as {}", Quoted(&self.output))
    }
}

impl Display for Condition {
    /// `OR` binds tighter than `AND` here, so only groupings that precedence alone would
    /// not give get parentheses.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Compare { field, op, value } => {
                // Spaces keep a field ending in `!` apart from `=`.
                write!(f, "{} {} {}", SearchField(field), op.symbol(), Quoted(value.text()))
            }
            Self::In { field, values } => {
                write!(f, "{} IN (", SearchField(field))?;
                for (idx, value) in values.iter().enumerate() {
                    if idx > 0 {
                        f.write_str(", ")?;
                    }
                    Quoted(value.text()).fmt(f)?;
                }
                f.write_str(")")
            }
            Self::Term(pattern) => Quoted(pattern.text()).fmt(f),
            Self::Subsearch(pipeline) => pipeline.fmt(f),
            Self::Not(inner) => {
                f.write_str("NOT ")?;
                condition_term(f, inner, |_| true)
            }
            Self::And(terms) => joined(f, terms, " AND ", |term| matches!(term, Self::And(_))),
            Self::Or(terms) => {
                joined(f, terms, " OR ", |term| matches!(term, Self::And(_) | Self::Or(_)))
            }
        }
    }
}

/// `terms` separated by `separator`, each in parentheses when `needs_parens` says so.
fn joined(
    f: &mut Formatter<'_>,
    terms: &[Condition],
    separator: &str,
    needs_parens: impl Fn(&Condition) -> bool,
) -> fmt::Result {
    for (idx, term) in terms.iter().enumerate() {
        if idx > 0 {
            f.write_str(separator)?;
        }
        condition_term(f, term, &needs_parens)?;
    }
    Ok(())
}

/// One operand of `AND`, `OR` or `NOT`; a compound one in parentheses when `needs_parens`.
fn condition_term(
    f: &mut Formatter<'_>,
    term: &Condition,
    needs_parens: impl Fn(&Condition) -> bool,
) -> fmt::Result {
    let compound = matches!(term, Condition::And(_) | Condition::Or(_));
    if compound && needs_parens(term) { write!(f, "({term})") } else { term.fmt(f) }
}

/// How tightly a printed expression holds together, as the parser reads it: a binary
/// operation by its operator, `IN` as a comparison; fields, literals, calls, negations and
/// `NOT` (a prefix) bind tightest.
fn binding(expr: &Expr) -> u8 {
    match &expr.kind {
        ExprKind::Binary { op, .. } => op.precedence(),
        ExprKind::In { .. } => super::expr::IN_PRECEDENCE,
        _ => u8::MAX,
    }
}

/// `expr` as printed where `next` is the precedence of the operator that follows it in the
/// text, if any: a `NOT` takes in every following operator that binds at least as tightly
/// as its own level, so it is put in parentheses when one follows.
fn write_expr(f: &mut Formatter<'_>, expr: &Expr, next: Option<u8>) -> fmt::Result {
    let operand = |f: &mut Formatter<'_>, inner: &Expr, parens: bool, next: Option<u8>| {
        if parens {
            f.write_str("(")?;
            write_expr(f, inner, None)?;
            f.write_str(")")
        } else {
            write_expr(f, inner, next)
        }
    };
    match &expr.kind {
        ExprKind::Field(name) => FieldName(name).fmt(f),
        ExprKind::Text(text) => EvalString(text).fmt(f),
        // A literal too large for a float reads as infinity; `inf` would read back as a
        // field, `1e999` reads back as the same infinity.
        ExprKind::Number(number) if number.is_infinite() => {
            f.write_str(if *number > 0.0 { "1e999" } else { "-1e999" })
        }
        // `-5` reads back as the literal -5: a minus before a number is folded into it.
        ExprKind::Number(number) => write!(f, "{number}"),
        ExprKind::Call { name, args } => {
            write!(f, "{name}(")?;
            for (idx, arg) in args.iter().enumerate() {
                if idx > 0 {
                    f.write_str(", ")?;
                }
                write_expr(f, arg, None)?;
            }
            f.write_str(")")
        }
        ExprKind::Not(inner) => {
            let not = super::expr::NOT_PRECEDENCE;
            if next.is_some_and(|next| next >= not) {
                f.write_str("(")?;
                write_expr(f, expr, None)?;
                return f.write_str(")");
            }
            f.write_str("NOT ")?;
            operand(f, inner, binding(inner) < not, next)
        }
        // A minus binds tighter than any operator: only an operation needs parentheses.
        ExprKind::Negate(inner) => {
            f.write_str("-")?;
            operand(f, inner, binding(inner) != u8::MAX, next)
        }
        // Operators associate to the left: a left operand of the same precedence needs no
        // parentheses, a right one does.
        ExprKind::Binary { op, left, right } => {
            let precedence = op.precedence();
            operand(f, left, binding(left) < precedence, Some(precedence))?;
            write!(f, " {} ", op.symbol())?;
            operand(f, right, binding(right) <= precedence, next)
        }
        ExprKind::In { value, list } => {
            let precedence = super::expr::IN_PRECEDENCE;
            operand(f, value, binding(value) < precedence, Some(precedence))?;
            f.write_str(" IN (")?;
            for (idx, item) in list.iter().enumerate() {
                if idx > 0 {
                    f.write_str(", ")?;
                }
                write_expr(f, item, None)?;
            }
            f.write_str(")")
        }
    }
}

impl Display for Expr {
    /// Parentheses only where the parser's precedence needs them, names in single quotes:
    /// the text reads back as the same tree and nests no deeper than the text it was parsed
    /// from, whose parentheses were at least these.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_expr(f, self, None)
    }
}

/// A field name of an expression, in single quotes.
struct FieldName<'a>(&'a str);

impl Display for FieldName<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "'{}'", self.0)
    }
}

/// The field an `eval` assigns to: in single quotes, unless the name holds a `'`, which
/// single quotes cannot hold (they have no escape). Such a name is written bare when it reads
/// back bare (an unquoted target runs to `=`, `,` or a blank, and a backtick in it would
/// call a macro, a backslash escape the next character), else in double quotes.
struct AssignTarget<'a>(&'a str);

impl Display for AssignTarget<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let name = self.0;
        // A `"`, `|`, bracket or backtick in single quotes would still open a string, end the
        // command, open a subsearch or call a macro for the search's own reading, which knows
        // only double quotes: such a name is written as a double-quoted string.
        if !name.contains(['\'', '"', '|', '[', ']', '`']) {
            return FieldName(name).fmt(f);
        }
        let bare = !name.contains('"')
            && !name.contains(|c: char| {
                c.is_whitespace()
                    || matches!(c, '=' | ',' | '(' | ')' | '|' | '[' | ']' | '`' | '\\')
            });
        if bare { f.write_str(name) } else { EvalString(name).fmt(f) }
    }
}

/// An eval string: `"`, `\`, tab and newline escaped as the expression lexer reads them.
struct EvalString<'a>(&'a str);

impl Display for EvalString<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for ch in self.0.chars() {
            match ch {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\t' => f.write_str("\\t")?,
                '\n' => f.write_str("\\n")?,
                _ => write!(f, "{ch}")?,
            }
        }
        f.write_str("\"")
    }
}

/// A field name before a search comparison: as it is when the lexer reads it back as that
/// one word, in quotes otherwise (a backslash, a space, an operator character, a word the
/// parser takes as a keyword there), so that the printed search parses to the same field.
struct SearchField<'a>(&'a str);

/// Words a search condition reads as something other than a field name.
const CONDITION_KEYWORDS: [&str; 7] = ["AND", "OR", "NOT", "IN", "BY", "earliest", "latest"];

impl Display for SearchField<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let field = self.0;
        let one_word = matches!(
            super::lexer::tokenize(field).as_deref(),
            Ok([super::lexer::Token { kind: super::lexer::TokenKind::Word(word), span }])
                if word == field && span.len() == field.len()
        );
        let keyword = CONDITION_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(field));
        if one_word && !keyword { f.write_str(field) } else { Quoted(field).fmt(f) }
    }
}

/// Text in double quotes with `"` and `\` escaped, the two escapes the lexer reads.
struct Quoted<'a>(&'a str);

impl Display for Quoted<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for ch in self.0.chars() {
            if matches!(ch, '"' | '\\') {
                f.write_str("\\")?;
            }
            write!(f, "{ch}")?;
        }
        f.write_str("\"")
    }
}
