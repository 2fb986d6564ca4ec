//! Windows event logs read into [`Event`]s: Splunk `attack_data` `XmlWinEventLog` exports (plain,
//! gzip, or wrapped in one JSON string) with any classic `WinEventLog` text events among
//! them, EVTX files and JSON exports (flat NXLog/OTRF lines and `evtx_dump` objects). The
//! format is picked from the content, never only from the name.
//!
//! Reading streams: memory stays bounded by the largest event, not the file. Anything that
//! cannot be read becomes a located [`Skip`] in the [`ReadReport`] (or, in strict mode, an
//! [`EventError`]); nothing is dropped silently and nothing here prints.
//!
//! ```no_run
//! use detection::events::EventReader;
//! let mut reader = EventReader::open("windows-sysmon.log".as_ref())?;
//! for record in reader.processes() {
//!     let record = record?;
//!     # let _ = record;
//! }
//! let report = reader.into_report();
//! # Ok::<(), detection::events::EventError>(())
//! ```

mod classic;
mod encoding;
mod evtx;
mod gzip;
mod json;
mod json_string;
mod time;
mod xml;

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::ops::Range;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use crate::datamodel::{self, NodeRecord};

pub use encoding::TextEncoding;
pub use evtx::MAX_IN_MEMORY_EVTX_BYTES;
pub use gzip::MAX_DECOMPRESSED_BYTES;
pub use json::MAX_HELD_EVENTS;
pub(crate) use xml::find_event_start;
pub use xml::parse_event as parse_xml_event;

/// The largest event accepted, in bytes. A Windows event record is at most 64 KiB, so
/// anything far larger is damage or an attack on the reader, and is skipped whole.
pub const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// In which form an event's values are held; decided once per input format, here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ValueForm {
    /// The text between the tags as written in an XML export: entities are not decoded
    /// (`&amp;` stays) and line breaks inside values are kept, as Splunk's `XmlWinEventLog`
    /// extractions hold them.
    XmlRaw,
    /// Plain text, from a source that is not XML (JSON, a decoded EVTX record).
    Plain,
    /// Slices of a classic `WinEventLog` text event as written: nothing is decoded, so every
    /// value is a substring of the event's `_raw`.
    ClassicText,
}

/// The input formats [`EventReader`] recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum InputFormat {
    /// `<Event …>…</Event>` one after another (Splunk's `XmlWinEventLog`), maybe with text.
    XmlExport,
    /// The same export wrapped in one JSON string literal.
    XmlExportInJsonString,
    /// A binary Windows event log (`ElfFile` magic).
    Evtx,
    /// JSON objects, one a line (flat NXLog/OTRF) or pretty-printed (`evtx_dump`).
    Json,
}

/// Where in an input something was found. Line and byte offset count from 1 and 0 in the
/// decoded stream (after gunzip or JSON-string unescaping).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// The file name, or the name given to [`EventReader::from_reader`].
    pub source: Arc<str>,
    /// 1-based line of the first byte, for text formats.
    pub line: Option<u64>,
    /// 0-based byte offset of the first byte, for text formats.
    pub byte_offset: Option<u64>,
    /// The EVTX event record id.
    pub record: Option<u64>,
}

impl Location {
    fn text(source: &Arc<str>, line: u64, byte_offset: u64) -> Self {
        Location {
            source: Arc::clone(source),
            line: Some(line),
            byte_offset: Some(byte_offset),
            record: None,
        }
    }

    /// All of `source`, no place in it named.
    pub(crate) fn whole(source: &Arc<str>) -> Self {
        Location { source: Arc::clone(source), line: None, byte_offset: None, record: None }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(offset) = self.byte_offset {
            write!(f, " (byte {offset})")?;
        }
        if let Some(record) = self.record {
            write!(f, " record {record}")?;
        }
        Ok(())
    }
}

/// How an event's text, its `_raw`, is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum RawFormat {
    /// `<Event …>…</Event>`: an `XmlWinEventLog` export, or an EVTX record as the `evtx`
    /// crate renders it.
    Xml,
    /// A classic `WinEventLog` text event: a date line, then `Key=Value` lines, the last a
    /// `Message=` that runs to the end of the event.
    Classic,
    /// A JSON object as the export writes it.
    Json,
}

