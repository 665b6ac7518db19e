#!/bin/bash
# bench/eval_bench.sh: full-ranking evaluation throughput (users ranked per
# second) and its fraction of this machine's OpenBLAS sgemm peak, measured in
# the same process, at 1 and 2 OpenBLAS threads (issue 6, item 6).
#
#   bash bench/eval_bench.sh [EVAL_BENCH] [OUT_DIR]
#     EVAL_BENCH  the eval_bench binary (default build/eval_bench)
#     OUT_DIR     where the raw output and the table go (default out/bench-eval)
#   environment: ITEMS (catalogue sizes, default "100000 10000"), USERS (4096),
#     THREADS ("1 2"), REPS (5), EXTRA (more eval_bench flags, e.g. "--dim 64")
#
# Each catalogue size is one eval_bench process: every repetition measures the
# sgemm peak (1024^3), the scoring sgemm alone, the ranking, the towers and the
# whole evaluation at each thread count in turn, so the figures of one table
# share the machine's load. Every phase is timed by the wall clock and by the
# process CPU time (robust to other jobs on a shared machine, blind to the
# speed-up of a second thread). Prints a markdown table (medians; best in
# brackets) and writes OUT_DIR/eval.csv. About 1 minute at the defaults.
set -euo pipefail
BIN=${1:-build/eval_bench}
OUT=${2:-out/bench-eval}
ITEMS=${ITEMS:-"100000 10000"}
USERS=${USERS:-4096}
THREADS=${THREADS:-"1 2"}
REPS=${REPS:-5}
EXTRA=${EXTRA:-}
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "eval_bench.sh: no binary $BIN (cmake --build BUILD --target eval_bench)" >&2; exit 2; }

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
CSV="$OUT/eval.csv"
COLS="seconds_median users_per_s_median users_per_s_best cpu_s_median users_per_cpu_s_median gflops_median peak_fraction_median peak_fraction_best gflops_per_cpu_s_median cpu_peak_fraction_median"
echo "items,users,threads,phase,peak_gflops_median,peak_gflops_per_cpu_s_median,${COLS// /,}" > "$CSV"
for n in $ITEMS; do
  LOG="$OUT/eval-$n.txt"
  # shellcheck disable=SC2086
  "$BIN" --items "$n" --users "$USERS" --threads "$THREADS" --reps "$REPS" $EXTRA > "$LOG"
  awk -v n="$n" -v u="$USERS" -v cols="$COLS" '
    BEGIN { nc = split(cols, c, " ") }
    /peak_gflops_median/ { peak[$2] = $4; peakc[$2] = $8 }
    / phase / {
      delete v
      for (i = 5; i < NF; i += 2) v[$i] = $(i + 1)
      line = n "," u "," $2 "," $4 "," peak[$2] "," peakc[$2]
      for (i = 1; i <= nc; i++) line = line "," v[c[i]]
      print line
    }' "$LOG" >> "$CSV"
  head -1 "$LOG"
  grep '^metrics:\|rank_metrics_hash' "$LOG"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| items | threads | sgemm peak GFLOP/s (wall; per CPU-s) | phase | users/s (wall, median [best]) | users per CPU-s | fraction of the peak (wall, median) | fraction of the peak per CPU-s |"
echo "|---:|---:|---:|:---|---:|---:|---:|---:|"
awk -F, 'NR > 1 {
  fw = $13 == "" ? "" : sprintf("%.2f", $13); fc = $16 == "" ? "" : sprintf("%.2f", $16);
  printf "| %s | %s | %s; %s | %s | %s [%s] | %s | %s | %s |\n", $1, $3, $5, $6, $4, $8, $9, $11, fw, fc }' "$CSV"
