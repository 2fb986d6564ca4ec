//! Writers of a [`ResultTable`]: JSON lines as Splunk's JSON export writes results, CSV, and
//! an aligned text table for people. They write to any `impl Write` and only return its
//! errors.
//!
//! Values come from event logs, which an attacker can write to. JSON escapes every control
//! character; CSV cells that a spreadsheet would run as a formula are neutralised (unless
//! the exact values are asked for); the text table shows control characters as escapes, so
//! a value can neither drive the terminal nor forge a row.

use std::borrow::Cow;
use std::io::{self, Write};

use super::{FieldValue, ResultTable};
use crate::terminal::escape_controls;

impl ResultTable {
    /// One JSON object per row, fields in column order, null fields left out; a value is a
    /// string, a multivalue an array of strings (Splunk's JSON export of `result`).
    pub fn write_json_lines(&self, out: impl Write) -> io::Result<()> {
        self.write_json_lines_labelled(out, None)
    }

    /// JSON lines as [`ResultTable::write_json_lines`], each object opening with the pair
    /// `label` when one is given (`"rule":"…"`, to tell several searches' rows apart).
    pub fn write_json_lines_labelled(
        &self,
        mut out: impl Write,
        label: Option<(&str, &str)>,
    ) -> io::Result<()> {
        let label = label
            .map(|(key, value)| {
                let key = serde_json::to_string(key).map_err(io::Error::other)?;
                let value = serde_json::to_string(value).map_err(io::Error::other)?;
                Ok::<_, io::Error>(vec![(key, value)])
            })
            .transpose()?
            .unwrap_or_default();
        for row in &self.rows {
            let mut line = String::from("{");
            let mut first = true;
            for (key, value) in &label {
                line.push_str(key);
                line.push(':');
                line.push_str(value);
                first = false;
            }
            for (column, value) in self.columns.iter().zip(row) {
                let Some(value) = value else { continue };
                if !first {
                    line.push(',');
                }
                first = false;
                line.push_str(&serde_json::to_string(column).map_err(io::Error::other)?);
                line.push(':');
                line.push_str(&serde_json::to_string(value).map_err(io::Error::other)?);
            }
            line.push_str("}\n");
            out.write_all(line.as_bytes())?;
        }
        Ok(())
    }

    /// CSV with a header row (RFC 4180 quoting, `\n` line ends); null is an empty cell and a
    /// multivalue its values joined by newlines, as Splunk's CSV export writes them.
    ///
    /// A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is written as
    /// `"'…"`: OWASP's defence against CSV injection, since a spreadsheet would run such a
    /// cell as a formula (`=cmd|' /C calc'!A0`) and an attacker can put one in any logged
    /// value. The cell then reads as text with a leading `'`; [`ResultTable::write_csv_raw`]
    /// writes the values as they are, for tools that are not spreadsheets.
    pub fn write_csv(&self, out: impl Write) -> io::Result<()> {
        self.write_csv_cells(out, true)
    }

    /// CSV as [`ResultTable::write_csv`] writes it, but every value exactly as it is: for
    /// tools that read CSV, never for a spreadsheet.
    pub fn write_csv_raw(&self, out: impl Write) -> io::Result<()> {
        self.write_csv_cells(out, false)
    }

    fn write_csv_cells(&self, mut out: impl Write, neutralise: bool) -> io::Result<()> {
        let header: Vec<String> = self.columns.iter().map(|c| csv_cell(c, neutralise)).collect();
        writeln!(out, "{}", header.join(","))?;
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|v| v.as_ref().map(FieldValue::joined).unwrap_or_default())
                .map(|t| csv_cell(&t, neutralise))
                .collect();
            writeln!(out, "{}", cells.join(","))?;
        }
        Ok(())
    }

    /// An aligned table: header, a rule of dashes, then the rows; columns two spaces apart,
    /// a multivalue on several lines, null as nothing. Widths count characters. Control
    /// characters (a line break, ESC, NUL) and the marks that reorder text are shown as
    /// escapes (`\n`, `\u{1b}`), so that a value stays on its own line and cannot drive
    /// the terminal.
    pub fn write_text(&self, mut out: impl Write) -> io::Result<()> {
        let cells: Vec<Vec<Vec<String>>> = self
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|value| {
                        value.as_ref().map_or_else(Vec::new, |v| {
                            v.values().map(|value| escape_controls(value).into_owned()).collect()
                        })
                    })
                    .collect()
            })
            .collect();
        let columns: Vec<Cow<'_, str>> =
            self.columns.iter().map(|column| escape_controls(column)).collect();
        let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                for line in cell {
                    *width = (*width).max(line.chars().count());
                }
            }
        }
        let header: Vec<&str> = columns.iter().map(AsRef::as_ref).collect();
        write_line(&mut out, &widths, &header)?;
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        write_line(&mut out, &widths, &rule.iter().map(String::as_str).collect::<Vec<_>>())?;
        for row in &cells {
            let height = row.iter().map(Vec::len).max().unwrap_or(0).max(1);
            for line_index in 0..height {
                let line: Vec<&str> = row
                    .iter()
                    .map(|cell| cell.get(line_index).map_or("", String::as_str))
                    .collect();
                write_line(&mut out, &widths, &line)?;
            }
        }
        Ok(())
    }
}

fn write_line(out: &mut impl Write, widths: &[usize], cells: &[&str]) -> io::Result<()> {
    let mut line = String::new();
    for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
        if index > 0 {
            line.push_str("  ");
        }
        line.push_str(cell);
        let pad = width.saturating_sub(cell.chars().count());
        line.extend(std::iter::repeat_n(' ', pad));
    }
    writeln!(out, "{}", line.trim_end())
}

/// A CSV cell: quoted when RFC 4180 needs it, and with `neutralise` a leading `'` (and
/// quotes) when a spreadsheet would take it for a formula, as OWASP's CSV-injection guidance
/// says.
fn csv_cell(text: &str, neutralise: bool) -> String {
    if neutralise && text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("\"'{}\"", text.replace('"', "\"\""))
    } else if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}
