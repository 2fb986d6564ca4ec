//! A reader for events of the shape exports are written in: plain names, attributes quoted
//! and spaced the usual way, no comments, CDATA, prefixes or declarations. It finds tags
//! with `memchr` and borrows every name and value from the text, where quick-xml's reader
//! and attribute iterator cost most of an event's reading. It does not decide what is
//! malformed: at anything it does not know, it gives up and the event is read by quick-xml.

use std::borrow::Cow;

use memchr::memchr;

use super::{
    AttributeVisitor, Event, Location, SkipReason, StartTag, Token, Tokens, data_field_name,
    new_event, read_tokens,
};

/// Deeper events go to quick-xml; a Sysmon event is three deep.
const MAX_DEPTH: usize = 8;
/// Tags with more attributes go to quick-xml; a System element has at most four.
const MAX_ATTRIBUTES: usize = 8;

/// The event in `text`, or `None` when its shape is one this reader leaves to quick-xml
/// (which may still read it, or say why it is malformed).
pub(super) fn parse(text: &str, location: &Location) -> Option<Event> {
    let mut scanner = Scanner { text, at: 0, open: [""; MAX_DEPTH], depth: 0 };
    read_tokens(text, &mut scanner, new_event(location.clone())).ok()
}

struct Scanner<'a> {
    text: &'a str,
    /// Where the next token starts.
    at: usize,
    /// Names of the open elements, so that end tags are checked as quick-xml checks them.
    open: [&'a str; MAX_DEPTH],
    depth: usize,
}

/// A start tag: its name and the text of its attributes, borrowed from the text. The
/// attributes are read again when asked for: a tag has few, and a small tag moves cheaply
/// from the scanner to the code that reads it.
pub(super) struct Tag<'a> {
    name: &'a str,
    /// From after the name to the `>` or `/>`, every attribute checked well-formed.
    attributes: &'a str,
    /// Whether the attributes may be prefixed (the root's `xmlns:xsi`).
    root: bool,
    /// The first attribute's key and value, as read while the tag was checked: a `Data`
    /// element's `Name` is asked for once per field, and this answers it.
    first: (&'a str, &'a str),
}

impl<'a> Tag<'a> {
    /// Every attribute's key and value, in order.
    fn pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        let (text, root) = (self.attributes, self.root);
        let mut at = 0;
        std::iter::from_fn(move || {
            at += text.as_bytes().get(at..)?.iter().take_while(|b| is_space(**b)).count();
            let (key, value, end) = split_attribute(text, at, root)?;
            at = end;
            Some((key, value))
        })
    }
}

/// The attribute `key='value'` (or `key="value"`) at `at` in `text`: its key, its value and
/// where it ends; `None` when none is written there the usual way. Only the root's keys may
/// be prefixed (`xmlns:xsi`): nobody reads them.
fn split_attribute(text: &str, at: usize, root: bool) -> Option<(&str, &str, usize)> {
    let bytes = text.as_bytes();
    let mut key_end = at + name_len(bytes.get(at..)?);
    if root && bytes.get(key_end) == Some(&b':') {
        key_end += 1 + name_len(bytes.get(key_end + 1..)?);
    }
    let quote = match (bytes.get(key_end), bytes.get(key_end + 1)) {
        (Some(b'='), Some(quote @ (b'\'' | b'"'))) if key_end > at => *quote,
        _ => return None,
    };
    let value_start = key_end + 2;
    // quick-xml finds a tag's end past a quoted `>`; this reader does not try.
    let value = bytes.get(value_start..)?;
    let value_end = value_start + value.iter().position(|byte| !VALUE_BYTES[usize::from(*byte)])?;
    if bytes.get(value_end) != Some(&quote) {
        return None;
    }
    Some((text.get(at..key_end)?, text.get(value_start..value_end)?, value_end + 1))
}

/// The `Name` of a `<Data Name='…'` (or `"…"`) written at `lt` as exports write it, and
/// where its tag goes on after the closing quote; `None` for any other tag, or a name
/// [`split_attribute`] would not take.
fn data_start(text: &str, lt: usize) -> Option<(&str, usize)> {
    const START: &[u8] = b"<Data Name=";
    let bytes = text.as_bytes();
    let quote = match bytes.get(lt..lt + START.len() + 1)?.split_last()? {
        (quote @ (b'\'' | b'"'), start) if start == START => *quote,
        _ => return None,
    };
    let name_start = lt + START.len() + 1;
    let name = bytes.get(name_start..)?;
    let name_end = name_start + name.iter().position(|byte| !VALUE_BYTES[usize::from(*byte)])?;
    if bytes.get(name_end) != Some(&quote) {
        return None;
    }
    Some((text.get(name_start..name_end)?, name_end + 1))
}

