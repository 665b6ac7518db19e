/* common/checkpoint.c: meta-model files and resumable checkpoints (see checkpoint.h). */
#include "common/checkpoint.h"

#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/le.h"
#include "fedmeta.pb-c.h"

static const uint8_t MAGIC[8] = {'F', 'M', 'C', 'K', 'P', 'T', 0, 1};

/* Packs ck into a malloc'd protobuf image; with_outer adds the resumable state. */
static uint8_t *pack(const checkpoint_t *ck, int with_outer, size_t *len, fm_err *err) {
  model_view_t views[MODEL_N_VIEWS];
  model_views(&ck->model, views);
  Fedmeta__ViewInfo vi[MODEL_N_VIEWS], *vp[MODEL_N_VIEWS];
  for (int i = 0; i < MODEL_N_VIEWS; i++) {
    fedmeta__view_info__init(&vi[i]);
    vi[i].name = (char *)views[i].name;
    vi[i].offset = views[i].offset;
    vi[i].rows = views[i].rows;
    vi[i].cols = views[i].cols;
    vp[i] = &vi[i];
  }
  Fedmeta__Checkpoint m;
  fedmeta__checkpoint__init(&m);
  m.version = CHECKPOINT_VERSION;
  m.round = ck->round;
  m.algo = (char *)ck->algo;
  m.seed = ck->seed;
  m.dim = ck->model.dim;
  m.hidden = ck->model.hidden;
  m.n_buckets = ck->model.n_buckets;
  m.hist_len = ck->model.hist_len;
  m.pop_prior = ck->model.pop_prior;
  m.spectral = ck->model.spectral;
  m.spectral_basis = ck->model.spectral_basis;
  m.time_lags = ck->model.time_lags;
  m.time_bin_s = ck->model.time_bin_s;
  m.no_towers = ck->model.no_towers;
  m.attr = ck->model.attr;
  m.ease = ck->model.ease;
  m.trans = ck->model.trans;
  m.user_ids = ck->model.user_ids;
  m.n_views = MODEL_N_VIEWS;
  m.views = vp;
  m.theta.data = (uint8_t *)ck->theta; /* little-endian hosts only (checked at start-up) */
  m.theta.len = ck->n_theta * sizeof(float);
  m.config = ck->config ? ck->config : (char *)"";
  Fedmeta__OuterState os;
  if (with_outer) {
    fedmeta__outer_state__init(&os);
    os.kind = (char *)ck->outer_kind;
    os.steps = ck->outer_steps;
    if (ck->outer_m) {
      os.m.data = (uint8_t *)ck->outer_m;
      os.m.len = ck->n_theta * sizeof(float);
    }
    if (ck->outer_v) {
      os.v.data = (uint8_t *)ck->outer_v;
      os.v.len = ck->n_theta * sizeof(float);
    }
    m.outer = &os;
    m.config_hash = ck->config_hash;
    m.complete = ck->complete != 0;
  }
  size_t n = fedmeta__checkpoint__get_packed_size(&m);
  uint8_t *buf = malloc(n + CHECKPOINT_HEADER);
  if (!buf) {
    fm_fail(err, "out of memory (%zu bytes)", n);
    return NULL;
  }
  fedmeta__checkpoint__pack(&m, buf + CHECKPOINT_HEADER);
  *len = n;
  return buf;
}

int checkpoint_write(const char *path, const checkpoint_t *ck, fm_err *err) {
  size_t n;
  uint8_t *buf = pack(ck, 0, &n, err);
  if (!buf) return fm_wrap(err, "%s", path);
  int rc = fm_write_atomic(path, buf + CHECKPOINT_HEADER, n, err);
  free(buf);
  return rc;
}

void checkpoint_free(checkpoint_t *ck) {
  if (!ck) return;
  free(ck->theta);
  free(ck->config);
  free(ck->outer_m);
  free(ck->outer_v);
  memset(ck, 0, sizeof *ck);
}

static float *copy_floats(const ProtobufCBinaryData *b, size_t n) {
  float *x = malloc(n * sizeof(float) + 1);
  if (x) memcpy(x, b->data, n * sizeof(float));
  return x;
}

