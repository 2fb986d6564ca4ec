//! Evaluating eval expressions over one row: operators with Splunk's null, number and
//! string rules, and calls into [`super::functions`].
//!
//! - Arithmetic reads numbers (a string field that reads as a number is one); a null or
//!   non-numeric operand makes the result null. `+` of two non-numeric strings concatenates.
//! - `.` concatenates the text of its operands; a null operand makes the result null.
//! - Comparisons: numerically when both sides read as numbers, else as strings,
//!   case-sensitively; null when either side is null. A multivalue side compares each of its
//!   values and the comparison holds when one does.
//! - `AND`, `OR`, `XOR`, `NOT` use three-valued logic: null is neither true nor false.

use std::cmp::Ordering;

use super::functions;
use super::value::{Value, compare_values};
use super::{EvalError, ResultTable, Row};
use crate::spl::{BinaryOp, Expr, ExprKind, Search};

/// Fields an expression can read.
pub(crate) trait Fields {
    /// The value of `name`, null when absent.
    fn value(&self, name: &str) -> Value;
}

/// One row of a result table.
pub(crate) struct RowFields<'a> {
    pub(crate) table: &'a ResultTable,
    pub(crate) row: &'a Row,
}

impl Fields for RowFields<'_> {
    fn value(&self, name: &str) -> Value {
        let value = self.table.column_index(name).and_then(|i| self.row.get(i)?.as_ref());
        Value::from_field(value)
    }
}

/// A field bound to one value of itself (`mvfilter`, `mvmap`), over other fields.
pub(crate) struct Bound<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: &'a str,
    pub(crate) rest: &'a dyn Fields,
}

impl Fields for Bound<'_> {
    fn value(&self, name: &str) -> Value {
        if name == self.name { Value::Str(self.value.to_owned()) } else { self.rest.value(name) }
    }
}

/// What evaluation needs beyond the row: the search (for error locations, compiled
/// regular expressions) and the search's time.
pub(crate) struct Env<'s> {
    pub(crate) search: &'s Search,
    /// `now()`: the time the search runs, microseconds since the epoch.
    pub(crate) now_micros: i64,
    /// The rows of each finished subsearch, by where it starts in the expanded search.
    pub(crate) subsearches: &'s std::collections::HashMap<usize, super::packed::PackedTable>,
}

/// No subsearch has finished while events are still being read.
static NO_SUBSEARCHES: std::sync::LazyLock<
    std::collections::HashMap<usize, super::packed::PackedTable>,
> = std::sync::LazyLock::new(std::collections::HashMap::new);

impl<'s> Env<'s> {
    /// What the streaming commands see while events are read: no subsearch results yet, and
    /// no search time (`now()` is only read at the end, by commands that wait for every row).
    pub(crate) fn streaming(search: &'s Search) -> Self {
        Env { search, now_micros: 0, subsearches: &NO_SUBSEARCHES }
    }

    /// An evaluation error at `span` of the expanded search.
    pub(crate) fn error(&self, span: &std::ops::Range<usize>, message: String) -> EvalError {
        EvalError::Expression { location: self.search.locate(span), message }
    }

    /// The compiled `pattern`; a pattern that does not compile is an error at `span`.
    pub(crate) fn regex(
        &self,
        pattern: &str,
        span: &std::ops::Range<usize>,
    ) -> Result<std::sync::Arc<crate::spl::Regex>, EvalError> {
        self.search.regexes().get(pattern).map_err(|message| self.error(span, message))
    }
}

/// The value of `expr` for `fields`.
pub(crate) fn evaluate(
    expr: &Expr,
    fields: &dyn Fields,
    env: &Env<'_>,
) -> Result<Value, EvalError> {
    Ok(match &expr.kind {
        ExprKind::Field(name) => fields.value(name),
        ExprKind::Text(text) => Value::Str(text.clone()),
        ExprKind::Number(number) => Value::Num(*number),
        ExprKind::Call { name, args } => functions::call(name, args, expr, fields, env)?,
        ExprKind::Not(inner) => match evaluate(inner, fields, env)?.as_bool() {
            Some(b) => Value::Bool(!b),
            None => Value::Null,
        },
        ExprKind::Negate(inner) => match evaluate(inner, fields, env)?.as_number() {
            Some(n) => Value::Num(-n),
            None => Value::Null,
        },
        ExprKind::Binary { op, left, right } => binary(*op, left, right, fields, env)?,
        ExprKind::In { value, list } => {
            let value = evaluate(value, fields, env)?;
            if value.is_null() {
                return Ok(Value::Null);
            }
            let mut found = false;
            for item in list {
                let item = evaluate(item, fields, env)?;
                if compare_any(&value, &item, |o| o == Ordering::Equal) == Some(true) {
                    found = true;
                    break;
                }
            }
            Value::Bool(found)
        }
    })
}

/// Whether `expr` holds for `fields`: true only for a true boolean (null and other values
/// do not hold), as `where` keeps rows.
pub(crate) fn holds(expr: &Expr, fields: &dyn Fields, env: &Env<'_>) -> Result<bool, EvalError> {
    Ok(evaluate(expr, fields, env)?.as_bool() == Some(true))
}

