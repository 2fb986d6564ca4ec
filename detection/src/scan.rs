//! Many searches over many event files, each file read once: every `Endpoint.Processes`
//! record is offered to every search as it is read, so a rule set costs one pass per file,
//! not one per rule. Results are those of [`Search::run`] over all the files' records in order.
//! This module opens the files it is given; it does not decide which files belong to a rule.
//!
//! # Fast path
//!
//! For an XML export (plain or gzip) and a non-strict scan, the searches' [`Prefilter`] picks
//! candidate events by a case-folded literal search, and only those are split, parsed and
//! mapped; rows are the same as with [`ScanOptions::prefilter`] off. A large plain file is
//! cut at an event end into two halves searched on two threads; records reach the searches
//! in file order. Strict scans, JSON and EVTX read every event (JSON-wrapped XML still
//! prefilters each event's bytes).

mod candidates;
#[doc(hidden)]
pub mod synthetic;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::datamodel::{self, NodeRecord};
use crate::eval::{EvalError, ResultTable, SearchRun};
use crate::events::{
    Event, EventError, EventReader, InputFormat, Location, MAX_EVENT_BYTES, ReadReport, Skip,
    parse_xml_event,
};
use crate::prefilter::Prefilter;
use crate::spl::Search;
use candidates::{CandidateScanner, Found};

/// How files are read.
#[derive(Debug, Clone, Copy)]
pub struct ScanOptions {
    /// Any skipped input (an unreadable event, a text line) is an error, not a counted skip.
    pub strict: bool,
    /// Parse only the XML export events that hold the literals some search needs (see
    /// [`Prefilter`]); rows are the same either way. On by default.
    pub prefilter: bool,
    /// Search a large plain XML export as two halves on two threads. On by default.
    pub parallel: bool,
    /// Bytes read at a time by the candidate search; 0 for the default. Tests make it tiny
    /// so that literals straddle reads.
    #[doc(hidden)]
    pub read_block: usize,
    /// Smallest plain export searched as two halves; 0 for the default. Tests lower it.
    #[doc(hidden)]
    pub split_at_least: u64,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            strict: false,
            prefilter: true,
            parallel: true,
            read_block: 0,
            split_at_least: 0,
        }
    }
}

/// Bytes read at a time by the candidate search unless [`ScanOptions::read_block`] says.
const DEFAULT_READ_BLOCK: usize = 1024 * 1024;
/// Files smaller than this are searched on one thread: a second would not pay.
const PARALLEL_MIN_BYTES: u64 = 16 * 1024 * 1024;
/// Items per message from a search thread, and messages in flight: bounds memory when the
/// searches select many records and the second half waits for the first.
const BATCH_ITEMS: usize = 256;
const BATCHES_IN_FLIGHT: usize = 16;

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
    let prefilter = if options.prefilter { Prefilter::for_searches(searches) } else { None };
    let mut feed = Feed {
        searches,
        runs: searches.iter().map(|search| search.start()).collect(),
        path: PathBuf::new(),
    };
    let mut reports = Vec::with_capacity(paths.len());
    for path in paths {
        path.clone_into(&mut feed.path);
        let report = scan_file(&mut feed, options, prefilter.as_ref())?;
        reports.push((path.clone(), report));
    }
    let tables = feed
        .runs
        .into_iter()
        .enumerate()
        .map(|(index, run)| {
            run.finish().map_err(|source| ScanError::Eval { path: PathBuf::new(), index, source })
        })
        .collect::<Result<_, _>>()?;
    Ok(ScanOutcome { tables, reports })
}

/// The runs being fed, and what an error about them names.
struct Feed<'s> {
    searches: &'s [&'s Search],
    runs: Vec<SearchRun<'s>>,
    path: PathBuf,
}

impl Feed<'_> {
    fn add(&mut self, record: &NodeRecord) -> Result<(), ScanError> {
        for (index, run) in self.runs.iter_mut().enumerate() {
            run.add(record).map_err(|source| ScanError::Eval {
                path: self.path.clone(),
                index,
                source,
            })?;
        }
        Ok(())
    }
}

