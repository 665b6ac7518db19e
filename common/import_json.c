/* common/import_json.c: just enough JSON for Amazon P5's datamaps.json
 * ({"id2user": {"1": "A1..", ...}, "id2item": {...}}) and S3-Rec's
 * item2attributes.json ({"4": [1, 2, 3], ...}), without a new dependency.
 *
 * The file is read whole (at most JSON_MAX_FILE bytes), then walked once.
 * Strings (with every JSON escape, \u as UTF-8) and numbers are handed to the
 * caller as text. Limits keep a hostile file from costing more than its own
 * size: strings of at most JSON_MAX_STR bytes, nesting depth JSON_MAX_DEPTH
 * for skipped values, JSON_MAX_ARRAY values per array. A syntax error is
 * always fatal (there is no line to skip in one-line JSON) and names
 * path:line and what was expected. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/import_build.h"

#define JSON_MAX_FILE (1ull << 30)
#define JSON_MAX_STR (1u << 16)
#define JSON_MAX_DEPTH 64
#define JSON_MAX_ARRAY (1u << 20)

typedef struct jbuf {
  char *b;
  size_t len, cap;
} jbuf;

typedef struct jr {
  const char *path;
  char *data;          /* the whole file, NUL-terminated */
  const char *p, *end;
  uint64_t line;
  fm_err *err;
} jr;

static int jfail(jr *r, const char *expected) {
  char got[24];
  if (r->p >= r->end) snprintf(got, sizeof got, "end of file");
  else if ((unsigned char)*r->p < 32 || (unsigned char)*r->p > 126) snprintf(got, sizeof got, "byte 0x%02x", (unsigned char)*r->p);
  else snprintf(got, sizeof got, "'%c'", *r->p);
  return fm_fail(r->err, "%s:%llu: expected %s, got %s", r->path, (unsigned long long)r->line, expected, got);
}

static void jws(jr *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) {
    if (*r->p == '\n') r->line++;
    r->p++;
  }
}

static int jbuf_put(jr *r, jbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > JSON_MAX_STR)
    return fm_fail(r->err, "%s:%llu: string longer than %u bytes", r->path, (unsigned long long)r->line,
                   JSON_MAX_STR);
  if (b->len + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->len + n + 1) nc *= 2;
    char *q = realloc(b->b, nc);
    if (!q) return fm_fail(r->err, "%s: out of memory", r->path);
    b->b = q;
    b->cap = nc;
  }
  memcpy(b->b + b->len, s, n);
  b->len += n;
  b->b[b->len] = '\0';
  return 0;
}

static int hex4(const char *s, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

/* A string at r->p into b (replacing its contents). */
static int jstring(jr *r, jbuf *b) {
  b->len = 0;
  if (jbuf_put(r, b, "", 0)) return -1;
  if (r->p >= r->end || *r->p != '"') return jfail(r, "a string");
  r->p++;
  for (;;) {
    const char *s = r->p;
    while (r->p < r->end && *r->p != '"' && *r->p != '\\' && (unsigned char)*r->p >= 32) r->p++;
    if (jbuf_put(r, b, s, (size_t)(r->p - s))) return -1;
    if (r->p >= r->end) return jfail(r, "the closing '\"' of a string");
    if (*r->p == '"') {
      r->p++;
      return 0;
    }
    if ((unsigned char)*r->p < 32) return jfail(r, "a string character (control characters must be escaped)");
    /* an escape */
    if (r->end - r->p < 2) return jfail(r, "an escape after '\\'");
    char c = r->p[1], out[4];
    size_t n = 1;
    r->p += 2;
    switch (c) {
    case '"': case '\\': case '/': out[0] = c; break;
    case 'b': out[0] = '\b'; break;
    case 'f': out[0] = '\f'; break;
    case 'n': out[0] = '\n'; break;
    case 'r': out[0] = '\r'; break;
    case 't': out[0] = '\t'; break;
    case 'u': {
      uint32_t u, lo;
      if (r->end - r->p < 4 || hex4(r->p, &u)) return jfail(r, "4 hex digits after \\u");
      r->p += 4;
      if (u >= 0xD800 && u <= 0xDBFF) {
        if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || hex4(r->p + 2, &lo) ||
            lo < 0xDC00 || lo > 0xDFFF)
          return jfail(r, "a low surrogate \\uDC00-\\uDFFF after a high surrogate");
        r->p += 6;
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
      } else if (u >= 0xDC00 && u <= 0xDFFF) {
        return jfail(r, "a high surrogate before a low one");
      }
      if (u == 0) return fm_fail(r->err, "%s:%llu: \\u0000 is not accepted in a string", r->path, (unsigned long long)r->line);
      if (u < 0x80) out[0] = (char)u;
      else if (u < 0x800) { out[0] = (char)(0xC0 | (u >> 6)); out[1] = (char)(0x80 | (u & 0x3F)); n = 2; }
      else if (u < 0x10000) { out[0] = (char)(0xE0 | (u >> 12)); out[1] = (char)(0x80 | ((u >> 6) & 0x3F)); out[2] = (char)(0x80 | (u & 0x3F)); n = 3; }
      else { out[0] = (char)(0xF0 | (u >> 18)); out[1] = (char)(0x80 | ((u >> 12) & 0x3F)); out[2] = (char)(0x80 | ((u >> 6) & 0x3F)); out[3] = (char)(0x80 | (u & 0x3F)); n = 4; }
      break;
    }
    default: r->p -= 1; return jfail(r, "one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u");
    }
    if (jbuf_put(r, b, out, n)) return -1;
  }
}

