/* worker/adapt.c: few-shot adaptation and full-ranking evaluation (see adapt.h). */
#include "worker/adapt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "common/rng.h"

/* Scores with the attribute, EASE and / or transition terms: the vectors' product, then
 * model_attr_scores, model_ease_scores and model_trans_scores. */
typedef struct attr_ctx {
  const model_cfg_t *mc;
  const float *theta, *U, *V;
  uint32_t D;
  const dataset_t *ds;
  adapt_topn_t *topn; /* attr_block_topn: also the best items of each row scored */
} attr_ctx_t;

static int attr_block(float *S, uint32_t first, uint32_t n, void *vctx, fm_err *err) {
  const attr_ctx_t *c = vctx;
  const uint32_t ni = c->ds->n_items;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)ni, (int)c->D, 1.0f,
              c->U + (size_t)first * c->D, (int)c->D, c->V, (int)c->D, 0.0f, S, (int)ni);
  const uint32_t *users = c->ds->eval_user + first;
  return model_attr_scores(c->mc, c->theta, c->ds, users, n, S, ni, err) ||
         model_ease_scores(c->mc, c->theta, c->ds, users, n, S, ni, err) ||
         model_trans_scores(c->mc, c->theta, c->ds, users, n, S, ni, err);
}

int adapt_topn_alloc(adapt_topn_t *t, uint32_t n_users, uint32_t n, fm_err *err) {
  const size_t cells = (size_t)(n_users ? n_users : 1) * n;
  t->n = n;
  t->item = malloc(cells * sizeof *t->item);
  t->score = malloc(cells * sizeof *t->score);
  if (t->item && t->score) return 0;
  adapt_topn_free(t);
  return fm_fail(err, "out of memory for the best %u items of %u users", n, n_users);
}

void adapt_topn_free(adapt_topn_t *t) {
  free(t->item);
  free(t->score);
  memset(t, 0, sizeof *t);
}

/* Evaluation user u's n best items (topn, adapt.h) from its scored row: its
 * exclusions set to -INFINITY (the ranking does the same, so a row can be
 * ranked afterwards), then the best by insertion (a candidate enters only above
 * the current n-th, so a row costs about one pass). */
static void topn_row(adapt_topn_t *t, const dataset_t *ds, uint32_t u, float *row) {
  const uint32_t ni = ds->n_items, n = t->n;
  float *bs = t->score + (size_t)u * n;
  uint32_t *bi = t->item + (size_t)u * n, have = 0;
  for (uint32_t j = ds->excl_ptr[u]; j < ds->excl_ptr[u + 1]; j++) row[ds->excl[j]] = -INFINITY;
  for (uint32_t i = 0; i < ni; i++) {
    float y = row[i];
    if (y == -INFINITY || y != y || (have == n && !(y > bs[n - 1]))) continue;
    uint32_t k = have < n ? have++ : n - 1; /* the slot it takes, then moves up */
    while (k > 0 && y > bs[k - 1]) {
      bs[k] = bs[k - 1], bi[k] = bi[k - 1];
      k--;
    }
    bs[k] = y, bi[k] = i;
  }
  for (uint32_t k = have; k < n; k++) bs[k] = -INFINITY, bi[k] = UINT32_MAX;
}

/* attr_block, and each scored row's best items into c->topn: the ranking for
 * the metrics and the top-N file share one scoring pass. */
static int attr_block_topn(float *S, uint32_t first, uint32_t n, void *vctx, fm_err *err) {
  const attr_ctx_t *c = vctx;
  if (attr_block(S, first, n, vctx, err)) return -1;
  for (uint32_t r = 0; r < n; r++) topn_row(c->topn, c->ds, first + r, S + (size_t)r * c->ds->n_items);
  return 0;
}

/* topn alone (no metrics to rank: serving, or the dot path), in blocks of users. */
static int topn_fill(attr_ctx_t *c, fm_err *err) {
  const dataset_t *ds = c->ds;
  const uint32_t ni = ds->n_items, B = 64;
  float *S = malloc(sizeof(float) * B * (ni ? ni : 1));
  if (!S) return fm_fail(err, "out of memory for %u x %u scores", B, ni);
  int rc = 0;
  for (uint32_t first = 0; !rc && first < ds->n_eval; first += B)
    rc = attr_block_topn(S, first, ds->n_eval - first < B ? ds->n_eval - first : B, c, err);
  free(S);
  return rc;
}

