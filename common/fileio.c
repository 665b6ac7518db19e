/* common/fileio.c: atomic output files, whole-file reads, mkdir -p (see fileio.h). */
#include "common/fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fm_atomic_open(fm_atomic *a, const char *path, fm_err *err) {
  memset(a, 0, sizeof *a);
  size_t n = strlen(path);
  a->path = malloc(n + 1);
  a->tmp = malloc(n + 5);
  if (!a->path || !a->tmp) {
    fm_atomic_abort(a);
    return fm_fail(err, "%s: out of memory", path);
  }
  memcpy(a->path, path, n + 1);
  memcpy(a->tmp, path, n);
  memcpy(a->tmp + n, ".tmp", 5);
  a->f = fopen(a->tmp, "wb");
  if (!a->f) {
    int e = errno;
    fm_fail(err, "cannot create %s (%s)", a->tmp, strerror(e));
    fm_atomic_abort(a);
    return -1;
  }
  return 0;
}

void fm_atomic_abort(fm_atomic *a) {
  if (!a) return;
  if (a->f) fclose(a->f);
  if (a->tmp && a->f) remove(a->tmp);
  free(a->path);
  free(a->tmp);
  memset(a, 0, sizeof *a);
}

int fm_atomic_commit(fm_atomic *a, fm_err *err) {
  int e = 0;
  errno = 0;
  if (ferror(a->f) || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0) e = errno ? errno : EIO;
  if (fclose(a->f) != 0 && !e) e = errno ? errno : EIO;
  a->f = NULL;
  if (!e && rename(a->tmp, a->path) != 0) e = errno;
  int rc = 0;
  if (e) {
    remove(a->tmp);
    rc = fm_fail(err, "writing %s failed (%s)", a->path, strerror(e));
  }
  free(a->path);
  free(a->tmp);
  memset(a, 0, sizeof *a);
  return rc;
}

int fm_write_atomic(const char *path, const void *data, size_t len, fm_err *err) {
  fm_atomic a;
  if (fm_atomic_open(&a, path, err)) return -1;
  if (len && fwrite(data, 1, len, a.f) != len) {
    int e = errno;
    fm_atomic_abort(&a);
    return fm_fail(err, "writing %s failed (%s)", path, strerror(e ? e : EIO));
  }
  return fm_atomic_commit(&a, err);
}

int fm_read_file(const char *path, uint8_t **data, size_t *len, size_t max_len, fm_err *err) {
  *data = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return fm_fail(err, "%s: cannot open (%s)", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return fm_fail(err, "%s: not a regular file", path);
  }
  if ((size_t)st.st_size > max_len) {
    fclose(f);
    return fm_fail(err, "%s: %lld bytes is larger than the %zu allowed", path, (long long)st.st_size, max_len);
  }
  uint8_t *buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    fclose(f);
    return fm_fail(err, "%s: out of memory", path);
  }
  size_t got = fread(buf, 1, (size_t)st.st_size, f);
  fclose(f);
  if (got != (size_t)st.st_size) {
    free(buf);
    return fm_fail(err, "%s: short read", path);
  }
  *data = buf;
  *len = got;
  return 0;
}

int fm_mkdir_p(const char *dir, fm_err *err) {
  char p[4096];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof p) return fm_fail(err, "folder name '%s' is empty or too long", dir);
  memcpy(p, dir, n + 1);
  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s != '\0') continue;
    char c = *s;
    *s = '\0';
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      int e = errno;
      return fm_fail(err, "cannot create folder %s (%s)", p, strerror(e));
    }
    *s = c;
    if (!c) break;
  }
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return fm_fail(err, "%s exists and is not a folder", dir);
  return 0;
}
