//! The clv family's SQL surface (customer lifetime value): the `bgnbd_fit` and `gamma_gamma_fit` aggregates
//! (internal state: weighted distinct tuples, parallel via combine/serialize/deserialize),
//! and the predictions. Declared in `sql/clv.sql`; the math is in `pg_segment_core::clv`.

use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::clv::{self as m, Bgnbd, Fit, GammaGamma, Tuples, Unit};
use pg_segment_core::{Error, Result};
use pgrx::pg_sys::{self, Datum, FunctionCallInfo};

/// A state allocated as a Rust value owned by memory context `cx` (dropped when it is reset),
/// bounded by `pg_segment.memory_limit`.
fn empty<const N: usize>(what: &'static str) -> Tuples<N> {
    Tuples::<N>::with_limit(crate::pg::guc::memory_limit_bytes(), what)
}

/// Transition: (state, values...) with every value a float8; rows with a NULL are skipped.
unsafe fn trans<const N: usize>(fc: FunctionCallInfo, what: &'static str, check: impl Fn(&[f64; N]) -> Result<bool>) -> Datum {
    let state = state_arg::<Tuples<N>>(fc, 0);
    if (1..=N).any(|i| is_null(fc, i)) {
        return state_or_null(fc, state);
    }
    let values: [f64; N] = std::array::from_fn(|i| arg_f64(fc, i + 1));
    if !check(&values).or_raise() {
        return state_or_null(fc, state);
    }
    let st = match state {
        Some(s) => s,
        None => new_state(fc, what, empty::<N>(what)),
    };
    (*st).add(values, 1.0).or_raise();
    Datum::from(st)
}

unsafe fn combine_tuples<const N: usize>(fc: FunctionCallInfo, what: &'static str) -> Datum {
    let cx = agg_context(fc, what);
    let merge = |a: &mut Tuples<N>, b: &mut Tuples<N>| a.merge(b).or_raise();
    combine::<Tuples<N>>(
        fc,
        |b| {
            let a = state_in(cx, empty::<N>(what));
            merge(&mut *a, b);
            a
        },
        merge,
    )
}

unsafe fn serialize<const N: usize>(fc: FunctionCallInfo) -> Datum {
    let st = &*arg(fc, 0).cast_mut_ptr::<Tuples<N>>();
    let len = st.serialized_len().or_raise();
    if len > 0x3FFF_FFFF - pg_sys::VARHDRSZ {
        raise(Error::limit("fit state: the partial state exceeds the 1 GB a value may hold"));
    }
    // written straight into the value (PostgreSQL memory)
    varlena_from(len, |out| st.serialize_into(out))
}

unsafe fn deserialize<const N: usize>(fc: FunctionCallInfo, check: impl Fn(&[f64; N]) -> Result<()>, what: &'static str) -> Datum {
    deserialized(Tuples::<N>::deserialize(arg_bytes(fc, 0), check, crate::pg::guc::memory_limit_bytes(), what).or_raise())
}

fn check_bgnbd_row(v: &[f64; 3]) -> Result<()> {
    m::check_btyd(v[0], v[1], v[2])
}

fn check_spend_row(v: &[f64; 2]) -> Result<()> {
    if m::check_spend(v[0], v[1])? {
        Ok(())
    } else {
        Err(Error::binary("fit state: a non-repeat buyer in a gamma_gamma_fit state"))
    }
}

unsafe fn ret_fit<const K: usize>(fc: FunctionCallInfo, fit: Fit<K>) -> Datum {
    let mut values: Vec<Datum> = fit.params.iter().map(|p| ret_f64(*p)).collect();
    values.push(ret_f64(fit.log_likelihood));
    values.push(ret_i64(fit.customers.round() as i64));
    values.push(ret_i32(fit.iterations as i32));
    values.push(Datum::from(fit.converged));
    let nulls = vec![false; values.len()];
    ret_tuple(fc, &values, &nulls)
}

