/* common/keys.c: secret key files and keyrings (see keys.h for the formats). */
#include "common/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"

#define KEYS_HEADER "fedmeta-secret-key v"
#define KEYS_FILE_MAX 4096
#define KEYRING_FILE_MAX (16u << 20)

int keys_name_check(const char *name, fm_err *err) {
  size_t n = strlen(name);
  if (n < 1 || n > KEYS_NAME_MAX)
    return fm_fail(err, "party name '%s' must have 1 to %d characters", name, KEYS_NAME_MAX);
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return fm_fail(err, "party name '%s': only letters, digits, '.', '_' and '-' are allowed", name);
  }
  return 0;
}

static void b64(char out[KEYS_B64_LEN + 1], const uint8_t in[32]) {
  sodium_bin2base64(out, KEYS_B64_LEN + 1, in, 32, sodium_base64_VARIANT_ORIGINAL);
}

/* Exactly 32 bytes of base64 in tok[0..len). */
static int unb64(uint8_t out[32], const char *tok, size_t len) {
  size_t bin_len = 0;
  const char *end = NULL;
  if (sodium_base642bin(out, 32, tok, len, NULL, &bin_len, &end, sodium_base64_VARIANT_ORIGINAL) != 0) return -1;
  return bin_len == 32 && end == tok + len ? 0 : -1;
}

/* --- writing ------------------------------------------------------------- */

static int write_all(int fd, const char *buf, size_t len) {
  while (len) {
    ssize_t w = write(fd, buf, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += w;
    len -= (size_t)w;
  }
  return 0;
}

/* fsync the folder holding path, so the new name survives a crash. */
static void sync_parent(const char *path) {
  char dir[4096];
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) : 0;
  if (n >= sizeof dir) return;
  if (slash && n == 0) n = 1; /* "/name" */
  memcpy(dir, slash ? path : ".", slash ? n : 1);
  dir[slash ? n : 1] = '\0';
  int fd = open(dir, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

int keys_write_secret(const char *path, const char *name, const seal_identity_t *id, fm_err *err) {
  if (keys_name_check(name, err)) return -1;
  if (!id || !id->sk) return fm_fail(err, "%s: no secret key to write", path);
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 5);
  if (!tmp) return fm_fail(err, "%s: out of memory", path);
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp", 5);

  /* the file text, in protected memory */
  enum { CAP = 1024 };
  char *text = sodium_malloc(CAP);
  uint8_t *raw = sodium_malloc(64);
  char *enc = sodium_malloc(2 * (KEYS_B64_LEN + 1));
  int rc = -1, fd = -1, created = 0;
  if (!text || !raw || !enc) {
    fm_fail(err, "%s: cannot allocate protected memory", path);
    goto done;
  }
  seal_identity_export(raw, raw + 32, id);
  b64(enc, raw);
  b64(enc + KEYS_B64_LEN + 1, raw + 32);
  char spk[KEYS_B64_LEN + 1], kpk[KEYS_B64_LEN + 1];
  b64(spk, id->sign_pk);
  b64(kpk, id->kx_pk);
  int len = snprintf(text, CAP,
                     KEYS_HEADER "%d\n"
                     "# fedmeta secret key of party %s. Keep it private: mode 0600, never sent anywhere.\n"
                     "# Its public line (for the federation's keyring): %s %s %s\n"
                     "name %s\nsign-seed %s\nkx-secret %s\nsign-pk %s\nkx-pk %s\n",
                     KEYS_FILE_VERSION, name, name, spk, kpk, name, enc, enc + KEYS_B64_LEN + 1, spk, kpk);
  if (len < 0 || len >= CAP) {
    fm_fail(err, "%s: key file text too long", path);
    goto done;
  }
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    if (e == EEXIST)
      fm_fail(err, "%s exists (left by an interrupted keygen?); remove it and try again", tmp);
    else
      fm_fail(err, "cannot create %s (%s)", tmp, strerror(e));
    goto done;
  }
  created = 1;
  if (fchmod(fd, 0600) != 0 || write_all(fd, text, (size_t)len) != 0 || fsync(fd) != 0) {
    fm_fail(err, "writing %s failed (%s)", tmp, strerror(errno));
    goto done;
  }
  if (close(fd) != 0) {
    fd = -1;
    fm_fail(err, "writing %s failed (%s)", tmp, strerror(errno));
    goto done;
  }
  fd = -1;
  /* link() fails if path exists: a key file is never silently replaced */
  if (link(tmp, path) != 0) {
    int e = errno;
    if (e == EEXIST)
      fm_fail(err, "%s already exists; refusing to overwrite a secret key (move it away first)", path);
    else
      fm_fail(err, "cannot create %s (%s)", path, strerror(e));
    goto done;
  }
  sync_parent(path);
  rc = 0;
done:
  if (fd >= 0) close(fd);
  if (created) unlink(tmp); /* ours (O_EXCL); after link() path holds the key */
  sodium_free(text);
  sodium_free(raw);
  sodium_free(enc);
  free(tmp);
  return rc;
}

