#!/usr/bin/env bash
# Runs libFuzzer targets of a fuzz build (cmake --preset fuzz) for a while each.
# Usage: scripts/fuzz.sh [BUILD_DIR] [SECONDS] [NAME...]   (names: envelope codec reply url trace)
# Each fuzzer starts from its seed corpus fuzz/corpus/NAME (read only) and writes what it finds to
# BUILD_DIR/fuzz-corpus/NAME; a crash leaves its input in BUILD_DIR/fuzz-artifacts/. Prints one
# summary line per fuzzer (executions, coverage, corpus size, crashes) and exits non-zero if any
# fuzzer crashed, exited non-zero, or left any sanitizer report in its log ("runtime error:",
# "ERROR: AddressSanitizer", "SUMMARY: ...Sanitizer"), even one it recovered from.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=$(cd "${1:-build-fuzz}" && pwd)
seconds=${2:-10}
shift 2 || shift $# || true
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(envelope codec reply url trace)

status=0
for name in "${names[@]}"; do
  binary="$build/fuzz/${name}_fuzzer"
  [ -x "$binary" ] || { echo "fuzz: $binary is missing (cmake --build $build --target fuzzers)"; exit 2; }
  work="$build/fuzz-corpus/$name"
  artifacts="$build/fuzz-artifacts/$name/"
  mkdir -p "$work" "$artifacts"
  log="$build/fuzz-$name.log"
  rc=0
  "$binary" -max_total_time="$seconds" -max_len=1048576 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts" "$work" "$root/fuzz/corpus/$name" \
    >"$log" 2>&1 || rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  corpus=$(ls "$work" | wc -l)
  crashes=$(ls "$artifacts" | wc -l)
  reports=$(grep -c -E 'runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|SUMMARY: [A-Za-z]*Sanitizer' "$log" || true)
  echo "fuzz $name: ${seconds}s, $execs executions, coverage $cov edges ($ft features), corpus $corpus new inputs, $crashes crashes, $reports sanitizer report lines, exit $rc"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ] || [ "$reports" -ne 0 ]; then
    status=1
    grep -A30 -m1 -E 'ERROR|deadly signal|runtime error:|SUMMARY: [A-Za-z]*Sanitizer' "$log" | head -40 || true
  fi
done
exit "$status"
