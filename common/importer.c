/* common/importer.c: the importers' entry points (see importer.h): pick the
 * format reader, name the industries, clean, and write the folder; the
 * summary of what was dropped and why. */
#include "common/importer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/import_build.h"
#include "common/fileio.h"
#include "common/manifest.h"

void import_free(import_result_t *r) {
  if (!r) return;
  for (uint32_t p = 0; r->shards && p < r->n; p++) shard_free(&r->shards[p]);
  for (uint32_t p = 0; r->item_raw && p < r->n; p++) free(r->item_raw[p]);
  free(r->shards);
  free(r->item_raw);
  free(r->users_elsewhere);
  free(r->user_raw);
  free(r->ids);
  memset(r, 0, sizeof *r);
}

/* Copies s into out (size n) with control characters replaced, for one-line output. */
static void one_line(char *out, size_t n, const char *s) {
  size_t i = 0;
  for (; s[i] && i + 1 < n; i++) out[i] = (unsigned char)s[i] < 32 ? '?' : s[i];
  out[i] = '\0';
}

/* r->users_elsewhere: per platform, how many of its users also have
 * interactions on another platform (joined by the global user id): the
 * cross-industry signal a new industry could draw on only if platforms
 * shared per-user data, which fedmeta does not. Returns 0, or -1. */
static int count_users_elsewhere(import_result_t *r, fm_err *err) {
  const uint32_t nu = r->st.n_users;
  uint8_t *seen = calloc(nu ? nu : 1, 1); /* platforms per user, saturating at 2 */
  r->users_elsewhere = calloc(r->n ? r->n : 1, sizeof *r->users_elsewhere);
  if (!seen || !r->users_elsewhere) {
    free(seen);
    return fm_fail(err, "out of memory counting the users on several platforms");
  }
  for (uint32_t p = 0; p < r->n; p++)
    for (uint32_t u = 0; u < r->shards[p].n_users; u++) {
      uint32_t g = r->shards[p].user_gid[u];
      if (g >= nu) {
        free(seen);
        return fm_fail(err, "platform %u: user %u has global id %u, over the %u users kept", p, u, g, nu);
      }
      if (seen[g] < 2) seen[g]++;
    }
  for (uint32_t p = 0; p < r->n; p++)
    for (uint32_t u = 0; u < r->shards[p].n_users; u++)
      r->users_elsewhere[p] += seen[r->shards[p].user_gid[u]] > 1;
  free(seen);
  return 0;
}

int import_load(import_result_t *r, const fm_config *c, fm_err *err) {
  memset(r, 0, sizeof *r);
  if (!c->format[0]) {
    fm_fail(err, "--format is required: ciao, amazon, movielens or csv");
    return IMPORT_EUSAGE;
  }
  if (!c->input[0]) {
    fm_fail(err, "--input PATH is required (the published data set: a file or a folder)");
    return IMPORT_EUSAGE;
  }
  imp_data d;
  memset(&d, 0, sizeof d);
  d.st = &r->st;
  d.strict = c->strict;
  int rc, ciao = !strcmp(c->format, "ciao");
  if (ciao || !strcmp(c->format, "csv")) rc = import_read_delimited(&d, c, ciao, err);
  else if (!strcmp(c->format, "amazon")) rc = import_read_amazon(&d, c, err);
  else if (!strcmp(c->format, "movielens")) rc = import_read_movielens(&d, c, err);
  else {
    fm_fail(err, "--format: '%s' is not one of ciao, amazon, movielens, csv", c->format);
    rc = IMPORT_EUSAGE;
  }
  if (!rc && import_name_industries(&d, c->names, ciao ? "c" : NULL, err)) rc = IMPORT_EDATA;
  if (!rc) rc = import_clean(r, &d, c, err);
  if (!rc && count_users_elsewhere(r, err)) rc = IMPORT_EDATA;
  imp_data_free(&d);
  if (rc) {
    import_free(r);
    return rc == IMPORT_EUSAGE ? IMPORT_EUSAGE : IMPORT_EDATA;
  }
  snprintf(r->format, sizeof r->format, "%s", c->format);
  one_line(r->input, sizeof r->input, c->input);
  r->kcore = c->kcore;
  r->min_platform = c->min_platform;
  r->min_rating = c->min_rating;
  char sel[256], names[CFG_PATH_MAX];
  one_line(sel, sizeof sel, c->industries_sel);
  one_line(names, sizeof names, c->names);
  /* at most ~480 characters: manifest_read accepts lines up to 510 */
  snprintf(r->comment, sizeof r->comment,
           "fedmeta prepare: format=%s input=%.120s min_rating=%g kcore=%u min_platform=%u select=%.60s names=%.80s%s: "
           "%llu interactions, %u users, %u items",
           c->format, r->input, (double)c->min_rating, c->kcore, c->min_platform, sel[0] ? sel : "all",
           names[0] ? names : "-", c->items_per_industry ? " items-per-industry" : "",
           (unsigned long long)r->st.n_inter, r->st.n_users, r->st.n_items);
  return 0;
}

