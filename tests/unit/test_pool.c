/* tests/unit/test_pool.c: merging shards (common/pool) and the pooled source
 * of --algo central (common/source). */
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/pool.h"
#include "common/source.h"
#include "tests/check.h"

/* Part 0: users gid 7 (items 0, 1 at t 10, 30) and gid 2 (item 1 at t 5).
 * Part 1: users gid 7 (item 0 at t 20, item 1 at t 30) and gid 9 (item 0 at t 1).
 * Each user has one feature token (100 + gid + 1000 * part); item i of part p
 * has token 50 + 10 * p + i. */
static int load_toy(void *ctx, uint32_t i, shard_t *s, fm_err *err) {
  (void)ctx;
  static const uint32_t gid[2][2] = {{2, 7}, {7, 9}};
  static const uint32_t ptr[2][3] = {{0, 1, 3}, {0, 2, 3}};
  static const uint32_t item[2][3] = {{1, 0, 1}, {0, 1, 0}};
  static const int64_t ts[2][3] = {{5, 10, 30}, {20, 30, 1}};
  if (shard_alloc(s, 2, 2, 3, 2, 2, err)) return -1;
  snprintf(s->name, sizeof s->name, "part%u", i);
  for (uint32_t u = 0; u < 2; u++) {
    s->user_gid[u] = gid[i][u];
    s->ufeat[u] = 100 + gid[i][u] + 1000 * i;
    s->ufeat_ptr[u + 1] = u + 1;
  }
  for (uint32_t k = 0; k < 3; k++) {
    s->user_ptr[k] = ptr[i][k];
    s->inter_item[k] = item[i][k];
    s->inter_ts[k] = ts[i][k];
  }
  for (uint32_t it = 0; it < 2; it++) {
    s->ifeat[it] = 50 + 10 * i + it;
    s->ifeat_ptr[it + 1] = it + 1;
  }
  return shard_validate(s, err);
}

static void test_merge(void) {
  fm_err err = {{0}};
  shard_t m;
  CHECK_OK(pool_merge(&m, "pooled", 0, 2, load_toy, NULL, &err));
  CHECK(strcmp(m.name, "pooled") == 0);
  CHECK_EQ_INT(m.n_users, 3); /* gids 2, 7, 9 */
  CHECK_EQ_INT(m.n_items, 4); /* 2 + 2, disjoint */
  CHECK_EQ_INT(m.n_inter, 6);
  CHECK(m.user_gid != NULL);
  CHECK_EQ_INT(m.user_gid[0], 2);
  CHECK_EQ_INT(m.user_gid[1], 7);
  CHECK_EQ_INT(m.user_gid[2], 9);
  /* gid 7: part0 item0 t10, part1 item0(=2) t20, then t30 tie: part 0's item 1 first, then part 1's item 1 (=3) */
  CHECK_EQ_INT(m.user_ptr[1], 1);
  CHECK_EQ_INT(m.user_ptr[2], 5);
  CHECK_EQ_INT(m.user_ptr[3], 6);
  static const uint32_t want_item[6] = {1, 0, 2, 1, 3, 2};
  static const int64_t want_ts[6] = {5, 10, 20, 30, 30, 1};
  for (int j = 0; j < 6; j++) {
    CHECK_EQ_INT(m.inter_item[j], want_item[j]);
    CHECK_EQ_INT(m.inter_ts[j], want_ts[j]);
  }
  /* user features from the first part that has the user; item features kept */
  CHECK_EQ_INT(m.ufeat[m.ufeat_ptr[1]], 107);
  CHECK_EQ_INT(m.ufeat[m.ufeat_ptr[2]], 1109);
  for (uint32_t it = 0; it < 4; it++) CHECK_EQ_INT(m.ifeat[m.ifeat_ptr[it]], 50 + 10 * (it / 2) + it % 2);
  shard_free(&m);
  CHECK(pool_merge(&m, "pooled", 0, 0, load_toy, NULL, &err) != 0);
}

static void test_source(void) {
  fm_config c;
  config_defaults(&c);
  c.industries = 5;
  c.users = 400;
  c.scale = 0.2;
  fm_err err = {{0}};
  source_t plain, pool;
  CHECK_OK(source_open(&plain, &c, &err));
  snprintf(c.algo, sizeof c.algo, "central");
  snprintf(c.heldout, sizeof c.heldout, "%s,%s", plain.names[1], plain.names[3]);
  CHECK_OK(source_open(&pool, &c, &err));
  CHECK_EQ_INT(pool.n_platforms, 3);
  CHECK(strcmp(pool.names[0], SOURCE_POOLED_NAME) == 0);
  CHECK(strcmp(pool.names[1], plain.names[1]) == 0);
  CHECK(strcmp(pool.names[2], plain.names[3]) == 0);
  uint8_t mask[3];
  CHECK_OK(source_heldout(&pool, c.heldout, mask, &err));
  CHECK(!mask[0] && mask[1] && mask[2]);
  CHECK_OK(source_heldout(&pool, "", mask, &err));
  CHECK(!mask[0] && mask[1] && mask[2]);
  CHECK(source_heldout(&pool, plain.names[0], mask, &err) != 0); /* a pooled platform */

  /* the pool holds exactly the training platforms' interactions and items */
  uint64_t n_inter = 0, n_items = 0;
  uint8_t *seen = calloc(c.users, 1);
  CHECK(seen);
  uint32_t n_users = 0;
  for (uint32_t p = 0; p < plain.n_platforms; p++) {
    if (p == 1 || p == 3) continue;
    shard_t s;
    CHECK_OK(source_load(&plain, p, &s, &err));
    n_inter += s.n_inter;
    n_items += s.n_items;
    for (uint32_t u = 0; u < s.n_users; u++)
      if (!seen[s.user_gid[u]]++) n_users++;
    shard_free(&s);
  }
  shard_t m, h, h0;
  CHECK_OK(source_load(&pool, 0, &m, &err));
  CHECK_EQ_INT(m.n_inter, n_inter);
  CHECK_EQ_INT(m.n_items, n_items);
  CHECK_EQ_INT(m.n_users, n_users);
  shard_free(&m);
  /* held-out platforms are unchanged */
  CHECK_OK(source_load(&pool, 2, &h, &err));
  CHECK_OK(source_load(&plain, 3, &h0, &err));
  CHECK_EQ_INT(h.n_inter, h0.n_inter);
  CHECK(memcmp(h.inter_item, h0.inter_item, sizeof(uint32_t) * h.n_inter) == 0);
  CHECK_EQ_INT(h.platform, 2);
  shard_free(&h);
  shard_free(&h0);
  free(seen);
  source_close(&pool);

  /* every platform held out: nothing to pool */
  char all[256] = "";
  for (uint32_t p = 0; p < plain.n_platforms; p++) {
    strcat(all, p ? "," : "");
    strcat(all, plain.names[p]);
  }
  snprintf(c.heldout, sizeof c.heldout, "%s", all);
  CHECK(source_open(&pool, &c, &err) != 0);
  CHECK(strstr(err.msg, "nothing to pool") != NULL);
  snprintf(c.heldout, sizeof c.heldout, "no-such-industry");
  CHECK(source_open(&pool, &c, &err) != 0);
  source_close(&plain);
}

int main(void) {
  test_merge();
  test_source();
  printf("test_pool: ok\n");
  return 0;
}
