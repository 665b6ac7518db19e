/* common/shard.c: a platform's data shard in memory, its consistency check,
 * and its checksummed binary file (see shard.h and docs/DATA.md).
 *
 * File layout, all integers little-endian:
 *   magic     8 bytes  "FMSHARD1"
 *   version   u32      SHARD_FORMAT_VERSION
 *   flags     u32      bit 0: user_gid present; other bits must be 0
 *   name      64 bytes NUL-padded, NUL-terminated
 *   platform, n_users, n_items, n_inter, n_ufeat, n_ifeat   u32 each
 *   user_ptr  (n_users+1) u32    inter_item (n_inter) u32   inter_ts (n_inter) i64
 *   ufeat_ptr (n_users+1) u32    ufeat (n_ufeat) u32
 *   ifeat_ptr (n_items+1) u32    ifeat (n_ifeat) u32
 *   user_gid  (n_users) u32, only if flags bit 0
 *   checksum  32 bytes  BLAKE2b-256 (crypto_generichash) of everything above
 *
 * The reader loads the file whole (one allocation the size of the file), so
 * a corrupted count can never ask for more memory than the file occupies:
 * the counts must reproduce the file size exactly before anything is
 * allocated from them. */
#include "common/shard.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"

#define SHARD_MAGIC "FMSHARD1"
#define SHARD_MAGIC_LEN 8
#define SHARD_FORMAT_VERSION 1u
#define SHARD_FLAG_GID 1u
#define SHARD_HEADER_BYTES (SHARD_MAGIC_LEN + 4 + 4 + SHARD_NAME_MAX + 6 * 4)
#define SHARD_SUM_BYTES 32 /* crypto_generichash_BYTES */

/* calloc that never returns NULL for a zero count, so "allocated" is uniform. */
static void *zalloc(size_t n, size_t size) { return calloc(n ? n : 1, size); }

int shard_alloc(shard_t *s, uint32_t n_users, uint32_t n_items, uint32_t n_inter,
                uint32_t n_ufeat, uint32_t n_ifeat, fm_err *err) {
  memset(s, 0, sizeof *s);
  s->n_users = n_users;
  s->n_items = n_items;
  s->n_inter = n_inter;
  s->user_ptr = zalloc((size_t)n_users + 1, sizeof *s->user_ptr);
  s->inter_item = zalloc(n_inter, sizeof *s->inter_item);
  s->inter_ts = zalloc(n_inter, sizeof *s->inter_ts);
  s->ufeat_ptr = zalloc((size_t)n_users + 1, sizeof *s->ufeat_ptr);
  s->ufeat = zalloc(n_ufeat, sizeof *s->ufeat);
  s->ifeat_ptr = zalloc((size_t)n_items + 1, sizeof *s->ifeat_ptr);
  s->ifeat = zalloc(n_ifeat, sizeof *s->ifeat);
  s->user_gid = zalloc(n_users, sizeof *s->user_gid);
  if (!s->user_ptr || !s->inter_item || !s->inter_ts || !s->ufeat_ptr || !s->ufeat ||
      !s->ifeat_ptr || !s->ifeat || !s->user_gid) {
    shard_free(s);
    return fm_fail(err, "shard_alloc: out of memory for %u users, %u items, %u interactions",
                   n_users, n_items, n_inter);
  }
  /* Empty CSRs are consistent; callers fill the rest. */
  s->ufeat_ptr[n_users] = 0;
  s->ifeat_ptr[n_items] = 0;
  return 0;
}

void shard_free(shard_t *s) {
  if (!s) return;
  free(s->user_ptr);
  free(s->inter_item);
  free(s->inter_ts);
  free(s->ufeat_ptr);
  free(s->ufeat);
  free(s->ifeat_ptr);
  free(s->ifeat);
  free(s->user_gid);
  memset(s, 0, sizeof *s);
}

/* A CSR offset array of n rows ending at total: starts at 0, non-decreasing. */
static int check_csr(const uint32_t *ptr, uint32_t n, uint64_t total, const char *what,
                     fm_err *err) {
  if (!ptr) return fm_fail(err, "%s is missing", what);
  if (ptr[0] != 0) return fm_fail(err, "%s[0] = %u, expected 0", what, ptr[0]);
  for (uint32_t i = 0; i < n; i++)
    if (ptr[i + 1] < ptr[i])
      return fm_fail(err, "%s decreases at row %u (%u then %u)", what, i, ptr[i], ptr[i + 1]);
  if (total != UINT64_MAX && ptr[n] != total)
    return fm_fail(err, "%s[%u] = %u, expected %llu", what, n, ptr[n],
                   (unsigned long long)total);
  return 0;
}

