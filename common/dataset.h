/* common/dataset.h: the view of a (shard, split) that the model trains and is
 * evaluated on.
 *
 * Built on the rank that owns the shard. Adds domain-agnostic behaviour tokens
 * computed from the TRAIN part only (item popularity band, user activity band),
 * so that a model can transfer across industries whose catalogues do not
 * overlap. Tokens stay 32-bit hashes; the model buckets them. */
#ifndef FEDMETA_DATASET_H
#define FEDMETA_DATASET_H
#include <stdint.h>

#include "common/error.h"
#include "common/shard.h"
#include "common/split.h"

typedef struct dataset {
  uint32_t n_users, n_items;
  uint32_t *utok_ptr, *utok; /* (n_users+1), user tokens: shard features + behaviour */
  uint32_t *itok_ptr, *itok; /* (n_items+1), item tokens: shard features + behaviour */
  uint32_t *hist_ptr, *hist; /* (n_users+1), TRAIN items of each user in time order */
  uint32_t n_pairs;          /* training examples: every TRAIN interaction */
  uint32_t *pair_user, *pair_item; /* (n_pairs) */
  float *item_pop;           /* (n_items) TRAIN count of each item (popularity baseline) */
  uint32_t pop_loo;          /* 1: a training example's popularity input leaves out its own
                              * user's interactions (model.h, pop_prior); 0: it counts them.
                              * Set by the caller (config pop-loo); dataset_build leaves 0 */
  /* Evaluation target (VALID or TEST, chosen at build): for each evaluated user
   * the items to find and the items to exclude from the ranking. */
  uint32_t n_eval;           /* number of evaluated users */
  uint32_t *eval_user;       /* (n_eval) local user id */
  uint32_t *truth_ptr, *truth; /* (n_eval+1) CSR of relevant items */
  uint32_t *excl_ptr, *excl;   /* (n_eval+1) CSR of items excluded from ranking */
  /* Co-occurrence spectrum of hist (dataset_spectral; NULL and 0 until then):
   * the input of the model's --spectral term (common/spectral.h). */
  uint32_t spec_r;             /* eigenpairs kept */
  float *spec_vec;             /* (n_items, spec_r) eigenvectors of all users' hist, row i = item i */
  float *spec_val;             /* (spec_r) eigenvalues, largest first, times a scale (see
                                * dataset_spectral) */
  /* The same from the OTHER folds' users only, for training: user u is in
   * fold u % DATASET_SPEC_FOLDS, and a training example of u sees a spectrum
   * its own interactions did not shape, as a query item at evaluation does. */
  float *spec_fvec;            /* (DATASET_SPEC_FOLDS, n_items, spec_r) */
  float *spec_fval;            /* (DATASET_SPEC_FOLDS, spec_r) */
  /* Interaction times and the time term's input (dataset_time; NULL and 0
   * until then). hist_ts is set by dataset_build. */
  int64_t *hist_ts;            /* (hist_ptr[n_users]) time of each hist entry, seconds */
  uint32_t time_T;             /* time bins of width time_bin seconds from time_t0 */
  uint32_t time_lags;          /* J: the lags the model's filter covers, -J..J bins */
  int64_t time_t0, time_bin;
  float *time_cnt;             /* (n_items, time_T) scaled count of each item in each bin,
                                * over all users' hist (inference) */
  float *time_fcnt;            /* (DATASET_SPEC_FOLDS, n_items, time_T): the same over the
                                * OTHER folds' users, each capped at kcap items (training) */
  uint32_t *user_tbin;         /* (n_users) bin of the user's last hist entry (inference);
                                * DATASET_NO_BIN without a history */
  uint32_t *pair_ptr;          /* (n_users+1) the user's training pairs, in time order */
  uint32_t *pair_tbin;         /* (n_pairs) reference bin of a training example: the bin of
                                * the user's min(p, kcap)-th TRAIN interaction, p = the
                                * example's position (the last support item a held-out user
                                * would have shown before it); DATASET_NO_BIN for p = 0 */
  /* Item attributes (dataset_attr, from the shard's item features: brand,
   * category path, genre...; catalogue data, no interaction): the input of
   * the model's attribute term. A token of df of the n_items items weighs
   * idf = log((n_items + 1) / (df + 1)); each item's vector over all its
   * distinct tokens has unit norm, so that w_i . w_j is the idf-weighted
   * cosine of two items' attributes. Only tokens that can relate two items
   * (2 <= df < n_items) get a coordinate 0..n_attr, at most
   * DATASET_ATTR_MAX of them (the most frequent; the others still count in
   * the norms). Attribute vocabularies need not overlap between platforms:
   * what transfers is how much shared attributes say, the model's alpha. */
  uint32_t n_attr;             /* 0 and NULL until dataset_attr */
  uint32_t *attr_ptr;          /* (n_items+1) CSR of each item's coordinates */
  uint32_t *attr_id;           /* coordinate, ascending within an item */
  float *attr_w;               /* its weight idf / norm */
  /* The EASE term's input (dataset_ease; 0 and NULL until then): P =
   * (X^T X + lambda I)^-1, X the binary user x item matrix of the first kcap
   * items of each user's hist (all with kcap 0), over the ease_m items X has
   * (common/baselines.h, baseline_ease_inverse). Platform data: never sent. */
  uint32_t ease_lambda;        /* 0: none */
  uint32_t ease_kcap;
  uint32_t ease_m;
  uint32_t ease_ymax;          /* the most items a user has in X */
  uint32_t *ease_slot;         /* (n_items) row of P of each item, DATASET_NO_SLOT if X has none */
  uint32_t *ease_item;         /* (ease_m) the item of each row of P, ascending */
  float *ease_P;               /* (ease_m, ease_m), symmetric */
  float ease_scale;            /* the term's scores times this have mean square 1 (dataset_ease) */
  /* The transition term's input (dataset_trans; 0 and NULL until then):
   * T[a][b] = how many times item b comes right after item a (a != b) among
   * the first kcap items of a user's hist (all with kcap 0), a CSR over
   * items, and each row's sum. Platform data: never sent. */
  uint32_t trans_on;           /* 0: none */
  uint32_t trans_kcap;
  uint32_t *trans_ptr;         /* (n_items+1) CSR rows a */
  uint32_t *trans_dst;         /* b, ascending within a row */
  float *trans_cnt;            /* T[a][b] > 0 */
  float *trans_row;            /* (n_items) sum_b T[a][b] (counts: exact below 2^24) */
  float trans_scale;           /* the term's scores times this have mean square 1 (dataset_trans) */
} dataset_t;

