/* common/metrics.c: full-ranking evaluation (see metrics.h).
 *
 * The ranking order everywhere: higher score first, equal scores by lower
 * column (item id, or the caller's tie-break column order) first. NaN scores
 * rank as -INFINITY. Excluded items are not ranked at all.
 *
 * Three implementations of one definition, checked against each other (and
 * against a full sort) by tests/unit/test_metrics.c:
 *  - the reference (metrics_user_from_scores): a top-20 min-heap pass over the
 *    row, and a counting pass for MRR when no relevant item made the top 20;
 *  - the dot path (metrics_rank_dot*, metrics_top_dot): sgemm tiles and a
 *    streaming top-20 heap per user (below);
 *  - the row driver's fast path (metrics_rank_scores, and the dot path's
 *    users whose vectors are not finite): one SSE pass per row gives the
 *    maximum of every 16-item chunk and the MRR count (the best relevant item
 *    is found first); the 20th largest of ~40 group maxima bounds the 20th
 *    best score from below, so only the few items above it are selected
 *    exactly. No per-item heap work; the row is read once. The driver sets
 *    excluded items to -INFINITY in its buffer and keeps a per-item mask, so
 *    results stay exact when real scores are -INFINITY too.
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
 * canonically: the top-K candidates, and for MRR the few items whose sgemm
 * score is within m of the best relevant item's. Results are then
 * bit-identical for every block height, tile width, thread count and BLAS.
 *
 */
#include "common/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/blas.h"
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

/* ---------------- one row: metrics ---------------- */

static double discount(uint32_t p) { return 1.0 / log2((double)p + 2.0); }

/* Sorts the kept items into rank order and fills NDCG, Recall and HR.
 * Returns the position of the first relevant item, or UINT32_MAX. */
