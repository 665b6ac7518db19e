/* worker/worker.h: the loop of a worker rank (ranks 1..N): host platforms,
 * answer the coordinator's round plans until it says stop. */
#ifndef FEDMETA_WORKER_H
#define FEDMETA_WORKER_H
#include <stdint.h>

#include "common/channel.h"
#include "common/config.h"
#include "common/model.h"
#include "common/msg.h"

/* The rank hosting platform p: hosts[p] when the launch decided it (pilot
 * mode: each party hosts its own platforms), otherwise round-robin,
 * rank 1 + p % (size - 1). Results do not depend on it. */
static inline int worker_rank_of(const int *hosts, uint32_t platform, int size) {
  return hosts ? hosts[platform] : 1 + (int)(platform % (uint32_t)(size - 1));
}

/* Returns the process exit code (0 ok, 1 runtime error). hosts: see
 * worker_rank_of (NULL: round-robin; else one rank per platform). */
int worker_run(const fm_config *c, uint64_t job, int rank, int size, const int *hosts);

/* Packs a Delta straight into its sealed outgoing buffer and posts it to the
 * coordinator (no copy of the words; see chan_begin). */
int worker_post_delta(chan_t *ch, uint32_t round, const delta_msg_t *dm, fm_err *err);

/* Sends are posted (the next platform trains while a delta travels); at most
 * this many at a time, so a slow coordinator cannot make a rank hold all its
 * platforms' deltas (wire_set_max_inflight). A secure-aggregation batch, whose
 * sealed deltas are all made anyway, lifts it for its own posts up to 64 MiB
 * of outbox copies (secagg_worker.c, SA_POST_BUDGET). */
#define WORKER_MAX_INFLIGHT 2

/* The training configuration for fine-tuning at evaluation time. */
train_cfg_t worker_ft_cfg(const fm_config *c);

/* The model the settings describe (every rank builds the same). */
model_cfg_t worker_model_cfg(const fm_config *c);

#endif
