#!/bin/bash
# tests/mpi/test_baselines.sh: fedmeta baselines end to end on a small
# synthetic market written by fedmeta synth: the CSV's shape, K = 1 ItemKNN
# and EASE equal to popularity (one support item: every score is 0 and the
# popularity tie-break decides, as in the reference table), reproducible
# output, --out rules, and bad input. No MPI ranks needed: one process.
source "$(dirname "$0")/common.sh"

BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN") # absolute: the test changes folder
"$BIN" synth $MARKET --out "$TMP/m" > /dev/null
cd "$TMP" # a default --out must not create anything here

"$BIN" baselines --data "$TMP/m" --heldout home --ks 1,3 --boot 200 --out "$TMP/b.csv" \
  > "$TMP/table.txt" 2> "$TMP/progress.txt" || { cat "$TMP/progress.txt"; fail "baselines failed"; }
[ -s "$TMP/b.csv" ] || fail "no CSV written"
[ ! -e "$TMP/b.csv.tmp" ] || fail "temporary CSV left behind"
head -1 "$TMP/b.csv" | grep -qx 'industry,k,method,users,items,ndcg10,recall20,hr10,mrr,ndcg10_lo,ndcg10_hi,status,note' \
  || fail "CSV header: $(head -1 "$TMP/b.csv")"
[ "$(wc -l < "$TMP/b.csv")" = 9 ] || fail "expected 1 + 2 K x 4 methods lines, got $(wc -l < "$TMP/b.csv")"
# every row: 13 fields, home, computed, metrics in [0, 1], interval around the mean
awk -F, 'NR > 1 {
    if (NF != 13) { print "fields: " $0; bad = 1 }
    if ($1 != "home" || $12 != "ok" || $4 < 1 || $5 < 1) { print "row: " $0; bad = 1 }
    for (i = 6; i <= 11; i++) if ($i < 0 || $i > 1) { print "range: " $0; bad = 1 }
    if ($10 > $6 || $11 < $6) { print "interval: " $0; bad = 1 }
  } END { exit bad }' "$TMP/b.csv" || fail "bad CSV rows"
[ "$(cut -d, -f2,3 "$TMP/b.csv" | tail -n +2 | tr '\n' ' ')" = \
  "1,popularity 1,itemknn 1,ease 1,ease-pooled 3,popularity 3,itemknn 3,ease 3,ease-pooled " ] \
  || fail "rows not in (K, method) order"
# K = 1: ItemKNN and EASE give popularity's numbers (all metric columns and users)
pop=$(awk -F, '$2 == 1 && $3 == "popularity" { print $4, $6, $7, $8, $9, $10, $11 }' "$TMP/b.csv")
for m in itemknn ease; do
  got=$(awk -F, -v m=$m '$2 == 1 && $3 == m { print $4, $6, $7, $8, $9, $10, $11 }' "$TMP/b.csv")
  [ "$got" = "$pop" ] || fail "K=1 $m ($got) differs from popularity ($pop)"
done
# fewer users have K + 1 = 4 interactions than 2
u1=$(awk -F, '$2 == 1 && $3 == "popularity" { print $4 }' "$TMP/b.csv")
u3=$(awk -F, '$2 == 3 && $3 == "popularity" { print $4 }' "$TMP/b.csv")
[ "$u3" -lt "$u1" ] || fail "users K=3 ($u3) not below K=1 ($u1)"
grep -q "home, K = 1: $u1 query users" "$TMP/table.txt" || fail "table lacks the K=1 header"
grep -q "^| home | 3 | $u3 |" "$TMP/table.txt" || fail "table lacks the summary row"
grep -q "ease-pooled" "$TMP/progress.txt" || fail "no progress on stderr"

# same settings, same bytes; --out naming a folder writes FOLDER/p1-baselines.csv
mkdir "$TMP/dir"
"$BIN" baselines --data "$TMP/m" --heldout home --ks 1,3 --boot 200 --out "$TMP/dir" --verbose 0 > /dev/null
cmp -s "$TMP/b.csv" "$TMP/dir/p1-baselines.csv" || fail "second run differs (or no FOLDER/p1-baselines.csv)"
# without --out: print only; several industries in the order given; --no-pooled
"$BIN" baselines --data "$TMP/m" --heldout food,home,food --ks 2 --boot 0 --no-pooled --verbose 0 > "$TMP/t2.txt"
[ ! -e "$TMP/out" ] || fail "a CSV or folder was written without --out"
[ "$(grep -c '^| ' "$TMP/t2.txt")" = 3 ] || fail "expected a header and 2 summary rows: $(cat "$TMP/t2.txt")"
grep -A1 '^|---' "$TMP/t2.txt" | grep -q '^| food | 2 |' || fail "industries not in the order given"
grep -q "ease-pooled  not asked for" "$TMP/t2.txt" || fail "--no-pooled not reported"
"$BIN" baselines --help | grep -q "exit codes" || fail "--help lacks the exit codes"
# a sparse new industry: --heldout-users 9 keeps 9 of home's users at every K
"$BIN" baselines --data "$TMP/m" --heldout home --ks 1,3 --boot 0 --no-pooled --heldout-users 9 --out "$TMP/u9.csv" \
  --verbose 0 > /dev/null
[ "$(awk -F, 'NR > 1 && $12 == "ok" { print $4 }' "$TMP/u9.csv" | sort -u)" = 9 ] ||
  fail "--heldout-users 9: users column $(awk -F, 'NR > 1 { print $4 }' "$TMP/u9.csv" | paste -sd' ')"

# bad input: one line on stderr, exit 2 for usage, 1 for data
expect 2 "--data DIR is required" "$BIN" baselines --heldout home
expect 2 "--heldout NAMES is required" "$BIN" baselines --data "$TMP/m"
expect 2 "no industry called 'nosuch'" "$BIN" baselines --data "$TMP/m" --heldout nosuch
expect 2 "out of range" "$BIN" baselines --data "$TMP/m" --heldout home --ks 0
expect 2 "given twice" "$BIN" baselines --data "$TMP/m" --heldout home --ks 1,1
expect 2 "not a positive integer" "$BIN" baselines --data "$TMP/m" --heldout home --ks 1,x
expect 2 "out of range" "$BIN" baselines --data "$TMP/m" --heldout home --ease-lambda 0
expect 1 "manifest" "$BIN" baselines --data "$TMP/nothing" --heldout home
expect 1 "cannot create" "$BIN" baselines --data "$TMP/m" --heldout home --ks 1 --boot 0 \
  --out "$TMP/no/such/dir/b.csv"
echo "test_baselines: ok"
