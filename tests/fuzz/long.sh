#!/bin/bash
# tests/fuzz/long.sh: a long fuzzing session of one harness (docs/TESTING.md).
#
#   tests/fuzz/long.sh NAME SECONDS [BUILD]      (or: make fuzz-long FUZZ=NAME FUZZ_TIME=3600)
#
# Runs BUILD/fuzz_NAME (default build-fuzz) under nice, one process, in
# libFuzzer's fork mode so that it goes on after a crash: every crash, leak,
# timeout or out-of-memory input is kept in BUILD/long/NAME/artifacts/. The
# corpus grows in BUILD/long/NAME/corpus/ (the committed seeds are copied in
# first and never modified), so successive sessions continue where the last
# one stopped. Each session appends "NAME start end seconds executions
# corpus_size" to BUILD/long/sessions.txt, from which docs/TESTING.md's table
# is made.
set -euo pipefail
name=${1:?usage: long.sh NAME SECONDS [BUILD]} secs=${2:?usage: long.sh NAME SECONDS [BUILD]}
build=${3:-build-fuzz}
src=$(cd "$(dirname "$0")" && pwd)
bin=$build/fuzz_$name
[ -x "$bin" ] || { echo "long.sh: $bin not built (make fuzz-build)" >&2; exit 2; }
d=$build/long/$name
mkdir -p "$d/corpus" "$d/artifacts"
cp -n "$src/corpus/$name"/* "$d/corpus/" 2>/dev/null || true
# run a copy, so that rebuilding during the session does not swap the binary under fork mode
cp "$bin" "$d/fuzz_$name"
bin=$d/fuzz_$name
log=$d/log-$(date +%Y%m%d-%H%M%S).txt
start=$(date +%s)
echo "fuzz_$name: ${secs}s, corpus $d/corpus ($(ls "$d/corpus" | wc -l) inputs), log $log"
OPENBLAS_NUM_THREADS=1 UBSAN_OPTIONS=print_stacktrace=1 nice -n 10 "$bin" -fork=1 -ignore_crashes=1 \
  -ignore_ooms=1 -ignore_timeouts=1 -rss_limit_mb=4096 -malloc_limit_mb=4096 -timeout=30 \
  -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$d/artifacts/" "$d/corpus" >"$log" 2>&1 || true
end=$(date +%s)
# fork mode reports "#EXECS: cov: .. corp: N .." lines; take the last
execs=$(grep -oE '^#[0-9]+: cov' "$log" | tail -1 | tr -dc 0-9)
corp=$(grep -oE 'corp: [0-9]+' "$log" | tail -1 | tr -dc 0-9)
echo "$name $start $end $((end - start)) ${execs:-0} ${corp:-0}" >>"$build/long/sessions.txt"
echo "fuzz_$name: $((end - start))s, ${execs:-0} executions, corpus ${corp:-0}; artifacts:"
ls "$d/artifacts"
