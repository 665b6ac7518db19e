/* tests/unit/test_import.c: the importers on tiny hand-made fixtures (built
 * in a mkdtemp folder, never real data): exact counts after cleaning
 * (rating filter, duplicates, k-core to a fixed point, small industries),
 * shards read back through the manifest with the right order, tokens and
 * global ids, strict versus lenient handling of malformed lines with
 * file:line messages, the JSON reader, and usage errors. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/import_build.h"
#include "common/importer.h"
#include "common/manifest.h"
#include "common/rng.h"
#include "tests/check.h"

static char g_root[256];

static void path_of(char *out, size_t n, const char *rel) { snprintf(out, n, "%s/%s", g_root, rel); }

/* Writes root/rel (creating its folder) with the given text. */
static void put(const char *rel, const char *text) {
  char p[512];
  path_of(p, sizeof p, rel);
  for (char *s = p + strlen(g_root) + 1; (s = strchr(s, '/')) != NULL; s++) {
    *s = '\0';
    mkdir(p, 0777); /* the folders on the way */
    *s = '/';
  }
  FILE *f = fopen(p, "wb");
  CHECK(f != NULL);
  CHECK(fputs(text, f) >= 0);
  CHECK(fclose(f) == 0);
}

static void rm_tree(const char *path) {
  DIR *d = opendir(path);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      char p[1024];
      snprintf(p, sizeof p, "%s/%s", path, e->d_name);
      rm_tree(p);
    }
    closedir(d);
    rmdir(path);
  } else {
    unlink(path);
  }
}

static fm_config cfg(const char *format, const char *input_rel, uint32_t k) {
  fm_config c;
  config_defaults(&c);
  snprintf(c.format, sizeof c.format, "%s", format);
  path_of(c.input, sizeof c.input, input_rel);
  c.kcore = k;
  return c;
}

static int has_tok(const shard_t *s, int item, uint32_t i, uint32_t tok) {
  const uint32_t *ptr = item ? s->ifeat_ptr : s->ufeat_ptr, *f = item ? s->ifeat : s->ufeat;
  for (uint32_t j = ptr[i]; j < ptr[i + 1]; j++)
    if (f[j] == tok) return 1;
  return 0;
}

static uint32_t n_tok(const shard_t *s, int item, uint32_t i) {
  const uint32_t *ptr = item ? s->ifeat_ptr : s->ufeat_ptr;
  return ptr[i + 1] - ptr[i];
}

/* user u of s has exactly these (local item, time) pairs in order */
static void check_user(const shard_t *s, uint32_t u, uint32_t gid, uint32_t n, ...) {
  CHECK(u < s->n_users);
  CHECK_EQ_INT(s->user_gid[u], gid);
  CHECK_EQ_INT(s->user_ptr[u + 1] - s->user_ptr[u], n);
  va_list ap;
  va_start(ap, n);
  for (uint32_t j = 0; j < n; j++) {
    uint32_t item = va_arg(ap, uint32_t);
    int64_t ts = va_arg(ap, int64_t);
    CHECK_EQ_INT(s->inter_item[s->user_ptr[u] + j], item);
    CHECK_EQ_INT(s->inter_ts[s->user_ptr[u] + j], ts);
  }
  va_end(ap);
}
#define I(x) ((uint32_t)(x))
#define T(x) ((int64_t)(x))

/* Writes r to root/out_rel (which already holds an unrelated file), reads
 * the manifest back and opens every shard; the opened shards replace r's. */
static void write_and_reopen(import_result_t *r, const char *out_rel) {
  char dir[512], p[600];
  path_of(dir, sizeof dir, out_rel);
  mkdir(dir, 0777);
  snprintf(p, sizeof p, "%s/keep.txt", dir);
  FILE *f = fopen(p, "w");
  CHECK(f && fputs("not ours\n", f) >= 0 && fclose(f) == 0);
  fm_err err = {{0}};
  if (import_write(r, dir, &err)) {
    fprintf(stderr, "import_write: %s\n", err.msg);
    CHECK(0);
  }
  CHECK(access(p, F_OK) == 0); /* other files are left alone */
  manifest_t m;
  snprintf(p, sizeof p, "%s/%s", dir, MANIFEST_FILE);
  CHECK_OK(manifest_read(&m, p, &err));
  CHECK_EQ_INT(m.n, r->n);
  for (uint32_t i = 0; i < m.n; i++) {
    shard_t s;
    if (manifest_shard_open(&s, &m, dir, i, &err)) {
      fprintf(stderr, "%s\n", err.msg);
      CHECK(0);
    }
    CHECK(!strcmp(s.name, r->shards[i].name));
    shard_free(&r->shards[i]);
    r->shards[i] = s;
  }
  manifest_free(&m);
  snprintf(p, sizeof p, "%s/users.tsv", dir);
  CHECK(access(p, F_OK) == 0);
}