fn binary(
    op: BinaryOp,
    left: &Expr,
    right: &Expr,
    fields: &dyn Fields,
    env: &Env<'_>,
) -> Result<Value, EvalError> {
    match op {
        BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => {
            let l = evaluate(left, fields, env)?.as_bool();
            // AND and OR decide on their left operand when they can, as Splunk does.
            match (op, l) {
                (BinaryOp::And, Some(false)) => return Ok(Value::Bool(false)),
                (BinaryOp::Or, Some(true)) => return Ok(Value::Bool(true)),
                _ => {}
            }
            let r = evaluate(right, fields, env)?.as_bool();
            Ok(match (op, l, r) {
                (BinaryOp::And, _, Some(false)) | (BinaryOp::Or, Some(false), Some(false)) => {
                    Value::Bool(false)
                }
                (BinaryOp::And, Some(true), Some(true)) | (BinaryOp::Or, _, Some(true)) => {
                    Value::Bool(true)
                }
                (BinaryOp::Xor, Some(a), Some(b)) => Value::Bool(a != b),
                _ => Value::Null,
            })
        }
        _ => {
            let l = evaluate(left, fields, env)?;
            let r = evaluate(right, fields, env)?;
            Ok(apply(op, &l, &r))
        }
    }
}

/// A non-logical binary operator on two values.
pub(crate) fn apply(op: BinaryOp, l: &Value, r: &Value) -> Value {
    let compare = |test: fn(Ordering) -> bool| match compare_any(l, r, test) {
        Some(b) => Value::Bool(b),
        None => Value::Null,
    };
    match op {
        BinaryOp::Eq => compare(|o| o == Ordering::Equal),
        BinaryOp::Ne => compare(|o| o != Ordering::Equal),
        BinaryOp::Lt => compare(|o| o == Ordering::Less),
        BinaryOp::Le => compare(|o| o != Ordering::Greater),
        BinaryOp::Gt => compare(|o| o == Ordering::Greater),
        BinaryOp::Ge => compare(|o| o != Ordering::Less),
        BinaryOp::Like => match (l.texts(), r.as_text()) {
            (values, Some(pattern)) if !values.is_empty() => {
                Value::Bool(values.iter().any(|v| functions::like(v, &pattern)))
            }
            _ => Value::Null,
        },
        BinaryOp::Concat => match (l.as_text(), r.as_text()) {
            (Some(a), Some(b)) => Value::Str(format!("{a}{b}")),
            _ => Value::Null,
        },
        BinaryOp::Add => match (l.as_number(), r.as_number()) {
            (Some(a), Some(b)) => Value::Num(a + b),
            _ => match (l, r) {
                (Value::Str(a), Value::Str(b)) => Value::Str(format!("{a}{b}")),
                _ => Value::Null,
            },
        },
        BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => {
            let (Some(a), Some(b)) = (l.as_number(), r.as_number()) else {
                return Value::Null;
            };
            let result = match op {
                BinaryOp::Sub => a - b,
                BinaryOp::Mul => a * b,
                BinaryOp::Div => a / b,
                _ => a % b,
            };
            if result.is_finite() { Value::Num(result) } else { Value::Null }
        }
        BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => Value::Null,
    }
}

/// Compares two values; a multivalue side passes when one of its values does. Null when a
/// side is null or a boolean.
fn compare_any(l: &Value, r: &Value, test: fn(Ordering) -> bool) -> Option<bool> {
    match (l, r) {
        (Value::Multi(values), other) | (other, Value::Multi(values)) => {
            let swapped = matches!(r, Value::Multi(_)) && !matches!(l, Value::Multi(_));
            let mut any = None;
            for value in values {
                let value = Value::Str(value.clone());
                let ordering = if swapped {
                    compare_values(other, &value)
                } else {
                    compare_values(&value, other)
                }?;
                any = Some(any.unwrap_or(false) || test(ordering));
            }
            any
        }
        _ => compare_values(l, r).map(test),
    }
}

/// Evaluates `assignments` on every row of `table`, each seeing the ones before it.
pub(crate) fn eval_command(
    table: &mut ResultTable,
    assignments: &[crate::spl::Assignment],
    env: &Env<'_>,
) -> Result<(), EvalError> {
    for assignment in assignments {
        let target = table.ensure_column(&assignment.field);
        let mut values = Vec::with_capacity(table.rows.len());
        for row in &table.rows {
            let fields = RowFields { table, row };
            values.push(evaluate(&assignment.expr, &fields, env)?.into_field());
        }
        for (row, value) in table.rows.iter_mut().zip(values) {
            if let Some(slot) = row.get_mut(target) {
                *slot = value;
            }
        }
    }
    Ok(())
}

/// Keeps the rows of `table` where `expr` holds.
pub(crate) fn where_command(
    table: &mut ResultTable,
    expr: &Expr,
    env: &Env<'_>,
) -> Result<(), EvalError> {
    let mut keep = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        keep.push(holds(expr, &RowFields { table, row }, env)?);
    }
    let mut flags = keep.into_iter();
    table.rows.retain(|_| flags.next().unwrap_or(false));
    Ok(())
}
