//! Deterministic synthetic e-commerce store: the data behind `segment.sample_orders` and
//! `segment.sample_customers`, drawn from models with known parameters so that later model fits
//! can be checked against them.
//!
//! | what | model | default |
//! |---|---|---|
//! | window | instants in [start, end) | 2024-01-01 to 2026-01-01, Asia/Shanghai midnight |
//! | acquisition (first purchase) | uniform in [start, end − 30 days) | |
//! | purchase rate λ per day | Gamma(shape `r`, rate `alpha`) | r = 0.75, alpha = 40 |
//! | dropout after each repeat purchase | p ~ Beta(`a`, `b`) | a = 0.8, b = 3.0 |
//! | purchases | BG/NBD: exponential gaps with rate λ until `end`; after each *repeat* purchase the customer leaves with probability p (Fader, Hardie & Lee 2005) | |
//! | spend per customer | ν ~ Gamma(shape `q`, rate `gamma`) | q = 3.5, gamma = 90 |
//! | spend per order | z ~ Gamma(shape `p`, rate ν), rounded to 0.01, at least 0.01 | p = 4 (mean p·gamma/(q−1) = 144) |
//! | refunds | each purchase with probability `refund_rate` gets a refund row 1–15 days later (full refund with probability 0.7, else 10–90%) | 0.03 |
//! | price sensitivity s | Beta(2, 5) per customer | |
//! | discount | outside events: U(0.05, 0.30) with probability s, else 0; in events: U(0.10, 0.50) with probability 0.5 + s/2, else 0.05 | |
//! | promotion events | 年货节 Jan 10–25, 618 Jun 1–18, 双11 Nov 1–11, 双12 Dec 12 (Shanghai days) | flag only: timing is never changed, so the model stays recoverable |
//! | category | preferred category by weight, each order preferred with probability 0.7 | 8 categories |
//!
//! Each customer draws from its own PCG stream seeded by (seed, customer_id), in this order:
//! acquisition, λ, p, ν, sensitivity, preferred category, then the purchases in time order (gap,
//! dropout, amount, refund, discount, category per purchase). So customer k's rows do not depend
//! on how many customers are generated, and the profile agrees with the orders.

use super::config::Obj;
use super::mix::splitmix64;
use super::time::{civil_of_pg_day, format_instant, pg_day, USECS_PER_DAY};
use super::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Exp, Gamma};
use rand_pcg::Pcg64Mcg;
use serde_json::json;

const SHANGHAI_US: i64 = 8 * 3_600_000_000;

#[derive(Clone, Debug, PartialEq)]
pub struct SampleParams {
    pub start_us: i64,
    pub end_us: i64,
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
    pub refund_rate: f64,
}

impl Default for SampleParams {
    fn default() -> Self {
        SampleParams {
            start_us: pg_day(2024, 1, 1) * USECS_PER_DAY - SHANGHAI_US,
            end_us: pg_day(2026, 1, 1) * USECS_PER_DAY - SHANGHAI_US,
            r: 0.75,
            alpha: 40.0,
            a: 0.8,
            b: 3.0,
            p: 4.0,
            q: 3.5,
            gamma: 90.0,
            refund_rate: 0.03,
        }
    }
}

impl SampleParams {
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (name, v, max) in [
            ("r", self.r, 1e3),
            ("alpha", self.alpha, 1e6),
            ("a", self.a, 1e3),
            ("b", self.b, 1e3),
            ("p", self.p, 1e3),
            ("q", self.q, 1e3),
            ("gamma", self.gamma, 1e9),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= max) {
                return Err(format!("{name} must be positive, finite and at most {max}, got {v}"));
            }
        }
        // mean purchases per day r/alpha above 5 would make absurd stores (and unbounded output)
        if self.r / self.alpha > 5.0 {
            return Err(format!("r/alpha (mean purchases per day) must be at most 5, got {}", self.r / self.alpha));
        }
        if !(self.refund_rate >= 0.0 && self.refund_rate < 1.0) {
            return Err(format!("refund_rate must be in [0, 1), got {}", self.refund_rate));
        }
        if self.end_us - self.start_us <= 31 * USECS_PER_DAY {
            return Err("end must be more than 31 days after start".into());
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct OrderRow {
    pub order_id: i64,
    pub customer_id: i64,
    pub ordered_at_us: i64,
    /// amount × 100, negative for refunds
    pub amount_fen: i64,
    pub is_refund: bool,
    pub promotion: bool,
    /// 0..=90
    pub discount_pct: i16,
    pub category: &'static str,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CustomerRow {
    pub customer_id: i64,
    pub birthday_days: i32,
    pub gender: &'static str,
    pub province: &'static str,
    pub city: &'static str,
    pub signup_us: i64,
}

/// The drawn per-customer values, for tests that check the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Latent {
    pub lambda: f64,
    pub p_drop: f64,
    pub nu: f64,
    pub sensitivity: f64,
    pub acquired_us: i64,
    pub preferred: usize,
}

