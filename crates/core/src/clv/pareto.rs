//! The Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987), fitted by maximum
//! likelihood on the exact likelihood, and its predictions.
//!
//! Likelihood (Fader, Hardie & Lee 2005, "A Note on Deriving the Pareto/NBD Model and Related
//! Expressions", eq. 18-20), written through one integral:
//!
//! L(r, α, s, β | x, t_x, T) = Γ(r+x) α^r β^s / Γ(r) · [F(T) + s·(I(t_x) − I(T))],
//! F(T) = (α+T)^−(r+x) (β+T)^−s,   I(t) = ∫_t^∞ (α+τ)^−(r+x) (β+τ)^−(s+1) dτ,
//!
//! since the customer either lives past T, or dies at some τ in (t_x, T] (dropout density
//! s β^s (β+τ)^−(s+1)). With max = max(α, β), min the other, E_max and E_min the exponents
//! that go with them (r+x for α, s+1 for β) and z = |α − β| / (max + t) in [0, 1),
//!
//! I(t) = (max+t)^−E_max (min+t)^−(E_min − 1) / (r+s+x) · ₂F₁(1, E_max; E_max + E_min; z),
//!
//! the note's ₂F₁(r+s+x, E_min; r+s+x+1; z) after Euler's transformation: its series
//! Σ (E_max)_n / (E_max + E_min)_n zⁿ has positive terms falling at least as fast as zⁿ whatever
//! the frequency (no overflow for large x, no alternating signs), and the α/β ordering keeps z
//! below 1. Everything is kept in logarithms; the likelihood is assembled as
//! F·[(1 − ρ) + q] with ρ = s·I(T)/F in [0, 1] and q = s·I(t_x)/F ≥ ρ, so the bracket is at
//! least 1: no cancellation can make it vanish, which keeps long inactivity (T ≫ t_x, q ≪ 1)
//! and large counts exact. This is the log-sum-exp form of lifetimes' and BTYD's
//! `_log_A_0`, arranged so that the subtraction happens on a quantity bounded away from 0.
//!
//! I(t) depends on (x, t) only, so a fit evaluates the series once per distinct (x, T) and
//! (x, t_x) pair, not once per customer, and each customer then costs one `exp` and one `ln`
//! as in BG/NBD. The gradient is analytic: the same series accumulates ∂H/∂e, ∂H/∂b and ∂H/∂z.

use super::{check_fit_memory_bytes, check_positive, key, maximise, Fit, Frequencies, KeyMap, Objective, Tuples, FIT};
use crate::cancel::Ticker;
use crate::fallible as fa;
use crate::{Error, Result};
use statrs::function::gamma::{digamma, ln_gamma};

/// Parameters of a Pareto/NBD model: purchase rate λ ~ Gamma(r, α), dropout rate μ ~ Gamma(s,
/// β); α and β in the time unit of the data it was fitted on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParetoNbd {
    pub r: f64,
    pub alpha: f64,
    pub s: f64,
    pub beta: f64,
}

impl ParetoNbd {
    pub fn check(&self) -> Result<()> {
        check_positive("pareto_nbd model", &[("r", self.r), ("alpha", self.alpha), ("s", self.s), ("beta", self.beta)])
    }
}

/// Most terms of one series: z = 0.9995 needs about 80,000. Beyond, the point is refused (a fit's
/// line search backs off, a prediction raises 22003).
const MAX_TERMS: u32 = 200_000;

