//! The byte layout of `tstats` groups written to a temporary file when the groups held in
//! memory outgrow their budget (see `tstats::Groups::spill`). The file is the engine's own,
//! written and read back by the same run; a read that finds something else (a file cut
//! short by a full disk) is an error, never a panic.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::sync::Arc;

use super::aggregate::Accumulator;
use crate::segment::Segment;
use crate::spl::AggregateFunction;

/// The temporary file a scan spills its groups to: one for all its `tstats`, however
/// often they spill, so that a long scan holds one file open, not one per spill. It has no
/// name (or loses it as soon as it is made, where the system cannot make it nameless) and
/// is removed when closed, at the latest when the process ends: nothing is left behind in
/// the temporary folder.
pub(crate) struct SpillFile {
    file: Arc<File>,
    len: u64,
}

impl SpillFile {
    /// A new file in the system's temporary folder (`TMPDIR`).
    pub(crate) fn new() -> io::Result<Self> {
        let file = tempfile::tempfile().map_err(|err| {
            let folder = std::env::temp_dir();
            io::Error::new(err.kind(), format!("in {}: {err}", folder.display()))
        })?;
        Ok(SpillFile { file: Arc::new(file), len: 0 })
    }
}

/// A table of groups a scan may write out when the groups held in memory outgrow their
/// budget: a `tstats`'s (`tstats::Groups`), or a `stats` fed the events of a raw search
/// (`stats::StatsRun`).
pub(crate) trait Spill {
    /// About how many bytes the groups held in memory take.
    fn memory(&self) -> usize;
    /// Whether [`Spill::spill`] can write them out: not when an aggregate sums
    /// floating-point numbers, whose last digits would depend on where the pieces split
    /// the input.
    fn spillable(&self) -> bool;
    /// Writes the groups held in memory to `to`, in the order of their rows, and frees
    /// them; finishing merges them back. Nothing happens when they cannot be spilled.
    fn spill(&mut self, to: &mut SpillFile) -> Result<(), super::EvalError>;
    /// The error for a spill file that could not be written or read.
    fn spill_error(&self, err: &io::Error) -> super::EvalError;
}

/// Groups written to a [`SpillFile`] in the order of their rows: each group's key, then
/// its aggregates' states, each written as [`put_bytes`] writes, so that a reader that
/// wants a group by its key alone passes over the states unread. A copy reads the same bytes.
#[derive(Clone)]
pub(super) struct Run {
    file: Arc<File>,
    start: u64,
    end: u64,
    groups: usize,
}

impl Run {
    /// Appends `groups`, each a key and its states, to `to`.
    pub(super) fn write<'a>(
        to: &mut SpillFile,
        groups: impl Iterator<Item = (&'a [u8], &'a [Accumulator])>,
    ) -> io::Result<Run> {
        // Only the scan writes, and only at the end of what it wrote before.
        let mut out = BufWriter::with_capacity(1 << 16, Counted { file: &to.file, written: 0 });
        let mut count = 0;
        let mut saved = Vec::new();
        for (key, states) in groups {
            put_bytes(&mut out, key)?;
            saved.clear();
            for state in states {
                state.save(&mut saved)?;
            }
            put_bytes(&mut out, &saved)?;
            count += 1;
        }
        let written = out.into_inner().map_err(io::IntoInnerError::into_error)?.written;
        let start = to.len;
        to.len += written;
        Ok(Run { file: Arc::clone(&to.file), start, end: to.len, groups: count })
    }

    /// How many groups the run holds.
    pub(super) fn len(&self) -> usize {
        self.groups
    }
}

/// A file written through, counting the bytes.
struct Counted<'f> {
    file: &'f File,
    written: u64,
}

impl Write for Counted<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.file.write(bytes)?;
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A run read back group by group.
pub(super) struct Cursor<'f> {
    input: BufReader<Segment>,
    left: usize,
    functions: &'f [AggregateFunction],
    /// The key being read, and its states' bytes.
    key: Vec<u8>,
    saved: Vec<u8>,
}

impl<'f> Cursor<'f> {
    /// Reads `run`, whose states are of `functions`, through a buffer of `buffer` bytes.
    pub(super) fn open(run: Run, functions: &'f [AggregateFunction], buffer: usize) -> Self {
        let segment = Segment { file: run.file, at: run.start, end: run.end };
        Cursor {
            input: BufReader::with_capacity(buffer, segment),
            left: run.groups,
            functions,
            key: Vec::new(),
            saved: Vec::new(),
        }
    }

    /// The next group whose key `admit` lets through: its key and states; `None` at the end
    /// of the run. The states of the groups passed over are skipped, not read.
    pub(super) fn next_admitted(
        &mut self,
        admit: &mut dyn FnMut(&[u8]) -> bool,
    ) -> io::Result<Option<(Vec<u8>, Vec<Accumulator>)>> {
        while self.left > 0 {
            self.left -= 1;
            get_bytes_into(&mut self.input, &mut self.key)?;
            if !admit(&self.key) {
                skip_bytes(&mut self.input)?;
                continue;
            }
            get_bytes_into(&mut self.input, &mut self.saved)?;
            let mut saved = self.saved.as_slice();
            let states = self
                .functions
                .iter()
                .map(|function| Accumulator::load(*function, &mut saved))
                .collect::<io::Result<_>>()?;
            if !saved.is_empty() {
                return Err(bad("states"));
            }
            return Ok(Some((self.key.clone(), states)));
        }
        Ok(None)
    }
}

