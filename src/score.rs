//! The score family's SQL surface: the `rfm_breaks` aggregate, `rfm_score`, `rfm_thresholds`.
//! Math in `pg_segment_core::score`; declared in `sql/score.sql`.

use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::fallible as fa;
use pg_segment_core::numeric::SCALE;
use pg_segment_core::score::{breaks_options_with_tz, check_bins, quantile_breaks, thresholds, Breaks, BreaksOptions, Rfm};
use pg_segment_core::summary::SummaryView;
use pg_segment_core::time::format_instant;
use pg_segment_core::Error;
use pgrx::pg_sys::{self, Datum, FunctionCallInfo};

/// R, F and M inputs of one customer at `as_of`; `None` without an order by then.
fn rfm_values(view: &SummaryView, as_of: i64, window_days: Option<i64>, zone: &Zone) -> Option<Rfm> {
    let all = view.metrics(Some(as_of));
    let last = all.last_order?;
    let recency = days_between(zone, last, as_of) as f64;
    let w = match window_days {
        Some(d) => view.window_metrics(as_of, d, &|t| zone.local(t)),
        None => all,
    };
    Some(Rfm { recency, frequency: w.orders as f64, monetary: w.monetary as f64 / SCALE as f64 })
}

// ---- rfm_breaks(s, as_of [, bins [, options]]) ----

struct BreaksState {
    as_of: i64,
    bins: i32,
    options_json: String,
    options: BreaksOptions,
    tz: Option<String>,
    values: Vec<Rfm>,
}

const BREAKS: &str = "rfm_breaks";

/// Room for `extra` more values: within `pg_segment.memory_limit` (the values and the final
/// step's copy of them) and allocated fallibly.
fn reserve_values(values: &mut Vec<Rfm>, extra: usize) {
    let need = values.len().saturating_add(extra);
    if need > values.capacity() {
        let limit = crate::pg::guc::memory_limit_bytes();
        let bytes = |n: usize| fa::bytes_of::<Rfm>(n).saturating_mul(2);
        fa::check_limit(BREAKS, bytes(need), limit, fa::MEMORY_SETTING).or_raise();
        let want = need.max(values.capacity() * 2).max(64);
        let want = if bytes(want) > limit { need } else { want };
        fa::reserve_total(values, want, BREAKS).or_raise();
    }
}

fn read_options(json: &str) -> (BreaksOptions, Option<String>) {
    // the time zone rides in the options ({"tz": "Asia/Shanghai"}); all of it is checked by core
    breaks_options_with_tz(json).or_raise()
}

pg_fn!(fn pgseg_breaks_trans(fc) {
    let state = state_arg::<BreaksState>(fc, 0);
    // as_of and bins are parameters of the whole aggregate: NULL is an error (as in
    // population_agg), not a skipped row or a silent default of 5 bins
    if is_null(fc, 2) {
        raise(Error::invalid("rfm_breaks: as_of must not be NULL"));
    }
    if nargs(fc) > 3 && is_null(fc, 3) {
        raise(Error::invalid("rfm_breaks: bins must not be NULL"));
    }
    if is_null(fc, 1) {
        return state_or_null(fc, state);
    }
    let as_of = arg_instant(fc, 2, "as_of");
    let bins = if nargs(fc) > 3 { arg_i32(fc, 3) } else { 5 };
    let st = match state {
        Some(s) => {
            if (*s).as_of != as_of || (*s).bins != bins {
                raise(Error::invalid("rfm_breaks: as_of and bins must be the same for every row of the aggregate"));
            }
            s
        }
        None => {
            check_bins(bins).or_raise();
            let options_json = arg_json(fc, 4, "options");
            let (options, tz) = read_options(&options_json);
            if let Some(t) = &tz {
                Zone::named(t);
            }
            let s = BreaksState { as_of, bins, options_json, options, tz, values: Vec::new() };
            new_state(fc, BREAKS, s)
        }
    };
    let zone = match &(*st).tz {
        Some(t) => Zone::named(t),
        None => Zone::session(),
    };
    if let Some(v) = rfm_values(&arg_summary(fc, 1), as_of, (*st).options.window_days, &zone) {
        reserve_values(&mut (*st).values, 1);
        (*st).values.push(v);
    }
    Datum::from(st)
});

pg_fn!(fn pgseg_breaks_combine(fc) {
    match (state_arg::<BreaksState>(fc, 0), state_arg::<BreaksState>(fc, 1)) {
        (None, None) => ret_null(fc),
        (Some(a), None) => Datum::from(a),
        (None, Some(b)) => {
            let mut values = Vec::new();
            reserve_values(&mut values, (*b).values.len());
            values.extend_from_slice(&(*b).values);
            let copy = BreaksState {
                as_of: (*b).as_of,
                bins: (*b).bins,
                options_json: (*b).options_json.clone(),
                options: (*b).options.clone(),
                tz: (*b).tz.clone(),
                values,
            };
            Datum::from(new_state(fc, BREAKS, copy))
        }
        (Some(a), Some(b)) => {
            if (*a).as_of != (*b).as_of || (*a).bins != (*b).bins {
                raise(Error::invalid("rfm_breaks: as_of and bins must be the same for every row of the aggregate"));
            }
            reserve_values(&mut (*a).values, (*b).values.len());
            let (a, b) = (&mut *a, &*b);
            a.values.extend_from_slice(&b.values);
            Datum::from(a as *mut BreaksState)
        }
    }
});

