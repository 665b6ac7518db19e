/* common/fixed.h: fixed-point encoding of deltas in Z_2^32.
 *
 * A platform sends weight * clip(delta) encoded as int32 two's complement,
 * q = round(x * scale). The coordinator adds the words modulo 2^32; integer
 * addition is associative, so the sum (and the meta-model) does not depend on
 * the order in which deltas arrive, and secure-aggregation masks (uniform in
 * Z_2^32) cancel exactly. Every coordinate of a clipped delta has
 * |x| <= clip, and the weights of a round sum to 1, so with
 * scale = 2^30 / clip (rounded down to a power of two) the true sum stays in
 * (-2^30, 2^30): no wrap-around, one bit of headroom for noise.
 * Quantisation error per coordinate of the sum: at most m / (2 * scale) for
 * m contributions (each rounds to nearest). */
#ifndef FEDMETA_FIXED_H
#define FEDMETA_FIXED_H
#include <stddef.h>
#include <stdint.h>

/* The scale for an L2 clip bound (power of two, so decoding is exact). */
double fixed_scale_for_clip(float clip);
/* out[i] = (uint32)(int32)round(x[i] * scale), saturated to +-(2^31 - 1). */
void fixed_encode(uint32_t *out, const float *x, size_t n, double scale);
/* The same, one element at a time with nearbyint (the reference for tests). */
void fixed_encode_scalar(uint32_t *out, const float *x, size_t n, double scale);
/* acc[i] += x[i] (mod 2^32). */
void fixed_add(uint32_t *acc, const uint32_t *x, size_t n);
/* acc[i] += word i of bytes (little-endian, any alignment). */
void fixed_add_bytes(uint32_t *acc, const void *bytes, size_t n);
/* Sparse deltas: runs[0..n_runs) holds n_runs / 2 pairs (offset, length) of
 * words of a d-word vector; the vector's other words are 0. Returns 0 if the
 * runs are well formed (n_runs even, every length >= 1, ascending and
 * disjoint, inside [0, d)) and their lengths add up to n_words, else -1. */
int fixed_runs_check(const uint32_t *runs, size_t n_runs, size_t d, size_t n_words);
/* acc[offset + j] += word j of the run's part of bytes (runs checked). */
void fixed_add_runs_bytes(uint32_t *acc, const void *bytes, const uint32_t *runs, size_t n_runs);
/* out (d words) = the dense vector (runs checked). */
void fixed_expand_runs(uint32_t *out, size_t d, const void *bytes, const uint32_t *runs, size_t n_runs);
/* out[i] = (int32)acc[i] / scale. */
void fixed_decode(float *out, const uint32_t *acc, size_t n, double scale);

#endif
