#!/bin/bash
# tests/mpi/test_resume.sh: a job killed in the middle of a round and resumed
# from its checkpoint gives a meta-model byte-identical to an uninterrupted
# run; a truncated newest checkpoint is refused and the previous one used;
# cluster/run-until-done.sh relaunches a crashed job until it completes.
source "$(dirname "$0")/common.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ARGS="$SMALL --rounds 10 --inner-steps 8 --eval-every 5 --seed 11 --outer-opt adam --outer-lr 0.05"

run 3 train $ARGS --out "$TMP/a"
[ -s "$TMP/a/checkpoint.fmck" ] || fail "no checkpoint written"

# 1. kill -9 every process of the job in the middle of round 5: platform 1
#    sleeps 60 s in it (--inject-stall changes no result), so the kill always
#    lands mid-round, however loaded the machine
( run 3 train $ARGS --inject-stall 1:5:60 --out "$TMP/b" > "$TMP/b.log" 2>&1 ) &
bg=$!
for _ in $(seq 1 1200); do
  [ -s "$TMP/b/metrics.jsonl" ] && [ "$(wc -l < "$TMP/b/metrics.jsonl")" -ge 4 ] && break
  sleep 0.05
done
sleep 0.5
pkill -9 -f -- "--out $TMP/b" || true
wait $bg || true
done_rounds=$(wc -l < "$TMP/b/metrics.jsonl")
echo "killed after $done_rounds recorded rounds"
[ "$done_rounds" = 4 ] || fail "expected the kill in round 5, after 4 recorded rounds (got $done_rounds)"
[ -s "$TMP/b/checkpoint.fmck" ] || [ -s "$TMP/b/checkpoint.fmck.prev" ] || fail "no checkpoint before the kill"
# the newest checkpoint is damaged: resume must refuse it and use the previous one
if [ -s "$TMP/b/checkpoint.fmck" ] && [ -s "$TMP/b/checkpoint.fmck.prev" ]; then
  truncate -s 100 "$TMP/b/checkpoint.fmck"
  run 3 train --resume "$TMP/b" --inject-stall "" 2> "$TMP/resume.err" > /dev/null || { cat "$TMP/resume.err"; fail "resume failed"; }
  grep -q "truncated" "$TMP/resume.err" || fail "the truncated checkpoint was not reported"
  grep -q "previous checkpoint" "$TMP/resume.err" || fail "the previous checkpoint was not used"
else
  run 3 train --resume "$TMP/b" --inject-stall "" > /dev/null
fi
cmp "$TMP/a/meta-model.pb" "$TMP/b/meta-model.pb" || fail "killed + resumed run differs from the uninterrupted one"
[ "$(wc -l < "$TMP/b/metrics.jsonl")" = 10 ] || fail "metrics.jsonl of the resumed run should have 10 lines"
# resuming a complete run does nothing
run 3 train --resume "$TMP/b" --verbose 1 | grep -q "already complete" || fail "a complete run was not recognised"

# 2. settings that change results are refused on resume
cp -r "$TMP/b" "$TMP/b2"
if run 3 train --resume "$TMP/b2" --inner-lr 0.01 2> "$TMP/mismatch.err" > /dev/null; then
  fail "resume with another --inner-lr was accepted"
fi
grep -q "inner-lr" "$TMP/mismatch.err" || fail "the differing setting was not named"

# 3. the relaunch wrapper: the coordinator dies in round 4 of the first launch
bash "$ROOT/cluster/run-until-done.sh" --pause 0 "$TMP/c" -- \
  timeout 300 "$MPIEXEC" -n 3 --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 \
  "$BIN" train $ARGS --inject-crash 4 --out "$TMP/c" > "$TMP/c.log" 2>&1 || { cat "$TMP/c.log"; fail "run-until-done failed"; }
grep -q "relaunching" "$TMP/c.log" || fail "the crash did not cause a relaunch"
cmp "$TMP/a/meta-model.pb" "$TMP/c/meta-model.pb" || fail "crashed + relaunched run differs from the uninterrupted one"

# 3b. platforms with private state between rounds: learning ID embeddings, and --algo local
for extra in "--local-lr 0.01" "--algo local"; do
  tag=$(echo "$extra" | tr -dc 'a-z')
  run 3 train $ARGS $extra --out "$TMP/u$tag" > /dev/null
  bash "$ROOT/cluster/run-until-done.sh" --pause 0 "$TMP/k$tag" -- \
    timeout 300 "$MPIEXEC" -n 3 --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 \
    "$BIN" train $ARGS $extra --inject-crash 7 --out "$TMP/k$tag" > "$TMP/k$tag.log" 2>&1 ||
    { cat "$TMP/k$tag.log"; fail "run-until-done failed with $extra"; }
  ls "$TMP/k$tag/local/"*.fmls > /dev/null 2>&1 || fail "no local state saved with $extra"
  cmp "$TMP/u$tag/meta-model.pb" "$TMP/k$tag/meta-model.pb" || fail "resumed run differs with $extra"
  # the local state shows in the evaluation of the training platforms
  diff <(grep -o '"valid":{[^}]*}' "$TMP/u$tag/metrics.jsonl") <(grep -o '"valid":{[^}]*}' "$TMP/k$tag/metrics.jsonl") ||
    fail "resumed run evaluates differently with $extra"
done

# 4. a damaged checkpoint with no good predecessor is refused with the cause
mkdir -p "$TMP/d"
cp "$TMP/a/config.txt" "$TMP/d/"
printf 'FMCKPT\0\1garbage' > "$TMP/d/checkpoint.fmck"
if run 3 train --resume "$TMP/d" 2> "$TMP/d.err" > /dev/null; then fail "a garbage checkpoint was accepted"; fi
grep -q "no usable checkpoint" "$TMP/d.err" || { cat "$TMP/d.err"; fail "unclear error for a garbage checkpoint"; }
echo "test_resume: ok"
