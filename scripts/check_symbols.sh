#!/usr/bin/env bash
# Every C function that an install or upgrade script names must be exported by the library, or
# `CREATE EXTENSION pg_segment VERSION 'x'` and the update chain break with "could not find
# function": an old release's script names symbols that the current library must still have (an
# obsolete one may raise an error telling the user to update, but it must exist).
#   scripts/check_symbols.sh LIBRARY [SCRIPT...]
# Without SCRIPTs: every sql/pg_segment--*.sql (the frozen install scripts of the releases and the
# upgrade scripts) and the generated install script beside the installed library, if any.
# Checks `sym` and `pg_finfo_sym` (the V1 calling-convention record PostgreSQL looks up) with
# nm -D. Prints one line per script and "symbols: N passed, M failed" (one test per script).
set -uo pipefail
cd "$(dirname "$0")/.."
lib="$1"; shift
[ -f "$lib" ] || { echo "symbols: $lib is missing"; echo "symbols: 0 passed, 1 failed"; exit 1; }
scripts=("$@")
if [ ${#scripts[@]} -eq 0 ]; then
    scripts=(sql/pg_segment--*.sql)
    # the upgrade script of the release under way, assembled from its template
    assembled=$(mktemp -d); trap 'rm -rf "$assembled"' EXIT
    python3 scripts/upgrade_scripts.py "$assembled"
    for f in "$assembled"/pg_segment--*.sql; do [ -f "$f" ] && scripts+=("$f"); done
    version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
    # the installed extension directory of a private installation (scripts/pg.sh) or of $PG_CONFIG
    if [ -n "${PG_CONFIG:-}" ]; then
        generated="$("$PG_CONFIG" --sharedir)/extension/pg_segment--$version.sql"
        [ -f "$generated" ] && scripts+=("$generated")
    fi
fi
exported=$(nm -D --defined-only "$lib" | awk '{print $NF}' | sort -u)
passed=0; failed=0
for s in "${scripts[@]}"; do
    # AS 'MODULE_PATHNAME', 'sym' (or '$libdir/pg_segment'), possibly across lines
    syms=$(tr '\n' ' ' <"$s" | grep -Eo "AS[[:space:]]+'(MODULE_PATHNAME|\\\$libdir/pg_segment)'[[:space:]]*,[[:space:]]*'[A-Za-z0-9_]+'" \
        | sed -E "s/.*'([A-Za-z0-9_]+)'$/\1/" | sort -u)
    missing=()
    for sym in $syms; do
        for want in "$sym" "pg_finfo_$sym"; do
            grep -qxF "$want" <<<"$exported" || missing+=("$want")
        done
    done
    n=$(echo "$syms" | grep -c .)
    if [ ${#missing[@]} -eq 0 ]; then
        echo "ok    $(basename "$s"): $n C functions, all exported"
        passed=$((passed + 1))
    else
        echo "FAIL  $(basename "$s"): not exported by $(basename "$lib"): ${missing[*]}"
        failed=$((failed + 1))
    fi
done
echo "symbols: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
