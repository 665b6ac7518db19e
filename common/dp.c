/* common/dp.c: clipping, noise generators and the RDP accountant (see dp.h). */
#include "common/dp.h"

#include <math.h>
#include <sodium.h>
#include <string.h>

#define DP_PI 3.14159265358979323846
#define DP_SQRT2 1.41421356237309504880

/* --- (a) clipping -------------------------------------------------------- */

double dp_clip_l2(float *x, size_t n, double clip) {
  double ss = 0;
  for (size_t i = 0; i < n; i++) ss += (double)x[i] * (double)x[i];
  double norm = sqrt(ss);
  if (!isfinite(norm)) {
    memset(x, 0, n * sizeof *x);
    return norm;
  }
  if (norm > clip) {
    double f = clip / norm;
    for (size_t i = 0; i < n; i++) x[i] = (float)((double)x[i] * f);
    /* float rounding may leave the norm a hair above clip: shrink until it is not */
    for (int k = 0; k < 4; k++) {
      double s2 = 0;
      for (size_t i = 0; i < n; i++) s2 += (double)x[i] * (double)x[i];
      if (sqrt(s2) <= clip) break;
      for (size_t i = 0; i < n; i++) x[i] = nextafterf(x[i], 0.0f);
    }
  }
  return norm;
}

/* --- (b) noise generator ------------------------------------------------- */

#define DP_BUF_WORDS 128 /* 8 ChaCha20 blocks */

struct dp_rng_state {
  uint8_t key[32];
  uint64_t block; /* next ChaCha20 block */
  uint64_t buf[DP_BUF_WORDS / 2];
  uint32_t pos; /* next unused uint64 in buf */
  int have_spare;
  double spare; /* second Box-Muller output */
};

static const uint8_t DP_NONCE[8] = {'f', 'm', '-', 'd', 'p', 'v', '1', 0};

static int rng_alloc(dp_rng_t *r, fm_err *err) {
  memset(r, 0, sizeof *r);
  if (sodium_init() < 0) return fm_fail(err, "libsodium failed to initialise");
  r->st = sodium_malloc(sizeof *r->st);
  if (!r->st) return fm_fail(err, "dp: cannot allocate protected memory");
  memset(r->st, 0, sizeof *r->st);
  r->st->pos = DP_BUF_WORDS / 2; /* empty */
  return 0;
}

int dp_rng_init_secure(dp_rng_t *r, fm_err *err) {
  if (rng_alloc(r, err)) return -1;
  randombytes_buf(r->st->key, sizeof r->st->key);
  r->secure = 1;
  return 0;
}

int dp_rng_init_seeded(dp_rng_t *r, uint64_t seed, uint64_t stream, fm_err *err) {
  if (rng_alloc(r, err)) return -1;
  static const char tag[] = "fedmeta-dp-test-mode-v1";
  uint8_t m[sizeof tag + 16];
  memcpy(m, tag, sizeof tag);
  for (int i = 0; i < 8; i++) {
    m[sizeof tag + i] = (uint8_t)(seed >> (8 * i));
    m[sizeof tag + 8 + i] = (uint8_t)(stream >> (8 * i));
  }
  crypto_generichash(r->st->key, sizeof r->st->key, m, sizeof m, NULL, 0);
  r->secure = 0;
  return 0;
}

void dp_rng_free(dp_rng_t *r) {
  if (!r) return;
  if (r->st) sodium_free(r->st);
  memset(r, 0, sizeof *r);
}

uint64_t dp_rng_u64(dp_rng_t *r) {
  dp_rng_state_t *s = r->st;
  if (s->pos == DP_BUF_WORDS / 2) {
    uint8_t *b = (uint8_t *)s->buf;
    memset(b, 0, sizeof s->buf);
    crypto_stream_chacha20_xor_ic(b, b, sizeof s->buf, DP_NONCE, s->block, s->key);
    s->block += sizeof s->buf / 64;
    s->pos = 0;
  }
  uint64_t v;
  const uint8_t *p = (const uint8_t *)&s->buf[s->pos++];
  v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i]; /* little-endian, any host */
  return v;
}

