//! The service family's SQL surface: `next_action` and the helpers of the service plan table
//! (`_tier_code`, `_lang`). Rules in `pg_segment_core::service`; the table, `service_plan` and the
//! segmentation view options in `sql/service.sql`.

use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::service::{cadence_index, stage_index, tier_code, NextActions};

// next_action(stage text, cadence text, config jsonb, lang text) -> text; NULL stage: NULL
pg_fn!(fn pgseg_next_action(fc) {
    if is_null(fc, 0) {
        return ret_null(fc);
    }
    let key: &[u8] = if is_null(fc, 2) { &[] } else { arg_bytes(fc, 2) };
    let rules = cached(fc, key, || NextActions::parse(&arg_json(fc, 2, "config")).or_raise());
    let stage = stage_index(arg_str(fc, 0, "stage")).or_raise();
    let cadence = if is_null(fc, 1) { None } else { Some(cadence_index(arg_str(fc, 1, "cadence")).or_raise()) };
    ret_text(rules.action(stage, cadence).get(arg_lang(fc, 3)))
});

// _tier_code(tier text) -> text: the code of a built-in tier in any language, else the tier trimmed
pg_fn!(fn pgseg_tier_code(fc) {
    ret_text(tier_code(arg_str(fc, 0, "tier")))
});

// _lang(lang text) -> 'zh', 'en' or 'code'; anything else (NULL too) is 22023
pg_fn!(fn pgseg_lang(fc) {
    ret_text(arg_lang(fc, 0).pick("code", "zh", "en"))
});
