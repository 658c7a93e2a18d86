#!/usr/bin/env bash
# fuzz.sh — runs every libFuzzer harness of fuzz/ for SECONDS each, starting
# from the seed corpus in fuzz/corpus/<harness>/ (never modified: new inputs
# go to BUILD/fuzz-work/<harness>/), and prints executions per harness. Any
# crash, leak, sanitizer report or timeout fails the run; the input that
# caused it is left in BUILD/fuzz-artifacts/.
# usage: scripts/fuzz.sh BUILD_DIR SECONDS [HARNESS...]
set -euo pipefail
build=$1
secs=$2
shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  harnesses=(request image cfg weights netem_profile labels server_spec)
fi
work="$build/fuzz-work"
arts="$build/fuzz-artifacts"
mkdir -p "$work" "$arts"
# The file-based harnesses (cfg, weights, labels) write their input to a
# file on every run: in memory (/dev/shm) they run about 15 times faster
# than on a disk. One scratch directory for the whole run, removed at exit.
tmpbase=${TMPDIR:-/tmp}
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  tmpbase=/dev/shm
fi
scratch=$(mktemp -d "$tmpbase/specx-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export TMPDIR="$scratch"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="suppressions=$here/tests/lsan.supp:print_suppressions=0"
# Seeds that are not checked in (a weights file is a model file): made by
# fuzz_make_seeds, which writes every binary seed, into the build directory.
seeds="$build/fuzz-seeds"
mkdir -p "$seeds"
"$build/fuzz/fuzz_make_seeds" "$seeds"
failed=0
printf '%-14s %12s %10s %8s %s\n' harness executions exec/s corpus result
for h in "${harnesses[@]}"; do
  bin="$build/fuzz/fuzz_$h"
  mkdir -p "$work/$h"
  log="$work/$h.log"
  rc=0
  corpora=("$work/$h")
  for d in "$here/fuzz/corpus/$h" "$seeds/$h"; do
    if [ -d "$d" ]; then
      corpora+=("$d")
    fi
  done
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$arts/$h-" "${corpora[@]}" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  files=$(find "$work/$h" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $rc; see $log)"
    failed=1
  fi
  printf '%-14s %12s %10s %8s %s\n' "$h" "${execs:-?}" "${rate:-?}" "$files" "$result"
  if [ "$rc" -ne 0 ]; then
    grep -m 20 -E "ERROR|SUMMARY|runtime error|Test unit written|==[0-9]+==" "$log" || tail -20 "$log"
  fi
done
exit $failed
