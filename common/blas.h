/* common/blas.h: OpenBLAS's thread count, and running a stretch of BLAS /
 * LAPACK calls on one thread whatever OPENBLAS_NUM_THREADS says (the setting
 * restored after). Where a result must not depend on the thread count, or the
 * calls are too small to gain from threads. */
#ifndef FEDMETA_BLAS_H
#define FEDMETA_BLAS_H

/* OpenBLAS's own (Debian's pthread build; not declared by every cblas.h). */
extern int openblas_get_num_threads(void);
extern void openblas_set_num_threads(int);

/* One OpenBLAS thread from here; returns the count to give blas_restore. */
static inline int blas_one_thread(void) {
  int n = openblas_get_num_threads();
  if (n <= 1) return 0;
  openblas_set_num_threads(1);
  return n;
}

/* The count before blas_one_thread (0: it changed nothing). */
static inline void blas_restore(int n) {
  if (n > 1) openblas_set_num_threads(n);
}

#endif