/* Decodes and validates a protobuf Checkpoint image. */
static int decode(checkpoint_t *ck, const uint8_t *data, size_t len, const char *name, fm_err *err) {
  memset(ck, 0, sizeof *ck);
  Fedmeta__Checkpoint *m = fedmeta__checkpoint__unpack(NULL, len, data);
  if (!m) return fm_fail(err, "%s: not a fedmeta meta-model (protobuf Checkpoint did not decode)", name);
  int rc = 0;
  if (m->version != CHECKPOINT_VERSION) {
    rc = fm_fail(err, "%s: checkpoint version %u, this fedmeta reads version %d", name, m->version,
                 CHECKPOINT_VERSION);
    goto done;
  }
  ck->model.dim = m->dim;
  ck->model.hidden = m->hidden;
  ck->model.n_buckets = m->n_buckets;
  ck->model.hist_len = m->hist_len;
  ck->model.pop_prior = m->pop_prior;
  ck->model.spectral = m->spectral;
  ck->model.spectral_basis = m->spectral_basis;
  ck->model.time_lags = m->time_lags;
  ck->model.time_bin_s = m->time_bin_s;
  ck->model.no_towers = m->no_towers;
  ck->model.attr = m->attr;
  ck->model.ease = m->ease;
  ck->model.trans = m->trans;
  ck->model.user_ids = m->user_ids;
  if (model_cfg_validate(&ck->model, err)) {
    rc = fm_wrap(err, "%s", name);
    goto done;
  }
  size_t n = model_n_shared(&ck->model);
  if (m->theta.len != n * sizeof(float)) {
    rc = fm_fail(err, "%s: theta has %zu bytes, the model shape needs %zu", name, m->theta.len,
                 n * sizeof(float));
    goto done;
  }
  model_view_t views[MODEL_N_VIEWS];
  model_views(&ck->model, views);
  /* A file written before a view was added lists fewer; the views it lacks
   * must be empty in its model (their settings are 0 there). */
  int nv = (int)m->n_views;
  if (m->n_views > MODEL_N_VIEWS || m->n_views < MODEL_SPEC + 1) {
    rc = fm_fail(err, "%s: %zu parameter views, expected %d", name, m->n_views, MODEL_N_VIEWS);
    goto done;
  }
  for (int i = nv; i < MODEL_N_VIEWS; i++)
    if (views[i].rows && views[i].cols) {
      rc = fm_fail(err, "%s: %zu parameter views but the model needs view %d (%s)", name,
                   m->n_views, i, views[i].name);
      goto done;
    }
  for (int i = 0; i < nv; i++) {
    const Fedmeta__ViewInfo *v = m->views[i];
    if (strcmp(v->name, views[i].name) || v->offset != views[i].offset || v->rows != views[i].rows ||
        v->cols != views[i].cols) {
      rc = fm_fail(err, "%s: view %d is %s (%u x %u at %llu), expected %s (%u x %u at %zu)", name, i,
                   v->name, v->rows, v->cols, (unsigned long long)v->offset, views[i].name,
                   views[i].rows, views[i].cols, views[i].offset);
      goto done;
    }
  }
  ck->theta = copy_floats(&m->theta, n);
  if (!ck->theta) {
    rc = fm_fail(err, "%s: out of memory", name);
    goto done;
  }
  ck->n_theta = n;
  for (size_t i = 0; i < n; i++)
    if (!isfinite(ck->theta[i])) {
      rc = fm_fail(err, "%s: parameter %zu is not finite", name, i);
      goto done;
    }
  ck->round = m->round;
  snprintf(ck->algo, sizeof ck->algo, "%s", m->algo ? m->algo : "");
  ck->seed = m->seed;
  ck->config = strdup(m->config ? m->config : "");
  ck->config_hash = m->config_hash;
  ck->complete = m->complete;
  if (m->outer) {
    const Fedmeta__OuterState *o = m->outer;
    const char *kind = o->kind ? o->kind : "";
    int has_m = !strcmp(kind, "momentum") || !strcmp(kind, "adam"), has_v = !strcmp(kind, "adam");
    if (!has_m && strcmp(kind, "sgd")) {
      rc = fm_fail(err, "%s: unknown outer optimiser '%s' (expected sgd, momentum or adam)", name, kind);
      goto done;
    }
    if ((has_m ? n * sizeof(float) : 0) != o->m.len || (has_v ? n * sizeof(float) : 0) != o->v.len) {
      rc = fm_fail(err, "%s: outer optimiser state has %zu + %zu bytes, '%s' with %zu parameters needs %zu + %zu",
                   name, o->m.len, o->v.len, kind, n, has_m ? n * sizeof(float) : 0,
                   has_v ? n * sizeof(float) : 0);
      goto done;
    }
    snprintf(ck->outer_kind, sizeof ck->outer_kind, "%s", kind);
    ck->outer_steps = o->steps;
    if (has_m && !(ck->outer_m = copy_floats(&o->m, n))) rc = fm_fail(err, "%s: out of memory", name);
    if (!rc && has_v && !(ck->outer_v = copy_floats(&o->v, n))) rc = fm_fail(err, "%s: out of memory", name);
    for (size_t i = 0; !rc && i < n; i++)
      if ((has_m && !isfinite(ck->outer_m[i])) || (has_v && !(ck->outer_v[i] >= 0 && isfinite(ck->outer_v[i]))))
        rc = fm_fail(err, "%s: outer optimiser state %zu is not finite (or a negative second moment)", name, i);
  }
done:
  fedmeta__checkpoint__free_unpacked(m, NULL);
  if (rc) checkpoint_free(ck);
  return rc;
}

