/* cli/recommend.c: fedmeta recommend, the model deployed. A platform adapts
 * the meta-model to everything it knows (every interaction of its shard is
 * support; no split) and writes each user's best N items it has not
 * interacted with, under the raw ids of the published data when the prepared
 * folder has them (users.tsv, items.tsv of fedmeta prepare). It reads one
 * shard and the meta-model, runs on one process, and sends nothing. With
 * --save-model it also keeps the fine-tuned model, so that a later run can
 * serve from it with --ft-steps 0 (the same recommendations, no fine-tune). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/checkpoint.h"
#include "common/dataset.h"
#include "common/fileio.h"
#include "common/manifest.h"
#include "common/source.h"
#include "common/split.h"
#include "worker/adapt.h"
#include "worker/worker.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* Raw ids from a prepared folder: one string per key, NULL where the file has
 * none. A file that is absent is no error (the synthetic market, a folder
 * written by fedmeta synth): the ids stay NULL and the numbers are written. */
typedef struct raw_ids {
  char **user; /* (n_gid) by global user id */
  uint32_t n_user;
  char **item; /* (n_items) by the platform's local item */
  uint32_t n_item;
  uint8_t *buf_u, *buf_i; /* the files' bytes, the strings point into them */
} raw_ids_t;

static void raw_ids_free(raw_ids_t *r) {
  free(r->user), free(r->item), free(r->buf_u), free(r->buf_i);
  memset(r, 0, sizeof *r);
}

/* Splits buf (len bytes, made NUL-terminated in place) into lines and calls
 * take(fields) with the tab-separated fields of each line that is not a
 * comment; a line with another number of fields than want, or that take
 * refuses, is an error naming the file, the line and what was expected. */
static int each_line(const char *path, uint8_t *buf, size_t len, uint32_t want, const char *what,
                     int (*take)(char **f, void *ctx), void *ctx, fm_err *err) {
  buf[len] = 0; /* the callers made room for it */
  char *s = (char *)buf;
  for (uint32_t line = 1; *s; line++) {
    char *e = strchr(s, '\n');
    if (e) *e = 0;
    if (*s && *s != '#') {
      char *f[4];
      uint32_t n = 0;
      for (char *t = s; n < 4;) {
        f[n++] = t;
        char *tab = strchr(t, '\t');
        if (!tab) break;
        *tab = 0;
        t = tab + 1;
      }
      if (n != want) return fm_fail(err, "%s:%u: expected %u tab-separated fields, got %u", path, line, want, n);
      if (take(f, ctx)) return fm_fail(err, "%s:%u: expected %s", path, line, what);
    }
    if (!e) break;
    s = e + 1;
  }
  return 0;
}

typedef struct { raw_ids_t *r; uint32_t platform; } take_ctx;

static int parse_u32(const char *s, uint32_t *v) {
  char *end;
  unsigned long x = strtoul(s, &end, 10);
  if (end == s || *end || x > UINT32_MAX) return -1;
  *v = (uint32_t)x;
  return 0;
}

static int take_user(char **f, void *vctx) {
  take_ctx *c = vctx;
  uint32_t g;
  if (parse_u32(f[0], &g)) return -1;
  if (g < c->r->n_user) c->r->user[g] = f[1]; /* higher ids: users of other platforms only */
  return 0;
}

static int take_item(char **f, void *vctx) {
  take_ctx *c = vctx;
  uint32_t p, i;
  if (parse_u32(f[0], &p) || parse_u32(f[1], &i)) return -1;
  if (p != c->platform) return 0;
  if (i >= c->r->n_item) return -1;
  c->r->item[i] = f[2];
  return 0;
}

/* Reads dir/name (made NUL-terminated in *buf) through each_line; a file that
 * is absent is no error: 1 is returned and nothing read. */
