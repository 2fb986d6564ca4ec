//! Candidate events of an XML export found from the prefilter's literals rather than by
//! splitting every event: search case-folded windows for an anchor literal, and only around
//! a hit find the event's boundaries (the last `</Event>` before it, the `<Event` after that,
//! the next `</Event>`) exactly as the streaming reader splits the input. Events without a
//! hit are never split, parsed or counted; text between events is not classified.

use std::io::{self, Read};
use std::sync::Arc;

use memchr::memmem::{Finder, FinderRev};

use crate::events::{Location, MAX_EVENT_BYTES, Skip, SkipReason, find_event_start};
use crate::prefilter::{Prefilter, fold};

const START_LEN: usize = b"<Event".len();
const END_TAG: &[u8] = b"</Event>";
const END_LEN: usize = END_TAG.len();
/// How much is case-folded and searched at once: small enough to stay in cache.
const WINDOW_BYTES: usize = 64 * 1024;
/// Bytes of the input's start that choose the anchors (see [`Prefilter::anchors`]).
const SAMPLE_BYTES: usize = 1024 * 1024;
/// Bytes kept after a hit before its event is looked at, so that a start tag near the hit is
/// seen whole.
const LOOKAHEAD: usize = 64;

/// What the search found, in input order.
pub(crate) enum Found<'b> {
    /// An event holding every piece of some search: its bytes and absolute byte offset.
    Event(&'b [u8], u64),
    /// A damaged event next to a hit, as the streaming reader would skip it.
    Skip(Skip),
}

/// The candidate search over one input (or one range of a file, which must start at the
/// input's start or right after a `</Event>`).
pub(crate) struct CandidateScanner<'p, R> {
    reader: R,
    prefilter: &'p Prefilter,
    source: Arc<str>,
    /// Read block size.
    block: usize,
    buf: Vec<u8>,
    /// Absolute offset of `buf[0]`.
    base: u64,
    /// Everything before `pos` is decided.
    pos: usize,
    eof: bool,
    folded: Vec<u8>,
    event_folded: Vec<u8>,
    end: Finder<'static>,
    end_rev: FinderRev<'static>,
}

impl<'p, R: Read> CandidateScanner<'p, R> {
    pub(crate) fn new(
        reader: R,
        prefilter: &'p Prefilter,
        source: Arc<str>,
        base: u64,
        block: usize,
    ) -> Self {
        CandidateScanner {
            reader,
            prefilter,
            source,
            block: block.max(1),
            buf: Vec::new(),
            base,
            pos: 0,
            eof: false,
            folded: Vec::with_capacity(WINDOW_BYTES),
            event_folded: Vec::new(),
            end: Finder::new(END_TAG).into_owned(),
            end_rev: FinderRev::new(END_TAG).into_owned(),
        }
    }

