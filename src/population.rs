//! The population family's SQL surface (the whole-population path): the `population_agg` aggregate (groups order
//! rows by customer inside one hash map), the `rfm_population` type it returns, and
//! `population_rows` which expands it to one segmented row per customer. Math in
//! `pg_segment_core::population`; declared in `sql/population.sql`.

use crate::pg::guc::population_limit_bytes as limit_bytes;
use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::fallible as fa;
use pg_segment_core::numeric::encode_numeric;
use pg_segment_core::population::{parse_options, Options, PopulationView, State, ValueBuf};
use pg_segment_core::summary::signed_amount;
use pg_segment_core::time::{check_instant, check_session_zone, format_instant};
use pg_segment_core::{ErrCode, Error};
use pgrx::pg_sys::{self, Datum, FunctionCallInfo};
use std::ffi::CStr;

/// The aggregate state: core state, its parsed options and a day cache for its time zone.
struct Agg {
    st: State,
    opts: Options,
    days: DayCache,
    /// the options bytes of the first row (every row must give the same options)
    options_bytes: Vec<u8>,
    /// as_of and options are constants of the aggregate call: not compared row by row
    constant: bool,
}

/// The zone a state counts days in: the one it recorded (its `tz` option, or the session's
/// `TimeZone` when its first row arrived), looked up by name, or the session's own zone when
/// that is the one (a state read in this session).
unsafe fn zone_of(st: &State, opts: &Options) -> Zone {
    if opts.tz.is_none() && st.zone == session_zone_name() {
        Zone::session()
    } else {
        Zone::named(&st.zone)
    }
}

/// The state of a partial state (options bytes are only compared while rows arrive).
unsafe fn agg_of(st: State, opts: Options) -> Agg {
    let days = DayCache::new(zone_of(&st, &opts));
    Agg { st, opts, days, options_bytes: Vec::new(), constant: true }
}

/// The state of a transition call whose `as_of` is argument `at_as_of` (options, when given,
/// the next): made on the first row, and checked on every row that as_of and the options did
/// not change, unless they are constants of the call.
#[inline]
unsafe fn agg_for(fc: FunctionCallInfo, at_as_of: usize) -> *mut Agg {
    let at_options = at_as_of + 1;
    let has_options = nargs(fc) > at_options;
    match state_arg::<Agg>(fc, 0) {
        Some(a) if (*a).constant => a,
        Some(a) => {
            if is_null(fc, at_as_of) {
                raise(Error::invalid("population_agg: as_of must not be NULL"));
            }
            if (*a).st.as_of != arg_instant(fc, at_as_of, "as_of") {
                raise(Error::invalid("population_agg: as_of must be the same for every row of the aggregate"));
            }
            if has_options {
                // the options must be the same on every row (a short byte comparison per row)
                let same = if is_null(fc, at_options) {
                    (*a).options_bytes.is_empty()
                } else {
                    arg_bytes(fc, at_options) == (*a).options_bytes.as_slice()
                };
                if !same {
                    raise(Error::invalid("population_agg: options must be the same for every row of the aggregate"));
                }
            }
            a
        }
        None => {
            if is_null(fc, at_as_of) {
                raise(Error::invalid("population_agg: as_of must not be NULL"));
            }
            let as_of = arg_instant(fc, at_as_of, "as_of");
            let json = if has_options { arg_json(fc, at_options, "options") } else { "{}".into() };
            let opts = parse_options(&json).or_raise();
            let zone = match &opts.tz {
                Some(t) => t.clone(),
                None => session_zone_name(),
            };
            let mut days = DayCache::new(zone_or_session(opts.tz.as_deref()));
            let as_of_day = days.day(as_of);
            let st = State::new(as_of, as_of_day, opts.window_days(), json, zone, limit_bytes());
            let options_bytes = if has_options && !is_null(fc, at_options) {
                fa::copy_of(arg_bytes(fc, at_options), "population_agg").or_raise()
            } else {
                Vec::new()
            };
            let constant_args: &[usize] = if has_options { &[at_as_of, at_options] } else { &[at_as_of] };
            let constant = args_are_constant(fc, constant_args);
            new_state(fc, "population_agg", Agg { st, opts, days, options_bytes, constant })
        }
    }
}

