/* common/baselines.h: classic score-producing baselines, fitted on a
 * dataset's TRAIN / support interactions and evaluated with the same ranking
 * code as the model (metrics_rank_scores).
 *
 *   ItemKNN: cosine similarity between items over the binary user-item matrix,
 *            built by co-occurrence counting over users (cost sum_u |h_u|^2,
 *            memory = number of co-occurring pairs, never n_items^2).
 *            score(u, i) = sum_{j in h_u} sim(i, j) over the neighbours kept
 *            for j: all of them (topk = 0, the default and what the reference
 *            figures were compared with) or j's topk most similar items.
 *   EASE:    Steck 2019. P = (X^T X + lambda I)^{-1} over the items that have
 *            at least one interaction; B = I - P diag(1/diag(P)), so
 *            B_ji = -P_ji / P_ii and B_ii = 0; score(u, i) = sum_{j in h_u} B_ji.
 *            Items without interactions score 0. Dense: refused above
 *            BASELINE_EASE_MAX_ITEMS interacted items.
 *   Popularity is metrics_rank_popularity.
 *
 * X is binary: a user's repeated items count once. The rank functions break
 * ties by TRAIN popularity (ds->item_pop, higher first), then item id: with
 * one support item per user ItemKNN and EASE score every item 0 and fall back
 * to popularity, as the reference baselines do. */
#ifndef FEDMETA_BASELINES_H
#define FEDMETA_BASELINES_H
#include <stdint.h>

#include "common/dataset.h"
#include "common/error.h"
#include "common/metrics.h"

/* 32768^2 floats = 4.3 GB; the fit (Cholesky and inverse, ~m^3 flops) takes ~4 min
 * at 29,000 items on one core of the 2-core benchmark machine. Above it the
 * fit would run for tens of minutes per platform and fill a small host. */
#define BASELINE_EASE_MAX_ITEMS 32768u
#define BASELINE_EASE_LAMBDA 200.0f    /* the reference figures' lambda */

typedef struct baseline_knn {
  uint32_t n_items;
  uint32_t topk;  /* neighbours kept per item, 0 = all */
  uint32_t *ptr;  /* (n_items+1) CSR: neighbours of item j are nbr[ptr[j]..ptr[j+1]) */
  uint32_t *nbr;  /* (nnz) neighbour item ids, ascending within a row */
  float *sim;     /* (nnz) cosine(j, nbr) = c_ji / sqrt(n_j n_i) > 0 */
} baseline_knn_t;

typedef struct baseline_ease {
  uint32_t n_items;
  uint32_t n_active; /* m: items with at least one interaction */
  uint32_t *active;  /* (m) item id of each gram row, ascending */
  float *B;          /* (m, m) row-major: B[j*m + i] = weight of history item active[j]
                        for item active[i]; diagonal 0 */
} baseline_ease_t;

/* Fit on a plain CSR of user histories: items of user u are
 * items[ptr[u]..ptr[u+1]), ids < n_items (checked). Use these to fit on data
 * other than one dataset's hist (e.g. pooled industries mapped to one id space).
 * On failure *m is left empty (safe to _free). */
int baseline_knn_fit_csr(baseline_knn_t *m, uint32_t n_users, uint32_t n_items,
                         const uint32_t *ptr, const uint32_t *items, uint32_t topk, fm_err *err);
int baseline_ease_fit_csr(baseline_ease_t *m, uint32_t n_users, uint32_t n_items,
                          const uint32_t *ptr, const uint32_t *items, float lambda, fm_err *err);

/* The first half of the EASE fit: m->B holds P = (X^T X + lambda I)^{-1}
 * itself (symmetric, over the m->n_active items; not yet B). The model's
 * EASE term (common/model.h) works from P. */
int baseline_ease_inverse(baseline_ease_t *m, uint32_t n_users, uint32_t n_items,
                          const uint32_t *ptr, const uint32_t *items, float lambda, fm_err *err);

/* Fit on ds->hist (TRAIN, or TRAIN+VALID for a SPLIT_TEST dataset). */
int baseline_knn_fit(baseline_knn_t *m, const dataset_t *ds, uint32_t topk, fm_err *err);
int baseline_ease_fit(baseline_ease_t *m, const dataset_t *ds, float lambda, fm_err *err);

/* Free every array; accept NULL and half-built structs; leave *m zeroed. */
void baseline_knn_free(baseline_knn_t *m);
void baseline_ease_free(baseline_ease_t *m);

/* scores (n_items, overwritten) of a user whose history is items[0..n)
 * (a set: duplicates count once; ids >= n_items are ignored). */
void baseline_knn_score(const baseline_knn_t *m, float *scores, const uint32_t *items,
                        uint32_t n);
void baseline_ease_score(const baseline_ease_t *m, float *scores, const uint32_t *items,
                         uint32_t n);

/* Full-ranking evaluation of ds's evaluation users, each scored from its
 * ds->hist; ties by popularity then id (see above). The model must have been
 * fitted in an item id space whose first ds->n_items ids are ds's items
 * (m->n_items >= ds->n_items, checked); higher ids (e.g. other industries'
 * items of a pooled fit) are scored but not ranked. */
int baseline_knn_rank(metrics_t *out, metrics_user_t *per_user, const baseline_knn_t *m,
                      const dataset_t *ds, fm_err *err);
int baseline_ease_rank(metrics_t *out, metrics_user_t *per_user, const baseline_ease_t *m,
                       const dataset_t *ds, fm_err *err);

/* item_col (n_items): the tie-break column of each item, items ordered by
 * pop (higher first), then id. For metrics_rank_scores. */
int baseline_popularity_order(uint32_t *item_col, const float *pop, uint32_t n_items,
                              fm_err *err);

#endif
