//! Many searches over many event files, each file read once: every event is offered to
//! every search as it is read — as its data model record to `tstats` searches, as itself to
//! searches over raw events — so a rule set costs one pass per file, not one per rule.
//! Results are those of running each search over all the files' events in order. This module
//! opens the files it is given; it does not decide which files belong to a rule, but it
//! takes the `source` and `sourcetype` a rule test gives a file ([`ScanInput`]).
//!
//! # Fast path
//!
//! For an XML export (plain or gzip) and a non-strict scan, the searches' [`Prefilter`] picks
//! candidate events by a case-folded literal search, and only those are split, parsed and
//! mapped; rows are the same as with [`ScanOptions::prefilter`] off. A large plain file is
//! cut at event ends into pieces of a few MiB that two threads read in turn, a few pieces
//! ahead of this thread, which feeds them to the searches; several files are read two at a
//! time, each by one thread, and a large EVTX file has its chunks decoded on two threads.
//! Events reach the searches in file order either way. Strict scans, JSON and EVTX take no
//! candidate search: they read every event, and test its bytes before parsing it where the
//! format has text to test (XML wrapped in JSON, the XML an EVTX record is rendered as). The
//! candidate search jumps over the text between XML events, where classic text events are:
//! when a search reads raw events, when the file holds a classic event that could map to a
//! record, or when it is gzip (see `may_hold_classic_records`), the streaming reader reads
//! it instead and prefilters each event, XML or text. When no search has literals but every
//! one reads data model records, the streaming reader still passes over the events whose
//! bytes show a code no search's dataset comes from ([`EventCodes`]).
//!
//! # Memory
//!
//! A `tstats` keeps one group per distinct `by` combination, and the broad ones of a
//! library keep one per process launch, so the groups grow with the input. Every few hundred
//! records the scan adds up what its groups hold; past [`ScanOptions::group_memory`] it
//! writes the largest tables, sorted, to one unnamed temporary file and starts them afresh.
//! Finishing a search merges its pieces back, group by group, into the rows it would have
//! made in memory.

mod candidates;
mod select;
#[doc(hidden)]
pub mod synthetic;

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use crate::datamodel::{self, NodeRecord};
use crate::eval::spill::SpillFile;
use crate::eval::{EvalError, RecordKeys, ResultTable, SearchRun, share_groups, share_record_keys};
use crate::events::{
    Event, EventError, EventReader, EvtxChunks, InputFormat, Location, MAX_EVENT_BYTES, ReadReport,
    Skip, parse_xml_event,
};
use crate::fields::{Origin, SplunkEvent};
use crate::prefilter::{Anchors, EventCodes, Prefilter};
use crate::spl::Search;
use candidates::{CandidateScanner, Found, file_anchors};
use select::Selector;

/// How files are read.
#[derive(Debug, Clone, Copy)]
#[allow(clippy::struct_excessive_bools)] // Independent switches.
pub struct ScanOptions {
    /// Any skipped input (an unreadable event, a text line) is an error, not a counted skip.
    pub strict: bool,
    /// Parse only the XML export events that hold the literals some search needs (see
    /// [`Prefilter`]), and ask only the searches whose `where` values a record holds
    /// whether they select it (see `scan::select`); rows are the same either way. On by
    /// default.
    pub prefilter: bool,
    /// Give a search over raw events only the fields of an event its commands name, when
    /// they say (see [`crate::eval::SearchRun::every_field`]); rows are the same either way.
    /// On by default.
    pub named_fields_only: bool,
    /// Read a large plain XML export in pieces, and a large EVTX file's chunks, on two
    /// threads, and several files two at a time. On by default.
    pub parallel: bool,
    /// Drop a `tstats` group before it becomes a row when the inner `join` after it would
    /// drop the row (see [`crate::eval::SearchRun::unpruned`]); rows are the same either
    /// way. On by default.
    pub prune_joins: bool,
    /// Make a record's group key once for all the `tstats` that group alike (the same `by`
    /// fields, span and fill value), not once per search; rows are the same either way. On
    /// by default.
    pub share_keys: bool,
    /// Build the groups of the `tstats` that build the very same ones (the same records,
    /// keys and aggregates; only column names differ) once, for all of them, not once per
    /// search; rows are the same either way. On by default.
    pub share_groups: bool,
    /// Make a finished `tstats`'s rows a batch at a time, each batch going through the
    /// commands after it that work row by row before the next is made (see
    /// [`crate::eval::SearchRun::whole`]); rows are the same either way. On by default.
    pub finish_in_batches: bool,
    /// About how many bytes the `tstats` groups of the scan may hold in memory. Past it,
    /// the largest tables are written to temporary files (unnamed, gone when the scan ends)
    /// and merged back when the searches finish: the same rows, read back from disk, as
    /// Splunk's `stats` processor "spills data from RAM to disk" past `max_mem_usage_mb`
    /// (200 MB by default, for one search; this budget is for every search of the scan,
    /// [`DEFAULT_GROUP_MEMORY`] by default). A table whose aggregates sum floating-point
    /// numbers stays in memory. `usize::MAX` never spills.
    pub group_memory: usize,
    /// Bytes read at a time by the candidate search; 0 for the default. Tests make it tiny
    /// so that literals straddle reads.
    #[doc(hidden)]
    pub read_block: usize,
    /// Smallest plain export read in pieces (of half this each), and smallest EVTX file
    /// whose chunks are decoded on two threads; 0 for the defaults. Tests and the gate's
    /// check of the shortcuts lower it.
    #[doc(hidden)]
    pub split_at_least: u64,
    /// Records offered between two looks at the groups' memory; 0 for the default. Tests
    /// lower it, with a budget of 0, so that groups are spilled every few records.
    #[doc(hidden)]
    pub memory_check_every: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            strict: false,
            prefilter: true,
            named_fields_only: true,
            parallel: true,
            prune_joins: true,
            share_keys: true,
            share_groups: true,
            finish_in_batches: true,
            group_memory: DEFAULT_GROUP_MEMORY,
            read_block: 0,
            split_at_least: 0,
            memory_check_every: 0,
        }
    }
}

/// What a report read by the candidate search says of it.
const CANDIDATES_NOTE: &str = "prefilter: only events holding every literal of some rule were \
                               parsed and counted; other events and the text between events \
                               were passed over unread";

/// [`ScanOptions::group_memory`] by default. Splunk's `max_mem_usage_mb` is 200 MB for
/// each search; a scan runs hundreds together. Spilling past 16 MiB cost the rule library
/// no time over a 2 GiB export (26.8 s against 28.5 s past 200 MiB) and kept its peak at
/// 91 MiB against 302 MiB.
pub const DEFAULT_GROUP_MEMORY: usize = 16 * 1024 * 1024;
/// Records offered between two looks at the groups' memory: a look walks every `tstats`
/// of the scan, and a record adds at most one group to each.
const RECORDS_PER_MEMORY_CHECK: usize = 256;

