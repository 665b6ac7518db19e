/* worker/secagg_worker.c: a worker rank's side of secure aggregation (see secagg_worker.h). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "worker/secagg_worker.h"

#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/secagg.h"
#include "common/seal.h"
#include "common/prof.h"
#include "common/wire.h"
#include "worker/platform.h"
#include "worker/worker.h"

typedef struct sa_ctx {
  chan_t *ch;
  const plan_t *plan;
  uint64_t job;
  int size;
  const int *hosts; /* see worker_rank_of */
  wire_buf in, out;
  double deadline;
} sa_ctx_t;

static int slot_rank(const sa_ctx_t *x, uint32_t slot) {
  return worker_rank_of(x->hosts, x->plan->part_platform[slot], x->size);
}

static int send_msg(sa_ctx_t *x, sa_msg_t *m, fm_err *err) {
  m->job = x->job;
  m->round = x->plan->round;
  if (msg_secagg_pack(&x->out, m, err)) return -1;
  return chan_send(x->ch, 0, WIRE_TAG_SECAGG, x->plan->round, x->out.data, x->out.len, err);
}

/* The coordinator's next message of this stage (or of stage `also`, if not
 * 0). 1 if it moved on instead (a newer plan is waiting) or nothing came in
 * time. */
static int wait_msg2(sa_ctx_t *x, uint32_t stage, uint32_t also, sa_msg_t *m, fm_err *err) {
  /* fast polls for the stage's first SECAGG_QUICK_S, not each slice's */
  const double quick_until = wire_now() + SECAGG_QUICK_S;
  for (;;) {
    if (wire_pending(0, WIRE_TAG_PLAN)) return 1;
    double left = x->deadline - wire_now();
    if (left <= 0) return 1;
    int from, reject;
    wire_set_quick(quick_until - wire_now());
    int w = wire_await(0, WIRE_TAG_SECAGG, left < 0.05 ? left : 0.05);
    wire_set_quick(0);
    if (w) continue; /* a time slice */
    /* probed after the secure-aggregation message, so a plan sent before it
     * (the coordinator moved on: the message is the next round's) is seen */
    if (wire_pending(0, WIRE_TAG_PLAN)) return 1;
    int rc = chan_recv(x->ch, &x->in, &from, 0, WIRE_TAG_SECAGG, 0, &reject, err);
    if (rc < 0) return -1;
    if (rc) continue; /* a time slice, or a rejected message (stale round) */
    if (msg_secagg_unpack(m, x->in.data, x->in.len, err)) continue;
    if (m->job == x->job && m->round == x->plan->round && (m->stage == stage || (also && m->stage == also))) return 0;
    msg_secagg_release(m);
  }
}

static int wait_msg(sa_ctx_t *x, uint32_t stage, sa_msg_t *m, fm_err *err) { return wait_msg2(x, stage, 0, m, err); }

/* --- the masks of a round's hosted parties, made beside the training -------
 *
 * The masks depend only on the round's keys and shares, which are all known
 * once FORWARD arrived, not on the deltas. So a helper thread makes them for
 * every hosted party at once (secagg_clients_mask: a pairwise stream between
 * two parties of this rank is made once and applied to both), in the order
 * the parties are trained, while the main thread trains; as each party's
 * words arrive, the thread adds its finished mask (y = x + mask, the same
 * words as before), packs the Delta and seals it; the main thread only posts
 * it. Buffers are kept from round to round (no fresh multi-MB mappings). */

/* --- where the masks are made: a helper thread, or the main thread --------
 *
 * The helper thread shortens a round only if it has a core to itself: where
 * every core already runs a rank's training, it competes with them and the
 * round pays the masks anyway (plus the switching). FEDMETA_SECAGG_THREAD:
 *   auto (default)  a helper thread where there is a spare CPU for it beside
 *                   every busy worker: T + 1 <= C_rank and W x (T + 1) <= C_host,
 *                   with W the job's worker ranks on this host
 *                   (MPI_COMM_TYPE_SHARED; the coordinator is not counted:
 *                   while the workers train it waits, polling politely, and
 *                   opens each delta as it arrives, about 1 ms per 4 MiB),
 *                   T the threads a worker trains with (2 with
 *                   OPENBLAS_NUM_THREADS > 1, else 1), C_rank the CPUs this
 *                   rank may run on (sched_getaffinity, else the online CPUs)
 *                   and C_host those the host's workers may run on together
 *                   (the union of their sets: unbound ranks share all the
 *                   CPUs, ranks bound to one core each get no thread);
 *   on / off        always / never.
 * Without the thread, the masks of all the rank's parties are made on the
 * main thread right after FORWARD (the same single pass, with the streams
 * between two parties of the rank made once), and each party is masked,
 * sealed and posted as soon as it is trained. The same bytes either way. */
static int sa_thread = 1; /* until sa_worker_thread_setup decides */

/* The CPUs this rank may run on. */
static void usable_cpus(cpu_set_t *set) {
  CPU_ZERO(set);
  if (sched_getaffinity(0, sizeof *set, set) == 0 && CPU_COUNT(set) > 0) return;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  CPU_ZERO(set);
  for (long i = 0; i < (n > 0 ? n : 1) && i < CPU_SETSIZE; i++) CPU_SET((int)i, set);
}

