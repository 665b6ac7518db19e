/* coordinator/coord.h: the coordinator's state, shared by the round loop
 * (round.c) and the secure-aggregation stages (secagg_round.c). Internal to
 * coordinator/. */
#ifndef FEDMETA_COORD_H
#define FEDMETA_COORD_H
#include <stdint.h>
#include <stdio.h>

#include "common/channel.h"
#include "common/config.h"
#include "common/dp.h"
#include "common/model.h"
#include "common/msg.h"
#include "common/wire.h"
#include "coordinator/aggregate.h"

typedef struct pinfo {
  char name[64];
  int heldout;
  int heard;
  uint64_t n_train;
  uint32_t n_users, n_items, n_eval;
  int rank;            /* the worker rank hosting it */
} pinfo_t;

typedef struct eval_sum {
  double valid_ndcg, valid_recall, valid_pop_ndcg; /* user-weighted over training platforms */
  uint32_t valid_users;
  eval_msg_t *heldout; /* (np) per platform; valid for held-out ones that reported */
  uint8_t *reported;   /* (np) 1 if the platform's report arrived in time */
  uint32_t missing;
} eval_sum_t;

typedef struct coord {
  const fm_config *c;
  uint64_t job;
  int size, n_workers;
  int *workers;       /* ranks 1..size-1 */
  const int *hosts;   /* NULL or the rank hosting each platform (pilot mode) */
  uint32_t np;
  pinfo_t *p;
  model_cfg_t mc;
  size_t d;
  float *theta, *mean;
  uint32_t *acc;
  uint32_t *rows;     /* (np, d) the round's deltas, robust aggregation only */
  int32_t *tmp;       /* (np) one coordinate's values, robust aggregation only */
  outer_t outer;
  uint32_t late_carry; /* stale messages met outside a round's collection */
  uint32_t round_now;  /* the round being run (sealed into the plans) */
  uint32_t ck_due;     /* a round whose checkpoint is written while the next one trains (0: none) */
  chan_t ch;           /* sealed channels to the worker ranks */
  double scale;        /* fixed-point scale of the run */
  /* differential privacy (--dp-noise > 0) */
  int dp;
  double dp_q, dp_w;   /* sampling rate; the fixed weight 1 / (q N) of every delta */
  double dp_sigma;     /* per-platform noise std, fixed-point units */
  uint32_t dp_nmin;    /* the noise is calibrated for at least this many deltas */
  dp_acct_t acct;
  double dp_eps, dp_order;
  wire_buf in, out;
  FILE *jsonl;
  double t_start;
  fm_err err;
} coord_t;

/* Why a Delta was not aggregated (counted per round in metrics.jsonl). */
enum { REJ_AUTH, REJ_REPLAY, REJ_MALFORMED, REJ_FOREIGN, REJ_LATE, REJ_UNEXPECTED, REJ_NONFINITE, REJ_BOUND,
       REJ_N };

typedef struct round_stats {
  double loss, delta_norm, max_compute, sum_compute;
  double rank_compute; /* the largest sum of compute over the platforms of one worker rank */
  uint32_t got, rejected, clipped, dropped, skipped, abandoned;
  int secagg;
  uint32_t sa_shared, sa_dropped, sa_rejected;
  uint32_t rej[REJ_N];
  char dropped_names[256]; /* JSON array body: "a","b" */
} round_stats_t;

extern const char *const REJ_NAME[REJ_N];

/* --- record.c: outputs, checkpoints, resume ------------------------------ */
/* One metrics.jsonl line (and a progress line) for round r; es when evaluated. */
void coord_record(coord_t *co, uint32_t r, const round_stats_t *st, double round_s, const eval_sum_t *es);
/* The settings as config-file text (malloc'd); results_only: those that change the model. */
char *coord_config_text(const fm_config *c, int results_only);
/* OUT/checkpoint.fmck after round r (complete: the run finished). */
int coord_save_checkpoint(coord_t *co, uint32_t r, int complete);
/* --resume: theta and the outer optimiser from the checkpoint (or the previous
 * one if the newest is damaged); *next is the first round to run. */
int coord_resume(coord_t *co, uint32_t *next, int *complete);
/* OUT/metrics.jsonl for appending, keeping the lines of rounds before next. */
int coord_jsonl_open(coord_t *co, uint32_t next);
/* A meta-model file at path: theta (d floats) with the run's settings, and
 * note (NULL: none) as a '#' line after them. */
int coord_write_model(coord_t *co, uint32_t rounds, const float *theta, const char *path, const char *note);
/* meta-model.pb, heldout.csv and the summary table after the last round. */
int coord_write_outputs(coord_t *co, uint32_t rounds, const eval_sum_t *es);

/* Secure aggregation of one round (coordinator side), see secagg_round.c. */
typedef struct sa_coord sa_coord_t;
/* Stages 0-1: mask keys advertised and signed, key shares forwarded. Returns
 * 0, 1 if the round must be abandoned (too few parties; message in co->err),
 * -1 on a fatal error. *out is set in every case (free with sa_coord_free). */
int sa_coord_start(sa_coord_t **out, coord_t *co, uint32_t r, const uint32_t *part, uint32_t m);
/* Stage 2: slot's masked input (d words, any alignment). 0, or -1 if refused. */
int sa_coord_add(sa_coord_t *sa, uint32_t slot, const void *words, fm_err *err);
/* Stage 2b: slot's masked input is in: tells the ranks that host its holders
 * the state so far (they answer with the b-shares of the slots it marks
 * SURVIVED that they have not revealed yet). 0, or -1 fatal. */
int sa_coord_survived(sa_coord_t *sa, uint32_t slot);
/* Stage 2b: a secure-aggregation message (tag WIRE_TAG_SECAGG) from rank
 * `from` that came while the Deltas are collected: REVEAL_B shares are kept,
 * and every survivor with t of them has its self-mask removed from the sum on
 * this thread; anything else is counted as late. 0, or -1 fatal. */
int sa_coord_take(sa_coord_t *sa, int from, const uint8_t *data, size_t len);
/* Stages 3-4: the survivors' state, the reveals, the exact sum into co->acc.
 * survived[slot] is set for the slots in the sum. Returns 0, 1 if the round
 * cannot be unmasked (too few survivors: abandoned), -1 fatal. */
int sa_coord_finish(sa_coord_t *sa, coord_t *co, uint8_t *survived);
void sa_coord_free(sa_coord_t *sa);
/* Counts of the last secure round, for metrics.jsonl. */
void sa_coord_counts(const sa_coord_t *sa, uint32_t *shared, uint32_t *dropped, uint32_t *rejected);

#endif