/// Passes over bytes [`put_bytes`] wrote.
fn skip_bytes(input: &mut impl BufRead) -> io::Result<()> {
    let mut left = get_u64(input)?;
    if left > MAX_TEXT_BYTES {
        return Err(bad("a length"));
    }
    while left > 0 {
        let available = input.fill_buf()?;
        if available.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file ends inside a value",
            ));
        }
        let taken = available.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        input.consume(taken);
        left -= taken as u64;
    }
    Ok(())
}

/// Longest text read back: a value is at most an event's size (see
/// [`crate::events::MAX_EVENT_BYTES`]), far below this.
const MAX_TEXT_BYTES: u64 = 1 << 30;

pub(super) fn put_u64(out: &mut impl Write, value: u64) -> io::Result<()> {
    out.write_all(&value.to_le_bytes())
}

pub(super) fn put_f64(out: &mut impl Write, value: f64) -> io::Result<()> {
    put_u64(out, value.to_bits())
}

/// A length, then the bytes.
pub(super) fn put_bytes(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    put_u64(out, bytes.len() as u64)?;
    out.write_all(bytes)
}

pub(super) fn put_text(out: &mut impl Write, text: &str) -> io::Result<()> {
    put_bytes(out, text.as_bytes())
}

pub(super) fn get_u8(input: &mut impl Read) -> io::Result<u8> {
    let mut byte = [0];
    input.read_exact(&mut byte)?;
    Ok(byte[0])
}

pub(super) fn get_u64(input: &mut impl Read) -> io::Result<u64> {
    let mut bytes = [0; 8];
    input.read_exact(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

pub(super) fn get_usize(input: &mut impl Read) -> io::Result<usize> {
    usize::try_from(get_u64(input)?).map_err(|_| bad("a count"))
}

pub(super) fn get_f64(input: &mut impl Read) -> io::Result<f64> {
    get_u64(input).map(f64::from_bits)
}

/// Bytes [`put_bytes`] wrote, into `into` (cleared first).
pub(super) fn get_bytes_into(input: &mut impl Read, into: &mut Vec<u8>) -> io::Result<()> {
    let len = get_u64(input)?;
    if len > MAX_TEXT_BYTES {
        return Err(bad("a length"));
    }
    into.clear();
    let read = input.take(len).read_to_end(into)?;
    if read as u64 != len {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file ends inside a value"));
    }
    Ok(())
}

pub(super) fn get_text(input: &mut impl Read) -> io::Result<String> {
    let mut bytes = Vec::new();
    get_bytes_into(input, &mut bytes)?;
    String::from_utf8(bytes).map_err(|_| bad("text"))
}

/// The error for bytes that are not what was written.
pub(super) fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("unreadable {what} in a spilled group"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_and_a_cut_file_is_an_error() {
        let mut bytes = Vec::new();
        put_u64(&mut bytes, 7).unwrap();
        put_f64(&mut bytes, -0.5).unwrap();
        put_text(&mut bytes, "C:\\Windows\\é").unwrap();
        let mut input = bytes.as_slice();
        assert_eq!(get_u64(&mut input).unwrap(), 7);
        assert_eq!(get_f64(&mut input).unwrap().to_bits(), (-0.5f64).to_bits());
        assert_eq!(get_text(&mut input).unwrap(), "C:\\Windows\\é");
        assert!(input.is_empty());
        for cut in 0..bytes.len() {
            let mut input = bytes.get(..cut).unwrap();
            let read = get_u64(&mut input)
                .and_then(|_| get_f64(&mut input))
                .and_then(|_| get_text(&mut input));
            assert!(read.is_err(), "cut at {cut}");
        }
        let mut huge = Vec::new();
        put_u64(&mut huge, u64::MAX).unwrap();
        assert_eq!(get_text(&mut huge.as_slice()).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    /// A cursor hands out the groups it is asked for, with their states, and passes over
    /// the others unread; either way it reads every group in turn.
    #[test]
    fn a_cursor_passes_over_the_groups_it_is_not_asked_for() {
        let functions = [AggregateFunction::Count, AggregateFunction::Values];
        let groups: Vec<(Vec<u8>, Vec<Accumulator>)> = (0..50u32)
            .map(|n| {
                let mut count = Accumulator::new(AggregateFunction::Count);
                let mut values = Accumulator::new(AggregateFunction::Values);
                for value in 0..=n % 7 {
                    count.add_row();
                    values.add(&format!("v{value}"), None, false);
                }
                (format!("key{n:02}").into_bytes(), vec![count, values])
            })
            .collect();
        let mut file = SpillFile::new().unwrap();
        let run = Run::write(
            &mut file,
            groups.iter().map(|(key, states)| (key.as_slice(), states.as_slice())),
        )
        .unwrap();
        for buffer in [1, 7, 4096] {
            let mut cursor = Cursor::open(run.clone(), &functions, buffer);
            let mut admit = |key: &[u8]| key.ends_with(b"3") || key.ends_with(b"8");
            let mut read = Vec::new();
            while let Some((key, states)) = cursor.next_admitted(&mut admit).unwrap() {
                let finished: Vec<_> = states.iter().map(Accumulator::finish).collect();
                read.push((key, finished));
            }
            let wanted: Vec<_> = groups
                .iter()
                .filter(|(key, _)| admit(key))
                .map(|(key, states)| {
                    (key.clone(), states.iter().map(Accumulator::finish).collect())
                })
                .collect();
            assert_eq!(read.len(), 10);
            assert_eq!(read, wanted, "buffer {buffer}");
        }
    }
}
