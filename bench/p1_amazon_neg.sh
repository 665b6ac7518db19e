#!/bin/bash
# bench/p1_amazon_neg.sh: the number of sampled negatives chosen on validation
# (docs/BENCHMARKS.md, "Fewer sampled negatives"), from rows that two runs of
# bench/p1_amazon_attr.sh wrote with the transition-term model; trains and evaluates
# nothing. Run A trained and fine-tuned with 512 negatives (the default), run B with
# 128 (FEDMETA_FLAGS="--negatives 128"). For every rotation, K and method (reptile + ft,
# local-only), the run whose validation score at that K is higher gives the test rows:
# each method's setting is chosen on the validation category only, by the score of the
# fine-tune (or local-only) plan bench/per-k-plan.sh picks at that K.
#
#   usage: bench/p1_amazon_neg.sh [bin]    (bin: only for bench/p1_real.sh's summary)
#   env: A_VAL=bench/results/validation-amazon-trans   (prefix: -beauty.csv ...)
#        A_ROWS=bench/results/p1-amazon-trans-all-rows.csv
#        B_VAL=out/bench-p1-amazon-neg128/validation   B_ROWS=out/bench-p1-amazon-neg128/rows.csv
#        OUT=out/bench-p1-amazon-neg  (rows.csv, choices.csv, summary.csv)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/fedmeta}
a_val=${A_VAL:-bench/results/validation-amazon-trans}
a_rows=${A_ROWS:-bench/results/p1-amazon-trans-all-rows.csv}
b_val=${B_VAL:-out/bench-p1-amazon-neg128/validation}
b_rows=${B_ROWS:-out/bench-p1-amazon-neg128/rows.csv}
out=${OUT:-out/bench-p1-amazon-neg}
mkdir -p "$out"
cp "$(dirname "$b_rows")/baselines-amazon.csv" "$out/"

# the validation NDCG@10 at K of ALGO's per-K plan in CSV (bench/per-k-plan.sh)
best() {
  bash "$here/per-k-plan.sh" "$1" "$2" score | tr ' ' '\n' | awk -F: -v k="$3" '$1 == k { print $4; f = 1 } END { exit !f }'
}

tmp=$(mktemp "$out/rows.XXXXXX")           # written whole, then renamed
choices=$(mktemp "$out/choices.XXXXXX")
trap 'rm -f "$tmp" "$choices"' EXIT          # nothing half-written is left on an error
head -1 "$b_rows" > "$tmp"
echo "industry,k,method,val_512,val_128,chosen" > "$choices"
for test in beauty sports toys; do
  for k in 1 5; do
    for m in reptile local; do
      va=$(best "$a_val-$test.csv" $m $k) || { echo "no $m validation at K = $k in $a_val-$test.csv" >&2; exit 1; }
      vb=$(best "$b_val-$test.csv" $m $k) || { echo "no $m validation at K = $k in $b_val-$test.csv" >&2; exit 1; }
      # the larger validation score wins; a tie keeps the default (512)
      if awk -v a="$va" -v b="$vb" 'BEGIN { exit !(b > a) }'; then src=$b_rows neg=128; else src=$a_rows neg=512; fi
      name=$([ $m = local ] && echo local-only || echo reptile+ft)
      echo "$test,$k,$name,$va,$vb,$neg" >> "$choices"
      n=$(awk -F, -v t="$test" -v k="$k" -v m="$name" '$1 == "amazon" && $2 == t && $3 == k && $5 == m' "$src" | tee -a "$tmp" | wc -l)
      [ "$n" -ge 3 ] || { echo "$src: $n rows of $name on $test at K = $k (3 seeds expected)" >&2; exit 1; }
    done
  done
done
mv "$tmp" "$out/rows.csv"
mv "$choices" "$out/choices.csv"
column -s, -t "$out/choices.csv"
# the summary only (no rotation to run: AMAZON_TEST is a blank)
OUT="$out" ONLY=amazon AMAZON_TEST=" " ALGOS=reptile SWEEP_CSV=/dev/null bash "$here/p1_real.sh" "$bin" out "1 2 3"
