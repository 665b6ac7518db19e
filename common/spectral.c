/* common/spectral.c: the leading eigenpairs of a platform's item co-occurrence
 * matrix (see spectral.h for what and why). */
#include "common/spectral.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"

#define SPECTRAL_OVERSAMPLE 16 /* extra block vectors: better leading eigenpairs */
#define SPECTRAL_ITERS 40      /* subspace iterations (fixed: same work, same bytes) */
#define SPECTRAL_ORTH_EVERY 4  /* products between two orthonormalisations */
#define SPECTRAL_SEED 0x5ec7a1u
#define SPECTRAL_EPS 1e-9      /* smaller eigenvalues are dropped (set to zero) */

/* The normalised graph: each user's distinct items, with 1/sqrt(d_u d_i). */
typedef struct graph {
  uint32_t nu, ni;
  uint32_t *ptr, *idx; /* CSR of distinct items per user */
  double *w;           /* (nnz) 1 / sqrt(d_u d_i) */
  double *diag;        /* (ni) diag(Rn^T Rn) */
} graph_t;

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

static void graph_free(graph_t *g) {
  free(g->ptr); free(g->idx); free(g->w); free(g->diag);
  memset(g, 0, sizeof *g);
}

static int graph_build(graph_t *g, uint32_t nu, uint32_t ni, const uint32_t *hp, const uint32_t *h) {
  memset(g, 0, sizeof *g);
  g->nu = nu; g->ni = ni;
  size_t nnz = hp[nu];
  g->ptr = malloc(((size_t)nu + 1) * sizeof *g->ptr);
  g->idx = malloc((nnz ? nnz : 1) * sizeof *g->idx);
  g->w = malloc((nnz ? nnz : 1) * sizeof *g->w);
  g->diag = calloc(ni ? ni : 1, sizeof *g->diag);
  uint32_t *di = calloc(ni ? ni : 1, sizeof *di);
  if (!g->ptr || !g->idx || !g->w || !g->diag || !di) {
    free(di);
    graph_free(g);
    return -1;
  }
  uint32_t o = 0;
  for (uint32_t u = 0; u < nu; u++) {
    g->ptr[u] = o;
    uint32_t a = hp[u], n = hp[u + 1] - a;
    memcpy(g->idx + o, h + a, n * sizeof *h);
    qsort(g->idx + o, n, sizeof *g->idx, cmp_u32);
    uint32_t m = 0;
    for (uint32_t k = 0; k < n; k++)
      if (m == 0 || g->idx[o + k] != g->idx[o + m - 1]) g->idx[o + m++] = g->idx[o + k];
    for (uint32_t k = 0; k < m; k++) di[g->idx[o + k]]++;
    o += m;
  }
  g->ptr[nu] = o;
  for (uint32_t u = 0; u < nu; u++) {
    double du = g->ptr[u + 1] - g->ptr[u];
    for (uint32_t k = g->ptr[u]; k < g->ptr[u + 1]; k++) {
      uint32_t i = g->idx[k];
      g->w[k] = 1.0 / sqrt(du * di[i]);
      g->diag[i] += g->w[k] * g->w[k];
    }
  }
  free(di);
  return 0;
}

/* Z (column-major, b columns of ni) = (S + shift I) X, with y (nu) scratch. */
static void graph_apply(const graph_t *g, const double *X, double *Z, uint32_t b, double shift,
                        double *y) {
  const uint32_t ni = g->ni, nu = g->nu;
  for (uint32_t c = 0; c < b; c++) {
    const double *x = X + (size_t)c * ni;
    double *z = Z + (size_t)c * ni;
    for (uint32_t u = 0; u < nu; u++) {
      double s = 0;
      for (uint32_t k = g->ptr[u]; k < g->ptr[u + 1]; k++) s += g->w[k] * x[g->idx[k]];
      y[u] = s;
    }
    for (uint32_t i = 0; i < ni; i++) z[i] = shift * x[i];
    /* the user's other items only: no self-loop (exactly 0 for one-item users) */
    for (uint32_t u = 0; u < nu; u++)
      for (uint32_t k = g->ptr[u]; k < g->ptr[u + 1]; k++) {
        uint32_t i = g->idx[k];
        z[i] += g->w[k] * (y[u] - g->w[k] * x[i]);
      }
  }
}

