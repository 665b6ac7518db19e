#!/bin/bash
# bench/p1_amazon_search.sh: protocol P1 on Amazon P5 at K = 5 for reptile +
# the federated start search (`train --search-k`, common/search.h), beside
# local-only in the same `fedmeta eval` (docs/BENCHMARKS.md, "The federated
# start search on Amazon").
#
# Per rotation (the test category held out, the other two train) and seed:
#   train  reptile at the validated Amazon settings of the P1 run with
#          `--pop-loo on` (inner-lr 0.03, 20 steps, outer step 1, 50 rounds; the
#          model and 128 negatives as there), then the start search at K = 5 on
#          the two training categories (the default grid, SEARCH_USERS query
#          users of each); nothing of the test category is used by either
#   eval   on the test category at K = 5, with --model-list: the searched start
#          (meta-model-k5.pb) and the trained meta-model as it is, both with no
#          fine-tune (the search chose the start for that: the plan is fixed by
#          the method, not chosen on any data), and local-only at its validated
#          plan (LOCAL, 400 x 0.01) in the same run, paired bootstrap intervals
#
#   usage: bench/p1_amazon_search.sh [bin] [data] [seeds]
#     bin build/fedmeta   data out/amazon (fedmeta prepare --format amazon)   seeds "1 2 3"
#   env: OUT=out/bench-p1-amazon-search  ROTATIONS="toys beauty sports"  SEARCH_USERS=1000
#        LOCAL="400 0.01"  BOOT=1000  MPIRUN="cluster/mpirun.sh 3"
# Rows: $OUT/rows.csv (rotation, seed, method, ndcg10, recall20, users, the chosen weights),
# and each run's log and search.csv under $OUT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/fedmeta}
data=${2:-out/amazon}
seeds=${3:-1 2 3}
out=${OUT:-out/bench-p1-amazon-search}
mpirun_cmd=${MPIRUN:-$here/../cluster/mpirun.sh 3}
read -r lsteps llr <<< "${LOCAL:-400 0.01}"
export OPENBLAS_NUM_THREADS=1
model_flags="--towers off --attr on --spectral 128 --ease 200 --trans on --negatives 128 --pop-loo on"
[ -f "$data/manifest.txt" ] || { echo "p1_amazon_search: $data/manifest.txt not found (fedmeta prepare --format amazon ...)" >&2; exit 1; }
mkdir -p "$out"
rows="$out/rows.csv"
[ -s "$rows" ] || echo "test,seed,method,ndcg10,recall20,users,paired_vs_local,weights" > "$rows"
start=$(date +%s)
for test in ${ROTATIONS:-toys beauty sports}; do
  for seed in $seeds; do
    grep -q "^$test,$seed,reptile+search," "$rows" && continue
    m="$out/$test-$seed"
    [ -s "$m/meta-model-k5.pb" ] || $mpirun_cmd "$bin" train --data "$data" --heldout "$test" --algo reptile --seed "$seed" \
      --rounds 50 --inner-lr 0.03 --inner-steps 20 --outer-lr 1 --eval-every 0 --ft-steps 0 --local-steps 0 \
      --search-k 5 --search-users "${SEARCH_USERS:-1000}" $model_flags --out "$m" < /dev/null > "$m.log" 2>&1 ||
      { echo "train $test seed $seed failed: $m.log" >&2; exit 1; }
    printf '%s\n%s\n' "$m/meta-model-k5.pb" "$m/meta-model.pb" > "$m/models.txt"
    "$bin" eval --data "$data" --model-list "$m/models.txt" --platform "$test" --kshot 5 --seed "$seed" --ft-steps 0 \
      --local-steps "$lsteps" --ft-lr "$llr" --boot "${BOOT:-1000}" $model_flags > "$m/eval.txt" 2>&1 ||
      { echo "eval $test seed $seed failed: $m/eval.txt" >&2; exit 1; }
    weights=$("$bin" inspect "$m/meta-model-k5.pb" | sed -n 's/.*note: start search: K = 5, candidate [0-9]* of [0-9]* (\([^)]*\)).*/\1/p')
    # per model: its JSON line (in list order) and its paired interval against local-only
    python3 - "$m/eval.txt" "$test" "$seed" "$weights" >> "$rows" << 'EOF'
import json, re, sys
path, test, seed, weights = sys.argv[1:5]
text = open(path).read()
js = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
loc = re.search(r"^local-only\s+([0-9.]+)\s+([0-9.]+)", text, re.M)
names = ["reptile+search", "reptile (ft 0)"]
print("%s,%s,local-only,%s,%s,%d,," % (test, seed, loc.group(1), loc.group(2), js[0]["users"]))
for i, (name, j) in enumerate(zip(names, js)):
    v = j.get("vs_local_only")
    pv = "%+.1f %% [%+.1f %%; %+.1f %%]" % (100 * v["rel"], 100 * v["lo"], 100 * v["hi"]) if v else ""
    print("%s,%s,%s,%.4f,%.4f,%d,%s,%s" % (test, seed, name, j["model"]["ndcg10"], j["model"]["recall20"],
          j["users"], pv, weights if i == 0 else "as trained"))
EOF
    echo "  $test seed $seed done ($(( $(date +%s) - start )) s): $(grep "^$test,$seed," "$rows" | cut -d, -f3,4 | tr '\n' ' ')"
  done
done
# mean +- std per rotation and method
awk -F, 'NR > 1 { k = $1 "," $3; n[k]++; s[k] += $4; q[k] += $4 * $4 }
  END { for (k in n) { m = s[k] / n[k]; v = q[k] / n[k] - m * m; printf "%s,%.4f,%.4f,%d\n", k, m, sqrt(v > 0 ? v : 0), n[k] } }' \
  "$rows" | sort > "$out/summary.csv"
cat "$out/summary.csv"
