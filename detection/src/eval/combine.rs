//! Commands that bring rows or fields in from elsewhere — lookups, subsearches, `join`,
//! structured data (`spath`, `xmlkv`, `fromjson`) — and those that merge rows
//! (`transaction`) or rewrite values (`replace`, `addtotals`), each following the Search
//! Reference sentence quoted at it.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use super::commands::search as filter_rows;
use super::condition::{ExprFields, condition_holds};
use super::expr::{Env, RowFields};
use super::packed::{Cell, PackedTable};
use super::value::parse_number;
use super::{EvalError, FieldValue, ResultTable, Row, epoch_seconds, parse_epoch_micros};
use crate::spl::{
    CompareOp, Condition, FieldGlob, Inputlookup, Join, LookupCommand, Pattern, Replace, Return,
    ReturnItem, Spath, Transaction,
};

/// Subsearch rows formatted: "By default, subsearches return a maximum of 10,000 results".
pub const SUBSEARCH_MAX_ROWS: usize = 10_000;
/// Rows of a `join` subsearch: "A maximum of 50,000 rows in the right-side dataset can be
/// joined with the left-side dataset".
pub const JOIN_MAX_ROWS: usize = 50_000;

/// `condition` with each subsearch replaced by the search expression its rows format to.
pub(crate) fn resolve(
    condition: &Condition,
    env: &Env<'_>,
    span: &Range<usize>,
) -> Result<Condition, EvalError> {
    Ok(match condition {
        Condition::Subsearch(pipeline) => {
            let rows =
                env.subsearches.get(&pipeline.start).map(PackedTable::unpack).unwrap_or_default();
            subsearch_condition(&rows).map_err(|message| env.error(span, message))?
        }
        Condition::Not(inner) => Condition::Not(Box::new(resolve(inner, env, span)?)),
        Condition::And(terms) => {
            Condition::And(terms.iter().map(|t| resolve(t, env, span)).collect::<Result<_, _>>()?)
        }
        Condition::Or(terms) => {
            Condition::Or(terms.iter().map(|t| resolve(t, env, span)).collect::<Result<_, _>>()?)
        }
        other => other.clone(),
    })
}

/// The condition a subsearch's rows stand for. A `search` field (from `format` or `return`)
/// is search text, read as it is; otherwise the rows are formatted as `format` does:
/// "( ( f1="a" AND f2="b" ) OR ( … ) )", internal fields left out, a multivalue as "( f="a"
/// OR f="b" )". No rows: "NOT ( )", which matches nothing ("your search will return some
/// results" only with `emptystr` set, format's example 5).
fn subsearch_condition(rows: &ResultTable) -> Result<Condition, String> {
    if let Some(index) = rows.column_index("search") {
        let text = rows
            .rows
            .first()
            .and_then(|row| row.get(index)?.as_ref())
            .map(FieldValue::joined)
            .unwrap_or_default();
        if text.trim().is_empty() {
            // `return` over no rows: "the subsearch returns an empty string", which leaves
            // the outer search as it was.
            return Ok(Condition::Any);
        }
        return crate::spl::parse_condition(&text).map_err(|err| format!("subsearch: {err}"));
    }
    let mut alternatives = Vec::new();
    for row in rows.rows.iter().take(SUBSEARCH_MAX_ROWS) {
        let mut terms = Vec::new();
        for (column, value) in sorted_fields(rows, row) {
            let compares: Vec<Condition> = value
                .values()
                .map(|v| Condition::Compare {
                    field: column.to_owned(),
                    op: CompareOp::Eq,
                    value: Pattern::new(v),
                })
                .collect();
            terms.push(if compares.len() == 1 {
                compares.into_iter().next().unwrap_or(Condition::Any)
            } else {
                Condition::Or(compares)
            });
        }
        if !terms.is_empty() {
            alternatives.push(Condition::And(terms));
        }
    }
    Ok(if alternatives.is_empty() {
        Condition::Not(Box::new(Condition::Any))
    } else {
        Condition::Or(alternatives)
    })
}