pub const CATEGORIES: [&str; 8] = ["apparel", "beauty", "electronics", "food", "home", "baby", "sports", "books"];
const CATEGORY_WEIGHTS: [u32; 8] = [20, 15, 12, 18, 12, 8, 8, 7];

/// Provinces (short names), online-shopper weights, and cities (capital first).
pub const PROVINCES: [(&str, u32, &[&str]); 34] = [
    ("北京", 30, &["北京"]),
    ("天津", 14, &["天津"]),
    ("河北", 40, &["石家庄", "唐山", "保定"]),
    ("山西", 18, &["太原", "大同"]),
    ("内蒙古", 12, &["呼和浩特", "包头"]),
    ("辽宁", 25, &["沈阳", "大连"]),
    ("吉林", 12, &["长春", "吉林"]),
    ("黑龙江", 15, &["哈尔滨", "大庆"]),
    ("上海", 35, &["上海"]),
    ("江苏", 70, &["南京", "苏州", "无锡", "南通"]),
    ("浙江", 65, &["杭州", "宁波", "温州", "金华"]),
    ("安徽", 35, &["合肥", "芜湖"]),
    ("福建", 35, &["福州", "厦门", "泉州"]),
    ("江西", 25, &["南昌", "赣州"]),
    ("山东", 65, &["济南", "青岛", "烟台"]),
    ("河南", 55, &["郑州", "洛阳"]),
    ("湖北", 40, &["武汉", "宜昌", "襄阳"]),
    ("湖南", 38, &["长沙", "株洲"]),
    ("广东", 100, &["广州", "深圳", "东莞", "佛山"]),
    ("广西", 25, &["南宁", "柳州", "桂林"]),
    ("海南", 6, &["海口", "三亚"]),
    ("重庆", 22, &["重庆"]),
    ("四川", 50, &["成都", "绵阳"]),
    ("贵州", 15, &["贵阳", "遵义"]),
    ("云南", 20, &["昆明", "大理"]),
    ("西藏", 2, &["拉萨"]),
    ("陕西", 25, &["西安", "宝鸡"]),
    ("甘肃", 10, &["兰州", "天水"]),
    ("青海", 3, &["西宁"]),
    ("宁夏", 3, &["银川"]),
    ("新疆", 12, &["乌鲁木齐", "喀什"]),
    ("香港", 4, &["香港"]),
    ("澳门", 1, &["澳门"]),
    ("台湾", 2, &["台北", "高雄"]),
];

/// The RNG of one customer; `stream` separates orders (0) from the profile (1).
fn rng_for(seed: i64, customer_id: i64, stream: u64) -> Pcg64Mcg {
    let s = splitmix64(splitmix64(seed as u64) ^ splitmix64((customer_id as u64).wrapping_mul(3).wrapping_add(stream)));
    Pcg64Mcg::seed_from_u64(s)
}

fn weighted(rng: &mut Pcg64Mcg, weights: impl Iterator<Item = u32> + Clone) -> usize {
    let total: u32 = weights.clone().sum();
    let mut x = rng.gen_range(0..total);
    for (i, w) in weights.enumerate() {
        if x < w {
            return i;
        }
        x -= w;
    }
    unreachable!()
}

fn draw_latent(rng: &mut Pcg64Mcg, p: &SampleParams) -> Latent {
    let span = (p.end_us - 30 * USECS_PER_DAY) - p.start_us;
    let acquired_us = p.start_us + rng.gen_range(0..span);
    let lambda = Gamma::new(p.r, 1.0 / p.alpha).unwrap().sample(rng);
    let p_drop = Beta::new(p.a, p.b).unwrap().sample(rng);
    let nu = Gamma::new(p.q, 1.0 / p.gamma).unwrap().sample(rng);
    let sensitivity = Beta::new(2.0, 5.0).unwrap().sample(rng);
    let preferred = weighted(rng, CATEGORY_WEIGHTS.iter().copied());
    Latent { lambda, p_drop, nu, sensitivity, acquired_us, preferred }
}

pub fn customer_latent(seed: i64, customer_id: i64, params: &SampleParams) -> Latent {
    draw_latent(&mut rng_for(seed, customer_id, 0), params)
}

