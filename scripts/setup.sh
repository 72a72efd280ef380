#!/usr/bin/env bash
# Idempotent set-up for building and testing pg_segment on Debian with PostgreSQL 15.
# Installs only what is missing: apt packages, cargo-pgrx 0.18.1, and `cargo pgrx init`.
# (The other majors' private installations come from Python wheels: scripts/pg.sh.)
set -euo pipefail

# The PostgreSQL to build for: $PG_CONFIG (`PG_CONFIG=... make install`), by default Debian's
# PostgreSQL 15, the system server of `make demo` and the source of the tests' private 15
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
[ -x "$PG_CONFIG" ] || { echo "[setup] ERROR: $PG_CONFIG not found: apt-get install postgresql-15, or set PG_CONFIG" >&2; exit 1; }
PG_MAJOR=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
PGRX_VERSION=0.18.1

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
    else die "installing '$*' needs root. Run as root, or give this user passwordless sudo, or install it by hand: apt-get install $*"
    fi
}

command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain (https://rustup.rs) and make sure ~/.cargo/bin is on PATH"

# 1. Debian packages
need=()
# unzip: the wheels of PostgreSQL 16 and 18; dpkg-dev and binutils: make package, the symbol check
pkgs=(libclang-dev clang sudo unzip dpkg-dev binutils)
# chromium and fonts-noto-cjk: make report's screenshot and its test (headless, no network), with
# a CJK font for the 中文 page; pngquant keeps the screenshot small (256 colours)
pkgs+=(chromium fonts-noto-cjk pngquant)
# Debian's server: its headers, and pg_cron for segment.schedule_refresh and its tests (optional
# at run time)
case "$PG_CONFIG" in /usr/lib/postgresql/*) pkgs+=("postgresql-server-dev-${PG_MAJOR}" "postgresql-${PG_MAJOR}-cron") ;; esac
for pkg in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    say "installing Debian packages: ${need[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
    say "Debian packages present"
fi

# 2. cargo-pgrx, pinned (0.19 needs a newer Rust than this toolchain)
if cargo pgrx --version 2>/dev/null | grep -q " ${PGRX_VERSION}\$"; then
    say "cargo-pgrx ${PGRX_VERSION} present"
else
    say "installing cargo-pgrx ${PGRX_VERSION} (takes several minutes the first time)"
    cargo install cargo-pgrx --version "${PGRX_VERSION}" --locked
fi

# 3. pgrx init against the system PostgreSQL
PGRX_HOME="${PGRX_HOME:-$HOME/.pgrx}"
if [ -f "$PGRX_HOME/config.toml" ] && grep -q "pg${PG_MAJOR} *= *\"$PG_CONFIG\"" "$PGRX_HOME/config.toml"; then
    say "cargo pgrx already initialised for pg${PG_MAJOR}"
else
    say "cargo pgrx init --pg${PG_MAJOR} $PG_CONFIG"
    cargo pgrx init "--pg${PG_MAJOR}" "$PG_CONFIG"
fi

# 4. the install target of the system PostgreSQL must be writable for `cargo pgrx install`
for d in "$("$PG_CONFIG" --pkglibdir)" "$("$PG_CONFIG" --sharedir)/extension"; do
    [ -w "$d" ] || die "$d is not writable by $(id -un): run as root, or make it writable, so the extension can be installed"
done
say "set-up complete"
