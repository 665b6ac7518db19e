/* common/source.h: where a run's platforms come from — the embedded synthetic
 * market (generated in memory, each rank only its own platforms) or a prepared
 * folder (manifest + one shard per platform; a rank opens only its own). */
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
} source_t;

int source_open(source_t *s, const fm_config *c, fm_err *err);
void source_close(source_t *s);
/* Index of the platform called name, or -1. */
int source_find(const source_t *s, const char *name);
/* Loads (or generates) platform p's shard. */
int source_load(const source_t *s, uint32_t p, shard_t *out, fm_err *err);
/* The held-out set from --heldout (comma-separated names) or the source's
 * default; mask has n_platforms entries. Unknown names are an error listing
 * the valid ones. */
int source_heldout(const source_t *s, const char *list, uint8_t *mask, fm_err *err);

#endif
