/* common/dataset.c: the training / evaluation view of a (shard, split); see
 * dataset.h.
 *
 * Behaviour tokens come from the TRAIN part only, so nothing about the
 * evaluation interactions leaks into the inputs:
 *   item popularity rank  iprk = the item's place in its own catalogue: the
 *                         share of items with a larger TRAIN count, in bands
 *                         (top 1 %, 2 %, 5 %, 10 %, 20 %, 35 %, 50 %, 75 %, rest;
 *                         "none" for items without TRAIN interactions)
 *   user activity band    uact = min(floor(log2(1 + train count of the user)), 12)
 * These words mean the same in every industry, which is what lets a model
 * trained on some platforms say something about items of a platform it has
 * never seen. The item band is a rank, not a count: a K-shot support set has
 * far fewer interactions than a training platform, and an absolute count band
 * ("seen 8 times") would mean "obscure" in one and "a best seller" in the other
 * (measured: with count bands the meta-model transferred popularity badly).
 *
 * Evaluated users: every user with at least one interaction carrying the
 * evaluation tag that is not already excluded (a user whose held-out items
 * all repeat items of their history has nothing to find and is skipped).
 * A user may have an empty history (K-shot with K = 0). */
#include "common/dataset.h"
#include "common/spectral.h"
#include "common/baselines.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"

uint32_t dataset_band(uint32_t count) {
  uint64_t c = (uint64_t)count + 1;
  uint32_t b = 0;
  while (c > 1) {
    c >>= 1;
    b++;
  }
  return b > DATASET_BAND_MAX ? DATASET_BAND_MAX : b;
}

static uint32_t band_token(const char *field, uint32_t count) {
  char v[16];
  snprintf(v, sizeof v, "%u", dataset_band(count));
  return fm_hash_feature(field, v);
}
uint32_t dataset_pop_token(uint32_t train_count) { return band_token("ipop", train_count); }

uint32_t dataset_rank_token(uint32_t train_count, uint32_t n_greater, uint32_t n_items) {
  static const double cut[] = {0.01, 0.02, 0.05, 0.10, 0.20, 0.35, 0.50, 0.75};
  if (train_count == 0 || n_items == 0) return fm_hash_feature("iprk", "none");
  double q = (double)n_greater / (double)n_items;
  uint32_t b = 0;
  while (b < sizeof cut / sizeof cut[0] && q >= cut[b]) b++;
  char v[16];
  snprintf(v, sizeof v, "%u", b);
  return fm_hash_feature("iprk", v);
}
uint32_t dataset_act_token(uint32_t train_count) { return band_token("uact", train_count); }

void dataset_rank_tokens_off(dataset_t *d) {
  const uint32_t off = fm_hash_feature("iprk", "off");
  for (uint32_t i = 0; i < d->n_items; i++) d->itok[d->itok_ptr[i + 1] - 1] = off; /* dataset_build puts it last */
}

uint32_t dataset_user_id_token(uint32_t gid) {
  char v[16];
  snprintf(v, sizeof v, "%u", gid);
  return fm_hash_feature("uid", v);
}

