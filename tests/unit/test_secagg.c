/* tests/unit/test_secagg.c: secure aggregation. Known answers for the mask
 * generator (RFC 8439 A.1 #1 and an independent Python ChaCha20) and for Shamir
 * shares (independent Python GF(2^8)); Shamir round trips with any t of n and
 * failure below t; the whole protocol (complete graph and SecAgg+ graph) with
 * no, one and two dropouts giving exactly the plain fixed-point sum, too few
 * survivors aborting; protocol misuse refused; a masked delta statistically
 * unrelated to the true one (chi-square and correlation, each with a control
 * showing the test can fail); the bulk keystream (OpenSSL when built with it)
 * against libsodium's at any block offset and piece size; the fused and
 * multi-threaded mask pass equal to one seed at a time; a rank's parties masked
 * at once (shared pairwise streams) giving the same words as one at a time, and
 * the whole protocol through that path; the speed of mask expansion. */
#include <math.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "common/bulk.h"
#include "common/fixed.h"
#include "common/rng.h"
#include "common/secagg.h"
#include "tests/check.h"

#define JOB 0xfeedfacecafebeefULL

static void test_prg_kat(void) {
  /* RFC 8439 appendix A.1 test vector #1 (key 0, nonce 0, counter 0), the
   * keystream bytes 76 b8 e0 ad a0 f1 3d 90 ... read as little-endian words */
  static const uint32_t zero_key[16] = {0xade0b876, 0x903df1a0, 0xe56a5d40, 0x28bd8653, 0xb819d2bd, 0x1aed8da0,
                                        0xccef36a8, 0xc70d778b, 0x7c5941da, 0x8d485751, 0x3fe02477, 0x374ad8b8,
                                        0xf4b8436a, 0x1ca11815, 0x69b687c3, 0x8665eeb2};
  uint8_t seed[32] = {0};
  uint32_t w[5000];
  secagg_mask_expand(w, 16, seed);
  for (int i = 0; i < 16; i++) CHECK_EQ_INT(w[i], zero_key[i]);
  /* key 00 01 .. 1f: words 0..3 and 4094..4099 (across the 4096-word chunk
   * boundary of the streaming code), from an independent Python ChaCha20 */
  for (int i = 0; i < 32; i++) seed[i] = (uint8_t)i;
  secagg_mask_expand(w, 5000, seed);
  CHECK_EQ_INT(w[0], 0x7d2bfd39u);
  CHECK_EQ_INT(w[1], 0x6a19c5d9u);
  CHECK_EQ_INT(w[2], 0x7703bd8du);
  CHECK_EQ_INT(w[3], 0x494adcb8u);
  static const uint32_t at4094[6] = {0x9669e0c8, 0x7096311a, 0xc3241118, 0x7bcc131a, 0xd7b53316, 0x7304a54b};
  for (int i = 0; i < 6; i++) CHECK_EQ_INT(w[4094 + i], at4094[i]);
  /* a prefix is the prefix of the longer stream */
  uint32_t v[4100];
  secagg_mask_expand(v, 4099, seed);
  CHECK(memcmp(v, w, 4099 * 4) == 0);
  /* in pieces (lo a multiple of 16 words), as the coordinator's self-mask thread makes it */
  memset(v, 0, sizeof v);
  secagg_mask_expand_part(v, 0, 48, seed);
  secagg_mask_expand_part(v, 48, 4096, seed);
  secagg_mask_expand_part(v, 4096, 4099, seed);
  secagg_mask_expand_part(v, 4099, 4099, seed); /* empty */
  CHECK(memcmp(v, w, 4099 * 4) == 0);
  /* add / sub stream the same words */
  uint32_t acc[5000];
  for (int i = 0; i < 5000; i++) acc[i] = (uint32_t)i * 2654435761u;
  secagg_mask_add(acc, 5000, seed);
  for (int i = 0; i < 5000; i++) CHECK_EQ_INT(acc[i], (uint32_t)((uint32_t)i * 2654435761u + w[i]));
  secagg_mask_sub(acc, 5000, seed);
  for (int i = 0; i < 5000; i++) CHECK_EQ_INT(acc[i], (uint32_t)i * 2654435761u);
}

static void test_gf_and_shamir_kat(void) {
  /* FIPS-197 section 4.2: {57} x {83} = {c1}, {57} x {13} = {fe} */
  CHECK_EQ_INT(secagg_gf256_mul(0x57, 0x83), 0xc1);
  CHECK_EQ_INT(secagg_gf256_mul(0x57, 0x13), 0xfe);
  for (int a = 0; a < 256; a++) {
    int inverses = 0;
    for (int b = 0; b < 256; b++) {
      CHECK_EQ_INT(secagg_gf256_mul((uint8_t)a, (uint8_t)b), secagg_gf256_mul((uint8_t)b, (uint8_t)a));
      inverses += secagg_gf256_mul((uint8_t)a, (uint8_t)b) == 1;
    }
    CHECK_EQ_INT(inverses, a == 0 ? 0 : 1);
  }
  /* secret 00..1f, t = 3, coefficients c1[j] = 0x11 j + 1, c2[j] = 0xa5 ^ j;
   * expected values from an independent Python implementation */
  uint8_t secret[32], coeffs[64];
  for (int j = 0; j < 32; j++) {
    secret[j] = (uint8_t)j;
    coeffs[j] = (uint8_t)(0x11 * j + 1);
    coeffs[32 + j] = (uint8_t)(0xa5 ^ j);
  }
  secagg_share_t sh[5];
  fm_err err;
  CHECK_OK(secagg_shamir_split_with(sh, 5, 3, secret, coeffs, &err));
  static const uint8_t want[5][5] = {{0xa4, 0xb7, 0x86, 0x91, 0xb5}, {0xa0, 0x83, 0xee, 0xc5, 0xe1},
                                     {0x04, 0x35, 0x6a, 0x57, 0x4b}, {0xba, 0xe7, 0x10, 0x5d, 0x0a},
                                     {0x1e, 0x51, 0x94, 0xcf, 0xa0}};
  for (int i = 0; i < 5; i++) {
    CHECK_EQ_INT(sh[i].x, i + 1);
    for (int j = 0; j < 4; j++) CHECK_EQ_INT(sh[i].y[j], want[i][j]);
    CHECK_EQ_INT(sh[i].y[31], want[i][4]);
  }
  uint8_t got[32];
  secagg_share_t three[3] = {sh[4], sh[1], sh[2]};
  CHECK_OK(secagg_shamir_combine(got, three, 3, &err));
  CHECK(memcmp(got, secret, 32) == 0);
  /* bad inputs */
  CHECK(secagg_shamir_split_with(sh, 5, 6, secret, coeffs, &err) == -1);
  CHECK(secagg_shamir_split_with(sh, 5, 0, secret, coeffs, &err) == -1);
  three[1].x = three[0].x;
  CHECK(secagg_shamir_combine(got, three, 3, &err) == -1);
  three[1].x = 0;
  CHECK(secagg_shamir_combine(got, three, 3, &err) == -1);
}