    /// Runs to the end of the input, handing each candidate and skip to `found`, or until
    /// `found` returns `false`.
    pub(crate) fn run(&mut self, found: &mut dyn FnMut(Found<'_>) -> bool) -> io::Result<()> {
        while self.buf.len() < SAMPLE_BYTES && !self.eof {
            self.read_more()?;
        }
        let sample = self.buf.get(..SAMPLE_BYTES.min(self.buf.len())).unwrap_or_default();
        fold(sample, &mut self.folded);
        let anchors = self.prefilter.anchors(&self.folded);
        if anchors.longest() == 0 {
            // No search can select anything: there is nothing to look for.
            return Ok(());
        }
        let overlap = anchors.longest().saturating_sub(1);
        loop {
            if self.buf.len() - self.pos < WINDOW_BYTES && !self.eof {
                self.fill()?;
                continue;
            }
            let window_end = self.buf.len().min(self.pos + WINDOW_BYTES);
            if window_end - self.pos <= overlap {
                // Too little left for any anchor, and the input has ended.
                return Ok(());
            }
            let window = self.buf.get(self.pos..window_end).unwrap_or_default();
            fold(window, &mut self.folded);
            match anchors.find(&self.folded) {
                None => {
                    if window_end == self.buf.len() && self.eof {
                        return Ok(());
                    }
                    self.pos = window_end - overlap;
                }
                Some(at) => {
                    if !self.hit(self.pos + at, found)? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Reads one more block, first dropping what no later event can start in.
    fn fill(&mut self) -> io::Result<()> {
        self.compact();
        self.read_more()
    }

    /// Drops the bytes before the last `</Event>` that ends at or before `pos`: an event
    /// holding a later hit starts after it. With no such end within [`MAX_EVENT_BYTES`],
    /// an event starting earlier would be too large to read anyway.
    fn compact(&mut self) {
        // Only once enough is behind `pos`, so that tiny reads do not search the same bytes
        // again and again.
        if self.pos < WINDOW_BYTES.max(self.block) {
            return;
        }
        let head = self.buf.get(..self.pos).unwrap_or_default();
        let floor = self.pos.saturating_sub(MAX_EVENT_BYTES + END_LEN);
        let keep_from = match self.end_rev.rfind(head.get(floor..).unwrap_or_default()) {
            Some(at) => floor + at + END_LEN,
            None => floor,
        };
        if keep_from == 0 {
            return;
        }
        self.buf.drain(..keep_from);
        self.base += keep_from as u64;
        self.pos -= keep_from;
    }

    /// Reads until `buf` holds `len` bytes or the input ends.
    fn fill_to(&mut self, len: usize) -> io::Result<()> {
        while self.buf.len() < len && !self.eof {
            self.fill()?;
        }
        Ok(())
    }

    fn location(&self, at: usize) -> Location {
        Location {
            source: Arc::clone(&self.source),
            line: None,
            byte_offset: Some(self.base + at as u64),
            record: None,
        }
    }

    /// Decides the event around a hit at `hit`, then moves `pos` past it; `Ok(false)` when
    /// `found` asked to stop.
    fn hit(&mut self, hit: usize, found: &mut dyn FnMut(Found<'_>) -> bool) -> io::Result<bool> {
        // Reading more may drop bytes before `pos`: keep the hit relative to it.
        let from_pos = hit - self.pos;
        self.fill_to(self.pos + from_pos + LOOKAHEAD)?;
        let hit = self.pos + from_pos;
        let head = self.buf.get(..hit).unwrap_or_default();
        let after_end = self.end_rev.rfind(head).map_or(0, |at| at + END_LEN);
        let start = match self.buf.get(after_end..).map(find_event_start) {
            Some(Ok(at)) if after_end + at <= hit => after_end + at,
            _ => {
                // The hit is in text between events.
                self.pos = hit + 1;
                return Ok(true);
            }
        };
        // The first `</Event>` after the start tag, reading on (never dropping) as the
        // streaming reader does until the event outgrows MAX_EVENT_BYTES.
        let mut searched = start + START_LEN;
        let end = loop {
            let rest = self.buf.get(searched..).unwrap_or_default();
            if let Some(at) = self.end.find(rest) {
                break searched + at;
            }
            // Oversized before truncated, in the streaming reader's order.
            if self.buf.len() - start > MAX_EVENT_BYTES {
                let go_on = found(Found::Skip(Skip {
                    location: self.location(start),
                    reason: SkipReason::OversizedEvent,
                }));
                self.discard_to_end(searched)?;
                return Ok(go_on);
            }
            if self.eof {
                return Ok(self.unterminated(start, found));
            }
            searched = self.buf.len().saturating_sub(END_LEN - 1).max(start + START_LEN);
            self.read_more()?;
        };
        // Starts before the end cut the earlier ones short, as the reader sees it.
        let mut last = start;
        let mut go_on = true;
        while let Some(Ok(at)) = self.buf.get(last + START_LEN..end).map(find_event_start) {
            go_on &= found(Found::Skip(Skip {
                location: self.location(last),
                reason: SkipReason::TruncatedEvent,
            }));
            last += START_LEN + at;
        }
        let event = self.buf.get(last..end + END_LEN).unwrap_or_default();
        fold(event, &mut self.event_folded);
        if go_on && self.prefilter.may_match_folded(&self.event_folded) {
            go_on = found(Found::Event(event, self.base + last as u64));
        }
        self.pos = end + END_LEN;
        Ok(go_on)
    }

    /// Reads one block without dropping anything.
    fn read_more(&mut self) -> io::Result<()> {
        // `read_to_end` reads into spare capacity without zeroing it first.
        let read = (&mut self.reader).take(self.block as u64).read_to_end(&mut self.buf)?;
        if read == 0 {
            self.eof = true;
        }
        Ok(())
    }

    /// After an oversized event: on past the next `</Event>` from `from`, in bounded memory;
    /// with none, the rest of the input belongs to the event.
    fn discard_to_end(&mut self, from: usize) -> io::Result<()> {
        let mut searched = from;
        loop {
            let rest = self.buf.get(searched..).unwrap_or_default();
            if let Some(at) = self.end.find(rest) {
                self.pos = searched + at + END_LEN;
                return Ok(());
            }
            if self.eof {
                self.pos = self.buf.len();
                return Ok(());
            }
            // Keep only what could begin the end tag.
            let keep_from = self.buf.len().saturating_sub(END_LEN - 1);
            self.buf.drain(..keep_from);
            self.base += keep_from as u64;
            self.pos = 0;
            searched = 0;
            self.read_more()?;
        }
    }

    /// An `<Event` at `start` with no `</Event>` after it: it and every later start are
    /// truncated, as the reader reports them, and the input is done.
    fn unterminated(&mut self, start: usize, found: &mut dyn FnMut(Found<'_>) -> bool) -> bool {
        let mut at = start;
        let mut go_on = true;
        while go_on {
            go_on = found(Found::Skip(Skip {
                location: self.location(at),
                reason: SkipReason::TruncatedEvent,
            }));
            match self.buf.get(at + START_LEN..).map(find_event_start) {
                Some(Ok(next)) => at += START_LEN + next,
                _ => break,
            }
        }
        self.pos = self.buf.len();
        go_on
    }
}
