#!/usr/bin/env bash
# Multi-node check (issue 18): a coordinator and two shard servers on this machine (throwaway
# clusters, loopback only), orders hash-partitioned by customer over postgres_fdw foreign
# partitions whose servers list `extensions 'pg_segment'`, so that the per-customer rfm_agg runs
# on the shards and one row per customer reaches the coordinator. Checks that the population
# equals the single-node one row for row and that EXPLAIN VERBOSE shows rfm_agg in the Remote SQL.
#   scripts/multinode.sh COORDINATOR_SOCKET_DIR COORDINATOR_PORT SHARD_PORT
# The coordinator is a running cluster with pg_segment installed (scripts/test.sh's); the shards
# are started on SHARD_PORT and SHARD_PORT + 1 with the same binaries ($PG_BIN) and stopped at
# the end. Ends with "multinode: N passed, M failed"; an installation without postgres_fdw is skipped,
# saying so ("skipped: ...").
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
. scripts/rundir.sh
coord_dir="$1"; coord_port="$2"; shard_port="$3"
BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_CONFIG="${PG_CONFIG:-$BIN/pg_config}"
. scripts/nodes.sh

if [ ! -f "$("$PG_CONFIG" --sharedir)/extension/postgres_fdw.control" ]; then
    echo "skipped: $("$PG_CONFIG" --version) has no postgres_fdw"
    echo "multinode: 0 passed, 0 failed"
    exit 0
fi

shards=("$RUNDIR/shard_a" "$RUNDIR/shard_b")
stop_shards() { for d in "${shards[@]}"; do bash scripts/cluster.sh stop "$d"; done; }
trap stop_shards EXIT
for i in 0 1; do
    # every statement is logged, so that the checks can see what postgres_fdw asked a shard
    PG_BIN="$BIN" bash scripts/cluster.sh start "${shards[$i]}" $((shard_port + i)) "log_statement = 'all'" >/dev/null \
        || { echo "multinode: 0 passed, 1 failed"; exit 1; }
done

coord() { node_psql "$coord_dir" "$coord_port" pg_segment_multinode "$@"; }

for i in 0 1; do
    node_psql "${shards[$i]}" $((shard_port + i)) postgres \
        "CREATE EXTENSION pg_segment" \
        "CREATE TABLE orders (order_id bigint, customer_id bigint, ordered_at timestamptz, amount numeric(12,2), is_refund boolean)" \
        >/dev/null || { echo "multinode: 0 passed, 1 failed"; exit 1; }
done
node_psql "$coord_dir" "$coord_port" postgres "DROP DATABASE IF EXISTS pg_segment_multinode" "CREATE DATABASE pg_segment_multinode" >/dev/null
setup=(
    "CREATE EXTENSION pg_segment"
    "CREATE EXTENSION postgres_fdw"
    "CREATE TABLE orders_local AS SELECT order_id, customer_id, ordered_at, amount, is_refund FROM segment.sample_orders(3000, 11)"
    "CREATE TABLE orders_dist (order_id bigint, customer_id bigint, ordered_at timestamptz, amount numeric(12,2), is_refund boolean)
         PARTITION BY HASH (customer_id)"
)
for i in 0 1; do
    setup+=(
        "CREATE SERVER shard_$i FOREIGN DATA WRAPPER postgres_fdw
             OPTIONS (host '127.0.0.1', port '$((shard_port + i))', dbname 'postgres', extensions 'pg_segment')"
        "CREATE USER MAPPING FOR CURRENT_USER SERVER shard_$i OPTIONS (user 'postgres')"
        "CREATE FOREIGN TABLE orders_dist_$i PARTITION OF orders_dist FOR VALUES WITH (MODULUS 2, REMAINDER $i)
             SERVER shard_$i OPTIONS (table_name 'orders')"
    )
done
setup+=(
    "INSERT INTO orders_dist SELECT * FROM orders_local"
    "ANALYZE orders_dist_0"
    "ANALYZE orders_dist_1"
)
coord "${setup[@]}" >/dev/null || { echo "multinode: 0 passed, 1 failed"; exit 1; }

# every shard holds only its customers, and together they hold every row
a=$(node_psql "${shards[0]}" "$shard_port" postgres "SELECT count(*) FROM orders")
b=$(node_psql "${shards[1]}" $((shard_port + 1)) postgres "SELECT count(*) FROM orders")
check "the shards hold every row, split" "$((a + b)) $([ "$a" -gt 0 ] && [ "$b" -gt 0 ] && echo split)" "$(coord "SELECT count(*) FROM orders_local") split"

as_of="'2025-06-30 00:00+08'"
per_customer="SELECT customer_id, segment.rfm_agg(ordered_at, amount, is_refund) AS s FROM orders_dist GROUP BY customer_id"
dist="SELECT segment.population_agg(customer_id, s, $as_of, '{\"tz\": \"Asia/Shanghai\"}') FROM ($per_customer) c"
local_q="SELECT segment.population_agg(customer_id, ordered_at, amount, is_refund, $as_of, '{\"tz\": \"Asia/Shanghai\"}') FROM orders_local"
pw="SET enable_partitionwise_aggregate = on"

