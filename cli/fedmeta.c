/* cli/fedmeta.c: the fedmeta program: subcommand dispatch, --help, exit codes.
 *
 *   fedmeta synth   write the synthetic market to a folder
 *   fedmeta train   the MPI job (rank 0 coordinator, ranks 1..N platforms)
 *   fedmeta eval    adapt a meta-model to one industry and score it
 *
 * Exit codes: 0 success, 1 runtime error (data, I/O, a platform failed),
 * 2 usage error (unknown flag, bad value, too few MPI ranks). */
#include <cblas.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/bulk.h"
#include "common/checkpoint.h"
#include "common/config.h"
#include "common/dataset.h"
#include "common/fileio.h"
#include "common/market.h"
#include "common/metrics.h"
#include "common/source.h"
#include "common/split.h"
#include "common/wire.h"
#include "coordinator/round.h"
#include "worker/adapt.h"
#include "worker/secagg_worker.h"
#include "worker/worker.h"

/* OpenBLAS (Debian's pthread build) exports this; not in every cblas.h. */
void openblas_set_num_threads(int);

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static void usage(FILE *f) {
  fprintf(f,
          "fedmeta: federated meta-learning for cross-industry recommendation\n\n"
          "usage:\n"
          "  fedmeta synth --out DIR [options]          write the synthetic market (shards + manifest)\n"
          "  mpirun -n N fedmeta train [options]        train a meta-model (N >= 2: rank 0 coordinates,\n"
          "                                             ranks 1..N-1 host the platforms)\n"
          "  fedmeta eval --model FILE --platform NAME  adapt a meta-model to an industry and score it\n"
          "  fedmeta recommend --model FILE --platform NAME --out FILE   deploy: adapt to all a platform\n"
          "                                             knows, write each user's best new items\n"
          "  fedmeta prepare --format F --input PATH --out DIR   import a published data set\n"
          "  fedmeta baselines --data DIR --heldout NAMES        popularity, ItemKNN, EASE (protocol P1)\n"
          "  fedmeta keygen --out NAME.key               a party's secret key (prints its public line)\n"
          "  fedmeta inspect MODEL                       what a meta-model holds: settings, learned term weights\n"
          "  mpirun -n 1 --ompi-server file:URI fedmeta coordinator --key K --keyring R [train options]\n"
          "                                             pilot: the coordinator alone; it dials the parties\n"
          "  mpirun -n M --ompi-server file:URI fedmeta join --key K --keyring R --host NAMES [--data DIR]\n"
          "                                             pilot: a party joins with its own job and data\n"
          "  fedmeta COMMAND --help                     the options of a command\n\n"
          "exit codes: 0 success, 1 runtime error (data, I/O, a platform failed), 2 usage error\n");
}

static int little_endian(void) {
  uint32_t x = 1;
  unsigned char b;
  memcpy(&b, &x, 1);
  return b == 1;
}

int cli_parse(fm_config *c, int cmd, int argc, char **argv, int quiet) {
  fm_err err = {{0}};
  config_defaults(c);
  int r = config_parse(c, cmd, argc, argv, 2, quiet ? NULL : stdout, &err);
  if (r == 1) return 1;
  if (r == 0) r = config_check(c, cmd, &err);
  if (r) {
    if (!quiet) fprintf(stderr, "fedmeta %s: %s\n", argv[1], err.msg);
    return -1;
  }
  return 0;
}

int cli_mpi_start(fm_config *c, int cmd, int *argc, char ***argv, int *rank, int *size) {
  MPI_Init(argc, argv);
  MPI_Comm_rank(MPI_COMM_WORLD, rank);
  MPI_Comm_size(MPI_COMM_WORLD, size);
  /* Every rank parses the same command line; only rank 0 speaks. */
  int r = cli_parse(c, cmd, *argc, *argv, *rank != 0);
  if (r == 0) return -1;
  MPI_Finalize();
  return r > 0 ? EXIT_OK : EXIT_USAGE;
}

