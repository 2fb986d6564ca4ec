//! Regular expressions as Splunk runs them: PCRE, through the PCRE2 library (the `pcre2`
//! crate), in UTF-8 mode with PCRE's ASCII classes (`\d`, `\w`, `\s`). PCRE2 is the engine
//! the patterns of `rex`, `regex`, `match()` and `replace()` are written for: named groups
//! `(?<name>…)`, lookaround, back-references and inline flags behave as in Splunk. A pattern
//! that backtracks without end stops at PCRE2's match limit and is reported as an error
//! rather than hanging the search.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A compiled pattern.
#[derive(Debug)]
pub struct Regex {
    pattern: String,
    inner: pcre2::bytes::Regex,
}

impl Regex {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let inner = pcre2::bytes::RegexBuilder::new()
            .utf(true)
            .jit_if_available(true)
            .build(pattern)
            .map_err(|err| err.to_string())?;
        Ok(Self { pattern: pattern.to_owned(), inner })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the pattern matches somewhere in `text`.
    pub fn is_match(&self, text: &str) -> Result<bool, String> {
        self.inner.is_match(text.as_bytes()).map_err(|err| err.to_string())
    }

    /// The names of the capture groups, by group number (0 is the whole match).
    pub fn group_names(&self) -> &[Option<String>] {
        self.inner.capture_names()
    }

    /// Up to `limit` matches (0: all), each as the byte ranges of its groups (group 0 first;
    /// `None` for a group that did not take part).
    pub fn captures(
        &self,
        text: &str,
        limit: usize,
    ) -> Result<Vec<Vec<Option<std::ops::Range<usize>>>>, String> {
        let mut found = Vec::new();
        for captures in self.inner.captures_iter(text.as_bytes()) {
            let captures = captures.map_err(|err| err.to_string())?;
            found.push(
                (0..captures.len()).map(|i| captures.get(i).map(|m| m.start()..m.end())).collect(),
            );
            if limit != 0 && found.len() >= limit {
                break;
            }
        }
        Ok(found)
    }

    /// `text` with every match replaced by `replacement`, in which `\N` stands for group N
    /// (Splunk's `replace()` and `rex mode=sed`); only the first match unless `global`.
    pub fn replace(&self, text: &str, replacement: &str, global: bool) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for captures in self.inner.captures_iter(text.as_bytes()) {
            let captures = captures.map_err(|err| err.to_string())?;
            let Some(whole) = captures.get(0) else { continue };
            out.push_str(text.get(last..whole.start()).unwrap_or_default());
            let mut chars = replacement.chars().peekable();
            while let Some(ch) = chars.next() {
                if ch == '\\'
                    && let Some(digit) = chars.peek().and_then(|c| c.to_digit(10))
                {
                    chars.next();
                    if let Some(group) = captures.get(digit as usize) {
                        out.push_str(text.get(group.start()..group.end()).unwrap_or_default());
                    }
                    continue;
                }
                out.push(ch);
            }
            last = whole.end();
            if !global {
                break;
            }
        }
        out.push_str(text.get(last..).unwrap_or_default());
        Ok(out)
    }
}

/// Patterns compiled once per search: those written as literals at compile time (so a bad
/// one is an error at its place in the rule), others the first time a row needs them.
#[derive(Debug, Default)]
pub struct RegexCache {
    compiled: Mutex<HashMap<String, Arc<Regex>>>,
}

impl RegexCache {
    /// The compiled `pattern`.
    pub fn get(&self, pattern: &str) -> Result<Arc<Regex>, String> {
        let mut compiled = self.compiled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(regex) = compiled.get(pattern) {
            return Ok(Arc::clone(regex));
        }
        // A search that builds patterns from field values could grow the cache without
        // bound; past a few thousand patterns, compile without keeping.
        let regex = Arc::new(Regex::new(pattern)?);
        if compiled.len() < 4096 {
            compiled.insert(pattern.to_owned(), Arc::clone(&regex));
        }
        Ok(regex)
    }
}

impl Clone for RegexCache {
    fn clone(&self) -> Self {
        let compiled = self.compiled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Self { compiled: Mutex::new(compiled.clone()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_groups_lookaround_and_backreferences() {
        let regex = Regex::new(r"(?<user>\w+)@(?=corp)(\w+)").unwrap();
        let found = regex.captures("mail alice@corp", 0).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(regex.group_names()[1].as_deref(), Some("user"));
        assert!(Regex::new(r"(a)\1").unwrap().is_match("aa").unwrap());
        assert!(Regex::new(r"(?i)CMD").unwrap().is_match("cmd.exe").unwrap());
    }

    #[test]
    fn replace_substitutes_groups() {
        let regex = Regex::new(r"(\w+)\.exe").unwrap();
        assert_eq!(regex.replace("a.exe b.exe", r"[\1]", true).unwrap(), "[a] [b]");
        assert_eq!(regex.replace("a.exe b.exe", r"[\1]", false).unwrap(), "[a] b.exe");
    }

    #[test]
    fn runaway_backtracking_is_an_error_not_a_hang() {
        let regex = Regex::new(r"^(a+)+$").unwrap();
        let text = format!("{}b", "a".repeat(64));
        let error = regex.is_match(&text).unwrap_err();
        assert!(error.contains("limit"), "{error}");
    }

    #[test]
    fn classes_are_ascii_as_in_pcre() {
        assert!(!Regex::new(r"^\d$").unwrap().is_match("٣").unwrap());
        assert!(Regex::new(r"^.$").unwrap().is_match("é").unwrap());
    }
}
