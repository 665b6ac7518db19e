/* common/seal.h: party identities and sealed (authenticated, encrypted) messages.
 *
 * Each party (the coordinator and every platform) has an identity: an Ed25519
 * signing keypair (who it is; pinned in a keyring for pilots) and an X25519
 * key-exchange keypair (crypto_kx). Secret halves live in sodium_malloc'd
 * memory, read-only after creation, wiped by seal_identity_free.
 *
 * Handshake: a party publishes a signed blob (its kx and sign public keys, the
 * job id and its party index, Ed25519-signed). The receiver checks the
 * signature and that the signing key is the pinned one for that party.
 *
 * Sessions: for an ordered pair (self, peer) both sides run crypto_kx (the party
 * with the lower index is the kx "client", the other the "server", so both
 * agree), giving separate rx and tx keys; each is then bound to the job id with
 * a keyed BLAKE2b (so the same long-term keys give unrelated keys per job).
 *
 * Sealed message layout (all integers little-endian):
 *
 *   header (SEAL_HDRBYTES = 32, cleartext, also the AEAD associated data)
 *     u64 job | u32 round | u32 stage | u32 sender | u32 receiver | u64 seq
 *   nonce  (24 random bytes, randombytes_buf)
 *   ciphertext of the plaintext, then the 16-byte Poly1305 tag
 *
 * AEAD: XChaCha20-Poly1305-IETF. A random 192-bit nonce per message makes
 * nonce reuse negligible without any state shared between the sides.
 *
 * Replay and order: the sender numbers its messages to one peer 1, 2, 3, ...
 * for the whole job (seq never resets). The receiver keeps the highest seq it
 * accepted from that peer and the round it is in; a message with seq <= that
 * (a replay, or one delivered out of order), or of another round, is rejected.
 * The state moves only after the tag verified, so a forged header cannot
 * advance it. Consequence for callers: one sealed stream per direction must be
 * received in the order it was sent (MPI keeps order per source, tag and
 * communicator; use one tag per direction, or one session per tag).
 *
 * Each rejection has its own code (SEAL_E*) so a round can count reasons. */
#ifndef FEDMETA_SEAL_H
#define FEDMETA_SEAL_H
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define SEAL_SIGN_PKBYTES 32u
#define SEAL_SIGN_SEEDBYTES 32u
#define SEAL_SIGBYTES 64u
#define SEAL_KX_PKBYTES 32u
#define SEAL_KX_SKBYTES 32u
#define SEAL_KEYBYTES 32u
#define SEAL_HDRBYTES 32u
#define SEAL_NONCEBYTES 24u
#define SEAL_MACBYTES 16u
#define SEAL_OVERHEAD (SEAL_HDRBYTES + SEAL_NONCEBYTES + SEAL_MACBYTES)
/* handshake blob: "FMHS" | u32 version | u64 job | u32 party | sign_pk | kx_pk | sig */
#define SEAL_HS_VERSION 1u
#define SEAL_HSBYTES (4u + 4u + 8u + 4u + SEAL_SIGN_PKBYTES + SEAL_KX_PKBYTES + SEAL_SIGBYTES)
/* expected_stage value that accepts any stage */
#define SEAL_ANY_STAGE UINT32_MAX

#define SEAL_WUR __attribute__((warn_unused_result))

/* Return codes of seal_open and seal_handshake_verify (negative = rejected). */
enum {
  SEAL_OK = 0,
  SEAL_EFAIL = -1,   /* misuse or resource failure (buffer too small, ...) */
  SEAL_ETRUNC = -2,  /* shorter than header + nonce + tag */
  SEAL_EHEADER = -3, /* job, sender or receiver is not this session's */
  SEAL_ESTAGE = -4,  /* not the stage the caller expects */
  SEAL_EROUND = -5,  /* another round than the receiver's */
  SEAL_EREPLAY = -6, /* seq not above the last accepted one: replay or reorder */
  SEAL_EAUTH = -7,   /* tag or signature does not verify: tampered or forged */
  SEAL_EKEY = -8,    /* handshake: key not the pinned one */
};
/* A short name for a code ("auth", "replay", ...), for metrics. */
const char *seal_strerror(int code);

/* One-time libsodium initialisation; safe to call many times and from threads. */
int seal_init(fm_err *err) SEAL_WUR;

/* --- identities ----------------------------------------------------------- */

typedef struct seal_secret seal_secret_t; /* in sodium_malloc'd memory */

typedef struct seal_identity {
  uint8_t sign_pk[SEAL_SIGN_PKBYTES];
  uint8_t kx_pk[SEAL_KX_PKBYTES];
  seal_secret_t *sk; /* owned; NULL when empty */
} seal_identity_t;

/* Fresh random identity (randombytes_buf). */
int seal_identity_generate(seal_identity_t *id, fm_err *err) SEAL_WUR;
/* Identity from its secret material: the Ed25519 seed and the X25519 secret key
 * (what a key file stores). The inputs are copied; the caller wipes its copies. */
