//! Wildcard patterns: values as SPL search compares them (case-insensitive, `*` for any run of
//! characters, anchored to the whole value) and field-name globs (case-sensitive, with
//! captures for `rename`).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use aho_corasick::AhoCorasick;

/// A search value: `*` matches any run of characters, none included; every other character
/// is literal; letters compare case-insensitively (Unicode lower-casing) and the whole value
/// must match.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pattern {
    text: String,
    /// Lower-cased pieces between the `*`s; one piece when there is no `*`.
    #[serde(skip)]
    pieces: Vec<String>,
}

impl Pattern {
    /// The pattern for `text` as written (quotes removed).
    pub fn new(text: &str) -> Self {
        let pieces = text.split('*').map(str::to_lowercase).collect();
        Self { text: text.to_owned(), pieces }
    }

    /// The pattern as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the pattern has a `*`.
    pub fn has_wildcard(&self) -> bool {
        self.pieces.len() > 1
    }

    /// The lower-cased literal runs of the pattern, empty ones left out: every matching
    /// value contains each of them, case-insensitively.
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().map(String::as_str).filter(|p| !p.is_empty())
    }

    /// The one value the pattern matches, lower-cased, when it has no `*`: a value matches
    /// exactly when its [`lowercase`] equals it.
    pub(crate) fn exact(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [value] => Some(value),
            _ => None,
        }
    }

    /// What every value the pattern matches is, or holds, once lower-cased: its one value
    /// without a `*`, else its longest literal run; `None` for a pattern of `*`s alone.
    pub(crate) fn needle(&self) -> Option<Needle<'_>> {
        match self.exact() {
            Some(value) => Some(Needle::Is(value)),
            None => self.longest_literal().map(Needle::Holds),
        }
    }

    /// The longest of [`Pattern::literals`]: every matching value, lower-cased, holds it.
    pub(crate) fn longest_literal(&self) -> Option<&str> {
        self.literals().max_by_key(|piece| piece.len())
    }

    /// Whether `value` matches the whole pattern.
    pub fn matches(&self, value: &str) -> bool {
        self.matches_lowered(&lowercase(value))
    }

    /// [`Pattern::matches`] for a value already lower-cased by [`lowercase`].
    pub(crate) fn matches_lowered(&self, value: &str) -> bool {
        glob_captures(&self.pieces, value, |_| {})
    }
}

/// What a value must be or hold, lower-cased by [`lowercase`], to match a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needle<'p> {
    /// The whole value.
    Is(&'p str),
    /// A run of the value.
    Holds(&'p str),
}

impl Needle<'_> {
    /// Whether `lowered`, a value lower-cased by [`lowercase`], is or holds the needle.
    #[cfg(test)]
    pub(crate) fn found_in(self, lowered: &str) -> bool {
        match self {
            Needle::Is(value) => lowered == value,
            Needle::Holds(piece) => lowered.contains(piece),
        }
    }
}

/// Many patterns matched at once: whether a value matches any of them, as
/// `patterns.iter().any(|p| p.matches(value))` says, without trying them one by one. A long
/// `OR` or `IN` list of one field costs a hash lookup for its exact values, and an
/// Aho-Corasick pass for its wildcard ones, instead of a comparison per term.
#[derive(Debug, Clone)]
pub struct PatternSet {
    /// The lower-cased exact values: a value matches one when its lower-casing equals it,
    /// which is what [`Pattern::matches`] decides for a pattern without `*`.
    exact: HashSet<String>,
    /// The patterns with a `*`.
    wildcard: Vec<Pattern>,
    /// With many wildcard patterns, an automaton over each one's longest literal piece;
    /// only the patterns whose piece occurs in a value are tried on it.
    index: Option<PieceIndex>,
}

/// Which of many items a text may interest, each item known by a run of text every text
/// it wants holds (a pattern's longest literal piece): one Aho-Corasick pass names them.
#[derive(Debug, Clone)]
pub(crate) struct PieceIndex {
    automaton: AhoCorasick,
    /// For each of the automaton's pieces, the items it was taken from.
    items_of: Vec<Vec<usize>>,
    /// The items without a piece (a pattern of `*`s): every text may interest them.
    always: Vec<usize>,
}

/// Fewer wildcard patterns than this are tried one by one: building an automaton would not
/// pay for itself.
const INDEX_MIN_WILDCARDS: usize = 8;

