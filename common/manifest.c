/* common/manifest.c: read and write the text manifest of a market's shards
 * (format in manifest.h and docs/DATA.md). */
#include "common/manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"

int manifest_init(manifest_t *m, uint32_t n, fm_err *err) {
  memset(m, 0, sizeof *m);
  if (n > MANIFEST_MAX_PLATFORMS)
    return fm_fail(err, "manifest: %u platforms, at most %d supported", n, MANIFEST_MAX_PLATFORMS);
  m->e = calloc(n ? n : 1, sizeof *m->e);
  if (!m->e) return fm_fail(err, "manifest: out of memory");
  m->n = n;
  for (uint32_t i = 0; i < n; i++) m->e[i].platform = i;
  return 0;
}

void manifest_free(manifest_t *m) {
  if (!m) return;
  free(m->e);
  memset(m, 0, sizeof *m);
}

static int has_space(const char *s) {
  for (; *s; s++)
    if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') return 1;
  return 0;
}

/* The rules a name and a file name must follow; msg says which was broken. */
static const char *bad_name(const char *name) {
  if (!name[0]) return "empty name";
  if (strlen(name) >= SHARD_NAME_MAX) return "name longer than 63 characters";
  if (has_space(name)) return "name contains white space";
  return NULL;
}
static const char *bad_file(const char *file) {
  if (!file[0]) return "empty file name";
  if (strlen(file) >= MANIFEST_FILE_MAX) return "file name longer than 127 characters";
  if (has_space(file)) return "file name contains white space";
  if (strchr(file, '/')) return "file name contains '/' (must be a plain name in the data directory)";
  if (file[0] == '.') return "file name starts with '.'";
  return NULL;
}

int manifest_path(char *out, size_t n, const char *dir, const char *file, fm_err *err) {
  int w = snprintf(out, n, "%s/%s", dir, file);
  if (w < 0 || (size_t)w >= n) return fm_fail(err, "path %s/%s is too long", dir, file);
  return 0;
}

int manifest_write(const manifest_t *m, const char *path, const char *comment, fm_err *err) {
  for (uint32_t i = 0; i < m->n; i++) {
    const char *why = bad_name(m->e[i].name);
    if (!why) why = bad_file(m->e[i].file);
    if (!why && m->e[i].platform != i) why = "platform index out of order";
    if (why) return fm_fail(err, "writing manifest %s: entry %u: %s", path, i, why);
  }
  if (comment && strchr(comment, '\n'))
    return fm_fail(err, "writing manifest %s: the comment must be one line", path);
  fm_atomic a;
  if (fm_atomic_open(&a, path, err)) return fm_wrap(err, "writing manifest");
  FILE *f = a.f;
  fprintf(f, "%s %d\n", MANIFEST_MAGIC, MANIFEST_VERSION);
  if (comment) fprintf(f, "# %s\n", comment);
  fprintf(f, "# platform name file n_users n_items n_inter\n");
  for (uint32_t i = 0; i < m->n; i++) {
    const manifest_entry_t *e = &m->e[i];
    fprintf(f, "%u %s %s %u %u %u\n", e->platform, e->name, e->file, e->n_users, e->n_items,
            e->n_inter);
  }
  return fm_atomic_commit(&a, err) ? fm_wrap(err, "writing manifest") : 0;
}

/* Parses a decimal u32 token; 0 or -1. */
static int parse_u32(uint32_t *out, const char *tok) {
  if (!tok || !*tok || *tok == '-' || *tok == '+') return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(tok, &end, 10);
  if (errno || *end || v > UINT32_MAX) return -1;
  *out = (uint32_t)v;
  return 0;
}

/* Reads one line into buf; returns 1 on a line, 0 at end of file, -1 if too long. */
static int read_line(FILE *f, char *buf, size_t n) {
  if (!fgets(buf, (int)n, f)) return 0;
  size_t len = strlen(buf);
  if (len && buf[len - 1] == '\n') {
    buf[--len] = '\0';
    if (len && buf[len - 1] == '\r') buf[--len] = '\0';
    return 1;
  }
  if (!feof(f)) return -1;
  return 1;
}

