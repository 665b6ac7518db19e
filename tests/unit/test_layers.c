/* tests/unit/test_layers.c: finite-difference gradient checks of every layer
 * in common/layers.h, plus known answers for the sampled softmax.
 *
 * Each check builds a scalar objective (a fixed random weighting of the
 * layer's output, summed in double, or the softmax loss itself), perturbs one
 * input at a time by +-h and compares the central difference with the
 * analytic backward. To show the check has teeth, the same comparison must
 * FAIL on the analytic gradient scaled by 1.01 and with its largest entry
 * zeroed. The softmax over distinct columns must equal the plain one on the
 * expanded batch. The optimisers (optim.h) are checked against the scalar formulas,
 * bit for bit, over lengths that exercise both the SIMD body and the tail. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/layers.h"
#include "common/optim.h"
#include "common/rng.h"
#include "tests/check.h"

#define RTOL 2e-3

static rng_t g_rng;

static void fill(float *x, size_t n, double lo, double hi) {
  for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * rng_double(&g_rng));
}

/* Number of coordinates where analytic and numeric differ by more than
 * RTOL relative (with a floor of 1e-4 of the largest numeric entry). */
static size_t mismatches(const float *ana, const double *num, size_t n, int verbose,
                         const char *what) {
  double big = 0;
  for (size_t i = 0; i < n; i++) big = fmax(big, fabs(num[i]));
  double atol = 1e-4 * big + 1e-7;
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    double a = ana[i], u = num[i];
    if (!(fabs(a - u) <= atol + RTOL * fmax(fabs(a), fabs(u)))) {
      if (verbose)
        fprintf(stderr, "  %s[%zu]: analytic %.8g numeric %.8g\n", what, i, a, u);
      bad++;
    }
  }
  return bad;
}

/* The largest error as a fraction of the tolerance (< 1 passes). */
static double worst_ratio(const float *ana, const double *num, size_t n) {
  double big = 0, w = 0;
  for (size_t i = 0; i < n; i++) big = fmax(big, fabs(num[i]));
  for (size_t i = 0; i < n; i++) {
    double a = ana[i], u = num[i];
    w = fmax(w, fabs(a - u) / (1e-4 * big + 1e-7 + RTOL * fmax(fabs(a), fabs(u))));
  }
  return w;
}

/* Asserts agreement, a non-trivial gradient, and that plausible bugs (a 1%
 * scale error, a dropped entry) would be caught. */
static void expect_grad(const char *what, const float *ana, const double *num, size_t n) {
  size_t bad = mismatches(ana, num, n, 1, what);
  if (bad) fprintf(stderr, "%s: %zu of %zu coordinates disagree\n", what, bad, n);
  CHECK(bad == 0);
  double big = 0;
  size_t arg = 0;
  for (size_t i = 0; i < n; i++)
    if (fabs(num[i]) > big) big = fabs(num[i]), arg = i;
  CHECK(big > 1e-3);
  float *wrong = malloc(n * sizeof *wrong);
  for (size_t i = 0; i < n; i++) wrong[i] = 1.01f * ana[i];
  CHECK(mismatches(wrong, num, n, 0, what) > 0);
  memcpy(wrong, ana, n * sizeof *wrong);
  wrong[arg] = 0.0f;
  CHECK(mismatches(wrong, num, n, 0, what) > 0);
  free(wrong);
  printf("  %-14s %4zu coordinates ok (max |g| %.3g, worst error %.3f of tolerance)\n", what,
         n, big, worst_ratio(ana, num, n));
}

/* Central differences of f with respect to x[0..n), dividing by the step
 * actually taken in float. */
typedef double (*objective_fn)(void *ctx);
static void numeric_grad(double *out, float *x, size_t n, double h, objective_fn f, void *ctx) {
  for (size_t i = 0; i < n; i++) {
    float save = x[i];
    float xp = (float)(save + h), xm = (float)(save - h);
    x[i] = xp;
    double fp = f(ctx);
    x[i] = xm;
    double fm = f(ctx);
    x[i] = save;
    out[i] = (fp - fm) / ((double)xp - (double)xm);
  }
}

static double weighted_sum(const float *y, const float *r, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)y[i] * r[i];
  return s;
}

/* --- linear --------------------------------------------------------------------- */

enum { LB = 3, LIN = 5, LOUT = 4 };
typedef struct {
  float in[LB * LIN], w[LOUT * LIN], b[LOUT], out[LB * LOUT], r[LB * LOUT];
} lin_ctx;

