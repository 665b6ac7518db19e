/* common/optim.h: the inner optimisers of a platform's trainer: SGD and Adam,
 * dense (for the tower weights) and row-sparse (for embedding tables, where a
 * step touches a few rows of a large table).
 *
 * Sparse Adam is "lazy": only the touched rows' moments are updated, and the
 * bias correction uses the trainer's global step count (as PyTorch SparseAdam
 * and TensorFlow LazyAdam do). The row variants also apply the L2 penalty
 * (g += l2 * w, i.e. (l2/2)||w||^2 on the touched rows) and zero the gradient
 * rows they consumed, which keeps the "untouched rows are zero" invariant of
 * the trainer's gradient buffers. */
#ifndef FEDMETA_OPTIM_H
#define FEDMETA_OPTIM_H
#include <stddef.h>
#include <stdint.h>

/* Adam settings for one step; fill with optim_adam_prepare. */
typedef struct optim_adam {
  float lr, beta1, beta2, eps;
  float step_size;    /* lr / (1 - beta1^t) */
  float inv_sqrt_bc2; /* 1 / sqrt(1 - beta2^t) */
} optim_adam_t;

/* Settings for step t (t >= 1, counted from the last reset). */
void optim_adam_prepare(optim_adam_t *a, float lr, float beta1, float beta2, float eps,
                        uint64_t t);

/* w (n) -= lr * g (n). */
void optim_sgd(float *w, const float *g, size_t n, float lr);
/* Adam on w (n) with moments m, v (n) and gradient g (n). */
void optim_adam(float *w, float *m, float *v, const float *g, size_t n,
                const optim_adam_t *a);

/* Row-sparse variants over a table w (rows, D): only the listed rows change;
 * each listed row of g (rows, D) gets + l2 * w, is used, then set to zero. */
void optim_sgd_rows(float *w, float *g, const uint32_t *rows, uint32_t n_rows, uint32_t D,
                    float lr, float l2);
void optim_adam_rows(float *w, float *m, float *v, float *g, const uint32_t *rows,
                     uint32_t n_rows, uint32_t D, float l2, const optim_adam_t *a);

#endif