/// One Windows event as Splunk indexes it: its text (`_raw`), the System fields, the
/// `EventData` (or `UserData`) fields, and the parts of the text the Windows add-on extracts
/// whole (`EventData_Xml`). The first fields are the ones every reader needs typed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    /// `System/Channel`, e.g. `Microsoft-Windows-Sysmon/Operational` or `Security` (a classic
    /// event's `LogName`).
    pub channel: String,
    /// `System/EventID` (a classic event's `EventCode`).
    pub event_id: u32,
    /// `System/Provider/@Name` (a classic event's `SourceName`).
    pub provider: String,
    /// `System/Computer` (a classic event's `ComputerName`).
    pub computer: String,
    /// `System/EventRecordID` (a classic event's `RecordNumber`), when written.
    pub record_id: Option<u64>,
    /// `_time`: microseconds since the Unix epoch, UTC (`TimeCreated/@SystemTime`).
    pub time_micros: i64,
    /// Every System field, named as the Windows add-on names it (`Name` and `Guid` of the
    /// provider, `EventID`, `Qualifiers`, `Version`, `Level`, `Task`, `Opcode`, `Keywords`,
    /// `SystemTime`, `EventRecordID`, `ActivityID`, `ProcessID`, `ThreadID`, `Channel`,
    /// `Computer`, `UserID`, …) in document order, values in [`Event::value_form`]. A classic
    /// event holds its header keys here (`LogName`, `EventCode`, `Message`, …).
    pub system: SystemFields,
    /// `EventData/Data` name and value pairs (leaf elements of `UserData` by their element
    /// name; a classic event's fields from its `Message`) in document order, values in
    /// [`Event::value_form`]. A name given twice is a multivalue field.
    pub data: DataFields,
    /// `_raw`: the event's text as the export holds it. XML exports: the `<Event …>…</Event>`
    /// bytes as written; EVTX: the crate's XML rendering of the record; classic exports: the
    /// event's lines without the line breaks that end it; JSON: the object's text as written.
    pub raw: String,
    /// How [`Event::raw`] is written.
    pub raw_format: RawFormat,
    /// Parts of [`Event::raw`] the Windows add-on extracts whole, by field name:
    /// `System_Props_Xml`, `EventData_Xml`, `UserData_Xml` (the inner XML of those elements)
    /// and 1102's `LogFileCleared_Xml`.
    pub xml_parts: Vec<(Cow<'static, str>, Range<usize>)>,
    /// How the values are written.
    pub value_form: ValueForm,
    /// Where the event starts in its input.
    pub location: Location,
    /// `source` as derived from the channel (`XmlWinEventLog:Security`), written out on
    /// first use: every search over raw events that names a `source` asks it of every
    /// event, and writing it each time was a fifth of such a run. It is written from
    /// `channel` and `raw_format`, which the readers set before anyone reads the event;
    /// changing them afterwards would leave it stale.
    #[serde(skip)]
    pub(crate) derived_source: Derived,
}

/// A text that follows from an event's other fields, kept once worked out. Two events
/// are equal whatever theirs hold: it adds nothing to them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Derived(std::sync::OnceLock<Box<str>>);

impl Derived {
    pub(crate) fn get_or_init(&self, init: impl FnOnce() -> String) -> &str {
        self.0.get_or_init(|| init().into_boxed_str())
    }
}

impl PartialEq for Derived {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Derived {}

impl Event {
    /// An event with no fields yet, for the readers to fill.
    pub(crate) fn empty(value_form: ValueForm, raw_format: RawFormat, location: Location) -> Self {
        Event {
            channel: String::new(),
            event_id: 0,
            provider: String::new(),
            computer: String::new(),
            record_id: None,
            time_micros: 0,
            system: SystemFields::default(),
            data: DataFields::default(),
            raw: String::new(),
            raw_format,
            xml_parts: Vec::new(),
            value_form,
            location,
            derived_source: Derived::default(),
        }
    }

    /// The value of the first `Data` element called `name`.
    pub fn data(&self, name: &str) -> Option<&str> {
        self.data.get(name)
    }

    /// Every value of the `Data` elements called `name`, in document order.
    pub fn data_values<'e>(&'e self, name: &str) -> impl Iterator<Item = &'e str> {
        self.data.values(name)
    }

    /// The value of the System field `name`, as the Windows add-on names it (`Level`,
    /// `UserID`, a classic event's `LogName`).
    pub fn system_field(&self, name: &str) -> Option<&str> {
        self.system.get(name)
    }

    /// The part of [`Event::raw`] extracted whole as `name` (`EventData_Xml`).
    pub fn xml_part(&self, name: &str) -> Option<&str> {
        let (_, range) = self.xml_parts.iter().find(|(key, _)| key == name)?;
        self.raw.get(range.clone())
    }
}

/// An event's System fields: each name as the Windows add-on gives it, with its value, in
/// document order. The values share one buffer, as an event has a dozen or more of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemFields {
    text: String,
    entries: Vec<(&'static str, Range<usize>)>,
}

impl SystemFields {
    /// Adds field `name` with `value`.
    pub fn push(&mut self, name: &'static str, value: &str) {
        let start = self.text.len();
        self.text.push_str(value);
        self.entries.push((name, start..self.text.len()));
    }

