#!/usr/bin/env bash
# The upgrade script of the release under way, assembled:
#   scripts/upgrade_scripts.sh OUT_DIR
# writes OUT_DIR/pg_segment--A--B.sql for every template sql/upgrade/A--B.sql (B not released
# yet). A template holds the hand-written steps of the update (ALTER TABLE, DROP of changed
# signatures, CREATE OR REPLACE of changed bodies) and, for a family file whose objects are all
# new in B, one line `\ir ../<family>.sql` that stands for that file's whole text, as psql's \ir
# would read it: the objects are written once, in their family file, and the upgrade script
# cannot drift from the install script. `make freeze` writes the assembled script into
# sql/pg_segment--A--B.sql, records it and removes the template: from then on it is a released
# script like any other. Fails (exit 1) when an included file is missing or itself includes.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: scripts/upgrade_scripts.sh OUT_DIR}"
for t in sql/upgrade/*--*.sql; do
    [ -f "$t" ] || continue
    name=$(basename "$t")
    awk -v dir="$(dirname "$t")" '
        /^\\ir / {
            path = dir "/" $2
            if ((getline line < path) <= 0) { print "[upgrade] " FILENAME ": cannot read " path > "/dev/stderr"; exit 1 }
            do {
                if (line ~ /^\\ir /) { print "[upgrade] " path ": an included file may not include" > "/dev/stderr"; exit 1 }
                print line
            } while ((getline line < path) > 0)
            close(path)
            next
        }
        { print }' "$t" >"$out/pg_segment--$name.tmp"
    mv "$out/pg_segment--$name.tmp" "$out/pg_segment--$name"
done
