#!/bin/bash
# bench/p1_synthetic_val.sh: chooses the per-K fine-tune and local-only plans of
# bench/p1_synthetic.sh on VALIDATION industries of the synthetic market.
# Trains each algorithm with sports, home AND toys held out (toys is the test
# industry: held out of training here too, never scored), then scores a grid
# of fine-tune settings (and, once per seed, of local-only settings) on sports
# and home at every K. Prints the mean NDCG@10 over industries and seeds per
# (method, K, setting), best first within each (method, K).
#   usage: bench/p1_synthetic_val.sh [build/fedmeta] [seeds...]   (default seeds 1 2)
#   env:   KS="1 2 5 10"  ALGOS="reptile fedavg"  VAL="sports home"  EXCLUDE=toys
#          FT_GRID="0:0.003 10:0.003 20:0.003 40:0.003 80:0.003 40:0.001 40:0.01"
#          LOCAL_GRID="100:0.003 200:0.003 400:0.003 100:0.01 200:0.01 400:0.01"
#          HIST="auto full" (the --ft-history settings scored at K = 1)
#          FEDMETA_BENCH_OUT=out/bench-p1-val
set -euo pipefail
bin=${1:-build/fedmeta}; shift || true
seeds=${*:-1 2}
here=$(cd "$(dirname "$0")" && pwd)
out=${FEDMETA_BENCH_OUT:-out/bench-p1-val}
ks=${KS:-1 2 5 10}
algos=${ALGOS:-reptile fedavg}
val=${VAL:-sports home}
exclude=${EXCLUDE:-toys}
ft_grid=${FT_GRID:-0:0.003 10:0.003 20:0.003 40:0.003 80:0.003 40:0.001 40:0.01}
local_grid=${LOCAL_GRID:-100:0.003 200:0.003 400:0.003 100:0.01 200:0.01 400:0.01}
hists=${HIST:-auto full}
for v in $val; do
  case " $exclude " in *" $v "*) echo "p1_synthetic_val: $v is both validation and test" >&2; exit 2 ;; esac
done
mkdir -p "$out"
rows="$out/rows.csv"
echo "method,seed,platform,k,hist,steps,lr,ndcg10" > "$rows"
heldout=$(echo $val $exclude | tr ' ' ,)
for seed in $seeds; do
  for algo in $algos; do
    m="$out/$algo-$seed"
    "$here/../cluster/mpirun.sh" 3 "$bin" train --algo "$algo" --seed "$seed" --heldout "$heldout" --eval-every 0 \
      --local-steps 0 --verbose 0 --out "$m" ${FEDMETA_FLAGS:-} < /dev/null > /dev/null 2>&1
    rm -f "$m/heldout.csv" # it names the test industry too: not looked at
    for v in $val; do for k in $ks; do
      hs=auto; [ "$k" = 1 ] && hs=$hists
      for h in $hs; do for g in $ft_grid; do
        r=$("$bin" eval --model "$m/meta-model.pb" --platform "$v" --kshot "$k" --seed "$seed" --ft-steps "${g%%:*}" \
              --ft-lr "${g##*:}" --local-steps 0 --ft-history "$h" --verbose 0 ${FEDMETA_FLAGS:-} | awk '$1 ~ /\+ft$/ { print $2 }')
        echo "$algo+ft,$seed,$v,$k,$h,${g%%:*},${g##*:},$r" >> "$rows"
      done; done
      if [ "$algo" = "${algos%% *}" ]; then
        for h in $hs; do for g in $local_grid; do
          r=$("$bin" eval --model "$m/meta-model.pb" --platform "$v" --kshot "$k" --seed "$seed" --ft-steps 0 \
                --ft-lr "${g##*:}" --local-steps "${g%%:*}" --ft-history "$h" --verbose 0 ${FEDMETA_FLAGS:-} |
              awk '$1 == "local-only" { l = $2 } $1 == "popularity" { p = $2 } END { print l "," p }')
          echo "local-only,$seed,$v,$k,$h,${g%%:*},${g##*:},${r%%,*}" >> "$rows"
          [ "$g" = "${local_grid%% *}" ] && [ "$h" = auto ] && echo "popularity,$seed,$v,$k,auto,0,0,${r##*,}" >> "$rows"
        done; done
      fi
    done; done
  done
done
echo "validation industries: $val (test industry $exclude held out, never scored); seeds: $seeds; date: $(date -u +%F)"
awk -F, 'NR > 1 { key = $1 "," $4 "," $5 "," $6 "x" $7; s[key] += $8; n[key]++ }
  END { for (key in s) printf "%s,%.4f,%d\n", key, s[key] / n[key], n[key] }' "$rows" |
  sort -t, -k1,1 -k2,2n -k3,3 -k5,5r | awk -F, 'BEGIN { print "method K history steps x lr   mean NDCG@10 (n)" }
    { printf "%-12s %3s %-5s %-10s %.4f (%d)\n", $1, $2, $3, $4, $5, $6 }'
