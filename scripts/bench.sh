#!/usr/bin/env bash
# `make bench` (BENCH_SIZE=quick|full): times pg_segment against native PostgreSQL in one run on a
# throwaway cluster and writes bench/results-<size>.md. Each query runs 3 times in a fresh
# backend; the median execution time (EXPLAIN ANALYZE, TIMING OFF) and the backend's peak
# resident memory (VmHWM) are reported, with ratios to the native GROUP BY baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench_lib.sh
# the default store has about 4.4 orders per customer; these documented parameters give about
# 10, the shape of the reference workload (10 million orders for 1 million customers)
PARAMS='{"alpha": 12, "b": 6}'
SIZE="${BENCH_SIZE:-quick}"
case "$SIZE" in
    quick) CUSTOMERS=100000 ;;   # about 1 million order rows
    full)  CUSTOMERS=1000000 ;;  # about 10 million order rows
    *) echo "BENCH_SIZE must be quick or full" >&2; exit 2 ;;
esac
. scripts/rundir.sh; WORK="$RUNDIR/bench"; CSV="$RUNDIR/bench_orders.csv"; PORT="${PGSEG_BENCH_PORT:-25320}"
bash scripts/cluster.sh start "$WORK" "$PORT" "work_mem = '256MB'" "shared_buffers = '2GB'" \
    "max_parallel_workers_per_gather = 0" "jit = off"
