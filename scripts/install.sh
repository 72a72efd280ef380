#!/usr/bin/env bash
# Builds pg_segment in release mode and installs it into the PostgreSQL whose pg_config is
# $PG_CONFIG (default: the system PostgreSQL 15), with the frozen install scripts of earlier
# releases (sql/pg_segment--X.Y.Z.sql) beside the generated one; `cargo pgrx install` itself
# copies the released upgrade scripts (sql/pg_segment--A--B.sql), and scripts/copy_frozen.sh
# assembles the one of the release under way from its template in sql/upgrade/.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${PGSEG_SETUP_DONE:-}" ] || bash scripts/setup.sh
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
echo "[install] cargo pgrx install --release --pg-config $PG_CONFIG"
cargo pgrx install --release --pg-config "$PG_CONFIG" 2>&1 | grep -Ev '^\s*$' | tail -n 3
ext="$("$PG_CONFIG" --sharedir)/extension"
bash scripts/copy_frozen.sh "$ext"
