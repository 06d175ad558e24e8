//! Dates as oVirt writes and reads them.
//!
//! oVirt's XML writer formats dates with `yyyy-MM-dd'T'HH:mm:ss.SSSXXX` in UTC, i.e.
//! `2024-01-15T10:20:30.123Z`; the Python SDK's `Reader.parse_date` accepts exactly that
//! family: an optional `Z` or `±HH:MM` suffix, then `%Y-%m-%dT%H:%M:%S` with an optional
//! `.fraction`. Its writer sends `datetime.isoformat()`, which has no zone for naive dates
//! (we read those as UTC) and microseconds when it has any. oVirt's JSON writes dates as
//! milliseconds since the epoch, a number. We keep `SystemTime` rather than a date crate: the
//! engine only needs these two spellings and arithmetic on days.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (negative before it).
pub fn epoch_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => {
            // round towards minus infinity so that formatting stays consistent
            let d = before.duration();
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            if d.subsec_nanos() % 1_000_000 != 0 { -ms - 1 } else { -ms }
        }
    }
}

/// The `SystemTime` `millis` milliseconds after (or before) the epoch.
pub fn from_epoch_millis(millis: i64) -> SystemTime {
    let magnitude = Duration::from_millis(millis.unsigned_abs());
    if millis >= 0 { UNIX_EPOCH + magnitude } else { UNIX_EPOCH - magnitude }
}

/// `2024-01-15T10:20:30.123Z`.
pub fn format_date(time: SystemTime) -> String {
    let millis = epoch_millis(time);
    let days = millis.div_euclid(86_400_000);
    let in_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, ms) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

/// Parses the ISO 8601 subset described in the module docs; `None` when `text` is not one.
pub fn parse_date(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let (rest, offset_minutes) = split_zone(text)?;
    let (date, time) = rest.split_once(['T', 't', ' '])?;
    let mut ymd = date.splitn(3, '-');
    let year: i64 = parse_digits(ymd.next()?, 4)?;
    let month: u32 = parse_digits(ymd.next()?, 2)?;
    let day: u32 = parse_digits(ymd.next()?, 2)?;
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (time, None),
    };
    let mut hms = clock.splitn(3, ':');
    let hour: i64 = parse_digits(hms.next()?, 2)?;
    let minute: i64 = parse_digits(hms.next()?, 2)?;
    let second: i64 = parse_digits(hms.next()?, 2)?;
    let millis_part: i64 = match fraction {
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            let padded = format!("{f:0<3}");
            padded[..3].parse().ok()?
        }
        Some(_) => return None,
        None => 0,
    };
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let millis = (((days * 24 + hour) * 60 + minute - offset_minutes) * 60 + second) * 1000 + millis_part;
    Some(from_epoch_millis(millis))
}

/// Splits a trailing `Z` or `±HH:MM` off `text`; a missing zone means UTC.
fn split_zone(text: &str) -> Option<(&str, i64)> {
    if let Some(rest) = text.strip_suffix(['Z', 'z']) {
        return Some((rest, 0));
    }
    let bytes = text.as_bytes();
    if bytes.len() > 6 && bytes[bytes.len() - 3] == b':' {
        let sign_at = bytes.len() - 6;
        let sign = match bytes[sign_at] {
            b'+' => 1,
            b'-' => -1,
            _ => return Some((text, 0)),
        };
        let hours: i64 = parse_digits(&text[sign_at + 1..sign_at + 3], 2)?;
        let minutes: i64 = parse_digits(&text[sign_at + 4..], 2)?;
        return Some((&text[..sign_at], sign * (hours * 60 + minutes)));
    }
    Some((text, 0))
}

fn parse_digits<T: std::str::FromStr>(text: &str, width: usize) -> Option<T> {
    if text.len() == width && text.bytes().all(|b| b.is_ascii_digit()) { text.parse().ok() } else { None }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_ovirt_does() {
        assert_eq!(format_date(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_date(from_epoch_millis(1_705_314_030_123)), "2024-01-15T10:20:30.123Z");
        assert_eq!(format_date(from_epoch_millis(951_782_400_000)), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_date(from_epoch_millis(-1)), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_what_ovirt_and_the_sdk_write() {
        let t = from_epoch_millis(1_705_314_030_123);
        assert_eq!(parse_date("2024-01-15T10:20:30.123Z"), Some(t));
        assert_eq!(parse_date("2024-01-15T11:20:30.123+01:00"), Some(t));
        assert_eq!(parse_date("2024-01-15T05:20:30.123-05:00"), Some(t));
        // Python's isoformat(): naive, microseconds
        assert_eq!(parse_date("2024-01-15T10:20:30.123456"), Some(t));
        assert_eq!(parse_date("2024-01-15T10:20:30"), Some(from_epoch_millis(1_705_314_030_000)));
        for t in [0_i64, 1, 86_399_999, 1_705_314_030_123, -86_400_001, 4_102_444_800_000] {
            let time = from_epoch_millis(t);
            assert_eq!(parse_date(&format_date(time)), Some(time), "{t}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_date() {
        for bad in [
            "",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-15",
            "2024-01-15T25:00:00Z",
            "2024-1-15T10:00:00Z",
            "2024-01-15T10:00:00.Z",
            "2024-01-15T10:00:00+1:00",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
