/* common/import_util.c: the importers' small tools (see import_build.h):
 * string interning, records and tokens, malformed-line accounting, bounded
 * line reading, field splitting, strict number parsing, industry names. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/import_build.h"

/* --- interning ------------------------------------------------------------ */

static uint64_t hash_bytes(const char *s, size_t len) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a 64 */
  for (size_t i = 0; i < len; i++) {
    h ^= (uint8_t)s[i];
    h *= 1099511628211ULL;
  }
  return h ^ (h >> 29);
}

static int key_eq(const imp_strtab *t, uint32_t id, const char *s, size_t len) {
  const char *k = t->arena + t->off[id];
  return strncmp(k, s, len) == 0 && k[len] == '\0';
}

int64_t imp_strtab_find(const imp_strtab *t, const char *s, size_t len) {
  if (!t->cap) return -1;
  uint32_t mask = t->cap - 1, i = (uint32_t)hash_bytes(s, len) & mask;
  for (; t->slot[i]; i = (i + 1) & mask)
    if (key_eq(t, t->slot[i] - 1, s, len)) return t->slot[i] - 1;
  return -1;
}

static int strtab_grow(imp_strtab *t, fm_err *err) {
  uint32_t cap = t->cap ? t->cap * 2 : 1024;
  if (cap == 0 || cap > (1u << 31)) return fm_fail(err, "importer: more than 2^30 distinct keys");
  uint32_t *slot = calloc(cap, sizeof *slot);
  if (!slot) return fm_fail(err, "importer: out of memory (key table)");
  for (uint32_t id = 0; id < t->n; id++) {
    const char *k = t->arena + t->off[id];
    uint32_t i = (uint32_t)hash_bytes(k, strlen(k)) & (cap - 1);
    while (slot[i]) i = (i + 1) & (cap - 1);
    slot[i] = id + 1;
  }
  free(t->slot);
  t->slot = slot;
  t->cap = cap;
  return 0;
}

int imp_strtab_intern(imp_strtab *t, const char *s, size_t len, uint32_t *id, fm_err *err) {
  int64_t f = imp_strtab_find(t, s, len);
  if (f >= 0) {
    *id = (uint32_t)f;
    return 0;
  }
  if ((uint64_t)t->n * 2 >= t->cap && strtab_grow(t, err)) return -1;
  if (t->n == t->n_cap) {
    uint32_t nc = t->n_cap ? t->n_cap * 2 : 1024;
    size_t *off = realloc(t->off, (size_t)nc * sizeof *off);
    if (!off) return fm_fail(err, "importer: out of memory (keys)");
    t->off = off;
    t->n_cap = nc;
  }
  if (t->arena_len + len + 1 > t->arena_cap) {
    size_t nc = t->arena_cap ? t->arena_cap : 65536;
    while (nc < t->arena_len + len + 1) nc *= 2;
    char *a = realloc(t->arena, nc);
    if (!a) return fm_fail(err, "importer: out of memory (keys)");
    t->arena = a;
    t->arena_cap = nc;
  }
  memcpy(t->arena + t->arena_len, s, len);
  t->arena[t->arena_len + len] = '\0';
  t->off[t->n] = t->arena_len;
  t->arena_len += len + 1;
  uint32_t mask = t->cap - 1, i = (uint32_t)hash_bytes(s, len) & mask;
  while (t->slot[i]) i = (i + 1) & mask;
  t->slot[i] = t->n + 1;
  *id = t->n++;
  return 0;
}

const char *imp_strtab_get(const imp_strtab *t, uint32_t id) { return t->arena + t->off[id]; }

void imp_strtab_free(imp_strtab *t) {
  if (!t) return;
  free(t->arena);
  free(t->off);
  free(t->slot);
  memset(t, 0, sizeof *t);
}

