/* tests/fuzz/fuzz_import.h: what the four importer harnesses share.
 *
 * Each importer input starts with one settings byte, then the file sections
 * (fuzz_util.h) that the harness writes as the published data set:
 *   bit 0     --strict
 *   bits 1-2  --kcore 0, 1, 2 or 3
 *   bit 3     --items-per-industry (csv only)
 *   bits 4-5  --header 0..3 (csv only)
 *   bit 6     --min-rating 3 instead of 1
 *   bit 7     --min-platform 3 instead of 1
 *
 * fuzz_import_run loads the data set with import_load and, when it is
 * accepted, checks what `fedmeta prepare` then relies on: every shard passes
 * shard_validate, counts add up, industry names make valid manifest entries,
 * the manifest comment is one line that manifest_read accepts; then it writes
 * the folder with import_write and reads every shard back through the
 * manifest, which must give the same shards. */
#ifndef FEDMETA_FUZZ_IMPORT_H
#define FEDMETA_FUZZ_IMPORT_H
#include <string.h>

#include "common/config.h"
#include "common/importer.h"
#include "common/manifest.h"
#include "tests/fuzz/fuzz_util.h"

/* Defaults plus the settings byte. */
static inline void fuzz_import_config(fm_config *c, const char *format, uint8_t bits) {
  config_defaults(c);
  snprintf(c->format, sizeof c->format, "%s", format);
  c->strict = bits & 1;
  c->kcore = (bits >> 1) & 3;
  c->items_per_industry = (bits >> 3) & 1;
  c->header = (bits >> 4) & 3;
  c->min_rating = (bits & 0x40) ? 3.0f : 1.0f;
  c->min_platform = (bits & 0x80) ? 3 : 1;
}

static inline FILE *fuzz_devnull(void) {
  static FILE *f = NULL;
  if (!f) f = fopen("/dev/null", "w");
  if (!f) abort();
  return f;
}

static inline void fuzz_import_check(const import_result_t *r) {
  fm_err err;
  uint64_t inter = 0;
  FUZZ_CHECK(r->n >= 1, "an accepted import has no platform");
  for (uint32_t p = 0; p < r->n; p++) {
    const shard_t *s = &r->shards[p];
    FUZZ_CHECK(shard_validate(s, &err) == 0, "platform %u: %s", p, err.msg);
    FUZZ_CHECK(s->platform == p, "platform %u numbered %u", p, s->platform);
    size_t nl = strlen(s->name);
    FUZZ_CHECK(nl >= 1 && nl < SHARD_NAME_MAX && !strpbrk(s->name, " \t\r\n/"),
               "platform %u: name '%s' cannot be a manifest entry", p, s->name);
    for (uint32_t q = 0; q < p; q++) FUZZ_CHECK(strcmp(r->shards[q].name, s->name), "name '%s' twice", s->name);
    FUZZ_CHECK(s->user_gid, "platform %u: no user_gid", p);
    for (uint32_t u = 0; u < s->n_users; u++)
      FUZZ_CHECK(s->user_gid[u] < r->st.n_users, "platform %u user %u: gid %u of %u", p, u, s->user_gid[u],
                 r->st.n_users);
    FUZZ_CHECK(r->users_elsewhere[p] <= s->n_users, "platform %u: %u of its %u users elsewhere", p,
               r->users_elsewhere[p], s->n_users);
    inter += s->n_inter;
  }
  FUZZ_CHECK(inter == r->st.n_inter, "shards hold %llu interactions, the summary says %llu",
             (unsigned long long)inter, (unsigned long long)r->st.n_inter);
  FUZZ_CHECK(!strchr(r->comment, '\n') && strlen(r->comment) + 2 <= 510,
             "manifest comment of %zu characters or with a new line", strlen(r->comment));
  import_print_summary(r, fuzz_devnull());
  import_print_json(r, fuzz_devnull());
}

/* Loads the data set at fuzz_dir()/input_rel; with names_rel (may be NULL) as --names. */
static inline void fuzz_import_run(fm_config *c, const char *input_rel, const char *names_rel) {
  fuzz_path(c->input, sizeof c->input, input_rel);
  if (names_rel) fuzz_path(c->names, sizeof c->names, names_rel);
  import_result_t r;
  fm_err err;
  int rc = import_load(&r, c, &err);
  if (rc != 0) {
    FUZZ_CHECK(rc == IMPORT_EDATA || rc == IMPORT_EUSAGE, "import_load returned %d", rc);
    FUZZ_CHECK(r.n == 0 && r.shards == NULL && r.ids == NULL, "a refused import must hold nothing");
    FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL, "error message not terminated");
    return;
  }
  fuzz_import_check(&r);
  char out[512];
  fuzz_path(out, sizeof out, "out");
  fuzz_rm_tree(out);
  FUZZ_CHECK(import_write(&r, out, &err) == 0, "import_write failed after import_load accepted: %s", err.msg);
  manifest_t m;
  char mpath[600];
  fuzz_path(mpath, sizeof mpath, "out/" MANIFEST_FILE);
  FUZZ_CHECK(manifest_read(&m, mpath, &err) == 0, "the written manifest does not read: %s", err.msg);
  FUZZ_CHECK(m.n == r.n, "manifest lists %u platforms, %u imported", m.n, r.n);
  for (uint32_t p = 0; p < m.n; p++) {
    shard_t s;
    FUZZ_CHECK(manifest_shard_open(&s, &m, out, p, &err) == 0, "written platform %u: %s", p, err.msg);
    const shard_t *a = &r.shards[p];
    FUZZ_CHECK(s.n_users == a->n_users && s.n_items == a->n_items && s.n_inter == a->n_inter &&
               !memcmp(s.inter_item, a->inter_item, 4 * (size_t)a->n_inter) &&
               !memcmp(s.inter_ts, a->inter_ts, 8 * (size_t)a->n_inter) &&
               !memcmp(s.user_ptr, a->user_ptr, 4 * ((size_t)a->n_users + 1)),
               "platform %u changed on disk", p);
    shard_free(&s);
  }
  manifest_free(&m);
  import_free(&r);
}

#endif