/// A row's non-internal fields with values, in alphabetical order as `format` writes them.
fn sorted_fields<'t>(table: &'t ResultTable, row: &'t Row) -> Vec<(&'t str, &'t FieldValue)> {
    let mut fields: Vec<(&str, &FieldValue)> = table
        .columns
        .iter()
        .zip(row)
        .filter(|(column, _)| !column.starts_with('_'))
        .filter_map(|(column, value)| Some((column.as_str(), value.as_ref()?)))
        .collect();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    fields
}

/// Text in double quotes as a search reads it back.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `format`: "takes the results of a subsearch, formats the results into a single result
/// and places that result into a new field called search". Output, by default: "( (
/// host="mylaptop" AND source="syslog.log" … ) OR ( … ) )"; with no rows "NOT ( )".
pub(crate) fn format(table: &mut ResultTable) {
    let mut rows = Vec::new();
    for row in table.rows.iter().take(SUBSEARCH_MAX_ROWS) {
        let terms: Vec<String> = sorted_fields(table, row)
            .into_iter()
            .map(|(column, value)| {
                let values: Vec<String> =
                    value.values().map(|v| format!("{column}={}", quoted(v))).collect();
                if values.len() == 1 {
                    values.concat()
                } else {
                    format!("( {} )", values.join(" OR "))
                }
            })
            .collect();
        if !terms.is_empty() {
            rows.push(format!("( {} )", terms.join(" AND ")));
        }
    }
    let text =
        if rows.is_empty() { "NOT ( )".to_owned() } else { format!("( {} )", rows.join(" OR ")) };
    *table = ResultTable::with_columns(vec!["search".to_owned()]);
    table.push_row(vec![Some(FieldValue::Single(text))]);
}

/// `return`: "replaces the incoming events with one event, with one attribute: "search"";
/// "Each row is viewed as an OR clause"; `$field` gives the value alone. No rows: "the
/// subsearch returns an empty string".
pub(crate) fn return_rows(table: &mut ResultTable, items: &Return) {
    let mut clauses = Vec::new();
    for row in table.rows.iter().take(items.count.max(1)) {
        let value = |field: &str| {
            table.column_index(field).and_then(|i| row.get(i)?.as_ref()).map(FieldValue::joined)
        };
        let parts: Vec<String> = items
            .items
            .iter()
            .filter_map(|item| match item {
                ReturnItem::Field(field) => value(field).map(|v| format!("{field}={}", quoted(&v))),
                ReturnItem::Alias(alias, field) => {
                    value(field).map(|v| format!("{alias}={}", quoted(&v)))
                }
                ReturnItem::Value(field) => value(field).map(|v| quoted(&v)),
            })
            .collect();
        if !parts.is_empty() {
            clauses.push(parts.join(" "));
        }
    }
    let text = match clauses.len() {
        0 => String::new(),
        1 => clauses.concat(),
        _ => clauses.iter().map(|c| format!("({c})")).collect::<Vec<_>>().join(" OR "),
    };
    *table = ResultTable::with_columns(vec!["search".to_owned()]);
    table.push_row(vec![Some(FieldValue::Single(text))]);
}

/// `makeresults`: "generates one result with only the _time field" (count=N: N of them), at
/// the search's time.
pub(crate) fn makeresults(table: &mut ResultTable, count: usize, env: &Env<'_>) {
    let time = epoch_seconds(env.now_micros - env.now_micros.rem_euclid(1_000_000));
    let index = table.ensure_column("_time");
    for _ in 0..count {
        let mut row = vec![None; table.columns.len()];
        if let Some(slot) = row.get_mut(index) {
            *slot = Some(FieldValue::Single(time.clone()));
        }
        table.push_row(row);
    }
}