static void test_shamir_random(void) {
  fm_err err;
  rng_t r;
  rng_seed(&r, 1, 99, 0);
  for (int trial = 0; trial < 200; trial++) {
    uint32_t n = 2 + rng_below(&r, 30), t = 1 + rng_below(&r, n);
    uint8_t secret[32], got[32];
    randombytes_buf(secret, 32);
    secagg_share_t sh[32], pick[32];
    CHECK_OK(secagg_shamir_split(sh, n, t, secret, &err));
    /* a random subset of size k in [t, n] recovers; of size t-1 does not */
    for (uint32_t i = n - 1; i > 0; i--) { /* shuffle */
      uint32_t j = rng_below(&r, i + 1);
      secagg_share_t tmp = sh[i];
      sh[i] = sh[j];
      sh[j] = tmp;
    }
    uint32_t k = t + rng_below(&r, n - t + 1);
    memcpy(pick, sh, k * sizeof *sh);
    CHECK_OK(secagg_shamir_combine(got, pick, k, &err));
    CHECK(memcmp(got, secret, 32) == 0);
    if (t > 1) {
      CHECK_OK(secagg_shamir_combine(got, pick, t - 1, &err));
      CHECK(memcmp(got, secret, 32) != 0);
    }
  }
  /* the largest case: 255 shares, t = 128 */
  uint8_t secret[32], got[32];
  randombytes_buf(secret, 32);
  static secagg_share_t big[255];
  CHECK_OK(secagg_shamir_split(big, 255, 128, secret, &err));
  CHECK_OK(secagg_shamir_combine(got, big + 127, 128, &err));
  CHECK(memcmp(got, secret, 32) == 0);
  CHECK(secagg_shamir_split(big, 256, 128, secret, &err) == -1);
}

static void test_graph(void) {
  fm_err err;
  uint8_t seed[32], seed2[32];
  secagg_graph_seed(seed, JOB, 3);
  secagg_graph_seed(seed2, JOB, 4);
  CHECK(memcmp(seed, seed2, 32) != 0);
  secagg_graph_t g, g2, full;
  CHECK_OK(secagg_graph_init(&g, 50, 6, seed, &err));
  CHECK_OK(secagg_graph_init(&g2, 50, 6, seed, &err));
  CHECK_EQ_INT(g.deg, 6);
  uint32_t hs[255];
  for (uint32_t u = 0; u < 50; u++) {
    uint32_t deg = 0;
    for (uint32_t v = 0; v < 50; v++) {
      CHECK_EQ_INT(secagg_graph_adjacent(&g, u, v), secagg_graph_adjacent(&g, v, u));
      CHECK_EQ_INT(secagg_graph_adjacent(&g, u, v), secagg_graph_adjacent(&g2, u, v)); /* deterministic */
      deg += (uint32_t)secagg_graph_adjacent(&g, u, v);
    }
    CHECK_EQ_INT(deg, 6);
    CHECK_EQ_INT(secagg_graph_holders(&g, u, hs), 7);
    for (uint32_t i = 0; i < 7; i++) {
      if (i) CHECK(hs[i - 1] < hs[i]);
      CHECK_EQ_INT(secagg_graph_x(&g, u, hs[i]), i + 1);
    }
  }
  CHECK_OK(secagg_graph_init(&full, 5, 0, seed, &err));
  CHECK_EQ_INT(full.deg, 4);
  CHECK(secagg_graph_adjacent(&full, 0, 4) && !secagg_graph_adjacent(&full, 2, 2));
  secagg_graph_free(&g2);
  CHECK(secagg_graph_init(&g2, 50, 5, seed, &err) == -1); /* odd k */
  CHECK(strstr(err.msg, "even") != NULL);
  CHECK(secagg_graph_init(&g2, 300, 0, seed, &err) == -1); /* complete graph too big */
  secagg_graph_free(&g);
  secagg_graph_free(&g2);
  secagg_graph_free(&full);
  secagg_graph_free(NULL);
}

/* One simulated round: n parties with fixed-point inputs x[u]; drop_before
 * parties never share, drop_after parties share and then send no masked input,
 * silent parties survive but never reveal. Returns the server's status; on
 * success sum holds the unmasked sum. */
typedef struct sim {
  uint32_t n, t, k;
  size_t words;
  const uint8_t *drop_before, *drop_after, *silent;
  uint32_t ranks; /* > 0: party u is hosted on "rank" u % ranks, whose parties mask at once (secagg_clients_mask) */
  int early;      /* stage 2b: after each masked input, the parties alive reveal the survivors' b-shares */
  uint32_t n_early; /* out: self-masks removed in stage 2b */
  int bind;         /* 1: every self-mask bound to a key of its own (server told the same keys);
                       2: the same, but the server has a wrong key for slot 1 */
} sim_t;

static void bind_key(uint8_t k[SECAGG_SEEDBYTES], uint32_t u) {
  for (int i = 0; i < (int)SECAGG_SEEDBYTES; i++) k[i] = (uint8_t)(u * 31 + i * 7 + 1);
}

/* Stage 2b in the simulation: every party alive (not dropped; silent ones only in stage 4) is
 * told the server's state so far and reveals what is new; the server removes
 * the self-masks it can. */
static void early_reveals(sim_t *p, secagg_client_t *c, secagg_server_t *s, fm_err *err) {
  for (uint32_t v = 0; v < p->n; v++) {
    if ((p->drop_before && p->drop_before[v]) || (p->drop_after && p->drop_after[v])) continue;
    secagg_reveal_t rv[255];
    size_t m;
    CHECK_OK(secagg_client_reveal_new(rv, 255, &m, &c[v], s->state, err));
    for (size_t i = 0; i < m; i++) CHECK_EQ_INT(rv[i].kind, SECAGG_REVEAL_B);
    if (m) CHECK_OK(secagg_server_add_reveal(s, v, rv, m, err));
    /* told again: nothing new */
    CHECK_OK(secagg_client_reveal_new(rv, 255, &m, &c[v], s->state, err));
    CHECK_EQ_INT(m, 0);
  }
  if (p->early == 2) { /* as the coordinator does it: seeds handed out, masks made elsewhere */
    uint8_t b[SECAGG_SEEDBYTES];
    uint32_t slot;
    uint32_t *w = malloc(p->words * sizeof *w);
    int r;
    while ((r = secagg_server_next_ready(s, b, &slot, err)) == 1) {
      CHECK(s->state[slot] == SECAGG_SURVIVED && s->self_done[slot]);
      secagg_mask_expand(w, p->words, b); /* b: the self-mask seed (bound, if bound) */
      secagg_server_sub(s, w);
      p->n_early++;
    }
    CHECK_EQ_INT(r, 0);
    free(w);
    return;
  }
  int k = secagg_server_unmask_ready(s, 2, err);
  CHECK(k >= 0);
  p->n_early += (uint32_t)k;
}

