//! Classic (non-XML) `WinEventLog` text events, as the 2021 `attack_data` exports hold them
//! between or instead of XML events: a `MM/DD/YYYY hh:mm:ss AM` line, `Key=Value` header
//! lines (`LogName`, `SourceName`, `EventCode`, `ComputerName`, …) and a `Message=` that runs
//! to the end of the event over many lines. Fields are named as the classic export names them;
//! nothing is renamed to the XML names except where the Windows add-on does so itself.
//!
//! # Fields from the message
//!
//! Lines of the message written `Key:<tab>Value` become fields whose names are the keys with
//! every character other than a letter or digit turned into `_` (`Account Name` is
//! `Account_Name`), as Splunk's `CLEAN_KEYS` does ("replacing non-alphanumeric characters …
//! in field names with underscores", transforms.conf). A key with no value starts a section
//! (`Subject:`); a key given in several sections is a multivalue field, values in order. Keys
//! of the `Subject` and `Target` sections are also given prefixed (`Subject_Account_Name`,
//! `Target_Account_Name`), the prefixed names the data sources list for classic Security
//! events (`windows_event_log_system_4726.yml`); other sections are not prefixed.
//!
//! A PowerShell 4104 message (`Creating Scriptblock text (1 of 1):`, the script, `ScriptBlock
//! ID:`, `Path:`) gives `ScriptBlockText` whole, every line and line break of the script as
//! written, plus `MessageNumber`, `MessageTotal`, `ScriptBlockId` and `Path`: the names of the
//! XML event's fields, so that content written for either export reads it. Its script lines
//! are not read as `Key: Value` fields.

use super::{Event, Location, RawFormat, SkipReason, ValueForm, clean_key};

/// Parses one classic event from its text: the date line first, no line break at the end.
/// Values are verbatim slices of the text ([`ValueForm::ClassicText`]).
pub(crate) fn parse_event(text: &str, location: Location) -> Result<Event, SkipReason> {
    let mut event = Event::empty(ValueForm::ClassicText, RawFormat::Classic, location);
    text.clone_into(&mut event.raw);
    let (date_line, mut rest) = text.split_once('\n').unwrap_or((text, ""));
    event.time_micros = parse_date_line(date_line.trim()).ok_or_else(|| {
        SkipReason::Malformed(format!("classic event: bad date line {:?}", date_line.trim()))
    })?;
    let mut message = None;
    while !rest.is_empty() {
        let (line, next) = rest.split_once('\n').unwrap_or((rest, ""));
        if let Some(value) = line.strip_prefix("Message=") {
            // The message runs to the end of the event, line breaks and all.
            let start = text.len() - rest.len() + "Message=".len();
            message = Some(text.get(start..).unwrap_or(value));
            break;
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some((key, value)) = line.split_once('=')
            && is_header_key(key)
        {
            match header_name(key) {
                Some(name) => event.system.push(name, value),
                None => event.data.push(key, value),
            }
        }
        rest = next;
    }
    let field = |event: &Event, name: &str| event.system_field(name).map(str::to_owned);
    event.channel = field(&event, "LogName").unwrap_or_default();
    event.provider = field(&event, "SourceName").unwrap_or_default();
    event.computer = field(&event, "ComputerName").unwrap_or_default();
    event.record_id = event.system_field("RecordNumber").and_then(|id| id.trim().parse().ok());
    let code = event
        .system_field("EventCode")
        .ok_or_else(|| SkipReason::Malformed("classic event: no EventCode".to_owned()))?;
    event.event_id = code.trim().parse().map_err(|_| {
        SkipReason::Malformed(format!("classic event: EventCode {code:?} is not a number"))
    })?;
    if let Some(message) = message {
        event.system.push("Message", message);
        if event.event_id == 4104 && script_block_fields(&mut event, message) {
            return Ok(event);
        }
        message_fields(&mut event, message);
    }
    Ok(event)
}

/// `Key` of a `Key=Value` header line: a word of letters, digits and `_`.
fn is_header_key(key: &str) -> bool {
    key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The header keys a classic export writes, held as System fields.
fn header_name(key: &str) -> Option<&'static str> {
    Some(match key {
        "LogName" => "LogName",
        "SourceName" => "SourceName",
        "EventCode" => "EventCode",
        "EventType" => "EventType",
        "Type" => "Type",
        "ComputerName" => "ComputerName",
        "User" => "User",
        "Sid" => "Sid",
        "SidType" => "SidType",
        "TaskCategory" => "TaskCategory",
        "OpCode" => "OpCode",
        "RecordNumber" => "RecordNumber",
        "Keywords" => "Keywords",
        "Category" => "Category",
        _ => return None,
    })
}

/// `MM/DD/YYYY hh:mm:ss AM` (a 12-hour clock) as microseconds since the epoch. The export
/// writes no offset: the time is read as UTC.
fn parse_date_line(line: &str) -> Option<i64> {
    let (date, clock) = line.split_once(' ')?;
    let (clock, half) = clock.rsplit_once(' ')?;
    let mut date_parts = date.split('/').map(|part| part.parse::<i64>().ok());
    let (month, day, year) = (date_parts.next()??, date_parts.next()??, date_parts.next()??);
    let mut clock_parts = clock.split(':').map(|part| part.parse::<i64>().ok());
    let (hour, minute, second) = (clock_parts.next()??, clock_parts.next()??, clock_parts.next()??);
    if date_parts.next().is_some() || clock_parts.next().is_some() || !(1..=12).contains(&hour) {
        return None;
    }
    let hour = match half {
        "AM" | "am" => hour % 12,
        "PM" | "pm" => hour % 12 + 12,
        _ => return None,
    };
    let text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    super::time::parse_timestamp(&text).map(super::time::Stamp::micros)
}

/// `Key:<whitespace>Value` lines of a message as fields (see the module docs).
fn message_fields(event: &mut Event, message: &str) {
    let mut section: Option<String> = None;
    let mut prefixed = Vec::new();
    for line in message.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let Some((key, value)) = split_key(line) else {
            if line.trim().is_empty() {
                section = None;
            }
            continue;
        };
        let name = clean_key(key);
        if name.is_empty() {
            continue;
        }
        if value.is_empty() {
            section = Some(name);
            continue;
        }
        if let Some(section) = section.as_deref().filter(|s| matches!(*s, "Subject" | "Target")) {
            prefixed.push((format!("{section}_{name}"), value.to_owned()));
        }
        event.data.push(&name, value);
    }
    event.data.extend(prefixed);
}

