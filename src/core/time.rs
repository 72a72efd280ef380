//! Instants and calendar days. Instants are PostgreSQL `timestamptz` values: microseconds since
//! 2000-01-01 00:00:00 UTC. Local wall-clock values (an instant shifted by a time zone's offset)
//! use the same unit; the SQL layer asks PostgreSQL for the shift so that every zone PostgreSQL
//! knows is supported.

pub const USECS_PER_DAY: i64 = 86_400_000_000;
pub const USECS_PER_SEC: i64 = 1_000_000;
/// Days from 1970-01-01 to 2000-01-01.
const UNIX_TO_PG_DAYS: i64 = 10_957;

/// Day number (days since 2000-01-01) of a local wall-clock value.
#[inline]
pub fn day_of(local_us: i64) -> i64 {
    local_us.div_euclid(USECS_PER_DAY)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian). Classic era-based algorithm.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats an instant as `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (UTC).
pub fn format_instant(us: i64) -> String {
    let day = us.div_euclid(USECS_PER_DAY);
    let rem = us.rem_euclid(USECS_PER_DAY);
    let (y, m, d) = civil_from_days(day + UNIX_TO_PG_DAYS);
    let secs = rem / USECS_PER_SEC;
    let frac = rem % USECS_PER_SEC;
    let base = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", y, m, d, secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        base + "Z"
    } else {
        format!("{base}.{frac:06}Z")
    }
}

/// Parses what [`format_instant`] writes.
pub fn parse_instant(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut dp = date.splitn(3, '-');
    let y: i64 = dp.next()?.parse().ok()?;
    let m: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut tp = hms.splitn(3, ':');
    let hh: i64 = tp.next()?.parse().ok()?;
    let mm: i64 = tp.next()?.parse().ok()?;
    let ss: i64 = tp.next()?.parse().ok()?;
    if hh > 23 || mm > 59 || ss > 59 || frac.len() > 6 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut f: i64 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
    for _ in frac.len()..6 {
        f *= 10;
    }
    let day = days_from_civil(y, m, d) - UNIX_TO_PG_DAYS;
    Some(day * USECS_PER_DAY + (hh * 3600 + mm * 60 + ss) * USECS_PER_SEC + f)
}

pub fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap(y) {
                29
            } else {
                28
            }
        }
    }
}

/// Days since 2000-01-01 of a civil date.
pub fn pg_day(y: i64, m: u32, d: u32) -> i64 {
    days_from_civil(y, m, d) - UNIX_TO_PG_DAYS
}

/// Civil date of a day number since 2000-01-01.
pub fn civil_of_pg_day(day: i64) -> (i64, u32, u32) {
    civil_from_days(day + UNIX_TO_PG_DAYS)
}

/// Monday-based week number: weeks since the Monday 2000-01-03 (day 2), as pandas' `W` periods
/// (weeks ending Sunday) count them.
#[inline]
pub fn week_of_day(day: i64) -> i64 {
    (day - 2).div_euclid(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(pg_day(2000, 1, 1), 0);
        assert_eq!(pg_day(2024, 2, 29) + 1, pg_day(2024, 3, 1));
        for day in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_of_pg_day(day);
            assert_eq!(pg_day(y, m, d), day);
        }
    }

    #[test]
    fn instant_text_round_trip() {
        for us in [0i64, 1, -1, 86_399_999_999, 787_492_800_123_456, -3_000_000_000_000_000] {
            let s = format_instant(us);
            assert_eq!(parse_instant(&s), Some(us), "{s}");
        }
        assert_eq!(format_instant(0), "2000-01-01T00:00:00Z");
        assert_eq!(parse_instant("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_instant("2024-02-29T24:00:00Z"), None);
    }

    #[test]
    fn weeks_start_on_monday() {
        let monday = pg_day(2024, 1, 1); // a Monday
        assert_eq!(week_of_day(monday), week_of_day(monday + 6));
        assert_eq!(week_of_day(monday) + 1, week_of_day(monday + 7));
        assert_eq!(week_of_day(monday - 1) + 1, week_of_day(monday));
    }
}
