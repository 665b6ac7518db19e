/* common/baselines.c: ItemKNN and EASE baselines (see baselines.h). */
#include "common/baselines.h"
#include "common/blas.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

/* LAPACK from OpenBLAS (Fortran symbols; no header ships with it here). The
 * trailing size_t is the hidden length of the character argument that
 * gfortran-built routines may expect; passing it is harmless otherwise. */
extern void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info,
                    size_t uplo_len);
extern void spotri_(const char *uplo, const int *n, float *a, const int *lda, int *info,
                    size_t uplo_len);

/* ---------------- shared: binary user-item CSR ---------------- */

/* Deduplicated copy of the histories (each user's items in first-seen order)
 * and, optionally, the item -> users inverted index. */
typedef struct binmat {
  uint32_t n_users, n_items;
  uint32_t *uptr, *uitem; /* (n_users+1), (nnz) */
  uint32_t *iptr, *iuser; /* (n_items+1), (nnz), or NULL */
} binmat_t;

static void binmat_free(binmat_t *b) {
  free(b->uptr), free(b->uitem), free(b->iptr), free(b->iuser);
  memset(b, 0, sizeof *b);
}

static int binmat_build(binmat_t *b, uint32_t n_users, uint32_t n_items, const uint32_t *ptr,
                        const uint32_t *items, int inverted, const char *who, fm_err *err) {
  memset(b, 0, sizeof *b);
  b->n_users = n_users, b->n_items = n_items;
  if (n_users > 0 && !ptr) return fm_fail(err, "%s: NULL history offsets", who);
  for (uint32_t u = 0; u < n_users; u++)
    if (ptr[u + 1] < ptr[u]) return fm_fail(err, "%s: history offsets decrease at user %u", who, u);
  uint32_t nnz_in = n_users ? ptr[n_users] - ptr[0] : 0;
  if (nnz_in > 0 && !items) return fm_fail(err, "%s: NULL history items", who);
  for (uint32_t k = n_users ? ptr[0] : 0; k < (n_users ? ptr[n_users] : 0); k++)
    if (items[k] >= n_items)
      return fm_fail(err, "%s: history item %u at position %u is not below n_items = %u", who,
                     items[k], k, n_items);
  uint32_t *last = malloc((size_t)n_items * sizeof *last + 1);
  b->uptr = malloc(((size_t)n_users + 1) * sizeof *b->uptr);
  b->uitem = malloc(((size_t)nnz_in + 1) * sizeof *b->uitem);
  if (!last || !b->uptr || !b->uitem) goto oom;
  for (uint32_t i = 0; i < n_items; i++) last[i] = UINT32_MAX;
  uint32_t nnz = 0;
  b->uptr[0] = 0;
  for (uint32_t u = 0; u < n_users; u++) {
    for (uint32_t k = ptr[u]; k < ptr[u + 1]; k++) {
      uint32_t i = items[k];
      if (last[i] == u) continue;
      last[i] = u;
      b->uitem[nnz++] = i;
    }
    b->uptr[u + 1] = nnz;
  }
  if (inverted) {
    b->iptr = calloc((size_t)n_items + 1, sizeof *b->iptr);
    b->iuser = malloc(((size_t)nnz + 1) * sizeof *b->iuser);
    if (!b->iptr || !b->iuser) goto oom;
    for (uint32_t k = 0; k < nnz; k++) b->iptr[b->uitem[k] + 1]++;
    for (uint32_t i = 0; i < n_items; i++) b->iptr[i + 1] += b->iptr[i];
    /* fill using last[] as the write cursor; users ascend within an item */
    for (uint32_t i = 0; i < n_items; i++) last[i] = b->iptr[i];
    for (uint32_t u = 0; u < n_users; u++)
      for (uint32_t k = b->uptr[u]; k < b->uptr[u + 1]; k++) b->iuser[last[b->uitem[k]]++] = u;
  }
  free(last);
  return 0;
oom:
  free(last);
  binmat_free(b);
  return fm_fail(err, "%s: out of memory for %u users x %u items", who, n_users, n_items);
}

