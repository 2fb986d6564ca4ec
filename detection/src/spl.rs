//! SPL: the search language of Splunk rules. This module finds macro calls; the lexer, parser
//! and macro expander build on it.

use std::ops::Range;

/// A backquoted macro call in a search: `` `name` `` or `` `name(arg1, arg2)` ``.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MacroCall {
    /// The macro's name, without arguments.
    pub name: String,
    /// The arguments as written, trimmed; empty for a call without parentheses.
    pub arguments: Vec<String>,
    /// Byte range of the whole call in the search, backquotes included.
    pub span: Range<usize>,
}

/// Why a search's macro calls could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacroCallError {
    /// A backquote opens a call that never closes.
    #[error("col {col}: macro call opened here has no closing backquote")]
    Unclosed {
        /// 1-based column (in characters) of the opening backquote.
        col: usize,
    },
    /// A call's name or parentheses are malformed.
    #[error("col {col}: malformed macro call `{text}`: expected `name` or `name(arg, …)`")]
    Malformed {
        /// 1-based column (in characters) of the opening backquote.
        col: usize,
        /// The text between the backquotes.
        text: String,
    },
}

/// The macro calls of `search`, in order. Backquotes inside double-quoted strings are text,
/// not calls, as in Splunk.
pub fn macro_calls(search: &str) -> Result<Vec<MacroCall>, MacroCallError> {
    let mut calls = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut open: Option<usize> = None;
    for (idx, ch) in search.char_indices() {
        if let Some(start) = open {
            if ch == '`' {
                let inner = &search[start + 1..idx];
                let call = parse_call(inner, start..idx + 1).ok_or_else(|| {
                    MacroCallError::Malformed { col: column(search, start), text: inner.to_owned() }
                })?;
                calls.push(call);
                open = None;
            }
            continue;
        }
        match ch {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '`' if !in_quotes => open = Some(idx),
            _ => {}
        }
    }
    match open {
        Some(start) => Err(MacroCallError::Unclosed { col: column(search, start) }),
        None => Ok(calls),
    }
}

fn parse_call(inner: &str, span: Range<usize>) -> Option<MacroCall> {
    let inner = inner.trim();
    let (name, arguments) = match inner.find('(') {
        None => (inner, Vec::new()),
        Some(paren) => {
            let body = inner[paren + 1..].strip_suffix(')')?;
            (&inner[..paren], split_arguments(body)?)
        }
    };
    let valid_name = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    valid_name.then(|| MacroCall { name: name.to_owned(), arguments, span })
}

/// Splits macro arguments on commas outside double quotes and nested parentheses.
fn split_arguments(body: &str) -> Option<Vec<String>> {
    if body.trim().is_empty() {
        return Some(Vec::new());
    }
    let mut arguments = Vec::new();
    let mut depth = 0_usize;
    let mut in_quotes = false;
    let mut start = 0;
    for (idx, ch) in body.char_indices() {
        match ch {
            '"' => in_quotes = !in_quotes,
            '(' if !in_quotes => depth += 1,
            ')' if !in_quotes => depth = depth.checked_sub(1)?,
            ',' if !in_quotes && depth == 0 => {
                arguments.push(body[start..idx].trim().to_owned());
                start = idx + 1;
            }
            _ => {}
        }
    }
    if in_quotes || depth != 0 {
        return None;
    }
    arguments.push(body[start..].trim().to_owned());
    Some(arguments)
}

/// 1-based column in characters of byte offset `offset`.
pub(crate) fn column(text: &str, offset: usize) -> usize {
    text[..offset].chars().count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_calls_with_and_without_arguments() {
        let search = "| tstats `summaries` count | `ctime(firstTime)` | `two(a, \"b,c\")`";
        let calls = macro_calls(search).unwrap();
        let named: Vec<_> = calls.iter().map(|c| (c.name.as_str(), c.arguments.clone())).collect();
        assert_eq!(
            named,
            [
                ("summaries", vec![]),
                ("ctime", vec!["firstTime".to_owned()]),
                ("two", vec!["a".to_owned(), "\"b,c\"".to_owned()]),
            ]
        );
        assert_eq!(&search[calls[0].span.clone()], "`summaries`");
    }

    #[test]
    fn backquotes_in_strings_are_text() {
        assert!(macro_calls(r#"search x="`not a call`" "#).unwrap().is_empty());
    }

    #[test]
    fn unclosed_and_malformed_calls_are_errors() {
        assert_eq!(macro_calls("a `b"), Err(MacroCallError::Unclosed { col: 3 }));
        assert!(matches!(macro_calls("`b(c`"), Err(MacroCallError::Malformed { col: 1, .. })));
        assert!(matches!(macro_calls("``"), Err(MacroCallError::Malformed { .. })));
    }
}
