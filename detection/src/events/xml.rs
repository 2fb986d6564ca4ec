//! Splunk's `XmlWinEventLog` exports: `<Event …>…</Event>` one after another, split on the
//! tags (never on newlines), then each event parsed from its own byte slice. Text between
//! events (a header line, classic `key=value` events) is classified and skipped.
//!
//! Finding boundaries ([`XmlExportReader`]) is kept apart from parsing ([`parse_event`]) so a
//! scan can test an event's bytes before paying for a parse. Parsing uses quick-xml, which
//! never reads a DTD or resolves an external entity.

use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::{Arc, LazyLock};

use memchr::memmem::Finder;
use quick_xml::events::{BytesStart, Event as XmlToken};

use super::time::parse_timestamp;
use super::{Event, FormatReader, Location, MAX_EVENT_BYTES, Skip, SkipReason, Step, ValueForm};
use crate::events::{EventError, UTF8_BOM};

static EVENT_START: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"<Event"));
static EVENT_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"</Event>"));
const START_LEN: usize = b"<Event".len();
const END_LEN: usize = b"</Event>".len();
const READ_BYTES: usize = 256 * 1024;

/// Position of the next `<Event` start tag in `bytes` (not `<EventData`, `<EventID`…), or
/// `Err(n)` when none starts before `n`, where the bytes from `n` on could still begin one.
/// Shared with the scan's candidate search so that both split events alike.
pub(crate) fn find_event_start(bytes: &[u8]) -> Result<usize, usize> {
    let mut from = 0;
    while let Some(found) = EVENT_START.find(bytes.get(from..).unwrap_or_default()) {
        let at = from + found;
        match bytes.get(at + START_LEN) {
            Some(b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/') => return Ok(at),
            Some(_) => from = at + START_LEN,
            None => return Err(at),
        }
    }
    Err(bytes.len().saturating_sub(START_LEN - 1).max(from))
}

/// How the text between events is being read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GapState {
    /// Nothing but whitespace since the last event.
    Clear,
    /// Inside a classic text event (its lines belong to the skip already counted).
    InTextEvent,
    /// Inside text that is not an event (counted once per run).
    InStrayText,
}

/// Splits an `XmlWinEventLog` export into events, streaming.
pub(crate) struct XmlExportReader<R> {
    reader: R,
    source: Arc<str>,
    /// Unconsumed input; `buf[start..]` is still to be looked at.
    buf: Vec<u8>,
    start: usize,
    /// Absolute offset and line of `buf[start]`.
    offset: u64,
    line: u64,
    eof: bool,
    gap: GapState,
    /// Skipping the rest of an oversized event up to its `</Event>`.
    discarding: bool,
    /// How far a search for `</Event>` has already looked, relative to `start`.
    end_searched: usize,
    /// Skips found in text between events, handed out before the next event.
    queued: VecDeque<Skip>,
    prefilter: Option<super::Prefilter>,
}

impl<R: BufRead> XmlExportReader<R> {
    pub(crate) fn new(reader: R, source: Arc<str>) -> Self {
        XmlExportReader {
            reader,
            source,
            buf: Vec::with_capacity(READ_BYTES * 2),
            start: 0,
            offset: 0,
            line: 1,
            eof: false,
            gap: GapState::Clear,
            discarding: false,
            end_searched: 0,
            queued: VecDeque::new(),
            prefilter: None,
        }
    }

    /// Counts locations from `offset` and `line`: for input that continues another, e.g.
    /// the second half of a file cut right after an `</Event>`.
    pub(crate) fn starting_at(mut self, offset: u64, line: u64) -> Self {
        self.offset = offset;
        self.line = line;
        self
    }

    fn location(&self) -> Location {
        Location::text(&self.source, self.line, self.offset)
    }

    /// Moves `start` forward by `len` bytes, keeping the offset and line count right.
    fn consume(&mut self, len: usize) {
        let consumed = self.buf.get(self.start..self.start + len).unwrap_or_default();
        self.line += memchr::memchr_iter(b'\n', consumed).count() as u64;
        self.offset += len as u64;
        self.start += len;
        self.end_searched = 0;
    }

