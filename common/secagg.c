/* common/secagg.c: secure aggregation building blocks (see secagg.h for the
 * protocol): ChaCha20 mask generator, X25519 pairwise seeds, Shamir sharing
 * over GF(2^8), the neighbour graph, recovery, and client/server state. */
#include "common/secagg.h"
#include "common/bulk.h"
#include "common/le.h"
#include "common/prof.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(crypto_stream_chacha20_KEYBYTES == SECAGG_SEEDBYTES, "chacha20 key size");
_Static_assert(crypto_stream_chacha20_NONCEBYTES == 8, "chacha20 nonce size");
_Static_assert(crypto_scalarmult_BYTES == SECAGG_PKBYTES, "x25519 size");

static const char PAIR_TAG[] = "fedmeta-secagg-pair-v1";
static const char GRAPH_TAG[] = "fedmeta-secagg-graph-v1";


/* --- (a) mask generator -------------------------------------------------- */

/* Masks are applied in chunks of PRG_CHUNK_WORDS words: each seed's keystream
 * for the chunk goes to a small buffer that stays in the L1/L2 cache and is
 * added to (or subtracted from) the chunk of the input at once, so the input
 * is read and written once whatever the number of seeds. */
#define PRG_CHUNK_WORDS 4096u /* 16 KiB = 256 ChaCha20 blocks */

/* words are little-endian by definition */
static void prg_words(uint32_t *w, size_t n) {
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
  for (size_t i = 0; i < n; i++) w[i] = le_get32((const uint8_t *)(w + i));
#else
  (void)w;
  (void)n;
#endif
}

void secagg_mask_expand(uint32_t *out, size_t n, const uint8_t seed[SECAGG_SEEDBYTES]) {
  secagg_mask_expand_part(out, 0, n, seed);
}

void secagg_mask_expand_part(uint32_t *out, size_t lo, size_t hi, const uint8_t seed[SECAGG_SEEDBYTES]) {
  if (hi <= lo) return;
  bulk_chacha20_stream((uint8_t *)(out + lo), 4 * (hi - lo), lo / 16, seed);
  prg_words(out + lo, hi - lo);
}

/* Vectorised for the widest unit the CPU has (same words whichever runs). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
#define WIDE_LOOP __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define WIDE_LOOP
#endif
typedef uint32_t u32x16 __attribute__((vector_size(64)));
WIDE_LOOP static void add_words(uint32_t *restrict acc, const uint32_t *restrict x, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    u32x16 a, b;
    memcpy(&a, acc + i, sizeof a);
    memcpy(&b, x + i, sizeof b);
    a += b;
    memcpy(acc + i, &a, sizeof a);
  }
  for (; i < n; i++) acc[i] += x[i];
}
WIDE_LOOP static void sub_words(uint32_t *restrict acc, const uint32_t *restrict x, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    u32x16 a, b;
    memcpy(&a, acc + i, sizeof a);
    memcpy(&b, x + i, sizeof b);
    a -= b;
    memcpy(acc + i, &a, sizeof a);
  }
  for (; i < n; i++) acc[i] -= x[i];
}

/* acc += the words at x, which may be unaligned (little-endian host) */
WIDE_LOOP static void add_words_unaligned(uint32_t *restrict acc, const void *restrict x, size_t n) {
  const uint8_t *b = x;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    u32x16 a, w;
    memcpy(&a, acc + i, sizeof a);
    memcpy(&w, b + 4 * i, sizeof w);
    a += w;
    memcpy(acc + i, &a, sizeof a);
  }
  for (; i < n; i++) {
    uint32_t w;
    memcpy(&w, b + 4 * i, 4);
    acc[i] += w;
  }
}

/* Words [lo, hi) of the fused mask pass; lo is a multiple of 16 (a block). */
typedef struct mask_job {
  uint32_t *acc;
  size_t lo, hi;
  const uint8_t (*seeds)[SECAGG_SEEDBYTES];
  const int8_t *signs;
  size_t n_seeds;
  int rc;
  int helper; /* runs on a helper thread: its CPU time goes to PROF_HELPERS */
} mask_job_t;

static void *mask_range(void *arg) {
  mask_job_t *j = arg;
  prof_t tp = {0, 0};
  if (j->helper) tp = prof_now();
  bulk_prg_t **prg = calloc(j->n_seeds, sizeof *prg);
  uint32_t *buf = malloc(sizeof(uint32_t) * PRG_CHUNK_WORDS);
  j->rc = prg && buf ? 0 : -1;
  for (size_t k = 0; !j->rc && k < j->n_seeds; k++)
    if (!(prg[k] = bulk_prg_new_at(j->seeds[k], j->lo / 16))) j->rc = -1;
  for (size_t off = j->lo; !j->rc && off < j->hi; off += PRG_CHUNK_WORDS) {
    size_t m = j->hi - off < PRG_CHUNK_WORDS ? j->hi - off : PRG_CHUNK_WORDS;
    for (size_t k = 0; k < j->n_seeds; k++) {
      bulk_prg_next(prg[k], (uint8_t *)buf, 4 * m);
      prg_words(buf, m);
      if (j->signs[k] < 0)
        sub_words(j->acc + off, buf, m);
      else
        add_words(j->acc + off, buf, m);
    }
  }
  for (size_t k = 0; prg && k < j->n_seeds; k++) bulk_prg_free(prg[k]);
  free(prg);
  if (buf) sodium_memzero(buf, sizeof(uint32_t) * PRG_CHUNK_WORDS);
  free(buf);
  if (j->helper) prof_add_locked(PROF_HELPERS, tp);
  return NULL;
}

int secagg_unmask_threads(void) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  return cores > SECAGG_MAX_THREADS ? SECAGG_MAX_THREADS : cores < 1 ? 1 : (int)cores;
}

int secagg_mask_apply_mt(uint32_t *acc, size_t n, const uint8_t (*seeds)[SECAGG_SEEDBYTES], const int8_t *signs,
                         size_t n_seeds, int threads, fm_err *err) {
  if (n_seeds == 0 || n == 0) return 0;
  if (threads > SECAGG_MAX_THREADS) threads = SECAGG_MAX_THREADS;
  if (threads < 1 || n < (size_t)threads * 65536) threads = 1; /* not worth a thread */
  mask_job_t job[SECAGG_MAX_THREADS];
  pthread_t tid[SECAGG_MAX_THREADS];
  int started[SECAGG_MAX_THREADS] = {0};
  size_t per = (n / (size_t)threads + 15) / 16 * 16; /* whole blocks per thread */
  for (int t = 0; t < threads; t++) {
    size_t lo = per * (size_t)t < n ? per * (size_t)t : n, hi = lo + per < n && t + 1 < threads ? lo + per : n;
    job[t] = (mask_job_t){acc, lo, hi, seeds, signs, n_seeds, 0, t > 0};
  }
  for (int t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, mask_range, &job[t]) == 0;
  mask_range(&job[0]);
  int rc = job[0].rc;
  for (int t = 1; t < threads; t++) {
    if (started[t]) {
      pthread_join(tid[t], NULL);
    } else {
      job[t].helper = 0;
      mask_range(&job[t]); /* no thread: this one does it */
    }
    rc |= job[t].rc;
  }
  return rc ? fm_fail(err, "secagg: out of memory for the mask generators") : 0;
}

