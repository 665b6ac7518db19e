/* tests/unit/test_baselines.c: ItemKNN and EASE on a tiny hand-made matrix.
 * ItemKNN against similarities worked out by hand; EASE against a dense
 * double-precision reference (naive Gauss-Jordan inverse) written here; the
 * rank functions against hand-worked rankings with the popularity tie-break. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/baselines.h"
#include "common/blas.h"
#include "common/metrics.h"
#include "tests/check.h"

/* The fixture (8 users, 7 items; item 6 has no interaction):
 *   u0 {0,1,2}  u1 {0,1}  u2 {1,3}  u3 {2,3,4}  u4 {0}  u5 {5}  u6 {5}  u7 {5,5}
 * (u7's repeated item counts once). Item degrees n_i: 3 3 2 2 1 3 0.
 * Co-occurrences: c01 = 2, c02 = c12 = c13 = c23 = c24 = c34 = 1, others 0.
 * Cosine c_ij / sqrt(n_i n_j):
 *   s01 = 2/3, s02 = s12 = s13 = 1/sqrt(6) = 0.40824829, s23 = 1/2,
 *   s24 = s34 = 1/sqrt(2) = 0.70710678; item 5 has no neighbour. */
#define NU 8
#define NI 7
static const uint32_t H_PTR[NU + 1] = {0, 3, 5, 7, 10, 11, 12, 13, 15};
static const uint32_t H[] = {0, 1, 2, 0, 1, 1, 3, 2, 3, 4, 0, 5, 5, 5, 5};

static void fixture(dataset_t *ds) {
  memset(ds, 0, sizeof *ds);
  ds->n_users = NU;
  ds->n_items = NI;
  ds->hist_ptr = malloc(sizeof H_PTR);
  ds->hist = malloc(sizeof H);
  memcpy(ds->hist_ptr, H_PTR, sizeof H_PTR);
  memcpy(ds->hist, H, sizeof H);
  ds->item_pop = calloc(NI, sizeof(float));
  for (uint32_t k = 0; k < H_PTR[NU]; k++) ds->item_pop[H[k]] += 1; /* TRAIN counts */
  /* Evaluation: u4 truth {5} excl {0}; u2 truth {0,4} excl {1,3};
   * u0 truth {3} excl {0,1,2}; u1 truth {} (skipped). */
  static const uint32_t EU[] = {4, 2, 0, 1}, TP[] = {0, 1, 3, 4, 4}, T[] = {5, 0, 4, 3};
  static const uint32_t XP[] = {0, 1, 3, 6, 8}, X[] = {0, 1, 3, 0, 1, 2, 0, 1};
  ds->n_eval = 4;
  ds->eval_user = malloc(sizeof EU), memcpy(ds->eval_user, EU, sizeof EU);
  ds->truth_ptr = malloc(sizeof TP), memcpy(ds->truth_ptr, TP, sizeof TP);
  ds->truth = malloc(sizeof T), memcpy(ds->truth, T, sizeof T);
  ds->excl_ptr = malloc(sizeof XP), memcpy(ds->excl_ptr, XP, sizeof XP);
  ds->excl = malloc(sizeof X), memcpy(ds->excl, X, sizeof X);
}

static void fixture_free(dataset_t *ds) {
  free(ds->hist_ptr), free(ds->hist), free(ds->item_pop), free(ds->eval_user);
  free(ds->truth_ptr), free(ds->truth), free(ds->excl_ptr), free(ds->excl);
  memset(ds, 0, sizeof *ds);
}