impl PatternSet {
    /// The set of `patterns`.
    pub fn new<'p>(patterns: impl IntoIterator<Item = &'p Pattern>) -> Self {
        let mut exact = HashSet::new();
        let mut wildcard = Vec::new();
        for pattern in patterns {
            match pattern.exact() {
                Some(value) => {
                    exact.insert(value.to_owned());
                }
                None => wildcard.push(pattern.clone()),
            }
        }
        // Every value a pattern matches holds each of its pieces, the longest included.
        let index = (wildcard.len() >= INDEX_MIN_WILDCARDS)
            .then(|| PieceIndex::new(wildcard.iter().map(Pattern::longest_literal)))
            .flatten();
        Self { exact, wildcard, index }
    }

    /// One needle per pattern (see [`Pattern::needle`]): every value the set matches, once
    /// lower-cased, is or holds one of them. `None` when a pattern is `*`s alone.
    pub(crate) fn needles(&self) -> Option<Vec<Needle<'_>>> {
        let exact = self.exact.iter().map(|value| Some(Needle::Is(value)));
        exact.chain(self.wildcard.iter().map(Pattern::needle)).collect()
    }

    /// Whether `value` matches one of the patterns.
    pub fn matches(&self, value: &str) -> bool {
        let value = lowercase(value);
        if self.exact.contains(value.as_ref()) {
            return true;
        }
        let Some(index) = &self.index else {
            return self.wildcard.iter().any(|pattern| pattern.matches_lowered(&value));
        };
        let mut candidates = index.candidates(&value);
        candidates.any(|at| self.wildcard.get(at).is_some_and(|p| p.matches_lowered(&value)))
    }
}

impl PieceIndex {
    /// The index of items given by their pieces, in order; `None` when the automaton
    /// cannot be built (too large), and the items are then each tried.
    pub(crate) fn new<'p>(
        pieces_of_items: impl IntoIterator<Item = Option<&'p str>>,
    ) -> Option<Self> {
        let mut pieces: Vec<&str> = Vec::new();
        let mut piece_ids: HashMap<&str, usize> = HashMap::new();
        let mut items_of: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        for (at, piece) in pieces_of_items.into_iter().enumerate() {
            let Some(piece) = piece else {
                always.push(at);
                continue;
            };
            let id = *piece_ids.entry(piece).or_insert_with(|| {
                pieces.push(piece);
                items_of.push(Vec::new());
                pieces.len() - 1
            });
            if let Some(of) = items_of.get_mut(id) {
                of.push(at);
            }
        }
        let automaton = AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::Standard)
            .build(&pieces)
            .ok()?;
        Some(Self { automaton, items_of, always })
    }

    /// The items whose piece `text` holds, and those without one; an item may come more
    /// than once.
    pub(crate) fn candidates<'a>(&'a self, text: &'a str) -> impl Iterator<Item = usize> + 'a {
        let found = self.automaton.find_overlapping_iter(text).flat_map(|found| {
            self.items_of.get(found.pattern().as_usize()).map_or(&[][..], Vec::as_slice)
        });
        self.always.iter().chain(found).copied()
    }
}

/// `value` lower-cased, borrowed when it already is.
pub(crate) fn lowercase(value: &str) -> Cow<'_, str> {
    if value.chars().any(char::is_uppercase) {
        Cow::Owned(value.to_lowercase())
    } else {
        Cow::Borrowed(value)
    }
}

/// Whether `value` matches the pieces of a `*` pattern, reporting what each `*` covered.
/// Each `*` but the last takes the shortest run that lets the next piece follow, which is
/// enough to decide a match since `*` is the only metacharacter.
fn glob_captures<'v>(pieces: &[String], value: &'v str, mut capture: impl FnMut(&'v str)) -> bool {
    let Some((first, rest)) = pieces.split_first() else {
        return value.is_empty();
    };
    let Some(mut remaining) = value.strip_prefix(first.as_str()) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for piece in middle {
        // memmem needs no set-up per search, where `str::find` builds a searcher each time;
        // a match of UTF-8 in UTF-8 starts and ends on character boundaries.
        let Some(found) = memchr::memmem::find(remaining.as_bytes(), piece.as_bytes()) else {
            return false;
        };
        let (Some(before), Some(after)) =
            (remaining.get(..found), remaining.get(found + piece.len()..))
        else {
            return false;
        };
        capture(before);
        remaining = after;
    }
    let Some(tail) = remaining.strip_suffix(last.as_str()) else {
        return false;
    };
    capture(tail);
    true
}

/// A field name or a field-name pattern with `*` wildcards, compared case-sensitively as
/// Splunk compares field names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldGlob {
    text: String,
    #[serde(skip)]
    pieces: Vec<String>,
}

impl FieldGlob {
    /// The glob for `text`.
    pub fn new(text: &str) -> Self {
        Self { text: text.to_owned(), pieces: text.split('*').map(str::to_owned).collect() }
    }

