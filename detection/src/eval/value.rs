//! Values as eval expressions see them: null, a boolean, a number, a string or a multivalue,
//! and the conversions Splunk applies between them. Result rows hold only strings
//! ([`FieldValue`]); a number becomes its text when it is stored, and a stored string that
//! reads as a number is a number again in arithmetic and comparisons.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::FieldValue;

/// An eval value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// No value: a missing field, `null()`, a failed conversion.
    Null,
    /// The result of a comparison or a boolean operator; it cannot be stored in a field.
    Bool(bool),
    /// A number, from a literal or arithmetic.
    Num(f64),
    /// A string, from a literal, a field or a string function.
    Str(String),
    /// Several values, in order.
    Multi(Vec<String>),
}

impl Value {
    /// The value of a stored field.
    pub(crate) fn from_field(value: Option<&FieldValue>) -> Self {
        match value {
            None => Self::Null,
            Some(FieldValue::Single(text)) => Self::Str(text.clone()),
            Some(FieldValue::Multi(values)) => Self::Multi(values.clone()),
        }
    }

    /// What storing the value in a field keeps: `None` for null (the field is removed) and
    /// for a boolean, which Splunk does not store either.
    pub(crate) fn into_field(self) -> Option<FieldValue> {
        match self {
            Self::Null | Self::Bool(_) => None,
            Self::Num(number) => Some(FieldValue::Single(format_number(number))),
            Self::Str(text) => Some(FieldValue::Single(text)),
            Self::Multi(values) if values.is_empty() => None,
            Self::Multi(mut values) if values.len() == 1 => values.pop().map(FieldValue::Single),
            Self::Multi(values) => Some(FieldValue::Multi(values)),
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// The value as a number: a number, or a single string that reads as one.
    pub(crate) fn as_number(&self) -> Option<f64> {
        match self {
            Self::Num(number) => Some(*number),
            Self::Str(text) => parse_number(text),
            Self::Multi(values) if values.len() == 1 => {
                values.first().and_then(|v| parse_number(v))
            }
            _ => None,
        }
    }

    /// The value as one string: a number prints as Splunk prints it; a multivalue gives its
    /// first value; null and booleans give none.
    pub(crate) fn as_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Self::Str(text) => Some(Cow::Borrowed(text)),
            Self::Num(number) => Some(Cow::Owned(format_number(*number))),
            Self::Multi(values) => values.first().map(|v| Cow::Borrowed(v.as_str())),
            Self::Null | Self::Bool(_) => None,
        }
    }

    /// Every value as text: one for a single value, each of a multivalue, none for null.
    pub(crate) fn texts(&self) -> Vec<Cow<'_, str>> {
        match self {
            Self::Multi(values) => values.iter().map(|v| Cow::Borrowed(v.as_str())).collect(),
            other => other.as_text().into_iter().collect(),
        }
    }

    /// The value as a boolean condition: only booleans are conditions; anything else is null.
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The name `typeof()` gives the value.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Self::Null => "Invalid",
            Self::Bool(_) => "Bool",
            Self::Num(_) => "Number",
            Self::Str(text) if parse_number(text).is_some() => "Number",
            Self::Str(_) => "String",
            Self::Multi(_) => "Multivalue",
        }
    }
}

/// `text` as a number when the whole of it (blanks around allowed) is a decimal number,
/// optionally signed, with an optional fraction and exponent. Hex, `inf` and `nan` are text.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let trimmed = text.trim();
    let body = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
    let first = body.bytes().next()?;
    if !(first.is_ascii_digit() || first == b'.') {
        return None;
    }
    if !body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+')) {
        return None;
    }
    trimmed.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A number as Splunk prints an eval result: whole numbers without a decimal point, others
/// with the shortest decimal form that reads back as the same number.
pub(crate) fn format_number(number: f64) -> String {
    if number == 0.0 {
        return "0".to_owned();
    }
    if number.fract() == 0.0 && number.abs() < 1e16 {
        #[allow(clippy::cast_possible_truncation)]
        return (number as i64).to_string();
    }
    // "The limit to precision is 17 significant digits": past that a whole number has no
    // exact digits to show, so it is written with an exponent.
    if number.abs() >= 1e16 {
        return format!("{number:e}");
    }
    number.to_string()
}

/// Splunk's order of two values: numerically when both read as numbers, else as strings
/// byte by byte (case-sensitive).
pub(crate) fn compare_text(left: &str, right: &str) -> Ordering {
    match (parse_number(left), parse_number(right)) {
        (Some(l), Some(r)) => l.partial_cmp(&r).unwrap_or(Ordering::Equal),
        _ => left.cmp(right),
    }
}

/// The order of two eval values of one kind each: numbers numerically, else as strings;
/// `None` when either is null, a boolean or a multivalue.
pub(crate) fn compare_values(left: &Value, right: &Value) -> Option<Ordering> {
    if let (Some(l), Some(r)) = (left.as_number(), right.as_number()) {
        return l.partial_cmp(&r);
    }
    match (left, right) {
        (Value::Null | Value::Bool(_), _) | (_, Value::Null | Value::Bool(_)) => None,
        _ => Some(left.as_text()?.as_ref().cmp(right.as_text()?.as_ref())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_only_from_decimal_text() {
        assert_eq!(parse_number("42"), Some(42.0));
        assert_eq!(parse_number(" -1.5 "), Some(-1.5));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        assert_eq!(parse_number(".5"), Some(0.5));
        for text in ["", "abc", "0x10", "inf", "NaN", "1.2.3", "12abc", "-", "e5"] {
            assert_eq!(parse_number(text), None, "{text}");
        }
    }

    #[test]
    fn numbers_print_whole_or_shortest() {
        assert_eq!(format_number(2.0), "2");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(2.5), "2.5");
        assert_eq!(format_number(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(format_number(1e20), "1e20");
    }

    #[test]
    fn text_orders_numbers_as_numbers() {
        assert_eq!(compare_text("9", "10"), Ordering::Less);
        assert_eq!(compare_text("a", "B"), Ordering::Greater);
        assert_eq!(compare_text("10", "9a"), Ordering::Less);
    }
}
