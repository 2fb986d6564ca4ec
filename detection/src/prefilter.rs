//! A sound test on the raw bytes of XML export events, derived from the searches' `tstats
//! where` clauses: an event lacking a literal that every match of every search must contain
//! is passed over unparsed. It only rules events out; matching is still the evaluator's, on
//! the parsed and mapped record. JSON and EVTX input never reach it.
//!
//! # Which literals
//!
//! A literal counts only when it comes from an `=` or `IN` term on a data model field whose
//! values are verbatim text of the event ([`literals_are_sound`]): the evaluator compares
//! values as written, entities and line breaks included, so such a literal is a substring of
//! the event's bytes. A field the data model fills with `unknown` when empty counts only for
//! a pattern that cannot match `unknown`; a term on a computed field (the lower-cased
//! integrity level, a name cut from the command line) contributes nothing. `AND` joins the terms'
//! literals, `OR` and `IN` keep those common to every branch, `NOT` and `!=` give none.
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

use crate::datamodel::{is_mapped_node, literals_are_sound};
use crate::spl::{CompareOp, Condition, Pattern, Search};

/// What one search needs of an event's raw bytes before its record can be selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// The search reads another data model node: no event read here can reach it.
    Nothing,
    /// Every event the search can select contains each of these lower-case ASCII pieces,
    /// ASCII case-insensitively.
    Pieces(BTreeSet<String>),
    /// No usable literal: any event may be selected, so no event may be passed over.
    Anything,
}

/// The requirement of `search` on raw XML event bytes.
pub fn requirement(search: &Search) -> Requirement {
    let Some(tstats) = search.tstats() else {
        return Requirement::Anything;
    };
    if !is_mapped_node(&tstats.datamodel, &tstats.node) {
        return Requirement::Nothing;
    }
    let literals = match &tstats.filter {
        Some(filter) => raw_literals(filter, &tstats.node),
        None => BTreeSet::new(),
    };
    let pieces: BTreeSet<String> = literals.iter().flat_map(|literal| pieces(literal)).collect();
    if pieces.is_empty() { Requirement::Anything } else { Requirement::Pieces(pieces) }
}

/// Lower-cased literals of `condition` that every selected record holds in a raw field.
fn raw_literals(condition: &Condition, node: &str) -> BTreeSet<String> {
    // A term's literals count when the data model says every record the term selects holds
    // them in its event's text (`literals_are_sound`).
    let sound = |field: &str, value: &Pattern| {
        let literals: Vec<String> = value.literals().map(str::to_owned).collect();
        let name = field.strip_prefix(node).and_then(|rest| rest.strip_prefix('.'));
        match name {
            Some(name) if literals_are_sound(node, name, &literals) => {
                literals.into_iter().collect()
            }
            _ => BTreeSet::new(),
        }
    };
    match condition {
        Condition::Compare { field, op: CompareOp::Eq, value } => sound(field, value),
        Condition::In { field, values } => {
            intersect(values.iter().map(|value| sound(field, value)))
        }
        Condition::And(terms) => terms.iter().flat_map(|term| raw_literals(term, node)).collect(),
        Condition::Or(terms) => intersect(terms.iter().map(|term| raw_literals(term, node))),
        Condition::Any
        | Condition::Compare { .. }
        | Condition::Term(_)
        | Condition::Subsearch(_)
        | Condition::Not(_) => BTreeSet::new(),
    }
}

/// The literals in every set; nothing when there are no sets.
fn intersect(mut sets: impl Iterator<Item = BTreeSet<String>>) -> BTreeSet<String> {
    let Some(first) = sets.next() else {
        return BTreeSet::new();
    };
    sets.fold(first, |acc, set| acc.intersection(&set).cloned().collect())
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
                Requirement::Pieces(pieces) => described.push(pieces.into_iter().collect()),
            }
        }
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
}
