/* worker/worker.c: a worker rank's loop (see worker.h).
 *
 * Start-up: open (or generate) the platforms this rank hosts and say Hello for
 * each (with the error if one cannot start). Then: receive a RoundPlan with
 * theta; TRAIN: every hosted participant adapts and sends its Delta; EVAL:
 * every hosted platform sends an EvalReport; STOP: leave. */
#include "worker/worker.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/channel.h"
#include "common/fixed.h"
#include "common/msg.h"
#include "common/prof.h"
#include "common/search.h"
#include "common/source.h"
#include "common/wire.h"
#include "worker/adapt.h"
#include "worker/localstate.h"
#include "worker/platform.h"
#include "worker/search.h"
#include "worker/secagg_worker.h"

model_cfg_t worker_model_cfg(const fm_config *c) {
  return (model_cfg_t){.dim = c->dim,
                       .hidden = c->hidden,
                       .n_buckets = 1u << c->buckets_log2,
                       .hist_len = c->hist_len,
                       .pop_prior = !strcmp(c->pop_prior, "on"),
                       .spectral = c->spectral,
                       .spectral_basis = c->spectral_basis,
                       .time_lags = c->time_lags,
                       .time_bin_s = c->time_bin_days * 86400u,
                       .no_towers = !strcmp(c->towers, "off"),
                       .attr = !strcmp(c->attr, "on"),
                       .ease = c->ease,
                       .trans = !strcmp(c->trans, "on"),
                       .user_ids = !strcmp(c->user_ids, "on")};
}

train_cfg_t worker_ft_cfg(const fm_config *c) {
  train_cfg_t t;
  memset(&t, 0, sizeof t);
  t.opt = strcmp(c->inner_opt, "adam") == 0 ? OPT_ADAM : OPT_SGD;
  t.lr = c->ft_lr;
  t.lr_local = c->local_lr;
  t.l2 = c->l2;
  t.prox = c->ft_prox;
  t.batch = c->batch;
  t.n_neg = c->n_neg;
  t.beta1 = 0.9f;
  t.beta2 = 0.999f;
  t.adam_eps = 1e-8f;
  return t;
}

static int send_eval(chan_t *ch, platform_t *p, const fm_config *c, const model_cfg_t *mc, const plan_t *plan,
                     const float *theta, wire_buf *out, fm_err *err) {
  eval_msg_t em;
  memset(&em, 0, sizeof em);
  em.job = plan->job;
  em.round = plan->round;
  em.platform = p->id;
  em.heldout = p->heldout;
  if (p->heldout) {
    train_cfg_t ft = worker_ft_cfg(c);
    uint64_t seed = c->seed;
    int hm = adapt_hist_mode(c->ft_history);
    if (strcmp(plan->rs.algo, "local") == 0) {
      /* No meta-model exists without federation: the model is local-only. */
      if (adapt_local_only(&em.model, NULL, NULL, mc, &ft, &p->ds, c->local_steps, hm, seed, p->id, err)) return -1;
    } else if (adapt_eval(&em.model, NULL, NULL, NULL, mc, &ft, theta, &p->ds, plan->rs.ft_steps, hm, seed, p->id, err)) {
      return -1;
    }
    if (metrics_rank_popularity(&em.popularity, NULL, &p->ds, err)) return -1;
    if (plan->final) {
      if (adapt_local_only(&em.local_only, NULL, NULL, mc, &ft, &p->ds, c->local_steps, hm, seed, p->id, err)) return -1;
      em.has_local_only = 1;
    }
  } else if (platform_eval(p, mc, plan->rs.algo, theta, &em.model, &em.popularity, err)) {
    return -1;
  }
  if (msg_eval_pack(out, &em, err)) return -1;
  return chan_send(ch, 0, WIRE_TAG_EVAL, plan->round, out->data, out->len, err);
}

