/* coordinator/record.c: what the coordinator writes and reads back — the
 * metrics.jsonl line and progress line of a round, the resumable checkpoint
 * (save, and --resume with its checks), and the final outputs (meta-model.pb,
 * heldout.csv, the summary table). The round loop is in round.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/checkpoint.h"
#include "common/fileio.h"
#include "coordinator/coord.h"

const char *const REJ_NAME[REJ_N] = {"auth", "replay", "malformed", "other_job", "late",
                                            "unexpected", "nonfinite", "norm_bound"};

static void json_metrics(FILE *f, const char *key, const metrics_t *m) {
  fprintf(f, "\"%s\":{\"ndcg10\":%.6f,\"recall20\":%.6f,\"hr10\":%.6f,\"mrr\":%.6f,\"users\":%u}", key,
          m->ndcg10, m->recall20, m->hr10, m->mrr, m->n_users);
}

void coord_record(coord_t *co, uint32_t r, const round_stats_t *st, double round_s, const eval_sum_t *es) {
  FILE *f = co->jsonl;
  fprintf(f, "{\"round\":%u,\"wall_s\":%.3f,\"round_s\":%.4f,\"loss\":%.6f,\"deltas\":%u,\"rejected\":%u,"
             "\"clipped\":%u,\"delta_norm\":%.6g,\"max_compute_s\":%.4f,\"sum_compute_s\":%.4f,\"rank_compute_s\":%.4f,\"dropped\":%u",
          r, wire_now() - co->t_start, round_s, st->loss, st->got, st->rejected, st->clipped,
          st->delta_norm, st->max_compute, st->sum_compute, st->rank_compute, st->dropped);
  if (st->dropped) fprintf(f, ",\"dropped_platforms\":[%s]", st->dropped_names);
  if (st->skipped) fprintf(f, ",\"skipped\":true");
  if (st->abandoned) fprintf(f, ",\"abandoned\":true");
  if (st->secagg)
    fprintf(f, ",\"secagg\":{\"shared\":%u,\"dropped\":%u,\"rejected\":%u}", st->sa_shared, st->sa_dropped,
            st->sa_rejected);
  if (co->dp) fprintf(f, ",\"dp_epsilon\":%.6g,\"dp_delta\":%g,\"dp_order\":%g", co->dp_eps, co->c->dp_delta, co->dp_order);
  if (st->rejected) {
    fprintf(f, ",\"rejected_by\":{");
    int first = 1;
    for (int k = 0; k < REJ_N; k++)
      if (st->rej[k]) {
        fprintf(f, "%s\"%s\":%u", first ? "" : ",", REJ_NAME[k], st->rej[k]);
        first = 0;
      }
    fputc('}', f);
  }
  if (es && es->missing) fprintf(f, ",\"eval_missing\":%u", es->missing);
  if (es) {
    fprintf(f, ",\"valid\":{\"ndcg10\":%.6f,\"recall20\":%.6f,\"pop_ndcg10\":%.6f,\"users\":%u}",
            es->valid_ndcg, es->valid_recall, es->valid_pop_ndcg, es->valid_users);
    fprintf(f, ",\"heldout\":{");
    int first = 1;
    for (uint32_t p = 0; p < co->np; p++) {
      if (!co->p[p].heldout || !es->reported[p]) continue;
      const eval_msg_t *em = &es->heldout[p];
      fprintf(f, "%s\"%s\":{", first ? "" : ",", co->p[p].name);
      json_metrics(f, "model", &em->model);
      fputc(',', f);
      json_metrics(f, "popularity", &em->popularity);
      if (em->has_local_only) {
        fputc(',', f);
        json_metrics(f, "local_only", &em->local_only);
      }
      fputc('}', f);
      first = 0;
    }
    fputc('}', f);
  }
  fprintf(f, "}\n");
  fflush(f);

  if (co->c->verbose == 0) return;
  printf("round %4u/%u  loss %.4f  |delta| %.3g  %5.2fs", r, co->c->rounds, st->loss, st->delta_norm, round_s);
  if (st->rejected) printf("  rejected %u", st->rejected);
  if (st->dropped) printf("  dropped %u", st->dropped);
  if (es) {
    printf("  valid ndcg@10 %.4f (pop %.4f)", es->valid_ndcg, es->valid_pop_ndcg);
    for (uint32_t p = 0; p < co->np; p++)
      if (co->p[p].heldout && es->reported[p])
        printf("  %s ndcg@10 %.4f (pop %.4f)", co->p[p].name, es->heldout[p].model.ndcg10,
               es->heldout[p].popularity.ndcg10);
  }
  printf("\n");
  fflush(stdout);
}

/* The settings as config-file text (malloc'd); results_only: those that change the model. */
char *coord_config_text(const fm_config *c, int results_only) {
  char *text = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&text, &len);
  if (!m) return NULL;
  config_write(c, CFG_TRAIN, results_only, m);
  fclose(m);
  return text;
}

