#!/bin/bash
# cluster/mpirun-hosts.sh: run fedmeta over several hosts with Open MPI 4.1:
# TCP between the hosts and nothing else, the remote daemons started by ssh (or
# another ssh-like agent), fixed ports for a firewall if asked, and two guards
# for a host that dies in the middle of a run.
#
#   usage: cluster/mpirun-hosts.sh --hostfile F [options] NRANKS PROGRAM [ARGS...]
#   e.g.   cluster/mpirun-hosts.sh --hostfile hosts --net 10.1.0.0/24 --ports 47000 \
#              9 build/fedmeta train --round-timeout 300 --out out/run1
#
# F is an Open MPI hostfile ("HOST slots=K" per line, # comments). Run this on
# the FIRST host of F, the head: the ranks go round-robin over the hosts in
# file order (--map-by node), so rank 0, the coordinator, runs there and writes
# --out there. PROGRAM and its data must be at the same path on every host.
#
#   --net CIDR          the hosts' network: MPI traffic and Open MPI's own go
#                       only there (btl_tcp_if_include, oob_tcp_if_include)
#   --agent CMD         starts a command on a host as "CMD HOST COMMAND..."
#                       (default: ssh -o BatchMode=yes -o ConnectTimeout=10)
#   --ports P[:N]       fixed TCP ports, to open in the hosts' firewalls: P on
#                       every host for Open MPI's daemons (oob_tcp_static_ipv4_ports),
#                       P+1..P+N for the ranks of a host (btl_tcp_port_min_v4,
#                       btl_tcp_port_range_v4; N defaults to 16, at least the
#                       ranks per host); IPv4 only (btl_tcp_disable_family 6)
#   --skip-unreachable  first run "CMD HOST true" for every host but the head
#                       and launch on those that answer: a relaunch after a host
#                       died goes on without it (its platforms move to other ranks)
#   --abort-grace S     kill mpirun (and what it started here) if it is still
#                       running S s after the job began to abort (default 30;
#                       0 = never): Open MPI 4.1 cannot finish an abort while a
#                       host is unreachable and waits for its daemon for many
#                       minutes (docs/DEPLOY.md section 2). An abort begins with
#                       Open MPI's "MPI_ABORT was invoked" or "ORTE has lost
#                       communication", or fedmeta's coordinator saying worker
#                       ranks "did not finish" (it calls MPI_Abort next; Open
#                       MPI does not always get to print its own message)
#   --mca KEY VALUE     passed on to mpirun (repeatable); replaces this script's
#                       own setting of KEY (e.g. --mca btl tcp,vader,self)
#   --dry-run           print the mpirun command, run nothing
#
# The daemons stay attached to their agent (orte_leave_session_attached): a
# daemon that fails to start fails the launch at once, with its own error,
# where a daemonized one would leave mpirun waiting for it forever. The price:
# one ssh per host stays open for the whole job (a dropped ssh connection ends
# the job like a lost host; keep it alive with ssh's ServerAliveInterval).
#
# Relaunch a run until it completes (a dead host is left out of the relaunch):
#   cluster/run-until-done.sh out/run1 -- cluster/mpirun-hosts.sh --hostfile hosts \
#       --net 10.1.0.0/24 --skip-unreachable 9 build/fedmeta train ... --out out/run1
# Exit: mpirun's status; 124 when the abort guard killed mpirun; 2 usage error.
# $MPIRUN names the mpirun to use (default: mpirun in PATH).
set -uo pipefail
hostfile=
net=
agent="ssh -o BatchMode=yes -o ConnectTimeout=10"
ports=
skip=0
grace=30
dry=0
extra=()
given=" "
usage() { echo "usage: $0 --hostfile F [--net CIDR] [--agent CMD] [--ports P[:N]] [--skip-unreachable] [--abort-grace S] [--mca K V]... [--dry-run] NRANKS PROGRAM [ARGS...]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --hostfile) hostfile=${2:-}; shift 2 || usage ;;
    --net) net=${2:-}; shift 2 || usage ;;
    --agent) agent=${2:-}; shift 2 || usage ;;
    --ports) ports=${2:-}; shift 2 || usage ;;
    --skip-unreachable) skip=1; shift ;;
    --abort-grace) grace=${2:-}; shift 2 || usage ;;
    --mca) [ $# -ge 3 ] || usage; extra+=(--mca "$2" "$3"); given+=" $2 "; shift 3 ;;
    --dry-run) dry=1; shift ;;
    --help|-h) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "mpirun-hosts: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || usage
n=$1
shift
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || { echo "mpirun-hosts: NRANKS must be a positive number, not '$n'" >&2; exit 2; }
[ -n "$hostfile" ] && [ -r "$hostfile" ] || { echo "mpirun-hosts: --hostfile: no readable hostfile '${hostfile}'" >&2; exit 2; }
[[ "$grace" =~ ^[0-9]+$ ]] || { echo "mpirun-hosts: --abort-grace wants whole seconds" >&2; exit 2; }
if [ -n "$net" ] && ! [[ "$net" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$ ]]; then
  echo "mpirun-hosts: --net wants an IPv4 network like 10.1.0.0/24" >&2
  exit 2