static int load(import_result_t *r, const fm_config *c, fm_err *err) {
  int rc = import_load(r, c, err);
  if (rc) fprintf(stderr, "(import_load: %s)\n", err->msg);
  return rc;
}

/* --- csv ------------------------------------------------------------------------ */

static const char *CSV =
    "user,item,industry,time,rating\n" /* 1 */
    "u1,i1,A,10,5\n"                   /* 2 */
    "u1,i2,A,20,4\n"                   /* 3 */
    "u2,i1,A,15,3\n"                   /* 4 */
    "u2,i2,A,5,1\n"                    /* 5 */
    "u1,i1,A,30,2\n"                   /* 6 duplicate of line 2, later: dropped */
    "u3,i1,A,1,0\n"                    /* 7 rating 0 */
    "u1,i3,B,12,5\n"                   /* 8 */
    "u2,i3,B,11,5\n"                   /* 9 */
    "u1,x\n"                           /* 10 malformed: too few fields */
    "u2,i4,B,abc,5\n"                  /* 11 malformed: time */
    "u4,i3,B,50,5\n"                   /* 12 u4 has one interaction: below the 2-core */
    "\"u5\",i2,\"A\",40,5\n";          /* 13 quoted fields; u5 below the 2-core */

static void test_csv(void) {
  put("csv/f.csv", CSV);
  fm_config c = cfg("csv", "csv/f.csv", 2);
  snprintf(c.columns, sizeof c.columns, "user=1,item=2,industry=3,time=4,rating=5");
  snprintf(c.delimiter, sizeof c.delimiter, "comma");
  c.header = 1;
  import_result_t r;
  fm_err err = {{0}};
  CHECK_OK(load(&r, &c, &err));
  const import_stats_t *st = &r.st;
  CHECK_EQ_INT(st->lines, 12);
  CHECK_EQ_INT(st->malformed, 2);
  CHECK_EQ_INT(st->n_msgs, 2);
  CHECK(strstr(st->msgs[0], "csv/f.csv:10:") && strstr(st->msgs[0], "fields"));
  CHECK(strstr(st->msgs[1], "csv/f.csv:11:") && strstr(st->msgs[1], "(time)") && strstr(st->msgs[1], "abc"));
  CHECK_EQ_INT(st->rating_zero, 1);
  CHECK_EQ_INT(st->duplicates, 1);
  CHECK_EQ_INT(st->kcore_rounds, 1);
  CHECK_EQ_INT(st->rounds[0].users, 2);
  CHECK_EQ_INT(st->rounds[0].items, 0);
  CHECK_EQ_INT(st->kcore_inter, 2);
  CHECK_EQ_INT(st->n_inter, 6);
  CHECK_EQ_INT(st->n_users, 2);
  CHECK_EQ_INT(st->n_items, 3);
  CHECK_EQ_INT(r.n, 2);
  write_and_reopen(&r, "csv-out");
  const shard_t *a = &r.shards[0], *b = &r.shards[1];
  CHECK(!strcmp(a->name, "a") && !strcmp(b->name, "b"));
  CHECK_EQ_INT(a->n_users, 2);
  CHECK_EQ_INT(a->n_items, 2);
  CHECK_EQ_INT(a->n_inter, 4);
  check_user(a, 0, 0, 2, I(0), T(10), I(1), T(20)); /* u1: i1@10 i2@20 */
  check_user(a, 1, 1, 2, I(1), T(5), I(0), T(15));  /* u2: i2@5 i1@15 (time order) */
  CHECK_EQ_INT(b->n_users, 2);
  CHECK_EQ_INT(b->n_items, 1);
  check_user(b, 0, 0, 1, I(0), T(12));
  check_user(b, 1, 1, 1, I(0), T(11));
  for (uint32_t i = 0; i < a->n_items; i++) {
    CHECK_EQ_INT(n_tok(a, 1, i), 1);
    CHECK(has_tok(a, 1, i, fm_hash_feature("cat", "a")));
  }
  CHECK_EQ_INT(n_tok(a, 0, 0), 0);
  import_free(&r);

  /* --strict: the first malformed line is an error naming file:line */
  c.strict = 1;
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EDATA);
  CHECK(strstr(err.msg, "csv/f.csv:10:") && strstr(err.msg, "strict"));
  CHECK_EQ_INT(r.n, 0);
  c.strict = 0;

  /* no time column: file order is the time; min rating 4 */
  snprintf(c.columns, sizeof c.columns, "user=1,item=2,industry=3,rating=5");
  c.min_rating = 4;
  c.kcore = 0;
  CHECK_OK(load(&r, &c, &err));
  CHECK_EQ_INT(r.st.rating_low, 3); /* lines 4, 5, 6 */
  CHECK_EQ_INT(r.st.malformed, 1);  /* line 10 only: line 11's time is not read */
  /* rows: 2(u1,i1,A) 3(u1,i2,A) 8 9 11(u2,i4,B) 12 13 -> u1 u2 u4 u5 */
  CHECK_EQ_INT(r.st.n_inter, 7);
  CHECK_EQ_INT(r.shards[0].n_inter, 3);
  check_user(&r.shards[0], 0, 0, 2, I(0), T(0), I(1), T(1)); /* data rows 0 and 1 */
  import_free(&r);

  /* usage errors */
  c.min_rating = 1;
  snprintf(c.columns, sizeof c.columns, "user=1,item=2");
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EUSAGE);
  CHECK(strstr(err.msg, "industry"));
  snprintf(c.columns, sizeof c.columns, "user=1,item=2,industry=3,colour=4");
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EUSAGE);
  CHECK(strstr(err.msg, "colour"));
  snprintf(c.columns, sizeof c.columns, "user=1,item=2,industry=3");
  snprintf(c.delimiter, sizeof c.delimiter, "ab");
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EUSAGE);
  snprintf(c.delimiter, sizeof c.delimiter, ",");
  snprintf(c.industries_sel, sizeof c.industries_sel, "a,zzz");
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EUSAGE);
  CHECK(strstr(err.msg, "zzz") && strstr(err.msg, "have: a, b"));
  /* --select before the k-core: only A; u1 and u2 keep 2 each */
  snprintf(c.industries_sel, sizeof c.industries_sel, "a");
  c.kcore = 2;
  CHECK_OK(load(&r, &c, &err));
  CHECK_EQ_INT(r.n, 1);
  CHECK_EQ_INT(r.st.not_selected, 4); /* lines 8, 9, 11, 12 */
  CHECK_EQ_INT(r.st.n_inter, 4);
  import_free(&r);
  /* a missing file names the path */
  path_of(c.input, sizeof c.input, "csv/none.csv");
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EDATA);
  CHECK(strstr(err.msg, "csv/none.csv"));
  printf("csv: ok\n");
}

