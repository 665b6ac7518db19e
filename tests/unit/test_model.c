/* tests/unit/test_model.c: the recommender of common/model.h on a dataset
 * built by hand (6 users, 9 items, tokens, histories).
 *
 *   - forward: loss, user and item vectors against a direct double-precision
 *     implementation of the formulas in model.h (history leave-out included);
 *   - gradients: every coordinate of theta, P and Q by central differences,
 *     also with negatives drawn several times and equal to positives;
 *   - trainer: SGD and Adam lower the loss, same seed gives bit-identical
 *     parameters, trainer_grad matches model_loss_grad on the sampled batch
 *     and descends it, trainer_reset_opt restores a fresh optimiser. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/model.h"
#include "common/rng.h"
#include "tests/check.h"

extern int openblas_get_num_threads(void);
extern void openblas_set_num_threads(int);

#define NU 6
#define NI 9

/* Every test runs twice: without and with the popularity prior (main). */
static model_cfg_t CFG = {.dim = 6, .hidden = 10, .n_buckets = 64, .hist_len = 3};

static uint32_t *copy_u32(const uint32_t *src, size_t n) {
  uint32_t *p = malloc((n ? n : 1) * sizeof *p);
  CHECK(p != NULL);
  if (n) memcpy(p, src, n * sizeof *p);
  return p;
}

/* Item i: a token of its own (row i + 1), a category token (rows 20..22);
 * item 0 also a raw 32-bit hash (bucket 57), item 8 has no token at all.
 * User u: own token (rows 30..35) and a group token (40, 41); user 5 none.
 * Histories in time order; user 2 has none. Pairs: every history entry. */
static void make_dataset(dataset_t *d) {
  memset(d, 0, sizeof *d);
  d->n_users = NU;
  d->n_items = NI;
  const uint32_t itok_ptr[NI + 1] = {0, 3, 5, 7, 9, 11, 13, 15, 17, 17};
  const uint32_t itok[17] = {1, 20, 0x9e3779b9u, 2, 21, 3, 22, 4, 20, 5, 21, 6, 22, 7, 20, 8, 21};
  const uint32_t utok_ptr[NU + 1] = {0, 2, 4, 6, 8, 10, 10};
  const uint32_t utok[10] = {30, 40, 31, 41, 32, 40, 33, 41, 34, 40};
  const uint32_t hist_ptr[NU + 1] = {0, 4, 6, 6, 10, 11, 15};
  const uint32_t hist[15] = {0, 1, 2, 3, 3, 4, 5, 6, 7, 5, 1, 2, 8, 0, 6};
  d->itok_ptr = copy_u32(itok_ptr, NI + 1);
  d->itok = copy_u32(itok, 17);
  d->utok_ptr = copy_u32(utok_ptr, NU + 1);
  d->utok = copy_u32(utok, 10);
  d->hist_ptr = copy_u32(hist_ptr, NU + 1);
  d->hist = copy_u32(hist, 15);
  d->n_pairs = 15;
  d->pair_user = malloc(15 * sizeof(uint32_t));
  d->pair_item = copy_u32(hist, 15);
  for (uint32_t u = 0; u < NU; u++)
    for (uint32_t k = hist_ptr[u]; k < hist_ptr[u + 1]; k++) d->pair_user[k] = u;
  d->item_pop = calloc(NI, sizeof(float));
  for (uint32_t k = 0; k < 15; k++) d->item_pop[hist[k]] += 1.0f;
  d->hist_ts = malloc(15 * sizeof(int64_t)); /* 1000 + 3 k s: 5 bins of 10 s */
  for (uint32_t k = 0; k < 15; k++) d->hist_ts[k] = 1000 + 3 * (int64_t)k;
  /* attributes (the attribute term's input), 3 coordinates; item 7 has none */
  const uint32_t attr_ptr[NI + 1] = {0, 2, 3, 5, 6, 8, 9, 11, 11, 12};
  const uint32_t attr_id[12] = {0, 1, 0, 1, 2, 2, 0, 2, 1, 0, 1, 2};
  const float attr_w[12] = {0.8f, 0.6f, 1.0f, 0.6f, 0.8f, 1.0f, 0.6f, 0.8f, 1.0f, 0.6f, 0.8f, 0.7f};
  d->n_attr = 3;
  d->attr_ptr = copy_u32(attr_ptr, NI + 1);
  d->attr_id = copy_u32(attr_id, 12);
  d->attr_w = malloc(sizeof attr_w);
  memcpy(d->attr_w, attr_w, sizeof attr_w);
}

/* The time term's settings of the variants that have it (bins of 10 s). */
#define TIME_BIN 10
#define TIME_KCAP 2

static void free_dataset(dataset_t *d) {
  free(d->itok_ptr); free(d->itok); free(d->utok_ptr); free(d->utok);
  free(d->hist_ptr); free(d->hist); free(d->pair_user); free(d->pair_item); free(d->item_pop);
  free(d->hist_ts);
  free(d->attr_ptr); free(d->attr_id); free(d->attr_w);
  dataset_spectral(d, 0, 0, NULL);
  dataset_time(d, 0, 0, 0, NULL);
  dataset_ease(d, 0, 0, NULL);
  dataset_trans(d, 0, 0, NULL);
}

/* The EASE term's settings of the variants that have it: a small lambda so
 * that the fixture's few co-occurrences count; X the first 3 items of each user. */
#define EASE_LAMBDA 1
#define EASE_KCAP 3
/* The transition term's: the first 3 items of each user (users 0, 3 and 5
 * have 4: their last pair is left out). */
#define TRANS_KCAP 3

static void fill_normal(float *x, size_t n, double std, rng_t *r) {
  for (size_t i = 0; i < n; i++) x[i] = (float)(std * rng_normal(r));
}

/* --- the model written out directly, in double ---------------------------------- */

typedef struct {
  const float *theta;
  const model_local_t *l;
  const dataset_t *ds;
  model_view_t v[MODEL_N_VIEWS];
} ref_t;

static const float *view(const ref_t *r, int k) { return r->theta + r->v[k].offset; }

/* gamma_k: the view, or with spectral_basis M the Legendre polynomials
 * P_0 = 1, P_1 = x, P_2 = (3x^2 - 1)/2 at x = 2 ln(1+k)/ln(r) - 1 times the
 * view's M coefficients (written out here, not model_gamma_basis's recursion). */
static double ref_gamma(const ref_t *r, uint32_t k) {
  const float *c = view(r, MODEL_SPEC);
  if (!CFG.spectral_basis) return c[k];
  const double x = 2.0 * log(1.0 + k) / log((double)CFG.spectral) - 1.0;
  const double P[3] = {1.0, x, (3.0 * x * x - 1.0) / 2.0};
  double g = 0;
  for (uint32_t j = 0; j < CFG.spectral_basis; j++) g += P[j] * c[j];
  return g;
}

/* Floats of the gamma view: r, or the M coefficients. */
static size_t n_gamma_view(void) { return CFG.spectral_basis ? CFG.spectral_basis : CFG.spectral; }

static void ref_bag(const ref_t *r, const uint32_t *ptr, const uint32_t *tok, uint32_t e,
                    double *out) {
  const uint32_t D = CFG.dim;
  for (uint32_t d = 0; d < D; d++) out[d] = 0;
  uint32_t n = ptr[e + 1] - ptr[e];
  for (uint32_t k = ptr[e]; k < ptr[e + 1]; k++)
    for (uint32_t d = 0; d < D; d++)
      out[d] += view(r, MODEL_E)[(tok[k] % CFG.n_buckets) * D + d] / (double)n;
}

static void ref_x(const ref_t *r, uint32_t i, double *x) {
  ref_bag(r, r->ds->itok_ptr, r->ds->itok, i, x);
  for (uint32_t d = 0; d < CFG.dim; d++) x[d] += r->l->item_id[i * CFG.dim + d];
}

/* y (D) = W2 relu(W1 in + b1) + b2, in of width n_in */
static void ref_tower(const float *W1, const float *b1, const float *W2, const float *b2,
                      const double *in, uint32_t n_in, double *y) {
  double h[64];
  for (uint32_t o = 0; o < CFG.hidden; o++) {
    double a = b1[o];
    for (uint32_t k = 0; k < n_in; k++) a += W1[o * n_in + k] * in[k];
    h[o] = a > 0 ? a : 0;
  }
  for (uint32_t o = 0; o < CFG.dim; o++) {
    double a = b2[o];
    for (uint32_t k = 0; k < CFG.hidden; k++) a += W2[o * CFG.hidden + k] * h[k];
    y[o] = a;
  }
  if (CFG.no_towers) memset(y, 0, CFG.dim * sizeof *y); /* the towers' term is left out */
}

static void ref_item(const ref_t *r, uint32_t i, double *v) {
  double x[16];
  ref_x(r, i, x);
  ref_tower(view(r, MODEL_WI1), view(r, MODEL_BI1), view(r, MODEL_WI2), view(r, MODEL_BI2), x,
            CFG.dim, v);
}

/* target: the item left out of the history (UINT32_MAX: none) */
static void ref_user(const ref_t *r, uint32_t u, uint32_t target, double *w) {
  const uint32_t D = CFG.dim;
  double z[48] = {0}, x[16];
  ref_bag(r, r->ds->utok_ptr, r->ds->utok, u, z);
  uint32_t c = 0;
  for (uint32_t k = r->ds->hist_ptr[u + 1]; k > r->ds->hist_ptr[u] && c < CFG.hist_len; k--) {
    uint32_t j = r->ds->hist[k - 1];
    if (j == target) continue;
    ref_x(r, j, x);
    for (uint32_t d = 0; d < D; d++) z[D + d] += x[d];
    c++;
  }
  for (uint32_t d = 0; d < D; d++) {
    if (c) z[D + d] /= c;
    z[2 * D + d] = r->l->user_id[u * D + d];
  }
  ref_tower(view(r, MODEL_WU1), view(r, MODEL_BU1), view(r, MODEL_WU2), view(r, MODEL_BU2), z,
            3 * D, w);
}