int secagg_mask_apply(uint32_t *acc, size_t n, const uint8_t (*seeds)[SECAGG_SEEDBYTES], const int8_t *signs,
                      size_t n_seeds, fm_err *err) {
  return secagg_mask_apply_mt(acc, n, seeds, signs, n_seeds, 1, err);
}

static void mask_apply1(uint32_t *acc, size_t n, const uint8_t seed[32], int8_t sign) {
  fm_err e;
  if (secagg_mask_apply(acc, n, (const uint8_t(*)[SECAGG_SEEDBYTES])seed, &sign, 1, &e) == 0) return;
  /* out of memory for the streaming state: expand block by block instead */
  uint32_t w[16];
  for (size_t off = 0; off < n; off += 16) {
    size_t m = n - off < 16 ? n - off : 16;
    bulk_chacha20_stream((uint8_t *)w, 4 * m, off / 16, seed);
    prg_words(w, m);
    if (sign < 0)
      sub_words(acc + off, w, m);
    else
      add_words(acc + off, w, m);
  }
  sodium_memzero(w, sizeof w);
}

void secagg_mask_add(uint32_t *acc, size_t n, const uint8_t seed[SECAGG_SEEDBYTES]) { mask_apply1(acc, n, seed, 1); }
void secagg_mask_sub(uint32_t *acc, size_t n, const uint8_t seed[SECAGG_SEEDBYTES]) { mask_apply1(acc, n, seed, -1); }

void secagg_vec_add(uint32_t *acc, const uint32_t *x, size_t n) {
  if (acc == x) {
    for (size_t i = 0; i < n; i++) acc[i] += acc[i];
    return;
  }
  add_words(acc, x, n);
}
void secagg_vec_sub(uint32_t *acc, const uint32_t *x, size_t n) {
  if (acc == x) {
    memset(acc, 0, n * sizeof *acc);
    return;
  }
  sub_words(acc, x, n);
}

/* --- (b) pairwise seeds -------------------------------------------------- */

static const char SELF_TAG[] = "fedmeta-secagg-self-v1";

void secagg_self_seed(uint8_t out[SECAGG_SEEDBYTES], const uint8_t b[SECAGG_SEEDBYTES], const uint8_t *bind,
                      uint64_t job, uint32_t round, uint32_t slot) {
  if (!bind) {
    if (out != b) memcpy(out, b, SECAGG_SEEDBYTES);
    return;
  }
  uint8_t ctx[8 + 4 + 4];
  le_put64(ctx, job);
  le_put32(ctx + 8, round);
  le_put32(ctx + 12, slot);
  crypto_generichash_state st;
  crypto_generichash_init(&st, bind, SECAGG_SEEDBYTES, SECAGG_SEEDBYTES);
  crypto_generichash_update(&st, (const uint8_t *)SELF_TAG, sizeof SELF_TAG - 1);
  crypto_generichash_update(&st, ctx, sizeof ctx);
  crypto_generichash_update(&st, b, SECAGG_SEEDBYTES);
  crypto_generichash_final(&st, out, SECAGG_SEEDBYTES); /* out may be b */
  sodium_memzero(&st, sizeof st);
}

int secagg_pair_seed(uint8_t seed[SECAGG_SEEDBYTES], const uint8_t my_sk[SECAGG_SKBYTES],
                     const uint8_t my_pk[SECAGG_PKBYTES], const uint8_t peer_pk[SECAGG_PKBYTES],
                     uint64_t job, uint32_t round, uint32_t me, uint32_t peer, fm_err *err) {
  if (me == peer) return fm_fail(err, "secagg: slot %u has no pairwise mask with itself", me);
  uint8_t shared[crypto_scalarmult_BYTES];
  if (crypto_scalarmult(shared, my_sk, peer_pk) != 0) {
    sodium_memzero(shared, sizeof shared);
    return fm_fail(err, "secagg: slot %u's mask public key is invalid (low order)", peer);
  }
  uint32_t lo = me < peer ? me : peer, hi = me < peer ? peer : me;
  const uint8_t *pk_lo = me < peer ? my_pk : peer_pk, *pk_hi = me < peer ? peer_pk : my_pk;
  uint8_t ctx[8 + 4 + 4 + 4];
  le_put64(ctx, job);
  le_put32(ctx + 8, round);
  le_put32(ctx + 12, lo);
  le_put32(ctx + 16, hi);
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, SECAGG_SEEDBYTES);
  crypto_generichash_update(&st, (const uint8_t *)PAIR_TAG, sizeof PAIR_TAG);
  crypto_generichash_update(&st, ctx, sizeof ctx);
  crypto_generichash_update(&st, pk_lo, SECAGG_PKBYTES);
  crypto_generichash_update(&st, pk_hi, SECAGG_PKBYTES);
  crypto_generichash_update(&st, shared, sizeof shared);
  crypto_generichash_final(&st, seed, SECAGG_SEEDBYTES);
  sodium_memzero(shared, sizeof shared);
  sodium_memzero(&st, sizeof st);
  return 0;
}

void secagg_advertise_bytes(uint8_t out[SECAGG_ADVBYTES], uint64_t job, uint32_t round, uint32_t slot,
                            const uint8_t mask_pk[SECAGG_PKBYTES]) {
  le_put64(out, job);
  le_put32(out + 8, round);
  le_put32(out + 12, slot);
  memcpy(out + 16, mask_pk, SECAGG_PKBYTES);
}

/* --- (d) Shamir over GF(2^8) --------------------------------------------- */

/* Russian-peasant multiplication modulo x^8+x^4+x^3+x+1; every branch is a
 * mask, so the time does not depend on the (secret) operands. */
uint8_t secagg_gf256_mul(uint8_t a, uint8_t b) {
  unsigned r = 0, x = a, y = b;
  for (int i = 0; i < 8; i++) {
    r ^= (0u - (y & 1u)) & x;
    y >>= 1;
    x = ((x << 1) ^ ((0u - (x >> 7)) & 0x11bu)) & 0xffu;
  }
  return (uint8_t)r;
}

/* a^254 = a^-1 (a != 0); only ever applied to public x-coordinates. */
static uint8_t gf_inv(uint8_t a) {
  uint8_t r = 1, p = a;
  for (int e = 254; e; e >>= 1) {
    if (e & 1) r = secagg_gf256_mul(r, p);
    p = secagg_gf256_mul(p, p);
  }
  return r;
}

int secagg_shamir_split_with(secagg_share_t *out, uint32_t n, uint32_t t, const uint8_t secret[32],
                             const uint8_t *coeffs, fm_err *err) {
  if (t < 1 || t > n || n > SECAGG_MAX_HOLDERS)
    return fm_fail(err, "shamir: need 1 <= t <= n <= %u, got t = %u, n = %u", SECAGG_MAX_HOLDERS, t, n);
  for (uint32_t i = 0; i < n; i++) {
    uint8_t x = (uint8_t)(i + 1);
    out[i].x = x;
    for (int j = 0; j < 32; j++) { /* Horner from the top coefficient */
      uint8_t acc = 0;
      for (uint32_t k = t - 1; k >= 1; k--) acc = secagg_gf256_mul(acc, x) ^ coeffs[(size_t)(k - 1) * 32 + j];
      out[i].y[j] = secagg_gf256_mul(acc, x) ^ secret[j];
    }
  }
  return 0;
}

