/* tests/unit/test_dataset.c: dataset_build on a hand-made shard: tokens,
 * behaviour bands from TRAIN only, history, training pairs, exclusions and
 * truth for VALID and TEST evaluation, and K-shot with K = 0. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/baselines.h"
#include "common/dataset.h"
#include "common/model.h"
#include "common/rng.h"
#include "tests/check.h"

static void expect_u32(const uint32_t *got, uint32_t n_got, const uint32_t *want, uint32_t n_want,
                       const char *what) {
  int same = n_got == n_want;
  for (uint32_t i = 0; same && i < n_got; i++) same = got[i] == want[i];
  if (!same) {
    fprintf(stderr, "%s: got [", what);
    for (uint32_t i = 0; i < n_got; i++) fprintf(stderr, " %u", got[i]);
    fprintf(stderr, " ], want [");
    for (uint32_t i = 0; i < n_want; i++) fprintf(stderr, " %u", want[i]);
    fprintf(stderr, " ]\n");
    CHECK(0);
  }
}
#define ROW(d, arr, r) ((d)->arr + (d)->arr##_ptr[r]), ((d)->arr##_ptr[(r) + 1] - (d)->arr##_ptr[r])
#define LIST(...) ((const uint32_t[]){__VA_ARGS__}), \
                  (uint32_t)(sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))
#define EMPTY NULL, 0

/* user 0: 0 1 0 2 3 2   user 1: 4 5 4 4   user 2: 5 1   user 3: none */
static void make_shard(shard_t *s) {
  CHECK_OK(shard_alloc(s, 4, 6, 12, 4, 5, NULL));
  snprintf(s->name, sizeof s->name, "ds");
  uint32_t up[] = {0, 6, 10, 12, 12}, it[] = {0, 1, 0, 2, 3, 2, 4, 5, 4, 4, 5, 1};
  memcpy(s->user_ptr, up, sizeof up);
  memcpy(s->inter_item, it, sizeof it);
  for (uint32_t j = 0; j < 12; j++) s->inter_ts[j] = 10 * j;
  uint32_t ufp[] = {0, 1, 3, 3, 4}, uf[] = {100, 101, 102, 103};
  memcpy(s->ufeat_ptr, ufp, sizeof ufp);
  memcpy(s->ufeat, uf, sizeof uf);
  uint32_t ifp[] = {0, 1, 2, 3, 3, 4, 5}, ifs[] = {200, 201, 202, 204, 205};
  memcpy(s->ifeat_ptr, ifp, sizeof ifp);
  memcpy(s->ifeat, ifs, sizeof ifs);
  CHECK_OK(shard_validate(s, NULL));
}

static void test_bands(void) {
  CHECK_EQ_INT(dataset_band(0), 0);
  CHECK_EQ_INT(dataset_band(1), 1);
  CHECK_EQ_INT(dataset_band(2), 1);
  CHECK_EQ_INT(dataset_band(3), 2);
  CHECK_EQ_INT(dataset_band(6), 2);
  CHECK_EQ_INT(dataset_band(7), 3);
  CHECK_EQ_INT(dataset_band(1000), 9);
  CHECK_EQ_INT(dataset_band(0xffffffffu), DATASET_BAND_MAX);
  CHECK_EQ_INT(dataset_pop_token(2), fm_hash_feature("ipop", "1"));
  CHECK_EQ_INT(dataset_act_token(3), fm_hash_feature("uact", "2"));
  CHECK(dataset_pop_token(5) != dataset_act_token(5));
}