int shard_validate(const shard_t *s, fm_err *err) {
  if (memchr(s->name, '\0', sizeof s->name) == NULL)
    return fm_fail(err, "shard name is not NUL-terminated");
  if (check_csr(s->user_ptr, s->n_users, s->n_inter, "user_ptr", err)) return -1;
  if (check_csr(s->ufeat_ptr, s->n_users, UINT64_MAX, "ufeat_ptr", err)) return -1;
  if (check_csr(s->ifeat_ptr, s->n_items, UINT64_MAX, "ifeat_ptr", err)) return -1;
  if (s->n_inter && (!s->inter_item || !s->inter_ts))
    return fm_fail(err, "interaction arrays missing for %u interactions", s->n_inter);
  if (s->ufeat_ptr[s->n_users] && !s->ufeat) return fm_fail(err, "user feature array missing");
  if (s->ifeat_ptr[s->n_items] && !s->ifeat) return fm_fail(err, "item feature array missing");
  for (uint32_t u = 0; u < s->n_users; u++) {
    for (uint32_t j = s->user_ptr[u]; j < s->user_ptr[u + 1]; j++) {
      if (s->inter_item[j] >= s->n_items)
        return fm_fail(err, "interaction %u of user %u: item %u out of range (n_items %u)", j,
                       u, s->inter_item[j], s->n_items);
      if (j > s->user_ptr[u] && s->inter_ts[j] < s->inter_ts[j - 1])
        return fm_fail(err, "user %u: timestamps out of order at interaction %u (%lld after %lld)",
                       u, j, (long long)s->inter_ts[j], (long long)s->inter_ts[j - 1]);
    }
  }
  return 0;
}

/* --- writing ------------------------------------------------------------ */

/* Buffered writer that hashes everything it writes. */
typedef struct wbuf {
  FILE *f;
  crypto_generichash_state h;
  uint8_t buf[1 << 16];
  size_t n;
  int failed;
} wbuf_t;

static void wb_flush(wbuf_t *w) {
  if (!w->n || w->failed) return;
  crypto_generichash_update(&w->h, w->buf, w->n);
  if (fwrite(w->buf, 1, w->n, w->f) != w->n) w->failed = 1;
  w->n = 0;
}
static void wb_bytes(wbuf_t *w, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    if (w->n == sizeof w->buf) wb_flush(w);
    size_t k = sizeof w->buf - w->n;
    if (k > n) k = n;
    memcpy(w->buf + w->n, b, k);
    w->n += k;
    b += k;
    n -= k;
  }
}
static void wb_u32(wbuf_t *w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  wb_bytes(w, b, 4);
}
static void wb_u64(wbuf_t *w, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
  wb_bytes(w, b, 8);
}
static void wb_u32s(wbuf_t *w, const uint32_t *a, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) wb_u32(w, a[i]);
}

int shard_write(const shard_t *s, const char *path, fm_err *err) {
  if (shard_validate(s, err)) return fm_wrap(err, "writing shard %s", path);
  if (sodium_init() < 0) return fm_fail(err, "writing shard %s: libsodium failed to initialise", path);
  wbuf_t *w = malloc(sizeof *w);
  if (!w) return fm_fail(err, "writing shard %s: out of memory", path);
  fm_atomic a;
  if (fm_atomic_open(&a, path, err)) {
    free(w);
    return fm_wrap(err, "writing shard");
  }
  w->n = 0;
  w->failed = 0;
  w->f = a.f;
  crypto_generichash_init(&w->h, NULL, 0, SHARD_SUM_BYTES);

  uint32_t n_ufeat = s->ufeat_ptr[s->n_users], n_ifeat = s->ifeat_ptr[s->n_items];
  char name[SHARD_NAME_MAX];
  memset(name, 0, sizeof name);
  memcpy(name, s->name, strlen(s->name)); /* validated: NUL inside */
  wb_bytes(w, SHARD_MAGIC, SHARD_MAGIC_LEN);
  wb_u32(w, SHARD_FORMAT_VERSION);
  wb_u32(w, s->user_gid ? SHARD_FLAG_GID : 0);
  wb_bytes(w, name, sizeof name);
  wb_u32(w, s->platform);
  wb_u32(w, s->n_users);
  wb_u32(w, s->n_items);
  wb_u32(w, s->n_inter);
  wb_u32(w, n_ufeat);
  wb_u32(w, n_ifeat);
  wb_u32s(w, s->user_ptr, (uint64_t)s->n_users + 1);
  wb_u32s(w, s->inter_item, s->n_inter);
  for (uint32_t j = 0; j < s->n_inter; j++) wb_u64(w, (uint64_t)s->inter_ts[j]);
  wb_u32s(w, s->ufeat_ptr, (uint64_t)s->n_users + 1);
  wb_u32s(w, s->ufeat, n_ufeat);
  wb_u32s(w, s->ifeat_ptr, (uint64_t)s->n_items + 1);
  wb_u32s(w, s->ifeat, n_ifeat);
  if (s->user_gid) wb_u32s(w, s->user_gid, s->n_users);
  wb_flush(w);
  uint8_t sum[SHARD_SUM_BYTES];
  crypto_generichash_final(&w->h, sum, sizeof sum);
  if (!w->failed && fwrite(sum, 1, sizeof sum, w->f) != sizeof sum) w->failed = 1;
  int failed = w->failed;
  free(w);
  if (failed) {
    fm_atomic_abort(&a);
    return fm_fail(err, "writing shard %s: write failed (%s)", path, strerror(errno ? errno : EIO));
  }
  return fm_atomic_commit(&a, err) ? fm_wrap(err, "writing shard") : 0;
}