/* --- writing --------------------------------------------------------------------- */

/* Writes path atomically: PATH.tmp, fsync, rename. kind 0 = users.tsv, 1 = items.tsv. */
static int write_ids(const import_result_t *r, const char *path, int kind, fm_err *err) {
  fm_atomic a;
  if (fm_atomic_open(&a, path, err)) return -1;
  FILE *f = a.f;
  if (kind == 0) {
    fprintf(f, "# user_gid\traw_user_id\n");
    for (uint32_t g = 0; g < r->st.n_users; g++) fprintf(f, "%u\t%s\n", g, r->ids + r->user_raw[g]);
  } else {
    fprintf(f, "# platform\tlocal_item\traw_item_id\n");
    for (uint32_t p = 0; p < r->n; p++)
      for (uint32_t i = 0; i < r->shards[p].n_items; i++)
        fprintf(f, "%u\t%u\t%s\n", p, i, r->ids + r->item_raw[p][i]);
  }
  return fm_atomic_commit(&a, err); /* reports any write error (ferror) */
}

int import_write(const import_result_t *r, const char *dir, fm_err *err) {
  if (!r->n) return fm_fail(err, "import_write: nothing to write");
  if (fm_mkdir_p(dir, err)) return fm_wrap(err, "--out");
  manifest_t m;
  if (manifest_init(&m, r->n, err)) return -1;
  char path[CFG_PATH_MAX + 256];
  for (uint32_t p = 0; p < r->n; p++) {
    manifest_entry_t *e = &m.e[p];
    const shard_t *s = &r->shards[p];
    snprintf(e->name, sizeof e->name, "%s", s->name);
    snprintf(e->file, sizeof e->file, "p%02u-%s.shard", p, s->name);
    e->n_users = s->n_users;
    e->n_items = s->n_items;
    e->n_inter = s->n_inter;
    if (manifest_path(path, sizeof path, dir, e->file, err) || shard_write(s, path, err)) goto fail;
  }
  if (manifest_path(path, sizeof path, dir, "users.tsv", err) || write_ids(r, path, 0, err) ||
      manifest_path(path, sizeof path, dir, "items.tsv", err) || write_ids(r, path, 1, err) ||
      manifest_path(path, sizeof path, dir, MANIFEST_FILE, err) || manifest_write(&m, path, r->comment, err))
    goto fail;
  manifest_free(&m);
  return 0;
fail:
  manifest_free(&m);
  return -1;
}

/* --- the summary ------------------------------------------------------------------- */