    /// The value of the first field called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        let (_, range) = self.entries.iter().find(|(key, _)| *key == name)?;
        self.text.get(range.clone())
    }

    /// Every field, in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.entries
            .iter()
            .map(|(name, range)| (*name, self.text.get(range.clone()).unwrap_or_default()))
    }

    /// Makes room for `fields` more fields of `bytes` more text.
    pub(crate) fn reserve(&mut self, fields: usize, bytes: usize) {
        self.entries.reserve(fields);
        self.text.reserve(bytes);
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The same fields with every value passed through `f`.
    pub(crate) fn map_values(&mut self, f: impl Fn(&str) -> Cow<'_, str>) {
        let mut mapped = SystemFields::default();
        for (name, value) in self.iter() {
            mapped.push(name, &f(value));
        }
        *self = mapped;
    }
}

impl serde::Serialize for SystemFields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// An event's `Data` fields (or a classic or JSON event's own), name and value, in document
/// order; a name given twice is a multivalue field. Names and values share one buffer: a
/// Sysmon event has twenty of them, and two allocations each were most of what reading an
/// event allocated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataFields {
    text: String,
    /// The name's and the value's ranges in `text`.
    entries: Vec<(Range<usize>, Range<usize>)>,
}

impl DataFields {
    /// Adds field `name` with `value`.
    pub fn push(&mut self, name: &str, value: &str) {
        let name_start = self.text.len();
        self.text.push_str(name);
        let value_start = self.text.len();
        self.text.push_str(value);
        self.entries.push((name_start..value_start, value_start..self.text.len()));
    }

    /// The value of the first field called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values(name).next()
    }

    /// Every value of the fields called `name`, in document order.
    pub fn values<'s>(&'s self, name: &str) -> impl Iterator<Item = &'s str> {
        // Lengths first: a data model asks an event for dozens of names it lacks.
        let bytes = self.text.as_bytes();
        self.entries
            .iter()
            .filter(move |(key, _)| {
                key.len() == name.len() && bytes.get(key.clone()) == Some(name.as_bytes())
            })
            .map(|(_, value)| self.text.get(value.clone()).unwrap_or_default())
    }

    /// Every field, in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(name, value)| {
            let text = |range: &Range<usize>| self.text.get(range.clone()).unwrap_or_default();
            (text(name), text(value))
        })
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Makes room for `fields` more fields of `bytes` more text.
    pub(crate) fn reserve(&mut self, fields: usize, bytes: usize) {
        self.entries.reserve(fields);
        self.text.reserve(bytes);
    }

    /// The same fields with every name and value passed through `f`.
    pub(crate) fn map(&mut self, f: impl Fn(&str) -> Cow<'_, str>) {
        let mut mapped = DataFields::default();
        mapped.reserve(self.len(), self.text.len());
        for (name, value) in self.iter() {
            mapped.push(&f(name), &f(value));
        }
        *self = mapped;
    }
}

impl<N: AsRef<str>, V: AsRef<str>> Extend<(N, V)> for DataFields {
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, fields: I) {
        for (name, value) in fields {
            self.push(name.as_ref(), value.as_ref());
        }
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for DataFields {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(fields: I) -> Self {
        let mut data = DataFields::default();
        data.extend(fields);
        data
    }
}

impl serde::Serialize for DataFields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// A field name as Splunk's `CLEAN_KEYS` writes it: every character other than an ASCII
/// letter or digit becomes `_`, and leading `_` and digits are dropped ("replacing
/// non-alphanumeric characters … in field names with underscores, as well as the stripping
/// of leading underscores and 0-9 characters", transforms.conf). Defender's
/// `<Data Name='Process Name'>` is the field `Process_Name`.
pub(crate) fn clean_key(key: &str) -> String {
    let cleaned: String =
        key.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    cleaned.trim_start_matches(|c: char| c == '_' || c.is_ascii_digit()).to_owned()
}

/// Why a piece of input was not read as an event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum SkipReason {
    /// Text outside any event that is neither whitespace nor a header line.
    StrayText,
    /// `<Event` without its `</Event>` before the next event or the end of input.
    TruncatedEvent,
    /// An event larger than [`MAX_EVENT_BYTES`].
    OversizedEvent,
    /// Bytes that are not UTF-8, at this offset from the event's start.
    InvalidUtf8 {
        /// Offset of the first bad byte from the start of the event.
        offset: usize,
    },
    /// The event is not well-formed or lacks a field every event has.
    Malformed(String),
    /// An EVTX record the parser could not decode, or one its chunk lists that is missing.
    BadRecord(String),
    /// Damage to an EVTX file beyond one record: a chunk that fails its checksum or cannot
    /// be read, a chunk missing or cut off.
    DamagedEvtx(String),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::StrayText => f.write_str("text outside any <Event>"),
            SkipReason::TruncatedEvent => f.write_str("truncated event: expected </Event>"),
            SkipReason::OversizedEvent => {
                write!(f, "event larger than {MAX_EVENT_BYTES} bytes")
            }
            SkipReason::InvalidUtf8 { offset } => {
                write!(f, "invalid UTF-8 {offset} bytes into the event")
            }
            SkipReason::Malformed(what) => write!(f, "malformed event: {what}"),
            SkipReason::BadRecord(what) => write!(f, "unreadable EVTX record: {what}"),
            SkipReason::DamagedEvtx(what) => write!(f, "damaged EVTX file: {what}"),
        }
    }
}

