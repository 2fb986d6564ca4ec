//! Binary EVTX files through the `evtx` crate: each record rendered as XML (compact, as the
//! Windows event log renders it for Splunk's forwarder), which is the event's `_raw`, and
//! read by the XML export parser; values are then decoded to plain text, the form of a decoded
//! record. Chunks are read one at a time (64 KiB each), so memory stays flat.
//!
//! Damage never goes unreported: a record that cannot be decoded is a skip naming its record
//! number, and so is every record a chunk's header lists but its walk never reached (zeroed
//! or cut out); a chunk whose header or records fail their CRC32 is a skip (its records are
//! still read, as they are); a chunk that cannot be read at all, one the file header counts
//! that is missing or zeroed, and one the end of the file cuts off are each a skip.

use std::borrow::Cow;
use std::collections::{BTreeSet, VecDeque};
use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::sync::Arc;

use evtx::err::EvtxError;
use evtx::{EvtxChunkData, EvtxParser, IntoIterChunks, ParserSettings};

use super::{Event, EventError, FormatReader, Location, Skip, SkipReason, Step, Steps, ValueForm};

/// The most EVTX bytes read into memory when the input cannot seek (a stream, a gzip).
pub const MAX_IN_MEMORY_EVTX_BYTES: u64 = 512 * 1024 * 1024;

/// The largest EVTX file read whole into memory rather than a chunk at a time.
const READ_WHOLE_BYTES: u64 = 4 << 20;

const FILE_HEADER_BYTES: u64 = 4096;
const CHUNK_BYTES: u64 = 65536;
const CHUNK_HEADER_BYTES: usize = 512;
/// More records than fit in a chunk's 65,024 bytes of records (each is at least 28 bytes
/// of header and size copy, plus its binary XML): a header listing more is damaged.
const MAX_RECORDS_PER_CHUNK: u64 = 65_024 / 28;

pub(crate) struct EvtxReader {
    chunks: IntoIterChunks<Box<dyn ReadSeekSend>>,
    decoder: ChunkDecoder,
    ready: Steps,
    /// Chunks read or found unreadable, by number.
    seen: BTreeSet<u64>,
    layout: Layout,
    finished: bool,
}

/// What the file's size and header say about its chunks.
struct Layout {
    /// Whole chunks the file holds.
    slots: u64,
    /// Bytes of a last chunk the file's end cuts off, when they are not all zero.
    cut_tail: Option<u64>,
    /// Chunks the file header counts, when its checksum holds.
    counted: Option<u64>,
}

/// What the parser needs of its input.
pub(crate) trait ReadSeekSend: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeekSend for T {}

impl EvtxReader {
    /// Reads the EVTX file `file`, from its start whatever was read of it before. A file of
    /// at most [`READ_WHOLE_BYTES`] is read whole, in one read: the parser seeks to each
    /// chunk and reads it in growing pieces, and for the small files attack data comes in,
    /// those reads cost more than the records.
    pub(crate) fn from_file(mut file: File, source: &Arc<str>) -> Result<Self, EventError> {
        let read_error = |err| EventError::Read { location: Location::whole(source), source: err };
        let len = file.seek(SeekFrom::End(0)).map_err(read_error)?;
        file.seek(SeekFrom::Start(0)).map_err(read_error)?;
        if len > READ_WHOLE_BYTES {
            return Self::new(Box::new(BufReader::new(file)), source);
        }
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or_default());
        // The file may have grown since its size was taken: what is past it waits for the
        // chunk-by-chunk reading.
        file.by_ref().take(READ_WHOLE_BYTES + 1).read_to_end(&mut bytes).map_err(read_error)?;
        if bytes.len() as u64 > READ_WHOLE_BYTES {
            file.seek(SeekFrom::Start(0)).map_err(read_error)?;
            return Self::new(Box::new(BufReader::new(file)), source);
        }
        Self::new(Box::new(Cursor::new(bytes)), source)
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