static void test_temporal(void) {
  shard_t s;
  make_shard(&s);
  split_t sp;
  CHECK_OK(split_temporal(&sp, &s, 1, 2, NULL));
  /* user 0: T T T V E E; user 1: T V E E; user 2: T T. */
  dataset_t d;
  fm_err err;
  CHECK_OK(dataset_build(&d, &s, &sp, SPLIT_TEST, &err));
  CHECK_EQ_INT(d.n_users, 4);
  CHECK_EQ_INT(d.n_items, 6);

  /* Tokens: shard features, then the band of the TRAIN count. */
  uint32_t a3 = fm_hash_feature("uact", "2"), a1 = fm_hash_feature("uact", "1"),
           a0 = fm_hash_feature("uact", "0");
  expect_u32(ROW(&d, utok, 0), LIST(100, a3), "utok 0");
  expect_u32(ROW(&d, utok, 1), LIST(101, 102, a1), "utok 1");
  expect_u32(ROW(&d, utok, 2), LIST(a1), "utok 2");
  expect_u32(ROW(&d, utok, 3), LIST(103, a0), "utok 3");
  /* TRAIN counts per item: 2 2 0 0 1 1 (VALID/TEST items do not count). */
  /* Rank bands: count 2 -> no item has more -> band 0; count 1 -> 2 of 6
   * items have more (33 %) -> band 5 (20 %..35 %); count 0 -> "none". */
  uint32_t p1 = fm_hash_feature("iprk", "5"), p2 = fm_hash_feature("iprk", "0"),
           p0 = fm_hash_feature("iprk", "none");
  expect_u32(ROW(&d, itok, 0), LIST(200, p2), "itok 0");
  expect_u32(ROW(&d, itok, 2), LIST(202, p0), "itok 2");
  expect_u32(ROW(&d, itok, 3), LIST(p0), "itok 3");
  expect_u32(ROW(&d, itok, 5), LIST(205, p1), "itok 5");
  CHECK_EQ_INT(dataset_rank_token(5, 0, 100), fm_hash_feature("iprk", "0"));
  CHECK_EQ_INT(dataset_rank_token(5, 1, 100), fm_hash_feature("iprk", "1"));
  CHECK_EQ_INT(dataset_rank_token(5, 99, 100), fm_hash_feature("iprk", "8"));
  CHECK_EQ_INT(dataset_rank_token(5, 74, 100), fm_hash_feature("iprk", "7"));
  float pop[] = {2, 2, 0, 0, 1, 1};
  for (int i = 0; i < 6; i++) CHECK_NEAR(d.item_pop[i], pop[i], 0);
  /* --pop-loo turns every item's rank token off (model_dataset_inputs), the
   * shard's own features stay; without it nothing changes */
  {
    model_cfg_t mc;
    memset(&mc, 0, sizeof mc); /* no term needs inputs */
    mc.pop_prior = 1;
    CHECK_OK(model_dataset_inputs(&mc, &d, &s, 0, 0, &err));
    CHECK_EQ_INT(d.pop_loo, 0);
    expect_u32(ROW(&d, itok, 0), LIST(200, p2), "itok 0, pop-loo off");
    dataset_t e;
    CHECK_OK(dataset_build(&e, &s, &sp, SPLIT_TEST, &err));
    CHECK_OK(model_dataset_inputs(&mc, &e, &s, 0, 1, &err));
    CHECK_EQ_INT(e.pop_loo, 1);
    uint32_t off = fm_hash_feature("iprk", "off");
    CHECK(off != p0 && off != p1 && off != p2);
    expect_u32(ROW(&e, itok, 0), LIST(200, off), "itok 0, pop-loo on");
    expect_u32(ROW(&e, itok, 2), LIST(202, off), "itok 2, pop-loo on");
    expect_u32(ROW(&e, itok, 3), LIST(off), "itok 3, pop-loo on");
    expect_u32(ROW(&e, itok, 5), LIST(205, off), "itok 5, pop-loo on");
    expect_u32(ROW(&e, utok, 1), LIST(101, 102, a1), "utok 1, pop-loo on"); /* users' tokens unchanged */
    dataset_free(&e);
    /* without the popularity prior the rank token is the only popularity input: kept */
    mc.pop_prior = 0;
    CHECK_OK(dataset_build(&e, &s, &sp, SPLIT_TEST, &err));
    CHECK_OK(model_dataset_inputs(&mc, &e, &s, 0, 1, &err));
    expect_u32(ROW(&e, itok, 0), LIST(200, p2), "itok 0, pop-loo on, no prior");
    expect_u32(ROW(&e, itok, 3), LIST(p0), "itok 3, pop-loo on, no prior");
    dataset_free(&e);
  }

  /* Training pairs: every TRAIN interaction in shard order. */
  CHECK_EQ_INT(d.n_pairs, 6);
  expect_u32(d.pair_user, d.n_pairs, LIST(0, 0, 0, 1, 2, 2), "pair_user");
  expect_u32(d.pair_item, d.n_pairs, LIST(0, 1, 0, 4, 5, 1), "pair_item");

  /* For TEST the history is TRAIN + VALID, in time order, repeats kept. */
  expect_u32(ROW(&d, hist, 0), LIST(0, 1, 0, 2), "hist 0");
  expect_u32(ROW(&d, hist, 1), LIST(4, 5), "hist 1");
  expect_u32(ROW(&d, hist, 2), LIST(5, 1), "hist 2");
  expect_u32(ROW(&d, hist, 3), EMPTY, "hist 3");

  /* User 0: test items {3, 2}, 2 already seen -> truth {3}, excl {0, 1, 2}.
   * User 1: test items {4, 4}, all seen -> not evaluated. */
  CHECK_EQ_INT(d.n_eval, 1);
  CHECK_EQ_INT(d.eval_user[0], 0);
  expect_u32(ROW(&d, truth, 0), LIST(3), "truth 0");
  expect_u32(ROW(&d, excl, 0), LIST(0, 1, 2), "excl 0");
  dataset_free(&d);

  /* For VALID: history and exclusions are TRAIN only. */
  CHECK_OK(dataset_build(&d, &s, &sp, SPLIT_VALID, &err));
  expect_u32(ROW(&d, hist, 0), LIST(0, 1, 0), "valid hist 0");
  expect_u32(ROW(&d, hist, 1), LIST(4), "valid hist 1");
  CHECK_EQ_INT(d.n_eval, 2);
  expect_u32(d.eval_user, d.n_eval, LIST(0, 1), "valid eval users");
  expect_u32(ROW(&d, truth, 0), LIST(2), "valid truth 0");
  expect_u32(ROW(&d, excl, 0), LIST(0, 1), "valid excl 0");
  expect_u32(ROW(&d, truth, 1), LIST(5), "valid truth 1");
  expect_u32(ROW(&d, excl, 1), LIST(4), "valid excl 1");
  CHECK_EQ_INT(d.n_pairs, 6);
  dataset_free(&d);
  dataset_free(&d); /* twice is fine */
  dataset_free(NULL);

  /* Bad arguments. */
  CHECK(dataset_build(&d, &s, &sp, SPLIT_TRAIN, &err) != 0 && strstr(err.msg, "eval_tag"));
  sp.tag[3] = 9;
  CHECK(dataset_build(&d, &s, &sp, SPLIT_TEST, &err) != 0 && strstr(err.msg, "split tag 9"));
  split_free(&sp);
  shard_free(&s);
}

