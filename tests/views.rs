//! Segmentation views against a real server: concurrent writers, readers and refreshes; a
//! refresh cancelled or killed midway; pg_dump and restore; a non-superuser owner and
//! row-level security; a refresh scheduled with pg_cron.

use pg_segment_integration::{connect, has_cron, host, port, skip, TestDb};
use postgres::Client;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const AS_OF: &str = "2030-01-01 00:00+00";

fn setup(c: &mut Client, customers: i32) {
    c.batch_execute(&format!(
        "CREATE EXTENSION pg_segment;
         CREATE TABLE orders (order_id bigserial PRIMARY KEY, customer_id bigint NOT NULL, ordered_at timestamptz NOT NULL, amount numeric(12,2) NOT NULL);
         INSERT INTO orders (customer_id, ordered_at, amount) SELECT customer_id, ordered_at, amount FROM segment.sample_orders({customers}, 5);
         SELECT segment.create_segment_view('segments', 'orders', 'customer_id', 'ordered_at', 'amount', '{{\"as_of\": \"{AS_OF}\", \"tz\": \"UTC\"}}');"
    ))
    .unwrap();
}

/// The view's contents as one checksum (order independent).
fn checksum(c: &mut Client, rel: &str) -> String {
    c.query_one(&format!("SELECT md5(string_agg(t::text, '|' ORDER BY customer_id)) FROM {rel} t"), &[]).unwrap().get(0)
}

/// Rows of the view that a from-scratch computation does not give, and the other way round.
fn differing(c: &mut Client) -> i64 {
    c.query_one(
        &format!(
            "WITH fresh AS (SELECT p.*, timestamptz '{AS_OF}' AS as_of FROM segment.population_rows((SELECT segment.population_agg(customer_id, ordered_at, amount, '{AS_OF}', '{{\"tz\": \"UTC\"}}') FROM orders)) p)
             SELECT (SELECT count(*) FROM (SELECT * FROM segments EXCEPT SELECT * FROM fresh) a) + (SELECT count(*) FROM (SELECT * FROM fresh EXCEPT SELECT * FROM segments) b)"
        ),
        &[],
    )
    .unwrap()
    .get(0)
}

