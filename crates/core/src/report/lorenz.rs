//! The Lorenz curve of spend (the 80/20 check) with its Gini coefficient, for `segment.lorenz`.
//!
//! Customers are taken from the lowest spender up; a point of the curve is (share of customers,
//! their share of revenue) after every `step` customers and after the last one (no point closer
//! than `min_group_size` before the last). With the values x_1 <= ... <= x_n, their running sums c_i and total c_n:
//!   Gini = (n + 1 - 2 * sum(c_i) / c_n) / n   (0 when everyone spends the same, (n - 1) / n
//!                                               when one customer spends everything)
//!   top 20% share = (c_n - c_(n - ceil(0.2 n))) / c_n
//! Ties need no rule: every order of equal values gives the same sums. Without a positive total
//! the shares and the Gini coefficient are undefined (None).

use crate::cancel::{self, Ticker};
use crate::{Error, Result};

/// One point of the curve.
#[derive(Clone, Debug, PartialEq)]
pub struct LorenzPoint {
    pub customers: u64,
    pub customer_share: f64,
    pub revenue_share: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Lorenz {
    pub points: Vec<LorenzPoint>,
    pub gini: Option<f64>,
    pub top20_revenue_share: Option<f64>,
}

/// The most points a curve may have.
pub const MAX_POINTS: i64 = 10_000;

/// Customers between two points: enough for at most `points` points, and at least
/// `min_group_size` (so that no point tells the spend of fewer customers than that; the gap
/// before the last point may be wider, never narrower).
pub fn step(n: u64, points: i64, min_group_size: i64) -> Result<u64> {
    if !(1..=MAX_POINTS).contains(&points) {
        return Err(Error::invalid(format!("points must be between 1 and {MAX_POINTS}, got {points}")));
    }
    if min_group_size < 0 {
        return Err(Error::invalid(format!("min_group_size must not be negative, got {min_group_size}")));
    }
    Ok(n.div_ceil(points as u64).max(min_group_size as u64).max(1))
}

/// The curve of `values` (finite numbers, any order: sorted here in place).
pub fn lorenz(values: &mut [f64], points: i64, min_group_size: i64) -> Result<Lorenz> {
    let n = values.len() as u64;
    let step = step(n, points, min_group_size)?;
    if let Some(i) = values.iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid(format!("spend[{}] must be a finite number, got {}", i + 1, values[i])));
    }
    cancel::sort_unstable_by(values, |a, b| a.total_cmp(b));
    // running sums in a compensated (Neumaier) sum, so that the total of a million amounts is
    // exact to the cent whatever their sizes
    let mut tick = Ticker::new();
    let (mut cum, mut comp) = (0.0f64, 0.0f64);
    let (mut cum_sum, mut cum_comp) = (0.0f64, 0.0f64);
    let below_top = n - (n as f64 * 0.2).ceil() as u64;
    let mut at_below_top = 0.0;
    let mut raw: Vec<(u64, f64)> = Vec::new();
    for (i, &x) in values.iter().enumerate() {
        tick.tick(4);
        neumaier(&mut cum, &mut comp, x);
        let c = cum + comp;
        neumaier(&mut cum_sum, &mut cum_comp, c);
        let k = i as u64 + 1;
        if k == below_top {
            at_below_top = c;
        }
        // a point closer to the last than min_group_size would tell the spend of the fewer
        // customers between them: the last gap is then widened instead
        if k == n || (k % step == 0 && n - k >= min_group_size as u64) {
            raw.push((k, c));
        }
    }
    let total = cum + comp;
    let sum_c = cum_sum + cum_comp;
    let defined = total > 0.0;
    let nf = n as f64;
    let points = raw
        .into_iter()
        .map(|(k, c)| LorenzPoint { customers: k, customer_share: k as f64 / nf, revenue_share: defined.then(|| c / total) })
        .collect();
    Ok(Lorenz {
        points,
        gini: defined.then(|| (nf + 1.0 - 2.0 * sum_c / total) / nf),
        top20_revenue_share: defined.then(|| (total - at_below_top) / total),
    })
}

