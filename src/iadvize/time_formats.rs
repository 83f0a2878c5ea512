//! Readers of the date-time and duration texts iAdvize sends.

use super::model::UnixMillis;

/// Seconds in an ISO 8601 duration of days, hours, minutes and seconds (`PT754S`,
/// `PT12M34S`, `PT1H2M3.5S`, `P1DT2H`, `P2W`) or a bare non-negative number of seconds
/// (`754`, `754.5`). Years and months are refused: their length in seconds is ambiguous.
/// Any component may carry a fraction with a `.`; signs and exponents are refused.
pub fn parse_duration_seconds(s: &str) -> Option<f64> {
    let s = s.trim();
    let seconds = match s.strip_prefix(['P', 'p']) {
        Some(rest) => parse_iso_duration(rest)?,
        None => parse_decimal(s)?,
    };
    seconds.is_finite().then_some(seconds)
}

/// An RFC 3339 date-time as Unix milliseconds, rounded down. Accepts `Z` or a `±HH:MM`
/// (or `±HHMM`) offset, a fraction of any length, lower-case `t`/`z`, and a space instead
/// of the `T` (RFC 3339 section 5.6 allows it). Refuses a missing offset, a leap second
/// (`:60`) and out-of-range fields (`2023-02-29`).
pub fn parse_datetime_millis(s: &str) -> Option<UnixMillis> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }

    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(digit) = b.get(i).filter(|c| c.is_ascii_digit()) {
            // Truncating the fraction to three digits rounds down, as the fraction is
            // always a positive offset from the whole second.
            if i - start < 3 {
                millis = millis * 10 + i64::from(digit - b'0');
            }
            i += 1;
        }
        let len = i - start;
        if len == 0 {
            return None;
        }
        for _ in len..3 {
            millis *= 10;
        }
    }

    let offset_seconds = match b.get(i) {
        Some(b'Z' | b'z') if b.len() == i + 1 => 0,
        Some(sign @ (b'+' | b'-')) => {
            let offset_hour = digits(b, i + 1, 2)?;
            let minute_at = match b.get(i + 3) {
                Some(b':') => i + 4,
                _ => i + 3,
            };
            let offset_minute = digits(b, minute_at, 2)?;
            if b.len() != minute_at + 2 || offset_hour > 23 || offset_minute > 59 {
                return None;
            }
            let offset = offset_hour * 3600 + offset_minute * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };

    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1000 + millis)
}

