/* tests/unit/test_msg.c: protobuf round-trips of every wire message, rejection
 * of garbage, fixed-point aggregation (exactness, order independence, error
 * bound) and the meta-model file. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/checkpoint.h"
#include "common/fixed.h"
#include "common/msg.h"
#include "common/rng.h"
#include "tests/check.h"

static void test_plan(void) {
  plan_t p;
  memset(&p, 0, sizeof p);
  p.job = 0x1234567890abcdefULL;
  p.round = 17;
  p.stage = MSG_STAGE_TRAIN;
  snprintf(p.rs.algo, sizeof p.rs.algo, "reptile");
  p.rs.inner_steps = 20;
  p.rs.train.opt = OPT_ADAM;
  p.rs.train.lr = 0.003f;
  p.rs.train.lr_local = 0.01f;
  p.rs.train.batch = 128;
  p.rs.train.n_neg = 64;
  p.rs.clip = 5;
  p.rs.ft_steps = 9;
  uint32_t parts[3] = {1, 4, 6};
  double w[3] = {0.5, 0.25, 0.25};
  p.n_part = 3;
  p.part_platform = parts;
  p.part_weight = w;
  p.scale = 1048576.0;
  p.final = 1;
  float theta[7] = {1, -2, 3.5f, 0, 1e-7f, -1e30f, 42};
  wire_buf b = {0};
  fm_err err;
  CHECK_OK(msg_plan_pack(&b, &p, theta, 7, &err));
  plan_t q;
  float t2[7];
  CHECK_OK(msg_plan_unpack(&q, t2, 7, b.data, b.len, &err));
  CHECK(memcmp(theta, t2, sizeof theta) == 0);
  CHECK(q.job == p.job);
  CHECK_EQ_INT(q.round, 17);
  CHECK_EQ_INT(q.stage, MSG_STAGE_TRAIN);
  CHECK(strcmp(q.rs.algo, "reptile") == 0);
  CHECK_EQ_INT(q.rs.inner_steps, 20);
  CHECK_EQ_INT(q.rs.train.opt, OPT_ADAM);
  CHECK(q.rs.train.lr == 0.003f && q.rs.train.lr_local == 0.01f);
  CHECK_EQ_INT(q.rs.train.batch, 128);
  CHECK_EQ_INT(q.rs.train.n_neg, 64);
  CHECK_EQ_INT(q.n_part, 3);
  CHECK(q.part_platform[1] == 4 && q.part_weight[1] == 0.25);
  CHECK(q.scale == 1048576.0 && q.final == 1);
  msg_plan_free(&q);
  /* wrong theta size is refused with a message */
  CHECK(msg_plan_unpack(&q, t2, 6, b.data, b.len, &err) != 0);
  CHECK(strstr(err.msg, "theta") != NULL);
  /* garbage and truncation are refused, never crash */
  CHECK(msg_plan_unpack(&q, t2, 7, b.data, b.len / 2, &err) != 0);
  uint8_t junk[64];
  for (int i = 0; i < 64; i++) junk[i] = (uint8_t)(i * 37 + 11);
  CHECK(msg_plan_unpack(&q, t2, 7, junk, sizeof junk, &err) != 0);
  wire_buf_free(&b);
}