int dataset_user_id_tokens(dataset_t *d, const shard_t *s, fm_err *err) {
  if (s->n_users != d->n_users)
    return fm_fail(err, "user id tokens: the shard has %u users, the dataset %u", s->n_users, d->n_users);
  if (d->n_users && !s->user_gid)
    return fm_fail(err, "user id tokens (--user-ids on): the shard has no global user ids "
                   "(user_gid), so its users cannot be matched across platforms");
  if (d->utok_ptr[d->n_users] > UINT32_MAX - d->n_users)
    return fm_fail(err, "user id tokens: %u users with %u tokens, over 2^32 with one more each", d->n_users,
                   d->utok_ptr[d->n_users]);
  uint32_t *ptr = calloc((size_t)d->n_users + 1, sizeof *ptr);
  uint32_t *tok = calloc((size_t)d->utok_ptr[d->n_users] + d->n_users + 1, sizeof *tok);
  if (!ptr || !tok) {
    free(ptr);
    free(tok);
    return fm_fail(err, "out of memory for the user id tokens of %u users", d->n_users);
  }
  uint32_t k = 0;
  for (uint32_t u = 0; u < d->n_users; u++) {
    for (uint32_t j = d->utok_ptr[u]; j < d->utok_ptr[u + 1]; j++) tok[k++] = d->utok[j];
    tok[k++] = dataset_user_id_token(s->user_gid[u]);
    ptr[u + 1] = k;
  }
  free(d->utok_ptr);
  free(d->utok);
  d->utok_ptr = ptr;
  d->utok = tok;
  return 0;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

/* Sorts a[0..n) and removes duplicates; returns the new length. */
static uint32_t sort_unique(uint32_t *a, uint32_t n) {
  if (n < 2) return n;
  qsort(a, n, sizeof *a, cmp_u32);
  uint32_t m = 1;
  for (uint32_t i = 1; i < n; i++)
    if (a[i] != a[m - 1]) a[m++] = a[i];
  return m;
}

static int in_sorted(const uint32_t *a, uint32_t n, uint32_t x) {
  return bsearch(&x, a, n, sizeof *a, cmp_u32) != NULL;
}

static void *xcalloc(size_t n, size_t size) { return calloc(n ? n : 1, size); }

typedef struct attr_tok {
  uint32_t tok, df;
} attr_tok_t;

static int cmp_df_desc(const void *a, const void *b) {
  const attr_tok_t *x = a, *y = b;
  if (x->df != y->df) return x->df > y->df ? -1 : 1;
  return (x->tok > y->tok) - (x->tok < y->tok);
}

static int cmp_tok(const void *a, const void *b) {
  const attr_tok_t *x = a, *y = b;
  return (x->tok > y->tok) - (x->tok < y->tok);
}

static void attr_drop(dataset_t *d) {
  free(d->attr_ptr);
  free(d->attr_id);
  free(d->attr_w);
  d->attr_ptr = d->attr_id = NULL;
  d->attr_w = NULL;
  d->n_attr = 0;
}

/* The item attributes of dataset.h (attr_*), from the shard's item features.
 * Returns -1 when out of memory (nothing allocated is left behind). */
static int attr_build(dataset_t *d, const shard_t *s) {
  const uint32_t ni = s->n_items, nf = s->ifeat_ptr[ni];
  uint32_t *tmp = xcalloc(nf, sizeof *tmp), *cnt = xcalloc(ni, sizeof *cnt);
  attr_tok_t *tk = xcalloc(nf, sizeof *tk);
  double *idf = xcalloc(nf, sizeof *idf); /* of each entry of tmp */
  int32_t *coord = xcalloc(nf, sizeof *coord); /* of each entry of tmp, -1: none */
  d->attr_ptr = xcalloc((size_t)ni + 1, sizeof *d->attr_ptr);
  d->attr_id = xcalloc(nf, sizeof *d->attr_id);
  d->attr_w = xcalloc(nf, sizeof *d->attr_w);
  attr_tok_t *cand = NULL;
  int rc = -1;
  if (!tmp || !cnt || !tk || !idf || !coord || !d->attr_ptr || !d->attr_id || !d->attr_w) goto out;
  /* the distinct tokens of each item (sorted, in tmp; cnt of them), and each token's df */
  uint32_t n = 0, m = 0;
  for (uint32_t i = 0; i < ni; i++) {
    uint32_t a = s->ifeat_ptr[i], c = s->ifeat_ptr[i + 1] - a;
    memcpy(tmp + n, s->ifeat + a, (size_t)c * sizeof *tmp);
    c = sort_unique(tmp + n, c);
    for (uint32_t k = 0; k < c; k++) tk[m++] = (attr_tok_t){tmp[n + k], 1};
    cnt[i] = c;
    n += c;
  }
  qsort(tk, m, sizeof *tk, cmp_tok);
  uint32_t u = 0;
  for (uint32_t k = 0; k < m; k++) {
    if (u && tk[u - 1].tok == tk[k].tok) tk[u - 1].df++;
    else tk[u++] = tk[k];
  }
  /* coordinates: 2 <= df < ni, the DATASET_ATTR_MAX most frequent; kept in
   * df order, each token's coordinate is its rank there (in .df after this) */
  cand = xcalloc(u, sizeof *cand);
  if (!cand) goto out;
  uint32_t nc = 0;
  for (uint32_t k = 0; k < u; k++)
    if (tk[k].df >= 2 && tk[k].df < ni) cand[nc++] = tk[k];
  qsort(cand, nc, sizeof *cand, cmp_df_desc);
  if (nc > DATASET_ATTR_MAX) nc = DATASET_ATTR_MAX;
  for (uint32_t k = 0; k < nc; k++) cand[k].df = k;
  qsort(cand, nc, sizeof *cand, cmp_tok);
  d->n_attr = nc;
  /* each entry's idf and coordinate, looked up once */
  const double lg = log((double)ni + 1.0);
  for (uint32_t k = 0; k < n; k++) {
    const attr_tok_t key = {tmp[k], 0};
    const attr_tok_t *t = bsearch(&key, tk, u, sizeof *tk, cmp_tok);
    const attr_tok_t *co = bsearch(&key, cand, nc, sizeof *cand, cmp_tok);
    idf[k] = lg - log((double)t->df + 1.0);
    coord[k] = co ? (int32_t)co->df : -1;
  }
  /* per item: the norm over all its tokens, then its coordinates' weights */
  uint32_t off = 0, w = 0;
  for (uint32_t i = 0; i < ni; i++) {
    const uint32_t c = cnt[i];
    double nrm = 0;
    for (uint32_t k = off; k < off + c; k++) nrm += idf[k] * idf[k];
    const uint32_t w0 = w;
    for (uint32_t k = off; nrm > 0 && k < off + c; k++) {
      if (coord[k] < 0) continue;
      d->attr_id[w] = (uint32_t)coord[k];
      d->attr_w[w++] = (float)(idf[k] / sqrt(nrm));
    }
    /* coordinates ascending within the item */
    for (uint32_t a = w0 + 1; a < w; a++)
      for (uint32_t b = a; b > w0 && d->attr_id[b - 1] > d->attr_id[b]; b--) {
        uint32_t ti = d->attr_id[b]; d->attr_id[b] = d->attr_id[b - 1]; d->attr_id[b - 1] = ti;
        float tw = d->attr_w[b]; d->attr_w[b] = d->attr_w[b - 1]; d->attr_w[b - 1] = tw;
      }
    d->attr_ptr[i + 1] = w;
    off += c;
  }
  rc = 0;
out:
  free(cand);
  free(tmp);
  free(cnt);
  free(tk);
  free(idf);
  free(coord);
  if (rc) attr_drop(d);
  return rc;
}

int dataset_attr(dataset_t *d, const shard_t *s, fm_err *err) {
  attr_drop(d);
  if (s->n_items != d->n_items)
    return fm_fail(err, "dataset_attr: the shard has %u items, the dataset %u", s->n_items,
                   d->n_items);
  if (attr_build(d, s))
    return fm_fail(err, "out of memory for the item attributes (%u items, %u feature tokens)",
                   d->n_items, s->ifeat_ptr[s->n_items]);
  return 0;
}

int dataset_build(dataset_t *d, const shard_t *s, const split_t *sp, int eval_tag, fm_err *err) {
  memset(d, 0, sizeof *d);
  if (eval_tag != SPLIT_VALID && eval_tag != SPLIT_TEST)
    return fm_fail(err, "dataset_build: eval_tag %d, expected SPLIT_VALID (%d) or SPLIT_TEST (%d)",
                   eval_tag, SPLIT_VALID, SPLIT_TEST);
  uint32_t nu = s->n_users, ni = s->n_items, nx = s->n_inter;
  /* In the history and excluded from ranking: TRAIN, plus VALID when testing. */
#define IN_HIST(t) ((t) == SPLIT_TRAIN || (eval_tag == SPLIT_TEST && (t) == SPLIT_VALID))

  uint32_t *icnt = xcalloc(ni, sizeof *icnt), *ucnt = xcalloc(nu, sizeof *ucnt);
  uint32_t *scratch = NULL;
  if (!icnt || !ucnt) goto oom;
  uint32_t n_pairs = 0, n_hist = 0, n_evalx = 0, max_user = 0;
  for (uint32_t u = 0; u < nu; u++) {
    uint32_t b = s->user_ptr[u], e = s->user_ptr[u + 1];
    if (e - b > max_user) max_user = e - b;
    for (uint32_t j = b; j < e; j++) {
      uint8_t t = sp->tag[j];
      if (t > SPLIT_NONE) {
        free(icnt);
        free(ucnt);
        return fm_fail(err, "dataset_build: interaction %u has split tag %u, expected 0..%d", j,
                       t, SPLIT_NONE);
      }
      if (t == SPLIT_TRAIN) {
        icnt[s->inter_item[j]]++;
        ucnt[u]++;
        n_pairs++;
      }
      if (IN_HIST(t)) n_hist++;
      if (t == eval_tag) n_evalx++;
    }
  }

  d->n_users = nu;
  d->n_items = ni;
  d->n_pairs = n_pairs;
  uint32_t n_ufeat = s->ufeat_ptr[nu], n_ifeat = s->ifeat_ptr[ni];
  d->utok_ptr = xcalloc((size_t)nu + 1, sizeof(uint32_t));
  d->utok = xcalloc((size_t)n_ufeat + nu, sizeof(uint32_t));
  d->itok_ptr = xcalloc((size_t)ni + 1, sizeof(uint32_t));
  d->itok = xcalloc((size_t)n_ifeat + ni, sizeof(uint32_t));
  d->hist_ptr = xcalloc((size_t)nu + 1, sizeof(uint32_t));
  d->hist = xcalloc(n_hist, sizeof(uint32_t));
  d->hist_ts = xcalloc(n_hist, sizeof(int64_t));
  d->pair_user = xcalloc(n_pairs, sizeof(uint32_t));
  d->pair_item = xcalloc(n_pairs, sizeof(uint32_t));
  d->item_pop = xcalloc(ni, sizeof(float));
  d->eval_user = xcalloc(nu, sizeof(uint32_t));
  d->truth_ptr = xcalloc((size_t)nu + 1, sizeof(uint32_t));
  d->truth = xcalloc(n_evalx, sizeof(uint32_t));
  d->excl_ptr = xcalloc((size_t)nu + 1, sizeof(uint32_t));
  d->excl = xcalloc(n_hist, sizeof(uint32_t));
  scratch = xcalloc(max_user, sizeof(uint32_t));
  if (!d->utok_ptr || !d->utok || !d->itok_ptr || !d->itok || !d->hist_ptr || !d->hist || !d->hist_ts ||
      !d->pair_user || !d->pair_item || !d->item_pop || !d->eval_user || !d->truth_ptr ||
      !d->truth || !d->excl_ptr || !d->excl || !scratch)
    goto oom;

  /* Tokens: the shard's own features, then the behaviour band. */
  uint32_t k = 0;
  for (uint32_t u = 0; u < nu; u++) {
    for (uint32_t j = s->ufeat_ptr[u]; j < s->ufeat_ptr[u + 1]; j++) d->utok[k++] = s->ufeat[j];
    d->utok[k++] = dataset_act_token(ucnt[u]);
    d->utok_ptr[u + 1] = k;
  }
  /* n_greater of each count: sort a copy of the counts ascending. */
  uint32_t *sorted = xcalloc(ni ? ni : 1, sizeof(uint32_t));
  if (!sorted) goto oom;
  memcpy(sorted, icnt, sizeof(uint32_t) * ni);
  qsort(sorted, ni, sizeof *sorted, cmp_u32);
  k = 0;
  for (uint32_t i = 0; i < ni; i++) {
    for (uint32_t j = s->ifeat_ptr[i]; j < s->ifeat_ptr[i + 1]; j++) d->itok[k++] = s->ifeat[j];
    uint32_t lo = 0, hi = ni; /* first index with sorted[idx] > icnt[i] */
    while (lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2;
      if (sorted[mid] <= icnt[i]) lo = mid + 1;
      else hi = mid;
    }
    d->itok[k++] = dataset_rank_token(icnt[i], ni - lo, ni);
    d->itok_ptr[i + 1] = k;
    d->item_pop[i] = (float)icnt[i];
  }
  free(sorted);

  /* History, training pairs, and the evaluation target of each user. */
  uint32_t nh = 0, np = 0, ne = 0, nt = 0, nex = 0;
  for (uint32_t u = 0; u < nu; u++) {
    uint32_t b = s->user_ptr[u], e = s->user_ptr[u + 1];
    uint32_t h0 = nh, n_eval_u = 0;
    for (uint32_t j = b; j < e; j++) {
      uint8_t t = sp->tag[j];
      if (IN_HIST(t)) {
        d->hist_ts[nh] = s->inter_ts[j];
        d->hist[nh++] = s->inter_item[j];
      }
      if (t == SPLIT_TRAIN) {
        d->pair_user[np] = u;
        d->pair_item[np++] = s->inter_item[j];
      }
      if (t == eval_tag) scratch[n_eval_u++] = s->inter_item[j];
    }
    d->hist_ptr[u + 1] = nh;
    if (!n_eval_u) continue;
    /* Exclusions: the history's distinct items, sorted. */
    memcpy(d->excl + nex, d->hist + h0, (size_t)(nh - h0) * sizeof(uint32_t));
    uint32_t n_ex = sort_unique(d->excl + nex, nh - h0);
    /* Truth: distinct held-out items that are not excluded, sorted. */
    n_eval_u = sort_unique(scratch, n_eval_u);
    uint32_t n_tr = 0;
    for (uint32_t j = 0; j < n_eval_u; j++)
      if (!in_sorted(d->excl + nex, n_ex, scratch[j])) d->truth[nt + n_tr++] = scratch[j];
    if (!n_tr) continue;
    d->eval_user[ne] = u;
    nt += n_tr;
    nex += n_ex;
    d->truth_ptr[ne + 1] = nt;
    d->excl_ptr[ne + 1] = nex;
    ne++;
  }
#undef IN_HIST
  d->n_eval = ne;
  free(icnt);
  free(ucnt);
  free(scratch);
  return 0;

oom:
  free(icnt);
  free(ucnt);
  free(scratch);
  dataset_free(d);
  return fm_fail(err, "dataset_build: out of memory (%u users, %u items, %u interactions)", nu,
                 ni, nx);
}

int dataset_serve_users(dataset_t *d, fm_err *err) {
  const uint32_t nu = d->n_users, nh = d->hist_ptr[nu];
  uint32_t *eu = calloc((size_t)nu + 1, sizeof *eu), *tp = calloc((size_t)nu + 1, sizeof *tp);
  uint32_t *tr = calloc(1, sizeof *tr), *xp = calloc((size_t)nu + 1, sizeof *xp);
  uint32_t *x = calloc((size_t)nh + 1, sizeof *x);
  free(d->eval_user), free(d->truth_ptr), free(d->truth), free(d->excl_ptr), free(d->excl);
  d->eval_user = eu, d->truth_ptr = tp, d->truth = tr, d->excl_ptr = xp, d->excl = x;
  d->n_eval = 0;
  if (!eu || !tp || !tr || !xp || !x)
    return fm_fail(err, "out of memory for the %u users to serve (%u known interactions)", nu, nh);
  uint32_t ne = 0, nx = 0;
  for (uint32_t u = 0; u < nu; u++) {
    uint32_t b = d->hist_ptr[u], e = d->hist_ptr[u + 1];
    if (b == e) continue;
    memcpy(x + nx, d->hist + b, (size_t)(e - b) * sizeof *x);
    nx += sort_unique(x + nx, e - b);
    eu[ne++] = u;
    xp[ne] = nx; /* truth_ptr stays 0: nothing to find */
  }
  d->n_eval = ne;
  return 0;
}

void dataset_sample_eval(dataset_t *d, uint32_t n, uint64_t seed, uint32_t platform) {
  if (n == 0 || n >= d->n_eval) return;
  /* the first n of a seeded random order of the evaluated users, kept in their order */
  uint32_t *idx = malloc(sizeof *idx * d->n_eval);
  uint8_t *keep = calloc(d->n_eval, 1);
  if (!idx || !keep) { /* cannot sample: every user stays (the figures are exact, only slower) */
    free(idx);
    free(keep);
    return;
  }
  for (uint32_t i = 0; i < d->n_eval; i++) idx[i] = i;
  rng_t rng;
  rng_seed(&rng, seed, RNG_QUERY, platform);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t j = i + rng_below(&rng, d->n_eval - i), t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
    keep[idx[i]] = 1;
  }
  uint32_t m = 0, nt = 0, nx = 0;
  for (uint32_t e = 0; e < d->n_eval; e++) {
    if (!keep[e]) continue;
    uint32_t tb = d->truth_ptr[e], te = d->truth_ptr[e + 1], xb = d->excl_ptr[e], xe = d->excl_ptr[e + 1];
    d->eval_user[m] = d->eval_user[e];
    memmove(d->truth + nt, d->truth + tb, sizeof *d->truth * (te - tb));
    memmove(d->excl + nx, d->excl + xb, sizeof *d->excl * (xe - xb));
    nt += te - tb;
    nx += xe - xb;
    m++;
    d->truth_ptr[m] = nt; /* entry e + 1 >= m is read before it is written over */
    d->excl_ptr[m] = nx;
  }
  d->n_eval = m;
  free(idx);
  free(keep);
}

