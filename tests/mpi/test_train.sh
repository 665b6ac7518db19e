#!/bin/bash
# tests/mpi/test_train.sh: a few federated rounds over MPI; the training loss
# falls; outputs exist; the same seed gives a byte-identical meta-model, also
# with a different number of worker ranks.
source "$(dirname "$0")/common.sh"

run 3 train $SMALL --rounds 12 --inner-steps 10 --eval-every 6 --seed 5 --out "$TMP/a"
for f in meta-model.pb metrics.jsonl heldout.csv config.txt; do
  [ -s "$TMP/a/$f" ] || fail "missing $f"
done
[ "$(wc -l < "$TMP/a/metrics.jsonl")" = 12 ] || fail "metrics.jsonl should have 12 lines"
first=$(head -1 "$TMP/a/metrics.jsonl" | sed 's/.*"loss":\([0-9.]*\).*/\1/')
last=$(tail -1 "$TMP/a/metrics.jsonl" | sed 's/.*"loss":\([0-9.]*\).*/\1/')
echo "loss first round $first, last round $last"
# With the popularity prior (the default) the first round already starts from
# the popularity ranking: the loss falls, but less; without it the towers alone
# must bring it down by 10 %, and they end above the run with the prior.
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 0.995 * a) }' || fail "loss did not fall: $first -> $last"
run 3 train $SMALL --rounds 12 --inner-steps 10 --eval-every 0 --seed 5 --pop-prior off --out "$TMP/np"
first_np=$(head -1 "$TMP/np/metrics.jsonl" | sed 's/.*"loss":\([0-9.]*\).*/\1/')
last_np=$(tail -1 "$TMP/np/metrics.jsonl" | sed 's/.*"loss":\([0-9.]*\).*/\1/')
echo "without the prior: loss first round $first_np, last round $last_np"
awk -v a="$first_np" -v b="$last_np" 'BEGIN { exit !(b < 0.9 * a) }' || fail "--pop-prior off: loss did not fall: $first_np -> $last_np"
# compared on training loss, both count a training example's own interaction
# (--pop-loo off; with it on, the default, the prior's input leaves it out and
# its training loss is not comparable with that of towers that see it)
run 3 train $SMALL --rounds 12 --inner-steps 10 --eval-every 0 --seed 5 --pop-loo off --out "$TMP/pl"
last_pl=$(tail -1 "$TMP/pl/metrics.jsonl" | sed 's/.*"loss":\([0-9.]*\).*/\1/')
awk -v a="$last_pl" -v b="$last_np" 'BEGIN { exit !(a < b) }' || fail "the prior's final loss $last_pl is not below $last_np without it"
grep -q '"heldout":{' "$TMP/a/metrics.jsonl" || fail "no held-out evaluation recorded"
grep -q 'local-only' "$TMP/a/heldout.csv" || fail "heldout.csv lacks the local-only baseline"

# determinism: same seed, same ranks -> identical bytes
run 3 train $SMALL --rounds 12 --inner-steps 10 --eval-every 6 --seed 5 --out "$TMP/b"
cmp "$TMP/a/meta-model.pb" "$TMP/b/meta-model.pb" || fail "two runs with the same seed differ"
# ... and with a different number of worker ranks (platform placement changes)
run 4 train $SMALL --rounds 12 --inner-steps 10 --eval-every 6 --seed 5 --out "$TMP/c"
cmp "$TMP/a/meta-model.pb" "$TMP/c/meta-model.pb" || fail "2 and 3 worker ranks give different models"
# sparse deltas (only the E rows a platform touched, and the dense part) give
# the same bytes as dense ones (FEDMETA_DENSE_DELTAS=1: all d words, as before)
FEDMETA_DENSE_DELTAS=1 run 3 train $SMALL --rounds 12 --inner-steps 10 --eval-every 6 --seed 5 --out "$TMP/dense"
cmp "$TMP/a/meta-model.pb" "$TMP/dense/meta-model.pb" || fail "dense and sparse deltas give different models"
# ... also with SGD inside, fedavg weights, and the median (sparse deltas expanded)
for v in 0 1; do
  FEDMETA_DENSE_DELTAS=$v run 3 train $SMALL --rounds 3 --inner-steps 5 --inner-opt sgd --seed 5 --out "$TMP/sgd$v"
  FEDMETA_DENSE_DELTAS=$v run 3 train $SMALL --algo fedavg --aggregate median --rounds 3 --inner-steps 5 --seed 5 --out "$TMP/med$v"
