/* tests/unit/test_seal.c: identities, handshake, session keys and sealed
 * messages: round trip both ways, every single-bit flip in header (associated
 * data), nonce, ciphertext and tag rejected, truncation, replay, reorder,
 * other-round, wrong-peer and other-job messages rejected with their own codes,
 * and the receive state unchanged by a rejected message. The bulk AEAD
 * (common/bulk.c: OpenSSL when built with it) against the XChaCha20-Poly1305
 * known answer and byte for byte against libsodium, in place and not. Split
 * messages (a clear, authenticated part): the layout against libsodium's
 * XChaCha20-Poly1305 with the clear part as associated data, every single-bit
 * flip and every truncation rejected, a split and a plain message never
 * opening as the other, replay, and the receive state unchanged. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bulk.h"
#include "common/seal.h"
#include "tests/check.h"

#define JOB 0x0123456789abcdefULL

static void test_identity_and_handshake(void) {
  fm_err err;
  seal_identity_t a, b;
  CHECK_OK(seal_identity_generate(&a, &err));
  CHECK_OK(seal_identity_generate(&b, &err));
  CHECK(memcmp(a.sign_pk, b.sign_pk, 32) != 0);

  /* export / re-import gives the same public keys */
  uint8_t seed[32], kx[32];
  seal_identity_export(seed, kx, &a);
  seal_identity_t a2;
  CHECK_OK(seal_identity_from_secret(&a2, seed, kx, &err));
  sodium_memzero(seed, sizeof seed);
  sodium_memzero(kx, sizeof kx);
  CHECK(memcmp(a.sign_pk, a2.sign_pk, 32) == 0 && memcmp(a.kx_pk, a2.kx_pk, 32) == 0);
  seal_identity_free(&a2);

  uint8_t hs[SEAL_HSBYTES], spk[32], kpk[32];
  CHECK_OK(seal_handshake_make(hs, &a, JOB, 3, &err));
  CHECK_OK(seal_handshake_verify(spk, kpk, hs, sizeof hs, JOB, 3, a.sign_pk, a.kx_pk, &err));
  CHECK(memcmp(spk, a.sign_pk, 32) == 0 && memcmp(kpk, a.kx_pk, 32) == 0);
  CHECK_OK(seal_handshake_verify(spk, kpk, hs, sizeof hs, JOB, 3, NULL, NULL, &err));
  /* not the pinned key */
  CHECK_EQ_INT(seal_handshake_verify(spk, kpk, hs, sizeof hs, JOB, 3, b.sign_pk, NULL, &err), SEAL_EKEY);
  CHECK(strstr(err.msg, "keyring") != NULL);
  CHECK_EQ_INT(seal_handshake_verify(spk, kpk, hs, sizeof hs, JOB, 3, NULL, b.kx_pk, &err), SEAL_EKEY);
  /* other job, other party, wrong length */
  CHECK_EQ_INT(seal_handshake_verify(spk, kpk, hs, sizeof hs, JOB + 1, 3, NULL, NULL, &err), SEAL_EHEADER);
  CHECK_EQ_INT(seal_handshake_verify(spk, kpk, hs, sizeof hs, JOB, 4, NULL, NULL, &err), SEAL_EHEADER);
  CHECK_EQ_INT(seal_handshake_verify(spk, kpk, hs, sizeof hs - 1, JOB, 3, NULL, NULL, &err), SEAL_ETRUNC);
  /* b claims a's keys but cannot sign for them: any flipped bit in the signed
   * part or the signature is refused */
  for (size_t i = 20; i < SEAL_HSBYTES; i++) {
    uint8_t t[SEAL_HSBYTES];
    memcpy(t, hs, sizeof t);
    t[i] ^= (uint8_t)(1u << (i % 8));
    int rc = seal_handshake_verify(spk, kpk, t, sizeof t, JOB, 3, NULL, NULL, &err);
    CHECK(rc == SEAL_EAUTH);
  }
  /* a substituted kx key with a's sign key pinned: signature fails */
  {
    uint8_t t[SEAL_HSBYTES];
    memcpy(t, hs, sizeof t);
    memcpy(t + 20 + 32, b.kx_pk, 32);
    CHECK_EQ_INT(seal_handshake_verify(spk, kpk, t, sizeof t, JOB, 3, a.sign_pk, NULL, &err), SEAL_EAUTH);
  }
  /* domain separation of signatures */
  uint8_t sig[64];
  const uint8_t m[5] = {1, 2, 3, 4, 5};
  CHECK_OK(seal_sign(sig, &a, "x", m, 5, &err));
  CHECK_OK(seal_verify(sig, a.sign_pk, "x", m, 5, &err));
  CHECK_EQ_INT(seal_verify(sig, a.sign_pk, "y", m, 5, &err), SEAL_EAUTH);
  CHECK_EQ_INT(seal_verify(sig, b.sign_pk, "x", m, 5, &err), SEAL_EAUTH);
  seal_identity_free(&a);
  seal_identity_free(&b);
  seal_identity_free(&b); /* twice is fine */
  seal_identity_free(NULL);
}

