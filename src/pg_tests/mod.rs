//! `#[pg_test]`s: run inside a real backend by `cargo pgrx test` (`states`: crafted partial
//! aggregate states fed to the deserializers).

mod states;

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn one<T: pgrx::IntoDatum + pgrx::FromDatum>(sql: &str) -> Option<T> {
        Spi::get_one::<T>(sql).expect(sql)
    }

    #[pg_test]
    fn summary_round_trips_through_text() {
        let text: String = one(
            "SELECT segment.rfm_agg(t, a)::text FROM (VALUES ('2024-01-02 10:00+00'::timestamptz, 19.99::numeric), ('2024-01-01 09:00+00', -5)) v(t, a)",
        )
        .unwrap();
        assert_eq!(text, "v1:2024-01-01T09:00:00Z -5.00|2024-01-02T10:00:00Z 19.99");
        let back: String = one(&format!("SELECT '{text}'::segment.rfm_summary::text")).unwrap();
        assert_eq!(back, text);
    }

    #[pg_test]
    fn numeric_amounts_are_exact() {
        let m: pgrx::AnyNumeric =
            one("SELECT segment.monetary(segment.rfm_agg(now(), a)) FROM (SELECT 0.1::numeric FROM generate_series(1, 1000)) v(a)")
                .unwrap();
        assert_eq!(m.to_string(), "100.00");
    }

    #[pg_test]
    fn refunds_reduce_monetary_and_never_count() {
        let (f, r): (Option<i64>, Option<i64>) = Spi::get_two(
            "SELECT segment.frequency(s), segment.refunds(s) FROM (SELECT segment.rfm_agg(t, a, r) s FROM (VALUES (now(), 10::numeric, false), (now(), 4::numeric, true)) v(t, a, r)) x",
        )
        .unwrap();
        assert_eq!((f, r), (Some(1), Some(1)));
    }

    #[pg_test(error = "amount must not be NaN")]
    fn nan_amount_is_an_error() {
        Spi::run("SELECT segment.rfm_agg(now(), 'NaN'::numeric)").unwrap();
    }

    #[pg_test(error = "bins must be between 2 and 10, got 11")]
    fn bins_out_of_range() {
        Spi::run("SELECT segment.rfm_breaks(s, now(), 11) FROM (SELECT segment.rfm_agg(now(), 1.0::numeric) s) x").unwrap();
    }

    #[pg_test]
    fn sample_orders_is_deterministic() {
        let a: i64 = one("SELECT sum(hashtext(o::text)) FROM segment.sample_orders(50, 7) o").unwrap();
        let b: i64 = one("SELECT sum(hashtext(o::text)) FROM segment.sample_orders(50, 7) o").unwrap();
        let c: i64 = one("SELECT sum(hashtext(o::text)) FROM segment.sample_orders(50, 8) o").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[pg_test]
    fn cached_local_time_equals_postgres_time_zone_library() {
        // every 7 minutes over three years, across DST transitions (including 30-minute and
        // southern-hemisphere ones)
        for name in ["America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago", "Asia/Shanghai", "UTC"] {
            let zone = unsafe { crate::pg::Zone::named(name) };
            let start = 24 * 365 * 86_400_000_000i64; // 2024
            let step = 7 * 60_000_000i64;
            let mut t = start;
            while t < start + 3 * 365 * 86_400_000_000 {
                assert_eq!(zone.local(t), zone.exact_local(t), "{name} at {t}");
                t += step;
            }
        }
    }
}