pg_fn!(fn pgseg_bgnbd_trans(fc) { trans::<3>(fc, "bgnbd_fit", |v| check_bgnbd_row(v).map(|_| true)) });
pg_fn!(fn pgseg_bgnbd_combine(fc) { combine_tuples::<3>(fc, "bgnbd_fit") });
pg_fn!(fn pgseg_bgnbd_serialize(fc) { serialize::<3>(fc) });
pg_fn!(fn pgseg_bgnbd_deserialize(fc) { deserialize::<3>(fc, check_bgnbd_row, "bgnbd_fit") });
pg_fn!(fn pgseg_bgnbd_final(fc) {
    match state_arg::<Tuples<3>>(fc, 0) {
        None => ret_null(fc),
        Some(st) => match m::fit_bgnbd(&*st).or_raise() {
            None => ret_null(fc),
            Some(fit) => ret_fit(fc, fit),
        },
    }
});

pg_fn!(fn pgseg_gg_trans(fc) { trans::<2>(fc, "gamma_gamma_fit", |v| m::check_spend(v[0], v[1])) });
pg_fn!(fn pgseg_gg_combine(fc) { combine_tuples::<2>(fc, "gamma_gamma_fit") });
pg_fn!(fn pgseg_gg_serialize(fc) { serialize::<2>(fc) });
pg_fn!(fn pgseg_gg_deserialize(fc) { deserialize::<2>(fc, check_spend_row, "gamma_gamma_fit") });
pg_fn!(fn pgseg_gg_final(fc) {
    match state_arg::<Tuples<2>>(fc, 0) {
        None => ret_null(fc),
        Some(st) => match m::fit_gamma_gamma(&*st).or_raise() {
            None => ret_null(fc),
            Some(fit) => ret_fit(fc, fit),
        },
    }
});

// ---- model arguments ----

/// Field `attno` (1-based) of a composite argument; an error naming `model.field` when NULL.
unsafe fn field(fc: FunctionCallInfo, n: usize, attno: i16, model: &str, name: &str) -> Datum {
    let tup = pg_sys::pg_detoast_datum(arg(fc, n).cast_mut_ptr()) as pg_sys::HeapTupleHeader;
    let mut isnull = false;
    let d = pg_sys::GetAttributeByNum(tup, attno, &mut isnull);
    if isnull {
        raise(Error::invalid(format!("{model}: {name} must not be NULL")));
    }
    d
}

unsafe fn check_converged(fc: FunctionCallInfo, n: usize, attno: i16, model: &str) {
    let tup = pg_sys::pg_detoast_datum(arg(fc, n).cast_mut_ptr()) as pg_sys::HeapTupleHeader;
    let mut isnull = false;
    let d = pg_sys::GetAttributeByNum(tup, attno, &mut isnull);
    // a hand-made model may leave converged NULL; a fit that did not converge is refused
    if !isnull && d.value() == 0 {
        raise(
            Error::invalid(format!("{model}: the model did not converge, its parameters are not a maximum-likelihood estimate"))
                .with_hint("check the input (enough repeat buyers, consistent time unit); the fields are still readable"),
        );
    }
}

unsafe fn bgnbd_arg(fc: FunctionCallInfo, n: usize) -> Bgnbd {
    let f = |i: i16, name: &str| f64::from_bits(field(fc, n, i, "bgnbd model", name).value() as u64);
    let model = Bgnbd { r: f(1, "r"), alpha: f(2, "alpha"), a: f(3, "a"), b: f(4, "b") };
    model.check().or_raise();
    check_converged(fc, n, 8, "bgnbd model");
    model
}

unsafe fn gamma_gamma_arg(fc: FunctionCallInfo, n: usize) -> GammaGamma {
    let f = |i: i16, name: &str| f64::from_bits(field(fc, n, i, "gamma_gamma model", name).value() as u64);
    let model = GammaGamma { p: f(1, "p"), q: f(2, "q"), gamma: f(3, "gamma") };
    model.check().or_raise();
    check_converged(fc, n, 7, "gamma_gamma model");
    model
}

