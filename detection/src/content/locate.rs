//! Where a character of a top-level string value sits in its YAML file: the line and column
//! of each character of `search`, whichever scalar style wrote it (plain, single- or
//! double-quoted, literal `|` or folded `>` block), so an error at column 212 of a search can
//! point at line 14, column 37 of the rule file. The value is decoded again here and used
//! only when it equals what the YAML parser read; anything unusual gives `None`, never a
//! wrong position.

/// Positions in the file of each character of a value.
#[derive(Debug, Clone)]
pub(crate) struct ValueMap {
    /// For each character of the value, in order, its 1-based line and column (in characters)
    /// in the file. A line break that folding turned into a space points at the end of its line.
    positions: Vec<(usize, usize)>,
    /// Byte offset in the value of each character, parallel to `positions`.
    offsets: Vec<usize>,
}

impl ValueMap {
    /// The file line and column of the character at byte `offset` of the value (clamped to
    /// the last character).
    pub(crate) fn position(&self, offset: usize) -> Option<(usize, usize)> {
        let idx = self.offsets.partition_point(|&start| start <= offset).checked_sub(1)?;
        self.positions.get(idx).copied()
    }
}

/// Maps the top-level `key`'s value in `text` when it decodes to exactly `value`.
pub(crate) fn locate_value(text: &str, key: &str, value: &str) -> Option<ValueMap> {
    let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let prefix = format!("{key}:");
    let mut idx = lines.iter().position(|line| line.starts_with(&prefix))?;
    let mut col = prefix.chars().count() + 1;
    // The value may start on a later line, indented under the key.
    loop {
        let line_rest: String = lines[idx].chars().skip(col - 1).collect();
        let blanks = line_rest.chars().take_while(|c| *c == ' ' || *c == '\t').count();
        if blanks < line_rest.chars().count() && !line_rest.trim_start().starts_with('#') {
            col += blanks;
            break;
        }
        idx += 1;
        if !lines.get(idx)?.starts_with(' ') && !lines[idx].trim().is_empty() {
            return None;
        }
        col = 1;
    }
    let rest: String = lines[idx].chars().skip(col - 1).collect();
    let mut decoder =
        Decoder { lines: &lines, out: String::new(), positions: Vec::new(), offsets: Vec::new() };
    match rest.chars().next()? {
        '\'' => decoder.flow(idx, col, true)?,
        '"' => decoder.flow(idx, col, false)?,
        '|' | '>' => decoder.block(idx, &rest)?,
        _ => decoder.plain(idx, col)?,
    }
    (decoder.out == value)
        .then_some(ValueMap { positions: decoder.positions, offsets: decoder.offsets })
}

struct Decoder<'a> {
    lines: &'a [&'a str],
    out: String,
    positions: Vec<(usize, usize)>,
    offsets: Vec<usize>,
}

