#!/bin/bash
# cluster/netns/hosts-down.sh: remove the namespace hosts of hosts-up.sh:
# stop every process still running inside them (TERM, then KILL after 2 s),
# then delete the namespaces (their veth pairs and bridge go with them) and
# the hosts' temporary directories (/run/fedmeta-netns/P-h<i>, also of
# namespaces already gone).
#
#   usage: cluster/netns/hosts-down.sh [--prefix P]     (default prefix fmh)
#
# Idempotent: nothing to remove is not an error. Touches only namespaces named
# P-h<number> and P-sw, so other prefixes (parallel runs) are left alone.
set -uo pipefail
prefix=fmh
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --help|-h) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--prefix P]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "hosts-down: needs root (ip netns)" >&2; exit 1; }
mine=$(ip netns list 2> /dev/null | awk '{print $1}' | grep -E "^$(printf '%s' "$prefix" | sed 's/[.]/\\./g')-(h[0-9]+|sw)$" || true)
# the hosts' temporary directories, also of namespaces already gone
rm -rf "/run/fedmeta-netns/$prefix"-h* 2> /dev/null
rmdir /run/fedmeta-netns 2> /dev/null
[ -n "$mine" ] || exit 0
pids() { for ns in $mine; do ip netns pids "$ns" 2> /dev/null; done | sort -u; }
p=$(pids)
if [ -n "$p" ]; then
  kill -TERM $p 2> /dev/null
  for _ in $(seq 1 20); do
    [ -n "$(pids)" ] || break
    sleep 0.1
  done
  p=$(pids)
  [ -z "$p" ] || kill -KILL $p 2> /dev/null
fi
for ns in $mine; do
  ip netns del "$ns" 2> /dev/null || true
  echo "removed $ns"
done
