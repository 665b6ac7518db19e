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

  /* A sparse new industry: keep 1 of the 2 K = 2 users (0 and 2); the
   * ineligible ones stay NONE, the counts follow. */
  CHECK_OK(split_kshot(&sp, &s, 2, &err));
  CHECK_OK(split_keep_users(&sp, &s, 1, 7, &err));
  int kept0 = sp.tag[0] == SPLIT_TRAIN, kept2 = sp.tag[7] == SPLIT_TRAIN;
  CHECK(kept0 + kept2 == 1);
  expect_tags(&sp, kept0 ? "TTEEE" "NN" "NNN" "" "N" : "NNNNN" "NN" "TTE" "" "N");
  CHECK_EQ_INT(sp.n_train, 2);
  CHECK_EQ_INT(sp.n_test, kept0 ? 3 : 1);
  split_free(&sp);
  /* 0, or at least the eligible users: nothing changes. */
  for (uint32_t n = 0; n <= 3; n++) {
    if (n == 1) continue;
    CHECK_OK(split_kshot(&sp, &s, 2, &err));
    CHECK_OK(split_keep_users(&sp, &s, n, 7, &err));
    expect_tags(&sp, "TTEEE" "NN" "TTE" "" "N");
    CHECK_EQ_INT(sp.n_train, 4);
    CHECK_EQ_INT(sp.n_test, 4);
    split_free(&sp);
  }

  /* 40 users of 4 interactions, K = 2: 10 kept is 10 users whole, the rest
   * NONE; the same seed the same users; 10 kept are among 25 kept (nested);
   * another seed another choice. */
  {
    shard_t b;
    CHECK_OK(shard_alloc(&b, 40, 4, 160, 0, 0, NULL));
    for (uint32_t u = 0; u <= 40; u++) b.user_ptr[u] = 4 * u;
    for (uint32_t j = 0; j < 160; j++) b.inter_item[j] = j % 4, b.inter_ts[j] = j;
    CHECK_OK(shard_validate(&b, NULL));
    split_t a10, b10, a25, c10;
    CHECK_OK(split_kshot(&a10, &b, 2, &err));
    CHECK_OK(split_keep_users(&a10, &b, 10, 3, &err));
    CHECK_OK(split_kshot(&b10, &b, 2, &err));
    CHECK_OK(split_keep_users(&b10, &b, 10, 3, &err));
    CHECK_OK(split_kshot(&a25, &b, 2, &err));
    CHECK_OK(split_keep_users(&a25, &b, 25, 3, &err));
    CHECK_OK(split_kshot(&c10, &b, 2, &err));
    CHECK_OK(split_keep_users(&c10, &b, 10, 4, &err));
    CHECK_EQ_INT(a10.n_train, 20);
    CHECK_EQ_INT(a10.n_test, 20);
    CHECK_EQ_INT(a25.n_train, 50);
    CHECK(memcmp(a10.tag, b10.tag, 160) == 0);
    uint32_t kept = 0, in25 = 0, same_c = 0;
    for (uint32_t u = 0; u < 40; u++) {
      const uint8_t *t = a10.tag + 4 * u;
      int k = t[0] == SPLIT_TRAIN;
      if (k) CHECK(t[1] == SPLIT_TRAIN && t[2] == SPLIT_TEST && t[3] == SPLIT_TEST);
      else CHECK(t[0] == SPLIT_NONE && t[1] == SPLIT_NONE && t[2] == SPLIT_NONE && t[3] == SPLIT_NONE);
      kept += (uint32_t)k;
      in25 += (uint32_t)(k && a25.tag[4 * u] == SPLIT_TRAIN);
      same_c += (uint32_t)(k && c10.tag[4 * u] == SPLIT_TRAIN);
    }
    CHECK_EQ_INT(kept, 10);
    CHECK_EQ_INT(in25, 10);
    CHECK(same_c < 10);
    split_free(&a10);
    split_free(&b10);
    split_free(&a25);
    split_free(&c10);
    shard_free(&b);
  }

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
