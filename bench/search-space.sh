# bench/search-space.sh: the random search's space and its deterministic
# per-(seed, trial) choice, sourced by bench/sweep.sh and
# cluster/slurm/make-trials.sh, so that trial t of seed s trains the same
# settings under both. Space (sampled uniformly, per algorithm):
#   inner-lr    {0.001, 0.003, 0.01}
#   inner-steps reptile/fedavg {10, 20, 40}; fomaml {5, 10, 20}; central {20, 100, 300}
#               (central trains ONE pooled platform per round, so it needs more steps
#               per round to see as many examples as the federated runs)
#   outer-lr    reptile {0.5, 1}; fomaml {0.03, 0.1, 0.3}; fedavg/central 1 (fixed by
#               the coordinator)

# pick SEED TRIAL NAME "v1 v2 ...": a deterministic choice per (seed, trial, name)
pick() {
  awk -v s="$1" -v t="$2" -v n="$3" -v vals="$4" 'BEGIN {
    h = s * 7919 + t * 104729; for (i = 1; i <= length(n); i++) h = (h * 31 + index("abcdefghijklmnopqrstuvwxyz-", substr(n, i, 1))) % 2147483647
    srand(h); k = split(vals, a, " "); print a[int(rand() * k) + 1] }'
}

# sample_trial ALGO SEED TRIAL: sets ilr, ist, olr (inner-lr, inner-steps,
# outer-lr) of that trial
sample_trial() {
  ilr=$(pick "$2" "$3" inner-lr "0.001 0.003 0.01")
  case $1 in
    central) ist=$(pick "$2" "$3" inner-steps "20 100 300"); olr=1 ;;
    fedavg) ist=$(pick "$2" "$3" inner-steps "10 20 40"); olr=1 ;;
    fomaml) ist=$(pick "$2" "$3" inner-steps "5 10 20"); olr=$(pick "$2" "$3" outer-lr "0.03 0.1 0.3") ;;
    *) ist=$(pick "$2" "$3" inner-steps "10 20 40"); olr=$(pick "$2" "$3" outer-lr "0.5 1") ;;
  esac
}