static int in_list(const uint32_t *a, uint32_t n, uint32_t x) {
  for (uint32_t k = 0; k < n; k++)
    if (a[k] == x) return 1;
  return 0;
}

/* ---------------- ItemKNN ---------------- */

typedef struct nb {
  float s;
  uint32_t id;
} nb_t;

/* higher similarity first, then lower id */
static int cmp_nb_sim(const void *a, const void *b) {
  const nb_t *x = a, *y = b;
  if (x->s != y->s) return x->s > y->s ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}
static int cmp_nb_id(const void *a, const void *b) {
  const nb_t *x = a, *y = b;
  return (x->id > y->id) - (x->id < y->id);
}

void baseline_knn_free(baseline_knn_t *m) {
  if (!m) return;
  free(m->ptr), free(m->nbr), free(m->sim);
  memset(m, 0, sizeof *m);
}

int baseline_knn_fit_csr(baseline_knn_t *m, uint32_t n_users, uint32_t n_items,
                         const uint32_t *ptr, const uint32_t *items, uint32_t topk, fm_err *err) {
  memset(m, 0, sizeof *m);
  binmat_t b;
  if (binmat_build(&b, n_users, n_items, ptr, items, 1, "ItemKNN", err)) return -1;
  m->n_items = n_items;
  m->topk = topk;
  uint32_t *cnt = calloc((size_t)n_items + 1, sizeof *cnt);
  uint32_t *touched = malloc(((size_t)n_items + 1) * sizeof *touched);
  nb_t *row = malloc(((size_t)n_items + 1) * sizeof *row);
  size_t cap = 1024, nnz = 0;
  m->ptr = malloc(((size_t)n_items + 1) * sizeof *m->ptr);
  m->nbr = malloc(cap * sizeof *m->nbr);
  m->sim = malloc(cap * sizeof *m->sim);
  if (!cnt || !touched || !row || !m->ptr || !m->nbr || !m->sim) goto oom;
  m->ptr[0] = 0;
  for (uint32_t j = 0; j < n_items; j++) {
    /* c_ji for every item i that shares a user with j */
    uint32_t nt = 0;
    for (uint32_t a = b.iptr[j]; a < b.iptr[j + 1]; a++) {
      uint32_t u = b.iuser[a];
      for (uint32_t k = b.uptr[u]; k < b.uptr[u + 1]; k++) {
        uint32_t i = b.uitem[k];
        if (i == j) continue;
        if (cnt[i]++ == 0) touched[nt++] = i;
      }
    }
    double nj = (double)(b.iptr[j + 1] - b.iptr[j]);
    for (uint32_t t = 0; t < nt; t++) {
      uint32_t i = touched[t];
      double ni = (double)(b.iptr[i + 1] - b.iptr[i]);
      row[t].s = (float)(cnt[i] / sqrt(nj * ni));
      row[t].id = i;
      cnt[i] = 0;
    }
    if (topk > 0 && nt > topk) {
      qsort(row, nt, sizeof *row, cmp_nb_sim);
      nt = topk;
    }
    qsort(row, nt, sizeof *row, cmp_nb_id);
    if (nnz + nt > UINT32_MAX) {
      free(cnt), free(touched), free(row);
      binmat_free(&b);
      baseline_knn_free(m);
      return fm_fail(err, "ItemKNN: more than 2^32 item pairs; use topk");
    }
    if (nnz + nt > cap) {
      while (nnz + nt > cap) cap *= 2;
      uint32_t *nn = realloc(m->nbr, cap * sizeof *nn);
      if (nn) m->nbr = nn;
      float *ns = realloc(m->sim, cap * sizeof *ns);
      if (ns) m->sim = ns;
      if (!nn || !ns) goto oom;
    }
    for (uint32_t t = 0; t < nt; t++) {
      m->nbr[nnz + t] = row[t].id;
      m->sim[nnz + t] = row[t].s;
    }
    nnz += nt;
    m->ptr[j + 1] = (uint32_t)nnz;
  }
  free(cnt), free(touched), free(row);
  binmat_free(&b);
  return 0;
oom:
  free(cnt), free(touched), free(row);
  binmat_free(&b);
  baseline_knn_free(m);
  return fm_fail(err, "ItemKNN: out of memory (%zu similarity entries so far)", nnz);
}

