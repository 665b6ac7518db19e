#!/bin/bash
# cluster/netns/exec.sh: run a command as a process of one namespace host of
# hosts-up.sh: in its network namespace, with the host's own temporary
# directory (/run/fedmeta-netns/NS, made by hosts-up.sh) as TMPDIR, as if the
# host had its own /tmp. agent.sh (the ssh stand-in) and the tests use it.
#
#   usage: cluster/netns/exec.sh NS COMMAND [ARGS...]      e.g. exec.sh fmh-h0 hostname
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 NS COMMAND [ARGS...]" >&2; exit 2; }
ns=$1
shift
tmp=/run/fedmeta-netns/$ns
if [ -d "$tmp" ]; then
  exec ip netns exec "$ns" env TMPDIR="$tmp" "$@"
fi
exec ip netns exec "$ns" "$@"
