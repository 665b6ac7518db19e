/* common/bulk.h: the bulk symmetric crypto of fedmeta — the two operations
 * that touch every byte of a multi-megabyte delta or theta:
 *
 *   the ChaCha20 keystream (DJB ChaCha20, 20 rounds, 64-bit nonce of zeros,
 *   64-bit block counter): the secure-aggregation mask generator;
 *   XChaCha20-Poly1305-IETF: every sealed message.
 *
 * Both are computed by OpenSSL's libcrypto when fedmeta is built with it
 * (FEDMETA_HAVE_OPENSSL: AVX2 / AVX-512 code, 2.5-3.5x libsodium 1.0.18's
 * speed on the benchmark machine), else by libsodium. The bytes are the same
 * either way (tests/unit/test_seal.c and test_secagg.c compare the two, and the
 * known-answer vectors hold for both): this is an implementation choice, not a
 * protocol one. XChaCha20-Poly1305 is built as libsodium builds it: subkey =
 * HChaCha20(key, nonce[0..16]) (libsodium), then the RFC 8439
 * ChaCha20-Poly1305 with nonce 0^4 || nonce[16..24] (OpenSSL). */
#ifndef FEDMETA_BULK_H
#define FEDMETA_BULK_H
#include <stddef.h>
#include <stdint.h>

#define BULK_KEYBYTES 32u
#define BULK_XNONCEBYTES 24u
#define BULK_TAGBYTES 16u

/* "openssl" or "libsodium": which library computes the bulk crypto. */
const char *bulk_engine(void);

/* out[0..len) = ChaCha20 keystream under key from block `ic` on (DJB, zero
 * nonce). out may be unaligned. */
void bulk_chacha20_stream(uint8_t *out, size_t len, uint64_t ic, const uint8_t key[BULK_KEYBYTES]);

/* A keystream read in consecutive pieces (one per seed in a fused mask loop):
 * bulk_prg_next continues where the last call stopped. */
typedef struct bulk_prg bulk_prg_t;
/* NULL when out of memory. The key is copied (and wiped by bulk_prg_free). */
bulk_prg_t *bulk_prg_new(const uint8_t key[BULK_KEYBYTES]);
/* The same keystream from block `ic` on (64 bytes per block). */
bulk_prg_t *bulk_prg_new_at(const uint8_t key[BULK_KEYBYTES], uint64_t ic);
void bulk_prg_next(bulk_prg_t *p, uint8_t *out, size_t len);
void bulk_prg_free(bulk_prg_t *p);

/* XChaCha20-Poly1305-IETF, combined mode: c = ciphertext || 16-byte tag
 * (c holds mlen + 16). m and c may be the same buffer (in place), not
 * otherwise overlapping. Returns 0, or -1 on an internal failure. */
int bulk_aead_encrypt(uint8_t *c, const uint8_t *m, size_t mlen, const uint8_t *ad, size_t adlen,
                      const uint8_t npub[BULK_XNONCEBYTES], const uint8_t key[BULK_KEYBYTES]);
/* Opens c (clen = plaintext + 16 bytes) into m (clen - 16 bytes; may be c).
 * Returns 0, or -1 if the tag does not verify: then m is zeroed, so nothing
 * of a forged message is left for the caller. */
int bulk_aead_decrypt(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t *ad, size_t adlen,
                      const uint8_t npub[BULK_XNONCEBYTES], const uint8_t key[BULK_KEYBYTES]);
/* The libsodium computation, whatever the engine (tests compare the two). */
int bulk_aead_encrypt_sodium(uint8_t *c, const uint8_t *m, size_t mlen, const uint8_t *ad, size_t adlen,
                             const uint8_t npub[BULK_XNONCEBYTES], const uint8_t key[BULK_KEYBYTES]);
void bulk_chacha20_stream_sodium(uint8_t *out, size_t len, uint64_t ic, const uint8_t key[BULK_KEYBYTES]);

#endif
