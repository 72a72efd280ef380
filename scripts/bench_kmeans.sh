#!/usr/bin/env bash
# `make bench-kmeans`: k-means on 1 million sample-store customers (KM_CUSTOMERS to change), k = 8,
# features (recency days, orders, net spend) with log_zscore standardization. Times the fit in a
# serial plan and with 2 parallel workers (median of 3 fresh backends each), checks both give the
# same model, reports the state and backend memory, and compares the inertia with scikit-learn's
# KMeans on the same standardized data (installed into a private virtualenv). Writes
# bench/results-kmeans.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench_lib.sh
CUSTOMERS="${KM_CUSTOMERS:-1000000}"
K=8
OPTS='{"standardize": "log_zscore"}'
AS_OF="'2026-01-01 00:00+08'"

# scikit-learn in a private virtualenv (idempotent)
VENV="$ROOT/.pg_segment/venv-sklearn"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import sklearn" 2>/dev/null; then
    echo "[bench-kmeans] installing scikit-learn into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r bench/requirements-sklearn.txt
fi

. scripts/rundir.sh; WORK="$RUNDIR/bench-kmeans"; PORT="${PGSEG_BENCH_PORT:-25321}"
bash scripts/cluster.sh start "$WORK" "$PORT" "work_mem = '256MB'" "shared_buffers = '1GB'" "jit = off" \
    "max_parallel_workers_per_gather = 2"
trap 'bash "$ROOT/scripts/cluster.sh" stop "$WORK"' EXIT
PSQL=(psql -X -q -At -h "$WORK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)

echo "[bench-kmeans] sample store of $CUSTOMERS customers and their features"
"${PSQL[@]}" <<SQL
CREATE EXTENSION IF NOT EXISTS pg_segment;
DROP TABLE IF EXISTS features;
CREATE TABLE features AS
SELECT customer_id,
       ARRAY[segment.recency_days(s, $AS_OF, 'Asia/Shanghai'), segment.frequency(s, $AS_OF), segment.monetary(s, $AS_OF)]::float8[] AS f
FROM (SELECT customer_id, segment.rfm_agg(ordered_at, amount, is_refund) AS s
      FROM segment.sample_orders($CUSTOMERS, 42) GROUP BY customer_id) x
WHERE segment.frequency(s, $AS_OF) > 0;
VACUUM ANALYZE features;
SQL
N=$("${PSQL[@]}" -c "SELECT count(*) FROM features")

FIT="SELECT segment.kmeans_fit(f, $K, 42, '$OPTS') FROM features"
SERIAL="SET max_parallel_workers_per_gather = 0;"
PARALLEL="SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;"

run_one() {  # prints "<ms> <peak kB>" of one statement in a fresh backend
    "${PSQL[@]}" <<SQL | awk '/Execution Time/ {t=$3} /^VmHWM/ {m=$2} END {print t, m}'
$1
EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) $2;
SELECT line FROM regexp_split_to_table(pg_read_file('/proc/self/status'), E'\n') line WHERE line LIKE 'VmHWM%';
SQL
}
median3() {  # name, settings, query -> sets MS[name], MEM[name]
    local times=() mems=() t m
    for i in 1 2 3; do read -r t m < <(run_one "$2" "$3"); times+=("$t"); mems+=("$m"); done
    MS[$1]=$(printf '%s\n' "${times[@]}" | sort -g | sed -n 2p)
    MEM[$1]=$(printf '%s\n' "${mems[@]}" | sort -g | tail -n 1)
    printf '[bench-kmeans] %-22s %10.1f ms  peak %8d kB\n' "$1" "${MS[$1]}" "${MEM[$1]}"
}
declare -A MS MEM
median3 scan_only "$SERIAL" "SELECT count(f) FROM features"
median3 fit_serial "$SERIAL" "$FIT"
median3 fit_parallel_2 "$PARALLEL" "$FIT"
PLAN=$("${PSQL[@]}" -c "$PARALLEL EXPLAIN (COSTS OFF) $FIT" | tr '\n' ' ' | sed 's/  */ /g')

