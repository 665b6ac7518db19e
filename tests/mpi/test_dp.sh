#!/bin/bash
# tests/mpi/test_dp.sh: differential privacy in a real job. The accountant's
# epsilon after 10 full-participation rounds at z = 2 is the known value
# (q = 1: RDP(alpha) = alpha / (2 z^2), converted at delta = 1e-6); the noise
# changes the model; with a test seed the noisy model is reproducible across
# rank counts and across a crash and resume; a target epsilon stops training
# early with complete outputs; per-platform statistics are not reported.
source "$(dirname "$0")/common.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FAST="$SMALL --inner-steps 5 --ft-steps 5 --local-steps 10 --eval-every 0 --clip 1"

run 3 train $FAST --rounds 10 --dp-noise 2 --dp-delta 1e-6 --dp-test-seed 7 --out "$TMP/a"
eps=$(tail -1 "$TMP/a/metrics.jsonl" | grep -o '"dp_epsilon":[0-9.e+-]*' | cut -d: -f2)
awk -v e="$eps" 'BEGIN { exit !(e > 8.8468 && e < 8.8470) }' || fail "epsilon after 10 rounds is $eps, expected 8.84687"
grep -q '"loss":0.000000' "$TMP/a/metrics.jsonl" || fail "per-platform losses are reported under DP"

run 4 train $FAST --rounds 10 --dp-noise 2 --dp-delta 1e-6 --dp-test-seed 7 --out "$TMP/b"
cmp "$TMP/a/meta-model.pb" "$TMP/b/meta-model.pb" || fail "test-seeded DP run depends on the number of ranks"
run 3 train $FAST --rounds 10 --out "$TMP/plain"
! cmp -s "$TMP/a/meta-model.pb" "$TMP/plain/meta-model.pb" || fail "the noise did not change the model"

# crash in round 4, relaunch, same model
bash "$ROOT/cluster/run-until-done.sh" --pause 0 "$TMP/c" -- \
  timeout 300 "$MPIEXEC" -n 3 --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 \
  "$BIN" train $FAST --rounds 10 --dp-noise 2 --dp-delta 1e-6 --dp-test-seed 7 --inject-crash 4 --out "$TMP/c" \
  > "$TMP/c.log" 2>&1 || { cat "$TMP/c.log"; fail "DP run did not complete after a crash"; }
cmp "$TMP/a/meta-model.pb" "$TMP/c/meta-model.pb" || fail "DP run resumed after a crash differs"

# a target epsilon ends training early, with every output written
run 3 train $FAST --rounds 50 --dp-noise 1 --dp-sample-rate 0.5 --min-platforms 2 --dp-target-epsilon 6 \
  --dp-test-seed 3 --verbose 1 --out "$TMP/t" > "$TMP/t.log"
n=$(wc -l < "$TMP/t/metrics.jsonl")
[ "$n" -lt 50 ] && [ "$n" -ge 1 ] || fail "expected an early stop, got $n rounds"
grep -q "stopping after round $n" "$TMP/t.log" || fail "the early stop was not announced"
last=$(tail -1 "$TMP/t/metrics.jsonl" | grep -o '"dp_epsilon":[0-9.e+-]*' | cut -d: -f2)
awk -v e="$last" 'BEGIN { exit !(e <= 6) }' || fail "final epsilon $last exceeds the target 6"
[ -s "$TMP/t/meta-model.pb" ] && [ -s "$TMP/t/heldout.csv" ] || fail "outputs missing after the early stop"
echo "test_dp: ok"
