#!/bin/bash
# cluster/netns/agent.sh: Open MPI's remote launcher (plm_rsh_agent) for the
# namespace hosts of hosts-up.sh, in place of ssh. Open MPI calls it as it
# would call ssh:  agent.sh HOST COMMAND...  and this runs COMMAND (a shell
# command line, as ssh would pass it to the remote shell) inside HOST's
# network namespace: ip netns exec NS /bin/sh -c "COMMAND...".
#
#   mpirun --mca plm_rsh_agent "$PWD/cluster/netns/agent.sh" --hostfile H ...
#
# HOST may be a host's address (10.77.0.2), its namespace (fmh-h1) or its
# short name (h1). The prefix of the namespaces is $FEDMETA_NETNS_PREFIX if
# set, otherwise taken from the namespace this agent runs in (mpirun runs in
# one of the hosts, e.g. fmh-h0 gives fmh), otherwise fmh. Options before
# HOST (ssh style, e.g. -x) are ignored.
#
# Like ssh, it fails (exit 255, nothing run) when HOST is unknown or cannot be
# reached: when HOST's link, or the link of the host this agent runs on, has
# no carrier (hosts-up.sh's "ip -n P-sw link set h<i> down" cuts it). ip netns
# exec itself never crosses the network, so this check is what makes a cut
# host unreachable to the launcher, as it would be to ssh.
#
# COMMAND runs through exec.sh, with TMPDIR set to the host's own temporary
# directory (/run/fedmeta-netns/NS, made by hosts-up.sh), as if each host had
# its own /tmp: Open MPI keeps its session directories there.
set -uo pipefail
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
[ $# -ge 2 ] || { echo "usage: $0 HOST COMMAND..." >&2; exit 255; }
host=$1
shift
prefix=${FEDMETA_NETNS_PREFIX:-}
here_ns=$(ip netns identify $$ 2> /dev/null || true)
if [ -z "$prefix" ]; then
  case "$here_ns" in
    *-h[0-9]*|*-sw) prefix=${here_ns%-*} ;;
    *) prefix=fmh ;;
  esac
fi
ns=
if ip netns list | awk '{print $1}' | grep -qxF -- "$host"; then
  ns=$host
elif ip netns list | awk '{print $1}' | grep -qxF -- "$prefix-$host"; then
  ns=$prefix-$host
elif [[ "$host" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  for cand in $(ip netns list | awk '{print $1}' | grep -E "^$(printf '%s' "$prefix" | sed 's/[.]/\\./g')-h[0-9]+$"); do
    if ip -n "$cand" -4 -o addr show 2> /dev/null | grep -q " inet $host/"; then
      ns=$cand
      break
    fi
  done
fi
[ -n "$ns" ] || { echo "agent.sh: no namespace host '$host' (prefix $prefix; see hosts-up.sh)" >&2; exit 255; }
carrier() { ip -n "$1" -o link show eth0 2> /dev/null | grep -q 'LOWER_UP'; }
carrier "$ns" || { echo "agent.sh: $host ($ns): no carrier on its link (cut?): unreachable" >&2; exit 255; }
case "$here_ns" in
  "$prefix"-h[0-9]*) carrier "$here_ns" || { echo "agent.sh: this host ($here_ns) has no carrier on its link" >&2; exit 255; } ;;
esac
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/exec.sh" "$ns" /bin/sh -c "$*"