/* --- k-core to a fixed point; small industries -------------------------------------- */

static void test_kcore(void) {
  /* a chain: a's removal frees x1, then b, x2, c; the core p, q x y1, y2 stays */
  put("kc/chain.tsv",
      "a\tx1\tS\n"
      "b\tx1\tS\n"
      "b\tx2\tS\n"
      "c\tx2\tS\n"
      "c\ty1\tS\n"
      "p\ty1\tS\n"
      "p\ty2\tS\n"
      "q\ty1\tS\n"
      "q\ty2\tS\n");
  fm_config c = cfg("csv", "kc/chain.tsv", 2);
  snprintf(c.columns, sizeof c.columns, "user=1,item=2,industry=3");
  import_result_t r;
  fm_err err = {{0}};
  CHECK_OK(load(&r, &c, &err));
  CHECK_EQ_INT(r.st.kcore_rounds, 5);
  static const uint32_t want_users[5] = {1, 0, 1, 0, 1}, want_items[5] = {0, 1, 0, 1, 0};
  for (int i = 0; i < 5; i++) {
    CHECK_EQ_INT(r.st.rounds[i].users, want_users[i]);
    CHECK_EQ_INT(r.st.rounds[i].items, want_items[i]);
    CHECK_EQ_INT(r.st.rounds[i].inter, 1);
  }
  CHECK_EQ_INT(r.st.n_inter, 4);
  CHECK_EQ_INT(r.st.n_users, 2);
  CHECK_EQ_INT(r.st.n_items, 2);
  /* global ids number the surviving users densely in first-seen order */
  check_user(&r.shards[0], 0, 0, 2, I(0), T(5), I(1), T(6));
  import_free(&r);

  /* dropping a small industry pushes a user below k: the k-core runs again */
  put("kc/small.tsv",
      "u\tp1\tP\n"
      "u\tp2\tP\n"
      "u\tq1\tQ\n"
      "v\tp1\tP\n"
      "v\tp2\tP\n"
      "w\tq1\tQ\n"
      "w\tp1\tP\n");
  c = cfg("csv", "kc/small.tsv", 2);
  snprintf(c.columns, sizeof c.columns, "user=1,item=2,industry=3");
  c.min_platform = 3;
  CHECK_OK(load(&r, &c, &err));
  CHECK_EQ_INT(r.st.small_dropped, 1);
  CHECK_EQ_INT(r.st.small_inter, 2);
  CHECK(strstr(r.st.small_list, "q (2)"));
  CHECK_EQ_INT(r.st.kcore_rounds, 1);
  CHECK_EQ_INT(r.st.n_inter, 4);
  CHECK_EQ_INT(r.st.n_users, 2);
  CHECK_EQ_INT(r.n, 1);
  CHECK(!strcmp(r.shards[0].name, "p"));
  import_free(&r);

  /* everything filtered away is a data error, not an empty folder */
  c = cfg("csv", "kc/small.tsv", 5);
  snprintf(c.columns, sizeof c.columns, "user=1,item=2,industry=3");
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EDATA);
  CHECK(strstr(err.msg, "nothing left"));
  printf("kcore: ok\n");
}

