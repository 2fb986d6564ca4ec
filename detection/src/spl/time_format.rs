//! `strftime`-style time formats as `convert timeformat=…` uses them, formatted in UTC. Only
//! the directives listed on [`TimeFormat`] are known; any other is a compile error rather
//! than text printed wrong.

/// A parsed time format. Directives: `%Y %y %m %d %e %H %I %M %S %p %b %B %h %a %A %j %Z %z
/// %s %T %F %D %R %% %3N %6N %9N %N` (subseconds: milliseconds, microseconds, nanoseconds, and
/// `%N` = milliseconds as Splunk's default).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TimeFormat {
    text: String,
    #[serde(skip)]
    items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Literal(String),
    Directive(char),
    /// Subsecond digits: 3, 6 or 9.
    Subsecond(usize),
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] =
    ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

impl TimeFormat {
    /// Splunk's default for `convert`: `%m/%d/%Y %H:%M:%S`.
    pub fn splunk_default() -> Self {
        // The default format only uses known directives.
        Self::parse("%m/%d/%Y %H:%M:%S")
            .unwrap_or_else(|_| Self { text: String::new(), items: Vec::new() })
    }

    /// Parses `text`, or returns the first directive it does not know.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut items = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(ch) = chars.next() {
            if ch != '%' {
                literal.push(ch);
                continue;
            }
            let item = match chars.next() {
                Some('%') => {
                    literal.push('%');
                    continue;
                }
                Some(
                    d @ ('Y' | 'y' | 'm' | 'd' | 'e' | 'H' | 'I' | 'M' | 'S' | 'p' | 'b' | 'B'
                    | 'h' | 'a' | 'A' | 'j' | 'Z' | 'z' | 's' | 'T' | 'F' | 'D' | 'R'),
                ) => Item::Directive(d),
                Some('N') => Item::Subsecond(3),
                Some(digit @ ('3' | '6' | '9')) if chars.peek() == Some(&'N') => {
                    chars.next();
                    Item::Subsecond(if digit == '3' {
                        3
                    } else if digit == '6' {
                        6
                    } else {
                        9
                    })
                }
                Some(other) => return Err(format!("%{other}")),
                None => return Err("%".to_owned()),
            };
            if !literal.is_empty() {
                items.push(Item::Literal(std::mem::take(&mut literal)));
            }
            items.push(item);
        }
        if !literal.is_empty() {
            items.push(Item::Literal(literal));
        }
        Ok(Self { text: text.to_owned(), items })
    }

    /// The format as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `micros` since the epoch formatted in UTC, or `None` outside years 0 to 9999.
    pub fn format(&self, micros: i64) -> Option<String> {
        let seconds = micros.div_euclid(1_000_000);
        let subsecond = micros.rem_euclid(1_000_000);
        let days = seconds.div_euclid(86_400);
        let second_of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return None;
        }
        let hour = second_of_day / 3600;
        let minute = second_of_day % 3600 / 60;
        let second = second_of_day % 60;
        let month_name = MONTHS.get(usize::try_from(month - 1).ok()?)?;
        let weekday = WEEKDAYS.get(usize::try_from((days + 4).rem_euclid(7)).ok()?)?;
        let day_of_year = days - days_from_civil(year, 1, 1) + 1;
        let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
        // Written straight into one string, digits by hand: a text per piece, then the
        // formatting machinery, were most of the cost of `convert ctime(…)` over a large
        // table.
        let mut out = String::with_capacity(32);
        for item in &self.items {
            match item {
                Item::Literal(text) => out.push_str(text),
                Item::Subsecond(3) => zero_padded(&mut out, subsecond / 1000, 3),
                Item::Subsecond(6) => zero_padded(&mut out, subsecond, 6),
                Item::Subsecond(_) => {
                    zero_padded(&mut out, subsecond, 6);
                    out.push_str("000");
                }
                Item::Directive(d) => match d {
                    'Y' => zero_padded(&mut out, year, 4),
                    'y' => zero_padded(&mut out, year % 100, 2),
                    'm' => zero_padded(&mut out, month, 2),
                    'd' => zero_padded(&mut out, day, 2),
                    'e' => {
                        if day < 10 {
                            out.push(' ');
                        }
                        zero_padded(&mut out, day, 1);
                    }
                    'H' => zero_padded(&mut out, hour, 2),
                    'I' => zero_padded(&mut out, hour12, 2),
                    'M' => zero_padded(&mut out, minute, 2),
                    'S' => zero_padded(&mut out, second, 2),
                    'p' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
                    'b' | 'h' => out.push_str(month_name.get(..3).unwrap_or_default()),
                    'B' => out.push_str(month_name),
                    'a' => out.push_str(weekday.get(..3).unwrap_or_default()),
                    'A' => out.push_str(weekday),
                    'j' => zero_padded(&mut out, day_of_year, 3),
                    'Z' => out.push_str("UTC"),
                    'z' => out.push_str("+0000"),
                    's' => {
                        if seconds < 0 {
                            out.push('-');
                        }
                        zero_padded(&mut out, seconds.abs(), 1);
                    }
                    'T' => joined(&mut out, &[(hour, 2), (minute, 2), (second, 2)], ':'),
                    'F' => joined(&mut out, &[(year, 4), (month, 2), (day, 2)], '-'),
                    'D' => joined(&mut out, &[(month, 2), (day, 2), (year % 100, 2)], '/'),
                    'R' => joined(&mut out, &[(hour, 2), (minute, 2)], ':'),
                    _ => {}
                },
            }
        }
        Some(out)
    }
}

