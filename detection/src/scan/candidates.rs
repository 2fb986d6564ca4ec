//! Candidate events of an XML export found from the prefilter's literals rather than by
//! splitting every event: search case-folded windows for an anchor literal, and only around
//! a hit find the event's boundaries (the last `</Event>` before it, the `<Event` after that,
//! the next `</Event>`) exactly as the streaming reader splits the input. Events without a
//! hit are never split, parsed or counted; text between events is not classified.
//!
//! Every byte is folded about once and searched for each boundary tag about once, whatever
//! the input holds: the boundaries found so far are kept ([`Boundaries`]), a window is folded
//! once however many hits it holds, and a hit in text between events skips straight to the
//! next `<Event`. Megabytes of a rule's literals between two events cost one pass.

use std::io::{self, Read};
use std::sync::Arc;

use memchr::memmem::{Finder, FinderRev};

use crate::events::{Location, MAX_EVENT_BYTES, Skip, SkipReason, find_event_start};
use crate::prefilter::{Anchors, Prefilter, fold};

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

/// The event boundaries known so far, as indices into the scanner's buffer. Searches for the
/// tags resume where the last one stopped, so no stretch of input is searched twice.
struct Boundaries {
    /// Just past the last `</Event>` found, or the start of the input.
    last_end: usize,
    /// Every `</Event>` lying wholly before this index has been found.
    ends_to: usize,
    /// The first `<Event` at or after `last_end`: `Ok(at)`, or `Err(to)` when none starts
    /// before `to` (bytes from `to` on may still begin one).
    next_start: Result<usize, usize>,
    /// The event at `next_start` has been reported as oversized: everything up to the next
    /// `</Event>` belongs to it.
    oversized: bool,
}

impl Boundaries {
    fn at(index: usize) -> Self {
        Boundaries { last_end: index, ends_to: index, next_start: Err(index), oversized: false }
    }

    /// Indices shift down by `dropped` after bytes before them are dropped; the caller never
    /// drops an event start it still needs.
    fn shift(&mut self, dropped: usize) {
        self.last_end = self.last_end.saturating_sub(dropped);
        self.ends_to = self.ends_to.saturating_sub(dropped);
        self.next_start = match self.next_start {
            Ok(at) => Ok(at.saturating_sub(dropped)),
            Err(to) => Err(to.saturating_sub(dropped)),
        };
    }
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
    /// Every hit before `pos` has been dealt with.
    pos: usize,
    eof: bool,
    /// `buf[folded_at..]` case-folded, `folded.len()` bytes of it: searched for anchors from
    /// `pos` on, hit after hit, without folding again.
    folded: Vec<u8>,
    folded_at: usize,
    event_folded: Vec<u8>,
    bounds: Boundaries,
    /// An oversized event found while dropping read bytes, reported before anything later.
    pending: Option<Skip>,
    /// Bytes folded or searched for a tag so far: what linear time is checked by.
    work: u64,
    end: Finder<'static>,
    end_rev: FinderRev<'static>,
    /// Anchors chosen already, for a piece of a file (see [`file_anchors`]).
    anchors: Option<Anchors>,
}

