//! The eval functions: the list the parser checks calls against ([`check`]) and their
//! evaluation ([`call`]). Each follows its entry in Splunk's Search Reference ("Evaluation
//! functions"); choices the documentation leaves open are noted at the function.
//!
//! Conventions: a null argument gives a null result unless the function is about nulls;
//! functions of one string applied to a multivalue apply to each of its values.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::EvalError;
use super::expr::{Bound, Env, Fields, evaluate};
use super::value::{Value, compare_values, format_number, parse_number};
use crate::spl::{Expr, ExprKind, TimeFormat};

/// How many arguments each function takes: (name, least, most). `usize::MAX` for any.
const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("abs", 1, 1),
    ("case", 2, usize::MAX),
    ("ceil", 1, 1),
    ("ceiling", 1, 1),
    ("cidrmatch", 2, 2),
    ("coalesce", 1, usize::MAX),
    ("exact", 1, 1),
    ("exp", 1, 1),
    ("false", 0, 0),
    ("floor", 1, 1),
    ("if", 3, 3),
    ("in", 2, usize::MAX),
    ("isbool", 1, 1),
    ("isint", 1, 1),
    ("isnotnull", 1, 1),
    ("isnull", 1, 1),
    ("isnum", 1, 1),
    ("isstr", 1, 1),
    ("len", 1, 1),
    ("like", 2, 2),
    ("ln", 1, 1),
    ("log", 1, 2),
    ("lower", 1, 1),
    ("ltrim", 1, 2),
    ("match", 2, 2),
    ("max", 1, usize::MAX),
    ("md5", 1, 1),
    ("min", 1, usize::MAX),
    ("mvappend", 1, usize::MAX),
    ("mvcount", 1, 1),
    ("mvdedup", 1, 1),
    ("mvfilter", 1, 1),
    ("mvfind", 2, 2),
    ("mvindex", 2, 3),
    ("mvjoin", 2, 2),
    ("mvmap", 2, 2),
    ("mvrange", 2, 3),
    ("mvsort", 1, 1),
    ("mvzip", 2, 3),
    ("now", 0, 0),
    ("null", 0, 0),
    ("nullif", 2, 2),
    ("pi", 0, 0),
    ("pow", 2, 2),
    ("relative_time", 2, 2),
    ("replace", 3, 3),
    ("round", 1, 2),
    ("rtrim", 1, 2),
    ("searchmatch", 1, 1),
    ("sha1", 1, 1),
    ("sha256", 1, 1),
    ("sha512", 1, 1),
    ("split", 2, 2),
    ("spath", 2, 2),
    ("sqrt", 1, 1),
    ("strftime", 2, 2),
    ("strptime", 2, 2),
    ("substr", 2, 3),
    ("time", 0, 0),
    ("tonumber", 1, 2),
    ("tostring", 1, 2),
    ("trim", 1, 2),
    ("true", 0, 0),
    ("typeof", 1, 1),
    ("upper", 1, 1),
    ("urldecode", 1, 1),
    ("validate", 2, usize::MAX),
];

/// Whether `name` (lower-cased) is a function taking `arity` arguments: `Err("")` for an
/// unknown function, `Err(reason)` for a wrong number of arguments.
pub(crate) fn check(name: &str, arity: usize) -> Result<(), String> {
    let Some(&(_, least, most)) = FUNCTIONS.iter().find(|(n, _, _)| *n == name) else {
        return Err(String::new());
    };
    if arity < least || arity > most {
        let count = match (least, most) {
            (l, m) if l == m => format!("{l}"),
            (l, usize::MAX) => format!("at least {l}"),
            (l, m) => format!("{l} to {m}"),
        };
        return Err(format!("{count} argument(s)"));
    }
    if matches!(name, "case" | "validate") && !arity.is_multiple_of(2) {
        return Err("pairs of arguments".to_owned());
    }
    Ok(())
}

