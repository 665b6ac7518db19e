#!/bin/bash
# bench/sweep.sh: a small random search over the learning settings of one
# algorithm, scored on VALIDATION industries only, every trial appended to a CSV.
#
#   usage: bench/sweep.sh [bin] [data] [val] [algo] [trials] [seed]
#     bin    build-bench/fedmeta           data   out/ciao
#     val    c8,c24  validation industries: held out of training and scored;
#            they must be training-side industries, never the test industries
#     algo   reptile|fedavg|fomaml|central, or "local" (the local-only baseline:
#            no training, a grid over its own steps and rate)
#     trials 4 (trainings; each is scored at every fine-tune setting of FT_GRID)
#     seed   1 (training seed; trial t samples its settings from seed and t)
#   env:
#     EXCLUDE=c3,c6   also held out of training and NEVER scored or recorded:
#                     the test industries, so that they take no part in the choice
#     ROUNDS=60  KS="1 5 10"  FT_GRID="20:0.001 20:0.003 60:0.003 60:0.01 150:0.003"
#     LOCAL_GRID="100:0.003 200:0.003 200:0.01 400:0.003 400:0.01"
#     CSV=bench/results/sweep.csv (appended; header written if new)
#     OUT=out/sweep (models; not for git)   MPIRUN="cluster/mpirun.sh 3"
#     FEDMETA_FLAGS (extra flags for train and eval, e.g. --negatives 256)
#     FIXED="INNER_LR INNER_STEPS OUTER_LR": every trial trains these settings instead
#                  of sampling them (a model whose settings are not searched; trials = 1)
#     REUSE=1      a trial whose model folder already holds a meta-model is not trained
#                  again: only FT_GRID is scored on it (to add fine-tune settings to a
#                  finished sweep; its train_s is 0). The folder name does not record
#                  FIXED, ROUNDS or the data: reuse only with the sweep's own settings.
#     TRAIN_FLAGS (extra flags for train only, e.g. the model's shape: --spectral 32;
#                  trial t of a seed samples the same settings with or without them,
#                  so two sweeps into two CSVs compare them pair by pair)
#
# The space: inner-lr, inner-steps, outer-lr as in bench/search-space.sh (shared
# with cluster/slurm/make-trials.sh); ft-steps, ft-lr: every pair of FT_GRID, on
# the same trained model (fedmeta eval).
# Score: mean NDCG@10 over the validation industries and KS. One CSV row per
# (training, fine-tune setting): date, data, algo, seed, trial, val, ks, rounds,
# inner_lr, inner_steps, outer_lr, ft_steps, ft_lr, ndcg10, recall20, pop_ndcg10,
# per-industry NDCG@10 (industry@K=value;...), train seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build-bench/fedmeta}
data=${2:-out/ciao}
val=${3:-c8,c24}
algo=${4:-reptile}
trials=${5:-4}
seed=${6:-1}
exclude=${EXCLUDE:-}
rounds=${ROUNDS:-60}
ks=${KS:-1 5 10}
ft_grid=${FT_GRID:-20:0.001 20:0.003 60:0.003 60:0.01 150:0.003}
local_grid=${LOCAL_GRID:-100:0.003 200:0.003 200:0.01 400:0.003 400:0.01}
csv=${CSV:-bench/results/sweep.csv}
out=${OUT:-out/sweep}
mpirun_cmd=${MPIRUN:-$here/../cluster/mpirun.sh 3}
flags=${FEDMETA_FLAGS:-}
train_flags=${TRAIN_FLAGS:-}
mkdir -p "$out" "$(dirname "$csv")"
[ -s "$csv" ] || echo "date,data,algo,seed,trial,val,ks,rounds,inner_lr,inner_steps,outer_lr,ft_steps,ft_lr,ndcg10,recall20,pop_ndcg10,per_industry,train_s" > "$csv"
dname=$(basename "$data")
for v in ${val//,/ }; do
  case ",$exclude," in *",$v,"*) echo "sweep: $v is both a validation and an excluded (test) industry" >&2; exit 2 ;; esac
done
heldout=$val${exclude:+,$exclude}

