/* tests/unit/test_dp.c: clipping, the noise generators (reproducible test
 * mode, Gaussian moments, discrete Gaussian pmf against the exact one, the
 * distributed sum's variance) and the RDP accountant against independent
 * references: q = 1 (RDP = alpha / (2 z^2) exactly), TF Privacy's published
 * values, and mpmath computations (exact binomial sums / numerical integration,
 * 50 digits; the script is quoted in docs/PROTOCOL-crypto-draft.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/dp.h"
#include "tests/check.h"

static void test_clip(void) {
  float x[4] = {3, 4, 0, 0};
  double n = dp_clip_l2(x, 4, 1.0);
  CHECK_NEAR(n, 5.0, 1e-12);
  double s = sqrt((double)x[0] * x[0] + (double)x[1] * x[1]);
  CHECK(s <= 1.0);
  CHECK_NEAR(s, 1.0, 1e-6);
  CHECK_NEAR(x[0] / x[1], 0.75, 1e-6);
  float y[3] = {0.1f, -0.2f, 0.3f};
  float y0[3];
  memcpy(y0, y, sizeof y);
  CHECK_NEAR(dp_clip_l2(y, 3, 1.0), sqrt(0.14), 1e-7);
  CHECK(memcmp(y, y0, sizeof y) == 0); /* below the bound: untouched */
  float z[2] = {NAN, 1};
  CHECK(!isfinite(dp_clip_l2(z, 2, 1.0)));
  CHECK(z[0] == 0 && z[1] == 0);
  /* many coordinates: never above the bound after float rounding */
  enum { D = 100000 };
  float *v = malloc(D * sizeof *v);
  for (int i = 0; i < D; i++) v[i] = (float)sin(i * 0.37) * 3.3f;
  dp_clip_l2(v, D, 0.7);
  double ss = 0;
  for (int i = 0; i < D; i++) ss += (double)v[i] * v[i];
  CHECK(sqrt(ss) <= 0.7);
  CHECK_NEAR(sqrt(ss), 0.7, 1e-6);
  free(v);
}

static void test_rng(void) {
  fm_err err;
  dp_rng_t a, b, c, s1, s2;
  CHECK_OK(dp_rng_init_seeded(&a, 42, 1, &err));
  CHECK_OK(dp_rng_init_seeded(&b, 42, 1, &err));
  CHECK_OK(dp_rng_init_seeded(&c, 42, 2, &err));
  CHECK(a.secure == 0);
  int same_c = 0;
  for (int i = 0; i < 1000; i++) {
    uint64_t x = dp_rng_u64(&a), y = dp_rng_u64(&b), z = dp_rng_u64(&c);
    CHECK(x == y); /* test mode is reproducible */
    same_c += x == z;
  }
  CHECK_EQ_INT(same_c, 0);
  CHECK_OK(dp_rng_init_secure(&s1, &err));
  CHECK_OK(dp_rng_init_secure(&s2, &err));
  CHECK(s1.secure == 1);
  CHECK(dp_rng_u64(&s1) != dp_rng_u64(&s2));
  double m = 0, lo = 1, hi = 0;
  for (int i = 0; i < 100000; i++) {
    double u = dp_rng_uniform(&s1);
    m += u;
    lo = fmin(lo, u);
    hi = fmax(hi, u);
  }
  CHECK(lo > 0 && hi < 1);
  CHECK_NEAR(m / 100000, 0.5, 5 * sqrt(1.0 / 12 / 100000));
  dp_rng_free(&a);
  dp_rng_free(&b);
  dp_rng_free(&c);
  dp_rng_free(&s1);
  dp_rng_free(&s2);
  dp_rng_free(&s2);
  dp_rng_free(NULL);
}

static void test_gauss(void) {
  fm_err err;
  dp_rng_t r;
  CHECK_OK(dp_rng_init_seeded(&r, 7, 0, &err));
  enum { N = 400000 };
  float *x = calloc(N, sizeof *x);
  dp_gauss_add(x, N, 2.0, &r);
  double m = 0, v = 0, k4 = 0;
  for (int i = 0; i < N; i++) m += x[i];
  m /= N;
  for (int i = 0; i < N; i++) {
    double d = x[i] - m;
    v += d * d;
    k4 += d * d * d * d;
  }
  v /= N;
  k4 /= N;
  CHECK_NEAR(m, 0.0, 5 * 2.0 / sqrt(N));
  CHECK_NEAR(v, 4.0, 4.0 * 5 * sqrt(2.0 / N));
  CHECK_NEAR(k4 / (v * v), 3.0, 0.05); /* Gaussian kurtosis */
  free(x);
  dp_rng_free(&r);
}