static uint32_t finish_topk(metrics_user_t *out, topk_t *h, const rowsets_t *rs) {
  for (uint32_t a = 1; a < h->n; a++) { /* insertion sort of <= 20, best first */
    float v = h->v[a];
    uint32_t id = h->id[a];
    uint32_t b = a;
    for (; b > 0 && worse(h->v[b - 1], h->id[b - 1], v, id); b--) {
      h->v[b] = h->v[b - 1];
      h->id[b] = h->id[b - 1];
    }
    h->v[b] = v;
    h->id[b] = id;
  }
  double dcg = 0, idcg = 0;
  uint32_t hits20 = 0, first = UINT32_MAX;
  for (uint32_t p = 0; p < h->n; p++) {
    if (!is_rel(rs, h->id[p])) continue;
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
  out->mrr = first != UINT32_MAX ? (float)(1.0 / (first + 1.0)) : 0.0f;
  return first;
}

/* The reference path (metrics_user_from_scores): one heap pass, and a count
 * pass only when no relevant item made the top 20. */
static void rank_row(metrics_user_t *out, const float *s, uint32_t n, const rowsets_t *rs) {
  topk_t h;
  topk_select(&h, s, n, rs);
  if (finish_topk(out, &h, rs) != UINT32_MAX) return;
  uint32_t best = UINT32_MAX;
  float bv = -INFINITY;
  for (uint32_t k = 0; k < rs->n_truth; k++) {
    uint32_t t = rs->truth[k];
    if (t >= n || is_excl(rs, t)) continue;
    float v = canon(s[t]);
    if (best == UINT32_MAX || worse(bv, best, v, t)) {
      best = t;
      bv = v;
    }
  }
  if (best != UINT32_MAX) out->mrr = (float)(1.0 / (double)rank_of(s, n, best, bv, rs));
}

/* ---------------- the driver's fast path ----------------
 *
 * One vectorised pass over the row computes (a) the maximum of every chunk
 * of CHUNK items and (b) the MRR count against the best relevant item, known
 * beforehand. From the chunk maxima, T = the K-th largest maximum of
 * about 2K groups of chunks is a lower bound of the K-th best score (K
 * distinct items reach it), so only items with score >= T (- 2m on the dot
 * path) are candidates; the exact top K is selected among those few. No
 * per-item heap work, and the row is read once. Excluded items must already
 * be -INFINITY in s. */

typedef struct scratch {
  float *cmax;    /* (n / CHUNK + 1) */
  float *gmax;    /* (n + 4 * TOPK + 2) */
  uint32_t *cand; /* (n) */
} scratch_t;

typedef struct mrr_q {
  uint32_t r; /* best relevant item, or UINT32_MAX */
  float v;    /* its ranking (canonical) score */
  float lo, hi; /* s > hi surely beats r; lo <= s <= hi is rescored */
} mrr_q_t;

/* Items of one chunk inside [lo, hi]: rescore and count those beating r. */
static uint64_t band_chunk(const float *c, uint32_t base, uint32_t len, const mrr_q_t *q,
                           const rowsets_t *rs, const exact_t *ex) {
  uint64_t cnt = 0;
  if (q->r == UINT32_MAX) return 0;
  for (uint32_t j = 0; j < len; j++) {
    uint32_t t = base + j;
    if (!(c[j] >= q->lo && c[j] <= q->hi) || t == q->r || is_excl(rs, t)) continue;
    float y = ex ? ex_score(ex, t) : c[j];
    cnt += y > q->v || (y == q->v && t < q->r);
  }
  return cnt;
}

#if defined(__SSE2__)
/* The MRR count of one chunk of 16 scores x0..x3 (scan_row and dot_segment):
 * adds to *vcnt, lane by lane, the scores above hi (surely ranked above the
 * best relevant item); nonzero if any score lies in [lo, hi] (band_chunk
 * rescores those). */
static inline __attribute__((always_inline)) int mrr_chunk_sse(__m128 x0, __m128 x1, __m128 x2, __m128 x3,
                                                               __m128 vlo, __m128 vhi, __m128i *vcnt) {
  __m128 a0 = _mm_cmpgt_ps(x0, vhi), a1 = _mm_cmpgt_ps(x1, vhi);
  __m128 a2 = _mm_cmpgt_ps(x2, vhi), a3 = _mm_cmpgt_ps(x3, vhi);
  __m128i n = *vcnt;
  n = _mm_sub_epi32(n, _mm_castps_si128(a0));
  n = _mm_sub_epi32(n, _mm_castps_si128(a1));
  n = _mm_sub_epi32(n, _mm_castps_si128(a2));
  n = _mm_sub_epi32(n, _mm_castps_si128(a3));
  *vcnt = n;
  __m128 b0 = _mm_andnot_ps(a0, _mm_cmpge_ps(x0, vlo)), b1 = _mm_andnot_ps(a1, _mm_cmpge_ps(x1, vlo));
  __m128 b2 = _mm_andnot_ps(a2, _mm_cmpge_ps(x2, vlo)), b3 = _mm_andnot_ps(a3, _mm_cmpge_ps(x3, vlo));
  return _mm_movemask_ps(_mm_or_ps(_mm_or_ps(b0, b1), _mm_or_ps(b2, b3)));
}
#endif

/* g > 0: also gmax[k] = max of cmax over chunks [k g, (k+1) g). */
static uint64_t scan_row(float *cmax, float *gmax, uint32_t g, const float *s, uint32_t n,
                         const mrr_q_t *q, const rowsets_t *rs, const exact_t *ex) {
  uint64_t cnt = 0;
  uint32_t nfull = n / CHUNK, ci = 0;
  uint32_t gi = 0, gleft = g; /* current group and chunks left in it */
  float gm = -INFINITY;
#if defined(__SSE2__)
  const __m128 vlo = _mm_set1_ps(q->lo), vhi = _mm_set1_ps(q->hi), ninf = _mm_set1_ps(-INFINITY);
  __m128i vcnt = _mm_setzero_si128();
  for (; ci < nfull; ci++) {
    const float *c = s + (size_t)ci * CHUNK;
    __m128 x0 = _mm_loadu_ps(c), x1 = _mm_loadu_ps(c + 4);
    __m128 x2 = _mm_loadu_ps(c + 8), x3 = _mm_loadu_ps(c + 12);
    /* _mm_max_ps(x, acc) returns acc when x is NaN: NaN is never a maximum */
    __m128 mx = _mm_max_ps(_mm_max_ps(x1, _mm_max_ps(x0, ninf)),
                           _mm_max_ps(x3, _mm_max_ps(x2, ninf)));
    mx = _mm_max_ps(mx, _mm_movehl_ps(mx, mx));
    mx = _mm_max_ss(mx, _mm_shuffle_ps(mx, mx, 1));
    float cm = _mm_cvtss_f32(mx);
    cmax[ci] = cm;
    gm = cm > gm ? cm : gm;
    if (g && --gleft == 0) gmax[gi++] = gm, gm = -INFINITY, gleft = g;
    if (mrr_chunk_sse(x0, x1, x2, x3, vlo, vhi, &vcnt))
      cnt += band_chunk(c, ci * CHUNK, CHUNK, q, rs, ex);
  }
  uint32_t lanes[4];
  _mm_storeu_si128((__m128i *)lanes, vcnt);
  cnt += (uint64_t)lanes[0] + lanes[1] + lanes[2] + lanes[3];
#endif
  /* the rest (all of it without SSE2), chunk by chunk, the same way */
  for (; ci * CHUNK < n; ci++) {
    const float *c = s + (size_t)ci * CHUNK;
    uint32_t len = n - ci * CHUNK < CHUNK ? n - ci * CHUNK : CHUNK;
    float mx = -INFINITY;
    int band = 0;
    for (uint32_t j = 0; j < len; j++) {
      mx = c[j] > mx ? c[j] : mx;
      cnt += c[j] > q->hi;
      band |= c[j] >= q->lo && c[j] <= q->hi;
    }
    cmax[ci] = mx;
    gm = mx > gm ? mx : gm;
    if (g && --gleft == 0) gmax[gi++] = gm, gm = -INFINITY, gleft = g;
    if (band) cnt += band_chunk(c, ci * CHUNK, len, q, rs, ex);
  }
  if (g > 0 && gleft != g) gmax[gi] = gm; /* the last, partial group */
  return cnt;
}

/* K-th largest of x (G >= K values, no NaN) with a min-heap of K floats. */
static float kth_largest(const float *x, uint32_t G) {
  float h[TOPK];
  uint32_t n = 0;
  for (uint32_t i = 0; i < G; i++) {
    float v = x[i];
    if (n < TOPK) {
      uint32_t k = n++;
      for (; k > 0 && h[(k - 1) / 2] > v; k = (k - 1) / 2) h[k] = h[(k - 1) / 2];
      h[k] = v;
    } else if (v > h[0]) {
      uint32_t k = 0;
      for (;;) {
        uint32_t c = 2 * k + 1;
        if (c >= TOPK) break;
        if (c + 1 < TOPK && h[c + 1] < h[c]) c++;
        if (!(h[c] < v)) break;
        h[k] = h[c];
        k = c;
      }
      h[k] = v;
    }
  }
  return h[0];
}

static void rank_row_fast(metrics_user_t *out, const float *s, uint32_t n, const rowsets_t *rs,
                          const exact_t *ex, scratch_t *w, topk_t *keep) {
  const double m = ex ? ex->m : 0;
  /* the best relevant item, for MRR (on the dot path: rescore the few
   * relevant items whose sgemm score is within 2m of the best one) */
  mrr_q_t q = {UINT32_MAX, 0, INFINITY, INFINITY};
  float smax = -INFINITY;
  for (uint32_t k = 0; k < rs->n_truth; k++)
    if (!is_excl(rs, rs->truth[k]) && canon(s[rs->truth[k]]) >= smax) smax = canon(s[rs->truth[k]]);
  const float sfloor = ex ? round_down((double)smax - 2 * m) : smax;
  for (uint32_t k = 0; k < rs->n_truth; k++) {
    uint32_t t = rs->truth[k];
    if (is_excl(rs, t) || !(canon(s[t]) >= sfloor)) continue;
    float v = ex ? ex_score(ex, t) : canon(s[t]);
    if (q.r == UINT32_MAX || worse(q.v, q.r, v, t)) q.r = t, q.v = v;
  }
  int slow_mrr = 0;
  if (q.r != UINT32_MAX) {
    if (q.v == -INFINITY) { /* ties with NaN items: the reference count */
      slow_mrr = 1;
    } else {
      q.lo = ex ? round_down((double)q.v - m) : q.v;
      q.hi = ex ? round_up((double)q.v + m) : q.v;
    }
  }
  mrr_q_t qs = q;
  if (slow_mrr) qs.r = UINT32_MAX;
  /* T: K-th largest of about 2K group maxima (or of the scores, when short) */
  const uint32_t nc = (n + CHUNK - 1) / CHUNK;
  const uint32_t g = nc >= 2 * TOPK ? nc / (2 * TOPK) : 0;
  uint32_t G = g ? (nc + g - 1) / g : n;
  uint64_t above = scan_row(w->cmax, w->gmax, g, s, n, &qs, rs, ex);
  if (!g)
    for (uint32_t i = 0; i < n; i++) w->gmax[i] = canon(s[i]);
  float T = G >= TOPK ? kth_largest(w->gmax, G) : -INFINITY;
  uint32_t nk = 0;
  if (T == -INFINITY) { /* fewer than K finite scores: every item competes */
    for (uint32_t i = 0; i < n; i++)
      if (!is_excl(rs, i)) w->cand[nk++] = i;
  } else {
    float lo = ex ? round_down((double)T - 2 * m) : T;
    for (uint32_t c = 0; c < nc; c++) {
      if (!(w->cmax[c] >= lo)) continue;
      uint32_t i0 = c * CHUNK, end = i0 + CHUNK < n ? i0 + CHUNK : n;
#if defined(__SSE2__)
      if (end - i0 == CHUNK) { /* which of the 16 pass, as a bit mask */
        const __m128 vl = _mm_set1_ps(lo);
        unsigned bits = (unsigned)_mm_movemask_ps(_mm_cmpge_ps(_mm_loadu_ps(s + i0), vl)) |
                        (unsigned)_mm_movemask_ps(_mm_cmpge_ps(_mm_loadu_ps(s + i0 + 4), vl)) << 4 |
                        (unsigned)_mm_movemask_ps(_mm_cmpge_ps(_mm_loadu_ps(s + i0 + 8), vl)) << 8 |
                        (unsigned)_mm_movemask_ps(_mm_cmpge_ps(_mm_loadu_ps(s + i0 + 12), vl)) << 12;
        for (; bits; bits &= bits - 1) {
          uint32_t i = i0 + (uint32_t)__builtin_ctz(bits);
          if (!is_excl(rs, i)) w->cand[nk++] = i;
        }
        continue;
      }
#endif
      for (uint32_t i = i0; i < end; i++)
        if (s[i] >= lo && !is_excl(rs, i)) w->cand[nk++] = i;
    }
  }
  topk_t h;
  h.n = 0;
  for (uint32_t k = 0; k < nk; k++) {
    uint32_t i = w->cand[k];
    heap_offer(&h, ex ? ex_score(ex, i) : canon(s[i]), i);
  }
  uint32_t first = finish_topk(out, &h, rs);
  if (keep) *keep = h; /* the top K, best first */
  if (first != UINT32_MAX || q.r == UINT32_MAX) return;
  /* excluded items are -inf here, so `above` never counted one */
  uint64_t rank = slow_mrr ? rank_of(s, n, q.r, q.v, rs) : above + 1;
  out->mrr = (float)(1.0 / (double)rank);
}

void metrics_user_from_scores(metrics_user_t *out, const float *scores, uint32_t n_items,
                              const uint32_t *truth, uint32_t n_truth,
                              const uint32_t *excl, uint32_t n_excl) {
  rowsets_t rs = {NULL, truth, n_truth, excl, n_excl, 0};
  for (uint32_t k = 0; k < n_truth; k++)
    rs.n_rel += !in_list(truth, k, truth[k]);
  rank_row(out, scores, n_items, &rs);
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

/* Ranks one scored row s (n_items, column order) of evaluation user u:
 * excluded items set to -INFINITY, membership in mask (all zero on entry and
 * on return), lists tl / el of at least the user's truth / excl lengths. */
static void rank_scored_row(metrics_user_t *mu, float *s, const dataset_t *ds, uint32_t u,
                            const uint32_t *item_col, uint8_t *mask, uint32_t *tl, uint32_t *el,
                            scratch_t *w, topk_t *keep) {
  const uint32_t *tr = ds->truth + ds->truth_ptr[u], *ex = ds->excl + ds->excl_ptr[u];
  uint32_t ntr = ds->truth_ptr[u + 1] - ds->truth_ptr[u];
  uint32_t nex = ds->excl_ptr[u + 1] - ds->excl_ptr[u];
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
  rank_row_fast(mu, s, ds->n_items, &rs, NULL, w, keep);
  for (uint32_t k = 0; k < rs.n_excl; k++) mask[el[k]] = 0;
  for (uint32_t k = 0; k < rs.n_truth; k++) mask[tl[k]] = 0;
}

static void max_lists(const dataset_t *ds, uint32_t *max_truth, uint32_t *max_excl) {
  *max_truth = *max_excl = 0;
  for (uint32_t u = 0; u < ds->n_eval; u++) {
    uint32_t a = ds->truth_ptr[u + 1] - ds->truth_ptr[u], b = ds->excl_ptr[u + 1] - ds->excl_ptr[u];
    if (a > *max_truth) *max_truth = a;
    if (b > *max_excl) *max_excl = b;
  }
}

static int scratch_alloc(scratch_t *w, uint32_t n_items) {
  w->cmax = malloc(((size_t)n_items / CHUNK + 1) * sizeof *w->cmax);
  w->gmax = malloc(((size_t)n_items + 4 * TOPK + 2) * sizeof *w->gmax);
  w->cand = malloc(((size_t)n_items + 1) * sizeof *w->cand);
  return w->cmax && w->gmax && w->cand ? 0 : -1;
}
static void scratch_free(scratch_t *w) { free(w->cmax), free(w->gmax), free(w->cand); }

static void set_nan(metrics_user_t *m) { m->ndcg10 = m->recall20 = m->hr10 = m->mrr = NAN; }

/* metrics_rank_scores: rows from the caller's scorer, ranked as they are. */
static int rank_driver(metrics_t *out, metrics_user_t *per_user, const dataset_t *ds,
                       metrics_score_fn fn, void *ctx, const uint32_t *item_col, uint32_t block,
                       fm_err *err) {
  memset(out, 0, sizeof *out);
  const uint32_t n_items = ds->n_items, n_eval = ds->n_eval;
  if (check_csr(ds->truth_ptr, ds->truth, n_eval, n_items, "truth", err) ||
      check_csr(ds->excl_ptr, ds->excl, n_eval, n_items, "excl", err))
    return -1;
  if (n_eval == 0) return 0;
  if (n_items == 0) return fm_fail(err, "metrics: empty catalogue (n_items = 0)");
  if (block == 0) block = metrics_default_block(n_items);
  if (block > n_eval) block = n_eval;

  uint32_t max_truth, max_excl;
  max_lists(ds, &max_truth, &max_excl);
  float *S = malloc((size_t)block * n_items * sizeof *S);
  uint8_t *mask = calloc(n_items, 1);
  uint32_t *lists = malloc(((size_t)max_truth + max_excl + 1) * sizeof *lists);
  scratch_t w;
  int ok = scratch_alloc(&w, n_items) == 0;
  if (!S || !mask || !lists || !ok) {
    free(S), free(mask), free(lists), scratch_free(&w);
    return fm_fail(err, "metrics: out of memory for a %u x %u score block", block, n_items);
  }
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
      metrics_user_t mu;
      if (ds->truth_ptr[u + 1] == ds->truth_ptr[u]) { /* nothing to find: not counted */
        if (per_user) set_nan(&per_user[u]);
        continue;
      }
      rank_scored_row(&mu, S + (size_t)r * n_items, ds, u, item_col, mask, lists,
                      lists + max_truth, &w, NULL);
      if (per_user) per_user[u] = mu;
      /* Same order and precision as metrics_mean, so both agree exactly. */
      sum[0] += mu.ndcg10, sum[1] += mu.recall20, sum[2] += mu.hr10, sum[3] += mu.mrr;
      n_users++;
    }
  }
  free(S), free(mask), free(lists), scratch_free(&w);
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
  return rank_driver(out, per_user, ds, fn, ctx, item_col, block, err);
}

