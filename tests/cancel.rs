//! Every long call stops on cancel. For each call that can run long, an input that takes tens of
//! seconds without interruption (a few seconds of it reading rows, the rest in the final step):
//! with `statement_timeout` set the statement ends with SQLSTATE 57014 soon after the timeout,
//! and `pg_terminate_backend` ends the backend running it. The bounds are liveness bounds, not
//! speed tests: a cancellation point comes every millisecond or so of work, the bound allows
//! seconds. Two calls are bounded by their size instead (one `clv()` takes at most about 1.5 s,
//! and population_agg spends its time reading rows, not in its final step), so for them these
//! tests prove only that the statement ends; their cancellation points are proven by the core
//! tests `fits_and_series_stop_on_cancel` and `final_step_is_bounded_and_cancellable`.

use pg_segment_integration::{connect, TestDb};
use postgres::error::SqlState;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long after the timeout (or the terminate) the statement must have ended.
const BOUND: Duration = Duration::from_secs(8);

struct Call {
    name: &'static str,
    /// run once before (no timeout)
    setup: &'static str,
    query: &'static str,
    /// the statement timeout: past the reading of the input, well before the end of the final step
    timeout_ms: u64,
}

const SILHOUETTE_SETUP: &str = "CREATE TABLE model AS SELECT segment.kmeans_fit(
        ARRAY[g % 7, g % 11, g % 13, g % 17, g % 19, g % 23, g % 29, g % 31, g % 37, g % 41,
              g % 43, g % 47, g % 53, g % 59, g % 61, g % 67, g % 71, g % 73, g % 79, g % 83]::float8[], 2) AS m
    FROM generate_series(1, 1000) g";

const CALLS: [Call; 7] = [
    // 200,000 points, 1,000 clusters: the seeding alone takes seconds, the iterations half a minute
    Call {
        name: "kmeans_fit",
        setup: "",
        query: "SELECT segment.kmeans_fit(ARRAY[random(), random()], 1000, 1, '{\"max_iterations\": 10000, \"tolerance\": 0}')
                FROM generate_series(1, 200000) g",
        timeout_ms: 1000,
    },
    Call {
        name: "kmeans_elbow",
        setup: "",
        query: "SELECT segment.kmeans_elbow(ARRAY[random(), random()], 980, 999, 1, '{\"max_iterations\": 10000, \"tolerance\": 0}')
                FROM generate_series(1, 200000) g",
        timeout_ms: 1000,
    },
    // all pairs of a 50,000-point sample of 20 values: about 40 s
    Call {
        name: "kmeans_silhouette",
        setup: SILHOUETTE_SETUP,
        query: "SELECT segment.kmeans_silhouette(m,
                    ARRAY[g % 7, g % 11, g % 13, g % 17, g % 19, g % 23, g % 29, g % 31, g % 37, g % 41,
                          g % 43, g % 47, g % 53, g % 59, g % 61, g % 67, g % 71, g % 73, g % 79, g % 83]::float8[], 50000)
                FROM model, generate_series(1, 60000) g GROUP BY m::text",
        timeout_ms: 1000,
    },
    // 3.5 million distinct customers: about a minute of fitting after 2 s of reading
    Call {
        name: "bgnbd_fit",
        setup: "",
        query: "SELECT segment.bgnbd_fit(x, CASE WHEN x = 0 THEN 0 ELSE 1 + g % 700 END, 700 + g)
                FROM generate_series(1, 3500000) g, LATERAL (SELECT (g % 50)::float8 x) v",
        timeout_ms: 4000,
    },
    // 3 million distinct frequencies: more than a minute of fitting after 2 s of reading
    Call {
        name: "gamma_gamma_fit",
        setup: "",
        query: "SELECT segment.gamma_gamma_fit(g, 10 + g % 97) FROM generate_series(1, 3000000) g",
        timeout_ms: 4000,
    },
    // the longest series a clv() call can sum: 1,200 months of up to 1.7 million terms
    Call {
        name: "clv",
        setup: "",
        query: "SELECT segment.clv('{\"r\": 0.5, \"alpha\": 0.4, \"a\": 2.0, \"b\": 2.0}'::jsonb::segment.bgnbd_model,
                                   '{\"p\": 2.0, \"q\": 3.0, \"gamma\": 10.0}'::jsonb::segment.gamma_gamma_model,
                                   0, 0, 0.4, 10, 1200, 0.01, 'days')",
        timeout_ms: 300,
    },
    Call {
        name: "population_agg",
        setup: "",
        // 60 million rows (a join of two small series: nothing is materialized to disk) of 2
        // million customers: reading them takes far longer than any timeout here on any
        // machine, and the state stays far below the memory and value-size limits (5 million
        // distinct customers were read fast enough to reach the value-size limit, 53200, before
        // the timeout)
        query: "SELECT segment.population_info(segment.population_agg(g % 2000000, timestamptz '2024-01-01' + g * interval '1 second',
                                                                   1.0::float8, timestamptz '2030-01-01'))
                FROM generate_series(0, 1999) a, generate_series(1, 30000) b, LATERAL (SELECT a * 30000 + b AS g) v",
        timeout_ms: 1500,
    },
];

fn call(name: &str) -> &'static Call {
    CALLS.iter().find(|c| c.name == name).unwrap()
}

