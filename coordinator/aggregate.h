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
/* "sgd" | "momentum" | "adam" */
const char *outer_kind_name(int kind);

/* --- robust aggregation (secure aggregation off) ---------------------------
 * rows holds m fixed-point deltas (m x d words, row-major, each the int32
 * encoding of one platform's clipped delta). out[j] is the coordinate-wise
 * median (mean of the two middle values when m is even) or the trimmed mean
 * (the floor(trim * m) smallest and largest values of each coordinate left
 * out), decoded with scale. Both work on the integers, so the result does not
 * depend on the order of the rows. tmp holds m int32 values. */
void agg_median(float *out, const uint32_t *rows, uint32_t m, size_t d, double scale, int32_t *tmp);
void agg_trimmed(float *out, const uint32_t *rows, uint32_t m, size_t d, double scale, float trim,
                 int32_t *tmp);

/* Checks one fixed-point delta before it is added: returns 0 if its L2 norm
 * (decoded) is at most bound, else 1 with *norm set. Computed in double in a
 * fixed order, so the decision does not depend on threads or arrival order. */
int agg_check_norm(const uint8_t *words, size_t d, double scale, double bound, double *norm);

#endif
