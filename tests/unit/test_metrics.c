/* tests/unit/test_metrics.c: known answers for the ranking metrics on
 * hand-made score rows, the blocked dot-product driver against the per-row
 * function and a brute-force full sort on random data, and the bootstrap.
 *
 * Notation in the comments: d(r) = 1 / log2(r + 1) is the discount of rank r;
 * IDCG10 = d(1) + ... + d(10) = 4.543559338088346. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "common/metrics.h"
#include "common/rng.h"
#include "tests/check.h"

#define TOL 1e-6

/* ---------- fixtures: a dataset_t filled by hand (evaluation fields only) ---------- */

typedef struct row_case {
  const float *s;
  uint32_t n;
  const uint32_t *truth;
  uint32_t n_truth;
  const uint32_t *excl;
  uint32_t n_excl;
} row_case_t;

/* One evaluation user per case, all cases over the same catalogue size n. */
static void fixture(dataset_t *ds, uint32_t n_items, const row_case_t *c, uint32_t n_cases) {
  memset(ds, 0, sizeof *ds);
  ds->n_items = n_items;
  ds->n_users = n_cases;
  ds->n_eval = n_cases;
  ds->eval_user = malloc(n_cases * sizeof(uint32_t));
  ds->truth_ptr = malloc((n_cases + 1) * sizeof(uint32_t));
  ds->excl_ptr = malloc((n_cases + 1) * sizeof(uint32_t));
  uint32_t nt = 0, ne = 0;
  for (uint32_t u = 0; u < n_cases; u++) nt += c[u].n_truth, ne += c[u].n_excl;
  ds->truth = malloc((nt + 1) * sizeof(uint32_t));
  ds->excl = malloc((ne + 1) * sizeof(uint32_t));
  CHECK(ds->eval_user && ds->truth_ptr && ds->excl_ptr && ds->truth && ds->excl);
  ds->truth_ptr[0] = ds->excl_ptr[0] = 0;
  for (uint32_t u = 0; u < n_cases; u++) {
    ds->eval_user[u] = u;
    if (c[u].n_truth) memcpy(ds->truth + ds->truth_ptr[u], c[u].truth, c[u].n_truth * 4);
    if (c[u].n_excl) memcpy(ds->excl + ds->excl_ptr[u], c[u].excl, c[u].n_excl * 4);
    ds->truth_ptr[u + 1] = ds->truth_ptr[u] + c[u].n_truth;
    ds->excl_ptr[u + 1] = ds->excl_ptr[u] + c[u].n_excl;
  }
}

static void fixture_free(dataset_t *ds) {
  free(ds->eval_user), free(ds->truth_ptr), free(ds->excl_ptr), free(ds->truth), free(ds->excl);
  free(ds->item_pop);
  memset(ds, 0, sizeof *ds);
}

/* Score producer that copies fixed rows (one per evaluation user). */
typedef struct rows_ctx {
  const float *rows; /* (n_eval, n_items) */
  uint32_t n_items;
} rows_ctx_t;

static int rows_fn(float *S, uint32_t first, uint32_t n, void *vctx, fm_err *err) {
  const rows_ctx_t *c = vctx;
  memcpy(S, c->rows + (size_t)first * c->n_items, (size_t)n * c->n_items * sizeof(float));
  return 0;
}

/* Checks one case both through the pure per-row function and through the
 * blocked driver (which overwrites excluded scores with -inf and uses masks). */
static void check_case(const row_case_t *c, double ndcg, double recall, double hr, double mrr,
                       int line) {
  metrics_user_t m;
  metrics_user_from_scores(&m, c->s, c->n, c->truth, c->n_truth, c->excl, c->n_excl);
  if (fabs(m.ndcg10 - ndcg) > TOL || fabs(m.recall20 - recall) > TOL || fabs(m.hr10 - hr) > TOL ||
      fabs(m.mrr - mrr) > TOL) {
    fprintf(stderr, "case at line %d (pure): got ndcg %.9g recall %.9g hr %g mrr %.9g\n", line,
            m.ndcg10, m.recall20, m.hr10, m.mrr);
    exit(1);
  }
  dataset_t ds;
  fixture(&ds, c->n, c, 1);
  rows_ctx_t rc = {c->s, c->n};
  metrics_t out;
  metrics_user_t pu;
  fm_err err;
  CHECK_OK(metrics_rank_scores(&out, &pu, &ds, rows_fn, &rc, NULL, 0, &err));
  CHECK_EQ_INT(out.n_users, 1);
  CHECK(memcmp(&pu, &m, sizeof m) == 0);
  CHECK(out.ndcg10 == m.ndcg10 && out.recall20 == m.recall20 && out.mrr == m.mrr);
  fixture_free(&ds);
}
#define CASE(c, nd, re, hr, mr) check_case(&(c), nd, re, hr, mr, __LINE__)