static int run_round(uint32_t *sum, sim_t *p, uint32_t **x, uint32_t round, fm_err *err) {
  p->n_early = 0;
  uint8_t gseed[32];
  secagg_graph_seed(gseed, JOB, round);
  secagg_graph_t g;
  CHECK_OK(secagg_graph_init(&g, p->n, p->k, gseed, err));
  secagg_client_t *c = calloc(p->n, sizeof *c);
  uint8_t(*pk)[32] = calloc(p->n, 32);
  secagg_server_t s;
  CHECK_OK(secagg_server_init(&s, &g, JOB, round, p->t, p->words, err));
  if (p->early == 2) { /* as the coordinator does it: the sum made in the caller's buffer */
    for (size_t i = 0; i < p->words; i++) sum[i] = 0xdeadbeefu;
    secagg_server_use_buffer(&s, sum);
  }
  for (uint32_t u = 0; u < p->n; u++) {
    CHECK_OK(secagg_client_init(&c[u], &g, JOB, round, u, p->t, err));
    memcpy(pk[u], c[u].mask_pk, 32);
    CHECK_OK(secagg_server_set_pk(&s, u, pk[u], err));
    if (p->bind) {
      uint8_t k[SECAGG_SEEDBYTES];
      bind_key(k, u);
      secagg_client_bind_self(&c[u], k);
      if (p->bind == 2 && u == 1) k[0] ^= 1;
      CHECK_OK(secagg_server_bind_self(&s, u, k, err));
    }
  }
  /* stage 1: shares, through their wire form */
  secagg_keyshare_t ks[255];
  for (uint32_t u = 0; u < p->n; u++) {
    if (p->drop_before && p->drop_before[u]) continue;
    size_t m;
    CHECK_OK(secagg_client_share(ks, 255, &m, &c[u], err));
    CHECK_EQ_INT(m, g.deg + 1);
    for (size_t i = 0; i < m; i++) {
      uint8_t wire[SECAGG_KEYSHAREBYTES];
      secagg_keyshare_t back;
      secagg_keyshare_pack(wire, &ks[i]);
      CHECK_OK(secagg_keyshare_unpack(&back, wire, sizeof wire, err));
      if (p->drop_before && p->drop_before[back.holder]) continue;
      CHECK_OK(secagg_client_hold(&c[back.holder], &back, err));
    }
    sodium_memzero(ks, sizeof ks);
    CHECK_OK(secagg_server_mark_shared(&s, u, err));
  }
  /* stage 2: masked inputs */
  uint32_t *y = malloc(p->words * sizeof *y);
  for (uint32_t r = 0; r < p->ranks; r++) { /* each rank's parties at once */
    uint32_t *ys[255];
    secagg_client_t *cs[255];
    size_t k = 0;
    for (uint32_t u = r; u < p->n; u += p->ranks) {
      if ((p->drop_before && p->drop_before[u]) || (p->drop_after && p->drop_after[u])) continue;
      ys[k] = malloc(p->words * sizeof *y);
      memcpy(ys[k], x[u], p->words * sizeof *y);
      cs[k++] = &c[u];
    }
    CHECK_OK(secagg_clients_mask(ys, p->words, cs, k, (const uint8_t(*)[32])pk, 1, NULL, NULL, err));
    for (size_t i = 0; i < k; i++) {
      CHECK_OK(secagg_server_add_masked(&s, cs[i]->slot, ys[i], err));
      free(ys[i]);
      if (p->early) early_reveals(p, c, &s, err);
    }
  }
  for (uint32_t u = 0; u < p->n && !p->ranks; u++) {
    if ((p->drop_before && p->drop_before[u]) || (p->drop_after && p->drop_after[u])) continue;
    memcpy(y, x[u], p->words * sizeof *y);
    CHECK_OK(secagg_client_mask(y, p->words, &c[u], (const uint8_t(*)[32])pk, err));
    CHECK(p->words < 8 || memcmp(y, x[u], p->words * sizeof *y) != 0);
    CHECK_OK(secagg_server_add_masked(&s, u, y, err));
    if (p->early) early_reveals(p, c, &s, err);
  }
  free(y);
  uint8_t *state = malloc(p->n);
  int rc = secagg_server_close_inputs(state, &s, err);
  if (rc == 0) {
    for (uint32_t u = 0; u < p->n && rc == 0; u++) {
      if (state[u] != SECAGG_SURVIVED || (p->silent && p->silent[u])) continue;
      secagg_reveal_t rv[255];
      size_t m;
      CHECK_OK(secagg_client_reveal(rv, 255, &m, &c[u], state, err));
      secagg_reveal_t back[255];
      for (size_t i = 0; i < m; i++) {
        uint8_t wire[SECAGG_REVEALBYTES];
        secagg_reveal_pack(wire, &rv[i]);
        CHECK_OK(secagg_reveal_unpack(&back[i], wire, sizeof wire, err));
      }
      CHECK_OK(secagg_server_add_reveal(&s, u, back, m, err));
      /* the client answers once */
      CHECK_EQ_INT(secagg_client_reveal(rv, 255, &m, &c[u], state, err), SECAGG_EINCONSISTENT);
    }
    rc = secagg_server_finish(sum, &s, err);
  }
  free(state);
  for (uint32_t u = 0; u < p->n; u++) secagg_client_free(&c[u]);
  free(c);
  free(pk);
  secagg_server_free(&s);
  secagg_graph_free(&g);
  return rc;
}

/* Random clipped float deltas, encoded as fixed point; the plain sum of the
 * parties in want[]. */
static uint32_t **make_inputs(uint32_t n, size_t words, uint64_t seed) {
  uint32_t **x = malloc(n * sizeof *x);
  rng_t r;
  float *f = malloc(words * sizeof *f);
  double scale = fixed_scale_for_clip(5.0f);
  for (uint32_t u = 0; u < n; u++) {
    rng_seed(&r, seed, 1234, u);
    for (size_t i = 0; i < words; i++) f[i] = (float)(rng_normal(&r) * 0.3 / n);
    x[u] = malloc(words * sizeof *x[u]);
    fixed_encode(x[u], f, words, scale);
  }
  free(f);
  return x;
}

static void plain_sum(uint32_t *sum, uint32_t **x, uint32_t n, size_t words, const uint8_t *skip1,
                      const uint8_t *skip2) {
  memset(sum, 0, words * sizeof *sum);
  for (uint32_t u = 0; u < n; u++)
    if (!(skip1 && skip1[u]) && !(skip2 && skip2[u])) fixed_add(sum, x[u], words);
}

static void free_inputs(uint32_t **x, uint32_t n) {
  for (uint32_t u = 0; u < n; u++) free(x[u]);
  free(x);
}