static void test_knn(void) {
  dataset_t ds;
  fixture(&ds);
  baseline_knn_t m;
  fm_err err;
  CHECK_OK(baseline_knn_fit(&m, &ds, 0, &err));
  const double r6 = 1 / sqrt(6.0), r2 = 1 / sqrt(2.0);
  float s[NI];
  uint32_t h0[] = {0};
  baseline_knn_score(&m, s, h0, 1);
  double want0[NI] = {0, 2.0 / 3, r6, 0, 0, 0, 0};
  for (int i = 0; i < NI; i++) CHECK_NEAR(s[i], want0[i], 1e-6);
  /* {1,3} (1 given twice): item0 = s01 = 2/3, item1 = s13, item2 = s12 + s23,
   * item3 = s13, item4 = s34. */
  uint32_t h13[] = {1, 3, 1};
  baseline_knn_score(&m, s, h13, 3);
  double want13[NI] = {2.0 / 3, r6, r6 + 0.5, r6, r2, 0, 0};
  for (int i = 0; i < NI; i++) CHECK_NEAR(s[i], want13[i], 1e-6);
  /* sim is symmetric and its rows are sorted by id */
  for (uint32_t j = 0; j < NI; j++)
    for (uint32_t a = m.ptr[j]; a < m.ptr[j + 1]; a++) {
      if (a > m.ptr[j]) CHECK(m.nbr[a] > m.nbr[a - 1]);
      uint32_t i = m.nbr[a];
      int found = 0;
      for (uint32_t b = m.ptr[i]; b < m.ptr[i + 1]; b++)
        if (m.nbr[b] == j) {
          found = 1;
          CHECK(m.sim[b] == m.sim[a]);
        }
      CHECK(found);
    }
  CHECK_EQ_INT(m.ptr[NI], 14); /* 7 pairs, both directions */

  /* Ranking, ties by popularity (TRAIN counts 3 3 2 2 1 4 0), then id:
   *  u4 {0}: 1 (.667), 2 (.408), then zeros 5 (pop 3), 3, 4, 6: truth 5 at
   *     rank 3: NDCG d(3) = 0.5, Recall 1, HR 1, MRR 1/3.
   *  u2 {1,3}: 2 (.908), 4 (.707), 0 (.667), 5, 6: truth {0,4} at ranks 3, 2:
   *     NDCG (d(2) + d(3)) / (d(1) + d(2)) = 0.693426404, Recall 1, MRR 1/2.
   *  u0 {0,1,2}: 3 (s13 + s23 = .908), 4 (.707), 5, 6: truth 3 at rank 1.
   *  u1: empty truth, skipped. */
  metrics_t out;
  metrics_user_t pu[4];
  CHECK_OK(baseline_knn_rank(&out, pu, &m, &ds, &err));
  CHECK_EQ_INT(out.n_users, 3);
  CHECK_NEAR(pu[0].ndcg10, 0.5, 1e-6);
  CHECK_NEAR(pu[0].mrr, 1.0 / 3, 1e-6);
  CHECK_NEAR(pu[1].ndcg10, 0.6934264036172708, 1e-6);
  CHECK_NEAR(pu[1].recall20, 1, 0);
  CHECK_NEAR(pu[1].mrr, 0.5, 0);
  CHECK_NEAR(pu[2].ndcg10, 1, 0);
  CHECK(isnan(pu[3].ndcg10));
  CHECK_NEAR(out.ndcg10, 0.7311421345390903, 1e-6);
  CHECK_NEAR(out.mrr, 0.611111111111111, 1e-6);
  baseline_knn_free(&m);

  /* topk = 1: item j keeps its most similar item (ties by lower id):
   * 0 -> 1, 1 -> 0, 2 -> 4, 3 -> 4, 4 -> 2 (s42 = s43). {1,3}: item0 = 2/3,
   * item4 = 1/sqrt(2), the rest 0. */
  CHECK_OK(baseline_knn_fit(&m, &ds, 1, &err));
  baseline_knn_score(&m, s, h13, 2);
  double want_k1[NI] = {2.0 / 3, 0, 0, 0, r2, 0, 0};
  for (int i = 0; i < NI; i++) CHECK_NEAR(s[i], want_k1[i], 1e-6);
  CHECK_EQ_INT(m.nbr[m.ptr[4]], 2);
  baseline_knn_free(&m);
  baseline_knn_free(&m); /* twice is fine */
  baseline_knn_free(NULL);

  /* A fitted model must cover the dataset's catalogue. */
  uint32_t p2[] = {0, 1}, it2[] = {0};
  CHECK_OK(baseline_knn_fit_csr(&m, 1, 3, p2, it2, 0, &err));
  CHECK(baseline_knn_rank(&out, NULL, &m, &ds, &err) < 0);
  baseline_knn_free(&m);
  /* A pooled fit may have more ids: here a ninth user holds item 6 and two
   * items beyond the dataset's 7. Items 0..5 keep their similarities and the
   * evaluated histories never touch 6, so the rankings are unchanged. */
  {
    uint32_t pp[NU + 2], hp[sizeof H / sizeof *H + 3];
    memcpy(pp, H_PTR, sizeof H_PTR);
    memcpy(hp, H, sizeof H);
    hp[H_PTR[NU]] = 6, hp[H_PTR[NU] + 1] = NI, hp[H_PTR[NU] + 2] = NI + 1;
    pp[NU + 1] = H_PTR[NU] + 3;
    metrics_user_t pu2[4];
    CHECK_OK(baseline_knn_fit_csr(&m, NU + 1, NI + 2, pp, hp, 0, &err));
    CHECK_OK(baseline_knn_rank(&out, pu2, &m, &ds, &err));
    CHECK(memcmp(pu, pu2, 3 * sizeof *pu) == 0);
    baseline_knn_free(&m);
  }
  /* An item id out of range is refused. */
  uint32_t bad[] = {9};
  CHECK(baseline_knn_fit_csr(&m, 1, 3, p2, bad, 0, &err) < 0);
  CHECK(strstr(err.msg, "not below n_items") != NULL);
  baseline_knn_free(&m);
  fixture_free(&ds);
}