fn scan_file(
    feed: &mut Feed<'_>,
    options: ScanOptions,
    prefilter: Option<&Prefilter>,
) -> Result<ReadReport, ScanError> {
    let mut reader = EventReader::open(&feed.path)?.strict(options.strict);
    let format = reader.report().format;
    // The fast paths search the file's own bytes: only for a UTF-8 export that starts like
    // one (other text, read by the streaming reader, gets each piece classified).
    let plain = reader.plain_export_bytes();
    if let Some(prefilter) = prefilter
        && !options.strict
        && plain
    {
        return scan_candidates(feed, options, prefilter, reader.into_report());
    }
    if plain && !reader.report().gzip && options.parallel {
        let source: Arc<str> = Arc::from(reader.report().source.as_str());
        let len = std::fs::metadata(&feed.path).map_or(0, |meta| meta.len());
        if len >= split_at_least(options)
            && let Some(split) = split_point(&feed.path, &source, len)?
        {
            let mut report = reader.into_report();
            let mode = Mode::Full { prefilter, strict: options.strict };
            scan_halves(feed, mode, &source, (split, len), &mut report)?;
            return Ok(report);
        }
    }
    // Only XML text has raw bytes a rule's values are verbatim in; other formats would only
    // gain a note saying so.
    let xml = matches!(format, Some(InputFormat::XmlExport | InputFormat::XmlExportInJsonString));
    if let Some(prefilter) = prefilter.filter(|_| xml) {
        let prefilter = prefilter.clone();
        reader = reader.prefilter(move |raw| prefilter.may_match(raw));
    }
    for record in reader.processes() {
        feed.add(&record?)?;
    }
    Ok(reader.into_report())
}

fn split_at_least(options: ScanOptions) -> u64 {
    if options.split_at_least == 0 { PARALLEL_MIN_BYTES } else { options.split_at_least }
}

