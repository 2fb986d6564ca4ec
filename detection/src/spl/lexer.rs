//! Tokens of macro-expanded SPL with their byte spans. The lexer knows quoting and operators,
//! not commands: keywords such as `AND` or `by` are words the parser interprets.

use std::ops::Range;

use super::error::SplErrorKind;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `==`, only in `where`
    EqEq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CompareOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::EqEq => "==",
            Self::NotEq => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Pipe,
    LParen,
    RParen,
    Comma,
    Op(CompareOp),
    /// Unquoted text; may hold `*` wildcards.
    Word(String),
    /// A double-quoted string, unescaped.
    Quoted(String),
    /// `[ … ]`, brackets balanced and quotes respected: a subsearch or the inner commands
    /// of `foreach`. The span covers the brackets.
    Bracket,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) span: Range<usize>,
}

impl Token {
    /// The token for messages: `` `text` `` as written.
    pub(crate) fn describe(&self, source: &str) -> String {
        format!("`{}`", source.get(self.span.clone()).unwrap_or_default())
    }

    /// The unquoted word, if this is one.
    pub(crate) fn word(&self) -> Option<&str> {
        match &self.kind {
            TokenKind::Word(word) => Some(word),
            _ => None,
        }
    }

    /// Whether this is the unquoted word `keyword`, compared case-insensitively.
    pub(crate) fn is_keyword(&self, keyword: &str) -> bool {
        self.word().is_some_and(|w| w.eq_ignore_ascii_case(keyword))
    }
}

/// Splits `text` into tokens, or the error with the byte range it is about.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, (SplErrorKind, Range<usize>)> {
    let bytes = text.as_bytes();
    // About a token per eight bytes in rules and long lists alike, so that a list of
    // thousands of terms is not copied a dozen times as the vector grows.
    let mut tokens = Vec::with_capacity(text.len() / 8);
    let mut idx = 0;
    while let Some(&byte) = bytes.get(idx) {
        let start = idx;
        let next = bytes.get(idx + 1).copied();
        let (kind, len) = match byte {
            b if b.is_ascii_whitespace() => {
                idx += 1;
                continue;
            }
            b'|' => (TokenKind::Pipe, 1),
            b'(' => (TokenKind::LParen, 1),
            b')' => (TokenKind::RParen, 1),
            b',' => (TokenKind::Comma, 1),
            b'=' if next == Some(b'=') => (TokenKind::Op(CompareOp::EqEq), 2),
            b'=' => (TokenKind::Op(CompareOp::Eq), 1),
            b'!' if next == Some(b'=') => (TokenKind::Op(CompareOp::NotEq), 2),
            b'<' if next == Some(b'=') => (TokenKind::Op(CompareOp::Le), 2),
            b'<' => (TokenKind::Op(CompareOp::Lt), 1),
            b'>' if next == Some(b'=') => (TokenKind::Op(CompareOp::Ge), 2),
            b'>' => (TokenKind::Op(CompareOp::Gt), 1),
            b'"' => {
                let (value, len) = quoted(&text[start..])
                    .ok_or((SplErrorKind::UnclosedQuote, start..start + 1))?;
                (TokenKind::Quoted(value), len)
            }
            b'[' => {
                let len = bracket_len(&text[start..])
                    .ok_or((SplErrorKind::UnclosedBracket, start..start + 1))?;
                (TokenKind::Bracket, len)
            }
            b'`' | b']' => {
                return Err((SplErrorKind::UnexpectedChar(char::from(byte)), start..start + 1));
            }
            _ => {
                let len = word_len(&text[start..]);
                (TokenKind::Word(unescape_word(&text[start..start + len])), len)
            }
        };
        idx += len;
        tokens.push(Token { kind, span: start..idx });
    }
    Ok(tokens)
}

/// Length of the unquoted word at the start of `rest` (at least one character).
fn word_len(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    let mut len = 0;
    while let Some(&byte) = bytes.get(len) {
        // "The backslash character ( \ ) is used to escape quotes, pipes, and the backslash
        // character itself."
        if byte == b'\\' && matches!(bytes.get(len + 1), Some(b'"' | b'|' | b'\\')) {
            len += 2;
            continue;
        }
        let stops = byte.is_ascii_whitespace()
            || matches!(byte, b'|' | b'(' | b')' | b',' | b'"' | b'=' | b'<' | b'>' | b'`')
            || matches!(byte, b'[' | b']')
            || (byte == b'!' && bytes.get(len + 1) == Some(&b'='));
        if stops && len > 0 {
            break;
        }
        len += rest[len..].chars().next().map_or(1, char::len_utf8);
    }
    len
}

/// An unquoted word's text: `\"`, `\|` and `\\` stand for the character after the
/// backslash; other backslashes are kept ("Unrecognized backslash sequences are not
/// altered").
fn unescape_word(word: &str) -> String {
    if !word.contains('\\') {
        return word.to_owned();
    }
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '\\'
            && let Some(&next @ ('"' | '|' | '\\')) = chars.peek()
        {
            out.push(next);
            chars.next();
            continue;
        }
        out.push(ch);
    }
    out
}