int seal_identity_from_secret(seal_identity_t *id, const uint8_t sign_seed[SEAL_SIGN_SEEDBYTES],
                              const uint8_t kx_sk[SEAL_KX_SKBYTES], fm_err *err) SEAL_WUR;
/* Copies the secret material out (for writing a key file). Wipe after use. */
void seal_identity_export(uint8_t sign_seed[SEAL_SIGN_SEEDBYTES], uint8_t kx_sk[SEAL_KX_SKBYTES],
                          const seal_identity_t *id);
/* Wipes and frees the secrets; accepts NULL and an empty identity. */
void seal_identity_free(seal_identity_t *id);

/* Detached Ed25519 signature over msg with a domain tag mixed in
 * (so a signature for one purpose is never valid for another). */
int seal_sign(uint8_t sig[SEAL_SIGBYTES], const seal_identity_t *id, const char *domain,
              const uint8_t *msg, size_t msg_len, fm_err *err) SEAL_WUR;
/* 0 if sig is valid for (domain, msg) under sign_pk, SEAL_EAUTH otherwise. */
int seal_verify(const uint8_t sig[SEAL_SIGBYTES], const uint8_t sign_pk[SEAL_SIGN_PKBYTES],
                const char *domain, const uint8_t *msg, size_t msg_len, fm_err *err) SEAL_WUR;

/* --- handshake ------------------------------------------------------------ */

/* The signed blob a party sends first: its public keys, job and party index. */
int seal_handshake_make(uint8_t out[SEAL_HSBYTES], const seal_identity_t *id, uint64_t job,
                        uint32_t party, fm_err *err) SEAL_WUR;
/* Checks a received blob: layout and version, job, party index, signature, and
 * that the signing key equals pinned_sign_pk (NULL: not pinned, e.g. keys
 * exchanged over MPI in a simulation) and the kx key equals pinned_kx_pk (NULL:
 * not pinned). On success copies the peer's public keys out.
 * Returns 0, or SEAL_ETRUNC / SEAL_EHEADER / SEAL_EAUTH / SEAL_EKEY with a
 * message naming the party. */
int seal_handshake_verify(uint8_t peer_sign_pk[SEAL_SIGN_PKBYTES], uint8_t peer_kx_pk[SEAL_KX_PKBYTES],
                          const uint8_t *blob, size_t blob_len, uint64_t job, uint32_t party,
                          const uint8_t *pinned_sign_pk, const uint8_t *pinned_kx_pk,
                          fm_err *err) SEAL_WUR;

/* --- sessions and sealed messages ---------------------------------------- */

/* Round policy of a receive state. */
enum {
  SEAL_ROUND_EXACT = 0,   /* accept only rx_round (the coordinator, which sets it) */
  SEAL_ROUND_FORWARD = 1, /* accept rx_round or later; the state moves forward with
                             accepted messages (a worker following the coordinator) */
};

typedef struct seal_keys seal_keys_t; /* rx and tx keys in sodium_malloc'd memory */

typedef struct seal_session {
  uint64_t job;
  uint32_t self, peer;  /* party indices */
  uint64_t tx_seq;      /* last seq sent (0 = none yet) */
  uint64_t rx_seq;      /* last seq accepted (0 = none yet) */
  uint32_t rx_round;    /* the round the receiver is in */
  int round_policy;     /* SEAL_ROUND_* */
  seal_keys_t *keys;    /* owned */
} seal_session_t;

/* Session keys between self (with identity id) and peer (its kx public key).
 * self != peer. rx_round starts at 0 with policy SEAL_ROUND_EXACT. */
int seal_session_init(seal_session_t *s, const seal_identity_t *id, uint32_t self,
                      const uint8_t peer_kx_pk[SEAL_KX_PKBYTES], uint32_t peer, uint64_t job,
                      fm_err *err) SEAL_WUR;
/* Wipes and frees the keys; accepts NULL and a half-built session. */
void seal_session_free(seal_session_t *s);
/* Sets the round the receiver accepts (and, for SEAL_ROUND_FORWARD, the lowest). */
void seal_session_set_round(seal_session_t *s, uint32_t round, int policy);

/* A 32-byte key derived from the session's tx (SEAL_TX) or rx (SEAL_RX) key:
 * BLAKE2b-256(key = that key, label with its NUL). The sender's SEAL_TX and
 * the receiver's SEAL_RX give the same bytes, known to those two parties
 * only; the session key itself never leaves protected memory. The caller
 * wipes out after use. Returns 0, or -1 without a session. */
enum { SEAL_TX = 0, SEAL_RX = 1 };
int seal_session_derive(uint8_t out[SEAL_KEYBYTES], const seal_session_t *s, int dir, const char *label) SEAL_WUR;

