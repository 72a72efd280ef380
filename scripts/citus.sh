#!/usr/bin/env bash
# make test-citus: the multi-node checks of scripts/multinode.sh on Citus, where a developer has
# built Citus by hand into a PostgreSQL installation (DEVELOPERS.md, "Citus"). Nothing here
# builds Citus: this script only finds it, through
#   PGSEG_CITUS_PG_CONFIG   the pg_config of that installation, or else
#   PG_CONFIG               (make's environment) when its pkglibdir holds citus.so.
# Without one it says so and exits 0 ("skipped: ..."). With one it installs this checkout's
# pg_segment there (release build in .pg_segment/citus-target, so that make test's build is
# untouched), starts a coordinator and two workers (throwaway clusters on loopback, ports
# PGSEG_CITUS_PORT.. +2, default PGSEG_TEST_PORT + 40), distributes the sample orders by customer
# over 32 shards, checks the results against a local copy on the coordinator, stops the clusters
# and ends with "citus: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
. scripts/rundir.sh

pgc="${PGSEG_CITUS_PG_CONFIG:-}"
if [ -z "$pgc" ] && [ -n "${PG_CONFIG:-}" ] && [ -x "$PG_CONFIG" ] && [ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]; then
    pgc="$PG_CONFIG"
fi
if [ -z "$pgc" ] || [ ! -x "$pgc" ] || [ ! -f "$("$pgc" --pkglibdir)/citus.so" ]; then
    why="${pgc:-${PG_CONFIG:-}}"
    echo "Citus not found: ${why:+$why has no citus.so; }set PGSEG_CITUS_PG_CONFIG to the pg_config of a PostgreSQL installation with Citus built into it (see DEVELOPERS.md)"
    echo "skipped: no Citus installation"
    echo "citus: 0 passed, 0 failed"
    exit 0
fi
BIN="$("$pgc" --bindir)"
. scripts/nodes.sh
echo "[citus] $("$pgc" --version), $(sed -n "s/^default_version = '\(.*\)'/citus \1/p" "$("$pgc" --sharedir)/extension/citus.control")"

# this checkout's pg_segment into that installation (its own target dir and PGRX_HOME)
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh >/dev/null || { echo "citus: 0 passed, 1 failed"; exit 1; }
mkdir -p "$RUNDIR/citus-pgrx"
printf '[configs]\npg%s = "%s"\n' "$("$pgc" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')" "$pgc" >"$RUNDIR/citus-pgrx/config.toml"
mkdir -p .pg_segment
PGSEG_SETUP_DONE=1 PG_CONFIG="$pgc" PGRX_HOME="$RUNDIR/citus-pgrx" CARGO_TARGET_DIR="$ROOT/.pg_segment/citus-target" \
    bash scripts/install.sh >"$RUNDIR/citus-install.log" 2>&1 \
    || { tail -n 20 "$RUNDIR/citus-install.log"; echo "citus: 0 passed, 1 failed"; exit 1; }
[ "$(id -u)" -eq 0 ] && chmod go+r "$("$pgc" --pkglibdir)/pg_segment.so" "$("$pgc" --sharedir)/extension/"pg_segment*

port="${PGSEG_CITUS_PORT:-$((${PGSEG_TEST_PORT:-25329} + 40))}"
names=(coordinator worker_1 worker_2)
dirs=(); for n in "${names[@]}"; do dirs+=("$RUNDIR/citus_$n"); done
stop_nodes() { for d in "${dirs[@]}"; do PG_BIN="$BIN" bash scripts/cluster.sh stop "$d"; done; }
trap stop_nodes EXIT
# Citus connects to the nodes over TCP (127.0.0.1, trusted by cluster.sh's initdb); the servers'
# zone is UTC, the coordinator's session Asia/Shanghai, so that a day counted on a worker in its
# own zone would show
for i in 0 1 2; do
    PG_BIN="$BIN" bash scripts/cluster.sh start "${dirs[$i]}" $((port + i)) "shared_preload_libraries = 'citus'" \
        "max_worker_processes = 16" "TimeZone = 'UTC'" "citus.log_remote_commands = off" >/dev/null \
        || { echo "citus: 0 passed, 1 failed"; exit 1; }
    node_psql "${dirs[$i]}" $((port + i)) postgres "CREATE EXTENSION citus" "CREATE EXTENSION pg_segment" >/dev/null \
        || { echo "citus: 0 passed, 1 failed"; exit 1; }
