//! Every stored value survives pg_dump (issue 12, class 5): a table holding edge values of every
//! type the extension produces or accepts restores, from a plain and from a custom-format dump,
//! equal to the original in its text form and byte for byte in its binary form, and reads back
//! through COPY BINARY (the binary inputs) unchanged. Crafted binary values get their SQLSTATE
//! and leave the backend running; text that is not UTF-8 (a SQL_ASCII database stores any bytes)
//! is an error naming the argument, never replaced by U+FFFD.

use pg_segment_integration::{host, port, TestDb};
use postgres::Client;
use std::io::Write;
use std::process::{Command, Stdio};

/// The edge values: one row per case, every column a type of the extension (NULL where the case
/// does not apply).
const SETUP: &str = r#"
CREATE EXTENSION pg_segment;
SET TimeZone = 'UTC';
CREATE TABLE edge_orders (customer_id bigint, ordered_at timestamptz, amount numeric);
INSERT INTO edge_orders VALUES
  (1, '4714-11-24 00:00:00+00 BC', 100000000000000), (1, '0001-02-29 12:00:00+00 BC', -100000000000000),
  (1, '0002-12-31 23:59:59.999999+00 BC', 0.0001), (1, '294276-12-31 23:59:59.999999+00', 0),
  (2, '2024-01-01 00:00:00+00', -5), (3, '0001-01-01 00:00:00+00', 1.2345);
-- orders and refunds each exactly at the most one customer may total
INSERT INTO edge_orders SELECT 4, '2024-06-01'::timestamptz + i * interval '1 day', 100000000000000 FROM generate_series(1, 9) i;
INSERT INTO edge_orders VALUES (4, '2024-07-01', 22337203685477.5807);
INSERT INTO edge_orders SELECT 4, '2024-08-01'::timestamptz + i * interval '1 day', -100000000000000 FROM generate_series(1, 9) i;
INSERT INTO edge_orders VALUES (4, '2024-09-01', -22337203685477.5807);
CREATE TABLE shop AS SELECT * FROM segment.sample_orders(20000, 12);

CREATE TABLE vals (
    id int PRIMARY KEY, what text NOT NULL,
    s segment.rfm_summary, p segment.rfm_population, j jsonb,
    sc segment.rfm_score, b segment.btyd_summary, bg segment.bgnbd_model, gg segment.gamma_gamma_model,
    cs segment.category_share, d date, tags text[]);
INSERT INTO vals (id, what, s) SELECT customer_id, 'summary of customer ' || customer_id, segment.rfm_agg(ordered_at, amount) FROM edge_orders GROUP BY customer_id;
INSERT INTO vals (id, what, s) VALUES (10, 'empty summary', 'v1:'), (11, 'refunds only', 'v1:2024-01-01T00:00:00Z -1.00|2024-01-02T00:00:00Z -0.0001');
INSERT INTO vals (id, what, s) SELECT 12, 'a summary of 200000 events (toasted)', segment.rfm_agg('2020-01-01'::timestamptz + i * interval '1 minute', (i % 1000) - 100) FROM generate_series(1, 200000) i;
INSERT INTO vals (id, what, s) SELECT 13, 'rollup of the edge summaries', segment.rollup(s) FROM vals WHERE id IN (1, 2, 3);
INSERT INTO vals (id, what, p) SELECT 20, 'population of the edge orders', segment.population_agg(customer_id, ordered_at, amount, '294276-12-31 23:59:59.999999+00', '{"lang": "en", "tz": "UTC", "window_days": 36500}') FROM edge_orders;
INSERT INTO vals (id, what, p) SELECT 21, 'population of 20000 customers', segment.population_agg(customer_id, ordered_at, amount, is_refund, '2025-12-31 23:59:59+08', '{"tz": "Asia/Shanghai", "scheme": "cn8"}') FROM shop;
INSERT INTO vals (id, what, p) SELECT 22, 'population of a refund-only customer', segment.population_agg(customer_id, ordered_at, amount, '2025-01-01') FROM edge_orders WHERE customer_id = 2;
INSERT INTO vals (id, what, j) SELECT 30, 'quantile breaks', segment.rfm_breaks(s, '2025-12-31 23:59:59+08', 5, '{"tz": "Asia/Shanghai", "window_days": 365}')
    FROM (SELECT segment.rfm_agg(ordered_at, amount, is_refund) s FROM shop GROUP BY customer_id) x;