static double dot(const double *a, const double *b) {
  double s = 0;
  for (uint32_t d = 0; d < CFG.dim; d++) s += a[d] * b[d];
  return s;
}

/* The popularity prior's part of a score: beta log(1 + count of item i). */
static double ref_pop(const ref_t *r, uint32_t i) {
  return CFG.pop_prior ? view(r, MODEL_POP)[0] * log1p(r->ds->item_pop[i]) : 0.0;
}

/* The same in a training row of user u: with the dataset's pop_loo, the count
 * without u's own interactions with i (its hist). */
static double ref_pop_row(const ref_t *r, uint32_t u, uint32_t i) {
  if (!CFG.pop_prior || !r->ds->pop_loo) return ref_pop(r, i);
  double c = r->ds->item_pop[i];
  for (uint32_t k = r->ds->hist_ptr[u]; k < r->ds->hist_ptr[u + 1]; k++) c -= r->ds->hist[k] == i;
  return view(r, MODEL_POP)[0] * log1p(c);
}

/* The spectrum of user u's scores: training, its fold's complement's; else all users'. */
static const float *ref_vec(const ref_t *r, uint32_t u, int train) {
  return train ? r->ds->spec_fvec + (u % DATASET_SPEC_FOLDS) * NI * CFG.spectral : r->ds->spec_vec;
}
static const float *ref_val(const ref_t *r, uint32_t u, int train) {
  return train ? r->ds->spec_fval + (u % DATASET_SPEC_FOLDS) * CFG.spectral : r->ds->spec_val;
}

/* a_u (spectral): the user's last L history items' eigenvector rows, target
 * left out, summed and divided by the square root of their number. */
static void ref_au(const ref_t *r, uint32_t u, uint32_t target, int train, double *a) {
  const uint32_t R = CFG.spectral;
  const float *vec = ref_vec(r, u, train);
  uint32_t c = 0;
  for (uint32_t k = 0; k < R; k++) a[k] = 0;
  for (uint32_t k = r->ds->hist_ptr[u + 1]; k > r->ds->hist_ptr[u] && c < CFG.hist_len; k--) {
    uint32_t j = r->ds->hist[k - 1];
    if (j == target) continue;
    for (uint32_t q = 0; q < R; q++) a[q] += vec[j * R + q];
    c++;
  }
  for (uint32_t q = 0; q < R; q++) a[q] = c ? a[q] / sqrt((double)c) : 0.0;
}

/* The co-occurrence term's part of a training score: sum_k gamma_k a_uk lambda_k e_ik,
 * with the spectrum of u's fold's complement. */
static double ref_spec(const ref_t *r, uint32_t u, uint32_t target, uint32_t i) {
  double a[16], s = 0;
  ref_au(r, u, target, 1, a);
  const float *vec = ref_vec(r, u, 1), *val = ref_val(r, u, 1);
  for (uint32_t k = 0; k < CFG.spectral; k++)
    s += ref_gamma(r, k) * a[k] * val[k] * vec[i * CFG.spectral + k];
  return s;
}

/* The time term: sum_{|b - b_u| <= J} tau_(b - b_u) c_i(b). Training: b_u
 * from the user's min(p, kcap)-th interaction, p = the target's first
 * position in the history (none for p = 0 or a target that is not one of the
 * user's pairs), counts of the fold's complement;
 * inference (target UINT32_MAX): the last interaction, all users' counts. */
static double ref_time(const ref_t *r, uint32_t u, uint32_t target, uint32_t i) {
  const uint32_t J = CFG.time_lags, T = r->ds->time_T, h0 = r->ds->hist_ptr[u],
                 n = r->ds->hist_ptr[u + 1] - h0;
  if (!J || !n) return 0.0;
  const float *cnt = r->ds->time_cnt;
  uint32_t q = n; /* interactions before the reference's end */
  if (target != UINT32_MAX) {
    uint32_t p = 0;
    while (p < n && r->ds->hist[h0 + p] != target) p++;
    if (p == n) return 0.0; /* not one of the user's pairs: no reference */
    q = p < TIME_KCAP ? p : TIME_KCAP;
    cnt = r->ds->time_fcnt + (size_t)(u % DATASET_SPEC_FOLDS) * NI * T;
  }
  if (!q) return 0.0;
  int64_t bu = (r->ds->hist_ts[h0 + q - 1] - r->ds->time_t0) / TIME_BIN;
  double s = 0;
  for (int64_t b = 0; b < T; b++)
    if (llabs(b - bu) <= J) s += view(r, MODEL_TIME)[J + b - bu] * cnt[i * T + b];
  return s;
}

/* The attribute term: alpha sum over the user's last L history items (target
 * left out) of w_j . w_i, divided by the square root of their number. */
static double ref_attr(const ref_t *r, uint32_t u, uint32_t target, uint32_t i) {
  if (!CFG.attr) return 0.0;
  const dataset_t *ds = r->ds;
  double s = 0;
  uint32_t c = 0;
  for (uint32_t k = ds->hist_ptr[u + 1]; k > ds->hist_ptr[u] && c < CFG.hist_len; k--) {
    uint32_t j = ds->hist[k - 1];
    if (j == target) continue;
    for (uint32_t p = ds->attr_ptr[j]; p < ds->attr_ptr[j + 1]; p++)
      for (uint32_t q = ds->attr_ptr[i]; q < ds->attr_ptr[i + 1]; q++)
        if (ds->attr_id[p] == ds->attr_id[q]) s += (double)ds->attr_w[p] * ds->attr_w[q];
    c++;
  }
  return c ? view(r, MODEL_ATTR)[0] * s / sqrt((double)c) : 0.0;
}

/* The EASE term, written out: X the binary matrix of every user's first
 * EASE_KCAP hist items, without user u when training (target != UINT32_MAX);
 * P = (X^T X + lambda I)^-1 inverted here by Gauss-Jordan over all NI items;
 * e_ui = -sum_{j in h, j != i} P[j][i] / P[i][i] over the distinct items h of
 * the user's last L history items (target left out); times the dataset's
 * scale and eta. */
static double ref_ease_raw(const dataset_t *ds, uint32_t u, uint32_t target, uint32_t i) {
  double G[NI][2 * NI] = {{0}};
  for (uint32_t v = 0; v < NU; v++) {
    if (target != UINT32_MAX && v == u) continue;
    int x[NI] = {0};
    for (uint32_t k = ds->hist_ptr[v]; k < ds->hist_ptr[v + 1] && k < ds->hist_ptr[v] + EASE_KCAP; k++)
      x[ds->hist[k]] = 1;
    for (uint32_t a = 0; a < NI; a++)
      for (uint32_t b = 0; b < NI; b++) G[a][b] += x[a] * x[b];
  }
  for (uint32_t a = 0; a < NI; a++) G[a][a] += EASE_LAMBDA, G[a][NI + a] = 1;
  for (uint32_t c = 0; c < NI; c++) { /* symmetric positive definite: no pivoting */
    const double d = G[c][c];
    for (uint32_t b = 0; b < 2 * NI; b++) G[c][b] /= d;
    for (uint32_t a = 0; a < NI; a++) {
      if (a == c) continue;
      const double f = G[a][c];
      for (uint32_t b = 0; b < 2 * NI; b++) G[a][b] -= f * G[c][b];
    }
  }
  int h[NI] = {0};
  uint32_t c = 0;
  for (uint32_t k = ds->hist_ptr[u + 1]; k > ds->hist_ptr[u] && c < CFG.hist_len; k--) {
    if (ds->hist[k - 1] == target) continue;
    h[ds->hist[k - 1]] = 1;
    c++;
  }
  double s = 0;
  for (uint32_t j = 0; j < NI; j++)
    if (h[j] && j != i) s += G[j][NI + i];
  return -s / G[i][NI + i];
}

static double ref_ease(const ref_t *r, uint32_t u, uint32_t target, uint32_t i) {
  if (!CFG.ease) return 0.0;
  return view(r, MODEL_EASE)[0] * r->ds->ease_scale * ref_ease_raw(r->ds, u, target, i);
}

/* The transition term, written out: T[a][b] = the times b comes right after
 * a != b among every user's first kcap hist items, without user u when
 * training (target != UINT32_MAX); l the user's last hist item, when training
 * the item at min(p, kcap) - 1, p the target's first position in the user's
 * hist (none if p = 0 or absent: 0); t_ui = T[l][i] / sum_b T[l][b] (0 for an
 * empty row); times the scale and kappa. */
static double ref_trans_raw(const dataset_t *ds, uint32_t u, uint32_t target, uint32_t i,
                            uint32_t kcap) {
  const uint32_t a = ds->hist_ptr[u], e = ds->hist_ptr[u + 1];
  uint32_t k = e; /* l = hist[k - 1] */
  if (target != UINT32_MAX) {
    k = a;
    while (k < e && ds->hist[k] != target) k++;
    if (k == e) return 0.0; /* not in hist */
    if (k - a > kcap) k = a + kcap;
  }
  if (k == a) return 0.0;
  const uint32_t l = ds->hist[k - 1];
  double row = 0, cnt = 0;
  for (uint32_t v = 0; v < NU; v++) {
    if (target != UINT32_MAX && v == u) continue;
    const uint32_t s = ds->hist_ptr[v];
    for (uint32_t q = s + 1; q < ds->hist_ptr[v + 1] && q < s + kcap; q++)
      if (ds->hist[q - 1] == l && ds->hist[q] != l) row += 1, cnt += ds->hist[q] == i;
  }
  return row > 0 ? cnt / row : 0.0;
}

static double ref_trans(const ref_t *r, uint32_t u, uint32_t target, uint32_t i) {
  if (!CFG.trans) return 0.0;
  return view(r, MODEL_TRANS)[0] * r->ds->trans_scale * ref_trans_raw(r->ds, u, target, i, TRANS_KCAP);
}

