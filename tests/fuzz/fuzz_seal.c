/* tests/fuzz/fuzz_seal.c: libFuzzer harness for the sealed-message path
 * (common/seal.h): seal_open -> msg_*_unpack -> the message checks of
 * fuzz_msg_check.h, and the handshake check seal_handshake_verify.
 *
 * Two fixed identities (party 0, the coordinator, and party 1, a platform;
 * secrets from constant bytes) and their sessions for one job are made once;
 * every input starts from the same session state (seq 0), so runs repeat.
 *
 * Input: a mode byte, then per mode:
 *   bits 0-1  0  the rest is a sealed message, opened as it is (header, length,
 *                round and replay checks; the tag almost never verifies)
 *             1  u32 round, u32 stage, then a plaintext that the harness seals
 *                with the sender's session and opens with the receiver's, so
 *                that mutations reach the message decoders behind the tag
 *             2  the rest is a handshake blob, verified as party 1's
 *             3  as 1, then one byte of the sealed message (at the position the
 *                next input byte gives) is flipped: it must be refused
 *   bit 2     direction: 0 platform -> coordinator (receiver accepts exactly its
 *             round), 1 coordinator -> platform (receiver follows the rounds)
 *   bit 3     (modes 0, 1, 3) the split layout (seal_seal_split /
 *             seal_open_split): in modes 1 and 3 the first half of the
 *             plaintext goes as the clear part, which must come back as sent
 *   bits 4-5  for a plan, the number of floats of theta the receiver expects
 * The message kind after a successful open is the header's stage mod 4 (plan,
 * hello, delta, eval). An opened message opened a second time must be refused
 * as a replay. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/seal.h"
#include "tests/fuzz/fuzz_msg_check.h"

#define JOB 0x0123456789abcdefULL

static seal_identity_t g_id[2];
static seal_session_t g_sess[2]; /* g_sess[p]: party p's session with the other */

static void setup(void) {
  fm_err err;
  if (seal_init(&err)) abort();
  for (int p = 0; p < 2; p++) {
    uint8_t seed[SEAL_SIGN_SEEDBYTES], kx[SEAL_KX_SKBYTES];
    for (unsigned i = 0; i < sizeof seed; i++) seed[i] = (uint8_t)(17 * p + i + 1);
    for (unsigned i = 0; i < sizeof kx; i++) kx[i] = (uint8_t)(91 * p + 3 * i + 5);
    if (seal_identity_from_secret(&g_id[p], seed, kx, &err)) {
      fprintf(stderr, "fuzz_seal: %s\n", err.msg);
      abort();
    }
  }
  for (int p = 0; p < 2; p++)
    if (seal_session_init(&g_sess[p], &g_id[p], (uint32_t)p, g_id[1 - p].kx_pk, (uint32_t)(1 - p), JOB, &err)) {
      fprintf(stderr, "fuzz_seal: %s\n", err.msg);
      abort();
    }
}

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Opens msg with the receiver's session; on success checks the plaintext as a
 * message and that a second open is refused as a replay. Returns seal_open's code. */
static int open_and_check(seal_session_t *rx, const uint8_t *msg, size_t len, size_t d) {
  size_t cap = len > SEAL_OVERHEAD ? len - SEAL_OVERHEAD : 1;
  uint8_t *plain = malloc(cap);
  if (!plain) abort();
  size_t plain_len = 0;
  seal_hdr_t h;
  fm_err err;
  int rc = seal_open(plain, cap, &plain_len, &h, rx, SEAL_ANY_STAGE, msg, len, &err);
  if (rc == 0) {
    FUZZ_CHECK(plain_len + SEAL_OVERHEAD == len, "plaintext of %zu bytes from %zu", plain_len, len);
    FUZZ_CHECK(h.job == JOB && h.sender == rx->peer && h.receiver == rx->self, "header not checked");
    FUZZ_CHECK(rx->rx_seq == h.seq, "receive state did not move");
    fuzz_msg_check((int)(h.stage & 3), plain, plain_len, d);
    size_t again_len;
    int rc2 = seal_open(plain, cap, &again_len, NULL, rx, SEAL_ANY_STAGE, msg, len, &err);
    FUZZ_CHECK(rc2 == SEAL_EREPLAY, "a replayed message gave %d (%s)", rc2, seal_strerror(rc2));
  } else {
    FUZZ_CHECK(rc < 0 && plain_len == 0, "refusal %d with plaintext length %zu", rc, plain_len);
    FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL, "error message not terminated");
  }
  free(plain);
  return rc;
}

/* The same for a split message; clear / clear_len: what must come back as the
 * clear part (NULL: not known, mode 0). Returns seal_open_split's code. */
