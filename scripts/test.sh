#!/usr/bin/env bash
# Runs every test layer on every PostgreSQL major in $PG (default: the tested majors, 15 16 18)
# and ends with one summary line "summary: N passed, M failed[, K skipped]". First, once:
#   0. release checks                        (scripts/check_release.sh: released scripts unchanged,
#                                              versions agree, an update path from every release)
#   core: the core crate's #[test]s           (cargo test -p pg_segment_core: pure Rust, no PostgreSQL)
# Then per major:
#   1. #[pg_test]s                            (cargo pgrx test, inside a real backend of that major)
#   2. pg_regress suite in pg_test/            (PostgreSQL's own pg_regress, throwaway cluster), after
#                                              the release build is installed and every C symbol a
#                                              released script names is found in it
#   3. integration tests in tests/             (a separate crate talking to the cluster over TCP),
#                                              among them the update chain from every release
#   3b. multi-node: the cluster as coordinator of two shard servers (postgres_fdw foreign
#      partitions, ports base + 10 + 2 * (major - 15) and the next; scripts/multinode.sh), skipped
#      visibly where the installation has no postgres_fdw
#   4. segment.btyd() against Python lifetimes, pca_fit against scikit-learn (private virtualenv),
#      segment.pseudonym() against Python's hmac; CDNOW's published Pareto/NBD and BG/NBD figures
#      and the holdout checks against lifetimes (tests/cdnow_check.py)
#   5. allocation failure under an address-space limit (tests/memory.rs on a cluster started
#      under `ulimit -v`, on port base + 5)
# And for 15 (needs root and apt): 6. the Debian package installed on the system server and removed.
# Each major builds into a private installation (scripts/pg.sh), so test builds never touch the
# system PostgreSQL and two checkouts can test at once. Tests that need pg_cron (Debian's
# postgresql-15-cron; none of the wheels has it) are skipped on the other majors, and counted.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
# Ports base .. base + 17 (see run_major). The default sits below 32768, outside Linux's
# ephemeral range (ip_local_port_range 32768-60999): a port inside it can be held, at the
# moment a test server starts, by the client end of one of the thousands of connections the
# tests make ("could not bind ... Address already in use" in a fresh-clone run).
BASE_PORT="${PGSEG_TEST_PORT:-25329}"
passed=0; failed=0; skipped=0

# Debian's 15 is needed whatever PG_CONFIG says: the private 15 is a copy of it
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config bash scripts/setup.sh || { echo "summary: 0 passed, 1 failed"; exit 1; }
export PGSEG_SETUP_DONE=1
. scripts/rundir.sh
. scripts/pg.sh
MAJORS="${PG:-$PGSEG_TESTED_MAJORS}"

count_cargo() {  # sums "test result: ok. N passed; M failed" lines of a cargo test log
    local log="$1" p f
    p=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
    f=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}')
    echo "$p $f"
}

# Counts the skips the integration tests recorded (tests/common.rs, skip()): a whole test that
# was skipped passed for cargo, and counts as skipped here instead.
count_skips() {
    local file="$1" whole parts
    [ -s "$file" ] || return 0
    sed 's/^/   skipped: /' "$file"
    whole=$(grep -c '^test ' "$file"); parts=$(grep -c '^part ' "$file")
    passed=$((passed - whole)); skipped=$((skipped + whole + parts))
}