plan=$(coord "$pw" "EXPLAIN (VERBOSE, COSTS OFF) $dist")
check "EXPLAIN VERBOSE: rfm_agg ... GROUP BY customer_id in the Remote SQL of both shards" \
    "$(grep -c 'Remote SQL: SELECT customer_id, segment.rfm_agg(ordered_at, amount, is_refund) FROM public.orders GROUP BY 1' <<<"$plan")" "2"
check "EXPLAIN VERBOSE: no order row is fetched (every foreign scan is the pushed aggregate)" \
    "$(grep -c 'Relations: Aggregate on' <<<"$plan") $(grep -c 'Foreign Scan on' <<<"$plan")" "2 0"

differing="$POPULATION_DIFFERING"
check "the sharded population equals the single-node one, row for row" \
    "$(coord "$pw" "$differing FROM ($dist) d(p), ($local_q) l(p)")" "0 3000"
check "the per-customer summaries from the shards equal the local ones" \
    "$(coord "$pw" "SELECT count(*) FROM (SELECT customer_id, s::text FROM ($per_customer) d
                                           EXCEPT SELECT customer_id, segment.rfm_agg(ordered_at, amount, is_refund)::text FROM orders_local GROUP BY 1) x")" "0"
# without tz: days are counted on the coordinator, in its session's zone (postgres_fdw's remote
# sessions run in UTC, but the shards only gather instants), and the value records that zone
check "without tz the sharded population counts days in the coordinator's zone" \
    "$(coord "$pw" "SET TimeZone = 'Asia/Shanghai'" \
        "$differing FROM (SELECT segment.population_agg(customer_id, s, $as_of) FROM ($per_customer) c) d(p),
                         (SELECT segment.population_agg(customer_id, ordered_at, amount, is_refund, $as_of, '{}') FROM orders_local) l(p)")" "0 3000"
check "the population records the zone days were counted in" \
    "$(coord "$pw" "SET TimeZone = 'Asia/Shanghai'" "SELECT segment.population_info(segment.population_agg(customer_id, s, $as_of))->>'tz' FROM ($per_customer) c")" \
    "Asia/Shanghai"
# order rows fetched from the shards give the same population too
check "order rows over the foreign partitions give the single-node population" \
    "$(coord "$differing FROM (SELECT segment.population_agg(customer_id, ordered_at, amount, is_refund, $as_of, '{\"tz\": \"Asia/Shanghai\"}') FROM orders_dist) d(p), ($local_q) l(p)")" \
    "0 3000"

# a segmentation view over the foreign partitions takes the per-customer form by itself (its
# summaries' GROUP BY goes to the shards) and equals one over the local rows
view_opts="'{\"as_of\": \"2025-06-30 00:00+08\", \"tz\": \"Asia/Shanghai\", \"refund_column\": \"is_refund\"}'"
# the statements postgres_fdw sent the shards that aggregate with rfm_agg there
# (a logged DECLARE ... CURSOR FOR puts its query on the next line)
pushed() { cat "${shards[0]}/server.log" "${shards[1]}/server.log" | grep -c $'^\tSELECT customer_id, segment.rfm_agg('; }
before=$(pushed)
# created and refreshed from sessions that leave enable_partitionwise_aggregate off: the view's
# workers set it for their call, so the GROUP BY still goes to both shards
coord "SELECT segment.create_segment_view('view_dist', 'orders_dist', 'customer_id', 'ordered_at', 'amount', $view_opts)" \
    "SELECT segment.create_segment_view('view_local', 'orders_local', 'customer_id', 'ordered_at', 'amount', $view_opts)" >/dev/null
check "a view over the foreign partitions equals one over the local rows" \
    "$(coord "$(relations_differing view_dist view_local)") $(coord "SELECT count(*) FROM view_dist")" "0 3000"
check "creating the view ran rfm_agg on both shards, without the session's enable_partitionwise_aggregate" "$(($(pushed) - before))" "2"
before=$(pushed)
coord "SELECT segment.refresh_segment_view('view_dist')" "SELECT segment.refresh_segment_view('view_dist', false)" >/dev/null
check "both refreshes ran rfm_agg on both shards" "$(($(pushed) - before)) $(coord "$(relations_differing view_dist view_local)")" "4 0"
before=$(pushed)
# options merged over the old ones: {} rebuilds the view as it was, refilling it
coord "SELECT segment.alter_segment_view('view_dist', '{}')" >/dev/null
check "altering the view ran rfm_agg on both shards" "$(($(pushed) - before)) $(coord "$(relations_differing view_dist view_local)")" "2 0"
view_plan=$(coord "$pw" "EXPLAIN (VERBOSE, COSTS OFF) $(coord "SELECT definition FROM segment.segment_views WHERE view_name = 'view_dist'")")
check "the view's plan runs rfm_agg on both shards" "$(grep -c 'Remote SQL: SELECT customer_id, segment.rfm_agg(' <<<"$view_plan")" "2"

echo "$view_plan" >"$RUNDIR/multinode-view-plan.txt"
node_psql "$coord_dir" "$coord_port" postgres "DROP DATABASE pg_segment_multinode" >/dev/null
nodes_summary multinode
