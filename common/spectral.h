/* common/spectral.h: a platform's item co-occurrence spectrum, the input of
 * the model's co-occurrence term (common/model.h, --spectral).
 *
 * From the interactions a platform knows at evaluation time (dataset hist:
 * TRAIN, or the support set of a held-out industry), with R the binary
 * user x item matrix and d_u, d_i its row and column counts:
 *
 *   Rn = D_u^-1/2 R D_i^-1/2          (the normalised interaction graph)
 *   S  = Rn^T Rn - diag(Rn^T Rn)      (item-item co-occurrence, self-loops removed)
 *
 * and its r eigenpairs (lambda_k, u_k) of largest eigenvalue, found by
 * subspace iteration on a block of r + 16 vectors from a fixed seed, then a
 * Rayleigh-Ritz step (Jacobi on the small projected matrix). Then
 * sum_k lambda_k u_k[j] u_k[i] is the rank-r part of S: how strongly items j
 * and i are bought by the same users, with the diagonal removed so that an
 * industry with one interaction per user (K = 1) has S = 0 and the term adds
 * nothing. Low rank keeps full ranking one sgemm: the model puts u_k[i] in
 * the item's scoring vector and a per-eigenvalue weight times the user's
 * pooled u_k[j] in the user's.
 *
 * Everything is computed in double on one thread, in a fixed order: the same
 * data gives the same bytes on any machine, rank or thread count. */
#ifndef FEDMETA_SPECTRAL_H
#define FEDMETA_SPECTRAL_H
#include <stdint.h>

#include "common/error.h"

/* The largest rank r anything here or in the model accepts. */
#define SPECTRAL_MAX_RANK 1024u

/* Fills vec (n_items, r) with the eigenvectors (row i: u_1[i] .. u_r[i]) and
 * val (r) with their eigenvalues, largest first. hist_ptr/hist: each user's
 * items (CSR over n_users; repeats count once). Eigenpairs beyond the rank the
 * data supports come out as zeros. 0, or -1 with err set (out of memory). */
int spectral_items(uint32_t n_users, uint32_t n_items, const uint32_t *hist_ptr,
                   const uint32_t *hist, uint32_t r, float *vec, float *val, fm_err *err);

/* The symmetric eigenproblem of a small dense matrix A (n x n, row-major,
 * destroyed) by cyclic Jacobi: eigenvalues into w (n), eigenvectors into the
 * columns of V (n x n, row-major), unsorted. Exposed for tests. */
void spectral_jacobi(double *A, int n, double *w, double *V);

#endif
