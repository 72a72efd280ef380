# Sourced by the scripts: RUNDIR is where throwaway clusters live. It is outside the checkout
# (under /tmp) because the server runs as user postgres, which may not be able to reach a
# checkout below a private directory such as /root; the checkout's path picks the directory.
RUNDIR="${PGSEG_RUNDIR:-/tmp/pg_segment_$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)}"
mkdir -p "$RUNDIR"
