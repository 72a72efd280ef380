//! Instants and calendar days. Instants are PostgreSQL `timestamptz` values: microseconds since
//! 2000-01-01 00:00:00 UTC. Local wall-clock values (an instant shifted by a time zone's offset)
//! use the same unit; the SQL layer asks PostgreSQL for the shift so that every zone PostgreSQL
//! knows is supported.
//!
//! The calendar is ours rather than chrono's because PostgreSQL's range is wider: `timestamptz`
//! runs from 4714-11-24 BC to 294276-12-31 AD and `date` to 5874897-12-31 AD (chrono stops at
//! ±262143), and because the text form of stored summaries (`v1:2024-01-05T10:00:00Z ...`) must
//! not drift with another crate's formatting. Years are astronomical (year 0 is 1 BC, year -1 is
//! 2 BC), as ISO 8601 writes them. Time zones are not here: the glue asks PostgreSQL's own
//! time-zone database (`src/pg/zone.rs`), so every zone the server knows counts days the same.

use super::{Error, Result};

pub const USECS_PER_DAY: i64 = 86_400_000_000;

/// The hint of every time-zone mismatch: remote sessions do not inherit the session's zone.
const ZONE_HINT: &str = "Pass the zone explicitly (the tz option or argument, e.g. 'Asia/Shanghai'): Citus workers and postgres_fdw's remote sessions do not inherit the session's TimeZone.";

/// Partial states of `what` that counted days in zones `a` and `b` (the sessions that read the
/// rows had different `TimeZone` settings): they never combine.
pub fn zone_mismatch(what: &str, a: &str, b: &str) -> Error {
    Error::invalid(format!(
        "{what}: partial states counted days in different time zones (\"{a}\" and \"{b}\"): the sessions that read the rows had different TimeZone settings"
    ))
    .with_hint(ZONE_HINT)
}

/// Checks that a state of `what` whose days were counted in the session's zone `recorded` is
/// finished in a session of that same zone (`session`): a state read elsewhere (a remote
/// session) and finished here would mix the two.
pub fn check_session_zone(what: &str, recorded: &str, session: &str) -> Result<()> {
    if recorded == session {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "{what}: days were counted in time zone \"{recorded}\" (the TimeZone of the session that read the rows), but this session's TimeZone is \"{session}\""
    ))
    .with_hint(ZONE_HINT))
}
pub const USECS_PER_SEC: i64 = 1_000_000;
/// Days from 1970-01-01 to 2000-01-01.
const UNIX_TO_PG_DAYS: i64 = 10_957;

/// First valid `timestamptz` (4714-11-24 00:00:00 BC UTC, Julian day 0), as PostgreSQL's
/// `MIN_TIMESTAMP`.
pub const MIN_INSTANT: i64 = -211_813_488_000_000_000;
/// First `timestamptz` past the range (294277-01-01 00:00:00 UTC), as PostgreSQL's `END_TIMESTAMP`.
pub const END_INSTANT: i64 = 9_223_371_331_200_000_000;
/// First valid `date` (4714-11-24 BC) as a day number since 2000-01-01.
pub const MIN_DATE: i64 = -2_451_545;
/// First `date` past the range (5874898-01-01), as a day number since 2000-01-01.
pub const END_DATE: i64 = 2_145_031_949;

/// Whether `us` is a finite `timestamptz` PostgreSQL can store and print.
#[inline]
pub fn is_valid_instant(us: i64) -> bool {
    (MIN_INSTANT..END_INSTANT).contains(&us)
}

/// Whether `day` (days since 2000-01-01) is a finite `date` PostgreSQL can store and print.
#[inline]
pub fn is_valid_date(day: i64) -> bool {
    (MIN_DATE..END_DATE).contains(&day)
}

/// `us` as a `timestamptz` result of `what`; 22008 outside the type's range.
#[inline]
pub fn check_instant(us: i64, what: &str) -> Result<i64> {
    if is_valid_instant(us) {
        Ok(us)
    } else {
        Err(Error::datetime(format!("{what}: timestamp out of range (timestamptz runs from 4714-11-24 BC to 294276-12-31 AD)")))
    }
}

