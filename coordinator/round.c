/* coordinator/round.c: the round loop of rank 0.
 *
 *   start-up: hear a Hello from every platform (or the error that stops it)
 *   for each round r:
 *     plan     choose participants and weights, send RoundPlan + theta
 *     collect  receive Deltas until every participant answered (deadline
 *              --round-timeout), rejecting what belongs elsewhere
 *     aggregate add the fixed-point words (order-free), decode the mean delta
 *     step     theta <- theta + eps_r * outer(mean delta)
 *     evaluate every --eval-every rounds and after the last
 *     record   one JSON line in metrics.jsonl, one progress line
 *   end: meta-model.pb, heldout.csv, summary table, STOP to every rank. */
#include "coordinator/round.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/checkpoint.h"
#include "common/fixed.h"
#include "common/model.h"
#include "common/msg.h"
#include "common/rng.h"
#include "common/source.h"
#include "common/wire.h"
#include "coordinator/aggregate.h"
#include "worker/worker.h"

typedef struct pinfo {
  char name[64];
  int heldout;
  int heard;
  uint64_t n_train;
  uint32_t n_users, n_items, n_eval;
} pinfo_t;

typedef struct eval_sum {
  double valid_ndcg, valid_recall, valid_pop_ndcg; /* user-weighted over training platforms */
  uint32_t valid_users;
  eval_msg_t *heldout; /* (np) per platform; valid for held-out ones */
} eval_sum_t;

typedef struct coord {
  const fm_config *c;
  uint64_t job;
  int size, n_workers;
  int *workers;       /* ranks 1..size-1 */
  uint32_t np;
  pinfo_t *p;
  model_cfg_t mc;
  size_t d;
  float *theta, *mean;
  uint32_t *acc;
  outer_t outer;
  wire_buf in, out;
  FILE *jsonl;
  double t_start;
  fm_err err;
} coord_t;

static void send_stop(coord_t *co) {
  plan_t plan;
  memset(&plan, 0, sizeof plan);
  plan.job = co->job;
  plan.stage = MSG_STAGE_STOP;
  fm_err e;
  if (!msg_plan_pack(&co->out, &plan, NULL, 0, &e))
    wire_send_many(co->out.data, co->out.len, co->workers, co->n_workers, WIRE_TAG_PLAN, &e);
}

static round_settings_t settings_of(const fm_config *c) {
  round_settings_t rs;
  memset(&rs, 0, sizeof rs);
  snprintf(rs.algo, sizeof rs.algo, "%s", c->algo);
  rs.inner_steps = c->inner_steps;
  rs.train = worker_ft_cfg(c);
  rs.train.lr = c->inner_lr;
  rs.clip = c->clip;
  rs.ft_steps = c->ft_steps;
  return rs;
}

/* Start-up: one Hello per platform. Returns 0 when all platforms are up. */
static int hear_hellos(coord_t *co) {
  uint32_t heard = 0;
  int failed = 0;
  double deadline = wire_now() + co->c->round_timeout;
  while (heard < co->np && !failed) {
    int from;
    int r = wire_recv(&co->in, &from, WIRE_ANY_SOURCE, WIRE_TAG_HELLO, deadline - wire_now(), &co->err);
    if (r > 0) return fm_fail(&co->err, "only %u of %u platforms started within %.0f s (--round-timeout)",
                              heard, co->np, co->c->round_timeout);
    if (r < 0) return -1;
    hello_t h;
    if (msg_hello_unpack(&h, co->in.data, co->in.len, &co->err)) return -1;
    if (h.job != co->job) continue;
    if (h.error[0]) {
      fm_fail(&co->err, "%s", h.error);
      failed = 1;
      break;
    }
    if (h.platform >= co->np || co->p[h.platform].heard) continue;
    pinfo_t *pi = &co->p[h.platform];
    pi->heard = 1;
    pi->heldout = h.heldout;
    pi->n_train = h.n_train;
    pi->n_users = h.n_users;
    pi->n_items = h.n_items;
    pi->n_eval = h.n_eval_users;
    heard++;
  }
  return failed ? -1 : 0;
}