/// Transition over order rows: (state, customer_id, [order_id,] ordered_at, amount,
/// [is_refund,] as_of [, options]).
#[inline]
unsafe fn trans(fc: FunctionCallInfo, numeric: bool, flag: bool, order_id: bool) -> Datum {
    let o = order_id as usize;
    let (at_at, at_amount) = (2 + o, 3 + o);
    let at_as_of = if flag { 5 + o } else { 4 + o };
    let agg = agg_for(fc, at_as_of);
    if is_null(fc, 1) || is_null(fc, at_at) || is_null(fc, at_amount) {
        return Datum::from(agg);
    }
    let a = &mut *agg;
    let id = arg_i64(fc, 1);
    let at = arg_instant(fc, at_at, "ordered_at");
    let amount = arg_amount(fc, at_amount, numeric);
    let refund = flag && !is_null(fc, at_amount + 1) && arg_bool(fc, at_amount + 1);
    if let Some(amount) = signed_amount(amount, refund) {
        let day = if at <= a.st.as_of { a.days.day(at) } else { 0 };
        if order_id && !is_null(fc, 2) {
            a.st.add_with_order(id, arg_i64(fc, 2), at, amount, day).or_raise();
        } else {
            a.st.add(id, at, amount, day).or_raise();
        }
    }
    Datum::from(agg)
}

pg_fn!(fn pgseg_population_trans_numeric(fc) { trans(fc, true, false, false) });
pg_fn!(fn pgseg_population_trans_float8(fc) { trans(fc, false, false, false) });
pg_fn!(fn pgseg_population_trans_numeric_flag(fc) { trans(fc, true, true, false) });
pg_fn!(fn pgseg_population_trans_float8_flag(fc) { trans(fc, false, true, false) });
pg_fn!(fn pgseg_population_trans_numeric_order(fc) { trans(fc, true, true, true) });
pg_fn!(fn pgseg_population_trans_float8_order(fc) { trans(fc, false, true, true) });

// Transition over one row per customer: (state, customer_id, rfm_summary, as_of [, options]):
// every order and refund in the summary counts as an order row would.
pg_fn!(fn pgseg_population_trans_summary(fc) {
    let agg = agg_for(fc, 3);
    if is_null(fc, 1) || is_null(fc, 2) {
        return Datum::from(agg);
    }
    let a = &mut *agg;
    let view = arg_summary(fc, 2);
    let days = &mut a.days;
    a.st.add_summary(arg_i64(fc, 1), &view, &mut |t| days.day(t)).or_raise();
    Datum::from(agg)
});

pg_fn!(fn pgseg_population_combine(fc) {
    let cx = agg_context(fc, "population_agg combine");
    combine::<Agg>(
        fc,
        |b| {
            // the first partial state: its Rust-owned contents move into a new state in the
            // aggregate's context (O(1))
            let empty = b.st.empty_like();
            let st = std::mem::replace(&mut b.st, empty);
            state_in(cx, agg_of(st, b.opts.clone()))
        },
        // the other state's sorted runs are taken over: no customer is re-inserted
        |a, b| a.st.merge(&mut b.st).or_raise(),
    )
});

pg_fn!(fn pgseg_population_serialize(fc) {
    let a = &mut *arg(fc, 0).cast_mut_ptr::<Agg>();
    // sorted here, in the worker or partition that read the rows
    a.st.prepare_serialize().or_raise();
    let len = a.st.serialized_len();
    check_varlena(len, "population_agg partial state");
    varlena_from(len, |out| a.st.serialize_into(out))
});

pg_fn!(fn pgseg_population_deserialize(fc) {
    let st = State::deserialize(arg_bytes(fc, 0), limit_bytes()).or_raise();
    let opts = per_backend(st.options_json.as_bytes(), || parse_options(&st.options_json).or_raise());
    deserialized(agg_of(st, opts))
});

fn check_varlena(len: usize, what: &str) {
    if len + pg_sys::VARHDRSZ > 0x3FFF_FFFF {
        raise(
            Error::limit(format!("{what} would take {} MB, more than the 1 GB a PostgreSQL value may hold", len >> 20))
                .with_hint(FEWER_CUSTOMERS),
        );
    }
}

const FEWER_CUSTOMERS: &str = "segment fewer customers per call (e.g. one call per region or per customer_id range)";

/// An rfm_population value must print: its p1:<hex> text, which pg_dump writes, is twice its size
/// (about 5 million customers at most per value).
fn check_population_size(len: usize) {
    if 3 + 2 * len > pg_segment_core::MAX_TEXT_BYTES {
        raise(
            Error::limit(format!(
                "the population value would take {} MB: its text form, which pg_dump writes, would exceed the {} MB one value's text may take",
                len >> 20,
                pg_segment_core::MAX_TEXT_BYTES >> 20
            ))
            .with_hint(FEWER_CUSTOMERS),
        );
    }
}

