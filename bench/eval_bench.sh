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
# share the machine's load. Prints a markdown table (medians; best in brackets)
# and writes OUT_DIR/eval.csv. About 1 minute at the defaults.
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
echo "items,users,threads,phase,seconds_median,users_per_s_median,users_per_s_best,gflops_median,peak_gflops_median,peak_fraction_median,peak_fraction_best" > "$CSV"
for n in $ITEMS; do
  LOG="$OUT/eval-$n.txt"
  # shellcheck disable=SC2086
  "$BIN" --items "$n" --users "$USERS" --threads "$THREADS" --reps "$REPS" $EXTRA > "$LOG"
  awk -v n="$n" -v u="$USERS" '
    /peak_gflops_median/ { peak[$2] = $4 }
    / phase / {
      t = $2; ph = $4; f = "";
      for (i = 5; i < NF; i += 2) v[$i] = $(i + 1);
      printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", n, u, t, ph, v["seconds_median"],
        v["users_per_s_median"], v["users_per_s_best"], v["gflops_median"], peak[t],
        v["peak_fraction_median"], v["peak_fraction_best"];
      delete v
    }' "$LOG" >> "$CSV"
  head -1 "$LOG"
  grep '^metrics:\|rank_metrics_hash' "$LOG"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| items | threads | sgemm peak GFLOP/s | phase | users/s (median [best]) | GFLOP/s | fraction of peak (median [best]) |"
echo "|---:|---:|---:|:---|---:|---:|---:|"
awk -F, 'NR > 1 {
  frac = $10 == "" ? "" : sprintf("%.2f [%.2f]", $10, $11);
  gf = $8 == "" ? "" : $8;
  printf "| %s | %s | %s | %s | %s [%s] | %s | %s |\n", $1, $3, $9, $4, $6, $7, gf, frac }' "$CSV"
