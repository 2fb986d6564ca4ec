//! Splunk's `XmlWinEventLog` exports: `<Event …>…</Event>` one after another, split on the
//! tags (never on newlines), then each event parsed from its own byte slice. Text between
//! events (a header line, classic `key=value` events) is classified and skipped.
//!
//! Finding boundaries ([`XmlExportReader`]) is kept apart from parsing ([`parse_event`]) so a
//! scan can test an event's bytes before paying for a parse. Events of the usual shape are
//! parsed by a scanner of their own and the rest by quick-xml; neither reads a DTD or
//! resolves an external entity.

mod scanner;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::{Arc, LazyLock};

use memchr::memmem::Finder;
use quick_xml::events::{BytesStart, Event as XmlToken};

use super::time::parse_timestamp;
use super::{
    Event, FormatReader, Location, MAX_EVENT_BYTES, RawFormat, Skip, SkipReason, Step, ValueForm,
};
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
    /// Inside a classic text event: its lines are gathered in [`XmlExportReader::classic`].
    InTextEvent,
    /// Inside text that is not an event (counted once per run).
    InStrayText,
}

/// A classic `WinEventLog` text event being gathered line by line from the text between XML
/// events; it ends at the next date line, the next `<Event` or the end of input.
struct PendingClassic {
    location: Location,
    bytes: Vec<u8>,
    /// Past [`MAX_EVENT_BYTES`]: the rest is dropped and the event is one skip.
    oversized: bool,
}

/// The line an input starts on.
enum FirstLine {
    Known(u64),
    /// Asked the first time a location needs it (see [`XmlExportReader::starting_later`]),
    /// and kept.
    Later {
        ask: Option<Box<dyn FnOnce() -> u64>>,
        known: Option<u64>,
    },
}

