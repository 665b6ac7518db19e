#!/bin/bash
# tests/mpi/test_faults.sh: a stalled platform is dropped at the round
# deadline and the rounds go on (its late delta is recognised and discarded);
# too few deltas stop the run with a clear message; a platform sending a
# scaled-up delta is rejected by the norm bound; median and trimmed-mean
# aggregation run, and stay deterministic under an attack.
source "$(dirname "$0")/common.sh"
FAST="$SMALL --inner-steps 5 --ft-steps 5 --local-steps 10"

# 1. platform 1's rank sleeps 6 s in round 2; the deadline is 2 s
run 3 train $FAST --rounds 6 --eval-every 3 --round-timeout 2 --inject-stall 1:2:6 --out "$TMP/stall" \
  2> "$TMP/stall.err" || { cat "$TMP/stall.err"; fail "the run with a stalled platform failed"; }
[ "$(wc -l < "$TMP/stall/metrics.jsonl")" = 6 ] || fail "not every round was recorded"
grep -q '"dropped":[1-9]' "$TMP/stall/metrics.jsonl" || fail "no platform was dropped at the deadline"
grep -q '"dropped_platforms":\[' "$TMP/stall/metrics.jsonl" || fail "dropped platforms are not named"
grep -q '"late":[1-9]' "$TMP/stall/metrics.jsonl" || fail "the late delta was not recognised as late"
[ -s "$TMP/stall/meta-model.pb" ] || fail "no meta-model after a stalled platform"

# 2. fewer deltas than --min-platforms: a clear stop, naming the missing platforms
if run 3 train $FAST --rounds 4 --round-timeout 1 --min-platforms 5 --inject-stall 1:2:4 \
     --out "$TMP/min" 2> "$TMP/min.err" > /dev/null; then
  fail "a round with too few deltas went on"
fi
grep -q "min-platforms is 5" "$TMP/min.err" || { cat "$TMP/min.err"; fail "unclear message for too few deltas"; }

# 3. poisoning: platform 2 sends 100 x its clipped delta
run 3 train $FAST --rounds 5 --clip 1 --inject-poison 2:100 --out "$TMP/poison" 2> "$TMP/poison.err"
rej=$(grep -o '"norm_bound":[0-9]*' "$TMP/poison/metrics.jsonl" | cut -d: -f2 | paste -sd+ | bc)
[ "$rej" = 5 ] || fail "expected the poisoned delta rejected in each of 5 rounds, got ${rej:-0}"
grep -q '"deltas":4' "$TMP/poison/metrics.jsonl" || fail "the honest platforms' deltas were not aggregated"
# every outer step stays bounded (the poisoned delta never entered the sum)
python3 - "$TMP/poison/metrics.jsonl" <<'PY' || fail "the poisoned run diverged"
import json, sys, math
rows = [json.loads(l) for l in open(sys.argv[1])]
assert all(math.isfinite(r["delta_norm"]) and r["delta_norm"] < 2 for r in rows), rows
PY

# 4. robust aggregation under an in-bound attack (the platform sends minus 1 x its delta)
for agg in median trimmed; do
  run 3 train $FAST --rounds 4 --aggregate $agg --trim 0.2 --inject-poison 2:-1 --out "$TMP/$agg-3" > /dev/null
  run 4 train $FAST --rounds 4 --aggregate $agg --trim 0.2 --inject-poison 2:-1 --out "$TMP/$agg-4" > /dev/null
  cmp "$TMP/$agg-3/meta-model.pb" "$TMP/$agg-4/meta-model.pb" || fail "--aggregate $agg depends on the ranks"
  first=$(head -1 "$TMP/$agg-3/metrics.jsonl" | sed 's/.*"loss":\([0-9.]*\).*/\1/')
  last=$(tail -1 "$TMP/$agg-3/metrics.jsonl" | sed 's/.*"loss":\([0-9.]*\).*/\1/')
  awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || fail "--aggregate $agg did not learn: $first -> $last"
done
echo "test_faults: ok"
