/* tests/unit/test_keys.c: key files and keyrings. keygen writes mode 0600 and
 * prints a public line that parses as a keyring entry; a key file readable by
 * group or others (0644, 0640, 0604) is refused with "chmod 600"; an existing
 * key is never overwritten; symlinks, other versions, edited public keys and
 * malformed lines are refused with FILE:LINE; keyring parse errors and
 * duplicates name FILE:LINE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/keys.h"
#include "tests/check.h"

static char dir[64];

static void path_in(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", dir, name); }

static void write_text(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  fputs(text, f);
  CHECK(fclose(f) == 0);
  CHECK(chmod(path, mode) == 0);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  CHECK(f != NULL);
  static char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void test_keygen_and_read(void) {
  fm_err err;
  char kp[256], line[512];
  path_in(kp, sizeof kp, "alice.key");
  char *pub = NULL;
  size_t publen = 0;
  FILE *ms = open_memstream(&pub, &publen);
  CHECK(ms != NULL);
  CHECK_OK(keys_keygen(kp, NULL, ms, &err)); /* name from the file name */
  fclose(ms);
  struct stat st;
  CHECK(stat(kp, &st) == 0);
  CHECK_EQ_INT(st.st_mode & 0777, 0600);
  char tmp[300];
  snprintf(tmp, sizeof tmp, "%s.tmp", kp);
  CHECK(access(tmp, F_OK) != 0); /* no temporary left behind */

  /* the printed public line is a keyring line */
  const char *nl = strchr(pub, '\n');
  CHECK(pub[0] == '#' && nl != NULL);
  snprintf(line, sizeof line, "%s", nl + 1);
  CHECK(strncmp(line, "alice ", 6) == 0);
  char rp[256];
  path_in(rp, sizeof rp, "ring1");
  write_text(rp, line, 0644);
  keys_keyring_t kr;
  CHECK_OK(keys_read_keyring(&kr, rp, &err));
  CHECK_EQ_INT(kr.n, 1);

  /* reading the key gives the same public keys; the name comes back */
  seal_identity_t id;
  char name[KEYS_NAME_MAX + 1];
  CHECK_OK(keys_read_secret(&id, name, sizeof name, kp, &err));
  CHECK(strcmp(name, "alice") == 0);
  CHECK(memcmp(id.sign_pk, kr.e[0].sign_pk, 32) == 0 && memcmp(id.kx_pk, kr.e[0].kx_pk, 32) == 0);
  CHECK(keys_keyring_find_sign(&kr, id.sign_pk) == &kr.e[0]);
  char again[KEYS_LINE_MAX + 1];
  CHECK_OK(keys_public_line(again, sizeof again, "alice", &id, &err));
  line[strcspn(line, "\n")] = '\0';
  CHECK(strcmp(again, line) == 0);
  /* the printed text holds no secret: the sign-seed value is not in it */
  char *text = slurp(kp);
  char *seed = strstr(text, "\nsign-seed ");
  CHECK(seed != NULL);
  char seedval[64];
  CHECK(sscanf(seed + 11, "%63s", seedval) == 1);
  CHECK(strstr(pub, seedval) == NULL);
  free(pub);

  /* a handshake made with the loaded key verifies against the keyring entry */
  uint8_t hs[SEAL_HSBYTES], spk[32], kpk[32];
  CHECK_OK(seal_handshake_make(hs, &id, 42, 1, &err));
  CHECK_OK(seal_handshake_verify(spk, kpk, hs, sizeof hs, 42, 1, kr.e[0].sign_pk, kr.e[0].kx_pk, &err));
  seal_identity_free(&id);
  keys_keyring_free(&kr);

  /* never overwrite an existing key */
  char before[4096];
  snprintf(before, sizeof before, "%s", slurp(kp));
  CHECK(keys_keygen(kp, "alice", NULL, &err) == -1);
  CHECK(strstr(err.msg, "already exists") != NULL);
  CHECK(strcmp(slurp(kp), before) == 0);
  CHECK(access(tmp, F_OK) != 0);

  /* a stale temporary is reported and left alone */
  char bp[256], btmp[300];
  path_in(bp, sizeof bp, "bob.key");
  snprintf(btmp, sizeof btmp, "%s.tmp", bp);
  write_text(btmp, "stale", 0600);
  CHECK(keys_keygen(bp, "bob", NULL, &err) == -1);
  CHECK(strstr(err.msg, "bob.key.tmp exists") != NULL);
  CHECK(access(btmp, F_OK) == 0 && access(bp, F_OK) != 0);
  unlink(btmp);
  /* bad names */
  CHECK(keys_keygen(bp, "bo b", NULL, &err) == -1);
  CHECK(keys_keygen(bp, "", NULL, &err) == -1);
  CHECK(access(bp, F_OK) != 0);
}