/// (frequency, recency, t) from arguments n, n+1, n+2, checked.
unsafe fn btyd_args(fc: FunctionCallInfo, n: usize) -> (f64, f64, f64) {
    let (x, tx, t) = (arg_f64(fc, n), arg_f64(fc, n + 1), arg_f64(fc, n + 2));
    m::check_btyd(x, tx, t).or_raise();
    (x, tx, t)
}

unsafe fn duration_arg(fc: FunctionCallInfo, n: usize) -> f64 {
    let d = arg_f64(fc, n);
    if !(d.is_finite() && (0.0..=m::MAX_TIME).contains(&d)) {
        raise(Error::invalid(format!("duration must be finite and between 0 and {:e}, got {d}", m::MAX_TIME)));
    }
    d
}

unsafe fn spend_arg(fc: FunctionCallInfo, freq: f64, n: usize) -> f64 {
    let mv = arg_f64(fc, n);
    m::check_spend(freq, mv).or_raise();
    mv
}

/// A float8 result, never NaN or infinity.
fn ret_finite(v: f64, what: &str) -> Datum {
    if !v.is_finite() {
        raise(Error::out_of_range(format!("{what}: the result is not finite")));
    }
    ret_f64(v)
}

// bgnbd_p_alive(model, frequency, recency, t)
pg_fn!(fn pgseg_bgnbd_p_alive(fc) {
    let model = bgnbd_arg(fc, 0);
    let (x, tx, t) = btyd_args(fc, 1);
    ret_finite(m::bgnbd_p_alive(&model, x, tx, t), "bgnbd_p_alive")
});

// bgnbd_expected_purchases(model, duration, frequency, recency, t)
pg_fn!(fn pgseg_bgnbd_expected(fc) {
    let model = bgnbd_arg(fc, 0);
    let d = duration_arg(fc, 1);
    let (x, tx, t) = btyd_args(fc, 2);
    ret_finite(m::bgnbd_expected(&model, d, x, tx, t).or_raise(), "bgnbd_expected_purchases")
});

// bgnbd_expected_purchases_new(model, duration)
pg_fn!(fn pgseg_bgnbd_expected_new(fc) {
    let model = bgnbd_arg(fc, 0);
    let d = duration_arg(fc, 1);
    ret_finite(m::bgnbd_expected_new(&model, d).or_raise(), "bgnbd_expected_purchases_new")
});

// bgnbd_log_likelihood(model, frequency, recency, t)
pg_fn!(fn pgseg_bgnbd_log_likelihood(fc) {
    let model = bgnbd_arg(fc, 0);
    let (x, tx, t) = btyd_args(fc, 1);
    ret_finite(m::bgnbd_log_likelihood(&model, x, tx, t), "bgnbd_log_likelihood")
});

// gamma_gamma_expected_spend(model, frequency, monetary_value)
pg_fn!(fn pgseg_gg_expected_spend(fc) {
    let model = gamma_gamma_arg(fc, 0);
    let x = arg_f64(fc, 1);
    let mv = spend_arg(fc, x, 2);
    ret_finite(m::gamma_gamma_expected_spend(&model, x, mv), "gamma_gamma_expected_spend")
});

// clv(bgnbd, gamma_gamma, frequency, recency, t, monetary_value, horizon, discount_rate, time_unit)
pg_fn!(fn pgseg_clv(fc) {
    let bg = bgnbd_arg(fc, 0);
    let gg = gamma_gamma_arg(fc, 1);
    let (x, tx, t) = btyd_args(fc, 2);
    let mv = spend_arg(fc, x, 5);
    let horizon = arg_i32(fc, 6);
    let rate = arg_f64(fc, 7);
    let unit = Unit::parse_time_unit(arg_str(fc, 8, "time_unit")).or_raise();
    ret_finite(m::clv(&bg, &gg, x, tx, t, mv, horizon, rate, unit).or_raise(), "clv")
});
