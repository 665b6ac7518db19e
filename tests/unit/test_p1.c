/* tests/unit/test_p1.c: protocol P1 helpers (common/p1.c) on tiny hand-made
 * shards: the K list parser, the pooled matrix (ids, rows, user join, pool
 * mask), the baselines against a ranking worked out by hand, K = 1 ItemKNN /
 * EASE equal to popularity, the pooled EASE against a direct computation, and
 * the skips (catalogue above the EASE limit, shards without user ids). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/baselines.h"
#include "common/metrics.h"
#include "common/p1.h"
#include "tests/check.h"

/* ---------------- fixture ----------------
 * Held-out "home" (platform 0, 5 items), users in time order:
 *   u0 gid 10: 0 1 2     u1 gid 11: 0 2     u2 gid 12: 1 0 3
 *   u3 gid 13: 4         u4 gid 14: 0 3 4 2
 * "books" (platform 1, 3 items), local users deliberately not in gid order:
 *   gid 20: 0 2          gid 10: 0 1        gid 12: 1 2
 * "food" (platform 2, 2 items):
 *   gid 11: 0            gid 13: 1 0        gid 21: 1
 * Pooled ids: home 0..4, books 5..7, food 8..9. */

static void mk_shard(shard_t *s, const char *name, uint32_t platform, uint32_t n_users,
                     uint32_t n_items, const uint32_t *ptr, const uint32_t *items,
                     const uint32_t *gid) {
  fm_err err;
  CHECK_OK(shard_alloc(s, n_users, n_items, ptr[n_users], 0, 0, &err));
  snprintf(s->name, sizeof s->name, "%s", name);
  s->platform = platform;
  memcpy(s->user_ptr, ptr, ((size_t)n_users + 1) * sizeof *ptr);
  for (uint32_t j = 0; j < ptr[n_users]; j++) {
    s->inter_item[j] = items[j];
    s->inter_ts[j] = 1000 + j; /* increasing: time order = position */
  }
  memcpy(s->user_gid, gid, n_users * sizeof *gid);
  CHECK_OK(shard_validate(s, &err));
}

static void fixture(shard_t sh[3]) {
  static const uint32_t HP[] = {0, 3, 5, 8, 9, 13}, HI[] = {0, 1, 2, 0, 2, 1, 0, 3, 4, 0, 3, 4, 2};
  static const uint32_t HG[] = {10, 11, 12, 13, 14};
  static const uint32_t AP[] = {0, 2, 4, 6}, AI[] = {0, 2, 0, 1, 1, 2}, AG[] = {20, 10, 12};
  static const uint32_t BP[] = {0, 1, 3, 4}, BI[] = {0, 1, 0, 1}, BG[] = {11, 13, 21};
  mk_shard(&sh[0], "home", 0, 5, 5, HP, HI, HG);
  mk_shard(&sh[1], "books", 1, 3, 3, AP, AI, AG);
  mk_shard(&sh[2], "food", 2, 3, 2, BP, BI, BG);
}

static void fixture_free(shard_t *sh, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) shard_free(&sh[i]);
}

static void check_row(const uint32_t *ptr, const uint32_t *items, uint32_t r, const uint32_t *want,
                      uint32_t n) {
  CHECK_EQ_INT(ptr[r + 1] - ptr[r], n);
  for (uint32_t k = 0; k < n; k++) CHECK_EQ_INT(items[ptr[r] + k], want[k]);
}

/* ---------------- tests ---------------- */

static void test_parse_ks(void) {
  uint32_t ks[P1_MAX_KS], n;
  fm_err err;
  CHECK_OK(p1_parse_ks(ks, &n, P1_MAX_KS, "1,5,10", &err));
  CHECK_EQ_INT(n, 3);
  CHECK(ks[0] == 1 && ks[1] == 5 && ks[2] == 10);
  CHECK_OK(p1_parse_ks(ks, &n, P1_MAX_KS, " 3 , 1", &err)); /* order kept, blanks trimmed */
  CHECK(n == 2 && ks[0] == 3 && ks[1] == 1);
  CHECK_OK(p1_parse_ks(ks, &n, P1_MAX_KS, "100000", &err));
  const char *bad[] = {"", "0", "1,,2", "1,", "a", "1,1", "-1", "2.5", "100001", "99999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    err.msg[0] = 0;
    CHECK(p1_parse_ks(ks, &n, P1_MAX_KS, bad[i], &err) < 0);
    CHECK(strstr(err.msg, "--ks") != NULL);
  }
  CHECK(p1_parse_ks(ks, &n, 2, "1,2,3", &err) < 0);
  CHECK(strstr(err.msg, "more than 2") != NULL);
}

