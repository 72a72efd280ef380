//! Helpers shared by the integration tests: connections to the throwaway server that
//! `scripts/test.sh` starts (PGSEG_TEST_HOST / PGSEG_TEST_PORT), one fresh database per test.

use postgres::{Client, NoTls};
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn host() -> String {
    std::env::var("PGSEG_TEST_HOST").unwrap_or_else(|_| "127.0.0.1".into())
}

pub fn port() -> u16 {
    std::env::var("PGSEG_TEST_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(54329)
}

pub fn connect(db: &str, user: &str) -> Client {
    let conn = format!("host={} port={} user={} dbname={} application_name=pg_segment_it", host(), port(), user, db);
    Client::connect(&conn, NoTls).unwrap_or_else(|e| panic!("cannot connect to {conn}: {e} (is the test cluster running? use `make test`)"))
}

/// The bin directory of the server under test (pg_dump, psql of the same major).
pub fn pg_bin() -> String {
    std::env::var("PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into())
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
