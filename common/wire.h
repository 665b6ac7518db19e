/* common/wire.h: all MPI transport in one module.
 *
 * Messages are protobuf-c byte strings sent point-to-point with a tag per
 * message type. Receives never block in MPI: the receiver probes
 * (MPI_Improbe) and, when nothing is there, sleeps with a growing back-off
 * (50 us .. 2 ms; in a wait longer than 0.1 s up to 2 % of the time waited,
 * at most 20 ms), so ranks waiting for a message do not steal the cores that
 * busy ranks need when the job is oversubscribed (bench/oversub.sh: a rank
 * waiting a whole round uses ~0.5 % of a core). A matched message is taken
 * with MPI_Mrecv into a buffer that grows and is reused. */
#ifndef FEDMETA_WIRE_H
#define FEDMETA_WIRE_H
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* BYE: a worker's empty last message, after STOP (the coordinator drains until every BYE). */
enum { WIRE_TAG_PLAN = 11, WIRE_TAG_HELLO = 12, WIRE_TAG_DELTA = 13, WIRE_TAG_EVAL = 14, WIRE_TAG_BYE = 15 };
#define WIRE_ANY_SOURCE (-1)
#define WIRE_ANY_TAG (-1)

typedef struct wire_buf {
  uint8_t *data;
  size_t len, cap;
  int tag; /* tag of the message last received into it */
} wire_buf;

void wire_buf_free(wire_buf *b);

/* Sends len bytes to rank dest (blocking until the buffer can be reused). */
int wire_send(const void *buf, size_t len, int dest, int tag, fm_err *err);
/* Posts the same bytes to several ranks without waiting: the bytes are
 * copied into the outbox and sent in the background (progressed by
 * wire_recv, wire_progress and wire_flush), so a slow receiver never holds the
 * sender up. Used by the coordinator, which must keep receiving. */
int wire_post(const void *buf, size_t len, const int *dests, int n, int tag, fm_err *err);
/* wire_post without the copy: a buffer of len bytes for the caller to fill
 * (e.g. to seal a message straight into), then posted by wire_post_commit.
 * Buffers of finished posts are reused. One begun message at a time. NULL on
 * error (err set). */
uint8_t *wire_post_begin(size_t len, fm_err *err);
int wire_post_commit(const int *dests, int n, int tag, fm_err *err);
/* wire_post without the copy, for buffers filled elsewhere (e.g. sealed on
 * another thread): wire_buf_take lends a buffer of at least len bytes (*cap:
 * its size) from the pool the outbox reuses, wire_post_given posts len bytes
 * of it and the outbox owns it from then on (also on error), or
 * wire_buf_give_back returns it unposted. Like every wire call, only on the
 * thread that calls MPI; the buffer itself may be filled on any. NULL if out
 * of memory. */
uint8_t *wire_buf_take(size_t len, size_t *cap);
void wire_buf_give_back(uint8_t *data, size_t cap);
int wire_post_given(uint8_t *data, size_t cap, size_t len, const int *dests, int n, int tag, fm_err *err);
/* The buffer of the begun message (NULL if none). */
uint8_t *wire_post_current(void);
/* At most n posted messages in flight (0, the default: no limit): a post
 * beyond waits for an earlier one to leave. Bounds a worker's memory (its
 * sealed deltas) when the coordinator is slow to take them; the coordinator
 * keeps no limit, it never waits on a send. */
void wire_set_max_inflight(size_t n);
/* Completes what it can; returns the number of posted messages still in flight. */
size_t wire_progress(void);
/* Waits up to timeout_s for the outbox to empty; returns what is still in flight. */
size_t wire_flush(double timeout_s);

/* Waits up to timeout_s seconds for a message with `tag` (WIRE_ANY_TAG for
 * any; the tag is left in b->tag) from `src` (WIRE_ANY_SOURCE for any). Returns 0 with the bytes in b and the sender in
 * *from, 1 on timeout, -1 on error. */
int wire_recv(wire_buf *b, int *from, int src, int tag, double timeout_s, fm_err *err);

/* wire_recv's wait on any communicator c (e.g. pilot mode's
 * intercommunicators): polls, with the back-off above and progressing the
 * outbox, up to timeout_s seconds for a message with `tag` from `src` (MPI
 * ranks and tags; MPI_ANY_* allowed). Returns 0 when there is one, described
 * by *st: with msg it is matched (MPI_Improbe; take it with MPI_Mrecv), with
 * msg NULL only probed (MPI_Iprobe; it stays queued). 1 at the deadline. */
int wire_wait(MPI_Comm c, int src, int tag, double timeout_s, MPI_Message *msg, MPI_Status *st);

/* For the next waits (until called again with 0): poll at least every 200 us
 * during a wait's first `seconds`, then back off as usual. For replies that
 * come within milliseconds (secure aggregation's stages): with the usual
 * back-off each such hop cost 2.5-4 ms here; polling fast for a whole round
 * instead would take the CPU the other ranks' work needs (docs/BENCHMARKS.md,
 * "Fifth pass: the waits of the handshakes"). Main thread only, as every wire call. */
void wire_set_quick(double seconds);

/* 1 if a message with `tag` from `src` is waiting (does not receive it), else 0. */
int wire_pending(int src, int tag);
/* Waits like wire_recv, up to timeout_s, until a message with `tag` from `src`
 * is waiting, without receiving it: 0 when there is one, 1 at the deadline. */
int wire_await(int src, int tag, double timeout_s);

/* Every message from now on goes through comm instead of MPI_COMM_WORLD
 * (pilot mode: the communicator joining separately launched jobs). */
void wire_use_comm(MPI_Comm comm);

/* Collective over the job's communicator (every rank calls it at the same
 * point, e.g. at start-up): how many of the job's ranks share this rank's
 * host (MPI_COMM_TYPE_SHARED), and in *workers how many of those are not
 * rank 0 (the coordinator). -1 if MPI could not tell. If worker_or is not
 * NULL it holds len bytes of this rank's on entry and, on return, the bitwise
 * OR of those of the host's worker ranks (rank 0's own are left out; e.g. a
 * CPU set: the CPUs the host's workers may run on); len <= 1024, the same
 * on every rank; unchanged on failure. */
int wire_host_ranks(int *workers, unsigned char *worker_or, size_t len);

/* Collective over the job's communicator: the sum of v over every rank. */
long wire_sum(long v);

/* Ends the whole MPI job with this exit code (after printing the cause). */
void wire_abort(int code) __attribute__((noreturn));

/* Sleeps (nanosleep, restarted on signals). */
void wire_sleep(double seconds);

/* Monotonic seconds. */
double wire_now(void);

#endif
