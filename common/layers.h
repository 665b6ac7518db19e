/* common/layers.h: the building blocks of the recommender (model.h), each
 * layer's forward and backward side by side, llm.c style. Shapes are given in
 * the comments as (rows, cols), row-major.
 *
 * Accumulation rules, the same for every layer:
 *   - backward functions ADD into every gradient buffer they are given
 *     (d_in, d_weights, d_table); the caller zeroes them first;
 *   - bag, gather and pool forwards ADD into their output rows, so that
 *     x = bag(E) + Q is two calls; linear, relu and softmax forwards overwrite;
 *   - layer_relu_backward is the exception: it masks its buffer in place.
 * The linear and softmax backwards skip a gradient pointer that is NULL; the
 * embedding backwards skip a NULL touched-row set.
 *
 * Outputs of the row-wise layers take a leading dimension (ldo: floats from one
 * row to the next) so that they can write straight into a column block of a
 * wider matrix, e.g. the user tower input z = [f ; g ; P_u].
 *
 * Determinism: every reduction written here runs in a fixed order, and for a
 * given OpenBLAS thread count cblas_sgemm is deterministic too. But the thread
 * count itself changes sgemm results in the last bits (measured with OpenBLAS
 * 0.3.21: every gemm shape of a training step, e.g. 256x64x96, differs
 * between 1 and 2 threads, by ~1e-6, presumably because another kernel or
 * blocking is chosen). Bit-identical results therefore need the same thread
 * count everywhere: the trainer (model.c) runs a step's sgemm calls
 * one-threaded, whatever OPENBLAS_NUM_THREADS says, and uses a second thread
 * of its own for independent parts instead. */
#ifndef FEDMETA_LAYERS_H
#define FEDMETA_LAYERS_H
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

/* --- row kernels ------------------------------------------------------------ */

/* y (n) += a * x (n). At -O2 GCC does not vectorise loops of run-time length,
 * so this uses SSE where the target has it. Each element gets the same two
 * roundings on either path (a multiply, then an add; never an FMA), so the
 * result does not depend on the path, the alignment or where the tail starts. */
static inline void layer_axpy_row(float *restrict y, float a, const float *restrict x,
                                  uint32_t n) {
  uint32_t i = 0;
#if defined(__SSE__)
  const __m128 va = _mm_set1_ps(a);
  for (; i + 4 <= n; i += 4)
    _mm_storeu_ps(y + i, _mm_add_ps(_mm_loadu_ps(y + i), _mm_mul_ps(va, _mm_loadu_ps(x + i))));
#endif
  for (; i < n; i++) y[i] += a * x[i];
}

/* The bucket of a token: t % H, with a mask when H is a power of two (the
 * same value; a division per token is a visible cost in the bag layers). */
static inline uint32_t layer_bucket(uint32_t t, uint32_t H) {
  return (H & (H - 1)) == 0 ? (t & (H - 1)) : t % H;
}

/* --- touched-row sets, for sparse embedding gradients ------------------- */

/* The rows of one embedding table that a step touched, in first-touch order,
 * deduplicated with a mark per table row. Adding is O(1); clearing costs the
 * number of rows recorded, not the table size. */
typedef struct layer_rowset {
  uint32_t n;      /* rows recorded */
  uint32_t cap;    /* rows of the table */
  uint32_t *rows;  /* (cap) recorded rows, first n valid */
  uint8_t *mark;   /* (cap) 1 if the row is recorded */
} layer_rowset_t;

/* Allocates an empty set for a table of n_rows rows. */
int layer_rowset_init(layer_rowset_t *s, uint32_t n_rows, fm_err *err)
    __attribute__((warn_unused_result));
/* Frees the arrays; accepts NULL and a zeroed or half-built set. */
void layer_rowset_free(layer_rowset_t *s);
/* Empties the set (resets only the recorded marks). */
void layer_rowset_clear(layer_rowset_t *s);

static inline void layer_rowset_add(layer_rowset_t *s, uint32_t row) {
  if (!s->mark[row]) {
    s->mark[row] = 1;
    s->rows[s->n++] = row;
  }
}

/* --- linear: y = x W^T + b ----------------------------------------------- */

/* out (B, Cout) = in (B, Cin) W^T + b; w (Cout, Cin), b (Cout). Overwrites out.
 * (Not I and O: <complex.h>, pulled in by cblas.h, defines I.) */
void layer_linear_forward(float *out, const float *in, const float *w, const float *b,
                          int B, int Cin, int Cout);
/* dout (B, Cout) -> din (B, Cin) += dout W, dw (Cout, Cin) += dout^T in,
 * db (Cout) += sum over rows of dout. */
void layer_linear_backward(float *din, float *dw, float *db, const float *dout,
                           const float *in, const float *w, int B, int Cin, int Cout);

/* --- relu ------------------------------------------------------------------ */

/* out (n) = max(in, 0); out may equal in. */
void layer_relu_forward(float *out, const float *in, size_t n);
/* d (n): on entry d loss / d out, on return d loss / d in (zero where out <= 0).
 * Takes the forward OUTPUT, so the pre-activation need not be kept. */
void layer_relu_backward(float *d, const float *out, size_t n);

/* --- mean embedding bag over hashed tokens ------------------------------ */

/* For r < n, entity e = ids[r] with tokens tok[ptr[e] .. ptr[e+1]):
 *   out[r*ldo + 0..D) += mean_t E[(t % H), :]       (nothing if e has no token)
 * E (H, D); out (n, ldo) with ldo >= D. */
