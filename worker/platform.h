/* worker/platform.h: one industry platform hosted by a worker rank: its private
 * shard, splits, local parameters and trainer, and what it does in a round. */
#ifndef FEDMETA_PLATFORM_H
#define FEDMETA_PLATFORM_H
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/dataset.h"
#include "common/dp.h"
#include "common/layers.h"
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

/* Scratch buffers shared by the platforms of one rank (they run one after another).
 *
 * A round of reptile / fedavg changes theta only in the E rows its steps
 * touched (`rows`, a few hundred of 2^b) and the dense part after E, so the
 * whole-vector passes of a platform (theta copy, delta, norm, scale, encode,
 * Adam reset) are done on these only: when `rows_valid` is set, phi, delta,
 * fixed, m and v differ from (theta of generation phi_gen, 0, 0, 0, 0) only in
 * the E rows of `rows` and in the dense part, and the next platform restores
 * just those. Anything else that writes these buffers (a dense delta, secure
 * aggregation masking fixed in place, a fault injection) clears rows_valid and
 * the next platform clears them whole. The result is the same bytes either
 * way (a delta is exactly zero outside these rows). */
typedef struct platform_scratch {
  size_t d;
  size_t n_emb;     /* E: n_buckets x dim floats at offset 0 */
  uint32_t dim;
  float *phi, *delta;
  uint32_t *fixed;
  float *g, *m, *v; /* (d) each: the trainers' gradient and Adam moments, shared by the rank's platforms */
  dp_rng_t noise;   /* DP noise: from the OS (or a test seed, re-seeded per platform and round) */
  int noise_ready;
  layer_rowset_t rows; /* E rows the last platform's steps updated, ascending after its round */
  int rows_valid;      /* see above */
  uint64_t theta_gen;  /* bumped by the caller whenever theta changes (a new plan) */
  uint64_t phi_gen;    /* theta_gen that phi was copied from */
  /* The last delta in sparse form (rows_valid and no DP noise): runs of
   * (offset, length) words of fixed, ascending, and their words packed. */
  uint32_t *runs;   /* 2 x (n_buckets + 1) */
  size_t n_runs;    /* uint32 values in runs (2 per run); 0: only the dense form */
  uint32_t *packed; /* (d) */
  size_t n_packed;
} platform_scratch_t;

int platform_scratch_init(platform_scratch_t *s, const model_cfg_t *mc, size_t d, fm_err *err);
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
 * scratch->delta keeps the clipped, weighted delta in floats. reptile / fedavg
 * without DP noise also leave the delta's non-zero rows in sparse form
 * (scratch->runs, scratch->packed); scratch->fixed holds the same words densely. */
int platform_train_round(platform_t *p, const fm_config *c, const model_cfg_t *mc,
                         const round_settings_t *rs, uint32_t round, const float *theta, double weight,
                         double scale, platform_scratch_t *s, delta_out_t *out, fm_err *err);

/* fn(arg) runs on the training thread after every inner step of
 * platform_train_round until it is set again (NULL: nothing). Secure
 * aggregation posts from it the masked Deltas of the platforms trained
 * before, as its helper thread seals them, instead of after the next
 * platform's training. It must not touch the platform being trained. */
typedef void (*platform_step_hook_fn)(void *arg);
void platform_set_step_hook(platform_step_hook_fn fn, void *arg);

/* Evaluation of a training platform on its VALID split with theta (or its own
 * model for algo local), beside popularity on the same users. */
int platform_eval(platform_t *p, const model_cfg_t *mc, const char *algo, const float *theta,
                  metrics_t *model_m, metrics_t *pop_m, fm_err *err);

#endif