static void test_known_answers(void) {
  /* Descending scores: s[i] = 40 - i, so item i has rank i + 1. */
  float desc[40];
  for (int i = 0; i < 40; i++) desc[i] = (float)(40 - i);

  /* Relevant at rank 1: NDCG = d(1)/d(1) = 1, Recall = 1/1, HR = 1, MRR = 1. */
  uint32_t t0[] = {0};
  row_case_t a = {desc, 40, t0, 1, NULL, 0};
  CASE(a, 1, 1, 1, 1);

  /* Relevant at rank 11: outside the top 10 (NDCG 0, HR 0) but inside the top
   * 20 (Recall 1/1); MRR 1/11. */
  uint32_t t10[] = {10};
  row_case_t b = {desc, 40, t10, 1, NULL, 0};
  CASE(b, 0, 1, 0, 1.0 / 11);

  /* Relevant at rank 21: nothing in the top 20; MRR 1/21 comes from counting. */
  uint32_t t20[] = {20};
  row_case_t b2 = {desc, 40, t20, 1, NULL, 0};
  CASE(b2, 0, 0, 0, 1.0 / 21);

  /* Three relevant at ranks 2, 5, 12 (given out of order):
   * DCG = d(2) + d(5) = 0.630929754 + 0.386852807; IDCG = d(1) + d(2) + d(3)
   * = 2.130929754; NDCG = 0.477623704. Recall = 3/3, HR 1, MRR 1/2. */
  uint32_t t3[] = {11, 1, 4};
  row_case_t c3 = {desc, 40, t3, 3, NULL, 0};
  CASE(c3, 0.4776237035032179, 1, 1, 0.5);

  /* |truth| = 12 > 10 at ranks 1, 3, ..., 23 (items 0, 2, ..., 22):
   * DCG = d(1)+d(3)+d(5)+d(7)+d(9) = 1 + 0.5 + 0.386852807 + 0.333333333 +
   * 0.301029996 = 2.521216136; IDCG over min(12,10) = 10 positions = IDCG10;
   * NDCG = 0.554898913. Recall: ranks 1..19 odd = 10 hits / min(12,20) = 10/12. */
  uint32_t t12[12];
  for (int k = 0; k < 12; k++) t12[k] = (uint32_t)(2 * k);
  row_case_t d = {desc, 40, t12, 12, NULL, 0};
  CASE(d, 0.5548989126424904, 10.0 / 12, 1, 1);

  /* |truth| = 25 > 20 at ranks 2..26 (items 1..25): DCG = IDCG10 - d(1) =
   * 3.543559338; NDCG = 0.779908234. Recall = 19 hits (ranks 2..20) / 20. MRR 1/2. */
  uint32_t t25[25];
  for (int k = 0; k < 25; k++) t25[k] = (uint32_t)(k + 1);
  row_case_t e = {desc, 40, t25, 25, NULL, 0};
  CASE(e, 0.7799082337019199, 19.0 / 20, 1, 0.5);

  /* Excluded items that would outrank: item 3 (rank 4) with items 0, 1, 2
   * excluded is ranked first: all metrics 1. */
  uint32_t t3b[] = {3}, x012[] = {0, 1, 2};
  row_case_t f = {desc, 40, t3b, 1, x012, 3};
  CASE(f, 1, 1, 1, 1);

  /* Item 25 (rank 26) with items 0..4 excluded (and one listed twice): rank 21,
   * so nothing in the top 20, MRR 1/21 by counting minus the excluded. */
  uint32_t t25b[] = {25}, x5[] = {4, 0, 1, 2, 3, 2};
  row_case_t g = {desc, 40, t25b, 1, x5, 6};
  CASE(g, 0, 0, 0, 1.0 / 21);

  /* Ties by id: all scores equal, so the order is the id order. Item 5 has rank
   * 6: NDCG = d(6) = 1/log2(7) = 0.356207187, MRR 1/6. With item 2 excluded it
   * has rank 5: NDCG = d(5) = 0.386852807, MRR 1/5. */
  float flat[50];
  for (int i = 0; i < 50; i++) flat[i] = 0.25f;
  uint32_t t5[] = {5}, x2[] = {2};
  row_case_t h1 = {flat, 50, t5, 1, NULL, 0};
  CASE(h1, 0.3562071871080222, 1, 1, 1.0 / 6);
  row_case_t h2 = {flat, 50, t5, 1, x2, 1};
  CASE(h2, 0.38685280723454163, 1, 1, 0.2);
  /* Tie in the counting path: item 30 of 50 equal scores with 3 and 40
   * excluded: 29 items with lower id remain, rank 30; item 40 (higher id)
   * would not beat it anyway. */
  uint32_t t30[] = {30}, x3_40[] = {40, 3};
  row_case_t h3 = {flat, 50, t30, 1, x3_40, 2};
  CASE(h3, 0, 0, 0, 1.0 / 30);

  /* Ties between a relevant item and a higher-scored block: scores
   * 2,2,2,1,1,1,... ; relevant item 4 ties with items 3 and 5 and has the
   * lower id of 4 and 5: rank 5, NDCG d(5). */
  float steps[30];
  for (int i = 0; i < 30; i++) steps[i] = i < 3 ? 2.0f : 1.0f;
  uint32_t t4[] = {4};
  row_case_t h4 = {steps, 30, t4, 1, NULL, 0};
  CASE(h4, 0.38685280723454163, 1, 1, 0.2);

  /* NaN ranks as -inf, equal to -inf, ties by id. Small row (heap never full):
   * s = {NaN, 1, -inf, NaN, 0} orders 1, 4, 0, 2, 3; item 2 has rank 4:
   * NDCG = d(4) = 1/log2(5) = 0.430676558, MRR 1/4. */
  float small[5] = {NAN, 1.0f, -INFINITY, NAN, 0.0f};
  uint32_t t2[] = {2};
  row_case_t n1 = {small, 5, t2, 1, NULL, 0};
  CASE(n1, 0.43067655807339306, 1, 1, 0.25);
  /* Large row: items 0..24 finite (descending), 25..29 = NaN, -inf, NaN, -inf,
   * NaN. Item 27 has rank 28; with items 26 and 3 excluded, rank 26. MRR only. */
  float mixed[30];
  for (int i = 0; i < 25; i++) mixed[i] = (float)(100 - i);
  mixed[25] = NAN, mixed[26] = -INFINITY, mixed[27] = NAN, mixed[28] = -INFINITY, mixed[29] = NAN;
  uint32_t t27[] = {27}, x26_3[] = {26, 3};
  row_case_t n2 = {mixed, 30, t27, 1, NULL, 0};
  CASE(n2, 0, 0, 0, 1.0 / 28);
  row_case_t n3 = {mixed, 30, t27, 1, x26_3, 2};
  CASE(n3, 0, 0, 0, 1.0 / 26);

  /* A relevant item that is also excluded counts in |truth| but is never hit:
   * truth {0, 7}, 0 excluded; 7 ranks 7th (rank 8 minus one):
   * NDCG = d(7) / (d(1) + d(2)) = 0.333333333 / 1.630929754 = 0.204382209;
   * Recall 1/2; MRR 1/7. */
  uint32_t t07[] = {0, 7}, x0[] = {0};
  row_case_t r1 = {desc, 40, t07, 2, x0, 1};
  CASE(r1, (1.0 / 3) / (1.0 + 1.0 / log2(3.0)), 0.5, 1, 1.0 / 7);

  /* Duplicate truth ids count once: {10, 10} = {10}. */
  uint32_t t1010[] = {10, 10};
  row_case_t r2 = {desc, 40, t1010, 2, NULL, 0};
  CASE(r2, 0, 1, 0, 1.0 / 11);

  /* Long rows (the driver then works from chunk maxima). */
  enum { NL = 1000 };
  static float big[NL];
  /* All equal: item 500 with 3 and 900 excluded has 499 items before it. */
  for (int i = 0; i < NL; i++) big[i] = 0.5f;
  uint32_t t500[] = {500}, x3_900[] = {900, 3};
  row_case_t l1 = {big, NL, t500, 1, x3_900, 2};
  CASE(l1, 0, 0, 0, 1.0 / 500);
  /* Ten finite scores (items 0, 10, ..., 90 score 0..9), the rest NaN: the 10
   * finite ones lead, then NaN items by id. Item 7 with item 1 excluded comes
   * after the 10 and the NaN items 2..6: rank 16 (Recall 1, NDCG 0). */
  for (int i = 0; i < NL; i++) big[i] = i % 10 == 0 && i < 100 ? (float)(i / 10) : NAN;
  uint32_t t7[] = {7}, x1[] = {1};
  row_case_t l2 = {big, NL, t7, 1, x1, 1};
  CASE(l2, 0, 1, 0, 1.0 / 16);
  /* A relevant item at -inf: items 0..989 descending, 990..999 = -inf; item
   * 995 with item 0 excluded: 989 finite + 990..994 before it, rank 995. */
  for (int i = 0; i < NL; i++) big[i] = i < 990 ? (float)(NL - i) : -INFINITY;
  uint32_t t995[] = {995}, x0b[] = {0};
  row_case_t l3 = {big, NL, t995, 1, x0b, 1};
  CASE(l3, 0, 0, 0, 1.0 / 995);
  /* Descending with the relevant items at ranks 1 and 600 and exclusions
   * scattered: item 0 rank 1, NDCG 1 / (d(1) + d(2)) = 0.613147193, Recall 1/2. */
  for (int i = 0; i < NL; i++) big[i] = (float)(NL - i);
  uint32_t t0_600[] = {600, 0}, x_sc[] = {5, 50, 500, 999};
  row_case_t l4 = {big, NL, t0_600, 2, x_sc, 4};
  CASE(l4, 1.0 / (1.0 + 1.0 / log2(3.0)), 0.5, 1, 1);
}