static void test_kshot(void) {
  shard_t s;
  make_shard(&s);
  split_t sp;
  dataset_t d;
  /* K = 0: nothing to learn from, every interaction is a query. */
  CHECK_OK(split_kshot(&sp, &s, 0, NULL));
  CHECK_OK(dataset_build(&d, &s, &sp, SPLIT_TEST, NULL));
  CHECK_EQ_INT(d.n_pairs, 0);
  CHECK_EQ_INT(d.n_eval, 3);
  expect_u32(d.eval_user, d.n_eval, LIST(0, 1, 2), "k0 eval users");
  expect_u32(ROW(&d, hist, 0), EMPTY, "k0 hist 0");
  expect_u32(ROW(&d, excl, 0), EMPTY, "k0 excl 0");
  expect_u32(ROW(&d, truth, 0), LIST(0, 1, 2, 3), "k0 truth 0");
  expect_u32(ROW(&d, truth, 1), LIST(4, 5), "k0 truth 1");
  expect_u32(ROW(&d, truth, 2), LIST(1, 5), "k0 truth 2");
  for (int i = 0; i < 6; i++) CHECK_NEAR(d.item_pop[i], 0, 0);
  expect_u32(ROW(&d, utok, 0), LIST(100, fm_hash_feature("uact", "0")), "k0 utok 0");
  dataset_free(&d);
  split_free(&sp);

  /* K = 3: users 0 (6) and 1 (4) qualify; user 2 (2 interactions) is NONE
   * and contributes nothing, not even popularity. */
  CHECK_OK(split_kshot(&sp, &s, 3, NULL));
  CHECK_OK(dataset_build(&d, &s, &sp, SPLIT_TEST, NULL));
  CHECK_EQ_INT(d.n_pairs, 6);
  expect_u32(d.pair_item, d.n_pairs, LIST(0, 1, 0, 4, 5, 4), "k3 pairs");
  float pop[] = {2, 1, 0, 0, 2, 1};
  for (int i = 0; i < 6; i++) CHECK_NEAR(d.item_pop[i], pop[i], 0);
  expect_u32(ROW(&d, hist, 2), EMPTY, "k3 hist 2");
  /* user 0 query {2, 3, 2} -> truth {2, 3}; user 1 query {4} seen -> not evaluated. */
  CHECK_EQ_INT(d.n_eval, 1);
  expect_u32(ROW(&d, truth, 0), LIST(2, 3), "k3 truth 0");
  expect_u32(ROW(&d, excl, 0), LIST(0, 1), "k3 excl 0");
  dataset_free(&d);
  split_free(&sp);
  shard_free(&s);
}

