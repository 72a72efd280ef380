//! The summary family's SQL surface: the `rfm_summary` type, the `rfm_agg` and `rollup`
//! aggregates, the accessors and `btyd`. Math in `pg_segment_core::summary`; declared in
//! `sql/summary.sql`.

use crate::pg::guc::memory_limit_bytes;
use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::numeric::{format_micro, SCALE};
use pg_segment_core::summary::{
    btyd, check_binary, check_events, check_totals_of, encoded_len, signed_amount, write_events, write_text, Event, Summary, SummaryView,
    Unit, MAX_EVENTS,
};
use pg_segment_core::summary_orders::OrderRows;
use pg_segment_core::time::check_instant;
use pg_segment_core::Error;
use pgrx::pg_sys::{self, Datum, FunctionCallInfo};
use std::ffi::CStr;

/// Aggregate transition state: a growable array of events in PostgreSQL memory (the
/// aggregate's context), so memory is accounted by PostgreSQL and freed with the context.
#[repr(C)]
pub struct State {
    len: usize,
    cap: usize,
    data: *mut Event,
}

impl State {
    unsafe fn new_in(cx: pg_sys::MemoryContext, cap: usize) -> *mut State {
        let st = pg_sys::MemoryContextAlloc(cx, std::mem::size_of::<State>()) as *mut State;
        let cap = cap.max(4);
        (*st).len = 0;
        (*st).cap = cap;
        (*st).data = pg_sys::MemoryContextAlloc(cx, cap * std::mem::size_of::<Event>()) as *mut Event;
        st
    }

    #[inline]
    unsafe fn reserve(&mut self, extra: usize) {
        if self.len + extra > self.cap {
            if self.len + extra > MAX_EVENTS {
                raise(
                    Error::limit(format!(
                        "rfm_agg: more than {MAX_EVENTS} order rows for one customer (the text form of an rfm_summary, which pg_dump writes, is limited to 1 GB)"
                    ))
                        .with_hint("aggregate per customer, or roll up smaller partial summaries"),
                );
            }
            let cap = (self.len + extra).max(self.cap * 2).min(MAX_EVENTS);
            self.data = pg_sys::repalloc(self.data as *mut _, cap * std::mem::size_of::<Event>()) as *mut Event;
            self.cap = cap;
        }
    }

    #[inline]
    unsafe fn push(&mut self, e: Event) {
        self.reserve(1);
        *self.data.add(self.len) = e;
        self.len += 1;
    }

    unsafe fn extend(&mut self, events: impl ExactSizeIterator<Item = Event>) {
        self.reserve(events.len());
        for e in events {
            *self.data.add(self.len) = e;
            self.len += 1;
        }
    }

    unsafe fn slice(&mut self) -> &mut [Event] {
        std::slice::from_raw_parts_mut(self.data, self.len)
    }
}

/// A row's (ordered_at, amount [, is_refund]), arguments `first` on, as both forms of rfm_agg
/// take them: `None` when ordered_at or amount is NULL (the row is skipped); else the instant and
/// the signed amount ([`signed_amount`]: `None` for a refund of 0, which adds nothing).
#[inline]
unsafe fn row_args(fc: FunctionCallInfo, first: usize, numeric: bool) -> Option<(i64, Option<i64>)> {
    if is_null(fc, first) || is_null(fc, first + 1) {
        return None;
    }
    let at = arg_instant(fc, first, "ordered_at");
    let amount = arg_amount(fc, first + 1, numeric);
    let refund = nargs(fc) > first + 2 && !is_null(fc, first + 2) && arg_bool(fc, first + 2);
    Some((at, signed_amount(amount, refund)))
}

/// rfm_agg transition: (state, ordered_at, amount [, is_refund]).
#[inline]
unsafe fn trans(fc: FunctionCallInfo, numeric: bool) -> Datum {
    let state = state_arg::<State>(fc, 0);
    let Some((at, amount)) = row_args(fc, 1, numeric) else {
        return state_or_null(fc, state);
    };
    let st = match state {
        Some(s) => s,
        None => State::new_in(agg_context(fc, "rfm_agg"), 4),
    };
    if let Some(amount) = amount {
        (*st).push(Event { at, amount });
    }
    Datum::from(st)
}

pg_fn!(fn pgseg_rfm_trans_numeric(fc) { trans(fc, true) });
pg_fn!(fn pgseg_rfm_trans_float8(fc) { trans(fc, false) });

pg_fn!(fn pgseg_rfm_combine(fc) {
    let cx = agg_context(fc, "rfm_agg combine");
    // b's events are copied straight into a's array
    let merge = |a: &mut State, b: &mut State| a.extend(b.slice().iter().copied());
    combine::<State>(
        fc,
        |b| {
            let a = State::new_in(cx, b.len);
            merge(&mut *a, b);
            a
        },
        merge,
    )
});

pg_fn!(fn pgseg_rfm_serialize(fc) {
    let st = arg(fc, 0).cast_mut_ptr::<State>();
    let events = (*st).slice();
    varlena_from(encoded_len(events.len()), |out| write_events(events, out))
});