/// Bytes read at a time by the candidate search unless [`ScanOptions::read_block`] says.
const DEFAULT_READ_BLOCK: usize = 1024 * 1024;
/// Files smaller than this are searched on one thread: a second would not pay.
const PARALLEL_MIN_BYTES: u64 = 16 * 1024 * 1024;
/// EVTX files at least this large have their chunks decoded on two threads: sixteen chunks,
/// whose decoding takes far longer than starting a thread.
const EVTX_PARALLEL_MIN_BYTES: u64 = 1024 * 1024;
/// Items per message from a search thread.
const BATCH_ITEMS: usize = 256;
/// Messages in flight from the reader of a piece of a file (see [`scan_pieces`]) or of a
/// whole file (see [`scan_many`]): 2,048 items, more than a piece of 8 MiB of process
/// launches gives (about 1,600), so that the reader of the next piece or file need not wait
/// for this one to be fed, and few enough to bound memory when the searches select many
/// records.
const BATCHES_IN_FLIGHT: usize = 8;
/// Pieces of a file being read by the streaming reader, at most: the one being fed and the
/// two after it. With one after it, a reader done early waited while the main thread
/// caught up with the other, and a content tree's run took 6% longer than with two halves;
/// eight, each with room for all its items, let a search over raw events peak at three
/// times the memory (68 MiB against 21 MiB over the 256 MiB bench export) for no time
/// saved. Three hold 34 MiB there.
const PIECES_AHEAD: usize = 3;
/// The same for the candidate search, which sends few items: a reader done with its piece
/// starts the next without waiting for this thread to feed the one before, which with two
/// ahead cost the comsvcs rule a twentieth of its time.
const CANDIDATE_PIECES_AHEAD: usize = 4;

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
    /// A search could not take a record (e.g. too many `tstats` groups), or failed as it
    /// finished.
    #[error("{}search {index}", file_prefix(path))]
    Eval {
        /// The file being read; empty when the search failed as it finished, after every
        /// file was read.
        path: PathBuf,
        /// The position of the search in the list given.
        index: usize,
        /// The evaluator's reason.
        #[source]
        source: EvalError,
    },
}

/// `path` and a colon, or nothing for the empty path of an error raised after reading.
fn file_prefix(path: &Path) -> String {
    if path.as_os_str().is_empty() { String::new() } else { format!("{}: ", path.display()) }
}

/// A file to read, and where its events come from as Splunk would index them.
#[derive(Debug, Clone)]
pub struct ScanInput {
    /// The file.
    pub path: PathBuf,
    /// `source` and `sourcetype` given for it (a rule test's `attack_data` entry), or derived
    /// from each event.
    pub origin: Origin,
}

impl ScanInput {
    /// A file whose events' `source` and `sourcetype` are derived from each event.
    pub fn derived(path: PathBuf) -> Self {
        ScanInput { path, origin: Origin::derived() }
    }
}

/// Runs every search over the events of every file, reading each file once; `source` and
/// `sourcetype` are derived from each event.
pub fn scan_files(
    searches: &[&Search],
    paths: &[PathBuf],
    options: ScanOptions,
) -> Result<ScanOutcome, ScanError> {
    let inputs: Vec<ScanInput> = paths.iter().cloned().map(ScanInput::derived).collect();
    scan_inputs(searches, &inputs, options)
}

/// Runs every search over the events of every input, reading each file once.
pub fn scan_inputs(
    searches: &[&Search],
    inputs: &[ScanInput],
    options: ScanOptions,
) -> Result<ScanOutcome, ScanError> {
    let tables: Vec<std::sync::Mutex<Option<ResultTable>>> =
        searches.iter().map(|_| std::sync::Mutex::default()).collect();
    let reports = scan_inputs_each(searches, inputs, options, &|index, rows| {
        let Some(table) = tables.get(index) else { return };
        let mut table = table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::eval::gather(&mut table, rows);
    })?;
    let tables = tables
        .into_iter()
        .map(|table| {
            table
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .unwrap_or_default()
        })
        .collect();
    Ok(ScanOutcome { tables, reports })
}

/// [`scan_inputs`], each search's rows handed to `each` as they are made instead of
/// returned, so that a library's results need not all be held at once: `each(index, rows)`
/// with the search's place in `searches` and a piece of its table (see
/// [`SearchRun::finish_each`]). One search's pieces come in order, and put together are
/// the table `scan_inputs` returns; two threads finish searches, so different searches'
/// pieces interleave. On an error, the pieces already given are not a result. Returns what
/// was read from each file, in the order the files were given.
pub fn scan_inputs_each(
    searches: &[&Search],
    inputs: &[ScanInput],
    options: ScanOptions,
    each: &(dyn Fn(usize, ResultTable) + Sync),
) -> Result<Vec<(PathBuf, ReadReport)>, ScanError> {
    let prefilter = if options.prefilter { Prefilter::for_searches(searches) } else { None };
    let codes = if options.prefilter { EventCodes::for_searches(searches) } else { None };
    let rendered = prefilter.as_ref().and_then(Prefilter::for_rendered_xml);
    let tests = RawTests {
        literals: prefilter.as_ref(),
        rendered: rendered.as_ref(),
        codes: codes.as_ref(),
    };
    let selector = Selector::new(searches, options.prefilter);
    let mut feed = Feed {
        selector: &selector,
        any_reads_events: !selector.event_readers().is_empty(),
        runs: searches
            .iter()
            .map(|search| {
                let run = search.start();
                let run = if options.prune_joins { run } else { run.unpruned() };
                let run = if options.named_fields_only { run } else { run.every_field() };
                if options.finish_in_batches { run } else { run.whole() }
            })
            .collect(),
        path: PathBuf::new(),
        origin: Origin::derived(),
        keys: RecordKeys::default(),
        group_memory: options.group_memory,
        check_every: match options.memory_check_every {
            0 => RECORDS_PER_MEMORY_CHECK,
            every => every,
        },
        unchecked: 0,
        spill: None,
    };
    if options.share_keys {
        share_record_keys(&mut feed.runs, &mut feed.keys);
    }
    if options.share_groups {
        share_groups(&mut feed.runs);
    }
    let mut reports = Vec::with_capacity(inputs.len());
    if options.parallel && inputs.len() > 1 {
        scan_many(&mut feed, inputs, options, tests, &mut reports)?;
    } else {
        for input in inputs {
            input.path.clone_into(&mut feed.path);
            input.origin.clone_into(&mut feed.origin);
            let report = scan_file(&mut feed, options, tests)?;
            reports.push((input.path.clone(), report));
        }
    }
    finish_runs(feed.runs, options.parallel, each)?;
    Ok(reports)
}

