/* worker/worker.h: the loop of a worker rank (ranks 1..N): host platforms,
 * answer the coordinator's round plans until it says stop. */
#ifndef FEDMETA_WORKER_H
#define FEDMETA_WORKER_H
#include <stdint.h>

#include "common/config.h"
#include "common/model.h"

/* Platform p is hosted by rank 1 + p % (size - 1). */
static inline int worker_rank_of(uint32_t platform, int size) {
  return 1 + (int)(platform % (uint32_t)(size - 1));
}

/* Returns the process exit code (0 ok, 1 runtime error). */
int worker_run(const fm_config *c, uint64_t job, int rank, int size);

/* The training configuration for fine-tuning at evaluation time. */
train_cfg_t worker_ft_cfg(const fm_config *c);

#endif