pg_fn!(fn pgseg_rfm_deserialize(fc) {
    let view = SummaryView::new(arg_bytes(fc, 0)).or_raise();
    let st = State::new_in(pg_sys::CurrentMemoryContext, view.len());
    (*st).extend(view.iter());
    Datum::from(st)
});

/// The rfm_summary of a group's events (sorted here).
unsafe fn summary_of(events: &mut [Event]) -> Datum {
    pg_segment_core::cancel::sort_unstable_by(events, |a, b| a.cmp(b));
    // the same checks as the inputs (what rfm_agg and rollup build, the inputs accept),
    // and the limit on one customer's totals that population_agg applies too
    check_events(events, true).or_raise();
    check_totals_of(events).or_raise();
    varlena_from(encoded_len(events.len()), |out| write_events(events, out))
}

pg_fn!(fn pgseg_rfm_final(fc) {
    match state_arg::<State>(fc, 0) {
        None => ret_null(fc),
        Some(st) => summary_of((*st).slice()),
    }
});

// ---- rfm_agg(order_id, ordered_at, amount [, is_refund]): repeated order ids count once ----

/// Transition: (state, order_id, ordered_at, amount [, is_refund]); a NULL order id always counts.
unsafe fn trans_order(fc: FunctionCallInfo, numeric: bool) -> Datum {
    let state = state_arg::<OrderRows>(fc, 0);
    let Some((at, amount)) = row_args(fc, 2, numeric) else {
        return state_or_null(fc, state);
    };
    let st = state.unwrap_or_else(|| new_state(fc, "rfm_agg", OrderRows::new(memory_limit_bytes())));
    if let Some(amount) = amount {
        let order = if is_null(fc, 1) { None } else { Some(arg_i64(fc, 1)) };
        (*st).add(order, at, amount).or_raise();
    }
    Datum::from(st)
}

pg_fn!(fn pgseg_rfm_trans_numeric_order(fc) { trans_order(fc, true) });
pg_fn!(fn pgseg_rfm_trans_float8_order(fc) { trans_order(fc, false) });

pg_fn!(fn pgseg_rfm_order_combine(fc) {
    let cx = agg_context(fc, "rfm_agg combine");
    combine::<OrderRows>(
        fc,
        |b| {
            let mut a = OrderRows::new(memory_limit_bytes());
            a.merge(b).or_raise();
            state_in(cx, a)
        },
        |a, b| a.merge(b).or_raise(),
    )
});

pg_fn!(fn pgseg_rfm_order_serialize(fc) {
    let st = &mut *arg(fc, 0).cast_mut_ptr::<OrderRows>();
    st.dedup();
    let len = st.serialized_len();
    if len > MAX_VARLENA_PAYLOAD {
        raise(Error::limit(format!("rfm_agg partial state would take {} MB, more than the 1 GB a PostgreSQL value may hold", len >> 20)));
    }
    varlena_from(len, |out| st.serialize_into(out))
});

pg_fn!(fn pgseg_rfm_order_deserialize(fc) { deserialized(OrderRows::deserialize(arg_bytes(fc, 0), memory_limit_bytes()).or_raise()) });

pg_fn!(fn pgseg_rfm_order_final(fc) {
    match state_arg::<OrderRows>(fc, 0) {
        None => ret_null(fc),
        Some(st) => {
            let mut events = (*st).events().or_raise();
            if events.len() > MAX_EVENTS {
                raise(Error::limit(format!("rfm_agg: more than {MAX_EVENTS} order rows for one customer")));
            }
            summary_of(&mut events)
        }
    }
});

// rollup transition: (state, rfm_summary).
pg_fn!(fn pgseg_rollup_trans(fc) {
    let state = state_arg::<State>(fc, 0);
    if is_null(fc, 1) {
        return state_or_null(fc, state);
    }
    let view = SummaryView::new(arg_bytes(fc, 1)).or_raise();
    let st = state.unwrap_or_else(|| State::new_in(agg_context(fc, "rollup"), view.len()));
    (*st).extend((0..view.len()).map(|i| view.get(i)));
    Datum::from(st)
});

// ---- type I/O ----

pg_fn!(fn pgseg_summary_in(fc) {
    let text = CStr::from_ptr(arg(fc, 0).cast_mut_ptr()).to_str().unwrap_or_else(|_| raise(Error::invalid_text("rfm_summary input is not valid UTF-8")));
    let mut s = Summary::parse_text(text).or_raise();
    varlena_from(s.encoded_len(), |out| s.encode_into(out))
});

pg_fn!(fn pgseg_summary_out(fc) {
    let view = SummaryView::new(arg_bytes(fc, 0)).or_raise();
    // written straight into PostgreSQL memory, which raises an ERROR (not an abort) when it runs
    // out or the text passes 1 GB
    let mut text = pgrx::StringInfo::new();
    if view.is_sorted() {
        write_text(view.iter(), &mut |piece| text.push_str(piece));
    } else {
        let mut s = Summary::decode(arg_bytes(fc, 0)).or_raise();
        s.sort();
        write_text(s.events.iter().copied(), &mut |piece| text.push_str(piece));
    }
    Datum::from(text.into_char_ptr())
});