/// Input that was not read as an event, and where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skip {
    /// Where the skipped input starts.
    pub location: Location,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// Errors reading events; each names where it happened.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The file could not be opened.
    #[error("cannot open {path}")]
    Open {
        /// The path as given.
        path: String,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// Reading failed part way, e.g. a gzip stream that ends early.
    #[error("{location}: cannot read further")]
    Read {
        /// How far reading got.
        location: Location,
        /// The underlying failure.
        #[source]
        source: io::Error,
    },
    /// The input is plainly not event text: an archive, a PDF, a legacy `.evt` log.
    #[error("{location}: not an event file: {what}")]
    NotEvents {
        /// The input.
        location: Location,
        /// What it is instead, and what to do.
        what: String,
    },
    /// The EVTX file header or a chunk could not be read.
    #[error("{location}: unreadable EVTX file")]
    Evtx {
        /// The file.
        location: Location,
        /// The parser's reason.
        #[source]
        source: Box<::evtx::err::EvtxError>,
    },
    /// Input was skipped and the reader is strict.
    #[error("{}: {}", .0.location, .0.reason)]
    Skipped(Skip),
}

/// What a reader read: events per channel and `EventID`, and everything it skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReadReport {
    /// The input's name.
    pub source: String,
    /// The format detected, once reading started.
    pub format: Option<InputFormat>,
    /// Whether the input was gzip-compressed.
    pub gzip: bool,
    /// The encoding the text was decoded from (UTF-16 exports are read as UTF-8).
    pub encoding: TextEncoding,
    /// Events read: channel, then `EventID`, to how many.
    pub events: BTreeMap<String, BTreeMap<u32, u64>>,
    /// Events passed over unparsed because the prefilter rejected them (not skips: they
    /// were well-formed as far as the boundary scan saw).
    pub prefiltered: u64,
    /// How many pieces of input were skipped.
    pub skipped_total: u64,
    /// The first [`ReadReport::MAX_LISTED_SKIPS`] skips, in input order.
    pub skipped: Vec<Skip>,
    /// Facts a reader should know that are not skips (header lines, unwrapped JSON strings,
    /// times read from local clocks).
    pub notes: Vec<String>,
    /// Why reading stopped before the end, if it did.
    pub failure: Option<String>,
}

impl ReadReport {
    /// How many skips are kept in [`ReadReport::skipped`]; the rest are only counted, so a
    /// garbage file cannot grow the report without bound.
    pub const MAX_LISTED_SKIPS: usize = 1000;

    /// Events read in total.
    pub fn events_total(&self) -> u64 {
        self.events.values().flat_map(BTreeMap::values).sum()
    }

    /// Events read of one channel and `EventID`.
    pub fn events_of(&self, channel: &str, event_id: u32) -> u64 {
        self.events.get(channel).and_then(|ids| ids.get(&event_id)).copied().unwrap_or(0)
    }

    /// (channel, `EventID`, events read) in channel then `EventID` order.
    pub fn event_counts(&self) -> impl Iterator<Item = (&str, u32, u64)> {
        self.events.iter().flat_map(|(channel, ids)| {
            ids.iter().map(move |(event_id, count)| (channel.as_str(), *event_id, *count))
        })
    }

    fn count(&mut self, event: &Event) {
        // Look up by borrowed key first: one allocation per distinct channel, not per event.
        if let Some(ids) = self.events.get_mut(event.channel.as_str()) {
            *ids.entry(event.event_id).or_default() += 1;
        } else {
            self.events.insert(event.channel.clone(), BTreeMap::from([(event.event_id, 1)]));
        }
    }

    fn skip(&mut self, skip: Skip) {
        self.skipped_total += 1;
        if self.skipped.len() < Self::MAX_LISTED_SKIPS {
            self.skipped.push(skip);
        }
    }
}

/// One step of a format reader: an event, a skip, an event the prefilter passed over, or
/// the end of what can be read.
// An event is moved once, from the reader to its caller: boxing it would cost an
// allocation per event for a few bytes of every skip.
#[allow(clippy::large_enum_variant)]
enum Step {
    Event(Event),
    Skip(Skip),
    Prefiltered,
    Fatal(EventError),
}

/// A test on an event's raw bytes, before it is parsed: `false` means the event cannot
/// matter to the caller and is only counted.
pub type Prefilter = Box<dyn FnMut(&[u8]) -> bool + Send>;

/// What every format reader does: hand out the next step, adding notes to the report.
trait FormatReader {
    fn next_step(&mut self, notes: &mut Vec<String>) -> Option<Step>;