static void spectral_drop(dataset_t *d);
static void time_drop(dataset_t *d);
static void ease_drop(dataset_t *d);
static void trans_drop(dataset_t *d);

void dataset_free(dataset_t *d) {
  if (!d) return;
  free(d->utok_ptr);
  free(d->utok);
  free(d->itok_ptr);
  free(d->itok);
  free(d->hist_ptr);
  free(d->hist);
  free(d->pair_user);
  free(d->pair_item);
  free(d->item_pop);
  free(d->eval_user);
  free(d->truth_ptr);
  free(d->truth);
  free(d->excl_ptr);
  free(d->excl);
  free(d->hist_ts);
  attr_drop(d);
  spectral_drop(d);
  time_drop(d);
  ease_drop(d);
  trans_drop(d);
  memset(d, 0, sizeof *d);
}

/* lambda_k *= s so that the term's mean square over the catalogue and the
 * users with a history among `fold` (all if fold = -1) is 1: for orthonormal
 * e_k it is (1 / (n_items n)) sum_u sum_k lambda_k^2 a_uk^2, a_uk as in
 * model.h over the whole history. */
static void spectral_scale(const dataset_t *d, const float *vec, float *val, uint32_t r, int fold) {
  double ms = 0;
  uint32_t nu = 0;
  double a[SPECTRAL_MAX_RANK];
  for (uint32_t u = 0; u < d->n_users; u++) {
    uint32_t a0 = d->hist_ptr[u], c = d->hist_ptr[u + 1] - a0;
    if (!c || (fold >= 0 && u % DATASET_SPEC_FOLDS != (uint32_t)fold)) continue;
    nu++;
    memset(a, 0, r * sizeof *a); /* a_u: the history's eigenvector rows, row by row */
    for (uint32_t q = a0; q < a0 + c; q++)
      for (uint32_t k = 0; k < r; k++) a[k] += vec[(size_t)d->hist[q] * r + k];
    for (uint32_t k = 0; k < r; k++) ms += (double)val[k] * val[k] * a[k] * a[k] / c;
  }
  ms = nu ? ms / ((double)d->n_items * nu) : 0.0;
  if (ms > 0)
    for (uint32_t k = 0; k < r; k++) val[k] = (float)(val[k] / sqrt(ms));
}