pg_fn!(fn pgseg_summary_send(fc) { send_stored(fc) });
// validated as the text input is (version, length, order, ranges), in place: exactly the values
// rfm_summary_send can write are accepted, byte for byte
pg_fn!(fn pgseg_summary_recv(fc) { recv_stored(fc, check_binary) });

// ---- accessors ----

/// `as_of` from argument 1 when present.
unsafe fn as_of_opt(fc: FunctionCallInfo) -> Option<i64> {
    if nargs(fc) > 1 {
        Some(arg_instant(fc, 1, "as_of"))
    } else {
        None
    }
}

pg_fn!(fn pgseg_frequency(fc) { ret_i64(arg_summary(fc, 0).metrics(as_of_opt(fc)).orders) });
pg_fn!(fn pgseg_refunds(fc) { ret_i64(arg_summary(fc, 0).metrics(as_of_opt(fc)).refunds) });
pg_fn!(fn pgseg_future_orders(fc) { ret_i64(arg_summary(fc, 0).metrics(as_of_opt(fc)).future_orders) });
pg_fn!(fn pgseg_monetary(fc) { ret_numeric(&format_micro(arg_summary(fc, 0).metrics(as_of_opt(fc)).monetary)) });
pg_fn!(fn pgseg_refunded(fc) { ret_numeric(&format_micro(arg_summary(fc, 0).metrics(as_of_opt(fc)).refunded)) });

pg_fn!(fn pgseg_average_order_value(fc) {
    let m = arg_summary(fc, 0).metrics(as_of_opt(fc));
    if m.orders == 0 {
        return ret_null(fc);
    }
    // net spend per order, rounded half away from zero to 0.0001
    let q = m.monetary * 2 / m.orders as i128;
    let v = (q + q.signum()) / 2;
    ret_numeric(&format_micro(v))
});

pg_fn!(fn pgseg_first_order(fc) {
    match arg_summary(fc, 0).metrics(as_of_opt(fc)).first_order {
        // a value stored before the inputs were checked may hold any instant: never return one
        // timestamptz cannot hold
        Some(t) => ret_i64(check_instant(t, "first_order").or_raise()),
        None => ret_null(fc),
    }
});

pg_fn!(fn pgseg_last_order(fc) {
    match arg_summary(fc, 0).metrics(as_of_opt(fc)).last_order {
        Some(t) => ret_i64(check_instant(t, "last_order").or_raise()),
        None => ret_null(fc),
    }
});

/// Days from the first or last order to as_of, in the zone of argument 2 or the session's.
unsafe fn days_since(fc: FunctionCallInfo, pick: fn(&pg_segment_core::summary::Metrics) -> Option<i64>) -> Datum {
    let as_of = arg_instant(fc, 1, "as_of");
    let zone = Zone::from_arg(fc, 2);
    match pick(&arg_summary(fc, 0).metrics(Some(as_of))) {
        Some(t) => ret_i64(days_between(&zone, t, as_of)),
        None => ret_null(fc),
    }
}

/// Totals over the `window_days` local days ending with as_of's day: (s, as_of, window_days [, tz]).
unsafe fn window(fc: FunctionCallInfo) -> pg_segment_core::summary::Metrics {
    let as_of = arg_instant(fc, 1, "as_of");
    let days = arg_i32(fc, 2);
    if !(1..=36_500).contains(&days) {
        raise(Error::invalid(format!("window_days must be between 1 and 36500, got {days}")));
    }
    let zone = Zone::from_arg(fc, 3);
    arg_summary(fc, 0).window_metrics(as_of, days as i64, &|t| zone.local(t))
}

pg_fn!(fn pgseg_window_frequency(fc) { ret_i64(window(fc).orders) });
pg_fn!(fn pgseg_window_monetary(fc) { ret_numeric(&format_micro(window(fc).monetary)) });

// recency_days(s, as_of [, tz]): days from the last order to as_of
pg_fn!(fn pgseg_recency_days(fc) { days_since(fc, |m| m.last_order) });
// tenure_days(s, as_of [, tz]): days from the first order to as_of
pg_fn!(fn pgseg_tenure_days(fc) { days_since(fc, |m| m.first_order) });

// btyd(s, as_of, unit [, tz]) -> (frequency, recency, t, monetary_value)
pg_fn!(fn pgseg_btyd(fc) {
    let view = arg_summary(fc, 0);
    let as_of = arg_instant(fc, 1, "as_of");
    let unit = Unit::parse(arg_str(fc, 2, "unit")).or_raise();
    let zone = Zone::from_arg(fc, 3);
    match btyd(&view, as_of, unit, &|t| zone.local(t)) {
        None => ret_null(fc),
        Some(b) => ret_tuple(fc, &[ret_f64(b.frequency), ret_f64(b.recency), ret_f64(b.t), ret_f64(b.monetary_value)], &[false; 4]),
    }
});

#[allow(dead_code)]
const _SCALE_IS_1E4: () = assert!(SCALE == 10_000);
