//! A part of a file read at its offsets, whatever the file's cursor says: several readers, on
//! one thread or several, share one open file that way (the runs of spilled groups, the
//! chunks of an EVTX file). On Unix the cursor stays where it is; on Windows a read moves it,
//! so nothing that shares the file may count on where it stands.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

/// The bytes of `file` from `at` up to `end`.
pub(crate) struct Segment {
    pub(crate) file: Arc<File>,
    pub(crate) at: u64,
    pub(crate) end: u64,
}

impl Read for Segment {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end.saturating_sub(self.at)).unwrap_or(usize::MAX);
        let Some(buffer) = buffer.get_mut(..left.min(buffer.len())) else { return Ok(0) };
        if buffer.is_empty() {
            return Ok(0);
        }
        let read = read_at(&self.file, buffer, self.at)?;
        self.at += read as u64;
        Ok(read)
    }
}

/// Fills `buffer` with the bytes of `file` from `offset` on, or as many as it holds, and
/// says how many that is, in one read where the system gives them: reading through
/// [`Read::read_to_end`] would take them 8 KiB, 16 KiB, 32 KiB at a time, four reads for a
/// 64 KiB EVTX chunk. On an error, what was read before it is lost with it.
pub(crate) fn fill_at(file: &File, offset: u64, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buffer.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match read_at(file, rest, offset.saturating_add(filled as u64)) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

#[cfg(unix)]
fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buffer, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buffer, offset)
}
