/* common/checkpoint.h: the meta-model on disk and the resumable checkpoint.
 *
 * meta-model.pb is a plain protobuf Checkpoint message (θ, shape, settings).
 * checkpoint.fmck, written by the coordinator every --checkpoint-every rounds,
 * adds the outer optimiser state and the settings hash, and wraps the message
 * in a header that makes truncation and corruption detectable:
 *
 *   offset  size  field
 *   0       8     magic "FMCKPT\0\1"
 *   8       8     payload length (u64 little-endian)
 *   16      32    BLAKE2b-256 of the payload (libsodium crypto_generichash)
 *   48      n     payload: protobuf Checkpoint
 *
 * Both are written to PATH.tmp, fsynced and renamed, so a reader never sees
 * half a file. checkpoint_save first moves the previous checkpoint to
 * PATH.prev, so one good checkpoint survives a corrupted newest one. */
#ifndef FEDMETA_CHECKPOINT_H
#define FEDMETA_CHECKPOINT_H
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/model.h"

#define CHECKPOINT_VERSION 1
#define CHECKPOINT_HEADER 48

typedef struct checkpoint {
  uint32_t round;
  char algo[16];
  uint64_t seed;
  model_cfg_t model;
  float *theta;    /* (model_n_shared(&model)) owned */
  size_t n_theta;
  char *config;    /* effective configuration text, owned, may be NULL */
  /* resumable checkpoints only */
  char outer_kind[12];   /* "" in a meta-model file */
  uint64_t outer_steps;
  float *outer_m, *outer_v; /* (n_theta) each or NULL, owned */
  uint64_t config_hash;
  int complete;
} checkpoint_t;

/* meta-model.pb: the plain protobuf message (no outer state). */
int checkpoint_write(const char *path, const checkpoint_t *ck, fm_err *err);
/* Reads and validates (version, shapes match the views, finite values).
 * On success *ck owns its buffers (free with checkpoint_free). */
int checkpoint_read(checkpoint_t *ck, const char *path, fm_err *err);

/* checkpoint.fmck: header + checksum + message with the outer state. Renames
 * an existing PATH to PATH.prev first (see above). */
int checkpoint_save(const char *path, const checkpoint_t *ck, fm_err *err);
/* Reads PATH; refuses a wrong magic, a length that does not match the file
 * (truncated or extended), a checksum mismatch, or an invalid message. */
int checkpoint_load(checkpoint_t *ck, const char *path, fm_err *err);
/* Decodes a checkpoint.fmck image held in memory (what checkpoint_load does
 * after reading the file; for the fuzzer and tests). `name` labels errors. */
int checkpoint_load_bytes(checkpoint_t *ck, const uint8_t *data, size_t len, const char *name,
                          fm_err *err);

void checkpoint_free(checkpoint_t *ck);

#endif
