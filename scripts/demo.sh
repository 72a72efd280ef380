#!/usr/bin/env bash
# `make demo`: install pg_segment, start a throwaway PostgreSQL 15 (or use yours), generate a
# sample store, segment it and print a report.
#
# To use an existing server instead of a throwaway one, set PGURL (a libpq connection string or
# URI), e.g. PGURL=postgresql://me@localhost/shop make demo. The extension is then installed
# into that server's PostgreSQL (this machine's) and created in that database; the demo's tables
# live in a schema segment_demo, dropped first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lock.sh
ROOT="$PWD"
bash scripts/install.sh
CUSTOMERS="${DEMO_CUSTOMERS:-5000}"
if [ -n "${PGURL:-}" ]; then
    CONN="$PGURL"
else
    . scripts/rundir.sh; WORK="$RUNDIR/demo"; PORT="${PGSEG_DEMO_PORT:-25324}"
    bash scripts/cluster.sh start "$WORK" "$PORT"
    CONN="host=$WORK port=$PORT user=postgres dbname=postgres"
fi
echo "[demo] segmenting a sample store of $CUSTOMERS customers"
psql "$CONN" -X -q -v ON_ERROR_STOP=1 -v customers="$CUSTOMERS" -f scripts/demo.sql
echo
if [ -z "${PGURL:-}" ]; then
    echo "[demo] the demo server keeps running: psql \"$CONN\" (tables in schema segment_demo)"
    echo "[demo] stop it with: bash scripts/cluster.sh stop $WORK"
fi
# the same store's report page and its screenshot (scripts/report.sh, on the same server)
echo
PGURL="$CONN" PGSEG_REPORT_INSTALLED=1 bash scripts/report.sh | grep -E '^\[report\] (page|screenshot):'
