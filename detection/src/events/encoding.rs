//! Text encodings and file kinds told from an input's first bytes: UTF-16 (Windows
//! PowerShell 5.1 writes it by default) is decoded to UTF-8 for the text readers, and a file
//! that is plainly something else (an archive, a PDF, a legacy `.evt` log) is named rather
//! than read as an export that holds no events.

use std::cell::Cell;
use std::fmt;
use std::io::{self, Read};
use std::rc::Rc;

/// The encoding an input's text was decoded from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub enum TextEncoding {
    /// UTF-8 (or ASCII), with or without a byte order mark; also binary EVTX, read as it is.
    #[default]
    Utf8,
    /// UTF-16, little-endian.
    Utf16Le,
    /// UTF-16, big-endian.
    Utf16Be,
}

impl fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Utf16Le => "UTF-16 LE",
            TextEncoding::Utf16Be => "UTF-16 BE",
        })
    }
}

/// UTF-16 text, by its byte order mark or, without one, by ASCII characters every other
/// byte with zero bytes between them: the encoding and the length of the mark.
pub(crate) fn utf16(head: &[u8]) -> Option<(TextEncoding, usize)> {
    if head.starts_with(&[0xff, 0xfe]) {
        return Some((TextEncoding::Utf16Le, 2));
    }
    if head.starts_with(&[0xfe, 0xff]) {
        return Some((TextEncoding::Utf16Be, 2));
    }
    let units: Vec<[u8; 2]> =
        head.chunks_exact(2).take(16).map(|pair| [pair[0], pair[1]]).collect();
    let ascii = |byte: u8| byte != 0 && byte.is_ascii();
    if units.len() < 4 {
        None
    } else if units.iter().all(|[low, high]| ascii(*low) && *high == 0) {
        Some((TextEncoding::Utf16Le, 0))
    } else if units.iter().all(|[high, low]| *high == 0 && ascii(*low)) {
        Some((TextEncoding::Utf16Be, 0))
    } else {
        None
    }
}

