//! Fit checks as numbers: the calibration histogram with its chi-square, the conditional
//! expectations by calibration frequency, the holdout accuracy, the tracking series. Each takes a
//! model and the weighted distinct (frequency_cal, recency_cal, t_cal, frequency_holdout,
//! duration_holdout) tuples of a population (`holdout_agg`), or a cohort's per-period counts
//! (`tracking_agg`, [`super::Tracking`]).

use super::{PurchaseModel, Tracking};
use crate::cancel::Ticker;
use crate::{Error, Result};
use statrs::function::gamma::gamma_ur;

/// One row of the population: the five figures and the customers that have them.
pub type HoldoutRow = ([f64; 5], f64);

/// The bins 0, 1, ..., `max` (the last one is `max` and more), 22023 outside 1..=100.
fn check_max(max: i32) -> Result<u32> {
    if !(1..=100).contains(&max) {
        return Err(Error::invalid(format!("max_frequency must be between 1 and 100, got {max}")));
    }
    Ok(max as u32)
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistogramRow {
    pub frequency: u32,
    pub observed: f64,
    pub expected: f64,
    /// (observed − expected)² / expected
    pub chi_square: f64,
}

/// Customers with 0, 1, ..., max−1 and max-or-more repeat purchases in the calibration period,
/// observed and expected (Σ over customers of P(X(T_cal) = n)).
pub fn calibration_histogram<M: PurchaseModel>(m: &M, rows: &[HoldoutRow], max: i32) -> Result<Vec<HistogramRow>> {
    let max = check_max(max)?;
    let bins = max as usize + 1;
    let mut observed = vec![0.0; bins];
    let mut expected = vec![0.0; bins];
    // customers by T: rows are sorted by x first, so gather the distinct T values
    let mut by_t: Vec<(f64, f64)> = rows.iter().map(|(v, w)| (v[2], *w)).collect();
    by_t.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut tick = Ticker::new();
    let mut i = 0;
    while i < by_t.len() {
        let t = by_t[i].0;
        let mut w = 0.0;
        while i < by_t.len() && by_t[i].0 == t {
            w += by_t[i].1;
            i += 1;
        }
        tick.tick(bins as u64);
        total += w;
        for (n, e) in expected.iter_mut().enumerate().take(bins - 1) {
            *e += w * m.pmf(t, n as u32);
        }
    }
    let below: f64 = expected[..bins - 1].iter().sum();
    expected[bins - 1] = (total - below).max(0.0);
    for (v, w) in rows {
        observed[(v[0].min(max as f64)) as usize] += w;
    }
    Ok((0..bins)
        .map(|n| {
            let (o, e) = (observed[n], expected[n]);
            HistogramRow { frequency: n as u32, observed: o, expected: e, chi_square: if e > 0.0 { (o - e) * (o - e) / e } else { 0.0 } }
        })
        .collect())
}

/// The chi-square statistic of a histogram, its degrees of freedom (bins − 1 − 4 parameters)
/// and p-value (upper tail of the chi-square distribution; `None` without a degree of freedom).
pub fn chi_square(rows: &[HistogramRow]) -> (f64, i32, Option<f64>) {
    let chi: f64 = rows.iter().map(|r| r.chi_square).sum();
    let df = rows.len() as i32 - 1 - 4;
    let p = (df > 0 && chi.is_finite()).then(|| gamma_ur(df as f64 / 2.0, chi / 2.0));
    (chi, df, p)
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConditionalRow {
    pub frequency: u32,
    pub customers: f64,
    /// mean holdout repeat purchases of the bin's customers
    pub actual: f64,
    /// mean of their conditional expectations over their holdout
    pub expected: f64,
}

/// Each customer's expected holdout purchases (the model's conditional expectation over
/// duration_holdout), row by row.
fn expectations<M: PurchaseModel>(m: &M, rows: &[HoldoutRow]) -> Result<Vec<f64>> {
    let mut tick = Ticker::new();
    rows.iter()
        .map(|([x, tx, t, _, d], _)| {
            tick.tick(8);
            m.expected(*d, *x, *tx, *t)
        })
        .collect()
}

/// Holdout purchases by calibration frequency bin 0, 1, ..., max (the last: max and more):
/// actual mean against expected mean, with the bin's size.
pub fn conditional_expectations<M: PurchaseModel>(m: &M, rows: &[HoldoutRow], max: i32) -> Result<Vec<ConditionalRow>> {
    let max = check_max(max)?;
    let e = expectations(m, rows)?;
    let mut out: Vec<ConditionalRow> =
        (0..=max).map(|n| ConditionalRow { frequency: n, customers: 0.0, actual: 0.0, expected: 0.0 }).collect();
    for ((v, w), e) in rows.iter().zip(e) {
        let b = &mut out[v[0].min(max as f64) as usize];
        b.customers += w;
        b.actual += w * v[3];
        b.expected += w * e;
    }
    for b in &mut out {
        if b.customers > 0.0 {
            b.actual /= b.customers;
            b.expected /= b.customers;
        }
    }
    Ok(out)
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Accuracy {
    pub customers: f64,
    pub actual: f64,
    pub expected: f64,
    /// 100 (expected − actual) / actual; `None` without an actual purchase
    pub error_percent: Option<f64>,
    /// Pearson correlation of customers' actual and expected holdout purchases
    pub correlation: Option<f64>,
    pub mean_absolute_error: f64,
}

/// Aggregate and customer-level accuracy over the holdout.
pub fn holdout_accuracy<M: PurchaseModel>(m: &M, rows: &[HoldoutRow]) -> Result<Accuracy> {
    let e = expectations(m, rows)?;
    let (mut n, mut sa, mut se, mut saa, mut see, mut sae, mut abs) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for ((v, w), e) in rows.iter().zip(e) {
        let a = v[3];
        n += w;
        sa += w * a;
        se += w * e;
        saa += w * a * a;
        see += w * e * e;
        sae += w * a * e;
        abs += w * (a - e).abs();
    }
    if n == 0.0 {
        return Ok(Accuracy {
            customers: 0.0,
            actual: 0.0,
            expected: 0.0,
            error_percent: None,
            correlation: None,
            mean_absolute_error: 0.0,
        });
    }
    let cov = sae / n - (sa / n) * (se / n);
    let va = saa / n - (sa / n) * (sa / n);
    let ve = see / n - (se / n) * (se / n);
    Ok(Accuracy {
        customers: n,
        actual: sa,
        expected: se,
        error_percent: (sa > 0.0).then(|| 100.0 * (se - sa) / sa),
        correlation: (va > 0.0 && ve > 0.0).then(|| (cov / (va * ve).sqrt()).clamp(-1.0, 1.0)),
        mean_absolute_error: abs / n,
    })
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackingRow {
    /// 1-based group number
    pub period: i64,
    /// first local day of the group (days since 2000-01-01)
    pub first_day: i64,
    /// whether the group starts after the calibration period
    pub holdout: bool,
    pub actual: f64,
    pub expected: f64,
    pub actual_cumulative: f64,
    pub expected_cumulative: f64,
}

/// Repeat purchases of the cohort per group of `group` periods, actual against expected. A
/// customer acquired in period b has age k − b at the end of period k (T as `btyd` counts it),
/// so the expected cumulative repeat purchases at the end of period k are
/// Σ_b births[b] · E[X(k − b)] of a customer just acquired.
pub fn tracking_series<M: PurchaseModel>(m: &M, tr: &Tracking, group: i32) -> Result<Vec<TrackingRow>> {
    if !(1..=1000).contains(&group) {
        return Err(Error::invalid(format!("period_length must be between 1 and 1000 periods, got {group}")));
    }
    let p = tr.periods();
    let mut tick = Ticker::new();
    let mut e_new = Vec::with_capacity(p);
    for d in 0..p {
        tick.tick(8);
        e_new.push(m.expected_new(d as f64)?);
    }
    let mut out = Vec::new();
    let (mut act, mut prev_exp) = (0.0, 0.0);
    let group = group as usize;
    let mut k0 = 0;
    while k0 < p {
        let k1 = (k0 + group).min(p) - 1;
        tick.tick(k1 as u64 + 1);
        let expected_cum: f64 = (0..=k1).map(|b| tr.births[b] as f64 * e_new[k1 - b]).sum();
        let actual: f64 = tr.repeats[k0..=k1].iter().map(|v| *v as f64).sum();
        act += actual;
        let days_per_period = if tr.unit == crate::time::Unit::Days { 1 } else { 7 };
        out.push(TrackingRow {
            period: (k0 / group + 1) as i64,
            first_day: tr.start_day + (k0 * days_per_period) as i64,
            holdout: k0 as i64 >= tr.calibration_periods,
            actual,
            expected: expected_cum - prev_exp,
            actual_cumulative: act,
            expected_cumulative: expected_cum,
        });
        prev_exp = expected_cum;
        k0 = k1 + 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::{Bgnbd, ParetoNbd};

    fn rows() -> Vec<HoldoutRow> {
        vec![
            ([0.0, 0.0, 30.0, 0.0, 20.0], 50.0),
            ([0.0, 0.0, 30.0, 1.0, 20.0], 10.0),
            ([1.0, 12.0, 30.0, 0.0, 20.0], 20.0),
            ([2.0, 25.0, 28.0, 2.0, 20.0], 8.0),
            ([9.0, 27.0, 29.0, 5.0, 20.0], 2.0),
        ]
    }

    #[test]
    fn histogram_sums_to_the_customers() {
        let m = Bgnbd { r: 0.5, alpha: 10.0, a: 0.8, b: 2.5 };
        let h = calibration_histogram(&m, &rows(), 7).unwrap();
        assert_eq!(h.len(), 8);
        let (o, e): (f64, f64) = (h.iter().map(|r| r.observed).sum(), h.iter().map(|r| r.expected).sum());
        assert_eq!(o, 90.0);
        assert!((e - 90.0).abs() < 1e-9, "{e}");
        assert_eq!((h[0].observed, h[7].observed), (60.0, 2.0));
        let (chi, df, p) = chi_square(&h);
        assert_eq!(df, 3);
        assert!(chi > 0.0 && p.unwrap() > 0.0 && p.unwrap() < 1.0);
        // the pmf sums to one for both models
        let pn = ParetoNbd { r: 0.5, alpha: 10.0, s: 0.8, beta: 12.0 };
        let hp = calibration_histogram(&pn, &rows(), 30).unwrap();
        assert!(hp.iter().all(|r| r.expected >= 0.0));
        assert!(calibration_histogram(&m, &rows(), 0).is_err());
    }

    #[test]
    fn conditional_and_accuracy_by_hand() {
        let m = Bgnbd { r: 0.5, alpha: 10.0, a: 0.8, b: 2.5 };
        let c = conditional_expectations(&m, &rows(), 2).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!((c[0].customers, c[0].actual), (60.0, 10.0 / 60.0));
        assert_eq!((c[2].customers, c[2].actual), (10.0, (8.0 * 2.0 + 2.0 * 5.0) / 10.0));
        let e0 = m.expected(20.0, 0.0, 0.0, 30.0).unwrap();
        assert!((c[0].expected - e0).abs() < 1e-12);
        let a = holdout_accuracy(&m, &rows()).unwrap();
        assert_eq!((a.customers, a.actual), (90.0, 36.0));
        let want: f64 = rows().iter().map(|([x, tx, t, _, d], w)| w * m.expected(*d, *x, *tx, *t).unwrap()).sum();
        assert!((a.expected - want).abs() < 1e-9);
        assert!((a.error_percent.unwrap() - 100.0 * (want - 36.0) / 36.0).abs() < 1e-9);
        assert!(a.correlation.unwrap() > 0.0);
    }

    #[test]
    fn tracking_expected_is_the_cohort_convolution() {
        let utc = |t: i64| t;
        let day = crate::time::USECS_PER_DAY;
        let mut tr = Tracking::new(0, 9 * day, 19 * day, crate::time::Unit::Days, &utc).unwrap();
        tr.births[0] = 3;
        tr.births[4] = 2;
        tr.repeats[6] = 4;
        let m = Bgnbd { r: 0.5, alpha: 10.0, a: 0.8, b: 2.5 };
        let s = tracking_series(&m, &tr, 1).unwrap();
        assert_eq!(s.len(), 20);
        let want = 3.0 * m.expected_new(19.0).unwrap() + 2.0 * m.expected_new(15.0).unwrap();
        assert!((s[19].expected_cumulative - want).abs() < 1e-12);
        assert_eq!(s[19].actual_cumulative, 4.0);
        assert!(!s[9].holdout && s[10].holdout);
        let weekly = tracking_series(&m, &tr, 7).unwrap();
        assert_eq!(weekly.len(), 3);
        assert_eq!(weekly[2].expected_cumulative, s[19].expected_cumulative);
        let sum: f64 = weekly.iter().map(|r| r.expected).sum();
        assert!((sum - want).abs() < 1e-12);
    }
}
