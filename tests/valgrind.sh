#!/bin/bash
# tests/valgrind.sh: a short training run (sealed, secure aggregation, DP) with
# every rank under valgrind memcheck; fails if any "definitely lost" or
# "indirectly lost" block was allocated from fedmeta's own code (Open MPI's
# components keep some allocations until exit; those are reported, not
# counted). Slow (minutes): run by `make valgrind`, not by `make test`.
#   usage: tests/valgrind.sh [path/to/fedmeta]
set -euo pipefail
BIN=${1:-build/fedmeta}
TMP=$(mktemp -d /tmp/fedmeta-valgrind.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
ARGS="--industries 5 --users 300 --scale 0.2 --dim 8 --hidden 16 --buckets-log2 8 --batch 16 --negatives 16
      --rounds 3 --inner-steps 2 --eval-every 2 --ft-steps 2 --local-steps 2 --verbose 0 --round-timeout 300"
mpirun -n 3 --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 \
  valgrind --leak-check=full --show-leak-kinds=definite,indirect --num-callers=30 --fullpath-after= \
  --log-file="$TMP/vg.%p" \
  "$BIN" train $ARGS --secagg on --dp-noise 0.5 --dp-test-seed 1 --out "$TMP/out" < /dev/null
# A leak is ours when the first frame above the allocator is in our sources.
ours=0
for f in "$TMP"/vg.*; do
  n=$(python3 - "$f" <<'PY'
import re, sys
ours, rec = 0, None
for line in open(sys.argv[1], errors="replace"):
    body = re.sub(r"^==\d+==\s?", "", line.rstrip("\n"))
    if re.search(r"(definitely|indirectly) lost in loss record", body):
        rec = [body]
    elif rec is not None:
        if body.strip() == "":
            frames = [l for l in rec if re.search(r"^\s*(at|by) 0x", l)]
            first = next((l for l in frames if not re.search(r"vg_replace_malloc|\b(malloc|calloc|realloc|strdup|free)\b \(", l)), "")
            if re.search(r"/(common|coordinator|worker|cli)/[A-Za-z0-9_]+\.c:", first):
                ours += 1
                print("\n".join(rec), file=sys.stderr)
            rec = None
        else:
            rec.append(body)
print(ours)
PY
)
  ours=$((ours + n))
  grep -E "definitely lost:|indirectly lost:" "$f" | sed "s|^|$(basename "$f"): |"
done
[ -s "$TMP/out/meta-model.pb" ] || { echo "valgrind: the run did not complete" >&2; exit 1; }
if [ "$ours" -gt 0 ]; then echo "valgrind: $ours leak record(s) from fedmeta's code (above)" >&2; exit 1; fi
echo "valgrind: no leaks from fedmeta's code"
