#!/bin/bash
# bench/p1_real.sh: protocol P1 on real data, meta-learning rows beside the
# baselines. Ciao: held out c3 (Beauty) and c6 (Food & Drink), the other 26
# categories train, K = 1, 5, 10. Amazon P5: train on two of beauty / sports /
# toys, adapt to the third, each in turn, K = 1, 5. Methods: popularity,
# ItemKNN, EASE (fedmeta baselines, support only), local-only, fedavg+ft,
# central+ft, reptile+ft, fomaml+ft; mean ± std over the seeds of full-ranking
# NDCG@10 and Recall@20, printed as Markdown tables.
#
#   usage: bench/p1_real.sh [bin] [data-root] [seeds]
#     bin        build-bench/fedmeta
#     data-root  out   (holds ciao/ and amazon/ from fedmeta prepare; README "Data")
#     seeds      "1 2 3"
#   env:
#     SWEEP_CSV=bench/results/sweep-ciao.csv  settings per method: the trial with
#               the best validation score (bench/sweep.sh, validation industries
#               only); methods missing there use the defaults of fedmeta train
#     ROUNDS=50  OUT=out/bench-p1-real  ONLY="ciao amazon"  ALGOS="fedavg central reptile fomaml"
#     AMAZON_TEST="beauty sports toys" (the Amazon rotations to run; run one at a
#               time to give each its own SWEEP_CSV)
#     MPIRUN="cluster/mpirun.sh 3"  FEDMETA_FLAGS (extra flags for train and eval)
#     TRAIN_FLAGS (extra flags for train only, e.g. the model's shape: --spectral 32)
#     FT_PLAN="K:STEPS:LR ..." fine-tune settings per K for every +ft method, and
#     LOCAL_PLAN="K:STEPS:LR ..." local-only's per K (chosen on validation industries,
#     e.g. from a sweep's per-industry column); a K not listed uses SWEEP_CSV's
#
# One training per (data set, held-out set, algorithm, seed): the held-out
# industries never train, so one meta-model serves every K through fedmeta eval
# (which fine-tunes on the K-shot support and ranks the query, as train does).
# local-only (a model of the same shape trained from scratch on the support) and
# popularity do not depend on the meta-model: fedmeta eval with --ft-steps 0.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build-bench/fedmeta}
root=${2:-out}
seeds=${3:-1 2 3}
sweep=${SWEEP_CSV:-bench/results/sweep-ciao.csv}
rounds=${ROUNDS:-50}
out=${OUT:-out/bench-p1-real}
only=${ONLY:-ciao amazon}
algos=${ALGOS:-fedavg central reptile fomaml}
mpirun_cmd=${MPIRUN:-$here/../cluster/mpirun.sh 3}
flags=${FEDMETA_FLAGS:-}
train_flags=${TRAIN_FLAGS:-}
mkdir -p "$out"
rows="$out/rows.csv"
[ -s "$rows" ] || echo "data,industry,k,seed,method,ndcg10,recall20,users" > "$rows"
start=$(date +%s)
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'); date: $(date -u +%F); rounds: $rounds; seeds: $seeds"

# settings ALGO -> "inner_lr inner_steps outer_lr ft_steps ft_lr" (best validation trial)
settings() {
  local a=$1
  [ -s "$sweep" ] && awk -F, -v a="$a" 'NR > 1 && $3 == a && $14 > best { best = $14; s = ($9 == "" ? "- - -" : $9 " " $10 " " $11) " " $12 " " $13 }
    END { if (s != "") print s }' "$sweep"
}
declare -A S
for a in $algos local; do
  s=$(settings "$a" || true)
  if [ -z "$s" ]; then
    s="0.003 20 1 40 0.003"; [ "$a" = local ] && s="- - - 200 0.003"
    echo "settings $a: defaults ($s) - no trial in $sweep"
  else
    echo "settings $a (inner-lr inner-steps outer-lr ft-or-local-steps ft-lr, from $sweep): $s"
  fi
  S[$a]=$s
done