done
cmp "$TMP/sgd0/meta-model.pb" "$TMP/sgd1/meta-model.pb" || fail "--inner-opt sgd: dense and sparse deltas differ"
cmp "$TMP/med0/meta-model.pb" "$TMP/med1/meta-model.pb" || fail "--aggregate median: dense and sparse deltas differ"

# a different seed gives a different model
run 3 train $SMALL --rounds 2 --inner-steps 5 --seed 6 --out "$TMP/d"
run 3 train $SMALL --rounds 2 --inner-steps 5 --seed 7 --out "$TMP/e"
! cmp -s "$TMP/d/meta-model.pb" "$TMP/e/meta-model.pb" || fail "different seeds give the same model"

# every algorithm runs
for algo in fedavg fomaml local; do
  run 3 train $SMALL --algo $algo --rounds 3 --inner-steps 5 --out "$TMP/$algo" || fail "--algo $algo failed"
  [ -s "$TMP/$algo/heldout.csv" ] || fail "--algo $algo wrote no heldout.csv"
done

# the co-occurrence term (--spectral): same bytes on 2 and 3 worker ranks, the
# filter gamma is in the meta-model, and fedmeta eval rebuilds the spectrum
run 3 train $SMALL --rounds 3 --inner-steps 5 --seed 5 --out "$TMP/plain5" # the same run without the extra terms
run 3 train $SMALL --spectral 4 --rounds 3 --inner-steps 5 --seed 5 --out "$TMP/s3"
run 4 train $SMALL --spectral 4 --rounds 3 --inner-steps 5 --seed 5 --out "$TMP/s4"
cmp "$TMP/s3/meta-model.pb" "$TMP/s4/meta-model.pb" || fail "--spectral: 2 and 3 worker ranks give different models"
! cmp -s "$TMP/s3/meta-model.pb" "$TMP/plain5/meta-model.pb" || fail "--spectral changed nothing"
"$BIN" eval --model "$TMP/s3/meta-model.pb" $SMALL --ft-steps 5 --local-steps 0 > "$TMP/eval-s.txt"
grep -q '"platform":"' "$TMP/eval-s.txt" || fail "fedmeta eval of a --spectral model printed no result"

# the time term (--time-lags): the same, and eval rebuilds the bins from the file's width
run 3 train $SMALL --time-lags 4 --time-bin-days 30 --rounds 3 --inner-steps 5 --seed 5 --out "$TMP/t3"
run 4 train $SMALL --time-lags 4 --time-bin-days 30 --rounds 3 --inner-steps 5 --seed 5 --out "$TMP/t4"
cmp "$TMP/t3/meta-model.pb" "$TMP/t4/meta-model.pb" || fail "--time-lags: 2 and 3 worker ranks give different models"
! cmp -s "$TMP/t3/meta-model.pb" "$TMP/plain5/meta-model.pb" || fail "--time-lags changed nothing"
"$BIN" eval --model "$TMP/t3/meta-model.pb" $SMALL --ft-steps 5 --local-steps 0 > "$TMP/eval-t.txt"
grep -q '"platform":"' "$TMP/eval-t.txt" || fail "fedmeta eval of a --time-lags model printed no result"

