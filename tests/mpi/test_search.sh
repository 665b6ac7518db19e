#!/bin/bash
# tests/mpi/test_search.sh: the federated start search (`train --search-k`,
# common/search.h). Each candidate's figure in search.csv is the mean NDCG@10
# over the training platforms' query users that `fedmeta eval --ft-steps 0`
# gives the same model on the same K-shot splits; the chosen start is the best
# row; secure aggregation and another placement give the same bytes; bad
# settings are refused.
source "$(dirname "$0")/common.sh"

F="$SMALL --towers off --spectral 8 --trans on --rounds 3 --inner-steps 5 --seed 5"
GRID="gamma=0,1 kappa=0,0.5,2"
run 3 train $F --search-k 1,2 --search-grid "$GRID" --search-users 40 --search-refine 0 --out "$TMP/a"
for f in meta-model.pb search.csv meta-model-k1.pb meta-model-k2.pb; do
  [ -s "$TMP/a/$f" ] || fail "missing $f"
done
[ "$(wc -l < "$TMP/a/search.csv")" = 15 ] || { cat "$TMP/a/search.csv"; fail "search.csv: expected 1 + 2 x 7 lines"; }
grep -q '^2,0,as trained,1,up to 40,' "$TMP/a/search.csv" && grep -q '^2,6,gamma=1 kappa=2,1,' "$TMP/a/search.csv" ||
  { cat "$TMP/a/search.csv"; fail "search.csv: candidates not labelled as expected"; }

# The user-weighted mean of eval's NDCG@10 over the training platforms (the
# market's first six industries without home, the held-out one).
mean_eval() { # mean_eval MODEL K [QUERY_USERS]
  for p in beauty books electronics fashion food; do
    "$BIN" eval $MARKET --model "$1" --platform $p --kshot "$2" --query-users "${3:-40}" --seed 5 --ft-steps 0 \
      --local-steps 0 --boot 0 --verbose 0 | grep '^{'
  done | sed 's/.*"model":{"ndcg10":\([0-9.]*\).*"users":\([0-9]*\).*/\1 \2/' |
    awk '{ s += $1 * $2; n += $2 } END { if (n > 0) printf "%.6f\n", s / n }'
}
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; exit !(a != "" && b != "" && d < 2e-6 && d > -2e-6) }'; }
row() { # row K CANDIDATE [PASS [DIR]]: its mean NDCG@10 in search.csv
  awk -F, -v k="$1" -v c="$2" -v p="${3:-1}" '$1 == k && $2 == c && $4 == p { print $6 }' "${4:-$TMP/a}/search.csv"; }
as_is=$(mean_eval "$TMP/a/meta-model.pb" 2)
near "$as_is" "$(row 2 0)" || fail "search: the meta-model as trained scores $(row 2 0) at K = 2, eval gives $as_is"
# the best row (the first of equals) is the start written for K = 2, and eval agrees with its figure
best=$(awk -F, '$1 == 2 && (b == "" || $6 > b) { b = $6; c = $2 } END { print c }' "$TMP/a/search.csv")
"$BIN" inspect "$TMP/a/meta-model-k2.pb" | grep -q "note: start search: K = 2, candidate $best of 7" ||
  { "$BIN" inspect "$TMP/a/meta-model-k2.pb" | head -5; fail "meta-model-k2.pb is not candidate $best"; }
chosen=$(mean_eval "$TMP/a/meta-model-k2.pb" 2)
near "$chosen" "$(row 2 "$best")" || fail "search: candidate $best scores $(row 2 "$best"), eval of the written start $chosen"
[ "$best" != 0 ] || fail "the test means little: the meta-model as trained was the best start at K = 2"

# the same bytes under secure aggregation, and with another number of worker ranks
run 4 train $F --search-k 1,2 --search-grid "$GRID" --search-users 40 --search-refine 0 --secagg on --out "$TMP/b"
for f in search.csv meta-model-k1.pb meta-model-k2.pb; do
  cmp "$TMP/a/$f" "$TMP/b/$f" || fail "$f differs with --secagg on and 3 worker ranks"
done
# --search-refine 2: a second pass scores the meta-model and each K's 2 best of the
# first on every query user (eval without --query-users agrees) and chooses among them
run 3 train $F --search-k 1,2 --search-grid "$GRID" --search-users 40 --search-refine 2 --out "$TMP/r"
cmp "$TMP/a/meta-model.pb" "$TMP/r/meta-model.pb" || fail "--search-refine changed the trained meta-model"
want=$( (echo 0; for k in 1 2; do
  awk -F, -v k=$k '$1 == k && $4 == 1 && $2 != 0 { print $6, $2 }' "$TMP/r/search.csv" | sort -k1,1gr -k2,2n | head -2 |
    cut -d' ' -f2; done) | sort -nu | tr '\n' ' ')
got=$(awk -F, '$1 == 2 && $4 == 2 { print $2 }' "$TMP/r/search.csv" | tr '\n' ' ')
[ "$want" = "$got" ] || { cat "$TMP/r/search.csv"; fail "--search-refine 2: pass 2 scored '$got', expected '$want'"; }
near "$(mean_eval "$TMP/r/meta-model.pb" 2 0)" "$(row 2 0 2 "$TMP/r")" || fail "--search-refine: pass 2 is not on every user"
best2=$(awk -F, '$1 == 2 && $4 == 2 && (b == "" || $6 > b) { b = $6; c = $2 } END { print c }' "$TMP/r/search.csv")
"$BIN" inspect "$TMP/r/meta-model-k2.pb" | grep -q "candidate $best2 of 7 .*refinement" ||
  fail "--search-refine: meta-model-k2.pb is not pass 2's best ($best2)"
# --resume of the finished run searches its meta-model again: the same start
cp "$TMP/a/meta-model-k2.pb" "$TMP/k2.pb"
rm "$TMP/a/meta-model-k1.pb" "$TMP/a/meta-model-k2.pb"
run 3 train --resume "$TMP/a" --search-k 2 --search-grid "$GRID" --search-users 40 > /dev/null
cmp "$TMP/k2.pb" "$TMP/a/meta-model-k2.pb" || fail "--resume of a finished run: another start at K = 2"
[ ! -e "$TMP/a/meta-model-k1.pb" ] || fail "--resume --search-k 2 wrote a K = 1 start"
# the default grid: an axis per term the model has (gamma and kappa here: 4 x 4 points)
run 3 train $F --rounds 1 --search-k 2 --out "$TMP/c"
[ "$(wc -l < "$TMP/c/search.csv")" = 18 ] || fail "the default grid: expected 1 + 17 lines in search.csv"

# refusals
expect 2 "needs --towers off" run 3 train $SMALL --rounds 1 --search-k 2 --out "$TMP/x"
expect 2 "expected K values" run 3 train $F --search-k 2,x --out "$TMP/x"
expect 2 "given twice" run 3 train $F --search-k 2,2 --out "$TMP/x"
expect 2 "use --aggregate mean" run 3 train $F --search-k 2 --aggregate median --out "$TMP/x"
expect 2 "not count yet" run 3 train $F --search-k 2 --dp-noise 1 --out "$TMP/x"
expect 1 "the model has no alpha" run 3 train $F --search-k 2 --search-grid "alpha=0,1" --out "$TMP/x"
expect 1 "kappa value 'x' is not a number" run 3 train $F --search-k 2 --search-grid "kappa=0,x" --out "$TMP/x"
expect 1 "is not a term weight" run 3 train $F --search-k 2 --search-grid "beta=0,1" --out "$TMP/x"
echo "test_search: ok"