int sa_worker_thread_setup(const fm_config *c, int rank, int size, int blas_threads) {
  cpu_set_t own, host_set;
  usable_cpus(&own);
  host_set = own;
  int workers = -1, host = wire_host_ranks(&workers, (unsigned char *)&host_set, sizeof host_set); /* collective */
  int cpus = CPU_COUNT(&own), host_cpus = CPU_COUNT(&host_set), train = blas_threads > 1 ? 2 : 1;
  const char *e = getenv("FEDMETA_SECAGG_THREAD");
  const char *mode = e && e[0] ? e : "auto";
  if (!strcmp(mode, "on")) {
    sa_thread = 1;
  } else if (!strcmp(mode, "off")) {
    sa_thread = 0;
  } else {
    if (strcmp(mode, "auto") && (rank == 0 || c->verbose > 1))
      fprintf(stderr, "fedmeta: FEDMETA_SECAGG_THREAD=%s is not auto, on or off: taken as auto\n", mode);
    mode = "auto";
    sa_thread = train + 1 <= cpus && (workers < 0 /* MPI could not tell: as before */ || (long)workers * (train + 1) <= host_cpus);
  }
  if (rank == 0) sa_thread = 0;
  long n_on = wire_sum(sa_thread); /* collective */
  if (rank == 0 && c->verbose > 0)
    printf("fedmeta train: secure aggregation masks on a helper thread on %ld of %d worker rank%s "
           "(FEDMETA_SECAGG_THREAD=%s; rank 0's host: %d of the job's ranks, %d worker%s on %d CPUs)\n",
           n_on, size - 1, size == 2 ? "" : "s", mode, host, workers, workers == 1 ? "" : "s", host_cpus);
  return sa_thread;
}

/* At most this many bytes of pending masks per rank; beyond, one party at a time. */
#define SA_BATCH_BUDGET ((size_t)256 << 20)
/* 1 if n parties of d words are masked as one batch (at least two, within the budget). */
static int batch_fits(size_t n, size_t d) { return n >= 2 && n * d * sizeof(uint32_t) <= SA_BATCH_BUDGET; }
/* At most this many bytes of a batch's sealed deltas in flight at once (each
 * sealed into a buffer of the outbox's pool, kept for the next round). */
#define SA_POST_BUDGET ((size_t)64 << 20)

typedef struct sa_pool {
  uint32_t **buf;
  size_t n, words;
} sa_pool_t;
static sa_pool_t spare_pool; /* each party's words */

static uint32_t *pool_get(sa_pool_t *p, size_t i, size_t words) {
  if (p->words != words) {
    for (size_t k = 0; k < p->n; k++) free(p->buf[k]);
    free(p->buf);
    p->buf = NULL;
    p->n = 0;
    p->words = words;
  }
  if (i >= p->n) {
    uint32_t **nb = realloc(p->buf, (i + 1) * sizeof *nb);
    if (!nb) return NULL;
    p->buf = nb;
    for (size_t k = p->n; k <= i; k++) p->buf[k] = NULL;
    p->n = i + 1;
  }
  if (!p->buf[i]) p->buf[i] = aligned_alloc(64, (words * sizeof(uint32_t) + 63) / 64 * 64);
  return p->buf[i];
}

static void pool_free(sa_pool_t *p) {
  for (size_t k = 0; k < p->n; k++) free(p->buf[k]);
  free(p->buf);
  memset(p, 0, sizeof *p);
}

void sa_worker_release(void) {
  pool_free(&spare_pool);
}

typedef struct mask_bg {
  /* seal_mu: held by whoever seals to the coordinator while the thread runs
   * (the thread, from sealing a Delta until it is counted in n_added; the main
   * thread, from posting the sealed Deltas until its own message is sent), so
   * the sequence numbers go out in the order they were given. Taken before mu. */
  pthread_mutex_t seal_mu;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t n_ready; /* parties 0..n_ready-1 of the batch have their masks */
  size_t n_pub;   /* parties 0..n_pub-1 are trained: their words at x[] */
  size_t n_added; /* parties 0..n_added-1 are masked: y = mask + x at out[] */
  int done, rc, abort, fail;
  fm_err err;
  uint32_t **out;
  /* party q's input: the d words at x[q], or, with n_runs[q] > 0, the runs
   * (offset, length) runs[q][0..n_runs[q]) of the words at x[q], 0 elsewhere */
  const uint32_t **x, **runs;
  size_t *n_runs;
  secagg_client_t **cs;
  size_t k, words;
  const uint8_t (*pk)[SECAGG_PKBYTES];
  /* sealing: each masked Delta packed and sealed to the coordinator here, in
   * order (the main thread seals nothing to rank 0 meanwhile, and posts them
   * in this order) */
  chan_t *ch;
  uint32_t round;
  const delta_msg_t *dm; /* the Delta fields of each party */
  uint8_t **sealed; /* from wire_buf_take, sealed_bufcap[q] bytes; NULL once posted */
  size_t *sealed_len, *sealed_bufcap, sealed_cap;
} mask_bg_t;

