#!/bin/bash
# bench/p1_amazon_attr.sh: protocol P1 on Amazon P5 with the attribute term
# (docs/BENCHMARKS.md, "The attribute term"), end to end. Per rotation
# (test:validation = beauty:toys, sports:beauty, toys:sports, as in "Amazon P5 with
# settings from Amazon validation industries"):
#   validation: the test category is held out of training and never scored, the
#     validation category is held out and scored, the third trains alone; reptile
#     at FIXED settings with a grid of fine-tune settings, local-only with its own
#     grid and the same model shape; every trial in $OUT/validation-$test.csv
#   test: the other two categories train, the test category is held out; each K's
#     fine-tune and local-only setting is the one validation chose (bench/per-k-plan.sh)
#
#   usage: bench/p1_amazon_attr.sh [bin] [data-root] [seeds]
#     bin build/fedmeta   data-root out (holds amazon/ from fedmeta prepare)   seeds "1 2 3"
#   env: OUT=out/bench-p1-amazon-attr  ROTATIONS="beauty:toys sports:beauty toys:sports"
#        MODEL_FLAGS (default: --towers off --attr on --spectral 128)
#        FIXED="0.03 20 1" (reptile's inner lr, inner steps, outer step)
#        FT_GRID="0:0.001 20:0.01 100:0.01" (the fine-tune settings validation scores)
#        FEDMETA_FLAGS (flags for train and eval alike, e.g. --negatives 128: the
#          fine-tune and local-only train with them too)
#        ALGOS=reptile (the federated methods of the test run, at FIXED; each is
#          validated once; every +ft method takes reptile's validated fine-tune plan,
#          so reptile's validation must be in the CSV)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/fedmeta}
root=${2:-out}
seeds=${3:-1 2 3}
out=${OUT:-out/bench-p1-amazon-attr}
flags=${MODEL_FLAGS:---towers off --attr on --spectral 128}
fixed=${FIXED:-0.03 20 1}
algos=${ALGOS:-reptile}
ft_grid=${FT_GRID:-0:0.001 20:0.01 100:0.01}
mkdir -p "$out"
for pair in ${ROTATIONS:-beauty:toys sports:beauty toys:sports}; do
  test=${pair%%:*} val=${pair##*:}
  csv="$out/validation-$test.csv"
  (
    # each method's validation once (a later run with more ALGOS adds theirs)
    export EXCLUDE=$test ROUNDS=50 KS="1 5" CSV="$csv" OUT="$out/sweep-$test" TRAIN_FLAGS="$flags"
    for a in $algos; do
      grep -q "^[^,]*,[^,]*,$a," "$csv" 2> /dev/null ||
        FIXED="$fixed" FT_GRID="$ft_grid" bash "$here/sweep.sh" "$bin" "$root/amazon" "$val" "$a" 1 1
    done
    grep -q "^[^,]*,[^,]*,local," "$csv" 2> /dev/null ||
      LOCAL_GRID="1:0.001 20:0.01 100:0.01 400:0.01" bash "$here/sweep.sh" "$bin" "$root/amazon" "$val" local
  )
  FT_PLAN="$(bash "$here/per-k-plan.sh" "$csv" reptile)" LOCAL_PLAN="$(bash "$here/per-k-plan.sh" "$csv" local)" \
    SWEEP_CSV="$csv" OUT="$out" ONLY=amazon AMAZON_TEST="$test" ALGOS="$algos" TRAIN_FLAGS="$flags" \
    bash "$here/p1_real.sh" "$bin" "$root" "$seeds"
done
