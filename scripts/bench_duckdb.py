"""DuckDB's time for the hand-written RFM query of `make bench`, over the same order rows.

Usage: bench_duckdb.py ROWS.csv THREADS QUERY
The rows (customer_id, ordered_at, amount; a CSV that PostgreSQL's COPY wrote in UTC) are loaded
into an in-memory table first (not timed); then QUERY runs 3 times and the median wall time in ms
is printed, with the DuckDB version: "<ms> <version>". The bench prints the ratio of our
whole-population path to it (issue 18: at most 2x DuckDB).
"""
import statistics
import sys
import time

import duckdb


def main() -> None:
    path, threads, query = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {threads}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE orders AS SELECT * FROM read_csv(?, header = false, "
        "columns = {'customer_id': 'BIGINT', 'ordered_at': 'TIMESTAMPTZ', 'amount': 'DECIMAL(12,2)'})",
        [path],
    )
    times = []
    for _ in range(3):
        start = time.perf_counter()
        con.execute(query).fetchall()
        times.append((time.perf_counter() - start) * 1000.0)
    print(f"{statistics.median(times):.1f} {duckdb.__version__}")


if __name__ == "__main__":
    main()
