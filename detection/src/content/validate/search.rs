//! Checks of a rule's search: SPL syntax (comments, macro calls, quotes, parentheses and
//! brackets) located in the rule file with an excerpt, the filter macro and macro arity, what
//! the engine makes of it (evaluable, or blocked by a named limit), data model field names
//! the CIM does not define, and fields the risk settings use that the search does not return.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use super::{Engine, Finding, Report, Severity, Tree};
use crate::cim;
use crate::content::locate::{ValueMap, locate_value};
use crate::content::{Detection, Schema};
use crate::spl::{
    Blocker, Context, MacroCallError, Search, SplError, SplErrorKind, blank_comments, macro_calls,
};

/// Macros no content file defines, with their argument counts: the apps a detection runs
/// beside provide them, as contentctl's list of macros it does not look for says —
/// `drop_dm_object_name` and `cim_corporate_web_domain_search` (Splunk's CIM app),
/// `get_asset` and `get_risk_severity` (Enterprise Security). Each rule's own filter macro
/// (no argument) is generated from its name.
const APP_MACROS: [(&str, usize); 4] = [
    ("drop_dm_object_name", 1),
    ("cim_corporate_web_domain_search", 1),
    ("get_asset", 1),
    ("get_risk_severity", 1),
];

/// Longest excerpt line shown; longer lines are cut around the column.
const EXCERPT_WIDTH: usize = 100;

pub(super) struct SearchCheck<'a> {
    detection: &'a Detection,
    text: Option<&'a str>,
    map: OnceLock<Option<ValueMap>>,
}

impl<'a> SearchCheck<'a> {
    pub(super) fn new(detection: &'a Detection, text: Option<&'a str>) -> Self {
        Self { detection, text, map: OnceLock::new() }
    }

    /// Reports the first syntax error of the search, located; `false` when there is one.
    pub(super) fn check_syntax(&self, report: &mut Report<'_>) -> bool {
        match syntax_error(&self.detection.search) {
            None => true,
            Some((offset, message)) => {
                let finding =
                    self.located(report, Severity::Error, offset, format!("search: {message}"));
                report.add(finding);
                false
            }
        }
    }

    /// Everything after syntax: macros, the engine, field names, output fields.
    pub(super) fn check_semantics(&self, report: &mut Report<'_>, tree: &Tree) -> Engine {
        self.check_cim_fields(report);
        if !self.check_macros(report, tree) {
            return Engine::NotChecked;
        }
        let detection = self.detection;
        let context = Context { macros: &tree.table, lookups: &tree.lookups };
        let engine =
            match Search::compile_in(&detection.search, context, &detection.filter_macro_name()) {
                Ok(search) => {
                    check_outputs(report, &search);
                    Engine::Evaluable
                }
                Err(err) => self.classify(report, &err),
            };
        check_upstream_field_presence(report);
        engine
    }

    /// The filter macro exactly once, every macro defined with the arity it is called with,
    /// each finding at the call. `false` when a call is wrong, so the search is not compiled
    /// to repeat it.
    fn check_macros(&self, report: &mut Report<'_>, tree: &Tree) -> bool {
        let detection = self.detection;
        let Ok(calls) = macro_calls(&without_escaped_quotes(&detection.search)) else {
            return false;
        };
        let before = report.findings.len();
        let filter = detection.filter_macro_name();
        let filter_calls: Vec<_> = calls.iter().filter(|call| call.name == filter).collect();
        // Behavioral Analytics pipelines of the 2021 repository run outside Splunk searches
        // and have no filter macro.
        let streaming = !detection.tags.product.is_empty()
            && detection.tags.product.iter().all(|p| p == "Splunk Behavioral Analytics");
        if filter_calls.len() != 1 && !streaming {
            let message = format!(
                "search calls its filter macro `{filter}` {} times: expected exactly once",
                filter_calls.len()
            );
            let finding = match filter_calls.get(1) {
                Some(second) => self.located(report, Severity::Error, second.span.start, message),
                None => report.finding(Severity::Error, message),
            };
            report.add(finding);
        }
        for call in &calls {
            let expected = if call.name == filter {
                Some(0)
            } else if let Some((_, count)) = APP_MACROS.iter().find(|(name, _)| *name == call.name)
            {
                Some(*count)
            } else {
                tree.macros.get(&call.name).map(|m| m.arguments.len())
            };
            let message = match expected {
                None => format!("search calls macro `{}`, which is not defined", call.name),
                Some(count) if count != call.arguments.len() => format!(
                    "search calls macro `{}` with {} argument(s): expected {count}",
                    call.name,
                    call.arguments.len()
                ),
                Some(_) => continue,
            };
            let finding = self.located(report, Severity::Error, call.span.start, message);
            report.add(finding);
        }
        report.findings[before..].iter().all(|f| f.severity != Severity::Error)
    }

