/* common/metrics.c: full-ranking evaluation (see metrics.h).
 *
 * The ranking order everywhere: higher score first, equal scores by lower
 * column (item id, or the caller's tie-break column order) first. NaN scores
 * rank as -INFINITY. Excluded items are not ranked at all.
 *
 * Per user the work is two streaming passes over the score row at most:
 *   1. a top-20 selection with a min-heap whose root is the worst kept item;
 *      the row is scanned in increasing column order, so a later item with a
 *      score equal to the root loses the tie and only "score > threshold"
 *      needs the heap. Chunks of 16 scores are tested at once.
 *   2. only when no relevant item made the top 20: the count of items that
 *      beat the best relevant one (for MRR).
 * Excluded items are set to -INFINITY in the score buffer so they rarely reach
 * the heap; a per-item mask keeps the result exact even when real scores are
 * -INFINITY.
 *
 * Dot-product scores and determinism. OpenBLAS sgemm does not give a row the
 * same bits for every block height (its edge kernels and thread split sum in
 * other orders), so ranking its output directly would make near-ties, and so
 * the metrics, depend on the block size and the thread count. The ranking is
 * therefore defined on the canonical score metrics_dot_exact(u, v) (products
 * summed in double in a fixed order, rounded once). sgemm only prunes: its
 * score is within margin m = (D + 2) 2^-23 |u| max_i |v_i| of the canonical
 * one (any summation order of D float products errs by at most
 * D 2^-24 sum |u_k v_k|), so only items within 2m of a decision are rescored
 * canonically: the ~20 top-K candidates, and for MRR the few items whose
 * sgemm score is within m of the best relevant item's. Results are then
 * bit-identical for every block height, thread count and BLAS. */
#include "common/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "common/rng.h"

#define TOPK METRICS_TOPK
#define MASK_EXCL 1u
#define MASK_REL 2u
#define CHUNK 16
#define BOOT_STREAM 0x626f6f74u /* "boot": id of the bootstrap stream in RNG_EVAL */

/* ---------------- one row ---------------- */

typedef struct topk {
  float v[TOPK];
  uint32_t id[TOPK];
  uint32_t n;
} topk_t;

static inline float canon(float x) { return isnan(x) ? -INFINITY : x; }

/* a ranks below b */
static inline int worse(float va, uint32_t ia, float vb, uint32_t ib) {
  return va < vb || (va == vb && ia > ib);
}

static void heap_sift_down(topk_t *h, uint32_t k) {
  uint32_t n = h->n;
  float v = h->v[k];
  uint32_t id = h->id[k];
  for (;;) {
    uint32_t c = 2 * k + 1;
    if (c >= n) break;
    if (c + 1 < n && worse(h->v[c + 1], h->id[c + 1], h->v[c], h->id[c])) c++;
    if (!worse(h->v[c], h->id[c], v, id)) break;
    h->v[k] = h->v[c];
    h->id[k] = h->id[c];
    k = c;
  }
  h->v[k] = v;
  h->id[k] = id;
}

static void heap_push(topk_t *h, float v, uint32_t id) {
  uint32_t k = h->n++;
  while (k > 0) {
    uint32_t p = (k - 1) / 2;
    if (!worse(v, id, h->v[p], h->id[p])) break;
    h->v[k] = h->v[p];
    h->id[k] = h->id[p];
    k = p;
  }
  h->v[k] = v;
  h->id[k] = id;
}

static int in_list(const uint32_t *a, uint32_t n, uint32_t x) {
  for (uint32_t k = 0; k < n; k++)
    if (a[k] == x) return 1;
  return 0;
}

/* Where the row's membership facts come from: a mask (driver) or the plain
 * lists (metrics_user_from_scores, which may not allocate). In list mode the
 * lists may hold duplicates and out-of-range ids; in mask mode the caller
 * passes them deduplicated and in range. */
typedef struct rowsets {
  const uint8_t *mask;   /* (n_items) MASK_* bits, or NULL */
  const uint32_t *truth; /* relevant columns */
  uint32_t n_truth;
  const uint32_t *excl; /* excluded columns */
  uint32_t n_excl;
  uint32_t n_rel; /* distinct relevant items (denominators) */
} rowsets_t;

