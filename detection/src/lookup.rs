//! Lookup tables of a content tree: each `lookups/<name>.yml` definition (its CSV file, match
//! types, case sensitivity, match counts, or a KV store collection) and the CSV beside it,
//! read with the `csv` crate and indexed, so that `| lookup` finds a row by hashing rather
//! than scanning. A CSV is read when a search first needs it, and once: a content tree's
//! tables hold some hundred thousand rows, and a run of a few rules reads few of them.
//! Matching follows transforms.conf:
//!
//! - "EXACT" is the default; `WILDCARD(field)` makes `*` in that column match any run, and
//!   `CIDR(field)` makes that column a network an address falls in.
//! - `case_sensitive_match`: "If set to false, Splunk software performs case insensitive
//!   matching … Default: true".
//! - `max_matches`: "Splunk software uses the first `<integer>` entries, in file order.
//!   Default: 100 matches"; `min_matches` with `default_match` fills in when fewer match.
//!
//! A KV store lookup (a `collection`, no CSV) has no rows offline; it is an empty table, and
//! the caller is told so.
//!
//! Definitions are content files: they are read by the rules' loader, with its size cap and
//! nesting guard. A definition's `filename` is a file in `lookups/`, never a path, and a CSV
//! is read up to [`MAX_LOOKUP_BYTES`] whatever size the file claims.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use crate::eval::FieldValue;
use crate::spl::Pattern;

/// transforms.conf's `max_matches` default for lookups without a time field.
pub const DEFAULT_MAX_MATCHES: usize = 100;

/// The largest lookup file read, in bytes.
pub const MAX_LOOKUP_BYTES: u64 = 256 * 1024 * 1024;

/// Why a lookup could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The definition or CSV file could not be read.
    #[error("{}: cannot read", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The definition file is too large or too deeply nested, or its YAML is not valid.
    #[error(transparent)]
    Content(#[from] crate::content::RuleError),
    /// The definition does not fit the lookup schema.
    #[error("{}: {message}", path.display())]
    Definition {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The CSV file is malformed.
    #[error("{}: line {line}: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
}

impl LookupError {
    /// The file the error is in, when it is one file.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Read { path, .. } | Self::Definition { path, .. } | Self::Csv { path, .. } => {
                Some(path)
            }
            Self::Content(err) => Some(err.path()),
        }
    }
}

/// A lookup definition as `lookups/<name>.yml` writes it.
#[derive(Debug, Clone, Deserialize)]
struct Definition {
    name: String,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    collection: Option<String>,
    #[serde(default)]
    match_type: Option<String>,
    #[serde(default, deserialize_with = "loose_bool")]
    case_sensitive_match: Option<bool>,
    #[serde(default, deserialize_with = "loose_number")]
    min_matches: Option<usize>,
    #[serde(default, deserialize_with = "loose_number")]
    max_matches: Option<usize>,
    #[serde(default, deserialize_with = "loose_string")]
    default_match: Option<String>,
}

/// `true`, `'false'`, `1`: `security_content` writes booleans all three ways.
fn loose_bool<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    let value = Option::<serde_yaml::Value>::deserialize(deserializer)?;
    Ok(value.and_then(|value| match value {
        serde_yaml::Value::Bool(b) => Some(b),
        serde_yaml::Value::Number(n) => n.as_u64().map(|n| n != 0),
        serde_yaml::Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "1" | "yes" => Some(true),
            "false" | "f" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }))
}

fn loose_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<usize>, D::Error> {
    let value = Option::<serde_yaml::Value>::deserialize(deserializer)?;
    Ok(value.and_then(|value| match value {
        serde_yaml::Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        serde_yaml::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }))
}

fn loose_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let value = Option::<serde_yaml::Value>::deserialize(deserializer)?;
    Ok(value.and_then(|value| match value {
        serde_yaml::Value::String(s) => Some(s),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }))
}

/// How a lookup column matches an event's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    /// The whole value, equal.
    Exact,
    /// `*` in the lookup's value matches any run of characters.
    Wildcard,
    /// The lookup's value is a network the event's address falls in.
    Cidr,
}

