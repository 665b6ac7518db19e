/* bench/inner_bench.c: the inner-loop training step of fedmeta, measured on its
 * own, and a dump of everything a second implementation needs to replay the
 * same steps (bench/inner_torch.py, driven by bench/inner_vs_torch.sh).
 *
 *   inner_bench [--bench-platform NAME] [--bench-check K] [--bench-dump FILE]
 *               [--bench-steps T] [--bench-warmup W] [--bench-reps R]
 *               [any `fedmeta train` model and training flag: --dim, --hidden,
 *                --buckets-log2, --hist-len, --batch, --negatives, --inner-opt,
 *                --inner-lr, --local-lr, --l2, --seed, --users, ...]
 *
 * The platform (default: the first training platform of the source, the
 * embedded synthetic market unless --data) is opened exactly as a worker rank
 * opens it; the shared parameters start from model_shared_init(seed), the
 * local ones from model_local_init(seed, platform), and the trainer samples
 * from the stream of (seed, platform, round 0), as in round 0 of a run.
 *
 * --bench-dump FILE (with --bench-check K, default 50): writes the settings,
 * the dataset's token and history arrays, the initial theta, P and Q, then the
 * K batches (users, positives, negatives) that trainer_step drew, and the K
 * losses it returned; the losses are also printed, one "loss STEP VALUE" line
 * each, then "weights_fnv1a theta H local H" (hashes of theta and of P, Q
 * after the K steps).
 * Layout (little-endian): "FMIB" u32 version (2); u32 D Hd H L B N n_users
 * n_items opt K pop_prior; f32 lr lr_local l2 beta1 beta2 eps; then arrays,
 * each a u64 count followed by the elements: utok_ptr utok itok_ptr itok
 * hist_ptr hist (u32), theta P Q (f32; theta ends with beta when pop_prior),
 * pop_input (f32, n_items: log1pf of each item's TRAIN count, the prior's
 * input), batches (u32, K x (B users, B positives, N
 * negatives)), losses (f32, K).
 *
 * --bench-steps T (default 0 = no timing): R repetitions (default 5) of W
 * warm-up steps (default 20, not timed) then T timed trainer_step calls from a
 * fresh theta and optimiser; prints "rep R examples_per_s X seconds S" per
 * repetition and "examples_per_s_median X" (wall clock), then
 * "examples_per_cpu_s_median X" (process CPU time: all threads' time summed;
 * with one thread, less sensitive to other jobs on a shared machine than the
 * wall clock), and the best repetition of each ("_best"). Examples = batch x
 * steps; a
 * timed step includes the sampling of its batch. The OpenBLAS thread count is
 * the environment's (OPENBLAS_NUM_THREADS) and is printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/dataset.h"
#include "common/error.h"
#include "common/model.h"
#include "common/source.h"
#include "worker/platform.h"
#include "worker/worker.h"

/* openblas_get_num_threads is OpenBLAS's own (not in cblas.h everywhere). */
extern int openblas_get_num_threads(void);

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int put(FILE *f, const void *p, size_t size, size_t n) {
  return fwrite(p, size, n, f) == n ? 0 : -1;
}

