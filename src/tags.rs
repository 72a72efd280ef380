//! The tags family's SQL surface: the `behaviour_tags` and `preferred_category` aggregates (one
//! internal state, parallel safe), `tag_label`, and `with_high_end`. Logic in `pg_segment_core::tags`;
//! SQL objects in `sql/tags.sql`.

use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::fallible::{self as fa, Limit};
use pg_segment_core::numeric::SCALE;
use pg_segment_core::tags::{tag_label, with_high_end, Evidence, Rules, TagState};
use pg_segment_core::Error;
use pgrx::pg_sys::Datum;
use pgrx::IntoDatum;

const WHAT: &str = "behaviour_tags";

fn limit_for(what: &'static str) -> Limit {
    Limit { bytes: crate::pg::guc::memory_limit_bytes(), what }
}

// behaviour_tags transition: (state, ordered_at, amount, discount, promotion, category [, launched_at [, rules]])
pg_fn!(fn pgseg_tags_trans(fc) {
    let state = state_arg::<TagState>(fc, 0);
    if is_null(fc, 1) || is_null(fc, 2) {
        return state_or_null(fc, state);
    }
    let at = arg_instant(fc, 1, "ordered_at");
    let amount = arg_numeric(fc, 2, "amount");
    let rules_bytes: &[u8] = if nargs(fc) > 7 && !is_null(fc, 7) { arg_bytes(fc, 7) } else { &[] };
    let st = match state {
        Some(s) => {
            if (*s).rules_bytes.as_slice() != rules_bytes {
                raise(Error::invalid("behaviour_tags: rules must be the same in every row of the aggregate"));
            }
            s
        }
        None => {
            let rules = if rules_bytes.is_empty() { Rules::default() } else { Rules::parse(&arg_json(fc, 7, "rules")).or_raise() };
            let rules_bytes = fa::copy_of(rules_bytes, WHAT).or_raise();
            new_state(fc, WHAT, TagState { rules_bytes, rules, ev: Evidence::default(), limit: limit_for(WHAT) })
        }
    };
    if amount < 0 {
        // a refund row is not an order
        return Datum::from(st);
    }
    let discount = if is_null(fc, 3) {
        None
    } else {
        let d = arg_numeric(fc, 3, "discount") as f64 / SCALE as f64;
        if !(0.0..=1.0).contains(&d) {
            raise(Error::invalid(format!("discount must be a fraction between 0 and 1 (0.15 = 15% off), got {d}")));
        }
        Some(d)
    };
    let promotion = if is_null(fc, 4) { None } else { Some(arg_bool(fc, 4)) };
    let category = if is_null(fc, 5) { None } else { Some(arg_str(fc, 5, "category")) };
    let launched = if nargs(fc) > 6 && !is_null(fc, 6) { Some(arg_instant(fc, 6, "launched_at")) } else { None };
    let s = &mut *st;
    s.ev.add(at, amount, discount, promotion, category, launched, &s.rules, s.limit).or_raise();
    Datum::from(st)
});

// preferred_category transition: (state, category, amount)
pg_fn!(fn pgseg_pref_cat_trans(fc) {
    let state = state_arg::<TagState>(fc, 0);
    if is_null(fc, 1) || is_null(fc, 2) {
        return state_or_null(fc, state);
    }
    let amount = arg_numeric(fc, 2, "amount");
    let st = state.unwrap_or_else(|| {
        new_state(fc, WHAT, TagState { rules_bytes: Vec::new(), rules: Rules::default(), ev: Evidence::default(), limit: limit_for("preferred_category") })
    });
    let c = arg_str(fc, 1, "category");
    let s = &mut *st;
    s.ev.add_category(c, amount as i128, s.limit).or_raise();
    Datum::from(st)
});

pg_fn!(fn pgseg_tags_combine(fc) {
    combine::<TagState>(fc, |b| new_state(fc, WHAT, b.try_clone().or_raise()), |a, b| a.merge(b).or_raise())
});

pg_fn!(fn pgseg_tags_serialize(fc) {
    let s = &*arg(fc, 0).cast_mut_ptr::<TagState>();
    let len = s.serialized_len();
    if len > MAX_VARLENA_PAYLOAD {
        raise(Error::limit("behaviour_tags: the partial state exceeds the 1 GB a value may hold"));
    }
    // written straight into the value (PostgreSQL memory)
    varlena_from(len, |out| s.serialize_into(out))
});

pg_fn!(fn pgseg_tags_deserialize(fc) {
    // the rules travel as jsonb bytes: read through jsonb_out
    let rules = |b: &[u8]| Ok(per_backend(b, || Rules::parse(&jsonb_bytes_text(b, "rules")).or_raise()));
    deserialized(TagState::deserialize(arg_bytes(fc, 0), limit_for(WHAT), rules).or_raise())
});

pg_fn!(fn pgseg_tags_final(fc) {
    match state_arg::<TagState>(fc, 0) {
        None => ret_null(fc),
        Some(s) => {
            let tags: Vec<&str> = (*s).ev.tags(&(*s).rules).or_raise();
            tags.into_datum().unwrap()
        }
    }
});

pg_fn!(fn pgseg_pref_cat_final(fc) {
    let st = match state_arg::<TagState>(fc, 0) {
        None => return ret_null(fc),
        Some(s) => &*s,
    };
    match st.ev.preferred_category() {
        None => ret_null(fc),
        Some((c, share)) => ret_tuple(fc, &[ret_text(c), ret_f64(share)], &[false, false]),
    }
});

// tag_label(code text, lang text)
pg_fn!(fn pgseg_tag_label(fc) {
    let lang = arg_lang(fc, 1);
    ret_text_or_null(fc, tag_label(arg_str(fc, 0, "code"), lang))
});

#[pgrx::pg_schema]
pub mod segment {
    use pgrx::prelude::*;

    /// Second step of the tags: `high_end` for a promotion buyer whose average unit price is at
    /// least the population threshold.
    #[pg_extern(name = "with_high_end", immutable, parallel_safe, strict)]
    pub fn with_high_end_sql(
        tags: pgrx::Array<'_, &str>,
        avg_unit_price: f64,
        threshold: f64,
        require_promotion: default!(bool, true),
    ) -> Vec<String> {
        use crate::pg::OrRaise;
        use pg_segment_core::fallible as fa;
        // the array is read in place; its copy is bounded by pg_segment.memory_limit and fallible
        let what = "with_high_end";
        let limit = crate::pg::guc::memory_limit_bytes();
        let mut copy: Vec<String> = fa::vec_with_capacity(tags.len() + 1, what).or_raise();
        let mut bytes = fa::bytes_of::<String>(tags.len() + 1);
        for t in tags.iter().flatten() {
            bytes = bytes.saturating_add(t.len());
            fa::check_limit(what, bytes, limit, fa::MEMORY_SETTING).or_raise();
            copy.push(fa::string_of(t, what).or_raise());
        }
        super::with_high_end(copy, avg_unit_price, threshold, require_promotion).or_raise()
    }
}
