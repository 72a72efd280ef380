//! The pseudonym key as a DBA deploys it: in postgresql.conf, on a server of its own (started here
//! on port PGSEG_TEST_PORT + 2, which no other layer uses while the integration tests run).
//!
//! * With `shared_preload_libraries = 'pg_segment'` the key is a setting only superusers read: a
//!   plain role gets nothing from SHOW, current_setting(), pg_settings, pg_file_settings or
//!   pg_db_role_setting (ALTER ROLE/DATABASE ... SET of the key are refused), a member of
//!   pg_read_all_settings sees "(hidden)", pg_dump writes no trace of it; yet every role's
//!   pseudonyms use it, equal to Python's hmac.
//! * Without the preload, the key in postgresql.conf is a placeholder any role can SHOW in a
//!   session that has not loaded pg_segment, so pseudonym() refuses it (55000) everywhere.

use pg_segment_integration::{pg_bin, port, root};
use postgres::{Client, NoTls};
use std::process::Command;
use std::sync::Mutex;

const KEY: &str = "pg_segment integration key 0123456789";
/// Python: hmac.new(KEY.encode(), b"42", hashlib.sha256).hexdigest()
const HMAC_42: &str = "bc24d2c5f229593b6d92188028c8706f941b53996fbd7647bc9c958071206658";

/// One private server at a time (both tests use the same port).
static SERVER: Mutex<()> = Mutex::new(());

/// A throwaway server (scripts/cluster.sh) with extra postgresql.conf lines, stopped on drop.
struct Server {
    dir: String,
    port: u16,
}

impl Server {
    fn start(conf: &[&str]) -> Server {
        let port = port() + 2;
        let dir = format!("/tmp/pg_segment_privacy_{port}");
        let out = Command::new("bash")
            .arg(format!("{}/scripts/cluster.sh", root()))
            .args(["start", &dir, &port.to_string()])
            .args(conf)
            .env("PG_BIN", pg_bin())
            .output()
            .expect("scripts/cluster.sh runs");
        assert!(out.status.success(), "starting the server failed: {}", String::from_utf8_lossy(&out.stderr));
        Server { dir, port }
    }