    /// Installs `prefilter`; `false` when this format parses every event regardless.
    fn set_prefilter(&mut self, prefilter: Prefilter) -> bool {
        drop(prefilter);
        false
    }
}

/// Reads the events of one input, whatever its format, and keeps a [`ReadReport`].
///
/// Iterating yields every event; skipped input is counted in the report, or yielded as
/// [`EventError::Skipped`] when [`EventReader::strict`] is set. A failure that ends reading
/// (an I/O error, a gzip that ends early) is yielded once, after every event before it.
pub struct EventReader {
    inner: Option<Box<dyn FormatReader>>,
    report: ReadReport,
    strict: bool,
    /// The first line of the input, to say what it was if no event is found in it.
    preview: String,
    /// Whether the input starts the way an XML export does (`<`, or a `#` comment line).
    export_like: bool,
    /// UTF-16 code units that could not be decoded, counted while reading.
    replaced: Option<Rc<Cell<u64>>>,
    /// Whether the input is a piece of a file (see [`EventReader::xml_export_part`]), whose
    /// report says nothing of the whole.
    part: bool,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const EVTX_MAGIC: &[u8] = b"ElfFile\0";
const UTF8_BOM: &[u8] = &[0xef, 0xbb, 0xbf];
/// Read-ahead for the format readers; large enough that boundary scans run over long spans.
const BUFFER_BYTES: usize = 256 * 1024;

impl EventReader {
    /// Opens `path`, detecting gzip and the format from the first bytes.
    pub fn open(path: &Path) -> Result<Self, EventError> {
        let name: Arc<str> = Arc::from(path.display().to_string());
        let file = File::open(path)
            .map_err(|source| EventError::Open { path: name.to_string(), source })?;
        let (head, file) = peek(file, &name)?;
        if head.starts_with(EVTX_MAGIC) {
            // EVTX needs to seek between chunks, so it reads the file itself, from its start;
            // a path that cannot seek (a pipe, `<(zcat log.evtx.gz)`) is read as a stream.
            let (head, mut file) = file.into_inner();
            let inner = if file.seek(io::SeekFrom::Start(0)).is_ok() {
                evtx::EvtxReader::from_file(file, &name)?
            } else {
                evtx::EvtxReader::from_read(head.chain(file), &name)?
            };
            return Ok(Self::with(&name, InputFormat::Evtx, false, Box::new(inner)));
        }
        Self::from_peeked(&name, &head, file)
    }

    /// Reads events from `reader`, naming it `name` in locations. EVTX input is read into
    /// memory first (at most [`MAX_IN_MEMORY_EVTX_BYTES`] bytes), as its parser seeks;
    /// use [`EventReader::open`] for large EVTX files.
    pub fn from_reader(name: &str, reader: impl Read + 'static) -> Result<Self, EventError> {
        let name: Arc<str> = Arc::from(name);
        let (head, reader) = peek(reader, &name)?;
        Self::from_peeked(&name, &head, reader)
    }

    /// Reads `reader` as the part of an XML export `name` that starts at byte `offset`, on
    /// the line `first_line` gives: locations count from there and the format is not
    /// detected again. For a scan that cuts a file right after an `</Event>`, where reading
    /// can start afresh. `first_line` is asked only when a location needs a line (a skip, a
    /// note, a failure), so that a piece of a file can be read before the lines of those
    /// before it are counted; `on_end` is told how many newlines the part held once it is
    /// read to its end.
    #[doc(hidden)]
    pub fn xml_export_part(
        name: &str,
        reader: impl Read + 'static,
        offset: u64,
        first_line: Box<dyn FnOnce() -> u64>,
        on_end: Box<dyn FnOnce(u64)>,
    ) -> Self {
        let name: Arc<str> = Arc::from(name);
        let buffered = BufReader::with_capacity(BUFFER_BYTES, reader);
        let inner = xml::XmlExportReader::new(buffered, Arc::clone(&name))
            .starting_later(offset, first_line, on_end);
        let mut reader = Self::with(&name, InputFormat::XmlExport, false, Box::new(inner));
        reader.part = true;
        reader
    }

    fn from_peeked(
        name: &Arc<str>,
        head: &[u8],
        reader: impl Read + 'static,
    ) -> Result<Self, EventError> {
        if head.starts_with(GZIP_MAGIC) {
            let decoder = gzip::Limited::new(
                flate2::read::MultiGzDecoder::new(reader),
                MAX_DECOMPRESSED_BYTES,
            );
            let (head, inner) = peek(decoder, name)?;
            let mut reader = Self::sniffed(name, &head, inner)?;
            reader.report.gzip = true;
            return Ok(reader);
        }
        Self::sniffed(name, head, reader)
    }