/// Splits an `XmlWinEventLog` export into events, streaming.
pub(crate) struct XmlExportReader<R> {
    reader: R,
    source: Arc<str>,
    /// Unconsumed input; `buf[start..]` is still to be looked at.
    buf: Vec<u8>,
    start: usize,
    /// Absolute offset of `buf[start]`, and the newlines consumed before it.
    offset: u64,
    newlines: u64,
    /// The line the input starts on.
    first_line: FirstLine,
    /// Told how many newlines the input held, once it is read to its end.
    on_end: Option<Box<dyn FnOnce(u64)>>,
    eof: bool,
    gap: GapState,
    /// Skipping the rest of an oversized event up to its `</Event>`.
    discarding: bool,
    /// How far a search for `</Event>` has already looked, relative to `start`.
    end_searched: usize,
    /// Skips and classic events found in text between events, handed out before the next
    /// XML event.
    queued: VecDeque<Step>,
    classic: Option<PendingClassic>,
    noted_classic_time: bool,
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
            newlines: 0,
            first_line: FirstLine::Known(1),
            on_end: None,
            eof: false,
            gap: GapState::Clear,
            discarding: false,
            end_searched: 0,
            queued: VecDeque::new(),
            classic: None,
            noted_classic_time: false,
            prefilter: None,
        }
    }

    /// Counts byte offsets from `offset`: past a byte order mark, offsets still count from
    /// the file's start.
    pub(crate) fn starting_at(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Counts locations from `offset` and the line `first_line` gives, asked only when a
    /// location needs it (a skip, a note, a failure): for a piece of a file whose line is
    /// known only once the pieces before it are read. `on_end` is told the newlines the
    /// input held when it is read to its end.
    pub(crate) fn starting_later(
        mut self,
        offset: u64,
        first_line: Box<dyn FnOnce() -> u64>,
        on_end: Box<dyn FnOnce(u64)>,
    ) -> Self {
        self.offset = offset;
        self.first_line = FirstLine::Later { ask: Some(first_line), known: None };
        self.on_end = Some(on_end);
        self
    }

    /// The line of `buf[start]`.
    fn line(&mut self) -> u64 {
        let first = match &mut self.first_line {
            FirstLine::Known(line) => *line,
            FirstLine::Later { ask, known } => {
                *known.get_or_insert_with(|| ask.take().map_or(1, |ask| ask()))
            }
        };
        first + self.newlines
    }

    fn location(&mut self) -> Location {
        let line = self.line();
        Location::text(&self.source, line, self.offset)
    }

    /// Where the event at `buf[start]` starts, as the event keeps it: without its line
    /// when the line is known only later (see [`XmlExportReader::starting_later`]), as
    /// the candidate search gives its events, rather than waiting for it.
    fn event_location(&self) -> Location {
        match self.first_line {
            FirstLine::Known(line) => {
                Location::text(&self.source, line + self.newlines, self.offset)
            }
            FirstLine::Later { .. } => Location {
                source: Arc::clone(&self.source),
                line: None,
                byte_offset: Some(self.offset),
                record: None,
            },
        }
    }

    /// Moves `start` forward by `len` bytes, keeping the offset and line count right.
    fn consume(&mut self, len: usize) {
        let consumed = self.buf.get(self.start..self.start + len).unwrap_or_default();
        self.newlines += memchr::memchr_iter(b'\n', consumed).count() as u64;
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
        // The buffer is set aside while its lines are read, as finishing a classic event
        // needs the rest of the reader.
        let buf = std::mem::take(&mut self.buf);
        let text = buf.get(self.start..self.start + len).unwrap_or_default();
        // Newlines of the text before the line at hand: the line's number is asked only
        // when a skip or a note needs it.
        let mut before = 0;
        let mut offset = self.offset;
        for raw in text.split_inclusive(|byte| *byte == b'\n') {
            let content = raw.strip_prefix(UTF8_BOM).unwrap_or(raw);
            let trimmed = content.trim_ascii();
            if is_text_event_header(trimmed) {
                // A new classic event ends the one before it.
                self.end_classic(notes);
                self.gap = GapState::InTextEvent;
                let line = self.line() + before;
                self.classic = Some(PendingClassic {
                    location: Location::text(&self.source, line, offset),
                    bytes: content.to_vec(),
                    oversized: false,
                });
            } else if self.gap == GapState::InTextEvent {
                // Every line up to the next event belongs to the classic event: its Message
                // has blank lines.
                if let Some(pending) = self.classic.as_mut() {
                    if pending.bytes.len() + raw.len() > MAX_EVENT_BYTES {
                        pending.oversized = true;
                        pending.bytes.clear();
                    }
                    if !pending.oversized {
                        pending.bytes.extend_from_slice(raw);
                    }
                }
            } else if trimmed.is_empty() {
                // Blank lines end stray text.
                if self.gap == GapState::InStrayText {
                    self.gap = GapState::Clear;
                }
            } else if trimmed.starts_with(b"#") && self.gap == GapState::Clear {
                // Exports carry `#` comment lines (a header, a note between runs); they are not
                // data, so they are noted rather than counted as skips.
                let shown: String = String::from_utf8_lossy(trimmed).chars().take(80).collect();
                let line = self.line() + before;
                notes.push(format!("line {line}: comment line ignored: {shown}"));
            } else if self.gap == GapState::Clear {
                self.gap = GapState::InStrayText;
                let line = self.line() + before;
                self.queued.push_back(Step::Skip(Skip {
                    location: Location::text(&self.source, line, offset),
                    reason: SkipReason::StrayText,
                }));
            }
            if raw.ends_with(b"\n") {
                before += 1;
            }
            offset += raw.len() as u64;
        }
        self.buf = buf;
        self.consume(len);
    }

    /// Ends the classic event being gathered, if any: an XML event or the end of input
    /// follows.
    fn end_classic(&mut self, notes: &mut Vec<String>) {
        if let Some(pending) = self.classic.take() {
            let step = finish_classic(pending, self.prefilter.as_mut());
            if matches!(step, Step::Event(_)) && !self.noted_classic_time {
                self.noted_classic_time = true;
                notes.push(
                    "classic WinEventLog text events were read; their date lines carry no offset \
                     from UTC, so their _time is that time read as UTC"
                        .to_owned(),
                );
            }
            self.queued.push_back(step);
        }
        if self.gap == GapState::InTextEvent {
            self.gap = GapState::Clear;
        }
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
                        }
                        self.end_classic(notes);
                        if let Some(step) = self.queued.pop_front() {
                            return Some(step);
                        }
                        if let Some(step) = self.event_at_start() {
                            return Some(step);
                        }
                    }
                    Err(safe) => {
                        if self.eof {
                            let len = pending.len();
                            self.gap(len, notes);
                            self.end_classic(notes);
                            return self.queued.pop_front();
                        }
                        // Hand over only whole lines so a text event's date line is seen whole.
                        let whole = pending
                            .get(..safe)
                            .and_then(|head| memchr::memrchr(b'\n', head))
                            .map_or(0, |newline| newline + 1);
                        if whole > 0 {
                            self.gap(whole, notes);
                            if let Some(step) = self.queued.pop_front() {
                                return Some(step);
                            }
                        } else if safe > MAX_EVENT_BYTES {
                            // One enormous line without an event: still bounded in memory.
                            self.gap(safe, notes);
                            if let Some(step) = self.queued.pop_front() {
                                return Some(step);
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
        let search_from = self.end_searched.max(START_LEN);
        let found_end = self
            .buf
            .get(self.start..)
            .and_then(|pending| pending.get(search_from..))
            .and_then(|rest| EVENT_END.find(rest))
            .map(|at| search_from + at);
        let Some(end) = found_end else {
            // Asked only for a skip: a piece of a file waits for its line (see `line`).
            let pending = self.buf.get(self.start..).unwrap_or_default().len();
            if pending > MAX_EVENT_BYTES {
                let location = self.location();
                self.consume(START_LEN);
                self.discarding = true;
                self.gap = GapState::Clear;
                return Some(Step::Skip(Skip { location, reason: SkipReason::OversizedEvent }));
            }
            if self.eof {
                // The truncated event may still hold whole events after it; resume after
                // the tag so they are found.
                let location = self.location();
                let rest = self.buf.get(self.start + START_LEN..).unwrap_or_default();
                let len = find_event_start(rest).map_or(pending, |at| at + START_LEN);
                self.consume(len);
                return Some(Step::Skip(Skip { location, reason: SkipReason::TruncatedEvent }));
            }
            self.end_searched = pending.saturating_sub(END_LEN - 1);
            return None;
        };
        // An `<Event` before this `</Event>` means the first event was cut off.
        let pending = self.buf.get(self.start..).unwrap_or_default();
        if let Ok(nested) = pending.get(START_LEN..end).map_or(Err(0), find_event_start) {
            let location = self.location();
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
        let parsed = pending.get(..len).map(|bytes| parse_event(bytes, self.event_location()));
        let step = match parsed {
            Some(Ok(event)) => Step::Event(event),
            Some(Err(reason)) => Step::Skip(Skip { location: self.location(), reason }),
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
        if let Some(step) = self.queued.pop_front() {
            return Some(step);
        }
        let step = self.next_event(notes);
        if step.is_none()
            && self.eof
            && let Some(on_end) = self.on_end.take()
        {
            let rest = self.buf.get(self.start..).unwrap_or_default();
            on_end(self.newlines + memchr::memchr_iter(b'\n', rest).count() as u64);
        }
        step
    }

    fn set_prefilter(&mut self, prefilter: super::Prefilter) -> bool {
        self.prefilter = Some(prefilter);
        true
    }
}

/// The step a gathered classic event gives: the event, a skip, or (when the prefilter rejects
/// its text) a prefiltered count. The line break that ends it is not part of it.
fn finish_classic(pending: PendingClassic, prefilter: Option<&mut super::Prefilter>) -> Step {
    let PendingClassic { location, bytes, oversized } = pending;
    if oversized {
        return Step::Skip(Skip { location, reason: SkipReason::OversizedEvent });
    }
    let end = bytes.iter().rposition(|byte| !matches!(byte, b'\r' | b'\n')).map_or(0, |at| at + 1);
    let bytes = bytes.get(..end).unwrap_or_default();
    if let Some(keep) = prefilter
        && !keep(bytes)
    {
        return Step::Prefiltered;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => match super::classic::parse_event(text, location.clone()) {
            Ok(event) => Step::Event(event),
            Err(reason) => Step::Skip(Skip { location, reason }),
        },
        Err(err) => Step::Skip(Skip {
            location,
            reason: SkipReason::InvalidUtf8 { offset: err.valid_up_to() },
        }),
    }
}

/// `MM/DD/YYYY HH:MM:SS AM`: the first line of a classic `WinEventLog` text event.
pub(crate) fn is_text_event_header(line: &[u8]) -> bool {
    let shape = b"00/00/0000 0";
    line.len() >= shape.len()
        && line.iter().zip(shape).all(|(byte, want)| match want {
            b'0' => byte.is_ascii_digit(),
            other => byte == other,
        })
        && (line.ends_with(b" AM") || line.ends_with(b" PM"))
}

/// Parses one `<Event …>…</Event>` from its bytes. Values keep their text as written
/// ([`ValueForm::XmlRaw`]); entity references are checked but not decoded. The event's
/// `_raw` is the bytes themselves.
pub fn parse_event(bytes: &[u8], location: Location) -> Result<Event, SkipReason> {
    let text = std::str::from_utf8(bytes)
        .map_err(|err| SkipReason::InvalidUtf8 { offset: err.valid_up_to() })?;
    let mut event = parse_text(text, location)?;
    text.clone_into(&mut event.raw);
    Ok(event)
}

/// [`parse_event`] without `_raw`, for callers that own the text already.
///
/// Events of the usual shape are read by [`scanner`], which knows only plain tags and
/// quoted attributes; anything else it meets (a comment, CDATA, a prefix, odd spacing) sends
/// the event to quick-xml, which reads every well-formed event. Both give their tags to the
/// same [`read_tokens`], so they differ only in which texts they read, never in the event
/// they make of one.
pub(crate) fn parse_text(text: &str, location: Location) -> Result<Event, SkipReason> {
    check_references(text)?;
    if let Some(event) = scanner::parse(text, &location) {
        // Debug builds read each such event with quick-xml too, so every test and every
        // gate run from a debug build holds the scanner to the reading it stands in for.
        debug_assert_eq!(
            Ok(&event),
            read_with_quick_xml(text, location).as_ref(),
            "the scanner read an event otherwise than quick-xml: {text}"
        );
        return Ok(event);
    }
    read_with_quick_xml(text, location)
}

/// [`parse_text`] through quick-xml alone: the reading every other one must agree with.
#[cfg(test)]
pub(crate) fn parse_text_in_full(text: &str, location: Location) -> Result<Event, SkipReason> {
    check_references(text)?;
    read_with_quick_xml(text, location)
}

/// Reads an event whose entity references are checked with quick-xml.
fn read_with_quick_xml(text: &str, location: Location) -> Result<Event, SkipReason> {
    let mut reader = quick_xml::Reader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    read_tokens(text, &mut QuickTokens(reader), new_event(location))
}

/// An event to fill from XML, with room for a Sysmon event's fields so that they rarely
/// move as they are added.
fn new_event(location: Location) -> Event {
    let mut event = Event::empty(ValueForm::XmlRaw, RawFormat::Xml, location);
    event.system.reserve(24, 512);
    event.data.reserve(24, 1024);
    event
}

/// A piece of an event's XML, as [`read_tokens`] needs it.
enum Token<T> {
    /// `<name …>`
    Start(T),
    /// `<name …/>`
    Empty(T),
    /// `</name>`, its name already checked against the open element's.
    End,
    /// The end of the text.
    Eof,
    /// Text, a comment, a processing instruction…: nothing read.
    Other,
}

/// What reads an event's XML into tokens: the text's byte offsets where each starts and ends.
trait Tokens<'a> {
    type Tag: StartTag<'a>;
    fn next_token(&mut self) -> Result<(Token<Self::Tag>, usize, usize), SkipReason>;

    /// Reads the `<Data Name='…'>value</Data>` elements (and `<Data Name='…'/>`) that
    /// follow at the reader's place inside `EventData`, each into `event` as
    /// [`read_tokens`] would put it, and stops before anything else: how many it read.
    /// A reader without this shortcut reads none, and its tokens say the same.
    fn data_elements(&mut self, _event: &mut Event) -> usize {
        0
    }
}

/// What is told each attribute's local name and value.
type AttributeVisitor<'v> = dyn FnMut(&[u8], &str) -> Result<(), SkipReason> + 'v;

/// A start tag's name and attributes, whichever reader found it.
trait StartTag<'a> {
    /// The element's name without a namespace prefix.
    fn local_name(&self) -> &[u8];
    /// The same name as text, for elements stored under their own name.
    fn local_text(&self) -> Option<Cow<'a, str>>;
    fn has_attributes(&self) -> bool;
    /// The value of the attribute named `key`, as written.
    fn attribute(&self, key: &[u8]) -> Result<Option<Cow<'a, str>>, SkipReason>;
    /// Calls `each` with every attribute's local name and value, in order.
    fn for_each_attribute(&self, each: &mut AttributeVisitor<'_>) -> Result<(), SkipReason>;
}

/// quick-xml's reader as [`Tokens`].
struct QuickTokens<'a>(quick_xml::Reader<&'a [u8]>);

impl<'a> Tokens<'a> for QuickTokens<'a> {
    type Tag = BytesStart<'a>;

    fn next_token(&mut self) -> Result<(Token<BytesStart<'a>>, usize, usize), SkipReason> {
        let position = |reader: &quick_xml::Reader<&[u8]>| {
            usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX)
        };
        let before = position(&self.0);
        let token = self.0.read_event().map_err(|err| {
            SkipReason::Malformed(format!("{err} at byte {} of the event", self.0.error_position()))
        })?;
        let token = match token {
            XmlToken::Start(start) => Token::Start(start),
            XmlToken::Empty(start) => Token::Empty(start),
            XmlToken::End(_) => Token::End,
            XmlToken::Eof => Token::Eof,
            _ => Token::Other,
        };
        Ok((token, before, position(&self.0)))
    }
}

