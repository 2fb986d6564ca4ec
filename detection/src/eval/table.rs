//! The result table's bookkeeping: columns by name, rows kept as wide as the columns, and
//! the operations commands build on (add a column, keep some, append rows of another table).

use super::{FieldValue, ResultTable, Row};

impl ResultTable {
    /// A table with these columns and no rows.
    pub(crate) fn with_columns(columns: Vec<String>) -> Self {
        let mut table = Self::default();
        table.set_columns(columns);
        table
    }

    /// Replaces the column names (same count, or rows are resized) and rebuilds the index.
    pub(crate) fn set_columns(&mut self, columns: Vec<String>) {
        self.index = columns.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect();
        self.columns = columns;
        let width = self.columns.len();
        for row in &mut self.rows {
            row.resize(width, None);
        }
    }

    /// The index of `column`, if the table has it.
    pub(crate) fn column_index(&self, column: &str) -> Option<usize> {
        self.index.get(column).copied()
    }

    /// The index of `column`, adding it (null in every row) when missing.
    pub(crate) fn ensure_column(&mut self, column: &str) -> usize {
        if let Some(index) = self.column_index(column) {
            return index;
        }
        self.columns.push(column.to_owned());
        let index = self.columns.len() - 1;
        self.index.insert(column.to_owned(), index);
        for row in &mut self.rows {
            row.push(None);
        }
        index
    }

    /// Adds a row given as (column, value) pairs; new columns are added.
    pub(crate) fn push_pairs(&mut self, pairs: impl IntoIterator<Item = (String, FieldValue)>) {
        let mut row: Row = vec![None; self.columns.len()];
        for (column, value) in pairs {
            let index = self.ensure_column(&column);
            if index >= row.len() {
                row.resize(index + 1, None);
            }
            if let Some(slot) = row.get_mut(index) {
                *slot = Some(value);
            }
        }
        row.resize(self.columns.len(), None);
        self.rows.push(row);
    }

    /// Adds a row that already has one entry per column.
    pub(crate) fn push_row(&mut self, mut row: Row) {
        row.resize(self.columns.len(), None);
        self.rows.push(row);
    }

    /// Appends every row of `other`, matching columns by name and adding the new ones.
    pub fn append(&mut self, other: ResultTable) {
        if self.columns == other.columns {
            // Batches of one search's rows, mostly: the rows move as they are.
            self.rows.extend(other.rows);
            return;
        }
        let targets: Vec<usize> = other.columns.iter().map(|c| self.ensure_column(c)).collect();
        let width = self.columns.len();
        for source in other.rows {
            let mut row: Row = vec![None; width];
            for (value, &target) in source.into_iter().zip(&targets) {
                if let Some(slot) = row.get_mut(target) {
                    *slot = value;
                }
            }
            self.rows.push(row);
        }
    }

    /// Keeps the columns at `indices`, in that order, in every row.
    pub(crate) fn project(&mut self, indices: &[usize]) {
        // A rename keeps every column in place, and most projections keep columns in order:
        // values are then moved, not copied (a library's broad `tstats` gives thousands of
        // rows to every `rename` of `drop_dm_object_name`).
        let identity = indices.len() == self.columns.len()
            && indices.iter().enumerate().all(|(at, &index)| at == index);
        let increasing = indices.windows(2).all(|pair| pair.first() < pair.get(1));
        if !identity {
            for row in &mut self.rows {
                *row = if increasing {
                    indices.iter().map(|&i| row.get_mut(i).and_then(Option::take)).collect()
                } else {
                    indices.iter().map(|&i| row.get(i).cloned().flatten()).collect()
                };
            }
        }
        let columns = indices.iter().filter_map(|&i| self.columns.get(i).cloned()).collect();
        self.set_columns(columns);
    }

    /// Takes the rows out, leaving the columns.
    pub(crate) fn take_rows(&mut self) -> Vec<Row> {
        std::mem::take(&mut self.rows)
    }
}

/// Adds `piece`, the next piece of a table given a piece at a time, to the pieces before it
/// in `table` (see [`super::SearchRun::finish_each`]).
pub(crate) fn gather(table: &mut Option<ResultTable>, piece: ResultTable) {
    match table {
        Some(table) => table.append(piece),
        None => *table = Some(piece),
    }
}