/// Finishes every run: the rest of each pipeline, over its groups or events, its rows
/// handed to `each`. Runs are independent once the input is read, so with `parallel` two
/// threads take them from one queue (a rule library spends a third of its time here), those
/// holding the most rows first: a large run taken last would leave the other thread idle.
/// The error is that of the first run, by index, that fails, as when they are finished one
/// after another.
fn finish_runs(
    runs: Vec<SearchRun<'_>>,
    parallel: bool,
    each: &(dyn Fn(usize, ResultTable) + Sync),
) -> Result<(), ScanError> {
    let mut runs: Vec<(usize, SearchRun<'_>)> = runs.into_iter().enumerate().collect();
    runs.sort_by_cached_key(|(_, run)| std::cmp::Reverse(run.held()));
    let parallel = parallel && runs.len() > 1;
    let queue = std::sync::Mutex::new(runs.into_iter());
    let finish = || -> Vec<(usize, EvalError)> {
        let mut failed = Vec::new();
        loop {
            let next = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next();
            let Some((index, run)) = next else { return failed };
            if let Err(err) = run.finish_each(&mut |rows| each(index, rows)) {
                failed.push((index, err));
            }
        }
    };
    let failed = if parallel {
        std::thread::scope(|scope| {
            let other = scope.spawn(finish);
            let mut failed = finish();
            match other.join() {
                Ok(more) => failed.extend(more),
                Err(panic) => std::panic::resume_unwind(panic),
            }
            failed
        })
    } else {
        finish()
    };
    match failed.into_iter().min_by_key(|(index, _)| *index) {
        Some((index, source)) => Err(ScanError::Eval { path: PathBuf::new(), index, source }),
        None => Ok(()),
    }
}

/// The runs being fed, and what an error about them names.
struct Feed<'s> {
    selector: &'s Selector<'s>,
    any_reads_events: bool,
    runs: Vec<SearchRun<'s>>,
    path: PathBuf,
    origin: Origin,
    /// The group keys the searches made of the record being offered.
    keys: RecordKeys,
    /// See [`ScanOptions::group_memory`].
    group_memory: usize,
    /// Records offered between two looks at the groups' memory, and since the last.
    check_every: usize,
    unchecked: usize,
    /// Where groups are spilled, once some are.
    spill: Option<SpillFile>,
}

impl Feed<'_> {
    /// Offers one event: its record to every search that selects it, itself to the
    /// searches over raw events that read it.
    fn add_event(&mut self, event: &Event) -> Result<(), ScanError> {
        let view = SplunkEvent::new(event, &self.origin);
        let record = datamodel::node_record(&view);
        let selected = record.as_ref().map(|record| self.selector.selecting(record));
        let reading =
            if self.any_reads_events { self.selector.selecting_event(&view) } else { Vec::new() };
        let record = record.as_ref().zip(selected.as_deref());
        offer(&mut self.runs, &self.path, &mut self.keys, record, Some((&view, &reading)))?;
        self.bound_groups()
    }

    /// Offers what a search thread selected: a record, an event, or both.
    fn add_mapped(&mut self, mapped: &Mapped) -> Result<(), ScanError> {
        let view = mapped.event.as_ref().map(|event| SplunkEvent::new(event, &self.origin));
        let record = mapped.record.as_ref().map(|record| (record, mapped.selected.as_slice()));
        let event = view.as_ref().map(|view| (view, mapped.reading.as_slice()));
        offer(&mut self.runs, &self.path, &mut self.keys, record, event)?;
        self.bound_groups()
    }

    /// Every few records: when the groups held in memory outgrow the budget, spills the
    /// largest tables until those that can spill hold half of it, so that the next spill is
    /// some way off.
    fn bound_groups(&mut self) -> Result<(), ScanError> {
        self.unchecked += 1;
        if self.unchecked < self.check_every || self.group_memory == usize::MAX {
            return Ok(());
        }
        self.unchecked = 0;
        let mut tables = Vec::new();
        for (index, run) in self.runs.iter_mut().enumerate() {
            let mut groups = Vec::new();
            run.groups(&mut groups);
            tables.extend(groups.into_iter().map(|groups| (index, groups.memory(), groups)));
        }
        let mut held: usize = tables.iter().map(|(_, memory, _)| memory).sum();
        if held <= self.group_memory {
            return Ok(());
        }
        // Tables that cannot spill stay as they are: the others spill down to half the
        // budget above them, not down to a level those alone may keep out of reach, which
        // would spill every small table at every look.
        let fixed: usize = tables
            .iter()
            .filter(|(_, _, groups)| !groups.spillable())
            .map(|(_, memory, _)| memory)
            .sum();
        let target = fixed.saturating_add(self.group_memory / 2);
        tables.sort_by_key(|(_, memory, _)| std::cmp::Reverse(*memory));
        for (index, memory, groups) in tables {
            if held <= target {
                break;
            }
            if !groups.spillable() {
                continue;
            }
            let failed = |source| ScanError::Eval { path: self.path.clone(), index, source };
            let to = match &mut self.spill {
                Some(file) => file,
                None => self
                    .spill
                    .insert(SpillFile::new().map_err(|err| failed(groups.spill_error(&err)))?),
            };
            groups.spill(to).map_err(failed)?;
            held = held - memory + groups.memory();
        }
        Ok(())
    }
}

/// Offers a record to the runs whose searches select it (`selected`, ascending indices,
/// as [`Selector::selecting`] gives them) and an event to the runs over raw events that
/// read it (ascending, as [`Selector::selecting_event`] gives them). A record or event a
/// search does not select changes nothing of its run, not even `now()` (the newest time it
/// read). Runs are fed in index order, so an error is that of the first run that fails.
/// `keys` starts afresh for the record: the searches that group alike make its key once.
fn offer(
    runs: &mut [SearchRun<'_>],
    path: &Path,
    keys: &mut RecordKeys,
    record: Option<(&NodeRecord, &[usize])>,
    event: Option<(&SplunkEvent<'_>, &[usize])>,
) -> Result<(), ScanError> {
    keys.next_record();
    let mut selected = record.map_or(&[][..], |(_, selected)| selected).iter().copied().peekable();
    let mut readers = event.map_or(&[][..], |(_, reading)| reading).iter().copied().peekable();
    loop {
        let index = match (selected.peek(), readers.peek()) {
            (None, None) => return Ok(()),
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&index), None) | (None, Some(&index)) => index,
        };
        let takes_record = selected.next_if_eq(&index).is_some();
        let takes_event = readers.next_if_eq(&index).is_some();
        let Some(run) = runs.get_mut(index) else { continue };
        let mut added = Ok(());
        if let (true, Some((record, _))) = (takes_record, record) {
            added = run.add_selected(record, keys);
        }
        if let (Ok(()), true, Some((event, _))) = (&added, takes_event, event) {
            added = run.add_event_selected(event);
        }
        added.map_err(|source| ScanError::Eval { path: path.to_owned(), index, source })?;
    }
}

/// What a search thread sends on for one event some search reads: the event's record and
/// the searches that select it, and the event itself when a search over raw events selects
/// it.
struct Mapped {
    record: Option<NodeRecord>,
    selected: Vec<usize>,
    /// Boxed: few events are read raw, and the channel's items stay small.
    event: Option<Box<Event>>,
    /// The searches over raw events that read it.
    reading: Vec<usize>,
}

