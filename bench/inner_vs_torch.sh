#!/usr/bin/env bash
# bench/inner_vs_torch.sh: inner-loop training throughput of fedmeta against the
# same step written in PyTorch (bench/inner_torch.py), side by side, as ratios.
#
#   bash bench/inner_vs_torch.sh [BUILD_DIR [OUT_DIR [ROUNDS]]]
#       defaults: build-bench-inner, out/bench-inner, 5
#   SETTINGS="default large" THREADS="1 2" to choose what runs.
#
# For each setting (model + batch of `fedmeta train`):
#   1. bench/inner_bench (C, built here) writes a dump: settings, the platform's
#      data, the initial weights and the batches (users, positives, negatives)
#      of CHECK steps of the real trainer, with its losses;
#   2. inner_torch.py replays those steps from the same weights on the same
#      batches (variants sparse: sparse embeddings + SparseAdam + Adam, the same
#      maths; dense: dense embeddings + Adam everywhere, different maths for the
#      embedding rows) and prints the largest loss difference over the steps;
#      fedmeta at 2 OpenBLAS threads against 1 (the same bytes: 0), and for
#      scale, torch sparse at 2 threads against 1 (another summation order:
#      Adam amplifies last-bit differences of near-zero gradients into O(lr)
#      steps, so curves that agree bit for bit at first drift apart by ~1e-3
#      within 100 steps at the larger setting);
#   3. ROUNDS rounds, each timing fedmeta, torch sparse and torch dense one after
#      another in fresh processes, at 1 and at 2 threads (OPENBLAS_NUM_THREADS for
#      fedmeta; torch.set_num_threads + OMP_NUM_THREADS + OPENBLAS_NUM_THREADS for
#      torch; at 2 threads each runs twice, with the default waiting of idle
#      threads and with threads that sleep at once (OPENBLAS_THREAD_TIMEOUT=4,
#      and OMP_WAIT_POLICY=PASSIVE for torch), and the faster run counts).
#      The ratio is taken within a round (the machine is shared and noisy)
#      and the table gives the median over rounds, with the range; the last
#      column is the same ratio in process CPU time (all threads' time summed:
#      examples per core-second), less sensitive to other jobs on the machine.
# Needs Debian's python3-torch and python3-numpy (apt-get install -y python3-torch).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build-bench-inner}
OUT=${2:-out/bench-inner}
ROUNDS=${3:-5}
SETTINGS=${SETTINGS:-default large}
THREADS=${THREADS:-1 2}
CHECK=${CHECK:-100}
PY=${PY:-/usr/bin/python3}   # Debian's python3, which has python3-torch
cd "$ROOT"
mkdir -p "$OUT"

if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "inner_vs_torch: $PY cannot import torch and numpy; as root: apt-get install -y python3-torch python3-numpy" >&2
  exit 1
fi
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j2 --target inner_bench >/dev/null
BIN="$BUILD/inner_bench"

# name | flags of `fedmeta train` | timed steps fedmeta | timed steps torch | warm-up
setting_flags() {
  case $1 in
    default) echo "" ;;   # the defaults of `fedmeta train`
    large) echo "--scale 4 --dim 64 --hidden 256 --buckets-log2 16 --batch 512 --negatives 2048 --local-lr 0.001" ;;
    *) echo "inner_vs_torch: unknown setting $1" >&2; exit 2 ;;
  esac
}
setting_steps() {  # fedmeta steps, torch steps, warm-up steps
  case $1 in
    default) echo "600 200 20" ;;
    large) echo "60 20 5" ;;
  esac
}

