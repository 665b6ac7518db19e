/* common/wire.c: MPI point-to-point transport with polite waiting (see wire.h). */
#include "common/wire.h"

#include <mpi.h>
#include <stdlib.h>
#include <time.h>

double wire_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void wire_abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
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
  int rc = MPI_Send(buf, (int)len, MPI_BYTE, dest, tag, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return fm_fail(err, "MPI_Send to rank %d failed (code %d)", dest, rc);
  return 0;
}

int wire_send_many(const void *buf, size_t len, const int *dests, int n, int tag, fm_err *err) {
  if (len > (size_t)2147483647) return fm_fail(err, "message of %zu bytes exceeds MPI's int count", len);
  MPI_Request *req = malloc(sizeof(MPI_Request) * (size_t)(n > 0 ? n : 1));
  if (!req) return fm_fail(err, "out of memory");
  for (int i = 0; i < n; i++) {
    req[i] = MPI_REQUEST_NULL;
    MPI_Isend(buf, (int)len, MPI_BYTE, dests[i], tag, MPI_COMM_WORLD, &req[i]);
  }
  /* Poll with back-off rather than MPI_Waitall's busy wait. */
  long sleep_ns = 20000;
  for (;;) {
    int done = 0;
    MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
    if (done) break;
    struct timespec ts = {0, sleep_ns};
    nanosleep(&ts, NULL);
    if (sleep_ns < 1000000) sleep_ns *= 2;
  }
  free(req);
  return 0;
}

int wire_recv(wire_buf *b, int *from, int src, int tag, double timeout_s, fm_err *err) {
  double deadline = wire_now() + timeout_s;
  long sleep_ns = 50000;
  int source = src == WIRE_ANY_SOURCE ? MPI_ANY_SOURCE : src;
  for (;;) {
    int flag = 0;
    MPI_Message msg;
    MPI_Status st;
    MPI_Improbe(source, tag, MPI_COMM_WORLD, &flag, &msg, &st);
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
      if (from) *from = st.MPI_SOURCE;
      return 0;
    }
    if (wire_now() >= deadline) return 1;
    struct timespec ts = {0, sleep_ns};
    nanosleep(&ts, NULL);
    if (sleep_ns < 2000000) sleep_ns = sleep_ns * 3 / 2;
  }
}
