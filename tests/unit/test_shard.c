/* tests/unit/test_shard.c: shard round trip, consistency checks, and refusal
 * of every kind of damaged file with a message that names the problem. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/shard.h"
#include "tests/check.h"

static char g_dir[256];

static void path_of(char *out, size_t n, const char *name) {
  snprintf(out, n, "%s/%s", g_dir, name);
}

/* 3 users, 4 items; user 1 has no interactions. */
static void make_shard(shard_t *s, int with_gid) {
  CHECK_OK(shard_alloc(s, 3, 4, 5, 4, 6, NULL));
  snprintf(s->name, sizeof s->name, "hand");
  s->platform = 7;
  uint32_t up[] = {0, 3, 3, 5}, it[] = {2, 0, 2, 3, 1};
  int64_t ts[] = {100, 100, 250, -5, 1700000000000LL};
  memcpy(s->user_ptr, up, sizeof up);
  memcpy(s->inter_item, it, sizeof it);
  memcpy(s->inter_ts, ts, sizeof ts);
  uint32_t ufp[] = {0, 2, 3, 4}, uf[] = {11, 12, 13, 0xffffffffu};
  memcpy(s->ufeat_ptr, ufp, sizeof ufp);
  memcpy(s->ufeat, uf, sizeof uf);
  uint32_t ifp[] = {0, 1, 3, 3, 6}, ifs[] = {21, 22, 23, 24, 25, 26};
  memcpy(s->ifeat_ptr, ifp, sizeof ifp);
  memcpy(s->ifeat, ifs, sizeof ifs);
  if (with_gid) {
    uint32_t g[] = {5, 9, 4000000000u};
    memcpy(s->user_gid, g, sizeof g);
  } else {
    free(s->user_gid);
    s->user_gid = NULL;
  }
}

static void check_same(const shard_t *a, const shard_t *b) {
  CHECK(strcmp(a->name, b->name) == 0);
  CHECK_EQ_INT(a->platform, b->platform);
  CHECK_EQ_INT(a->n_users, b->n_users);
  CHECK_EQ_INT(a->n_items, b->n_items);
  CHECK_EQ_INT(a->n_inter, b->n_inter);
  CHECK(!memcmp(a->user_ptr, b->user_ptr, (a->n_users + 1) * 4));
  CHECK(!memcmp(a->inter_item, b->inter_item, a->n_inter * 4));
  CHECK(!memcmp(a->inter_ts, b->inter_ts, a->n_inter * 8));
  CHECK(!memcmp(a->ufeat_ptr, b->ufeat_ptr, (a->n_users + 1) * 4));
  CHECK(!memcmp(a->ufeat, b->ufeat, a->ufeat_ptr[a->n_users] * 4));
  CHECK(!memcmp(a->ifeat_ptr, b->ifeat_ptr, (a->n_items + 1) * 4));
  CHECK(!memcmp(a->ifeat, b->ifeat, a->ifeat_ptr[a->n_items] * 4));
  CHECK((a->user_gid == NULL) == (b->user_gid == NULL));
  if (a->user_gid) CHECK(!memcmp(a->user_gid, b->user_gid, a->n_users * 4));
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

static void write_all(const char *path, const uint8_t *d, size_t n) {
  FILE *f = fopen(path, "wb");
  CHECK(f);
  CHECK_EQ_INT(fwrite(d, 1, n, f), n);
  fclose(f);
}

/* Opening path must fail with a message containing want (and the file name). */
static void expect_refused(const char *path, const char *want) {
  shard_t s;
  fm_err err = {{0}};
  CHECK(shard_open(&s, path, &err) != 0);
  if (!strstr(err.msg, want) || !strstr(err.msg, path)) {
    fprintf(stderr, "message \"%s\" lacks \"%s\" or the path\n", err.msg, want);
    CHECK(0);
  }
  CHECK(s.user_ptr == NULL && s.n_users == 0); /* left empty */
}

static void test_roundtrip(void) {
  char path[512];
  for (int gid = 0; gid < 2; gid++) {
    shard_t a, b;
    make_shard(&a, gid);
    CHECK_OK(shard_validate(&a, NULL));
    path_of(path, sizeof path, "rt.shard");
    fm_err err;
    CHECK_OK(shard_write(&a, path, &err));
    char tmp[520];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0); /* renamed away */
    CHECK_OK(shard_open(&b, path, &err));
    check_same(&a, &b);
    shard_free(&a);
    shard_free(&b);
  }
  /* An empty shard round-trips too. */
  shard_t e, f;
  CHECK_OK(shard_alloc(&e, 0, 0, 0, 0, 0, NULL));
  snprintf(e.name, sizeof e.name, "empty");
  path_of(path, sizeof path, "empty.shard");
  CHECK_OK(shard_write(&e, path, NULL));
  CHECK_OK(shard_open(&f, path, NULL));
  check_same(&e, &f);
  shard_free(&e);
  shard_free(&f);
  /* shard_free accepts NULL and twice-freed shards. */
  shard_free(NULL);
  shard_free(&f);
}