/// `inputlookup`: the lookup's rows in file order, those its `where` keeps ("Supports a
/// limited set of search query operators … Also supports wildcard string searches"); with
/// `append=true` after the current results.
pub(crate) fn inputlookup(table: &mut ResultTable, input: &Inputlookup, env: &Env<'_>) {
    // Compiling the search read the table, and refused the search when it could not.
    let Some(Ok(lookup)) = env.search.lookups().get(&input.table).map(|l| l.table()) else {
        return;
    };
    let mut rows = ResultTable::with_columns(lookup.columns.clone());
    for row in &lookup.rows {
        rows.push_row(
            row.iter().map(|v| (!v.is_empty()).then(|| FieldValue::Single(v.clone()))).collect(),
        );
    }
    if let Some(filter) = &input.filter {
        filter_rows(&mut rows, filter);
    }
    if input.append {
        table.append(rows);
    } else {
        *table = rows;
    }
}

/// `lookup`: rows whose input fields match the table get its output columns; "If the
/// OUTPUT clause is specified, the output lookup fields overwrite existing fields. If the
/// OUTPUTNEW clause is specified, the lookup is not performed for events in which the output
/// fields already exist." Without either, "all of the fields in the lookup table that are
/// not the match fields are used as output fields". Several matching rows make multivalues;
/// a row without a match gets null outputs under OUTPUT (the documentation is silent; Splunk
/// is reported to clear them).
pub(crate) fn lookup(table: &mut ResultTable, command: &LookupCommand, env: &Env<'_>) {
    let Some(lookup) = env.search.lookups().get(&command.table) else { return };
    // Compiling the search read the table, and refused the search when it could not.
    let Ok(loaded) = lookup.table() else { return };
    let outputs: Vec<(String, String)> = if command.outputs.is_empty() {
        loaded
            .columns
            .iter()
            .filter(|c| !command.inputs.iter().any(|(input, _)| input == *c))
            .map(|c| (c.clone(), c.clone()))
            .collect()
    } else {
        command.outputs.clone()
    };
    let inputs: Vec<(&str, Option<usize>)> = command
        .inputs
        .iter()
        .map(|(column, field)| (column.as_str(), table.column_index(field)))
        .collect();
    let targets: Vec<usize> = outputs.iter().map(|(_, field)| table.ensure_column(field)).collect();
    for row in &mut table.rows {
        if command.output_new && targets.iter().all(|&t| row.get(t).is_some_and(Option::is_some)) {
            continue;
        }
        let values: Option<Vec<(&str, Vec<&str>)>> = inputs
            .iter()
            .map(|(column, index)| {
                let value = index.and_then(|i| row.get(i)?.as_ref())?;
                Some((*column, value.values().collect()))
            })
            .collect();
        let matched = values.map(|values| lookup.matches(&values)).unwrap_or_default();
        let new: Vec<Option<FieldValue>> =
            outputs.iter().map(|(column, _)| lookup.output(column, &matched)).collect();
        for (&target, value) in targets.iter().zip(new) {
            let Some(slot) = row.get_mut(target) else { continue };
            if command.output_new && slot.is_some() {
                continue;
            }
            *slot = value;
        }
    }
}

/// `join`: "The results of an inner join do not include events from the main search that
/// have no matches in the subsearch. The results of a left (or outer) join includes all of
/// the events in the main search"; `max` "Specifies the maximum number of subsearch results
/// that each main search result can join with … Default: 1"; "The values of the fields used
/// in `<field-list>` are case sensitive"; with no fields, "all of the fields that are common to
/// both datasets are used"; `overwrite` "Default: true".
pub(crate) fn join(table: &mut ResultTable, join: &Join, env: &Env<'_>) {
    let empty = PackedTable::default();
    let right = env.subsearches.get(&join.subsearch.start).unwrap_or(&empty);
    let fields: Vec<String> = if join.fields.is_empty() {
        table.columns.iter().filter(|c| right.column_index(c).is_some()).cloned().collect()
    } else {
        join.fields.clone()
    };
    // The subsearch's rows by their key: each join field's value, in the order of the
    // fields; a row lacking one has no key.
    let by_key = right.rows_by_key(&fields, JOIN_MAX_ROWS);
    let key = |t: &ResultTable, row: &Row| -> Option<Vec<FieldValue>> {
        fields
            .iter()
            .map(|f| t.column_index(f).and_then(|i| row.get(i).cloned().flatten()))
            .collect()
    };
    let targets: Vec<usize> = right.columns().iter().map(|c| table.ensure_column(c)).collect();
    let rows = table.take_rows();
    if by_key.is_empty() && !join.left {
        // Nothing to match: an inner join keeps no row (a library's joins of a broad
        // `tstats` with a selective subsearch mostly end here).
        return;
    }
    for row in rows {
        let matches: &[usize] =
            key(table, &row).and_then(|k| by_key.get(&k)).map_or(&[], Vec::as_slice);
        let taken = if join.max == 0 { matches.len() } else { matches.len().min(join.max) };
        if taken == 0 {
            if join.left {
                table.rows.push(row);
            }
            continue;
        }
        let mut row = Some(row);
        for (at, &index) in matches[..taken].iter().enumerate() {
            // The last match takes the row itself, the others a copy.
            let Some(mut joined) = (if at + 1 == taken { row.take() } else { row.clone() }) else {
                break;
            };
            for (cell, &target) in right.cells(index).zip(&targets) {
                let Some(slot) = joined.get_mut(target) else { continue };
                if cell != Cell::Empty && (join.overwrite || slot.is_none()) {
                    *slot = cell.to_value();
                }
            }
            table.rows.push(joined);
        }
    }
}