done
coord() { node_psql "${dirs[0]}" "$port" postgres "SET TimeZone = 'Asia/Shanghai'" "$@"; }
coord "SELECT citus_set_coordinator_host('127.0.0.1', $port)" \
      "SELECT citus_add_node('127.0.0.1', $((port + 1)))" "SELECT citus_add_node('127.0.0.1', $((port + 2)))" \
      "CREATE TABLE orders_local AS SELECT order_id, customer_id, ordered_at, amount, is_refund FROM segment.sample_orders(3000, 11)" \
      "CREATE TABLE orders (order_id bigint, customer_id bigint, ordered_at timestamptz, amount numeric(12,2), is_refund boolean)" \
      "SELECT create_distributed_table('orders', 'customer_id', shard_count := 32)" \
      "INSERT INTO orders SELECT * FROM orders_local" "ANALYZE orders" >/dev/null \
    || { echo "citus: 0 passed, 1 failed"; exit 1; }

check "orders is distributed over 32 shards, placed on both workers" \
    "$(coord "SELECT count(*) || ' ' || count(DISTINCT p.nodeport) || ' ' || bool_and(p.nodeport IN ($((port + 1)), $((port + 2))))
              FROM pg_dist_shard s JOIN pg_dist_placement pl USING (shardid) JOIN pg_dist_node p ON p.groupid = pl.groupid
              WHERE s.logicalrelid = 'orders'::regclass")" "32 2 true"
check "every row is in the distributed table" "$(coord "SELECT count(*) FROM orders")" "$(coord "SELECT count(*) FROM orders_local")"

as_of="'2025-06-30 00:00+08'"
opts="'{\"tz\": \"Asia/Shanghai\"}'"
per_customer="SELECT customer_id, segment.rfm_agg(ordered_at, amount, is_refund) AS s FROM orders GROUP BY customer_id"
check "rfm_agg ... GROUP BY customer_id on the workers equals the single node's" \
    "$(coord "SELECT (SELECT count(*) FROM (SELECT customer_id, s::text FROM ($per_customer) d
                                            EXCEPT SELECT customer_id, segment.rfm_agg(ordered_at, amount, is_refund)::text FROM orders_local GROUP BY 1) x)
                     || ' ' || (SELECT count(*) FROM ($per_customer) d)")" "0 3000"
plan=$(coord "EXPLAIN (VERBOSE, COSTS OFF) $per_customer")
check "EXPLAIN VERBOSE: 32 tasks, each runs rfm_agg ... GROUP BY customer_id on a shard" \
    "$(grep -c 'Task Count: 32' <<<"$plan") $(grep -Ec 'Query: SELECT customer_id, segment\.rfm_agg\(ordered_at, amount, is_refund\) AS s FROM public\.orders_[0-9]+ orders WHERE true GROUP BY customer_id' <<<"$plan")" \
    "1 1"

# the population from per-customer summaries: a MATERIALIZED CTE (README), so that the
# summaries' GROUP BY is a distributed subplan and as_of and the options stay on the coordinator
dist="WITH c AS MATERIALIZED ($per_customer) SELECT segment.population_agg(customer_id, s, $as_of, $opts) FROM c"
local_q="SELECT segment.population_agg(customer_id, ordered_at, amount, is_refund, $as_of, $opts) FROM orders_local"
check "population_agg over the workers' summaries equals the single-node population, row for row" \
    "$(coord "$POPULATION_DIFFERING FROM ($dist) d(p), ($local_q) l(p)")" "0 3000"
