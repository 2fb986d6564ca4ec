//! Dropping the `tstats` groups an inner `join` would drop, before they become rows.
//!
//! A library's broad rules group every process launch, then join the groups with a
//! selective subsearch on one or two of their `by` fields:
//!
//! ```text
//! | tstats … from datamodel=Endpoint.Processes by … Processes.process_guid
//! | rename Processes.* as * | join process_guid [| tstats … from datamodel=Endpoint.Filesystem where …]
//! ```
//!
//! Most groups find no match, and the join drops their rows after each was built, sorted
//! and renamed. Splunk "processes the subsearch first as a distinct search job", and so
//! does [`super::PipelineRun::finish`]: the subsearch's rows are known when the groups
//! become rows, and a group whose join key they lack never becomes one.
//!
//! The rows are the same only when nothing between the `tstats` and the `join` can tell:
//! each command there must decide each row alone (one row's presence changes nothing of
//! another's), never fail on a row (an error on a row the join would drop is still an
//! error), and leave the join fields holding the row's `by` values. [`join_keys`] admits
//! `rename`, `convert` and `search` without a subsearch, and gives up on anything else.

use std::collections::HashSet;

use super::combine::JOIN_MAX_ROWS;
use super::expr::Env;
use super::packed::{Cell, PackedTable};
use super::tstats::{key_slices, push_key_value};
use super::{FieldValue, ResultTable, commands};
use crate::spl::{Command, Pipeline, Tstats};

/// The join keys of the subsearch an inner `join` reads, in the shape of a group key:
/// which `by` values of a group make its key, and the keys the subsearch returned.
#[derive(Debug)]
pub(crate) struct JoinKeys {
    /// The `by` fields the join fields hold, ascending (a field joined on twice is here
    /// twice): a key lists their values in this order.
    by: Vec<usize>,
    /// Each subsearch row's join key, encoded as a group key of those values.
    keys: HashSet<Box<[u8]>>,
}

impl JoinKeys {
    /// Whether the group of `key` (a [`super::tstats::Groups`] key) may join a subsearch
    /// row; `probe` is a reused buffer.
    pub(crate) fn admits(&self, key: &[u8], probe: &mut Vec<u8>) -> bool {
        probe.clear();
        let mut wanted = self.by.iter().peekable();
        for (index, value) in key_slices(key).enumerate() {
            while wanted.next_if_eq(&&index).is_some() {
                push_key_value(probe, value);
            }
        }
        wanted.peek().is_none() && self.keys.contains(probe.as_slice())
    }
}

/// The keys to keep the groups of `tstats` (the first command of `pipeline`) by, when an
/// inner `join` follows it with nothing in between that could tell (see the module docs);
/// `None` when every group must become a row.
pub(crate) fn join_keys(pipeline: &Pipeline, tstats: &Tstats, env: &Env<'_>) -> Option<JoinKeys> {
    // The table the groups become (see `Groups::finish_with`), with one row whose cells say
    // which `by` field each column holds: the commands run over it move the marks as they
    // move the values.
    let columns = super::tstats::columns(tstats);
    let unique: HashSet<&String> = columns.iter().collect();
    if unique.len() != columns.len() {
        return None;
    }
    let mut marks = ResultTable::with_columns(columns);
    let row = (0..marks.columns.len())
        .map(|index| (index < tstats.by.len()).then(|| FieldValue::Single(index.to_string())))
        .collect();
    marks.push_row(row);
    for command in pipeline.commands.iter().skip(1) {
        match command {
            Command::Rename(pairs) => commands::rename(&mut marks, pairs),
            Command::Convert(convert) => {
                // As `convert_times` does: a conversion of a field the rows have writes its
                // output, now no `by` value.
                for conversion in &convert.conversions {
                    if marks.column_index(&conversion.field).is_none() {
                        continue;
                    }
                    let output = conversion.output.as_deref().unwrap_or(&conversion.field);
                    let target = marks.ensure_column(output);
                    if let Some(cell) = marks.rows.first_mut().and_then(|row| row.get_mut(target)) {
                        *cell = None;
                    }
                }
            }
            Command::Search(condition) if !condition.has_subsearch() => {}
            Command::Join(join) if !join.left && !join.fields.is_empty() => {
                return keys_of(&marks, &join.fields, env.subsearches.get(&join.subsearch.start));
            }
            _ => return None,
        }
    }
    None
}