# a term weighted by one meta-learned scalar: FLAG (e.g. "--attr on") with
# WITH (other terms beside it) gives the same bytes on 2 and 3 worker ranks;
# alone, without towers or prior, its VIEW moves from 0 in 3 rounds; eval
# scores with it.   check_scalar_term TAG VIEW "FLAG" "WITH"
check_scalar_term() {
  local tag=$1 view=$2 flag=$3 with=$4 v
  run 3 train $SMALL $flag $with --rounds 3 --inner-steps 5 --seed 5 --out "$TMP/$tag-3"
  run 4 train $SMALL $flag $with --rounds 3 --inner-steps 5 --seed 5 --out "$TMP/$tag-4"
  cmp "$TMP/$tag-3/meta-model.pb" "$TMP/$tag-4/meta-model.pb" || fail "$flag: 2 and 3 worker ranks give different models"
  run 3 train $SMALL $flag --towers off --pop-prior off --rounds 3 --inner-steps 5 --seed 5 --out "$TMP/$tag-alone"
  if command -v python3 > /dev/null; then
    v=$(python3 "$(dirname "$0")/../../bench/ckview.py" "$TMP/$tag-alone/meta-model.pb" | awk -v n="$view" '$1 == n { print $2 }')
    echo "$view after 3 rounds, $flag alone: $v"
    awk -v a="$v" 'BEGIN { exit !(a != "" && a + 0 != 0) }' || fail "$flag: $view did not move from 0 ($v)"
  fi
  "$BIN" eval --model "$TMP/$tag-alone/meta-model.pb" $SMALL --ft-steps 5 --local-steps 5 > "$TMP/eval-$tag.txt"
  grep -q '"platform":"' "$TMP/eval-$tag.txt" || fail "fedmeta eval of a $flag model printed no result"
}
# the attribute term (the market's items have styles, price bands...), the EASE and the transition terms
check_scalar_term attr alpha "--attr on" ""
check_scalar_term ease eta "--ease 20" "--attr on"
check_scalar_term trans kappa "--trans on" "--ease 20"

# fedmeta eval reads the meta-model and adapts to the held-out industry
# (no --platform: the market's default held-out industry)
"$BIN" eval --model "$TMP/a/meta-model.pb" $SMALL --ft-steps 5 --local-steps 5 --boot 200 > "$TMP/eval.txt"
grep -q '"platform":"' "$TMP/eval.txt" || fail "fedmeta eval printed no result"
# with the user-level bootstrap intervals, paired against popularity and local-only
grep -q '^paired .* vs local-only: .*\[' "$TMP/eval.txt" || fail "fedmeta eval printed no paired interval"
grep -q '"vs_popularity":{"rel":' "$TMP/eval.txt" && grep -q '"vs_local_only":{"rel":' "$TMP/eval.txt" ||
  fail "fedmeta eval's JSON line has no paired intervals"
# --write-topn: the adapted model's best items per query user, one line per (user,
# rank), ranks 1..N in order, as many users as the table says, the same file twice;
# a folder that does not exist is an error and leaves no file
"$BIN" eval --model "$TMP/a/meta-model.pb" $SMALL --ft-steps 5 --local-steps 0 --boot 0 --topn 7 \
  --write-topn "$TMP/top.tsv" > "$TMP/eval-top.txt" || fail "eval --write-topn"
"$BIN" eval --model "$TMP/a/meta-model.pb" $SMALL --ft-steps 5 --local-steps 0 --boot 0 --topn 7 \
  --write-topn "$TMP/top2.tsv" > /dev/null || fail "eval --write-topn (again)"
cmp -s "$TMP/top.tsv" "$TMP/top2.tsv" || fail "eval --write-topn: two runs differ"
[ ! -e "$TMP/top.tsv.tmp" ] || fail "eval --write-topn left its temporary file"
users=$(awk '$1 ~ /\+ft$/ { print $NF }' "$TMP/eval-top.txt")
awk -F'\t' -v n="$users" '/^#/ { next }
  NF != 4 || $2 != (($1 == last) ? r + 1 : 1) || $2 > 7 { bad = 1 }
  { if ($1 != last) u++; last = $1; r = $2 }
  END { exit bad || u != n || n < 1 }' "$TMP/top.tsv" || { head "$TMP/top.tsv"; fail "eval --write-topn: bad file ($users users)"; }
code=0; "$BIN" eval --model "$TMP/a/meta-model.pb" $SMALL --ft-steps 0 --local-steps 0 --boot 0 \
  --write-topn "$TMP/no/such/top.tsv" > "$TMP/top-bad.txt" 2>&1 || code=$?
