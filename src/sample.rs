//! SQL surface of the sample-store generator (`segment.sample_orders`,
//! `segment.sample_customers`, `segment.sample_model`). The model itself is in
//! `pg_segment_core::sample`.

use crate::pg::{raise, OrRaise};
use pg_segment_core::config::Obj;
use pg_segment_core::sample::{customer_profile, OrderIter, SampleParams};
use pg_segment_core::time::{civil_of_pg_day, format_instant, pg_day, USECS_PER_DAY};
use pg_segment_core::{Error, Result};
use pgrx::prelude::*;
use serde_json::json;

const MAX_CUSTOMERS: i32 = 20_000_000;
/// Shanghai midnight is 16:00 UTC of the previous day.
const SHANGHAI_OFFSET_US: i64 = 8 * 3_600_000_000;

fn parse_date(key: &str, s: &str) -> Result<i64> {
    let bad = || Error::invalid(format!("params: key \"{key}\" must be a date 'YYYY-MM-DD', got \"{s}\""));
    let mut it = s.splitn(3, '-');
    let y: i64 = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let m: u32 = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    let d: u32 = it.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
    if !(1900..=2200).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > pg_segment_core::time::days_in_month(y, m) {
        return Err(bad());
    }
    Ok(pg_day(y, m, d) * USECS_PER_DAY - SHANGHAI_OFFSET_US)
}

fn date_text(us: i64) -> String {
    let (y, m, d) = civil_of_pg_day((us + SHANGHAI_OFFSET_US).div_euclid(USECS_PER_DAY));
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

fn model_json(p: &SampleParams) -> serde_json::Value {
    json!({
        "start": date_text(p.start_us), "end": date_text(p.end_us),
        "start_instant": format_instant(p.start_us), "end_instant": format_instant(p.end_us),
        "time_unit": "days",
        "r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b,
        "p": p.p, "q": p.q, "gamma": p.gamma,
        "refund_rate": p.refund_rate,
    })
}

fn check_customers(customers: i32) {
    if !(1..=MAX_CUSTOMERS).contains(&customers) {
        raise(Error::invalid(format!("customers must be between 1 and {MAX_CUSTOMERS}, got {customers}")));
    }
}

/// The generator's SQL functions live in schema `segment` (created by sql/pg_segment.sql).
#[pg_schema]
mod segment {
    use super::*;

    #[pg_extern(name = "_sample_orders", immutable, parallel_safe, strict)]
    fn sample_orders_raw(
        customers: i32,
        seed: i64,
        params: crate::pg::JsonText,
    ) -> TableIterator<
        'static,
        (
            name!(order_id, i64),
            name!(customer_id, i64),
            name!(ordered_at, TimestampWithTimeZone),
            name!(amount_fen, i64),
            name!(is_refund, bool),
            name!(promotion, bool),
            name!(discount_pct, i16),
            name!(category, &'static str),
        ),
    > {
        check_customers(customers);
        let p = parse_params(&params.0).or_raise();
        TableIterator::new(OrderIter::new(customers as i64, seed, p).map(|o| {
            (
                o.order_id,
                o.customer_id,
                TimestampWithTimeZone::try_from(o.ordered_at_us)
                    .unwrap_or_else(|_| raise(Error::datetime("generated instant out of range"))),
                o.amount_fen,
                o.is_refund,
                o.promotion,
                o.discount_pct,
                o.category,
            )
        }))
    }

    #[pg_extern(name = "_sample_customers", immutable, parallel_safe, strict)]
    fn sample_customers_raw(
        customers: i32,
        seed: i64,
        params: crate::pg::JsonText,
    ) -> TableIterator<
        'static,
        (
            name!(customer_id, i64),
            name!(birthday, pgrx::datum::Date),
            name!(gender, &'static str),
            name!(province, &'static str),
            name!(city, &'static str),
            name!(signup_at, TimestampWithTimeZone),
        ),
    > {
        check_customers(customers);
        let p = parse_params(&params.0).or_raise();
        TableIterator::new((1..=customers as i64).map(move |id| {
            let c = customer_profile(seed, id, &p);
            let birthday = unsafe { pgrx::datum::Date::from_pg_epoch_days(c.birthday_days) };
            (
                c.customer_id,
                birthday,
                c.gender,
                c.province,
                c.city,
                TimestampWithTimeZone::try_from(c.signup_us).unwrap_or_else(|_| raise(Error::datetime("generated instant out of range"))),
            )
        }))
    }

    #[pg_extern(name = "sample_model", immutable, parallel_safe, strict)]
    fn sample_model(params: default!(crate::pg::JsonText, "'{}'")) -> pgrx::JsonB {
        let p = parse_params(&params.0).or_raise();
        pgrx::JsonB(model_json(&p))
    }
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
}
