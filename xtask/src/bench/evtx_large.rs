//! The bench's large EVTX file: a busy host's log, its chunks full of records.
//!
//! The corpus's files are attack samples of one to a few records, each in a chunk that is
//! mostly free space. Repeating those chunks as they are made a file of three records a
//! chunk, whose decoding is mostly what a chunk costs whatever it holds (its strings and
//! templates): it says little of a day's Sysmon log, where a chunk holds a hundred records
//! or so. So each corpus chunk is filled first: after its records come copies of them until
//! the chunk is full, and every record of the file is numbered after the one before.
//!
//! A copy refers to its template where its original defines it. Within a chunk, a template
//! instance whose definition offset is not where the instance stands refers to the
//! definition at that offset, which the original keeps. Each filled chunk is checked through
//! the `evtx` crate: its checksums hold, and every copy renders as its original does (but
//! for its record number); a record whose copies would not is not copied.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};

const HEADER: usize = 4096;
const CHUNK: usize = 65536;
const CHUNK_HEADER: usize = 512;
const RECORD_MAGIC: [u8; 4] = [0x2a, 0x2a, 0, 0];
/// A record's header (magic, size, number, time) and the size copy after its event.
const RECORD_FRAME: usize = 24 + 4;
/// Where, in a record, the template instance that opens its event says where the template
/// is defined: after the header, the fragment header (4 bytes), the instance's token, a
/// byte and the template's id.
const DEFINITION_OFFSET_AT: usize = 24 + 4 + 1 + 1 + 4;
/// A template definition's header: the next definition's offset, its GUID, its size.
const DEFINITION_HEADER: usize = 4 + 16 + 4;

/// One EVTX file of about `size` bytes: the first file's header, then the chunks of every
/// file of `corpus`, each filled with copies of its records, over and over; the header's
/// chunk count, next record number and checksum set to match.
pub(super) fn write(corpus: &[PathBuf], size: u64, path: &std::path::Path) -> anyhow::Result<()> {
    let mut header = Vec::new();
    let mut filled = Vec::new();
    for file in corpus {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        if header.is_empty() {
            header = bytes.get(..HEADER).context("an EVTX file shorter than its header")?.to_vec();
        }
        for (index, chunk) in
            bytes.get(HEADER..).unwrap_or_default().chunks_exact(CHUNK).enumerate()
        {
            if !chunk.starts_with(b"ElfChnk\0") {
                continue;
            }
            let full =
                Filled::new(chunk).with_context(|| format!("{}: chunk {index}", file.display()))?;
            filled.push(full);
        }
    }
    ensure!(!filled.is_empty(), "no chunk in the EVTX corpus");
    let count = usize::try_from(size)? / CHUNK;
    let count_u16 = u16::try_from(count).context("too many chunks for one EVTX file")?;
    let records: usize = filled.iter().cycle().take(count).map(|full| full.records.len()).sum();
    header.splice(16..24, u64::from(count_u16 - 1).to_le_bytes());
    header.splice(24..32, (records as u64 + 1).to_le_bytes());
    header.splice(42..44, count_u16.to_le_bytes());
    let crc = crc32(&[header.get(..120).unwrap_or_default()]);
    header.splice(124..128, crc.to_le_bytes());
    let temp = tempfile::NamedTempFile::new_in(path.parent().context("a folder")?)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, temp.reopen()?);
    out.write_all(&header)?;
    let mut next_id = 1;
    for full in filled.iter().cycle().take(count) {
        out.write_all(&full.numbered(next_id))?;
        next_id += full.records.len() as u64;
    }
    out.flush()?;
    drop(out);
    temp.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// A corpus chunk filled with copies of its records.
struct Filled {
    data: Vec<u8>,
    /// Where each record starts.
    records: Vec<usize>,
}