int worker_post_delta(chan_t *ch, uint32_t round, const delta_msg_t *dm, fm_err *err) {
  prof_t tp = prof_now();
  if (ch->split_tag == WIRE_TAG_DELTA) { /* secagg: the words in the clear part, the rest encrypted */
    delta_msg_t rest = *dm;
    rest.fixed = NULL;
    rest.n_fixed = 0;
    size_t clear_len = dm->n_fixed * sizeof(uint32_t), n = msg_delta_packed_size(&rest);
    uint8_t *clear, *b = chan_begin_split(ch, n, clear_len, &clear, err);
    if (!b) return -1;
    if (clear_len) memcpy(clear, dm->fixed, clear_len);
    msg_delta_pack_into(b, &rest);
    prof_add(PROF_DELTA_PACK, tp);
    return chan_commit_split(ch, 0, WIRE_TAG_DELTA, round, n, clear_len, err);
  }
  size_t n = msg_delta_packed_size(dm);
  uint8_t *b = chan_begin(ch, n, err);
  if (!b) return -1;
  msg_delta_pack_into(b, dm);
  prof_add(PROF_DELTA_PACK, tp);
  return chan_commit(ch, 0, WIRE_TAG_DELTA, round, n, err);
}

/* Test-only faults (--inject-stall, --inject-poison), parsed once. */
typedef struct inject {
  uint32_t stall_platform, stall_round;
  double stall_s;
  int poison;
  uint32_t poison_platform;
  float poison_factor;
  char wire_kind[16]; /* tamper | truncate | replay | stale | spoof, "" = none */
  uint32_t wire_platform, wire_round;
} inject_t;

static int inject_parse(inject_t *in, const fm_config *c, fm_err *err) {
  memset(in, 0, sizeof *in);
  char tail;
  if (c->inject_stall[0] &&
      sscanf(c->inject_stall, "%u:%u:%lf%c", &in->stall_platform, &in->stall_round, &in->stall_s, &tail) != 3)
    return fm_fail(err, "--inject-stall '%s': expected PLATFORM:ROUND:SECONDS, e.g. 0:3:5", c->inject_stall);
  if (c->inject_poison[0]) {
    if (sscanf(c->inject_poison, "%u:%f%c", &in->poison_platform, &in->poison_factor, &tail) != 2 ||
        !isfinite(in->poison_factor))
      return fm_fail(err, "--inject-poison '%s': expected PLATFORM:FACTOR, e.g. 2:100", c->inject_poison);
    in->poison = 1;
  }
  if (c->inject_wire[0]) {
    if (sscanf(c->inject_wire, "%15[a-z]:%u:%u%c", in->wire_kind, &in->wire_platform, &in->wire_round, &tail) != 3 ||
        (strcmp(in->wire_kind, "tamper") && strcmp(in->wire_kind, "truncate") && strcmp(in->wire_kind, "replay") &&
         strcmp(in->wire_kind, "stale") && strcmp(in->wire_kind, "spoof")))
      return fm_fail(err, "--inject-wire '%s': expected KIND:PLATFORM:ROUND with KIND tamper, truncate, replay, "
                          "stale or spoof, e.g. tamper:1:3", c->inject_wire);
  }
  return 0;
}

/* The sealed delta of the last round, kept only for --inject-wire stale. */
typedef struct stale_copy {
  uint8_t *data;
  size_t len;
} stale_copy_t;

/* Sends a Delta of the --inject-wire platform: the sealed bytes damaged or
 * repeated as a network attacker would (tests of the rejection paths). */
