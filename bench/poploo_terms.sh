#!/bin/bash
# bench/poploo_terms.sh: why `--pop-loo on` helped on Amazon (a towers-off
# model) but hurt on the synthetic market (towers on) until it also turned the
# towers' popularity rank token off: the popularity weight beta each method ends
# with, beside its NDCG@10, with and without the towers (docs/BENCHMARKS.md,
# "Why `--pop-loo` hurt on the synthetic market").
# Per seed, towers (on, off) and --pop-loo (off, on): reptile trained with the
# validation industries and toys held out (as bench/p1_synthetic_val.sh; toys is
# never scored), then on each validation industry at K = 5: reptile+ft at FT and
# local-only at LOCAL, each with `fedmeta eval --verbose 2` (which prints the
# term weights after adaptation). One row per (seed, towers, loo, industry,
# method) in $OUT/rows.csv, and the means over seeds and industries on stdout.
#   usage: bench/poploo_terms.sh [build/fedmeta] [seeds...]   (default seeds 1 2)
#   env:   VAL="sports home"  K=5  FT=20:0.003  LOCAL=200:0.01  TOWERS="on off"  OUT=out/bench-poploo-terms
set -euo pipefail
bin=${1:-build/fedmeta}; shift || true
seeds=${*:-1 2}
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-out/bench-poploo-terms}
val=${VAL:-sports home}
k=${K:-5}
ft=${FT:-20:0.003}
loc=${LOCAL:-200:0.01}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
mkdir -p "$out"
rows="$out/rows.csv"
echo "seed,towers,pop_loo,platform,k,method,steps,lr,ndcg10,beta" > "$rows"
heldout=$(echo $val toys | tr ' ' ,)
# NDCG@10 and the adapted beta of METHOD (reptile+ft or local-only) in eval's output
pick() { awk -v m="$1" '$1 == m && NF >= 6 { n = $2 } $1 == m && $2 ~ /^\(/ { in_m = 1; next }
  /^[^ ]/ { in_m = 0 } in_m && $1 == "beta" { b = $2 } END { print n "," b }'; }
for seed in $seeds; do
  for towers in ${TOWERS:-on off}; do
    for loo in off on; do
      m="$out/reptile-towers$towers-loo$loo-$seed"
      "$here/../cluster/mpirun.sh" 3 "$bin" train --algo reptile --seed "$seed" --heldout "$heldout" --eval-every 0 \
        --local-steps 0 --verbose 0 --towers "$towers" --pop-loo "$loo" --out "$m" < /dev/null > "$m.log" 2>&1
      rm -f "$m/heldout.csv" # it names the test industry too: not looked at
      for v in $val; do
        r=$("$bin" eval --model "$m/meta-model.pb" --platform "$v" --kshot "$k" --seed "$seed" --ft-steps "${ft%%:*}" \
              --ft-lr "${ft##*:}" --local-steps 0 --boot 0 --verbose 2 --pop-loo "$loo" | pick reptile+ft)
        echo "$seed,$towers,$loo,$v,$k,reptile+ft,${ft%%:*},${ft##*:},$r" >> "$rows"
        r=$("$bin" eval --model "$m/meta-model.pb" --platform "$v" --kshot "$k" --seed "$seed" --ft-steps 0 \
              --ft-lr "${loc##*:}" --local-steps "${loc%%:*}" --boot 0 --verbose 2 --pop-loo "$loo" | pick local-only)
        echo "$seed,$towers,$loo,$v,$k,local-only,${loc%%:*},${loc##*:},$r" >> "$rows"
      done
    done
  done
done
echo "validation industries: $val (toys held out, never scored); K = $k; seeds: $seeds; date: $(date -u +%F)"
echo "means over seeds and industries: NDCG@10 and the popularity weight beta after adaptation"
awk -F, 'NR > 1 { key = $2 "," $6 "," $3; s[key] += $9; b[key] += $10; n[key]++ }
  END { for (key in s) printf "%s,%.4f,%.3f,%d\n", key, s[key] / n[key], b[key] / n[key], n[key] }' "$rows" |
  sort -t, -k1,1r -k2,2r -k3,3 | awk -F, 'BEGIN { printf "%-7s %-11s %-8s %8s %7s %3s\n", "towers", "method", "pop-loo", "NDCG@10", "beta", "n" }
    { printf "%-7s %-11s %-8s %8.4f %7.3f %3d\n", $1, $2, $3, $4, $5, $6 }'
