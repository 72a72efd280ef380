#!/usr/bin/env bash
# Builds pg_segment in release mode and installs it into the system PostgreSQL 15.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
echo "[install] cargo pgrx install --release"
cargo pgrx install --release --pg-config "$PG_CONFIG" 2>&1 | grep -Ev '^\s*$' | tail -n 5
