#!/bin/bash
# tests/cluster/test_slurm.sh: the Slurm batch scripts of cluster/slurm/ on a real
# single-node Slurm cluster (Debian's slurm-wlm 22.05 and munge, installed when
# missing), brought up on localhost from a minimal configuration in a temporary
# folder and torn down at the end. Checks:
#   1. train.sbatch (mpirun, 3 ranks oversubscribed on the node) and train.sbatch
#      with FM_LAUNCHER=srun (srun --mpi=pmix, 2 ranks) each give every round in
#      metrics.jsonl and a meta-model.pb byte-identical to a plain mpirun run;
#   2. sweep.sbatch as a 2-task job array over a trial list from make-trials.sh:
#      one folder and one results.tsv row per trial, a trial's model identical to
#      a plain mpirun run of its line;
#   3. run-until-done.sbatch: the coordinator crashes once (--inject-crash), the
#      job requeues itself once and completes with the uninterrupted run's model;
#      the time-limit warning (SIGUSR1 to the batch shell, sent by hand here while a
#      platform stalls) stops the run and requeues it, same model again; with
#      FM_MAX_REQUEUES=0 a crash is not requeued and the job fails;
#   4. launch.sh's thread and oversubscription choice on multi-node layouts (dry run).
# Every daemon it starts (munged, slurmctld, slurmd) runs from its own temporary
# folder (own munge socket and key, own ports: /etc/munge and a running site
# Slurm are not touched) and is stopped on exit, with every job and process that
# refers to that folder; a watchdog does the same if the test itself is killed.
# Needs root (skips otherwise). About 1 minute on 2 cores once Slurm is installed.
set -euo pipefail
BIN=${1:?usage: test_slurm.sh path/to/fedmeta [mpiexec]}
MPIEXEC=${2:-mpirun}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SL=$ROOT/cluster/slurm
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: not root (the test installs Slurm and munge and starts slurmctld, slurmd and munged)"
  exit 0
fi
BIN=$(readlink -f "$BIN")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
T0=$(date +%s)
fail() { echo "FAIL: $*" >&2; exit 1; }
say() { echo "[$(($(date +%s) - T0))s] $*"; }