/* Participants of round r: all training platforms, or --per-round of them
 * drawn from the coordinator's seeded stream; returned in ascending order. */
static uint32_t choose(coord_t *co, uint32_t r, uint32_t *part) {
  uint32_t m = 0;
  for (uint32_t p = 0; p < co->np; p++)
    if (!co->p[p].heldout) part[m++] = p;
  uint32_t k = co->c->per_round;
  if (k == 0 || k >= m) return m;
  rng_t rng;
  rng_seed(&rng, co->c->seed, RNG_ROUND, r);
  for (uint32_t i = 0; i < k; i++) {
    uint32_t j = i + rng_below(&rng, m - i);
    uint32_t t = part[i];
    part[i] = part[j];
    part[j] = t;
  }
  for (uint32_t i = 1; i < k; i++) /* insertion sort of the chosen k */
    for (uint32_t j = i; j > 0 && part[j - 1] > part[j]; j--) {
      uint32_t t = part[j];
      part[j] = part[j - 1];
      part[j - 1] = t;
    }
  return k;
}

typedef struct round_stats {
  double loss, delta_norm, max_compute, sum_compute;
  uint32_t got, rejected, clipped;
} round_stats_t;

static int run_train_round(coord_t *co, uint32_t r, uint32_t *part, double *weight, round_stats_t *st) {
  const fm_config *c = co->c;
  uint32_t m = choose(co, r, part);
  double total = 0;
  for (uint32_t i = 0; i < m; i++) total += (double)co->p[part[i]].n_train;
  for (uint32_t i = 0; i < m; i++)
    weight[i] = strcmp(c->algo, "fedavg") == 0 ? (double)co->p[part[i]].n_train / total : 1.0 / m;

  plan_t plan;
  memset(&plan, 0, sizeof plan);
  plan.job = co->job;
  plan.round = r;
  plan.stage = MSG_STAGE_TRAIN;
  plan.rs = settings_of(c);
  plan.n_part = m;
  plan.part_platform = part;
  plan.part_weight = weight;
  plan.scale = fixed_scale_for_clip(c->clip);
  if (msg_plan_pack(&co->out, &plan, co->theta, co->d, &co->err)) return -1;
  if (wire_send_many(co->out.data, co->out.len, co->workers, co->n_workers, WIRE_TAG_PLAN, &co->err))
    return -1;

  /* collect */
  memset(st, 0, sizeof *st);
  memset(co->acc, 0, sizeof(uint32_t) * co->d);
  uint8_t *got = calloc(co->np, 1);
  if (!got) return fm_fail(&co->err, "out of memory");
  double deadline = wire_now() + c->round_timeout;
  int local = strcmp(c->algo, "local") == 0;
  while (st->got < m) {
    int from;
    int rc = wire_recv(&co->in, &from, WIRE_ANY_SOURCE, WIRE_TAG_DELTA, deadline - wire_now(), &co->err);
    if (rc > 0) {
      char missing[256] = "";
      size_t off = 0;
      for (uint32_t i = 0; i < m && off < sizeof missing - 40; i++)
        if (!got[part[i]]) off += (size_t)snprintf(missing + off, sizeof missing - off, " %s", co->p[part[i]].name);
      free(got);
      return fm_fail(&co->err, "round %u: no delta within %.0f s from:%s (raise --round-timeout?)", r,
                     c->round_timeout, missing);
    }
    if (rc < 0) {
      free(got);
      return -1;
    }
    delta_msg_t dm;
    if (msg_delta_unpack(&dm, co->in.data, co->in.len, &co->err)) {
      st->rejected++;
      continue;
    }
    int ok = dm.job == co->job && dm.round == r && dm.platform < co->np && !got[dm.platform] &&
             !co->p[dm.platform].heldout && (local ? 1 : dm.n_fixed == co->d);
    int member = 0;
    for (uint32_t i = 0; i < m; i++) member |= part[i] == dm.platform;
    if (!ok || !member) {
      st->rejected++;
      msg_delta_release(&dm);
      continue;
    }
    got[dm.platform] = 1;
    if (!local) fixed_add_bytes(co->acc, dm.fixed, co->d);
    st->got++;
    st->loss += dm.loss / m;
    st->clipped += dm.clipped != 0;
    st->sum_compute += dm.seconds;
    if (dm.seconds > st->max_compute) st->max_compute = dm.seconds;
    msg_delta_release(&dm);
  }
  free(got);

  /* aggregate and step: the weights sum to 1, so the decoded sum is the mean */
  if (!local) {
    fixed_decode(co->mean, co->acc, co->d, plan.scale);
    double sq = 0;
    for (size_t i = 0; i < co->d; i++) sq += (double)co->mean[i] * co->mean[i];
    st->delta_norm = sqrt(sq);
    float lr = strcmp(c->algo, "fedavg") == 0
                   ? 1.0f
                   : outer_lr_at(c->outer_lr, strcmp(c->schedule, "linear") == 0, r, c->rounds);
    outer_step(&co->outer, co->theta, co->mean, lr);
  }
  return 0;
}

