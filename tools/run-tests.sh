#!/bin/bash
# The suites after the build, stage by stage. Each stage prints its seconds
# and its passed/failed/skipped counts; the run ends with a summary of the
# stages, every skipped test of a scenario README.md promises (disk full,
# PostgreSQL) by name, and one closing line "tests: N passed, N failed,
# N skipped" (CI reads it). Exits non-zero when anything failed.
#
# tools/run-tests.sh: `make test`, everything CI runs
#   1. the include-cycle check (tools/check-includes.py)
#   2. Check unit tests of the ra_* units, plain, under AddressSanitizer +
#      UBSan (leak detection on), and under ThreadSanitizer
#   3. pytest integration: real httpd on SQLite and a private PostgreSQL
#      cluster, the Graph JavaScript client, and the slow groups (pytest
#      marker `slow`: reliability fault runs, the `make bench` smoke run, the
#      Debian package, `make run`)
#   4. the integration suite's SQLite half again with the sanitized module,
#      without the slow groups and never the Debian package's test (the
#      package holds the plain build)
#   5. fuzz smoke: each libFuzzer target of tests/fuzz briefly, then its corpus
#      (beside 4, one target at a time; the two sanitized runs of 2 side by side)
# tools/run-tests.sh --check: `make check`, the tier to run every few minutes:
#   stages 1, the plain unit tests of 2, and 3 on SQLite without the slow groups
set -u
cd "$(dirname "$0")/.." || exit 2
PYTHON=/usr/bin/python3
tier="test"
[ "${1:-}" = --check ] && tier=check
passed=0 failed=0 skipped=0
stages=()    # one summary line per stage
promised=()  # skipped tests of the scenarios README.md promises
log=$(mktemp /tmp/ra-tests-XXXXXX)
stage_dir=$(mktemp -d /tmp/ra-stages-XXXXXX)  # stages that run in the background
asan_logs=""
trap 'rm -rf "$log" "$stage_dir" $asan_logs' EXIT

# Runs a stage's command with its output shown as it comes and kept in $log;
# sets rc and secs.
run_logged() {
    local start=$EPOCHREALTIME
    "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
}

# Starts a stage's command in the background, its output kept in
# $stage_dir/NAME.log and its seconds in $stage_dir/NAME.secs, for a stage
# that runs beside another (see below); finish_background shows it.
start_background() { # name command...
    local name=$1
    shift
    (
        start=$EPOCHREALTIME
        "$@" >"$stage_dir/$name.log" 2>&1
        rc=$?
        awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }' \
            >"$stage_dir/$name.secs"
        exit $rc
    ) &
    background_pid=$!
}

# Waits for the background stage of pid, shows its output and sets rc and
# secs, as run_logged does.
finish_background() { # name pid
    wait "$2"
    rc=$?
    cp "$stage_dir/$1.log" "$log"
    cat "$log"
    secs=$(cat "$stage_dir/$1.secs")
}

# Adds a stage's counts; a stage that failed without reporting a failed
# test counts as one failure.
tally() { # name passed failed skipped (rc and secs from run_logged)
    local name=$1 p=$2 f=$3 s=$4 line
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "!! $name exited $rc without reporting a failed test"
    fi
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    line=$(printf '%-32s %5d passed, %d failed, %d skipped, %4d s' "$name:" "$p" "$f" "$s" "$secs")
    stages+=("$line")
    echo "== $line (exit $rc)"
}

include_check() {
    run_logged $PYTHON tools/check-includes.py
    local cycles
    cycles=$(grep -c '^include cycle:' "$log")
    tally "include cycles" $((cycles == 0 && rc == 0)) "$cycles" 0
}

run_check() { # name binary [env...]
    local name=$1 binary=$2
    shift 2
    run_logged env "$@" "$binary"
    tally_check "$name"
}