/// `spath`: with a path, its values go to `output` ("If you do not specify an output
/// argument, the value for the path argument becomes the field name"); without, every path
/// of the JSON or XML is extracted ("auto-extract" mode) from the first 5,000 characters.
pub(crate) fn spath(table: &mut ResultTable, spath: &Spath) {
    let Some(source) = table.column_index(&spath.input) else { return };
    let texts: Vec<Option<String>> = table
        .rows
        .iter()
        .map(|row| {
            row.get(source)
                .cloned()
                .flatten()
                .map(|v| v.values().next().unwrap_or_default().to_owned())
        })
        .collect();
    match &spath.path {
        Some(path) => {
            let target = table.ensure_column(spath.output.as_deref().unwrap_or(path));
            for (row, text) in table.rows.iter_mut().zip(texts) {
                let value = text.and_then(|t| super::spath::extract(&t, path));
                if let (Some(values), Some(slot)) = (value, row.get_mut(target)) {
                    *slot = Some(into_field(values));
                }
            }
        }
        None => {
            for (index, text) in texts.into_iter().enumerate() {
                let Some(text) = text else { continue };
                let head: String = text.chars().take(5000).collect();
                for (name, values) in super::spath::flatten(&head) {
                    let target = table.ensure_column(&name);
                    table.rows[index][target] = Some(into_field(values));
                }
            }
        }
    }
}

fn into_field(mut values: Vec<String>) -> FieldValue {
    if values.len() == 1 {
        FieldValue::Single(values.pop().unwrap_or_default())
    } else {
        FieldValue::Multi(values)
    }
}

/// `xmlkv`: "automatically extracts key-value pairs from XML-formatted data"
/// (`<name>Settlers of Catan</name>` gives `name`); an element written several times gives
/// a multivalue.
pub(crate) fn xmlkv(table: &mut ResultTable, field: &str) {
    let Some(source) = table.column_index(field) else { return };
    for index in 0..table.rows.len() {
        let Some(text) = table.rows[index].get(source).cloned().flatten() else { continue };
        let text = text.joined();
        for (name, values) in super::spath::leaf_elements(&text) {
            let target = table.ensure_column(&name);
            table.rows[index][target] = Some(into_field(values));
        }
    }
}

/// `fromjson`: each key of the JSON object in the field becomes a field (`prefix` before
/// its name); arrays become multivalues, objects their JSON text.
pub(crate) fn fromjson(table: &mut ResultTable, field: &str, prefix: &str) {
    let Some(source) = table.column_index(field) else { return };
    for index in 0..table.rows.len() {
        let Some(text) = table.rows[index].get(source).cloned().flatten() else { continue };
        let Ok(serde_json::Value::Object(map)) =
            serde_json::from_str::<serde_json::Value>(&text.joined())
        else {
            continue;
        };
        for (key, value) in map {
            let values: Vec<String> = match value {
                serde_json::Value::Array(items) => items.iter().map(json_text).collect(),
                other => vec![json_text(&other)],
            };
            if values.is_empty() {
                continue;
            }
            let target = table.ensure_column(&format!("{prefix}{key}"));
            table.rows[index][target] = Some(into_field(values));
        }
    }
}

fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `transaction`: events with the same values of the fields, in time order, form one
/// result — "the raw text (the _raw field) of each member, the time and date fields of the
/// earliest member, as well as the union of all other fields of each member" — with
/// `duration` ("the difference between the timestamps for the first and last events") and
/// `eventcount`. A transaction closes when the next event would make it span more than
/// `maxspan` ("The events in the transaction must span less than" it) or pause more than
/// `maxpause`, when `endswith` matches, or when `startswith` opens another; with `startswith`
/// or `endswith` set, transactions that do not start or end so are dropped (`keepevicted`
/// is false by default). Values of other fields are "a set of unique field values ordered
/// alphabetically" (`mvlist=false`). Rows missing a grouping field are left out. Results
/// come newest first.
pub(crate) fn transaction(table: &mut ResultTable, transaction: &Transaction) {
    let Some(time_index) = table.column_index("_time") else {
        table.rows.clear();
        return;
    };
    let field_indices: Option<Vec<usize>> =
        transaction.fields.iter().map(|f| table.column_index(f)).collect();
    let Some(field_indices) = field_indices else {
        table.rows.clear();
        return;
    };
    let mut rows: Vec<(i64, Row)> = table
        .take_rows()
        .into_iter()
        .filter_map(|row| {
            let time = match row.get(time_index)? {
                Some(FieldValue::Single(text)) => parse_epoch_micros(text)?,
                _ => return None,
            };
            Some((time, row))
        })
        .collect();
    rows.sort_by_key(|(time, _)| *time);
    let done = group_transactions(table, transaction, &field_indices, rows);
    let duration_index = table.ensure_column("duration");
    let count_index = table.ensure_column("eventcount");
    let raw_index = table.column_index("_raw");
    let width = table.columns.len();
    let mut results: Vec<(i64, Row)> = Vec::new();
    for members in done {
        let first = members.first().map_or(0, |(t, _)| *t);
        let last = members.last().map_or(0, |(t, _)| *t);
        let mut merged: Row = vec![None; width];
        for (column, slot) in merged.iter_mut().enumerate() {
            if column == time_index || Some(column) == raw_index {
                continue;
            }
            let values: BTreeSet<String> = members
                .iter()
                .filter_map(|(_, row)| row.get(column)?.as_ref())
                .flat_map(|v| v.values().map(str::to_owned).collect::<Vec<_>>())
                .collect();
            *slot = match values.len() {
                0 => None,
                1 => values.into_iter().next().map(FieldValue::Single),
                _ => Some(FieldValue::Multi(values.into_iter().collect())),
            };
        }
        merged[time_index] = Some(FieldValue::Single(epoch_seconds(first)));
        if let Some(raw) = raw_index {
            let texts: Vec<String> = members
                .iter()
                .filter_map(|(_, row)| row.get(raw)?.as_ref().map(FieldValue::joined))
                .collect();
            merged[raw] = (!texts.is_empty()).then(|| FieldValue::Single(texts.join("\n")));
        }
        merged[duration_index] = Some(FieldValue::Single(epoch_seconds(last - first)));
        merged[count_index] = Some(FieldValue::Single(members.len().to_string()));
        results.push((first, merged));
    }
    results.sort_by_key(|(time, _)| std::cmp::Reverse(*time));
    table.rows = results.into_iter().map(|(_, row)| row).collect();
}