    /// A compile error is the rule's defect only when Splunk would refuse the search too;
    /// anything else is a limit of this engine, named by its blocker.
    fn classify(&self, report: &mut Report<'_>, err: &SplError) -> Engine {
        let in_macro = !err.location.macros.is_empty();
        if let SplErrorKind::UnknownMacro { name } = &err.kind {
            let base = name.split('(').next().unwrap_or(name);
            if APP_MACROS.iter().any(|(app, _)| *app == base) {
                // Defined by an app beside the content, which this engine does not have.
                let blocker = Blocker::Macro(name.clone());
                let message = format!("the engine cannot evaluate this search yet: {err}");
                let mut finding =
                    self.located(report, Severity::Unsupported, err.location.span.start, message);
                finding.blocker = Some(blocker.clone());
                report.add(finding);
                return Engine::Blocked(blocker);
            }
        }
        let defect = match &err.kind {
            SplErrorKind::MacroCycle { .. }
            | SplErrorKind::MacroDepth { .. }
            | SplErrorKind::MacroSize { .. }
            | SplErrorKind::MacroCalls { .. }
            | SplErrorKind::SearchSize { .. }
            | SplErrorKind::UnknownMacro { .. }
            | SplErrorKind::MacroArity { .. }
            | SplErrorKind::RenameWildcards { .. }
            // Splunk refuses these too: a tstats field outside its node (field names are
            // case-sensitive) or a pattern PCRE does not compile.
            | SplErrorKind::ForeignField { .. }
            | SplErrorKind::Regex(_)
            // A table of the tree's own that does not read: the content's to mend.
            | SplErrorKind::LookupTable { .. } => err.blocker().is_none(),
            // The rule's own text passed the syntax check, so these come from a macro's
            // definition (a defect of that macro) or from the engine reading the text
            // differently (its limit).
            SplErrorKind::UnclosedQuote
            | SplErrorKind::UnclosedParen
            | SplErrorKind::UnclosedMacroCall
            | SplErrorKind::UnclosedComment
            | SplErrorKind::MalformedMacroCall(_) => in_macro,
            _ => false,
        };
        let offset = err.location.span.start;
        if defect {
            let finding = self.located(report, Severity::Error, offset, err.to_string());
            report.add(finding);
            return Engine::NotChecked;
        }
        let blocker = err.blocker().unwrap_or_else(|| engine_limit(&err.kind));
        let mut finding = self.located(
            report,
            Severity::Unsupported,
            offset,
            format!("the engine cannot evaluate this search yet: {err}"),
        );
        finding.blocker = Some(blocker.clone());
        report.add(finding);
        Engine::Blocked(blocker)
    }

    /// `Processes.proces_name`: a field of a CIM node that the node does not define, with
    /// the closest name it does.
    fn check_cim_fields(&self, report: &mut Report<'_>) {
        for (offset, message) in cim_field_warnings(&self.detection.search) {
            let finding = self.located(report, Severity::Warning, offset, message);
            report.add(finding);
        }
    }

    /// A finding pointing at byte `offset` of the search: at its line and column in the rule
    /// file when the file's text is known and decodes to the search, else at the search.
    fn located(
        &self,
        report: &Report<'_>,
        severity: Severity,
        offset: usize,
        message: String,
    ) -> Finding {
        let mut finding = report.finding(severity, message);
        let search = &self.detection.search;
        let map = self
            .map
            .get_or_init(|| self.text.and_then(|text| locate_value(text, "search", search)));
        if let (Some(text), Some((line, column))) =
            (self.text, map.as_ref().and_then(|map| map.position(offset)))
        {
            finding.line = Some(line);
            finding.column = Some(column);
            let source_line = text.split('\n').nth(line - 1).unwrap_or_default();
            finding.excerpt =
                Some(excerpt(&line.to_string(), source_line.trim_end_matches('\r'), column));
        } else {
            let offset = offset.min(search.len());
            let start = search[..offset].rfind('\n').map_or(0, |i| i + 1);
            let end = search[start..].find('\n').map_or(search.len(), |i| start + i);
            let column = crate::spl::column(&search[start..end], offset - start);
            finding.excerpt = Some(excerpt("search", &search[start..end], column));
        }
        finding
    }
}

