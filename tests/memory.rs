//! No role can crash the server through memory.
//!
//! The `#[ignore]`d tests run in their own layer of `scripts/test.sh`, against a throwaway
//! cluster started under `ulimit -v` (PGSEG_TEST_PORT points at it) whose postgresql.conf raises
//! pg_segment's limits to 1 TB, so that allocations really fail: a plain role runs calls sized to
//! exceed the address space, hand-made models and stored values, and each must end with an
//! ERROR while the backend and the postmaster live on. They are ignored in the ordinary layer:
//! without the address-space limit they would take the machine's memory.
//!
//! The other tests run in the ordinary layer: the limits are superuser-only settings.

use pg_segment_integration::{connect, TestDb};
use postgres::error::SqlState;
use postgres::Client;
use std::io::Write;

const ROLE: &str = "pgseg_hostile";

/// A database with the extension and a plain login role allowed to use it.
fn hostile_db(tag: &str) -> TestDb {
    let db = TestDb::new(tag);
    let mut admin = db.client();
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN CREATE ROLE {ROLE} LOGIN; END IF; END $$;
             ALTER ROLE {ROLE} RESET ALL;
             CREATE EXTENSION pg_segment;"
        ))
        .unwrap();
    db
}

/// The identity of the running server and of one session: a crash (a backend killed by an
/// abort) makes the postmaster end every backend, so the witness session and the plain
/// session would both be gone.
struct Alive {
    witness: Client,
    started: String,
    session: Client,
    pid: i32,
}

impl Alive {
    fn new(db: &TestDb) -> Alive {
        let mut witness = connect(&db.name, "postgres");
        let started: String = witness.query_one("SELECT pg_postmaster_start_time()::text", &[]).unwrap().get(0);
        let mut session = connect(&db.name, ROLE);
        let pid: i32 = session.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        Alive { witness, started, session, pid }
    }

    /// Runs `sql` as the plain role: it must fail with `code` (and a message containing
    /// `needle`), and the server must live on.
    fn refuses(&mut self, sql: &str, code: &SqlState, needle: &str) {
        let err = self.session.batch_execute(sql).expect_err(sql);
        let msg = err.as_db_error().map(|e| e.message().to_string()).unwrap_or_else(|| err.to_string());
        assert_eq!(err.code(), Some(code), "{sql}: {msg}");
        assert!(msg.contains(needle), "{sql}: {msg}");
        self.check();
    }

    fn check(&mut self) {
        let pid: i32 = self.session.query_one("SELECT pg_backend_pid()", &[]).expect("the plain session was lost").get(0);
        assert_eq!(pid, self.pid, "the plain session's backend changed");
        let started: String =
            self.witness.query_one("SELECT pg_postmaster_start_time()::text", &[]).expect("the witness session was lost").get(0);
        assert_eq!(started, self.started, "the postmaster restarted");
        let listed: i64 = self
            .witness
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid = $1", &[&self.pid])
            .unwrap()
            .get(0);
        assert_eq!(listed, 1, "the server no longer lists the plain session's backend");
    }
}

#[test]
#[ignore = "needs the address-space-limited cluster of scripts/test.sh"]
fn kmeans_beyond_the_address_space_is_an_error() {
    let db = hostile_db("mem_kmeans");
    let mut s = Alive::new(&db);
    // the state grows past the address space while rows arrive (300,000 vectors of 1,000 values)
    s.refuses(
        "SELECT segment.kmeans_fit(array_fill(g::float8, ARRAY[1000]), 2) FROM generate_series(1, 300000) g",
        &SqlState::OUT_OF_MEMORY,
        "out of memory",
    );
    // the state fits, the fit's working copies do not (100,000 vectors)
    s.refuses(
        "SELECT segment.kmeans_fit(array_fill(g::float8, ARRAY[1000]), 2) FROM generate_series(1, 100000) g",
        &SqlState::OUT_OF_MEMORY,
        "out of memory",
    );
    s.refuses(
        "SELECT segment.kmeans_elbow(array_fill(g::float8, ARRAY[1000]), 1, 3) FROM generate_series(1, 300000) g",
        &SqlState::OUT_OF_MEMORY,
        "out of memory",
    );
    // the session still fits models
    let k: i64 = s
        .session
        .query_one("SELECT (segment.kmeans_fit(ARRAY[g, g % 5]::float8[], 3)->>'k')::bigint FROM generate_series(1, 1000) g", &[])
        .unwrap()
        .get(0);
    assert_eq!(k, 3);
}

