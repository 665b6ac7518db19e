/* common/wire.h: all MPI transport in one module.
 *
 * Messages are protobuf-c byte strings sent point-to-point with a tag per
 * message type. Receives never block in MPI: the receiver probes
 * (MPI_Improbe) and, when nothing is there, sleeps with a growing back-off
 * (50 us .. 2 ms), so ranks waiting for a message do not steal the cores that
 * busy ranks need when the job is oversubscribed. A matched message is taken
 * with MPI_Mrecv into a buffer that grows and is reused. */
#ifndef FEDMETA_WIRE_H
#define FEDMETA_WIRE_H
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

enum { WIRE_TAG_PLAN = 11, WIRE_TAG_HELLO = 12, WIRE_TAG_DELTA = 13, WIRE_TAG_EVAL = 14 };
#define WIRE_ANY_SOURCE (-1)

typedef struct wire_buf {
  uint8_t *data;
  size_t len, cap;
} wire_buf;

void wire_buf_free(wire_buf *b);

/* Sends len bytes to rank dest (blocking until the buffer can be reused). */
int wire_send(const void *buf, size_t len, int dest, int tag, fm_err *err);
/* Sends the same bytes to several ranks (non-blocking sends, then wait). */
int wire_send_many(const void *buf, size_t len, const int *dests, int n, int tag, fm_err *err);

/* Waits up to timeout_s seconds for a message with `tag` from `src`
 * (WIRE_ANY_SOURCE for any). Returns 0 with the bytes in b and the sender in
 * *from, 1 on timeout, -1 on error. */
int wire_recv(wire_buf *b, int *from, int src, int tag, double timeout_s, fm_err *err);

/* Ends the whole MPI job with this exit code (after printing the cause). */
void wire_abort(int code) __attribute__((noreturn));

/* Monotonic seconds. */
double wire_now(void);

#endif
