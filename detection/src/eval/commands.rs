//! The commands that reshape result rows: `rename`, `convert`, `table`, `fields`, `bin`,
//! `rex`, `regex`, `fillnull`, `dedup`, `sort`, `head`, `tail`, `reverse`, `mvexpand`,
//! `makemv`, `nomv`. Each takes the whole table; the Search Reference sentence each choice
//! follows is quoted at the function.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use super::condition::{ExprFields, Matcher};
use super::expr::{Env, RowFields};
use super::value::parse_number;
use super::{EvalError, FieldValue, ResultTable, Row, epoch_seconds, parse_epoch_micros};
use crate::spl::{
    Bin, BinSpan, Condition, Convert, Dedup, FieldGlob, Fillnull, Makemv, MakemvSplit, RegexFilter,
    RenamePair, Rex, SedExpression, Sort, SortKey, SortOrder,
};

/// `search <condition>` over rows. The condition is made into a [`Matcher`] first, which
/// costs about what testing one row term by term does: an `OR` list of one field (an
/// allow-list in a filter macro, a subsearch's rows of one column) is then one set.
pub(crate) fn search(table: &mut ResultTable, condition: &Condition) {
    let matcher = Matcher::new(condition);
    let keep: Vec<bool> = table
        .rows
        .iter()
        .map(|row| matcher.holds(&ExprFields(&RowFields { table, row })))
        .collect();
    let mut flags = keep.into_iter();
    table.rows.retain(|_| flags.next().unwrap_or(false));
}

/// `rename`: "if you rename fieldA to fieldB, but fieldA does not exist. If fieldB does not
/// exist, nothing happens. If fieldB does exist, the result of the rename is that the data in
/// fieldB is removed." A renamed field replaces the one that had its new name, in every row.
pub(crate) fn rename(table: &mut ResultTable, pairs: &[RenamePair]) {
    for pair in pairs {
        let renamed: Vec<Option<String>> = table
            .columns
            .iter()
            .map(|column| pair.from.captures(column).map(|captures| pair.to.fill(&captures)))
            .collect();
        if renamed.iter().all(Option::is_none) {
            if pair.from.wildcards() == 0
                && let Some(index) = table.column_index(pair.to.text())
            {
                let keep: Vec<usize> = (0..table.columns.len()).filter(|&i| i != index).collect();
                table.project(&keep);
            }
            continue;
        }
        let names: Vec<String> = table
            .columns
            .iter()
            .zip(&renamed)
            .map(|(column, new)| new.clone().unwrap_or_else(|| column.clone()))
            .collect();
        // A renamed field replaces a field that already had the new name; among renamed
        // fields landing on one name the last wins.
        let mut winner: BTreeMap<&str, usize> = BTreeMap::new();
        for (index, name) in names.iter().enumerate() {
            if renamed.get(index).is_some_and(Option::is_none) {
                winner.insert(name, index);
            }
        }
        for (index, name) in names.iter().enumerate() {
            if renamed.get(index).is_some_and(Option::is_some) {
                winner.insert(name, index);
            }
        }
        let keep: Vec<usize> = (0..names.len())
            .filter(|&i| names.get(i).and_then(|n| winner.get(n.as_str())) == Some(&i))
            .collect();
        let columns = keep.iter().filter_map(|&i| names.get(i).cloned()).collect();
        table.project(&keep);
        table.set_columns(columns);
    }
}

/// `convert ctime(…)`: values that are not epoch seconds, or out of range, stay as they are.
pub(crate) fn convert_times(table: &mut ResultTable, convert: &Convert) {
    for conversion in &convert.conversions {
        let Some(source) = table.column_index(&conversion.field) else { continue };
        let target_name = conversion.output.as_deref().unwrap_or(&conversion.field);
        let target = table.ensure_column(target_name);
        for row in &mut table.rows {
            let converted = row.get(source).cloned().flatten().map(|value| {
                let mut texts = value.values().map(|text| {
                    parse_epoch_micros(text)
                        .and_then(|micros| convert.time_format.format(micros))
                        .unwrap_or_else(|| text.to_owned())
                });
                match value {
                    FieldValue::Single(_) => FieldValue::Single(texts.next().unwrap_or_default()),
                    FieldValue::Multi(_) => FieldValue::Multi(texts.collect()),
                }
            });
            if let Some(slot) = row.get_mut(target) {
                *slot = converted;
            }
        }
    }
}

