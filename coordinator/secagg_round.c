/* coordinator/secagg_round.c: the coordinator's side of secure aggregation
 * (--secagg on), around the ordinary collection of Deltas in round.c:
 *
 *   start   0 ADVERTISE  hear each slot's mask public key, signed by the rank
 *                        that hosts it (Ed25519 identity of the handshake)
 *             KEYS       send every advertised key to the ranks involved
 *           1 SHARE      hear each owner's key shares, sealed rank to rank (the
 *                        coordinator cannot open them); an owner whose shares
 *                        all arrived is SHARED (U2)
 *             FORWARD    send each rank the shares for the holders it hosts,
 *                        and who shared
 *   add     2            a Delta carries the masked input y; acc += y
 *   survived  SURVIVED   tell the ranks whose y is in (all but the last one's)
 *   take   2b REVEAL_B   hear the b-shares of those; as soon as t of a party's
 *                        are in, a helper thread at idle priority makes its
 *                        self-mask while the others still train
 *   finish  3 STATE      the deadline passed: who survived, who dropped
 *           4 REVEAL     hear the survivors' shares (b of survivors, s_sk of
 *                        the dropped), reconstruct, unmask: the exact sum
 *
 * The coordinator never holds an unmasked individual delta. A round with too
 * few parties to unmask is abandoned (no update) and the run goes on. */
#define _GNU_SOURCE /* SCHED_IDLE */
#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/secagg.h"
#include "common/seal.h"
#include "common/prof.h"
#include "coordinator/coord.h"

typedef struct selfmask selfmask_t;

struct sa_coord {
  coord_t *co;
  uint32_t r, m;
  const uint32_t *part;
  secagg_graph_t g;
  secagg_server_t srv;
  int g_ok, srv_ok;
  uint8_t *involved;  /* (size) worker ranks hosting a slot */
  uint8_t *shared;    /* (m) */
  uint32_t n_shared, n_dropped, n_rejected;
  selfmask_t *sm; /* stage 2b's self-masks (NULL until the first survivor's b) */
  secagg_reveal_t *rv; /* room for deg + 1 reveals (secret) */
};

static int slot_rank(const sa_coord_t *sa, uint32_t slot) { return sa->co->p[sa->part[slot]].rank; }

static int sa_send(sa_coord_t *sa, int rank, const sa_msg_t *m) {
  coord_t *co = sa->co;
  if (msg_secagg_pack(&co->out, m, &co->err)) return -1;
  return chan_post(&co->ch, &rank, 1, WIRE_TAG_SECAGG, sa->r, co->out.data, co->out.len, &co->err);
}

/* Sends m to every involved rank. */
static int sa_send_all(sa_coord_t *sa, const sa_msg_t *m) {
  for (int w = 1; w < sa->co->size; w++)
    if (sa->involved[w] && sa_send(sa, w, m)) return -1;
  return 0;
}

/* Next secure-aggregation message of this round and stage, until deadline.
 * Anything else that arrives is stale (late deltas, other rounds) and counted.
 * Returns 0 (*m to release), 1 deadline, -1 error. */
static int sa_recv(sa_coord_t *sa, uint32_t stage, uint32_t also, double deadline, int *from, sa_msg_t *m) {
  coord_t *co = sa->co;
  for (;;) {
    int reject;
    wire_set_quick(SECAGG_QUICK_S); /* the workers' replies come within milliseconds */
    int rc = chan_recv(&co->ch, &co->in, from, WIRE_ANY_SOURCE, WIRE_ANY_TAG, deadline - wire_now(), &reject, &co->err);
    wire_set_quick(0);
    if (rc == 1 || rc < 0) return rc;
    if (rc == 2 || co->in.tag != WIRE_TAG_SECAGG) {
      co->late_carry++;
      continue;
    }
    if (msg_secagg_unpack(m, co->in.data, co->in.len, &co->err)) {
      sa->n_rejected++;
      continue;
    }
    if (m->job == co->job && m->round == sa->r && (m->stage == stage || (also && m->stage == also))) return 0;
    msg_secagg_release(m);
    co->late_carry++;
  }
}

