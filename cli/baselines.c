/* cli/baselines.c: fedmeta baselines — the protocol P1 reference baselines
 * (popularity, ItemKNN, EASE on the support data, and the privacy-free EASE
 * pooled over the other industries) on a prepared data folder, for each
 * held-out industry and each K. The work is in common/p1.c; this file parses
 * the options, loads the shards, prints the table and writes the CSV.
 *
 * --out: the option table's default "out" is the folder name the other
 * commands use, so it does not count as asking for a CSV. A CSV is written
 * only when --out is given (on the command line or in a --config file) and
 * not empty: to FILE, or FOLDER/p1-baselines.csv when it names an existing
 * folder. Written atomically (FILE.tmp, fsync, rename). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/baselines.h"
#include "common/config.h"
#include "common/fileio.h"
#include "common/p1.h"
#include "common/source.h"

/* OpenBLAS (Debian's pthread build) exports this; not in every cblas.h. */
void openblas_set_num_threads(int);

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

#define BASELINES_CSV_NAME "p1-baselines.csv"
#define BASELINES_DEFAULT_OUT "out" /* config_defaults' folder name */

/* One (industry, K): the info line and the four methods. */
typedef struct bl_block {
  uint32_t platform, k;
  p1_info_t info;
  p1_result_t res[P1_N_METHODS];
} bl_block_t;

static void usage_header(FILE *f) {
  fprintf(f,
          "usage: fedmeta baselines --data DIR --heldout NAMES [--ks 1,5,10] [--out FILE.csv] [options]\n\n"
          "Protocol P1 baselines on a prepared folder (fedmeta prepare / fedmeta synth): for each\n"
          "held-out industry and K, the users with at least K+1 interactions there give their first K\n"
          "as support and the rest as query; every item of the industry is ranked. Methods:\n"
          "popularity (support counts), itemknn and ease (fitted on the support), ease-pooled (EASE\n"
          "over all other industries + the support, users joined by id; privacy-free reference;\n"
          "skipped with a note above %u items). Prints NDCG@10 with a user-level bootstrap 95%%\n"
          "interval, Recall@20, HR@10, MRR; --out writes one CSV row per (industry, K, method).\n\n"
          "exit codes: 0 success (a skipped method is not a failure), 1 runtime error (data, I/O),\n"
          "2 usage error\n\noptions:\n",
          BASELINE_EASE_MAX_ITEMS);
}

/* 0 parsed, 1 help printed, -1 usage error (printed). */
static int parse(fm_config *c, int argc, char **argv) {
  for (int i = 2; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage_header(stdout);
      break;
    }
  return cli_parse(c, CFG_BASELINES, argc, argv, 0);
}

/* Whether --out was given on the command line (a config file's value differs
 * from the default, so it is seen through the value). */
static int out_given(const fm_config *c, int argc, char **argv) {
  for (int i = 2; i < argc; i++)
    if (!strcmp(argv[i], "--out") || !strncmp(argv[i], "--out=", 6)) return 1;
  return strcmp(c->out, BASELINES_DEFAULT_OUT) != 0;
}

/* The CSV path from --out into path (size n): "" = print only. */
static int csv_path(char *path, size_t n, const fm_config *c, int argc, char **argv, fm_err *err) {
  path[0] = 0;
  if (!out_given(c, argc, argv) || !c->out[0]) return 0;
  struct stat st;
  int w;
  if (stat(c->out, &st) == 0 && S_ISDIR(st.st_mode))
    w = snprintf(path, n, "%s/%s", c->out, BASELINES_CSV_NAME);
  else w = snprintf(path, n, "%s", c->out);
  if (w < 0 || (size_t)w >= n) return fm_fail(err, "--out %s: path too long", c->out);
  return 0;
}

/* The held-out industries in the order given, each once. */
static int heldout_list(uint32_t *list, uint32_t *n, const source_t *src, const char *names,
                        fm_err *err) {
  *n = 0;
  uint8_t *mask = calloc(src->n_platforms ? src->n_platforms : 1, 1);
  if (!mask) return fm_fail(err, "out of memory");
  if (!names[0]) {
    char have[400] = "";
    size_t off = 0;
    for (uint32_t i = 0; i < src->n_platforms && off < sizeof have - 70; i++)
      off += (size_t)snprintf(have + off, sizeof have - off, "%s%s", i ? ", " : "", src->names[i]);
    free(mask);
    return fm_fail(err, "--heldout NAMES is required (comma-separated, of: %s)", have);
  }
  if (source_heldout(src, names, mask, err)) { /* names an unknown industry */
    free(mask);
    return -1;
  }
  memset(mask, 0, src->n_platforms);
  char buf[sizeof ((fm_config *)0)->heldout];
  snprintf(buf, sizeof buf, "%s", names);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int p = source_find(src, tok);
    if (p < 0 || mask[p]) continue;
    mask[p] = 1;
    list[(*n)++] = (uint32_t)p;
  }
  free(mask);
  return 0;
}

