/* tests/unit/test_checkpoint.c: the resumable checkpoint (checkpoint.fmck):
 * round trip of theta and the outer optimiser state; a flipped bit anywhere,
 * a truncated or extended file, a wrong magic and a meta-model without outer
 * state are refused with a clear cause; saving keeps the previous checkpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/checkpoint.h"
#include "common/fileio.h"
#include "fedmeta.pb-c.h"
#include "tests/check.h"

/* A meta-model file as fedmeta wrote it before the time term: the same
 * fields without time_lags / time_bin_s and one view fewer. lags != 0 claims
 * a time term that the file's views lack. */
static int read_old_format(const char *path, uint32_t lags, fm_err *err) {
  model_cfg_t mc = {4, 6, 16, 3, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0};
  model_view_t v[MODEL_N_VIEWS];
  model_views(&mc, v);
  size_t n = model_n_shared(&mc);
  float *theta = calloc(n, sizeof *theta);
  Fedmeta__ViewInfo vi[MODEL_N_VIEWS], *vp[MODEL_N_VIEWS];
  for (int i = 0; i < MODEL_TIME; i++) {
    fedmeta__view_info__init(&vi[i]);
    vi[i].name = (char *)v[i].name;
    vi[i].offset = v[i].offset;
    vi[i].rows = v[i].rows;
    vi[i].cols = v[i].cols;
    vp[i] = &vi[i];
  }
  Fedmeta__Checkpoint m;
  fedmeta__checkpoint__init(&m);
  m.version = 1;
  m.algo = (char *)"reptile";
  m.dim = mc.dim, m.hidden = mc.hidden, m.n_buckets = mc.n_buckets, m.hist_len = mc.hist_len;
  m.pop_prior = mc.pop_prior, m.spectral = mc.spectral;
  m.time_lags = lags, m.time_bin_s = lags ? 86400 : 0;
  m.n_views = MODEL_TIME;
  m.views = vp;
  m.theta.data = (uint8_t *)theta;
  m.theta.len = n * sizeof *theta;
  m.config = (char *)"";
  size_t len = fedmeta__checkpoint__get_packed_size(&m);
  uint8_t *buf = malloc(len);
  fedmeta__checkpoint__pack(&m, buf);
  CHECK_OK(fm_write_atomic(path, buf, len, err));
  free(buf);
  free(theta);
  checkpoint_t ck;
  int rc = checkpoint_read(&ck, path, err);
  if (!rc) {
    CHECK_EQ_INT(ck.n_theta, n);
    CHECK_EQ_INT(ck.model.time_lags, 0);
    checkpoint_free(&ck);
  }
  return rc;
}

static checkpoint_t make(uint32_t round, float base, float *theta, float *m, float *v) {
  checkpoint_t ck;
  memset(&ck, 0, sizeof ck);
  ck.round = round;
  snprintf(ck.algo, sizeof ck.algo, "reptile");
  ck.seed = 99;
  ck.model = (model_cfg_t){4, 6, 16, 3, 1, 2, 3, 86400, 1, 1, 200, 1, 0, 0};
  ck.n_theta = model_n_shared(&ck.model);
  for (size_t i = 0; i < ck.n_theta; i++) {
    theta[i] = base + (float)i * 0.001f;
    m[i] = -(float)i;
    v[i] = (float)i * 0.5f;
  }
  ck.theta = theta;
  ck.config = (char *)"algo = reptile\n";
  snprintf(ck.outer_kind, sizeof ck.outer_kind, "adam");
  ck.outer_steps = round;
  ck.outer_m = m;
  ck.outer_v = v;
  ck.config_hash = 0xfeedfacecafebeefULL;
  return ck;
}

static int expect_refused(const uint8_t *data, size_t len, const char *needle) {
  checkpoint_t rd;
  fm_err err = {{0}};
  if (checkpoint_load_bytes(&rd, data, len, "ck", &err) == 0) {
    checkpoint_free(&rd);
    return 0;
  }
  if (needle && !strstr(err.msg, needle)) {
    fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, needle);
    return 0;
  }
  return 1;
}