int manifest_read(manifest_t *m, const char *path, fm_err *err) {
  memset(m, 0, sizeof *m);
  FILE *f = fopen(path, "r");
  if (!f) {
    int e = errno;
    return fm_fail(err, "cannot open manifest %s: %s", path, strerror(e));
  }
  char line[512];
  uint32_t lineno = 0, cap = 0;
  int header = 0, r;
  while ((r = read_line(f, line, sizeof line)) != 0) {
    lineno++;
    if (r < 0) {
      fm_fail(err, "%s:%u: line longer than %zu characters", path, lineno, sizeof line - 2);
      goto fail;
    }
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (!header) {
      int ver = 0;
      char magic[32], extra[2];
      int got = sscanf(p, "%31s %d %1s", magic, &ver, extra);
      if (got < 2 || strcmp(magic, MANIFEST_MAGIC) != 0) {
        fm_fail(err, "%s:%u: expected the header \"%s %d\", found \"%.60s\" (not a fedmeta "
                "manifest)", path, lineno, MANIFEST_MAGIC, MANIFEST_VERSION, line);
        goto fail;
      }
      if (ver != MANIFEST_VERSION || got != 2) {
        fm_fail(err, "%s:%u: unsupported manifest version \"%.60s\" (this build reads version %d)",
                path, lineno, line, MANIFEST_VERSION);
        goto fail;
      }
      header = 1;
      continue;
    }
    if (*p == '\0' || *p == '#') continue;
    char *tok[7];
    int nt = 0;
    char *save = NULL;
    for (char *t = strtok_r(p, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
      if (nt == 6) {
        nt = 7;
        break;
      }
      tok[nt++] = t;
    }
    if (nt != 6) {
      fm_fail(err, "%s:%u: expected 6 fields \"platform name file n_users n_items n_inter\", "
              "found %s", path, lineno, nt > 6 ? "more" : "fewer");
      goto fail;
    }
    manifest_entry_t e;
    memset(&e, 0, sizeof e);
    static const char *const field[] = {"platform", "", "", "n_users", "n_items", "n_inter"};
    uint32_t *num[] = {&e.platform, NULL, NULL, &e.n_users, &e.n_items, &e.n_inter};
    for (int i = 0; i < 6; i++) {
      if (num[i] && parse_u32(num[i], tok[i])) {
        fm_fail(err, "%s:%u: %s \"%s\" is not an unsigned 32-bit integer", path, lineno,
                field[i], tok[i]);
        goto fail;
      }
    }
    const char *why = bad_name(tok[1]);
    if (why) {
      fm_fail(err, "%s:%u: platform name \"%.60s\": %s", path, lineno, tok[1], why);
      goto fail;
    }
    why = bad_file(tok[2]);
    if (why) {
      fm_fail(err, "%s:%u: shard file \"%.60s\": %s", path, lineno, tok[2], why);
      goto fail;
    }
    if (e.platform != m->n) {
      fm_fail(err, "%s:%u: platform %u, expected %u (platforms are listed 0, 1, 2... in order)",
              path, lineno, e.platform, m->n);
      goto fail;
    }
    if (m->n == MANIFEST_MAX_PLATFORMS) {
      fm_fail(err, "%s:%u: more than %d platforms", path, lineno, MANIFEST_MAX_PLATFORMS);
      goto fail;
    }
    if (manifest_find(m, tok[1]) >= 0) {
      fm_fail(err, "%s:%u: platform name \"%s\" appears twice", path, lineno, tok[1]);
      goto fail;
    }
    strcpy(e.name, tok[1]);
    strcpy(e.file, tok[2]);
    if (m->n == cap) {
      uint32_t nc = cap ? 2 * cap : 16;
      manifest_entry_t *ne = realloc(m->e, nc * sizeof *ne);
      if (!ne) {
        fm_fail(err, "%s:%u: out of memory", path, lineno);
        goto fail;
      }
      m->e = ne;
      cap = nc;
    }
    m->e[m->n++] = e;
  }
  if (ferror(f)) {
    fm_fail(err, "%s: read error", path);
    goto fail;
  }
  if (!header) {
    fm_fail(err, "%s: empty file, expected the header \"%s %d\"", path, MANIFEST_MAGIC,
            MANIFEST_VERSION);
    goto fail;
  }
  if (m->n == 0) {
    fm_fail(err, "%s: no platforms listed", path);
    goto fail;
  }
  fclose(f);
  return 0;
fail:
  fclose(f);
  manifest_free(m);
  return -1;
}

int manifest_find(const manifest_t *m, const char *name) {
  for (uint32_t i = 0; i < m->n; i++)
    if (strcmp(m->e[i].name, name) == 0) return (int)i;
  return -1;
}

int manifest_shard_open(shard_t *s, const manifest_t *m, const char *dir, uint32_t platform,
                        fm_err *err) {
  memset(s, 0, sizeof *s);
  if (platform >= m->n)
    return fm_fail(err, "platform %u not in the manifest of %s (it lists %u platforms)", platform,
                   dir, m->n);
  const manifest_entry_t *e = &m->e[platform];
  char path[4096];
  if (manifest_path(path, sizeof path, dir, e->file, err)) return -1;
  if (shard_open(s, path, err)) return -1;
  const char *what = NULL;
  char found[400];
  if (strcmp(s->name, e->name) != 0) {
    what = "name";
    snprintf(found, sizeof found, "manifest says \"%s\", shard says \"%s\"", e->name, s->name);
  } else if (s->platform != e->platform || s->n_users != e->n_users || s->n_items != e->n_items ||
             s->n_inter != e->n_inter) {
    what = "platform or counts";
    snprintf(found, sizeof found,
             "manifest says platform %u, %u users, %u items, %u interactions; shard says %u, %u, "
             "%u, %u", e->platform, e->n_users, e->n_items, e->n_inter, s->platform, s->n_users,
             s->n_items, s->n_inter);
  }
  if (what) {
    fm_fail(err, "shard %s does not match its manifest entry (%s): %s; regenerate the data "
            "directory", path, what, found);
    shard_free(s);
    return -1;
  }
  return 0;
}

int manifest_open_platform(shard_t *s, const char *dir, uint32_t platform, fm_err *err) {
  memset(s, 0, sizeof *s);
  char path[4096];
  if (manifest_path(path, sizeof path, dir, MANIFEST_FILE, err)) return -1;
  manifest_t m;
  if (manifest_read(&m, path, err)) return -1;
  int rc = manifest_shard_open(s, &m, dir, platform, err);
  manifest_free(&m);
  return rc;
}