TMP=""
POLICY_CREATED=0
PIDS=()          # daemons started here, newest last
WATCHDOG=""
stop_pids() { # stop_pids PID...: TERM, up to 20 s, then KILL
  local p alive
  kill -TERM "$@" 2> /dev/null
  for _ in $(seq 1 100); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2> /dev/null && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.2
  done
  kill -KILL "$@" 2> /dev/null
}
# every process whose command line or working folder refers to $TMP (job scripts,
# slurmstepd, mpirun, ranks): all started by this test, through its daemons
tmp_procs() {
  local d p
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
    if [[ "$(readlink "$d/cwd" 2> /dev/null)" == "$TMP"* ]] ||
       tr '\0' ' ' 2> /dev/null < "$d/cmdline" | grep -qF -- "$TMP"; then
      echo "$p"
    fi
  done
}
cleanup() {
  local code=$? p
  set +e
  trap - EXIT INT TERM
  [ -n "$WATCHDOG" ] && kill -KILL "$WATCHDOG" 2> /dev/null   # it ignores TERM
  if [ -n "$TMP" ] && [ -d "$TMP" ]; then
    if [ ${#PIDS[@]} -gt 0 ] && [ -n "${SLURM_CONF:-}" ]; then
      # jobs first, while slurmd is up to end them (a slurmstepd outlives slurmd)
      scancel --quiet --user=root 2> /dev/null
      for _ in $(seq 1 75); do [ -z "$(squeue -h -o %i 2> /dev/null)" ] && break; sleep 0.2; done
    fi
    [ ${#PIDS[@]} -gt 0 ] && stop_pids "${PIDS[@]}"
    for p in $(tmp_procs); do kill -KILL "$p" 2> /dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2> /dev/null; done
    rm -rf "$TMP"
  fi
  [ $POLICY_CREATED = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ $code = 0 ] && say "test_slurm: ok" || say "test_slurm: failed (exit $code)"
  exit $code
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. Slurm and munge from Debian, when missing ------------------------------
missing=0
for c in sbatch scontrol squeue scancel srun slurmctld slurmd munged munge; do
  command -v "$c" > /dev/null || missing=1
done
if [ $missing = 1 ]; then
  say "installing slurm-wlm and munge (apt-get)"
  # no service may start from the package scripts: the test starts its own daemons
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    POLICY_CREATED=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends slurm-wlm munge > "/tmp/fedmeta-slurm-apt.log" 2>&1; }
  apt_install || { apt-get -o DPkg::Lock::Timeout=600 update > /dev/null 2>&1; apt_install; } ||
    { tail -20 /tmp/fedmeta-slurm-apt.log >&2; fail "apt-get install slurm-wlm munge failed"; }
  rm -f /tmp/fedmeta-slurm-apt.log
  if [ $POLICY_CREATED = 1 ]; then rm -f /usr/sbin/policy-rc.d; POLICY_CREATED=0; fi
  for c in sbatch slurmctld slurmd munged munge; do command -v "$c" > /dev/null || fail "$c still missing after the install"; done
  say "installed"
fi
id munge > /dev/null 2>&1 || fail "no munge user (the munge package creates it)"

# --- 2. a single-node cluster in a temporary folder ------------------------------
TMP=$(mktemp -d /tmp/fedmeta-slurm.XXXXXX)
chmod 755 "$TMP"   # munged (user munge) must reach its socket folder
mkdir -p "$TMP/munge" "$TMP/state" "$TMP/spool" "$TMP/log" "$TMP/tmpfs" "$TMP/jobtmp"
chown munge:munge "$TMP/munge"
chmod 755 "$TMP/munge"
if command -v mungekey > /dev/null; then
  setpriv --reuid munge --regid munge --clear-groups mungekey -c -k "$TMP/munge/munge.key"
else
  dd if=/dev/urandom of="$TMP/munge/munge.key" bs=1024 count=1 status=none
  chown munge:munge "$TMP/munge/munge.key"
  chmod 400 "$TMP/munge/munge.key"
fi
# a free TCP port pair for slurmctld and slurmd (not the site's 6817/6818)
port_used() { awk -v p="$(printf '%04X' "$1")" 'NR > 1 { split($2, a, ":"); if (a[2] == p) f = 1 } END { exit !f }' /proc/net/tcp /proc/net/tcp6 2> /dev/null; }
for _ in $(seq 1 50); do
  PORT=$((20000 + RANDOM % 30000))
  port_used $PORT || port_used $((PORT + 1)) || break
done
H=$(hostname -s)
NCPU=$(nproc)
cat > "$TMP/slurm.conf" << EOF
ClusterName=fmtest
SlurmctldHost=$H(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$TMP/munge/sock,cred_expire=5
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=sched_interval=1
StateSaveLocation=$TMP/state
SlurmdSpoolDir=$TMP/spool
TmpFS=$TMP/tmpfs
SlurmctldPidFile=$TMP/slurmctld.pid
SlurmdPidFile=$TMP/slurmd.pid
SlurmctldLogFile=$TMP/log/slurmctld.log
SlurmdLogFile=$TMP/log/slurmd.log
SlurmUser=root
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
NodeName=$H NodeAddr=127.0.0.1 CPUs=$NCPU State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
export SLURM_CONF=$TMP/slurm.conf
# the jobs' temporary files (Open MPI's session folders) stay in $TMP
export TMPDIR=$TMP/jobtmp
# each daemon runs from $TMP (so do the slurmstepd it forks: found by tmp_procs)
(cd "$TMP" && exec setpriv --reuid munge --regid munge --clear-groups munged -F --socket="$TMP/munge/sock" \
  --key-file="$TMP/munge/munge.key" --log-file="$TMP/munge/munged.log" \
  --pid-file="$TMP/munge/munged.pid" --seed-file="$TMP/munge/munged.seed") > "$TMP/log/munged.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do [ -S "$TMP/munge/sock" ] && break; sleep 0.1; done
munge -S "$TMP/munge/sock" -n < /dev/null | unmunge -S "$TMP/munge/sock" > /dev/null ||
  { cat "$TMP/log/munged.out" >&2; fail "munged does not answer"; }
(cd "$TMP" && exec slurmctld -D -f "$SLURM_CONF") > "$TMP/log/slurmctld.out" 2>&1 &
PIDS+=($!)
(cd "$TMP" && exec slurmd -D -N "$H" -f "$SLURM_CONF") > "$TMP/log/slurmd.out" 2>&1 &
PIDS+=($!)
# the watchdog: if this shell dies without its trap (SIGKILL), stop what it started
( set +e
  trap '' INT TERM
  while kill -0 $$ 2> /dev/null; do sleep 1; done
  scancel --quiet --user=root 2> /dev/null; sleep 3
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2> /dev/null; done; sleep 5
  for p in "${PIDS[@]}" $(tmp_procs); do kill -KILL "$p" 2> /dev/null; done
  rm -rf "$TMP" ) < /dev/null > /dev/null 2>&1 &
WATCHDOG=$!
disown $WATCHDOG
state=""
for _ in $(seq 1 150); do
  state=$(sinfo -h -n "$H" -o %T 2> /dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.2
done
[ "$state" = idle ] || { tail -5 "$TMP"/log/*.log >&2; fail "the node is not idle (state '$state')"; }
say "cluster up: $H, $NCPU CPUs, ports $PORT-$((PORT + 1)), $(sinfo -V)"

# --- helpers ------------------------------------------------------------------------
# wait_job ID SECONDS: until the job (every element of an array) has left the queue
wait_job() {
  local id=$1 limit=$2 t=0
  while [ -n "$(squeue -h -j "$id" -o %i 2> /dev/null)" ]; do
    sleep 0.5; t=$((t + 1))
    [ $t -lt $((limit * 2)) ] || { squeue -j "$id" >&2; fail "job $id still queued after $limit s"; }
  done
}
# job_field ID NAME: NAME=value of each element of job ID, one per line
job_field() { scontrol show job -o "$1" | grep -o "\\b$2=[^ ]*" | cut -d= -f2; }
# expect_done ID LOG: every element COMPLETED with exit 0:0
expect_done() {
  local states codes
  states=$(job_field "$1" JobState | sort -u | tr '\n' ' ')
  codes=$(job_field "$1" ExitCode | sort -u | tr '\n' ' ')
  [ "$states" = "COMPLETED " ] && [ "$codes" = "0:0 " ] ||
    { cat $2 >&2; fail "job $1: states $states exit codes $codes (expected COMPLETED 0:0)"; }
}
check_run() { # check_run OUT ROUNDS: every round recorded, a model written
  [ -s "$1/meta-model.pb" ] || fail "$1: no meta-model.pb"
  [ "$(wc -l < "$1/metrics.jsonl")" = "$2" ] || fail "$1/metrics.jsonl: $(wc -l < "$1/metrics.jsonl") lines, expected $2"
  [ "$(grep -c '"deltas":5,' "$1/metrics.jsonl")" = "$2" ] || fail "$1/metrics.jsonl: not 5 deltas in every round"
}
plain() { # plain NRANKS ARGS...: the same training with mpirun outside Slurm
  local n=$1; shift
  timeout 300 "$MPIEXEC" -n "$n" --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 \
    "$BIN" train "$@" < /dev/null > /dev/null
}
submit() { # submit SBATCH-ARGS...: job id; the jobs see no OPENBLAS_NUM_THREADS (launch.sh picks it)
  env -u OPENBLAS_NUM_THREADS FEDMETA="$BIN" sbatch --parsable --chdir="$TMP" "$@" | cut -d';' -f1
}

# tiny settings: 6 industries (5 training platforms), a few hundred users
R=6
TINY="--industries 6 --users 800 --scale 0.3 --dim 16 --hidden 32 --buckets-log2 12 --batch 64
      --negatives 64 --ft-steps 5 --local-steps 5 --verbose 1"
ARGS="$TINY --inner-steps 4 --rounds $R --eval-every 0 --seed 7"
O=(-O)                                 # 3 tasks on this node: overcommit
[ "$NCPU" -ge 2 ] && N2=() || N2=(-O)  # 2 tasks fit 2 CPUs: not oversubscribed
PMIX=0
srun --mpi=list 2>&1 | grep -q pmix && PMIX=1

# --- 3. submit everything that needs no hand-holding at once ------------------------
# shellcheck disable=SC2086
{
  j_train=$(FM_OUT=$TMP/train submit -n 3 "${O[@]}" -t 5 -o "$TMP/train.log" "$SL/train.sbatch" $ARGS)
  [ $PMIX = 1 ] && j_srun=$(FM_OUT=$TMP/srun FM_LAUNCHER=srun submit -n 2 "${N2[@]}" -t 5 -o "$TMP/srun.log" "$SL/train.sbatch" $ARGS)
  bash "$SL/make-trials.sh" --trials 2 --seed 3 --rounds 3 -- $TINY > "$TMP/trials.txt"
  j_sweep=$(FM_OUT=$TMP/sweep submit --array=1-2 -n 3 "${O[@]}" -t 5 -o "$TMP/sweep-%a.log" \
              "$SL/sweep.sbatch" "$TMP/trials.txt" --inner-steps 3)
  j_crash=$(FM_OUT=$TMP/crash submit -n 3 "${O[@]}" -t 5 -o "$TMP/crash.log" "$SL/run-until-done.sbatch" $ARGS --inject-crash 3)
  j_bound=$(FM_OUT=$TMP/bound FM_MAX_REQUEUES=0 submit -n 3 "${O[@]}" -t 5 -o "$TMP/bound.log" \
              "$SL/run-until-done.sbatch" $ARGS --inject-crash 2)
}
say "submitted: train $j_train, srun ${j_srun:-(no pmix: skipped)}, sweep $j_sweep, crash $j_crash, bound $j_bound"

# the plain mpirun references meanwhile
# shellcheck disable=SC2086
plain 3 $ARGS --out "$TMP/ref"
check_run "$TMP/ref" $R
read -ra trial2 <<< "$(grep -vE '^[[:space:]]*(#|$)' "$TMP/trials.txt" | sed -n 2p)"
plain 3 "${trial2[@]}" --inner-steps 3 --out "$TMP/ref-trial2"

# --- 4. train.sbatch ------------------------------------------------------------------
wait_job "$j_train" 120
expect_done "$j_train" "$TMP/train.log"
check_run "$TMP/train" $R
cmp "$TMP/ref/meta-model.pb" "$TMP/train/meta-model.pb" || fail "train.sbatch (mpirun) and plain mpirun give different models"
grep -q "OpenBLAS threads 1, oversubscribed, launcher mpirun" "$TMP/train.log" || { cat "$TMP/train.log"; fail "train.sbatch: not the expected launch (mpirun, oversubscribed, 1 thread)"; }
grep -q "fedmeta train: 3 MPI ranks, 1 OpenBLAS thread per rank" "$TMP/train.log" || fail "train.sbatch: not 3 ranks with 1 thread"
say "train.sbatch (mpirun): $R rounds, same model as plain mpirun"
if [ $PMIX = 1 ]; then
  wait_job "$j_srun" 120
  expect_done "$j_srun" "$TMP/srun.log"
  check_run "$TMP/srun" $R
  cmp "$TMP/ref/meta-model.pb" "$TMP/srun/meta-model.pb" || fail "train.sbatch (srun --mpi=pmix) and plain mpirun give different models"
  grep -q "launcher srun" "$TMP/srun.log" && grep -q "fedmeta train: 2 MPI ranks" "$TMP/srun.log" ||
    { cat "$TMP/srun.log"; fail "FM_LAUNCHER=srun: not 2 ranks started by srun"; }
  say "train.sbatch (srun --mpi=pmix, 2 ranks): same model"
else
  say "note: srun --mpi=list shows no pmix here; the srun launcher was not tried"
fi

# --- 5. sweep.sbatch ---------------------------------------------------------------------
wait_job "$j_sweep" 120
expect_done "$j_sweep" "$TMP/sweep-*.log"
[ "$(job_field "$j_sweep" ArrayTaskId | sort | tr '\n' ' ')" = "1 2 " ] || fail "sweep: not array tasks 1 and 2"
res=$TMP/sweep/results.tsv
[ "$(head -n 1 "$res" | cut -f1,3,7)" = "$(printf 'trial\texit\tvalid_ndcg10')" ] || fail "sweep: no header in $res"
[ "$(tail -n +2 "$res" | cut -f1 | sort | tr '\n' ' ')" = "1 2 " ] || { cat "$res"; fail "sweep: not one row per trial"; }
for t in 1 2; do
  row=$(cat "$TMP/sweep/trial-$t/result.tsv")
  [ "$(echo "$row" | cut -f3,5)" = "$(printf '0\t3')" ] || fail "sweep trial $t: not exit 0 after 3 rounds: $row"
  [[ $(echo "$row" | cut -f7) =~ ^0\.[0-9]+$ ]] || fail "sweep trial $t: no validation NDCG@10: $row"
  grep -qF -- "$(sed -n "$((t + 1))p" "$TMP/trials.txt")" <<< "$row" || fail "sweep trial $t: not the args of line $t"
  [ -s "$TMP/sweep/trial-$t/meta-model.pb" ] || fail "sweep trial $t: no model"
done
cmp "$TMP/ref-trial2/meta-model.pb" "$TMP/sweep/trial-2/meta-model.pb" || fail "sweep trial 2 differs from a plain run of its line"
! cmp -s "$TMP/sweep/trial-1/meta-model.pb" "$TMP/sweep/trial-2/meta-model.pb" || fail "sweep: both trials gave the same model"
say "sweep.sbatch: 2 array tasks, results.tsv rows, trial 2 = plain run of its line"

# --- 6. run-until-done.sbatch -------------------------------------------------------------
wait_job "$j_crash" 120
expect_done "$j_crash" "$TMP/crash.log"
[ "$(job_field "$j_crash" Restarts)" = 1 ] || { cat "$TMP/crash.log"; fail "crash: not requeued exactly once"; }
grep -q "the coordinator dies in round 3" "$TMP/crash.log" || fail "crash: the injected crash did not happen"
grep -q "resuming after round 2" "$TMP/crash.log" || { cat "$TMP/crash.log"; fail "crash: the requeued attempt did not resume from round 2"; }
[ "$(cut -f6 "$TMP/crash/requeue.log" | sed 's/ [0-9].*//' | tr '\n' ' ')" = "requeue complete " ] ||
  { cat "$TMP/crash/requeue.log"; fail "crash: requeue.log is not 'requeue, complete'"; }
check_run "$TMP/crash" $R
cmp "$TMP/ref/meta-model.pb" "$TMP/crash/meta-model.pb" || fail "crashed + requeued run differs from the uninterrupted one"
say "run-until-done.sbatch: crash in round 3, requeued once, same model"

wait_job "$j_bound" 60
[ "$(job_field "$j_bound" JobState)" = FAILED ] && [ "$(job_field "$j_bound" ExitCode)" = 1:0 ] ||
  { cat "$TMP/bound.log"; fail "FM_MAX_REQUEUES=0: expected FAILED with exit 1"; }
[ "$(job_field "$j_bound" Restarts)" = 0 ] || fail "FM_MAX_REQUEUES=0: the job was requeued"
grep -q "0 requeues used: giving up" "$TMP/bound/requeue.log" || { cat "$TMP/bound/requeue.log"; fail "FM_MAX_REQUEUES=0: no 'giving up' note"; }
say "run-until-done.sbatch: FM_MAX_REQUEUES=0 gives up after the crash"

# the time-limit warning: platform 1 stalls 4 s in round 3 (in every attempt; a stall
# changes no result); SIGUSR1 to the batch shell during the first stall
# shellcheck disable=SC2086
j_sig=$(FM_OUT=$TMP/sig submit -n 3 "${O[@]}" -t 5 -o "$TMP/sig.log" "$SL/run-until-done.sbatch" $ARGS --inject-stall 1:3:4)
for _ in $(seq 1 600); do
  [ -s "$TMP/sig/metrics.jsonl" ] && [ "$(wc -l < "$TMP/sig/metrics.jsonl")" -ge 2 ] && break
  sleep 0.1
done
[ "$(wc -l < "$TMP/sig/metrics.jsonl")" = 2 ] || fail "signal: the run did not reach its round-3 stall"
sleep 0.5
scancel --batch --signal=USR1 "$j_sig"
wait_job "$j_sig" 120
expect_done "$j_sig" "$TMP/sig.log"
[ "$(job_field "$j_sig" Restarts)" = 1 ] || { cat "$TMP/sig.log"; fail "signal: not requeued exactly once"; }
grep -q "time limit near: stopping the run" "$TMP/sig.log" || fail "signal: the USR1 warning was not handled"
grep -q "(time limit)" "$TMP/sig/requeue.log" || { cat "$TMP/sig/requeue.log"; fail "signal: no time-limit requeue noted"; }
cmp "$TMP/ref/meta-model.pb" "$TMP/sig/meta-model.pb" || fail "stopped at the time-limit warning + requeued run differs"
say "run-until-done.sbatch: stopped by the time-limit signal in round 3, requeued once, same model"

# --- 7. launch.sh's layout arithmetic on layouts one node cannot make ------------------------
dry() { # dry TASKS_PER_NODE CPUS_PER_NODE CPUS_PER_TASK -> the launch line
  env -u OPENBLAS_NUM_THREADS SLURM_JOB_ID=1 SLURM_NTASKS=9 SLURM_JOB_NUM_NODES=2 SLURM_TASKS_PER_NODE="$1" \
    SLURM_JOB_CPUS_PER_NODE="$2" ${3:+SLURM_CPUS_PER_TASK=$3} FEDMETA="$BIN" FM_DRY_RUN=1 \
    bash "$SL/launch.sh" train 2> /dev/null
}
[[ $(dry "5,4" "16(x2)" 3) == "OPENBLAS_NUM_THREADS=3 mpirun -n 9 --bind-to none -x OPENBLAS_NUM_THREADS $BIN train" ]] ||
  fail "launch.sh: 5+4 tasks on 16+16 CPUs with -c 3: $(dry "5,4" "16(x2)" 3)"
[[ $(dry "5,4" "8(x2)" 3) == OPENBLAS_NUM_THREADS=1\ * ]] || fail "launch.sh: threads not capped to the cores: $(dry "5,4" "8(x2)" 3)"
[[ $(dry "5,4" "4(x2)") == *"--oversubscribe --mca mpi_yield_when_idle 1"* ]] || fail "launch.sh: 5 tasks on 4 CPUs not oversubscribed"
[[ $(dry "5,4" "16(x2)") == OPENBLAS_NUM_THREADS=1\ * ]] || fail "launch.sh: without -c not 1 thread"
say "launch.sh: thread and oversubscription choice on 2-node layouts"