static void test_hello_delta_eval(void) {
  wire_buf b = {0};
  fm_err err;
  hello_t h, h2;
  memset(&h, 0, sizeof h);
  h.job = 9;
  h.platform = 3;
  snprintf(h.name, sizeof h.name, "toys");
  h.heldout = 1;
  h.n_train = 12345;
  h.n_users = 10;
  h.n_items = 20;
  h.n_eval_users = 7;
  snprintf(h.error, sizeof h.error, "some error");
  CHECK_OK(msg_hello_pack(&b, &h, &err));
  CHECK_OK(msg_hello_unpack(&h2, b.data, b.len, &err));
  CHECK(memcmp(&h, &h2, sizeof h) == 0);

  uint32_t words[5] = {1, 0xffffffffu, 7, 0x80000000u, 12};
  delta_msg_t d, d2;
  memset(&d, 0, sizeof d);
  d.job = 9;
  d.round = 4;
  d.platform = 2;
  d.n_examples = 99;
  d.loss = 3.25f;
  d.norm = 0.5f;
  d.clipped = 1;
  d.seconds = 0.125;
  d.fixed = words;
  d.n_fixed = 5;
  CHECK_OK(msg_delta_pack(&b, &d, &err));
  CHECK_OK(msg_delta_unpack(&d2, b.data, b.len, &err));
  CHECK(d2.job == 9 && d2.round == 4 && d2.platform == 2 && d2.n_examples == 99);
  CHECK(d2.loss == 3.25f && d2.norm == 0.5f && d2.clipped == 1 && d2.seconds == 0.125);
  CHECK_EQ_INT(d2.n_fixed, 5);
  uint32_t acc[5] = {0};
  fixed_add_bytes(acc, d2.fixed, 5);
  CHECK(memcmp(acc, words, sizeof words) == 0);
  CHECK(d2.n_runs == 0 && d2.runs == NULL);
  msg_delta_release(&d2);

  /* a sparse delta: words 2..3 and 7..9 of a 12-word vector */
  uint32_t runs[4] = {2, 2, 7, 3};
  d.runs = runs;
  d.n_runs = 4;
  CHECK_OK(msg_delta_pack(&b, &d, &err));
  CHECK_OK(msg_delta_unpack(&d2, b.data, b.len, &err));
  CHECK_EQ_INT(d2.n_fixed, 5);
  CHECK_EQ_INT(d2.n_runs, 4);
  CHECK(memcmp(d2.runs, runs, sizeof runs) == 0);
  CHECK_OK(fixed_runs_check(d2.runs, d2.n_runs, 12, d2.n_fixed));
  uint32_t acc12[12] = {0}, dense[12], want[12] = {0, 0, 1, 0xffffffffu, 0, 0, 0, 7, 0x80000000u, 12, 0, 0};
  fixed_add_runs_bytes(acc12, d2.fixed, d2.runs, d2.n_runs);
  CHECK(memcmp(acc12, want, sizeof want) == 0);
  fixed_expand_runs(dense, 12, d2.fixed, d2.runs, d2.n_runs);
  CHECK(memcmp(dense, want, sizeof want) == 0);
  fixed_add_runs_bytes(acc12, d2.fixed, d2.runs, d2.n_runs); /* adds, mod 2^32 */
  CHECK(acc12[3] == 0xfffffffeu && acc12[8] == 0 && acc12[2] == 2 && acc12[0] == 0);
  msg_delta_release(&d2);
  /* malformed runs: rejected by the check (the coordinator counts them "unexpected") */
  CHECK(fixed_runs_check(runs, 4, 9, 5) == -1);              /* past d */
  CHECK(fixed_runs_check(runs, 4, 12, 4) == -1);             /* lengths != words */
  CHECK(fixed_runs_check(runs, 3, 12, 5) == -1);             /* odd */
  uint32_t overlap[4] = {2, 3, 4, 2}, zero[4] = {2, 0, 7, 5}, desc[4] = {7, 3, 2, 2}, huge[2] = {0xffffffffu, 2};
  CHECK(fixed_runs_check(overlap, 4, 12, 5) == -1);
  CHECK(fixed_runs_check(zero, 4, 12, 5) == -1);
  CHECK(fixed_runs_check(desc, 4, 12, 5) == -1);
  CHECK(fixed_runs_check(huge, 2, 12, 2) == -1);
  CHECK_OK(fixed_runs_check(NULL, 0, 12, 0));
  /* an odd number of run values does not decode */
  d.n_runs = 3;
  CHECK_OK(msg_delta_pack(&b, &d, &err));
  CHECK(msg_delta_unpack(&d2, b.data, b.len, &err) == -1);
  d.runs = NULL;
  d.n_runs = 0;

  eval_msg_t e, e2;
  memset(&e, 0, sizeof e);
  e.job = 9;
  e.round = 5;
  e.platform = 1;
  e.heldout = 1;
  e.model = (metrics_t){0.1, 0.2, 0.3, 0.4, 11};
  e.popularity = (metrics_t){0.05, 0.06, 0.07, 0.08, 11};
  e.local_only = (metrics_t){0.01, 0.02, 0.03, 0.04, 11};
  e.has_local_only = 1;
  CHECK_OK(msg_eval_pack(&b, &e, &err));
  CHECK_OK(msg_eval_unpack(&e2, b.data, b.len, &err));
  CHECK(memcmp(&e, &e2, sizeof e) == 0);
  wire_buf_free(&b);
}

