//! The loyalty family's SQL surface: the `brand_loyalty` aggregate (one internal state, parallel
//! safe) and `loyalty_label`. Rules in `pg_segment_core::loyalty`; declared in `sql/loyalty.sql`.

use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::fallible::{self as fa, Limit};
use pg_segment_core::loyalty::{level_label, Brands, LoyaltyState, Rules};
use pg_segment_core::Error;
use pgrx::pg_sys::Datum;

const WHAT: &str = "brand_loyalty";

fn limit() -> Limit {
    Limit { bytes: crate::pg::guc::memory_limit_bytes(), what: WHAT }
}

// brand_loyalty transition: (state, brand text, amount numeric [, rules jsonb])
pg_fn!(fn pgseg_loyalty_trans(fc) {
    let state = state_arg::<LoyaltyState>(fc, 0);
    if is_null(fc, 1) || is_null(fc, 2) {
        return state_or_null(fc, state);
    }
    let rules_bytes = same_options(fc, 3, state.map(|s| (*s).rules_bytes.as_slice()), WHAT, "rules");
    let st = match state {
        Some(s) => s,
        None => {
            let rules = if rules_bytes.is_empty() { Rules::default() } else { Rules::parse(&arg_json(fc, 3, "rules")).or_raise() };
            let rules_bytes = fa::copy_of(rules_bytes, WHAT).or_raise();
            new_state(fc, WHAT, LoyaltyState { rules_bytes, rules, brands: Brands::default(), limit: limit() })
        }
    };
    let amount = arg_numeric(fc, 2, "amount");
    let s = &mut *st;
    s.brands.add(arg_str(fc, 1, "brand"), amount, s.limit).or_raise();
    Datum::from(st)
});

pg_fn!(fn pgseg_loyalty_combine(fc) {
    combine::<LoyaltyState>(fc, |b| new_state(fc, WHAT, b.try_clone().or_raise()), |a, b| a.merge(b).or_raise())
});

pg_fn!(fn pgseg_loyalty_serialize(fc) {
    let s = &*arg(fc, 0).cast_mut_ptr::<LoyaltyState>();
    let len = s.serialized_len();
    if len > MAX_VARLENA_PAYLOAD {
        raise(Error::limit("brand_loyalty: the partial state exceeds the 1 GB a value may hold"));
    }
    varlena_from(len, |out| s.serialize_into(out))
});

pg_fn!(fn pgseg_loyalty_deserialize(fc) {
    // the rules travel as jsonb bytes: read through jsonb_out, once per backend
    let rules = |b: &[u8]| Ok(per_backend(b, || Rules::parse(&jsonb_bytes_text(b, "rules")).or_raise()));
    deserialized(LoyaltyState::deserialize(arg_bytes(fc, 0), limit(), rules).or_raise())
});

pg_fn!(fn pgseg_loyalty_final(fc) {
    let st = match state_arg::<LoyaltyState>(fc, 0) {
        None => return ret_null(fc),
        Some(s) => &*s,
    };
    match st.brands.loyalty(&st.rules) {
        None => ret_null(fc),
        Some(l) => ret_tuple(
            fc,
            &[
                ret_text(l.brand),
                ret_i64(l.orders),
                ret_f64(l.order_share),
                ret_f64(l.spend_share.unwrap_or(0.0)),
                ret_i32(l.brands as i32),
                l.level.map_or(Datum::from(0usize), |c| ret_text(c)),
            ],
            &[false, false, false, l.spend_share.is_none(), false, l.level.is_none()],
        ),
    }
});

// loyalty_label(level text, lang text)
pg_fn!(fn pgseg_loyalty_label(fc) {
    let lang = arg_lang(fc, 1);
    ret_text_or_null(fc, level_label(arg_str(fc, 0, "level"), lang))
});