int secagg_shamir_split(secagg_share_t *out, uint32_t n, uint32_t t, const uint8_t secret[32], fm_err *err) {
  if (t < 1 || t > n || n > SECAGG_MAX_HOLDERS)
    return fm_fail(err, "shamir: need 1 <= t <= n <= %u, got t = %u, n = %u", SECAGG_MAX_HOLDERS, t, n);
  uint8_t coeffs[(SECAGG_MAX_HOLDERS - 1) * 32];
  size_t len = (size_t)(t - 1) * 32;
  randombytes_buf(coeffs, len);
  int rc = secagg_shamir_split_with(out, n, t, secret, coeffs, err);
  sodium_memzero(coeffs, len);
  return rc;
}

int secagg_shamir_combine(uint8_t secret[32], const secagg_share_t *shares, size_t k, fm_err *err) {
  if (k < 1 || k > SECAGG_MAX_HOLDERS) return fm_fail(err, "shamir: %zu shares", k);
  for (size_t i = 0; i < k; i++) {
    if (shares[i].x == 0) return fm_fail(err, "shamir: share %zu has x = 0", i);
    for (size_t j = 0; j < i; j++)
      if (shares[i].x == shares[j].x) return fm_fail(err, "shamir: two shares with x = %u", shares[i].x);
  }
  memset(secret, 0, 32);
  for (size_t i = 0; i < k; i++) {
    /* lambda_i = prod_{j != i} x_j / (x_j - x_i); subtraction is xor */
    uint8_t num = 1, den = 1;
    for (size_t j = 0; j < k; j++) {
      if (j == i) continue;
      num = secagg_gf256_mul(num, shares[j].x);
      den = secagg_gf256_mul(den, shares[j].x ^ shares[i].x);
    }
    uint8_t lam = secagg_gf256_mul(num, gf_inv(den));
    for (int b = 0; b < 32; b++) secret[b] ^= secagg_gf256_mul(lam, shares[i].y[b]);
  }
  return 0;
}

/* --- (f) neighbour graph ------------------------------------------------- */

void secagg_graph_seed(uint8_t seed[32], uint64_t job, uint32_t round) {
  uint8_t m[sizeof GRAPH_TAG + 12];
  memcpy(m, GRAPH_TAG, sizeof GRAPH_TAG);
  le_put64(m + sizeof GRAPH_TAG, job);
  le_put32(m + sizeof GRAPH_TAG + 8, round);
  crypto_generichash(seed, 32, m, sizeof m, NULL, 0);
}

int secagg_graph_init(secagg_graph_t *g, uint32_t n, uint32_t k, const uint8_t seed[32], fm_err *err) {
  memset(g, 0, sizeof *g);
  if (n < 2) return fm_fail(err, "secagg: a round needs at least 2 parties, got %u", n);
  g->n = n;
  if (k == 0 || k >= n - 1) {
    if (n > SECAGG_MAX_HOLDERS)
      return fm_fail(err, "secagg: the complete graph allows at most %u parties, got %u; set a neighbour "
                          "count k (SecAgg+)", SECAGG_MAX_HOLDERS, n);
    g->deg = n - 1;
    return 0;
  }
  if (k % 2 != 0 || k < 2 || k + 1 > SECAGG_MAX_HOLDERS)
    return fm_fail(err, "secagg: neighbour count k = %u must be even and in 2..%u", k, SECAGG_MAX_HOLDERS - 1);
  g->deg = k;
  g->pos = malloc(n * sizeof *g->pos);
  g->at = malloc(n * sizeof *g->at);
  uint32_t *r = malloc(n * sizeof *r);
  if (!g->pos || !g->at || !r) {
    free(r);
    secagg_graph_free(g);
    return fm_fail(err, "secagg: out of memory");
  }
  /* Fisher-Yates with public randomness; multiply-shift bias <= n / 2^32 is
   * irrelevant for a public graph. */
  randombytes_buf_deterministic(r, n * sizeof *r, seed);
  for (uint32_t i = 0; i < n; i++) g->at[i] = i;
  for (uint32_t i = n - 1; i > 0; i--) {
    uint32_t j = (uint32_t)(((uint64_t)le_get32((const uint8_t *)&r[i]) * (i + 1)) >> 32);
    uint32_t tmp = g->at[i];
    g->at[i] = g->at[j];
    g->at[j] = tmp;
  }
  for (uint32_t i = 0; i < n; i++) g->pos[g->at[i]] = i;
  free(r);
  return 0;
}

void secagg_graph_free(secagg_graph_t *g) {
  if (!g) return;
  free(g->pos);
  free(g->at);
  memset(g, 0, sizeof *g);
}

