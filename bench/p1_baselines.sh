#!/bin/bash
# bench/p1_baselines.sh: protocol P1 reference baselines (popularity, ItemKNN,
# EASE on the support, EASE pooled over the other industries) on the prepared
# Ciao and Amazon P5 folders, printed beside the reference figures of
# BENCHMARK-PROTOCOL.md as a Markdown table. A folder that does not exist is
# skipped with the command that prepares it.
#   usage: bench/p1_baselines.sh [build/fedmeta]
#   env:   CIAO=out/ciao AMAZON=out/amazon FEDMETA_BENCH_OUT=out/bench-p1-baselines
#          FEDMETA_FLAGS="..." (extra flags for fedmeta baselines, e.g. --boot 200)
# Cost on 2 cores: Ciao about 3 minutes (six pooled EASE fits over ~11k
# items, ~25 s each), Amazon about 2 minutes (support EASE over ~10k items).
set -euo pipefail
bin=${1:-build/fedmeta}
ciao=${CIAO:-out/ciao}
amazon=${AMAZON:-out/amazon}
out=${FEDMETA_BENCH_OUT:-out/bench-p1-baselines}
mkdir -p "$out"

# Reference figures: data set, industry key, K, users, method, NDCG@10, Recall@20.
ref="$out/reference.csv"
cat > "$ref" <<'EOF'
ciao,3,1,1574,popularity,0.0330,0.0654
ciao,3,1,1574,itemknn,0.0330,0.0654
ciao,3,1,1574,ease,0.0330,0.0654
ciao,3,1,1574,ease-pooled,0.0264,0.0513
ciao,3,5,501,popularity,0.0335,0.0532
ciao,3,5,501,itemknn,0.0202,0.0404
ciao,3,5,501,ease,0.0249,0.0486
ciao,3,5,501,ease-pooled,0.0294,0.0500
ciao,3,10,205,popularity,0.0360,0.0634
ciao,3,10,205,itemknn,0.0348,0.0491
ciao,3,10,205,ease,0.0453,0.0693
ciao,3,10,205,ease-pooled,0.0394,0.0657
ciao,6,1,1454,popularity,0.0338,0.0767
ciao,6,1,1454,itemknn,0.0338,0.0767
ciao,6,1,1454,ease,0.0338,0.0767
ciao,6,1,1454,ease-pooled,0.0309,0.0584
ciao,6,5,449,popularity,0.0401,0.0672
ciao,6,5,449,itemknn,0.0299,0.0508
ciao,6,5,449,ease,0.0352,0.0525
ciao,6,5,449,ease-pooled,0.0376,0.0608
ciao,6,10,181,popularity,0.0580,0.0620
ciao,6,10,181,itemknn,0.0464,0.0621
ciao,6,10,181,ease,0.0569,0.0748
ciao,6,10,181,ease-pooled,0.0521,0.0762
amazon,toys,1,19412,popularity,0.0076,0.0157
amazon,toys,1,19412,itemknn,0.0076,0.0157
amazon,toys,1,19412,ease,0.0076,0.0157
amazon,toys,5,12833,popularity,0.0047,0.0133
amazon,toys,5,12833,itemknn,0.0323,0.0594
amazon,toys,5,12833,ease,0.0400,0.0673
amazon,beauty,1,22363,popularity,0.0126,0.0237
amazon,beauty,1,22363,itemknn,0.0126,0.0237
amazon,beauty,1,22363,ease,0.0126,0.0237
amazon,beauty,5,15201,popularity,0.0109,0.0234
amazon,beauty,5,15201,itemknn,0.0341,0.0603
amazon,beauty,5,15201,ease,0.0461,0.0781
EOF

# The manifest name of an industry: Ciao categories by id ("3", "c3", "cat3",
# "category-3", ... or the category's name), Amazon by category name.
pick() { # pick DIR REGEX (extended, case-insensitive, matched to the whole name)
  awk -v re="^($2)\$" 'NR > 1 && !/^#/ && NF >= 3 && tolower($2) ~ re { print $2; exit }' "$1/manifest.txt"
}

