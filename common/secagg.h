/* common/secagg.h: secure aggregation of fixed-point deltas in Z_2^32
 * (Bonawitz et al., CCS 2017, with the SecAgg+ neighbour graph of Bell et al.,
 * CCS 2020, as an option). The coordinator learns the sum of the survivors'
 * deltas and nothing about an individual delta.
 *
 * Parties of a round are slots 0..n-1 (the round's participants in plan
 * order; the caller maps slots to platforms). A public graph over the slots
 * says who masks with whom: the complete graph (plain SecAgg) or a Harary graph
 * of even degree k on a permutation drawn from a public per-round seed
 * (SecAgg+). holders(u) = neighbours(u) + u, sorted by slot; u's secrets are
 * Shamir-shared among holders(u), holder number i (0-based) getting x = i + 1.
 *
 * Stages of one round (message contents in brackets; every client->client
 * message goes through the coordinator sealed under the pair's seal session,
 * so the coordinator cannot read shares):
 *
 *  0 ADVERTISE  client u: secagg_client_init makes a fresh X25519 mask keypair
 *               (s_sk_u, s_pk_u) and a fresh self-mask seed b_u.
 *               u -> coordinator: [s_pk_u, signed with u's identity over
 *               secagg_advertise_bytes]. Coordinator: secagg_server_set_pk,
 *               then broadcasts all mask public keys.
 *  1 SHARE      u: secagg_client_share: t-of-|holders(u)| Shamir shares of
 *               s_sk_u and of b_u; u -> v (via coordinator, sealed u->v) for
 *               each holder v: [secagg_keyshare_pack]; v: secagg_client_hold.
 *               Coordinator: forwards u's shares only once all of them came,
 *               then secagg_server_mark_shared(u) (U2 = the parties that
 *               shared); so u holds v's share exactly when v is in U2 and a
 *               neighbour, and the masks of stage 2 agree on both sides.
 *  2 MASK       u: secagg_client_mask(y = x_u):
 *                 y = x_u + PRG(b_u) + sum_{v in N(u), v shared, v > u} PRG(s_uv)
 *                                    - sum_{v in N(u), v shared, v < u} PRG(s_uv)
 *               with s_uv = H(X25519(s_sk_u, s_pk_v), job, round, u, v, pks).
 *               "v shared" = u holds a share from v. u -> coordinator: [y].
 *               (secagg_clients_mask: the same words for all the parties of
 *               one rank at once, each stream between two of them made once.)
 *               Coordinator: secagg_server_add_masked (acc += y mod 2^32).
 *  2b EARLY    as soon as u's y is in the sum, the coordinator may say so
 *               (the state so far: u SURVIVED, parties not yet heard SHARED);
 *               v: secagg_client_reveal_new(state): the share of b_u, once.
 *               Coordinator: secagg_server_add_reveal, and
 *               secagg_server_unmask_ready removes PRG(b_u) from the sum as
 *               soon as t shares of b_u are in, while other parties train.
 *  3 (deadline) Coordinator: secagg_server_close_inputs: parties of U2 that sent
 *               no y are DROPPED; fewer than t surviving holders for any party
 *               aborts the round (SECAGG_ETHRESHOLD). Broadcast the state array.
 *  4 UNMASK     v: secagg_client_reveal(state): for each share v holds of u
 *               and has not revealed in 2b, the share of b_u if u SURVIVED, of
 *               s_sk_u if u DROPPED, never both kinds for one u (each share
 *               is revealed at most once). v -> coordinator: [reveals].
 *               Coordinator: secagg_server_add_reveal, then secagg_server_finish:
 *               reconstructs b_u of survivors and s_sk_d of dropped parties
 *               (checked against s_pk_d), removes PRG(b_u) and the masks between
 *               dropped and surviving neighbours, and gets the exact sum of the
 *               survivors' x. A party that drops during stage 4 is fine as
 *               long as t holders answer for everyone.
 *
 * Recovery choice: a dropped party's pairwise seeds are recomputed from its
 * reconstructed per-round mask secret s_sk_d (as in the paper), not shared
 * seed by seed: one 32-byte secret per party instead of one per pair. Because
 * the mask keys are fresh every round, revealing s_sk_d exposes nothing of
 * other rounds.
 *
 * Threat model: honest-but-curious coordinator colluding with fewer than t
 * clients. The threshold must be a majority of holders (2t > |holders|), so
 * that no two disjoint sets of t holders exist that could be asked for both
 * kinds of share of one party. Shares of b_u are not verifiable (a malicious
 * holder can spoil the sum, not learn a delta); shares of s_sk_d are checked.
 *
 * All randomness (keys, b, Shamir coefficients) comes from randombytes_buf;
 * the graph permutation is public and derived from (job, round). */