/* --- reading ------------------------------------------------------------ */

static uint32_t rd_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}
static const uint8_t *rd_u32s(uint32_t *dst, const uint8_t *p, uint64_t n) {
  for (uint64_t i = 0; i < n; i++, p += 4) dst[i] = rd_u32(p);
  return p;
}

static int sum_matches(const uint8_t *data, uint64_t n_body) {
  uint8_t sum[SHARD_SUM_BYTES];
  crypto_generichash(sum, sizeof sum, data, (unsigned long long)n_body, NULL, 0);
  return sodium_memcmp(sum, data + n_body, sizeof sum) == 0;
}

/* Reads the whole file; *size is its length. */
static int slurp(uint8_t **data, uint64_t *size, const char *path, fm_err *err) {
  *data = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    return fm_fail(err, "cannot open shard %s: %s", path, strerror(e));
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return fm_fail(err, "shard %s: not a regular file", path);
  }
  uint64_t n = (uint64_t)st.st_size;
  if (n > (uint64_t)SIZE_MAX) {
    fclose(f);
    return fm_fail(err, "shard %s: file too large (%llu bytes)", path, (unsigned long long)n);
  }
  uint8_t *d = malloc(n ? (size_t)n : 1);
  if (!d) {
    fclose(f);
    return fm_fail(err, "shard %s: out of memory for %llu bytes", path, (unsigned long long)n);
  }
  size_t got = fread(d, 1, (size_t)n, f);
  int bad = ferror(f);
  fclose(f);
  if (bad || got != (size_t)n) {
    free(d);
    return fm_fail(err, "shard %s: read error (got %zu of %llu bytes)", path, got,
                   (unsigned long long)n);
  }
  *data = d;
  *size = n;
  return 0;
}