static double ref_loss(const ref_t *r, const uint32_t *users, const uint32_t *pos, uint32_t B,
                       const uint32_t *neg, uint32_t N) {
  double loss = 0, w[16], v[16];
  for (uint32_t b = 0; b < B; b++) {
    ref_user(r, users[b], pos[b], w);
    ref_item(r, pos[b], v);
    double sp = dot(w, v) + ref_pop_row(r, users[b], pos[b]) + ref_spec(r, users[b], pos[b], pos[b]) +
                ref_time(r, users[b], pos[b], pos[b]) + ref_attr(r, users[b], pos[b], pos[b]) +
                ref_ease(r, users[b], pos[b], pos[b]) + ref_trans(r, users[b], pos[b], pos[b]),
           sum = exp(sp);
    for (uint32_t n = 0; n < N; n++) {
      if (neg[n] == pos[b]) continue;
      ref_item(r, neg[n], v);
      sum += exp(dot(w, v) + ref_pop_row(r, users[b], neg[n]) + ref_spec(r, users[b], pos[b], neg[n]) +
                 ref_time(r, users[b], pos[b], neg[n]) + ref_attr(r, users[b], pos[b], neg[n]) +
                 ref_ease(r, users[b], pos[b], neg[n]) + ref_trans(r, users[b], pos[b], neg[n]));
    }
    loss += log(sum) - sp;
  }
  return loss / B;
}

/* --- fixtures ------------------------------------------------------------------------ */

static dataset_t g_ds;
static size_t g_ns;

/* A batch that exercises every path: user 0 pools [3, 2, 0] (target 1 left
 * out; item 0 only reaches the loss through history); user 3's target 5
 * occurs twice in its history and is also negative 0 (an accidental hit);
 * user 5 has no tokens and a token-less target; user 4's only history item
 * is its target (g = 0); user 2 has no history. The last two rows have
 * targets after the first TRANS_KCAP items: the transition term's source is
 * the K-th item (user 0 target 3: l = 2, T[2] = {8} from user 5; user 5
 * target 6: l = 0, T[0] = {1} from user 0); negative 8 is also row 2's
 * positive. */
#define B_N 7
#define B_NN 5
static const uint32_t B_USERS[B_N] = {0, 3, 5, 4, 2, 0, 5};
static const uint32_t B_POS[B_N] = {1, 5, 8, 1, 7, 3, 6};
static const uint32_t B_NEG[B_NN] = {5, 2, 4, 6, 8};

/* theta and local drawn wider than the real init, biases non-zero, so that
 * logits are O(1) and gradients are well above the float noise. */
static void wide_params(float *theta, model_local_t *l, uint64_t seed) {
  rng_t r;
  rng_seed(&r, seed, 1000, 0);
  const size_t ntau = CFG.time_lags ? 2 * CFG.time_lags + 1 : 0,
               na = CFG.attr + !!CFG.ease + CFG.trans; /* the scalar weights, the last views */
  fill_normal(theta, g_ns - n_gamma_view() - ntau - na, 0.4, &r);
  CHECK_OK(model_local_init(l, &CFG, NU, NI, seed, 0, NULL));
  fill_normal(l->user_id, NU * CFG.dim, 0.4, &r);
  fill_normal(l->item_id, NI * CFG.dim, 0.4, &r);
  /* gamma and tau (the last views) last: the other parameters are those of
   * the variants without these terms, kinks included */
  fill_normal(theta + g_ns - na - n_gamma_view() - ntau, n_gamma_view(), 0.4, &r);
  fill_normal(theta + g_ns - na - ntau, ntau, 0.4, &r);
  model_view_t v[MODEL_N_VIEWS];
  model_views(&CFG, v);
  if (CFG.attr) theta[v[MODEL_ATTR].offset] = 1.3f; /* alpha, a weight the size of the others' */
  if (CFG.ease) theta[v[MODEL_EASE].offset] = 0.9f;
  if (CFG.trans) theta[v[MODEL_TRANS].offset] = 1.1f;
}

static void test_layout(void) {
  fm_err err;
  model_view_t v[MODEL_N_VIEWS];
  model_views(&CFG, v);
  const uint32_t D = CFG.dim, Hd = CFG.hidden;
  size_t expect = (size_t)CFG.n_buckets * D + Hd * D + Hd + D * Hd + D + Hd * 3 * D + Hd +
                  D * Hd + D + CFG.pop_prior + n_gamma_view() +
                  (CFG.time_lags ? 2 * CFG.time_lags + 1 : 0) + CFG.attr + !!CFG.ease + CFG.trans;
  CHECK_EQ_INT(g_ns, expect);
  CHECK_EQ_INT(v[MODEL_E].offset, 0);
  CHECK_EQ_INT(v[MODEL_WU1].rows, Hd);
  CHECK_EQ_INT(v[MODEL_WU1].cols, 3 * D);
  for (int k = 1; k < MODEL_N_VIEWS; k++)
    CHECK_EQ_INT(v[k].offset, v[k - 1].offset + (size_t)v[k - 1].rows * v[k - 1].cols);
  CHECK_OK(model_cfg_validate(&CFG, &err));
  model_cfg_t bad = CFG;
  bad.dim = 0;
  CHECK(model_cfg_validate(&bad, &err) < 0 && strstr(err.msg, "dim") != NULL);
  bad = CFG;
  bad.n_buckets = 1u << 30;
  CHECK(model_cfg_validate(&bad, &err) < 0);

  /* init: deterministic, zero biases, finite, seeds differ */
  float *a = malloc(g_ns * sizeof *a), *b = malloc(g_ns * sizeof *b);
  model_shared_init(a, &CFG, 7);
  model_shared_init(b, &CFG, 7);
  CHECK(memcmp(a, b, g_ns * sizeof *a) == 0);
  for (size_t i = 0; i < D; i++) CHECK(a[v[MODEL_BU2].offset + i] == 0.0f);
  for (size_t i = 0; i < Hd; i++) CHECK(a[v[MODEL_BI1].offset + i] == 0.0f);
  CHECK_EQ_INT(v[MODEL_POP].rows, CFG.pop_prior);
  if (CFG.pop_prior) CHECK(a[v[MODEL_POP].offset] == 1.0f); /* starts from popularity */
  CHECK_EQ_INT(model_score_dim(&CFG, &g_ds),
               D + CFG.pop_prior + CFG.spectral + (CFG.time_lags ? g_ds.time_T : 0));
  CHECK_EQ_INT(v[MODEL_ATTR].rows, CFG.attr);
  if (CFG.attr) CHECK(a[v[MODEL_ATTR].offset] == 0.0f); /* alpha starts at 0: off until learned */
  CHECK_EQ_INT(v[MODEL_EASE].rows, !!CFG.ease);
  if (CFG.ease) CHECK(a[v[MODEL_EASE].offset] == 0.0f); /* so does eta */
  CHECK_EQ_INT(v[MODEL_TRANS].rows, CFG.trans);
  if (CFG.trans) CHECK(a[v[MODEL_TRANS].offset] == 0.0f); /* and kappa */
  for (uint32_t k = 0; k < v[MODEL_TIME].rows; k++) /* tau starts as the kernel */
    CHECK(a[v[MODEL_TIME].offset + k] ==
          dataset_time_kernel0((int32_t)k - (int32_t)CFG.time_lags, CFG.time_lags));
  CHECK_EQ_INT(v[MODEL_SPEC].rows, n_gamma_view());
  for (uint32_t k = 0; k < n_gamma_view(); k++) /* gamma = 1: the weights, or P_0's coefficient */
    CHECK(a[v[MODEL_SPEC].offset + k] == (CFG.spectral_basis && k ? 0.0f : 1.0f));
  if (CFG.spectral) { /* and the filter they make is 1 at every rank */
    float gam[16];
    CHECK_OK(model_gamma(&CFG, a, gam));
    for (uint32_t k = 0; k < CFG.spectral; k++) CHECK_NEAR(gam[k], 1.0, 1e-6);
  }
  bad = CFG;
  bad.spectral_basis = CFG.spectral + 1;
  CHECK(model_cfg_validate(&bad, &err) < 0 && strstr(err.msg, "spectral_basis") != NULL);
  bad = CFG;
  bad.pop_prior = 2;
  CHECK(model_cfg_validate(&bad, &err) < 0 && strstr(err.msg, "pop_prior") != NULL);
  bad = CFG;
  bad.spectral = 100000;
  CHECK(model_cfg_validate(&bad, &err) < 0 && strstr(err.msg, "spectral") != NULL);
  bad = CFG;
  bad.time_lags = 100000;
  CHECK(model_cfg_validate(&bad, &err) < 0 && strstr(err.msg, "time_lags") != NULL);
  bad.time_lags = 2;
  bad.time_bin_s = 0;
  CHECK(model_cfg_validate(&bad, &err) < 0 && strstr(err.msg, "time_bin_s") != NULL);
  bad = CFG;
  bad.no_towers = 1;
  bad.pop_prior = bad.spectral = bad.spectral_basis = bad.time_lags = bad.attr = bad.ease = bad.trans = 0;
  CHECK(model_cfg_validate(&bad, &err) < 0 && strstr(err.msg, "without towers") != NULL);
  bad.attr = 1;
  CHECK_OK(model_cfg_validate(&bad, &err));
  bad.user_ids = 1; /* the global-id tokens need the user tower that reads them */
  CHECK(model_cfg_validate(&bad, &err) < 0 && strstr(err.msg, "user_ids") != NULL);
  bad.no_towers = 0;
  CHECK_OK(model_cfg_validate(&bad, &err));
  {
    model_cfg_t plain = bad;
    plain.user_ids = 0;
    CHECK_EQ_INT(model_n_shared(&bad), model_n_shared(&plain)); /* nothing new in theta: the table is rows of E */
  }
  bad.user_ids = 2;
  CHECK(model_cfg_validate(&bad, &err) < 0 && strstr(err.msg, "user_ids") != NULL);
  bad.user_ids = 0;
  bad.no_towers = 1;
  bad.attr = 2;
  CHECK(model_cfg_validate(&bad, &err) < 0 && strstr(err.msg, "attr") != NULL);
  bad.attr = 0;
  bad.ease = 200;
  CHECK_OK(model_cfg_validate(&bad, &err));
  bad.ease = MODEL_MAX_EASE_LAMBDA + 1;
  CHECK(model_cfg_validate(&bad, &err) < 0 && strstr(err.msg, "ease") != NULL);
  bad.ease = 0;
  bad.trans = 1;
  CHECK_OK(model_cfg_validate(&bad, &err));
  bad.trans = 2;
  CHECK(model_cfg_validate(&bad, &err) < 0 && strstr(err.msg, "trans") != NULL);
  model_shared_init(b, &CFG, 8);
  CHECK(memcmp(a, b, g_ns * sizeof *a) != 0);
  model_local_t l1, l2;
  CHECK_OK(model_local_init(&l1, &CFG, NU, NI, 7, 3, NULL));
  CHECK_OK(model_local_init(&l2, &CFG, NU, NI, 7, 4, NULL));
  CHECK(memcmp(l1.item_id, l2.item_id, NI * D * sizeof(float)) != 0);
  model_local_free(&l1);
  model_local_free(&l2);
  model_local_free(&l2);
  model_local_free(NULL);
  free(a);
  free(b);
}