# pick, sample_trial: the space and its per-(seed, trial) choice
. "$here/search-space.sh"

# score MODEL FT_STEPS FT_LR LOCAL_STEPS -> "ndcg recall pop per-industry" (mean over val x ks)
score() {
  local model=$1 fs=$2 fl=$3 ls=$4 row method
  [ "$ls" -gt 0 ] && method=local-only || method='+ft'
  local tot=""
  for v in ${val//,/ }; do
    for k in $ks; do
      res=$("$bin" eval --data "$data" --model "$model" --platform "$v" --kshot "$k" --seed "$seed" \
              --ft-steps "$fs" --ft-lr "$fl" --local-steps "$ls" --verbose 0 $flags)
      row=$(echo "$res" | awk -v m="$method" '($1 == m || (m == "+ft" && $1 ~ /\+ft$/)) { print $2, $3; exit }')
      pop=$(echo "$res" | awk '$1 == "popularity" { print $2; exit }')
      tot="$tot$v $k $row $pop
"
    done
  done
  printf "%s" "$tot" | awk 'NF == 5 { n++; a += $3; b += $4; c += $5; per = per (per ? ";" : "") $1 "@" $2 "=" $3 }
    END { printf "%.6f %.6f %.6f %s\n", a / n, b / n, c / n, per }'
}

date=$(date -u +%FT%TZ)
if [ "$algo" = local ]; then
  # local-only needs no meta-model, but fedmeta eval reads one for the shape:
  # a 1-round run with the same shape (its weights are not used by local-only)
  m="$out/shape-$dname"
  [ -s "$m/meta-model.pb" ] || $mpirun_cmd "$bin" train --data "$data" --heldout "$heldout" --rounds 1 \
    --eval-every 0 --local-steps 0 --verbose 0 --out "$m" $flags $train_flags < /dev/null > /dev/null
  for g in $local_grid; do
    s=${g%%:*}; l=${g##*:}
    read -r nd rc pp per <<< "$(score "$m/meta-model.pb" 0 "$l" "$s")"
    echo "$date,$dname,local,$seed,0,${val//,/;},${ks// /;},0,,,,$s,$l,$nd,$rc,$pp,$per,0" >> "$csv"
    echo "local-only steps $s lr $l: val NDCG@10 $nd (popularity $pp)"
  done
  exit 0
fi

for t in $(seq 1 "$trials"); do
  sample_trial "$algo" "$seed" "$t"
  [ -n "${FIXED:-}" ] && read -r ilr ist olr <<< "$FIXED"
  m="$out/$dname-$algo-s$seed-t$t${train_flags:+-$(echo "$train_flags" | tr -d ' -')}"
  date=$(date -u +%FT%TZ)
  t0=$(date +%s)
  if [ "${REUSE:-0}" = 1 ] && [ -s "$m/meta-model.pb" ]; then
    echo "$algo trial $t: reusing $m"
  else
    $mpirun_cmd "$bin" train --data "$data" --heldout "$heldout" --algo "$algo" --seed "$seed" --rounds "$rounds" \
      --inner-lr "$ilr" --inner-steps "$ist" --outer-lr "$olr" --eval-every 0 --local-steps 0 --verbose 0 \
      --out "$m" $flags $train_flags < /dev/null > "$m.log" 2>&1 || { echo "sweep: trial $t failed (see $m.log)" >&2; continue; }
  fi
  # the training's own summary names every held-out industry, test ones too: drop it
  rm -f "$m/heldout.csv"
  secs=$(( $(date +%s) - t0 ))
  for g in $ft_grid; do
    s=${g%%:*}; l=${g##*:}
    read -r nd rc pp per <<< "$(score "$m/meta-model.pb" "$s" "$l" 0)"
    echo "$date,$dname,$algo,$seed,$t,${val//,/;},${ks// /;},$rounds,$ilr,$ist,$olr,$s,$l,$nd,$rc,$pp,$per,$secs" >> "$csv"
    echo "$algo trial $t: inner-lr $ilr inner-steps $ist outer-lr $olr ft $s x $l: val NDCG@10 $nd (popularity $pp) [${secs}s]"
  done
done