[ $code != 0 ] && grep -q "no/such/top.tsv" "$TMP/top-bad.txt" && [ ! -e "$TMP/no" ] ||
  { cat "$TMP/top-bad.txt"; fail "eval --write-topn into a missing folder: exit $code"; }
# with the score terms (EASE, transitions) the top-N rows are taken in the metrics'
# own scoring pass: the metrics are those of an eval without --write-topn, and
# each user's rows are best first
"$BIN" eval --model "$TMP/trans-3/meta-model.pb" $SMALL --ft-steps 5 --local-steps 0 --boot 0 --topn 5 \
  --write-topn "$TMP/top-t.tsv" > "$TMP/eval-tt.txt" || fail "eval --write-topn of a --trans model"
"$BIN" eval --model "$TMP/trans-3/meta-model.pb" $SMALL --ft-steps 5 --local-steps 0 --boot 0 > "$TMP/eval-tn.txt" ||
  fail "eval of a --trans model"
cmp -s <(grep '^{' "$TMP/eval-tt.txt") <(grep '^{' "$TMP/eval-tn.txt") ||
  fail "eval --write-topn changed the metrics of a --trans model"
users=$(awk '$1 ~ /\+ft$/ { print $NF }' "$TMP/eval-tt.txt")
awk -F'\t' -v n="$users" '/^#/ { next }
  NF != 4 || $2 != (($1 == last) ? r + 1 : 1) || ($1 == last && $4 + 0 > s + 0) { bad = 1 }
  { if ($1 != last) u++; last = $1; r = $2; s = $4 }
  END { exit bad || u != n || n < 1 }' "$TMP/top-t.tsv" || { head "$TMP/top-t.tsv"; fail "eval --write-topn of a --trans model: bad file"; }
# --model-list: several models scored on one industry, its inputs built once; each
# model's JSON line is the one --model gives (a fine-tuned copy from recommend
# --save-model tells the models apart), popularity and local-only printed once;
# a model of another shape or pop-loo is refused by name
plat=$(grep -o '"platform":"[^"]*"' "$TMP/eval.txt" | cut -d'"' -f4)
"$BIN" recommend $MARKET --batch 64 --negatives 64 --verbose 0 --platform "$plat" --model "$TMP/a/meta-model.pb" --ft-steps 3 --topn 3 \
  --out "$TMP/rec.tsv" --save-model "$TMP/a-ft.pb" > /dev/null || fail "recommend --save-model on the market"
printf '%s\n# a comment\n\n%s\n' "$TMP/a/meta-model.pb" "$TMP/a-ft.pb" > "$TMP/list.txt"
"$BIN" eval --model-list "$TMP/list.txt" $SMALL --ft-steps 2 --local-steps 2 --boot 0 > "$TMP/eval-list.txt" ||
  fail "eval --model-list"
for m in "$TMP/a/meta-model.pb" "$TMP/a-ft.pb"; do
  want=$("$BIN" eval --model "$m" $SMALL --ft-steps 2 --local-steps 2 --boot 0 | grep '^{')
  got=$(grep -F "\"model_file\":\"$m\"" "$TMP/eval-list.txt" | sed 's/,"model_file":"[^"]*"//')
  [ -n "$want" ] && [ "$want" = "$got" ] || fail "eval --model-list: $m gives $got, --model gives $want"
done
[ "$(grep -c '^local-only' "$TMP/eval-list.txt")" = 1 ] && [ "$(grep -c '^{' "$TMP/eval-list.txt")" = 2 ] ||
  fail "eval --model-list: expected one local-only row and two JSON lines"
