/* common/msg.h: the wire boundary. Plain C structs <-> protobuf-c messages of
 * proto/fedmeta.proto. protobuf-c structs live only inside msg.c; an unpack
 * that fails (NULL from protobuf-c, or a field out of range) is a rejection
 * with a message, never a crash. */
#ifndef FEDMETA_MSG_H
#define FEDMETA_MSG_H
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/metrics.h"
#include "common/model.h"
#include "common/wire.h"

/* What the coordinator asks of a round (RoundPlan.AlgoSettings). */
typedef struct round_settings {
  char algo[16];
  uint32_t inner_steps;
  train_cfg_t train; /* inner optimiser, rates, batch, negatives */
  float clip;
  uint32_t ft_steps;
  double dp_sigma;        /* per-platform noise std in fixed-point units (0 = none) */
  uint64_t dp_test_seed;  /* nonzero: seeded, reproducible noise (no privacy) */
} round_settings_t;

enum { MSG_STAGE_TRAIN = 1, MSG_STAGE_EVAL = 2, MSG_STAGE_STOP = 3, MSG_STAGE_SEARCH = 4 };

typedef struct plan {
  uint64_t job;
  uint32_t round;
  int stage;
  round_settings_t rs;
  uint32_t n_part;
  uint32_t *part_platform; /* (n_part) */
  double *part_weight;     /* (n_part) */
  double scale;            /* fixed-point scale */
  int final;               /* last evaluation: also run the local-only baseline */
  /* MSG_STAGE_SEARCH (common/search.h): the candidate tails one after another
   * (n_cand_floats = candidates x the tail's length, which the receiver knows) */
  float *cand;
  size_t n_cand_floats;
  uint32_t search_k[8];
  uint32_t n_search_k;
  uint32_t search_users;
  uint32_t search_norm;    /* U: sums and counts are sent divided by it (worker.c compute_scores) */
} plan_t;

/* Packs plan + theta (d floats, may be NULL for STOP) into out (grown as needed). */
int msg_plan_pack(wire_buf *out, const plan_t *p, const float *theta, size_t d, fm_err *err);
/* Unpacks into p (arrays malloc'd; free with msg_plan_free) and theta_out (d floats). */
int msg_plan_unpack(plan_t *p, float *theta_out, size_t d, const uint8_t *buf, size_t len, fm_err *err);
void msg_plan_free(plan_t *p);

typedef struct hello {
  uint64_t job;
  uint32_t platform;
  char name[64];
  int heldout;
  uint64_t n_train;
  uint32_t n_users, n_items, n_eval_users;
  char error[FM_ERRLEN]; /* non-empty: the platform could not start */
} hello_t;

int msg_hello_pack(wire_buf *out, const hello_t *h, fm_err *err);
int msg_hello_unpack(hello_t *h, const uint8_t *buf, size_t len, fm_err *err);

typedef struct delta_msg {
  uint64_t job;
  uint32_t round, platform;
  uint64_t n_examples;
  float loss, norm;
  int clipped;
  double seconds;
  const uint32_t *fixed; /* d words, valid until msg_delta_release; NULL if empty */
  size_t n_fixed;
  /* n_runs = 0: fixed is the dense vector. Else n_runs / 2 pairs (offset,
   * length) of the words in fixed (sparse delta; fixed_runs_check). */
  const uint32_t *runs;
  size_t n_runs;
  void *impl;
} delta_msg_t;

int msg_delta_pack(wire_buf *out, const delta_msg_t *m, fm_err *err);
/* The same bytes written to out, which holds msg_delta_packed_size(m) (e.g.
 * room in a message buffer from chan_begin: no copy of the words). */
size_t msg_delta_packed_size(const delta_msg_t *m);
void msg_delta_pack_into(uint8_t *out, const delta_msg_t *m);
int msg_delta_unpack(delta_msg_t *m, const uint8_t *buf, size_t len, fm_err *err);
void msg_delta_release(delta_msg_t *m);

typedef struct eval_msg {
  uint64_t job;
  uint32_t round, platform;
  int heldout;
  metrics_t model, popularity, local_only;
  int has_local_only;
} eval_msg_t;

int msg_eval_pack(wire_buf *out, const eval_msg_t *m, fm_err *err);
int msg_eval_unpack(eval_msg_t *m, const uint8_t *buf, size_t len, fm_err *err);

/* Secure-aggregation stage messages (one struct for every stage, see the
 * SecaggMsg comments in proto/fedmeta.proto). Unpacked items point into the
 * decoded message: valid until msg_secagg_release. */
enum { MSG_SA_ADVERTISE = 1, MSG_SA_KEYS = 2, MSG_SA_SHARE = 3, MSG_SA_FORWARD = 4, MSG_SA_STATE = 5,
       MSG_SA_REVEAL = 6, MSG_SA_SURVIVED = 7, MSG_SA_REVEAL_B = 8 };

typedef struct sa_item {
  uint32_t from, to;
  const uint8_t *data;
  size_t len;
} sa_item_t;

typedef struct sa_msg {
  uint64_t job;
  uint32_t round, stage;
  sa_item_t *items;
  size_t n_items;
  const uint8_t *state;
  size_t n_state;
  void *impl;
} sa_msg_t;

int msg_secagg_pack(wire_buf *out, const sa_msg_t *m, fm_err *err);
int msg_secagg_unpack(sa_msg_t *m, const uint8_t *buf, size_t len, fm_err *err);
void msg_secagg_release(sa_msg_t *m);

#endif
