//! Time arithmetic of searches, in UTC: the start of a `span=` bucket (`bin`, `tstats … by
//! _time span=`) and `relative_time()`'s `-7d@d` modifiers.
//!
//! Buckets under a day start at whole multiples of the span since the epoch ("Align the bin
//! times to something other than base UTC time (epoch 0)" is `aligntime`'s job, which is not
//! taken). Spans of a day or more start at midnight — Splunk uses the user's time zone
//! ("the span is aligned to midnight in the timezone of the user"); this engine's time zone
//! is UTC. Months, quarters and years start on the first day of the calendar period.

use crate::spl::time_format::{civil_from_days, days_from_civil};
use crate::spl::{Span, SpanUnit};

const MICROS: i64 = 1_000_000;
const DAY: i64 = 86_400;

/// The start of the bucket of `span` holding `micros`.
pub(crate) fn bucket_start(micros: i64, span: Span) -> i64 {
    let count = i64::from(span.count);
    let seconds = micros.div_euclid(MICROS);
    let start = match span.unit {
        SpanUnit::Second => seconds - seconds.rem_euclid(count),
        SpanUnit::Minute => seconds - seconds.rem_euclid(60 * count),
        SpanUnit::Hour => seconds - seconds.rem_euclid(3600 * count),
        SpanUnit::Day => seconds - seconds.rem_euclid(DAY * count),
        SpanUnit::Week => seconds - seconds.rem_euclid(7 * DAY * count),
        SpanUnit::Month | SpanUnit::Quarter | SpanUnit::Year => {
            let months_per = match span.unit {
                SpanUnit::Month => count,
                SpanUnit::Quarter => 3 * count,
                _ => 12 * count,
            };
            let (year, month, _) = civil_from_days(seconds.div_euclid(DAY));
            let index = year * 12 + (month - 1);
            let first = index - index.rem_euclid(months_per);
            days_from_civil(first.div_euclid(12), first.rem_euclid(12) + 1, 1) * DAY
        }
    };
    start.saturating_mul(MICROS)
}

/// `relative_time(time, modifier)`: `[+|-]<n><unit>` steps, then `@<unit>` snapping back to
/// the start of that unit (`@w0`…`@w6` to a weekday), in any combination (`-1d@d`, `@mon`,
/// `+1h`, `now`). `None` for a modifier that does not parse.
pub(crate) fn relative_time(micros: i64, modifier: &str) -> Option<i64> {
    let modifier = modifier.trim();
    if modifier.eq_ignore_ascii_case("now") || modifier.is_empty() {
        return Some(micros);
    }
    let mut seconds = micros.div_euclid(MICROS);
    let fraction = micros.rem_euclid(MICROS);
    let mut rest = modifier;
    let mut snapped = false;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('@') {
            let unit_len = after.find(['+', '-', '@']).unwrap_or(after.len());
            seconds = snap(seconds, &after[..unit_len])?;
            snapped = true;
            rest = &after[unit_len..];
            continue;
        }
        let sign = match rest.as_bytes().first() {
            Some(b'-') => -1,
            Some(b'+') => 1,
            _ => return None,
        };
        let body = &rest[1..];
        let digits = body.bytes().take_while(u8::is_ascii_digit).count();
        let count: i64 = if digits == 0 { 1 } else { body[..digits].parse().ok()? };
        let unit_len = body[digits..].find(['+', '-', '@']).unwrap_or(body.len() - digits);
        let unit = &body[digits..digits + unit_len];
        seconds = step(seconds, sign * count, unit)?;
        rest = &body[digits + unit_len..];
    }
    Some(seconds * MICROS + if snapped { 0 } else { fraction })
}

fn unit_seconds(unit: &str) -> Option<i64> {
    Some(match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => DAY,
        "w" | "week" | "weeks" => 7 * DAY,
        _ => return None,
    })
}

fn month_count(unit: &str) -> Option<i64> {
    Some(match unit {
        "mon" | "month" | "months" => 1,
        "q" | "qtr" | "qtrs" | "quarter" | "quarters" => 3,
        "y" | "yr" | "yrs" | "year" | "years" => 12,
        _ => return None,
    })
}

fn step(seconds: i64, count: i64, unit: &str) -> Option<i64> {
    if let Some(size) = unit_seconds(unit) {
        return seconds.checked_add(count.checked_mul(size)?);
    }
    let months = count.checked_mul(month_count(unit)?)?;
    let days = seconds.div_euclid(DAY);
    let (year, month, day) = civil_from_days(days);
    let index = year * 12 + (month - 1) + months;
    let (year, month) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    let day = day.min(days_in_month(year, month));
    Some(days_from_civil(year, month, day) * DAY + seconds.rem_euclid(DAY))
}

fn snap(seconds: i64, unit: &str) -> Option<i64> {
    if let Some(weekday) = unit.strip_prefix('w').and_then(|d| d.parse::<i64>().ok()) {
        if !(0..=7).contains(&weekday) {
            return None;
        }
        let days = seconds.div_euclid(DAY);
        // 1970-01-01 was a Thursday (4); Sunday is 0.
        let today = (days + 4).rem_euclid(7);
        let back = (today - weekday.rem_euclid(7)).rem_euclid(7);
        return Some((days - back) * DAY);
    }
    if let Some(size) = unit_seconds(unit) {
        if size == 7 * DAY {
            return snap(seconds, "w0");
        }
        return Some(seconds - seconds.rem_euclid(size));
    }
    let months = month_count(unit)?;
    let (year, month, _) = civil_from_days(seconds.div_euclid(DAY));
    let index = year * 12 + (month - 1);
    let first = index - index.rem_euclid(months);
    Some(days_from_civil(first.div_euclid(12), first.rem_euclid(12) + 1, 1) * DAY)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let next = if month == 12 {
        days_from_civil(year + 1, 1, 1)
    } else {
        days_from_civil(year, month + 1, 1)
    };
    next - days_from_civil(year, month, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2020-02-21T13:14:15.25Z, a Friday.
    const T: i64 = 1_582_290_855_250_000;

    fn span(count: u32, unit: SpanUnit) -> Span {
        Span { count, unit }
    }

    #[test]
    fn buckets_align_to_the_epoch_and_to_midnight() {
        assert_eq!(bucket_start(T, span(1, SpanUnit::Hour)), 1_582_290_000 * MICROS);
        assert_eq!(bucket_start(T, span(5, SpanUnit::Minute)), 1_582_290_600 * MICROS);
        assert_eq!(bucket_start(T, span(1, SpanUnit::Day)), 1_582_243_200 * MICROS);
        assert_eq!(bucket_start(T, span(1, SpanUnit::Month)), 1_580_515_200 * MICROS);
        assert_eq!(bucket_start(-1, span(1, SpanUnit::Second)), -MICROS);
    }

    #[test]
    fn relative_time_steps_and_snaps() {
        assert_eq!(relative_time(T, "-1d@d"), Some(1_582_156_800 * MICROS));
        assert_eq!(relative_time(T, "@d"), Some(1_582_243_200 * MICROS));
        assert_eq!(relative_time(T, "+1h"), Some(T + 3600 * MICROS));
        assert_eq!(relative_time(T, "@w0"), Some(1_581_811_200 * MICROS));
        assert_eq!(relative_time(T, "-1mon@mon"), Some(1_577_836_800 * MICROS));
        assert_eq!(relative_time(T, "now"), Some(T));
        assert_eq!(relative_time(T, "-1x"), None);
    }
}