static double lin_obj(void *p) {
  lin_ctx *c = p;
  layer_linear_forward(c->out, c->in, c->w, c->b, LB, LIN, LOUT);
  return weighted_sum(c->out, c->r, LB * LOUT);
}

static void test_linear(void) {
  lin_ctx c;
  fill(c.in, LB * LIN, -1, 1);
  fill(c.w, LOUT * LIN, -1, 1);
  fill(c.b, LOUT, -1, 1);
  fill(c.r, LB * LOUT, -1, 1);
  /* known answer for one output */
  lin_obj(&c);
  double y = c.b[2];
  for (int k = 0; k < LIN; k++) y += (double)c.in[1 * LIN + k] * c.w[2 * LIN + k];
  CHECK_NEAR(c.out[1 * LOUT + 2], y, 1e-5);

  float din[LB * LIN] = {0}, dw[LOUT * LIN] = {0}, db[LOUT] = {0};
  layer_linear_backward(din, dw, db, c.r, c.in, c.w, LB, LIN, LOUT);
  double num[LOUT * LIN];
  numeric_grad(num, c.in, LB * LIN, 1e-2, lin_obj, &c);
  expect_grad("linear d_in", din, num, LB * LIN);
  numeric_grad(num, c.w, LOUT * LIN, 1e-2, lin_obj, &c);
  expect_grad("linear d_w", dw, num, LOUT * LIN);
  numeric_grad(num, c.b, LOUT, 1e-2, lin_obj, &c);
  expect_grad("linear d_b", db, num, LOUT);

  /* backward accumulates: a second call doubles every gradient */
  float dw2[LOUT * LIN];
  memcpy(dw2, dw, sizeof dw);
  layer_linear_backward(NULL, dw2, NULL, c.r, c.in, c.w, LB, LIN, LOUT);
  for (int i = 0; i < LOUT * LIN; i++) CHECK_NEAR(dw2[i], 2.0 * dw[i], 1e-5);
}

/* --- relu --------------------------------------------------------------------------- */

enum { RN = 16 };
typedef struct { float in[RN], out[RN], r[RN]; } relu_ctx;

static double relu_obj(void *p) {
  relu_ctx *c = p;
  layer_relu_forward(c->out, c->in, RN);
  return weighted_sum(c->out, c->r, RN);
}

static void test_relu(void) {
  relu_ctx c;
  /* away from the kink: |x| >= 0.1 and h = 1e-3 */
  for (int i = 0; i < RN; i++) {
    float m = (float)(0.1 + rng_double(&g_rng));
    c.in[i] = (i % 3 == 0) ? -m : m;
  }
  fill(c.r, RN, -1, 1);
  relu_obj(&c);
  for (int i = 0; i < RN; i++) CHECK(c.out[i] == (c.in[i] > 0 ? c.in[i] : 0.0f));
  float d[RN];
  memcpy(d, c.r, sizeof d);
  layer_relu_backward(d, c.out, RN);
  double num[RN];
  numeric_grad(num, c.in, RN, 1e-3, relu_obj, &c);
  expect_grad("relu", d, num, RN);
  /* the SIMD body and the scalar tail agree on the edge cases -0 and NaN */
  {
    float e[7] = {-0.0f, NAN, 2.0f, -3.0f, -0.0f, NAN, 0.5f}, o[7], dd[7];
    layer_relu_forward(o, e, 7);
    for (int i = 0; i < 7; i++) {
      float want = e[i] > 0.0f ? e[i] : 0.0f;
      CHECK(memcmp(&o[i], &want, sizeof want) == 0);
      dd[i] = -1.5f;
    }
    layer_relu_backward(dd, e, 7);
    for (int i = 0; i < 7; i++) {
      float want = e[i] > 0.0f ? -1.5f : 0.0f; /* +0, bit for bit */
      CHECK(memcmp(&dd[i], &want, sizeof want) == 0);
    }
    float y[11], y2[11], x[11];
    fill(y, 11, -1, 1);
    fill(x, 11, -1, 1);
    memcpy(y2, y, sizeof y);
    layer_axpy_row(y, 0.37f, x, 11);
    for (int i = 0; i < 11; i++) CHECK(y[i] == y2[i] + 0.37f * x[i]);
  }
  /* in place forward */
  float x[RN];
  memcpy(x, c.in, sizeof x);
  layer_relu_forward(x, x, RN);
  CHECK(memcmp(x, c.out, sizeof x) == 0);
}

