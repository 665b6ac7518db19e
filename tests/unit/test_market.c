/* tests/unit/test_market.c: the synthetic market (determinism, per-platform
 * independence, sanity of sizes and features, sparse vs dense industries,
 * ground truth that beats popularity) and the manifest (round trip through
 * market_write, malformed files refused with file:line). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/dataset.h"
#include "common/manifest.h"
#include "common/market.h"
#include "common/rng.h"
#include "common/split.h"
#include "tests/check.h"

static char g_dir[256];

static int same_shard(const shard_t *a, const shard_t *b) {
  if (strcmp(a->name, b->name) || a->platform != b->platform || a->n_users != b->n_users ||
      a->n_items != b->n_items || a->n_inter != b->n_inter)
    return 0;
  return !memcmp(a->user_ptr, b->user_ptr, (a->n_users + 1) * 4) &&
         !memcmp(a->inter_item, b->inter_item, a->n_inter * 4) &&
         !memcmp(a->inter_ts, b->inter_ts, a->n_inter * 8) &&
         !memcmp(a->ufeat_ptr, b->ufeat_ptr, (a->n_users + 1) * 4) &&
         !memcmp(a->ufeat, b->ufeat, a->ufeat_ptr[a->n_users] * 4) &&
         !memcmp(a->ifeat_ptr, b->ifeat_ptr, (a->n_items + 1) * 4) &&
         !memcmp(a->ifeat, b->ifeat, a->ifeat_ptr[a->n_items] * 4) &&
         !memcmp(a->user_gid, b->user_gid, a->n_users * 4);
}

static uint8_t *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  CHECK(f);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *d = malloc((size_t)len + 1);
  CHECK(d);
  CHECK_EQ_INT(fread(d, 1, (size_t)len, f), len);
  fclose(f);
  *n = (size_t)len;
  return d;
}

/* Byte-compares file name in dirs a and b; returns 1 if identical. */
static int same_file(const char *da, const char *db, const char *name) {
  char pa[512], pb[512];
  snprintf(pa, sizeof pa, "%s/%s", da, name);
  snprintf(pb, sizeof pb, "%s/%s", db, name);
  size_t na, nb;
  uint8_t *a = read_all(pa, &na), *b = read_all(pb, &nb);
  int same = na == nb && !memcmp(a, b, na);
  free(a);
  free(b);
  return same;
}

static void rm_market(const char *dir, uint32_t n) {
  char p[512];
  for (uint32_t i = 0; i < n; i++) {
    snprintf(p, sizeof p, "%s/p%02u-%s.shard", dir, i, market_industry_name(i));
    remove(p);
  }
  snprintf(p, sizeof p, "%s/%s", dir, MANIFEST_FILE);
  remove(p);
  rmdir(dir);
}

static void test_cfg(void) {
  market_cfg_t c;
  market_cfg_default(&c);
  CHECK_OK(market_cfg_validate(&c, NULL));
  CHECK_EQ_INT(c.n_industries, 8);
  CHECK(strcmp(market_industry_name(market_default_heldout(&c)), "toys") == 0);
  CHECK(strcmp(market_industry_name(0), "beauty") == 0);
  CHECK(strcmp(market_industry_name(MARKET_MAX_PLATFORMS), "?") == 0);
  /* beyond the 16 named industries: niche variants with their own names and data */
  CHECK(strcmp(market_industry_name(16), "beauty-2") == 0);
  CHECK(strcmp(market_industry_name(999), "toys-63") == 0);
  fm_err err;
  market_cfg_t b = c;
  b.n_industries = 0;
  CHECK(market_cfg_validate(&b, &err) != 0 && strstr(err.msg, "n_industries"));
  b = c;
  b.dim = MARKET_MAX_DIM + 1;
  CHECK(market_cfg_validate(&b, &err) != 0 && strstr(err.msg, "dim"));
  b = c;
  b.scale = -1;
  CHECK(market_cfg_validate(&b, &err) != 0 && strstr(err.msg, "scale"));
  b = c;
  b.demo_share = 1.5;
  CHECK(market_cfg_validate(&b, &err) != 0 && strstr(err.msg, "demo_share"));
  shard_t s;
  CHECK(market_platform(&s, &c, 8, &err) != 0 && strstr(err.msg, "out of range"));
}