static int read_table(const char *dir, const char *name, uint32_t want, const char *what,
                      int (*take)(char **f, void *ctx), void *ctx, uint8_t **buf, fm_err *err) {
  char path[1100];
  size_t len;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) return 1;
  fclose(f);
  if (fm_read_file(path, buf, &len, (size_t)1 << 32, err)) return -1;
  uint8_t *b = realloc(*buf, len + 1);
  if (!b) return fm_fail(err, "out of memory for %s", path);
  *buf = b;
  return each_line(path, b, len, want, what, take, ctx, err);
}

/* Loads dir/users.tsv (the global ids below n_gid, the platform's largest
 * plus one) and the platform's lines of dir/items.tsv (n_items). */
static int raw_ids_load(raw_ids_t *r, const char *dir, uint32_t platform, uint32_t n_gid, uint32_t n_items,
                        fm_err *err) {
  memset(r, 0, sizeof *r);
  take_ctx c = {r, platform};
  r->n_user = n_gid, r->n_item = n_items;
  r->user = calloc(n_gid ? n_gid : 1, sizeof *r->user);
  r->item = calloc(n_items ? n_items : 1, sizeof *r->item);
  if (!r->user || !r->item) return fm_fail(err, "out of memory for %u user and %u item ids", n_gid, n_items);
  if (read_table(dir, "users.tsv", 2, "a global user id (a number), a tab, the raw id", take_user, &c, &r->buf_u,
                 err) < 0 ||
      read_table(dir, "items.tsv", 3, "a platform number, the item's number in it (below its item count), the raw id",
                 take_item, &c, &r->buf_i, err) < 0)
    return -1;
  return 0;
}

