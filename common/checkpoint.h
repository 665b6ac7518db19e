/* common/checkpoint.h: the meta-model on disk (a protobuf Checkpoint message).
 * Written to PATH.tmp, fsynced and renamed, so a reader never sees half a file. */
#ifndef FEDMETA_CHECKPOINT_H
#define FEDMETA_CHECKPOINT_H
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/model.h"

#define CHECKPOINT_VERSION 1

typedef struct checkpoint {
  uint32_t round;
  char algo[16];
  uint64_t seed;
  model_cfg_t model;
  float *theta;    /* (model_n_shared(&model)) owned */
  size_t n_theta;
  char *config;    /* effective configuration text, owned, may be NULL */
} checkpoint_t;

int checkpoint_write(const char *path, const checkpoint_t *ck, fm_err *err);
/* Reads and validates (version, shapes match the views, finite values). */
int checkpoint_read(checkpoint_t *ck, const char *path, fm_err *err);
void checkpoint_free(checkpoint_t *ck);

#endif