#define DATASET_NO_SLOT UINT32_MAX

/* Keeps n of the evaluated users (0, or n >= n_eval: all), the first n of a
 * random order drawn from (seed, platform), in their order; nothing else
 * changes (the inputs stay those of every user): a quicker, sampled figure of
 * the same model on the same data (the start search, eval --query-users). */
void dataset_sample_eval(dataset_t *d, uint32_t n, uint64_t seed, uint32_t platform);

/* How many of a user's first n interactions a held-out K-shot support would
 * show with kcap = K (0 = no cap): the rule every training input (the folds'
 * spectra and time counts, X of the EASE term, the transitions, each
 * example's reference) is built with. */
static inline uint32_t dataset_kcapped(uint32_t n, uint32_t kcap) { return kcap && n > kcap ? kcap : n; }
#define DATASET_ATTR_MAX 4096u

#define DATASET_NO_BIN UINT32_MAX
#define DATASET_TIME_MAX_BINS 4096u
#define DATASET_TIME_MAX_LAGS 256u

#define DATASET_SPEC_FOLDS 2u

/* eval_tag is SPLIT_VALID or SPLIT_TEST. For SPLIT_TEST the history used for
 * ranking (hist) and the exclusions are TRAIN + VALID; for SPLIT_VALID, TRAIN only.
 * Training pairs are always the TRAIN interactions. */
int dataset_build(dataset_t *d, const shard_t *s, const split_t *sp, int eval_tag, fm_err *err);
void dataset_free(dataset_t *d);
/* Computes the co-occurrence spectrum (r eigenpairs) of the dataset's hist,
 * the interactions known at evaluation time, never the evaluated ones: of
 * all users (for inference) and of each fold's complement (for training).
 * The training spectra take at most the first kcap items of each user (0 =
 * all): with kcap = K a training industry's spectra are as sparse as a
 * held-out industry's K-shot support, so that what the model learns to trust
 * in them holds there. Each is scaled so that the model's term at gamma = 1
 * has mean square 1 over the catalogue and the users it serves. r = 0 frees
 * it. Deterministic. */
int dataset_spectral(dataset_t *d, uint32_t r, uint32_t kcap, fm_err *err);

/* The attribute term's input (common/model.h, attr): the item attribute
 * vectors above, from the item features of s, the shard d was built from.
 * Deterministic. */
int dataset_attr(dataset_t *d, const shard_t *s, fm_err *err);