static void test_pooled(void) {
  shard_t sh[3];
  fixture(sh);
  fm_err err;
  split_t sp;
  CHECK_OK(split_kshot(&sp, &sh[0], 1, &err)); /* support: u0 0, u1 0, u2 1, u4 0; u3 none */
  p1_pooled_t pm;
  CHECK_OK(p1_pooled_build(&pm, sh, 3, 0, NULL, &sp, &err));
  CHECK_EQ_INT(pm.n_items, 10);
  CHECK_EQ_INT(pm.n_shards, 3);
  CHECK(pm.item_off[0] == 0 && pm.item_off[1] == 5 && pm.item_off[2] == 8);
  CHECK_EQ_INT(pm.n_users, 7);
  static const uint32_t GID[] = {10, 11, 12, 13, 14, 20, 21};
  for (uint32_t r = 0; r < 7; r++) CHECK_EQ_INT(pm.gid[r], GID[r]);
  /* rows: held-out support first, then platform order, each in time order */
  static const uint32_t R0[] = {0, 5, 6}, R1[] = {0, 8}, R2[] = {1, 6, 7}, R3[] = {9, 8},
                        R4[] = {0}, R5[] = {5, 7}, R6[] = {9};
  const uint32_t *rows[] = {R0, R1, R2, R3, R4, R5, R6};
  const uint32_t len[] = {3, 2, 3, 2, 1, 2, 1};
  for (uint32_t r = 0; r < 7; r++) check_row(pm.ptr, pm.items, r, rows[r], len[r]);
  CHECK_EQ_INT(pm.n_active, 7); /* 2, 3, 4 of home only in query sets */
  /* each held-out user's pooled row (u3 has no home support, still its food row) */
  CHECK_EQ_INT(pm.n_heldout_users, 5);
  const uint32_t *hrows[] = {R0, R1, R2, R3, R4};
  for (uint32_t u = 0; u < 5; u++) check_row(pm.hist_ptr, pm.hist, u, hrows[u], len[u]);
  p1_pooled_free(&pm);
  p1_pooled_free(&pm); /* idempotent */

  /* pool mask: books only */
  const uint8_t pool[] = {1, 1, 0};
  CHECK_OK(p1_pooled_build(&pm, sh, 3, 0, pool, &sp, &err));
  CHECK_EQ_INT(pm.n_items, 8);
  CHECK(pm.item_off[2] == UINT32_MAX);
  CHECK_EQ_INT(pm.n_users, 5); /* gids 10 11 12 14 20 */
  static const uint32_t M1[] = {0};
  check_row(pm.ptr, pm.items, 1, M1, 1);
  CHECK_EQ_INT(pm.hist_ptr[4] - pm.hist_ptr[3], 0); /* u3: nothing pooled */
  p1_pooled_free(&pm);

  /* books held out: home and food pooled after it */
  split_t spa;
  CHECK_OK(split_kshot(&spa, &sh[1], 1, &err));
  CHECK_OK(p1_pooled_build(&pm, sh, 3, 1, NULL, &spa, &err));
  CHECK(pm.item_off[1] == 0 && pm.item_off[0] == 3 && pm.item_off[2] == 8);
  CHECK_EQ_INT(pm.n_items, 10);
  p1_pooled_free(&pm);
  split_free(&spa);

  /* a shard without user ids cannot be joined */
  free(sh[2].user_gid);
  sh[2].user_gid = NULL;
  err.msg[0] = 0;
  CHECK(p1_pooled_build(&pm, sh, 3, 0, NULL, &sp, &err) < 0);
  CHECK(strstr(err.msg, "food") && strstr(err.msg, "user_gid"));
  CHECK(pm.ptr == NULL && pm.items == NULL && pm.n_users == 0);
  CHECK_OK(p1_pooled_build(&pm, sh, 3, 0, pool, &sp, &err)); /* not needed when not pooled */
  p1_pooled_free(&pm);
  CHECK(p1_pooled_build(&pm, sh, 3, 3, NULL, &sp, &err) < 0); /* no platform 3 */
  split_free(&sp);
  fixture_free(sh, 3);
}

/* K = 1 by hand. Support counts: item 0 = 3 (u0, u1, u4), item 1 = 1 (u2),
 * so popularity ranks 0, 1, 2, 3, 4 (ties by id). Query users:
 *   u0 excl {0} ranking 1 2 3 4, truth {1,2}: ranks 1, 2 -> NDCG 1, MRR 1
 *   u1 excl {0} ranking 1 2 3 4, truth {2}: rank 2 -> NDCG 1/log2 3, MRR 1/2
 *   u2 excl {1} ranking 0 2 3 4, truth {0,3}: ranks 1, 3
 *      -> (1 + 1/2) / (1 + 1/log2 3), MRR 1
 *   u4 excl {0} ranking 1 2 3 4, truth {2,3,4}: ranks 2, 3, 4
 *      -> (1/log2 3 + 1/2 + 1/log2 5) / (1 + 1/log2 3 + 1/2), MRR 1/2
 * Recall@20 and HR@10 are 1 for everyone. With one support item per user,
 * ItemKNN and EASE score every item 0 and fall back to the same order. */