/* pmf of the discrete Gaussian against exp(-k^2 / (2 sigma^2)) / Z */
static void test_dgauss_pmf(double sigma, uint64_t seed) {
  fm_err err;
  dp_rng_t r;
  CHECK_OK(dp_rng_init_seeded(&r, seed, 0, &err));
  enum { N = 300000, K = 24 };
  double cnt[2 * K + 1] = {0}, p[2 * K + 1], z = 0;
  for (int k = -K; k <= K; k++) z += exp(-(double)k * k / (2 * sigma * sigma));
  for (int k = -K; k <= K; k++) p[k + K] = exp(-(double)k * k / (2 * sigma * sigma)) / z;
  for (int i = 0; i < N; i++) {
    int64_t y = dp_dgauss_sample(&r, sigma);
    CHECK(y >= -K && y <= K); /* > 8 sigma (sigma <= 3): never in 3e5 draws */
    cnt[y + K] += 1;
  }
  /* chi-square over the bins with expectation >= 5, the tails lumped */
  double chi = 0, tail_o = 0, tail_e = 0;
  int bins = 0;
  for (int k = 0; k <= 2 * K; k++) {
    double e = N * p[k];
    if (e < 5) {
      tail_o += cnt[k];
      tail_e += e;
      continue;
    }
    chi += (cnt[k] - e) * (cnt[k] - e) / e;
    bins++;
  }
  if (tail_e > 0) {
    chi += (tail_o - tail_e) * (tail_o - tail_e) / tail_e;
    bins++;
  }
  /* dof = bins - 1; mean + 7 standard deviations is beyond the 1e-6 quantile */
  double dof = bins - 1, lim = dof + 7 * sqrt(2 * dof);
  printf("discrete gaussian sigma = %.2f: chi2 = %.1f over %d bins (limit %.0f)\n", sigma, chi, bins, lim);
  CHECK(chi < lim);
  dp_rng_free(&r);
}

static void test_dgauss(void) {
  test_dgauss_pmf(1.5, 1);
  test_dgauss_pmf(0.8, 2);
  test_dgauss_pmf(2.9, 3);
  fm_err err;
  dp_rng_t r;
  CHECK_OK(dp_rng_init_seeded(&r, 4, 0, &err));
  /* large sigma in fixed-point units, added modulo 2^32 */
  enum { N = 200000 };
  const double sigma = 3.0e6;
  uint32_t *w = calloc(N, sizeof *w);
  for (int i = 0; i < N; i++) w[i] = (uint32_t)(int32_t)(i % 7 - 3);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  dp_dgauss_add(w, N, sigma, &r);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  printf("dp_dgauss_add: %.1f ns per word\n", ms * 1e6 / N);
  double m = 0, v = 0;
  for (int i = 0; i < N; i++) {
    double d = (double)(int32_t)w[i] - (i % 7 - 3);
    m += d;
    v += d * d;
  }
  m /= N;
  v = v / N - m * m;
  CHECK_NEAR(m, 0, 5 * sigma / sqrt(N));
  CHECK_NEAR(sqrt(v), sigma, sigma * 5 * sqrt(0.5 / N));
  /* distributed: 8 parties with sigma / sqrt(8) each; the sum has std sigma */
  memset(w, 0, N * sizeof *w);
  double sp = dp_sigma_per_party(sigma, 8);
  CHECK_NEAR(sp * sqrt(8.0), sigma, 1e-6);
  for (int p = 0; p < 8; p++) dp_dgauss_add(w, N, sp, &r);
  v = 0;
  for (int i = 0; i < N; i++) v += (double)(int32_t)w[i] * (double)(int32_t)w[i];
  CHECK_NEAR(sqrt(v / N), sigma, sigma * 5 * sqrt(0.5 / N));
  /* a control the pmf test must reject: the discrete Gaussian of sigma 1.5
   * scored against the pmf of sigma 1.7 */
  double z = 0, chi = 0, cnt[25] = {0};
  for (int k = -12; k <= 12; k++) z += exp(-(double)k * k / (2 * 1.7 * 1.7));
  for (int i = 0; i < 100000; i++) {
    int64_t y = dp_dgauss_sample(&r, 1.5);
    if (y >= -12 && y <= 12) cnt[y + 12] += 1;
  }
  for (int k = -4; k <= 4; k++) {
    double e = 100000 * exp(-(double)k * k / (2 * 1.7 * 1.7)) / z;
    chi += (cnt[k + 12] - e) * (cnt[k + 12] - e) / e;
  }
  CHECK(chi > 200);
  free(w);
  dp_rng_free(&r);
}