/// The stored value, written by the final step straight into PostgreSQL memory.
struct PgValue(Datum);

impl ValueBuf for PgValue {
    fn alloc(&mut self, len: usize) -> Result<&mut [u8], Error> {
        check_population_size(len);
        let (d, bytes) = unsafe { varlena_alloc(len) };
        self.0 = d;
        Ok(bytes)
    }
}

pg_fn!(fn pgseg_population_final(fc) {
    let Some(a) = state_arg::<Agg>(fc, 0) else { return ret_null(fc) };
    let a = &mut *a;
    let Agg { st, opts, days, .. } = a;
    // days counted in the session's zone of a session elsewhere (a remote one) must not be
    // finished in another zone here
    if opts.tz.is_none() {
        check_session_zone("population_agg", &st.zone, &session_zone_name()).or_raise();
    }
    let mut value = PgValue(Datum::from(0usize));
    st.finish_into(opts, &mut |t| days.day(t), &mut value).or_raise();
    value.0
});

// ---- the rfm_population type ----

unsafe fn population_arg<'a>(fc: FunctionCallInfo, n: usize) -> PopulationView<'a> {
    PopulationView::new(arg_bytes(fc, n)).or_raise()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The most bytes a text form may take (PostgreSQL's limit on one value).
const MAX_TEXT: usize = 0x3FFF_FFFF;

pg_fn!(fn pgseg_population_out(fc) {
    let b = arg_bytes(fc, 0);
    let len = 3 + b.len() * 2;
    if len >= MAX_TEXT {
        raise(
            Error::limit(format!("rfm_population: the text form of this value would take {} MB, more than the 1 GB a value may hold", len >> 20))
                .with_hint("copy it in binary (COPY ... WITH (FORMAT binary)), or keep one population value per region or customer range"),
        );
    }
    // written straight into PostgreSQL memory (an allocation failure there is an ERROR)
    let p = pg_sys::palloc(len + 1) as *mut u8;
    let out = std::slice::from_raw_parts_mut(p, len + 1);
    // p1 names the text form (hex of the binary value), whose bytes carry the format version:
    // values of either version print and read back as they are
    out[..3].copy_from_slice(b"p1:");
    for (i, &x) in b.iter().enumerate() {
        out[3 + 2 * i] = HEX[(x >> 4) as usize];
        out[4 + 2 * i] = HEX[(x & 15) as usize];
    }
    out[len] = 0;
    Datum::from(p)
});

pg_fn!(fn pgseg_population_in(fc) {
    let text = CStr::from_ptr(arg(fc, 0).cast_mut_ptr()).to_bytes();
    let bad = || Error::invalid_text("rfm_population input must be the p1:<hex> form that rfm_population_out writes");
    let hex = text.strip_prefix(b"p1:").unwrap_or_else(|| raise(bad()));
    if hex.len() % 2 != 0 {
        raise(bad());
    }
    let nib = |c: u8| -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => raise(bad()),
        }
    };
    // decoded straight into the new value, then validated with the binary input's checks (a
    // corrupt value is bad text here)
    let d = varlena_from(hex.len() / 2, |o| {
        for (o, p) in o.iter_mut().zip(hex.chunks_exact(2)) {
            *o = nib(p[0]) << 4 | nib(p[1]);
        }
    });
    check_population(bytes_of(d)).map_err(|e| if e.code == ErrCode::InvalidBinary { Error { code: ErrCode::InvalidText, ..e } } else { e }).or_raise();
    d
});

pg_fn!(fn pgseg_population_send(fc) { send_stored(fc) });
pg_fn!(fn pgseg_population_recv(fc) { recv_stored(fc, check_population) });

/// What both inputs check: exactly the values population_agg can produce are accepted.
fn check_population(bytes: &[u8]) -> Result<(), Error> {
    check_population_size(bytes.len());
    PopulationView::new(bytes)?.validate(bytes)
}

// ---- accessors ----

pg_fn!(fn pgseg_population_breaks(fc) {
    let p = population_arg(fc, 0);
    let info: serde_json::Value =
        serde_json::from_str(p.info).unwrap_or_else(|e| raise(Error::binary(format!("rfm_population value is corrupt: info is not JSON: {e}"))));
    match info.get("breaks") {
        None | Some(serde_json::Value::Null) => ret_null(fc),
        Some(b) => ret_jsonb(&b.to_string()),
    }
});