tally_check() { # name (rc, secs and the output in $log)
    local name=$1 checks fails errors
    read -r checks fails errors < <(
        sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' \
            "$log" | tail -1)
    checks=${checks:-0} fails=${fails:-0} errors=${errors:-0}
    tally "$name" $((checks - fails - errors)) $((fails + errors)) 0
}

count() { # word line: the number before the word (a regex) in pytest's last line, or 0
    local n
    n=$(echo "$2" | grep -oE "[0-9]+ $1\b" | grep -oE '^[0-9]+')
    echo "${n:-0}"
}

run_pytest() { # name [env...] -- pytest args
    local name=$1 envs=() last line
    shift
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    run_logged env "${envs[@]}" $PYTHON -m pytest -q -p no:cacheprovider "$@"
    last=$(grep -E '[0-9]+ (passed|failed|errors?|skipped|deselected)' "$log" | tail -1)
    while IFS= read -r line; do
        promised+=("$name: ${line#promised scenario skipped: }")
    done < <(grep '^promised scenario skipped: ' "$log")
    tally "$name" "$(count passed "$last")" \
        $(( $(count failed "$last") + $(count 'errors?' "$last") )) \
        "$(count skipped "$last")"
}

include_check
run_check "unit" build/unit_tests
if [ "$tier" = check ]; then
    run_pytest "integration, SQLite, not slow" -- tests/integration -m "not slow" \
        -k "not pgsql and not postgresql"
else
    # The two sanitized unit runs side by side: each runs one test at a
    # time, on one of the two cores, and neither has a bound on time.
    start_background asan env ASAN_OPTIONS=detect_leaks=1 build/asan/unit_tests
    asan_pid=$background_pid
    start_background tsan env TSAN_OPTIONS=halt_on_error=1 build/tsan/unit_tests
    tsan_pid=$background_pid
    finish_background asan "$asan_pid"
    tally_check "unit (ASan+UBSan)"
    finish_background tsan "$tsan_pid"
    tally_check "unit (TSan)"
    # the slowest tests named, so that keeping make test under its time budget
    # starts from evidence
    run_pytest "integration" -- tests/integration --durations=20

    # The fuzz smoke runs beside the sanitized module's integration run, one
    # target at a time (make fuzz-smoke alone runs two on idle cores): those
    # tests, on SQLite without the slow ones, keep about one core busy, and
    # the target fuzzes on the other. Niced, so that where the tests need
    # both cores for a moment (their bounds are on time) they get them.
    start_background fuzz nice -n 19 make --no-print-directory fuzz-smoke FUZZ_SMOKE_JOBS=1
    fuzz_pid=$background_pid

    asan_logs=$(mktemp -d /tmp/ra-asan-XXXXXX)
    chmod 777 "$asan_logs"
    run_pytest "integration, sanitized module" \
        RA_MODULE="$PWD/build/asan/mod_remoteassist.so" \
        RA_PRELOAD="$(gcc -print-file-name=libasan.so)" \
        ASAN_OPTIONS="detect_leaks=0:log_path=$asan_logs/asan" \
        UBSAN_OPTIONS="print_stacktrace=1:log_path=$asan_logs/ubsan" \
        -- tests/integration -m "not slow" -k "not pgsql and not postgresql" \
        --ignore=tests/integration/test_debian_package.py
    if compgen -G "$asan_logs/*" > /dev/null; then
        cat "$asan_logs"/*
        failed=$((failed + 1))
        echo "!! the sanitized module reported errors (above)"
    fi

    # ---- fuzz smoke: each libFuzzer target of tests/fuzz for FUZZ_SMOKE_SECONDS
    # (started above), then its committed corpus and regressions replayed; one count per target.
    # libFuzzer's own output stays in build/fuzz/logs (tests/fuzz/README.md).
    finish_background fuzz "$fuzz_pid"
    tally "fuzz smoke" "$(grep -c '^fuzz [a-z_]*: passed' "$log")" \
        "$(grep -c '^fuzz [a-z_]*: failed' "$log")" 0
    # ---- end fuzz smoke
fi

echo
echo "== summary ($tier)"
printf '   %s\n' "${stages[@]}"
for line in "${promised[@]}"; do
    echo "!! skipped, though README.md promises it: $line"
done
if [ "$tier" = check ]; then
    echo "   not in make check: PostgreSQL, the slow tests, the sanitizers, fuzzing (make test)"
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