/// Evaluates the call `name(args)`; `call` is the whole call, for error locations.
pub(crate) fn call(
    name: &str,
    args: &[Expr],
    call: &Expr,
    fields: &dyn Fields,
    env: &Env<'_>,
) -> Result<Value, EvalError> {
    let context = Call { name, args, whole: call, fields, env };
    for family in [conditional, text, numeric, multivalue, time, network] {
        if let Some(value) = family(&context)? {
            return Ok(value);
        }
    }
    Err(env.error(&call.span, format!("function {name}() is not evaluated")))
}

/// A call being evaluated.
struct Call<'c, 's> {
    name: &'c str,
    args: &'c [Expr],
    whole: &'c Expr,
    fields: &'c dyn Fields,
    env: &'c Env<'s>,
}

impl Call<'_, '_> {
    /// Argument `index`, evaluated; null when absent.
    fn arg(&self, index: usize) -> Result<Value, EvalError> {
        match self.args.get(index) {
            Some(expr) => evaluate(expr, self.fields, self.env),
            None => Ok(Value::Null),
        }
    }
}

/// Conditions, nulls and types. `None` for a function of another family.
fn conditional(c: &Call<'_, '_>) -> Result<Option<Value>, EvalError> {
    let Call { name, args, whole: call, fields, env } = *c;
    let arg = |index: usize| c.arg(index);
    Ok(Some(match name {
        "if" => match arg(0)?.as_bool() {
            Some(true) => arg(1)?,
            // "If X evaluates to FALSE, the result evaluates to Z": null is not TRUE either.
            _ => arg(2)?,
        },
        "case" => {
            for pair in args.chunks(2) {
                if let [condition, value] = pair
                    && evaluate(condition, fields, env)?.as_bool() == Some(true)
                {
                    return evaluate(value, fields, env).map(Some);
                }
            }
            Value::Null
        }
        "validate" => {
            for pair in args.chunks(2) {
                if let [condition, message] = pair
                    && evaluate(condition, fields, env)?.as_bool() != Some(true)
                {
                    return evaluate(message, fields, env).map(Some);
                }
            }
            Value::Null
        }
        "coalesce" => {
            for expr in args {
                let value = evaluate(expr, fields, env)?;
                if !value.is_null() {
                    return Ok(Some(value));
                }
            }
            Value::Null
        }
        "nullif" => {
            let (a, b) = (arg(0)?, arg(1)?);
            if compare_values(&a, &b) == Some(std::cmp::Ordering::Equal) { Value::Null } else { a }
        }
        "isnull" => Value::Bool(arg(0)?.is_null()),
        "isnotnull" => Value::Bool(!arg(0)?.is_null()),
        "isnum" => Value::Bool(arg(0)?.as_number().is_some()),
        "isint" => Value::Bool(arg(0)?.as_number().is_some_and(|n| n.fract() == 0.0)),
        "isstr" => {
            let value = arg(0)?;
            Value::Bool(
                matches!(value, Value::Str(_) | Value::Multi(_)) && value.as_number().is_none(),
            )
        }
        "isbool" => Value::Bool(matches!(arg(0)?, Value::Bool(_))),
        "null" => Value::Null,
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "typeof" => Value::Str(arg(0)?.type_name().to_owned()),
        "in" => {
            let value = arg(0)?;
            if value.is_null() {
                return Ok(Some(Value::Null));
            }
            let mut found = false;
            for expr in args.iter().skip(1) {
                let candidate = evaluate(expr, fields, env)?;
                if value.texts().iter().any(|v| candidate.texts().iter().any(|c| c == v)) {
                    found = true;
                    break;
                }
            }
            Value::Bool(found)
        }
        "searchmatch" => {
            let text = arg(0)?;
            let Some(text) = text.as_text() else { return Ok(Some(Value::Null)) };
            Value::Bool(
                super::condition::search_matches(&text, fields, env)
                    .map_err(|message| env.error(&call.span, message))?,
            )
        }

        _ => return Ok(None),
    }))
}