void import_print_summary(const import_result_t *r, FILE *f) {
  const import_stats_t *st = &r->st;
  fprintf(f, "fedmeta prepare: %s from %s\n", r->format, r->input);
  fprintf(f, "  %-26s %12llu\n", "lines read", (unsigned long long)st->lines);
  fprintf(f, "  %-26s %12llu\n", "malformed (skipped)", (unsigned long long)st->malformed);
  for (uint32_t i = 0; i < st->n_msgs; i++) fprintf(f, "      %s\n", st->msgs[i]);
  if (st->malformed > st->n_msgs)
    fprintf(f, "      ... and %llu more\n", (unsigned long long)(st->malformed - st->n_msgs));
  fprintf(f, "  %-26s %12llu\n", "interactions parsed", (unsigned long long)st->parsed + st->rating_zero + st->rating_low);
  fprintf(f, "  %-26s %12llu\n", "dropped: rating <= 0", (unsigned long long)st->rating_zero);
  char lbl[64];
  snprintf(lbl, sizeof lbl, "dropped: rating < %g", r->min_rating);
  fprintf(f, "  %-26s %12llu\n", lbl, (unsigned long long)st->rating_low);
  fprintf(f, "  %-26s %12llu\n", "dropped: not --select'ed", (unsigned long long)st->not_selected);
  fprintf(f, "  %-26s %12llu   (a (user, item) pair keeps its earliest copy)\n", "dropped: duplicates",
          (unsigned long long)st->duplicates);
  snprintf(lbl, sizeof lbl, "dropped: %u-core", r->kcore);
  fprintf(f, "  %-26s %12llu   (%u round%s removing something", lbl, (unsigned long long)st->kcore_inter,
          st->kcore_rounds, st->kcore_rounds == 1 ? "" : "s");
  if (r->kcore <= 1) fprintf(f, "; off");
  fprintf(f, ")\n");
  for (uint32_t i = 0; i < st->kcore_rounds && i < IMPORT_MAX_ROUNDS; i++)
    fprintf(f, "      round %u: %u users and %u items below %u, %llu interactions removed\n", i + 1,
            st->rounds[i].users, st->rounds[i].items, r->kcore, (unsigned long long)st->rounds[i].inter);
  snprintf(lbl, sizeof lbl, "dropped: industries < %u", r->min_platform);
  fprintf(f, "  %-26s %12llu   (%u industr%s%s%s)\n", lbl, (unsigned long long)st->small_inter, st->small_dropped,
          st->small_dropped == 1 ? "y" : "ies", st->small_dropped ? ": " : "", st->small_list);
  fprintf(f, "  %-26s %12llu   interactions, %u users, %u items, %u industries\n", "kept",
          (unsigned long long)st->n_inter, st->n_users, st->n_items, r->n);
  for (uint32_t i = 0; i < st->n_notes; i++) fprintf(f, "  note: %s\n", st->notes[i]);
  int w = 24; /* the name column fits the longest name */
  for (uint32_t p = 0; p < r->n; p++) w = (int)strlen(r->shards[p].name) > w ? (int)strlen(r->shards[p].name) : w;
  fprintf(f, "  %8s  %-*s %8s %8s %12s %14s\n", "platform", w, "name", "users", "items", "interactions",
          "users elsewhere");
  for (uint32_t p = 0; p < r->n; p++) {
    fprintf(f, "  %8u  %-*s %8u %8u %12u ", p, w, r->shards[p].name, r->shards[p].n_users, r->shards[p].n_items,
            r->shards[p].n_inter);
    uint32_t e = r->users_elsewhere[p];
    fprintf(f, "%6u (%4.1f %%)\n", e, r->shards[p].n_users ? 100.0 * e / r->shards[p].n_users : 0.0);
  }
  fprintf(f, "  (users elsewhere: the platform's users who also interacted on another platform)\n");
}

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 32) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

void import_print_json(const import_result_t *r, FILE *f) {
  const import_stats_t *st = &r->st;
  fprintf(f, "{\"format\":");
  json_str(f, r->format);
  fprintf(f, ",\"input\":");
  json_str(f, r->input);
  fprintf(f,
          ",\"lines\":%llu,\"malformed\":%llu,\"rating_dropped\":%llu,\"not_selected\":%llu,\"duplicates\":%llu,"
          "\"kcore\":%u,\"kcore_rounds\":%u,\"kcore_removed\":%llu,\"small_dropped\":%u,\"small_removed\":%llu,"
          "\"interactions\":%llu,\"users\":%u,\"items\":%u,\"platforms\":[",
          (unsigned long long)st->lines, (unsigned long long)st->malformed,
          (unsigned long long)(st->rating_zero + st->rating_low), (unsigned long long)st->not_selected,
          (unsigned long long)st->duplicates, r->kcore, st->kcore_rounds, (unsigned long long)st->kcore_inter,
          st->small_dropped, (unsigned long long)st->small_inter, (unsigned long long)st->n_inter, st->n_users,
          st->n_items);
  for (uint32_t p = 0; p < r->n; p++) {
    fprintf(f, "%s{\"name\":", p ? "," : "");
    json_str(f, r->shards[p].name);
    fprintf(f, ",\"users\":%u,\"items\":%u,\"interactions\":%u,\"users_elsewhere\":%u}", r->shards[p].n_users,
            r->shards[p].n_items, r->shards[p].n_inter, r->users_elsewhere[p]);
  }
  fprintf(f, "]}\n");
}