/// Two lines: `  12 | <line>` and a caret under `column` (1-based, in characters); a long
/// line is cut to a window around the column.
fn excerpt(label: &str, line: &str, column: usize) -> String {
    let chars: Vec<char> = line.chars().collect();
    let column = column.clamp(1, chars.len() + 1);
    let (mut start, mut end) = (0, chars.len());
    if chars.len() > EXCERPT_WIDTH {
        start = column.saturating_sub(EXCERPT_WIDTH / 2).min(chars.len() - EXCERPT_WIDTH);
        end = start + EXCERPT_WIDTH;
    }
    let mut shown: String =
        chars[start..end].iter().map(|c| if c.is_control() { ' ' } else { *c }).collect();
    let mut caret_at = column - 1 - start;
    if start > 0 {
        shown.insert(0, '…');
        caret_at += 1;
    }
    if end < chars.len() {
        shown.push('…');
    }
    let gutter = " ".repeat(label.chars().count());
    format!("  {label} | {shown}\n  {gutter} | {}^", " ".repeat(caret_at))
}

/// The first syntax error of `search` as Splunk's parser would see it, with the byte offset
/// it points at: an unclosed comment or macro call, a malformed call, an unclosed double
/// quote, or parentheses and brackets that do not pair. Quotes are what SPL makes them:
/// `\` escapes the next character and a macro call's text is its own.
pub(crate) fn syntax_error(search: &str) -> Option<(usize, String)> {
    let offset_of =
        |col: usize| search.char_indices().nth(col - 1).map_or(search.len(), |(i, _)| i);
    let neutral = without_escaped_quotes(search);
    let blanked = match blank_comments(&neutral) {
        Ok(blanked) => blanked,
        Err(err) => return Some(macro_call_error(&err, offset_of)),
    };
    let calls = match macro_calls(&neutral) {
        Ok(calls) => calls,
        Err(err) => return Some(macro_call_error(&err, offset_of)),
    };
    let mut calls = calls.into_iter().peekable();
    let mut open: Vec<(char, usize)> = Vec::new();
    let mut quote: Option<usize> = None;
    let mut escaped = false;
    let mut chars = blanked.char_indices();
    while let Some((idx, ch)) = chars.next() {
        if quote.is_none()
            && let Some(call) = calls.next_if(|call| call.span.start == idx)
        {
            // Skip the call: its arguments were read by the macro parser.
            while chars.clone().next().is_some_and(|(i, _)| i < call.span.end) {
                chars.next();
            }
            continue;
        }
        if escaped {
            escaped = false;
            continue;
        }
        match ch {
            '\\' => escaped = true,
            '"' if quote.is_some() => quote = None,
            '"' => quote = Some(idx),
            _ if quote.is_some() => {}
            '(' | '[' => open.push((ch, idx)),
            ')' | ']' => {
                let opener = if ch == ')' { '(' } else { '[' };
                match open.pop() {
                    Some((found, _)) if found == opener => {}
                    Some((found, at)) => {
                        let col = crate::spl::column(search, at);
                        return Some((
                            idx,
                            format!("`{ch}` does not close the `{found}` at col {col}"),
                        ));
                    }
                    None => return Some((idx, format!("`{ch}` closes nothing"))),
                }
            }
            _ => {}
        }
    }
    if let Some(at) = quote {
        return Some((at, "unclosed quoted string".to_owned()));
    }
    open.pop().map(|(ch, at)| {
        let what = if ch == '(' { "parenthesis" } else { "bracket (subsearch)" };
        (at, format!("unclosed {what}"))
    })
}

/// `search` with each quote or backquote that a backslash escapes replaced by `_`, byte for
/// byte, so readers that know quotes only (comments, macro calls) see what SPL sees. The
/// Search Reference ("Quotes and escaping characters" of the search command): "Use the
/// backslash ( \\ ) character to escape quotes, pipes, and itself", inside quotes or not
/// (`*\\"privileged\\":true*` is a term holding quotes, not a quoted string).
fn without_escaped_quotes(search: &str) -> std::borrow::Cow<'_, str> {
    if !search.contains('\\') {
        return std::borrow::Cow::Borrowed(search);
    }
    let mut out = String::with_capacity(search.len());
    let mut escaped = false;
    for ch in search.chars() {
        if escaped && matches!(ch, '"' | '`') {
            out.push('_');
        } else {
            out.push(ch);
        }
        escaped = !escaped && ch == '\\';
    }
    std::borrow::Cow::Owned(out)
}

