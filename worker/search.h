/* worker/search.h: a training platform's part of the federated start search
 * (common/search.h): each candidate scored on a K-shot split of its own shard. */
#ifndef FEDMETA_WORKER_SEARCH_H
#define FEDMETA_WORKER_SEARCH_H
#include <stdint.h>

#include "common/config.h"
#include "common/error.h"
#include "common/model.h"
#include "common/msg.h"
#include "worker/platform.h"

/* For each K of the plan (index k) and candidate c (n_cand of them, each the
 * tail of theta from beta's view on, replacing theta's): out[k n_cand + c] =
 * NDCG@10 of theta with that tail on p's K-shot split (support: each user's
 * first K interactions, query: the rest; the inputs from every user's support,
 * plan->search_users of the query users scored, chosen by --seed), with no
 * fine-tune. The same split, inputs and score as `fedmeta eval --platform P
 * --kshot K --query-users U --seed S --ft-steps 0` on this shard, so a single
 * platform's figures can be checked by it.
 * n_users[k]: the query users scored at the k-th K (0: none has more than K
 * interactions, and out is 0 there). */
int search_score(float *out, uint32_t *n_users, platform_t *p, const fm_config *c, const model_cfg_t *mc, const float *theta,
                 const plan_t *plan, uint32_t n_cand, fm_err *err);

#endif
