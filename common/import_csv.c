/* common/import_csv.c: line-per-interaction inputs: Ciao's ratings text and a
 * generic delimited file (--columns, --delimiter, --header).
 *
 * Ciao: "userid productid categoryid rating helpfulness time" separated by
 * tabs or spaces (the text conversion of rating_with_timestamp.mat); item ids
 * are global; the industry is the category, named "c<id>" unless --names maps
 * it. Generic: 1-based columns user, item, industry (required), time, rating
 * (optional); without a time column the file order is the time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/import_build.h"

#define CSV_MAX_FIELDS 1024

typedef struct csv_cols {
  int user, item, industry, time, rating; /* 0-based, -1 = absent */
  int max;                                /* highest used + 1 */
} csv_cols;

/* Parses --columns "user=1,item=2,industry=3,time=4,rating=5". */
static int parse_columns(csv_cols *cc, const char *spec, fm_err *err) {
  *cc = (csv_cols){-1, -1, -1, -1, -1, 0};
  if (!spec || !*spec)
    return fm_fail(err, "--columns is required for --format csv, e.g. --columns user=1,item=2,industry=3,time=4,rating=5");
  char buf[256];
  snprintf(buf, sizeof buf, "%s", spec);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(tok, '=');
    uint64_t col;
    if (!eq || imp_parse_u64(eq + 1, &col) || col < 1 || col > CSV_MAX_FIELDS)
      return fm_fail(err, "--columns: expected NAME=COLUMN with a column in 1..%d, got '%s'", CSV_MAX_FIELDS, tok);
    *eq = '\0';
    int *slot = !strcmp(tok, "user") ? &cc->user : !strcmp(tok, "item") ? &cc->item
              : !strcmp(tok, "industry") ? &cc->industry : !strcmp(tok, "time") ? &cc->time
              : !strcmp(tok, "rating") ? &cc->rating : NULL;
    if (!slot) return fm_fail(err, "--columns: unknown name '%s' (use user, item, industry, time, rating)", tok);
    if (*slot >= 0) return fm_fail(err, "--columns: '%s' given twice", tok);
    *slot = (int)col - 1;
  }
  if (cc->user < 0 || cc->item < 0 || cc->industry < 0)
    return fm_fail(err, "--columns: user, item and industry are required (got '%s')", spec);
  int all[5] = {cc->user, cc->item, cc->industry, cc->time, cc->rating};
  for (int i = 0; i < 5; i++) {
    for (int j = i + 1; j < 5; j++)
      if (all[i] >= 0 && all[i] == all[j]) return fm_fail(err, "--columns: column %d is used twice", all[i] + 1);
    if (all[i] + 1 > cc->max) cc->max = all[i] + 1;
  }
  return 0;
}

static int parse_delimiter(char *out, const char *s, fm_err *err) {
  if (!strcmp(s, "tab") || !strcmp(s, "\\t")) *out = '\t';
  else if (!strcmp(s, "comma")) *out = ',';
  else if (!strcmp(s, "semicolon")) *out = ';';
  else if (!strcmp(s, "pipe")) *out = '|';
  else if (!strcmp(s, "space")) *out = ' ';
  else if (strlen(s) == 1 && s[0] != '"' && s[0] != '\n' && s[0] != '\r') *out = s[0];
  else return fm_fail(err, "--delimiter: expected tab, comma, semicolon, pipe, space or one character, got '%s'", s);
  return 0;
}

/* Shortens a field for a message. */
static const char *shown(const char *s, char *buf, size_t n) {
  if (strlen(s) < n) return s;
  snprintf(buf, n, "%.*s...", (int)n - 4, s);
  return buf;
}

/* A non-negative integer id, as its canonical decimal text (so "007" is "7"). */
static int canon_id(const char *s, char *out, size_t n) {
  uint64_t v;
  if (imp_parse_u64(s, &v)) return -1;
  snprintf(out, n, "%llu", (unsigned long long)v);
  return 0;
}

/* Time in seconds: an integer, or a decimal number (floored). */
static int parse_time(const char *s, int64_t *ts) {
  if (!imp_parse_i64(s, ts)) return 0;
  double v;
  if (imp_parse_f64(s, &v) || v < -9.2e18 || v > 9.2e18) return -1;
  *ts = (int64_t)floor(v);
  return 0;
}

/* Rating filter: 1 keep, 0 dropped (counted). */
static int keep_rating(imp_data *d, double rating, double min_rating) {
  if (!(rating > 0)) {
    d->st->rating_zero++;
    return 0;
  }
  if (rating < min_rating) {
    d->st->rating_low++;
    return 0;
  }
  return 1;
}

/* Finds the Ciao ratings text: the file itself or, in a folder,
 * derived/rating_with_timestamp.tsv or rating_with_timestamp.tsv. */
static int ciao_path(char *out, size_t n, const char *input, fm_err *err) {
  if (!imp_is_dir(input)) {
    snprintf(out, n, "%s", input);
    return 0;
  }
  const char *tries[] = {"derived/rating_with_timestamp.tsv", "rating_with_timestamp.tsv"};
  for (int i = 0; i < 2; i++) {
    if (imp_join(out, n, input, tries[i], err)) return -1;
    if (imp_is_file(out)) return 0;
  }
  return fm_fail(err,
                 "--input %s: no derived/rating_with_timestamp.tsv or rating_with_timestamp.tsv in this folder; "
                 "expected a text file of 'userid productid categoryid rating helpfulness time' lines (the MATLAB "
                 "rating_with_timestamp.mat converted to text, one row per line)",
                 input);
}