/// What a file is, when its first bytes say plainly that it holds no event text: the reader
/// refuses it by name instead of reporting an export with no events.
pub(crate) fn not_events(head: &[u8]) -> Option<&'static str> {
    const KINDS: &[(&[u8], &str)] = &[
        (&[0xff, 0xfe, 0, 0], "UTF-32 text, which is not read: convert it to UTF-8"),
        (&[0, 0, 0xfe, 0xff], "UTF-32 text, which is not read: convert it to UTF-8"),
        (b"PK\x03\x04", "a zip archive: unpack it first"),
        (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive: unpack it first"),
        (b"Rar!\x1a\x07", "a RAR archive: unpack it first"),
        (b"BZh", "bzip2-compressed data: decompress it first (gzip is read as it is)"),
        (b"\xfd7zXZ\0", "xz-compressed data: decompress it first (gzip is read as it is)"),
        (b"\x28\xb5\x2f\xfd", "zstd-compressed data: decompress it first (gzip is read as it is)"),
        (b"%PDF-", "a PDF document"),
        (b"\x7fELF", "an ELF executable"),
        (b"\x89PNG\r\n\x1a\n", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE2 compound file (an old Office document)"),
        (b"SQLite format 3\0", "an SQLite database"),
        (
            b"ElfChnk\0",
            "an EVTX chunk without the file header that must come before it: not an EVTX file",
        ),
    ];
    if let Some((_, what)) = KINDS.iter().find(|(magic, _)| head.starts_with(magic)) {
        return Some(what);
    }
    // A legacy Windows XP/2003 `.evt` log: its header's size, then `LfLe`.
    if head.get(4..8) == Some(b"LfLe") {
        return Some("a legacy Windows .evt event log: save it as EVTX or export it as XML first");
    }
    None
}

/// UTF-16 text handed out as UTF-8. An unpaired surrogate or a last odd byte becomes U+FFFD
/// and is counted, so that the report can say how many.
pub(crate) struct Utf16Reader<R> {
    inner: R,
    big_endian: bool,
    raw: Vec<u8>,
    utf8: Vec<u8>,
    at: usize,
    /// An odd byte left from the last read.
    carry: Option<u8>,
    /// A high surrogate waiting for its low half.
    high: Option<u16>,
    eof: bool,
    replaced: Rc<Cell<u64>>,
}

impl<R: Read> Utf16Reader<R> {
    pub(crate) fn new(inner: R, encoding: TextEncoding) -> Self {
        Utf16Reader {
            inner,
            big_endian: encoding == TextEncoding::Utf16Be,
            raw: vec![0; 64 * 1024],
            utf8: Vec::new(),
            at: 0,
            carry: None,
            high: None,
            eof: false,
            replaced: Rc::default(),
        }
    }

    /// How many code units were replaced by U+FFFD so far.
    pub(crate) fn replaced(&self) -> Rc<Cell<u64>> {
        Rc::clone(&self.replaced)
    }

    fn decode_more(&mut self) -> io::Result<()> {
        self.utf8.clear();
        self.at = 0;
        let read = loop {
            match self.inner.read(&mut self.raw) {
                Ok(read) => break read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        };
        if read == 0 {
            self.eof = true;
            if self.carry.take().is_some() || self.high.take().is_some() {
                self.push(char::REPLACEMENT_CHARACTER, true);
            }
            return Ok(());
        }
        let raw = std::mem::take(&mut self.raw);
        let mut bytes = raw.get(..read).unwrap_or_default().iter().copied();
        loop {
            let first = match self.carry.take() {
                Some(byte) => byte,
                None => match bytes.next() {
                    Some(byte) => byte,
                    None => break,
                },
            };
            let Some(second) = bytes.next() else {
                self.carry = Some(first);
                break;
            };
            let pair = [first, second];
            let unit =
                if self.big_endian { u16::from_be_bytes(pair) } else { u16::from_le_bytes(pair) };
            self.unit(unit);
        }
        self.raw = raw;
        Ok(())
    }

    fn unit(&mut self, unit: u16) {
        if let Some(high) = self.high.take() {
            if (0xdc00..=0xdfff).contains(&unit) {
                let code =
                    0x10000 + ((u32::from(high) - 0xd800) << 10) + (u32::from(unit) - 0xdc00);
                let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                self.push(c, false);
                return;
            }
            self.push(char::REPLACEMENT_CHARACTER, true);
        }
        match unit {
            0xd800..=0xdbff => self.high = Some(unit),
            0xdc00..=0xdfff => self.push(char::REPLACEMENT_CHARACTER, true),
            _ => {
                let c = char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER);
                self.push(c, false);
            }
        }
    }

    fn push(&mut self, c: char, replaced: bool) {
        if replaced {
            self.replaced.set(self.replaced.get() + 1);
        }
        let mut encoded = [0; 4];
        self.utf8.extend_from_slice(c.encode_utf8(&mut encoded).as_bytes());
    }
}

impl<R: Read> Read for Utf16Reader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.utf8.len() {
            if self.eof {
                return Ok(0);
            }
            self.decode_more()?;
        }
        let ready = self.utf8.get(self.at..).unwrap_or_default();
        let len = ready.len().min(out.len());
        out.get_mut(..len)
            .unwrap_or_default()
            .copy_from_slice(ready.get(..len).unwrap_or_default());
        self.at += len;
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8], encoding: TextEncoding, step: usize) -> (String, u64) {
        struct Pieces<'a>(&'a [u8], usize);
        impl Read for Pieces<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let len = self.0.len().min(out.len()).min(self.1);
                out[..len].copy_from_slice(&self.0[..len]);
                self.0 = &self.0[len..];
                Ok(len)
            }
        }
        let mut reader = Utf16Reader::new(Pieces(bytes, step), encoding);
        let replaced = reader.replaced();
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        (text, replaced.get())
    }

    #[test]
    fn decodes_both_byte_orders_across_any_read_size() {
        let text = "<Event>rundll32 \u{1f600} comsvcs.dll – ü</Event>\r\n";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        for step in [1, 2, 3, 7, 4096] {
            assert_eq!(decode(&le, TextEncoding::Utf16Le, step), (text.to_owned(), 0));
            assert_eq!(decode(&be, TextEncoding::Utf16Be, step), (text.to_owned(), 0));
        }
    }

    #[test]
    fn unpaired_surrogates_and_an_odd_byte_are_replaced_and_counted() {
        // A lone high surrogate, a lone low one, then `a` and half a unit.
        let bytes = [0x3d, 0xd8, 0x41, 0x00, 0x00, 0xdc, 0x61, 0x00, 0x62];
        let (text, replaced) = decode(&bytes, TextEncoding::Utf16Le, 1);
        assert_eq!(text, "\u{fffd}A\u{fffd}a\u{fffd}");
        assert_eq!(replaced, 3);
    }

    #[test]
    fn utf16_is_told_by_its_mark_or_its_zero_bytes() {
        assert_eq!(utf16(b"\xff\xfe<\0"), Some((TextEncoding::Utf16Le, 2)));
        assert_eq!(utf16(b"\xfe\xff\0<"), Some((TextEncoding::Utf16Be, 2)));
        assert_eq!(utf16(b"<\0E\0v\0e\0n\0t\0"), Some((TextEncoding::Utf16Le, 0)));
        assert_eq!(utf16(b"\0<\0E\0v\0e\0n\0t"), Some((TextEncoding::Utf16Be, 0)));
        assert_eq!(utf16(b"<Event xmlns='x'>"), None);
        assert_eq!(utf16(b"\0\0\0\0\0\0\0\0"), None);
    }
}
