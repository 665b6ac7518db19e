/* worker/platform.c: a platform's inner loop and delta (see platform.h). */
#include "worker/platform.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/fixed.h"
#include "common/wire.h"
#include "worker/adapt.h"

int platform_scratch_init(platform_scratch_t *s, size_t d, fm_err *err) {
  memset(s, 0, sizeof *s);
  s->d = d;
  s->phi = malloc(sizeof(float) * d);
  s->delta = malloc(sizeof(float) * d);
  s->fixed = malloc(sizeof(uint32_t) * d);
  s->g = calloc(d, sizeof(float));
  s->m = calloc(d, sizeof(float));
  s->v = calloc(d, sizeof(float));
  if (!s->phi || !s->delta || !s->fixed || !s->g || !s->m || !s->v) {
    platform_scratch_free(s);
    return fm_fail(err, "out of memory for round buffers (%zu parameters)", d);
  }
  return 0;
}

void platform_scratch_free(platform_scratch_t *s) {
  if (!s) return;
  if (s->noise_ready) dp_rng_free(&s->noise);
  free(s->phi);
  free(s->delta);
  free(s->fixed);
  free(s->g);
  free(s->m);
  free(s->v);
  memset(s, 0, sizeof *s);
}

int platform_open(platform_t *p, const source_t *src, const fm_config *c, const model_cfg_t *mc,
                  uint32_t id, int heldout, fm_err *err) {
  memset(p, 0, sizeof *p);
  p->id = id;
  p->heldout = heldout;
  snprintf(p->name, sizeof p->name, "%s", src->names[id]);
  if (source_load(src, id, &p->shard, err)) return -1;
  int rc = heldout ? split_kshot(&p->split, &p->shard, c->kshot, err)
                   : split_temporal(&p->split, &p->shard, 1, 1, err);
  if (!rc) rc = dataset_build(&p->ds, &p->shard, &p->split, heldout ? SPLIT_TEST : SPLIT_VALID, err);
  /* the co-occurrence term's input, from what the platform knows (TRAIN; a held-out one's support) */
  if (!rc && mc->spectral) rc = dataset_spectral(&p->ds, mc->spectral, c->kshot, err);
  if (!rc && !heldout)
    rc = model_local_init(&p->local, mc, p->ds.n_users, p->ds.n_items, c->seed, id, err);
  if (rc) {
    fm_wrap(err, "platform %u (%s)", id, p->name);
    platform_close(p);
    return -1;
  }
  p->n_train = p->ds.n_pairs;
  return 0;
}

void platform_close(platform_t *p) {
  if (!p) return;
  trainer_free(p->tr);
  model_local_free(&p->local);
  dataset_free(&p->ds);
  split_free(&p->split);
  shard_free(&p->shard);
  free(p->phi);
  memset(p, 0, sizeof *p);
}

int platform_train_round(platform_t *p, const fm_config *c, const model_cfg_t *mc,
                         const round_settings_t *rs, uint32_t round, const float *theta, double weight,
                         double scale, platform_scratch_t *s, delta_out_t *out, fm_err *err) {
  double t0 = wire_now();
  size_t d = s->d;
  memset(out, 0, sizeof *out);
  if (p->heldout) return fm_fail(err, "platform %s is held out and cannot train", p->name);
  if (p->ds.n_pairs == 0) return fm_fail(err, "platform %s has no training interactions", p->name);
  int local = strcmp(rs->algo, "local") == 0;
  int fomaml = strcmp(rs->algo, "fomaml") == 0;
  float *phi = s->phi;
  if (local) {
    if (!p->phi) {
      p->phi = malloc(sizeof(float) * d);
      if (!p->phi) return fm_fail(err, "out of memory");
      memcpy(p->phi, theta, sizeof(float) * d);
    }
    phi = p->phi;
  } else {
    memcpy(phi, theta, sizeof(float) * d);
  }
  if (!p->tr) {
    if (trainer_init(&p->tr, mc, &rs->train, &p->ds, &p->local, c->seed, p->id, err))
      return fm_wrap(err, "platform %s", p->name);
    /* state reset every round: one set of d-sized buffers for the whole rank */
    if (!local) trainer_share_buffers(p->tr, s->g, s->m, s->v);
  }
  /* Inner optimiser state starts afresh each round (each round is a new task
   * visit from a new theta); for "local" it persists like any long training. */
  if (!local) trainer_reset_opt(p->tr);
  trainer_seed_round(p->tr, c->seed, p->id, round);
  double loss = 0;
  for (uint32_t k = 0; k < rs->inner_steps; k++) loss += trainer_step(p->tr, phi);
  out->loss = (float)(loss / rs->inner_steps);
  if (local) {
    memset(s->fixed, 0, sizeof(uint32_t) * d);
    out->seconds = wire_now() - t0;
    return 0;
  }
  float *delta = s->delta;
  if (fomaml) {
    trainer_grad(p->tr, phi, delta);
    for (size_t i = 0; i < d; i++) delta[i] = -delta[i];
  } else {
    for (size_t i = 0; i < d; i++) delta[i] = phi[i] - theta[i];
  }
  /* Norm in double, in a fixed order: deterministic whatever BLAS does. */
  double sq = 0;
  for (size_t i = 0; i < d; i++) sq += (double)delta[i] * delta[i];
  double norm = sqrt(sq);
  if (!isfinite(norm))
    return fm_fail(err, "platform %s: the delta is not finite (learning rate too high? try a lower --inner-lr)", p->name);
  out->norm = (float)norm;
  double f = weight;
  if (norm > rs->clip) {
    f *= rs->clip / norm;
    out->clipped = 1;
  }
  for (size_t i = 0; i < d; i++) delta[i] = (float)(delta[i] * f);
  fixed_encode(s->fixed, delta, d, scale);
  if (rs->dp_sigma > 0) {
    /* This platform's share of the Gaussian noise, as integers in Z_2^32, so
     * the sum of the shares carries the intended variance. */
    if (rs->dp_test_seed) {
      if (s->noise_ready) dp_rng_free(&s->noise);
      s->noise_ready = 0;
      if (dp_rng_init_seeded(&s->noise, rs->dp_test_seed, (uint64_t)round << 32 | p->id, err)) return -1;
      s->noise_ready = 1;
    } else if (!s->noise_ready) {
      if (dp_rng_init_secure(&s->noise, err)) return -1;
      s->noise_ready = 1;
    }
    dp_dgauss_add(s->fixed, d, rs->dp_sigma, &s->noise);
    /* per-platform statistics would leak around the noise: report none */
    out->loss = 0;
    out->norm = 0;
    out->clipped = 0;
  }
  out->seconds = wire_now() - t0;
  return 0;
}

int platform_eval(platform_t *p, const model_cfg_t *mc, const char *algo, const float *theta,
                  metrics_t *model_m, metrics_t *pop_m, fm_err *err) {
  const float *th = (strcmp(algo, "local") == 0 && p->phi) ? p->phi : theta;
  if (adapt_score(model_m, NULL, mc, th, &p->local, &p->ds, err)) return -1;
  return metrics_rank_popularity(pop_m, NULL, &p->ds, err);
}