int import_read_delimited(imp_data *d, const fm_config *c, int ciao, fm_err *err) {
  csv_cols cc;
  char delim = 0;
  char path[CFG_PATH_MAX + 64];
  if (ciao) {
    cc = (csv_cols){0, 1, 2, 5, 3, 6};
    if (ciao_path(path, sizeof path, c->input, err)) return IMPORT_EDATA;
  } else {
    if (parse_columns(&cc, c->columns, err) || parse_delimiter(&delim, c->delimiter, err)) return IMPORT_EUSAGE;
    snprintf(path, sizeof path, "%s", c->input);
  }
  const char *layout = ciao ? "a Ciao ratings text: 'userid productid categoryid rating helpfulness time' per line"
                            : "a delimited text file with the columns given by --columns";
  imp_lines lr;
  if (imp_lines_open(&lr, path, layout, err)) return IMPORT_EDATA;
  d->cat_token = 1;
  static const char *const NAMES[] = {"user", "item", "industry", "time", "rating"};
  char *f[CSV_MAX_FIELDS];
  char key[32], key2[32], tmp[32]; /* canonical ids (at most 20 digits) */
  char *ikey = NULL;
  size_t ikey_cap = 0;
  uint64_t row = 0;
  int rc = IMPORT_EDATA, k;
  char *line;
  size_t len;
  while ((k = imp_lines_next(&lr, &line, &len, err)) != 0) {
    if (k < 0) goto done;
    if (lr.line <= c->header) continue;
    d->st->lines++;
    if (k == 2) {
      if (imp_bad(d, err, "%s:%llu: line longer than %u bytes or containing a NUL byte", path,
                  (unsigned long long)lr.line, IMPORT_MAX_LINE))
        goto done;
      continue;
    }
    int nf = imp_split(line, delim, !ciao, f, CSV_MAX_FIELDS);
    if (nf == 0) continue; /* blank line */
    if (nf < 0) {
      if (imp_bad(d, err, "%s:%llu: unterminated quoted field", path, (unsigned long long)lr.line)) goto done;
      continue;
    }
    if (ciao ? nf != 6 : nf < cc.max) {
      if (imp_bad(d, err, "%s:%llu: expected %s%d fields (%s), got %d", path, (unsigned long long)lr.line,
                  ciao ? "" : "at least ", cc.max,
                  ciao ? "userid productid categoryid rating helpfulness time" : "see --columns",
                  nf > CSV_MAX_FIELDS ? CSV_MAX_FIELDS + 1 : nf))
        goto done;
      continue;
    }
    /* check every used field before interning anything */
    const char *bad_field = NULL, *expected = NULL;
    int bad_col = 0;
    const int cols[5] = {cc.user, cc.item, cc.industry, cc.time, cc.rating};
    for (int i = 0; i < 3 && !bad_field; i++)
      if (!*f[cols[i]]) bad_field = NAMES[i], bad_col = cols[i], expected = "a non-empty id";
    if (ciao) {
      for (int i = 0; i < 3 && !bad_field; i++)
        if (canon_id(f[cols[i]], i == 0 ? key : i == 1 ? key2 : tmp, 32))
          bad_field = NAMES[i], bad_col = cols[i], expected = "a non-negative integer id";
    }
    int64_t ts = (int64_t)row;
    double rating = 1;
    if (!bad_field && cc.time >= 0 && (ciao ? imp_parse_i64(f[cc.time], &ts) : parse_time(f[cc.time], &ts)))
      bad_field = "time", bad_col = cc.time, expected = ciao ? "integer seconds since 1970" : "seconds since 1970 (a number)";
    if (!bad_field && cc.rating >= 0 && imp_parse_f64(f[cc.rating], &rating))
      bad_field = "rating", bad_col = cc.rating, expected = "a number";
    if (!bad_field && ciao && imp_parse_f64(f[4], &(double){0}))
      bad_field = "helpfulness", bad_col = 4, expected = "a number";
    if (bad_field) {
      char sb[48];
      if (imp_bad(d, err, "%s:%llu: column %d (%s): expected %s, got '%s'", path, (unsigned long long)lr.line,
                  bad_col + 1, bad_field, expected, shown(f[bad_col], sb, sizeof sb)))
        goto done;
      continue;
    }
    row++;
    if (cc.rating >= 0 && !keep_rating(d, rating, c->min_rating)) continue;
    const char *u = ciao ? key : f[cc.user], *it = ciao ? key2 : f[cc.item], *ind = ciao ? tmp : f[cc.industry];
    uint32_t uid, iid, pid;
    if (imp_user(d, u, &uid, err) || imp_ind(d, ind, &pid, err)) goto done;
    if (c->items_per_industry && !ciao) {
      /* the item key carries its industry: "<industry>\x1f<item>" */
      size_t need = strlen(ind) + strlen(it) + 2;
      if (need > ikey_cap) {
        char *q = realloc(ikey, need);
        if (!q) {
          fm_fail(err, "importer: out of memory");
          goto done;
        }
        ikey = q;
        ikey_cap = need;
      }
      snprintf(ikey, need, "%s\x1f%s", ind, it);
      it = ikey;
    }
    if (imp_item(d, it, &iid, err) || imp_add_rec(d, uid, iid, pid, ts, err)) goto done;
  }
  if (ciao && !(c->names[0]))
    imp_note(d, "industries are named c<category id>; --names catalog_ciao.txt gives readable names");
  if (!ciao && cc.time < 0) imp_note(d, "no time column: the file order is the time");
  rc = 0;
done:
  free(ikey);
  imp_lines_close(&lr);
  return rc;
}