rate() { awk '/^examples_per_s_median/ {print $2}' "$1"; }
cpurate() { awk '/^examples_per_cpu_s_median/ {print $2}' "$1"; }
# faster PREFIX: keeps in PREFIX.txt the faster of PREFIX.txt (default waiting)
# and PREFIX-passive.txt (threads sleep when they wait); the other is kept aside
faster() {
  if awk -v a="$(rate "$1-passive.txt")" -v b="$(rate "$1.txt")" 'BEGIN {exit !(a > b)}'; then
    mv "$1.txt" "$1-active.txt"
    cp "$1-passive.txt" "$1.txt"
  fi
}

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(uname -r); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "torch: $("$PY" -c 'import torch; print(torch.__version__)'); date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
CSV="$OUT/inner_vs_torch.csv"
echo "setting,threads,round,fedmeta_eps,torch_sparse_eps,torch_dense_eps,fedmeta_cpu_eps,torch_sparse_cpu_eps,torch_dense_cpu_eps" > "$CSV"
CHK="$OUT/loss_check.txt"
: > "$CHK"

for S in $SETTINGS; do
  FLAGS=$(setting_flags "$S")
  read -r CSTEPS TSTEPS WARM <<< "$(setting_steps "$S")"
  DUMP="$OUT/$S.bin"
  # shellcheck disable=SC2086
  OPENBLAS_NUM_THREADS=1 "$BIN" $FLAGS --bench-dump "$DUMP" --bench-check "$CHECK" > "$OUT/$S.fedmeta-check.txt"
  sed -n '1,2p' "$OUT/$S.fedmeta-check.txt" | sed "s/^/[$S] /"
  # shellcheck disable=SC2086
  OPENBLAS_NUM_THREADS=2 "$BIN" $FLAGS --bench-dump "$OUT/$S.t2.bin" --bench-check "$CHECK" > "$OUT/$S.fedmeta-t2-check.txt"
  paste <(grep '^loss' "$OUT/$S.fedmeta-check.txt") <(grep '^loss' "$OUT/$S.fedmeta-t2-check.txt") |
    awk -v s="$S" '{d = $3 - $6; if (d < 0) d = -d; if (d > m) m = d; if (NR <= 10 && d > m10) m10 = d}
      END {printf "%s fedmeta threads 2 vs fedmeta threads 1: max_abs_diff %.3g max_abs_diff_first10 %.3g\n", s, m, m10}' >> "$CHK"
  for V in sparse dense; do
    for T in $THREADS; do
      OMP_NUM_THREADS=$T OPENBLAS_NUM_THREADS=$T "$PY" bench/inner_torch.py "$DUMP" --variant "$V" \
        --threads "$T" --check > "$OUT/$S.torch-$V-$T-check.txt"
      echo "$S torch-$V threads $T: $(grep '^check' "$OUT/$S.torch-$V-$T-check.txt")" >> "$CHK"
    done
  done
  if [ -s "$OUT/$S.torch-sparse-1-check.txt" ] && [ -s "$OUT/$S.torch-sparse-2-check.txt" ]; then
    paste <(grep '^loss' "$OUT/$S.torch-sparse-1-check.txt") <(grep '^loss' "$OUT/$S.torch-sparse-2-check.txt") |
      awk -v s="$S" '{d = $3 - $7; if (d < 0) d = -d; if (d > m) m = d; if (NR <= 10 && d > m10) m10 = d}
        END {printf "%s torch-sparse threads 2 vs torch-sparse threads 1: max_abs_diff %.3g max_abs_diff_first10 %.3g\n", s, m, m10}' >> "$CHK"
  fi
  for T in $THREADS; do
    for R in $(seq 1 "$ROUNDS"); do
      # shellcheck disable=SC2086
      OPENBLAS_NUM_THREADS=$T "$BIN" $FLAGS --bench-steps "$CSTEPS" --bench-warmup "$WARM" --bench-reps 1 \
        > "$OUT/$S.fedmeta-$T-$R.txt"
      if [ "$T" -gt 1 ]; then
        # OpenBLAS's idle threads spin for 2^28 cycles before they sleep; 2^4:
        # the faster of the two counts (as for torch below)
        # shellcheck disable=SC2086
        OPENBLAS_THREAD_TIMEOUT=4 OPENBLAS_NUM_THREADS=$T "$BIN" $FLAGS --bench-steps "$CSTEPS" \
          --bench-warmup "$WARM" --bench-reps 1 > "$OUT/$S.fedmeta-$T-$R-passive.txt"
        faster "$OUT/$S.fedmeta-$T-$R"
      fi
      for V in sparse dense; do
        OMP_NUM_THREADS=$T OPENBLAS_NUM_THREADS=$T "$PY" bench/inner_torch.py "$DUMP" --variant "$V" \
          --threads "$T" --steps "$TSTEPS" --warmup "$WARM" --reps 1 > "$OUT/$S.torch-$V-$T-$R.txt"
        if [ "$T" -gt 1 ]; then
          # OpenMP (and OpenBLAS) threads that sleep instead of spinning when
          # they wait: much faster for torch on a shared machine
          OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4 OMP_NUM_THREADS=$T OPENBLAS_NUM_THREADS=$T \
            "$PY" bench/inner_torch.py "$DUMP" --variant "$V" --threads "$T" --steps "$TSTEPS" \
            --warmup "$WARM" --reps 1 > "$OUT/$S.torch-$V-$T-$R-passive.txt"
          faster "$OUT/$S.torch-$V-$T-$R"
        fi
      done
      F1="$OUT/$S.fedmeta-$T-$R.txt" F2="$OUT/$S.torch-sparse-$T-$R.txt" F3="$OUT/$S.torch-dense-$T-$R.txt"
      echo "$S,$T,$R,$(rate "$F1"),$(rate "$F2"),$(rate "$F3"),$(cpurate "$F1"),$(cpurate "$F2"),$(cpurate "$F3")" >> "$CSV"
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "loss agreement over the first $CHECK steps (same initial weights, same batches; fedmeta at 1 thread):"
sed 's/^/  /' "$CHK"
echo
# Medians over rounds of the rates and of the within-round ratios.
awk -F, 'NR > 1 {
  k = $1 SUBSEP $2; n[k]++; i = n[k]
  c[k, i] = $4; s[k, i] = $5; d[k, i] = $6; rs[k, i] = $4 / $5; rd[k, i] = $4 / $6
  cs[k, i] = $7 / $8; cd[k, i] = $7 / $9
  if (!(k in seen)) { seen[k] = 1; order[++m] = k }
}
function med(a, k, cnt,   j, x, t, y) {
  for (j = 1; j <= cnt; j++) x[j] = a[k, j]
  for (j = 2; j <= cnt; j++) { t = x[j]; for (y = j - 1; y >= 1 && x[y] > t; y--) x[y + 1] = x[y]; x[y + 1] = t }
  lo = x[1]; hi = x[cnt]
  return cnt % 2 ? x[(cnt + 1) / 2] : (x[cnt / 2] + x[cnt / 2 + 1]) / 2
}
END {
  printf "%-8s %7s %13s %17s %16s %21s %21s %15s\n", "setting", "threads", "fedmeta ex/s", "torch sparse ex/s", "torch dense ex/s", "fedmeta/sparse", "fedmeta/dense", "cpu: /sparse /dense"
  for (q = 1; q <= m; q++) {
    k = order[q]; split(k, kk, SUBSEP); cnt = n[k]
    mc = med(c, k, cnt); ms = med(s, k, cnt); md = med(d, k, cnt)
    r1 = med(rs, k, cnt); l1 = lo; h1 = hi
    r2 = med(rd, k, cnt); l2 = lo; h2 = hi
    r3 = med(cs, k, cnt); r4 = med(cd, k, cnt)
    printf "%-8s %7s %13.0f %17.0f %16.0f %7.2fx (%.2f-%.2f) %7.2fx (%.2f-%.2f) %6.2fx %6.2fx\n", kk[1], kk[2], mc, ms, md, r1, l1, h1, r2, l2, h2, r3, r4
  }
  printf "(medians over %d rounds; ratios taken within each round, range in brackets; cpu: the\n", cnt
  printf " ratio of examples per process-CPU-second, all threads summed)\n"
}' "$CSV"
echo "raw figures: $CSV"