    fn connect(&self, user: &str) -> Client {
        let conn = format!("host=127.0.0.1 port={} user={user} dbname=postgres application_name=pg_segment_it", self.port);
        Client::connect(&conn, NoTls).unwrap_or_else(|e| panic!("cannot connect to {conn}: {e}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ =
            Command::new("bash").arg(format!("{}/scripts/cluster.sh", root())).args(["stop", &self.dir]).env("PG_BIN", pg_bin()).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The SQLSTATE of a statement that must fail.
fn sqlstate(c: &mut Client, sql: &str) -> String {
    let e = c.batch_execute(sql).expect_err(sql);
    e.code().map(|s| s.code().to_string()).unwrap_or_else(|| panic!("{sql}: {e}"))
}

fn text(c: &mut Client, sql: &str) -> String {
    c.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

fn count(c: &mut Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

/// Roles and the extension, as the DBA sets them up; the plain role owns a segmentation view.
fn setup(s: &Server) {
    s.connect("postgres")
        .batch_execute(
            "CREATE ROLE pgseg_plain LOGIN; CREATE ROLE pgseg_reader LOGIN IN ROLE pg_read_all_settings;
             CREATE EXTENSION pg_segment;
             CREATE TABLE public.orders AS SELECT * FROM segment.sample_orders(200, 11);
             GRANT SELECT ON public.orders TO pgseg_plain; GRANT CREATE ON SCHEMA public TO pgseg_plain;",
        )
        .unwrap();
    s.connect("pgseg_plain")
        .batch_execute(
            "SELECT segment.create_segment_view('public.segs', 'public.orders', 'customer_id', 'ordered_at', 'amount',
                 '{\"as_of\": \"2026-01-01 00:00+00\", \"refund_column\": \"is_refund\"}');",
        )
        .unwrap();
}

#[test]
fn with_shared_preload_only_superusers_read_the_key_and_every_role_uses_it() {
    let _one = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let key_line = format!("pg_segment.pseudonym_key = '{KEY}'");
    let s = Server::start(&["shared_preload_libraries = 'pg_segment'", &key_line]);
    setup(&s);

    let mut plain = s.connect("pgseg_plain");
    assert_eq!(text(&mut plain, "SELECT segment.pseudonym('42')"), HMAC_42, "a plain role's pseudonyms use the DBA's key");
    assert_eq!(count(&mut plain, "SELECT count(*) FROM segment.export_segments('public.segs')"), 200);
    for read in [
        "SHOW pg_segment.pseudonym_key",
        "SELECT current_setting('pg_segment.pseudonym_key')",
        "SELECT current_setting('pg_segment.pseudonym_key', true)",
        "SELECT * FROM pg_file_settings",
        "SELECT * FROM pg_show_all_file_settings()",
    ] {
        assert_eq!(sqlstate(&mut plain, read), "42501", "{read} as a plain role");
    }
    let listed = format!("SELECT count(*) FROM pg_settings WHERE name LIKE 'pg_segment.pseudonym%' OR setting LIKE '%{KEY}%'");
    assert_eq!(count(&mut plain, &listed), 0, "pg_settings lists neither the setting nor its value");
    assert_eq!(sqlstate(&mut plain, "SET pg_segment.pseudonym_key = 'a key of the plain role'"), "42501");
    assert_eq!(sqlstate(&mut plain, "ALTER ROLE pgseg_plain SET pg_segment.pseudonym_key = 'a key of the plain role'"), "42501");

    let mut reader = s.connect("pgseg_reader");
    assert_eq!(text(&mut reader, "SHOW pg_segment.pseudonym_key"), "(hidden)", "pg_read_all_settings sees that it is set, not what");
    assert_eq!(text(&mut reader, "SELECT current_setting('pg_segment.pseudonym_key')"), "(hidden)");

    // a superuser reads it, and cannot store it where every role would read it
    let mut admin = s.connect("postgres");
    assert_eq!(text(&mut admin, "SHOW pg_segment.pseudonym_key"), KEY);
    assert_eq!(count(&mut admin, "SELECT count(*) FROM pg_file_settings WHERE name = 'pg_segment.pseudonym_key' AND applied"), 1);
    for store in [
        format!("ALTER ROLE pgseg_plain SET pg_segment.pseudonym_key = '{KEY}'"),
        format!("ALTER ROLE ALL SET pg_segment.pseudonym_key = '{KEY}'"),
        format!("ALTER DATABASE postgres SET pg_segment.pseudonym_key = '{KEY}'"),
        format!("ALTER ROLE pgseg_plain IN DATABASE postgres SET pg_segment.pseudonym_key = '{KEY}'"),
        format!("CREATE FUNCTION public.keyed() RETURNS int LANGUAGE sql SET pg_segment.pseudonym_key = '{KEY}' AS 'SELECT 1'"),
    ] {
        assert_eq!(sqlstate(&mut admin, &store), "22023", "{store}");
    }
    let stored = "SELECT count(*) FROM pg_db_role_setting, unnest(setconfig) c WHERE c LIKE 'pg_segment.pseudonym_key%'";
    assert_eq!(count(&mut plain, stored), 0, "pg_db_role_setting, which every role reads, holds no key");
    assert_eq!(count(&mut plain, "SELECT count(*) FROM pg_proc, unnest(proconfig) c WHERE c LIKE 'pg_segment.pseudonym_key%'"), 0);

    // a dump of the database carries no trace of the key
    let dump = Command::new(format!("{}/pg_dump", pg_bin()))
        .args(["-h", "127.0.0.1", "-p", &s.port.to_string(), "-U", "postgres", "postgres"])
        .output()
        .expect("pg_dump runs");
    assert!(dump.status.success(), "pg_dump: {}", String::from_utf8_lossy(&dump.stderr));
    assert!(!String::from_utf8_lossy(&dump.stdout).contains(KEY), "the dump holds the key");
    assert!(String::from_utf8_lossy(&dump.stdout).contains("segs"), "the dump is of the database used");
}

#[test]
fn without_shared_preload_a_configured_key_is_refused() {
    let _one = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let key_line = format!("pg_segment.pseudonym_key = '{KEY}'");
    let s = Server::start(&[&key_line]);
    setup(&s);
    // every session that loads pg_segment finds the key already there, as a placeholder any role
    // could have read: pseudonyms refuse it, for superusers too, so the configuration is fixed
    for user in ["pgseg_plain", "postgres"] {
        let mut c = s.connect(user);
        assert_eq!(sqlstate(&mut c, "SELECT segment.pseudonym('42')"), "55000", "as {user}");
        let e = c.query_one("SELECT segment.pseudonym('42')", &[]).unwrap_err();
        let hint = e.as_db_error().and_then(|d| d.hint()).unwrap_or_default().to_string();
        assert!(hint.contains("shared_preload_libraries = 'pg_segment'"), "the hint says what to do: {hint}");
    }
    // once exposed, the session's key stays refused, whatever is SET later; and LOAD in a new
    // session does not help: the configured key is there before it runs
    let mut admin = s.connect("postgres");
    assert_eq!(sqlstate(&mut admin, "SELECT segment.pseudonym('42')"), "55000", "the library is loaded now, the key exposed");
    admin.batch_execute("SET pg_segment.pseudonym_key = 'a key set after the library was loaded'").unwrap();
    assert_eq!(sqlstate(&mut admin, "SELECT segment.pseudonym('42')"), "55000", "the session's key stays refused once exposed");
    let mut fresh = s.connect("postgres");
    fresh.batch_execute(&format!("LOAD 'pg_segment'; SET pg_segment.pseudonym_key = '{KEY}'")).unwrap();
    assert_eq!(sqlstate(&mut fresh, "SELECT segment.pseudonym('42')"), "55000", "the configured key was there when LOAD ran");
}
