//! Search macros: finding backquoted calls, the macro table with its built-ins, and textual
//! expansion that remembers where every expanded byte came from. Expansion is purely textual,
//! as in Splunk; it does not parse SPL.

use std::collections::BTreeMap;
use std::ops::Range;

use super::error::{Location, SplError, SplErrorKind};

/// Deepest nesting of macro calls expansion follows before giving up.
pub const MAX_MACRO_DEPTH: usize = 32;
/// Largest expanded search, in bytes.
pub const MAX_EXPANDED_LEN: usize = 1 << 20;
/// Most macro calls one search may expand, nested ones included.
pub const MAX_MACRO_CALLS: usize = 10_000;

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
    /// A comment (```` ``` ````) that never closes.
    #[error("col {col}: comment opened here has no closing ```")]
    UnclosedComment {
        /// 1-based column (in characters) of the opening backquotes.
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

impl MacroCallError {
    fn col(&self) -> usize {
        match self {
            Self::Unclosed { col }
            | Self::UnclosedComment { col }
            | Self::Malformed { col, .. } => *col,
        }
    }
}

/// `text` with each comment (```` ```…``` ````, outside double quotes) replaced by spaces,
/// byte for byte, so offsets into the result are offsets into `text`. Splunk's Search
/// Manual ("Add comments to searches"): "The search processor replaces comments with a space
/// when the search is run."
pub fn blank_comments(text: &str) -> Result<std::borrow::Cow<'_, str>, MacroCallError> {
    const MARK: &str = "```";
    if !text.contains(MARK) {
        return Ok(std::borrow::Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut in_quotes = false;
    let mut escaped = false;
    let mut idx = 0;
    while let Some(ch) = text[idx..].chars().next() {
        if !in_quotes && text[idx..].starts_with(MARK) {
            let body = idx + MARK.len();
            let close = text[body..]
                .find(MARK)
                .ok_or(MacroCallError::UnclosedComment { col: column(text, idx) })?;
            let end = body + close + MARK.len();
            out.extend(std::iter::repeat_n(' ', end - idx));
            idx = end;
            continue;
        }
        match ch {
            _ if escaped => escaped = false,
            // A backslash escapes the next character, a quote included, in or out of quotes.
            '\\' => escaped = true,
            '"' => in_quotes = !in_quotes,
            _ => {}
        }
        out.push(ch);
        idx += ch.len_utf8();
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// The macro calls of `search`, in order. Backquotes inside double-quoted strings are text,
/// not calls, as in Splunk, and comments (```` ```…``` ````) hold no calls.
pub fn macro_calls(search: &str) -> Result<Vec<MacroCall>, MacroCallError> {
    let blanked = blank_comments(search)?;
    let calls = macro_calls_in(&blanked)?;
    Ok(calls)
}

/// [`macro_calls`] of text without comments. Columns count characters of that text, which
/// are those of the original wherever a comment held only ASCII.
fn macro_calls_in(search: &str) -> Result<Vec<MacroCall>, MacroCallError> {
    // Most searches call macros, but a long generated list need not be walked a character
    // at a time to find that it calls none.
    if !search.contains('`') {
        return Ok(Vec::new());
    }
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
            // A backslash escapes the next character, a quote included, in or out of quotes.
            '\\' => escaped = true,
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
    valid_name(name).then(|| MacroCall { name: name.to_owned(), arguments, span })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
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

/// 1-based column in characters of byte offset `offset` (clamped to the text).
pub fn column(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    text[..offset].chars().count() + 1
}

/// One macro as a content file defines it: `` `name(arg1, …)` `` expands to `definition`
/// with each `$arg$` replaced by the call's argument.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MacroDefinition {
    /// The name callers write between backquotes. A `name(N)` suffix, as in Splunk's
    /// `macros.conf`, is accepted when N matches the argument count.
    pub name: String,
    /// Argument names, used as `$name$` in the definition.
    #[serde(default)]
    pub arguments: Vec<String>,
    /// The SPL the call expands to.
    pub definition: String,
}

/// The macros a search may call, looked up as Splunk does by name and argument count
/// (`name(N)`), so `` `f(a)` `` and `` `f(a, b)` `` are different macros.
///
/// Besides its definitions the table knows CIM's `drop_dm_object_name(object)` and, during
/// [`Search::compile`](super::Search::compile), the rule's own filter macro, each used only
/// when no definition has its name and arity.
#[derive(Debug, Clone, Default)]
pub struct MacroTable {
    by_key: BTreeMap<(String, usize), MacroDefinition>,
}

impl MacroTable {
    /// An empty table: only the built-ins.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `definition`, returning the one it replaces with the same name and arity.
    pub fn insert(&mut self, definition: MacroDefinition) -> Option<MacroDefinition> {
        let arity = definition.arguments.len();
        let key = (base_name(&definition.name, arity).to_owned(), arity);
        self.by_key.insert(key, definition)
    }

    /// The definition of `name` taking `arity` arguments, without built-ins.
    pub fn get(&self, name: &str, arity: usize) -> Option<&MacroDefinition> {
        self.by_key.get(&(name.to_owned(), arity))
    }

    /// The arities `name` is defined with, built-ins excluded.
    fn arities(&self, name: &str) -> Vec<usize> {
        self.by_key.keys().filter(|(n, _)| n == name).map(|(_, arity)| *arity).collect()
    }
}

impl FromIterator<MacroDefinition> for MacroTable {
    fn from_iter<I: IntoIterator<Item = MacroDefinition>>(iter: I) -> Self {
        let mut table = Self::new();
        for definition in iter {
            table.insert(definition);
        }
        table
    }
}

/// `name` without a trailing `(N)`, when N is `arity`.
fn base_name(name: &str, arity: usize) -> &str {
    name.strip_suffix(')')
        .and_then(|rest| rest.rsplit_once('('))
        .filter(|(_, digits)| digits.parse::<usize>().ok() == Some(arity))
        .map_or(name, |(base, _)| base)
}

/// The name of a rule's filter macro: the rule name lower-cased, with spaces, `-`, `.` and `/`
/// turned into `_`, then `_filter`.
pub fn filter_macro_name(rule_name: &str) -> String {
    let mut name: String = rule_name
        .to_lowercase()
        .chars()
        .map(|c| if matches!(c, ' ' | '-' | '.' | '/') { '_' } else { c })
        .collect();
    name.push_str("_filter");
    name
}

/// Where a byte of the expanded search came from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    /// Copied from the original search; the segment starts at this original offset.
    Search { start: usize },
    /// Produced by a macro call in the original search (`call`), through `chain` (outermost
    /// first, as `name(N)`).
    Macro { call: Range<usize>, chain: Vec<String> },
}

/// Maps offsets of an expanded search back to the original search.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceMap {
    original: String,
    segments: Vec<(Range<usize>, Origin)>,
}

impl SourceMap {
    /// The map of a text that no macro expanded.
    pub(crate) fn plain(text: &str) -> Self {
        Self {
            original: text.to_owned(),
            segments: vec![(0..text.len(), Origin::Search { start: 0 })],
        }
    }

    /// The location in the original search of expanded byte `offset`.
    pub(crate) fn locate(&self, offset: usize) -> Location {
        let segment = self
            .segments
            .iter()
            .find(|(range, _)| range.contains(&offset))
            .or_else(|| self.segments.last().filter(|(range, _)| offset >= range.end));
        match segment {
            None => self.at_original(offset.min(self.original.len())),
            Some((range, Origin::Search { start })) => {
                self.at_original(start + offset.saturating_sub(range.start).min(range.len()))
            }
            Some((_, Origin::Macro { call, chain })) => Location {
                col: column(&self.original, call.start),
                span: call.clone(),
                macros: chain.clone(),
            },
        }
    }

    /// The location of expanded bytes `span`: the same range of original text when they were
    /// copied from it, else the macro call that produced them.
    pub(crate) fn locate_span(&self, span: &Range<usize>) -> Location {
        let mut location = self.locate(span.start);
        if location.macros.is_empty() {
            let start = location.span.start;
            location.span = start..(start + span.len()).min(self.original.len());
        }
        location
    }

    fn at_original(&self, offset: usize) -> Location {
        Location { col: column(&self.original, offset), span: offset..offset, macros: Vec::new() }
    }
}

/// The result of macro expansion: SPL without macro calls and the way back to the original.
#[derive(Debug, Clone)]
pub(crate) struct Expansion {
    pub(crate) text: String,
    pub(crate) map: SourceMap,
}

/// Expands every macro call in `search`, recursively, using `macros`, CIM's
/// `drop_dm_object_name` and `filter_macro` (the rule's filter macro, `search *` unless
/// defined).
pub(crate) fn expand(
    search: &str,
    macros: &MacroTable,
    filter_macro: &str,
) -> Result<Expansion, SplError> {
    let mut expander = Expander {
        macros,
        filter_macro,
        calls: 0,
        text: String::with_capacity(search.len()),
        map: SourceMap { original: search.to_owned(), segments: Vec::new() },
    };
    let to_error = |error: MacroCallError| {
        let offset = byte_offset(search, error.col());
        let location = expander.map.at_original(offset);
        SplError::new(location, error.into())
    };
    let blanked = blank_comments(search).map_err(to_error)?;
    let calls = macro_calls_in(&blanked).map_err(to_error)?;
    let search = blanked.as_ref();
    let mut copied = 0;
    for call in calls {
        expander.push(&search[copied..call.span.start], Origin::Search { start: copied });
        let mut stack = Vec::new();
        expander.expand_call(&call, call.span.clone(), &mut stack)?;
        copied = call.span.end;
    }
    expander.push(&search[copied..], Origin::Search { start: copied });
    Ok(Expansion { text: expander.text, map: expander.map })
}

struct Expander<'a> {
    macros: &'a MacroTable,
    filter_macro: &'a str,
    calls: usize,
    text: String,
    map: SourceMap,
}

impl Expander<'_> {
    fn push(&mut self, piece: &str, origin: Origin) {
        if piece.is_empty() {
            return;
        }
        let start = self.text.len();
        self.text.push_str(piece);
        self.map.segments.push((start..self.text.len(), origin));
    }

    /// Appends the expansion of `call`; `outer` is the span in the original search of the
    /// outermost call, `stack` the macros being expanded (as `name(N)`).
    fn expand_call(
        &mut self,
        call: &MacroCall,
        outer: Range<usize>,
        stack: &mut Vec<String>,
    ) -> Result<(), SplError> {
        let arity = call.arguments.len();
        let key = format!("{}({arity})", call.name);
        let col = column(&self.map.original, outer.start);
        let error = |stack: &[String], kind| {
            let location = Location { col, span: outer.clone(), macros: stack.to_vec() };
            SplError::new(location, kind)
        };
        if stack.contains(&key) {
            let mut chain = stack.clone();
            chain.push(key);
            return Err(error(stack, SplErrorKind::MacroCycle { chain: chain.join(" → ") }));
        }
        self.calls += 1;
        if self.calls > MAX_MACRO_CALLS {
            return Err(error(stack, SplErrorKind::MacroCalls { limit: MAX_MACRO_CALLS }));
        }
        if stack.len() >= MAX_MACRO_DEPTH {
            return Err(error(stack, SplErrorKind::MacroDepth { limit: MAX_MACRO_DEPTH }));
        }
        let body = self.body(call).ok_or_else(|| {
            let arities = self.macros.arities(&call.name);
            let kind = if arities.is_empty() {
                SplErrorKind::UnknownMacro { name: key.clone() }
            } else {
                let defined = arities.iter().map(usize::to_string).collect::<Vec<_>>().join(" or ");
                SplErrorKind::MacroArity { name: call.name.clone(), given: arity, defined }
            };
            error(stack, kind)
        })?;
        if self.text.len() + body.len() > MAX_EXPANDED_LEN {
            return Err(error(stack, SplErrorKind::MacroSize { limit: MAX_EXPANDED_LEN }));
        }
        stack.push(key);
        let body = blank_comments(&body).map_err(|source| error(stack, source.into()))?;
        let inner = macro_calls_in(&body).map_err(|source| error(stack, source.into()))?;
        let origin = Origin::Macro { call: outer.clone(), chain: stack.clone() };
        let mut copied = 0;
        for inner_call in inner {
            self.push(&body[copied..inner_call.span.start], origin.clone());
            self.expand_call(&inner_call, outer.clone(), stack)?;
            copied = inner_call.span.end;
        }
        self.push(&body[copied..], origin);
        stack.pop();
        if self.text.len() > MAX_EXPANDED_LEN {
            return Err(error(stack, SplErrorKind::MacroSize { limit: MAX_EXPANDED_LEN }));
        }
        Ok(())
    }

    /// The call's definition with its arguments substituted, from the table or a built-in.
    fn body(&self, call: &MacroCall) -> Option<String> {
        if let Some(definition) = self.macros.get(&call.name, call.arguments.len()) {
            return Some(substitute(definition, &call.arguments));
        }
        match (call.name.as_str(), call.arguments.as_slice()) {
            ("drop_dm_object_name", [object]) => Some(format!("rename {object}.* AS *")),
            (name, []) if name == self.filter_macro => Some("search *".to_owned()),
            _ => None,
        }
    }
}