int secagg_graph_adjacent(const secagg_graph_t *g, uint32_t u, uint32_t v) {
  if (u == v || u >= g->n || v >= g->n) return 0;
  if (!g->pos) return 1;
  uint32_t d = (g->pos[u] + g->n - g->pos[v]) % g->n;
  if (g->n - d < d) d = g->n - d;
  return d >= 1 && d <= g->deg / 2;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

uint32_t secagg_graph_holders(const secagg_graph_t *g, uint32_t u, uint32_t *out) {
  if (!g->pos) {
    for (uint32_t i = 0; i < g->n; i++) out[i] = i;
    return g->n;
  }
  uint32_t m = 0, h = g->deg / 2;
  for (uint32_t d = 0; d <= 2 * h; d++) out[m++] = g->at[(g->pos[u] + g->n - h + d) % g->n];
  qsort(out, m, sizeof *out, cmp_u32);
  return m;
}

uint32_t secagg_graph_x(const secagg_graph_t *g, uint32_t owner, uint32_t holder) {
  if (owner >= g->n || holder >= g->n) return 0;
  if (owner != holder && !secagg_graph_adjacent(g, owner, holder)) return 0;
  uint32_t hs[SECAGG_MAX_HOLDERS];
  uint32_t m = secagg_graph_holders(g, owner, hs);
  for (uint32_t i = 0; i < m; i++)
    if (hs[i] == holder) return i + 1;
  return 0;
}

/* --- (e) recovery -------------------------------------------------------- */

int secagg_unmask(uint32_t *sum, size_t n_words, const secagg_graph_t *g, uint64_t job, uint32_t round,
                  const uint8_t *state, const uint8_t (*pk)[SECAGG_PKBYTES],
                  const uint8_t (*b)[SECAGG_SEEDBYTES], const uint8_t (*sk)[SECAGG_SKBYTES], fm_err *err) {
  return secagg_unmask_rest(sum, n_words, g, job, round, state, NULL, pk, b, sk, err);
}

int secagg_unmask_rest(uint32_t *sum, size_t n_words, const secagg_graph_t *g, uint64_t job, uint32_t round,
                       const uint8_t *state, const uint8_t *self_done, const uint8_t (*pk)[SECAGG_PKBYTES],
                       const uint8_t (*b)[SECAGG_SEEDBYTES], const uint8_t (*sk)[SECAGG_SKBYTES], fm_err *err) {
  /* every mask to remove, then one pass over the sum */
  size_t cap = 0;
  for (uint32_t u = 0; u < g->n; u++)
    if (state[u] == SECAGG_SURVIVED) cap += !(self_done && self_done[u]);
    else if (state[u] == SECAGG_DROPPED) cap += g->deg;
  uint8_t (*seeds)[SECAGG_SEEDBYTES] = sodium_malloc((cap ? cap : 1) * SECAGG_SEEDBYTES);
  int8_t *signs = malloc(cap ? cap : 1);
  if (!seeds || !signs) {
    if (seeds) sodium_free(seeds);
    free(signs);
    return fm_fail(err, "secagg: out of memory");
  }
  size_t k = 0;
  int rc = 0;
  for (uint32_t u = 0; u < g->n; u++)
    if (state[u] == SECAGG_SURVIVED && !(self_done && self_done[u])) {
      memcpy(seeds[k], b[u], SECAGG_SEEDBYTES);
      signs[k++] = -1;
    }
  for (uint32_t d = 0; d < g->n && !rc; d++) {
    if (state[d] != SECAGG_DROPPED) continue;
    for (uint32_t v = 0; v < g->n; v++) {
      if (state[v] != SECAGG_SURVIVED || !secagg_graph_adjacent(g, d, v)) continue;
      if (secagg_pair_seed(seeds[k], sk[d], pk[d], pk[v], job, round, d, v, err)) {
        rc = fm_wrap(err, "secagg: unmasking dropped slot %u", d);
        break;
      }
      /* v added +PRG(s_vd) when d > v and -PRG(s_vd) when d < v: undo it */
      signs[k++] = d > v ? -1 : 1;
    }
  }
  /* The coordinator unmasks while the parties wait: all its cores can help.
   * The words are exact sums mod 2^32, the same however the work is split. */
  int threads = secagg_unmask_threads();
  if (!rc) rc = secagg_mask_apply_mt(sum, n_words, (const uint8_t(*)[SECAGG_SEEDBYTES])seeds, signs, k, threads, err);
  sodium_free(seeds); /* wipes */
  free(signs);
  return rc;
}

/* --- wire forms ---------------------------------------------------------- */

void secagg_keyshare_pack(uint8_t out[SECAGG_KEYSHAREBYTES], const secagg_keyshare_t *s) {
  le_put32(out, s->owner);
  le_put32(out + 4, s->holder);
  out[8] = s->x;
  memcpy(out + 9, s->sk, 32);
  memcpy(out + 41, s->b, 32);
}

int secagg_keyshare_unpack(secagg_keyshare_t *s, const uint8_t *in, size_t len, fm_err *err) {
  if (len != SECAGG_KEYSHAREBYTES) return fm_fail(err, "secagg: key share of %zu bytes, expected %u", len, SECAGG_KEYSHAREBYTES);
  s->owner = le_get32(in);
  s->holder = le_get32(in + 4);
  s->x = in[8];
  memcpy(s->sk, in + 9, 32);
  memcpy(s->b, in + 41, 32);
  return 0;
}

void secagg_reveal_pack(uint8_t out[SECAGG_REVEALBYTES], const secagg_reveal_t *r) {
  le_put32(out, r->owner);
  out[4] = r->kind;
  out[5] = r->x;
  memcpy(out + 6, r->y, 32);
}

int secagg_reveal_unpack(secagg_reveal_t *r, const uint8_t *in, size_t len, fm_err *err) {
  if (len != SECAGG_REVEALBYTES) return fm_fail(err, "secagg: reveal of %zu bytes, expected %u", len, SECAGG_REVEALBYTES);
  r->owner = le_get32(in);
  r->kind = in[4];
  r->x = in[5];
  memcpy(r->y, in + 6, 32);
  if (r->kind != SECAGG_REVEAL_B && r->kind != SECAGG_REVEAL_SK) return fm_fail(err, "secagg: reveal of unknown kind %u", r->kind);
  return 0;
}

/* --- client -------------------------------------------------------------- */

struct secagg_client_secret {
  uint8_t sk[SECAGG_SKBYTES];
  uint8_t b[SECAGG_SEEDBYTES];
  uint8_t bind[SECAGG_SEEDBYTES]; /* self-mask binding key, if has_bind */
  int has_bind;
  secagg_keyshare_t held[SECAGG_MAX_HOLDERS];
  uint8_t told[SECAGG_MAX_HOLDERS]; /* held[i] revealed: 0, SECAGG_REVEAL_B or _SK */
};

static int check_t(const secagg_graph_t *g, uint32_t t, fm_err *err) {
  uint32_t h = g->deg + 1;
  if (t < 1 || t > h || 2 * t <= h)
    return fm_fail(err, "secagg: threshold t = %u must be a majority of the %u holders (%u..%u)", t, h, h / 2 + 1, h);
  return 0;
}

int secagg_client_init(secagg_client_t *c, const secagg_graph_t *g, uint64_t job, uint32_t round,
                       uint32_t slot, uint32_t t, fm_err *err) {
  memset(c, 0, sizeof *c);
  if (sodium_init() < 0) return fm_fail(err, "libsodium failed to initialise");
  if (slot >= g->n) return fm_fail(err, "secagg: slot %u of %u", slot, g->n);
  if (check_t(g, t, err)) return -1;
  c->sec = sodium_malloc(sizeof *c->sec);
  if (!c->sec) return fm_fail(err, "secagg: cannot allocate protected memory");
  memset(c->sec, 0, sizeof *c->sec); /* sodium_malloc fills with a canary pattern */
  randombytes_buf(c->sec->sk, sizeof c->sec->sk);
  randombytes_buf(c->sec->b, sizeof c->sec->b);
  crypto_scalarmult_base(c->mask_pk, c->sec->sk);
  c->g = g;
  c->job = job;
  c->round = round;
  c->slot = slot;
  c->t = t;
  return 0;
}

void secagg_client_bind_self(secagg_client_t *c, const uint8_t bind[SECAGG_SEEDBYTES]) {
  memcpy(c->sec->bind, bind, SECAGG_SEEDBYTES);
  c->sec->has_bind = 1;
}

/* c's self-mask seed */
static void client_self_seed(uint8_t out[SECAGG_SEEDBYTES], const secagg_client_t *c) {
  secagg_self_seed(out, c->sec->b, c->sec->has_bind ? c->sec->bind : NULL, c->job, c->round, c->slot);
}

void secagg_client_free(secagg_client_t *c) {
  if (!c) return;
  if (c->sec) sodium_free(c->sec);
  memset(c, 0, sizeof *c);
}

int secagg_client_share(secagg_keyshare_t *out, size_t cap, size_t *n_out, secagg_client_t *c, fm_err *err) {
  *n_out = 0;
  uint32_t hs[SECAGG_MAX_HOLDERS];
  uint32_t m = secagg_graph_holders(c->g, c->slot, hs);
  if (cap < m) return fm_fail(err, "secagg: room for %zu key shares, need %u", cap, m);
  secagg_share_t *s = sodium_malloc(2 * (size_t)m * sizeof *s);
  if (!s) return fm_fail(err, "secagg: cannot allocate protected memory");
  if (secagg_shamir_split(s, m, c->t, c->sec->sk, err) || secagg_shamir_split(s + m, m, c->t, c->sec->b, err)) {
    sodium_free(s);
    return -1;
  }
  for (uint32_t i = 0; i < m; i++) {
    out[i].owner = c->slot;
    out[i].holder = hs[i];
    out[i].x = s[i].x;
    memcpy(out[i].sk, s[i].y, 32);
    memcpy(out[i].b, s[m + i].y, 32);
  }
  sodium_free(s);
  *n_out = m;
  return 0;
}

int secagg_client_hold(secagg_client_t *c, const secagg_keyshare_t *s, fm_err *err) {
  if (c->masked) return fm_fail(err, "secagg: slot %u got a key share after masking", c->slot);
  if (s->holder != c->slot) return fm_fail(err, "secagg: key share for slot %u delivered to slot %u", s->holder, c->slot);
  uint32_t x = secagg_graph_x(c->g, s->owner, c->slot);
  if (x == 0) return fm_fail(err, "secagg: slot %u is not a neighbour of slot %u", s->owner, c->slot);
  if (s->x != x) return fm_fail(err, "secagg: key share from slot %u has x = %u, expected %u", s->owner, s->x, x);
  for (uint32_t i = 0; i < c->n_held; i++)
    if (c->sec->held[i].owner == s->owner) return fm_fail(err, "secagg: second key share from slot %u", s->owner);
  c->sec->held[c->n_held++] = *s;
  return 0;
}

int secagg_client_mask(uint32_t *y, size_t n, secagg_client_t *c, const uint8_t (*pk)[SECAGG_PKBYTES], fm_err *err) {
  if (c->masked) return fm_fail(err, "secagg: slot %u masks once per round", c->slot);
  if (c->n_held < c->t) {
    fm_fail(err, "secagg: slot %u holds %u key shares, fewer than t = %u: round aborted", c->slot, c->n_held, c->t);
    return SECAGG_ETHRESHOLD;
  }
  /* the pairwise seeds and the self-mask seed, then one pass over y */
  uint8_t (*seeds)[SECAGG_SEEDBYTES] = sodium_malloc(((size_t)c->n_held + 1) * SECAGG_SEEDBYTES);
  int8_t signs[SECAGG_MAX_HOLDERS + 1];
  if (!seeds) return fm_fail(err, "secagg: cannot allocate protected memory");
  size_t k = 0;
  int rc = 0;
  for (uint32_t i = 0; i < c->n_held && !rc; i++) {
    uint32_t v = c->sec->held[i].owner;
    if (v == c->slot) continue;
    rc = secagg_pair_seed(seeds[k], c->sec->sk, c->mask_pk, pk[v], c->job, c->round, c->slot, v, err);
    signs[k++] = v > c->slot ? 1 : -1;
  }
  client_self_seed(seeds[k], c);
  signs[k++] = 1;
  if (!rc) rc = secagg_mask_apply(y, n, (const uint8_t(*)[SECAGG_SEEDBYTES])seeds, signs, k, err);
  sodium_free(seeds); /* wipes */
  if (rc) return -1;
  c->masked = 1;
  return 0;
}

/* out = -x (mod 2^32) */
WIDE_LOOP static void neg_words(uint32_t *restrict out, const uint32_t *restrict x, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    u32x16 b;
    memcpy(&b, x + i, sizeof b);
    b = -b;
    memcpy(out + i, &b, sizeof b);
  }
  for (; i < n; i++) out[i] = 0u - x[i];
}