/* Empty truth: the user is skipped (NaN per-user, not counted). */
static void test_empty_truth_skipped(void) {
  float desc[30];
  for (int i = 0; i < 30; i++) desc[i] = (float)(30 - i);
  float rows[3 * 30];
  for (int u = 0; u < 3; u++) memcpy(rows + u * 30, desc, sizeof desc);
  uint32_t t0[] = {0}, t10[] = {10};
  row_case_t c[3] = {{desc, 30, t0, 1, NULL, 0}, {desc, 30, NULL, 0, NULL, 0},
                     {desc, 30, t10, 1, NULL, 0}};
  dataset_t ds;
  fixture(&ds, 30, c, 3);
  rows_ctx_t rc = {rows, 30};
  metrics_t out, mean;
  metrics_user_t pu[3];
  fm_err err;
  CHECK_OK(metrics_rank_scores(&out, pu, &ds, rows_fn, &rc, NULL, 2, &err));
  CHECK_EQ_INT(out.n_users, 2);
  CHECK(isnan(pu[1].ndcg10) && isnan(pu[1].mrr));
  /* user 0: all 1; user 2: ndcg 0, recall 1, hr 0, mrr 1/11 */
  CHECK_NEAR(out.ndcg10, 0.5, TOL);
  CHECK_NEAR(out.recall20, 1.0, TOL);
  CHECK_NEAR(out.hr10, 0.5, TOL);
  CHECK_NEAR(out.mrr, (1.0 + 1.0 / 11) / 2, TOL);
  metrics_mean(&mean, pu, 3);
  CHECK(mean.n_users == out.n_users && mean.ndcg10 == out.ndcg10 && mean.mrr == out.mrr &&
        mean.recall20 == out.recall20 && mean.hr10 == out.hr10);
  /* per_user may be NULL */
  metrics_t out2;
  CHECK_OK(metrics_rank_scores(&out2, NULL, &ds, rows_fn, &rc, NULL, 0, &err));
  CHECK(memcmp(&out, &out2, sizeof out) == 0);

  /* Popularity: item_pop as everyone's score; with pop = desc the same answers. */
  ds.item_pop = malloc(30 * sizeof(float));
  memcpy(ds.item_pop, desc, sizeof desc);
  CHECK_OK(metrics_rank_popularity(&out2, NULL, &ds, &err));
  CHECK(out2.n_users == 2 && out2.ndcg10 == out.ndcg10 && out2.mrr == out.mrr);

  /* A truth id out of range is refused with a message. */
  ds.truth[0] = 30;
  CHECK(metrics_rank_popularity(&out2, NULL, &ds, &err) < 0);
  CHECK(strstr(err.msg, "truth") != NULL);
  fixture_free(&ds);
}

/* item_col: ties broken by the given column order. All scores equal, columns
 * reversed: the highest id ranks first. */
static int flat_fn(float *S, uint32_t first, uint32_t n, void *vctx, fm_err *err) {
  uint32_t n_items = *(const uint32_t *)vctx;
  for (size_t k = 0; k < (size_t)n * n_items; k++) S[k] = 1.0f;
  return 0;
}

static void test_item_col(void) {
  uint32_t n = 40, col[40];
  for (uint32_t i = 0; i < n; i++) col[i] = n - 1 - i;
  uint32_t t[] = {39}, t2[] = {0}, x[] = {39};
  row_case_t c[2] = {{NULL, 40, t, 1, NULL, 0}, {NULL, 40, t2, 1, x, 1}};
  dataset_t ds;
  fixture(&ds, n, c, 2);
  metrics_t out;
  metrics_user_t pu[2];
  fm_err err;
  CHECK_OK(metrics_rank_scores(&out, pu, &ds, flat_fn, &n, col, 0, &err));
  CHECK_NEAR(pu[0].mrr, 1.0, 0); /* item 39 is column 0 */
  CHECK_NEAR(pu[1].mrr, 1.0 / 39, TOL); /* item 0 is last, one item excluded */
  fixture_free(&ds);
}

/* ---------- random data: blocked sgemm driver vs per-row vs brute force ---------- */

static const float *g_row;
static int cmp_rank(const void *a, const void *b) {
  uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
  float x = isnan(g_row[i]) ? -INFINITY : g_row[i], y = isnan(g_row[j]) ? -INFINITY : g_row[j];
  if (x != y) return x > y ? -1 : 1;
  return (i > j) - (i < j);
}