int baseline_knn_fit(baseline_knn_t *m, const dataset_t *ds, uint32_t topk, fm_err *err) {
  return baseline_knn_fit_csr(m, ds->n_users, ds->n_items, ds->hist_ptr, ds->hist, topk, err);
}

void baseline_knn_score(const baseline_knn_t *m, float *scores, const uint32_t *items,
                        uint32_t n) {
  memset(scores, 0, (size_t)m->n_items * sizeof *scores);
  for (uint32_t k = 0; k < n; k++) {
    uint32_t j = items[k];
    if (j >= m->n_items || in_list(items, k, j)) continue;
    for (uint32_t a = m->ptr[j]; a < m->ptr[j + 1]; a++) scores[m->nbr[a]] += m->sim[a];
  }
}

/* ---------------- EASE ---------------- */

void baseline_ease_free(baseline_ease_t *m) {
  if (!m) return;
  free(m->active), free(m->B);
  memset(m, 0, sizeof *m);
}

int baseline_ease_inverse(baseline_ease_t *m, uint32_t n_users, uint32_t n_items,
                          const uint32_t *ptr, const uint32_t *items, float lambda, fm_err *err) {
  memset(m, 0, sizeof *m);
  if (!(lambda > 0)) return fm_fail(err, "EASE: lambda must be > 0 (got %g)", (double)lambda);
  binmat_t b;
  if (binmat_build(&b, n_users, n_items, ptr, items, 0, "EASE", err)) return -1;
  m->n_items = n_items;
  uint32_t *slot = malloc(((size_t)n_items + 1) * sizeof *slot);
  if (!slot) goto oom;
  /* gram rows for the items that occur, in id order */
  for (uint32_t i = 0; i < n_items; i++) slot[i] = UINT32_MAX;
  for (uint32_t k = 0; k < b.uptr[n_users]; k++) slot[b.uitem[k]] = 1; /* seen */
  uint32_t nm = 0;
  for (uint32_t i = 0; i < n_items; i++)
    if (slot[i] != UINT32_MAX) slot[i] = nm++;
  if (nm > BASELINE_EASE_MAX_ITEMS) {
    free(slot);
    binmat_free(&b);
    return fm_fail(err,
                   "EASE: %u items have interactions, more than the dense limit of %u (the "
                   "gram matrix alone would take %.1f GB); use ItemKNN for this catalogue",
                   nm, BASELINE_EASE_MAX_ITEMS, (double)nm * nm * 4 / 1e9);
  }
  m->n_active = nm;
  m->active = malloc(((size_t)nm + 1) * sizeof *m->active);
  m->B = calloc((size_t)nm * nm + 1, sizeof *m->B);
  if (!m->active || !m->B) goto oom;
  for (uint32_t i = 0; i < n_items; i++)
    if (slot[i] != UINT32_MAX) m->active[slot[i]] = i;
  if (nm == 0) {
    free(slot);
    binmat_free(&b);
    return 0;
  }
  /* G = X^T X by co-occurrence over users (sum_u |h_u|^2 adds, no dense X). */
  float *G = m->B;
  const size_t M = nm;
  for (uint32_t u = 0; u < n_users; u++)
    for (uint32_t k = b.uptr[u]; k < b.uptr[u + 1]; k++) {
      float *g = G + (size_t)slot[b.uitem[k]] * M;
      for (uint32_t l = b.uptr[u]; l < b.uptr[u + 1]; l++) g[slot[b.uitem[l]]] += 1.0f;
    }
  for (size_t i = 0; i < M; i++) G[i * M + i] += lambda;
  free(slot);
  slot = NULL;
  binmat_free(&b);
  /* P = G^{-1} through Cholesky. G is symmetric, so row- and column-major
   * agree; 'L' in Fortran's column-major is element (r >= c) at G[c*M + r].
   * On one OpenBLAS thread: its threaded potrf / potri block the work by the
   * thread count, so P's last bits (and the rankings, and a model trained with
   * the EASE term) would depend on OPENBLAS_NUM_THREADS. One thread gives the
   * same P for any setting, at a cost in time (docs/BENCHMARKS.md: 12,101 items
   * in 17 s instead of 10 s on 2 cores). */
  int n = (int)nm, info = 0;
  const int blas = blas_one_thread();
  spotrf_("L", &n, G, &n, &info, 1);
  if (info == 0) spotri_("L", &n, G, &n, &info, 1);
  blas_restore(blas);
  if (info != 0) {
    baseline_ease_free(m);
    return fm_fail(err, "EASE: X^T X + lambda I is not positive definite (LAPACK info %d); "
                        "lambda %g too small or the data not finite", info, (double)lambda);
  }
  for (size_t c = 0; c < M; c++) /* mirror the computed triangle */
    for (size_t r = c + 1; r < M; r++) G[r * M + c] = G[c * M + r];
  return 0;
oom:
  free(slot);
  binmat_free(&b);
  baseline_ease_free(m);
  return fm_fail(err, "EASE: out of memory for %u items", n_items);
}

