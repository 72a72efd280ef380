//! The labels family's SQL surface: `rfm_segment` (through `_rfm_segment`), `customer_tier`,
//! `spend_tier`, `lifecycle_stage`, `purchase_cadence`. Rules in `pg_segment_core::labels`;
//! declared in `sql/labels.sql`.

use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::config::{Label, Lang};
use pg_segment_core::labels::{Cadence, Lifecycle, RuleSet, SpendTiers, Tiers};
use pg_segment_core::numeric::SCALE;
use pg_segment_core::score::Score;
use pg_segment_core::summary::{purchase_days, SummaryView};
use pg_segment_core::Error;
use pgrx::pg_sys::{Datum, FunctionCallInfo};

unsafe fn ret_label(label: &Label, lang: Lang) -> Datum {
    ret_text(label.get(lang))
}

/// Score fields from arguments 0..9: r, f, m, r_high, f_high, m_high, r_bins, f_bins, m_bins.
unsafe fn score_args(fc: FunctionCallInfo) -> Option<Score> {
    if (0..9).any(|i| is_null(fc, i)) {
        return None;
    }
    Some(Score {
        r: arg_i32(fc, 0),
        f: arg_i32(fc, 1),
        m: arg_i32(fc, 2),
        r_high: arg_bool(fc, 3),
        f_high: arg_bool(fc, 4),
        m_high: arg_bool(fc, 5),
        bins: [arg_i32(fc, 6), arg_i32(fc, 7), arg_i32(fc, 8)],
    })
}

// _rfm_segment(r, f, m, r_high, f_high, m_high, r_bins, f_bins, m_bins, scheme text, lang)
pg_fn!(fn pgseg_rfm_segment_builtin(fc) {
    let Some(s) = score_args(fc) else { return ret_null(fc) };
    if is_null(fc, 9) {
        raise(Error::invalid("scheme must be 'rfm11' or 'cn8', got NULL"));
    }
    let key = arg_bytes(fc, 9);
    let set = cached(fc, key, || RuleSet::builtin(arg_str(fc, 9, "scheme")).or_raise());
    ret_label(set.classify(&s), arg_lang(fc, 10))
});

// _rfm_segment(r, f, m, r_high, f_high, m_high, r_bins, f_bins, m_bins, rules jsonb, lang)
pg_fn!(fn pgseg_rfm_segment_rules(fc) {
    let Some(s) = score_args(fc) else { return ret_null(fc) };
    if is_null(fc, 9) {
        raise(Error::invalid("rules must be a jsonb array, got NULL"));
    }
    let key = arg_bytes(fc, 9);
    let set = cached(fc, key, || RuleSet::parse(&arg_json(fc, 9, "rules")).or_raise());
    ret_label(set.classify(&s), arg_lang(fc, 10))
});

// customer_tier(rank_share, config, lang)
pg_fn!(fn pgseg_customer_tier(fc) {
    let share = arg_f64(fc, 0);
    let key: &[u8] = if is_null(fc, 1) { &[] } else { arg_bytes(fc, 1) };
    let tiers = cached(fc, key, || Tiers::parse(&arg_json(fc, 1, "config")).or_raise());
    ret_label(tiers.tier(share).or_raise(), arg_lang(fc, 2))
});

// spend_tier(spend numeric, config, lang)
pg_fn!(fn pgseg_spend_tier(fc) {
    let spend = arg_numeric(fc, 0, "spend") as f64 / SCALE as f64;
    let key: &[u8] = if is_null(fc, 1) { &[] } else { arg_bytes(fc, 1) };
    let tiers = cached(fc, key, || SpendTiers::parse(&arg_json(fc, 1, "config")).or_raise());
    ret_label(tiers.tier(spend), arg_lang(fc, 2))
});

/// Arguments of the per-customer label functions: (s, as_of, config, lang [, tz]); tz comes last
/// so that calls with a literal config are unambiguous.
unsafe fn label_args<'a>(fc: FunctionCallInfo, with_tz: bool) -> (SummaryView<'a>, i64, Zone, &'a [u8]) {
    let view = arg_summary(fc, 0);
    let as_of = arg_instant(fc, 1, "as_of");
    let zone = if with_tz { Zone::from_arg(fc, 4) } else { Zone::session() };
    let key: &[u8] = if is_null(fc, 2) { &[] } else { arg_bytes(fc, 2) };
    (view, as_of, zone, key)
}

unsafe fn lifecycle(fc: FunctionCallInfo, with_tz: bool) -> Datum {
    let (view, as_of, zone, key) = label_args(fc, with_tz);
    let l = cached(fc, key, || Lifecycle::parse(&arg_json(fc, 2, "config")).or_raise());
    let m = view.metrics(Some(as_of));
    let recency = m.last_order.map(|t| days_between(&zone, t, as_of));
    let tenure = m.first_order.map(|t| days_between(&zone, t, as_of));
    ret_label(&l.stage(recency, tenure), arg_lang(fc, 3))
}

pg_fn!(fn pgseg_lifecycle_stage(fc) { lifecycle(fc, false) });
pg_fn!(fn pgseg_lifecycle_stage_tz(fc) { lifecycle(fc, true) });

unsafe fn cadence(fc: FunctionCallInfo, with_tz: bool) -> Datum {
    let (view, as_of, zone, key) = label_args(fc, with_tz);
    let c = cached(fc, key, || Cadence::parse(&arg_json(fc, 2, "config")).or_raise());
    match c.classify(&purchase_days(&view, as_of, &|t| zone.local(t)).or_raise()) {
        None => ret_null(fc),
        Some(label) => ret_label(&label, arg_lang(fc, 3)),
    }
}

pg_fn!(fn pgseg_purchase_cadence(fc) { cadence(fc, false) });
pg_fn!(fn pgseg_purchase_cadence_tz(fc) { cadence(fc, true) });