trap 'bash "$ROOT/scripts/cluster.sh" stop "$WORK"' EXIT
PSQL=(psql -X -q -At -h "$WORK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)

AS_OF="'2026-01-01 00:00+08'"
TZO='"tz": "Asia/Shanghai"'
# the whole-population aggregate every population row runs (over orders, or orders_part)
POP_AGG="segment.population_agg(customer_id, ordered_at, amount, $AS_OF, '{$TZO, \"lang\": \"en\"}')"

echo "[bench] generating the sample store ($CUSTOMERS customers)"
"${PSQL[@]}" <<SQL
CREATE EXTENSION IF NOT EXISTS pg_segment;
DROP TABLE IF EXISTS orders, summary, plain, orders_text;
CREATE TABLE orders AS SELECT customer_id, ordered_at, amount FROM segment.sample_orders($CUSTOMERS, 42, '$PARAMS') ORDER BY random();
VACUUM ANALYZE orders;
CREATE TABLE summary AS SELECT customer_id, segment.rfm_agg(ordered_at, amount) s FROM orders GROUP BY 1;
CREATE TABLE plain AS SELECT customer_id, max(ordered_at) last, count(*) n, sum(amount) m FROM orders GROUP BY 1;
-- the same orders keyed by text codes, for a segmentation view over non-integer keys
CREATE TABLE orders_text AS SELECT 'C' || lpad(customer_id::text, 8, '0') AS customer_code, ordered_at, amount FROM orders;
VACUUM ANALYZE summary; VACUUM ANALYZE plain; VACUUM ANALYZE orders_text;
-- the population of every customer, stored: population_rows alone, without the aggregate
DROP TABLE IF EXISTS population;
CREATE TABLE population AS SELECT $POP_AGG p FROM orders;
-- the same orders hash-partitioned by customer (issue 18 item 3): with parallel_workers = 0 on each
-- partition a worker takes whole partitions, so the partial states hold disjoint customers
CREATE TABLE orders_part (customer_id bigint, ordered_at timestamptz, amount numeric(12,2)) PARTITION BY HASH (customer_id);
CREATE TABLE orders_part_0 PARTITION OF orders_part FOR VALUES WITH (MODULUS 4, REMAINDER 0) WITH (parallel_workers = 0);
CREATE TABLE orders_part_1 PARTITION OF orders_part FOR VALUES WITH (MODULUS 4, REMAINDER 1) WITH (parallel_workers = 0);
CREATE TABLE orders_part_2 PARTITION OF orders_part FOR VALUES WITH (MODULUS 4, REMAINDER 2) WITH (parallel_workers = 0);
CREATE TABLE orders_part_3 PARTITION OF orders_part FOR VALUES WITH (MODULUS 4, REMAINDER 3) WITH (parallel_workers = 0);
INSERT INTO orders_part SELECT customer_id, ordered_at, amount FROM orders;
VACUUM ANALYZE orders_part;
SQL
# DuckDB (pinned in scripts/requirements-bench.txt, in a virtualenv of its own) runs the hand-written
# query over the same rows, loaded from a CSV in memory before it is timed
VENV="$ROOT/.pg_segment/bench-venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-bench.txt
"${PSQL[@]}" -c "SET TimeZone = 'UTC'" -c "COPY orders TO STDOUT WITH (FORMAT csv)" >"$CSV"
ROWS=$("${PSQL[@]}" -c "SELECT count(*) FROM orders")
NCUST=$("${PSQL[@]}" -c "SELECT count(*) FROM summary")

# name | settings | query (wrapped so that every output column is computed and nothing is sent to
# the client). Settings apply to that query only (e.g. 2 parallel workers).
# the report's migration compares two snapshots of the view (taken once, before its first run)
SNAPS="SELECT segment.take_snapshot('bench_view', t) FROM (VALUES (timestamptz '2025-12-01 00:00+08'), ('2026-01-01 00:00+08')) v(t) WHERE NOT EXISTS (SELECT FROM segment.segment_snapshots s WHERE s.view_name = 'bench_view' AND s.taken_at = v.t);"
# the sums the DuckDB query ends with, over population_rows' columns
POP_SUMS="count(*), sum(r + f + m), count(segment), count(tier), count(lifecycle_stage), count(cadence)"
PAR="SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;"
# the hand-written RFM of issue 18 (GROUP BY, three NTILE and a cume_dist for the tier), in SQL that
# PostgreSQL and DuckDB both run; the sums make every window be computed
HANDWRITTEN="SELECT count(*), sum(r + f + mm), sum(c) FROM (SELECT customer_id, ntile(5) OVER (ORDER BY last) r, ntile(5) OVER (ORDER BY n) f, ntile(5) OVER (ORDER BY m) mm, cume_dist() OVER (ORDER BY m DESC) c FROM (SELECT customer_id, max(ordered_at) last, count(*) n, sum(amount) m FROM orders GROUP BY customer_id) g) x"
QUERIES=(
"seq_scan||SELECT count(*) FROM orders"
"column_read||SELECT max(customer_id), max(ordered_at), count(amount) FROM orders"
"native_group_by|SET work_mem = '1GB';|SELECT count(x) FROM (SELECT customer_id, max(ordered_at), count(*), sum(amount) FROM orders GROUP BY customer_id) x"
"native_group_by_256mb||SELECT count(x) FROM (SELECT customer_id, max(ordered_at), count(*), sum(amount) FROM orders GROUP BY customer_id) x"
"native_group_by_2_workers|$PAR|SELECT count(x) FROM (SELECT customer_id, max(ordered_at), count(*), sum(amount) FROM orders GROUP BY customer_id) x"
"rfm_agg_group_by||SELECT count(x) FROM (SELECT customer_id, segment.rfm_agg(ordered_at, amount) FROM orders GROUP BY customer_id) x"
"handwritten_rfm_ntile||SELECT count(x) FROM (SELECT customer_id, ntile(5) OVER (ORDER BY last) r, ntile(5) OVER (ORDER BY n) f, ntile(5) OVER (ORDER BY m) m FROM (SELECT customer_id, max(ordered_at) last, count(*) n, sum(amount) m FROM orders GROUP BY customer_id) g) x"
"handwritten_rfm|SET work_mem = '1GB';|$HANDWRITTEN"
"ntile_step_only||SELECT count(x) FROM (SELECT customer_id, ntile(5) OVER (ORDER BY last) r, ntile(5) OVER (ORDER BY n) f, ntile(5) OVER (ORDER BY m) m FROM plain) x"
"breaks_and_scores||SELECT count(x) FROM (SELECT customer_id, segment.rfm_score(s, b, $AS_OF, 'Asia/Shanghai') FROM summary, (SELECT segment.rfm_breaks(s, $AS_OF, 5, '{$TZO}') b FROM summary) br) x"
"composable_full||SELECT count(x) FROM (SELECT customer_id, segment.rfm_segment(sc, 'rfm11', 'en'), segment.customer_tier(cume_dist() OVER (ORDER BY segment.monetary(s, $AS_OF) DESC), '{}', 'en'), segment.lifecycle_stage(s, $AS_OF, '{}', 'en', 'Asia/Shanghai'), segment.purchase_cadence(s, $AS_OF, '{}', 'en', 'Asia/Shanghai') FROM (SELECT customer_id, segment.rfm_agg(ordered_at, amount) s FROM orders GROUP BY 1) g, (SELECT segment.rfm_breaks(s, $AS_OF, 5, '{$TZO}') b FROM summary) br, LATERAL segment.rfm_score(s, b, $AS_OF, 'Asia/Shanghai') sc) x"
"population_serial||SELECT count(x) FROM segment.population_rows((SELECT $POP_AGG FROM orders)) x"
"population_serial_sums||SELECT $POP_SUMS FROM segment.population_rows((SELECT $POP_AGG FROM orders))"
"population_rows_stored||SELECT $POP_SUMS FROM segment.population_rows((SELECT p FROM population))"
"population_2_workers|$PAR|SELECT count(x) FROM segment.population_rows((SELECT $POP_AGG FROM orders)) x"
"population_partitioned|SET enable_partitionwise_aggregate = on;|SELECT count(x) FROM segment.population_rows((SELECT $POP_AGG FROM orders_part)) x"
"population_partitioned_2_workers|$PAR SET enable_partitionwise_aggregate = on;|SELECT count(x) FROM segment.population_rows((SELECT $POP_AGG FROM orders_part)) x"
"population_2_workers_no_leader|$PAR SET parallel_leader_participation = off;|SELECT count(x) FROM segment.population_rows((SELECT $POP_AGG FROM orders)) x"
"view_create|SELECT segment.drop_segment_view(view_name) FROM segment.segment_views WHERE view_name = 'bench_view';|SELECT segment.create_segment_view('bench_view', 'orders', 'customer_id', 'ordered_at', 'amount', '{\"as_of\": \"2026-01-01 00:00+08\", $TZO}')"
"view_create_text_keys|SELECT segment.drop_segment_view(view_name) FROM segment.segment_views WHERE view_name = 'bench_text_view';|SELECT segment.create_segment_view('bench_text_view', 'orders_text', 'customer_code', 'ordered_at', 'amount', '{\"as_of\": \"2026-01-01 00:00+08\", $TZO}')"
"view_refresh_concurrently||SELECT segment.refresh_segment_view('bench_view')"
"view_refresh||SELECT segment.refresh_segment_view('bench_view', false)"
"report_peer_kpis_migration|$SNAPS|SELECT (SELECT count(*) FROM segment.segment_kpis('bench_view', 'segment')) + (SELECT count(*) FROM segment.tier_migration('bench_view', '2025-12-01 00:00+08', '2026-01-01 00:00+08'))"
"report|$SNAPS|SELECT length(segment.report('bench_view'))"
)

run_one() {  # settings, query: prints "<ms> <peak kB> <workers launched> <spilled: yes|no>" for one run in a fresh backend
    "${PSQL[@]}" <<SQL | awk '/Execution Time/ {t=$3} /Workers Launched/ {w+=$3} /^VmHWM/ {m=$2} /Disk Usage|Disk: / {d="yes"} END {print t, m, w+0, d ? d : "no"}'
$1
EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON, COSTS OFF) $2;
SELECT line FROM regexp_split_to_table(pg_read_file('/proc/self/status'), E'\n') line WHERE line LIKE 'VmHWM%';
SQL
}