static void test_modes(void) {
  fm_err err;
  char kp[256];
  path_in(kp, sizeof kp, "carol.key");
  CHECK_OK(keys_keygen(kp, "carol", NULL, &err));
  seal_identity_t id;
  static const mode_t refused[] = {0644, 0640, 0604, 0660, 0602, 0620};
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    CHECK(chmod(kp, refused[i]) == 0);
    CHECK(keys_read_secret(&id, NULL, 0, kp, &err) == -1);
    CHECK(strstr(err.msg, "chmod 600") != NULL);
    CHECK(strstr(err.msg, kp) != NULL);
    CHECK(id.sk == NULL);
  }
  CHECK(chmod(kp, 0400) == 0);
  CHECK_OK(keys_read_secret(&id, NULL, 0, kp, &err));
  seal_identity_free(&id);
  CHECK(chmod(kp, 0600) == 0);
  /* a symlink to the key is refused */
  char lp[256];
  path_in(lp, sizeof lp, "link.key");
  CHECK(symlink(kp, lp) == 0);
  CHECK(keys_read_secret(&id, NULL, 0, lp, &err) == -1);
  CHECK(strstr(err.msg, "symbolic link") != NULL);
  /* missing file */
  path_in(lp, sizeof lp, "nope.key");
  CHECK(keys_read_secret(&id, NULL, 0, lp, &err) == -1);
  CHECK(strstr(err.msg, "cannot open") != NULL);
}

