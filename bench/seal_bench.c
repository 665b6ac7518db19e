/* bench/seal_bench.c: what a masked secure-aggregation input costs to send,
 * sealed whole (encrypted and authenticated, seal_seal / seal_open) against
 * split (the words authenticated in the clear, seal_seal_split /
 * seal_open_split; docs/PROTOCOL.md §3), side by side in one process.
 *
 *   seal_bench [--words N] [--reps R]
 *
 * Defaults: 2^20 words (4 MiB, a Delta of the 1 M-parameter benchmark model)
 * and 15 repetitions. Each repetition seals and opens the same payload both
 * ways, interleaved (so a noisy neighbour hits both); the figures are the
 * medians over repetitions of one call's wall time on this thread, and the
 * ratio is the median of the per-repetition ratios. The bulk crypto engine
 * (OpenSSL or libsodium, common/bulk.h) is printed. Each opened message is
 * checked against what was sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/bulk.h"
#include "common/seal.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what, const fm_err *err) {
  fprintf(stderr, "seal_bench: %s: %s\n", what, err ? err->msg : "");
  exit(1);
}

int main(int argc, char **argv) {
  size_t words = (size_t)1 << 20;
  int reps = 15;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--words") && i + 1 < argc) words = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: seal_bench [--words N] [--reps R]\n");
      return 2;
    }
  }
  if (words < 1 || reps < 1) die("--words and --reps must be positive", NULL);
  fm_err err;
  seal_identity_t ia, ib;
  seal_session_t a, b;
  if (seal_identity_generate(&ia, &err) || seal_identity_generate(&ib, &err)) die("identity", &err);
  if (seal_session_init(&a, &ia, 1, ib.kx_pk, 0, 42, &err) || seal_session_init(&b, &ib, 0, ia.kx_pk, 1, 42, &err))
    die("session", &err);
  seal_session_set_round(&b, 0, SEAL_ROUND_FORWARD);
  const size_t clear = words * 4, rest = 48; /* the Delta's other fields: about 48 bytes */
  uint8_t *payload = malloc(clear + rest), *full = malloc(seal_sealed_len(clear + rest)),
          *split = malloc(seal_split_len(rest, clear)), *out = malloc(clear + rest + 64);
  double *ts = malloc(sizeof(double) * (size_t)reps * 5);
  if (!payload || !full || !split || !out || !ts) die("out of memory", NULL);
  for (size_t i = 0; i < clear + rest; i++) payload[i] = (uint8_t)(i * 2654435761u >> 13);
  double *seal_full = ts, *open_full = ts + reps, *seal_split = ts + 2 * reps, *open_split = ts + 3 * reps,
         *ratio = ts + 4 * reps;
  for (int r = 0; r < reps; r++) {
    size_t n;
    const uint8_t *cp;
    size_t cl;
    double t0 = now();
    if (seal_seal(full, seal_sealed_len(clear + rest), &a, 0, 13, payload, clear + rest, &err)) die("seal", &err);
    double t1 = now();
    if (seal_open(out, clear + rest + 64, &n, NULL, &b, 13, full, seal_sealed_len(clear + rest), &err)) die("open", &err);
    double t2 = now();
    if (n != clear + rest || memcmp(out, payload, n)) die("sealed message does not round-trip", NULL);
    memcpy(split + SEAL_SPLIT_CLEAR_OFF, payload, clear); /* where the masked words are made */
    double t3 = now();
    if (seal_seal_split(split, seal_split_len(rest, clear), &a, 0, 13, payload + clear, rest, clear, &err))
      die("seal split", &err);
    double t4 = now();
    if (seal_open_split(out, clear + rest + 64, &n, &cp, &cl, NULL, &b, 13, split, seal_split_len(rest, clear), &err))
      die("open split", &err);
    double t5 = now();
    if (n != rest || cl != clear || memcmp(out, payload + clear, rest) || memcmp(cp, payload, clear))
      die("split message does not round-trip", NULL);
    seal_full[r] = t1 - t0;
    open_full[r] = t2 - t1;
    seal_split[r] = t4 - t3;
    open_split[r] = t5 - t4;
    ratio[r] = (t5 - t3) / (t2 - t0);
  }
  printf("# seal_bench: %zu words (%.1f MiB) + %zu bytes, %d repetitions, bulk crypto: %s\n", words,
         clear / 1048576.0, rest, reps, bulk_engine());
  printf("| message | seal (ms) | open (ms) |\n|---|---:|---:|\n");
  printf("| sealed whole | %.3f | %.3f |\n", 1e3 * median(seal_full, reps), 1e3 * median(open_full, reps));
  printf("| split (words clear, authenticated) | %.3f | %.3f |\n", 1e3 * median(seal_split, reps),
         1e3 * median(open_split, reps));
  printf("split / whole, seal + open: %.2f\n", median(ratio, reps));
  free(payload);
  free(full);
  free(split);
  free(out);
  free(ts);
  seal_session_free(&a);
  seal_session_free(&b);
  seal_identity_free(&ia);
  seal_identity_free(&ib);
  return 0;
}