/// A lookup: its settings, and its rows once read.
#[derive(Debug)]
pub struct Lookup {
    /// The definition's name.
    pub name: String,
    /// The CSV file name, when it has one.
    pub filename: Option<String>,
    /// The KV store collection, when it is one (no rows offline).
    pub collection: Option<String>,
    case_sensitive: bool,
    min_matches: usize,
    max_matches: usize,
    default_match: String,
    match_types: HashMap<String, MatchType>,
    /// The CSV file the rows are read from; `None` for a table without one (a KV store
    /// collection, or rows a caller gave).
    csv: Option<PathBuf>,
    /// The rows, read from `csv` on first use.
    table: OnceLock<Result<Table, LookupError>>,
    /// Wildcard columns, their cells compiled on first use (a run uses few of the tree's
    /// lookups) and once: a rule looks up every row of a broad `tstats` in a table of
    /// hundreds of patterns.
    wildcards: OnceLock<HashMap<String, WildcardColumn>>,
}

/// A lookup's rows, as its CSV file holds them.
#[derive(Debug, Default)]
pub struct Table {
    /// Column names, in file order.
    pub columns: Vec<String>,
    /// Rows, in file order; each as wide as `columns`.
    pub rows: Vec<Vec<String>>,
    /// Exact columns: value (lower-cased unless case-sensitive) to the rows holding it.
    index: HashMap<String, HashMap<String, Vec<usize>>>,
}

/// A wildcard column's cells ready to match many values, each as
/// [`crate::spl::Pattern`] (case-insensitive) or [`crate::spl::FieldGlob`] matches it.
#[derive(Debug, Default)]
struct WildcardColumn {
    /// Cells without `*`, by the text a value must equal: lower-cased as a pattern's
    /// piece is when matching ignores case.
    whole: HashMap<String, Vec<usize>>,
    /// Cells with a `*`, with their rows.
    patterns: Vec<(usize, CellPattern)>,
    /// Over the patterns' longest pieces, so that only the patterns whose piece a value
    /// holds are tried on it; `None` when it cannot be built, and every one is tried.
    index: Option<crate::spl::PieceIndex>,
}

#[derive(Debug)]
enum CellPattern {
    IgnoringCase(Pattern),
    Exact(crate::spl::FieldGlob),
}

impl CellPattern {
    fn new(cell: &str, case_sensitive: bool) -> Self {
        if case_sensitive {
            CellPattern::Exact(crate::spl::FieldGlob::new(cell))
        } else {
            CellPattern::IgnoringCase(Pattern::new(cell))
        }
    }

    /// The one text a value must equal when the cell has no `*` (lower-cased when case
    /// is ignored).
    fn whole(&self) -> Option<&str> {
        match self {
            CellPattern::IgnoringCase(pattern) => pattern.exact(),
            CellPattern::Exact(glob) => (glob.wildcards() == 0).then_some(glob.text()),
        }
    }

    /// A run every matching value holds (lower-cased when case is ignored).
    fn longest_piece(&self) -> Option<&str> {
        match self {
            CellPattern::IgnoringCase(pattern) => pattern.longest_literal(),
            CellPattern::Exact(glob) => glob.longest_piece(),
        }
    }

    /// Whether `value` (`lowered` once lower-cased) matches the cell.
    fn matches(&self, value: &str, lowered: &str) -> bool {
        match self {
            CellPattern::IgnoringCase(pattern) => pattern.matches_lowered(lowered),
            CellPattern::Exact(glob) => glob.matches(value),
        }
    }
}

impl Lookup {
    /// A lookup of `definition`'s settings whose rows are `table`, or are read from `csv`
    /// when first asked for.
    fn new(
        definition: Definition,
        csv: Option<PathBuf>,
        table: Option<(Vec<String>, Vec<Vec<String>>)>,
    ) -> Self {
        let mut match_types = HashMap::new();
        for part in definition.match_type.as_deref().unwrap_or_default().split(',') {
            let part = part.trim();
            let Some((kind, rest)) = part.split_once('(') else { continue };
            let field = rest.trim_end_matches(')').trim().to_owned();
            let kind = match kind.trim().to_ascii_uppercase().as_str() {
                "WILDCARD" => MatchType::Wildcard,
                "CIDR" => MatchType::Cidr,
                _ => MatchType::Exact,
            };
            match_types.insert(field, kind);
        }
        let lookup = Lookup {
            name: definition.name,
            filename: definition.filename,
            collection: definition.collection,
            case_sensitive: definition.case_sensitive_match.unwrap_or(true),
            min_matches: definition.min_matches.unwrap_or(0),
            max_matches: definition.max_matches.unwrap_or(DEFAULT_MAX_MATCHES).clamp(1, 1000),
            default_match: definition.default_match.unwrap_or_default(),
            match_types,
            csv,
            table: OnceLock::new(),
            wildcards: OnceLock::new(),
        };
        if let Some((columns, rows)) = table {
            let table = lookup.indexed(columns, rows);
            lookup.table.get_or_init(|| Ok(table));
        }
        lookup
    }

