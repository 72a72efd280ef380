#!/usr/bin/env bash
# `make bench-clv`: times segment.bgnbd_fit against Python lifetimes' BetaGeoFitter.fit on the same
# 1 million BTYD summaries, segment.pareto_nbd_fit on the same million (against our BG/NBD fit)
# and against lifetimes' ParetoNBDFitter on the first CLV_PARETO_ROWS (default 100,000) of them,
# in one run, and writes bench/results-clv.md. Throwaway cluster on port
# 25322 (PGSEG_CLV_PORT); CLV_CUSTOMERS changes the size. lifetimes comes from a private virtualenv
# (.pg_segment/venv, pinned by tests/requirements-lifetimes.txt), installed if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench_lib.sh
CUSTOMERS="${CLV_CUSTOMERS:-1000000}"
PORT="${PGSEG_CLV_PORT:-25322}"
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


# Pareto/NBD: on all rows against our BG/NBD fit; on a subsample against lifetimes (whose
# ParetoNBDFitter on a million rows takes very long), ours on the same subsample rows
median_ms() {  # median EXPLAIN ANALYZE execution time of $1 over RUNS runs
    local q="$1" ts=() t i
    for i in $(seq $RUNS); do
        t=$("${PSQL[@]}" -c "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) $q" | awk '/Execution Time/ {print $3}')
        ts+=("$t"); echo "[bench-clv] run $i: $t ms ($q)" >&2
    done
    printf '%s\n' "${ts[@]}" | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p"
}
PN_FIT="SELECT segment.pareto_nbd_fit(frequency, recency, t, 'days') FROM btyd"
PN_MS=$(median_ms "$PN_FIT")
PSUB="${CLV_PARETO_ROWS:-100000}"
"${PSQL[@]}" -c "DROP TABLE IF EXISTS btyd_sub; CREATE TABLE btyd_sub AS SELECT * FROM btyd ORDER BY customer_id LIMIT $PSUB"
SUB_ROWS=$("${PSQL[@]}" -c "SELECT count(*) FROM btyd_sub")
SUB_CSV="$WORK/btyd_sub.csv"
"${PSQL[@]}" -c "\copy (SELECT frequency, recency, t, monetary_value FROM btyd_sub ORDER BY customer_id) TO '$SUB_CSV' CSV HEADER"
PN_SUB_FIT="SELECT segment.pareto_nbd_fit(frequency, recency, t, 'days') FROM btyd_sub"
PN_SUB_MS=$(median_ms "$PN_SUB_FIT")
IFS='|' read -r QR QA QS QB QLL QIT QCONV < <("${PSQL[@]}" -c "SET extra_float_digits = 3; SELECT r, alpha, s, beta, log_likelihood, iterations, converged FROM ($PN_SUB_FIT) f(m), LATERAL (SELECT (m).*) x")
echo "[bench-clv] lifetimes ParetoNBDFitter.fit on the first $SUB_ROWS rows"
LTP=$("$VENV/bin/python" scripts/bench_clv.py "$SUB_CSV" pareto_nbd | grep '^lifetimes:')
echo "[bench-clv] $LTP"
pval() { printf '%s\n' "$LTP" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
LPS=$(pval seconds); LPR=$(pval r); LPA=$(pval alpha); LPSS=$(pval s); LPB=$(pval beta)
LPLL=$("${PSQL[@]}" -c "SET extra_float_digits = 3; SELECT sum(segment.pareto_nbd_log_likelihood(jsonb_build_object('r', $LPR, 'alpha', $LPA, 's', $LPSS, 'beta', $LPB)::segment.pareto_nbd_model, frequency, recency, t)) FROM btyd_sub")
PN_VS_BG=$(awk -v p="$PN_MS" -v b="$PG_MS" 'BEGIN {printf "%.2f", p / b}')
PN_VS_LT=$(awk -v p="$PN_SUB_MS" -v l="$LPS" 'BEGIN {printf "%.4f", p / 1000 / l}')
psame=0; prows=""
for name in r alpha s beta; do
    case $name in r) o=$QR; l=$LPR ;; alpha) o=$QA; l=$LPA ;; s) o=$QS; l=$LPSS ;; beta) o=$QB; l=$LPB ;; esac
    rel=$(awk -v o="$o" -v l="$l" 'BEGIN {d = (o - l) / l; if (d < 0) d = -d; printf "%.1e", d}')
    eq=no; [ "$(awk -v x="$o" 'BEGIN {printf "%.4g", x}')" = "$(awk -v x="$l" 'BEGIN {printf "%.4g", x}')" ] && { eq=yes; psame=$((psame + 1)); }
    prows+="| $name | $o | $l | $rel | $eq |"$'\n'
done
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
    echo
    echo "## Pareto/NBD fit"
    echo
    echo "| fit | rows | time (s) |"
    echo "|---|---:|---:|"
    printf '| `%s` (median of %d) | %s | %.3f |\n' "$PN_FIT" "$RUNS" "$ROWS" "$(awk -v p="$PN_MS" 'BEGIN {print p / 1000}')"
    printf '| the same on `btyd_sub`, the first %s customers (median of %d) | %s | %.3f |\n' "$PSUB" "$RUNS" "$SUB_ROWS" "$(awk -v p="$PN_SUB_MS" 'BEGIN {print p / 1000}')"
    printf '| lifetimes `ParetoNBDFitter().fit(frequency, recency, T)` on the same %s rows (one run, the fit call only) | %s | %.3f |\n' "$SUB_ROWS" "$SUB_ROWS" "$LPS"
    echo
    echo "Ratio pareto_nbd_fit / bgnbd_fit on $ROWS rows: **$PN_VS_BG** (target <= 3). Ratio pareto_nbd_fit / lifetimes on $SUB_ROWS rows: **$PN_VS_LT** (target <= 0.2)."
    echo
    echo "| parameter ($SUB_ROWS rows) | pg_segment | lifetimes | relative difference | same to 4 digits |"
    echo "|---|---:|---:|---:|---|"
    printf '%s' "$prows"
    echo
    echo "Log-likelihood (same code for both): pg_segment $QLL at its estimate ($QIT iterations, converged $QCONV); $LPLL at lifetimes' parameters. Equal to 4 significant digits: $psame of 4."
} >"$OUT"
echo "[bench-clv] wrote $OUT"
cat "$OUT"