/* Stage 2b's self-masks, made beside the round by a detached helper thread at
 * idle priority (SCHED_IDLE, else nice 19), so that they use only CPU nothing
 * else wants: the thread expands a seed's PRG(b_u) into one of its two buffers
 * and hands the buffer over; the main thread subtracts handed-over buffers from
 * the sum (selfmask_collect) and gives them back. At the deadline the main
 * thread makes itself every mask not handed over; the thread, if it is in the
 * middle of one, drops it at its next piece (SELFMASK_PIECE words).
 *
 * The main thread never waits for the thread, not even for a lock: a thread at
 * idle priority preempted while holding one could keep it for seconds on a busy
 * host. So the two share only atomics (seeds handed out up to n_seeds, buffers
 * by ready[], stop, refs); the mutex and condition variable are the thread's
 * own, for sleeping when it has nothing to do. The main thread signals without
 * the mutex, and the thread wakes every SELFMASK_NAP_NS anyway, so a signal
 * that comes between its check and its wait is only late, never lost.
 * The buffers hold PRG(b_u) of survivors, whose b_u the coordinator learns by
 * design: they are not wiped. The struct lives until both have let go (refs). */
#define SELFMASK_PIECE ((size_t)16384) /* words: 64 KiB of keystream */
#define SELFMASK_NAP_NS 5000000L
struct selfmask {
  pthread_mutex_t mu; /* the thread's, for its condition variable */
  pthread_cond_t cv;
  int stop, refs; /* atomic */
  size_t d;
  uint32_t cap;
  uint32_t n_seeds; /* atomic: seeds[0..n_seeds) are handed out (main thread's release) */
  uint32_t n_taken; /* the thread's: seeds[0..n_taken) taken */
  uint8_t (*seeds)[SECAGG_SEEDBYTES]; /* (cap) sodium_malloc'd */
  uint8_t *done;                      /* (cap) the main thread's: seed k's mask is out of the sum */
  uint32_t *buf[2];
  int ready[2];       /* atomic: buf[i] holds PRG(seeds[seed_of[i]]) for the main thread */
  uint32_t seed_of[2]; /* written by the thread before ready[i] is set */
};

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Drops one reference; the last one frees (wiping the seeds). */
static void selfmask_release(selfmask_t *sm) {
  if (__atomic_sub_fetch(&sm->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
  if (sm->seeds) sodium_free(sm->seeds);
  free(sm->done);
  free(sm->buf[0]);
  free(sm->buf[1]);
  pthread_mutex_destroy(&sm->mu);
  pthread_cond_destroy(&sm->cv);
  free(sm);
}

/* Wakes the thread (main thread; without the mutex, see above). */
static void selfmask_wake(selfmask_t *sm) { pthread_cond_signal(&sm->cv); }

static void *selfmask_main(void *arg) {
  selfmask_t *sm = arg;
  struct sched_param sp = {0};
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0) {
    int rc = nice(19);
    (void)rc;
  }
  uint8_t *seed = sodium_malloc(SECAGG_SEEDBYTES);
  while (seed && !LOAD(&sm->stop)) {
    int i = !LOAD(&sm->ready[0]) ? 0 : !LOAD(&sm->ready[1]) ? 1 : -1; /* a buffer the main thread does not hold */
    if (i < 0 || sm->n_taken == LOAD(&sm->n_seeds)) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += SELFMASK_NAP_NS;
      if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
      pthread_mutex_lock(&sm->mu);
      pthread_cond_timedwait(&sm->cv, &sm->mu, &ts);
      pthread_mutex_unlock(&sm->mu);
      continue;
    }
    uint32_t k = sm->n_taken++;
    memcpy(seed, sm->seeds[k], SECAGG_SEEDBYTES);
    prof_t tp = prof_now();
    for (size_t lo = 0; lo < sm->d && !LOAD(&sm->stop); lo += SELFMASK_PIECE)
      secagg_mask_expand_part(sm->buf[i], lo, lo + SELFMASK_PIECE < sm->d ? lo + SELFMASK_PIECE : sm->d, seed);
    prof_add_locked(PROF_HELPERS, tp); /* the main thread takes prof's lock only to reset and report */
    if (LOAD(&sm->stop)) break; /* the main thread makes it itself */
    sm->seed_of[i] = k;
    STORE(&sm->ready[i], 1);
  }
  sodium_free(seed); /* wipes; accepts NULL */
  selfmask_release(sm);
  return NULL;
}