static void spectral_drop(dataset_t *d) {
  free(d->spec_vec);
  free(d->spec_val);
  free(d->spec_fvec);
  free(d->spec_fval);
  d->spec_vec = d->spec_val = d->spec_fvec = d->spec_fval = NULL;
  d->spec_r = 0;
}

int dataset_spectral(dataset_t *d, uint32_t r, uint32_t kcap, fm_err *err) {
  spectral_drop(d);
  if (r == 0) return 0;
  if (r > SPECTRAL_MAX_RANK) return fm_fail(err, "co-occurrence rank %u: at most %u", r, SPECTRAL_MAX_RANK);
  const size_t nv = (size_t)d->n_items * r, F = DATASET_SPEC_FOLDS;
  d->spec_vec = malloc((nv + 1) * sizeof *d->spec_vec);
  d->spec_val = malloc((size_t)r * sizeof *d->spec_val);
  d->spec_fvec = malloc((F * nv + 1) * sizeof *d->spec_fvec);
  d->spec_fval = malloc(F * r * sizeof *d->spec_fval);
  uint32_t *fptr = malloc(((size_t)d->n_users + 1) * sizeof *fptr);
  uint32_t *fh = malloc(((size_t)d->hist_ptr[d->n_users] + 1) * sizeof *fh); /* a fold's items */
  if (!d->spec_vec || !d->spec_val || !d->spec_fvec || !d->spec_fval || !fptr || !fh) {
    free(fptr);
    free(fh);
    spectral_drop(d);
    return fm_fail(err, "out of memory for the co-occurrence spectrum (%u items, rank %u)",
                   d->n_items, r);
  }
  int rc = spectral_items(d->n_users, d->n_items, d->hist_ptr, d->hist, r, d->spec_vec,
                          d->spec_val, err);
  if (!rc) spectral_scale(d, d->spec_vec, d->spec_val, r, -1);
  /* fold f's spectrum: the hist of every user outside f (f's users empty),
   * at most the first kcap items of each */
  for (uint32_t f = 0; f < F && !rc; f++) {
    uint32_t o = 0;
    for (uint32_t u = 0; u < d->n_users; u++) {
      fptr[u] = o;
      uint32_t n = d->hist_ptr[u + 1] - d->hist_ptr[u];
      if (u % F != f) o += dataset_kcapped(n, kcap);
    }
    fptr[d->n_users] = o;
    /* a compact copy of the complement's items */
    for (uint32_t u = 0; u < d->n_users; u++)
      if (u % F != f)
        memcpy(fh + fptr[u], d->hist + d->hist_ptr[u], (fptr[u + 1] - fptr[u]) * sizeof *fh);
    rc = spectral_items(d->n_users, d->n_items, fptr, fh, r, d->spec_fvec + f * nv,
                        d->spec_fval + f * r, err);
    if (!rc) spectral_scale(d, d->spec_fvec + f * nv, d->spec_fval + f * r, r, (int)f);
  }
  free(fptr);
  free(fh);
  if (rc) {
    spectral_drop(d);
    return -1;
  }
  d->spec_r = r;
  return 0;
}