/// `day` as a `date` result of `what`; 22008 outside the type's range.
pub fn check_date(day: i64, what: &str) -> Result<i64> {
    if is_valid_date(day) {
        Ok(day)
    } else {
        Err(Error::datetime(format!("{what}: date out of range (date runs from 4714-11-24 BC to 5874897-12-31 AD)")))
    }
}

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

/// Formats an instant as `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (UTC). Years before 1 AD are written
/// as ISO 8601 does, astronomically with a sign: 1 BC is `0000`, 2 BC is `-0001`.
pub fn format_instant(us: i64) -> String {
    let day = us.div_euclid(USECS_PER_DAY);
    let rem = us.rem_euclid(USECS_PER_DAY);
    let (y, m, d) = civil_from_days(day + UNIX_TO_PG_DAYS);
    let secs = rem / USECS_PER_SEC;
    let frac = rem % USECS_PER_SEC;
    let sign = if y < 0 { "-" } else { "" };
    let base = format!("{sign}{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", y.unsigned_abs(), m, d, secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        base + "Z"
    } else {
        format!("{base}.{frac:06}Z")
    }
}

/// A field of digits only (no sign, no blank), at most 9 of them.
fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses what [`format_instant`] writes: exactly the instants of PostgreSQL's `timestamptz`
/// range (anything else, such as year 294277 or 4714-11-23 BC, is `None`, never a wrapped value).
pub fn parse_instant(s: &str) -> Option<i64> {
    parse_instant_any(s).filter(|&us| is_valid_instant_wide(us)).map(|us| us as i64)
}

fn is_valid_instant_wide(us: i128) -> bool {
    (MIN_INSTANT as i128..END_INSTANT as i128).contains(&us)
}

/// The syntax of [`parse_instant`] without its range: the instant in `i128` microseconds (years
/// of up to 9 digits cannot overflow it), so that callers can tell a value out of range (22008)
/// from bad syntax (22P02).
pub fn parse_instant_any(s: &str) -> Option<i128> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let (negative, date) = match date.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, date),
    };
    let mut dp = date.splitn(3, '-');
    let y = digits(dp.next()?)?;
    let y = if negative { -y } else { y };
    let m = digits(dp.next()?)? as u32;
    let d = digits(dp.next()?)? as u32;
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut tp = hms.splitn(3, ':');
    let hh = digits(tp.next()?)?;
    let mm = digits(tp.next()?)?;
    let ss = digits(tp.next()?)?;
    if hh > 23 || mm > 59 || ss > 59 || frac.is_empty() && time.contains('.') || frac.len() > 6 {
        return None;
    }
    let mut f = if frac.is_empty() { 0 } else { digits(frac)? };
    for _ in frac.len()..6 {
        f *= 10;
    }
    let day = (days_from_civil(y, m, d) - UNIX_TO_PG_DAYS) as i128;
    Some(day * USECS_PER_DAY as i128 + ((hh * 3600 + mm * 60 + ss) * USECS_PER_SEC + f) as i128)
}

/// Proleptic Gregorian leap year (astronomical years: year 0 and year -4 are leap years).
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

/// Time unit of BTYD figures (`btyd`) and of the models fitted on them (`clv`): local days, or
/// Monday-to-Sunday weeks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Days,
    Weeks,
}

impl Unit {
    /// `btyd()`'s `unit`: case and blanks ignored, singulars and `d`/`w` accepted.
    pub fn parse(s: &str) -> Result<Unit> {
        match s.trim().to_ascii_lowercase().as_str() {
            "day" | "days" | "d" => Ok(Unit::Days),
            "week" | "weeks" | "w" => Ok(Unit::Weeks),
            other => Err(Error::invalid(format!("unit must be 'days' or 'weeks', got '{other}'"))),
        }
    }

    /// `clv()`'s `time_unit`: exactly `days`, `day`, `weeks` or `week` (what 0.1.0 accepted).
    pub fn parse_time_unit(s: &str) -> Result<Unit> {
        match s {
            "days" | "day" => Ok(Unit::Days),
            "weeks" | "week" => Ok(Unit::Weeks),
            _ => Err(Error::invalid(format!("time_unit must be 'days' or 'weeks', got '{s}'"))),
        }
    }

    /// The period number of a local day number.
    #[inline]
    pub fn period(self, day: i64) -> i64 {
        match self {
            Unit::Days => day,
            Unit::Weeks => week_of_day(day),
        }
    }

