//! EVTX files built in the test, so that damage to chunk headers, checksums and records can
//! be made on purpose: a file header and chunks of Sysmon process launches whose binary XML
//! writes every name inline and uses no templates (the `evtx` crate reads both).

// Every size and offset here is within one 64 KiB chunk or a handful of chunks.
#![allow(clippy::cast_possible_truncation)]

use std::collections::BTreeMap;

pub(super) const FILE_HEADER_BYTES: usize = 4096;
pub(super) const CHUNK_BYTES: usize = 65536;
const CHUNK_HEADER_BYTES: usize = 512;

/// A built file and where its records are.
pub(super) struct EvtxFile {
    pub(super) bytes: Vec<u8>,
    /// Per chunk, each record's id, file offset and length.
    pub(super) records: Vec<Vec<(u64, usize, usize)>>,
}

/// The command line of record `id`, so that a test can tell events apart.
pub(super) fn command_line(id: u64) -> String {
    format!(r"rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump {id} C:\Temp\{id}.dmp full")
}

/// A file whose chunks hold the records of `chunks`, ids in order.
pub(super) fn evtx_file(chunks: &[std::ops::RangeInclusive<u64>]) -> EvtxFile {
    evtx_file_with_parent(chunks, None)
}

/// [`evtx_file`] whose records hold a `ParentCommandLine` of `parent` too.
pub(super) fn evtx_file_with_parent(
    chunks: &[std::ops::RangeInclusive<u64>],
    parent: Option<&str>,
) -> EvtxFile {
    built(chunks, parent, |_| 1)
}

/// [`evtx_file`] whose record `id` has the event code `code(id)` (its data stays a process
/// launch's).
pub(super) fn evtx_file_of_codes(
    chunks: &[std::ops::RangeInclusive<u64>],
    code: fn(u64) -> u32,
) -> EvtxFile {
    built(chunks, None, code)
}

fn built(
    chunks: &[std::ops::RangeInclusive<u64>],
    parent: Option<&str>,
    code: fn(u64) -> u32,
) -> EvtxFile {
    let mut bytes = vec![0; FILE_HEADER_BYTES];
    let mut records = Vec::new();
    for (number, ids) in chunks.iter().enumerate() {
        let (chunk, offsets) = chunk(ids.clone(), parent, code);
        let start = FILE_HEADER_BYTES + number * CHUNK_BYTES;
        records.push(offsets.into_iter().map(|(id, at, len)| (id, start + at, len)).collect());
        bytes.extend_from_slice(&chunk);
    }
    let next_id = chunks.iter().map(|ids| *ids.end() + 1).max().unwrap_or(1);
    let header = &mut bytes[..FILE_HEADER_BYTES];
    header[..8].copy_from_slice(b"ElfFile\0");
    put_u64(header, 16, chunks.len().saturating_sub(1) as u64);
    put_u64(header, 24, next_id);
    put_u32(header, 32, 128);
    put_u16(header, 36, 1);
    put_u16(header, 38, 3);
    put_u16(header, 40, FILE_HEADER_BYTES as u16);
    put_u16(header, 42, chunks.len() as u16);
    let checksum = crc32(&[&header[..120]]);
    put_u32(header, 124, checksum);
    EvtxFile { bytes, records }
}

/// Recomputes the header and records checksums of the chunk at `chunk_start`, after a
/// change that should only lose records, not look like bit rot.
pub(super) fn reseal_chunk(bytes: &mut [u8], chunk_start: usize) {
    let chunk = &mut bytes[chunk_start..chunk_start + CHUNK_BYTES];
    let free = u32::from_le_bytes(chunk[48..52].try_into().unwrap()) as usize;
    let records = crc32(&[&chunk[CHUNK_HEADER_BYTES..free]]);
    put_u32(chunk, 52, records);
    let header = crc32(&[&chunk[..120], &chunk[128..CHUNK_HEADER_BYTES]]);
    put_u32(chunk, 124, header);
}

/// One chunk and each record's (id, offset in the chunk, length).
fn chunk(
    ids: std::ops::RangeInclusive<u64>,
    parent: Option<&str>,
    code: fn(u64) -> u32,
) -> (Vec<u8>, Vec<(u64, usize, usize)>) {
    let names = BTreeMap::new();
    let mut writer = BinXml { data: vec![0; CHUNK_HEADER_BYTES], names, parent, code };
    let mut offsets = Vec::new();
    for id in ids.clone() {
        let start = writer.data.len();
        writer.record(id);
        offsets.push((id, start, writer.data.len() - start));
    }
    let last_record = offsets.last().map_or(CHUNK_HEADER_BYTES, |(_, at, _)| *at);
    let free = writer.data.len();
    assert!(free <= CHUNK_BYTES, "too many records for one chunk");
    let mut data = writer.data;
    data[..8].copy_from_slice(b"ElfChnk\0");
    put_u64(&mut data, 8, *ids.start());
    put_u64(&mut data, 16, *ids.end());
    put_u64(&mut data, 24, *ids.start());
    put_u64(&mut data, 32, *ids.end());
    put_u32(&mut data, 40, 128);
    put_u32(&mut data, 44, last_record as u32);
    put_u32(&mut data, 48, free as u32);
    data.resize(CHUNK_BYTES, 0);
    reseal_chunk(&mut data, 0);
    (data, offsets)
}

