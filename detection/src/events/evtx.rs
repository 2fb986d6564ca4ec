//! Binary EVTX files through the `evtx` crate: each record rendered as XML (compact, as the
//! Windows event log renders it for Splunk's forwarder), which is the event's `_raw`, and
//! read by the XML export parser; values are then decoded to plain text, the form of a decoded
//! record. Chunks are read one at a time (64 KiB each), so memory stays flat; a record that
//! cannot be decoded is a skip naming its record number.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek};
use std::path::Path;
use std::sync::Arc;

use evtx::{EvtxParser, IntoIterChunks, ParserSettings};

use super::{Event, EventError, FormatReader, Location, Skip, SkipReason, Step, Steps, ValueForm};

/// The most EVTX bytes read into memory when the input cannot seek (a stream, a gzip).
pub const MAX_IN_MEMORY_EVTX_BYTES: u64 = 512 * 1024 * 1024;

pub(crate) struct EvtxReader {
    chunks: IntoIterChunks<Box<dyn ReadSeekSend>>,
    settings: Arc<ParserSettings>,
    source: Arc<str>,
    ready: Steps,
    chunk_number: u64,
}

/// What the parser needs of its input.
pub(crate) trait ReadSeekSend: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeekSend for T {}

impl EvtxReader {
    pub(crate) fn from_path(path: &Path, source: &Arc<str>) -> Result<Self, EventError> {
        let file = File::open(path)
            .map_err(|err| EventError::Open { path: source.to_string(), source: err })?;
        Self::new(Box::new(BufReader::new(file)), source)
    }

    pub(crate) fn from_read(reader: impl Read, source: &Arc<str>) -> Result<Self, EventError> {
        let mut bytes = Vec::new();
        let read = reader
            .take(MAX_IN_MEMORY_EVTX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|err| EventError::Read { location: Location::whole(source), source: err })?;
        if read as u64 > MAX_IN_MEMORY_EVTX_BYTES {
            return Err(EventError::Read {
                location: Location::whole(source),
                source: std::io::Error::other(format!(
                    "a compressed or streamed EVTX larger than {MAX_IN_MEMORY_EVTX_BYTES} bytes \
                     must be decompressed to a file first"
                )),
            });
        }
        Self::new(Box::new(Cursor::new(bytes)), source)
    }

    fn new(input: Box<dyn ReadSeekSend>, source: &Arc<str>) -> Result<Self, EventError> {
        let settings = Arc::new(ParserSettings::new().num_threads(1).indent(false));
        let parser = EvtxParser::from_read_seek(input)
            .map_err(|err| EventError::Evtx {
                location: Location::whole(source),
                source: Box::new(err),
            })?
            .with_configuration((*settings).clone());
        Ok(EvtxReader {
            chunks: parser.into_chunks(),
            settings,
            source: Arc::clone(source),
            ready: VecDeque::new(),
            chunk_number: 0,
        })
    }

    fn record_location(&self, record: Option<u64>) -> Location {
        Location { record, ..Location::whole(&self.source) }
    }

    /// Records a chunk that cannot be read as one skip; the chunks after it are still read.
    fn skip_chunk(&mut self, err: &dyn std::error::Error) -> bool {
        let reason = SkipReason::BadRecord(format!(
            "chunk {}: {}",
            self.chunk_number,
            crate::error_chain(err)
        ));
        let location = self.record_location(None);
        self.ready.push_back(Step::Skip(Skip { location, reason }));
        true
    }

    /// Decodes the next chunk's records into `ready`; `false` when there are no more chunks.
    fn next_chunk(&mut self) -> bool {
        let Some(chunk) = self.chunks.next() else { return false };
        self.chunk_number += 1;
        let mut chunk = match chunk {
            Ok(chunk) => chunk,
            Err(err) => return self.skip_chunk(&err),
        };
        let mut parsed = match chunk.parse(Arc::clone(&self.settings)) {
            Ok(parsed) => parsed,
            Err(err) => return self.skip_chunk(&err),
        };
        for record in parsed.iter() {
            let step = match record.and_then(evtx::EvtxRecord::into_xml) {
                Ok(record) => {
                    let location = self.record_location(Some(record.event_record_id));
                    match event_from_xml(&record.data, location.clone()) {
                        Ok(event) => Step::Event(event),
                        Err(reason) => Step::Skip(Skip { location, reason }),
                    }
                }
                Err(err) => {
                    let record = match &err {
                        evtx::err::EvtxError::FailedToParseRecord { record_id, .. } => {
                            Some(*record_id)
                        }
                        _ => None,
                    };
                    let reason = SkipReason::BadRecord(format!(
                        "chunk {}: {}",
                        self.chunk_number,
                        crate::error_chain(&err)
                    ));
                    Step::Skip(Skip { location: self.record_location(record), reason })
                }
            };
            self.ready.push_back(step);
        }
        true
    }
}

/// The event of a record's XML rendering: `_raw` is the `<Event …>…</Event>` text (without
/// the XML declaration the crate writes first); values are decoded to plain text.
fn event_from_xml(xml: &str, location: Location) -> Result<Event, SkipReason> {
    let start =
        xml.find("<Event").ok_or_else(|| SkipReason::BadRecord("no Event element".to_owned()))?;
    let end = xml.rfind("</Event>").map_or(xml.len(), |at| at + "</Event>".len());
    let raw = xml.get(start..end).unwrap_or_default();
    let mut event = super::xml::parse_text(raw, location)?;
    let decode = |value: &mut String| {
        if value.contains('&')
            && let Ok(decoded) = quick_xml::escape::unescape(value)
        {
            *value = decoded.into_owned();
        }
    };
    event.system.map_values(|value| quick_xml::escape::unescape(value).unwrap_or(value.into()));
    for (name, value) in &mut event.data {
        decode(name);
        decode(value);
    }
    decode(&mut event.channel);
    decode(&mut event.computer);
    decode(&mut event.provider);
    event.value_form = ValueForm::Plain;
    raw.clone_into(&mut event.raw);
    Ok(event)
}

impl FormatReader for EvtxReader {
    fn next_step(&mut self, _notes: &mut Vec<String>) -> Option<Step> {
        while self.ready.is_empty() {
            if !self.next_chunk() {
                return None;
            }
        }
        self.ready.pop_front()
    }
}