static void test_k1_by_hand(void) {
  shard_t sh[3];
  fixture(sh);
  fm_err err;
  p1_opts_t o;
  p1_opts_default(&o);
  o.boot = 200;
  p1_result_t res[P1_N_METHODS];
  p1_info_t info;
  CHECK_OK(p1_baselines(res, &info, sh, 3, 0, 1, &o, &err));
  CHECK_EQ_INT(info.n_items, 5);
  CHECK_EQ_INT(info.n_eval, 4);
  CHECK_EQ_INT(info.n_support, 4);
  CHECK_EQ_INT(info.n_query, 8);
  CHECK_EQ_INT(info.pooled_users, 7);
  CHECK_EQ_INT(info.pooled_items, 10);
  CHECK_EQ_INT(info.pooled_active, 7);
  const double l3 = 1 / log2(3.0), l5 = 1 / log2(5.0);
  double want = (1 + l3 + 1.5 / (1 + l3) + (l3 + 0.5 + l5) / (1 + l3 + 0.5)) / 4;
  const metrics_t *p = &res[P1_POPULARITY].m;
  CHECK(res[P1_POPULARITY].done);
  CHECK_EQ_INT(p->n_users, 4);
  CHECK_NEAR(p->ndcg10, want, 1e-6);
  CHECK_NEAR(p->recall20, 1.0, 1e-12);
  CHECK_NEAR(p->hr10, 1.0, 1e-12);
  CHECK_NEAR(p->mrr, 0.75, 1e-7);
  CHECK(res[P1_POPULARITY].ndcg_lo <= p->ndcg10 && p->ndcg10 <= res[P1_POPULARITY].ndcg_hi);
  for (int m = P1_ITEMKNN; m <= P1_EASE; m++) {
    CHECK(res[m].done);
    CHECK(res[m].m.ndcg10 == p->ndcg10 && res[m].m.recall20 == p->recall20);
    CHECK(res[m].m.hr10 == p->hr10 && res[m].m.mrr == p->mrr && res[m].m.n_users == 4);
    /* same seed, same per-user values: the same interval */
    CHECK(res[m].ndcg_lo == res[P1_POPULARITY].ndcg_lo && res[m].ndcg_hi == res[P1_POPULARITY].ndcg_hi);
  }
  CHECK(res[P1_EASE_POOLED].done);
  CHECK_EQ_INT(res[P1_EASE_POOLED].m.n_users, 4);
  CHECK(strcmp(p1_method_name(P1_EASE_POOLED), "ease-pooled") == 0);
  CHECK(strcmp(p1_method_name(P1_N_METHODS), "?") == 0);

  /* deterministic: a second run gives the same bits */
  p1_result_t again[P1_N_METHODS];
  CHECK_OK(p1_baselines(again, &info, sh, 3, 0, 1, &o, &err));
  for (int m = 0; m < P1_N_METHODS; m++) {
    CHECK(memcmp(&again[m].m, &res[m].m, sizeof res[m].m) == 0);
    CHECK(again[m].ndcg_lo == res[m].ndcg_lo && again[m].ndcg_hi == res[m].ndcg_hi);
  }
  /* no_pooled and boot 0 */
  o.no_pooled = 1;
  o.boot = 0;
  CHECK_OK(p1_baselines(again, &info, sh, 3, 0, 1, &o, &err));
  CHECK(!again[P1_EASE_POOLED].done && again[P1_EASE_POOLED].note[0]);
  CHECK(isnan(again[P1_POPULARITY].ndcg_lo) && isnan(again[P1_POPULARITY].ndcg_hi));
  CHECK_EQ_INT(info.pooled_users, 0);
  /* K larger than every history: nobody to evaluate, still no error */
  CHECK_OK(p1_baselines(again, &info, sh, 3, 0, 4, &o, &err));
  CHECK_EQ_INT(info.n_eval, 0);
  CHECK_EQ_INT(again[P1_POPULARITY].m.n_users, 0);
  fixture_free(sh, 3);
}

/* ease-pooled against a direct computation: EASE fitted on the pooled CSR,
 * each query user scored from its pooled row, the held-out items ranked with
 * ties by support popularity (metrics_user_from_scores on permuted columns). */