/* Same seed: byte-identical files (the shard checksum included); another
 * seed: different shards. Platform p does not depend on which other
 * platforms exist or were generated first. */
static void test_determinism(void) {
  market_cfg_t c;
  market_cfg_default(&c);
  c.scale = 0.25; /* a quarter-size market keeps this test quick */
  char da[300], db[300], dc[300];
  snprintf(da, sizeof da, "%s/a", g_dir);
  snprintf(db, sizeof db, "%s/b", g_dir);
  snprintf(dc, sizeof dc, "%s/c", g_dir);
  fm_err err;
  CHECK_OK(market_write(&c, da, &err));
  CHECK_OK(market_write(&c, db, &err));
  market_cfg_t c2 = c;
  c2.seed = 43;
  CHECK_OK(market_write(&c2, dc, &err));
  char name[64];
  for (uint32_t p = 0; p < c.n_industries; p++) {
    snprintf(name, sizeof name, "p%02u-%s.shard", p, market_industry_name(p));
    CHECK(same_file(da, db, name));
    CHECK(!same_file(da, dc, name));
  }
  CHECK(same_file(da, db, MANIFEST_FILE));

  /* The manifest lists what was written; shards open through it. */
  manifest_t m;
  char mp[512];
  snprintf(mp, sizeof mp, "%s/%s", da, MANIFEST_FILE);
  CHECK_OK(manifest_read(&m, mp, &err));
  CHECK_EQ_INT(m.n, c.n_industries);
  CHECK_EQ_INT(manifest_find(&m, "toys"), 7);
  CHECK_EQ_INT(manifest_find(&m, "nope"), -1);
  for (uint32_t p = 0; p < m.n; p++) {
    shard_t a, b;
    CHECK_OK(manifest_open_platform(&a, da, p, &err));
    CHECK_OK(market_platform(&b, &c, p, &err));
    CHECK(same_shard(&a, &b));
    CHECK_EQ_INT(m.e[p].n_inter, a.n_inter);
    CHECK_EQ_INT(m.e[p].n_users, a.n_users);
    CHECK_EQ_INT(m.e[p].n_items, a.n_items);
    shard_free(&a);
    shard_free(&b);
  }
  shard_t x;
  CHECK(manifest_shard_open(&x, &m, da, m.n, &err) != 0 && strstr(err.msg, "not in the manifest"));
  /* A shard that does not match its manifest entry is refused. */
  m.e[1].n_inter++;
  CHECK(manifest_shard_open(&x, &m, da, 1, &err) != 0 && strstr(err.msg, "manifest entry"));
  manifest_free(&m);
  manifest_free(&m);

  /* Independence: platform 5 alone, after others, and in a larger market. */
  shard_t s1, s2, s3, other;
  CHECK_OK(market_platform(&s1, &c, 5, &err));
  for (uint32_t p = 0; p < 5; p++) {
    CHECK_OK(market_platform(&other, &c, p, &err));
    shard_free(&other);
  }
  CHECK_OK(market_platform(&s2, &c, 5, &err));
  market_cfg_t big = c;
  big.n_industries = MARKET_MAX_INDUSTRIES;
  CHECK_OK(market_platform(&s3, &big, 5, &err));
  CHECK(same_shard(&s1, &s2));
  CHECK(same_shard(&s1, &s3));
  {
    market_cfg_t many = c;
    many.n_industries = 40;
    shard_t s5, s20, s36;
    CHECK_OK(market_platform(&s5, &many, 5, &err));
    CHECK(same_shard(&s1, &s5)); /* adding industries changes nothing in the others */
    CHECK_OK(market_platform(&s20, &many, 20, &err));
    CHECK_OK(market_platform(&s36, &many, 36, &err));
    CHECK(s20.n_items > 0 && s36.n_items > 0);
    CHECK(!same_shard(&s20, &s36)); /* variants of one profile are different industries */
    shard_free(&s5);
    shard_free(&s20);
    shard_free(&s36);
  }
  shard_free(&s1);
  shard_free(&s2);
  shard_free(&s3);
  rm_market(da, c.n_industries);
  rm_market(db, c.n_industries);
  rm_market(dc, c.n_industries);
}

