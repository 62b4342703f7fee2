#!/bin/sh
# `make bench` (after `make all` built the module): builds the bench-only C
# baselines under build/bench/, then runs bench/bench.py, which starts
# everything on 127.0.0.1, runs every cell, stops what it started and prints
# the table (also written to docs/BENCHMARKS.md, or $BENCH_OUTPUT).
# Knobs (environment or make variables): BENCH_SECONDS (10), BENCH_CONNS
# ("1 16 64"), BENCH_MEMORY_REQUESTS (200000), BENCH_OPS_ROWS (3000),
# BENCH_OPENSSL_SECONDS (3), BENCH_OUTPUT (docs/BENCHMARKS.md). See
# docs/BENCHMARKS.md.
set -eu
cd "$(dirname "$0")/.."

out=build/bench
mkdir -p "$out"
pkgs="apr-1 apr-util-1 jansson cjose openssl sqlite3"
# The flags apxs builds the module with (apxs -q CFLAGS), so the token unit
# runs the same code in the verify driver as in httpd.
cflags="-std=gnu11 -Wall -Wextra -Werror -pipe -g -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2"

echo "bench: building the baselines in $out/"
# shellcheck disable=SC2086
gcc $cflags $(pkg-config --cflags jansson sqlite3) -o "$out/sqlite_script" \
    bench/sqlite_script.c $(pkg-config --libs jansson sqlite3) -lpthread
# the module's SQL, from src/ra_store.c and src/ra_sql.c themselves (-I build:
# the compiled-in schema)
# shellcheck disable=SC2086
gcc $cflags -I include -I build $(pkg-config --cflags $pkgs) -o "$out/module_sql" \
    bench/module_sql.c src/ra_dbd.c src/ra_store.c src/ra_sql.c src/ra_query.c src/ra_entity.c \
    src/ra_json_writer.c src/ra_odata.c src/ra_schema.c \
    $(pkg-config --libs $pkgs) -lm
# shellcheck disable=SC2086
gcc $cflags -I include $(pkg-config --cflags $pkgs) -o "$out/verify_speed" \
    bench/verify_speed.c src/ra_jose.c src/ra_keyset.c src/ra_token.c src/ra_token_cache.c $(pkg-config --libs $pkgs) -lm
# apxs -c writes its objects beside the source: build from a copy in $out.
cp bench/mod_bench_minimal.c "$out/"
(cd "$out" && ${APXS:-apxs} -c -Wc,-std=gnu11 -Wc,-Wall -Wc,-Wextra -Wc,-Werror \
    mod_bench_minimal.c >apxs.log 2>&1) || { cat "$out/apxs.log" >&2; exit 1; }

[ "${BENCH_BUILD_ONLY:-}" ] && exit 0
exec /usr/bin/python3 bench/bench.py