/* Dense reference EASE in double: B = I - P diag(1/diag P), P = (G + l I)^-1
 * over the items with interactions (here 0..5), by Gauss-Jordan. */
static void ease_reference(double *B, uint32_t m, const uint32_t *slot, double lambda) {
  double *A = calloc((size_t)m * 2 * m, sizeof *A); /* [G + l I | I] */
  for (uint32_t u = 0; u < NU; u++) {
    uint32_t seen[8], ns = 0;
    for (uint32_t k = H_PTR[u]; k < H_PTR[u + 1]; k++) {
      int dup = 0;
      for (uint32_t q = 0; q < ns; q++) dup |= seen[q] == H[k];
      if (!dup) seen[ns++] = H[k];
    }
    for (uint32_t a = 0; a < ns; a++)
      for (uint32_t b = 0; b < ns; b++) A[slot[seen[a]] * 2 * m + slot[seen[b]]] += 1;
  }
  for (uint32_t i = 0; i < m; i++) A[i * 2 * m + i] += lambda, A[i * 2 * m + m + i] = 1;
  for (uint32_t c = 0; c < m; c++) { /* SPD: no pivoting needed */
    double p = A[c * 2 * m + c];
    for (uint32_t k = 0; k < 2 * m; k++) A[c * 2 * m + k] /= p;
    for (uint32_t r = 0; r < m; r++) {
      if (r == c) continue;
      double f = A[r * 2 * m + c];
      for (uint32_t k = 0; k < 2 * m; k++) A[r * 2 * m + k] -= f * A[c * 2 * m + k];
    }
  }
  for (uint32_t j = 0; j < m; j++)
    for (uint32_t i = 0; i < m; i++)
      B[j * m + i] = i == j ? 0 : -A[j * 2 * m + m + i] / A[i * 2 * m + m + i];
  free(A);
}