    /// The canonical name: `days` or `weeks`.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Days => "days",
            Unit::Weeks => "weeks",
        }
    }

    /// Days in one unit.
    pub fn days(self) -> f64 {
        match self {
            Unit::Days => 1.0,
            Unit::Weeks => 7.0,
        }
    }

    /// Units per month, as lifetimes counts them (30 days, 4.345 weeks).
    pub fn per_month(self) -> f64 {
        match self {
            Unit::Days => 30.0,
            Unit::Weeks => 4.345,
        }
    }
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

    /// The whole range of timestamptz round-trips through the text form, BC years included, and
    /// nothing outside it parses (PostgreSQL's own bounds, checked against its text forms).
    #[test]
    fn instant_text_covers_exactly_the_timestamptz_range() {
        // '4714-11-24 00:00:00+00 BC' and '294276-12-31 23:59:59.999999+00' in PostgreSQL
        assert_eq!(format_instant(MIN_INSTANT), "-4713-11-24T00:00:00Z");
        assert_eq!(format_instant(END_INSTANT - 1), "294276-12-31T23:59:59.999999Z");
        assert_eq!(pg_day(-4713, 11, 24), MIN_DATE);
        assert_eq!(pg_day(5_874_898, 1, 1), END_DATE);
        // 1 BC is year 0, 2 BC is -0001 (ISO 8601); '0001-12-31 BC' is a leap day's year
        assert_eq!(format_instant(pg_day(0, 2, 29) * USECS_PER_DAY), "0000-02-29T00:00:00Z");
        assert_eq!(format_instant(pg_day(-1, 3, 1) * USECS_PER_DAY + 1), "-0001-03-01T00:00:00.000001Z");
        let mut next = crate::test_rng(0x5DEECE66D);
        let span = (END_INSTANT as i128 - MIN_INSTANT as i128) as u64;
        let edges = [MIN_INSTANT, MIN_INSTANT + 1, END_INSTANT - 1, -1, 0, pg_day(0, 1, 1) * USECS_PER_DAY - 1];
        for us in edges.into_iter().chain((0..20_000).map(|_| (MIN_INSTANT as i128 + (next() % span) as i128) as i64)) {
            let s = format_instant(us);
            assert_eq!(parse_instant(&s), Some(us), "{s}");
        }
        for bad in [
            "-4713-11-23T23:59:59.999999Z", // one microsecond before 4714-11-24 BC
            "294277-01-01T00:00:00Z",
            "300000-01-01T00:00:00Z",
            "99999999999-01-01T00:00:00Z",  // would wrap to a valid-looking instant
            "292277026596-12-04T15:30:08Z", // i64::MAX microseconds and beyond
            "--0001-01-01T00:00:00Z",
            "+2024-01-01T00:00:00Z",
            "2024-+1-01T00:00:00Z",
            "2024-01-01T 1:00:00Z",
            "2024-01-01T01:00:00.Z",
            "2024-01-01T01:00:00.1234567Z",
            "2024-01-01T01:00:00",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad}");
        }
    }

    #[test]
    fn range_checks_name_the_result() {
        assert_eq!(check_instant(END_INSTANT, "first_order").unwrap_err().code, crate::ErrCode::DatetimeOverflow);
        assert!(check_instant(MIN_INSTANT - 1, "first_order").unwrap_err().message.contains("first_order"));
        assert_eq!(check_instant(MIN_INSTANT, "x"), Ok(MIN_INSTANT));
        assert_eq!(check_date(END_DATE - 1, "x"), Ok(END_DATE - 1));
        assert_eq!(check_date(END_DATE, "next_birthday").unwrap_err().code, crate::ErrCode::DatetimeOverflow);
        assert!(check_date(MIN_DATE - 1, "x").is_err());
        assert_eq!(civil_of_pg_day(END_DATE - 1), (5_874_897, 12, 31));
    }

    #[test]
    fn weeks_start_on_monday() {
        let monday = pg_day(2024, 1, 1); // a Monday
        assert_eq!(week_of_day(monday), week_of_day(monday + 6));
        assert_eq!(week_of_day(monday) + 1, week_of_day(monday + 7));
        assert_eq!(week_of_day(monday - 1) + 1, week_of_day(monday));
    }
}
