/* common/seal.c: identities, handshake, session keys and sealed messages with
 * libsodium (see seal.h for the formats and the replay rules). */
#include "common/seal.h"
#include "common/bulk.h"
#include "common/le.h"

#include <sodium.h>
#include <string.h>

struct seal_secret {
  uint8_t sign_sk[crypto_sign_SECRETKEYBYTES]; /* seed || pk, as libsodium keeps it */
  uint8_t kx_sk[crypto_kx_SECRETKEYBYTES];
};

struct seal_keys {
  uint8_t rx[SEAL_KEYBYTES], tx[SEAL_KEYBYTES];
};

_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == SEAL_NONCEBYTES, "nonce size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == SEAL_MACBYTES, "tag size");
_Static_assert(crypto_kx_SESSIONKEYBYTES == SEAL_KEYBYTES, "kx key size");
_Static_assert(crypto_sign_PUBLICKEYBYTES == SEAL_SIGN_PKBYTES, "sign pk size");
_Static_assert(crypto_sign_SEEDBYTES == SEAL_SIGN_SEEDBYTES, "sign seed size");
_Static_assert(crypto_sign_BYTES == SEAL_SIGBYTES, "signature size");
_Static_assert(crypto_kx_PUBLICKEYBYTES == SEAL_KX_PKBYTES, "kx pk size");

static const char SEAL_KDF_TAG[] = "fedmeta-seal-v1 session key";
static const char SEAL_HS_DOMAIN[] = "fedmeta-handshake-v1";

const char *seal_strerror(int code) {
  switch (code) {
  case SEAL_OK: return "ok";
  case SEAL_ETRUNC: return "truncated";
  case SEAL_EHEADER: return "header";
  case SEAL_ESTAGE: return "stage";
  case SEAL_EROUND: return "round";
  case SEAL_EREPLAY: return "replay";
  case SEAL_EAUTH: return "auth";
  case SEAL_EKEY: return "key";
  default: return "error";
  }
}

int seal_init(fm_err *err) {
  if (sodium_init() < 0) return fm_fail(err, "libsodium failed to initialise");
  return 0;
}


/* --- identities ----------------------------------------------------------- */

static int identity_alloc(seal_identity_t *id, fm_err *err) {
  memset(id, 0, sizeof *id);
  if (seal_init(err)) return -1;
  id->sk = sodium_malloc(sizeof *id->sk);
  if (!id->sk) return fm_fail(err, "cannot allocate protected memory for a secret key");
  return 0;
}

int seal_identity_from_secret(seal_identity_t *id, const uint8_t sign_seed[SEAL_SIGN_SEEDBYTES],
                              const uint8_t kx_sk[SEAL_KX_SKBYTES], fm_err *err) {
  if (identity_alloc(id, err)) return -1;
  if (crypto_sign_seed_keypair(id->sign_pk, id->sk->sign_sk, sign_seed) != 0) {
    seal_identity_free(id);
    return fm_fail(err, "cannot derive the signing key");
  }
  memcpy(id->sk->kx_sk, kx_sk, SEAL_KX_SKBYTES);
  if (crypto_scalarmult_base(id->kx_pk, id->sk->kx_sk) != 0) {
    seal_identity_free(id);
    return fm_fail(err, "cannot derive the key-exchange public key");
  }
  sodium_mprotect_readonly(id->sk);
  return 0;
}

int seal_identity_generate(seal_identity_t *id, fm_err *err) {
  if (seal_init(err)) return -1;
  uint8_t seed[SEAL_SIGN_SEEDBYTES], kx[SEAL_KX_SKBYTES];
  randombytes_buf(seed, sizeof seed);
  randombytes_buf(kx, sizeof kx);
  int rc = seal_identity_from_secret(id, seed, kx, err);
  sodium_memzero(seed, sizeof seed);
  sodium_memzero(kx, sizeof kx);
  return rc;
}

void seal_identity_export(uint8_t sign_seed[SEAL_SIGN_SEEDBYTES], uint8_t kx_sk[SEAL_KX_SKBYTES],
                          const seal_identity_t *id) {
  crypto_sign_ed25519_sk_to_seed(sign_seed, id->sk->sign_sk);
  memcpy(kx_sk, id->sk->kx_sk, SEAL_KX_SKBYTES);
}