double dp_rng_uniform(dp_rng_t *r) { return ((double)(dp_rng_u64(r) >> 11) + 0.5) * 0x1p-53; }

double dp_rng_normal(dp_rng_t *r) {
  dp_rng_state_t *s = r->st;
  if (s->have_spare) {
    s->have_spare = 0;
    return s->spare;
  }
  double u1 = dp_rng_uniform(r), u2 = dp_rng_uniform(r);
  double rad = sqrt(-2.0 * log(u1)), th = 2.0 * DP_PI * u2;
  s->spare = rad * sin(th);
  s->have_spare = 1;
  return rad * cos(th);
}

void dp_gauss_add(float *x, size_t n, double sigma, dp_rng_t *r) {
  for (size_t i = 0; i < n; i++) x[i] = (float)((double)x[i] + sigma * dp_rng_normal(r));
}

/* Discrete Laplace with P(Y = y) proportional to exp(-|y| / t): magnitude
 * geometric with ratio exp(-1/t) by inversion, random sign, (-, 0) rejected
 * so 0 is not counted twice. */
static int64_t dlaplace(dp_rng_t *r, double t) {
  for (;;) {
    double g = floor(-t * log(dp_rng_uniform(r)));
    uint64_t bits = dp_rng_u64(r);
    int neg = (int)(bits & 1);
    if (neg && g == 0) continue;
    return neg ? -(int64_t)g : (int64_t)g;
  }
}

int64_t dp_dgauss_sample(dp_rng_t *r, double sigma) {
  double t = floor(sigma) + 1.0, s2 = sigma * sigma;
  for (;;) {
    int64_t y = dlaplace(r, t);
    double a = fabs((double)y) - s2 / t;
    if (dp_rng_uniform(r) < exp(-(a * a) / (2.0 * s2))) return y;
  }
}

void dp_dgauss_add(uint32_t *words, size_t n, double sigma, dp_rng_t *r) {
  for (size_t i = 0; i < n; i++) words[i] += (uint32_t)dp_dgauss_sample(r, sigma); /* mod 2^32 */
}

double dp_sigma_per_party(double sigma, uint32_t n_min) { return sigma / sqrt((double)(n_min ? n_min : 1)); }

double dp_fixed_sensitivity(double clip, double weight, double scale, size_t d) {
  return weight * clip * scale + 0.5 * sqrt((double)d);
}

double dp_fixed_scale(double bound, double sigma, double tail) {
  double m = bound + tail * sigma;
  if (!(m > 0)) return 1.0;
  int e;
  frexp(1073741824.0 / m, &e); /* 2^30 / m = f * 2^e, f in [0.5, 1) */
  return ldexp(1.0, e - 1);
}

/* --- (c) accountant ------------------------------------------------------ */

const double DP_ORDERS[] = {
    1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1, 2.2, 2.3, 2.4, 2.5, 2.6, 2.7, 2.8, 2.9, 3.0,
    3.1, 3.2, 3.3, 3.4, 3.5, 3.6, 3.7, 3.8, 3.9, 4.0, 4.1, 4.2, 4.3, 4.4, 4.5, 4.6, 4.7, 4.8, 4.9, 5.0,
    5.1, 5.2, 5.3, 5.4, 5.5, 5.6, 5.7, 5.8, 5.9, 6.0, 6.1, 6.2, 6.3, 6.4, 6.5, 6.6, 6.7, 6.8, 6.9, 7.0,
    7.1, 7.2, 7.3, 7.4, 7.5, 7.6, 7.7, 7.8, 7.9, 8.0, 8.1, 8.2, 8.3, 8.4, 8.5, 8.6, 8.7, 8.8, 8.9, 9.0,
    9.1, 9.2, 9.3, 9.4, 9.5, 9.6, 9.7, 9.8, 9.9, 10.0, 10.1, 10.2, 10.3, 10.4, 10.5, 10.6, 10.7, 10.8, 10.9,
    11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,
    36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60,
    61, 62, 63, 64, 80, 96, 128, 192, 256};
