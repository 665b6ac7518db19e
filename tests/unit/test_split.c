/* tests/unit/test_split.c: temporal and K-shot splits on a hand-made shard,
 * including users with too few interactions and users with none. */
#include <stdio.h>
#include <string.h>

#include "common/shard.h"
#include "common/split.h"
#include "tests/check.h"

/* Users with 5, 2, 3, 0 and 1 interactions. */
static void make_shard(shard_t *s) {
  uint32_t up[] = {0, 5, 7, 10, 10, 11};
  CHECK_OK(shard_alloc(s, 5, 6, 11, 0, 0, NULL));
  snprintf(s->name, sizeof s->name, "split");
  memcpy(s->user_ptr, up, sizeof up);
  for (uint32_t j = 0; j < 11; j++) {
    s->inter_item[j] = j % 6;
    s->inter_ts[j] = 1000 + j;
  }
  CHECK_OK(shard_validate(s, NULL));
}

static void expect_tags(const split_t *sp, const char *want) {
  /* want: one letter per interaction, T V E (test) or N (none). */
  static const char code[] = "TVEN";
  for (size_t j = 0; want[j]; j++) {
    if (code[sp->tag[j]] != want[j]) {
      fprintf(stderr, "interaction %zu: tag %c, expected %c (want %s)\n", j, code[sp->tag[j]],
              want[j], want);
      CHECK(0);
    }
  }
}

int main(void) {
  shard_t s;
  make_shard(&s);
  split_t sp;
  fm_err err;

  /* One VALID and one TEST: needs 3 interactions; users 1 (2) and 4 (1) keep all in TRAIN. */
  CHECK_OK(split_temporal(&sp, &s, 1, 1, &err));
  expect_tags(&sp, "TTTVE" "TT" "TVE" "" "T");
  CHECK_EQ_INT(sp.n_train, 7);
  CHECK_EQ_INT(sp.n_valid, 2);
  CHECK_EQ_INT(sp.n_test, 2);
  split_free(&sp);

  /* Two TEST, no VALID: needs 3. */
  CHECK_OK(split_temporal(&sp, &s, 0, 2, &err));
  expect_tags(&sp, "TTTEE" "TT" "TEE" "" "T");
  CHECK_EQ_INT(sp.n_train, 7);
  CHECK_EQ_INT(sp.n_valid, 0);
  CHECK_EQ_INT(sp.n_test, 4);
  split_free(&sp);

  /* 2 VALID + 2 TEST needs 5: only user 0 qualifies. */
  CHECK_OK(split_temporal(&sp, &s, 2, 2, &err));
  expect_tags(&sp, "TVVEE" "TT" "TTT" "" "T");
  CHECK_EQ_INT(sp.n_train, 7);
  CHECK_EQ_INT(sp.n_valid, 2);
  CHECK_EQ_INT(sp.n_test, 2);
  split_free(&sp);

  /* Nothing held out. */
  CHECK_OK(split_temporal(&sp, &s, 0, 0, &err));
  expect_tags(&sp, "TTTTTTTTTTT");
  CHECK_EQ_INT(sp.n_train, 11);
  split_free(&sp);

  /* K-shot, K = 2: users with at least 3 (0 and 2); the others are NONE. */
  CHECK_OK(split_kshot(&sp, &s, 2, &err));
  expect_tags(&sp, "TTEEE" "NN" "TTE" "" "N");
  CHECK_EQ_INT(sp.n_train, 4);
  CHECK_EQ_INT(sp.n_valid, 0);
  CHECK_EQ_INT(sp.n_test, 4);
  split_free(&sp);

  /* K = 0: every user with an interaction is all query. */
  CHECK_OK(split_kshot(&sp, &s, 0, &err));
  expect_tags(&sp, "EEEEEEEEEEE");
  CHECK_EQ_INT(sp.n_train, 0);
  CHECK_EQ_INT(sp.n_test, 11);
  split_free(&sp);

  /* K larger than anyone's history: everything NONE. */
  CHECK_OK(split_kshot(&sp, &s, 5, &err));
  expect_tags(&sp, "NNNNNNNNNNN");
  CHECK_EQ_INT(sp.n_train + sp.n_valid + sp.n_test, 0);
  split_free(&sp);
  split_free(&sp); /* twice is fine */
  split_free(NULL);

  /* Huge counts do not overflow. */
  CHECK_OK(split_temporal(&sp, &s, 0xffffffffu, 0xffffffffu, &err));
  CHECK_EQ_INT(sp.n_train, 11);
  split_free(&sp);
  CHECK_OK(split_kshot(&sp, &s, 0xffffffffu, &err));
  CHECK_EQ_INT(sp.n_train, 0);
  split_free(&sp);

  /* An empty shard. */
  shard_t e;
  CHECK_OK(shard_alloc(&e, 0, 0, 0, 0, 0, NULL));
  CHECK_OK(split_temporal(&sp, &e, 1, 1, &err));
  CHECK_EQ_INT(sp.n_train + sp.n_valid + sp.n_test, 0);
  split_free(&sp);
  shard_free(&e);

  shard_free(&s);
  printf("test_split: ok\n");
  return 0;
}