/* The EASE term's input (common/model.h, ease > 0): P over the first kcap
 * items of each user's hist (the interactions the platform knows; with kcap =
 * K a training industry's X is as sparse as a held-out industry's support,
 * as in dataset_spectral), and the scale that gives the term's inference
 * scores mean square 1 over the catalogue and (a sample of at most 2048 of)
 * the users with a history, each scored from its whole history. Refused
 * above BASELINE_EASE_MAX_ITEMS items with an interaction (P alone takes
 * 4 m^2 bytes: 4.3 GB at the limit). The inverse is
 * OpenBLAS's (spotrf, spotri): the same bytes for the same OpenBLAS build and
 * thread count. lambda = 0 frees it. */
int dataset_ease(dataset_t *d, uint32_t lambda, uint32_t kcap, fm_err *err);
/* acc (ease_m) = sum over the distinct items[0..n) with a row of P of that
 * row, each without its own diagonal entry: -acc[i] / P_ii is the EASE
 * score e_ui of a user with that history (the term's inference, the scale). */
void dataset_ease_sum(const dataset_t *d, const uint32_t *items, uint32_t n, float *acc);

/* The transition term's input (common/model.h, trans): T above over the
 * first kcap items of each user's hist (with kcap = K a training industry's
 * transitions are those a held-out K-shot support shows, as in
 * dataset_ease), and the scale that gives the term's inference scores mean
 * square 1 over the catalogue and (a sample of at most 2048 of) the users
 * with a history, each scored from its last hist item. Deterministic. on = 0
 * frees it. */
int dataset_trans(dataset_t *d, uint32_t on, uint32_t kcap, fm_err *err);

/* Serving (fedmeta recommend): every user with a history becomes an
 * evaluation user with nothing to find, its history's distinct items
 * excluded, so a ranking of ds->eval_user gives each user new items only.
 * Replaces the evaluation target dataset_build made. Returns 0, or -1 with
 * err (out of memory; the dataset then has no evaluation users). */
int dataset_serve_users(dataset_t *d, fm_err *err);

/* The time term's input (common/model.h, time_lags > 0): interaction times
 * in bins of bin_s seconds; per item and bin the count of the interactions
 * the platform knows (hist; for training, the other folds' users' first kcap,
 * like dataset_spectral); each user's reference bin (its last known
 * interaction) and each training example's (see pair_tbin). Counts are
 * scaled so that the term with the initial filter (dataset_time_kernel0) has
 * mean square 1 over the catalogue and the users (examples) it serves.
 * lags = 0 frees it. Deterministic. */
int dataset_time(dataset_t *d, int64_t bin_s, uint32_t lags, uint32_t kcap, fm_err *err);
/* The filter the model starts from at lag j of J: exp(-|j| / max(1, J / 4)),
 * a kernel over the time around the user's reference. */
float dataset_time_kernel0(int32_t j, uint32_t J);

/* Behaviour bands (see dataset.c): band(c) = min(floor(log2(1 + c)), DATASET_BAND_MAX)
 * of a TRAIN count c; the item token is fm_hash_feature("ipop", "<band>") and the
 * user token fm_hash_feature("uact", "<band>"). Exposed for tests and baselines. */
#define DATASET_BAND_MAX 12
uint32_t dataset_band(uint32_t count);
uint32_t dataset_pop_token(uint32_t train_count);
uint32_t dataset_act_token(uint32_t train_count);
/* A user's global-id token: fm_hash_feature("uid", "<gid>"). */
uint32_t dataset_user_id_token(uint32_t gid);
/* The item token the dataset uses: the popularity rank band of an item with
 * train_count TRAIN interactions when n_greater of the n_items items have more
 * (fm_hash_feature("iprk", "0".."8"), or "none" for train_count 0). */
uint32_t dataset_rank_token(uint32_t train_count, uint32_t n_greater, uint32_t n_items);
/* Sets every item's rank token (the last of its tokens) to the one value
 * fm_hash_feature("iprk", "off"). For --pop-loo (model_dataset_inputs): the rank
 * counts a training example's own interaction, like the popularity input
 * before its leave-user-out correction, and being one token per item, not per
 * example, it cannot leave the user out; measured, it drove the towers to
 * carry the leak the correction removes (docs/BENCHMARKS.md). */
void dataset_rank_tokens_off(dataset_t *d);
/* Appends to every user's tokens fm_hash_feature("uid", "<gid>"), gid the
 * shard's global user id (user_gid): the same token for the same person on
 * every platform, so the rows of the hashed feature table it falls in are a
 * hashed shared user table (model.h, user_ids). Refuses a shard without
 * user_gid. Returns 0, or -1 with err. */
int dataset_user_id_tokens(dataset_t *d, const shard_t *s, fm_err *err);

#endif