static void test_validate(void) {
  shard_t s;
  fm_err err;
  make_shard(&s, 1);
  s.inter_item[1] = 4;
  CHECK(shard_validate(&s, &err) != 0 && strstr(err.msg, "out of range"));
  s.inter_item[1] = 0;
  s.inter_ts[1] = 99;
  CHECK(shard_validate(&s, &err) != 0 && strstr(err.msg, "out of order"));
  s.inter_ts[1] = 100;
  s.user_ptr[1] = 4;
  s.user_ptr[2] = 3;
  CHECK(shard_validate(&s, &err) != 0 && strstr(err.msg, "decreases"));
  s.user_ptr[1] = 3;
  s.user_ptr[3] = 4;
  CHECK(shard_validate(&s, &err) != 0 && strstr(err.msg, "expected 5"));
  s.user_ptr[3] = 5;
  s.ifeat_ptr[0] = 1;
  CHECK(shard_validate(&s, &err) != 0 && strstr(err.msg, "ifeat_ptr"));
  s.ifeat_ptr[0] = 0;
  memset(s.name, 'x', sizeof s.name);
  CHECK(shard_validate(&s, &err) != 0 && strstr(err.msg, "NUL"));
  snprintf(s.name, sizeof s.name, "hand");
  CHECK_OK(shard_validate(&s, &err));
  /* shard_write refuses an inconsistent shard and leaves no file behind. */
  char path[512];
  path_of(path, sizeof path, "bad.shard");
  s.inter_item[0] = 77;
  CHECK(shard_write(&s, path, &err) != 0 && strstr(err.msg, path));
  CHECK(access(path, F_OK) != 0);
  shard_free(&s);
  /* Unwritable destination. */
  make_shard(&s, 0);
  CHECK(shard_write(&s, "/nonexistent-dir/x.shard", &err) != 0 &&
        strstr(err.msg, "/nonexistent-dir/x.shard"));
  shard_free(&s);
}

static void test_corruption(void) {
  char good[512], bad[512];
  path_of(good, sizeof good, "good.shard");
  path_of(bad, sizeof bad, "corrupt.shard");
  shard_t s;
  make_shard(&s, 1);
  CHECK_OK(shard_write(&s, good, NULL));
  shard_free(&s);
  size_t n;
  uint8_t *d = read_all(good, &n);
  uint8_t *c = malloc(n + 64);
  CHECK(c);
  const size_t hdr = 8 + 4 + 4 + SHARD_NAME_MAX; /* offset of the counts */

  /* Missing file. */
  expect_refused(bad, "cannot open");

  /* A flipped byte anywhere in the body or in the checksum. */
  size_t spots[] = {hdr + 30, n / 2, n - 40, n - 1};
  for (size_t k = 0; k < sizeof spots / sizeof *spots; k++) {
    memcpy(c, d, n);
    c[spots[k]] ^= 0x40;
    write_all(bad, c, n);
    expect_refused(bad, "checksum mismatch");
  }
  /* A flipped byte in a count: the file no longer has the size the counts need. */
  memcpy(c, d, n);
  c[hdr + 12] ^= 0x01; /* n_inter 5 -> 4 */
  write_all(bad, c, n);
  expect_refused(bad, "counts inconsistent with the file size");
  memcpy(c, d, n);
  c[hdr + 15] ^= 0x80; /* n_inter huge: must not allocate, must say truncated */
  write_all(bad, c, n);
  expect_refused(bad, "truncated");

  /* Truncated at several places (including inside the header). */
  size_t cuts[] = {n - 1, n - 32, n / 2, hdr + 4, 9};
  for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
    write_all(bad, d, cuts[k]);
    expect_refused(bad, "truncated");
  }
  /* Empty file and a file that is not a shard. */
  write_all(bad, d, 0);
  expect_refused(bad, "wrong magic");
  memcpy(c, d, n);
  memcpy(c, "FMCKPT01", 8);
  write_all(bad, c, n);
  expect_refused(bad, "wrong magic");

  /* Unsupported version (reported before the checksum). */
  memcpy(c, d, n);
  c[8] = 2;
  write_all(bad, c, n);
  expect_refused(bad, "unsupported format version 2");

  /* Bytes appended after a good shard. */
  memcpy(c, d, n);
  memset(c + n, 0xab, 17);
  write_all(bad, c, n + 17);
  expect_refused(bad, "17 trailing bytes");

  /* Counts changed and the checksum recomputed (a faulty writer): the size check still refuses. */
  memcpy(c, d, n);
  c[hdr + 12] = 4;
  crypto_generichash(c + n - 32, 32, c, n - 32, NULL, 0);
  write_all(bad, c, n);
  expect_refused(bad, "counts inconsistent with the file size");

  /* A well-formed, checksummed file whose contents are inconsistent is refused by validation. */
  memcpy(c, d, n);
  size_t items_at = hdr + 24 + 4 * 4; /* inter_item[0] after user_ptr (4 entries) */
  c[items_at] = 9;                     /* item 9 of 4 */
  crypto_generichash(c + n - 32, 32, c, n - 32, NULL, 0);
  write_all(bad, c, n);
  expect_refused(bad, "out of range");

  /* Unknown flag bits. */
  memcpy(c, d, n);
  c[12] |= 0x2;
  crypto_generichash(c + n - 32, 32, c, n - 32, NULL, 0);
  write_all(bad, c, n);
  expect_refused(bad, "unknown flags");

  /* The original is still fine. */
  shard_t ok;
  CHECK_OK(shard_open(&ok, good, NULL));
  shard_free(&ok);
  free(c);
  free(d);
  const char *names[] = {"good.shard", "corrupt.shard", "rt.shard", "empty.shard"};
  for (size_t k = 0; k < 4; k++) {
    path_of(good, sizeof good, names[k]);
    remove(good);
  }
}

int main(void) {
  const char *t = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/fm_shard_XXXXXX", t && *t ? t : "/tmp");
  CHECK(mkdtemp(g_dir) != NULL);
  test_roundtrip();
  test_validate();
  test_corruption();
  CHECK_OK(rmdir(g_dir));
  printf("test_shard: ok\n");
  return 0;
}