    /// Reads more input; `Ok(false)` at the end.
    fn fill(&mut self) -> Result<bool, std::io::Error> {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let read = {
            let available = loop {
                match self.reader.fill_buf() {
                    Ok(bytes) => break bytes,
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
            };
            self.buf.extend_from_slice(available);
            available.len()
        };
        self.reader.consume(read);
        if read == 0 {
            self.eof = true;
        }
        Ok(read > 0)
    }

    /// Classifies the text `buf[start..start + len]` line by line and consumes it. Lines are
    /// complete except possibly the last, which ends where an event starts or input ends.
    fn gap(&mut self, len: usize, notes: &mut Vec<String>) {
        let Some(text) = self.buf.get(self.start..self.start + len) else { return };
        let mut line = self.line;
        let mut offset = self.offset;
        for raw in text.split_inclusive(|byte| *byte == b'\n') {
            let content = raw.strip_prefix(UTF8_BOM).unwrap_or(raw);
            let trimmed = content.trim_ascii();
            if trimmed.is_empty() {
                // Blank lines end stray text but not a text event (its Message has blanks).
                if self.gap == GapState::InStrayText {
                    self.gap = GapState::Clear;
                }
            } else if is_text_event_header(trimmed) {
                self.gap = GapState::InTextEvent;
                self.queued.push_back(Skip {
                    location: Location::text(&self.source, line, offset),
                    reason: SkipReason::TextEvent,
                });
            } else if trimmed.starts_with(b"#") && self.gap == GapState::Clear {
                // Exports carry `#` comment lines (a header, a note between runs); they are not
                // data, so they are noted rather than counted as skips.
                let shown: String = String::from_utf8_lossy(trimmed).chars().take(80).collect();
                notes.push(format!("line {line}: comment line ignored: {shown}"));
            } else if self.gap == GapState::Clear {
                self.gap = GapState::InStrayText;
                self.queued.push_back(Skip {
                    location: Location::text(&self.source, line, offset),
                    reason: SkipReason::StrayText,
                });
            }
            if raw.ends_with(b"\n") {
                line += 1;
            }
            offset += raw.len() as u64;
        }
        self.consume(len);
    }

    fn next_event(&mut self, notes: &mut Vec<String>) -> Option<Step> {
        loop {
            if self.discarding {
                let pending = self.buf.get(self.start..).unwrap_or_default();
                if let Some(end) = EVENT_END.find(pending) {
                    self.consume(end + END_LEN);
                    self.discarding = false;
                    continue;
                }
                if self.eof {
                    // The oversized event never ended: the rest of the input belongs to it.
                    let len = pending.len();
                    self.consume(len);
                    self.discarding = false;
                    return None;
                }
                // Keep the bytes that could be the start of `</Event>`.
                let keep = END_LEN - 1;
                self.consume(pending.len().saturating_sub(keep));
            } else {
                let pending = self.buf.get(self.start..).unwrap_or_default();
                match find_event_start(pending) {
                    Ok(at) => {
                        if at > 0 {
                            self.gap(at, notes);
                            if let Some(skip) = self.queued.pop_front() {
                                return Some(Step::Skip(skip));
                            }
                        }
                        if let Some(step) = self.event_at_start() {
                            return Some(step);
                        }
                    }
                    Err(safe) => {
                        if self.eof {
                            let len = pending.len();
                            self.gap(len, notes);
                            return self.queued.pop_front().map(Step::Skip);
                        }
                        // Hand over only whole lines so a text event's date line is seen whole.
                        let whole = pending
                            .get(..safe)
                            .and_then(|head| memchr::memrchr(b'\n', head))
                            .map_or(0, |newline| newline + 1);
                        if whole > 0 {
                            self.gap(whole, notes);
                            if let Some(skip) = self.queued.pop_front() {
                                return Some(Step::Skip(skip));
                            }
                        } else if safe > MAX_EVENT_BYTES {
                            // One enormous line without an event: still bounded in memory.
                            self.gap(safe, notes);
                            if let Some(skip) = self.queued.pop_front() {
                                return Some(Step::Skip(skip));
                            }
                        }
                    }
                }
            }
            if self.eof {
                continue;
            }
            if let Err(source) = self.fill() {
                let location = self.location();
                return Some(Step::Fatal(EventError::Read { location, source }));
            }
        }
    }

    /// With an `<Event` at `start`: the event or its skip once `</Event>` is in the buffer,
    /// or `None` when more input is needed.
    fn event_at_start(&mut self) -> Option<Step> {
        let pending = self.buf.get(self.start..).unwrap_or_default();
        let search_from = self.end_searched.max(START_LEN);
        let found_end = pending
            .get(search_from..)
            .and_then(|rest| EVENT_END.find(rest))
            .map(|at| search_from + at);
        let Some(end) = found_end else {
            let location = self.location();
            if pending.len() > MAX_EVENT_BYTES {
                self.consume(START_LEN);
                self.discarding = true;
                self.gap = GapState::Clear;
                return Some(Step::Skip(Skip { location, reason: SkipReason::OversizedEvent }));
            }
            if self.eof {
                // The truncated event may still hold whole events after it; resume after
                // the tag so they are found.
                let next = pending.get(START_LEN..).map_or(Err(0), find_event_start);
                let len = next.map_or(pending.len(), |at| at + START_LEN);
                self.consume(len);
                return Some(Step::Skip(Skip { location, reason: SkipReason::TruncatedEvent }));
            }
            self.end_searched = pending.len().saturating_sub(END_LEN - 1);
            return None;
        };
        let location = self.location();
        // An `<Event` before this `</Event>` means the first event was cut off.
        if let Ok(nested) = pending.get(START_LEN..end).map_or(Err(0), find_event_start) {
            self.consume(START_LEN + nested);
            self.gap = GapState::Clear;
            return Some(Step::Skip(Skip { location, reason: SkipReason::TruncatedEvent }));
        }
        let len = end + END_LEN;
        let bytes = pending.get(..len).unwrap_or_default();
        if let Some(keep) = self.prefilter.as_mut()
            && !keep(bytes)
        {
            self.consume(len);
            self.gap = GapState::Clear;
            return Some(Step::Prefiltered);
        }
        let step = match pending.get(..len).map(|bytes| parse_event(bytes, location.clone())) {
            Some(Ok(event)) => Step::Event(event),
            Some(Err(reason)) => Step::Skip(Skip { location, reason }),
            None => return None,
        };
        self.consume(len);
        self.gap = GapState::Clear;
        Some(step)
    }
}

impl<R: BufRead> FormatReader for XmlExportReader<R> {
    fn next_step(&mut self, notes: &mut Vec<String>) -> Option<Step> {
        // One stretch of text can hold several text events: hand them out first.
        if let Some(skip) = self.queued.pop_front() {
            return Some(Step::Skip(skip));
        }
        self.next_event(notes)
    }