"${PSQL[@]}" -c "DROP TABLE IF EXISTS models" -c "CREATE TABLE models (plan text, m jsonb)"
"${PSQL[@]}" -c "$SERIAL INSERT INTO models SELECT 'serial', ($FIT)"
"${PSQL[@]}" -c "$PARALLEL INSERT INTO models SELECT 'parallel', ($FIT)"
# best of 4 seeding runs (n_init = 4), one timed run
FIT4="SELECT segment.kmeans_fit(f, $K, 42, '{\"standardize\": \"log_zscore\", \"n_init\": 4}') FROM features"
read -r T4 _ < <(run_one "$SERIAL" "$FIT4")
"${PSQL[@]}" -c "$SERIAL INSERT INTO models SELECT 'serial_n4', ($FIT4)"
read -r INERTIA4 ITERS4 < <("${PSQL[@]}" -F ' ' -c "SELECT m->>'inertia', m->>'iterations' FROM models WHERE plan = 'serial_n4'")
SAME=$("${PSQL[@]}" -c "SELECT a.m = b.m FROM models a, models b WHERE a.plan = 'serial' AND b.plan = 'parallel'")
read -r INERTIA ITERS CONV STATE WORK_B < <("${PSQL[@]}" -F ' ' -c "SELECT m->>'inertia', m->>'iterations', m->>'converged', m->>'state_bytes', m->>'work_bytes' FROM models WHERE plan = 'serial'")
median3 silhouette_10000 "$SERIAL" "SELECT segment.kmeans_silhouette(m, f, 10000) FROM features, (SELECT m FROM models WHERE plan = 'serial') x"
median3 assign_all "$SERIAL" "SELECT count(segment.kmeans_assign(m, f)) FROM features, (SELECT m FROM models WHERE plan = 'serial') x"
SIL=$("${PSQL[@]}" -c "SELECT round(segment.kmeans_silhouette(m, f, 10000)::numeric, 4) FROM features, (SELECT m FROM models WHERE plan = 'serial') x")
CLUSTERS=$("${PSQL[@]}" -c "SELECT string_agg(format('| %s | %s | %s | %s | %s |', c->>'id', c->>'size', round((c->'centroid'->>0)::numeric, 1), round((c->'centroid'->>1)::numeric, 2), round((c->'centroid'->>2)::numeric, 1)), E'\n' ORDER BY (c->>'id')::int) FROM models, jsonb_array_elements(m->'clusters') c WHERE plan = 'serial'")

echo "[bench-kmeans] scikit-learn on the same standardized data"
CSV="$WORK/features.csv"
"${PSQL[@]}" -c "\\copy (SELECT f[1], f[2], f[3] FROM features ORDER BY customer_id) TO '$CSV' CSV"
"${PSQL[@]}" -c "\\copy (SELECT m FROM models WHERE plan = 'serial') TO '$WORK/model.json'"
SK=$("$VENV/bin/python" - "$CSV" "$WORK/model.json" "$K" <<'PY'
import json, sys, time
import numpy as np
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
x = np.loadtxt(sys.argv[1], delimiter=",")
model = json.loads(open(sys.argv[2]).read())
k = int(sys.argv[3])
z = StandardScaler().fit_transform(np.log1p(x))
# pg_segment's standardization must be the same transform
ours = (np.log1p(x) - np.array(model["mean"])) / np.array(model["scale"])
assert np.allclose(z, ours, atol=1e-9), "standardization differs"
out = {}
for n_init in (1, 10):
    t = time.perf_counter()
    km = KMeans(n_clusters=k, init="k-means++", n_init=n_init, random_state=0, algorithm="lloyd").fit(z)
    out[f"n_init_{n_init}"] = (km.inertia_, time.perf_counter() - t, km.n_iter_)
# Lloyd from pg_segment's final centres: a fixed point gives the same inertia
c = np.array([cl["centroid_standardized"] for cl in model["clusters"]])
km = KMeans(n_clusters=k, init=c, n_init=1, max_iter=300).fit(z)
out["from_ours"] = (km.inertia_, 0.0, km.n_iter_)
print(" ".join(f"{v[0]:.3f} {v[1]:.2f} {v[2]}" for v in out.values()))
PY
)
read -r SK1 SK1T SK1I SK10 SK10T SK10I SKF _ SKFI <<<"$SK"

