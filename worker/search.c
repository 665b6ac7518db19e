/* worker/search.c: scoring the start search's candidates (search.h). */
#include "worker/search.h"

#include <stdlib.h>
#include <string.h>

#include "common/search.h"
#include "common/split.h"
#include "worker/adapt.h"
#include "worker/worker.h"

int search_score(float *out, uint32_t *n_users, platform_t *p, const fm_config *c, const model_cfg_t *mc, const float *theta,
                 const plan_t *plan, uint32_t n_cand, fm_err *err) {
  const size_t d = model_n_shared(mc), off = search_tail_offset(mc), nt = d - off;
  float *th = malloc(sizeof(float) * (d ? d : 1));
  if (!th) return fm_fail(err, "out of memory (%zu floats)", d);
  memcpy(th, theta, sizeof(float) * d);
  const train_cfg_t ft = worker_ft_cfg(c);
  const int pop_loo = !strcmp(c->pop_loo, "on");
  int rc = 0;
  for (uint32_t k = 0; k < plan->n_search_k && !rc; k++) {
    const uint32_t K = plan->search_k[k];
    split_t sp = {0};
    dataset_t ds = {0};
    rc = split_kshot(&sp, &p->shard, K, err) || dataset_build(&ds, &p->shard, &sp, SPLIT_TEST, err) ||
         model_dataset_inputs(mc, &ds, &p->shard, K, pop_loo, err);
    if (!rc) dataset_sample_eval(&ds, plan->search_users, c->seed, p->id); /* the inputs stay every user's */
    n_users[k] = rc ? 0 : ds.n_eval;
    for (uint32_t cand = 0; cand < n_cand && !rc; cand++) {
      if (ds.n_eval == 0) { /* too few interactions per user at this K: the platform adds nothing here */
        out[(size_t)k * n_cand + cand] = 0;
        continue;
      }
      metrics_t m;
      memcpy(th + off, plan->cand + (size_t)cand * nt, sizeof(float) * nt);
      rc = adapt_eval(&m, NULL, NULL, NULL, mc, &ft, th, &ds, 0, adapt_hist_mode(c->ft_history), c->seed, p->id, err);
      out[(size_t)k * n_cand + cand] = (float)m.ndcg10;
    }
    if (rc) fm_wrap(err, "start search on %s at K = %u", p->name, K);
    dataset_free(&ds);
    split_free(&sp);
  }
  free(th);
  return rc ? -1 : 0;
}