const size_t DP_N_ORDERS = sizeof DP_ORDERS / sizeof DP_ORDERS[0];

static double log_add(double a, double b) {
  double lo = a < b ? a : b, hi = a < b ? b : a;
  if (lo == -INFINITY) return hi;
  return log1p(exp(lo - hi)) + hi;
}

static double log_comb(double n, double k) { return lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1); }

/* log(exp(a) - exp(b)) for a >= b (NaN otherwise: the caller's series failed). */
static double log_sub(double a, double b) {
  if (a < b) return NAN;
  if (b == -INFINITY) return a;
  if (a == b) return -INFINITY;
  return log(expm1(a - b)) + b;
}

/* log(erfc(x)), accurate where erfc underflows (asymptotic series, x > 25). */
static double log_erfc(double x) {
  if (x < 25.0) return log(erfc(x));
  double x2 = x * x, ix2 = 1.0 / x2;
  double series = 1.0 - 0.5 * ix2 + 0.75 * ix2 * ix2 - 1.875 * ix2 * ix2 * ix2 + 6.5625 * ix2 * ix2 * ix2 * ix2;
  return -x2 - log(x) - 0.5 * log(DP_PI) + log(series);
}

/* log A_alpha for integer alpha, 0 < q < 1 (TF Privacy _compute_log_a_int). */
static double log_a_int(double q, double sigma, int alpha) {
  double la = -INFINITY, l1q = log1p(-q), lq = log(q);
  for (int i = 0; i <= alpha; i++) {
    double c = log_comb(alpha, i) + i * lq + (alpha - i) * l1q;
    la = log_add(la, c + ((double)i * i - i) / (2.0 * sigma * sigma));
  }
  return la;
}

/* log A_alpha for fractional alpha, 0 < q < 1 (Mironov-Talwar-Zhang 2019
 * Sec. 3.3; TF Privacy rdp_accountant._compute_log_a_frac). The binomial
 * coefficient C(alpha, i) is negative for an odd number of factors alpha - k < 0
 * (k = ceil(alpha) .. i-1): those terms are subtracted, as in TF Privacy's
 * rdp_accountant; summing their absolute values overstates RDP (3 % at
 * q = 0.01, z = 2.5, alpha = 1.5 against numerical integration). */
static double log_a_frac(double q, double sigma, double alpha) {
  double la0 = -INFINITY, la1 = -INFINITY;
  double z0 = sigma * sigma * log(1.0 / q - 1.0) + 0.5, l1q = log1p(-q), lq = log(q);
  double last0 = -INFINITY, last1 = -INFINITY;
  for (int i = 0; i < 1000; i++) {
    double coef = log_comb(alpha, i), j = alpha - i;
    double t0 = coef + i * lq + j * l1q, t1 = coef + j * lq + i * l1q;
    double e0 = log(0.5) + log_erfc((i - z0) / (DP_SQRT2 * sigma));
    double e1 = log(0.5) + log_erfc((z0 - j) / (DP_SQRT2 * sigma));
    double s0 = t0 + ((double)i * i - i) / (2.0 * sigma * sigma) + e0;
    double s1 = t1 + (j * j - j) / (2.0 * sigma * sigma) + e1;
    int neg = i > (int)ceil(alpha) && ((i - (int)ceil(alpha)) & 1);
    la0 = neg ? log_sub(la0, s0) : log_add(la0, s0);
    la1 = neg ? log_sub(la1, s1) : log_add(la1, s1);
    if (isnan(la0) || isnan(la1)) return INFINITY;
    double total = log_add(la0, la1);
    if (s0 < last0 && s1 < last1 && fmax(s0, s1) < total - 30) return total;
    last0 = s0;
    last1 = s1;
  }
  return INFINITY; /* did not converge: the order is left out */
}

double dp_rdp_sgm(double q, double z, double alpha) {
  if (q == 0) return 0;
  if (z == 0 || isinf(alpha)) return INFINITY;
  if (q == 1.0) return alpha / (2.0 * z * z);
  double la = alpha == floor(alpha) ? log_a_int(q, z, (int)alpha) : log_a_frac(q, z, alpha);
  return la / (alpha - 1.0);
}

