/* bench/eval_bench.c: full-ranking evaluation throughput (users ranked per
 * second) against this machine's OpenBLAS sgemm peak, measured in the same
 * process, side by side, at every requested OpenBLAS thread count.
 *
 *   eval_bench [--items N] [--users U] [--dim D] [--hidden H] [--buckets-log2 B]
 *              [--hist-len L] [--truth T] [--excl X] [--threads "1 2"]
 *              [--reps R] [--peak-n P] [--block K] [--tile W] [--sort-users S]
 *              [--pop-prior on|off] [--seed S]
 *
 * Defaults: the default model (D 32, hidden 64, 2^14 buckets, history 20, the
 * popularity prior on: scoring vectors of D + 1 = 33; --pop-prior off: 32), a
 * catalogue of 100,000 items, 4,096 evaluated users, 10 relevant and 20
 * excluded items per user (so every metric is computed, MRR included).
 *
 * The dataset is synthetic (random tokens, histories, relevant and excluded
 * items; only the shapes matter for speed); theta and the local embeddings
 * are the model's own initialisation. Each repetition runs, for each thread
 * count in turn (interleaved, so that a noisy neighbour hits all of them):
 *
 *   peak    sgemm P x P x P (C = A B, P = 1024): GFLOP/s = 2 P^3 / t;
 *   gemm    the scoring sgemm alone, in the driver's tiles (U_blk V_tile^T,
 *           --block users x --tile items; 0 = the driver's defaults), no
 *           ranking: the ceiling of the scoring step for this shape;
 *   rank    metrics_rank_dot: sgemm tiles + exact partial top-20 + MRR
 *           (what `fedmeta train` / `eval` run), given the user and item
 *           vectors, with the driver's ranking threads (one per OpenBLAS
 *           thread, each calling a one-thread sgemm);
 *   rank1   (threads > 1 only) the same with one ranking thread (what the
 *           driver does below METRICS_THREAD_MIN_WORK);
 *   old     (built with -DEVAL_BENCH_LEGACY by bench/eval_before_after.sh only)
 *           an earlier commit's metrics_rank_dot_block on the same vectors;
 *           its metrics must be the same;
 *   towers  model_item_vectors over the catalogue + model_user_vectors;
 *   e2e     adapt_score: towers and ranking, what an evaluation costs.
 *
 * A scoring FLOP count is 2 D per (user, item): GFLOP/s of rank = 2 D n_items
 * users / t, and its fraction of the same thread count's peak is printed.
 * --sort-users S (default 64, 0 = off): also ranks S users by a full qsort of
 * their canonical score row (the naive way) for comparison.
 *
 * Every phase is timed by the wall clock and by the process CPU time (all
 * threads): on a shared machine the CPU-time rates ("per_cpu_s", and the
 * fraction of the sgemm peak per CPU second) hardly depend on other jobs, but
 * show no parallel speed-up; the wall-clock ones need the cores to be free.
 * The peak and gemm phases use OpenBLAS's own threads. Output: one line per
 * (phase, threads) with the median and best of the repetitions ("key value"
 * pairs, parsed by bench/eval_bench.sh), and a hash of the rank metrics:
 * they must not depend on the thread count (checked: exit 1 otherwise). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "common/dataset.h"
#include "common/error.h"
#include "common/metrics.h"
#include "common/model.h"
#include "common/rng.h"
#include "worker/adapt.h"

#ifdef EVAL_BENCH_LEGACY
/* bench/eval_before_after.sh: an earlier common/metrics.c, its public names
 * prefixed with old_, linked in for a side-by-side "old" phase. */
int old_metrics_rank_dot_block(metrics_t *out, metrics_user_t *per_user, const float *U,
                               const float *V, uint32_t dim, const dataset_t *ds, uint32_t block,
                               fm_err *err);
#endif

