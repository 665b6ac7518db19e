#!/bin/bash
# bench/p1_eta_val.sh: the EASE term's weight eta chosen on the validation
# category instead of learned (docs/BENCHMARKS.md, "The EASE term"), after a
# bench/p1_amazon_attr.sh run with --ease in MODEL_FLAGS. Per rotation
# (test:validation): the validation model of that run (trained without the test
# category; the validation category held out) is evaluated on the validation
# category at K with eta set to each value of ETAS (bench/ckview.py writes the
# copy) and reptile's validated fine-tune plan for K; the best eta is then set in
# each seed's test model and the test category evaluated the same way. The test
# category is never scored before eta is chosen. Only K >= 2: with one support
# item per user the term is 0 and eta changes nothing.
#
#   usage: bench/p1_eta_val.sh [bin] [data-root] [seeds]
#     bin build/fedmeta   data-root out (holds amazon/)   seeds "1 2 3"
#   env: OUT=out/bench-p1-amazon-ease (the p1_amazon_attr.sh run)
#        ROTATIONS="beauty:toys sports:beauty toys:sports"  K=5  ETAS="learned 0.1 0.2 0.5 1"
#   writes $OUT/eta-validation.csv (every trial) and $OUT/eta-rows.csv (test rows)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/fedmeta}
root=${2:-out}
seeds=${3:-1 2 3}
out=${OUT:-out/bench-p1-amazon-ease}
k=${K:-5}
etas=${ETAS:-learned 0.1 0.2 0.5 1}
vcsv="$out/eta-validation.csv" rows="$out/eta-rows.csv"
[ -s "$vcsv" ] || echo "test,validation,k,eta,ft_steps,ft_lr,ndcg10,recall20" > "$vcsv"
[ -s "$rows" ] || echo "data,industry,k,seed,method,ndcg10,recall20,users,eta" > "$rows"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# score MODEL INDUSTRY SEED STEPS LR -> "ndcg10 recall20 users" of reptile+ft
score() {
  "$bin" eval --data "$root/amazon" --model "$1" --platform "$2" --kshot "$k" --seed "$3" \
    --ft-steps "$4" --ft-lr "$5" --local-steps 0 --verbose 0 |
    awk '$1 ~ /\+ft$/ { print $2, $3, $6 }'
}

# withEta MODEL ETA -> a model file with eta set (the model itself for "learned")
withEta() {
  if [ "$2" = learned ]; then echo "$1"; return; fi
  python3 "$here/ckview.py" "$1" "$tmp/eta.pb" eta "$2" > /dev/null
  echo "$tmp/eta.pb"
}

for pair in ${ROTATIONS:-beauty:toys sports:beauty toys:sports}; do
  test=${pair%%:*} val=${pair##*:}
  vmodel=$(ls -d "$out/sweep-$test"/amazon-reptile-s1-t1-*/ | head -1)meta-model.pb
  [ -s "$vmodel" ] || { echo "no validation model for $test: $vmodel" >&2; exit 1; }
  plan=$(bash "$here/per-k-plan.sh" "$out/validation-$test.csv" reptile)
  fs=0 fl=0.001
  for e in $plan; do [ "${e%%:*}" = "$k" ] && { e=${e#*:}; fs=${e%%:*}; fl=${e#*:}; }; done
  for eta in $etas; do
    grep -q "^$test,$val,$k,$eta," "$vcsv" && continue
    read -r nd rc _ <<< "$(score "$(withEta "$vmodel" "$eta")" "$val" 1 "$fs" "$fl")"
    echo "$test,$val,$k,$eta,$fs,$fl,$nd,$rc" >> "$vcsv"
    echo "  $test: validation $val K=$k eta $eta: NDCG@10 $nd"
  done
  best=$(awk -F, -v t="$test" -v k="$k" '$1 == t && $3 == k && $7 > b { b = $7; e = $4 } END { print e }' "$vcsv")
  echo "$test: eta $best (validation $val), fine-tune $fs x $fl"
  for seed in $seeds; do
    grep -q "^amazon,$test,$k,$seed," "$rows" && continue
    model="$out/amazon-$test-reptile-$seed/meta-model.pb"
    [ -s "$model" ] || { echo "no test model $model" >&2; continue; }
    read -r nd rc us <<< "$(score "$(withEta "$model" "$best")" "$test" "$seed" "$fs" "$fl")"
    echo "amazon,$test,$k,$seed,reptile+ft eta-val,$nd,$rc,$us,$best" >> "$rows"
    echo "  $test seed $seed: NDCG@10 $nd"
  done
done
awk -F, 'NR > 1 { k = $2 "," $3; n[k]++; s[k] += $6; q[k] += $6 * $6; e[k] = $9 }
  END { for (k in n) { m = s[k] / n[k]; v = q[k] / n[k] - m * m; if (v < 0) v = 0
        printf "%s,%d seeds,eta %s,NDCG@10 %.4f +- %.4f\n", k, n[k], e[k], m, sqrt(v) } }' "$rows" | sort
