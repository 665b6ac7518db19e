#!/bin/bash
# tests/cluster/test_pilot.sh: pilot mode (issue 7, docs/DEPLOY.md section 3).
# Parties launch themselves: an ompi-server as the rendezvous, a coordinator
# started on its own (mpirun -n 1 fedmeta coordinator), and three parties,
# each its own mpirun (one with 2 ranks), its own key file and --host list,
# all started at the same moment. Checked:
#   1. the run completes and its meta-model.pb is byte-identical to
#      `fedmeta train` with the same settings (here with secure aggregation
#      on, so the masks and key shares cross party boundaries);
#   2. a party whose key is not in the coordinator's keyring (it claims the
#      name of a listed party, "dave") is refused with the reason, exits
#      non-zero, and the federation goes on without it;
#   3. a party whose name is not in the keyring is never dialled: it gives up
#      at its --join-timeout with a message saying so;
#   4. a party on prepared data (--data) whose folder's platforms differ from
#      the federation's withdraws with the reason, and the others go on.
# Where network namespaces work (root, iproute2), every party runs on a host
# of its own: the ompi-server and the coordinator on 10.78.0.1, acme, bravo
# and carol on .2, .3, .4, the intruders on .5, joined by a switch
# (cluster/netns/hosts-up.sh) and talking TCP only. Otherwise all on this
# host (a "SKIP netns" line says so).
# About 40-70 s on 2 shared cores.
set -euo pipefail
BIN=${1:?usage: test_pilot.sh path/to/fedmeta [mpiexec]}
MPIEXEC=${2:-mpirun}
BIN=$(readlink -f "$BIN")
NETNS=$(cd "$(dirname "$0")/../../cluster/netns" && pwd)
PREFIX=fmp$$
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
TMP=$(mktemp -d /tmp/fedmeta-pilot.XXXXXX)
PIDS=()
cleanup() {
  # every background job is its own process group (set -m): kill the groups,
  # so no mpirun or fedmeta outlives the test
  for p in "${PIDS[@]}"; do kill -- -"$p" 2>/dev/null || true; done
  pkill -f "$TMP" 2>/dev/null || true # timeout(1) runs mpirun in a group of its own
  "$NETNS/hosts-down.sh" --prefix "$PREFIX" > /dev/null 2>&1 || true
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
set -m
fail() {
  echo "FAIL: $*" >&2
  for f in "$TMP"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done
  exit 1
}
command -v ompi-server > /dev/null || fail "ompi-server not found (Debian package openmpi-bin)"
cd "$TMP"

# hosts: network namespaces when possible
declare -A HOST=([coord]= [acme]= [bravo]= [carol]= [mallory]= [eve]=)
NETFLAGS=""
if [ "$(id -u)" = 0 ] && "$NETNS/hosts-up.sh" --prefix "$PREFIX" --subnet 10.78.0 5 > hosts.txt 2> hosts.err; then
  HOST=([coord]=$PREFIX-h0 [acme]=$PREFIX-h1 [bravo]=$PREFIX-h2 [carol]=$PREFIX-h3 [mallory]=$PREFIX-h4 [eve]=$PREFIX-h4)
  NETFLAGS="--mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include 10.78.0.0/24 --mca oob_tcp_if_include 10.78.0.0/24 --mca btl_tcp_disable_family 6"
  echo "parties on network namespace hosts: $(tr '\n' ' ' < hosts.txt)"
else
  echo "SKIP netns: $(cat hosts.err 2>/dev/null | tail -1) (every party on this host)"
fi
on() { # on WHO COMMAND...: run COMMAND on WHO's host
  local ns=${HOST[$1]}; shift
  if [ -n "$ns" ]; then "$NETNS/exec.sh" "$ns" "$@"; else "$@"; fi
}

S="--industries 6 --users 500 --scale 0.1 --dim 8 --hidden 16 --buckets-log2 8 --batch 32 --negatives 32
   --inner-steps 3 --eval-every 0 --ft-steps 0 --local-steps 0 --rounds 3 --seed 5 --secagg on"
MF="--oversubscribe --bind-to none --mca mpi_yield_when_idle 1"

# keys: the coordinator and four parties in the keyring; "mallory" makes a
# key under the listed name dave; "eve" is listed nowhere
for n in coord acme bravo carol dave eve; do "$BIN" keygen --out $n.key > $n.pub; done
"$BIN" keygen --out mallory.key --name dave > mallory.pub
grep -hv '^#' coord.pub acme.pub bravo.pub carol.pub dave.pub > ring.txt

# bg LOG COMMAND...: runs COMMAND in the background, its output in LOG.log,
# then "exit CODE" as the last line
bg() {
  local log=$1.log; shift
  ( rc=0; "$@" > "$log" 2>&1 || rc=$?; echo "exit $rc" >> "$log" ) & PIDS+=($!)
}

# wait_for FILE PATTERN SECONDS
wait_for() {
  local end=$((SECONDS + $3))
  until grep -q "$2" "$1" 2>/dev/null; do
    [ $SECONDS -lt $end ] || fail "no '$2' in $1 within $3 s"
    sleep 0.2
  done
}

on coord ompi-server --no-daemonize -r "$TMP/uri" $NETFLAGS & PIDS+=($!)
wait_for uri tcp 20
OS="--ompi-server file:$TMP/uri"
coordinator() { on coord timeout 240 "$MPIEXEC" $MF $NETFLAGS -n 1 $OS "$BIN" coordinator $S --key coord.key --keyring ring.txt --join-timeout 120 "$@" < /dev/null; }
join() { # join NRANKS NAME HOSTS [args]
  local n=$1 name=$2 hosts=$3; shift 3
  on "$name" timeout 240 "$MPIEXEC" $MF $NETFLAGS -n "$n" $OS "$BIN" join --key "$name.key" --keyring ring.txt --host "$hosts" \
    --join-timeout 120 --out "$TMP/out-$name" "$@" < /dev/null
}

# mallory (as dave) publishes first, so it is dialled, and refused, before
# the real parties appear
bg mallory join 1 mallory home
wait_for mallory.log "published as" 60
bg coord coordinator --out "$TMP/pilot"
wait_for coord.log "refused" 60
wait_for mallory.log "^exit" 60
grep -q "refused by the coordinator: its signing key (.*) is not in the keyring" mallory.log ||
  fail "mallory: no refusal naming the keyring: $(cat mallory.log)"
! grep -q "^exit 0" mallory.log || fail "a refused party exited 0"

# eve is in no keyring: never dialled (short timeout)
bg eve join 1 eve toys --join-timeout 8
# the three real parties, started together
bg acme join 1 acme beauty,books
bg bravo join 2 bravo electronics,fashion,food
bg carol join 1 carol home
for f in coord acme bravo carol eve; do wait_for $f.log "^exit" 200; done
grep -q "^exit 0" coord.log || fail "the coordinator failed"
for f in acme bravo carol; do grep -q "^exit 0" $f.log || fail "party $f failed"; done
grep -q "never dialled 'fedmeta:eve'" eve.log || fail "eve: no message saying it was never dialled"
! grep -q "^exit 0" eve.log || fail "eve exited 0"
for f in acme bravo carol; do grep -q "party $f admitted" coord.log || fail "coordinator: $f not admitted"; done
[ "$(wc -l < pilot/metrics.jsonl)" = 3 ] || fail "pilot: not 3 rounds in metrics.jsonl"

# on namespace hosts, the parties' traffic crossed the switch
if [ -n "${HOST[acme]}" ]; then
  for i in 1 2 3; do
    b=$(ip netns exec "$PREFIX-sw" cat /sys/class/net/h$i/statistics/rx_bytes)
    [ "$b" -gt 5000 ] || fail "host h$i sent only $b bytes through the switch"
  done
fi

# the same job launched as one mpirun
timeout 240 "$MPIEXEC" $MF -n 3 "$BIN" train $S --out "$TMP/plain" --verbose 0 < /dev/null > plain.log 2>&1 ||
  fail "fedmeta train failed"
cmp plain/meta-model.pb pilot/meta-model.pb || fail "pilot mode and fedmeta train give different meta-models"

# a party on prepared data whose folder is not the federation's withdraws
"$BIN" synth --industries 4 --users 200 --scale 0.1 --out "$TMP/other" > /dev/null
bg withdraw join 1 acme beauty --data "$TMP/other"
bg coord2 coordinator --out "$TMP/pilot2" --join-timeout 15
wait_for withdraw.log "^exit" 60
grep -q "the federation has 6 platforms, your data 4" withdraw.log || fail "no withdrawal reason: $(cat withdraw.log)"
wait_for coord2.log "the party withdrew: the federation has 6 platforms" 30
wait_for coord2.log "^exit" 60
grep -q "gave up at the --join-timeout: 0 parties joined; 6 platforms still without a party" coord2.log ||
  fail "coordinator: no join-timeout message: $(cat coord2.log)"
echo "ok: pilot mode"