/* --- the EASE term's input ------------------------------------------------------ */

static void ease_drop(dataset_t *d) {
  free(d->ease_slot);
  free(d->ease_item);
  free(d->ease_P);
  d->ease_slot = d->ease_item = NULL;
  d->ease_P = NULL;
  d->ease_lambda = d->ease_kcap = d->ease_m = d->ease_ymax = 0;
  d->ease_scale = 0.0f;
}

void dataset_ease_sum(const dataset_t *d, const uint32_t *items, uint32_t n, float *acc) {
  const size_t m = d->ease_m;
  memset(acc, 0, m * sizeof *acc);
  for (uint32_t k = 0; k < n; k++) {
    const uint32_t j = d->ease_slot[items[k]];
    int dup = 0;
    for (uint32_t q = 0; q < k && !dup; q++) dup = items[q] == items[k];
    if (j == DATASET_NO_SLOT || dup) continue;
    const float *row = d->ease_P + j * m;
    for (size_t i = 0; i < m; i++) acc[i] += row[i];
    acc[j] -= row[j]; /* B_jj = 0 */
  }
}

/* The users a term's scale is measured over: at most SCALE_USERS of those
 * with a history, every ceil(n / SCALE_USERS)-th, in order. Returns how many. */
#define SCALE_USERS 2048u
static uint32_t scale_users(const dataset_t *d, uint32_t *users) {
  uint32_t nu_h = 0;
  for (uint32_t u = 0; u < d->n_users; u++) nu_h += d->hist_ptr[u + 1] > d->hist_ptr[u];
  const uint32_t stride = nu_h > SCALE_USERS ? (nu_h + SCALE_USERS - 1) / SCALE_USERS : 1;
  uint32_t n = 0, seen = 0;
  for (uint32_t u = 0; u < d->n_users; u++)
    if (d->hist_ptr[u + 1] > d->hist_ptr[u] && seen++ % stride == 0) users[n++] = u;
  return n;
}