int adapt_score(metrics_t *out, metrics_user_t *per_user, adapt_topn_t *topn, const model_cfg_t *mc,
                const float *theta, const model_local_t *local, const dataset_t *ds, fm_err *err) {
  memset(out, 0, sizeof *out);
  if (ds->n_eval == 0) return 0;
  size_t D = model_score_dim(mc, ds);
  float *U = malloc(sizeof(float) * D * ds->n_eval);
  float *V = malloc(sizeof(float) * D * (ds->n_items ? ds->n_items : 1));
  if (!U || !V) {
    free(U);
    free(V);
    return fm_fail(err, "out of memory for %u user and %u item vectors", ds->n_eval, ds->n_items);
  }
  model_user_vectors(mc, theta, local, ds, ds->eval_user, ds->n_eval, U);
  model_item_vectors(mc, theta, local, ds, V);
  int rc = 0, topn_done = 0;
  attr_ctx_t c = {mc, theta, U, V, (uint32_t)D, ds, topn && topn->n ? topn : NULL};
  if (ds->truth_ptr[ds->n_eval] == 0) { /* nothing held out (serving): no metrics to rank for */
    if (per_user) memset(per_user, 0, ds->n_eval * sizeof *per_user);
  } else if ((mc->attr && ds->n_attr) || mc->ease || mc->trans) { /* the terms beside the product (model.h) */
    rc = metrics_rank_scores(out, per_user, ds, c.topn ? attr_block_topn : attr_block, &c, NULL, 0, err);
    topn_done = 1;
  } else {
    rc = metrics_rank_dot(out, per_user, U, V, (uint32_t)D, ds, err);
  }
  if (!rc && c.topn && !topn_done) rc = topn_fill(&c, err);
  free(U);
  free(V);
  return rc;
}

int adapt_hist_mode(const char *name) { return name && strcmp(name, "full") == 0 ? ADAPT_HIST_FULL : ADAPT_HIST_AUTO; }

int adapt_support_has_history(const dataset_t *ds) {
  for (uint32_t k = 0; k < ds->n_pairs; k++) {
    uint32_t u = ds->pair_user[k], target = ds->pair_item[k];
    for (uint32_t j = ds->hist_ptr[u]; j < ds->hist_ptr[u + 1]; j++)
      if (ds->hist[j] != target) return 1;
  }
  return 0;
}

/* Fine-tunes a copy of theta0 on the support and scores it. theta0 (the caller's)
 * is also the centre of the fine-tune's prior (--ft-prox). */
static int adapt_from(metrics_t *out, metrics_user_t *per_user, float *phi_out, adapt_topn_t *topn,
                      const model_cfg_t *mc,
                      const train_cfg_t *tc, const float *theta0, const dataset_t *ds, uint32_t steps,
                      int hist_mode, uint64_t seed, uint32_t platform, fm_err *err) {
  size_t d = model_n_shared(mc);
  float *phi = malloc(sizeof(float) * d);
  if (!phi) return fm_fail(err, "out of memory for a copy of theta (%zu floats)", d);
  memcpy(phi, theta0, sizeof(float) * d);
  model_local_t local = {0};
  trainer_t *tr = NULL;
  int rc = model_local_init(&local, mc, ds->n_users, ds->n_items, seed, platform, err);
  if (!rc && steps > 0 && ds->n_pairs > 0)
    rc = trainer_init(&tr, mc, tc, ds, &local, seed, platform, err);
  if (!rc && tr) trainer_set_prior(tr, theta0);
  for (uint32_t s = 0; !rc && tr && s < steps; s++) trainer_step(tr, phi);
  /* Scored in the regime it was trained in (adapt.h): without history when
   * the training on the support never saw one. */
  dataset_t view = *ds;
  uint32_t *empty = NULL;
  if (!rc && tr && hist_mode == ADAPT_HIST_AUTO && !mc->no_towers && !adapt_support_has_history(ds)) {
    empty = calloc((size_t)ds->n_users + 1, sizeof *empty);
    if (!empty) rc = fm_fail(err, "out of memory for %u empty histories", ds->n_users);
    view.hist_ptr = empty;
  }
  if (!rc) rc = adapt_score(out, per_user, topn, mc, phi, &local, &view, err);
  if (!rc && phi_out) memcpy(phi_out, phi, sizeof(float) * d);
  free(empty);
  trainer_free(tr);
  model_local_free(&local);
  free(phi);
  return rc;
}

int adapt_eval(metrics_t *out, metrics_user_t *per_user, float *phi, adapt_topn_t *topn, const model_cfg_t *mc,
               const train_cfg_t *tc, const float *theta, const dataset_t *ds, uint32_t steps,
               int hist_mode, uint64_t seed, uint32_t platform, fm_err *err) {
  return adapt_from(out, per_user, phi, topn, mc, tc, theta, ds, steps, hist_mode, seed, platform, err);
}

int adapt_local_only(metrics_t *out, metrics_user_t *per_user, float *phi, const model_cfg_t *mc,
                     const train_cfg_t *tc, const dataset_t *ds, uint32_t steps, int hist_mode,
                     uint64_t seed, uint32_t platform, fm_err *err) {
  size_t d = model_n_shared(mc);
  float *init = malloc(sizeof(float) * d);
  if (!init) return fm_fail(err, "out of memory for a model (%zu floats)", d);
  /* A fresh initialisation that depends on the platform, not on any training. */
  model_shared_init(init, mc, seed ^ (0x10ca1ULL + platform * 0x9e3779b97f4a7c15ULL));
  int rc = adapt_from(out, per_user, phi, NULL, mc, tc, init, ds, steps, hist_mode, seed, platform, err);
  free(init);
  return rc;
}