static void test_protocol_complete(void) {
  fm_err err;
  enum { N = 7, W = 1000 };
  uint32_t **x = make_inputs(N, W, 7);
  uint32_t sum[W], want[W];
  sim_t p = {N, 4, 0, W, NULL, NULL, NULL, 0, 0, 0, 0};
  /* no dropouts: exactly the plain fixed-point sum */
  CHECK_OK(run_round(sum, &p, x, 1, &err));
  plain_sum(want, x, N, W, NULL, NULL);
  CHECK(memcmp(sum, want, sizeof sum) == 0);
  /* one dropped after sharing */
  uint8_t after[N] = {0, 0, 1, 0, 0, 0, 0};
  p.drop_after = after;
  CHECK_OK(run_round(sum, &p, x, 2, &err));
  plain_sum(want, x, N, W, after, NULL);
  CHECK(memcmp(sum, want, sizeof sum) == 0);
  /* two dropped after sharing (the first and the last slot: both signs) */
  uint8_t after2[N] = {1, 0, 0, 0, 0, 0, 1};
  p.drop_after = after2;
  CHECK_OK(run_round(sum, &p, x, 3, &err));
  plain_sum(want, x, N, W, after2, NULL);
  CHECK(memcmp(sum, want, sizeof sum) == 0);
  /* one dropped before sharing, one after, and one survivor silent in stage 4 */
  uint8_t before[N] = {0, 1, 0, 0, 0, 0, 0}, after3[N] = {0, 0, 0, 1, 0, 0, 0}, silent[N] = {0, 0, 0, 0, 1, 0, 0};
  p.drop_before = before;
  p.drop_after = after3;
  p.silent = silent;
  CHECK_OK(run_round(sum, &p, x, 4, &err));
  plain_sum(want, x, N, W, before, after3);
  CHECK(memcmp(sum, want, sizeof sum) == 0);
  /* the same with the parties of each of 2 and 3 "ranks" masked at once */
  for (uint32_t ranks = 2; ranks <= 3; ranks++) {
    p.ranks = ranks;
    CHECK_OK(run_round(sum, &p, x, 10 + ranks, &err));
    CHECK(memcmp(sum, want, sizeof sum) == 0);
  }
  p.ranks = 0;
  /* too few survivors: four of seven dropped with t = 4 aborts cleanly */
  uint8_t after4[N] = {1, 1, 0, 1, 0, 0, 1};
  sim_t q = {N, 4, 0, W, NULL, after4, NULL, 0, 0, 0, 0};
  CHECK_EQ_INT(run_round(sum, &q, x, 5, &err), SECAGG_ETHRESHOLD);
  CHECK(strstr(err.msg, "fewer than t") != NULL);
  /* enough survivors but too few of them answer in stage 4 */
  uint8_t after5[N] = {1, 0, 0, 0, 0, 0, 1}, silent5[N] = {0, 1, 1, 0, 0, 0, 0};
  sim_t r = {N, 4, 0, W, NULL, after5, silent5, 0, 0, 0, 0};
  CHECK_EQ_INT(run_round(sum, &r, x, 6, &err), SECAGG_ETHRESHOLD);
  free_inputs(x, N);
}

/* Self-masks bound to a key only the party's host and the coordinator hold
 * (secagg_self_seed): the known answer, exact sums with dropouts, early
 * reveals and batched masking, and a wrong key on the server spoils the sum
 * (so the shares of b alone do not remove a bound self-mask). */
static void test_protocol_bound(void) {
  uint8_t bind[32], b[32], out[32], want_kat[32];
  for (int i = 0; i < 32; i++) bind[i] = (uint8_t)i, b[i] = (uint8_t)(32 + i);
  /* BLAKE2b-256(key = 00..1f, "fedmeta-secagg-self-v1" || LE64 0x0123456789abcdef || LE32 7 || LE32 3 || 20..3f),
   * computed with Python's hashlib.blake2b */
  size_t got = 0;
  CHECK_OK(sodium_hex2bin(want_kat, 32, "b8e22428195ca6b1b6b62d74320d0c2794abaacd47fff53cb70bca88a9664783", 64, NULL,
                          &got, NULL));
  CHECK(got == 32);
  secagg_self_seed(out, b, bind, 0x0123456789abcdefULL, 7, 3);
  CHECK(memcmp(out, want_kat, 32) == 0);
  secagg_self_seed(out, b, NULL, 0x0123456789abcdefULL, 7, 3); /* unbound: b itself */
  CHECK(memcmp(out, b, 32) == 0);
  memcpy(out, b, 32);
  secagg_self_seed(out, out, bind, 0x0123456789abcdefULL, 7, 3); /* in place */
  CHECK(memcmp(out, want_kat, 32) == 0);

  fm_err err;
  enum { N = 6, W = 700 };
  uint32_t **x = make_inputs(N, W, 11);
  uint32_t sum[W], want[W];
  uint8_t after[N] = {0, 0, 0, 1, 0, 0};
  plain_sum(want, x, N, W, after, NULL);
  for (int early = 0; early <= 2; early++)
    for (uint32_t ranks = 0; ranks <= 2; ranks += 2) {
      sim_t p = {N, 2, 2, W, NULL, after, NULL, ranks, early, 0, 1};
      CHECK_OK(run_round(sum, &p, x, 40 + (uint32_t)early, &err));
      CHECK(memcmp(sum, want, sizeof sum) == 0);
      if (early) CHECK(p.n_early > 0);
      p.bind = 2; /* slot 1's key wrong on the server: its self-mask stays in */
      CHECK_OK(run_round(sum, &p, x, 50 + (uint32_t)early, &err));
      CHECK(memcmp(sum, want, sizeof sum) != 0);
    }
  free_inputs(x, N);
}

static void test_protocol_secagg_plus(void) {
  fm_err err;
  enum { N = 16, W = 257 };
  uint32_t **x = make_inputs(N, W, 8);
  uint32_t sum[W], want[W];
  /* k = 6: 7 holders per party, t = 4 */
  sim_t p = {N, 4, 6, W, NULL, NULL, NULL, 0, 0, 0, 0};
  CHECK_OK(run_round(sum, &p, x, 1, &err));
  plain_sum(want, x, N, W, NULL, NULL);
  CHECK(memcmp(sum, want, sizeof sum) == 0);
  uint8_t after[N] = {0};
  after[3] = 1;
  p.drop_after = after;
  CHECK_OK(run_round(sum, &p, x, 2, &err));
  plain_sum(want, x, N, W, after, NULL);
  CHECK(memcmp(sum, want, sizeof sum) == 0);
  after[11] = 1;
  CHECK_OK(run_round(sum, &p, x, 3, &err));
  plain_sum(want, x, N, W, after, NULL);
  CHECK(memcmp(sum, want, sizeof sum) == 0);
  p.ranks = 2;
  CHECK_OK(run_round(sum, &p, x, 4, &err));
  CHECK(memcmp(sum, want, sizeof sum) == 0);
  free_inputs(x, N);
}

/* Stage 2b: the survivors' b-shares revealed as their inputs arrive, their
 * self-masks removed before the deadline; the sum is still exact, with and
 * without dropouts, and never both kinds of share of one party go out. */