#[test]
#[ignore = "needs the address-space-limited cluster of scripts/test.sh"]
fn population_beyond_the_address_space_is_an_error() {
    let db = hostile_db("mem_population");
    let mut s = Alive::new(&db);
    let q = |n: u32| {
        format!(
            "SELECT segment.population_info(segment.population_agg(g, timestamptz '2024-01-01', 1.0::float8, timestamptz '2025-01-01'))
             FROM generate_series(1, {n}) g"
        )
    };
    // the customer table cannot grow (6.5 million customers)
    s.refuses(&q(6_500_000), &SqlState::OUT_OF_MEMORY, "out of memory");
    // the state fits (6.25 million customers, just below the table's growth): since the final
    // step sorts the table into a run and writes the rows in place, its working memory fits too,
    // and what refuses is the value's size (its text form, which pg_dump writes), before the
    // value is allocated
    s.refuses(&q(6_250_000), &SqlState::PROGRAM_LIMIT_EXCEEDED, "its text form");
    // the session still segments
    let n: String = s
        .session
        .query_one(
            "SELECT segment.population_info(segment.population_agg(g, timestamptz '2024-01-01', 1.0::float8, timestamptz '2025-01-01'))->>'customers'
             FROM generate_series(1, 1000) g",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, "1000");
}

#[test]
#[ignore = "needs the address-space-limited cluster of scripts/test.sh"]
fn hand_made_models_and_values_size_nothing_before_they_are_checked() {
    let db = hostile_db("mem_crafted");
    let mut s = Alive::new(&db);
    let model = |k: &str, dims: &str| {
        format!(
            r#"{{"kind": "pg_segment.kmeans", "version": 1, "k": {k}, "dims": {dims}, "standardize": "none", "mean": [0], "scale": [1], "clusters": [{{"id": 1, "size": 1, "centroid_standardized": [0]}}]}}"#
        )
    };
    let bad = SqlState::INVALID_PARAMETER_VALUE;
    // IMMUTABLE with constant arguments: EXPLAIN evaluates it while planning
    for (k, dims) in [("1e12", "1"), ("1", "1e12"), ("4294967296", "4294967296"), ("1000000", "1000000")] {
        let m = model(k, dims);
        s.refuses(&format!("SELECT segment.kmeans_assign('{m}', ARRAY[1.0])"), &bad, "model is not a kmeans_fit model");
        s.refuses(&format!("EXPLAIN SELECT segment.kmeans_assign('{m}', ARRAY[1.0])"), &bad, "model is not a kmeans_fit model");
        s.refuses(
            &format!("SELECT segment.kmeans_silhouette('{m}', ARRAY[g]::float8[]) FROM generate_series(1, 10) g"),
            &bad,
            "model is not a kmeans_fit model",
        );
    }
    // a vector of 50 million values is refused before it is copied
    s.refuses(
        "SELECT segment.kmeans_fit(array_fill(1.0::float8, ARRAY[50000000]), 1)",
        &bad,
        "features has 50000000 elements, at most 1000",
    );
    // a JSON argument of 100 MB is refused before it is parsed
    s.refuses(
        "SELECT segment.kmeans_assign(jsonb_build_object('pad', repeat('x', 100000000)), ARRAY[1.0])",
        &SqlState::PROGRAM_LIMIT_EXCEEDED,
        "more than the 64 MB pg_segment reads",
    );
    // stored values whose headers claim billions of entries
    let header = |n: u64, labels: u32| {
        let mut b = Vec::new();
        b.extend_from_slice(&0x5053_5031u32.to_le_bytes());
        b.extend_from_slice(&[1, 0, 0, 0]);
        b.extend_from_slice(&0i64.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&n.to_le_bytes());
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(b"{}");
        b.extend_from_slice(&labels.to_le_bytes());
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    };
    for (n, labels) in [(1u64 << 60, 0u32), (u64::MAX, 0), (0, u32::MAX)] {
        s.refuses(
            &format!("SELECT segment.population_info('p1:{}'::segment.rfm_population)", header(n, labels)),
            // text input: a corrupt value is bad text
            &SqlState::INVALID_TEXT_REPRESENTATION,
            "population value",
        );
    }
    // binary COPY of an rfm_summary claiming 4 billion events
    s.session.batch_execute("CREATE TEMP TABLE summaries (s segment.rfm_summary)").unwrap();
    let mut field = vec![1u8, 0, 0, 0];
    field.extend_from_slice(&u32::MAX.to_le_bytes());
    let mut copy = b"PGCOPY\n\xff\r\n\0".to_vec();
    copy.extend_from_slice(&0i32.to_be_bytes());
    copy.extend_from_slice(&0i32.to_be_bytes());
    copy.extend_from_slice(&1i16.to_be_bytes());
    copy.extend_from_slice(&(field.len() as i32).to_be_bytes());
    copy.extend_from_slice(&field);
    copy.extend_from_slice(&(-1i16).to_be_bytes());
    let err = {
        let mut w = s.session.copy_in("COPY summaries FROM STDIN (FORMAT binary)").unwrap();
        w.write_all(&copy).unwrap();
        w.finish().expect_err("a summary claiming 4 billion events must be refused")
    };
    assert_eq!(err.code(), Some(&SqlState::INVALID_BINARY_REPRESENTATION), "{err}");
    s.check();
}

/// The limits that protect the server are superuser-only settings: a plain role cannot raise
/// them (not with SET, set_config, ALTER ROLE, nor a placeholder set before the library is
/// loaded), and a limit a superuser sets for the role holds in the role's sessions.
#[test]
fn limits_are_superuser_only() {
    let db = hostile_db("limits");
    let denied = SqlState::INSUFFICIENT_PRIVILEGE;
    {
        // a fresh session, before anything loads the library: the placeholder is discarded
        // (with a warning) when the library defines the setting
        let mut c = connect(&db.name, ROLE);
        c.batch_execute("SET pg_segment.memory_limit = '1TB'; SET pg_segment.population_memory_limit = '1TB'").unwrap();
        c.batch_execute("SELECT segment.rfm_thresholds()").unwrap();
        for guc in ["pg_segment.memory_limit", "pg_segment.population_memory_limit"] {
            let v: String = c.query_one(&format!("SHOW {guc}"), &[]).unwrap().get(0);
            assert_eq!(v, "1GB", "{guc} kept the value a plain role set before the library was loaded");
            for sql in [
                format!("SET {guc} = '1TB'"),
                format!("SELECT set_config('{guc}', '2GB', false)"),
                format!("ALTER ROLE {ROLE} SET {guc} = '1TB'"),
            ] {
                let err = c.batch_execute(&sql).expect_err(&sql);
                assert_eq!(err.code(), Some(&denied), "{sql}: {err}");
            }
        }
        let err = c
            .batch_execute(
                "SELECT segment.kmeans_fit(ARRAY[g]::float8[], 2, 1, '{\"memory_limit_mb\": 4096}') FROM generate_series(1, 10) g",
            )
            .expect_err("an option above pg_segment.memory_limit");
        assert_eq!(err.code(), Some(&SqlState::INVALID_PARAMETER_VALUE), "{err}");
    }
    // a superuser lowers the limits for the role
    let mut admin = db.client();
    admin
        .batch_execute(&format!(
            "ALTER ROLE {ROLE} SET pg_segment.memory_limit = '1MB'; ALTER ROLE {ROLE} SET pg_segment.population_memory_limit = '1MB'"
        ))
        .unwrap();
    let mut c = connect(&db.name, ROLE);
    c.batch_execute("SELECT segment.rfm_thresholds()").unwrap();
    let v: String = c.query_one("SHOW pg_segment.memory_limit", &[]).unwrap().get(0);
    assert_eq!(v, "1MB");
    for sql in [
        "SELECT segment.bgnbd_fit(1, g, 1e6) FROM generate_series(1, 100000) g",
        "SELECT segment.kmeans_fit(ARRAY[g, g % 7]::float8[], 2) FROM generate_series(1, 100000) g",
        "SELECT segment.population_agg(g, now(), 1.0::float8, now()) FROM generate_series(1, 100000) g",
    ] {
        let err = c.batch_execute(sql).expect_err(sql);
        assert_eq!(err.code(), Some(&SqlState::OUT_OF_MEMORY), "{sql}: {err}");
    }
    admin.batch_execute(&format!("ALTER ROLE {ROLE} RESET ALL")).unwrap();
}