! grep -q '"model_file"' "$TMP/eval.txt" || fail "eval --model names the file in its JSON line"
printf '%s\n%s\n' "$TMP/a/meta-model.pb" "$TMP/np/meta-model.pb" > "$TMP/list-bad.txt"
expect 1 "list-bad.txt:2: .*np/meta-model.pb: another shape, terms or pop-loo" "$BIN" eval --model-list "$TMP/list-bad.txt" $SMALL
printf '%s\n%s\n' "$TMP/a/meta-model.pb" "$TMP/pl/meta-model.pb" > "$TMP/list-bad.txt"
expect 1 "pl/meta-model.pb: another shape, terms or pop-loo" "$BIN" eval --model-list "$TMP/list-bad.txt" $SMALL
# every listed model is checked before any is scored: a bad third line prints no
# result; blanks around a path are trimmed
printf '  %s\t\n%s \n\n%s\n' "$TMP/a/meta-model.pb" "$TMP/a-ft.pb" "$TMP/no-such.pb" > "$TMP/list-bad.txt"
code=0; "$BIN" eval --model-list "$TMP/list-bad.txt" $SMALL --ft-steps 2 --local-steps 2 --boot 0 > "$TMP/eval-bad.txt" \
  2> "$TMP/eval-bad.err" || code=$?
[ $code = 1 ] && grep -q "list-bad.txt:4: .*no-such.pb" "$TMP/eval-bad.err" && ! grep -q '^{' "$TMP/eval-bad.txt" ||
  { cat "$TMP/eval-bad.txt" "$TMP/eval-bad.err"; fail "eval --model-list with a missing model on line 4: exit $code"; }
printf '# nothing\n\n' > "$TMP/list-empty.txt"
expect 1 "no model path in it" "$BIN" eval --model-list "$TMP/list-empty.txt" $SMALL
expect 2 "give one of them" "$BIN" eval --model-list "$TMP/list.txt" --model "$TMP/a/meta-model.pb" $SMALL
expect 2 "the top-N file is one model's" "$BIN" eval --model-list "$TMP/list.txt" --write-topn "$TMP/t.tsv" $SMALL
# a sparse new industry: --heldout-users 7 evaluates 7 users, the same 7 for a
# given seed (same output), others for another seed
all=$(grep -o '"users":[0-9]*' "$TMP/eval.txt" | cut -d: -f2)
for s in 1 2; do
  "$BIN" eval --model "$TMP/a/meta-model.pb" $SMALL --ft-steps 5 --local-steps 5 --boot 0 --heldout-users 7 --seed $s \
    > "$TMP/eval-u7-$s.txt"
done
grep -q '"users":7[,}]' "$TMP/eval-u7-1.txt" || fail "--heldout-users 7: $(tail -1 "$TMP/eval-u7-1.txt")"
[ "$all" -gt 7 ] || fail "the held-out industry has only $all users: the --heldout-users check means nothing"
"$BIN" eval --model "$TMP/a/meta-model.pb" $SMALL --ft-steps 5 --local-steps 5 --boot 0 --heldout-users 7 --seed 1 \
  | cmp -s - "$TMP/eval-u7-1.txt" || fail "--heldout-users 7 --seed 1 twice: different output"
# popularity depends only on the users kept (not on the seed's fine-tune)
pop() { grep -o '"popularity":{"ndcg10":[0-9.]*,"recall20":[0-9.]*' "$1"; }
[ "$(pop "$TMP/eval-u7-1.txt")" != "$(pop "$TMP/eval-u7-2.txt")" ] ||
  fail "--heldout-users 7: seeds 1 and 2 kept users with the same popularity figures"
# --verbose 2: the term weights each method ends with. Without fine-tune steps
# the model's beta is the meta-model's (as inspect prints it); after 5 steps it
# has moved from there, and local-only's from its start (1)
beta_after() { awk -v m="$1" '$1 == m && $2 ~ /^\(/ { on = 1; next } /^[^ ]/ { on = 0 } on && $1 == "beta" { print $2, $3, $4 }' "$2"; }
"$BIN" eval --model "$TMP/a/meta-model.pb" $SMALL --ft-steps 0 --local-steps 5 --boot 0 --verbose 2 > "$TMP/eval-v0.txt"
"$BIN" eval --model "$TMP/a/meta-model.pb" $SMALL --ft-steps 5 --local-steps 0 --boot 0 --verbose 2 > "$TMP/eval-v5.txt"
meta_beta=$("$BIN" inspect "$TMP/a/meta-model.pb" | awk '$1 == "beta" { print $2 }')
read -r b0 s0 s0v <<< "$(beta_after reptile+ft "$TMP/eval-v0.txt")"
read -r b5 s5 s5v <<< "$(beta_after reptile+ft "$TMP/eval-v5.txt")"
read -r bl sl slv <<< "$(beta_after local-only "$TMP/eval-v0.txt")"
[ -n "$meta_beta" ] && [ "$b0" = "$meta_beta" ] && [ "$s0v" = "$meta_beta)" ] ||
  { cat "$TMP/eval-v0.txt"; fail "eval --verbose 2, 0 steps: beta '$b0' (start '$s0v'), the meta-model's is '$meta_beta'"; }