void seal_identity_free(seal_identity_t *id) {
  if (!id) return;
  if (id->sk) sodium_free(id->sk); /* sodium_free wipes before unmapping */
  memset(id, 0, sizeof *id);
}

/* The signed bytes: domain (with its NUL) || msg, hashed first so the message
 * need not be copied (Ed25519 signs the 64-byte BLAKE2b digest). */
static void sign_digest(uint8_t h[64], const char *domain, const uint8_t *msg, size_t msg_len) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, 64);
  crypto_generichash_update(&st, (const uint8_t *)domain, strlen(domain) + 1);
  crypto_generichash_update(&st, msg, msg_len);
  crypto_generichash_final(&st, h, 64);
}

int seal_sign(uint8_t sig[SEAL_SIGBYTES], const seal_identity_t *id, const char *domain,
              const uint8_t *msg, size_t msg_len, fm_err *err) {
  if (!id || !id->sk) return fm_fail(err, "signing needs a secret key");
  uint8_t h[64];
  sign_digest(h, domain, msg, msg_len);
  int rc = crypto_sign_detached(sig, NULL, h, sizeof h, id->sk->sign_sk);
  return rc == 0 ? 0 : fm_fail(err, "signing failed");
}

int seal_verify(const uint8_t sig[SEAL_SIGBYTES], const uint8_t sign_pk[SEAL_SIGN_PKBYTES],
                const char *domain, const uint8_t *msg, size_t msg_len, fm_err *err) {
  uint8_t h[64];
  sign_digest(h, domain, msg, msg_len);
  if (crypto_sign_verify_detached(sig, h, sizeof h, sign_pk) != 0) {
    fm_fail(err, "signature does not verify");
    return SEAL_EAUTH;
  }
  return 0;
}

/* --- handshake ------------------------------------------------------------ */

#define HS_SIGNED (SEAL_HSBYTES - SEAL_SIGBYTES)

int seal_handshake_make(uint8_t out[SEAL_HSBYTES], const seal_identity_t *id, uint64_t job,
                        uint32_t party, fm_err *err) {
  memcpy(out, "FMHS", 4);
  le_put32(out + 4, SEAL_HS_VERSION);
  le_put64(out + 8, job);
  le_put32(out + 16, party);
  memcpy(out + 20, id->sign_pk, SEAL_SIGN_PKBYTES);
  memcpy(out + 20 + SEAL_SIGN_PKBYTES, id->kx_pk, SEAL_KX_PKBYTES);
  return seal_sign(out + HS_SIGNED, id, SEAL_HS_DOMAIN, out, HS_SIGNED, err);
}

int seal_handshake_verify(uint8_t peer_sign_pk[SEAL_SIGN_PKBYTES], uint8_t peer_kx_pk[SEAL_KX_PKBYTES],
                          const uint8_t *blob, size_t blob_len, uint64_t job, uint32_t party,
                          const uint8_t *pinned_sign_pk, const uint8_t *pinned_kx_pk,
                          fm_err *err) {
  if (blob_len != SEAL_HSBYTES) {
    fm_fail(err, "party %u: handshake of %zu bytes, expected %u", party, blob_len, SEAL_HSBYTES);
    return SEAL_ETRUNC;
  }
  if (memcmp(blob, "FMHS", 4) != 0 || le_get32(blob + 4) != SEAL_HS_VERSION) {
    fm_fail(err, "party %u: not a fedmeta handshake of version %u", party, SEAL_HS_VERSION);
    return SEAL_EHEADER;
  }
  if (le_get64(blob + 8) != job || le_get32(blob + 16) != party) {
    fm_fail(err, "party %u: handshake is for job %016llx party %u, expected job %016llx", party,
            (unsigned long long)le_get64(blob + 8), le_get32(blob + 16), (unsigned long long)job);
    return SEAL_EHEADER;
  }
  const uint8_t *spk = blob + 20, *kpk = blob + 20 + SEAL_SIGN_PKBYTES;
  if (pinned_sign_pk && sodium_memcmp(spk, pinned_sign_pk, SEAL_SIGN_PKBYTES) != 0) {
    fm_fail(err, "party %u: signing key is not the one in the keyring (refused)", party);
    return SEAL_EKEY;
  }
  if (pinned_kx_pk && sodium_memcmp(kpk, pinned_kx_pk, SEAL_KX_PKBYTES) != 0) {
    fm_fail(err, "party %u: key-exchange key is not the one in the keyring (refused)", party);
    return SEAL_EKEY;
  }
  if (seal_verify(blob + HS_SIGNED, spk, SEAL_HS_DOMAIN, blob, HS_SIGNED, err) != 0) {
    fm_fail(err, "party %u: handshake signature does not verify (refused)", party);
    return SEAL_EAUTH;
  }
  memcpy(peer_sign_pk, spk, SEAL_SIGN_PKBYTES);
  memcpy(peer_kx_pk, kpk, SEAL_KX_PKBYTES);
  return 0;
}

