//! Browsing activity: every visit (one row of an events table: a visit or page view) of one
//! customer as its instant, in a storable `browsing_summary`; visits in a window of calendar
//! days, visits per month, the active-by-browsing flag, and the lifecycle stages that use it.
//!
//! Stored form (little endian): `[version u8 = 1][0u8; 3][instants i64 ...]`, ascending (equal
//! instants are several visits). Text form: `b1:` and the instants in
//! [`format_instant`]'s form separated by `|` (`b1:` alone: no visit). Both inputs accept
//! exactly what the outputs write.

use super::codec::written_by_newer;
use super::config::{Json, Label, Obj};
use super::fallible::{self as fa, Limit};
use super::labels::Lifecycle;
use super::time::{civil_of_pg_day, day_of, format_instant, is_valid_instant, parse_instant_any};
use super::{Error, Result};
use serde_json::Value;

pub const VERSION: u8 = 1;
const HEADER: usize = 4;
/// The longest text of one visit: a 29-character instant and the `|` before the next.
const MAX_VISIT_TEXT: usize = 29 + 1;
/// The most visits one summary holds: its text form, which pg_dump writes, stays within
/// [`MAX_TEXT_BYTES`](super::MAX_TEXT_BYTES).
pub const MAX_VISITS: usize = (super::MAX_TEXT_BYTES - 3) / MAX_VISIT_TEXT;

fn bad_text(what: &str) -> Error {
    Error::invalid_text(format!("invalid input syntax for type browsing_summary: {what}"))
        .with_hint("the text form is b1: followed by 'YYYY-MM-DDTHH:MM:SS[.ffffff]Z' instants separated by |")
}

/// Bytes of the stored form of `n` visits.
pub fn encoded_len(n: usize) -> usize {
    HEADER + 8 * n
}

/// Writes sorted instants in the stored form.
pub fn write(instants: &[i64], out: &mut [u8]) {
    out[..HEADER].copy_from_slice(&[VERSION, 0, 0, 0]);
    for (i, t) in instants.iter().enumerate() {
        out[HEADER + 8 * i..][..8].copy_from_slice(&t.to_le_bytes());
    }
}

/// Checks a visit list: within range, ascending, at most [`MAX_VISITS`]. `binary` picks the
/// SQLSTATE of a misordered list (22P03 binary, 22P02 text).
pub fn check_instants(instants: impl ExactSizeIterator<Item = i64>, binary: bool) -> Result<()> {
    if instants.len() > MAX_VISITS {
        return Err(Error::limit(format!("browsing_summary: more than the {MAX_VISITS} visits one value may hold")));
    }
    let mut last = i64::MIN;
    for (i, t) in instants.enumerate() {
        if !is_valid_instant(t) {
            return Err(Error::datetime(format!("browsing_summary: visit {} has an instant out of range", i + 1)));
        }
        if t < last {
            let m = format!("browsing_summary: visits are not in ascending order at visit {}", i + 1);
            return Err(if binary { Error::binary(m) } else { Error::invalid_text(m) });
        }
        last = t;
    }
    Ok(())
}

/// A stored summary, read in place.
#[derive(Clone, Copy)]
pub struct View<'a> {
    body: &'a [u8],
}

