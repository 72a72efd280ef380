#!/usr/bin/env bash
# `make report`: the report of the sample store (segment.report) as an HTML file and a PNG
# screenshot taken with headless Chromium, in $REPORT_DIR (default .pg_segment/report/).
# Builds and installs the extension like `make demo`, on a throwaway PostgreSQL 15 (port
# $PGSEG_REPORT_PORT, default 25323), or on $PGURL's server. REPORT_LANG=en for the English page,
# REPORT_CUSTOMERS for another size (default 5000).
# Chromium runs headless with every background service off and a new empty profile, so that it
# touches no network (the page itself loads nothing: tests/report.rs checks that).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lock.sh
ROOT="$PWD"
[ -n "${PGSEG_REPORT_INSTALLED:-}" ] || bash scripts/install.sh
OUT_DIR="${REPORT_DIR:-$ROOT/.pg_segment/report}"
LANG_="${REPORT_LANG:-zh}"
CUSTOMERS="${REPORT_CUSTOMERS:-5000}"
mkdir -p "$OUT_DIR"
HTML="$OUT_DIR/sample_store_report.html"
PNG="$OUT_DIR/sample_store_report.png"
if [ -n "${PGURL:-}" ]; then
    CONN="$PGURL"
else
    . scripts/rundir.sh; WORK="$RUNDIR/report"; PORT="${PGSEG_REPORT_PORT:-25323}"
    bash scripts/cluster.sh start "$WORK" "$PORT" >/dev/null
    trap 'bash "$ROOT/scripts/cluster.sh" stop "$WORK" >/dev/null' EXIT
    CONN="host=$WORK port=$PORT user=postgres dbname=postgres"
fi
echo "[report] the sample store ($CUSTOMERS customers), segmented and snapshotted twice"
psql "$CONN" -X -q -v ON_ERROR_STOP=1 -v customers="$CUSTOMERS" -v lang="$LANG_" -v out="$HTML" -f scripts/report.sql >/dev/null
echo "[report] page: $HTML ($(wc -c <"$HTML") bytes)"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "[report] no chromium: scripts/setup.sh installs the Debian package" >&2; exit 1; }
PROFILE=$(mktemp -d)
# the page is 1200 px wide; the window is as tall as the page (the sample store's takes about 2,350 px)
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$PROFILE" \
    --window-size=1200,"${REPORT_HEIGHT:-2400}" --screenshot="$PNG" "file://$HTML" >"$OUT_DIR/chromium.log" 2>&1 || true
rm -rf "$PROFILE"
[ -s "$PNG" ] || { echo "[report] chromium wrote no screenshot: $OUT_DIR/chromium.log" >&2; exit 1; }
# a third of the size, the same look: the page has few colours
pngquant --quality 70-95 --speed 1 --strip --force --output "$PNG" "$PNG"
echo "[report] screenshot: $PNG ($(wc -c <"$PNG") bytes)"
