#!/usr/bin/env bash
# Layer 5 of `make test`: the Debian package of PostgreSQL 15 on this machine's system server.
#   scripts/package_test.sh PORT
# Builds dist/postgresql-15-pg-segment_<version>_amd64.deb (scripts/package.sh --deb 15), installs
# it with `apt-get install ./...deb` into the system directories, creates the extension (fresh,
# and 0.1.0 then ALTER EXTENSION UPDATE) on a throwaway cluster run by the system binaries on
# PORT, removes the package and checks that every file it brought is gone. A pg_segment that was
# installed by hand (make install, make demo) is put aside first and put back afterwards.
# Runs under /tmp/pg_segment_install.lock (scripts/lock.sh), as everything that installs into
# the system PostgreSQL does, so checkouts take turns. Needs root. Ends with
# "package: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lock.sh
ROOT="$PWD"
PORT="${1:?usage: scripts/package_test.sh PORT}"
. scripts/rundir.sh
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
name=postgresql-15-pg-segment
deb="$ROOT/dist/${name}_${version}_amd64.deb"
SYS_BIN=/usr/lib/postgresql/15/bin
CLUSTER="$RUNDIR/package15"
passed=0; failed=0
ok() { echo "ok    $*"; passed=$((passed + 1)); }
bad() { echo "FAIL  $*"; failed=$((failed + 1)); }
check() { local what="$1"; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi; }
finish() { echo "package: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }
[ "$(id -u)" -eq 0 ] || { bad "needs root (apt-get install)"; finish; }

echo "[package-test] building $deb"
PGSEG_SETUP_DONE=1 bash scripts/package.sh --deb 15 >"$RUNDIR/package15-build.log" 2>&1 \
    || { tail -n 20 "$RUNDIR/package15-build.log"; bad "scripts/package.sh --deb 15"; finish; }
check "the package is built: $(basename "$deb")" test -f "$deb"
check "it depends on postgresql-15" sh -c "dpkg-deb -f '$deb' Depends | grep -q '^postgresql-15\\b'"

# pg_segment files not owned by any package (a hand install) are put aside, and put back at exit
sysfiles=(/usr/lib/postgresql/15/lib/pg_segment.so /usr/share/postgresql/15/extension/pg_segment*)
aside="$RUNDIR/package15-aside"
rm -rf "$aside"; mkdir -p "$aside"
for f in "${sysfiles[@]}"; do
    [ -e "$f" ] || continue
    dpkg -S "$f" >/dev/null 2>&1 && continue
    mkdir -p "$aside$(dirname "$f")"; mv "$f" "$aside$f"
done
restore() {
    bash "$ROOT/scripts/cluster.sh" stop "$CLUSTER" 2>/dev/null
    dpkg -s "$name" >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq "$name" >/dev/null 2>&1
    (cd "$aside" && find . -type f -print0 | while IFS= read -r -d '' f; do mv "$f" "/${f#./}"; done)
}
trap restore EXIT
if dpkg -s "$name" >/dev/null 2>&1; then
    echo "[package-test] $name was installed: removing it first"
    DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq "$name" >/dev/null
fi

# ---- install ----
if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >"$RUNDIR/package15-apt.log" 2>&1; then
    ok "apt-get install ./$(basename "$deb")"
else
    tail -n 20 "$RUNDIR/package15-apt.log"; bad "apt-get install ./$(basename "$deb")"; finish
fi
mapfile -t files < <(dpkg -L "$name" | while read -r f; do [ -f "$f" ] && echo "$f"; done)
for want in /usr/lib/postgresql/15/lib/pg_segment.so /usr/share/postgresql/15/extension/pg_segment.control \
    "/usr/share/postgresql/15/extension/pg_segment--$version.sql" /usr/share/postgresql/15/extension/pg_segment--0.1.0.sql \
    /usr/share/postgresql/15/extension/pg_segment--0.1.0--0.2.0.sql; do
    check "the package installed $want" sh -c "dpkg -S '$want' | grep -q '^$name:'"
done
check "its frozen 0.1.0 install script is the released one" cmp /usr/share/postgresql/15/extension/pg_segment--0.1.0.sql sql/pg_segment--0.1.0.sql

# ---- use it on a throwaway cluster of the system binaries ----
if PG_BIN="$SYS_BIN" bash scripts/cluster.sh start "$CLUSTER" "$PORT" >"$RUNDIR/package15-cluster.log" 2>&1; then
    PSQL=("$SYS_BIN/psql" -X -q -At -h "$CLUSTER" -p "$PORT" -U postgres -v ON_ERROR_STOP=1)
    got=$("${PSQL[@]}" -d postgres -c "CREATE EXTENSION pg_segment" \
        -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_segment'" \
        -c "SELECT count(DISTINCT customer_id) FROM segment.sample_orders(50, 1)" 2>&1 | tr '\n' ' ')
    check "CREATE EXTENSION pg_segment from the package gives $version and works (got: $got)" test "$got" = "$version 50 "
    got=$("${PSQL[@]}" -d postgres -c "CREATE DATABASE from_010" 2>&1; "${PSQL[@]}" -d from_010 \
        -c "CREATE EXTENSION pg_segment VERSION '0.1.0'" -c "ALTER EXTENSION pg_segment UPDATE" \
        -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_segment'" 2>&1 | tr '\n' ' ')
    check "0.1.0 from the package updates to $version (got: $got)" test "$got" = "$version "
    PG_BIN="$SYS_BIN" bash scripts/cluster.sh stop "$CLUSTER"
else
    cat "$RUNDIR/package15-cluster.log"; bad "a throwaway cluster of the system PostgreSQL 15 starts"
fi

# ---- remove it ----
if DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq "$name" >>"$RUNDIR/package15-apt.log" 2>&1; then
    ok "apt-get remove $name"
else
    tail -n 20 "$RUNDIR/package15-apt.log"; bad "apt-get remove $name"
fi
check "dpkg no longer lists $name as installed" sh -c "! dpkg -s '$name' 2>/dev/null | grep -q '^Status: install ok installed'"
left=()
for f in "${files[@]}"; do [ -e "$f" ] && left+=("$f"); done
check "all ${#files[@]} files of the package are gone${left:+ (left: ${left[*]})}" test ${#left[@]} -eq 0
check "its documentation directory is gone" test ! -e "/usr/share/doc/$name"
finish
