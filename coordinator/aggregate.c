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
