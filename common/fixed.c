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

void fixed_encode(uint32_t *out, const float *x, size_t n, double scale) {
  for (size_t i = 0; i < n; i++) {
    double v = nearbyint((double)x[i] * scale);
    if (v > 2147483647.0) v = 2147483647.0;
    if (v < -2147483647.0) v = -2147483647.0;
    if (v != v) v = 0; /* NaN never reaches here (deltas are checked), but be safe */
    out[i] = (uint32_t)(int32_t)v;
  }
}

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