/// `table`: "Columns are displayed in the same order that fields are specified"; a listed
/// name without wildcards that no row has is an empty column; a pattern adds the matching
/// columns in their order.
pub(crate) fn table_columns(table: &mut ResultTable, globs: &[FieldGlob]) {
    let mut names: Vec<String> = Vec::new();
    for glob in globs {
        if glob.wildcards() == 0 {
            if !names.iter().any(|n| n == glob.text()) {
                names.push(glob.text().to_owned());
            }
            continue;
        }
        for column in &table.columns {
            if glob.matches(column) && !names.contains(column) {
                names.push(column.clone());
            }
        }
    }
    let indices: Vec<Option<usize>> = names.iter().map(|n| table.column_index(n)).collect();
    for row in &mut table.rows {
        *row = indices.iter().map(|i| i.and_then(|i| row.get(i).cloned().flatten())).collect();
    }
    table.set_columns(names);
}

/// `fields`: `+` keeps the listed existing columns in the listed order, and `_raw` and
/// `_time` ("The fields command does not remove these internal fields unless you explicitly
/// specify that the fields should not appear"); `-` drops the listed ones.
pub(crate) fn keep_fields(table: &mut ResultTable, remove: bool, globs: &[FieldGlob]) {
    let indices: Vec<usize> = if remove {
        (0..table.columns.len())
            .filter(|&i| table.columns.get(i).is_some_and(|c| !globs.iter().any(|g| g.matches(c))))
            .collect()
    } else {
        let mut indices = Vec::new();
        for glob in globs {
            for (index, column) in table.columns.iter().enumerate() {
                if glob.matches(column) && !indices.contains(&index) {
                    indices.push(index);
                }
            }
        }
        for internal in ["_raw", "_time"] {
            if let Some(index) = table.column_index(internal)
                && !indices.contains(&index)
            {
                indices.insert(0, index);
            }
        }
        indices
    };
    table.project(&indices);
}

/// `bin`: `_time` to the start of its bucket (see `eval::time`); a number to the range
/// `lo-hi` of its bucket, as Splunk writes numeric bins ("The bins are 0-9, 10-19, …" shown
/// as `0-10`).
pub(crate) fn bin(table: &mut ResultTable, bin: &Bin) {
    let Some(source) = table.column_index(&bin.field) else { return };
    let target = table.ensure_column(bin.output.as_deref().unwrap_or(&bin.field));
    for row in &mut table.rows {
        let value = row.get(source).cloned().flatten();
        let binned = value.and_then(|value| {
            let text = value.values().next()?.to_owned();
            Some(FieldValue::Single(match &bin.span {
                BinSpan::Time(span) => {
                    let micros = parse_epoch_micros(&text)?;
                    epoch_seconds(super::time::bucket_start(micros, *span))
                }
                BinSpan::Number(width) => {
                    let number = parse_number(&text)?;
                    let low = (number / width).floor() * width;
                    format!(
                        "{}-{}",
                        super::value::format_number(low),
                        super::value::format_number(low + width)
                    )
                }
            }))
        });
        if let Some(slot) = row.get_mut(target) {
            *slot = binned;
        }
    }
}

