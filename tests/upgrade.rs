//! The update chain: from every released version (the frozen install scripts
//! sql/pg_segment--X.Y.Z.sql), `CREATE EXTENSION pg_segment VERSION 'X.Y.Z'`, real use, then
//! `ALTER EXTENSION pg_segment UPDATE` in a fresh session. Afterwards every row a user made is
//! still there and reads the same, the segmentation view refreshes, the GUCs were defined once,
//! and the extension's objects dump (`pg_dump --schema-only`) exactly as a fresh install's do.

use pg_segment_integration::{connect, has_cron, host, pg_bin, port, root, skip, TestDb};
use postgres::Client;
use std::collections::BTreeMap;

const AS_OF: &str = "2026-01-01 00:00+00";

/// The version a fresh `CREATE EXTENSION` installs.
fn current_version(c: &mut Client) -> String {
    c.query_one("SELECT default_version FROM pg_available_extensions WHERE name = 'pg_segment'", &[]).unwrap().get(0)
}

/// Released versions other than the current one: those with a frozen install script in sql/.
fn released_versions(current: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(format!("{}/sql", root()))
        .expect("sql/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_prefix("pg_segment--")?.strip_suffix(".sql").map(str::to_string))
        .filter(|v| !v.contains("--") && v != current)
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no released version found in sql/ (pg_segment--X.Y.Z.sql)");
    out
}

fn one(c: &mut Client, sql: &str) -> String {
    c.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get::<_, Option<String>>(0).unwrap_or_else(|| "<NULL>".into())
}

/// What a user of 0.1.0 keeps in a database: a segmentation view with two snapshots, a city-tier
/// row of their own, stored summaries, breakpoints, k-means and CLV models.
const USE: &str = r#"
CREATE SCHEMA shop;
CREATE TABLE shop.orders AS SELECT * FROM segment.sample_orders(400, 21);
SELECT segment.create_segment_view('shop.segs', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
    '{"as_of": "2026-01-01 00:00+00", "tz": "UTC", "refund_column": "is_refund"}');
SELECT segment.take_snapshot('shop.segs', '2025-12-01');
UPDATE shop.orders SET amount = amount * 3 WHERE customer_id <= 60 AND NOT is_refund;
SELECT segment.refresh_segment_view('shop.segs');
SELECT segment.take_snapshot('shop.segs', '2026-01-01');
INSERT INTO segment.city_tiers (city, city_en, tier, aliases) VALUES ('拉萨', 'Lhasa', 'tier3', '{Lasa}');
CREATE TABLE shop.summaries AS
    SELECT customer_id, segment.rfm_agg(ordered_at, amount, is_refund) AS s FROM shop.orders GROUP BY 1;
CREATE TABLE shop.breaks AS SELECT segment.rfm_breaks(s, '2026-01-01 00:00+00') AS b FROM shop.summaries;
CREATE TABLE shop.features AS
    SELECT customer_id, ARRAY[segment.recency_days(s, '2026-01-01 00:00+00'), segment.frequency(s), segment.monetary(s)]::float8[] AS f
    FROM shop.summaries WHERE segment.frequency(s) > 0;
CREATE TABLE shop.btyd AS
    SELECT customer_id, (segment.btyd(s, '2026-01-01 00:00+00', 'days', 'UTC')).* FROM shop.summaries;
CREATE TABLE shop.models AS
    SELECT (SELECT segment.kmeans_fit(f, 3, 42, '{"standardize": "log_zscore"}') FROM shop.features) AS km,
           (SELECT segment.bgnbd_fit(frequency, recency, t) FROM shop.btyd) AS bg,
           (SELECT segment.gamma_gamma_fit(frequency, monetary_value) FROM shop.btyd) AS gg;
"#;

/// Everything the user's data reads as, by name: stored values as text and what the functions
/// compute from them.
fn state(c: &mut Client) -> BTreeMap<&'static str, String> {
    let q: [(&'static str, String); 12] = [
        ("orders", "SELECT md5(string_agg(o::text, '|' ORDER BY order_id)) FROM shop.orders o".into()),
        ("summaries as text", "SELECT md5(string_agg(customer_id || ' ' || s::text, '|' ORDER BY customer_id)) FROM shop.summaries".into()),
        (
            "summary accessors",
            format!(
                "SELECT md5(string_agg(concat_ws(' ', customer_id, segment.recency_days(s, '{AS_OF}'), segment.frequency(s, '{AS_OF}'),
                                                segment.monetary(s, '{AS_OF}'), segment.future_orders(s, '{AS_OF}'),
                                                (segment.rfm_score(s, b, '{AS_OF}', 'UTC')).code), '|' ORDER BY customer_id))
                 FROM shop.summaries, shop.breaks"
            ),
        ),
        ("breakpoints", "SELECT b::text FROM shop.breaks".into()),
        // 0.2.0 added attributes at the end of the CLV model types: their text gains empty fields,
        // the 0.1.0 fields must read the same (the new ones are checked to be NULL below)
        (
            "models as text",
            "SELECT concat_ws(' | ', km::text, (bg).r, (bg).alpha, (bg).a, (bg).b, (bg).log_likelihood, (bg).customers, (bg).iterations,
                              (bg).converged, (gg).p, (gg).q, (gg).gamma, (gg).log_likelihood, (gg).customers, (gg).iterations, (gg).converged)
             FROM shop.models"
                .into(),
        ),
        (
            "k-means assignments",
            "SELECT md5(string_agg(customer_id || ':' || segment.kmeans_assign(km, f), '|' ORDER BY customer_id)) FROM shop.features, shop.models"
                .into(),
        ),
        (
            "CLV predictions",
            "SELECT md5(string_agg(concat_ws(' ', customer_id, segment.bgnbd_p_alive(bg, frequency, recency, t),
                                             segment.clv(bg, gg, frequency, recency, t, monetary_value, 12, 0.01, 'days')), '|' ORDER BY customer_id))
             FROM shop.btyd, shop.models WHERE frequency IS NOT NULL"
                .into(),
        ),
        ("view contents", "SELECT md5(string_agg(v::text, '|' ORDER BY customer_id)) FROM shop.segs v".into()),
        (
            "registry row",
            "SELECT string_agg(concat_ws(' ', view_schema, view_name, source::text, customer_column, ordered_at_column, amount_column,
                                         options, md5(definition), owner, created_at, refreshed_at, cron_job), '|')
             FROM segment.segment_views"
                .into(),
        ),
        (
            "snapshots",
            "SELECT string_agg(concat_ws(' ', snapshot_id, view_schema, view_name, taken_at, as_of, customers, owner), '|' ORDER BY snapshot_id)
             FROM segment.segment_snapshots"
                .into(),
        ),
        (
            "snapshot rows and migration",
            "SELECT md5((SELECT string_agg(r::text, '|' ORDER BY snapshot_id, customer_id) FROM segment.segment_snapshot_rows r) ||
                        (SELECT string_agg(m::text, '|' ORDER BY m::text) FROM segment.tier_migration('shop.segs', '2025-12-15', '2026-01-15') m))"
                .into(),
        ),
        (
            "city tiers",
            "SELECT (SELECT string_agg(t::text, '|' ORDER BY city) FROM segment.city_tiers t WHERE NOT builtin) || ' ' ||
                    segment.city_tier('拉萨市', 'en') || ' ' || segment.city_tier('lasa', 'code') || ' ' ||
                    (SELECT count(*) FROM segment.city_tiers WHERE builtin)"
                .into(),
        ),
    ];
    q.into_iter().map(|(name, sql)| (name, one(c, &sql))).collect()
}