/* ---------------- the dot path: sgemm tiles, streaming top K ----------------
 *
 * Users in blocks of `block` rows, items in tiles of `tile` columns: one
 * sgemm per (block, tile) writes a block x tile score tile small enough to
 * stay in cache (the item tile is packed once per block, not once per user:
 * with the whole catalogue per sgemm, OpenBLAS re-packed all of V for every
 * few users), and every row of the tile is consumed at once:
 *  - excluded items of the user inside the tile are set to -INFINITY (the
 *    sgemm scores of a finite user are finite, so that marks them);
 *  - one SSE pass per row counts the items surely above the user's best
 *    relevant item (for MRR; the best relevant item and its canonical score
 *    are known before: its truth items are few and scored canonically first),
 *    rescoring the few inside the margin band, and picks the items whose
 *    sgemm score is at least the current K-th best canonical score minus the
 *    margin m: only those are rescored canonically and offered to the user's
 *    top-K heap. Items arrive in increasing id, so an item equal to the K-th
 *    best never displaces it, and s >= round_down(K-th - m) loses none.
 * So every decision is on canonical scores, as in the reference.
 * With several threads, each takes whole user blocks (its own one-thread
 * sgemm, tile and heaps) and writes its users' metrics; the means are summed
 * afterwards in user order. */