static int cmd_synth(int argc, char **argv) {
  fm_config c;
  int r = cli_parse(&c, CFG_SYNTH, argc, argv, 0);
  if (r) return r > 0 ? EXIT_OK : EXIT_USAGE;
  market_cfg_t mc;
  market_cfg_default(&mc);
  mc.seed = c.market_seed;
  mc.n_industries = c.industries;
  mc.n_users = c.users;
  mc.scale = c.scale;
  fm_err err = {{0}};
  if (market_cfg_validate(&mc, &err)) {
    fprintf(stderr, "fedmeta synth: %s\n", err.msg);
    return EXIT_USAGE;
  }
  if (market_write(&mc, c.out, &err)) {
    fprintf(stderr, "fedmeta synth: %s\n", err.msg);
    return EXIT_RUNTIME;
  }
  printf("wrote %u platforms to %s (manifest.txt + one shard each)\n", mc.n_industries, c.out);
  return EXIT_OK;
}

static void print_metrics_row(const char *method, const metrics_t *m) {
  printf("%-18s %9.4f %10.4f %8.4f %8.4f %7u\n", method, m->ndcg10, m->recall20, m->hr10, m->mrr, m->n_users);
}

/* --pop-loo model: the setting the meta-model was trained with (its inputs
 * must be the ones it learned on: the setting also turns a token off). */
int cli_pop_loo(const fm_config *c, const checkpoint_t *ck, const char *path, char out[8], fm_err *err) {
  const int from_model = !strcmp(c->eval_pop_loo, "model");
  snprintf(out, 8, "%s", from_model ? "off" : c->eval_pop_loo);
  if (from_model && ck->config) config_text_get(ck->config, "pop-loo", out, 8);
  if (strcmp(out, "on") && strcmp(out, "off"))
    return fm_fail(err, "%s: the model's settings say pop-loo = '%s', expected on or off", path, out);
  return 0;
}

/* One OpenBLAS thread unless OPENBLAS_NUM_THREADS says otherwise, so that
 * ranks x threads stays within the cores. Results do not depend on it: the
 * inner step and the ranking call sgemm on one thread (tests/unit/test_model.c,
 * test_metrics.c). */
int cli_blas_threads(void) {
  const char *env = getenv("OPENBLAS_NUM_THREADS");
  int threads = env ? atoi(env) : 1;
  if (threads < 1) threads = 1;
  openblas_set_num_threads(threads);
  return threads;
}

uint64_t cli_write_topn_rows(FILE *f, const adapt_topn_t *t, const dataset_t *ds, const shard_t *sh,
                             char *const *user_ids, uint32_t n_user_ids, char *const *item_ids, uint32_t n_item_ids) {
  uint64_t lines = 0;
  for (uint32_t k = 0; k < ds->n_eval; k++) {
    const uint32_t u = ds->eval_user[k], g = sh->user_gid ? sh->user_gid[u] : u;
    const char *ru = g < n_user_ids ? user_ids[g] : NULL;
    for (uint32_t r = 0; r < t->n; r++) {
      const uint32_t i = t->item[(size_t)k * t->n + r];
      if (i == UINT32_MAX) break;
      const char *ri = i < n_item_ids ? item_ids[i] : NULL;
      if (ru) fprintf(f, "%s\t%u\t", ru, r + 1);
      else fprintf(f, "%u\t%u\t", g, r + 1);
      if (ri) fprintf(f, "%s\t%.9g\n", ri, t->score[(size_t)k * t->n + r]);
      else fprintf(f, "%u\t%.9g\n", i, t->score[(size_t)k * t->n + r]);
      lines++;
    }
  }
  return lines;
}

/* --write-topn: the adapted model's best items per query user (config.c says
 * the format) into a, opened before the adaptation (a bad path fails at once),
 * then committed. */
static int write_topn(fm_atomic *a, const adapt_topn_t *t, const dataset_t *ds, const shard_t *sh,
                      const fm_config *c, const char *algo, fm_err *err) {
  fprintf(a->f, "# fedmeta eval: %s+ft on %s, K = %u, %u fine-tune steps, seed %llu; the best %u items per query user\n"
               "# user\trank\titem\tscore (user: global id, users.tsv%s; item: index in the platform, items.tsv)\n",
          algo, c->platform, c->kshot, c->ft_steps, (unsigned long long)c->seed, t->n,
          sh->user_gid ? "" : " (none here: the user's index)");
  cli_write_topn_rows(a->f, t, ds, sh, NULL, 0, NULL, 0);
  return fm_atomic_commit(a, err);
}

