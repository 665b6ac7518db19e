#!/bin/bash
# cluster/mpirun.sh: run fedmeta under Open MPI on this machine with the flags
# this setup needs: --oversubscribe when ranks exceed cores, as root the
# allow-run-as-root pair, and idle ranks that yield the CPU.
#   usage: cluster/mpirun.sh NRANKS build/fedmeta train [options]
set -euo pipefail
n=$1; shift
extra=()
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
exec mpirun -n "$n" --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 "${extra[@]}" "$@"
