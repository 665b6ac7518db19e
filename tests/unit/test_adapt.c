/* tests/unit/test_adapt.c: few-shot adaptation (worker/adapt.h), in particular
 * which history a user is scored with after the model trained on the support.
 *
 * At K = 1 every support example has an empty history (its one item is the
 * target, left out), so with --ft-history auto a model trained on the support
 * is scored without history, the regime it was trained in; with 0 steps (the
 * meta-model as meta-trained) and at K >= 2 the support is the history, as
 * with --ft-history full. Checked on a platform of the synthetic market by
 * redoing the adaptation by hand and scoring it on both views of the data:
 * adapt_eval must match exactly the view the rule names, and the two views
 * must differ (so the check can fail). Also adapt_support_has_history on a
 * hand-built support with a repeated item. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/dataset.h"
#include "common/market.h"
#include "common/model.h"
#include "common/split.h"
#include "tests/check.h"
#include "worker/adapt.h"

static const model_cfg_t MC = {.dim = 8, .hidden = 16, .n_buckets = 1u << 10, .hist_len = 20, .pop_prior = 1};

static train_cfg_t tcfg(void) {
  train_cfg_t tc = {.opt = OPT_ADAM, .lr = 0.01f, .lr_local = 0.0f, .batch = 32, .n_neg = 64,
                    .beta1 = 0.9f, .beta2 = 0.999f, .adam_eps = 1e-8f};
  return tc;
}

/* The adaptation of adapt_eval redone by hand: per-user metrics of theta after
 * `steps` steps on ds, scored with the support as history (full = 1) or with
 * none (full = 0); the adapted theta in phi_out when not NULL. */
static void by_hand(metrics_user_t *pu, metrics_t *m, float *phi_out, const float *theta, const dataset_t *ds,
                    uint32_t steps, int full, uint64_t seed, uint32_t platform) {
  fm_err err = {{0}};
  size_t d = model_n_shared(&MC);
  float *phi = malloc(d * sizeof *phi);
  CHECK(phi != NULL);
  memcpy(phi, theta, d * sizeof *phi);
  model_local_t local = {0};
  CHECK_OK(model_local_init(&local, &MC, ds->n_users, ds->n_items, seed, platform, &err));
  train_cfg_t tc = tcfg();
  trainer_t *tr = NULL;
  if (steps) CHECK_OK(trainer_init(&tr, &MC, &tc, ds, &local, seed, platform, &err));
  for (uint32_t s = 0; s < steps; s++) trainer_step(tr, phi);
  dataset_t view = *ds;
  uint32_t *empty = calloc((size_t)ds->n_users + 1, sizeof *empty);
  CHECK(empty != NULL);
  if (!full) view.hist_ptr = empty;
  CHECK_OK(adapt_score(m, pu, NULL, &MC, phi, &local, &view, &err));
  if (phi_out) memcpy(phi_out, phi, d * sizeof *phi);
  free(empty);
  trainer_free(tr);
  model_local_free(&local);
  free(phi);
}

static int same_users(const metrics_user_t *a, const metrics_user_t *b, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (a[i].ndcg10 != b[i].ndcg10 || a[i].recall20 != b[i].recall20 || a[i].mrr != b[i].mrr) return 0;
  return 1;
}

/* adapt_topn: the best items it hands back are the ranking the metrics
 * scored (NDCG@10 and HR@10 recomputed from its first 10 equal the per-user
 * metrics of the same call), best first, none of the user's excluded items,
 * each item once; the same call twice gives the same lists. */
