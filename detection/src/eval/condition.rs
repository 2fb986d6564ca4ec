//! Evaluating search conditions and `where` expressions against one row or record, through
//! a field lookup so records and result rows share the semantics.

use std::cmp::Ordering;

use crate::spl::{CompareOp, Condition, Operand, WhereExpr};

/// Calls `test` on the values of `field` and says whether one passed; `None` when the field
/// is null (absent).
pub(crate) trait FieldLookup {
    fn any_value(&self, field: &str, test: &mut dyn FnMut(&str) -> bool) -> Option<bool>;
}

/// Whether `condition` holds. A null field fails every comparison, `!=` included, but
/// `NOT field=value` holds for it, as in Splunk.
pub(crate) fn condition_holds(condition: &Condition, fields: &dyn FieldLookup) -> bool {
    match condition {
        Condition::Any => true,
        Condition::Compare { field, op: CompareOp::Eq | CompareOp::EqEq, value } => {
            fields.any_value(field, &mut |v| value.matches(v)) == Some(true)
        }
        // A multivalue field passes `!=` when none of its values matches.
        Condition::Compare { field, op: CompareOp::NotEq, value } => {
            fields.any_value(field, &mut |v| value.matches(v)) == Some(false)
        }
        Condition::Compare { field, op, value } => {
            fields.any_value(field, &mut |v| ordering_satisfies(*op, compare(v, value.text())))
                == Some(true)
        }
        Condition::In { field, values } => {
            fields.any_value(field, &mut |v| values.iter().any(|p| p.matches(v))) == Some(true)
        }
        Condition::Not(inner) => !condition_holds(inner, fields),
        Condition::And(terms) => terms.iter().all(|t| condition_holds(t, fields)),
        Condition::Or(terms) => terms.iter().any(|t| condition_holds(t, fields)),
    }
}

/// `where`'s three-valued logic: `None` is null (a comparison with a null field), which
/// `where` drops like false; `NOT null` stays null.
pub(crate) fn where_holds(expr: &WhereExpr, fields: &dyn FieldLookup) -> Option<bool> {
    match expr {
        WhereExpr::Compare { left, op, right } => compare_operands(left, *op, right, fields),
        WhereExpr::Not(inner) => where_holds(inner, fields).map(|b| !b),
        WhereExpr::And(terms) => {
            let mut result = Some(true);
            for term in terms {
                match where_holds(term, fields) {
                    Some(false) => return Some(false),
                    None => result = None,
                    Some(true) => {}
                }
            }
            result
        }
        WhereExpr::Or(terms) => {
            let mut result = Some(false);
            for term in terms {
                match where_holds(term, fields) {
                    Some(true) => return Some(true),
                    None => result = None,
                    Some(false) => {}
                }
            }
            result
        }
    }
}

/// A comparison of two operands; a multivalue field passes when one of its values does.
fn compare_operands(
    left: &Operand,
    op: CompareOp,
    right: &Operand,
    fields: &dyn FieldLookup,
) -> Option<bool> {
    let test = |l: &str, r: &str| ordering_satisfies(op, compare(l, r));
    match (left, right) {
        (Operand::Field(l), Operand::Field(r)) => {
            fields.any_value(l, &mut |lv| fields.any_value(r, &mut |rv| test(lv, rv)) == Some(true))
        }
        (Operand::Field(l), Operand::Text(r) | Operand::Number(r)) => {
            fields.any_value(l, &mut |lv| test(lv, r))
        }
        (Operand::Text(l) | Operand::Number(l), Operand::Field(r)) => {
            fields.any_value(r, &mut |rv| test(l, rv))
        }
        (Operand::Text(l) | Operand::Number(l), Operand::Text(r) | Operand::Number(r)) => {
            Some(test(l, r))
        }
    }
}

/// Numbers compare as numbers, anything else as strings, byte by byte.
fn compare(left: &str, right: &str) -> Ordering {
    match (number(left), number(right)) {
        (Some(l), Some(r)) => l.partial_cmp(&r).unwrap_or_else(|| left.cmp(right)),
        _ => left.cmp(right),
    }
}

/// `text` as a finite number, if it is one.
pub(crate) fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
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