static inline int is_excl(const rowsets_t *r, uint32_t i) {
  return r->mask ? (r->mask[i] & MASK_EXCL) != 0 : in_list(r->excl, r->n_excl, i);
}
static inline int is_rel(const rowsets_t *r, uint32_t i) {
  return r->mask ? (r->mask[i] & MASK_REL) != 0 : in_list(r->truth, r->n_truth, i);
}

static void topk_select(topk_t *h, const float *s, uint32_t n, const rowsets_t *r) {
  uint32_t i = 0;
  h->n = 0;
  for (; i < n && h->n < TOPK; i++)
    if (!is_excl(r, i)) heap_push(h, canon(s[i]), i);
  if (h->n < TOPK) return;
  float thr = h->v[0];
  for (; i + CHUNK <= n; i += CHUNK) {
    const float *c = s + i;
    int any = 0;
    for (int j = 0; j < CHUNK; j++) any |= c[j] > thr;
    if (!any) continue;
    for (uint32_t j = 0; j < CHUNK; j++) {
      if (!(c[j] > thr) || is_excl(r, i + j)) continue;
      h->v[0] = c[j];
      h->id[0] = i + j;
      heap_sift_down(h, 0);
      thr = h->v[0];
    }
  }
  for (; i < n; i++) {
    if (!(s[i] > thr) || is_excl(r, i)) continue;
    h->v[0] = s[i];
    h->id[0] = i;
    heap_sift_down(h, 0);
    thr = h->v[0];
  }
}

/* 1 + number of non-excluded items that rank above item r with score v. */
static uint64_t rank_of(const float *s, uint32_t n, uint32_t r, float v, const rowsets_t *rs) {
  uint64_t cnt = 0;
  if (v == -INFINITY) { /* rare: NaN and -inf tie here, so compare canonical values */
    for (uint32_t i = 0; i < n; i++) {
      if (i == r || is_excl(rs, i)) continue;
      float x = canon(s[i]);
      cnt += x > v || (x == v && i < r);
    }
    return cnt + 1;
  }
  /* Items below r win ties (x >= v), items above r need x > v; NaN never wins. */
  uint32_t i = 0;
  for (; i + CHUNK <= r; i += CHUNK) {
    uint32_t c = 0;
    for (int j = 0; j < CHUNK; j++) c += s[i + j] >= v;
    cnt += c;
  }
  for (; i < r; i++) cnt += s[i] >= v;
  for (i = r + 1; i + CHUNK <= n; i += CHUNK) {
    uint32_t c = 0;
    for (int j = 0; j < CHUNK; j++) c += s[i + j] > v;
    cnt += c;
  }
  for (; i < n; i++) cnt += s[i] > v;
  /* Excluded items were counted by value: take back those that won. */
  for (uint32_t k = 0; k < rs->n_excl; k++) {
    uint32_t e = rs->excl[k];
    if (e >= n || e == r) continue;
    if (!rs->mask && in_list(rs->excl, k, e)) continue; /* duplicate */
    cnt -= s[e] > v || (s[e] == v && e < r);
  }
  return cnt + 1;
}

/* ---------------- canonical dot products (dot path) ---------------- */

float metrics_dot_exact(const float *u, const float *v, uint32_t dim) {
  /* float x float is exact in double; four partial sums in a fixed order. */
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  uint32_t k = 0;
  for (; k + 4 <= dim; k += 4) {
    a0 += (double)u[k] * v[k];
    a1 += (double)u[k + 1] * v[k + 1];
    a2 += (double)u[k + 2] * v[k + 2];
    a3 += (double)u[k + 3] * v[k + 3];
  }
  for (; k < dim; k++) a0 += (double)u[k] * v[k];
  return (float)((a0 + a1) + (a2 + a3));
}

/* One row of the dot path: canonical scores on demand, and the margin. */
typedef struct exact {
  const float *u, *V; /* user vector (dim), item matrix (n_items, dim) */
  uint32_t dim;
  double m; /* |sgemm score - canonical score| <= m for every item */
} exact_t;

static inline float ex_score(const exact_t *e, uint32_t i) {
  return metrics_dot_exact(e->u, e->V + (size_t)i * e->dim, e->dim);
}

