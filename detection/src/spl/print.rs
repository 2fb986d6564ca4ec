//! Parsed SPL printed back as SPL that parses to the same pipeline. The text is canonical,
//! not the author's: every value and field list entry is quoted, `AND` is written out,
//! parentheses appear only where the structure needs them, and `tstats` options, aggregate
//! names and the `convert` time format are always spelled out. Macros are already expanded.

use std::fmt::{self, Display, Formatter};

use super::Search;
use super::ast::{Aggregate, AggregateFunction, Command, Condition, Operand, Tstats, WhereExpr};

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
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tstats(tstats) => tstats.fmt(f),
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
            Self::Search(condition) => write!(f, "search {condition}"),
            Self::Where(expr) => write!(f, "where {expr}"),
            Self::Table(fields) => {
                f.write_str("table")?;
                list(f, fields.iter().map(super::FieldGlob::text))
            }
            Self::Fields { remove, fields } => {
                f.write_str(if *remove { "fields -" } else { "fields" })?;
                list(f, fields.iter().map(super::FieldGlob::text))
            }
        }
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
        Ok(())
    }
}

impl Display for Aggregate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let name = match self.function {
            AggregateFunction::Count => "count",
            AggregateFunction::Min => "min",
            AggregateFunction::Max => "max",
            AggregateFunction::Values => "values",
            AggregateFunction::DistinctCount => "dc",
            AggregateFunction::Earliest => "earliest",
            AggregateFunction::Latest => "latest",
        };
        f.write_str(name)?;
        if let Some(field) = &self.field {
            write!(f, "({})", Quoted(field))?;
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
                write!(f, "{field} {} {}", op.symbol(), Quoted(value.text()))
            }
            Self::In { field, values } => {
                write!(f, "{field} IN (")?;
                for (idx, value) in values.iter().enumerate() {
                    if idx > 0 {
                        f.write_str(", ")?;
                    }
                    Quoted(value.text()).fmt(f)?;
                }
                f.write_str(")")
            }
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

impl Display for WhereExpr {
    /// `AND` binds tighter than `OR` in `where`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (terms, separator, needs_parens): (&[WhereExpr], &str, fn(&WhereExpr) -> bool) =
            match self {
                Self::Compare { left, op, right } => {
                    return write!(f, "{left} {} {right}", op.symbol());
                }
                Self::Not(inner) => {
                    f.write_str("NOT ")?;
                    return where_term(f, inner, true);
                }
                Self::And(terms) => (terms, " AND ", |t| matches!(t, Self::And(_) | Self::Or(_))),
                Self::Or(terms) => (terms, " OR ", |t| matches!(t, Self::Or(_))),
            };
        for (idx, term) in terms.iter().enumerate() {
            if idx > 0 {
                f.write_str(separator)?;
            }
            where_term(f, term, needs_parens(term))?;
        }
        Ok(())
    }
}

/// One operand of `AND`, `OR` or `NOT` in `where`, in parentheses when compound and `parens`.
fn where_term(f: &mut Formatter<'_>, term: &WhereExpr, parens: bool) -> fmt::Result {
    let compound = matches!(term, WhereExpr::And(_) | WhereExpr::Or(_));
    if compound && parens { write!(f, "({term})") } else { term.fmt(f) }
}

impl Display for Operand {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            // Names and numbers are single words as the lexer read them, so they print as
            // they were written.
            Self::Field(text) | Self::Number(text) => f.write_str(text),
            Self::Text(text) => Quoted(text).fmt(f),
        }
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