#[test]
fn concurrent_writers_readers_and_refreshes_lose_nothing() {
    let db = Arc::new(TestDb::new("views_conc"));
    let mut c = db.client();
    setup(&mut c, 3000);
    let before: i64 = c.query_one("SELECT count(*) FROM orders", &[]).unwrap().get(0);
    let stop = Arc::new(AtomicBool::new(false));
    let inserted = Arc::new(AtomicUsize::new(0));
    let reads = Arc::new(AtomicUsize::new(0));
    let refreshes = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    // two writers: new orders of existing and new customers, one transaction each
    for w in 0..2i64 {
        let (db, inserted) = (db.clone(), inserted.clone());
        handles.push(std::thread::spawn(move || {
            let mut c = db.client();
            for i in 0..150i64 {
                let customer = if i % 3 == 0 { 100_000 + w * 1000 + i } else { 1 + (i * 37 + w * 11) % 3000 };
                c.execute(
                    "INSERT INTO orders (customer_id, ordered_at, amount) VALUES ($1, timestamptz '2025-12-01' + make_interval(hours => $2::int), 10 + $2::int)",
                    &[&customer, &((i * 7 + w) as i32)],
                )
                .unwrap();
                inserted.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        }));
    }
    // two readers: must never see an error or an empty view
    for _ in 0..2 {
        let (db, stop, reads) = (db.clone(), stop.clone(), reads.clone());
        handles.push(std::thread::spawn(move || {
            let mut c = db.client();
            while !stop.load(Ordering::SeqCst) {
                let n: i64 =
                    c.query_one("SELECT count(*) FROM segments WHERE tier IS NOT NULL", &[]).expect("a reader saw an error").get(0);
                assert!(n >= 3000, "a reader saw {n} customers");
                reads.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    // a refresher: concurrent refreshes back to back
    {
        let (db, stop, refreshes) = (db.clone(), stop.clone(), refreshes.clone());
        handles.push(std::thread::spawn(move || {
            let mut c = db.client();
            while !stop.load(Ordering::SeqCst) {
                c.batch_execute("SELECT segment.refresh_segment_view('segments')").expect("refresh failed");
                refreshes.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    while inserted.load(Ordering::SeqCst) < 300 {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        h.join().expect("a worker thread failed");
    }
    assert!(reads.load(Ordering::SeqCst) > 10 && refreshes.load(Ordering::SeqCst) >= 2, "the test did not overlap enough");
    let after: i64 = c.query_one("SELECT count(*) FROM orders", &[]).unwrap().get(0);
    assert_eq!(after, before + 300, "no order may be lost");
    c.batch_execute("SELECT segment.refresh_segment_view('segments')").unwrap();
    assert_eq!(differing(&mut c), 0, "after a last refresh the view equals a from-scratch computation");
    let new_customers: i64 = c.query_one("SELECT count(*) FROM segments WHERE customer_id >= 100000", &[]).unwrap().get(0);
    assert_eq!(new_customers, 100);
}

/// Starts a refresh in another session and stops it with `how` (pg_cancel_backend /
/// pg_terminate_backend) while it is midway: its source takes a shared advisory lock that this
/// session holds exclusively, so the refresh waits inside its scan until it is stopped. Returns
/// the refresh's error.
fn interrupted_refresh(db: &Arc<TestDb>, how: &str, concurrently: bool) -> postgres::Error {
    let mut c = db.client();
    c.batch_execute("SELECT pg_advisory_lock(4242)").unwrap();
    let db2 = db.clone();
    let refresher = std::thread::spawn(move || {
        let mut c = db2.client();
        c.batch_execute("SET application_name = 'pgseg_slow_refresh'").unwrap();
        c.batch_execute(&format!("SELECT segment.refresh_segment_view('segments', {concurrently})"))
            .expect_err("the refresh should have been stopped")
    });
    // wait for the refresh to reach the lock (no time limit: it either waits there or ends)
    loop {
        let waiting: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                 WHERE l.locktype = 'advisory' AND l.objid = 4242 AND NOT l.granted AND a.application_name = 'pgseg_slow_refresh'",
                &[],
            )
            .unwrap()
            .get(0);
        if waiting == 1 {
            break;
        }
        assert!(!refresher.is_finished(), "the refresh ended before it reached its source's lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ok: Option<bool> = c
        .query_one(&format!("SELECT bool_and({how}(pid)) FROM pg_stat_activity WHERE application_name = 'pgseg_slow_refresh'"), &[])
        .unwrap()
        .get(0);
    assert_eq!(ok, Some(true), "the refresh ended before it could be stopped");
    let err = refresher.join().unwrap();
    c.batch_execute("SELECT pg_advisory_unlock(4242)").unwrap();
    err
}

#[test]
fn a_cancelled_or_killed_refresh_leaves_the_previous_contents() {
    let db = Arc::new(TestDb::new("views_cancel"));
    let mut c = db.client();
    c.batch_execute(
        "CREATE EXTENSION pg_segment;
         CREATE TABLE orders AS SELECT customer_id, ordered_at, amount FROM segment.sample_orders(2000, 8);
         -- a source whose scan waits while another session holds advisory lock 4242 exclusively,
         -- so that a refresh can be stopped midway
         CREATE VIEW slow_orders AS SELECT o.* FROM orders o, (SELECT pg_advisory_xact_lock_shared(4242)) s;
         SET statement_timeout = 0;",
    )
    .unwrap();
    c.batch_execute("SELECT segment.create_segment_view('segments', 'slow_orders', 'customer_id', 'ordered_at', 'amount', '{\"as_of\": \"2026-01-01\"}')").unwrap();
    let before = checksum(&mut c, "segments");
    c.batch_execute("INSERT INTO orders SELECT 999999, '2025-12-01', 100").unwrap();
    for (how, concurrently, code) in [
        ("pg_cancel_backend", true, Some("57014")),
        ("pg_cancel_backend", false, Some("57014")),
        ("pg_terminate_backend", true, None),
        ("pg_terminate_backend", false, None),
    ] {
        let err = interrupted_refresh(&db, how, concurrently);
        if let Some(code) = code {
            assert_eq!(err.code().map(|c| c.code()), Some(code), "{how}: {err}");
        }
        // the previous contents, readable from a fresh session and from the old one
        let mut fresh = db.client();
        assert_eq!(checksum(&mut fresh, "segments"), before, "{how} (concurrently = {concurrently}) changed the view");
        assert_eq!(checksum(&mut c, "segments"), before);
    }
    // a refresh that is left alone shows the new customer
    c.batch_execute("SELECT segment.refresh_segment_view('segments')").unwrap();
    let n: i64 = c.query_one("SELECT count(*) FROM segments WHERE customer_id = 999999", &[]).unwrap().get(0);
    assert_eq!(n, 1);
}

#[test]
fn pg_dump_and_restore_give_the_same_view() {
    let src = TestDb::new("views_dump");
    let mut c = src.client();
    setup(&mut c, 1500);
    c.batch_execute("SELECT segment.take_snapshot('segments', '2026-01-01')").unwrap();
    let before = checksum(&mut c, "segments");
    let dst = TestDb::new("views_restore");
    let bin = pg_segment_integration::pg_bin();
    let dump = std::env::temp_dir().join(format!("{}.dump", src.name));
    let (h, p) = (host(), port().to_string());
    let out = std::process::Command::new(format!("{bin}/pg_dump"))
        .args(["-h", &h, "-p", &p, "-U", "postgres", "-Fc", "-f"])
        .arg(&dump)
        .arg(&src.name)
        .output()
        .expect("pg_dump runs");
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
    let out = std::process::Command::new(format!("{bin}/pg_restore"))
        .args(["-h", &h, "-p", &p, "-U", "postgres", "--exit-on-error", "-d", &dst.name])
        .arg(&dump)
        .output()
        .expect("pg_restore runs");
    let _ = std::fs::remove_file(&dump);
    assert!(out.status.success(), "pg_restore: {}", String::from_utf8_lossy(&out.stderr));
    let mut d = dst.client();
    assert_eq!(checksum(&mut d, "segments"), before, "restored contents");
    d.batch_execute("SELECT segment.refresh_segment_view('segments')").unwrap();
    assert_eq!(checksum(&mut d, "segments"), before, "contents after a refresh in the restored database");
    let registered: i64 = d
        .query_one("SELECT count(*) FROM segment.segment_views WHERE view_name = 'segments' AND source = 'orders'::regclass", &[])
        .unwrap()
        .get(0);
    assert_eq!(registered, 1, "the registry row survives pg_dump");
    let snap: i64 = d.query_one("SELECT count(*) FROM segment.segment_snapshot_rows", &[]).unwrap().get(0);
    assert_eq!(snap, 1500, "snapshots survive pg_dump");
    // the restored registry drives the functions
    d.batch_execute("SELECT segment.take_snapshot('segments', '2026-02-01')").unwrap();
    let moved: i64 = d
        .query_one("SELECT sum(customers)::bigint FROM segment.tier_migration('segments', '2026-01-15', '2026-02-15')", &[])
        .unwrap()
        .get(0);
    assert_eq!(moved, 1500);
}

#[test]
fn a_non_superuser_owner_and_row_level_security() {
    let db = TestDb::new("views_roles");
    let mut admin = db.client();
    let (alice, bob) = (format!("pgseg_alice_{}", db.name), format!("pgseg_bob_{}", db.name));
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {alice}; DROP ROLE IF EXISTS {bob};
             CREATE ROLE {alice} LOGIN; CREATE ROLE {bob} LOGIN;
             GRANT CREATE ON DATABASE {0} TO {alice}, {bob};
             CREATE EXTENSION pg_segment;",
            db.name
        ))
        .unwrap();
    {
        let mut a = connect(&db.name, &alice);
        // alice owns the orders; bob may read only the north region through a policy
        a.batch_execute(&format!(
            "CREATE SCHEMA alice; SET search_path = alice;
             CREATE TABLE orders AS SELECT customer_id, ordered_at, amount, CASE WHEN customer_id % 2 = 0 THEN 'north' ELSE 'south' END AS region
             FROM segment.sample_orders(1000, 4);
             ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
             CREATE POLICY north_only ON orders FOR SELECT TO {bob} USING (region = 'north');
             GRANT USAGE ON SCHEMA alice TO {bob}; GRANT SELECT ON orders TO {bob};
             SELECT segment.create_segment_view('alice.segments', 'orders', 'customer_id', 'ordered_at', 'amount', '{{\"as_of\": \"2026-01-01\"}}');"
        ))
        .unwrap();
        let n: i64 = a.query_one("SELECT count(*) FROM alice.segments", &[]).unwrap().get(0);
        assert_eq!(n, 1000, "the owner of the table sees every customer");
        let definer: i64 =
            a.query_one("SELECT count(*) FROM pg_proc WHERE pronamespace = 'segment'::regnamespace AND prosecdef", &[]).unwrap().get(0);
        assert_eq!(definer, 0, "no SECURITY DEFINER function");
        a.batch_execute("SELECT segment.refresh_segment_view('alice.segments'); SELECT segment.take_snapshot('alice.segments')").unwrap();
    }
    {
        let mut b = connect(&db.name, &bob);
        b.batch_execute("CREATE SCHEMA bob; SELECT segment.create_segment_view('bob.segments', 'alice.orders', 'customer_id', 'ordered_at', 'amount', '{\"as_of\": \"2026-01-01\"}')").unwrap();
        let (n, odd): (i64, i64) = {
            let r = b.query_one("SELECT count(*), count(*) FILTER (WHERE customer_id % 2 = 1) FROM bob.segments", &[]).unwrap();
            (r.get(0), r.get(1))
        };
        assert_eq!((n, odd), (500, 0), "bob's view holds what the policy lets bob see");
        let theirs: i64 = b.query_one("SELECT count(*) FROM segment.segment_views", &[]).unwrap().get(0);
        assert_eq!(theirs, 1, "bob sees only his own registry rows");
        let err = b.batch_execute("SELECT segment.refresh_segment_view('alice.segments')").expect_err("not bob's view");
        assert_eq!(err.code().map(|c| c.code()), Some("42P01"));
        let snaps: i64 = b.query_one("SELECT count(*) FROM segment.segment_snapshot_rows", &[]).unwrap().get(0);
        assert_eq!(snaps, 0, "bob cannot read alice's snapshots");
        b.batch_execute("SELECT segment.drop_segment_view('bob.segments'); DROP SCHEMA bob").unwrap();
    }
    {
        let mut a = connect(&db.name, &alice);
        a.batch_execute("SELECT segment.drop_segment_view('alice.segments'); DROP SCHEMA alice CASCADE").unwrap();
    }
    admin
        .batch_execute(&format!(
            "DROP EXTENSION pg_segment; REVOKE CREATE ON DATABASE {0} FROM {alice}, {bob}; DROP ROLE {alice}; DROP ROLE {bob};",
            db.name
        ))
        .unwrap();
}

/// Where the installation has pg_cron, the test cluster preloads it with cron.database_name =
/// 'pg_segment_cron' (created by scripts/test.sh) and cron.use_background_workers = on (pg_cron
/// 1.4: schedules have minute resolution); elsewhere the test is skipped and counted as skipped.
#[test]
fn pg_cron_refreshes_a_view_on_schedule() {
    if !has_cron() {
        return skip("views::pg_cron_refreshes_a_view_on_schedule", true, "this PostgreSQL has no pg_cron");
    }
    let mut c = connect("pg_segment_cron", "postgres");
    let preloaded: String = c.query_one("SHOW shared_preload_libraries", &[]).unwrap().get(0);
    assert!(preloaded.contains("pg_cron"), "the test cluster must preload pg_cron (scripts/test.sh)");
    // the database stays (pg_cron's scheduler lives in it): work in a schema of its own
    c.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS pg_cron; CREATE EXTENSION IF NOT EXISTS pg_segment;
         SELECT cron.unschedule(jobid) FROM cron.job;
         DROP SCHEMA IF EXISTS cron_it CASCADE; CREATE SCHEMA cron_it; SET search_path = cron_it;
         CREATE TABLE orders AS SELECT customer_id, ordered_at, amount FROM segment.sample_orders(500, 6);
         SELECT segment.create_segment_view('segments', 'orders', 'customer_id', 'ordered_at', 'amount');",
    )
    .unwrap();
    let job: i64 = c.query_one("SELECT segment.schedule_refresh('segments', '* * * * *')", &[]).unwrap().get(0);
    let (name, command): (String, String) = {
        let r = c.query_one("SELECT jobname, command FROM cron.job WHERE jobid = $1", &[&job]).unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(name, "pg_segment refresh cron_it.segments");
    assert_eq!(command, "SELECT segment.refresh_segment_view('cron_it.segments')");
    c.batch_execute("INSERT INTO orders VALUES (777777, now() - interval '1 hour', 42)").unwrap();
    // wait for a scheduled run (at the next minute): no time limit, but a failed run or a
    // missing pg_cron scheduler fails the test at once
    loop {
        let n: i64 = c.query_one("SELECT count(*) FROM segments WHERE customer_id = 777777", &[]).unwrap().get(0);
        if n == 1 {
            break;
        }
        let failed: Option<String> = c
            .query_opt("SELECT return_message FROM cron.job_run_details WHERE jobid = $1 AND status = 'failed' LIMIT 1", &[&job])
            .unwrap()
            .map(|r| r.get(0));
        assert_eq!(failed, None, "the scheduled refresh failed");
        let scheduler: i64 =
            c.query_one("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'", &[]).unwrap().get(0);
        assert_eq!(scheduler, 1, "pg_cron's scheduler is not running");
        std::thread::sleep(Duration::from_secs(2));
    }
    let ok: i64 =
        c.query_one("SELECT count(*) FROM cron.job_run_details WHERE jobid = $1 AND status = 'succeeded'", &[&job]).unwrap().get(0);
    assert!(ok >= 1);
    let removed: bool = c.query_one("SELECT segment.unschedule_refresh('segments')", &[]).unwrap().get(0);
    assert!(removed);
    let left: i64 = c.query_one("SELECT count(*) FROM cron.job", &[]).unwrap().get(0);
    assert_eq!(left, 0);
    let again: bool = c.query_one("SELECT segment.unschedule_refresh('segments')", &[]).unwrap().get(0);
    assert!(!again);
    c.batch_execute("SELECT segment.drop_segment_view('segments'); DROP SCHEMA cron_it CASCADE").unwrap();
}