static int run_eval(coord_t *co, uint32_t r, int final, eval_sum_t *es) {
  plan_t plan;
  memset(&plan, 0, sizeof plan);
  plan.job = co->job;
  plan.round = r;
  plan.stage = MSG_STAGE_EVAL;
  plan.rs = settings_of(co->c);
  plan.scale = fixed_scale_for_clip(co->c->clip);
  plan.final = final;
  if (msg_plan_pack(&co->out, &plan, co->theta, co->d, &co->err)) return -1;
  if (wire_send_many(co->out.data, co->out.len, co->workers, co->n_workers, WIRE_TAG_PLAN, &co->err))
    return -1;
  es->valid_ndcg = es->valid_recall = es->valid_pop_ndcg = 0;
  es->valid_users = 0;
  uint32_t heard = 0;
  uint8_t *got = calloc(co->np, 1);
  if (!got) return fm_fail(&co->err, "out of memory");
  /* Evaluation (fine-tuning, local-only baseline) takes longer than a round. */
  double deadline = wire_now() + 4 * co->c->round_timeout;
  while (heard < co->np) {
    int from;
    int rc = wire_recv(&co->in, &from, WIRE_ANY_SOURCE, WIRE_TAG_EVAL, deadline - wire_now(), &co->err);
    if (rc) {
      free(got);
      return rc > 0 ? fm_fail(&co->err, "evaluation after round %u: %u of %u platforms reported in time", r,
                              heard, co->np)
                    : -1;
    }
    eval_msg_t em;
    if (msg_eval_unpack(&em, co->in.data, co->in.len, &co->err)) continue;
    if (em.job != co->job || em.round != r || em.platform >= co->np || got[em.platform]) continue;
    got[em.platform] = 1;
    heard++;
    if (co->p[em.platform].heldout) {
      es->heldout[em.platform] = em;
    } else {
      double n = em.model.n_users;
      es->valid_ndcg += em.model.ndcg10 * n;
      es->valid_recall += em.model.recall20 * n;
      es->valid_pop_ndcg += em.popularity.ndcg10 * n;
      es->valid_users += em.model.n_users;
    }
  }
  free(got);
  if (es->valid_users) {
    es->valid_ndcg /= es->valid_users;
    es->valid_recall /= es->valid_users;
    es->valid_pop_ndcg /= es->valid_users;
  }
  return 0;
}

static void json_metrics(FILE *f, const char *key, const metrics_t *m) {
  fprintf(f, "\"%s\":{\"ndcg10\":%.6f,\"recall20\":%.6f,\"hr10\":%.6f,\"mrr\":%.6f,\"users\":%u}", key,
          m->ndcg10, m->recall20, m->hr10, m->mrr, m->n_users);
}

