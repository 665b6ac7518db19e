# cluster/proc-tree.sh: tree PID, sourced by cluster/mpirun-hosts.sh and
# tests/cluster/test_multihost.sh to kill a launch and everything it started.

tree() { # tree PID: PID and all its descendants (from /proc: no procps needed)
  local f line rest kid
  echo "$1"
  for f in /proc/[0-9]*/stat; do
    { read -r line < "$f"; } 2> /dev/null || continue # gone since the glob
    rest=${line##*) }                  # after "(comm) ": state ppid ...
    set -- "$1" $rest
    [ "$3" = "$1" ] && { kid=${f#/proc/}; tree "${kid%/stat}"; }
  done
}