/* --- ciao ------------------------------------------------------------------------- */

static void test_ciao(void) {
  put("ciao/derived/rating_with_timestamp.tsv",
      "2\t11\t3\t5\t0\t50\n"   /* 1 */
      "2\t10\t3\t5\t0\t60\n"   /* 2 */
      "1\t11\t3\t4\t0\t100\n"  /* 3: same time as line 4: file order decides */
      "1\t10\t3\t5\t0\t100\n"  /* 4 */
      "1\t20\t6\t5\t1\t10\n"   /* 5 */
      "2\t20\t6\t4\t2\t20\n"   /* 6 */
      "3\t10\t3\t0\t0\t5\n"    /* 7 rating 0 */
      "1\t10\t6\t5\t0\t200\n"  /* 8 (1, 10) again, filed under 6, later: a duplicate */
      "1 21 6 5 0\n"           /* 9 malformed: 5 fields */
      "4\t20\t6\t5\t0\t30\n"   /* 10 user 4 below the 2-core */
      "x\t20\t6\t5\t0\t30\n"); /* 11 malformed: user id */
  put("ciao/catalog.txt", "3 Beauty\r\n6 Food & Drink\r\n7 Unused\r\n");
  fm_config c = cfg("ciao", "ciao", 2);
  import_result_t r;
  fm_err err = {{0}};
  CHECK_OK(load(&r, &c, &err));
  CHECK_EQ_INT(r.st.lines, 11);
  CHECK_EQ_INT(r.st.malformed, 2);
  CHECK(strstr(r.st.msgs[0], "rating_with_timestamp.tsv:9:") && strstr(r.st.msgs[0], "expected 6 fields"));
  CHECK(strstr(r.st.msgs[1], ":11: column 1 (user)"));
  CHECK_EQ_INT(r.st.rating_zero, 1);
  CHECK_EQ_INT(r.st.duplicates, 1);
  CHECK_EQ_INT(r.st.kcore_rounds, 1);
  CHECK_EQ_INT(r.st.n_inter, 6);
  CHECK_EQ_INT(r.st.n_users, 2);
  CHECK_EQ_INT(r.st.n_items, 3);
  CHECK_EQ_INT(r.n, 2);
  write_and_reopen(&r, "ciao-out");
  const shard_t *s3 = &r.shards[0], *s6 = &r.shards[1];
  CHECK(!strcmp(s3->name, "c3") && !strcmp(s6->name, "c6"));
  /* items by numeric id: 10 -> 0, 11 -> 1; users by numeric id: 1 -> gid 0, 2 -> gid 1 */
  check_user(s3, 0, 0, 2, I(1), T(100), I(0), T(100)); /* tie at 100: file order 11, 10 */
  check_user(s3, 1, 1, 2, I(1), T(50), I(0), T(60));
  check_user(s6, 0, 0, 1, I(0), T(10));
  check_user(s6, 1, 1, 1, I(0), T(20));
  CHECK(has_tok(s3, 1, 0, fm_hash_feature("cat", "c3")));
  CHECK(has_tok(s6, 1, 0, fm_hash_feature("cat", "c6")));
  import_free(&r);

  /* --names, --strict, and a file given directly */
  path_of(c.names, sizeof c.names, "ciao/catalog.txt");
  CHECK_OK(load(&r, &c, &err));
  CHECK(!strcmp(r.shards[0].name, "beauty") && !strcmp(r.shards[1].name, "food-drink"));
  CHECK(has_tok(&r.shards[1], 1, 0, fm_hash_feature("cat", "food-drink")));
  import_free(&r);
  c.strict = 1;
  path_of(c.input, sizeof c.input, "ciao/derived/rating_with_timestamp.tsv");
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EDATA);
  CHECK(strstr(err.msg, "rating_with_timestamp.tsv:9:"));
  /* a folder without the text file explains the expected layout */
  c.strict = 0;
  path_of(c.input, sizeof c.input, "csv");
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EDATA);
  CHECK(strstr(err.msg, "userid productid categoryid"));
  /* --names with a line missing its name */
  put("ciao/badnames.txt", "3 Beauty\n6\n");
  path_of(c.input, sizeof c.input, "ciao");
  path_of(c.names, sizeof c.names, "ciao/badnames.txt");
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EDATA);
  CHECK(strstr(err.msg, "badnames.txt:2:"));
  printf("ciao: ok\n");
}