/// The join keys of `right` for the join `fields`, whose `by` fields `marks` tells.
fn keys_of(
    marks: &ResultTable,
    fields: &[String],
    right: Option<&PackedTable>,
) -> Option<JoinKeys> {
    let mut joined = fields
        .iter()
        .map(|field| match marks.value(0, field) {
            Some(FieldValue::Single(mark)) => Some((mark.parse::<usize>().ok()?, field)),
            _ => None,
        })
        .collect::<Option<Vec<(usize, &String)>>>()?;
    joined.sort();
    let mut keys = HashSet::new();
    let mut key = Vec::new();
    // As `combine::join` reads the subsearch: its first rows, and a row's key only when
    // every join field has a value. A group's values are single, so a multivalue never
    // equals one.
    let empty = PackedTable::default();
    let right = right.unwrap_or(&empty);
    let columns: Vec<Option<usize>> =
        joined.iter().map(|(_, field)| right.column_index(field)).collect();
    let mut cells: Vec<Cell<'_>> = Vec::new();
    for row in 0..right.len().min(JOIN_MAX_ROWS) {
        cells.clear();
        cells.extend(right.cells(row));
        key.clear();
        let complete =
            columns.iter().all(|column| match column.and_then(|index| cells.get(index)) {
                Some(Cell::Single(value)) => {
                    push_key_value(&mut key, value.as_bytes());
                    true
                }
                _ => false,
            });
        if complete {
            keys.insert(key.as_slice().into());
        }
    }
    Some(JoinKeys { by: joined.into_iter().map(|(index, _)| index).collect(), keys })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::{Env, join_keys};
    use crate::eval::{FieldValue, ResultTable};
    use crate::spl::{Command, MacroTable, Search};

    const BROAD: &str = "| tstats count min(_time) as firstTime from datamodel=Endpoint.Processes \
                         by _time span=1h Processes.dest Processes.process_guid";

    /// The `by` fields whose values decide which groups [`join_keys`] keeps for `rest`
    /// after [`BROAD`], with `right` as the join's subsearch rows; `None` when it keeps all.
    fn pruned_by(rest: &str, right: Option<ResultTable>) -> Option<(Vec<usize>, usize)> {
        let search = Search::compile(&format!("{BROAD} {rest}"), &MacroTable::new(), "").unwrap();
        let pipeline = search.pipeline();
        let Some(Command::Tstats(tstats)) = pipeline.commands.first() else { panic!() };
        let mut subsearches = HashMap::new();
        if let (Some(right), Some(Command::Join(join))) =
            (right, pipeline.commands.iter().find(|c| matches!(c, Command::Join(_))))
        {
            subsearches.insert(join.subsearch.start, right.into());
        }
        let env = Env { search: &search, now_micros: 0, subsearches: &subsearches };
        join_keys(pipeline, tstats, &env).map(|keys| (keys.by, keys.keys.len()))
    }

    const SUB: &str = "[| tstats count from datamodel=Endpoint.Filesystem \
                       by Filesystem.dest Filesystem.process_guid | rename Filesystem.* as *]";

    #[test]
    fn an_inner_join_on_renamed_by_fields_keeps_the_groups_with_a_key() {
        let on = |rest: &str| pruned_by(&format!("{rest} {SUB}"), None).map(|(by, _)| by);
        assert_eq!(on("| rename Processes.* as * | join process_guid"), Some(vec![2]));
        // Join fields in any order give the `by` order; `_time` buckets are a `by` field.
        assert_eq!(
            on("| rename Processes.* as * | join max=0 process_guid, dest"),
            Some(vec![1, 2])
        );
        assert_eq!(on("| rename Processes.* as * | join _time dest"), Some(vec![0, 1]));
        assert_eq!(
            on("| rename Processes.* as * | rename process_guid as guid | join guid"),
            Some(vec![2])
        );
        // Commands that decide each row alone and cannot fail may come between.
        assert_eq!(
            on("| rename Processes.* as * | convert ctime(firstTime) | search dest!=x \
                | join process_guid"),
            Some(vec![2])
        );
        assert_eq!(on("| join Processes.process_guid"), Some(vec![2]));
        // A rename onto a join field replaces it: the join then reads `dest`.
        assert_eq!(
            on("| rename Processes.* as * | rename dest as process_guid | join process_guid"),
            Some(vec![1])
        );
    }

    #[test]
    fn anything_that_could_tell_keeps_every_group() {
        let on = |rest: &str| pruned_by(&format!("{rest} {SUB}"), None);
        // The join field is no longer the `by` value, or not one at all.
        assert_eq!(
            on("| rename Processes.* as * | eval process_guid=dest | join process_guid"),
            None
        );
        assert_eq!(
            on("| rename Processes.* as * | convert ctime(process_guid) | join process_guid"),
            None
        );
        assert_eq!(on("| rename Processes.* as * | join firstTime"), None);
        assert_eq!(on("| join process_guid"), None);
        // A left join keeps every row; no fields means the common ones, known only later.
        assert_eq!(on("| rename Processes.* as * | join type=left process_guid"), None);
        assert_eq!(on("| rename Processes.* as * | join"), None);
        // Rows that depend on other rows, or commands that may fail on a row.
        assert_eq!(on("| rename Processes.* as * | head 5 | join process_guid"), None);
        assert_eq!(on("| rename Processes.* as * | dedup dest | join process_guid"), None);
        assert_eq!(on("| rename Processes.* as * | where dest!=\"x\" | join process_guid"), None);
        assert_eq!(on("| rename Processes.* as * | regex dest=\"x\" | join process_guid"), None);
        // No join at all.
        assert_eq!(pruned_by("| rename Processes.* as *", None), None);
    }

    #[test]
    fn the_keys_are_the_subsearch_rows_whose_join_fields_are_all_single_values() {
        let mut right = ResultTable::with_columns(vec!["dest".into(), "process_guid".into()]);
        let single = |text: &str| Some(FieldValue::Single(text.to_owned()));
        right.push_row(vec![single("d1"), single("g1")]);
        right.push_row(vec![single("d1"), single("g1")]);
        right.push_row(vec![single("d2"), None]);
        right.push_row(vec![single("d3"), Some(FieldValue::Multi(vec!["g1".into(), "g2".into()]))]);
        right.push_row(vec![single("d4"), single("g4")]);
        let keys = pruned_by(
            &format!("| rename Processes.* as * | join dest process_guid {SUB}"),
            Some(right),
        );
        assert_eq!(keys, Some((vec![1, 2], 2)));
    }
}