/// Whether an instant falls in a promotion event (Shanghai local days).
pub fn in_promotion(us: i64) -> bool {
    let day = (us + SHANGHAI_US).div_euclid(USECS_PER_DAY);
    let (_, m, d) = civil_of_pg_day(day);
    matches!((m, d), (1, 10..=25) | (6, 1..=18) | (11, 1..=11) | (12, 12))
}

/// Generates one customer's rows (time order) into `out`; returns nothing else.
fn generate_customer(seed: i64, customer_id: i64, p: &SampleParams, out: &mut Vec<OrderRow>) {
    let mut rng = rng_for(seed, customer_id, 0);
    let lat = draw_latent(&mut rng, p);
    let spend = Gamma::new(p.p, 1.0 / lat.nu).unwrap();
    let gap = if lat.lambda > 0.0 { Exp::new(lat.lambda).ok() } else { None };
    let mut t = lat.acquired_us;
    let mut first = true;
    loop {
        if !first {
            let Some(g) = gap.as_ref() else { break };
            let dt_days: f64 = g.sample(&mut rng);
            let next = t as f64 + dt_days * USECS_PER_DAY as f64;
            if next >= p.end_us as f64 {
                break;
            }
            t = next as i64;
        }
        let amount_fen = ((spend.sample(&mut rng) * 100.0).round() as i64).max(1);
        let promotion = in_promotion(t);
        let discount_pct: i16 = if promotion {
            if rng.gen_bool((0.5 + lat.sensitivity / 2.0).min(1.0)) {
                rng.gen_range(10..=50)
            } else {
                5
            }
        } else if rng.gen_bool(lat.sensitivity) {
            rng.gen_range(5..=30)
        } else {
            0
        };
        let category =
            if rng.gen_bool(0.7) { CATEGORIES[lat.preferred] } else { CATEGORIES[weighted(&mut rng, CATEGORY_WEIGHTS.iter().copied())] };
        let row = OrderRow { order_id: 0, customer_id, ordered_at_us: t, amount_fen, is_refund: false, promotion, discount_pct, category };
        if rng.gen_bool(p.refund_rate) {
            let back = if rng.gen_bool(0.7) { amount_fen } else { ((amount_fen as f64) * rng.gen_range(0.1..0.9)).round().max(1.0) as i64 };
            let later = t + rng.gen_range(USECS_PER_DAY..=15 * USECS_PER_DAY);
            out.push(row.clone());
            out.push(OrderRow { ordered_at_us: later, amount_fen: -back, is_refund: true, ..row });
        } else {
            out.push(row);
        }
        // dropout after each repeat purchase (never right after the first)
        if !first && rng.gen_bool(lat.p_drop.clamp(0.0, 1.0)) {
            break;
        }
        first = false;
    }
    // refunds land among later purchases: restore time order (stable: purchase before its refund)
    out.sort_by_key(|o| o.ordered_at_us);
}

/// All order rows of customers 1..=n, one customer at a time (memory: one customer's rows).
pub struct OrderIter {
    seed: i64,
    params: SampleParams,
    customers: i64,
    next_customer: i64,
    next_order_id: i64,
    buf: Vec<OrderRow>,
    pos: usize,
}

impl OrderIter {
    pub fn new(customers: i64, seed: i64, params: SampleParams) -> OrderIter {
        OrderIter { seed, params, customers, next_customer: 1, next_order_id: 1, buf: Vec::new(), pos: 0 }
    }
}

impl Iterator for OrderIter {
    type Item = OrderRow;

    fn next(&mut self) -> Option<OrderRow> {
        while self.pos >= self.buf.len() {
            if self.next_customer > self.customers {
                return None;
            }
            self.buf.clear();
            self.pos = 0;
            generate_customer(self.seed, self.next_customer, &self.params, &mut self.buf);
            self.next_customer += 1;
        }
        let mut row = self.buf[self.pos].clone();
        self.pos += 1;
        row.order_id = self.next_order_id;
        self.next_order_id += 1;
        Some(row)
    }
}

/// Profile of one customer, consistent with its orders (signup = first purchase).
pub fn customer_profile(seed: i64, customer_id: i64, params: &SampleParams) -> CustomerRow {
    let lat = customer_latent(seed, customer_id, params);
    let mut rng = rng_for(seed, customer_id, 1);
    // age at 2026-01-01: bands weighted so that 25-40 is the most common
    const AGE_BANDS: [(i64, i64, u32); 6] = [(16, 18, 5), (19, 24, 18), (25, 32, 30), (33, 40, 25), (41, 50, 14), (51, 70, 8)];
    let band = AGE_BANDS[weighted(&mut rng, AGE_BANDS.iter().map(|b| b.2))];
    let age = rng.gen_range(band.0..=band.1);
    let year = 2025 - age;
    let birthday = pg_day(year, 1, 1) + rng.gen_range(0..if super::time::is_leap(year) { 366 } else { 365 });
    let gender = if rng.gen_bool(0.56) { "F" } else { "M" };
    let (province, _, cities) = PROVINCES[weighted(&mut rng, PROVINCES.iter().map(|p| p.1))];
    // capital twice as likely as each other city
    let city = cities[weighted(&mut rng, (0..cities.len()).map(|i| if i == 0 { 2 } else { 1 }))];
    CustomerRow { customer_id, birthday_days: birthday as i32, gender, province, city, signup_us: lat.acquired_us }
}

