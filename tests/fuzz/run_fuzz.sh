#!/bin/sh
# run_fuzz.sh FUZZER SEEDS WORKDIR SECONDS - one libFuzzer run of SECONDS as
# a TAP test. New inputs go to WORKDIR/corpus (the committed seeds in SEEDS
# are only read); a crashing input is saved under WORKDIR/crashes/, and the
# end of the fuzzer's log is shown. To keep it as a regression test, copy it
# into tests/fuzz/corpus/<target>/ (the replay tests run every file there).
set -u
fuzzer=$1 seeds=$2 work=$3 seconds=$4
name=$(basename "$fuzzer")
mkdir -p "$work/corpus" "$work/crashes"
# Reports belong in this run's log, beside the saved input: no log_path.
ASAN_OPTIONS=$(printf '%s' "${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}" | sed 's/:*log_path=[^:]*//')
UBSAN_OPTIONS=$(printf '%s' "${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" | sed 's/:*log_path=[^:]*//')
export ASAN_OPTIONS UBSAN_OPTIONS
log="$work/fuzz.log"
echo "1..1"
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/crashes/" "$work/corpus" "$seeds" >"$log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
if [ "$rc" -eq 0 ]; then
    echo "ok 1 - $name: ${runs:-?} inputs in ${seconds}s, no crash"
else
    tail -n 60 "$log" | sed 's/^/# /'
    echo "not ok 1 - $name: crashed (exit $rc); the input is under $work/crashes/"
fi
exit "$rc"
