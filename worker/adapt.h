/* worker/adapt.h: few-shot adaptation to an industry and its evaluation
 * (protocol P1): start from theta, fine-tune shared and fresh local
 * parameters on the support split for s steps, rank the whole catalogue for
 * each query user. The same code serves `fedmeta train` (held-out platforms)
 * and `fedmeta eval`. */
#ifndef FEDMETA_ADAPT_H
#define FEDMETA_ADAPT_H
#include <stdint.h>

#include "common/dataset.h"
#include "common/metrics.h"
#include "common/model.h"

/* Which history a user is scored with after the model trained on the support.
 *
 * A training example (u, i) of the support pools u's support items *other
 * than i* (common/model.h), so at K = 1 every example has an empty history:
 * training on the support then moves the user tower in a regime (no history)
 * that it is not scored in (the one support item as history), and the more
 * steps the worse (docs/BENCHMARKS.md, "Why fine-tuning hurt at K = 1").
 *   ADAPT_HIST_AUTO: after s > 0 steps on a support in which no example had a
 *     history (adapt_support_has_history == 0), users are scored with an empty
 *     history, the regime the model was trained in; otherwise (s = 0: the
 *     meta-model as meta-trained, or any example had a history) with their
 *     support as history. The support items stay excluded from the ranking.
 *     A model without towers (--towers off) keeps the support as history:
 *     the rule is about the user tower's regime, and the other terms (the
 *     attribute term above all, the one signal at K = 1) read the history
 *     through data, not through a tower trained without it.
 *   ADAPT_HIST_FULL: always the support as history (the behaviour before). */
enum { ADAPT_HIST_AUTO = 0, ADAPT_HIST_FULL = 1 };
/* "auto" -> ADAPT_HIST_AUTO, "full" -> ADAPT_HIST_FULL (the --ft-history flag). */
int adapt_hist_mode(const char *name);
/* 1 if some training pair of ds has a non-empty history (a history item other
 * than its target), 0 if none does (e.g. every user has one support item). */
int adapt_support_has_history(const dataset_t *ds);

/* The n best items of each evaluation user (ds->eval_user order), best first:
 * item[u * n + r] and score[u * n + r] for rank r; the user's excluded items
 * (ds->excl: what is known of it) are never among them; ties go to the lower
 * item index; with fewer than n candidates the rest are UINT32_MAX / -INFINITY.
 * Scores as one-thread sgemm and the terms give them (the metrics rank on
 * canonical scores, which may differ in the last bit). The caller allocates
 * ds->n_eval * n of each. */
typedef struct adapt_topn {
  uint32_t n;
  uint32_t *item;
  float *score;
} adapt_topn_t;

/* Room for n items of each of n_users users (adapt_topn_free frees it). */
int adapt_topn_alloc(adapt_topn_t *t, uint32_t n_users, uint32_t n, fm_err *err);
void adapt_topn_free(adapt_topn_t *t);

/* Copies theta, adapts for `steps` steps on ds (TRAIN = support) with fresh
 * local embeddings, evaluates on ds's evaluation users (history: hist_mode,
 * above). theta is not changed. per_user (ds->n_eval) may be NULL; phi
 * (model_n_shared floats), when not NULL, receives the adapted theta; topn,
 * when not NULL, the adapted model's best items per user. */
int adapt_eval(metrics_t *out, metrics_user_t *per_user, float *phi, adapt_topn_t *topn, const model_cfg_t *mc,
               const train_cfg_t *tc, const float *theta, const dataset_t *ds, uint32_t steps,
               int hist_mode, uint64_t seed, uint32_t platform, fm_err *err);

/* The local-only baseline: the same, from a fresh random theta (seeded).
 * per_user (ds->n_eval) and phi may be NULL, as in adapt_eval. */
int adapt_local_only(metrics_t *out, metrics_user_t *per_user, float *phi, const model_cfg_t *mc,
                     const train_cfg_t *tc, const dataset_t *ds, uint32_t steps, int hist_mode,
                     uint64_t seed, uint32_t platform, fm_err *err);

/* Full-ranking evaluation of theta + local as they are; topn as in adapt_eval. */
int adapt_score(metrics_t *out, metrics_user_t *per_user, adapt_topn_t *topn, const model_cfg_t *mc,
                const float *theta, const model_local_t *local, const dataset_t *ds, fm_err *err);

#endif