static void test_protocol_early(void) {
  fm_err err;
  enum { N = 7, W = 1000 };
  uint32_t **x = make_inputs(N, W, 9);
  uint32_t sum[W], want[W];
  sim_t p = {N, 4, 0, W, NULL, NULL, NULL, 0, 1, 0, 0};
  CHECK_OK(run_round(sum, &p, x, 21, &err));
  plain_sum(want, x, N, W, NULL, NULL);
  CHECK(memcmp(sum, want, sizeof sum) == 0);
  CHECK_EQ_INT(p.n_early, N); /* every self-mask before the deadline */
  uint8_t before[N] = {0, 1, 0, 0, 0, 0, 0}, after[N] = {0, 0, 0, 1, 0, 0, 0}, silent[N] = {0, 0, 0, 0, 1, 0, 0};
  p.drop_before = before;
  p.drop_after = after;
  p.silent = silent;
  CHECK_OK(run_round(sum, &p, x, 22, &err));
  plain_sum(want, x, N, W, before, after);
  CHECK(memcmp(sum, want, sizeof sum) == 0);
  CHECK_EQ_INT(p.n_early, 5); /* the survivors 0, 2, 4 (silent only in stage 4), 5, 6 */
  p.early = 2; /* the same with the masks made outside the server, into the caller's buffer */
  CHECK_OK(run_round(sum, &p, x, 24, &err));
  CHECK(memcmp(sum, want, sizeof sum) == 0);
  CHECK_EQ_INT(p.n_early, 5);
  /* SecAgg+ (k = 4, t = 3) with the parties of 2 ranks masked at once */
  uint8_t after2[N] = {0, 0, 1, 0, 0, 0, 0};
  sim_t q = {N, 3, 4, W, NULL, after2, NULL, 2, 1, 0, 0};
  CHECK_OK(run_round(sum, &q, x, 23, &err));
  plain_sum(want, x, N, W, after2, NULL);
  CHECK(memcmp(sum, want, sizeof sum) == 0);
  free_inputs(x, N);

  /* never both kinds: a b-share revealed early, then a final state that drops its owner */
  uint8_t gseed[32] = {0};
  secagg_graph_t g;
  CHECK_OK(secagg_graph_init(&g, 3, 0, gseed, &err));
  secagg_client_t c[3];
  secagg_server_t s;
  CHECK_OK(secagg_server_init(&s, &g, JOB, 0, 2, 4, &err));
  for (uint32_t u = 0; u < 3; u++) {
    CHECK_OK(secagg_client_init(&c[u], &g, JOB, 0, u, 2, &err));
    CHECK_OK(secagg_server_set_pk(&s, u, c[u].mask_pk, &err));
  }
  for (uint32_t u = 0; u < 3; u++) {
    secagg_keyshare_t ks[3];
    size_t m;
    CHECK_OK(secagg_client_share(ks, 3, &m, &c[u], &err));
    for (size_t i = 0; i < m; i++) CHECK_OK(secagg_client_hold(&c[ks[i].holder], &ks[i], &err));
    CHECK_OK(secagg_server_mark_shared(&s, u, &err));
  }
  uint8_t pk[3][32];
  for (int u = 0; u < 3; u++) memcpy(pk[u], c[u].mask_pk, 32);
  uint32_t y[4] = {1, 2, 3, 4};
  CHECK_OK(secagg_client_mask(y, 4, &c[0], (const uint8_t(*)[32])pk, &err));
  CHECK_OK(secagg_server_add_masked(&s, 0, y, &err));
  secagg_reveal_t rv[3];
  size_t m;
  /* the server takes no b-share of a party whose input it has not */
  uint8_t st[3] = {SECAGG_SURVIVED, SECAGG_SURVIVED, SECAGG_SHARED};
  CHECK_OK(secagg_client_reveal_new(rv, 3, &m, &c[1], st, &err));
  CHECK_EQ_INT(m, 2); /* of slots 0 and 1 (a lying state: slot 1 sent nothing yet) */
  CHECK_EQ_INT(secagg_server_add_reveal(&s, 1, rv, m, &err), SECAGG_EINCONSISTENT);
  CHECK_OK(secagg_server_add_reveal(&s, 1, rv, 1, &err)); /* slot 0's only */
  CHECK(secagg_server_add_reveal(&s, 1, rv, 1, &err) == -1); /* twice */
  CHECK(strstr(err.msg, "twice") != NULL);
  /* a state that drops a party before the deadline is refused whole */
  uint8_t drop0[3] = {SECAGG_DROPPED, SECAGG_SHARED, SECAGG_SHARED};
  CHECK_EQ_INT(secagg_client_reveal_new(rv, 3, &m, &c[2], drop0, &err), SECAGG_EINCONSISTENT);
  CHECK_EQ_INT(m, 0);
  /* c[1] gave slot 0's b-share: a final state dropping slot 0 gets nothing from it */
  CHECK_OK(secagg_client_mask(y, 4, &c[1], (const uint8_t(*)[32])pk, &err));
  uint8_t fin[3] = {SECAGG_DROPPED, SECAGG_SURVIVED, SECAGG_SURVIVED};
  CHECK_EQ_INT(secagg_client_reveal(rv, 3, &m, &c[1], fin, &err), SECAGG_EINCONSISTENT);
  CHECK_EQ_INT(m, 0);
  CHECK(strstr(err.msg, "survived earlier") != NULL);
  /* the final reveal leaves out what went early, and nothing comes after it */
  uint8_t ok[3] = {SECAGG_SURVIVED, SECAGG_SURVIVED, SECAGG_SURVIVED};
  CHECK_OK(secagg_client_reveal(rv, 3, &m, &c[1], ok, &err));
  CHECK_EQ_INT(m, 1); /* slot 2's; slot 1's own b-share went early above */
  CHECK_EQ_INT(rv[0].owner, 2);
  CHECK_EQ_INT(secagg_client_reveal_new(rv, 3, &m, &c[1], ok, &err), SECAGG_EINCONSISTENT);
  for (int u = 0; u < 3; u++) secagg_client_free(&c[u]);
  secagg_server_free(&s);
  secagg_graph_free(&g);
}

