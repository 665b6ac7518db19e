#!/bin/bash
# tests/mpi/test_scale.sh: many platforms per rank (issue 6). 64 training
# platforms (--industries 65, one held out) spread round-robin over 2 worker
# ranks (32 each) and over 8 (8 each) must give a byte-identical meta-model.pb:
# a platform's data, initialisation, sampling and local state depend on its id,
# not on the rank hosting it, and the coordinator's sum is order-free. Checked
# for reptile with per-platform local ID embeddings kept across rounds, for
# fedavg with a sampled subset of platforms per round, and for the coordinate-wise
# median (which keeps every delta instead of one accumulator).
# Tiny dimensions: 14-20 s on 2 shared cores, 25-35 s under AddressSanitizer.
source "$(dirname "$0")/common.sh"

# 2000 users: with fewer, the smallest niche platforms of a 65-industry market
# get no training interactions (join probability scaled by 16/(p+1)).
SCALE="--industries 65 --users 2000 --scale 0.1 --dim 8 --hidden 16 --buckets-log2 8 --batch 32
       --negatives 32 --inner-steps 3 --eval-every 0 --ft-steps 0 --local-steps 0 --verbose 0"

# every round of OUT/metrics.jsonl has N deltas and a non-zero delta norm
check_rounds() { # check_rounds OUT ROUNDS N
  local m="$1/metrics.jsonl"
  [ -s "$1/meta-model.pb" ] || fail "$1: no meta-model.pb"
  [ "$(wc -l < "$m")" = "$2" ] || fail "$m should have $2 lines"
  [ "$(grep -c "\"deltas\":$3," "$m")" = "$2" ] || fail "$m: not $3 deltas in every round: $(grep -o '"deltas":[0-9]*' "$m" | tr '\n' ' ')"
  ! grep -q '"delta_norm":0[,.]0*[,}]' "$m" || fail "$m: a round with a zero delta"
}

# 1. reptile, each platform keeping its own ID embeddings between rounds (--local-lr > 0)
run 3 train $SCALE --rounds 4 --local-lr 0.01 --seed 3 --out "$TMP/r2" < /dev/null
run 9 train $SCALE --rounds 4 --local-lr 0.01 --seed 3 --out "$TMP/r8" < /dev/null
check_rounds "$TMP/r2" 4 64
check_rounds "$TMP/r8" 4 64
cmp "$TMP/r2/meta-model.pb" "$TMP/r8/meta-model.pb" || fail "reptile: 64 platforms on 2 and on 8 worker ranks give different models"
grep -q '"heldout":{' "$TMP/r2/metrics.jsonl" || fail "no held-out evaluation at the end"

# 2. fedavg (example weights), 20 of the 64 platforms sampled per round
run 3 train $SCALE --algo fedavg --per-round 20 --rounds 3 --seed 4 --out "$TMP/f2" < /dev/null
run 9 train $SCALE --algo fedavg --per-round 20 --rounds 3 --seed 4 --out "$TMP/f8" < /dev/null
check_rounds "$TMP/f2" 3 20
check_rounds "$TMP/f8" 3 20
cmp "$TMP/f2/meta-model.pb" "$TMP/f8/meta-model.pb" || fail "fedavg --per-round 20: 2 and 8 worker ranks give different models"

# 3. coordinate-wise median: every delta kept, then combined in a fixed order
run 3 train $SCALE --aggregate median --rounds 3 --seed 5 --out "$TMP/m2" < /dev/null
run 9 train $SCALE --aggregate median --rounds 3 --seed 5 --out "$TMP/m8" < /dev/null
check_rounds "$TMP/m2" 3 64
check_rounds "$TMP/m8" 3 64
cmp "$TMP/m2/meta-model.pb" "$TMP/m8/meta-model.pb" || fail "--aggregate median: 2 and 8 worker ranks give different models"

# the three runs did not all collapse to one model (the comparisons above mean something)
! cmp -s "$TMP/r2/meta-model.pb" "$TMP/m2/meta-model.pb" || fail "reptile and median runs gave the same model"
echo "test_scale: ok"