impl<'a> StartTag<'a> for BytesStart<'a> {
    fn local_name(&self) -> &[u8] {
        BytesStart::local_name(self).into_inner()
    }

    fn local_text(&self) -> Option<Cow<'a, str>> {
        std::str::from_utf8(StartTag::local_name(self)).ok().map(|name| Cow::Owned(name.to_owned()))
    }

    fn has_attributes(&self) -> bool {
        !self.attributes_raw().trim_ascii().is_empty()
    }

    fn attribute(&self, key: &[u8]) -> Result<Option<Cow<'a, str>>, SkipReason> {
        let found = self
            .try_get_attribute(key)
            .map_err(|err| SkipReason::Malformed(format!("bad attribute: {err}")))?;
        found
            .map(|attr| match std::str::from_utf8(&attr.value) {
                Ok(value) => Ok(Cow::Owned(value.to_owned())),
                Err(_) => Err(SkipReason::Malformed("attribute value is not UTF-8".to_owned())),
            })
            .transpose()
    }

    fn for_each_attribute(&self, each: &mut AttributeVisitor<'_>) -> Result<(), SkipReason> {
        for attr in self.attributes() {
            let attr =
                attr.map_err(|err| SkipReason::Malformed(format!("bad attribute: {err}")))?;
            let value = std::str::from_utf8(&attr.value)
                .map_err(|_| SkipReason::Malformed("attribute value is not UTF-8".to_owned()))?;
            each(attr.key.local_name().into_inner(), value)?;
        }
        Ok(())
    }
}

