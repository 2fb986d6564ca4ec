//! Timestamps as Windows event sources write them, turned into microseconds since the Unix
//! epoch. Only the handful of layouts seen in exports are accepted; no time zone database.

use crate::spl::time_format::days_from_civil;

/// A parsed timestamp: whether the text named its offset from UTC decides whether it can be
/// trusted as UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stamp {
    /// The text ended in `Z` or `±hh:mm`: the instant is known.
    Utc(i64),
    /// No offset was written: wall-clock time somewhere, read as if it were UTC.
    Naive(i64),
}

impl Stamp {
    pub(crate) fn micros(self) -> i64 {
        match self {
            Stamp::Utc(micros) | Stamp::Naive(micros) => micros,
        }
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]` (a space may replace the `T`). Fractions
/// longer than six digits (EVTX writes seven, some exports nine) are truncated, as Splunk
/// keeps microseconds.
pub(crate) fn parse_timestamp(text: &str) -> Option<Stamp> {
    let bytes = text.trim().as_bytes();
    let year = digits(bytes, 0, 4)?;
    let month = digits(bytes, 5, 2)?;
    let day = digits(bytes, 8, 2)?;
    let hour = digits(bytes, 11, 2)?;
    let minute = digits(bytes, 14, 2)?;
    let second = digits(bytes, 17, 2)?;
    if bytes.get(4) != Some(&b'-')
        || bytes.get(7) != Some(&b'-')
        || !matches!(bytes.get(10), Some(b'T' | b' '))
        || bytes.get(13) != Some(&b':')
        || bytes.get(16) != Some(&b':')
    {
        return None;
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // 60 is a leap second; Windows never writes one, but it is still a valid instant.
    if second > 60 {
        return None;
    }
    let mut index = 19;
    let mut micros = 0;
    if bytes.get(index) == Some(&b'.') {
        index += 1;
        let mut scale = 100_000;
        let start = index;
        while let Some(byte) = bytes.get(index).filter(|byte| byte.is_ascii_digit()) {
            micros += i64::from(byte - b'0') * scale;
            scale /= 10;
            index += 1;
        }
        if index == start {
            return None;
        }
    }
    let days = days_from_civil(year, month, day);
    let local = ((days * 24 + hour) * 60 + minute) * 60 + second;
    let local_micros = local * 1_000_000 + micros;
    match bytes.get(index..) {
        Some([]) => Some(Stamp::Naive(local_micros)),
        Some([b'Z' | b'z']) => Some(Stamp::Utc(local_micros)),
        Some([sign @ (b'+' | b'-'), rest @ ..]) => {
            let (offset_hours, offset_minutes) = match rest {
                [_, _, b':', _, _] => (digits(rest, 0, 2)?, digits(rest, 3, 2)?),
                [_, _, _, _] => (digits(rest, 0, 2)?, digits(rest, 2, 2)?),
                _ => return None,
            };
            let offset = (offset_hours * 60 + offset_minutes) * 60 * 1_000_000;
            let utc = if *sign == b'+' { local_micros - offset } else { local_micros + offset };
            Some(Stamp::Utc(utc))
        }
        _ => None,
    }
}

fn digits(bytes: &[u8], start: usize, len: usize) -> Option<i64> {
    let slice = bytes.get(start..start + len)?;
    let mut value = 0;
    for byte in slice {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(byte - b'0');
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_seven_and_nine_digit_fractions() {
        assert_eq!(
            parse_timestamp("2019-08-30T12:54:08.123456789Z"),
            Some(Stamp::Utc(1_567_169_648_123_456))
        );
        assert_eq!(
            parse_timestamp("2019-08-30T12:54:08.1234567Z"),
            Some(Stamp::Utc(1_567_169_648_123_456))
        );
    }

    #[test]
    fn offsets_and_naive_times() {
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Some(Stamp::Utc(0)));
        assert_eq!(parse_timestamp("1970-01-01 00:00:01.5"), Some(Stamp::Naive(1_500_000)));
        assert_eq!(
            parse_timestamp("2020-02-29 00:00:00"),
            Some(Stamp::Naive(1_582_934_400_000_000))
        );
        assert_eq!(parse_timestamp("2020-13-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2020-01-01T00:00:00Q"), None);
        assert_eq!(parse_timestamp("2020-01-01T00:00:00."), None);
    }
}