/// H(e, b, z) = Σₙ (e)ₙ / (e+b)ₙ zⁿ = ₂F₁(1, e; e+b; z) for e, b > 0 and 0 ≤ z < 1, with
/// ∂H/∂e, ∂H/∂b and ∂H/∂z from the same terms. `None` when it does not converge in
/// [`MAX_TERMS`] terms. Ours: no maintained crate has ₂F₁ for real parameters (statrs has
/// none), and none gives these derivatives.
fn h_series(e: f64, b: f64, z: f64) -> Option<[f64; 4]> {
    let (mut term, mut sum, mut se, mut sb, mut sz) = (1.0f64, 1.0f64, 0.0f64, 0.0f64, 0.0f64);
    // ∂/∂e and ∂/∂b of ln term_n
    let (mut de, mut db) = (0.0f64, 0.0f64);
    let room = 1e-17 * (1.0 - z);
    let mut n = 0.0f64;
    for _ in 0..MAX_TERMS {
        let inv_e = 1.0 / (e + n);
        let inv_c = 1.0 / (e + b + n);
        let ratio = (e + n) * inv_c;
        // ∂H/∂z = Σ (n+1) term_{n+1} / z = Σ (n+1) term_n ratio_n (no division by z)
        sz += (n + 1.0) * term * ratio;
        de += inv_e - inv_c;
        db -= inv_c;
        term *= ratio * z;
        sum += term;
        se += term * de;
        sb += term * db;
        n += 1.0;
        // the tail is at most term z / (1 − z), with factors up to n, |de|, |db| for the derivatives
        if term * (n + 1.0 + de + db.abs()) <= room * sum {
            return Some([sum, se, sb, sz]);
        }
    }
    None
}

/// ln I(t) and its gradient with respect to (r, α, s, β) (see the module comment).
fn log_i(m: &ParetoNbd, x: f64, t: f64) -> Option<(f64, [f64; 4])> {
    let ParetoNbd { r, alpha, s, beta } = *m;
    let c = r + s + x;
    let (ua, ub) = (alpha + t, beta + t);
    let (la, lb) = (ua.ln(), ub.ln());
    if alpha >= beta {
        let z = (alpha - beta) / ua;
        let [h, he, hb, hz] = h_series(r + x, s + 1.0, z)?;
        let l = -(r + x) * la - s * lb - c.ln() + h.ln();
        let (he, hb, hz) = (he / h, hb / h, hz / h);
        Some((l, [-la - 1.0 / c + he, -(r + x) / ua + hz * ub / (ua * ua), -lb - 1.0 / c + hb, -s / ub - hz / ua]))
    } else {
        let z = (beta - alpha) / ub;
        let [h, he, hb, hz] = h_series(s + 1.0, r + x, z)?;
        let l = -(s + 1.0) * lb - (r + x - 1.0) * la - c.ln() + h.ln();
        let (he, hb, hz) = (he / h, hb / h, hz / h);
        Some((l, [-la - 1.0 / c + hb, -(r + x - 1.0) / ua - hz / ub, -lb - 1.0 / c + he, -(s + 1.0) / ub + hz * ua / (ub * ub)]))
    }
}

/// One (x, t) pair: ln F(t) and ln J(t) = ln(s·I(t)) with their gradients, ρ = J/F (clamped to
/// [0, 1]: J ≤ F exactly, rounding may not know it) and ∇P/F = ∇ln F − ρ ∇ln J for P = F − J.
#[derive(Clone, Copy, Debug, Default)]
struct Pair {
    lf: f64,
    lj: f64,
    gj: [f64; 4],
    one_minus_rho: f64,
    gp: [f64; 4],
}

fn pair(m: &ParetoNbd, x: f64, t: f64) -> Option<Pair> {
    let ParetoNbd { r, alpha, s, beta } = *m;
    let (li, gi) = log_i(m, x, t)?;
    let lj = s.ln() + li;
    let gj = [gi[0], gi[1], gi[2] + 1.0 / s, gi[3]];
    let (ua, ub) = (alpha + t, beta + t);
    let lf = -(r + x) * ua.ln() - s * ub.ln();
    let gf = [-ua.ln(), -(r + x) / ua, -ub.ln(), -s / ub];
    let rho = (lj - lf).exp().min(1.0);
    Some(Pair { lf, lj, gj, one_minus_rho: 1.0 - rho, gp: std::array::from_fn(|i| gf[i] - rho * gj[i]) })
}

