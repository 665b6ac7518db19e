#!/bin/bash
# bench/round_timeline.sh: where a round's wall time goes, message by message.
# Runs the same short training twice on the synthetic market (sealed, then
# sealed + secure aggregation) with FEDMETA_TRACE=1 (common/prof.h), and prints
# for one round every message and training event in milliseconds from the
# coordinator's plan, then the phases of the critical path side by side.
#
#   usage: bench/round_timeline.sh [path/to/fedmeta] [ranks] [platforms] [inner-steps]
#   env:   ROUND=4 (the round shown; rounds 1..ROUND+1 are run)
#          FLAGS="..." (extra train flags, e.g. "--secagg-neighbours 2")
# The model is the one of bench/secure_overhead.sh (1,061,057 shared parameters).
set -euo pipefail
BIN=${1:-build/fedmeta}
RANKS=${2:-2}
PLATFORMS=${3:-8}
INNER=${4:-20}
ROUND=${ROUND:-4}
[ "$ROUND" -ge 1 ] 2> /dev/null || { echo "round_timeline: ROUND=$ROUND, expected a round number >= 1" >&2; exit 2; }
OUT=$(mktemp -d /tmp/fedmeta-timeline.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
COMMON="--users 2000 --scale 0.5 --buckets-log2 15 --dim 32 --hidden 64 --rounds $((ROUND + 1)) --inner-steps $INNER
        --eval-every 0 --ft-steps 0 --local-steps 0 --industries $((PLATFORMS + 1)) ${FLAGS:-}"
echo "# round_timeline: $(date -u '+%F %H:%M UTC'), $(nproc) cores, $RANKS ranks, $PLATFORMS platforms, $INNER inner steps, round $ROUND; load $(cut -d' ' -f1-3 /proc/loadavg)"
for mode in sealed secagg; do
  flags="--seal on"
  [ $mode = secagg ] && flags="--seal on --secagg on"
  FEDMETA_TRACE=1 mpirun -n "$RANKS" --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 -x FEDMETA_TRACE \
    "$BIN" train $COMMON $flags --out "$OUT/$mode" < /dev/null > "$OUT/$mode.log" 2> "$OUT/$mode.trace" ||
    { cat "$OUT/$mode.log" "$OUT/$mode.trace" >&2; exit 1; }
done
python3 - "$OUT" "$ROUND" << 'PY'
import sys
out, rnd = sys.argv[1], int(sys.argv[2])
TAGS = {11: "plan", 12: "hello", 13: "delta", 14: "eval", 15: "bye", 18: "secagg"}
phases = {}
for mode in ("sealed", "secagg"):
    ev = []
    for line in open(f"{out}/{mode}.trace"):
        f = line.split()
        if len(f) == 12 and f[:2] == ["fedmeta", "trace"]:
            ev.append((float(f[2]), int(f[4]), f[5], int(f[7]), int(f[9]), int(f[11])))
    ev.sort()
    # a round's plan is posted to each worker in turn: a burst of rank 0's plan
    # posts with nothing of rank 0's between them is one round
    r0 = [e for e in ev if e[1] == 0]
    is_plan = [e[2] in ("post", "send") and e[4] == 11 for e in r0]
    plans = [e[0] for i, e in enumerate(r0) if is_plan[i] and not (i and is_plan[i - 1])]
    steps = [e[0] for e in ev if e[1] == 0 and e[2] == "stepped"]
    if len(plans) < rnd + 1:
        sys.exit(f"{mode}: {len(plans)} plans traced, round {rnd + 1} needed")
    t0, t1 = plans[rnd - 1], plans[rnd]
    # rank 0 posts a plan to every worker: keep the first post of each plan
    print(f"\n## {mode}, round {rnd}: ms from the coordinator's plan")
    seen_plan = False
    for t, r, what, peer, tag, n in ev:
        if t < t0 or t > t1:
            continue
        if r == 0 and what == "post" and tag == 11:
            if seen_plan:
                continue
            seen_plan = True
        kind = TAGS.get(tag, str(tag)) if what in ("post", "send", "recv") else ""
        who = f"platform {peer}" if what in ("training", "trained") else f"peer {peer}" if peer >= 0 else ""
        print(f"  {1e3 * (t - t0):8.2f}  rank {r}  {what:8s} {kind:7s} {who:12s} {n if n else '':>9}")
    w = [e for e in ev if t0 <= e[0] <= t1]
    start = min(e[0] for e in w if e[2] == "training")
    end = max(e[0] for e in w if e[2] == "trained")
    last = max(e[0] for e in w if e[1] == 0 and e[2] == "recv" and e[4] == 13)
    step = [s for s in steps if t0 <= s <= t1][0]
    phases[mode] = [start - t0, end - start, last - end, step - last, t1 - step, t1 - t0]
print("\n| phase (ms) | sealed | secagg | difference |\n|---|---:|---:|---:|")
names = ["plan posted -> first training begins", "first training begins -> last one ends",
         "last training ends -> coordinator has the last delta", "last delta -> outer step done",
         "outer step done -> next plan (metrics, packing the plan)", "plan to plan"]
for i, nm in enumerate(names):
    a, b = 1e3 * phases["sealed"][i], 1e3 * phases["secagg"][i]
    print(f"| {nm} | {a:.1f} | {b:.1f} | {b - a:+.1f} |")
PY
