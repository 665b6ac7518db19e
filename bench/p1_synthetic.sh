#!/bin/bash
# bench/p1_synthetic.sh: protocol P1 on the embedded synthetic market, several
# seeds. Trains fedavg, fomaml and reptile (same settings), adapts each to the
# held-out industry, and prints mean ± std of NDCG@10 and Recall@20 per method
# beside popularity and local-only, as a Markdown table for docs/BENCHMARKS.md.
#   usage: bench/p1_synthetic.sh [build/fedmeta] [seeds...]   (extra flags: FEDMETA_FLAGS)
set -euo pipefail
bin=${1:-build/fedmeta}; shift || true
seeds=${*:-1 2 3}
here=$(cd "$(dirname "$0")" && pwd)
out=${FEDMETA_BENCH_OUT:-out/bench-p1}
mkdir -p "$out"
rows="$out/rows.csv"
echo "seed,platform,k,method,ndcg10,recall20,hr10,mrr,users" > "$rows"
start=$(date +%s)
for seed in $seeds; do
  for algo in fedavg fomaml reptile; do
    "$here/../cluster/mpirun.sh" 3 "$bin" train --algo "$algo" --seed "$seed" --eval-every 0 --verbose 0 \
      --out "$out/$algo-$seed" ${FEDMETA_FLAGS:-} < /dev/null
    # popularity and local-only do not depend on the algorithm: keep them once (from reptile)
    tail -n +2 "$out/$algo-$seed/heldout.csv" | { if [ "$algo" = reptile ]; then cat; else grep '+ft,'; fi; } \
      | sed "s/^/$seed,/" >> "$rows"
  done
done
echo "machine: $(nproc) cores, $(uname -m); date: $(date -u +%F); wall: $(( $(date +%s) - start )) s; seeds: $seeds"
awk -F, 'NR > 1 { k = $2 "|" $4; n[k]++; s[k] += $5; q[k] += $5 * $5; r[k] += $6; rq[k] += $6 * $6; u[k] = $9; K[k] = $3 }
  END {
    print "| industry | K | method | NDCG@10 (mean ± std) | Recall@20 (mean ± std) | users |"
    print "|---|---|---|---|---|---|"
    split("popularity local-only fedavg+ft fomaml+ft reptile+ft", order, " ")
    for (key in n) { split(key, a, "|"); plat[a[1]] = 1 }
    for (p in plat) for (i = 1; i <= 5; i++) { k = p "|" order[i]; if (!(k in n)) continue
      m = s[k] / n[k]; sd = sqrt(q[k] / n[k] - m * m + 1e-18); mr = r[k] / n[k]; sr = sqrt(rq[k] / n[k] - mr * mr + 1e-18)
      printf "| %s | %s | %s | %.4f ± %.4f | %.4f ± %.4f | %d |\n", p, K[k], order[i], m, sd, mr, sr, u[k] }
  }' "$rows"
