/* tests/fuzz/fuzz_shard.c: libFuzzer harness for shard_open (common/shard.h)
 * and what a worker does next with a shard: the temporal and K-shot splits
 * (common/split.h) and the training/evaluation view (common/dataset.h).
 *
 * Input: a shard file WITHOUT its trailing 32-byte checksum. The harness
 * opens two files: the input as it is (exercising the magic, size and
 * checksum diagnostics; it almost never passes the checksum) and the input
 * followed by its correct BLAKE2b-256 checksum, so that mutations reach the
 * header, count and consistency checks behind the checksum.
 *
 * A shard that is accepted must pass shard_validate, survive a write/re-open
 * round trip unchanged, and be usable by split and dataset without crashing. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/dataset.h"
#include "common/shard.h"
#include "common/split.h"
#include "tests/fuzz/fuzz_util.h"

static void same_shard(const shard_t *a, const shard_t *b) {
  FUZZ_CHECK(!strcmp(a->name, b->name) && a->platform == b->platform && a->n_users == b->n_users &&
             a->n_items == b->n_items && a->n_inter == b->n_inter, "header changed");
  FUZZ_CHECK(!memcmp(a->user_ptr, b->user_ptr, 4 * ((size_t)a->n_users + 1)) &&
             !memcmp(a->inter_item, b->inter_item, 4 * (size_t)a->n_inter) &&
             !memcmp(a->inter_ts, b->inter_ts, 8 * (size_t)a->n_inter), "interactions changed");
  FUZZ_CHECK(!memcmp(a->ufeat_ptr, b->ufeat_ptr, 4 * ((size_t)a->n_users + 1)) &&
             !memcmp(a->ufeat, b->ufeat, 4 * (size_t)a->ufeat_ptr[a->n_users]) &&
             !memcmp(a->ifeat_ptr, b->ifeat_ptr, 4 * ((size_t)a->n_items + 1)) &&
             !memcmp(a->ifeat, b->ifeat, 4 * (size_t)a->ifeat_ptr[a->n_items]), "features changed");
  FUZZ_CHECK((a->user_gid == NULL) == (b->user_gid == NULL), "user_gid presence changed");
  FUZZ_CHECK(!a->user_gid || !memcmp(a->user_gid, b->user_gid, 4 * (size_t)a->n_users), "gids changed");
}

/* Everything a worker builds from a shard: splits and datasets. */
static void use_shard(const shard_t *s) {
  fm_err err;
  split_t sp;
  memset(&sp, 0, sizeof sp);
  if (split_temporal(&sp, s, 1, 1, &err) == 0) {
    FUZZ_CHECK((uint64_t)sp.n_train + sp.n_valid + sp.n_test == s->n_inter, "split counts");
    for (int tag = SPLIT_VALID; tag <= SPLIT_TEST; tag++) {
      dataset_t d;
      memset(&d, 0, sizeof d);
      if (dataset_build(&d, s, &sp, tag, &err) == 0) {
        FUZZ_CHECK(d.n_users == s->n_users && d.n_items == s->n_items, "dataset shape");
        for (uint32_t i = 0; i < d.n_pairs; i++)
          FUZZ_CHECK(d.pair_user[i] < d.n_users && d.pair_item[i] < d.n_items, "pair %u out of range", i);
        for (uint32_t e = 0; e < d.n_eval; e++) FUZZ_CHECK(d.eval_user[e] < d.n_users, "eval user");
      }
      dataset_free(&d);
    }
  }
  split_free(&sp);
  memset(&sp, 0, sizeof sp);
  if (split_kshot(&sp, s, 2, &err) == 0) {
    dataset_t d;
    memset(&d, 0, sizeof d);
    if (dataset_build(&d, s, &sp, SPLIT_TEST, &err) == 0)
      for (uint32_t i = 0; i < d.n_pairs; i++)
        FUZZ_CHECK(d.pair_user[i] < d.n_users && d.pair_item[i] < d.n_items, "pair %u out of range", i);
    dataset_free(&d);
  }
  split_free(&sp);
}

static void open_one(const char *path) {
  shard_t s;
  fm_err err;
  if (shard_open(&s, path, &err) != 0) {
    FUZZ_CHECK(s.user_ptr == NULL && s.inter_item == NULL && s.ifeat == NULL,
               "a refused shard must hold nothing");
    FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL, "error message not terminated");
    return;
  }
  FUZZ_CHECK(shard_validate(&s, &err) == 0, "accepted an inconsistent shard: %s", err.msg);
  char again[512];
  fuzz_path(again, sizeof again, "rewritten.shard");
  FUZZ_CHECK(shard_write(&s, again, &err) == 0, "rewrite: %s", err.msg);
  shard_t t;
  FUZZ_CHECK(shard_open(&t, again, &err) == 0, "re-open: %s", err.msg);
  same_shard(&s, &t);
  shard_free(&t);
  use_shard(&s);
  shard_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int sodium_ok = 0;
  if (!sodium_ok) {
    if (sodium_init() < 0) abort();
    sodium_ok = 1;
  }
  char path[512];
  fuzz_path(path, sizeof path, "raw.shard");
  fuzz_write(path, data, size);
  open_one(path);

  uint8_t *buf = malloc(size + crypto_generichash_BYTES);
  if (!buf) return 0;
  if (size) memcpy(buf, data, size);
  crypto_generichash(buf + size, crypto_generichash_BYTES, data, size, NULL, 0);
  fuzz_path(path, sizeof path, "summed.shard");
  fuzz_write(path, buf, size + crypto_generichash_BYTES);
  free(buf);
  open_one(path);
  return 0;
}
