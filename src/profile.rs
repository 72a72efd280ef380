//! The profile family's SQL surface (`age_band`, `birthday_within`, `next_birthday`,
//! `province_name`, `china_region`, `north_south`, `provinces()`); the logic is in
//! `pg_segment_core::profile`, the SQL objects in `sql/profile.sql`.

use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::config::Lang;
use pg_segment_core::profile::{
    age_years, birthday_within, china_region, city_tier_label, is_north, next_birthday, province_name, side_label, AgeBands, PROVINCES,
};
use pg_segment_core::time::check_date;

// age_band(birthday date, as_of date, config jsonb, lang text)
pg_fn!(fn pgseg_age_band(fc) {
    let birthday = arg_day(fc, 0, "birthday");
    let as_of = arg_day(fc, 1, "as_of");
    let key = arg_bytes(fc, 2);
    let bands = cached(fc, key, || AgeBands::parse(&arg_json(fc, 2, "config")).or_raise());
    let lang = arg_lang(fc, 3);
    match age_years(birthday, as_of) {
        None => ret_null(fc),
        Some(age) => ret_text(bands.band(age).get(lang)),
    }
});

// birthday_within(birthday date, as_of date, days integer)
pg_fn!(fn pgseg_birthday_within(fc) {
    let birthday = arg_day(fc, 0, "birthday");
    let as_of = arg_day(fc, 1, "as_of");
    Datum::from(birthday_within(birthday, as_of, arg_i32(fc, 2) as i64).or_raise())
});

// next_birthday(birthday date, as_of date) -> date
pg_fn!(fn pgseg_next_birthday(fc) {
    let birthday = arg_day(fc, 0, "birthday");
    let as_of = arg_day(fc, 1, "as_of");
    if birthday > as_of {
        return ret_null(fc);
    }
    // as_of in the last year of the date range has its next birthday beyond it
    let next = check_date(next_birthday(birthday, as_of), "next_birthday").or_raise();
    ret_i32(next as i32)
});

// province_name(province text, lang text)
pg_fn!(fn pgseg_province_name(fc) {
    let lang = arg_lang(fc, 1);
    ret_text_or_null(fc, province_name(arg_str(fc, 0, "province"), lang))
});

// china_region(province text, lang text)
pg_fn!(fn pgseg_china_region(fc) {
    let lang = arg_lang(fc, 1);
    ret_text_or_null(fc, china_region(arg_str(fc, 0, "province")).map(|r| r.label(lang)))
});

// north_south(province text, lang text)
pg_fn!(fn pgseg_north_south(fc) {
    let lang = arg_lang(fc, 1);
    ret_text_or_null(fc, is_north(arg_str(fc, 0, "province")).map(|n| side_label(n, lang)))
});

// city_tier_label(tier text, lang text)
pg_fn!(fn pgseg_city_tier_label(fc) {
    let lang = arg_lang(fc, 1);
    ret_text_or_null(fc, city_tier_label(arg_str(fc, 0, "tier"), lang))
});

use pgrx::pg_sys::Datum;

#[pgrx::pg_schema]
pub mod segment {
    use super::*;
    use pgrx::prelude::*;

    /// Every provincial-level division with its names, region and side (the whole mapping).
    #[pg_extern(name = "provinces", immutable, parallel_safe)]
    pub fn provinces() -> TableIterator<
        'static,
        (
            name!(province, &'static str),
            name!(official_name, &'static str),
            name!(name_en, &'static str),
            name!(region, &'static str),
            name!(region_en, &'static str),
            name!(north_south, &'static str),
        ),
    > {
        TableIterator::new(
            PROVINCES
                .iter()
                .map(|p| (p.zh, p.official, p.en, p.region.label(Lang::Zh), p.region.label(Lang::En), side_label(p.north, Lang::Code))),
        )
    }
}