typedef struct pair {
  seal_identity_t ia, ib;
  seal_session_t a, b; /* a = party 0 (coordinator), b = party 5 */
} pair_t;

static void pair_init(pair_t *p) {
  fm_err err;
  CHECK_OK(seal_identity_generate(&p->ia, &err));
  CHECK_OK(seal_identity_generate(&p->ib, &err));
  CHECK_OK(seal_session_init(&p->a, &p->ia, 0, p->ib.kx_pk, 5, JOB, &err));
  CHECK_OK(seal_session_init(&p->b, &p->ib, 5, p->ia.kx_pk, 0, JOB, &err));
}

static void pair_free(pair_t *p) {
  seal_session_free(&p->a);
  seal_session_free(&p->b);
  seal_identity_free(&p->ia);
  seal_identity_free(&p->ib);
}

static void test_roundtrip(void) {
  fm_err err;
  pair_t p;
  pair_init(&p);
  uint8_t plain[300], msg[300 + SEAL_OVERHEAD], out[300];
  for (size_t i = 0; i < sizeof plain; i++) plain[i] = (uint8_t)(i * 7 + 1);
  seal_hdr_t h;
  size_t n;
  /* both directions, several messages, sizes 0..300 */
  for (int k = 0; k < 4; k++) {
    size_t len = (size_t)k * 100;
    CHECK_OK(seal_seal(msg, sizeof msg, &p.a, 0, 2, plain, len, &err));
    CHECK_OK(seal_open(out, sizeof out, &n, &h, &p.b, 2, msg, seal_sealed_len(len), &err));
    CHECK(n == len && memcmp(out, plain, len) == 0);
    CHECK(h.job == JOB && h.sender == 0 && h.receiver == 5 && h.seq == (uint64_t)k + 1 && h.stage == 2);
    CHECK_OK(seal_seal(msg, sizeof msg, &p.b, 0, 3, plain, len, &err));
    CHECK_OK(seal_open(out, sizeof out, &n, &h, &p.a, SEAL_ANY_STAGE, msg, seal_sealed_len(len), &err));
    CHECK(n == len && memcmp(out, plain, len) == 0);
  }
  /* the ciphertext does not contain the plaintext */
  CHECK_OK(seal_seal(msg, sizeof msg, &p.a, 0, 2, plain, 300, &err));
  CHECK(memcmp(msg + SEAL_HDRBYTES + SEAL_NONCEBYTES, plain, 300) != 0);
  /* a's own message does not open at a (wrong direction / wrong key) */
  CHECK(seal_open(out, sizeof out, &n, &h, &p.a, SEAL_ANY_STAGE, msg, seal_sealed_len(300), &err) < 0);
  CHECK_OK(seal_open(out, sizeof out, &n, &h, &p.b, 2, msg, seal_sealed_len(300), &err));
  /* output buffer too small */
  CHECK(seal_seal(msg, 10, &p.a, 0, 2, plain, 300, &err) == -1);
  pair_free(&p);
}