/// Strings, regular expressions, conversions and hashes. `None` for a function of another family.
#[allow(clippy::too_many_lines)] // One arm per function.
fn text(c: &Call<'_, '_>) -> Result<Option<Value>, EvalError> {
    let Call { name, args, whole: call, fields, env } = *c;
    let arg = |index: usize| c.arg(index);
    Ok(Some(match name {
        "lower" => map_texts(arg(0)?, str::to_lowercase),
        "upper" => map_texts(arg(0)?, str::to_uppercase),
        "len" => match arg(0)?.as_text() {
            Some(text) => number_of(text.chars().count()),
            None => Value::Null,
        },
        "substr" => {
            let value = arg(0)?;
            let (Some(text), Some(start)) = (value.as_text(), arg(1)?.as_number()) else {
                return Ok(Some(Value::Null));
            };
            let length = arg(2)?.as_number();
            substr(&text, start, length)
        }
        "trim" | "ltrim" | "rtrim" => {
            let value = arg(0)?;
            // "If Y is not specified, spaces and tabs are removed."
            let chars: Vec<char> = match args.get(1) {
                Some(expr) => match evaluate(expr, fields, env)?.as_text() {
                    Some(text) => text.chars().collect(),
                    None => return Ok(Some(Value::Null)),
                },
                None => vec![' ', '\t'],
            };
            map_texts(value, |text| {
                let trimmed = match name {
                    "ltrim" => text.trim_start_matches(chars.as_slice()),
                    "rtrim" => text.trim_end_matches(chars.as_slice()),
                    _ => text.trim_matches(chars.as_slice()),
                };
                trimmed.to_owned()
            })
        }
        "split" => {
            let value = arg(0)?;
            let (Some(text), Some(delimiter)) =
                (value.as_text(), arg(1)?.as_text().map(Cow::into_owned))
            else {
                return Ok(Some(Value::Null));
            };
            let parts: Vec<String> = if delimiter.is_empty() {
                text.chars().map(String::from).collect()
            } else {
                text.split(delimiter.as_str()).map(str::to_owned).collect()
            };
            Value::Multi(parts)
        }
        "urldecode" => map_texts(arg(0)?, url_decode),
        "match" => {
            let value = arg(0)?;
            let Some(pattern) = arg(1)?.as_text().map(Cow::into_owned) else {
                return Ok(Some(Value::Null));
            };
            let texts = value.texts();
            if texts.is_empty() {
                return Ok(Some(Value::Null));
            }
            let regex = env.regex(&pattern, &call.span)?;
            let mut found = false;
            for text in texts {
                if regex.is_match(&text).map_err(|e| env.error(&call.span, e))? {
                    found = true;
                    break;
                }
            }
            Value::Bool(found)
        }
        "like" => {
            let value = arg(0)?;
            let Some(pattern) = arg(1)?.as_text().map(Cow::into_owned) else {
                return Ok(Some(Value::Null));
            };
            let texts = value.texts();
            if texts.is_empty() {
                return Ok(Some(Value::Null));
            }
            Value::Bool(texts.iter().any(|text| like(text, &pattern)))
        }
        "replace" => {
            let value = arg(0)?;
            let (Some(pattern), Some(replacement)) =
                (arg(1)?.as_text().map(Cow::into_owned), arg(2)?.as_text().map(Cow::into_owned))
            else {
                return Ok(Some(Value::Null));
            };
            let regex = env.regex(&pattern, &call.span)?;
            let mut failure = None;
            let result = map_texts(value, |text| {
                regex.replace(text, &replacement, true).unwrap_or_else(|e| {
                    failure = Some(e);
                    String::new()
                })
            });
            if let Some(message) = failure {
                return Err(env.error(&call.span, message));
            }
            result
        }
        "tostring" => tostring(&arg(0)?, arg(1)?.as_text().as_deref()),
        "tonumber" => {
            let value = arg(0)?;
            let base = match args.get(1) {
                Some(expr) => match evaluate(expr, fields, env)?.as_number() {
                    Some(base) if (2.0..=36.0).contains(&base) && base.fract() == 0.0 =>
                    {
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        Some(base as u32)
                    }
                    _ => return Ok(Some(Value::Null)),
                },
                None => None,
            };
            tonumber(&value, base)
        }
        "md5" | "sha1" | "sha256" | "sha512" => match arg(0)?.as_text() {
            Some(text) => Value::Str(digest(name, text.as_bytes())),
            None => Value::Null,
        },
        "spath" => {
            let value = arg(0)?;
            let (Some(text), Some(path)) =
                (value.as_text(), arg(1)?.as_text().map(Cow::into_owned))
            else {
                return Ok(Some(Value::Null));
            };
            super::spath::extract(&text, &path).map_or(Value::Null, multi_or_single)
        }

        _ => return Ok(None),
    }))
}

