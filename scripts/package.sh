#!/usr/bin/env bash
# `make package`: release packages in dist/.
#   scripts/package.sh [MAJOR...]     (default: the tested majors, 15 16 18)
#   scripts/package.sh --deb MAJOR    only the Debian package of one major (scripts/package_test.sh)
# For each major, a Debian package postgresql-NN-pg-segment_<version>_amd64.deb: `cargo pgrx
# package` builds the library and the generated install script against that major's private
# installation (scripts/pg.sh), the files are placed where Debian's postgresql-NN looks for them
# (/usr/lib/postgresql/NN/lib, /usr/share/postgresql/NN/extension) beside the frozen install
# scripts of earlier releases and the upgrade scripts, and dpkg-deb builds the package, which
# depends on postgresql-NN. Then a source archive pg_segment-<version>.tar.gz of HEAD (git
# archive; META.json inside makes it a PGXN distribution).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
[ -n "${PGSEG_SETUP_DONE:-}" ] || PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config bash scripts/setup.sh
. scripts/rundir.sh
. scripts/pg.sh
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
DIST="$ROOT/dist"
MAINTAINER="${PGSEG_MAINTAINER:-pg_segment developers <pg_segment@users.noreply.invalid>}"
deb_only=0
if [ "${1:-}" = "--deb" ]; then deb_only=1; shift; fi
majors=("$@")
[ ${#majors[@]} -gt 0 ] || read -r -a majors <<<"$PGSEG_TESTED_MAJORS"
mkdir -p "$DIST"

# Depends of the library beyond PostgreSQL (libc6, libgcc-s1), as dpkg-shlibdeps computes them.
shlib_depends() {
    local so="$1" tmp out
    tmp=$(mktemp -d)
    mkdir -p "$tmp/debian"
    printf 'Source: pg-segment\n\nPackage: pg-segment\nArchitecture: any\n' >"$tmp/debian/control"
    out=$(cd "$tmp" && dpkg-shlibdeps -O -e "$so" 2>/dev/null | sed -n 's/^shlibs:Depends=//p') || true
    rm -rf "$tmp"
    echo "${out:-libc6}"
}

package_deb() {
    local major="$1"
    pg_prepare "$major"
    local name="postgresql-$major-pg-segment" out="$ROOT/target/release/pg_segment-pg$major"
    echo "[package] $name $version: cargo pgrx package --pg-config $PG_CONFIG"
    rm -rf "$out"
    cargo pgrx package --pg-config "$PG_CONFIG" --out-dir "$out" 2>&1 | grep -Ev '^\s*$' | tail -n 2
    local stage="$ROOT/target/package/$name"
    rm -rf "$stage"
    local lib="$stage/usr/lib/postgresql/$major/lib" ext="$stage/usr/share/postgresql/$major/extension"
    local doc="$stage/usr/share/doc/$name"
    mkdir -p "$lib" "$ext" "$doc" "$stage/DEBIAN"
    # cargo pgrx package lays the files out under the private installation's paths: move them
    # to Debian's
    cp "$out$("$PG_CONFIG" --pkglibdir)/pg_segment.so" "$lib/"
    cp "$out$("$PG_CONFIG" --sharedir)/extension/"pg_segment* "$ext/"
    bash scripts/copy_frozen.sh "$ext"
    cp README.md CHANGELOG.md "$doc/"
    gzip -9n "$doc/CHANGELOG.md"
    cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: pg_segment
License: Apache-2.0

Files: *
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
    find "$stage" -type d -exec chmod 0755 {} +
    find "$stage" -type f -exec chmod 0644 {} +
    local size
    size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
    cat >"$stage/DEBIAN/control" <<EOF
Package: $name
Version: $version
Architecture: amd64
Maintainer: $MAINTAINER
Installed-Size: $size
Depends: postgresql-$major, $(shlib_depends "$lib/pg_segment.so")
Section: database
Priority: optional
Description: customer segmentation in SQL for PostgreSQL $major
 pg_segment: RFM summaries, scores and segments, membership tiers, lifecycle
 stages, purchase cadence, customer lifetime value and k-means clusters,
 as SQL functions over your own orders table (CREATE EXTENSION pg_segment).
 Built against PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}'). Ships the install scripts of
 earlier releases and the upgrade scripts: ALTER EXTENSION pg_segment UPDATE
 updates a database in place.
EOF
    (cd "$stage" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
    local deb="$DIST/${name}_${version}_amd64.deb"
    dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
    echo "[package] $deb"
    dpkg-deb --contents "$deb" | awk '{print "[package]   " $NF}' | grep -v '/$'
}

for m in "${majors[@]}"; do
    package_deb "$m"
done
[ $deb_only = 1 ] && exit 0

src="$DIST/pg_segment-$version.tar.gz"
git diff --quiet HEAD -- 2>/dev/null || echo "[package] note: the work tree has uncommitted changes; the source archive is HEAD's"
git archive --format=tar.gz --prefix="pg_segment-$version/" -o "$src" HEAD
echo "[package] $src (source; PGXN distribution: META.json)"