/* OpenBLAS's own (not declared by every cblas.h). */
extern void openblas_set_num_threads(int);
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Process CPU seconds (every thread's): on a shared machine, less sensitive to
 * other jobs than the wall clock (but blind to parallel speed-up). */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *x, int n) {
  qsort(x, (size_t)n, sizeof *x, cmp_double);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

static double best(const double *x, int n) {
  double m = x[0];
  for (int i = 1; i < n; i++) m = x[i] < m ? x[i] : m;
  return m;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "eval_bench: out of memory (%zu bytes)\n", n);
    exit(1);
  }
  return p;
}

/* Distinct draws from [0, n) (k << n). */
static void draw_distinct(rng_t *r, uint32_t *out, uint32_t k, uint32_t n) {
  for (uint32_t a = 0; a < k;) {
    uint32_t x = rng_below(r, n), dup = 0;
    for (uint32_t b = 0; b < a; b++) dup |= out[b] == x;
    if (!dup) out[a++] = x;
  }
}

/* A synthetic dataset: n_users users, all evaluated; tokens, histories,
 * relevant items (not in the history) and excluded items (the history). */
static void make_dataset(dataset_t *ds, uint32_t n_users, uint32_t n_items, uint32_t n_truth,
                         uint32_t n_excl, uint64_t seed) {
  rng_t r;
  rng_seed(&r, seed, RNG_EVAL, 0x65766231u);
  memset(ds, 0, sizeof *ds);
  ds->n_users = ds->n_eval = n_users;
  ds->n_items = n_items;
  const uint32_t UT = 4, IT = 5;
  ds->utok_ptr = xmalloc((n_users + 1ull) * 4), ds->utok = xmalloc((size_t)n_users * UT * 4);
  ds->itok_ptr = xmalloc((n_items + 1ull) * 4), ds->itok = xmalloc((size_t)n_items * IT * 4);
  for (uint32_t u = 0; u <= n_users; u++) ds->utok_ptr[u] = u * UT;
  for (uint32_t i = 0; i <= n_items; i++) ds->itok_ptr[i] = i * IT;
  for (size_t k = 0; k < (size_t)n_users * UT; k++) ds->utok[k] = (uint32_t)rng_next(&r);
  for (size_t k = 0; k < (size_t)n_items * IT; k++) ds->itok[k] = (uint32_t)rng_next(&r);
  ds->eval_user = xmalloc((size_t)n_users * 4);
  ds->hist_ptr = xmalloc((n_users + 1ull) * 4), ds->hist = xmalloc((size_t)n_users * n_excl * 4);
  ds->excl_ptr = xmalloc((n_users + 1ull) * 4), ds->excl = xmalloc((size_t)n_users * n_excl * 4);
  ds->truth_ptr = xmalloc((n_users + 1ull) * 4), ds->truth = xmalloc((size_t)n_users * n_truth * 4);
  uint32_t *both = xmalloc(((size_t)n_truth + n_excl) * 4);
  for (uint32_t u = 0; u < n_users; u++) {
    ds->eval_user[u] = u;
    ds->hist_ptr[u] = ds->excl_ptr[u] = u * n_excl;
    ds->truth_ptr[u] = u * n_truth;
    draw_distinct(&r, both, n_truth + n_excl, n_items);
    memcpy(ds->hist + (size_t)u * n_excl, both, n_excl * 4ull);
    memcpy(ds->excl + (size_t)u * n_excl, both, n_excl * 4ull);
    memcpy(ds->truth + (size_t)u * n_truth, both + n_excl, n_truth * 4ull);
  }
  ds->hist_ptr[n_users] = ds->excl_ptr[n_users] = n_users * n_excl;
  ds->truth_ptr[n_users] = n_users * n_truth;
  ds->item_pop = xmalloc((size_t)n_items * 4);
  for (uint32_t i = 0; i < n_items; i++) ds->item_pop[i] = (float)rng_below(&r, 100); /* counts */
  free(both);
}

static void free_dataset(dataset_t *ds) {
  free(ds->utok_ptr), free(ds->utok), free(ds->itok_ptr), free(ds->itok);
  free(ds->eval_user), free(ds->hist_ptr), free(ds->hist), free(ds->excl_ptr), free(ds->excl);
  free(ds->truth_ptr), free(ds->truth), free(ds->item_pop);
}