INSERT INTO vals (id, what, j) VALUES (31, 'fixed breaks', segment.rfm_thresholds() || '{"tz": "Asia/Shanghai"}');
INSERT INTO vals (id, what, j) SELECT 32, 'k-means model of huge features', segment.kmeans_fit(ARRAY[(CASE WHEN i % 2 = 0 THEN 1 ELSE -1 END) * 1.7e308 * (1 - i / 1000.0), i, 1e-300 * i]::float8[], 3, 5)
    FROM generate_series(1, 40) i;
INSERT INTO vals (id, what, j) SELECT 33, 'k-means model (log_zscore)', segment.kmeans_fit(ARRAY[segment.frequency(s), segment.monetary(s)]::float8[], 4, 7, '{"standardize": "log_zscore"}')
    FROM (SELECT segment.rfm_agg(ordered_at, amount) s FROM shop WHERE NOT is_refund GROUP BY customer_id) x;
INSERT INTO vals (id, what, sc, b) SELECT 40, 'score and BTYD figures', segment.rfm_score(s, (SELECT j FROM vals WHERE id = 31), '2025-12-31 23:59:59+08'), segment.btyd(s, '294276-12-31 23:59:59+00', 'weeks', 'UTC')
    FROM vals WHERE id = 1;
INSERT INTO vals (id, what, bg, gg) SELECT 41, 'CLV models', segment.bgnbd_fit((b).frequency, (b).recency, (b).t), segment.gamma_gamma_fit((b).frequency, (b).monetary_value)
    FROM (SELECT segment.btyd(segment.rfm_agg(ordered_at, amount), '2025-12-31 23:59:59+08', 'days', 'Asia/Shanghai') b FROM shop WHERE NOT is_refund GROUP BY customer_id) x;
INSERT INTO vals (id, what, cs, tags) SELECT 42, 'tags', segment.preferred_category(c, amount), ARRAY['price_sensitive', 'promotion_buyer']
    FROM (SELECT amount, CASE WHEN amount > 100 THEN '家电' ELSE '食品' END c FROM shop WHERE NOT is_refund) x;
INSERT INTO vals (id, what, d) VALUES
    (50, 'next birthday at the end of date', segment.next_birthday('2000-12-31', '5874897-12-31'::date)),
    (51, 'next birthday at the start of date', segment.next_birthday('4714-11-24 BC', '4714-11-24 BC'::date));
"#;

/// Every column in its text form, and the binary forms of the extension's base types.
const READ: &str = "SELECT id, what, s::text, segment.rfm_summary_send(s), p::text, segment.rfm_population_send(p), j::text,
                           sc::text, b::text, bg::text, gg::text, cs::text, d::text, tags::text
                    FROM vals ORDER BY id";

type Row = (i32, String, Option<String>, Option<Vec<u8>>, Option<String>, Option<Vec<u8>>, Option<String>, [Option<String>; 7]);

fn read(c: &mut Client, table: &str) -> Vec<Row> {
    c.query(&READ.replace("FROM vals", &format!("FROM {table}")), &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), std::array::from_fn(|i| r.get(7 + i))))
        .collect()
}

fn tool(name: &str) -> Command {
    let mut c = Command::new(format!("{}/{name}", pg_segment_integration::pg_bin()));
    c.args(["-h", &host(), "-p", &port().to_string(), "-U", "postgres"]);
    c
}