/* Rewrites carol.key's text with one substitution and expects msg_part. */
static void expect_bad_key(const char *from, const char *to, const char *msg_part) {
  fm_err err;
  char kp[256], bp[256];
  path_in(kp, sizeof kp, "carol.key");
  path_in(bp, sizeof bp, "bad.key");
  char text[4096];
  snprintf(text, sizeof text, "%s", slurp(kp));
  char *at = strstr(text, from);
  CHECK(at != NULL);
  char out[4096];
  snprintf(out, sizeof out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
  unlink(bp);
  write_text(bp, out, 0600);
  seal_identity_t id;
  CHECK(keys_read_secret(&id, NULL, 0, bp, &err) == -1);
  if (!strstr(err.msg, msg_part)) {
    fprintf(stderr, "expected '%s' in: %s\n", msg_part, err.msg);
    CHECK(0);
  }
}

static void test_bad_key_files(void) {
  expect_bad_key("fedmeta-secret-key v1", "fedmeta-secret-key v2", "bad.key:1: key file version '2' is not supported");
  expect_bad_key("fedmeta-secret-key v1", "hello", "bad.key:1: not a fedmeta secret key file");
  expect_bad_key("sign-seed ", "sign-seed AAAA", "bad.key:5: sign-seed is not 32 bytes of base64");
  expect_bad_key("kx-pk ", "kx-pk x", "bad.key:8: kx-pk is not 32 bytes of base64");
  expect_bad_key("name carol", "nam carol", "bad.key:4: unknown field 'nam'");
  expect_bad_key("name carol", "name carol extra", "bad.key:4: expected 'FIELD VALUE'");
  expect_bad_key("name carol\n", "name carol\nname carol\n", "bad.key:5: field name given twice");
  expect_bad_key("name carol\n", "", "field name is missing");
  {
    fm_err err;
    char kp[256], bp[256];
    path_in(kp, sizeof kp, "carol.key");
    path_in(bp, sizeof bp, "bad.key");
    char text[4096];
    snprintf(text, sizeof text, "%s", slurp(kp));
    char *at = strstr(text, "\nkx-pk ");
    CHECK(at != NULL);
    at[7] = at[7] == 'A' ? 'B' : 'A'; /* change the stored kx public key */
    unlink(bp);
    write_text(bp, text, 0600);
    seal_identity_t id;
    CHECK(keys_read_secret(&id, NULL, 0, bp, &err) == -1);
    CHECK(strstr(err.msg, "do not match") != NULL);
  }
}

static void expect_bad_ring(const char *text, const char *msg_part, mode_t mode) {
  fm_err err;
  char rp[256];
  path_in(rp, sizeof rp, "badring");
  unlink(rp);
  write_text(rp, text, mode);
  keys_keyring_t kr;
  CHECK(keys_read_keyring(&kr, rp, &err) == -1);
  CHECK(kr.e == NULL && kr.n == 0);
  if (!strstr(err.msg, msg_part)) {
    fprintf(stderr, "expected '%s' in: %s\n", msg_part, err.msg);
    CHECK(0);
  }
}

static void test_keyring(void) {
  fm_err err;
  char l[3][KEYS_LINE_MAX + 1];
  const char *names[3] = {"coord", "shop-1", "bank_2.eu"};
  for (int i = 0; i < 3; i++) {
    seal_identity_t id;
    CHECK_OK(seal_identity_generate(&id, &err));
    CHECK_OK(keys_public_line(l[i], sizeof l[i], names[i], &id, &err));
    seal_identity_free(&id);
  }
  char text[2048], rp[256];
  snprintf(text, sizeof text, "# federation keyring\n\n%s\n  \t\n%s   # the shop\r\n%s", l[0], l[1], l[2]);
  path_in(rp, sizeof rp, "ring");
  write_text(rp, text, 0644);
  keys_keyring_t kr;
  CHECK_OK(keys_read_keyring(&kr, rp, &err));
  CHECK_EQ_INT(kr.n, 3);
  CHECK(strcmp(kr.e[1].name, "shop-1") == 0);
  CHECK_EQ_INT(kr.e[1].line, 5);
  CHECK(keys_keyring_find_name(&kr, "bank_2.eu") == &kr.e[2]);
  CHECK(keys_keyring_find_sign(&kr, kr.e[2].sign_pk) == &kr.e[2]);
  CHECK(keys_keyring_find_name(&kr, "nobody") == NULL);
  uint8_t zero[32] = {0};
  CHECK(keys_keyring_find_sign(&kr, zero) == NULL);
  keys_keyring_free(&kr);
  keys_keyring_free(&kr);
  keys_keyring_free(NULL);

  /* errors name FILE:LINE */
  char bad[2048];
  snprintf(bad, sizeof bad, "# x\n%s\ncarol onlyonefield\n", l[0]);
  expect_bad_ring(bad, "badring:3: expected 'NAME SIGN_PK KX_PK' (3 fields), got 2", 0644);
  snprintf(bad, sizeof bad, "%s\n%s\n", l[0], l[0]);
  expect_bad_ring(bad, "badring:2: duplicate name (already on line 1 for coord)", 0644);
  /* same keys under another name */
  snprintf(bad, sizeof bad, "%s\nother%s\n", l[1], strchr(l[1], ' '));
  expect_bad_ring(bad, "badring:2: duplicate signing key (already on line 1 for shop-1)", 0644);
  snprintf(bad, sizeof bad, "%s\nx AAAA %s\n", l[0], strrchr(l[0], ' ') + 1);
  expect_bad_ring(bad, "badring:2: signing key of x is not 32 bytes of base64", 0644);
  snprintf(bad, sizeof bad, "\n\n\nx %s zzz\n", strchr(l[0], ' ') + 1);
  expect_bad_ring(bad, "badring:4: expected", 0644);
  snprintf(bad, sizeof bad, "bad/name %s", strchr(l[0], ' ') + 1);
  expect_bad_ring(bad, "badring:1: party name 'bad/name'", 0644);
  expect_bad_ring("# only comments\n\n", "lists no party", 0644);
  snprintf(bad, sizeof bad, "%s\n", l[0]);
  expect_bad_ring(bad, "chmod go-w", 0664);
  expect_bad_ring(bad, "chmod go-w", 0646);
}

int main(void) {
  fm_err err;
  CHECK_OK(seal_init(&err));
  snprintf(dir, sizeof dir, "/tmp/fedmeta-test-keys-XXXXXX");
  CHECK(mkdtemp(dir) != NULL);
  test_keygen_and_read();
  test_modes();
  test_bad_key_files();
  test_keyring();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
  printf("test_keys: ok\n");
  return 0;
}