    /// The rows, read from the CSV file the first time they are asked for; why they cannot
    /// be read, every time. A search's compilation asks, so a table that does not read
    /// stops the searches that use it, and no other.
    pub fn table(&self) -> Result<&Table, &LookupError> {
        self.table
            .get_or_init(|| match &self.csv {
                Some(path) => {
                    let (columns, rows) = read_csv(path)?;
                    Ok(self.indexed(columns, rows))
                }
                None => Ok(Table::default()),
            })
            .as_ref()
    }

    /// Whether the CSV file reads, without keeping its rows unless they are kept already:
    /// a content check reads every table, and a run only those its searches use.
    pub fn check(&self) -> Result<(), LookupError> {
        match (self.table.get(), &self.csv) {
            (Some(Ok(_)), _) | (_, None) => Ok(()),
            (_, Some(path)) => read_csv(path).map(|_| ()),
        }
    }

    /// The table of `columns` and `rows`, its exact columns indexed.
    fn indexed(&self, columns: Vec<String>, rows: Vec<Vec<String>>) -> Table {
        let mut index = HashMap::new();
        for (column_index, column) in columns.iter().enumerate() {
            if self.match_type(column) != MatchType::Exact {
                continue;
            }
            let mut by_value: HashMap<String, Vec<usize>> = HashMap::new();
            for (row_index, row) in rows.iter().enumerate() {
                if let Some(value) = row.get(column_index) {
                    by_value.entry(self.key(value)).or_default().push(row_index);
                }
            }
            index.insert(column.clone(), by_value);
        }
        Table { columns, rows, index }
    }

    /// How `column` matches.
    pub fn match_type(&self, column: &str) -> MatchType {
        self.match_types.get(column).copied().unwrap_or(MatchType::Exact)
    }

    fn key(&self, value: &str) -> String {
        if self.case_sensitive { value.to_owned() } else { value.to_lowercase() }
    }

    fn wildcard_column(&self, table: &Table, column_index: usize) -> WildcardColumn {
        let mut column = WildcardColumn::default();
        for (row_index, row) in table.rows.iter().enumerate() {
            let Some(cell) = row.get(column_index) else { continue };
            let pattern = CellPattern::new(cell, self.case_sensitive);
            match pattern.whole() {
                Some(whole) => column.whole.entry(whole.to_owned()).or_default().push(row_index),
                None => column.patterns.push((row_index, pattern)),
            }
        }
        let pieces = column.patterns.iter().map(|(_, pattern)| pattern.longest_piece());
        column.index = crate::spl::PieceIndex::new(pieces);
        column
    }

    /// The rows whose wildcard cell in `column` matches one of `values`, ascending.
    fn wildcard_rows(&self, table: &Table, column: &str, values: &[&str]) -> Vec<usize> {
        let wildcards = self.wildcards.get_or_init(|| {
            let mut wildcards = HashMap::new();
            for (index, column) in table.columns.iter().enumerate() {
                // A name the CSV repeats is its first column, as everywhere else.
                if self.match_type(column) == MatchType::Wildcard && !wildcards.contains_key(column)
                {
                    wildcards.insert(column.clone(), self.wildcard_column(table, index));
                }
            }
            wildcards
        });
        let Some(column) = wildcards.get(column) else { return Vec::new() };
        let mut rows = Vec::new();
        for value in values {
            let lowered = crate::spl::lowercase(value);
            // A case-sensitive column's cells are as written, the others' lower-cased.
            let text = if self.case_sensitive { *value } else { lowered.as_ref() };
            if let Some(found) = column.whole.get(text) {
                rows.extend_from_slice(found);
            }
            let tried: Box<dyn Iterator<Item = usize>> = match &column.index {
                Some(index) => Box::new(index.candidates(text)),
                None => Box::new(0..column.patterns.len()),
            };
            for at in tried {
                let Some((row, pattern)) = column.patterns.get(at) else { continue };
                if pattern.matches(value, &lowered) {
                    rows.push(*row);
                }
            }
        }
        rows.sort_unstable();
        rows.dedup();
        rows
    }