int dp_eps_from_rdp(double *eps, double *order, const double *orders, const double *rdp, size_t n,
                    double delta, int conversion, fm_err *err) {
  if (!(delta > 0 && delta < 1)) return fm_fail(err, "dp: delta = %g must be in (0, 1)", delta);
  double best = INFINITY, best_a = NAN;
  for (size_t k = 0; k < n; k++) {
    double a = orders[k], r = rdp[k], e;
    if (!(a > 1)) return fm_fail(err, "dp: Rényi order %g must be above 1", a);
    if (r < 0 || isnan(r)) continue;
    if (conversion == DP_CONV_CLASSIC) {
      e = r - log(delta) / (a - 1);
    } else if (delta * delta + expm1(-r) > 0) {
      e = 0; /* the KL bound delta <= sqrt(1 - exp(-rdp)) already holds */
    } else if (a > 1.01) {
      e = r + log1p(-1.0 / a) - log(delta * a) / (a - 1);
    } else {
      e = INFINITY;
    }
    if (e < best) {
      best = e;
      best_a = a;
    }
  }
  *eps = best < 0 ? 0 : best;
  if (order) *order = best_a;
  return 0;
}

void dp_acct_init(dp_acct_t *a) { memset(a, 0, sizeof *a); }

int dp_acct_step(dp_acct_t *a, double q, double z, uint64_t steps, fm_err *err) {
  if (!(q >= 0 && q <= 1)) return fm_fail(err, "dp: sampling rate q = %g must be in [0, 1]", q);
  if (!(z >= 0) || isinf(z)) return fm_fail(err, "dp: noise multiplier z = %g must be >= 0 and finite", z);
  if (steps == 0) return 0;
  if (a->n_seg && a->seg[a->n_seg - 1].q == q && a->seg[a->n_seg - 1].z == z) {
    a->seg[a->n_seg - 1].steps += steps;
    return 0;
  }
  if (a->n_seg == DP_ACCT_MAX_SEG)
    return fm_fail(err, "dp: more than %d changes of (q, z) to account for", DP_ACCT_MAX_SEG);
  a->seg[a->n_seg++] = (dp_acct_seg_t){q, z, steps};
  return 0;
}

static int acct_eps(double *eps, double *order, const dp_acct_t *a, const dp_acct_seg_t *extra, double delta,
                    fm_err *err) {
  double rdp[sizeof DP_ORDERS / sizeof DP_ORDERS[0]];
  int any = 0;
  for (size_t k = 0; k < DP_N_ORDERS; k++) {
    double s = 0;
    for (uint32_t i = 0; i <= a->n_seg; i++) {
      const dp_acct_seg_t *g = i < a->n_seg ? &a->seg[i] : extra;
      if (!g || g->steps == 0) continue;
      any = 1;
      s += (double)g->steps * dp_rdp_sgm(g->q, g->z, DP_ORDERS[k]);
    }
    rdp[k] = s;
  }
  if (!any) {
    if (!(delta > 0 && delta < 1)) return fm_fail(err, "dp: delta = %g must be in (0, 1)", delta);
    *eps = 0;
    if (order) *order = NAN;
    return 0;
  }
  return dp_eps_from_rdp(eps, order, DP_ORDERS, rdp, DP_N_ORDERS, delta, DP_CONV_BALLE2020, err);
}

int dp_acct_epsilon(double *eps, double *order, const dp_acct_t *a, double delta, fm_err *err) {
  return acct_eps(eps, order, a, NULL, delta, err);
}

int dp_acct_epsilon_after(double *eps, const dp_acct_t *a, double q, double z, uint64_t steps, double delta,
                          fm_err *err) {
  if (!(q >= 0 && q <= 1) || !(z >= 0)) return fm_fail(err, "dp: q = %g, z = %g out of range", q, z);
  dp_acct_seg_t extra = {q, z, steps};
  return acct_eps(eps, NULL, a, &extra, delta, err);
}
