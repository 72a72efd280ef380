#!/usr/bin/env bash
# `make bench-clv`: times segment.bgnbd_fit against Python lifetimes' BetaGeoFitter.fit on the same
# 1 million BTYD summaries, in one run, and writes bench/results-clv.md. Throwaway cluster on port
# 54326 (PGSEG_CLV_PORT); CLV_CUSTOMERS changes the size. lifetimes comes from a private virtualenv
# (.pg_segment/venv, pinned by tests/requirements-lifetimes.txt), installed if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench_lib.sh
CUSTOMERS="${CLV_CUSTOMERS:-1000000}"
PORT="${PGSEG_CLV_PORT:-54326}"
WORK=/tmp/clv-bench
RUNS=3
VENV="$ROOT/.pg_segment/venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import lifetimes" 2>/dev/null; then
    echo "[bench-clv] installing lifetimes into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/requirements-lifetimes.txt
fi
bash scripts/cluster.sh start "$WORK" "$PORT" "work_mem = '256MB'" "shared_buffers = '1GB'" \
    "max_parallel_workers_per_gather = 0" "jit = off"
trap 'bash "$ROOT/scripts/cluster.sh" stop "$WORK"' EXIT
PSQL=(psql -X -q -At -h "$WORK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
CSV="$WORK/btyd.csv"

echo "[bench-clv] sample store of $CUSTOMERS customers -> BTYD summaries (days, Asia/Shanghai)"
t0=$(date +%s)
"${PSQL[@]}" <<SQL
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_segment;
DROP TABLE IF EXISTS btyd;
CREATE TABLE btyd AS
SELECT customer_id, (segment.btyd(segment.rfm_agg(ordered_at, amount, is_refund), '2025-12-31 23:59:59+08', 'days', 'Asia/Shanghai')).*
FROM segment.sample_orders($CUSTOMERS, 42) GROUP BY customer_id;
VACUUM ANALYZE btyd;
\copy (SELECT frequency, recency, t, monetary_value FROM btyd ORDER BY customer_id) TO '$CSV' CSV HEADER
SQL
chmod o+r "$CSV" 2>/dev/null || true
echo "[bench-clv] data ready in $(( $(date +%s) - t0 )) s"
ROWS=$("${PSQL[@]}" -c "SELECT count(*) FROM btyd")
DISTINCT=$("${PSQL[@]}" -c "SELECT count(*) FROM (SELECT DISTINCT frequency, recency, t FROM btyd) d")

FIT="SELECT segment.bgnbd_fit(frequency, recency, t) FROM btyd"
times=()
for i in $(seq $RUNS); do
    t=$("${PSQL[@]}" -c "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) $FIT" | awk '/Execution Time/ {print $3}')
    times+=("$t")
    echo "[bench-clv] bgnbd_fit run $i: $t ms"
done
PG_MS=$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p")
IFS='|' read -r PR PA PAA PB PLL PIT PCONV < <("${PSQL[@]}" -c "SET extra_float_digits = 3; SELECT r, alpha, a, b, log_likelihood, iterations, converged FROM ($FIT) f(m), LATERAL (SELECT (m).*) x")

echo "[bench-clv] lifetimes BetaGeoFitter.fit on the same $ROWS rows"
LT=$("$VENV/bin/python" scripts/bench_clv.py "$CSV" | grep '^lifetimes:')
echo "[bench-clv] $LT"
val() { printf '%s\n' "$LT" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
LS=$(val seconds); LR=$(val r); LA=$(val alpha); LAA=$(val a); LB=$(val b)
# log-likelihood of lifetimes' parameters, computed by the same code as ours
LLL=$("${PSQL[@]}" -c "SET extra_float_digits = 3; SELECT sum(segment.bgnbd_log_likelihood(ROW($LR, $LA, $LAA, $LB, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::segment.bgnbd_model, frequency, recency, t)) FROM btyd")

RATIO=$(awk -v p="$PG_MS" -v l="$LS" 'BEGIN {printf "%.4f", p / 1000 / l}')
sig4() { awk -v x="$1" 'BEGIN {printf "%.4g", x}'; }
same=0; total=0
rows=""
for name in r alpha a b; do
    case $name in r) o=$PR; l=$LR ;; alpha) o=$PA; l=$LA ;; a) o=$PAA; l=$LAA ;; b) o=$PB; l=$LB ;; esac
    rel=$(awk -v o="$o" -v l="$l" 'BEGIN {d = (o - l) / l; if (d < 0) d = -d; printf "%.1e", d}')
    eq=no; [ "$(sig4 "$o")" = "$(sig4 "$l")" ] && { eq=yes; same=$((same + 1)); }
    total=$((total + 1))
    rows+="| $name | $o | $l | $(sig4 "$o") / $(sig4 "$l") | $rel | $eq |"$'\n'
done

mkdir -p bench
OUT=bench/results-clv.md
{
    bench_header "BG/NBD fit: segment.bgnbd_fit vs Python lifetimes" "make bench-clv"
    echo "PostgreSQL $("${PSQL[@]}" -c 'SHOW server_version'), serial plan (max_parallel_workers_per_gather = 0), jit off; lifetimes 0.11.3 (tests/requirements-lifetimes.txt), defaults (tol 1e-7)."
    echo "Data: $ROWS customers of \`segment.sample_orders($CUSTOMERS, 42)\`, \`segment.btyd(..., '2025-12-31 23:59:59+08', 'days', 'Asia/Shanghai')\`, $DISTINCT distinct (frequency, recency, t); the same rows as CSV for lifetimes."
    echo
    echo "| fit | time (s) |"
    echo "|---|---:|"
    printf '| `SELECT segment.bgnbd_fit(frequency, recency, t) FROM btyd` (median of %d, EXPLAIN ANALYZE execution time: scan + fit) | %.3f |\n' "$RUNS" "$(awk -v p="$PG_MS" 'BEGIN {print p / 1000}')"
    printf '| lifetimes `BetaGeoFitter().fit(frequency, recency, T)` (one run, the fit call only) | %.3f |\n' "$LS"
    echo
    echo "Ratio pg_segment / lifetimes: **$RATIO** (target <= 0.1)."
    echo
    echo "| parameter | pg_segment | lifetimes | 4 significant digits | relative difference | same to 4 digits |"
    echo "|---|---:|---:|---|---:|---|"
    printf '%s' "$rows"
    echo
    echo "Log-likelihood (same code for both, days): pg_segment $PLL at its estimate ($PIT L-BFGS iterations, converged $PCONV); $LLL at lifetimes' parameters."
    echo "Parameters equal to 4 significant digits: $same of $total."
} >"$OUT"
echo "[bench-clv] wrote $OUT"
cat "$OUT"
