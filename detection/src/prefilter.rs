//! A sound test on the raw bytes of XML export events, derived from the searches' `tstats
//! where` clauses and the conditions of searches over raw events: an event lacking a literal
//! that every match of every search must contain is passed over unparsed. It only rules
//! events out; matching is still the evaluator's, on the parsed event and its record. EVTX
//! records are tested on the XML they are rendered as, with the literals cut where that XML
//! escapes ([`Prefilter::for_rendered_xml`]); JSON input never reaches it.
//!
//! # Which literals
//!
//! A literal counts only when it comes from an `=` or `IN` term on a field whose values are
//! verbatim text of the event: for `tstats`, a data model field ([`literals_are_sound`]);
//! for a search over raw events, a field the add-ons extract verbatim
//! ([`is_verbatim_in_xml_export`]) or a free-text term, which `_raw` holds. The evaluator
//! compares values as written, entities and line breaks included, so such a literal is a
//! substring of the event's bytes. A field the data model fills with `unknown` when empty
//! counts only for a pattern that cannot match `unknown`; a term on a computed field (the
//! lower-cased integrity level, a name cut from the command line, `source`) contributes
//! nothing. `AND` joins the terms' literals, `OR` and `IN` keep those common to every
//! branch, `NOT` and `!=` give none. A search with several pipelines that read the input (a
//! subsearch, a `join`) needs an event that one of them could read.
//!
//! # Codes
//!
//! A search without such a literal still reads only some events when it reads data model
//! records: a dataset's records come from events of a few codes ([`EventCodes`]). An event
//! whose bytes show its code plainly, and no search reads that code, is passed over too.
//!
//! # Case
//!
//! The evaluator lower-cases with Unicode rules; the search here is ASCII case-insensitive.
//! Two non-ASCII characters lower-case to ASCII text: KELVIN SIGN (U+212A) to `k` and U+0130
//! to `i` plus a combining dot. So literals are cut at `k`, `i` and every non-ASCII
//! character, and only the ASCII pieces between are searched: each piece then comes from
//! consecutive ASCII characters of the raw value, in some case.

use std::collections::BTreeSet;

use aho_corasick::{AhoCorasick, MatchKind};
use memchr::memmem::Finder;

use crate::datamodel::{is_mapped_node, literals_are_sound, node_event_codes};
use crate::fields::is_verbatim_in_xml_export;
use crate::spl::{CompareOp, Condition, Input, Pattern, Search};

/// What one search needs of an event's raw bytes before it can read the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// The search reads nothing an event read here gives (another data model node, or no
    /// input at all: `| inputlookup`, `| makeresults`).
    Nothing,
    /// Every event the search can read contains, for at least one of these sets, each of its
    /// lower-case ASCII pieces, ASCII case-insensitively. One set per pipeline that reads
    /// the input (the top one, a subsearch, a `join`).
    Pieces(Vec<BTreeSet<String>>),
    /// No usable literal: any event may be read, so no event may be passed over.
    Anything,
}

/// The requirement of `search` on raw XML event bytes: each of its pipelines that reads the
/// input may read an event, so the event is needed when it meets one pipeline's literals.
pub fn requirement(search: &Search) -> Requirement {
    let mut alternatives = Vec::new();
    for input in search.inputs() {
        let literals = match input {
            Input::Records(tstats) => {
                if !is_mapped_node(&tstats.datamodel, &tstats.node) {
                    continue;
                }
                match &tstats.filter {
                    Some(filter) => raw_literals(filter, &|field, value| {
                        let name = field.strip_prefix(tstats.node.as_str())?.strip_prefix('.')?;
                        let literals: Vec<String> = value.literals().map(str::to_owned).collect();
                        literals_are_sound(&tstats.node, name, &literals).then_some(literals)
                    }),
                    None => BTreeSet::new(),
                }
            }
            Input::Events(condition) => raw_literals(condition, &event_literals),
        };
        let pieces: BTreeSet<String> =
            literals.iter().flat_map(|literal| pieces(literal)).collect();
        if pieces.is_empty() {
            return Requirement::Anything;
        }
        alternatives.push(pieces);
    }
    if alternatives.is_empty() { Requirement::Nothing } else { Requirement::Pieces(alternatives) }
}

/// The literals a search over raw events may require of the bytes for `field=value`: those
/// of a field whose every value is verbatim text of an XML export event (an extracted
/// `Data` field, `_raw` itself; not `source`, nor a looked-up or lower-cased field).
fn event_literals(field: &str, value: &Pattern) -> Option<Vec<String>> {
    if field.contains('*') || !is_verbatim_in_xml_export(field) {
        return None;
    }
    Some(value.literals().map(str::to_owned).collect())
}

