//! JSON exports: flat objects one a line (NXLog/OTRF: `EventID`, `Channel`, `Hostname`,
//! every `EventData` field at the top level) and `evtx_dump` objects (`Event.System`,
//! `Event.EventData`, `#attributes`), one a line or pretty-printed over many lines.
//!
//! Time in flat objects: `@timestamp` or a `TimeCreated` that names its offset is UTC and
//! used as is; otherwise Sysmon's `UtcTime`. OTRF's `TimeCreated` has no offset and is local
//! wall-clock time (in `psh_lsass_memory_dump_comsvcs` it is even a 12-hour clock without
//! AM/PM, 16 hours off UTC), so an event with only that gets the offset measured on events
//! of the same file that carry both `TimeCreated` and `UtcTime`, rounded to 15 minutes.
//! Events read before any such pair are held (at most [`MAX_HELD_EVENTS`]) until one comes.

use std::collections::VecDeque;
use std::io::{BufRead, Read};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::time::{Stamp, parse_timestamp};
use super::xml::{system_attribute_name, system_leaf_name};
use super::{
    Event, EventError, FormatReader, Location, MAX_EVENT_BYTES, RawFormat, Skip, SkipReason, Step,
    Steps, ValueForm,
};

/// Events held while no local-to-UTC offset is known; past this they are released with
/// their local time read as UTC, and the report says so.
pub const MAX_HELD_EVENTS: usize = 10_000;
const QUARTER_HOUR_MICROS: i64 = 15 * 60 * 1_000_000;

/// Whether objects are one a line or spread over lines; decided by the first object.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Unknown,
    Lines,
    Pretty,
}

pub(crate) struct JsonReader<R> {
    reader: R,
    source: Arc<str>,
    layout: Layout,
    line: u64,
    offset: u64,
    /// The object being gathered (pretty layout) and where it started.
    object: Vec<u8>,
    object_start: (u64, u64),
    depth: Depth,
    line_buf: Vec<u8>,
    eof: bool,
    ready: Steps,
    /// Flat events whose only time is local, waiting for the offset.
    held: Vec<Event>,
    local_offset: Option<i64>,
    released_as_utc: u64,
}

/// Brace depth of a JSON text read piece by piece, strings and escapes respected.
#[derive(Default, Clone, Copy)]
struct Depth {
    open: i64,
    in_string: bool,
    escaped: bool,
}

impl Depth {
    fn feed(&mut self, bytes: &[u8]) {
        for byte in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if *byte == b'\\' {
                    self.escaped = true;
                } else if *byte == b'"' {
                    self.in_string = false;
                }
            } else {
                match byte {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.open += 1,
                    b'}' | b']' => self.open -= 1,
                    _ => {}
                }
            }
        }
    }
}

impl<R: BufRead> JsonReader<R> {
    pub(crate) fn new(reader: R, source: Arc<str>) -> Self {
        JsonReader {
            reader,
            source,
            layout: Layout::Unknown,
            line: 1,
            offset: 0,
            object: Vec::new(),
            object_start: (1, 0),
            depth: Depth::default(),
            line_buf: Vec::new(),
            eof: false,
            ready: VecDeque::new(),
            held: Vec::new(),
            local_offset: None,
            released_as_utc: 0,
        }
    }

    /// Counts byte offsets from `offset`: for input whose first bytes (a byte order mark)
    /// were read past.
    pub(crate) fn starting_at(mut self, offset: u64) -> Self {
        self.offset = offset;
        self.object_start = (1, offset);
        self
    }

    /// Reads one line into `line_buf`, at most [`MAX_EVENT_BYTES`] of it; `Ok(None)` at the
    /// end, `Ok(Some(true))` when the line was longer and its rest was discarded.
    fn read_line(&mut self) -> std::io::Result<Option<bool>> {
        self.line_buf.clear();
        let limit = MAX_EVENT_BYTES as u64 + 1;
        let read = self.reader.by_ref().take(limit).read_until(b'\n', &mut self.line_buf)?;
        if read == 0 {
            return Ok(None);
        }
        if self.line_buf.ends_with(b"\n") || read < MAX_EVENT_BYTES + 1 {
            return Ok(Some(false));
        }
        // Too long: drop the rest of the line without holding it.
        let mut sink = Vec::new();
        loop {
            sink.clear();
            let more = self.reader.by_ref().take(64 * 1024).read_until(b'\n', &mut sink)?;
            self.offset += more as u64;
            if more == 0 || sink.ends_with(b"\n") {
                break;
            }
        }
        Ok(Some(true))
    }