/* Independent reference: full sort of the non-excluded items. */
static void brute(metrics_user_t *m, const float *s, uint32_t n, const uint32_t *truth,
                  uint32_t nt, const uint32_t *excl, uint32_t ne) {
  uint8_t *ex = calloc(n, 1), *rel = calloc(n, 1);
  uint32_t *ord = malloc(n * sizeof *ord), k = 0, n_rel = 0;
  for (uint32_t a = 0; a < ne; a++) ex[excl[a]] = 1;
  for (uint32_t a = 0; a < nt; a++) n_rel += !rel[truth[a]], rel[truth[a]] = 1;
  for (uint32_t i = 0; i < n; i++)
    if (!ex[i]) ord[k++] = i;
  g_row = s;
  qsort(ord, k, sizeof *ord, cmp_rank);
  double dcg = 0, idcg = 0;
  uint32_t hits = 0, first = 0;
  for (uint32_t p = 0; p < k; p++) {
    if (!rel[ord[p]]) continue;
    if (!first) first = p + 1;
    if (p < 10) dcg += 1.0 / log2(p + 2.0);
    if (p < 20) hits++;
  }
  for (uint32_t p = 0; p < (n_rel < 10 ? n_rel : 10); p++) idcg += 1.0 / log2(p + 2.0);
  m->ndcg10 = (float)(dcg / idcg);
  m->recall20 = (float)((double)hits / (n_rel < 20 ? n_rel : 20));
  m->hr10 = first && first <= 10;
  m->mrr = first ? (float)(1.0 / first) : 0.0f;
  free(ex), free(rel), free(ord);
}

static void test_random_blocks(void) {
  const uint32_t n_items = 1003, n_eval = 300, dim = 16;
  rng_t r;
  rng_seed(&r, 42, RNG_EVAL, 1);
  float *U = malloc((size_t)n_eval * dim * sizeof(float));
  float *V = malloc((size_t)n_items * dim * sizeof(float));
  for (size_t k = 0; k < (size_t)n_eval * dim; k++) U[k] = (float)rng_normal(&r);
  for (size_t k = 0; k < (size_t)n_items * dim; k++) V[k] = (float)rng_normal(&r);
  /* Quantise some item vectors so that exact score ties occur. */
  for (uint32_t i = 0; i < n_items; i += 7) memcpy(V + (size_t)i * dim, V, dim * sizeof(float));

  row_case_t *c = calloc(n_eval, sizeof *c);
  uint32_t *lists = malloc((size_t)n_eval * 80 * sizeof(uint32_t));
  for (uint32_t u = 0; u < n_eval; u++) {
    uint32_t *t = lists + (size_t)u * 80, *x = t + 40;
    uint32_t nt = u % 11 == 0 ? 0 : rng_below(&r, 30) + 1, ne = rng_below(&r, 40);
    for (uint32_t k = 0; k < nt; k++) t[k] = rng_below(&r, n_items); /* may repeat */
    for (uint32_t k = 0; k < ne; k++) x[k] = rng_below(&r, n_items); /* may hit truth */
    c[u] = (row_case_t){NULL, n_items, t, nt, x, ne};
  }
  dataset_t ds;
  fixture(&ds, n_items, c, n_eval);

  /* Reference rows: the canonical scores (sgemm's own bits depend on the
   * block height; metrics_rank_dot only uses them to prune). */
  float *S = malloc((size_t)n_eval * n_items * sizeof(float));
  for (uint32_t u = 0; u < n_eval; u++)
    for (uint32_t i = 0; i < n_items; i++)
      S[(size_t)u * n_items + i] = metrics_dot_exact(U + (size_t)u * dim, V + (size_t)i * dim, dim);
  metrics_user_t *ref = malloc(n_eval * sizeof *ref), *pu = malloc(n_eval * sizeof *pu);
  uint32_t counted = 0, fast_hits = 0;
  for (uint32_t u = 0; u < n_eval; u++) {
    if (c[u].n_truth == 0) continue;
    counted++;
    metrics_user_t b;
    metrics_user_from_scores(&ref[u], S + (size_t)u * n_items, n_items, c[u].truth,
                             c[u].n_truth, c[u].excl, c[u].n_excl);
    brute(&b, S + (size_t)u * n_items, n_items, c[u].truth, c[u].n_truth, c[u].excl,
          c[u].n_excl);
    CHECK_NEAR(ref[u].ndcg10, b.ndcg10, 1e-7);
    CHECK_NEAR(ref[u].recall20, b.recall20, 1e-7);
    CHECK_NEAR(ref[u].hr10, b.hr10, 0);
    CHECK_NEAR(ref[u].mrr, b.mrr, 1e-9);
    fast_hits += ref[u].recall20 > 0;
  }
  CHECK(fast_hits > 10 && fast_hits < counted); /* both MRR paths exercised */

  uint32_t blocks[] = {1, 7, 64, 256, 300, 0};
  metrics_t first;
  fm_err err;
  for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
    metrics_t out;
    CHECK_OK(metrics_rank_dot_block(&out, pu, U, V, dim, &ds, blocks[b], &err));
    CHECK_EQ_INT(out.n_users, counted);
    for (uint32_t u = 0; u < n_eval; u++) {
      if (c[u].n_truth == 0) {
        CHECK(isnan(pu[u].ndcg10));
        continue;
      }
      if (memcmp(&pu[u], &ref[u], sizeof *pu) != 0) {
        fprintf(stderr, "block %u user %u: ndcg %.9g vs %.9g, mrr %.9g vs %.9g\n", blocks[b], u,
                pu[u].ndcg10, ref[u].ndcg10, pu[u].mrr, ref[u].mrr);
        exit(1);
      }
    }
    if (b == 0) first = out;
    CHECK(memcmp(&out, &first, sizeof out) == 0);
  }
  metrics_t out;
  CHECK_OK(metrics_rank_dot(&out, NULL, U, V, dim, &ds, &err));
  CHECK(memcmp(&out, &first, sizeof out) == 0);

  /* Non-finite vectors (a diverged model): an item vector with a NaN and a
   * user vector with an infinity take the exact path and still agree. */
  float *V2 = malloc((size_t)n_items * dim * sizeof(float));
  float *U2 = malloc((size_t)n_eval * dim * sizeof(float));
  memcpy(V2, V, (size_t)n_items * dim * sizeof(float));
  memcpy(U2, U, (size_t)n_eval * dim * sizeof(float));
  V2[17 * dim + 3] = NAN;
  U2[5 * dim] = INFINITY;
  metrics_user_t *pu2 = malloc(n_eval * sizeof *pu2);
  CHECK_OK(metrics_rank_dot_block(&out, pu2, U2, V2, dim, &ds, 7, &err));
  for (uint32_t u = 0; u < n_eval; u++) {
    if (c[u].n_truth == 0) continue;
    float *row = S; /* reuse row 0 of S as scratch */
    for (uint32_t i = 0; i < n_items; i++)
      row[i] = metrics_dot_exact(U2 + (size_t)u * dim, V2 + (size_t)i * dim, dim);
    metrics_user_t m;
    metrics_user_from_scores(&m, row, n_items, c[u].truth, c[u].n_truth, c[u].excl, c[u].n_excl);
    CHECK(memcmp(&m, &pu2[u], sizeof m) == 0);
  }
  free(V2), free(U2), free(pu2);

  /* bootstrap on these users */
  double lo, hi, lo2, hi2, lo3, hi3;
  metrics_bootstrap_ndcg(&lo, &hi, pu, n_eval, 1000, 7);
  metrics_bootstrap_ndcg(&lo2, &hi2, pu, n_eval, 1000, 7);
  metrics_bootstrap_ndcg(&lo3, &hi3, pu, n_eval, 1000, 8);
  CHECK(lo == lo2 && hi == hi2);
  CHECK(lo != lo3 || hi != hi3);
  CHECK(lo < first.ndcg10 && first.ndcg10 < hi);
  /* roughly mean +- 1.96 standard errors */
  double sd = 0;
  for (uint32_t u = 0; u < n_eval; u++)
    if (!isnan(pu[u].ndcg10)) sd += (pu[u].ndcg10 - first.ndcg10) * (pu[u].ndcg10 - first.ndcg10);
  double se = sqrt(sd / (counted - 1) / counted);
  CHECK_NEAR(hi - lo, 2 * 1.96 * se, 0.25 * 2 * 1.96 * se);

  free(U), free(V), free(c), free(lists), free(S), free(ref), free(pu);
  fixture_free(&ds);
}

