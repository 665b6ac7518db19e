/* common/p1.h: protocol P1 (adapting to an unseen industry, see
 * BENCHMARK-PROTOCOL.md) pieces shared by `fedmeta baselines` and the
 * training harness: the list of K values, the privacy-free pooled user-item
 * matrix, and the four reference baselines of one (held-out industry, K).
 *
 * The held-out industry is split with split_kshot(K) and evaluated with
 * dataset_build(SPLIT_TEST): its users with at least K + 1 interactions give
 * their first K as support, the rest is the query set; every item of its
 * catalogue is ranked, the user's support items excluded.
 *
 *   popularity   support counts (metrics_rank_popularity; ties by item id)
 *   itemknn      ItemKNN fitted on the support interactions
 *   ease         EASE fitted on the support interactions
 *   ease-pooled  EASE fitted on the pooled matrix below, each query user
 *                scored from their whole pooled row (the other industries'
 *                items plus their support), only the held-out items ranked.
 *                Privacy-free: a reference, not a federated method.
 * ItemKNN and EASE break ties by support popularity, then item id (see
 * baselines.h), so at K = 1 they rank exactly as popularity does. */
#ifndef FEDMETA_P1_H
#define FEDMETA_P1_H
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "common/metrics.h"
#include "common/shard.h"
#include "common/split.h"

#define P1_MAX_KS 32     /* most K values in one list */
#define P1_K_MAX 100000u /* largest K accepted */

/* Parses a comma-separated list of K values ("1,5,10") into ks[0..*n), in
 * the order given. Each K is an integer in [1, P1_K_MAX]; empty items,
 * repeats and more than max values are errors naming the offending text. */
int p1_parse_ks(uint32_t *ks, uint32_t *n, uint32_t max, const char *list, fm_err *err)
    __attribute__((warn_unused_result));

/* ---- the pooled, privacy-free user-item matrix ----
 *
 * Items: the held-out industry's items keep their ids 0..n-1; each pooled
 * industry's items follow in platform order (item i of shard s is
 * item_off[s] + i). Users: joined across shards by shard user_gid; one row per
 * distinct gid with at least one pooled interaction, rows in ascending gid.
 * A row holds the user's interactions in platform order (held-out support
 * first), each shard's in time order; EASE treats a row as a set.
 * From the held-out industry only the support (SPLIT_TRAIN) interactions
 * enter; the pooled industries give all of theirs. */
typedef struct p1_pooled {
  uint32_t n_users, n_items;
  uint32_t *ptr;      /* (n_users+1) CSR offsets into items */
  uint32_t *items;    /* (nnz) pooled item ids */
  uint32_t *gid;      /* (n_users) user_gid of each row, ascending */
  uint32_t n_shards;
  uint32_t *item_off; /* (n_shards) first pooled id of each shard's items; UINT32_MAX when
                         the shard is not pooled; 0 for the held-out shard */
  uint32_t n_active;  /* pooled items with at least one interaction (EASE's gram size) */
  uint32_t n_heldout_users;
  uint32_t *hist_ptr; /* (n_heldout_users+1) pooled row of each held-out local user, */
  uint32_t *hist;     /* copied out in pooled ids (empty for a user without a row) */
} p1_pooled_t;

/* Builds *pm from shards[0..n_shards): shards[heldout] split by sp (which
 * must have one tag per interaction of that shard), and every shard s !=
 * heldout with pool[s] != 0 (pool NULL: all of them). Every shard used must
 * carry user_gid; otherwise -1 with a message naming the shard. Owns its
 * arrays: free with p1_pooled_free. On failure *pm is left empty. */
int p1_pooled_build(p1_pooled_t *pm, const shard_t *shards, uint32_t n_shards, uint32_t heldout,
                    const uint8_t *pool, const split_t *sp, fm_err *err)
    __attribute__((warn_unused_result));
/* Frees every array; accepts NULL and half-built structs; leaves *pm zeroed. */
void p1_pooled_free(p1_pooled_t *pm);

/* ---- the four baselines of one (held-out industry, K) ---- */

enum { P1_POPULARITY, P1_ITEMKNN, P1_EASE, P1_EASE_POOLED, P1_N_METHODS };

/* "popularity", "itemknn", "ease", "ease-pooled" (the CSV's method column). */
const char *p1_method_name(int method);

typedef struct p1_opts {
  float ease_lambda;   /* EASE L2 penalty (both EASE variants) */
  uint32_t knn_topk;   /* ItemKNN neighbours per item, 0 = all */
  uint32_t boot;       /* bootstrap resamples of the NDCG@10 interval, 0 = none */
  uint64_t seed;       /* bootstrap seed; the same for every method, so the
                          intervals resample the same users (paired); also
                          chooses heldout_users' users */
  uint32_t heldout_users; /* keep this many of the held-out industry's users, chosen by
                             seed (split_keep_users); 0 = all */
  const uint8_t *pool; /* (n_shards) industries pooled by ease-pooled; NULL = all others */
  int no_pooled;       /* 1: skip ease-pooled */
  FILE *log;           /* progress lines (fits, timings); NULL = silent */
} p1_opts_t;

/* Defaults: lambda BASELINE_EASE_LAMBDA, all neighbours, 1000 resamples, seed 1. */
void p1_opts_default(p1_opts_t *o);

typedef struct p1_result {
  int done;          /* 1: computed; 0: skipped, note says why */
  char note[256];
  metrics_t m;       /* means over the counted users */
  double ndcg_lo, ndcg_hi; /* bootstrap 95% interval of NDCG@10 (NaN without one) */
  double seconds;    /* fit + ranking wall time */
} p1_result_t;

typedef struct p1_info {
  uint32_t n_items;      /* held-out catalogue (every item is ranked) */
  uint32_t n_eval;       /* query users (with something to find) */
  uint32_t n_support;    /* support interactions (K per user with >= K + 1) */
  uint32_t n_query;      /* query interactions */
  uint32_t pooled_users, pooled_items, pooled_active; /* 0 when not built */
} p1_info_t;

/* Runs every method on shards[heldout] with K support interactions per user.
 * A method that cannot run for a reason of size or data (EASE above
 * BASELINE_EASE_MAX_ITEMS items, shards without user_gid for pooling) is
 * skipped with a note and the others still run; any other failure (memory,
 * bad data) returns -1 with err set. The results depend only on the shards
 * and options, with one BLAS thread (fedmeta baselines' default): with more,
 * OpenBLAS's Cholesky may round EASE's weights differently in the last bits. */
int p1_baselines(p1_result_t res[P1_N_METHODS], p1_info_t *info, const shard_t *shards,
                 uint32_t n_shards, uint32_t heldout, uint32_t k, const p1_opts_t *o,
                 fm_err *err) __attribute__((warn_unused_result));

#endif