/* --- reading ------------------------------------------------------------- */

/* Next line of buf: [*s, *e) without the newline; returns 0 at the end. */
static int next_line(const char **p, const char *end, const char **s, const char **e) {
  if (*p >= end) return 0;
  *s = *p;
  const char *nl = memchr(*p, '\n', (size_t)(end - *p));
  *e = nl ? nl : end;
  *p = nl ? nl + 1 : end;
  if (*e > *s && (*e)[-1] == '\r') (*e)--;
  return 1;
}

/* Splits [s, e) at blanks into up to max tokens, stopping at '#'. */
static int tokens(const char *s, const char *e, const char **tok, size_t *tlen, int max) {
  int n = 0;
  while (s < e) {
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    if (s >= e || *s == '#') break;
    const char *b = s;
    while (s < e && *s != ' ' && *s != '\t') s++;
    if (n < max) {
      tok[n] = b;
      tlen[n] = (size_t)(s - b);
    }
    n++;
  }
  return n;
}

static int tok_is(const char *t, size_t n, const char *word) { return strlen(word) == n && memcmp(t, word, n) == 0; }

static int parse_secret(seal_identity_t *id, char *name, size_t name_cap, const char *path, const char *buf,
                        size_t len, fm_err *err) {
  const char *p = buf, *end = buf + len, *s, *e;
  int line = 0, have_header = 0;
  uint8_t *sec = sodium_malloc(64); /* sign seed || kx secret */
  if (!sec) return fm_fail(err, "%s: cannot allocate protected memory", path);
  uint8_t spk[32], kpk[32];
  char nm[KEYS_NAME_MAX + 1] = "";
  int got[5] = {0}; /* name, sign-seed, kx-secret, sign-pk, kx-pk */
  static const char *fields[5] = {"name", "sign-seed", "kx-secret", "sign-pk", "kx-pk"};
  int rc = -1;
  while (next_line(&p, end, &s, &e)) {
    line++;
    if (!have_header) {
      size_t hl = strlen(KEYS_HEADER);
      if ((size_t)(e - s) <= hl || memcmp(s, KEYS_HEADER, hl) != 0) {
        fm_fail(err, "%s:%d: not a fedmeta secret key file (expected '" KEYS_HEADER "%d')", path, line, KEYS_FILE_VERSION);
        goto done;
      }
      char v[16] = "";
      size_t vl = (size_t)(e - s) - hl;
      memcpy(v, s + hl, vl < sizeof v - 1 ? vl : sizeof v - 1);
      if (strcmp(v, "1") != 0) {
        fm_fail(err, "%s:%d: key file version '%s' is not supported (this fedmeta reads version %d)", path, line, v,
                KEYS_FILE_VERSION);
        goto done;
      }
      have_header = 1;
      continue;
    }
    const char *tok[3];
    size_t tl[3];
    int nt = tokens(s, e, tok, tl, 3);
    if (nt == 0) continue;
    if (nt != 2) {
      fm_fail(err, "%s:%d: expected 'FIELD VALUE'", path, line);
      goto done;
    }
    int f = -1;
    for (int i = 0; i < 5; i++)
      if (tok_is(tok[0], tl[0], fields[i])) f = i;
    if (f < 0) {
      fm_fail(err, "%s:%d: unknown field '%.*s' (expected name, sign-seed, kx-secret, sign-pk, kx-pk)", path, line,
              (int)(tl[0] < 40 ? tl[0] : 40), tok[0]);
      goto done;
    }
    if (got[f]) {
      fm_fail(err, "%s:%d: field %s given twice", path, line, fields[f]);
      goto done;
    }
    got[f] = line;
    int bad = 0;
    if (f == 0) {
      if (tl[1] > KEYS_NAME_MAX) bad = 1;
      else {
        memcpy(nm, tok[1], tl[1]);
        nm[tl[1]] = '\0';
        if (keys_name_check(nm, err)) {
          fm_wrap(err, "%s:%d", path, line);
          goto done;
        }
      }
    } else {
      uint8_t *dst = f == 1 ? sec : f == 2 ? sec + 32 : f == 3 ? spk : kpk;
      bad = unb64(dst, tok[1], tl[1]) != 0;
    }
    if (bad) {
      fm_fail(err, "%s:%d: %s is not %s", path, line, fields[f], f == 0 ? "a valid name" : "32 bytes of base64");
      goto done;
    }
  }
  if (!have_header) {
    fm_fail(err, "%s: empty file, not a fedmeta secret key", path);
    goto done;
  }
  for (int i = 0; i < 5; i++)
    if (!got[i]) {
      fm_fail(err, "%s: field %s is missing", path, fields[i]);
      goto done;
    }
  if (seal_identity_from_secret(id, sec, sec + 32, err)) goto done;
  if (sodium_memcmp(id->sign_pk, spk, 32) != 0 || sodium_memcmp(id->kx_pk, kpk, 32) != 0) {
    seal_identity_free(id);
    fm_fail(err, "%s: the public keys do not match the secret keys (corrupt or edited file)", path);
    goto done;
  }
  if (name) {
    if (strlen(nm) + 1 > name_cap) {
      seal_identity_free(id);
      fm_fail(err, "%s: name buffer too small", path);
      goto done;
    }
    memcpy(name, nm, strlen(nm) + 1);
  }
  rc = 0;
done:
  sodium_free(sec);
  return rc;
}