    fn new(mut input: Box<dyn ReadSeekSend>, source: &Arc<str>) -> Result<Self, EventError> {
        let read_error = |err| EventError::Read { location: Location::whole(source), source: err };
        let tail = tail_of(&mut input).map_err(read_error)?;
        // Without the `multithreading` feature the parser reads one chunk at a time anyway;
        // asking it for a thread count only makes it log a warning.
        let settings = ParserSettings::new().indent(false);
        let parser = EvtxParser::from_read_seek(input).map_err(|err| EventError::Evtx {
            location: Location::whole(source),
            source: Box::new(err),
        })?;
        let header = parser.header();
        let counted = header.validate_checksum().then_some(u64::from(header.chunk_count));
        let mut ready = VecDeque::new();
        if counted.is_none() {
            let reason = SkipReason::DamagedEvtx(format!(
                "the file header fails its checksum (stored {:#010x}, computed {:#010x}); \
                 chunks were still found at their places and checked by their own checksums",
                header.checksum, header.computed_checksum
            ));
            ready.push_back(Step::Skip(Skip { location: Location::whole(source), reason }));
        }
        let layout = Layout { slots: tail.slots, cut_tail: tail.cut, counted };
        Ok(EvtxReader {
            chunks: parser.with_configuration(settings.clone()).into_chunks(),
            decoder: ChunkDecoder { settings: Arc::new(settings), source: Arc::clone(source) },
            ready,
            seen: BTreeSet::new(),
            layout,
            finished: false,
        })
    }

    /// The next work in file order, `None` after the last: steps made here, where a chunk
    /// cannot be read or the file's end shows chunks missing, or a chunk to decode, which
    /// any thread may do with [`EvtxReader::decoder`].
    pub(crate) fn next_work(&mut self) -> Option<Work> {
        if !self.ready.is_empty() {
            return Some(Work::Ready(self.ready.drain(..).collect()));
        }
        let Some(chunk) = self.chunks.next() else {
            if self.finished {
                return None;
            }
            self.finished = true;
            self.missing_chunks();
            return Some(Work::Ready(self.ready.drain(..).collect()));
        };
        match chunk {
            Ok(chunk) => {
                self.seen.insert(chunk.number.unwrap_or_default());
                Some(Work::Chunk(chunk))
            }
            Err(err) => {
                // A chunk that cannot be read loses all its records; which they are, its
                // header cannot say.
                let number = match &err {
                    EvtxError::FailedToParseChunk { chunk_id, .. } => Some(*chunk_id),
                    _ => None,
                };
                let shown = number.map_or_else(|| "a chunk".to_owned(), |n| format!("chunk {n}"));
                self.seen.extend(number);
                let step =
                    self.decoder.skip(None, format!("{shown}: {}", crate::error_chain(&err)));
                Some(Work::Ready(vec![step]))
            }
        }
    }

    /// What decodes this file's chunks, on any thread.
    pub(crate) fn decoder(&self) -> ChunkDecoder {
        self.decoder.clone()
    }

    /// After the last chunk: a chunk cut off by the end of the file, and chunks the file
    /// header counts that were never found (zeroed, or past the end of the file).
    fn missing_chunks(&mut self) {
        let Layout { slots, cut_tail, counted } = self.layout;
        let mut lost = Vec::new();
        if let Some(bytes) = cut_tail {
            lost.push((
                slots,
                format!("chunk {slots}: the file ends {bytes} bytes into it; its records are lost"),
            ));
        }
        if let Some(counted) = counted {
            for number in (0..counted).filter(|n| !self.seen.contains(n)) {
                if number == slots && cut_tail.is_some() {
                    continue;
                }
                let why = if number < slots {
                    "all zeros, yet the file header counts"
                } else {
                    "missing: the file ends before it, yet the file header counts"
                };
                lost.push((
                    number,
                    format!("chunk {number}: {why} {counted} chunks; its records are lost"),
                ));
            }
        }
        lost.sort();
        for (_, reason) in lost {
            self.ready.push_back(self.decoder.skip(None, reason));
        }
    }
}

/// A piece of an EVTX file's reading, in file order (see [`EvtxReader::next_work`]).
// Each chunk is moved once, from the reader to the thread that decodes it: boxing it would
// cost an allocation per chunk for the few pieces of steps.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Work {
    /// Steps made without decoding.
    Ready(Vec<Step>),
    /// A chunk, read and not yet decoded.
    Chunk(EvtxChunkData),
}

