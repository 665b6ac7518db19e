#!/bin/bash
# cluster/slurm/launch.sh: start one fedmeta MPI job inside a Slurm allocation,
# one MPI rank per Slurm task (task 0 = rank 0 = the coordinator). Used by
# train.sbatch, sweep.sbatch and run-until-done.sbatch; runs only inside a job.
#
#   usage: launch.sh FEDMETA_COMMAND_AND_ARGS...    e.g. launch.sh train --rounds 50 --out out/r1
#
# env:
#   FEDMETA               the fedmeta binary (default: build/fedmeta under the submit
#                         folder, else the repository's build/fedmeta, else fedmeta in PATH)
#   FM_LAUNCHER           mpirun (default) or srun: Open MPI's mpirun inside the allocation,
#                         or Slurm's own launcher with PMIx (srun --mpi=pmix)
#   OPENBLAS_NUM_THREADS  threads per rank; default --cpus-per-task (1 without it), and
#                         always capped so that ranks x threads <= the cores of each node
#   FM_MPIRUN_ARGS        extra mpirun options (e.g. "--bind-to core --map-by slot:PE=2")
#   FM_SRUN_ARGS          extra srun options
#   FM_DRY_RUN=1          print the launch command instead of running it
#
# Oversubscribed (more tasks than allocated CPUs on a node, sbatch --overcommit):
# idle ranks yield the CPU (--mca mpi_yield_when_idle 1) and nothing is bound.
# The launcher's exit code is returned (exec).
set -euo pipefail
[ -n "${SLURM_JOB_ID:-}" ] || { echo "launch.sh: not inside a Slurm job (no SLURM_JOB_ID)" >&2; exit 2; }
[ $# -gt 0 ] || { echo "usage: launch.sh FEDMETA_COMMAND [ARGS...]" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

bin=${FEDMETA:-}
if [ -z "$bin" ]; then
  for b in "${SLURM_SUBMIT_DIR:-.}/build/fedmeta" "$here/../../build/fedmeta"; do
    [ -x "$b" ] && { bin=$b; break; }
  done
  bin=${bin:-$(command -v fedmeta || true)}
fi
[ -n "$bin" ] && [ -x "$bin" ] || { echo "launch.sh: no fedmeta binary (set FEDMETA=path/to/fedmeta)" >&2; exit 2; }

# "2(x3),1" -> "2 2 2 1": Slurm's compressed per-node lists
expand() {
  local item out=()
  for item in ${1//,/ }; do
    if [[ $item =~ ^([0-9]+)\(x([0-9]+)\)$ ]]; then
      for ((i = 0; i < BASH_REMATCH[2]; i++)); do out+=("${BASH_REMATCH[1]}"); done
    else
      out+=("$item")
    fi
  done
  echo "${out[@]}"
}
ntasks=${SLURM_NTASKS:-${SLURM_NPROCS:-1}}
read -ra tasks <<< "$(expand "${SLURM_TASKS_PER_NODE:-$ntasks}")"
read -ra cpus <<< "$(expand "${SLURM_JOB_CPUS_PER_NODE:-${SLURM_CPUS_ON_NODE:-1}}")"
# the largest thread count that keeps tasks x threads <= cpus on every node
share=0
over=0
for i in "${!tasks[@]}"; do
  t=${tasks[$i]}; c=${cpus[$i]:-${cpus[0]}}
  [ "$t" -gt 0 ] || continue
  [ "$t" -gt "$c" ] && over=1
  s=$((c / t)); [ $s -lt 1 ] && s=1
  if [ $share = 0 ] || [ $s -lt $share ]; then share=$s; fi
done
[ $share -ge 1 ] || share=1
want=${OPENBLAS_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
[[ $want =~ ^[0-9]+$ ]] && [ "$want" -ge 1 ] || want=1
threads=$want
if [ "$threads" -gt "$share" ]; then
  echo "launch.sh: OpenBLAS threads $want per rank would exceed the cores; using $share" >&2
  threads=$share
fi
export OPENBLAS_NUM_THREADS=$threads
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

launcher=${FM_LAUNCHER:-mpirun}
nodes=${SLURM_JOB_NUM_NODES:-${SLURM_NNODES:-1}}
job=$SLURM_JOB_ID
[ -n "${SLURM_ARRAY_TASK_ID:-}" ] && job=${SLURM_ARRAY_JOB_ID}_$SLURM_ARRAY_TASK_ID
echo "launch.sh: job $job: $ntasks ranks (1 coordinator + $((ntasks - 1)) platform rank(s)) on $nodes node(s)," \
     "tasks/node ${SLURM_TASKS_PER_NODE:-?}, cpus/node ${SLURM_JOB_CPUS_PER_NODE:-?}, OpenBLAS threads $threads," \
     "$([ $over = 1 ] && echo oversubscribed || echo 'not oversubscribed'), launcher $launcher" >&2
case $launcher in
  mpirun)
    opts=(-n "$ntasks" --bind-to none -x OPENBLAS_NUM_THREADS)
    [ $over = 1 ] && opts+=(--oversubscribe --mca mpi_yield_when_idle 1)
    # shellcheck disable=SC2206
    extra=(${FM_MPIRUN_ARGS:-})
    cmd=(mpirun "${opts[@]}" "${extra[@]}" "$bin" "$@") ;;
  srun)
    # one rank dying (a crash) must end the step, as it ends an mpirun job
    opts=(--mpi=pmix --kill-on-bad-exit=1 -n "$ntasks")
    [ $over = 1 ] && export OMPI_MCA_mpi_yield_when_idle=1
    # shellcheck disable=SC2206
    extra=(${FM_SRUN_ARGS:-})
    cmd=(srun "${opts[@]}" "${extra[@]}" "$bin" "$@") ;;
  *) echo "launch.sh: FM_LAUNCHER=$launcher: use mpirun or srun" >&2; exit 2 ;;
esac
if [ "${FM_DRY_RUN:-0}" = 1 ]; then
  echo "OPENBLAS_NUM_THREADS=$threads${OMPI_MCA_mpi_yield_when_idle:+ OMPI_MCA_mpi_yield_when_idle=1} ${cmd[*]}"
  exit 0
fi
exec "${cmd[@]}" < /dev/null