/// Lower-cased literals of `condition` that every record or event it selects holds in its
/// raw bytes; `sound` gives a term's literals when the field's values are in the bytes.
fn raw_literals(
    condition: &Condition,
    sound: &dyn Fn(&str, &Pattern) -> Option<Vec<String>>,
) -> BTreeSet<String> {
    let term = |field: &str, value: &Pattern| -> BTreeSet<String> {
        sound(field, value).map(|literals| literals.into_iter().collect()).unwrap_or_default()
    };
    match condition {
        Condition::Compare { field, op: CompareOp::Eq, value } => term(field, value),
        Condition::In { field, values } => intersect(values.iter().map(|value| term(field, value))),
        // A free-text term is found in `_raw`, the event's bytes as they are.
        Condition::Term(value) => value.literals().map(str::to_owned).collect(),
        Condition::And(terms) => terms.iter().flat_map(|t| raw_literals(t, sound)).collect(),
        Condition::Or(terms) => intersect(terms.iter().map(|t| raw_literals(t, sound))),
        Condition::Any
        | Condition::Compare { .. }
        | Condition::Subsearch(_)
        | Condition::Not(_) => BTreeSet::new(),
    }
}

/// The literals in every set; nothing when there are no sets.
fn intersect(mut sets: impl Iterator<Item = BTreeSet<String>>) -> BTreeSet<String> {
    let Some(mut common) = sets.next() else {
        return BTreeSet::new();
    };
    // Once nothing is common the rest cannot add to it, so their literals are not worked
    // out: an `OR` of 20,000 names has none in common after the second.
    while !common.is_empty() {
        let Some(set) = sets.next() else { break };
        common.retain(|literal| set.contains(literal));
    }
    common
}

/// The ASCII runs of a lower-cased literal with `k` and `i` taken out (see the module docs).
pub fn pieces(literal: &str) -> impl Iterator<Item = String> + '_ {
    literal
        .split(|c: char| !c.is_ascii() || c == 'k' || c == 'i')
        .filter(|piece| !piece.is_empty())
        .map(str::to_owned)
}

/// `byte` as the prefilter compares it: ASCII letters lower-cased, everything else as is.
pub(crate) fn fold(bytes: &[u8], into: &mut Vec<u8>) {
    into.clear();
    into.extend(bytes.iter().map(u8::to_ascii_lowercase));
}

/// The combined test for several searches read in one pass: an event is a candidate when it
/// holds every piece of at least one search.
#[derive(Debug, Clone)]
pub struct Prefilter {
    /// Per search that can select anything: its pieces.
    searches: Vec<Vec<Finder<'static>>>,
    /// The pieces as text, per search.
    described: Vec<Vec<String>>,
}

