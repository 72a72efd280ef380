//! Integration tests over real connections: extension life cycle as a non-superuser, errors
//! that leave the session usable, parallel plans equal to serial ones on the sample store.

use pg_segment_integration::{connect, TestDb};

#[test]
fn non_superuser_creates_uses_and_drops_the_trusted_extension() {
    let db = TestDb::new("trusted");
    let mut admin = db.client();
    for sql in
        ["DROP ROLE IF EXISTS pgseg_owner_{0}", "CREATE ROLE pgseg_owner_{0} LOGIN", "GRANT CREATE ON DATABASE {0} TO pgseg_owner_{0}"]
    {
        admin.batch_execute(&sql.replace("{0}", &db.name)).unwrap();
    }
    {
        let mut user = connect(&db.name, &format!("pgseg_owner_{}", db.name));
        let is_super: bool = user.query_one("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", &[]).unwrap().get(0);
        assert!(!is_super);
        user.batch_execute("CREATE EXTENSION pg_segment").unwrap();
        // PostgreSQL 15 gives PUBLIC no CREATE on schema public: the user works in its own schema
        user.batch_execute("CREATE SCHEMA shop; SET search_path = shop").unwrap();
        user.batch_execute("CREATE TABLE orders AS SELECT * FROM segment.sample_orders(200, 9)").unwrap();
        let n: i64 = user
            .query_one(
                "SELECT count(*) FROM (SELECT segment.rfm_segment(segment.rfm_score(s, b, '2026-01-01'), 'cn8') seg
                 FROM (SELECT customer_id, segment.rfm_agg(ordered_at, amount) s FROM orders GROUP BY 1) x,
                      (SELECT segment.rfm_breaks(s, '2026-01-01') b FROM (SELECT segment.rfm_agg(ordered_at, amount) s FROM orders GROUP BY customer_id) y) z) w
                 WHERE seg IS NOT NULL",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(n, 200, "every sample customer has an order and a segment");
        user.batch_execute("DROP SCHEMA shop CASCADE; DROP EXTENSION pg_segment").unwrap();
    }
    let left: i64 = admin.query_one("SELECT count(*) FROM pg_namespace WHERE nspname = 'segment'", &[]).unwrap().get(0);
    assert_eq!(left, 0);
    for sql in ["REVOKE CREATE ON DATABASE {0} FROM pgseg_owner_{0}", "DROP ROLE pgseg_owner_{0}"] {
        admin.batch_execute(&sql.replace("{0}", &db.name)).unwrap();
    }
}

#[test]
fn errors_do_not_break_the_session_or_the_server() {
    let db = TestDb::new("errors");
    let mut c = db.client();
    c.batch_execute("CREATE EXTENSION pg_segment").unwrap();
    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let bad = [
        ("SELECT segment.rfm_agg(now(), 'NaN'::numeric)", "22P02"),
        ("SELECT 'v9:'::segment.rfm_summary", "0A000"),
        ("SELECT 'garbage'::segment.rfm_summary", "22P02"),
        ("SELECT segment.rfm_thresholds('[1,2]')", "22023"),
        ("SELECT * FROM segment.sample_orders(-1)", "22023"),
        ("SELECT segment.customer_tier('NaN'::float8)", "22023"),
        ("SELECT segment.rfm_score('v1:'::segment.rfm_summary, '{\"recency\": \"x\"}', now())", "22023"),
    ];
    for (sql, state) in bad {
        let err = c.batch_execute(sql).expect_err(sql);
        let code = err.code().map(|c| c.code().to_string()).unwrap_or_default();
        assert_eq!(code, state, "{sql}: {err}");
        let same: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        assert_eq!(same, pid, "the backend survived {sql}");
    }
}

#[test]
fn parallel_plan_equals_serial_row_by_row() {
    let db = TestDb::new("parallel");
    let mut c = db.client();
    c.batch_execute(
        "CREATE EXTENSION pg_segment;
         CREATE TABLE orders AS SELECT * FROM segment.sample_orders(20000, 77);
         ANALYZE orders;",
    )
    .unwrap();
    let q = "SELECT customer_id, s::text, (segment.rfm_score(s, b, '2025-06-30 23:59:59+08', 'Asia/Shanghai')).code
             FROM (SELECT customer_id, segment.rfm_agg(ordered_at, amount, is_refund) s FROM orders GROUP BY 1) x,
                  (SELECT segment.rfm_breaks(s, '2025-06-30 23:59:59+08', 5, '{\"tz\": \"Asia/Shanghai\"}') b
                   FROM (SELECT segment.rfm_agg(ordered_at, amount, is_refund) s FROM orders GROUP BY customer_id) y) z
             ORDER BY 1";
    c.batch_execute("SET max_parallel_workers_per_gather = 0").unwrap();
    let serial: Vec<(i64, String, Option<String>)> = c.query(q, &[]).unwrap().iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    c.batch_execute(
        "SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
         SET min_parallel_table_scan_size = 0; SET enable_hashagg = off",
    )
    .unwrap();
    let plan: Vec<String> = c.query(&format!("EXPLAIN (COSTS OFF) {q}"), &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert!(
        plan.iter().any(|l| l.contains("Partial GroupAggregate") || l.contains("Partial HashAggregate") || l.contains("Partial Aggregate")),
        "{plan:#?}"
    );
    let parallel: Vec<(i64, String, Option<String>)> = c.query(q, &[]).unwrap().iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(serial.len(), 20000);
    assert_eq!(serial, parallel);
}
