#!/bin/bash
# bench/oversub.sh: oversubscription (issue 6, item 3). Do ranks that wait for
# messages leave the CPU to the ranks that compute?
#
# The same training on N = 3, 17 and 33 MPI ranks on this machine's cores
# (platform p on rank 1 + p mod (N - 1); platform 2, electronics, is held out).
# With the default INDUSTRIES=3 there are 2 training platforms, beauty and
# books, on ranks 1 and 2: with N = 17 and 33, 14 and 30 worker ranks have
# nothing to do in a training round (no platform, or only the held-out one)
# and wait for the next plan in fedmeta's back-off (common/wire.c:
# MPI_Improbe, then nanosleep from 50 us growing to 2 ms, and to 2 % of the
# time waited in long waits). With INDUSTRIES=65 (64 training platforms) every
# worker rank trains a share of the platforms and waits for the others.
# Each N runs without and with Open MPI's `--mca mpi_yield_when_idle 1`.
#
# Measured per run, over the training rounds 2..R-1 (round 1 warms up; after
# round R the ranks stop):
#   round_s   median round time of rounds 2..R (metrics.jsonl)
#   CPU       every rank's CPU time (utime + stime of /proc/PID/stat, all its
#             threads) between the end of round 1 and the end of round R-1
#             (sampled when metrics.jsonl gets those lines), divided by the
#             wall-clock time between the two samples: the fraction of one
#             core the rank used. Groups: the coordinator (rank 0), the
#             training ranks (hosting a training platform; mean), the idle
#             worker ranks (the others: mean, max, and their sum = cores'
#             worth burnt by waiting).
#   job CPU   all ranks' CPU seconds per round (over the same window)
#   ratio     round_s / round_s of N = 3 with the same MCA setting.
#
#   usage: bash bench/oversub.sh [path/to/fedmeta] [out-dir]
#   env:   RANKS="3 17 33" YIELD="0 1" ROUNDS=8 INNER=300 INDUSTRIES=3
#          EXTRA="" (more train flags)
# Prints a Markdown table and writes OUT/oversub.csv. About 2-3 minutes.
set -euo pipefail
BIN=${1:-build/fedmeta}
OUT=${2:-out/bench-oversub}
RANKS=${RANKS:-3 17 33}
YIELD=${YIELD:-0 1}
ROUNDS=${ROUNDS:-8}
INNER=${INNER:-300}
INDUSTRIES=${INDUSTRIES:-3}
EXTRA=${EXTRA:-}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset OPENBLAS_NUM_THREADS # fedmeta's default: one thread per rank
TCK=$(getconf CLK_TCK)
mkdir -p "$OUT"
CSV="$OUT/oversub.csv"
echo "ranks,yield,round_s,ratio,coord_cpu,train_cpu_mean,idle_n,idle_cpu_mean,idle_cpu_max,idle_cpu_sum,window_s,job_cpu_per_round_s,train_n,threads_line" > "$CSV"

# per-rank CPU ticks of the job's processes: lines "RANK TICKS" (one cat, so
# that every rank is read at about the same moment)
snapshot() { # snapshot PIDFILE
  # shellcheck disable=SC2046
  { cat $(awk '{ printf "/proc/%s/stat ", $1 }' "$1") 2>/dev/null || true; } |
    awk 'NR == FNR { rank[$1] = $2; next }
         { pid = $1; sub(/^.*\) /, ""); if (pid in rank) print rank[pid], $12 + $13 }' "$1" -
}
lines() { [ -f "$1" ] && wc -l < "$1" || echo 0; }