static void test_fixed(void) {
  /* scale is a power of two and the bound leaves headroom */
  double s = fixed_scale_for_clip(10.0f);
  CHECK(s <= 1073741824.0 / 10.0 && s * 2 > 1073741824.0 / 10.0);
  CHECK_NEAR(s, 67108864.0, 0);
  /* known answers */
  float x[4] = {1.0f, -1.0f, 0.5f / 67108864.0f * 3, -2.5f};
  uint32_t q[4];
  fixed_encode(q, x, 4, s);
  CHECK(q[0] == 67108864u);
  CHECK(q[1] == (uint32_t)-67108864);
  CHECK(q[2] == 2u); /* 1.5 rounds to even: 2 */
  CHECK(q[3] == (uint32_t)-167772160);
  /* the vectorised encoder gives the scalar reference's words: ties (half to
   * even), both clamp bounds, beyond them, infinities, NaN, signed zeros,
   * subnormals, and every length mod 4 */
  {
    enum { NE = 64 };
    const float inf = 1.0f / 0.0f;
    float e[NE] = {0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 3.5f, -3.5f, 0.49999997f, -0.49999997f,
                   0.0f, -0.0f, 1e-45f, -1e-45f, 2147483520.0f, -2147483520.0f, 2147483648.0f,
                   -2147483648.0f, 2147483904.0f, -2147483904.0f, 3e9f, -3e9f, 1e30f, -1e30f, inf, -inf,
                   0.0f / 0.0f, -(0.0f / 0.0f), 8388607.5f, -8388607.5f, 8388608.5f, 16777215.0f, 1.0f, -1.0f};
    rng_t re;
    rng_seed(&re, 3, 4, 5);
    for (int i = 34; i < NE; i++) e[i] = (float)((rng_double(&re) - 0.5) * 1e4);
    const double scales[] = {1.0, 0.5, 2.0, 67108864.0, 1073741824.0, 3.0};
    for (size_t k = 0; k < sizeof scales / sizeof *scales; k++)
      for (size_t n = 0; n <= NE; n++) {
        uint32_t v[NE + 1], r[NE + 1];
        v[n] = r[n] = 0xdeadbeefu; /* nothing written past n */
        fixed_encode(v, e, n, scales[k]);
        fixed_encode_scalar(r, e, n, scales[k]);
        CHECK(memcmp(v, r, sizeof(uint32_t) * (n + 1)) == 0);
      }
    uint32_t t[8];
    fixed_encode(t, e, 8, 1.0); /* half to even */
    CHECK(t[0] == 0 && t[1] == 0 && t[2] == 2 && t[3] == (uint32_t)-2 && t[4] == 2 && t[5] == (uint32_t)-2 &&
          t[6] == 4 && t[7] == (uint32_t)-4);
    fixed_encode(t, e + 16, 8, 1.0); /* clamped to +-(2^31 - 1) */
    CHECK(t[0] == 2147483647u && t[1] == (uint32_t)-2147483647 && t[6] == 2147483647u && t[7] == (uint32_t)-2147483647);
    fixed_encode(t, e + 24, 4, 1.0); /* infinities clamp, NaN gives 0 */
    CHECK(t[0] == 2147483647u && t[1] == (uint32_t)-2147483647 && t[2] == 0 && t[3] == 0);
    /* random words at the run's scale */
    static float big[4099];
    static uint32_t bv[4099], br[4099];
    for (int i = 0; i < 4099; i++) big[i] = (float)((rng_double(&re) - 0.5) * 20.0 / (1 + (i % 7)));
    fixed_encode(bv, big, 4099, s);
    fixed_encode_scalar(br, big, 4099, s);
    CHECK(memcmp(bv, br, sizeof bv) == 0);
  }
  /* order independence and error bound: m random deltas, summed in two orders */
  enum { M = 16, N = 1000 };
  static float d[M][N];
  static uint32_t enc[M][N];
  rng_t r;
  rng_seed(&r, 7, 99, 0);
  double exact[N] = {0};
  for (int m = 0; m < M; m++)
    for (int i = 0; i < N; i++) {
      d[m][i] = (float)(rng_normal(&r) * 0.1) / M;
      exact[i] += d[m][i];
    }
  for (int m = 0; m < M; m++) fixed_encode(enc[m], d[m], N, s);
  uint32_t a1[N] = {0}, a2[N] = {0};
  for (int m = 0; m < M; m++) fixed_add(a1, enc[m], N);
  for (int m = M - 1; m >= 0; m--) fixed_add(a2, enc[(m * 7) % M], N);
  CHECK(memcmp(a1, a2, sizeof a1) == 0);
  float dec[N];
  fixed_decode(dec, a1, N, s);
  for (int i = 0; i < N; i++) CHECK_NEAR(dec[i], exact[i], M / (2 * s) + 1e-7 * fabs(exact[i]) + 1e-9);
}

