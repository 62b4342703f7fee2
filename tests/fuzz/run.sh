#!/bin/bash
# Runs one libFuzzer target: SECONDS of fuzzing that starts from the committed
# corpus and regressions and writes new inputs to SCRATCH (never into the
# repository), then every committed input once more. libFuzzer's output goes
# to build/fuzz/logs/TARGET.log; the last line printed is
# "fuzz TARGET: passed|failed (...)". Usage: tests/fuzz/run.sh TARGET SECONDS SCRATCH
set -u
cd "$(dirname "$0")/../.."
target=$1 seconds=$2 scratch=$3
bin=build/fuzz/$target
log=build/fuzz/logs/$target.log
artifacts=build/fuzz/artifacts/$target/
seeds=(tests/fuzz/corpus/"$target")
[ -d tests/fuzz/regressions/"$target" ] && seeds+=(tests/fuzz/regressions/"$target")
mkdir -p "$scratch" "$artifacts" "$(dirname "$log")"

# An input that runs 10 s is a finding too; LeakSanitizer is on by default.
export UBSAN_OPTIONS=print_stacktrace=1
"$bin" -max_total_time="$seconds" -timeout=10 -dict=tests/fuzz/"$target".dict \
    -artifact_prefix="$artifacts" -print_final_stats=1 "$scratch" "${seeds[@]}" \
    > "$log" 2>&1
fuzz_rc=$?
replayed=$(find "${seeds[@]}" -type f | sort)
# shellcheck disable=SC2086
"$bin" -timeout=10 $replayed >> "$log" 2>&1
replay_rc=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
cov=$(echo "$done_line" | grep -oE 'cov: [0-9]+' | grep -oE '[0-9]+')
corpus=$(echo "$done_line" | grep -oE 'corp: [0-9]+' | grep -oE '[0-9]+')
summary="${seconds} s: ${execs:-?} executions (${rate:-?}/s), coverage ${cov:-?}, corpus ${corpus:-?} inputs, $(find "$scratch" -type f | wc -l) files in $scratch; replayed $(echo "$replayed" | wc -l) committed inputs; log $log"
if [ "$fuzz_rc" -eq 0 ] && [ "$replay_rc" -eq 0 ]; then
    echo "fuzz $target: passed ($summary)"
    exit 0
fi
tail -n 60 "$log"
grep -h 'Test unit written to' "$log"
echo "fuzz $target: failed (fuzzing exit $fuzz_rc, replay exit $replay_rc; $summary)"
exit 1