static void test_misuse(void) {
  fm_err err;
  uint8_t gseed[32] = {0};
  secagg_graph_t g;
  CHECK_OK(secagg_graph_init(&g, 5, 0, gseed, &err));
  secagg_client_t c[5];
  /* threshold must be a majority of the 5 holders */
  CHECK(secagg_client_init(&c[0], &g, JOB, 0, 0, 2, &err) == -1);
  CHECK(strstr(err.msg, "majority") != NULL);
  CHECK(secagg_client_init(&c[0], &g, JOB, 0, 0, 6, &err) == -1);
  secagg_client_free(&c[0]);
  for (uint32_t u = 0; u < 5; u++) CHECK_OK(secagg_client_init(&c[u], &g, JOB, 0, u, 3, &err));
  secagg_keyshare_t ks[5];
  size_t m;
  CHECK(secagg_client_share(ks, 4, &m, &c[0], &err) == -1); /* no room */
  CHECK_OK(secagg_client_share(ks, 5, &m, &c[0], &err));
  CHECK(secagg_client_hold(&c[2], &ks[1], &err) == -1); /* addressed to slot 1 */
  secagg_keyshare_t bad = ks[1];
  bad.x = 4;
  CHECK(secagg_client_hold(&c[1], &bad, &err) == -1); /* wrong x */
  CHECK_OK(secagg_client_hold(&c[1], &ks[1], &err));
  CHECK(secagg_client_hold(&c[1], &ks[1], &err) == -1); /* duplicate */
  /* too few shares held to mask */
  uint32_t y[4] = {0};
  uint8_t pk[5][32];
  for (int u = 0; u < 5; u++) memcpy(pk[u], c[u].mask_pk, 32);
  CHECK_EQ_INT(secagg_client_mask(y, 4, &c[1], (const uint8_t(*)[32])pk, &err), SECAGG_ETHRESHOLD);
  /* reveal before masking / not a survivor */
  uint8_t state[5] = {2, 2, 2, 2, 2};
  secagg_reveal_t rv[5];
  CHECK_EQ_INT(secagg_client_reveal(rv, 5, &m, &c[1], state, &err), SECAGG_EINCONSISTENT);
  for (int u = 0; u < 5; u++) secagg_client_free(&c[u]);
  secagg_client_free(NULL);

  /* server: input without shares, input twice, reveal of the wrong kind */
  secagg_server_t s;
  CHECK_OK(secagg_server_init(&s, &g, JOB, 0, 3, 4, &err));
  CHECK(secagg_server_mark_shared(&s, 0, &err) == -1); /* no key advertised */
  CHECK_OK(secagg_server_set_pk(&s, 0, pk[0], &err));
  CHECK(secagg_server_set_pk(&s, 0, pk[0], &err) == -1);
  CHECK_EQ_INT(secagg_server_add_masked(&s, 0, y, &err), SECAGG_EINCONSISTENT);
  CHECK(secagg_server_set_pk(&s, 9, pk[0], &err) == -1);
  secagg_server_free(&s);
  secagg_server_free(NULL);
  secagg_graph_free(&g);
}

/* The coordinator's view of one masked delta: uniform words, uncorrelated with
 * the delta. Each check is run on a control that must fail it. */
static double chi2_high_nibble(const uint32_t *v, size_t n) {
  double cnt[16] = {0};
  for (size_t i = 0; i < n; i++) cnt[v[i] >> 28] += 1;
  double e = (double)n / 16, chi = 0;
  for (int b = 0; b < 16; b++) chi += (cnt[b] - e) * (cnt[b] - e) / e;
  return chi;
}

static double chi2_low_byte(const uint32_t *v, size_t n) {
  double cnt[256] = {0};
  for (size_t i = 0; i < n; i++) cnt[v[i] & 255] += 1;
  double e = (double)n / 256, chi = 0;
  for (int b = 0; b < 256; b++) chi += (cnt[b] - e) * (cnt[b] - e) / e;
  return chi;
}

static double correlation(const uint32_t *a, const uint32_t *b, size_t n) {
  double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  for (size_t i = 0; i < n; i++) {
    double x = (int32_t)a[i], y = (int32_t)b[i];
    sa += x;
    sb += y;
    saa += x * x;
    sbb += y * y;
    sab += x * y;
  }
  double cov = sab / n - (sa / n) * (sb / n);
  return cov / sqrt((saa / n - (sa / n) * (sa / n)) * (sbb / n - (sb / n) * (sb / n)));
}

/* The complete graph of round `round` and its n clients with threshold t;
 * pk[u] = client u's mask public key. */
static void clients_init(secagg_graph_t *g, secagg_client_t *c, uint8_t (*pk)[32], uint32_t n,
                         uint32_t round, uint32_t t) {
  fm_err err;
  uint8_t gseed[32];
  secagg_graph_seed(gseed, JOB, round);
  CHECK_OK(secagg_graph_init(g, n, 0, gseed, &err));
  for (uint32_t u = 0; u < n; u++) {
    CHECK_OK(secagg_client_init(&c[u], g, JOB, round, u, t, &err));
    memcpy(pk[u], c[u].mask_pk, 32);
  }
}

static void test_masked_unrelated(void) {
  fm_err err;
  enum { N = 3, W = 1 << 18 };
  uint32_t **x = make_inputs(N, W, 9);
  /* give slot 0 a strongly structured delta */
  for (size_t i = 0; i < W; i++) x[0][i] = (uint32_t)(int32_t)(1e7 * sin((double)i / 50.0));
  secagg_graph_t g;
  secagg_client_t c[N];
  uint8_t pk[N][32];
  clients_init(&g, c, pk, N, 0, 2);
  for (uint32_t u = 0; u < N; u++) {
    secagg_keyshare_t ks[N];
    size_t m;
    CHECK_OK(secagg_client_share(ks, N, &m, &c[u], &err));
    for (size_t i = 0; i < m; i++) CHECK_OK(secagg_client_hold(&c[ks[i].holder], &ks[i], &err));
  }
  uint32_t *y = malloc(W * sizeof *y);
  memcpy(y, x[0], W * sizeof *y);
  CHECK_OK(secagg_client_mask(y, W, &c[0], (const uint8_t(*)[32])pk, &err));
  /* chi-square with 15 and 255 degrees of freedom; p = 1e-6 quantiles are
   * about 56 and 380 */
  double c_hi = chi2_high_nibble(y, W), c_lo = chi2_low_byte(y, W);
  double r = correlation(x[0], y, W);
  printf("masked delta: chi2(high nibble) = %.1f (15 dof), chi2(low byte) = %.1f (255 dof), corr = %.5f\n",
         c_hi, c_lo, r);
  CHECK(c_hi < 56.0);
  CHECK(c_lo < 380.0);
  CHECK(fabs(r) < 5.0 / sqrt((double)W)); /* 5 standard errors */
  /* controls: the unmasked delta, and the delta plus a weak "mask" (only the
   * low 20 bits random), both fail */
  CHECK(chi2_high_nibble(x[0], W) > 1000.0);
  uint32_t *weak = malloc(W * sizeof *weak);
  uint8_t seed[32] = {1};
  secagg_mask_expand(weak, W, seed);
  for (size_t i = 0; i < W; i++) weak[i] = x[0][i] + (weak[i] & 0xfffff);
  CHECK(fabs(correlation(x[0], weak, W)) > 0.5);
  CHECK(chi2_high_nibble(weak, W) > 1000.0);
  free(weak);
  free(y);
  for (uint32_t u = 0; u < N; u++) secagg_client_free(&c[u]);
  secagg_graph_free(&g);
  free_inputs(x, N);
}

static void test_pair_seed(void) {
  fm_err err;
  uint8_t sk1[32], sk2[32], pk1[32], pk2[32], s12[32], s21[32], s12r[32];
  randombytes_buf(sk1, 32);
  randombytes_buf(sk2, 32);
  crypto_scalarmult_base(pk1, sk1);
  crypto_scalarmult_base(pk2, sk2);
  CHECK_OK(secagg_pair_seed(s12, sk1, pk1, pk2, JOB, 5, 1, 2, &err));
  CHECK_OK(secagg_pair_seed(s21, sk2, pk2, pk1, JOB, 5, 2, 1, &err));
  CHECK(memcmp(s12, s21, 32) == 0);
  CHECK_OK(secagg_pair_seed(s12r, sk1, pk1, pk2, JOB, 6, 1, 2, &err));
  CHECK(memcmp(s12, s12r, 32) != 0);
  CHECK(secagg_pair_seed(s12, sk1, pk1, pk2, JOB, 5, 1, 1, &err) == -1);
  uint8_t zero[32] = {0};
  CHECK(secagg_pair_seed(s12, sk1, pk1, zero, JOB, 5, 1, 2, &err) == -1); /* low-order point */
}

