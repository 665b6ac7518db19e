#!/bin/bash
# bench/p1_weights_val.sh: the weights of the model's scalar terms (eta of the
# EASE term, kappa of the transition term, alpha of the attribute term) chosen
# on the validation category instead of learned (docs/BENCHMARKS.md, "The EASE
# term", "The transition term"), after a bench/p1_amazon_attr.sh run whose
# MODEL_FLAGS have the terms. Per rotation (test:validation): the validation
# model of that run (trained without the test category; the validation category
# held out) is evaluated on the validation category at K, one view at a time in
# the order of VIEWS (a coordinate search): each value of its grid on top of the
# best setting so far ("learned" keeps the meta-learned value; bench/ckview.py
# writes the copy), with reptile's validated fine-tune plan for K. The best
# setting is then written into each seed's test model and the test category
# evaluated the same way. The test category is never scored before the setting
# is chosen. Only K >= 2: with one support item per user the EASE and
# transition terms are 0.
#
#   usage: bench/p1_weights_val.sh [bin] [data-root] [seeds]
#     bin build/fedmeta   data-root out (holds amazon/)   seeds "1 2 3"
#   env: OUT=out/bench-p1-amazon-ease (the p1_amazon_attr.sh run)
#        ROTATIONS="beauty:toys sports:beauty toys:sports"  K=5
#        VIEWS="eta" (in search order)  GRID="learned 0.1 0.2 0.5 1" (every view;
#        GRID_kappa=... etc. for one view)
#   writes $OUT/weights-validation.csv (every trial) and $OUT/weights-rows.csv
#   (test rows); a rerun skips what they hold
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/fedmeta}
root=${2:-out}
seeds=${3:-1 2 3}
out=${OUT:-out/bench-p1-amazon-ease}
k=${K:-5}
views=${VIEWS:-eta}
vcsv="$out/weights-validation.csv" rows="$out/weights-rows.csv"
[ -s "$vcsv" ] || echo "test,validation,k,view,value,setting,ft_steps,ft_lr,ndcg10,recall20" > "$vcsv"
[ -s "$rows" ] || echo "data,industry,k,seed,method,ndcg10,recall20,users,setting" > "$rows"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# score MODEL INDUSTRY SEED STEPS LR -> "ndcg10 recall20 users" of reptile+ft
score() {
  "$bin" eval --data "$root/amazon" --model "$1" --platform "$2" --kshot "$k" --seed "$3" \
    --ft-steps "$4" --ft-lr "$5" --local-steps 0 --verbose 0 |
    awk '$1 ~ /\+ft$/ { print $2, $3, $6 }'
}

# withSetting MODEL "view=value ..." -> a model file with those views set (the
# model itself for an empty setting)
withSetting() {
  if [ -z "$2" ]; then echo "$1"; return; fi
  local args=() kv
  for kv in $2; do args+=("${kv%%=*}" "${kv#*=}"); done
  python3 "$here/ckview.py" "$1" "$tmp/set.pb" "${args[@]}" > /dev/null
  echo "$tmp/set.pb"
}

for pair in ${ROTATIONS:-beauty:toys sports:beauty toys:sports}; do
  test=${pair%%:*} val=${pair##*:}
  vmodel=$(ls -d "$out/sweep-$test"/amazon-reptile-s1-t1-*/ | head -1)meta-model.pb
  [ -s "$vmodel" ] || { echo "no validation model for $test: $vmodel" >&2; exit 1; }
  plan=$(bash "$here/per-k-plan.sh" "$out/validation-$test.csv" reptile)
  fs=0 fl=0.001
  for e in $plan; do [ "${e%%:*}" = "$k" ] && { e=${e#*:}; fs=${e%%:*}; fl=${e#*:}; }; done
  best=""
  for v in $views; do
    g=GRID_$v
    grid=${!g:-${GRID:-learned 0.1 0.2 0.5 1}}
    vbest=$best vnd=-1 # this view's best setting (ties: the earlier value) and its NDCG@10
    for x in $grid; do
      s=$best
      [ "$x" = learned ] || s="${best:+$best }$v=$x"
      # the same setting scored before (an earlier view's best): reuse it
      prev=$(awk -F, -v t="$test" -v k="$k" -v s="$s" '$1 == t && $3 == k && $6 == s { print $9, $10; exit }' "$vcsv")
      if [ -n "$prev" ]; then
        read -r nd rc <<< "$prev"
      else
        read -r nd rc _ <<< "$(score "$(withSetting "$vmodel" "$s")" "$val" 1 "$fs" "$fl")"
        echo "  $test: validation $val K=$k [${s:-learned}]: NDCG@10 $nd"
      fi
      [ -n "$nd" ] || { echo "evaluation of [$s] on $val failed" >&2; exit 1; }
      grep -qxF "$test,$val,$k,$v,$x,$s,$fs,$fl,$nd,$rc" "$vcsv" || echo "$test,$val,$k,$v,$x,$s,$fs,$fl,$nd,$rc" >> "$vcsv"
      if awk -v a="$nd" -v b="$vnd" 'BEGIN { exit !(a + 0 > b + 0) }'; then vbest=$s vnd=$nd; fi
    done
    best=$vbest
  done
  echo "$test: [${best:-learned}] (validation $val), fine-tune $fs x $fl"
  for seed in $seeds; do
    grep -q "^amazon,$test,$k,$seed," "$rows" && continue
    model="$out/amazon-$test-reptile-$seed/meta-model.pb"
    [ -s "$model" ] || { echo "no test model $model" >&2; continue; }
    read -r nd rc us <<< "$(score "$(withSetting "$model" "$best")" "$test" "$seed" "$fs" "$fl")"
    echo "amazon,$test,$k,$seed,reptile+ft weights-val,$nd,$rc,$us,${best:-learned}" >> "$rows"
    echo "  $test seed $seed: NDCG@10 $nd"
  done
done
awk -F, 'NR > 1 { k = $2 "," $3; n[k]++; s[k] += $6; q[k] += $6 * $6; e[k] = $9 }
  END { for (k in n) { m = s[k] / n[k]; v = q[k] / n[k] - m * m; if (v < 0) v = 0
        printf "%s,%d seeds,%s,NDCG@10 %.4f +- %.4f\n", k, n[k], e[k], m, sqrt(v) } }' "$rows" | sort