/* The attribute term's input: idf weights, unit norms over all an item's
 * distinct tokens, coordinates only for tokens that relate two items and
 * not all of them. Item tokens (6 items): 10 on items 0-3 (df 4), 11 on 0, 1,
 * 4 (df 3), 12, 13, 14 once each (14 twice on item 4: counted once), 99 on
 * every item (df = n: idf 0); item 5 has 99 alone. */
static void test_attributes(void) {
  shard_t s;
  CHECK_OK(shard_alloc(&s, 1, 6, 6, 0, 17, NULL));
  snprintf(s.name, sizeof s.name, "attr");
  uint32_t up[] = {0, 6}, it[] = {0, 1, 2, 3, 4, 5};
  memcpy(s.user_ptr, up, sizeof up);
  memcpy(s.inter_item, it, sizeof it);
  for (uint32_t j = 0; j < 6; j++) s.inter_ts[j] = 10 * j;
  uint32_t ifp[] = {0, 4, 7, 10, 12, 16, 17};
  uint32_t ifs[] = {12, 10, 99, 11, 99, 11, 10, 10, 13, 99, 10, 99, 14, 11, 14, 99, 99};
  memcpy(s.ifeat_ptr, ifp, sizeof ifp);
  memcpy(s.ifeat, ifs, sizeof ifs);
  CHECK_OK(shard_validate(&s, NULL));
  split_t sp;
  CHECK_OK(split_temporal(&sp, &s, 1, 1, NULL));
  dataset_t d;
  fm_err err;
  CHECK_OK(dataset_build(&d, &s, &sp, SPLIT_TEST, &err));
  CHECK(d.attr_ptr == NULL && d.n_attr == 0); /* on demand only */
  CHECK_OK(dataset_attr(&d, &s, &err));
  CHECK_OK(dataset_attr(&d, &s, &err)); /* again: replaces, leaks nothing */
  CHECK_EQ_INT(d.n_attr, 2); /* 10 -> 0 (df 4), 11 -> 1 (df 3) */
  const double i10 = log(7.0 / 5), i11 = log(7.0 / 4), i1 = log(7.0 / 2);
  const double n0 = sqrt(i10 * i10 + i11 * i11 + i1 * i1), n1 = sqrt(i10 * i10 + i11 * i11),
               n2 = sqrt(i10 * i10 + i1 * i1), n4 = sqrt(i11 * i11 + i1 * i1);
  expect_u32((d.attr_id + d.attr_ptr[0]), (d.attr_ptr[0 + 1] - d.attr_ptr[0]), LIST(0, 1), "attr 0");
  expect_u32((d.attr_id + d.attr_ptr[1]), (d.attr_ptr[1 + 1] - d.attr_ptr[1]), LIST(0, 1), "attr 1");
  expect_u32((d.attr_id + d.attr_ptr[2]), (d.attr_ptr[2 + 1] - d.attr_ptr[2]), LIST(0), "attr 2");
  expect_u32((d.attr_id + d.attr_ptr[3]), (d.attr_ptr[3 + 1] - d.attr_ptr[3]), LIST(0), "attr 3");
  expect_u32((d.attr_id + d.attr_ptr[4]), (d.attr_ptr[4 + 1] - d.attr_ptr[4]), LIST(1), "attr 4");
  expect_u32((d.attr_id + d.attr_ptr[5]), (d.attr_ptr[5 + 1] - d.attr_ptr[5]), EMPTY, "attr 5 (idf 0 only)");
  const double want[] = {i10 / n0, i11 / n0, i10 / n1, i11 / n1, i10 / n2, 1.0, i11 / n4};
  for (uint32_t k = 0; k < 7; k++) CHECK_NEAR(d.attr_w[k], want[k], 1e-6);
  dataset_free(&d);
  split_free(&sp);
  shard_free(&s);
}

