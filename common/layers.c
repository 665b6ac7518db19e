/* common/layers.c: forward and backward of the recommender's layers (see
 * layers.h for shapes and accumulation rules). */
#include "common/layers.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* --- touched-row sets ------------------------------------------------------ */

int layer_rowset_init(layer_rowset_t *s, uint32_t n_rows, fm_err *err) {
  memset(s, 0, sizeof *s);
  size_t n = n_rows ? n_rows : 1;
  s->rows = malloc(n * sizeof *s->rows);
  s->mark = calloc(n, sizeof *s->mark);
  if (!s->rows || !s->mark) {
    layer_rowset_free(s);
    return fm_fail(err, "out of memory for a touched-row set of %u rows", n_rows);
  }
  s->cap = n_rows;
  return 0;
}

void layer_rowset_free(layer_rowset_t *s) {
  if (!s) return;
  free(s->rows);
  free(s->mark);
  memset(s, 0, sizeof *s);
}

void layer_rowset_clear(layer_rowset_t *s) {
  for (uint32_t i = 0; i < s->n; i++) s->mark[s->rows[i]] = 0;
  s->n = 0;
}

/* --- linear ---------------------------------------------------------------- */

void layer_linear_forward(float *out, const float *in, const float *w, const float *b,
                          int B, int Cin, int Cout) {
  /* out (B, Cout): start from the bias, then out += in (B, Cin) . w^T (Cin, Cout). */
  for (int r = 0; r < B; r++) memcpy(out + (size_t)r * Cout, b, (size_t)Cout * sizeof *out);
  if (B == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, Cout, Cin, 1.0f, in, Cin, w, Cin, 1.0f,
              out, Cout);
}

void layer_linear_backward(float *din, float *dw, float *db, const float *dout,
                           const float *in, const float *w, int B, int Cin, int Cout) {
  if (B == 0) return;
  if (din) /* din (B, Cin) += dout (B, Cout) . w (Cout, Cin) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, Cin, Cout, 1.0f, dout, Cout, w, Cin,
                1.0f, din, Cin);
  if (dw) /* dw (Cout, Cin) += dout^T (Cout, B) . in (B, Cin) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Cout, Cin, B, 1.0f, dout, Cout, in, Cin,
                1.0f, dw, Cin);
  if (db) /* rows summed in order: fixed reduction order (1 * d is exact: plain adds) */
    for (int r = 0; r < B; r++) layer_axpy_row(db, 1.0f, dout + (size_t)r * Cout, (uint32_t)Cout);
}

/* --- relu ------------------------------------------------------------------- */

/* SSE paths give exactly the scalar results: max(x, +0) returns +0 for -0
 * and NaN, like the comparison below; the mask leaves d or +0. */
