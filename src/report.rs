//! The report family's SQL surface: `lorenz(spend float8[], points, min_group_size)` (the curve,
//! Gini coefficient and top-20% share, math in `pg_segment_core::report::lorenz`) and
//! `_report_render(doc jsonb) -> text`, the page drawn by `pg_segment_core::report` from the
//! document `segment._report_data` builds. Declared in `sql/report.sql`, where `segment.report`
//! calls both.

use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::fallible::{self as fa, Limit};
use pg_segment_core::report::lorenz::lorenz;
use pg_segment_core::Error;
use pgrx::pg_sys::Datum;

// lorenz(spend float8[], points int, min_group_size bigint)
//   -> setof (customers bigint, customer_share float8, revenue_share float8, gini float8, top20_revenue_share float8)
pg_fn!(fn pgseg_lorenz(fc) {
    let a = F64Array::arg(fc, 0);
    if a.ndim > 1 {
        raise(Error::invalid(format!("spend must be a one-dimensional array, got {} dimensions", a.ndim)));
    }
    let limit = Limit { bytes: crate::pg::guc::memory_limit_bytes(), what: "lorenz" };
    limit.check(fa::bytes_of::<f64>(a.len)).or_raise();
    let mut values = fa::vec_with_capacity::<f64>(a.len, "lorenz").or_raise();
    values.extend(a.values());
    let curve = lorenz(&mut values, arg_i32(fc, 1) as i64, arg_i64(fc, 2)).or_raise();
    drop(values);
    let out = Rows::materialize(fc, 5, "lorenz");
    let opt = |v: Option<f64>| (v.map(ret_f64).unwrap_or(Datum::from(0usize)), v.is_none());
    let (gini, gini_null) = opt(curve.gini);
    let (top, top_null) = opt(curve.top20_revenue_share);
    for p in &curve.points {
        let (share, share_null) = opt(p.revenue_share);
        out.put(
            &mut [Datum::from(p.customers as i64), ret_f64(p.customer_share), share, gini, top],
            &mut [false, false, share_null, gini_null, top_null],
        );
    }
    Datum::from(0usize)
});

// _report_render(doc jsonb)
pg_fn!(fn pgseg_report_render(fc) {
    let doc = arg_json(fc, 0, "doc");
    ret_text(&pg_segment_core::report::render(&doc).or_raise())
});