/* ease_scale = 1 / the root mean square of the term's inference scores (model.h) over
 * every item and the scale_users. */
static int ease_scale(dataset_t *d) {
  const uint32_t m = d->ease_m, ni = d->n_items;
  float *acc = malloc(((size_t)m + 1) * sizeof *acc);
  if (!acc) return -1;
  uint32_t users[SCALE_USERS];
  const uint32_t nu = scale_users(d, users);
  double ms = 0;
  for (uint32_t r = 0; r < nu; r++) {
    const uint32_t a = d->hist_ptr[users[r]], b = d->hist_ptr[users[r] + 1];
    dataset_ease_sum(d, d->hist + a, b - a, acc);
    for (uint32_t i = 0; i < m; i++) {
      const double e = acc[i] / d->ease_P[(size_t)i * m + i];
      ms += e * e;
    }
  }
  free(acc);
  ms = nu ? ms / ((double)ni * nu) : 0.0;
  d->ease_scale = ms > 0 ? (float)(1.0 / sqrt(ms)) : 0.0f; /* 0: every score is 0 (K = 1) */
  return 0;
}

int dataset_ease(dataset_t *d, uint32_t lambda, uint32_t kcap, fm_err *err) {
  ease_drop(d);
  if (lambda == 0) return 0;
  const uint32_t nu = d->n_users;
  uint32_t *ptr = malloc(((size_t)nu + 1) * sizeof *ptr);
  uint32_t *items = malloc(((size_t)d->hist_ptr[nu] + 1) * sizeof *items);
  d->ease_slot = malloc(((size_t)d->n_items + 1) * sizeof *d->ease_slot);
  if (!ptr || !items || !d->ease_slot) {
    free(ptr);
    free(items);
    ease_drop(d);
    return fm_fail(err, "out of memory for the EASE term (%u users, %u items)", nu, d->n_items);
  }
  uint32_t o = 0, m = 0, ymax = 0; /* X: the first kcap items of each user; m its items */
  for (uint32_t i = 0; i < d->n_items; i++) d->ease_slot[i] = DATASET_NO_SLOT;
  for (uint32_t u = 0; u < nu; u++) {
    ptr[u] = o;
    const uint32_t a = d->hist_ptr[u], c = dataset_kcapped(d->hist_ptr[u + 1] - a, kcap);
    memcpy(items + o, d->hist + a, (size_t)c * sizeof *items);
    for (uint32_t k = 0; k < c; k++)
      if (d->ease_slot[items[o + k]] == DATASET_NO_SLOT) d->ease_slot[items[o + k]] = m++;
    o += c;
    if (c > ymax) ymax = c;
  }
  ptr[nu] = o;
  if (m > BASELINE_EASE_MAX_ITEMS) { /* the baseline's own refusal would advise ItemKNN */
    free(ptr);
    free(items);
    ease_drop(d);
    return fm_fail(err, "the EASE term: %u items have interactions among the first %u of each "
                   "user, more than %u (P alone would take %.1f GB per platform); leave --ease "
                   "off for this catalogue", m, kcap, BASELINE_EASE_MAX_ITEMS,
                   (double)m * m * 4 / 1e9);
  }
  baseline_ease_t e;
  int rc = baseline_ease_inverse(&e, nu, d->n_items, ptr, items, (float)lambda, err);
  free(ptr);
  free(items);
  if (rc) { /* out of memory */
    ease_drop(d);
    return fm_wrap(err, "the EASE term");
  }
  for (uint32_t i = 0; i < d->n_items; i++) d->ease_slot[i] = DATASET_NO_SLOT;
  for (uint32_t k = 0; k < e.n_active; k++) d->ease_slot[e.active[k]] = k;
  d->ease_m = e.n_active;
  d->ease_item = e.active; /* taken over, as P (not yet B) */
  d->ease_P = e.B;
  d->ease_lambda = lambda;
  d->ease_kcap = kcap;
  d->ease_ymax = ymax;
  if (ease_scale(d)) {
    ease_drop(d);
    return fm_fail(err, "out of memory for the EASE term's scale (%u items)", d->n_items);
  }
  return 0;
}