/// `event` as the searches need it, or `None` when no search reads it (it then changes no
/// result and need not cross threads).
fn map_selected(event: Event, origin: &Origin, selector: &Selector<'_>) -> Option<Mapped> {
    let view = SplunkEvent::new(&event, origin);
    let mut selected = Vec::new();
    let mut record = datamodel::node_record(&view).filter(|record| {
        selected = selector.selecting(record);
        !selected.is_empty()
    });
    if let Some(record) = &mut record {
        // Only the fields the selecting searches read cross to the other thread: a search
        // without literals selects every record, and sending each whole (and freeing it on
        // the receiving side) cost as much as reading it.
        let read = selector.fields_read(&selected);
        record.fields.retain(|name, _| read.contains(name));
    }
    let reading = selector.selecting_event(&view);
    if record.is_none() && reading.is_empty() {
        return None;
    }
    let event = (!reading.is_empty()).then(|| Box::new(event));
    Some(Mapped { record, selected, event, reading })
}

/// Whether the candidate search may read the file `reader` opened (see the module docs).
fn candidates_apply(
    reader: &EventReader,
    path: &Path,
    options: ScanOptions,
    any_reads_events: bool,
) -> Result<bool, EventError> {
    // The fast paths search the file's own bytes: only for a UTF-8 export that starts like
    // one (other text, read by the streaming reader, gets each piece classified), and one
    // that can be read again: a pipe's bytes are gone once `reader` has read them.
    Ok(!options.strict
        && reader.plain_export_bytes()
        && !any_reads_events
        && !reader.report().gzip
        && std::fs::metadata(path).is_ok_and(|meta| meta.is_file())
        && !may_hold_classic_records(path, &reader.report().source)?)
}

/// What each event's raw bytes are tested with before it is parsed: the literals some
/// search needs, and the codes of the events some search can read.
#[derive(Clone, Copy)]
struct RawTests<'p> {
    literals: Option<&'p Prefilter>,
    /// The literals cut where the XML an EVTX record is rendered as escapes (see
    /// [`Prefilter::for_rendered_xml`]).
    rendered: Option<&'p Prefilter>,
    codes: Option<&'p EventCodes>,
}

impl RawTests<'_> {
    /// `reader` with the tests its format allows installed: on XML text, whose values are
    /// verbatim in it, the codes and literals; on the XML an EVTX record is rendered as, the
    /// codes and the literals cut where it escapes. Other formats have no text to test before
    /// they are parsed.
    fn install(self, reader: EventReader) -> EventReader {
        let literals = match reader.report().format {
            Some(InputFormat::XmlExport | InputFormat::XmlExportInJsonString) => self.literals,
            Some(InputFormat::Evtx) => self.rendered,
            _ => return reader,
        };
        match test(literals, self.codes) {
            Some(test) => reader.prefilter(test),
            None => reader,
        }
    }

    /// The test of an EVTX record's XML, for its chunks read on several threads.
    fn for_evtx(self) -> Option<impl Fn(&[u8]) -> bool + Send + Sync + 'static> {
        test(self.rendered, self.codes)
    }
}

/// An event passes when some search can read its code and holds the literals it needs;
/// `None` when neither is tested.
fn test(
    literals: Option<&Prefilter>,
    codes: Option<&EventCodes>,
) -> Option<impl Fn(&[u8]) -> bool + Send + Sync + 'static> {
    if literals.is_none() && codes.is_none() {
        return None;
    }
    let (literals, codes) = (literals.cloned(), codes.cloned());
    Some(move |raw: &[u8]| {
        codes.as_ref().is_none_or(|codes| codes.may_read(raw))
            && literals.as_ref().is_none_or(|literals| literals.may_match(raw))
    })
}

fn scan_file(
    feed: &mut Feed<'_>,
    options: ScanOptions,
    tests: RawTests<'_>,
) -> Result<ReadReport, ScanError> {
    let len = std::fs::metadata(&feed.path).map_or(0, |meta| meta.len());
    // Before the reader, which would read a small EVTX file whole only for it to be read
    // again.
    if options.parallel
        && len >= split_at_least(options, EVTX_PARALLEL_MIN_BYTES)
        && let Some(chunks) = EvtxChunks::open(&feed.path)?
    {
        let chunks = match tests.for_evtx() {
            Some(test) => chunks.prefilter(test),
            None => chunks,
        };
        return scan_evtx_chunks(feed, options.strict, chunks);
    }
    let mut reader = EventReader::open(&feed.path)?.strict(options.strict);
    let plain = reader.plain_export_bytes();
    if let Some(prefilter) = tests.literals
        && candidates_apply(&reader, &feed.path, options, feed.any_reads_events)?
    {
        return scan_candidates(feed, options, prefilter, reader.into_report());
    }
    if plain && !reader.report().gzip && options.parallel {
        let source: Arc<str> = Arc::from(reader.report().source.as_str());
        let pieces = if len >= split_at_least(options, PARALLEL_MIN_BYTES) {
            cut_points(&feed.path, &source, len, piece_bytes(options))?
        } else {
            Vec::new()
        };
        if pieces.len() > 1 {
            let mut report = reader.into_report();
            let mode = Mode::Full { tests, strict: options.strict };
            scan_pieces(feed, mode, &source, &pieces, &mut report)?;
            return Ok(report);
        }
    }
    reader = tests.install(reader);
    for event in &mut reader {
        feed.add_event(&event?)?;
    }
    Ok(reader.into_report())
}

/// Whether a plain export may hold a classic text event that maps to a data model record:
/// such an event names its channel on a `LogName=` line, which no mapped dataset can do
/// without, so a file without `\nLogName=` has none. The candidate search jumps over the text
/// between XML events, where classic events are, so it is used only on files without them;
/// one pass of `memmem` over the file costs far less than parsing it. A gzip export would
/// have to be inflated twice, so it is read by the streaming reader, which prefilters each
/// event, classic or XML.
fn may_hold_classic_records(path: &Path, source: &str) -> Result<bool, EventError> {
    const MARK: &[u8] = b"\nLogName=";
    let source: Arc<str> = Arc::from(source);
    let mut file = open(path, &source)?;
    let finder = memchr::memmem::Finder::new(MARK);
    let mut block = vec![0; DEFAULT_READ_BLOCK + MARK.len()];
    let mut kept = 0;
    loop {
        let read = match file.read(block.get_mut(kept..).unwrap_or_default()) {
            Ok(0) => return Ok(false),
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(read_failure(&source, None, err)),
        };
        let filled = kept + read;
        if finder.find(block.get(..filled).unwrap_or_default()).is_some() {
            return Ok(true);
        }
        // The mark may straddle two reads: keep its length less one byte.
        kept = (MARK.len() - 1).min(filled);
        block.copy_within(filled - kept..filled, 0);
    }
}

/// The smallest file read on two threads: `default`, unless the options lower it.
fn split_at_least(options: ScanOptions, default: u64) -> u64 {
    if options.split_at_least == 0 { default } else { options.split_at_least }
}

/// About how large the pieces of a file read on two threads are: half the smallest file so
/// read, 8 MiB by default. Pieces of 4 MiB cost the same time and more waits between the
/// threads.
fn piece_bytes(options: ScanOptions) -> u64 {
    (split_at_least(options, PARALLEL_MIN_BYTES) / 2).max(1)
}