static void test_fixed_helpers(void) {
  CHECK_NEAR(dp_fixed_sensitivity(1.0, 0.5, 1024.0, 100), 512.0 + 5.0, 1e-12);
  /* 2^30 / (1 + 8 * 0.1) = 5.97e8: the power of two below is 2^29 */
  CHECK(dp_fixed_scale(1.0, 0.1, 8) == 536870912.0);
  CHECK(dp_fixed_scale(10.0, 0, 8) == 67108864.0); /* the same as fixed_scale_for_clip(10) */
}

static double rel(double a, double b) { return fabs(a - b) / fabs(b); }

static void test_accountant(void) {
  fm_err err;
  /* q = 1: the Gaussian mechanism, RDP(alpha) = alpha / (2 z^2) exactly */
  for (size_t k = 0; k < DP_N_ORDERS; k++) {
    double a = DP_ORDERS[k];
    CHECK(dp_rdp_sgm(1.0, 1.3, a) == a / (2 * 1.3 * 1.3));
    CHECK(dp_rdp_sgm(1.0, 0.7, a) == a / (2 * 0.7 * 0.7));
  }
  /* and eps over the orders for q = 1, z = 2, 10 steps, delta = 1e-6: computed
   * by hand from alpha / (2 z^2) with the Balle et al. conversion (mpmath) */
  dp_acct_t acct;
  dp_acct_init(&acct);
  CHECK_OK(dp_acct_step(&acct, 1.0, 2.0, 10, &err));
  double eps, order;
  CHECK_OK(dp_acct_epsilon(&eps, &order, &acct, 1e-6, &err));
  CHECK_NEAR(eps, 8.84687435851, 1e-9);
  CHECK_NEAR(order, 4.1, 1e-12);
  /* the sampled Gaussian tends to the unsampled one as q -> 1 */
  CHECK(rel(dp_rdp_sgm(1 - 1e-9, 1.3, 5), 5 / (2 * 1.3 * 1.3)) < 1e-6);
  CHECK(dp_rdp_sgm(0, 1.3, 5) == 0);
  CHECK(isinf(dp_rdp_sgm(0.1, 0, 5)));

  /* TF Privacy rdp_accountant_test.test_compute_rdp_sequence:
   * compute_rdp(0.01, 2.5, 50, [1.5, 2.5, 5, 50, 100]) =
   * [6.5007e-04, 1.0854e-03, 2.1808e-03, 2.3846e-02, 1.6742e+02];
   * the more digits are from mpmath (exact sums / numerical integration) */
  const double a5[5] = {1.5, 2.5, 5, 50, 100};
  const double r5[5] = {0.00065007089718804, 0.00108541805691812, 0.00218075656230788, 0.0238460375387062,
                        167.416307548418};
  for (int i = 0; i < 5; i++) CHECK(rel(50 * dp_rdp_sgm(0.01, 2.5, a5[i]), r5[i]) < 1e-8);

  /* single orders, q = 0.01, z = 1.1 (mpmath, 50 digits) */
  CHECK(rel(dp_rdp_sgm(0.01, 1.1, 1.5), 9.55452857187483e-5) < 1e-8);
  CHECK(rel(dp_rdp_sgm(0.01, 1.1, 2), 0.000128510081605162) < 1e-10);
  CHECK(rel(dp_rdp_sgm(0.01, 1.1, 2.5), 0.000162077409370004) < 1e-8);
  CHECK(rel(dp_rdp_sgm(0.01, 1.1, 8), 0.000584070335520251) < 1e-10);
  CHECK(rel(dp_rdp_sgm(0.01, 1.1, 32), 8.46941643367593) < 1e-10);
  CHECK(rel(dp_rdp_sgm(0.01, 1.1, 256), 101.161894290029) < 1e-10);
  CHECK(rel(dp_rdp_sgm(0.2, 0.8, 3.7), 0.813070454276218) < 1e-8);
  CHECK(rel(dp_rdp_sgm(0.2, 0.8, 20), 13.9308548290173) < 1e-10);

  /* q = 0.01, z = 1.1, 10000 steps, delta = 1e-5 (mpmath over the same orders) */
  dp_acct_init(&acct);
  CHECK_OK(dp_acct_step(&acct, 0.01, 1.1, 10000, &err));
  CHECK_OK(dp_acct_epsilon(&eps, &order, &acct, 1e-5, &err));
  printf("q = 0.01, z = 1.1, 10000 steps, delta = 1e-5: eps = %.9f at order %g\n", eps, order);
  CHECK_NEAR(eps, 5.63199236868, 1e-7);
  CHECK_NEAR(order, 4.7, 1e-12);

  /* TF Privacy compute_dp_sgd_privacy_test Test0: n = 60000, batch 150,
   * noise 1.3, 15 epochs (6000 steps, q = 0.0025), delta = 1e-5:
   * eps = 0.7242234026109595 at order 19 (also reproduced with mpmath) */
  dp_acct_init(&acct);
  for (int e = 0; e < 15; e++) CHECK_OK(dp_acct_step(&acct, 150.0 / 60000, 1.3, 400, &err));
  CHECK_EQ_INT(acct.n_seg, 1);
  CHECK_EQ_INT(acct.seg[0].steps, 6000);
  CHECK_OK(dp_acct_epsilon(&eps, &order, &acct, 1e-5, &err));
  CHECK_NEAR(eps, 0.7242234026109595, 1e-8);
  CHECK_NEAR(order, 19, 0);

  /* the state is a plain struct: a copy (a checkpoint) gives the same answer */
  dp_acct_t copy;
  memcpy(&copy, &acct, sizeof copy);
  double eps2;
  CHECK_OK(dp_acct_epsilon(&eps2, NULL, &copy, 1e-5, &err));
  CHECK(eps2 == eps);
  /* epsilon_after predicts the next step exactly */
  double pred;
  CHECK_OK(dp_acct_epsilon_after(&pred, &acct, 0.0025, 1.3, 100, 1e-5, &err));
  CHECK_OK(dp_acct_step(&copy, 0.0025, 1.3, 100, &err));
  CHECK_OK(dp_acct_epsilon(&eps2, NULL, &copy, 1e-5, &err));
  CHECK(pred == eps2 && eps2 > eps);
  /* segments compose additively */
  dp_acct_t mix;
  dp_acct_init(&mix);
  CHECK_OK(dp_acct_step(&mix, 0.01, 1.1, 300, &err));
  CHECK_OK(dp_acct_step(&mix, 0.02, 1.5, 200, &err));
  CHECK_OK(dp_acct_step(&mix, 0.01, 1.1, 100, &err));
  CHECK_EQ_INT(mix.n_seg, 3);
  double rdp[200];
  for (size_t k = 0; k < DP_N_ORDERS; k++)
    rdp[k] = 400 * dp_rdp_sgm(0.01, 1.1, DP_ORDERS[k]) + 200 * dp_rdp_sgm(0.02, 1.5, DP_ORDERS[k]);
  double e_mix, e_ref, e_classic;
  CHECK_OK(dp_acct_epsilon(&e_mix, NULL, &mix, 1e-5, &err));
  CHECK_OK(dp_eps_from_rdp(&e_ref, NULL, DP_ORDERS, rdp, DP_N_ORDERS, 1e-5, DP_CONV_BALLE2020, &err));
  CHECK(rel(e_mix, e_ref) < 1e-12);
  /* the classic conversion is never better than the improved one */
  CHECK_OK(dp_eps_from_rdp(&e_classic, NULL, DP_ORDERS, rdp, DP_N_ORDERS, 1e-5, DP_CONV_CLASSIC, &err));
  CHECK(e_classic > e_mix);
  /* nothing recorded: eps = 0 */
  dp_acct_init(&mix);
  CHECK_OK(dp_acct_epsilon(&eps, NULL, &mix, 1e-5, &err));
  CHECK(eps == 0);
  /* range errors */
  CHECK(dp_acct_step(&mix, 1.5, 1.0, 1, &err) == -1);
  CHECK(dp_acct_step(&mix, 0.1, -1.0, 1, &err) == -1);
  CHECK(dp_acct_epsilon(&eps, NULL, &acct, 0, &err) == -1);
  CHECK(dp_acct_epsilon(&eps, NULL, &acct, 1, &err) == -1);
  CHECK(strstr(err.msg, "delta") != NULL);
}

int main(void) {
  test_clip();
  test_rng();
  test_gauss();
  test_dgauss();
  test_fixed_helpers();
  test_accountant();
  printf("test_dp: ok\n");
  return 0;
}
