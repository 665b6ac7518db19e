/* common/keys.h: key files for pilots: a party's secret key file (written mode
 * 0600, refused when group or others may read or write it), the public key line
 * it prints, and the keyring that pins every party's public keys.
 *
 * Secret key file (text, one "field value" per line, '#' comments):
 *
 *   fedmeta-secret-key v1
 *   # ... a comment saying what the file is ...
 *   name      NAME
 *   sign-seed BASE64   (Ed25519 seed, 32 bytes)
 *   kx-secret BASE64   (X25519 secret key, 32 bytes)
 *   sign-pk   BASE64   (derived; checked on reading)
 *   kx-pk     BASE64   (derived; checked on reading)
 *
 * Keyring (text): one party per line, "NAME SIGN_PK KX_PK" (base64 as printed
 * by keys_public_line / fedmeta keygen), '#' starts a comment, blank lines are
 * skipped. Names, signing keys and kx keys must be unique. Base64 is the
 * standard alphabet with padding (sodium_base64_VARIANT_ORIGINAL). */
#ifndef FEDMETA_KEYS_H
#define FEDMETA_KEYS_H
#include <stddef.h>
#include <stdio.h>

#include "common/error.h"
#include "common/seal.h"

#define KEYS_NAME_MAX 63  /* [A-Za-z0-9._-], 1..63 characters */
#define KEYS_B64_LEN 44   /* base64 of 32 bytes, padded */
#define KEYS_LINE_MAX (KEYS_NAME_MAX + 2 * KEYS_B64_LEN + 3)
#define KEYS_FILE_VERSION 1

#define KEYS_WUR __attribute__((warn_unused_result))

/* 0 if name is a valid party name, else -1 with the rule. */
int keys_name_check(const char *name, fm_err *err) KEYS_WUR;

/* Writes id's secret key file to path: created as path.tmp with O_EXCL and
 * mode 0600, written, fsynced, then linked to path (so an existing key file is
 * never overwritten: that is an error) and path.tmp removed. On failure nothing
 * is left behind. The secret bytes pass only through wiped buffers. */
int keys_write_secret(const char *path, const char *name, const seal_identity_t *id, fm_err *err) KEYS_WUR;

/* Reads a secret key file into id (and its name into name, name_cap bytes,
 * may be NULL). Refuses a file that group or others may read or write
 * ("... run: chmod 600 FILE"), a symlink, another version, and a file whose
 * public keys do not match its secrets. id is empty on failure. */
int keys_read_secret(seal_identity_t *id, char *name, size_t name_cap, const char *path, fm_err *err) KEYS_WUR;

/* "NAME SIGN_PK KX_PK" (no newline) into out (cap >= KEYS_LINE_MAX + 1). */
int keys_public_line(char *out, size_t cap, const char *name, const seal_identity_t *id, fm_err *err) KEYS_WUR;

/* All of `fedmeta keygen`: a fresh identity, its secret key file at out_path,
 * and its public line (plus a comment saying where it goes) on pub_out (may be
 * NULL). name NULL: the file name of out_path without folder and ".key". */
int keys_keygen(const char *out_path, const char *name, FILE *pub_out, fm_err *err) KEYS_WUR;

typedef struct keys_entry {
  char name[KEYS_NAME_MAX + 1];
  uint8_t sign_pk[SEAL_SIGN_PKBYTES];
  uint8_t kx_pk[SEAL_KX_PKBYTES];
  int line; /* in the keyring file, for messages */
} keys_entry_t;

typedef struct keys_keyring {
  keys_entry_t *e; /* owned */
  size_t n;
} keys_keyring_t;

/* Parses a keyring file. Errors name FILE:LINE and what was expected;
 * duplicates are refused; a keyring that group or others may write is refused
 * (anyone could add a party). *kr is empty on failure. */
int keys_read_keyring(keys_keyring_t *kr, const char *path, fm_err *err) KEYS_WUR;
void keys_keyring_free(keys_keyring_t *kr);
/* The entry with this signing key / name, or NULL. */
const keys_entry_t *keys_keyring_find_sign(const keys_keyring_t *kr, const uint8_t sign_pk[SEAL_SIGN_PKBYTES]);
const keys_entry_t *keys_keyring_find_name(const keys_keyring_t *kr, const char *name);

#endif
