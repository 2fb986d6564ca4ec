//! Binary EVTX files through the `evtx` crate: each record rendered as XML (compact, as the
//! Windows event log renders it for Splunk's forwarder), which is the event's `_raw`, and
//! read by the XML export parser; values are then decoded to plain text, the form of a decoded
//! record. Chunks are read one at a time (64 KiB each), so memory stays flat, and each by its
//! place in the file, so that threads decoding chunks read them too. Which chunks to read, and
//! in which order, is worked out here as the `evtx` crate's own walk works it out (see
//! [`Walk`]).
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
use crate::segment::fill_at;

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
    /// Where the walk over the chunks stands.
    walk: Walk,
    decoder: ChunkDecoder,
    ready: Steps,
    /// Of the chunks the file header counts, those the walk has handed out, by number.
    seen: BTreeSet<u64>,
    layout: Layout,
    finished: bool,
    /// The test each record's XML passes before it is parsed (see
    /// [`super::EventReader::prefilter`]).
    prefilter: Option<super::Prefilter>,
}

/// A test on a record's XML before it is parsed: `false` passes over the record.
pub(crate) type Keep<'k> = dyn FnMut(&[u8]) -> bool + 'k;

/// A chunk to read: its number, and about how many records its header lists (see
/// [`Glance::listed`]).
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
    /// Appends to `buffer` the `len` bytes from `offset` on, or as many as the input holds.
    fn read_into(&self, offset: u64, len: usize, buffer: &mut Vec<u8>) -> std::io::Result<()> {
        let start = buffer.len();
        buffer.resize(start.saturating_add(len), 0);
        let read = self.fill(offset, buffer.get_mut(start..).unwrap_or_default());
        buffer.truncate(start + read.as_ref().map_or(0, |read| *read));
        read.map(drop)
    }

    /// Fills `buffer` with the bytes from `offset` on, as many as the input holds, and says
    /// how many that is.
    fn fill(&self, offset: u64, buffer: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Source::Bytes(bytes) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
                let held = bytes.get(start..).unwrap_or_default();
                let len = held.len().min(buffer.len());
                if let (Some(to), Some(from)) = (buffer.get_mut(..len), held.get(..len)) {
                    to.copy_from_slice(from);
                }
                Ok(len)
            }
            Source::File(file) => fill_at(file, offset, buffer),
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
            return Self::new(Source::File(Arc::new(file)), len, source);
        }
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or_default());
        // The file may have grown since its size was taken: then it is read by offsets.
        file.by_ref().take(READ_WHOLE_BYTES + 1).read_to_end(&mut bytes).map_err(read_error)?;
        if bytes.len() as u64 > READ_WHOLE_BYTES {
            // The size a seek to the end gives, as the parser takes it: a block device's
            // metadata says 0.
            let len = file.seek(SeekFrom::End(0)).map_err(read_error)?;
            return Self::new(Source::File(Arc::new(file)), len, source);
        }
        let len = bytes.len() as u64;
        Self::new(Source::Bytes(Arc::new(bytes)), len, source)
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
        let len = bytes.len() as u64;
        Self::new(Source::Bytes(Arc::new(bytes)), len, source)
    }

    /// The reader of `input`, `len` bytes long.
    fn new(input: Source, len: u64, source: &Arc<str>) -> Result<Self, EventError> {
        let read_error = |err| EventError::Read { location: Location::whole(source), source: err };
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
        Ok(EvtxReader {
            walk: Walk::start(&input, len, calculated),
            decoder: ChunkDecoder {
                settings: Arc::new(settings),
                source: Arc::clone(source),
                input,
            },
            ready,
            seen: BTreeSet::new(),
            layout,
            finished: false,
            prefilter: None,
        })
    }

    /// The next work in file order, `None` after the last: steps made here, where the
    /// file's header or end shows damage, or a chunk to read and decode, which any thread
    /// may do with [`EvtxReader::decoder`].
    pub(crate) fn next_work(&mut self) -> Option<Work> {
        if !self.ready.is_empty() {
            return Some(Work::Ready(self.ready.drain(..).collect()));
        }
        let Some(planned) = self.walk.next(&self.decoder.input) else {
            if self.finished {
                return None;
            }
            self.finished = true;
            self.missing_chunks();
            return Some(Work::Ready(self.ready.drain(..).collect()));
        };
        // Only counted chunks are looked up, and a file header counts at most 65,535.
        if self.layout.counted.is_some_and(|counted| planned.number < counted) {
            self.seen.insert(planned.number);
        }
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
    pub(crate) fn read(&self, number: u64, keep: Option<&mut Keep<'_>>) -> Vec<Step> {
        match read_chunk(&self.input, number) {
            Ok(None) => Vec::new(),
            Ok(Some(chunk)) => {
                let (steps, data) = self.decode(chunk, keep);
                give_back(data);
                steps
            }
            // A chunk that cannot be read loses all its records; which they are, its header
            // cannot say.
            Err(err) => {
                vec![self.skip(None, format!("chunk {number}: {}", crate::error_chain(&err)))]
            }
        }
    }

    /// The steps of a chunk's records, in record order, what concerns the whole chunk first.
    /// A record whose XML `keep` rejects is passed over unparsed.
    fn decode(
        &self,
        mut chunk: EvtxChunkData,
        mut keep: Option<&mut Keep<'_>>,
    ) -> (Vec<Step>, Vec<u8>) {
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
                            let step = self.record_step(&record, keep.as_deref_mut());
                            steps.push((Some(record.event_record_id), step));
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
        (steps.into_iter().map(|(_, step)| step).collect(), std::mem::take(&mut chunk.data))
    }

    /// The event of a decoded record, or why it is not one, or that `keep` passes over it.
    fn record_step(
        &self,
        record: &evtx::SerializedEvtxRecord<String>,
        keep: Option<&mut Keep<'_>>,
    ) -> Step {
        let location = self.record_location(Some(record.event_record_id));
        let event = event_text(&record.data).and_then(|raw| {
            if keep.is_some_and(|keep| !keep(raw.as_bytes())) {
                return Ok(None);
            }
            event_from_xml(raw, location.clone()).map(Some)
        });
        match event {
            Ok(Some(event)) => Step::Event(event),
            Ok(None) => Step::Prefiltered,
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

/// The walk over a file's chunks the `evtx` parser makes, step by step, with none of the
/// chunks of zeros it passes over: from the chunk whose header names the lowest first record
/// (the oldest, where a log that has wrapped around starts) to the end of the parser's count
/// of whole chunks (after the header block the file header states), on past it while the
/// chunks are whole in the file and their headers read, then from the first chunk up to the
/// oldest. A chunk's header is read again when the walk reaches it, so that memory stays
/// flat whatever the file's size; a file that changes while it is read is read as it is
/// then, where the parser's walk would depend on when it looked.
struct Walk {
    len: u64,
    calculated: u64,
    oldest: u64,
    next: u64,
    stage: Stage,
    /// A chunk header's bytes, read into the same buffer each time.
    header: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// From the oldest chunk to the end of the count.
    Counted,
    /// Past the count.
    Past,
    /// From the first chunk up to the oldest.
    Wrapped,
    Done,
}

impl Walk {
    /// The walk over a file of `len` bytes and `calculated` chunks, by the parser's count.
    fn start(input: &Source, len: u64, calculated: u64) -> Walk {
        let mut header = Vec::with_capacity(CHUNK_HEADER_BYTES);
        let mut oldest = (u64::MAX, 0);
        for number in 0..calculated {
            // The parser stops looking at the first header it cannot read whole.
            let Some(glance) = glance(input, number, &mut header) else { break };
            if let Some((first, last)) = glance.range
                && first <= last
                && first < oldest.0
            {
                oldest = (first, number);
            }
        }
        let oldest = oldest.1;
        Walk { len, calculated, oldest, next: oldest, stage: Stage::Counted, header }
    }

    /// The next chunk of the walk, `None` at its end.
    fn next(&mut self, input: &Source) -> Option<Planned> {
        loop {
            let number = self.next;
            match self.stage {
                Stage::Counted if number >= self.calculated => self.stage = Stage::Past,
                Stage::Wrapped if number >= self.oldest => self.stage = Stage::Done,
                Stage::Counted | Stage::Wrapped => {
                    self.next += 1;
                    match glance(input, number, &mut self.header) {
                        // The parser reads the chunk and says why it cannot.
                        None => return Some(Planned { number, listed: 1 }),
                        Some(glance) if glance.blank && all_zeros(input, number) => {}
                        Some(glance) => return Some(Planned { number, listed: glance.listed() }),
                    }
                }
                Stage::Past => {
                    let whole = chunk_offset(number).saturating_add(CHUNK_BYTES) <= self.len;
                    match glance(input, number, &mut self.header).filter(|_| whole) {
                        Some(glance) if glance.range.is_some() => {
                            self.next += 1;
                            return Some(Planned { number, listed: glance.listed() });
                        }
                        Some(glance) if glance.blank && all_zeros(input, number) => self.next += 1,
                        // Any other chunk ends this part of the walk, unreported.
                        _ => (self.stage, self.next) = (Stage::Wrapped, 0),
                    }
                }
                Stage::Done => return None,
            }
        }
    }
}

/// What a chunk's header says, read without the rest of the chunk.
struct Glance {
    /// The first and last record it lists, when it reads as a chunk header.
    range: Option<(u64, u64)>,
    /// Whether the header is all zeros, as the rest of the chunk may be.
    blank: bool,
}

impl Glance {
    /// Records listed, about, for handing out runs of chunks of about the same size: a
    /// header that does not read, or lists its records backwards, counts as one; one that
    /// lists more than a chunk can hold, as that many.
    fn listed(&self) -> u64 {
        self.range.map_or(1, |(first, last)| {
            last.saturating_sub(first).saturating_add(1).min(MAX_RECORDS_PER_CHUNK)
        })
    }
}

/// The header of chunk `number`, `None` when the input cannot give it whole (it ends
/// before the header does, or the read fails), as the parser's reading of it fails then.
fn glance(input: &Source, number: u64, header: &mut Vec<u8>) -> Option<Glance> {
    header.clear();
    input.read_into(chunk_offset(number), CHUNK_HEADER_BYTES, header).ok()?;
    if header.len() < CHUNK_HEADER_BYTES {
        return None;
    }
    let range = EvtxChunkHeader::from_bytes(header)
        .ok()
        .map(|chunk| (chunk.first_event_record_id, chunk.last_event_record_id));
    Some(Glance { range, blank: header.iter().all(|byte| *byte == 0) })
}

/// Whether chunk `number` is whole in the input, and all zeros.
fn all_zeros(input: &Source, number: u64) -> bool {
    let mut chunk = Vec::with_capacity(CHUNK_LEN);
    let read = input.read_into(chunk_offset(number), CHUNK_LEN, &mut chunk);
    read.is_ok() && chunk.len() == CHUNK_LEN && chunk.iter().all(|byte| *byte == 0)
}

thread_local! {
    /// The last chunk's bytes on this thread, for the next chunk read on it: a chunk's 64 KiB
    /// taken fresh from the allocator and zeroed before each read cost more than the read.
    static CHUNK_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Keeps a chunk's buffer for the next chunk read on this thread.
fn give_back(buffer: Vec<u8>) {
    CHUNK_BUFFER.set(buffer);
}

/// Chunk `number` as the `evtx` parser reads it: `None` when it is all zeros, an error when
/// the file ends inside it or its header cannot be read.
fn read_chunk(input: &Source, number: u64) -> Result<Option<EvtxChunkData>, EvtxError> {
    let failed = |err| EvtxError::FailedToParseChunk { chunk_id: number, source: Box::new(err) };
    let mut data = CHUNK_BUFFER.take();
    data.resize(CHUNK_LEN, 0);
    let read = input.fill(chunk_offset(number), &mut data);
    if read.ok() != Some(CHUNK_LEN) {
        give_back(data);
        return Err(failed(ChunkError::IncompleteChunk));
    }
    if data.iter().all(|byte| *byte == 0) {
        give_back(data);
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
                Work::Chunk(planned) => {
                    let keep = self.prefilter.as_mut().map(|keep| &mut **keep as &mut Keep<'_>);
                    self.decoder.read(planned.number, keep)
                }
            };
            self.ready.extend(steps);
        }
        self.ready.pop_front()
    }

    /// A record's XML shows its code as an XML export's text does; its values are decoded
    /// from the text, so a test of them must allow for the entities the crate writes.
    fn set_prefilter(&mut self, prefilter: super::Prefilter) -> bool {
        self.prefilter = Some(prefilter);
        true
    }
}

/// `text` with its entity references decoded; text that is not well-escaped stays as
/// written.
fn unescaped(text: &str) -> Cow<'_, str> {
    quick_xml::escape::unescape(text).unwrap_or(Cow::Borrowed(text))
}

/// The `<Event …>…</Event>` text of a record's XML rendering, without the XML declaration
/// the crate writes first: the event's `_raw`.
fn event_text(xml: &str) -> Result<&str, SkipReason> {
    let start =
        xml.find("<Event").ok_or_else(|| SkipReason::BadRecord("no Event element".to_owned()))?;
    let end = xml.rfind("</Event>").map_or(xml.len(), |at| at + "</Event>".len());
    Ok(xml.get(start..end).unwrap_or_default())
}

/// The event of a record's XML rendering `raw` (see [`event_text`]); values are decoded to
/// plain text.
fn event_from_xml(raw: &str, location: Location) -> Result<Event, SkipReason> {
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
    use super::{EvtxReader, Source, Work, read_chunk};
    use evtx::EvtxParser;
    use std::io::Write;
    use std::sync::Arc;

    /// What reading the chunks of `input` gives, in the order this reader's walk hands them
    /// out; and the counted chunks it says it has seen, for the skips of missing ones.
    fn our_walk(input: Source, len: u64) -> Result<(Vec<String>, Vec<u64>), String> {
        let mut reader =
            EvtxReader::new(input, len, &Arc::from("input")).map_err(|err| err.to_string())?;
        let mut walk = Vec::new();
        while let Some(work) = reader.next_work() {
            let Work::Chunk(planned) = work else { continue };
            let number = planned.number;
            // A chunk of zeros handed out is a difference too: the parser passes over it,
            // and the reader would count it as seen.
            walk.push(match read_chunk(&reader.decoder.input, number) {
                Ok(None) => format!("chunk {number}: zeros"),
                Ok(Some(chunk)) => {
                    format!("chunk {number}: records from {}", chunk.header.first_event_record_id)
                }
                Err(err) => crate::error_chain(&err),
            });
        }
        Ok((walk, reader.seen.into_iter().collect()))
    }

    /// The same from the `evtx` parser's own walk over the chunks, and the counted chunks it
    /// reads or fails on.
    fn the_parsers_walk(bytes: &[u8]) -> Result<(Vec<String>, Vec<u64>), String> {
        let parser = EvtxParser::from_buffer(bytes.to_vec()).map_err(|err| err.to_string())?;
        let header = parser.header();
        let counted = header.validate_checksum().then_some(u64::from(header.chunk_count));
        let mut seen = Vec::new();
        let mut walk = Vec::new();
        for chunk in parser.into_chunks() {
            let (number, shown) = match chunk {
                Ok(chunk) => {
                    let number = chunk.number.unwrap();
                    let first = chunk.header.first_event_record_id;
                    (number, format!("chunk {number}: records from {first}"))
                }
                Err(err) => {
                    let evtx::err::EvtxError::FailedToParseChunk { chunk_id, .. } = &err else {
                        panic!("{err}")
                    };
                    (*chunk_id, crate::error_chain(&err))
                }
            };
            if counted.is_some_and(|counted| number < counted) {
                seen.push(number);
            }
            walk.push(shown);
        }
        seen.sort_unstable();
        Ok((walk, seen))
    }

    /// Both walks over `bytes`, from memory and from a file, for `name`.
    fn assert_same_walks(name: &str, bytes: &[u8], dir: &std::path::Path) {
        let len = bytes.len() as u64;
        let expected = the_parsers_walk(bytes);
        let from_memory = our_walk(Source::Bytes(Arc::new(bytes.to_vec())), len);
        // Only whether the file header reads must agree: the messages are worded apart.
        match (&expected, &from_memory) {
            (Err(_), Err(_)) => return,
            _ => assert_eq!(from_memory, expected, "{name}"),
        }
        let path = dir.join("file.evtx");
        std::fs::File::create(&path).unwrap().write_all(bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let from_file = our_walk(Source::File(Arc::new(file)), len);
        assert_eq!(from_file, expected, "{name}, from a file");
    }

    /// Chunks are found by their offsets here, so that the threads that decode them can read
    /// them, where the `evtx` parser's walk found them before: the walk here must find the
    /// same chunks in the same order and fail on the same ones, in a log that has wrapped
    /// around, past the parser's count of chunks, and with chunks of zeros, zeroed headers
    /// and files cut short.
    #[test]
    fn chunks_are_found_in_the_order_the_parser_finds_them() {
        let chunk = |n: usize| FILE_HEADER_BYTES + n * CHUNK_BYTES;
        let ranges: Vec<_> = (0..17u64).map(|n| n * 30 + 1..=n * 30 + 30).collect();
        let whole = evtx_file::evtx_file(&ranges).bytes;
        let block_size = |bytes: &[u8], size: u16| {
            let mut bytes = bytes.to_vec();
            bytes[40..42].copy_from_slice(&size.to_le_bytes());
            bytes
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
        // A header block of 8 KiB: the parser counts 16 chunks and reads the 17th past them,
        // unless it is damaged; one of zeros it passes over.
        let past_count = block_size(&whole, 0x2000);
        let mut past_count_damaged = past_count.clone();
        past_count_damaged[chunk(16)] ^= 0xff;
        let mut past_count_zeros = past_count.clone();
        past_count_zeros[chunk(16)..chunk(17)].fill(0);
        // A header block of 2 KiB: the parser counts a 17th chunk the file cuts short.
        let mut counted_short = block_size(&whole, 0x800);
        counted_short.truncate(chunk(16) + 64_000);
        let mut one_chunk = whole.clone();
        one_chunk.truncate(chunk(1));
        let mut header_only = whole.clone();
        header_only.truncate(chunk(0));
        let mut zeros = whole.clone();
        zeros[chunk(0)..].fill(0);
        let variants = [
            ("whole", whole.clone()),
            ("wrapped", wrapped.clone()),
            ("wrapped, two chunks of zeros", wrapped_with_zeros),
            ("the oldest chunk's header zeroed", blank_header),
            ("cut inside chunk 15", cut),
            ("a chunk past the parser's count", past_count),
            ("a damaged chunk past the count", past_count_damaged),
            ("zeros past the count", past_count_zeros),
            ("a counted chunk cut short", counted_short),
            ("wrapped, a chunk past the count", block_size(&wrapped, 0x2000)),
            ("wrapped, a header block of 0", block_size(&wrapped, 0)),
            ("one chunk", one_chunk),
            ("no chunk", header_only),
            ("chunks of zeros only", zeros),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in &variants {
            assert_same_walks(name, bytes, dir.path());
        }
        let (walk, _) = the_parsers_walk(&variants[5].1).unwrap();
        assert_eq!(walk.last().map(String::as_str), Some("chunk 16: records from 481"));
    }

    /// The same over files damaged at random, seeded: chunks moved, added, zeroed whole or
    /// in part, headers with other magic or record ranges, header blocks of any size, and
    /// files cut anywhere.
    #[test]
    fn chunks_are_found_as_the_parser_finds_them_in_files_damaged_at_random() {
        let chunk = |n: usize| FILE_HEADER_BYTES + n * CHUNK_BYTES;
        let ranges: Vec<_> = (0..6u64).map(|n| n * 30 + 1..=n * 30 + 30).collect();
        let whole = evtx_file::evtx_file(&ranges).bytes;
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut below = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % n.max(1)).unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        for round in 0..400 {
            let mut bytes = whole.clone();
            bytes[chunk(0)..chunk(6)].rotate_right(below(6) * CHUNK_BYTES);
            for _ in 0..below(3) {
                let from = below(6);
                bytes.extend_from_slice(&whole[chunk(from)..chunk(from + 1)]);
            }
            let chunks = (bytes.len() - FILE_HEADER_BYTES) / CHUNK_BYTES;
            for _ in 0..below(6) {
                let at = chunk(below(chunks as u64));
                let id = (below(200) as u64).to_le_bytes();
                match below(6) {
                    0 => bytes[at..at + CHUNK_BYTES].fill(0),
                    1 => bytes[at..at + 512].fill(0),
                    2 => bytes[at + 512..at + CHUNK_BYTES].fill(0),
                    3 => bytes[at] ^= 0xff,
                    4 => bytes[at + 24..at + 32].copy_from_slice(&id),
                    _ => bytes[at + 32..at + 40].copy_from_slice(&id),
                }
            }
            let size: u16 = [0, 0x800, 0x1000, 0x1001, 0x2000, 0xffff][below(6)];
            bytes[40..42].copy_from_slice(&size.to_le_bytes());
            if below(2) == 0 {
                let cut = below(3 * CHUNK_BYTES as u64);
                bytes.truncate(bytes.len().saturating_sub(cut).max(4096 + below(600)));
            }
            assert_same_walks(&format!("round {round}"), &bytes, dir.path());
        }
    }
}