/// Runs psql with one -c per statement; returns (stdout, stderr).
fn psql(db: &str, statements: &[&str]) -> (String, String) {
    let mut cmd = std::process::Command::new(format!("{}/psql", pg_bin()));
    cmd.args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", &host(), "-p", &port().to_string(), "-U", "postgres", "-d", db]);
    for s in statements {
        cmd.args(["-c", s]);
    }
    let out = cmd.output().expect("psql runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "psql {statements:?} failed:\n{stderr}");
    (stdout, stderr)
}

/// `ALTER EXTENSION pg_segment UPDATE` in a fresh session that set the GUC before the library
/// was loaded: the library defines its GUCs once, in _PG_init, keeping the session's value, with
/// no warning (a GUC defined again, by a second library or outside _PG_init, warns or fails).
fn update_in_fresh_session(db: &str, current: &str) {
    let (out, err) = psql(
        db,
        &[
            "SET pg_segment.population_memory_limit = '64MB'",
            "ALTER EXTENSION pg_segment UPDATE",
            "SELECT extversion FROM pg_extension WHERE extname = 'pg_segment'",
            // loads the library (if the update script did not): _PG_init defines the GUC
            "SELECT segment.frequency(segment.rfm_agg(now(), 1.0))",
            "LOAD 'pg_segment'",
            "SHOW pg_segment.population_memory_limit",
            "SELECT count(*) FROM pg_settings WHERE name LIKE 'pg\\_segment.%' AND source = 'session'",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, [current, "1", "64MB", "1"], "after the update in a fresh session (stderr: {err})");
    for bad in ["WARNING", "ERROR", "redefine"] {
        assert!(!err.contains(bad), "the update in a fresh session said: {err}");
    }
}

/// The extension's member objects (as pg_describe_object names them) and its configuration
/// tables with their dump conditions.
fn membership(c: &mut Client) -> (Vec<String>, Vec<String>) {
    let members = c
        .query(
            "SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend
             WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
               AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_segment') ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let config = c
        .query(
            "SELECT format('%s %s', cfg::regclass, cond) FROM pg_extension, unnest(extconfig, extcondition) AS u(cfg, cond)
             WHERE extname = 'pg_segment' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    (members, config)
}

/// pg_dump leaves an extension's member objects out of a dump (it writes CREATE EXTENSION).
/// To dump them, a throwaway database releases every member from the extension (ALTER
/// EXTENSION ... DROP), drops the now empty extension and the user's schema, and is dumped
/// whole. Returns the dump's entries (one per object, pg_dump's "-- Name:" sections), sorted.
fn schema_dump(db: &str) -> Vec<String> {
    let mut c = connect(db, "postgres");
    c.batch_execute(
        "DROP SCHEMA IF EXISTS shop CASCADE;
         DO $$
         DECLARE
             ext oid := (SELECT oid FROM pg_extension WHERE extname = 'pg_segment');
             r record;
         BEGIN
             -- relations first: releasing one releases its row type too (and, on PostgreSQL 18,
             -- its array types, which are members as well); whatever left with another is skipped
             FOR r IN SELECT d.classid, d.objid, (pg_identify_object(d.classid, d.objid, d.objsubid)).* FROM pg_depend d
                      WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext AND d.deptype = 'e'
                      ORDER BY d.classid <> 'pg_class'::regclass, d.classid, d.objid
             LOOP
                 CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = r.classid AND d.objid = r.objid
                                           AND d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext AND d.deptype = 'e');
                 CONTINUE WHEN r.type = 'type' AND r.identity LIKE '%[]';
                 EXECUTE format('ALTER EXTENSION pg_segment DROP %s %s',
                                CASE r.type WHEN 'composite type' THEN 'TYPE' ELSE upper(r.type) END, r.identity);
             END LOOP;
         END $$;
         DROP EXTENSION pg_segment;",
    )
    .unwrap();
    drop(c);
    let out = std::process::Command::new(format!("{}/pg_dump", pg_bin()))
        .args(["--schema-only", "-h", &host(), "-p", &port().to_string(), "-U", "postgres", db])
        .output()
        .expect("pg_dump runs");
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut entries: Vec<String> = text
        .split("\n--\n-- ")
        .skip(1) // the preamble (SET statements)
        .map(|e| {
            // pg_dump 17+ ends a dump with \unrestrict and a random key: not part of the schema
            e.lines()
                .filter(|l| !l.starts_with("\\unrestrict") && !l.starts_with("-- PostgreSQL database dump complete"))
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_string()
        })
        .filter(|e| !e.starts_with("PostgreSQL database dump") && !e.is_empty())
        .collect();
    entries.sort();
    entries
}

/// Entries in one dump and not in the other, for the failure message.
fn dump_difference(a: &[String], b: &[String]) -> String {
    let only = |x: &[String], y: &[String]| x.iter().filter(|e| !y.contains(e)).cloned().collect::<Vec<_>>().join("\n\n");
    format!("only after the update:\n{}\n\nonly in a fresh install:\n{}", only(a, b), only(b, a))
}

#[test]
fn every_release_updates_in_place_keeping_data_and_matching_a_fresh_install() {
    let current = current_version(&mut connect("postgres", "postgres"));
    let fresh = TestDb::new("upg_fresh");
    let mut f = fresh.client();
    f.batch_execute("CREATE EXTENSION pg_segment").unwrap();
    let fresh_membership = membership(&mut f);
    drop(f);
    let fresh_dump = schema_dump(&fresh.name);
    assert!(fresh_dump.len() > 100, "a fresh install dumps its objects ({} entries)", fresh_dump.len());
    for from in released_versions(&current) {
        let db = TestDb::new("upg");
        let mut c = db.client();
        c.batch_execute(&format!("CREATE EXTENSION pg_segment VERSION '{from}'")).unwrap();
        assert_eq!(one(&mut c, "SELECT extversion FROM pg_extension WHERE extname = 'pg_segment'"), from);
        c.batch_execute(USE).unwrap_or_else(|e| panic!("using {from}: {e}"));
        let before = state(&mut c);
        assert!(before.values().all(|v| v != "<NULL>"), "every check reads something on {from}: {before:#?}");
        drop(c);

        update_in_fresh_session(&db.name, &current);

        let mut c = db.client();
        let after = state(&mut c);
        for (name, value) in &before {
            assert_eq!(&after[name], value, "{name} after the update from {from}");
        }
        assert_eq!(
            one(
                &mut c,
                "SELECT ((bg).time_unit IS NULL AND (bg).se_r IS NULL AND (bg).covariance IS NULL AND (gg).covariance IS NULL)::text FROM shop.models"
            ),
            "true",
            "stored CLV models read the 0.2.0 attributes as NULL after the update from {from}"
        );
        // the view refreshes (same rows for the same orders), and sees new orders
        c.batch_execute("SELECT segment.refresh_segment_view('shop.segs')").unwrap();
        assert_eq!(state(&mut c)["view contents"], before["view contents"], "a refresh after the update from {from}");
        c.batch_execute(
            "INSERT INTO shop.orders (order_id, customer_id, ordered_at, amount, is_refund)
                 VALUES (999999, 777777, '2025-12-30 12:00+00', 42, false);
             SELECT segment.refresh_segment_view('shop.segs', false);
             SELECT segment.take_snapshot('shop.segs', '2026-01-02');",
        )
        .unwrap();
        assert_eq!(one(&mut c, "SELECT count(*)::text FROM shop.segs WHERE customer_id = 777777"), "1");
        assert_eq!(one(&mut c, "SELECT count(*)::text FROM segment.segment_snapshots"), "3");

        // the updated extension is the fresh one: same members, same configuration, same dump
        assert_eq!(membership(&mut c), fresh_membership, "extension members and configuration tables after the update from {from}");
        drop(c);
        let dump = schema_dump(&db.name);
        assert!(dump == fresh_dump, "pg_dump --schema-only after the update from {from} differs:\n{}", dump_difference(&dump, &fresh_dump));
    }
}

#[test]
fn the_server_knows_an_update_path_from_every_release() {
    let mut c = connect("postgres", "postgres");
    let current = current_version(&mut c);
    for from in released_versions(&current) {
        let available: i64 = c
            .query_one("SELECT count(*) FROM pg_available_extension_versions WHERE name = 'pg_segment' AND version = $1", &[&from])
            .unwrap()
            .get(0);
        assert_eq!(available, 1, "the install script of released {from} is installed");
        let path: Option<String> = c
            .query_one("SELECT path FROM pg_extension_update_paths('pg_segment') WHERE source = $1 AND target = $2", &[&from, &current])
            .unwrap()
            .get(0);
        assert!(path.is_some(), "no update path from {from} to {current}");
    }
}

/// A refresh scheduled with pg_cron under an old release keeps its job through the update, and
/// the job's command still works.
#[test]
fn a_pg_cron_schedule_survives_the_update() {
    if !has_cron() {
        return skip("upgrade::a_pg_cron_schedule_survives_the_update", true, "this PostgreSQL has no pg_cron");
    }
    let mut c = connect("pg_segment_cron", "postgres");
    let current = current_version(&mut c);
    for from in released_versions(&current) {
        c.batch_execute(&format!(
            "DROP EXTENSION IF EXISTS pg_segment CASCADE; CREATE EXTENSION IF NOT EXISTS pg_cron;
             SELECT cron.unschedule(jobid) FROM cron.job;
             DROP SCHEMA IF EXISTS upgrade_cron CASCADE; CREATE SCHEMA upgrade_cron;
             CREATE EXTENSION pg_segment VERSION '{from}';
             CREATE TABLE upgrade_cron.orders AS SELECT customer_id, ordered_at, amount FROM segment.sample_orders(200, 3);
             SELECT segment.create_segment_view('upgrade_cron.segs', 'upgrade_cron.orders', 'customer_id', 'ordered_at', 'amount');"
        ))
        .unwrap();
        let job: i64 = c.query_one("SELECT segment.schedule_refresh('upgrade_cron.segs', '0 3 * * *')", &[]).unwrap().get(0);
        let jobs = "SELECT string_agg(concat_ws(' ', jobid, jobname, schedule, command, database, active), '|') FROM cron.job";
        let before = one(&mut c, jobs);
        c.batch_execute("ALTER EXTENSION pg_segment UPDATE").unwrap();
        assert_eq!(one(&mut c, "SELECT extversion FROM pg_extension WHERE extname = 'pg_segment'"), current);
        assert_eq!(one(&mut c, jobs), before, "the pg_cron job after the update from {from}");
        let registered: Option<i64> = c.query_one("SELECT cron_job FROM segment.segment_views", &[]).unwrap().get(0);
        assert_eq!(registered, Some(job));
        // the job's command, as pg_cron would run it
        let command = one(&mut c, &format!("SELECT command FROM cron.job WHERE jobid = {job}"));
        c.batch_execute("INSERT INTO upgrade_cron.orders VALUES (888888, now() - interval '1 day', 5)").unwrap();
        c.batch_execute(&command).unwrap();
        assert_eq!(one(&mut c, "SELECT count(*)::text FROM upgrade_cron.segs WHERE customer_id = 888888"), "1");
        let removed: bool = c.query_one("SELECT segment.unschedule_refresh('upgrade_cron.segs')", &[]).unwrap().get(0);
        assert!(removed);
        c.batch_execute(
            "SELECT segment.drop_segment_view('upgrade_cron.segs'); DROP SCHEMA upgrade_cron CASCADE; DROP EXTENSION pg_segment",
        )
        .unwrap();
    }
}