/* The EASE term refuses a catalogue whose X has more items than its dense
 * limit, with its own advice, before allocating P (the count is of X's items:
 * the first kcap of each user); one item fewer than the limit in X would be
 * fitted. */
static void test_ease_limit(void) {
  const uint32_t n = BASELINE_EASE_MAX_ITEMS + 1;
  dataset_t d;
  memset(&d, 0, sizeof d);
  d.n_users = 1;
  d.n_items = n;
  uint32_t hp[2] = {0, n};
  d.hist_ptr = hp;
  d.hist = malloc(n * sizeof *d.hist);
  CHECK(d.hist != NULL);
  for (uint32_t i = 0; i < n; i++) d.hist[i] = i;
  fm_err err = {{0}};
  CHECK(dataset_ease(&d, 200, 0, &err) < 0);
  CHECK(strstr(err.msg, "leave --ease off") != NULL && strstr(err.msg, "ItemKNN") == NULL);
  CHECK(d.ease_P == NULL && d.ease_slot == NULL && d.ease_lambda == 0);
  free(d.hist);
}

/* --user-ids: each user's tokens gain the token of its global id, after the
 * ones it had; the same person on another platform (another local index)
 * gets the same token, another person another one; a shard without global
 * ids is refused and the dataset is left as it was. */
/* the fixture shard with these 4 global ids, its split and test dataset */
static void gid_fixture(shard_t *s, split_t *sp, dataset_t *d, const uint32_t gid[4]) {
  fm_err err = {{0}};
  make_shard(s);
  memcpy(s->user_gid, gid, 4 * sizeof *gid);
  CHECK_OK(split_temporal(sp, s, 1, 1, NULL));
  CHECK_OK(dataset_build(d, s, sp, SPLIT_TEST, &err));
}