/* Float bounds of a double: largest float <= x, smallest float >= x. */
static float round_down(double x) {
  float f = (float)x;
  return (double)f > x ? nextafterf(f, -INFINITY) : f;
}
static float round_up(double x) {
  float f = (float)x;
  return (double)f < x ? nextafterf(f, INFINITY) : f;
}

/* Candidate in any order: keep it if it beats the worst kept. */
static void heap_offer(topk_t *h, float v, uint32_t id) {
  if (h->n < TOPK) {
    heap_push(h, v, id);
  } else if (worse(h->v[0], h->id[0], v, id)) {
    h->v[0] = v;
    h->id[0] = id;
    heap_sift_down(h, 0);
  }
}

typedef struct band {
  topk_t a; /* top-K by sgemm score */
  float thr, lo; /* a's root score; round_down(thr - 2m) */
  double m2;
  uint32_t *side, ns; /* items within 2m below the root when passed over or evicted */
} band_t;

static inline void band_visit(band_t *b, float x, uint32_t i) {
  if (x > b->thr) {
    float ov = b->a.v[0];
    uint32_t oid = b->a.id[0];
    b->a.v[0] = x;
    b->a.id[0] = i;
    heap_sift_down(&b->a, 0);
    b->thr = b->a.v[0];
    b->lo = round_down((double)b->thr - b->m2);
    if (ov >= b->lo) b->side[b->ns++] = oid;
  } else {
    b->side[b->ns++] = i; /* thr - 2m <= x <= thr */
  }
}

/* Canonical top-K from sgemm scores s (non-excluded entries finite). Every
 * item of the canonical top-K has s >= s_K - 2m, s_K the K-th best s (K items
 * have s >= s_K, so canonical >= s_K - m, so the K-th best canonical score is
 * >= s_K - m); each such item ends in the heap or in side, since the root
 * only rises. side (n) is scratch; no item enters it twice. */
static void topk_select_band(topk_t *h, const float *s, uint32_t n, const rowsets_t *r,
                             const exact_t *e, uint32_t *side) {
  band_t b;
  b.a.n = 0;
  b.side = side;
  b.ns = 0;
  b.m2 = 2 * e->m;
  uint32_t i = 0;
  for (; i < n && b.a.n < TOPK; i++)
    if (!is_excl(r, i)) heap_push(&b.a, s[i], i);
  float lo_final = -INFINITY;
  if (b.a.n == TOPK) {
    b.thr = b.a.v[0];
    b.lo = round_down((double)b.thr - b.m2);
    for (; i + CHUNK <= n; i += CHUNK) {
      const float *c = s + i;
      int any = 0;
      for (int j = 0; j < CHUNK; j++) any |= c[j] >= b.lo;
      if (!any) continue;
      for (uint32_t j = 0; j < CHUNK; j++)
        if (c[j] >= b.lo && !is_excl(r, i + j)) band_visit(&b, c[j], i + j);
    }
    for (; i < n; i++)
      if (s[i] >= b.lo && !is_excl(r, i)) band_visit(&b, s[i], i);
    lo_final = b.lo;
  }
  h->n = 0;
  for (uint32_t k = 0; k < b.a.n; k++) heap_offer(h, ex_score(e, b.a.id[k]), b.a.id[k]);
  for (uint32_t k = 0; k < b.ns; k++)
    if (s[side[k]] >= lo_final) heap_offer(h, ex_score(e, side[k]), side[k]);
}

/* 1 + number of non-excluded items whose canonical score beats item r's (v).
 * Items with s > v + m surely do, s < v - m surely not; the rest are rescored. */
static uint64_t rank_of_band(const float *s, uint32_t n, uint32_t r, float v,
                             const rowsets_t *rs, const exact_t *e) {
  const float hi = round_up((double)v + e->m), lo = round_down((double)v - e->m);
  uint64_t cnt = 0;
  uint32_t i = 0;
  for (;;) {
    uint32_t len = n - i < CHUNK ? n - i : CHUNK;
    if (len == 0) break;
    const float *c = s + i;
    uint32_t above = 0;
    int any = 0;
    if (len == CHUNK) {
      for (int j = 0; j < CHUNK; j++) {
        above += c[j] > hi;
        any |= (c[j] >= lo) & (c[j] <= hi);
      }
    } else {
      for (uint32_t j = 0; j < len; j++) {
        above += c[j] > hi;
        any |= (c[j] >= lo) & (c[j] <= hi);
      }
    }
    cnt += above;
    if (any)
      for (uint32_t j = 0; j < len; j++) {
        uint32_t t = i + j;
        if (!(c[j] >= lo && c[j] <= hi) || t == r || is_excl(rs, t)) continue;
        float x = ex_score(e, t);
        cnt += x > v || (x == v && t < r);
      }
    i += len;
  }
  for (uint32_t k = 0; k < rs->n_excl; k++) /* normally -inf: none counted */
    cnt -= s[rs->excl[k]] > hi;
  return cnt + 1;
}