/* Party q's y = mask + x, then its Delta packed and sealed. */
static int bg_finish(mask_bg_t *b, size_t q, fm_err *err) {
  /* y = mask + x, in the mask's buffer: over x's runs only where x is sparse */
  if (b->n_runs[q] == 0) {
    secagg_vec_add(b->out[q], b->x[q], b->words);
  } else {
    const uint32_t *r = b->runs[q], *v = b->x[q];
    for (size_t k = 0; k + 1 < b->n_runs[q]; k += 2) {
      secagg_vec_add(b->out[q] + r[k], v, r[k + 1]);
      v += r[k + 1];
    }
  }
  /* the masked words go in the clear, authenticated part of a split message
   * (a one-time-pad ciphertext already; seal.h), the other fields encrypted */
  delta_msg_t dm = b->dm[q];
  dm.fixed = NULL;
  dm.n_fixed = 0;
  dm.runs = NULL;
  dm.n_runs = 0;
  size_t clear_len = b->words * sizeof(uint32_t), n = msg_delta_packed_size(&dm), total = chan_split_len(n, clear_len);
  if (total > b->sealed_cap) return fm_fail(err, "secagg: a Delta of %zu bytes exceeds its buffer", total);
  /* y is already there: out[q] is the clear part of sealed[q] */
  msg_delta_pack_into(b->sealed[q] + chan_split_plain_offset(clear_len), &dm);
  pthread_mutex_lock(&b->seal_mu); /* released once q is counted sealed (bg_add_ready) */
  if (chan_seal_split_at(b->ch, 0, WIRE_TAG_DELTA, b->round, b->sealed[q], n, clear_len, err)) {
    pthread_mutex_unlock(&b->seal_mu);
    return -1;
  }
  b->sealed_len[q] = total;
  return 0;
}

/* Finishes every trained party whose mask is made, in order (called locked). */
static void bg_add_ready(mask_bg_t *b) {
  while (!b->abort && !b->fail && b->n_added < b->n_ready && b->n_added < b->n_pub) {
    size_t q = b->n_added;
    pthread_mutex_unlock(&b->mu);
    fm_err e;
    int rc = bg_finish(b, q, &e);
    pthread_mutex_lock(&b->mu);
    if (rc) {
      b->err = e;
      b->fail = 1;
      break;
    }
    b->n_added = q + 1;
    pthread_mutex_unlock(&b->seal_mu); /* taken in bg_finish */
    pthread_cond_broadcast(&b->cv);
  }
}

static void bg_ready(void *arg, size_t i) {
  mask_bg_t *b = arg;
  pthread_mutex_lock(&b->mu);
  b->n_ready = i + 1;
  bg_add_ready(b);
  pthread_mutex_unlock(&b->mu);
}

static void *bg_main(void *arg) {
  mask_bg_t *b = arg;
  prof_t tp = prof_now();
  int rc = secagg_clients_mask(b->out, b->words, b->cs, b->k, b->pk, 0, bg_ready, b, &b->err);
  pthread_mutex_lock(&b->mu);
  while (!rc && !b->abort && !b->fail && b->n_added < b->k) { /* the masks are made; finish the parties as they are trained */
    bg_add_ready(b);
    if (b->n_added < b->k && !b->abort && !b->fail) pthread_cond_wait(&b->cv, &b->mu);
  }
  b->rc = rc ? rc : b->fail ? -1 : 0;
  b->done = 1;
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
  prof_add_locked(PROF_SA_MASK_BG, tp);
  return NULL;
}