fn macro_call_error(err: &MacroCallError, offset_of: impl Fn(usize) -> usize) -> (usize, String) {
    let (col, message) = match err {
        MacroCallError::Unclosed { col } => {
            (*col, "macro call has no closing backquote".to_owned())
        }
        MacroCallError::UnclosedComment { col } => (*col, "comment has no closing ```".to_owned()),
        MacroCallError::Malformed { col, text } => {
            (*col, format!("malformed macro call `{text}`: expected `name` or `name(arg, …)`"))
        }
    };
    (offset_of(col), message)
}

/// A blocker for the compile errors the engine does not classify: its parser does not read
/// every form Splunk accepts, so these are its limits until it says otherwise.
fn engine_limit(kind: &SplErrorKind) -> Blocker {
    Blocker::Syntax(match kind {
        SplErrorKind::Expected { expected, .. } => format!("expected {expected}"),
        SplErrorKind::UnexpectedChar(ch) => format!("character `{ch}`"),
        SplErrorKind::TstatsWithoutFrom => "tstats without `from datamodel=`".to_owned(),
        SplErrorKind::ForeignField { .. } => "tstats field outside its node".to_owned(),
        // The search passed the syntax check, so the engine reads its quotes or brackets
        // differently from Splunk (a quote escaped outside a quoted string, say).
        other => format!("{other} (as this engine reads the search)"),
    })
}

/// Fields the risk settings name (observables, the message's `$field$` tokens, `rba`
/// objects) that are not output fields of the compiled search: the result has every column
/// the commands produce, before any record.
fn check_outputs(report: &mut Report<'_>, search: &Search) {
    let detection = report.detection;
    if let Some(tstats) = search.tstats() {
        for field in &tstats.foreign_aggregates {
            report.warning(format!(
                "tstats aggregates `{field}`, which is no field of node {}: it is always null \
                 (write `{}.{field}`)",
                tstats.node, tstats.node
            ));
        }
    }
    let result = search.start().finish().unwrap_or_default();
    let outputs: BTreeSet<&str> = result.columns().iter().map(String::as_str).collect();
    let mut users_of: Vec<(&str, &str)> = Vec::new();
    for observable in detection.tags.observable.iter().flatten() {
        users_of.push((&observable.name, "an observable"));
    }
    if let Some(rba) = &detection.rba {
        users_of.extend(rba.risk_objects.iter().map(|o| (o.field.as_str(), "a risk object")));
        users_of.extend(rba.threat_objects.iter().map(|o| (o.field.as_str(), "a threat object")));
    }
    for message in risk_messages(detection) {
        users_of.extend(message_tokens(message).map(|token| (token, "the message")));
    }
    let mut by_field: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (field, user) in users_of {
        let entry = by_field.entry(field).or_default();
        if !entry.contains(&user) {
            entry.push(user);
        }
    }
    for (field, users) in by_field {
        if !outputs.contains(field) {
            report.warning(format!(
                "`{field}` is used by {} but is not an output field of the search",
                users.join(" and ")
            ));
        }
    }
}

/// contentctl refuses a production rule whose observables or message tokens do not appear
/// anywhere in the search text (compared without case).
fn check_upstream_field_presence(report: &mut Report<'_>) {
    let detection = report.detection;
    if detection.schema() != Schema::Contentctl || detection.status.as_deref() != Some("production")
    {
        return;
    }
    let search = detection.search.to_lowercase();
    let mut missing: Vec<String> = detection
        .tags
        .observable
        .iter()
        .flatten()
        .map(|o| o.name.as_str())
        .chain(risk_messages(detection).flat_map(message_tokens))
        .filter(|field| !search.contains(&field.to_lowercase()))
        .map(|field| format!("`{field}`"))
        .collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        report.error(format!(
            "{} named by the observables or the message not found in the search",
            missing.join(", ")
        ));
    }
}

fn risk_messages(detection: &Detection) -> impl Iterator<Item = &str> {
    detection
        .tags
        .message
        .as_deref()
        .into_iter()
        .chain(detection.rba.as_ref().map(|rba| rba.message.as_str()))
}

/// The `$field$` tokens of a risk message.
fn message_tokens(message: &str) -> impl Iterator<Item = &str> {
    message
        .split('$')
        .skip(1)
        .step_by(2)
        .filter(|token| !token.is_empty() && !token.contains(char::is_whitespace))
}