#ifndef FEDMETA_SECAGG_H
#define FEDMETA_SECAGG_H
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define SECAGG_SEEDBYTES 32u
#define SECAGG_PKBYTES 32u
#define SECAGG_SKBYTES 32u
#define SECAGG_MAX_HOLDERS 255u /* Shamir over GF(2^8): x in 1..255 */
/* How long a stage's wait polls fast (wire_set_quick), on both sides: the
 * replies of secure aggregation's handshakes come within milliseconds. */
#define SECAGG_QUICK_S 0.02
/* ChaCha20 (original, 64-bit nonce) nonce of the mask generator: 8 zero
 * bytes. Every seed is fresh per round and pair, so one nonce suffices. */
#define SECAGG_PRG_NONCE "\0\0\0\0\0\0\0\0"
#define SECAGG_ADV_DOMAIN "fedmeta-secagg-advertise-v1"
#define SECAGG_ADVBYTES (8u + 4u + 4u + SECAGG_PKBYTES)
#define SECAGG_KEYSHAREBYTES (4u + 4u + 1u + 2u * 32u)
#define SECAGG_REVEALBYTES (4u + 1u + 1u + 32u)

#define SECAGG_WUR __attribute__((warn_unused_result))

/* Error codes beyond -1 that a round may want to tell apart. */
enum {
  SECAGG_ETHRESHOLD = -2, /* fewer than t survivors / shares: abort the round */
  SECAGG_EINCONSISTENT = -3, /* a message contradicts the protocol state */
};

/* Party state in a round, one byte per slot. */
enum {
  SECAGG_ABSENT = 0,   /* did not share (never advertised, or dropped before sharing) */
  SECAGG_SHARED = 1,   /* shared its secrets (U2), masked input not yet received */
  SECAGG_SURVIVED = 2, /* its masked input is in the sum */
  SECAGG_DROPPED = 3,  /* shared, but sent no masked input in time */
};

enum { SECAGG_REVEAL_B = 1, SECAGG_REVEAL_SK = 2 };

/* --- (a) mask generator and Z_2^32 helpers ------------------------------- */

/* out[i] = little-endian uint32 word i of the ChaCha20 keystream under key
 * seed, nonce SECAGG_PRG_NONCE, block counter from 0 (DJB ChaCha20, 20 rounds). */
void secagg_mask_expand(uint32_t *out, size_t n, const uint8_t seed[SECAGG_SEEDBYTES]);
/* Words [lo, hi) of the same (out[lo..hi) = PRG(seed)[lo..hi)); lo a multiple of
 * 16 (one 64-byte block). Pieces make the same words as one call. */
void secagg_mask_expand_part(uint32_t *out, size_t lo, size_t hi, const uint8_t seed[SECAGG_SEEDBYTES]);
/* acc[i] += PRG(seed)[i] (mod 2^32), streaming (no n-word temporary). */
void secagg_mask_add(uint32_t *acc, size_t n, const uint8_t seed[SECAGG_SEEDBYTES]);
/* acc[i] -= PRG(seed)[i] (mod 2^32). */
void secagg_mask_sub(uint32_t *acc, size_t n, const uint8_t seed[SECAGG_SEEDBYTES]);
/* acc[i] += sum_k signs[k] * PRG(seeds[k])[i] (mod 2^32; signs[k] = +1 or -1)
 * in one pass over acc: each seed's keystream is made in small chunks that
 * stay in cache. The same words as n_seeds calls of secagg_mask_add/sub. */
