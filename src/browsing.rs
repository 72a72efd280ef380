//! The browsing family's SQL surface: the `browsing_summary` type, the `browsing_agg` and
//! `rollup` aggregates (one internal state, parallel safe), the accessors, `browsing_active` and
//! the browsing-aware lifecycle stages. Math in `pg_segment_core::browsing`; declared in
//! `sql/browsing.sql`.

use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::browsing::{check_binary, encoded_len, parse_text, write, write_text, Activity, BrowsingStages, BrowsingState, View};
use pg_segment_core::fallible::Limit;
use pg_segment_core::time::{check_instant, pg_day};
use pg_segment_core::Error;
use pgrx::pg_sys::{Datum, FunctionCallInfo};
use std::ffi::CStr;

fn limit_for(what: &'static str) -> Limit {
    Limit { bytes: crate::pg::guc::memory_limit_bytes(), what }
}

unsafe fn new_browsing_state(fc: FunctionCallInfo, what: &'static str) -> *mut BrowsingState {
    new_state(fc, what, BrowsingState::new(limit_for(what)))
}

// browsing_agg transition: (state, visited_at)
pg_fn!(fn pgseg_browsing_trans(fc) {
    let state = state_arg::<BrowsingState>(fc, 0);
    if is_null(fc, 1) {
        return state_or_null(fc, state);
    }
    let at = arg_instant(fc, 1, "visited_at");
    let st = state.unwrap_or_else(|| new_browsing_state(fc, "browsing_agg"));
    (*st).push(at).or_raise();
    Datum::from(st)
});

// rollup transition: (state, browsing_summary)
pg_fn!(fn pgseg_browsing_rollup_trans(fc) {
    let state = state_arg::<BrowsingState>(fc, 0);
    if is_null(fc, 1) {
        return state_or_null(fc, state);
    }
    let view = View::new(arg_bytes(fc, 1)).or_raise();
    let st = state.unwrap_or_else(|| new_browsing_state(fc, "rollup"));
    (*st).extend(view.iter()).or_raise();
    Datum::from(st)
});

pg_fn!(fn pgseg_browsing_combine(fc) {
    combine::<BrowsingState>(fc, |b| new_state(fc, "browsing_agg", b.try_clone().or_raise()), |a, b| a.extend(b.instants.iter().copied()).or_raise())
});

pg_fn!(fn pgseg_browsing_serialize(fc) {
    let s = &*arg(fc, 0).cast_mut_ptr::<BrowsingState>();
    varlena_from(s.serialized_len(), |out| s.serialize_into(out))
});

pg_fn!(fn pgseg_browsing_deserialize(fc) {
    deserialized(BrowsingState::deserialize(arg_bytes(fc, 0), limit_for("browsing_agg")).or_raise())
});

pg_fn!(fn pgseg_browsing_final(fc) {
    match state_arg::<BrowsingState>(fc, 0) {
        None => ret_null(fc),
        Some(st) => {
            let v = &mut (*st).instants;
            pg_segment_core::cancel::sort_unstable_by(v, |a, b| a.cmp(b));
            varlena_from(encoded_len(v.len()), |out| write(v, out))
        }
    }
});

// ---- type I/O ----

pg_fn!(fn pgseg_browsing_in(fc) {
    let text = CStr::from_ptr(arg(fc, 0).cast_mut_ptr())
        .to_str()
        .unwrap_or_else(|_| raise(Error::invalid_text("browsing_summary input is not valid UTF-8")));
    let v = parse_text(text).or_raise();
    varlena_from(encoded_len(v.len()), |out| write(&v, out))
});

pg_fn!(fn pgseg_browsing_out(fc) {
    let view = View::new(arg_bytes(fc, 0)).or_raise();
    let mut text = pgrx::StringInfo::new();
    write_text(&view, &mut |piece| text.push_str(piece));
    Datum::from(text.into_char_ptr())
});

pg_fn!(fn pgseg_browsing_send(fc) { send_stored(fc) });
// exactly what browsing_summary_send can write: version, length, order, range
pg_fn!(fn pgseg_browsing_recv(fc) { recv_stored(fc, check_binary) });

// ---- accessors ----

unsafe fn arg_browsing<'a>(fc: FunctionCallInfo, n: usize) -> View<'a> {
    View::new(arg_bytes(fc, n)).or_raise()
}

unsafe fn window_days(fc: FunctionCallInfo, n: usize) -> i64 {
    let days = arg_i32(fc, n);
    if !(1..=36_500).contains(&days) {
        raise(Error::invalid(format!("window_days must be between 1 and 36500, got {days}")));
    }
    days as i64
}

// visits(b [, as_of])
pg_fn!(fn pgseg_visits(fc) {
    let as_of = if nargs(fc) > 1 { Some(arg_instant(fc, 1, "as_of")) } else { None };
    ret_i64(arg_browsing(fc, 0).cut(as_of) as i64)
});

