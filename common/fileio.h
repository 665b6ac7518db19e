/* common/fileio.h: the one way fedmeta writes output files (to PATH.tmp, flushed,
 * fsynced, renamed over PATH, so a reader never sees half a file and a failed
 * write leaves nothing behind), reads whole files, and creates folders. */
#ifndef FEDMETA_FILEIO_H
#define FEDMETA_FILEIO_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

/* A file being written atomically. Write to a->f with stdio. */
typedef struct fm_atomic {
  FILE *f;
  char *path, *tmp; /* owned */
} fm_atomic;

/* Opens PATH.tmp for writing (binary). On failure *a is empty. */
int fm_atomic_open(fm_atomic *a, const char *path, fm_err *err);
/* Checks for write errors, flushes, fsyncs, closes and renames PATH.tmp to PATH.
 * On failure removes PATH.tmp. Frees a in every case. */
int fm_atomic_commit(fm_atomic *a, fm_err *err);
/* Closes and removes PATH.tmp, frees a; accepts an empty a. */
void fm_atomic_abort(fm_atomic *a);

/* Writes len bytes to path atomically (the three calls above). */
int fm_write_atomic(const char *path, const void *data, size_t len, fm_err *err);
/* Reads a whole regular file of at most max_len bytes; *data is malloc'd. */
int fm_read_file(const char *path, uint8_t **data, size_t *len, size_t max_len, fm_err *err);
/* mkdir -p: creates dir and its missing parents; an existing non-folder is an error. */
int fm_mkdir_p(const char *dir, fm_err *err);

#endif
