#!/bin/bash
# bench/p1_search.sh: protocol P1 for reptile + the federated start search
# (`train --search-k`, common/search.h), beside local-only in the same
# `fedmeta eval` (docs/BENCHMARKS.md, "The federated start search").
#
#   amazon: each of beauty, sports, toys held out in turn, the other two train; K = 5
#   ciao:   c3 (Beauty) and c6 (Food & Drink) held out, the other 26 train; K = 1, 5, 10
#
# Per held-out set and seed:
#   train  reptile at the data set's validated P1 settings (the `--pop-loo on` runs
#          of docs/BENCHMARKS.md: Amazon inner-lr 0.03, 20 steps, outer step 1; Ciao
#          0.001, 10, 0.5; 50 rounds; the same model and negatives), then the start
#          search at every K on the training categories (the default grid, scored
#          on SEARCH_USERS query users of each, then the SEARCH_REFINE best on every
#          query user); the held-out categories take no part
#   eval   on each held-out category and K, with --model-list: the searched start
#          (meta-model-k<K>.pb) and the trained meta-model as it is, both with no
#          fine-tune (the search chose the start for that: the plan is fixed by the
#          method, not chosen on any data), and local-only at its validated plan per
#          K in the same run; paired user-level bootstrap intervals against local-only
#
#   usage: bench/p1_search.sh amazon|ciao [bin] [data] [seeds]
#     bin build/fedmeta   data out/amazon or out/ciao (fedmeta prepare)   seeds "1 2 3"
#   env: OUT=out/bench-p1-search-<data set>  HELDOUT (amazon default "toys beauty sports")
#        SCORE (the held-out categories to score; default all of HELDOUT: for a
#        validation run hold out test and validation categories, score only the latter)
#        KS (amazon default "5", ciao "1 5 10"; Amazon's local-only plan at K = 1 is
#        400 x 0.01 as at 5, the validated plans there all scoring as popularity)
#        SEARCH_USERS=500  SEARCH_REFINE=10  BOOT=1000  MPIRUN="cluster/mpirun.sh 3"
# Rows: $OUT/rows.csv (category, K, seed, method, NDCG@10, Recall@20, users, paired
# interval against local-only, the chosen weights); $OUT/summary.csv (mean, std, n).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
set_name=${1:?usage: bench/p1_search.sh amazon|ciao [bin] [data] [seeds]}
bin=${2:-build/fedmeta}
data=${3:-out/$set_name}
seeds=${4:-1 2 3}
out=${OUT:-out/bench-p1-search-$set_name}
mpirun_cmd=${MPIRUN:-$here/../cluster/mpirun.sh 3}
export OPENBLAS_NUM_THREADS=1
case $set_name in
  amazon)
    heldout=${HELDOUT:-toys beauty sports} ks=${KS:-5} local_plan="1:400:0.01 5:400:0.01" reptile="0.03 20 1"
    flags="--towers off --attr on --spectral 128 --ease 200 --trans on --pop-loo on" neg="--negatives 128" ;;
  ciao)
    heldout=${HELDOUT:-c3,c6} ks=${KS:-1 5 10} local_plan="1:100:0.003 5:1:0.001 10:50:0.003" reptile="0.001 10 0.5"
    flags="--towers off --spectral 32 --time-lags 8 --time-bin-days 90 --trans on --pop-loo on" neg="" ;;
  *) echo "bench/p1_search.sh: the data set is amazon or ciao, not '$set_name'" >&2; exit 2 ;;
esac
read -r ilr ist olr <<< "$reptile"
[ -f "$data/manifest.txt" ] || { echo "p1_search: $data/manifest.txt not found (fedmeta prepare --format $set_name ...)" >&2; exit 1; }
mkdir -p "$out"
rows="$out/rows.csv"
[ -s "$rows" ] || echo "category,k,seed,method,ndcg10,recall20,users,paired_vs_local,weights" > "$rows"
start=$(date +%s)
for held in $heldout; do
  for seed in $seeds; do
    m="$out/$(echo "$held" | tr , -)-$seed"
    [ -s "$m/search.csv" ] || $mpirun_cmd "$bin" train --data "$data" --heldout "$held" --algo reptile --seed "$seed" \
      --rounds 50 --inner-lr "$ilr" --inner-steps "$ist" --outer-lr "$olr" --eval-every 0 --ft-steps 0 --local-steps 0 \
      --search-k "$(echo $ks | tr ' ' ,)" --search-users "${SEARCH_USERS:-500}" --search-refine "${SEARCH_REFINE:-10}" $flags $neg --out "$m" < /dev/null > "$m.log" 2>&1 ||
      { echo "train $held seed $seed failed: $m.log" >&2; exit 1; }
    for cat in ${SCORE:-${held//,/ }}; do
      for k in $ks; do
        grep -q "^$cat,$k,$seed,reptile+search," "$rows" && continue
        plan=$(for e in $local_plan; do [ "${e%%:*}" != "$k" ] || echo "${e#*:}"; done)
        printf '%s\n%s\n' "$m/meta-model-k$k.pb" "$m/meta-model.pb" > "$m/models.txt"
        "$bin" eval --data "$data" --model-list "$m/models.txt" --platform "$cat" --kshot "$k" --seed "$seed" \
          --ft-steps 0 --local-steps "${plan%%:*}" --ft-lr "${plan##*:}" --boot "${BOOT:-1000}" $neg \
          > "$m/eval-$cat-$k.txt" 2>&1 || { echo "eval $cat K = $k seed $seed failed: $m/eval-$cat-$k.txt" >&2; exit 1; }
        weights=$("$bin" inspect "$m/meta-model-k$k.pb" |
                  sed -n "s/.*note: start search: K = $k, candidate [0-9]* of [0-9]* (\([^)]*\)).*/\1/p")
        python3 - "$m/eval-$cat-$k.txt" "$cat,$k,$seed" "$weights" >> "$rows" << 'EOF'
import json, re, sys
path, key, weights = sys.argv[1:4]
text = open(path).read()
js = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
loc = re.search(r"^local-only\s+([0-9.]+)\s+([0-9.]+)", text, re.M)
print("%s,local-only,%s,%s,%d,," % (key, loc.group(1), loc.group(2), js[0]["users"]))
for i, (name, j) in enumerate(zip(["reptile+search", "reptile (ft 0)"], js)):
    v = j.get("vs_local_only")
    pv = "%+.1f %% [%+.1f %%; %+.1f %%]" % (100 * v["rel"], 100 * v["lo"], 100 * v["hi"]) if v else ""
    print("%s,%s,%.4f,%.4f,%d,%s,%s" % (key, name, j["model"]["ndcg10"], j["model"]["recall20"], j["users"], pv,
          weights if i == 0 else "as trained"))
EOF
        echo "  $cat K = $k seed $seed ($(( $(date +%s) - start )) s): $(grep "^$cat,$k,$seed," "$rows" | cut -d, -f4,5 | tr '\n' ' ')"
      done
    done
  done
done
# mean and std over the seeds per category, K and method
{ echo "category,k,method,ndcg10_mean,ndcg10_std,n"
  awk -F, 'NR > 1 { key = $1 "," $2 "," $4; n[key]++; s[key] += $5; q[key] += $5 * $5 }
    END { for (key in n) { m = s[key] / n[key]; v = q[key] / n[key] - m * m
                           printf "%s,%.4f,%.4f,%d\n", key, m, sqrt(v > 0 ? v : 0), n[key] } }' "$rows" | sort; } \
  > "$out/summary.csv.tmp"
mv "$out/summary.csv.tmp" "$out/summary.csv"
cat "$out/summary.csv"