/* Streams made in one pass over the outputs (each needs a generator). */
#define BATCH_MAX_STREAMS 1024u

/* Whether batch party c takes part in the pair with slot v (holds v's share). */
static int client_holds(const secagg_client_t *c, uint32_t v) {
  for (uint32_t i = 0; i < c->n_held; i++)
    if (c->sec->held[i].owner == v) return 1;
  return 0;
}

int secagg_clients_mask(uint32_t *const *out, size_t n, secagg_client_t *const *cs, size_t k,
                        const uint8_t (*pk)[SECAGG_PKBYTES], int add, void (*ready)(void *arg, size_t i), void *arg,
                        fm_err *err) {
  if (k == 0) return 0;
  if (k > SECAGG_MAX_HOLDERS) return fm_fail(err, "secagg: %zu parties in one mask batch (at most %u)", k, SECAGG_MAX_HOLDERS);
  const secagg_graph_t *g = cs[0]->g;
  for (size_t i = 0; i < k; i++) {
    const secagg_client_t *c = cs[i];
    if (c->g != g || c->job != cs[0]->job || c->round != cs[0]->round)
      return fm_fail(err, "secagg: a mask batch mixes rounds");
    if (c->masked) return fm_fail(err, "secagg: slot %u masks once per round", c->slot);
    for (size_t j = 0; j < i; j++)
      if (cs[j]->slot == c->slot || out[j] == out[i]) return fm_fail(err, "secagg: slot %u twice in a mask batch", c->slot);
  }
  for (size_t i = 0; i < k; i++)
    if (cs[i]->n_held < cs[i]->t) {
      fm_fail(err, "secagg: slot %u holds %u key shares, fewer than t = %u: round aborted", cs[i]->slot, cs[i]->n_held,
              cs[i]->t);
      return SECAGG_ETHRESHOLD;
    }
  /* batch index of each slot (-1: not here); whether the key at pk is the party's own */
  int32_t *idx = malloc(g->n * sizeof *idx);
  uint8_t *own = malloc(k), *init = calloc(k, 1), *touched = malloc(k);
  uint32_t *buf = malloc(sizeof(uint32_t) * PRG_CHUNK_WORDS);
  size_t cap = BATCH_MAX_STREAMS + SECAGG_MAX_HOLDERS + 1; /* a group, plus one party past the limit */
  bulk_prg_t **prg = calloc(cap, sizeof *prg);
  uint8_t (*seeds)[SECAGG_SEEDBYTES] = sodium_malloc(cap * SECAGG_SEEDBYTES);
  uint32_t (*to)[2] = malloc(cap * sizeof *to);
  int8_t (*sg)[2] = malloc(cap * sizeof *sg);
  uint8_t *nto = malloc(cap);
  int rc = 0;
  if (!idx || !own || !init || !touched || !buf || !prg || !seeds || !to || !sg || !nto) {
    rc = fm_fail(err, "secagg: out of memory for the mask batch");
    goto done;
  }
  for (uint32_t v = 0; v < g->n; v++) idx[v] = -1;
  for (size_t i = 0; i < k; i++) {
    idx[cs[i]->slot] = (int32_t)i;
    own[i] = sodium_memcmp(pk[cs[i]->slot], cs[i]->mask_pk, SECAGG_PKBYTES) == 0;
  }
  /* Words per chunk: every target's chunk stays in the L2 cache with the
   * keystream chunk, so each output is written once per group whatever the
   * number of streams. */
  size_t chunk = PRG_CHUNK_WORDS;
  if (k > 8) chunk = (32768 / k) / 16 * 16 < 256 ? 256 : (32768 / k) / 16 * 16;
  for (size_t g0 = 0; g0 < k && !rc;) {
    /* a group of parties [g0, g1) with at most BATCH_MAX_STREAMS streams (at least one party) */
    size_t ns = 0, g1 = g0;
    while (g1 < k && !rc && (g1 == g0 || ns + cs[g1]->n_held + 1 <= BATCH_MAX_STREAMS)) {
      secagg_client_t *c = cs[g1];
      /* the streams of party g1 not already applied with an earlier party's */
      for (uint32_t h = 0; h < c->n_held && !rc; h++) {
        uint32_t v = c->sec->held[h].owner;
        if (v == c->slot) continue;
        int32_t j = idx[v];
        int shared = j >= 0 && own[g1] && own[j] && client_holds(cs[j], c->slot);
        if (shared && (size_t)j < g1) continue; /* PRG(s_uv) goes to both with party j's streams */
        if (secagg_pair_seed(seeds[ns], c->sec->sk, c->mask_pk, pk[v], c->job, c->round, c->slot, v, err)) {
          rc = -1;
          break;
        }
        to[ns][0] = (uint32_t)g1;
        sg[ns][0] = v > c->slot ? 1 : -1;
        nto[ns] = 1;
        if (shared) { /* the other side of the pair: the opposite sign, the same words */
          to[ns][1] = (uint32_t)j;
          sg[ns][1] = (int8_t)-sg[ns][0];
          nto[ns] = 2;
        }
        ns++;
      }
      if (rc) break;
      client_self_seed(seeds[ns], c);
      to[ns][0] = (uint32_t)g1;
      sg[ns][0] = 1;
      nto[ns++] = 1;
      g1++;
    }
    for (size_t s = 0; s < ns && !rc; s++)
      if (!(prg[s] = bulk_prg_new(seeds[s]))) rc = fm_fail(err, "secagg: out of memory for the mask generators");
    sodium_memzero(seeds, ns * SECAGG_SEEDBYTES);
    for (size_t off = 0; !rc && off < n; off += chunk) {
      size_t m = n - off < chunk ? n - off : chunk;
      memset(touched, 0, k);
      for (size_t s = 0; s < ns; s++) {
        bulk_prg_next(prg[s], (uint8_t *)buf, 4 * m);
        prg_words(buf, m);
        for (uint8_t e = 0; e < nto[s]; e++) {
          uint32_t t = to[s][e];
          uint32_t *o = out[t] + off;
          if (!add && !init[t] && !touched[t]) { /* the first words of this chunk: store */
            if (sg[s][e] < 0) neg_words(o, buf, m);
            else memcpy(o, buf, 4 * m);
          } else if (sg[s][e] < 0) {
            sub_words(o, buf, m);
          } else {
            add_words(o, buf, m);
          }
          touched[t] = 1;
        }
      }
    }
    for (size_t s = 0; s < ns; s++) {
      bulk_prg_free(prg[s]);
      prg[s] = NULL;
      for (uint8_t e = 0; e < nto[s]; e++) init[to[s][e]] = 1;
    }
    if (rc) break;
    for (size_t i = g0; i < g1; i++) {
      cs[i]->masked = 1;
      if (ready) ready(arg, i);
    }
    g0 = g1;
  }
done:
  free(idx);
  free(own);
  free(init);
  free(touched);
  if (buf) sodium_memzero(buf, sizeof(uint32_t) * PRG_CHUNK_WORDS);
  free(buf);
  free(prg);
  if (seeds) sodium_free(seeds);
  free(to);
  free(sg);
  free(nto);
  return rc;
}

