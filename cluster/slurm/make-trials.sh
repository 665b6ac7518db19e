#!/bin/bash
# cluster/slurm/make-trials.sh: write a trial list for sweep.sbatch, one line of
# `fedmeta train` arguments per trial, sampled from the same space and with the
# same per-(seed, trial) choice as bench/sweep.sh, so trial t of seed s trains the
# same settings here and there.
#
#   usage: make-trials.sh [--algo A] [--trials N] [--seed S] [--rounds R] [-- FIXED ARGS...] > trials.txt
#   e.g.   make-trials.sh --algo reptile --trials 16 --seed 1 --rounds 60 -- \
#              --data /shared/ciao --heldout c8,c24,c3,c6 > trials.txt
#
# Defaults: reptile, 4 trials, seed 1, 60 rounds. FIXED ARGS (data, held-out
# industries, model shape, ...) end every line. Space and choice: bench/search-space.sh
# (sourced by both scripts):
#   inner-lr    {0.001, 0.003, 0.01}
#   inner-steps reptile/fedavg {10, 20, 40}; fomaml {5, 10, 20}; central {20, 100, 300}
#   outer-lr    reptile {0.5, 1}; fomaml {0.03, 0.1, 0.3}; fedavg/central 1
# Every line also has --eval-every 0 (evaluate once, at the end) --local-steps 0.
# Lines are plain words separated by spaces (no quoting); # starts a comment line.
set -euo pipefail
algo=reptile trials=4 seed=1 rounds=60
while [ $# -gt 0 ]; do
  case $1 in
    --algo) algo=$2; shift 2 ;;
    --trials) trials=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) awk 'NR > 1 { if (!/^#/) exit; sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "make-trials.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $algo in reptile|fedavg|fomaml|central) ;; *) echo "make-trials.sh: --algo $algo: reptile|fedavg|fomaml|central" >&2; exit 2 ;; esac

# pick, sample_trial: bench/sweep.sh's space and per-(seed, trial) choice
. "$(cd "$(dirname "$0")" && pwd)/../../bench/search-space.sh"
echo "# fedmeta sweep: algo $algo, seed $seed, $trials trials, $rounds rounds (cluster/slurm/make-trials.sh)"
for t in $(seq 1 "$trials"); do
  sample_trial "$algo" "$seed" "$t"
  echo "--algo $algo --seed $seed --rounds $rounds --inner-lr $ilr --inner-steps $ist --outer-lr $olr --eval-every 0 --local-steps 0${*:+ $*}"
done