static void test_forward(void) {
  float *theta = malloc(g_ns * sizeof *theta);
  model_local_t l;
  wide_params(theta, &l, 11);
  ref_t r = {theta, &l, &g_ds, {{0}}};
  model_views(&CFG, r.v);
  const uint32_t D = CFG.dim;

  float loss = model_loss_grad(&CFG, theta, &l, &g_ds, B_USERS, B_POS, B_N, B_NEG, B_NN, NULL, NULL,
                               NULL);
  double ref = ref_loss(&r, B_USERS, B_POS, B_N, B_NEG, B_NN);
  printf("  loss %.7f, reference %.7f\n", (double)loss, ref);
  CHECK_NEAR(loss, ref, 1e-5 * fabs(ref));

  /* targets late in the history: the transition term's source is the K-th
   * item (user 0 target 3: l = 2, T[2] = {8} from user 5; user 5 target 6:
   * l = 0, T[0] = {1} from user 0; user 3 target 7: l = 6, only its own 6>7) */
  {
    const uint32_t lu[3] = {0, 5, 3}, lp[3] = {3, 6, 7}, ln[4] = {8, 1, 4, 5};
    float ll = model_loss_grad(&CFG, theta, &l, &g_ds, lu, lp, 3, ln, 4, NULL, NULL, NULL);
    double lr = ref_loss(&r, lu, lp, 3, ln, 4);
    CHECK_NEAR(ll, lr, 1e-5 * fabs(lr));
    if (CFG.trans) {
      CHECK(ref_trans_raw(&g_ds, 0, 3, 8, TRANS_KCAP) == 1.0);
      CHECK(ref_trans_raw(&g_ds, 5, 6, 1, TRANS_KCAP) == 1.0);
      CHECK(ref_trans_raw(&g_ds, 3, 7, 7, TRANS_KCAP) == 0.0);
    }
  }

  /* inference vectors against the reference (nothing left out); with the
   * prior each has one more coordinate: beta for users, s_i for items */
  const uint32_t Ds = model_score_dim(&CFG, &g_ds), o = D + CFG.pop_prior + CFG.spectral;
  const uint32_t T = CFG.time_lags ? g_ds.time_T : 0;
  uint32_t all[NU];
  for (uint32_t u = 0; u < NU; u++) all[u] = u;
  float U[NU * 32], V[NI * 32];
  model_user_vectors(&CFG, theta, &l, &g_ds, all, NU, U);
  model_item_vectors(&CFG, theta, &l, &g_ds, V);
  double w[16], v[16];
  for (uint32_t u = 0; u < NU; u++) {
    ref_user(&r, u, UINT32_MAX, w);
    for (uint32_t d = 0; d < D; d++) CHECK_NEAR(U[u * Ds + d], w[d], 1e-5 * (1 + fabs(w[d])));
    if (CFG.pop_prior) CHECK(U[u * Ds + D] == view(&r, MODEL_POP)[0]);
    double a[16];
    ref_au(&r, u, UINT32_MAX, 0, a);
    for (uint32_t k = 0; k < CFG.spectral; k++)
      CHECK_NEAR(U[u * Ds + D + CFG.pop_prior + k], ref_gamma(&r, k) * a[k], 1e-6);
    /* time: tau at lag b - b_u, b_u the bin of the last interaction (none for user 2) */
    const uint32_t n = g_ds.hist_ptr[u + 1] - g_ds.hist_ptr[u];
    const int64_t bu = n ? (g_ds.hist_ts[g_ds.hist_ptr[u + 1] - 1] - g_ds.time_t0) / TIME_BIN : -100;
    for (uint32_t b = 0; b < T; b++) {
      float want = llabs((int64_t)b - bu) <= CFG.time_lags ? view(&r, MODEL_TIME)[CFG.time_lags + b - bu] : 0.0f;
      CHECK(U[u * Ds + o + b] == want);
    }
  }
  /* attr: model_attr_scores adds ref_attr (nothing left out) to every item,
   * on rows of any stride; without attr it adds nothing */
  float SA[NU * (NI + 2)];
  for (uint32_t k = 0; k < NU * (NI + 2); k++) SA[k] = 0.5f;
  fm_err err;
  CHECK_OK(model_attr_scores(&CFG, theta, &g_ds, all, NU, SA, NI + 2, &err));
  for (uint32_t u = 0; u < NU; u++) {
    for (uint32_t i = 0; i < NI; i++)
      CHECK_NEAR(SA[u * (NI + 2) + i] - 0.5, ref_attr(&r, u, UINT32_MAX, i), 1e-6);
    CHECK(SA[u * (NI + 2) + NI] == 0.5f && SA[u * (NI + 2) + NI + 1] == 0.5f);
  }
  if (CFG.attr) CHECK(SA[0] != 0.5f); /* user 0 shares attributes with item 0 */
  /* ease: model_ease_scores adds ref_ease (nothing left out) likewise */
  for (uint32_t k = 0; k < NU * (NI + 2); k++) SA[k] = 0.5f;
  CHECK_OK(model_ease_scores(&CFG, theta, &g_ds, all, NU, SA, NI + 2, &err));
  double ms = 0;
  uint32_t nh = 0;
  for (uint32_t u = 0; u < NU; u++) {
    for (uint32_t i = 0; i < NI; i++) {
      CHECK_NEAR(SA[u * (NI + 2) + i] - 0.5, ref_ease(&r, u, UINT32_MAX, i), 1e-5);
      if (CFG.ease) { /* the scale is over the whole history, as dataset_spectral's */
        const uint32_t L = CFG.hist_len;
        CFG.hist_len = 1000;
        const double e = ref_ease_raw(&g_ds, u, UINT32_MAX, i);
        CFG.hist_len = L;
        ms += g_ds.hist_ptr[u + 1] > g_ds.hist_ptr[u] ? e * e : 0.0;
      }
    }
    nh += g_ds.hist_ptr[u + 1] > g_ds.hist_ptr[u];
    CHECK(SA[u * (NI + 2) + NI] == 0.5f && SA[u * (NI + 2) + NI + 1] == 0.5f);
  }
  if (CFG.ease) { /* the scale: mean square 1 over the catalogue and the users with a history */
    CHECK(SA[0 * (NI + 2) + 8] != 0.5f); /* user 0 has items 0 and 2, which user 5 took with 8 */
    CHECK_NEAR(ms * g_ds.ease_scale * g_ds.ease_scale / (NI * nh), 1.0, 1e-4);
  }
  /* trans: model_trans_scores adds ref_trans (nothing left out) likewise */
  for (uint32_t k = 0; k < NU * (NI + 2); k++) SA[k] = 0.5f;
  CHECK_OK(model_trans_scores(&CFG, theta, &g_ds, all, NU, SA, NI + 2, &err));
  ms = 0;
  for (uint32_t u = 0; u < NU; u++) {
    for (uint32_t i = 0; i < NI; i++) {
      CHECK_NEAR(SA[u * (NI + 2) + i] - 0.5, ref_trans(&r, u, UINT32_MAX, i), 1e-5);
      const double t = ref_trans_raw(&g_ds, u, UINT32_MAX, i, TRANS_KCAP);
      ms += t * t;
    }
    CHECK(SA[u * (NI + 2) + NI] == 0.5f && SA[u * (NI + 2) + NI + 1] == 0.5f);
  }
  if (CFG.trans) { /* user 0 ends with 3, followed by 4 (user 1); the scale: mean square 1 */
    CHECK(SA[0 * (NI + 2) + 4] > 0.5f);
    CHECK_NEAR(ms * g_ds.trans_scale * g_ds.trans_scale / (NI * nh), 1.0, 1e-4);
  }
  for (uint32_t i = 0; i < NI; i++) {
    ref_item(&r, i, v);
    for (uint32_t d = 0; d < D; d++) CHECK_NEAR(V[i * Ds + d], v[d], 1e-5 * (1 + fabs(v[d])));
    if (CFG.pop_prior) CHECK_NEAR(V[i * Ds + D], log1p(g_ds.item_pop[i]), 1e-6);
    if (CFG.no_towers)
      for (uint32_t d = 0; d < D; d++) CHECK(V[i * Ds + d] == 0.0f && U[(i % NU) * Ds + d] == 0.0f);
    for (uint32_t k = 0; k < CFG.spectral; k++)
      CHECK_NEAR(V[i * Ds + D + CFG.pop_prior + k], g_ds.spec_val[k] * g_ds.spec_vec[i * CFG.spectral + k], 1e-7);
    for (uint32_t b = 0; b < T; b++) CHECK(V[i * Ds + o + b] == g_ds.time_cnt[i * T + b]);
  }
  /* A subset of users, in another order, gives the same rows. */
  const uint32_t some[3] = {5, 0, 2};
  float U3[3 * 32];
  model_user_vectors(&CFG, theta, &l, &g_ds, some, 3, U3);
  for (uint32_t k = 0; k < 3; k++)
    for (uint32_t d = 0; d < Ds; d++) CHECK_NEAR(U3[k * Ds + d], U[some[k] * Ds + d], 1e-6);

  /* The scores the loss uses are the dot products of those vectors (the
   * prior included): with one negative the loss is log(1 + exp(s_neg - s_pos)).
   * The positive is not in the user's history, so nothing is left out. */
  const uint32_t cases[4][3] = {{0, 5, 7}, {3, 0, 2}, {2, 4, 8}, {4, 6, 3}};
  for (int c = 0; c < 4; c++) {
    uint32_t u = cases[c][0], i = cases[c][1], j = cases[c][2];
    double l1 = model_loss_grad(&CFG, theta, &l, &g_ds, &u, &i, 1, &j, 1, NULL, NULL, NULL);
    double diff = 0;
    for (uint32_t d = 0; d < Ds; d++) diff += (double)U[u * Ds + d] * (V[j * Ds + d] - V[i * Ds + d]);
    /* the co-occurrence term: inference uses all users' spectrum, training
     * the fold's complement's (ref_spec): swap one for the other */
    for (uint32_t k = 0; k < CFG.spectral; k++) diff -= (double)U[u * Ds + D + CFG.pop_prior + k] *
        (V[j * Ds + D + CFG.pop_prior + k] - V[i * Ds + D + CFG.pop_prior + k]);
    diff += ref_spec(&r, u, i, j) - ref_spec(&r, u, i, i);
    for (uint32_t b = 0; b < T; b++) diff -= (double)U[u * Ds + o + b] * (V[j * Ds + o + b] - V[i * Ds + o + b]);
    diff += ref_time(&r, u, i, j) - ref_time(&r, u, i, i);
    diff += ref_attr(&r, u, i, j) - ref_attr(&r, u, i, i); /* added beside the vectors */
    diff += ref_ease(&r, u, i, j) - ref_ease(&r, u, i, i);
    diff += ref_trans(&r, u, i, j) - ref_trans(&r, u, i, i);
    CHECK_NEAR(l1, log1p(exp(diff)), 1e-5 * (1 + l1));
  }
  model_local_free(&l);
  free(theta);
}