static double dot(const double *a, const double *b, uint32_t n) {
  double s = 0;
  for (uint32_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/* Modified Gram-Schmidt, twice, on the b columns of X (column-major, n rows).
 * A column with nothing left after projection (the data's rank is lower)
 * becomes zero and stays zero. */
static void orthonormalise(double *X, uint32_t n, uint32_t b) {
  for (uint32_t c = 0; c < b; c++) {
    double *x = X + (size_t)c * n;
    double before = sqrt(dot(x, x, n));
    for (int pass = 0; pass < 2; pass++)
      for (uint32_t p = 0; p < c; p++) {
        const double *q = X + (size_t)p * n;
        double a = dot(q, x, n);
        for (uint32_t i = 0; i < n; i++) x[i] -= a * q[i];
      }
    double nr = sqrt(dot(x, x, n));
    if (!(nr > 1e-10 * before) || !(nr > 1e-300)) {
      memset(x, 0, n * sizeof *x);
      continue;
    }
    for (uint32_t i = 0; i < n; i++) x[i] /= nr;
  }
}

void spectral_jacobi(double *A, int n, double *w, double *V) {
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) V[i * n + j] = i == j;
  double total = 0;
  for (int i = 0; i < n * n; i++) total += A[i] * A[i];
  for (int sweep = 0; sweep < 100; sweep++) {
    double off = 0;
    for (int p = 0; p < n; p++)
      for (int q = p + 1; q < n; q++) off += A[p * n + q] * A[p * n + q];
    if (!(off > 1e-30 * total)) break;
    for (int p = 0; p < n; p++)
      for (int q = p + 1; q < n; q++) {
        double apq = A[p * n + q];
        if (apq == 0) continue;
        double th = (A[q * n + q] - A[p * n + p]) / (2 * apq);
        double t = (th >= 0 ? 1.0 : -1.0) / (fabs(th) + sqrt(th * th + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; k++) { /* columns p, q */
          double kp = A[k * n + p], kq = A[k * n + q];
          A[k * n + p] = c * kp - s * kq;
          A[k * n + q] = s * kp + c * kq;
        }
        for (int k = 0; k < n; k++) { /* rows p, q */
          double pk = A[p * n + k], qk = A[q * n + k];
          A[p * n + k] = c * pk - s * qk;
          A[q * n + k] = s * pk + c * qk;
        }
        for (int k = 0; k < n; k++) {
          double kp = V[k * n + p], kq = V[k * n + q];
          V[k * n + p] = c * kp - s * kq;
          V[k * n + q] = s * kp + c * kq;
        }
      }
  }
  for (int i = 0; i < n; i++) w[i] = A[i * n + i];
}

int spectral_items(uint32_t n_users, uint32_t n_items, const uint32_t *hist_ptr,
                   const uint32_t *hist, uint32_t r, float *vec, float *val, fm_err *err) {
  memset(vec, 0, (size_t)n_items * r * sizeof *vec);
  memset(val, 0, (size_t)r * sizeof *val);
  if (r == 0 || n_items == 0) return 0;
  uint32_t b = r + SPECTRAL_OVERSAMPLE;
  if (b > n_items) b = n_items;
  graph_t g;
  double *X = NULL, *Z = NULL, *y = NULL, *T = NULL, *Y = NULL, *th = NULL;
  uint32_t *ord = NULL;
  if (graph_build(&g, n_users, n_items, hist_ptr, hist) != 0) goto oom;
  X = malloc((size_t)n_items * b * sizeof *X);
  Z = malloc((size_t)n_items * b * sizeof *Z);
  y = malloc(((size_t)n_users + 1) * sizeof *y);
  T = malloc((size_t)b * b * sizeof *T);
  Y = malloc((size_t)b * b * sizeof *Y);
  th = malloc((size_t)b * sizeof *th);
  ord = malloc((size_t)b * sizeof *ord);
  if (!X || !Z || !y || !T || !Y || !th || !ord) goto oom;

  /* S + shift I with shift = max diag is positive semi-definite, so the
   * iteration converges to S's largest (not largest-magnitude) eigenvalues */
  double shift = 0;
  for (uint32_t i = 0; i < n_items; i++) shift = g.diag[i] > shift ? g.diag[i] : shift;
  rng_t rg;
  rng_seed(&rg, SPECTRAL_SEED, RNG_SPECTRAL, 0);
  for (size_t k = 0; k < (size_t)n_items * b; k++) X[k] = rng_normal(&rg);
  orthonormalise(X, n_items, b);
  /* Orthonormalising costs n b^2 against the product's nnz b: do it every
   * SPECTRAL_ORTH_EVERY products (S + shift I has norm <= 2: no overflow, and
   * the weaker directions shrink by far less than double precision holds) */
  for (int it = 0; it < SPECTRAL_ITERS; it++) {
    graph_apply(&g, X, Z, b, shift, y);
    double *t = X; X = Z; Z = t;
    if ((it + 1) % SPECTRAL_ORTH_EVERY == 0 || it == SPECTRAL_ITERS - 1) orthonormalise(X, n_items, b);
  }
  /* Rayleigh-Ritz on S itself: T = X^T S X, its eigenvectors rotate X */
  graph_apply(&g, X, Z, b, 0.0, y);
  for (uint32_t p = 0; p < b; p++)
    for (uint32_t q = 0; q < b; q++)
      T[p * b + q] = 0.5 * (dot(X + (size_t)p * n_items, Z + (size_t)q * n_items, n_items) +
                            dot(X + (size_t)q * n_items, Z + (size_t)p * n_items, n_items));
  spectral_jacobi(T, (int)b, th, Y);
  for (uint32_t k = 0; k < b; k++) ord[k] = k;
  for (uint32_t k = 1; k < b; k++) { /* insertion sort, largest first, ties by index */
    uint32_t o = ord[k], j = k;
    while (j > 0 && th[ord[j - 1]] < th[o]) { ord[j] = ord[j - 1]; j--; }
    ord[j] = o;
  }
  uint32_t keep = r < b ? r : b;
  for (uint32_t k = 0; k < keep; k++) {
    uint32_t e = ord[k];
    /* only co-occurrence, never anti-co-occurrence or rounding noise (S's
     * eigenvalues lie in [-1, 1]) */
    if (!(th[e] > SPECTRAL_EPS)) break;
    val[k] = (float)th[e];
    for (uint32_t i = 0; i < n_items; i++) {
      double s = 0;
      for (uint32_t p = 0; p < b; p++) s += X[(size_t)p * n_items + i] * Y[p * b + e];
      vec[(size_t)i * r + k] = (float)s;
    }
  }
  graph_free(&g);
  free(X); free(Z); free(y); free(T); free(Y); free(th); free(ord);
  return 0;
oom:
  graph_free(&g);
  free(X); free(Z); free(y); free(T); free(Y); free(th); free(ord);
  return fm_fail(err, "out of memory for the co-occurrence spectrum (%u users, %u items, rank %u)",
                 n_users, n_items, r);
}