/* Scores by cancellation: u = (w, 2^24, -2^24, 0), v_i = (a_i, b_i, b_i, 0)
 * with b_i in {0, 1, 2, 4}, so u.v_i = w a_i exactly, but a float sum in k
 * order first rounds w a_i + 2^24 b_i to a multiple of 2 b_i: sgemm's scores
 * are off by item-dependent amounts, not monotonically, and every ranking
 * decision goes through the rescoring (margin m ~ 10^2 here); the result must
 * still equal the reference on canonical rows. */
static void test_cancellation(void) {
  const uint32_t n_items = 2000, n_eval = 40, dim = 4;
  rng_t r;
  rng_seed(&r, 11, RNG_EVAL, 3);
  float *U = malloc(n_eval * dim * sizeof(float)), *V = malloc(n_items * dim * sizeof(float));
  for (uint32_t u = 0; u < n_eval; u++) {
    U[u * dim] = 0.25f + rng_uniform(&r), U[u * dim + 1] = 0x1p24f;
    U[u * dim + 2] = -0x1p24f, U[u * dim + 3] = 0;
  }
  for (uint32_t i = 0; i < n_items; i++) {
    float b = (float)((1u << rng_below(&r, 4)) >> 1); /* 0, 1, 2, 4 */
    V[i * dim] = 8 * rng_uniform(&r), V[i * dim + 1] = V[i * dim + 2] = b, V[i * dim + 3] = 0;
  }
  row_case_t *c = calloc(n_eval, sizeof *c);
  uint32_t *lists = malloc(n_eval * 40 * sizeof(uint32_t));
  for (uint32_t u = 0; u < n_eval; u++) {
    uint32_t *t = lists + u * 40, *x = t + 20, nt = 1 + rng_below(&r, 20), nx = rng_below(&r, 20);
    for (uint32_t k = 0; k < nt; k++) t[k] = rng_below(&r, n_items);
    for (uint32_t k = 0; k < nx; k++) x[k] = rng_below(&r, n_items);
    c[u] = (row_case_t){NULL, n_items, t, nt, x, nx};
  }
  dataset_t ds;
  fixture(&ds, n_items, c, n_eval);
  metrics_t out;
  metrics_user_t *pu = malloc(n_eval * sizeof *pu);
  float *row = malloc(n_items * sizeof(float));
  fm_err err;
  uint32_t blocks[] = {1, 3, 40};
  for (int b = 0; b < 3; b++) {
    CHECK_OK(metrics_rank_dot_block(&out, pu, U, V, dim, &ds, blocks[b], &err));
    for (uint32_t u = 0; u < n_eval; u++) {
      for (uint32_t i = 0; i < n_items; i++)
        row[i] = metrics_dot_exact(U + u * dim, V + i * dim, dim);
      metrics_user_t m;
      metrics_user_from_scores(&m, row, n_items, c[u].truth, c[u].n_truth, c[u].excl,
                               c[u].n_excl);
      CHECK(memcmp(&m, &pu[u], sizeof m) == 0);
    }
  }
  free(U), free(V), free(c), free(lists), free(pu), free(row);
  fixture_free(&ds);
}

/* Random rows full of ties, NaN and infinities, of every length: the driver's
 * fast path equals the reference row by row. */