fn prepare(c: &Call, tag: &str) -> TestDb {
    let db = TestDb::new(tag);
    let mut client = db.client();
    client.batch_execute("CREATE EXTENSION pg_segment").unwrap();
    if !c.setup.is_empty() {
        client.batch_execute(c.setup).unwrap();
    }
    db
}

fn session(db: &TestDb) -> postgres::Client {
    let mut client = db.client();
    // serial plans: the final step runs in this backend
    client.batch_execute("SET max_parallel_workers_per_gather = 0").unwrap();
    client
}

/// The statement ends with 57014 within BOUND of its timeout, and the session goes on.
fn stops_at_timeout(name: &str) {
    let c = call(name);
    let db = prepare(c, &format!("cancel_{name}"));
    let mut client = session(&db);
    client.batch_execute(&format!("SET statement_timeout = {}", c.timeout_ms)).unwrap();
    let start = Instant::now();
    let err = client.batch_execute(c.query).expect_err("the statement outlived its timeout");
    let elapsed = start.elapsed();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{name}: {err}");
    let timeout = Duration::from_millis(c.timeout_ms);
    assert!(elapsed < timeout + BOUND, "{name} ended {:?} after its {timeout:?} timeout", elapsed.saturating_sub(timeout));
    client.batch_execute("RESET statement_timeout").unwrap();
    let one: i32 = client.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
}

/// pg_terminate_backend of the backend running the statement ends it within BOUND.
fn stops_on_terminate(name: &str) {
    let c = call(name);
    let db = prepare(c, &format!("terminate_{name}"));
    let mut victim = session(&db);
    let pid: i32 = victim.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let (tx, rx) = mpsc::channel();
    let query = c.query;
    let worker = std::thread::spawn(move || {
        let r = victim.batch_execute(query);
        let _ = tx.send((r.map_err(|e| (e.code().cloned(), e.to_string())), Instant::now()));
    });
    let mut admin = connect(&db.name, "postgres");
    let active = |admin: &mut postgres::Client| -> bool {
        admin.query_one("SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", &[&pid]).unwrap().get::<_, i64>(0) == 1
    };
    // until the statement is seen running; had it ended first (an error at once), there would
    // be nothing to terminate, and the test says so instead of waiting
    let mut early = None;
    while !active(&mut admin) {
        if let Ok(r) = rx.try_recv() {
            early = Some(r);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(early.is_none(), "{name} ended before it was seen running: {:?}", early.map(|(r, _)| r));
    // past the reading of the input, into the final step where it can be
    std::thread::sleep(Duration::from_millis(c.timeout_ms));
    let killed = Instant::now();
    let ok: bool = admin.query_one("SELECT pg_terminate_backend($1)", &[&pid]).unwrap().get(0);
    assert!(ok, "pg_terminate_backend({pid}) failed");
    let (result, ended) = rx.recv_timeout(BOUND).unwrap_or_else(|_| panic!("{name} still running {BOUND:?} after pg_terminate_backend"));
    let (code, msg) = result.expect_err("a terminated statement cannot succeed");
    // the client sees 57P01, or the connection closing
    assert!(code.is_none() || code == Some(SqlState::ADMIN_SHUTDOWN), "{name}: {code:?} {msg}");
    assert!(ended.duration_since(killed) < BOUND);
    worker.join().unwrap();
    // the terminated backend goes away (its statement already ended within BOUND, above); a
    // backend that stayed would keep this loop, and so the test run, from ending
    while admin.query_one("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", &[&pid]).unwrap().get::<_, i64>(0) > 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kmeans_fit_stops_at_statement_timeout() {
    stops_at_timeout("kmeans_fit");
}

#[test]
fn kmeans_fit_stops_on_terminate() {
    stops_on_terminate("kmeans_fit");
}

#[test]
fn kmeans_elbow_stops_at_statement_timeout() {
    stops_at_timeout("kmeans_elbow");
}

#[test]
fn kmeans_elbow_stops_on_terminate() {
    stops_on_terminate("kmeans_elbow");
}

#[test]
fn kmeans_silhouette_stops_at_statement_timeout() {
    stops_at_timeout("kmeans_silhouette");
}

#[test]
fn kmeans_silhouette_stops_on_terminate() {
    stops_on_terminate("kmeans_silhouette");
}

#[test]
fn bgnbd_fit_stops_at_statement_timeout() {
    stops_at_timeout("bgnbd_fit");
}

#[test]
fn bgnbd_fit_stops_on_terminate() {
    stops_on_terminate("bgnbd_fit");
}

#[test]
fn gamma_gamma_fit_stops_at_statement_timeout() {
    stops_at_timeout("gamma_gamma_fit");
}

#[test]
fn gamma_gamma_fit_stops_on_terminate() {
    stops_on_terminate("gamma_gamma_fit");
}

#[test]
fn clv_stops_at_statement_timeout() {
    stops_at_timeout("clv");
}

#[test]
fn clv_stops_on_terminate() {
    stops_on_terminate("clv");
}

#[test]
fn population_agg_stops_at_statement_timeout() {
    stops_at_timeout("population_agg");
}

#[test]
fn population_agg_stops_on_terminate() {
    stops_on_terminate("population_agg");
}