fn ok(out: std::process::Output, what: &str) -> Vec<u8> {
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The accessors read the restored values as they read the originals.
const ACCESSORS: &str =
    "SELECT id, segment.monetary(s)::text, segment.refunded_amount(s)::text, segment.first_order(s)::text, segment.last_order(s)::text,
                                segment.frequency(s), segment.future_orders(s, '2024-01-01')
                         FROM vals WHERE s IS NOT NULL ORDER BY id";

#[test]
fn edge_values_survive_dump_and_restore_and_copy_binary() {
    let src = TestDb::new("values_src");
    let mut c = src.client();
    c.batch_execute(SETUP).unwrap();
    let original = read(&mut c, "vals");
    assert_eq!(original.len(), 20, "every case stored");
    assert!(original.iter().all(|r| r.2.is_some() || r.4.is_some() || r.6.is_some() || r.7.iter().any(Option::is_some)), "no empty case");
    let edge = original.iter().find(|r| r.0 == 1).unwrap().2.clone().unwrap();
    assert!(edge.starts_with("v1:-4713-11-24T00:00:00Z 100000000000000.00|-0001-12-31T23:59:59.999999Z"), "{edge}");
    let accessors = |c: &mut Client| -> Vec<(i32, String, String, Option<String>, Option<String>, i64, i64)> {
        c.query(ACCESSORS, &[]).unwrap().iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6))).collect()
    };
    let figures = accessors(&mut c);
    let limit = figures.iter().find(|r| r.0 == 4).unwrap();
    assert_eq!((limit.1.as_str(), limit.2.as_str()), ("0.00", "922337203685477.5807"), "orders and refunds at the limit");

    // plain format through psql, custom format through pg_restore
    let plain = ok(tool("pg_dump").args(["-d", &src.name]).output().unwrap(), "pg_dump (plain)");
    let custom_file = std::env::temp_dir().join(format!("{}.dump", src.name));
    ok(tool("pg_dump").args(["-Fc", "-d", &src.name, "-f"]).arg(&custom_file).output().unwrap(), "pg_dump (custom)");
    let from_plain = TestDb::new("values_plain");
    let mut psql = tool("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &from_plain.name])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    psql.stdin.take().unwrap().write_all(&plain).unwrap();
    ok(psql.wait_with_output().unwrap(), "psql restore of the plain dump");
    let from_custom = TestDb::new("values_custom");
    let restored = tool("pg_restore").args(["--exit-on-error", "-d", &from_custom.name]).arg(&custom_file).output().unwrap();
    let _ = std::fs::remove_file(&custom_file);
    ok(restored, "pg_restore of the custom dump");
    for db in [&from_plain, &from_custom] {
        let mut d = db.client();
        let back = read(&mut d, "vals");
        assert_eq!(back.len(), original.len(), "{}", db.name);
        for (a, b) in original.iter().zip(&back) {
            assert_eq!(a, b, "{}: case {} ({}) differs after the restore", db.name, a.0, a.1);
        }
        assert_eq!(accessors(&mut d), figures, "{}: accessors of the restored values", db.name);
    }

    // the binary inputs: COPY BINARY out and back in gives the same values
    let mut bin = Vec::new();
    c.copy_out("COPY vals TO STDOUT (FORMAT binary)").unwrap().read_to_end(&mut bin).unwrap();
    c.batch_execute("CREATE TABLE vals_copy (LIKE vals)").unwrap();
    let mut w = c.copy_in("COPY vals_copy FROM STDIN (FORMAT binary)").unwrap();
    w.write_all(&bin).unwrap();
    w.finish().unwrap();
    assert_eq!(read(&mut c, "vals_copy"), original, "values read back through the binary inputs");
}

use std::io::Read;

/// A COPY BINARY stream of one row with one field holding `bytes`.
fn copy_binary(bytes: &[u8]) -> Vec<u8> {
    let mut v = b"PGCOPY\n\xff\r\n\0".to_vec();
    v.extend_from_slice(&0i32.to_be_bytes());
    v.extend_from_slice(&0i32.to_be_bytes());
    v.extend_from_slice(&1i16.to_be_bytes());
    v.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    v.extend_from_slice(bytes);
    v.extend_from_slice(&(-1i16).to_be_bytes());
    v
}

/// The SQLSTATE of loading `bytes` through the binary input of the column `col` of `table`
/// ("ok" when it loads).
fn recv_state(c: &mut Client, table: &str, col: &str, bytes: &[u8]) -> String {
    let result = c.copy_in(&format!("COPY {table} ({col}) FROM STDIN (FORMAT binary)")).and_then(|mut w| {
        w.write_all(&copy_binary(bytes)).map_err(|e| panic!("write: {e}")).unwrap();
        w.finish()
    });
    match result {
        Ok(_) => "ok".into(),
        Err(e) => e.code().map(|s| s.code().to_string()).unwrap_or_else(|| panic!("no SQLSTATE: {e}")),
    }
}

/// Summary bytes: version 1, flags 0, `count` as given, then the events.
fn summary(count: u32, events: &[(i64, i64)]) -> Vec<u8> {
    let mut v = vec![1, 0, 0, 0];
    v.extend_from_slice(&count.to_le_bytes());
    for (at, amount) in events {
        v.extend_from_slice(&at.to_le_bytes());
        v.extend_from_slice(&amount.to_le_bytes());
    }
    v
}