static void test_tamper(void) {
  fm_err err;
  pair_t p;
  pair_init(&p);
  enum { L = 40 };
  uint8_t plain[L], msg[L + SEAL_OVERHEAD], t[L + SEAL_OVERHEAD], out[L];
  memset(plain, 0x5a, sizeof plain);
  CHECK_OK(seal_seal(msg, sizeof msg, &p.a, 0, 1, plain, L, &err));
  size_t n;
  seal_hdr_t h;
  int counts[16] = {0};
  /* every bit of header (AD), nonce, ciphertext and tag */
  for (size_t bit = 0; bit < 8 * sizeof msg; bit++) {
    memcpy(t, msg, sizeof t);
    t[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    int rc = seal_open(out, sizeof out, &n, &h, &p.b, 1, t, sizeof t, &err);
    CHECK(rc < 0);
    counts[-rc]++;
    size_t byte = bit / 8;
    if (byte >= SEAL_HDRBYTES) CHECK_EQ_INT(rc, SEAL_EAUTH); /* nonce, ciphertext, tag */
    /* the seq field: a higher seq passes the replay check, fails the tag */
    if (byte >= 24 && byte < 32) CHECK(rc == SEAL_EAUTH || rc == SEAL_EREPLAY);
    if (byte < 8 || (byte >= 16 && byte < 24)) CHECK_EQ_INT(rc, SEAL_EHEADER); /* job, sender, receiver */
    if (byte >= 12 && byte < 16) CHECK_EQ_INT(rc, SEAL_ESTAGE);
    if (byte >= 8 && byte < 12) CHECK_EQ_INT(rc, SEAL_EROUND);
  }
  CHECK(counts[-SEAL_EAUTH] >= (int)(8 * (SEAL_NONCEBYTES + L + SEAL_MACBYTES)));
  /* with the stage and round checks off, a flipped stage or round bit still fails the tag */
  seal_session_set_round(&p.b, 0, SEAL_ROUND_FORWARD);
  for (size_t byte = 8; byte < 16; byte++) {
    memcpy(t, msg, sizeof t);
    t[byte] ^= 1;
    CHECK_EQ_INT(seal_open(out, sizeof out, &n, &h, &p.b, SEAL_ANY_STAGE, t, sizeof t, &err), SEAL_EAUTH);
    CHECK(strstr(err.msg, "authentication") != NULL);
  }
  seal_session_set_round(&p.b, 0, SEAL_ROUND_EXACT);
  /* truncation: every shorter length is refused; below the overhead with ETRUNC */
  for (size_t len = 0; len < sizeof msg; len++) {
    int rc = seal_open(out, sizeof out, &n, &h, &p.b, 1, msg, len, &err);
    CHECK_EQ_INT(rc, len < SEAL_OVERHEAD ? SEAL_ETRUNC : SEAL_EAUTH);
  }
  /* an extra byte appended */
  {
    uint8_t longer[sizeof msg + 1];
    memcpy(longer, msg, sizeof msg);
    longer[sizeof msg] = 0;
    uint8_t big[L + 1];
    CHECK_EQ_INT(seal_open(big, sizeof big, &n, &h, &p.b, 1, longer, sizeof longer, &err), SEAL_EAUTH);
  }
  /* the state did not move: the genuine message still opens, once */
  CHECK_EQ_INT(p.b.rx_seq, 0);
  CHECK_OK(seal_open(out, sizeof out, &n, &h, &p.b, 1, msg, sizeof msg, &err));
  CHECK(n == L && memcmp(out, plain, L) == 0);
  pair_free(&p);
}

static void test_replay_and_rounds(void) {
  fm_err err;
  pair_t p;
  pair_init(&p);
  uint8_t plain[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8];
  uint8_t m1[8 + SEAL_OVERHEAD], m2[8 + SEAL_OVERHEAD], m3[8 + SEAL_OVERHEAD], m4[8 + SEAL_OVERHEAD];
  size_t n;
  seal_hdr_t h;
  seal_session_set_round(&p.a, 7, SEAL_ROUND_EXACT); /* coordinator in round 7 */
  CHECK_OK(seal_seal(m1, sizeof m1, &p.b, 7, 1, plain, 8, &err));
  CHECK_OK(seal_seal(m2, sizeof m2, &p.b, 7, 1, plain, 8, &err));
  CHECK_OK(seal_seal(m3, sizeof m3, &p.b, 6, 1, plain, 8, &err)); /* a late message of round 6 */
  CHECK_OK(seal_seal(m4, sizeof m4, &p.b, 8, 1, plain, 8, &err)); /* from the future */
  /* reorder: m2 first, then m1 is refused */
  CHECK_OK(seal_open(out, sizeof out, &n, &h, &p.a, 1, m2, sizeof m2, &err));
  CHECK_EQ_INT(seal_open(out, sizeof out, &n, &h, &p.a, 1, m1, sizeof m1, &err), SEAL_EREPLAY);
  CHECK(strstr(err.msg, "replay") != NULL);
  /* replay of m2 */
  CHECK_EQ_INT(seal_open(out, sizeof out, &n, &h, &p.a, 1, m2, sizeof m2, &err), SEAL_EREPLAY);
  /* other rounds */
  CHECK_EQ_INT(seal_open(out, sizeof out, &n, &h, &p.a, 1, m3, sizeof m3, &err), SEAL_EROUND);
  CHECK_EQ_INT(seal_open(out, sizeof out, &n, &h, &p.a, 1, m4, sizeof m4, &err), SEAL_EROUND);
  /* the coordinator moves to round 8: m4 opens; a replay of round 7's m2 is refused */
  seal_session_set_round(&p.a, 8, SEAL_ROUND_EXACT);
  CHECK_OK(seal_open(out, sizeof out, &n, &h, &p.a, 1, m4, sizeof m4, &err));
  CHECK_EQ_INT(h.round, 8);
  CHECK_EQ_INT(seal_open(out, sizeof out, &n, &h, &p.a, 1, m2, sizeof m2, &err), SEAL_EROUND);

  /* worker side: forward policy follows the coordinator, never goes back */
  seal_session_set_round(&p.b, 0, SEAL_ROUND_FORWARD);
  uint8_t r3[8 + SEAL_OVERHEAD], r5[8 + SEAL_OVERHEAD], r4[8 + SEAL_OVERHEAD];
  CHECK_OK(seal_seal(r3, sizeof r3, &p.a, 3, 0, plain, 8, &err));
  CHECK_OK(seal_seal(r4, sizeof r4, &p.a, 4, 0, plain, 8, &err));
  CHECK_OK(seal_seal(r5, sizeof r5, &p.a, 5, 0, plain, 8, &err));
  CHECK_OK(seal_open(out, sizeof out, &n, &h, &p.b, 0, r3, sizeof r3, &err));
  CHECK_EQ_INT(p.b.rx_round, 3);
  CHECK_OK(seal_open(out, sizeof out, &n, &h, &p.b, 0, r5, sizeof r5, &err));
  CHECK_EQ_INT(p.b.rx_round, 5);
  CHECK_EQ_INT(seal_open(out, sizeof out, &n, &h, &p.b, 0, r4, sizeof r4, &err), SEAL_EROUND);
  CHECK_EQ_INT(seal_open(out, sizeof out, &n, &h, &p.b, 0, r3, sizeof r3, &err), SEAL_EROUND);
  CHECK(strcmp(seal_strerror(SEAL_EREPLAY), "replay") == 0);
  pair_free(&p);
}

static void test_other_parties(void) {
  fm_err err;
  seal_identity_t i0, i1, i2;
  CHECK_OK(seal_identity_generate(&i0, &err));
  CHECK_OK(seal_identity_generate(&i1, &err));
  CHECK_OK(seal_identity_generate(&i2, &err));
  seal_session_t s01, s10, s21, s12, j01, s10b;
  CHECK_OK(seal_session_init(&s01, &i0, 0, i1.kx_pk, 1, JOB, &err));
  CHECK_OK(seal_session_init(&s10, &i1, 1, i0.kx_pk, 0, JOB, &err));
  CHECK_OK(seal_session_init(&s21, &i2, 2, i1.kx_pk, 1, JOB, &err));
  CHECK_OK(seal_session_init(&s12, &i1, 1, i2.kx_pk, 2, JOB, &err));
  CHECK_OK(seal_session_init(&j01, &i0, 0, i1.kx_pk, 1, JOB + 1, &err)); /* another job */
  CHECK_OK(seal_session_init(&s10b, &i1, 1, i0.kx_pk, 0, JOB, &err));
  seal_session_t bad;
  CHECK(seal_session_init(&bad, &i1, 1, i1.kx_pk, 1, JOB, &err) == -1); /* self */
  seal_session_free(&bad);
  uint8_t plain[4] = {9, 9, 9, 9}, out[4], m[4 + SEAL_OVERHEAD];
  size_t n;
  seal_hdr_t h;
  /* party 2's message to 1 is refused by 1's session with 0 */
  CHECK_OK(seal_seal(m, sizeof m, &s21, 0, 0, plain, 4, &err));
  CHECK_EQ_INT(seal_open(out, sizeof out, &n, &h, &s10, 0, m, sizeof m, &err), SEAL_EHEADER);
  /* ... even with the header rewritten to claim sender 0: wrong key */
  seal_hdr_decode(&h, m);
  h.sender = 0;
  seal_hdr_encode(m, &h);
  CHECK_EQ_INT(seal_open(out, sizeof out, &n, &h, &s10, 0, m, sizeof m, &err), SEAL_EAUTH);
  /* a message of another job */
  CHECK_OK(seal_seal(m, sizeof m, &j01, 0, 0, plain, 4, &err));
  CHECK_EQ_INT(seal_open(out, sizeof out, &n, &h, &s10, 0, m, sizeof m, &err), SEAL_EHEADER);
  /* ... with the job rewritten: the per-job keys differ */
  seal_hdr_decode(&h, m);
  h.job = JOB;
  seal_hdr_encode(m, &h);
  CHECK_EQ_INT(seal_open(out, sizeof out, &n, &h, &s10, 0, m, sizeof m, &err), SEAL_EAUTH);
  /* 1 <-> 2 works, and so does 0 -> 1 */
  CHECK_OK(seal_seal(m, sizeof m, &s12, 0, 0, plain, 4, &err));
  CHECK_OK(seal_open(out, sizeof out, &n, &h, &s21, 0, m, sizeof m, &err));
  CHECK_OK(seal_seal(m, sizeof m, &s01, 0, 0, plain, 4, &err));
  CHECK_OK(seal_open(out, sizeof out, &n, &h, &s10b, 0, m, sizeof m, &err));
  seal_session_free(&s01);
  seal_session_free(&s10);
  seal_session_free(&s21);
  seal_session_free(&s12);
  seal_session_free(&j01);
  seal_session_free(&s10b);
  seal_session_free(NULL);
  seal_identity_free(&i0);
  seal_identity_free(&i1);
  seal_identity_free(&i2);
}

static int unhex(uint8_t *out, const char *hex) {
  int n = 0;
  for (; hex[0] && hex[1]; hex += 2) {
    unsigned v;
    if (sscanf(hex, "%2x", &v) != 1) return -1;
    out[n++] = (uint8_t)v;
  }
  return n;
}

static void test_bulk_aead(void) {
  printf("bulk crypto engine: %s\n", bulk_engine());
  /* draft-irtf-cfrg-xchacha-03, A.3.1 (AEAD_XChaCha20_Poly1305) */
  uint8_t k[32], npub[24], ad[12] = {0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7};
  for (int i = 0; i < 32; i++) k[i] = (uint8_t)(0x80 + i);
  for (int i = 0; i < 24; i++) npub[i] = (uint8_t)(0x40 + i);
  const char *m = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
                  "sunscreen would be it.";
  uint8_t want[256], c[256], back[256];
  int wn = unhex(want, "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39"
                       "ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
                       "21f9664c97637da9768812f615c68b13b52ec0875924c1c7987947deafd8780acf49");
  size_t mlen = strlen(m);
  CHECK(wn == (int)mlen + 16);
  CHECK_OK(bulk_aead_encrypt(c, (const uint8_t *)m, mlen, ad, sizeof ad, npub, k));
  CHECK(memcmp(c, want, (size_t)wn) == 0);
  CHECK_OK(bulk_aead_encrypt_sodium(c, (const uint8_t *)m, mlen, ad, sizeof ad, npub, k));
  CHECK(memcmp(c, want, (size_t)wn) == 0);
  CHECK_OK(bulk_aead_decrypt(back, want, (size_t)wn, ad, sizeof ad, npub, k));
  CHECK(memcmp(back, m, mlen) == 0);

  /* random keys, nonces and lengths around block and piece boundaries: the
   * engine's bytes are libsodium's, in place too; a flipped bit of tag,
   * ciphertext or associated data fails and leaves the output zeroed */
  static const size_t lens[] = {0, 1, 15, 16, 63, 64, 65, 255, 4096 + 17, 65536, 65536 + 3, 3 * 65536 + 1, 1 << 20};
  for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++) {
    size_t L = lens[t];
    uint8_t *pl = malloc(L + 1), *a = malloc(L + 16), *b = malloc(L + 16), *o = malloc(L + 16);
    CHECK(pl && a && b && o);
    randombytes_buf(pl, L);
    randombytes_buf(k, sizeof k);
    randombytes_buf(npub, sizeof npub);
    randombytes_buf(ad, sizeof ad);
    CHECK_OK(bulk_aead_encrypt(a, pl, L, ad, sizeof ad, npub, k));
    CHECK_OK(bulk_aead_encrypt_sodium(b, pl, L, ad, sizeof ad, npub, k));
    CHECK(memcmp(a, b, L + 16) == 0);
    memcpy(o, pl, L); /* in place */
    CHECK_OK(bulk_aead_encrypt(o, o, L, ad, sizeof ad, npub, k));
    CHECK(memcmp(o, b, L + 16) == 0);
    CHECK_OK(bulk_aead_decrypt(o, o, L + 16, ad, sizeof ad, npub, k)); /* in place */
    CHECK(memcmp(o, pl, L) == 0);
    for (int where = 0; where < 3; where++) {
      memcpy(b, a, L + 16);
      uint8_t ad2[12];
      memcpy(ad2, ad, sizeof ad);
      if (where == 0) b[L + 15] ^= 0x80;          /* tag */
      else if (where == 1 && L) b[L / 2] ^= 0x01; /* ciphertext */
      else ad2[3] ^= 0x04;                        /* associated data */
      memset(o, 0xa5, L + 16);
      CHECK(bulk_aead_decrypt(o, b, L + 16, ad2, sizeof ad2, npub, k) == -1);
      for (size_t i = 0; i < L; i++)
        if (o[i]) {
          CHECK(!"a forged message left plaintext behind");
          break;
        }
    }
    CHECK(bulk_aead_decrypt(o, a, 15, ad, sizeof ad, npub, k) == -1); /* shorter than a tag */
    free(pl);
    free(a);
    free(b);
    free(o);
  }
}

