//! The output fields of a search, read from its text in a small way: enough to check that a
//! rule's observables and message tokens name fields the search returns. It is not the SPL
//! parser; when the engine's parser lands, this is the one function to switch over.
//!
//! The reading, command by command (commands split on `|` outside quotes and backquotes):
//! - `tstats`/`stats`: the output is the aggregates (the `as` name, else the aggregate as
//!   written, e.g. `count`) followed by the `by` fields; `=` options and macro calls are skipped.
//! - `` `drop_dm_object_name(X)` ``: strips the `X.` prefix from every field.
//! - `rename a AS b, …`: renames; one trailing `*` on both sides renames by prefix.
//! - `eval a=…, b=…`: adds `a` and `b`.
//! - `table f …` and `fields f …` keep only the listed fields; `fields - f …` drops them.
//! - Every other command and macro call (`ctime`, the filter) is taken to keep the fields.

use std::collections::BTreeSet;

use crate::spl::macro_calls;

/// The fields a search's rows carry, by the reading described in this module's docs.
pub fn output_fields(search: &str) -> BTreeSet<String> {
    let mut fields = BTreeSet::new();
    for command in split_pipeline(search) {
        let words = words(command);
        let Some(first) = words.first() else { continue };
        if first.starts_with('`') && words.len() == 1 {
            apply_macro(first, &mut fields);
            continue;
        }
        match first.to_ascii_lowercase().as_str() {
            "tstats" | "stats" => fields = aggregate_fields(&words[1..]),
            "eval" => fields.extend(eval_targets(command)),
            "rename" => rename(&words[1..], &mut fields),
            "table" => fields = plain_fields(&words[1..]).collect(),
            "fields" if words.get(1).is_some_and(|w| w == "-") => {
                for field in plain_fields(&words[2..]) {
                    fields.remove(&field);
                }
            }
            "fields" => {
                let keep: BTreeSet<String> = plain_fields(&words[1..]).collect();
                fields.retain(|f| keep.contains(f));
            }
            _ => {}
        }
    }
    fields
}

fn apply_macro(word: &str, fields: &mut BTreeSet<String>) {
    let Ok(calls) = macro_calls(word) else { return };
    for call in calls {
        if call.name == "drop_dm_object_name"
            && let [object] = call.arguments.as_slice()
        {
            let prefix = format!("{object}.");
            *fields =
                fields.iter().map(|f| f.strip_prefix(&prefix).unwrap_or(f).to_owned()).collect();
        }
    }
}

/// Aggregates (before `from`, `where` or `by`) and `by` fields of `tstats`/`stats`.
fn aggregate_fields(words: &[String]) -> BTreeSet<String> {
    let is_clause = |w: &String| matches!(w.to_ascii_lowercase().as_str(), "from" | "where" | "by");
    let end = words.iter().position(is_clause).unwrap_or(words.len());
    let mut fields = BTreeSet::new();
    let mut idx = 0;
    while idx < end {
        let word = &words[idx];
        if word.starts_with('`') || word.contains('=') {
            idx += 1;
            continue;
        }
        if words.get(idx + 1).is_some_and(|w| w.eq_ignore_ascii_case("as"))
            && let Some(name) = words.get(idx + 2)
        {
            fields.insert(name.trim_end_matches(',').to_owned());
            idx += 3;
        } else {
            fields.insert(word.trim_end_matches(',').to_owned());
            idx += 1;
        }
    }
    if let Some(by) = words.iter().rposition(|w| w.eq_ignore_ascii_case("by")) {
        fields.extend(plain_fields(&words[by + 1..]));
    }
    fields
}

fn eval_targets(command: &str) -> Vec<String> {
    let body = command.trim_start().get(4..).unwrap_or_default();
    split_outside(body, ',')
        .into_iter()
        .filter_map(|assignment| Some(assignment.split_once('=')?.0.trim().to_owned()))
        .filter(|name| !name.is_empty())
        .collect()
}

fn rename(words: &[String], fields: &mut BTreeSet<String>) {
    let words: Vec<&str> =
        words.iter().map(|w| w.trim_end_matches(',')).filter(|w| !w.is_empty()).collect();
    for triple in words.chunks(3) {
        let [from, as_word, to] = triple else { return };
        if !as_word.eq_ignore_ascii_case("as") {
            return;
        }
        match (from.strip_suffix('*'), to.strip_suffix('*')) {
            (Some(from_prefix), Some(to_prefix)) => {
                *fields = fields
                    .iter()
                    .map(|f| match f.strip_prefix(from_prefix) {
                        Some(rest) => format!("{to_prefix}{rest}"),
                        None => f.clone(),
                    })
                    .collect();
            }
            _ => {
                if fields.remove(*from) {
                    fields.insert((*to).to_owned());
                }
            }
        }
    }
}

fn plain_fields(words: &[String]) -> impl Iterator<Item = String> + '_ {
    words
        .iter()
        .flat_map(|w| w.split(','))
        .map(str::trim)
        .filter(|w| !w.is_empty() && !w.contains('*'))
        .map(str::to_owned)
}

/// Commands of a pipeline: `|` outside double quotes and backquotes separates them.
fn split_pipeline(search: &str) -> Vec<&str> {
    split_outside(search, '|')
}

fn split_outside(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut in_quotes, mut in_backquotes, mut depth, mut start) = (false, false, 0_usize, 0);
    for (idx, ch) in text.char_indices() {
        match ch {
            '"' if !in_backquotes => in_quotes = !in_quotes,
            '`' if !in_quotes => in_backquotes = !in_backquotes,
            '(' if !in_quotes && !in_backquotes => depth += 1,
            ')' if !in_quotes && !in_backquotes => depth = depth.saturating_sub(1),
            _ if ch == separator && !in_quotes && !in_backquotes && depth == 0 => {
                parts.push(&text[start..idx]);
                start = idx + ch.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Whitespace-separated words; quoted strings and backquoted macro calls stay whole.
fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let (mut in_quotes, mut in_backquotes) = (false, false);
    for ch in command.chars() {
        match ch {
            '"' if !in_backquotes => in_quotes = !in_quotes,
            '`' if !in_quotes => in_backquotes = !in_backquotes,
            _ => {}
        }
        if ch.is_whitespace() && !in_quotes && !in_backquotes {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        } else {
            current.push(ch);
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(search: &str) -> Vec<String> {
        output_fields(search).into_iter().collect()
    }

    #[test]
    fn tstats_by_fields_lose_the_node_prefix() {
        let search = "| tstats `s` count min(_time) as firstTime from datamodel=Endpoint.Processes \
                      where Processes.process_name=x by Processes.user Processes.dest \
                      | `drop_dm_object_name(Processes)` | `ctime(firstTime)` | `x_filter`";
        assert_eq!(fields(search), ["count", "dest", "firstTime", "user"]);
    }

    #[test]
    fn later_commands_change_fields() {
        let search = "| stats count by a, b | eval c=if(a=1, 2, 3), d=1 | rename b AS e \
                      | fields - count";
        assert_eq!(fields(search), ["a", "c", "d", "e"]);
        assert_eq!(fields("| stats dc(x) by a | table a"), ["a"]);
    }
}
