/* common/shard.h: one platform's private data (a "shard") in memory and on disk.
 *
 * A shard holds one industry platform's users, items, their categorical
 * features (as 32-bit hashed tokens of "field=value" strings, see
 * fm_hash_feature) and its interactions, grouped by user in time order (CSR).
 * Users and items are numbered locally 0..n-1; local ids never leave the rank.
 *
 * On disk (shard_write/shard_open): little-endian binary with a magic number,
 * a version, the counts, the arrays, and a trailing BLAKE2b checksum; written
 * to NAME.tmp, fsynced and renamed. A truncated, corrupted or mismatched file
 * is refused with a message naming the file and what was wrong. */
#ifndef FEDMETA_SHARD_H
#define FEDMETA_SHARD_H
#include <stdint.h>

#include "common/error.h"

#define SHARD_NAME_MAX 64

typedef struct shard {
  char name[SHARD_NAME_MAX]; /* industry name, NUL-terminated */
  uint32_t platform;         /* platform index in the market / manifest */
  uint32_t n_users, n_items;
  uint32_t n_inter;
  uint32_t *user_ptr;   /* (n_users+1) CSR offsets into inter_item / inter_ts */
  uint32_t *inter_item; /* (n_inter) item of each interaction; per user in time order */
  int64_t *inter_ts;    /* (n_inter) timestamp, seconds; non-decreasing within a user */
  uint32_t *ufeat_ptr;  /* (n_users+1) CSR offsets into ufeat */
  uint32_t *ufeat;      /* user feature tokens (demographics), hashed */
  uint32_t *ifeat_ptr;  /* (n_items+1) CSR offsets into ifeat */
  uint32_t *ifeat;      /* item feature tokens (category, brand, price band...), hashed */
  uint32_t *user_gid;   /* (n_users) global user id across platforms (ground truth of the
                           synthetic market, or the joined raw id); may be NULL */
} shard_t;

/* Allocates all arrays for the given counts (zeroed). n_ufeat / n_ifeat are the
 * total numbers of user / item tokens. Returns 0 or -1 (out of memory). */
int shard_alloc(shard_t *s, uint32_t n_users, uint32_t n_items, uint32_t n_inter,
                uint32_t n_ufeat, uint32_t n_ifeat, fm_err *err);
/* Frees every array; accepts NULL and half-built shards; leaves *s zeroed. */
void shard_free(shard_t *s);

/* Checks internal consistency (CSR monotone, ids in range, time order).
 * Returns 0, or -1 with a message naming what is wrong. */
int shard_validate(const shard_t *s, fm_err *err);

/* Atomic write: PATH.tmp, fsync, rename. */
int shard_write(const shard_t *s, const char *path, fm_err *err);
/* Reads and validates a shard file; on failure *s is left empty. */
int shard_open(shard_t *s, const char *path, fm_err *err);

#endif