static void check_topn(const train_cfg_t *tc, const float *theta, const dataset_t *ds, uint32_t steps, uint64_t seed,
                       uint32_t platform) {
  fm_err err = {{0}};
  const uint32_t n = ds->n_eval, N = 25;
  metrics_user_t *pu = malloc(n * sizeof *pu);
  adapt_topn_t t, t2;
  CHECK(pu != NULL);
  CHECK_OK(adapt_topn_alloc(&t, n, N, &err));
  CHECK_OK(adapt_topn_alloc(&t2, n, N, &err));
  metrics_t m;
  CHECK_OK(adapt_eval(&m, pu, NULL, &t, &MC, tc, theta, ds, steps, ADAPT_HIST_FULL, seed, platform, &err));
  CHECK_OK(adapt_eval(&m, NULL, NULL, &t2, &MC, tc, theta, ds, steps, ADAPT_HIST_FULL, seed, platform, &err));
  CHECK(!memcmp(t.item, t2.item, (size_t)n * N * sizeof *t.item));
  uint32_t users = 0, hits = 0;
  for (uint32_t u = 0; u < n; u++) {
    const uint32_t *it = t.item + (size_t)u * N;
    const float *sc = t.score + (size_t)u * N;
    for (uint32_t r = 0; r < N; r++) {
      CHECK(it[r] < ds->n_items);
      if (r) CHECK(sc[r] <= sc[r - 1]);
      for (uint32_t q = 0; q < r; q++) CHECK(it[q] != it[r]);
      for (uint32_t j = ds->excl_ptr[u]; j < ds->excl_ptr[u + 1]; j++) CHECK(ds->excl[j] != it[r]);
    }
    const uint32_t nt = ds->truth_ptr[u + 1] - ds->truth_ptr[u];
    if (!nt) continue;
    double dcg = 0, idcg = 0;
    int hr = 0;
    for (uint32_t r = 0; r < 10; r++)
      for (uint32_t j = ds->truth_ptr[u]; j < ds->truth_ptr[u + 1]; j++)
        if (ds->truth[j] == it[r]) dcg += 1.0 / log2(r + 2.0), hr = 1;
    for (uint32_t r = 0; r < (nt < 10 ? nt : 10); r++) idcg += 1.0 / log2(r + 2.0);
    CHECK_NEAR(dcg / idcg, pu[u].ndcg10, 1e-6);
    CHECK_NEAR((double)hr, pu[u].hr10, 0);
    users++, hits += hr;
  }
  CHECK(users > 20 && hits > 0); /* something was compared */
  free(pu);
  adapt_topn_free(&t);
  adapt_topn_free(&t2);
}