    fn location(&self, (line, offset): (u64, u64)) -> Location {
        Location::text(&self.source, line, offset)
    }

    /// Reads until at least one step is ready or input ends.
    fn advance(&mut self, notes: &mut Vec<String>) {
        while self.ready.is_empty() && !self.eof {
            let here = (self.line, self.offset);
            let too_long = match self.read_line() {
                Ok(Some(too_long)) => too_long,
                Ok(None) => {
                    self.finish(notes);
                    return;
                }
                Err(source) => {
                    let location = self.location(here);
                    self.ready.push_back(Step::Fatal(EventError::Read { location, source }));
                    self.eof = true;
                    return;
                }
            };
            self.line += 1;
            self.offset += self.line_buf.len() as u64;
            if too_long {
                let skip =
                    Skip { location: self.location(here), reason: SkipReason::OversizedEvent };
                self.ready.push_back(Step::Skip(skip));
                self.object.clear();
                self.depth = Depth::default();
                continue;
            }
            let line = std::mem::take(&mut self.line_buf);
            self.take_line(&line, here);
            self.line_buf = line;
        }
    }

    fn take_line(&mut self, line: &[u8], here: (u64, u64)) {
        if self.object.is_empty() {
            if line.trim_ascii().is_empty() {
                return;
            }
            self.object_start = here;
        }
        match self.layout {
            Layout::Lines => {
                self.object_start = here;
                self.parse_object(line);
            }
            Layout::Unknown | Layout::Pretty => {
                self.depth.feed(line);
                self.object.extend_from_slice(line);
                if self.object.len() > MAX_EVENT_BYTES {
                    let location = self.location(self.object_start);
                    self.ready.push_back(Step::Skip(Skip {
                        location,
                        reason: SkipReason::OversizedEvent,
                    }));
                    self.object.clear();
                    self.depth = Depth::default();
                } else if self.depth.open <= 0 && !self.depth.in_string {
                    if self.layout == Layout::Unknown {
                        self.layout = if self.object_start.0 + 1 == self.line {
                            Layout::Lines
                        } else {
                            Layout::Pretty
                        };
                    }
                    let object = std::mem::take(&mut self.object);
                    self.depth = Depth::default();
                    self.parse_object(&object);
                }
            }
        }
    }

    fn finish(&mut self, notes: &mut Vec<String>) {
        self.eof = true;
        if !self.object.trim_ascii().is_empty() {
            let location = self.location(self.object_start);
            self.ready.push_back(Step::Skip(Skip {
                location,
                reason: SkipReason::Malformed("JSON object cut off by the end of input".to_owned()),
            }));
            self.object.clear();
        }
        self.release_held(0);
        if self.released_as_utc > 0 {
            notes.push(format!(
                "{} events had only a local TimeCreated and no event in the file gave its offset \
                 from UTC; their _time is that local time read as UTC",
                self.released_as_utc
            ));
        }
    }

    fn parse_object(&mut self, bytes: &[u8]) {
        let location = self.location(self.object_start);
        let value: Value = match serde_json::from_slice(bytes) {
            Ok(value) => value,
            Err(err) => {
                let reason = SkipReason::Malformed(format!("invalid JSON: {err}"));
                self.ready.push_back(Step::Skip(Skip { location, reason }));
                return;
            }
        };
        let Value::Object(object) = value else {
            let reason = SkipReason::Malformed("expected a JSON object".to_owned());
            self.ready.push_back(Step::Skip(Skip { location, reason }));
            return;
        };
        // `_raw` is the object's text as the export writes it (Splunk indexes a JSON event's
        // text as it is); line breaks around it are not part of it.
        let raw = String::from_utf8_lossy(bytes.trim_ascii()).into_owned();
        if let Some(Value::Object(event)) = object.get("Event") {
            let step = match event_from_evtx_json(event, location.clone()) {
                Ok(mut event) => {
                    event.raw = raw;
                    Step::Event(event)
                }
                Err(reason) => Step::Skip(Skip { location, reason }),
            };
            self.ready.push_back(step);
            return;
        }
        match flat_event(&object, location.clone()).map(|(mut event, time)| {
            event.raw = raw;
            (event, time)
        }) {
            Ok((event, FlatTime::Known)) => self.ready.push_back(Step::Event(event)),
            Ok((event, FlatTime::Local { utc_offset })) => {
                if let Some(offset) = utc_offset {
                    self.local_offset = Some(offset);
                    self.release_held(offset);
                    self.ready.push_back(Step::Event(event));
                } else if let Some(offset) = self.local_offset {
                    let mut event = event;
                    event.time_micros += offset;
                    self.ready.push_back(Step::Event(event));
                } else {
                    self.held.push(event);
                    if self.held.len() >= MAX_HELD_EVENTS {
                        self.release_held(0);
                    }
                }
            }
            Err(reason) => self.ready.push_back(Step::Skip(Skip { location, reason })),
        }
    }

