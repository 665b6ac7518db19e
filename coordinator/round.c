/* coordinator/round.c: the round loop of rank 0.
 *
 *   start-up: the sealed channels (handshake), then a Hello from every
 *             platform (or the error that stops it); --resume: the checkpoint
 *   for each round r:
 *     plan     choose participants and weights, send RoundPlan + theta
 *     (secagg) mask keys and key shares first (secagg_round.c)
 *     collect  receive Deltas until every participant answered or the
 *              deadline (--round-timeout), rejecting what fails to open,
 *              belongs elsewhere or breaks the norm bound; fewer than
 *              --min-platforms stops the run
 *     aggregate add the fixed-point words (order-free; secagg: unmask the
 *              survivors' sum), decode; or median / trimmed mean
 *     step     theta <- theta + eps_r * outer(mean delta); DP: the accountant
 *     evaluate every --eval-every rounds and after the last
 *     record   metrics.jsonl line, progress line, checkpoint (record.c)
 *   end: meta-model.pb, heldout.csv, summary table, STOP, wait for every BYE. */
#include "coordinator/round.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/channel.h"
#include "common/checkpoint.h"
#include "common/dp.h"
#include "common/fixed.h"
#include "common/model.h"
#include "common/msg.h"
#include "common/prof.h"
#include "common/rng.h"
#include "common/search.h"
#include "common/source.h"
#include "common/wire.h"
#include "coordinator/aggregate.h"
#include "worker/worker.h"

#include "coordinator/coord.h"

/* sum_i x_i^2 in double, in a fixed order (eight interleaved partial sums, then
 * their sum): the same bits every run, and faster than one running sum, whose
 * every add waits for the one before. */
static double sumsq(const float *x, size_t n) {
  double a[8] = {0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) a[j] += (double)x[i + j] * x[i + j];
  double s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  for (; i < n; i++) s += (double)x[i] * x[i];
  return s;
}

static void send_stop(coord_t *co) {
  plan_t plan;
  memset(&plan, 0, sizeof plan);
  plan.job = co->job;
  plan.round = co->round_now;
  plan.stage = MSG_STAGE_STOP;
  fm_err e;
  if (!msg_plan_pack(&co->out, &plan, NULL, 0, &e))
    chan_post(&co->ch, co->workers, co->n_workers, WIRE_TAG_PLAN, co->round_now, co->out.data, co->out.len, &e);
}

