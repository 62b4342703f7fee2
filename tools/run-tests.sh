#!/bin/bash
# `make test` after the build: every suite, then one closing line
# "tests: N passed, N failed". Exits non-zero when anything failed.
#   1. Check unit tests of the token, entity, OData and store units
#   2. the same under AddressSanitizer + UBSan (leak detection on), and
#      under ThreadSanitizer
#   3. pytest integration: real httpd on SQLite and a private PostgreSQL
#      cluster, the Graph JavaScript client, and the `make bench` smoke run
#   4. the integration suite's SQLite half again with the sanitized module
#      (not the Debian package's test: the package holds the plain build)
set -u
cd "$(dirname "$0")/.."
PYTHON=/usr/bin/python3
passed=0
failed=0

# Adds a suite's counts; a suite that failed without printing counts
# counts as one failure.
tally() { # name rc passed failed
    passed=$((passed + $3))
    failed=$((failed + $4))
    if [ "$2" -ne 0 ] && [ "$4" -eq 0 ]; then
        failed=$((failed + 1))
        echo "!! $1 exited $2 without reporting a failed test"
    fi
    echo "== $1: $3 passed, $4 failed (exit $2)"
}

run_check() { # name binary [env...]
    local name=$1 out rc checks fails errors
    shift
    out=$(env "$@" 2>&1); rc=$?
    echo "$out"
    read -r checks fails errors < <(echo "$out" |
        sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' | tail -1)
    checks=${checks:-0} fails=${fails:-0} errors=${errors:-0}
    tally "$name" "$rc" $((checks - fails - errors)) $((fails + errors))
}

run_pytest() { # name [env...] -- pytest args
    local name=$1 envs=() out rc p f e
    shift
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    out=$(env "${envs[@]}" $PYTHON -m pytest -q -p no:cacheprovider "$@" 2>&1); rc=$?
    echo "$out"
    local last
    last=$(echo "$out" | grep -E '[0-9]+ (passed|failed|error)' | tail -1)
    p=$(echo "$last" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
    f=$(echo "$last" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
    e=$(echo "$last" | grep -oE '[0-9]+ errors?' | grep -oE '[0-9]+')
    tally "$name" "$rc" "${p:-0}" $(( ${f:-0} + ${e:-0} ))
}

run_check "unit" build/unit_tests
run_check "unit (ASan+UBSan)" build/asan/unit_tests ASAN_OPTIONS=detect_leaks=1
run_check "unit (TSan)" build/tsan/unit_tests TSAN_OPTIONS=halt_on_error=1
run_pytest "integration" -- tests/integration

asan_logs=$(mktemp -d /tmp/ra-asan-XXXXXX)
chmod 777 "$asan_logs"
run_pytest "integration, sanitized module" \
    RA_MODULE="$PWD/build/asan/mod_remoteassist.so" \
    RA_PRELOAD="$(gcc -print-file-name=libasan.so)" \
    ASAN_OPTIONS="detect_leaks=0:log_path=$asan_logs/asan" \
    UBSAN_OPTIONS="print_stacktrace=1:log_path=$asan_logs/ubsan" \
    -- tests/integration -k "not pgsql and not postgresql" \
    --ignore=tests/integration/test_bench_smoke.py \
    --ignore=tests/integration/test_debian_package.py
if compgen -G "$asan_logs/*" > /dev/null; then
    cat "$asan_logs"/*
    failed=$((failed + 1))
    echo "!! the sanitized module reported errors (above)"
fi
rm -rf "$asan_logs"

# ---- fuzz smoke: each libFuzzer target of tests/fuzz for FUZZ_SMOKE_SECONDS,
# then its committed corpus and regressions replayed; one count per target.
# libFuzzer's own output stays in build/fuzz/logs (tests/fuzz/README.md).
fuzz_out=$(make --no-print-directory fuzz-smoke 2>&1); fuzz_rc=$?
echo "$fuzz_out"
tally "fuzz smoke" "$fuzz_rc" "$(echo "$fuzz_out" | grep -c '^fuzz [a-z_]*: passed')" \
    "$(echo "$fuzz_out" | grep -c '^fuzz [a-z_]*: failed')"
# ---- end fuzz smoke

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