int imp_user(imp_data *d, const char *s, uint32_t *id, fm_err *err) {
  return imp_strtab_intern(&d->users, s, strlen(s), id, err);
}
int imp_item(imp_data *d, const char *s, uint32_t *id, fm_err *err) {
  return imp_strtab_intern(&d->items, s, strlen(s), id, err);
}
int imp_ind(imp_data *d, const char *s, uint32_t *id, fm_err *err) {
  return imp_strtab_intern(&d->inds, s, strlen(s), id, err);
}

/* --- records and tokens --------------------------------------------------- */

/* Grows *p (elements of size sz) so that it holds at least n + 1. */
static int grow(void **p, size_t *cap, size_t n, size_t sz, fm_err *err) {
  if (n < *cap) return 0;
  size_t nc = *cap ? *cap * 2 : 4096;
  void *q = realloc(*p, nc * sz);
  if (!q) return fm_fail(err, "importer: out of memory (%zu entries)", nc);
  *p = q;
  *cap = nc;
  return 0;
}

int imp_add_rec(imp_data *d, uint32_t user, uint32_t item, uint32_t ind, int64_t ts, fm_err *err) {
  if (d->n_rec >= UINT32_MAX)
    return fm_fail(err, "importer: more than %u interactions (a shard counts in 32 bits)", UINT32_MAX);
  if (grow((void **)&d->rec, &d->cap_rec, d->n_rec, sizeof *d->rec, err)) return -1;
  d->rec[d->n_rec++] = (imp_rec){user, item, ind, ts};
  d->st->parsed++;
  return 0;
}

int imp_add_utok(imp_data *d, uint32_t user, uint32_t tok, fm_err *err) {
  if (grow((void **)&d->utok, &d->cap_utok, d->n_utok, sizeof *d->utok, err)) return -1;
  d->utok[d->n_utok++] = (imp_tok){user, tok};
  return 0;
}

int imp_add_itok(imp_data *d, uint32_t item, uint32_t tok, fm_err *err) {
  if (grow((void **)&d->itok, &d->cap_itok, d->n_itok, sizeof *d->itok, err)) return -1;
  d->itok[d->n_itok++] = (imp_tok){item, tok};
  return 0;
}

void imp_data_free(imp_data *d) {
  if (!d) return;
  imp_strtab_free(&d->users);
  imp_strtab_free(&d->items);
  imp_strtab_free(&d->inds);
  free(d->ind_name);
  free(d->rec);
  free(d->utok);
  free(d->itok);
  import_stats_t *st = d->st;
  memset(d, 0, sizeof *d);
  d->st = st;
}

int imp_bad(imp_data *d, fm_err *err, const char *fmt, ...) {
  char msg[FM_ERRLEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (d->strict) return fm_fail(err, "%s (--strict: a malformed line is an error)", msg);
  import_stats_t *st = d->st;
  if (st->n_msgs < IMPORT_MAX_MSGS) memcpy(st->msgs[st->n_msgs++], msg, sizeof msg);
  st->malformed++;
  return 0;
}

void imp_note(imp_data *d, const char *fmt, ...) {
  import_stats_t *st = d->st;
  if (st->n_notes >= IMPORT_MAX_NOTES) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(st->notes[st->n_notes++], sizeof st->notes[0], fmt, ap);
  va_end(ap);
}

/* --- lines ------------------------------------------------------------------ */

int imp_lines_open(imp_lines *r, const char *path, const char *layout, fm_err *err) {
  memset(r, 0, sizeof *r);
  r->path = path;
  if (imp_is_dir(path)) return fm_fail(err, "%s is a folder; expected %s", path, layout);
  r->f = fopen(path, "rb");
  if (!r->f) {
    int e = errno;
    return fm_fail(err, "cannot open %s: %s; expected %s", path, strerror(e), layout);
  }
  r->cap = 4096;
  r->buf = malloc(r->cap);
  if (!r->buf) {
    imp_lines_close(r);
    return fm_fail(err, "importer: out of memory");
  }
  return 0;
}

int imp_lines_next(imp_lines *r, char **line, size_t *len, fm_err *err) {
  size_t n = 0;
  int c, too_long = 0, nul = 0;
  *line = NULL;
  *len = 0;
  while ((c = getc_unlocked(r->f)) != EOF && c != '\n') {
    if (c == 0) nul = 1;
    if (n >= IMPORT_MAX_LINE) {
      too_long = 1;
      continue; /* skip the rest of the line */
    }
    if (n + 1 >= r->cap) {
      char *b = realloc(r->buf, r->cap * 2);
      if (!b) return fm_fail(err, "importer: out of memory reading %s", r->path);
      r->buf = b;
      r->cap *= 2;
    }
    r->buf[n++] = (char)c;
  }
  if (ferror(r->f)) return fm_fail(err, "%s:%llu: read error", r->path, (unsigned long long)r->line + 1);
  if (c == EOF && n == 0 && !too_long) return 0;
  r->line++;
  if (too_long || nul) return 2;
  if (n && r->buf[n - 1] == '\r') n--;
  r->buf[n] = '\0';
  *line = r->buf;
  *len = n;
  return 1;
}

void imp_lines_close(imp_lines *r) {
  if (!r) return;
  if (r->f) fclose(r->f);
  free(r->buf);
  memset(r, 0, sizeof *r);
}

/* --- fields and numbers ----------------------------------------------------- */

static char *trim_field(char *s, int tabs) {
  while (*s == ' ' || (tabs && *s == '\t')) s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || (tabs && s[n - 1] == '\t'))) s[--n] = '\0';
  return s;
}