echo "# bench/oversub.sh: $(date -u '+%F %H:%M UTC'), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "# $ROUNDS rounds x $INNER inner steps, $((INDUSTRIES - 1)) training platforms; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for y in $YIELD; do
  base=""
  for n in $RANKS; do
    run="$OUT/n$n-y$y"
    rm -rf "$run"
    mkdir -p "$run"
    mca=()
    [ "$y" = 1 ] && mca=(--mca mpi_yield_when_idle 1)
    # shellcheck disable=SC2086
    mpirun -n "$n" --oversubscribe --bind-to none "${mca[@]}" "$BIN" train --industries "$INDUSTRIES" --heldout electronics \
      --rounds "$ROUNDS" --inner-steps "$INNER" --eval-every 0 --ft-steps 0 --local-steps 0 \
      --round-timeout 3600 $EXTRA --out "$run/out" < /dev/null > "$run/log" 2>&1 &
    mpid=$!
    m="$run/out/metrics.jsonl"
    # the job's processes (children of mpirun) and their ranks
    for _ in $(seq 1 600); do
      [ "$(pgrep -P "$mpid" | wc -l)" -ge "$n" ] && break
      sleep 0.05
    done
    : > "$run/pids"
    for pid in $(pgrep -P "$mpid"); do
      r=$(tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')
      [ -n "$r" ] && echo "$pid $r" >> "$run/pids"
    done
    while [ "$(lines "$m")" -lt 1 ] && kill -0 "$mpid" 2>/dev/null; do sleep 0.02; done
    t1=$(date +%s.%N); snapshot "$run/pids" > "$run/cpu1"
    # the second sample at the end of round R-1: after round R the ranks stop
    while [ "$(lines "$m")" -lt $((ROUNDS - 1)) ] && kill -0 "$mpid" 2>/dev/null; do sleep 0.02; done
    t2=$(date +%s.%N); snapshot "$run/pids" > "$run/cpu2"
    wait "$mpid" || { echo "bench/oversub.sh: run n=$n yield=$y failed, see $run/log" >&2; tail -5 "$run/log" >&2; exit 1; }
    [ "$(lines "$m")" -ge "$ROUNDS" ] && [ "$(wc -l < "$run/cpu2")" -eq "$n" ] || { echo "bench/oversub.sh: n=$n: metrics.jsonl incomplete or a rank not sampled" >&2; exit 1; }
    round=$(tail -n +2 "$m" | grep -o '"round_s":[0-9.]*' | cut -d: -f2 | sort -g |
      awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}')
    [ -z "$base" ] && base=$round
    threads=$(grep -m1 'OpenBLAS thread' "$run/log" | sed 's/,/;/g')
    join <(sort "$run/cpu1") <(sort "$run/cpu2") | awk -v t1="$t1" -v t2="$t2" -v tck="$TCK" \
      -v n="$n" -v y="$y" -v round="$round" -v base="$base" -v th="$threads" -v M="$INDUSTRIES" \
      -v nr="$((ROUNDS - 2))" '
      BEGIN { W = n - 1; for (p = 0; p < M; p++) if (p != 2) trains[1 + p % W] = 1 }
      { f = ($3 - $2) / tck / (t2 - t1); r = $1 + 0; job += ($3 - $2) / tck
        if (r == 0) coord = f
        else if (r in trains) { ts += f; tn++ }
        else { is += f; in_++; if (f > im) im = f } }
      END { printf "%d,%d,%.4f,%.3f,%.3f,%.3f,%d,%.4f,%.4f,%.3f,%.2f,%.3f,%d,%s\n", n, y, round, round / base,
              coord, tn ? ts / tn : 0, in_, in_ ? is / in_ : 0, im, is, t2 - t1, job / nr, tn, th }' | tee -a "$CSV"
  done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| MPI ranks | mpi_yield_when_idle | round (s) | ratio to 3 ranks | job CPU per round (s) | coordinator CPU | training ranks: CPU (mean) | idle worker ranks | idle rank CPU (mean / max) | all idle ranks together |"
echo "|---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|"
tail -n +2 "$CSV" | awk -F, '{ printf "| %d | %s | %.3f | %.2f | %.3f | %.1f %% | %d: %.1f %% | %d | %.2f %% / %.2f %% | %.1f %% of a core |\n",
  $1, $2 ? "1" : "-", $3, $4, $12, 100 * $5, $13, 100 * $6, $7, 100 * $8, 100 * $9, 100 * $10 }'