declare -A MS MEM WORKERS SPILL
for q in "${QUERIES[@]}"; do
    IFS='|' read -r name settings sql <<<"$q"
    times=(); mems=()
    for i in 1 2 3; do read -r t m w d < <(run_one "$settings" "$sql"); times+=("$t"); mems+=("$m"); WORKERS[$name]=$w; SPILL[$name]=$d; done
    MS[$name]=$(printf '%s\n' "${times[@]}" | sort -g | sed -n 2p)
    MEM[$name]=$(printf '%s\n' "${mems[@]}" | sort -g | tail -n 1)
    printf '[bench] %-32s %10.1f ms  peak %8d kB  workers %s  spilled %s\n' "$name" "${MS[$name]}" "${MEM[$name]}" "${WORKERS[$name]}" "${SPILL[$name]}"
done
read -r DUCK_MS DUCK_VERSION < <("$VENV/bin/python" scripts/bench_duckdb.py "$CSV" "$(nproc)" "$HANDWRITTEN")
rm -f "$CSV"
printf '[bench] %-32s %10.1f ms  (DuckDB %s, %s threads, in memory)\n' duckdb_handwritten_rfm "$DUCK_MS" "$DUCK_VERSION" "$(nproc)"

mkdir -p bench
OUT="bench/results-$SIZE.md"
base=${MS[native_group_by]}; ntile=${MS[ntile_step_only]}
{
    bench_header "pg_segment benchmark ($SIZE)" "BENCH_SIZE=$SIZE make bench"
    echo "PostgreSQL: $("${PSQL[@]}" -c 'SHOW server_version'); work_mem 256MB, shared_buffers 2GB, jit off; serial plans (max_parallel_workers_per_gather = 0) unless a query lists settings below."
    echo "Ratios are to the native GROUP BY at work_mem 1GB (\`native_group_by\`, which does not spill at either size; the \`spilled\` column says whether a plan wrote to disk). DuckDB $DUCK_VERSION runs \`handwritten_rfm\` with $(nproc) threads over the same rows in memory (scripts/bench_duckdb.py)."
    echo "Data: $ROWS order rows, $NCUST customers (segment.sample_orders($CUSTOMERS, 42, '$PARAMS'), rows in random order)."
    echo "Each figure is the median of 3 runs in fresh backends (EXPLAIN ANALYZE execution time); peak memory is the backend's VmHWM."
    echo
    echo "| query | time (ms) | ratio to native GROUP BY | peak leader backend memory (MB) | parallel workers launched | spilled |"
    echo "|---|---:|---:|---:|---:|---|"
    for q in "${QUERIES[@]}"; do
        name="${q%%|*}"
        printf '| %s | %.1f | %.2f | %.0f | %s | %s |\n' "$name" "${MS[$name]}" "$(awk -v a="${MS[$name]}" -v b="$base" 'BEGIN {print a / b}')" "$(awk -v a="${MEM[$name]}" 'BEGIN {print a / 1024}')" "${WORKERS[$name]}" "${SPILL[$name]}"
    done
    printf '| duckdb_handwritten_rfm | %.1f | %.2f | | | |\n' "$DUCK_MS" "$(awk -v a="$DUCK_MS" -v b="$base" 'BEGIN {print a / b}')"
    echo
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
    echo "Targets (issue 6), as measured in this run:"
    echo
    echo "- whole-population path, serial: $(ratio "${MS[population_serial]}" "$base") of native (target at most 0.75)"
    echo "- whole-population path, 2 workers: $(ratio "${MS[population_2_workers]}" "$base") of native with the leader scanning too, $(ratio "${MS[population_2_workers_no_leader]}" "$base") with parallel_leader_participation = off (target at most 0.5)"
    echo "- composable summary aggregate (rfm_agg_group_by): $(ratio "${MS[rfm_agg_group_by]}" "$base") of native (target at most 1.0)"
    echo "- quantile scoring of stored summaries (breaks_and_scores / ntile_step_only): $(ratio "${MS[breaks_and_scores]}" "$ntile") (target at most 0.5)"
    echo "- whole-population path, serial, against the non-spilling native GROUP BY: $(ratio "${MS[population_serial]}" "$base") (target at most 0.5, issue 18)"
    echo "- whole-population path, serial, against DuckDB's hand-written query: $(ratio "${MS[population_serial]}" "$DUCK_MS")x DuckDB's time (target at most 2, issue 18); the hand-written query in PostgreSQL: $(ratio "${MS[handwritten_rfm]}" "$DUCK_MS")x"
    echo "- the same, reading the rows' columns into sums the way the DuckDB query ends (population_serial_sums, no whole-row value per customer): $(ratio "${MS[population_serial_sums]}" "$DUCK_MS")x DuckDB's time"
    echo "- PostgreSQL's part of the full segmentation, which no aggregate speed removes: reading the columns (column_read) plus expanding a stored population into rows (population_rows_stored, a FROM-clause function's tuplestore): $(ratio "$(awk -v a="${MS[column_read]}" -v b="${MS[population_rows_stored]}" 'BEGIN {print a + b}')" "$DUCK_MS")x DuckDB's time"
    echo "- hash partitions by customer, 2 workers against serial: $(ratio "${MS[population_partitioned_2_workers]}" "${MS[population_partitioned]}") (below 1 means the parallel plan is faster, issue 18)"
    echo "- the report of the view (report / report_peer_kpis_migration, i.e. segment_kpis plus tier_migration on it): $(ratio "${MS[report]}" "${MS[report_peer_kpis_migration]}") (target under 2, issue 17)"
    echo
    echo "Queries:"
    echo
    for q in "${QUERIES[@]}"; do
        IFS='|' read -r name settings sql <<<"$q"
        echo "- \`$name\`: ${settings:+\`$settings\` then }\`$sql\`"
    done
    echo "- \`duckdb_handwritten_rfm\`: \`handwritten_rfm\`'s query in DuckDB"
} >"$OUT"
echo "[bench] wrote $OUT"
cat "$OUT"