/* --- the transition term's input ------------------------------------------------ */

static void trans_drop(dataset_t *d) {
  free(d->trans_ptr);
  free(d->trans_dst);
  free(d->trans_cnt);
  free(d->trans_row);
  d->trans_ptr = d->trans_dst = NULL;
  d->trans_cnt = d->trans_row = NULL;
  d->trans_on = d->trans_kcap = 0;
  d->trans_scale = 0.0f;
}

/* trans_scale = 1 / the root mean square of the term's inference scores
 * T[l][i] / rowsum(l) (model.h), l each user's last hist item, over every
 * item and the scale_users. */
static void trans_scale(dataset_t *d) {
  uint32_t users[SCALE_USERS];
  const uint32_t nu = scale_users(d, users);
  double ms = 0;
  for (uint32_t r = 0; r < nu; r++) {
    const uint32_t l = d->hist[d->hist_ptr[users[r] + 1] - 1];
    if (d->trans_row[l] <= 0.0f) continue;
    double s = 0;
    for (uint32_t q = d->trans_ptr[l]; q < d->trans_ptr[l + 1]; q++)
      s += (double)d->trans_cnt[q] * d->trans_cnt[q];
    ms += s / ((double)d->trans_row[l] * d->trans_row[l]);
  }
  ms = nu ? ms / ((double)d->n_items * nu) : 0.0;
  d->trans_scale = ms > 0 ? (float)(1.0 / sqrt(ms)) : 0.0f; /* 0: no transition (K = 1) */
}

int dataset_trans(dataset_t *d, uint32_t on, uint32_t kcap, fm_err *err) {
  trans_drop(d);
  if (!on) return 0;
  const uint32_t nu = d->n_users, ni = d->n_items;
  /* the pairs (a, b), b right after a, a != b: counted per row a, then placed */
  size_t np = 0;
  d->trans_ptr = calloc((size_t)ni + 1, sizeof *d->trans_ptr);
  d->trans_row = calloc((size_t)ni + 1, sizeof *d->trans_row);
  if (!d->trans_ptr || !d->trans_row) goto oom;
  for (uint32_t u = 0; u < nu; u++) {
    const uint32_t a = d->hist_ptr[u], c = dataset_kcapped(d->hist_ptr[u + 1] - a, kcap);
    for (uint32_t k = a + 1; k < a + c; k++)
      if (d->hist[k - 1] != d->hist[k]) d->trans_ptr[d->hist[k - 1] + 1]++, np++;
  }
  for (uint32_t i = 0; i < ni; i++) d->trans_ptr[i + 1] += d->trans_ptr[i];
  uint32_t *next = malloc(((size_t)ni + 1) * sizeof *next);
  d->trans_dst = malloc((np + 1) * sizeof *d->trans_dst);
  d->trans_cnt = malloc((np + 1) * sizeof *d->trans_cnt);
  if (!next || !d->trans_dst || !d->trans_cnt) {
    free(next);
    goto oom;
  }
  memcpy(next, d->trans_ptr, (size_t)ni * sizeof *next);
  for (uint32_t u = 0; u < nu; u++) {
    const uint32_t a = d->hist_ptr[u], c = dataset_kcapped(d->hist_ptr[u + 1] - a, kcap);
    for (uint32_t k = a + 1; k < a + c; k++)
      if (d->hist[k - 1] != d->hist[k]) d->trans_dst[next[d->hist[k - 1]]++] = d->hist[k];
  }
  free(next);
  /* each row sorted, repeats merged into counts, compacted in place */
  uint32_t o = 0;
  for (uint32_t i = 0; i < ni; i++) {
    const uint32_t a = d->trans_ptr[i], b = d->trans_ptr[i + 1];
    qsort(d->trans_dst + a, b - a, sizeof *d->trans_dst, cmp_u32);
    d->trans_ptr[i] = o;
    for (uint32_t k = a; k < b; k++) {
      if (k > a && d->trans_dst[k] == d->trans_dst[k - 1]) {
        d->trans_cnt[o - 1] += 1.0f;
      } else {
        d->trans_dst[o] = d->trans_dst[k];
        d->trans_cnt[o++] = 1.0f;
      }
    }
    d->trans_row[i] = (float)(b - a);
  }
  d->trans_ptr[ni] = o;
  d->trans_on = 1;
  d->trans_kcap = kcap;
  trans_scale(d);
  return 0;
oom:
  trans_drop(d);
  return fm_fail(err, "out of memory for the transition term (%u users, %u items, %zu pairs)", nu,
                 ni, np);
}

/* --- the time term's input ------------------------------------------------------ */

float dataset_time_kernel0(int32_t j, uint32_t J) {
  double w = J / 4 > 1 ? (double)(J / 4) : 1.0;
  return (float)exp(-fabs((double)j) / w);
}

static void time_drop(dataset_t *d) {
  free(d->time_cnt);
  free(d->time_fcnt);
  free(d->user_tbin);
  free(d->pair_ptr);
  free(d->pair_tbin);
  d->time_cnt = d->time_fcnt = NULL;
  d->user_tbin = d->pair_ptr = d->pair_tbin = NULL;
  d->time_T = d->time_lags = 0;
  d->time_t0 = d->time_bin = 0;
}

static inline uint32_t time_bin_of(const dataset_t *d, int64_t t) {
  int64_t b = (t - d->time_t0) / d->time_bin;
  return b < 0 ? 0 : b >= (int64_t)d->time_T ? d->time_T - 1 : (uint32_t)b;
}

