#!/usr/bin/env bash
# Puts the scripts of earlier releases beside a freshly generated install script:
#   scripts/copy_frozen.sh EXTENSION_DIR
# copies every frozen install script sql/pg_segment--X.Y.Z.sql and every upgrade script
# sql/pg_segment--A--B.sql into EXTENSION_DIR (where `cargo pgrx install` or `cargo pgrx package`
# wrote the control file and pg_segment--<version>.sql).
# When the current version is itself frozen (between `make freeze` and the next version bump),
# the generated script must equal the frozen one, or the release would ship two different 0.N.0s.
set -euo pipefail
cd "$(dirname "$0")/.."
ext="$1"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
frozen="sql/pg_segment--$version.sql"
if [ -f "$frozen" ] && [ -f "$ext/pg_segment--$version.sql" ] && ! cmp -s "$frozen" "$ext/pg_segment--$version.sql"; then
    echo "[install] ERROR: $frozen (frozen by make freeze) differs from the install script this build generates:" >&2
    diff "$frozen" "$ext/pg_segment--$version.sql" | head -n 20 >&2
    exit 1
fi
for f in sql/pg_segment--*.sql; do
    cp "$f" "$ext/"
done