/// Writes `value` (not negative: the caller writes any sign) in decimal, with zeros in front
/// up to `width` digits, as `{:0width$}` would.
fn zero_padded(out: &mut String, value: i64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut left = value.unsigned_abs();
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(slot) = digits.get_mut(start) {
            *slot = b'0' + u8::try_from(left % 10).unwrap_or_default();
        }
        left /= 10;
        if left == 0 || start == 0 {
            break;
        }
    }
    let written = digits.len() - start;
    for _ in written..width {
        out.push('0');
    }
    out.push_str(std::str::from_utf8(digits.get(start..).unwrap_or_default()).unwrap_or_default());
}

/// Writes each number zero-padded to its width (see [`zero_padded`]), `separator` between.
fn joined(out: &mut String, numbers: &[(i64, usize)], separator: char) {
    for (index, &(value, width)) in numbers.iter().enumerate() {
        if index > 0 {
            out.push(separator);
        }
        zero_padded(out, value, width);
    }
}

impl TimeFormat {
    /// `strptime`: `text` read with this format as a UTC time, in microseconds since the
    /// epoch; `None` when it does not fit. A blank in the format matches any run of blanks;
    /// fields the format leaves out default to 1970-01-01 00:00:00.
    #[allow(clippy::too_many_lines)] // One arm per directive.
    pub fn parse_time(&self, text: &str) -> Option<i64> {
        let mut rest = text;
        let (mut year, mut month, mut day) = (1970_i64, 1_i64, 1_i64);
        let (mut hour, mut minute, mut second, mut micros) = (0_i64, 0_i64, 0_i64, 0_i64);
        let mut pm: Option<bool> = None;
        let mut offset_seconds = 0_i64;
        let mut epoch: Option<i64> = None;
        let mut day_of_year: Option<i64> = None;
        let expanded = expand_composites(&self.items);
        for item in &expanded {
            match item {
                Item::Literal(literal) => {
                    for ch in literal.chars() {
                        if ch.is_whitespace() {
                            rest = rest.trim_start();
                        } else {
                            rest = rest.strip_prefix(ch)?;
                        }
                    }
                }
                Item::Subsecond(_) => {
                    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                    if digits == 0 {
                        return None;
                    }
                    let mut value = 0_i64;
                    for (index, byte) in rest.bytes().take(digits).enumerate() {
                        if index < 6 {
                            value = value * 10 + i64::from(byte - b'0');
                        }
                    }
                    for _ in digits..6 {
                        value *= 10;
                    }
                    micros = value;
                    rest = &rest[digits..];
                }
                Item::Directive(d) => match d {
                    'Y' => year = take_number(&mut rest, 4)?,
                    'y' => {
                        let two = take_number(&mut rest, 2)?;
                        // POSIX: 69–99 are 1969–1999, 00–68 are 2000–2068.
                        year = if two >= 69 { 1900 + two } else { 2000 + two };
                    }
                    'm' => month = take_number(&mut rest, 2)?,
                    'd' | 'e' => {
                        rest = rest.trim_start();
                        day = take_number(&mut rest, 2)?;
                    }
                    'H' | 'I' => hour = take_number(&mut rest, 2)?,
                    'M' => minute = take_number(&mut rest, 2)?,
                    'S' => second = take_number(&mut rest, 2)?,
                    'j' => day_of_year = Some(take_number(&mut rest, 3)?),
                    'p' => {
                        let upper = rest.get(..2)?.to_ascii_uppercase();
                        pm = Some(match upper.as_str() {
                            "AM" => false,
                            "PM" => true,
                            _ => return None,
                        });
                        rest = &rest[2..];
                    }
                    'b' | 'h' | 'B' => {
                        let index = MONTHS.iter().position(|name| {
                            let lower = rest.to_ascii_lowercase();
                            lower.starts_with(&name.to_ascii_lowercase())
                                || lower.starts_with(&name[..3].to_ascii_lowercase())
                        })?;
                        let name = MONTHS[index];
                        let full =
                            rest.to_ascii_lowercase().starts_with(&name.to_ascii_lowercase());
                        rest = &rest[if full { name.len() } else { 3 }..];
                        month = i64::try_from(index).ok()? + 1;
                    }
                    'a' | 'A' => {
                        let index = WEEKDAYS.iter().position(|name| {
                            rest.to_ascii_lowercase().starts_with(&name[..3].to_ascii_lowercase())
                        })?;
                        let name = WEEKDAYS[index];
                        let full =
                            rest.to_ascii_lowercase().starts_with(&name.to_ascii_lowercase());
                        rest = &rest[if full { name.len() } else { 3 }..];
                    }
                    'Z' => {
                        let len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
                        rest = &rest[len..];
                    }
                    'z' => {
                        let sign = match rest.as_bytes().first()? {
                            b'+' => 1,
                            b'-' => -1,
                            b'Z' => {
                                rest = &rest[1..];
                                continue;
                            }
                            _ => return None,
                        };
                        rest = &rest[1..];
                        let hours = take_number(&mut rest, 2)?;
                        if let Some(after) = rest.strip_prefix(':') {
                            rest = after;
                        }
                        let minutes = take_number(&mut rest, 2)?;
                        offset_seconds = sign * (hours * 3600 + minutes * 60);
                    }
                    's' => {
                        let negative = rest.starts_with('-');
                        if negative {
                            rest = &rest[1..];
                        }
                        let value = take_number(&mut rest, 19)?;
                        epoch = Some(if negative { -value } else { value });
                    }
                    _ => return None,
                },
            }
        }
        if let Some(seconds) = epoch {
            return seconds.checked_mul(1_000_000)?.checked_add(micros);
        }
        if let Some(pm) = pm {
            if hour == 12 {
                hour = 0;
            }
            if pm {
                hour += 12;
            }
        }
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        let days = match day_of_year {
            Some(n) => days_from_civil(year, 1, 1) + n - 1,
            None => days_from_civil(year, month, day),
        };
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
        seconds.checked_mul(1_000_000)?.checked_add(micros)
    }
}

