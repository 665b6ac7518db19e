/* common/wire.c: MPI point-to-point transport with polite waiting (see wire.h). */
#include "common/wire.h"
#include "common/prof.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The communicator every message goes through: MPI_COMM_WORLD, or the one
 * pilot mode builds from separately launched jobs (wire_use_comm). */
static MPI_Comm wire_comm_;
static int wire_comm_set_;
static MPI_Comm comm(void) { return wire_comm_set_ ? wire_comm_ : MPI_COMM_WORLD; }

/* One FEDMETA_TRACE event of this rank (prof.h). */
static void trace(const char *event, int peer, int tag, size_t len) {
  if (!prof_tracing()) return;
  int rank = -1;
  MPI_Comm_rank(comm(), &rank);
  prof_trace(rank, event, peer, tag, len);
}

void wire_use_comm(MPI_Comm c) {
  wire_comm_ = c;
  wire_comm_set_ = 1;
}

int wire_host_ranks(int *workers, unsigned char *worker_or, size_t len) {
  MPI_Comm node;
  int rank = 0, n = -1, w = -1;
  MPI_Comm_rank(comm(), &rank);
  if (MPI_Comm_split_type(comm(), MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
    int mine = rank != 0;
    MPI_Comm_size(node, &n);
    if (MPI_Allreduce(&mine, &w, 1, MPI_INT, MPI_SUM, node) != MPI_SUCCESS) w = -1;
    if (worker_or && len > 0 && len <= 1024) { /* the same len on every rank */
      unsigned char in[1024] = {0}, out[1024];
      if (rank != 0) memcpy(in, worker_or, len);
      if (MPI_Allreduce(in, out, (int)len, MPI_BYTE, MPI_BOR, node) == MPI_SUCCESS) memcpy(worker_or, out, len);
    }
    MPI_Comm_free(&node);
  }
  if (workers) *workers = w;
  return n;
}

long wire_sum(long v) {
  long all = v;
  MPI_Allreduce(&v, &all, 1, MPI_LONG, MPI_SUM, comm());
  return all;
}

double wire_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void wire_sleep(double seconds) {
  double until = wire_now() + seconds;
  for (double left = seconds; left > 0; left = until - wire_now()) {
    struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
    nanosleep(&ts, NULL);
  }
}

void wire_abort(int code) {
  MPI_Abort(comm(), code);
  exit(code); /* not reached */
}

void wire_buf_free(wire_buf *b) {
  if (!b) return;
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

int wire_send(const void *buf, size_t len, int dest, int tag, fm_err *err) {
  if (len > (size_t)2147483647) return fm_fail(err, "message of %zu bytes exceeds MPI's int count", len);
  trace("send", dest, tag, len);
  int rc = MPI_Send(buf, (int)len, MPI_BYTE, dest, tag, comm());
  if (rc != MPI_SUCCESS) return fm_fail(err, "MPI_Send to rank %d failed (code %d)", dest, rc);
  return 0;
}

/* The outbox: messages posted with wire_post whose sends have not completed.
 * Each holds its own copy of the bytes, so the sender can go on (and reuse
 * its buffer) while a slow receiver has not yet taken the message. */
typedef struct outmsg {
  uint8_t *data;
  size_t cap, len;
  int n;
  MPI_Request *req;
  struct outmsg *next;
} outmsg_t;
static outmsg_t *outbox;

/* Buffers of finished posts, kept for the next ones: a round's multi-megabyte
 * messages then reuse memory that is already mapped instead of faulting in
 * fresh pages every time (costly on a virtual machine). Only large buffers
 * are kept; their number never exceeds the most that were in flight at once. */
#define POOL_MIN_BYTES ((size_t)1 << 16)
typedef struct pooled {
  uint8_t *data;
  size_t cap;
} pooled_t;
static pooled_t *pool;
static size_t pool_n, pool_cap;
static outmsg_t *begun; /* wire_post_begin's message, not yet committed */
static size_t max_inflight; /* 0: no limit */

void wire_set_max_inflight(size_t n) { max_inflight = n; }

static void pool_put(uint8_t *data, size_t cap) {
  if (cap < POOL_MIN_BYTES) {
    free(data);
    return;
  }
  if (pool_n == pool_cap) {
    size_t nc = pool_cap ? 2 * pool_cap : 8;
    pooled_t *p = realloc(pool, nc * sizeof *p);
    if (!p) {
      free(data);
      return;
    }
    pool = p;
    pool_cap = nc;
  }
  pool[pool_n++] = (pooled_t){data, cap};
}

/* The smallest kept buffer of at least len bytes, else a new one. */
static uint8_t *pool_get(size_t len, size_t *cap) {
  size_t best = pool_n;
  for (size_t i = 0; i < pool_n; i++)
    if (pool[i].cap >= len && (best == pool_n || pool[i].cap < pool[best].cap)) best = i;
  if (best < pool_n) {
    uint8_t *d = pool[best].data;
    *cap = pool[best].cap;
    pool[best] = pool[--pool_n];
    return d;
  }
  *cap = len ? len : 1;
  return malloc(*cap);
}

/* Waits until fewer than max_inflight posted messages are in flight. */
static void wait_inflight(void) {
  if (max_inflight && outbox) {
    long sleep_ns = 20000;
    while (wire_progress() >= max_inflight) {
      struct timespec ts = {0, sleep_ns};
      nanosleep(&ts, NULL);
      if (sleep_ns < 2000000) sleep_ns = sleep_ns * 3 / 2;
    }
  }
}

uint8_t *wire_buf_take(size_t len, size_t *cap) { return pool_get(len, cap); }

void wire_buf_give_back(uint8_t *data, size_t cap) {
  if (data) pool_put(data, cap);
}

uint8_t *wire_post_begin(size_t len, fm_err *err) {
  if (len > (size_t)2147483647) {
    fm_fail(err, "message of %zu bytes exceeds MPI's int count", len);
    return NULL;
  }
  if (begun) { /* a begun message that was never committed */
    pool_put(begun->data, begun->cap);
    free(begun);
    begun = NULL;
  }
  wait_inflight();
  outmsg_t *m = calloc(1, sizeof *m);
  if (m) m->data = pool_get(len, &m->cap);
  if (!m || !m->data) {
    free(m);
    fm_fail(err, "out of memory for a %zu-byte message", len);
    return NULL;
  }
  m->len = len;
  begun = m;
  return m->data;
}

uint8_t *wire_post_current(void) { return begun ? begun->data : NULL; }

int wire_post_commit(const int *dests, int n, int tag, fm_err *err) {
  outmsg_t *m = begun;
  if (!m) return fm_fail(err, "wire_post_commit without wire_post_begin");
  begun = NULL;
  size_t len = m->len;
  m->req = malloc(sizeof(MPI_Request) * (size_t)(n > 0 ? n : 1));
  if (!m->req) {
    pool_put(m->data, m->cap);
    free(m);
    return fm_fail(err, "out of memory");
  }
  m->n = n;
  for (int i = 0; i < n; i++) trace("post", dests[i], tag, len);
  for (int i = 0; i < n; i++) {
    m->req[i] = MPI_REQUEST_NULL;
    int rc = MPI_Isend(m->data, (int)len, MPI_BYTE, dests[i], tag, comm(), &m->req[i]);
    if (rc != MPI_SUCCESS) {
      m->n = i;
      m->next = outbox;
      outbox = m;
      return fm_fail(err, "MPI_Isend to rank %d failed (code %d)", dests[i], rc);
    }
  }
  m->next = outbox;
  outbox = m;
  wire_progress();
  return 0;
}

int wire_post_given(uint8_t *data, size_t cap, size_t len, const int *dests, int n, int tag, fm_err *err) {
  if (len > cap || len > (size_t)2147483647) {
    pool_put(data, cap);
    return fm_fail(err, "message of %zu bytes in a buffer of %zu or beyond MPI's int count", len, cap);
  }
  wait_inflight();
  outmsg_t *m = calloc(1, sizeof *m);
  if (!m) {
    pool_put(data, cap);
    return fm_fail(err, "out of memory");
  }
  m->data = data;
  m->cap = cap;
  m->len = len;
  outmsg_t *kept = begun; /* a begun message stays begun */
  begun = m;
  int rc = wire_post_commit(dests, n, tag, err);
  begun = kept;
  return rc;
}

int wire_post(const void *buf, size_t len, const int *dests, int n, int tag, fm_err *err) {
  uint8_t *b = wire_post_begin(len, err);
  if (!b) return -1;
  if (len) memcpy(b, buf, len);
  return wire_post_commit(dests, n, tag, err);
}

size_t wire_progress(void) {
  size_t pending = 0;
  for (outmsg_t **pp = &outbox; *pp;) {
    outmsg_t *m = *pp;
    int done = 0;
    MPI_Testall(m->n, m->req, &done, MPI_STATUSES_IGNORE);
    if (done) {
      *pp = m->next;
      pool_put(m->data, m->cap);
      free(m->req);
      free(m);
    } else {
      pending++;
      pp = &m->next;
    }
  }
  return pending;
}

size_t wire_flush(double timeout_s) {
  double deadline = wire_now() + timeout_s;
  long sleep_ns = 20000;
  size_t pending;
  while ((pending = wire_progress()) > 0 && wire_now() < deadline) {
    struct timespec ts = {0, sleep_ns};
    nanosleep(&ts, NULL);
    if (sleep_ns < 2000000) sleep_ns *= 2;
  }
  return pending;
}

int wire_await(int src, int tag, double timeout_s) {
  MPI_Status st;
  return wire_wait(comm(), src == WIRE_ANY_SOURCE ? MPI_ANY_SOURCE : src, tag == WIRE_ANY_TAG ? MPI_ANY_TAG : tag,
                   timeout_s, NULL, &st);
}

int wire_pending(int src, int tag) {
  int flag = 0;
  MPI_Status st;
  MPI_Iprobe(src == WIRE_ANY_SOURCE ? MPI_ANY_SOURCE : src, tag, comm(), &flag, &st);
  return flag != 0;
}

/* The next sleep of a waiting rank: 1.5 x the last one, at least 50 us, at
 * most 2 ms or, once the wait has lasted longer than 0.1 s, 2 % of the time
 * waited so far (at most 20 ms); never past the deadline. So a message is
 * noticed at most 2 ms or 2 % of the wait late, and a rank that waits a whole
 * round (e.g. one hosting no platform) polls ~50 times a second instead of
 * 500: each wake-up (nanosleep, MPI_Improbe) costs 25-90 us of CPU here. */
static long backoff_ns(long last_ns, double waited_s, double left_s) {
  double cap = 0.02 * waited_s;
  if (cap < 2e-3) cap = 2e-3;
  if (cap > 20e-3) cap = 20e-3;
  double next = last_ns * 1.5e-9;
  if (next < 50e-6) next = 50e-6;
  if (next > cap) next = cap;
  if (next > left_s) next = left_s;
  return (long)(next * 1e9);
}

static double quick_s; /* wire_set_quick */
#define QUICK_SLEEP_NS 200000L

void wire_set_quick(double seconds) { quick_s = seconds > 0 ? seconds : 0; }

int wire_wait(MPI_Comm c, int src, int tag, double timeout_s, MPI_Message *msg, MPI_Status *st) {
  const double start = wire_now(), deadline = start + timeout_s;
  long sleep_ns = 0;
  for (;;) {
    int flag = 0;
    if (outbox) wire_progress();
    if (msg)
      MPI_Improbe(src, tag, c, &flag, msg, st);
    else
      MPI_Iprobe(src, tag, c, &flag, st);
    if (flag) return 0;
    double now = wire_now();
    if (now >= deadline) return 1;
    sleep_ns = backoff_ns(sleep_ns, now - start, deadline - now);
    if (now - start < quick_s && sleep_ns > QUICK_SLEEP_NS) sleep_ns = QUICK_SLEEP_NS;
    struct timespec ts = {0, sleep_ns};
    nanosleep(&ts, NULL);
  }
}

int wire_recv(wire_buf *b, int *from, int src, int tag, double timeout_s, fm_err *err) {
  MPI_Message msg;
  MPI_Status st;
  if (wire_wait(comm(), src == WIRE_ANY_SOURCE ? MPI_ANY_SOURCE : src, tag == WIRE_ANY_TAG ? MPI_ANY_TAG : tag,
                timeout_s, &msg, &st))
    return 1;
  int count = 0;
  MPI_Get_count(&st, MPI_BYTE, &count);
  if ((size_t)count > b->cap) {
    size_t cap = (size_t)count + (size_t)count / 4 + 64;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return fm_fail(err, "out of memory for a %d-byte message", count);
    b->data = p;
    b->cap = cap;
  }
  MPI_Mrecv(b->data, count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
  b->len = (size_t)count;
  b->tag = st.MPI_TAG;
  trace("recv", st.MPI_SOURCE, st.MPI_TAG, (size_t)count);
  if (from) *from = st.MPI_SOURCE;
  return 0;
}
