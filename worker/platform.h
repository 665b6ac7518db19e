/* worker/platform.h: one industry platform hosted by a worker rank: its private
 * shard, splits, local parameters and trainer, and what it does in a round. */
#ifndef FEDMETA_PLATFORM_H
#define FEDMETA_PLATFORM_H
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/dataset.h"
#include "common/dp.h"
#include "common/metrics.h"
#include "common/model.h"
#include "common/msg.h"
#include "common/shard.h"
#include "common/source.h"
#include "common/split.h"

typedef struct platform {
  uint32_t id;
  char name[SHARD_NAME_MAX];
  int heldout;         /* protocol P1: never trains, adapts at evaluation */
  shard_t shard;
  split_t split;
  dataset_t ds;        /* training: temporal split, evaluated on VALID;
                          held out: K-shot support (TRAIN) / query (TEST) */
  model_local_t local;
  trainer_t *tr;       /* created on the first training round */
  float *phi;          /* algo "local" only: this platform's own model */
  uint64_t n_train;
} platform_t;

/* Scratch buffers shared by the platforms of one rank (they run one after another). */
typedef struct platform_scratch {
  size_t d;
  float *phi, *delta;
  uint32_t *fixed;
  float *g, *m, *v; /* (d) each: the trainers' gradient and Adam moments, shared by the rank's platforms */
  dp_rng_t noise;   /* DP noise: from the OS (or a test seed, re-seeded per platform and round) */
  int noise_ready;
} platform_scratch_t;

int platform_scratch_init(platform_scratch_t *s, size_t d, fm_err *err);
void platform_scratch_free(platform_scratch_t *s);

int platform_open(platform_t *p, const source_t *src, const fm_config *c, const model_cfg_t *mc,
                  uint32_t id, int heldout, fm_err *err);
void platform_close(platform_t *p);

typedef struct delta_out {
  float loss;       /* mean inner-loop loss */
  float norm;       /* L2 norm of the delta before clipping */
  int clipped;
  double seconds;   /* compute time */
} delta_out_t;

/* One training round: adapt theta for k inner steps on the private data and
 * write weight * clip(delta) in fixed point into scratch->fixed (d words).
 * reptile / fedavg: delta = phi_k - theta; fomaml: delta = -grad at phi_k on a
 * fresh batch; local: trains the platform's own model, nothing to aggregate
 * (scratch->fixed is zeroed). The minibatches of round `round` come from the
 * stream (seed, platform, round), the same whichever rounds came before.
 * scratch->delta keeps the clipped, weighted delta in floats. */
int platform_train_round(platform_t *p, const fm_config *c, const model_cfg_t *mc,
                         const round_settings_t *rs, uint32_t round, const float *theta, double weight,
                         double scale, platform_scratch_t *s, delta_out_t *out, fm_err *err);

/* Evaluation of a training platform on its VALID split with theta (or its own
 * model for algo local), beside popularity on the same users. */
int platform_eval(platform_t *p, const model_cfg_t *mc, const char *algo, const float *theta,
                  metrics_t *model_m, metrics_t *pop_m, fm_err *err);

#endif