/// Giving up: quick-xml reads the event instead, so no message is needed.
fn unusual() -> SkipReason {
    SkipReason::Malformed(String::new())
}

/// The bytes a name may hold after its first: ASCII letters and digits, `_`, `-` and `.`.
const NAME_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte: u8 = 0;
    loop {
        table[byte as usize] = byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.');
        if byte == u8::MAX {
            break table;
        }
        byte += 1;
    }
};

/// The bytes an attribute value may hold here: any but quotes, `<` and `>`.
const VALUE_BYTES: [bool; 256] = {
    let mut table = [true; 256];
    table[b'\'' as usize] = false;
    table[b'"' as usize] = false;
    table[b'<' as usize] = false;
    table[b'>' as usize] = false;
    table
};

/// Length of the name at the start of `bytes`: an ASCII letter or `_`, then letters,
/// digits, `_`, `-` and `.`; 0 when none starts there. Prefixed names (`a:b`) end at `:`.
fn name_len(bytes: &[u8]) -> usize {
    match bytes.first() {
        Some(first) if first.is_ascii_alphabetic() || *first == b'_' => {
            bytes.iter().position(|byte| !NAME_BYTES[usize::from(*byte)]).unwrap_or(bytes.len())
        }
        _ => 0,
    }
}

/// Where the next `<` is in `bytes`. Most of what lies between tags is a short value,
/// where a plain loop costs less than setting up `memchr`'s vector search.
fn find_tag(bytes: &[u8]) -> Option<usize> {
    const SHORT: usize = 48;
    match bytes.iter().take(SHORT).position(|byte| *byte == b'<') {
        Some(at) => Some(at),
        None => Some(SHORT + memchr(b'<', bytes.get(SHORT..)?)?),
    }
}

/// XML's whitespace, as quick-xml takes it.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

impl<'a> Scanner<'a> {
    /// The end tag whose `</` is at `lt`.
    fn end_tag(&mut self, lt: usize) -> Result<(Token<Tag<'a>>, usize, usize), SkipReason> {
        let bytes = self.text.as_bytes();
        let start = lt + 2;
        let end = start + name_len(bytes.get(start..).unwrap_or_default());
        if bytes.get(end) != Some(&b'>') || self.depth == 0 {
            return Err(unusual());
        }
        let name = self.text.get(start..end).ok_or_else(unusual)?;
        if self.open.get(self.depth - 1) != Some(&name) {
            return Err(unusual());
        }
        self.depth -= 1;
        self.at = end + 1;
        Ok((Token::End, lt, self.at))
    }

    /// The start tag whose `<` is at `lt`.
    fn start_tag(&mut self, lt: usize) -> Result<(Token<Tag<'a>>, usize, usize), SkipReason> {
        let (text, bytes) = (self.text, self.text.as_bytes());
        let start = lt + 1;
        let end = start + name_len(bytes.get(start..).unwrap_or_default());
        let name = text.get(start..end).filter(|name| !name.is_empty()).ok_or_else(unusual)?;
        let root = self.depth == 0;
        let mut at = end;
        let mut keys = [""; MAX_ATTRIBUTES];
        let mut first = ("", "");
        let mut count = 0;
        loop {
            let spaces = bytes.get(at..).unwrap_or_default().iter().take_while(|b| is_space(**b));
            let spaced_to = at + spaces.count();
            let tag =
                |to| Tag { name, attributes: text.get(end..to).unwrap_or_default(), root, first };
            match bytes.get(spaced_to) {
                Some(b'>') => {
                    let slot = self.open.get_mut(self.depth).ok_or_else(unusual)?;
                    *slot = name;
                    self.depth += 1;
                    self.at = spaced_to + 1;
                    return Ok((Token::Start(tag(spaced_to)), lt, self.at));
                }
                Some(b'/') if bytes.get(spaced_to + 1) == Some(&b'>') && !root => {
                    self.at = spaced_to + 2;
                    return Ok((Token::Empty(tag(spaced_to)), lt, self.at));
                }
                Some(_) if spaced_to > at && count < MAX_ATTRIBUTES => {
                    let (key, value, after) =
                        split_attribute(text, spaced_to, root).ok_or_else(unusual)?;
                    // A key given twice is an error to quick-xml, found or not.
                    if keys.get(..count).unwrap_or_default().contains(&key) {
                        return Err(unusual());
                    }
                    *keys.get_mut(count).ok_or_else(unusual)? = key;
                    if count == 0 {
                        first = (key, value);
                    }
                    count += 1;
                    at = after;
                }
                _ => return Err(unusual()),
            }
        }
    }
}