static int has_token(const uint32_t *t, uint32_t n, uint32_t want) {
  for (uint32_t i = 0; i < n; i++)
    if (t[i] == want) return 1;
  return 0;
}

/* Full-ranking NDCG@10 of one user (own implementation, independent of metrics.c). */
static double ndcg10(const float *sc, uint32_t ni, const uint32_t *tr, uint32_t nt,
                     const uint32_t *ex, uint32_t nex, uint8_t *mask) {
  for (uint32_t j = 0; j < nex; j++) mask[ex[j]] = 1;
  double dcg = 0, idcg = 0;
  for (uint32_t t = 0; t < nt; t++) {
    uint32_t it = tr[t], rank = 0;
    for (uint32_t i = 0; i < ni && rank < 10; i++)
      if (!mask[i] && i != it && (sc[i] > sc[it] || (sc[i] == sc[it] && i < it))) rank++;
    if (rank < 10) dcg += 1.0 / log2(rank + 2.0);
  }
  for (uint32_t r = 0; r < nt && r < 10; r++) idcg += 1.0 / log2(r + 2.0);
  for (uint32_t j = 0; j < nex; j++) mask[ex[j]] = 0;
  return dcg / idcg;
}

/* The default market: sizes, features, density, and the ground truth. */
static void test_default_market(void) {
  market_cfg_t c;
  market_cfg_default(&c);
  fm_err err;
  uint64_t total = 0;
  uint32_t n_inter[MARKET_MAX_INDUSTRIES];
  double dens[MARKET_MAX_INDUSTRIES], sum_true = 0, sum_pop = 0, sum_shared = 0, sum_demo = 0;
  for (uint32_t p = 0; p < c.n_industries; p++) {
    shard_t s;
    market_truth_t t;
    CHECK_OK(market_generate(&s, &t, &c, p, &err));
    CHECK_OK(shard_validate(&s, &err));
    CHECK(strcmp(s.name, market_industry_name(p)) == 0);
    CHECK_EQ_INT(s.platform, p);
    CHECK(s.n_items >= 300 && s.n_items <= 1500);
    CHECK(s.n_users >= 200 && s.n_users <= c.n_users);
    CHECK(s.user_gid != NULL);
    for (uint32_t u = 0; u < s.n_users; u++) {
      CHECK(s.user_gid[u] < c.n_users);
      if (u) CHECK(s.user_gid[u] > s.user_gid[u - 1]);
      uint32_t n = s.user_ptr[u + 1] - s.user_ptr[u];
      CHECK(n >= 3); /* every joined user has at least 3 interactions */
      CHECK_EQ_INT(s.ufeat_ptr[u + 1] - s.ufeat_ptr[u], 3);
      for (uint32_t j = s.user_ptr[u] + 1; j < s.user_ptr[u + 1]; j++) {
        CHECK(s.inter_ts[j] > s.inter_ts[j - 1]); /* strictly increasing per user */
        for (uint32_t q = s.user_ptr[u]; q < j; q++)
          CHECK(s.inter_item[q] != s.inter_item[j]); /* no repeats */
      }
    }
    /* Item features: cat (industry-specific), brand, price band, 1-2 shared styles. */
    char v[96];
    uint32_t price0 = fm_hash_feature("price", "0"), price4 = fm_hash_feature("price", "4");
    uint32_t n_p0 = 0, n_p4 = 0, styles[MARKET_N_STYLES];
    for (uint32_t q = 0; q < MARKET_N_STYLES; q++)
      styles[q] = fm_hash_feature("style", market_style_name(q));
    for (uint32_t i = 0; i < s.n_items; i++) {
      const uint32_t *f = s.ifeat + s.ifeat_ptr[i];
      uint32_t nf = s.ifeat_ptr[i + 1] - s.ifeat_ptr[i];
      CHECK(nf == 4 || nf == 5);
      int cat_ok = 0;
      for (uint32_t cc = 0; cc < 40 && !cat_ok; cc++) {
        snprintf(v, sizeof v, "%s/%u", s.name, cc);
        cat_ok = f[0] == fm_hash_feature("cat", v);
      }
      CHECK(cat_ok);
      int price_ok = 0;
      for (int b = 0; b < MARKET_N_PRICE; b++) {
        snprintf(v, sizeof v, "%d", b);
        price_ok |= f[2] == fm_hash_feature("price", v);
      }
      CHECK(price_ok);
      n_p0 += f[2] == price0;
      n_p4 += f[2] == price4;
      int brand_ok = 0;
      for (uint32_t b = 0; b < 400 && !brand_ok; b++) {
        snprintf(v, sizeof v, "%s/b%u", s.name, b);
        brand_ok = f[1] == fm_hash_feature("brand", v);
      }
      CHECK(brand_ok);
      for (uint32_t j = 3; j < nf; j++) CHECK(has_token(styles, MARKET_N_STYLES, f[j]));
      if (nf == 5) CHECK(f[3] != f[4]);
    }
    CHECK(n_p0 > 0 && n_p4 > 0);
    n_inter[p] = s.n_inter;
    dens[p] = (double)s.n_inter / ((double)s.n_users * s.n_items);
    total += s.n_inter;

    /* Ground truth against popularity, full ranking, temporal split (1 valid, 2 test). */
    CHECK_EQ_INT(t.n_users, s.n_users);
    CHECK_EQ_INT(t.n_items, s.n_items);
    CHECK_EQ_INT(t.dim, c.dim + 1);
    split_t sp;
    dataset_t d;
    CHECK_OK(split_temporal(&sp, &s, 1, 2, &err));
    CHECK_OK(dataset_build(&d, &s, &sp, SPLIT_TEST, &err));
    CHECK(d.n_eval >= 200);
    float *sc = malloc(s.n_items * sizeof(float)), *sh = malloc(s.n_items * sizeof(float));
    float *dm = malloc(s.n_items * sizeof(float));
    uint8_t *mask = calloc(s.n_items, 1);
    CHECK(sc && sh && dm && mask);
    double n_true = 0, n_pop = 0, n_shared = 0, n_demo = 0;
    uint32_t dim = t.dim;
    for (uint32_t q = 0; q < d.n_eval; q++) {
      uint32_t u = d.eval_user[q];
      market_true_scores(sc, &t, u);
      for (uint32_t i = 0; i < s.n_items; i++) {
        float a = 0, b = 0;
        for (uint32_t k = 0; k < dim; k++) {
          a += t.user_vec[u * dim + k] * t.shared_vec[i * dim + k];
          b += t.demo_vec[u * dim + k] * t.item_vec[i * dim + k];
        }
        sh[i] = a;
        dm[i] = b;
      }
      const uint32_t *tr = d.truth + d.truth_ptr[q], *ex = d.excl + d.excl_ptr[q];
      uint32_t ntr = d.truth_ptr[q + 1] - d.truth_ptr[q], nex = d.excl_ptr[q + 1] - d.excl_ptr[q];
      n_true += ndcg10(sc, s.n_items, tr, ntr, ex, nex, mask);
      n_pop += ndcg10(d.item_pop, s.n_items, tr, ntr, ex, nex, mask);
      n_shared += ndcg10(sh, s.n_items, tr, ntr, ex, nex, mask);
      n_demo += ndcg10(dm, s.n_items, tr, ntr, ex, nex, mask);
    }
    n_true /= d.n_eval;
    n_pop /= d.n_eval;
    n_shared /= d.n_eval;
    n_demo /= d.n_eval;
    printf("  %-12s users %5u items %5u inter %6u density %.4f | NDCG@10 true %.3f "
           "shared-part %.3f demographics %.3f popularity %.3f\n",
           s.name, s.n_users, s.n_items, s.n_inter, dens[p], n_true, n_shared, n_demo, n_pop);
    /* Knowing the user's taste clearly beats popularity on every platform. */
    CHECK(n_true > 2.0 * n_pop && n_true - n_pop > 0.15);
    sum_true += n_true;
    sum_pop += n_pop;
    sum_shared += n_shared;
    sum_demo += n_demo;
    free(sc);
    free(sh);
    free(dm);
    free(mask);
    dataset_free(&d);
    split_free(&sp);
    market_truth_free(&t);
    shard_free(&s);
  }
  uint32_t n = c.n_industries;
  printf("  total interactions %llu; mean NDCG@10 true %.3f shared-part %.3f demographics %.3f "
         "popularity %.3f\n", (unsigned long long)total, sum_true / n, sum_shared / n,
         sum_demo / n, sum_pop / n);
  CHECK(total >= 100000 && total <= 200000);
  /* What transfers across industries (shared style/price part) and what
   * demographics alone say are both worth clearly more than popularity. */
  CHECK(sum_shared / n > sum_pop / n + 0.04);
  CHECK(sum_demo / n > sum_pop / n + 0.04);
  /* Uneven density: books (dense) has many times the data of toys (sparse, held out). */
  CHECK(n_inter[1] > 8 * n_inter[7]);
  CHECK(n_inter[6] < n_inter[0] / 3);
  CHECK(dens[4] > 2 * dens[6]);

  /* Scale multiplies users and items. */
  market_cfg_t half = c;
  half.scale = 0.5;
  shard_t s;
  CHECK_OK(market_platform(&s, &half, 1, &err));
  CHECK_EQ_INT(s.n_items, 750);
  CHECK(s.n_users < 1100 && s.n_inter < n_inter[1] * 0.6);
  shard_free(&s);
}

