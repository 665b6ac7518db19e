/* common/optim.c: SGD and (lazy, row-sparse) Adam; see optim.h. */
#include "common/optim.h"

#include <math.h>
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

void optim_adam_prepare(optim_adam_t *a, float lr, float beta1, float beta2, float eps,
                        uint64_t t) {
  a->lr = lr;
  a->beta1 = beta1;
  a->beta2 = beta2;
  a->eps = eps;
  double bc1 = 1.0 - pow((double)beta1, (double)t);
  double bc2 = 1.0 - pow((double)beta2, (double)t);
  a->step_size = (float)((double)lr / bc1);
  a->inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
}

void optim_sgd(float *w, const float *g, size_t n, float lr) {
  size_t i = 0;
#if defined(__SSE__)
  const __m128 vlr = _mm_set1_ps(lr);
  for (; i + 4 <= n; i += 4)
    _mm_storeu_ps(w + i, _mm_sub_ps(_mm_loadu_ps(w + i), _mm_mul_ps(vlr, _mm_loadu_ps(g + i))));
#endif
  for (; i < n; i++) w[i] -= lr * g[i];
}

/* The update of one contiguous block, PyTorch's formula:
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 * GCC at -O2 vectorises neither run-time-length loops nor sqrtf (errno), so
 * the body is also written with SSE. Both paths apply the same IEEE
 * operations in the same order to each element (sqrt and division are
 * correctly rounded in both; no FMA), so the result does not depend on the
 * path. */
static inline void adam_block(float *restrict w, float *restrict m, float *restrict v,
                              const float *restrict g, size_t n, const optim_adam_t *a) {
  const float b1 = a->beta1, b2 = a->beta2, c1 = 1.0f - a->beta1, c2 = 1.0f - a->beta2;
  const float step = a->step_size, ibc2 = a->inv_sqrt_bc2, eps = a->eps;
  size_t i = 0;
#if defined(__SSE__)
  const __m128 vb1 = _mm_set1_ps(b1), vb2 = _mm_set1_ps(b2), vc1 = _mm_set1_ps(c1),
               vc2 = _mm_set1_ps(c2), vstep = _mm_set1_ps(step), vibc2 = _mm_set1_ps(ibc2),
               veps = _mm_set1_ps(eps);
  for (; i + 4 <= n; i += 4) {
    __m128 gi = _mm_loadu_ps(g + i);
    __m128 mi = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + i)), _mm_mul_ps(vc1, gi));
    __m128 vi = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + i)),
                           _mm_mul_ps(_mm_mul_ps(vc2, gi), gi));
    _mm_storeu_ps(m + i, mi);
    _mm_storeu_ps(v + i, vi);
    __m128 den = _mm_add_ps(_mm_mul_ps(_mm_sqrt_ps(vi), vibc2), veps);
    __m128 upd = _mm_div_ps(_mm_mul_ps(vstep, mi), den);
    _mm_storeu_ps(w + i, _mm_sub_ps(_mm_loadu_ps(w + i), upd));
  }
#endif
  for (; i < n; i++) {
    float gi = g[i];
    float mi = b1 * m[i] + c1 * gi;
    float vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] -= step * mi / (sqrtf(vi) * ibc2 + eps);
  }
}

void optim_adam(float *w, float *m, float *v, const float *g, size_t n,
                const optim_adam_t *a) {
  adam_block(w, m, v, g, n, a);
}

void optim_sgd_rows(float *w, float *g, const uint32_t *rows, uint32_t n_rows, uint32_t D,
                    float lr, float l2) {
  for (uint32_t k = 0; k < n_rows; k++) {
    size_t off = (size_t)rows[k] * D;
    float *wr = w + off, *gr = g + off;
    uint32_t d = 0;
#if defined(__SSE__)
    const __m128 vlr = _mm_set1_ps(lr), vl2 = _mm_set1_ps(l2);
    for (; d + 4 <= D; d += 4) {
      __m128 wd = _mm_loadu_ps(wr + d);
      __m128 gd = _mm_add_ps(_mm_loadu_ps(gr + d), _mm_mul_ps(vl2, wd));
      _mm_storeu_ps(wr + d, _mm_sub_ps(wd, _mm_mul_ps(vlr, gd)));
    }
#endif
    for (; d < D; d++) wr[d] -= lr * (gr[d] + l2 * wr[d]);
    memset(gr, 0, (size_t)D * sizeof *gr);
  }
}

void optim_adam_rows(float *w, float *m, float *v, float *g, const uint32_t *rows,
                     uint32_t n_rows, uint32_t D, float l2, const optim_adam_t *a) {
  for (uint32_t k = 0; k < n_rows; k++) {
    size_t off = (size_t)rows[k] * D;
    float *wr = w + off, *gr = g + off;
    if (l2 != 0.0f)
      for (uint32_t d = 0; d < D; d++) gr[d] += l2 * wr[d];
    adam_block(wr, m + off, v + off, gr, D, a);
    memset(gr, 0, (size_t)D * sizeof *gr);
  }
}