/* --- sessions ------------------------------------------------------------- */

/* k := BLAKE2b-256(key = k, "fedmeta-seal-v1 session key" || job). */
static void bind_job(uint8_t k[SEAL_KEYBYTES], uint64_t job) {
  uint8_t msg[sizeof SEAL_KDF_TAG + 8];
  memcpy(msg, SEAL_KDF_TAG, sizeof SEAL_KDF_TAG);
  le_put64(msg + sizeof SEAL_KDF_TAG, job);
  uint8_t out[SEAL_KEYBYTES];
  crypto_generichash(out, sizeof out, msg, sizeof msg, k, SEAL_KEYBYTES);
  memcpy(k, out, SEAL_KEYBYTES);
  sodium_memzero(out, sizeof out);
}

int seal_session_init(seal_session_t *s, const seal_identity_t *id, uint32_t self,
                      const uint8_t peer_kx_pk[SEAL_KX_PKBYTES], uint32_t peer, uint64_t job,
                      fm_err *err) {
  memset(s, 0, sizeof *s);
  if (seal_init(err)) return -1;
  if (!id || !id->sk) return fm_fail(err, "session %u->%u: no secret key", self, peer);
  if (self == peer) return fm_fail(err, "session %u->%u: a party has no session with itself", self, peer);
  s->keys = sodium_malloc(sizeof *s->keys);
  if (!s->keys) return fm_fail(err, "cannot allocate protected memory for session keys");
  int rc;
  if (self < peer) /* lower index plays the kx client */
    rc = crypto_kx_client_session_keys(s->keys->rx, s->keys->tx, id->kx_pk, id->sk->kx_sk, peer_kx_pk);
  else
    rc = crypto_kx_server_session_keys(s->keys->rx, s->keys->tx, id->kx_pk, id->sk->kx_sk, peer_kx_pk);
  if (rc != 0) {
    seal_session_free(s);
    return fm_fail(err, "session %u->%u: the peer's key-exchange key is invalid", self, peer);
  }
  bind_job(s->keys->rx, job);
  bind_job(s->keys->tx, job);
  s->job = job;
  s->self = self;
  s->peer = peer;
  s->round_policy = SEAL_ROUND_EXACT;
  return 0;
}

int seal_session_derive(uint8_t out[SEAL_KEYBYTES], const seal_session_t *s, int dir, const char *label) {
  if (!s || !s->keys) return -1;
  const uint8_t *k = dir == SEAL_TX ? s->keys->tx : s->keys->rx;
  crypto_generichash(out, SEAL_KEYBYTES, (const uint8_t *)label, strlen(label) + 1, k, SEAL_KEYBYTES);
  return 0;
}

void seal_session_free(seal_session_t *s) {
  if (!s) return;
  if (s->keys) sodium_free(s->keys);
  memset(s, 0, sizeof *s);
}

void seal_session_set_round(seal_session_t *s, uint32_t round, int policy) {
  s->rx_round = round;
  s->round_policy = policy;
}

void seal_hdr_encode(uint8_t out[SEAL_HDRBYTES], const seal_hdr_t *h) {
  le_put64(out, h->job);
  le_put32(out + 8, h->round);
  le_put32(out + 12, h->stage);
  le_put32(out + 16, h->sender);
  le_put32(out + 20, h->receiver);
  le_put64(out + 24, h->seq);
}

void seal_hdr_decode(seal_hdr_t *h, const uint8_t in[SEAL_HDRBYTES]) {
  h->job = le_get64(in);
  h->round = le_get32(in + 8);
  h->stage = le_get32(in + 12);
  h->sender = le_get32(in + 16);
  h->receiver = le_get32(in + 20);
  h->seq = le_get64(in + 24);
}

/* Seals plain_len bytes of plain into out, whose first ct_off bytes hold the
 * header, nonce and (split) the clear part, of which the first ad_len are the
 * associated data; the caller has written the clear part and checked the
 * sizes (out holds ct_off + plain_len + the tag). clear_len: a split
 * message's, written after the nonce (NULL: a plain message). */