int secagg_mask_apply(uint32_t *acc, size_t n, const uint8_t (*seeds)[SECAGG_SEEDBYTES], const int8_t *signs,
                      size_t n_seeds, fm_err *err) SECAGG_WUR;
/* The same on up to `threads` threads (SECAGG_MAX_THREADS at most), each on
 * its own range of words: the result does not depend on the split. */
#define SECAGG_MAX_THREADS 4
int secagg_mask_apply_mt(uint32_t *acc, size_t n, const uint8_t (*seeds)[SECAGG_SEEDBYTES], const int8_t *signs,
                         size_t n_seeds, int threads, fm_err *err) SECAGG_WUR;
/* The threads an unmasking the parties wait for may use: the online cores,
 * 1 to SECAGG_MAX_THREADS. */
int secagg_unmask_threads(void);
/* acc[i] += x[i], acc[i] -= x[i] (mod 2^32); acc and x the same buffer or not overlapping. */
void secagg_vec_add(uint32_t *acc, const uint32_t *x, size_t n);
void secagg_vec_sub(uint32_t *acc, const uint32_t *x, size_t n);

/* --- (b) pairwise seeds -------------------------------------------------- */

/* s_uv = BLAKE2b-256("fedmeta-secagg-pair-v1" || job || round || lo || hi ||
 * pk_lo || pk_hi || X25519(my_sk, peer_pk)) with lo < hi the two slots; both
 * parties get the same seed. Fails on an all-zero shared secret (low-order pk). */
int secagg_pair_seed(uint8_t seed[SECAGG_SEEDBYTES], const uint8_t my_sk[SECAGG_SKBYTES],
                     const uint8_t my_pk[SECAGG_PKBYTES], const uint8_t peer_pk[SECAGG_PKBYTES],
                     uint64_t job, uint32_t round, uint32_t me, uint32_t peer, fm_err *err) SECAGG_WUR;

/* The self-mask seed: PRG(this) is party u's self-mask. Without a binding
 * key (bind == NULL) it is b_u itself. With one — a key only u's host and the
 * coordinator know (fedmeta binds with a key derived from their sealed
 * session, seal_session_derive) — it is
 *   BLAKE2b-256(key = bind, "fedmeta-secagg-self-v1" || job || round || u || b_u),
 * so that holders who pool t shares of b_u still cannot remove u's self-mask:
 * a masked input that travels in the clear (seal.h, split messages) stays
 * hidden from everyone but the coordinator, as a sealed one was. The
 * coordinator, who has both, removes it as before. b_u is what is shared. */
void secagg_self_seed(uint8_t out[SECAGG_SEEDBYTES], const uint8_t b[SECAGG_SEEDBYTES], const uint8_t *bind,
                      uint64_t job, uint32_t round, uint32_t slot);
/* The label fedmeta derives the binding key with from the host's sealed
 * session with the coordinator (seal_session_derive: SEAL_TX on the worker,
 * SEAL_RX on the coordinator). */
#define SECAGG_BIND_LABEL "fedmeta-secagg-self-v1 binding"

/* The bytes a client signs with its identity when advertising its mask key. */
void secagg_advertise_bytes(uint8_t out[SECAGG_ADVBYTES], uint64_t job, uint32_t round, uint32_t slot,
                            const uint8_t mask_pk[SECAGG_PKBYTES]);

/* --- (d) Shamir secret sharing of 32-byte secrets over GF(2^8) ------------ */

/* Byte-wise sharing over GF(2^8) with the AES polynomial x^8+x^4+x^3+x+1;
 * multiplication is bitwise constant-time (no tables). */
typedef struct secagg_share {
  uint8_t x;     /* 1..255 */
  uint8_t y[32];
} secagg_share_t;

/* n shares (x = 1..n) of secret, any t of which recover it; t <= n <= 255, t >= 1.
 * Coefficients from randombytes_buf. */
int secagg_shamir_split(secagg_share_t *out, uint32_t n, uint32_t t, const uint8_t secret[32],
                        fm_err *err) SECAGG_WUR;
