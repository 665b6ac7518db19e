#!/bin/bash
# cluster/run-until-done.sh: run a fedmeta training job and, when it dies
# (a crashed rank ends the whole Open MPI 4.1 job), relaunch it with
# --resume OUT until it completes or the restarts run out. Nothing is lost:
# the coordinator checkpoints every --checkpoint-every rounds and a resumed run
# produces the same meta-model as an uninterrupted one.
#
#   usage: cluster/run-until-done.sh [--max-restarts N] [--pause S] OUT -- LAUNCH...
#   e.g.   cluster/run-until-done.sh out/run1 -- \
#              cluster/mpirun.sh 4 build/fedmeta train --rounds 500 --out out/run1
#
# LAUNCH is the whole command (mpirun, srun, ...) ending with the fedmeta
# arguments; on a relaunch "--resume OUT" is appended to it. A run whose
# checkpoint says it is complete stops the loop (exit 0). Exit codes: 0 done;
# 1 the restarts ran out; 2 a usage error; 3 the job failed before writing any
# checkpoint (a setting or data problem that a relaunch would repeat).
set -uo pipefail
max=10
pause=2
while [ $# -gt 0 ]; do
  case "$1" in
    --max-restarts) max=$2; shift 2 ;;
    --pause) pause=$2; shift 2 ;;
    --help|-h) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
out=${1:-}
[ -n "$out" ] && [ "${2:-}" = "--" ] || { echo "usage: $0 [--max-restarts N] [--pause S] OUT -- LAUNCH..." >&2; exit 2; }
shift 2
[ $# -gt 0 ] || { echo "run-until-done: no launch command after --" >&2; exit 2; }

attempt=0
resume=()
while :; do
  echo "run-until-done: launch $attempt${resume:+ (resuming from $out)}" >&2
  "$@" "${resume[@]}"
  code=$?
  if [ $code = 0 ]; then
    echo "run-until-done: complete after $attempt relaunch(es)" >&2
    exit 0
  fi
  if [ ! -e "$out/checkpoint.fmck" ] && [ ! -e "$out/checkpoint.fmck.prev" ]; then
    echo "run-until-done: the job failed (exit $code) before its first checkpoint; not relaunching" >&2
    exit 3
  fi
  attempt=$((attempt + 1))
  if [ $attempt -gt "$max" ]; then
    echo "run-until-done: the job failed (exit $code); $max relaunches used, giving up" >&2
    exit 1
  fi
  echo "run-until-done: the job failed (exit $code); relaunching in $pause s with --resume $out" >&2
  sleep "$pause"
  resume=(--resume "$out")
done
