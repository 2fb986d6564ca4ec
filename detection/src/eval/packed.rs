//! A finished subsearch's rows, packed into chunks of bytes until the command that reads
//! them runs.
//!
//! A `join`'s subsearch may give 50,000 rows, and a library's broad joins give that many:
//! every process launch, a dozen `by` fields each. As a [`ResultTable`], a row is a vector
//! of cells of 32 bytes each, and every value a string of its own; packed, a row is its
//! values' bytes with a byte or two of length each, a fifth of the size. A `join` and the
//! pruning of its groups read the rows one at a time; `append` and a search condition,
//! whose subsearches are rarely large, unpack the table whole.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use super::{FieldValue, ResultTable, Row};

/// Rows packed cell after cell: each cell a tag (`EMPTY`, `SINGLE`, `MULTI`), then for a
/// value its length and bytes, for a multivalue its count and then each value so. Lengths
/// are LEB128 numbers. A row holds the cells of the columns known when it was packed; the
/// columns added later are empty in it.
#[derive(Debug, Default)]
pub(crate) struct PackedTable {
    /// The column names and their index: a table without rows.
    columns: ResultTable,
    /// The packed rows, in pieces of at most [`CHUNK`] bytes (or one larger row): a buffer
    /// grown whole would hold three times its rows' size while it is copied to a larger
    /// one.
    chunks: Vec<Vec<u8>>,
    /// Where each row starts: its chunk, and where in it. A row ends where the next one
    /// in its chunk starts, or at the chunk's end.
    starts: Vec<(usize, usize)>,
    /// The row being packed.
    row: Vec<u8>,
    /// The rows by their key for the fields a `join` reads them by, made once for all
    /// the batches it joins (see [`PackedTable::rows_by_key`]).
    keyed: OnceLock<(Vec<String>, usize, RowsByKey)>,
}

/// Rows by their key: the values of some fields, in order.
pub(crate) type RowsByKey = HashMap<Vec<FieldValue>, Vec<usize>>;

/// Bytes a chunk of packed rows holds, unless one row takes more.
const CHUNK: usize = 1 << 20;

const EMPTY: u8 = 0;
const SINGLE: u8 = 1;
const MULTI: u8 = 2;

/// A cell as packed: borrowed from the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cell<'p> {
    Empty,
    Single(&'p str),
    /// The packed values of a multivalue, and how many there are.
    Multi(&'p [u8], usize),
}

impl Cell<'_> {
    /// The cell as a result table holds it.
    pub(crate) fn to_value(self) -> Option<FieldValue> {
        match self {
            Cell::Empty => None,
            Cell::Single(text) => Some(FieldValue::Single(text.to_owned())),
            Cell::Multi(mut bytes, count) => {
                let values = (0..count)
                    .map_while(|_| {
                        let (text, rest) = read_text(bytes)?;
                        bytes = rest;
                        Some(text.to_owned())
                    })
                    .collect();
                Some(FieldValue::Multi(values))
            }
        }
    }
}

impl PackedTable {
    /// The column names, in order.
    pub(crate) fn columns(&self) -> &[String] {
        &self.columns.columns
    }

    /// The index of `column`, if the rows have it.
    pub(crate) fn column_index(&self, column: &str) -> Option<usize> {
        self.columns.column_index(column)
    }

    /// How many rows there are.
    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    /// Packs the rows of `table` after these, matching columns by name and adding the new
    /// ones, as [`ResultTable::append`] does.
    pub(crate) fn push_table(&mut self, table: &ResultTable) {
        // An index by key made before would miss these rows.
        self.keyed = OnceLock::new();
        let targets: Vec<usize> =
            table.columns.iter().map(|column| self.columns.ensure_column(column)).collect();
        let in_order = targets.iter().enumerate().all(|(at, &target)| at == target);
        let mut cells: Vec<Option<&FieldValue>> = Vec::new();
        for row in &table.rows {
            let mut packed = std::mem::take(&mut self.row);
            packed.clear();
            if in_order {
                for cell in row {
                    push_cell(&mut packed, cell.as_ref());
                }
            } else {
                cells.clear();
                cells.resize(self.columns.columns.len(), None);
                for (cell, &target) in row.iter().zip(&targets) {
                    if let Some(slot) = cells.get_mut(target) {
                        *slot = cell.as_ref();
                    }
                }
                for cell in &cells {
                    push_cell(&mut packed, *cell);
                }
            }
            self.push_row(&packed);
            // One huge row need not keep its buffer's size for the rest.
            if packed.capacity() <= CHUNK {
                self.row = packed;
            }
        }
    }

