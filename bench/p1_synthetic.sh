#!/bin/bash
# bench/p1_synthetic.sh: protocol P1 on the embedded synthetic market, several
# seeds and K. Trains each algorithm once per seed (training does not depend on
# K), then adapts each meta-model to the held-out industry at every K with
# `fedmeta eval`, beside popularity and local-only, and prints mean ± std of
# NDCG@10 and Recall@20 per (K, method) as a Markdown table for docs/BENCHMARKS.md.
#   usage: bench/p1_synthetic.sh [build/fedmeta] [seeds...]
#   env:   KS="1 2 5 10"   ALGOS="fedavg fomaml reptile"
#          FT_PLAN="K:STEPS:LR ..."     fine-tune of every +ft method per K
#          LOCAL_PLAN="K:STEPS:LR ..."  the local-only baseline per K
#          FEDMETA_FLAGS (extra flags for train and eval)  FEDMETA_BENCH_OUT=out/bench-p1
#          TRAIN_FLAGS (flags for train only: the model's shape, e.g. "--user-ids on --secagg on")
# The default plans were chosen on the VALIDATION industries sports and home
# (bench/p1_synthetic_val.sh with the default --pop-loo on, 2026-12-01: the best
# reptile+ft and local-only settings per K of
# bench/results/validation-synthetic-poploo2-on.txt; the held-out toys is never
# scored there); a K missing from a plan uses the defaults of fedmeta (40 x
# 0.003 fine-tune, 200 local-only steps at 0.003).
set -euo pipefail
bin=${1:-build/fedmeta}; shift || true
seeds=${*:-1 2 3}
here=$(cd "$(dirname "$0")" && pwd)
out=${FEDMETA_BENCH_OUT:-out/bench-p1}
ks=${KS:-1 2 5 10}
algos=${ALGOS:-fedavg fomaml reptile}
ft_plan=${FT_PLAN:-1:40:0.001 2:40:0.003 5:40:0.001 10:80:0.003}
local_plan=${LOCAL_PLAN:-1:200:0.003 2:200:0.003 5:200:0.003 10:200:0.003}
mkdir -p "$out"
rows="$out/rows.csv"
echo "seed,platform,k,method,ndcg10,recall20,hr10,mrr,users" > "$rows"
# plan PLAN K DEFAULT_STEPS DEFAULT_LR -> "steps lr"
plan() { local p; for p in $1; do [ "${p%%:*}" = "$2" ] && { p=${p#*:}; echo "${p%%:*} ${p#*:}"; return; }; done; echo "$3 $4"; }
start=$(date +%s)
for seed in $seeds; do
  for algo in $algos; do
    "$here/../cluster/mpirun.sh" 3 "$bin" train --algo "$algo" --seed "$seed" --eval-every 0 --verbose 0 \
      --local-steps 0 --out "$out/$algo-$seed" ${FEDMETA_FLAGS:-} ${TRAIN_FLAGS:-} < /dev/null > "$out/$algo-$seed.log"
    for k in $ks; do
      read -r fs fl <<< "$(plan "$ft_plan" "$k" 40 0.003)"
      read -r ls ll <<< "$(plan "$local_plan" "$k" 200 0.003)"
      # the fine-tuned meta-model (and popularity, which depends on neither)
      "$bin" eval --model "$out/$algo-$seed/meta-model.pb" --kshot "$k" --seed "$seed" --ft-steps "$fs" \
        --ft-lr "$fl" --local-steps 0 --verbose 0 ${FEDMETA_FLAGS:-} > "$out/$algo-$seed-k$k.txt"
      # local-only does not depend on the algorithm: once per seed, with its own plan
      if [ "$algo" = "${algos##* }" ]; then
        "$bin" eval --model "$out/$algo-$seed/meta-model.pb" --kshot "$k" --seed "$seed" --ft-steps 0 \
          --ft-lr "$ll" --local-steps "$ls" --verbose 0 ${FEDMETA_FLAGS:-} | grep -E '^(local-only|popularity) ' \
          >> "$out/$algo-$seed-k$k.txt"
      fi
      plat=$(head -1 "$out/$algo-$seed-k$k.txt" | cut -d: -f1)
      awk -v s="$seed" -v p="$plat" -v k="$k" -v a="$algo" -v last="${algos##* }" '
        NF == 6 && $1 ~ /\+ft$/ { print s "," p "," k "," $1 "," $2 "," $3 "," $4 "," $5 "," $6 }
        NF == 6 && $1 == "local-only" { print s "," p "," k "," $1 "," $2 "," $3 "," $4 "," $5 "," $6 }
        NF == 6 && $1 == "popularity" && a == last && !pop++ { print s "," p "," k "," $1 "," $2 "," $3 "," $4 "," $5 "," $6 }' \
        "$out/$algo-$seed-k$k.txt" >> "$rows"
    done
  done
done
echo "machine: $(nproc) cores, $(uname -m); date: $(date -u +%F); wall: $(( $(date +%s) - start )) s; seeds: $seeds"
echo "fine-tune plan (K:steps:lr): $ft_plan; local-only plan: $local_plan"
awk -F, 'NR > 1 { k = $2 "|" $3 "|" $4; n[k]++; s[k] += $5; q[k] += $5 * $5; r[k] += $6; rq[k] += $6 * $6; u[k] = $9 }
  END {
    print "| industry | K | method | NDCG@10 (mean ± std) | Recall@20 (mean ± std) | users |"
    print "|---|---|---|---|---|---|"
    split("popularity local-only fedavg+ft fomaml+ft reptile+ft", order, " ")
    for (key in n) { split(key, a, "|"); plat[a[1]] = 1; K[a[2]] = 1 }
    nk = 0; for (x in K) ks[++nk] = x + 0
    for (i = 1; i <= nk; i++) for (j = i + 1; j <= nk; j++) if (ks[j] < ks[i]) { t = ks[i]; ks[i] = ks[j]; ks[j] = t }
    for (p in plat) for (j = 1; j <= nk; j++) for (i = 1; i <= 5; i++) { k = p "|" ks[j] "|" order[i]; if (!(k in n)) continue
      m = s[k] / n[k]; sd = sqrt(q[k] / n[k] - m * m + 1e-18); mr = r[k] / n[k]; sr = sqrt(rq[k] / n[k] - mr * mr + 1e-18)
      printf "| %s | %s | %s | %.4f ± %.4f | %.4f ± %.4f | %d |\n", p, ks[j], order[i], m, sd, mr, sr, u[k] }
  }' "$rows"
