#!/usr/bin/env bash
# Throwaway PostgreSQL cluster on a private port and socket directory, run by the binaries in
# $PG_BIN (default: Debian's PostgreSQL 15; scripts/pg.sh sets it for the private installations).
#   scripts/cluster.sh start DIR PORT [extra postgresql.conf lines...]
#   scripts/cluster.sh stop DIR
# Runs the server as user postgres when invoked as root (PostgreSQL refuses to run as root).
# PGSEG_ULIMIT_V=KB starts it under `ulimit -v KB`: every server process then has at most KB
# kilobytes of address space, so that allocations really fail (as with vm.overcommit_memory = 2
# or a container limit) and tests can check they become errors, not crashes.
set -euo pipefail
BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
cmd="$1"; dir="$2"
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || { echo "user postgres is missing: apt-get install postgresql-15" >&2; exit 1; }
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}
case "$cmd" in
start)
    port="$3"; shift 3
    if [ -f "$dir/data/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        echo "[cluster] already running in $dir on port $port"; exit 0
    fi
    rm -rf "$dir"; mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    as_pg "$BIN/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    {
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$dir'"
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
        echo "max_worker_processes = 8"
        for line in "$@"; do echo "$line"; done
    } | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
    (
        if [ -n "${PGSEG_ULIMIT_V:-}" ]; then ulimit -v "$PGSEG_ULIMIT_V"; fi
        as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    ) || { cat "$dir/server.log" >&2; exit 1; }
    echo "[cluster] started in $dir on port $port${PGSEG_ULIMIT_V:+ (address space limited to $PGSEG_ULIMIT_V kB)}"
    ;;
stop)
    if [ -d "$dir/data" ]; then
        as_pg "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
*) echo "usage: $0 start DIR PORT [conf...] | stop DIR" >&2; exit 2 ;;
esac