int shard_open(shard_t *s, const char *path, fm_err *err) {
  memset(s, 0, sizeof *s);
  if (sodium_init() < 0) return fm_fail(err, "shard %s: libsodium failed to initialise", path);
  uint8_t *d = NULL;
  uint64_t size = 0;
  if (slurp(&d, &size, path, err)) return -1;
  int rc = -1;
  if (size < SHARD_MAGIC_LEN || memcmp(d, SHARD_MAGIC, SHARD_MAGIC_LEN) != 0) {
    char found[3 * SHARD_MAGIC_LEN + 1] = "";
    for (uint64_t i = 0; i < size && i < SHARD_MAGIC_LEN; i++)
      snprintf(found + 2 * i, 3, "%02x", d[i]);
    fm_fail(err, "shard %s: wrong magic: expected \"%s\", found %s%s (not a fedmeta shard)",
            path, SHARD_MAGIC, size ? "bytes " : "an empty file", found);
    goto out;
  }
  if (size < SHARD_HEADER_BYTES + SHARD_SUM_BYTES) {
    fm_fail(err, "shard %s: truncated file: %llu bytes, a shard needs at least %d", path,
            (unsigned long long)size, SHARD_HEADER_BYTES + SHARD_SUM_BYTES);
    goto out;
  }
  const uint8_t *p = d + SHARD_MAGIC_LEN;
  uint32_t version = rd_u32(p), flags = rd_u32(p + 4);
  p += 8;
  if (version != SHARD_FORMAT_VERSION) {
    fm_fail(err, "shard %s: unsupported format version %u (this build reads version %u)", path,
            version, SHARD_FORMAT_VERSION);
    goto out;
  }
  const uint8_t *name = p;
  p += SHARD_NAME_MAX;
  uint32_t platform = rd_u32(p), n_users = rd_u32(p + 4), n_items = rd_u32(p + 8);
  uint32_t n_inter = rd_u32(p + 12), n_ufeat = rd_u32(p + 16), n_ifeat = rd_u32(p + 20);
  p += 24;

  /* Expected size from the counts, in 64 bits (no overflow: each term < 2^36). */
  uint64_t expect = SHARD_HEADER_BYTES + SHARD_SUM_BYTES;
  expect += 4 * ((uint64_t)n_users + 1) + 12 * (uint64_t)n_inter;
  expect += 4 * ((uint64_t)n_users + 1) + 4 * (uint64_t)n_ufeat;
  expect += 4 * ((uint64_t)n_items + 1) + 4 * (uint64_t)n_ifeat;
  if (flags & SHARD_FLAG_GID) expect += 4 * (uint64_t)n_users;
  if (size != expect) {
    /* Tell apart a cut-off file, bytes appended after a good shard, and a
     * header whose counts were damaged, by where a valid checksum sits. */
    if (size > expect && sum_matches(d, expect - SHARD_SUM_BYTES))
      fm_fail(err, "shard %s: %llu trailing bytes after the checksum (expected %llu bytes, "
              "found %llu)", path, (unsigned long long)(size - expect),
              (unsigned long long)expect, (unsigned long long)size);
    else if (sum_matches(d, size - SHARD_SUM_BYTES))
      fm_fail(err, "shard %s: counts inconsistent with the file size: %u users, %u items, "
              "%u interactions need %llu bytes, the file has %llu (written by a faulty writer?)",
              path, n_users, n_items, n_inter, (unsigned long long)expect,
              (unsigned long long)size);
    else if (size < expect)
      fm_fail(err, "shard %s: truncated file: the header's counts need %llu bytes, found %llu "
              "(or the counts are corrupted)", path, (unsigned long long)expect,
              (unsigned long long)size);
    else
      fm_fail(err, "shard %s: counts inconsistent with the file size: the header's counts "
              "need %llu bytes, found %llu (corrupted header or appended data)", path,
              (unsigned long long)expect, (unsigned long long)size);
    goto out;
  }
  if (!sum_matches(d, size - SHARD_SUM_BYTES)) {
    fm_fail(err, "shard %s: checksum mismatch: the BLAKE2b checksum in the last %d bytes does "
            "not match the contents (file corrupted); regenerate or re-import it",
            path, SHARD_SUM_BYTES);
    goto out;
  }
  if (flags & ~SHARD_FLAG_GID) {
    fm_fail(err, "shard %s: unknown flags 0x%x (expected 0 or 0x%x)", path, flags,
            SHARD_FLAG_GID);
    goto out;
  }
  if (memchr(name, '\0', SHARD_NAME_MAX) == NULL) {
    fm_fail(err, "shard %s: the name field is not NUL-terminated", path);
    goto out;
  }

  /* The counts now reproduce the file size, so these allocations are bounded by it. */
  if (shard_alloc(s, n_users, n_items, n_inter, n_ufeat, n_ifeat, err)) {
    fm_wrap(err, "shard %s", path);
    goto out;
  }
  memcpy(s->name, name, SHARD_NAME_MAX);
  s->platform = platform;
  p = rd_u32s(s->user_ptr, p, (uint64_t)n_users + 1);
  p = rd_u32s(s->inter_item, p, n_inter);
  for (uint32_t j = 0; j < n_inter; j++, p += 8) s->inter_ts[j] = (int64_t)rd_u64(p);
  p = rd_u32s(s->ufeat_ptr, p, (uint64_t)n_users + 1);
  p = rd_u32s(s->ufeat, p, n_ufeat);
  p = rd_u32s(s->ifeat_ptr, p, (uint64_t)n_items + 1);
  p = rd_u32s(s->ifeat, p, n_ifeat);
  if (flags & SHARD_FLAG_GID) {
    rd_u32s(s->user_gid, p, n_users);
  } else {
    free(s->user_gid);
    s->user_gid = NULL;
  }
  /* The feature CSRs must end exactly at the stored totals. */
  if (s->ufeat_ptr[n_users] != n_ufeat || s->ifeat_ptr[n_items] != n_ifeat) {
    fm_fail(err, "shard %s: feature offsets end at %u / %u, expected the stored totals %u / %u",
            path, s->ufeat_ptr[n_users], s->ifeat_ptr[n_items], n_ufeat, n_ifeat);
    shard_free(s);
    goto out;
  }
  if (shard_validate(s, err)) {
    fm_wrap(err, "shard %s is inconsistent", path);
    shard_free(s);
    goto out;
  }
  rc = 0;
out:
  free(d);
  return rc;
}