# key,name pairs of the industries found, for the comparison below
map="$out/names.csv"
: > "$map"
start=$(date +%s)
echo "machine: $(nproc) cores, $(uname -m); date: $(date -u +%F)"
if [ -f "$ciao/manifest.txt" ]; then
  c3=$(pick "$ciao" '(c|cat|category)?[-_]?0*3|beauty')
  c6=$(pick "$ciao" '(c|cat|category)?[-_]?0*6|food.*')
  [ -n "$c3" ] && [ -n "$c6" ] || { echo "$ciao: no industry named like category 3 and 6 (see $ciao/manifest.txt)" >&2; exit 1; }
  echo "3,$c3" >> "$map"
  echo "6,$c6" >> "$map"
  echo "== Ciao ($ciao): held out $c3 (category 3, Beauty) and $c6 (category 6, Food & Drink)"
  "$bin" baselines --data "$ciao" --heldout "$c3,$c6" --ks 1,5,10 --out "$out/ciao.csv" ${FEDMETA_FLAGS:-}
else
  echo "== Ciao: $ciao not found; prepare it with"
  echo "   $bin prepare --format ciao --input ../shared/data/ciao/derived/rating_with_timestamp.tsv --out $ciao"
fi
if [ -f "$amazon/manifest.txt" ]; then
  toys=$(pick "$amazon" 'toys.*')
  beauty=$(pick "$amazon" 'beauty')
  [ -n "$toys" ] && [ -n "$beauty" ] || { echo "$amazon: no industry named toys and beauty" >&2; exit 1; }
  echo "toys,$toys" >> "$map"
  echo "beauty,$beauty" >> "$map"
  echo "== Amazon P5 ($amazon): held out $toys and $beauty"
  # the pooled catalogue (42k items) is above the dense EASE limit: skipped, with a note
  "$bin" baselines --data "$amazon" --heldout "$toys,$beauty" --ks 1,5 --out "$out/amazon.csv" ${FEDMETA_FLAGS:-}
else
  echo "== Amazon: $amazon not found; prepare it with"
  echo "   $bin prepare --format amazon --input ../shared/data/amazon-p5-beauty-sports-toys --out $amazon"
fi
echo "wall: $(( $(date +%s) - start )) s"

# Ours beside the reference: NDCG@10 and Recall@20, the relative difference of
# NDCG@10, and whether the reference lies in our bootstrap 95% interval.
echo
echo "| data | held-out | K | method | users (ours / ref) | NDCG@10 ours / ref (diff) | Recall@20 ours / ref | ref in our 95% CI |"
echo "|---|---|---|---|---|---|---|---|"
for data in ciao amazon; do
  [ -f "$out/$data.csv" ] || continue
  awk -F, -v data=$data '
    FILENAME == ARGV[1] { name[$1] = $2; next }
    FILENAME == ARGV[2] { if ($1 == data) { k = name[$2] "|" $3 "|" $5; ru[k] = $4; rn[k] = $6; rr[k] = $7; ord[++n] = k } next }
    FNR > 1 { k = $1 "|" $2 "|" $3; ok[k] = $12; u[k] = $4; nd[k] = $6; rc[k] = $7; lo[k] = $10; hi[k] = $11; note[k] = $13 }
    END {
      for (i = 1; i <= n; i++) {
        k = ord[i]; split(k, a, "|")
        if (!(k in ok)) { printf "| %s | %s | %s | %s | - / %s | not run / %.4f | - / %.4f | |\n", data, a[1], a[2], a[3], ru[k], rn[k], rr[k]; continue }
        if (ok[k] != "ok") { printf "| %s | %s | %s | %s | - / %s | skipped / %.4f | - / %.4f | %s |\n", data, a[1], a[2], a[3], ru[k], rn[k], rr[k], note[k]; continue }
        d = rn[k] > 0 ? 100 * (nd[k] - rn[k]) / rn[k] : 0
        ci = (lo[k] == "") ? "-" : (rn[k] >= lo[k] - 5e-5 && rn[k] <= hi[k] + 5e-5 ? "yes" : "no")
        printf "| %s | %s | %s | %s | %s / %s | %.4f / %.4f (%+.1f%%) | %.4f / %.4f | %s |\n",
               data, a[1], a[2], a[3], u[k], ru[k], nd[k], rn[k], d, rc[k], rr[k], ci
      }
    }' "$map" "$ref" "$out/$data.csv"
done
