//! Minimal RFC 3339 parsing for the `Time` field of `.info` files.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` as [`is_rfc3339`] accepts
/// it; `None` if malformed or before 1970.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let (secs, nanos) = seconds_since_epoch(s)?;
    Some(UNIX_EPOCH + Duration::new(u64::try_from(secs).ok()?, nanos))
}

/// Go's strict RFC 3339 (`time.RFC3339`, what `time.Time` accepts in
/// JSON): `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, every field in range
/// (February 29 only in leap years), any year.
pub fn is_rfc3339(s: &str) -> bool {
    seconds_since_epoch(s).is_some()
}

/// Seconds (possibly negative) and nanoseconds since the Unix epoch of a
/// strict RFC 3339 time.
fn seconds_since_epoch(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(b, 0..4)?, digits(b, 5..7)?, digits(b, 8..10)?);
    let (hour, min, sec) = (digits(b, 11..13)?, digits(b, 14..16)?, digits(b, 17..19)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days || hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for i in 0..9 {
            let d = frac
                .get(i)
                .filter(|_| i < n)
                .map_or(0, |d| u32::from(d - b'0'));
            nanos = nanos * 10 + d;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (digits(rest, 1..3)?, digits(rest, 4..6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let offset = h * 3600 + m * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec - offset;
    Some((secs, nanos))
}

/// The number written by the ASCII digits `b[range]` (digits only, no sign).
fn digits(b: &[u8], range: std::ops::Range<usize>) -> Option<i64> {
    let d = b.get(range)?;
    if d.is_empty() || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(d.iter().fold(0, |n, c| n * 10 + i64::from(c - b'0')))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_info_times() {
        let t = |s| {
            parse_rfc3339(s)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| (d.as_secs(), d.subsec_nanos()))
        };
        assert_eq!(t("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(t("2024-01-02T03:04:05Z"), Some((1704164645, 0)));
        assert_eq!(t("2024-01-02T03:04:05.5Z"), Some((1704164645, 500_000_000)));
        assert_eq!(t("2024-01-02T05:04:05+02:00"), Some((1704164645, 0)));
        assert_eq!(t("2000-02-29T00:00:00Z"), Some((951782400, 0)));
        assert_eq!(t("2024-13-02T03:04:05Z"), None);
        assert_eq!(t("garbage"), None);
        assert_eq!(t("1969-12-31T23:59:59Z"), None);
        // Strict like go: case, leap days, field ranges, signs.
        assert_eq!(t("2024-01-02t03:04:05Z"), None);
        assert_eq!(t("2023-02-29T00:00:00Z"), None);
        assert_eq!(t("2024-01-02T03:04:60Z"), None);
        assert_eq!(t("2024-01-02T03:04:05+1:000"), None);
        assert!(is_rfc3339("1960-02-29T00:00:00-05:30"));
        assert!(!is_rfc3339("2023-01-02T03:04:05"));
    }
}
