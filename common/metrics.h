/* common/metrics.h: full-ranking evaluation.
 *
 * Every evaluated user's scores over the platform's whole catalogue, with the
 * user's excluded items (training / support) removed; the relevant items are
 * the user's held-out interactions. Computed as user vectors times the item
 * matrix in cblas blocks, with a partial top-K selection (never a full sort).
 *   NDCG@10: binary gains, ideal DCG over min(|truth|, 10) positions.
 *   Recall@20: hits in the top 20 / min(|truth|, 20).
 *   HR@10: 1 if any relevant item is in the top 10.
 *   MRR: 1 / rank of the best-ranked relevant item over the full ranking.
 * Ties in score are broken by item id (lower first) so results are deterministic. */
#ifndef FEDMETA_METRICS_H
#define FEDMETA_METRICS_H
#include <stdint.h>

#include "common/dataset.h"
#include "common/error.h"

typedef struct metrics {
  double ndcg10, recall20, hr10, mrr; /* means over users */
  uint32_t n_users;
} metrics_t;

/* Per-user values, for bootstrap intervals and tests. */
typedef struct metrics_user {
  float ndcg10, recall20, hr10, mrr;
} metrics_user_t;

/* Metrics of one user from a full score row (n_items). Items in excl are not
 * ranked. Pure function, for tests and baselines. */
void metrics_user_from_scores(metrics_user_t *out, const float *scores, uint32_t n_items,
                              const uint32_t *truth, uint32_t n_truth,
                              const uint32_t *excl, uint32_t n_excl);

/* Full ranking of the dataset's evaluation users: U (n_eval, D) row i is the
 * vector of ds->eval_user[i]; I (n_items, D). per_user (n_eval) may be NULL.
 * Works through users in blocks so memory stays O(block * n_items). */
int metrics_rank_dot(metrics_t *out, metrics_user_t *per_user, const float *U, const float *I,
                     uint32_t dim, const dataset_t *ds, fm_err *err);

/* Popularity baseline: every user gets score = ds->item_pop (TRAIN counts). */
int metrics_rank_popularity(metrics_t *out, metrics_user_t *per_user, const dataset_t *ds,
                            fm_err *err);

/* Mean of per-user values; and a user-level bootstrap 95% interval of NDCG@10
 * (n_boot resamples from a seeded stream). */
void metrics_mean(metrics_t *out, const metrics_user_t *per_user, uint32_t n);
void metrics_bootstrap_ndcg(double *lo, double *hi, const metrics_user_t *per_user, uint32_t n,
                            uint32_t n_boot, uint64_t seed);

#endif