/* ---------------- one row: metrics ---------------- */

static double discount(uint32_t p) { return 1.0 / log2((double)p + 2.0); }

/* ex == NULL: s is the score itself. Otherwise s is an sgemm row and the
 * ranking uses ex's canonical scores; side (n) is scratch. */
static void rank_row(metrics_user_t *out, const float *s, uint32_t n, const rowsets_t *rs,
                     const exact_t *ex, uint32_t *side) {
  topk_t h;
  if (ex)
    topk_select_band(&h, s, n, rs, ex, side);
  else
    topk_select(&h, s, n, rs);
  /* heap -> rank order, best first (insertion sort of <= 20) */
  for (uint32_t a = 1; a < h.n; a++) {
    float v = h.v[a];
    uint32_t id = h.id[a];
    uint32_t b = a;
    for (; b > 0 && worse(h.v[b - 1], h.id[b - 1], v, id); b--) {
      h.v[b] = h.v[b - 1];
      h.id[b] = h.id[b - 1];
    }
    h.v[b] = v;
    h.id[b] = id;
  }
  double dcg = 0, idcg = 0;
  uint32_t hits20 = 0, first = UINT32_MAX;
  for (uint32_t p = 0; p < h.n; p++) {
    if (!is_rel(rs, h.id[p])) continue;
    if (first == UINT32_MAX) first = p;
    if (p < 10) dcg += discount(p);
    hits20++;
  }
  uint32_t ni = rs->n_rel < 10 ? rs->n_rel : 10;
  for (uint32_t p = 0; p < ni; p++) idcg += discount(p);
  uint32_t nr = rs->n_rel < TOPK ? rs->n_rel : TOPK;
  out->ndcg10 = idcg > 0 ? (float)(dcg / idcg) : 0.0f;
  out->recall20 = nr > 0 ? (float)((double)hits20 / nr) : 0.0f;
  out->hr10 = first < 10 ? 1.0f : 0.0f;
  if (first != UINT32_MAX) {
    out->mrr = (float)(1.0 / (first + 1.0));
    return;
  }
  /* No relevant item in the top 20: find the best relevant one and count. */
  uint32_t best = UINT32_MAX;
  float bv = -INFINITY;
  for (uint32_t k = 0; k < rs->n_truth; k++) {
    uint32_t t = rs->truth[k];
    if (t >= n || is_excl(rs, t)) continue;
    float v = ex ? ex_score(ex, t) : canon(s[t]);
    if (best == UINT32_MAX || worse(bv, best, v, t)) {
      best = t;
      bv = v;
    }
  }
  if (best == UINT32_MAX) {
    out->mrr = 0.0f;
    return;
  }
  uint64_t rank = ex ? rank_of_band(s, n, best, bv, rs, ex) : rank_of(s, n, best, bv, rs);
  out->mrr = (float)(1.0 / (double)rank);
}

void metrics_user_from_scores(metrics_user_t *out, const float *scores, uint32_t n_items,
                              const uint32_t *truth, uint32_t n_truth,
                              const uint32_t *excl, uint32_t n_excl) {
  rowsets_t rs = {NULL, truth, n_truth, excl, n_excl, 0};
  for (uint32_t k = 0; k < n_truth; k++)
    rs.n_rel += !in_list(truth, k, truth[k]);
  rank_row(out, scores, n_items, &rs, NULL, NULL);
}

/* ---------------- the driver over evaluation users ---------------- */