/// The key and the trimmed value of a `Key: Value` line; the key is words (letters, digits,
/// spaces and a little punctuation) and the colon is followed by white space or the end.
fn split_key(line: &str) -> Option<(&str, &str)> {
    let colon = line.find(':')?;
    let (key, rest) = line.split_at(colon);
    let rest = rest.get(1..).unwrap_or_default();
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let key = key.trim();
    let word_like = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && key.len() <= 64
        && key.chars().all(|c| c.is_ascii_alphanumeric() || " _-()/.'".contains(c));
    word_like.then(|| (key, rest.trim()))
}

/// The fields of a 4104 script block message; `false` when the message is not one.
fn script_block_fields(event: &mut Event, message: &str) -> bool {
    const HEAD: &str = "Creating Scriptblock text (";
    let Some(counts) = message.strip_prefix(HEAD) else { return false };
    let Some((counts, _)) = counts.split_once("):") else { return false };
    let Some((number, total)) = counts.split_once(" of ") else { return false };
    let Some(script_start) = message.find('\n').map(|at| at + 1) else { return false };
    // The script ends at the last line that starts `ScriptBlock ID:`.
    let Some(id_line) = message.rfind("\nScriptBlock ID:").map(|at| at + 1) else {
        return false;
    };
    if id_line < script_start {
        return false;
    }
    let script = message.get(script_start..id_line).unwrap_or_default();
    // The blank line Windows writes between the script and its id is not the script's.
    let script = script.trim_end_matches(['\r', '\n']);
    let tail = message.get(id_line..).unwrap_or_default();
    let mut id = None;
    let mut path = None;
    for line in tail.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(value) = line.strip_prefix("ScriptBlock ID:") {
            id = Some(value.trim());
        } else if let Some(value) = line.strip_prefix("Path:") {
            path = Some(value.trim());
        }
    }
    let pairs = [
        ("MessageNumber", Some(number.trim())),
        ("MessageTotal", Some(total.trim())),
        ("ScriptBlockText", Some(script)),
        ("ScriptBlockId", id),
        ("Path", path),
    ];
    for (name, value) in pairs {
        if let Some(value) = value {
            event.data.push(name, value);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_hour_clock() {
        assert_eq!(parse_date_line("01/01/1970 12:00:01 AM"), Some(1_000_000));
        assert_eq!(parse_date_line("01/01/1970 12:00:00 PM"), Some(12 * 3600 * 1_000_000));
        assert_eq!(parse_date_line("01/01/1970 13:00:00 PM"), None);
        assert_eq!(parse_date_line("1970-01-01 00:00:00"), None);
    }

    #[test]
    fn keys_are_cleaned_as_splunk_does() {
        assert_eq!(clean_key("Account Name"), "Account_Name");
        assert_eq!(clean_key("Logon ID"), "Logon_ID");
        assert_eq!(clean_key("Service File Name"), "Service_File_Name");
        assert_eq!(
            split_key("\tProcess Name:\tC:\\Windows\\x.exe"),
            Some(("Process Name", "C:\\Windows\\x.exe"))
        );
        assert_eq!(split_key("Subject:"), Some(("Subject", "")));
        assert_eq!(split_key("C:\\Windows\\x.exe"), None);
        assert_eq!(split_key("https://example.com/a"), None);
    }
}
