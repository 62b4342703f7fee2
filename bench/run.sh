#!/bin/sh
# `make bench` (after `make all` built the module): builds the bench-only C
# baselines under build/bench/, then runs bench/bench.py, which starts
# everything on 127.0.0.1, runs every cell, stops what it started and prints
# the table (also written to docs/BENCHMARKS.md, or $BENCH_OUTPUT).
# Knobs (environment or make variables): BENCH_SECONDS (10), BENCH_CONNS
# ("1 16 64"), BENCH_MEMORY_REQUESTS (200000), BENCH_OPS_ROWS (3000),
# BENCH_SHIPPED_ROWS (100000), BENCH_LARGE_ROWS (1000000: the large data set's
# partners, in 10,000 tenants; issue 20's goal names 10000000),
# BENCH_PG_SETTINGS (more PostgreSQL settings, "shared_buffers=1GB"), BENCH_STEPS
# (only these steps, e.g. "batch mix large"), BENCH_OPENSSL_SECONDS (3),
# BENCH_OUTPUT (docs/BENCHMARKS.md); bench/bench.py lists them all. See
# docs/BENCHMARKS.md.
set -eu
cd "$(dirname "$0")/.."

out=build/bench
mkdir -p "$out"
pkgs="apr-1 apr-util-1 jansson cjose openssl sqlite3 libpq"
# The flags apxs builds the module with (apxs -q CFLAGS), so the token unit
# runs the same code in the verify driver as in httpd.
cflags="-std=gnu11 -Wall -Wextra -Werror -pipe -g -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2"

# Built again only when a source is newer than the last build (a stamp), and
# in two chains at once: the smoke run in `make test` pays for it each time.
stamp="$out/.built"
if [ -e "$stamp" ] && [ -z "$(find bench src include build -maxdepth 1 -newer "$stamp" \
        \( -name '*.c' -o -name '*.h' -o -name run.sh \) -print -quit)" ]; then
    echo "bench: the baselines in $out/ are up to date"
else
    echo "bench: building the baselines in $out/"
    rm -f "$stamp"
    (
        # shellcheck disable=SC2086
        gcc $cflags $(pkg-config --cflags jansson sqlite3) -o "$out/sqlite_script" \
            bench/sqlite_script.c $(pkg-config --libs jansson sqlite3) -lpthread
        # the module's SQL, from src/ra_store.c and src/ra_sql.c themselves (-I build:
        # the compiled-in schema)
        # shellcheck disable=SC2086
        gcc $cflags -I include -I build $(pkg-config --cflags $pkgs) -o "$out/module_sql" \
            bench/module_sql.c src/ra_dbd.c src/ra_store.c src/ra_sql.c src/ra_query.c \
            src/ra_entity.c src/ra_json_writer.c src/ra_schema.c src/ra_audit.c src/ra_odata.c \
            src/ra_route.c src/ra_watchdog.c \
            $(pkg-config --libs $pkgs) -lm
    ) &
    first=$!
    (
        # shellcheck disable=SC2086
        gcc $cflags -I include $(pkg-config --cflags $pkgs) -o "$out/verify_speed" \
            bench/verify_speed.c src/ra_jose.c src/ra_keyset.c src/ra_token.c \
            src/ra_token_cache.c $(pkg-config --libs $pkgs) -lm
        # shellcheck disable=SC2086
        gcc $cflags -I include $(pkg-config --cflags $pkgs) -o "$out/skiptoken_speed" \
            bench/skiptoken_speed.c src/ra_query.c src/ra_entity.c src/ra_odata.c \
            src/ra_audit.c src/ra_json_writer.c $(pkg-config --libs $pkgs) -lm
        # shellcheck disable=SC2086
        gcc $cflags -I include $(pkg-config --cflags $pkgs) -o "$out/throttle_lock" \
            bench/throttle_lock.c src/ra_throttle.c $(pkg-config --libs $pkgs) -pthread
        # apxs -c writes its objects beside the source: build from a copy in $out.
        cp bench/mod_bench_minimal.c "$out/"
        (cd "$out" && ${APXS:-apxs} -c -Wc,-std=gnu11 -Wc,-Wall -Wc,-Wextra -Wc,-Werror \
            mod_bench_minimal.c >apxs.log 2>&1) || { cat "$out/apxs.log" >&2; exit 1; }
    ) &
    second=$!
    failed=0
    wait "$first" || failed=1
    wait "$second" || failed=1
    [ "$failed" = 0 ] || { echo "bench: building the baselines failed" >&2; exit 1; }
    touch "$stamp"
fi

[ "${BENCH_BUILD_ONLY:-}" ] && exit 0
exec /usr/bin/python3 bench/bench.py