static void test_bulk_stream(void) {
  enum { N = 3 * 65536 + 200 };
  uint8_t key[32], *a = malloc(N), *b = malloc(N);
  CHECK(a && b);
  randombytes_buf(key, sizeof key);
  static const uint64_t ics[] = {0, 1, 255, 4096, 65535, ((uint64_t)1 << 32) - 2};
  for (size_t t = 0; t < sizeof ics / sizeof ics[0]; t++) { /* the last one crosses into the counter's high word */
    bulk_chacha20_stream(a, N, ics[t], key);
    bulk_chacha20_stream_sodium(b, N, ics[t], key);
    CHECK(memcmp(a, b, N) == 0);
  }
  /* a generator read in uneven pieces, from block 0 and from block 37 */
  bulk_chacha20_stream_sodium(b, N, 0, key);
  static const size_t pieces[] = {1, 63, 64, 65, 100, 4096, 65536, 70000, 3};
  for (int from = 0; from <= 37; from += 37) {
    bulk_prg_t *p = bulk_prg_new_at(key, (uint64_t)from);
    CHECK(p != NULL);
    size_t off = 0;
    for (size_t i = 0; off < N - 64 * (size_t)from; i++) {
      size_t n = pieces[i % (sizeof pieces / sizeof pieces[0])];
      if (n > N - 64 * (size_t)from - off) n = N - 64 * (size_t)from - off;
      bulk_prg_next(p, a + off, n);
      off += n;
    }
    CHECK(memcmp(a, b + 64 * from, N - 64 * (size_t)from) == 0);
    bulk_prg_free(p);
  }
  free(a);
  free(b);
}

static void test_mask_fused(void) {
  fm_err err;
  enum { K = 9 };
  static const size_t sizes[] = {1, 15, 16, 17, 4095, 4097, 200000, (1 << 18) + 5};
  uint8_t seeds[K][32];
  int8_t signs[K];
  for (int k = 0; k < K; k++) {
    randombytes_buf(seeds[k], 32);
    signs[k] = (int8_t)(k % 3 == 1 ? -1 : 1);
  }
  for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
    size_t n = sizes[t];
    uint32_t *x = malloc(n * 4), *ref = malloc(n * 4), *got = malloc(n * 4);
    CHECK(x && ref && got);
    for (size_t i = 0; i < n; i++) x[i] = (uint32_t)i * 2654435761u;
    memcpy(ref, x, n * 4);
    for (int k = 0; k < K; k++) {
      if (signs[k] < 0) secagg_mask_sub(ref, n, seeds[k]);
      else secagg_mask_add(ref, n, seeds[k]);
    }
    memcpy(got, x, n * 4);
    CHECK_OK(secagg_mask_apply(got, n, (const uint8_t(*)[32])seeds, signs, K, &err));
    CHECK(memcmp(got, ref, n * 4) == 0);
    for (int th = 1; th <= SECAGG_MAX_THREADS + 1; th++) {
      memcpy(got, x, n * 4);
      CHECK_OK(secagg_mask_apply_mt(got, n, (const uint8_t(*)[32])seeds, signs, K, th, &err));
      CHECK(memcmp(got, ref, n * 4) == 0);
    }
    /* the masks cancel: the same seeds with opposite signs give x back */
    int8_t neg[K];
    for (int k = 0; k < K; k++) neg[k] = (int8_t)-signs[k];
    CHECK_OK(secagg_mask_apply_mt(got, n, (const uint8_t(*)[32])seeds, neg, K, 2, &err));
    CHECK(memcmp(got, x, n * 4) == 0);
    free(x);
    free(ref);
    free(got);
  }
}

/* The masks of a rank's parties made at once (each pairwise stream between two
 * of them generated once, applied to both) are exactly the words of one party
 * at a time: complete and SecAgg+ graphs, a party that never shared, a pair
 * where only one side holds the other's share, a rank whose view of a key is
 * not the party's own, both output modes, several chunk sizes. */
static size_t ready_next;
static void ready_in_order(void *arg, size_t i) {
  (void)arg;
  CHECK_EQ_INT(i, ready_next);
  ready_next++;
}

static void check_batch(uint32_t n, uint32_t kdeg, size_t words, const uint32_t *batch, size_t k, uint32_t never,
                        uint32_t one_sided_holder, uint32_t one_sided_owner, int fake_pk_of) {
  fm_err err;
  uint8_t gseed[32];
  secagg_graph_seed(gseed, JOB, 77);
  secagg_graph_t g;
  CHECK_OK(secagg_graph_init(&g, n, kdeg, gseed, &err));
  uint32_t t = secagg_threshold_for(0, g.deg + 1);
  secagg_client_t *c = calloc(n, sizeof *c);
  uint8_t(*pk)[32] = calloc(n, 32);
  for (uint32_t u = 0; u < n; u++) {
    CHECK_OK(secagg_client_init(&c[u], &g, JOB, 77, u, t, &err));
    memcpy(pk[u], c[u].mask_pk, 32);
  }
  if (fake_pk_of >= 0) { /* this rank was given another key for a party it hosts */
    uint8_t sk[32];
    randombytes_buf(sk, 32);
    crypto_scalarmult_base(pk[fake_pk_of], sk);
  }
  secagg_keyshare_t ks[255];
  for (uint32_t u = 0; u < n; u++) {
    if (u == never) continue;
    size_t m;
    CHECK_OK(secagg_client_share(ks, 255, &m, &c[u], &err));
    for (size_t i = 0; i < m; i++) {
      if (ks[i].holder == never) continue;
      if (ks[i].holder == one_sided_holder && ks[i].owner == one_sided_owner) continue; /* lost on the way */
      CHECK_OK(secagg_client_hold(&c[ks[i].holder], &ks[i], &err));
    }
  }
  uint32_t **x = make_inputs(n, words, 99);
  uint32_t *ref[255], *out[255];
  secagg_client_t *cs[255];
  for (size_t i = 0; i < k; i++) {
    uint32_t u = batch[i];
    cs[i] = &c[u];
    ref[i] = malloc(words * 4);
    out[i] = malloc(words * 4);
    memcpy(ref[i], x[u], words * 4);
    CHECK_OK(secagg_client_mask(ref[i], words, &c[u], (const uint8_t(*)[32])pk, &err));
    c[u].masked = 0; /* the same secrets once more, through the batch */
  }
  /* add = 0: the masks alone */
  ready_next = 0;
  for (size_t i = 0; i < k; i++) memset(out[i], 0xa5, words * 4); /* stale bytes are overwritten */
  CHECK_OK(secagg_clients_mask(out, words, cs, k, (const uint8_t(*)[32])pk, 0, ready_in_order, NULL, &err));
  CHECK_EQ_INT(ready_next, k);
  for (size_t i = 0; i < k; i++) {
    CHECK(cs[i]->masked);
    fixed_add(out[i], x[batch[i]], words);
    CHECK(memcmp(out[i], ref[i], words * 4) == 0);
    cs[i]->masked = 0;
  }
  /* masking twice is refused */
  CHECK_OK(secagg_clients_mask(out, words, cs, k, (const uint8_t(*)[32])pk, 0, NULL, NULL, &err));
  CHECK(secagg_clients_mask(out, words, cs, k, (const uint8_t(*)[32])pk, 0, NULL, NULL, &err) == -1);
  for (size_t i = 0; i < k; i++) cs[i]->masked = 0;
  /* add = 1: onto the inputs */
  for (size_t i = 0; i < k; i++) memcpy(out[i], x[batch[i]], words * 4);
  CHECK_OK(secagg_clients_mask(out, words, cs, k, (const uint8_t(*)[32])pk, 1, NULL, NULL, &err));
  for (size_t i = 0; i < k; i++) {
    CHECK(memcmp(out[i], ref[i], words * 4) == 0);
    free(ref[i]);
    free(out[i]);
  }
  free_inputs(x, n);
  for (uint32_t u = 0; u < n; u++) secagg_client_free(&c[u]);
  free(c);
  free(pk);
  secagg_graph_free(&g);
}

