#!/bin/bash
# tests/mpi/test_security.sh: sealed channels in a real MPI job. A tampered,
# truncated, replayed or earlier-round delta, or one sent in the name of a
# platform another rank hosts, is rejected and counted, and the round goes on; sealing does not change the model; pinned identities: a
# federation of key files runs, a rank whose key is not in the keyring is
# refused at the handshake, and a key file readable by others is refused.
source "$(dirname "$0")/common.sh"
FAST="$SMALL --inner-steps 5 --ft-steps 5 --local-steps 10 --rounds 4 --eval-every 0"

count() { # count FILE KEY: sum of "KEY":N over the rounds
  grep -o "\"$2\":[0-9]*" "$1" | cut -d: -f2 | paste -sd+ | bc
}

run 3 train $FAST --round-timeout 3 --inject-wire tamper:1:2 --out "$TMP/tamper" 2> /dev/null
[ "$(count "$TMP/tamper/metrics.jsonl" auth)" = 1 ] || fail "the tampered delta was not rejected as auth"
sed -n 2p "$TMP/tamper/metrics.jsonl" | grep -q '"dropped":1' || fail "round 2 should go on without the tampered delta"

run 3 train $FAST --round-timeout 3 --inject-wire truncate:1:2 --out "$TMP/trunc" 2> /dev/null
[ "$(count "$TMP/trunc/metrics.jsonl" auth)" = 1 ] || fail "the truncated delta was not rejected"

run 3 train $FAST --inject-wire replay:1:2 --out "$TMP/replay" 2> /dev/null
[ "$(count "$TMP/replay/metrics.jsonl" replay)" = 1 ] || fail "the replayed delta was not rejected as a replay"
sed -n 2p "$TMP/replay/metrics.jsonl" | grep -q '"deltas":5' || fail "the genuine delta of the replay round was lost"

run 3 train $FAST --inject-wire stale:1:3 --out "$TMP/stale" 2> /dev/null
[ "$(count "$TMP/stale/metrics.jsonl" late)" = 1 ] || fail "an earlier round's sealed delta was not rejected"
sed -n 3p "$TMP/stale/metrics.jsonl" | grep -q '"deltas":5' || fail "the genuine delta of round 3 was lost"

# a rank sends a delta in the name of a platform another rank hosts, before that
# platform's own (authentic from the sender, but the sender does not host it;
# the platform's own delta is held back 1 s, so the spoof is always first)
run 3 train $FAST --inject-wire spoof:1:2 --inject-stall 1:2:1 --out "$TMP/spoof" 2> /dev/null
[ "$(count "$TMP/spoof/metrics.jsonl" unexpected)" = 1 ] || fail "the spoofed delta was not rejected"
sed -n 2p "$TMP/spoof/metrics.jsonl" | grep -q '"deltas":5' || fail "the genuine delta of the spoofed platform was lost"

# sealing changes nothing in the model
run 3 train $FAST --seal on --out "$TMP/on"
run 3 train $FAST --seal off --out "$TMP/off"
cmp "$TMP/on/meta-model.pb" "$TMP/off/meta-model.pb" || fail "--seal on and off give different models"
cmp "$TMP/on/meta-model.pb" "$TMP/replay/meta-model.pb" || fail "a rejected replay changed the model"
cmp "$TMP/on/meta-model.pb" "$TMP/spoof/meta-model.pb" || fail "a spoofed delta changed the model"

# pinned identities from key files
mkdir -p "$TMP/keys"
for r in 0 1 2 3; do "$BIN" keygen --out "$TMP/keys/p$r.key" >> "$TMP/keys/all.pub"; done
[ "$(stat -c %a "$TMP/keys/p0.key")" = 600 ] || fail "keygen did not write mode 0600"
grep -v "^#" "$TMP/keys/all.pub" | head -3 > "$TMP/keys/fed.keyring"   # p0 p1 p2
run 3 train $FAST --key "$TMP/keys/p{rank}.key" --keyring "$TMP/keys/fed.keyring" --out "$TMP/pinned"
cmp "$TMP/on/meta-model.pb" "$TMP/pinned/meta-model.pb" || fail "the pinned federation trained another model"
# rank 2 presents p3's key, which the keyring does not list
cp "$TMP/keys/p3.key" "$TMP/keys/q2.key"; cp "$TMP/keys/p0.key" "$TMP/keys/q0.key"; cp "$TMP/keys/p1.key" "$TMP/keys/q1.key"
if run 3 train $FAST --key "$TMP/keys/q{rank}.key" --keyring "$TMP/keys/fed.keyring" --out "$TMP/rogue" \
     2> "$TMP/rogue.err" > /dev/null; then
  fail "a rank with an unknown key was accepted"
fi
grep -q "rank 2: its signing key .* is not in the keyring" "$TMP/rogue.err" || { cat "$TMP/rogue.err"; fail "unclear refusal"; }
[ ! -e "$TMP/rogue/metrics.jsonl" ] || fail "the refused federation started training"
chmod 644 "$TMP/keys/p1.key"
if run 3 train $FAST --key "$TMP/keys/p{rank}.key" --keyring "$TMP/keys/fed.keyring" --out "$TMP/mode" \
     2> "$TMP/mode.err" > /dev/null; then
  fail "a key file readable by others was accepted"
fi
grep -q "chmod 600" "$TMP/mode.err" || { cat "$TMP/mode.err"; fail "unclear message for a key file readable by others"; }
# keygen never overwrites a key
if "$BIN" keygen --out "$TMP/keys/p0.key" > /dev/null 2>&1; then fail "keygen overwrote a key"; fi
echo "test_security: ok"