    /// Adds one packed row, in a new chunk when the last has no room for it.
    fn push_row(&mut self, packed: &[u8]) {
        let roomy = self.chunks.last().is_some_and(|chunk| chunk.len() + packed.len() <= CHUNK);
        if !roomy {
            // Grown as rows come: a subsearch of a few rows keeps a few rows' bytes.
            self.chunks.push(Vec::new());
        }
        let chunk = self.chunks.len() - 1;
        if let Some(last) = self.chunks.last_mut() {
            self.starts.push((chunk, last.len()));
            last.extend_from_slice(packed);
        }
    }

    /// The cells of row `row`, one per column, in order.
    pub(crate) fn cells(&self, row: usize) -> impl Iterator<Item = Cell<'_>> {
        let mut bytes: &[u8] = match self.starts.get(row) {
            Some(&(chunk, start)) => {
                let packed = self.chunks.get(chunk).map_or(&[][..], Vec::as_slice);
                let end = match self.starts.get(row + 1) {
                    Some(&(next, end)) if next == chunk => end,
                    _ => packed.len(),
                };
                packed.get(start..end).unwrap_or_default()
            }
            None => &[],
        };
        (0..self.columns.columns.len()).map(move |_| {
            let (cell, rest) = read_cell(bytes);
            bytes = rest;
            cell
        })
    }

    /// The first `limit` rows by their values of `fields`; a row lacking one is left out.
    /// The first fields and limit asked for are kept with their rows, so that a `join` reading the
    /// rows for every batch it joins builds them once.
    pub(crate) fn rows_by_key(&self, fields: &[String], limit: usize) -> Cow<'_, RowsByKey> {
        if let Some((known, known_limit, rows)) = self.keyed.get() {
            if known.as_slice() == fields && *known_limit == limit {
                return Cow::Borrowed(rows);
            }
            return Cow::Owned(self.key_rows(fields, limit));
        }
        let (_, _, rows) =
            self.keyed.get_or_init(|| (fields.to_vec(), limit, self.key_rows(fields, limit)));
        Cow::Borrowed(rows)
    }

    fn key_rows(&self, fields: &[String], limit: usize) -> RowsByKey {
        let columns: Vec<Option<usize>> = fields.iter().map(|f| self.column_index(f)).collect();
        let mut by_key: RowsByKey = HashMap::new();
        let mut cells: Vec<Cell<'_>> = Vec::new();
        for index in 0..self.len().min(limit) {
            cells.clear();
            cells.extend(self.cells(index));
            let key = columns
                .iter()
                .map(|column| column.and_then(|at| cells.get(at).copied()).and_then(Cell::to_value))
                .collect::<Option<Vec<FieldValue>>>();
            if let Some(key) = key {
                by_key.entry(key).or_default().push(index);
            }
        }
        by_key
    }

    /// Row `row` as a result table holds it.
    pub(crate) fn row(&self, row: usize) -> Row {
        self.cells(row).map(Cell::to_value).collect()
    }

    /// The rows as a result table.
    pub(crate) fn unpack(&self) -> ResultTable {
        let mut table = ResultTable::with_columns(self.columns.columns.clone());
        table.rows = (0..self.len()).map(|row| self.row(row)).collect();
        table
    }
}

impl From<ResultTable> for PackedTable {
    fn from(table: ResultTable) -> Self {
        let mut packed = PackedTable::default();
        packed.push_table(&table);
        packed
    }
}

fn push_cell(bytes: &mut Vec<u8>, cell: Option<&FieldValue>) {
    match cell {
        None => bytes.push(EMPTY),
        Some(FieldValue::Single(text)) => {
            bytes.push(SINGLE);
            push_text(bytes, text);
        }
        Some(FieldValue::Multi(values)) => {
            bytes.push(MULTI);
            push_number(bytes, values.len());
            for value in values {
                push_text(bytes, value);
            }
        }
    }
}

fn push_text(bytes: &mut Vec<u8>, text: &str) {
    push_number(bytes, text.len());
    bytes.extend_from_slice(text.as_bytes());
}