/* ---- the naive reference: score a row, qsort all items, read the metrics ---- */

static const float *g_row;
static int cmp_item(const void *a, const void *b) {
  uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
  if (g_row[i] != g_row[j]) return g_row[i] > g_row[j] ? -1 : 1;
  return (i > j) - (i < j);
}

static double sort_users(const float *U, const float *V, uint32_t D, const dataset_t *ds,
                         uint32_t n) {
  const uint32_t N = ds->n_items;
  float *row = xmalloc((size_t)N * 4);
  uint32_t *ord = xmalloc((size_t)N * 4);
  uint8_t *ex = calloc(N, 1);
  double sum = 0;
  for (uint32_t u = 0; u < n; u++) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)N, (int)D, 1.0f, V, (int)D,
                U + (size_t)u * D, 1, 0.0f, row, 1);
    for (uint32_t k = ds->excl_ptr[u]; k < ds->excl_ptr[u + 1]; k++) ex[ds->excl[k]] = 1;
    uint32_t m = 0;
    for (uint32_t i = 0; i < N; i++)
      if (!ex[i]) ord[m++] = i;
    g_row = row;
    qsort(ord, m, sizeof *ord, cmp_item);
    for (uint32_t k = ds->excl_ptr[u]; k < ds->excl_ptr[u + 1]; k++) ex[ds->excl[k]] = 0;
    sum += ord[0];
  }
  free(row), free(ord), free(ex);
  return sum;
}

/* GFLOP/s of one P^3 sgemm, by the wall clock; *per_cpu: by CPU time. */
static double peak_gflops(const float *A, const float *B, float *C, int P, double *per_cpu) {
  double t0 = now_s(), c0 = cpu_s();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, P, P, P, 1.0f, A, P, B, P, 0.0f, C, P);
  double t = now_s() - t0, c = cpu_s() - c0;
  *per_cpu = 2.0 * P * P * (double)P / c * 1e-9;
  return 2.0 * P * P * (double)P / t * 1e-9;
}

static uint64_t fnv(const void *p, size_t n, uint64_t h) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

static void usage(void) {
  fprintf(stderr,
          "usage: eval_bench [--items N] [--users U] [--dim D] [--hidden H] [--buckets-log2 B]\n"
          "                  [--hist-len L] [--truth T] [--excl X] [--threads \"1 2\"]\n"
          "                  [--reps R] [--peak-n P] [--block K] [--tile W] [--sort-users S]\n"
          "                  [--pop-prior on|off] [--seed S]\n");
}