    /// The name or pattern as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The number of `*` wildcards.
    pub fn wildcards(&self) -> usize {
        self.pieces.len() - 1
    }

    /// The longest run between its `*`s, when not empty: every matching name holds it.
    pub(crate) fn longest_piece(&self) -> Option<&str> {
        self.pieces.iter().map(String::as_str).filter(|p| !p.is_empty()).max_by_key(|p| p.len())
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        glob_captures(&self.pieces, name, |_| {})
    }

    /// What each `*` covered in `name`, if it matches.
    pub fn captures<'n>(&self, name: &'n str) -> Option<Vec<&'n str>> {
        let mut captures = Vec::new();
        glob_captures(&self.pieces, name, |c| captures.push(c)).then_some(captures)
    }

    /// This glob with its `*`s replaced by `captures`, in order (missing ones by nothing).
    pub fn fill(&self, captures: &[&str]) -> String {
        let mut out = String::new();
        for (idx, piece) in self.pieces.iter().enumerate() {
            if idx > 0 {
                out.push_str(captures.get(idx - 1).copied().unwrap_or_default());
            }
            out.push_str(piece);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_and_splits_on_stars() {
        let p = Pattern::new("a*b*");
        assert!(p.matches("ab"));
        assert!(p.matches("aXbY"));
        assert!(!p.matches("Xab"));
        let overlapping = Pattern::new("ab*ba");
        assert!(!overlapping.matches("aba"));
        assert!(overlapping.matches("abba"));
        assert!(Pattern::new("*").matches(""));
        assert!(!Pattern::new("").matches("x"));
        assert!(Pattern::new("").matches(""));
        assert!(Pattern::new("**").matches("x y\\z"));
    }

    #[test]
    fn a_set_matches_what_one_of_its_patterns_matches() {
        let one_by_one =
            |patterns: &[Pattern], value: &str| patterns.iter().any(|p| p.matches(value));
        // Enough wildcard patterns for the automaton, with a shared longest piece, one
        // without any piece, and letters whose lower case is longer or differs by form.
        let texts = [
            "rundll32.exe",
            "CMD.EXE",
            "",
            "*\\comsvcs.dll*",
            "*minidump*",
            "a*b",
            "ab*ba",
            "*İ*",
            "x*y*z",
            "*.exe",
            "*exe",
            "**",
            "*ǅ",
            "ß*",
            "*comsvcs*full",
        ];
        let patterns: Vec<Pattern> = texts.iter().map(|t| Pattern::new(t)).collect();
        for take in [0, 1, 2, 3, 6, texts.len()] {
            let some = &patterns[..take];
            let set = PatternSet::new(some);
            for value in [
                "RUNDLL32.EXE",
                "rundll32.exe ",
                "cmd.exe",
                "",
                "x",
                "C:\\Windows\\COMSVCS.DLL, MiniDump",
                "aXb",
                "aba",
                "abba",
                "İstanbul",
                "i̇",
                "xyz",
                "notepad.EXE",
                "ǅ",
                "ǆ",
                "SS",
                "ß",
                "comsvcs full",
                "comsvcsfull",
            ] {
                assert_eq!(
                    set.matches(value),
                    one_by_one(some, value),
                    "{take} patterns, {value:?}"
                );
            }
        }
    }

    #[test]
    fn captures_shortest_runs_left_to_right() {
        let glob = FieldGlob::new("*.*");
        assert_eq!(glob.captures("a.b.c"), Some(vec!["a", "b.c"]));
        assert_eq!(FieldGlob::new("x*").fill(&["yz"]), "xyz");
        assert_eq!(glob.captures("abc"), None);
    }

    /// `*` matching any run, tried every way: what a glob's match must agree with.
    fn matches_by_trying(glob: &[char], value: &[char]) -> bool {
        match glob.split_first() {
            None => value.is_empty(),
            Some(('*', rest)) => {
                (0..=value.len()).any(|skip| matches_by_trying(rest, &value[skip..]))
            }
            Some((c, rest)) => value.first() == Some(c) && matches_by_trying(rest, &value[1..]),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::with_cases(1024)
        })]

        /// A field glob matches as `*` tried at every length does: "Use the asterisk ( * )
        /// character as a wildcard to match an unlimited number of characters in a string"
        /// (Search Manual, Wildcards); case-sensitively, as field names are compared.
        #[test]
        fn a_field_glob_matches_as_trying_every_run(glob in "[abé*]{0,6}", value in "[abéA]{0,8}") {
            let chars = |text: &str| text.chars().collect::<Vec<char>>();
            let expected = matches_by_trying(&chars(&glob), &chars(&value));
            proptest::prop_assert_eq!(FieldGlob::new(&glob).matches(&value), expected);
        }
    }
}