/// ln(L / A1) of a customer whose T pair is `pt` and t_x pair `px`, with the weights of the two
/// gradients (the first is P(alive)).
#[inline]
fn combine(pt: &Pair, px: &Pair) -> (f64, f64, f64) {
    let d = px.lj - pt.lf;
    if d <= 0.0 {
        let u = d.exp();
        let den = pt.one_minus_rho + u;
        (pt.lf + den.ln(), 1.0 / den, u / den)
    } else {
        let v = (-d).exp();
        let den = pt.one_minus_rho * v + 1.0;
        (px.lj + den.ln(), v / den, 1.0 / den)
    }
}

/// ln A1 = ln Γ(r+x) − ln Γ(r) + r ln α + s ln β.
fn log_a1(m: &ParetoNbd, x: f64) -> f64 {
    ln_gamma(m.r + x) - ln_gamma(m.r) + m.r * m.alpha.ln() + m.s * m.beta.ln()
}

fn series_error(what: &str) -> Error {
    Error::out_of_range(format!("{what}: the hypergeometric series of the Pareto/NBD likelihood does not converge"))
        .with_hint("alpha and beta differ by many orders of magnitude for a customer this young: the model is degenerate")
}

/// Log-likelihood of one customer (in the model's time unit).
pub fn pareto_nbd_log_likelihood(m: &ParetoNbd, x: f64, tx: f64, t: f64) -> Result<f64> {
    let err = || series_error("pareto_nbd_log_likelihood");
    let (pt, px) = (pair(m, x, t).ok_or_else(err)?, pair(m, x, tx).ok_or_else(err)?);
    Ok(log_a1(m, x) + combine(&pt, &px).0)
}

/// P(alive | x, t_x, T).
pub fn pareto_nbd_p_alive(m: &ParetoNbd, x: f64, tx: f64, t: f64) -> Result<f64> {
    let err = || series_error("pareto_nbd_p_alive");
    let (pt, px) = (pair(m, x, t).ok_or_else(err)?, pair(m, x, tx).ok_or_else(err)?);
    Ok(combine(&pt, &px).1)
}

/// (1 − e^(−k·l)) / k, continuous at k = 0.
fn one_minus_exp_over(k: f64, l: f64) -> f64 {
    if k.abs() < 1e-12 {
        l * (1.0 - 0.5 * k * l)
    } else {
        -(-k * l).exp_m1() / k
    }
}

/// E[X(T, T+t) | x, t_x, T] = P(alive) (r+x)(β+T) / (α+T) · [1 − ((β+T)/(β+T+t))^(s−1)] / (s−1).
pub fn pareto_nbd_expected(m: &ParetoNbd, t: f64, x: f64, tx: f64, age: f64) -> Result<f64> {
    if t == 0.0 {
        return Ok(0.0);
    }
    let alive = pareto_nbd_p_alive(m, x, tx, age)?;
    let ParetoNbd { r, alpha, s, beta } = *m;
    let v = alive * (r + x) / (alpha + age) * (beta + age) * one_minus_exp_over(s - 1.0, (t / (beta + age)).ln_1p());
    if !v.is_finite() {
        return Err(Error::out_of_range("expected purchases: result is not finite"));
    }
    Ok(v.max(0.0))
}

/// E[X(t)] of a customer just acquired: r β / (α (s−1)) · [1 − (β/(β+t))^(s−1)].
pub fn pareto_nbd_expected_new(m: &ParetoNbd, t: f64) -> f64 {
    m.r / m.alpha * m.beta * one_minus_exp_over(m.s - 1.0, (t / m.beta).ln_1p())
}

/// Nodes and weights of 8-point Gauss-Legendre quadrature on [−1, 1] (half of them: symmetric).
const GL8: [(f64, f64); 4] = [
    (0.183_434_642_495_649_8, 0.362_683_783_378_362_0),
    (0.525_532_409_916_329_0, 0.313_706_645_877_887_3),
    (0.796_666_477_413_626_7, 0.222_381_034_453_374_5),
    (0.960_289_856_497_536_3, 0.101_228_536_290_376_3),
];