/* --- gradient check of model_loss_grad ------------------------------------------------ */

typedef struct {
  float *theta;
  model_local_t *l;
  const uint32_t *neg;
  uint32_t n_neg;
} gc_ctx;

static double gc_loss(const gc_ctx *c) {
  return model_loss_grad(&CFG, c->theta, c->l, &g_ds, B_USERS, B_POS, B_N, c->neg, c->n_neg, NULL,
                         NULL, NULL);
}

static double fd(const gc_ctx *c, float *x, double h) {
  float save = *x, xp = (float)(save + h), xm = (float)(save - h);
  *x = xp;
  double fp = gc_loss(c);
  *x = xm;
  double fm = gc_loss(c);
  *x = save;
  return (fp - fm) / ((double)xp - (double)xm);
}

#define GC_RTOL 5e-3
#define GC_ATOL 5e-5

/* Central differences for n coordinates x[0..n) (stride 1). The loss is
 * float, so h is large (1e-2); where the differences with h and h/2 disagree
 * the step crossed a relu kink: num[i] = NAN (skipped, and counted). */
static size_t gc_numeric(const gc_ctx *c, float *x, size_t n, double *num) {
  size_t skipped = 0;
  for (size_t i = 0; i < n; i++) {
    double n1 = fd(c, x + i, 1e-2), n2 = fd(c, x + i, 5e-3);
    num[i] = n1;
    if (fabs(n1 - n2) > GC_ATOL + GC_RTOL * fabs(n1)) num[i] = NAN, skipped++;
  }
  return skipped;
}

/* Coordinates where scale * ana disagrees with num; worst = largest error as
 * a fraction of the tolerance. */
static size_t gc_compare(const float *ana, const double *num, size_t n, float scale,
                         const char *what, double *worst) {
  size_t bad = 0;
  *worst = 0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(num[i])) continue;
    double a = scale * ana[i], tol = GC_ATOL + GC_RTOL * fmax(fabs(a), fabs(num[i]));
    *worst = fmax(*worst, fabs(a - num[i]) / tol);
    if (!(fabs(a - num[i]) <= tol)) {
      if (what) fprintf(stderr, "  %s[%zu]: analytic %.7g numeric %.7g\n", what, i, a, num[i]);
      bad++;
    }
  }
  return bad;
}

/* zero_expected: b_i2 adds the same w_u . b_i2 to every logit of row u, which
 * the softmax cancels: its gradient is exactly zero (up to rounding). */
static void gc_block(const gc_ctx *c, const char *what, float *x, const float *ana, size_t n,
                     int zero_expected) {
  double *num = calloc(n, sizeof *num), worst, ignore;
  CHECK(num != NULL);
  size_t skipped = gc_numeric(c, x, n, num);
  size_t bad = gc_compare(ana, num, n, 1.0f, what, &worst);
  double max_g = 0;
  for (size_t i = 0; i < n; i++) max_g = fmax(max_g, fabs(ana[i]));
  printf("  grad %-5s %4zu coordinates, %zu skipped at a kink, max |g| %.3g, worst error %.2f "
         "of tolerance\n", what, n, skipped, max_g, worst);
  CHECK_EQ_INT(bad, 0);
  CHECK(skipped <= 2 + n / 10);
  if (zero_expected) {
    CHECK(max_g < 1e-5);
  } else {
    CHECK(max_g > 1e-3); /* the gradient reaches this block */
    /* teeth: a 2% error in the gradient would not pass (where 2 % of the
     * largest coordinate is above the tolerance) */
    if (0.02 * max_g > 1.5 * (GC_ATOL + GC_RTOL * max_g))
      CHECK(gc_compare(ana, num, n, 1.02f, NULL, &ignore) > 0);
  }
  free(num);
}

/* Negatives drawn more than once (2 three times), one equal to the positive
 * of rows 0 and 3 (1) and one to that of row 2 (8): the model computes each
 * distinct item once and counts its draws (layer_ssmc_forward). */
static const uint32_t B_NEG_DUP[7] = {5, 2, 2, 6, 1, 2, 8};

static void test_gradients(const uint32_t *neg, uint32_t n_neg, int where) {
  float *theta = malloc(g_ns * sizeof *theta), *g = malloc(g_ns * sizeof *g);
  model_local_t l;
  wide_params(theta, &l, 23);
  const uint32_t D = CFG.dim;
  float gP[NU * 16], gQ[NI * 16];
  float loss = model_loss_grad(&CFG, theta, &l, &g_ds, B_USERS, B_POS, B_N, neg, n_neg, g, gP, gQ);
  CHECK(isfinite(loss));
  {
    ref_t r = {theta, &l, &g_ds, {{0}}};
    model_views(&CFG, r.v);
    double ref = ref_loss(&r, B_USERS, B_POS, B_N, neg, n_neg);
    printf("  %u negatives: loss %.7f, reference %.7f\n", n_neg, (double)loss, ref);
    CHECK_NEAR(loss, ref, 1e-5 * fabs(ref));
  }
  /* the same gradient of theta without asking for P and Q */
  float *g2 = malloc(g_ns * sizeof *g2);
  model_loss_grad(&CFG, theta, &l, &g_ds, B_USERS, B_POS, B_N, neg, n_neg, g2, NULL, NULL);
  CHECK(memcmp(g, g2, g_ns * sizeof *g) == 0);
  free(g2);

  gc_ctx c = {theta, &l, neg, n_neg};
  model_view_t v[MODEL_N_VIEWS];
  model_views(&CFG, v);
  for (int k = 0; k < MODEL_N_VIEWS; k++)
    if (v[k].rows != 0 && v[k].cols != 0) /* beta is an empty view without the prior */
      gc_block(&c, v[k].name, theta + v[k].offset, g + v[k].offset,
               (size_t)v[k].rows * v[k].cols,
               k == MODEL_BI2 || (CFG.no_towers && k < MODEL_POP)); /* without towers: zero */
  gc_block(&c, "P", l.user_id, gP, NU * D, CFG.no_towers);
  gc_block(&c, "Q", l.item_id, gQ, NI * D, CFG.no_towers);
  if (!where || CFG.no_towers) {
    model_local_free(&l);
    free(theta);
    free(g);
    return;
  }

  /* Where the gradient must and must not reach. */
  /* P: rows of the batch users only (user 1 is not in the batch) */
  for (uint32_t u = 0; u < NU; u++) {
    double s = 0;
    for (uint32_t d = 0; d < D; d++) s += fabs(gP[u * D + d]);
    CHECK(u == 1 ? s == 0 : s > 0);
  }
  /* Q: every item is in the batch, items 0 and 3 only through user 0's history */
  for (uint32_t i = 0; i < NI; i++) {
    double s = 0;
    for (uint32_t d = 0; d < D; d++) s += fabs(gQ[i * D + d]);
    CHECK(s > 0);
  }
  /* E: user tokens of batch users (30, 33, 34; 32 for user 2) and the bucket of
   * item 0's hash token (57); nothing on user 1's own token (31) or unused rows. */
  const uint32_t hit[] = {30, 32, 33, 34, 40, 41, 57, 1, 4, 20, 21, 22};
  const uint32_t miss[] = {31, 35, 10, 63};
  for (size_t k = 0; k < sizeof hit / sizeof *hit; k++) {
    double s = 0;
    for (uint32_t d = 0; d < D; d++) s += fabs(g[hit[k] * D + d]);
    CHECK(s > 0);
  }
  for (size_t k = 0; k < sizeof miss / sizeof *miss; k++)
    for (uint32_t d = 0; d < D; d++) CHECK(g[miss[k] * D + d] == 0.0f);
  model_local_free(&l);
  free(theta);
  free(g);
}

/* --- trainer ------------------------------------------------------------------------------ */

static train_cfg_t tcfg(int opt) {
  train_cfg_t tc = {.opt = opt, .batch = 8, .n_neg = 5, .beta1 = 0.9f, .beta2 = 0.999f,
                    .adam_eps = 1e-8f};
  if (opt == OPT_SGD) tc.lr = tc.lr_local = 0.1f;
  else tc.lr = tc.lr_local = 0.02f;
  return tc;
}