/* ---------------- output ---------------- */

static void print_block(const source_t *src, const bl_block_t *b) {
  printf("\n%s, K = %u: %u query users, %u items ranked, %u support + %u query interactions\n",
         src->names[b->platform], b->k, b->info.n_eval, b->info.n_items, b->info.n_support,
         b->info.n_query);
  printf("  %-12s %8s  %-18s %9s %7s %7s %6s %8s\n", "method", "NDCG@10", "95% interval",
         "Recall@20", "HR@10", "MRR", "users", "time");
  for (int m = 0; m < P1_N_METHODS; m++) {
    const p1_result_t *r = &b->res[m];
    if (!r->done) {
      printf("  %-12s %s\n", p1_method_name(m), r->note);
      continue;
    }
    char ci[40] = "-";
    if (!isnan(r->ndcg_lo)) snprintf(ci, sizeof ci, "[%.4f, %.4f]", r->ndcg_lo, r->ndcg_hi);
    printf("  %-12s %8.4f  %-18s %9.4f %7.4f %7.4f %6u %7.1fs\n", p1_method_name(m), r->m.ndcg10,
           ci, r->m.recall20, r->m.hr10, r->m.mrr, r->m.n_users, r->seconds);
  }
}

static void print_summary(const source_t *src, const bl_block_t *b, uint32_t n) {
  printf("\nNDCG@10 / Recall@20 (protocol P1, as in BENCHMARK-PROTOCOL.md):\n\n");
  printf("| held-out | K | users |");
  for (int m = 0; m < P1_N_METHODS; m++) printf(" %s |", p1_method_name(m));
  printf("\n|---|---|---|");
  for (int m = 0; m < P1_N_METHODS; m++) printf("---|");
  printf("\n");
  for (uint32_t i = 0; i < n; i++) {
    printf("| %s | %u | %u |", src->names[b[i].platform], b[i].k, b[i].info.n_eval);
    for (int m = 0; m < P1_N_METHODS; m++) {
      const p1_result_t *r = &b[i].res[m];
      if (r->done) printf(" %.4f / %.4f |", r->m.ndcg10, r->m.recall20);
      else printf(" not computed |");
    }
    printf("\n");
  }
}