# Runs a script that ends with "N passed, M failed" and adds its counts.
count_script() {
    local log="$1"; shift
    "$@" >"$log" 2>&1
    local rc=$? p f
    sed 's/^/   /' "$log" | grep -Ev '^   \s*$' | tail -n 40
    local last; last=$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    p=$(echo "$last" | awk '{print $1+0}'); f=$(echo "$last" | awk '{print $3+0}')
    [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
    passed=$((passed + p)); failed=$((failed + f))
}

run_major() {
local major="$1"
pg_prepare "$major" || { failed=$((failed + 1)); return; }
local PORT=$((BASE_PORT + major - 15))
local CLUSTER="$RUNDIR/test$major"
WORK="$ROOT/.pg_segment/test/pg$major"
mkdir -p "$WORK"
local cron=0; pg_has_cron && cron=1
echo "=== PostgreSQL $major ($("$PG_CONFIG" --version), $PG_SOURCE), private install $PG_PREFIX, port $PORT, pg_cron: $([ $cron = 1 ] && echo yes || echo no)"
# ---- 1. pg_tests ----
echo "== layer 1: #[pg_test]s (cargo pgrx test)"
PGTEST_DIR="$RUNDIR/pgtest$major"
if [ "$(id -u)" -eq 0 ]; then
    mkdir -p "$PGTEST_DIR"; chown postgres "$PGTEST_DIR"
    # the test framework's files must be reachable by user postgres
    chmod o+rx "$ROOT" "$ROOT/target" 2>/dev/null || true
    runas=(--runas postgres --pgdata "$PGTEST_DIR/data")
else
    runas=()
fi
log="$WORK/pgrx-test.log"
cargo pgrx test "pg$major" "${runas[@]}" >"$log" 2>&1
rc=$?
read -r p f < <(count_cargo "$log")
grep -E '^test .* \.\.\. (ok|FAILED|ignored)' "$log" | sed 's/^/   /' | grep -v ' ok$' || true
echo "   pg_test: $p passed, $f failed (log: $log)"
passed=$((passed + p)); failed=$((failed + f))
if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    tail -n 40 "$log"; failed=$((failed + 1));
fi

# ---- 2. pg_regress ----
echo "== layer 2: pg_regress (pg_test/)"
bash scripts/install.sh >"$WORK/install.log" 2>&1 || { tail -n 20 "$WORK/install.log"; failed=$((failed + 1)); return; }
count_script "$WORK/symbols.log" bash scripts/check_symbols.sh "$("$PG_CONFIG" --pkglibdir)/pg_segment.so"
# pg_cron, where the installation has it, is preloaded for the scheduled-refresh tests; its
# jobs run in background workers, in database pg_segment_cron
# max_locks_per_transaction: tests/security.rs plants some 14,000 hostile objects in
# pg_segment_cron and drops them in one DROP OWNED, one lock each (the default 64 x 100
# connections ran out, leaving them behind for the tests after it)
local conf=("max_parallel_workers_per_gather = 2" "max_worker_processes = 16" "max_locks_per_transaction = 512")
[ $cron = 1 ] && conf+=("shared_preload_libraries = 'pg_cron'" "cron.database_name = 'pg_segment_cron'"
    "cron.use_background_workers = on" "cron.max_running_jobs = 2")
bash scripts/cluster.sh start "$CLUSTER" "$PORT" "${conf[@]}" >/dev/null || { failed=$((failed + 1)); return; }
trap 'bash "$ROOT/scripts/cluster.sh" stop "'"$CLUSTER"'"' EXIT
PSQL=("$PG_BIN/psql" -X -q -h "$CLUSTER" -p "$PORT" -U postgres -v ON_ERROR_STOP=1)
PGOPTIONS="-c client_min_messages=warning" "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS pg_segment_regress" -c "CREATE DATABASE pg_segment_regress"
# pg_cron's database: created once and never dropped while the server runs (its scheduler
# exits for good when its database goes away); the README's examples run there
"${PSQL[@]}" -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = 'pg_segment_cron'" | grep -q 1 \
    || "${PSQL[@]}" -d postgres -c "CREATE DATABASE pg_segment_cron"
tests=$(cd pg_test/sql && ls *.sql | sed 's/\.sql$//' | sort | tr '\n' ' ')
rm -rf "$WORK/regress"; mkdir -p "$WORK/regress"
PGTZ=UTC "$PG_REGRESS" --use-existing --bindir="$PG_BIN" --host="$CLUSTER" --port="$PORT" --user=postgres \
    --inputdir=pg_test --outputdir="$WORK/regress" --dbname=pg_segment_regress $tests >"$WORK/regress.log" 2>&1
rc=$?
sed 's/^/   /' "$WORK/regress.log" | grep -E ' (ok|FAILED|failed)' || true
p=$(grep -Ec '\.\.\. ok|^ok ' "$WORK/regress.log"); f=$(grep -Ec 'FAILED|^not ok ' "$WORK/regress.log")
if [ $rc -ne 0 ]; then
    [ -f "$WORK/regress/regression.diffs" ] && head -n 80 "$WORK/regress/regression.diffs"
    [ "$f" -eq 0 ] && f=1
fi
echo "   pg_regress: $p passed, $f failed"
passed=$((passed + p)); failed=$((failed + f))

# ---- 3. integration tests ----
echo "== layer 3: integration tests (tests/)"
log="$WORK/integration.log"
local skips="$WORK/skips.txt"; rm -f "$skips"
PGSEG_TEST_HOST=127.0.0.1 PGSEG_TEST_PORT="$PORT" PGSEG_ROOT="$ROOT" PG_BIN="$PG_BIN" PGSEG_HAS_CRON=$cron \
    PGSEG_SKIPS="$skips" PGSEG_EXTENSION_DIR="$("$PG_CONFIG" --sharedir)/extension" \
    cargo test --release --no-fail-fast --manifest-path tests/Cargo.toml -- --test-threads=2 >"$log" 2>&1
rc=$?
read -r p f < <(count_cargo "$log")
grep -E '^test .* \.\.\. (FAILED)' "$log" | sed 's/^/   /' || true
echo "   integration: $p passed, $f failed (log: $log)"
if [ $rc -ne 0 ]; then grep -A 30 -E '^failures:|error(\[|:)' "$log" | head -n 80; [ "$f" -eq 0 ] && f=1; fi
passed=$((passed + p)); failed=$((failed + f))
count_skips "$skips"

# ---- 3b. multi-node ----
echo "== layer 3b: multi-node (a coordinator and two postgres_fdw shard servers, scripts/multinode.sh)"
count_script "$WORK/multinode.log" bash scripts/multinode.sh "$CLUSTER" "$PORT" $((BASE_PORT + 10 + 2 * (major - 15)))
if grep -q '^skipped:' "$WORK/multinode.log"; then skipped=$((skipped + 1)); fi

# ---- 4. cross-checks against Python: lifetimes, scikit-learn, and the standard library's hmac ----
echo "== layer 4: segment.btyd() against Python lifetimes, pca_fit against scikit-learn (private virtualenv), segment.pseudonym() against Python's hmac"
VENV="$ROOT/.pg_segment/venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import lifetimes, sklearn" 2>/dev/null; then
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/requirements-lifetimes.txt \
        -r tests/requirements-sklearn.txt >"$WORK/pip.log" 2>&1 || { tail -n 20 "$WORK/pip.log"; }
fi
LT="$WORK/lifetimes"; rm -rf "$LT"; mkdir -p "$LT"
HMAC_KEY='pg_segment 交叉检验 cross-check key 2026'  # segment.pseudonym() against Python's hmac on the same key
"${PSQL[@]}" -d pg_segment_regress >/dev/null <<SQL
SET TimeZone = 'Asia/Shanghai';
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_segment;
DROP TABLE IF EXISTS lt_orders;
CREATE TABLE lt_orders AS SELECT * FROM segment.sample_orders(3000, 2024) WHERE NOT is_refund;
\copy (SELECT customer_id, to_char(ordered_at, 'YYYY-MM-DD HH24:MI:SS.US') AS ordered_at, amount FROM lt_orders ORDER BY order_id) TO '$LT/purchases.csv' CSV HEADER
\copy (SELECT u.unit, customer_id, (b).frequency, (b).recency, (b).t, (b).monetary_value FROM (SELECT customer_id, segment.rfm_agg(ordered_at, amount) s FROM lt_orders GROUP BY 1) x CROSS JOIN LATERAL (VALUES ('days', timestamptz '2025-06-30 23:59:59.999999+08'), ('weeks', timestamptz '2025-06-29 23:59:59.999999+08')) u(unit, as_of) CROSS JOIN LATERAL (SELECT segment.btyd(s, u.as_of, u.unit, 'Asia/Shanghai') b) y WHERE (b) IS NOT NULL) TO '$LT/btyd.csv' CSV HEADER
DROP TABLE lt_orders;
LOAD 'pg_segment';
SET pg_segment.pseudonym_key = '$HMAC_KEY';
\copy (SELECT p.purpose, k.kind, k.customer_key, segment.pseudonym(k.customer_key, p.purpose) AS pseudonym FROM (VALUES (''), ('sms'), ('广告')) p(purpose) CROSS JOIN (SELECT 'integer' AS kind, g::text AS customer_key FROM generate_series(1, 3000) g UNION ALL SELECT 'text', 'C' || lpad(g::text, 6, '0') FROM generate_series(1, 1000) g UNION ALL SELECT 'chinese', '顾客-' || g FROM generate_series(1, 1000) g UNION ALL SELECT 'uuid', md5(g::text)::uuid::text FROM generate_series(1, 1000) g) k ORDER BY 1, 2, 3) TO '$LT/pseudonyms.csv' CSV HEADER
SQL
count_script "$WORK/lifetimes.log" "$VENV/bin/python" tests/lifetimes_check.py "$LT"
# principal components of the sample store's features (recency, orders, spend, tenure) with
# three option sets, against StandardScaler + PCA on the same vectors
PC="$WORK/pca"; rm -rf "$PC"; mkdir -p "$PC"
"${PSQL[@]}" -d pg_segment_regress >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_segment;
DROP TABLE IF EXISTS pc_features, pc_models;
CREATE TABLE pc_features AS
SELECT customer_id, ARRAY[segment.recency_days(s, a, 'Asia/Shanghai'), segment.frequency(s, a), segment.monetary(s, a), segment.tenure_days(s, a, 'Asia/Shanghai')]::float8[] AS f
FROM (SELECT customer_id, segment.rfm_agg(ordered_at, amount, is_refund) AS s FROM segment.sample_orders(3000, 2024) GROUP BY 1) x,
     (SELECT timestamptz '2026-01-01 00:00+08' AS a) y
WHERE segment.frequency(s, a) > 0 AND segment.monetary(s, a) > 0;
CREATE TABLE pc_models AS
SELECT name, o AS options, (SELECT segment.pca_fit(f, o) FROM pc_features) AS m
FROM (VALUES ('zscore', '{}'::jsonb), ('log_zscore_2', '{"standardize": "log_zscore", "n_components": 2}'),
             ('variance_0.8', '{"variance": 0.8}')) v(name, o);
\copy (SELECT customer_id, f[1] AS f1, f[2] AS f2, f[3] AS f3, f[4] AS f4 FROM pc_features ORDER BY 1) TO '$PC/features.csv' CSV HEADER
\copy (SELECT name, options, m AS model FROM pc_models ORDER BY 1) TO '$PC/models.csv' CSV HEADER
\copy (SELECT name, customer_id, y[1] AS y1, y[2] AS y2, y[3] AS y3, y[4] AS y4 FROM pc_models, pc_features, LATERAL (SELECT segment.pca_transform(m, f) AS y) t ORDER BY 1, 2) TO '$PC/coords.csv' CSV HEADER
DROP TABLE pc_features, pc_models;
SQL
count_script "$WORK/pca.log" "$VENV/bin/python" tests/pca_check.py "$PC"
count_script "$WORK/hmac.log" python3 tests/hmac_check.py "$LT/pseudonyms.csv" "$HMAC_KEY"
# CDNOW (the lifetimes wheel ships its raw orders): published Pareto/NBD and BG/NBD figures,
# calibration_holdout and the conditional expectations against lifetimes (tests/cdnow_check.py)
CDNOW="$("$VENV/bin/python" -c 'import os, lifetimes.datasets as d; print(os.path.dirname(d.__file__))')/CDNOW_sample.txt"
awk '{printf "%d,%s-%s-%s,%s\n", $1, substr($3, 1, 4), substr($3, 5, 2), substr($3, 7, 2), $5}' "$CDNOW" >"$LT/cdnow.csv"
"${PSQL[@]}" -d pg_segment_regress >/dev/null <<SQL
SET TimeZone = 'UTC';
CREATE TEMP TABLE cdnow (customer_id integer, day date, amount numeric);
\copy cdnow FROM '$LT/cdnow.csv' CSV
CREATE TEMP TABLE h AS SELECT customer_id, (segment.calibration_holdout(segment.rfm_agg(day::timestamptz, amount),
    '1997-09-30 23:59:59.999999+00', '1998-06-30 23:59:59.999999+00', 'days', 'UTC')).* FROM cdnow GROUP BY 1;
\copy (SELECT * FROM h ORDER BY customer_id) TO '$LT/cdnow_holdout.csv' CSV HEADER
CREATE TEMP TABLE m AS SELECT segment.pareto_nbd_fit(frequency_cal, recency_cal / 7, t_cal / 7, 'weeks') p,
    segment.bgnbd_fit(frequency_cal, recency_cal / 7, t_cal / 7, 'weeks') b,
    segment.holdout_agg(frequency_cal, recency_cal / 7, t_cal / 7, frequency_holdout, duration_holdout / 7, 'weeks') hs FROM h;
\copy (SELECT 'pareto_nbd' AS model, (p).r, (p).alpha, (p).s AS a_or_s, (p).beta AS b_or_beta, (p).log_likelihood, (p).converged FROM m UNION ALL SELECT 'bgnbd', (b).r, (b).alpha, (b).a, (b).b, (b).log_likelihood, (b).converged FROM m) TO '$LT/cdnow_models.csv' CSV HEADER
\copy (SELECT 'pareto_nbd' AS model, c.* FROM m, segment.conditional_expectations(p, hs) c UNION ALL SELECT 'bgnbd', c.* FROM m, segment.conditional_expectations(b, hs) c) TO '$LT/cdnow_conditional.csv' CSV HEADER
SQL
count_script "$WORK/cdnow.log" "$VENV/bin/python" tests/cdnow_check.py "$LT"

bash "$ROOT/scripts/cluster.sh" stop "$CLUSTER"
trap - EXIT

# ---- 5. allocation failure under an address-space limit ----
# Every server process may map at most 1.5 GB, and postgresql.conf lifts pg_segment's own limits
# (a superuser's setting), so that the calls of tests/memory.rs really run out of memory: each
# must end with an ERROR while its backend and the postmaster live on. The sizes in
# tests/memory.rs are chosen against this limit.
echo "== layer 5: allocation failure under an address-space limit (ulimit -v)"
local LPORT=$((PORT + 5)) LDIR="$RUNDIR/aslimit$major"
PGSEG_ULIMIT_V=$((1536 * 1024)) bash scripts/cluster.sh start "$LDIR" "$LPORT" "max_parallel_workers_per_gather = 0" \
    "pg_segment.memory_limit = '1TB'" "pg_segment.population_memory_limit = '1TB'" >/dev/null \
    || { failed=$((failed + 1)); return; }
trap 'bash "$ROOT/scripts/cluster.sh" stop "'"$LDIR"'"' EXIT
log="$WORK/memory.log"
PGSEG_TEST_HOST=127.0.0.1 PGSEG_TEST_PORT="$LPORT" PGSEG_ROOT="$ROOT" PG_BIN="$PG_BIN" \
    cargo test --release --manifest-path tests/Cargo.toml --test memory -- --ignored --test-threads=1 >"$log" 2>&1
rc=$?
read -r p f < <(count_cargo "$log")
grep -E '^test .* \.\.\. (FAILED)' "$log" | sed 's/^/   /' || true
# an abort would show in the server log even if a test missed it
if grep -E 'terminated by signal|terminating any other active server processes' "$LDIR/server.log" | sed 's/^/   server log: /'; then
    f=$((f + 1))
fi
echo "   memory: $p passed, $f failed (log: $log)"
if [ $rc -ne 0 ]; then grep -A 30 -E '^failures:|error(\[|:)' "$log" | head -n 60; [ "$f" -eq 0 ] && f=1; fi
passed=$((passed + p)); failed=$((failed + f))
bash "$ROOT/scripts/cluster.sh" stop "$LDIR"
trap - EXIT

# ---- 6. the Debian package on the system server ----
if [ "$major" = 15 ]; then
    echo "== layer 6: Debian package installed on the system PostgreSQL 15 and removed (scripts/package_test.sh)"
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        echo "   skipped: needs root and apt-get"; skipped=$((skipped + 1))
    else
        count_script "$WORK/package.log" bash scripts/package_test.sh "$((BASE_PORT + 9))"
    fi
fi
}

echo "== layer 0: release checks (scripts/check_release.sh)"
mkdir -p "$ROOT/.pg_segment/test"
count_script "$ROOT/.pg_segment/test/release.log" bash scripts/check_release.sh
echo "== core: the core crate's #[test]s (cargo test -p pg_segment_core, no PostgreSQL)"
log="$ROOT/.pg_segment/test/core.log"
cargo test -p pg_segment_core >"$log" 2>&1
rc=$?
read -r p f < <(count_cargo "$log")
grep -E '^test .* \.\.\. (FAILED|ignored)' "$log" | sed 's/^/   /' || true
echo "   core: $p passed, $f failed (log: $log)"
passed=$((passed + p)); failed=$((failed + f))
if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    tail -n 40 "$log"; failed=$((failed + 1));
fi
for major in $MAJORS; do
    run_major "$major"
done
echo
if [ "$skipped" -gt 0 ]; then
    echo "summary: $passed passed, $failed failed, $skipped skipped"
else
    echo "summary: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
