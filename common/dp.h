/* common/dp.h: client-level differential privacy: L2 clipping, noise, and the
 * RDP accountant of the sampled Gaussian mechanism.
 *
 * Noise randomness is never the simulation RNG (common/rng.h): a dp_rng is a
 * ChaCha20 keystream keyed from randombytes_buf (dp_rng_init_secure). For
 * reproducible tests and benchmarks, dp_rng_init_seeded keys it from a public
 * seed instead: the noise is then known to anyone who knows the seed, so a run
 * made that way carries NO privacy guarantee (the run must say so).
 *
 * Two noise paths:
 *  - plain: dp_gauss_add adds N(0, sigma^2) floats (Box-Muller on 53-bit
 *    uniforms). Floating-point noise is subject to the least-significant-bit
 *    attacks of Mironov (CCS 2012); prefer adding integer noise to the
 *    fixed-point sum (dp_dgauss_add on the aggregate) where possible.
 *  - distributed (secure aggregation): each of the platforms adds discrete
 *    Gaussian noise N_Z(0, sigma_p^2) to its fixed-point words before masking,
 *    sigma_p = sigma / sqrt(n_min) (dp_sigma_per_party), so the sum over at
 *    least n_min survivors has variance >= sigma^2. The sum of independent
 *    discrete Gaussians is not exactly a discrete Gaussian, but for sigma_p >= 1
 *    it is within a total-variation-like distance of 10 n exp(-2 pi^2 sigma_p^2)
 *    (Kairouz, Liu, Steinke, ICML 2021, Thm 2.1) - negligible here, where
 *    sigma_p is thousands of fixed-point units or more.
 *
 * The discrete Gaussian sampler is Algorithm 3 of Canonne, Kamath, Steinke
 * (NeurIPS 2020): a discrete Laplace proposal with scale t = floor(sigma) + 1,
 * accepted with probability exp(-(|Y| - sigma^2/t)^2 / (2 sigma^2)). The exact
 * algorithm needs big-rational Bernoulli trials; here the geometric draw and the
 * acceptance test use double precision (as TensorFlow Privacy's sampler does),
 * so probabilities are right to about 1e-15 relative, not bit-exact.
 *
 * Accountant: Rényi DP of the Poisson-sampled Gaussian mechanism (Mironov,
 * Talwar, Zhang 2019), computed as in TF Privacy / Opacus: integer orders by
 * the binomial expansion (_compute_log_a_int), fractional orders by the
 * two-sided series (_compute_log_a_frac), in log space. Composition over
 * segments of equal (q, z); conversion to (epsilon, delta) by the improved
 * bound of Balle et al. 2020 (Hypothesis testing interpretations and Rényi DP,
 * Thm 21; also Canonne-Kamath-Steinke 2020 Prop 12):
 *   eps = min_a  rdp(a) + log1p(-1/a) - log(delta * a) / (a - 1)
 * (dp_eps_from_rdp with DP_CONV_CLASSIC gives eps = rdp(a) + log(1/delta)/(a-1)).
 *
 * Units: the accountant is unit-free (z = noise std / L2 sensitivity).
 * See docs/PROTOCOL-crypto-draft.md for the fixed-point sensitivity and scale. */
#ifndef FEDMETA_DP_H
#define FEDMETA_DP_H
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define DP_WUR __attribute__((warn_unused_result))

/* --- (a) clipping -------------------------------------------------------- */

/* Scales x to L2 norm <= clip (clip > 0); returns the norm before clipping
 * (summed in double, index order: deterministic). A non-finite norm zeroes x
 * and returns it (the caller should count such a delta as rejected). */
double dp_clip_l2(float *x, size_t n, double clip);

/* --- (b) noise ----------------------------------------------------------- */

typedef struct dp_rng_state dp_rng_state_t; /* sodium_malloc'd key and buffer */

typedef struct dp_rng {
  dp_rng_state_t *st; /* owned */
  int secure;         /* 1: keyed from randombytes_buf; 0: test mode (no privacy) */
} dp_rng_t;

