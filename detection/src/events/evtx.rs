//! Binary EVTX files through the `evtx` crate: each record rendered as XML (compact, as the
//! Windows event log renders it for Splunk's forwarder), which is the event's `_raw`, and
//! read by the XML export parser; values are then decoded to plain text, the form of a decoded
//! record. Chunks are read one at a time (64 KiB each), so memory stays flat, and each by its
//! place in the file, so that threads decoding chunks read them too.
//!
//! Damage never goes unreported: a record that cannot be decoded is a skip naming its record
//! number, and so is every record a chunk's header lists but its walk never reached (zeroed
//! or cut out); a chunk whose header or records fail their CRC32 is a skip (its records are
//! still read, as they are); a chunk that cannot be read at all, one the file header counts
//! that is missing or zeroed, and one the end of the file cuts off are each a skip.

use std::borrow::Cow;
use std::collections::{BTreeSet, VecDeque};
use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::sync::Arc;

use evtx::err::{ChunkError, EvtxError};
use evtx::{EvtxChunkData, EvtxChunkHeader, EvtxParser, ParserSettings};

use super::{Event, EventError, FormatReader, Location, Skip, SkipReason, Step, Steps, ValueForm};
use crate::segment::Segment;

/// The most EVTX bytes read into memory when the input cannot seek (a stream, a gzip).
pub const MAX_IN_MEMORY_EVTX_BYTES: u64 = 512 * 1024 * 1024;

/// The largest EVTX file read whole into memory rather than a chunk at a time.
const READ_WHOLE_BYTES: u64 = 4 << 20;

const FILE_HEADER_BYTES: u64 = 4096;
const CHUNK_BYTES: u64 = CHUNK_LEN as u64;
const CHUNK_LEN: usize = 65536;
const CHUNK_HEADER_BYTES: usize = 512;
/// More records than fit in a chunk's 65,024 bytes of records (each is at least 28 bytes
/// of header and size copy, plus its binary XML): a header listing more is damaged.
const MAX_RECORDS_PER_CHUNK: u64 = 65_024 / 28;

pub(crate) struct EvtxReader {
    /// The chunks to read, in the parser's order (see [`chunk_order`]), each with the
    /// records its header lists.
    order: VecDeque<Planned>,
    decoder: ChunkDecoder,
    ready: Steps,
    /// Chunks that are not all zeros, by number.
    seen: BTreeSet<u64>,
    layout: Layout,
    finished: bool,
}

/// A chunk to read: its number, and about how many records its header lists (a damaged
/// header's range counts as one).
#[derive(Clone, Copy)]
pub(crate) struct Planned {
    pub(crate) number: u64,
    pub(crate) listed: u64,
}

/// Where a file's bytes are read from, by offset: the file itself, or its bytes in memory.
#[derive(Clone)]
pub(crate) enum Source {
    File(Arc<File>),
    Bytes(Arc<Vec<u8>>),
}

impl Source {
    fn len(&self) -> std::io::Result<u64> {
        match self {
            Source::File(file) => file.metadata().map(|meta| meta.len()),
            Source::Bytes(bytes) => Ok(bytes.len() as u64),
        }
    }

    /// Appends to `buffer` the `len` bytes from `offset` on, or as many as the input holds.
    fn read_into(&self, offset: u64, len: usize, buffer: &mut Vec<u8>) -> std::io::Result<()> {
        match self {
            Source::Bytes(bytes) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
                let end = start.saturating_add(len).min(bytes.len());
                buffer.extend_from_slice(bytes.get(start..end).unwrap_or_default());
                Ok(())
            }
            Source::File(file) => {
                let end = offset.saturating_add(len as u64);
                let mut segment = Segment { file: Arc::clone(file), at: offset, end };
                segment.read_to_end(buffer).map(|_| ())
            }
        }
    }
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