impl Filled {
    fn new(chunk: &[u8]) -> anyhow::Result<Filled> {
        let originals = records(chunk)?;
        let rendered = render(chunk.to_vec())?
            .into_iter()
            .enumerate()
            .map(|(index, xml)| {
                xml.with_context(|| format!("record {} does not render", index + 1))
            })
            .collect::<anyhow::Result<Vec<String>>>()?;
        ensure!(
            rendered.len() == originals.len(),
            "the crate reads {} records where the chunk's walk finds {}",
            rendered.len(),
            originals.len()
        );
        let mut copied: Vec<usize> = (0..originals.len()).collect();
        loop {
            let (filled, sources) = build(chunk, &originals, &copied)?;
            // Numbered as in the file: the crate's walk ends at the record whose number the
            // header gives as the last.
            let seen = render(filled.numbered(1))?;
            ensure!(seen.len() == filled.records.len(), "a filled chunk reads short");
            let differs = |(xml, source): &(&Option<String>, &usize)| {
                xml.as_ref() != Some(&rendered[**source])
            };
            let mut pairs = seen.iter().zip(&sources);
            // An original that renders otherwise here is a bug; a copy, a record that cannot
            // be copied this way (a template defined inside a value, say).
            ensure!(
                !pairs.by_ref().take(originals.len()).any(|pair| differs(&pair)),
                "the records of a filled chunk render otherwise than in their own"
            );
            let wrong: Vec<usize> = pairs.filter(differs).map(|(_, source)| *source).collect();
            if wrong.is_empty() {
                return Ok(filled);
            }
            copied.retain(|source| !wrong.contains(source));
        }
    }

    /// The chunk with its records numbered from `first` on, and its checksums set.
    fn numbered(&self, first: u64) -> Vec<u8> {
        let mut data = self.data.clone();
        for (number, start) in (first..).zip(&self.records) {
            data[start + 8..start + 16].copy_from_slice(&number.to_le_bytes());
        }
        let last = first + self.records.len() as u64 - 1;
        for (at, value) in [(8, first), (16, last), (24, first), (32, last)] {
            data[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }
        seal(&mut data);
        data
    }
}

/// Where each record of `chunk` starts, up to its free space.
fn records(chunk: &[u8]) -> anyhow::Result<Vec<usize>> {
    let free = usize::try_from(u32_at(chunk, 48)?)?;
    ensure!((CHUNK_HEADER..=CHUNK).contains(&free), "free space starts at {free}");
    let mut starts = Vec::new();
    let mut at = CHUNK_HEADER;
    while at < free {
        ensure!(chunk.get(at..at + 4) == Some(&RECORD_MAGIC[..]), "no record at {at}");
        let size = usize::try_from(u32_at(chunk, at + 4)?)?;
        ensure!(size >= RECORD_FRAME && at + size <= free, "a record of {size} bytes at {at}");
        starts.push(at);
        at += size;
    }
    Ok(starts)
}

/// `chunk`'s records followed by copies of those `copied` names, in turn, as many as fit;
/// and which original each record is.
fn build(
    chunk: &[u8],
    originals: &[usize],
    copied: &[usize],
) -> anyhow::Result<(Filled, Vec<usize>)> {
    let free = usize::try_from(u32_at(chunk, 48)?)?;
    let mut data = chunk.get(..free).context("a chunk shorter than its records")?.to_vec();
    let mut records = originals.to_vec();
    let mut sources: Vec<usize> = (0..originals.len()).collect();
    let forms: Vec<Vec<u8>> = copied
        .iter()
        .map(|&index| reference(chunk, originals[index]))
        .collect::<anyhow::Result<_>>()?;
    'fill: loop {
        for (copy, &source) in forms.iter().zip(copied) {
            if data.len() + copy.len() > CHUNK {
                break 'fill;
            }
            records.push(data.len());
            sources.push(source);
            data.extend_from_slice(copy);
        }
        if forms.is_empty() {
            break;
        }
    }
    let (last, free) = (records.last().copied().unwrap_or(CHUNK_HEADER), data.len());
    data.resize(CHUNK, 0);
    data[44..48].copy_from_slice(&u32::try_from(last)?.to_le_bytes());
    data[48..52].copy_from_slice(&u32::try_from(free)?.to_le_bytes());
    Ok((Filled { data, records }, sources))
}

/// The record at `start` as a copy elsewhere in its chunk has it: a template its event
/// defines in place is referred to instead.
fn reference(chunk: &[u8], start: usize) -> anyhow::Result<Vec<u8>> {
    let size = usize::try_from(u32_at(chunk, start + 4)?)?;
    let mut record = chunk[start..start + size].to_vec();
    let defines_here = record.get(24) == Some(&0x0f)
        && record.get(28) == Some(&0x0c)
        && usize::try_from(u32_at(&record, DEFINITION_OFFSET_AT)?)?
            == start + DEFINITION_OFFSET_AT + 4;
    if !defines_here {
        return Ok(record);
    }
    let body = usize::try_from(u32_at(&record, DEFINITION_OFFSET_AT + 4 + 20)?)?;
    let from = DEFINITION_OFFSET_AT + 4;
    let to = from + DEFINITION_HEADER + body;
    if to + 4 > record.len() {
        bail!("record at {start}: its template's definition runs past it");
    }
    record.drain(from..to);
    let size = u32::try_from(record.len())?.to_le_bytes();
    record[4..8].copy_from_slice(&size);
    let end = record.len();
    record[end - 4..].copy_from_slice(&size);
    Ok(record)
}