const MIN_INSTANT: i64 = -211_813_488_000_000_000;
const END_INSTANT: i64 = 9_223_371_331_200_000_000;
const MAX_AMOUNT: i64 = 1_000_000_000_000_000_000;

#[test]
fn crafted_binary_values_get_their_sqlstate_and_never_crash() {
    let db = TestDb::new("values_recv");
    let mut c = db.client();
    c.batch_execute(
        "CREATE EXTENSION pg_segment;
         CREATE TABLE t (s segment.rfm_summary, p segment.rfm_population);
         CREATE TABLE pop_source AS SELECT segment.population_agg(customer_id, ordered_at, amount, '2025-12-31') p
             FROM (SELECT * FROM segment.sample_orders(50, 3)) o;",
    )
    .unwrap();
    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let good = summary(2, &[(MIN_INSTANT, -MAX_AMOUNT), (END_INSTANT - 1, MAX_AMOUNT)]);
    let mut flagged = good.clone();
    flagged[1] = 1;
    let mut v0 = good.clone();
    v0[0] = 0;
    let mut v2 = good.clone();
    v2[0] = 2;
    let over_total: Vec<(i64, i64)> = (0..10).map(|i| (i, MAX_AMOUNT)).collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("the edge events", good.clone(), "ok"),
        ("empty", summary(0, &[]), "ok"),
        ("truncated header", good[..7].to_vec(), "22P03"),
        ("truncated event", good[..good.len() - 1].to_vec(), "22P03"),
        ("oversized count", summary(u32::MAX, &[(0, 1)]), "22P03"),
        ("count short of the events", summary(1, &[(0, 1), (1, 1)]), "22P03"),
        ("version 0", v0, "22P03"),
        ("version 2", v2, "0A000"),
        ("nonzero flags", flagged, "22P03"),
        ("unordered instants", summary(2, &[(5, 1), (4, 1)]), "22P03"),
        ("unordered amounts", summary(2, &[(5, 2), (5, 1)]), "22P03"),
        ("instant before 4714 BC", summary(1, &[(MIN_INSTANT - 1, 1)]), "22008"),
        ("instant after 294276", summary(1, &[(END_INSTANT, 1)]), "22008"),
        ("instant infinity", summary(1, &[(i64::MAX, 1)]), "22008"),
        ("amount beyond 1e14", summary(1, &[(0, MAX_AMOUNT + 1)]), "22003"),
        ("amount i64::MIN", summary(1, &[(0, i64::MIN)]), "22003"),
        // pg_segment 0.1.0 summed without a limit: its summaries beyond it still load
        ("orders beyond the total (0.1.0)", summary(10, &over_total), "ok"),
    ];
    for (what, bytes, want) in &cases {
        assert_eq!(recv_state(&mut c, "t", "s", bytes), *want, "rfm_summary: {what}");
        let same: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        assert_eq!(same, pid, "the backend survived rfm_summary: {what}");
    }
    // what was accepted reads back byte for byte
    let stored: Vec<Vec<u8>> = c
        .query("SELECT segment.rfm_summary_send(s) FROM t WHERE s IS NOT NULL ORDER BY length(segment.rfm_summary_send(s)) DESC", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored, vec![summary(10, &over_total), good.clone(), summary(0, &[])]);
    let text: String = c.query_one("SELECT s::text FROM t WHERE segment.frequency(s) = 1", &[]).unwrap().get(0);
    assert_eq!(text, "v1:-4713-11-24T00:00:00Z -100000000000000.00|294276-12-31T23:59:59.999999Z 100000000000000.00");

    // rfm_population: a produced value loads; damaged copies of it do not
    let p: Vec<u8> = c.query_one("SELECT segment.rfm_population_send(p) FROM pop_source", &[]).unwrap().get(0);
    let patched = |at: usize, v: &[u8]| {
        let mut b = p.clone();
        b[at..at + v.len()].copy_from_slice(v);
        b
    };
    // the first customer (in id order) with an order, and the number of customers
    let (k, n): (i64, i64) = {
        let r = c
            .query_one(
                "SELECT (SELECT n FROM (SELECT row_number() OVER (ORDER BY customer_id) - 1 n, orders FROM segment.population_rows(p)) x
                         WHERE orders > 0 ORDER BY n LIMIT 1), (segment.population_info(p)->>'customers')::bigint FROM pop_source",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert!(n >= 2 && k + 1 < n);
    let row0 = p.len() - n as usize * 92 + k as usize * 92;
    let pcases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("a produced value", p.clone(), "ok"),
        ("truncated", p[..p.len() - 1].to_vec(), "22P03"),
        ("header only", p[..20].to_vec(), "22P03"),
        ("bad magic", patched(0, b"XXXX"), "22P03"),
        ("version 0", patched(4, &[0]), "22P03"),
        ("version 9", patched(4, &[9]), "0A000"),
        ("oversized customer count", patched(32, &u64::MAX.to_le_bytes()), "22P03"),
        ("first order at infinity", patched(row0 + 32, &i64::MAX.to_le_bytes()), "22008"),
        ("label index out of range", patched(row0 + 88, &0x7000u16.to_le_bytes()), "22P03"),
        ("duplicate customer", patched(row0 + 92, &p[row0..row0 + 8]), "22P03"),
    ];
    for (what, bytes, want) in &pcases {
        assert_eq!(recv_state(&mut c, "t", "p", bytes), *want, "rfm_population: {what}");
        let same: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        assert_eq!(same, pid, "the backend survived rfm_population: {what}");
    }
    let equal: bool =
        c.query_one("SELECT (SELECT p::text FROM t WHERE p IS NOT NULL) = (SELECT p::text FROM pop_source)", &[]).unwrap().get(0);
    assert!(equal, "the accepted population is the produced one");
}

