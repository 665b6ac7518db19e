/* common/bulk.c: ChaCha20 keystream and XChaCha20-Poly1305 over megabytes
 * (see bulk.h): OpenSSL's libcrypto when built with it, libsodium otherwise,
 * the same bytes either way. */
#include "common/bulk.h"
#include "common/le.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#ifdef FEDMETA_HAVE_OPENSSL
#include <openssl/evp.h>
#endif

_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == BULK_KEYBYTES, "key size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == BULK_XNONCEBYTES, "nonce size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == BULK_TAGBYTES, "tag size");

/* EVP takes int lengths: pieces of at most 1 GiB. */
#define BULK_PIECE ((size_t)1 << 30)
#define ZERO_BYTES 65536u
static const uint8_t ZEROS[ZERO_BYTES];

void bulk_chacha20_stream_sodium(uint8_t *out, size_t len, uint64_t ic, const uint8_t key[BULK_KEYBYTES]) {
  static const uint8_t nonce[8] = {0};
  for (size_t off = 0; off < len; off += ZERO_BYTES) { /* xor of zeros: takes a block counter */
    size_t n = len - off < ZERO_BYTES ? len - off : ZERO_BYTES;
    crypto_stream_chacha20_xor_ic(out + off, ZEROS, n, nonce, ic + off / 64, key);
  }
}

int bulk_aead_encrypt_sodium(uint8_t *c, const uint8_t *m, size_t mlen, const uint8_t *ad, size_t adlen,
                             const uint8_t npub[BULK_XNONCEBYTES], const uint8_t key[BULK_KEYBYTES]) {
  unsigned long long clen = 0;
  return crypto_aead_xchacha20poly1305_ietf_encrypt(c, &clen, m, mlen, ad, adlen, NULL, npub, key) == 0 ? 0 : -1;
}

static int aead_decrypt_sodium(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t *ad, size_t adlen,
                               const uint8_t npub[BULK_XNONCEBYTES], const uint8_t key[BULK_KEYBYTES]) {
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(m, &mlen, NULL, c, clen, ad, adlen, npub, key) == 0) return 0;
  sodium_memzero(m, clen - BULK_TAGBYTES);
  return -1;
}

#ifdef FEDMETA_HAVE_OPENSSL
static EVP_CIPHER *ossl_stream, *ossl_aead;
static pthread_once_t ossl_once = PTHREAD_ONCE_INIT;
static void ossl_fetch(void) {
  /* NULL (and the libsodium path) if this OpenSSL lacks them, e.g. a FIPS-only configuration */
  ossl_stream = EVP_CIPHER_fetch(NULL, "ChaCha20", NULL);
  ossl_aead = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
  if (!ossl_stream || !ossl_aead) {
    EVP_CIPHER_free(ossl_stream);
    EVP_CIPHER_free(ossl_aead);
    ossl_stream = ossl_aead = NULL;
  }
}
static int ossl_ready(void) {
  pthread_once(&ossl_once, ossl_fetch);
  return ossl_aead != NULL;
}

/* OpenSSL's AVX-512 code returns with the upper halves of the vector registers
 * dirty; until a vzeroupper, the plain SSE code that follows (the coordinator's
 * norm check, fixed-point loops) ran 4-5x slower on the benchmark machine. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
static int has_avx = -1;
static void clean_upper(void) {
  if (has_avx < 0) has_avx = __builtin_cpu_supports("avx") != 0;
  if (has_avx) __asm__ volatile("vzeroupper" ::: "memory");
}
#else
static void clean_upper(void) {}
#endif
/* EVP ChaCha20's 16-byte IV is the initial state words 12..15: the 64-bit
 * block counter then the 64-bit nonce (DJB layout; OpenSSL carries the counter
 * into the second word). */
static void ossl_iv(uint8_t iv[16], uint64_t ic) {
  memset(iv, 0, 16);
  le_put64(iv, ic);
}
#endif

const char *bulk_engine(void) {
#ifdef FEDMETA_HAVE_OPENSSL
  if (ossl_ready()) return "openssl";
#endif
  return "libsodium";
}

struct bulk_prg {
#ifdef FEDMETA_HAVE_OPENSSL
  EVP_CIPHER_CTX *ctx; /* NULL: the libsodium path */
#endif
  uint8_t key[BULK_KEYBYTES];
  uint64_t pos;      /* bytes of keystream handed out */
  uint8_t block[64]; /* the current partial block (libsodium path) */
};

bulk_prg_t *bulk_prg_new(const uint8_t key[BULK_KEYBYTES]) { return bulk_prg_new_at(key, 0); }

bulk_prg_t *bulk_prg_new_at(const uint8_t key[BULK_KEYBYTES], uint64_t ic) {
  bulk_prg_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  memcpy(p->key, key, BULK_KEYBYTES);
  p->pos = 64 * ic;
#ifdef FEDMETA_HAVE_OPENSSL
  if (ossl_ready()) {
    uint8_t iv[16];
    ossl_iv(iv, ic);
    p->ctx = EVP_CIPHER_CTX_new();
    if (!p->ctx || EVP_EncryptInit_ex2(p->ctx, ossl_stream, key, iv, NULL) != 1) {
      bulk_prg_free(p);
      return NULL;
    }
  }
#endif
  return p;
}