static void test_mask_batch(void) {
  static const uint32_t b5[] = {1, 2, 4, 7, 8};
  static const uint32_t b3[] = {0, 3, 6};
  static const uint32_t b6[] = {0, 2, 4, 6, 8, 10};
  /* complete graph, 9 parties, 5 on this rank, several chunk sizes */
  check_batch(9, 0, 2 * 4096 + 77, b5, 5, 99, 99, 99, -1);
  check_batch(9, 0, 15, b5, 5, 99, 99, 99, -1);
  check_batch(9, 0, 4096, b3, 3, 99, 99, 99, -1);
  check_batch(2, 0, 100, b3, 1, 99, 99, 99, -1);
  /* party 5 never shared (nobody masks with it) */
  check_batch(9, 0, 5000, b5, 5, 5, 99, 99, -1);
  /* party 4 lost party 7's share: 7 masks with 4, 4 not with 7 */
  check_batch(9, 0, 5000, b5, 5, 99, 4, 7, -1);
  check_batch(9, 0, 5000, b5, 5, 99, 7, 4, -1);
  /* this rank's copy of party 2's key is not party 2's own */
  check_batch(9, 0, 5000, b5, 5, 99, 99, 99, 2);
  /* many parties on one rank: smaller chunks (k > 8), and groups of at most
   * 1024 streams (30 of 60: 30 * 60 - 435 = 1365 streams, two groups) */
  uint32_t b20[20], b30[30];
  for (uint32_t i = 0; i < 20; i++) b20[i] = 2 * i;
  for (uint32_t i = 0; i < 30; i++) b30[i] = i * 2 + (i > 15);
  check_batch(40, 0, 5000, b20, 20, 99, 99, 99, -1);
  check_batch(60, 0, 3000, b30, 30, 1, 4, 8, -1);
  /* SecAgg+ k = 4 over 12 parties, 6 on this rank */
  check_batch(12, 4, 9000, b6, 6, 99, 99, 99, -1);
  check_batch(12, 4, 9000, b6, 6, 3, 99, 99, -1);
}

static void bench_mask(void) {
  enum { W = 1 << 20 };
  uint32_t *acc = calloc(W, sizeof *acc);
  uint8_t seed[32] = {7};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 10; i++) secagg_mask_add(acc, W, seed);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6) / 10;
  printf("secagg_mask_add: %.2f ms per 2^20 words (%.0f MB/s)\n", ms, 4.0 * W / 1e6 / (ms / 1e3));
  free(acc);
}

/* The worker's two ways at 8 parties (complete graph), 5 on one rank, 2^20
 * words: one party at a time (40 keystreams) against the batch (30: the 10
 * pairs inside the rank once each) plus the additions y = mask + x. */
static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void bench_mask_batch(void) {
  enum { N = 8, K = 5, W = 1 << 20 };
  fm_err err;
  secagg_graph_t g;
  secagg_client_t c[N];
  uint8_t pk[N][32];
  clients_init(&g, c, pk, N, 5, 5);
  secagg_keyshare_t ks[N];
  for (uint32_t u = 0; u < N; u++) {
    size_t m;
    CHECK_OK(secagg_client_share(ks, N, &m, &c[u], &err));
    for (size_t i = 0; i < m; i++) CHECK_OK(secagg_client_hold(&c[ks[i].holder], &ks[i], &err));
  }
  uint32_t *x[K], *y[K], *mk[K];
  secagg_client_t *cs[K];
  for (int i = 0; i < K; i++) {
    x[i] = calloc(W, 4);
    y[i] = calloc(W, 4);
    mk[i] = calloc(W, 4);
    cs[i] = &c[i < 4 ? 2 * i : 7];
  }
  double best1 = 1e9, best2 = 1e9;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = now_ms();
    for (int i = 0; i < K; i++) {
      CHECK_OK(secagg_client_mask(y[i], W, cs[i], (const uint8_t(*)[32])pk, &err));
      cs[i]->masked = 0;
    }
    double t1 = now_ms();
    CHECK_OK(secagg_clients_mask(mk, W, cs, K, (const uint8_t(*)[32])pk, 0, NULL, NULL, &err));
    for (int i = 0; i < K; i++) {
      secagg_vec_add(mk[i], x[i], W);
      cs[i]->masked = 0;
    }
    double t2 = now_ms();
    best1 = t1 - t0 < best1 ? t1 - t0 : best1;
    best2 = t2 - t1 < best2 ? t2 - t1 : best2;
  }
  printf("masks of 5 of 8 parties, 2^20 words, CPU: one at a time %.1f ms, batch + additions %.1f ms (%.2fx)\n", best1,
         best2, best1 / best2);
  for (int i = 0; i < K; i++) {
    free(x[i]);
    free(y[i]);
    free(mk[i]);
  }
  for (uint32_t u = 0; u < N; u++) secagg_client_free(&c[u]);
  secagg_graph_free(&g);
}

int main(void) {
  CHECK(sodium_init() >= 0);
  test_prg_kat();
  test_gf_and_shamir_kat();
  test_shamir_random();
  test_graph();
  test_pair_seed();
  test_protocol_complete();
  test_protocol_secagg_plus();
  test_protocol_bound();
  test_protocol_early();
  test_misuse();
  test_masked_unrelated();
  test_bulk_stream();
  test_mask_fused();
  test_mask_batch();
  bench_mask();
  bench_mask_batch();
  printf("test_secagg: ok\n");
  return 0;
}