/* Writes text to dir/manifest.txt and expects manifest_read to fail with want in the message. */
static void expect_manifest_refused(const char *text, const char *want) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", g_dir, MANIFEST_FILE);
  FILE *f = fopen(p, "w");
  CHECK(f);
  fputs(text, f);
  fclose(f);
  manifest_t m;
  fm_err err = {{0}};
  CHECK(manifest_read(&m, p, &err) != 0);
  if (!strstr(err.msg, want) || !strstr(err.msg, p)) {
    fprintf(stderr, "manifest message \"%s\" lacks \"%s\" or the path\n", err.msg, want);
    CHECK(0);
  }
  CHECK(m.e == NULL && m.n == 0);
}

static void test_manifest(void) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", g_dir, MANIFEST_FILE);
  manifest_t m, r;
  fm_err err;
  CHECK_OK(manifest_init(&m, 2, &err));
  snprintf(m.e[0].name, sizeof m.e[0].name, "alpha");
  snprintf(m.e[0].file, sizeof m.e[0].file, "a.shard");
  m.e[0].n_users = 3;
  m.e[0].n_items = 4;
  m.e[0].n_inter = 5;
  snprintf(m.e[1].name, sizeof m.e[1].name, "beta");
  snprintf(m.e[1].file, sizeof m.e[1].file, "b.shard");
  m.e[1].n_inter = 4294967295u;
  CHECK_OK(manifest_write(&m, p, "a comment", &err));
  CHECK_OK(manifest_read(&r, p, &err));
  CHECK_EQ_INT(r.n, 2);
  CHECK(!strcmp(r.e[1].name, "beta") && !strcmp(r.e[1].file, "b.shard"));
  CHECK_EQ_INT(r.e[0].n_inter, 5);
  CHECK_EQ_INT(r.e[1].n_inter, 4294967295u);
  manifest_free(&r);
  /* Writing refuses entries that would not read back. */
  snprintf(m.e[1].file, sizeof m.e[1].file, "../b.shard");
  CHECK(manifest_write(&m, p, NULL, &err) != 0 && strstr(err.msg, "'/'"));
  snprintf(m.e[1].file, sizeof m.e[1].file, "b.shard");
  snprintf(m.e[1].name, sizeof m.e[1].name, "be ta");
  CHECK(manifest_write(&m, p, NULL, &err) != 0 && strstr(err.msg, "white space"));
  manifest_free(&m);

  const char *H = "fedmeta-manifest 1\n";
  char buf[1024];
  expect_manifest_refused("", "empty file");
  expect_manifest_refused("fedmeta-manifest 2\n0 a a.shard 1 1 1\n", ":1: unsupported manifest version");
  expect_manifest_refused("hello\n", ":1: expected the header");
  expect_manifest_refused(H, "no platforms");
  snprintf(buf, sizeof buf, "%s# c\n\n0 a a.shard 1 2\n", H);
  expect_manifest_refused(buf, ":4: expected 6 fields");
  snprintf(buf, sizeof buf, "%s0 a a.shard 1 2 3 4\n", H);
  expect_manifest_refused(buf, ":2: expected 6 fields");
  snprintf(buf, sizeof buf, "%s0 a a.shard 1 x 3\n", H);
  expect_manifest_refused(buf, ":2: n_items \"x\" is not an unsigned 32-bit integer");
  snprintf(buf, sizeof buf, "%s0 a a.shard 1 2 4294967296\n", H);
  expect_manifest_refused(buf, ":2: n_inter");
  snprintf(buf, sizeof buf, "%s0 a a.shard 1 2 -3\n", H);
  expect_manifest_refused(buf, ":2: n_inter");
  snprintf(buf, sizeof buf, "%s1 a a.shard 1 2 3\n", H);
  expect_manifest_refused(buf, ":2: platform 1, expected 0");
  snprintf(buf, sizeof buf, "%s0 a a.shard 1 2 3\n0 b b.shard 1 2 3\n", H);
  expect_manifest_refused(buf, ":3: platform 0, expected 1");
  snprintf(buf, sizeof buf, "%s0 a a.shard 1 2 3\n1 a b.shard 1 2 3\n", H);
  expect_manifest_refused(buf, ":3: platform name \"a\" appears twice");
  snprintf(buf, sizeof buf, "%s0 a /etc/passwd 1 2 3\n", H);
  expect_manifest_refused(buf, ":2: shard file \"/etc/passwd\"");
  snprintf(buf, sizeof buf, "%s0 a .hidden 1 2 3\n", H);
  expect_manifest_refused(buf, "starts with '.'");
  snprintf(buf, sizeof buf, "%s0 %s a.shard 1 2 3\n", H,
           "n123456789012345678901234567890123456789012345678901234567890123");
  expect_manifest_refused(buf, "longer than 63");
  /* Windows line endings and comments are fine. */
  snprintf(buf, sizeof buf, "%s# x\r\n  0 a a.shard 1 2 3\r\n", "fedmeta-manifest 1\r\n");
  FILE *f = fopen(p, "w");
  CHECK(f);
  fputs(buf, f);
  fclose(f);
  CHECK_OK(manifest_read(&r, p, &err));
  CHECK_EQ_INT(r.n, 1);
  CHECK_EQ_INT(r.e[0].n_inter, 3);
  manifest_free(&r);
  /* A missing shard file is named in the message. */
  shard_t s;
  CHECK(manifest_open_platform(&s, g_dir, 0, &err) != 0 && strstr(err.msg, "a.shard"));
  remove(p);
  CHECK(manifest_read(&r, p, &err) != 0 && strstr(err.msg, "cannot open manifest"));
}

int main(void) {
  const char *t = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/fm_market_XXXXXX", t && *t ? t : "/tmp");
  CHECK(mkdtemp(g_dir) != NULL);
  test_cfg();
  test_manifest();
  test_determinism();
  test_default_market();
  CHECK_OK(rmdir(g_dir));
  printf("test_market: ok\n");
  return 0;
}