// visits(b, as_of, window_days [, tz])
pg_fn!(fn pgseg_window_visits(fc) {
    let as_of = arg_instant(fc, 1, "as_of");
    let days = window_days(fc, 2);
    let zone = Zone::from_arg(fc, 3);
    ret_i64(arg_browsing(fc, 0).window_visits(as_of, days, &|t| zone.local(t)))
});

// last_visit(b [, as_of])
pg_fn!(fn pgseg_last_visit(fc) {
    let as_of = if nargs(fc) > 1 { Some(arg_instant(fc, 1, "as_of")) } else { None };
    match arg_browsing(fc, 0).last_visit(as_of) {
        Some(t) => ret_i64(check_instant(t, "last_visit").or_raise()),
        None => ret_null(fc),
    }
});

// visits_per_month(b, as_of, months [, tz]) -> setof (month date, visits bigint)
pg_fn!(fn pgseg_visits_per_month(fc) {
    let as_of = arg_instant(fc, 1, "as_of");
    let months = arg_i32(fc, 2);
    if !(1..=1200).contains(&months) {
        raise(Error::invalid(format!("months must be between 1 and 1200, got {months}")));
    }
    let zone = Zone::from_arg(fc, 3);
    let rows = Rows::materialize(fc, 2, "visits_per_month");
    for (y, m, n) in arg_browsing(fc, 0).per_month(as_of, months as i64, &|t| zone.local(t)) {
        rows.put(&mut [ret_i32(pg_day(y, m, 1) as i32), ret_i64(n)], &mut [false, false]);
    }
    Datum::from(0usize)
});

// browsing_active(b, as_of, config [, tz])
pg_fn!(fn pgseg_browsing_active(fc) {
    let as_of = arg_instant(fc, 1, "as_of");
    let key: &[u8] = if is_null(fc, 2) { &[] } else { arg_bytes(fc, 2) };
    let a = cached(fc, key, || Activity::parse(&arg_json(fc, 2, "config")).or_raise());
    let zone = Zone::from_arg(fc, 3);
    let visits = arg_browsing(fc, 0).window_visits(as_of, a.window_days, &|t| zone.local(t));
    Datum::from(visits >= a.min_visits)
});

/// The browsing-aware stage: `recency`/`tenure` in local days (None without an order by as_of),
/// the summary in argument `b` (NULL: no visit), config in argument `cfg`, lang in `cfg + 1`.
unsafe fn browsing_stage(
    fc: FunctionCallInfo,
    recency: Option<i64>,
    tenure: Option<i64>,
    b: usize,
    as_of: i64,
    cfg: usize,
    zone: &Zone,
) -> Datum {
    let key: &[u8] = if is_null(fc, cfg) { &[] } else { arg_bytes(fc, cfg) };
    let stages = cached(fc, key, || BrowsingStages::parse(&arg_json(fc, cfg, "config")).or_raise());
    let visits = if is_null(fc, b) { 0 } else { arg_browsing(fc, b).window_visits(as_of, stages.visit_days, &|t| zone.local(t)) };
    let lang = arg_lang(fc, cfg + 1);
    ret_text(stages.stage(recency, tenure, visits).get(lang))
}

/// as_of from argument `n`, NULL refused (the browsing stages are not STRICT: a NULL summary is
/// a customer without visits).
unsafe fn as_of_arg(fc: FunctionCallInfo, n: usize) -> i64 {
    if is_null(fc, n) {
        raise(Error::invalid("as_of must not be NULL"));
    }
    arg_instant(fc, n, "as_of")
}

// browsing_lifecycle_stage(s, b, as_of, config, lang [, tz]); NULL s: no order, NULL b: no visit
pg_fn!(fn pgseg_browsing_lifecycle_stage(fc) {
    let as_of = as_of_arg(fc, 2);
    let zone = Zone::from_arg(fc, 5);
    let (recency, tenure) = if is_null(fc, 0) {
        (None, None)
    } else {
        let m = arg_summary(fc, 0).metrics(Some(as_of));
        (m.last_order.map(|t| days_between(&zone, t, as_of)), m.first_order.map(|t| days_between(&zone, t, as_of)))
    };
    browsing_stage(fc, recency, tenure, 1, as_of, 3, &zone)
});

// _browsing_lifecycle(recency_days, tenure_days, b, as_of, config, lang, tz): a segmentation
// view's stage from the days population_rows gives (NULL: no order by as_of)
pg_fn!(fn pgseg_browsing_lifecycle_days(fc) {
    let as_of = as_of_arg(fc, 3);
    let zone = Zone::from_arg(fc, 6);
    let day = |n: usize| if is_null(fc, n) { None } else { Some(arg_i64(fc, n)) };
    browsing_stage(fc, day(0), day(1), 2, as_of, 4, &zone)
});