/// `rex`: "matches the value of the specified field against the unanchored regular
/// expression and extracts the named groups into fields of the corresponding names". With
/// `max_match` above 1 (0: all) the fields are multivalues of every match. A value that does
/// not match leaves the fields as they were (the documentation is silent). `mode=sed` rewrites
/// the field.
pub(crate) fn rex(
    table: &mut ResultTable,
    rex: &Rex,
    env: &Env<'_>,
    at: &std::ops::Range<usize>,
) -> Result<(), EvalError> {
    let Some(source) = table.column_index(&rex.field) else { return Ok(()) };
    if let Some(sed) = &rex.sed {
        let regex = match sed {
            SedExpression::Substitute { pattern, .. } => Some(env.regex(pattern, at)?),
            SedExpression::Transliterate { .. } => None,
        };
        for row in &mut table.rows {
            let Some(value) = row.get(source).cloned().flatten() else { continue };
            let mut rewritten = Vec::new();
            for text in value.values() {
                rewritten.push(match (sed, &regex) {
                    (SedExpression::Substitute { replacement, global, .. }, Some(regex)) => regex
                        .replace(text, replacement, *global)
                        .map_err(|message| env.error(at, message))?,
                    (SedExpression::Transliterate { from, to }, _) => text
                        .chars()
                        .map(|c| {
                            from.iter()
                                .position(|f| *f == c)
                                .and_then(|i| to.get(i).copied())
                                .unwrap_or(c)
                        })
                        .collect(),
                    _ => text.to_owned(),
                });
            }
            let new = match value {
                FieldValue::Single(_) => FieldValue::Single(rewritten.pop().unwrap_or_default()),
                FieldValue::Multi(_) => FieldValue::Multi(rewritten),
            };
            if let Some(slot) = row.get_mut(source) {
                *slot = Some(new);
            }
        }
        return Ok(());
    }
    let regex = env.regex(&rex.pattern, at)?;
    let groups: Vec<(usize, String)> = regex
        .group_names()
        .iter()
        .enumerate()
        .filter_map(|(i, name)| name.clone().map(|n| (i, n)))
        .collect();
    let targets: Vec<usize> = groups.iter().map(|(_, name)| table.ensure_column(name)).collect();
    for row in &mut table.rows {
        let Some(value) = row.get(source).cloned().flatten() else { continue };
        let mut extracted: Vec<Vec<String>> = vec![Vec::new(); groups.len()];
        let mut remaining = rex.max_match;
        for text in value.values() {
            let found =
                regex.captures(text, remaining).map_err(|message| env.error(at, message))?;
            for captures in &found {
                for (slot, (group, _)) in extracted.iter_mut().zip(&groups) {
                    if let Some(Some(range)) = captures.get(*group) {
                        slot.push(text.get(range.clone()).unwrap_or_default().to_owned());
                    }
                }
            }
            if rex.max_match != 0 {
                remaining = remaining.saturating_sub(found.len());
                if remaining == 0 {
                    break;
                }
            }
        }
        for (values, &target) in extracted.into_iter().zip(&targets) {
            let new = match values.len() {
                0 => continue,
                1 => values.into_iter().next().map(FieldValue::Single),
                _ => Some(FieldValue::Multi(values)),
            };
            if let Some(slot) = row.get_mut(target) {
                *slot = new;
            }
        }
    }
    Ok(())
}

/// `regex`: keeps rows whose field matches somewhere; with `!=` those where it does not, a
/// missing field included ("You can use a regex command with != to filter for events that
/// don't have a field value matching the regular expression, or for which the field is
/// null").
pub(crate) fn regex(
    table: &mut ResultTable,
    filter: &RegexFilter,
    env: &Env<'_>,
    at: &std::ops::Range<usize>,
) -> Result<(), EvalError> {
    let regex = env.regex(&filter.pattern, at)?;
    let index = table.column_index(&filter.field);
    let mut keep = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let value = index.and_then(|i| row.get(i)?.as_ref());
        let mut matched = false;
        if let Some(value) = value {
            for text in value.values() {
                if regex.is_match(text).map_err(|message| env.error(at, message))? {
                    matched = true;
                    break;
                }
            }
        }
        keep.push(matched != filter.negated);
    }
    let mut flags = keep.into_iter();
    table.rows.retain(|_| flags.next().unwrap_or(false));
    Ok(())
}

/// `fillnull`: "If you specify a field list, all of the fields in that list are filled in
/// with the value you specify. If you specify a field that didn't previously exist, the field
/// is created." Without a list, the fields that have a value in some row ("In order for a
/// field to exist in the schema, it must have at least one non-null value in the event set").
pub(crate) fn fillnull(table: &mut ResultTable, fillnull: &Fillnull) {
    let indices: Vec<usize> = if fillnull.fields.is_empty() {
        (0..table.columns.len())
            .filter(|&i| table.rows.iter().any(|row| row.get(i).is_some_and(Option::is_some)))
            .collect()
    } else {
        fillnull.fields.iter().map(|f| table.ensure_column(f)).collect()
    };
    for row in &mut table.rows {
        for &index in &indices {
            if let Some(slot @ None) = row.get_mut(index) {
                *slot = Some(FieldValue::Single(fillnull.value.clone()));
            }
        }
    }
}

