//! Evaluating search conditions (`search`, `tstats … where`, a raw event search) against one
//! row, record or event, through a field lookup so that all of them share the semantics:
//!
//! - `field=value`: the value matches the pattern, case-insensitively, `*` for any run;
//!   a multivalue field matches when one of its values does.
//! - `field!=value`: the field exists and no value matches; `NOT field=value` also holds when
//!   the field is missing (Search Reference, search: "NOT fieldA="value2" … returns
//!   everything except fieldA="value2""; "fieldA!="value2" … returns events where fieldA
//!   exists and does not have the value").
//! - `<`, `<=`, `>`, `>=`: "numerically compare two numbers and lexicographically compare
//!   other values".
//! - A free-text term matches `_raw` on Splunk's segment boundaries (see [`term_matches`]).

use std::cmp::Ordering;

use super::expr::{Env, Fields};
use super::value::{Value, compare_text};
use crate::spl::{CompareOp, Condition, Pattern};

/// Calls `test` on the values of `field` and says whether one passed; `None` when the field
/// is null (absent).
pub(crate) trait FieldLookup {
    fn any_value(&self, field: &str, test: &mut dyn FnMut(&str) -> bool) -> Option<bool>;
}

/// Fields of an eval expression's row, seen as a condition does.
pub(crate) struct ExprFields<'a>(pub(crate) &'a dyn Fields);

impl FieldLookup for ExprFields<'_> {
    fn any_value(&self, field: &str, test: &mut dyn FnMut(&str) -> bool) -> Option<bool> {
        match self.0.value(field) {
            Value::Null | Value::Bool(_) => None,
            Value::Multi(values) => Some(values.iter().any(|v| test(v))),
            other => other.as_text().map(|text| test(&text)),
        }
    }
}

/// Whether `condition` holds.
pub(crate) fn condition_holds(condition: &Condition, fields: &dyn FieldLookup) -> bool {
    match condition {
        // Subsearches are replaced by their rows' condition before a row is tested
        // (`combine::resolve`); one left is taken as holding, as preselection does.
        Condition::Any | Condition::Subsearch(_) => true,
        Condition::Compare { field, op: CompareOp::Eq | CompareOp::EqEq, value } => {
            fields.any_value(field, &mut |v| value.matches(v)) == Some(true)
        }
        Condition::Compare { field, op: CompareOp::NotEq, value } => {
            fields.any_value(field, &mut |v| value.matches(v)) == Some(false)
        }
        Condition::Compare { field, op, value } => {
            fields.any_value(field, &mut |v| ordering_satisfies(*op, compare_text(v, value.text())))
                == Some(true)
        }
        Condition::In { field, values } => {
            fields.any_value(field, &mut |v| values.iter().any(|p| p.matches(v))) == Some(true)
        }
        Condition::Term(pattern) => {
            fields.any_value("_raw", &mut |raw| term_matches(raw, pattern)) == Some(true)
        }
        Condition::Not(inner) => !condition_holds(inner, fields),
        Condition::And(terms) => terms.iter().all(|t| condition_holds(t, fields)),
        Condition::Or(terms) => terms.iter().any(|t| condition_holds(t, fields)),
    }
}

fn ordering_satisfies(op: CompareOp, ordering: Ordering) -> bool {
    match op {
        CompareOp::Eq | CompareOp::EqEq => ordering == Ordering::Equal,
        CompareOp::NotEq => ordering != Ordering::Equal,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
    }
}

/// Splunk's breakers (segmenters.conf defaults): major — blanks and `[ ] < > ( ) { } | ! ; ,
/// ' " * & ? +` — and minor — `/ : = @ . - $ # % \ _`. A term is found where it starts and
/// ends on a breaker (or the text's ends).
fn is_breaker(ch: char) -> bool {
    ch.is_whitespace()
        || matches!(
            ch,
            '[' | ']'
                | '<'
                | '>'
                | '('
                | ')'
                | '{'
                | '}'
                | '|'
                | '!'
                | ';'
                | ','
                | '\''
                | '"'
                | '*'
                | '&'
                | '?'
                | '+'
                | '/'
                | ':'
                | '='
                | '@'
                | '.'
                | '-'
                | '$'
                | '#'
                | '%'
                | '\\'
                | '_'
        )
}

/// Whether the free-text `pattern` occurs in `raw` as Splunk's segmentation finds terms:
/// case-insensitively, starting and ending on segment boundaries unless a `*` stands at that
/// end ("for each minor breaker found, Splunk indexes the token from the last major breaker
/// to the current minor breaker and from the last minor breaker to the current minor
/// breaker", segmenters.conf). A phrase (several segments) matches where it occurs whole.
pub(crate) fn term_matches(raw: &str, pattern: &Pattern) -> bool {
    let pieces: Vec<&str> = pattern.literals().collect();
    if pieces.is_empty() {
        return true;
    }
    let text = pattern.text();
    let open_start = text.starts_with('*');
    let open_end = text.ends_with('*');
    let raw = raw.to_lowercase();
    let boundary_before =
        |at: usize| at == 0 || raw[..at].chars().next_back().is_some_and(is_breaker);
    let boundary_after =
        |at: usize| at >= raw.len() || raw[at..].chars().next().is_some_and(is_breaker);
    let (first, rest) = (pieces[0], &pieces[1..]);
    let mut from = 0;
    while let Some(found) = raw[from..].find(first) {
        let start = from + found;
        from = start + first.len().max(1);
        if !open_start && !boundary_before(start) {
            continue;
        }
        // The remaining pieces follow in order, the last one ending on a boundary.
        let mut end = start + first.len();
        let mut matched = true;
        for piece in rest {
            let Some(offset) = raw[end..].find(piece) else {
                matched = false;
                break;
            };
            end += offset + piece.len();
        }
        if !matched {
            return false;
        }
        if open_end || boundary_after(end) {
            return true;
        }
    }
    false
}

/// `searchmatch(text)`: whether the row matches `text` read as a search condition.
pub(crate) fn search_matches(
    text: &str,
    fields: &dyn Fields,
    env: &Env<'_>,
) -> Result<bool, String> {
    let condition =
        crate::spl::parse_condition(text).map_err(|err| format!("searchmatch(): {err}"))?;
    let _ = env;
    Ok(condition_holds(&condition, &ExprFields(fields)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(raw: &str, pattern: &str) -> bool {
        term_matches(raw, &Pattern::new(pattern))
    }

    #[test]
    fn terms_match_on_segment_boundaries() {
        let raw = r"<Data Name='Image'>C:\Windows\System32\rundll32.exe</Data>";
        assert!(term(raw, "rundll32.exe"));
        assert!(term(raw, "RUNDLL32"));
        assert!(term(raw, "exe"));
        assert!(!term(raw, "dll32"));
        assert!(term(raw, "*dll32*"));
        assert!(term(raw, "rund*"));
        assert!(!term(raw, "und*"));
        assert!(term(raw, "system32\\rundll32.exe"));
        assert!(term("web error here", "web error"));
        assert!(!term("web errors", "web error"));
    }
}