int main(void) {
  char dir[] = "/tmp/fedmeta-ck.XXXXXX";
  CHECK(mkdtemp(dir));
  char path[256], prev[300];
  snprintf(path, sizeof path, "%s/checkpoint.fmck", dir);
  snprintf(prev, sizeof prev, "%s.prev", path);
  model_cfg_t mc = {4, 6, 16, 3, 1, 2, 3, 86400, 1, 1, 200, 1, 0, 0};
  size_t n = model_n_shared(&mc);
  float *t1 = malloc(n * 4), *m1 = malloc(n * 4), *v1 = malloc(n * 4);
  float *t2 = malloc(n * 4), *m2 = malloc(n * 4), *v2 = malloc(n * 4);
  fm_err err = {{0}};

  /* round trip */
  checkpoint_t a = make(3, 1.0f, t1, m1, v1);
  CHECK_OK(checkpoint_save(path, &a, &err));
  checkpoint_t rd;
  CHECK_OK(checkpoint_load(&rd, path, &err));
  CHECK_EQ_INT(rd.round, 3);
  CHECK_EQ_INT(rd.n_theta, n);
  CHECK(memcmp(rd.theta, t1, n * 4) == 0);
  CHECK(memcmp(rd.outer_m, m1, n * 4) == 0);
  CHECK(memcmp(rd.outer_v, v1, n * 4) == 0);
  CHECK(!strcmp(rd.outer_kind, "adam"));
  CHECK_EQ_INT(rd.outer_steps, 3);
  CHECK(rd.config_hash == 0xfeedfacecafebeefULL);
  CHECK(!strcmp(rd.config, "algo = reptile\n"));
  checkpoint_free(&rd);

  /* a second save keeps the first as .prev */
  checkpoint_t b = make(4, 2.0f, t2, m2, v2);
  CHECK_OK(checkpoint_save(path, &b, &err));
  CHECK_OK(checkpoint_load(&rd, prev, &err));
  CHECK_EQ_INT(rd.round, 3);
  checkpoint_free(&rd);
  CHECK_OK(checkpoint_load(&rd, path, &err));
  CHECK_EQ_INT(rd.round, 4);
  checkpoint_free(&rd);

  uint8_t *data;
  size_t len;
  CHECK_OK(fm_read_file(path, &data, &len, 1 << 30, &err));
  /* every single flipped bit (in a sample of positions, all bits) is refused */
  size_t tested = 0;
  for (size_t i = 0; i < len; i += (i < 64 ? 1 : 37)) {
    for (int bit = 0; bit < 8; bit++) {
      data[i] ^= (uint8_t)(1u << bit);
      CHECK(expect_refused(data, len, NULL));
      data[i] ^= (uint8_t)(1u << bit);
      tested++;
    }
  }
  CHECK(tested > 400);
  CHECK(expect_refused(data, len - 1, "truncated"));
  CHECK(expect_refused(data, len / 2, "truncated"));
  CHECK(expect_refused(data, 10, "magic"));
  uint8_t *longer = malloc(len + 1);
  memcpy(longer, data, len);
  longer[len] = 0;
  CHECK(expect_refused(longer, len + 1, "trailing"));
  free(longer);
  data[CHECKPOINT_HEADER + 5] ^= 1;
  CHECK(expect_refused(data, len, "checksum"));
  data[CHECKPOINT_HEADER + 5] ^= 1;
  checkpoint_t ok;
  CHECK_OK(checkpoint_load_bytes(&ok, data, len, "ck", &err));
  checkpoint_free(&ok);
  free(data);

  /* a meta-model file is not a resumable checkpoint */
  char mm[256];
  snprintf(mm, sizeof mm, "%s/meta-model.pb", dir);
  CHECK_OK(checkpoint_write(mm, &a, &err));
  CHECK(checkpoint_load(&rd, mm, &err) != 0);
  CHECK(strstr(err.msg, "magic"));
  CHECK_OK(checkpoint_read(&rd, mm, &err));
  CHECK(memcmp(rd.theta, t1, n * 4) == 0);
  CHECK(rd.outer_kind[0] == 0);
  checkpoint_free(&rd);

  /* a model written before the time term still reads; one claiming a time
   * term without its view does not */
  CHECK_OK(read_old_format(mm, 0, &err));
  CHECK(read_old_format(mm, 2, &err) != 0);
  CHECK(strstr(err.msg, "needs") != NULL); /* theta is too short for the claimed shape */

  /* a smooth co-occurrence filter (spectral_basis) survives the round trip:
   * its view holds the M coefficients, not the r weights */
  {
    checkpoint_t sb;
    memset(&sb, 0, sizeof sb);
    snprintf(sb.algo, sizeof sb.algo, "reptile");
    sb.model = (model_cfg_t){4, 6, 16, 3, 1, 8, 0, 0, 1, 0, 0, 0, 3, 0};
    sb.n_theta = model_n_shared(&sb.model);
    model_cfg_t per_rank = sb.model;
    per_rank.spectral_basis = 0;
    CHECK_EQ_INT(sb.n_theta + 8 - 3, model_n_shared(&per_rank));
    sb.theta = calloc(sb.n_theta, sizeof *sb.theta);
    model_shared_init(sb.theta, &sb.model, 5);
    CHECK_OK(checkpoint_write(mm, &sb, &err));
    CHECK_OK(checkpoint_read(&rd, mm, &err));
    CHECK_EQ_INT(rd.model.spectral_basis, 3);
    CHECK_EQ_INT(rd.model.user_ids, 0);
    CHECK_EQ_INT(rd.n_theta, sb.n_theta);
    CHECK(memcmp(rd.theta, sb.theta, sb.n_theta * 4) == 0);
    checkpoint_free(&rd);
    /* the shared user table (user_ids): a setting, stored and read back */
    sb.model.user_ids = 1;
    sb.model.no_towers = 0; /* the table is read by the user tower */
    CHECK_OK(checkpoint_write(mm, &sb, &err));
    CHECK_OK(checkpoint_read(&rd, mm, &err));
    CHECK_EQ_INT(rd.model.user_ids, 1);
    checkpoint_free(&rd);
    free(sb.theta);
  }

  unlink(path);
  unlink(prev);
  unlink(mm);
  rmdir(dir);
  free(t1); free(m1); free(v1); free(t2); free(m2); free(v2);
  printf("test_checkpoint: ok\n");
  return 0;
}