typedef struct dot_user {
  topk_t h;       /* best K so far (canonical scores) */
  mrr_q_t q;      /* best relevant item and its band */
  uint64_t above; /* items known to rank above q.r so far */
  double m;       /* margin of this user's sgemm scores */
  float thr;      /* sgemm scores below thr cannot enter h */
  uint32_t xp, xe; /* next / end of the user's sorted exclusions in xs */
  uint8_t skip;   /* no truth: not counted */
  uint8_t exact;  /* non-finite vectors: ranked from a canonical row */
} dot_user_t;

/* Offers item i (not excluded) to the heap at its canonical score; updates thr. */
static inline void dot_offer(dot_user_t *d, const exact_t *ex, uint32_t i) {
  float y = ex_score(ex, i);
  heap_offer(&d->h, y, i);
  if (d->h.n == TOPK) {
    float t = round_down((double)d->h.v[0] - d->m);
    if (t > d->thr) d->thr = t; /* never below the first tile's prefilter */
  }
}

/* The dot path's rows carry no exclusion sets: excluded items are -INFINITY
 * in the tile, below every band (band_chunk with these finds none excluded). */
static const rowsets_t no_sets = {NULL, NULL, 0, NULL, 0, 0};

/* One user's scores s of items [base, base + len), excluded ones -INFINITY. */
static void dot_segment(dot_user_t *d, const float *s, uint32_t base, uint32_t len,
                        const exact_t *ex) {
  uint32_t j = 0;
  uint64_t cnt = 0;
#if defined(__SSE2__)
  const __m128 vlo = _mm_set1_ps(d->q.lo), vhi = _mm_set1_ps(d->q.hi);
  __m128 vthr = _mm_set1_ps(d->thr);
  __m128i vcnt = _mm_setzero_si128();
  for (; j + CHUNK <= len; j += CHUNK) {
    const float *c = s + j;
    __m128 x0 = _mm_loadu_ps(c), x1 = _mm_loadu_ps(c + 4);
    __m128 x2 = _mm_loadu_ps(c + 8), x3 = _mm_loadu_ps(c + 12);
    if (mrr_chunk_sse(x0, x1, x2, x3, vlo, vhi, &vcnt)) /* some in [lo, hi] */
      cnt += band_chunk(c, base + j, CHUNK, &d->q, &no_sets, ex);
    unsigned bits = (unsigned)_mm_movemask_ps(_mm_cmpge_ps(x0, vthr)) |
                    (unsigned)_mm_movemask_ps(_mm_cmpge_ps(x1, vthr)) << 4 |
                    (unsigned)_mm_movemask_ps(_mm_cmpge_ps(x2, vthr)) << 8 |
                    (unsigned)_mm_movemask_ps(_mm_cmpge_ps(x3, vthr)) << 12;
    if (!bits) continue;
    for (; bits; bits &= bits - 1) {
      uint32_t k = (uint32_t)__builtin_ctz(bits);
      if (c[k] == -INFINITY || !(c[k] >= d->thr)) continue; /* excluded, or thr rose */
      dot_offer(d, ex, base + j + k);
    }
    vthr = _mm_set1_ps(d->thr);
  }
  uint32_t lanes[4];
  _mm_storeu_si128((__m128i *)lanes, vcnt);
  cnt += (uint64_t)lanes[0] + lanes[1] + lanes[2] + lanes[3];
#endif
  for (; j < len; j += CHUNK) { /* the rest (all of it without SSE2) */
    uint32_t n = len - j < CHUNK ? len - j : CHUNK;
    const float *c = s + j;
    int band = 0;
    for (uint32_t k = 0; k < n; k++) {
      cnt += c[k] > d->q.hi;
      band |= c[k] >= d->q.lo && c[k] <= d->q.hi;
    }
    if (band) cnt += band_chunk(c, base + j, n, &d->q, &no_sets, ex);
    for (uint32_t k = 0; k < n; k++)
      if (c[k] != -INFINITY && c[k] >= d->thr) dot_offer(d, ex, base + j + k);
  }
  d->above += cnt;
}

