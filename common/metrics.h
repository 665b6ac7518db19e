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
 * vector of ds->eval_user[i]; V (n_items, D) the item matrix (not named I:
 * <complex.h>, which cblas.h includes, defines I). per_user (n_eval) may be NULL.
 * Works through users in blocks so memory stays O(block * n_items). */
int metrics_rank_dot(metrics_t *out, metrics_user_t *per_user, const float *U, const float *V,
                     uint32_t dim, const dataset_t *ds, fm_err *err);

/* Popularity baseline: every user gets score = ds->item_pop (TRAIN counts). */
int metrics_rank_popularity(metrics_t *out, metrics_user_t *per_user, const dataset_t *ds,
                            fm_err *err);

/* Mean of per-user values; and a user-level bootstrap 95% interval of NDCG@10
 * (n_boot resamples from a seeded stream). */
void metrics_mean(metrics_t *out, const metrics_user_t *per_user, uint32_t n);
void metrics_bootstrap_ndcg(double *lo, double *hi, const metrics_user_t *per_user, uint32_t n,
                            uint32_t n_boot, uint64_t seed);
/* Paired user-level bootstrap of the relative difference of NDCG@10,
 * mean(a) / mean(b) - 1, over the users counted in both a and b (the same
 * users, e.g. two methods on one evaluation): *est the point estimate, *lo and
 * *hi the 2.5 / 97.5 percentiles of n_boot resamples (same stream and
 * percentile rule as metrics_bootstrap_ndcg); a resample whose b mean is 0 is
 * left out. All NaN when no user counts in both, b's mean is 0, n_boot is 0
 * or memory runs out. */
void metrics_bootstrap_rel(double *est, double *lo, double *hi, const metrics_user_t *a,
                           const metrics_user_t *b, uint32_t n, uint32_t n_boot, uint64_t seed);

/* ---- additions (evaluation helpers shared with the baselines) ----
 *
 * Conventions of every ranking function below and above:
 *  - order: higher score first; equal scores by lower column first (column =
 *    item id unless an item_col permutation is given); NaN ranks as -INFINITY;
 *  - a user whose truth list is empty is skipped: not counted in n_users, and
 *    its per_user entry is set to NaN in every field; metrics_mean and
 *    metrics_bootstrap_ndcg skip NaN entries, so metrics_mean(per_user, n_eval)
 *    equals the driver's own means exactly;
 *  - a truth item that is also excluded counts in |truth| but can never be hit;
 *    duplicate ids in truth / excl count once;
 *  - with no counted user the means are 0 and n_users is 0;
 *  - metrics_bootstrap_ndcg: resamples the counted users with replacement
 *    (stream RNG_EVAL, id 0x626f6f74 "boot", of the given seed), takes the
 *    2.5 / 97.5 percentiles of the n_boot means (linear interpolation between
 *    order statistics); *lo = *hi = NaN when there is no counted user, n_boot
 *    is 0 or memory runs out. */

#define METRICS_TOPK 20       /* longest cut-off (Recall@20) */
#define METRICS_MAX_BLOCK 256 /* most users scored per block by default */

/* Fills S (n, n_cols = ds->n_items), row r = the scores of evaluation user
 * first + r (ds->eval_user[first + r]); column c holds the score of the item
 * whose item_col is c (item c itself when item_col is NULL). Returns 0, or
 * negative with err set. The ranking code overwrites S afterwards. */
typedef int (*metrics_score_fn)(float *S, uint32_t first, uint32_t n, void *ctx, fm_err *err);

/* Generic driver: scores the evaluation users in blocks of `block` rows
 * (0 = metrics_default_block) with fn and ranks each row. item_col (n_items,
 * a permutation) may be NULL; when given, ties are broken by lower item_col
 * instead of lower item id (e.g. a popularity tie-break for baselines whose
 * scores are mostly 0). per_user (n_eval) may be NULL. Results do not depend
 * on `block` as long as fn gives the same row whatever the block. Validates
 * the dataset's truth / excl CSR first. Memory: block * n_items floats. */