static int check_csr(const uint32_t *ptr, const uint32_t *idx, uint32_t n, uint32_t n_items,
                     const char *what, fm_err *err) {
  if (n == 0) return 0;
  if (!ptr) return fm_fail(err, "metrics: dataset has %u evaluation users but no %s_ptr", n, what);
  if (ptr[0] != 0) return fm_fail(err, "metrics: %s_ptr[0] = %u, expected 0", what, ptr[0]);
  for (uint32_t u = 0; u < n; u++)
    if (ptr[u + 1] < ptr[u])
      return fm_fail(err, "metrics: %s_ptr decreases at evaluation user %u", what, u);
  if (ptr[n] > 0 && !idx) return fm_fail(err, "metrics: %s is NULL", what);
  for (uint32_t k = 0; k < ptr[n]; k++)
    if (idx[k] >= n_items)
      return fm_fail(err, "metrics: %s[%u] = %u is not an item (n_items = %u)", what, k, idx[k],
                     n_items);
  return 0;
}

uint32_t metrics_default_block(uint32_t n_items) {
  /* About 2 MiB of scores per block, so the ranking passes read from cache
   * what sgemm just wrote; at least 8 rows so sgemm stays efficient. */
  uint32_t b = (uint32_t)((2u << 20) / (4ull * (n_items ? n_items : 1)));
  if (b < 8) b = 8;
  if (b > METRICS_MAX_BLOCK) b = METRICS_MAX_BLOCK;
  return b;
}

/* The dot path's data; also the ctx of its score function. */
typedef struct dot_ctx {
  const float *U, *V; /* (n_eval, dim), (n_items, dim) */
  uint32_t dim, n_items;
  double vmax; /* max_i |v_i| (2-norm), or inf / NaN if V is not finite */
} dot_ctx_t;

/* Shared by metrics_rank_scores (dot == NULL: the scores are the ranking
 * scores) and the dot path (dot != NULL: rows from sgemm, ranked on the
 * canonical scores). */