/* The same with given coefficients (for known-answer tests): coeffs holds t-1
 * rows of 32 bytes, row k the coefficient of x^(k+1) for each byte. */
int secagg_shamir_split_with(secagg_share_t *out, uint32_t n, uint32_t t, const uint8_t secret[32],
                             const uint8_t *coeffs, fm_err *err) SECAGG_WUR;
/* Lagrange interpolation at 0 through all k shares (distinct non-zero x).
 * With fewer than t shares the result is an unrelated value (no error is
 * possible: the caller must know t). */
int secagg_shamir_combine(uint8_t secret[32], const secagg_share_t *shares, size_t k,
                          fm_err *err) SECAGG_WUR;
/* GF(2^8) product (exposed for tests). */
uint8_t secagg_gf256_mul(uint8_t a, uint8_t b);

/* --- (f) the neighbour graph --------------------------------------------- */

typedef struct secagg_graph {
  uint32_t n;    /* slots */
  uint32_t deg;  /* neighbours per slot: n-1 (complete) or k */
  uint32_t *pos; /* pos[slot]: place on the Harary ring (NULL when complete) */
  uint32_t *at;  /* at[place]: the slot there */
} secagg_graph_t;

/* Public per-round graph seed: BLAKE2b-256("fedmeta-secagg-graph-v1" || job || round). */
void secagg_graph_seed(uint8_t seed[32], uint64_t job, uint32_t round);
/* k = 0 or k >= n-1: complete graph (requires n <= 255). Otherwise k even, 2..254:
 * Harary graph H(k, n) on a permutation drawn from seed (every slot has exactly
 * k neighbours). n >= 2. */
int secagg_graph_init(secagg_graph_t *g, uint32_t n, uint32_t k, const uint8_t seed[32], fm_err *err) SECAGG_WUR;
void secagg_graph_free(secagg_graph_t *g);
int secagg_graph_adjacent(const secagg_graph_t *g, uint32_t u, uint32_t v);
/* holders(u) = neighbours(u) + u sorted by slot, into out (deg + 1 entries); returns deg + 1. */
uint32_t secagg_graph_holders(const secagg_graph_t *g, uint32_t u, uint32_t *out);
/* The x-coordinate of holder's share of owner's secrets (1..deg+1), 0 if not a holder. */
uint32_t secagg_graph_x(const secagg_graph_t *g, uint32_t owner, uint32_t holder);

/* --- (e) recovery computation -------------------------------------------- */

/* Turns the masked sum of the SURVIVED slots into their exact plain sum (on
 * as many threads as there are cores, up to SECAGG_MAX_THREADS):
 * subtracts PRG(b[u]) for each SURVIVED u and, for each DROPPED d and each
 * SURVIVED neighbour v, removes the mask v applied for the pair (v, d), with
 * s_vd recomputed from sk[d] and pk[v]. b is read for SURVIVED slots, sk for
 * DROPPED slots (other rows may be anything); pk for all SURVIVED and DROPPED. */
int secagg_unmask(uint32_t *sum, size_t n_words, const secagg_graph_t *g, uint64_t job, uint32_t round,
                  const uint8_t *state, const uint8_t (*pk)[SECAGG_PKBYTES],
                  const uint8_t (*b)[SECAGG_SEEDBYTES], const uint8_t (*sk)[SECAGG_SKBYTES],
                  fm_err *err) SECAGG_WUR;
/* secagg_unmask, except for the SURVIVED slots u with self_done[u] != 0, whose
 * PRG(b[u]) is already out of the sum (self_done NULL: none). */
int secagg_unmask_rest(uint32_t *sum, size_t n_words, const secagg_graph_t *g, uint64_t job, uint32_t round,
                       const uint8_t *state, const uint8_t *self_done, const uint8_t (*pk)[SECAGG_PKBYTES],
                       const uint8_t (*b)[SECAGG_SEEDBYTES], const uint8_t (*sk)[SECAGG_SKBYTES],
                       fm_err *err) SECAGG_WUR;