/// Arithmetic functions. `None` for a function of another family.
fn numeric(c: &Call<'_, '_>) -> Result<Option<Value>, EvalError> {
    let Call { name, args, fields, env, .. } = *c;
    let arg = |index: usize| c.arg(index);
    Ok(Some(match name {
        "abs" | "ceil" | "ceiling" | "floor" | "exp" | "ln" | "sqrt" | "exact" => {
            let Some(n) = arg(0)?.as_number() else { return Ok(Some(Value::Null)) };
            let result = match name {
                "abs" => n.abs(),
                "ceil" | "ceiling" => n.ceil(),
                "floor" => n.floor(),
                "exp" => n.exp(),
                "ln" => n.ln(),
                "sqrt" => n.sqrt(),
                _ => n,
            };
            finite(result)
        }
        "log" => {
            let Some(n) = arg(0)?.as_number() else { return Ok(Some(Value::Null)) };
            let base = if args.len() > 1 { arg(1)?.as_number() } else { Some(10.0) };
            base.map_or(Value::Null, |b| finite(n.log(b)))
        }
        "pow" => match (arg(0)?.as_number(), arg(1)?.as_number()) {
            (Some(a), Some(b)) => finite(a.powf(b)),
            _ => Value::Null,
        },
        "pi" => Value::Num(std::f64::consts::PI),
        "round" => {
            let Some(n) = arg(0)?.as_number() else { return Ok(Some(Value::Null)) };
            let digits = if args.len() > 1 { arg(1)?.as_number().unwrap_or(0.0) } else { 0.0 };
            let scale = 10_f64.powf(digits.trunc());
            finite((n * scale).round() / scale)
        }
        "min" | "max" => {
            let mut values = Vec::new();
            for expr in args {
                values
                    .extend(evaluate(expr, fields, env)?.texts().into_iter().map(Cow::into_owned));
            }
            extreme(values, name == "max")
        }

        _ => return Ok(None),
    }))
}