impl<'a> View<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<View<'a>> {
        if bytes.len() < HEADER {
            return Err(Error::binary("browsing_summary value is truncated"));
        }
        if bytes[0] > VERSION {
            return Err(written_by_newer(format!(
                "browsing_summary format version {} is not supported by this pg_segment (it reads version {VERSION})",
                bytes[0]
            )));
        }
        if bytes[0] != VERSION || bytes[1..HEADER] != [0, 0, 0] || (bytes.len() - HEADER) % 8 != 0 {
            return Err(Error::binary("browsing_summary value is corrupt"));
        }
        Ok(View { body: &bytes[HEADER..] })
    }

    pub fn len(&self) -> usize {
        self.body.len() / 8
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    #[inline]
    pub fn get(&self, i: usize) -> i64 {
        i64::from_le_bytes(self.body[8 * i..][..8].try_into().unwrap())
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Visits at or before `as_of` (all without it).
    pub fn cut(&self, as_of: Option<i64>) -> usize {
        match as_of {
            None => self.len(),
            Some(t) => {
                let (mut lo, mut hi) = (0, self.len());
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    if self.get(mid) <= t {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                lo
            }
        }
    }

    pub fn last_visit(&self, as_of: Option<i64>) -> Option<i64> {
        self.cut(as_of).checked_sub(1).map(|i| self.get(i))
    }

    /// Visits at or before `as_of` in the `days` local calendar days ending with as_of's day.
    pub fn window_visits(&self, as_of: i64, days: i64, local: &dyn Fn(i64) -> i64) -> i64 {
        let first_day = day_of(local(as_of)) - days + 1;
        let mut n = 0;
        for i in (0..self.cut(Some(as_of))).rev() {
            if day_of(local(self.get(i))) < first_day {
                break;
            }
            n += 1;
        }
        n
    }

    /// Visits per local calendar month for the `months` months ending with as_of's month, oldest
    /// first, months without a visit included: `(year, month, visits)`.
    pub fn per_month(&self, as_of: i64, months: i64, local: &dyn Fn(i64) -> i64) -> Vec<(i64, u32, i64)> {
        let month_of = |t: i64| {
            let (y, m, _) = civil_of_pg_day(day_of(local(t)));
            y * 12 + (m as i64 - 1)
        };
        let last = month_of(as_of);
        let first = last - months + 1;
        let mut counts = vec![0i64; months as usize];
        for i in (0..self.cut(Some(as_of))).rev() {
            let m = month_of(self.get(i));
            if m < first {
                break;
            }
            counts[(m - first) as usize] += 1;
        }
        counts
            .iter()
            .enumerate()
            .map(|(i, &c)| ((first + i as i64).div_euclid(12), ((first + i as i64).rem_euclid(12) + 1) as u32, c))
            .collect()
    }
}

/// Checks stored bytes as the binary input must: exactly what the output writes.
pub fn check_binary(bytes: &[u8]) -> Result<()> {
    let v = View::new(bytes)?;
    check_instants(v.iter(), true)
}

/// The text form, written piece by piece (into PostgreSQL memory by the glue).
pub fn write_text(view: &View, out: &mut dyn FnMut(&str)) {
    out("b1:");
    for (i, t) in view.iter().enumerate() {
        if i > 0 {
            out("|");
        }
        out(&format_instant(t));
    }
}

/// Reads the text form into ascending instants.
pub fn parse_text(text: &str) -> Result<Vec<i64>> {
    let text = text.trim();
    let rest = text.strip_prefix('b').ok_or_else(|| bad_text("missing version prefix"))?;
    let (ver, body) = rest.split_once(':').ok_or_else(|| bad_text("missing ':' after the version"))?;
    let ver: u32 = ver
        .parse()
        .ok()
        .filter(|_| !ver.is_empty() && ver.bytes().all(|c| c.is_ascii_digit()))
        .ok_or_else(|| bad_text("version is not a number"))?;
    if ver == 0 {
        return Err(bad_text("there is no version 0"));
    }
    if ver > VERSION as u32 {
        return Err(written_by_newer(format!(
            "browsing_summary format version {ver} is not supported by this pg_segment (it reads version {VERSION})"
        )));
    }
    let mut out = Vec::new();
    if !body.is_empty() {
        for (i, item) in body.split('|').enumerate() {
            if out.len() >= MAX_VISITS {
                return Err(Error::limit(format!("browsing_summary: more than the {MAX_VISITS} visits one value may hold")));
            }
            let t = parse_instant_any(item.trim()).ok_or_else(|| bad_text(item))?;
            let t = i64::try_from(t)
                .ok()
                .filter(|&t| is_valid_instant(t))
                .ok_or_else(|| Error::datetime(format!("browsing_summary: visit {} has an instant out of range: {item}", i + 1)))?;
            fa::push(&mut out, t, "browsing_summary input")?;
        }
    }
    check_instants(out.iter().copied(), false)?;
    Ok(out)
}

// ---- the aggregates' state ----

/// The state of `browsing_agg` and of its `rollup`: the visits, unsorted, bounded by
/// `pg_segment.memory_limit` (8 bytes a visit).
///
/// Partial state (little endian): `[version u8 = 1][n u64][n instants i64]`.
#[derive(Clone, Debug, PartialEq)]
pub struct BrowsingState {
    pub instants: Vec<i64>,
    pub limit: Limit,
}

impl BrowsingState {
    pub fn new(limit: Limit) -> BrowsingState {
        BrowsingState { instants: Vec::new(), limit }
    }

    fn grow(&mut self, extra: usize) -> Result<()> {
        let need = self.instants.len().saturating_add(extra);
        if need > MAX_VISITS {
            return Err(Error::limit(format!(
                "{}: more than {MAX_VISITS} visits for one customer (the text form of a browsing_summary, which pg_dump writes, is limited to 1 GB)",
                self.limit.what
            ))
            .with_hint("aggregate per customer, or per month and roll the months up"));
        }
        if need > self.instants.capacity() {
            let want = need.max(self.instants.capacity() * 2).max(8);
            // the bound counts the final step's sorted copy too
            self.limit.check(fa::bytes_of::<i64>(want).saturating_add(fa::bytes_of::<i64>(need)))?;
            fa::reserve_total(&mut self.instants, want, self.limit.what)?;
        }
        Ok(())
    }

    pub fn push(&mut self, at: i64) -> Result<()> {
        if self.instants.len() == self.instants.capacity() {
            self.grow(1)?;
        }
        self.instants.push(at);
        Ok(())
    }

    pub fn extend(&mut self, more: impl ExactSizeIterator<Item = i64>) -> Result<()> {
        self.grow(more.len())?;
        self.instants.extend(more);
        Ok(())
    }

    pub fn try_clone(&self) -> Result<BrowsingState> {
        let mut c = BrowsingState::new(self.limit);
        c.extend(self.instants.iter().copied())?;
        Ok(c)
    }

    pub fn serialized_len(&self) -> usize {
        1 + 8 + 8 * self.instants.len()
    }

    pub fn serialize_into(&self, out: &mut [u8]) {
        let mut w = super::codec::Writer::new(out);
        w.record(1u8);
        w.record(self.instants.len() as u64);
        w.records(&self.instants);
        w.finish();
    }

    pub fn deserialize(bytes: &[u8], limit: Limit) -> Result<BrowsingState> {
        let mut r = super::codec::Reader::new(bytes, "browsing_agg partial state is truncated");
        if r.u8()? != 1 {
            return Err(Error::binary("browsing_agg partial state has an unknown version"));
        }
        let n = r.u64()? as usize;
        r.ensure(n.saturating_mul(8))?;
        let mut s = BrowsingState::new(limit);
        s.grow(n)?;
        r.records_into(&mut s.instants, n, "browsing_agg partial state")?;
        Ok(s)
    }
}

// ---- active flag and lifecycle stages ----

/// `browsing_active`: at least `min_visits` visits in the `window_days` calendar days ending
/// with as_of's day (defaults 50 in 30: the guide's "more than 50 times a month").
#[derive(Clone, Debug, PartialEq)]
pub struct Activity {
    pub window_days: i64,
    pub min_visits: i64,
}

impl Activity {
    pub fn parse<'a>(doc: impl Into<Json<'a>>) -> Result<Activity> {
        let mut o = Obj::read("browsing config", doc)?;
        let a = Activity { window_days: o.i64("window_days", 30)?, min_visits: o.i64("min_visits", 50)? };
        o.finish()?;
        if !(1..=36_500).contains(&a.window_days) {
            return Err(Error::invalid(format!("browsing config: key \"window_days\" must be between 1 and 36500, got {}", a.window_days)));
        }
        if !(1..=1_000_000_000).contains(&a.min_visits) {
            return Err(Error::invalid(format!(
                "browsing config: key \"min_visits\" must be between 1 and 1000000000, got {}",
                a.min_visits
            )));
        }
        Ok(a)
    }
}

/// Lifecycle stages with browsing: the stages of [`Lifecycle`], except that a customer without an
/// order in the last `at_risk_days` is told apart by whether they still browse (at least
/// `min_visits` visits in the `visit_days` calendar days ending with as_of's day).
#[derive(Clone, Debug, PartialEq)]
pub struct BrowsingStages {
    pub lifecycle: Lifecycle,
    pub visit_days: i64,
    pub min_visits: i64,
}

/// The stages that browsing adds, after [`Lifecycle::label`]'s six (indexes 6 and 7).
pub const EXTRA_STAGES: [(&str, &str, &str); 2] =
    [("lapsed_browsing", "流失仍浏览", "Lapsed, still browsing"), ("no_activity", "无活动", "No activity")];

impl BrowsingStages {
    /// The lifecycle config with two more keys, `visit_days` (30) and `min_visits` (1).
    pub fn parse<'a>(doc: impl Into<Json<'a>>) -> Result<BrowsingStages> {
        let mut v = doc.into().into_value("lifecycle config")?;
        let (mut visit_days, mut min_visits) = (30, 1);
        if let Value::Object(m) = &mut v {
            for (key, slot) in [("visit_days", &mut visit_days), ("min_visits", &mut min_visits)] {
                match m.remove(key) {
                    None | Some(Value::Null) => {}
                    Some(x) => {
                        *slot = x
                            .as_i64()
                            .ok_or_else(|| Error::invalid(format!("lifecycle config: key \"{key}\" must be a whole number, got {x}")))?
                    }
                }
            }
        }
        let lifecycle = Lifecycle::parse(v)?;
        if !(1..=36_500).contains(&visit_days) {
            return Err(Error::invalid(format!("lifecycle config: key \"visit_days\" must be between 1 and 36500, got {visit_days}")));
        }
        if !(1..=1_000_000_000).contains(&min_visits) {
            return Err(Error::invalid(format!("lifecycle config: key \"min_visits\" must be between 1 and 1000000000, got {min_visits}")));
        }
        Ok(BrowsingStages { lifecycle, visit_days, min_visits })
    }

    /// The stage from local days since the last and first order (`None` without an order by
    /// as_of) and the visits in the last `visit_days` days.
    pub fn stage(&self, recency: Option<i64>, tenure: Option<i64>, recent_visits: i64) -> Label {
        let browses = recent_visits >= self.min_visits;
        match self.lifecycle.stage_index(recency, tenure) {
            0 if !browses => Label::of(EXTRA_STAGES[1]),
            5 if browses => Label::of(EXTRA_STAGES[0]),
            i => Lifecycle::label(i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{pg_day, USECS_PER_DAY};
    use crate::ErrCode;

    fn at(y: i64, m: u32, d: u32, h: i64) -> i64 {
        pg_day(y, m, d) * USECS_PER_DAY + h * 3_600_000_000
    }

    fn stored(instants: &[i64]) -> Vec<u8> {
        let mut b = vec![0u8; encoded_len(instants.len())];
        write(instants, &mut b);
        b
    }

    #[test]
    fn windows_months_and_last_visit() {
        let v = [at(2025, 1, 31, 23), at(2025, 2, 1, 1), at(2025, 3, 10, 12), at(2025, 3, 10, 12), at(2025, 3, 31, 20), at(2025, 4, 2, 0)];
        let b = stored(&v);
        let view = View::new(&b).unwrap();
        let utc = |t: i64| t;
        let as_of = at(2025, 3, 31, 21);
        assert_eq!(view.cut(Some(as_of)), 5);
        assert_eq!(view.last_visit(Some(as_of)), Some(at(2025, 3, 31, 20)));
        assert_eq!(view.last_visit(Some(at(2024, 1, 1, 0))), None);
        // 30 days ending 2025-03-31: from 2025-03-02
        assert_eq!(view.window_visits(as_of, 30, &utc), 3);
        assert_eq!(view.window_visits(as_of, 1, &utc), 1);
        // in UTC+8 the 23:00 UTC visit of 31 January is on 1 February
        let east = |t: i64| t + 8 * 3_600_000_000;
        assert_eq!(view.per_month(as_of, 3, &utc), vec![(2025, 1, 1), (2025, 2, 1), (2025, 3, 3)]);
        // (and as_of is already 1 April there)
        assert_eq!(view.per_month(as_of, 3, &east), vec![(2025, 2, 2), (2025, 3, 2), (2025, 4, 1)]);
        // across a year end
        assert_eq!(view.per_month(at(2025, 1, 31, 23), 2, &utc), vec![(2024, 12, 0), (2025, 1, 1)]);
    }

    #[test]
    fn text_and_binary_forms_round_trip_and_check() {
        let v = [at(2025, 1, 1, 0), at(2025, 1, 1, 0), at(2025, 2, 3, 4) + 5];
        let b = stored(&v);
        check_binary(&b).unwrap();
        let mut text = String::new();
        write_text(&View::new(&b).unwrap(), &mut |p| text.push_str(p));
        assert_eq!(text, "b1:2025-01-01T00:00:00Z|2025-01-01T00:00:00Z|2025-02-03T04:00:00.000005Z");
        assert_eq!(parse_text(&text).unwrap(), v.to_vec());
        assert_eq!(parse_text("b1:").unwrap(), Vec::<i64>::new());
        assert_eq!(parse_text("b1:2025-02-01T00:00:00Z|2025-01-01T00:00:00Z").unwrap_err().code, ErrCode::InvalidText);
        assert_eq!(parse_text("b2:").unwrap_err().code, ErrCode::NotSupported);
        assert_eq!(parse_text("v1:").unwrap_err().code, ErrCode::InvalidText);
        assert_eq!(parse_text("b1:2025-13-01T00:00:00Z").unwrap_err().code, ErrCode::InvalidText);
        let mut unsorted = stored(&[2, 1]);
        assert_eq!(check_binary(&unsorted).unwrap_err().code, ErrCode::InvalidBinary);
        unsorted.pop();
        assert_eq!(check_binary(&unsorted).unwrap_err().code, ErrCode::InvalidBinary);
        assert_eq!(check_binary(&[2, 0, 0, 0]).unwrap_err().code, ErrCode::NotSupported);
        assert_eq!(check_binary(&[1, 1, 0, 0]).unwrap_err().code, ErrCode::InvalidBinary);
    }

    #[test]
    fn state_round_trips_and_is_bounded() {
        let limit = Limit { bytes: 1 << 20, what: "browsing_agg" };
        let mut s = BrowsingState::new(limit);
        for t in [5, 1, 3] {
            s.push(t).unwrap();
        }
        let mut b = vec![0u8; s.serialized_len()];
        s.serialize_into(&mut b);
        assert_eq!(BrowsingState::deserialize(&b, limit).unwrap().instants, vec![5, 1, 3]);
        let mut claim = b[..9].to_vec();
        claim[1..9].copy_from_slice(&(1u64 << 60).to_le_bytes());
        assert_eq!(BrowsingState::deserialize(&claim, limit).unwrap_err().message, "browsing_agg partial state is truncated");
        let tiny = Limit { bytes: 4096, what: "browsing_agg" };
        let mut t = BrowsingState::new(tiny);
        let e = (0..10_000).try_for_each(|i| t.push(i)).unwrap_err();
        assert_eq!(e.code, ErrCode::OutOfMemory);
        assert!(e.message.contains("pg_segment.memory_limit"), "{}", e.message);
    }

    #[test]
    fn activity_and_stages() {
        let a = Activity::parse("{}").unwrap();
        assert_eq!((a.window_days, a.min_visits), (30, 50));
        assert!(Activity::parse(r#"{"min_visits": 0}"#).unwrap_err().message.contains("min_visits"));
        assert!(Activity::parse(r#"{"days": 7}"#).unwrap_err().message.contains("unknown key \"days\""));
        let s = BrowsingStages::parse("{}").unwrap();
        // never bought: prospect while browsing, no activity otherwise
        assert_eq!(s.stage(None, None, 1).code, "prospect");
        assert_eq!(s.stage(None, None, 0).code, "no_activity");
        // no order in the last 365 days: still browsing is told apart from churned
        assert_eq!(s.stage(Some(366), Some(700), 3).code, "lapsed_browsing");
        assert_eq!(s.stage(Some(366), Some(700), 0).code, "churned");
        // the other stages are the plain lifecycle's, whatever the browsing
        assert_eq!(s.stage(Some(365), Some(700), 9).code, "at_risk");
        assert_eq!(s.stage(Some(10), Some(10), 0).code, "new");
        let s = BrowsingStages::parse(r#"{"min_visits": 5, "visit_days": 7, "at_risk_days": 200}"#).unwrap();
        assert_eq!(s.stage(Some(201), Some(700), 4).zh, "流失");
        assert_eq!(s.stage(Some(201), Some(700), 5).en, "Lapsed, still browsing");
        assert!(BrowsingStages::parse(r#"{"visit_days": 0}"#).unwrap_err().message.contains("visit_days"));
        assert!(BrowsingStages::parse(r#"{"min_visits": "x"}"#).unwrap_err().message.contains("min_visits"));
        assert!(BrowsingStages::parse(r#"{"visits": 1}"#).unwrap_err().message.contains("unknown key \"visits\""));
    }
}