mkdir -p bench
OUT=bench/results-kmeans.md
{
    bench_header "pg_segment k-means benchmark" "make bench-kmeans"
    echo "PostgreSQL: $("${PSQL[@]}" -c 'SHOW server_version'); work_mem 256MB, shared_buffers 1GB, jit off."
    echo "Data: $N customers with an order by 2026-01-01 of segment.sample_orders($CUSTOMERS, 42); features (recency days, orders, net spend), \`$OPTS\`, k = $K, seed 42."
    echo "Times: median of 3 runs in fresh backends (EXPLAIN ANALYZE execution time); peak memory is the backend's VmHWM (for the parallel plan: the leader's)."
    echo
    echo "| query | time (ms) | ratio to serial fit | peak backend memory (MB) |"
    echo "|---|---:|---:|---:|"
    for name in scan_only fit_serial fit_parallel_2 silhouette_10000 assign_all; do
        printf '| %s | %.1f | %.2f | %.0f |\n' "$name" "${MS[$name]}" "$(awk -v a="${MS[$name]}" -v b="${MS[fit_serial]}" 'BEGIN {print a / b}')" "$(awk -v a="${MEM[$name]}" 'BEGIN {print a / 1024}')"
    done
    echo
    echo "- Parallel plan: \`$PLAN\`"
    echo "- Serial and parallel models identical (jsonb equality): **$SAME**"
    echo "- Model: inertia $INERTIA, $ITERS iterations, converged $CONV; aggregate state $(awk -v b="$STATE" 'BEGIN {printf "%.1f", b / 1048576}') MB of feature vectors, fit working memory $(awk -v b="$WORK_B" 'BEGIN {printf "%.1f", b / 1048576}') MB (both bounded by options.memory_limit_mb, default 1024)"
    echo "- Mean silhouette (exact over a deterministic 10,000-point sample): $SIL"
    echo
    echo "Inertia on the same standardized data (ln(1 + x), then z-score; checked equal to pg_segment's):"
    echo
    echo "| method | inertia | ratio to pg_segment | iterations | time (s) |"
    echo "|---|---:|---:|---:|---:|"
    printf '| pg_segment kmeans_fit (greedy k-means++, 1 run) | %.3f | 1.0000 | %s | %.2f |\n' "$INERTIA" "$ITERS" "$(awk -v a="${MS[fit_serial]}" 'BEGIN {print a / 1000}')"
    printf '| pg_segment kmeans_fit, options n_init = 4 (best of 4) | %.3f | %.4f | %s | %.2f |\n' "$INERTIA4" "$(awk -v a="$INERTIA4" -v b="$INERTIA" 'BEGIN {print a / b}')" "$ITERS4" "$(awk -v a="$T4" 'BEGIN {print a / 1000}')"
    printf '| scikit-learn KMeans n_init=1 | %.3f | %.4f | %s | %.2f |\n' "$SK1" "$(awk -v a="$SK1" -v b="$INERTIA" 'BEGIN {print a / b}')" "$SK1I" "$SK1T"
    printf '| scikit-learn KMeans n_init=10 (best of 10) | %.3f | %.4f | %s | %.2f |\n' "$SK10" "$(awk -v a="$SK10" -v b="$INERTIA" 'BEGIN {print a / b}')" "$SK10I" "$SK10T"
    printf '| scikit-learn Lloyd started from pg_segment centres | %.3f | %.4f | %s | |\n' "$SKF" "$(awk -v a="$SKF" -v b="$INERTIA" 'BEGIN {print a / b}')" "$SKFI"
    echo
    echo "Clusters (centroids in original units):"
    echo
    echo "| id | customers | recency days | orders | net spend |"
    echo "|---:|---:|---:|---:|---:|"
    echo "$CLUSTERS"
} >"$OUT"
echo "[bench-kmeans] wrote $OUT"
cat "$OUT"
