/* common/manifest.h: the list of a market's platforms and their shard files.
 *
 * A small text file, "manifest.txt" in the data directory:
 *
 *   fedmeta-manifest 1
 *   # comment lines and blank lines are ignored
 *   # platform name file n_users n_items n_inter
 *   0 beauty p00-beauty.shard 1391 900 17020
 *   1 books p01-books.shard 1788 1500 32018
 *
 * Line i of the body describes platform i (indices 0..n-1 in order). Names
 * and file names contain no white space; a file name is a plain name inside
 * the data directory (no '/', not starting with '.'). Each rank reads the
 * manifest and opens only the shards of the platforms it hosts. */
#ifndef FEDMETA_MANIFEST_H
#define FEDMETA_MANIFEST_H
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/shard.h"

#define MANIFEST_FILE "manifest.txt"
#define MANIFEST_MAGIC "fedmeta-manifest"
#define MANIFEST_VERSION 1
#define MANIFEST_FILE_MAX 128
#define MANIFEST_MAX_PLATFORMS 4096

typedef struct manifest_entry {
  uint32_t platform;
  char name[SHARD_NAME_MAX];
  char file[MANIFEST_FILE_MAX]; /* relative to the manifest's directory */
  uint32_t n_users, n_items, n_inter;
} manifest_entry_t;

typedef struct manifest {
  uint32_t n;            /* number of platforms */
  manifest_entry_t *e;   /* (n) entry i is platform i */
} manifest_t;

/* Allocates n zeroed entries (platform fields set to 0..n-1). 0 or -1. */
int manifest_init(manifest_t *m, uint32_t n, fm_err *err);
/* Frees the entries; accepts NULL and an empty manifest; leaves *m zeroed. */
void manifest_free(manifest_t *m);

/* Writes m to path atomically (PATH.tmp, fsync, rename). An optional comment
 * (one line, may be NULL) is written after the header, e.g. the generator's
 * settings. Entries are checked as manifest_read would check them. */
int manifest_write(const manifest_t *m, const char *path, const char *comment, fm_err *err);
/* Reads and checks a manifest; errors name path:line and what was expected.
 * On failure *m is left empty. */
int manifest_read(manifest_t *m, const char *path, fm_err *err);

/* Index of the platform called name, or -1. */
int manifest_find(const manifest_t *m, const char *name);

/* Opens platform p's shard from dir using an already-read manifest, and checks
 * that the shard agrees with its manifest entry (name, platform, counts). */
int manifest_shard_open(shard_t *s, const manifest_t *m, const char *dir, uint32_t platform,
                        fm_err *err);
/* Reads dir/manifest.txt and opens platform p's shard (the two calls above). */
int manifest_open_platform(shard_t *s, const char *dir, uint32_t platform, fm_err *err);

/* dir + "/" + file into out (size n); -1 if it does not fit. */
int manifest_path(char *out, size_t n, const char *dir, const char *file, fm_err *err);

#endif
