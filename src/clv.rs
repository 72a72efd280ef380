//! The clv family's SQL surface (customer lifetime value): the fit aggregates `bgnbd_fit`,
//! `pareto_nbd_fit`, `gamma_gamma_fit` and the check aggregates `holdout_agg`, `tracking_agg`
//! (internal states, parallel via combine/serialize/deserialize), the predictions, intervals,
//! fit checks and CRM predictions. Declared in `sql/clv.sql`; the math is in
//! `pg_segment_core::clv`.

use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::clv::{self as m, Bgnbd, Fit, FitState, GammaGamma, HoldoutRow, Interval, ParetoNbd, PurchaseModel, Tracking, Unit};
use pg_segment_core::numeric::format_micro;
use pg_segment_core::summary::btyd;
use pg_segment_core::time::{check_date, day_of, USECS_PER_DAY};
use pg_segment_core::{Error, Result};
use pgrx::pg_sys::{Datum, FunctionCallInfo};

// ---- fit aggregates (and holdout_agg): weighted distinct tuples with the caller's time unit ----

/// A new state, bounded by `pg_segment.memory_limit`.
fn empty<const N: usize>(what: &'static str, unit: Option<Unit>) -> FitState<N> {
    FitState::<N>::with_limit(crate::pg::guc::memory_limit_bytes(), what, unit)
}

/// The `time_unit` argument `n` of a fit aggregate (NULL is an error, not a skipped row).
unsafe fn unit_arg(fc: FunctionCallInfo, n: usize) -> Unit {
    if is_null(fc, n) {
        raise(Error::invalid("time_unit must be 'days' or 'weeks', got NULL"));
    }
    Unit::parse_time_unit(arg_str(fc, n, "time_unit")).or_raise()
}

/// Transition: (state, N float8 values [, time_unit]); rows with a NULL value are skipped, rows
/// `check` turns down (non-repeat buyers of gamma_gamma_fit) too.
unsafe fn trans<const N: usize>(
    fc: FunctionCallInfo,
    what: &'static str,
    unit: Option<Unit>,
    check: impl Fn(&[f64; N]) -> Result<bool>,
) -> Datum {
    let state = state_arg::<FitState<N>>(fc, 0);
    if (1..=N).any(|i| is_null(fc, i)) {
        return state_or_null(fc, state);
    }
    let values: [f64; N] = std::array::from_fn(|i| arg_f64(fc, i + 1));
    if !check(&values).or_raise() {
        return state_or_null(fc, state);
    }
    let st = match state {
        Some(s) => {
            (*s).check_unit(unit).or_raise();
            s
        }
        None => new_state(fc, what, empty::<N>(what, unit)),
    };
    (*st).tuples.add(values, 1.0).or_raise();
    Datum::from(st)
}

unsafe fn combine_states<const N: usize>(fc: FunctionCallInfo, what: &'static str) -> Datum {
    let cx = agg_context(fc, what);
    let merge = |a: &mut FitState<N>, b: &mut FitState<N>| a.merge(b).or_raise();
    combine::<FitState<N>>(
        fc,
        |b| {
            let a = state_in(cx, empty::<N>(what, b.unit));
            merge(&mut *a, b);
            a
        },
        merge,
    )
}

unsafe fn serialize<const N: usize>(fc: FunctionCallInfo) -> Datum {
    let st = &*arg(fc, 0).cast_mut_ptr::<FitState<N>>();
    let len = st.serialized_len().or_raise();
    if len > MAX_VARLENA_PAYLOAD {
        raise(Error::limit("fit state: the partial state exceeds the 1 GB a value may hold"));
    }
    // written straight into the value (PostgreSQL memory)
    varlena_from(len, |out| st.serialize_into(out))
}

