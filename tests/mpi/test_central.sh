#!/bin/bash
# tests/mpi/test_central.sh: --algo central (the training platforms pooled into
# one, the privacy-free reference) runs on the synthetic market, writes a
# central+ft row for the held-out industry, is deterministic (also with another
# number of worker ranks), works on a data folder, and refuses to pool nothing.
source "$(dirname "$0")/common.sh"

run 3 train $SMALL --algo central --rounds 6 --inner-steps 10 --eval-every 3 --seed 5 --out "$TMP/a"
for f in meta-model.pb metrics.jsonl heldout.csv config.txt; do
  [ -s "$TMP/a/$f" ] || fail "missing $f"
done
grep -q '^[a-z-]*,5,central+ft,' "$TMP/a/heldout.csv" || fail "heldout.csv lacks a central+ft row: $(cat "$TMP/a/heldout.csv")"
grep -q ',local-only,' "$TMP/a/heldout.csv" || fail "heldout.csv lacks the local-only row"
[ "$(wc -l < "$TMP/a/metrics.jsonl")" = 6 ] || fail "metrics.jsonl should have 6 lines"
grep -q '^algo = central' "$TMP/a/config.txt" || fail "config.txt does not record algo = central"

# deterministic: same seed -> identical bytes, with 2 and 3 worker ranks
run 3 train $SMALL --algo central --rounds 6 --inner-steps 10 --eval-every 3 --seed 5 --out "$TMP/b"
cmp "$TMP/a/meta-model.pb" "$TMP/b/meta-model.pb" || fail "two central runs with the same seed differ"
cmp "$TMP/a/heldout.csv" "$TMP/b/heldout.csv" || fail "two central runs give different held-out figures"
run 4 train $SMALL --algo central --rounds 6 --inner-steps 10 --eval-every 3 --seed 5 --out "$TMP/c"
cmp "$TMP/a/meta-model.pb" "$TMP/c/meta-model.pb" || fail "central: 2 and 3 worker ranks give different models"

# a data folder with two held-out industries named on the command line
"$BIN" synth $MARKET --verbose 0 --out "$TMP/market" > /dev/null
names=$(awk 'NR > 1 && !/^#/ { print $2 }' "$TMP/market/manifest.txt")
h1=$(echo "$names" | sed -n 2p); h2=$(echo "$names" | sed -n 4p)
run 3 train $SMALL --data "$TMP/market" --heldout "$h1,$h2" --algo central --rounds 3 --inner-steps 5 \
  --out "$TMP/d" > "$TMP/d.log"
for h in "$h1" "$h2"; do
  grep -q "^$h,5,central+ft," "$TMP/d/heldout.csv" || fail "--data: no central+ft row for $h"
done
! grep -q '^pooled,' "$TMP/d/heldout.csv" || fail "the pooled platform must not appear as held out"

# every industry held out: a clear error, non-zero exit
all=$(echo "$names" | paste -sd, -)
if run 3 train $SMALL --data "$TMP/market" --heldout "$all" --algo central --rounds 1 --out "$TMP/e" \
     > "$TMP/e.log" 2>&1; then
  fail "central with every industry held out should fail"
fi
grep -q "nothing to pool" "$TMP/e.log" || fail "no clear error: $(cat "$TMP/e.log")"
echo "test_central: ok"
