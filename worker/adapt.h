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

/* Copies theta, adapts for `steps` steps on ds (TRAIN = support) with fresh
 * local embeddings, evaluates on ds's evaluation users (history: hist_mode,
 * above). theta is not changed. per_user (ds->n_eval) may be NULL; phi
 * (model_n_shared floats), when not NULL, receives the adapted theta. */
int adapt_eval(metrics_t *out, metrics_user_t *per_user, float *phi, const model_cfg_t *mc,
               const train_cfg_t *tc, const float *theta, const dataset_t *ds, uint32_t steps,
               int hist_mode, uint64_t seed, uint32_t platform, fm_err *err);

/* The local-only baseline: the same, from a fresh random theta (seeded).
 * per_user (ds->n_eval) and phi may be NULL, as in adapt_eval. */
int adapt_local_only(metrics_t *out, metrics_user_t *per_user, float *phi, const model_cfg_t *mc,
                     const train_cfg_t *tc, const dataset_t *ds, uint32_t steps, int hist_mode,
                     uint64_t seed, uint32_t platform, fm_err *err);

/* Full-ranking evaluation of theta + local as they are. */
int adapt_score(metrics_t *out, metrics_user_t *per_user, const model_cfg_t *mc,
                const float *theta, const model_local_t *local, const dataset_t *ds, fm_err *err);

#endif