/* A message sealed in place (plaintext written where the ciphertext goes)
 * opens like one sealed from another buffer; overlap otherwise is refused. */
static void test_seal_in_place(void) {
  pair_t p;
  pair_init(&p);
  fm_err err;
  enum { L = 70000 };
  uint8_t *plain = malloc(L), *msg = malloc(seal_sealed_len(L)), *out = malloc(L);
  CHECK(plain && msg && out);
  randombytes_buf(plain, L);
  memcpy(msg + SEAL_HDRBYTES + SEAL_NONCEBYTES, plain, L);
  CHECK_OK(seal_seal(msg, seal_sealed_len(L), &p.a, 0, 2, msg + SEAL_HDRBYTES + SEAL_NONCEBYTES, L, &err));
  size_t n;
  seal_hdr_t h;
  CHECK_OK(seal_open(out, L, &n, &h, &p.b, 2, msg, seal_sealed_len(L), &err));
  CHECK(n == L && memcmp(out, plain, L) == 0);
  CHECK(seal_seal(msg, seal_sealed_len(L), &p.a, 0, 2, msg + 1, 100, &err) == -1);
  /* opened in place */
  CHECK_OK(seal_seal(msg, seal_sealed_len(L), &p.a, 0, 2, plain, L, &err));
  CHECK_OK(seal_open(msg + SEAL_HDRBYTES + SEAL_NONCEBYTES, L, &n, &h, &p.b, 2, msg, seal_sealed_len(L), &err));
  CHECK(n == L && memcmp(msg + SEAL_HDRBYTES + SEAL_NONCEBYTES, plain, L) == 0);
  free(plain);
  free(msg);
  free(out);
  pair_free(&p);
}

