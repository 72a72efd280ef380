//! segment.service_benefits is an extension configuration table: the rows users add (overrides,
//! removals, tiers of their own) survive pg_dump and restore, built-in rows are neither dumped nor
//! duplicated, and the plans read the same afterwards.

use pg_segment_integration::{dump, restore, TestDb};

const PLANS: &str = "SELECT concat_ws(' | ', segment.service_plan('vip', 'en'), segment.service_plan('member', 'code'),
                                       segment.service_plan('黑金会员'), segment.service_plan('Diamond VIP', 'zh'))";

#[test]
fn user_service_benefits_survive_dump_and_restore() {
    let src = TestDb::new("svc_src");
    let dst = TestDb::new("svc_dst");
    let mut c = src.client();
    c.batch_execute(
        "CREATE EXTENSION pg_segment;
         INSERT INTO segment.service_benefits (tier, direction, benefit, position, label_zh, label_en) VALUES
             ('vip', 'logistics', 'sf_express', 10, '顺丰次日达', 'SF Express next-day delivery'),
             ('member', NULL, 'free_shipping', 100, NULL, NULL),
             ('黑金会员', 'customer_service', 'butler', 1, '私人管家', 'Personal butler');",
    )
    .unwrap();
    let before: String = c.query_one(PLANS, &[]).unwrap().get(0);
    assert!(before.contains("SF Express next-day delivery") && before.contains("私人管家"), "{before}");
    let dumped = dump(&src.name);
    let text = String::from_utf8_lossy(&dumped);
    assert!(text.contains("顺丰次日达") && text.contains("私人管家"), "the user rows are dumped");
    assert!(!text.contains("专属客服一对一服务"), "built-in rows are not dumped");
    restore(&dst.name, &dumped);
    let mut d = dst.client();
    let after: String = d.query_one(PLANS, &[]).unwrap().get(0);
    assert_eq!(after, before, "the plans read the same after the restore");
    let row = d
        .query_one(
            "SELECT (SELECT count(*) FROM segment.service_benefits WHERE builtin), (SELECT count(*) FROM segment.service_benefits WHERE NOT builtin)",
            &[],
        )
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (30, 3));
}