/// Reads an event from `tokens` of `text` into `event`, which holds no fields yet.
fn read_tokens<'a, T: Tokens<'a>>(
    text: &'a str,
    tokens: &mut T,
    mut event: Event,
) -> Result<Event, SkipReason> {
    let mut event_id = None;
    let mut time = None;
    // Open elements from the root: what each is and where its content starts.
    let mut open: Vec<Open<'a>> = Vec::with_capacity(6);
    loop {
        let (token, before, after) = tokens.next_token()?;
        match token {
            Token::Start(start) => {
                let element = element(&start, &open, &mut event, &mut time)?;
                if let Some(parent) = open.last_mut() {
                    parent.has_children = true;
                }
                open.push(Open { element, content: after, has_children: false });
                data_elements(tokens, &mut open, &mut event);
            }
            Token::Empty(start) => {
                let element = element(&start, &open, &mut event, &mut time)?;
                if let Some(parent) = open.last_mut() {
                    parent.has_children = true;
                }
                leaf(&mut event, &mut event_id, &element, "")?;
                data_elements(tokens, &mut open, &mut event);
            }
            Token::End => {
                let Some(closed) = open.pop() else { break };
                let content = text.get(closed.content..before).unwrap_or_default();
                if let Some(part) = &closed.element.part {
                    event.xml_parts.push((part.clone(), closed.content..before));
                }
                if !closed.has_children {
                    leaf(&mut event, &mut event_id, &closed.element, content)?;
                }
                if open.is_empty() {
                    break;
                }
                data_elements(tokens, &mut open, &mut event);
            }
            Token::Eof => {
                return Err(SkipReason::Malformed("expected </Event> before the end".to_owned()));
            }
            Token::Other => {}
        }
    }
    event.event_id = event_id.ok_or_else(|| SkipReason::Malformed("no <EventID>".to_owned()))?;
    event.time_micros =
        time.ok_or_else(|| SkipReason::Malformed("no TimeCreated/@SystemTime".to_owned()))?;
    Ok(event)
}

