# pg_segment: every command installs what it needs first (scripts/setup.sh is idempotent).
.PHONY: setup install test demo bench bench-kmeans bench-clv clean

setup:
	@bash scripts/setup.sh

install:
	@bash scripts/install.sh

test:
	@bash scripts/test.sh

demo:
	@bash scripts/demo.sh

bench:
	@bash scripts/bench.sh

bench-kmeans:
	@bash scripts/bench_kmeans.sh

bench-clv:
	@bash scripts/bench_clv.sh

clean:
	cargo clean
	rm -rf .pg_segment tests/target pg_test/results