/// `definition` with `$name$` replaced by the matching argument, in one left-to-right pass so
/// an argument's text is never substituted again. Stops once the text is longer than
/// [`MAX_EXPANDED_LEN`] (the caller rejects it): a definition repeating `$x$` with a long
/// argument would otherwise grow without bound before any check.
fn substitute(definition: &MacroDefinition, arguments: &[String]) -> String {
    let mut out = String::with_capacity(definition.definition.len().min(MAX_EXPANDED_LEN));
    let mut rest = definition.definition.as_str();
    while let Some(open) = rest.find('$') {
        if out.len() > MAX_EXPANDED_LEN {
            return out;
        }
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let replaced = after.find('$').and_then(|close| {
            let name = &after[..close];
            let position = definition.arguments.iter().position(|a| a == name)?;
            Some((arguments.get(position)?, close))
        });
        if let Some((value, close)) = replaced {
            out.push_str(value);
            rest = &after[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Byte offset of 1-based character column `col` in `text`.
fn byte_offset(text: &str, col: usize) -> usize {
    text.char_indices().nth(col.saturating_sub(1)).map_or(text.len(), |(idx, _)| idx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(defs: &[(&str, &[&str], &str)]) -> MacroTable {
        defs.iter()
            .map(|(name, arguments, definition)| MacroDefinition {
                name: (*name).to_owned(),
                arguments: arguments.iter().map(|a| (*a).to_owned()).collect(),
                definition: (*definition).to_owned(),
            })
            .collect()
    }

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

    #[test]
    fn substitutes_arguments_once() {
        let macros = table(&[("f", &["a", "b"], "$a$ $b$ $a$ $c$ $")]);
        let expansion = expand("x `f($b$, 2)` y", &macros, "none").unwrap();
        assert_eq!(expansion.text, "x $b$ 2 $b$ $c$ $ y");
    }

    #[test]
    fn arity_is_part_of_the_name() {
        let macros = table(&[("f", &[], "zero"), ("f(1)", &["x"], "one $x$")]);
        assert_eq!(expand("`f` `f(a)`", &macros, "none").unwrap().text, "zero one a");
        assert_eq!(base_name("f(12)", 12), "f");
        assert_eq!(base_name("f(2)", 1), "f(2)");
        assert_eq!(base_name("f(x)", 0), "f(x)");
    }

    #[test]
    fn maps_offsets_back_to_the_search() {
        let macros = table(&[("outer", &[], "a `inner` b"), ("inner", &[], "c")]);
        let expansion = expand("xy `outer` z", &macros, "none").unwrap();
        assert_eq!(expansion.text, "xy a c b z");
        assert_eq!(expansion.map.locate(1).col, 2);
        let inside = expansion.map.locate(5);
        assert_eq!((inside.col, inside.span.clone()), (4, 3..10));
        assert_eq!(inside.macros, ["outer(0)", "inner(0)"]);
        assert_eq!(expansion.map.locate(9).col, 12);
        assert_eq!(expansion.map.locate(10).col, 13);
    }

    #[test]
    fn filter_macro_names_follow_the_rule_name() {
        assert_eq!(
            filter_macro_name("Dump LSASS via comsvcs DLL"),
            "dump_lsass_via_comsvcs_dll_filter"
        );
        assert_eq!(filter_macro_name("A-b.c/d e"), "a_b_c_d_e_filter");
    }

    #[test]
    fn self_reference_is_a_cycle_and_growth_is_bounded() {
        let cycle = table(&[("a", &[], "`b`"), ("b", &[], "`a`")]);
        let error = expand("`a`", &cycle, "none").unwrap_err();
        assert!(matches!(error.kind, SplErrorKind::MacroCycle { .. }), "{error}");
        let big = "x".repeat(4096);
        let doubling = table(&[
            ("d0", &[], &big),
            ("d1", &[], "`d0``d0``d0``d0``d0``d0``d0``d0`"),
            ("d2", &[], "`d1``d1``d1``d1``d1``d1``d1``d1`"),
            ("d3", &[], "`d2``d2``d2``d2``d2``d2``d2``d2`"),
        ]);
        let error = expand("`d3`", &doubling, "none").unwrap_err();
        assert!(matches!(error.kind, SplErrorKind::MacroSize { .. }), "{error}");
    }
}
