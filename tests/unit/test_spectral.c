/* tests/unit/test_spectral.c: the co-occurrence spectrum of common/spectral.h.
 *
 *   - Jacobi: a known 3x3 answer, and A V = V diag(w), V orthonormal, on a
 *     random symmetric matrix;
 *   - spectral_items against the dense matrix S = Rn^T Rn - diag written out
 *     here and diagonalised whole: the leading eigenvalues, and the rank-r
 *     part sum_k lambda_k u_k u_k^T (sign- and basis-free);
 *   - K = 1 (one item per user): S = 0, so every eigenpair is zero;
 *   - repeats in a history count once; same input, same bytes;
 *   - dataset_spectral keeps it on the dataset and frees it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dataset.h"
#include "common/rng.h"
#include "common/spectral.h"
#include "tests/check.h"

static void test_jacobi_known(void) {
  /* eigenvalues of [[2,1,0],[1,2,0],[0,0,5]]: 1, 3, 5 */
  double A[9] = {2, 1, 0, 1, 2, 0, 0, 0, 5}, w[3], V[9];
  spectral_jacobi(A, 3, w, V);
  double s[3] = {w[0], w[1], w[2]};
  for (int i = 0; i < 3; i++)
    for (int j = i + 1; j < 3; j++)
      if (s[j] < s[i]) { double t = s[i]; s[i] = s[j]; s[j] = t; }
  CHECK_NEAR(s[0], 1.0, 1e-12);
  CHECK_NEAR(s[1], 3.0, 1e-12);
  CHECK_NEAR(s[2], 5.0, 1e-12);
}

static void test_jacobi_random(void) {
  enum { N = 12 };
  double A[N * N], A0[N * N], w[N], V[N * N];
  rng_t r;
  rng_seed(&r, 3, 1000, 0);
  for (int i = 0; i < N; i++)
    for (int j = 0; j <= i; j++) A[i * N + j] = A[j * N + i] = rng_normal(&r);
  memcpy(A0, A, sizeof A);
  spectral_jacobi(A, N, w, V);
  double worst = 0;
  for (int i = 0; i < N; i++)
    for (int k = 0; k < N; k++) {
      double av = 0, vv = 0;
      for (int j = 0; j < N; j++) av += A0[i * N + j] * V[j * N + k];
      worst = fmax(worst, fabs(av - w[k] * V[i * N + k]));
      for (int j = 0; j < N; j++) vv += V[j * N + i] * V[j * N + k];
      CHECK_NEAR(vv, i == k, 1e-12);
    }
  printf("  jacobi 12x12: max |A v - w v| = %.2g\n", worst);
  CHECK(worst < 1e-10);
}

/* Dense S of a CSR history (repeats once), as spectral.h defines it. */
static void dense_s(uint32_t nu, uint32_t ni, const uint32_t *hp, const uint32_t *h, double *S) {
  double *R = calloc((size_t)nu * ni, sizeof *R), *di = calloc(ni, sizeof *di);
  CHECK(R && di);
  for (uint32_t u = 0; u < nu; u++)
    for (uint32_t k = hp[u]; k < hp[u + 1]; k++) R[(size_t)u * ni + h[k]] = 1;
  for (uint32_t u = 0; u < nu; u++)
    for (uint32_t i = 0; i < ni; i++) di[i] += R[(size_t)u * ni + i];
  for (uint32_t u = 0; u < nu; u++) {
    double du = 0;
    for (uint32_t i = 0; i < ni; i++) du += R[(size_t)u * ni + i];
    for (uint32_t i = 0; i < ni; i++)
      if (R[(size_t)u * ni + i] != 0) R[(size_t)u * ni + i] = 1 / sqrt(du * di[i]);
  }
  for (uint32_t i = 0; i < ni; i++)
    for (uint32_t j = 0; j < ni; j++) {
      double s = 0;
      for (uint32_t u = 0; u < nu; u++) s += R[(size_t)u * ni + i] * R[(size_t)u * ni + j];
      S[i * ni + j] = i == j ? 0 : s;
    }
  free(R);
  free(di);
}

/* A market of nu users over ni items in g groups: each user takes 2..6 items,
 * mostly from one group, so S has a few strong directions. */
static void make_hist(uint32_t nu, uint32_t ni, uint32_t g, uint64_t seed, uint32_t **hp,
                      uint32_t **h) {
  rng_t r;
  rng_seed(&r, seed, 1001, 0);
  *hp = malloc((nu + 1) * sizeof **hp);
  *h = malloc((size_t)nu * 8 * sizeof **h);
  uint32_t o = 0;
  for (uint32_t u = 0; u < nu; u++) {
    (*hp)[u] = o;
    uint32_t grp = rng_below(&r, g), n = 2 + rng_below(&r, 5);
    for (uint32_t k = 0; k < n; k++) {
      uint32_t i = rng_uniform(&r) < 0.8f ? grp + g * rng_below(&r, ni / g) : rng_below(&r, ni);
      (*h)[o++] = i < ni ? i : ni - 1;
    }
    if (u % 7 == 0) { (*h)[o] = (*h)[o - 1]; o++; } /* a repeat: counts once */
  }
  (*hp)[nu] = o;
}