[ "$s5v" = "$meta_beta)" ] && [ -n "$b5" ] && [ "$b5" != "$meta_beta" ] ||
  { cat "$TMP/eval-v5.txt"; fail "eval --verbose 2, 5 steps: beta '$b5' did not move from '$meta_beta'"; }
[ "$slv" = "1)" ] && [ -n "$bl" ] && [ "$bl" != 1 ] ||
  { cat "$TMP/eval-v0.txt"; fail "eval --verbose 2: local-only's beta '$bl' (start '$slv')"; }
grep -q "^term weights" "$TMP/eval.txt" && fail "eval at the default --verbose printed the term weights"
# eval's --pop-loo defaults to the model's own setting (its settings text): the
# model trained with --pop-loo off is evaluated with it off, not with the
# default, on (which also turns the towers' popularity rank token off)
ev() { "$BIN" eval --model "$1/meta-model.pb" $SMALL --ft-steps 5 --local-steps 5 --boot 0 --heldout-users 7 "${@:2}"; }
ev "$TMP/pl" > "$TMP/ev-pl.txt"
ev "$TMP/pl" --pop-loo off > "$TMP/ev-pl-off.txt"
ev "$TMP/pl" --pop-loo on > "$TMP/ev-pl-on.txt"
ev "$TMP/a" > "$TMP/ev-a.txt"
grep -q "pop-loo off (the model's)$" "$TMP/ev-pl.txt" || { cat "$TMP/ev-pl.txt"; fail "eval of a --pop-loo off model did not take its setting"; }
grep -q "pop-loo on (the model's)$" "$TMP/ev-a.txt" || { cat "$TMP/ev-a.txt"; fail "eval of a default model did not say pop-loo on"; }
grep -q "pop-loo off$" "$TMP/ev-pl-off.txt" || fail "eval --pop-loo off: header does not say so"
[ "$(tail -n +2 "$TMP/ev-pl.txt")" = "$(tail -n +2 "$TMP/ev-pl-off.txt")" ] || fail "eval with the model's pop-loo (off) differs from --pop-loo off"
[ "$(tail -n +2 "$TMP/ev-pl.txt")" != "$(tail -n +2 "$TMP/ev-pl-on.txt")" ] || fail "eval --pop-loo on and off gave the same figures"

# --spectral-basis: gamma from a few smooth coefficients; inspect prints both
run 3 train $SMALL --rounds 2 --inner-steps 5 --spectral 8 --spectral-basis 3 --eval-every 0 --seed 5 --out "$TMP/sb"
"$BIN" inspect "$TMP/sb/meta-model.pb" > "$TMP/inspect-sb.txt"
grep -q "co-occurrence (rank 8, smooth filter)" "$TMP/inspect-sb.txt" &&
  grep -q "^  gamma_c [-0-9.e]* [-0-9.e]* [-0-9.e]*   (start: 1 0 0)$" "$TMP/inspect-sb.txt" &&
  [ "$(awk '$1 == "gamma" { print NF - 1 }' "$TMP/inspect-sb.txt")" = 8 ] ||
  { cat "$TMP/inspect-sb.txt"; fail "inspect of a --spectral-basis 3 model"; }