static int send_delta(chan_t *ch, const inject_t *inj, uint32_t platform, uint32_t round, const wire_buf *msg,
                      stale_copy_t *stale, fm_err *err) {
  const uint8_t *sealed;
  size_t n;
  if (chan_seal(ch, 0, WIRE_TAG_DELTA, round, msg->data, msg->len, &sealed, &n, err)) return -1;
  int rc = 0;
  if (round == inj->wire_round && !strcmp(inj->wire_kind, "tamper")) {
    uint8_t *bad = malloc(n);
    if (!bad) return fm_fail(err, "out of memory");
    memcpy(bad, sealed, n);
    bad[n / 2] ^= 0x10; /* one bit of the ciphertext */
    rc = wire_send(bad, n, 0, WIRE_TAG_DELTA, err);
    free(bad);
    return rc; /* the real message is lost, as with an attacker in the path */
  }
  if (round == inj->wire_round && !strcmp(inj->wire_kind, "truncate"))
    return wire_send(sealed, n > 40 ? n - 40 : 0, 0, WIRE_TAG_DELTA, err);
  if (round == inj->wire_round && !strcmp(inj->wire_kind, "stale") && stale->data)
    rc = wire_send(stale->data, stale->len, 0, WIRE_TAG_DELTA, err); /* last round's message again */
  if (!rc) rc = wire_send(sealed, n, 0, WIRE_TAG_DELTA, err);
  if (!rc && round == inj->wire_round && !strcmp(inj->wire_kind, "replay"))
    rc = wire_send(sealed, n, 0, WIRE_TAG_DELTA, err); /* the same message twice */
  if (!rc && !strcmp(inj->wire_kind, "stale")) {
    uint8_t *copy = realloc(stale->data, n);
    if (!copy) return fm_fail(err, "out of memory");
    memcpy(copy, sealed, n);
    stale->data = copy;
    stale->len = n;
  }
  return rc;
}

/* What one training round of this rank needs (the sa_compute_fn context). */
typedef struct train_ctx {
  const fm_config *c;
  const model_cfg_t *mc;
  const plan_t *plan;
  const float *theta;
  platform_scratch_t *scratch;
  const inject_t *inj;
  uint64_t job;
  int rank;
  size_t d;
  int save_state; /* a checkpoint round of a run whose platforms keep state */
} train_ctx_t;

/* FEDMETA_DENSE_DELTAS=1 (tests): every Delta carries all d words, as before
 * sparse deltas; the model must come out byte-identical. */
static int dense_deltas(void) {
  static int v = -1;
  if (v < 0) {
    const char *e = getenv("FEDMETA_DENSE_DELTAS");
    v = e && e[0] == '1';
  }
  return v;
}

/* A search plan's contribution of one hosted participant (common/search.h),
 * the first L words of a delta: per K (index k) and candidate c the sum of its
 * query users' NDCG@10, then per K the number of those users, all divided by
 * the plan's U (>= any platform's users: each word in [0, 1]) and multiplied by
 * weight x 0.999 clip / sqrt(L), so that the vector is inside the clipping
 * bound whatever the scores. The coordinator's weighted mean of these, sums
 * over counts, is the mean NDCG@10 over every platform's query users. */
static int compute_scores(train_ctx_t *x, const sa_party_t *party, int keep, delta_msg_t *dm, uint32_t **fixed,
                          fm_err *err) {
  const plan_t *plan = x->plan;
  platform_t *pl = party->pl;
  platform_scratch_t *s = x->scratch;
  const size_t nt = search_tail_len(x->mc);
  if (plan->n_cand_floats == 0 || plan->n_cand_floats % nt)
    return fm_fail(err, "search plan: %zu candidate floats, not a multiple of the model's %zu term weights",
                   plan->n_cand_floats, nt);
  const uint32_t n_cand = (uint32_t)(plan->n_cand_floats / nt), nk = plan->n_search_k;
  const size_t L = ((size_t)n_cand + 1) * nk;
  if (L > x->d) return fm_fail(err, "search plan: %zu scores do not fit a delta of %zu words", L, x->d);
  double t0 = wire_now();
  s->rows_valid = 0; /* every word is rewritten below */
  memset(s->delta, 0, sizeof(float) * x->d);
  prof_trace(x->rank, "searching", (long)pl->id, 0, 0);
  uint32_t n_users[8] = {0};
  if (search_score(s->delta, n_users, pl, x->c, x->mc, x->theta, plan, n_cand, err)) return -1;
  const double f = plan->part_weight[party->slot] * 0.999 * plan->rs.clip / sqrt((double)L) / plan->search_norm;
  double sq = 0;
  for (uint32_t k = 0; k < nk; k++) {
    if (n_users[k] > plan->search_norm)
      return fm_fail(err, "search plan: %u query users at K = %u, more than the plan's bound %u", n_users[k],
                     plan->search_k[k], plan->search_norm);
    for (uint32_t cand = 0; cand < n_cand; cand++) { /* mean -> sum: one rounding, the same on every rank */
      float *v = &s->delta[(size_t)k * n_cand + cand];
      *v = (float)((double)*v * n_users[k] * f);
    }
    s->delta[(size_t)n_cand * nk + k] = (float)(n_users[k] * f);
  }
  for (size_t i = 0; i < L; i++) sq += (double)s->delta[i] * s->delta[i];
  fixed_encode(s->fixed, s->delta, x->d, plan->scale);
  memset(dm, 0, sizeof *dm);
  dm->job = x->job;
  dm->round = plan->round;
  dm->platform = pl->id;
  dm->n_examples = pl->n_train;
  dm->norm = (float)sqrt(sq);
  dm->seconds = wire_now() - t0;
  dm->fixed = s->fixed;
  dm->n_fixed = x->d;
  if (keep && !dense_deltas()) { /* one run: the scores */
    s->runs[0] = 0;
    s->runs[1] = (uint32_t)L;
    dm->runs = s->runs;
    dm->n_runs = 2;
    dm->n_fixed = L;
  }
  *fixed = s->fixed;
  return 0;
}