static int put_array(FILE *f, const void *p, size_t size, uint64_t n) {
  if (put(f, &n, sizeof n, 1)) return -1;
  return n ? put(f, p, size, (size_t)n) : 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void usage(void) {
  fprintf(stderr,
          "usage: inner_bench [--bench-platform NAME] [--bench-check K] [--bench-dump FILE]\n"
          "                   [--bench-steps T] [--bench-warmup W] [--bench-reps R]\n"
          "                   [fedmeta train flags: --dim --hidden --batch --negatives ...]\n");
}

int main(int argc, char **argv) {
  const char *dump = NULL, *pname = NULL;
  unsigned long check = 50, steps = 0, warmup = 20, reps = 5;
  /* Our flags first; the rest go to the `fedmeta train` parser. */
  char **rest = malloc(sizeof *rest * (size_t)(argc + 1));
  if (!rest) return 1;
  int nrest = 0;
  rest[nrest++] = argv[0];
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int ours = strncmp(a, "--bench-", 8) == 0;
    if (ours && i + 1 >= argc) {
      usage();
      return 2;
    }
    if (!strcmp(a, "--bench-dump")) dump = argv[++i];
    else if (!strcmp(a, "--bench-platform")) pname = argv[++i];
    else if (!strcmp(a, "--bench-check")) check = strtoul(argv[++i], NULL, 10);
    else if (!strcmp(a, "--bench-steps")) steps = strtoul(argv[++i], NULL, 10);
    else if (!strcmp(a, "--bench-warmup")) warmup = strtoul(argv[++i], NULL, 10);
    else if (!strcmp(a, "--bench-reps")) reps = strtoul(argv[++i], NULL, 10);
    else if (ours) {
      usage();
      return 2;
    } else rest[nrest++] = argv[i];
  }
  rest[nrest] = NULL;

  fm_err err = {{0}};
  fm_config c;
  config_defaults(&c);
  int rc = config_parse(&c, CFG_TRAIN, nrest, rest, 1, stdout, &err);
  if (rc == 1) return 0;
  if (rc || config_check(&c, CFG_TRAIN, &err)) {
    fprintf(stderr, "inner_bench: %s\n", err.msg);
    return 2;
  }
  model_cfg_t mc = {c.dim, c.hidden, 1u << c.buckets_log2, c.hist_len,
                    strcmp(c.pop_prior, "on") == 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}; /* as fedmeta train: --pop-prior (the dump has no spectrum) */
  train_cfg_t tc = worker_ft_cfg(&c);
  tc.lr = c.inner_lr;

  source_t src;
  if (source_open(&src, &c, &err)) {
    fprintf(stderr, "inner_bench: %s\n", err.msg);
    return 1;
  }
  uint8_t *held = calloc(src.n_platforms, 1);
  if (!held || source_heldout(&src, c.heldout, held, &err)) {
    fprintf(stderr, "inner_bench: %s\n", err.msg);
    return 1;
  }
  int id = -1;
  if (pname) {
    id = source_find(&src, pname);
    if (id < 0 || held[id]) {
      fprintf(stderr, "inner_bench: '%s' is not a training platform of the source\n", pname);
      return 2;
    }
  } else {
    for (uint32_t p = 0; p < src.n_platforms && id < 0; p++)
      if (!held[p]) id = (int)p;
  }
  platform_t pl;
  if (id < 0 || platform_open(&pl, &src, &c, &mc, (uint32_t)id, 0, &err)) {
    fprintf(stderr, "inner_bench: %s\n", id < 0 ? "no training platform" : err.msg);
    return 1;
  }
  const dataset_t *ds = &pl.ds;
  const size_t d = model_n_shared(&mc), D = mc.dim;
  printf("platform %s: %u users, %u items, %u training pairs; shared parameters %zu\n", pl.name,
         ds->n_users, ds->n_items, ds->n_pairs, d);
  printf("model dim %u hidden %u buckets %u hist %u; batch %u negatives %u; %s lr %g local-lr %g "
         "l2 %g; OpenBLAS threads %d\n",
         mc.dim, mc.hidden, mc.n_buckets, mc.hist_len, tc.batch, tc.n_neg,
         tc.opt == OPT_ADAM ? "adam" : "sgd", (double)tc.lr, (double)tc.lr_local, (double)tc.l2,
         openblas_get_num_threads());

  float *theta = malloc(d * sizeof *theta);
  if (!theta) return 1;

  if (dump) {
    model_shared_init(theta, &mc, c.seed);
    model_local_t *l = &pl.local; /* fresh from platform_open: model_local_init(seed, id) */
    trainer_t *t = NULL;
    if (trainer_init(&t, &mc, &tc, ds, l, c.seed, (uint32_t)id, &err)) {
      fprintf(stderr, "inner_bench: %s\n", err.msg);
      return 1;
    }
    trainer_seed_round(t, c.seed, (uint32_t)id, 0);
    FILE *f = fopen(dump, "wb");
    if (!f) {
      perror(dump);
      return 1;
    }
    const uint32_t K = (uint32_t)check;
    uint32_t head[12] = {2, mc.dim, mc.hidden, mc.n_buckets, mc.hist_len, tc.batch, tc.n_neg,
                         ds->n_users, ds->n_items, (uint32_t)tc.opt, K, mc.pop_prior};
    float fh[6] = {tc.lr, tc.lr_local, tc.l2, tc.beta1, tc.beta2, tc.adam_eps};
    const size_t nu = ds->n_users, ni = ds->n_items;
    /* the popularity prior's input of each item, as the model computes it */
    float *sp = malloc(sizeof *sp * (ni ? ni : 1));
    if (!sp) return 1;
    for (size_t i = 0; i < ni; i++) sp[i] = log1pf(ds->item_pop[i]);
    int bad = put(f, "FMIB", 1, 4) || put(f, head, 4, 12) || put(f, fh, 4, 6) ||
              put_array(f, ds->utok_ptr, 4, nu + 1) ||
              put_array(f, ds->utok, 4, ds->utok_ptr[nu]) ||
              put_array(f, ds->itok_ptr, 4, ni + 1) ||
              put_array(f, ds->itok, 4, ds->itok_ptr[ni]) ||
              put_array(f, ds->hist_ptr, 4, nu + 1) ||
              put_array(f, ds->hist, 4, ds->hist_ptr[nu]) || put_array(f, theta, 4, d) ||
              put_array(f, l->user_id, 4, nu * D) || put_array(f, l->item_id, 4, ni * D) ||
              put_array(f, sp, 4, ni);
    free(sp);
    float *loss = malloc(sizeof *loss * (K ? K : 1));
    uint64_t nb = (uint64_t)K * (2 * tc.batch + tc.n_neg);
    bad = bad || !loss || put(f, &nb, sizeof nb, 1);
    for (uint32_t k = 0; k < K && !bad; k++) {
      loss[k] = trainer_step(t, theta);
      const uint32_t *bu, *bp, *bn;
      trainer_last_batch(t, &bu, &bp, &bn);
      bad = put(f, bu, 4, tc.batch) || put(f, bp, 4, tc.batch) || put(f, bn, 4, tc.n_neg);
      printf("loss %u %.9g\n", k, (double)loss[k]);
    }
    bad = bad || put_array(f, loss, 4, K);
    /* FNV-1a of theta, P and Q after the K steps: a change that should not move
     * a bit (or that changes only a summation order) shows here. */
    uint64_t h[2] = {1469598103934665603ull, 1469598103934665603ull};
    const unsigned char *bytes[3] = {(const unsigned char *)theta,
                                     (const unsigned char *)l->user_id,
                                     (const unsigned char *)l->item_id};
    size_t lens[3] = {d * 4, nu * D * 4, ni * D * 4};
    for (int a = 0; a < 3; a++)
      for (size_t i = 0; i < lens[a]; i++)
        h[a > 0] = (h[a > 0] ^ bytes[a][i]) * 1099511628211ull;
    printf("weights_fnv1a theta %016llx local %016llx after %u steps\n",
           (unsigned long long)h[0], (unsigned long long)h[1], K);
    if (fclose(f) || bad) {
      fprintf(stderr, "inner_bench: cannot write %s\n", dump);
      return 1;
    }
    free(loss);
    trainer_free(t);
  }

  if (steps) {
    double *eps_rep = malloc(sizeof *eps_rep * (reps ? reps : 1));
    double *cpu_rep = malloc(sizeof *cpu_rep * (reps ? reps : 1));
    model_local_t l;
    if (!eps_rep || !cpu_rep) return 1;
    for (unsigned long r = 0; r < reps; r++) {
      model_shared_init(theta, &mc, c.seed);
      if (model_local_init(&l, &mc, ds->n_users, ds->n_items, c.seed, (uint32_t)id, &err)) {
        fprintf(stderr, "inner_bench: %s\n", err.msg);
        return 1;
      }
      trainer_t *t = NULL;
      if (trainer_init(&t, &mc, &tc, ds, &l, c.seed, (uint32_t)id, &err)) {
        fprintf(stderr, "inner_bench: %s\n", err.msg);
        return 1;
      }
      trainer_seed_round(t, c.seed, (uint32_t)id, 0);
      double sink = 0;
      for (unsigned long k = 0; k < warmup; k++) sink += trainer_step(t, theta);
      double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
      for (unsigned long k = 0; k < steps; k++) sink += trainer_step(t, theta);
      double sec = clock_s(CLOCK_MONOTONIC) - t0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
      eps_rep[r] = (double)steps * tc.batch / sec;
      cpu_rep[r] = (double)steps * tc.batch / cpu;
      printf("rep %lu examples_per_s %.1f seconds %.4f cpu_seconds %.4f mean_loss %.6f\n", r,
             eps_rep[r], sec, cpu, sink / (double)(warmup + steps));
      trainer_free(t);
      model_local_free(&l);
    }
    qsort(eps_rep, reps, sizeof *eps_rep, cmp_double);
    qsort(cpu_rep, reps, sizeof *cpu_rep, cmp_double);
    if (reps)
      printf("examples_per_s_median %.1f\nexamples_per_cpu_s_median %.1f\n"
             "examples_per_s_best %.1f\nexamples_per_cpu_s_best %.1f\n", eps_rep[reps / 2],
             cpu_rep[reps / 2], eps_rep[reps - 1], cpu_rep[reps - 1]);
    free(eps_rep);
    free(cpu_rep);
  }
  free(theta);
  platform_close(&pl);
  free(held);
  source_close(&src);
  free(rest);
  return 0;
}