/// `dedup`: keeps the first `count` rows of each combination of values, in the current
/// order ("Events returned by dedup are based on search order"); rows missing a field are
/// dropped unless `keepempty=true` ("All events where any of the selected fields are null
/// are dropped"); `consecutive=true` removes only runs of duplicates.
pub(crate) fn dedup(table: &mut ResultTable, dedup: &Dedup) {
    Deduplicated::default().keep_new(table, dedup);
    if !dedup.sort_by.is_empty() {
        sort_rows(table, &dedup.sort_by);
    }
}

/// What `dedup` has seen of the rows so far, so that it can go over them a batch at a time:
/// the rows it keeps of each batch, put together, are those it keeps of them all.
#[derive(Default)]
pub(crate) struct Deduplicated {
    seen: HashMap<Vec<FieldValue>, usize>,
    previous: Option<Vec<FieldValue>>,
    run: usize,
}

impl Deduplicated {
    /// Keeps the rows of `table` that `dedup` keeps after the rows seen so far (its
    /// `sortby` aside).
    pub(crate) fn keep_new(&mut self, table: &mut ResultTable, dedup: &Dedup) {
        let indices: Vec<Option<usize>> =
            dedup.fields.iter().map(|f| table.column_index(f)).collect();
        let rows = table.take_rows();
        for row in rows {
            let key: Option<Vec<FieldValue>> =
                indices.iter().map(|i| i.and_then(|i| row.get(i).cloned().flatten())).collect();
            let Some(key) = key else {
                if dedup.keep_empty {
                    table.rows.push(row);
                }
                continue;
            };
            let keep = if dedup.consecutive {
                if self.previous.as_ref() == Some(&key) {
                    self.run += 1;
                } else {
                    self.run = 1;
                }
                self.previous = Some(key);
                self.run <= dedup.count
            } else {
                let count = self.seen.entry(key).or_insert(0);
                *count += 1;
                *count <= dedup.count
            };
            if keep {
                table.rows.push(row);
            }
        }
    }
}

/// `sort`: a stable sort on the keys; "Results missing a given field are treated as having
/// the smallest or largest possible value of that field if the order is descending or
/// ascending, respectively" — last either way; then the first `limit` rows ("the default
/// limit of 10000 is used").
pub(crate) fn sort(table: &mut ResultTable, sort: &Sort) {
    sort_rows(table, &sort.keys);
    if let Some(limit) = sort.limit {
        table.rows.truncate(limit);
    }
}

