#!/usr/bin/env bash
# Release checks (layer 0 of `make test`; no database needed). Each line is one test:
#   - every released script (sql/released.sha256) is unchanged, and every frozen install script
#     sql/pg_segment--X.Y.Z.sql and every upgrade script into a released version is recorded there
#   - the version of Cargo.toml is the one of META.json (twice), of CHANGELOG.md's first section
#     and of the control file (which takes it from Cargo.toml through @CARGO_VERSION@)
#   - from every released version a chain of upgrade scripts leads to the current version
#   - CHANGELOG.md has a section for every released version
# Ends with "release: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0; failed=0
ok() { echo "ok    $*"; passed=$((passed + 1)); }
bad() { echo "FAIL  $*"; failed=$((failed + 1)); }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
RELEASED=sql/released.sha256

# ---- released scripts are never edited ----
declare -A recorded=()
while read -r sum file; do
    case "$sum" in ''|'#'*) continue ;; esac
    recorded[$file]=1
    if [ ! -f "$file" ]; then
        bad "released script $file is missing"
    elif [ "$(sha256sum "$file" | cut -d' ' -f1)" = "$sum" ]; then
        ok "released script $file unchanged"
    else
        bad "released script $file was edited (sha256 differs from $RELEASED): users' databases ran the released text; restore it (git checkout) and put the change into the next upgrade script sql/pg_segment--<last release>--$version.sql"
    fi
done <"$RELEASED"

# released versions: those whose frozen install script exists
released=()
for f in sql/pg_segment--*.sql; do
    b=$(basename "$f" .sql); v=${b#pg_segment--}
    case "$v" in *--*) continue ;; esac
    released+=("$v")
    check "frozen install script $f is recorded in $RELEASED" test -n "${recorded[$f]:-}"
done
for f in sql/pg_segment--*--*.sql; do
    to=${f%.sql}; to=${to##*--}
    if [ -f "sql/pg_segment--$to.sql" ]; then
        check "upgrade script $f into released $to is recorded in $RELEASED" test -n "${recorded[$f]:-}"
    fi
done

# ---- one version everywhere ----
meta_version=$(python3 -c 'import json; print(json.load(open("META.json"))["version"])' 2>/dev/null)
meta_provides=$(python3 -c 'import json; print(json.load(open("META.json"))["provides"]["pg_segment"]["version"])' 2>/dev/null)
changelog_version=$(sed -n 's/^## \[\{0,1\}\([0-9][0-9.]*\)\]\{0,1\}.*/\1/p' CHANGELOG.md 2>/dev/null | head -n 1)
control_version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" pg_segment.control)
check "META.json version ($meta_version) is Cargo.toml's ($version)" test "$meta_version" = "$version"
check "META.json provides pg_segment $meta_provides, Cargo.toml's version" test "$meta_provides" = "$version"
check "CHANGELOG.md's first section ($changelog_version) is Cargo.toml's version ($version)" test "$changelog_version" = "$version"
check "pg_segment.control's default_version ($control_version) is Cargo.toml's" \
    test "$control_version" = '@CARGO_VERSION@' -o "$control_version" = "$version"
for v in "${released[@]}"; do
    check "CHANGELOG.md has a section for released $v" grep -Eq "^## \[?$v\]?( |$)" CHANGELOG.md
done

# ---- an update path from every release ----
# breadth-first over the upgrade scripts from $1; true when $version is reached
reaches() {
    local -a todo=("$1"); local -A seen=(["$1"]=1); local cur f to
    while [ ${#todo[@]} -gt 0 ]; do
        cur=${todo[0]}; todo=("${todo[@]:1}")
        [ "$cur" = "$version" ] && return 0
        # released upgrade scripts, and the template of the release under way (sql/upgrade/A--B.sql,
        # assembled by scripts/upgrade_scripts.py)
        for f in sql/pg_segment--"$cur"--*.sql sql/upgrade/"$cur"--*.sql; do
            [ -f "$f" ] || continue
            to=${f%.sql}; to=${to##*--}
            [ -n "${seen[$to]:-}" ] || { seen[$to]=1; todo+=("$to"); }
        done
    done
    return 1
}
for v in "${released[@]}"; do
    [ "$v" = "$version" ] && continue
    check "an update path leads from released $v to $version (sql/pg_segment--$v--...sql or sql/upgrade/$v--...sql)" reaches "$v"
done
# a template is of the release under way: a released version's upgrade script is a frozen file
for f in sql/upgrade/*--*.sql; do
    [ -f "$f" ] || continue
    to=$(basename "$f" .sql); to=${to##*--}
    check "upgrade template $f leads to the unreleased $version (a released one is sql/pg_segment--...sql)" test "$to" = "$version" -a ! -f "sql/pg_segment--$to.sql"
done
check "the upgrade templates assemble (scripts/upgrade_scripts.py: every \\ir names a readable family file and objects it has)" python3 scripts/upgrade_scripts.py --check
echo "release: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