unsafe fn deserialize<const N: usize>(fc: FunctionCallInfo, check: impl Fn(&[f64; N]) -> Result<()>, what: &'static str) -> Datum {
    deserialized(FitState::<N>::deserialize(arg_bytes(fc, 0), check, crate::pg::guc::memory_limit_bytes(), what).or_raise())
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

/// A holdout_agg row: the calibration triple as the fits check it, the holdout figures.
fn check_holdout_row(v: &[f64; 5]) -> Result<()> {
    m::check_btyd(v[0], v[1], v[2])?;
    if !(v[3].is_finite() && v[3] >= 0.0 && v[3] == v[3].trunc() && v[3] <= m::MAX_FREQUENCY) {
        return Err(Error::invalid(format!("frequency_holdout must be a whole number between 0 and {:e}, got {}", m::MAX_FREQUENCY, v[3])));
    }
    if !(v[4].is_finite() && (0.0..=m::MAX_TIME).contains(&v[4])) {
        return Err(Error::invalid(format!("duration_holdout must be finite and between 0 and {:e}, got {}", m::MAX_TIME, v[4])));
    }
    Ok(())
}

/// A fitted model's row: parameters, log-likelihood, customers, iterations, converged, then
/// (purchase models) the time unit, the standard errors and the covariance matrix.
unsafe fn ret_fit<const K: usize>(fc: FunctionCallInfo, fit: Fit<K>, unit: Option<Option<Unit>>) -> Datum {
    let mut values: Vec<Datum> = fit.params.iter().map(|p| ret_f64(*p)).collect();
    values.push(ret_f64(fit.log_likelihood));
    values.push(ret_i64(fit.customers.round() as i64));
    values.push(ret_i32(fit.iterations as i32));
    values.push(Datum::from(fit.converged));
    let mut nulls = vec![false; values.len()];
    if let Some(u) = unit {
        match u {
            Some(u) => values.push(ret_text(u.name())),
            None => values.push(Datum::from(0usize)),
        }
        nulls.push(u.is_none());
    }
    let se = fit.std_errors();
    for i in 0..K {
        values.push(ret_f64(se.map_or(0.0, |s| s[i])));
        nulls.push(se.is_none());
    }
    match fit.covariance {
        Some(c) => values.push(ret_f64_array(&c.iter().flatten().copied().collect::<Vec<f64>>(), K)),
        None => values.push(Datum::from(0usize)),
    }
    nulls.push(fit.covariance.is_none());
    ret_tuple(fc, &values, &nulls)
}

/// The final step of a purchase-model fit.
unsafe fn purchase_final(fc: FunctionCallInfo, fit: fn(&m::Tuples<3>) -> Result<Option<Fit<4>>>) -> Datum {
    match state_arg::<FitState<3>>(fc, 0) {
        None => ret_null(fc),
        Some(st) => match fit(&(*st).tuples).or_raise() {
            None => ret_null(fc),
            Some(f) => ret_fit(fc, f, Some((*st).unit)),
        },
    }
}

pg_fn!(fn pgseg_bgnbd_trans(fc) { trans::<3>(fc, "bgnbd_fit", None, |v| check_bgnbd_row(v).map(|_| true)) });
pg_fn!(fn pgseg_bgnbd_trans_unit(fc) {
    let unit = unit_arg(fc, 4);
    trans::<3>(fc, "bgnbd_fit", Some(unit), |v| check_bgnbd_row(v).map(|_| true))
});
pg_fn!(fn pgseg_bgnbd_combine(fc) { combine_states::<3>(fc, "bgnbd_fit") });
pg_fn!(fn pgseg_bgnbd_serialize(fc) { serialize::<3>(fc) });
pg_fn!(fn pgseg_bgnbd_deserialize(fc) { deserialize::<3>(fc, check_bgnbd_row, "bgnbd_fit") });
pg_fn!(fn pgseg_bgnbd_final(fc) { purchase_final(fc, m::fit_bgnbd) });
pg_fn!(fn pgseg_pareto_nbd_final(fc) { purchase_final(fc, m::fit_pareto_nbd) });

pg_fn!(fn pgseg_gg_trans(fc) { trans::<2>(fc, "gamma_gamma_fit", None, |v| m::check_spend(v[0], v[1])) });
pg_fn!(fn pgseg_gg_combine(fc) { combine_states::<2>(fc, "gamma_gamma_fit") });
pg_fn!(fn pgseg_gg_serialize(fc) { serialize::<2>(fc) });
pg_fn!(fn pgseg_gg_deserialize(fc) { deserialize::<2>(fc, check_spend_row, "gamma_gamma_fit") });
pg_fn!(fn pgseg_gg_final(fc) {
    match state_arg::<FitState<2>>(fc, 0) {
        None => ret_null(fc),
        Some(st) => match m::fit_gamma_gamma(&(*st).tuples).or_raise() {
            None => ret_null(fc),
            Some(fit) => ret_fit(fc, fit, None),
        },
    }
});

// holdout_agg(frequency_cal, recency_cal, t_cal, frequency_holdout, duration_holdout, time_unit)
pg_fn!(fn pgseg_holdout_trans(fc) {
    let unit = unit_arg(fc, 6);
    trans::<5>(fc, "holdout_agg", Some(unit), |v| check_holdout_row(v).map(|_| true))
});
pg_fn!(fn pgseg_holdout_combine(fc) { combine_states::<5>(fc, "holdout_agg") });
pg_fn!(fn pgseg_holdout_serialize(fc) { serialize::<5>(fc) });
pg_fn!(fn pgseg_holdout_deserialize(fc) { deserialize::<5>(fc, check_holdout_row, "holdout_agg") });
pg_fn!(fn pgseg_holdout_final(fc) {
    let Some(st) = state_arg::<FitState<5>>(fc, 0) else { return ret_null(fc) };
    let rows = (*st).tuples.sorted().or_raise();
    let mut values = vec![ret_text((*st).unit.unwrap_or(Unit::Days).name()), ret_i64((*st).tuples.total_weight().round() as i64)];
    for i in 0..5 {
        values.push(ret_f64_array(&rows.iter().map(|r| r.0[i]).collect::<Vec<f64>>(), 1));
    }
    values.push(ret_f64_array(&rows.iter().map(|r| r.1).collect::<Vec<f64>>(), 1));
    ret_tuple(fc, &values, &[false; 8])
});

// ---- tracking_agg(s, start, calibration_end, holdout_end, time_unit, tz) ----

/// The tracking series and the arguments it was made for (checked on every row; a state from a
/// parallel worker has none, and is checked by its shape when merged).
struct TrackingAgg {
    tr: Tracking,
    args: Option<(i64, i64, i64, Unit, String)>,
}

pg_fn!(fn pgseg_tracking_trans(fc) {
    let state = state_arg::<TrackingAgg>(fc, 0);
    if is_null(fc, 1) {
        return state_or_null(fc, state);
    }
    for (i, name) in [(2, "start"), (3, "calibration_end"), (4, "holdout_end"), (5, "time_unit"), (6, "tz")] {
        if is_null(fc, i) {
            raise(Error::invalid(format!("{name} must not be NULL")));
        }
    }
    let (start, cal, hold) = (arg_instant(fc, 2, "start"), arg_instant(fc, 3, "calibration_end"), arg_instant(fc, 4, "holdout_end"));
    let unit = Unit::parse_time_unit(arg_str(fc, 5, "time_unit")).or_raise();
    let tz = arg_str(fc, 6, "tz");
    let zone = Zone::named(tz);
    let local = |t| zone.local(t);
    let st = match state {
        Some(s) => {
            let same = (*s).args.as_ref().is_some_and(|a| (a.0, a.1, a.2, a.3) == (start, cal, hold, unit) && a.4 == tz);
            if !same {
                raise(Error::invalid("tracking_agg: start, calibration_end, holdout_end, time_unit and tz must be the same for every row"));
            }
            s
        }
        None => {
            let tr = Tracking::new(start, cal, hold, unit, &local).or_raise();
            new_state(fc, "tracking_agg", TrackingAgg { tr, args: Some((start, cal, hold, unit, tz.to_string())) })
        }
    };
    (*st).tr.add(&arg_summary(fc, 1), hold, &local);
    Datum::from(st)
});

pg_fn!(fn pgseg_tracking_combine(fc) {
    let cx = agg_context(fc, "tracking_agg");
    combine::<TrackingAgg>(fc, |b| state_in(cx, TrackingAgg { tr: b.tr.clone(), args: b.args.clone() }), |a, b| a.tr.merge(&b.tr).or_raise())
});
pg_fn!(fn pgseg_tracking_serialize(fc) {
    let st = &*arg(fc, 0).cast_mut_ptr::<TrackingAgg>();
    varlena_from(st.tr.serialized_len(), |out| st.tr.serialize_into(out))
});
pg_fn!(fn pgseg_tracking_deserialize(fc) { deserialized(TrackingAgg { tr: Tracking::deserialize(arg_bytes(fc, 0)).or_raise(), args: None }) });
pg_fn!(fn pgseg_tracking_final(fc) {
    let Some(st) = state_arg::<TrackingAgg>(fc, 0) else { return ret_null(fc) };
    let tr = &(*st).tr;
    let births: Vec<i64> = tr.births.iter().map(|v| *v as i64).collect();
    let repeats: Vec<i64> = tr.repeats.iter().map(|v| *v as i64).collect();
    let values = [
        ret_text(tr.unit.name()),
        Datum::from(tr.start_day as i32),
        ret_i32(tr.calibration_periods as i32),
        ret_i64(tr.customers as i64),
        ret_i64_array(&births),
        ret_i64_array(&repeats),
    ];
    ret_tuple(fc, &values, &[false; 6])
});

// ---- model arguments ----

/// Field `attno` of composite argument `n` as a float8; 22023 naming `model.name` when NULL.
unsafe fn field_f64(fc: FunctionCallInfo, n: usize, attno: i16, model: &str, name: &str) -> f64 {
    match composite_field(arg(fc, n), attno) {
        Some(d) => f64::from_bits(d.value() as u64),
        None => raise(Error::invalid(format!("{model}: {name} must not be NULL"))),
    }
}

/// A fit that did not converge is refused (a hand-made model may leave `converged` NULL).
unsafe fn check_converged(fc: FunctionCallInfo, n: usize, attno: i16, model: &str) {
    if composite_field(arg(fc, n), attno).is_some_and(|d| d.value() == 0) {
        raise(
            Error::invalid(format!("{model}: the model did not converge, its parameters are not a maximum-likelihood estimate"))
                .with_hint("check the input (enough repeat buyers, consistent time unit); the fields are still readable"),
        );
    }
}

/// A purchase model argument (BG/NBD or Pareto/NBD: the same layout), its time unit (`None`: not
/// recorded, as in models of pg_segment 0.1.0 and of the 3-argument bgnbd_fit) and covariance.
struct ModelArg<M, const K: usize> {
    model: M,
    unit: Option<Unit>,
    covariance: Option<[[f64; K]; K]>,
}

/// Layout of a model type: names of the parameters, attnos of converged, time_unit (0: none)
/// and covariance.
trait ModelType<const K: usize>: Sized + Copy {
    const WHAT: &'static str;
    const NAMES: [&'static str; K];
    const CONVERGED: i16;
    const UNIT: i16;
    const COVARIANCE: i16;
    fn build(p: [f64; K]) -> Self;
    fn check(&self) -> Result<()>;
}

/// The two purchase models' types (bgnbd_model, pareto_nbd_model) share one layout: the four
/// parameters, then converged, time_unit and covariance at attnos 8, 9 and 14.
macro_rules! purchase_model_type {
    ($m:ident, $what:literal, $names:expr) => {
        impl ModelType<4> for $m {
            const WHAT: &'static str = $what;
            const NAMES: [&'static str; 4] = $names;
            const CONVERGED: i16 = 8;
            const UNIT: i16 = 9;
            const COVARIANCE: i16 = 14;
            fn build(p: [f64; 4]) -> Self {
                <$m as PurchaseModel>::from_params(p)
            }
            fn check(&self) -> Result<()> {
                $m::check(self)
            }
        }
    };
}
purchase_model_type!(Bgnbd, "bgnbd model", ["r", "alpha", "a", "b"]);
purchase_model_type!(ParetoNbd, "pareto_nbd model", ["r", "alpha", "s", "beta"]);

impl ModelType<3> for GammaGamma {
    const WHAT: &'static str = "gamma_gamma model";
    const NAMES: [&'static str; 3] = ["p", "q", "gamma"];
    const CONVERGED: i16 = 7;
    const UNIT: i16 = 0;
    const COVARIANCE: i16 = 11;
    fn build(p: [f64; 3]) -> Self {
        GammaGamma { p: p[0], q: p[1], gamma: p[2] }
    }
    fn check(&self) -> Result<()> {
        GammaGamma::check(self)
    }
}

unsafe fn model_arg<M: ModelType<K>, const K: usize>(fc: FunctionCallInfo, n: usize) -> ModelArg<M, K> {
    let p: [f64; K] = std::array::from_fn(|i| field_f64(fc, n, i as i16 + 1, M::WHAT, M::NAMES[i]));
    let model = M::build(p);
    model.check().or_raise();
    check_converged(fc, n, M::CONVERGED, M::WHAT);
    let unit = if M::UNIT == 0 {
        None
    } else {
        composite_field(arg(fc, n), M::UNIT).map(|d| {
            Unit::parse_time_unit(utf8(bytes_of(d), "time_unit"))
                .map_err(|_| Error::invalid(format!("{}: time_unit must be 'days' or 'weeks'", M::WHAT)))
                .or_raise()
        })
    };
    let covariance = composite_field(arg(fc, n), M::COVARIANCE).map(|d| {
        let v = f64_elements(d, "covariance");
        if v.len() != K * K {
            raise(Error::invalid(format!("{}: covariance must have {} elements ({K} by {K}), got {}", M::WHAT, K * K, v.len())));
        }
        let c: [[f64; K]; K] = std::array::from_fn(|i| std::array::from_fn(|j| v[i * K + j]));
        m::check_covariance(&c, M::WHAT).or_raise();
        c
    });
    ModelArg { model, unit, covariance }
}

/// The model's time unit; 22023 when it records none.
fn required_unit<M, const K: usize>(a: &ModelArg<M, K>, what: &str) -> Unit {
    a.unit.unwrap_or_else(|| {
        raise(Error::invalid(format!("{what}: the model records no time_unit")).with_hint(
            "models fitted by pg_segment 0.1.0 or by bgnbd_fit(frequency, recency, t) have none: refit with the time_unit argument, \
             or set it: (m::jsonb || '{\"time_unit\": \"days\"}')::segment.bgnbd_model",
        ))
    })
}

/// The covariance a delta-method interval needs; 22023 when the model has none.
fn required_covariance<M, const K: usize>(a: &ModelArg<M, K>, what: &str) -> [[f64; K]; K] {
    a.covariance.unwrap_or_else(|| {
        raise(Error::invalid(format!("{what}: the model has no covariance")).with_hint(
            "models fitted by pg_segment 0.1.0, or whose information matrix is singular, have none: refit with pg_segment 0.2.0",
        ))
    })
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

// ---- predictions ----

// bgnbd_p_alive(model, frequency, recency, t)
pg_fn!(fn pgseg_bgnbd_p_alive(fc) {
    let model = model_arg::<Bgnbd, 4>(fc, 0).model;
    let (x, tx, t) = btyd_args(fc, 1);
    ret_finite(m::bgnbd_p_alive(&model, x, tx, t), "bgnbd_p_alive")
});

// bgnbd_expected_purchases(model, duration, frequency, recency, t)
pg_fn!(fn pgseg_bgnbd_expected(fc) {
    let model = model_arg::<Bgnbd, 4>(fc, 0).model;
    let d = duration_arg(fc, 1);
    let (x, tx, t) = btyd_args(fc, 2);
    ret_finite(m::bgnbd_expected(&model, d, x, tx, t).or_raise(), "bgnbd_expected_purchases")
});

// bgnbd_expected_purchases_new(model, duration)
pg_fn!(fn pgseg_bgnbd_expected_new(fc) {
    let model = model_arg::<Bgnbd, 4>(fc, 0).model;
    let d = duration_arg(fc, 1);
    ret_finite(m::bgnbd_expected_new(&model, d).or_raise(), "bgnbd_expected_purchases_new")
});

// bgnbd_log_likelihood(model, frequency, recency, t)
pg_fn!(fn pgseg_bgnbd_log_likelihood(fc) {
    let model = model_arg::<Bgnbd, 4>(fc, 0).model;
    let (x, tx, t) = btyd_args(fc, 1);
    ret_finite(m::bgnbd_log_likelihood(&model, x, tx, t), "bgnbd_log_likelihood")
});

// pareto_nbd_p_alive(model, frequency, recency, t)
pg_fn!(fn pgseg_pareto_nbd_p_alive(fc) {
    let model = model_arg::<ParetoNbd, 4>(fc, 0).model;
    let (x, tx, t) = btyd_args(fc, 1);
    ret_finite(m::pareto_nbd_p_alive(&model, x, tx, t).or_raise(), "pareto_nbd_p_alive")
});

// pareto_nbd_expected_purchases(model, duration, frequency, recency, t)
pg_fn!(fn pgseg_pareto_nbd_expected(fc) {
    let model = model_arg::<ParetoNbd, 4>(fc, 0).model;
    let d = duration_arg(fc, 1);
    let (x, tx, t) = btyd_args(fc, 2);
    ret_finite(m::pareto_nbd_expected(&model, d, x, tx, t).or_raise(), "pareto_nbd_expected_purchases")
});

// pareto_nbd_expected_purchases_new(model, duration)
pg_fn!(fn pgseg_pareto_nbd_expected_new(fc) {
    let model = model_arg::<ParetoNbd, 4>(fc, 0).model;
    let d = duration_arg(fc, 1);
    ret_finite(m::pareto_nbd_expected_new(&model, d), "pareto_nbd_expected_purchases_new")
});

// pareto_nbd_log_likelihood(model, frequency, recency, t)
pg_fn!(fn pgseg_pareto_nbd_log_likelihood(fc) {
    let model = model_arg::<ParetoNbd, 4>(fc, 0).model;
    let (x, tx, t) = btyd_args(fc, 1);
    ret_finite(m::pareto_nbd_log_likelihood(&model, x, tx, t).or_raise(), "pareto_nbd_log_likelihood")
});

// gamma_gamma_expected_spend(model, frequency, monetary_value)
pg_fn!(fn pgseg_gg_expected_spend(fc) {
    let model = model_arg::<GammaGamma, 3>(fc, 0).model;
    let x = arg_f64(fc, 1);
    let mv = spend_arg(fc, x, 2);
    ret_finite(m::gamma_gamma_expected_spend(&model, x, mv), "gamma_gamma_expected_spend")
});

/// The unit a prediction uses: the one named (which must be the model's when it records one),
/// or the model's.
fn unit_for<M, const K: usize>(a: &ModelArg<M, K>, named: Option<Unit>, what: &str) -> Unit {
    match (a.unit, named) {
        (Some(mu), Some(n)) if mu != n => raise(
            Error::invalid(format!("time_unit: the model was fitted in {}, not {}", mu.name(), n.name()))
                .with_hint("a model's durations are in its own time unit: pass its time_unit, or refit on summaries in the unit you want"),
        ),
        (_, Some(n)) => n,
        (Some(mu), None) => mu,
        (None, None) => required_unit(a, what),
    }
}

/// clv(model, gamma_gamma, frequency, recency, t, monetary_value, horizon, discount_rate [, time_unit])
unsafe fn clv_of<M: ModelType<4> + PurchaseModel>(fc: FunctionCallInfo) -> Datum {
    let bg = model_arg::<M, 4>(fc, 0);
    let gg = model_arg::<GammaGamma, 3>(fc, 1).model;
    let (x, tx, t) = btyd_args(fc, 2);
    let mv = spend_arg(fc, x, 5);
    let horizon = arg_i32(fc, 6);
    let rate = arg_f64(fc, 7);
    let named = (nargs(fc) > 8).then(|| Unit::parse_time_unit(arg_str(fc, 8, "time_unit")).or_raise());
    let unit = unit_for(&bg, named, "clv");
    ret_finite(m::clv(&bg.model, &gg, x, tx, t, mv, horizon, rate, unit).or_raise(), "clv")
}

pg_fn!(fn pgseg_clv(fc) { clv_of::<Bgnbd>(fc) });
pg_fn!(fn pgseg_clv_pareto_nbd(fc) { clv_of::<ParetoNbd>(fc) });

// ---- intervals (delta method) ----

unsafe fn ret_interval(fc: FunctionCallInfo, i: Interval, level: f64) -> Datum {
    let values = [ret_finite(i.estimate, "interval"), ret_f64(i.lower), ret_f64(i.upper), ret_f64(i.std_error), ret_f64(level)];
    ret_tuple(fc, &values, &[false; 5])
}

// <model>_expected_purchases_interval(model, duration, frequency, recency, t, level)
unsafe fn expected_interval<M: ModelType<4> + PurchaseModel>(fc: FunctionCallInfo) -> Datum {
    let a = model_arg::<M, 4>(fc, 0);
    let cov = required_covariance(&a, "expected purchases interval");
    let d = duration_arg(fc, 1);
    let (x, tx, t) = btyd_args(fc, 2);
    let level = arg_f64(fc, 5);
    let p = a.model.params();
    let i = m::delta_interval(p, &m::log_covariance_of(&p, &cov), level, |q| M::from_params(*q).expected(d, x, tx, t)).or_raise();
    ret_interval(fc, i, level)
}

pg_fn!(fn pgseg_bgnbd_expected_interval(fc) { expected_interval::<Bgnbd>(fc) });
pg_fn!(fn pgseg_pareto_nbd_expected_interval(fc) { expected_interval::<ParetoNbd>(fc) });

// clv_interval(model, gamma_gamma, frequency, recency, t, monetary_value, horizon, discount_rate, level):
// the purchase and spend models are fitted separately, so their covariance is block-diagonal
unsafe fn clv_interval<M: ModelType<4> + PurchaseModel>(fc: FunctionCallInfo) -> Datum {
    let a = model_arg::<M, 4>(fc, 0);
    let g = model_arg::<GammaGamma, 3>(fc, 1);
    let (ca, cg) = (required_covariance(&a, "clv_interval"), required_covariance(&g, "clv_interval"));
    let unit = unit_for(&a, None, "clv_interval");
    let (x, tx, t) = btyd_args(fc, 2);
    let mv = spend_arg(fc, x, 5);
    let (horizon, rate, level) = (arg_i32(fc, 6), arg_f64(fc, 7), arg_f64(fc, 8));
    let (pa, pg) = (a.model.params(), [g.model.p, g.model.q, g.model.gamma]);
    let (la, lg) = (m::log_covariance_of(&pa, &ca), m::log_covariance_of(&pg, &cg));
    let p7 = [pa[0], pa[1], pa[2], pa[3], pg[0], pg[1], pg[2]];
    let cov: [[f64; 7]; 7] = std::array::from_fn(|i| {
        std::array::from_fn(|j| match (i < 4, j < 4) {
            (true, true) => la[i][j],
            (false, false) => lg[i - 4][j - 4],
            _ => 0.0,
        })
    });
    let i = m::delta_interval(p7, &cov, level, |q| {
        let b = M::from_params([q[0], q[1], q[2], q[3]]);
        let s = GammaGamma { p: q[4], q: q[5], gamma: q[6] };
        if s.q <= 1.0 {
            return Err(Error::out_of_range("clv_interval: the spend model's q is too close to 1 for a finite derivative"));
        }
        m::clv(&b, &s, x, tx, t, mv, horizon, rate, unit)
    })
    .or_raise();
    ret_interval(fc, i, level)
}

pg_fn!(fn pgseg_clv_interval(fc) { clv_interval::<Bgnbd>(fc) });
pg_fn!(fn pgseg_clv_interval_pareto_nbd(fc) { clv_interval::<ParetoNbd>(fc) });

// ---- calibration and holdout ----

// calibration_holdout(s, calibration_end, holdout_end, unit, tz)
pg_fn!(fn pgseg_calibration_holdout(fc) {
    let view = arg_summary(fc, 0);
    let (cal, hold) = (arg_instant(fc, 1, "calibration_end"), arg_instant(fc, 2, "holdout_end"));
    let unit = Unit::parse(arg_str(fc, 3, "unit")).or_raise();
    let zone = Zone::named(arg_str(fc, 4, "tz"));
    match m::calibration_holdout(&view, cal, hold, unit, &|t| zone.local(t)).or_raise() {
        None => ret_null(fc),
        Some(h) => {
            let v = [h.frequency_cal, h.recency_cal, h.t_cal, h.monetary_value_cal, h.frequency_holdout, h.monetary_value_holdout, h.duration_holdout];
            ret_tuple(fc, &v.map(ret_f64), &[false; 7])
        }
    }
});

// ---- fit checks ----

/// A holdout_summary argument: its unit and rows, checked (the arrays of one length, no NULL,
/// every row as holdout_agg checks it, positive weights).
unsafe fn holdout_summary_arg(fc: FunctionCallInfo, n: usize) -> (Unit, Vec<HoldoutRow>) {
    let d = arg(fc, n);
    let what = "holdout_summary";
    let unit = match composite_field(d, 1) {
        Some(u) => Unit::parse_time_unit(utf8(bytes_of(u), "time_unit")).or_raise(),
        None => raise(Error::invalid(format!("{what}: time_unit must not be NULL"))),
    };
    let names = ["frequency_cal", "recency_cal", "t_cal", "frequency_holdout", "duration_holdout", "weight"];
    let cols: Vec<Vec<f64>> = (0..6)
        .map(|i| match composite_field(d, i as i16 + 3) {
            Some(a) => f64_elements(a, names[i]),
            None => raise(Error::invalid(format!("{what}: {} must not be NULL", names[i]))),
        })
        .collect();
    let len = cols[0].len();
    if cols.iter().any(|c| c.len() != len) {
        raise(Error::invalid(format!("{what}: its arrays must all have the same length")));
    }
    let rows: Vec<HoldoutRow> = (0..len)
        .map(|i| {
            let v = [cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i]];
            check_holdout_row(&v).or_raise();
            let w = cols[5][i];
            if !(w.is_finite() && w > 0.0) {
                raise(Error::invalid(format!("{what}: weight must be positive, got {w}")));
            }
            (v, w)
        })
        .collect();
    (unit, rows)
}

/// The model of a check and the population's rows, their units the same.
unsafe fn check_args<M: ModelType<4>>(fc: FunctionCallInfo, what: &str) -> (M, Vec<HoldoutRow>) {
    let a = model_arg::<M, 4>(fc, 0);
    let (unit, rows) = holdout_summary_arg(fc, 1);
    let mu = required_unit(&a, what);
    if mu != unit {
        raise(Error::invalid(format!("{what}: the model was fitted in {}, the holdout summary is in {}", mu.name(), unit.name())));
    }
    (a.model, rows)
}

fn bin_label(n: u32, max: u32) -> String {
    if n == max {
        format!("{n}+")
    } else {
        n.to_string()
    }
}

unsafe fn opt_f64(v: Option<f64>) -> (Datum, bool) {
    match v {
        Some(x) => (ret_f64(x), false),
        None => (Datum::from(0usize), true),
    }
}

// calibration_histogram(model, summary, max_frequency) -> (frequency, label, observed, expected, chi_square)
unsafe fn histogram<M: ModelType<4> + PurchaseModel>(fc: FunctionCallInfo) -> Datum {
    let (model, rows) = check_args::<M>(fc, "calibration_histogram");
    let h = m::calibration_histogram(&model, &rows, arg_i32(fc, 2)).or_raise();
    let out = Rows::materialize(fc, 5, "calibration_histogram");
    let max = h.len() as u32 - 1;
    for r in h {
        let mut v = [
            ret_i32(r.frequency as i32),
            ret_text(&bin_label(r.frequency, max)),
            ret_f64(r.observed),
            ret_f64(r.expected),
            ret_f64(r.chi_square),
        ];
        out.put(&mut v, &mut [false; 5]);
    }
    Datum::from(0usize)
}

pg_fn!(fn pgseg_bgnbd_histogram(fc) { histogram::<Bgnbd>(fc) });
pg_fn!(fn pgseg_pareto_nbd_histogram(fc) { histogram::<ParetoNbd>(fc) });

// conditional_expectations(model, summary, max_frequency) -> (frequency, label, customers, actual, expected)
unsafe fn conditional<M: ModelType<4> + PurchaseModel>(fc: FunctionCallInfo) -> Datum {
    let (model, rows) = check_args::<M>(fc, "conditional_expectations");
    let c = m::conditional_expectations(&model, &rows, arg_i32(fc, 2)).or_raise();
    let out = Rows::materialize(fc, 5, "conditional_expectations");
    let max = c.len() as u32 - 1;
    for r in c {
        let empty = r.customers == 0.0;
        let mut v = [
            ret_i32(r.frequency as i32),
            ret_text(&bin_label(r.frequency, max)),
            ret_i64(r.customers.round() as i64),
            ret_f64(r.actual),
            ret_f64(r.expected),
        ];
        out.put(&mut v, &mut [false, false, false, empty, empty]);
    }
    Datum::from(0usize)
}

pg_fn!(fn pgseg_bgnbd_conditional(fc) { conditional::<Bgnbd>(fc) });
pg_fn!(fn pgseg_pareto_nbd_conditional(fc) { conditional::<ParetoNbd>(fc) });

// holdout_accuracy(model, summary, max_frequency) -> one row
unsafe fn accuracy<M: ModelType<4> + PurchaseModel>(fc: FunctionCallInfo) -> Datum {
    let (model, rows) = check_args::<M>(fc, "holdout_accuracy");
    let a = m::holdout_accuracy(&model, &rows).or_raise();
    let (chi, df, p) = m::chi_square(&m::calibration_histogram(&model, &rows, arg_i32(fc, 2)).or_raise());
    let out = Rows::materialize(fc, 9, "holdout_accuracy");
    let (e, ne) = opt_f64(a.error_percent);
    let (c, nc) = opt_f64(a.correlation);
    let (pv, np) = opt_f64(p);
    let mut v = [
        ret_i64(a.customers.round() as i64),
        ret_f64(a.actual),
        ret_f64(a.expected),
        e,
        c,
        ret_f64(a.mean_absolute_error),
        ret_f64(chi),
        ret_i32(df),
        pv,
    ];
    out.put(&mut v, &mut [false, false, false, ne, nc, false, false, false, np]);
    Datum::from(0usize)
}

pg_fn!(fn pgseg_bgnbd_accuracy(fc) { accuracy::<Bgnbd>(fc) });
pg_fn!(fn pgseg_pareto_nbd_accuracy(fc) { accuracy::<ParetoNbd>(fc) });

/// A tracking_summary argument, checked.
unsafe fn tracking_summary_arg(fc: FunctionCallInfo, n: usize) -> Tracking {
    let d = arg(fc, n);
    let what = "tracking_summary";
    let get =
        |i: i16, name: &str| composite_field(d, i).unwrap_or_else(|| raise(Error::invalid(format!("{what}: {name} must not be NULL"))));
    let unit = Unit::parse_time_unit(utf8(bytes_of(get(1, "time_unit")), "time_unit")).or_raise();
    let start_day = get(2, "first_day").value() as i32 as i64;
    let calibration_periods = get(3, "calibration_periods").value() as i32 as i64;
    let customers = get(4, "customers").value() as i64;
    let births = i64_elements(get(5, "births"), "births");
    let repeats = i64_elements(get(6, "repeat_purchases"), "repeat_purchases");
    let periods = births.len() as i64;
    if repeats.len() != births.len() || !(1..=m::MAX_TRACKING_PERIODS).contains(&periods) {
        raise(Error::invalid(format!("{what}: births and repeat_purchases must have the same length, 1 to {}", m::MAX_TRACKING_PERIODS)));
    }
    if !(1..=periods).contains(&calibration_periods) || customers < 0 || births.iter().chain(&repeats).any(|v| *v < 0) {
        raise(Error::invalid(format!("{what}: calibration_periods must be between 1 and the periods, counts not negative")));
    }
    if !pg_segment_core::time::is_valid_date(start_day) {
        raise(Error::invalid(format!("{what}: first_day must be a finite date")));
    }
    Tracking {
        unit,
        start_day,
        start_period: unit.period(start_day),
        calibration_periods,
        customers: customers as u64,
        births: births.iter().map(|v| *v as u64).collect(),
        repeats: repeats.iter().map(|v| *v as u64).collect(),
    }
}

// tracking_series(model, summary, period_length) -> (period, period_start, holdout, actual, expected, actual_cumulative, expected_cumulative)
unsafe fn tracking<M: ModelType<4> + PurchaseModel>(fc: FunctionCallInfo) -> Datum {
    let a = model_arg::<M, 4>(fc, 0);
    let tr = tracking_summary_arg(fc, 1);
    let mu = required_unit(&a, "tracking_series");
    if mu != tr.unit {
        raise(Error::invalid(format!(
            "tracking_series: the model was fitted in {}, the tracking summary is in {}",
            mu.name(),
            tr.unit.name()
        )));
    }
    let rows = m::tracking_series(&a.model, &tr, arg_i32(fc, 2)).or_raise();
    let out = Rows::materialize(fc, 7, "tracking_series");
    for r in rows {
        let day = check_date(r.first_day, "period_start").or_raise();
        let mut v = [
            ret_i32(r.period as i32),
            Datum::from(day as i32),
            Datum::from(r.holdout),
            ret_f64(r.actual),
            ret_f64(r.expected),
            ret_f64(r.actual_cumulative),
            ret_f64(r.expected_cumulative),
        ];
        out.put(&mut v, &mut [false; 7]);
    }
    Datum::from(0usize)
}

pg_fn!(fn pgseg_bgnbd_tracking(fc) { tracking::<Bgnbd>(fc) });
pg_fn!(fn pgseg_pareto_nbd_tracking(fc) { tracking::<ParetoNbd>(fc) });

// ---- CRM predictions ----

// predict_customer(s, as_of, purchases, spend, tz, horizon) -> (predicted_orders, predicted_clv,
// churn_probability, expected_next_order, average_days_between_orders, historic_clv)
unsafe fn predict<M: ModelType<4> + PurchaseModel>(fc: FunctionCallInfo) -> Datum {
    let view = arg_summary(fc, 0);
    let as_of = arg_instant(fc, 1, "as_of");
    let a = model_arg::<M, 4>(fc, 2);
    let gg = model_arg::<GammaGamma, 3>(fc, 3).model;
    let zone = Zone::named(arg_str(fc, 4, "tz"));
    let local = |t| zone.local(t);
    let unit = required_unit(&a, "predict_customer");
    let horizon = interval_days(arg(fc, 5), "horizon") / unit.days();
    if horizon > m::MAX_TIME {
        raise(Error::invalid("horizon is too long"));
    }
    let Some(b) = btyd(&view, as_of, unit, &local) else { return ret_null(fc) };
    m::check_btyd(b.frequency, b.recency, b.t).or_raise();
    let model = a.model;
    let orders = model.expected(horizon, b.frequency, b.recency, b.t).or_raise();
    let spend = m::gamma_gamma_expected_spend(&gg, b.frequency, b.monetary_value);
    let alive = model.p_alive(b.frequency, b.recency, b.t).or_raise();
    // median time to the next order of a customer still active: P(none within w) =
    // (rate / (rate + w))^shape = 1/2 for the Gamma(shape, rate) purchase rate
    let next = (b.frequency > 0.0).then(|| {
        let (shape, rate) = model.rate_posterior(b.frequency, b.t);
        let wait = rate * (std::f64::consts::LN_2 / shape).exp_m1() * unit.days() * USECS_PER_DAY as f64;
        let at = as_of as f64 + wait;
        if !(at.is_finite() && at < pg_segment_core::time::END_INSTANT as f64) {
            raise(Error::datetime("expected_next_order: date out of range"));
        }
        check_date(day_of(local(at as i64)), "expected_next_order").or_raise()
    });
    let met = view.metrics(Some(as_of));
    let gap = match (met.orders >= 2, met.first_order, met.last_order) {
        (true, Some(f), Some(l)) => Some((l - f) as f64 / USECS_PER_DAY as f64 / (met.orders - 1) as f64),
        _ => None,
    };
    let (g, ng) = opt_f64(gap);
    let values = [
        ret_finite(orders, "predicted_orders"),
        ret_finite(spend * orders, "predicted_clv"),
        ret_finite(1.0 - alive, "churn_probability"),
        Datum::from(next.unwrap_or(0) as i32),
        g,
        ret_numeric(&format_micro(met.monetary)),
    ];
    ret_tuple(fc, &values, &[false, false, false, next.is_none(), ng, false])
}

pg_fn!(fn pgseg_predict_customer(fc) { predict::<Bgnbd>(fc) });
pg_fn!(fn pgseg_predict_customer_pareto_nbd(fc) { predict::<ParetoNbd>(fc) });