static round_settings_t settings_of(const fm_config *c) {
  round_settings_t rs;
  memset(&rs, 0, sizeof rs);
  snprintf(rs.algo, sizeof rs.algo, "%s", c->algo);
  rs.inner_steps = c->inner_steps;
  rs.train = worker_ft_cfg(c);
  rs.train.lr = c->inner_lr;
  rs.train.prox = 0; /* the prior is the fine-tune's (adapt.c), not the inner training's */
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
    int reject;
    int r = chan_recv(&co->ch, &co->in, &from, WIRE_ANY_SOURCE, WIRE_TAG_HELLO, deadline - wire_now(), &reject, &co->err);
    if (r == 2) {
      fprintf(stderr, "fedmeta: a Hello from rank %d was rejected (%s): %s\n", from, seal_strerror(reject), co->err.msg);
      continue;
    }
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
    if (co->hosts && co->hosts[h.platform] != from) {
      fprintf(stderr, "fedmeta: rank %d said Hello for platform %s, which another party hosts: ignored\n", from,
              co->p[h.platform].name);
      continue;
    }
    pinfo_t *pi = &co->p[h.platform];
    pi->heard = 1;
    pi->rank = from;
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
static uint32_t training_platforms(const coord_t *co, uint32_t *part) {
  uint32_t m = 0;
  for (uint32_t p = 0; p < co->np; p++)
    if (!co->p[p].heldout && co->p[p].n_train > 0) part[m++] = p; /* nothing to train on: never takes part */
  return m;
}

static uint32_t choose(coord_t *co, uint32_t r, uint32_t *part) {
  uint32_t m = training_platforms(co, part);
  if (co->dp && co->dp_q < 1) { /* Poisson sampling: each platform with probability q */
    rng_t rng;
    rng_seed(&rng, co->c->seed, RNG_ROUND, r);
    uint32_t k = 0;
    for (uint32_t i = 0; i < m; i++)
      if (rng_double(&rng) < co->dp_q) part[k++] = part[i];
    return k;
  }
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

/* A round that cannot be completed securely (too few parties to unmask):
 * no update, the run goes on. */
static int abandon(coord_t *co, uint32_t r, round_stats_t *st) {
  fprintf(stderr, "fedmeta: round %u abandoned, no update: %s\n", r, co->err.msg);
  st->skipped = 1;
  st->abandoned = 1;
  return 0;
}

static int robust_mode(const fm_config *c) { return strcmp(c->aggregate, "mean") != 0; }
/* fedavg and central (one pooled platform) weight by examples and step with epsilon = 1. */
static int fedavg_like(const fm_config *c) { return !strcmp(c->algo, "fedavg") || !strcmp(c->algo, "central"); }

/* One round: a training round (search NULL), or the start search's round
 * (search: its candidates and K values; every training platform takes part,
 * sends its scores as a delta, and co->mean holds their weighted mean after;
 * theta does not move). */
static int run_train_round(coord_t *co, uint32_t r, uint32_t *part, double *weight, round_stats_t *st,
                           const plan_t *search) {
  const fm_config *c = co->c;
  uint32_t m = search ? training_platforms(co, part) : choose(co, r, part);
  int robust = robust_mode(c);
  double total = 0;
  for (uint32_t i = 0; i < m; i++) total += (double)co->p[part[i]].n_train;
  /* Robust statistics compare the deltas themselves: every platform sends its
   * clipped delta unweighted. */
  for (uint32_t i = 0; i < m; i++)
    weight[i] = search ? 1.0 / m /* the scores' mean: sums over counts */
                : co->dp ? co->dp_w : robust ? 1.0 : fedavg_like(c) ? (double)co->p[part[i]].n_train / total : 1.0 / m;
  memset(st, 0, sizeof *st);
  if (co->dp && m < co->dp_nmin) {
    /* too few sampled for the noise to carry its variance: no update this round */
    st->skipped = 1;
    return 0;
  }

  plan_t plan; /* a search round: its candidates, K values and bounds come with the template */
  if (search) plan = *search;
  else memset(&plan, 0, sizeof plan);
  plan.job = co->job;
  plan.round = r;
  plan.stage = search ? MSG_STAGE_SEARCH : MSG_STAGE_TRAIN;
  plan.rs = settings_of(c);
  plan.rs.dp_sigma = co->dp_sigma;
  plan.rs.dp_test_seed = c->dp_test_seed;
  plan.n_part = m;
  plan.part_platform = part;
  plan.part_weight = weight;
  plan.scale = co->scale;
  if (r == 2) prof_reset(); /* round 1 warms up */
  prof_t tp = prof_now();
  if (msg_plan_pack(&co->out, &plan, co->theta, co->d, &co->err)) return -1;
  prof_add(PROF_PLAN_PACK, tp);
  co->round_now = r;
  chan_set_round(&co->ch, r); /* sealed messages of earlier rounds are rejected from now on */
  if (chan_post(&co->ch, co->workers, co->n_workers, WIRE_TAG_PLAN, r, co->out.data, co->out.len, &co->err))
    return -1;

  /* secure aggregation: stages 0-1 (mask keys and key shares) come first */
  sa_coord_t *sa = NULL;
  uint32_t expect = m;
  if (!strcmp(c->secagg, "on")) {
    tp = prof_now();
    int src = sa_coord_start(&sa, co, r, part, m);
    prof_add(PROF_SA_SETUP, tp);
    if (src) {
      sa_coord_free(sa);
      if (src < 0) return -1;
      return abandon(co, r, st); /* too few parties: no update */
    }
    uint32_t dropped_sa, rejected_sa;
    sa_coord_counts(sa, &expect, &dropped_sa, &rejected_sa);
  }

  /* The last round's checkpoint, written now that the workers train: the
   * state it holds (theta, the outer optimiser) changes only at this round's
   * step, and the write (an fsync of several MiB) is off the round's path. */
  if (co->ck_due) {
    if (coord_save_checkpoint(co, co->ck_due, 0)) {
      sa_coord_free(sa);
      return -1;
    }
    co->ck_due = 0;
  }
  if (c->inject_crash == r && !c->resume[0]) {
    fprintf(stderr, "fedmeta: --inject-crash: the coordinator dies in round %u\n", r);
    fflush(stderr);
    raise(SIGKILL);
  }

  /* collect until every participant answered or the deadline passed */
  st->rej[REJ_LATE] += co->late_carry; /* late messages met since the last collection */
  co->late_carry = 0;
  memset(co->acc, 0, sizeof(uint32_t) * co->d);
  uint8_t *got = calloc(co->np, 1);
  double *by_rank = calloc((size_t)co->size, sizeof *by_rank); /* compute per hosting rank */
  if (!got || !by_rank) {
    free(got);
    free(by_rank);
    sa_coord_free(sa);
    return fm_fail(&co->err, "out of memory");
  }
  /* scoring every candidate on a whole split takes longer than a round, as an evaluation does */
  double timeout = search ? 4 * c->round_timeout : c->round_timeout;
  double deadline = wire_now() + timeout, wsum = 0;
  int local = strcmp(c->algo, "local") == 0;
  uint32_t answered = 0; /* aggregated, or from a participant but rejected */
  while (answered < expect) {
    int from;
    int reject;
    int rc = chan_recv(&co->ch, &co->in, &from, WIRE_ANY_SOURCE, WIRE_ANY_TAG, deadline - wire_now(), &reject, &co->err);
    if (rc < 0) {
      free(got);
      free(by_rank);
      sa_coord_free(sa);
      return -1;
    }
    if (rc == 1) break; /* deadline */
    if (rc == 2) { /* failed to open: tampered, truncated, replayed or of an earlier round */
      int why = reject == SEAL_EROUND ? REJ_LATE : reject == SEAL_EREPLAY ? REJ_REPLAY : REJ_AUTH;
      st->rej[why]++;
      if (c->verbose > 1) fprintf(stderr, "fedmeta: round %u: message from rank %d rejected: %s\n", r, from, co->err.msg);
      continue;
    }
    if (sa && co->in.tag == WIRE_TAG_SECAGG) { /* b-shares of the survivors so far */
      int trc = sa_coord_take(sa, from, co->in.data, co->in.len);
      sodium_memzero(co->in.data, co->in.len); /* the opened b-shares */
      if (trc) {
        free(got);
        free(by_rank);
        sa_coord_free(sa);
        return -1;
      }
      continue;
    }
    if (co->in.tag != WIRE_TAG_DELTA) { /* an evaluation report that missed its deadline */
      st->rej[REJ_LATE]++;
      continue;
    }
    delta_msg_t dm;
    tp = prof_now();
    if (msg_delta_unpack(&dm, co->in.data, co->in.len, &co->err)) {
      st->rej[REJ_MALFORMED]++;
      continue;
    }
    if (co->ch.split_tag == WIRE_TAG_DELTA) { /* secagg: the masked words are the clear part */
      if (dm.n_fixed || dm.n_runs || co->ch.clear_len % sizeof(uint32_t)) {
        st->rej[REJ_MALFORMED]++;
        msg_delta_release(&dm);
        continue;
      }
      dm.fixed = co->ch.clear_len ? (const uint32_t *)co->ch.clear : NULL; /* read with memcpy: no alignment assumed */
      dm.n_fixed = co->ch.clear_len / sizeof(uint32_t);
    }
    prof_add(PROF_DELTA_UNPACK, tp);
    tp = prof_now();
    int slot = -1;
    for (uint32_t i = 0; i < m; i++)
      if (part[i] == dm.platform) slot = (int)i;
    int why = -1;
    double norm = 0;
    int sparse = dm.n_runs > 0;
    if (dm.job != co->job) why = REJ_FOREIGN;
    else if (dm.round < r) why = REJ_LATE;
    else if (dm.round > r || slot < 0 || co->p[dm.platform].rank != from /* only its host speaks for it */ ||
             got[dm.platform] ||
             (!local && (sparse ? sa || fixed_runs_check(dm.runs, dm.n_runs, co->d, dm.n_fixed) /* masked: dense */
                                : dm.n_fixed != co->d)))
      why = REJ_UNEXPECTED;
    else if (!isfinite(dm.loss) || !isfinite(dm.norm) || !isfinite(dm.seconds)) why = REJ_NONFINITE;
    /* a sparse delta's words are its non-zero ones in index order: the same sum of squares */
    else if (!local && !sa && agg_check_norm((const uint8_t *)dm.fixed, dm.n_fixed, plan.scale,
                                      weight[slot] * c->clip * (1 + 1e-5) +
                                          (0.5 + co->dp_sigma * 1.1) * sqrt((double)co->d) / plan.scale + 1e-3,
                                      &norm))
      why = REJ_BOUND;
    if (why >= 0) {
      st->rej[why]++;
      if (why == REJ_NONFINITE || why == REJ_BOUND) { /* the participant answered: do not wait for it */
        got[dm.platform] = 2;
        answered++;
      }
      if (why == REJ_BOUND && c->verbose)
        fprintf(stderr, "fedmeta: round %u: delta of %s rejected: norm %.4g beyond the bound %.4g (--clip)\n", r,
                co->p[dm.platform].name, norm, weight[slot] * c->clip);
      msg_delta_release(&dm);
      continue;
    }
    if (sa) { /* a masked input: only the sum of all of them means anything */
      fm_err e;
      if (sa_coord_add(sa, (uint32_t)slot, dm.fixed, &e)) {
        st->rej[REJ_UNEXPECTED]++;
        msg_delta_release(&dm);
        continue;
      }
    }
    got[dm.platform] = 1;
    answered++;
    /* the last one's b-shares come with the final STATE's answers */
    if (sa && answered < expect && sa_coord_survived(sa, (uint32_t)slot)) {
      msg_delta_release(&dm);
      free(got);
      free(by_rank);
      sa_coord_free(sa);
      return -1;
    }
    if (!local) {
      if (robust && sparse) fixed_expand_runs(co->rows + (size_t)st->got * co->d, co->d, dm.fixed, dm.runs, dm.n_runs);
      else if (robust) memcpy(co->rows + (size_t)st->got * co->d, dm.fixed, sizeof(uint32_t) * co->d);
      else if (sparse) fixed_add_runs_bytes(co->acc, dm.fixed, dm.runs, dm.n_runs);
      else if (!sa) fixed_add_bytes(co->acc, dm.fixed, co->d);
      wsum += weight[slot];
    }
    st->got++;
    st->loss += dm.loss;
    st->clipped += dm.clipped != 0;
    st->sum_compute += dm.seconds;
    if (dm.seconds > st->max_compute) st->max_compute = dm.seconds;
    if (co->p[dm.platform].rank >= 0 && co->p[dm.platform].rank < co->size) {
      double *rk = &by_rank[co->p[dm.platform].rank];
      *rk += dm.seconds;
      if (*rk > st->rank_compute) st->rank_compute = *rk;
    }
    msg_delta_release(&dm);
    prof_add(PROF_AGG, tp);
  }
  if (sa) {
    /* stages 3-4: who survived, the reveals, the exact sum into co->acc */
    uint8_t *survived = calloc(m, 1);
    int frc = survived ? sa_coord_finish(sa, co, survived) : fm_fail(&co->err, "out of memory");
    sa_coord_counts(sa, &st->sa_shared, &st->sa_dropped, &st->sa_rejected);
    st->secagg = 1;
    free(survived);
    sa_coord_free(sa);
    if (frc) {
      free(got);
      free(by_rank);
      return frc < 0 ? -1 : abandon(co, r, st);
    }
  }
  for (int k = 0; k < REJ_N; k++) st->rejected += st->rej[k];
  st->dropped = m - answered;
  size_t off = 0;
  for (uint32_t i = 0; i < m; i++)
    if (!got[part[i]] && off < sizeof st->dropped_names - 70)
      off += (size_t)snprintf(st->dropped_names + off, sizeof st->dropped_names - off, "%s\"%s\"", off ? "," : "",
                              co->p[part[i]].name);
  free(got);
      free(by_rank);
  if (st->got) st->loss /= st->got;
  uint32_t need = c->min_platforms < m ? c->min_platforms : m;
  if (st->got < need)
    return fm_fail(&co->err,
                   "round %u: %u of %u platforms sent an acceptable delta within %.0f s (%u rejected), "
                   "--min-platforms is %u; missing: %s (raise --round-timeout, or resume with --resume %s once "
                   "they are back)",
                   r, st->got, m, timeout, st->rejected, need, st->dropped_names[0] ? st->dropped_names : "none",
                   c->out);
  if (st->dropped && c->verbose)
    fprintf(stderr, "fedmeta: round %u: going on without %u platform(s) that missed the %.0f s deadline: %s\n", r,
            st->dropped, timeout, st->dropped_names);

  /* aggregate and step */
  tp = prof_now();
  double sq = -1; /* the mean's sum of squares, once known */
  if (!local) {
    if (!strcmp(c->aggregate, "median")) {
      agg_median(co->mean, co->rows, st->got, co->d, plan.scale, co->tmp);
    } else if (!strcmp(c->aggregate, "trimmed")) {
      agg_trimmed(co->mean, co->rows, st->got, co->d, plan.scale, c->trim, co->tmp);
    } else {
      /* The weights of a full round sum to 1, so the decoded sum is the mean;
       * when deltas are missing (dropped or rejected), renormalise by the
       * weight that was aggregated. */
      fixed_decode(co->mean, co->acc, co->d, plan.scale);
      sq = sumsq(co->mean, co->d);
      if (st->secagg) {
        /* The coordinator cannot check a masked delta, but it can check the
         * sum: the clipped deltas bound its norm by the weights it holds. */
        double bound = wsum * c->clip * (1 + 1e-5) +
                       (0.5 * st->got + 1.1 * co->dp_sigma * sqrt((double)st->got)) * sqrt((double)co->d) / plan.scale + 1e-3;
        if (sqrt(sq) > bound) {
          fprintf(stderr, "fedmeta: round %u: the secure sum has norm %.4g beyond the clipping bound %.4g: some "
                          "platform did not clip; no update this round\n", r, sqrt(sq), bound);
          st->rej[REJ_BOUND]++;
          st->rejected++;
          st->abandoned = 1;
          return 0;
        }
      }
      /* Under DP every delta has the fixed weight 1 / (q N): the noisy sum is the estimate. */
      if (st->got < m && !co->dp) {
        for (size_t i = 0; i < co->d; i++) co->mean[i] = (float)(co->mean[i] / wsum);
        sq = -1; /* changed */
      }
    }
    if (sq < 0) sq = sumsq(co->mean, co->d);
    st->delta_norm = sqrt(sq);
    if (search) return 0; /* the scores are the result: no step */
    float lr = fedavg_like(c)
                   ? 1.0f
                   : outer_lr_at(c->outer_lr, strcmp(c->schedule, "linear") == 0, r, c->rounds);
    outer_step(&co->outer, co->theta, co->mean, lr);
  }
  prof_add(PROF_STEP, tp);
  prof_trace(0, "stepped", -1, 0, 0);
  return 0;
}

static int run_eval(coord_t *co, uint32_t r, int final, eval_sum_t *es) {
  plan_t plan;
  memset(&plan, 0, sizeof plan);
  plan.job = co->job;
  plan.round = r;
  plan.stage = MSG_STAGE_EVAL;
  plan.rs = settings_of(co->c);
  plan.scale = co->scale;
  plan.final = final;
  if (msg_plan_pack(&co->out, &plan, co->theta, co->d, &co->err)) return -1;
  if (chan_post(&co->ch, co->workers, co->n_workers, WIRE_TAG_PLAN, r, co->out.data, co->out.len, &co->err))
    return -1;
  es->valid_ndcg = es->valid_recall = es->valid_pop_ndcg = 0;
  es->valid_users = 0;
  uint32_t heard = 0;
  uint8_t *got = es->reported;
  memset(got, 0, co->np);
  /* Evaluation (fine-tuning, local-only baseline) takes longer than a round. */
  double deadline = wire_now() + 4 * co->c->round_timeout;
  while (heard < co->np) {
    int from;
    int reject;
    int rc = chan_recv(&co->ch, &co->in, &from, WIRE_ANY_SOURCE, WIRE_ANY_TAG, deadline - wire_now(), &reject, &co->err);
    if (rc < 0) return -1;
    if (rc == 2 || (rc == 0 && co->in.tag != WIRE_TAG_EVAL)) { /* rejected, or a delta that missed its deadline */
      co->late_carry++;
      continue;
    }
    if (rc > 0) {
      /* A platform that misses the deadline is left out of this evaluation. */
      fprintf(stderr, "fedmeta: evaluation after round %u: %u of %u platforms reported within %.0f s; going on "
                      "without:", r, heard, co->np, 4 * co->c->round_timeout);
      for (uint32_t p = 0; p < co->np; p++)
        if (!got[p]) fprintf(stderr, " %s", co->p[p].name);
      fprintf(stderr, "\n");
      break;
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
  es->missing = co->np - heard;
  if (es->valid_users) {
    es->valid_ndcg /= es->valid_users;
    es->valid_recall /= es->valid_users;
    es->valid_pop_ndcg /= es->valid_users;
  }
  return 0;
}

/* One round of the start search: every training platform scores the n
 * candidate tails cand (nt floats each) at the K values of req on `users` of
 * its query users (0: all); most: the most users a training platform has. mean[k n + i]: the mean NDCG@10 over all the
 * platforms' scored users. Returns 0, or -1 (co->err) if it could not be done. */
static int search_round(coord_t *co, uint32_t r, uint32_t *part, double *weight, plan_t *req, const float *cand,
                        uint32_t n, size_t nt, uint32_t users, uint32_t most, double *mean, uint32_t *got) {
  const uint32_t nk = req->n_search_k;
  const size_t L = ((size_t)n + 1) * nk; /* worker.c compute_scores */
  if (L > co->d)
    return fm_fail(&co->err, "--search-k: %zu scores (candidates x K values) do not fit a delta of %zu words", L, co->d);
  req->cand = (float *)cand;
  req->n_cand_floats = (size_t)n * nt;
  req->search_users = users;
  /* U: no platform scores more users than it has, nor more than it is asked to */
  req->search_norm = users && users < most ? users : most > 0 ? most : 1;
  round_stats_t st;
  if (run_train_round(co, r, part, weight, &st, req)) return -1;
  if (st.abandoned || st.skipped || st.got == 0)
    return fm_fail(&co->err, "the start search could not be completed (%u platform(s) answered%s): no "
                             "meta-model-k*.pb written", st.got, st.abandoned ? ", the secure sum was abandoned" : "");
  /* co->mean[k n + i]: the weighted mean of the platforms' NDCG sums, co->mean[n nk + k] of their user counts,
   * in the same units (worker.c compute_scores): their ratio is the mean over all those users */
  for (uint32_t k = 0; k < nk; k++) {
    const double cnt = co->mean[(size_t)n * nk + k];
    if (!(cnt > 0))
      return fm_fail(&co->err, "the start search at K = %u: no training platform has a user with more than %u "
                               "interactions", req->search_k[k], req->search_k[k]);
    for (uint32_t i = 0; i < n; i++) mean[(size_t)k * n + i] = co->mean[(size_t)k * n + i] / cnt;
  }
  *got = st.got;
  return 0;
}

/* The federated start search after the rounds (common/search.h). Pass 1:
 * every candidate on --search-users of each platform's query users. Pass 2
 * (--search-refine T > 0), one more round: the meta-model as trained and the
 * T best of pass 1 at each K, on every query user. The best per K of the last
 * pass (ties: the lower candidate, the meta-model as trained first) is written
 * to OUT/meta-model-k<K>.pb, every score of both passes to OUT/search.csv. r:
 * the round number of pass 1 (after the last training round). */
static int run_search(coord_t *co, uint32_t r, uint32_t *part, double *weight) {
  const fm_config *c = co->c;
  search_grid_t g;
  plan_t req;
  memset(&req, 0, sizeof req);
  if (search_ks_parse(c->search_k, req.search_k, &req.n_search_k, &co->err) ||
      search_grid_parse(&g, c->search_grid, &co->mc, &co->err))
    return -1;
  const uint32_t nk = req.n_search_k, C = g.n_cand;
  const size_t nt = search_tail_len(&co->mc), off = search_tail_offset(&co->mc);
  float *cand = malloc(sizeof(float) * C * nt), *cand2 = malloc(sizeof(float) * C * nt), *th = malloc(sizeof(float) * co->d);
  double *mean1 = malloc(sizeof(double) * C * nk), *mean2 = malloc(sizeof(double) * C * nk);
  uint32_t *idx2 = malloc(sizeof(uint32_t) * C), n2 = 0, got = 0;
  uint8_t *in2 = calloc(C, 1), *mine = malloc(C); /* in the second pass; among one K's best */
  char *csv = NULL;
  size_t csvlen = 0;
  int rc = -1;
  if (!cand || !cand2 || !th || !mean1 || !mean2 || !idx2 || !in2 || !mine) {
    fm_fail(&co->err, "out of memory");
    goto done;
  }
  if (search_candidates(&g, &co->mc, co->theta, cand, &co->err)) goto done;
  char users[32];
  snprintf(users, sizeof users, c->search_users ? "up to %u" : "all", c->search_users);
  if (c->verbose) {
    printf("fedmeta train: start search: %u candidates, K = %s, scored on %s query users of each training platform "
           "(no fine-tune)\n", C, c->search_k, users);
    fflush(stdout);
  }
  uint32_t most = 0; /* the most users a training platform has (>= its query users) */
  for (uint32_t p = 0; p < co->np; p++)
    if (!co->p[p].heldout && co->p[p].n_users > most) most = co->p[p].n_users;
  double t0 = wire_now();
  if (search_round(co, r, part, weight, &req, cand, C, nt, c->search_users, most, mean1, &got)) goto done;
  /* the pass whose scores choose: the first, or the refinement of its best */
  const double *fin = mean1;
  const uint32_t *fidx = NULL; /* pass 2: grid index of each of its candidates */
  uint32_t nf = C;
  /* no second pass when the first saw every query user */
  if (c->search_refine > 0 && c->search_users > 0 && most > c->search_users) {
    in2[0] = 1; /* the meta-model as trained */
    for (uint32_t k = 0; k < nk; k++) {
      const double *m = mean1 + (size_t)k * C;
      memset(mine, 0, C);
      for (uint32_t t = 0; t < c->search_refine && t + 1 < C; t++) {
        uint32_t best = 0;
        for (uint32_t i = 1; i < C; i++)
          if (!mine[i] && (best == 0 || m[i] > m[best])) best = i;
        mine[best] = 1;
        in2[best] = 1;
      }
    }
    for (uint32_t i = 0; i < C; i++)
      if (in2[i]) {
        memcpy(cand2 + (size_t)n2 * nt, cand + (size_t)i * nt, sizeof(float) * nt);
        idx2[n2++] = i;
      }
    if (c->verbose) {
      printf("fedmeta train: start search, refinement: the meta-model and the %u best of each K (%u candidates) on "
             "every query user\n", c->search_refine, n2);
      fflush(stdout);
    }
    if (search_round(co, r + 1, part, weight, &req, cand2, n2, nt, 0, most, mean2, &got)) goto done;
    fin = mean2, fidx = idx2, nf = n2;
  }
  FILE *f = open_memstream(&csv, &csvlen);
  if (!f) {
    fm_fail(&co->err, "out of memory");
    goto done;
  }
  fprintf(f, "k,candidate,weights,pass,query_users,ndcg10\n");
  char label[256];
  for (uint32_t k = 0; k < nk; k++) {
    for (uint32_t i = 0; i < C; i++) {
      search_label(&g, i, label, sizeof label);
      fprintf(f, "%u,%u,%s,1,%s,%.6f\n", req.search_k[k], i, label, users, mean1[(size_t)k * C + i]);
    }
    for (uint32_t j = 0; fidx && j < nf; j++) {
      search_label(&g, fidx[j], label, sizeof label);
      fprintf(f, "%u,%u,%s,2,all,%.6f\n", req.search_k[k], fidx[j], label, fin[(size_t)k * nf + j]);
    }
  }
  fclose(f);
  char path[CFG_PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/search.csv", c->out);
  if (fm_write_atomic(path, csv, csvlen, &co->err)) goto done;
  if (c->verbose)
    printf("fedmeta train: start search over %u training platforms in %.1f s (mean NDCG@10, no fine-tune):\n", got,
           wire_now() - t0);
  for (uint32_t k = 0; k < nk; k++) {
    const double *sc = fin + (size_t)k * nf;
    uint32_t best = 0; /* ties: the lower candidate */
    for (uint32_t j = 1; j < nf; j++)
      if (sc[j] > sc[best]) best = j;
    const uint32_t gi = fidx ? fidx[best] : best;
    search_label(&g, gi, label, sizeof label);
    char note[512];
    snprintf(note, sizeof note,
             "start search: K = %u, candidate %u of %u (%s), mean NDCG@10 %.4f over %u training platforms "
             "against %.4f as trained (%s query users each%s)",
             req.search_k[k], gi, C, label, sc[best], got, sc[0], fidx ? "all" : users,
             fidx ? ", the refinement of the first pass's best" : "");
    memcpy(th, co->theta, sizeof(float) * co->d);
    memcpy(th + off, cand + (size_t)gi * nt, sizeof(float) * nt);
    snprintf(path, sizeof path, "%s/meta-model-k%u.pb", c->out, req.search_k[k]);
    if (coord_write_model(co, r - 1, th, path, note)) goto done;
    if (c->verbose)
      printf("  K = %-3u %.4f (as trained %.4f): %s -> %s\n", req.search_k[k], sc[best], sc[0], label, path);
  }
  rc = 0;
done:
  free(csv);
  free(cand);
  free(cand2);
  free(th);
  free(mean1);
  free(mean2);
  free(idx2);
  free(in2);
  free(mine);
  return rc;
}

int coord_run(const fm_config *c, uint64_t job, int size, const int *hosts) {
  coord_t co;
  memset(&co, 0, sizeof co);
  co.c = c;
  co.job = job;
  co.size = size;
  co.hosts = hosts;
  co.n_workers = size - 1;
  co.mc = worker_model_cfg(c);
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
  /* identities and sealed channels first: nothing else crosses before them */
  if (chan_init(&co.ch, c, job, 0, size, &co.err) || chan_handshake(&co.ch, c, c->round_timeout, &co.err)) {
    fprintf(stderr, "fedmeta: coordinator: %s\n", co.err.msg);
    fflush(stderr);
    wire_abort(1);
  }
  /* under secagg a Delta's masked words travel in the clear part of a split message */
  if (!strcmp(c->secagg, "on")) chan_set_split(&co.ch, WIRE_TAG_DELTA);
  if (c->verbose > 1 && co.ch.sealed) printf("fedmeta train: sealed channels to %d worker ranks\n", co.n_workers);
  /* If the data cannot be opened here it cannot on the workers either: they
   * report it in their Hello and wait for the STOP that follows. */
  if (source_open(&src, c, &co.err)) goto stop;
  co.np = src.n_platforms;
  co.p = calloc(co.np, sizeof *co.p);
  es.heldout = calloc(co.np, sizeof *es.heldout);
  es.reported = calloc(co.np, 1);
  part = malloc(sizeof(uint32_t) * co.np);
  weight = malloc(sizeof(double) * co.np);
  co.theta = malloc(sizeof(float) * co.d);
  co.mean = malloc(sizeof(float) * co.d);
  co.acc = malloc(sizeof(uint32_t) * co.d);
  if (robust_mode(c)) {
    /* median / trimmed mean need every delta of the round: np x d words */
    co.rows = malloc(sizeof(uint32_t) * co.d * co.np);
    co.tmp = malloc(sizeof(int32_t) * co.np);
  }
  if (!co.p || !es.heldout || !es.reported || !part || !weight || !co.theta || !co.mean || !co.acc ||
      (robust_mode(c) && (!co.rows || !co.tmp))) {
    fm_fail(&co.err, "coordinator: out of memory (%zu shared parameters)", co.d);
    goto stop;
  }
  for (uint32_t p = 0; p < co.np; p++) snprintf(co.p[p].name, sizeof co.p[p].name, "%s", src.names[p]);
  if (hear_hellos(&co)) goto stop;
  uint32_t n_train = 0, n_empty = 0;
  for (uint32_t p = 0; p < co.np; p++) {
    n_train += !co.p[p].heldout && co.p[p].n_train > 0;
    if (!co.p[p].heldout && co.p[p].n_train == 0) {
      n_empty++;
      if (c->verbose)
        fprintf(stderr, "fedmeta: platform %s has no training interactions after the split: it takes no part in "
                        "training (it is still evaluated)\n", co.p[p].name);
    }
  }
  if (n_train == 0) {
    fm_fail(&co.err, "every platform is held out: nothing to train on (check --heldout)");
    goto stop;
  }
  if (c->search_k[0]) { /* the search's grid is checked now, not after the rounds */
    search_grid_t g;
    if (search_grid_parse(&g, c->search_grid, &co.mc, &co.err)) goto stop;
  }
  if (fm_mkdir_p(c->out, &co.err)) {
    fm_wrap(&co.err, "--out");
    goto stop;
  }
  int kind = !strcmp(c->outer_opt, "adam") ? OUTER_ADAM : !strcmp(c->outer_opt, "momentum") ? OUTER_MOMENTUM : OUTER_SGD;
  if (outer_init(&co.outer, kind, co.d, &co.err)) goto stop;
  model_shared_init(co.theta, &co.mc, c->seed);
  co.scale = fixed_scale_for_clip(c->clip);
  dp_acct_init(&co.acct);
  if (c->dp_noise > 0) {
    /* Client-level DP of the released model (sampled Gaussian mechanism):
     * every delta is clipped to C and weighted 1 / (q N), so one platform
     * moves the sum by at most C / (q N); the platforms' noise shares add up
     * to std z C / (q N) whenever at least dp_nmin deltas are summed. */
    co.dp = 1;
    co.dp_q = c->dp_sample_rate > 0 ? c->dp_sample_rate : 1.0;
    co.dp_w = 1.0 / (co.dp_q * n_train);
    co.dp_nmin = c->min_platforms > 0 ? c->min_platforms : 1;
    double sigma_real = c->dp_noise * c->clip * co.dp_w; /* std of the noise on the sum */
    /* the largest sum (every platform sampled) plus 8 std of noise stays inside int32 */
    co.scale = dp_fixed_scale(c->clip * co.dp_w * n_train, sigma_real * sqrt((double)n_train / co.dp_nmin), 8);
    co.dp_sigma = dp_sigma_per_party(sigma_real * co.scale, co.dp_nmin);
    if (c->verbose)
      printf("fedmeta train: differential privacy: z = %g, q = %g, delta = %g, noise std %.3g on the sum "
             "(shares from >= %u platforms)%s\n",
             c->dp_noise, co.dp_q, c->dp_delta, sigma_real, co.dp_nmin,
             c->dp_test_seed ? "; TEST SEED: reproducible noise, NO privacy" : "");
  }
  uint32_t next = 1;
  int complete = 0;
  if (c->resume[0] && coord_resume(&co, &next, &complete)) goto stop;
  if (co.dp && next > 1 && dp_acct_step(&co.acct, co.dp_q, c->dp_noise, next - 1, &co.err)) goto stop;
  if (complete) {
    if (c->verbose) printf("fedmeta train: the run in %s is already complete (%u rounds)\n", c->out, c->rounds);
    /* --resume with --search-k: the search of the finished meta-model (again, or for other K) */
    if (c->search_k[0] && run_search(&co, next, part, weight)) goto stop;
    rc = 0;
    goto stop;
  }
  {
    /* the effective settings, first thing, so --resume can read them */
    fm_config saved = *c;
    saved.resume[0] = 0;
    char *full = coord_config_text(&saved, 0);
    char path[CFG_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/config.txt", c->out);
    int wrc = full ? fm_write_atomic(path, full, strlen(full), &co.err) : fm_fail(&co.err, "out of memory");
    free(full);
    if (wrc) goto stop;
  }
  if (coord_jsonl_open(&co, next)) goto stop;
  if (c->verbose) {
    printf("fedmeta train: %s, %u platforms (%u training, %u held out) on %d worker ranks, "
           "%zu shared parameters, %u rounds\n",
           c->algo, co.np, n_train, co.np - n_train - n_empty, co.n_workers, co.d, c->rounds);
    if (next > 1) printf("resuming after round %u from %s/checkpoint.fmck\n", next - 1, c->out);
    fflush(stdout);
  }

  uint32_t last = c->rounds;
  for (uint32_t r = next; r <= c->rounds; r++) {
    double t0 = wire_now();
    round_stats_t st;
    if (run_train_round(&co, r, part, weight, &st, NULL)) goto stop;
    double round_s = wire_now() - t0;
    prof_mark();
    int final = r == c->rounds;
    if (co.dp) {
      /* every round counts, also a skipped one (conservative) */
      if (dp_acct_step(&co.acct, co.dp_q, c->dp_noise, 1, &co.err) ||
          dp_acct_epsilon(&co.dp_eps, &co.dp_order, &co.acct, c->dp_delta, &co.err))
        goto stop;
      double next_eps = 0;
      if (!final && c->dp_target_epsilon > 0) {
        if (dp_acct_epsilon_after(&next_eps, &co.acct, co.dp_q, c->dp_noise, 1, c->dp_delta, &co.err)) goto stop;
        if (next_eps > c->dp_target_epsilon) {
          final = 1;
          if (c->verbose)
            printf("fedmeta train: stopping after round %u: epsilon %.4g, another round would reach %.4g > "
                   "--dp-target-epsilon %g\n", r, co.dp_eps, next_eps, c->dp_target_epsilon);
        }
      }
    }
    int do_eval = final || (c->eval_every && r % c->eval_every == 0);
    if (do_eval && run_eval(&co, r, final, &es)) goto stop;
    coord_record(&co, r, &st, round_s, do_eval ? &es : NULL);
    if (final) {
      last = r;
      break;
    }
    /* written while round r + 1 trains (run_train_round), or at the end */
    if (c->checkpoint_every && r % c->checkpoint_every == 0) co.ck_due = r;
  }
  if (coord_write_outputs(&co, last, &es)) goto stop;
  /* the last checkpoint marks the run complete (a relaunch stops at once) */
  if (c->checkpoint_every && coord_save_checkpoint(&co, last, 1)) goto stop;
  if (c->search_k[0] && run_search(&co, last + 1, part, weight)) goto stop;
  rc = 0;

stop:
  /* a checkpoint still due (a failure before the next round wrote it): theta
   * is still that round's, the next step has not been taken */
  if (rc && co.ck_due) {
    fm_err cause = co.err; /* the failure is what gets reported */
    if (coord_save_checkpoint(&co, co.ck_due, 0) == 0 && c->verbose)
      fprintf(stderr, "fedmeta: wrote the checkpoint of round %u before stopping\n", co.ck_due);
    co.err = cause;
  }
  send_stop(&co);
  /* A slow rank may still be sending a late delta (which it cannot finish
   * until someone receives it) before it takes its last plans and STOP:
   * receive and discard everything until every rank said BYE. */
  {
    int byes = 0;
    double until = wire_now() + c->round_timeout;
    while (byes < co.n_workers) {
      fm_err derr; /* keeps co.err, the cause of a failure, intact */
      int from, reject, r = chan_recv(&co.ch, &co.in, &from, WIRE_ANY_SOURCE, WIRE_ANY_TAG, until - wire_now(),
                                      &reject, &derr);
      if (r == 1 || r < 0) break;
      byes += co.in.tag == WIRE_TAG_BYE;
    }
    wire_flush(1.0);
    if (byes < co.n_workers) {
      fprintf(stderr, "fedmeta: %d of %d worker ranks did not finish within %.0f s of the end; stopping them\n",
              co.n_workers - byes, co.n_workers, c->round_timeout);
      if (rc) fprintf(stderr, "fedmeta: %s\n", co.err.msg[0] ? co.err.msg : "coordinator failed");
      fflush(NULL);
      wire_abort(rc ? 1 : 3);
    }
  }
  if (rc) fprintf(stderr, "fedmeta: %s\n", co.err.msg[0] ? co.err.msg : "coordinator failed");
  prof_report("coordinator", c->rounds > 1 ? c->rounds - 1 : 1);
  if (co.jsonl) fclose(co.jsonl);
  outer_free(&co.outer);
  free(co.theta);
  free(co.mean);
  free(co.acc);
  free(co.rows);
  free(co.tmp);
  free(co.p);
  free(es.heldout);
  free(es.reported);
  free(part);
  free(weight);
  free(co.workers);
  wire_buf_free(&co.in);
  wire_buf_free(&co.out);
  chan_free(&co.ch);
  source_close(&src);
  return rc ? 1 : 0;
}