/* --- embedding bag ------------------------------------------------------------------ */

enum { BH = 7, BD = 4, BN = 5, BLDO = 7, BENT = 5 };
typedef struct {
  float E[BH * BD], out[BN * BLDO], r[BN * BLDO];
  uint32_t ptr[BENT + 1], tok[16], ids[BN];
} bag_ctx;

static double bag_obj(void *p) {
  bag_ctx *c = p;
  memset(c->out, 0, sizeof c->out);
  layer_bag_forward(c->out + 1, BLDO, c->E, BH, BD, c->ptr, c->tok, c->ids, BN);
  return weighted_sum(c->out, c->r, BN * BLDO);
}

static void test_bag(void) {
  bag_ctx c;
  /* entity 0: tokens 3, 10 (10 % 7 = 3: a collision, row 3 counts twice);
   * entity 1: none; entity 2: 100, 5; entity 3: 8; entity 4: 2, 9, 16 */
  const uint32_t ptr[BENT + 1] = {0, 2, 2, 4, 5, 8};
  const uint32_t tok[8] = {3, 10, 100, 5, 8, 2, 9, 16};
  const uint32_t ids[BN] = {0, 1, 2, 0, 4}; /* entity 0 twice, entity 3 never */
  memcpy(c.ptr, ptr, sizeof ptr);
  memcpy(c.tok, tok, sizeof tok);
  memcpy(c.ids, ids, sizeof ids);
  fill(c.E, BH * BD, -1, 1);
  fill(c.r, BN * BLDO, -1, 1);
  bag_obj(&c);
  /* known answers: entity 0 is E[3] (twice / 2); entity 1 is zero; columns
   * outside the block stay zero */
  for (int d = 0; d < BD; d++) {
    CHECK_NEAR(c.out[0 * BLDO + 1 + d], c.E[3 * BD + d], 1e-6);
    CHECK(c.out[1 * BLDO + 1 + d] == 0.0f);
    double m = ((double)c.E[2 * BD + d] + c.E[(9 % BH) * BD + d] + c.E[(16 % BH) * BD + d]) / 3;
    CHECK_NEAR(c.out[4 * BLDO + 1 + d], m, 1e-6);
  }
  for (int r = 0; r < BN; r++) {
    CHECK(c.out[r * BLDO] == 0.0f);
    CHECK(c.out[r * BLDO + 5] == 0.0f && c.out[r * BLDO + 6] == 0.0f);
  }
  float dE[BH * BD] = {0};
  layer_rowset_t t;
  CHECK_OK(layer_rowset_init(&t, BH, NULL));
  layer_bag_backward(dE, &t, c.r + 1, BLDO, BH, BD, c.ptr, c.tok, c.ids, BN);
  double num[BH * BD];
  numeric_grad(num, c.E, BH * BD, 1e-2, bag_obj, &c);
  expect_grad("bag d_E", dE, num, BH * BD);
  /* touched rows: 3 (0), 2 (100 % 7), 5, 2, 9 % 7 = 2, 16 % 7 = 2 -> {3, 2, 5}
   * in first-touch order; row 1 (entity 3's token 8) is not touched */
  CHECK_EQ_INT(t.n, 3);
  CHECK_EQ_INT(t.rows[0], 3);
  CHECK_EQ_INT(t.rows[1], 2);
  CHECK_EQ_INT(t.rows[2], 5);
  for (int h = 0; h < BH; h++)
    if (!t.mark[h])
      for (int d = 0; d < BD; d++) CHECK(dE[h * BD + d] == 0.0f);
  layer_rowset_clear(&t);
  CHECK_EQ_INT(t.n, 0);
  for (int h = 0; h < BH; h++) CHECK_EQ_INT(t.mark[h], 0);
  layer_rowset_free(&t);
  layer_rowset_free(&t); /* twice: must be harmless */
  layer_rowset_free(NULL);
}

/* --- gather ------------------------------------------------------------------------- */

enum { GR = 6, GD = 3, GN = 5, GLDO = 4 };
typedef struct { float T[GR * GD], out[GN * GLDO], r[GN * GLDO]; uint32_t ids[GN]; } gat_ctx;

static double gat_obj(void *p) {
  gat_ctx *c = p;
  memset(c->out, 0, sizeof c->out);
  layer_gather_forward(c->out, GLDO, c->T, GD, c->ids, GN);
  return weighted_sum(c->out, c->r, GN * GLDO);
}