/* Reveals c's share i of the given kind (SECAGG_REVEAL_B or _SK) into *out and
 * remembers it: each share goes out at most once, and of one kind. */
static void reveal_share(secagg_reveal_t *out, secagg_client_t *c, uint32_t i, uint8_t kind) {
  const secagg_keyshare_t *h = &c->sec->held[i];
  c->sec->told[i] = kind;
  out->owner = h->owner;
  out->kind = kind;
  out->x = h->x;
  memcpy(out->y, kind == SECAGG_REVEAL_SK ? h->sk : h->b, 32);
}

int secagg_client_reveal(secagg_reveal_t *out, size_t cap, size_t *n_out, secagg_client_t *c,
                         const uint8_t *state, fm_err *err) {
  *n_out = 0;
  if (c->revealed) {
    fm_fail(err, "secagg: slot %u already revealed its shares this round (refused)", c->slot);
    return SECAGG_EINCONSISTENT;
  }
  if (!c->masked || state[c->slot] != SECAGG_SURVIVED) {
    fm_fail(err, "secagg: slot %u is not a survivor of this round (refused)", c->slot);
    return SECAGG_EINCONSISTENT;
  }
  if (cap < c->n_held) return fm_fail(err, "secagg: room for %zu reveals, need %u", cap, c->n_held);
  uint32_t hs[SECAGG_MAX_HOLDERS];
  uint32_t m = secagg_graph_holders(c->g, c->slot, hs), alive = 0;
  for (uint32_t i = 0; i < m; i++) alive += state[hs[i]] == SECAGG_SURVIVED;
  if (alive < c->t) {
    fm_fail(err, "secagg: %u of slot %u's holders survived, fewer than t = %u: round aborted", alive, c->slot, c->t);
    return SECAGG_ETHRESHOLD;
  }
  for (uint32_t i = 0; i < c->n_held; i++) {
    uint8_t st = state[c->sec->held[i].owner];
    if (st != SECAGG_SURVIVED && st != SECAGG_DROPPED) {
      fm_fail(err, "secagg: slot %u shared keys but is marked %s (refused)", c->sec->held[i].owner,
              st == SECAGG_ABSENT ? "absent" : "undecided");
      return SECAGG_EINCONSISTENT;
    }
    if (st == SECAGG_DROPPED && c->sec->told[i] == SECAGG_REVEAL_B) {
      fm_fail(err, "secagg: slot %u survived earlier in this round and is now marked dropped (refused)",
              c->sec->held[i].owner);
      return SECAGG_EINCONSISTENT;
    }
  }
  c->revealed = 1; /* from here on, never a second answer this round */
  size_t k = 0;
  for (uint32_t i = 0; i < c->n_held; i++) {
    if (c->sec->told[i]) continue; /* revealed early (stage 2b) */
    int dropped = state[c->sec->held[i].owner] == SECAGG_DROPPED;
    reveal_share(&out[k++], c, i, dropped ? SECAGG_REVEAL_SK : SECAGG_REVEAL_B);
  }
  *n_out = k;
  return 0;
}

int secagg_client_reveal_new(secagg_reveal_t *out, size_t cap, size_t *n_out, secagg_client_t *c,
                             const uint8_t *state, fm_err *err) {
  *n_out = 0;
  if (c->revealed) {
    fm_fail(err, "secagg: slot %u already gave its final reveals this round (refused)", c->slot);
    return SECAGG_EINCONSISTENT;
  }
  if (cap < c->n_held) return fm_fail(err, "secagg: room for %zu reveals, need %u", cap, c->n_held);
  for (uint32_t i = 0; i < c->n_held; i++) {
    uint8_t st = state[c->sec->held[i].owner];
    if (st != SECAGG_SURVIVED && st != SECAGG_SHARED) {
      fm_fail(err, "secagg: slot %u shared keys but is marked %s before the deadline (refused)", c->sec->held[i].owner,
              st == SECAGG_DROPPED ? "dropped" : "absent");
      return SECAGG_EINCONSISTENT;
    }
  }
  size_t k = 0;
  for (uint32_t i = 0; i < c->n_held; i++)
    if (!c->sec->told[i] && state[c->sec->held[i].owner] == SECAGG_SURVIVED) reveal_share(&out[k++], c, i, SECAGG_REVEAL_B);
  *n_out = k;
  return 0;
}

