# Sourced (after `cd` to the checkout) by every script that installs pg_segment into the one
# system PostgreSQL: runs from several checkouts on one machine take turns instead of
# overwriting each other's pg_segment.so mid-run. flock -o: servers started under the lock do
# not inherit (and hold) it.
if [ -z "${PGSEG_LOCKED:-}" ] && command -v flock >/dev/null; then
    export PGSEG_LOCKED=1
    exec flock -o /tmp/pg_segment_install.lock bash "$PWD/scripts/$(basename "$0")" "$@"
fi
