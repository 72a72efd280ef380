//! Calibration and holdout figures of one customer (lifetimes' `calibration_and_holdout_data`),
//! and the per-period counts of a cohort that the tracking series compare with a model.

use crate::cancel::Ticker;
use crate::codec::{Reader, Writer};
use crate::summary::{btyd, SummaryView};
use crate::time::{day_of, Unit};
use crate::{Error, Result};

/// A customer's calibration summary up to `calibration_end` (as [`btyd`]) and the holdout
/// figures from then to `holdout_end`: purchase periods in the holdout, mean order amount there
/// (0 without), and the holdout's length in periods (the same for every customer).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Holdout {
    pub frequency_cal: f64,
    pub recency_cal: f64,
    pub t_cal: f64,
    pub monetary_value_cal: f64,
    pub frequency_holdout: f64,
    pub monetary_value_holdout: f64,
    pub duration_holdout: f64,
}

/// 22023 unless `calibration_end` ≤ `holdout_end`.
pub fn check_holdout_window(calibration_end: i64, holdout_end: i64) -> Result<()> {
    if holdout_end < calibration_end {
        return Err(Error::invalid("holdout_end must not be before calibration_end"));
    }
    Ok(())
}

/// As lifetimes computes it: orders up to `calibration_end` make the calibration summary (a
/// customer without one there is `None`: not part of the calibration); orders after it and up to
/// `holdout_end` count once per purchase period; `duration_holdout` = period of `holdout_end` −
/// period of `calibration_end`. Refunds are ignored, as [`btyd`] ignores them.
pub fn calibration_holdout(
    view: &SummaryView,
    calibration_end: i64,
    holdout_end: i64,
    unit: Unit,
    local: &dyn Fn(i64) -> i64,
) -> Result<Option<Holdout>> {
    check_holdout_window(calibration_end, holdout_end)?;
    let Some(cal) = btyd(view, calibration_end, unit, local) else { return Ok(None) };
    let start = view.cut(Some(calibration_end));
    let end = view.cut(Some(holdout_end));
    let (mut periods, mut orders, mut amount) = (0u64, 0u64, 0i128);
    let mut current: Option<i64> = None;
    let mut tick = Ticker::new();
    for i in start..end {
        tick.tick(1);
        let e = view.get(i);
        if e.is_refund() {
            continue;
        }
        let p = unit.period(day_of(local(e.at)));
        if current != Some(p) {
            periods += 1;
            current = Some(p);
        }
        orders += 1;
        amount += e.amount as i128;
    }
    let duration = unit.period(day_of(local(holdout_end))) - unit.period(day_of(local(calibration_end)));
    Ok(Some(Holdout {
        frequency_cal: cal.frequency,
        recency_cal: cal.recency,
        t_cal: cal.t,
        monetary_value_cal: cal.monetary_value,
        frequency_holdout: periods as f64,
        monetary_value_holdout: if orders > 0 { amount as f64 / orders as f64 / crate::numeric::SCALE as f64 } else { 0.0 },
        duration_holdout: duration as f64,
    }))
}

/// The most periods a tracking series may have (about 270 years of days).
pub const MAX_TRACKING_PERIODS: i64 = 100_000;

/// The state of `tracking_agg`: for a cohort (customers whose first purchase period lies between
/// the period of `start` and that of `calibration_end`), how many were acquired in each period
/// (`births`) and how many repeat purchase periods fall in each (`repeats`: every purchase period
/// after a customer's first, up to `holdout_end`), periods counted from the period of `start`.
#[derive(Clone, Debug, PartialEq)]
pub struct Tracking {
    pub unit: Unit,
    /// first local day of the first period (days since 2000-01-01)
    pub start_day: i64,
    pub start_period: i64,
    pub calibration_periods: i64,
    pub customers: u64,
    pub births: Vec<u64>,
    pub repeats: Vec<u64>,
}

impl Tracking {
    /// An empty series; 22023 for windows in the wrong order or longer than [`MAX_TRACKING_PERIODS`].
    pub fn new(start: i64, calibration_end: i64, holdout_end: i64, unit: Unit, local: &dyn Fn(i64) -> i64) -> Result<Tracking> {
        if calibration_end < start {
            return Err(Error::invalid("calibration_end must not be before start"));
        }
        check_holdout_window(calibration_end, holdout_end)?;
        let start_day = day_of(local(start));
        let start_period = unit.period(start_day);
        let periods = unit.period(day_of(local(holdout_end))) - start_period + 1;
        if periods > MAX_TRACKING_PERIODS {
            return Err(Error::invalid(format!(
                "holdout_end: a tracking series has at most {MAX_TRACKING_PERIODS} periods, start to holdout_end spans {periods}"
            )));
        }
        let calibration_periods = unit.period(day_of(local(calibration_end))) - start_period + 1;
        // the first day of the start's period: a Monday for weeks
        let first_day = (start_day - 20)..=start_day;
        let start_day = first_day.into_iter().find(|d| unit.period(*d) == start_period).unwrap_or(start_day);
        Ok(Tracking {
            unit,
            start_day,
            start_period,
            calibration_periods,
            customers: 0,
            births: vec![0; periods as usize],
            repeats: vec![0; periods as usize],
        })
    }