impl Decoder<'_> {
    fn push(&mut self, ch: char, line_idx: usize, col: usize) {
        self.offsets.push(self.out.len());
        self.positions.push((line_idx + 1, col));
        self.out.push(ch);
    }

    /// The characters of line `idx` from 1-based column `col` on, with their columns.
    fn chars_from(&self, idx: usize, col: usize) -> Vec<(usize, char)> {
        self.lines[idx].chars().enumerate().skip(col - 1).map(|(i, c)| (i + 1, c)).collect()
    }

    /// A single- or double-quoted scalar whose opening quote is at `col` of line `idx`.
    /// Line breaks fold as YAML's flow scalars do: trailing and leading white space goes, one
    /// break becomes a space, each further empty line a newline.
    fn flow(&mut self, mut idx: usize, col: usize, single: bool) -> Option<()> {
        let quote = if single { '\'' } else { '"' };
        let mut chars = self.chars_from(idx, col + 1);
        let mut pos = 0;
        loop {
            if pos >= chars.len() {
                // End of a line inside the scalar: fold.
                self.trim_trailing_blanks(idx);
                let break_col = self.lines[idx].chars().count() + 1;
                let mut empty = 0;
                idx += 1;
                while self.lines.get(idx)?.trim().is_empty() {
                    empty += 1;
                    idx += 1;
                }
                if empty == 0 {
                    self.push(' ', idx - 1, break_col);
                } else {
                    for _ in 0..empty {
                        self.push('\n', idx - 1, 1);
                    }
                }
                let line = self.lines[idx];
                let indent = line.chars().take_while(|c| *c == ' ' || *c == '\t').count();
                chars = self.chars_from(idx, indent + 1);
                pos = 0;
                continue;
            }
            let (c_col, ch) = chars[pos];
            if ch == quote {
                if single && chars.get(pos + 1).is_some_and(|(_, next)| *next == '\'') {
                    self.push('\'', idx, c_col);
                    pos += 2;
                    continue;
                }
                return Some(());
            }
            if ch == '\\' && !single {
                let Some(&(_, escape)) = chars.get(pos + 1) else {
                    // An escaped line break: the lines join without a space.
                    idx += 1;
                    let line = self.lines.get(idx)?;
                    let indent = line.chars().take_while(|c| *c == ' ' || *c == '\t').count();
                    chars = self.chars_from(idx, indent + 1);
                    pos = 0;
                    continue;
                };
                let (decoded, used) = decode_escape(escape, &chars[pos + 2..])?;
                self.push(decoded, idx, c_col);
                pos += 2 + used;
                continue;
            }
            self.push(ch, idx, c_col);
            pos += 1;
        }
    }

    /// Removes the white space the value got from the end of line `idx` before a fold.
    fn trim_trailing_blanks(&mut self, idx: usize) {
        while self.out.ends_with([' ', '\t'])
            && self.positions.last().is_some_and(|(line, _)| *line == idx + 1)
        {
            self.out.pop();
            self.positions.pop();
            self.offsets.pop();
        }
    }

    /// A plain scalar starting at `col` of line `idx`, continued on lines indented more than
    /// the key; it ends at a line that is not, or at a ` #` comment.
    fn plain(&mut self, mut idx: usize, col: usize) -> Option<()> {
        let mut chars = self.chars_from(idx, col);
        loop {
            let mut prev_blank = false;
            for &(c_col, ch) in &chars {
                if ch == '#' && prev_blank {
                    break;
                }
                prev_blank = ch == ' ' || ch == '\t';
                self.push(ch, idx, c_col);
            }
            self.trim_trailing_blanks(idx);
            let break_col = self.lines[idx].chars().count() + 1;
            let mut next = idx + 1;
            let mut empty = 0;
            while self.lines.get(next).is_some_and(|l| l.trim().is_empty()) {
                empty += 1;
                next += 1;
            }
            let Some(line) = self.lines.get(next) else { return Some(()) };
            let indent = line.chars().take_while(|c| *c == ' ').count();
            if indent == 0 || line.trim_start().starts_with('#') {
                return Some(());
            }
            if empty == 0 {
                self.push(' ', idx, break_col);
            } else {
                for _ in 0..empty {
                    self.push('\n', idx, break_col);
                }
            }
            idx = next;
            chars = self.chars_from(idx, indent + 1);
        }
    }

    /// A literal (`|`) or folded (`>`) block scalar whose header (`|`, `>-`, `|+2`, …) is
    /// `header`, on line `idx`.
    fn block(&mut self, idx: usize, header: &str) -> Option<()> {
        let header = header.split(" #").next()?.trim_end();
        let folded = header.starts_with('>');
        let mut chomp = Chomp::Clip;
        let mut indent: Option<usize> = None;
        for ch in header.chars().skip(1) {
            match ch {
                '-' => chomp = Chomp::Strip,
                '+' => chomp = Chomp::Keep,
                '1'..='9' => indent = Some(ch.to_digit(10)? as usize),
                _ => return None,
            }
        }
        let body: Vec<usize> = (idx + 1..self.lines.len())
            .take_while(|&i| {
                let line = self.lines[i];
                line.trim().is_empty() || line.starts_with(' ')
            })
            .collect();
        let indent = if let Some(indent) = indent {
            indent
        } else {
            let first = body.iter().find(|&&i| !self.lines[i].trim().is_empty())?;
            self.lines[*first].chars().take_while(|c| *c == ' ').count()
        };
        // Content lines, with empty lines kept to count newlines.
        let content: Vec<usize> = body.clone();
        let last_text = content.iter().rposition(|&i| !self.lines[i].trim().is_empty());
        let mut previous_more_indented = true;
        let mut pending_breaks = 0_usize;
        let mut wrote_text = false;
        for (n, &i) in content.iter().enumerate() {
            let line = self.lines[i];
            if line.trim().is_empty() {
                pending_breaks += 1;
                continue;
            }
            let more_indented = line.chars().nth(indent).is_some_and(|c| c == ' ' || c == '\t');
            if wrote_text {
                let break_col = self.lines[content[n - 1 - pending_breaks]].chars().count() + 1;
                let break_line = content[n - 1 - pending_breaks];
                if folded && pending_breaks == 0 && !more_indented && !previous_more_indented {
                    self.push(' ', break_line, break_col);
                } else {
                    let breaks = if folded && !more_indented && !previous_more_indented {
                        pending_breaks
                    } else {
                        pending_breaks + 1
                    };
                    for _ in 0..breaks {
                        self.push('\n', break_line, break_col);
                    }
                }
            } else {
                for _ in 0..pending_breaks {
                    self.push('\n', i, 1);
                }
            }
            pending_breaks = 0;
            for (c_col, ch) in self.chars_from(i, indent + 1) {
                self.push(ch, i, c_col);
            }
            wrote_text = true;
            previous_more_indented = more_indented;
            if Some(n) == last_text {
                break;
            }
        }
        let trailing = content.len() - last_text.map_or(0, |n| n + 1);
        let end_line = last_text.map_or(idx, |n| content[n]);
        let end_col = self.lines[end_line].chars().count() + 1;
        match chomp {
            Chomp::Clip if wrote_text => self.push('\n', end_line, end_col),
            Chomp::Strip | Chomp::Clip => {}
            Chomp::Keep => {
                let breaks = if wrote_text { trailing + 1 } else { trailing };
                for _ in 0..breaks {
                    self.push('\n', end_line, end_col);
                }
            }
        }
        Some(())
    }
}

