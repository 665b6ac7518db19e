/* tests/fuzz/fuzz_msg.c: libFuzzer harness for the wire message decoders of
 * common/msg.h (RoundPlan, Hello, Delta, EvalReport).
 *
 * Input: one selector byte, then the message bytes. Selector bits 0-1 pick the
 * message (0 plan, 1 hello, 2 delta, 3 eval); for a plan, bits 2-3 pick the
 * number of floats the receiver expects in theta (0, 1, 7 or 33). The four
 * messages share one harness because they share one decoder (protobuf-c) and
 * their corpora cross-pollinate.
 *
 * Beyond "no crash, no leak, no undefined behaviour": whatever a decoder
 * accepts must satisfy the checks it promises (stage in range, positive batch,
 * negatives and clip, theta of the expected size, payload in whole words),
 * and packing it again and unpacking that must give the same struct. */
#include "tests/fuzz/fuzz_msg_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const uint8_t sel = data[0];
  fuzz_msg_check(sel & 3, data + 1, size - 1, PLAN_D[(sel >> 2) & 3]);
  return 0;
}