    fn set_prefilter(&mut self, prefilter: super::Prefilter) -> bool {
        self.prefilter = Some(prefilter);
        true
    }
}

/// `MM/DD/YYYY HH:MM:SS AM`: the first line of a classic `WinEventLog` text event.
fn is_text_event_header(line: &[u8]) -> bool {
    let shape = b"00/00/0000 0";
    line.len() >= shape.len()
        && line.iter().zip(shape).all(|(byte, want)| match want {
            b'0' => byte.is_ascii_digit(),
            other => byte == other,
        })
        && (line.ends_with(b" AM") || line.ends_with(b" PM"))
}

/// Parses one `<Event …>…</Event>` from its bytes. Values keep their text as written
/// ([`ValueForm::XmlRaw`]); entity references are checked but not decoded.
pub fn parse_event(bytes: &[u8], location: Location) -> Result<Event, SkipReason> {
    let text = std::str::from_utf8(bytes)
        .map_err(|err| SkipReason::InvalidUtf8 { offset: err.valid_up_to() })?;
    check_references(text)?;
    let mut reader = quick_xml::Reader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;

    let mut event = Event {
        channel: String::new(),
        event_id: 0,
        provider: String::new(),
        computer: String::new(),
        record_id: None,
        time_micros: 0,
        data: Vec::new(),
        value_form: ValueForm::XmlRaw,
        location,
    };
    let mut event_id = None;
    let mut time = None;
    // Element path from <Event>: at most <Event>/<System>/<X> or <Event>/<EventData>/<Data>.
    let mut path: Vec<Name> = Vec::with_capacity(4);
    // (element, data name, where its text starts) of the leaf being read.
    let mut open: Option<(Name, Option<String>, usize)> = None;
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let token = reader.read_event().map_err(|err| {
            SkipReason::Malformed(format!("{err} at byte {} of the event", reader.error_position()))
        })?;
        match token {
            XmlToken::Start(start) => {
                let name = Name::of(&start);
                if path.len() == 2 {
                    let data_name = attribute(&start, b"Name")?;
                    let at = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
                    open = Some((name, data_name, at));
                    system_attributes(&start, &path, &mut event, &mut time)?;
                }
                path.push(name);
            }
            XmlToken::Empty(start) => {
                system_attributes(&start, &path, &mut event, &mut time)?;
                if path.len() == 2
                    && path.get(1) == Some(&Name::EventData)
                    && Name::of(&start) == Name::Data
                {
                    let data_name =
                        attribute(&start, b"Name")?.unwrap_or_else(|| "Data".to_owned());
                    event.data.push((data_name, String::new()));
                }
            }
            XmlToken::End(_) => {
                let name = path.pop();
                if let (Some((open_name, data_name, at)), Some(name)) = (open.take(), name)
                    && open_name == name
                    && path.len() == 2
                {
                    let value = text.get(at..before).unwrap_or_default();
                    let parent = path.get(1).copied().unwrap_or(Name::Other);
                    leaf(&mut event, &mut event_id, parent, name, data_name, value)?;
                }
                if path.is_empty() {
                    break;
                }
            }
            XmlToken::Eof => {
                return Err(SkipReason::Malformed("expected </Event> before the end".to_owned()));
            }
            _ => {}
        }
    }
    event.event_id = event_id.ok_or_else(|| SkipReason::Malformed("no <EventID>".to_owned()))?;
    event.time_micros =
        time.ok_or_else(|| SkipReason::Malformed("no TimeCreated/@SystemTime".to_owned()))?;
    Ok(event)
}

