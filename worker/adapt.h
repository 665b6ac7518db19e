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

/* Copies theta, adapts for `steps` steps on ds (TRAIN = support) with fresh
 * local embeddings, evaluates on ds's evaluation users. theta is not changed.
 * per_user (ds->n_eval) may be NULL. */
int adapt_eval(metrics_t *out, metrics_user_t *per_user, const model_cfg_t *mc,
               const train_cfg_t *tc, const float *theta, const dataset_t *ds, uint32_t steps,
               uint64_t seed, uint32_t platform, fm_err *err);

/* The local-only baseline: the same, from a fresh random theta (seeded). */
int adapt_local_only(metrics_t *out, const model_cfg_t *mc, const train_cfg_t *tc,
                     const dataset_t *ds, uint32_t steps, uint64_t seed, uint32_t platform,
                     fm_err *err);

/* Full-ranking evaluation of theta + local as they are. */
int adapt_score(metrics_t *out, metrics_user_t *per_user, const model_cfg_t *mc,
                const float *theta, const model_local_t *local, const dataset_t *ds, fm_err *err);

#endif