# plan_of PLAN K DEFAULT_STEPS DEFAULT_LR -> "steps lr" for K
plan_of() {
  local e
  for e in $1; do [ "${e%%:*}" = "$2" ] && { e=${e#*:}; echo "${e%%:*} ${e#*:}"; return; }; done
  echo "$3 $4"
}

# evalrow DATA DIR MODEL INDUSTRY K SEED METHOD FT_STEPS FT_LR LOCAL_STEPS
evalrow() {
  local data=$1 dir=$2 model=$3 ind=$4 k=$5 seed=$6 method=$7 fs=$8 fl=$9 ls=${10}
  local res
  res=$("$bin" eval --data "$dir" --model "$model" --platform "$ind" --kshot "$k" --seed "$seed" \
          --ft-steps "$fs" --ft-lr "$fl" --local-steps "$ls" --verbose 0 $flags)
  if [ "$method" = local-only ]; then
    echo "$res" | awk -v p="$data,$ind,$k,$seed" '$1 == "local-only" { print p ",local-only," $2 "," $3 "," $6 }
      $1 == "popularity" { print p ",popularity," $2 "," $3 "," $6 }' >> "$rows"
  else
    echo "$res" | awk -v p="$data,$ind,$k,$seed" -v m="$method" '$1 ~ /\+ft$/ { print p "," m "," $2 "," $3 "," $6 }' >> "$rows"
  fi
}

# run DATA DIR HELDOUT KS: trainings, then every K by fedmeta eval
run() {
  local data=$1 dir=$2 held=$3 ks=$4 tag model
  tag=$(echo "$held" | tr , -)
  for seed in $seeds; do
    for a in $algos; do
      read -r ilr ist olr fs fl <<< "${S[$a]}"
      model="$out/$data-$tag-$a-$seed"
      if ! grep -q "^$data,${held%%,*},.*,$seed,$a+ft," "$rows"; then
        # a finished training is reused (e.g. to re-evaluate after a change of the fine-tune settings)
        [ -s "$model/meta-model.pb" ] || $mpirun_cmd "$bin" train --data "$dir" --heldout "$held" --algo "$a" --seed "$seed" --rounds "$rounds" \
          --inner-lr "$ilr" --inner-steps "$ist" --outer-lr "$olr" --eval-every 0 --local-steps 0 --verbose 0 \
          --out "$model" $flags $train_flags < /dev/null > "$model.log" 2>&1 || { echo "train $a seed $seed on $data failed: $model.log" >&2; continue; }
        for ind in ${held//,/ }; do
          for k in $ks; do
            read -r kfs kfl <<< "$(plan_of "${FT_PLAN:-}" "$k" "$fs" "$fl")"
            evalrow "$data" "$dir" "$model/meta-model.pb" "$ind" "$k" "$seed" "$a+ft" "$kfs" "$kfl" 0
          done
        done
        echo "  $data held-out $held: $a seed $seed done ($(( $(date +%s) - start )) s)"
      fi
    done
    read -r _ _ _ ls ll <<< "${S[local]}"
    if ! grep -q "^$data,${held%%,*},.*,$seed,local-only," "$rows"; then
      # any meta-model of the same shape: fedmeta eval reads the shape from it
      model=$(ls -d "$out/$data-$tag"-*-"$seed" | head -1)
      for ind in ${held//,/ }; do
        for k in $ks; do
          read -r kls kll <<< "$(plan_of "${LOCAL_PLAN:-}" "$k" "$ls" "$ll")"
          evalrow "$data" "$dir" "$model/meta-model.pb" "$ind" "$k" "$seed" local-only 0 "$kll" "$kls"
        done
      done
    fi
  done
}

for data in $only; do
  dir="$root/$data"
  if [ ! -f "$dir/manifest.txt" ]; then
    echo "== $data: $dir not found; prepare it (README, section Data) with fedmeta prepare --format $data ... --out $dir"
    continue
  fi
  if [ "$data" = ciao ]; then
    echo "== Ciao: held out c3 (Beauty), c6 (Food & Drink); 26 training categories"
    [ -s "$out/baselines-ciao.csv" ] || "$bin" baselines --data "$dir" --heldout c3,c6 --ks 1,5,10 --no-pooled --boot 0 \
      --out "$out/baselines-ciao.csv" > "$out/baselines-ciao.log"
    run ciao "$dir" c3,c6 "1 5 10"
  else
    echo "== Amazon P5: each category in turn held out, the other two train"
    [ -s "$out/baselines-amazon.csv" ] || "$bin" baselines --data "$dir" --heldout beauty,sports,toys --ks 1,5 --no-pooled \
      --boot 0 --out "$out/baselines-amazon.csv" > "$out/baselines-amazon.log"
    for t in ${AMAZON_TEST:-beauty sports toys}; do run amazon "$dir" "$t" "1 5"; done
  fi
done
echo "wall: $(( $(date +%s) - start )) s"

# Tables: one row per (data, industry, K); NDCG@10 then Recall@20.
summary="$out/summary.csv"
rm -f "$summary.tmp"
for data in ciao amazon; do # every data set in OUT, also from earlier runs (ONLY=...)
  [ -s "$out/baselines-$data.csv" ] || continue
  awk -F, -v data="$data" -v algos="$algos" '
    FILENAME == ARGV[1] { if (FNR > 1 && $12 == "ok") { k = $1 "|" $2; b[k "|" $3 "|n"] = $6; b[k "|" $3 "|r"] = $7; u[k] = $4; key[k] = 1 } next }
    FNR > 1 && $1 == data { k = $2 "|" $3; m = $5; n[k "|" m]++; s[k "|" m] += $6; q[k "|" m] += $6 * $6; r[k "|" m] += $7; rq[k "|" m] += $7 * $7; key[k] = 1; if (!(k in u)) u[k] = $8 }
    function sd0(v) { return v > 0 ? sqrt(v) : 0 } # rounding can make a zero variance negative
    function cell(k, m, w,   c, mu, sd) {
      if ((k "|" m "|n") in b) return sprintf("%.4f", b[k "|" m "|" w])
      c = n[k "|" m]; if (!c) return "missing"
      if (w == "n") { mu = s[k "|" m] / c; sd = sd0(q[k "|" m] / c - mu * mu) }
      else { mu = r[k "|" m] / c; sd = sd0(rq[k "|" m] / c - mu * mu) }
      return sprintf("%.4f ± %.4f", mu, sd) (c < 3 ? " (" c " seeds)" : "")
    }
    END {
      split("popularity itemknn ease local-only", base, " "); na = split(algos, al, " ")
      nm = 0; for (i = 1; i <= 4; i++) M[++nm] = base[i]; for (i = 1; i <= na; i++) M[++nm] = al[i] "+ft"
      # popularity comes from baselines; the eval popularity rows are the same figure
      nk = 0; for (k in key) K[++nk] = k
      for (i = 1; i <= nk; i++) for (j = i + 1; j <= nk; j++) { split(K[i], x, "|"); split(K[j], y, "|")
        if (x[1] > y[1] || (x[1] == y[1] && x[2] + 0 > y[2] + 0)) { t = K[i]; K[i] = K[j]; K[j] = t } }
      for (w = 1; w <= 2; w++) {
        W = w == 1 ? "n" : "r"
        printf "\n%s, %s (mean ± std over seeds; baselines deterministic)\n\n| held-out | K | users |", data, w == 1 ? "NDCG@10" : "Recall@20"
        for (i = 1; i <= nm; i++) printf " %s |", M[i]; printf "\n|---|---|---|"; for (i = 1; i <= nm; i++) printf "---|"; printf "\n"
        for (i = 1; i <= nk; i++) { split(K[i], x, "|"); printf "| %s | %s | %s |", x[1], x[2], u[K[i]]
          for (j = 1; j <= nm; j++) printf " %s |", cell(K[i], M[j], W); printf "\n" }
      }
      for (i = 1; i <= nk; i++) for (j = 1; j <= nm; j++) { split(K[i], x, "|"); m = M[j]; kk = K[i] "|" m
        if ((kk "|n") in b) printf "%s,%s,%s,%s,%.6f,0,%.6f,0,1\n", data, x[1], x[2], m, b[kk "|n"], b[kk "|r"] > "/dev/stderr"
        else if (n[kk]) { c = n[kk]; mu = s[kk] / c; sd = sd0(q[kk] / c - mu * mu); mr = r[kk] / c; sr = sd0(rq[kk] / c - mr * mr)
          printf "%s,%s,%s,%s,%.6f,%.6f,%.6f,%.6f,%d\n", data, x[1], x[2], m, mu, sd, mr, sr, c > "/dev/stderr" } }
    }' "$out/baselines-$data.csv" "$rows" 2>> "$summary.tmp"
done
{ echo "data,industry,k,method,ndcg10_mean,ndcg10_std,recall20_mean,recall20_std,n"; cat "$summary.tmp" 2>/dev/null; } > "$summary"
rm -f "$summary.tmp"
echo
echo "summary: $summary"