/* A number (JSON grammar) into b as text. */
static int jnumber(jr *r, jbuf *b) {
  const char *s = r->p;
  if (r->p < r->end && *r->p == '-') r->p++;
  if (r->p >= r->end || *r->p < '0' || *r->p > '9') return jfail(r, "a digit");
  while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
  if (r->p < r->end && *r->p == '.') {
    r->p++;
    if (r->p >= r->end || *r->p < '0' || *r->p > '9') return jfail(r, "a digit after '.'");
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
  }
  if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
    r->p++;
    if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
    if (r->p >= r->end || *r->p < '0' || *r->p > '9') return jfail(r, "a digit in the exponent");
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
  }
  b->len = 0;
  return jbuf_put(r, b, s, (size_t)(r->p - s));
}

/* A string or a number into b. */
static int jscalar(jr *r, jbuf *b) {
  if (r->p < r->end && *r->p == '"') return jstring(r, b);
  if (r->p < r->end && (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))) return jnumber(r, b);
  return jfail(r, "a string or a number");
}

static int jliteral(jr *r, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n)) return jfail(r, "a JSON value");
  r->p += n;
  return 0;
}

/* Skips any value (bounded depth). */
static int jskip(jr *r, jbuf *tmp, int depth) {
  if (depth > JSON_MAX_DEPTH) return fm_fail(r->err, "%s:%llu: nested deeper than %d", r->path, (unsigned long long)r->line, JSON_MAX_DEPTH);
  jws(r);
  if (r->p >= r->end) return jfail(r, "a JSON value");
  char c = *r->p;
  if (c == '"') return jstring(r, tmp);
  if (c == 't') return jliteral(r, "true");
  if (c == 'f') return jliteral(r, "false");
  if (c == 'n') return jliteral(r, "null");
  if (c == '[' || c == '{') {
    char close = c == '[' ? ']' : '}';
    r->p++;
    jws(r);
    if (r->p < r->end && *r->p == close) {
      r->p++;
      return 0;
    }
    for (;;) {
      jws(r);
      if (c == '{') {
        if (jstring(r, tmp)) return -1;
        jws(r);
        if (r->p >= r->end || *r->p != ':') return jfail(r, "':'");
        r->p++;
      }
      if (jskip(r, tmp, depth + 1)) return -1;
      jws(r);
      if (r->p < r->end && *r->p == ',') {
        r->p++;
        continue;
      }
      if (r->p < r->end && *r->p == close) {
        r->p++;
        return 0;
      }
      return jfail(r, close == ']' ? "',' or ']'" : "',' or '}'");
    }
  }
  return jnumber(r, tmp);
}

static int jopen(jr *r, const char *path, fm_err *err) {
  memset(r, 0, sizeof *r);
  r->path = path;
  r->err = err;
  r->line = 1;
  if (imp_is_dir(path)) return fm_fail(err, "%s is a folder, expected a JSON file", path);
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    return fm_fail(err, "cannot open %s: %s", path, strerror(e));
  }
  size_t cap = 1 << 16, n = 0;
  int oom = 0;
  r->data = malloc(cap);
  oom = !r->data;
  while (!oom) {
    if (n + 1 >= cap) {
      if (cap > JSON_MAX_FILE) {
        fclose(f);
        return fm_fail(err, "%s: larger than %llu bytes", path, JSON_MAX_FILE);
      }
      char *q = realloc(r->data, cap * 2);
      if (!q) {
        oom = 1;
        break;
      }
      r->data = q;
      cap *= 2;
    }
    size_t got = fread(r->data + n, 1, cap - 1 - n, f);
    n += got;
    if (got == 0) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (oom) return fm_fail(err, "%s: out of memory", path);
  if (bad) return fm_fail(err, "%s: read error", path);
  r->data[n] = '\0';
  r->p = r->data;
  r->end = r->data + n;
  if (n >= 3 && !memcmp(r->p, "\xEF\xBB\xBF", 3)) r->p += 3; /* UTF-8 byte-order mark */
  return 0;
}

/* After the top-level value: only white space may follow. */
static int jclose(jr *r) {
  jws(r);
  if (r->p != r->end) return jfail(r, "the end of the file after the top-level object");
  return 0;
}

/* Reads '{' and says whether the object is empty (consuming '}'). */
static int jobject_begin(jr *r, int *empty) {
  jws(r);
  if (r->p >= r->end || *r->p != '{') return jfail(r, "'{'");
  r->p++;
  jws(r);
  *empty = r->p < r->end && *r->p == '}';
  if (*empty) r->p++;
  return 0;
}