/* A CSV text field: quoted when it holds a comma, quote or line break. */
static void csv_str(FILE *f, const char *s) {
  if (!strpbrk(s, ",\"\n\r")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

/* Columns: industry,k,method,users,items,ndcg10,recall20,hr10,mrr,ndcg10_lo,
 * ndcg10_hi,status,note. A skipped method ("skipped") has empty metric fields
 * and its reason in note. No timings, so the file is reproducible. */
static int csv_write(const char *path, const source_t *src, const bl_block_t *b, uint32_t n,
                     fm_err *err) {
  fm_atomic a;
  if (fm_atomic_open(&a, path, err)) return fm_wrap(err, "--out");
  FILE *f = a.f;
  fprintf(f, "industry,k,method,users,items,ndcg10,recall20,hr10,mrr,ndcg10_lo,ndcg10_hi,status,note\n");
  for (uint32_t i = 0; i < n; i++)
    for (int m = 0; m < P1_N_METHODS; m++) {
      const p1_result_t *r = &b[i].res[m];
      csv_str(f, src->names[b[i].platform]);
      fprintf(f, ",%u,%s,", b[i].k, p1_method_name(m));
      if (r->done) {
        fprintf(f, "%u,%u,%.6f,%.6f,%.6f,%.6f,", r->m.n_users, b[i].info.n_items, r->m.ndcg10,
                r->m.recall20, r->m.hr10, r->m.mrr);
        if (isnan(r->ndcg_lo)) fprintf(f, ",,ok,");
        else fprintf(f, "%.6f,%.6f,ok,", r->ndcg_lo, r->ndcg_hi);
      } else {
        fprintf(f, ",%u,,,,,,,skipped,", b[i].info.n_items);
      }
      csv_str(f, r->note);
      fputc('\n', f);
    }
  return fm_atomic_commit(&a, err) ? fm_wrap(err, "--out") : 0;
}

/* ---------------- the command ---------------- */

int cmd_baselines(int argc, char **argv) {
  fm_config c;
  int r = parse(&c, argc, argv);
  if (r) return r > 0 ? EXIT_OK : EXIT_USAGE;
  fm_err err = {{0}};
  uint32_t ks[P1_MAX_KS], n_ks = 0;
  char out_csv[CFG_PATH_MAX + 32];
  if (!c.data[0]) {
    fprintf(stderr, "fedmeta baselines: --data DIR is required (a folder written by fedmeta prepare "
                    "or fedmeta synth --out DIR)\n");
    return EXIT_USAGE;
  }
  if (p1_parse_ks(ks, &n_ks, P1_MAX_KS, c.ks, &err) ||
      csv_path(out_csv, sizeof out_csv, &c, argc, argv, &err)) {
    fprintf(stderr, "fedmeta baselines: %s\n", err.msg);
    return EXIT_USAGE;
  }
  /* One BLAS thread unless OPENBLAS_NUM_THREADS says otherwise (as fedmeta eval). */
  const char *env = getenv("OPENBLAS_NUM_THREADS");
  int threads = env ? atoi(env) : 1;
  openblas_set_num_threads(threads < 1 ? 1 : threads);

  source_t src;
  shard_t *shards = NULL;
  uint32_t *held = NULL, n_held = 0, n_blocks = 0;
  bl_block_t *blocks = NULL;
  int code = EXIT_RUNTIME;
  if (source_open(&src, &c, &err)) goto fail;
  held = malloc(((size_t)src.n_platforms + 1) * sizeof *held);
  shards = calloc((size_t)src.n_platforms + 1, sizeof *shards);
  if (!held || !shards) {
    fm_fail(&err, "out of memory");
    goto fail;
  }
  if (heldout_list(held, &n_held, &src, c.heldout, &err)) {
    code = EXIT_USAGE;
    goto fail;
  }
  blocks = calloc((size_t)n_held * n_ks + 1, sizeof *blocks);
  if (!blocks) {
    fm_fail(&err, "out of memory");
    goto fail;
  }
  /* Every shard: the pooled reference reads all of them. */
  uint64_t n_inter = 0;
  for (uint32_t p = 0; p < src.n_platforms; p++) {
    if (source_load(&src, p, &shards[p], &err)) goto fail;
    n_inter += shards[p].n_inter;
  }
  p1_opts_t o;
  p1_opts_default(&o);
  o.ease_lambda = c.ease_lambda;
  o.knn_topk = c.knn_topk;
  o.boot = c.boot;
  o.seed = c.seed;
  o.no_pooled = c.no_pooled;
  o.heldout_users = c.heldout_users;
  o.log = c.verbose > 0 ? stderr : NULL;
  char knn[32] = "all";
  if (c.knn_topk) snprintf(knn, sizeof knn, "top %u", c.knn_topk);
  char boot[96] = "no bootstrap interval (--boot 0)";
  if (c.boot)
    snprintf(boot, sizeof boot, "NDCG@10 95%% interval from %u user-level bootstrap resamples (seed %llu)",
             c.boot, (unsigned long long)c.seed);
  printf("fedmeta baselines: protocol P1 on %s (%u industries, %llu interactions); EASE lambda %g, "
         "ItemKNN %s neighbours; %s\n",
         c.data, src.n_platforms, (unsigned long long)n_inter, (double)c.ease_lambda, knn, boot);
  fflush(stdout);
  for (uint32_t h = 0; h < n_held; h++)
    for (uint32_t j = 0; j < n_ks; j++) {
      bl_block_t *b = &blocks[n_blocks];
      b->platform = held[h];
      b->k = ks[j];
      if (o.log) {
        fprintf(o.log, "fedmeta baselines: %s, K = %u...\n", src.names[held[h]], ks[j]);
        fflush(o.log);
      }
      if (p1_baselines(b->res, &b->info, shards, src.n_platforms, held[h], ks[j], &o, &err)) goto fail;
      n_blocks++;
      print_block(&src, b);
      fflush(stdout);
    }
  print_summary(&src, blocks, n_blocks);
  if (out_csv[0]) {
    if (csv_write(out_csv, &src, blocks, n_blocks, &err)) goto fail;
    printf("\nwrote %s (%u rows)\n", out_csv, n_blocks * P1_N_METHODS);
  }
  code = EXIT_OK;
fail:
  if (code != EXIT_OK) fprintf(stderr, "fedmeta baselines: %s\n", err.msg);
  if (shards)
    for (uint32_t p = 0; p < src.n_platforms; p++) shard_free(&shards[p]);
  free(shards), free(held), free(blocks);
  source_close(&src);
  return code;
}