/* Subtracts from the sum the masks the thread has handed over (main thread). */
static void selfmask_collect(sa_coord_t *sa) {
  selfmask_t *sm = sa->sm;
  for (int i = 0; i < 2; i++) {
    if (!LOAD(&sm->ready[i])) continue;
    secagg_server_sub(&sa->srv, sm->buf[i]); /* buf[i] is ours while ready[i] */
    sm->done[sm->seed_of[i]] = 1;
    STORE(&sm->ready[i], 0);
    selfmask_wake(sm);
  }
}

/* Tells the thread to stop (main thread; it lets go of the struct itself). */
static void selfmask_stop(selfmask_t *sm) {
  STORE(&sm->stop, 1);
  selfmask_wake(sm);
}

/* The struct of the last round that had a thread. It holds a reference of its
 * own, so the main thread can look at refs after the round let go of it: refs
 * above 1 means that thread still runs (a stopped thread at idle priority on a
 * busy host may wait long for the CPU to see it is stopped). Meanwhile a new
 * round gets no thread and makes its self-masks at the deadline, so at most one
 * such thread, and its two buffers, outlive their round. */
static selfmask_t *last_threaded;

/* The thread and its shared state for a round of m parties and d words. */
static selfmask_t *selfmask_new(uint32_t m, size_t d) {
  selfmask_t *sm = calloc(1, sizeof *sm);
  if (!sm) return NULL;
  pthread_mutex_init(&sm->mu, NULL);
  pthread_cond_init(&sm->cv, NULL);
  sm->refs = 1;
  sm->d = d;
  sm->cap = m;
  sm->seeds = sodium_malloc((size_t)m * SECAGG_SEEDBYTES);
  sm->done = calloc(m, 1);
  sm->buf[0] = malloc(sizeof(uint32_t) * (d ? d : 1));
  sm->buf[1] = malloc(sizeof(uint32_t) * (d ? d : 1));
  if (!sm->seeds || !sm->done || !sm->buf[0] || !sm->buf[1]) {
    selfmask_release(sm);
    return NULL;
  }
  if (last_threaded) {
    if (LOAD(&last_threaded->refs) > 1) return sm; /* its thread still runs: none this round */
    selfmask_release(last_threaded); /* it has ended */
    last_threaded = NULL;
  }
  pthread_t th;
  sm->refs = 3; /* this round's, the thread's, last_threaded's */
  if (pthread_create(&th, NULL, selfmask_main, sm) != 0) {
    sm->refs = 1; /* then all at the deadline */
  } else {
    pthread_detach(th);
    last_threaded = sm;
  }
  return sm;
}