/* t for a party with `holders` holders: t_cfg (0 = the smallest majority), at most holders. */
static inline uint32_t secagg_threshold_for(uint32_t t_cfg, uint32_t holders) {
  uint32_t t = t_cfg ? t_cfg : holders / 2 + 1;
  return t > holders ? holders : t;
}

/* --- client -------------------------------------------------------------- */

/* A share of u's two secrets, for one holder. Secret: seal it to the holder. */
typedef struct secagg_keyshare {
  uint32_t owner, holder;
  uint8_t x;
  uint8_t sk[32], b[32];
} secagg_keyshare_t;

/* A share a holder reveals to the coordinator in stage 4. */
typedef struct secagg_reveal {
  uint32_t owner;
  uint8_t kind; /* SECAGG_REVEAL_B or SECAGG_REVEAL_SK */
  uint8_t x;
  uint8_t y[32];
} secagg_reveal_t;

void secagg_keyshare_pack(uint8_t out[SECAGG_KEYSHAREBYTES], const secagg_keyshare_t *s);
int secagg_keyshare_unpack(secagg_keyshare_t *s, const uint8_t *in, size_t len, fm_err *err) SECAGG_WUR;
void secagg_reveal_pack(uint8_t out[SECAGG_REVEALBYTES], const secagg_reveal_t *r);
int secagg_reveal_unpack(secagg_reveal_t *r, const uint8_t *in, size_t len, fm_err *err) SECAGG_WUR;

typedef struct secagg_client_secret secagg_client_secret_t; /* sodium_malloc'd */

typedef struct secagg_client {
  const secagg_graph_t *g; /* borrowed; must outlive the client */
  uint64_t job;
  uint32_t round, slot, t;
  uint8_t mask_pk[SECAGG_PKBYTES];
  secagg_client_secret_t *sec; /* owned: s_sk, b, the shares held */
  uint32_t n_held;
  int masked, revealed;
} secagg_client_t;

/* Stage 0: fresh mask keypair and self-mask seed. t: 2t > deg+1, t <= deg+1. */
int secagg_client_init(secagg_client_t *c, const secagg_graph_t *g, uint64_t job, uint32_t round,
                       uint32_t slot, uint32_t t, fm_err *err) SECAGG_WUR;
/* Binds c's self-mask to a key (secagg_self_seed); before stage 2. The key
 * is copied into protected memory. */
void secagg_client_bind_self(secagg_client_t *c, const uint8_t bind[SECAGG_SEEDBYTES]);
/* Wipes and frees; accepts NULL and a half-built client. */
void secagg_client_free(secagg_client_t *c);
/* Stage 1: one keyshare per holder (deg + 1, including c's own, which the
 * caller passes back to secagg_client_hold). cap >= g->deg + 1. The caller
 * wipes out (sodium_memzero) after sealing. */
int secagg_client_share(secagg_keyshare_t *out, size_t cap, size_t *n_out, secagg_client_t *c,
                        fm_err *err) SECAGG_WUR;
/* Stage 1, receiving side: keeps a share addressed to c (checks holder, owner
 * adjacency, x, duplicates). */
int secagg_client_hold(secagg_client_t *c, const secagg_keyshare_t *s, fm_err *err) SECAGG_WUR;
/* Stage 2: y (n words, holding x_u) += self mask + pairwise masks with every
 * neighbour whose share c holds. pk: the mask public keys of all g->n slots.
 * Fails with SECAGG_ETHRESHOLD if c holds fewer than t shares. */
int secagg_client_mask(uint32_t *y, size_t n, secagg_client_t *c, const uint8_t (*pk)[SECAGG_PKBYTES],
                       fm_err *err) SECAGG_WUR;