    fn sniffed(
        name: &Arc<str>,
        head: &[u8],
        mut reader: impl Read + 'static,
    ) -> Result<Self, EventError> {
        if head.starts_with(EVTX_MAGIC) {
            let inner = evtx::EvtxReader::from_read(reader, name)?;
            return Ok(Self::with(name, InputFormat::Evtx, false, Box::new(inner)));
        }
        if let Some(what) = encoding::not_events(head) {
            return Err(EventError::NotEvents {
                location: Location::whole(name),
                what: what.to_owned(),
            });
        }
        let Some((text_encoding, mark)) = encoding::utf16(head) else {
            return Self::text(name, head, reader);
        };
        skip(&mut reader, mark, name)?;
        let decoder = encoding::Utf16Reader::new(reader, text_encoding);
        let replaced = decoder.replaced();
        let (head, utf8) = peek(decoder, name)?;
        let mut reader = Self::text(name, &head, utf8)?;
        reader.report.encoding = text_encoding;
        reader.replaced = Some(replaced);
        let how = if mark > 0 { "by its byte order mark" } else { "by its zero bytes" };
        reader.report.notes.push(format!(
            "the file is {text_encoding} text (told {how}), read as UTF-8: lines and byte \
             offsets count in the UTF-8 text"
        ));
        Ok(reader)
    }

    /// Text: JSON, an export wrapped in a JSON string, or (anything else) an XML export.
    fn text(
        name: &Arc<str>,
        head: &[u8],
        mut reader: impl Read + 'static,
    ) -> Result<Self, EventError> {
        // A byte order mark is not text: past it, offsets still count from the file's start.
        let mark = if head.starts_with(UTF8_BOM) { UTF8_BOM.len() } else { 0 };
        skip(&mut reader, mark, name)?;
        let buffered = BufReader::with_capacity(BUFFER_BYTES, reader);
        let text = head.get(mark..).unwrap_or_default();
        let first = text.iter().copied().find(|byte| !byte.is_ascii_whitespace());
        let mut reader = match first {
            Some(b'{' | b'[') => {
                let inner =
                    json::JsonReader::new(buffered, Arc::clone(name)).starting_at(mark as u64);
                Self::with(name, InputFormat::Json, false, Box::new(inner))
            }
            Some(b'"') => {
                log::warn!(
                    "{name}: the export is one JSON string; reading the XML events inside it"
                );
                let unwrapped = json_string::JsonStringReader::new(buffered);
                let inner = xml::XmlExportReader::new(
                    BufReader::with_capacity(BUFFER_BYTES, unwrapped),
                    Arc::clone(name),
                );
                let mut reader =
                    Self::with(name, InputFormat::XmlExportInJsonString, false, Box::new(inner));
                reader.report.notes.push(
                    "the whole file is one JSON string; read the XmlWinEventLog export inside \
                     it (lines and byte offsets count in the unescaped text)"
                        .to_owned(),
                );
                reader
            }
            // Anything else, binary garbage included, is read as an XML export: events are
            // found wherever `<Event` starts and everything else is a located skip.
            _ => {
                let inner =
                    xml::XmlExportReader::new(buffered, Arc::clone(name)).starting_at(mark as u64);
                Self::with(name, InputFormat::XmlExport, false, Box::new(inner))
            }
        };
        let line = text.split(|byte| *byte == b'\n').find(|line| !line.trim_ascii().is_empty());
        reader.preview = String::from_utf8_lossy(line.unwrap_or_default().trim_ascii())
            .chars()
            .take(60)
            .collect();
        reader.export_like =
            matches!(first, Some(b'<' | b'#')) || memchr::memmem::find(text, b"<Event").is_some();
        Ok(reader)
    }

    fn with(name: &str, format: InputFormat, gzip: bool, inner: Box<dyn FormatReader>) -> Self {
        EventReader {
            inner: Some(inner),
            report: Self::base_report(name, format, gzip),
            strict: false,
            preview: String::new(),
            export_like: format == InputFormat::XmlExport,
            replaced: None,
            part: false,
        }
    }

    fn base_report(name: &str, format: InputFormat, gzip: bool) -> ReadReport {
        ReadReport { source: name.to_owned(), format: Some(format), gzip, ..ReadReport::default() }
    }

    /// In strict mode any skipped input is yielded as an [`EventError::Skipped`] error.
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Parses only the events whose raw bytes pass `keep`; the others are counted in
    /// [`ReadReport::prefiltered`]. Applies to XML exports (plain, gzip or in a JSON string),
    /// where the bytes are the `<Event …>…</Event>` text with entities as written, and to
    /// EVTX records, where they are the XML the record is rendered as (its values are decoded
    /// from that text, so a test there must allow for the entities the `evtx` crate writes,
    /// as [`crate::prefilter::Prefilter::for_rendered_xml`] does). JSON events are always
    /// parsed (their raw form is not what a rule's values look like), and the report's notes
    /// say so.
    #[must_use]
    pub fn prefilter(mut self, keep: impl FnMut(&[u8]) -> bool + Send + 'static) -> Self {
        if let Some(inner) = self.inner.as_mut()
            && !inner.set_prefilter(Box::new(keep))
        {
            self.report.notes.push(
                "the prefilter applies to XML exports and EVTX files only; every event of this \
                 input was parsed"
                    .to_owned(),
            );
        }
        self
    }

