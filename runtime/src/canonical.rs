//! Canonical text forms of values that two databases spell apart: a timestamp in UTC, a
//! fraction without trailing zeros. Introspection compares partition bounds in them; a copy
//! compares and converts rows. A leaf: plain string work.

use std::fmt::Write as _;

/// `12:34:56.500000` as `12:34:56.5`, `12:34:56.000` as `12:34:56`.
pub(crate) fn trim_fraction(text: &str) -> String {
    let text = text.trim();
    match text.split_once('.') {
        Some((whole, fraction)) => {
            let digits: String = fraction.chars().take_while(char::is_ascii_digit).collect();
            let rest = &fraction[digits.len()..];
            let digits = digits.trim_end_matches('0');
            match digits.is_empty() {
                true => format!("{whole}{rest}"),
                false => format!("{whole}.{digits}{rest}"),
            }
        }
        None => text.to_owned(),
    }
}

/// Whether the fields name a real date and time of day (no February 30th, no 25 o'clock).
pub(crate) fn is_time_of_day(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
) -> bool {
    let days_in_month = match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    };
    (1..=12).contains(&month)
        && (1..=days_in_month).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0..60).contains(&second)
}

/// A timestamp with an offset (`+02`, `+02:00`, `-0530`, `Z`) or none (UTC), in UTC:
/// `2024-01-02 01:04:05.5Z`.
pub(crate) fn timestamp_utc(text: &str) -> Result<String, String> {
    let bad = || format!("`{text}` is not a timestamp");
    let text = text.trim().replacen('T', " ", 1);
    let (date, time) = text.split_once(' ').unwrap_or((text.as_str(), "00:00:00"));
    let (time, offset_minutes) = match time.find(['+', '-', 'Z', 'z']) {
        Some(at) => {
            let (time, zone) = time.split_at(at);
            (time, offset(zone).ok_or_else(bad)?)
        }
        None => (time, 0),
    };
    let mut parts = date.splitn(3, '-');
    let number = |what: Option<&str>| what.and_then(|v| v.parse::<i64>().ok());
    let (Some(year), Some(month), Some(day)) = (
        number(parts.next()),
        number(parts.next()),
        number(parts.next()),
    ) else {
        return Err(bad());
    };
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut hms = clock.splitn(3, ':').map(|v| v.parse::<i64>().ok());
    let (Some(Some(hour)), Some(Some(minute)), second) = (hms.next(), hms.next(), hms.next())
    else {
        return Err(bad());
    };
    let second = match second {
        None => 0,
        Some(second) => second.ok_or_else(bad)?,
    };
    if !is_time_of_day(year, month, day, hour, minute, second)
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let minutes = days_from_civil(year, month, day) * 1440 + hour * 60 + minute - offset_minutes;
    let (days, minute_of_day) = (minutes.div_euclid(1440), minutes.rem_euclid(1440));
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{second:02}",
        minute_of_day / 60,
        minute_of_day % 60
    );
    let fraction = fraction.trim_end_matches('0');
    if !fraction.is_empty() {
        let _ = write!(out, ".{fraction}");
    }
    out.push('Z');
    Ok(out)
}

/// An offset's minutes east of UTC: `Z`, `+02`, `+02:00`, `-0530`.
fn offset(zone: &str) -> Option<i64> {
    if zone.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = zone[1..].chars().filter(char::is_ascii_digit).collect();
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i64>().ok()?, 0),
        4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
        6 => (digits[..2].parse().ok()?, digits[2..4].parse().ok()?),
        _ => return None,
    };
    Some(sign * (hours * 60 + minutes))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
