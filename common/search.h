/* common/search.h: the federated start search (`fedmeta train --search-k`).
 *
 * Reptile, fedavg and fomaml judge a start by the training loss; protocol P1
 * judges it by NDCG@10 after a K-shot adaptation, and the two can disagree
 * (docs/BENCHMARKS.md, "How good could any start be?"). After the rounds the
 * coordinator sends C candidate term weights; every training platform scores
 * each candidate on a K-shot split of its own shard, with no fine-tune, as
 * `fedmeta eval --ft-steps 0` would; the vectors of scores go through the same
 * aggregation as a delta (secure aggregation when on: the coordinator sees only
 * their weighted mean), and the coordinator keeps the best candidate per K
 * (OUT/meta-model-k<K>.pb).
 *
 * A candidate is the tail of theta from the popularity weight beta on (the
 * views beta, gamma / gamma_c, tau, alpha, eta, kappa, in model order), so the
 * search needs --pop-prior on, and --towers off for those weights to be the
 * whole score. Scores do not change when every weight is multiplied by the same
 * positive number: candidate 0 is the meta-model's own tail (as trained), the
 * others set beta = 1 and the grid's values, every view the grid does not name
 * keeping the meta-model's weight relative to its beta:
 *
 *   gamma=g,...   every co-occurrence weight g (with --spectral-basis: the
 *                 constant coefficient g, the others 0: the same flat filter)
 *   tau=A:W,...   the time kernel A exp(-|j| / W), j = -J..J
 *   kappa=, alpha=, eta=   the transition, attribute and EASE weights
 *
 * Axes are separated by spaces or ';'. An empty spec takes a default axis for
 * every view the model has (SEARCH_DEFAULT_* below; on the Amazon model the
 * 256-point grid placed before any result in "How good could any start be?"). */
#ifndef FEDMETA_SEARCH_H
#define FEDMETA_SEARCH_H
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/model.h"

#define SEARCH_MAX_VALUES 32u   /* values per axis */
#define SEARCH_MAX_CAND 4096u   /* candidates, the meta-model's own included */
#define SEARCH_MAX_K 8u         /* K values searched in one run */

#define SEARCH_DEFAULT_GAMMA "0,0.5,1,2"
#define SEARCH_DEFAULT_TAU "0:1,1:2,1:4,2:4"
#define SEARCH_DEFAULT_KAPPA "0,0.02,0.05,0.15"
#define SEARCH_DEFAULT_ALPHA "0,2,4,8"
#define SEARCH_DEFAULT_ETA "0,0.05,0.15,0.4"

typedef struct search_axis {
  int view;                   /* MODEL_SPEC, MODEL_TIME, MODEL_ATTR, MODEL_EASE or MODEL_TRANS */
  uint32_t n;                 /* values */
  float a[SEARCH_MAX_VALUES]; /* the value (tau: the height A) */
  float w[SEARCH_MAX_VALUES]; /* tau: the width W */
} search_axis_t;

typedef struct search_grid {
  uint32_t n_axes;
  search_axis_t axis[5];
  uint32_t n_cand; /* 1 (the meta-model) + the product of the axes' sizes */
} search_grid_t;

/* Parses spec (NULL or "" = the defaults) for a model of configuration mc:
 * a view the model lacks, a repeated axis, a value that is not a finite number,
 * or more than SEARCH_MAX_CAND candidates is an error naming it. */
int search_grid_parse(search_grid_t *g, const char *spec, const model_cfg_t *mc, fm_err *err);
/* Offset of the tail (beta's view) in theta, and its length. */
size_t search_tail_offset(const model_cfg_t *mc);
size_t search_tail_len(const model_cfg_t *mc);
/* out (n_cand x tail_len floats): candidate 0 is theta's tail, then the grid
 * points, the last axis fastest. Fails if theta's beta is not > 0 (the
 * weights are relative to it). */
int search_candidates(const search_grid_t *g, const model_cfg_t *mc, const float *theta, float *out, fm_err *err);
/* "as trained", or e.g. "gamma=0.5 kappa=0.05 alpha=8 eta=0.15" for candidate c. */
void search_label(const search_grid_t *g, uint32_t c, char *buf, size_t cap);
/* "1,5,10" -> ks (at most SEARCH_MAX_K, each 1..1000, no repeats); "" -> n = 0. */
int search_ks_parse(const char *s, uint32_t *ks, uint32_t *n, fm_err *err);

#endif