/* --model-list FILE: one model path per line, blanks around it trimmed; blank
 * lines and lines starting with # skipped. *paths and *lines (malloc'd; the
 * paths point into *buf, malloc'd) hold each path and its line number. */
static int read_model_list(const char *file, char ***paths, uint32_t **lines, uint32_t *n, uint8_t **buf,
                           fm_err *err) {
  size_t len;
  if (fm_read_file(file, buf, &len, (size_t)1 << 26, err)) return -1;
  uint8_t *b = realloc(*buf, len + 1);
  if (!b) return fm_fail(err, "out of memory for %s", file);
  *buf = b;
  b[len] = 0;
  size_t cap = 1;
  for (size_t i = 0; i < len; i++) cap += b[i] == '\n';
  *paths = malloc(cap * sizeof **paths), *lines = malloc(cap * sizeof **lines);
  if (!*paths || !*lines) return fm_fail(err, "out of memory for %s", file);
  *n = 0;
  uint32_t line = 0;
  for (char *s = (char *)b; s && *s;) {
    char *e = strchr(s, '\n');
    line++;
    if (e) *e = 0;
    while (*s == ' ' || *s == '\t') s++;
    size_t l = strlen(s);
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r')) s[--l] = 0;
    if (l && *s != '#') (*paths)[*n] = s, (*lines)[(*n)++] = line;
    s = e ? e + 1 : NULL;
  }
  if (!*n) return fm_fail(err, "%s: no model path in it (one meta-model file per line)", file);
  return 0;
}

/* A model of --model-list other than the first: read, its pop-loo resolved, and
 * refused unless it shares the first's shape, terms and pop-loo (the industry's
 * inputs are built once, for the first). Errors name the list's line. */
static int read_listed_model(checkpoint_t *ck, const checkpoint_t *first, const char *first_loo, const fm_config *c,
                             const char *path, uint32_t line, fm_err *err) {
  char loo[8];
  if (checkpoint_read(ck, path, err) || cli_pop_loo(c, ck, path, loo, err)) {
    checkpoint_free(ck);
    return fm_wrap(err, "%s:%u", c->model_list, line);
  }
  if (memcmp(&ck->model, &first->model, sizeof ck->model) || ck->n_theta != first->n_theta || strcmp(loo, first_loo)) {
    checkpoint_free(ck);
    return fm_fail(err, "%s:%u: %s: another shape, terms or pop-loo than the list's first model (the models of a "
                   "list share them: the industry's inputs are built once)", c->model_list, line, path);
  }
  return 0;
}

