/* coordinator/round.h: the coordinator (rank 0) of a training job. */
#ifndef FEDMETA_ROUND_H
#define FEDMETA_ROUND_H
#include <stdint.h>

#include "common/config.h"

/* Runs the whole job on rank 0; returns the process exit code
 * (0 done, 1 runtime error). hosts: NULL, or the rank that must host each
 * platform (pilot mode: a Hello for a platform from any other rank is refused). */
int coord_run(const fm_config *c, uint64_t job, int size, const int *hosts);

#endif