/// LEB128: seven bits a byte, low first, the high bit set on every byte but the last.
fn push_number(bytes: &mut Vec<u8>, mut number: usize) {
    loop {
        let low = u8::try_from(number & 0x7f).unwrap_or_default();
        number >>= 7;
        if number == 0 {
            bytes.push(low);
            return;
        }
        bytes.push(low | 0x80);
    }
}

fn read_number(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let mut number = 0usize;
    for (at, &byte) in bytes.iter().enumerate() {
        number |= usize::from(byte & 0x7f).checked_shl(u32::try_from(7 * at).ok()?)?;
        if byte < 0x80 {
            return Some((number, bytes.get(at + 1..)?));
        }
    }
    None
}

fn read_text(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let (len, rest) = read_number(bytes)?;
    let (text, rest) = rest.split_at_checked(len)?;
    // The bytes were a `str`'s.
    Some((std::str::from_utf8(text).ok()?, rest))
}

/// The cell at the start of `bytes`, and what follows it; past the row's end, cells are
/// empty (a column added after the row was packed).
fn read_cell(bytes: &[u8]) -> (Cell<'_>, &[u8]) {
    let read = || -> Option<(Cell<'_>, &[u8])> {
        let (&tag, rest) = bytes.split_first()?;
        match tag {
            SINGLE => read_text(rest).map(|(text, rest)| (Cell::Single(text), rest)),
            MULTI => {
                let (count, values) = read_number(rest)?;
                let mut rest = values;
                for _ in 0..count {
                    rest = read_text(rest)?.1;
                }
                let packed = values.get(..values.len() - rest.len())?;
                Some((Cell::Multi(packed, count), rest))
            }
            _ => Some((Cell::Empty, rest)),
        }
    };
    read().unwrap_or((Cell::Empty, &[]))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Cell, PackedTable, push_number, read_number};
    use crate::eval::{FieldValue, ResultTable};

    fn value() -> impl Strategy<Value = Option<FieldValue>> {
        // Lengths across the one-byte limit of a packed length, and text beyond ASCII.
        let text = || "[a-zé\u{1F600} ]{0,3}|[a-z]{120,300}";
        prop_oneof![
            Just(None),
            text().prop_map(|t| Some(FieldValue::Single(t))),
            prop::collection::vec(text(), 0..4).prop_map(|v| Some(FieldValue::Multi(v))),
        ]
    }

    fn table(columns: Vec<String>) -> impl Strategy<Value = ResultTable> {
        let width = columns.len();
        prop::collection::vec(prop::collection::vec(value(), width), 0..6).prop_map(move |rows| {
            let mut table = ResultTable::with_columns(columns.clone());
            for row in rows {
                table.push_row(row);
            }
            table
        })
    }

    proptest! {
        /// Packed tables, one after another, unpack to the tables appended.
        #[test]
        fn packed_pieces_unpack_to_the_pieces_appended(
            first in table(vec!["a".into(), "b".into()]),
            second in table(vec!["b".into(), "c".into(), "a".into()]),
            third in table(vec!["a".into(), "b".into()]),
        ) {
            let mut packed = PackedTable::default();
            let mut appended = ResultTable::default();
            for piece in [first, second, third] {
                packed.push_table(&piece);
                appended.append(piece);
            }
            prop_assert_eq!(packed.len(), appended.len());
            prop_assert_eq!(packed.columns(), &appended.columns[..]);
            let unpacked = packed.unpack();
            prop_assert_eq!(unpacked.rows(), appended.rows());
        }
    }

    #[test]
    fn rows_across_chunks_and_larger_than_one_unpack_as_packed() {
        let mut table = ResultTable::with_columns(vec!["a".into(), "b".into()]);
        for size in [400_000, 400_000, 400_000, 1_500_000, 10, 700_000, 0] {
            let text = |c: char| Some(FieldValue::Single(c.to_string().repeat(size)));
            table.push_row(vec![text('x'), text('y')]);
        }
        let mut packed = PackedTable::from(table.clone());
        assert!(packed.chunks.len() > 3, "{} chunks", packed.chunks.len());
        // A column added after the rows were packed is empty in them.
        let mut more = ResultTable::with_columns(vec!["c".into()]);
        more.push_row(vec![Some(FieldValue::Single("z".into()))]);
        packed.push_table(&more);
        table.append(more);
        assert_eq!(packed.unpack().rows(), table.rows());
    }

    #[test]
    fn rows_by_key_leave_out_rows_lacking_a_field_and_keep_to_the_limit() {
        let single = |text: &str| Some(FieldValue::Single(text.to_owned()));
        let mut table = ResultTable::with_columns(vec!["a".into(), "b".into()]);
        table.push_row(vec![single("1"), single("x")]);
        table.push_row(vec![single("1"), None]);
        table.push_row(vec![single("2"), single("y")]);
        table.push_row(vec![single("1"), single("x")]);
        let packed = PackedTable::from(table);
        let key = |values: &[&str]| -> Vec<FieldValue> {
            values.iter().map(|v| FieldValue::Single((*v).to_owned())).collect()
        };
        let both = ["a".to_owned(), "b".to_owned()];
        let by_both = packed.rows_by_key(&both, 10);
        assert_eq!(by_both.get(&key(&["1", "x"])), Some(&vec![0, 3]));
        assert_eq!(by_both.len(), 2);
        // Other fields, or another limit, are not the ones kept.
        let by_a = packed.rows_by_key(&["a".to_owned()], 10);
        assert_eq!(by_a.get(&key(&["1"])), Some(&vec![0, 1, 3]));
        let first_two = packed.rows_by_key(&both, 2);
        assert_eq!(first_two.get(&key(&["1", "x"])), Some(&vec![0]));
        assert!(matches!(packed.rows_by_key(&both, 10), std::borrow::Cow::Borrowed(_)));
        // A field the rows lack leaves every row out.
        assert!(packed.rows_by_key(&["c".to_owned()], 10).is_empty());
    }

    #[test]
    fn a_row_narrower_than_its_columns_unpacks_full_width() {
        let mut table = ResultTable::with_columns(vec!["a".into(), "b".into()]);
        table.rows.push(vec![Some(FieldValue::Single("1".into()))]);
        table.push_row(vec![None, Some(FieldValue::Single("2".into()))]);
        let packed = PackedTable::from(table);
        assert_eq!(packed.row(0), vec![Some(FieldValue::Single("1".into())), None]);
        assert_eq!(packed.row(1), vec![None, Some(FieldValue::Single("2".into()))]);
    }

    #[test]
    fn rows_packed_after_an_index_are_in_the_next() {
        let single = |text: &str| Some(FieldValue::Single(text.to_owned()));
        let mut table = ResultTable::with_columns(vec!["a".into()]);
        table.push_row(vec![single("1")]);
        let mut packed = PackedTable::from(table.clone());
        let fields = ["a".to_owned()];
        assert_eq!(packed.rows_by_key(&fields, 10).len(), 1);
        table.rows[0] = vec![single("2")];
        packed.push_table(&table);
        assert_eq!(packed.rows_by_key(&fields, 10).len(), 2);
    }

    #[test]
    fn lengths_read_back_as_written() {
        for number in [0, 1, 127, 128, 300, 16_383, 16_384, u32::MAX as usize, usize::MAX] {
            let mut bytes = Vec::new();
            push_number(&mut bytes, number);
            bytes.push(7);
            assert_eq!(read_number(&bytes), Some((number, &[7][..])), "{number}");
        }
        // A length cut short is no length.
        assert_eq!(read_number(&[0x80, 0x80]), None);
    }

    #[test]
    fn cells_borrow_the_packed_values() {
        let mut table = ResultTable::with_columns(vec!["a".into(), "b".into(), "c".into()]);
        let multi = FieldValue::Multi(vec!["x".into(), String::new(), "é".repeat(100)]);
        table.push_row(vec![Some(FieldValue::Single("one".into())), None, Some(multi.clone())]);
        let packed = PackedTable::from(table);
        let cells: Vec<Cell<'_>> = packed.cells(0).collect();
        assert_eq!(cells.first(), Some(&Cell::Single("one")));
        assert_eq!(cells.get(1), Some(&Cell::Empty));
        assert_eq!(cells.get(2).and_then(|cell| cell.to_value()), Some(multi));
        // A row past the end has empty cells, as a column added later has in a row.
        assert!(packed.cells(1).all(|cell| cell == Cell::Empty));
    }
}
