/* common/source.h: where a run's platforms come from — the embedded synthetic
 * market (generated in memory, each rank only its own platforms) or a prepared
 * folder (manifest + one shard per platform; a rank opens only its own).
 *
 * With --algo central (the privacy-free reference) the source presents the
 * training platforms as ONE platform, SOURCE_POOLED_NAME, index 0, whose
 * shard merges theirs (common/pool.h), followed by the held-out platforms
 * unchanged, in their order. The held-out set is then fixed when the source
 * is opened (from c->heldout, or the market's default). Every rank opens the
 * source the same way, so all agree; only the rank hosting platform 0 loads
 * the training shards (one at a time, while merging). */
#ifndef FEDMETA_SOURCE_H
#define FEDMETA_SOURCE_H
#include <stdint.h>

#include "common/config.h"
#include "common/error.h"
#include "common/shard.h"

#define SOURCE_MAX_PLATFORMS 4096

typedef struct source {
  int synthetic;
  uint32_t n_platforms;
  char (*names)[SHARD_NAME_MAX]; /* (n_platforms) */
  char dir[CFG_PATH_MAX];
  void *impl;                    /* market config or manifest */
  /* --algo central only (pooled = 1): */
  int pooled;
  uint32_t n_base;               /* platforms of the underlying market or folder */
  uint32_t *base_of;             /* (n_platforms) underlying index; UINT32_MAX for the pool */
  uint32_t *pool_parts;          /* (n_pool) underlying training platforms, ascending */
  uint32_t n_pool;
} source_t;

#define SOURCE_POOLED_NAME "pooled"

/* Opens the market or --data folder; pools the training platforms when
 * c->algo is "central" (see above). */

int source_open(source_t *s, const fm_config *c, fm_err *err);
void source_close(source_t *s);
/* Index of the platform called name, or -1. */
int source_find(const source_t *s, const char *name);
/* Loads (or generates) platform p's shard; for the pool, merges the training
 * platforms' shards. */
int source_load(const source_t *s, uint32_t p, shard_t *out, fm_err *err);
/* The held-out set from --heldout (comma-separated names) or the source's
 * default; mask has n_platforms entries. Unknown names are an error listing
 * the valid ones. A pooled source marks exactly its held-out platforms (a
 * non-empty list must name only those). */
int source_heldout(const source_t *s, const char *list, uint8_t *mask, fm_err *err);

#endif
