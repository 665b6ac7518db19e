/* common/split.h: train / validation / test and support / query splits of a shard.
 *
 * Splits are per user in time order, so nothing from the future reaches
 * training: for a training platform the last n_test interactions of a user are
 * TEST, the n_valid before them VALID, the rest TRAIN (users with too few
 * interactions keep them all in TRAIN). For a held-out platform (protocol P1)
 * the first K interactions of each user with at least K+1 are the support set
 * (TRAIN) and the rest the query set (TEST); other users are NONE. */
#ifndef FEDMETA_SPLIT_H
#define FEDMETA_SPLIT_H
#include <stdint.h>

#include "common/error.h"
#include "common/shard.h"

enum { SPLIT_TRAIN = 0, SPLIT_VALID = 1, SPLIT_TEST = 2, SPLIT_NONE = 3 };

typedef struct split {
  uint8_t *tag; /* (n_inter) SPLIT_* of each interaction of the shard */
  uint32_t n_train, n_valid, n_test;
} split_t;

int split_temporal(split_t *sp, const shard_t *s, uint32_t n_valid, uint32_t n_test, fm_err *err);
int split_kshot(split_t *sp, const shard_t *s, uint32_t k, fm_err *err);
/* A sparse new industry: keeps n of a held-out split's users (those with a
 * support interaction, i.e. at least K + 1 interactions), chosen uniformly at
 * random by seed and the shard's platform; the others' interactions become
 * NONE. The choice is nested: the first n of one random order, so a smaller n
 * keeps a subset of a larger n's users (for one K: the order is over that K's
 * users, so two K draw different users). n = 0, or n at least the users, keeps
 * them all. At most n users are evaluated: a kept user whose query items are
 * all in the support has nothing to rank. */
int split_keep_users(split_t *sp, const shard_t *s, uint32_t n, uint64_t seed, fm_err *err);
void split_free(split_t *sp);

#endif
