/* common/wire.c: MPI point-to-point transport with polite waiting (see wire.h). */
#include "common/wire.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The communicator every message goes through: MPI_COMM_WORLD, or the one
 * pilot mode builds from separately launched jobs (wire_use_comm). */
static MPI_Comm wire_comm_;
static int wire_comm_set_;
static MPI_Comm comm(void) { return wire_comm_set_ ? wire_comm_ : MPI_COMM_WORLD; }

void wire_use_comm(MPI_Comm c) {
  wire_comm_ = c;
  wire_comm_set_ = 1;
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
  int rc = MPI_Send(buf, (int)len, MPI_BYTE, dest, tag, comm());
  if (rc != MPI_SUCCESS) return fm_fail(err, "MPI_Send to rank %d failed (code %d)", dest, rc);
  return 0;
}

/* The outbox: messages posted with wire_post whose sends have not completed.
 * Each holds its own copy of the bytes, so the sender can go on (and reuse
 * its buffer) while a slow receiver has not yet taken the message. */
typedef struct outmsg {
  uint8_t *data;
  int n;
  MPI_Request *req;
  struct outmsg *next;
} outmsg_t;
static outmsg_t *outbox;

int wire_post(const void *buf, size_t len, const int *dests, int n, int tag, fm_err *err) {
  if (len > (size_t)2147483647) return fm_fail(err, "message of %zu bytes exceeds MPI's int count", len);
  outmsg_t *m = calloc(1, sizeof *m);
  if (m) m->data = malloc(len ? len : 1);
  if (m) m->req = malloc(sizeof(MPI_Request) * (size_t)(n > 0 ? n : 1));
  if (!m || !m->data || !m->req) {
    if (m) free(m->data), free(m->req);
    free(m);
    return fm_fail(err, "out of memory for a %zu-byte message", len);
  }
  memcpy(m->data, buf, len);
  m->n = n;
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

size_t wire_progress(void) {
  size_t pending = 0;
  for (outmsg_t **pp = &outbox; *pp;) {
    outmsg_t *m = *pp;
    int done = 0;
    MPI_Testall(m->n, m->req, &done, MPI_STATUSES_IGNORE);
    if (done) {
      *pp = m->next;
      free(m->data);
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

int wire_pending(int src, int tag) {
  int flag = 0;
  MPI_Status st;
  MPI_Iprobe(src == WIRE_ANY_SOURCE ? MPI_ANY_SOURCE : src, tag, comm(), &flag, &st);
  return flag != 0;
}

int wire_recv(wire_buf *b, int *from, int src, int tag, double timeout_s, fm_err *err) {
  double deadline = wire_now() + timeout_s;
  long sleep_ns = 50000;
  int source = src == WIRE_ANY_SOURCE ? MPI_ANY_SOURCE : src;
  for (;;) {
    int flag = 0;
    MPI_Message msg;
    MPI_Status st;
    if (outbox) wire_progress();
    MPI_Improbe(source, tag == WIRE_ANY_TAG ? MPI_ANY_TAG : tag, comm(), &flag, &msg, &st);
    if (flag) {
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
      if (from) *from = st.MPI_SOURCE;
      return 0;
    }
    if (wire_now() >= deadline) return 1;
    struct timespec ts = {0, sleep_ns};
    nanosleep(&ts, NULL);
    if (sleep_ns < 2000000) sleep_ns = sleep_ns * 3 / 2;
  }
}
