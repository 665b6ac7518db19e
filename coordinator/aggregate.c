/* coordinator/aggregate.c: outer optimisers (see aggregate.h). */
#include "coordinator/aggregate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int outer_init(outer_t *o, int kind, size_t d, fm_err *err) {
  memset(o, 0, sizeof *o);
  o->kind = kind;
  o->d = d;
  o->beta1 = kind == OUTER_MOMENTUM ? 0.9f : 0.9f;
  o->beta2 = 0.999f;
  o->eps = 1e-8f;
  if (kind != OUTER_SGD) {
    o->m = calloc(d, sizeof(float));
    if (kind == OUTER_ADAM) o->v = calloc(d, sizeof(float));
    if (!o->m || (kind == OUTER_ADAM && !o->v)) {
      outer_free(o);
      return fm_fail(err, "out of memory for the outer optimiser state (%zu parameters)", d);
    }
  }
  return 0;
}

void outer_free(outer_t *o) {
  if (!o) return;
  free(o->m);
  free(o->v);
  o->m = o->v = NULL;
}

void outer_step(outer_t *o, float *theta, const float *delta, float lr) {
  o->t++;
  size_t d = o->d;
  if (o->kind == OUTER_SGD) {
    for (size_t i = 0; i < d; i++) theta[i] += lr * delta[i];
  } else if (o->kind == OUTER_MOMENTUM) {
    for (size_t i = 0; i < d; i++) {
      o->m[i] = o->beta1 * o->m[i] + delta[i];
      theta[i] += lr * o->m[i];
    }
  } else {
    float b1 = o->beta1, b2 = o->beta2;
    double c1 = 1.0 - pow(b1, (double)o->t), c2 = 1.0 - pow(b2, (double)o->t);
    for (size_t i = 0; i < d; i++) {
      float g = -delta[i];
      o->m[i] = b1 * o->m[i] + (1 - b1) * g;
      o->v[i] = b2 * o->v[i] + (1 - b2) * g * g;
      double mh = o->m[i] / c1, vh = o->v[i] / c2;
      theta[i] -= (float)(lr * mh / (sqrt(vh) + o->eps));
    }
  }
}

float outer_lr_at(float lr, int linear, uint32_t r, uint32_t R) {
  if (!linear || R == 0) return lr;
  return lr * (float)(R - r + 1) / (float)R;
}

const char *outer_kind_name(int kind) {
  return kind == OUTER_ADAM ? "adam" : kind == OUTER_MOMENTUM ? "momentum" : "sgd";
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

static void column(int32_t *tmp, const uint32_t *rows, uint32_t m, size_t d, size_t j) {
  for (uint32_t i = 0; i < m; i++) tmp[i] = (int32_t)rows[(size_t)i * d + j];
  qsort(tmp, m, sizeof *tmp, cmp_i32);
}

void agg_median(float *out, const uint32_t *rows, uint32_t m, size_t d, double scale, int32_t *tmp) {
  for (size_t j = 0; j < d; j++) {
    if (m == 0) {
      out[j] = 0;
      continue;
    }
    column(tmp, rows, m, d, j);
    double v = m % 2 ? (double)tmp[m / 2] : 0.5 * ((double)tmp[m / 2 - 1] + (double)tmp[m / 2]);
    out[j] = (float)(v / scale);
  }
}

void agg_trimmed(float *out, const uint32_t *rows, uint32_t m, size_t d, double scale, float trim,
                 int32_t *tmp) {
  uint32_t k = (uint32_t)floor((double)trim * m);
  if (2 * k >= m) k = m ? (m - 1) / 2 : 0;
  for (size_t j = 0; j < d; j++) {
    if (m == 0) {
      out[j] = 0;
      continue;
    }
    column(tmp, rows, m, d, j);
    int64_t s = 0; /* exact: at most 2^20 rows of 31-bit values */
    for (uint32_t i = k; i < m - k; i++) s += tmp[i];
    out[j] = (float)((double)s / (double)(m - 2 * k) / scale);
  }
}

int agg_check_norm(const uint8_t *words, size_t d, double scale, double bound, double *norm) {
  double sq = 0;
  for (size_t j = 0; j < d; j++) {
    const uint8_t *b = words + 4 * j;
    int32_t q = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
    double x = q / scale;
    sq += x * x;
  }
  *norm = sqrt(sq);
  return *norm <= bound ? 0 : 1;
}
