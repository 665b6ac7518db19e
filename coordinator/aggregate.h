/* coordinator/aggregate.h: the outer step. The coordinator only ever holds the
 * weighted sum of the platforms' deltas (decoded from fixed point); the outer
 * optimiser turns it into a step of the meta-model. */
#ifndef FEDMETA_AGGREGATE_H
#define FEDMETA_AGGREGATE_H
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

enum { OUTER_SGD = 0, OUTER_MOMENTUM = 1, OUTER_ADAM = 2 };

typedef struct outer {
  int kind;
  size_t d;
  float *m, *v;   /* (d) momentum / Adam moments; NULL for sgd */
  uint64_t t;     /* steps taken */
  float beta1, beta2, eps;
} outer_t;

int outer_init(outer_t *o, int kind, size_t d, fm_err *err);
void outer_free(outer_t *o);
/* theta <- theta + step(delta_mean) with step size lr. sgd: lr * delta;
 * momentum: v = 0.9 v + delta, lr * v; adam: Adam on g = -delta. */
void outer_step(outer_t *o, float *theta, const float *delta_mean, float lr);
/* The step size of round r (1-based) of R: constant, or linear decay to lr/R. */
float outer_lr_at(float lr, int linear, uint32_t r, uint32_t R);

#endif