/// Inside `EventData`, where a Sysmon event holds most of its elements, lets `tokens` read
/// the `Data` elements that follow in one go.
fn data_elements<'a, T: Tokens<'a>>(tokens: &mut T, open: &mut [Open<'a>], event: &mut Event) {
    if let [_, parent] = open
        && parent.element.section == Section::EventData
        && tokens.data_elements(event) > 0
    {
        parent.has_children = true;
    }
}

/// The field name of a `<Data Name='…'>` element: the name, cleaned as Splunk cleans
/// field names when it is not a word (`Process Name`).
fn data_field_name(name: Cow<'_, str>) -> Cow<'_, str> {
    let clean = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.starts_with(|c: char| c == '_' || c.is_ascii_digit());
    if clean { name } else { Cow::Owned(super::clean_key(&name)) }
}

/// Which part of the event an element is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    /// The root `<Event>` itself.
    Root,
    System,
    EventData,
    UserData,
    /// `RenderingInfo` and anything else: not read.
    Other,
}

/// An element as the parser sees it.
struct Element<'a> {
    /// Whether its start tag has attributes (`<EventID Qualifiers='16384'>`).
    has_attributes: bool,
    section: Section,
    /// The name its text is stored under when it is a leaf: a System field's name, a
    /// `Data` element's `Name`, a `UserData` element's own name.
    name: Option<Cow<'a, str>>,
    /// The field its inner XML is extracted whole as (`EventData_Xml`).
    part: Option<Cow<'static, str>>,
}