int baseline_ease_fit_csr(baseline_ease_t *m, uint32_t n_users, uint32_t n_items,
                          const uint32_t *ptr, const uint32_t *items, float lambda, fm_err *err) {
  if (baseline_ease_inverse(m, n_users, n_items, ptr, items, lambda, err)) return -1;
  float *G = m->B;
  const size_t M = m->n_active;
  float *d = malloc(M * sizeof *d + 1);
  if (!d) {
    baseline_ease_free(m);
    return fm_fail(err, "EASE: out of memory");
  }
  for (size_t i = 0; i < M; i++) d[i] = G[i * M + i];
  for (size_t j = 0; j < M; j++) {
    float *row = G + j * M;
    for (size_t i = 0; i < M; i++) row[i] = -row[i] / d[i];
    row[j] = 0.0f;
  }
  free(d);
  return 0;
}

int baseline_ease_fit(baseline_ease_t *m, const dataset_t *ds, float lambda, fm_err *err) {
  return baseline_ease_fit_csr(m, ds->n_users, ds->n_items, ds->hist_ptr, ds->hist, lambda, err);
}

/* Binary search of item i among the ascending active ids: its gram row. */
static uint32_t ease_slot(const baseline_ease_t *m, uint32_t i) {
  uint32_t lo = 0, hi = m->n_active;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (m->active[mid] < i) lo = mid + 1;
    else hi = mid;
  }
  return lo < m->n_active && m->active[lo] == i ? lo : UINT32_MAX;
}

void baseline_ease_score(const baseline_ease_t *m, float *scores, const uint32_t *items,
                         uint32_t n) {
  /* Sum the history's rows of B into scores[0..M) (contiguous saxpy), then
   * spread them out to item ids in place: active[] ascends and active[k] >= k,
   * so walking down never overwrites an entry not yet moved. */
  const size_t M = m->n_active;
  memset(scores, 0, (size_t)m->n_items * sizeof *scores);
  for (uint32_t k = 0; k < n; k++) {
    uint32_t j = items[k];
    if (j >= m->n_items || in_list(items, k, j)) continue;
    uint32_t s = ease_slot(m, j);
    if (s == UINT32_MAX) continue; /* unseen item: its row of B is 0 */
    cblas_saxpy((int)M, 1.0f, m->B + s * M, 1, scores, 1);
  }
  if (M == m->n_items) return; /* active[k] == k */
  uint32_t next = m->n_items; /* items >= next are final */
  for (size_t k = M; k-- > 0;) {
    uint32_t a = m->active[k];
    float v = scores[k];
    for (uint32_t i = a + 1; i < next; i++) scores[i] = 0.0f; /* inactive items */
    scores[a] = v;
    next = a;
  }
  for (uint32_t i = 0; i < next; i++) scores[i] = 0.0f;
}

/* ---------------- evaluation ---------------- */

typedef struct pop_key {
  float pop;
  uint32_t id;
} pop_key_t;