static int rank_driver(metrics_t *out, metrics_user_t *per_user, const dataset_t *ds,
                       metrics_score_fn fn, void *ctx, const uint32_t *item_col, uint32_t block,
                       const dot_ctx_t *dot, fm_err *err) {
  memset(out, 0, sizeof *out);
  const uint32_t n_items = ds->n_items, n_eval = ds->n_eval;
  if (check_csr(ds->truth_ptr, ds->truth, n_eval, n_items, "truth", err) ||
      check_csr(ds->excl_ptr, ds->excl, n_eval, n_items, "excl", err))
    return -1;
  if (n_eval == 0) return 0;
  if (n_items == 0) return fm_fail(err, "metrics: empty catalogue (n_items = 0)");
  if (block == 0) block = metrics_default_block(n_items);
  if (block > n_eval) block = n_eval;

  uint32_t max_truth = 0, max_excl = 0;
  for (uint32_t u = 0; u < n_eval; u++) {
    uint32_t a = ds->truth_ptr[u + 1] - ds->truth_ptr[u], b = ds->excl_ptr[u + 1] - ds->excl_ptr[u];
    if (a > max_truth) max_truth = a;
    if (b > max_excl) max_excl = b;
  }
  float *S = malloc((size_t)block * n_items * sizeof *S);
  uint8_t *mask = calloc(n_items, 1);
  uint32_t *lists = malloc(((size_t)max_truth + max_excl + 1) * sizeof *lists);
  uint32_t *side = dot ? malloc((size_t)n_items * sizeof *side) : NULL;
  if (!S || !mask || !lists || (dot && !side)) {
    free(S), free(mask), free(lists), free(side);
    return fm_fail(err, "metrics: out of memory for a %u x %u score block", block, n_items);
  }
  uint32_t *tl = lists, *el = lists + max_truth;
  double sum[4] = {0, 0, 0, 0};
  uint32_t n_users = 0;
  int rc = 0;
  for (uint32_t b0 = 0; b0 < n_eval; b0 += block) {
    uint32_t nb = n_eval - b0 < block ? n_eval - b0 : block;
    if (fn(S, b0, nb, ctx, err) != 0) {
      rc = fm_wrap(err, "metrics: scoring evaluation users %u..%u", b0, b0 + nb - 1);
      break;
    }
    for (uint32_t r = 0; r < nb; r++) {
      uint32_t u = b0 + r;
      const uint32_t *tr = ds->truth + ds->truth_ptr[u], *ex = ds->excl + ds->excl_ptr[u];
      uint32_t ntr = ds->truth_ptr[u + 1] - ds->truth_ptr[u];
      uint32_t nex = ds->excl_ptr[u + 1] - ds->excl_ptr[u];
      metrics_user_t mu;
      if (ntr == 0) { /* nothing to find: not counted */
        if (per_user) per_user[u].ndcg10 = per_user[u].recall20 = per_user[u].hr10 =
                          per_user[u].mrr = NAN;
        continue;
      }
      float *s = S + (size_t)r * n_items;
      exact_t exs, *exact = NULL;
      if (dot) {
        exs = (exact_t){dot->U + (size_t)u * dot->dim, dot->V, dot->dim, 0};
        double nu = 0;
        for (uint32_t k = 0; k < dot->dim; k++) nu += (double)exs.u[k] * exs.u[k];
        double bound = sqrt(nu) * dot->vmax;
        if (bound <= 1e30) { /* finite, and sgemm cannot overflow */
          /* relative bound, plus an absolute term for subnormal (or flushed) ops */
          exs.m = (dot->dim + 2.0) * 0x1p-23 * bound + (2.0 * dot->dim + 4.0) * 0x1p-126;
          exact = &exs;
        } else { /* non-finite vectors: rank the canonical scores themselves */
          for (uint32_t i = 0; i < n_items; i++) s[i] = ex_score(&exs, i);
        }
      }
      rowsets_t rs = {mask, tl, 0, el, 0, 0};
      for (uint32_t k = 0; k < nex; k++) {
        uint32_t c = item_col ? item_col[ex[k]] : ex[k];
        s[c] = -INFINITY;
        if (!(mask[c] & MASK_EXCL)) {
          mask[c] |= MASK_EXCL;
          el[rs.n_excl++] = c;
        }
      }
      for (uint32_t k = 0; k < ntr; k++) {
        uint32_t c = item_col ? item_col[tr[k]] : tr[k];
        if (!(mask[c] & MASK_REL)) {
          mask[c] |= MASK_REL;
          tl[rs.n_truth++] = c;
        }
      }
      rs.n_rel = rs.n_truth;
      rank_row(&mu, s, n_items, &rs, exact, side);
      for (uint32_t k = 0; k < rs.n_excl; k++) mask[el[k]] = 0;
      for (uint32_t k = 0; k < rs.n_truth; k++) mask[tl[k]] = 0;
      if (per_user) per_user[u] = mu;
      /* Same order and precision as metrics_mean, so both agree exactly. */
      sum[0] += mu.ndcg10, sum[1] += mu.recall20, sum[2] += mu.hr10, sum[3] += mu.mrr;
      n_users++;
    }
  }
  free(S), free(mask), free(lists), free(side);
  if (rc) return rc;
  out->n_users = n_users;
  if (n_users) {
    out->ndcg10 = sum[0] / n_users, out->recall20 = sum[1] / n_users;
    out->hr10 = sum[2] / n_users, out->mrr = sum[3] / n_users;
  }
  return 0;
}

int metrics_rank_scores(metrics_t *out, metrics_user_t *per_user, const dataset_t *ds,
                        metrics_score_fn fn, void *ctx, const uint32_t *item_col,
                        uint32_t block, fm_err *err) {
  return rank_driver(out, per_user, ds, fn, ctx, item_col, block, NULL, err);
}

/* ---------------- dot-product and popularity scorers ---------------- */

static int dot_scores(float *S, uint32_t first, uint32_t n, void *vctx, fm_err *err) {
  const dot_ctx_t *c = vctx;
  /* U rows are already the evaluation users in order: the block is a slice. */
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)c->n_items, (int)c->dim, 1.0f,
              c->U + (size_t)first * c->dim, (int)c->dim, c->V, (int)c->dim, 0.0f, S,
              (int)c->n_items);
  return 0;
}