/* --- server -------------------------------------------------------------- */

int secagg_server_init(secagg_server_t *s, const secagg_graph_t *g, uint64_t job, uint32_t round,
                       uint32_t t, size_t n_words, fm_err *err) {
  memset(s, 0, sizeof *s);
  if (sodium_init() < 0) return fm_fail(err, "libsodium failed to initialise");
  if (check_t(g, t, err)) return -1;
  s->g = g;
  s->job = job;
  s->round = round;
  s->t = t;
  s->n_words = n_words;
  s->pk = calloc(g->n, sizeof *s->pk);
  s->has_pk = calloc(g->n, 1);
  s->state = calloc(g->n, 1);
  s->acc = calloc(n_words ? n_words : 1, sizeof *s->acc);
  s->cap_rv = (size_t)g->n * (g->deg + 1);
  s->rv = calloc(s->cap_rv, sizeof *s->rv);
  s->rv_from = calloc(s->cap_rv, sizeof *s->rv_from);
  s->self_done = calloc(g->n, 1);
  s->seen = calloc(s->cap_rv, 1);
  s->bind = sodium_malloc((size_t)g->n * SECAGG_SEEDBYTES + 1);
  s->has_bind = calloc(g->n, 1);
  if (!s->pk || !s->has_pk || !s->state || !s->acc || !s->rv || !s->rv_from || !s->self_done || !s->seen || !s->bind ||
      !s->has_bind) {
    secagg_server_free(s);
    return fm_fail(err, "secagg: out of memory");
  }
  return 0;
}

void secagg_server_free(secagg_server_t *s) {
  if (!s) return;
  free(s->pk);
  free(s->has_pk);
  free(s->state);
  if (!s->acc_borrowed) free(s->acc);
  if (s->rv) sodium_memzero(s->rv, s->cap_rv * sizeof *s->rv);
  free(s->rv);
  free(s->rv_from);
  free(s->self_done);
  free(s->seen);
  sodium_free(s->bind); /* wipes; accepts NULL */
  free(s->has_bind);
  memset(s, 0, sizeof *s);
}

void secagg_server_use_buffer(secagg_server_t *s, uint32_t *buf) {
  if (!s->acc_borrowed) free(s->acc);
  s->acc = buf;
  s->acc_borrowed = 1;
  memset(buf, 0, s->n_words * sizeof *buf);
}

static int bad_slot(const secagg_server_t *s, uint32_t slot, fm_err *err) {
  if (slot < s->g->n) return 0;
  return fm_fail(err, "secagg: slot %u of %u", slot, s->g->n);
}

int secagg_server_bind_self(secagg_server_t *s, uint32_t slot, const uint8_t bind[SECAGG_SEEDBYTES], fm_err *err) {
  if (bad_slot(s, slot, err)) return -1;
  memcpy(s->bind[slot], bind, SECAGG_SEEDBYTES);
  s->has_bind[slot] = 1;
  return 0;
}

/* b (slot u's reconstructed b_u) := u's self-mask seed, in place */
static void server_self_seed(uint8_t b[SECAGG_SEEDBYTES], const secagg_server_t *s, uint32_t u) {
  secagg_self_seed(b, b, s->has_bind[u] ? s->bind[u] : NULL, s->job, s->round, u);
}

int secagg_server_set_pk(secagg_server_t *s, uint32_t slot, const uint8_t pk[SECAGG_PKBYTES], fm_err *err) {
  if (bad_slot(s, slot, err)) return -1;
  if (s->has_pk[slot]) return fm_fail(err, "secagg: slot %u advertised twice", slot);
  memcpy(s->pk[slot], pk, SECAGG_PKBYTES);
  s->has_pk[slot] = 1;
  return 0;
}

int secagg_server_mark_shared(secagg_server_t *s, uint32_t slot, fm_err *err) {
  if (bad_slot(s, slot, err)) return -1;
  if (!s->has_pk[slot]) return fm_fail(err, "secagg: slot %u shared without advertising a key", slot);
  if (s->state[slot] != SECAGG_ABSENT) return fm_fail(err, "secagg: slot %u shared twice", slot);
  s->state[slot] = SECAGG_SHARED;
  return 0;
}

/* words of y: aligned uint32_t (bytes == 0) or little-endian bytes at any address */
static int add_masked(secagg_server_t *s, uint32_t slot, const void *y, int bytes, fm_err *err) {
  if (bad_slot(s, slot, err)) return -1;
  if (s->closed) return fm_fail(err, "secagg: masked input of slot %u after the deadline", slot);
  if (s->state[slot] != SECAGG_SHARED) {
    fm_fail(err, "secagg: masked input of slot %u, which %s", slot,
            s->state[slot] == SECAGG_SURVIVED ? "already sent one" : "did not share its keys");
    return SECAGG_EINCONSISTENT;
  }
  if (bytes) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    add_words_unaligned(s->acc, y, s->n_words);
#else
    const uint8_t *b = y;
    for (size_t i = 0; i < s->n_words; i++) s->acc[i] += le_get32(b + 4 * i);
#endif
  } else {
    secagg_vec_add(s->acc, y, s->n_words);
  }
  s->state[slot] = SECAGG_SURVIVED;
  return 0;
}

int secagg_server_add_masked(secagg_server_t *s, uint32_t slot, const uint32_t *y, fm_err *err) {
  return add_masked(s, slot, y, 0, err);
}

int secagg_server_add_masked_le(secagg_server_t *s, uint32_t slot, const void *y, fm_err *err) {
  return add_masked(s, slot, y, 1, err);
}

int secagg_server_close_inputs(uint8_t *state_out, secagg_server_t *s, fm_err *err) {
  const secagg_graph_t *g = s->g;
  s->closed = 1;
  uint32_t n_surv = 0;
  for (uint32_t u = 0; u < g->n; u++) {
    if (s->state[u] == SECAGG_SHARED) s->state[u] = SECAGG_DROPPED;
    n_surv += s->state[u] == SECAGG_SURVIVED;
  }
  memcpy(state_out, s->state, g->n);
  if (n_surv == 0) {
    fm_fail(err, "secagg: no masked input arrived: round aborted");
    return SECAGG_ETHRESHOLD;
  }
  uint32_t hs[SECAGG_MAX_HOLDERS];
  for (uint32_t u = 0; u < g->n; u++) {
    if (s->state[u] == SECAGG_ABSENT) continue;
    uint32_t m = secagg_graph_holders(g, u, hs), alive = 0;
    for (uint32_t i = 0; i < m; i++) alive += s->state[hs[i]] == SECAGG_SURVIVED;
    if (alive < s->t) {
      fm_fail(err, "secagg: %u of slot %u's %u holders survived, fewer than t = %u: round aborted", alive, u, m, s->t);
      return SECAGG_ETHRESHOLD;
    }
  }
  return 0;
}