static void test_gather(void) {
  gat_ctx c;
  const uint32_t ids[GN] = {4, 0, 4, 5, 2};
  memcpy(c.ids, ids, sizeof ids);
  fill(c.T, GR * GD, -1, 1);
  fill(c.r, GN * GLDO, -1, 1);
  gat_obj(&c);
  for (int d = 0; d < GD; d++) CHECK(c.out[2 * GLDO + d] == c.T[4 * GD + d]);
  float dT[GR * GD] = {0};
  layer_rowset_t t;
  CHECK_OK(layer_rowset_init(&t, GR, NULL));
  layer_gather_backward(dT, &t, c.r, GLDO, GD, c.ids, GN);
  double num[GR * GD];
  numeric_grad(num, c.T, GR * GD, 1e-2, gat_obj, &c);
  expect_grad("gather d_T", dT, num, GR * GD);
  CHECK_EQ_INT(t.n, 4);
  CHECK(t.mark[4] && t.mark[0] && t.mark[5] && t.mark[2] && !t.mark[1] && !t.mark[3]);
  layer_rowset_free(&t);
}

/* --- mean pool ---------------------------------------------------------------------- */

enum { PR = 5, PD = 3, PN = 3, PK = 3, PLDO = 5 };
typedef struct {
  float X[PR * PD], out[PN * PLDO], r[PN * PLDO];
  uint32_t idx[PN * PK], cnt[PN];
} pool_ctx;

static double pool_obj(void *p) {
  pool_ctx *c = p;
  memset(c->out, 0, sizeof c->out);
  layer_pool_forward(c->out + 2, PLDO, c->X, PD, c->idx, c->cnt, PN, PK);
  return weighted_sum(c->out, c->r, PN * PLDO);
}

static void test_pool(void) {
  pool_ctx c;
  const uint32_t idx[PN * PK] = {1, 3, 99, 99, 99, 99, 0, 0, 4}; /* 99: unused slots */
  const uint32_t cnt[PN] = {2, 0, 3};
  memcpy(c.idx, idx, sizeof idx);
  memcpy(c.cnt, cnt, sizeof cnt);
  fill(c.X, PR * PD, -1, 1);
  fill(c.r, PN * PLDO, -1, 1);
  pool_obj(&c);
  for (int d = 0; d < PD; d++) {
    CHECK_NEAR(c.out[0 * PLDO + 2 + d], ((double)c.X[1 * PD + d] + c.X[3 * PD + d]) / 2, 1e-6);
    CHECK(c.out[1 * PLDO + 2 + d] == 0.0f);
  }
  float dX[PR * PD] = {0};
  layer_pool_backward(dX, c.r + 2, PLDO, PD, c.idx, c.cnt, PN, PK);
  double num[PR * PD];
  numeric_grad(num, c.X, PR * PD, 1e-2, pool_obj, &c);
  expect_grad("pool d_X", dX, num, PR * PD);
  for (int d = 0; d < PD; d++) CHECK(dX[2 * PD + d] == 0.0f); /* row 2 never pooled */
}

/* --- sampled softmax ---------------------------------------------------------------- */

enum { SB = 4, SN = 6, SD = 5 };
typedef struct {
  float U[SB * SD], Vp[SB * SD], Vn[SN * SD], ppos[SB], pneg[SB * SN];
  uint32_t pos[SB], neg[SN];
} ssm_ctx;

static double ssm_obj(void *p) {
  ssm_ctx *c = p;
  return layer_ssm_forward(c->ppos, c->pneg, c->U, c->Vp, c->Vn, c->pos, c->neg, SB, SN, SD);
}

/* The loss straight from the definition, in double. */
static double ssm_reference(const ssm_ctx *c) {
  double loss = 0;
  for (int b = 0; b < SB; b++) {
    double sp = 0, sum;
    for (int d = 0; d < SD; d++) sp += (double)c->U[b * SD + d] * c->Vp[b * SD + d];
    sum = exp(sp);
    for (int n = 0; n < SN; n++) {
      if (c->neg[n] == c->pos[b]) continue;
      double s = 0;
      for (int d = 0; d < SD; d++) s += (double)c->U[b * SD + d] * c->Vn[n * SD + d];
      sum += exp(s);
    }
    loss += log(sum) - sp;
  }
  return loss / SB;
}