static void test_user_id_tokens(void) {
  shard_t s, t;
  split_t sp, tp;
  dataset_t d, e;
  fm_err err = {{0}};
  const uint32_t gid[] = {40, 7, 1234567, 8};
  gid_fixture(&s, &sp, &d, gid);
  uint32_t before_ptr[5], before[16];
  memcpy(before_ptr, d.utok_ptr, sizeof before_ptr);
  CHECK(before_ptr[4] <= 16);
  memcpy(before, d.utok, before_ptr[4] * sizeof *before);
  CHECK_OK(dataset_user_id_tokens(&d, &s, &err));
  for (uint32_t u = 0; u < 4; u++) {
    uint32_t n0 = before_ptr[u + 1] - before_ptr[u];
    CHECK_EQ_INT(d.utok_ptr[u + 1] - d.utok_ptr[u], n0 + 1);
    CHECK(!memcmp(d.utok + d.utok_ptr[u], before + before_ptr[u], n0 * sizeof *before));
    char v[16];
    snprintf(v, sizeof v, "%u", gid[u]);
    CHECK_EQ_INT(d.utok[d.utok_ptr[u + 1] - 1], fm_hash_feature("uid", v));
    CHECK_EQ_INT(d.utok[d.utok_ptr[u + 1] - 1], dataset_user_id_token(gid[u]));
  }
  CHECK(dataset_user_id_token(7) != dataset_user_id_token(8));
  CHECK(dataset_user_id_token(7) != fm_hash_feature("uact", "7")); /* its own field */
  /* another platform: user 7 is its local user 2 */
  const uint32_t gid2[] = {90, 91, 7, 92};
  gid_fixture(&t, &tp, &e, gid2);
  CHECK_OK(dataset_user_id_tokens(&e, &t, &err));
  CHECK_EQ_INT(e.utok[e.utok_ptr[3] - 1], d.utok[d.utok_ptr[2] - 1]);
  dataset_free(&e);
  /* no global ids: refused, nothing changed */
  CHECK_OK(dataset_build(&e, &t, &tp, SPLIT_TEST, &err));
  free(t.user_gid);
  t.user_gid = NULL;
  uint32_t *p0 = e.utok_ptr, n_tok = e.utok_ptr[4];
  CHECK(dataset_user_id_tokens(&e, &t, &err) < 0 && strstr(err.msg, "user_gid") != NULL);
  CHECK(e.utok_ptr == p0 && e.utok_ptr[4] == n_tok);
  dataset_free(&e);
  split_free(&tp);
  shard_free(&t);
  dataset_free(&d);
  split_free(&sp);
  shard_free(&s);
  /* the path training and fedmeta eval take: model_dataset_inputs adds the
   * token exactly when the model has user_ids */
  model_cfg_t mc;
  memset(&mc, 0, sizeof mc);
  for (uint32_t on = 0; on < 2; on++) {
    mc.user_ids = on;
    gid_fixture(&s, &sp, &d, gid);
    uint32_t n0 = d.utok_ptr[4];
    CHECK_OK(model_dataset_inputs(&mc, &d, &s, 0, 0, &err));
    CHECK_EQ_INT(d.utok_ptr[4], n0 + (on ? 4 : 0));
    for (uint32_t u = 0; u < 4; u++)
      CHECK_EQ_INT(d.utok[d.utok_ptr[u + 1] - 1] == dataset_user_id_token(gid[u]), (int)on);
    dataset_free(&d);
    split_free(&sp);
    shard_free(&s);
  }
}

/* dataset_serve_users (fedmeta recommend): with every interaction TRAIN, the
 * users with a history are the evaluation users, each excluding its own
 * distinct items, none with anything to find; a user with no interaction is
 * left out. */
static void test_serve_users(void) {
  shard_t s;
  make_shard(&s);
  split_t sp = {calloc(12, 1), 12, 0, 0}; /* all SPLIT_TRAIN */
  CHECK(sp.tag != NULL);
  dataset_t d;
  fm_err err = {{0}};
  CHECK_OK(dataset_build(&d, &s, &sp, SPLIT_TEST, &err));
  CHECK_EQ_INT(d.n_eval, 0); /* nothing held out */
  CHECK_OK(dataset_serve_users(&d, &err));
  CHECK_EQ_INT(d.n_eval, 3);
  expect_u32(d.eval_user, 3, LIST(0, 1, 2), "served users");
  expect_u32(d.excl + d.excl_ptr[0], d.excl_ptr[1] - d.excl_ptr[0], LIST(0, 1, 2, 3), "user 0's known items");
  expect_u32(d.excl + d.excl_ptr[1], d.excl_ptr[2] - d.excl_ptr[1], LIST(4, 5), "user 1's known items");
  expect_u32(d.excl + d.excl_ptr[2], d.excl_ptr[3] - d.excl_ptr[2], LIST(1, 5), "user 2's known items");
  for (uint32_t k = 0; k <= 3; k++) CHECK_EQ_INT(d.truth_ptr[k], 0);
  dataset_free(&d);
  split_free(&sp);
  shard_free(&s);
}