impl<'a> Tokens<'a> for Scanner<'a> {
    type Tag = Tag<'a>;

    fn data_elements(&mut self, event: &mut Event) -> usize {
        let (text, bytes) = (self.text, self.text.as_bytes());
        let mut read = 0;
        loop {
            // What lies between elements is never read here, as in `next_token`.
            let Some(lt) = bytes.get(self.at..).and_then(find_tag).map(|at| self.at + at) else {
                return read;
            };
            let Some((name, after)) = data_start(text, lt) else { return read };
            let name = data_field_name(Cow::Borrowed(name));
            match bytes.get(after) {
                Some(b'>') => {
                    let value_start = after + 1;
                    let Some(value_end) =
                        bytes.get(value_start..).and_then(find_tag).map(|at| value_start + at)
                    else {
                        return read;
                    };
                    let end_tag = b"</Data>";
                    if bytes.get(value_end..value_end + end_tag.len()) != Some(end_tag.as_slice()) {
                        return read;
                    }
                    let Some(value) = text.get(value_start..value_end) else { return read };
                    event.data.push(&name, value);
                    self.at = value_end + end_tag.len();
                }
                Some(b'/') if bytes.get(after + 1) == Some(&b'>') => {
                    event.data.push(&name, "");
                    self.at = after + 2;
                }
                _ => return read,
            }
            read += 1;
        }
    }

    fn next_token(&mut self) -> Result<(Token<Tag<'a>>, usize, usize), SkipReason> {
        let bytes = self.text.as_bytes();
        let from = self.at;
        let rest = bytes.get(from..).unwrap_or_default();
        // Text is not a token here: nobody reads it but through the offsets of the tags
        // around it. Before the root only whitespace is known.
        let lt = from + find_tag(rest).ok_or_else(unusual)?;
        if self.depth == 0
            && !rest.get(..lt - from).unwrap_or_default().iter().all(|b| is_space(*b))
        {
            return Err(unusual());
        }
        match bytes.get(lt + 1) {
            Some(b'/') => self.end_tag(lt),
            _ => self.start_tag(lt),
        }
    }
}