/// `D`, `W`, `H`, `M` and `S` components after the `P`; each at most once, in order.
fn parse_iso_duration(rest: &str) -> Option<f64> {
    let (date, time) = match rest.find(['T', 't']) {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let mut total = 0.0;
    let mut components = 0;
    let mut rank = 0;
    for (value, unit) in components_of(date)? {
        let (unit_rank, seconds) = match unit {
            b'W' => (1, 604_800.0),
            b'D' => (2, 86_400.0),
            _ => return None,
        };
        if unit_rank <= rank {
            return None;
        }
        rank = unit_rank;
        total += value * seconds;
        components += 1;
    }
    if let Some(time) = time {
        let parts = components_of(time)?;
        if parts.is_empty() {
            return None;
        }
        for (value, unit) in parts {
            let (unit_rank, seconds) = match unit {
                b'H' => (3, 3600.0),
                b'M' => (4, 60.0),
                b'S' => (5, 1.0),
                _ => return None,
            };
            if unit_rank <= rank {
                return None;
            }
            rank = unit_rank;
            total += value * seconds;
            components += 1;
        }
    }
    (components > 0).then_some(total)
}

/// `1D2H` -> `[(1, b'D'), (2, b'H')]`, designators upper-cased; `None` on anything else.
fn components_of(s: &str) -> Option<Vec<(f64, u8)>> {
    let mut parts = Vec::new();
    let mut start = 0;
    for (at, c) in s.char_indices() {
        if c.is_ascii_alphabetic() {
            let value = parse_decimal(&s[start..at])?;
            parts.push((value, c.to_ascii_uppercase() as u8));
            start = at + 1;
        }
    }
    (start == s.len()).then_some(parts)
}

/// Digits with at most one `.` and at least one digit: no sign, no exponent.
fn parse_decimal(s: &str) -> Option<f64> {
    let mut dots = 0;
    let mut digit_count = 0;
    for c in s.bytes() {
        match c {
            b'0'..=b'9' => digit_count += 1,
            b'.' => dots += 1,
            _ => return None,
        }
    }
    if digit_count == 0 || dots > 1 {
        return None;
    }
    s.parse().ok()
}

/// The unsigned decimal of `len` ASCII digits at `at`.
fn digits(b: &[u8], at: usize, len: usize) -> Option<i64> {
    let slice = b.get(at..at.checked_add(len)?)?;
    slice.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// 2024-05-01T10:00:00Z, from `date -u -d 2024-05-01T10:00:00Z +%s`.
    pub(crate) const MAY_FIRST_10H: UnixMillis = 1_714_557_600_000;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_seconds("PT754S"), Some(754.0));
        assert_eq!(parse_duration_seconds("PT12M34S"), Some(754.0));
        assert_eq!(parse_duration_seconds("PT1H2M3.5S"), Some(3723.5));
        assert_eq!(parse_duration_seconds("P1DT2H"), Some(93_600.0));
        assert_eq!(parse_duration_seconds("P1DT1S"), Some(86_401.0));
        assert_eq!(parse_duration_seconds("P1W"), Some(604_800.0));
        assert_eq!(parse_duration_seconds("pt2m"), Some(120.0));
        assert_eq!(parse_duration_seconds("PT0S"), Some(0.0));
        assert_eq!(parse_duration_seconds("754"), Some(754.0));
        assert_eq!(parse_duration_seconds("754.5"), Some(754.5));
        assert_eq!(parse_duration_seconds(" 12 "), Some(12.0));
        assert_eq!(parse_duration_seconds("PT5S \n"), Some(5.0));
        for bad in [
            "", "abc", "P", "PT", "-5", "P1Y", "P1M", "PT-5S", "PT5", "PT1S2M", "PT1H1H", "P1DT",
            "1e3", "5.5.5", ".", "PT.S", "P1D2D", "T5S", "+5", "NaN", "inf", "P1DT2D", "P T1S",
        ] {
            assert_eq!(parse_duration_seconds(bad), None, "{bad:?}");
        }
        let huge = format!("P{}D", "9".repeat(400));
        assert_eq!(parse_duration_seconds(&huge), None);
    }

    #[test]
    fn datetimes() {
        assert_eq!(
            parse_datetime_millis("2024-05-01T10:00:00Z"),
            Some(MAY_FIRST_10H)
        );
        assert_eq!(
            parse_datetime_millis("2024-05-01T12:00:00+02:00"),
            Some(MAY_FIRST_10H)
        );
        assert_eq!(
            parse_datetime_millis("2024-05-01T07:30:00-02:30"),
            Some(MAY_FIRST_10H)
        );
        assert_eq!(
            parse_datetime_millis("2024-05-01T12:00:00+0200"),
            Some(MAY_FIRST_10H)
        );
        assert_eq!(
            parse_datetime_millis("2024-05-01t10:00:00z"),
            Some(MAY_FIRST_10H)
        );
        assert_eq!(
            parse_datetime_millis("2024-05-01 10:00:00Z"),
            Some(MAY_FIRST_10H)
        );
        assert_eq!(
            parse_datetime_millis("2024-05-01T10:00:00.123456Z"),
            Some(MAY_FIRST_10H + 123)
        );
        assert_eq!(
            parse_datetime_millis("2024-05-01T10:00:00.5Z"),
            Some(MAY_FIRST_10H + 500)
        );
        assert_eq!(
            parse_datetime_millis("2024-05-01T10:00:00.9999Z"),
            Some(MAY_FIRST_10H + 999)
        );
        assert_eq!(parse_datetime_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_datetime_millis("2000-02-29T23:59:59Z"),
            Some(951_868_799_000)
        );
        // Before 1970 the floor goes away from zero: -0.0001 s is -1 ms.
        assert_eq!(parse_datetime_millis("1969-12-31T23:59:59.9999Z"), Some(-1));
        assert_eq!(parse_datetime_millis("1969-12-31T23:59:59.5Z"), Some(-500));
        for bad in [
            "",
            "2024-05-01",
            "2024-05-01T10:00:00",
            "2024-05-01T10:00Z",
            "2024-05-01T10:00:00.Z",
            "2024-05-01T10:00:00+02",
            "2024-05-01T10:00:00+2:00",
            "2024-05-01T10:00:00+24:00",
            "2024-05-01T10:00:00ZZ",
            "2024-05-01T24:00:00Z",
            "2024-05-01T10:60:00Z",
            "2024-05-01T10:00:60Z",
            "2024-02-30T10:00:00Z",
            "2023-02-29T10:00:00Z",
            "2024-13-01T10:00:00Z",
            "2024-00-01T10:00:00Z",
            "2024/05/01T10:00:00Z",
            "2024-05-01X10:00:00Z",
            "+2024-05-01T10:00:00Z",
            "2024-05-01T10:00:00 Z",
            "2024-05-01T1à:00:00Z",
        ] {
            assert_eq!(parse_datetime_millis(bad), None, "{bad:?}");
        }
    }
}