static void test_split(void) {
  pair_t p;
  pair_init(&p);
  fm_err err;
  enum { C = 256, L = 40 };
  const size_t total = seal_split_len(L, C);
  uint8_t *msg = malloc(total), *t = malloc(total + 1), clear[C], plain[L], out[total];
  CHECK(msg && t);
  randombytes_buf(clear, C);
  randombytes_buf(plain, L);
  CHECK(total == SEAL_SPLIT_CLEAR_OFF + C + L + SEAL_MACBYTES && SEAL_SPLIT_CLEAR_OFF == 64);
  /* the clear bytes in place, the plaintext in place after them */
  memcpy(msg + SEAL_SPLIT_CLEAR_OFF, clear, C);
  memcpy(msg + SEAL_SPLIT_CLEAR_OFF + C, plain, L);
  CHECK_OK(seal_seal_split(msg, total, &p.a, 0, 13, msg + SEAL_SPLIT_CLEAR_OFF + C, L, C, &err));
  CHECK(memcmp(msg + SEAL_SPLIT_CLEAR_OFF, clear, C) == 0);         /* clear: as given */
  CHECK(memcmp(msg + SEAL_SPLIT_CLEAR_OFF + C, plain, L) != 0);     /* the rest encrypted */
  /* the layout: libsodium's XChaCha20-Poly1305 of plain, AD = everything before it */
  {
    uint8_t c2[L + SEAL_MACBYTES];
    const uint8_t *tx = (const uint8_t *)p.a.keys + SEAL_KEYBYTES; /* struct seal_keys: rx, then tx */
    CHECK_OK(bulk_aead_encrypt_sodium(c2, plain, L, msg, SEAL_SPLIT_CLEAR_OFF + C, msg + SEAL_HDRBYTES, tx));
    CHECK(memcmp(c2, msg + SEAL_SPLIT_CLEAR_OFF + C, sizeof c2) == 0);
  }
  size_t n, cl;
  const uint8_t *cp;
  seal_hdr_t h;
  /* every bit flipped is refused, with the state unchanged */
  for (size_t bit = 0; bit < 8 * total; bit++) {
    memcpy(t, msg, total);
    t[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    int rc = seal_open_split(out, sizeof out, &n, &cp, &cl, &h, &p.b, 13, t, total, &err);
    CHECK(rc < 0 && cp == NULL && cl == 0 && n == 0);
    size_t byte = bit / 8;
    if (byte >= SEAL_HDRBYTES + SEAL_NONCEBYTES && byte < SEAL_SPLIT_CLEAR_OFF) /* clear_len */
      CHECK(rc == SEAL_EAUTH || rc == SEAL_ETRUNC);
    else if (byte >= SEAL_HDRBYTES)
      CHECK_EQ_INT(rc, SEAL_EAUTH); /* nonce, clear bytes, ciphertext, tag */
  }
  /* every truncation, and one byte more */
  for (size_t len = 0; len < total; len++) {
    int rc = seal_open_split(out, sizeof out, &n, &cp, &cl, &h, &p.b, 13, msg, len, &err);
    CHECK(rc == SEAL_ETRUNC || rc == SEAL_EAUTH);
  }
  memcpy(t, msg, total);
  t[total] = 0;
  CHECK(seal_open_split(out, sizeof out, &n, &cp, &cl, &h, &p.b, 13, t, total + 1, &err) < 0);
  /* never opened as the other layout */
  CHECK_EQ_INT(seal_open(out, sizeof out, &n, &h, &p.b, 13, msg, total, &err), SEAL_EAUTH);
  CHECK_EQ_INT(p.b.rx_seq, 0);
  /* the genuine message opens once: clear part inside msg, plaintext out */
  CHECK_OK(seal_open_split(out, sizeof out, &n, &cp, &cl, &h, &p.b, 13, msg, total, &err));
  CHECK(n == L && memcmp(out, plain, L) == 0 && cp == msg + SEAL_SPLIT_CLEAR_OFF && cl == C);
  CHECK(h.seq == 1 && h.stage == 13 && h.sender == 0 && h.receiver == 5);
  CHECK_EQ_INT(seal_open_split(out, sizeof out, &n, &cp, &cl, &h, &p.b, 13, msg, total, &err), SEAL_EREPLAY);
  /* a plain sealed message does not open as a split one */
  uint8_t pm[L + SEAL_OVERHEAD];
  CHECK_OK(seal_seal(pm, sizeof pm, &p.a, 0, 13, plain, L, &err));
  CHECK(seal_open_split(out, sizeof out, &n, &cp, &cl, &h, &p.b, 13, pm, sizeof pm, &err) < 0);
  /* empty clear part and empty plaintext */
  CHECK_OK(seal_seal_split(msg, total, &p.a, 0, 13, plain, 0, 0, &err));
  CHECK_OK(seal_open_split(out, sizeof out, &n, &cp, &cl, &h, &p.b, 13, msg, seal_split_len(0, 0), &err));
  CHECK(n == 0 && cl == 0);
  /* the output too small, overlap */
  CHECK(seal_seal_split(msg, total - 1, &p.a, 0, 13, plain, L, C, &err) == -1);
  CHECK(seal_seal_split(msg, total, &p.a, 0, 13, msg + 1, L, C, &err) == -1);
  free(msg);
  free(t);
  pair_free(&p);
}

int main(void) {
  fm_err err;
  CHECK_OK(seal_init(&err));
  test_identity_and_handshake();
  test_roundtrip();
  test_tamper();
  test_replay_and_rounds();
  test_other_parties();
  test_bulk_aead();
  test_seal_in_place();
  test_split();
  printf("test_seal: ok\n");
  return 0;
}
