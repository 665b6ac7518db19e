#!/bin/bash
# bench/secure_overhead.sh: the cost of sealing and of secure aggregation, as
# the ratio of the median training-round time to the plain round's, for 4, 8
# and 15 training platforms (the synthetic market has at most 16 industries,
# one held out) and a shared model of about 1 M parameters (buckets 2^15 x
# dim 32). Each configuration runs back to back in this one script, so the
# ratios are comparable on a shared machine.
#   usage: bench/secure_overhead.sh [path/to/fedmeta] [ranks] [rounds] [inner-steps]
set -euo pipefail
BIN=${1:-build/fedmeta}
RANKS=${2:-3}
ROUNDS=${3:-8}
INNER=${4:-20}
OUT=$(mktemp -d /tmp/fedmeta-secbench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
COMMON="--users 2000 --scale 0.5 --buckets-log2 15 --dim 32 --hidden 64 --rounds $ROUNDS --inner-steps $INNER --eval-every 0
        --ft-steps 0 --local-steps 0"
median_round() { # median round_s over rounds 2.. (round 1 warms up)
  tail -n +2 "$1" | grep -o '"round_s":[0-9.]*' | cut -d: -f2 | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
echo "# secure_overhead: $(date -u +%F), $(nproc) cores, $(lscpu | grep 'Model name' | sed 's/.*: *//'), $RANKS ranks, $INNER inner steps"
echo
echo "| platforms | shared params | plain round (s) | sealed | ratio | sealed + secagg | ratio | secagg+ k=2 | ratio |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in 4 8 15; do
  ind=$((n + 1)) # one industry is held out
  for mode in plain seal secagg plus; do
    case $mode in
      plain) flags="--seal off" ;;
      seal) flags="--seal on" ;;
      secagg) flags="--seal on --secagg on" ;;
      plus) flags="--seal on --secagg on --secagg-neighbours 2" ;;
    esac
    mpirun -n "$RANKS" --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 "$BIN" train $COMMON \
      --industries $ind $flags --verbose 1 --out "$OUT/$n-$mode" < /dev/null > "$OUT/$n-$mode.log"
  done
  params=$(grep -o '[0-9]* shared parameters' "$OUT/$n-plain.log" | cut -d' ' -f1)
  p=$(median_round "$OUT/$n-plain/metrics.jsonl")
  s=$(median_round "$OUT/$n-seal/metrics.jsonl")
  a=$(median_round "$OUT/$n-secagg/metrics.jsonl")
  k=$(median_round "$OUT/$n-plus/metrics.jsonl")
  awk -v n="$n" -v d="$params" -v p="$p" -v s="$s" -v a="$a" -v k="$k" 'BEGIN {
    printf "| %d | %d | %.3f | %.3f | %.2f | %.3f | %.2f | %.3f | %.2f |\n", n, d, p, s, s / p, a, a / p, k, k / p }'
done