/// The transactions of `rows` (in time order), each its members in time order.
fn group_transactions(
    table: &ResultTable,
    transaction: &Transaction,
    field_indices: &[usize],
    rows: Vec<(i64, Row)>,
) -> Vec<Vec<(i64, Row)>> {
    let holds = |condition: &Option<Condition>, row: &Row| {
        condition
            .as_ref()
            .is_some_and(|c| condition_holds(c, &ExprFields(&RowFields { table, row })))
    };
    let keep = |members: &[(i64, Row)], ended: bool| {
        let starts = transaction.starts_with.is_none()
            || members.first().is_some_and(|(_, row)| holds(&transaction.starts_with, row));
        let ends = transaction.ends_with.is_none() || ended;
        starts && ends && !members.is_empty()
    };
    let mut open: HashMap<Vec<FieldValue>, Vec<(i64, Row)>> = HashMap::new();
    let mut done: Vec<Vec<(i64, Row)>> = Vec::new();
    for (time, row) in rows {
        let key: Option<Vec<FieldValue>> =
            field_indices.iter().map(|&i| row.get(i).cloned().flatten()).collect();
        let Some(key) = key else { continue };
        let starts_here = holds(&transaction.starts_with, &row);
        if let Some(members) = open.get(&key) {
            let first = members.first().map_or(time, |(t, _)| *t);
            let last = members.last().map_or(time, |(t, _)| *t);
            let too_long = transaction.max_span.is_some_and(|s| time - first >= s * 1_000_000);
            let paused = transaction.max_pause.is_some_and(|p| time - last > p * 1_000_000);
            if (too_long || paused || starts_here)
                && let Some(members) = open.remove(&key)
                && keep(&members, false)
            {
                done.push(members);
            }
        }
        if transaction.starts_with.is_some() && !starts_here && !open.contains_key(&key) {
            continue;
        }
        let ends_here = holds(&transaction.ends_with, &row);
        open.entry(key.clone()).or_default().push((time, row));
        if ends_here
            && let Some(members) = open.remove(&key)
            && keep(&members, true)
        {
            done.push(members);
        }
    }
    let mut rest: Vec<Vec<(i64, Row)>> = open.into_values().collect();
    rest.sort_by_key(|members| members.first().map(|(t, _)| *t));
    done.extend(rest.into_iter().filter(|members| keep(members, false)));
    done
}

/// `replace`: "Replaces field values with the values that you specify"; `*` in the old value
/// matches any run and the same number of `*` in the new one takes what it matched; the
/// first pair that matches the whole value wins. Without `IN`, every field.
pub(crate) fn replace(table: &mut ResultTable, replace: &Replace) {
    let indices: Vec<usize> = (0..table.columns.len())
        .filter(|&i| {
            replace.fields.is_empty() || replace.fields.iter().any(|g| g.matches(&table.columns[i]))
        })
        .collect();
    let rewrite = |text: &str| -> String {
        for (from, to) in &replace.pairs {
            if let Some(captures) = from.captures(text) {
                return if to.wildcards() == 0 { to.text().to_owned() } else { to.fill(&captures) };
            }
        }
        text.to_owned()
    };
    for row in &mut table.rows {
        for &index in &indices {
            let Some(Some(value)) = row.get_mut(index) else { continue };
            *value = match value {
                FieldValue::Single(text) => FieldValue::Single(rewrite(text)),
                FieldValue::Multi(values) => {
                    FieldValue::Multi(values.iter().map(|v| rewrite(v)).collect())
                }
            };
        }
    }
}

/// `addtotals`: "computes the arithmetic sum of all numeric fields for each event"
/// (of the listed fields when given), into `fieldname` ("Total" by default).
pub(crate) fn addtotals(table: &mut ResultTable, fieldname: &str, fields: &[FieldGlob]) {
    let indices: Vec<usize> = (0..table.columns.len())
        .filter(|&i| {
            let column = &table.columns[i];
            !column.starts_with('_')
                && column != fieldname
                && (fields.is_empty() || fields.iter().any(|g| g.matches(column)))
        })
        .collect();
    let target = table.ensure_column(fieldname);
    for row in &mut table.rows {
        let mut total = 0.0;
        let mut any = false;
        for &index in &indices {
            if let Some(Some(FieldValue::Single(text))) = row.get(index)
                && let Some(n) = parse_number(text)
            {
                total += n;
                any = true;
            }
        }
        if let Some(slot) = row.get_mut(target) {
            *slot = any.then(|| FieldValue::Single(super::value::format_number(total)));
        }
    }
}