int imp_split(char *line, char delim, int quotes, char **fields, int max) {
  int n = 0;
  char *p = line;
  if (delim == 0) {
    for (;;) {
      while (*p == ' ' || *p == '\t') p++;
      if (!*p) return n;
      if (n == max) return max + 1;
      fields[n++] = p;
      while (*p && *p != ' ' && *p != '\t') p++;
      if (*p) *p++ = '\0';
    }
  }
  int tabs = delim != '\t', spaces = delim != ' '; /* white space that is not the delimiter */
  for (;;) {
    if (n == max) return max + 1;
    char *q = p;
    while ((spaces && *q == ' ') || (tabs && *q == '\t')) q++;
    if (quotes && *q == '"') {
      /* a quoted field: unescape "" in place, then expect delim or the end */
      char *w = q, *s = q + 1;
      for (;;) {
        if (!*s) return -1;
        if (*s == '"') {
          if (s[1] == '"') {
            *w++ = '"';
            s += 2;
            continue;
          }
          s++;
          break;
        }
        *w++ = *s++;
      }
      *w = '\0';
      while ((spaces && *s == ' ') || (tabs && *s == '\t')) s++;
      if (*s && *s != delim) return -1;
      fields[n++] = q;
      if (!*s) return n;
      p = s + 1;
      continue;
    }
    char *e = strchr(p, delim);
    if (e) *e = '\0';
    fields[n++] = trim_field(p, tabs);
    if (!e) return n;
    p = e + 1;
  }
}

int imp_parse_i64(const char *s, int64_t *out) {
  if (!*s || !(*s == '-' || *s == '+' || (*s >= '0' && *s <= '9'))) return -1;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno || *end) return -1;
  *out = (int64_t)v;
  return 0;
}

int imp_parse_u64(const char *s, uint64_t *out) {
  if (!*s || !(*s >= '0' && *s <= '9')) return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return -1;
  *out = (uint64_t)v;
  return 0;
}

int imp_parse_f64(const char *s, double *out) {
  if (!*s) return -1;
  errno = 0;
  char *end;
  double v = strtod(s, &end);
  if (errno || *end || end == s || !isfinite(v)) return -1;
  *out = v;
  return 0;
}

/* --- files ------------------------------------------------------------------- */

