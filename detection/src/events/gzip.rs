//! A cap on what one gzip input may decompress to. Readers stream, so a decompression bomb
//! cannot exhaust memory, but at deflate's ratio of up to about 1000:1 a few megabytes could
//! keep the gate busy for hours; past the cap reading fails with an error naming the file.

use std::io::{self, Read};

/// The most bytes one gzip-compressed input may decompress to: 4 GiB, well above the
/// largest `attack_data` dataset (a few hundred megabytes unpacked), and read in about a
/// minute. Larger output is taken for a decompression bomb.
pub const MAX_DECOMPRESSED_BYTES: u64 = 4 << 30;

/// `inner`, failing with [`io::ErrorKind::InvalidData`] once it has yielded more than `limit`
/// bytes.
pub(crate) struct Limited<R> {
    inner: R,
    limit: u64,
    read: u64,
}

impl<R: Read> Limited<R> {
    pub(crate) fn new(inner: R, limit: u64) -> Self {
        Self { inner, limit, read: 0 }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte past the limit is enough to tell the output is too large.
        let room = self.limit.saturating_sub(self.read).saturating_add(1);
        let len = usize::try_from(room).map_or(buf.len(), |room| room.min(buf.len()));
        let Some(buf) = buf.get_mut(..len) else {
            return Ok(0);
        };
        let n = self.inner.read(buf)?;
        self.read = self.read.saturating_add(n as u64);
        if self.read > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("gzip output exceeds {} bytes: a decompression bomb?", self.limit),
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};
    use std::sync::Arc;

    use super::*;
    use crate::events::{EventError, EventReader};

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn output_up_to_the_limit_reads_whole() {
        let mut out = Vec::new();
        Limited::new(Cursor::new(vec![7; 100]), 100).read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 100);
    }

    #[test]
    fn output_past_the_limit_is_an_error() {
        let mut out = Vec::new();
        let error = Limited::new(Cursor::new(vec![7; 101]), 100).read_to_end(&mut out).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(out.len() <= 101);
    }

    #[test]
    fn bomb_stops_the_reader_with_an_error_naming_the_file() {
        // 1 MiB of spaces is about 1 KiB compressed; with a 64 KiB cap it is a bomb.
        let bomb = gzip(&vec![b' '; 1 << 20]);
        assert!(bomb.len() < 4096);
        let name: Arc<str> = Arc::from("bomb.log.gz");
        let decoder = Limited::new(flate2::read::MultiGzDecoder::new(Cursor::new(bomb)), 64 << 10);
        let (head, decoder) = crate::events::peek(decoder, &name).unwrap();
        let reader = EventReader::sniffed(&name, &head, decoder).unwrap();
        let errors: Vec<String> = reader
            .filter_map(Result::err)
            .map(|error| match &error {
                EventError::Read { source, .. } => format!("{error}: {source}"),
                other => other.to_string(),
            })
            .collect();
        assert_eq!(
            errors,
            [
                "bomb.log.gz:1 (byte 0): cannot read further: gzip output exceeds 65536 bytes: a decompression bomb?"
            ]
        );
    }
}
