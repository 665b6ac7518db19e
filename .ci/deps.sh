#!/bin/sh
# .ci/deps.sh: install the Debian 12 packages fedmeta needs, if missing.
# As root it runs apt-get; otherwise it prints the exact command to run.
#   sh .ci/deps.sh        what `make build/test/demo` need
#   sh .ci/deps.sh fuzz   the same plus clang and its libFuzzer runtime (`make fuzz-build`)
set -e
PKGS="build-essential cmake pkg-config libopenmpi-dev openmpi-bin libopenblas-dev \
libprotobuf-c-dev protobuf-c-compiler libsodium-dev libssl-dev"
# libFuzzer (libclang_rt.fuzzer) is in libclang-rt-14-dev, only "recommended" by clang.
FUZZ_PKGS="clang libclang-rt-14-dev"
[ "${1:-}" = fuzz ] && PKGS="$PKGS $FUZZ_PKGS"
[ -n "$FEDMETA_EXTRA_PKGS" ] && PKGS="$PKGS $FEDMETA_EXTRA_PKGS"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq $missing
else
  echo "fedmeta needs these Debian packages:$missing" >&2
  echo "run:  sudo apt-get install -y$missing" >&2
  exit 1
fi