    fn release_held(&mut self, offset: i64) {
        if offset == 0 && self.local_offset.is_none() {
            self.released_as_utc += self.held.len() as u64;
        }
        for mut event in self.held.drain(..) {
            event.time_micros += offset;
            self.ready.push_back(Step::Event(event));
        }
    }
}

impl<R: BufRead> FormatReader for JsonReader<R> {
    fn next_step(&mut self, notes: &mut Vec<String>) -> Option<Step> {
        self.advance(notes);
        self.ready.pop_front()
    }
}

enum FlatTime {
    /// The event's time is UTC.
    Known,
    /// The event's time is local; `utc_offset` is what to add, when this event shows it.
    Local { utc_offset: Option<i64> },
}

/// A JSON scalar as Splunk shows it: strings as they are, numbers and booleans as written,
/// null as empty.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null => Some(String::new()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

fn text<'a>(object: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|key| object.get(*key))
}

fn event_id(value: Option<&Value>) -> Result<u32, SkipReason> {
    let value = value.ok_or_else(|| SkipReason::Malformed("no EventID".to_owned()))?;
    let id = match value {
        Value::Number(number) => number.as_u64().and_then(|id| u32::try_from(id).ok()),
        Value::String(text) => text.trim().parse().ok(),
        // evtx_dump writes `{"#attributes": {"Qualifiers": …}, "#text": 4688}`.
        Value::Object(object) => return event_id(object.get("#text")),
        _ => None,
    };
    id.ok_or_else(|| SkipReason::Malformed(format!("EventID {value} is not a number")))
}

fn flat_event(
    object: &Map<String, Value>,
    location: Location,
) -> Result<(Event, FlatTime), SkipReason> {
    let event_id = event_id(text(object, &["EventID", "EventCode"]))?;
    let string = |keys: &[&str]| text(object, keys).and_then(scalar).unwrap_or_default();
    let stamp = |key: &str| object.get(key).and_then(Value::as_str).and_then(parse_timestamp);
    let created = stamp("TimeCreated");
    let utc_time = stamp("UtcTime");
    let (time_micros, time) = match (stamp("@timestamp"), created, stamp("EventTime"), utc_time) {
        (Some(Stamp::Utc(utc)), _, _, _)
        | (_, Some(Stamp::Utc(utc)), _, _)
        | (_, _, Some(Stamp::Utc(utc)), _) => (utc, FlatTime::Known),
        (_, Some(Stamp::Naive(local)), _, Some(utc)) => {
            let offset = utc.micros() - local;
            let rounded = (offset + QUARTER_HOUR_MICROS / 2).div_euclid(QUARTER_HOUR_MICROS)
                * QUARTER_HOUR_MICROS;
            // Sysmon's UtcTime is its own record of the event; prefer it over derived time.
            (utc.micros(), FlatTime::Local { utc_offset: Some(rounded) })
        }
        (_, _, _, Some(utc)) => (utc.micros(), FlatTime::Known),
        (_, Some(Stamp::Naive(local)), _, None) | (_, None, Some(Stamp::Naive(local)), None) => {
            (local, FlatTime::Local { utc_offset: None })
        }
        _ => {
            return Err(SkipReason::Malformed(
                "no time: expected @timestamp, TimeCreated, EventTime or UtcTime".to_owned(),
            ));
        }
    };
    let data =
        object.iter().filter_map(|(key, value)| scalar(value).map(|value| (key, value))).collect();
    let mut event = Event::empty(ValueForm::Plain, RawFormat::Json, location);
    event.channel = string(&["Channel"]);
    event.event_id = event_id;
    event.provider = string(&["SourceName", "ProviderName", "Provider"]);
    event.computer = string(&["Hostname", "Computer"]);
    event.record_id =
        text(object, &["RecordNumber", "EventRecordID"]).and_then(|value| match value {
            Value::Number(number) => number.as_u64(),
            Value::String(text) => text.parse().ok(),
            _ => None,
        });
    event.time_micros = time_micros;
    event.data = data;
    for (name, keys) in FLAT_SYSTEM_KEYS {
        if let Some(value) = text(object, keys).and_then(scalar) {
            event.system.push(name, &value);
        }
    }
    Ok((event, time))
}