/* Trains one hosted participant: its Delta message fields and fixed-point words.
 * keep: the caller does not write the words, and the delta may leave in sparse
 * form (see sa_compute_fn). */
static int compute_delta(void *vctx, const sa_party_t *party, int keep, delta_msg_t *dm, uint32_t **fixed,
                         fm_err *err) {
  train_ctx_t *x = vctx;
  const plan_t *plan = x->plan;
  if (plan->stage == MSG_STAGE_SEARCH) return compute_scores(x, party, keep, dm, fixed, err);
  const inject_t *inj = x->inj;
  platform_t *pl = party->pl;
  uint32_t pid = pl->id;
  if (inj->stall_s > 0 && pid == inj->stall_platform && plan->round == inj->stall_round) {
    fprintf(stderr, "fedmeta: rank %d: --inject-stall: platform %u sleeps %.1f s in round %u\n", x->rank, pid,
            inj->stall_s, plan->round);
    wire_sleep(inj->stall_s);
  }
  delta_out_t dout;
  prof_t tp = prof_now();
  prof_trace(x->rank, "training", (long)pid, 0, 0);
  if (platform_train_round(pl, x->c, x->mc, &plan->rs, plan->round, x->theta, plan->part_weight[party->slot],
                           plan->scale, x->scratch, &dout, err))
    return -1;
  prof_add(PROF_TRAIN, tp);
  prof_trace(x->rank, "trained", (long)pid, 0, 0);
  /* the platform's private state after this round, before its delta leaves */
  if (x->save_state && localstate_save(x->c, pl, x->d, plan->round, err)) return -1;
  int poisoned = inj->poison && pid == inj->poison_platform && strcmp(plan->rs.algo, "local");
  /* a caller that masks scratch->fixed in place, or the poison, rewrites it:
   * the next platform must clear the scratch whole */
  if (!keep || poisoned) x->scratch->rows_valid = 0;
  if (poisoned) {
    /* a hostile platform: scales its clipped delta past the bound */
    for (size_t j = 0; j < x->d; j++) x->scratch->delta[j] *= inj->poison_factor;
    fixed_encode(x->scratch->fixed, x->scratch->delta, x->d, plan->scale);
  }
  memset(dm, 0, sizeof *dm);
  dm->job = x->job;
  dm->round = plan->round;
  dm->platform = pid;
  dm->n_examples = pl->n_train;
  dm->loss = dout.loss;
  dm->norm = dout.norm;
  dm->clipped = dout.clipped;
  dm->seconds = dout.seconds;
  dm->fixed = strcmp(plan->rs.algo, "local") ? x->scratch->fixed : NULL;
  dm->n_fixed = x->d;
  if (keep && !poisoned && x->scratch->n_runs && !dense_deltas()) {
    /* only the rows the platform touched, and the dense part (~1 % of d at the defaults) */
    dm->fixed = x->scratch->packed;
    dm->n_fixed = x->scratch->n_packed;
    dm->runs = x->scratch->runs;
    dm->n_runs = x->scratch->n_runs;
  }
  *fixed = x->scratch->fixed;
  return 0;
}