void layer_relu_forward(float *out, const float *in, size_t n) {
  size_t i = 0;
#if defined(__SSE__)
  const __m128 zero = _mm_setzero_ps();
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(out + i, _mm_max_ps(_mm_loadu_ps(in + i), zero));
#endif
  for (; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void layer_relu_backward(float *d, const float *out, size_t n) {
  size_t i = 0;
#if defined(__SSE__)
  const __m128 zero = _mm_setzero_ps();
  for (; i + 4 <= n; i += 4) {
    __m128 keep = _mm_cmpgt_ps(_mm_loadu_ps(out + i), zero);
    _mm_storeu_ps(d + i, _mm_and_ps(keep, _mm_loadu_ps(d + i)));
  }
#endif
  for (; i < n; i++) d[i] = out[i] > 0.0f ? d[i] : 0.0f;
}

/* --- embedding bag ---------------------------------------------------------- */

void layer_bag_forward(float *out, size_t ldo, const float *E, uint32_t H, uint32_t D,
                       const uint32_t *ptr, const uint32_t *tok, const uint32_t *ids,
                       uint32_t n) {
  for (uint32_t r = 0; r < n; r++) {
    uint32_t e = ids[r], a = ptr[e], z = ptr[e + 1];
    if (z <= a) continue;
    float inv = 1.0f / (float)(z - a);
    float *o = out + (size_t)r * ldo;
    for (uint32_t k = a; k < z; k++)
      layer_axpy_row(o, inv, E + (size_t)layer_bucket(tok[k], H) * D, D);
  }
}

void layer_bag_backward(float *dE, layer_rowset_t *touched, const float *dout, size_t ldo,
                        uint32_t H, uint32_t D, const uint32_t *ptr, const uint32_t *tok,
                        const uint32_t *ids, uint32_t n) {
  for (uint32_t r = 0; r < n; r++) {
    uint32_t e = ids[r], a = ptr[e], z = ptr[e + 1];
    if (z <= a) continue;
    float inv = 1.0f / (float)(z - a);
    const float *g = dout + (size_t)r * ldo;
    for (uint32_t k = a; k < z; k++) {
      uint32_t h = layer_bucket(tok[k], H);
      layer_axpy_row(dE + (size_t)h * D, inv, g, D);
      if (touched) layer_rowset_add(touched, h);
    }
  }
}

/* --- gather ------------------------------------------------------------------ */

void layer_gather_forward(float *out, size_t ldo, const float *table, uint32_t D,
                          const uint32_t *ids, uint32_t n) {
  /* a * x with a = 1 is exact: these are plain adds */
  for (uint32_t r = 0; r < n; r++)
    layer_axpy_row(out + (size_t)r * ldo, 1.0f, table + (size_t)ids[r] * D, D);
}

void layer_gather_backward(float *dtable, layer_rowset_t *touched, const float *dout,
                           size_t ldo, uint32_t D, const uint32_t *ids, uint32_t n) {
  for (uint32_t r = 0; r < n; r++) {
    layer_axpy_row(dtable + (size_t)ids[r] * D, 1.0f, dout + (size_t)r * ldo, D);
    if (touched) layer_rowset_add(touched, ids[r]);
  }
}

/* --- mean pool ------------------------------------------------------------------ */

void layer_pool_forward(float *out, size_t ldo, const float *X, uint32_t D,
                        const uint32_t *idx, const uint32_t *cnt, uint32_t n, uint32_t K) {
  for (uint32_t r = 0; r < n; r++) {
    if (!cnt[r]) continue;
    float inv = 1.0f / (float)cnt[r];
    float *o = out + (size_t)r * ldo;
    for (uint32_t k = 0; k < cnt[r]; k++)
      layer_axpy_row(o, inv, X + (size_t)idx[(size_t)r * K + k] * D, D);
  }
}

void layer_pool_backward(float *dX, const float *dout, size_t ldo, uint32_t D,
                         const uint32_t *idx, const uint32_t *cnt, uint32_t n, uint32_t K) {
  for (uint32_t r = 0; r < n; r++) {
    if (!cnt[r]) continue;
    float inv = 1.0f / (float)cnt[r];
    const float *g = dout + (size_t)r * ldo;
    for (uint32_t k = 0; k < cnt[r]; k++)
      layer_axpy_row(dX + (size_t)idx[(size_t)r * K + k] * D, inv, g, D);
  }
}

/* --- sampled softmax ------------------------------------------------------------ */

/* Row maximum of s (n) over the entries whose negative is not the row's
 * positive, starting from m; sets *hit if some entry is masked. A masked entry
 * is replaced by -inf before the comparison, and the comparison keeps m unless
 * s > m (like the scalar loop: a NaN is skipped), so every path gives the
 * scalar result: max is exact, whatever the order (+0 and -0 may swap, which
 * changes no later value: x - (+0) = x - (-0) and expf(+-0) = 1). */
static float ssm_row_max(const float *s, const uint32_t *neg, uint32_t pos, int n, float m,
                         int *hit) {
  int i = 0, any = 0;
#if defined(__SSE2__)
  const __m128i vp = _mm_set1_epi32((int)pos);
  const __m128 ninf = _mm_set1_ps(-INFINITY);
  __m128 vm = _mm_set1_ps(m);
  int anyv = 0;
  for (; i + 4 <= n; i += 4) {
    __m128 eq = _mm_castsi128_ps(_mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)(neg + i)), vp));
    __m128 v = _mm_or_ps(_mm_and_ps(eq, ninf), _mm_andnot_ps(eq, _mm_loadu_ps(s + i)));
    vm = _mm_max_ps(v, vm); /* (v > vm) ? v : vm */
    anyv |= _mm_movemask_ps(eq);
  }
  float lane[4];
  _mm_storeu_ps(lane, vm);
  for (int k = 0; k < 4; k++)
    if (lane[k] > m) m = lane[k];
  any = anyv != 0;
#endif
  for (; i < n; i++) {
    if (neg[i] == pos) any = 1;
    else if (s[i] > m) m = s[i];
  }
  *hit = any;
  return m;
}

/* The sum of s (n) in double, in a fixed order on every path: four running
 * sums over the indices i = 0, 1, 2, 3 mod 4, then (s0 + s1) + (s2 + s3).
 * (Four independent chains instead of one: a single chain of dependent double
 * adds is the slowest part of a long softmax row.) */
