#!/usr/bin/env bash
# Puts the scripts of earlier releases beside a freshly generated install script:
#   scripts/copy_frozen.sh EXTENSION_DIR
# copies every frozen install script sql/pg_segment--X.Y.Z.sql and every upgrade script
# sql/pg_segment--A--B.sql into EXTENSION_DIR (where `cargo pgrx install` or `cargo pgrx package`
# wrote the control file and pg_segment--<version>.sql), and assembles the upgrade script of the
# release under way there from its template sql/upgrade/A--B.sql (scripts/upgrade_scripts.py).
# When the current version is itself frozen (between `make freeze` and the next version bump),
# the generated script must hold the same objects as the frozen one, or the release would ship
# two different 0.N.0s. pgrx does not keep the order of its "connected objects" blocks from one
# build to another (another checkout path gives another order), so the blocks are compared as a
# set; the frozen file is the one installed.
set -euo pipefail
cd "$(dirname "$0")/.."
ext="$1"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
frozen="sql/pg_segment--$version.sql"
if [ -f "$frozen" ] && [ -f "$ext/pg_segment--$version.sql" ]; then
    python3 - "$frozen" "$ext/pg_segment--$version.sql" <<'PY' || exit 1
import re, sys
def blocks(path):
    text = open(path, encoding="utf-8").read()
    return sorted(re.findall(r"/\* <begin connected objects> \*/\n(.*?)/\* </end connected objects> \*/", text, re.S))
frozen, generated = blocks(sys.argv[1]), blocks(sys.argv[2])
if frozen != generated:
    print(f"[install] ERROR: {sys.argv[1]} (frozen by make freeze) differs from the install script this build generates:", file=sys.stderr)
    for name, a, b in (("only frozen", frozen, generated), ("only generated", generated, frozen)):
        for block in [x for x in a if x not in b][:5]:
            print(f"  {name}: " + " | ".join(block.splitlines()[:3]), file=sys.stderr)
    sys.exit(1)
PY
fi
for f in sql/pg_segment--*.sql; do
    cp "$f" "$ext/"
done
# the upgrade script of the release under way, assembled from its template (sql/upgrade/)
python3 scripts/upgrade_scripts.py "$ext"
