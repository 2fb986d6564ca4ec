//! Unwraps an export saved as one JSON string literal (`"<Event …>\n<Event …>…"`) while
//! streaming: a [`Read`] that yields the unescaped text, so the XML reader never needs the
//! whole file in memory.

use std::io::{self, BufRead, Read};

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening quote.
    Before,
    Inside,
    /// After the closing quote: only whitespace may follow.
    After,
}

/// Yields the unescaped content of the single JSON string `inner` holds.
pub(crate) struct JsonStringReader<R> {
    inner: R,
    state: State,
    /// Input bytes consumed, for error messages.
    offset: u64,
    /// Decoded bytes not yet handed out (a multi-byte `\u` escape, a split escape).
    pending: Vec<u8>,
    /// A high surrogate waiting for its low half.
    high_surrogate: Option<u16>,
}

impl<R: BufRead> JsonStringReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        JsonStringReader {
            inner,
            state: State::Before,
            offset: 0,
            pending: Vec::new(),
            high_surrogate: None,
        }
    }

    fn invalid(&self, what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("JSON string: {what} at byte {} of the file", self.offset),
        )
    }

    /// Decodes one escape starting at the backslash in `bytes`; returns the bytes it used, or
    /// `None` when the escape is cut off by the end of `bytes`.
    fn escape(&mut self, bytes: &[u8]) -> io::Result<Option<usize>> {
        let Some(&kind) = bytes.get(1) else { return Ok(None) };
        let simple = match kind {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            _ => return Err(self.invalid("unknown escape")),
        };
        if let Some(byte) = simple {
            if self.high_surrogate.take().is_some() {
                return Err(self.invalid("unpaired surrogate"));
            }
            self.pending.push(byte);
            return Ok(Some(2));
        }
        let Some(hex) = bytes.get(2..6) else { return Ok(None) };
        let unit = std::str::from_utf8(hex)
            .ok()
            .and_then(|hex| u16::from_str_radix(hex, 16).ok())
            .ok_or_else(|| self.invalid("bad \\u escape"))?;
        let code = match (self.high_surrogate.take(), unit) {
            (None, 0xd800..=0xdbff) => {
                self.high_surrogate = Some(unit);
                return Ok(Some(6));
            }
            (Some(high), 0xdc00..=0xdfff) => {
                0x10000 + ((u32::from(high) - 0xd800) << 10) + (u32::from(unit) - 0xdc00)
            }
            (Some(_), _) | (None, 0xdc00..=0xdfff) => {
                return Err(self.invalid("unpaired surrogate"));
            }
            (None, _) => u32::from(unit),
        };
        let character = char::from_u32(code).ok_or_else(|| self.invalid("bad \\u escape"))?;
        let mut utf8 = [0; 4];
        self.pending.extend_from_slice(character.encode_utf8(&mut utf8).as_bytes());
        Ok(Some(6))
    }
}

impl<R: BufRead> Read for JsonStringReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.pending.is_empty() {
                let len = self.pending.len().min(out.len());
                for (slot, byte) in out.iter_mut().zip(self.pending.drain(..len)) {
                    *slot = byte;
                }
                return Ok(len);
            }
            let input = self.inner.fill_buf()?;
            if input.is_empty() {
                return match self.state {
                    State::After => Ok(0),
                    State::Before => Err(self.invalid("expected a string")),
                    State::Inside => Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("JSON string: expected a closing quote at byte {}", self.offset),
                    )),
                };
            }
            let used = match self.state {
                State::Before | State::After => {
                    let blank = input.iter().take_while(|byte| byte.is_ascii_whitespace()).count();
                    match input.get(blank) {
                        Some(b'"') if self.state == State::Before => {
                            self.state = State::Inside;
                            blank + 1
                        }
                        Some(_) => {
                            let offset = self.offset + blank as u64;
                            self.offset = offset;
                            return Err(self.invalid("unexpected text outside the string"));
                        }
                        None => blank,
                    }
                }
                State::Inside => {
                    let plain = memchr::memchr2(b'\\', b'"', input).unwrap_or(input.len());
                    if plain > 0 {
                        if self.high_surrogate.is_some() {
                            return Err(self.invalid("unpaired surrogate"));
                        }
                        let len = plain.min(out.len());
                        let (copy, _) = out.split_at_mut(len);
                        copy.copy_from_slice(input.get(..len).unwrap_or_default());
                        self.inner.consume(len);
                        self.offset += len as u64;
                        return Ok(len);
                    }
                    // At most six bytes: copied so the escape decoder can borrow `self`.
                    let head: Vec<u8> = input.iter().take(6).copied().collect();
                    if head.first() == Some(&b'"') {
                        self.state = State::After;
                        1
                    } else if let Some(used) = self.escape(&head)? {
                        used
                    } else {
                        // An escape split across reads (`head` is all there was): gather it
                        // byte by byte.
                        let mut escape = head;
                        let len = escape.len();
                        self.inner.consume(len);
                        self.offset += len as u64;
                        loop {
                            let next = self.inner.fill_buf()?;
                            let Some(&byte) = next.first() else {
                                return Err(self.invalid("escape cut off by the end of input"));
                            };
                            self.inner.consume(1);
                            self.offset += 1;
                            escape.push(byte);
                            if self.escape(&escape)?.is_some() {
                                break;
                            }
                        }
                        continue;
                    }
                }
            };
            self.inner.consume(used);
            self.offset += used as u64;
        }
    }
}