enum Chomp {
    Clip,
    Strip,
    Keep,
}

/// A double-quoted escape after its backslash: the character and how many characters after
/// `escape` it used.
fn decode_escape(escape: char, rest: &[(usize, char)]) -> Option<(char, usize)> {
    let hex = |n: usize| -> Option<(char, usize)> {
        let digits: String = rest.iter().take(n).map(|(_, c)| *c).collect();
        (digits.len() == n).then_some(())?;
        Some((char::from_u32(u32::from_str_radix(&digits, 16).ok()?)?, n))
    };
    Some(match escape {
        '0' => ('\0', 0),
        'a' => ('\u{7}', 0),
        'b' => ('\u{8}', 0),
        't' | '\t' => ('\t', 0),
        'n' => ('\n', 0),
        'v' => ('\u{b}', 0),
        'f' => ('\u{c}', 0),
        'r' => ('\r', 0),
        'e' => ('\u{1b}', 0),
        ' ' => (' ', 0),
        '"' => ('"', 0),
        '/' => ('/', 0),
        '\\' => ('\\', 0),
        'N' => ('\u{85}', 0),
        '_' => ('\u{a0}', 0),
        'L' => ('\u{2028}', 0),
        'P' => ('\u{2029}', 0),
        'x' => hex(2)?,
        'u' => hex(4)?,
        'U' => hex(8)?,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the decoder against `serde_yaml` and returns the position of `needle`'s first byte.
    #[track_caller]
    fn position_of(text: &str, needle: &str) -> (usize, usize) {
        #[derive(serde::Deserialize)]
        struct Rule {
            search: String,
        }
        let value = serde_yaml::from_str::<Rule>(text).unwrap().search;
        let map = locate_value(text, "search", &value).expect("decodes to the parsed value");
        map.position(value.find(needle).expect("needle in value")).unwrap()
    }

    #[test]
    fn single_quoted_lines_fold_and_quotes_double() {
        let text = "name: x\nsearch: '| tstats count\n  where a=''b''\n\n  | c \"d'\nother: 1\n";
        assert_eq!(position_of(text, "where"), (3, 3));
        assert_eq!(position_of(text, "'b"), (3, 11));
        assert_eq!(position_of(text, "| c"), (5, 3));
        assert_eq!(position_of(text, "\"d"), (5, 7));
    }

    #[test]
    fn double_quoted_escapes_and_continuations() {
        let text = "search: \"a \\\"q\\\" \\\n    b\\tc\n  d\"\n";
        assert_eq!(position_of(text, "\"q"), (1, 12));
        assert_eq!(position_of(text, "b"), (2, 5));
        assert_eq!(position_of(text, "d"), (3, 3));
    }

    #[test]
    fn plain_scalars_fold_until_a_key() {
        let text = "search: (`m` x=1) OR\n  (y=\"2\") | z # note\nnext: 1\n";
        assert_eq!(position_of(text, "(y"), (2, 3));
        assert_eq!(position_of(text, "z"), (2, 13));
    }

    #[test]
    fn literal_and_folded_blocks() {
        let literal = "search: |\n  | tstats count\n    where x\n\n  | y\nnext: 1\n";
        assert_eq!(position_of(literal, "where"), (3, 5));
        assert_eq!(position_of(literal, "| y"), (5, 3));
        let folded = "search: >-\n    a b\n    c\n\n    d\n      e\n    f\nnext: 1\n";
        assert_eq!(position_of(folded, "c"), (3, 5));
        assert_eq!(position_of(folded, "d"), (5, 5));
        assert_eq!(position_of(folded, "e"), (6, 7));
        assert_eq!(position_of(folded, "f"), (7, 5));
        let kept = "search: |+\n  a\n\nnext: 1\n";
        assert_eq!(position_of(kept, "a"), (2, 3));
    }

    #[test]
    fn a_value_may_start_on_the_next_line() {
        let text = "search:\n  \"`m` x\n  | y\"\nnext: 1\n";
        assert_eq!(position_of(text, "| y"), (3, 3));
    }

    #[test]
    fn a_value_it_cannot_reproduce_gives_none() {
        assert!(locate_value("search: 'a b'\n", "search", "a  b").is_none());
        assert!(locate_value("other: 'a'\n", "search", "a").is_none());
    }
}