/* Before a user's first tile: if the tile has at least K chunks, the K-th
 * largest chunk maximum T is reached by K distinct items, so the K-th best
 * canonical score is at least T - m and no item with sgemm score below
 * T - 2m can enter the top K: start thr there instead of at -inf (saves most
 * of the canonical rescoring of the first tile, where the heap fills). */
static void dot_prefilter(dot_user_t *d, const float *s, uint32_t len, float *cm) {
  const uint32_t nc = len / CHUNK;
  if (nc < TOPK) return;
  for (uint32_t c = 0; c < nc; c++) {
    const float *x = s + (size_t)c * CHUNK;
    float mx = x[0];
    for (uint32_t j = 1; j < CHUNK; j++) mx = x[j] > mx ? x[j] : mx;
    cm[c] = mx;
  }
  float T = kth_largest(cm, nc);
  if (T > -INFINITY) { /* else fewer than K chunks with a candidate */
    float t0 = round_down((double)T - 2 * d->m);
    if (t0 > d->thr) d->thr = t0;
  }
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

uint32_t metrics_default_tile(uint32_t block) {
  /* About 1 MiB of scores per tile (a core's L2 here), in whole chunks. */
  uint32_t t = (uint32_t)((1u << 20) / (4ull * (block ? block : 1)));
  t = t / CHUNK * CHUNK;
  return t < 4 * CHUNK ? 4 * CHUNK : t;
}

/* The job shared by the ranking threads (read-only but for `next` and the
 * error), and one thread's workspace. Threads take user blocks in turn and
 * write each user's metrics to res; the means are summed afterwards in user
 * order, so they do not depend on which thread ranked whom. */
typedef struct dot_job {
  const float *U, *V;
  const dataset_t *ds;
  uint32_t dim, block, tile, n_blocks;
  size_t xcap;
  uint32_t max_truth, max_excl;
  double vmax;
  metrics_user_t *res; /* (n_eval); NaN for users not counted */
  uint32_t *top;       /* (n_eval, TOPK) or NULL: each user's top items */
  float *top_score;    /* (n_eval, TOPK) or NULL: their canonical scores */
  atomic_uint next;    /* next block to take */
  atomic_int failed;
  pthread_mutex_t mu;
  fm_err err; /* the first failure */
} dot_job_t;

typedef struct dot_ws {
  float *T;       /* (block, tile) */
  dot_user_t *du; /* (block) */
  uint32_t *xs;   /* (xcap + 1) the block's sorted exclusions */
  uint8_t *mask;  /* (n_items), zero between users */
  uint32_t *lists; /* (max_truth + max_excl + 1) */
  float *row;     /* (n_items) canonical row, for non-finite users only */
  float *cm;      /* (tile / CHUNK + 1) chunk maxima of a first tile */
  scratch_t w;
} dot_ws_t;

static void dot_ws_free(dot_ws_t *k) {
  free(k->T), free(k->du), free(k->xs), free(k->mask), free(k->lists), free(k->row), free(k->cm);
  scratch_free(&k->w);
  memset(k, 0, sizeof *k);
}

static int dot_ws_init(dot_ws_t *k, const dot_job_t *j) {
  memset(k, 0, sizeof *k);
  k->T = malloc((size_t)j->block * j->tile * sizeof *k->T);
  k->du = malloc((size_t)j->block * sizeof *k->du);
  k->xs = malloc((j->xcap + 1) * sizeof *k->xs);
  k->mask = calloc(j->ds->n_items, 1);
  k->lists = malloc(((size_t)j->max_truth + j->max_excl + 1) * sizeof *k->lists);
  k->cm = malloc(((size_t)j->tile / CHUNK + 1) * sizeof *k->cm);
  if (k->T && k->du && k->xs && k->mask && k->lists && k->cm) return 0;
  dot_ws_free(k);
  return -1;
}

static void dot_fail(dot_job_t *j, const char *msg, uint32_t a, uint32_t b) {
  pthread_mutex_lock(&j->mu);
  if (!atomic_load(&j->failed)) fm_fail(&j->err, msg, a, b);
  atomic_store(&j->failed, 1);
  pthread_mutex_unlock(&j->mu);
}

/* Ranks evaluation users b0 .. b0 + nb - 1 into j->res. */
static int dot_block(dot_job_t *j, dot_ws_t *k, uint32_t b0, uint32_t nb) {
  const dataset_t *ds = j->ds;
  const uint32_t dim = j->dim, n_items = ds->n_items, tile = j->tile;
  const float *U = j->U, *V = j->V;
  const size_t x0 = ds->excl_ptr[b0];
  uint32_t *xs = k->xs;
  uint8_t *mask = k->mask;
  int any = 0;
  /* per user: margin, sorted exclusions, best relevant item (canonical) */
  for (uint32_t r = 0; r < nb; r++) {
    const uint32_t u = b0 + r;
    dot_user_t *d = &k->du[r];
    memset(d, 0, sizeof *d);
    d->thr = -INFINITY;
    d->q = (mrr_q_t){UINT32_MAX, 0, INFINITY, INFINITY};
    d->xp = (uint32_t)(ds->excl_ptr[u] - x0), d->xe = (uint32_t)(ds->excl_ptr[u + 1] - x0);
    if (ds->truth_ptr[u + 1] == ds->truth_ptr[u] && !j->top) { /* nothing to find */
      d->skip = 1;
      continue;
    }
    const exact_t ex = {U + (size_t)u * dim, V, dim, 0};
    double nu = 0;
    for (uint32_t c = 0; c < dim; c++) nu += (double)ex.u[c] * ex.u[c];
    double bound = sqrt(nu) * j->vmax;
    if (!(bound <= 1e30)) { /* not finite, or sgemm might overflow */
      d->exact = 1;
      continue;
    }
    any = 1;
    /* relative bound, plus an absolute term for subnormal (or flushed) ops */
    d->m = (dim + 2.0) * 0x1p-23 * bound + (2.0 * dim + 4.0) * 0x1p-126;
    memcpy(xs + d->xp, ds->excl + ds->excl_ptr[u], (size_t)(d->xe - d->xp) * sizeof *xs);
    qsort(xs + d->xp, d->xe - d->xp, sizeof *xs, cmp_u32);
    for (uint32_t c = d->xp; c < d->xe; c++) mask[xs[c]] = MASK_EXCL;
    for (uint32_t c = ds->truth_ptr[u]; c < ds->truth_ptr[u + 1]; c++) {
      uint32_t t = ds->truth[c];
      if (mask[t]) continue; /* excluded, or seen */
      mask[t] = MASK_REL;
      float v = ex_score(&ex, t);
      if (d->q.r == UINT32_MAX || worse(d->q.v, d->q.r, v, t)) d->q.r = t, d->q.v = v;
    }
    for (uint32_t c = ds->truth_ptr[u]; c < ds->truth_ptr[u + 1]; c++) mask[ds->truth[c]] = 0;
    for (uint32_t c = d->xp; c < d->xe; c++) mask[xs[c]] = 0;
    if (d->q.r != UINT32_MAX) {
      d->q.lo = round_down((double)d->q.v - d->m);
      d->q.hi = round_up((double)d->q.v + d->m);
    }
  }
  /* tiles of the catalogue */
  for (uint32_t i0 = 0; any && i0 < n_items; i0 += tile) {
    const uint32_t len = n_items - i0 < tile ? n_items - i0 : tile;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)len, (int)dim, 1.0f,
                U + (size_t)b0 * dim, (int)dim, V + (size_t)i0 * dim, (int)dim, 0.0f, k->T,
                (int)len);
    for (uint32_t r = 0; r < nb; r++) {
      dot_user_t *d = &k->du[r];
      if (d->skip || d->exact) continue;
      float *s = k->T + (size_t)r * len;
      for (; d->xp < d->xe && xs[d->xp] < i0 + len; d->xp++) s[xs[d->xp] - i0] = -INFINITY;
      const exact_t ex = {U + (size_t)(b0 + r) * dim, V, dim, d->m};
      if (i0 == 0) dot_prefilter(d, s, len, k->cm);
      dot_segment(d, s, i0, len, &ex);
    }
  }
  /* the users' metrics */
  uint32_t *tl = k->lists, *el = k->lists + j->max_truth;
  for (uint32_t r = 0; r < nb; r++) {
    const uint32_t u = b0 + r;
    dot_user_t *d = &k->du[r];
    metrics_user_t *mu = &j->res[u];
    topk_t keep;
    keep.n = 0;
    if (d->skip) {
      set_nan(mu);
    } else if (d->exact) { /* rank the canonical scores themselves, item by item */
      if (!k->row && (!(k->row = malloc((size_t)n_items * sizeof *k->row)) ||
                      scratch_alloc(&k->w, n_items))) {
        dot_fail(j, "metrics: out of memory for a row of %u items (user %u)", n_items, u);
        return -1;
      }
      const exact_t ex = {U + (size_t)u * dim, V, dim, 0};
      for (uint32_t i = 0; i < n_items; i++) k->row[i] = ex_score(&ex, i);
      rank_scored_row(mu, k->row, ds, u, NULL, mask, tl, el, &k->w, &keep);
    } else {
      rowsets_t rs = {mask, tl, 0, NULL, 0, 0};
      for (uint32_t c = ds->truth_ptr[u]; c < ds->truth_ptr[u + 1]; c++) {
        uint32_t t = ds->truth[c];
        if (!mask[t]) mask[t] = MASK_REL, tl[rs.n_truth++] = t;
      }
      rs.n_rel = rs.n_truth;
      if (finish_topk(mu, &d->h, &rs) == UINT32_MAX && d->q.r != UINT32_MAX)
        mu->mrr = (float)(1.0 / ((double)d->above + 1.0));
      for (uint32_t c = 0; c < rs.n_truth; c++) mask[tl[c]] = 0;
      keep = d->h;
    }
    if (ds->truth_ptr[u + 1] == ds->truth_ptr[u]) set_nan(mu); /* ranked for top only */
    if (j->top) {
      for (uint32_t p = 0; p < TOPK; p++) {
        j->top[(size_t)u * TOPK + p] = p < keep.n ? keep.id[p] : UINT32_MAX;
        if (j->top_score) j->top_score[(size_t)u * TOPK + p] = p < keep.n ? keep.v[p] : NAN;
      }
    }
  }
  return 0;
}