    /// The rows (in file order, at most `max_matches`) whose `inputs` columns match the
    /// given values; each input may have several values (a multivalue field), any of which
    /// may match. A table that cannot be read matches nothing: [`Lookup::table`] says why,
    /// and a search is not compiled until it has.
    pub fn matches(&self, inputs: &[(&str, Vec<&str>)]) -> Vec<usize> {
        let Ok(table) = self.table() else { return Vec::new() };
        let mut candidates: Option<Vec<usize>> = None;
        for (column, values) in inputs {
            let Some(column_index) = table.column_index(column) else { return Vec::new() };
            let rows: Vec<usize> = match self.match_type(column) {
                MatchType::Exact => {
                    let mut rows: Vec<usize> = values
                        .iter()
                        .filter_map(|v| table.index.get(*column)?.get(&self.key(v)))
                        .flatten()
                        .copied()
                        .collect();
                    rows.sort_unstable();
                    rows.dedup();
                    rows
                }
                MatchType::Wildcard => self.wildcard_rows(table, column, values),
                MatchType::Cidr => (0..table.rows.len())
                    .filter(|&row| {
                        let Some(cell) = table.rows[row].get(column_index) else { return false };
                        values.iter().any(|v| crate::eval::cidr_match(cell, v))
                    })
                    .collect(),
            };
            candidates = Some(match candidates {
                None => rows,
                Some(previous) => {
                    previous.into_iter().filter(|r| rows.binary_search(r).is_ok()).collect()
                }
            });
        }
        let mut rows = candidates.unwrap_or_default();
        rows.truncate(self.max_matches);
        rows
    }

    /// The values of `column` in `rows`, padded with `default_match` up to `min_matches`
    /// ("it provides this `default_match` value one or more times until the `min_matches`
    /// threshold is reached"); `None` when there are none.
    pub fn output(&self, column: &str, rows: &[usize]) -> Option<FieldValue> {
        let table = self.table().ok()?;
        let index = table.column_index(column)?;
        let mut values: Vec<String> =
            rows.iter().filter_map(|&r| table.rows.get(r)?.get(index).cloned()).collect();
        while values.len() < self.min_matches {
            values.push(self.default_match.clone());
        }
        values.retain(|v| !v.is_empty());
        match values.len() {
            0 => None,
            1 => values.pop().map(FieldValue::Single),
            _ => Some(FieldValue::Multi(values)),
        }
    }
}

impl Table {
    fn column_index(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }
}

/// The lookups of a content tree, by definition name and by CSV file name.
#[derive(Debug, Default, Clone)]
pub struct Lookups {
    by_name: BTreeMap<String, Arc<Lookup>>,
}