int sa_coord_start(sa_coord_t **out, coord_t *co, uint32_t r, const uint32_t *part, uint32_t m) {
  sa_coord_t *sa = calloc(1, sizeof *sa);
  *out = sa;
  if (!sa) return fm_fail(&co->err, "out of memory");
  sa->co = co;
  sa->r = r;
  sa->m = m;
  sa->part = part;
  sa->involved = calloc((size_t)co->size, 1);
  sa->shared = calloc(m ? m : 1, 1);
  if (!sa->involved || !sa->shared) return fm_fail(&co->err, "out of memory");
  if (m < 2) {
    fm_fail(&co->err, "round %u: secure aggregation needs at least 2 participants, %u sampled", r, m);
    return 1;
  }
  for (uint32_t i = 0; i < m; i++) sa->involved[slot_rank(sa, i)] = 1;
  uint8_t gseed[32];
  secagg_graph_seed(gseed, co->job, r);
  if (secagg_graph_init(&sa->g, m, co->c->secagg_neighbours, gseed, &co->err)) return -1;
  sa->g_ok = 1;
  uint32_t t = secagg_threshold_for(co->c->secagg_threshold, sa->g.deg + 1);
  if (secagg_server_init(&sa->srv, &sa->g, co->job, r, t, co->d, &co->err)) return -1;
  sa->srv_ok = 1;
  secagg_server_use_buffer(&sa->srv, co->acc); /* the round's sum, where finish leaves it */
  for (uint32_t i = 0; i < m; i++) { /* each self-mask bound to its host's session (secagg_self_seed) */
    uint8_t bind[SECAGG_SEEDBYTES];
    if (seal_session_derive(bind, &co->ch.sess[slot_rank(sa, i)], SEAL_RX, SECAGG_BIND_LABEL))
      return fm_fail(&co->err, "secure aggregation needs sealed sessions");
    int brc = secagg_server_bind_self(&sa->srv, i, bind, &co->err);
    sodium_memzero(bind, sizeof bind);
    if (brc) return -1;
  }
  double deadline = wire_now() + co->c->round_timeout;

  /* stage 0: signed mask keys */
  uint32_t advertised = 0;
  uint8_t *has = calloc(m, 1);
  if (!has) return fm_fail(&co->err, "out of memory");
  while (advertised < m) {
    int from;
    sa_msg_t msg;
    int rc = sa_recv(sa, MSG_SA_ADVERTISE, 0, deadline, &from, &msg);
    if (rc < 0) {
      free(has);
      return -1;
    }
    if (rc) break;
    for (size_t i = 0; i < msg.n_items; i++) {
      const sa_item_t *it = &msg.items[i];
      uint8_t adv[SECAGG_ADVBYTES];
      fm_err e;
      if (it->from >= m || slot_rank(sa, it->from) != from || has[it->from] ||
          it->len != SECAGG_PKBYTES + SEAL_SIGBYTES) {
        sa->n_rejected++;
        continue;
      }
      secagg_advertise_bytes(adv, co->job, r, it->from, it->data);
      if (seal_verify(it->data + SECAGG_PKBYTES, co->ch.peer_sign[from], SECAGG_ADV_DOMAIN, adv, sizeof adv, &e) ||
          secagg_server_set_pk(&sa->srv, it->from, it->data, &e)) {
        sa->n_rejected++;
        continue;
      }
      has[it->from] = 1;
      advertised++;
    }
    msg_secagg_release(&msg);
  }
  sa_item_t *items = calloc(m, sizeof *items);
  if (!items) {
    free(has);
    return fm_fail(&co->err, "out of memory");
  }
  size_t n = 0;
  for (uint32_t s = 0; s < m; s++)
    if (has[s]) items[n++] = (sa_item_t){s, 0, sa->srv.pk[s], SECAGG_PKBYTES};
  sa_msg_t keys = {.job = co->job, .round = r, .stage = MSG_SA_KEYS, .items = items, .n_items = n};
  int rc = sa_send_all(sa, &keys);
  free(items);
  free(has);
  if (rc) return -1;

  /* stage 1: key shares, forwarded once an owner's are all here */
  typedef struct fwd {
    sa_item_t *it;
    size_t n, cap;
  } fwd_t;
  fwd_t *fw = calloc((size_t)co->size, sizeof *fw);
  if (!fw) return fm_fail(&co->err, "out of memory");
  uint32_t *holders = malloc(sizeof(uint32_t) * (sa->g.deg + 1));
  rc = holders ? 0 : fm_fail(&co->err, "out of memory");
  while (!rc && sa->n_shared < advertised) {
    int from;
    sa_msg_t msg;
    int r2 = sa_recv(sa, MSG_SA_SHARE, 0, deadline, &from, &msg);
    if (r2 < 0) rc = -1;
    if (r2) break;
    /* items are grouped by owner; accept an owner only with one item per holder */
    for (size_t i = 0; i < msg.n_items && !rc;) {
      uint32_t owner = msg.items[i].from;
      size_t j = i;
      while (j < msg.n_items && msg.items[j].from == owner) j++;
      int ok = owner < m && slot_rank(sa, owner) == from && sa->srv.has_pk[owner] && !sa->shared[owner];
      uint32_t nh = ok ? secagg_graph_holders(&sa->g, owner, holders) : 0;
      ok = ok && j - i == nh;
      for (size_t k = i; ok && k < j; k++) {
        const sa_item_t *it = &msg.items[k];
        ok = it->to == holders[k - i]; /* a slot of the round: slot_rank may look it up */
        if (ok) ok = slot_rank(sa, it->to) == from ? it->len == 0 : it->len > 0;
      }
      fm_err e;
      if (!ok || secagg_server_mark_shared(&sa->srv, owner, &e)) {
        sa->n_rejected++;
        i = j;
        continue;
      }
      for (size_t k = i; k < j && !rc; k++) {
        const sa_item_t *it = &msg.items[k];
        fwd_t *f = &fw[slot_rank(sa, it->to)];
        if (f->n == f->cap) {
          size_t cap = f->cap ? 2 * f->cap : 16;
          sa_item_t *p = realloc(f->it, cap * sizeof *p);
          if (!p) {
            rc = fm_fail(&co->err, "out of memory");
            break;
          }
          f->it = p;
          f->cap = cap;
        }
        uint8_t *copy = malloc(it->len ? it->len : 1);
        if (!copy) {
          rc = fm_fail(&co->err, "out of memory");
          break;
        }
        if (it->len) memcpy(copy, it->data, it->len); /* empty data arrives as NULL */
        f->it[f->n++] = (sa_item_t){it->from, it->to, copy, it->len};
      }
      sa->shared[owner] = 1;
      sa->n_shared++;
      i = j;
    }
    msg_secagg_release(&msg);
  }
  for (int w = 1; !rc && w < co->size; w++) {
    if (!sa->involved[w]) continue;
    sa_msg_t f = {.job = co->job, .round = r, .stage = MSG_SA_FORWARD, .items = fw[w].it, .n_items = fw[w].n,
                  .state = sa->shared, .n_state = m};
    rc = sa_send(sa, w, &f);
  }
  for (int w = 0; w < co->size; w++) {
    for (size_t k = 0; k < fw[w].n; k++) free((void *)fw[w].it[k].data);
    free(fw[w].it);
  }
  free(fw);
  free(holders);
  if (rc) return -1;
  if (sa->n_shared < 2) {
    fm_fail(&co->err, "round %u: only %u of %u participants shared their mask keys in time", r, sa->n_shared, m);
    return 1;
  }
  return 0;
}

