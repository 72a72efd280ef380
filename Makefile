# pg_segment: every command installs what it needs first (scripts/setup.sh is idempotent).
.PHONY: setup install test test-citus package freeze next demo report bench bench-kmeans bench-clv clean

setup:
	@bash scripts/setup.sh

install:
	@bash scripts/install.sh

# every tested major (15 16 18); PG="16" make test runs one
test:
	@bash scripts/test.sh

# the multi-node checks on Citus, where a developer built Citus by hand (DEVELOPERS.md): finds
# it through PGSEG_CITUS_PG_CONFIG (or PG_CONFIG), says so and skips without one; not in make test
test-citus:
	@bash scripts/citus.sh

# dist/: a Debian package per major and the source archive
package:
	@bash scripts/package.sh

# at a release: freeze the install script of the version in Cargo.toml (scripts/release.sh)
freeze:
	@bash scripts/release.sh freeze

# after a release: make next VERSION=X.Y.Z opens the next version and its upgrade script
next:
	@bash scripts/release.sh next "$(VERSION)"

demo:
	@bash scripts/demo.sh

# the sample store's report page and a headless-Chromium screenshot, in .pg_segment/report/
report:
	@bash scripts/report.sh

bench:
	@bash scripts/bench.sh

bench-kmeans:
	@bash scripts/bench_kmeans.sh

bench-clv:
	@bash scripts/bench_clv.sh

clean:
	cargo clean
	rm -rf .pg_segment tests/target pg_test/results dist