/// How each piece of a file is read.
#[derive(Clone, Copy)]
enum Mode<'p> {
    /// Candidates only (the fast path), each piece searched for the file's anchors.
    Candidates { prefilter: &'p Prefilter, block: usize, anchors: &'p Anchors },
    /// Every event, or every event the raw tests keep, by the streaming reader.
    Full { tests: RawTests<'p>, strict: bool },
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
    report.notes.push(CANDIDATES_NOTE.to_owned());
    let pieces =
        if report.gzip || !options.parallel || len < split_at_least(options, PARALLEL_MIN_BYTES) {
            Vec::new()
        } else {
            cut_points(&feed.path, &source, len, piece_bytes(options))?
        };
    if pieces.len() > 1 {
        let anchors =
            file_anchors(prefilter, &file).map_err(|err| read_error(&source, &mut report, err))?;
        let mode = Mode::Candidates { prefilter, block, anchors: &anchors };
        scan_pieces(feed, mode, &source, &pieces, &mut report)?;
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
            Candidate::Event(event) => feed.add_event(&event),
            Candidate::Skip(skip) => {
                add_skip(&mut report, skip);
                Ok(())
            }
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

/// The file at `path`, opened at byte `start`.
fn open_at(path: &Path, source: &Arc<str>, start: u64) -> Result<File, EventError> {
    let mut file = open(path, source)?;
    file.seek(SeekFrom::Start(start)).map_err(|err| read_failure(source, Some(start), err))?;
    Ok(file)
}

/// Where in a file, by its byte offset when known (the scan's readers count no lines).
fn at_byte(source: &Arc<str>, byte_offset: Option<u64>) -> Location {
    Location { source: Arc::clone(source), line: None, byte_offset, record: None }
}

/// A read of `source` that failed, at `byte_offset` when known.
fn read_failure(source: &Arc<str>, byte_offset: Option<u64>, err: io::Error) -> EventError {
    EventError::Read { location: at_byte(source, byte_offset), source: err }
}

fn read_error(source: &Arc<str>, report: &mut ReadReport, err: io::Error) -> EventError {
    let error = read_failure(source, None, err);
    report.failure = Some(error.to_string());
    error
}

/// What one candidate event gives.
// An event is moved once, from the reader to its caller: boxing it would cost an
// allocation per event for a few bytes of every skip.
#[allow(clippy::large_enum_variant)]
enum Candidate {
    Event(Event),
    Skip(Skip),
}

/// Parses a candidate, counting it in `report` as the streaming reader would.
fn candidate(bytes: &[u8], offset: u64, source: &Arc<str>, report: &mut ReadReport) -> Candidate {
    let location = at_byte(source, Some(offset));
    match parse_xml_event(bytes, location.clone()) {
        Ok(event) => {
            count(&mut report.events, &event);
            Candidate::Event(event)
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

/// The pieces to read a plain export of `len` bytes in: about `piece` bytes each, each cut
/// just after an `</Event>` that the next `<Event` follows (see [`event_end_from`]), a point
/// where the streaming reader always starts afresh. The rest is one piece when no such
/// point follows a cut within [`MAX_EVENT_BYTES`].
fn cut_points(
    path: &Path,
    source: &Arc<str>,
    len: u64,
    piece: u64,
) -> Result<Vec<(u64, u64)>, EventError> {
    let mut file = open(path, source)?;
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < len {
        let end = match start.checked_add(piece).filter(|&at| at < len) {
            Some(at) => event_end_from(&mut file, source, at)?.unwrap_or(len).min(len),
            None => len,
        };
        pieces.push((start, end));
        start = end;
    }
    Ok(pieces)
}

/// The offset just after the first `</Event>` at or after `at` in `file` that only
/// whitespace separates from the next `<Event` tag, or from the end of the file: `None`
/// when there is none within [`MAX_EVENT_BYTES`]. An `</Event>` in text between events (a
/// classic event's message, a comment line) is no event's end, and cutting there would
/// read the text otherwise than reading the file whole does.
fn event_end_from(file: &mut File, source: &Arc<str>, at: u64) -> Result<Option<u64>, EventError> {
    let failed = |err| read_failure(source, Some(at), err);
    file.seek(SeekFrom::Start(at)).map_err(failed)?;
    let mut window = Vec::with_capacity(64 * 1024);
    let finder = memchr::memmem::Finder::new(b"</Event>");
    let mut searched = 0;
    let mut eof = false;
    while window.len() < MAX_EVENT_BYTES {
        if !eof {
            let read = (&mut *file).take(64 * 1024).read_to_end(&mut window).map_err(failed)?;
            eof = read == 0;
        }
        loop {
            let Some(found) = window.get(searched..).and_then(|rest| finder.find(rest)) else {
                // A tag may straddle what is read and what is not.
                searched = window.len().saturating_sub(END_TAG.len() - 1).max(searched);
                break;
            };
            let end = searched + found + END_TAG.len();
            match next_is_event(window.get(end..).unwrap_or_default(), eof) {
                Some(true) => return Ok(Some(at + end as u64)),
                Some(false) => searched = end,
                // What follows is not read yet: read more and look again.
                None => break,
            }
        }
        if eof {
            break;
        }
    }
    Ok(None)
}

/// Whether `rest`, what follows an `</Event>`, starts with the next `<Event` tag after
/// whitespace, or is whitespace to the end of the file (`eof`); `None` when `rest` ends
/// before that is known.
fn next_is_event(rest: &[u8], eof: bool) -> Option<bool> {
    let Some(start) = rest.iter().position(|byte| !byte.is_ascii_whitespace()) else {
        return eof.then_some(true);
    };
    let tag = rest.get(start..).unwrap_or_default();
    match tag.get(START_TAG.len()) {
        Some(next) => Some(tag.starts_with(START_TAG) && !next.is_ascii_alphanumeric()),
        // The start of a tag that may be `<Event`, cut short by what has been read.
        None if !eof && START_TAG.starts_with(tag) => None,
        None => Some(false),
    }
}

const END_TAG: &[u8] = b"</Event>";
const START_TAG: &[u8] = b"<Event";

/// What a piece's reader sends, in file order.
enum Item {
    Mapped(Mapped),
    Skip(Skip),
    /// The piece is done: what it read.
    Done(ReadReport),
    Failed(EventError),
    /// The whole file's report, when a thread reads a whole file (see [`scan_many`]): what
    /// the streaming reader read, or the report the candidate search adds to.
    File(ReadReport),
}

/// Several files read on two threads, each file by one, while this thread feeds the
/// searches file after file in the order given: the rows and reports are those of reading
/// them one after another. A file's items wait in a bounded channel until its turn, and a
/// file is read only when fewer than [`FILES_AHEAD`] before it wait to be fed, which bounds
/// what waits however small the files.
fn scan_many(
    feed: &mut Feed<'_>,
    inputs: &[ScanInput],
    options: ScanOptions,
    tests: RawTests<'_>,
    reports: &mut Vec<(PathBuf, ReadReport)>,
) -> Result<(), ScanError> {
    let selector = feed.selector;
    let any_reads_events = feed.any_reads_events;
    let mut receivers = Vec::with_capacity(inputs.len());
    let mut senders = Vec::with_capacity(inputs.len());
    for _ in inputs {
        let (sender, receiver) = sync_channel::<Vec<Item>>(BATCHES_IN_FLIGHT);
        senders.push(std::sync::Mutex::new(Some(sender)));
        receivers.push(receiver);
    }
    let progress = Progress::new(inputs.len());
    let next = AtomicUsize::new(0);
    let stop = || {
        next.store(inputs.len(), Ordering::Relaxed);
        progress.stop();
    };
    let read_next = || {
        let _stop_on_panic = StopOnPanic { stop: &stop, senders: &senders };
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let (Some(input), Some(slot)) = (inputs.get(index), senders.get(index)) else {
                return;
            };
            if !progress.may_read(index) {
                return;
            }
            let sender = slot.lock().ok().and_then(|mut sender| sender.take());
            if let Some(sender) = sender {
                let readers = (selector, &input.origin);
                read_whole(&input.path, options, tests, readers, any_reads_events, &sender);
            }
            progress.read(index);
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(read_next);
        }
        let outcome = feed_many(feed, inputs, receivers, &progress, reports);
        // Stop the readers at the next file they would take, or wait to take.
        stop();
        outcome
    })
}

/// Files that may be read at once, from the one being fed on (see [`scan_many`]).
const FILES_AHEAD: usize = 32;
/// Files the feeding waits to be read before it wakes, when it has caught up with the
/// readers: waking for each small file cost more than its events (the comsvcs rule over
/// 3,000 EVTX files of a few records each took 15% longer than with every file read first).
const FILES_TOGETHER: usize = 8;

/// The feeding side of [`scan_many`].
fn feed_many(
    feed: &mut Feed<'_>,
    inputs: &[ScanInput],
    receivers: Vec<Receiver<Vec<Item>>>,
    progress: &Progress,
    reports: &mut Vec<(PathBuf, ReadReport)>,
) -> Result<(), ScanError> {
    for (index, (input, receiver)) in inputs.iter().zip(receivers).enumerate() {
        input.path.clone_into(&mut feed.path);
        input.origin.clone_into(&mut feed.origin);
        let mut report = ReadReport::default();
        let mut waited = false;
        loop {
            let batch = match receiver.try_recv() {
                Ok(batch) => batch,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) if !waited => {
                    waited = true;
                    progress.wait_read((index + FILES_TOGETHER).min(inputs.len()));
                    continue;
                }
                Err(TryRecvError::Empty) => match receiver.recv() {
                    Ok(batch) => batch,
                    Err(_) => break,
                },
            };
            for item in batch {
                match item {
                    Item::Mapped(mapped) => feed.add_mapped(&mapped)?,
                    Item::Skip(skip) => add_skip(&mut report, skip),
                    Item::Done(part) => merge(&mut report, part),
                    Item::File(whole) => report = whole,
                    Item::Failed(err) => return Err(err.into()),
                }
            }
        }
        reports.push((input.path.clone(), report));
        progress.fed(index + 1);
    }
    Ok(())
}

/// What the readers and the feeding of several files wait on: how many files are fed, and
/// which are read.
struct Progress {
    state: Mutex<ProgressState>,
    changed: Condvar,
}

struct ProgressState {
    fed: usize,
    read: Vec<bool>,
    /// The files before this one are all read.
    read_before: usize,
    /// What the feeding waits for: `read_before` to reach it.
    wanted: Option<usize>,
    readers_waiting: usize,
    stopped: bool,
}

impl Progress {
    /// Longest the feeding waits for files to be read before it takes a file's items as
    /// they come: a reader may be waiting for room in its channel, or may have panicked.
    const PATIENCE: std::time::Duration = std::time::Duration::from_millis(1);

    fn new(files: usize) -> Self {
        let state = ProgressState {
            fed: 0,
            read: vec![false; files],
            read_before: 0,
            wanted: None,
            readers_waiting: 0,
            stopped: false,
        };
        Progress { state: Mutex::new(state), changed: Condvar::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until file `index` may be read: `false` when the feeding has stopped.
    fn may_read(&self, index: usize) -> bool {
        let mut state = self.lock();
        while !state.stopped && index >= state.fed + FILES_AHEAD {
            state.readers_waiting += 1;
            state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
            state.readers_waiting -= 1;
        }
        !state.stopped
    }

    /// File `index` is read, and its channel closed.
    fn read(&self, index: usize) {
        let mut state = self.lock();
        if let Some(read) = state.read.get_mut(index) {
            *read = true;
        }
        while state.read.get(state.read_before).copied().unwrap_or(false) {
            state.read_before += 1;
        }
        if state.wanted.is_some_and(|wanted| state.read_before >= wanted) {
            self.changed.notify_all();
        }
    }

    /// Waits, a while at most, until the files before `wanted` are read.
    fn wait_read(&self, wanted: usize) {
        let mut state = self.lock();
        if state.read_before < wanted && !state.stopped {
            state.wanted = Some(wanted);
            state = self
                .changed
                .wait_timeout_while(state, Self::PATIENCE, |state| {
                    state.read_before < wanted && !state.stopped
                })
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.wanted = None;
        }
    }

    /// The first `files` files are fed.
    fn fed(&self, files: usize) {
        let mut state = self.lock();
        state.fed = files;
        if state.readers_waiting > 0 {
            self.changed.notify_all();
        }
    }

    /// The feeding has stopped: no file is read from now on.
    fn stop(&self) {
        self.lock().stopped = true;
        self.changed.notify_all();
    }
}

/// One whole file read on a reader thread, as [`scan_file`] reads it but sending on only
/// what some search reads: by the candidate search when it applies, else by the streaming
/// reader.
fn read_whole(
    path: &Path,
    options: ScanOptions,
    tests: RawTests<'_>,
    (selector, origin): Readers<'_>,
    any_reads_events: bool,
    sender: &SyncSender<Vec<Item>>,
) {
    let prefilter = tests.literals;
    let opened = EventReader::open(path).map(|reader| reader.strict(options.strict));
    let reader = match opened {
        Ok(reader) => reader,
        Err(err) => {
            let _ = sender.send(vec![Item::Failed(err)]);
            return;
        }
    };
    let fast = match prefilter.map(|_| candidates_apply(&reader, path, options, any_reads_events)) {
        Some(Err(err)) => {
            let _ = sender.send(vec![Item::Failed(err)]);
            return;
        }
        Some(Ok(fast)) => fast,
        None => false,
    };
    if let (true, Some(prefilter)) = (fast, prefilter) {
        let mut report = reader.into_report();
        report.notes.push(CANDIDATES_NOTE.to_owned());
        let source: Arc<str> = Arc::from(report.source.as_str());
        let len = std::fs::metadata(path).map_or(0, |meta| meta.len());
        if sender.send(vec![Item::File(report)]).is_err() {
            return;
        }
        let block = if options.read_block == 0 { DEFAULT_READ_BLOCK } else { options.read_block };
        let search = (prefilter, block, &mut Vec::new());
        search_part(path, &source, search, None, (selector, origin), (0, len), sender);
        return;
    }
    send_selected(tests.install(reader), (selector, origin), sender, Item::File);
}

/// The pieces of a file read by two threads, each taking the next piece in turn, while
/// this thread feeds them to the searches in file order: the rows and the report are those
/// of reading the file from start to end. A piece is read only when fewer than
/// [`PIECES_AHEAD`] pieces before it wait to be fed ([`CANDIDATE_PIECES_AHEAD`] for the
/// candidate search), which bounds what waits. With two halves, the second half's reader
/// waited for the first's items to be fed as soon as it had a few batches of its own, and
/// a rule without literals ran on one thread.
fn scan_pieces(
    feed: &mut Feed<'_>,
    mode: Mode<'_>,
    source: &Arc<str>,
    pieces: &[(u64, u64)],
    report: &mut ReadReport,
) -> Result<(), ScanError> {
    let path = feed.path.clone();
    let origin = feed.origin.clone();
    let readers = (feed.selector, &origin);
    let mut receivers = Vec::with_capacity(pieces.len());
    let mut senders = Vec::with_capacity(pieces.len());
    for _ in pieces {
        let (sender, receiver) = sync_channel::<Vec<Item>>(BATCHES_IN_FLIGHT);
        senders.push(Mutex::new(Some(sender)));
        receivers.push(receiver);
    }
    let ahead = match mode {
        Mode::Candidates { .. } => CANDIDATE_PIECES_AHEAD,
        Mode::Full { .. } => PIECES_AHEAD,
    };
    let turns = Arc::new(Turns::new(pieces.len(), ahead));
    let next = AtomicUsize::new(0);
    let read_next = || {
        let _stop_on_panic = StopOnPanic { stop: &|| turns.stop(), senders: &senders };
        // Each thread reads its pieces through buffers of its own, grown once.
        let mut buffer = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let (Some(&(start, end)), Some(slot)) = (pieces.get(index), senders.get(index)) else {
                return;
            };
            let sender = slot.lock().ok().and_then(|mut sender| sender.take());
            let Some(sender) = sender else { continue };
            if !turns.may_read(index) {
                return;
            }
            let path = path.as_path();
            let part = (index, start, end);
            match mode {
                Mode::Candidates { prefilter, block, anchors } => {
                    let search = (prefilter, block, &mut buffer);
                    let anchors = Some(anchors.clone());
                    search_part(path, source, search, anchors, readers, (start, end), &sender);
                }
                Mode::Full { tests, strict } => {
                    read_piece(path, source, (tests, strict), readers, &turns, part, &sender);
                }
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(read_next);
        }
        let outcome = feed_pieces(feed, receivers, |fed| turns.fed(fed), report);
        // Readers waiting for their turn, or for the lines before their piece, stop.
        turns.stop();
        outcome
    })
}

/// An EVTX file's chunks decoded on two threads, each taking the next run of chunks in
/// turn, while this thread feeds them to the searches in file order. Decoding (the binary
/// XML rendered, then read as an XML event) is nearly all of the work, and one thread did
/// all of it. A thread takes a run and queues the channel its items will come through in
/// the same step, so that the channels queue in file order. What waits is bounded:
/// [`PIECES_AHEAD`] runs in the queue besides the one being fed, and one being decoded by
/// each thread.
fn scan_evtx_chunks(
    feed: &mut Feed<'_>,
    strict: bool,
    chunks: EvtxChunks,
) -> Result<ReadReport, ScanError> {
    let mut report = chunks.report();
    let origin = feed.origin.clone();
    let readers = (feed.selector, &origin);
    let chunks = Mutex::new(chunks);
    let (queue, queued) = sync_channel::<Receiver<Vec<Item>>>(PIECES_AHEAD);
    let stopped = std::sync::atomic::AtomicBool::new(false);
    let read_next = |queue: SyncSender<Receiver<Vec<Item>>>| {
        let stop = || stopped.store(true, Ordering::Relaxed);
        let _stop_on_panic = StopOnPanic { stop: &stop, senders: &[] };
        loop {
            let (part, sender) = {
                let mut chunks = chunks.lock().unwrap_or_else(PoisonError::into_inner);
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Some(part) = chunks.next() else { return };
                let (sender, receiver) = sync_channel(BATCHES_IN_FLIGHT);
                // The feeding has stopped.
                if queue.send(receiver).is_err() {
                    return;
                }
                (part, sender)
            };
            send_selected(part.read().strict(strict), readers, &sender, Item::Done);
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let queue = queue.clone();
            scope.spawn(move || read_next(queue));
        }
        // The queue ends when both readers are done.
        drop(queue);
        feed_pieces(feed, queued, |_| {}, &mut report)
    })?;
    Ok(report)
}

/// Should a reader panic, this stops the other reader (`stop`) and closes every channel no
/// reader holds, so that this thread ends the scan, where the panic is raised again, rather
/// than wait for items that will never come.
struct StopOnPanic<'a> {
    stop: &'a dyn Fn(),
    senders: &'a [Mutex<Option<SyncSender<Vec<Item>>>>],
}

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            (self.stop)();
            for slot in self.senders {
                slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            }
        }
    }
}