int sa_coord_add(sa_coord_t *sa, uint32_t slot, const void *words, fm_err *err) {
  if (slot >= sa->m || !sa->shared[slot]) return fm_fail(err, "slot %u did not share its keys", slot);
  return secagg_server_add_masked_le(&sa->srv, slot, words, err) ? -1 : 0; /* protobuf bytes are not aligned */
}

/* The reveals of a REVEAL or REVEAL_B message from rank `from`: items grouped
 * by the revealing holder slot; a group that does not fit is counted and left
 * out. rv: room for deg + 1 reveals. */
static void take_reveals(sa_coord_t *sa, int from, const sa_msg_t *msg, secagg_reveal_t *rv) {
  for (size_t i = 0; i < msg->n_items;) {
    uint32_t holder = msg->items[i].from;
    size_t j = i, n = 0;
    int ok = holder < sa->m && slot_rank(sa, holder) == from;
    for (; j < msg->n_items && msg->items[j].from == holder; j++) {
      fm_err e;
      if (ok && n <= sa->g.deg && secagg_reveal_unpack(&rv[n], msg->items[j].data, msg->items[j].len, &e) == 0) n++;
      else ok = 0;
      if (msg->items[j].len) sodium_memzero((void *)msg->items[j].data, msg->items[j].len); /* shares: wiped */
    }
    fm_err e;
    if (!ok || secagg_server_add_reveal(&sa->srv, holder, rv, n, &e)) sa->n_rejected++;
    sodium_memzero(rv, sizeof *rv * (sa->g.deg + 1));
    i = j;
  }
}

