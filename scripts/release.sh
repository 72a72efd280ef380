#!/usr/bin/env bash
# The two steps of a release (DEVELOPERS.md, "Releasing"):
#   scripts/release.sh freeze        (make freeze)   when version V of Cargo.toml ships:
#       writes V's install script, as the build generates it, to sql/pg_segment--V.sql
#       (cargo pgrx schema pg15, as 0.1.0's was made), assembles the upgrade script into V from
#       its template sql/upgrade/A--V.sql into sql/pg_segment--A--V.sql (scripts/upgrade_scripts.py)
#       and removes the template, records both scripts in sql/released.sha256 (from then on `make test` fails if either changes), and dates V's
#       CHANGELOG section. Commit, tag vV, `make package`.
#   scripts/release.sh next X.Y.Z    (make next VERSION=X.Y.Z)   opens the next version:
#       sets X.Y.Z in Cargo.toml and META.json, adds an "X.Y.Z (unreleased)" CHANGELOG section
#       and creates the (header-only) upgrade template sql/upgrade/V--X.Y.Z.sql, where every
#       change to an SQL object goes from then on (a line `\ir ../<family>.sql [names]` in it
#       stands for the family file's statements, see scripts/upgrade_scripts.py).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
die() { echo "[release] ERROR: $*" >&2; exit 1; }

case "${1:-}" in
freeze)
    frozen="sql/pg_segment--$version.sql"
    [ -f "$frozen" ] && die "$version is frozen already ($frozen); start the next version with: make next VERSION=X.Y.Z"
    grep -q "^## $version (unreleased)" CHANGELOG.md || die "CHANGELOG.md has no section '## $version (unreleased)'"
    PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config bash scripts/setup.sh
    . scripts/rundir.sh
    . scripts/pg.sh
    pg_prepare 15
    echo "[release] cargo pgrx schema --release pg15 -> $frozen"
    cargo pgrx schema --release pg15 --out "$frozen"
    assembled=$(mktemp -d)
    python3 scripts/upgrade_scripts.py "$assembled"
    for t in sql/upgrade/*--"$version".sql; do
        [ -f "$t" ] || continue
        echo "[release] $t -> sql/pg_segment--$(basename "$t")"
        mv "$assembled/pg_segment--$(basename "$t")" "sql/pg_segment--$(basename "$t")"
        git rm -q "$t" 2>/dev/null || rm -f "$t"
    done
    rm -rf "$assembled"
    for f in "$frozen" sql/pg_segment--*--"$version".sql; do
        [ -f "$f" ] && sha256sum "$f" >>sql/released.sha256
    done
    sed -i "s/^## $version (unreleased)/## $version ($(date -u +%Y-%m-%d))/" CHANGELOG.md
    bash scripts/check_release.sh
    echo "[release] $version frozen: commit sql/ and CHANGELOG.md, tag v$version, then make package"
    ;;
next)
    next="${2:?usage: scripts/release.sh next X.Y.Z}"
    [[ "$next" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "$next is not a version X.Y.Z"
    [ -f "sql/pg_segment--$version.sql" ] || die "$version is not frozen yet: make freeze first"
    up="sql/upgrade/$version--$next.sql"
    [ -f "$up" ] && die "$up exists already"
    mkdir -p sql/upgrade
    sed -i "0,/^version = \"$version\"/s//version = \"$next\"/" Cargo.toml
    python3 - "$next" <<'EOF'
import json, sys
m = json.load(open("META.json"))
m["version"] = m["provides"]["pg_segment"]["version"] = sys.argv[1]
open("META.json", "w").write(json.dumps(m, indent=3, ensure_ascii=False) + "\n")
EOF
    awk -v v="$next" 'done == 0 && /^## / { print "## " v " (unreleased)\n"; done = 1 } { print }' CHANGELOG.md >CHANGELOG.md.new
    mv CHANGELOG.md.new CHANGELOG.md
    cat >"$up" <<EOF
-- pg_segment $version -> $next (ALTER EXTENSION pg_segment UPDATE TO '$next').
--
-- Every change to an SQL object since $version is here, so that an updated installation equals a
-- fresh $next one (the update-chain test compares their pg_dump --schema-only). This is the
-- template of $next, a release under way: a line \\ir ../<family>.sql [names] stands for a family
-- file's text, whole or the statements of the named objects (scripts/upgrade_scripts.py). make
-- freeze writes the assembled script sql/pg_segment--$version--$next.sql, never edited again.
\\echo Use "ALTER EXTENSION pg_segment UPDATE TO '$next'" to load this file. \\quit
EOF
    cargo update -p pg_segment --offline >/dev/null 2>&1 || true
    bash scripts/check_release.sh
    echo "[release] now at $next: changes to SQL objects go into $up"
    ;;
*)
    echo "usage: scripts/release.sh freeze | next X.Y.Z" >&2; exit 2 ;;
esac