static void test_random_rows_ties(void) {
  rng_t r;
  rng_seed(&r, 5, RNG_EVAL, 2);
  for (int trial = 0; trial < 200; trial++) {
    uint32_t n = 1 + rng_below(&r, trial < 100 ? 80 : 2500), n_eval = 1 + rng_below(&r, 6);
    float *rows = malloc((size_t)n_eval * n * sizeof(float));
    uint32_t levels = 1 + rng_below(&r, 12);
    for (size_t k = 0; k < (size_t)n_eval * n; k++) {
      uint32_t z = rng_below(&r, 100);
      rows[k] = z < 3 ? NAN : z < 5 ? INFINITY : z < 8 ? -INFINITY : (float)rng_below(&r, levels);
    }
    row_case_t *c = calloc(n_eval, sizeof *c);
    uint32_t *lists = malloc((size_t)n_eval * 60 * sizeof(uint32_t));
    for (uint32_t u = 0; u < n_eval; u++) {
      uint32_t *t = lists + u * 60, *x = t + 30;
      uint32_t nt = rng_below(&r, 30), nx = rng_below(&r, 30);
      for (uint32_t k = 0; k < nt; k++) t[k] = rng_below(&r, n);
      for (uint32_t k = 0; k < nx; k++) x[k] = rng_below(&r, n);
      c[u] = (row_case_t){rows + (size_t)u * n, n, t, nt, x, nx};
    }
    dataset_t ds;
    fixture(&ds, n, c, n_eval);
    rows_ctx_t rc = {rows, n};
    metrics_t out;
    metrics_user_t *pu = malloc(n_eval * sizeof *pu);
    fm_err err;
    CHECK_OK(metrics_rank_scores(&out, pu, &ds, rows_fn, &rc, NULL, 1 + rng_below(&r, 4), &err));
    for (uint32_t u = 0; u < n_eval; u++) {
      if (c[u].n_truth == 0) continue;
      metrics_user_t m, b;
      metrics_user_from_scores(&m, c[u].s, n, c[u].truth, c[u].n_truth, c[u].excl, c[u].n_excl);
      brute(&b, c[u].s, n, c[u].truth, c[u].n_truth, c[u].excl, c[u].n_excl);
      if (memcmp(&m, &pu[u], sizeof m) != 0 || fabs(m.mrr - b.mrr) > 1e-9 ||
          fabs(m.ndcg10 - b.ndcg10) > 1e-7 || fabs(m.recall20 - b.recall20) > 1e-7) {
        fprintf(stderr, "trial %d n %u user %u: driver mrr %.9g ndcg %.9g, reference %.9g %.9g, "
                "sort %.9g %.9g\n", trial, n, u, pu[u].mrr, pu[u].ndcg10, m.mrr, m.ndcg10,
                b.mrr, b.ndcg10);
        exit(1);
      }
    }
    free(rows), free(c), free(lists), free(pu);
    fixture_free(&ds);
  }
}


/* ---------- the tiled dot path: every geometry and thread count ---------- */

/* Random user and item vectors with many exact score ties (integer entries in
 * a small range, and repeated item vectors), random truth (with repeats,
 * some excluded) and exclusions; every (block, tile, threads) must give the
 * per-row reference on canonical rows, bit for bit, and the same means. */
static void test_tiled_geometries(void) {
  const uint32_t n_items = 1037, n_eval = 203, dim = 8;
  rng_t r;
  rng_seed(&r, 77, RNG_EVAL, 4);
  float *U = malloc((size_t)n_eval * dim * sizeof(float));
  float *V = malloc((size_t)n_items * dim * sizeof(float));
  for (size_t k = 0; k < (size_t)n_eval * dim; k++) U[k] = (float)((int)rng_below(&r, 5) - 2);
  for (size_t k = 0; k < (size_t)n_items * dim; k++) V[k] = (float)((int)rng_below(&r, 3) - 1);
  for (uint32_t i = 5; i < n_items; i += 11) memcpy(V + (size_t)i * dim, V, dim * sizeof(float));
  row_case_t *c = calloc(n_eval, sizeof *c);
  uint32_t *lists = malloc((size_t)n_eval * 100 * sizeof(uint32_t));
  for (uint32_t u = 0; u < n_eval; u++) {
    uint32_t *t = lists + (size_t)u * 100, *x = t + 40;
    uint32_t nt = u % 13 == 0 ? 0 : 1 + rng_below(&r, 30), nx = rng_below(&r, 60);
    for (uint32_t k = 0; k < nt; k++) t[k] = rng_below(&r, n_items);
    for (uint32_t k = 0; k < nx; k++) x[k] = rng_below(&r, n_items);
    c[u] = (row_case_t){NULL, n_items, t, nt, x, nx};
  }
  dataset_t ds;
  fixture(&ds, n_items, c, n_eval);
  float *row = malloc(n_items * sizeof(float));
  metrics_user_t *ref = malloc(n_eval * sizeof *ref), *pu = malloc(n_eval * sizeof *pu);
  metrics_t want;
  for (uint32_t u = 0; u < n_eval; u++) {
    for (uint32_t i = 0; i < n_items; i++)
      row[i] = metrics_dot_exact(U + (size_t)u * dim, V + (size_t)i * dim, dim);
    if (c[u].n_truth == 0) {
      ref[u].ndcg10 = ref[u].recall20 = ref[u].hr10 = ref[u].mrr = NAN;
      continue;
    }
    metrics_user_from_scores(&ref[u], row, n_items, c[u].truth, c[u].n_truth, c[u].excl,
                             c[u].n_excl);
  }
  metrics_mean(&want, ref, n_eval);
  const uint32_t geo[][3] = {{1, 1, 1},   {1, 16, 1},  {7, 17, 1},   {5, 100, 2}, {64, 333, 3},
                             {0, 0, 1},   {0, 0, 2},   {0, 0, 4},    {203, 1037, 1},
                             {300, 5000, 2}, {3, 2000, 5}, {50, 64, 0}};
  fm_err err;
  for (size_t g = 0; g < sizeof geo / sizeof *geo; g++) {
    metrics_t out;
    CHECK_OK(metrics_rank_dot_tiled(&out, pu, U, V, dim, &ds, geo[g][0], geo[g][1], geo[g][2],
                                    &err));
    for (uint32_t u = 0; u < n_eval; u++) {
      int same = c[u].n_truth == 0 ? isnan(pu[u].ndcg10) && isnan(pu[u].mrr)
                                   : memcmp(&pu[u], &ref[u], sizeof *pu) == 0;
      if (!same) {
        fprintf(stderr, "geometry %u/%u/%u user %u: ndcg %.9g vs %.9g, mrr %.9g vs %.9g\n",
                geo[g][0], geo[g][1], geo[g][2], u, pu[u].ndcg10, ref[u].ndcg10, pu[u].mrr,
                ref[u].mrr);
        exit(1);
      }
    }
    CHECK(memcmp(&out, &want, sizeof out) == 0);
    metrics_t again; /* per_user NULL: the same means */
    CHECK_OK(metrics_rank_dot_tiled(&again, NULL, U, V, dim, &ds, geo[g][0], geo[g][1],
                                    geo[g][2], &err));
    CHECK(memcmp(&again, &want, sizeof again) == 0);
  }
  free(U), free(V), free(c), free(lists), free(row), free(ref), free(pu);
  fixture_free(&ds);
}

/* ---------- the partial top K against a full sort ---------- */