static void test_ssm(void) {
  ssm_ctx c;
  const uint32_t pos[SB] = {10, 11, 12, 11};
  const uint32_t neg[SN] = {20, 21, 11, 22, 23, 24}; /* 11: accidental hit for rows 1, 3 */
  memcpy(c.pos, pos, sizeof pos);
  memcpy(c.neg, neg, sizeof neg);
  fill(c.U, SB * SD, -1, 1);
  fill(c.Vp, SB * SD, -1, 1);
  fill(c.Vn, SN * SD, -1, 1);
  double loss = ssm_obj(&c);
  CHECK_NEAR(loss, ssm_reference(&c), 1e-6);
  /* masked entries have probability 0; each row sums to 1 */
  CHECK(c.pneg[1 * SN + 2] == 0.0f && c.pneg[3 * SN + 2] == 0.0f && c.pneg[0 * SN + 2] > 0.0f);
  for (int b = 0; b < SB; b++) {
    double s = c.ppos[b];
    for (int n = 0; n < SN; n++) s += c.pneg[b * SN + n];
    CHECK_NEAR(s, 1.0, 1e-6);
  }
  float dU[SB * SD] = {0}, dVp[SB * SD] = {0}, dVn[SN * SD] = {0};
  float dS[SB * SN];
  memcpy(dS, c.pneg, sizeof dS);
  layer_ssm_backward(dU, dVp, dVn, dS, c.ppos, c.U, c.Vp, c.Vn, SB, SN, SD);
  double num[SN * SD];
  numeric_grad(num, c.U, SB * SD, 1e-3, ssm_obj, &c);
  expect_grad("ssm d_U", dU, num, SB * SD);
  numeric_grad(num, c.Vp, SB * SD, 1e-3, ssm_obj, &c);
  expect_grad("ssm d_Vpos", dVp, num, SB * SD);
  numeric_grad(num, c.Vn, SN * SD, 1e-3, ssm_obj, &c);
  expect_grad("ssm d_Vneg", dVn, num, SN * SD);

  /* The masked negative only reaches the rows where it is not the positive:
   * its gradient must equal the one with rows 1 and 3 left out. */
  {
    float dVn_rows[SN * SD] = {0}, dS2[SB * SN];
    ssm_obj(&c);
    memcpy(dS2, c.pneg, sizeof dS2);
    for (int b = 0; b < SB; b++)
      if (b == 1 || b == 3)
        for (int n = 0; n < SN; n++) dS2[b * SN + n] = 0.0f;
    layer_ssm_backward(NULL, NULL, dVn_rows, dS2, c.ppos, c.U, c.Vp, c.Vn, SB, SN, SD);
    for (int d = 0; d < SD; d++) CHECK_NEAR(dVn_rows[2 * SD + d], dVn[2 * SD + d], 1e-7);
  }

  /* Stability: logits in the hundreds give a finite loss equal to the reference. */
  for (int i = 0; i < SB * SD; i++) c.U[i] *= 60.0f;
  loss = ssm_obj(&c);
  CHECK(isfinite(loss));
  double ref = ssm_reference(&c);
  if (isfinite(ref)) CHECK_NEAR(loss, ref, 1e-4 * fmax(1.0, fabs(ref)));
  for (int b = 0; b < SB; b++) CHECK(isfinite(c.ppos[b]));

  /* Every negative is the positive: the row's loss is 0 and its gradient too. */
  {
    float U1[SD], V1[SD], pp, pn[2];
    const uint32_t p1 = 7, n1[2] = {7, 7};
    fill(U1, SD, -1, 1);
    fill(V1, SD, -1, 1);
    CHECK_NEAR(layer_ssm_forward(&pp, pn, U1, V1, V1, &p1, n1, 1, 2, SD), 0.0, 1e-7);
    CHECK_NEAR(pp, 1.0, 1e-7);
  }
}

/* --- sampled softmax over distinct columns ---------------------------------------- */

/* Columns: the drawn negatives first, 0 = item 20 (drawn 3 times), 1 = item 11
 * (once), 2 = item 21 (once), 3 = item 22 (twice), then the items that are only
 * positives, 4 = item 10, 5 = item 12. Positives {10, 11, 12, 11}: rows 1 and 3
 * draw their own positive once (masked). */