static int open_split_and_check(seal_session_t *rx, const uint8_t *msg, size_t len, size_t d, const uint8_t *want,
                                size_t want_len) {
  size_t cap = len > SEAL_SPLIT_CLEAR_OFF + SEAL_MACBYTES ? len - SEAL_SPLIT_CLEAR_OFF - SEAL_MACBYTES : 1;
  uint8_t *plain = malloc(cap);
  if (!plain) abort();
  size_t plain_len = 0, clear_len = 0;
  const uint8_t *clear = NULL;
  seal_hdr_t h;
  fm_err err;
  int rc = seal_open_split(plain, cap, &plain_len, &clear, &clear_len, &h, rx, SEAL_ANY_STAGE, msg, len, &err);
  if (rc == 0) {
    FUZZ_CHECK(seal_split_len(plain_len, clear_len) == len, "split: %zu + %zu bytes from %zu", plain_len, clear_len,
               len);
    FUZZ_CHECK(clear == msg + SEAL_SPLIT_CLEAR_OFF, "clear part not where the layout puts it");
    FUZZ_CHECK(!want || (clear_len == want_len && !memcmp(clear, want, want_len)), "clear part changed");
    FUZZ_CHECK(h.job == JOB && h.sender == rx->peer && h.receiver == rx->self, "header not checked");
    FUZZ_CHECK(rx->rx_seq == h.seq, "receive state did not move");
    fuzz_msg_check((int)(h.stage & 3), plain, plain_len, d);
    size_t again_len, again_cl;
    const uint8_t *again_c;
    int rc2 = seal_open_split(plain, cap, &again_len, &again_c, &again_cl, NULL, rx, SEAL_ANY_STAGE, msg, len, &err);
    FUZZ_CHECK(rc2 == SEAL_EREPLAY, "a replayed split message gave %d (%s)", rc2, seal_strerror(rc2));
  } else {
    FUZZ_CHECK(rc < 0 && plain_len == 0 && clear == NULL && clear_len == 0, "refusal %d with output", rc);
    FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL, "error message not terminated");
  }
  free(plain);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready = 0;
  if (!ready) {
    setup();
    ready = 1;
  }
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const int dir = (mode >> 2) & 1;           /* 0: 1 -> 0, 1: 0 -> 1 */
  seal_session_t *tx = &g_sess[dir ? 0 : 1], *rx = &g_sess[dir ? 1 : 0];
  const size_t d = PLAN_D[(mode >> 4) & 3];
  const int split = (mode >> 3) & 1;
  data++;
  size--;
  /* the same state for every input */
  tx->tx_seq = 0;
  rx->rx_seq = 0;
  seal_session_set_round(rx, 0, dir ? SEAL_ROUND_FORWARD : SEAL_ROUND_EXACT);
  fm_err err;

  switch (mode & 3) {
  case 0:
    if (split) open_split_and_check(rx, data, size, d, NULL, 0);
    else open_and_check(rx, data, size, d);
    break;
  case 2: {
    uint8_t spk[SEAL_SIGN_PKBYTES], kpk[SEAL_KX_PKBYTES];
    int rc = seal_handshake_verify(spk, kpk, data, size, JOB, 1, g_id[1].sign_pk, NULL, &err);
    if (rc == 0)
      FUZZ_CHECK(!memcmp(spk, g_id[1].sign_pk, sizeof spk), "accepted a handshake with another signing key");
    break;
  }
  case 1:
  case 3: {
    const int tamper = (mode & 3) == 3;
    const size_t head = 8 + (size_t)tamper;
    if (size < head) return 0;
    uint32_t round = rd32(data), stage = rd32(data + 4);
    const uint8_t *plain = data + head;
    size_t plain_len = size - head;
    if (!dir) seal_session_set_round(rx, round, SEAL_ROUND_EXACT); /* the coordinator is in that round */
    size_t clear_len = split ? plain_len / 2 : 0, n = split ? seal_split_len(plain_len - clear_len, clear_len)
                                                            : seal_sealed_len(plain_len);
    uint8_t *msg = malloc(n);
    if (!msg) abort();
    if (split) {
      memcpy(msg + SEAL_SPLIT_CLEAR_OFF, plain, clear_len);
      FUZZ_CHECK(seal_seal_split(msg, n, tx, round, stage, plain + clear_len, plain_len - clear_len, clear_len, &err) == 0,
                 "seal split: %s", err.msg);
    } else {
      FUZZ_CHECK(seal_seal(msg, n, tx, round, stage, plain, plain_len, &err) == 0, "seal: %s", err.msg);
    }
    if (tamper) msg[data[8] % n] ^= 0x01;
    int rc = split ? open_split_and_check(rx, msg, n, d, tamper ? NULL : plain, clear_len) : open_and_check(rx, msg, n, d);
    if (tamper) FUZZ_CHECK(rc != 0, "a tampered message (byte %zu) opened", (size_t)(data[8] % n));
    else FUZZ_CHECK(rc == 0, "an intact sealed message was refused: %d", rc);
    free(msg);
    break;
  }
  }
  return 0;
}
