#!/bin/sh
# tests/tsan-prefix.sh BIN: prints what `make test-tsan` runs ctest under so that
# the ThreadSanitizer build BIN can start: nothing, or `setarch ARCH -R` (no
# address-space randomisation) on kernels whose mmap randomisation is wider
# than gcc 12's TSan runtime expects (vm.mmap_rnd_bits > 28: "unexpected memory
# mapping" or a crash at start). Fails, saying why, if neither works.
bin=$1
if "$bin" --version > /dev/null 2>&1; then
  exit 0
fi
if setarch "$(uname -m)" -R "$bin" --version > /dev/null 2>&1; then
  echo "setarch $(uname -m) -R"
  exit 0
fi
{
  echo "test-tsan: $bin (ThreadSanitizer) does not start, even without address-space randomisation."
  echo "Its first lines of output:"
  "$bin" --version 2>&1 | head -5
  echo "If it is the kernel's mmap randomisation (vm.mmap_rnd_bits = $(cat /proc/sys/vm/mmap_rnd_bits 2> /dev/null || echo '?')," \
    "more than 28), as root 'sysctl -w vm.mmap_rnd_bits=28' lets it run."
} >&2
exit 1
