# tests/mpi/common.sh: helpers for the MPI integration tests (sourced).
set -euo pipefail
BIN=${1:?usage: test.sh path/to/fedmeta [mpiexec]}
MPIEXEC=${2:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
TMP=$(mktemp -d /tmp/fedmeta-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
# A small market so each run takes seconds on 2 cores.
MARKET="--industries 6 --users 800 --scale 0.3"
SMALL="$MARKET --dim 16 --hidden 32 --buckets-log2 12 --batch 64 --negatives 64 --verbose 0"
run() { # run NRANKS fedmeta-args...
  local n=$1; shift
  timeout 300 "$MPIEXEC" -n "$n" --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 "$BIN" "$@"
}
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { # expect CODE PATTERN command...: exit CODE and PATTERN on stderr
  local code=$1 pat=$2; shift 2
  set +e
  "$@" > "$TMP/expect.out" 2> "$TMP/expect.err"
  local got=$?
  set -e
  [ "$got" = "$code" ] || { cat "$TMP/expect.err"; fail "exit $got, expected $code: $*"; }
  grep -q -- "$pat" "$TMP/expect.err" || { cat "$TMP/expect.err"; fail "stderr lacks '$pat': $*"; }
}