/// System fields of a flat NXLog/OTRF object: the Windows add-on's name and the keys that
/// give it, first found wins (`NXLog` writes the numeric opcode as `OpcodeValue` and the text as
/// `Opcode`; the XML `Opcode` is the number).
const FLAT_SYSTEM_KEYS: &[(&str, &[&str])] = &[
    ("Name", &["SourceName", "ProviderName", "Provider"]),
    ("Guid", &["ProviderGuid"]),
    ("EventID", &["EventID"]),
    ("Version", &["Version"]),
    ("Level", &["Level"]),
    ("Task", &["Task"]),
    ("Opcode", &["OpcodeValue", "Opcode"]),
    ("Keywords", &["Keywords"]),
    ("EventRecordID", &["EventRecordID", "RecordNumber"]),
    ("ActivityID", &["ActivityID"]),
    ("ProcessID", &["ExecutionProcessID"]),
    ("ThreadID", &["ExecutionThreadID"]),
    ("Channel", &["Channel"]),
    ("Computer", &["Hostname", "Computer"]),
    ("UserID", &["UserID"]),
];

/// The event inside an `evtx_dump` object or a decoded EVTX record (`{"Event": {…}}`'s inner
/// object): `System` fields with `#attributes`, and `EventData` name/value pairs.
pub(crate) fn event_from_evtx_json(
    event: &Map<String, Value>,
    location: Location,
) -> Result<Event, SkipReason> {
    let system = event
        .get("System")
        .and_then(Value::as_object)
        .ok_or_else(|| SkipReason::Malformed("no Event.System".to_owned()))?;
    let attribute = |element: &str, name: &str| {
        system.get(element)?.get("#attributes")?.get(name).and_then(scalar)
    };
    let plain = |element: &str| {
        system
            .get(element)
            .and_then(|value| scalar(value).or_else(|| value.get("#text").and_then(scalar)))
    };
    let event_id = event_id(system.get("EventID"))?;
    let system_time = attribute("TimeCreated", "SystemTime")
        .ok_or_else(|| SkipReason::Malformed("no TimeCreated/@SystemTime".to_owned()))?;
    let time_micros = parse_timestamp(&system_time)
        .ok_or_else(|| {
            SkipReason::Malformed(format!("bad TimeCreated/@SystemTime {system_time:?}"))
        })?
        .micros();
    let mut data = super::DataFields::default();
    if let Some(Value::Object(fields)) = event.get("EventData") {
        for (name, value) in fields {
            if name == "#attributes" {
                continue;
            }
            match value {
                // Unnamed `<Data>` elements come out as `{"Data": {"#text": [...]}}`.
                Value::Object(inner) => match inner.get("#text") {
                    Some(Value::Array(items)) => {
                        data.extend(items.iter().filter_map(scalar).map(|item| (name, item)));
                    }
                    Some(item) => data.extend(scalar(item).map(|item| (name, item))),
                    None => {}
                },
                Value::Array(items) => {
                    data.extend(items.iter().filter_map(scalar).map(|item| (name, item)));
                }
                _ => data.extend(scalar(value).map(|value| (name, value))),
            }
        }
    }
    let mut built = Event::empty(ValueForm::Plain, RawFormat::Json, location);
    built.channel = plain("Channel").unwrap_or_default();
    built.event_id = event_id;
    built.provider = attribute("Provider", "Name").unwrap_or_default();
    built.computer = plain("Computer").unwrap_or_default();
    built.record_id = plain("EventRecordID").and_then(|id| id.parse().ok());
    built.time_micros = time_micros;
    built.data = data;
    for (element, value) in system {
        if let Some(attributes) = value.get("#attributes").and_then(Value::as_object) {
            for (key, value) in attributes {
                let name = system_attribute_name(element.as_bytes(), key.as_bytes());
                if let (Some(name), Some(value)) = (name, scalar(value)) {
                    built.system.push(name, &value);
                }
            }
        }
        if let Some(name) = system_leaf_name(element.as_bytes())
            && let Some(value) = scalar(value).or_else(|| value.get("#text").and_then(scalar))
        {
            built.system.push(name, &value);
        }
    }
    Ok(built)
}