static void dot_run(dot_job_t *j) {
  dot_ws_t k;
  if (dot_ws_init(&k, j)) {
    dot_fail(j, "metrics: out of memory for a %u x %u score tile", j->block, j->tile);
    return;
  }
  for (;;) {
    uint32_t b = atomic_fetch_add(&j->next, 1u);
    if (b >= j->n_blocks || atomic_load(&j->failed)) break;
    uint32_t b0 = b * j->block, n_eval = j->ds->n_eval;
    if (dot_block(j, &k, b0, n_eval - b0 < j->block ? n_eval - b0 : j->block)) break;
  }
  dot_ws_free(&k);
}

static void *dot_thread(void *arg) {
  dot_run(arg);
  return NULL;
}

static int dot_driver(metrics_t *out, metrics_user_t *per_user, uint32_t *top, float *top_score,
                      const float *U, const float *V, uint32_t dim, const dataset_t *ds,
                      uint32_t block, uint32_t tile, uint32_t threads, fm_err *err) {
  memset(out, 0, sizeof *out);
  const uint32_t n_items = ds->n_items, n_eval = ds->n_eval;
  if (dim == 0 || dim > INT32_MAX || n_items > INT32_MAX)
    return fm_fail(err, "metrics: bad dimensions (dim %u, n_items %u)", dim, n_items);
  if (check_csr(ds->truth_ptr, ds->truth, n_eval, n_items, "truth", err) ||
      check_csr(ds->excl_ptr, ds->excl, n_eval, n_items, "excl", err))
    return -1;
  if (n_eval == 0) return 0;
  if (n_items == 0) return fm_fail(err, "metrics: empty catalogue (n_items = 0)");
  if (!U || !V) return fm_fail(err, "metrics: NULL user or item matrix");
  if (block == 0) block = METRICS_MAX_BLOCK;
  if (threads == 0) {
    int t = openblas_get_num_threads();
    threads = t > 1 ? (uint32_t)t : 1;
    /* OpenBLAS's idle workers spin (~0.13 s of CPU here) after each threaded
     * call, against our threads: below this much work, one thread is as fast. */
    if ((uint64_t)n_eval * n_items * dim < METRICS_THREAD_MIN_WORK) threads = 1;
  }
  if (threads > METRICS_MAX_THREADS) threads = METRICS_MAX_THREADS;
  /* enough blocks for every thread: smaller blocks rather than idle threads */
  if (threads > 1 && (uint64_t)block * threads > n_eval)
    block = (n_eval + threads - 1) / threads;
  if (block < 1) block = 1;
  if (block > n_eval) block = n_eval;
  if (tile == 0) tile = metrics_default_tile(block);
  if (tile > n_items) tile = n_items;

  dot_job_t j;
  memset(&j, 0, sizeof j);
  j.U = U, j.V = V, j.ds = ds, j.dim = dim, j.block = block, j.tile = tile;
  j.top = top, j.top_score = top_score;
  j.n_blocks = (uint32_t)(((uint64_t)n_eval + block - 1) / block);
  if (threads > j.n_blocks) threads = j.n_blocks;
  /* max_i |v_i|: the margin's scale (NaN or inf if V is not finite) */
  for (uint32_t i = 0; i < n_items; i++) {
    double nv = 0;
    for (uint32_t k = 0; k < dim; k++) nv += (double)V[(size_t)i * dim + k] * V[(size_t)i * dim + k];
    if (!(nv <= j.vmax * j.vmax)) j.vmax = sqrt(nv); /* NaN propagates */
    if (isnan(nv)) break;
  }
  max_lists(ds, &j.max_truth, &j.max_excl);
  for (uint32_t b0 = 0; b0 < n_eval; b0 += block) { /* the largest block's exclusions */
    uint32_t b1 = n_eval - b0 < block ? n_eval : b0 + block;
    size_t x = ds->excl_ptr[b1] - ds->excl_ptr[b0];
    if (x > j.xcap) j.xcap = x;
  }
  j.res = per_user ? per_user : malloc((size_t)n_eval * sizeof *j.res);
  if (!j.res) return fm_fail(err, "metrics: out of memory for %u users' metrics", n_eval);
  atomic_init(&j.next, 0u);
  atomic_init(&j.failed, 0);
  pthread_mutex_init(&j.mu, NULL);

  /* One-thread sgemm calls, from threads of our own when there are several:
   * OpenBLAS's threads on a tile cost more in hand-over than they gain (half
   * the one-thread rate on this machine) and would leave the ranking passes
   * on one core. The OpenBLAS setting is restored afterwards. */
  pthread_t tid[METRICS_MAX_THREADS];
  uint32_t started = 0;
  const int blas = blas_one_thread();
  if (threads > 1) {
    for (uint32_t t = 1; t < threads; t++) {
      if (pthread_create(&tid[started], NULL, dot_thread, &j) != 0) break; /* fewer, then */
      started++;
    }
  }
  dot_run(&j);
  for (uint32_t t = 0; t < started; t++) pthread_join(tid[t], NULL);
  blas_restore(blas);
  pthread_mutex_destroy(&j.mu);

  int rc = 0;
  if (atomic_load(&j.failed)) {
    rc = fm_fail(err, "%s", j.err.msg);
  } else {
    /* Same order and precision as metrics_mean, so both agree exactly. */
    double sum[4] = {0, 0, 0, 0};
    uint32_t n_users = 0;
    for (uint32_t u = 0; u < n_eval; u++) {
      const metrics_user_t *mu = &j.res[u];
      if (isnan(mu->ndcg10)) continue; /* nothing to find */
      sum[0] += mu->ndcg10, sum[1] += mu->recall20, sum[2] += mu->hr10, sum[3] += mu->mrr;
      n_users++;
    }
    out->n_users = n_users;
    if (n_users) {
      out->ndcg10 = sum[0] / n_users, out->recall20 = sum[1] / n_users;
      out->hr10 = sum[2] / n_users, out->mrr = sum[3] / n_users;
    }
  }
  if (!per_user) free(j.res);
  return rc;
}