/// In a SQL_ASCII database text and jsonb hold any bytes: labels, options and names that are not
/// UTF-8 are an error (22021) naming the argument, never silently replaced.
#[test]
fn text_that_is_not_utf8_is_an_error_naming_the_argument() {
    let db = TestDb::new("values_ascii");
    let mut admin = pg_segment_integration::connect("postgres", "postgres");
    let name = format!("{}_sqlascii", db.name);
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")).unwrap();
    let result = std::panic::catch_unwind(|| {
        let mut c = pg_segment_integration::connect(&name, "postgres");
        c.batch_execute(
            "CREATE EXTENSION pg_segment;
             CREATE TABLE latin1 AS SELECT convert_from('\\xe9'::bytea, 'SQL_ASCII') AS e;
             CREATE TABLE s AS SELECT segment.rfm_agg(now() - interval '1 day', 5::numeric) s;",
        )
        .unwrap();
        let label = "jsonb_build_object('tiers', jsonb_build_array(jsonb_build_object('label', 'caf' || e, 'share', 100)))";
        for (what, sql, needle) in [
            ("customer_tier config", format!("SELECT segment.customer_tier(0.5, {label}) FROM latin1"), "config"),
            (
                "population_agg options",
                format!("SELECT segment.population_agg(1, now() - interval '1 day', 5::numeric, now(), {label}) FROM latin1"),
                "options",
            ),
            (
                "rfm_segment rules",
                "SELECT segment.rfm_segment(segment.rfm_score(s, segment.rfm_thresholds(), now()), jsonb_build_array(jsonb_build_object('label', e))) FROM latin1, s"
                    .to_string(),
                "rules",
            ),
            ("rfm_score breaks", "SELECT segment.rfm_score(s, segment.rfm_thresholds() || jsonb_build_object('tz', e), now()) FROM latin1, s".to_string(), "breaks"),
            ("province_name province", "SELECT segment.province_name(e) FROM latin1".to_string(), "province"),
            ("recency_days tz", "SELECT segment.recency_days(s, now(), e) FROM latin1, s".to_string(), "tz"),
        ] {
            let err = c.batch_execute(&sql).expect_err(what);
            let db_err = err.as_db_error().unwrap_or_else(|| panic!("{what}: {err}"));
            assert_eq!(db_err.code().code(), "22021", "{what}: {}", db_err.message());
            assert!(db_err.message().starts_with(needle) && db_err.message().contains("not valid UTF-8"), "{what}: {}", db_err.message());
        }
        // the text input of rfm_summary refuses such bytes as bad syntax
        let err = c.batch_execute("SELECT ('v1:2024-01-01T00:00:00Z 1.00' || e)::segment.rfm_summary FROM latin1").unwrap_err();
        assert_eq!(err.code().unwrap().code(), "22P02");
    });
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
