/* common/layers.c: forward and backward of the recommender's layers (see
 * layers.h for shapes and accumulation rules). */
#include "common/layers.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
  if (db) /* rows summed in order: fixed reduction order */
    for (int r = 0; r < B; r++) {
      const float *d = dout + (size_t)r * Cout;
      for (int o = 0; o < Cout; o++) db[o] += d[o];
    }
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
    float m = sp;
    for (int n = 0; n < N; n++)
      if (neg[n] != pos[b] && s[n] > m) m = s[n];
    double sum = exp((double)(sp - m));
    for (int n = 0; n < N; n++) {
      if (neg[n] == pos[b]) {
        s[n] = 0.0f;
      } else {
        float e = expf(s[n] - m);
        s[n] = e;
        sum += e;
      }
    }
    float inv = (float)(1.0 / sum);
    for (int n = 0; n < N; n++) s[n] *= inv;
    ppos[b] = (float)(exp((double)(sp - m)) / sum);
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