static int cmp_pop_key(const void *a, const void *b) {
  const pop_key_t *x = a, *y = b;
  if (x->pop != y->pop) return x->pop > y->pop ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

int baseline_popularity_order(uint32_t *item_col, const float *pop, uint32_t n_items,
                              fm_err *err) {
  pop_key_t *k = malloc(((size_t)n_items + 1) * sizeof *k);
  if (!k) return fm_fail(err, "popularity order: out of memory for %u items", n_items);
  for (uint32_t i = 0; i < n_items; i++) {
    k[i].pop = isnan(pop[i]) ? -INFINITY : pop[i];
    k[i].id = i;
  }
  qsort(k, n_items, sizeof *k, cmp_pop_key);
  for (uint32_t p = 0; p < n_items; p++) item_col[k[p].id] = p;
  free(k);
  return 0;
}

typedef void (*score_row_fn)(const void *model, float *scores, const uint32_t *items, uint32_t n);

typedef struct rank_ctx {
  const void *model;
  score_row_fn score;
  const dataset_t *ds;
  const uint32_t *item_col;
  float *tmp; /* (model's n_items) scores in item order; ids >= ds->n_items unranked */
} rank_ctx_t;

static int rank_scores(float *S, uint32_t first, uint32_t n, void *vctx, fm_err *err) {
  rank_ctx_t *c = vctx;
  const dataset_t *ds = c->ds;
  for (uint32_t r = 0; r < n; r++) {
    uint32_t u = ds->eval_user[first + r];
    if (u >= ds->n_users) return fm_fail(err, "evaluation user %u is not a user (n_users %u)", u,
                                         ds->n_users);
    const uint32_t *h = ds->hist + ds->hist_ptr[u];
    c->score(c->model, c->tmp, h, ds->hist_ptr[u + 1] - ds->hist_ptr[u]);
    float *row = S + (size_t)r * ds->n_items;
    for (uint32_t i = 0; i < ds->n_items; i++) row[c->item_col[i]] = c->tmp[i];
  }
  return 0;
}

static int rank_model(metrics_t *out, metrics_user_t *per_user, const void *model,
                      uint32_t model_items, score_row_fn score, const dataset_t *ds,
                      const char *who, fm_err *err) {
  memset(out, 0, sizeof *out);
  if (model_items < ds->n_items)
    return fm_fail(err, "%s: fitted on %u items but the dataset has %u", who, model_items,
                   ds->n_items);
  if (ds->n_eval > 0 && (!ds->eval_user || !ds->hist_ptr || !ds->item_pop))
    return fm_fail(err, "%s: dataset lacks eval_user, hist or item_pop", who);
  uint32_t *item_col = malloc(((size_t)ds->n_items + 1) * sizeof *item_col);
  float *tmp = malloc(((size_t)model_items + 1) * sizeof *tmp);
  if (!item_col || !tmp) {
    free(item_col), free(tmp);
    return fm_fail(err, "%s: out of memory", who);
  }
  int rc = baseline_popularity_order(item_col, ds->item_pop, ds->n_items, err);
  if (rc == 0) {
    rank_ctx_t c = {model, score, ds, item_col, tmp};
    rc = metrics_rank_scores(out, per_user, ds, rank_scores, &c, item_col, 0, err);
    if (rc) fm_wrap(err, "%s", who);
  }
  free(item_col), free(tmp);
  return rc;
}

static void knn_row(const void *m, float *s, const uint32_t *items, uint32_t n) {
  baseline_knn_score(m, s, items, n);
}
static void ease_row(const void *m, float *s, const uint32_t *items, uint32_t n) {
  baseline_ease_score(m, s, items, n);
}

int baseline_knn_rank(metrics_t *out, metrics_user_t *per_user, const baseline_knn_t *m,
                      const dataset_t *ds, fm_err *err) {
  return rank_model(out, per_user, m, m->n_items, knn_row, ds, "ItemKNN", err);
}

int baseline_ease_rank(metrics_t *out, metrics_user_t *per_user, const baseline_ease_t *m,
                       const dataset_t *ds, fm_err *err) {
  return rank_model(out, per_user, m, m->n_items, ease_row, ds, "EASE", err);
}