/* Every training pair against every item as a negative: a fixed objective. */
static double full_loss(const float *theta, const model_local_t *l) {
  uint32_t neg[NI];
  for (uint32_t i = 0; i < NI; i++) neg[i] = i;
  return model_loss_grad(&CFG, theta, l, &g_ds, g_ds.pair_user, g_ds.pair_item, g_ds.n_pairs,
                         neg, NI, NULL, NULL, NULL);
}

static void test_training(int opt) {
  fm_err err;
  float *theta = malloc(g_ns * sizeof *theta);
  model_shared_init(theta, &CFG, 5);
  model_local_t l;
  CHECK_OK(model_local_init(&l, &CFG, NU, NI, 5, 0, &err));
  train_cfg_t tc = tcfg(opt);
  trainer_t *t;
  if (trainer_init(&t, &CFG, &tc, &g_ds, &l, 5, 0, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    CHECK(0);
  }
  double before = full_loss(theta, &l), first = 0, last = 0;
  for (int s = 0; s < 200; s++) {
    float bl = trainer_step(t, theta);
    CHECK(isfinite(bl));
    if (s < 20) first += bl / 20;
    if (s >= 180) last += bl / 20;
  }
  double after = full_loss(theta, &l);
  printf("  %s: full loss %.4f -> %.4f, batch loss %.4f -> %.4f over 200 steps\n",
         opt == OPT_SGD ? "SGD " : "Adam", before, after, first, last);
  /* without towers only the few filter weights learn: less to gain; with the
   * attribute term alone one weight (alpha): it must move and lower the loss */
  const int alone = CFG.no_towers && !CFG.pop_prior && !CFG.spectral && !CFG.time_lags &&
                    CFG.attr + !!CFG.ease + CFG.trans == 1;
  const double keep = alone ? 1.0 : CFG.no_towers ? 0.97 : 0.8;
  CHECK(after < keep * before);
  CHECK(last < keep * first);
  if (alone) {
    model_view_t v[MODEL_N_VIEWS];
    model_views(&CFG, v);
    CHECK(theta[v[CFG.attr ? MODEL_ATTR : CFG.ease ? MODEL_EASE : MODEL_TRANS].offset] != 0.0f);
  }
  trainer_free(t);
  model_local_free(&l);
  free(theta);
}

static void test_determinism(void) {
  fm_err err;
  float *th[2];
  model_local_t l[2];
  trainer_t *t[2];
  train_cfg_t tc = tcfg(OPT_ADAM);
  tc.l2 = 1e-3f;
  for (int k = 0; k < 2; k++) {
    th[k] = malloc(g_ns * sizeof(float));
    model_shared_init(th[k], &CFG, 3);
    CHECK_OK(model_local_init(&l[k], &CFG, NU, NI, 3, 1, &err));
    CHECK_OK(trainer_init(&t[k], &CFG, &tc, &g_ds, &l[k], 3, 1, &err));
  }
  for (int s = 0; s < 20; s++) {
    float a = trainer_step(t[0], th[0]), b = trainer_step(t[1], th[1]);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
  }
  CHECK(memcmp(th[0], th[1], g_ns * sizeof(float)) == 0);
  CHECK(memcmp(l[0].user_id, l[1].user_id, NU * CFG.dim * sizeof(float)) == 0);
  CHECK(memcmp(l[0].item_id, l[1].item_id, NI * CFG.dim * sizeof(float)) == 0);
  /* another platform id samples another stream */
  trainer_t *t2;
  model_local_t l2;
  float *th2 = malloc(g_ns * sizeof(float));
  model_shared_init(th2, &CFG, 3);
  CHECK_OK(model_local_init(&l2, &CFG, NU, NI, 3, 1, &err));
  CHECK_OK(trainer_init(&t2, &CFG, &tc, &g_ds, &l2, 3, 2, &err));
  for (int s = 0; s < 20; s++) trainer_step(t2, th2);
  CHECK(memcmp(th[0], th2, g_ns * sizeof(float)) != 0);
  trainer_free(t2);
  model_local_free(&l2);
  free(th2);
  for (int k = 0; k < 2; k++) {
    trainer_free(t[k]);
    model_local_free(&l[k]);
    free(th[k]);
  }
  trainer_free(NULL);
  printf("  determinism: two trainers, 20 Adam steps, bit-identical\n");

  /* The same bytes whatever the OpenBLAS thread count, with the step on one
   * thread and (threshold 0) on two: each thread count trains from scratch. */
  float *ref = NULL;
  model_local_t lref;
  const int blas0 = openblas_get_num_threads();
  for (int run = 0; run < 3; run++) {
    openblas_set_num_threads(run == 0 ? 1 : 2);
    model_set_parallel_threshold(run == 2 ? 0 : UINT64_MAX);
    float *th3 = malloc(g_ns * sizeof(float));
    model_local_t l3;
    trainer_t *t3;
    model_shared_init(th3, &CFG, 3);
    CHECK_OK(model_local_init(&l3, &CFG, NU, NI, 3, 1, &err));
    CHECK_OK(trainer_init(&t3, &CFG, &tc, &g_ds, &l3, 3, 1, &err));
    float last = 0;
    for (int s = 0; s < 20; s++) last = trainer_step(t3, th3);
    CHECK(isfinite(last));
    if (run == 0) {
      ref = th3;
      lref = l3;
    } else {
      CHECK(memcmp(ref, th3, g_ns * sizeof(float)) == 0);
      CHECK(memcmp(lref.item_id, l3.item_id, NI * CFG.dim * sizeof(float)) == 0);
      free(th3);
      model_local_free(&l3);
    }
    trainer_free(t3);
  }
  free(ref);
  model_local_free(&lref);
  model_set_parallel_threshold(1ull << 25);
  openblas_set_num_threads(blas0);
  printf("  determinism: 1 and 2 OpenBLAS threads, the step on one and on two threads: "
         "bit-identical\n");
}

static void test_trainer_grad(void) {
  fm_err err;
  float *theta = malloc(g_ns * sizeof *theta), *g = malloc(g_ns * sizeof *g);
  float *ref = malloc(g_ns * sizeof *ref), *th2 = malloc(g_ns * sizeof *th2);
  model_local_t l;
  wide_params(theta, &l, 31);
  train_cfg_t tc = tcfg(OPT_ADAM);
  trainer_t *t;
  CHECK_OK(trainer_init(&t, &CFG, &tc, &g_ds, &l, 9, 0, &err));
  int n_moved = 0;
  for (int rep = 0; rep < 3; rep++) {
    memset(g, 0xff, g_ns * sizeof *g); /* NaN everywhere: every entry must be written */
    float loss = trainer_grad(t, theta, g);
    const uint32_t *bu, *bp, *bn;
    trainer_last_batch(t, &bu, &bp, &bn);
    float rl = model_loss_grad(&CFG, theta, &l, &g_ds, bu, bp, tc.batch, bn, tc.n_neg, ref, NULL,
                               NULL);
    CHECK(memcmp(&loss, &rl, sizeof loss) == 0);
    double norm = 0;
    for (size_t i = 0; i < g_ns; i++) {
      CHECK(isfinite(g[i]));
      CHECK_NEAR(g[i], ref[i], 1e-6);
      norm += (double)g[i] * g[i];
    }
    norm = sqrt(norm);
    /* the transition term alone: a batch none of whose rows has a transition
     * in the small fixture has no gradient (and then the reference none) */
    const int sparse_only = CFG.no_towers && CFG.trans && !CFG.attr && !CFG.ease && !CFG.pop_prior &&
                            !CFG.spectral && !CFG.time_lags;
    n_moved += norm > 0;
    if (sparse_only && norm == 0) continue;
    CHECK(norm > 0);
    /* a small step along -grad lowers that batch's loss */
    for (size_t i = 0; i < g_ns; i++) th2[i] = theta[i] - (float)(1e-2 / norm) * g[i];
    float after = model_loss_grad(&CFG, th2, &l, &g_ds, bu, bp, tc.batch, bn, tc.n_neg, NULL,
                                  NULL, NULL);
    CHECK(after < loss);
  }
  CHECK(n_moved > 0);
  /* trainer_grad updates nothing */
  float *keep = malloc(g_ns * sizeof *keep), P0[NU * 16], Q0[NI * 16];
  memcpy(keep, theta, g_ns * sizeof *keep);
  memcpy(P0, l.user_id, NU * CFG.dim * sizeof(float));
  memcpy(Q0, l.item_id, NI * CFG.dim * sizeof(float));
  trainer_grad(t, theta, g);
  CHECK(memcmp(keep, theta, g_ns * sizeof *keep) == 0);
  CHECK(memcmp(P0, l.user_id, NU * CFG.dim * sizeof(float)) == 0);
  CHECK(memcmp(Q0, l.item_id, NI * CFG.dim * sizeof(float)) == 0);
  trainer_free(t);

  /* with l2, the touched E rows (and only they) get + l2 * E */
  tc.l2 = 0.5f;
  CHECK_OK(trainer_init(&t, &CFG, &tc, &g_ds, &l, 9, 0, &err));
  trainer_grad(t, theta, g);
  const uint32_t *bu, *bp, *bn;
  trainer_last_batch(t, &bu, &bp, &bn);
  model_loss_grad(&CFG, theta, &l, &g_ds, bu, bp, tc.batch, bn, tc.n_neg, ref, NULL, NULL);
  size_t n_emb = (size_t)CFG.n_buckets * CFG.dim, n_touched = 0;
  for (size_t row = 0; row < CFG.n_buckets; row++) {
    int touched = 0;
    for (uint32_t d = 0; d < CFG.dim; d++) touched |= ref[row * CFG.dim + d] != 0.0f;
    n_touched += touched;
    for (uint32_t d = 0; d < CFG.dim; d++) {
      size_t i = row * CFG.dim + d;
      CHECK_NEAR(g[i], ref[i] + (touched ? 0.5 * theta[i] : 0.0), 1e-6);
    }
  }
  if (CFG.no_towers) CHECK(n_touched == 0); /* E is not used without the towers */
  else CHECK(n_touched > 0 && n_touched < CFG.n_buckets);
  for (size_t i = n_emb; i < g_ns; i++) CHECK(g[i] == ref[i]);
  trainer_free(t);
  free(keep);
  model_local_free(&l);
  free(theta);
  free(g);
  free(ref);
  free(th2);
  printf("  trainer_grad: equals model_loss_grad on the sampled batch, descends it\n");
}

/* The fine-tune's prior (tc.prox, trainer_set_prior): trainer_grad adds exactly
 * prox * (theta - theta0) to every shared entry; an SGD step is one along that
 * gradient; an Adam step is the one without the prior, less lr * prox * (theta -
 * theta0) on every shared entry (decoupled, the moments unchanged). */
static void test_prior(void) {
  fm_err err;
  const float prox = 0.5f;
  float *theta = malloc(g_ns * sizeof *theta), *theta0 = malloc(g_ns * sizeof *theta0);
  float *g = malloc(g_ns * sizeof *g), *g0 = malloc(g_ns * sizeof *g0);
  float *a = malloc(g_ns * sizeof *a), *b = malloc(g_ns * sizeof *b);
  model_local_t l;
  wide_params(theta, &l, 37);
  model_shared_init(theta0, &CFG, 38);
  size_t n_apart = 0;
  for (size_t i = 0; i < g_ns; i++) n_apart += theta[i] != theta0[i];
  CHECK(n_apart > g_ns / 2);
  for (int opt = OPT_SGD; opt <= OPT_ADAM; opt++) {
    train_cfg_t tc = tcfg(opt), tn = tcfg(opt);
    tc.lr_local = tn.lr_local = 0.0f;
    tc.prox = prox;
    trainer_t *t, *tg, *t0, *tg0;
    CHECK_OK(trainer_init(&t, &CFG, &tc, &g_ds, &l, 12, 0, &err));
    CHECK_OK(trainer_init(&tg, &CFG, &tc, &g_ds, &l, 12, 0, &err));
    CHECK_OK(trainer_init(&t0, &CFG, &tn, &g_ds, &l, 12, 0, &err));
    CHECK_OK(trainer_init(&tg0, &CFG, &tn, &g_ds, &l, 12, 0, &err));
    trainer_set_prior(t, theta0);
    trainer_set_prior(tg, theta0);
    trainer_grad(tg, theta, g);   /* the same batch as the steps below (same seed) */
    trainer_grad(tg0, theta, g0);
    for (size_t i = 0; i < g_ns; i++) CHECK_NEAR(g[i], g0[i] + prox * (theta[i] - theta0[i]), 1e-6);
    memcpy(a, theta, g_ns * sizeof *a);
    memcpy(b, theta, g_ns * sizeof *b);
    trainer_step(t, a);
    trainer_step(t0, b);
    for (size_t i = 0; i < g_ns; i++) {
      if (opt == OPT_SGD) CHECK_NEAR(a[i], theta[i] - tc.lr * g[i], 1e-6);
      else CHECK_NEAR(a[i], b[i] - tc.lr * prox * (theta[i] - theta0[i]), 1e-6);
    }
    trainer_free(t), trainer_free(tg), trainer_free(t0), trainer_free(tg0);
  }
  /* a negative strength, or one that pulls past the start in a step, is refused */
  train_cfg_t bad = tcfg(OPT_ADAM);
  bad.prox = -1.0f;
  trainer_t *t = NULL;
  CHECK(trainer_init(&t, &CFG, &bad, &g_ds, &l, 1, 0, &err) < 0 && t == NULL);
  CHECK(strstr(err.msg, "prox") != NULL);
  bad.prox = 1.01f / bad.lr; /* a pull past the start */
  CHECK(trainer_init(&t, &CFG, &bad, &g_ds, &l, 1, 0, &err) < 0 && t == NULL);
  CHECK(strstr(err.msg, "at most 1") != NULL);
  bad.prox = 1.0f / bad.lr; /* a full pull back is allowed */
  CHECK_OK(trainer_init(&t, &CFG, &bad, &g_ds, &l, 1, 0, &err));
  trainer_free(t);
  model_local_free(&l);
  free(theta), free(theta0), free(g), free(g0), free(a), free(b);
  printf("  prior (prox): its gradient exact, SGD along it, Adam decoupled from the moments\n");
}

/* T1 takes 3 Adam steps (then gets its parameters restored and its optimiser
 * reset); T2 draws the same 3 batches through trainer_grad. Their next steps
 * from the same parameters must be bit-identical: the reset clears the
 * moments and the step count, and trainer_grad leaves no gradient behind. */
static void test_reset(void) {
  fm_err err;
  train_cfg_t tc = tcfg(OPT_ADAM);
  tc.l2 = 1e-3f;
  float *th1 = malloc(g_ns * sizeof(float)), *th2 = malloc(g_ns * sizeof(float));
  float *g = malloc(g_ns * sizeof(float));
  model_local_t l1, l2;
  model_shared_init(th1, &CFG, 4);
  memcpy(th2, th1, g_ns * sizeof(float));
  CHECK_OK(model_local_init(&l1, &CFG, NU, NI, 4, 0, &err));
  CHECK_OK(model_local_init(&l2, &CFG, NU, NI, 4, 0, &err));
  trainer_t *t1, *t2;
  CHECK_OK(trainer_init(&t1, &CFG, &tc, &g_ds, &l1, 4, 0, &err));
  CHECK_OK(trainer_init(&t2, &CFG, &tc, &g_ds, &l2, 4, 0, &err));
  for (int s = 0; s < 3; s++) {
    trainer_step(t1, th1);
    trainer_grad(t2, th2, g);
  }
  memcpy(th1, th2, g_ns * sizeof(float));
  memcpy(l1.user_id, l2.user_id, NU * CFG.dim * sizeof(float));
  memcpy(l1.item_id, l2.item_id, NI * CFG.dim * sizeof(float));
  trainer_reset_opt(t1);
  for (int s = 0; s < 3; s++) {
    trainer_step(t1, th1);
    trainer_step(t2, th2);
  }
  CHECK(memcmp(th1, th2, g_ns * sizeof(float)) == 0);
  CHECK(memcmp(l1.item_id, l2.item_id, NI * CFG.dim * sizeof(float)) == 0);
  CHECK(memcmp(l1.user_id, l2.user_id, NU * CFG.dim * sizeof(float)) == 0);
  trainer_free(t1);
  trainer_free(t2);
  model_local_free(&l1);
  model_local_free(&l2);
  free(th1);
  free(th2);
  free(g);
  printf("  trainer_reset_opt: a reset trainer steps like a fresh one\n");
}

static void test_trainer_errors(void) {
  fm_err err;
  float *theta = malloc(g_ns * sizeof *theta);
  model_local_t l;
  CHECK_OK(model_local_init(&l, &CFG, NU, NI, 1, 0, &err));
  trainer_t *t = (trainer_t *)&err; /* must be set to NULL on failure */
  train_cfg_t tc = tcfg(OPT_ADAM);
  tc.beta2 = 1.0f;
  CHECK(trainer_init(&t, &CFG, &tc, &g_ds, &l, 1, 0, &err) < 0 && t == NULL);
  CHECK(strstr(err.msg, "beta") != NULL);
  tc = tcfg(OPT_SGD);
  tc.batch = 0;
  CHECK(trainer_init(&t, &CFG, &tc, &g_ds, &l, 1, 0, &err) < 0);
  tc = tcfg(OPT_SGD);
  model_local_t small;
  CHECK_OK(model_local_init(&small, &CFG, NU, NI - 1, 1, 0, &err));
  CHECK(trainer_init(&t, &CFG, &tc, &g_ds, &small, 1, 0, &err) < 0);
  CHECK(strstr(err.msg, "do not match") != NULL);
  dataset_t empty = g_ds;
  empty.n_pairs = 0;
  CHECK(trainer_init(&t, &CFG, &tc, &g_ds, &l, 1, 0, &err) == 0);
  trainer_free(t);
  CHECK(trainer_init(&t, &CFG, &tc, &empty, &l, 1, 0, &err) < 0);
  CHECK(strstr(err.msg, "no training pairs") != NULL);
  /* a model with a co-occurrence term needs the dataset's spectrum of that rank */
  model_cfg_t other = CFG;
  other.spectral = CFG.spectral + 1;
  CHECK(trainer_init(&t, &other, &tc, &g_ds, &l, 1, 0, &err) < 0);
  CHECK(strstr(err.msg, "dataset_spectral") != NULL);
  /* and one with a time term the dataset's bins and lags */
  other = CFG;
  other.time_lags = CFG.time_lags + 1;
  other.time_bin_s = TIME_BIN;
  CHECK(trainer_init(&t, &other, &tc, &g_ds, &l, 1, 0, &err) < 0);
  CHECK(strstr(err.msg, "dataset_time") != NULL);
  /* and one with a transition term the dataset's transitions */
  other = CFG;
  other.trans = 1;
  dataset_t no_trans = g_ds;
  no_trans.trans_on = 0;
  CHECK(trainer_init(&t, &other, &tc, &no_trans, &l, 1, 0, &err) < 0);
  CHECK(strstr(err.msg, "dataset_trans") != NULL);
  model_local_free(&small);
  model_local_free(&l);
  free(theta);
}

/* dataset_trans on the fixture: the CSR against the pairs by hand, with and
 * without the cap; the row sums; off frees it. */
static void test_trans_input(void) {
  /* every item: 0>1 1>2 2>3 | 3>4 | 5>6 6>7 7>5 | 2>8 8>0 0>6 */
  CHECK_OK(dataset_trans(&g_ds, 1, 0, NULL));
  const uint32_t ptr[NI + 1] = {0, 2, 3, 5, 6, 6, 7, 8, 9, 10};
  const uint32_t dst[10] = {1, 6, 2, 3, 8, 4, 6, 7, 5, 0};
  for (uint32_t i = 0; i <= NI; i++) CHECK_EQ_INT(g_ds.trans_ptr[i], ptr[i]);
  for (uint32_t q = 0; q < 10; q++) CHECK(g_ds.trans_dst[q] == dst[q] && g_ds.trans_cnt[q] == 1.0f);
  for (uint32_t i = 0; i < NI; i++) CHECK(g_ds.trans_row[i] == (float)(ptr[i + 1] - ptr[i]));
  CHECK(g_ds.trans_on == 1 && g_ds.trans_scale > 0.0f);
  /* the first 2 items: 0>1 | 3>4 | 5>6 | 2>8 */
  CHECK_OK(dataset_trans(&g_ds, 1, 2, NULL));
  CHECK_EQ_INT(g_ds.trans_ptr[NI], 4);
  CHECK(g_ds.trans_row[0] == 1.0f && g_ds.trans_row[1] == 0.0f && g_ds.trans_row[2] == 1.0f);
  CHECK_OK(dataset_trans(&g_ds, 0, 0, NULL));
  CHECK(g_ds.trans_on == 0 && g_ds.trans_ptr == NULL && g_ds.trans_scale == 0.0f);
}

/* dataset_time on the fixture: counts against a count by hand (up to the
 * scale, which gives mean square 1 at the initial filter), the reference
 * bins, the folds' counts without their own users and capped at kcap. */
static void test_time_input(void) {
  fm_err err;
  const uint32_t J = 2, T = 5, F = DATASET_SPEC_FOLDS;
  CHECK_OK(dataset_time(&g_ds, TIME_BIN, J, TIME_KCAP, &err));
  CHECK_EQ_INT(g_ds.time_T, T);
  CHECK(g_ds.time_t0 == 1000);
  double raw[NI * 5] = {0}, fraw[2][NI * 5] = {{0}};
  for (uint32_t u = 0; u < NU; u++)
    for (uint32_t k = g_ds.hist_ptr[u], p = 0; k < g_ds.hist_ptr[u + 1]; k++, p++) {
      uint32_t b = (uint32_t)((g_ds.hist_ts[k] - 1000) / TIME_BIN), i = g_ds.hist[k];
      raw[i * T + b] += 1;
      for (uint32_t f = 0; f < F; f++)
        if (u % F != f && p < TIME_KCAP) fraw[f][i * T + b] += 1;
    }
  /* one scale per count table: the ratio is the same wherever raw > 0 */
  for (uint32_t f = 0; f <= F; f++) {
    const float *c = f < F ? g_ds.time_fcnt + (size_t)f * NI * T : g_ds.time_cnt;
    const double *want = f < F ? fraw[f] : raw;
    double scale = 0;
    for (uint32_t k = 0; k < NI * T; k++) {
      if (want[k] == 0) {
        CHECK(c[k] == 0.0f);
        continue;
      }
      if (scale == 0) scale = c[k] / want[k];
      CHECK_NEAR(c[k], scale * want[k], 1e-6 * scale * want[k]);
    }
    CHECK(scale > 0);
  }
  /* the inference counts have mean square 1 at the initial filter over the
   * items and the users with a history (their last interaction's bin) */
  double ms = 0;
  uint32_t nus = 0;
  for (uint32_t u = 0; u < NU; u++) {
    if (g_ds.hist_ptr[u + 1] == g_ds.hist_ptr[u]) {
      CHECK(g_ds.user_tbin[u] == DATASET_NO_BIN);
      continue;
    }
    nus++;
    int64_t bu = (g_ds.hist_ts[g_ds.hist_ptr[u + 1] - 1] - 1000) / TIME_BIN;
    CHECK_EQ_INT(g_ds.user_tbin[u], bu);
    for (uint32_t i = 0; i < NI; i++) {
      double x = 0;
      for (int64_t b = 0; b < T; b++)
        if (llabs(b - bu) <= J) x += dataset_time_kernel0((int32_t)(b - bu), J) * g_ds.time_cnt[i * T + b];
      ms += x * x;
    }
  }
  CHECK_NEAR(ms / (nus * NI), 1.0, 1e-5);
  /* reference bins of the training pairs (pairs = hist here): none for the
   * first, then the previous interaction's, then the kcap-th's */
  for (uint32_t u = 0; u < NU; u++)
    for (uint32_t k = g_ds.hist_ptr[u], p = 0; k < g_ds.hist_ptr[u + 1]; k++, p++) {
      uint32_t q = p < TIME_KCAP ? p : TIME_KCAP;
      uint32_t want = q ? (uint32_t)((g_ds.hist_ts[g_ds.hist_ptr[u] + q - 1] - 1000) / TIME_BIN) : DATASET_NO_BIN;
      CHECK_EQ_INT(g_ds.pair_tbin[k], want);
    }
  /* errors: bins too narrow for the span, too many lags */
  CHECK(dataset_time(&g_ds, 1, J, 0, &err) == 0); /* 42 s in 1 s bins: 43 bins, fine */
  CHECK_EQ_INT(g_ds.time_T, 43);
  g_ds.hist_ts[14] = 1000 + (int64_t)DATASET_TIME_MAX_BINS * 10;
  CHECK(dataset_time(&g_ds, TIME_BIN, J, 0, &err) < 0 && strstr(err.msg, "wider bins") != NULL);
  g_ds.hist_ts[14] = 1000 + 3 * 14;
  CHECK(dataset_time(&g_ds, TIME_BIN, DATASET_TIME_MAX_LAGS + 1, 0, &err) < 0);
  CHECK(g_ds.time_T == 0 && g_ds.time_cnt == NULL); /* a failed call leaves no term */
}

/* model_gamma_basis against the Legendre polynomials written out, at the
 * rank and size of a real run (r = 128, M = 5), and its ends: x = -1 at the
 * first rank and 1 at the last, where P_j(-1) = (-1)^j and P_j(1) = 1. */
static void test_gamma_basis(void) {
  enum { R = 128, M = 5 };
  static float phi[R * M];
  model_gamma_basis(R, M, phi);
  for (uint32_t k = 0; k < R; k++) {
    const double x = 2.0 * log(1.0 + k) / log((double)R) - 1.0, x2 = x * x;
    const double P[M] = {1.0, x, (3 * x2 - 1) / 2, (5 * x2 * x - 3 * x) / 2, (35 * x2 * x2 - 30 * x2 + 3) / 8};
    for (uint32_t j = 0; j < M; j++) CHECK_NEAR(phi[k * M + j], P[j], 1e-6);
  }
  for (uint32_t j = 0; j < M; j++) {
    CHECK_NEAR(phi[j], j % 2 ? -1.0 : 1.0, 1e-6);
    CHECK_NEAR(phi[(R - 1) * M + j], 1.0, 1e-6);
  }
  printf(" gamma basis: the Legendre polynomials P_0..P_4 of the log rank\n");
}

int main(void) {
  printf("test_model\n");
  test_gamma_basis();
  make_dataset(&g_ds);
  test_time_input();
  /* prior x spectral, then the time term alone and with both */
  /* then the attribute term with the others, and alone without towers */
  /* then the EASE term with all the others, and alone without towers */
  /* then the transition term alone without towers, and with every other term */
  test_trans_input();
  /* then the popularity prior leaving the row's own user out (pop_loo),
   * with every term and alone */
  /* then a smooth co-occurrence filter (spectral_basis 2) with every term */
  for (uint32_t variant = 0; variant < 16; variant++) {
    uint32_t prior = variant & 1, spec = variant & 2 ? 3 : 0, lags = variant >= 4 ? 2 : 0;
    if (variant >= 5) prior = 1, spec = 3;
    if (variant == 8 || variant == 10 || variant == 11) prior = spec = lags = 0;
    CFG.no_towers = variant == 6 || variant == 8 || variant == 10 || variant == 11; /* the other terms alone */
    CFG.attr = (variant >= 7 && variant <= 9) || variant == 12 || variant == 13 || variant == 15;
    CFG.ease = (variant >= 9 && variant != 11 && variant != 14) ? EASE_LAMBDA : 0;
    CFG.trans = variant >= 11 && variant != 14;
    g_ds.pop_loo = variant >= 13;
    if (variant == 14) prior = 1, spec = lags = 0;
    CFG.spectral_basis = variant == 15 ? 2 : 0;
    printf(" pop_prior %u%s, spectral %u%s, time lags %u%s%s%s%s\n", prior,
           g_ds.pop_loo ? " (own user left out)" : "", spec, CFG.spectral_basis ? " (smooth filter)" : "", lags,
           CFG.no_towers ? ", no towers" : "", CFG.attr ? ", attributes" : "",
           CFG.ease ? ", EASE" : "", CFG.trans ? ", transitions" : "");
    CFG.pop_prior = prior;
    CFG.spectral = spec;
    CFG.time_lags = lags;
    CFG.time_bin_s = lags ? TIME_BIN : 0;
    CHECK_OK(dataset_spectral(&g_ds, spec, 0, NULL));
    CHECK_OK(dataset_time(&g_ds, TIME_BIN, lags, TIME_KCAP, NULL));
    CHECK_OK(dataset_ease(&g_ds, CFG.ease, EASE_KCAP, NULL));
    CHECK_OK(dataset_trans(&g_ds, CFG.trans, TRANS_KCAP, NULL));
    if (CFG.trans) CHECK(g_ds.trans_scale > 0.0f);
    if (lags) CHECK_EQ_INT(g_ds.time_T, 5);
    if (CFG.ease) CHECK(g_ds.ease_scale > 0.0f);
    if (spec) { /* the fixture's co-occurrence is not empty: the term is exercised */
      CHECK(g_ds.spec_val[0] > 0.1f);
      CHECK(g_ds.spec_val[2] > 0.0f);
      for (uint32_t f = 0; f < DATASET_SPEC_FOLDS; f++) CHECK(g_ds.spec_fval[f * spec] > 0.1f);
    }
    g_ns = model_n_shared(&CFG);
    test_layout();
    test_forward();
    test_gradients(B_NEG, B_NN, 1);
    test_gradients(B_NEG_DUP, 7, 0);
    test_training(OPT_SGD);
    test_training(OPT_ADAM);
    test_determinism();
    test_trainer_grad();
    test_prior();
    test_reset();
    test_trainer_errors();
  }
  free_dataset(&g_ds);
  printf("test_model: all checks passed\n");
  return 0;
}