static void record(coord_t *co, uint32_t r, const round_stats_t *st, double round_s, const eval_sum_t *es) {
  FILE *f = co->jsonl;
  fprintf(f, "{\"round\":%u,\"wall_s\":%.3f,\"round_s\":%.4f,\"loss\":%.6f,\"deltas\":%u,\"rejected\":%u,"
             "\"clipped\":%u,\"delta_norm\":%.6g,\"max_compute_s\":%.4f",
          r, wire_now() - co->t_start, round_s, st->loss, st->got, st->rejected, st->clipped,
          st->delta_norm, st->max_compute);
  if (es) {
    fprintf(f, ",\"valid\":{\"ndcg10\":%.6f,\"recall20\":%.6f,\"pop_ndcg10\":%.6f,\"users\":%u}",
            es->valid_ndcg, es->valid_recall, es->valid_pop_ndcg, es->valid_users);
    fprintf(f, ",\"heldout\":{");
    int first = 1;
    for (uint32_t p = 0; p < co->np; p++) {
      if (!co->p[p].heldout) continue;
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
  if (es) {
    printf("  valid ndcg@10 %.4f (pop %.4f)", es->valid_ndcg, es->valid_pop_ndcg);
    for (uint32_t p = 0; p < co->np; p++)
      if (co->p[p].heldout)
        printf("  %s ndcg@10 %.4f (pop %.4f)", co->p[p].name, es->heldout[p].model.ndcg10,
               es->heldout[p].popularity.ndcg10);
  }
  printf("\n");
  fflush(stdout);
}

static int write_outputs(coord_t *co, uint32_t rounds, const eval_sum_t *es) {
  const fm_config *c = co->c;
  char path[CFG_PATH_MAX + 64];
  /* meta-model.pb */
  char *cfgtext = NULL, *fulltext = NULL;
  size_t cfglen = 0, fulllen = 0;
  FILE *m = open_memstream(&cfgtext, &cfglen);
  if (m) {
    config_write(c, CFG_TRAIN, 1, m);
    fclose(m);
  }
  m = open_memstream(&fulltext, &fulllen);
  if (m) {
    config_write(c, CFG_TRAIN, 0, m);
    fclose(m);
  }
  checkpoint_t ck;
  memset(&ck, 0, sizeof ck);
  ck.round = rounds;
  snprintf(ck.algo, sizeof ck.algo, "%s", c->algo);
  ck.seed = c->seed;
  ck.model = co->mc;
  ck.theta = co->theta;
  ck.n_theta = co->d;
  ck.config = cfgtext;
  snprintf(path, sizeof path, "%s/meta-model.pb", c->out);
  int rc = checkpoint_write(path, &ck, &co->err);
  snprintf(path, sizeof path, "%s/config.txt", c->out);
  if (!rc && fulltext) rc = fm_write_atomic(path, fulltext, fulllen, &co->err);
  free(cfgtext);
  free(fulltext);
  if (rc) return -1;

  /* heldout.csv: one row per held-out platform and method */
  char *csv = NULL;
  size_t csvlen = 0;
  FILE *f = open_memstream(&csv, &csvlen);
  if (!f) return fm_fail(&co->err, "out of memory");
  fprintf(f, "platform,k,method,ndcg10,recall20,hr10,mrr,users\n");
  for (uint32_t p = 0; p < co->np; p++) {
    if (!co->p[p].heldout) continue;
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
  rc = fm_write_atomic(path, csv, csvlen, &co->err);
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

int coord_run(const fm_config *c, uint64_t job, int size) {
  coord_t co;
  memset(&co, 0, sizeof co);
  co.c = c;
  co.job = job;
  co.size = size;
  co.n_workers = size - 1;
  co.mc = (model_cfg_t){c->dim, c->hidden, 1u << c->buckets_log2, c->hist_len};
  co.d = model_n_shared(&co.mc);
  co.t_start = wire_now();
  source_t src;
  memset(&src, 0, sizeof src);
  eval_sum_t es;
  memset(&es, 0, sizeof es);
  uint32_t *part = NULL;
  double *weight = NULL;
  int rc = -1;

  co.workers = malloc(sizeof(int) * (size_t)co.n_workers);
  if (!co.workers) {
    fprintf(stderr, "fedmeta: coordinator: out of memory\n");
    return 1;
  }
  for (int i = 0; i < co.n_workers; i++) co.workers[i] = i + 1;
  /* If the data cannot be opened here it cannot on the workers either: they
   * report it in their Hello and wait for the STOP that follows. */
  if (source_open(&src, c, &co.err)) goto stop;
  co.np = src.n_platforms;
  co.p = calloc(co.np, sizeof *co.p);
  es.heldout = calloc(co.np, sizeof *es.heldout);
  part = malloc(sizeof(uint32_t) * co.np);
  weight = malloc(sizeof(double) * co.np);
  co.theta = malloc(sizeof(float) * co.d);
  co.mean = malloc(sizeof(float) * co.d);
  co.acc = malloc(sizeof(uint32_t) * co.d);
  if (!co.p || !es.heldout || !part || !weight || !co.theta || !co.mean || !co.acc) {
    fm_fail(&co.err, "coordinator: out of memory (%zu shared parameters)", co.d);
    goto stop;
  }
  for (uint32_t p = 0; p < co.np; p++) snprintf(co.p[p].name, sizeof co.p[p].name, "%s", src.names[p]);
  if (hear_hellos(&co)) goto stop;
  uint32_t n_train = 0;
  for (uint32_t p = 0; p < co.np; p++) n_train += !co.p[p].heldout;
  if (n_train == 0) {
    fm_fail(&co.err, "every platform is held out: nothing to train on (check --heldout)");
    goto stop;
  }
  if (fm_mkdir_p(c->out, &co.err)) {
    fm_wrap(&co.err, "--out");
    goto stop;
  }
  char path[CFG_PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/metrics.jsonl", c->out);
  co.jsonl = fopen(path, "w");
  if (!co.jsonl) {
    fm_fail(&co.err, "cannot write %s (%s)", path, strerror(errno));
    goto stop;
  }
  int kind = !strcmp(c->outer_opt, "adam") ? OUTER_ADAM : !strcmp(c->outer_opt, "momentum") ? OUTER_MOMENTUM : OUTER_SGD;
  if (outer_init(&co.outer, kind, co.d, &co.err)) goto stop;
  model_shared_init(co.theta, &co.mc, c->seed);
  if (c->verbose) {
    printf("fedmeta train: %s, %u platforms (%u training, %u held out) on %d worker ranks, "
           "%zu shared parameters, %u rounds\n",
           c->algo, co.np, n_train, co.np - n_train, co.n_workers, co.d, c->rounds);
    fflush(stdout);
  }

  for (uint32_t r = 1; r <= c->rounds; r++) {
    double t0 = wire_now();
    round_stats_t st;
    if (run_train_round(&co, r, part, weight, &st)) goto stop;
    double round_s = wire_now() - t0;
    int final = r == c->rounds;
    int do_eval = final || (c->eval_every && r % c->eval_every == 0);
    if (do_eval && run_eval(&co, r, final, &es)) goto stop;
    record(&co, r, &st, round_s, do_eval ? &es : NULL);
  }
  if (write_outputs(&co, c->rounds, &es)) goto stop;
  rc = 0;

stop:
  send_stop(&co);
  if (rc) fprintf(stderr, "fedmeta: %s\n", co.err.msg[0] ? co.err.msg : "coordinator failed");
  if (co.jsonl) fclose(co.jsonl);
  outer_free(&co.outer);
  free(co.theta);
  free(co.mean);
  free(co.acc);
  free(co.p);
  free(es.heldout);
  free(part);
  free(weight);
  free(co.workers);
  wire_buf_free(&co.in);
  wire_buf_free(&co.out);
  source_close(&src);
  return rc ? 1 : 0;
}