void layer_bag_forward(float *out, size_t ldo, const float *E, uint32_t H, uint32_t D,
                       const uint32_t *ptr, const uint32_t *tok, const uint32_t *ids,
                       uint32_t n);
/* dE (H, D) += scatter of dout (n, ldo) / |tokens| into the token rows only;
 * those rows are recorded in touched (may be NULL). */
void layer_bag_backward(float *dE, layer_rowset_t *touched, const float *dout, size_t ldo,
                        uint32_t H, uint32_t D, const uint32_t *ptr, const uint32_t *tok,
                        const uint32_t *ids, uint32_t n);

/* --- gather of ID embedding rows ----------------------------------------- */

/* out[r*ldo + 0..D) += table[ids[r], :]; table (rows, D), out (n, ldo). */
void layer_gather_forward(float *out, size_t ldo, const float *table, uint32_t D,
                          const uint32_t *ids, uint32_t n);
/* dtable[ids[r], :] += dout[r*ldo + 0..D); rows recorded in touched (may be NULL). */
void layer_gather_backward(float *dtable, layer_rowset_t *touched, const float *dout,
                           size_t ldo, uint32_t D, const uint32_t *ids, uint32_t n);

/* --- mean pool of selected rows (the history encoder) ------------------- */

/* out[r*ldo + 0..D) += mean_{k < cnt[r]} X[idx[r*K + k], :]  (nothing if cnt[r] == 0).
 * X (rows, D), idx (n, K), cnt (n) with cnt[r] <= K. */
void layer_pool_forward(float *out, size_t ldo, const float *X, uint32_t D,
                        const uint32_t *idx, const uint32_t *cnt, uint32_t n, uint32_t K);
/* dX[idx[r*K + k], :] += dout[r*ldo + 0..D) / cnt[r]. */
void layer_pool_backward(float *dX, const float *dout, size_t ldo, uint32_t D,
                         const uint32_t *idx, const uint32_t *cnt, uint32_t n, uint32_t K);

/* --- sampled softmax --------------------------------------------------------- */

/* Row b is a softmax over [U_b . Vpos_b, U_b . Vneg_n for n < N], where
 * negative n is left out of row b if neg[n] == pos[b] (an accidental hit).
 * U (B, D), Vpos (B, D), Vneg (N, D), pos (B), neg (N).
 * Writes the probabilities: ppos (B) of the positive, pneg (B, N) of each
 * negative (0 where masked). The negative logits are one sgemm; the
 * log-sum-exp subtracts the row maximum. Returns the mean over rows of
 * -log ppos, accumulated in double (0 when B == 0). */
double layer_ssm_forward(float *ppos, float *pneg, const float *U, const float *Vpos,
                         const float *Vneg, const uint32_t *pos, const uint32_t *neg,
                         int B, int N, int D);
/* Backward of that mean loss: dU (B, D), dVpos (B, D), dVneg (N, D) +=.
 * pneg (B, N) is overwritten with d loss / d logits of the negatives. */
void layer_ssm_backward(float *dU, float *dVpos, float *dVneg, float *pneg,
                        const float *ppos, const float *U, const float *Vpos,
                        const float *Vneg, int B, int N, int D);

/* --- sampled softmax over the distinct items of a batch ---------------------- */

/* The same loss computed once per distinct item: V (C, D) has one row per
 * distinct item of the batch, the Cn items drawn as negatives first (cnt (Cn):
 * how many of the N negatives are item j), then the items that are only
 * positives; cpos (B) is the column of row b's positive (any of the C). Row b
 * is a softmax over [S[b, cpos[b]], cnt[j] copies of S[b, j] for each
 * j < Cn, j != cpos[b]], S = U V^T: layer_ssm_forward with Vpos_b =
 * V[cpos[b]] and the negatives V[j] repeated cnt[j] times, where the
 * negatives equal to the positive are the masked ones. Writes ppos (B) and
 * P (B, C), P[b, j] = the probability of column j's copies together (0 at
 * cpos[b] and for j >= Cn). One sgemm of B x C instead of B x N and Cn instead
 * of N exponentials per row. Returns the mean loss. */
double layer_ssmc_forward(float *ppos, float *P, const float *U, const float *V,
                          const uint32_t *cpos, const float *cnt, int B, int C, int Cn, int D);
/* The same for rows b0..b1 only (their logits, softmax, ppos and P rows):
 * returns the SUM of their losses, not the mean. Row blocks are independent:
 * two threads may run two blocks at once. With acc != 0 the rows of P hold
 * logits to add to S on entry (S = X + U V^T). */
double layer_ssmc_forward_rows(float *ppos, float *P, const float *U, const float *V,
                               const uint32_t *cpos, const float *cnt, int b0, int b1, int C,
                               int Cn, int D, int acc);
/* Backward of that mean loss: P (B, C) is overwritten with d loss / d S, then
 * dU (B, D) += P V and dV (C, D) += P^T U (either may be NULL). */
void layer_ssmc_backward(float *dU, float *dV, float *P, const float *ppos,
                         const uint32_t *cpos, const float *U, const float *V, int B, int C,
                         int D);
/* Its three parts, so that the last two can run apart: P (B, C) -> G = d loss /
 * d S in place; dU (B, D) += G V; dV (C, D) += G^T U (NULL: nothing). */
void layer_ssmc_grad_logits(float *P, const float *ppos, const uint32_t *cpos, int B, int C);
void layer_ssmc_backward_u(float *dU, const float *G, const float *V, int B, int C, int D);
void layer_ssmc_backward_v(float *dV, const float *G, const float *U, int B, int C, int D);

#endif