int cmd_recommend(int argc, char **argv) {
  fm_config c;
  int r = cli_parse(&c, CFG_RECOMMEND, argc, argv, 0);
  if (r) return r > 0 ? EXIT_OK : EXIT_USAGE;
  if (!c.data[0]) c.synthetic = 1; /* the embedded market is the default */
  cli_blas_threads();
  fm_err err = {{0}};
  checkpoint_t ck;
  source_t src;
  shard_t sh = {0};
  split_t sp = {0};
  dataset_t ds = {0};
  raw_ids_t ids = {0};
  adapt_topn_t topn = {0, NULL, NULL};
  fm_atomic out = {NULL, NULL, NULL};
  float *phi = NULL;  /* the fine-tuned model (--save-model) */
  char *phi_cfg = NULL; /* its settings: the meta-model's, and how it was fine-tuned */
  int code = EXIT_RUNTIME;
  memset(&src, 0, sizeof src);
  memset(&ck, 0, sizeof ck);
  if (source_open(&src, &c, &err)) goto fail;
  int p = source_find(&src, c.platform);
  if (p < 0) {
    fm_fail(&err, "--platform: no platform called '%s'", c.platform);
    code = EXIT_USAGE;
    goto fail;
  }
  char pop_loo[8];
  if (checkpoint_read(&ck, c.model_path, &err) || cli_pop_loo(&c, &ck, c.model_path, pop_loo, &err)) goto fail;
  /* everything the platform knows is support: every interaction TRAIN */
  if (source_load(&src, (uint32_t)p, &sh, &err)) goto fail;
  sp.tag = calloc((size_t)sh.n_inter + 1, 1); /* SPLIT_TRAIN = 0 */
  if (!sp.tag) {
    fm_fail(&err, "out of memory for %u interactions", sh.n_inter);
    goto fail;
  }
  sp.n_train = sh.n_inter;
  if (dataset_build(&ds, &sh, &sp, SPLIT_TEST, &err) || dataset_serve_users(&ds, &err) ||
      model_dataset_inputs(&ck.model, &ds, &sh, 0, !strcmp(pop_loo, "on"), &err))
    goto fail;
  uint32_t n_gid = 0;
  for (uint32_t u = 0; sh.user_gid && u < sh.n_users; u++)
    if (sh.user_gid[u] >= n_gid) n_gid = sh.user_gid[u] + 1;
  if (c.data[0] && raw_ids_load(&ids, c.data, (uint32_t)p, n_gid, sh.n_items, &err)) goto fail;
  if (fm_atomic_open(&out, c.write_topn, &err)) goto fail; /* a bad path fails before the work */
  if (c.save_model[0]) { /* the same for the model's path, probed and let go */
    fm_atomic probe = {NULL, NULL, NULL};
    if (fm_atomic_open(&probe, c.save_model, &err)) goto fail;
    fm_atomic_abort(&probe);
    if (!(phi = malloc(ck.n_theta * sizeof *phi + 1))) {
      fm_fail(&err, "out of memory for a copy of the model (%zu floats)", ck.n_theta);
      goto fail;
    }
  }
  c.dim = ck.model.dim, c.hidden = ck.model.hidden, c.hist_len = ck.model.hist_len;
  train_cfg_t ft = worker_ft_cfg(&c);
  metrics_t m;
  if (adapt_topn_alloc(&topn, ds.n_eval, c.topn, &err)) goto fail;
  if (adapt_eval(&m, NULL, phi, &topn, &ck.model, &ft, ck.theta, &ds, c.ft_steps, adapt_hist_mode(c.ft_history),
                 c.seed, (uint32_t)p, &err))
    goto fail;
  fprintf(out.f,
          "# fedmeta recommend: %s, %s (round %u, %s), fine-tuned %u steps at %g on its %u interactions; "
          "the best %u new items per user\n# user\trank\titem\tscore\n",
          c.platform, c.model_path, ck.round, ck.algo, c.ft_steps, c.ft_lr, sh.n_inter, c.topn);
  if (phi) {
    /* The meta-model's file with the fine-tuned theta: its settings are kept,
     * the fine-tune noted, and the pop-loo it used set (eval and recommend read
     * it from there: the last line wins). Written before the recommendations,
     * so that they are never newer than a model that failed to be written. */
    const char *cfg0 = ck.config ? ck.config : "";
    size_t cap = strlen(cfg0) + strlen(c.platform) + 200;
    if (!(phi_cfg = malloc(cap))) {
      fm_fail(&err, "out of memory");
      goto fail;
    }
    snprintf(phi_cfg, cap,
             "%s%s# fine-tuned by fedmeta recommend on platform %s: %u steps at %g, %u interactions, seed %llu\n"
             "pop-loo = %s\n",
             cfg0, *cfg0 && cfg0[strlen(cfg0) - 1] != '\n' ? "\n" : "", c.platform, c.ft_steps, c.ft_lr, sh.n_inter,
             (unsigned long long)c.seed, pop_loo);
    checkpoint_t fine = ck;
    fine.theta = phi, fine.config = phi_cfg;
    if (checkpoint_write(c.save_model, &fine, &err)) goto fail;
    printf("%s: the fine-tuned model is in %s (serve from it with --ft-steps 0)\n", c.platform, c.save_model);
  }
  uint64_t lines = cli_write_topn_rows(out.f, &topn, &ds, &sh, ids.user, ids.n_user, ids.item, ids.n_item);
  if (fm_atomic_commit(&out, &err)) goto fail;
  printf("%s: %u users, %u items, %u fine-tune steps; wrote %llu recommendations to %s\n", c.platform, ds.n_eval,
         ds.n_items, c.ft_steps, (unsigned long long)lines, c.write_topn);
  code = EXIT_OK;
fail:
  if (code != EXIT_OK) fprintf(stderr, "fedmeta recommend: %s\n", err.msg);
  fm_atomic_abort(&out);
  free(phi), free(phi_cfg);
  adapt_topn_free(&topn);
  raw_ids_free(&ids);
  dataset_free(&ds);
  split_free(&sp);
  shard_free(&sh);
  source_close(&src);
  checkpoint_free(&ck);
  return code;
}