/// P(X(t) = n) for a customer just acquired: alive throughout with probability (β/(β+t))^s, else
/// dead at τ in (0, t] with density s β^s (β+τ)^−(s+1); X is NBD(r, α) over the time alive:
/// P = NBD(n; t) (β/(β+t))^s + ∫₀ᵗ NBD(n; τ) s β^s (β+τ)^−(s+1) dτ. The integral is taken over
/// u = ln(1 + τ/β), where the dropout density is s e^(−s u) and the integrand is smooth, by
/// composite Gauss-Legendre (64 panels of 8 nodes: an analytic integrand on a bounded interval,
/// where this is exact to rounding; a general adaptive routine would only add a dependency).
pub fn pareto_nbd_pmf(m: &ParetoNbd, t: f64, n: u32) -> f64 {
    let ParetoNbd { r, alpha, s, beta } = *m;
    let nf = n as f64;
    let lc = ln_gamma(r + nf) - ln_gamma(r) - ln_gamma(nf + 1.0);
    let nbd = |tau: f64| {
        if tau <= 0.0 {
            return if n == 0 { 1.0 } else { 0.0 };
        }
        let (la, lt) = ((alpha / (alpha + tau)).ln(), (tau / (alpha + tau)).ln());
        (lc + r * la + nf * lt).exp()
    };
    let u_end = (t / beta).ln_1p();
    let mut p = nbd(t) * (-s * u_end).exp();
    if u_end > 0.0 {
        const PANELS: usize = 64;
        let h = u_end / PANELS as f64;
        let mut integral = 0.0;
        for k in 0..PANELS {
            let mid = (k as f64 + 0.5) * h;
            for (xi, wi) in GL8 {
                for u in [mid - 0.5 * h * xi, mid + 0.5 * h * xi] {
                    integral += wi * nbd(beta * u.exp_m1()) * s * (-s * u).exp();
                }
            }
        }
        p += integral * 0.5 * h;
    }
    p.clamp(0.0, 1.0)
}

/// Pareto/NBD data prepared for repeated likelihood evaluation (times rescaled by `scale`).
struct ParetoData {
    scale: f64,
    weight: f64,
    /// distinct frequencies with their total weight
    xs: Vec<(f64, f64)>,
    /// distinct (x, scaled t) pairs, as T or as t_x
    pairs: Vec<(f64, f64)>,
    /// per customer tuple: (x index, T pair, t_x pair, weight)
    rows: Vec<(u32, u32, u32, f64)>,
    sum_wx: f64,
    repeat_buyers: bool,
    scratch: std::cell::RefCell<Vec<Pair>>,
}

/// Bytes a Pareto/NBD fit of `n` distinct tuples needs beyond its state, at most: the sorted
/// copy, the frequency and pair tables with their indexes, the per-tuple rows and the per-pair
/// scratch (two pairs per tuple at most).
pub fn pareto_fit_bytes(n: usize) -> usize {
    n.saturating_mul(32 + 24 + 24 + 2 * (16 + 32 + std::mem::size_of::<Pair>()))
}

impl ParetoData {
    fn new(rows: &[([f64; 3], f64)]) -> Result<Option<ParetoData>> {
        let Some(f) = Frequencies::new(rows)? else {
            return Ok(None);
        };
        let scale = f.scale;
        let mut pair_index: KeyMap<(u64, u64), u32> = KeyMap::default();
        pair_index.try_reserve(rows.len()).map_err(|_| fa::alloc_failed(FIT, rows.len().saturating_mul(48)))?;
        let mut pairs: Vec<(f64, f64)> = fa::vec_with_capacity(rows.len(), FIT)?;
        let mut out = fa::vec_with_capacity(rows.len(), FIT)?;
        let mut repeat_buyers = false;
        let mut tick = Ticker::new();
        let mut pair_of = |x: f64, t: f64, pairs: &mut Vec<(f64, f64)>| -> Result<u32> {
            let k = (key(x), key(t));
            if let Some(i) = pair_index.get(&k) {
                return Ok(*i);
            }
            fa::push(pairs, (x, t), FIT)?;
            let i = (pairs.len() - 1) as u32;
            pair_index.insert(k, i);
            Ok(i)
        };
        for ([x, tx, t], w) in rows {
            tick.tick(4);
            let i = f.of(*x);
            repeat_buyers |= *x > 0.0;
            let pt = pair_of(*x, t * scale, &mut pairs)?;
            let px = pair_of(*x, tx * scale, &mut pairs)?;
            out.push((i, pt, px, *w));
        }
        let scratch = std::cell::RefCell::new(fa::vec_with_capacity(pairs.len(), FIT)?);
        let Frequencies { xs, weight, sum_wx, .. } = f;
        Ok(Some(ParetoData { scale, weight, xs, pairs, rows: out, sum_wx, repeat_buyers, scratch }))
    }
}