impl<'a> StartTag<'a> for Tag<'a> {
    fn local_name(&self) -> &[u8] {
        self.name.as_bytes()
    }

    fn local_text(&self) -> Option<Cow<'a, str>> {
        Some(Cow::Borrowed(self.name))
    }

    fn has_attributes(&self) -> bool {
        !self.attributes.trim_ascii().is_empty()
    }

    fn attribute(&self, key: &[u8]) -> Result<Option<Cow<'a, str>>, SkipReason> {
        let (first_key, first_value) = self.first;
        if !first_key.is_empty() && first_key.as_bytes() == key {
            return Ok(Some(Cow::Borrowed(first_value)));
        }
        Ok(self.pairs().find(|(name, _)| name.as_bytes() == key).map(|(_, value)| value.into()))
    }

    fn for_each_attribute(&self, each: &mut AttributeVisitor<'_>) -> Result<(), SkipReason> {
        self.pairs().try_for_each(|(key, value)| each(key.as_bytes(), value))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::super::{parse_text, parse_text_in_full};
    use super::*;

    fn location() -> Location {
        Location { source: Arc::from("t.xml"), line: Some(1), byte_offset: Some(0), record: None }
    }

    /// A Sysmon process creation as `attack_data` exports write it.
    const SYSMON: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>\
        <System><Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385f-c22a-43e0-bf4c-06f5698ffbd9}'/>\
        <EventID>1</EventID><Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode>\
        <Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='2024-03-01T00:00:00.0121410Z'/>\
        <EventRecordID>1001</EventRecordID><Correlation/><Execution ProcessID='3182' ThreadID='9590'/>\
        <Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>ws-1.corp.example</Computer>\
        <Security UserID='S-1-5-18'/></System><EventData><Data Name='RuleName'>-</Data>\
        <Data Name='Image'>C:\\Windows\\System32\\rundll32.exe</Data>\
        <Data Name='CommandLine'>rundll32.exe C:\\windows\\System32\\comsvcs.dll, MiniDump 624 \
        C:\\temp\\out.dmp full &amp; echo &quot;done&quot; &#x3E; 1</Data>\
        <Data Name='User'>CORP\\alice</Data></EventData></Event>";

    /// A Security event written out the way Windows renders it: double quotes, line breaks
    /// and indentation, an `EventID` with `Qualifiers`, and its `RenderingInfo`.
    const SECURITY: &str = "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\">\n\
        \x20 <System>\n    <Provider Name=\"Microsoft-Windows-Security-Auditing\" />\n\
        \x20   <EventID Qualifiers=\"16384\">4688</EventID>\n\
        \x20   <TimeCreated SystemTime=\"2021-01-14T23:41:39.123456700Z\" />\n\
        \x20   <Channel>Security</Channel>\n    <Computer>dc01</Computer>\n  </System>\n\
        \x20 <EventData>\n    <Data Name=\"NewProcessName\">C:\\x.exe</Data>\n\
        \x20   <Data Name=\"Process Name\">y</Data>\n    <Data>unnamed</Data>\n\
        \x20   <Data Name=\"Empty\" />\n  </EventData>\n\
        \x20 <RenderingInfo Culture=\"en-US\"><Message>A process was created.</Message></RenderingInfo>\n\
        </Event>";

    /// 1102: `UserData` with a part extracted whole.
    const USER_DATA: &str = "<Event><System><EventID>1102</EventID>\
        <TimeCreated SystemTime='2021-01-14T23:41:39Z'/><Channel>Security</Channel></System>\
        <UserData><LogFileCleared xmlns='http://manifests.microsoft.com/win/2004/08/windows/eventlog'>\
        <SubjectUserName>bob</SubjectUserName><SubjectDomainName>CORP</SubjectDomainName>\
        </LogFileCleared></UserData></Event>";

    #[test]
    fn usual_shapes_are_read_by_the_scanner_as_quick_xml_reads_them() {
        for text in [SYSMON, SECURITY, USER_DATA] {
            let scanned = parse(text, &location());
            assert!(scanned.is_some(), "the scanner left a usual shape to quick-xml: {text}");
            assert_eq!(scanned.ok_or(()), parse_text_in_full(text, location()).map_err(|_| ()));
        }
    }

    #[test]
    fn unusual_shapes_are_left_to_quick_xml() {
        let data = "<Data Name='a'>v</Data>";
        let event = |event_data: &str| {
            format!(
                "<Event><System><EventID>1</EventID><TimeCreated SystemTime='2021-01-14T23:41:39Z'/>\
                 </System><EventData>{event_data}</EventData></Event>"
            )
        };
        let cases = [
            (event(&format!("<!-- a comment -->{data}")), "a comment"),
            (event("<Data Name='a'><![CDATA[x<y]]></Data>"), "CDATA"),
            (event("<ns:Data Name='a'>v</ns:Data>"), "a prefixed element"),
            (event("<Data Name = 'a'>v</Data>"), "spaces around `=`"),
            (event("<Data Name='a' Name='b'>v</Data>"), "a key given twice"),
            (event("<Data Name=a>v</Data>"), "an unquoted value"),
            (event("<Data Name='a>b'>v</Data>"), "`>` in a value"),
            (event("<Data Name='a'Other='b'>v</Data>"), "attributes not spaced apart"),
            (event("<Data Name='a'>v</Datum>"), "a mismatched end tag"),
            (event("<Data Name='a'>v</Data >"), "a spaced end tag"),
            (event("<?pi x?>"), "a processing instruction"),
            (format!("x{}", event(data)), "text before the root"),
            ("<Event/>".to_owned(), "an empty root"),
            (event(data).replace("</Event>", ""), "no end"),
        ];
        for (text, why) in cases {
            assert!(parse(&text, &location()).is_none(), "{why}: {text}");
            assert_eq!(parse_text(&text, location()), parse_text_in_full(&text, location()));
        }
    }

    #[test]
    fn data_elements_are_read_in_one_go_until_one_is_unusual() {
        // The shortcut reads `<Data Name='…'>…</Data>` and `<Data Name='…'/>` as exports
        // write them and stops before any other shape, which the tokens then read: the event
        // is what quick-xml reads either way.
        let usual =
            "<Data Name='A'>1</Data>\n  <Data Name=\"B C\">x &amp; y</Data><Data Name='D'/>";
        let bodies = [
            (format!("{usual}<Data Name='E' >2</Data>{usual}"), 3),
            (format!("{usual}<Data Name='E'>2<b/></Data>"), 3),
            (format!("{usual}<Data Name='E'>2</Data >"), 3),
            (format!("{usual}<Data Name = 'E'>2</Data>"), 3),
            (format!("{usual}<Data Name='E' Other='x'>2</Data>"), 3),
            (format!("{usual}<Data Name='E\"'>2</Data>"), 3),
            (format!("{usual}<!-- c --><Data Name='E'>2</Data>"), 3),
            (format!("<Data>unnamed</Data>{usual}"), 0),
            (format!("{usual}<Data Name='E'>2</Datum>"), 3),
            (format!("{usual}<Data Name='E'>2"), 3),
        ];
        for (body, read) in bodies {
            let text = format!(
                "<Event><System><EventID>1</EventID><TimeCreated SystemTime='2021-01-14T23:41:39Z'/>\
                 </System><EventData>{body}</EventData></Event>"
            );
            let at = text.find("<EventData>").unwrap() + "<EventData>".len();
            let mut scanner = Scanner { text: &text, at, open: [""; MAX_DEPTH], depth: 2 };
            let mut event = new_event(location());
            assert_eq!(scanner.data_elements(&mut event), read, "{body}");
            assert_eq!(event.data.iter().count(), read, "{body}");
            assert_eq!(parse_text(&text, location()), parse_text_in_full(&text, location()));
        }
    }

    /// Pieces inserted into a usual event to make shapes both readers must agree on.
    const PIECES: &[&str] = &[
        "<",
        ">",
        "</",
        "/>",
        "'",
        "\"",
        "=",
        " ",
        "\n",
        "\t",
        ":",
        "é",
        "&amp;",
        "&lt;",
        "<!-- c -->",
        "<![CDATA[x]]>",
        "<?pi?>",
        "<Data Name='X'>v</Data>",
        "<Data>w</Data>",
        "<Data Name=\"Y\"/>",
        "<Data Name='Process Name'>z</Data>",
        "<EventID>7</EventID>",
        "<EventID Qualifiers='1'>8</EventID>",
        "<System>",
        "</System>",
        "<EventData>",
        "</EventData>",
        " Name='n'",
        " Guid=\"g\"",
        " a:b='c'",
        "<UserData><A>b</A></UserData>",
        "<TimeCreated SystemTime='2022-02-02T02:02:02Z'/>",
        "<Provider Name='P'/>",
    ];

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::with_cases(2048)
        })]

        /// Whatever the text, an event is read alike by the scanner (or the quick-xml it
        /// hands unusual shapes to) and by quick-xml alone: the same event or the same skip.
        #[test]
        fn the_scanner_reads_as_quick_xml_does(
            edits in proptest::collection::vec((0..3u8, any::<prop::sample::Index>(), 0..PIECES.len(), 0..6usize), 0..4),
            base in 0..3usize,
        ) {
            let mut text = [SYSMON, SECURITY, USER_DATA][base].to_owned();
            for (kind, at, piece, len) in edits {
                let boundaries: Vec<usize> =
                    text.char_indices().map(|(at, _)| at).chain([text.len()]).collect();
                // Edits go next to markup, where the two readers could part.
                let marks: Vec<usize> = text
                    .char_indices()
                    .filter(|(_, c)| "<>/='\" ".contains(*c))
                    .flat_map(|(at, _)| [at, at + 1])
                    .collect();
                let at = marks[at.index(marks.len())];
                match kind {
                    0 => text.insert_str(at, PIECES[piece]),
                    1 => {
                        let end = boundaries.iter().copied().find(|end| *end >= at + len).unwrap_or(text.len());
                        text.replace_range(at..end, "");
                    }
                    _ => text.insert_str(at, &PIECES[piece].repeat(len)),
                }
            }
            prop_assert_eq!(parse_text(&text, location()), parse_text_in_full(&text, location()));
        }
    }
}
