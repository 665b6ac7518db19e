/* tests/unit/test_search.c: the start search's candidates (common/search.h):
 * the grid's order and labels, every view set as documented (a flat gamma, also
 * through the smooth basis; the time kernel; the views the grid leaves alone
 * relative to beta), candidate 0 the meta-model bit for bit; parse errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/search.h"
#include "tests/check.h"

static model_cfg_t cfg(void) {
  model_cfg_t mc;
  memset(&mc, 0, sizeof mc);
  mc.dim = 4;
  mc.hidden = 4;
  mc.n_buckets = 8;
  mc.hist_len = 5;
  mc.pop_prior = 1;
  mc.no_towers = 1;
  mc.spectral = 3;
  mc.time_lags = 2;
  mc.trans = 1;
  mc.attr = 1;
  return mc;
}

#define EXPECT_FAIL(call, substr) do { fm_err _e = {{0}}; CHECK((call) == -1); \
  if (!strstr(_e.msg, substr)) { fprintf(stderr, "message '%s' lacks '%s'\n", _e.msg, substr); CHECK(0); } } while (0)

int main(void) {
  model_cfg_t mc = cfg();
  const size_t d = model_n_shared(&mc), off = search_tail_offset(&mc), nt = search_tail_len(&mc);
  model_view_t v[MODEL_N_VIEWS];
  model_views(&mc, v);
  CHECK_EQ_INT(off, v[MODEL_POP].offset);
  CHECK_EQ_INT(nt, 1 + 3 + 5 + 1 + 1); /* beta, gamma (3), tau (2 J + 1), alpha, kappa */
  float *theta = calloc(d, sizeof *theta);
  CHECK(theta);
  for (size_t j = 0; j < d; j++) theta[j] = 0.01f * (float)(j % 17) - 0.05f;
  theta[off] = 2.0f; /* beta */
  theta[v[MODEL_ATTR].offset] = 3.0f;

  fm_err e = {{0}};
  search_grid_t g;
  CHECK_OK(search_grid_parse(&g, "tau=0:1,2:0.5; kappa=-1,0.25,4", &mc, &e));
  CHECK_EQ_INT(g.n_axes, 2);
  CHECK_EQ_INT(g.n_cand, 1 + 2 * 3);
  float *cand = malloc(sizeof(float) * g.n_cand * nt);
  CHECK(cand);
  CHECK_OK(search_candidates(&g, &mc, theta, cand, &e));
  CHECK(memcmp(cand, theta + off, sizeof(float) * nt) == 0); /* candidate 0: as trained, bit for bit */
  char label[128];
  search_label(&g, 0, label, sizeof label);
  CHECK(!strcmp(label, "as trained"));
  search_label(&g, 5, label, sizeof label); /* (5 - 1) = 1 x 3 + 1: tau's second value, kappa's second */
  CHECK(!strcmp(label, "tau=2:0.5 kappa=0.25"));
  const float *c5 = cand + 5 * nt;
  CHECK_NEAR(c5[0], 1.0, 0);                                                 /* beta */
  for (int j = 0; j < 3; j++) CHECK_NEAR(c5[1 + j], theta[off + 1 + j] / 2.0f, 1e-7); /* gamma: relative to beta */
  for (int j = 0; j < 5; j++) CHECK_NEAR(c5[4 + j], 2.0 * exp(-fabs(j - 2.0) / 0.5), 1e-6); /* tau */
  CHECK_NEAR(c5[v[MODEL_ATTR].offset - off], 1.5, 1e-7);                      /* alpha: 3 / 2 */
  CHECK_NEAR(c5[v[MODEL_TRANS].offset - off], 0.25, 0);                      /* kappa */
  CHECK_NEAR(cand[1 * nt + v[MODEL_TRANS].offset - off], -1.0, 0);          /* the last axis fastest */
  CHECK_NEAR(cand[4 * nt + 4 + 2], 2.0, 1e-6);                               /* candidate 4: tau 2:0.5, its centre */
  for (int j = 0; j < 5; j++) CHECK_NEAR(cand[1 * nt + 4 + j], 0.0, 0);     /* candidate 1: tau height 0 */

  /* the default grid: gamma, tau, kappa, alpha here (no eta): 4^4 points */
  CHECK_OK(search_grid_parse(&g, "", &mc, &e));
  CHECK_EQ_INT(g.n_axes, 4);
  CHECK_EQ_INT(g.n_cand, 1 + 256);

  /* a flat gamma through the smooth basis: the constant coefficient, the others 0 */
  model_cfg_t mb = mc;
  mb.spectral_basis = 2;
  model_view_t vb[MODEL_N_VIEWS];
  model_views(&mb, vb);
  float *tb = calloc(model_n_shared(&mb), sizeof *tb);
  CHECK(tb);
  tb[search_tail_offset(&mb)] = 1.0f;
  CHECK_OK(search_grid_parse(&g, "gamma=0.5", &mb, &e));
  float *cb = malloc(sizeof(float) * g.n_cand * search_tail_len(&mb));
  CHECK(cb);
  CHECK_OK(search_candidates(&g, &mb, tb, cb, &e));
  const float *gc = cb + search_tail_len(&mb) + (vb[MODEL_SPEC].offset - search_tail_offset(&mb));
  CHECK_NEAR(gc[0], 0.5, 0);
  CHECK_NEAR(gc[1], 0.0, 0);
  float gam[3];
  float *tb1 = calloc(model_n_shared(&mb), sizeof *tb1);
  CHECK(tb1);
  memcpy(tb1 + search_tail_offset(&mb), cb + search_tail_len(&mb), sizeof(float) * search_tail_len(&mb));
  CHECK_OK(model_gamma(&mb, tb1, gam));
  for (int j = 0; j < 3; j++) CHECK_NEAR(gam[j], 0.5, 1e-6);

  /* errors */
  EXPECT_FAIL(search_grid_parse(&g, "eta=0,1", &mc, &_e), "the model has no eta");
  EXPECT_FAIL(search_grid_parse(&g, "kappa=0 kappa=1", &mc, &_e), "kappa given twice");
  EXPECT_FAIL(search_grid_parse(&g, "kappa=0,,1", &mc, &_e), "is not a number");
  EXPECT_FAIL(search_grid_parse(&g, "tau=1", &mc, &_e), "expected HEIGHT:WIDTH");
  EXPECT_FAIL(search_grid_parse(&g, "tau=1:0", &mc, &_e), "the width > 0");
  EXPECT_FAIL(search_grid_parse(&g, "kappa", &mc, &_e), "expected NAME=V");
  EXPECT_FAIL(search_grid_parse(&g, "beta=1", &mc, &_e), "not a term weight");
  EXPECT_FAIL(search_grid_parse(&g, "kappa=0,1,2,3,4,5,6,7 alpha=0,1,2,3,4,5,6,7 gamma=0,1,2,3,4,5,6,7 tau=0:1,1:1,2:1,3:1,4:1,5:1,6:1,7:1", &mc, &_e), "at most");
  model_cfg_t mt = mc;
  mt.no_towers = 0;
  EXPECT_FAIL(search_grid_parse(&g, "", &mt, &_e), "--towers off");
  theta[off] = 0.0f;
  EXPECT_FAIL(search_candidates(&g, &mc, theta, cand, &_e), "not > 0");
  uint32_t ks[SEARCH_MAX_K], nk;
  CHECK_OK(search_ks_parse("1,5,10", ks, &nk, &e));
  CHECK_EQ_INT(nk, 3);
  CHECK_EQ_INT(ks[2], 10);
  CHECK_OK(search_ks_parse("", ks, &nk, &e));
  CHECK_EQ_INT(nk, 0);
  EXPECT_FAIL(search_ks_parse("1,", ks, &nk, &_e), "expected K values");
  EXPECT_FAIL(search_ks_parse("0", ks, &nk, &_e), "expected K values");
  EXPECT_FAIL(search_ks_parse("5,5", ks, &nk, &_e), "given twice");
  EXPECT_FAIL(search_ks_parse("1,2,3,4,5,6,7,8,9", ks, &nk, &_e), "at most");
  free(theta);
  free(cand);
  free(tb);
  free(tb1);
  free(cb);
  printf("test_search: ok\n");
  return 0;
}