/* --- amazon ------------------------------------------------------------------------ */

static void test_amazon(void) {
  put("amz/beauty/datamaps.json",
      "{\n  \"id2user\": {\"1\": \"RA\", \"2\": \"RB\",\n    \"3\": \"RC\"},\n"
      "  \"id2item\": {\"1\": \"A1\", \"2\": \"A2\", \"3\": \"A3\"},\n  \"extra\": [1, {\"x\": null}, true]\n}\n");
  put("amz/beauty/sequential.txt", "1 1 2 3\n2 2 1\n3 3\n4 1 2\n");
  put("amz/sports/datamaps.json", "{\"id2user\": {\"1\": \"RB\", \"2\": \"RD\"}, \"id2item\": {\"1\": \"S1\", \"2\": \"S2\"}}");
  put("amz/sports/sequential.txt", "1 1 2\n2 2 1 1\n");
  put("amz/s3rec_attributes/Beauty_item2attributes.json", "{\"1\": [1, 2], \"2\": [3, 3], \"3\": [1], \"99\": [4]}");
  put("amz/notacategory/readme.txt", "ignored\n");
  fm_config c = cfg("amazon", "amz", 2);
  import_result_t r;
  fm_err err = {{0}};
  CHECK_OK(load(&r, &c, &err));
  CHECK_EQ_INT(r.st.lines, 6);
  CHECK_EQ_INT(r.st.malformed, 1);
  CHECK(strstr(r.st.msgs[0], "beauty/sequential.txt:4:") && strstr(r.st.msgs[0], "id2user"));
  CHECK_EQ_INT(r.st.duplicates, 1);
  CHECK_EQ_INT(r.st.kcore_rounds, 2); /* RC, then A3 */
  CHECK_EQ_INT(r.st.n_inter, 8);
  CHECK_EQ_INT(r.st.n_users, 3);
  CHECK_EQ_INT(r.st.n_items, 4);
  CHECK_EQ_INT(r.n, 2);
  write_and_reopen(&r, "amz-out");
  const shard_t *be = &r.shards[0], *sp = &r.shards[1];
  CHECK(!strcmp(be->name, "beauty") && !strcmp(sp->name, "sports"));
  /* gids RA 0, RB 1, RD 2: RB is the same person in both */
  check_user(be, 0, 0, 2, I(0), T(0), I(1), T(1));
  check_user(be, 1, 1, 2, I(1), T(0), I(0), T(1));
  check_user(sp, 0, 1, 2, I(0), T(0), I(1), T(1));
  check_user(sp, 1, 2, 2, I(1), T(0), I(0), T(1));
  CHECK_EQ_INT(n_tok(be, 1, 0), 3); /* cat + attr 1, 2 */
  CHECK(has_tok(be, 1, 0, fm_hash_feature("cat", "beauty")));
  CHECK(has_tok(be, 1, 0, fm_hash_feature("attr", "beauty/1")));
  CHECK(has_tok(be, 1, 0, fm_hash_feature("attr", "beauty/2")));
  CHECK_EQ_INT(n_tok(be, 1, 1), 2); /* cat + attr 3 (repeated once in the file) */
  CHECK(has_tok(be, 1, 1, fm_hash_feature("attr", "beauty/3")));
  CHECK_EQ_INT(n_tok(sp, 1, 0), 1);
  int noted = 0;
  for (uint32_t i = 0; i < r.st.n_notes; i++) noted |= strstr(r.st.notes[i], "sports: no s3rec") != NULL;
  CHECK(noted);
  /* users.tsv maps global ids back to reviewer ids */
  char p[600], line[64];
  path_of(p, sizeof p, "amz-out/users.tsv");
  FILE *f = fopen(p, "r");
  CHECK(f);
  CHECK(fgets(line, sizeof line, f) && line[0] == '#');
  CHECK(fgets(line, sizeof line, f) && !strcmp(line, "0\tRA\n"));
  CHECK(fgets(line, sizeof line, f) && !strcmp(line, "1\tRB\n"));
  fclose(f);
  import_free(&r);

  /* Toys' attributes need the id map; without it they are skipped with a note */
  put("amz/toys/datamaps.json", "{\"id2user\": {\"1\": \"RA\", \"2\": \"RB\"}, \"id2item\": {\"1\": \"T1\", \"2\": \"T2\"}}");
  put("amz/toys/sequential.txt", "1 1 2\n2 1 2\n");
  put("amz/s3rec_attributes/Toys_and_Games_item2attributes.json", "{\"7\": [5], \"8\": [6]}");
  CHECK_OK(load(&r, &c, &err));
  CHECK_EQ_INT(r.n, 3);
  CHECK_EQ_INT(n_tok(&r.shards[2], 1, 0), 1);
  import_free(&r);
  put("amz/derived/toys_s3rec_item_to_p5_item.tsv", "7\t2\n8\t1\n");
  CHECK_OK(load(&r, &c, &err));
  CHECK(has_tok(&r.shards[2], 1, 0, fm_hash_feature("attr", "toys/6"))); /* T1 = S3-Rec 8 */
  CHECK(has_tok(&r.shards[2], 1, 1, fm_hash_feature("attr", "toys/5")));
  import_free(&r);

  /* strict: the unknown user is an error */
  c.strict = 1;
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EDATA);
  CHECK(strstr(err.msg, "beauty/sequential.txt:4:"));
  c.strict = 0;
  /* broken JSON: file:line of the problem */
  put("amz/sports/datamaps.json", "{\"id2user\": {\"1\": \"RB\",\n\"2\" \"RD\"}}");
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EDATA);
  CHECK(strstr(err.msg, "sports/datamaps.json:2:") && strstr(err.msg, "':'"));
  /* a missing datamaps.json names the path and the layout */
  char dm[600];
  path_of(dm, sizeof dm, "amz/sports/datamaps.json");
  CHECK(unlink(dm) == 0);
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EDATA);
  CHECK(strstr(err.msg, "sports/datamaps.json is missing") && strstr(err.msg, "sequential.txt"));
  path_of(c.input, sizeof c.input, "csv");
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EDATA);
  CHECK(strstr(err.msg, "no <category>/sequential.txt"));
  printf("amazon: ok\n");
}