static void test_checkpoint(void) {
  model_cfg_t mc = {8, 16, 64, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  size_t n = model_n_shared(&mc);
  checkpoint_t ck;
  memset(&ck, 0, sizeof ck);
  ck.round = 3;
  snprintf(ck.algo, sizeof ck.algo, "reptile");
  ck.seed = 5;
  ck.model = mc;
  ck.theta = malloc(sizeof(float) * n);
  ck.n_theta = n;
  model_shared_init(ck.theta, &mc, 5);
  ck.config = "a = 1\n";
  char path[] = "/tmp/fedmeta-test-ckpt-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  fm_err err;
  CHECK_OK(checkpoint_write(path, &ck, &err));
  checkpoint_t rd;
  CHECK_OK(checkpoint_read(&rd, path, &err));
  CHECK(rd.n_theta == n && memcmp(rd.theta, ck.theta, n * sizeof(float)) == 0);
  CHECK(rd.round == 3 && strcmp(rd.algo, "reptile") == 0 && rd.model.dim == 8);
  CHECK(strcmp(rd.config, "a = 1\n") == 0);
  checkpoint_free(&rd);
  /* truncated file refused */
  uint8_t *buf;
  size_t len;
  CHECK_OK(fm_read_file(path, &buf, &len, 1 << 30, &err));
  CHECK_OK(fm_write_atomic(path, buf, len - 9, &err));
  CHECK(checkpoint_read(&rd, path, &err) != 0);
  CHECK(strstr(err.msg, path) != NULL);
  free(buf);
  /* missing file refused with the path */
  unlink(path);
  CHECK(checkpoint_read(&rd, path, &err) != 0);
  CHECK(strstr(err.msg, "cannot open") != NULL);
  free(ck.theta);
}

int main(void) {
  test_plan();
  test_hello_delta_eval();
  test_fixed();
  test_checkpoint();
  printf("test_msg: ok\n");
  return 0;
}