    pub fn periods(&self) -> usize {
        self.births.len()
    }

    /// Adds one customer's summary (orders after `holdout_end` ignored).
    pub fn add(&mut self, view: &SummaryView, holdout_end: i64, local: &dyn Fn(i64) -> i64) {
        let end = view.cut(Some(holdout_end));
        let mut first: Option<i64> = None;
        let mut last: Option<i64> = None;
        for i in 0..end {
            let e = view.get(i);
            if e.is_refund() {
                continue;
            }
            let p = self.unit.period(day_of(local(e.at))) - self.start_period;
            match first {
                None => {
                    if p < 0 || p >= self.calibration_periods {
                        return; // not in the cohort
                    }
                    first = Some(p);
                    self.births[p as usize] += 1;
                    self.customers += 1;
                }
                Some(_) if last != Some(p) && (p as usize) < self.repeats.len() => self.repeats[p as usize] += 1,
                Some(_) => {}
            }
            last = Some(p);
        }
    }

    /// Adds another state of the same series (22023 when it is another series).
    pub fn merge(&mut self, other: &Tracking) -> Result<()> {
        if (self.unit, self.start_period, self.calibration_periods, self.periods())
            != (other.unit, other.start_period, other.calibration_periods, other.periods())
        {
            return Err(Error::invalid(
                "tracking_agg: start, calibration_end, holdout_end, time_unit and tz must be the same for every row",
            ));
        }
        self.customers += other.customers;
        for (a, b) in self.births.iter_mut().zip(&other.births) {
            *a += b;
        }
        for (a, b) in self.repeats.iter_mut().zip(&other.repeats) {
            *a += b;
        }
        Ok(())
    }

    /// Whether `other` (a fresh state for another row's arguments) is the same series.
    pub fn same_series(&self, other: &Tracking) -> bool {
        (self.unit, self.start_day, self.calibration_periods, self.periods())
            == (other.unit, other.start_day, other.calibration_periods, other.periods())
    }

    pub fn serialized_len(&self) -> usize {
        1 + 1 + 8 * 5 + 16 * self.periods()
    }

    /// Version 1, unit, start day, start period, calibration periods, customers, periods (i64 LE),
    /// then births and repeats (u64 LE).
    pub fn serialize_into(&self, out: &mut [u8]) {
        let mut w = Writer::new(out);
        w.record(1u8);
        w.record(if self.unit == Unit::Days { 1u8 } else { 2u8 });
        for v in [self.start_day, self.start_period, self.calibration_periods, self.customers as i64, self.periods() as i64] {
            w.record(v);
        }
        w.records(&self.births);
        w.records(&self.repeats);
        w.finish();
    }