static int seal_at(uint8_t *out, size_t total, seal_session_t *s, uint32_t round, uint32_t stage,
                   const uint8_t *plain, size_t plain_len, size_t ad_len, size_t ct_off, const size_t *clear_len,
                   fm_err *err) {
  uintptr_t o = (uintptr_t)out, p = (uintptr_t)plain; /* addresses of possibly unrelated objects */
  if (plain_len && p != o + ct_off && p < o + total && o < p + plain_len)
    return fm_fail(err, "seal %u->%u: plaintext and output overlap", s->self, s->peer);
  if (s->tx_seq == UINT64_MAX) return fm_fail(err, "seal %u->%u: sequence numbers exhausted", s->self, s->peer);
  seal_hdr_t h = {s->job, round, stage, s->self, s->peer, s->tx_seq + 1};
  seal_hdr_encode(out, &h);
  uint8_t *nonce = out + SEAL_HDRBYTES;
  randombytes_buf(nonce, SEAL_NONCEBYTES);
  if (clear_len) le_put64(nonce + SEAL_NONCEBYTES, (uint64_t)*clear_len);
  if (bulk_aead_encrypt(out + ct_off, plain, plain_len, out, ad_len, nonce, s->keys->tx) != 0)
    return fm_fail(err, "seal %u->%u: encryption failed", s->self, s->peer);
  s->tx_seq++;
  return 0;
}

int seal_seal(uint8_t *out, size_t out_cap, seal_session_t *s, uint32_t round, uint32_t stage,
              const uint8_t *plain, size_t plain_len, fm_err *err) {
  if (!s || !s->keys) return fm_fail(err, "sealing without a session");
  if (plain_len > SIZE_MAX - SEAL_OVERHEAD || out_cap < seal_sealed_len(plain_len))
    return fm_fail(err, "seal %u->%u: output buffer of %zu bytes is too small", s->self, s->peer, out_cap);
  return seal_at(out, seal_sealed_len(plain_len), s, round, stage, plain, plain_len, SEAL_HDRBYTES,
                 SEAL_HDRBYTES + SEAL_NONCEBYTES, NULL, err);
}

/* The checks before the tag, common to both layouts: header, stage, round,
 * seq (each with its code). */
static int open_check(seal_hdr_t *h, const seal_session_t *s, uint32_t expected_stage, const uint8_t *msg,
                      fm_err *err) {
  seal_hdr_decode(h, msg);
  if (h->job != s->job || h->sender != s->peer || h->receiver != s->self) {
    fm_fail(err, "message from %u: header says job %016llx, %u->%u; expected job %016llx, %u->%u", s->peer,
            (unsigned long long)h->job, h->sender, h->receiver, (unsigned long long)s->job, s->peer, s->self);
    return SEAL_EHEADER;
  }
  if (expected_stage != SEAL_ANY_STAGE && h->stage != expected_stage) {
    fm_fail(err, "message from %u: stage %u, expected %u", s->peer, h->stage, expected_stage);
    return SEAL_ESTAGE;
  }
  int round_ok = s->round_policy == SEAL_ROUND_FORWARD ? h->round >= s->rx_round : h->round == s->rx_round;
  if (!round_ok) {
    fm_fail(err, "message from %u: round %u, receiver is in round %u", s->peer, h->round, s->rx_round);
    return SEAL_EROUND;
  }
  if (h->seq <= s->rx_seq) {
    fm_fail(err, "message from %u: sequence number %llu, already accepted up to %llu (replay or reorder)",
            s->peer, (unsigned long long)h->seq, (unsigned long long)s->rx_seq);
    return SEAL_EREPLAY;
  }
  return 0;
}

/* After the tag verified: the receive state moves. */
static void open_accept(seal_session_t *s, const seal_hdr_t *h) {
  s->rx_seq = h->seq;
  if (s->round_policy == SEAL_ROUND_FORWARD) s->rx_round = h->round;
}

/* Opens msg, whose ciphertext and tag start at ct_off and whose first ad_len
 * bytes are the associated data (the nonce at SEAL_HDRBYTES); the caller has
 * checked that msg_len >= ct_off + the tag. */
