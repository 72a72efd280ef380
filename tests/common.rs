//! Helpers shared by the integration tests: connections to the throwaway server that
//! `scripts/test.sh` starts (PGSEG_TEST_HOST / PGSEG_TEST_PORT), one fresh database per test.

use postgres::{Client, NoTls};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn host() -> String {
    std::env::var("PGSEG_TEST_HOST").unwrap_or_else(|_| "127.0.0.1".into())
}

pub fn port() -> u16 {
    std::env::var("PGSEG_TEST_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(25329)
}

pub fn connect(db: &str, user: &str) -> Client {
    let conn = format!("host={} port={} user={} dbname={} application_name=pg_segment_it", host(), port(), user, db);
    Client::connect(&conn, NoTls).unwrap_or_else(|e| panic!("cannot connect to {conn}: {e} (is the test cluster running? use `make test`)"))
}

/// The bin directory of the server under test (pg_dump, psql of the same major).
pub fn pg_bin() -> String {
    std::env::var("PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into())
}

/// A plain-SQL pg_dump of a database of the server under test; fails the test when pg_dump does.
pub fn dump(db: &str) -> Vec<u8> {
    let dump = Command::new(format!("{}/pg_dump", pg_bin()))
        .args(["-h", &host(), "-p", &port().to_string(), "-U", "postgres", "-d", db])
        .output()
        .expect("pg_dump runs");
    assert!(dump.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&dump.stderr));
    dump.stdout
}

/// Restores a plain-SQL dump into a database with psql (ON_ERROR_STOP); fails the test on any error.
pub fn restore(db: &str, script: &[u8]) {
    let restore = Command::new(format!("{}/psql", pg_bin()))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", &host(), "-p", &port().to_string(), "-U", "postgres", "-d", db])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(script)?;
            child.wait_with_output()
        })
        .expect("psql runs");
    assert!(restore.status.success(), "restore failed: {}", String::from_utf8_lossy(&restore.stderr));
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh database, dropped when the value is dropped.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub fn new(tag: &str) -> TestDb {
        let name = format!("pgseg_it_{}_{}_{}", tag, std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let mut admin = connect("postgres", "postgres");
        // one statement per call: DROP/CREATE DATABASE cannot run inside a transaction block
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        TestDb { name }
    }

    pub fn client(&self) -> Client {
        connect(&self.name, "postgres")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = std::panic::catch_unwind(|| connect("postgres", "postgres")) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// Whether the server under test has pg_cron preloaded: scripts/test.sh says so in
/// PGSEG_HAS_CRON (1 where the installation ships pg_cron, 0 elsewhere). Unset means 1, so that a
/// run without the variable tests pg_cron instead of skipping it.
pub fn has_cron() -> bool {
    std::env::var("PGSEG_HAS_CRON").map(|v| v != "0").unwrap_or(true)
}

/// Records that a test (`whole`) or a part of one was skipped, and why: scripts/test.sh counts
/// and prints the lines of the file PGSEG_SKIPS, so a skip is visible in the summary instead of
/// passing silently.
pub fn skip(test: &str, whole: bool, reason: &str) {
    let line = format!("{} {test}: {reason}\n", if whole { "test" } else { "part" });
    eprint!("skipped: {line}");
    if let Ok(path) = std::env::var("PGSEG_SKIPS") {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        f.write_all(line.as_bytes()).unwrap();
    }
}

/// The checkout (for README.md and sql/): PGSEG_ROOT, or the parent of the tests crate.
pub fn root() -> String {
    std::env::var("PGSEG_ROOT").unwrap_or_else(|_| "..".into())
}