static int cmd_eval(int argc, char **argv) {
  fm_config c;
  int r = cli_parse(&c, CFG_EVAL, argc, argv, 0);
  if (r) return r > 0 ? EXIT_OK : EXIT_USAGE;
  cli_blas_threads();
  fm_err err = {{0}};
  checkpoint_t ck;
  source_t src;
  shard_t sh = {0};
  split_t sp = {0};
  dataset_t ds = {0};
  metrics_user_t *pu_model = NULL, *pu_pop = NULL, *pu_loc = NULL;
  float *phi_model = NULL, *phi_loc = NULL, *start_loc = NULL;
  adapt_topn_t topn = {0, NULL, NULL};
  fm_atomic topf = {NULL, NULL, NULL};
  char *one_path[1] = {c.model_path};
  char **paths = one_path; /* the models: --model, or --model-list's lines (pointing into listbuf) */
  uint32_t n_paths = 1, *path_lines = NULL;
  uint8_t *listbuf = NULL;
  int code = EXIT_RUNTIME;
  memset(&src, 0, sizeof src);
  memset(&ck, 0, sizeof ck);
  if (source_open(&src, &c, &err)) goto fail;
  if (!c.platform[0]) {
    uint8_t *mask = calloc(src.n_platforms, 1);
    if (!mask || source_heldout(&src, "", mask, &err)) {
      free(mask);
      fm_fail(&err, "--platform NAME is required (the industry to adapt to)");
      code = EXIT_USAGE;
      goto fail;
    }
    for (uint32_t p = 0; p < src.n_platforms; p++)
      if (mask[p]) snprintf(c.platform, sizeof c.platform, "%s", src.names[p]);
    free(mask);
  }
  int p = source_find(&src, c.platform);
  if (p < 0) {
    fm_fail(&err, "--platform: no industry called '%s'", c.platform);
    code = EXIT_USAGE;
    goto fail;
  }
  /* the models to score: --model, or every path of --model-list */
  if (c.model_list[0] && read_model_list(c.model_list, &paths, &path_lines, &n_paths, &listbuf, &err)) goto fail;
  if (checkpoint_read(&ck, paths[0], &err)) goto fail;
  char pop_loo[8];
  const int from_model = !strcmp(c.eval_pop_loo, "model");
  if (cli_pop_loo(&c, &ck, paths[0], pop_loo, &err)) goto fail;
  for (uint32_t m = 1; m < n_paths; m++) { /* every model checked before any work: a bad line N loses nothing */
    checkpoint_t other;
    if (read_listed_model(&other, &ck, pop_loo, &c, paths[m], path_lines[m], &err)) goto fail;
    checkpoint_free(&other);
  }
  if (source_load(&src, (uint32_t)p, &sh, &err) || split_kshot(&sp, &sh, c.kshot, &err) ||
      split_keep_users(&sp, &sh, c.heldout_users, c.seed, &err) || dataset_build(&ds, &sh, &sp, SPLIT_TEST, &err) ||
      model_dataset_inputs(&ck.model, &ds, &sh, c.kshot, !strcmp(pop_loo, "on"), &err))
    goto fail;
  dataset_sample_eval(&ds, c.query_users, c.seed, (uint32_t)p);
  /* The model's shape comes from the file, not from the flags. */
  c.dim = ck.model.dim;
  c.hidden = ck.model.hidden;
  c.hist_len = ck.model.hist_len;
  train_cfg_t ft = worker_ft_cfg(&c);
  metrics_t mm, pop, loc;
  /* per-user metrics of the three methods, for the bootstrap intervals */
  uint32_t ne = ds.n_eval ? ds.n_eval : 1;
  pu_model = malloc(ne * sizeof *pu_model), pu_pop = malloc(ne * sizeof *pu_pop);
  pu_loc = malloc(ne * sizeof *pu_loc);
  if (!pu_model || !pu_pop || !pu_loc) {
    fm_fail(&err, "out of memory for %u users' metrics", ds.n_eval);
    goto fail;
  }
  /* --verbose 2: the term weights each method ends with (below the table) */
  const int show_terms = c.verbose >= 2;
  if (show_terms) {
    phi_model = malloc(ck.n_theta * sizeof *phi_model + 1), phi_loc = malloc(ck.n_theta * sizeof *phi_loc + 1);
    start_loc = malloc(ck.n_theta * sizeof *start_loc + 1);
    if (!phi_model || !phi_loc || !start_loc) {
      fm_fail(&err, "out of memory for the adapted models (%zu floats)", ck.n_theta);
      goto fail;
    }
  }
  if (c.write_topn[0]) {
    if (fm_atomic_open(&topf, c.write_topn, &err)) goto fail;
    if (adapt_topn_alloc(&topn, ds.n_eval, c.topn, &err)) goto fail;
  }
  /* the baselines depend on the industry and the model's shape only: once */
  if (metrics_rank_popularity(&pop, pu_pop, &ds, &err)) goto fail;
  int has_local = c.local_steps > 0;
  if (has_local && adapt_local_only(&loc, pu_loc, phi_loc, &ck.model, &ft, &ds, c.local_steps,
                                    adapt_hist_mode(c.ft_history), c.seed, (uint32_t)p, &err))
    goto fail;
  printf("%s: K = %u support interactions per user, %u query users, %u items, %u fine-tune steps, "
         "pop-loo %s%s\n", c.platform, c.kshot, ds.n_eval, ds.n_items, c.ft_steps, pop_loo,
         from_model ? " (the model's)" : "");
  printf("%-18s %9s %10s %8s %8s %7s\n", "method", "NDCG@10", "Recall@20", "HR@10", "MRR", "users");
  print_metrics_row("popularity", &pop);
  if (has_local) print_metrics_row("local-only", &loc);
  for (uint32_t m = 0; m < n_paths; m++) {
    if (m > 0) { /* the next model (checked above; read again, one in memory at a time) */
      checkpoint_t next;
      if (read_listed_model(&next, &ck, pop_loo, &c, paths[m], path_lines[m], &err)) goto fail;
      checkpoint_free(&ck);
      ck = next;
    }
    if (adapt_eval(&mm, pu_model, phi_model, c.write_topn[0] ? &topn : NULL, &ck.model, &ft, ck.theta, &ds,
                   c.ft_steps, adapt_hist_mode(c.ft_history), c.seed, (uint32_t)p, &err))
      goto fail;
    if (c.write_topn[0] && write_topn(&topf, &topn, &ds, &sh, &c, ck.algo, &err)) goto fail;
    char name[40];
    snprintf(name, sizeof name, "%s+ft", ck.algo);
    if (c.model_list[0]) printf("model %s\n", paths[m]);
    print_metrics_row(name, &mm);
    /* user-level bootstrap 95% intervals (protocol P1: with a few hundred users a
     * difference of 10 % can be noise), and paired ones of the model's relative
     * difference: every resample takes the same users for both methods */
    double rel_pop[3] = {NAN, NAN, NAN}, rel_loc[3] = {NAN, NAN, NAN};
    if (c.boot) {
      /* the methods in table order; the model against each baseline it follows */
      const struct { const char *name; const metrics_user_t *pu; double *rel; } row[3] = {
          {"popularity", pu_pop, rel_pop}, {"local-only", has_local ? pu_loc : NULL, rel_loc}, {name, pu_model, NULL}};
      printf("NDCG@10 95%% intervals over %u user-level bootstrap resamples (seed %llu; paired: the same users\n"
             "for both methods in every resample):\n", c.boot,
             (unsigned long long)c.seed);
      for (int k = 0; k < 3; k++) {
        double lo, hi;
        if (!row[k].pu) continue;
        metrics_bootstrap_ndcg(&lo, &hi, row[k].pu, ds.n_eval, c.boot, c.seed);
        printf("interval %-18s [%.4f, %.4f]\n", row[k].name, lo, hi);
      }
      for (int k = 0; k < 2; k++) {
        if (!row[k].pu) continue;
        double *rel = row[k].rel;
        metrics_bootstrap_rel(&rel[0], &rel[1], &rel[2], pu_model, row[k].pu, ds.n_eval, c.boot, c.seed);
        printf("paired   %s vs %s: %+.1f %% [%+.1f %%, %+.1f %%]\n", name, row[k].name, 100 * rel[0], 100 * rel[1],
               100 * rel[2]);
      }
    }
    if (show_terms) { /* each beside its start: the meta-model's, local-only's hand-set one */
      printf("term weights after adaptation (start in brackets):\n%s (%u fine-tune steps)\n", name, c.ft_steps);
      inspect_print_terms(&ck.model, phi_model, ck.theta);
      if (has_local && m == 0) {
        model_shared_init(start_loc, &ck.model, c.seed); /* the terms' start does not depend on the seed */
        printf("local-only (%u steps)\n", c.local_steps);
        inspect_print_terms(&ck.model, phi_loc, start_loc);
      }
    }
    printf("{\"platform\":\"%s\",\"k\":%u,\"ft_steps\":%u,\"model\":{\"ndcg10\":%.6f,\"recall20\":%.6f},"
           "\"popularity\":{\"ndcg10\":%.6f,\"recall20\":%.6f},\"users\":%u",
           c.platform, c.kshot, c.ft_steps, mm.ndcg10, mm.recall20, pop.ndcg10, pop.recall20, mm.n_users);
    if (c.boot && !isnan(rel_pop[0]))
      printf(",\"vs_popularity\":{\"rel\":%.6f,\"lo\":%.6f,\"hi\":%.6f}", rel_pop[0], rel_pop[1], rel_pop[2]);
    if (c.boot && has_local && !isnan(rel_loc[0]))
      printf(",\"vs_local_only\":{\"rel\":%.6f,\"lo\":%.6f,\"hi\":%.6f}", rel_loc[0], rel_loc[1], rel_loc[2]);
    if (c.model_list[0]) {
      printf(",\"model_file\":\"");
      for (const char *q = paths[m]; *q; q++) printf(*q == '"' || *q == '\\' ? "\\%c" : "%c", *q);
      printf("\"");
    }
    printf("}\n");
  }
  code = EXIT_OK;
fail:
  if (code != EXIT_OK) fprintf(stderr, "fedmeta eval: %s\n", err.msg);
  if (paths != one_path) free(paths);
  free(path_lines);
  free(listbuf);
  free(pu_model), free(pu_pop), free(pu_loc);
  free(phi_model), free(phi_loc), free(start_loc);
  adapt_topn_free(&topn);
  fm_atomic_abort(&topf); /* committed: nothing left to do */
  dataset_free(&ds);
  split_free(&sp);
  shard_free(&sh);
  source_close(&src);
  checkpoint_free(&ck);
  return code;
}

