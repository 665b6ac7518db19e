/* common/import_build.h: internals shared by the importers (not a public API).
 *
 * A format reader (import_csv.c, import_amazon.c, import_movielens.c) fills an
 * imp_data: interned user, item and industry keys, one record per parsed
 * interaction in file order, and feature tokens per user and per item.
 * import_clean.c then filters the records and builds the shards. The helpers
 * here (string interning, bounded line reading, field splitting, number
 * parsing, malformed-line accounting) are in import_util.c; the JSON reader
 * for Amazon's files in import_json.c. */
#ifndef FEDMETA_IMPORT_BUILD_H
#define FEDMETA_IMPORT_BUILD_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/config.h"
#include "common/error.h"
#include "common/importer.h"

/* --- string interning: key -> dense id in first-seen order -------------- */

typedef struct imp_strtab {
  char *arena;          /* keys, NUL-terminated, back to back */
  size_t arena_len, arena_cap;
  size_t *off;          /* (n) offset of key i in arena */
  uint32_t n, n_cap;
  uint32_t *slot;       /* (cap) open addressing: id + 1, 0 = empty */
  uint32_t cap;         /* power of two */
} imp_strtab;

/* Id of key s[0..len) (no NUL inside), adding it if new. 0 or -1 (memory). */
int imp_strtab_intern(imp_strtab *t, const char *s, size_t len, uint32_t *id, fm_err *err);
/* Id of the key, or -1 if absent. */
int64_t imp_strtab_find(const imp_strtab *t, const char *s, size_t len);
/* The key of id (valid until the next intern). */
const char *imp_strtab_get(const imp_strtab *t, uint32_t id);
void imp_strtab_free(imp_strtab *t);

/* --- the parsed data set ------------------------------------------------ */

typedef struct imp_rec {
  uint32_t user, item, ind; /* interned ids */
  int64_t ts;               /* seconds, or a position when the format has no time */
} imp_rec;                  /* the array index is the file order */

typedef struct imp_tok {
  uint32_t id, tok;         /* user or item id, fm_hash_feature token */
} imp_tok;

typedef struct imp_data {
  imp_strtab users, items, inds; /* raw keys; an item key may include its industry */
  char (*ind_name)[SHARD_NAME_MAX]; /* (inds.n) display names, set by import_name_industries */
  imp_rec *rec;
  size_t n_rec, cap_rec;
  imp_tok *utok, *itok;          /* tokens in the order added */
  size_t n_utok, cap_utok, n_itok, cap_itok;
  int cat_token;   /* give every item of a shard the token cat=<industry name> */
  int strict;
  import_stats_t *st;
} imp_data;

void imp_data_free(imp_data *d);
int imp_add_rec(imp_data *d, uint32_t user, uint32_t item, uint32_t ind, int64_t ts, fm_err *err);
int imp_add_utok(imp_data *d, uint32_t user, uint32_t tok, fm_err *err);
int imp_add_itok(imp_data *d, uint32_t item, uint32_t tok, fm_err *err);

/* A malformed line or entry: with --strict an error (returns -1, message in
 * err), otherwise counted, its message kept for the summary, and 0 returned
 * so that the caller skips it. The message should read "file:line: field:
 * expected ..., got ...". */
int imp_bad(imp_data *d, fm_err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A note for the summary (at most IMPORT_MAX_NOTES kept). */
void imp_note(imp_data *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- reading lines ------------------------------------------------------ */

typedef struct imp_lines {
  FILE *f;
  const char *path;
  char *buf;
  size_t cap;
  uint64_t line;   /* number of the line last returned, 1-based */
} imp_lines;

/* Opens path; on failure the message names the path and `layout`, a
 * description of what was expected there. */
int imp_lines_open(imp_lines *r, const char *path, const char *layout, fm_err *err);
/* Next line without its end of line (\n or \r\n) in *line (NUL-terminated,
 * writable until the next call). Returns 1, 0 at the end, 2 for a line longer
 * than IMPORT_MAX_LINE (skipped, *line is NULL), -1 on a read error. */
int imp_lines_next(imp_lines *r, char **line, size_t *len, fm_err *err);
void imp_lines_close(imp_lines *r);

/* Splits line in place into at most max fields. delim 0 splits on runs of
 * spaces and tabs (leading and trailing ignored); otherwise on each delim,
 * and with quotes a field may be "quoted" with "" for a quote. Returns the
 * number of fields, max + 1 if there were more, or -1 for an unterminated
 * quote. Unquoted fields are trimmed of spaces (and of tabs unless the
 * delimiter is a tab). */
int imp_split(char *line, char delim, int quotes, char **fields, int max);

/* Strict number parsing of a whole field: 0 or -1. */
int imp_parse_i64(const char *s, int64_t *out);
int imp_parse_u64(const char *s, uint64_t *out);
int imp_parse_f64(const char *s, double *out);

/* Interns s as a user / item / industry key. */
int imp_user(imp_data *d, const char *s, uint32_t *id, fm_err *err);
int imp_item(imp_data *d, const char *s, uint32_t *id, fm_err *err);
int imp_ind(imp_data *d, const char *s, uint32_t *id, fm_err *err);

/* True if path exists and is a regular file / a directory. */
int imp_is_file(const char *path);
int imp_is_dir(const char *path);
/* out = a "/" b; -1 (message) if it does not fit. */
int imp_join(char *out, size_t n, const char *a, const char *b, fm_err *err);

/* A lower-case name of [a-z0-9-] for a manifest entry and file name:
 * apostrophes dropped, other runs of non-alphanumerics become '-', trimmed,
 * at most 48 characters; empty if nothing is left. */
void imp_slug(char *out, size_t n, const char *s);

/* Sets d->ind_name for every industry: names[i] if the --names file (path
 * may be "") maps the raw key, else prefix + raw key (prefix "c" for Ciao)
 * or the raw key itself; everything through imp_slug except prefix + key,
 * made unique. Errors name the file:line. */
int import_name_industries(imp_data *d, const char *names_path, const char *prefix, fm_err *err);

/* --- the format readers (fill d) and the cleaning ----------------------- */

int import_read_delimited(imp_data *d, const fm_config *c, int ciao, fm_err *err);
int import_read_amazon(imp_data *d, const fm_config *c, fm_err *err);
int import_read_movielens(imp_data *d, const fm_config *c, fm_err *err);

/* Filters d per protocol P1 and builds the shards into r (see importer.h). */
int import_clean(import_result_t *r, imp_data *d, const fm_config *c, fm_err *err);

/* --- minimal JSON (import_json.c) ---------------------------------------- */

/* Called for each member "key": "value" of the object that is the value of
 * top-level member `member` (a flat object of string -> string; a number value
 * is passed as its text). line is where the member starts. Return 0 to go on
 * or -1 (with err set) to stop. */
typedef int (*imp_json_str_cb)(void *ctx, const char *key, const char *val, uint64_t line, fm_err *err);
/* Called for each member "key": [v, ...] of a top-level object whose values
 * are arrays of numbers or strings (passed as text). */
typedef int (*imp_json_arr_cb)(void *ctx, const char *key, const char *const *vals, uint32_t n,
                               uint64_t line, fm_err *err);

int imp_json_read_members(const char *path, const char *member, imp_json_str_cb cb, void *ctx,
                          fm_err *err);
int imp_json_read_arrays(const char *path, imp_json_arr_cb cb, void *ctx, fm_err *err);

#endif
