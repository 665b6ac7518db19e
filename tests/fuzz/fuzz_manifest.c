/* tests/fuzz/fuzz_manifest.c: libFuzzer harness for manifest_read and
 * manifest_shard_open (common/manifest.h): the text list of a data folder's
 * platforms that every rank reads first.
 *
 * Input: the manifest text. The folder also holds one good shard,
 * "p00-hand.shard" (platform 0 "hand", 3 users, 4 items, 5 interactions), so
 * that mutated entries reach the shard-versus-entry comparison. An accepted
 * manifest must follow the rules manifest.h states (names and file names,
 * platform order) and survive a write/read round trip unchanged. */
#include <stdint.h>
#include <string.h>

#include "common/manifest.h"
#include "tests/fuzz/fuzz_util.h"

static void write_hand_shard(void) {
  shard_t s;
  fm_err err;
  if (shard_alloc(&s, 3, 4, 5, 4, 6, &err)) abort();
  snprintf(s.name, sizeof s.name, "hand");
  s.platform = 0;
  const uint32_t up[] = {0, 3, 3, 5}, it[] = {2, 0, 2, 3, 1};
  const int64_t ts[] = {100, 100, 250, -5, 1700000000000LL};
  const uint32_t ufp[] = {0, 2, 3, 4}, uf[] = {11, 12, 13, 0xffffffffu};
  const uint32_t ifp[] = {0, 1, 3, 3, 6}, ifs[] = {21, 22, 23, 24, 25, 26};
  memcpy(s.user_ptr, up, sizeof up);
  memcpy(s.inter_item, it, sizeof it);
  memcpy(s.inter_ts, ts, sizeof ts);
  memcpy(s.ufeat_ptr, ufp, sizeof ufp);
  memcpy(s.ufeat, uf, sizeof uf);
  memcpy(s.ifeat_ptr, ifp, sizeof ifp);
  memcpy(s.ifeat, ifs, sizeof ifs);
  char path[512];
  fuzz_path(path, sizeof path, "data/p00-hand.shard");
  fuzz_mkdirs_for(path);
  if (shard_write(&s, path, &err)) {
    fprintf(stderr, "fuzz_manifest: %s\n", err.msg);
    abort();
  }
  shard_free(&s);
}

static int bad_text(const char *s, size_t max) {
  size_t n = strlen(s);
  return n == 0 || n >= max || strpbrk(s, " \t\r\n") != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready = 0;
  if (!ready) {
    write_hand_shard();
    ready = 1;
  }
  char dir[512], path[600], again[600];
  fuzz_path(dir, sizeof dir, "data");
  fuzz_path(path, sizeof path, "data/" MANIFEST_FILE);
  fuzz_path(again, sizeof again, "rewritten.txt");
  fuzz_write(path, data, size);
  manifest_t m;
  fm_err err;
  if (manifest_read(&m, path, &err) != 0) {
    FUZZ_CHECK(m.n == 0 && m.e == NULL, "a refused manifest must hold nothing");
    FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL, "error message not terminated");
    return 0;
  }
  FUZZ_CHECK(m.n >= 1 && m.n <= MANIFEST_MAX_PLATFORMS, "%u platforms", m.n);
  for (uint32_t i = 0; i < m.n; i++) {
    const manifest_entry_t *e = &m.e[i];
    FUZZ_CHECK(e->platform == i, "entry %u has platform %u", i, e->platform);
    FUZZ_CHECK(!bad_text(e->name, SHARD_NAME_MAX), "entry %u: bad name accepted", i);
    FUZZ_CHECK(!bad_text(e->file, MANIFEST_FILE_MAX) && !strchr(e->file, '/') && e->file[0] != '.',
               "entry %u: bad file name accepted", i);
    FUZZ_CHECK(manifest_find(&m, e->name) == (int)i, "entry %u: name not unique", i);
  }
  /* round trip */
  FUZZ_CHECK(manifest_write(&m, again, "fuzz", &err) == 0, "rewrite: %s", err.msg);
  manifest_t m2;
  FUZZ_CHECK(manifest_read(&m2, again, &err) == 0, "re-read: %s", err.msg);
  FUZZ_CHECK(m2.n == m.n && !memcmp(m2.e, m.e, m.n * sizeof *m.e), "manifest changed in a round trip");
  manifest_free(&m2);
  /* every entry against the folder (only p00-hand.shard exists) */
  for (uint32_t i = 0; i < m.n && i < 4; i++) {
    shard_t s;
    if (manifest_shard_open(&s, &m, dir, i, &err) == 0) {
      FUZZ_CHECK(!strcmp(s.name, m.e[i].name) && s.n_users == m.e[i].n_users &&
                 s.n_items == m.e[i].n_items && s.n_inter == m.e[i].n_inter && s.platform == i,
                 "shard accepted against a different entry");
      shard_free(&s);
    } else {
      FUZZ_CHECK(s.user_ptr == NULL, "a refused shard must hold nothing");
    }
  }
  manifest_free(&m);
  return 0;
}