fn sort_rows(table: &mut ResultTable, keys: &[SortKey]) {
    let indices: Vec<Option<usize>> = keys.iter().map(|k| table.column_index(&k.field)).collect();
    table.rows.sort_by(|a, b| {
        for (key, index) in keys.iter().zip(&indices) {
            let value = |row: &Row| {
                index.and_then(|i| row.get(i)?.as_ref()?.values().next().map(str::to_owned))
            };
            // Under `num()` or `ip()` a value that is not one counts as missing.
            let usable = |text: Option<String>| {
                text.filter(|t| match key.order {
                    SortOrder::Numeric => parse_number(t).is_some(),
                    SortOrder::Ip => t.parse::<std::net::IpAddr>().is_ok(),
                    SortOrder::Auto | SortOrder::Text => true,
                })
            };
            let ordering = match (usable(value(a)), usable(value(b))) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => {
                    let ordering = compare_sort(&x, &y, key.order);
                    if key.descending { ordering.reverse() } else { ordering }
                }
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        Ordering::Equal
    });
}

/// Two values in `sort`'s order. `auto`: "If the field contains numeric values, the
/// collating sequence is numeric … If the string starts with a number, the string is sorted
/// numerically based on that number alone. Otherwise, strings are sorted lexicographically"
/// ("Uppercase letters are sorted before lowercase letters": byte order).
fn compare_sort(a: &str, b: &str, order: SortOrder) -> Ordering {
    let leading = |text: &str| {
        let trimmed = text.trim_start();
        let end = trimmed
            .char_indices()
            .find(|(i, c)| {
                !(c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '-' || *c == '+')))
            })
            .map_or(trimmed.len(), |(i, _)| i);
        trimmed[..end].parse::<f64>().ok()
    };
    match order {
        SortOrder::Text => a.cmp(b),
        SortOrder::Numeric => match (parse_number(a), parse_number(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => a.cmp(b),
        },
        SortOrder::Ip => match (a.parse::<std::net::IpAddr>(), b.parse::<std::net::IpAddr>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.cmp(b),
        },
        SortOrder::Auto => match (leading(a), leading(b)) {
            (Some(x), Some(y)) => {
                x.partial_cmp(&y).unwrap_or(Ordering::Equal).then_with(|| a.cmp(b))
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => a.cmp(b),
        },
    }
}

/// `tail`: "The events are returned in reverse order, starting at the end of the result set."
pub(crate) fn tail(table: &mut ResultTable, count: usize) {
    let rows = table.take_rows();
    let skip = rows.len().saturating_sub(count);
    table.rows = rows.into_iter().skip(skip).rev().collect();
}

/// `mvexpand`: one row per value ("Expands the values of a multivalue field into separate
/// events"); a row without the field is dropped, as Splunk is reported to do.
pub(crate) fn mvexpand(table: &mut ResultTable, field: &str, limit: Option<usize>) {
    let Some(index) = table.column_index(field) else {
        table.rows.clear();
        return;
    };
    let rows = table.take_rows();
    for row in rows {
        let Some(value) = row.get(index).cloned().flatten() else { continue };
        let values: Vec<String> = value.values().map(str::to_owned).collect();
        let take = limit.unwrap_or(usize::MAX);
        for text in values.into_iter().take(take) {
            let mut copy = row.clone();
            if let Some(slot) = copy.get_mut(index) {
                *slot = Some(FieldValue::Single(text));
            }
            table.rows.push(copy);
        }
    }
}

/// `makemv`: splits a single value on `delim` ("Default: A single space") or takes each
/// match of `tokenizer` ("the first capturing group is used as a value"); empty values are
/// dropped unless `allowempty=true`.
pub(crate) fn makemv(
    table: &mut ResultTable,
    makemv: &Makemv,
    env: &Env<'_>,
    at: &std::ops::Range<usize>,
) -> Result<(), EvalError> {
    let Some(index) = table.column_index(&makemv.field) else { return Ok(()) };
    let tokenizer = match &makemv.split {
        MakemvSplit::Tokenizer(pattern) => Some(env.regex(pattern, at)?),
        MakemvSplit::Delimiter(_) => None,
    };
    for row in &mut table.rows {
        let Some(FieldValue::Single(text)) = row.get(index).cloned().flatten() else { continue };
        let mut values: Vec<String> = match (&makemv.split, &tokenizer) {
            (MakemvSplit::Delimiter(delimiter), _) if !delimiter.is_empty() => {
                text.split(delimiter.as_str()).map(str::to_owned).collect()
            }
            (MakemvSplit::Tokenizer(_), Some(regex)) => regex
                .captures(&text, 0)
                .map_err(|message| env.error(at, message))?
                .iter()
                .filter_map(|groups| {
                    let range = groups
                        .get(1)
                        .cloned()
                        .flatten()
                        .or_else(|| groups.first().cloned().flatten())?;
                    text.get(range).map(str::to_owned)
                })
                .collect(),
            _ => vec![text.clone()],
        };
        if !makemv.allow_empty {
            values.retain(|v| !v.is_empty());
        }
        let new = if makemv.set_single {
            Some(FieldValue::Single(values.join(" ")))
        } else {
            match values.len() {
                0 => None,
                1 => values.pop().map(FieldValue::Single),
                _ => Some(FieldValue::Multi(values)),
            }
        };
        if let Some(slot) = row.get_mut(index) {
            *slot = new;
        }
    }
    Ok(())
}

/// `nomv`: a multivalue becomes one value, its values joined by newlines.
pub(crate) fn nomv(table: &mut ResultTable, field: &str) {
    let Some(index) = table.column_index(field) else { return };
    for row in &mut table.rows {
        if let Some(slot) = row.get_mut(index)
            && let Some(FieldValue::Multi(values)) = slot
        {
            *slot = Some(FieldValue::Single(values.join("\n")));
        }
    }
}