/// An open element and where its content starts.
struct Open<'a> {
    element: Element<'a>,
    content: usize,
    has_children: bool,
}

/// What `start` is, given the elements open around it; reads the System attributes it has.
fn element<'a>(
    start: &impl StartTag<'a>,
    open: &[Open<'a>],
    event: &mut Event,
    time: &mut Option<i64>,
) -> Result<Element<'a>, SkipReason> {
    let local = start.local_name();
    let has_attributes = start.has_attributes();
    let Some(parent) = open.last() else {
        return Ok(Element { has_attributes, section: Section::Root, name: None, part: None });
    };
    let depth = open.len();
    Ok(match (parent.element.section, depth) {
        (Section::Root, 1) => {
            let (section, part) = match local {
                b"System" => (Section::System, Some("System_Props_Xml")),
                b"EventData" => (Section::EventData, Some("EventData_Xml")),
                b"UserData" => (Section::UserData, Some("UserData_Xml")),
                _ => (Section::Other, None),
            };
            Element { has_attributes, section, name: None, part: part.map(Cow::Borrowed) }
        }
        (Section::System, 2) => {
            system_attributes(start, local, event, time)?;
            let name = system_leaf_name(local).map(Cow::Borrowed);
            Element { has_attributes, section: Section::System, name, part: None }
        }
        (Section::EventData, 2) => {
            // `<Data Name='X'>`; an unnamed `<Data>` is the field `Data`. A name that is not
            // a word (`Process Name`) is cleaned as Splunk cleans field names.
            let name = if local == b"Data" {
                Some(data_field_name(start.attribute(b"Name")?.unwrap_or(Cow::Borrowed("Data"))))
            } else {
                None
            };
            Element { has_attributes, section: Section::EventData, name, part: None }
        }
        (Section::UserData, _) => {
            let own = start.local_text();
            // Some elements directly inside `UserData` are extracted whole as `<Name>_Xml`.
            let part = if depth == 2 && WHOLE_USER_DATA.contains(&local) {
                own.as_ref().map(|name| Cow::Owned(format!("{name}_Xml")))
            } else {
                None
            };
            Element { has_attributes, section: Section::UserData, name: own, part }
        }
        // Below a System or EventData leaf, in `RenderingInfo`, or anywhere else: not read.
        _ => Element { has_attributes, section: Section::Other, name: None, part: None },
    })
}