/* Party q's input (bg_input) is ready for masking. */
static void bg_publish(mask_bg_t *b, size_t q) {
  pthread_mutex_lock(&b->mu);
  b->n_pub = q + 1;
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

/* 1 if batch party q is masked and sealed, 0 if not yet, -1 if the thread failed before
 * it; wait: block until one of the first two holds. */
static int bg_state(mask_bg_t *b, size_t q, int wait) {
  pthread_mutex_lock(&b->mu);
  while (wait && q >= b->n_added && !b->done) pthread_cond_wait(&b->cv, &b->mu);
  int st = q < b->n_added ? 1 : b->done ? -1 : 0;
  pthread_mutex_unlock(&b->mu);
  return st;
}

/* No helper thread: every mask now, on the calling thread (0, or -1 with
 * b->err); then bg_here finishes each party as it is trained. */
static int bg_masks_here(mask_bg_t *b) {
  b->rc = secagg_clients_mask(b->out, b->words, b->cs, b->k, b->pk, 0, NULL, NULL, &b->err);
  if (b->rc) {
    b->done = 1;
    return -1;
  }
  b->n_ready = b->k;
  return 0;
}

/* No helper thread: party q's y = mask + x (bg_input), packed and sealed here and now. */
static void bg_here(mask_bg_t *b, size_t q) {
  pthread_mutex_lock(&b->mu);
  b->n_pub = q + 1;
  bg_add_ready(b);
  if (b->fail) {
    b->rc = -1;
    b->done = 1;
  }
  pthread_mutex_unlock(&b->mu);
}

/* Party q's input as compute left it (dm, the d words at fx): used in place
 * (copy 0: consumed before the next party trains), or copied to the party's
 * own buffer (copy 1: the helper thread reads it while the next one trains);
 * a sparse input is copied as its runs and words. -1: out of memory. */
static int bg_input(mask_bg_t *b, size_t q, const delta_msg_t *dm, const uint32_t *fx, int copy) {
  size_t nr = dm->n_runs, nw = dm->n_fixed, d = b->words;
  int sparse = nr > 0 && nr + nw <= d;
  if (!copy) {
    b->x[q] = sparse ? dm->fixed : fx;
    b->runs[q] = sparse ? dm->runs : NULL;
    b->n_runs[q] = sparse ? nr : 0;
    return 0;
  }
  uint32_t *p = pool_get(&spare_pool, q, d);
  if (!p) return -1;
  if (sparse) {
    memcpy(p, dm->runs, nr * sizeof *p);
    memcpy(p + nr, dm->fixed, nw * sizeof *p);
  } else {
    memcpy(p, fx, d * sizeof *p);
  }
  b->x[q] = sparse ? p + nr : p;
  b->runs[q] = sparse ? p : NULL;
  b->n_runs[q] = sparse ? nr : 0;
  return 0;
}

static void bg_stop(mask_bg_t *b, pthread_t tid) {
  pthread_mutex_lock(&b->mu);
  b->abort = 1;
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
  pthread_join(tid, NULL);
}

/* Posts, in order, the batch's parties that are masked and sealed, from
 * head up to (not including) `upto`; wait: block until each is. Called
 * between trainings and, through the platform step hook, between the inner
 * steps of one, so that a party's Delta leaves as soon as the helper thread
 * has sealed it rather than after the next party's training. */
typedef struct sa_poster {
  mask_bg_t *bg; /* NULL: nothing to post here (each party is posted as it is trained) */
  chan_t *ch;
  uint32_t tamper; /* the platform whose Delta leaves tampered (SA_NO_TAMPER: none) */
  uint32_t head, upto;
  int failed; /* 1: err holds why */
  fm_err err;
  /* stage 2b: the hosted parties' clients, to answer SURVIVED states with */
  sa_ctx_t *x;
  const sa_party_t *parties;
  secagg_client_t *cl;
  const int *cl_ok;
  uint32_t n_parties, m, h;
  secagg_reveal_t *rv; /* room for h (secret) */
  sa_item_t *items;    /* room for n_parties * h */
  uint8_t *blob;       /* room for n_parties * h reveals */
  uint8_t *state;      /* a final STATE that came early (m bytes), else NULL */
} sa_poster_t;

static void post_masked(sa_poster_t *p, int wait);

/* Stage 2b: answers a SURVIVED state with the b-shares the hosted parties
 * hold of the slots it names and have not revealed yet: one REVEAL_B message,
 * none if there is nothing new. A client refuses a state that contradicts
 * what it saw (secagg_client_reveal_new) and reveals nothing then. */
static int answer_survived(sa_poster_t *p, const uint8_t *state, size_t n_state, fm_err *err) {
  if (n_state != p->m) return 0; /* not a state of this round's slots: ignored */
  size_t n = 0, off = 0;
  for (uint32_t i = 0; i < p->n_parties; i++) {
    if (!p->cl_ok[i]) continue;
    size_t nr;
    fm_err e;
    if (secagg_client_reveal_new(p->rv, p->h, &nr, &p->cl[i], state, &e)) continue;
    for (size_t k = 0; k < nr; k++) {
      secagg_reveal_pack(p->blob + off, &p->rv[k]);
      p->items[n++] = (sa_item_t){p->parties[i].slot, p->rv[k].owner, p->blob + off, SECAGG_REVEALBYTES};
      off += SECAGG_REVEALBYTES;
    }
    sodium_memzero(p->rv, sizeof *p->rv * p->h);
  }
  sa_msg_t re = {.stage = MSG_SA_REVEAL_B, .items = p->items, .n_items = n};
  int rc = 0;
  if (n) {
    /* after every Delta the helper thread sealed before it (sequence numbers) */
    if (p->bg) pthread_mutex_lock(&p->bg->seal_mu);
    post_masked(p, 0);
    if (p->failed) {
      rc = -1;
      if (err != &p->err) *err = p->err;
    } else {
      rc = send_msg(p->x, &re, err);
      sodium_memzero(p->x->out.data, p->x->out.len); /* the packed shares */
    }
    if (p->bg) pthread_mutex_unlock(&p->bg->seal_mu);
  }
  sodium_memzero(p->blob, off);
  return rc;
}

/* Stage 2b without waiting: answers every SURVIVED state that has come; keeps
 * a final STATE that came already (the deadline passed) for stage 3. */
static void poll_survived(sa_poster_t *p) {
  /* not past a newer plan: the coordinator moved on (abandoned this round), and
   * its next messages are for the round that plan starts. Probed after the
   * secure-aggregation message: a plan sent before it has arrived before it. */
  while (!p->failed && !p->state && wire_pending(0, WIRE_TAG_SECAGG) && !wire_pending(0, WIRE_TAG_PLAN)) {
    int from, reject;
    int rc = chan_recv(p->x->ch, &p->x->in, &from, 0, WIRE_TAG_SECAGG, 0, &reject, &p->err);
    if (rc < 0) {
      p->failed = 1;
      return;
    }
    if (rc) continue; /* a rejected message (stale round) */
    sa_msg_t m;
    if (msg_secagg_unpack(&m, p->x->in.data, p->x->in.len, &p->err)) continue;
    if (m.job == p->x->job && m.round == p->x->plan->round) {
      if (m.stage == MSG_SA_SURVIVED && answer_survived(p, m.state, m.n_state, &p->err)) p->failed = 1;
      if (m.stage == MSG_SA_STATE) {
        if (m.n_state != p->m || !(p->state = malloc(p->m))) {
          p->failed = 1;
          fm_fail(&p->err, "secagg: bad STATE message");
        } else {
          memcpy(p->state, m.state, p->m);
        }
      }
    }
    msg_secagg_release(&m);
  }
}

static void post_masked(sa_poster_t *p, int wait) {
  while (!p->failed && p->bg && p->head < p->upto) {
    int st = bg_state(p->bg, p->head, wait);
    if (st < 0) {
      p->failed = 1;
      fm_fail(&p->err, "%s", p->bg->rc ? p->bg->err.msg : "secagg: the masks were not made");
      return;
    }
    if (st == 0) return;
    uint8_t *buf = p->bg->sealed[p->head];
    p->bg->sealed[p->head] = NULL; /* the outbox's now */
    /* --inject-wire tamper (test only): one bit of the clear, authenticated
     * words flipped; the coordinator must refuse it (auth) and recover the round */
    if (p->bg->dm[p->head].platform == p->tamper) buf[SEAL_SPLIT_CLEAR_OFF + 28] ^= 0x10;
    if (chan_post_sealed(p->ch, 0, WIRE_TAG_DELTA, buf, p->bg->sealed_bufcap[p->head], p->bg->sealed_len[p->head],
                         &p->err)) {
      p->failed = 1;
      return;
    }
    p->head++;
  }
}

/* Between the inner steps of a training: the Deltas sealed meanwhile leave,
 * SURVIVED states are answered. */
static void stage2_hook(void *arg) {
  post_masked(arg, 0);
  poll_survived(arg);
}

int sa_worker_round(chan_t *ch, const fm_config *c, const plan_t *plan, uint64_t job, int size, const int *hosts, sa_party_t *parties,
                    uint32_t n_parties, size_t d, sa_compute_fn compute, void *ctx, uint32_t tamper, fm_err *err) {
  sa_ctx_t x = {.ch = ch, .plan = plan, .job = job, .size = size, .hosts = hosts, .deadline = wire_now() + 3 * c->round_timeout};
  uint32_t m = plan->n_part;
  int rank = ch->rank, rc = -1;
  secagg_graph_t g;
  int g_ok = 0;
  secagg_client_t *cl = calloc(n_parties ? n_parties : 1, sizeof *cl);
  int *cl_ok = calloc(n_parties ? n_parties : 1, sizeof *cl_ok);
  uint8_t (*pk)[SECAGG_PKBYTES] = calloc(m ? m : 1, SECAGG_PKBYTES);
  sa_item_t *items = NULL;
  uint8_t *blob = NULL;            /* item payloads (public or sealed) */
  secagg_keyshare_t *ks = NULL;    /* shares made by one party (secret) */
  secagg_keyshare_t *local = NULL; /* shares for holders on this rank (secret) */
  size_t n_local = 0;
  secagg_reveal_t *rv = NULL;
  size_t blob_cap = 0, n = 0, off = 0;
  sa_msg_t in;
  memset(&in, 0, sizeof in);
  prof_t tp = prof_now();
  /* stage 2's batch: the hosted parties that mask (in training order), their
   * Delta fields and plain words, the helper thread making their masks */
  uint32_t nb = 0, *bq = calloc(n_parties ? n_parties : 1, sizeof *bq);
  delta_msg_t *bdm = calloc(n_parties ? n_parties : 1, sizeof *bdm);
  mask_bg_t bg = {.seal_mu = PTHREAD_MUTEX_INITIALIZER, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
  bg.out = calloc(n_parties ? n_parties : 1, sizeof *bg.out);
  bg.x = calloc(n_parties ? n_parties : 1, sizeof *bg.x);
  bg.runs = calloc(n_parties ? n_parties : 1, sizeof *bg.runs);
  bg.n_runs = calloc(n_parties ? n_parties : 1, sizeof *bg.n_runs);
  bg.sealed = calloc(n_parties ? n_parties : 1, sizeof *bg.sealed);
  bg.sealed_len = calloc(n_parties ? n_parties : 1, sizeof *bg.sealed_len);
  bg.sealed_bufcap = calloc(n_parties ? n_parties : 1, sizeof *bg.sealed_bufcap);
  bg.cs = calloc(n_parties ? n_parties : 1, sizeof *bg.cs);
  pthread_t bg_tid;
  int bg_on = 0;
  sa_poster_t ps; /* stage 2's posts and 2b's answers (set up there) */
  memset(&ps, 0, sizeof ps);
  if (!cl || !cl_ok || !pk || !bq || !bdm || !bg.out || !bg.x || !bg.runs || !bg.n_runs || !bg.cs || !bg.sealed ||
      !bg.sealed_len || !bg.sealed_bufcap) {
    fm_fail(err, "out of memory");
    goto done;
  }
  uint8_t gseed[32];
  secagg_graph_seed(gseed, job, plan->round);
  if (secagg_graph_init(&g, m, c->secagg_neighbours, gseed, err)) goto done;
  g_ok = 1;
  uint32_t h = g.deg + 1, t = secagg_threshold_for(c->secagg_threshold, h);
  size_t max_items = (size_t)n_parties * h + 1;
  items = calloc(max_items, sizeof *items);
  blob_cap = max_items * (seal_sealed_len(SECAGG_KEYSHAREBYTES) + SEAL_SIGBYTES + SECAGG_PKBYTES);
  blob = malloc(blob_cap);
  ks = sodium_malloc(sizeof *ks * h);
  local = sodium_malloc(sizeof *local * max_items);
  rv = sodium_malloc(sizeof *rv * h);
  if (!items || !blob || !ks || !local || !rv) {
    fm_fail(err, "out of memory");
    goto done;
  }

  /* stage 0: a fresh mask key per party, signed with this rank's identity;
   * each self-mask bound to this rank's session with the coordinator
   * (secagg_self_seed: one key for all the rank's parties) */
  uint8_t bind[SECAGG_SEEDBYTES];
  if (seal_session_derive(bind, &ch->sess[0], SEAL_TX, SECAGG_BIND_LABEL)) {
    fm_fail(err, "secure aggregation needs a sealed session with the coordinator");
    goto done;
  }
  int s0 = 0;
  for (uint32_t i = 0; i < n_parties; i++) {
    if (secagg_client_init(&cl[i], &g, job, plan->round, parties[i].slot, t, err)) {
      s0 = -1;
      break;
    }
    cl_ok[i] = 1;
    secagg_client_bind_self(&cl[i], bind);
    uint8_t adv[SECAGG_ADVBYTES];
    secagg_advertise_bytes(adv, job, plan->round, parties[i].slot, cl[i].mask_pk);
    uint8_t *p = blob + off;
    memcpy(p, cl[i].mask_pk, SECAGG_PKBYTES);
    if (seal_sign(p + SECAGG_PKBYTES, &ch->id, SECAGG_ADV_DOMAIN, adv, sizeof adv, err)) {
      s0 = -1;
      break;
    }
    items[n++] = (sa_item_t){parties[i].slot, 0, p, SECAGG_PKBYTES + SEAL_SIGBYTES};
    off += SECAGG_PKBYTES + SEAL_SIGBYTES;
  }
  sodium_memzero(bind, sizeof bind);
  if (s0) goto done;
  sa_msg_t adv = {.stage = MSG_SA_ADVERTISE, .items = items, .n_items = n};
  if (send_msg(&x, &adv, err)) goto done;

  /* stage 1: shares of each party's secrets, sealed to the holder's rank. Made
   * while the round's KEYS are on their way (they need none of them); sent for
   * the parties whose key the coordinator took. (A share sealed and not sent
   * leaves a gap in that channel's sequence numbers, which the receiver
   * allows: it only refuses a number not above the last it took.) */
  n = 0;
  off = 0;
  for (uint32_t i = 0; i < n_parties; i++) {
    size_t nks;
    if (secagg_client_share(ks, h, &nks, &cl[i], err)) goto done;
    for (size_t k = 0; k < nks; k++) {
      int dest = slot_rank(&x, ks[k].holder);
      if (dest == rank) { /* kept here until the coordinator says the owner shared */
        local[n_local++] = ks[k];
        items[n++] = (sa_item_t){ks[k].owner, ks[k].holder, NULL, 0};
        continue;
      }
      uint8_t plain[SECAGG_KEYSHAREBYTES];
      secagg_keyshare_pack(plain, &ks[k]);
      const uint8_t *sealed;
      size_t sn;
      int src = chan_seal(ch, dest, WIRE_TAG_SECAGG, plan->round, plain, sizeof plain, &sealed, &sn, err);
      sodium_memzero(plain, sizeof plain);
      if (src) goto done;
      memcpy(blob + off, sealed, sn);
      items[n++] = (sa_item_t){ks[k].owner, ks[k].holder, blob + off, sn};
      off += sn;
    }
    sodium_memzero(ks, sizeof *ks * h);
  }
  int w = wait_msg(&x, MSG_SA_KEYS, &in, err);
  if (w) {
    rc = w;
    goto done;
  }
  uint8_t *known = calloc(m, 1);
  if (!known) {
    fm_fail(err, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < in.n_items; i++)
    if (in.items[i].from < m && in.items[i].len == SECAGG_PKBYTES) {
      memcpy(pk[in.items[i].from], in.items[i].data, SECAGG_PKBYTES);
      known[in.items[i].from] = 1;
    }
  msg_secagg_release(&in);
  size_t kept = 0; /* the shares of parties whose key was not taken stay here */
  for (size_t j = 0; j < n; j++)
    if (known[items[j].from]) items[kept++] = items[j];
  n = kept;
  sa_msg_t sh = {.stage = MSG_SA_SHARE, .items = items, .n_items = n};
  if (send_msg(&x, &sh, err)) {
    free(known);
    goto done;
  }
  /* Train the first party while the coordinator collects every rank's shares
   * and forwards them: the round trip is hidden behind the training. (Its
   * delta is masked and sent only if its shares were forwarded; if not, the
   * training was in vain, as for a party that drops after sharing.) */
  delta_msg_t dm0;
  uint32_t *fixed0 = NULL;
  int pre = n_parties > 0 && cl_ok[0] && known[parties[0].slot];
  /* keep its words as they are if the batch below will likely take it (the
   * one-at-a-time path then masks a copy) */
  int pre_keep = batch_fits(n_parties, d);
  free(known);
  prof_add(PROF_SA_SETUP, tp);
  if (pre && compute(ctx, &parties[0], pre_keep, &dm0, &fixed0, err)) goto done;
  tp = prof_now();
  w = wait_msg(&x, MSG_SA_FORWARD, &in, err);
  if (w) {
    rc = w;
    goto done;
  }
  if (in.n_state != m) {
    msg_secagg_release(&in);
    rc = fm_fail(err, "secagg: FORWARD with %zu state bytes for %u slots", in.n_state, m);
    goto done;
  }
  uint8_t *shared = malloc(m);
  if (!shared) {
    msg_secagg_release(&in);
    fm_fail(err, "out of memory");
    goto done;
  }
  memcpy(shared, in.state, m);
  for (size_t i = 0; i < in.n_items; i++) {
    const sa_item_t *it = &in.items[i];
    secagg_client_t *to = NULL;
    for (uint32_t k = 0; k < n_parties; k++)
      if (cl_ok[k] && parties[k].slot == it->to) to = &cl[k];
    if (!to || it->from >= m || !shared[it->from]) continue;
    secagg_keyshare_t s;
    fm_err e;
    int ok = 0;
    if (it->len == 0) { /* a share between two parties of this rank */
      for (size_t k = 0; k < n_local && !ok; k++)
        if (local[k].owner == it->from && local[k].holder == it->to) {
          s = local[k];
          ok = 1;
        }
    } else {
      uint8_t plain[SECAGG_KEYSHAREBYTES];
      size_t pn;
      ok = chan_open(ch, slot_rank(&x, it->from), WIRE_TAG_SECAGG, it->data, it->len, plain, sizeof plain, &pn, &e) == 0 &&
           secagg_keyshare_unpack(&s, plain, pn, &e) == 0;
      sodium_memzero(plain, sizeof plain);
    }
    if (ok && secagg_client_hold(to, &s, &e) != 0) ok = 0;
    sodium_memzero(&s, sizeof s);
    (void)ok; /* a share that does not open or fit is left out; the masks then skip that pair */
  }
  msg_secagg_release(&in);

  prof_add(PROF_SA_SETUP, tp);
  /* stage 2: train, mask, send; and (2b) answer the coordinator's SURVIVED
   * states between the inner steps of the trainings */
  nb = 0;
  for (uint32_t i = 0; i < n_parties; i++)
    if (cl_ok[i] && shared[parties[i].slot]) bq[nb++] = i;
  ps.ch = ch;
  ps.tamper = tamper;
  ps.x = &x;
  ps.parties = parties;
  ps.cl = cl;
  ps.cl_ok = cl_ok;
  ps.n_parties = n_parties;
  ps.m = m;
  ps.h = h;
  ps.rv = rv;
  ps.items = items;
  ps.blob = blob;
  platform_set_step_hook(stage2_hook, &ps);
  if (batch_fits(nb, d)) {
    /* every mask on a helper thread, in training order, while the main thread trains */
    int ok = 1;
    bg.sealed_cap = chan_split_len(4096, d * sizeof(uint32_t)); /* the Delta's other fields fit in 4 KiB */
    for (uint32_t q = 0; q < nb && ok; q++) {
      bg.sealed[q] = wire_buf_take(bg.sealed_cap, &bg.sealed_bufcap[q]);
      /* the mask, then y, made where the Delta's clear part goes: no copy */
      bg.out[q] = bg.sealed[q] ? (uint32_t *)(void *)(bg.sealed[q] + SEAL_SPLIT_CLEAR_OFF) : NULL;
      bg.cs[q] = &cl[bq[q]];
      ok = bg.out[q] != NULL && bg.sealed[q] != NULL;
    }
    if (!ok) {
      free(shared);
      fm_fail(err, "out of memory for the masks");
      goto done;
    }
    bg.k = nb;
    bg.words = d;
    bg.pk = (const uint8_t(*)[SECAGG_PKBYTES])pk;
    bg.ch = ch;
    bg.round = plan->round;
    bg.dm = bdm;
    /* The scratch is only read here (compute's keep): a party's input stays
     * sparse (the touched rows and the dense part) and the next party
     * restores only those rows. With the thread, each party's input is copied
     * to a buffer of its own (its runs and words when sparse), so the thread
     * can mask it while the next party trains. Without it
     * (sa_worker_thread_setup, or the thread did not start) every mask is
     * made here first, and each party is masked, sealed and posted as soon as
     * it is trained, straight from the scratch. */
    /* let the batch's sealed deltas travel together rather than hold the next
     * party's training until the coordinator has taken the one before last
     * (WORKER_MAX_INFLIGHT): all of them, as long as their outbox copies fit
     * in SA_POST_BUDGET */
    size_t lim = SA_POST_BUDGET / bg.sealed_cap;
    if (lim > (size_t)nb + 1) lim = (size_t)nb + 1;
    wire_set_max_inflight(lim > WORKER_MAX_INFLIGHT ? lim : WORKER_MAX_INFLIGHT);
    bg_on = sa_thread && pthread_create(&bg_tid, NULL, bg_main, &bg) == 0;
    if (!bg_on) {
      tp = prof_now();
      int mrc = bg_masks_here(&bg);
      prof_add(PROF_SA_MASK, tp);
      if (mrc) {
        free(shared);
        fm_fail(err, "%s", bg.err.msg);
        goto done;
      }
    }
    /* batch parties [ps.head, ps.upto) are trained and wait for their mask */
    ps.bg = &bg;
    for (uint32_t q = 0; q <= nb; q++) {
      if (q < nb) {
        uint32_t i = bq[q], *fx;
        if (i == 0 && pre) {
          bdm[q] = dm0;
          fx = fixed0;
        } else if (compute(ctx, &parties[i], 1, &bdm[q], &fx, err) || ps.failed) {
          if (ps.failed) *err = ps.err;
          free(shared);
          goto done;
        }
        if (bg_input(&bg, q, &bdm[q], fx, bg_on)) {
          free(shared);
          fm_fail(err, "out of memory for the masks");
          goto done;
        }
        if (bg_on) {
          bg_publish(&bg, q);
        } else {
          tp = prof_now();
          bg_here(&bg, q);
          prof_add(PROF_SA_MASK, tp);
        }
      }
      tp = prof_now();
      /* send, in order, every party that is masked (at the end: wait for them) */
      ps.upto = q < nb ? q + 1 : nb;
      post_masked(&ps, q == nb);
      prof_add(PROF_SA_MASK, tp);
      if (ps.failed) {
        *err = ps.err;
        free(shared);
        goto done;
      }
    }
    if (bg_on) pthread_join(bg_tid, NULL);
    bg_on = 0;
    wire_set_max_inflight(WORKER_MAX_INFLIGHT);
  } else {
    for (uint32_t q = 0; q < nb; q++) {
      uint32_t i = bq[q];
      delta_msg_t dm;
      uint32_t *fixed;
      if (i == 0 && pre) {
        dm = dm0;
        fixed = fixed0;
        if (pre_keep) { /* trained for the batch: its words stay in the scratch, masked in a copy */
          if (!(fixed = pool_get(&spare_pool, 0, d))) {
            free(shared);
            fm_fail(err, "out of memory for the masks");
            goto done;
          }
          memcpy(fixed, fixed0, d * sizeof *fixed);
        }
      } else if (compute(ctx, &parties[i], 0, &dm, &fixed, err)) {
        free(shared);
        goto done;
      }
      tp = prof_now();
      /* masked in place: the plain words are not needed after this */
      if (secagg_client_mask(fixed, d, &cl[i], (const uint8_t(*)[SECAGG_PKBYTES])pk, err)) {
        free(shared);
        goto done;
      }
      prof_add(PROF_SA_MASK, tp);
      dm.fixed = fixed;
      dm.n_fixed = d;
      dm.runs = NULL;
      dm.n_runs = 0;
      if (worker_post_delta(ch, plan->round, &dm, err)) {
        free(shared);
        goto done;
      }
      if (ps.failed) {
        *err = ps.err;
        free(shared);
        goto done;
      }
    }
  }
  free(shared);
  platform_set_step_hook(NULL, NULL);
  poll_survived(&ps); /* what came during the last training */
  if (ps.failed) {
    *err = ps.err;
    goto done;
  }

  /* stages 3-4: who survived; reveal what unmasks the sum */
  tp = prof_now();
  uint8_t *state = ps.state; /* a final STATE that came during the trainings */
  ps.state = NULL;
  while (!state) {
    w = wait_msg2(&x, MSG_SA_STATE, MSG_SA_SURVIVED, &in, err);
    if (w) {
      rc = w;
      goto done;
    }
    if (in.stage == MSG_SA_SURVIVED) { /* 2b for a party that was trained last or elsewhere */
      int arc = answer_survived(&ps, in.state, in.n_state, err);
      msg_secagg_release(&in);
      if (arc) goto done;
      continue;
    }
    if (in.n_state != m || !(state = malloc(m))) {
      msg_secagg_release(&in);
      rc = fm_fail(err, "secagg: bad STATE message");
      goto done;
    }
    memcpy(state, in.state, m);
    msg_secagg_release(&in);
  }
  n = 0;
  off = 0;
  int answer = 0; /* the coordinator waits for one answer from a rank that hosts a survivor */
  for (uint32_t i = 0; i < n_parties; i++) {
    if (!cl_ok[i] || state[parties[i].slot] != SECAGG_SURVIVED) continue;
    answer = 1;
    size_t nr;
    fm_err e;
    if (secagg_client_reveal(rv, h, &nr, &cl[i], state, &e)) continue; /* refuses a contradictory state */
    for (size_t k = 0; k < nr; k++) {
      secagg_reveal_pack(blob + off, &rv[k]);
      items[n++] = (sa_item_t){parties[i].slot, rv[k].owner, blob + off, SECAGG_REVEALBYTES};
      off += SECAGG_REVEALBYTES;
    }
    sodium_memzero(rv, sizeof *rv * h);
  }
  free(state);
  sa_msg_t re = {.stage = MSG_SA_REVEAL, .items = items, .n_items = n};
  rc = answer ? send_msg(&x, &re, err) : 0;
  if (x.out.data) sodium_memzero(x.out.data, x.out.len); /* the packed shares */
  prof_add(PROF_SA_REVEAL, tp);
done:
  platform_set_step_hook(NULL, NULL);
  free(ps.state);
  if (bg_on) bg_stop(&bg, bg_tid); /* before the clients it uses go */
  wire_set_max_inflight(WORKER_MAX_INFLIGHT);
  free(bq);
  free(bdm);
  free(bg.runs);
  free(bg.n_runs);
  free(bg.out);
  free(bg.x);
  free(bg.cs);
  for (uint32_t q = 0; bg.sealed && q < n_parties; q++) wire_buf_give_back(bg.sealed[q], bg.sealed_bufcap[q]);
  free(bg.sealed);
  free(bg.sealed_bufcap);
  free(bg.sealed_len);
  if (blob) sodium_memzero(blob, blob_cap);
  free(blob);
  free(items);
  if (ks) sodium_free(ks);
  if (local) sodium_free(local);
  if (rv) sodium_free(rv);
  for (uint32_t i = 0; cl && cl_ok && i < n_parties; i++)
    if (cl_ok[i]) secagg_client_free(&cl[i]);
  free(cl);
  free(cl_ok);
  free(pk);
  if (g_ok) secagg_graph_free(&g);
  wire_buf_free(&x.in);
  wire_buf_free(&x.out);
  return rc;
}