impl Objective<4> for ParetoData {
    fn weight(&self) -> f64 {
        self.weight
    }

    fn ll_grad(&self, p: &[f64; 4]) -> (f64, [f64; 4]) {
        let m = ParetoNbd { r: p[0], alpha: p[1], s: p[2], beta: p[3] };
        let bad = (f64::NAN, [f64::NAN; 4]);
        let mut tick = Ticker::new();
        let mut ll = 0.0;
        let mut g = [0.0; 4];
        let (dg_r, ln_a, ln_b) = (digamma(m.r), m.alpha.ln(), m.beta.ln());
        for &(x, w) in &self.xs {
            tick.tick(16);
            ll += w * log_a1(&m, x);
            g[0] += w * (digamma(m.r + x) - dg_r + ln_a);
            g[1] += w * m.r / m.alpha;
            g[2] += w * ln_b;
            g[3] += w * m.s / m.beta;
        }
        let mut scratch = self.scratch.borrow_mut();
        scratch.clear();
        for &(x, t) in &self.pairs {
            tick.tick(64);
            match pair(&m, x, t) {
                Some(q) => scratch.push(q),
                None => return bad,
            }
        }
        for &(_, pt, px, w) in &self.rows {
            tick.tick(2);
            let (a, b) = (&scratch[pt as usize], &scratch[px as usize]);
            let (l, wp, wq) = combine(a, b);
            ll += w * l;
            for i in 0..4 {
                g[i] += w * (wp * a.gp[i] + wq * b.gj[i]);
            }
        }
        (ll, g)
    }
}