impl EvtxReader {
    /// Reads the EVTX file `file`, from its start whatever was read of it before. A file of
    /// at most [`READ_WHOLE_BYTES`] is read whole, in one read: reading a chunk header by
    /// header and then chunk by chunk costs two reads a chunk, and for the small files
    /// attack data comes in, those reads cost more than the records.
    pub(crate) fn from_file(mut file: File, source: &Arc<str>) -> Result<Self, EventError> {
        let read_error = |err| EventError::Read { location: Location::whole(source), source: err };
        let len = file.seek(SeekFrom::End(0)).map_err(read_error)?;
        file.seek(SeekFrom::Start(0)).map_err(read_error)?;
        if len > READ_WHOLE_BYTES {
            return Self::new(Source::File(Arc::new(file)), source);
        }
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or_default());
        // The file may have grown since its size was taken: then it is read by offsets.
        file.by_ref().take(READ_WHOLE_BYTES + 1).read_to_end(&mut bytes).map_err(read_error)?;
        if bytes.len() as u64 > READ_WHOLE_BYTES {
            return Self::new(Source::File(Arc::new(file)), source);
        }
        Self::new(Source::Bytes(Arc::new(bytes)), source)
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
        Self::new(Source::Bytes(Arc::new(bytes)), source)
    }

    fn new(input: Source, source: &Arc<str>) -> Result<Self, EventError> {
        let read_error = |err| EventError::Read { location: Location::whole(source), source: err };
        let len = input.len().map_err(read_error)?;
        let tail = tail_of(&input, len).map_err(read_error)?;
        // Without the `multithreading` feature the parser reads one chunk at a time anyway;
        // asking it for a thread count only makes it log a warning.
        let settings = ParserSettings::new().indent(false);
        // The parser reads the file header, from where the file stands; the chunks are read
        // here, by offset.
        if let Source::File(file) = &input {
            (&**file).rewind().map_err(read_error)?;
        }
        let parsed = match &input {
            Source::File(file) => {
                EvtxParser::from_read_seek(&**file).map(|parser| header_facts(parser.header()))
            }
            Source::Bytes(bytes) => EvtxParser::from_read_seek(Cursor::new(&bytes[..]))
                .map(|parser| header_facts(parser.header())),
        };
        let header = parsed.map_err(|err| EventError::Evtx {
            location: Location::whole(source),
            source: Box::new(err),
        })?;
        let counted = header.intact.then_some(header.chunk_count);
        let mut ready = VecDeque::new();
        if counted.is_none() {
            let reason = SkipReason::DamagedEvtx(format!(
                "the file header fails its checksum (stored {:#010x}, computed {:#010x}); \
                 chunks were still found at their places and checked by their own checksums",
                header.stored, header.computed
            ));
            ready.push_back(Step::Skip(Skip { location: Location::whole(source), reason }));
        }
        let layout = Layout { slots: tail.slots, cut_tail: tail.cut, counted };
        // The parser's count: what follows the header block the file header states, in
        // whole chunks.
        let calculated = len.saturating_sub(u64::from(header.block_size)) / CHUNK_BYTES;
        let order = chunk_order(&input, len, calculated).map_err(read_error)?;
        let seen = order.iter().map(|planned| planned.number).collect();
        Ok(EvtxReader {
            order,
            decoder: ChunkDecoder {
                settings: Arc::new(settings),
                source: Arc::clone(source),
                input,
            },
            ready,
            seen,
            layout,
            finished: false,
        })
    }

    /// The next work in file order, `None` after the last: steps made here, where the
    /// file's header or end shows damage, or a chunk to read and decode, which any thread
    /// may do with [`EvtxReader::decoder`].
    pub(crate) fn next_work(&mut self) -> Option<Work> {
        if !self.ready.is_empty() {
            return Some(Work::Ready(self.ready.drain(..).collect()));
        }
        let Some(planned) = self.order.pop_front() else {
            if self.finished {
                return None;
            }
            self.finished = true;
            self.missing_chunks();
            return Some(Work::Ready(self.ready.drain(..).collect()));
        };
        Some(Work::Chunk(planned))
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

/// What the file header says that the reading needs.
struct HeaderFacts {
    intact: bool,
    chunk_count: u64,
    stored: u32,
    computed: u32,
    block_size: u16,
}

fn header_facts(header: &evtx::EvtxFileHeader) -> HeaderFacts {
    HeaderFacts {
        intact: header.validate_checksum(),
        chunk_count: u64::from(header.chunk_count),
        stored: header.checksum,
        computed: header.computed_checksum,
        block_size: header.header_block_size,
    }
}

/// A piece of an EVTX file's reading, in file order (see [`EvtxReader::next_work`]).
pub(crate) enum Work {
    /// Steps made without reading a chunk.
    Ready(Vec<Step>),
    /// A chunk to read and decode.
    Chunk(Planned),
}

/// Reads and decodes the chunks of one file into steps: a chunk is whole in itself (its
/// strings and templates are its own), so chunks can be read and decoded on several
/// threads at once.
#[derive(Clone)]
pub(crate) struct ChunkDecoder {
    settings: Arc<ParserSettings>,
    source: Arc<str>,
    input: Source,
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

    /// The steps of chunk `number`: none for a chunk of zeros, a skip for one that cannot
    /// be read, else its records' (see [`ChunkDecoder::decode`]).
    pub(crate) fn read(&self, number: u64) -> Vec<Step> {
        match read_chunk(&self.input, number) {
            Ok(None) => Vec::new(),
            Ok(Some(chunk)) => self.decode(chunk),
            // A chunk that cannot be read loses all its records; which they are, its header
            // cannot say.
            Err(err) => {
                vec![self.skip(None, format!("chunk {number}: {}", crate::error_chain(&err)))]
            }
        }
    }

    /// The steps of a chunk's records, in record order, what concerns the whole chunk first.
    fn decode(&self, mut chunk: EvtxChunkData) -> Vec<Step> {
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
/// all zeros.
struct Tail {
    slots: u64,
    cut: Option<u64>,
}

fn tail_of(input: &Source, len: u64) -> std::io::Result<Tail> {
    let after_header = len.saturating_sub(FILE_HEADER_BYTES);
    let (slots, tail) = (after_header / CHUNK_BYTES, after_header % CHUNK_BYTES);
    let mut cut = None;
    if tail > 0 && len > FILE_HEADER_BYTES {
        let mut bytes = Vec::new();
        input.read_into(len - tail, usize::try_from(tail).unwrap_or(usize::MAX), &mut bytes)?;
        if bytes.iter().any(|byte| *byte != 0) {
            cut = Some(tail);
        }
    }
    Ok(Tail { slots, cut })
}

fn chunk_offset(number: u64) -> u64 {
    FILE_HEADER_BYTES.saturating_add(number.saturating_mul(CHUNK_BYTES))
}

/// The chunks of a file of `len` bytes in the order the `evtx` parser reads them, less those
/// of zeros, which it passes over; `calculated` is its count of whole chunks (after the
/// header block the file header states). Its walk starts at the chunk whose header names the
/// lowest first record (the oldest, where a log that has wrapped around starts), goes to the
/// end, then from the start up to it. Each chunk comes with the records its header lists,
/// for handing out runs of chunks of about the same size.
fn chunk_order(input: &Source, len: u64, calculated: u64) -> std::io::Result<VecDeque<Planned>> {
    let mut header = Vec::with_capacity(CHUNK_HEADER_BYTES);
    let mut glances = Vec::new();
    let mut oldest = (u64::MAX, 0);
    for number in 0..calculated {
        // The parser stops looking at the first header it cannot read whole.
        let Some(glance) = glance(input, number, &mut header)? else { break };
        if let Some((first, last)) = glance.range
            && first <= last
            && first < oldest.0
        {
            oldest = (first, number);
        }
        glances.push(glance);
    }
    let oldest = oldest.1;
    let mut order = VecDeque::with_capacity(glances.len());
    let plan = |number: u64, order: &mut VecDeque<Planned>| -> std::io::Result<()> {
        match usize::try_from(number).ok().and_then(|at| glances.get(at)) {
            // Past a header that could not be read: the parser reads the chunk and says why.
            None => order.push_back(Planned { number, listed: 1 }),
            Some(glance) if glance.blank && all_zeros(input, number)? => {}
            Some(glance) => order.push_back(Planned { number, listed: glance.listed() }),
        }
        Ok(())
    };
    for number in oldest..calculated {
        plan(number, &mut order)?;
    }
    // Past its count, the parser goes on while chunks are whole in the file and their headers
    // read, passing over chunks of zeros; any other chunk ends its walk, unreported.
    let mut number = calculated;
    while chunk_offset(number).saturating_add(CHUNK_BYTES) <= len {
        let Some(glance) = glance(input, number, &mut header)? else { break };
        if glance.range.is_some() {
            order.push_back(Planned { number, listed: glance.listed() });
        } else if !(glance.blank && all_zeros(input, number)?) {
            break;
        }
        number += 1;
    }
    for number in 0..oldest {
        plan(number, &mut order)?;
    }
    Ok(order)
}

/// What a chunk's header says, read without the rest of the chunk.
struct Glance {
    /// The first and last record it lists, when it reads as a chunk header.
    range: Option<(u64, u64)>,
    /// Whether the header is all zeros, as the rest of the chunk may be.
    blank: bool,
}

impl Glance {
    /// Records listed, about: a damaged header's range counts as one.
    fn listed(&self) -> u64 {
        self.range.map_or(1, |(first, last)| last.saturating_sub(first).saturating_add(1))
    }
}

/// The header of chunk `number`, `None` when the input ends inside it.
fn glance(input: &Source, number: u64, header: &mut Vec<u8>) -> std::io::Result<Option<Glance>> {
    header.clear();
    input.read_into(chunk_offset(number), CHUNK_HEADER_BYTES, header)?;
    if header.len() < CHUNK_HEADER_BYTES {
        return Ok(None);
    }
    let range = EvtxChunkHeader::from_bytes(header)
        .ok()
        .map(|chunk| (chunk.first_event_record_id, chunk.last_event_record_id));
    Ok(Some(Glance { range, blank: header.iter().all(|byte| *byte == 0) }))
}

/// Whether chunk `number` is whole in the input and all zeros.
fn all_zeros(input: &Source, number: u64) -> std::io::Result<bool> {
    let mut chunk = Vec::with_capacity(CHUNK_LEN);
    input.read_into(chunk_offset(number), CHUNK_LEN, &mut chunk)?;
    Ok(chunk.len() == CHUNK_LEN && chunk.iter().all(|byte| *byte == 0))
}

/// Chunk `number` as the `evtx` parser reads it: `None` when it is all zeros, an error when
/// the file ends inside it or its header cannot be read.
fn read_chunk(input: &Source, number: u64) -> Result<Option<EvtxChunkData>, EvtxError> {
    let failed = |err| EvtxError::FailedToParseChunk { chunk_id: number, source: Box::new(err) };
    let mut data = Vec::with_capacity(CHUNK_LEN);
    let read = input.read_into(chunk_offset(number), CHUNK_LEN, &mut data);
    if read.is_err() || data.len() != CHUNK_LEN {
        return Err(failed(ChunkError::IncompleteChunk));
    }
    if data.iter().all(|byte| *byte == 0) {
        return Ok(None);
    }
    let mut chunk = EvtxChunkData::new(data, false).map_err(failed)?;
    chunk.number = Some(number);
    Ok(Some(chunk))
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
                Work::Chunk(planned) => self.decoder.read(planned.number),
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

#[cfg(test)]
#[allow(dead_code, unreachable_pub)]
#[path = "../../tests/it/events/evtx_file.rs"]
mod evtx_file;

#[cfg(test)]
mod tests {
    use super::evtx_file::{self, CHUNK_BYTES, FILE_HEADER_BYTES};
    use super::{EvtxReader, Source, read_chunk};
    use evtx::EvtxParser;
    use std::io::Write;
    use std::sync::Arc;

    /// What reading the chunks of `input` gives, in the order this reader finds them.
    fn our_walk(input: Source) -> Vec<String> {
        let reader = EvtxReader::new(input, &Arc::from("input")).unwrap();
        let input = &reader.decoder.input;
        let read = |number| match read_chunk(input, number) {
            Ok(None) => None,
            Ok(Some(chunk)) => {
                Some(format!("chunk {number}: records from {}", chunk.header.first_event_record_id))
            }
            Err(err) => Some(crate::error_chain(&err)),
        };
        reader.order.iter().filter_map(|planned| read(planned.number)).collect()
    }

    /// The same from the `evtx` parser's own walk over the chunks.
    fn the_parsers_walk(bytes: &[u8]) -> Vec<String> {
        let parser = EvtxParser::from_buffer(bytes.to_vec()).unwrap();
        let shown = |chunk: Result<evtx::EvtxChunkData, _>| match chunk {
            Ok(chunk) => format!(
                "chunk {}: records from {}",
                chunk.number.unwrap(),
                chunk.header.first_event_record_id
            ),
            Err(err) => crate::error_chain(&err),
        };
        parser.into_chunks().map(shown).collect()
    }

    /// Chunks are found by their offsets here, so that the threads that decode them can read
    /// them, where the `evtx` parser's walk found them before: the walk here must find the
    /// same chunks in the same order and fail on the same ones, in a log that has wrapped
    /// around, past the parser's count of chunks, and with every kind of damage that
    /// changes the walk.
    #[test]
    fn chunks_are_found_in_the_order_the_parser_finds_them() {
        let chunk = |n: usize| FILE_HEADER_BYTES + n * CHUNK_BYTES;
        let ranges: Vec<_> = (0..17u64).map(|n| n * 30 + 1..=n * 30 + 30).collect();
        let whole = evtx_file::evtx_file(&ranges).bytes;
        let block_size = |bytes: &mut Vec<u8>, size: u16| {
            bytes[40..42].copy_from_slice(&size.to_le_bytes());
        };
        // The oldest records (1 to 30) in chunk 6: the walk starts there and wraps around.
        let mut wrapped = whole.clone();
        wrapped[chunk(0)..chunk(17)].rotate_right(6 * CHUNK_BYTES);
        let mut wrapped_with_zeros = wrapped.clone();
        wrapped_with_zeros[chunk(2)..chunk(3)].fill(0);
        wrapped_with_zeros[chunk(9)..chunk(10)].fill(0);
        // The oldest chunk's header zeroed: the walk starts elsewhere and fails on it.
        let mut blank_header = wrapped.clone();
        blank_header[chunk(6)..chunk(6) + 512].fill(0);
        let mut cut = whole.clone();
        cut.truncate(chunk(15) + 1000);
        // A header block of 8 KiB: the parser counts 16 chunks and reads the 17th past them.
        let mut past_count = whole.clone();
        block_size(&mut past_count, 0x2000);
        let mut past_count_damaged = past_count.clone();
        past_count_damaged[chunk(16)] ^= 0xff;
        let mut past_count_zeros = past_count.clone();
        past_count_zeros[chunk(16)..chunk(17)].fill(0);
        past_count_zeros.extend_from_slice(&whole[chunk(3)..chunk(4)]);
        // A header block of 2 KiB: the parser counts a 17th chunk the file cuts short.
        let mut counted_short = whole.clone();
        block_size(&mut counted_short, 0x800);
        counted_short.truncate(chunk(16) + 64_000);
        let variants = [
            ("whole", whole),
            ("wrapped", wrapped),
            ("wrapped, two chunks of zeros", wrapped_with_zeros),
            ("the oldest chunk's header zeroed", blank_header),
            ("cut inside chunk 15", cut),
            ("a chunk past the parser's count", past_count),
            ("a damaged chunk past the count", past_count_damaged),
            ("zeros, then a chunk, past the count", past_count_zeros),
            ("a counted chunk cut short", counted_short),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in variants {
            let expected = the_parsers_walk(&bytes);
            assert_eq!(our_walk(Source::Bytes(Arc::new(bytes.clone()))), expected, "{name}");
            let path = dir.path().join("file.evtx");
            std::fs::File::create(&path).unwrap().write_all(&bytes).unwrap();
            let file = std::fs::File::open(&path).unwrap();
            assert_eq!(our_walk(Source::File(Arc::new(file))), expected, "{name}, from a file");
            assert!(expected.len() > 10, "{name}: {expected:#?}");
        }
    }
}