int imp_is_file(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

int imp_is_dir(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int imp_join(char *out, size_t n, const char *a, const char *b, fm_err *err) {
  int w = snprintf(out, n, "%s/%s", a, b);
  if (w < 0 || (size_t)w >= n) return fm_fail(err, "path %s/%s is too long", a, b);
  return 0;
}

/* --- industry names ---------------------------------------------------------- */

void imp_slug(char *out, size_t n, const char *s) {
  size_t w = 0, lim = n - 1 < 48 ? n - 1 : 48;
  int dash = 0;
  for (; *s && w < lim; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '\'') continue;
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      if (dash && w) out[w++] = '-';
      if (w < lim) out[w++] = (char)c;
      dash = 0;
    } else if (c >= 'A' && c <= 'Z') {
      if (dash && w) out[w++] = '-';
      if (w < lim) out[w++] = (char)(c - 'A' + 'a');
      dash = 0;
    } else {
      dash = 1;
    }
  }
  while (w && out[w - 1] == '-') w--;
  out[w] = '\0';
}

/* Reads the --names file: "<raw key> <name...>" lines into names[ind]. */
static int read_names(imp_data *d, const char *path, char (*names)[SHARD_NAME_MAX], fm_err *err) {
  imp_lines r;
  if (imp_lines_open(&r, path, "(--names) lines '<industry id> <name>'", err)) return -1;
  char *line;
  size_t len;
  int k, rc = 0;
  while ((k = imp_lines_next(&r, &line, &len, err)) != 0) {
    if (k < 0) {
      rc = -1;
      break;
    }
    if (k == 2) {
      rc = fm_fail(err, "%s:%llu: line too long or contains a NUL byte", path, (unsigned long long)r.line);
      break;
    }
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p || *p == '#') continue;
    char *key = p;
    while (*p && *p != ' ' && *p != '\t') p++;
    if (*p) *p++ = '\0';
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) {
      rc = fm_fail(err, "%s:%llu: expected '<industry id> <name>', got only '%s'", path,
                   (unsigned long long)r.line, key);
      break;
    }
    int64_t id = imp_strtab_find(&d->inds, key, strlen(key));
    if (id >= 0) imp_slug(names[id], SHARD_NAME_MAX, p);
  }
  imp_lines_close(&r);
  return rc;
}

int import_name_industries(imp_data *d, const char *names_path, const char *prefix, fm_err *err) {
  uint32_t n = d->inds.n;
  free(d->ind_name);
  d->ind_name = calloc(n ? n : 1, sizeof *d->ind_name);
  char (*mapped)[SHARD_NAME_MAX] = calloc(n ? n : 1, sizeof *mapped);
  if (!d->ind_name || !mapped) {
    free(mapped);
    return fm_fail(err, "importer: out of memory");
  }
  if (names_path && *names_path && read_names(d, names_path, mapped, err)) {
    free(mapped);
    return -1;
  }
  imp_strtab used = {0};
  for (uint32_t i = 0; i < n; i++) {
    char base[SHARD_NAME_MAX], s[SHARD_NAME_MAX];
    imp_slug(s, sizeof s, imp_strtab_get(&d->inds, i));
    if (mapped[i][0]) snprintf(base, sizeof base, "%s", mapped[i]);
    else if (prefix && s[0]) snprintf(base, sizeof base, "%s%s", prefix, s);
    else if (s[0]) snprintf(base, sizeof base, "%s", s);
    else snprintf(base, sizeof base, "i%u", i);
    /* unique among the names given so far (a table of the names used) */
    snprintf(d->ind_name[i], SHARD_NAME_MAX, "%s", base);
    for (uint32_t k = 2;; k++) {
      uint32_t before = used.n, id;
      if (imp_strtab_intern(&used, d->ind_name[i], strlen(d->ind_name[i]), &id, err)) {
        imp_strtab_free(&used);
        free(mapped);
        return -1;
      }
      if (used.n > before) break;
      snprintf(d->ind_name[i], SHARD_NAME_MAX, "%.48s-%u", base, k);
    }
  }
  imp_strtab_free(&used);
  free(mapped);
  return 0;
}