/* Stage 2 for the k parties a rank hosts, at once (k <= SECAGG_MAX_HOLDERS):
 * mask i (the words secagg_client_mask would add to party i's input) goes to
 * out[i] (n words each, distinct buffers), and every client is marked masked.
 * A pairwise stream PRG(s_uv) between two of the k parties is generated once
 * and applied to both (+ to the lower slot, - to the higher) when both take
 * part in it (each holds the other's share) and pk holds both parties' own
 * mask keys; otherwise each side makes its own, as secagg_client_mask does.
 * Either way out[i] holds exactly secagg_client_mask's mask words (tested).
 * add = 0: out[i] = mask i; add = 1: out[i] += mask i. One pass over all
 * the outputs (chunks of every output stay in cache while each stream is
 * applied: every output is written once), in groups of parties of at most
 * 1024 streams; when party i's mask is complete, ready(arg, i) is called (if
 * not NULL; from the calling thread, in order).
 * Fails with SECAGG_ETHRESHOLD (nothing written, no client marked) if some
 * party holds fewer than t shares. Thread-safe with respect to other
 * clients; the caller must not touch these k clients while it runs. */
int secagg_clients_mask(uint32_t *const *out, size_t n, secagg_client_t *const *cs, size_t k,
                        const uint8_t (*pk)[SECAGG_PKBYTES], int add, void (*ready)(void *arg, size_t i), void *arg,
                        fm_err *err) SECAGG_WUR;
/* Stage 4: the shares to reveal for the coordinator's final state array (g->n
 * bytes), those not revealed before by secagg_client_reveal_new. Once per
 * round; refuses a state that contradicts what c saw (a party c holds a share
 * of marked ABSENT or still SHARED, c itself not SURVIVED, a party whose
 * b-share c revealed now DROPPED) and fewer than t surviving holders of c's
 * own secrets. cap >= c->n_held. */
int secagg_client_reveal(secagg_reveal_t *out, size_t cap, size_t *n_out, secagg_client_t *c,
                         const uint8_t *state, fm_err *err) SECAGG_WUR;
/* Stage 2b: the b-shares c holds of the parties `state` marks SURVIVED (their
 * masked input is in the sum) that c has not revealed yet; parties still
 * SHARED are skipped. Any number of times before the final state, in any
 * order; never a share of both kinds for one party: a state that marks
 * DROPPED a party c holds a share of is refused whole (SECAGG_EINCONSISTENT;
 * dropping is for the final state only). cap >= c->n_held. */
int secagg_client_reveal_new(secagg_reveal_t *out, size_t cap, size_t *n_out, secagg_client_t *c,
                             const uint8_t *state, fm_err *err) SECAGG_WUR;

/* --- server (coordinator) ------------------------------------------------ */

typedef struct secagg_server {
  const secagg_graph_t *g; /* borrowed */
  uint64_t job;
  uint32_t round, t;
  size_t n_words;
  uint8_t (*pk)[SECAGG_PKBYTES]; /* per slot */
  uint8_t *has_pk;               /* per slot */
  uint8_t *state;                /* per slot, SECAGG_* */
  uint32_t *acc;                 /* the masked sum */
  int acc_borrowed;              /* acc is the caller's (secagg_server_use_buffer) */
  secagg_reveal_t *rv;           /* reveals received */
  uint32_t *rv_from;             /* their senders */
  size_t n_rv, cap_rv;
  uint8_t *self_done;            /* per slot: PRG(b_u) already out of acc */
  uint8_t *seen;                 /* per (owner, x - 1): that holder's share of owner is in */
  uint8_t (*bind)[SECAGG_SEEDBYTES]; /* per slot (sodium_malloc'd): self-mask binding keys */
  uint8_t *has_bind;             /* per slot */
  int closed;
} secagg_server_t;

int secagg_server_init(secagg_server_t *s, const secagg_graph_t *g, uint64_t job, uint32_t round,
                       uint32_t t, size_t n_words, fm_err *err) SECAGG_WUR;
void secagg_server_free(secagg_server_t *s);
/* Sums into buf (n_words words, zeroed here; the caller's, e.g. reused from
 * round to round) instead of a buffer of the server's own: no fresh n_words
 * a round, and secagg_server_finish(buf, ...) leaves the sum where it is.
 * Before the first input. */
void secagg_server_use_buffer(secagg_server_t *s, uint32_t *buf);
/* Stage 0: slot's advertised mask public key (after checking its signature). */
int secagg_server_set_pk(secagg_server_t *s, uint32_t slot, const uint8_t pk[SECAGG_PKBYTES],
                         fm_err *err) SECAGG_WUR;