static checkpoint_t checkpoint_of(coord_t *co, uint32_t r, char *cfgtext) {
  checkpoint_t ck;
  memset(&ck, 0, sizeof ck);
  ck.round = r;
  snprintf(ck.algo, sizeof ck.algo, "%s", co->c->algo);
  ck.seed = co->c->seed;
  ck.model = co->mc;
  ck.theta = co->theta;
  ck.n_theta = co->d;
  ck.config = cfgtext;
  return ck;
}

/* OUT/checkpoint.fmck after round r: theta, the outer optimiser, the settings. */
int coord_save_checkpoint(coord_t *co, uint32_t r, int complete) {
  char *cfgtext = coord_config_text(co->c, 1);
  if (!cfgtext) return fm_fail(&co->err, "out of memory");
  checkpoint_t ck = checkpoint_of(co, r, cfgtext);
  snprintf(ck.outer_kind, sizeof ck.outer_kind, "%s", outer_kind_name(co->outer.kind));
  ck.outer_steps = co->outer.t;
  ck.outer_m = co->outer.m;
  ck.outer_v = co->outer.v;
  ck.config_hash = config_hash(co->c);
  ck.complete = complete;
  char path[CFG_PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/checkpoint.fmck", co->c->out);
  int rc = checkpoint_save(path, &ck, &co->err);
  free(cfgtext);
  return rc;
}

/* Names the result settings that differ between a checkpoint and this run. */
static void config_diff(char *out, size_t cap, const char *then, const char *now) {
  size_t off = 0;
  out[0] = 0;
  const char *l = now;
  while (l && *l && off + 80 < cap) {
    const char *e = strchr(l, '\n');
    size_t n = e ? (size_t)(e - l) : strlen(l);
    int found = 0;
    for (const char *t = then; t && *t;) {
      const char *te = strchr(t, '\n');
      size_t tn = te ? (size_t)(te - t) : strlen(t);
      if (tn == n && !memcmp(t, l, n)) found = 1;
      t = te ? te + 1 : NULL;
    }
    if (!found) off += (size_t)snprintf(out + off, cap - off, "%s%.*s", off ? "; " : "", (int)(n < 60 ? n : 60), l);
    l = e ? e + 1 : NULL;
  }
}

/* --resume: theta and the outer optimiser from OUT/checkpoint.fmck (or, if
 * that one is damaged, OUT/checkpoint.fmck.prev). *next is the first round to run. */
int coord_resume(coord_t *co, uint32_t *next, int *complete) {
  const fm_config *c = co->c;
  char path[CFG_PATH_MAX + 64], prev[CFG_PATH_MAX + 80];
  snprintf(path, sizeof path, "%s/checkpoint.fmck", c->out);
  snprintf(prev, sizeof prev, "%s.prev", path);
  checkpoint_t ck;
  fm_err e1 = {{0}};
  if (checkpoint_load(&ck, path, &e1)) {
    fm_err e2 = {{0}};
    if (checkpoint_load(&ck, prev, &e2))
      return fm_fail(&co->err, "--resume %s: no usable checkpoint: %s; %s", c->resume, e1.msg, e2.msg);
    fprintf(stderr, "fedmeta: %s\nfedmeta: resuming from the previous checkpoint %s (round %u)\n", e1.msg, prev,
            ck.round);
  }
  int rc = 0;
  char *now = coord_config_text(c, 1);
  if (ck.config_hash != config_hash(c)) {
    char diff[600];
    config_diff(diff, sizeof diff, ck.config, now ? now : "");
    rc = fm_fail(&co->err, "--resume %s: the checkpoint was made with other settings (now: %s); resume with the "
                           "run's own settings", c->resume, diff[0] ? diff : "?");
  } else if (ck.n_theta != co->d || strcmp(ck.outer_kind, outer_kind_name(co->outer.kind))) {
    rc = fm_fail(&co->err, "--resume %s: the checkpoint's model or outer optimiser does not match", c->resume);
  } else if (ck.round > c->rounds) {
    rc = fm_fail(&co->err, "--resume %s: the checkpoint is at round %u of a %u-round run", c->resume, ck.round,
                 c->rounds);
  } else {
    memcpy(co->theta, ck.theta, sizeof(float) * co->d);
    if (co->outer.m) memcpy(co->outer.m, ck.outer_m, sizeof(float) * co->d);
    if (co->outer.v) memcpy(co->outer.v, ck.outer_v, sizeof(float) * co->d);
    co->outer.t = ck.outer_steps;
    *next = ck.round + 1;
    *complete = ck.complete;
  }
  free(now);
  checkpoint_free(&ck);
  return rc;
}

/* Opens OUT/metrics.jsonl for appending, keeping only the lines of rounds
 * before `next` (a resumed run rewrites the rounds after its checkpoint). */
int coord_jsonl_open(coord_t *co, uint32_t next) {
  char path[CFG_PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/metrics.jsonl", co->c->out);
  if (next > 1) {
    uint8_t *data = NULL;
    size_t len = 0;
    fm_err e = {{0}};
    if (fm_read_file(path, &data, &len, (size_t)1 << 32, &e) == 0) {
      size_t keep = 0;
      for (size_t i = 0; i < len;) {
        uint8_t *nl = memchr(data + i, '\n', len - i);
        if (!nl) break; /* a half-written last line */
        unsigned rr = 0;
        if (sscanf((const char *)data + i, "{\"round\":%u", &rr) != 1 || rr >= next) break;
        i = (size_t)(nl - data) + 1;
        keep = i;
      }
      int rc = fm_write_atomic(path, data, keep, &co->err);
      free(data);
      if (rc) return -1;
    }
  }
  co->jsonl = fopen(path, next > 1 ? "a" : "w");
  if (!co->jsonl) return fm_fail(&co->err, "cannot write %s (%s)", path, strerror(errno));
  return 0;
}

int coord_write_model(coord_t *co, uint32_t rounds, const float *theta, const char *path, const char *note) {
  char *cfgtext = coord_config_text(co->c, 1);
  if (!cfgtext) return fm_fail(&co->err, "out of memory");
  if (note) { /* a '#' line after the settings (fedmeta inspect shows it) */
    size_t n = strlen(cfgtext), k = strlen(note);
    char *t = realloc(cfgtext, n + k + 4);
    if (!t) {
      free(cfgtext);
      return fm_fail(&co->err, "out of memory");
    }
    cfgtext = t;
    snprintf(cfgtext + n, k + 4, "# %s\n", note);
  }
  checkpoint_t ck = checkpoint_of(co, rounds, cfgtext);
  ck.theta = (float *)theta;
  int rc = checkpoint_write(path, &ck, &co->err);
  free(cfgtext);
  return rc;
}

int coord_write_outputs(coord_t *co, uint32_t rounds, const eval_sum_t *es) {
  const fm_config *c = co->c;
  char path[CFG_PATH_MAX + 64];
  /* meta-model.pb */
  snprintf(path, sizeof path, "%s/meta-model.pb", c->out);
  if (coord_write_model(co, rounds, co->theta, path, NULL)) return -1;

  /* heldout.csv: one row per held-out platform and method */
  char *csv = NULL;
  size_t csvlen = 0;
  FILE *f = open_memstream(&csv, &csvlen);
  if (!f) return fm_fail(&co->err, "out of memory");
  fprintf(f, "platform,k,method,ndcg10,recall20,hr10,mrr,users\n");
  for (uint32_t p = 0; p < co->np; p++) {
    if (!co->p[p].heldout || !es->reported[p]) continue;
    const eval_msg_t *em = &es->heldout[p];
    const metrics_t *rows[3] = {&em->popularity, em->has_local_only ? &em->local_only : NULL, &em->model};
    char method[40];
    for (int k = 0; k < 3; k++) {
      if (!rows[k]) continue;
      if (k == 0) snprintf(method, sizeof method, "popularity");
      else if (k == 1) snprintf(method, sizeof method, "local-only");
      else if (strcmp(c->algo, "local") == 0) continue;
      else snprintf(method, sizeof method, "%s+ft", c->algo);
      fprintf(f, "%s,%u,%s,%.6f,%.6f,%.6f,%.6f,%u\n", co->p[p].name, c->kshot, method, rows[k]->ndcg10,
              rows[k]->recall20, rows[k]->hr10, rows[k]->mrr, rows[k]->n_users);
    }
  }
  fclose(f);
  snprintf(path, sizeof path, "%s/heldout.csv", c->out);
  int rc = fm_write_atomic(path, csv, csvlen, &co->err);
  if (!rc && c->verbose) {
    printf("\nheld-out industries (protocol P1, K = %u support interactions per user, "
           "full ranking):\n",
           c->kshot);
    printf("%-14s %-16s %9s %10s %8s %8s %7s\n", "industry", "method", "NDCG@10", "Recall@20", "HR@10",
           "MRR", "users");
    char *line = csv, *save = NULL;
    strtok_r(line, "\n", &save); /* header */
    for (char *l = strtok_r(NULL, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
      char name[64], method[40];
      unsigned k, users;
      double nd, rc20, hr, mrr;
      if (sscanf(l, "%63[^,],%u,%39[^,],%lf,%lf,%lf,%lf,%u", name, &k, method, &nd, &rc20, &hr, &mrr, &users) == 8)
        printf("%-14s %-16s %9.4f %10.4f %8.4f %8.4f %7u\n", name, method, nd, rc20, hr, mrr, users);
    }
    printf("\nwrote %s/meta-model.pb, %s/metrics.jsonl, %s/heldout.csv\n", c->out, c->out, c->out);
  }
  free(csv);
  return rc;
}