/// One piece per search, searched in folded bytes to find candidates: every candidate holds
/// one of them, so any choice is sound; a rare one is fast.
#[derive(Debug, Clone)]
pub(crate) enum Anchors {
    /// No search can select anything: no event is a candidate.
    None,
    One(Box<Finder<'static>>, usize),
    Many(AhoCorasick, usize),
    Each(Vec<Finder<'static>>, usize),
}

/// Pieces shorter than this make poor anchors (too many hits) when a longer one exists.
const SHORT_ANCHOR: usize = 3;

impl Prefilter {
    /// The prefilter for `searches` run together, or `None` when one of them has no usable
    /// literal and so every event must be parsed.
    pub fn for_searches(searches: &[&Search]) -> Option<Self> {
        let mut described = Vec::new();
        for search in searches {
            match requirement(search) {
                Requirement::Anything => return None,
                Requirement::Nothing => {}
                Requirement::Pieces(alternatives) => described
                    .extend(alternatives.into_iter().map(|pieces| pieces.into_iter().collect())),
            }
        }
        Self::from_pieces(described)
    }

    /// This prefilter for the XML an EVTX record is rendered as, or `None` when no piece
    /// survives for some search. The `evtx` crate writes a value's `&`, `<` and `>` as
    /// entities (in an attribute, its quotes too), and the event's values are that XML
    /// decoded, so a piece holding one of those characters need not be in the XML as it is
    /// in the value: each piece is cut at them, and what is left is written as the value
    /// holds it. No other character is written otherwise than it is read back: a control
    /// character the crate writes as `_` is `_` in the value too.
    pub fn for_rendered_xml(&self) -> Option<Self> {
        let escaped = |c: char| matches!(c, '&' | '<' | '>' | '"' | '\'');
        let described = self
            .described
            .iter()
            .map(|pieces| {
                let cut = pieces.iter().flat_map(|piece| piece.split(escaped));
                let cut: BTreeSet<&str> = cut.filter(|piece| !piece.is_empty()).collect();
                cut.into_iter().map(str::to_owned).collect()
            })
            .collect();
        Self::from_pieces(described)
    }

    /// The prefilter for searches given as their pieces (lower-case ASCII, none empty);
    /// `None` when a search has no piece.
    pub fn from_pieces(described: Vec<Vec<String>>) -> Option<Self> {
        if described.iter().any(Vec::is_empty)
            || described.iter().flatten().any(|piece| {
                piece.is_empty() || piece.bytes().any(|b| !b.is_ascii() || b.is_ascii_uppercase())
            })
        {
            return None;
        }
        let searches = described
            .iter()
            .map(|pieces| pieces.iter().map(|piece| Finder::new(piece).into_owned()).collect())
            .collect();
        Some(Prefilter { searches, described })
    }

    /// The pieces of each search that can select anything, in order.
    pub fn pieces(&self) -> &[Vec<String>] {
        &self.described
    }

    /// Whether the event with these raw bytes may be selected by some search.
    pub fn may_match(&self, event: &[u8]) -> bool {
        let mut folded = Vec::with_capacity(event.len());
        fold(event, &mut folded);
        self.may_match_folded(&folded)
    }

    /// [`Prefilter::may_match`] on bytes already passed through [`fold`].
    pub(crate) fn may_match_folded(&self, folded: &[u8]) -> bool {
        self.searches.iter().any(|pieces| pieces.iter().all(|piece| piece.find(folded).is_some()))
    }

    /// Anchors chosen for input that looks like `sample` (folded): per search, the piece of
    /// at least [`SHORT_ANCHOR`] bytes found least often in it, longer first on ties.
    pub(crate) fn anchors(&self, sample: &[u8]) -> Anchors {
        let chosen: BTreeSet<&str> = self
            .searches
            .iter()
            .zip(&self.described)
            .filter_map(|(finders, pieces)| {
                let long_enough = pieces.iter().any(|piece| piece.len() >= SHORT_ANCHOR);
                finders
                    .iter()
                    .zip(pieces)
                    .filter(|(_, piece)| !long_enough || piece.len() >= SHORT_ANCHOR)
                    .min_by_key(|(finder, piece)| {
                        (finder.find_iter(sample).count(), std::cmp::Reverse(piece.len()))
                    })
                    .map(|(_, piece)| piece.as_str())
            })
            .collect();
        let longest = chosen.iter().map(|anchor| anchor.len()).max().unwrap_or(0);
        match chosen.len() {
            0 => Anchors::None,
            1 => Anchors::One(
                Box::new(Finder::new(chosen.first().copied().unwrap_or_default()).into_owned()),
                longest,
            ),
            _ => {
                // Leftmost-first: the scan relies on being given the earliest hit.
                let built = AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(chosen.iter().copied());
                match built {
                    Ok(automaton) => Anchors::Many(automaton, longest),
                    // Past the automaton's limits: search each anchor on its own.
                    Err(_) => Anchors::Each(
                        chosen.iter().map(|anchor| Finder::new(anchor).into_owned()).collect(),
                        longest,
                    ),
                }
            }
        }
    }
}

impl Anchors {
    /// Where the first anchor starts in folded bytes, if one does.
    pub(crate) fn find(&self, folded: &[u8]) -> Option<usize> {
        match self {
            Anchors::None => None,
            Anchors::One(finder, _) => finder.find(folded),
            Anchors::Many(automaton, _) => automaton.find(folded).map(|found| found.start()),
            Anchors::Each(finders, _) => {
                finders.iter().filter_map(|finder| finder.find(folded)).min()
            }
        }
    }

    /// The length of the longest anchor: a search window must overlap the next by one less.
    pub(crate) fn longest(&self) -> usize {
        match self {
            Anchors::None => 0,
            Anchors::One(_, longest) | Anchors::Many(_, longest) | Anchors::Each(_, longest) => {
                *longest
            }
        }
    }
}

/// The `EventCode`s of every event some search can read, when that is known: a `tstats`
/// reads the records of its dataset, and a dataset's records come from events of a few
/// codes (`Processes`: Sysmon 1, Security 4688). Without a literal to look for, an event of
/// another code can still be passed over unparsed, when its bytes show its code plainly
/// ([`event_code`]). A search over raw events may read any event, and so no code is ruled
/// out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCodes(BTreeSet<u32>);

impl EventCodes {
    /// The codes `searches` run together can read; `None` when any code can be read.
    pub fn for_searches(searches: &[&Search]) -> Option<Self> {
        let mut codes = BTreeSet::new();
        for search in searches {
            for input in search.inputs() {
                match input {
                    Input::Records(tstats) => {
                        codes.extend(node_event_codes(&tstats.datamodel, &tstats.node)?);
                    }
                    Input::Events(_) => return None,
                }
            }
        }
        Some(EventCodes(codes))
    }

    /// Whether an event whose raw XML bytes are `event` may be read: `false` only when its
    /// code shows in the bytes and no search reads that code.
    pub fn may_read(&self, event: &[u8]) -> bool {
        let code = event_code(event);
        // Debug builds (the gate's, the tests') check every code read off the bytes against
        // the parser, as they check the XML scanner against quick-xml.
        #[cfg(debug_assertions)]
        if let Some(code) = code {
            let location = crate::events::Location::whole(&std::sync::Arc::from("event"));
            if let Ok(parsed) = crate::events::parse_xml_event(event, location) {
                assert_eq!(parsed.event_id, code, "a code read off the bytes differs");
            }
        }
        code.is_none_or(|code| self.0.contains(&code))
    }
}

/// The `EventID` of an XML event, read off its bytes when they show it plainly: no `<!`
/// anywhere (a comment, CDATA, a declaration may hide or split an element), and `EventID`
/// exactly twice, as the start and end tags, without a prefix, of one element whose text is
/// a number and nothing else. The parser takes the text of such an element, trimmed, as the
/// event's code; for anything else this says nothing, and the event is parsed.
pub fn event_code(event: &[u8]) -> Option<u32> {
    const NAME: &[u8] = b"EventID";
    if memchr::memmem::find(event, b"<!").is_some() {
        return None;
    }
    let mut tags = memchr::memmem::find_iter(event, NAME);
    let (open, close) = (tags.next()?, tags.next()?);
    if tags.next().is_some() || event.get(open.checked_sub(1)?) != Some(&b'<') {
        return None;
    }
    let after_name = open + NAME.len();
    let attributes_end = after_name + memchr::memchr(b'>', event.get(after_name..)?)?;
    let attributes = event.get(after_name..attributes_end)?;
    if attributes.first().is_some_and(|byte| !byte.is_ascii_whitespace())
        || attributes.last() == Some(&b'/')
    {
        return None;
    }
    if event.get(close.checked_sub(2)?..close)? != b"</"
        || event.get(close + NAME.len()) != Some(&b'>')
    {
        return None;
    }
    let text = event.get(attributes_end + 1..close - 2)?;
    if text.iter().any(|byte| matches!(byte, b'<' | b'&')) {
        return None;
    }
    std::str::from_utf8(text).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kelvin_and_dotted_capital_i_lower_case_to_ascii() {
        let found: Vec<char> = (0..=u32::from(char::MAX))
            .filter_map(char::from_u32)
            .filter(|c| !c.is_ascii() && c.to_lowercase().any(|lower| lower.is_ascii()))
            .collect();
        assert_eq!(found, ['\u{130}', '\u{212a}']);
        assert_eq!('\u{212a}'.to_lowercase().collect::<String>(), "k");
        assert_eq!('\u{130}'.to_lowercase().next(), Some('i'));
    }

    #[test]
    fn literals_are_cut_at_k_i_and_non_ascii() {
        let cut: Vec<String> = pieces("minidump").collect();
        assert_eq!(cut, ["m", "n", "dump"]);
        let cut: Vec<String> = pieces("kerberos.dll").collect();
        assert_eq!(cut, ["erberos.dll"]);
        let cut: Vec<String> = pieces("a\u{e9}b").collect();
        assert_eq!(cut, ["a", "b"]);
        assert_eq!(pieces("kik").count(), 0);
    }

    /// `event_code` reads a code only where the parser reads the same one: for each shape,
    /// the code read off the bytes (if any) and the parsed event's.
    #[test]
    fn a_code_read_off_the_bytes_is_the_one_the_parser_reads() {
        let event = |system: &str| {
            format!(
                "<Event xmlns='x'><System><Provider Name='p'/>{system}\
                 <TimeCreated SystemTime='2024-03-01T10:00:00.000000Z'/>\
                 <Channel>Security</Channel><Computer>h</Computer></System>\
                 <EventData><Data Name='a'>b</Data></EventData></Event>"
            )
        };
        let cases = [
            ("<EventID>4688</EventID>", Some(4688)),
            ("<EventID Qualifiers='16384'>7045</EventID>", Some(7045)),
            ("<EventID> 1\n</EventID>", Some(1)),
            // Comments and CDATA may hide or split the element; a prefix, entities, a second
            // element, a name in a value, or odd tags: the bytes do not say, the parser does.
            ("<!-- <EventID>1</EventID> --><EventID>7</EventID>", None),
            ("<EventID><![CDATA[1]]></EventID>", None),
            ("<e:EventID xmlns:e='x'>1</e:EventID>", None),
            ("<EventID>&#49;</EventID>", None),
            ("<EventID>1</EventID><EventID>7</EventID>", None),
            ("<EventID Note='EventID'>7</EventID>", None),
            ("<EventID Note='a>b'>7</EventID>", None),
            ("<EventIDs>7</EventIDs>", None),
            ("<EventID>7</EventID >", None),
            ("<EventID/><EventID>7</EventID>", None),
            ("<EventID>7x</EventID>", None),
        ];
        for (system, expected) in cases {
            let text = event(system);
            let code = event_code(text.as_bytes());
            assert_eq!(code, expected, "{system}");
            let location = crate::events::Location::whole(&std::sync::Arc::from("t"));
            let parsed = crate::events::parse_xml_event(text.as_bytes(), location);
            if let Some(code) = code {
                assert_eq!(parsed.map(|event| event.event_id), Ok(code), "{system}");
            }
        }
    }

    #[test]
    fn events_of_codes_no_search_reads_are_passed_over() {
        let codes = EventCodes([1, 4688].into());
        assert!(codes.may_read(b"<Event><System><EventID>1</EventID></System></Event>"));
        assert!(!codes.may_read(b"<Event><System><EventID>7</EventID></System></Event>"));
        // A code the bytes do not show plainly is read, whatever it is.
        assert!(codes.may_read(b"<Event><System><EventID>&#55;</EventID></System></Event>"));
        assert!(codes.may_read(b"LogName=Security\nEventCode=7\n"));
    }

    #[test]
    fn any_search_with_all_its_pieces_makes_a_candidate() {
        let prefilter = Prefilter::from_pieces(vec![
            vec!["comsvcs.dll".into(), "dump".into()],
            vec!["procdump".into()],
        ])
        .unwrap();
        assert!(prefilter.may_match(b"x COMSVCS.DLL, MiniDUMP y"));
        assert!(prefilter.may_match(b"ProcDump64.exe"));
        assert!(!prefilter.may_match(b"comsvcs.dll #24"));
        assert!(Prefilter::from_pieces(vec![vec![]]).is_none());
        let anchors = prefilter.anchors(b"comsvcs.dll comsvcs.dll dump");
        assert_eq!(anchors.find(b"aa procdump comsvcs.dll"), Some(3));
        assert_eq!(anchors.longest(), 8);
    }

    #[test]
    fn for_rendered_evtx_xml_pieces_are_cut_where_the_xml_escapes() {
        // The evtx crate writes `a&b <x> "q"` in an element as `a&amp;b &lt;x&gt; "q"`, and
        // in an attribute with `&quot;` as well: the whole piece is in neither.
        let prefilter = Prefilter::from_pieces(vec![vec![r#"a&b <x> "q" 'r'"#.into()]]).unwrap();
        let element = br#"<Data Name='ParentCommandLine'>a&amp;b &lt;x&gt; "q" 'r'</Data>"#;
        let attribute = b"<Data Name='A&amp;B &lt;X&gt; &quot;q&quot; &apos;r&apos;'/>";
        assert!(!prefilter.may_match(element));
        let rendered = prefilter.for_rendered_xml().unwrap();
        assert_eq!(rendered.pieces(), [vec![" ", "a", "b ", "q", "r", "x"]]);
        assert!(rendered.may_match(element) && rendered.may_match(attribute));
        assert!(!rendered.may_match(b"<Data>a b x q</Data>"));
        // A search whose pieces are all escaped characters needs nothing the XML must hold.
        let escaped = Prefilter::from_pieces(vec![vec!["&".into()], vec!["dump".into()]]);
        assert!(escaped.unwrap().for_rendered_xml().is_none());
    }
}