code=0; run 3 train $SMALL --rounds 1 --spectral-basis 3 --out "$TMP/sb0" > "$TMP/sb0.txt" 2>&1 || code=$?
[ $code != 0 ] && grep -q "spectral_basis = 3 with spectral 0" "$TMP/sb0.txt" ||
  { cat "$TMP/sb0.txt"; fail "--spectral-basis without --spectral: exit $code"; }

# --user-ids: the users' global-id tokens (a hashed shared user table in E) change
# what is learned; inspect names the table; eval reads the setting from the model;
# without the towers that read them it is refused
# (with secure aggregation, which it needs: the coordinator must not see whose rows a
# platform touched)
run 3 train $SMALL --rounds 2 --inner-steps 5 --user-ids on --secagg on --eval-every 0 --seed 5 --out "$TMP/uid"
run 3 train $SMALL --rounds 2 --inner-steps 5 --secagg on --eval-every 0 --seed 5 --out "$TMP/nouid"
"$BIN" inspect "$TMP/uid/meta-model.pb" > "$TMP/inspect-uid.txt"
"$BIN" inspect "$TMP/nouid/meta-model.pb" > "$TMP/inspect-nouid.txt"
grep -q "shared user table" "$TMP/inspect-uid.txt" || { cat "$TMP/inspect-uid.txt"; fail "inspect of a --user-ids on model"; }
# the parameters differ (their digests), not only the settings stored beside them
e_uid=$(awk '$1 == "E" { print $NF }' "$TMP/inspect-uid.txt")
e_nouid=$(awk '$1 == "E" { print $NF }' "$TMP/inspect-nouid.txt")
[ -n "$e_uid" ] && [ -n "$e_nouid" ] && [ "$e_uid" != "$e_nouid" ] ||
  { cat "$TMP/inspect-uid.txt" "$TMP/inspect-nouid.txt"; fail "--user-ids on trained the same table E as off"; }
code=0; run 3 train $SMALL --rounds 1 --user-ids on --out "$TMP/uid1" > "$TMP/uid1.txt" 2>&1 || code=$?
[ $code != 0 ] && grep -q "user-ids on needs --secagg on" "$TMP/uid1.txt" ||
  { cat "$TMP/uid1.txt"; fail "--user-ids on without --secagg: exit $code"; }
"$BIN" eval $SMALL --model "$TMP/uid/meta-model.pb" --kshot 2 --ft-steps 5 --local-steps 5 --boot 0 --verbose 0 > "$TMP/ev-uid.txt" ||
  { cat "$TMP/ev-uid.txt"; fail "eval of a --user-ids on model"; }
grep -q "^reptile+ft " "$TMP/ev-uid.txt" || { cat "$TMP/ev-uid.txt"; fail "eval of a --user-ids on model: no reptile+ft row"; }
code=0; run 3 train $SMALL --rounds 1 --user-ids on --secagg on --towers off --pop-prior on --out "$TMP/uid0" > "$TMP/uid0.txt" 2>&1 || code=$?
[ $code != 0 ] && grep -q "user_ids with no_towers" "$TMP/uid0.txt" ||
  { cat "$TMP/uid0.txt"; fail "--user-ids on --towers off: exit $code"; }

# fedmeta inspect: what a meta-model holds; a bad file or no file is an error
"$BIN" inspect "$TMP/a/meta-model.pb" > "$TMP/inspect.txt" || fail "inspect failed on a trained model"
grep -q "shape: dim 16, hidden 32, buckets 4096" "$TMP/inspect.txt" || { cat "$TMP/inspect.txt"; fail "inspect: wrong shape"; }
grep -q "^  beta  *[-0-9.e]*   (start: 1)$" "$TMP/inspect.txt" || { cat "$TMP/inspect.txt"; fail "inspect: no beta"; }
code=0; "$BIN" inspect "$TMP/none.pb" 2> "$TMP/inspect.err" || code=$?
[ $code = 1 ] && grep -q "none.pb" "$TMP/inspect.err" || fail "inspect of a missing file: exit $code, $(cat "$TMP/inspect.err")"
code=0; "$BIN" inspect 2> /dev/null || code=$?
[ $code = 2 ] || fail "inspect without a file: exit $code, expected 2"
echo "test_train: ok"