static int open_at(uint8_t *plain, size_t plain_cap, size_t *plain_len, seal_hdr_t *hdr, seal_session_t *s,
                   uint32_t expected_stage, const uint8_t *msg, size_t msg_len, size_t ad_len, size_t ct_off,
                   fm_err *err) {
  size_t n = msg_len - ct_off - SEAL_MACBYTES;
  if (plain_cap < n) {
    fm_fail(err, "message from %u: %zu bytes of plaintext, buffer holds %zu", s->peer, n, plain_cap);
    return SEAL_EFAIL;
  }
  seal_hdr_t h;
  int code = open_check(&h, s, expected_stage, msg, err);
  if (code) return code;
  if (bulk_aead_decrypt(plain, msg + ct_off, n + SEAL_MACBYTES, msg, ad_len, msg + SEAL_HDRBYTES, s->keys->rx) != 0) {
    fm_fail(err, "message from %u: authentication failed (tampered, truncated or forged)", s->peer);
    return SEAL_EAUTH;
  }
  open_accept(s, &h);
  *plain_len = n;
  if (hdr) *hdr = h;
  return 0;
}

int seal_open(uint8_t *plain, size_t plain_cap, size_t *plain_len, seal_hdr_t *hdr,
              seal_session_t *s, uint32_t expected_stage, const uint8_t *msg, size_t msg_len,
              fm_err *err) {
  *plain_len = 0;
  if (!s || !s->keys) {
    fm_fail(err, "opening without a session");
    return SEAL_EFAIL;
  }
  if (msg_len < SEAL_OVERHEAD) {
    fm_fail(err, "message from %u: %zu bytes, shorter than the %u of an empty sealed message", s->peer,
            msg_len, SEAL_OVERHEAD);
    return SEAL_ETRUNC;
  }
  return open_at(plain, plain_cap, plain_len, hdr, s, expected_stage, msg, msg_len, SEAL_HDRBYTES,
                 SEAL_HDRBYTES + SEAL_NONCEBYTES, err);
}

int seal_seal_split(uint8_t *out, size_t out_cap, seal_session_t *s, uint32_t round, uint32_t stage,
                    const uint8_t *plain, size_t plain_len, size_t clear_len, fm_err *err) {
  if (!s || !s->keys) return fm_fail(err, "sealing without a session");
  if (plain_len > SIZE_MAX / 2 - SEAL_SPLIT_CLEAR_OFF - SEAL_MACBYTES || clear_len > SIZE_MAX / 2 ||
      out_cap < seal_split_len(plain_len, clear_len))
    return fm_fail(err, "seal %u->%u: output buffer of %zu bytes is too small", s->self, s->peer, out_cap);
  size_t ad_len = SEAL_SPLIT_CLEAR_OFF + clear_len;
  return seal_at(out, seal_split_len(plain_len, clear_len), s, round, stage, plain, plain_len, ad_len, ad_len,
                 &clear_len, err);
}

int seal_open_split(uint8_t *plain, size_t plain_cap, size_t *plain_len, const uint8_t **clear,
                    size_t *clear_len, seal_hdr_t *hdr, seal_session_t *s, uint32_t expected_stage,
                    const uint8_t *msg, size_t msg_len, fm_err *err) {
  *plain_len = 0;
  *clear = NULL;
  *clear_len = 0;
  if (!s || !s->keys) {
    fm_fail(err, "opening without a session");
    return SEAL_EFAIL;
  }
  const size_t min = SEAL_SPLIT_CLEAR_OFF + SEAL_MACBYTES;
  if (msg_len < min) {
    fm_fail(err, "message from %u: %zu bytes, shorter than the %zu of an empty split message", s->peer, msg_len, min);
    return SEAL_ETRUNC;
  }
  uint64_t cl = le_get64(msg + SEAL_HDRBYTES + SEAL_NONCEBYTES);
  if (cl > msg_len - min) {
    fm_fail(err, "message from %u: %llu clear bytes announced, %zu in the message", s->peer, (unsigned long long)cl,
            msg_len - min);
    return SEAL_ETRUNC;
  }
  size_t ad_len = SEAL_SPLIT_CLEAR_OFF + (size_t)cl;
  int code = open_at(plain, plain_cap, plain_len, hdr, s, expected_stage, msg, msg_len, ad_len, ad_len, err);
  if (code) return code;
  *clear = msg + SEAL_SPLIT_CLEAR_OFF;
  *clear_len = (size_t)cl;
  return 0;
}