static void test_rule(uint32_t k) {
  fm_err err = {{0}};
  market_cfg_t cfg;
  market_cfg_default(&cfg);
  cfg.n_users = 1500;
  const uint32_t platform = 7; /* toys */
  shard_t sh = {0};
  split_t sp = {0};
  dataset_t ds = {0};
  CHECK_OK(market_platform(&sh, &cfg, platform, &err));
  CHECK_OK(split_kshot(&sp, &sh, k, &err));
  CHECK_OK(dataset_build(&ds, &sh, &sp, SPLIT_TEST, &err));
  CHECK(ds.n_eval > 20);
  CHECK_EQ_INT(adapt_support_has_history(&ds), k >= 2);

  /* a "meta-model" that has seen histories: theta trained a little on the
   * full data of the same platform (temporal split) */
  size_t d = model_n_shared(&MC);
  float *theta = malloc(d * sizeof *theta);
  CHECK(theta != NULL);
  model_shared_init(theta, &MC, 11);
  {
    split_t tsp = {0};
    dataset_t tds = {0};
    model_local_t tl = {0};
    trainer_t *tr = NULL;
    train_cfg_t tc = tcfg();
    CHECK_OK(split_temporal(&tsp, &sh, 1, 2, &err));
    CHECK_OK(dataset_build(&tds, &sh, &tsp, SPLIT_VALID, &err));
    CHECK_OK(model_local_init(&tl, &MC, tds.n_users, tds.n_items, 11, platform, &err));
    CHECK_OK(trainer_init(&tr, &MC, &tc, &tds, &tl, 11, platform, &err));
    for (int s = 0; s < 30; s++) trainer_step(tr, theta);
    trainer_free(tr);
    model_local_free(&tl);
    dataset_free(&tds);
    split_free(&tsp);
  }

  const uint32_t n = ds.n_eval, steps = 15;
  const uint64_t seed = 5;
  metrics_user_t *got = malloc(n * sizeof *got), *full = malloc(n * sizeof *full),
                 *none = malloc(n * sizeof *none);
  CHECK(got && full && none);
  metrics_t mg, mf, mn;
  train_cfg_t tc = tcfg();

  /* after fine-tuning: auto follows the support's regime, full keeps the history */
  float *phi_hand = malloc(d * sizeof *phi_hand), *phi_got = malloc(d * sizeof *phi_got);
  CHECK(phi_hand && phi_got);
  by_hand(full, &mf, phi_hand, theta, &ds, steps, 1, seed, platform);
  by_hand(none, &mn, NULL, theta, &ds, steps, 0, seed, platform);
  CHECK(!same_users(full, none, n)); /* the two views differ: the check below can fail */
  CHECK_OK(adapt_eval(&mg, got, phi_got, NULL, &MC, &tc, theta, &ds, steps, ADAPT_HIST_AUTO, seed, platform, &err));
  CHECK(same_users(got, k == 1 ? none : full, n));
  /* the adapted theta it hands back is the one it scored, not theta */
  CHECK(memcmp(phi_got, phi_hand, d * sizeof *phi_got) == 0);
  CHECK(memcmp(phi_got, theta, d * sizeof *phi_got) != 0);
  CHECK_NEAR(mg.ndcg10, k == 1 ? mn.ndcg10 : mf.ndcg10, 0);
  CHECK_OK(adapt_eval(&mg, got, NULL, NULL, &MC, &tc, theta, &ds, steps, ADAPT_HIST_FULL, seed, platform, &err));
  CHECK(same_users(got, full, n));
  check_topn(&tc, theta, &ds, steps, seed, platform);

  /* without fine-tuning the meta-model is scored as it was meta-trained: with history */
  by_hand(full, &mf, NULL, theta, &ds, 0, 1, seed, platform);
  CHECK_OK(adapt_eval(&mg, got, NULL, NULL, &MC, &tc, theta, &ds, 0, ADAPT_HIST_AUTO, seed, platform, &err));
  CHECK(same_users(got, full, n));

  /* local-only is trained on the support alone: the same rule */
  metrics_t ml_auto, ml_full;
  CHECK_OK(adapt_local_only(&ml_auto, NULL, NULL, &MC, &tc, &ds, steps, ADAPT_HIST_AUTO, seed, platform, &err));
  CHECK_OK(adapt_local_only(&ml_full, NULL, NULL, &MC, &tc, &ds, steps, ADAPT_HIST_FULL, seed, platform, &err));
  if (k >= 2) CHECK_NEAR(ml_auto.ndcg10, ml_full.ndcg10, 0);

  free(got); free(full); free(none); free(theta); free(phi_hand); free(phi_got);
  dataset_free(&ds);
  split_free(&sp);
  shard_free(&sh);
}

/* A support whose only history is the target itself, repeated: still no
 * example with a history; one other item: there is one. */
static void test_has_history(void) {
  dataset_t d;
  memset(&d, 0, sizeof d);
  uint32_t hist_ptr[3] = {0, 2, 3}, hist[3] = {4, 4, 7}, pu[3] = {0, 0, 1}, pi[3] = {4, 4, 7};
  d.n_users = 2;
  d.n_items = 8;
  d.hist_ptr = hist_ptr;
  d.hist = hist;
  d.n_pairs = 3;
  d.pair_user = pu;
  d.pair_item = pi;
  CHECK_EQ_INT(adapt_support_has_history(&d), 0);
  hist[1] = 5;
  pi[1] = 5;
  CHECK_EQ_INT(adapt_support_has_history(&d), 1);
  d.n_pairs = 0;
  CHECK_EQ_INT(adapt_support_has_history(&d), 0);
  CHECK_EQ_INT(adapt_hist_mode("auto"), ADAPT_HIST_AUTO);
  CHECK_EQ_INT(adapt_hist_mode("full"), ADAPT_HIST_FULL);
}

int main(void) {
  test_has_history();
  test_rule(1);
  test_rule(2);
  test_rule(5);
  printf("test_adapt: ok\n");
  return 0;
}
