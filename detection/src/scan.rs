//! Many searches over many event files, each file read once: every `Endpoint.Processes`
//! record is offered to every search as it is read, so a rule set costs one pass per file,
//! not one per rule. Results are those of [`Search::run`] over all the files' records in order.
//! This module opens the files it is given; it does not decide which files belong to a rule.

use std::path::{Path, PathBuf};

use crate::eval::{EvalError, ResultTable, SearchRun};
use crate::events::{EventError, EventReader, ReadReport};
use crate::spl::Search;

/// How files are read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanOptions {
    /// Any skipped input (an unreadable event, a text line) is an error, not a counted skip.
    pub strict: bool,
}

/// What a scan read and found.
#[derive(Debug)]
pub struct ScanOutcome {
    /// One result table per search, in the order the searches were given.
    pub tables: Vec<ResultTable>,
    /// What was read from each file, in the order the files were given.
    pub reports: Vec<(PathBuf, ReadReport)>,
}

/// Why a scan stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A file could not be read (or, when strict, held input that had to be skipped).
    #[error(transparent)]
    Events(#[from] EventError),
    /// A search could not take a record, e.g. too many `tstats` groups.
    #[error("{path}: search {index}", path = path.display())]
    Eval {
        /// The file being read.
        path: PathBuf,
        /// The position of the search in the list given.
        index: usize,
        /// The evaluator's reason.
        #[source]
        source: EvalError,
    },
}

/// Runs every search over the records of every file, reading each file once.
pub fn scan_files(
    searches: &[&Search],
    paths: &[PathBuf],
    options: ScanOptions,
) -> Result<ScanOutcome, ScanError> {
    let mut runs: Vec<SearchRun<'_>> = searches.iter().map(|search| search.start()).collect();
    let mut reports = Vec::with_capacity(paths.len());
    for path in paths {
        let report = scan_file(&mut runs, path, options)?;
        reports.push((path.clone(), report));
    }
    Ok(ScanOutcome { tables: runs.into_iter().map(SearchRun::finish).collect(), reports })
}

fn scan_file(
    runs: &mut [SearchRun<'_>],
    path: &Path,
    options: ScanOptions,
) -> Result<ReadReport, ScanError> {
    let mut reader = EventReader::open(path)?.strict(options.strict);
    for record in reader.processes() {
        let record = record?;
        for (index, run) in runs.iter_mut().enumerate() {
            run.add(&record).map_err(|source| ScanError::Eval {
                path: path.to_path_buf(),
                index,
                source,
            })?;
        }
    }
    Ok(reader.into_report())
}
