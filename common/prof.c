/* common/prof.c: per-stage wall-clock timings (see prof.h). */
#include "common/prof.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int prof_on = -1; /* -1: not yet read from the environment */
static double prof_total[PROF_N], prof_cpu[PROF_N];
static unsigned long prof_count[PROF_N];

static const char *const PROF_NAME[PROF_N] = {
    "plan_pack", "seal", "post", "wait_recv", "open", "send", "plan_unpack", "train",
    "delta_pack", "delta_unpack", "aggregate", "sa_setup", "sa_mask", "sa_reveal", "sa_unmask", "step", "sa_mask_bg", "helpers"};

static int enabled(void) {
  if (prof_on < 0) {
    const char *e = getenv("FEDMETA_PROFILE");
    prof_on = e && e[0] && strcmp(e, "0") != 0;
  }
  return prof_on;
}

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int trace_on = -1;

int prof_tracing(void) {
  if (trace_on < 0) {
    const char *e = getenv("FEDMETA_TRACE");
    trace_on = e && e[0] && strcmp(e, "0") != 0;
  }
  return trace_on;
}

void prof_trace(int rank, const char *event, long peer, int tag, size_t bytes) {
  if (!prof_tracing()) return;
  fprintf(stderr, "fedmeta trace %.6f rank %d %s peer %ld tag %d bytes %zu\n", clock_s(CLOCK_MONOTONIC), rank, event,
          peer, tag, bytes);
}

prof_t prof_now(void) {
  prof_t t = {0, 0};
  if (!enabled()) return t;
  t.wall = clock_s(CLOCK_MONOTONIC);
  t.cpu = clock_s(CLOCK_THREAD_CPUTIME_ID);
  return t;
}

void prof_add(int k, prof_t t0) {
  if (t0.wall == 0 || k < 0 || k >= PROF_N) return;
  prof_total[k] += clock_s(CLOCK_MONOTONIC) - t0.wall;
  prof_cpu[k] += clock_s(CLOCK_THREAD_CPUTIME_ID) - t0.cpu;
  prof_count[k]++;
}

static pthread_mutex_t prof_lock = PTHREAD_MUTEX_INITIALIZER;

void prof_add_locked(int k, prof_t t0) {
  if (t0.wall == 0) return;
  pthread_mutex_lock(&prof_lock);
  prof_add(k, t0);
  pthread_mutex_unlock(&prof_lock);
}

/* when prof_reset and prof_mark were last called: wall, the calling (main)
 * thread's CPU and the process's CPU */
static double reset_wall, reset_thread, reset_proc, mark_wall, mark_thread, mark_proc;

void prof_mark(void) {
  if (!enabled()) return;
  mark_wall = clock_s(CLOCK_MONOTONIC);
  mark_thread = clock_s(CLOCK_THREAD_CPUTIME_ID);
  mark_proc = clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

void prof_reset(void) {
  if (enabled()) {
    reset_wall = clock_s(CLOCK_MONOTONIC);
    reset_thread = clock_s(CLOCK_THREAD_CPUTIME_ID);
    reset_proc = clock_s(CLOCK_PROCESS_CPUTIME_ID);
  }
  pthread_mutex_lock(&prof_lock); /* a helper thread may be adding (prof_add_locked) */
  memset(prof_total, 0, sizeof prof_total);
  memset(prof_count, 0, sizeof prof_count);
  memset(prof_cpu, 0, sizeof prof_cpu);
  pthread_mutex_unlock(&prof_lock);
}

void prof_report(const char *who, unsigned rounds) {
  if (!enabled()) return;
  char line[2048];
  size_t off = (size_t)snprintf(line, sizeof line, "fedmeta profile %s (ms per round over %u rounds: wall/cpu (calls)):", who, rounds);
  pthread_mutex_lock(&prof_lock);
  for (int k = 0; k < PROF_N; k++) {
    if (!prof_count[k] || off >= sizeof line) continue;
    off += (size_t)snprintf(line + off, sizeof line - off, " %s %.1f/%.1f (%lu)", PROF_NAME[k],
                            1e3 * prof_total[k] / (rounds ? rounds : 1), 1e3 * prof_cpu[k] / (rounds ? rounds : 1),
                            prof_count[k]);
  }
  pthread_mutex_unlock(&prof_lock);
  if (reset_wall > 0 && mark_wall > reset_wall && off < sizeof line) { /* from the reset to the last mark, waiting included */
    double r = rounds ? rounds : 1, main_cpu = mark_thread - reset_thread, other = mark_proc - reset_proc - main_cpu;
    snprintf(line + off, sizeof line - off, " | all %.1f/%.1f main + %.1f other threads", 1e3 * (mark_wall - reset_wall) / r,
             1e3 * main_cpu / r, 1e3 * (other > 0 ? other : 0) / r);
  }
  fprintf(stderr, "%s\n", line);
}