/* cnt (n_items, T) *= s so that the term at the initial filter has mean
 * square 1 over the catalogue and the references: nref[b] references sit in
 * bin b. The term of an item for a reference in bin b depends only on b. */
static void time_scale(const dataset_t *d, float *cnt, const double *nref) {
  const uint32_t T = d->time_T, J = d->time_lags;
  double ms = 0, n = 0;
  for (uint32_t b = 0; b < T; b++) {
    if (!nref[b]) continue;
    n += nref[b];
    double sq = 0;
    for (uint32_t i = 0; i < d->n_items; i++) {
      const float *c = cnt + (size_t)i * T;
      double x = 0;
      for (uint32_t q = b > J ? b - J : 0; q < T && q <= b + J; q++)
        x += (double)dataset_time_kernel0((int32_t)q - (int32_t)b, J) * c[q];
      sq += x * x;
    }
    ms += nref[b] * sq;
  }
  ms = n ? ms / (n * d->n_items) : 0.0;
  if (ms > 0) {
    float s = (float)(1.0 / sqrt(ms));
    for (size_t k = 0; k < (size_t)d->n_items * T; k++) cnt[k] *= s;
  }
}

int dataset_time(dataset_t *d, int64_t bin_s, uint32_t lags, uint32_t kcap, fm_err *err) {
  time_drop(d);
  if (lags == 0) return 0;
  if (lags > DATASET_TIME_MAX_LAGS)
    return fm_fail(err, "time term: %u lags, at most %u", lags, DATASET_TIME_MAX_LAGS);
  if (bin_s <= 0) return fm_fail(err, "time term: bin width %lld s, expected > 0", (long long)bin_s);
  const uint32_t nu = d->n_users, ni = d->n_items, F = DATASET_SPEC_FOLDS;
  const uint32_t nh = d->hist_ptr[nu];
  int64_t t0 = 0, t1 = 0;
  for (uint32_t k = 0; k < nh; k++) {
    if (k == 0 || d->hist_ts[k] < t0) t0 = d->hist_ts[k];
    if (k == 0 || d->hist_ts[k] > t1) t1 = d->hist_ts[k];
  }
  uint64_t T = (uint64_t)(t1 - t0) / (uint64_t)bin_s + 1;
  if (T > DATASET_TIME_MAX_BINS)
    return fm_fail(err, "time term: the interactions span %llu bins of %lld s (at most %u): "
                   "take wider bins", (unsigned long long)T, (long long)bin_s, DATASET_TIME_MAX_BINS);
  d->time_T = (uint32_t)T;
  d->time_lags = lags;
  d->time_t0 = t0;
  d->time_bin = bin_s;
  d->time_cnt = calloc((size_t)ni * T + 1, sizeof *d->time_cnt);
  d->time_fcnt = calloc((size_t)F * ni * T + 1, sizeof *d->time_fcnt);
  d->user_tbin = malloc(((size_t)nu + 1) * sizeof *d->user_tbin);
  d->pair_ptr = calloc((size_t)nu + 1, sizeof *d->pair_ptr);
  d->pair_tbin = malloc(((size_t)d->n_pairs + 1) * sizeof *d->pair_tbin);
  double *nref = calloc((size_t)F * T + T, sizeof *nref); /* T for inference, then F x T */
  if (!d->time_cnt || !d->time_fcnt || !d->user_tbin || !d->pair_ptr || !d->pair_tbin || !nref) {
    free(nref);
    time_drop(d);
    return fm_fail(err, "out of memory for the time term (%u items x %llu bins)", ni,
                   (unsigned long long)T);
  }
  /* Training pairs are the TRAIN interactions in user order, time order within
   * a user; TRAIN comes first in a user's hist (temporal and K-shot splits). */
  for (uint32_t k = 0; k < d->n_pairs; k++) d->pair_ptr[d->pair_user[k] + 1]++;
  for (uint32_t u = 0; u < nu; u++) d->pair_ptr[u + 1] += d->pair_ptr[u];
  for (uint32_t u = 0; u < nu; u++) {
    const uint32_t h0 = d->hist_ptr[u], nhu = d->hist_ptr[u + 1] - h0;
    d->user_tbin[u] = nhu ? time_bin_of(d, d->hist_ts[h0 + nhu - 1]) : DATASET_NO_BIN;
    if (nhu) nref[d->user_tbin[u]] += 1;
    const uint32_t f = u % F, nk = dataset_kcapped(nhu, kcap);
    for (uint32_t p = 0; p < nhu; p++) {
      const uint32_t i = d->hist[h0 + p], b = time_bin_of(d, d->hist_ts[h0 + p]);
      d->time_cnt[(size_t)i * T + b] += 1.0f;
      if (p >= nk) continue;
      for (uint32_t g = 0; g < F; g++) /* u shapes every fold's counts but its own */
        if (g != f) d->time_fcnt[((size_t)g * ni + i) * T + b] += 1.0f;
    }
    for (uint32_t k = d->pair_ptr[u], p = 0; k < d->pair_ptr[u + 1]; k++, p++) {
      uint32_t q = dataset_kcapped(p, kcap); /* support items before the example */
      d->pair_tbin[k] = q ? time_bin_of(d, d->hist_ts[h0 + q - 1]) : DATASET_NO_BIN;
      if (q) nref[T + (size_t)f * T + d->pair_tbin[k]] += 1;
    }
  }
  time_scale(d, d->time_cnt, nref);
  for (uint32_t f = 0; f < F; f++) time_scale(d, d->time_fcnt + (size_t)f * ni * T, nref + T + (size_t)f * T);
  free(nref);
  return 0;
}