enum { CB = 4, CC = 6, CCN = 4, CD = 5, CN = 7 };
typedef struct {
  float U[CB * CD], V[CC * CD], ppos[CB], P[CB * CC];
  uint32_t cpos[CB];
  float cnt[CC];
} ssmc_ctx;
static const uint32_t CCOL_ITEM[CC] = {20, 11, 21, 22, 10, 12};
static const uint32_t CNEG_COL[CN] = {0, 1, 2, 0, 3, 0, 3}; /* the negatives' columns, in draw order */

static double ssmc_obj(void *p) {
  ssmc_ctx *c = p;
  return layer_ssmc_forward(c->ppos, c->P, c->U, c->V, c->cpos, c->cnt, CB, CC, CCN, CD);
}

/* The same loss through layer_ssm_forward on the expanded batch. */
static double ssmc_expanded(const ssmc_ctx *c, float *ppos, float *pneg) {
  float Vp[CB * CD], Vn[CN * CD];
  uint32_t pos[CB], neg[CN];
  for (int b = 0; b < CB; b++) {
    memcpy(Vp + b * CD, c->V + c->cpos[b] * CD, CD * sizeof(float));
    pos[b] = CCOL_ITEM[c->cpos[b]];
  }
  for (int n = 0; n < CN; n++) {
    memcpy(Vn + n * CD, c->V + CNEG_COL[n] * CD, CD * sizeof(float));
    neg[n] = CCOL_ITEM[CNEG_COL[n]];
  }
  return layer_ssm_forward(ppos, pneg, c->U, Vp, Vn, pos, neg, CB, CN, CD);
}

static void test_ssmc(void) {
  ssmc_ctx c;
  const uint32_t cpos[CB] = {4, 1, 5, 1};
  memcpy(c.cpos, cpos, sizeof cpos);
  memset(c.cnt, 0, sizeof c.cnt);
  for (int n = 0; n < CN; n++) c.cnt[CNEG_COL[n]] += 1.0f;
  fill(c.U, CB * CD, -1, 1);
  fill(c.V, CC * CD, -1, 1);
  float ppos2[CB], pneg2[CB * CN];
  double loss = ssmc_obj(&c), ref = ssmc_expanded(&c, ppos2, pneg2);
  CHECK_NEAR(loss, ref, 1e-6);
  for (int b = 0; b < CB; b++) {
    CHECK_NEAR(c.ppos[b], ppos2[b], 1e-6);
    /* column probabilities are the sums over their copies; 0 at the positive
     * (rows 1 and 3: the drawn 11 is masked) and where never drawn */
    for (int j = 0; j < CC; j++) {
      double sum = 0;
      for (int n = 0; n < CN; n++)
        if (CNEG_COL[n] == (uint32_t)j) sum += pneg2[b * CN + n];
      CHECK_NEAR(c.P[b * CC + j], sum, 1e-6);
    }
    CHECK(c.P[b * CC + c.cpos[b]] == 0.0f);
    CHECK(c.P[b * CC + 4] == 0.0f && c.P[b * CC + 5] == 0.0f);
  }
  CHECK(c.P[0 * CC + 1] > 0.0f); /* row 0: 11 is a negative like any other */

  float dU[CB * CD] = {0}, dV[CC * CD] = {0}, G[CB * CC];
  memcpy(G, c.P, sizeof G);
  layer_ssmc_backward(dU, dV, G, c.ppos, c.cpos, c.U, c.V, CB, CC, CD);
  double num[CC * CD];
  numeric_grad(num, c.U, CB * CD, 1e-3, ssmc_obj, &c);
  expect_grad("ssmc d_U", dU, num, CB * CD);
  numeric_grad(num, c.V, CC * CD, 1e-3, ssmc_obj, &c);
  expect_grad("ssmc d_V", dV, num, CC * CD);

  /* A column that is neither drawn nor a positive (column 5 once row 2's
   * positive is item 20) changes nothing, even with a logit far above the
   * others. */
  float save[CD];
  memcpy(save, c.V + 5 * CD, sizeof save);
  c.cpos[2] = 0;
  double before = ssmc_obj(&c);
  for (int d = 0; d < CD; d++) c.V[5 * CD + d] = 200.0f * c.U[0 * CD + d];
  double after = ssmc_obj(&c);
  CHECK(isfinite(after));
  CHECK(after == before);
  memcpy(c.V + 5 * CD, save, sizeof save);

  /* Stability: logits in the hundreds give a finite loss equal to the expanded one. */
  c.cpos[2] = 5;
  for (int i = 0; i < CB * CD; i++) c.U[i] *= 60.0f;
  loss = ssmc_obj(&c);
  ref = ssmc_expanded(&c, ppos2, pneg2);
  CHECK(isfinite(loss));
  CHECK_NEAR(loss, ref, 1e-5 * fmax(1.0, fabs(ref)));
}

