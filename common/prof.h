/* common/prof.h: per-stage wall-clock timings of a rank, for finding where a
 * round's time goes (bench/secure_overhead.sh --profile). Off unless the
 * environment has FEDMETA_PROFILE=1; then every section's total time and
 * count is printed to stderr when the rank ends. Costs one branch per call
 * when off; never changes what a run computes. */
#ifndef FEDMETA_PROF_H
#define FEDMETA_PROF_H

#include <stddef.h>

enum {
  PROF_PLAN_PACK,  /* coordinator: RoundPlan + theta into protobuf */
  PROF_SEAL,       /* any rank: sealing an outgoing message */
  PROF_POST,       /* coordinator: handing sealed bytes to the outbox */
  PROF_WAIT,       /* any rank: waiting for / receiving a message (MPI) */
  PROF_OPEN,       /* any rank: opening (authenticating, decrypting) a message */
  PROF_SEND,       /* worker: blocking send of a sealed message */
  PROF_PLAN_UNPACK,/* worker: RoundPlan + theta out of protobuf */
  PROF_TRAIN,      /* worker: inner steps, delta, clip, fixed point */
  PROF_DELTA_PACK, /* worker: Delta into protobuf */
  PROF_DELTA_UNPACK, /* coordinator: Delta out of protobuf */
  PROF_AGG,        /* coordinator: norm check and sum of one delta (or masked add) */
  PROF_SA_SETUP,   /* secagg stages 0-1: keys, signatures, Shamir shares, their messages */
  PROF_SA_MASK,    /* worker: pairwise + self masks of one input */
  PROF_SA_REVEAL,  /* secagg stages 3-4 up to the reveals (worker: sending them; coordinator: receiving) */
  PROF_SA_UNMASK,  /* coordinator: reconstruction and mask removal */
  PROF_STEP,       /* coordinator: decode and outer step */
  PROF_SA_MASK_BG, /* worker: the masks of the round's hosted parties, made by a helper thread beside the training */
  PROF_HELPERS,    /* any rank: CPU of helper threads (the coordinator's unmask threads; wall = their busy time) */
  PROF_N
};

/* A start time: wall-clock and CPU seconds of the calling thread (zeros when
 * off). The CPU time is the thread's, not the process's: a worker's helper
 * thread that makes masks while the main thread trains is counted in its own
 * section (PROF_SA_MASK_BG), not in the main thread's, and helper threads of
 * other sections in PROF_HELPERS. Single-threaded, the two are the same. */
typedef struct prof_t {
  double wall, cpu;
} prof_t;
prof_t prof_now(void);
/* Adds the wall-clock and CPU time since t0 to section k (nothing when off).
 * From the main thread, or from one helper thread at a time. */
void prof_add(int k, prof_t t0);
/* The same from any thread (serialised with a lock). */
void prof_add_locked(int k, prof_t t0);
/* Forgets what was counted so far (after a warm-up round). */
void prof_reset(void);
/* Marks the end of a round's work (main thread; the coordinator after each round, a worker
 * after each training stage). */
void prof_mark(void);
/* Prints the totals (stderr) under a label such as "rank 1"; rounds > 0 adds per-round figures.
 * From the main thread; it also prints, per round from the last prof_reset to the last
 * prof_mark, "all W/M main + O other threads": the wall time, the main thread's CPU and the
 * other threads' CPU (waiting and everything outside the sections included). The coordinator
 * resets when round 2 starts, a worker when round 2's plan arrived (so a worker's figure leaves
 * out one wait for a plan). */
void prof_report(const char *who, unsigned rounds);

/* A timeline of the round's messages, for finding latency on the critical path
 * (docs/BENCHMARKS.md, "Fifth pass: the waits of the handshakes"). Off unless the
 * environment has FEDMETA_TRACE=1; then every event is one stderr line
 *   fedmeta trace SECONDS rank R EVENT peer P tag T bytes N
 * SECONDS from CLOCK_MONOTONIC (comparable between the ranks of one host only).
 * Events: post, send, recv (common/wire.c: a message handed to MPI, or taken
 * from it, with its wire tag), training and trained (a worker: platform P's
 * inner steps begin, end), stepped (the coordinator: the outer step of a round done). */
void prof_trace(int rank, const char *event, long peer, int tag, size_t bytes);
int prof_tracing(void); /* 1 if FEDMETA_TRACE is on */

#endif