/// Functions of multivalue fields. `None` for a function of another family.
#[allow(clippy::too_many_lines)] // One arm per function.
fn multivalue(c: &Call<'_, '_>) -> Result<Option<Value>, EvalError> {
    let Call { name, args, whole: call, fields, env } = *c;
    let arg = |index: usize| c.arg(index);
    Ok(Some(match name {
        "mvcount" => match arg(0)? {
            Value::Null => Value::Null,
            Value::Multi(values) => number_of(values.len()),
            _ => Value::Num(1.0),
        },
        "mvindex" => {
            let values = owned_texts(&arg(0)?);
            let Some(start) = arg(1)?.as_number() else { return Ok(Some(Value::Null)) };
            let end = if args.len() > 2 { arg(2)?.as_number() } else { None };
            mvindex(&values, start, end)
        }
        "mvjoin" => {
            let values = owned_texts(&arg(0)?);
            match arg(1)?.as_text() {
                Some(delimiter) if !values.is_empty() => {
                    Value::Str(values.join(delimiter.as_ref()))
                }
                _ => Value::Null,
            }
        }
        "mvappend" => {
            let mut values = Vec::new();
            for expr in args {
                values.extend(owned_texts(&evaluate(expr, fields, env)?));
            }
            multi_or_single(values)
        }
        "mvdedup" => {
            let mut values = owned_texts(&arg(0)?);
            let mut seen = std::collections::HashSet::new();
            values.retain(|v| seen.insert(v.clone()));
            multi_or_single(values)
        }
        "mvsort" => {
            let mut values = owned_texts(&arg(0)?);
            // "The values are sorted lexicographically."
            values.sort();
            multi_or_single(values)
        }
        "mvfind" => {
            let values = owned_texts(&arg(0)?);
            let Some(pattern) = arg(1)?.as_text().map(Cow::into_owned) else {
                return Ok(Some(Value::Null));
            };
            let regex = env.regex(&pattern, &call.span)?;
            for (index, value) in values.iter().enumerate() {
                if regex.is_match(value).map_err(|e| env.error(&call.span, e))? {
                    return Ok(Some(number_of(index)));
                }
            }
            Value::Null
        }
        "mvzip" => {
            let (a, b) = (owned_texts(&arg(0)?), owned_texts(&arg(1)?));
            let delimiter = if args.len() > 2 {
                arg(2)?.as_text().map_or_else(|| ",".to_owned(), Cow::into_owned)
            } else {
                ",".to_owned()
            };
            multi_or_single(a.iter().zip(&b).map(|(x, y)| format!("{x}{delimiter}{y}")).collect())
        }
        "mvrange" => {
            let (Some(start), Some(end)) = (arg(0)?.as_number(), arg(1)?.as_number()) else {
                return Ok(Some(Value::Null));
            };
            let step = if args.len() > 2 { arg(2)?.as_number().unwrap_or(1.0) } else { 1.0 };
            if step <= 0.0 {
                return Ok(Some(Value::Null));
            }
            let mut values = Vec::new();
            let mut current = start;
            while current < end && values.len() < 100_000 {
                values.push(format_number(current));
                current += step;
            }
            multi_or_single(values)
        }
        "mvfilter" => {
            let Some(expr) = args.first() else { return Ok(Some(Value::Null)) };
            // "This function will return NULL values of the field as well" is not what
            // filtering means; the filtered field is the first field the expression names.
            let Some(field) = expr.fields().first().map(|f| (*f).to_owned()) else {
                return Ok(Some(Value::Null));
            };
            let values = owned_texts(&fields.value(&field));
            let mut kept = Vec::new();
            for value in values {
                let bound = Bound { name: &field, value: &value, rest: fields };
                if evaluate(expr, &bound, env)?.as_bool() == Some(true) {
                    kept.push(value);
                }
            }
            multi_or_single(kept)
        }
        "mvmap" => {
            let (Some(source), Some(expr)) = (args.first(), args.get(1)) else {
                return Ok(Some(Value::Null));
            };
            let ExprKind::Field(field) = &source.kind else {
                return Err(
                    env.error(&call.span, "mvmap() takes a field as its first argument".to_owned())
                );
            };
            let mut mapped = Vec::new();
            for value in owned_texts(&fields.value(field)) {
                let bound = Bound { name: field, value: &value, rest: fields };
                mapped.extend(owned_texts(&evaluate(expr, &bound, env)?));
            }
            multi_or_single(mapped)
        }

        _ => return Ok(None),
    }))
}