pg_fn!(fn pgseg_population_info(fc) {
    let p = population_arg(fc, 0);
    let info: serde_json::Value =
        serde_json::from_str(p.info).unwrap_or_else(|e| raise(Error::binary(format!("rfm_population value is corrupt: info is not JSON: {e}"))));
    // version 1 (0.1.0) recorded neither the zone nor repeated rows
    let doc = serde_json::json!({
        "version": p.version,
        "as_of": format_instant(p.as_of),
        "tz": info.get("tz"),
        "customers": p.len,
        "rows_read": p.rows_read,
        "duplicate_rows": info.get("duplicate_rows"),
        "state_bytes": p.state_bytes,
        "value_bytes": arg_bytes(fc, 0).len(),
    });
    ret_jsonb(&doc.to_string())
});

/// A `numeric` varlena (4-byte header) in `buf`, pointing into it: valid until `buf` is reused,
/// which is enough for `tuplestore_putvalues`, which copies.
unsafe fn money_in(buf: &mut [u8; 16], v: i64) -> Datum {
    let mut payload = [0u8; 12];
    let n = encode_numeric(v, &mut payload);
    buf[4..4 + n].copy_from_slice(&payload[..n]);
    pgrx::varlena::set_varsize_4b(buf.as_mut_ptr() as *mut pg_sys::varlena, (4 + n) as i32);
    Datum::from(buf.as_mut_ptr())
}

// population_rows(p) -> setof (customer_id, orders, monetary, first_order, last_order,
// recency_days, tenure_days, refunds, refunded, future_orders, window_orders, window_monetary,
// r, f, m, rfm_code, rfm_total, segment, tier, lifecycle_stage, cadence)
pg_fn!(fn pgseg_population_rows(fc) {
    let p = population_arg(fc, 0);
    // the rows take about twice the value's bytes, and population_memory_limit (which bounded
    // the value's making) bounds them too: kept in memory up to it, not spilled at work_mem
    let out = Rows::materialize_in_memory(fc, 21, "population_rows", limit_bytes());
    // label texts and R/F/M codes become datums once; each row points at them (the tuple
    // store copies what it stores)
    let label_datums: Vec<Datum> = fa::collect(p.labels.iter().map(|l| ret_text(l)), "population_rows").or_raise();
    let mut codes: std::collections::HashMap<u32, Datum> = Default::default();
    let mut bufs = [[0u8; 16]; 3];
    let mut values = [Datum::from(0); 21];
    let mut nulls = [false; 21];
    for i in 0..p.len {
        if i % 4096 == 0 {
            pgrx::check_for_interrupts!();
        }
        let r = p.row(i);
        let has = r.orders > 0;
        let [b0, b1, b2] = &mut bufs;
        values[0] = Datum::from(r.id);
        values[1] = Datum::from(r.orders as i64);
        values[2] = money_in(b0, r.monetary);
        if has {
            // a value stored before the inputs were checked may hold any instant
            check_instant(r.first, "population_rows first_order").or_raise();
            check_instant(r.last, "population_rows last_order").or_raise();
        }
        values[3] = Datum::from(r.first);
        values[4] = Datum::from(r.last);
        values[5] = Datum::from(r.recency);
        values[6] = Datum::from(r.tenure);
        nulls[3..7].fill(!has);
        values[7] = Datum::from(r.refunds as i64);
        values[8] = money_in(b1, r.refunded);
        values[9] = Datum::from(r.future as i64);
        values[10] = Datum::from(r.w_orders as i64);
        values[11] = money_in(b2, r.w_monetary);
        nulls[10] = !r.windowed;
        nulls[11] = !r.windowed;
        match &r.score {
            Some(s) => {
                values[12] = Datum::from(s.r);
                values[13] = Datum::from(s.f);
                values[14] = Datum::from(s.m);
                let key = (s.r as u32) << 16 | (s.f as u32) << 8 | s.m as u32;
                values[15] = *codes.entry(key).or_insert_with(|| ret_text(&s.code()));
                values[16] = Datum::from(s.total());
                nulls[12..17].fill(false);
            }
            None => nulls[12..17].fill(true),
        }
        for (col, k) in [(17, r.segment), (18, r.tier), (19, r.stage), (20, r.cadence)] {
            match p.label(k) {
                Some(_) => {
                    values[col] = label_datums[k as usize];
                    nulls[col] = false;
                }
                None => nulls[col] = true,
            }
        }
        out.put(&mut values, &mut nulls);
    }
    Datum::from(0usize)
});