int sa_coord_survived(sa_coord_t *sa, uint32_t slot) {
  coord_t *co = sa->co;
  /* only the ranks that host a holder of slot's secrets can answer (with
   * SecAgg+, k + 1 holders: O(n k) messages a round, not O(n^2)) */
  uint32_t hs[SECAGG_MAX_HOLDERS];
  uint32_t nh = secagg_graph_holders(&sa->g, slot, hs);
  uint8_t *to = calloc((size_t)co->size, 1);
  if (!to) return fm_fail(&co->err, "out of memory");
  for (uint32_t i = 0; i < nh; i++) to[slot_rank(sa, hs[i])] = 1;
  sa_msg_t st = {.job = co->job, .round = sa->r, .stage = MSG_SA_SURVIVED, .state = sa->srv.state, .n_state = sa->m};
  int rc = 0;
  for (int w = 1; w < co->size && !rc; w++)
    if (to[w] && sa->involved[w]) rc = sa_send(sa, w, &st);
  free(to);
  return rc;
}

int sa_coord_take(sa_coord_t *sa, int from, const uint8_t *data, size_t len) {
  coord_t *co = sa->co;
  sa_msg_t msg;
  if (msg_secagg_unpack(&msg, data, len, &co->err)) {
    sa->n_rejected++;
    return 0;
  }
  int rc = 0;
  if (msg.job == co->job && msg.round == sa->r && msg.stage == MSG_SA_REVEAL_B && from > 0 && from < co->size &&
      sa->involved[from]) {
    if (!sa->rv && !(sa->rv = sodium_malloc(sizeof *sa->rv * (sa->g.deg + 1)))) {
      msg_secagg_release(&msg);
      return fm_fail(&co->err, "out of memory");
    }
    take_reveals(sa, from, &msg, sa->rv);
    /* each survivor's b, once t shares are in, to the self-mask thread */
    if (!sa->sm && !(sa->sm = selfmask_new(sa->m, co->d))) rc = fm_fail(&co->err, "out of memory");
    for (int more = 1; !rc && more;) {
      selfmask_t *sm = sa->sm;
      uint32_t slot, n = sm->n_seeds; /* only this thread writes n_seeds */
      more = n < sm->cap ? secagg_server_next_ready(&sa->srv, sm->seeds[n], &slot, &co->err) : 0;
      if (more < 0) rc = -1;
      if (more > 0) {
        STORE(&sm->n_seeds, n + 1); /* seeds[n] is written before it is handed out */
        selfmask_wake(sm);
      }
    }
    if (!rc) selfmask_collect(sa);
  } else {
    co->late_carry++;
  }
  msg_secagg_release(&msg);
  return rc;
}

