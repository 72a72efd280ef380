//! The score family's SQL surface: the `rfm_breaks` aggregate, `rfm_score`, `rfm_thresholds`.
//! Math in `pg_segment_core::score`; declared in `sql/score.sql`.

use crate::pg::guc::memory_limit_bytes;
use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::score::{thresholds, Breaks, BreaksState, Rfm};
use pg_segment_core::Error;
use pgrx::pg_sys::{Datum, FunctionCallInfo};

// ---- rfm_breaks(s, as_of [, bins [, options]]) ----

const BREAKS: &str = "rfm_breaks";

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
            (*s).check_same(as_of, bins).or_raise();
            s
        }
        None => {
            let s = BreaksState::new(as_of, bins, arg_json(fc, 4, "options"), &session_zone_name()).or_raise();
            if let Some(t) = &s.tz {
                Zone::named(t);
            }
            new_state(fc, BREAKS, s)
        }
    };
    let st = &mut *st;
    // the state's zone: its tz, or the session's (the one it recorded: this session's)
    let zone = zone_or_session(st.tz.as_deref());
    if let Some(v) = Rfm::of_summary(&arg_summary(fc, 1), as_of, st.options.window_days, &|t| zone.local(t)) {
        st.reserve(1, memory_limit_bytes()).or_raise();
        st.values.push(v);
    }
    Datum::from(st as *mut BreaksState)
});

pg_fn!(fn pgseg_breaks_combine(fc) {
    combine::<BreaksState>(
        fc,
        |b| new_state(fc, BREAKS, b.try_clone(memory_limit_bytes()).or_raise()),
        |a, b| a.merge(b, memory_limit_bytes()).or_raise(),
    )
});

pg_fn!(fn pgseg_breaks_serialize(fc) {
    let st = &*arg(fc, 0).cast_mut_ptr::<BreaksState>();
    let len = st.serialized_len();
    if len > MAX_VARLENA_PAYLOAD {
        raise(Error::limit(format!("rfm_breaks: the partial state of {} customers exceeds the 1 GB a value may hold", st.values.len())));
    }
    // written straight into the value (PostgreSQL memory)
    varlena_from(len, |out| st.serialize_into(out))
});

pg_fn!(fn pgseg_breaks_deserialize(fc) {
    deserialized(BreaksState::deserialize(arg_bytes(fc, 0), memory_limit_bytes()).or_raise())
});

pg_fn!(fn pgseg_breaks_final(fc) {
    match state_arg::<BreaksState>(fc, 0) {
        None => ret_null(fc),
        Some(st) => match (*st).check_session(&session_zone_name()).and_then(|_| (*st).finish()).or_raise() {
            None => ret_null(fc),
            Some(doc) => ret_jsonb(&doc.to_string()),
        },
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
        zone_or_session(cache.tz.as_deref())
    };
    let Some(x) = Rfm::of_summary(&view, as_of, cache.breaks.window_days, &|t| zone.local(t)) else {
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