/// Decodes the chunks of one file into steps: a chunk is whole in itself (its strings and
/// templates are its own), so chunks can be decoded on several threads at once.
#[derive(Clone)]
pub(crate) struct ChunkDecoder {
    settings: Arc<ParserSettings>,
    source: Arc<str>,
}

impl ChunkDecoder {
    fn record_location(&self, record: Option<u64>) -> Location {
        Location { record, ..Location::whole(&self.source) }
    }

    /// A lost record, or with no record damage to the file.
    fn skip(&self, record: Option<u64>, what: String) -> Step {
        let reason = if record.is_some() {
            SkipReason::BadRecord(what)
        } else {
            SkipReason::DamagedEvtx(what)
        };
        Step::Skip(Skip { location: self.record_location(record), reason })
    }

    /// The steps of a chunk's records, in record order, what concerns the whole chunk first.
    pub(crate) fn decode(&self, mut chunk: EvtxChunkData) -> Vec<Step> {
        let number = chunk.number.unwrap_or_default();
        let header_intact = chunk.validate_header_checksum();
        let mut steps: Vec<(Option<u64>, Step)> = Vec::new();
        if let Some(reason) = checksum_failure(&chunk, number) {
            steps.push((None, self.skip(None, reason)));
        }
        // Only an intact header's record range is a count to hold the records to.
        let (first, last) = (chunk.header.first_event_record_id, chunk.header.last_event_record_id);
        let listed = (header_intact && first <= last && last - first < MAX_RECORDS_PER_CHUNK)
            .then_some(first..=last);
        let mut read_ids = BTreeSet::new();
        let mut unlocated = Vec::new();
        match chunk.parse(Arc::clone(&self.settings)) {
            Err(err) => {
                let reason = format!("chunk {number}: {}", crate::error_chain(&err));
                steps.push((None, self.skip(None, reason)));
            }
            Ok(mut parsed) => {
                for record in parsed.iter() {
                    match record.and_then(evtx::EvtxRecord::into_xml) {
                        Ok(record) => {
                            read_ids.insert(record.event_record_id);
                            steps.push((Some(record.event_record_id), self.record_step(&record)));
                        }
                        Err(EvtxError::FailedToParseRecord { record_id, source }) => {
                            read_ids.insert(record_id);
                            let err = EvtxError::FailedToParseRecord { record_id, source };
                            let reason = format!("chunk {number}: {}", crate::error_chain(&err));
                            steps.push((Some(record_id), self.skip(Some(record_id), reason)));
                        }
                        Err(err) => unlocated.push(crate::error_chain(&err)),
                    }
                }
            }
        }
        // Records the walk could not place are among the missing ones: each missing record
        // is one skip, the first saying what was found in its stead.
        let mut why = unlocated.into_iter();
        if let Some(listed) = listed {
            for id in listed.clone().filter(|id| !read_ids.contains(id)) {
                let mut reason = format!(
                    "chunk {number}: record {id} is missing (the chunk lists records {} to {})",
                    listed.start(),
                    listed.end()
                );
                if let Some(damage) = why.next() {
                    reason.push_str(": ");
                    reason.push_str(&damage);
                }
                steps.push((Some(id), self.skip(Some(id), reason)));
            }
        }
        for damage in why {
            steps.push((None, self.skip(None, format!("chunk {number}: {damage}"))));
        }
        // In record order, what concerns the whole chunk first.
        steps.sort_by_key(|(id, _)| *id);
        steps.into_iter().map(|(_, step)| step).collect()
    }

    /// The event of a decoded record, or why it is not one.
    fn record_step(&self, record: &evtx::SerializedEvtxRecord<String>) -> Step {
        let location = self.record_location(Some(record.event_record_id));
        match event_from_xml(&record.data, location.clone()) {
            Ok(event) => Step::Event(event),
            Err(reason) => Step::Skip(Skip { location, reason }),
        }
    }
}