// serialized form: as_of i64, bins i32, options length u32, options, tz length u32 (0 = none), tz, n u64, n x 3 f64
pg_fn!(fn pgseg_breaks_serialize(fc) {
    let st = &*arg(fc, 0).cast_mut_ptr::<BreaksState>();
    let tz = st.tz.as_deref().unwrap_or_default();
    let len = 8 + 4 + 4 + st.options_json.len() + 4 + tz.len() + 8 + st.values.len() * 24;
    if len > 0x3FFF_FFFF - pg_sys::VARHDRSZ {
        raise(Error::limit(format!("rfm_breaks: the partial state of {} customers exceeds the 1 GB a value may hold", st.values.len())));
    }
    // written straight into the value (PostgreSQL memory)
    varlena_from(len, |out| {
        let mut pos = 0;
        let mut put = |b: &[u8]| {
            out[pos..pos + b.len()].copy_from_slice(b);
            pos += b.len();
        };
        put(&st.as_of.to_le_bytes());
        put(&st.bins.to_le_bytes());
        put(&(st.options_json.len() as u32).to_le_bytes());
        put(st.options_json.as_bytes());
        put(&(tz.len() as u32).to_le_bytes());
        put(tz.as_bytes());
        put(&(st.values.len() as u64).to_le_bytes());
        for v in &st.values {
            for x in [v.recency, v.frequency, v.monetary] {
                put(&x.to_le_bytes());
            }
        }
    })
});

pg_fn!(fn pgseg_breaks_deserialize(fc) {
    let b = arg_bytes(fc, 0);
    let mut pos = 0usize;
    let mut take = |n: usize| -> &[u8] {
        if n > b.len() - pos {
            raise(Error::binary("rfm_breaks partial state is truncated"));
        }
        let s = &b[pos..pos + n];
        pos += n;
        s
    };
    let as_of = i64::from_le_bytes(take(8).try_into().unwrap());
    let bins = i32::from_le_bytes(take(4).try_into().unwrap());
    let olen = u32::from_le_bytes(take(4).try_into().unwrap()) as usize;
    let utf8 = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap_or_else(|_| raise(Error::binary("rfm_breaks partial state holds invalid UTF-8")));
    let options_json = utf8(take(olen));
    let tlen = u32::from_le_bytes(take(4).try_into().unwrap()) as usize;
    let tz = if tlen == 0 { None } else { Some(utf8(take(tlen))) };
    let n = u64::from_le_bytes(take(8).try_into().unwrap()) as usize;
    // the count is checked against the bytes present before anything is sized from it
    let raw = take(n.saturating_mul(24));
    let mut values = Vec::new();
    reserve_values(&mut values, n);
    for c in raw.chunks_exact(24) {
        let x = |i: usize| f64::from_le_bytes(c[i..i + 8].try_into().unwrap());
        values.push(Rfm { recency: x(0), frequency: x(8), monetary: x(16) });
    }
    let (options, _) = read_options(&options_json);
    let st = BreaksState { as_of, bins, options_json, options, tz, values };
    deserialized(st)
});

pg_fn!(fn pgseg_breaks_final(fc) {
    match state_arg::<BreaksState>(fc, 0) {
        None => ret_null(fc),
        Some(st) => {
            let st = &*st;
            if st.values.is_empty() {
                return ret_null(fc);
            }
            let mut doc = quantile_breaks(&st.values, st.bins, &st.options, &format_instant(st.as_of)).or_raise();
            if let Some(tz) = &st.tz {
                doc["tz"] = serde_json::Value::String(tz.clone());
            }
            ret_jsonb(&doc.to_string())
        }
    }
});

// ---- rfm_score(s, breaks, as_of [, tz]) ----

struct ScoreCache {
    breaks: Breaks,
    tz: Option<String>,
}

unsafe fn parse_breaks(fc: FunctionCallInfo, n: usize) -> &'static ScoreCache {
    cached(fc, arg_bytes(fc, n), || {
        let (breaks, tz) = Breaks::from_json_with_tz(&arg_json(fc, n, "breaks")).or_raise();
        ScoreCache { breaks, tz }
    })
}

pg_fn!(fn pgseg_rfm_score(fc) {
    let view = arg_summary(fc, 0);
    let cache = parse_breaks(fc, 1);
    let as_of = arg_instant(fc, 2, "as_of");
    let zone = if nargs(fc) > 3 {
        Zone::from_arg(fc, 3)
    } else {
        match &cache.tz {
            Some(t) => Zone::named(t),
            None => Zone::session(),
        }
    };
    let Some(x) = rfm_values(&view, as_of, cache.breaks.window_days, &zone) else {
        return ret_null(fc);
    };
    let s = cache.breaks.score(&x);
    let code = ret_text(&s.code());
    let vals = [
        ret_i32(s.r), ret_i32(s.f), ret_i32(s.m), code, ret_i32(s.total()),
        Datum::from(s.r_high), Datum::from(s.f_high), Datum::from(s.m_high),
        ret_i32(s.bins[0]), ret_i32(s.bins[1]), ret_i32(s.bins[2]),
    ];
    ret_tuple(fc, &vals, &[false; 11])
});

pg_fn!(fn pgseg_rfm_thresholds(fc) {
    ret_jsonb(&thresholds(&arg_json(fc, 0, "rules")).or_raise().to_string())
});
