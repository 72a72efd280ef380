# Sourced by the scripts (after scripts/rundir.sh): private PostgreSQL installations, one per
# major, that tests build into and start servers from.
#
#   pg_env MAJOR       sets PG_MAJOR, PG_PREFIX, PG_CONFIG, PG_BIN, PG_REGRESS and PGRX_HOME
#   pg_prepare MAJOR   pg_env, then makes the installation if it is missing (idempotent)
#
# Why private: `cargo pgrx install` writes into the installation its pg_config names. Tests that
# install into the system PostgreSQL would overwrite each other's pg_segment.so when two
# checkouts test at once, and would leave test builds in the server a DBA runs. A private copy
# costs 60 MB and half a second.
#
# PostgreSQL installations are relocatable: the server and pg_config find their share, lib and
# include directories relative to their own bin directory. So a copy of Debian's
# /usr/lib/postgresql/NN, /usr/share/postgresql/NN and /usr/include/postgresql under
# $PG_PREFIX/usr/ is a complete installation of its own (with pg_cron, which Debian's package
# postgresql-NN-cron put there).
#
# PGRX_HOME is private too (its config.toml names the private pg_config of each major), so
# `cargo pgrx test pgNN` builds into and runs from the private installation.

PGSEG_PG_ROOT="${PGSEG_PG_ROOT:-$RUNDIR/pg}"

pg_env() {
    PG_MAJOR="$1"
    PG_PREFIX="$PGSEG_PG_ROOT/$PG_MAJOR"
    PG_BIN="$PG_PREFIX/usr/lib/postgresql/$PG_MAJOR/bin"
    PG_CONFIG="$PG_BIN/pg_config"
    PG_REGRESS="$PG_PREFIX/usr/lib/postgresql/$PG_MAJOR/lib/pgxs/src/test/regress/pg_regress"
    PGRX_HOME="$PGSEG_PG_ROOT/pgrx"
    export PG_MAJOR PG_PREFIX PG_BIN PG_CONFIG PG_REGRESS PGRX_HOME
}

# Records the private pg_config of a major in the private PGRX_HOME's config.toml.
pg_register_pgrx() {
    mkdir -p "$PGRX_HOME"
    local cfg="$PGRX_HOME/config.toml" line="pg$PG_MAJOR = \"$PG_CONFIG\""
    if [ -f "$cfg" ] && grep -qxF "$line" "$cfg"; then return 0; fi
    { echo "[configs]"; [ -f "$cfg" ] && grep -E '^pg[0-9]+ = ' "$cfg" | grep -v "^pg$PG_MAJOR = "; echo "$line"; } >"$cfg.new"
    mv "$cfg.new" "$cfg"
}

pg_prepare() {
    pg_env "$1"
    # the stamp names what the copy was made from: a Debian update of the server makes a new copy
    local stamp="$PG_PREFIX/.source" want
    case "$PG_MAJOR" in
    15)
        want="debian $(dpkg-query -W -f='${Version}' "postgresql-$PG_MAJOR" 2>/dev/null) $(dpkg-query -W -f='${Version}' "postgresql-$PG_MAJOR-cron" 2>/dev/null)"
        if [ ! -x "$PG_CONFIG" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
            echo "[pg] private PostgreSQL $PG_MAJOR from Debian's packages in $PG_PREFIX"
            rm -rf "$PG_PREFIX"
            mkdir -p "$PG_PREFIX/usr/lib/postgresql" "$PG_PREFIX/usr/share/postgresql" "$PG_PREFIX/usr/include"
            cp -a "/usr/lib/postgresql/$PG_MAJOR" "$PG_PREFIX/usr/lib/postgresql/"
            cp -a "/usr/share/postgresql/$PG_MAJOR" "$PG_PREFIX/usr/share/postgresql/"
            cp -a /usr/include/postgresql "$PG_PREFIX/usr/include/"
            # test builds of pg_segment are installed by the tests themselves
            rm -f "$PG_PREFIX/usr/lib/postgresql/$PG_MAJOR/lib/pg_segment.so" "$PG_PREFIX/usr/share/postgresql/$PG_MAJOR/extension/pg_segment"*
            echo "$want" >"$stamp"
        fi
        ;;
    *)
        echo "[pg] PostgreSQL $PG_MAJOR is not supported by these scripts" >&2
        return 1
        ;;
    esac
    # the server runs as user postgres: it must read the installation and write nothing there
    [ "$(id -u)" -eq 0 ] && chmod -R u+rwX,go+rX "$PGSEG_PG_ROOT" 2>/dev/null
    pg_register_pgrx
}