    /// Whether the input is plain bytes of an XML export that starts as exports do: what
    /// the scan may search in the file itself, without this reader.
    pub(crate) fn plain_export_bytes(&self) -> bool {
        self.report.format == Some(InputFormat::XmlExport)
            && self.report.encoding == TextEncoding::Utf8
            && self.export_like
    }

    /// What was read so far.
    pub fn report(&self) -> &ReadReport {
        &self.report
    }

    /// What was read; call after iterating to the end.
    pub fn into_report(self) -> ReadReport {
        self.report
    }

    /// The events mapped to CIM data model records, with `source`, `sourcetype` and `host`
    /// derived from each event: only events that belong to a mapped dataset (a process
    /// creation, a registry change, a file created, …; see `datamodel::node_record`) give one.
    /// Errors pass through.
    pub fn processes(&mut self) -> impl Iterator<Item = Result<NodeRecord, EventError>> + '_ {
        self.filter_map(|event| match event {
            Ok(event) => datamodel::processes_record(&event).map(Ok),
            Err(err) => Some(Err(err)),
        })
    }
}

impl Iterator for EventReader {
    type Item = Result<Event, EventError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let inner = self.inner.as_mut()?;
            match inner.next_step(&mut self.report.notes) {
                None => {
                    self.inner = None;
                    self.finish();
                    return None;
                }
                Some(Step::Event(event)) => {
                    self.report.count(&event);
                    return Some(Ok(event));
                }
                Some(Step::Prefiltered) => self.report.prefiltered += 1,
                Some(Step::Skip(skip)) => {
                    self.report.skip(skip.clone());
                    if self.strict {
                        return Some(Err(EventError::Skipped(skip)));
                    }
                }
                Some(Step::Fatal(err)) => {
                    self.report.failure = Some(crate::error_chain(&err));
                    self.inner = None;
                    self.finish();
                    return Some(Err(err));
                }
            }
        }
    }
}

impl EventReader {
    /// Notes for the end of the input: decoding that had to guess, and text that held no
    /// event at all, said for what it is rather than left as "0 events".
    fn finish(&mut self) {
        if let Some(replaced) = self.replaced.take().map(|count| count.get()).filter(|n| *n > 0) {
            self.report.notes.push(format!(
                "{replaced} UTF-16 code units could not be decoded and were read as U+FFFD"
            ));
        }
        let report = &self.report;
        let text_only =
            report.skipped.iter().all(|skip| matches!(skip.reason, SkipReason::StrayText));
        let xml = matches!(
            report.format,
            Some(InputFormat::XmlExport | InputFormat::XmlExportInJsonString)
        );
        // A piece of a file holding no event says nothing of the file.
        if xml
            && !self.part
            && report.events_total() == 0
            && report.prefiltered == 0
            && report.skipped_total > 0
            && report.skipped_total == report.skipped.len() as u64
            && text_only
        {
            let note = format!(
                "no <Event> in this input, so no event was read: it is not an XmlWinEventLog \
                 export; it begins {:?}",
                self.preview
            );
            self.report.notes.push(note);
        }
    }
}

/// Reads past the first `len` bytes of `reader`.
fn skip(reader: &mut impl Read, len: usize, name: &Arc<str>) -> Result<(), EventError> {
    let skipped = io::copy(&mut reader.take(len as u64), &mut io::sink())
        .map_err(|source| EventError::Read { location: Location::text(name, 1, 0), source })?;
    debug_assert!(skipped <= len as u64);
    Ok(())
}

/// A reader whose first bytes were read for detection and are handed out again.
type Replayed<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

/// How many leading bytes format detection looks at.
const PEEK_BYTES: usize = 64;

/// Leading white space read past before detection gives up looking for a first character: a
/// JSON export padded with blank lines is still JSON, but the look stays bounded.
const MAX_LEADING_BLANK_BYTES: usize = 4096;

/// The first [`PEEK_BYTES`] bytes of `reader` (more when they are all white space, up to
/// [`MAX_LEADING_BLANK_BYTES`]; fewer only at the end of input), and a reader that yields
/// them again followed by the rest: detection must not depend on how much one `read`
/// happens to return.
fn peek<R: Read>(mut reader: R, name: &Arc<str>) -> Result<(Vec<u8>, Replayed<R>), EventError> {
    let mut head = Vec::with_capacity(PEEK_BYTES);
    loop {
        let wanted = if head.is_empty() { PEEK_BYTES } else { 1024 };
        let read = (&mut reader)
            .take(wanted as u64)
            .read_to_end(&mut head)
            .map_err(|source| EventError::Read { location: Location::text(name, 1, 0), source })?;
        let blank =
            head.strip_prefix(UTF8_BOM).unwrap_or(&head).iter().all(u8::is_ascii_whitespace);
        if read < wanted || !blank || head.len() >= MAX_LEADING_BLANK_BYTES {
            return Ok((head.clone(), io::Cursor::new(head).chain(reader)));
        }
    }
}

