//! The privacy family's SQL surface: `pseudonym` (HMAC-SHA-256 under `pg_segment.pseudonym_key`,
//! defined in `src/pg/guc.rs`) and `suppress_group` (small-group suppression). Math in
//! `pg_segment_core::privacy`; declared in `sql/privacy.sql` with `export_segments`.

use crate::pg::guc::{key_exposed, memory_limit_bytes, pseudonym_key};
use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::fallible::{self as fa, Limit};
use pg_segment_core::privacy::{exposed_key, no_key, pseudonym, Suppression};
use pg_segment_core::Error;
use pgrx::datum::Array;
use pgrx::{FromDatum, PgSqlErrorCode};

// pseudonym(customer_key text, purpose text) -> text
pg_fn!(fn pgseg_pseudonym(fc) {
    let customer = arg_str(fc, 0, "customer_key");
    let purpose = arg_str(fc, 1, "purpose");
    if key_exposed() {
        let (message, hint) = exposed_key();
        raise_code(PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, message, Some(hint));
    }
    let key = pseudonym_key().unwrap_or_else(|| raise(no_key()));
    ret_text(&pseudonym(key.as_bytes(), purpose, customer))
});

/// The elements of the bigint[] argument `n` (NULL elements are an error naming the argument),
/// within pg_segment.memory_limit.
unsafe fn sizes_arg(fc: FunctionCallInfo, n: usize, name: &str) -> Vec<i64> {
    let array = Array::<i64>::from_polymorphic_datum(arg(fc, n), false, pgrx::pg_sys::INT8OID)
        .unwrap_or_else(|| raise(Error::invalid(format!("{name} must not be NULL"))));
    let limit = Limit { bytes: memory_limit_bytes(), what: "suppress_group" };
    limit.check(fa::bytes_of::<i64>(array.len())).or_raise();
    let mut out = fa::vec_with_capacity(array.len(), "suppress_group").or_raise();
    for (i, v) in array.iter().enumerate() {
        out.push(v.unwrap_or_else(|| raise(Error::invalid(format!("{name}[{}] must not be NULL", i + 1)))));
    }
    out
}

// suppress_group(customers bigint, group_sizes bigint[], min_group_size integer) -> boolean
pg_fn!(fn pgseg_suppress_group(fc) {
    let customers = arg_i64(fc, 0);
    let min_group_size = arg_i32(fc, 2) as i64;
    // every row of one output passes the same sizes: the rule is computed once per query
    let sizes = arg_bytes(fc, 1);
    let mut key = fa::vec_with_capacity(sizes.len() + 8, "suppress_group").or_raise();
    key.extend_from_slice(&min_group_size.to_le_bytes());
    key.extend_from_slice(sizes);
    let rule = cached(fc, &key, || Suppression::new(sizes_arg(fc, 1, "group_sizes"), min_group_size).or_raise());
    Datum::from(rule.suppressed(customers).or_raise())
});

use pgrx::pg_sys::{Datum, FunctionCallInfo};