/// Byte length of the bracketed text at the start of `rest`, up to its matching `]`; `"…"`
/// strings inside are skipped whole, so a bracket in a string does not count.
fn bracket_len(rest: &str) -> Option<usize> {
    let mut depth = 0_usize;
    let mut idx = 0;
    while let Some(ch) = rest[idx..].chars().next() {
        match ch {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(idx + 1);
                }
            }
            '"' => {
                let (_, len) = quoted(&rest[idx..])?;
                idx += len;
                continue;
            }
            _ => {}
        }
        idx += ch.len_utf8();
    }
    None
}

/// The unescaped content and byte length of the quoted string at the start of `rest`.
/// `\"` and `\\` are escapes; any other backslash is literal, as in Splunk, so Windows paths
/// need no doubling.
pub(crate) fn quoted(rest: &str) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut chars = rest.char_indices().skip(1);
    while let Some((idx, ch)) = chars.next() {
        match ch {
            '"' => return Some((value, idx + 1)),
            '\\' => match rest[idx + 1..].chars().next() {
                Some(escaped @ ('"' | '\\')) => {
                    value.push(escaped);
                    chars.next();
                }
                _ => value.push('\\'),
            },
            _ => value.push(ch),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        tokenize(text).unwrap().into_iter().map(|t| t.kind).collect()
    }

    fn word(w: &str) -> TokenKind {
        TokenKind::Word(w.to_owned())
    }

    #[test]
    fn splits_comparisons_and_wildcards() {
        assert_eq!(
            kinds("Processes.process=*comsvcs.dll* a!=b c<=1 d>=2 e==f g<h i>j"),
            [
                word("Processes.process"),
                TokenKind::Op(CompareOp::Eq),
                word("*comsvcs.dll*"),
                word("a"),
                TokenKind::Op(CompareOp::NotEq),
                word("b"),
                word("c"),
                TokenKind::Op(CompareOp::Le),
                word("1"),
                word("d"),
                TokenKind::Op(CompareOp::Ge),
                word("2"),
                word("e"),
                TokenKind::Op(CompareOp::EqEq),
                word("f"),
                word("g"),
                TokenKind::Op(CompareOp::Lt),
                word("h"),
                word("i"),
                TokenKind::Op(CompareOp::Gt),
                word("j"),
            ]
        );
    }

    #[test]
    fn reads_functions_lists_and_pipes() {
        assert_eq!(
            kinds("| min(_time) as t, x IN (a,b)"),
            [
                TokenKind::Pipe,
                word("min"),
                TokenKind::LParen,
                word("_time"),
                TokenKind::RParen,
                word("as"),
                word("t"),
                TokenKind::Comma,
                word("x"),
                word("IN"),
                TokenKind::LParen,
                word("a"),
                TokenKind::Comma,
                word("b"),
                TokenKind::RParen,
            ]
        );
    }

    #[test]
    fn unescapes_quotes_and_keeps_other_backslashes() {
        assert_eq!(
            kinds(r#"x="a \"b\" \\ C:\Windows\*""#),
            [
                word("x"),
                TokenKind::Op(CompareOp::Eq),
                TokenKind::Quoted(r#"a "b" \ C:\Windows\*"#.to_owned())
            ]
        );
        assert_eq!(kinds(r"C:\x\*.exe"), [word(r"C:\x\*.exe")]);
        assert_eq!(kinds(r"*\\users\\public\\*"), [word(r"*\users\public\*")]);
        assert_eq!(
            kinds(r#"a=*\"privileged\":true*"#),
            [word("a"), TokenKind::Op(CompareOp::Eq), word(r#"*"privileged":true*"#)]
        );
        assert_eq!(kinds("ä!b"), [word("ä!b")]);
    }

    #[test]
    fn spans_cover_the_token() {
        let tokens = tokenize(r#"ab "c\"d" ,"#).unwrap();
        let spans: Vec<_> = tokens.iter().map(|t| t.span.clone()).collect();
        assert_eq!(spans, [0..2, 3..9, 10..11]);
    }

    #[test]
    fn unclosed_quote_points_at_the_quote() {
        assert_eq!(tokenize(r#"a "b\""#), Err((SplErrorKind::UnclosedQuote, 2..3)));
    }

    #[test]
    fn brackets_are_one_token_quotes_respected() {
        let tokens = tokenize(r#"a [search b="]" [c]] d"#).unwrap();
        let spans: Vec<_> = tokens.iter().map(|t| (t.kind.clone(), t.span.clone())).collect();
        assert_eq!(spans, [(word("a"), 0..1), (TokenKind::Bracket, 2..20), (word("d"), 21..22)]);
        assert_eq!(tokenize("a [b").unwrap_err(), (SplErrorKind::UnclosedBracket, 2..3));
        assert_eq!(tokenize("a ]").unwrap_err(), (SplErrorKind::UnexpectedChar(']'), 2..3));
    }
}