/// Feeds the items of each piece, piece after piece, telling `fed_up_to` how many are done.
fn feed_pieces(
    feed: &mut Feed<'_>,
    receivers: impl IntoIterator<Item = Receiver<Vec<Item>>>,
    mut fed_up_to: impl FnMut(usize),
    report: &mut ReadReport,
) -> Result<(), ScanError> {
    // A note a reader makes once for its input (classic events were read) is made by each
    // piece that meets its cause: the file's report says it once, as reading it whole does.
    let mut noted: HashSet<String> = report.notes.iter().cloned().collect();
    for (index, receiver) in receivers.into_iter().enumerate() {
        for batch in receiver {
            for item in batch {
                match item {
                    Item::Mapped(mapped) => feed.add_mapped(&mapped)?,
                    Item::Skip(skip) => add_skip(report, skip),
                    // A piece sends no whole-file report; were one sent, it would add.
                    Item::Done(mut piece) | Item::File(mut piece) => {
                        piece.notes.retain(|note| noted.insert(note.clone()));
                        merge(report, piece);
                    }
                    Item::Failed(err) => {
                        report.failure = Some(err.to_string());
                        return Err(err.into());
                    }
                }
            }
        }
        fed_up_to(index + 1);
    }
    Ok(())
}

/// What the readers of a file's pieces wait on: how many pieces have been fed, and the
/// newlines of each piece read, which give the lines of those after it.
struct Turns {
    state: Mutex<TurnsState>,
    changed: Condvar,
    /// Pieces being read, at most.
    ahead: usize,
}