int metrics_rank_scores(metrics_t *out, metrics_user_t *per_user, const dataset_t *ds,
                        metrics_score_fn fn, void *ctx, const uint32_t *item_col,
                        uint32_t block, fm_err *err);

/* metrics_rank_dot with an explicit block height (0 = default); for tests
 * and tuning. The dot path ranks on the canonical score metrics_dot_exact(u_i,
 * v_j), using sgemm only to prune, so the result is bit-identical for every
 * block height, tile width and BLAS thread count (sgemm's own bits are not).
 * A user or item vector that is not finite makes that user's row be scored
 * canonically item by item (slow, but still exact). */
int metrics_rank_dot_block(metrics_t *out, metrics_user_t *per_user, const float *U,
                           const float *V, uint32_t dim, const dataset_t *ds, uint32_t block,
                           fm_err *err);

/* The same with every knob: users in blocks of `block` rows (0 =
 * METRICS_MAX_BLOCK; smaller when there are too few users to give every
 * thread blocks), the catalogue in tiles of `tile` items (0 =
 * metrics_default_tile(block)); one sgemm per (block, tile), each tile ranked
 * while it is in cache (streaming top-K heap per user, fed only by the items
 * whose sgemm score can still enter it). `threads` ranking threads (at most
 * METRICS_MAX_THREADS): each takes whole user blocks and calls one-thread
 * sgemm (OpenBLAS is set to one thread meanwhile, and restored: its threads
 * on one tile ran at half the one-thread rate). 0 = the OpenBLAS thread
 * count when the ranking is at least METRICS_THREAD_MIN_WORK multiply-adds
 * (n_eval * n_items * dim; about 0.3 s on one core), else one: OpenBLAS's
 * idle workers spin for ~0.13 s of CPU after every threaded call (measured
 * on OpenBLAS 0.3.21), which costs more than a second ranking thread gains
 * on a short ranking. Results do not
 * depend on block, tile or threads. Memory per thread: block * tile floats
 * plus O(n_items) bytes; plus n_eval metrics_user_t when per_user is NULL. */
#define METRICS_MAX_THREADS 64
#define METRICS_THREAD_MIN_WORK (1ull << 32)
int metrics_rank_dot_tiled(metrics_t *out, metrics_user_t *per_user, const float *U,
                           const float *V, uint32_t dim, const dataset_t *ds, uint32_t block,
                           uint32_t tile, uint32_t threads, fm_err *err);

/* Each evaluation user's METRICS_TOPK best items on the dot path, best
 * first, as metrics_rank_dot ranks them (canonical scores, ties by lower item
 * id, excluded items left out, NaN as -INFINITY): top (n_eval, METRICS_TOPK)
 * item ids, UINT32_MAX where the user has fewer candidates; top_score (may be
 * NULL) their canonical scores, NaN in the padding. Every user is ranked,
 * also those without relevant items. block, tile, threads as above. */
int metrics_top_dot(uint32_t *top, float *top_score, const float *U, const float *V, uint32_t dim,
                    const dataset_t *ds, uint32_t block, uint32_t tile, uint32_t threads,
                    fm_err *err);

/* The default tile width for a block of `block` users (about 1 MiB of
 * scores, a multiple of 16 items, at least 64). */
uint32_t metrics_default_tile(uint32_t block);

/* The canonical score of the dot path: sum of the products in double (four
 * partial sums over k mod 4, combined as (s0 + s1) + (s2 + s3)), rounded to
 * float once. A test reproducing metrics_rank_dot ranks rows of these. */
float metrics_dot_exact(const float *u, const float *v, uint32_t dim);

/* The default block height for a catalogue of n_items (about 2 MiB of
 * scores, between 8 and METRICS_MAX_BLOCK rows). */
uint32_t metrics_default_block(uint32_t n_items);

#endif