int worker_run(const fm_config *c, uint64_t job, int rank, int size, const int *hosts) {
  fm_err err = {{0}};
  inject_t inj;
  source_t src;
  model_cfg_t mc = worker_model_cfg(c);
  size_t d = model_n_shared(&mc);
  int rc = 0;
  wire_buf in = {0}, out = {0};
  platform_t *plat = NULL;
  uint32_t n_host = 0;
  float *theta = NULL;
  platform_scratch_t scratch = {0};
  sa_party_t *parties = NULL;
  uint8_t *heldout = NULL;

  chan_t ch;
  stale_copy_t stale = {0};
  uint32_t last_round = 0;
  int resume_pending = c->resume[0] != 0;
  wire_set_max_inflight(WORKER_MAX_INFLIGHT);
  /* identities and sealed channels first: nothing else crosses before them */
  if (chan_init(&ch, c, job, rank, size, &err) || chan_handshake(&ch, c, c->round_timeout, &err)) {
    fprintf(stderr, "fedmeta: rank %d: %s\n", rank, err.msg);
    fflush(stderr);
    wire_abort(1);
  }
  /* under secagg a Delta's masked words travel in the clear part of a split message */
  if (!strcmp(c->secagg, "on")) chan_set_split(&ch, WIRE_TAG_DELTA);
  int src_ok = inject_parse(&inj, c, &err) == 0 && source_open(&src, c, &err) == 0;
  uint32_t np = src_ok ? src.n_platforms : 0;
  if (src_ok) {
    heldout = calloc(np ? np : 1, 1);
    plat = calloc(np ? np : 1, sizeof *plat);
    parties = calloc(np ? np : 1, sizeof *parties);
    theta = malloc(sizeof(float) * d);
    if (!heldout || !plat || !parties || !theta || platform_scratch_init(&scratch, &mc, d, &err)) {
      fm_fail(&err, "rank %d: out of memory", rank);
      src_ok = 0;
    } else if (source_heldout(&src, c->heldout, heldout, &err)) {
      src_ok = 0;
    }
  }
  if (!src_ok) {
    /* Tell the coordinator why; it stops the job for everyone. */
    hello_t h;
    memset(&h, 0, sizeof h);
    h.job = job;
    fm_wrap(&err, "rank %d", rank);
    memcpy(h.error, err.msg, sizeof h.error);
    if (!msg_hello_pack(&out, &h, &err)) chan_send(&ch, 0, WIRE_TAG_HELLO, 0, out.data, out.len, &err);
    rc = 1;
  } else {
    for (uint32_t p = 0; p < np; p++) {
      if (worker_rank_of(hosts, p, size) != rank) continue;
      hello_t h;
      memset(&h, 0, sizeof h);
      h.job = job;
      h.platform = p;
      snprintf(h.name, sizeof h.name, "%s", src.names[p]);
      h.heldout = heldout[p];
      platform_t *pl = &plat[n_host];
      if (platform_open(pl, &src, c, &mc, p, heldout[p], &err)) {
        memcpy(h.error, err.msg, sizeof h.error);
        rc = 1;
      } else {
        n_host++;
        h.n_train = pl->n_train;
        h.n_users = pl->ds.n_users;
        h.n_items = pl->ds.n_items;
        h.n_eval_users = pl->ds.n_eval;
      }
      if (msg_hello_pack(&out, &h, &err) || chan_send(&ch, 0, WIRE_TAG_HELLO, 0, out.data, out.len, &err)) {
        rc = 1;
        break;
      }
    }
  }

  /* Round loop: runs until STOP, even after a start-up error (the coordinator
   * sends STOP once it has heard every Hello). */
  for (;;) {
    int from = 0;
    int reject;
    /* The coordinator is never silent longer than a few deadlines (a round's
     * stages, an evaluation); a longer silence means it is gone, which in a
     * pilot (separately launched jobs) nothing else would tell this rank. */
    double silence = fmax(600, 10 * c->round_timeout);
    int r = chan_recv(&ch, &in, &from, 0, WIRE_TAG_PLAN, silence, &reject, &err);
    if (r == 2) { /* not from the coordinator as it sealed it: ignore, never act on it */
      fprintf(stderr, "fedmeta: rank %d: a plan was rejected (%s): %s\n", rank, seal_strerror(reject), err.msg);
      continue;
    }
    if (r != 0) {
      if (r > 0)
        fprintf(stderr, "fedmeta: rank %d: no plan from the coordinator in %.0f s (10 x --round-timeout, at least 600 s): is it still running?\n",
                rank, silence);
      else
        fprintf(stderr, "fedmeta: rank %d: %s\n", rank, err.msg);
      rc = 1;
      break;
    }
    plan_t plan;
    if (!theta) {
      /* start-up failed: only STOP can be understood */
      break;
    }
    prof_t tp = prof_now();
    int urc = msg_plan_unpack(&plan, theta, d, in.data, in.len, &err);
    prof_add(PROF_PLAN_UNPACK, tp);
    scratch.theta_gen++; /* theta may have changed: no platform's phi is a copy of it */
    if (urc) {
      if (plan.stage == MSG_STAGE_STOP) break;
      /* an authentic plan this rank cannot follow: the coordinator would wait
       * for it until the deadline; end the job with the cause */
      fprintf(stderr, "fedmeta: rank %d: %s\n", rank, err.msg);
      fflush(stderr);
      wire_abort(1);
    }
    last_round = plan.round;
    if (plan.round == 2 && plan.stage == MSG_STAGE_TRAIN) prof_reset(); /* round 1 warms up */
    if (plan.stage != MSG_STAGE_STOP && wire_pending(0, WIRE_TAG_PLAN)) {
      /* A newer plan is waiting: the coordinator has gone on without this
       * rank (it was too slow); skip to the newest plan. */
      if (c->verbose > 1) fprintf(stderr, "fedmeta: rank %d: plan of round %u superseded, skipped\n", rank, plan.round);
      msg_plan_free(&plan);
      continue;
    }
    if (plan.job != job) {
      fprintf(stderr, "fedmeta: rank %d: plan from another job ignored\n", rank);
      msg_plan_free(&plan);
      continue;
    }
    if (plan.stage == MSG_STAGE_STOP) {
      msg_plan_free(&plan);
      break;
    }
    int failed = 0;
    if (plan.stage == MSG_STAGE_TRAIN || plan.stage == MSG_STAGE_SEARCH) {
      /* the participants this rank hosts, with their slots in the plan */
      uint32_t n_par = 0;
      for (uint32_t i = 0; i < plan.n_part; i++) {
        uint32_t pid = plan.part_platform[i];
        if (pid >= np || worker_rank_of(hosts, pid, size) != rank) continue;
        for (uint32_t j = 0; j < n_host; j++)
          if (plat[j].id == pid) parties[n_par++] = (sa_party_t){i, &plat[j]};
      }
      if (!strcmp(inj.wire_kind, "spoof") && plan.round == inj.wire_round && inj.wire_platform < np &&
          worker_rank_of(hosts, inj.wire_platform, size) != rank) {
        /* --inject-wire spoof:V:R: a rank that does not host platform V sends, before
         * anything else of round R, a zero delta in V's name (sealed by this rank:
         * authentic, but not from V's host) */
        uint32_t *zero = calloc(d ? d : 1, sizeof *zero);
        delta_msg_t sp = {.job = job, .round = plan.round, .platform = inj.wire_platform, .fixed = zero, .n_fixed = d};
        if (!zero) failed = fm_fail(&err, "out of memory");
        else if (worker_post_delta(&ch, plan.round, &sp, &err)) failed = 1;
        free(zero);
      }
      const int training = plan.stage == MSG_STAGE_TRAIN;
      int save = training && localstate_needed(c) && c->checkpoint_every && plan.round % c->checkpoint_every == 0;
      train_ctx_t tx = {c, &mc, &plan, theta, &scratch, &inj, job, rank, d, save};
      if (training && resume_pending && localstate_needed(c) && plan.round > 1) {
        /* --resume: the hosted platforms' private state as of the checkpoint */
        for (uint32_t j = 0; j < n_host && !failed; j++)
          if (!plat[j].heldout && localstate_load(c, &plat[j], &mc, &plan.rs, d, plan.round - 1, &err)) failed = 1;
      }
      resume_pending = 0;
      for (uint32_t j = 0; save && j < n_host && !failed; j++) { /* hosted, not taking part: state unchanged */
        int part = 0;
        for (uint32_t i = 0; i < n_par; i++) part |= parties[i].pl == &plat[j];
        if (!plat[j].heldout && !part && localstate_save(c, &plat[j], d, plan.round, &err)) failed = 1;
      }
      if (!failed && !strcmp(c->secagg, "on") && n_par > 0) { /* a rank without participants stays out */
        uint32_t tamper = !strcmp(inj.wire_kind, "tamper") && plan.round == inj.wire_round ? inj.wire_platform
                                                                                             : SA_NO_TAMPER;
        int sarc = sa_worker_round(&ch, c, &plan, job, size, hosts, parties, n_par, d, compute_delta, &tx, tamper, &err);
        if (sarc < 0) failed = 1;
        else if (sarc > 0 && c->verbose > 1)
          fprintf(stderr, "fedmeta: rank %d: round %u abandoned (the coordinator moved on)\n", rank, plan.round);
      } else if (!failed) {
        for (uint32_t i = 0; i < n_par && !failed; i++) {
          delta_msg_t dm;
          uint32_t *fixed;
          if (compute_delta(&tx, &parties[i], 1, &dm, &fixed, &err)) {
            failed = 1;
            break;
          }
          if (!inj.wire_kind[0] || inj.wire_platform != parties[i].pl->id) {
            if (worker_post_delta(&ch, plan.round, &dm, &err)) failed = 1;
          } else if (msg_delta_pack(&out, &dm, &err) ||
                     send_delta(&ch, &inj, parties[i].pl->id, plan.round, &out, &stale, &err)) {
            failed = 1;
          }
        }
      }
      prof_mark();
    } else if (plan.stage == MSG_STAGE_EVAL) {
      for (uint32_t j = 0; j < n_host && !failed; j++)
        if (send_eval(&ch, &plat[j], c, &mc, &plan, theta, &out, &err)) failed = 1;
    }
    msg_plan_free(&plan);
    if (failed) {
      /* Open MPI 4.1 cannot survive a rank leaving; end the job with the cause. */
      fprintf(stderr, "fedmeta: rank %d: %s\n", rank, err.msg);
      fflush(stderr);
      wire_abort(1);
    }
  }

  {
    char who[32];
    snprintf(who, sizeof who, "rank %d", rank);
    prof_report(who, last_round > 1 ? last_round - 1 : 1);
  }
  /* The coordinator drains late messages until every rank said BYE. */
  if (chan_send(&ch, 0, WIRE_TAG_BYE, last_round, "", 0, &err)) fprintf(stderr, "fedmeta: rank %d: %s\n", rank, err.msg);
  /* sends are posted in the background: wait until they have left */
  double flush_s = fmax(60, c->round_timeout);
  size_t unsent = wire_flush(flush_s);
  if (unsent) fprintf(stderr, "fedmeta: rank %d: %zu message(s) to the coordinator not taken within %.0f s\n", rank, unsent, flush_s);
  for (uint32_t j = 0; j < n_host; j++) platform_close(&plat[j]);
  free(plat);
  free(parties);
  free(heldout);
  free(theta);
  platform_scratch_free(&scratch);
  sa_worker_release();
  wire_buf_free(&in);
  wire_buf_free(&out);
  chan_free(&ch);
  free(stale.data);
  if (src_ok || src.names) source_close(&src);
  return rc;
}
