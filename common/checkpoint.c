/* common/checkpoint.c: meta-model files (see checkpoint.h). */
#include "common/checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "fedmeta.pb-c.h"

int checkpoint_write(const char *path, const checkpoint_t *ck, fm_err *err) {
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
  m.n_views = MODEL_N_VIEWS;
  m.views = vp;
  m.theta.data = (uint8_t *)ck->theta; /* little-endian hosts only (checked at start-up) */
  m.theta.len = ck->n_theta * sizeof(float);
  m.config = ck->config ? ck->config : (char *)"";
  size_t n = fedmeta__checkpoint__get_packed_size(&m);
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) return fm_fail(err, "%s: out of memory", path);
  fedmeta__checkpoint__pack(&m, buf);
  int rc = fm_write_atomic(path, buf, n, err);
  free(buf);
  return rc;
}

void checkpoint_free(checkpoint_t *ck) {
  if (!ck) return;
  free(ck->theta);
  free(ck->config);
  memset(ck, 0, sizeof *ck);
}

int checkpoint_read(checkpoint_t *ck, const char *path, fm_err *err) {
  memset(ck, 0, sizeof *ck);
  uint8_t *data;
  size_t len;
  if (fm_read_file(path, &data, &len, (size_t)1 << 34, err)) return -1;
  Fedmeta__Checkpoint *m = fedmeta__checkpoint__unpack(NULL, len, data);
  free(data);
  if (!m) return fm_fail(err, "%s: not a fedmeta meta-model (protobuf Checkpoint did not decode)", path);
  int rc = 0;
  if (m->version != CHECKPOINT_VERSION) {
    rc = fm_fail(err, "%s: checkpoint version %u, this fedmeta reads version %d", path, m->version,
                 CHECKPOINT_VERSION);
    goto done;
  }
  ck->model.dim = m->dim;
  ck->model.hidden = m->hidden;
  ck->model.n_buckets = m->n_buckets;
  ck->model.hist_len = m->hist_len;
  if (model_cfg_validate(&ck->model, err)) {
    rc = fm_wrap(err, "%s", path);
    goto done;
  }
  size_t n = model_n_shared(&ck->model);
  if (m->theta.len != n * sizeof(float)) {
    rc = fm_fail(err, "%s: theta has %zu bytes, the model shape needs %zu", path, m->theta.len,
                 n * sizeof(float));
    goto done;
  }
  model_view_t views[MODEL_N_VIEWS];
  model_views(&ck->model, views);
  if (m->n_views != MODEL_N_VIEWS) {
    rc = fm_fail(err, "%s: %zu parameter views, expected %d", path, m->n_views, MODEL_N_VIEWS);
    goto done;
  }
  for (int i = 0; i < MODEL_N_VIEWS; i++) {
    const Fedmeta__ViewInfo *v = m->views[i];
    if (strcmp(v->name, views[i].name) || v->offset != views[i].offset || v->rows != views[i].rows ||
        v->cols != views[i].cols) {
      rc = fm_fail(err, "%s: view %d is %s (%u x %u at %llu), expected %s (%u x %u at %zu)", path, i,
                   v->name, v->rows, v->cols, (unsigned long long)v->offset, views[i].name,
                   views[i].rows, views[i].cols, views[i].offset);
      goto done;
    }
  }
  ck->theta = malloc(n * sizeof(float));
  if (!ck->theta) {
    rc = fm_fail(err, "%s: out of memory", path);
    goto done;
  }
  memcpy(ck->theta, m->theta.data, n * sizeof(float));
  ck->n_theta = n;
  for (size_t i = 0; i < n; i++)
    if (!isfinite(ck->theta[i])) {
      rc = fm_fail(err, "%s: parameter %zu is not finite", path, i);
      goto done;
    }
  ck->round = m->round;
  snprintf(ck->algo, sizeof ck->algo, "%s", m->algo ? m->algo : "");
  ck->seed = m->seed;
  ck->config = strdup(m->config ? m->config : "");
done:
  fedmeta__checkpoint__free_unpacked(m, NULL);
  if (rc) checkpoint_free(ck);
  return rc;
}