/// The anchors for the whole of the file `input` starts: chosen from its first
/// [`SAMPLE_BYTES`], as a scanner of the whole file chooses them. The pieces of a file are
/// searched with these: each choosing its own sampled a quarter of its bytes again, a
/// twentieth of the comsvcs rule's time.
pub(crate) fn file_anchors(prefilter: &Prefilter, input: impl Read) -> io::Result<Anchors> {
    let mut sample = Vec::with_capacity(SAMPLE_BYTES);
    input.take(SAMPLE_BYTES as u64).read_to_end(&mut sample)?;
    let mut folded = Vec::with_capacity(sample.len());
    fold(&sample, &mut folded);
    Ok(prefilter.anchors(&folded))
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
            folded_at: 0,
            event_folded: Vec::new(),
            bounds: Boundaries::at(0),
            pending: None,
            work: 0,
            end: Finder::new(END_TAG).into_owned(),
            end_rev: FinderRev::new(END_TAG).into_owned(),
            anchors: None,
        }
    }

    /// Searches for `anchors` rather than those the input's start would choose.
    #[must_use]
    pub(crate) fn with_anchors(mut self, anchors: Anchors) -> Self {
        self.anchors = Some(anchors);
        self
    }

    /// Reads into `buffer`, emptied first, rather than a buffer of its own: a thread that
    /// searches one piece of a file after another grows one buffer once.
    #[must_use]
    pub(crate) fn with_buffer(mut self, mut buffer: Vec<u8>) -> Self {
        buffer.clear();
        self.buf = buffer;
        self
    }

    /// The buffer read into, for the next scanner (see [`CandidateScanner::with_buffer`]).
    pub(crate) fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// Runs to the end of the input, handing each candidate and skip to `found`, or until
    /// `found` returns `false`.
    pub(crate) fn run(&mut self, found: &mut dyn FnMut(Found<'_>) -> bool) -> io::Result<()> {
        let searched = self.search(found);
        // An oversized event noticed at the very end still counts.
        if matches!(searched, Ok(true)) {
            self.flush(found);
        }
        searched.map(drop)
    }

    /// The search proper; `Ok(false)` when `found` asked to stop.
    fn search(&mut self, found: &mut dyn FnMut(Found<'_>) -> bool) -> io::Result<bool> {
        let anchors = if let Some(anchors) = self.anchors.take() {
            anchors
        } else {
            while self.buf.len() < SAMPLE_BYTES && !self.eof {
                self.read_more()?;
            }
            let sample = self.buf.get(..SAMPLE_BYTES.min(self.buf.len())).unwrap_or_default();
            fold(sample, &mut self.folded);
            let anchors = self.prefilter.anchors(&self.folded);
            self.folded.clear();
            anchors
        };
        if anchors.longest() == 0 {
            // No search can select anything: there is nothing to look for.
            return Ok(true);
        }
        let overlap = anchors.longest().saturating_sub(1);
        loop {
            if !self.flush(found) {
                return Ok(false);
            }
            if self.buf.len() - self.pos < WINDOW_BYTES && !self.eof {
                self.fill()?;
                continue;
            }
            let folded_end = self.folded_at + self.folded.len();
            if self.folded.is_empty() || self.pos < self.folded_at || self.pos >= folded_end {
                let window_end = self.buf.len().min(self.pos + WINDOW_BYTES);
                if window_end - self.pos <= overlap {
                    // Too little left for any anchor, and the input has ended.
                    return Ok(true);
                }
                let window = self.buf.get(self.pos..window_end).unwrap_or_default();
                fold(window, &mut self.folded);
                self.work += window.len() as u64;
                self.folded_at = self.pos;
            }
            let from = self.pos - self.folded_at;
            let rest = self.folded.get(from..).unwrap_or_default();
            let hit = anchors.find(rest);
            self.work += hit.map_or(rest.len(), |at| at + anchors.longest()) as u64;
            match hit {
                None => {
                    let folded_end = self.folded_at + self.folded.len();
                    if folded_end == self.buf.len() && self.eof {
                        return Ok(true);
                    }
                    // The next window overlaps this one by an anchor's length less one.
                    self.pos = self.pos.max(folded_end - overlap);
                    self.folded.clear();
                }
                Some(at) => {
                    if !self.hit(self.pos + at, found)? {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// Hands out a pending skip; `false` when `found` asked to stop.
    fn flush(&mut self, found: &mut dyn FnMut(Found<'_>) -> bool) -> bool {
        self.pending.take().is_none_or(|skip| found(Found::Skip(skip)))
    }

    /// Reads one more block, first dropping what no later event can start in.
    fn fill(&mut self) -> io::Result<()> {
        self.compact();
        self.read_more()
    }

    /// Drops the bytes before `pos` that no event holding a later hit can start in: all of
    /// them, unless an event starts before `pos` and has not ended by it. An event that has
    /// run on for more than [`MAX_EVENT_BYTES`] without its `</Event>` is reported as
    /// oversized (as the streaming reader does) and dropped too.
    fn compact(&mut self) {
        // Only once enough is behind `pos`, so that tiny reads do not move the same bytes
        // again and again.
        if self.pos < WINDOW_BYTES.max(self.block) {
            return;
        }
        self.scan_ends(self.pos);
        self.scan_start(self.pos);
        let keep_from = match self.bounds.next_start {
            Ok(start) if start < self.pos => {
                if !self.bounds.oversized && self.pos - start > MAX_EVENT_BYTES + END_LEN {
                    self.pending = Some(Skip {
                        location: self.location(start),
                        reason: SkipReason::OversizedEvent,
                    });
                    self.bounds.oversized = true;
                }
                if self.bounds.oversized {
                    // Only its end matters now; keep what could begin the end tag.
                    self.bounds.next_start = Err(self.pos);
                    self.pos - (END_LEN - 1)
                } else {
                    start
                }
            }
            Ok(_) => self.pos,
            Err(to) => to.min(self.pos),
        };
        self.drop_front(keep_from);
    }

    /// Drops `buf[..len]`, keeping every index right.
    fn drop_front(&mut self, len: usize) {
        if len == 0 {
            return;
        }
        self.buf.drain(..len);
        self.base += len as u64;
        self.pos = self.pos.saturating_sub(len);
        self.bounds.shift(len);
        if self.folded_at >= len {
            self.folded_at -= len;
        } else {
            self.folded.clear();
            self.folded_at = 0;
        }
    }

    /// Finds the last `</Event>` lying wholly before `to` that is not known yet.
    fn scan_ends(&mut self, to: usize) {
        let to = to.min(self.buf.len());
        if to <= self.bounds.ends_to {
            return;
        }
        let from = self.bounds.ends_to.saturating_sub(END_LEN - 1).max(self.bounds.last_end);
        self.work += (to - from) as u64;
        if let Some(at) = self.end_rev.rfind(self.buf.get(from..to).unwrap_or_default()) {
            let last_end = from + at + END_LEN;
            self.bounds = Boundaries::at(last_end);
        }
        self.bounds.ends_to = to;
    }

    /// Looks for the first `<Event` after the last `</Event>`, in the bytes before `to`.
    fn scan_start(&mut self, to: usize) {
        let Err(from) = self.bounds.next_start else { return };
        let to = to.min(self.buf.len());
        if to <= from {
            return;
        }
        self.bounds.next_start = match self.buf.get(from..to).map(find_event_start) {
            Some(Ok(at)) => {
                self.work += (at + START_LEN) as u64;
                Ok(from + at)
            }
            Some(Err(at)) => {
                self.work += (to - from) as u64;
                Err(from + at)
            }
            None => Err(from),
        };
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
        if !self.flush(found) {
            return Ok(false);
        }
        let hit = self.pos + from_pos;
        self.scan_ends(hit);
        if self.bounds.oversized {
            // The hit is inside an event already reported as oversized: on past its end.
            self.discard_to_end(self.bounds.ends_to.saturating_sub(END_LEN - 1))?;
            self.pos = self.pos.max(hit + 1);
            return Ok(true);
        }
        self.scan_start(hit + START_LEN + 1);
        let start = match self.bounds.next_start {
            Ok(start) if start <= hit => start,
            _ => {
                // The hit is in text between events: on to the next event's start, past
                // every other hit in the same text.
                self.scan_start(self.buf.len());
                let next = match self.bounds.next_start {
                    Ok(at) | Err(at) => at,
                };
                self.pos = next.max(hit + 1);
                return Ok(true);
            }
        };
        // The first `</Event>` after the start tag, reading on (never dropping) as the
        // streaming reader does until the event outgrows MAX_EVENT_BYTES. None lies wholly
        // between the last end and the hit.
        let mut searched = (start + START_LEN).max(self.bounds.ends_to.saturating_sub(END_LEN - 1));
        let end = loop {
            let rest = self.buf.get(searched..).unwrap_or_default();
            let found_end = self.end.find(rest);
            self.work += found_end.map_or(rest.len(), |at| at + END_LEN) as u64;
            if let Some(at) = found_end {
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
        self.work += 2 * (end + END_LEN - start) as u64;
        if go_on && self.prefilter.may_match_folded(&self.event_folded) {
            go_on = found(Found::Event(event, self.base + last as u64));
        }
        self.past_end(end + END_LEN);
        Ok(go_on)
    }

    /// Moves on to just past a `</Event>` ending at `end`.
    fn past_end(&mut self, end: usize) {
        self.bounds = Boundaries::at(end);
        self.pos = end;
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
            let found_end = self.end.find(rest);
            self.work += found_end.map_or(rest.len(), |at| at + END_LEN) as u64;
            if let Some(at) = found_end {
                self.past_end(searched + at + END_LEN);
                return Ok(());
            }
            if self.eof {
                self.pos = self.buf.len();
                self.bounds = Boundaries::at(self.pos);
                return Ok(());
            }
            // Keep only what could begin the end tag.
            let keep_from = self.buf.len().saturating_sub(END_LEN - 1);
            self.pos = keep_from;
            self.bounds = Boundaries::at(keep_from);
            self.bounds.oversized = true;
            self.drop_front(keep_from);
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

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::spl::{MacroTable, Search};

    fn prefilter() -> Prefilter {
        let search = Search::compile(
            "| tstats count from datamodel=Endpoint.Processes where \
             Processes.process_name=rundll32.exe Processes.process=*comsvcs.dll* by Processes.dest",
            &MacroTable::new(),
            "none_filter",
        )
        .unwrap();
        Prefilter::for_searches(&[&search]).unwrap()
    }

    const EVENT: &str = "<Event><System><EventID>1</EventID></System><EventData>\
        <Data Name='Image'>C:\\Windows\\System32\\rundll32.exe</Data>\
        <Data Name='CommandLine'>rundll32.exe comsvcs.dll, MiniDump 1 x full</Data>\
        </EventData></Event>\n";

    /// The work done and the candidates found over `input`, read `block` bytes at a time.
    fn scan(input: &[u8], block: usize) -> (u64, usize, usize) {
        let prefilter = prefilter();
        let mut scanner =
            CandidateScanner::new(Cursor::new(input), &prefilter, Arc::from("t"), 0, block);
        let (mut events, mut skips) = (0, 0);
        scanner
            .run(&mut |found| {
                match found {
                    Found::Event(..) => events += 1,
                    Found::Skip(_) => skips += 1,
                }
                true
            })
            .unwrap();
        (scanner.work, events, skips)
    }

    #[track_caller]
    fn assert_linear(input: &[u8], events: usize, skips: usize) {
        for block in [4096, 1 << 20] {
            let (work, found, skipped) = scan(input, block);
            assert_eq!((found, skipped), (events, skips), "read {block} bytes at a time");
            // Each byte is folded once and searched for each tag about once.
            let bound = 6 * input.len() as u64 + 4 * WINDOW_BYTES as u64;
            assert!(work <= bound, "{work} bytes of work for {} of input", input.len());
        }
    }

    #[test]
    fn literals_between_two_events_are_passed_over_once() {
        // Each hit in this text once searched back to the last `</Event>` and folded a
        // window again: 4 MiB took 35 s.
        let line = "rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 756 out.dmp full\n";
        let gap = line.repeat((4 << 20) / line.len());
        assert_linear(format!("{EVENT}{gap}{EVENT}").as_bytes(), 2, 0);
        // With a stray `</Event>` in the text, and ending in it.
        let stray = format!("{EVENT}{gap}</Event>{gap}{EVENT}{gap}");
        assert_linear(stray.as_bytes(), 2, 0);
    }

    #[test]
    fn classic_text_events_holding_the_literals_cost_one_pass() {
        let text = "01/14/2021 11:41:39 PM\nLogName=Security\nEventCode=4688\n\
            Process Command Line:\trundll32.exe comsvcs.dll, MiniDump 756 out.dmp full\n\n";
        let export = text.repeat((8 << 20) / text.len());
        assert_linear(export.as_bytes(), 0, 0);
    }

    #[test]
    fn many_small_candidates_cost_one_pass() {
        let export = EVENT.repeat((4 << 20) / EVENT.len());
        let events = (4 << 20) / EVENT.len();
        assert_linear(export.as_bytes(), events, 0);
    }

    #[test]
    fn an_event_without_its_end_in_literals_is_one_oversized_skip() {
        let line = "rundll32.exe comsvcs.dll MiniDump\n";
        let body = line.repeat((MAX_EVENT_BYTES + (1 << 20)) / line.len());
        let input = format!("<Event>{body}{EVENT}{EVENT}");
        // The oversized event swallows the first event up to its `</Event>`, as the
        // streaming reader discards it; the second is read.
        assert_linear(input.as_bytes(), 1, 1);
    }
}
