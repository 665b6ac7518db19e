/* common/fixed.c: fixed-point encoding in Z_2^32 (see fixed.h). */
#include "common/fixed.h"

#include <math.h>
#include <string.h>

double fixed_scale_for_clip(float clip) {
  /* largest power of two <= 2^30 / clip */
  int e;
  frexp(1073741824.0 / (double)clip, &e);
  return ldexp(1.0, e - 1);
}

/* One word, as the encoder always did it (nearbyint: the current rounding
 * mode, round-half-even by default; clamped to +-(2^31 - 1); NaN -> 0). */
static inline uint32_t encode_one(float x, double scale) {
  double v = nearbyint((double)x * scale);
  if (v > 2147483647.0) v = 2147483647.0;
  if (v < -2147483647.0) v = -2147483647.0;
  if (v != v) v = 0; /* NaN never reaches here (deltas are checked), but be safe */
  return (uint32_t)(int32_t)v;
}

void fixed_encode_scalar(uint32_t *out, const float *x, size_t n, double scale) {
  for (size_t i = 0; i < n; i++) out[i] = encode_one(x[i], scale);
}

#if defined(__SSE2__)
#include <emmintrin.h>
/* Two words at a time with SSE2 (every x86-64): the same product in double,
 * NaN -> 0, the clamp (an integer bound, so clamping before rounding gives
 * what rounding then clamping gives), then cvtpd2dq, which rounds in the
 * current mode exactly as nearbyint does (half to even by default) and gives
 * the int32 at once. nearbyint was a libm call per element: a quarter of a
 * worker's cycles before sparse deltas. tests/unit/test_msg.c compares the
 * two on ties, the clamp bounds, infinities, NaN and random words. */
void fixed_encode(uint32_t *out, const float *x, size_t n, double scale) {
  const __m128d s = _mm_set1_pd(scale), hi = _mm_set1_pd(2147483647.0), lo = _mm_set1_pd(-2147483647.0);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m128 f = _mm_loadu_ps(x + i);
    __m128d a = _mm_mul_pd(_mm_cvtps_pd(f), s);
    __m128d b = _mm_mul_pd(_mm_cvtps_pd(_mm_movehl_ps(f, f)), s);
    a = _mm_and_pd(a, _mm_cmpord_pd(a, a)); /* NaN -> +0 */
    b = _mm_and_pd(b, _mm_cmpord_pd(b, b));
    a = _mm_max_pd(_mm_min_pd(a, hi), lo);
    b = _mm_max_pd(_mm_min_pd(b, hi), lo);
    __m128i qa = _mm_cvtpd_epi32(a), qb = _mm_cvtpd_epi32(b); /* 2 words each, in the low half */
    _mm_storeu_si128((__m128i *)(void *)(out + i), _mm_unpacklo_epi64(qa, qb));
  }
  for (; i < n; i++) out[i] = encode_one(x[i], scale);
}
#else
void fixed_encode(uint32_t *out, const float *x, size_t n, double scale) { fixed_encode_scalar(out, x, n, scale); }
#endif

void fixed_add(uint32_t *acc, const uint32_t *x, size_t n) {
  for (size_t i = 0; i < n; i++) acc[i] += x[i];
}

void fixed_add_bytes(uint32_t *acc, const void *bytes, size_t n) {
  const uint8_t *b = bytes;
  for (size_t i = 0; i < n; i++) {
    uint32_t w;
    memcpy(&w, b + 4 * i, 4);
    acc[i] += w;
  }
}

int fixed_runs_check(const uint32_t *runs, size_t n_runs, size_t d, size_t n_words) {
  if (n_runs % 2) return -1;
  uint64_t end = 0, total = 0;
  for (size_t k = 0; k < n_runs; k += 2) {
    uint64_t off = runs[k], len = runs[k + 1];
    if (len == 0 || (k && off < end) || off + len > d) return -1;
    end = off + len;
    total += len;
  }
  return total == n_words ? 0 : -1;
}

void fixed_add_runs_bytes(uint32_t *acc, const void *bytes, const uint32_t *runs, size_t n_runs) {
  const uint8_t *b = bytes;
  for (size_t k = 0; k < n_runs; k += 2) {
    fixed_add_bytes(acc + runs[k], b, runs[k + 1]);
    b += 4 * (size_t)runs[k + 1];
  }
}

void fixed_expand_runs(uint32_t *out, size_t d, const void *bytes, const uint32_t *runs, size_t n_runs) {
  const uint8_t *b = bytes;
  memset(out, 0, sizeof(uint32_t) * d);
  for (size_t k = 0; k < n_runs; k += 2) {
    memcpy(out + runs[k], b, 4 * (size_t)runs[k + 1]);
    b += 4 * (size_t)runs[k + 1];
  }
}

void fixed_decode(float *out, const uint32_t *acc, size_t n, double scale) {
  double inv = 1.0 / scale;
  for (size_t i = 0; i < n; i++) out[i] = (float)((double)(int32_t)acc[i] * inv);
}
