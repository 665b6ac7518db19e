/* worker/platform.c: a platform's inner loop and delta (see platform.h). */
#include "worker/platform.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/fixed.h"
#include "common/wire.h"
#include "worker/adapt.h"

static platform_step_hook_fn step_hook;
static void *step_hook_arg;

void platform_set_step_hook(platform_step_hook_fn fn, void *arg) {
  step_hook = fn;
  step_hook_arg = arg;
}

int platform_scratch_init(platform_scratch_t *s, const model_cfg_t *mc, size_t d, fm_err *err) {
  memset(s, 0, sizeof *s);
  s->d = d;
  s->dim = mc->dim;
  s->n_emb = (size_t)mc->n_buckets * mc->dim;
  if (s->n_emb > d) return fm_fail(err, "model: %zu embedding floats in %zu parameters", s->n_emb, d);
  if (layer_rowset_init(&s->rows, mc->n_buckets, err)) return -1;
  s->runs = malloc(sizeof(uint32_t) * 2 * ((size_t)mc->n_buckets + 1));
  s->packed = malloc(sizeof(uint32_t) * d);
  s->phi = malloc(sizeof(float) * d);
  s->delta = malloc(sizeof(float) * d);
  s->fixed = malloc(sizeof(uint32_t) * d);
  s->g = calloc(d, sizeof(float));
  s->m = calloc(d, sizeof(float));
  s->v = calloc(d, sizeof(float));
  if (!s->phi || !s->delta || !s->fixed || !s->g || !s->m || !s->v || !s->runs || !s->packed) {
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
  free(s->runs);
  free(s->packed);
  layer_rowset_free(&s->rows);
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
  if (!rc && heldout) rc = split_keep_users(&p->split, &p->shard, c->heldout_users, c->seed, err);
  if (!rc) rc = dataset_build(&p->ds, &p->shard, &p->split, heldout ? SPLIT_TEST : SPLIT_VALID, err);
  /* the terms' inputs, from what the platform knows (TRAIN; a held-out one's support) */
  if (!rc) rc = model_dataset_inputs(mc, &p->ds, &p->shard, c->kshot, !strcmp(c->pop_loo, "on"), err);
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

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

/* Before a reptile / fedavg platform trains: phi = theta, delta = fixed = 0,
 * m = v = 0. With rows_valid only the last platform's rows and the dense part
 * are restored (see platform_scratch_t); else every word. */
static void scratch_restore(platform_scratch_t *s, const float *theta, int adam) {
  size_t d = s->d, D = s->dim, n_emb = s->n_emb, n_dense = d - n_emb;
  if (!s->rows_valid) {
    memcpy(s->phi, theta, sizeof(float) * d);
    memset(s->delta, 0, sizeof(float) * d);
    memset(s->fixed, 0, sizeof(uint32_t) * d);
    if (adam) {
      memset(s->m, 0, sizeof(float) * d);
      memset(s->v, 0, sizeof(float) * d);
    }
  } else {
    int same_theta = s->phi_gen == s->theta_gen;
    for (uint32_t k = 0; k < s->rows.n; k++) {
      size_t off = (size_t)s->rows.rows[k] * D;
      if (same_theta) memcpy(s->phi + off, theta + off, sizeof(float) * D);
      memset(s->delta + off, 0, sizeof(float) * D);
      memset(s->fixed + off, 0, sizeof(uint32_t) * D);
      if (adam) {
        memset(s->m + off, 0, sizeof(float) * D);
        memset(s->v + off, 0, sizeof(float) * D);
      }
    }
    if (same_theta) memcpy(s->phi + n_emb, theta + n_emb, sizeof(float) * n_dense);
    else memcpy(s->phi, theta, sizeof(float) * d);
    /* delta and fixed: the dense part is overwritten by the next delta */
    if (adam) {
      memset(s->m + n_emb, 0, sizeof(float) * n_dense);
      memset(s->v + n_emb, 0, sizeof(float) * n_dense);
    }
  }
  s->phi_gen = s->theta_gen;
  layer_rowset_clear(&s->rows);
  s->rows_valid = 0; /* until this platform's round completes */
}

int platform_train_round(platform_t *p, const fm_config *c, const model_cfg_t *mc,
                         const round_settings_t *rs, uint32_t round, const float *theta, double weight,
                         double scale, platform_scratch_t *s, delta_out_t *out, fm_err *err) {
  double t0 = wire_now();
  size_t d = s->d;
  memset(out, 0, sizeof *out);
  s->n_runs = 0;
  s->n_packed = 0;
  if (p->heldout) return fm_fail(err, "platform %s is held out and cannot train", p->name);
  if (p->ds.n_pairs == 0) return fm_fail(err, "platform %s has no training interactions", p->name);
  int local = strcmp(rs->algo, "local") == 0;
  int fomaml = strcmp(rs->algo, "fomaml") == 0;
  int adam = rs->train.opt == OPT_ADAM;
  float *phi = s->phi;
  if (local) {
    s->rows_valid = 0;
    if (!p->phi) {
      p->phi = malloc(sizeof(float) * d);
      if (!p->phi) return fm_fail(err, "out of memory");
      memcpy(p->phi, theta, sizeof(float) * d);
    }
    phi = p->phi;
  }
  if (!p->tr) {
    /* state reset every round: one set of d-sized buffers for the whole rank */
    int irc = local ? trainer_init(&p->tr, mc, &rs->train, &p->ds, &p->local, c->seed, p->id, err)
                    : trainer_init_shared(&p->tr, mc, &rs->train, &p->ds, &p->local, c->seed, p->id, s->g,
                                          s->m, s->v, err);
    if (irc) return fm_wrap(err, "platform %s", p->name);
  }
  /* Inner optimiser state starts afresh each round (each round is a new task
   * visit from a new theta); for "local" it persists like any long training. */
  if (!local) {
    scratch_restore(s, theta, adam); /* phi = theta; delta, fixed, m, v = 0 */
    trainer_reset_opt_local(p->tr);  /* the step count, P and Q's moments */
    trainer_track_rows(p->tr, &s->rows);
  }
  trainer_seed_round(p->tr, c->seed, p->id, round);
  double loss = 0;
  for (uint32_t k = 0; k < rs->inner_steps; k++) {
    loss += trainer_step(p->tr, phi);
    if (step_hook) step_hook(step_hook_arg);
  }
  trainer_track_rows(p->tr, NULL);
  out->loss = (float)(loss / rs->inner_steps);
  if (local) {
    memset(s->fixed, 0, sizeof(uint32_t) * d);
    out->seconds = wire_now() - t0;
    return 0;
  }
  float *delta = s->delta;
  /* The delta's support: the touched E rows, ascending, then the dense part
   * (fomaml: the whole vector). Outside it the delta is exactly 0 and delta,
   * fixed hold 0 (scratch_restore), so the passes below skip it; the norm is
   * summed over the support in index order, which adds the same non-zero
   * terms in the same order as a pass over every word. */
  const size_t D = s->dim, n_emb = s->n_emb;
  qsort(s->rows.rows, s->rows.n, sizeof *s->rows.rows, cmp_u32);
  size_t n_seg = fomaml ? 1 : (size_t)s->rows.n + 1;
#define SEG_BOUNDS(k, lo, hi)                                                        \
  do {                                                                               \
    if (fomaml) lo = 0, hi = d;                                                      \
    else if ((k) < s->rows.n) lo = (size_t)s->rows.rows[k] * D, hi = lo + D;         \
    else lo = n_emb, hi = d;                                                         \
  } while (0)
  if (fomaml) {
    trainer_grad(p->tr, phi, delta);
    for (size_t i = 0; i < d; i++) delta[i] = -delta[i];
  } else {
    for (size_t k = 0; k < n_seg; k++) {
      size_t lo, hi;
      SEG_BOUNDS(k, lo, hi);
      for (size_t i = lo; i < hi; i++) delta[i] = phi[i] - theta[i];
    }
  }
  /* Norm in double, in a fixed order: deterministic whatever BLAS does. */
  double sq = 0;
  for (size_t k = 0; k < n_seg; k++) {
    size_t lo, hi;
    SEG_BOUNDS(k, lo, hi);
    for (size_t i = lo; i < hi; i++) sq += (double)delta[i] * delta[i];
  }
  double norm = sqrt(sq);
  if (!isfinite(norm))
    return fm_fail(err, "platform %s: the delta is not finite (learning rate too high? try a lower --inner-lr)", p->name);
  out->norm = (float)norm;
  double f = weight;
  if (norm > rs->clip) {
    f *= rs->clip / norm;
    out->clipped = 1;
  }
  for (size_t k = 0; k < n_seg; k++) {
    size_t lo, hi;
    SEG_BOUNDS(k, lo, hi);
    for (size_t i = lo; i < hi; i++) delta[i] = (float)(delta[i] * f);
    fixed_encode(s->fixed + lo, delta + lo, hi - lo, scale);
  }
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
  } else if (!fomaml) {
    /* the sparse form: runs of (offset, length), adjacent rows merged */
    size_t nr = 0, np = 0;
    for (size_t k = 0; k < n_seg; k++) {
      size_t lo, hi;
      SEG_BOUNDS(k, lo, hi);
      if (hi == lo) continue;
      if (nr && (size_t)s->runs[nr - 2] + s->runs[nr - 1] == lo) s->runs[nr - 1] += (uint32_t)(hi - lo);
      else s->runs[nr++] = (uint32_t)lo, s->runs[nr++] = (uint32_t)(hi - lo);
      memcpy(s->packed + np, s->fixed + lo, sizeof(uint32_t) * (hi - lo));
      np += hi - lo;
    }
    s->n_runs = nr;
    s->n_packed = np;
    s->rows_valid = 1; /* phi, delta, fixed, m, v differ from their clean state only in rows + dense part */
  }
#undef SEG_BOUNDS
  out->seconds = wire_now() - t0;
  return 0;
}

int platform_eval(platform_t *p, const model_cfg_t *mc, const char *algo, const float *theta,
                  metrics_t *model_m, metrics_t *pop_m, fm_err *err) {
  const float *th = (strcmp(algo, "local") == 0 && p->phi) ? p->phi : theta;
  if (adapt_score(model_m, NULL, NULL, mc, th, &p->local, &p->ds, err)) return -1;
  return metrics_rank_popularity(pop_m, NULL, &p->ds, err);
}