impl Lookups {
    /// No lookups.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every lookup defined in `<root>/lookups/`: each `*.yml`, its CSV to be read when a
    /// search first needs it ([`Lookup::table`]). A tree without the folder has none. KV
    /// store lookups are empty tables.
    pub fn load(root: &Path) -> Result<Self, LookupError> {
        let dir = root.join("lookups");
        let mut lookups = Self::new();
        if !dir.is_dir() {
            return Ok(lookups);
        }
        let read_error = |path: &Path| {
            let path = path.to_owned();
            move |source| LookupError::Read { path, source }
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(read_error(&dir))?
            .map(|entry| entry.map(|e| e.path()).map_err(read_error(&dir)))
            .collect::<Result<_, _>>()?;
        files.sort();
        for path in
            files.iter().filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        {
            let definition: Definition = crate::content::load_yaml(path)?;
            let lookup = match &definition.filename {
                Some(filename) if definition.collection.is_none() => {
                    // Splunk looks the file up in the app's `lookups/` folder; a path would
                    // read whatever file the definition names.
                    if !is_plain_file_name(filename) {
                        return Err(LookupError::Definition {
                            path: path.clone(),
                            message: format!(
                                "filename `{filename}` is not a file name in lookups/"
                            ),
                        });
                    }
                    Lookup::new(definition.clone(), Some(dir.join(filename)), None)
                }
                _ => Lookup::new(definition.clone(), None, None),
            };
            lookups.insert(lookup);
        }
        Ok(lookups)
    }

    /// Adds a lookup built from rows (tests, and lookups a caller supplies).
    pub fn insert_table(
        &mut self,
        name: &str,
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
        match_type: Option<&str>,
        case_sensitive: bool,
    ) {
        let definition = Definition {
            name: name.to_owned(),
            filename: Some(format!("{name}.csv")),
            collection: None,
            match_type: match_type.map(str::to_owned),
            case_sensitive_match: Some(case_sensitive),
            min_matches: None,
            max_matches: None,
            default_match: None,
        };
        self.insert(Lookup::new(definition, None, Some((columns, rows))));
    }

    /// Makes `lookup` known as `name` too.
    pub(crate) fn add(&mut self, name: &str, lookup: &Arc<Lookup>) {
        self.by_name.insert(name.to_owned(), Arc::clone(lookup));
    }

    fn insert(&mut self, lookup: Lookup) {
        let lookup = Arc::new(lookup);
        if let Some(filename) = &lookup.filename {
            self.by_name.insert(filename.clone(), Arc::clone(&lookup));
        }
        self.by_name.insert(lookup.name.clone(), lookup);
    }

    /// The lookup `name`, a definition name or a CSV file name.
    pub fn get(&self, name: &str) -> Option<&Arc<Lookup>> {
        self.by_name.get(name)
    }

    /// Each lookup once, by definition name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Lookup>> {
        self.by_name.iter().filter(|(name, lookup)| **name == lookup.name).map(|(_, lookup)| lookup)
    }
}

/// A CSV file's header and rows, each row as wide as the header.
fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), LookupError> {
    read_csv_capped(path, MAX_LOOKUP_BYTES)
}

/// [`read_csv`] of a file of at most `cap` bytes.
fn read_csv_capped(path: &Path, cap: u64) -> Result<(Vec<String>, Vec<Vec<String>>), LookupError> {
    let file = std::fs::File::open(path)
        .map_err(|source| LookupError::Read { path: path.to_owned(), source })?;
    let size = file.metadata().map_or(0, |m| m.len());
    if size > cap {
        return Err(LookupError::Csv {
            path: path.to_owned(),
            line: 1,
            message: format!("larger than {cap} bytes"),
        });
    }
    // The size above is 0 for a device or a pipe: the read itself stops at the cap.
    let capped = Capped { inner: file, left: cap, cap };
    let mut reader =
        csv::ReaderBuilder::new().flexible(true).from_reader(std::io::BufReader::new(capped));
    let csv_error = |err: csv::Error| LookupError::Csv {
        path: path.to_owned(),
        line: err.position().map_or(1, csv::Position::line),
        message: err.to_string(),
    };
    let columns: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(|c| c.trim_start_matches('\u{feff}').to_owned())
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let mut row: Vec<String> = record.iter().map(str::to_owned).collect();
        row.resize(columns.len(), String::new());
        rows.push(row);
    }
    Ok((columns, rows))
}

/// Whether a definition's `filename` names a file directly in `lookups/`.
fn is_plain_file_name(name: &str) -> bool {
    let path = Path::new(name);
    !name.is_empty()
        && !name.contains(['/', '\\'])
        && path.components().count() == 1
        && matches!(path.components().next(), Some(std::path::Component::Normal(_)))
}

/// A reader that fails once more than `left` bytes were asked of it.
struct Capped<R> {
    inner: R,
    left: u64,
    cap: u64,
}

