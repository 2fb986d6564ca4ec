//! Runs a compiled [`Search`] over CIM data model records as Splunk would and returns the
//! [`ResultTable`] Splunk would show. `tstats` streams the records (only its groups are
//! kept); the later commands work on the table. The writers in this module print a table as
//! JSON lines, CSV or aligned text; the module itself does no I/O beyond the given writer.
//!
//! # Values
//!
//! Every value is a string, null is absent. `values(f)` gives a multivalue
//! ([`FieldValue::Multi`]): a JSON array in JSON lines, its values joined by newlines in CSV
//! and text. `_time` (and so `min(_time)`) is epoch seconds as Splunk prints them: an integer
//! when whole, else a decimal with up to six digits and no trailing zeros (`1582290855.25`).
//!
//! # Order
//!
//! `tstats` rows are sorted ascending by their `by` values, compared as strings byte by byte:
//! case-sensitive, uppercase before lowercase, `"10"` before `"9"`. This is a deliberate
//! choice: Splunk's order for mixed case is not documented; byte order is deterministic.

mod condition;
mod output;
mod tstats;

use std::borrow::Borrow;
use std::collections::BTreeMap;

use crate::datamodel::NodeRecord;
use crate::spl::{Command, Convert, FieldGlob, Location, RenamePair, Search};
use condition::{FieldLookup, condition_holds, where_holds};

pub use tstats::MAX_GROUPS;

/// Why a compiled search could not be run to the end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// `tstats` found more distinct `by` combinations than [`MAX_GROUPS`].
    #[error("search: {location}: tstats produces more than {limit} groups")]
    TooManyGroups {
        /// The `tstats` command in the original search.
        location: Location,
        /// The limit.
        limit: usize,
    },
}

/// A field's value in a result row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum FieldValue {
    /// One value.
    Single(String),
    /// Several values, as `values()` returns them.
    Multi(Vec<String>),
}

impl FieldValue {
    /// The values: one for [`FieldValue::Single`].
    pub fn values(&self) -> impl Iterator<Item = &str> {
        let slice = match self {
            Self::Single(value) => std::slice::from_ref(value),
            Self::Multi(values) => values.as_slice(),
        };
        slice.iter().map(String::as_str)
    }

    /// The values joined by newlines, as Splunk's CSV export and tables show a multivalue.
    pub fn joined(&self) -> String {
        self.values().collect::<Vec<_>>().join("\n")
    }
}

/// The results of a search: named columns in Splunk's order and rows of optional values.
/// It serializes as a list of maps, fields in column order, null fields left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultTable {
    columns: Vec<String>,
    rows: Vec<Vec<Option<FieldValue>>>,
}

/// One result row: an entry per column, `None` for null.
pub type Row = Vec<Option<FieldValue>>;

impl ResultTable {
    /// Column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The rows; each has one entry per column, `None` for null.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The value of `column` in row `row`.
    pub fn value(&self, row: usize, column: &str) -> Option<&FieldValue> {
        let index = self.column_index(column)?;
        self.rows.get(row)?.get(index)?.as_ref()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn column_index(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }
}

impl serde::Serialize for ResultTable {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        struct RowMap<'a>(&'a [String], &'a Row);
        impl serde::Serialize for RowMap<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(None)?;
                for (column, value) in self.0.iter().zip(self.1) {
                    if let Some(value) = value {
                        map.serialize_entry(column, value)?;
                    }
                }
                map.end()
            }
        }
        let mut seq = serializer.serialize_seq(Some(self.rows.len()))?;
        for row in &self.rows {
            seq.serialize_element(&RowMap(&self.columns, row))?;
        }
        seq.end()
    }
}

/// A result row seen by column name.
struct RowFields<'a> {
    columns: &'a [String],
    row: &'a Row,
}

impl FieldLookup for RowFields<'_> {
    fn any_value(&self, field: &str, test: &mut dyn FnMut(&str) -> bool) -> Option<bool> {
        let index = self.columns.iter().position(|c| c == field)?;
        let value = self.row.get(index)?.as_ref()?;
        Some(value.values().any(test))
    }
}

impl Search {
    /// Whether the search reads `record` at all: it is of the `tstats` node and passes the
    /// `where` clause. [`Search::run`] over the selected records alone gives the same rows as
    /// over every record.
    pub fn selects(&self, record: &NodeRecord) -> bool {
        self.tstats().is_some_and(|tstats| tstats::selects(tstats, record))
    }

    /// Runs the search over `records`: those of the `tstats` node are read once, in order;
    /// others are skipped. Records may be owned or borrowed, so a reader's iterator can be
    /// passed as it is and nothing but the `tstats` groups is held.
    pub fn run<R: Borrow<NodeRecord>>(
        &self,
        records: impl IntoIterator<Item = R>,
    ) -> Result<ResultTable, EvalError> {
        let mut run = self.start();
        for record in records {
            run.add(record.borrow())?;
        }
        Ok(run.finish())
    }

    /// A run fed one record at a time, for callers that read records once for several
    /// searches. [`SearchRun::finish`] gives what [`Search::run`] over the same records gives.
    pub fn start(&self) -> SearchRun<'_> {
        SearchRun { search: self, groups: self.tstats().map(|t| tstats::Groups::new(self, t)) }
    }
}

/// A search being run record by record; see [`Search::start`].
pub struct SearchRun<'s> {
    search: &'s Search,
    /// `None` only for a search without `tstats`, which compilation does not produce.
    groups: Option<tstats::Groups<'s>>,
}

