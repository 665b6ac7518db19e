#!/bin/bash
# bench/p1_amazon_prox.sh: the fine-tune's prior (--ft-prox LAMBDA: (LAMBDA / 2)
# |theta - theta0|^2 centred on the start theta0) on the Amazon validation categories
# (docs/BENCHMARKS.md, "A prior centred on the meta-model"). Does keeping the
# meta-model's information to the end of a long fine-tune move where it ends?
# Evaluation only: per rotation (test:validation as in bench/p1_amazon_attr.sh), the
# reptile validation model of that rotation's 128-negative run is fine-tuned on the
# validation category for each LAMBDA and step count; local-only runs with the same
# LAMBDA (its prior is centred on its hand-set start) and steps. The test categories
# are never scored.
#
#   usage: bench/p1_amazon_prox.sh [bin] [data]     bin build/fedmeta   data out/amazon
#   env: RUN=out/bench-p1-amazon-neg128 (holds sweep-<test>/ from bench/p1_amazon_attr.sh)
#        ROTATIONS="beauty:toys sports:beauty toys:sports"  K=5  LR=0.01  SEED=1
#        LAMBDAS="0 0.1 0.3 1"  STEPS="100 400"  FLAGS="--negatives 128"
#        CSV=out/bench-p1-amazon-prox.csv (one row per method and trial; appended to, a
#        trial already in it is not run again)
set -euo pipefail
bin=${1:-build/fedmeta}
data=${2:-out/amazon}
run=${RUN:-out/bench-p1-amazon-neg128}
k=${K:-5} lr=${LR:-0.01} seed=${SEED:-1}
csv=${CSV:-out/bench-p1-amazon-prox.csv}
flags=${FLAGS:---negatives 128}
[ -s "$csv" ] || echo "date,rotation,validation,k,steps,lr,prox,method,ndcg10,recall20,users" > "$csv"
for pair in ${ROTATIONS:-beauty:toys sports:beauty toys:sports}; do
  test=${pair%%:*} val=${pair##*:}
  model=$(ls -d "$run/sweep-$test"/amazon-reptile-s1-t1-*/ 2> /dev/null | head -1)
  [ -s "$model/meta-model.pb" ] || { echo "no reptile validation model in $run/sweep-$test (run bench/p1_amazon_attr.sh)" >&2; exit 1; }
  for steps in ${STEPS:-100 400}; do
    for lam in ${LAMBDAS:-0 0.1 0.3 1}; do
      key="$test,$val,$k,$steps,$lr,$lam,"
      grep -q "^[^,]*,$key" "$csv" && continue
      log=$(mktemp)
      # shellcheck disable=SC2086
      "$bin" eval --data "$data" --model "$model/meta-model.pb" --platform "$val" --kshot "$k" --seed "$seed" \
        --ft-steps "$steps" --ft-lr "$lr" --local-steps "$steps" --ft-prox "$lam" --boot 0 $flags > "$log" 2>&1 ||
        { echo "eval failed:" >&2; cat "$log" >&2; rm -f "$log"; exit 1; }
      now=$(date -u +%FT%TZ)
      # the table rows "local-only NDCG Recall HR MRR users" and "reptile+ft ..."
      awk -v pre="$now,$key" '$1 == "local-only" || $1 == "reptile+ft" { print pre $1 "," $2 "," $3 "," $6 }' "$log" >> "$csv"
      rm -f "$log"
      echo "$key done"
    done
  done
done