/// Binary XML written into a chunk: names are chunk offsets, written inline the first time.
struct BinXml<'p> {
    data: Vec<u8>,
    names: BTreeMap<String, u32>,
    /// Each record's `ParentCommandLine`, when it has one.
    parent: Option<&'p str>,
    /// Each record's event code, by its id.
    code: fn(u64) -> u32,
}

impl BinXml<'_> {
    fn record(&mut self, id: u64) {
        let start = self.data.len();
        self.data.extend_from_slice(b"\x2a\x2a\0\0");
        self.data.extend_from_slice(&[0; 4]);
        self.data.extend_from_slice(&id.to_le_bytes());
        // 2021-01-01T00:00:00Z as a FILETIME, plus a second per record.
        let filetime = 132_539_328_000_000_000_u64 + id * 10_000_000;
        self.data.extend_from_slice(&filetime.to_le_bytes());
        self.data.extend_from_slice(&[0x0f, 0x01, 0x01, 0x00]);
        let time =
            format!("2021-01-01T{:02}:{:02}:{:02}.000Z", id / 3600 % 24, id / 60 % 60, id % 60);
        self.open("Event", &[]);
        self.open("System", &[]);
        self.leaf("Provider", &[("Name", "Microsoft-Windows-Sysmon")], None);
        self.leaf("EventID", &[], Some(&(self.code)(id).to_string()));
        self.leaf("TimeCreated", &[("SystemTime", &time)], None);
        self.leaf("EventRecordID", &[], Some(&id.to_string()));
        self.leaf("Channel", &[], Some("Microsoft-Windows-Sysmon/Operational"));
        self.leaf("Computer", &[], Some("ws01.lab.local"));
        self.data.push(0x04);
        self.open("EventData", &[]);
        self.leaf("Data", &[("Name", "Image")], Some(r"C:\Windows\System32\rundll32.exe"));
        self.leaf("Data", &[("Name", "CommandLine")], Some(&command_line(id)));
        self.leaf("Data", &[("Name", "User")], Some(r"LAB\alice"));
        if let Some(parent) = self.parent {
            self.leaf("Data", &[("Name", "ParentCommandLine")], Some(parent));
        }
        self.data.push(0x04);
        self.data.push(0x04);
        self.data.push(0x00);
        while !(self.data.len() - start + 4).is_multiple_of(8) {
            self.data.push(0);
        }
        let size = (self.data.len() - start + 4) as u32;
        self.data.extend_from_slice(&size.to_le_bytes());
        put_u32(&mut self.data, start + 4, size);
    }

    /// An element's start tag, closed for content to follow.
    fn open(&mut self, name: &str, attributes: &[(&str, &str)]) {
        self.start(name, attributes);
        self.data.push(0x02);
    }

    /// An element holding only `text`, or empty.
    fn leaf(&mut self, name: &str, attributes: &[(&str, &str)], text: Option<&str>) {
        self.start(name, attributes);
        match text {
            Some(text) => {
                self.data.push(0x02);
                self.value(text);
                self.data.push(0x04);
            }
            None => self.data.push(0x03),
        }
    }

    fn start(&mut self, name: &str, attributes: &[(&str, &str)]) {
        self.data.push(if attributes.is_empty() { 0x01 } else { 0x41 });
        // The element's data size: the parser does not use it.
        self.data.extend_from_slice(&[0; 4]);
        self.name(name);
        if !attributes.is_empty() {
            self.data.extend_from_slice(&[0; 4]);
            for (index, (key, value)) in attributes.iter().enumerate() {
                self.data.push(if index + 1 < attributes.len() { 0x46 } else { 0x06 });
                self.name(key);
                self.value(value);
            }
        }
    }

    fn name(&mut self, name: &str) {
        if let Some(at) = self.names.get(name) {
            let at = *at;
            self.data.extend_from_slice(&at.to_le_bytes());
            return;
        }
        let at = (self.data.len() + 4) as u32;
        self.data.extend_from_slice(&at.to_le_bytes());
        // Next name in the hash bucket, the name's hash (neither is checked here).
        self.data.extend_from_slice(&[0; 6]);
        self.utf16(name);
        self.data.extend_from_slice(&[0; 2]);
        self.names.insert(name.to_owned(), at);
    }

    fn value(&mut self, text: &str) {
        self.data.extend_from_slice(&[0x05, 0x01]);
        self.utf16(text);
    }

    fn utf16(&mut self, text: &str) {
        let units: Vec<u16> = text.encode_utf16().collect();
        self.data.extend_from_slice(&(units.len() as u16).to_le_bytes());
        self.data.extend(units.iter().flat_map(|unit| unit.to_le_bytes()));
    }
}

fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = flate2::Crc::new();
    for part in parts {
        crc.update(part);
    }
    crc.sum()
}

fn put_u16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}