/* The first K of a full sort of the non-excluded items of a canonical row
 * (score descending, equal scores by lower id, NaN as -inf). */
static uint32_t full_sort_top(uint32_t *top, const float *s, uint32_t n, const uint32_t *excl,
                              uint32_t ne) {
  uint8_t *ex = calloc(n, 1);
  uint32_t *ord = malloc(n * sizeof *ord), k = 0;
  for (uint32_t a = 0; a < ne; a++) ex[excl[a]] = 1;
  for (uint32_t i = 0; i < n; i++)
    if (!ex[i]) ord[k++] = i;
  g_row = s;
  qsort(ord, k, sizeof *ord, cmp_rank);
  uint32_t m = k < METRICS_TOPK ? k : METRICS_TOPK;
  for (uint32_t p = 0; p < METRICS_TOPK; p++) top[p] = p < m ? ord[p] : UINT32_MAX;
  free(ex), free(ord);
  return m;
}

static void check_top_vs_sort(const float *U, const float *V, uint32_t dim, const dataset_t *ds,
                              const uint32_t geo[3], const char *what) {
  const uint32_t n_eval = ds->n_eval, n_items = ds->n_items;
  uint32_t *top = malloc((size_t)n_eval * METRICS_TOPK * sizeof *top);
  float *sc = malloc((size_t)n_eval * METRICS_TOPK * sizeof *sc);
  float *row = malloc(n_items * sizeof *row);
  fm_err err;
  CHECK_OK(metrics_top_dot(top, sc, U, V, dim, ds, geo[0], geo[1], geo[2], &err));
  for (uint32_t u = 0; u < n_eval; u++) {
    for (uint32_t i = 0; i < n_items; i++)
      row[i] = metrics_dot_exact(U + (size_t)u * dim, V + (size_t)i * dim, dim);
    uint32_t want[METRICS_TOPK];
    uint32_t m = full_sort_top(want, row, n_items, ds->excl + ds->excl_ptr[u],
                               ds->excl_ptr[u + 1] - ds->excl_ptr[u]);
    const uint32_t *got = top + (size_t)u * METRICS_TOPK;
    if (memcmp(got, want, sizeof want) != 0) {
      fprintf(stderr, "%s, geometry %u/%u/%u, user %u: top lists differ\n", what, geo[0], geo[1],
              geo[2], u);
      for (uint32_t p = 0; p < METRICS_TOPK; p++)
        fprintf(stderr, "  %2u: got %u want %u (%.9g)\n", p, got[p], want[p],
                want[p] == UINT32_MAX ? NAN : row[want[p]]);
      exit(1);
    }
    for (uint32_t p = 0; p < METRICS_TOPK; p++) {
      float w = p < m ? (isnan(row[want[p]]) ? -INFINITY : row[want[p]]) : NAN;
      float gsc = sc[(size_t)u * METRICS_TOPK + p];
      CHECK(memcmp(&gsc, &w, sizeof w) == 0 || (isnan(gsc) && isnan(w)));
    }
  }
  free(top), free(sc), free(row);
}

static void test_top_known_answer(void) {
  /* dim 1, user (1): scores = the item values. Items 0..7 score
   * 3 1 3 2 3 NaN 2 -inf; item 4 excluded. Full order: 0 2 (3, ids up),
   * 3 6 (2), 1 (1), then 5 and 7 tie at -inf (NaN ranks as -inf) by id. */
  const float U[1] = {1}, V[8] = {3, 1, 3, 2, 3, NAN, 2, -INFINITY};
  uint32_t x[] = {4};
  row_case_t c = {NULL, 8, NULL, 0, x, 1};
  dataset_t ds;
  fixture(&ds, 8, &c, 1);
  uint32_t top[METRICS_TOPK];
  float sc[METRICS_TOPK];
  fm_err err;
  CHECK_OK(metrics_top_dot(top, sc, U, V, 1, &ds, 0, 0, 1, &err));
  const uint32_t want[] = {0, 2, 3, 6, 1, 5, 7};
  for (uint32_t p = 0; p < METRICS_TOPK; p++) CHECK_EQ_INT(top[p], p < 7 ? want[p] : UINT32_MAX);
  CHECK(sc[0] == 3 && sc[1] == 3 && sc[2] == 2 && sc[3] == 2 && sc[4] == 1);
  CHECK(sc[5] == -INFINITY && sc[6] == -INFINITY && isnan(sc[7]));
  fixture_free(&ds);

  /* A finite known answer across tiles: 60 items, item i scores i % 7, the
   * user excludes item 6. The top 20: score 6 at items 13, 20, ..., 55 (7
   * items), score 5 at 5, 12, ..., 54 (8), score 4 at 4, 11, 18, 25, 32. */
  float V2[60];
  for (int i = 0; i < 60; i++) V2[i] = (float)(i % 7);
  uint32_t x2[] = {6};
  row_case_t c2 = {NULL, 60, NULL, 0, x2, 1};
  fixture(&ds, 60, &c2, 1);
  uint32_t want2[METRICS_TOPK], n2 = 0;
  for (int v = 6; v >= 0 && n2 < METRICS_TOPK; v--)
    for (int i = 0; i < 60 && n2 < METRICS_TOPK; i++)
      if (i % 7 == v && i != 6) want2[n2++] = (uint32_t)i;
  CHECK_EQ_INT(want2[0], 13);
  CHECK_EQ_INT(want2[7], 5);
  CHECK_EQ_INT(want2[19], 32);
  const uint32_t tiles[] = {1, 7, 16, 60, 0};
  for (int t = 0; t < 5; t++) {
    CHECK_OK(metrics_top_dot(top, NULL, U, V2, 1, &ds, 1, tiles[t], 1, &err));
    CHECK(memcmp(top, want2, sizeof want2) == 0);
  }
  fixture_free(&ds);
}

