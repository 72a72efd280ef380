//! The sample family's SQL surface: the sample-store generator (`segment.sample_orders`,
//! `segment.sample_customers`, `segment.sample_model`). The model and its parameters are in
//! `pg_segment_core::sample`; declared in `sql/sample.sql` (beside these `#[pg_extern]`s).

use crate::pg::{raise, OrRaise};
use pg_segment_core::sample::{customer_profile, model_json, parse_params, OrderIter};
use pg_segment_core::Error;
use pgrx::prelude::*;

const MAX_CUSTOMERS: i32 = 20_000_000;

fn check_customers(customers: i32) {
    if !(1..=MAX_CUSTOMERS).contains(&customers) {
        raise(Error::invalid(format!("customers must be between 1 and {MAX_CUSTOMERS}, got {customers}")));
    }
}

/// The generator's SQL functions live in schema `segment` (created by sql/schema.sql).
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