impl SearchRun<'_> {
    /// Folds one record into the `tstats` groups.
    pub fn add(&mut self, record: &NodeRecord) -> Result<(), EvalError> {
        self.groups.as_mut().map_or(Ok(()), |groups| groups.add(record))
    }

    /// Runs the commands after `tstats` over its groups and returns the result.
    pub fn finish(self) -> ResultTable {
        let mut table = self.groups.map(tstats::Groups::finish).unwrap_or_default();
        // The parser accepts tstats only as the first command.
        for command in self.search.commands().iter().skip(1) {
            match command {
                Command::Tstats(_) => {}
                Command::Rename(pairs) => rename(&mut table, pairs),
                Command::Convert(convert) => convert_times(&mut table, convert),
                Command::Search(condition) => {
                    let columns = &table.columns;
                    table
                        .rows
                        .retain(|row| condition_holds(condition, &RowFields { columns, row }));
                }
                Command::Where(expr) => {
                    let columns = &table.columns;
                    table
                        .rows
                        .retain(|row| where_holds(expr, &RowFields { columns, row }) == Some(true));
                }
                Command::Table(globs) => table_columns(&mut table, globs),
                Command::Fields { remove, fields } => keep_fields(&mut table, *remove, fields),
            }
        }
        table
    }
}

/// Epoch seconds of `micros` as Splunk prints `_time`: integer when whole, else up to six
/// decimals without trailing zeros.
pub(crate) fn epoch_seconds(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let magnitude = micros.unsigned_abs();
    let (seconds, fraction) = (magnitude / 1_000_000, magnitude % 1_000_000);
    if fraction == 0 {
        format!("{sign}{seconds}")
    } else {
        let digits = format!("{fraction:06}");
        format!("{sign}{seconds}.{}", digits.trim_end_matches('0'))
    }
}

/// Epoch seconds as text (`1582290855`, `1582290855.25`, `-1.5`) to microseconds; digits
/// past the sixth decimal are dropped.
fn parse_epoch_micros(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut micros_part = 0_i64;
    for digit in fraction.bytes().chain(std::iter::repeat(b'0')).take(6) {
        micros_part = micros_part * 10 + i64::from(digit - b'0');
    }
    let micros = whole.checked_mul(1_000_000)?.checked_add(micros_part)?;
    Some(if negative { -micros } else { micros })
}

fn rename(table: &mut ResultTable, pairs: &[RenamePair]) {
    for pair in pairs {
        let renamed: Vec<Option<String>> = table
            .columns
            .iter()
            .map(|column| pair.from.captures(column).map(|captures| pair.to.fill(&captures)))
            .collect();
        if renamed.iter().all(Option::is_none) {
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
        project(table, &keep);
        table.columns = columns;
    }
}

/// Keeps the columns at `indices`, in that order, in every row.
fn project(table: &mut ResultTable, indices: &[usize]) {
    for row in &mut table.rows {
        *row = indices.iter().map(|&i| row.get(i).cloned().flatten()).collect();
    }
    table.columns = indices.iter().filter_map(|&i| table.columns.get(i).cloned()).collect();
}

/// `convert ctime(…)`: values that are not epoch seconds, or out of range, stay as they are.
fn convert_times(table: &mut ResultTable, convert: &Convert) {
    for conversion in &convert.conversions {
        let Some(source) = table.column_index(&conversion.field) else { continue };
        let target_name = conversion.output.as_deref().unwrap_or(&conversion.field);
        let target = table.column_index(target_name).unwrap_or_else(|| {
            table.columns.push(target_name.to_owned());
            for row in &mut table.rows {
                row.push(None);
            }
            table.columns.len() - 1
        });
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

/// `table`: the listed columns in order; a listed name without wildcards that no row has is
/// an empty column, as in Splunk; a pattern adds the matching columns in their order.
fn table_columns(table: &mut ResultTable, globs: &[FieldGlob]) {
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
    table.columns = names;
}

/// `fields`: `+` keeps the listed existing columns in the listed order, `-` drops them.
fn keep_fields(table: &mut ResultTable, remove: bool, globs: &[FieldGlob]) {
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
        indices
    };
    project(table, &indices);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_epoch_seconds_like_splunk() {
        assert_eq!(epoch_seconds(1_582_290_855_000_000), "1582290855");
        assert_eq!(epoch_seconds(1_582_290_855_250_000), "1582290855.25");
        assert_eq!(epoch_seconds(1), "0.000001");
        assert_eq!(epoch_seconds(-1_500_000), "-1.5");
        assert_eq!(epoch_seconds(i64::MIN), "-9223372036854.775808");
    }

    #[test]
    fn reads_epoch_seconds() {
        assert_eq!(parse_epoch_micros("1582290855"), Some(1_582_290_855_000_000));
        assert_eq!(parse_epoch_micros(" 1.25 "), Some(1_250_000));
        assert_eq!(parse_epoch_micros("-1.5"), Some(-1_500_000));
        assert_eq!(parse_epoch_micros(".5"), Some(500_000));
        assert_eq!(parse_epoch_micros("1.1234567"), Some(1_123_456));
        assert_eq!(parse_epoch_micros("abc"), None);
        assert_eq!(parse_epoch_micros(""), None);
        assert_eq!(parse_epoch_micros("."), None);
        assert_eq!(parse_epoch_micros("99999999999999999999"), None);
    }
}