static void test_top_random(void) {
  rng_t r;
  rng_seed(&r, 9, RNG_EVAL, 5);
  for (int trial = 0; trial < 12; trial++) {
    /* small catalogues (fewer than K candidates), tie-heavy integer vectors,
     * continuous ones, and one with non-finite vectors */
    uint32_t n_items = trial < 3 ? 5 + rng_below(&r, 30) : 200 + rng_below(&r, 1800);
    uint32_t n_eval = 1 + rng_below(&r, 90), dim = 1 + rng_below(&r, 12);
    float *U = malloc((size_t)n_eval * dim * sizeof(float));
    float *V = malloc((size_t)n_items * dim * sizeof(float));
    int ties = trial % 2 == 0;
    for (size_t k = 0; k < (size_t)n_eval * dim; k++)
      U[k] = ties ? (float)((int)rng_below(&r, 3) - 1) : (float)rng_normal(&r);
    for (size_t k = 0; k < (size_t)n_items * dim; k++)
      V[k] = ties ? (float)((int)rng_below(&r, 3) - 1) : (float)rng_normal(&r);
    if (trial == 11) {
      V[3 * dim] = NAN;
      U[0] = INFINITY;
    }
    row_case_t *c = calloc(n_eval, sizeof *c);
    uint32_t *lists = malloc((size_t)n_eval * 60 * sizeof(uint32_t));
    for (uint32_t u = 0; u < n_eval; u++) {
      uint32_t *t = lists + (size_t)u * 60, *x = t + 10;
      uint32_t nt = rng_below(&r, 10), nx = rng_below(&r, n_items < 50 ? n_items : 50);
      for (uint32_t k = 0; k < nt; k++) t[k] = rng_below(&r, n_items);
      for (uint32_t k = 0; k < nx; k++) x[k] = rng_below(&r, n_items);
      c[u] = (row_case_t){NULL, n_items, t, nt, x, nx};
    }
    dataset_t ds;
    fixture(&ds, n_items, c, n_eval);
    const uint32_t geos[][3] = {{0, 0, 1}, {1, 16, 1}, {7, 33, 2}, {0, 0, 3}, {5, 1, 1}};
    char what[64];
    snprintf(what, sizeof what, "trial %d (%u items, dim %u)", trial, n_items, dim);
    for (int g = 0; g < 5; g++) check_top_vs_sort(U, V, dim, &ds, geos[g], what);
    free(U), free(V), free(c), free(lists);
    fixture_free(&ds);
  }
}

static void test_bootstrap_small(void) {
  /* All users equal: the interval is the point. NaN entries are skipped. */
  metrics_user_t pu[5];
  for (int u = 0; u < 5; u++) pu[u] = (metrics_user_t){0.25f, 0, 0, 0};
  pu[2].ndcg10 = NAN;
  double lo, hi;
  metrics_bootstrap_ndcg(&lo, &hi, pu, 5, 200, 1);
  CHECK_NEAR(lo, 0.25, 0);
  CHECK_NEAR(hi, 0.25, 0);
  metrics_bootstrap_ndcg(&lo, &hi, pu, 0, 200, 1);
  CHECK(isnan(lo) && isnan(hi));
  /* Two values 0 and 1 over many users: the interval brackets 0.5. */
  metrics_user_t many[400];
  for (int u = 0; u < 400; u++) many[u] = (metrics_user_t){(float)(u & 1), 0, 0, 0};
  metrics_bootstrap_ndcg(&lo, &hi, many, 400, 2000, 3);
  CHECK(lo < 0.5 && 0.5 < hi);
  CHECK_NEAR(hi - lo, 2 * 1.96 * 0.025, 0.02); /* se = 0.5 / sqrt(400) */
}

/* metrics_bootstrap_rel: a known ratio is its own interval; NaN users drop
 * out of both sides; the pairing: a = b + small noise has a narrow interval
 * although each mean alone varies a lot (resampling a and b independently
 * would give a wide one). */
static void test_bootstrap_rel(void) {
  metrics_user_t a[6], b[6];
  const float vb[6] = {0.5f, 0.25f, 1.0f, 0.125f, 0.0f, 0.75f};
  for (int u = 0; u < 6; u++) b[u] = (metrics_user_t){vb[u], 0, 0, 0}, a[u] = (metrics_user_t){1.5f * vb[u], 0, 0, 0};
  a[3].ndcg10 = NAN; /* user 3 counts in neither */
  b[5].ndcg10 = NAN; /* nor user 5 */
  double est, lo, hi;
  metrics_bootstrap_rel(&est, &lo, &hi, a, b, 6, 500, 1);
  CHECK_NEAR(est, 0.5, 1e-12);
  CHECK_NEAR(lo, 0.5, 1e-12);
  CHECK_NEAR(hi, 0.5, 1e-12);
  metrics_bootstrap_rel(&est, &lo, &hi, b, b, 6, 500, 1);
  CHECK(est == 0.0 && lo == 0.0 && hi == 0.0);
  metrics_bootstrap_rel(&est, &lo, &hi, a, b, 6, 0, 1); /* no resamples: the estimate only */
  CHECK_NEAR(est, 0.5, 1e-12);
  CHECK(isnan(lo) && isnan(hi));
  for (int u = 0; u < 6; u++) b[u].ndcg10 = 0.0f;
  metrics_bootstrap_rel(&est, &lo, &hi, a, b, 6, 500, 1); /* b's mean is 0: no ratio */
  CHECK(isnan(est) && isnan(lo) && isnan(hi));
  static metrics_user_t pa[400], pb[400];
  rng_t r;
  rng_seed(&r, 5, 77, 0);
  for (int u = 0; u < 400; u++) {
    float x = (float)rng_double(&r);               /* users differ a lot */
    pb[u] = (metrics_user_t){x, 0, 0, 0};
    pa[u] = (metrics_user_t){1.1f * x + 0.01f * (float)rng_double(&r), 0, 0, 0};
  }
  metrics_bootstrap_rel(&est, &lo, &hi, pa, pb, 400, 2000, 3);
  double blo, bhi;
  metrics_bootstrap_ndcg(&blo, &bhi, pb, 400, 2000, 3);
  printf("  paired relative difference %.4f [%.4f, %.4f]; b alone [%.4f, %.4f]\n", est, lo, hi, blo, bhi);
  CHECK(lo <= est && est <= hi);
  CHECK(lo > 0.10 && hi < 0.13);                  /* a = 1.1 b + U(0, 0.01): about +11 % */
  CHECK(hi - lo < 0.2 * (bhi - blo) / ((blo + bhi) / 2)); /* far narrower than unpaired */
}

int main(void) {
  test_known_answers();
  test_bootstrap_rel();
  test_empty_truth_skipped();
  test_item_col();
  test_random_blocks();
  test_random_rows_ties();
  test_cancellation();
  test_tiled_geometries();
  test_top_known_answer();
  test_top_random();
  test_bootstrap_small();
  printf("test_metrics: ok\n");
  return 0;
}