/// Sets a chunk's two checksums: of its records, and of its header.
fn seal(data: &mut [u8]) {
    let free = u32_at(data, 48).map_or(CHUNK_HEADER, |free| free as usize);
    let records = crc32(&[data.get(CHUNK_HEADER..free).unwrap_or_default()]);
    data[52..56].copy_from_slice(&records.to_le_bytes());
    let header = crc32(&[&data[..120], &data[128..CHUNK_HEADER]]);
    data[124..128].copy_from_slice(&header.to_le_bytes());
}

/// Each record's XML as the `evtx` crate renders it, less its record number, or `None` when
/// it does not render; an error when the chunk's checksums fail.
fn render(data: Vec<u8>) -> anyhow::Result<Vec<Option<String>>> {
    let mut chunk = evtx::EvtxChunkData::new(data, true)?;
    let settings = Arc::new(evtx::ParserSettings::new());
    let mut parsed = chunk.parse(settings)?;
    let mut rendered = Vec::new();
    for record in parsed.iter() {
        let Ok(record) = record.and_then(evtx::EvtxRecord::into_xml) else {
            rendered.push(None);
            continue;
        };
        let number = format!("<EventRecordID>{}</EventRecordID>", record.event_record_id);
        rendered.push(Some(record.data.replacen(&number, "", 1)));
    }
    Ok(rendered)
}

fn u32_at(bytes: &[u8], at: usize) -> anyhow::Result<u32> {
    let field = bytes.get(at..at + 4).with_context(|| format!("no 4 bytes at {at}"))?;
    Ok(u32::from_le_bytes(field.try_into()?))
}

fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = flate2::Crc::new();
    for part in parts {
        crc.update(part);
    }
    crc.sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The corpus's files when `../shared` is here; the bench reads the same.
    fn corpus() -> Option<Vec<PathBuf>> {
        let dir = crate::project_root().join("../shared/datasets");
        let mut found = Vec::new();
        if dir.is_dir() {
            super::super::evtx_files(&dir, &mut found).ok()?;
        }
        if found.is_empty() {
            eprintln!(
                "SKIPPED the_large_file_reads_as_its_chunks_full_of_the_corpus_records: no EVTX \
                 file under {}",
                dir.display()
            );
            return None;
        }
        Some(found)
    }

    #[test]
    fn the_large_file_reads_as_its_chunks_full_of_the_corpus_records() {
        let Some(corpus) = corpus() else { return };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("large.evtx");
        let chunks = 2 * corpus.len();
        write(&corpus, (chunks * CHUNK) as u64, &path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), (HEADER + chunks * CHUNK) as u64);

        let mut parser = evtx::EvtxParser::from_path(&path).unwrap();
        assert!(parser.header().validate_checksum());
        let numbers: Vec<u64> =
            parser.records().map(|record| record.unwrap().event_record_id).collect();
        // Every record, numbered one after another from the first chunk to the last.
        assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>());
        // The corpus's chunks hold three records on average; filled, each holds many more.
        assert!(numbers.len() > 10 * chunks, "{} records in {chunks} chunks", numbers.len());
        // Each corpus chunk's records render in the large file as in their own.
        let mut originals = std::collections::BTreeSet::new();
        for file in &corpus {
            for record in evtx::EvtxParser::from_path(file).unwrap().records() {
                let record = record.unwrap();
                let number = format!("<EventRecordID>{}</EventRecordID>", record.event_record_id);
                originals.insert(record.data.replacen(&number, "", 1));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for record in evtx::EvtxParser::from_path(&path).unwrap().records() {
            let record = record.unwrap();
            let number = format!("<EventRecordID>{}</EventRecordID>", record.event_record_id);
            seen.insert(record.data.replacen(&number, "", 1));
        }
        assert_eq!(seen, originals);
    }
}