/// Time functions. `None` for a function of another family.
fn time(c: &Call<'_, '_>) -> Result<Option<Value>, EvalError> {
    let Call { name, whole: call, env, .. } = *c;
    let arg = |index: usize| c.arg(index);
    Ok(Some(match name {
        "now" | "time" => Value::Num(micros_to_seconds(env.now_micros)),
        "relative_time" => {
            let (Some(time), Some(spec)) =
                (arg(0)?.as_number(), arg(1)?.as_text().map(Cow::into_owned))
            else {
                return Ok(Some(Value::Null));
            };
            super::time::relative_time(seconds_to_micros(time), &spec)
                .map_or(Value::Null, |micros| Value::Num(micros_to_seconds(micros)))
        }
        "strftime" => {
            let (Some(time), Some(format)) =
                (arg(0)?.as_number(), arg(1)?.as_text().map(Cow::into_owned))
            else {
                return Ok(Some(Value::Null));
            };
            let format = TimeFormat::parse(&format).map_err(|directive| {
                env.error(&call.span, format!("time format directive {directive} is not supported"))
            })?;
            format.format(seconds_to_micros(time)).map_or(Value::Null, Value::Str)
        }
        "strptime" => {
            let value = arg(0)?;
            let (Some(text), Some(format)) =
                (value.as_text(), arg(1)?.as_text().map(Cow::into_owned))
            else {
                return Ok(Some(Value::Null));
            };
            let format = TimeFormat::parse(&format).map_err(|directive| {
                env.error(&call.span, format!("time format directive {directive} is not supported"))
            })?;
            format
                .parse_time(&text)
                .map_or(Value::Null, |micros| Value::Num(micros_to_seconds(micros)))
        }

        _ => return Ok(None),
    }))
}

/// Network functions. `None` for a function of another family.
fn network(c: &Call<'_, '_>) -> Result<Option<Value>, EvalError> {
    let Call { name, .. } = *c;
    let arg = |index: usize| c.arg(index);
    Ok(Some(match name {
        "cidrmatch" => {
            let (cidr, ip) = (arg(0)?, arg(1)?);
            let Some(cidr) = cidr.as_text() else { return Ok(Some(Value::Null)) };
            let texts = ip.texts();
            if texts.is_empty() {
                return Ok(Some(Value::Null));
            }
            Value::Bool(texts.iter().any(|ip| cidr_match(&cidr, ip)))
        }
        _ => return Ok(None),
    }))
}

fn number_of(count: usize) -> Value {
    #[allow(clippy::cast_precision_loss)]
    Value::Num(count as f64)
}

fn finite(number: f64) -> Value {
    if number.is_finite() { Value::Num(number) } else { Value::Null }
}

#[allow(clippy::cast_precision_loss)]
fn micros_to_seconds(micros: i64) -> f64 {
    micros as f64 / 1e6
}

#[allow(clippy::cast_possible_truncation)]
fn seconds_to_micros(seconds: f64) -> i64 {
    (seconds * 1e6).round() as i64
}

/// Every value as owned text.
fn owned_texts(value: &Value) -> Vec<String> {
    value.texts().into_iter().map(Cow::into_owned).collect()
}

/// A list of values as eval holds it: null when empty, one value alone, else a multivalue.
pub(crate) fn multi_or_single(mut values: Vec<String>) -> Value {
    match values.len() {
        0 => Value::Null,
        1 => values.pop().map_or(Value::Null, Value::Str),
        _ => Value::Multi(values),
    }
}

/// Applies `f` to a single value's text or to each value of a multivalue.
fn map_texts(value: Value, mut f: impl FnMut(&str) -> String) -> Value {
    match value {
        Value::Multi(values) => Value::Multi(values.iter().map(|v| f(v)).collect()),
        other => match other.as_text() {
            Some(text) => Value::Str(f(&text)),
            None => Value::Null,
        },
    }
}

/// `substr(X, start, length)`: `start` counts characters from 1; a negative one counts from
/// the end ("If Y is negative, the substring starts from the end").
fn substr(text: &str, start: f64, length: Option<f64>) -> Value {
    let chars: Vec<char> = text.chars().collect();
    #[allow(clippy::cast_possible_truncation)]
    let start = start.trunc() as i64;
    #[allow(clippy::cast_possible_wrap)]
    let count = chars.len() as i64;
    let first = if start < 0 { (count + start).max(0) } else { (start - 1).max(0) };
    #[allow(clippy::cast_possible_truncation)]
    let last = match length {
        Some(length) if length < 0.0 => return Value::Null,
        Some(length) => (first + length.trunc() as i64).min(count),
        None => count,
    };
    if first >= last {
        return Value::Str(String::new());
    }
    #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
    let slice: String = chars[first as usize..last as usize].iter().collect();
    Value::Str(slice)
}