static void test_pooled_direct(void) {
  shard_t sh[3];
  fixture(sh);
  fm_err err;
  p1_opts_t o;
  p1_opts_default(&o);
  o.ease_lambda = 0.5f; /* small: large, distinct weights on the tiny data */
  for (uint32_t k = 1; k <= 2; k++) {
    p1_result_t res[P1_N_METHODS];
    p1_info_t info;
    CHECK_OK(p1_baselines(res, &info, sh, 3, 0, k, &o, &err));
    split_t sp;
    dataset_t ds;
    p1_pooled_t pm;
    baseline_ease_t e;
    CHECK_OK(split_kshot(&sp, &sh[0], k, &err));
    CHECK_OK(dataset_build(&ds, &sh[0], &sp, SPLIT_TEST, &err));
    CHECK_OK(p1_pooled_build(&pm, sh, 3, 0, NULL, &sp, &err));
    CHECK_OK(baseline_ease_fit_csr(&e, pm.n_users, pm.n_items, pm.ptr, pm.items, o.ease_lambda, &err));
    uint32_t col[5], tr[5], ex[5];
    float s[10], row[5];
    CHECK_OK(baseline_popularity_order(col, ds.item_pop, 5, &err));
    metrics_user_t mu[5];
    int nonzero = 0;
    for (uint32_t q = 0; q < ds.n_eval; q++) {
      uint32_t u = ds.eval_user[q];
      baseline_ease_score(&e, s, pm.hist + pm.hist_ptr[u], pm.hist_ptr[u + 1] - pm.hist_ptr[u]);
      for (uint32_t i = 0; i < 5; i++) row[col[i]] = s[i], nonzero |= s[i] != 0;
      uint32_t nt = 0, nx = 0;
      for (uint32_t a = ds.truth_ptr[q]; a < ds.truth_ptr[q + 1]; a++) tr[nt++] = col[ds.truth[a]];
      for (uint32_t a = ds.excl_ptr[q]; a < ds.excl_ptr[q + 1]; a++) ex[nx++] = col[ds.excl[a]];
      metrics_user_from_scores(&mu[q], row, 5, tr, nt, ex, nx);
    }
    CHECK(nonzero); /* the other industries do move the held-out scores */
    metrics_t want;
    metrics_mean(&want, mu, ds.n_eval);
    const metrics_t *got = &res[P1_EASE_POOLED].m;
    CHECK(res[P1_EASE_POOLED].done);
    CHECK_EQ_INT(got->n_users, want.n_users);
    CHECK_NEAR(got->ndcg10, want.ndcg10, 1e-12);
    CHECK_NEAR(got->recall20, want.recall20, 1e-12);
    CHECK_NEAR(got->mrr, want.mrr, 1e-12);
    baseline_ease_free(&e);
    p1_pooled_free(&pm);
    dataset_free(&ds);
    split_free(&sp);
  }
  fixture_free(sh, 3);
}

/* A pooled catalogue above the dense limit, or a shard without user ids, skips
 * ease-pooled with a note; the other methods still run. */
static void test_skips(void) {
  shard_t sh[4];
  fixture(sh);
  const uint32_t n_big = BASELINE_EASE_MAX_ITEMS + 1;
  uint32_t *items = malloc(n_big * sizeof *items), ptr[2] = {0, n_big}, gid[1] = {10};
  CHECK(items != NULL);
  for (uint32_t i = 0; i < n_big; i++) items[i] = i;
  mk_shard(&sh[3], "big", 3, 1, n_big, ptr, items, gid);
  free(items);
  fm_err err;
  p1_opts_t o;
  p1_opts_default(&o);
  o.boot = 0;
  p1_result_t res[P1_N_METHODS];
  p1_info_t info;
  CHECK_OK(p1_baselines(res, &info, sh, 4, 0, 1, &o, &err));
  CHECK(res[P1_POPULARITY].done && res[P1_ITEMKNN].done && res[P1_EASE].done);
  CHECK(!res[P1_EASE_POOLED].done);
  CHECK(strstr(res[P1_EASE_POOLED].note, "dense EASE limit") != NULL);
  CHECK_EQ_INT(info.pooled_active, 7 + n_big);
  /* without the big shard in the pool it runs */
  const uint8_t pool[] = {1, 1, 1, 0};
  o.pool = pool;
  CHECK_OK(p1_baselines(res, &info, sh, 4, 0, 1, &o, &err));
  CHECK(res[P1_EASE_POOLED].done);
  /* no user ids: skipped, named */
  o.pool = NULL;
  free(sh[1].user_gid);
  sh[1].user_gid = NULL;
  CHECK_OK(p1_baselines(res, &info, sh, 4, 0, 1, &o, &err));
  CHECK(res[P1_POPULARITY].done && !res[P1_EASE_POOLED].done);
  CHECK(strstr(res[P1_EASE_POOLED].note, "books") != NULL);
  /* a bad platform index is an error */
  CHECK(p1_baselines(res, &info, sh, 4, 9, 1, &o, &err) < 0);
  fixture_free(sh, 4);
}

int main(void) {
  test_parse_ks();
  test_pooled();
  test_k1_by_hand();
  test_pooled_direct();
  test_skips();
  printf("test_p1: ok\n");
  return 0;
}
