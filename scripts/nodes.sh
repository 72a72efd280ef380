# Sourced by the multi-node checks (scripts/multinode.sh: postgres_fdw shards; scripts/citus.sh:
# Citus workers): psql against one node, the check counter and its summary line, and the SQL
# that compares two populations row for row. Needs BIN (the binaries' directory).
passed=0; failed=0

# node_psql DIR PORT DB SQL...: each SQL a separate -c, one value per line, stops at the first error
node_psql() {
    local dir="$1" port="$2" db="$3"; shift 3
    local args=()
    for s in "$@"; do args+=(-c "$s"); done
    PGOPTIONS="-c client_min_messages=warning" "$BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d "$db" "${args[@]}"
}

# check NAME GOT WANT
check() {
    if [ "$2" = "$3" ]; then
        echo "ok: $1"; passed=$((passed + 1))
    else
        echo "FAILED: $1: got '$2', want '$3'"; failed=$((failed + 1))
    fi
}

# nodes_summary NAME: the summary line, and the exit status (0 when nothing failed)
nodes_summary() {
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# Followed by "FROM (population query) d(p), (population query) l(p)": the rows of population_rows
# of either missing from the other (both ways), then the number of rows of d
POPULATION_DIFFERING="SELECT (SELECT count(*) FROM (SELECT * FROM segment.population_rows(d.p) EXCEPT ALL SELECT * FROM segment.population_rows(l.p)) x)
                + (SELECT count(*) FROM (SELECT * FROM segment.population_rows(l.p) EXCEPT ALL SELECT * FROM segment.population_rows(d.p)) x)
                || ' ' || (SELECT count(*) FROM segment.population_rows(d.p))"

# relations_differing A B: the SQL counting the rows of relation A missing from B and of B missing
# from A (to_jsonb: every column, NULLs equal)
relations_differing() {
    echo "SELECT (SELECT count(*) FROM (SELECT to_jsonb(x) FROM $1 x EXCEPT ALL SELECT to_jsonb(y) FROM $2 y) d)
               + (SELECT count(*) FROM (SELECT to_jsonb(y) FROM $2 y EXCEPT ALL SELECT to_jsonb(x) FROM $1 x) d)"
}