    pub fn deserialize(bytes: &[u8]) -> Result<Tracking> {
        let bad = || Error::binary("tracking state: inconsistent header");
        let mut r = Reader::new(bytes, "tracking state: truncated");
        if r.u8()? != 1 {
            return Err(Error::binary("tracking state: unknown version"));
        }
        let unit = match r.u8()? {
            1 => Unit::Days,
            2 => Unit::Weeks,
            _ => return Err(bad()),
        };
        let mut v = [0i64; 5];
        for x in v.iter_mut() {
            *x = r.i64()?;
        }
        let [start_day, start_period, calibration_periods, customers, periods] = v;
        if !(1..=MAX_TRACKING_PERIODS).contains(&periods) || !(1..=periods).contains(&calibration_periods) || customers < 0 {
            return Err(bad());
        }
        let births: Vec<u64> = r.records(periods as usize, "tracking state")?;
        let repeats: Vec<u64> = r.records(periods as usize, "tracking state")?;
        if r.remaining() != 0 {
            return Err(Error::binary("tracking state: trailing bytes"));
        }
        Ok(Tracking { unit, start_day, start_period, calibration_periods, customers: customers as u64, births, repeats })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::Summary;
    use crate::time::{pg_day, USECS_PER_DAY};

    fn at(y: i64, m: u32, d: u32, h: i64) -> i64 {
        pg_day(y, m, d) * USECS_PER_DAY + h * 3_600_000_000
    }

    #[test]
    fn calibration_and_holdout_as_lifetimes() {
        let mut s = Summary::new();
        s.push(at(2024, 1, 1, 9), 100_0000, false);
        s.push(at(2024, 1, 5, 9), 50_0000, false);
        s.push(at(2024, 1, 5, 18), 30_0000, false); // same day: one period
        s.push(at(2024, 1, 11, 9), 20_0000, true); // refund: ignored
        s.push(at(2024, 1, 12, 9), 40_0000, false); // holdout
        s.push(at(2024, 1, 12, 10), 20_0000, false); // holdout, same day
        s.push(at(2024, 1, 20, 9), 60_0000, false); // holdout
        s.push(at(2024, 2, 1, 9), 99_0000, false); // after holdout_end
        let bytes = s.encode();
        let v = SummaryView::new(&bytes).unwrap();
        let utc = |t: i64| t;
        let h = calibration_holdout(&v, at(2024, 1, 10, 23), at(2024, 1, 31, 23), Unit::Days, &utc).unwrap().unwrap();
        assert_eq!((h.frequency_cal, h.recency_cal, h.t_cal), (1.0, 4.0, 9.0));
        assert_eq!(h.monetary_value_cal, 80.0);
        assert_eq!(h.frequency_holdout, 2.0);
        assert_eq!(h.monetary_value_holdout, 40.0);
        assert_eq!(h.duration_holdout, 21.0);
        // nobody before the calibration end
        assert!(calibration_holdout(&v, at(2023, 12, 1, 0), at(2024, 3, 1, 0), Unit::Days, &utc).unwrap().is_none());
        assert!(calibration_holdout(&v, at(2024, 3, 1, 0), at(2024, 1, 1, 0), Unit::Days, &utc).is_err());
        // weeks: 2024-01-01 is a Monday
        let w = calibration_holdout(&v, at(2024, 1, 10, 23), at(2024, 1, 31, 23), Unit::Weeks, &utc).unwrap().unwrap();
        assert_eq!((w.frequency_cal, w.recency_cal, w.t_cal, w.frequency_holdout, w.duration_holdout), (0.0, 0.0, 1.0, 2.0, 3.0));
    }

    #[test]
    fn tracking_counts_births_and_repeat_periods() {
        let utc = |t: i64| t;
        let mut tr = Tracking::new(at(2024, 1, 1, 0), at(2024, 1, 10, 23), at(2024, 1, 20, 23), Unit::Days, &utc).unwrap();
        assert_eq!((tr.periods(), tr.calibration_periods), (20, 10));
        let mk = |days: &[(u32, i64)]| {
            let mut s = Summary::new();
            for (d, h) in days {
                s.push(at(2024, 1, *d, *h), 10_0000, false);
            }
            s.encode()
        };
        for days in [vec![(2, 9), (2, 10), (5, 9), (15, 9), (25, 9)], vec![(3, 9)], vec![(12, 9), (13, 9)]] {
            let b = mk(&days);
            tr.add(&SummaryView::new(&b).unwrap(), at(2024, 1, 20, 23), &utc);
        }
        assert_eq!(tr.customers, 2); // the third is acquired in the holdout: not in the cohort
        assert_eq!(tr.births[1], 1);
        assert_eq!(tr.births[2], 1);
        assert_eq!(tr.repeats.iter().sum::<u64>(), 2);
        assert_eq!((tr.repeats[4], tr.repeats[14]), (1, 1));
        let mut bytes = vec![0u8; tr.serialized_len()];
        tr.serialize_into(&mut bytes);
        let back = Tracking::deserialize(&bytes).unwrap();
        assert_eq!(back, tr);
        let mut twice = back.clone();
        twice.merge(&tr).unwrap();
        assert_eq!(twice.customers, 4);
        assert!(Tracking::deserialize(&bytes[..bytes.len() - 1]).is_err());
        let other = Tracking::new(at(2024, 1, 2, 0), at(2024, 1, 10, 23), at(2024, 1, 20, 23), Unit::Days, &utc).unwrap();
        assert!(twice.merge(&other).is_err());
        assert!(Tracking::new(at(2024, 1, 1, 0), at(2024, 1, 10, 23), at(2500, 1, 20, 23), Unit::Days, &utc).is_err());
        // weeks start on the Monday of start's week
        let w = Tracking::new(at(2024, 1, 3, 0), at(2024, 1, 10, 23), at(2024, 1, 20, 23), Unit::Weeks, &utc).unwrap();
        assert_eq!(w.start_day, pg_day(2024, 1, 1));
        assert_eq!(w.periods(), 3);
    }
}
