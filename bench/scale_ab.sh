#!/bin/bash
# bench/scale_ab.sh: bench/scale.sh for two builds, interleaved cell by cell
# (before, after, next cell...), so that both see the same load on a shared
# machine; then one table with both and their ratios, and whether the two
# builds trained byte-identical models (meta-model.pb) in every cell.
#
#   usage: bench/scale_ab.sh BEFORE-fedmeta AFTER-fedmeta OUT
#   env:   CELLS="256:15" (PLATFORMS:BUCKETS pairs), INNER=20, ROUNDS=4, and
#          anything else bench/scale.sh reads (USERS, SCALE, EXTRA, RANKS)
# Writes OUT/{before,after}/CELL/ (scale.sh's output per cell) and OUT/ab.csv.
set -euo pipefail
BEFORE=$1
AFTER=$2
OUT=$3
CELLS=${CELLS:-256:15}
export INNER=${INNER:-20} ROUNDS=${ROUNDS:-4}
HERE=$(dirname "$0")
mkdir -p "$OUT/before" "$OUT/after"
AB="$OUT/ab.csv"
echo "platforms,buckets_log2,d,inner,round_before,round_after,train_cpu_before,train_cpu_after,job_cpu_before,job_cpu_after,overhead_before,overhead_after,coord_mb_before,coord_mb_after,worker_mb_before,worker_mb_after,same_model,overhead_record_before,overhead_record_after" > "$AB"
echo "# bench/scale_ab.sh: $(date -u '+%F %H:%M UTC'), $(nproc) cores, $(lscpu | grep 'Model name' | sed 's/.*: *//'), inner $INNER, rounds $ROUNDS"
echo "# before: $BEFORE; after: $AFTER"
echo "# load average before: $(uptime | sed 's/.*load average: //')"
for cell in $CELLS; do
  n=${cell%%:*}
  b=${cell##*:}
  for which in before after; do
    bin=$BEFORE
    [ "$which" = after ] && bin=$AFTER
    PLATFORMS=$n BUCKETS=$b bash "$HERE/scale.sh" "$bin" "$OUT/$which/n$n-b$b" > "$OUT/$which/n$n-b$b.txt" 2>&1 ||
      { echo "bench/scale_ab.sh: $which n=$n b=$b failed: $OUT/$which/n$n-b$b.txt" >&2; exit 1; }
  done
  same=$(cmp -s "$OUT/before/n$n-b$b/n$n-b$b/out/meta-model.pb" "$OUT/after/n$n-b$b/n$n-b$b/out/meta-model.pb" && echo yes || echo NO)
  bl=$(tail -1 "$OUT/before/n$n-b$b/scale.csv")
  al=$(tail -1 "$OUT/after/n$n-b$b/scale.csv")
  # scale.csv: platforms,buckets_log2,d,round_s,compute_s,coord_mb,worker_mb,wall_s,deltas_ok,opt,train_cpu_s,job_cpu_s,overhead_cpu,overhead_wall,round_mean_s,overhead_record
  echo "$bl|$al|$same|$INNER" | awk -F'|' '{ split($1, x, ","); split($2, y, ",");
    printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", x[1], x[2], x[3], $4, x[4], y[4], x[11], y[11], x[12], y[12], x[13], y[13], x[6], y[6], x[7], y[7], $3, x[16], y[16] }' | tee -a "$AB"
done
echo "# load average after: $(uptime | sed 's/.*load average: //')"
echo
echo "| d | platforms | inner steps | round (s) before → after | platforms' compute (CPU s/round) before → after | job CPU (s/round) before → after | overhead (CPU share) before → after | coordinator peak RSS (MB) | largest worker RSS (MB) | same model bytes | overhead from metrics.jsonl (after) |"
echo "|---:|---:|---:|---|---|---|---|---|---|:---:|---:|"
tail -n +2 "$AB" | awk -F, '{ printf "| %d | %d | %d | %.3f → %.3f (%.2fx) | %.3f → %.3f | %.3f → %.3f | **%.0f %% → %.0f %%** | %.1f → %.1f | %.1f → %.1f | %s | %s |\n",
  $3, $1, $4, $5, $6, ($6 > 0 ? $5 / $6 : 0), $7, $8, $9, $10, 100 * $11, 100 * $12, $13, $14, $15, $16, $17, ($19 == "" ? "n/a" : sprintf("%.0f %%", 100 * $19)) }'