/// The whole chunks after the file header, and the size of a cut-off last one unless it is
/// all zeros; leaves `input` at its start.
struct Tail {
    slots: u64,
    cut: Option<u64>,
}

fn tail_of(input: &mut Box<dyn ReadSeekSend>) -> std::io::Result<Tail> {
    let len = input.seek(SeekFrom::End(0))?;
    let after_header = len.saturating_sub(FILE_HEADER_BYTES);
    let (slots, tail) = (after_header / CHUNK_BYTES, after_header % CHUNK_BYTES);
    let mut cut = None;
    if tail > 0 && len > FILE_HEADER_BYTES {
        input.seek(SeekFrom::Start(len - tail))?;
        let mut bytes = Vec::new();
        input.take(tail).read_to_end(&mut bytes)?;
        if bytes.iter().any(|byte| *byte != 0) {
            cut = Some(tail);
        }
    }
    input.seek(SeekFrom::Start(0))?;
    Ok(Tail { slots, cut })
}

/// Why a chunk's header or records fail their CRC32, if they do. Its records are read all
/// the same: what they hold may still be right, and the skip says that it may not be.
fn checksum_failure(chunk: &EvtxChunkData, number: u64) -> Option<String> {
    if !chunk.validate_header_checksum() {
        let stored = chunk.header.header_chunk_checksum;
        let computed = crc32(&[
            chunk.data.get(..120).unwrap_or_default(),
            chunk.data.get(128..CHUNK_HEADER_BYTES).unwrap_or_default(),
        ]);
        return Some(format!(
            "chunk {number}: its header fails its checksum (stored {stored:#010x}, computed \
             {computed:#010x}); its records were read as they are"
        ));
    }
    if chunk.validate_data_checksum() {
        return None;
    }
    let stored = chunk.header.events_checksum;
    let free = usize::try_from(chunk.header.free_space_offset).unwrap_or(usize::MAX);
    Some(match chunk.data.get(CHUNK_HEADER_BYTES..free) {
        Some(records) => format!(
            "chunk {number}: its records fail their checksum (stored {stored:#010x}, computed \
             {:#010x}); they were read as they are",
            crc32(&[records])
        ),
        None => format!(
            "chunk {number}: its header puts the end of its records at {free}, outside the \
             chunk; its records were read as far as they go"
        ),
    })
}

fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = flate2::Crc::new();
    for part in parts {
        crc.update(part);
    }
    crc.sum()
}

impl FormatReader for EvtxReader {
    fn next_step(&mut self, _notes: &mut Vec<String>) -> Option<Step> {
        while self.ready.is_empty() {
            let steps = match self.next_work()? {
                Work::Ready(steps) => steps,
                Work::Chunk(chunk) => self.decoder.decode(chunk),
            };
            self.ready.extend(steps);
        }
        self.ready.pop_front()
    }
}

/// `text` with its entity references decoded; text that is not well-escaped stays as
/// written.
fn unescaped(text: &str) -> Cow<'_, str> {
    quick_xml::escape::unescape(text).unwrap_or(Cow::Borrowed(text))
}

/// The event of a record's XML rendering: `_raw` is the `<Event …>…</Event>` text (without
/// the XML declaration the crate writes first); values are decoded to plain text.
fn event_from_xml(xml: &str, location: Location) -> Result<Event, SkipReason> {
    let start =
        xml.find("<Event").ok_or_else(|| SkipReason::BadRecord("no Event element".to_owned()))?;
    let end = xml.rfind("</Event>").map_or(xml.len(), |at| at + "</Event>".len());
    let raw = xml.get(start..end).unwrap_or_default();
    let mut event = super::xml::parse_text(raw, location)?;
    // Without an `&` nothing is escaped, and the values are plain as read.
    if raw.contains('&') {
        let decode = |value: &mut String| {
            if let Cow::Owned(decoded) = unescaped(value) {
                *value = decoded;
            }
        };
        event.system.map_values(unescaped);
        event.data.map(unescaped);
        decode(&mut event.channel);
        decode(&mut event.computer);
        decode(&mut event.provider);
    }
    event.value_form = ValueForm::Plain;
    raw.clone_into(&mut event.raw);
    Ok(event)
}
