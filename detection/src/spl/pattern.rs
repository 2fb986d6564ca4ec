//! Wildcard patterns: values as SPL search compares them (case-insensitive, `*` for any run of
//! characters, anchored to the whole value) and field-name globs (case-sensitive, with
//! captures for `rename`).

use std::borrow::Cow;

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

    /// Whether `value` matches the whole pattern.
    pub fn matches(&self, value: &str) -> bool {
        let value = lowercase(value);
        glob_captures(&self.pieces, &value, |_| {})
    }
}

/// `value` lower-cased, borrowed when it already is.
fn lowercase(value: &str) -> Cow<'_, str> {
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
        let Some(found) = remaining.find(piece.as_str()) else {
            return false;
        };
        capture(&remaining[..found]);
        remaining = &remaining[found + piece.len()..];
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
    fn captures_shortest_runs_left_to_right() {
        let glob = FieldGlob::new("*.*");
        assert_eq!(glob.captures("a.b.c"), Some(vec!["a", "b.c"]));
        assert_eq!(FieldGlob::new("x*").fill(&["yz"]), "xyz");
        assert_eq!(glob.captures("abc"), None);
    }
}
