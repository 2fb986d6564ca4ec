//! Text from the input made safe to show on a terminal. Event values, channel names and file
//! names can hold anything an attacker got logged; on a terminal an ESC starts a control
//! sequence, a line break forges a line, and a right-to-left override reverses what follows.

use std::borrow::Cow;

/// `text` with control characters and the marks that reorder text written as Rust escapes
/// (`\n`, `\t`, `\u{1b}`, `\u{202e}`); everything else, backslashes included, as it is.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            escaped.extend(c.escape_debug());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// C0 and C1 controls, DEL, and the bidirectional marks, embeddings, overrides and isolates.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn controls_and_reordering_marks_are_escaped_and_the_rest_kept() {
        assert_eq!(escape_controls(r"C:\Windows\rundll32.exe é"), r"C:\Windows\rundll32.exe é");
        assert_eq!(escape_controls("a\nb\tc\r\0"), r"a\nb\tc\r\0");
        assert_eq!(escape_controls("\u{1b}[2J\u{7}\u{9b}\u{7f}"), r"\u{1b}[2J\u{7}\u{9b}\u{7f}");
        assert_eq!(escape_controls("x\u{202e}exe.txt\u{2066}"), r"x\u{202e}exe.txt\u{2066}");
    }
}