static void test_ease(void) {
  dataset_t ds;
  fixture(&ds);
  fm_err err;
  const double lambdas[] = {1.0, 200.0};
  for (int li = 0; li < 2; li++) {
    baseline_ease_t m;
    CHECK_OK(baseline_ease_fit(&m, &ds, (float)lambdas[li], &err));
    CHECK_EQ_INT(m.n_active, 6); /* item 6 has no interaction */
    for (uint32_t k = 0; k < 6; k++) CHECK_EQ_INT(m.active[k], k);
    uint32_t slot[NI] = {0, 1, 2, 3, 4, 5, UINT32_MAX};
    double B[36];
    ease_reference(B, 6, slot, lambdas[li]);
    double bmax = 0;
    for (int k = 0; k < 36; k++) bmax = fmax(bmax, fabs(B[k]));
    for (uint32_t j = 0; j < 6; j++) {
      CHECK(m.B[j * 6 + j] == 0.0f); /* diagonal exactly zero */
      for (uint32_t i = 0; i < 6; i++) CHECK_NEAR(m.B[j * 6 + i], B[j * 6 + i], 1e-5 * bmax);
    }
    /* scores of {1,3}: rows 1 and 3 of B summed; item 6 scores 0 */
    float s[NI];
    uint32_t h[] = {3, 1, 3};
    baseline_ease_score(&m, s, h, 3);
    for (uint32_t i = 0; i < 6; i++) CHECK_NEAR(s[i], B[1 * 6 + i] + B[3 * 6 + i], 2e-5 * bmax);
    CHECK(s[6] == 0.0f);
    uint32_t h6[] = {6};
    baseline_ease_score(&m, s, h6, 1); /* an item never seen contributes nothing */
    for (uint32_t i = 0; i < NI; i++) CHECK(s[i] == 0.0f);

    /* The same data with an unused id in the middle (item i -> i + (i >= 3),
     * 8 ids): the same model, with 3 and 7 scoring 0. */
    uint32_t H2[sizeof H / sizeof *H];
    for (size_t k = 0; k < sizeof H / sizeof *H; k++) H2[k] = H[k] + (H[k] >= 3);
    baseline_ease_t m2;
    CHECK_OK(baseline_ease_fit_csr(&m2, NU, NI + 1, H_PTR, H2, (float)lambdas[li], &err));
    CHECK_EQ_INT(m2.n_active, 6);
    CHECK(memcmp(m2.B, m.B, 36 * sizeof(float)) == 0);
    float s1[NI], s2[NI + 1];
    uint32_t h1[] = {1, 3}, h1b[] = {1, 4};
    baseline_ease_score(&m, s1, h1, 2);
    baseline_ease_score(&m2, s2, h1b, 2);
    for (uint32_t i = 0; i < NI; i++) CHECK(s2[i + (i >= 3)] == s1[i]);
    CHECK(s2[3] == 0.0f && s2[7] == 0.0f);
    baseline_ease_free(&m2);

    /* Ranking plumbing: the rank function's per-user metrics equal those of
     * the score rows ranked under (score, popularity, id), built here by
     * permuting the columns into popularity order by hand. */
    metrics_t out;
    metrics_user_t pu[4];
    CHECK_OK(baseline_ease_rank(&out, pu, &m, &ds, &err));
    CHECK_EQ_INT(out.n_users, 3);
    for (uint32_t e = 0; e < 3; e++) {
      uint32_t u = ds.eval_user[e];
      baseline_ease_score(&m, s, ds.hist + ds.hist_ptr[u], ds.hist_ptr[u + 1] - ds.hist_ptr[u]);
      /* column space: pop = 3 3 2 2 1 4 0 (u7 counts item 5 twice), so the
       * order is 5 0 1 2 3 4 6 */
      static const uint32_t col[NI] = {1, 2, 3, 4, 5, 0, 6};
      float cs[NI];
      uint32_t t[2], x[3];
      for (uint32_t i = 0; i < NI; i++) cs[col[i]] = s[i];
      uint32_t nt = ds.truth_ptr[e + 1] - ds.truth_ptr[e], nx = ds.excl_ptr[e + 1] - ds.excl_ptr[e];
      for (uint32_t k = 0; k < nt; k++) t[k] = col[ds.truth[ds.truth_ptr[e] + k]];
      for (uint32_t k = 0; k < nx; k++) x[k] = col[ds.excl[ds.excl_ptr[e] + k]];
      metrics_user_t want;
      metrics_user_from_scores(&want, cs, NI, t, nt, x, nx);
      CHECK(memcmp(&want, &pu[e], sizeof want) == 0);
    }
    baseline_ease_free(&m);
  }
  baseline_ease_free(NULL);
  fixture_free(&ds);
}

/* One item per user (like K = 1 support): no co-occurrence, ItemKNN and EASE
 * score everything 0 and fall back to popularity exactly. */
static void test_single_item_users_is_popularity(void) {
  dataset_t ds;
  memset(&ds, 0, sizeof ds);
  enum { U = 40, I = 30 };
  ds.n_users = U, ds.n_items = I;
  ds.hist_ptr = malloc((U + 1) * sizeof(uint32_t));
  ds.hist = malloc(U * sizeof(uint32_t));
  ds.item_pop = calloc(I, sizeof(float));
  ds.eval_user = malloc(U * sizeof(uint32_t));
  ds.truth_ptr = malloc((U + 1) * sizeof(uint32_t));
  ds.truth = malloc(U * sizeof(uint32_t));
  ds.excl_ptr = malloc((U + 1) * sizeof(uint32_t));
  ds.excl = malloc(U * sizeof(uint32_t));
  ds.n_eval = U;
  ds.hist_ptr[0] = ds.truth_ptr[0] = ds.excl_ptr[0] = 0;
  for (uint32_t u = 0; u < U; u++) {
    uint32_t i = (u * u + 3 * u) % 17 + (u % 3) * 7; /* skewed, < 31 */
    i %= I;
    ds.hist[u] = i, ds.hist_ptr[u + 1] = u + 1, ds.item_pop[i] += 1;
    ds.eval_user[u] = u;
    ds.truth[u] = (u * 7 + 1) % I, ds.truth_ptr[u + 1] = u + 1;
    ds.excl[u] = i, ds.excl_ptr[u + 1] = u + 1;
    if (ds.truth[u] == i) ds.truth[u] = (i + 1) % I;
  }
  fm_err err;
  metrics_t pop, knn, ease;
  metrics_user_t p1[U], p2[U], p3[U];
  CHECK_OK(metrics_rank_popularity(&pop, p1, &ds, &err));
  baseline_knn_t km;
  baseline_ease_t em;
  CHECK_OK(baseline_knn_fit(&km, &ds, 0, &err));
  CHECK_EQ_INT(km.ptr[I], 0);
  CHECK_OK(baseline_knn_rank(&knn, p2, &km, &ds, &err));
  CHECK_OK(baseline_ease_fit(&em, &ds, 200.0f, &err));
  CHECK_OK(baseline_ease_rank(&ease, p3, &em, &ds, &err));
  CHECK(memcmp(p1, p2, sizeof p1) == 0 && memcmp(p1, p3, sizeof p1) == 0);
  CHECK(memcmp(&pop, &knn, sizeof pop) == 0 && memcmp(&pop, &ease, sizeof pop) == 0);
  CHECK(pop.n_users == U && pop.ndcg10 > 0);
  baseline_knn_free(&km);
  baseline_ease_free(&em);
  free(ds.hist_ptr), free(ds.hist), free(ds.item_pop), free(ds.eval_user);
  free(ds.truth_ptr), free(ds.truth), free(ds.excl_ptr), free(ds.excl);
}