/* --- optimisers ---------------------------------------------------------------------- */

/* PyTorch's Adam for one element, plain scalar float code. */
static void adam_scalar(float *w, float *m, float *v, float g, float lr, float b1, float b2,
                        float eps, uint64_t t) {
  float step = (float)((double)lr / (1.0 - pow(b1, (double)t)));
  float ibc2 = (float)(1.0 / sqrt(1.0 - pow(b2, (double)t)));
  *m = b1 * *m + (1.0f - b1) * g;
  *v = b2 * *v + (1.0f - b2) * g * g;
  *w -= step * *m / (sqrtf(*v) * ibc2 + eps);
}

static void test_optim(void) {
  enum { ON = 11, OR = 5, OD = 7 };
  float w[ON], m[ON] = {0}, v[ON] = {0}, g[ON], w2[ON], m2[ON] = {0}, v2[ON] = {0};
  fill(w, ON, -1, 1);
  memcpy(w2, w, sizeof w);
  optim_adam_t a;
  for (uint64_t t = 1; t <= 3; t++) {
    fill(g, ON, -1, 1);
    optim_adam_prepare(&a, 0.01f, 0.9f, 0.999f, 1e-8f, t);
    optim_adam(w, m, v, g, ON, &a);
    for (int i = 0; i < ON; i++) adam_scalar(&w2[i], &m2[i], &v2[i], g[i], 0.01f, 0.9f, 0.999f,
                                              1e-8f, t);
    CHECK(memcmp(w, w2, sizeof w) == 0 && memcmp(m, m2, sizeof m) == 0 &&
          memcmp(v, v2, sizeof v) == 0);
  }

  /* SGD, dense */
  fill(g, ON, -1, 1);
  memcpy(w2, w, sizeof w);
  optim_sgd(w, g, ON, 0.3f);
  for (int i = 0; i < ON; i++) CHECK(w[i] == w2[i] - 0.3f * g[i]);

  /* row variants: only listed rows change, with l2, and their gradient is zeroed */
  float W[OR * OD], G[OR * OD], W0[OR * OD], M[OR * OD] = {0}, V[OR * OD] = {0};
  const uint32_t rows[2] = {3, 1};
  for (int opt = 0; opt < 2; opt++) {
    fill(W, OR * OD, -1, 1);
    fill(G, OR * OD, -1, 1);
    memcpy(W0, W, sizeof W);
    float G0[OR * OD];
    memcpy(G0, G, sizeof G);
    if (opt == 0) {
      optim_sgd_rows(W, G, rows, 2, OD, 0.5f, 0.1f);
    } else {
      optim_adam_prepare(&a, 0.01f, 0.9f, 0.999f, 1e-8f, 1);
      optim_adam_rows(W, M, V, G, rows, 2, OD, 0.1f, &a);
    }
    for (int r = 0; r < OR; r++)
      for (int d = 0; d < OD; d++) {
        int i = r * OD + d;
        if (r == 1 || r == 3) {
          CHECK(G[i] == 0.0f);
          float ge = G0[i] + 0.1f * W0[i];
          if (opt == 0) {
            CHECK(W[i] == W0[i] - 0.5f * ge);
          } else {
            float w1 = W0[i], m1 = 0, v1 = 0;
            adam_scalar(&w1, &m1, &v1, ge, 0.01f, 0.9f, 0.999f, 1e-8f, 1);
            CHECK(W[i] == w1 && M[i] == m1 && V[i] == v1);
          }
        } else {
          CHECK(W[i] == W0[i] && G[i] == G0[i]);
          if (opt == 1) CHECK(M[i] == 0.0f && V[i] == 0.0f);
        }
      }
  }
  printf("  optimisers     SGD, Adam, row variants bit-identical to the scalar formulas\n");
}

int main(void) {
  rng_seed(&g_rng, 12345, 99, 0);
  printf("test_layers\n");
  test_linear();
  test_relu();
  test_bag();
  test_gather();
  test_pool();
  test_ssm();
  test_ssmc();
  test_optim();
  printf("test_layers: all checks passed\n");
  return 0;
}