int main(int argc, char **argv) {
  uint32_t n_items = 100000, n_users = 4096, D = 32, Hd = 64, blog2 = 14, L = 20;
  uint32_t n_truth = 10, n_excl = 20, reps = 5, peak_n = 1024, block = 0, tile = 0, n_sort = 64;
  uint32_t pop = 1;
  uint64_t seed = 1;
  const char *threads_s = "1 2";
  for (int a = 1; a < argc; a += 2) { /* options come as "--name value" pairs */
    const char *k = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;
    if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
      usage();
      return 0;
    }
    if (!v) {
      usage();
      return 2;
    }
    unsigned long x = strtoul(v, NULL, 10);
    if (!strcmp(k, "--items")) n_items = (uint32_t)x;
    else if (!strcmp(k, "--users")) n_users = (uint32_t)x;
    else if (!strcmp(k, "--dim")) D = (uint32_t)x;
    else if (!strcmp(k, "--hidden")) Hd = (uint32_t)x;
    else if (!strcmp(k, "--buckets-log2")) blog2 = (uint32_t)x;
    else if (!strcmp(k, "--hist-len")) L = (uint32_t)x;
    else if (!strcmp(k, "--truth")) n_truth = (uint32_t)x;
    else if (!strcmp(k, "--excl")) n_excl = (uint32_t)x;
    else if (!strcmp(k, "--reps")) reps = (uint32_t)x;
    else if (!strcmp(k, "--peak-n")) peak_n = (uint32_t)x;
    else if (!strcmp(k, "--block")) block = (uint32_t)x;
    else if (!strcmp(k, "--tile")) tile = (uint32_t)x;
    else if (!strcmp(k, "--pop-prior")) pop = !strcmp(v, "on") || !strcmp(v, "1");
    else if (!strcmp(k, "--sort-users")) n_sort = (uint32_t)x;
    else if (!strcmp(k, "--seed")) seed = x;
    else if (!strcmp(k, "--threads")) threads_s = v;
    else {
      usage();
      return 2;
    }
  }
  int threads[8], nt = 0;
  for (const char *p = threads_s; *p && nt < 8;) {
    char *end;
    long t = strtol(p, &end, 10);
    if (end == p) break;
    if (t >= 1) threads[nt++] = (int)t;
    p = end;
  }
  if (!nt || !reps || !n_items || !n_users || !D || n_truth + n_excl > n_items / 2 ||
      n_items > (1u << 30)) {
    usage();
    return 2;
  }
  if (n_sort > n_users) n_sort = n_users;
  model_cfg_t mc = {D, Hd, 1u << blog2, L, pop, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  fm_err err = {{0}};
  if (model_cfg_validate(&mc, &err)) {
    fprintf(stderr, "eval_bench: %s\n", err.msg);
    return 2;
  }
  dataset_t ds;
  make_dataset(&ds, n_users, n_items, n_truth, n_excl, seed);
  const uint32_t SD = model_score_dim(&mc, &ds); /* D, + 1 with the popularity prior */
  float *theta = xmalloc(model_n_shared(&mc) * 4);
  model_shared_init(theta, &mc, seed);
  model_local_t local;
  if (model_local_init(&local, &mc, n_users, n_items, seed, 0, &err)) {
    fprintf(stderr, "eval_bench: %s\n", err.msg);
    return 1;
  }
  float *U = xmalloc((size_t)n_users * SD * 4), *V = xmalloc((size_t)n_items * SD * 4);
  float *U1 = xmalloc((size_t)n_users * SD * 4), *V1 = xmalloc((size_t)n_items * SD * 4);
  openblas_set_num_threads(1); /* the vectors ranked by gemm / rank / sort: fixed bits */
  model_user_vectors(&mc, theta, &local, &ds, ds.eval_user, n_users, U);
  model_item_vectors(&mc, theta, &local, &ds, V);
  uint32_t blk = block ? block : METRICS_MAX_BLOCK;
  if (blk > n_users) blk = n_users;
  uint32_t tw = tile ? tile : metrics_default_tile(blk);
  if (tw > n_items) tw = n_items;
  float *S = xmalloc((size_t)blk * tw * 4);
  float *A = xmalloc((size_t)peak_n * peak_n * 4), *B = xmalloc((size_t)peak_n * peak_n * 4);
  float *C = xmalloc((size_t)peak_n * peak_n * 4);
  rng_t r;
  rng_seed(&r, seed, RNG_EVAL, 2);
  for (size_t k = 0; k < (size_t)peak_n * peak_n; k++)
    A[k] = (float)rng_normal(&r), B[k] = (float)rng_normal(&r);

  printf("eval_bench: items %u users %u dim %u (scoring %u) hidden %u buckets 2^%u hist %u truth %u excl %u "
         "block %u tile %u reps %u peak_n %u\n",
         n_items, n_users, D, SD, Hd, blog2, L, n_truth, n_excl, blk, tw, reps, peak_n);
  printf("openblas: %s\n", openblas_get_config());
  fflush(stdout);

  enum { PEAK, GEMM, RANK, RANK1, TOWERS, E2E, SORT, OLD, NPH };
  static const char *names[NPH] = {"peak", "gemm", "rank", "rank1", "towers", "e2e", "sort", "old"};
  double *t[NPH][8], *cp[NPH][8]; /* wall / CPU seconds (peak: GFLOP/s) per rep */
  for (int ph = 0; ph < NPH; ph++)
    for (int k = 0; k < nt; k++)
      t[ph][k] = xmalloc(reps * sizeof(double)), cp[ph][k] = xmalloc(reps * sizeof(double));
  uint64_t hash[8] = {0};
  metrics_t m_first = {0}, e2e[8];

  for (int k = 0; k < nt; k++) { /* warm-up: threads started, pages touched */
    openblas_set_num_threads(threads[k]);
    double pc;
    peak_gflops(A, B, C, (int)peak_n, &pc);
  }
  for (uint32_t rep = 0; rep < reps; rep++) {
    for (int k = 0; k < nt; k++) {
      openblas_set_num_threads(threads[k]);
      /* OpenBLAS's idle workers spin ~0.13 s after a threaded call: let them
       * go to sleep before timing (else they take a core and CPU time) */
      struct timespec pause = {0, 250000000};
      nanosleep(&pause, NULL);
      double q1, q2, p1 = peak_gflops(A, B, C, (int)peak_n, &q1);
      double p2 = peak_gflops(A, B, C, (int)peak_n, &q2);
      t[PEAK][k][rep] = p1 > p2 ? p1 : p2;
      cp[PEAK][k][rep] = q1 > q2 ? q1 : q2;

      double t0 = now_s(), c0 = cpu_s();
      for (uint32_t b0 = 0; b0 < n_users; b0 += blk) {
        uint32_t nb = n_users - b0 < blk ? n_users - b0 : blk;
        for (uint32_t i0 = 0; i0 < n_items; i0 += tw) {
          uint32_t len = n_items - i0 < tw ? n_items - i0 : tw;
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)len, (int)SD, 1.0f,
                      U + (size_t)b0 * SD, (int)SD, V + (size_t)i0 * SD, (int)SD, 0.0f, S, (int)len);
        }
      }
      t[GEMM][k][rep] = now_s() - t0;
      cp[GEMM][k][rep] = cpu_s() - c0;

      metrics_t m;
      t0 = now_s(), c0 = cpu_s();
      if (metrics_rank_dot_tiled(&m, NULL, U, V, SD, &ds, block, tile, 0, &err)) {
        fprintf(stderr, "eval_bench: %s\n", err.msg);
        return 1;
      }
      t[RANK][k][rep] = now_s() - t0;
      cp[RANK][k][rep] = cpu_s() - c0;
      hash[k] = fnv(&m, sizeof m, 0xcbf29ce484222325ULL);
      if (rep == 0 && k == 0) m_first = m;

      /* one ranking thread (the same as rank at 1 thread) */
      t0 = now_s(), c0 = cpu_s();
      if (threads[k] > 1 && metrics_rank_dot_tiled(&m, NULL, U, V, SD, &ds, block, tile, 1, &err)) {
        fprintf(stderr, "eval_bench: %s\n", err.msg);
        return 1;
      }
      t[RANK1][k][rep] = threads[k] > 1 ? now_s() - t0 : t[RANK][k][rep];
      cp[RANK1][k][rep] = threads[k] > 1 ? cpu_s() - c0 : cp[RANK][k][rep];
      if (memcmp(&m, &m_first, sizeof m) != 0) {
        fprintf(stderr, "eval_bench: the metrics depend on the thread count or block\n");
        return 1;
      }

      t0 = now_s(), c0 = cpu_s();
      model_item_vectors(&mc, theta, &local, &ds, V1);
      model_user_vectors(&mc, theta, &local, &ds, ds.eval_user, n_users, U1);
      t[TOWERS][k][rep] = now_s() - t0;
      cp[TOWERS][k][rep] = cpu_s() - c0;

      t0 = now_s(), c0 = cpu_s();
      if (adapt_score(&m, NULL, NULL, &mc, theta, &local, &ds, &err)) {
        fprintf(stderr, "eval_bench: %s\n", err.msg);
        return 1;
      }
      t[E2E][k][rep] = now_s() - t0;
      cp[E2E][k][rep] = cpu_s() - c0;
      /* the towers' sgemm bits may depend on the thread count, not on the rep */
      if (rep == 0) e2e[k] = m;
      if (memcmp(&m, &e2e[k], sizeof m) != 0) {
        fprintf(stderr, "eval_bench: adapt_score differs between repetitions\n");
        return 1;
      }

      t0 = now_s(), c0 = cpu_s();
      if (n_sort) sort_users(U, V, SD, &ds, n_sort);
      t[SORT][k][rep] = now_s() - t0;
      cp[SORT][k][rep] = cpu_s() - c0;

      t[OLD][k][rep] = cp[OLD][k][rep] = 0;
#ifdef EVAL_BENCH_LEGACY
      t0 = now_s(), c0 = cpu_s();
      if (old_metrics_rank_dot_block(&m, NULL, U, V, SD, &ds, 0, &err)) {
        fprintf(stderr, "eval_bench: old: %s\n", err.msg);
        return 1;
      }
      t[OLD][k][rep] = now_s() - t0;
      cp[OLD][k][rep] = cpu_s() - c0;
      if (memcmp(&m, &m_first, sizeof m) != 0) {
        fprintf(stderr, "eval_bench: the old ranking gives other metrics\n");
        return 1;
      }
#endif
    }
  }

  printf("metrics: ndcg10 %.6f recall20 %.6f hr10 %.6f mrr %.6f users %u\n", m_first.ndcg10,
         m_first.recall20, m_first.hr10, m_first.mrr, m_first.n_users);
  const double flop_user = 2.0 * SD * (double)n_items;
  for (int k = 0; k < nt; k++) {
    double pk_med = median(t[PEAK][k], (int)reps);
    double pk_best = t[PEAK][k][reps - 1]; /* sorted ascending by median() */
    double pkc_med = median(cp[PEAK][k], (int)reps);
    printf("threads %d peak_gflops_median %.1f peak_gflops_best %.1f peak_gflops_per_cpu_s_median "
           "%.1f\n", threads[k], pk_med, pk_best, pkc_med);
    for (int ph = GEMM; ph < NPH; ph++) {
      if ((ph == SORT && !n_sort) || (ph == RANK1 && threads[k] == 1)) continue;
#ifndef EVAL_BENCH_LEGACY
      if (ph == OLD) continue;
#endif
      double users = ph == SORT ? n_sort : n_users;
      double b = best(t[ph][k], (int)reps), md = median(t[ph][k], (int)reps);
      printf("threads %d phase %s seconds_median %.4f users_per_s_median %.0f "
             "users_per_s_best %.0f",
             threads[k], names[ph], md, users / md, users / b);
      double cmd = median(cp[ph][k], (int)reps);
      printf(" cpu_s_median %.4f users_per_cpu_s_median %.0f", cmd, users / cmd);
      if (ph == GEMM || ph == RANK || ph == RANK1 || ph == SORT || ph == OLD) {
        double gf = flop_user * users / md * 1e-9;
        printf(" gflops_median %.1f peak_fraction_median %.3f peak_fraction_best %.3f", gf,
               gf / pk_med, flop_user * users / b * 1e-9 / pk_best);
        printf(" gflops_per_cpu_s_median %.1f cpu_peak_fraction_median %.3f",
               flop_user * users / cmd * 1e-9, flop_user * users / cmd * 1e-9 / pkc_med);
      }
      printf("\n");
    }
    printf("threads %d rank_metrics_hash %016llx\n", threads[k], (unsigned long long)hash[k]);
  }
  for (int k = 1; k < nt; k++)
    if (hash[k] != hash[0]) {
      fprintf(stderr, "eval_bench: metrics differ between thread counts\n");
      return 1;
    }
  for (int ph = 0; ph < NPH; ph++)
    for (int k = 0; k < nt; k++) free(t[ph][k]), free(cp[ph][k]);
  free(A), free(B), free(C), free(S), free(U), free(V), free(U1), free(V1), free(theta);
  model_local_free(&local);
  free_dataset(&ds);
  return 0;
}