/// The `UserData` elements the Windows add-on also extracts whole, as `<Name>_Xml`: the data
/// sources list `LogFileCleared_Xml` for 1102 and no such field for any other `UserData`
/// event (1100's `ServiceShutdown`, CAPI2's, 1149's `EventXML`).
const WHOLE_USER_DATA: &[&[u8]] = &[b"LogFileCleared"];

/// The Windows add-on's name for a System element's text.
pub(crate) fn system_leaf_name(local: &[u8]) -> Option<&'static str> {
    Some(match local {
        b"EventID" => "EventID",
        b"Version" => "Version",
        b"Level" => "Level",
        b"Task" => "Task",
        b"Opcode" => "Opcode",
        b"Keywords" => "Keywords",
        b"EventRecordID" => "EventRecordID",
        b"Channel" => "Channel",
        b"Computer" => "Computer",
        _ => return None,
    })
}

/// The Windows add-on's name for a System attribute (`Provider/@Name` is `Name`).
pub(crate) fn system_attribute_name(element: &[u8], attribute: &[u8]) -> Option<&'static str> {
    Some(match (element, attribute) {
        (b"Provider", b"Name") => "Name",
        (b"Provider", b"Guid") => "Guid",
        (b"Provider", b"EventSourceName") => "EventSourceName",
        (b"EventID", b"Qualifiers") => "Qualifiers",
        (b"TimeCreated", b"SystemTime") => "SystemTime",
        (b"Correlation", b"ActivityID") => "ActivityID",
        (b"Correlation", b"RelatedActivityID") => "RelatedActivityID",
        (b"Execution", b"ProcessID") => "ProcessID",
        (b"Execution", b"ThreadID") => "ThreadID",
        (b"Execution", b"ProcessorID") => "ProcessorID",
        (b"Execution", b"SessionID") => "SessionID",
        (b"Execution", b"KernelTime") => "KernelTime",
        (b"Execution", b"UserTime") => "UserTime",
        (b"Execution", b"ProcessorTime") => "ProcessorTime",
        (b"Security", b"UserID") => "UserID",
        _ => return None,
    })
}