int metrics_rank_dot_block(metrics_t *out, metrics_user_t *per_user, const float *U,
                           const float *V, uint32_t dim, const dataset_t *ds, uint32_t block,
                           fm_err *err) {
  memset(out, 0, sizeof *out);
  if (dim == 0 || dim > INT32_MAX || ds->n_items > INT32_MAX)
    return fm_fail(err, "metrics: bad dimensions (dim %u, n_items %u)", dim, ds->n_items);
  if (ds->n_eval > 0 && (!U || !V)) return fm_fail(err, "metrics: NULL user or item matrix");
  double vmax = 0;
  for (uint32_t i = 0; i < ds->n_items && ds->n_eval > 0; i++) {
    double nv = 0;
    for (uint32_t k = 0; k < dim; k++) nv += (double)V[(size_t)i * dim + k] * V[(size_t)i * dim + k];
    if (!(nv <= vmax * vmax)) vmax = sqrt(nv); /* NaN propagates */
    if (isnan(nv)) break;
  }
  dot_ctx_t c = {U, V, dim, ds->n_items, vmax};
  return rank_driver(out, per_user, ds, dot_scores, &c, NULL, block, &c, err);
}

int metrics_rank_dot(metrics_t *out, metrics_user_t *per_user, const float *U, const float *V,
                     uint32_t dim, const dataset_t *ds, fm_err *err) {
  return metrics_rank_dot_block(out, per_user, U, V, dim, ds, 0, err);
}

static int pop_scores(float *S, uint32_t first, uint32_t n, void *vctx, fm_err *err) {
  const dataset_t *ds = vctx;
  for (uint32_t r = 0; r < n; r++)
    memcpy(S + (size_t)r * ds->n_items, ds->item_pop, ds->n_items * sizeof *S);
  return 0;
}

int metrics_rank_popularity(metrics_t *out, metrics_user_t *per_user, const dataset_t *ds,
                            fm_err *err) {
  if (ds->n_eval > 0 && ds->n_items > 0 && !ds->item_pop)
    return fm_fail(err, "metrics: dataset has no item_pop");
  return metrics_rank_scores(out, per_user, ds, pop_scores, (void *)ds, NULL, 0, err);
}

/* ---------------- means and bootstrap ---------------- */

void metrics_mean(metrics_t *out, const metrics_user_t *per_user, uint32_t n) {
  double sum[4] = {0, 0, 0, 0};
  uint32_t m = 0;
  for (uint32_t u = 0; u < n; u++) {
    const metrics_user_t *p = &per_user[u];
    if (isnan(p->ndcg10)) continue; /* user with nothing to find */
    sum[0] += p->ndcg10, sum[1] += p->recall20, sum[2] += p->hr10, sum[3] += p->mrr;
    m++;
  }
  memset(out, 0, sizeof *out);
  out->n_users = m;
  if (m) {
    out->ndcg10 = sum[0] / m, out->recall20 = sum[1] / m;
    out->hr10 = sum[2] / m, out->mrr = sum[3] / m;
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double quantile_sorted(const double *x, uint32_t n, double q) {
  double h = q * (n - 1);
  uint32_t k = (uint32_t)h;
  if (k + 1 >= n) return x[n - 1];
  return x[k] + (h - k) * (x[k + 1] - x[k]);
}

void metrics_bootstrap_ndcg(double *lo, double *hi, const metrics_user_t *per_user, uint32_t n,
                            uint32_t n_boot, uint64_t seed) {
  *lo = *hi = NAN;
  uint32_t m = 0;
  for (uint32_t u = 0; u < n; u++) m += !isnan(per_user[u].ndcg10);
  if (m == 0 || n_boot == 0) return;
  float *v = malloc((size_t)m * sizeof *v);
  double *means = malloc((size_t)n_boot * sizeof *means);
  if (!v || !means) {
    free(v), free(means);
    return;
  }
  m = 0;
  for (uint32_t u = 0; u < n; u++)
    if (!isnan(per_user[u].ndcg10)) v[m++] = per_user[u].ndcg10;
  rng_t r;
  rng_seed(&r, seed, RNG_EVAL, BOOT_STREAM);
  for (uint32_t b = 0; b < n_boot; b++) {
    double s = 0;
    for (uint32_t k = 0; k < m; k++) s += v[rng_below(&r, m)];
    means[b] = s / m;
  }
  qsort(means, n_boot, sizeof *means, cmp_double);
  *lo = quantile_sorted(means, n_boot, 0.025);
  *hi = quantile_sorted(means, n_boot, 0.975);
  free(v), free(means);
}
