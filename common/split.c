/* common/split.c: per-user temporal splits of a shard (see split.h).
 *
 * A user's interactions are already in time order in the shard, so a split is
 * a matter of positions: no randomness, the same shard always splits the same
 * way. Ties in timestamp keep the shard's order. */
#include "common/split.h"

#include "common/rng.h"

#include <stdlib.h>
#include <string.h>

static int split_alloc(split_t *sp, const shard_t *s, fm_err *err) {
  memset(sp, 0, sizeof *sp);
  sp->tag = malloc(s->n_inter ? s->n_inter : 1);
  if (!sp->tag) return fm_fail(err, "split: out of memory for %u interactions", s->n_inter);
  return 0;
}

/* Users with at least n_valid + n_test + 1 interactions: the last n_test are
 * TEST, the n_valid before them VALID, the rest (at least one) TRAIN. Users
 * with fewer keep everything in TRAIN: they still teach the model but are not
 * evaluated. */
int split_temporal(split_t *sp, const shard_t *s, uint32_t n_valid, uint32_t n_test,
                   fm_err *err) {
  if (split_alloc(sp, s, err)) return -1;
  uint64_t need = (uint64_t)n_valid + n_test + 1;
  for (uint32_t u = 0; u < s->n_users; u++) {
    uint32_t b = s->user_ptr[u], e = s->user_ptr[u + 1], n = e - b;
    if (n < need) {
      memset(sp->tag + b, SPLIT_TRAIN, n);
      sp->n_train += n;
      continue;
    }
    uint32_t n_tr = n - n_valid - n_test;
    memset(sp->tag + b, SPLIT_TRAIN, n_tr);
    memset(sp->tag + b + n_tr, SPLIT_VALID, n_valid);
    memset(sp->tag + b + n_tr + n_valid, SPLIT_TEST, n_test);
    sp->n_train += n_tr;
    sp->n_valid += n_valid;
    sp->n_test += n_test;
  }
  return 0;
}

/* Held-out platform: users with at least k+1 interactions give their first k
 * as support (TRAIN) and the rest as query (TEST); other users are NONE, so
 * that every evaluated user has exactly k support interactions. */
int split_kshot(split_t *sp, const shard_t *s, uint32_t k, fm_err *err) {
  if (split_alloc(sp, s, err)) return -1;
  for (uint32_t u = 0; u < s->n_users; u++) {
    uint32_t b = s->user_ptr[u], e = s->user_ptr[u + 1], n = e - b;
    if ((uint64_t)n < (uint64_t)k + 1) {
      memset(sp->tag + b, SPLIT_NONE, n);
      continue;
    }
    memset(sp->tag + b, SPLIT_TRAIN, k);
    memset(sp->tag + b + k, SPLIT_TEST, n - k);
    sp->n_train += k;
    sp->n_test += n - k;
  }
  return 0;
}

int split_keep_users(split_t *sp, const shard_t *s, uint32_t n, uint64_t seed, fm_err *err) {
  if (n == 0) return 0;
  uint32_t *users = malloc(((size_t)s->n_users + 1) * sizeof *users), m = 0;
  if (!users) return fm_fail(err, "split: out of memory for %u users", s->n_users);
  for (uint32_t u = 0; u < s->n_users; u++) /* the users with a support interaction */
    if (s->user_ptr[u] < s->user_ptr[u + 1] && sp->tag[s->user_ptr[u]] == SPLIT_TRAIN) users[m++] = u;
  if (n >= m) {
    free(users);
    return 0;
  }
  rng_t r;
  rng_seed(&r, seed, RNG_SPLIT, s->platform);
  for (uint32_t i = 0; i < n; i++) { /* the first n of a Fisher-Yates shuffle */
    uint32_t j = i + rng_below(&r, m - i), t = users[i];
    users[i] = users[j];
    users[j] = t;
  }
  for (uint32_t i = n; i < m; i++) {
    uint32_t u = users[i], b = s->user_ptr[u], e = s->user_ptr[u + 1];
    for (uint32_t x = b; x < e; x++) {
      if (sp->tag[x] == SPLIT_TRAIN) sp->n_train--;
      else if (sp->tag[x] == SPLIT_VALID) sp->n_valid--;
      else if (sp->tag[x] == SPLIT_TEST) sp->n_test--;
      sp->tag[x] = SPLIT_NONE;
    }
  }
  free(users);
  return 0;
}

void split_free(split_t *sp) {
  if (!sp) return;
  free(sp->tag);
  memset(sp, 0, sizeof *sp);
}