/// How each half of a file is read.
#[derive(Clone, Copy)]
enum Mode<'p> {
    /// Candidates only (the fast path).
    Candidates { prefilter: &'p Prefilter, block: usize },
    /// Every event, or every event the prefilter keeps, by the streaming reader.
    Full { prefilter: Option<&'p Prefilter>, strict: bool },
}

/// The fast path over an XML export: candidates only, on two threads when it pays.
fn scan_candidates(
    feed: &mut Feed<'_>,
    options: ScanOptions,
    prefilter: &Prefilter,
    mut report: ReadReport,
) -> Result<ReadReport, ScanError> {
    let source: Arc<str> = Arc::from(report.source.as_str());
    let block = if options.read_block == 0 { DEFAULT_READ_BLOCK } else { options.read_block };
    let file = open(&feed.path, &source)?;
    let len = file.metadata().map_or(0, |meta| meta.len());
    report.notes.push(
        "prefilter: only events holding every literal of some rule were parsed and counted; \
         other events and the text between events were passed over unread"
            .to_owned(),
    );
    let split = if report.gzip || !options.parallel || len < split_at_least(options) {
        None
    } else {
        split_point(&feed.path, &source, len)?
    };
    if let Some(split) = split {
        let mode = Mode::Candidates { prefilter, block };
        scan_halves(feed, mode, &source, (split, len), &mut report)?;
        return Ok(report);
    }
    let input: Box<dyn Read> = if report.gzip {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(file)
    };
    let mut scanner = CandidateScanner::new(input, prefilter, Arc::clone(&source), 0, block);
    let mut failed = None;
    let read = scanner.run(&mut |found| {
        let step = match found {
            Found::Event(bytes, offset) => candidate(bytes, offset, &source, &mut report),
            Found::Skip(skip) => Candidate::Skip(skip),
        };
        let outcome = match step {
            Candidate::Record(record) => feed.add(&record),
            Candidate::Skip(skip) => {
                add_skip(&mut report, skip);
                Ok(())
            }
            Candidate::Nothing => Ok(()),
        };
        outcome.map_err(|err| failed = Some(err)).is_ok()
    });
    if let Some(err) = failed {
        return Err(err);
    }
    read.map_err(|source_err| read_error(&source, &mut report, source_err))?;
    Ok(report)
}

fn open(path: &Path, source: &Arc<str>) -> Result<File, EventError> {
    File::open(path).map_err(|err| EventError::Open { path: source.to_string(), source: err })
}

fn read_error(source: &Arc<str>, report: &mut ReadReport, err: io::Error) -> EventError {
    let location =
        Location { source: Arc::clone(source), line: None, byte_offset: None, record: None };
    let error = EventError::Read { location, source: err };
    report.failure = Some(error.to_string());
    error
}

/// What one candidate event gives.
enum Candidate {
    Record(NodeRecord),
    Skip(Skip),
    Nothing,
}

/// Parses and maps a candidate, counting it in `report` as the streaming reader would.
fn candidate(bytes: &[u8], offset: u64, source: &Arc<str>, report: &mut ReadReport) -> Candidate {
    let location = Location {
        source: Arc::clone(source),
        line: None,
        byte_offset: Some(offset),
        record: None,
    };
    match parse_xml_event(bytes, location.clone()) {
        Ok(event) => {
            count(&mut report.events, &event);
            datamodel::processes_record(&event).map_or(Candidate::Nothing, Candidate::Record)
        }
        Err(reason) => Candidate::Skip(Skip { location, reason }),
    }
}

type EventCounts = BTreeMap<String, BTreeMap<u32, u64>>;

fn count(events: &mut EventCounts, event: &Event) {
    if let Some(ids) = events.get_mut(event.channel.as_str()) {
        *ids.entry(event.event_id).or_default() += 1;
    } else {
        events.insert(event.channel.clone(), BTreeMap::from([(event.event_id, 1)]));
    }
}

fn add_skip(report: &mut ReadReport, skip: Skip) {
    report.skipped_total += 1;
    if report.skipped.len() < ReadReport::MAX_LISTED_SKIPS {
        report.skipped.push(skip);
    }
}

/// Where to cut a plain export in two: just after the first `</Event>` from the middle on,
/// a point where the streaming reader always starts afresh. `None` when there is none within
/// [`MAX_EVENT_BYTES`].
fn split_point(path: &Path, source: &Arc<str>, len: u64) -> Result<Option<u64>, EventError> {
    let middle = len / 2;
    let failed = |err| {
        let location = Location {
            source: Arc::clone(source),
            line: None,
            byte_offset: Some(middle),
            record: None,
        };
        EventError::Read { location, source: err }
    };
    let mut file = open(path, source)?;
    file.seek(SeekFrom::Start(middle)).map_err(failed)?;
    let mut window = Vec::with_capacity(64 * 1024);
    let finder = memchr::memmem::Finder::new(b"</Event>");
    while window.len() < MAX_EVENT_BYTES {
        let searched = window.len().saturating_sub(7);
        let read = (&mut file).take(64 * 1024).read_to_end(&mut window).map_err(failed)?;
        if let Some(at) = window.get(searched..).and_then(|rest| finder.find(rest)) {
            return Ok(Some(middle + (searched + at + 8) as u64));
        }
        if read == 0 {
            break;
        }
    }
    Ok(None)
}

/// What a half's thread sends, in file order.
enum Item {
    Record(NodeRecord),
    Skip(Skip),
    /// The half is done: what it read.
    Done(ReadReport),
    Failed(EventError),
}

/// Both halves searched at once; the first half's items are fed before the second's.
fn scan_halves(
    feed: &mut Feed<'_>,
    mode: Mode<'_>,
    source: &Arc<str>,
    (split, len): (u64, u64),
    report: &mut ReadReport,
) -> Result<(), ScanError> {
    let path = feed.path.clone();
    let searches = feed.searches;
    std::thread::scope(|scope| {
        let mut receivers: Vec<Receiver<Vec<Item>>> = Vec::new();
        for (start, end) in [(0, split), (split, len)] {
            let (sender, receiver) = sync_channel(BATCHES_IN_FLIGHT);
            receivers.push(receiver);
            let path = path.as_path();
            scope.spawn(move || match mode {
                Mode::Candidates { prefilter, block } => {
                    search_half(path, source, prefilter, searches, block, (start, end), &sender);
                }
                Mode::Full { prefilter, strict } => {
                    read_half(path, source, (prefilter, strict), searches, (start, end), &sender);
                }
            });
        }
        for receiver in receivers {
            for batch in receiver {
                for item in batch {
                    match item {
                        Item::Record(record) => feed.add(&record)?,
                        Item::Skip(skip) => add_skip(report, skip),
                        Item::Done(half) => merge(report, half),
                        Item::Failed(err) => {
                            report.failure = Some(err.to_string());
                            return Err(err.into());
                        }
                    }
                }
            }
        }
        Ok(())
    })
}

/// One half's search, on its own thread: candidates parsed and mapped, and only records some
/// search selects sent on (the others change no result).
fn search_half(
    path: &Path,
    source: &Arc<str>,
    prefilter: &Prefilter,
    searches: &[&Search],
    block: usize,
    (start, end): (u64, u64),
    sender: &SyncSender<Vec<Item>>,
) {
    let mut file = match open(path, source) {
        Ok(file) => file,
        Err(err) => {
            let _ = sender.send(vec![Item::Failed(err)]);
            return;
        }
    };
    if let Err(err) = file.seek(SeekFrom::Start(start)) {
        let location = Location {
            source: Arc::clone(source),
            line: None,
            byte_offset: Some(start),
            record: None,
        };
        let _ = sender.send(vec![Item::Failed(EventError::Read { location, source: err })]);
        return;
    }
    let mut counts = ReadReport::default();
    let mut batch = Vec::with_capacity(BATCH_ITEMS);
    let mut scanner =
        CandidateScanner::new(file.take(end - start), prefilter, Arc::clone(source), start, block);
    let read = scanner.run(&mut |found| {
        let item = match found {
            Found::Event(bytes, offset) => match candidate(bytes, offset, source, &mut counts) {
                Candidate::Record(record)
                    if searches.iter().any(|search| search.selects(&record)) =>
                {
                    Item::Record(record)
                }
                Candidate::Record(_) | Candidate::Nothing => return true,
                Candidate::Skip(skip) => Item::Skip(skip),
            },
            Found::Skip(skip) => Item::Skip(skip),
        };
        batch.push(item);
        if batch.len() >= BATCH_ITEMS {
            return sender.send(std::mem::take(&mut batch)).is_ok();
        }
        true
    });
    if let Err(err) = read {
        let location =
            Location { source: Arc::clone(source), line: None, byte_offset: None, record: None };
        batch.push(Item::Failed(EventError::Read { location, source: err }));
    }
    batch.push(Item::Done(counts));
    let _ = sender.send(batch);
}

/// One half read by the streaming reader, on its own thread; only records some search
/// selects are sent on. Locations count from the half's start in the whole file.
fn read_half(
    path: &Path,
    source: &Arc<str>,
    (prefilter, strict): (Option<&Prefilter>, bool),
    searches: &[&Search],
    (start, end): (u64, u64),
    sender: &SyncSender<Vec<Item>>,
) {
    let failed = |err: io::Error| {
        let location = Location {
            source: Arc::clone(source),
            line: None,
            byte_offset: Some(start),
            record: None,
        };
        vec![Item::Failed(EventError::Read { location, source: err })]
    };
    let opened = open(path, source).map_err(|err| vec![Item::Failed(err)]).and_then(|mut file| {
        let line = if start == 0 { 1 } else { lines_before(&mut file, start).map_err(failed)? };
        file.seek(SeekFrom::Start(start)).map_err(failed)?;
        Ok((file, line))
    });
    let (file, line) = match opened {
        Ok(opened) => opened,
        Err(items) => {
            let _ = sender.send(items);
            return;
        }
    };
    let mut reader =
        EventReader::xml_export_part(source, file.take(end - start), start, line).strict(strict);
    if let Some(prefilter) = prefilter {
        let prefilter = prefilter.clone();
        reader = reader.prefilter(move |raw| prefilter.may_match(raw));
    }
    let mut batch = Vec::with_capacity(BATCH_ITEMS);
    for record in reader.processes() {
        let item = match record {
            Ok(record) if searches.iter().any(|search| search.selects(&record)) => {
                Item::Record(record)
            }
            Ok(_) => continue,
            Err(err) => {
                batch.push(Item::Failed(err));
                let _ = sender.send(batch);
                return;
            }
        };
        batch.push(item);
        if batch.len() >= BATCH_ITEMS && sender.send(std::mem::take(&mut batch)).is_err() {
            return;
        }
    }
    batch.push(Item::Done(reader.into_report()));
    let _ = sender.send(batch);
}

/// 1 + the newlines in the first `len` bytes of `file`: the line number at `len`.
fn lines_before(file: &mut File, len: u64) -> io::Result<u64> {
    let mut buffer = vec![0; 1 << 20];
    let mut lines = 1;
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buffer.len());
        let read = file.read(buffer.get_mut(..want).unwrap_or_default())?;
        if read == 0 {
            break;
        }
        lines += memchr::memchr_iter(b'\n', buffer.get(..read).unwrap_or_default()).count() as u64;
        left -= read as u64;
    }
    Ok(lines)
}

/// Adds what a half read to the file's report, the first half first.
fn merge(report: &mut ReadReport, half: ReadReport) {
    for (channel, ids) in half.events {
        let merged = report.events.entry(channel).or_default();
        for (id, n) in ids {
            *merged.entry(id).or_default() += n;
        }
    }
    report.prefiltered += half.prefiltered;
    report.skipped_total += half.skipped_total;
    let room = ReadReport::MAX_LISTED_SKIPS.saturating_sub(report.skipped.len());
    report.skipped.extend(half.skipped.into_iter().take(room));
    report.notes.extend(half.notes);
    if report.failure.is_none() {
        report.failure = half.failure;
    }
}
