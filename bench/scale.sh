#!/bin/bash
# bench/scale.sh: round time and peak memory against the number of platforms
# (issue 6). For 4, 16, 64 and 256 training platforms (--industries N+1, one
# held out) and shared models of about 0.1 M, 1 M and 10 M parameters
# (--dim 32 with --buckets-log2 12, 15, 18: d = 2^b x 32 + the towers' dense
# layers), one short training each on one machine, 1 coordinator + W worker
# ranks (platform p on rank 1 + p mod W), every rank generating only its own
# platforms.
#
# Measured per run:
#   round_s   median of round_s over rounds 2..R of OUT/metrics.jsonl (round 1
#             warms up: first touch of every buffer, page faults)
#   compute   median over rounds 2..R of max_compute_s (the slowest platform's
#             platform_train_round: theta copy, inner steps, delta, clip, encode)
#   coord MB  peak RSS of rank 0 (the coordinator), from GNU time's "Maximum
#             resident set size": every rank runs under `/usr/bin/time -v -o
#             OUT/time.RANK` (a sh wrapper reading OMPI_COMM_WORLD_RANK), so the
#             figure is rank 0's own getrusage maxrss, not mpirun's
#   worker MB the largest peak RSS among the worker ranks, the same way
#   wall      the whole run (start-up, market generation, R rounds, the final
#             evaluation, checkpoints, outputs), seconds
#   train_cpu the platforms' compute per round: CPU seconds of
#             platform_train_round (theta copy, inner steps, delta, clip,
#             encode), summed over every platform of every worker rank, per
#             round over rounds 2..R (FEDMETA_PROFILE=1: every rank prints its
#             per-stage wall and CPU times when it ends, common/prof.h)
#   job_cpu   the CPU seconds per round of every stage of every rank that the
#             profile covers (workers: plan wait/open/unpack, train, delta pack,
#             seal, post/send; coordinator: plan pack/seal/post, waiting and
#             opening, unpacking and adding deltas, the outer step)
#   overhead  1 - train_cpu / job_cpu: the share of the round's CPU work that
#             is not the platforms' compute (machine-independent: the shared
#             machine's other jobs only stretch the wall clock), and
#             1 - (train_cpu / cores) / round_s: the round time minus the
#             platforms' compute spread over this machine's cores, as a share
#             of the round time (includes what other jobs took)
#   overhead_record  from the run's own metrics.jsonl (builds with
#             rank_compute_s, commit after 821004d): median over rounds 2..R of
#             1 - rank_compute_s / round_s, where rank_compute_s is the largest
#             sum over one worker rank of its platforms' compute (wall seconds
#             of platform_train_round): the round time minus the compute on
#             the critical path (the ranks train in parallel), as a share of
#             the round; other jobs on the machine stretch both terms. Empty
#             for older builds
#
# Defaults are those of `fedmeta train` (sealed channels, a checkpoint every
# round, reptile, SGD outer step) except the sizes below; --eval-every 0 still
# evaluates once after the last round (outside round_s).
#
# Worker memory guard: since commit 633b318 a worker rank's platforms share one
# gradient and one pair of Adam moments (their state is reset every round), so
# a worker needs about 8 d floats (theta, phi, delta, fixed, g, m, v, the
# received plan) plus its platforms' data and local embeddings: the estimate is
# 32 d bytes per worker rank (with --inner-opt sgd: 24 d). A run whose estimate
# exceeds MEM_BUDGET_MB (default: half of MemAvailable) falls back to
# --inner-opt sgd and says so in the CSV's opt column; if that does not fit
# either, it is skipped.
#
#   usage: bench/scale.sh [path/to/fedmeta] [out-dir]
#   env:   PLATFORMS="4 16 64 256" BUCKETS="12 15 18" RANKS=3 ROUNDS=4 INNER=5
#          USERS=8000 SCALE=0.1 (8000 x 0.1: the smallest of 256 niche platforms
#          still has training interactions; generation takes about a second)
#          EXTRA="" (more `fedmeta train` flags for every run, e.g. "--seal off")
# Writes OUT/scale.csv (one line per run, appended as runs finish) and prints
# the Markdown table; plot with bench/plot_scale.gp.
set -euo pipefail
BIN=${1:-build/fedmeta}
OUT=${2:-out/bench-scale}
PLATFORMS=${PLATFORMS:-4 16 64 256}
BUCKETS=${BUCKETS:-12 15 18}
RANKS=${RANKS:-3}
ROUNDS=${ROUNDS:-4}
INNER=${INNER:-5}
USERS=${USERS:-8000}
SCALE=${SCALE:-0.1}
EXTRA=${EXTRA:-}
MEM_BUDGET_MB=${MEM_BUDGET_MB:-$(awk '/MemAvailable/ { printf "%d", $2 / 2048 }' /proc/meminfo)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 FEDMETA_PROFILE=1
CORES=$(nproc)
[ -x /usr/bin/time ] || { echo "bench/scale.sh: needs GNU time (/usr/bin/time; apt-get install time)" >&2; exit 2; }
mkdir -p "$OUT"
CSV="$OUT/scale.csv"
echo "platforms,buckets_log2,d,round_s,compute_s,coord_mb,worker_mb,wall_s,deltas_ok,opt,train_cpu_s,job_cpu_s,overhead_cpu,overhead_wall,round_mean_s,overhead_record" > "$CSV"

# median of a column over rounds 2.. of a metrics.jsonl
median_of() { # median_of FIELD FILE
  tail -n +2 "$2" | grep -o "\"$1\":[0-9.]*" | cut -d: -f2 | sort -g |
    awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
# mean of a column over rounds 2.. of a metrics.jsonl
mean_of() { # mean_of FIELD FILE
  tail -n +2 "$2" | grep -o "\"$1\":[0-9.]*" | cut -d: -f2 | awk '{ s += $1 } END { printf "%.4f", s / NR }'
}
# per-round CPU seconds from the ranks' profile lines ("fedmeta profile WHO (ms
# per round ...): STAGE WALL/CPU (CALLS) ..."): the workers' train, and all
# stages of all ranks
prof_cpu() { # prof_cpu LOG -> "TRAIN_CPU JOB_CPU"
  grep '^fedmeta profile ' "$1" | sed 's/^.*(calls)): //' | awk '
    { for (i = 1; i + 1 <= NF; i += 3) { split($(i + 1), wc, "/"); job += wc[2]; if ($i == "train") train += wc[2] } }
    END { printf "%.4f %.4f", train / 1000, job / 1000 }'
}
# median over rounds 2.. of 1 - rank_compute_s / round_s ("" if not recorded)
overhead_record() { # overhead_record FILE
  tail -n +2 "$1" | awk '{
      rs = ""; rc = "";
      if (match($0, /"round_s":[0-9.]+/)) rs = substr($0, RSTART + 10, RLENGTH - 10);
      if (match($0, /"rank_compute_s":[0-9.]+/)) rc = substr($0, RSTART + 17, RLENGTH - 17);
      if (rs != "" && rc != "" && rs > 0) print 1 - rc / rs }' | sort -g |
    awk '{a[NR] = $1} END {if (NR == 0) print ""; else if (NR % 2) printf "%.3f\n", a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
maxrss_mb() { # maxrss_mb TIME-FILE...: the largest "Maximum resident set size" in MB
  grep -h 'Maximum resident set size' "$@" | awk '{ if ($NF > m) m = $NF } END { printf "%.1f", m / 1024 }'
}

echo "# bench/scale.sh: $(date -u '+%F %H:%M UTC'), $(nproc) cores, $(lscpu | grep 'Model name' | sed 's/.*: *//'),"
echo "# $RANKS ranks (1 coordinator + $((RANKS - 1)) workers), $ROUNDS rounds x $INNER inner steps, users $USERS, scale $SCALE${EXTRA:+, $EXTRA}"
echo "# load average before: $(uptime | sed 's/.*load average: //')"
for b in $BUCKETS; do
  for n in $PLATFORMS; do
    # d = 2^b x 32 hashed-feature rows + 12480 in the towers (dim 32, hidden 64);
    # estimated worker memory over all workers with Adam: 32 d bytes per worker rank
    est=$(awk -v w="$((RANKS - 1))" -v b="$b" 'BEGIN { printf "%d", w * 32 * (2 ^ b * 32 + 12480) / 1048576 }')
    opt=adam
    if [ "$est" -gt "$MEM_BUDGET_MB" ]; then
      opt=sgd
      est=$((est * 3 / 4))
      if [ "$est" -gt "$MEM_BUDGET_MB" ]; then
        echo "# skipped n=$n b=$b: workers would need about $est MB even with --inner-opt sgd (budget $MEM_BUDGET_MB MB)"
        continue
      fi
      echo "# n=$n b=$b: with --inner-opt sgd (with Adam the workers would need about $((est * 4 / 3)) MB; budget $MEM_BUDGET_MB MB)"
    fi
    run="$OUT/n$n-b$b"
    rm -rf "$run"
    mkdir -p "$run"
    t0=$(date +%s.%N)
    # every rank under GNU time; rank 0's file is the coordinator's peak RSS
    mpirun -n "$RANKS" --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 \
      sh -c 'exec /usr/bin/time -v -o "$0.$OMPI_COMM_WORLD_RANK" "$@"' "$run/time" \
      "$BIN" train --industries $((n + 1)) --users "$USERS" --scale "$SCALE" \
      --dim 32 --hidden 64 --buckets-log2 "$b" --rounds "$ROUNDS" --inner-steps "$INNER" \
      --inner-opt "$opt" --eval-every 0 --ft-steps 0 --local-steps 0 --round-timeout 3600 --verbose 1 $EXTRA --out "$run/out" \
      < /dev/null > "$run/log" 2>&1 || { echo "bench/scale.sh: run n=$n b=$b failed, see $run/log" >&2; tail -5 "$run/log" >&2; exit 1; }
    wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    m="$run/out/metrics.jsonl"
    d=$(grep -o '[0-9]* shared parameters' "$run/log" | cut -d' ' -f1)
    ok=$([ "$(grep -c "\"deltas\":$n," "$m")" = "$ROUNDS" ] && echo yes || echo no)
    workers=""
    for ((k = 1; k < RANKS; k++)); do workers="$workers $run/time.$k"; done
    read -r tcpu jcpu <<< "$(prof_cpu "$run/log")"
    rmean=$(mean_of round_s "$m")
    ovc=$(awk -v t="$tcpu" -v j="$jcpu" 'BEGIN { printf "%.3f", (j > 0 ? 1 - t / j : 0) }')
    ovw=$(awk -v t="$tcpu" -v r="$rmean" -v c="$CORES" 'BEGIN { printf "%.3f", (r > 0 ? 1 - t / c / r : 0) }')
    # shellcheck disable=SC2086
    echo "$n,$b,$d,$(median_of round_s "$m"),$(median_of max_compute_s "$m"),$(maxrss_mb "$run/time.0"),$(maxrss_mb $workers),$wall,$ok,$opt,$tcpu,$jcpu,$ovc,$ovw,$rmean,$(overhead_record "$m")" | tee -a "$CSV"
    rm -f "$run/out/checkpoint.fmck" "$run/out/checkpoint.fmck.prev" # up to 2 x 4d bytes each; not needed
  done
done
echo "# load average after: $(uptime | sed 's/.*load average: //')"
echo
echo "| shared params d | platforms | round (s, median r2..$ROUNDS) | slowest platform compute (s) | coordinator peak RSS (MB) | largest worker peak RSS (MB) | whole run (s) | all deltas | inner opt | platforms' compute (CPU s / round) | job CPU (s / round) | overhead: CPU share | overhead: round minus compute / $CORES cores | overhead: round minus busiest rank's compute (metrics.jsonl) |"
echo "|---:|---:|---:|---:|---:|---:|---:|:---:|:---:|---:|---:|---:|---:|---:|"
tail -n +2 "$CSV" | awk -F, '{ printf "| %d | %d | %.3f | %.3f | %.1f | %.1f | %.1f | %s | %s | %.3f | %.3f | %.0f %% | %.0f %% | %s |\n", $3, $1, $4, $5, $6, $7, $8, $9, $10, $11, $12, 100 * $13, 100 * $14, ($16 == "" ? "n/a" : sprintf("%.0f %%", 100 * $16)) }'