static double ssm_row_sum(const float *s, int n) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int i = 0;
#if defined(__SSE2__)
  __m128d v01 = _mm_setzero_pd(), v23 = _mm_setzero_pd();
  for (; i + 4 <= n; i += 4) {
    __m128 x = _mm_loadu_ps(s + i);
    v01 = _mm_add_pd(v01, _mm_cvtps_pd(x));
    v23 = _mm_add_pd(v23, _mm_cvtps_pd(_mm_movehl_ps(x, x)));
  }
  double t[4];
  _mm_storeu_pd(t, v01);
  _mm_storeu_pd(t + 2, v23);
  a0 = t[0], a1 = t[1], a2 = t[2], a3 = t[3];
#endif
  for (; i + 4 <= n; i += 4) {
    a0 += s[i], a1 += s[i + 1], a2 += s[i + 2], a3 += s[i + 3];
  }
  switch (n - i) {
    case 3: a2 += s[i + 2]; /* fall through */
    case 2: a1 += s[i + 1]; /* fall through */
    case 1: a0 += s[i]; /* fall through */
    default: break;
  }
  return (a0 + a1) + (a2 + a3);
}

double layer_ssm_forward(float *ppos, float *pneg, const float *U, const float *Vpos,
                         const float *Vneg, const uint32_t *pos, const uint32_t *neg,
                         int B, int N, int D) {
  if (B == 0) return 0.0;
  /* Negative logits, pneg (B, N) = U (B, D) . Vneg^T (D, N). */
  if (N > 0)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, N, D, 1.0f, U, D, Vneg, D,
                0.0f, pneg, N);
  double loss = 0.0;
  for (int b = 0; b < B; b++) {
    const float *u = U + (size_t)b * D, *vp = Vpos + (size_t)b * D;
    float *s = pneg + (size_t)b * N;
    float sp = 0.0f;
    for (int d = 0; d < D; d++) sp += u[d] * vp[d];
    /* The row maximum over the logits that take part; the positive always does. */
    int hit;
    float m = ssm_row_max(s, neg, pos[b], N, sp, &hit);
    /* exp of every entry in one tight pass (no branch, no sum carried across
     * the calls), then the masked entries (rare) set to 0. */
    for (int n = 0; n < N; n++) s[n] = expf(s[n] - m);
    if (hit)
      for (int n = 0; n < N; n++)
        if (neg[n] == pos[b]) s[n] = 0.0f;
    double ep = exp((double)(sp - m));
    double sum = ep + ssm_row_sum(s, N);
    float inv = (float)(1.0 / sum);
    int n = 0;
#if defined(__SSE__)
    const __m128 vinv = _mm_set1_ps(inv);
    for (; n + 4 <= N; n += 4) _mm_storeu_ps(s + n, _mm_mul_ps(_mm_loadu_ps(s + n), vinv));
#endif
    for (; n < N; n++) s[n] *= inv;
    ppos[b] = (float)(ep / sum);
    loss += log(sum) + (double)m - (double)sp;
  }
  return loss / B;
}