/// The element names the parser acts on; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    System,
    EventData,
    Data,
    Provider,
    EventId,
    TimeCreated,
    EventRecordId,
    Channel,
    Computer,
    Other,
}

impl Name {
    fn of(start: &BytesStart<'_>) -> Name {
        match start.local_name().into_inner() {
            b"System" => Name::System,
            b"EventData" => Name::EventData,
            b"Data" => Name::Data,
            b"Provider" => Name::Provider,
            b"EventID" => Name::EventId,
            b"TimeCreated" => Name::TimeCreated,
            b"EventRecordID" => Name::EventRecordId,
            b"Channel" => Name::Channel,
            b"Computer" => Name::Computer,
            _ => Name::Other,
        }
    }
}

fn attribute(start: &BytesStart<'_>, key: &[u8]) -> Result<Option<String>, SkipReason> {
    let found = start
        .try_get_attribute(key)
        .map_err(|err| SkipReason::Malformed(format!("bad attribute: {err}")))?;
    Ok(found.map(|attr| String::from_utf8_lossy(&attr.value).into_owned()))
}

/// `Provider/@Name` and `TimeCreated/@SystemTime`, usually written as empty elements.
fn system_attributes(
    start: &BytesStart<'_>,
    path: &[Name],
    event: &mut Event,
    time: &mut Option<i64>,
) -> Result<(), SkipReason> {
    if path.len() != 2 || path.get(1) != Some(&Name::System) {
        return Ok(());
    }
    match Name::of(start) {
        Name::Provider => {
            if let Some(name) = attribute(start, b"Name")? {
                event.provider = name;
            }
        }
        Name::TimeCreated => {
            if let Some(system_time) = attribute(start, b"SystemTime")? {
                let stamp = parse_timestamp(&system_time).ok_or_else(|| {
                    SkipReason::Malformed(format!("bad TimeCreated/@SystemTime {system_time:?}"))
                })?;
                *time = Some(stamp.micros());
            }
        }
        _ => {}
    }
    Ok(())
}

fn leaf(
    event: &mut Event,
    event_id: &mut Option<u32>,
    parent: Name,
    name: Name,
    data_name: Option<String>,
    value: &str,
) -> Result<(), SkipReason> {
    match (parent, name) {
        (Name::System, Name::EventId) => {
            let id = value
                .trim()
                .parse()
                .map_err(|_| SkipReason::Malformed(format!("EventID {value:?} is not a number")))?;
            *event_id = Some(id);
        }
        (Name::System, Name::Channel) => value.clone_into(&mut event.channel),
        (Name::System, Name::Computer) => value.clone_into(&mut event.computer),
        (Name::System, Name::EventRecordId) => event.record_id = value.trim().parse().ok(),
        (Name::EventData, Name::Data) => {
            event.data.push((data_name.unwrap_or_else(|| "Data".to_owned()), value.to_owned()));
        }
        _ => {}
    }
    Ok(())
}

/// Entity references must be the five XML defines or a character reference: anything else
/// would be a DTD-declared entity, which is never resolved, so the event is refused.
fn check_references(text: &str) -> Result<(), SkipReason> {
    for at in memchr::memchr_iter(b'&', text.as_bytes()) {
        let rest = text.get(at + 1..).unwrap_or_default();
        let name = rest.split(';').next().filter(|name| name.len() < rest.len());
        let valid = match name {
            Some("amp" | "lt" | "gt" | "quot" | "apos") => true,
            Some(reference) => {
                if let Some(hex) = reference.strip_prefix("#x") {
                    !hex.is_empty()
                        && u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).is_some()
                } else if let Some(decimal) = reference.strip_prefix('#') {
                    decimal.parse::<u32>().ok().and_then(char::from_u32).is_some()
                } else {
                    false
                }
            }
            None => false,
        };
        if !valid {
            let shown: String = rest.chars().take_while(|c| *c != ';').take(20).collect();
            return Err(SkipReason::Malformed(format!(
                "unknown entity reference &{shown}; at byte {at} of the event"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_start_is_not_event_data() {
        assert_eq!(find_event_start(b"<EventData><Event x"), Ok(11));
        assert_eq!(find_event_start(b"ab<EventID>"), Err(8));
        assert_eq!(find_event_start(b"abcdefgh<Eve"), Err(7));
        assert_eq!(find_event_start(b"xx<Event"), Err(2));
    }

    #[test]
    fn text_event_header_shape() {
        assert!(is_text_event_header(b"01/14/2021 11:41:39 PM"));
        assert!(!is_text_event_header(b"LogName=Security"));
    }
}