int sa_coord_finish(sa_coord_t *sa, coord_t *co, uint8_t *survived) {
  uint32_t m = sa->m;
  uint8_t *state = malloc(m);
  if (!state) return fm_fail(&co->err, "out of memory");
  int rc = secagg_server_close_inputs(state, &sa->srv, &co->err);
  if (rc == SECAGG_ETHRESHOLD) {
    free(state);
    return 1;
  }
  if (rc) {
    free(state);
    return -1;
  }
  for (uint32_t s = 0; s < m; s++) sa->n_dropped += state[s] == SECAGG_DROPPED;
  sa_msg_t st = {.job = co->job, .round = sa->r, .stage = MSG_SA_STATE, .state = state, .n_state = m};
  if (sa_send_all(sa, &st)) {
    free(state);
    return -1;
  }
  /* the self-masks handed out in 2b: those the thread has made, then the rest
   * here on every core (without waiting for the thread), while the STATE
   * goes out and the answers come back */
  rc = 0;
  if (sa->sm) {
    selfmask_t *sm = sa->sm;
    prof_t tl = prof_now();
    selfmask_collect(sa);
    selfmask_stop(sm);
    selfmask_collect(sa); /* handed over just before the stop */
    uint8_t (*left)[SECAGG_SEEDBYTES] = sodium_malloc((size_t)sm->cap * SECAGG_SEEDBYTES + 1);
    int8_t *signs = malloc(sm->cap + 1);
    uint32_t n_left = 0;
    if (!left || !signs) rc = fm_fail(&co->err, "out of memory");
    for (uint32_t k = 0; !rc && k < sm->n_seeds; k++)
      if (!sm->done[k]) {
        memcpy(left[n_left], sm->seeds[k], SECAGG_SEEDBYTES);
        signs[n_left++] = -1;
      }
    int threads = secagg_unmask_threads();
    if (!rc && n_left &&
        secagg_server_sub_masks(&sa->srv, (const uint8_t(*)[SECAGG_SEEDBYTES])left, signs, n_left, threads, &co->err))
      rc = -1;
    if (left) sodium_free(left); /* wipes */
    free(signs);
    prof_add(PROF_SA_UNMASK, tl);
  }
  /* stage 4: every involved rank that hosts a survivor answers once */
  uint8_t *want = calloc((size_t)co->size, 1);
  uint32_t n_want = 0;
  for (uint32_t s = 0; want && s < m; s++)
    if (state[s] == SECAGG_SURVIVED && !want[slot_rank(sa, s)]) {
      want[slot_rank(sa, s)] = 1;
      n_want++;
    }
  secagg_reveal_t *rv = malloc(sizeof *rv * (sa->g.deg + 1) * (size_t)m + 1);
  if (!want || !rv) {
    free(state);
    free(want);
    free(rv);
    return fm_fail(&co->err, "out of memory");
  }
  double deadline = wire_now() + co->c->round_timeout;
  prof_t tp = prof_now();
  while (!rc && n_want > 0) {
    int from;
    sa_msg_t msg;
    int r2 = sa_recv(sa, MSG_SA_REVEAL, MSG_SA_REVEAL_B, deadline, &from, &msg);
    if (r2 < 0) rc = -1;
    if (r2) break;
    if (from <= 0 || from >= co->size || !want[from]) {
      msg_secagg_release(&msg);
      continue;
    }
    if (msg.stage == MSG_SA_REVEAL) { /* the rank's answer to STATE; REVEAL_B answered an earlier SURVIVED */
      want[from] = 0;
      n_want--;
    }
    take_reveals(sa, from, &msg, rv);
    msg_secagg_release(&msg);
    sodium_memzero(co->in.data, co->in.len); /* the opened shares */
  }
  sodium_memzero(rv, sizeof *rv * (sa->g.deg + 1) * (size_t)m);
  free(rv);
  free(want);
  prof_add(PROF_SA_REVEAL, tp);
  if (!rc) {
    tp = prof_now();
    rc = secagg_server_finish(co->acc, &sa->srv, &co->err);
    prof_add(PROF_SA_UNMASK, tp);
    if (rc == SECAGG_ETHRESHOLD || rc == SECAGG_EINCONSISTENT) rc = 1;
    else if (rc) rc = -1;
  }
  for (uint32_t s = 0; s < m; s++) survived[s] = state[s] == SECAGG_SURVIVED;
  free(state);
  return rc;
}

void sa_coord_counts(const sa_coord_t *sa, uint32_t *shared, uint32_t *dropped, uint32_t *rejected) {
  *shared = sa ? sa->n_shared : 0;
  *dropped = sa ? sa->n_dropped : 0;
  *rejected = sa ? sa->n_rejected : 0;
}

void sa_coord_free(sa_coord_t *sa) {
  if (!sa) return;
  if (sa->sm) {
    selfmask_stop(sa->sm);
    selfmask_release(sa->sm);
  }
  if (sa->rv) sodium_free(sa->rv); /* wipes */
  if (sa->srv_ok) secagg_server_free(&sa->srv);
  if (sa->g_ok) secagg_graph_free(&sa->g);
  free(sa->involved);
  free(sa->shared);
  free(sa);
}