plan=$(coord "EXPLAIN (VERBOSE, COSTS OFF) $dist")
check "EXPLAIN VERBOSE: the summaries are a distributed subplan of 32 tasks running rfm_agg; as_of is not shipped to the workers" \
    "$(grep -c 'Distributed Subplan' <<<"$plan") $(grep -c 'Task Count: 32' <<<"$plan") $(grep -c 'Query: SELECT customer_id, segment.rfm_agg(' <<<"$plan") $(grep 'Query: SELECT customer_id, segment.rfm_agg(' <<<"$plan" | grep -c "2025-06")" \
    "1 1 1 0"

# recency counted on the workers: with an explicit zone the same as on the single node
recency="segment.recency_days(segment.rfm_agg(ordered_at, amount), $as_of, 'Asia/Shanghai')"
check "recency_days with an explicit tz, pushed to the workers, equals the single node's" \
    "$(coord "SELECT count(*) FROM (SELECT customer_id, $recency FROM orders GROUP BY 1 EXCEPT SELECT customer_id, $recency FROM orders_local GROUP BY 1) x")" "0"

# segmentation views: over the distributed table the per-customer form by itself, equal to a
# view over the local copy; the view's plan pushes the summaries to the workers
view_opts="'{\"as_of\": \"2025-06-30 00:00+08\", \"refund_column\": \"is_refund\", \"order_id_column\": \"order_id\", \"lang\": \"en\"}'"
coord "SELECT segment.create_segment_view('view_dist', 'orders', 'customer_id', 'ordered_at', 'amount', $view_opts)" \
      "SELECT segment.create_segment_view('view_local', 'orders_local', 'customer_id', 'ordered_at', 'amount', $view_opts)" >/dev/null
check "a segmentation view over the distributed table equals one over the local copy" \
    "$(coord "$(relations_differing view_dist view_local)") $(coord "SELECT count(*) FROM view_dist")" "0 3000"
check "the view over the distributed table takes the per-customer form; the local one the order rows" \
    "$(coord "SELECT string_agg(view_name || ':' || (definition LIKE '%segment.rfm_agg(%'), ' ' ORDER BY view_name) FROM segment.segment_views")" \
    "view_dist:true view_local:false"
plan=$(coord "EXPLAIN (VERBOSE, COSTS OFF) $(coord "SELECT definition FROM segment.segment_views WHERE view_name = 'view_dist'")")
check "EXPLAIN VERBOSE of the view: 32 tasks run rfm_agg with the order ids, grouped by customer" \
    "$(grep -c 'Task Count: 32' <<<"$plan") $(grep -Ec 'Query: SELECT .*segment\.rfm_agg\(.*order_id.*GROUP BY .*customer_id' <<<"$plan")" "1 1"
# text keys (numbered after the workers' GROUP BY), distributed by that key, with a filter
coord "CREATE TABLE orders_coded AS SELECT 'C-' || customer_id AS code, ordered_at, amount, is_refund, order_id % 5 = 0 AS gift FROM orders_local" \
      "CREATE TABLE orders_coded_local AS SELECT * FROM orders_coded" \
      "SELECT create_distributed_table('orders_coded', 'code', shard_count := 32)" >/dev/null
coded_opts="'{\"as_of\": \"2025-06-30 00:00+08\", \"refund_column\": \"is_refund\", \"filter\": {\"column\": \"gift\", \"in\": [false]}}'"
coord "SELECT segment.create_segment_view('coded_dist', 'orders_coded', 'code', 'ordered_at', 'amount', $coded_opts)" \
      "SELECT segment.create_segment_view('coded_local', 'orders_coded_local', 'code', 'ordered_at', 'amount', $coded_opts)" >/dev/null
check "a view over text keys distributed by that key equals one over the local copy" \
    "$(coord "$(relations_differing coded_dist coded_local)") $(coord "SELECT count(*) FROM coded_dist") $(coord "SELECT definition LIKE '%segment.rfm_agg(%' FROM segment.segment_views WHERE view_name = 'coded_dist'")" \
    "0 $(coord "SELECT count(DISTINCT code) FROM orders_coded_local WHERE NOT gift") t"
echo "$plan" >"$RUNDIR/citus-view-plan.txt"
echo "$(coord "EXPLAIN (VERBOSE, COSTS OFF) $dist")" >"$RUNDIR/citus-population-plan.txt"

nodes_summary citus