#[inline]
fn neumaier(sum: &mut f64, comp: &mut f64, x: f64) {
    let t = *sum + x;
    if sum.abs() >= x.abs() {
        *comp += (*sum - t) + x;
    } else {
        *comp += (x - t) + *sum;
    }
    *sum = t;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn equal_spend_is_the_diagonal() {
        let mut v = vec![5.0; 10];
        let l = lorenz(&mut v, 100, 0).unwrap();
        assert_eq!(l.points.len(), 10);
        assert!(l.points.iter().all(|p| close(p.customer_share, p.revenue_share.unwrap())));
        assert!(close(l.gini.unwrap(), 0.0));
        assert!(close(l.top20_revenue_share.unwrap(), 0.2));
    }

    #[test]
    fn one_customer_with_everything() {
        let mut v = vec![0.0, 0.0, 0.0, 100.0, 0.0];
        let l = lorenz(&mut v, 100, 0).unwrap();
        assert!(close(l.gini.unwrap(), 4.0 / 5.0));
        assert!(close(l.top20_revenue_share.unwrap(), 1.0));
        assert_eq!(l.points[3].revenue_share, Some(0.0));
        assert_eq!(l.points[4].revenue_share, Some(1.0));
    }

    #[test]
    fn gini_equals_the_mean_difference_definition() {
        // G = sum_i sum_j |x_i - x_j| / (2 n^2 mean), on an arbitrary sample
        let mut rng = crate::test_rng(7);
        let mut v: Vec<f64> = (0..500).map(|_| ((rng() % 100_000) as f64 / 100.0).powi(2) / 1000.0).collect();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let md: f64 = v.iter().map(|a| v.iter().map(|b| (a - b).abs()).sum::<f64>()).sum();
        let g = md / (2.0 * n * n * mean);
        let l = lorenz(&mut v, 100, 0).unwrap();
        assert!((l.gini.unwrap() - g).abs() < 1e-9, "{} against {g}", l.gini.unwrap());
        // the top 20%: the 100 largest of 500
        let mut s = v.clone();
        s.sort_by(|a, b| b.total_cmp(a));
        let top = s[..100].iter().sum::<f64>() / s.iter().sum::<f64>();
        assert!((l.top20_revenue_share.unwrap() - top).abs() < 1e-12);
    }

    #[test]
    fn points_are_spaced_by_share_and_group_size() {
        let mut v: Vec<f64> = (1..=1000).map(|x| x as f64).collect();
        let l = lorenz(&mut v.clone(), 100, 0).unwrap();
        assert_eq!(l.points.len(), 100);
        assert_eq!(l.points[0].customers, 10);
        let l = lorenz(&mut v, 100, 300).unwrap();
        let at: Vec<u64> = l.points.iter().map(|p| p.customers).collect();
        assert_eq!(at, [300, 600, 1000], "no gap below min_group_size, the last one included");
        let l = lorenz(&mut (1..=1000).map(|x| x as f64).collect::<Vec<_>>(), 100, 250).unwrap();
        assert_eq!(l.points.iter().map(|p| p.customers).collect::<Vec<_>>(), [250, 500, 750, 1000]);
        let l = lorenz(&mut [3.0, 1.0, 2.0], 1, 0).unwrap();
        assert_eq!(l.points.len(), 1);
        assert_eq!(l.points[0].customers, 3);
    }

    #[test]
    fn degenerate_and_bad_input() {
        let l = lorenz(&mut [], 100, 0).unwrap();
        assert!(l.points.is_empty() && l.gini.is_none());
        let l = lorenz(&mut [0.0, 0.0], 100, 0).unwrap();
        assert_eq!(l.points.len(), 2);
        assert!(l.gini.is_none() && l.points[0].revenue_share.is_none());
        // refunds above purchases: negative spend counts as it is
        let l = lorenz(&mut [-10.0, 20.0, 30.0], 100, 0).unwrap();
        assert!(close(l.points[0].revenue_share.unwrap(), -0.25));
        assert!(lorenz(&mut [1.0, f64::NAN], 100, 0).unwrap_err().message.contains("spend[2]"));
        assert!(lorenz(&mut [1.0], 0, 0).is_err());
        assert!(lorenz(&mut [1.0], 100, -1).is_err());
    }

    #[test]
    fn sums_are_compensated() {
        // 900,009 cents below a large amount: a plain running sum is off by about 1e-7 there
        let mut v = vec![0.01; 1_000_000];
        v.push(1e12);
        let l = lorenz(&mut v, 10, 0).unwrap();
        assert_eq!(l.points[8].customers, 900_009);
        let cum = l.points[8].revenue_share.unwrap() * (1e12 + 10_000.0);
        assert!((cum - 9000.09).abs() < 1e-9, "{cum}");
        assert!(close(l.points.last().unwrap().revenue_share.unwrap(), 1.0));
    }

    #[test]
    fn a_cancel_stops_the_sort() {
        let mut v: Vec<f64> = (0..2_000_000u64).map(|i| ((i * 7919) % 1_000_003) as f64).collect();
        let (r, _) = cancel::testing::cancel_after(0, || lorenz(&mut v, 100, 0));
        assert!(r.is_err(), "cancelled");
    }
}