/* --- movielens --------------------------------------------------------------------- */

static void test_movielens(void) {
  put("ml/u.genre", "unknown|0\nAction|1\nComedy|2\n\n");
  put("ml/u.item",
      "1|Toy|01-Jan-1995||http://x|0|0|1\n"
      "2|Gold|01-Jan-1995||http://y|0|1|1\n"
      "3|Old|01-Jan-1970||http://z|0|1|0\n"
      "4|None|||http://w|0|0|0\n");
  put("ml/u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n3|15|M|student|12345\n");
  put("ml/u.data",
      "1\t1\t5\t100\n"
      "1\t2\t4\t101\n"
      "2\t1\t3\t102\n"
      "2\t2\t5\t103\n"
      "3\t3\t0\t104\n" /* rating 0 */
      "3\t1\t5\t105\n" /* user 3 below the 2-core */
      "1\t3\t2\t106\n"
      "2\t3\t1\t107\n"
      "9\t9\t5\t108\n"); /* movie 9 is not in u.item */
  fm_config c = cfg("movielens", "ml", 2);
  import_result_t r;
  fm_err err = {{0}};
  CHECK_OK(load(&r, &c, &err));
  CHECK_EQ_INT(r.st.lines, 9);
  CHECK_EQ_INT(r.st.malformed, 1);
  CHECK(strstr(r.st.msgs[0], "u.data:9:") && strstr(r.st.msgs[0], "u.item"));
  CHECK_EQ_INT(r.st.rating_zero, 1);
  CHECK_EQ_INT(r.st.kcore_rounds, 1);
  CHECK_EQ_INT(r.st.n_inter, 6);
  CHECK_EQ_INT(r.st.n_users, 2);
  CHECK_EQ_INT(r.st.n_items, 3);
  CHECK_EQ_INT(r.n, 2);
  write_and_reopen(&r, "ml-out");
  const shard_t *ac = &r.shards[0], *co = &r.shards[1];
  CHECK(!strcmp(ac->name, "action") && !strcmp(co->name, "comedy"));
  check_user(ac, 0, 0, 2, I(0), T(101), I(1), T(106)); /* movies 2, 3 */
  check_user(ac, 1, 1, 2, I(0), T(103), I(1), T(107));
  check_user(co, 0, 0, 1, I(0), T(100));
  CHECK(has_tok(ac, 0, 0, fm_hash_feature("age", "18-24")));
  CHECK(has_tok(ac, 0, 0, fm_hash_feature("gender", "m")));
  CHECK(has_tok(ac, 0, 0, fm_hash_feature("occupation", "technician")));
  CHECK(has_tok(ac, 0, 1, fm_hash_feature("gender", "f")));
  CHECK(has_tok(ac, 0, 1, fm_hash_feature("age", "45-54")));
  CHECK_EQ_INT(n_tok(ac, 1, 0), 3); /* movie 2: genre action, genre comedy, year */
  CHECK(has_tok(ac, 1, 0, fm_hash_feature("genre", "action")));
  CHECK(has_tok(ac, 1, 0, fm_hash_feature("genre", "comedy")));
  CHECK(has_tok(ac, 1, 0, fm_hash_feature("year", "1990s")));
  CHECK(has_tok(ac, 1, 1, fm_hash_feature("year", "1970s")));
  import_free(&r);
  /* strict: the unknown movie is an error */
  c.strict = 1;
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EDATA);
  CHECK(strstr(err.msg, "u.data:9:"));
  c.strict = 0;
  /* a malformed u.item line */
  put("ml/u.item", "1|Toy|01-Jan-1995||http://x|0|0|1\n2|Gold|01-Jan-1995||http://y|0|2|1\n");
  c.strict = 1;
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EDATA);
  CHECK(strstr(err.msg, "u.item:2: genre flag"));
  c.strict = 0;
  /* a missing file names the path and the layout */
  char p[600];
  path_of(p, sizeof p, "ml/u.genre");
  CHECK(unlink(p) == 0);
  CHECK_EQ_INT(import_load(&r, &c, &err), IMPORT_EDATA);
  CHECK(strstr(err.msg, "u.genre is missing") && strstr(err.msg, "ml-100k"));
  printf("movielens: ok\n");
}