/* After a member: ',' (returns 1, more) or '}' (returns 0); -1 on error. */
static int jobject_next(jr *r) {
  jws(r);
  if (r->p < r->end && *r->p == ',') {
    r->p++;
    jws(r);
    return 1;
  }
  if (r->p < r->end && *r->p == '}') {
    r->p++;
    return 0;
  }
  return jfail(r, "',' or '}'");
}

static int jkey(jr *r, jbuf *key) {
  if (jstring(r, key)) return -1;
  jws(r);
  if (r->p >= r->end || *r->p != ':') return jfail(r, "':' after a member name");
  r->p++;
  jws(r);
  return 0;
}

int imp_json_read_members(const char *path, const char *member, imp_json_str_cb cb, void *ctx,
                          fm_err *err) {
  jr r;
  jbuf key = {0}, k2 = {0}, val = {0};
  int rc = -1, found = 0, empty, more;
  if (jopen(&r, path, err)) goto done;
  if (jobject_begin(&r, &empty)) goto done;
  for (more = !empty; more;) {
    if (jkey(&r, &key)) goto done;
    if (strcmp(key.b, member) == 0) {
      found = 1;
      int inner_empty;
      if (jobject_begin(&r, &inner_empty)) goto done;
      for (int m = !inner_empty; m;) {
        uint64_t line = r.line;
        if (jkey(&r, &k2) || jscalar(&r, &val)) goto done;
        if (cb(ctx, k2.b, val.b, line, err)) goto done;
        if ((m = jobject_next(&r)) < 0) goto done;
      }
    } else if (jskip(&r, &val, 1)) {
      goto done;
    }
    if ((more = jobject_next(&r)) < 0) goto done;
  }
  if (jclose(&r)) goto done;
  if (!found) {
    fm_fail(err, "%s: no member \"%s\" in the top-level object", path, member);
    goto done;
  }
  rc = 0;
done:
  free(r.data);
  free(key.b);
  free(k2.b);
  free(val.b);
  return rc;
}

int imp_json_read_arrays(const char *path, imp_json_arr_cb cb, void *ctx, fm_err *err) {
  jr r;
  jbuf key = {0}, val = {0}, all = {0};
  size_t *offs = NULL, n_cap = 0;
  const char **vals = NULL;
  int rc = -1, empty, more;
  if (jopen(&r, path, err)) goto done;
  if (jobject_begin(&r, &empty)) goto done;
  for (more = !empty; more;) {
    uint64_t line = r.line;
    if (jkey(&r, &key)) goto done;
    if (r.p >= r.end || *r.p != '[') {
      jfail(&r, "'[' (an array of values)");
      goto done;
    }
    r.p++;
    jws(&r);
    uint32_t n = 0;
    all.len = 0;
    if (r.p < r.end && *r.p == ']') r.p++;
    else
      for (;;) {
        jws(&r);
        if (jscalar(&r, &val)) goto done;
        if (n == JSON_MAX_ARRAY) {
          fm_fail(err, "%s:%llu: array longer than %u values", path, (unsigned long long)r.line, JSON_MAX_ARRAY);
          goto done;
        }
        if (n == n_cap) {
          size_t nc = n_cap ? n_cap * 2 : 64;
          size_t *o = realloc(offs, nc * sizeof *o);
          const char **v = o ? realloc(vals, nc * sizeof *v) : NULL;
          if (o) offs = o;
          if (!v) {
            fm_fail(err, "%s: out of memory", path);
            goto done;
          }
          vals = v;
          n_cap = nc;
        }
        offs[n++] = all.len;
        /* values back to back, NUL-separated, in `all` (may exceed one string's limit
         * only through many values: bounded by JSON_MAX_ARRAY * JSON_MAX_STR) */
        size_t need = all.len + val.len + 1;
        if (need > all.cap) {
          size_t nc = all.cap ? all.cap : 256;
          while (nc < need) nc *= 2;
          char *q = realloc(all.b, nc);
          if (!q) {
            fm_fail(err, "%s: out of memory", path);
            goto done;
          }
          all.b = q;
          all.cap = nc;
        }
        memcpy(all.b + all.len, val.b, val.len + 1);
        all.len = need;
        jws(&r);
        if (r.p < r.end && *r.p == ',') {
          r.p++;
          continue;
        }
        if (r.p < r.end && *r.p == ']') {
          r.p++;
          break;
        }
        jfail(&r, "',' or ']'");
        goto done;
      }
    for (uint32_t i = 0; i < n; i++) vals[i] = all.b + offs[i];
    if (cb(ctx, key.b, vals, n, line, err)) goto done;
    if ((more = jobject_next(&r)) < 0) goto done;
  }
  if (jclose(&r)) goto done;
  rc = 0;
done:
  free(r.data);
  free(key.b);
  free(val.b);
  free(all.b);
  free(offs);
  free(vals);
  return rc;
}