/* EASE refuses a catalogue beyond its dense limit before allocating it. */
static void test_ease_refuses_large(void) {
  uint32_t n = BASELINE_EASE_MAX_ITEMS + 1;
  uint32_t *ptr = malloc((n + 1) * sizeof *ptr), *items = malloc(n * sizeof *items);
  for (uint32_t u = 0; u <= n; u++) ptr[u] = u;
  for (uint32_t u = 0; u < n; u++) items[u] = u;
  baseline_ease_t m;
  fm_err err;
  CHECK(baseline_ease_fit_csr(&m, n, n, ptr, items, 200.0f, &err) < 0);
  CHECK(strstr(err.msg, "dense limit") != NULL);
  CHECK(m.B == NULL);
  baseline_ease_free(&m);
  CHECK(baseline_ease_fit_csr(&m, 1, 1, ptr, items, 0.0f, &err) < 0); /* lambda > 0 */
  free(ptr), free(items);
}

/* EASE's P is the same, to the last bit, for any OpenBLAS thread count: a
 * catalogue large enough for OpenBLAS's threaded potrf / potri (they block the
 * work by the thread count, so without the pinning in baseline_ease_inverse
 * the bits differ), fitted at 1 and at 3 threads. */
static void test_ease_thread_count(void) {
  const uint32_t nu = 3000, ni = 700, per = 6;
  uint32_t *ptr = malloc((nu + 1) * sizeof *ptr), *items = malloc((size_t)nu * per * sizeof *items);
  uint64_t x = 88172645463325252ull; /* xorshift64: a fixed pseudo-random history */
  for (uint32_t u = 0; u < nu; u++) {
    ptr[u] = u * per;
    for (uint32_t k = 0; k < per; k++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      uint32_t r = (uint32_t)(x % ni), s = (uint32_t)((x >> 32) % ni);
      items[u * per + k] = r < s ? r : s; /* skewed towards low ids: popular items */
    }
  }
  ptr[nu] = nu * per;
  const int saved = openblas_get_num_threads();
  baseline_ease_t m1, m3;
  fm_err err;
  openblas_set_num_threads(1);
  CHECK_OK(baseline_ease_fit_csr(&m1, nu, ni, ptr, items, 20.0f, &err));
  openblas_set_num_threads(3);
  CHECK_OK(baseline_ease_fit_csr(&m3, nu, ni, ptr, items, 20.0f, &err));
  CHECK(openblas_get_num_threads() == 3); /* the caller's setting is restored */
  openblas_set_num_threads(saved);
  CHECK(m1.n_active == m3.n_active && m1.n_active > 600);
  CHECK(memcmp(m1.B, m3.B, (size_t)m1.n_active * m1.n_active * sizeof *m1.B) == 0);
  baseline_ease_free(&m1);
  baseline_ease_free(&m3);
  free(ptr), free(items);
}

int main(void) {
  test_knn();
  test_ease();
  test_single_item_users_is_popularity();
  test_ease_refuses_large();
  test_ease_thread_count();
  printf("test_baselines: ok\n");
  return 0;
}