/// `mvindex(X, start, end)`: 0-based; negative positions count from the end; `end` is
/// included.
fn mvindex(values: &[String], start: f64, end: Option<f64>) -> Value {
    #[allow(clippy::cast_possible_wrap)]
    let count = values.len() as i64;
    #[allow(clippy::cast_possible_truncation)]
    let position = |n: f64| {
        let n = n.trunc() as i64;
        if n < 0 { count + n } else { n }
    };
    let first = position(start);
    let last = end.map_or(first, position);
    if first < 0 || first >= count || last < first {
        return Value::Null;
    }
    let last = last.min(count - 1);
    #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
    multi_or_single(values[first as usize..=last as usize].to_vec())
}

/// SQL `LIKE`: `%` matches any run of characters, `_` exactly one; case-sensitive.
pub(crate) fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    // Iterative matching with one backtrack point, linear in practice.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('%') => {
                star = Some((p, t));
                p += 1;
            }
            Some('_') => {
                t += 1;
                p += 1;
            }
            Some(c) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '%')
}

fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(byte);
                    i += 3;
                } else {
                    out.push(b'%');
                    i += 1;
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `tostring(X, format)`.
fn tostring(value: &Value, format: Option<&str>) -> Value {
    match (value, format) {
        (Value::Null, _) => Value::Null,
        (Value::Bool(b), _) => Value::Str(if *b { "True" } else { "False" }.to_owned()),
        (value, Some(format)) => {
            let Some(n) = value.as_number() else {
                return value.as_text().map_or(Value::Null, |t| Value::Str(t.into_owned()));
            };
            Value::Str(match format {
                "hex" => {
                    #[allow(clippy::cast_possible_truncation)]
                    let n = n.trunc() as i64;
                    format!("0x{n:X}")
                }
                "commas" => commas(n),
                "duration" => duration(n),
                _ => format_number(n),
            })
        }
        (Value::Multi(values), None) => Value::Multi(values.clone()),
        (value, None) => value.as_text().map_or(Value::Null, |t| Value::Str(t.into_owned())),
    }
}

/// A number with thousands separators; "If the number includes decimals, the function rounds
/// to the nearest two decimal places."
fn commas(n: f64) -> String {
    let rounded = (n * 100.0).round() / 100.0;
    let text = format_number(rounded);
    let (whole, fraction) =
        text.split_once('.').map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let (sign, digits) = whole.strip_prefix('-').map_or(("", whole), |d| ("-", d));
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Seconds as `[D+]HH:MM:SS`.
fn duration(n: f64) -> String {
    #[allow(clippy::cast_possible_truncation)]
    let total = n.trunc() as i64;
    let (days, rest) = (total / 86_400, total % 86_400);
    let clock = format!("{:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60);
    if days > 0 { format!("{days}+{clock}") } else { clock }
}

fn tonumber(value: &Value, base: Option<u32>) -> Value {
    let Some(text) = value.as_text() else { return Value::Null };
    let text = text.trim();
    match base {
        None | Some(10) => parse_number(text).map_or(Value::Null, Value::Num),
        Some(base) => {
            let digits = if base == 16 {
                text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text)
            } else {
                text
            };
            #[allow(clippy::cast_precision_loss)]
            i64::from_str_radix(digits, base).map_or(Value::Null, |n| Value::Num(n as f64))
        }
    }
}

/// `min`/`max` of mixed values: numbers compare numerically and before strings, strings
/// lexicographically.
fn extreme(values: Vec<String>, max: bool) -> Value {
    let key = |v: &String| (parse_number(v).is_none(), parse_number(v), v.clone());
    let mut best: Option<String> = None;
    for value in values {
        best = Some(match best {
            None => value,
            Some(current) => {
                let (a, b) = (key(&value), key(&current));
                let ordering =
                    a.0.cmp(&b.0)
                        .then_with(|| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal))
                        .then_with(|| a.2.cmp(&b.2));
                let better = if max { ordering.is_gt() } else { ordering.is_lt() };
                if better { value } else { current }
            }
        });
    }
    match best {
        Some(text) => parse_number(&text).map_or(Value::Str(text), Value::Num),
        None => Value::Null,
    }
}

fn digest(name: &str, bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let raw: Vec<u8> = match name {
        "md5" => md5::Md5::digest(bytes).to_vec(),
        "sha1" => sha1::Sha1::digest(bytes).to_vec(),
        "sha256" => sha2::Sha256::digest(bytes).to_vec(),
        _ => sha2::Sha512::digest(bytes).to_vec(),
    };
    let mut hex = String::with_capacity(raw.len() * 2);
    for byte in raw {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Whether `ip` is in the network `cidr` (IPv4 or IPv6, `a.b.c.d/n`; no `/n` is one host).
pub(crate) fn cidr_match(cidr: &str, ip: &str) -> bool {
    use std::net::IpAddr;
    let (network, bits) =
        cidr.trim().split_once('/').map_or((cidr.trim(), None), |(n, b)| (n, Some(b)));
    let (Ok(network), Ok(ip)) = (network.parse::<IpAddr>(), ip.trim().parse::<IpAddr>()) else {
        return false;
    };
    match (network, ip) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => {
            let bits = bits.map_or(Some(32), |b| b.parse::<u32>().ok()).filter(|b| *b <= 32);
            let Some(bits) = bits else { return false };
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(net), IpAddr::V6(ip)) => {
            let bits = bits.map_or(Some(128), |b| b.parse::<u32>().ok()).filter(|b| *b <= 128);
            let Some(bits) = bits else { return false };
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_sql_wildcards() {
        assert!(like("cmd.exe", "%.exe"));
        assert!(like("cmd.exe", "c_d%"));
        assert!(!like("cmd.exe", "C%"));
        assert!(like("", "%"));
        assert!(!like("ab", "a"));
        assert!(like("a%b", "a%b"));
    }

    #[test]
    fn cidr_matches_networks() {
        assert!(cidr_match("10.0.0.0/8", "10.1.2.3"));
        assert!(!cidr_match("10.0.0.0/8", "11.1.2.3"));
        assert!(cidr_match("0.0.0.0/0", "1.2.3.4"));
        assert!(cidr_match("fe80::/10", "fe80::1"));
        assert!(!cidr_match("10.0.0.0/33", "10.0.0.1"));
        assert!(!cidr_match("10.0.0.0/8", "not an ip"));
    }

    #[test]
    fn substrings_count_from_one_or_the_end() {
        assert_eq!(substr("splunk", 1.0, Some(3.0)), Value::Str("spl".into()));
        assert_eq!(substr("splunk", -3.0, None), Value::Str("unk".into()));
        assert_eq!(substr("splunk", 10.0, None), Value::Str(String::new()));
    }

    #[test]
    fn mvindex_counts_from_zero_and_the_end() {
        let values = || vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        assert_eq!(mvindex(&values(), 0.0, None), Value::Str("a".into()));
        assert_eq!(mvindex(&values(), -1.0, None), Value::Str("c".into()));
        assert_eq!(mvindex(&values(), 1.0, Some(-1.0)), Value::Multi(vec!["b".into(), "c".into()]));
        assert_eq!(mvindex(&values(), 5.0, None), Value::Null);
    }

    #[test]
    fn tostring_formats() {
        assert_eq!(
            tostring(&Value::Num(1_234_567.891), Some("commas")),
            Value::Str("1,234,567.89".into())
        );
        assert_eq!(tostring(&Value::Num(255.0), Some("hex")), Value::Str("0xFF".into()));
        assert_eq!(
            tostring(&Value::Num(90061.0), Some("duration")),
            Value::Str("1+01:01:01".into())
        );
        assert_eq!(tostring(&Value::Bool(true), None), Value::Str("True".into()));
    }
}