/// The attributes of a System element (`Provider/@Name`, `TimeCreated/@SystemTime`, …),
/// values as written.
fn system_attributes<'a>(
    start: &impl StartTag<'a>,
    local: &[u8],
    event: &mut Event,
    time: &mut Option<i64>,
) -> Result<(), SkipReason> {
    start.for_each_attribute(&mut |key, value| {
        let Some(name) = system_attribute_name(local, key) else {
            return Ok(());
        };
        match name {
            "Name" => value.clone_into(&mut event.provider),
            "SystemTime" => {
                let stamp = parse_timestamp(value).ok_or_else(|| {
                    SkipReason::Malformed(format!("bad TimeCreated/@SystemTime {value:?}"))
                })?;
                *time = Some(stamp.micros());
            }
            _ => {}
        }
        event.system.push(name, value);
        Ok(())
    })
}

/// Stores the text of a leaf element.
fn leaf(
    event: &mut Event,
    event_id: &mut Option<u32>,
    element: &Element<'_>,
    value: &str,
) -> Result<(), SkipReason> {
    let Some(name) = element.name.as_deref() else { return Ok(()) };
    match element.section {
        Section::System => {
            let Some(mut name) = system_leaf_name(name.as_bytes()) else { return Ok(()) };
            match name {
                "EventID" => {
                    let id = value.trim().parse().map_err(|_| {
                        SkipReason::Malformed(format!("EventID {value:?} is not a number"))
                    })?;
                    *event_id = Some(id);
                    // The add-on extracts `EventID` only when the element has no attributes;
                    // `<EventID Qualifiers='16384'>7045</EventID>` gives `EventCode` alone
                    // (every data source of such events lists `EventCode` and no `EventID`).
                    if element.has_attributes {
                        name = "EventCode";
                    }
                }
                "Channel" => value.clone_into(&mut event.channel),
                "Computer" => value.clone_into(&mut event.computer),
                "EventRecordID" => event.record_id = value.trim().parse().ok(),
                _ => {}
            }
            event.system.push(name, value);
        }
        Section::EventData | Section::UserData => {
            event.data.push(name, value);
        }
        Section::Root | Section::Other => {}
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
                // "CharRef ::= '&#' [0-9]+ ';' | '&#x' [0-9a-fA-F]+ ';'" (XML 1.0, [66]):
                // digits alone, where the number parsers would also take a sign.
                if let Some(hex) = reference.strip_prefix("#x") {
                    hex.bytes().all(|b| b.is_ascii_hexdigit())
                        && u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).is_some()
                } else if let Some(decimal) = reference.strip_prefix('#') {
                    decimal.bytes().all(|b| b.is_ascii_digit())
                        && decimal.parse::<u32>().ok().and_then(char::from_u32).is_some()
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
    fn character_references_are_digits_alone() {
        assert!(check_references("&#65;&#x41;&#x1F600;&amp;").is_ok());
        // Rust's number parsers take a sign; XML's references do not.
        for bad in ["&#+65;", "&#x+41;", "&#x;", "&#;", "&#-1;", "&#x110000;", "&#65 ;"] {
            assert!(check_references(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_event_header_shape() {
        assert!(is_text_event_header(b"01/14/2021 11:41:39 PM"));
        assert!(!is_text_event_header(b"LogName=Security"));
    }
}