int secagg_server_add_reveal(secagg_server_t *s, uint32_t from, const secagg_reveal_t *r, size_t n, fm_err *err) {
  if (bad_slot(s, from, err)) return -1;
  if (s->state[from] == SECAGG_ABSENT) {
    fm_fail(err, "secagg: reveals from slot %u, which did not share its keys", from);
    return SECAGG_EINCONSISTENT;
  }
  if (s->n_rv + n > s->cap_rv) return fm_fail(err, "secagg: too many reveals from slot %u", from);
  for (size_t i = 0; i < n; i++) {
    uint32_t o = r[i].owner;
    if (bad_slot(s, o, err)) return -1;
    uint8_t want = s->state[o] == SECAGG_SURVIVED ? SECAGG_REVEAL_B : s->state[o] == SECAGG_DROPPED ? SECAGG_REVEAL_SK : 0;
    uint32_t x = secagg_graph_x(s->g, o, from);
    if (!want || r[i].kind != want || x == 0 || r[i].x != x) {
      fm_fail(err, "secagg: slot %u's reveal for slot %u does not fit (kind %u, x %u)", from, o, r[i].kind, r[i].x);
      return SECAGG_EINCONSISTENT;
    }
    for (size_t j = 0; j < i; j++)
      if (r[j].owner == o) return fm_fail(err, "secagg: slot %u revealed two shares of slot %u", from, o);
    if (s->seen[(size_t)o * (s->g->deg + 1) + (x - 1)])
      return fm_fail(err, "secagg: slot %u revealed its share of slot %u twice", from, o);
  }
  for (size_t i = 0; i < n; i++) {
    s->seen[(size_t)r[i].owner * (s->g->deg + 1) + (r[i].x - 1)] = 1;
    s->rv[s->n_rv] = r[i];
    s->rv_from[s->n_rv++] = from;
  }
  return 0;
}

int secagg_server_finish(uint32_t *sum, secagg_server_t *s, fm_err *err) {
  const secagg_graph_t *g = s->g;
  int rc = -1;
  uint8_t (*b)[32] = sodium_malloc((size_t)g->n * 32);
  uint8_t (*sk)[32] = sodium_malloc((size_t)g->n * 32);
  secagg_share_t *sh = sodium_malloc(SECAGG_MAX_HOLDERS * sizeof *sh);
  if (!b || !sk || !sh) {
    fm_fail(err, "secagg: cannot allocate protected memory");
    goto done;
  }
  for (uint32_t u = 0; u < g->n; u++) {
    if (s->state[u] != SECAGG_SURVIVED && s->state[u] != SECAGG_DROPPED) continue;
    if (s->self_done[u]) continue; /* its b is not needed any more */
    size_t k = 0;
    for (size_t i = 0; i < s->n_rv && k < s->t; i++) {
      if (s->rv[i].owner != u) continue;
      sh[k].x = s->rv[i].x;
      memcpy(sh[k].y, s->rv[i].y, 32);
      k++;
    }
    if (k < s->t) {
      fm_fail(err, "secagg: %zu shares of slot %u arrived, fewer than t = %u: round aborted", k, u, s->t);
      rc = SECAGG_ETHRESHOLD;
      goto done;
    }
    int dropped = s->state[u] == SECAGG_DROPPED;
    if (secagg_shamir_combine(dropped ? sk[u] : b[u], sh, k, err)) goto done;
    if (!dropped) {
      server_self_seed(b[u], s, u);
    } else {
      uint8_t pk[32];
      crypto_scalarmult_base(pk, sk[u]);
      if (sodium_memcmp(pk, s->pk[u], 32) != 0) {
        fm_fail(err, "secagg: the mask key of dropped slot %u did not reconstruct (bad shares)", u);
        rc = SECAGG_EINCONSISTENT;
        goto done;
      }
    }
  }
  if (sum != s->acc) memcpy(sum, s->acc, s->n_words * sizeof *sum);
  if (secagg_unmask_rest(sum, s->n_words, g, s->job, s->round, s->state, s->self_done, (const uint8_t (*)[32])s->pk,
                         (const uint8_t (*)[32])b, (const uint8_t (*)[32])sk, err))
    goto done;
  rc = 0;
done:
  sodium_free(b); /* sodium_free wipes and accepts NULL */
  sodium_free(sk);
  sodium_free(sh);
  return rc;
}

int secagg_server_next_ready(secagg_server_t *s, uint8_t b[SECAGG_SEEDBYTES], uint32_t *slot, fm_err *err) {
  const secagg_graph_t *g = s->g;
  for (uint32_t u = 0; u < g->n; u++) {
    if (s->state[u] != SECAGG_SURVIVED || s->self_done[u]) continue;
    secagg_share_t sh[SECAGG_MAX_HOLDERS];
    size_t m = 0;
    for (size_t i = 0; i < s->n_rv && m < s->t; i++) {
      if (s->rv[i].owner != u) continue; /* a survivor's reveals are all b-shares (add_reveal) */
      sh[m].x = s->rv[i].x;
      memcpy(sh[m].y, s->rv[i].y, 32);
      m++;
    }
    if (m < s->t) {
      sodium_memzero(sh, sizeof sh);
      continue;
    }
    int rc = secagg_shamir_combine(b, sh, m, err);
    sodium_memzero(sh, sizeof sh);
    if (rc) return -1;
    server_self_seed(b, s, u);
    s->self_done[u] = 1;
    *slot = u;
    return 1;
  }
  return 0;
}

void secagg_server_sub(secagg_server_t *s, const uint32_t *w) { secagg_vec_sub(s->acc, w, s->n_words); }

int secagg_server_sub_masks(secagg_server_t *s, const uint8_t (*seeds)[SECAGG_SEEDBYTES], const int8_t *signs, size_t k,
                            int threads, fm_err *err) {
  return secagg_mask_apply_mt(s->acc, s->n_words, seeds, signs, k, threads < 1 ? 1 : threads, err);
}

int secagg_server_unmask_ready(secagg_server_t *s, int threads, fm_err *err) {
  const secagg_graph_t *g = s->g;
  int rc = -1, r;
  size_t k = 0;
  uint8_t (*seeds)[SECAGG_SEEDBYTES] = sodium_malloc((size_t)g->n * SECAGG_SEEDBYTES);
  int8_t *signs = malloc(g->n);
  if (!seeds || !signs) {
    fm_fail(err, "secagg: cannot allocate protected memory");
    goto done;
  }
  uint32_t u, *slots = malloc(sizeof *slots * g->n);
  if (!slots) {
    fm_fail(err, "out of memory");
    goto done;
  }
  r = 0;
  while (k < g->n && (r = secagg_server_next_ready(s, seeds[k], &u, err)) == 1) {
    slots[k] = u;
    signs[k++] = -1;
  }
  if (r < 0) { /* no mask removed yet: the slots handed out keep their masks in the sum */
    while (k > 0) s->self_done[slots[--k]] = 0;
    free(slots);
    goto done;
  }
  free(slots);
  /* (a failure here leaves the sum part-unmasked: the round is to be abandoned) */
  if (k && secagg_server_sub_masks(s, (const uint8_t(*)[SECAGG_SEEDBYTES])seeds, signs, k, threads, err)) goto done;
  rc = (int)k;
done:
  sodium_free(seeds); /* wipes; accepts NULL */
  free(signs);
  return rc;
}
