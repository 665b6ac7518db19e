#!/bin/bash
# bench/eval_before_after.sh: the full-ranking evaluation of an earlier commit
# against the current one, side by side in one eval_bench process (phase "old"
# next to "rank"; both must give the same metrics).
#
#   bash bench/eval_before_after.sh COMMIT [BUILD_DIR] [eval_bench flags...]
#     COMMIT     the commit whose common/metrics.c is "old" (e.g. 5d804f1: the
#                whole-catalogue sgemm blocks, before the tiled dot path)
#     BUILD_DIR  a configured build of the current tree (default build): its
#                libfedmeta_core.a and generated protobuf headers are used
# Writes BUILD_DIR/eval_bench_legacy and runs it with the given flags (default:
# --threads 1 --reps 5 --sort-users 0).
set -euo pipefail
COMMIT=${1:?usage: bench/eval_before_after.sh COMMIT [BUILD_DIR] [flags...]}
BUILD=${2:-build}
shift $(( $# >= 2 ? 2 : 1 ))
FLAGS=("$@")
[ ${#FLAGS[@]} -gt 0 ] || FLAGS=(--threads 1 --reps 5 --sort-users 0)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cmake --build "$BUILD" --target fedmeta_core > /dev/null
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# the old metrics.c with every public name prefixed by old_
git -C "$ROOT" show "$COMMIT:common/metrics.c" |
  sed 's/\bmetrics_\(user_from_scores\|rank_dot_block\|rank_dot_tiled\|rank_dot\|rank_popularity\|mean\|bootstrap_ndcg\|rank_scores\|dot_exact\|default_block\|default_tile\|top_dot\)\b/old_metrics_\1/g' \
  > "$TMP/old_metrics.c"
CFLAGS=(-O2 -g -std=c11 -D_POSIX_C_SOURCE=200809L -I"$ROOT" -I"$BUILD/proto" $(pkg-config --cflags openblas))
mpicc "${CFLAGS[@]}" -c "$TMP/old_metrics.c" -o "$TMP/old_metrics.o"
mpicc "${CFLAGS[@]}" -DEVAL_BENCH_LEGACY "$ROOT/bench/eval_bench.c" "$TMP/old_metrics.o" \
  "$BUILD/libfedmeta_core.a" "$BUILD/libfedmeta_proto.a" \
  $(pkg-config --libs openblas libsodium libprotobuf-c) $(pkg-config --libs libcrypto 2>/dev/null || true) \
  -lm -lpthread -o "$BUILD/eval_bench_legacy"
echo "old: common/metrics.c of $(git -C "$ROOT" log -1 --format='%h %cs' "$COMMIT"); new: the working tree"
"$BUILD/eval_bench_legacy" "${FLAGS[@]}"