static int cmd_train(int argc, char **argv) {
  int rank = 0, size = 1;
  fm_config c;
  int r = cli_mpi_start(&c, CFG_TRAIN, &argc, &argv, &rank, &size);
  if (r >= 0) return r;
  if (!c.data[0]) c.synthetic = 1; /* the embedded market is the default */
  if (size < 2) {
    if (rank == 0)
      fprintf(stderr, "fedmeta train: needs at least 2 MPI ranks (rank 0 coordinates, the others host the "
                      "platforms): run  mpirun -n 3 %s train ...\n", argv[0]);
    MPI_Finalize();
    return EXIT_USAGE;
  }
  int all = train_job(&c, MPI_COMM_WORLD, NULL);
  MPI_Finalize();
  return all;
}

int train_job(const fm_config *c, MPI_Comm comm, const int *hosts) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  wire_use_comm(comm);
  /* One OpenBLAS thread per rank unless the user says otherwise (cli_blas_threads). */
  const char *env = getenv("OPENBLAS_NUM_THREADS");
  int threads = cli_blas_threads();
  if (rank == 0 && c->verbose > 0)
    printf("fedmeta train: %d MPI ranks, %d OpenBLAS thread%s per rank%s\n", size, threads,
           threads == 1 ? "" : "s", env ? " (OPENBLAS_NUM_THREADS)" : "");
  /* where a worker makes its secure-aggregation masks (collective) */
  if (!strcmp(c->secagg, "on")) sa_worker_thread_setup(c, rank, size, threads);
  uint64_t job = train_job_id(c);
  int code = rank == 0 ? coord_run(c, job, size, hosts) : worker_run(c, job, rank, size, hosts);
  int all = code;
  MPI_Allreduce(&code, &all, 1, MPI_INT, MPI_MAX, comm);
  return all;
}