// ---- the params of the SQL functions ----

fn parse_date(key: &str, s: &str) -> Result<i64> {
    let bad = || Error::invalid(format!("params: key \"{key}\" must be a date 'YYYY-MM-DD', got \"{s}\""));
    let mut it = s.splitn(3, '-');
    let y: i64 = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let m: u32 = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let d: u32 = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    if !(1900..=2200).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > super::time::days_in_month(y, m) {
        return Err(bad());
    }
    Ok(pg_day(y, m, d) * USECS_PER_DAY - SHANGHAI_US)
}

fn date_text(us: i64) -> String {
    let (y, m, d) = civil_of_pg_day((us + SHANGHAI_US).div_euclid(USECS_PER_DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Reads the `params` jsonb over the defaults; every key optional.
pub fn parse_params(json: &str) -> Result<SampleParams> {
    let mut o = Obj::parse("params", json)?;
    let d = SampleParams::default();
    let start = match o.take("start") {
        None => d.start_us,
        Some(serde_json::Value::String(s)) => parse_date("start", &s)?,
        Some(v) => return Err(Error::invalid(format!("params: key \"start\" must be a date 'YYYY-MM-DD', got {v}"))),
    };
    let end = match o.take("end") {
        None => d.end_us,
        Some(serde_json::Value::String(s)) => parse_date("end", &s)?,
        Some(v) => return Err(Error::invalid(format!("params: key \"end\" must be a date 'YYYY-MM-DD', got {v}"))),
    };
    let p = SampleParams {
        start_us: start,
        end_us: end,
        r: o.f64("r", d.r)?,
        alpha: o.f64("alpha", d.alpha)?,
        a: o.f64("a", d.a)?,
        b: o.f64("b", d.b)?,
        p: o.f64("p", d.p)?,
        q: o.f64("q", d.q)?,
        gamma: o.f64("gamma", d.gamma)?,
        refund_rate: o.f64("refund_rate", d.refund_rate)?,
    };
    o.finish()?;
    p.validate().map_err(|m| Error::invalid(format!("params: {m}")))?;
    if p.end_us - p.start_us > 20 * 366 * USECS_PER_DAY {
        return Err(Error::invalid("params: the window from \"start\" to \"end\" may span at most 20 years"));
    }
    Ok(p)
}

pub fn model_json(p: &SampleParams) -> serde_json::Value {
    json!({
        "start": date_text(p.start_us), "end": date_text(p.end_us),
        "start_instant": format_instant(p.start_us), "end_instant": format_instant(p.end_us),
        "time_unit": "days",
        "r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b,
        "p": p.p, "q": p.q, "gamma": p.gamma,
        "refund_rate": p.refund_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_and_reject_with_key_names() {
        let p = parse_params("{}").unwrap();
        assert_eq!(date_text(p.start_us), "2024-01-01");
        let p = parse_params(r#"{"start": "2023-01-01", "alpha": 10}"#).unwrap();
        assert_eq!(p.alpha, 10.0);
        assert_eq!(date_text(p.start_us), "2023-01-01");
        assert!(parse_params(r#"{"alpha": -1}"#).unwrap_err().message.contains("alpha"));
        assert!(parse_params(r#"{"start": "2023-02-30"}"#).unwrap_err().message.contains("start"));
        assert!(parse_params(r#"{"betta": 1}"#).unwrap_err().message.contains("betta"));
        assert!(parse_params(r#"{"start": "2025-01-01", "end": "2024-01-01"}"#).is_err());
    }

    fn rows(n: i64, seed: i64) -> Vec<OrderRow> {
        OrderIter::new(n, seed, SampleParams::default()).collect()
    }

    #[test]
    fn deterministic_and_independent_of_population_size() {
        assert_eq!(rows(50, 1), rows(50, 1));
        assert_ne!(rows(50, 1), rows(50, 2));
        let strip = |v: Vec<OrderRow>| {
            v.into_iter().filter(|o| o.customer_id == 7).map(|o| (o.ordered_at_us, o.amount_fen, o.is_refund)).collect::<Vec<_>>()
        };
        assert_eq!(strip(rows(10, 3)), strip(rows(1000, 3)));
        let ids: Vec<i64> = rows(100, 4).iter().map(|o| o.order_id).collect();
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1) && ids[0] == 1);
    }

    #[test]
    fn validate_names_the_bad_field() {
        let bad = |f: fn(&mut SampleParams)| {
            let mut p = SampleParams::default();
            f(&mut p);
            p.validate().unwrap_err()
        };
        assert!(bad(|p| p.alpha = -1.0).contains("alpha"));
        assert!(bad(|p| p.r = f64::NAN).contains("r "));
        assert!(bad(|p| p.b = 0.0).contains("b "));
        assert!(bad(|p| p.refund_rate = 1.0).contains("refund_rate"));
        assert!(bad(|p| p.end_us = p.start_us).contains("end"));
        assert!(SampleParams::default().validate().is_ok());
    }

    /// Sample means of the latent draws agree with the model within about 5 standard errors.
    #[test]
    fn latent_draws_follow_the_model() {
        let p = SampleParams::default();
        let n = 20_000;
        let lat: Vec<Latent> = (1..=n).map(|c| customer_latent(9, c, &p)).collect();
        let mean = |f: &dyn Fn(&Latent) -> f64| lat.iter().map(f).sum::<f64>() / n as f64;
        // Gamma(r, alpha): mean r/alpha, sd sqrt(r)/alpha
        let se = (p.r).sqrt() / p.alpha / (n as f64).sqrt();
        assert!((mean(&|l| l.lambda) - p.r / p.alpha).abs() < 5.0 * se);
        // Beta(a, b): mean a/(a+b), var ab/((a+b)^2 (a+b+1))
        let var = p.a * p.b / ((p.a + p.b).powi(2) * (p.a + p.b + 1.0));
        assert!((mean(&|l| l.p_drop) - p.a / (p.a + p.b)).abs() < 5.0 * (var / n as f64).sqrt());
        // Gamma(q, gamma): mean q/gamma, sd sqrt(q)/gamma
        assert!((mean(&|l| l.nu) - p.q / p.gamma).abs() < 5.0 * p.q.sqrt() / p.gamma / (n as f64).sqrt());
        assert!(lat.iter().all(|l| l.acquired_us >= p.start_us && l.acquired_us < p.end_us - 30 * USECS_PER_DAY));
    }

    #[test]
    fn refunds_follow_their_purchases() {
        let all = rows(5000, 11);
        let purchases = all.iter().filter(|o| !o.is_refund).count() as f64;
        let refunds = all.iter().filter(|o| o.is_refund).count() as f64;
        let share = refunds / purchases;
        // binomial: se = sqrt(0.03 * 0.97 / n)
        assert!((share - 0.03).abs() < 5.0 * (0.03 * 0.97 / purchases).sqrt(), "refund share {share}");
        for (i, o) in all.iter().enumerate() {
            if o.is_refund {
                assert!(o.amount_fen < 0);
                let found = all[..i].iter().rev().take_while(|x| x.customer_id == o.customer_id).any(|x| {
                    !x.is_refund && x.category == o.category && x.amount_fen >= -o.amount_fen && x.ordered_at_us < o.ordered_at_us
                });
                assert!(found, "refund {o:?} has no purchase before it");
            } else {
                assert!(o.amount_fen > 0);
            }
        }
    }

    #[test]
    fn profiles_agree_with_orders() {
        let p = SampleParams::default();
        let all = rows(300, 5);
        for c in 1..=300 {
            let prof = customer_profile(5, c, &p);
            let first = all.iter().filter(|o| o.customer_id == c).map(|o| o.ordered_at_us).min().unwrap();
            assert_eq!(prof.signup_us, first);
            let (_, _, cities) = PROVINCES.iter().find(|x| x.0 == prof.province).unwrap();
            assert!(cities.contains(&prof.city));
        }
    }

    #[test]
    fn promotion_windows_in_shanghai_days() {
        let sh = |y, m, d, h: i64| pg_day(y, m, d) * USECS_PER_DAY + h * 3_600_000_000 - SHANGHAI_US;
        assert!(in_promotion(sh(2024, 11, 11, 23)));
        assert!(!in_promotion(sh(2024, 11, 12, 0)));
        assert!(in_promotion(sh(2025, 6, 18, 12)));
        assert!(!in_promotion(sh(2025, 6, 19, 0)));
        assert!(in_promotion(sh(2024, 12, 12, 0)));
    }
}