int metrics_rank_dot_tiled(metrics_t *out, metrics_user_t *per_user, const float *U,
                           const float *V, uint32_t dim, const dataset_t *ds, uint32_t block,
                           uint32_t tile, uint32_t threads, fm_err *err) {
  return dot_driver(out, per_user, NULL, NULL, U, V, dim, ds, block, tile, threads, err);
}

int metrics_top_dot(uint32_t *top, float *top_score, const float *U, const float *V, uint32_t dim,
                    const dataset_t *ds, uint32_t block, uint32_t tile, uint32_t threads,
                    fm_err *err) {
  metrics_t m;
  if (!top) return fm_fail(err, "metrics: NULL top-list buffer");
  return dot_driver(&m, NULL, top, top_score, U, V, dim, ds, block, tile, threads, err);
}

int metrics_rank_dot_block(metrics_t *out, metrics_user_t *per_user, const float *U,
                           const float *V, uint32_t dim, const dataset_t *ds, uint32_t block,
                           fm_err *err) {
  return metrics_rank_dot_tiled(out, per_user, U, V, dim, ds, block, 0, 0, err);
}

int metrics_rank_dot(metrics_t *out, metrics_user_t *per_user, const float *U, const float *V,
                     uint32_t dim, const dataset_t *ds, fm_err *err) {
  return metrics_rank_dot_tiled(out, per_user, U, V, dim, ds, 0, 0, 0, err);
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

/* The 2.5 / 97.5 percentiles over n_boot resamples of m users (stream
 * RNG_EVAL / BOOT_STREAM of seed) of mean(va), or with vb of mean(va) /
 * mean(vb) - 1 (the same users for both: paired; a resample whose vb mean is
 * 0 is left out; none counting leaves the bounds as they are). Returns 0, or
 * -1 when out of memory. */
static int bootstrap(double *lo, double *hi, const float *va, const float *vb, uint32_t m,
                     uint32_t n_boot, uint64_t seed) {
  double *stat = malloc((size_t)n_boot * sizeof *stat);
  if (!stat) return -1;
  rng_t r;
  rng_seed(&r, seed, RNG_EVAL, BOOT_STREAM);
  uint32_t kept = 0;
  for (uint32_t t = 0; t < n_boot; t++) {
    double x = 0, y = 0;
    for (uint32_t k = 0; k < m; k++) {
      uint32_t j = rng_below(&r, m);
      x += va[j];
      if (vb) y += vb[j];
    }
    if (!vb) stat[kept++] = x / m;
    else if (y > 0) stat[kept++] = x / y - 1.0;
  }
  if (kept) {
    qsort(stat, kept, sizeof *stat, cmp_double);
    *lo = quantile_sorted(stat, kept, 0.025);
    *hi = quantile_sorted(stat, kept, 0.975);
  }
  free(stat);
  return 0;
}

void metrics_bootstrap_rel(double *est, double *lo, double *hi, const metrics_user_t *a,
                           const metrics_user_t *b, uint32_t n, uint32_t n_boot, uint64_t seed) {
  *est = *lo = *hi = NAN;
  uint32_t m = 0;
  double sa = 0, sb = 0;
  for (uint32_t u = 0; u < n; u++)
    if (!isnan(a[u].ndcg10) && !isnan(b[u].ndcg10)) m++, sa += a[u].ndcg10, sb += b[u].ndcg10;
  if (m == 0 || sb == 0) return;
  *est = sa / sb - 1.0;
  if (n_boot == 0) return;
  float *va = malloc((size_t)m * sizeof *va), *vb = malloc((size_t)m * sizeof *vb);
  if (!va || !vb) {
    free(va), free(vb);
    *est = NAN;
    return;
  }
  m = 0;
  for (uint32_t u = 0; u < n; u++)
    if (!isnan(a[u].ndcg10) && !isnan(b[u].ndcg10)) va[m] = a[u].ndcg10, vb[m++] = b[u].ndcg10;
  if (bootstrap(lo, hi, va, vb, m, n_boot, seed)) *est = NAN; /* out of memory: all NaN */
  free(va), free(vb);
}

void metrics_bootstrap_ndcg(double *lo, double *hi, const metrics_user_t *per_user, uint32_t n,
                            uint32_t n_boot, uint64_t seed) {
  *lo = *hi = NAN;
  uint32_t m = 0;
  for (uint32_t u = 0; u < n; u++) m += !isnan(per_user[u].ndcg10);
  if (m == 0 || n_boot == 0) return;
  float *v = malloc((size_t)m * sizeof *v);
  if (!v) return;
  m = 0;
  for (uint32_t u = 0; u < n; u++)
    if (!isnan(per_user[u].ndcg10)) v[m++] = per_user[u].ndcg10;
  bootstrap(lo, hi, v, NULL, m, n_boot, seed);
  free(v);
}
