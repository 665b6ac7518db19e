#!/bin/bash
# cluster/demo.sh: the README's first command. Trains a meta-model with
# reptile and with fedavg on the embedded synthetic market (3 MPI ranks: one
# coordinator, two hosting the platforms), adapts each to the held-out
# industry, and prints them beside popularity and local-only.
set -euo pipefail
bin=${1:-build/fedmeta}
here=$(cd "$(dirname "$0")" && pwd)
out=${FEDMETA_DEMO_OUT:-out/demo}
ranks=${FEDMETA_DEMO_RANKS:-3}
shift || true
mkdir -p "$out"
for algo in fedavg reptile; do
  echo "== fedmeta train --algo $algo =="
  "$here/mpirun.sh" "$ranks" "$bin" train --algo "$algo" --out "$out/$algo" --eval-every 0 "$@"
  echo
done
echo "== held-out industry: adaptation from each meta-model (NDCG@10 and Recall@20, full ranking) =="
python_free_table() {
  # rows: popularity and local-only from the reptile run, then each algo's +ft row
  {
    grep -h -E ',(popularity|local-only),' "$out/reptile/heldout.csv"
    grep -h ',fedavg+ft,' "$out/fedavg/heldout.csv"
    grep -h ',reptile+ft,' "$out/reptile/heldout.csv"
  } | awk -F, 'BEGIN { printf "%-12s %3s %-14s %9s %10s %7s\n", "industry", "K", "method", "NDCG@10", "Recall@20", "users" }
               { printf "%-12s %3s %-14s %9.4f %10.4f %7d\n", $1, $2, $3, $4, $5, $8; nd[$3]=$4 }
               END { if (nd["popularity"] > 0 && nd["local-only"] > 0)
                       printf "\nreptile+ft NDCG@10 vs popularity: %+.0f%%, vs local-only: %+.0f%%, vs fedavg+ft: %+.0f%%\n",
                              100*(nd["reptile+ft"]/nd["popularity"]-1), 100*(nd["reptile+ft"]/nd["local-only"]-1),
                              100*(nd["reptile+ft"]/nd["fedavg+ft"]-1) }'
}
python_free_table | tee "$out/table.txt"