static void test_against_dense(void) {
  enum { NU = 300, NI = 60, R = 6 };
  uint32_t *hp, *h;
  make_hist(NU, NI, 5, 9, &hp, &h);
  double *S = malloc(NI * NI * sizeof *S), *S0 = malloc(NI * NI * sizeof *S0);
  double w[NI], V[NI * NI];
  dense_s(NU, NI, hp, h, S);
  memcpy(S0, S, NI * NI * sizeof *S);
  spectral_jacobi(S, NI, w, V);
  int ord[NI];
  for (int k = 0; k < NI; k++) ord[k] = k;
  for (int a = 0; a < NI; a++)
    for (int b = a + 1; b < NI; b++)
      if (w[ord[b]] > w[ord[a]]) { int t = ord[a]; ord[a] = ord[b]; ord[b] = t; }

  float vec[NI * R], val[R];
  fm_err err;
  CHECK_OK(spectral_items(NU, NI, hp, h, R, vec, val, &err));
  printf("  eigenvalues: dense %.6f %.6f %.6f ..., subspace iteration %.6f %.6f %.6f ...\n",
         w[ord[0]], w[ord[1]], w[ord[2]], val[0], val[1], val[2]);
  for (int k = 0; k < R; k++) CHECK_NEAR(val[k], w[ord[k]], 1e-4);
  /* a gap after R, so the rank-R part is well defined: compare it entry by entry */
  CHECK(w[ord[R - 1]] - w[ord[R]] > 1e-3);
  double worst = 0;
  for (int i = 0; i < NI; i++)
    for (int j = 0; j < NI; j++) {
      double a = 0, b = 0;
      for (int k = 0; k < R; k++) {
        a += val[k] * vec[i * R + k] * vec[j * R + k];
        b += w[ord[k]] * V[i * NI + ord[k]] * V[j * NI + ord[k]];
      }
      worst = fmax(worst, fabs(a - b));
    }
  printf("  rank-%d part: max entry difference %.2g\n", R, worst);
  CHECK(worst < 1e-4);
  /* the eigenvectors are unit and orthogonal */
  for (int a = 0; a < R; a++)
    for (int b = 0; b < R; b++) {
      double d = 0;
      for (int i = 0; i < NI; i++) d += (double)vec[i * R + a] * vec[i * R + b];
      CHECK_NEAR(d, a == b, 1e-5);
    }
  /* same input, same bytes */
  float vec2[NI * R], val2[R];
  CHECK_OK(spectral_items(NU, NI, hp, h, R, vec2, val2, &err));
  CHECK(memcmp(vec, vec2, sizeof vec) == 0 && memcmp(val, val2, sizeof val) == 0);
  free(S);
  free(S0);
  free(hp);
  free(h);
}

static void test_one_per_user(void) {
  /* K = 1: no two items share a user, S = 0: nothing to add */
  const uint32_t hp[6] = {0, 1, 2, 3, 4, 5}, h[5] = {0, 3, 3, 1, 4};
  float vec[5 * 4], val[4];
  fm_err err;
  CHECK_OK(spectral_items(5, 5, hp, h, 4, vec, val, &err));
  for (int k = 0; k < 20; k++) CHECK(vec[k] == 0.0f);
  for (int k = 0; k < 4; k++) CHECK(val[k] == 0.0f);
  /* more eigenpairs asked than items: the rest are zero */
  const uint32_t hp2[3] = {0, 3, 5}, h2[5] = {0, 1, 2, 1, 2};
  float v2[3 * 8], l2[8];
  CHECK_OK(spectral_items(2, 3, hp2, h2, 8, v2, l2, &err));
  CHECK(l2[0] > 0.0f);
  for (int k = 3; k < 8; k++) CHECK(l2[k] == 0.0f);
}

static void test_dataset(void) {
  dataset_t d;
  memset(&d, 0, sizeof d);
  uint32_t hp[4] = {0, 2, 4, 6}, h[6] = {0, 1, 1, 2, 0, 2};
  d.n_users = 3;
  d.n_items = 3;
  d.hist_ptr = hp;
  d.hist = h;
  fm_err err;
  CHECK_OK(dataset_spectral(&d, 2, 0, &err));
  CHECK_EQ_INT(d.spec_r, 2);
  CHECK(d.spec_vec != NULL && d.spec_val != NULL);
  /* a triangle: S = (J - I) / 4, eigenvalues 0.5, -0.25, -0.25: only 0.5 is
   * kept, e = (1, 1, 1) / sqrt 3, every a_u = 2 / sqrt 3 / sqrt 2; scaled so
   * that the term's mean square is 1: (1/3) val^2 (2/3) = 1 */
  CHECK_NEAR(d.spec_val[0], sqrt(4.5), 1e-5);
  CHECK(d.spec_val[1] == 0.0f);
  for (int i = 0; i < 3; i++) CHECK_NEAR(fabs(d.spec_vec[i * 2]), 1 / sqrt(3.0), 1e-6);
  /* the training (fold) spectra: users 0 and 2 in fold 0, user 1 in fold 1;
   * fold 1's is that of users 0 and 2 ({0, 1}, {0, 2}): not zero */
  CHECK(d.spec_fval[1 * 2] > 0.0f);
  /* with kcap = 1 they see one item per user: zero, the inference one is kept */
  CHECK_OK(dataset_spectral(&d, 2, 1, &err));
  for (int k = 0; k < 4; k++) CHECK(d.spec_fval[k] == 0.0f);
  for (int k = 0; k < 12; k++) CHECK(d.spec_fvec[k] == 0.0f);
  CHECK_NEAR(d.spec_val[0], sqrt(4.5), 1e-5);
  CHECK_OK(dataset_spectral(&d, 0, 0, &err));
  CHECK(d.spec_r == 0 && d.spec_vec == NULL && d.spec_val == NULL);
}

int main(void) {
  printf("test_spectral\n");
  test_jacobi_known();
  test_jacobi_random();
  test_against_dense();
  test_one_per_user();
  test_dataset();
  printf("test_spectral: all checks passed\n");
  return 0;
}