void layer_ssm_backward(float *dU, float *dVpos, float *dVneg, float *pneg,
                        const float *ppos, const float *U, const float *Vpos,
                        const float *Vneg, int B, int N, int D) {
  if (B == 0) return;
  float scale = 1.0f / (float)B;
  /* d loss / d logit = (p - onehot(positive)) / B; masked negatives have p = 0. */
  for (size_t i = 0; i < (size_t)B * N; i++) pneg[i] *= scale;
  for (int b = 0; b < B; b++) {
    float g = (ppos[b] - 1.0f) * scale;
    const float *u = U + (size_t)b * D, *vp = Vpos + (size_t)b * D;
    if (dU) layer_axpy_row(dU + (size_t)b * D, g, vp, (uint32_t)D);
    if (dVpos) layer_axpy_row(dVpos + (size_t)b * D, g, u, (uint32_t)D);
  }
  if (N == 0) return;
  if (dU) /* dU (B, D) += dS (B, N) . Vneg (N, D) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, D, N, 1.0f, pneg, N, Vneg, D,
                1.0f, dU, D);
  if (dVneg) /* dVneg (N, D) += dS^T (N, B) . U (B, D) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, D, B, 1.0f, pneg, N, U, D, 1.0f,
                dVneg, D);
}

/* --- sampled softmax over distinct columns ------------------------------------------ */

double layer_ssmc_forward(float *ppos, float *P, const float *U, const float *V,
                          const uint32_t *cpos, const float *cnt, int B, int C, int Cn, int D) {
  if (B == 0) return 0.0;
  return layer_ssmc_forward_rows(ppos, P, U, V, cpos, cnt, 0, B, C, Cn, D, 0) / B;
}

double layer_ssmc_forward_rows(float *ppos, float *P, const float *U, const float *V,
                               const uint32_t *cpos, const float *cnt, int b0, int b1, int C,
                               int Cn, int D, int acc) {
  if (b1 <= b0) return 0.0;
  /* S (rows b0..b1, C) = U (rows b0..b1, D) . V^T (D, C) (+ P's rows with acc), in P */
  if (C > 0)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b1 - b0, C, D, 1.0f,
                U + (size_t)b0 * D, D, V, D, acc ? 1.0f : 0.0f, P + (size_t)b0 * C, C);
  double loss = 0.0;
  for (int b = b0; b < b1; b++) {
    float *s = P + (size_t)b * C;
    const int c = (int)cpos[b];
    const float sp = s[c];
    /* The maximum over the positive and the negatives' columns 0..Cn. Column
     * c may be among them: its value is sp itself, which changes no maximum;
     * the comparison skips a NaN, like the scalar tail. */
    float m = sp;
    int j = 0;
#if defined(__SSE__)
    {
      __m128 vm = _mm_set1_ps(m);
      for (; j + 4 <= Cn; j += 4) vm = _mm_max_ps(_mm_loadu_ps(s + j), vm); /* (s > vm) ? s : vm */
      float lane[4];
      _mm_storeu_ps(lane, vm);
      for (int k = 0; k < 4; k++)
        if (lane[k] > m) m = lane[k];
    }
#endif
    for (; j < Cn; j++)
      if (s[j] > m) m = s[j];
    /* the negatives' exponentials in one tight pass, times their counts; the
     * positive's column and the columns Cn..C (positives only) are 0 */
    for (j = 0; j < Cn; j++) s[j] = expf(s[j] - m);
    j = 0;
#if defined(__SSE__)
    for (; j + 4 <= Cn; j += 4)
      _mm_storeu_ps(s + j, _mm_mul_ps(_mm_loadu_ps(cnt + j), _mm_loadu_ps(s + j)));
#endif
    for (; j < Cn; j++) s[j] = cnt[j] * s[j];
    if (C > Cn) memset(s + Cn, 0, (size_t)(C - Cn) * sizeof *s);
    s[c] = 0.0f;
    double ep = exp((double)(sp - m));
    double sum = ep + ssm_row_sum(s, Cn);
    float inv = (float)(1.0 / sum);
    j = 0;
#if defined(__SSE__)
    const __m128 vinv = _mm_set1_ps(inv);
    for (; j + 4 <= Cn; j += 4) _mm_storeu_ps(s + j, _mm_mul_ps(_mm_loadu_ps(s + j), vinv));
#endif
    for (; j < Cn; j++) s[j] *= inv;
    ppos[b] = (float)(ep / sum);
    loss += log(sum) + (double)m - (double)sp;
  }
  return loss;
}

void layer_ssmc_backward(float *dU, float *dV, float *P, const float *ppos,
                         const uint32_t *cpos, const float *U, const float *V, int B, int C,
                         int D) {
  if (B == 0 || C == 0) return;
  layer_ssmc_grad_logits(P, ppos, cpos, B, C);
  layer_ssmc_backward_u(dU, P, V, B, C, D);
  layer_ssmc_backward_v(dV, P, U, B, C, D);
}

void layer_ssmc_grad_logits(float *P, const float *ppos, const uint32_t *cpos, int B, int C) {
  if (B == 0 || C == 0) return;
  const float scale = 1.0f / (float)B;
  /* d loss / d S = (P - onehot(positive column) (1 - ppos)) / B, i.e. P / B
   * with (ppos - 1) / B at the positive's column (where P is 0). */
  const size_t n = (size_t)B * C;
  size_t i = 0;
#if defined(__SSE__)
  const __m128 vs = _mm_set1_ps(scale);
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(P + i, _mm_mul_ps(_mm_loadu_ps(P + i), vs));
#endif
  for (; i < n; i++) P[i] *= scale;
  for (int b = 0; b < B; b++) P[(size_t)b * C + cpos[b]] = (ppos[b] - 1.0f) * scale;
}

void layer_ssmc_backward_u(float *dU, const float *G, const float *V, int B, int C, int D) {
  if (dU && B > 0 && C > 0) /* dU (B, D) += G (B, C) . V (C, D) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, D, C, 1.0f, G, C, V, D, 1.0f, dU, D);
}

void layer_ssmc_backward_v(float *dV, const float *G, const float *U, int B, int C, int D) {
  if (dV && B > 0 && C > 0) /* dV (C, D) += G^T (C, B) . U (B, D) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, D, B, 1.0f, G, C, U, D, 1.0f, dV, D);
}