/* dataset_sample_eval: a seeded subset of the evaluated users, each with its
 * own truth and exclusions, in the original order; nested in n; 0 keeps all. */
static void eval_fixture(dataset_t *d) {
  memset(d, 0, sizeof *d);
  const uint32_t n = 7;
  d->n_eval = n;
  d->eval_user = malloc(sizeof(uint32_t) * n);
  d->truth_ptr = malloc(sizeof(uint32_t) * (n + 1));
  d->excl_ptr = malloc(sizeof(uint32_t) * (n + 1));
  d->truth = malloc(sizeof(uint32_t) * 64);
  d->excl = malloc(sizeof(uint32_t) * 64);
  CHECK(d->eval_user && d->truth_ptr && d->excl_ptr && d->truth && d->excl);
  d->truth_ptr[0] = d->excl_ptr[0] = 0;
  for (uint32_t e = 0; e < n; e++) { /* user 10 + 2e; e + 1 truth items 100 e + j; 2 - e % 3 exclusions 1000 e + j */
    d->eval_user[e] = 10 + 2 * e;
    uint32_t t = d->truth_ptr[e], x = d->excl_ptr[e];
    for (uint32_t j = 0; j < e + 1; j++) d->truth[t++] = 100 * e + j;
    for (uint32_t j = 0; j < 2 - e % 3; j++) d->excl[x++] = 1000 * e + j;
    d->truth_ptr[e + 1] = t;
    d->excl_ptr[e + 1] = x;
  }
}

static void check_sampled(const dataset_t *d, uint32_t want) {
  CHECK_EQ_INT(d->n_eval, want);
  for (uint32_t m = 0; m < d->n_eval; m++) {
    uint32_t e = (d->eval_user[m] - 10) / 2;
    if (m) CHECK(d->eval_user[m] > d->eval_user[m - 1]);
    CHECK_EQ_INT(d->truth_ptr[m + 1] - d->truth_ptr[m], e + 1);
    for (uint32_t j = 0; j < e + 1; j++) CHECK_EQ_INT(d->truth[d->truth_ptr[m] + j], 100 * e + j);
    CHECK_EQ_INT(d->excl_ptr[m + 1] - d->excl_ptr[m], 2 - e % 3);
    for (uint32_t j = 0; j < 2 - e % 3; j++) CHECK_EQ_INT(d->excl[d->excl_ptr[m] + j], 1000 * e + j);
  }
}

static void test_sample_eval(void) {
  dataset_t a, b, c;
  eval_fixture(&a);
  dataset_sample_eval(&a, 0, 1, 0);
  check_sampled(&a, 7);
  dataset_sample_eval(&a, 9, 1, 0);
  check_sampled(&a, 7);
  dataset_sample_eval(&a, 3, 1, 0);
  check_sampled(&a, 3);
  eval_fixture(&b);
  dataset_sample_eval(&b, 5, 1, 0);
  check_sampled(&b, 5);
  for (uint32_t m = 0, k = 0; m < a.n_eval; m++) { /* nested: the 3 are among the 5 */
    while (k < b.n_eval && b.eval_user[k] != a.eval_user[m]) k++;
    CHECK(k < b.n_eval);
  }
  eval_fixture(&c); /* another platform (or seed): another draw */
  dataset_sample_eval(&c, 3, 1, 1);
  check_sampled(&c, 3);
  int differ = 0;
  for (int trial = 2; trial < 10 && !differ; trial++) {
    dataset_free(&c);
    eval_fixture(&c);
    dataset_sample_eval(&c, 3, (uint64_t)trial, 0);
    differ = memcmp(c.eval_user, a.eval_user, 3 * sizeof(uint32_t)) != 0;
  }
  CHECK(differ);
  dataset_free(&a);
  dataset_free(&b);
  dataset_free(&c);
}

int main(void) {
  test_sample_eval();
  test_serve_users();
  test_user_id_tokens();
  test_ease_limit();
  test_bands();
  test_temporal();
  test_kshot();
  test_attributes();
  printf("test_dataset: ok\n");
  return 0;
}