/// The items of a format with `%T`, `%F`, `%D` and `%R` spelled out.
fn expand_composites(items: &[Item]) -> Vec<Item> {
    let literal = |text: &str| Item::Literal(text.to_owned());
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::Directive('T') => out.extend([
                Item::Directive('H'),
                literal(":"),
                Item::Directive('M'),
                literal(":"),
                Item::Directive('S'),
            ]),
            Item::Directive('F') => out.extend([
                Item::Directive('Y'),
                literal("-"),
                Item::Directive('m'),
                literal("-"),
                Item::Directive('d'),
            ]),
            Item::Directive('D') => out.extend([
                Item::Directive('m'),
                literal("/"),
                Item::Directive('d'),
                literal("/"),
                Item::Directive('y'),
            ]),
            Item::Directive('R') => {
                out.extend([Item::Directive('H'), literal(":"), Item::Directive('M')]);
            }
            other => out.push(other.clone()),
        }
    }
    out
}

/// Up to `max` digits at the start of `rest`, consumed.
fn take_number(rest: &mut &str, max: usize) -> Option<i64> {
    let digits = rest.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let value = rest[..digits].parse().ok()?;
    *rest = &rest[digits..];
    Some(value)
}

/// Year, month (1-12) and day of `days` since 1970-01-01 in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(text: &str, micros: i64) -> String {
        TimeFormat::parse(text).unwrap().format(micros).unwrap()
    }

    #[test]
    fn formats_in_utc() {
        // 2020-02-21T13:14:15.250Z, a Friday, day 52.
        let micros = 1_582_290_855_250_000;
        assert_eq!(format("%Y-%m-%dT%H:%M:%S", micros), "2020-02-21T13:14:15");
        assert_eq!(
            format("%y %b %B %a %A %j %Z %z %I%p %e %3N %6N %%", micros),
            "20 Feb February Fri Friday 052 UTC +0000 01PM 21 250 250000 %"
        );
        assert_eq!(format("%m/%d/%Y %T", 0), "01/01/1970 00:00:00");
        assert_eq!(format("%F %T", -1), "1969-12-31 23:59:59");
        assert_eq!(format("%F %j", 951_782_400_000_000), "2000-02-29 060");
        assert_eq!(format("%F %j", 1_609_372_800_000_000), "2020-12-31 366");
        assert_eq!(format("%s %D %R %9N|%e|", micros), "1582290855 02/21/20 13:14 250000000|21|");
        assert_eq!(format("%s|%e|%Y", -1_500_000), "-2|31|1969");
        assert_eq!(format("%e %y %j", 86_400_000_000 * 4), " 5 70 005");
    }

    #[test]
    fn rejects_unknown_directives() {
        assert_eq!(TimeFormat::parse("%Y %Q"), Err("%Q".to_owned()));
        assert_eq!(TimeFormat::parse("%"), Err("%".to_owned()));
        assert_eq!(TimeFormat::splunk_default().text(), "%m/%d/%Y %H:%M:%S");
    }

    #[test]
    fn parses_what_it_formats() {
        let parse = |format: &str, text: &str| TimeFormat::parse(format).unwrap().parse_time(text);
        assert_eq!(parse("%Y-%m-%dT%H:%M:%S", "2020-02-21T13:14:15"), Some(1_582_290_855_000_000));
        assert_eq!(parse("%m/%d/%Y %T", "02/21/2020 13:14:15"), Some(1_582_290_855_000_000));
        assert_eq!(parse("%F %T.%3N", "2020-02-21 13:14:15.250"), Some(1_582_290_855_250_000));
        assert_eq!(parse("%d %b %Y %I:%M %p", "21 Feb 2020 01:14 PM"), Some(1_582_290_840_000_000));
        assert_eq!(
            parse("%Y-%m-%d %H:%M:%S%z", "2020-02-21 14:14:15+01:00"),
            Some(1_582_290_855_000_000)
        );
        assert_eq!(parse("%s", "1582290855"), Some(1_582_290_855_000_000));
        assert_eq!(parse("%Y-%m-%d", "2020-13-01"), None);
        assert_eq!(parse("%Y-%m-%d", "garbage"), None);
    }

    #[test]
    fn out_of_range_years_do_not_format() {
        assert_eq!(TimeFormat::parse("%Y").unwrap().format(i64::MAX), None);
        assert_eq!(TimeFormat::parse("%Y").unwrap().format(i64::MIN), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::with_cases(512)
        })]

        /// Any time from year 0 to 9999 reads back as itself from its own text, in the
        /// format `ctime` writes and with every numeric field.
        #[test]
        fn formatted_times_read_back(micros in -62_167_219_200_000_000_i64..253_402_300_800_000_000) {
            for text in ["%m/%d/%Y %H:%M:%S.%6N", "%F %T.%6N", "%Y %j %I:%M:%S %p.%6N"] {
                let format = TimeFormat::parse(text).unwrap();
                let written = format.format(micros).unwrap();
                proptest::prop_assert_eq!(format.parse_time(&written), Some(micros), "{}", written);
            }
        }
    }
}