/* --- the JSON reader and the small tools ----------------------------------------------- */

static int on_str(void *ctx, const char *k, const char *v, uint64_t line, fm_err *err) {
  (void)err;
  char *out = ctx;
  size_t n = strlen(out);
  snprintf(out + n, 256 - n, "[%s=%s@%llu]", k, v, (unsigned long long)line);
  return 0;
}

static void test_json(void) {
  put("j/a.json", "\xEF\xBB\xBF{\"skip\": {\"deep\": [1, 2.5e3, -0.5, \"s\"]},\n"
                  " \"m\": {\"k\\u00e9\": \"v\\\"\\n\", \"2\": 42,\n \"\\ud83d\\ude00\": \"\"}}\n");
  char out[256] = "", p[600];
  fm_err err = {{0}};
  path_of(p, sizeof p, "j/a.json");
  CHECK_OK(imp_json_read_members(p, "m", on_str, out, &err));
  CHECK(!strcmp(out, "[k\xc3\xa9=v\"\n@2][2=42@2][\xf0\x9f\x98\x80=@3]"));
  CHECK(imp_json_read_members(p, "absent", on_str, out, &err) == -1);
  CHECK(strstr(err.msg, "no member \"absent\""));
  static const char *const BAD[] = {
      "{\"m\": {\"a\": \"b\"}",         /* unterminated */
      "{\"m\": {\"a\": \"b\"}} x",      /* trailing garbage */
      "{\"m\": {\"a\": \"\\x\"}}",      /* bad escape */
      "{\"m\": {\"a\": \"\\ud800\"}}",  /* lone surrogate */
      "{\"m\": {\"a\": tru}}",          /* bad literal (as a member value) */
      "{\"m\": {\"a\": 01.}}",          /* bad number */
      "\n\n{\"m\": {\"a\" 1}}",         /* missing colon, line 3 */
  };
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
    put("j/bad.json", BAD[i]);
    path_of(p, sizeof p, "j/bad.json");
    out[0] = '\0';
    CHECK(imp_json_read_members(p, "m", on_str, out, &err) == -1);
    CHECK(strstr(err.msg, "j/bad.json:"));
  }
  CHECK(strstr(err.msg, "bad.json:3: expected ':'"));

  char s[64];
  imp_slug(s, sizeof s, "Children's");
  CHECK(!strcmp(s, "childrens"));
  imp_slug(s, sizeof s, "  Ciao Caf? ");
  CHECK(!strcmp(s, "ciao-caf"));
  imp_slug(s, sizeof s, "???");
  CHECK(!strcmp(s, ""));
  char line[] = " a ,\"b,\"\"c\"\"\" , d\t";
  char *f[4];
  CHECK_EQ_INT(imp_split(line, ',', 1, f, 4), 3);
  CHECK(!strcmp(f[0], "a") && !strcmp(f[1], "b,\"c\"") && !strcmp(f[2], "d"));
  char line2[] = "x,\"open";
  CHECK_EQ_INT(imp_split(line2, ',', 1, f, 4), -1);
  char line4[] = "\"a b\" c";
  CHECK_EQ_INT(imp_split(line4, ' ', 1, f, 4), 2);
  CHECK(!strcmp(f[0], "a b") && !strcmp(f[1], "c"));
  char line3[] = "1,2,3,4,5";
  CHECK_EQ_INT(imp_split(line3, ',', 0, f, 4), 5);
  printf("json and tools: ok\n");
}

int main(void) {
  snprintf(g_root, sizeof g_root, "/tmp/fedmeta-import.XXXXXX");
  CHECK(mkdtemp(g_root) != NULL);
  test_json();
  test_csv();
  test_kcore();
  test_ciao();
  test_amazon();
  test_movielens();
  rm_tree(g_root);
  printf("test_import: ok\n");
  return 0;
}
