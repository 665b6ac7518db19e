#!/bin/bash
# bench/secure_overhead.sh: the cost of sealing and of secure aggregation, as
# the ratio of the median training-round time to the plain round's, for 4, 8
# and 16 training platforms (the synthetic market with one industry more,
# which is held out) and a shared model of about 1 M parameters (buckets 2^15 x
# dim 32).
#
# On a shared machine the load moves while the benchmark runs, so the modes
# are interleaved: each repetition runs plain, sealed, secagg and SecAgg+ back
# to back. A round time is the median over rounds 2..R of all repetitions
# (round 1 warms up); a ratio is the median over repetitions of the ratio to
# the plain run of the same repetition (runs seconds apart, under the same
# load), so a load that moves between repetitions cancels.
#
#   usage: bench/secure_overhead.sh [path/to/fedmeta] [ranks] [rounds] [inner-steps]
#   env:   PLATFORMS="4 8 16"  REPS=3  (repetitions per mode)
#          BASE=path/to/other/fedmeta  also run that build, interleaved with this one
#                     (each mode: this build, then BASE), and print its table too:
#                     before/after figures measured under the same load
#          BASE_RANKS=N  run BASE on N ranks instead of [ranks]; BASE_ENV="VAR=value ..."
#                     set these for the BASE runs only. BASE may be this same build: e.g.
#                     BASE=build/fedmeta BASE_RANKS=3 (2 against 3 ranks, interleaved) or
#                     BASE_ENV=FEDMETA_SECAGG_THREAD=off (the masks' helper thread on/off)
#          PLUS_K=2   SecAgg+'s neighbours per party (even; 2 by default)
#          PROFILE=1  also print the per-stage timings (FEDMETA_PROFILE, common/prof.h)
#                     of the last repetition: ms per round, wall/cpu, per rank
# Each table is followed by where the secure-aggregation masks were made (a
# helper thread or the main thread, FEDMETA_SECAGG_THREAD; worker/secagg_worker.c).
set -euo pipefail
BIN=${1:-build/fedmeta}
RANKS=${2:-3}
ROUNDS=${3:-8}
INNER=${4:-20}
PLATFORMS=${PLATFORMS:-4 8 16}
REPS=${REPS:-3}
PLUS_K=${PLUS_K:-2}
OUT=$(mktemp -d /tmp/fedmeta-secbench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
[ "${PROFILE:-0}" = 1 ] && export FEDMETA_PROFILE=1
COMMON="--users 2000 --scale 0.5 --buckets-log2 15 --dim 32 --hidden 64 --rounds $ROUNDS --inner-steps $INNER --eval-every 0
        --ft-steps 0 --local-steps 0"
MODES="plain seal secagg plus"
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'; }
rounds_of() { # round_s of rounds 2.. of one run
  tail -n +2 "$1" | grep -o '"round_s":[0-9.]*' | cut -d: -f2
}
engine=$("$BIN" --version 2> /dev/null | grep -o 'bulk crypto: [a-z]*' || true)
echo "# secure_overhead: $(date -u '+%F %H:%M UTC'), $(nproc) cores, $(lscpu | grep 'Model name' | sed 's/.*: *//'), $RANKS ranks, $INNER inner steps, $ROUNDS rounds x $REPS repetitions${engine:+, $engine}"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
BUILDS="new"
[ -n "${BASE:-}" ] && BUILDS="new base"
bin_of() { if [ "$1" = base ]; then echo "$BASE"; else echo "$BIN"; fi; }
ranks_of() { if [ "$1" = base ]; then echo "${BASE_RANKS:-$RANKS}"; else echo "$RANKS"; fi; }
env_of() { if [ "$1" = base ]; then echo "${BASE_ENV:-}"; fi; }
header() {
  echo
  echo "| platforms | shared params | plain round (s) | sealed | ratio | sealed + secagg | ratio | secagg+ k=$PLUS_K | ratio |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
}
for n in $PLATFORMS; do
  ind=$((n + 1)) # one industry is held out
  for rep in $(seq 1 "$REPS"); do
    for mode in $MODES; do
      case $mode in
        plain) flags="--seal off" ;;
        seal) flags="--seal on" ;;
        secagg) flags="--seal on --secagg on" ;;
        plus) flags="--seal on --secagg on --secagg-neighbours $PLUS_K" ;;
      esac
      for b in $BUILDS; do
        run="$OUT/$b-$n-$mode-$rep"
        env $(env_of $b) mpirun -n "$(ranks_of $b)" --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 ${FEDMETA_PROFILE:+-x FEDMETA_PROFILE} \
          "$(bin_of $b)" train $COMMON --industries $ind $flags --verbose 1 --out "$run" < /dev/null > "$run.log" 2>&1
        rounds_of "$run/metrics.jsonl" >> "$OUT/$b-$n-$mode.rounds"
        rounds_of "$run/metrics.jsonl" | median > "$run.median"
      done
    done
    for b in $BUILDS; do
      for mode in $MODES; do
        awk -v a="$(cat "$OUT/$b-$n-$mode-$rep.median")" -v p="$(cat "$OUT/$b-$n-plain-$rep.median")" \
          'BEGIN { print a / p }' >> "$OUT/$b-$n-$mode.ratios"
      done
    done
  done
  for b in $BUILDS; do
    params=$(grep -o '[0-9]* shared parameters' "$OUT/$b-$n-plain-1.log" | cut -d' ' -f1)
    p=$(median < "$OUT/$b-$n-plain.rounds")
    s=$(median < "$OUT/$b-$n-seal.rounds")
    a=$(median < "$OUT/$b-$n-secagg.rounds")
    k=$(median < "$OUT/$b-$n-plus.rounds")
    rs=$(median < "$OUT/$b-$n-seal.ratios")
    ra=$(median < "$OUT/$b-$n-secagg.ratios")
    rk=$(median < "$OUT/$b-$n-plus.ratios")
    awk -v n="$n" -v d="$params" -v p="$p" -v s="$s" -v a="$a" -v k="$k" -v rs="$rs" -v ra="$ra" -v rk="$rk" 'BEGIN {
      printf "| %d | %d | %.3f | %.3f | %.2f | %.3f | %.2f | %.3f | %.2f |\n", n, d, p, s, rs, a, ra, k, rk }' \
      >> "$OUT/table-$b"
    for mode in secagg plus; do
      { grep -o "secure aggregation masks on a helper thread.*" "$OUT/$b-$n-$mode-1.log" || echo "(no helper-thread line)"; } |
        sed "s/^/#   $n platforms, $mode: /" >> "$OUT/thread-$b"
    done
    if [ -n "${FEDMETA_PROFILE:-}" ]; then
      for mode in $MODES; do
        { grep "fedmeta profile" "$OUT/$b-$n-$mode-$REPS.log" || true; } | sed "s/^fedmeta profile /#   $b $n $mode: /" >> "$OUT/profile"
      done
    fi
  done
done
for b in $BUILDS; do
  [ "$BUILDS" != new ] && echo && echo "## $(if [ $b = base ]; then echo "BASE: ${BASE_ENV:+$BASE_ENV }$BASE, $(ranks_of base) ranks"; else echo "this build: $BIN, $RANKS ranks"; fi)"
  header
  cat "$OUT/table-$b"
  echo
  cat "$OUT/thread-$b"
done
[ -f "$OUT/profile" ] && echo && cat "$OUT/profile"
echo
echo "# load average at end ($(date -u +%H:%M) UTC): $(cut -d' ' -f1-3 /proc/loadavg)"