/* A noise generator keyed with 32 bytes of randombytes_buf. */
int dp_rng_init_secure(dp_rng_t *r, fm_err *err) DP_WUR;
/* TEST MODE: keyed from (seed, stream) by BLAKE2b; reproducible, NOT private. */
int dp_rng_init_seeded(dp_rng_t *r, uint64_t seed, uint64_t stream, fm_err *err) DP_WUR;
/* Wipes and frees; accepts NULL and an empty generator. */
void dp_rng_free(dp_rng_t *r);
uint64_t dp_rng_u64(dp_rng_t *r);
/* Uniform in (0, 1), 53 bits: never 0 or 1. */
double dp_rng_uniform(dp_rng_t *r);
/* Standard normal (Box-Muller). */
double dp_rng_normal(dp_rng_t *r);

/* x[i] += N(0, sigma^2) as float. */
void dp_gauss_add(float *x, size_t n, double sigma, dp_rng_t *r);
/* One draw from the discrete Gaussian N_Z(0, sigma^2), 0 < sigma <= 2^40. */
int64_t dp_dgauss_sample(dp_rng_t *r, double sigma);
/* words[i] += N_Z(0, sigma^2) (mod 2^32): integer noise in fixed-point units. */
void dp_dgauss_add(uint32_t *words, size_t n, double sigma, dp_rng_t *r);
/* Per-party noise std so that any n_min parties' noise sums to variance >= sigma^2. */
double dp_sigma_per_party(double sigma, uint32_t n_min);

/* L2 sensitivity, in fixed-point units, of one party's encoded contribution:
 * weight * clip * scale + sqrt(d) / 2 (round-to-nearest moves each of d
 * coordinates by at most 1/2 unit). */
double dp_fixed_sensitivity(double clip, double weight, double scale, size_t d);
/* The largest power-of-two scale such that scale * (bound + tail * sigma) <= 2^30,
 * where bound is the largest |coordinate| of the noise-free sum (real units),
 * sigma the total noise std (real units) and tail the number of standard
 * deviations to allow (e.g. 8: P(|N| > 8 sigma) ~ 1e-15 per coordinate). Keeps
 * the noisy sum inside int32 with one bit to spare, like fixed_scale_for_clip. */
double dp_fixed_scale(double bound, double sigma, double tail);

/* --- (c) accountant ------------------------------------------------------ */

/* The orders used: 1.1, 1.2, ..., 10.9, 11, 12, ..., 64, 80, 96, 128, 192, 256. */
extern const double DP_ORDERS[];
extern const size_t DP_N_ORDERS;

/* RDP at order alpha > 1 of one step of the Poisson-sampled Gaussian mechanism
 * with sampling rate q in [0, 1] and noise multiplier z >= 0 (std / sensitivity).
 * q = 1 gives alpha / (2 z^2) exactly. May return INFINITY. */
double dp_rdp_sgm(double q, double z, double alpha);

enum { DP_CONV_BALLE2020 = 0, DP_CONV_CLASSIC = 1 };
/* The smallest epsilon over the orders for a given delta in (0, 1), and the
 * order that gives it. */
int dp_eps_from_rdp(double *eps, double *order, const double *orders, const double *rdp, size_t n,
                    double delta, int conversion, fm_err *err) DP_WUR;

#define DP_ACCT_MAX_SEG 64
/* Accountant state: a plain struct of numbers (checkpoint it as is). */
typedef struct dp_acct_seg {
  double q, z;
  uint64_t steps;
} dp_acct_seg_t;

typedef struct dp_acct {
  uint32_t n_seg;
  dp_acct_seg_t seg[DP_ACCT_MAX_SEG];
} dp_acct_t;

void dp_acct_init(dp_acct_t *a);
/* Records `steps` releases at (q, z); merged into the last segment when q and z
 * are equal. Fails when q or z are out of range or segments run out. */
int dp_acct_step(dp_acct_t *a, double q, double z, uint64_t steps, fm_err *err) DP_WUR;
/* Epsilon at delta of everything recorded (0 when nothing is). */
int dp_acct_epsilon(double *eps, double *order, const dp_acct_t *a, double delta, fm_err *err) DP_WUR;
/* Epsilon if `steps` more releases at (q, z) were made (to stop before a target). */
int dp_acct_epsilon_after(double *eps, const dp_acct_t *a, double q, double z, uint64_t steps, double delta,
                          fm_err *err) DP_WUR;

#endif
