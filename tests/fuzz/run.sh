#!/bin/bash
# tests/fuzz/run.sh: how ctest runs a libFuzzer harness (see fuzz.cmake, docs/TESTING.md).
#
#   run.sh fuzz    BIN NAME SRC WORK SECONDS MAX_LEN RSS_MB
#       fuzzes for SECONDS on WORK/corpus (the seeds of SRC/corpus/NAME copied
#       in first; what the fuzzer adds stays in WORK for the next run); a crash
#       is kept as WORK/artifacts/crash-* and fails the test.
#   run.sh regress BIN NAME SRC WORK 0 MAX_LEN RSS_MB
#       runs every input of SRC/regress/NAME once (none: passes).
set -euo pipefail
mode=$1 bin=$2 name=$3 src=$4 work=$5 seconds=$6 max_len=$7 rss=$8
opts=(-rss_limit_mb="$rss" -malloc_limit_mb="$rss" -timeout=30 -max_len="$max_len")
mkdir -p "$work/corpus" "$work/artifacts"
case $mode in
fuzz)
  cp -n "$src/corpus/$name"/* "$work/corpus/" 2>/dev/null || true
  echo "fuzz_$name: ${seconds}s on $work/corpus ($(ls "$work/corpus" | wc -l) inputs)"
  if ! "$bin" "${opts[@]}" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/" "$work/corpus" 2>"$work/fuzz.log"; then
    tail -n 80 "$work/fuzz.log"
    echo "fuzz_$name FAILED: the crashing input is in $work/artifacts/." >&2
    echo "Reproduce: $bin $work/artifacts/<crash-file>; keep it: tests/fuzz/regress/$name/ (docs/TESTING.md)." >&2
    exit 1
  fi
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$work/fuzz.log" || true
  ;;
regress)
  shopt -s nullglob
  inputs=("$src/regress/$name"/*)
  if [ ${#inputs[@]} -eq 0 ]; then
    echo "fuzz_${name}_regress: no kept inputs in $src/regress/$name"
    exit 0
  fi
  echo "fuzz_${name}_regress: ${#inputs[@]} kept inputs"
  "$bin" "${opts[@]}" "${inputs[@]}"
  ;;
*)
  echo "run.sh: unknown mode $mode" >&2
  exit 2
  ;;
esac