int keys_read_secret(seal_identity_t *id, char *name, size_t name_cap, const char *path, fm_err *err) {
  memset(id, 0, sizeof *id);
  if (seal_init(err)) return -1;
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ELOOP) return fm_fail(err, "%s is a symbolic link; give the key file itself", path);
    return fm_fail(err, "%s: cannot open (%s)", path, strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return fm_fail(err, "%s: not a regular file", path);
  }
  if (st.st_mode & 077) {
    close(fd);
    return fm_fail(err, "%s has mode %04o: a secret key must not be readable or writable by group or others; "
                        "run: chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
  }
  if (st.st_size > KEYS_FILE_MAX) {
    close(fd);
    return fm_fail(err, "%s: %lld bytes, too large for a key file", path, (long long)st.st_size);
  }
  char *buf = sodium_malloc(KEYS_FILE_MAX);
  if (!buf) {
    close(fd);
    return fm_fail(err, "%s: cannot allocate protected memory", path);
  }
  size_t len = 0;
  for (;;) {
    ssize_t r = read(fd, buf + len, KEYS_FILE_MAX - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      sodium_free(buf);
      return fm_fail(err, "%s: read failed (%s)", path, strerror(e));
    }
    if (r == 0 || (len += (size_t)r) == KEYS_FILE_MAX) break;
  }
  close(fd);
  int rc = parse_secret(id, name, name_cap, path, buf, len, err);
  sodium_free(buf); /* wipes */
  return rc;
}

/* --- public line and keygen --------------------------------------------- */

int keys_public_line(char *out, size_t cap, const char *name, const seal_identity_t *id, fm_err *err) {
  if (keys_name_check(name, err)) return -1;
  char spk[KEYS_B64_LEN + 1], kpk[KEYS_B64_LEN + 1];
  b64(spk, id->sign_pk);
  b64(kpk, id->kx_pk);
  int n = snprintf(out, cap, "%s %s %s", name, spk, kpk);
  if (n < 0 || (size_t)n >= cap) return fm_fail(err, "public key line buffer too small");
  return 0;
}

int keys_keygen(const char *out_path, const char *name, FILE *pub_out, fm_err *err) {
  char derived[KEYS_NAME_MAX + 1];
  if (!name) {
    const char *base = strrchr(out_path, '/');
    base = base ? base + 1 : out_path;
    size_t n = strlen(base);
    if (n > 4 && strcmp(base + n - 4, ".key") == 0) n -= 4;
    if (n == 0 || n > KEYS_NAME_MAX)
      return fm_fail(err, "cannot take a party name from '%s'; give one (1 to %d characters)", out_path, KEYS_NAME_MAX);
    memcpy(derived, base, n);
    derived[n] = '\0';
    name = derived;
  }
  if (keys_name_check(name, err)) return -1;
  seal_identity_t id;
  if (seal_identity_generate(&id, err)) return -1;
  char line[KEYS_LINE_MAX + 1];
  int rc = keys_public_line(line, sizeof line, name, &id, err);
  if (!rc) rc = keys_write_secret(out_path, name, &id, err);
  seal_identity_free(&id);
  if (rc) return -1;
  if (pub_out) {
    fprintf(pub_out, "# public key of party %s (secret key in %s); add this line to the federation's keyring:\n%s\n",
            name, out_path, line);
    if (fflush(pub_out) != 0 || ferror(pub_out)) return fm_fail(err, "cannot print the public key line");
  }
  return 0;
}

