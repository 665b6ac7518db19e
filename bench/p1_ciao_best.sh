#!/bin/bash
# bench/p1_ciao_best.sh: the best Ciao model of docs/BENCHMARKS.md ("Towers off"),
# end to end: validation sweeps on c8 and c24 (the test categories c3 and c6
# excluded and never scored), then protocol P1 on c3 and c6 with every method at
# its validated settings, 3 seeds. About 7 minutes on 2 cores.
#
#   usage: bench/p1_ciao_best.sh [bin] [data-root] [seeds]
#     bin build/fedmeta   data-root out (holds ciao/ from fedmeta prepare)   seeds "1 2 3"
#   env: OUT=out/bench-p1-ciao-best (sweep CSV, models, rows, summary)
#        MODEL_FLAGS (default: --towers off --spectral 32 --time-lags 8 --time-bin-days 90)
#        ALGOS="fedavg central reptile fomaml" (reptile must be among them: its fine-tune
#          plan is every +ft method's)   FEDMETA_FLAGS (train and eval, e.g. --negatives 128)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/fedmeta}
root=${2:-out}
seeds=${3:-1 2 3}
out=${OUT:-out/bench-p1-ciao-best}
flags=${MODEL_FLAGS:---towers off --spectral 32 --time-lags 8 --time-bin-days 90}
algos=${ALGOS:-fedavg central reptile fomaml}
mkdir -p "$out"
csv="$out/validation.csv"
# validation: the test categories are held out of training and never scored
export EXCLUDE=c3,c6 ROUNDS=50 KS="1 5 10" CSV="$csv" OUT="$out/sweep" TRAIN_FLAGS="$flags"
FT_GRID="0:0.001 20:0.003 60:0.003 200:0.01" bash "$here/sweep.sh" "$bin" "$root/ciao" c8,c24 reptile 10 1
for a in $algos; do
  [ "$a" = reptile ] && continue
  FT_GRID="0:0.001 20:0.003 60:0.003 200:0.01" bash "$here/sweep.sh" "$bin" "$root/ciao" c8,c24 "$a" 4 1
done
LOCAL_GRID="1:0.001 20:0.001 20:0.003 50:0.003 100:0.003 200:0.003 400:0.003" \
  bash "$here/sweep.sh" "$bin" "$root/ciao" c8,c24 local
unset EXCLUDE KS CSV OUT TRAIN_FLAGS
# test: every method at its best validation trial; fine-tune and local-only per K
FT_PLAN="$(bash "$here/per-k-plan.sh" "$csv" reptile)" LOCAL_PLAN="$(bash "$here/per-k-plan.sh" "$csv" local)" \
  SWEEP_CSV="$csv" OUT="$out" ONLY=ciao ALGOS="$algos" TRAIN_FLAGS="$flags" \
  bash "$here/p1_real.sh" "$bin" "$root" "$seeds"