/// `Node.field` words of the search (outside quotes and comments) whose node is a CIM node,
/// written with another case or with a field the node does not define: byte offset and
/// message each. Words after `datamodel=` and `nodename=` name nodes, not fields.
fn cim_field_warnings(search: &str) -> Vec<(usize, String)> {
    let neutral = without_escaped_quotes(search);
    let Ok(blanked) = blank_comments(&neutral) else { return Vec::new() };
    let bytes = blanked.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut warnings = Vec::new();
    let mut seen = BTreeSet::new();
    let mut in_quotes = false;
    let mut idx = 0;
    while idx < bytes.len() {
        let byte = bytes[idx];
        if byte == b'\\' {
            idx += 2;
            continue;
        }
        if byte == b'"' {
            in_quotes = !in_quotes;
        }
        let starts_word =
            is_word(byte) && (idx == 0 || !(is_word(bytes[idx - 1]) || bytes[idx - 1] == b'.'));
        if in_quotes || !starts_word {
            idx += 1;
            continue;
        }
        let prefix_end = idx + bytes[idx..].iter().take_while(|b| is_word(**b)).count();
        if bytes.get(prefix_end) != Some(&b'.') {
            idx = prefix_end;
            continue;
        }
        let field_start = prefix_end + 1;
        let field_end =
            field_start + bytes[field_start..].iter().take_while(|b| is_word(**b)).count();
        let after = bytes.get(field_end).copied();
        let before = blanked[..idx].trim_end();
        let names_node =
            ["datamodel=", "datamodel:", "nodename="].iter().any(|m| before.ends_with(m));
        // A value (`parent_process_name=services.exe`, `*\\Registry.xml`), not a field.
        let is_value = idx > 0
            && matches!(bytes[idx - 1], b'\\' | b'*' | b'/' | b'-' | b':' | b'%')
            || before.ends_with(['=', '<', '>']);
        let word = &blanked[idx..field_end];
        if field_end > field_start
            && after != Some(b'*')
            && after != Some(b'.')
            && !names_node
            && !is_value
            && seen.insert(word)
            && let Some(message) =
                cim_field_message(&blanked[idx..prefix_end], &blanked[field_start..field_end])
        {
            warnings.push((idx, message));
        }
        idx = field_end.max(idx + 1);
    }
    warnings
}

/// The warning for `prefix.field`: a node written with another case when the field is one
/// of its own (a differently cased word is as likely a file name like `services.exe`), or a
/// field its node does not define.
fn cim_field_message(prefix: &str, field: &str) -> Option<String> {
    let node = cim::node_named(prefix)
        .or_else(|| cim::nodes().iter().find(|n| n.name.eq_ignore_ascii_case(prefix)))?;
    let known = node.field(field).is_some();
    if known == (node.name == prefix) {
        return None;
    }
    let where_ = format!("{}.{}", node.model, node.name);
    if known {
        return Some(format!(
            "`{prefix}.{field}`: data model names are case-sensitive: did you mean `{}.{field}`?",
            node.name
        ));
    }
    let suggestion = super::did_you_mean(field, node.fields().map(|f| f.name));
    Some(match suggestion {
        Some(meant) => format!(
            "`{prefix}.{field}` is not a field of {where_}: did you mean `{}.{meant}`?",
            node.name
        ),
        None => format!("`{prefix}.{field}` is not a field of {where_}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_point_at_their_cause() {
        assert_eq!(
            syntax_error(r#"| tstats count where x="a"#),
            Some((23, "unclosed quoted string".to_owned()))
        );
        assert_eq!(syntax_error("search (a OR b"), Some((7, "unclosed parenthesis".to_owned())));
        assert_eq!(syntax_error("search a) b"), Some((8, "`)` closes nothing".to_owned())));
        assert_eq!(syntax_error(r#"search x="a\"(" | `m("(")` ```"(```"#), None);
        assert_eq!(
            syntax_error("search a ```b"),
            Some((9, "comment has no closing ```".to_owned()))
        );
    }

    #[test]
    fn field_typos_get_the_closest_cim_name() {
        let warnings = cim_field_warnings(
            "| tstats count from datamodel=Endpoint.Processes where Processes.proces_name=x \
             processes.process=y Processes.dest=\"Processes.nope\" by Processes.user _time \
             | `drop_dm_object_name(Processes)` | rename Processes.* as *",
        );
        let messages: Vec<&str> = warnings.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(
            messages,
            [
                "`Processes.proces_name` is not a field of Endpoint.Processes: did you mean `Processes.process_name`?",
                "`processes.process`: data model names are case-sensitive: did you mean `Processes.process`?",
            ]
        );
        assert!(cim_field_warnings("from datamodel=Authentication.Authentication where nodename=Authentication.Failed_Authentication").is_empty());
    }
}