/* --- keyring ------------------------------------------------------------- */

int keys_read_keyring(keys_keyring_t *kr, const char *path, fm_err *err) {
  memset(kr, 0, sizeof *kr);
  struct stat st;
  if (stat(path, &st) == 0 && (st.st_mode & 022))
    return fm_fail(err, "%s has mode %04o: a keyring must not be writable by group or others (anyone could add a "
                        "party); run: chmod go-w %s", path, (unsigned)(st.st_mode & 07777), path);
  uint8_t *data;
  size_t len;
  if (fm_read_file(path, &data, &len, KEYRING_FILE_MAX, err)) return -1;
  const char *p = (const char *)data, *end = p + len, *s, *e;
  int line = 0;
  size_t cap = 0;
  while (next_line(&p, end, &s, &e)) {
    line++;
    const char *tok[3];
    size_t tl[3];
    int nt = tokens(s, e, tok, tl, 3);
    if (nt == 0) continue;
    if (nt != 3) {
      fm_fail(err, "%s:%d: expected 'NAME SIGN_PK KX_PK' (3 fields), got %d", path, line, nt);
      goto fail;
    }
    keys_entry_t en;
    memset(&en, 0, sizeof en);
    en.line = line;
    if (tl[0] > KEYS_NAME_MAX) {
      fm_fail(err, "%s:%d: party name longer than %d characters", path, line, KEYS_NAME_MAX);
      goto fail;
    }
    memcpy(en.name, tok[0], tl[0]);
    if (keys_name_check(en.name, err)) {
      fm_wrap(err, "%s:%d", path, line);
      goto fail;
    }
    if (unb64(en.sign_pk, tok[1], tl[1])) {
      fm_fail(err, "%s:%d: signing key of %s is not 32 bytes of base64", path, line, en.name);
      goto fail;
    }
    if (unb64(en.kx_pk, tok[2], tl[2])) {
      fm_fail(err, "%s:%d: key-exchange key of %s is not 32 bytes of base64", path, line, en.name);
      goto fail;
    }
    for (size_t i = 0; i < kr->n; i++) {
      const keys_entry_t *o = &kr->e[i];
      const char *what = strcmp(o->name, en.name) == 0 ? "name"
                         : memcmp(o->sign_pk, en.sign_pk, 32) == 0 ? "signing key"
                         : memcmp(o->kx_pk, en.kx_pk, 32) == 0     ? "key-exchange key"
                                                                   : NULL;
      if (what) {
        fm_fail(err, "%s:%d: duplicate %s (already on line %d for %s)", path, line, what, o->line, o->name);
        goto fail;
      }
    }
    if (kr->n == cap) {
      size_t nc = cap ? 2 * cap : 16;
      keys_entry_t *ne = realloc(kr->e, nc * sizeof *ne);
      if (!ne) {
        fm_fail(err, "%s: out of memory", path);
        goto fail;
      }
      kr->e = ne;
      cap = nc;
    }
    kr->e[kr->n++] = en;
  }
  free(data);
  if (kr->n == 0) return fm_fail(err, "%s: the keyring lists no party", path);
  return 0;
fail:
  free(data);
  keys_keyring_free(kr);
  return -1;
}

void keys_keyring_free(keys_keyring_t *kr) {
  if (!kr) return;
  free(kr->e);
  memset(kr, 0, sizeof *kr);
}

const keys_entry_t *keys_keyring_find_sign(const keys_keyring_t *kr, const uint8_t sign_pk[SEAL_SIGN_PKBYTES]) {
  for (size_t i = 0; i < kr->n; i++)
    if (sodium_memcmp(kr->e[i].sign_pk, sign_pk, SEAL_SIGN_PKBYTES) == 0) return &kr->e[i];
  return NULL;
}

const keys_entry_t *keys_keyring_find_name(const keys_keyring_t *kr, const char *name) {
  for (size_t i = 0; i < kr->n; i++)
    if (strcmp(kr->e[i].name, name) == 0) return &kr->e[i];
  return NULL;
}
