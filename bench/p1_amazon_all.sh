#!/bin/bash
# bench/p1_amazon_all.sh: one table of every method with the transition-term model on
# Amazon P5 (docs/BENCHMARKS.md, "Every method with the transition-term model on
# Amazon"), from rows that earlier runs wrote; trains and evaluates nothing.
# A rotation's rows come from the run whose fine-tune plan validation chose last:
# beauty from the evaluation with the extended fine-tune grid (FT400), sports and toys
# from the first run (MAIN), whose plans the extended grid did not change.
#
#   usage: bench/p1_amazon_all.sh [bin]      (bin: only for bench/p1_real.sh's summary)
#   env: MAIN=out/bench-p1-amazon-trans  FT400=out/bench-p1-amazon-trans-ft400
#        OUT=out/bench-p1-amazon-trans-all  ALGOS="fedavg central reptile fomaml"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/fedmeta}
main=${MAIN:-out/bench-p1-amazon-trans}
ft400=${FT400:-out/bench-p1-amazon-trans-ft400}
out=${OUT:-out/bench-p1-amazon-trans-all}
mkdir -p "$out"
cp "$main/baselines-amazon.csv" "$out/"
tmp=$(mktemp "$out/rows.XXXXXX")
{ head -1 "$main/rows.csv"
  grep "^amazon,beauty," "$ft400/rows.csv"
  grep "^amazon,\(sports\|toys\)," "$main/rows.csv"; } > "$tmp"
mv "$tmp" "$out/rows.csv"
# the summary only (no rotation to run: AMAZON_TEST is a blank)
OUT="$out" ONLY=amazon AMAZON_TEST=" " ALGOS="${ALGOS:-fedavg central reptile fomaml}" SWEEP_CSV=/dev/null \
  bash "$here/p1_real.sh" "$bin" out "1 2 3"