struct TurnsState {
    fed: usize,
    stopped: bool,
    newlines: Vec<Option<u64>>,
}

impl Turns {
    fn new(pieces: usize, ahead: usize) -> Self {
        let state = TurnsState { fed: 0, stopped: false, newlines: vec![None; pieces] };
        Turns { state: Mutex::new(state), changed: Condvar::new(), ahead }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TurnsState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(
        &self,
        state: std::sync::MutexGuard<'a, TurnsState>,
    ) -> std::sync::MutexGuard<'a, TurnsState> {
        self.changed.wait(state).unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until piece `index` may be read: `false` when the feeding has stopped.
    fn may_read(&self, index: usize) -> bool {
        let mut state = self.lock();
        while !state.stopped && index >= state.fed + self.ahead {
            state = self.wait(state);
        }
        !state.stopped
    }

    /// The first `pieces` pieces are fed.
    fn fed(&self, pieces: usize) {
        self.lock().fed = pieces;
        self.changed.notify_all();
    }

    /// The feeding has stopped: no piece is read from now on.
    fn stop(&self) {
        self.lock().stopped = true;
        self.changed.notify_all();
    }

    /// Piece `index` holds `newlines` newlines.
    fn counted(&self, index: usize, newlines: u64) {
        if let Some(slot) = self.lock().newlines.get_mut(index) {
            *slot = Some(newlines);
        }
        self.changed.notify_all();
    }

    /// The line piece `index` starts on, once the pieces before it are read and counted;
    /// `None` when the feeding has stopped.
    fn first_line(&self, index: usize) -> Option<u64> {
        let mut state = self.lock();
        loop {
            if state.stopped {
                return None;
            }
            let before = state.newlines.get(..index).unwrap_or_default();
            if before.iter().all(Option::is_some) {
                return Some(1 + before.iter().flatten().sum::<u64>());
            }
            state = self.wait(state);
        }
    }
}

/// The searches a thread selects for, and the origin of the file's events.
type Readers<'a> = (&'a Selector<'a>, &'a Origin);