/// An EVTX file read on several threads: [`EvtxChunks::next`] hands out its chunks in file
/// order, and each is decoded by whichever thread takes it, into an [`EventReader`] of its
/// own. Their events in turn, and their reports added up in turn, are those of one reader
/// of the whole file: a chunk holds its strings and templates, so its records decode alone.
pub(crate) struct EvtxChunks {
    reader: evtx::EvtxReader,
    name: Arc<str>,
    keep: Option<SharedPrefilter>,
}

/// A [`Prefilter`] that threads share.
type SharedPrefilter = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// One piece of an EVTX file's reading, to be read on any thread: a run of chunks.
pub(crate) struct EvtxPart {
    work: Vec<evtx::Work>,
    decoder: evtx::ChunkDecoder,
    name: Arc<str>,
    keep: Option<SharedPrefilter>,
}

impl EvtxChunks {
    /// The chunks of `path` when it is an EVTX file, not compressed.
    pub(crate) fn open(path: &Path) -> Result<Option<Self>, EventError> {
        let name: Arc<str> = Arc::from(path.display().to_string());
        let mut file = File::open(path)
            .map_err(|source| EventError::Open { path: name.to_string(), source })?;
        let mut magic = [0; EVTX_MAGIC.len()];
        let read = file.read_exact(&mut magic).and_then(|()| file.rewind());
        if read.is_err() || magic != EVTX_MAGIC {
            return Ok(None);
        }
        let reader = evtx::EvtxReader::from_file(file, &name)?;
        Ok(Some(EvtxChunks { reader, name, keep: None }))
    }

    /// Each record's XML is tested with `keep` before it is parsed, as
    /// [`EventReader::prefilter`] does for one reader.
    pub(crate) fn prefilter(self, keep: impl Fn(&[u8]) -> bool + Send + Sync + 'static) -> Self {
        EvtxChunks { keep: Some(Arc::new(keep)), ..self }
    }

    /// The file's report before any chunk is read: what each part reports adds to it.
    pub(crate) fn report(&self) -> ReadReport {
        EventReader::base_report(&self.name, InputFormat::Evtx, false)
    }

    /// The next piece of the file, in file order; `None` after the last. A piece is a run
    /// of chunks that together list about [`EvtxChunks::PART_RECORDS`] records: a chunk
    /// can hold one record or hundreds, and handing out a chunk costs two thread switches
    /// whatever it holds.
    pub(crate) fn next(&mut self) -> Option<EvtxPart> {
        let mut work = Vec::new();
        let mut records = 0;
        while records < Self::PART_RECORDS && work.len() < Self::PART_CHUNKS {
            let Some(next) = self.reader.next_work() else { break };
            if let evtx::Work::Chunk(planned) = &next {
                records += planned.listed;
            }
            work.push(next);
        }
        (!work.is_empty()).then(|| EvtxPart {
            work,
            decoder: self.reader.decoder(),
            name: Arc::clone(&self.name),
            keep: self.keep.clone(),
        })
    }

    /// Records a piece lists, about.
    const PART_RECORDS: u64 = 256;
    /// Chunks a piece holds, at most: a chunk listing no record may still hold some.
    const PART_CHUNKS: usize = 16;
}

impl EvtxPart {
    /// Decodes the piece: its events and skips, and a report of them alone.
    pub(crate) fn read(self) -> EventReader {
        let mut steps = Steps::new();
        let mut keep = self.keep.as_deref().map(|keep| move |raw: &[u8]| keep(raw));
        for work in self.work {
            match work {
                evtx::Work::Ready(ready) => steps.extend(ready),
                evtx::Work::Chunk(planned) => {
                    let keep = keep.as_mut().map(|keep| keep as &mut evtx::Keep<'_>);
                    steps.extend(self.decoder.read(planned.number, keep));
                }
            }
        }
        EventReader::with(&self.name, InputFormat::Evtx, false, Box::new(Ready(steps)))
    }
}

/// Steps made in advance.
struct Ready(Steps);

impl FormatReader for Ready {
    fn next_step(&mut self, _notes: &mut Vec<String>) -> Option<Step> {
        self.0.pop_front()
    }
}

/// Pending steps of readers that produce several at once (EVTX chunks, JSON lines waiting
/// for a clock offset).
type Steps = VecDeque<Step>;

#[cfg(test)]
mod tests {
    #[test]
    fn an_event_may_be_sent_and_shared_across_threads() {
        // The scan hands events between threads; a cache inside one must not stop that.
        fn both<T: Send + Sync>() {}
        both::<super::Event>();
    }
}