/* slot's self-mask is bound to this key (secagg_self_seed; the same key as
 * that client's secagg_client_bind_self). Before stage 2b. */
int secagg_server_bind_self(secagg_server_t *s, uint32_t slot, const uint8_t bind[SECAGG_SEEDBYTES],
                            fm_err *err) SECAGG_WUR;
/* Stage 1: slot's shares arrived (and were forwarded). */
int secagg_server_mark_shared(secagg_server_t *s, uint32_t slot, fm_err *err) SECAGG_WUR;
/* Stage 2: slot's masked input (n_words words); added to the sum. */
int secagg_server_add_masked(secagg_server_t *s, uint32_t slot, const uint32_t *y, fm_err *err) SECAGG_WUR;
/* The same with y as n_words little-endian words at any address (a received
 * message's bytes, without an aligned copy). */
int secagg_server_add_masked_le(secagg_server_t *s, uint32_t slot, const void *y, fm_err *err) SECAGG_WUR;
/* Stage 3: no more inputs. SHARED slots become DROPPED; copies the state array
 * (g->n bytes) to send to the survivors. SECAGG_ETHRESHOLD if some party has
 * fewer than t surviving holders: the round cannot be unmasked, abort it. */
int secagg_server_close_inputs(uint8_t *state_out, secagg_server_t *s, fm_err *err) SECAGG_WUR;
/* Stages 2b and 4: reveals of holder slot `from` (checked: sender is a holder
 * of the owner, kind matches the owner's state now: b for SURVIVED, s_sk for
 * DROPPED, x is the sender's, no share twice). All or none are kept. */
int secagg_server_add_reveal(secagg_server_t *s, uint32_t from, const secagg_reveal_t *r, size_t n,
                             fm_err *err) SECAGG_WUR;
/* Stage 2b: for every SURVIVED slot with t b-shares in whose self-mask is
 * still in the sum, reconstructs b_u and subtracts PRG(b_u) now (on up to
 * `threads` threads). Returns how many were removed, or -1: if no share
 * combined, nothing changed; if the subtraction itself failed (out of memory),
 * the sum is part-unmasked and the round is to be abandoned. Optional: finish
 * removes the others. */
int secagg_server_unmask_ready(secagg_server_t *s, int threads, fm_err *err) SECAGG_WUR;
/* Stage 2b for a caller that removes the self-masks elsewhere (e.g. on a
 * helper thread, into a sum of its own): the next SURVIVED slot with t
 * b-shares in whose self-mask is still in the sum: its self-mask seed
 * (secagg_self_seed of its reconstructed b) in b (wipe it after use) and its slot in *slot; the slot counts as removed from
 * then on. Returns 1, 0 if there is none, -1 on error. The caller subtracts
 * the sum of the PRG(b)s it was given with secagg_server_sub before finish. */
int secagg_server_next_ready(secagg_server_t *s, uint8_t b[SECAGG_SEEDBYTES], uint32_t *slot, fm_err *err) SECAGG_WUR;
/* acc -= w (n_words words, mod 2^32). */
void secagg_server_sub(secagg_server_t *s, const uint32_t *w);
/* acc += signs[i] * PRG(seeds[i]) for the k seeds, on up to `threads` threads
 * (the seeds from secagg_server_next_ready, with signs -1). */
int secagg_server_sub_masks(secagg_server_t *s, const uint8_t (*seeds)[SECAGG_SEEDBYTES], const int8_t *signs, size_t k,
                            int threads, fm_err *err) SECAGG_WUR;
/* Reconstructs the seeds and writes the exact sum of the survivors' inputs to
 * sum (n_words). SECAGG_ETHRESHOLD if fewer than t reveals for some party;
 * SECAGG_EINCONSISTENT if a reconstructed s_sk does not match its public key. */
int secagg_server_finish(uint32_t *sum, secagg_server_t *s, fm_err *err) SECAGG_WUR;

#endif
