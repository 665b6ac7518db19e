#!/bin/bash
# cluster/netns/hosts-up.sh: make N "hosts" on this machine, each a network
# namespace with its own address, joined by veth pairs to a switch (a bridge in
# a namespace of its own, so the machine's own network is never touched).
#
#   usage: cluster/netns/hosts-up.sh [--prefix P] [--subnet A.B.C] [--firewall PORTS] N
#
#   namespace P-h0 .. P-h<N-1>  interface eth0, address A.B.C.<i+1>/24
#   namespace P-sw              bridge br0 with one port h<i> per host
#   directory /run/fedmeta-netns/P-h<i>   the host's own temporary directory (under
#                               /run, root's, not the world-writable /tmp):
#                               agent.sh runs commands there with TMPDIR set to
#                               it, so Open MPI's session directories of two
#                               hosts never share a parent (on one /tmp, a job
#                               cleaning up removes the tree another host's
#                               daemon is creating, and that daemon dies)
#
# --firewall PORTS: every host drops incoming TCP connections except to PORTS
# (e.g. 22,47000-47016), as a host firewall would: nftables in the host's
# namespace (needs nft, Debian package nftables).
# Defaults: --prefix fmh, --subnet 10.77.0, no firewall. Prints
# "NAMESPACE ADDRESS" per host. Idempotent: hosts of this prefix that already
# exist are removed first (hosts-down.sh, which also stops the processes left
# in them), so a rerun or a leftover of a killed run gives the same fresh set.
# Different prefixes are independent (each has its own switch; they may even
# reuse the subnet).
# Cut host i's link at the switch like a pulled cable (host i sees no carrier;
# the others see nothing: their packets to it are lost):
#   ip -n P-sw link set h<i> down        (and "up" to restore it)
# Run a command on host i:  exec.sh P-h<i> CMD ARGS...   (with the host's TMPDIR),
# or agent.sh h<i> 'CMD'  (a shell command line, as ssh would run it)
# Needs root and iproute2.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=fmh
subnet=10.77.0
firewall=
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --subnet) subnet=$2; shift 2 ;;
    --firewall) firewall=$2; shift 2 ;;
    --help|-h) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) break ;;
  esac
done
n=${1:-}
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 250 ] ||
  { echo "usage: $0 [--prefix P] [--subnet A.B.C] [--firewall PORTS] N (1..250)" >&2; exit 2; }
[[ "$prefix" =~ ^[A-Za-z0-9_.]+(-[A-Za-z0-9_.]+)*$ ]] || { echo "hosts-up: bad --prefix '$prefix'" >&2; exit 2; }
[[ "$subnet" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "hosts-up: --subnet wants three octets, e.g. 10.77.0" >&2; exit 2; }
[ -z "$firewall" ] || [[ "$firewall" =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] ||
  { echo "hosts-up: --firewall wants ports like 22,47000-47016" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "hosts-up: needs root (ip netns)" >&2; exit 1; }
command -v ip > /dev/null || { echo "hosts-up: no 'ip' command: apt-get install iproute2" >&2; exit 1; }
[ -z "$firewall" ] || command -v nft > /dev/null || { echo "hosts-up: --firewall needs nft: apt-get install nftables" >&2; exit 1; }

"$here/hosts-down.sh" --prefix "$prefix" > /dev/null
sw="$prefix-sw"
ip netns add "$sw"
ip -n "$sw" link set lo up
ip -n "$sw" link add br0 type bridge
ip -n "$sw" link set br0 up
for i in $(seq 0 $((n - 1))); do
  ns="$prefix-h$i"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # both ends are created directly inside their namespaces: no temporary
  # names in the machine's namespace, so parallel runs cannot collide
  ip -n "$sw" link add "h$i" type veth peer name eth0 netns "$ns"
  ip -n "$sw" link set "h$i" master br0 up
  ip -n "$ns" addr add "$subnet.$((i + 1))/24" dev eth0
  ip -n "$ns" link set eth0 up
  rm -rf "/run/fedmeta-netns/$ns"
  mkdir -p -m 0700 "/run/fedmeta-netns/$ns"
  if [ -n "$firewall" ]; then
    ip netns exec "$ns" nft -f - << RULES
table inet fedmeta_fw {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif lo accept
    meta l4proto { icmp, ipv6-icmp } accept
    tcp dport { ${firewall//,/, } } accept
  }
}
RULES
  fi
  echo "$ns $subnet.$((i + 1))"
done