/* Bytes of a sealed message with plain_len bytes of plaintext. */
static inline size_t seal_sealed_len(size_t plain_len) { return plain_len + SEAL_OVERHEAD; }

typedef struct seal_hdr {
  uint64_t job;
  uint32_t round, stage, sender, receiver;
  uint64_t seq;
} seal_hdr_t;

/* The 32-byte little-endian header / associated data, and back. */
void seal_hdr_encode(uint8_t out[SEAL_HDRBYTES], const seal_hdr_t *h);
void seal_hdr_decode(seal_hdr_t *h, const uint8_t in[SEAL_HDRBYTES]);

/* Seals plain into out (out_cap >= seal_sealed_len(plain_len)); takes the next
 * tx seq of the session. out and plain must not overlap, except in place:
 * plain == out + SEAL_HDRBYTES + SEAL_NONCEBYTES (the caller wrote the
 * plaintext where the ciphertext goes, saving a copy of a large message). */
int seal_seal(uint8_t *out, size_t out_cap, seal_session_t *s, uint32_t round, uint32_t stage,
              const uint8_t *plain, size_t plain_len, fm_err *err) SEAL_WUR;

/* Opens a sealed message from s->peer: checks length, header (job, sender =
 * peer, receiver = self), stage (unless SEAL_ANY_STAGE), round, seq, then the
 * tag. On success writes the plaintext (plain_cap >= msg_len - SEAL_OVERHEAD),
 * its length and the header, and advances the receive state. On rejection
 * returns a SEAL_E* code with a message; nothing is written to plain that the
 * caller may use (a message whose tag fails leaves plain zeroed), and the
 * state is unchanged. plain may be msg + SEAL_HDRBYTES + SEAL_NONCEBYTES (in
 * place), not otherwise overlap msg. */
int seal_open(uint8_t *plain, size_t plain_cap, size_t *plain_len, seal_hdr_t *hdr,
              seal_session_t *s, uint32_t expected_stage, const uint8_t *msg, size_t msg_len,
              fm_err *err) SEAL_WUR;

/* --- split sealed messages: a clear but authenticated part ---------------- *
 *
 * For a large payload that is already a one-time-pad ciphertext — a masked
 * secure-aggregation input y = x + PRG(b) + sum of pairwise PRG(s) mod 2^32,
 * uniform to anyone without the mask seeds — encrypting it again hides
 * nothing more; authenticating it is what is needed. A split message carries
 * such bytes in the clear, inside the AEAD's associated data, and the rest
 * (plain) encrypted as usual:
 *
 *   header (32) | nonce (24) | u64 clear_len | clear (clear_len bytes)
 *   | ciphertext of plain | tag (16)
 *
 *   associated data = every byte before the ciphertext (header, nonce,
 *   clear_len and the clear bytes), so a flipped bit anywhere fails the tag.
 *
 * The clear bytes start at SEAL_SPLIT_CLEAR_OFF = 64 (cache-line aligned in an
 * aligned buffer). Whether a message is split is the receiver's choice (by
 * stage), never read from the message. The same checks and codes as seal_open;
 * the Poly1305 pass over the clear bytes costs about 0.4 ms per 4 MiB against
 * 1.1 ms to encrypt and authenticate them (bench/seal_bench.c). */
#define SEAL_SPLIT_CLEAR_OFF (SEAL_HDRBYTES + SEAL_NONCEBYTES + 8u)
static inline size_t seal_split_len(size_t plain_len, size_t clear_len) {
  return SEAL_SPLIT_CLEAR_OFF + clear_len + plain_len + SEAL_MACBYTES;
}
/* Seals with the clear bytes already at out + SEAL_SPLIT_CLEAR_OFF (the caller
 * wrote them there); plain is in place at out + SEAL_SPLIT_CLEAR_OFF + clear_len
 * or does not overlap out. out_cap >= seal_split_len(plain_len, clear_len). */
int seal_seal_split(uint8_t *out, size_t out_cap, seal_session_t *s, uint32_t round, uint32_t stage,
                    const uint8_t *plain, size_t plain_len, size_t clear_len, fm_err *err) SEAL_WUR;
/* Opens a split message: as seal_open, and on success *clear points at the
 * clear bytes inside msg (*clear_len of them; authenticated). plain_cap >=
 * msg_len - SEAL_SPLIT_CLEAR_OFF - SEAL_MACBYTES is always enough; plain must
 * not overlap msg. A clear_len that does not fit the message is SEAL_ETRUNC. */
int seal_open_split(uint8_t *plain, size_t plain_cap, size_t *plain_len, const uint8_t **clear,
                    size_t *clear_len, seal_hdr_t *hdr, seal_session_t *s, uint32_t expected_stage,
                    const uint8_t *msg, size_t msg_len, fm_err *err) SEAL_WUR;

#endif
