#!/bin/bash
# bench/p1_sparse.sh: protocol P1 on a SPARSE new industry (an extra table, as
# BENCHMARK-PROTOCOL.md invites): the held-out category has only N users
# (`--heldout-users N`: N of its users with K + 1 interactions, chosen by the
# seed; each gives its first K as support, the rest as query), for N from a
# hundred to all. The question: how much does the meta-learned start buy when a
# platform has few customers, against local-only and the baselines fitted on
# the same N users' support.
#
# No training: the meta-models of a bench/p1_amazon_attr.sh run are reused (IN),
# its validation models too. Per rotation (test:validation) and N:
#   validation: the validation category with N users (subsample seed 1), on its
#     validation model (IN/sweep-TEST/*/meta-model.pb: trained with TEST excluded
#     and the validation category held out); every fine-tune setting of FT_GRID
#     and every local-only setting of LOCAL_GRID scored, each trial a row of
#     $OUT/validation.csv; the best of each is the setting of that N
#   test: per seed, the test model IN/amazon-TEST-reptile-SEED with N users
#     (subsample seed = SEED, so the seeds also average over the users drawn):
#     reptile+ft and local-only at their validated settings, and fedmeta
#     baselines (popularity, ItemKNN, EASE) on the same users; rows in $OUT/rows.csv
#   ALGOS: the other federated methods of IN (fedavg central fomaml), each
#     IN/amazon-TEST-ALGO-SEED at reptile's validated fine-tune setting of that N
#     (as bench/p1_real.sh gives every +ft method reptile's plan); a missing model
#     is skipped with a note
# Then $OUT/summary.csv (mean and std over seeds) and a table on stdout.
#
#   usage: bench/p1_sparse.sh [bin] [data] [seeds]
#     bin build/fedmeta   data out/amazon (fedmeta prepare --format amazon)   seeds "1 2 3"
#   env: IN=out/bench-p1-amazon-trans  OUT=$IN/sparse  NS="100 300 1000 3000"  K=5
#        ROTATIONS="beauty:toys sports:beauty toys:sports" (test:validation; several
#          validation categories joined by +, e.g. c3:c8+c24, are scored together:
#          the mean of their NDCG@10)
#        DATASET=amazon (the rows' first column)
#        TMODEL="{in}/amazon-{test}-{algo}-{seed}" (a test model's folder)
#        VMODEL (the validation model's folder; default: the first of
#          IN/sweep-TEST/amazon-reptile-*, as bench/p1_amazon_attr.sh leaves them)
#   Ciao (bench/p1_ciao_best.sh's models: c3 and c6 held out of one model,
#   validation on c8 and c24 with both test categories excluded):
#        DATASET=ciao IN=out/bench-p1-ciao-trans TMODEL="{in}/ciao-<tag>-{algo}-{seed}"
#        VMODEL=<the best reptile trial of IN/sweep> ROTATIONS="c3:c8+c24 c6:c8+c24"
#        FT_GRID="0:0.001 20:0.01 100:0.01"
#        LOCAL_GRID="1:0.001 20:0.01 100:0.01 400:0.01 1000:0.01 400:0.003 1000:0.003"
#        ALGOS="" (e.g. "fedavg central fomaml")
#        FEDMETA_FLAGS (flags for every eval, as the models' run had them for
#          training: e.g. "--negatives 128 --pop-loo on" for a p1_amazon_attr.sh
#          run with those; the fine-tune and local-only train with them)
# Plot: gnuplot -e "in='OUT/summary.csv'; out='docs/img/p1-amazon-sparse.png'" bench/plot_p1_sparse.gp
set -euo pipefail
bin=${1:-build/fedmeta}
data=${2:-out/amazon}
seeds=${3:-1 2 3}
in=${IN:-out/bench-p1-amazon-trans}
out=${OUT:-$in/sparse}
ns=${NS:-100 300 1000 3000}
k=${K:-5}
ft_grid=${FT_GRID:-0:0.001 20:0.01 100:0.01}
local_grid=${LOCAL_GRID:-1:0.001 20:0.01 100:0.01 400:0.01 1000:0.01 400:0.003 1000:0.003}
algos=${ALGOS:-}
dataset=${DATASET:-amazon}
tmodel=${TMODEL:-"{in}/amazon-{test}-{algo}-{seed}"}
# test_model TEST ALGO SEED -> the meta-model file
test_model() {
  local m=${tmodel//\{in\}/$in}
  m=${m//\{test\}/$1}
  m=${m//\{algo\}/$2}
  echo "${m//\{seed\}/$3}/meta-model.pb"
}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
[ -f "$data/manifest.txt" ] || { echo "p1_sparse: no prepared data in $data (README, section Data)" >&2; exit 2; }
mkdir -p "$out"
valid="$out/validation.csv" rows="$out/rows.csv"
[ -s "$valid" ] || echo "test,val,n_users,method,steps,lr,ndcg10,recall20,users" > "$valid"
[ -s "$rows" ] || echo "data,industry,n_users,seed,method,ndcg10,recall20,users" > "$rows"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'); date: $(date -u '+%F %H:%M') UTC; K = $k; N: $ns; flags: ${FEDMETA_FLAGS:-none}"

# score MODEL IND N SEED FT_STEPS FT_LR LOCAL_STEPS -> "method ndcg recall users" lines;
# IND may list several categories joined by +: then the mean NDCG@10 and Recall@20
# over them, and their users summed
score() {
  local ind
  for ind in ${2//+/ }; do
    "$bin" eval --data "$data" --model "$1" --platform "$ind" --kshot "$k" --heldout-users "$3" --seed "$4" \
      --ft-steps "$5" --ft-lr "$6" --local-steps "$7" --boot 0 --verbose 0 ${FEDMETA_FLAGS:-} |
      awk '$1 == "local-only" || $1 ~ /\+ft$/ { print $1, $2, $3, $6 }'
  done | awk '{ n[$1]++; s[$1] += $2; r[$1] += $3; u[$1] += $4 }
    END { for (m in n) printf "%s %.6f %.6f %d\n", m, s[m] / n[m], r[m] / n[m], u[m] }'
}

for pair in ${ROTATIONS:-beauty:toys sports:beauty toys:sports}; do
  test=${pair%%:*} val=${pair##*:}
  vmodel=${VMODEL:-$(ls -d "$in/sweep-$test"/amazon-reptile-*/ 2> /dev/null | head -1 || true)}
  # the validation model, needed only for a trial not yet in $valid (a rerun
  # with every trial recorded, e.g. copied from bench/results, needs none)
  need_vmodel() {
    [ -n "$vmodel" ] && [ -s "$vmodel/meta-model.pb" ] ||
      { echo "p1_sparse: no validation model ${vmodel:-in $in/sweep-$test} for a trial missing from $valid" >&2; exit 1; }
  }
  for n in $ns; do
    # validation: every trial once (a rerun keeps the trials already recorded)
    for e in $ft_grid; do
      s=${e%%:*} l=${e#*:}
      grep -q "^$test,$val,$n,reptile+ft,$s,$l," "$valid" && continue
      need_vmodel
      score "$vmodel/meta-model.pb" "$val" "$n" 1 "$s" "$l" 0 |
        awk -v p="$test,$val,$n" -v s="$s" -v l="$l" '$1 ~ /\+ft$/ { print p ",reptile+ft," s "," l "," $2 "," $3 "," $4 }' >> "$valid"
    done
    for e in $local_grid; do
      s=${e%%:*} l=${e#*:}
      grep -q "^$test,$val,$n,local-only,$s,$l," "$valid" && continue
      need_vmodel
      score "$vmodel/meta-model.pb" "$val" "$n" 1 0 "$l" "$s" |
        awk -v p="$test,$val,$n" -v s="$s" -v l="$l" '$1 == "local-only" { print p ",local-only," s "," l "," $2 "," $3 "," $4 }' >> "$valid"
    done
    best() { awk -F, -v t="$test" -v n="$n" -v m="$1" '$1 == t && $3 == n && $4 == m && (b == "" || $7 > bv) { bv = $7; b = $5 " " $6 }
      END { print b }' "$valid"; }
    read -r fs fl <<< "$(best reptile+ft)"
    read -r ls ll <<< "$(best local-only)"
    echo "$test, N = $n: validation ($val) chose fine-tune $fs steps at $fl, local-only $ls steps at $ll"
    for seed in $seeds; do
      for a in $algos; do # the other methods at reptile's fine-tune setting
        m=$(test_model "$test" "$a" "$seed")
        grep -q "^$dataset,$test,$n,$seed,$a+ft," "$rows" && continue
        [ -s "$m" ] || { echo "  no $m: $a seed $seed skipped"; continue; }
        score "$m" "$test" "$n" "$seed" "$fs" "$fl" 0 |
          awk -v p="$dataset,$test,$n,$seed,$a+ft" '$1 ~ /\+ft$/ { print p "," $2 "," $3 "," $4 }' >> "$rows"
      done
      grep -q "^$dataset,$test,$n,$seed,reptile+ft," "$rows" && continue
      model=$(test_model "$test" reptile "$seed")
      [ -s "$model" ] || { echo "p1_sparse: no test model $model" >&2; exit 1; }
      score "$model" "$test" "$n" "$seed" 0 "$ll" "$ls" |
        awk -v p="$dataset,$test,$n,$seed" '$1 == "local-only" { print p ",local-only," $2 "," $3 "," $4 }' >> "$rows"
      "$bin" baselines --data "$data" --heldout "$test" --ks "$k" --no-pooled --heldout-users "$n" --seed "$seed" \
        --boot 0 --verbose 0 --out "$out/baselines.tmp.csv" > /dev/null
      # the baselines CSV: platform,k,method,users,items,ndcg10,recall20,... (header first)
      awk -F, -v p="$dataset,$test,$n,$seed" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        $c["method"] != "ease-pooled" && $c["ndcg10"] != "" { print p "," $c["method"] "," $c["ndcg10"] "," $c["recall20"] "," $c["users"] }' \
        "$out/baselines.tmp.csv" >> "$rows"
      rm -f "$out/baselines.tmp.csv"
      # the model's row last: its presence marks the seed done
      score "$model" "$test" "$n" "$seed" "$fs" "$fl" 0 |
        awk -v p="$dataset,$test,$n,$seed" '$1 ~ /\+ft$/ { print p ",reptile+ft," $2 "," $3 "," $4 }' >> "$rows"
      echo "  seed $seed done ($(date -u +%T))"
    done
  done
done

# mean and std over seeds per (industry, N, method)
tmp=$(mktemp "$out/summary.XXXXXX")
awk -F, 'NR > 1 { key = $1 "," $2 "," $3 "," $5; n[key]++; s[key] += $6; q[key] += $6 * $6; r[key] += $7; rq[key] += $7 * $7 }
  END { for (key in n) { m = s[key] / n[key]; v = q[key] / n[key] - m * m; mr = r[key] / n[key]; vr = rq[key] / n[key] - mr * mr
          printf "%s,%.6f,%.6f,%.6f,%.6f,%d\n", key, m, sqrt(v > 0 ? v : 0), mr, sqrt(vr > 0 ? vr : 0), n[key] } }' "$rows" |
  sort -t, -k2,2 -k3,3n -k4,4 > "$tmp.body"
{ echo "data,industry,n_users,method,ndcg10_mean,ndcg10_std,recall20_mean,recall20_std,n"; cat "$tmp.body"; } > "$tmp"
rm -f "$tmp.body"
mv "$tmp" "$out/summary.csv"
echo
echo "NDCG@10 (mean over seeds) by held-out category and number of its users N; last columns: reptile+ft against"
echo "the best baseline (popularity, ItemKNN, EASE) and against local-only"
printf "%-8s %6s %10s %10s %10s %10s %10s %9s %9s\n" industry N popularity itemknn ease local-only reptile+ft "vs best" "vs local"
awk -F, 'NR > 1 { v[$2 "," $3 "," $4] = $5; ind[$2] = 1; nn[$3] = 1 }
  END { for (i in ind) for (n in nn) { p = i "," n ","; if (!((p "reptile+ft") in v)) continue
          b = v[p "popularity"]; if (v[p "itemknn"] > b) b = v[p "itemknn"]; if (v[p "ease"] > b) b = v[p "ease"]
          printf "%-8s %6s %10.4f %10.4f %10.4f %10.4f %10.4f %+8.1f%% %+8.1f%%\n", i, n, v[p "popularity"], v[p "itemknn"], v[p "ease"],
            v[p "local-only"], v[p "reptile+ft"], 100 * (v[p "reptile+ft"] / b - 1), 100 * (v[p "reptile+ft"] / v[p "local-only"] - 1) } }' \
  "$out/summary.csv" | sort -k1,1 -k2,2n