uint64_t train_job_id(const fm_config *c) { return config_hash(c) ^ (c->seed * 0x9e3779b97f4a7c15ULL); }

int main(int argc, char **argv) {
  if (!little_endian()) {
    fprintf(stderr, "fedmeta: this build supports little-endian hosts only\n");
    return EXIT_RUNTIME;
  }
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? EXIT_USAGE : EXIT_OK;
  }
  if (!strcmp(argv[1], "synth")) return cmd_synth(argc, argv);
  if (!strcmp(argv[1], "train")) return cmd_train(argc, argv);
  if (!strcmp(argv[1], "eval")) return cmd_eval(argc, argv);
  if (!strcmp(argv[1], "prepare")) return cmd_prepare(argc, argv);
  if (!strcmp(argv[1], "baselines")) return cmd_baselines(argc, argv);
  if (!strcmp(argv[1], "keygen")) return cmd_keygen(argc, argv);
  if (!strcmp(argv[1], "inspect")) return cmd_inspect(argc, argv);
  if (!strcmp(argv[1], "recommend")) return cmd_recommend(argc, argv);
  if (!strcmp(argv[1], "coordinator")) return cmd_coordinator(argc, argv);
  if (!strcmp(argv[1], "join")) return cmd_join(argc, argv);
  if (!strcmp(argv[1], "--version")) {
    printf("fedmeta 0.1.0 (bulk crypto: %s)\n", bulk_engine());
    return EXIT_OK;
  }
  fprintf(stderr, "fedmeta: unknown command '%s' (commands: synth, train, eval, recommend, prepare, baselines, keygen, inspect, coordinator, join; see fedmeta --help)\n", argv[1]);
  return EXIT_USAGE;
}