/// Fits Pareto/NBD to weighted (frequency, recency, T) rows; `None` without rows.
pub fn fit_pareto_nbd(data: &Tuples<3>) -> Result<Option<Fit<4>>> {
    let n = data.len()?;
    check_fit_memory_bytes(data, pareto_fit_bytes(n), "pareto_nbd_fit")?;
    let rows = data.sorted()?;
    if rows.is_empty() {
        return Ok(None);
    }
    let customers = data.total_weight();
    let Some(d) = ParetoData::new(&rows)? else {
        return Ok(Some(Fit::unconverged([1.0; 4], customers)));
    };
    let (p, ll, iterations, mut converged, cov) = maximise(&d, [1.0, 1.0, 1.0, 1.0])?;
    // without a repeat buyer the dropout process is not identified; with fewer distinct
    // customers than parameters, or a singular information matrix, nothing is
    if !d.repeat_buyers || rows.len() < 4 || cov.is_none() {
        converged = false;
    }
    let params = [p[0], p[1] / d.scale, p[2], p[3] / d.scale];
    let log_likelihood = ll + d.scale.ln() * d.sum_wx;
    let fit = Fit { params, log_likelihood, customers, iterations, converged, covariance: None };
    Ok(Some(fit.with_log_covariance(if converged { cov } else { None })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ln L by brute force: the integral I over (t_x, T] by composite Simpson on a fine grid in
    /// u = ln(τ + 1), plus the alive term.
    fn ll_brute(m: &ParetoNbd, x: f64, tx: f64, t: f64) -> f64 {
        let ParetoNbd { r, alpha, s, beta } = *m;
        let f = |tau: f64| (alpha + tau).powf(-(r + x)) * (beta + tau).powf(-(s + 1.0));
        let (a, b) = ((tx + 1.0).ln(), (t + 1.0).ln());
        let n = 200_000;
        let h = (b - a) / n as f64;
        let mut sum = 0.0;
        for k in 0..=n {
            let u = a + k as f64 * h;
            let w = if k == 0 || k == n {
                1.0
            } else if k % 2 == 1 {
                4.0
            } else {
                2.0
            };
            sum += w * f(u.exp() - 1.0) * u.exp();
        }
        let integral = sum * h / 3.0;
        let alive = (alpha + t).powf(-(r + x)) * (beta + t).powf(-s);
        log_a1(m, x) + (alive + s * integral).ln()
    }

    #[test]
    fn likelihood_matches_numerical_integration() {
        for m in [
            ParetoNbd { r: 0.55, alpha: 10.58, s: 0.61, beta: 11.67 },
            ParetoNbd { r: 0.55, alpha: 11.67, s: 0.61, beta: 10.58 },
            ParetoNbd { r: 2.0, alpha: 3.0, s: 1.0, beta: 40.0 },
            ParetoNbd { r: 0.3, alpha: 50.0, s: 2.5, beta: 1.5 },
        ] {
            for (x, tx, t) in [(0.0, 0.0, 30.0), (2.0, 30.43, 38.86), (7.0, 5.0, 60.0), (1.0, 1.0, 1.0), (15.0, 70.0, 78.0)] {
                let got = pareto_nbd_log_likelihood(&m, x, tx, t).unwrap();
                let want = ll_brute(&m, x, tx, t);
                assert!((got - want).abs() < 1e-8 * want.abs().max(1.0), "{m:?} ({x}, {tx}, {t}): {got} vs {want}");
            }
        }
    }

    /// Large counts and long inactivity stay finite and keep their limits: a customer silent for
    /// long after many purchases is gone, one who just bought is alive.
    #[test]
    fn stable_for_large_counts_and_long_inactivity() {
        let m = ParetoNbd { r: 0.55, alpha: 10.58, s: 0.61, beta: 11.67 };
        for (x, tx, t) in [(1e6, 1.0, 700.0), (1e6, 700.0, 700.0), (500.0, 1.0, 37.0), (0.0, 0.0, 1e8), (3.0, 1.0, 1e7)] {
            let ll = pareto_nbd_log_likelihood(&m, x, tx, t).unwrap();
            let pa = pareto_nbd_p_alive(&m, x, tx, t).unwrap();
            assert!(ll.is_finite() && (0.0..=1.0).contains(&pa), "({x}, {tx}, {t}): {ll} {pa}");
        }
        assert!(pareto_nbd_p_alive(&m, 1e6, 1.0, 700.0).unwrap() < 1e-300);
        assert!(pareto_nbd_p_alive(&m, 1e6, 700.0, 700.0).unwrap() > 0.99);
        // lifetimes' overflow case (its test_overflow_error): finite and negative
        let m = ParetoNbd { r: 10.465, alpha: 7.98565181e-03, s: 3.0516, beta: 2.820 };
        for (x, tx, t) in [(400.0, 5.0, 6.0), (500.0, 1.0, 37.0), (500.0, 4.0, 37.0)] {
            let ll = pareto_nbd_log_likelihood(&m, x, tx, t).unwrap();
            assert!(ll.is_finite(), "{ll}");
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let t = crate::clv::tests::tuples(&[
            (0.0, 0.0, 30.0, 40.0),
            (0.0, 0.0, 80.0, 25.0),
            (1.0, 10.0, 50.0, 9.0),
            (2.0, 40.0, 60.0, 6.0),
            (5.0, 20.0, 90.0, 2.0),
            (40.0, 89.0, 90.0, 1.0),
        ]);
        let d = ParetoData::new(&t.sorted().unwrap()).unwrap().unwrap();
        for p in [[0.7, 2.0, 0.8, 3.0], [0.7, 3.0, 0.8, 2.0], [2.5, 0.3, 1.7, 0.4], [0.2, 9.0, 0.05, 0.5], [1.0, 1.0, 1.0, 1.0]] {
            crate::clv::tests::fd_check(&d, p, 1e-5);
        }
    }

    #[test]
    fn p_alive_and_expectations_closed_forms() {
        let m = ParetoNbd { r: 0.55, alpha: 10.58, s: 0.61, beta: 11.67 };
        // no repeat purchase right at the start: certainly alive
        assert!((pareto_nbd_p_alive(&m, 0.0, 0.0, 0.0).unwrap() - 1.0).abs() < 1e-12);
        // a new customer's expectation is the conditional one at x = t_x = T = 0
        for t in [1.0, 39.0, 200.0] {
            let a = pareto_nbd_expected_new(&m, t);
            let b = pareto_nbd_expected(&m, t, 0.0, 0.0, 0.0).unwrap();
            assert!((a - b).abs() < 1e-12 * a, "{a} {b}");
        }
        // s = 1 is continuous
        let at = |s: f64| pareto_nbd_expected_new(&ParetoNbd { s, ..m }, 50.0);
        assert!((at(1.0) - at(1.0 + 1e-9)).abs() < 1e-7);
        // the pmf sums to 1 and its mean is the expectation
        for t in [5.0, 39.0, 78.0] {
            let probs: Vec<f64> = (0..400).map(|n| pareto_nbd_pmf(&m, t, n)).collect();
            let total: f64 = probs.iter().sum();
            let mean: f64 = probs.iter().enumerate().map(|(n, p)| n as f64 * p).sum();
            assert!((total - 1.0).abs() < 1e-9, "t {t}: {total}");
            assert!((mean - pareto_nbd_expected_new(&m, t)).abs() < 1e-7, "t {t}: {mean}");
        }
    }

    /// A Pareto/NBD population simulated with known parameters is recovered: each true
    /// log-parameter within 4 standard errors (from the observed information stored in the fit).
    #[test]
    fn fit_recovers_simulated_parameters() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, Exp, Gamma};
        let truth = ParetoNbd { r: 0.8, alpha: 12.0, s: 0.7, beta: 9.0 };
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
        let lam = Gamma::new(truth.r, 1.0 / truth.alpha).unwrap();
        let mu = Gamma::new(truth.s, 1.0 / truth.beta).unwrap();
        let mut data = Tuples::new();
        for i in 0..8000 {
            let t_obs = 20.0 + (i % 60) as f64;
            let (l, d) = (lam.sample(&mut rng), mu.sample(&mut rng));
            let death = Exp::new(d).unwrap().sample(&mut rng);
            let end = death.min(t_obs);
            let (mut now, mut x, mut last) = (0.0, 0.0, 0.0);
            loop {
                now += Exp::new(l).unwrap().sample(&mut rng);
                if now > end {
                    break;
                }
                x += 1.0;
                last = now;
            }
            data.add([x, last, t_obs], 1.0).unwrap();
        }
        let fit = fit_pareto_nbd(&data).unwrap().unwrap();
        assert!(fit.converged, "{fit:?}");
        let cov = fit.covariance.expect("a converged fit has a covariance");
        let want = [truth.r, truth.alpha, truth.s, truth.beta];
        for i in 0..4 {
            let se_log = cov[i][i].sqrt() / fit.params[i];
            let z = (fit.params[i] / want[i]).ln() / se_log;
            assert!(z.abs() < 4.0, "param {i}: {} vs {} (se of log {se_log}, z {z})", fit.params[i], want[i]);
        }
        let m = ParetoNbd { r: fit.params[0], alpha: fit.params[1], s: fit.params[2], beta: fit.params[3] };
        let direct: f64 =
            data.sorted().unwrap().iter().map(|([x, tx, t], w)| w * pareto_nbd_log_likelihood(&m, *x, *tx, *t).unwrap()).sum();
        assert!((direct - fit.log_likelihood).abs() < 1e-8 * direct.abs(), "{direct} vs {}", fit.log_likelihood);
    }

    #[test]
    fn degenerate_data_is_flagged_never_nan() {
        for t in crate::clv::tests::unidentifiable() {
            let f = fit_pareto_nbd(&t).unwrap().unwrap();
            assert!(f.params.iter().all(|p| p.is_finite() && *p > 0.0) && f.log_likelihood.is_finite(), "{f:?}");
            assert!(!f.converged);
        }
        assert!(fit_pareto_nbd(&Tuples::new()).unwrap().is_none());
    }
}