fi
mca=()
setting() { # setting KEY VALUE: an MCA setting of this script, unless --mca gave KEY
  case "$given" in *" $1 "*) ;; *) mca+=(--mca "$1" "$2") ;; esac
}
setting pml ob1
setting btl tcp,self
setting plm_rsh_agent "$agent"
setting plm_rsh_no_tree_spawn 1
# each daemon stays attached to its agent instead of daemonizing: a daemon that
# dies at start-up (e.g. it cannot make its session directory) ends the launch
# with its own error message; a daemonized one dies silently and mpirun waits
# for it forever
setting orte_leave_session_attached 1
# attached daemons keep their ssh open for the whole job, and Open MPI refuses
# more of them than plm_rsh_num_concurrent (default 128): allow every host
nh=$(grep -cv '^[[:space:]]*\(#\|$\)' "$hostfile" || true)
[ "${nh:-0}" -le 128 ] || setting plm_rsh_num_concurrent "$nh"
[ -z "$net" ] || { setting btl_tcp_if_include "$net"; setting oob_tcp_if_include "$net"; }
if [ -n "$ports" ]; then
  p=${ports%%:*}
  k=16
  [ "$p" = "$ports" ] || k=${ports#*:}
  [[ "$p" =~ ^[0-9]+$ ]] && [[ "$k" =~ ^[0-9]+$ ]] && [ "$p" -ge 1024 ] && [ "$k" -ge 1 ] && [ $((p + k)) -le 65535 ] ||
    { echo "mpirun-hosts: --ports wants P[:N] with 1024 <= P and P+N <= 65535" >&2; exit 2; }
  setting oob_tcp_static_ipv4_ports "$p"
  setting btl_tcp_port_min_v4 $((p + 1))
  setting btl_tcp_port_range_v4 "$k"
  setting btl_tcp_disable_family 6
fi
# ranks started by ssh do not inherit this environment: pass on what changes results or speed
envs=()
for v in OPENBLAS_NUM_THREADS OPENBLAS_CORETYPE OMP_NUM_THREADS; do
  [ -z "${!v+x}" ] || envs+=(-x "$v")
done
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mpirun-hosts.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
hosts=$hostfile
if [ $skip = 1 ]; then
  # shellcheck disable=SC2086 # the agent is a command line
  grep -v '^[[:space:]]*\(#\|$\)' "$hostfile" | while read -r h rest; do
    if [ -n "${first:-}" ] && ! timeout 30 $agent "$h" true < /dev/null > /dev/null 2> "$tmp/why"; then
      echo "mpirun-hosts: leaving out $h: unreachable ($(tr '\n' ' ' < "$tmp/why"))" >&2
    else
      echo "$h $rest"
    fi
    first=1
  done > "$tmp/hosts"
  hosts=$tmp/hosts
fi
cmd=("${MPIRUN:-mpirun}" --hostfile "$hosts" -n "$n" --map-by node --bind-to none --mca mpi_yield_when_idle 1
     "${mca[@]}" "${extra[@]}" "${envs[@]}" "$@")
if [ $dry = 1 ]; then
  [ $skip = 0 ] || sed 's/^/# host: /' "$hosts"
  printf '%q ' "${cmd[@]}"
  echo
  exit 0
fi

. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/proc-tree.sh" # tree PID: PID and its descendants

# mpirun's stderr goes through a reader that notes when an abort began
mkfifo "$tmp/err"
"${cmd[@]}" 2> "$tmp/err" &
pid=$!
while IFS= read -r line; do
  printf '%s\n' "$line" >&2
  case "$line" in
    *"MPI_ABORT was invoked"*|*"ORTE has lost communication"*|"fedmeta: "*" did not finish within "*)
      [ -s "$tmp/abort" ] || date +%s > "$tmp/abort" ;;
  esac
done < "$tmp/err" &
reader=$!
killed=0
# a signal to this script goes on to mpirun (which then stops the job)
interrupted=0
trap 'interrupted=1; kill -TERM "$pid" 2> /dev/null' TERM INT HUP
while kill -0 "$pid" 2> /dev/null; do
  if [ "$grace" -gt 0 ] && [ -s "$tmp/abort" ] && [ $(($(date +%s) - $(cat "$tmp/abort"))) -ge "$grace" ]; then
    echo "mpirun-hosts: mpirun is still running $grace s after the job began to abort (an unreachable host?): killing it" >&2
    all=$(tree "$pid") # mpirun, the ranks on this host, the agents (ssh, alive for the whole job
                       # since the daemons stay attached): orphaned once mpirun is gone
    kill -TERM "$pid" 2> /dev/null
    sleep 1
    kill -TERM "$pid" 2> /dev/null # a second signal ends mpirun's own wait for the abort
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2> /dev/null || break; sleep 0.5; done
    # shellcheck disable=SC2086 # one pid per word
    kill -KILL $all 2> /dev/null
    killed=1
    break
  fi
  sleep 0.2
done
wait "$pid"
code=$?
# a process started by mpirun may still hold the pipe open: do not wait for it long
for _ in $(seq 1 25); do kill -0 "$reader" 2> /dev/null || break; sleep 0.2; done
kill "$reader" 2> /dev/null
wait "$reader" 2> /dev/null
[ $killed = 0 ] || code=124
[ $interrupted = 0 ] || [ "$code" != 0 ] || code=143 # mpirun may exit 0 when stopped by a signal
exit $code