int checkpoint_read(checkpoint_t *ck, const char *path, fm_err *err) {
  memset(ck, 0, sizeof *ck);
  uint8_t *data;
  size_t len;
  if (fm_read_file(path, &data, &len, (size_t)1 << 34, err)) return -1;
  int rc = decode(ck, data, len, path, err);
  free(data);
  return rc;
}

int checkpoint_save(const char *path, const checkpoint_t *ck, fm_err *err) {
  if (sodium_init() < 0) return fm_fail(err, "libsodium failed to initialise");
  size_t n;
  uint8_t *buf = pack(ck, 1, &n, err);
  if (!buf) return fm_wrap(err, "%s", path);
  memcpy(buf, MAGIC, 8);
  le_put64(buf + 8, (uint64_t)n);
  crypto_generichash(buf + 16, 32, buf + CHECKPOINT_HEADER, n, NULL, 0);
  /* Keep the last good checkpoint: the newest becomes PATH.prev. */
  char prev[4096];
  snprintf(prev, sizeof prev, "%s.prev", path);
  if (rename(path, prev) != 0 && errno != ENOENT) {
    free(buf);
    return fm_fail(err, "cannot rename %s to %s (%s)", path, prev, strerror(errno));
  }
  int rc = fm_write_atomic(path, buf, n + CHECKPOINT_HEADER, err);
  free(buf);
  return rc;
}

int checkpoint_load_bytes(checkpoint_t *ck, const uint8_t *data, size_t len, const char *name,
                          fm_err *err) {
  memset(ck, 0, sizeof *ck);
  if (sodium_init() < 0) return fm_fail(err, "libsodium failed to initialise");
  if (len < CHECKPOINT_HEADER || memcmp(data, MAGIC, 8) != 0)
    return fm_fail(err, "%s: not a fedmeta checkpoint (bad magic or shorter than its %d-byte header)", name,
                   CHECKPOINT_HEADER);
  uint64_t n = le_get64(data + 8);
  if (n != len - CHECKPOINT_HEADER)
    return fm_fail(err, "%s: the header promises %llu bytes of checkpoint, the file has %zu (%s)", name,
                   (unsigned long long)n, len - CHECKPOINT_HEADER,
                   n > len - CHECKPOINT_HEADER ? "truncated" : "trailing bytes");
  uint8_t h[32];
  crypto_generichash(h, sizeof h, data + CHECKPOINT_HEADER, (size_t)n, NULL, 0);
  if (sodium_memcmp(h, data + 16, 32) != 0)
    return fm_fail(err, "%s: checksum mismatch: the checkpoint is corrupted", name);
  if (decode(ck, data + CHECKPOINT_HEADER, (size_t)n, name, err)) return -1;
  if (!ck->outer_kind[0]) {
    checkpoint_free(ck);
    return fm_fail(err, "%s: no outer optimiser state (a meta-model, not a resumable checkpoint)", name);
  }
  return 0;
}

int checkpoint_load(checkpoint_t *ck, const char *path, fm_err *err) {
  memset(ck, 0, sizeof *ck);
  uint8_t *data;
  size_t len;
  if (fm_read_file(path, &data, &len, (size_t)1 << 36, err)) return -1;
  int rc = checkpoint_load_bytes(ck, data, len, path, err);
  free(data);
  return rc;
}