void bulk_prg_next(bulk_prg_t *p, uint8_t *out, size_t len) {
#ifdef FEDMETA_HAVE_OPENSSL
  if (p->ctx) {
    for (size_t off = 0; off < len; off += ZERO_BYTES) {
      int n = (int)(len - off < ZERO_BYTES ? len - off : ZERO_BYTES), outl = 0;
      EVP_EncryptUpdate(p->ctx, out + off, &outl, ZEROS, n); /* cannot fail for a stream cipher */
    }
    clean_upper();
    p->pos += len;
    return;
  }
#endif
  size_t off = 0;
  while (off < len) {
    size_t in_block = (size_t)(p->pos % 64);
    if (in_block == 0 && len - off >= 64) { /* whole blocks straight into out */
      size_t n = (len - off) / 64 * 64;
      bulk_chacha20_stream_sodium(out + off, n, p->pos / 64, p->key);
      off += n;
      p->pos += n;
      continue;
    }
    if (in_block == 0) bulk_chacha20_stream_sodium(p->block, 64, p->pos / 64, p->key);
    size_t n = 64 - in_block < len - off ? 64 - in_block : len - off;
    memcpy(out + off, p->block + in_block, n);
    off += n;
    p->pos += n;
  }
}

void bulk_prg_free(bulk_prg_t *p) {
  if (!p) return;
#ifdef FEDMETA_HAVE_OPENSSL
  EVP_CIPHER_CTX_free(p->ctx); /* cleanses the key schedule */
#endif
  sodium_memzero(p, sizeof *p);
  free(p);
}

void bulk_chacha20_stream(uint8_t *out, size_t len, uint64_t ic, const uint8_t key[BULK_KEYBYTES]) {
#ifdef FEDMETA_HAVE_OPENSSL
  if (ossl_ready()) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    uint8_t iv[16];
    ossl_iv(iv, ic);
    if (ctx && EVP_EncryptInit_ex2(ctx, ossl_stream, key, iv, NULL) == 1) {
      for (size_t off = 0; off < len; off += ZERO_BYTES) {
        int n = (int)(len - off < ZERO_BYTES ? len - off : ZERO_BYTES), outl = 0;
        EVP_EncryptUpdate(ctx, out + off, &outl, ZEROS, n);
      }
      EVP_CIPHER_CTX_free(ctx);
      clean_upper();
      return;
    }
    EVP_CIPHER_CTX_free(ctx);
  }
#endif
  bulk_chacha20_stream_sodium(out, len, ic, key);
}

#ifdef FEDMETA_HAVE_OPENSSL
/* One RFC 8439 ChaCha20-Poly1305 pass under the XChaCha20 subkey. */
static int ossl_aead_run(int enc, uint8_t *out, const uint8_t *in, size_t len, uint8_t tag[BULK_TAGBYTES],
                     const uint8_t *ad, size_t adlen, const uint8_t npub[BULK_XNONCEBYTES],
                     const uint8_t key[BULK_KEYBYTES]) {
  uint8_t subkey[32], nonce[12] = {0};
  crypto_core_hchacha20(subkey, npub, key, NULL);
  memcpy(nonce + 4, npub + 16, 8);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int ok = ctx != NULL && EVP_CipherInit_ex2(ctx, ossl_aead, subkey, nonce, enc, NULL) == 1;
  sodium_memzero(subkey, sizeof subkey);
  int outl = 0;
  if (ok && !enc) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, BULK_TAGBYTES, tag) == 1;
  for (size_t off = 0; ok && off < adlen; off += BULK_PIECE) {
    size_t n = adlen - off < BULK_PIECE ? adlen - off : BULK_PIECE;
    ok = EVP_CipherUpdate(ctx, NULL, &outl, ad + off, (int)n) == 1;
  }
  for (size_t off = 0; ok && off < len; off += BULK_PIECE) {
    size_t n = len - off < BULK_PIECE ? len - off : BULK_PIECE;
    ok = EVP_CipherUpdate(ctx, out + off, &outl, in + off, (int)n) == 1;
  }
  if (ok) ok = EVP_CipherFinal_ex(ctx, out + len, &outl) == 1; /* decrypting: the tag check */
  if (ok && enc) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, BULK_TAGBYTES, tag) == 1;
  EVP_CIPHER_CTX_free(ctx);
  clean_upper();
  return ok ? 0 : -1;
}
#endif

int bulk_aead_encrypt(uint8_t *c, const uint8_t *m, size_t mlen, const uint8_t *ad, size_t adlen,
                      const uint8_t npub[BULK_XNONCEBYTES], const uint8_t key[BULK_KEYBYTES]) {
#ifdef FEDMETA_HAVE_OPENSSL
  if (ossl_ready()) return ossl_aead_run(1, c, m, mlen, c + mlen, ad, adlen, npub, key);
#endif
  return bulk_aead_encrypt_sodium(c, m, mlen, ad, adlen, npub, key);
}

int bulk_aead_decrypt(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t *ad, size_t adlen,
                      const uint8_t npub[BULK_XNONCEBYTES], const uint8_t key[BULK_KEYBYTES]) {
  if (clen < BULK_TAGBYTES) return -1;
#ifdef FEDMETA_HAVE_OPENSSL
  if (ossl_ready()) {
    size_t mlen = clen - BULK_TAGBYTES;
    uint8_t tag[BULK_TAGBYTES];
    memcpy(tag, c + mlen, BULK_TAGBYTES); /* before an in-place decryption could reach it */
    if (ossl_aead_run(0, m, c, mlen, tag, ad, adlen, npub, key) == 0) return 0;
    sodium_memzero(m, mlen); /* OpenSSL decrypts before it checks the tag */
    return -1;
  }
#endif
  return aead_decrypt_sodium(m, c, clen, ad, adlen, npub, key);
}