impl<R: std::io::Read> std::io::Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One byte more would be past the cap: a longer file is an error, not a prefix.
            let mut probe = [0];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("larger than {} bytes", self.cap),
                )),
            };
        }
        let room = usize::try_from(self.left).unwrap_or(usize::MAX).min(buf.len());
        let n = self.inner.read(&mut buf[..room])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(match_type: Option<&str>, case_sensitive: bool) -> Arc<Lookup> {
        let mut lookups = Lookups::new();
        lookups.insert_table(
            "t",
            vec!["name".into(), "net".into(), "out".into()],
            vec![
                vec!["cmd.exe".into(), "10.0.0.0/8".into(), "a".into()],
                vec!["*.ps1".into(), "192.168.0.0/16".into(), "b".into()],
                vec!["CMD.EXE".into(), "0.0.0.0/0".into(), "c".into()],
            ],
            match_type,
            case_sensitive,
        );
        Arc::clone(lookups.get("t").unwrap())
    }

    #[test]
    fn exact_matches_are_case_sensitive_unless_told() {
        assert_eq!(lookup(None, true).matches(&[("name", vec!["cmd.exe"])]), [0]);
        assert_eq!(lookup(None, false).matches(&[("name", vec!["cmd.exe"])]), [0, 2]);
        assert!(lookup(None, true).matches(&[("name", vec!["x.ps1"])]).is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::with_cases(256)
        })]

        /// A wildcard column matches as its cells tried one by one do: "`*` … matches any
        /// run of characters" (match_type WILDCARD), ignoring case only when
        /// `case_sensitive_match` is false; whole cells and patterns both, rows in file order.
        #[test]
        fn wildcard_cells_match_as_each_pattern_does(
            cells in proptest::collection::vec("[aAbB.*İǅ]{0,4}", 0..12),
            values in proptest::collection::vec("[aAbB.İǅi̇]{0,4}", 1..3),
            case_sensitive in proptest::prelude::any::<bool>(),
        ) {
            let mut lookups = Lookups::new();
            let rows = cells.iter().map(|cell| vec![cell.clone()]).collect();
            lookups.insert_table("w", vec!["c".into()], rows, Some("WILDCARD(c)"), case_sensitive);
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            let expected: Vec<usize> = (0..cells.len())
                .filter(|&row| {
                    values.iter().any(|value| {
                        if case_sensitive {
                            crate::spl::FieldGlob::new(&cells[row]).matches(value)
                        } else {
                            Pattern::new(&cells[row]).matches(value)
                        }
                    })
                })
                .take(DEFAULT_MAX_MATCHES)
                .collect();
            let got = lookups.get("w").unwrap().matches(&[("c", values.clone())]);
            proptest::prop_assert_eq!(got, expected, "{:?} {:?}", cells, values);
        }
    }

    #[test]
    fn a_repeated_wildcard_column_is_its_first() {
        let mut lookups = Lookups::new();
        let rows = vec![vec!["a*".into(), "x".into()]];
        lookups.insert_table("r", vec!["c".into(), "c".into()], rows, Some("WILDCARD(c)"), true);
        assert_eq!(lookups.get("r").unwrap().matches(&[("c", vec!["ab"])]), [0]);
    }

    #[test]
    fn wildcard_and_cidr_columns() {
        let wild = lookup(Some("WILDCARD(name), CIDR(net)"), true);
        assert_eq!(wild.matches(&[("name", vec!["run.ps1"])]), [1]);
        assert_eq!(wild.matches(&[("net", vec!["10.1.2.3"])]), [0, 2]);
        assert_eq!(wild.matches(&[("name", vec!["run.ps1"]), ("net", vec!["192.168.1.1"])]), [1]);
        let rows = wild.matches(&[("net", vec!["10.1.2.3"])]);
        assert_eq!(
            wild.output("out", &rows),
            Some(FieldValue::Multi(vec!["a".into(), "c".into()]))
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_lookup_file_with_no_size_stops_at_the_cap() {
        // A device or pipe reports size 0, so only the read itself can stop it.
        let error = read_csv_capped(Path::new("/dev/zero"), 4096).unwrap_err().to_string();
        assert!(error.contains("larger than 4096 bytes"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let exact = dir.path().join("exact.csv");
        std::fs::write(&exact, "a,b\n1,2\n").unwrap();
        assert_eq!(read_csv_capped(&exact, 8).unwrap().1, [vec!["1".to_owned(), "2".to_owned()]]);
        let error = read_csv_capped(&exact, 7).unwrap_err().to_string();
        assert!(error.contains("larger than 7 bytes"), "{error}");
    }
}
