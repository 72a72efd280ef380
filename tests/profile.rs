//! segment.city_tiers is an extension configuration table: rows users add survive pg_dump and
//! restore, and built-in rows are neither dumped nor duplicated.

use pg_segment_integration::{dump, restore, TestDb};

#[test]
fn user_city_tiers_survive_dump_and_restore() {
    let src = TestDb::new("dump_src");
    let dst = TestDb::new("dump_dst");
    let mut c = src.client();
    c.batch_execute(
        "CREATE EXTENSION pg_segment;
         INSERT INTO segment.city_tiers (city, city_en, tier, aliases) VALUES ('拉萨', 'Lhasa', 'tier3', '{Lasa}'), ('佛山', 'Foshan', 'new_tier1', '{}');",
    )
    .unwrap();
    let dumped = dump(&src.name);
    let text = String::from_utf8_lossy(&dumped);
    assert!(text.contains("拉萨"), "the user row is dumped");
    assert!(!text.contains("深圳"), "built-in rows are not dumped");
    restore(&dst.name, &dumped);
    let mut d = dst.client();
    let row = d
        .query_one(
            "SELECT segment.city_tier('拉萨', 'code'), segment.city_tier('Lasa', 'code'), segment.city_tier('佛山', 'code'),
                    (SELECT count(*) FROM segment.city_tiers WHERE builtin), (SELECT count(*) FROM segment.city_tiers WHERE NOT builtin)",
            &[],
        )
        .unwrap();
    let (lhasa, lasa, foshan, builtin, user): (Option<String>, Option<String>, Option<String>, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    assert_eq!(lhasa.as_deref(), Some("tier3"));
    assert_eq!(lasa.as_deref(), Some("tier3"));
    assert_eq!(foshan.as_deref(), Some("new_tier1"), "the user row overrides the built-in one");
    assert_eq!((builtin, user), (49, 2));
}