/// The candidate search of a piece of a file, or of a whole file, on a reader thread:
/// candidates parsed and mapped, and only what some search reads sent on (the rest changes
/// no result).
fn search_part(
    path: &Path,
    source: &Arc<str>,
    (prefilter, block, buffer): (&Prefilter, usize, &mut Vec<u8>),
    anchors: Option<Anchors>,
    (selector, origin): Readers<'_>,
    (start, end): (u64, u64),
    sender: &SyncSender<Vec<Item>>,
) {
    let file = match open_at(path, source, start) {
        Ok(file) => file,
        Err(err) => {
            let _ = sender.send(vec![Item::Failed(err)]);
            return;
        }
    };
    let mut counts = ReadReport::default();
    let mut batch = Vec::with_capacity(BATCH_ITEMS);
    let mut scanner =
        CandidateScanner::new(file.take(end - start), prefilter, Arc::clone(source), start, block)
            .with_buffer(std::mem::take(buffer));
    if let Some(anchors) = anchors {
        scanner = scanner.with_anchors(anchors);
    }
    let read = scanner.run(&mut |found| {
        let item = match found {
            Found::Event(bytes, offset) => match candidate(bytes, offset, source, &mut counts) {
                Candidate::Event(event) => match map_selected(event, origin, selector) {
                    Some(mapped) => Item::Mapped(mapped),
                    None => return true,
                },
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
        batch.push(Item::Failed(read_failure(source, None, err)));
    }
    *buffer = scanner.into_buffer();
    batch.push(Item::Done(counts));
    let _ = sender.send(batch);
}

/// Piece `index`, `start..end` of the file, read by the streaming reader on a reader
/// thread; only what some search reads is sent on. Locations count from the start of the
/// whole file: the line a piece starts on is asked of `turns` only when a location needs
/// it, and the piece tells `turns` its newlines once read.
fn read_piece(
    path: &Path,
    source: &Arc<str>,
    (tests, strict): (RawTests<'_>, bool),
    (selector, origin): Readers<'_>,
    turns: &Arc<Turns>,
    (index, start, end): (usize, u64, u64),
    sender: &SyncSender<Vec<Item>>,
) {
    let file = match open_at(path, source, start) {
        Ok(file) => file,
        Err(err) => {
            let _ = sender.send(vec![Item::Failed(err)]);
            return;
        }
    };
    let first_line = {
        let turns = Arc::clone(turns);
        // Once the feeding has stopped, no location is shown.
        Box::new(move || turns.first_line(index).unwrap_or(1))
    };
    let on_end = {
        let turns = Arc::clone(turns);
        Box::new(move |newlines| turns.counted(index, newlines))
    };
    let reader =
        EventReader::xml_export_part(source, file.take(end - start), start, first_line, on_end)
            .strict(strict);
    send_selected(tests.install(reader), (selector, origin), sender, Item::Done);
}

/// Reads every event of `reader` and sends on, in batches, what some search reads, then
/// the reader's report as `last` says; a failure ends the sending.
fn send_selected(
    mut reader: EventReader,
    (selector, origin): Readers<'_>,
    sender: &SyncSender<Vec<Item>>,
    last: fn(ReadReport) -> Item,
) {
    let mut batch = Vec::with_capacity(BATCH_ITEMS);
    for event in &mut reader {
        let item = match event.map(|event| map_selected(event, origin, selector)) {
            Ok(Some(mapped)) => Item::Mapped(mapped),
            Ok(None) => continue,
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
    batch.push(last(reader.into_report()));
    let _ = sender.send(batch);
}

/// Adds what a piece read to the file's report, piece after piece.
fn merge(report: &mut ReadReport, piece: ReadReport) {
    for (channel, ids) in piece.events {
        let merged = report.events.entry(channel).or_default();
        for (id, n) in ids {
            *merged.entry(id).or_default() += n;
        }
    }
    report.prefiltered += piece.prefiltered;
    report.skipped_total += piece.skipped_total;
    let room = ReadReport::MAX_LISTED_SKIPS.saturating_sub(report.skipped.len());
    report.skipped.extend(piece.skipped.into_iter().take(room));
    report.notes.extend(piece.notes);
    if report.failure.is_none() {
        report.failure = piece.failure;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::channel;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_reader_waits_while_the_files_before_its_own_are_not_fed() {
        let progress = Progress::new(FILES_AHEAD + 2);
        assert!(progress.may_read(FILES_AHEAD - 1));
        std::thread::scope(|scope| {
            let (told, heard) = channel();
            let progress = &progress;
            scope.spawn(move || told.send(progress.may_read(FILES_AHEAD)).unwrap());
            assert!(heard.recv_timeout(Duration::from_millis(100)).is_err(), "read too far ahead");
            progress.fed(1);
            assert_eq!(heard.recv_timeout(Duration::from_secs(10)), Ok(true));
            // A reader waiting when the feeding stops reads nothing more.
            let (told, heard) = channel();
            scope.spawn(move || told.send(progress.may_read(FILES_AHEAD + 1)).unwrap());
            progress.stop();
            assert_eq!(heard.recv_timeout(Duration::from_secs(10)), Ok(false));
        });
    }
}
