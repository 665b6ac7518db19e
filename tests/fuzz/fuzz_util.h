/* tests/fuzz/fuzz_util.h: helpers shared by the libFuzzer harnesses.
 *
 * The file-based decoders (checkpoint_read, shard_open, manifest_read,
 * config_parse --config, the importers) take a path, so the harnesses write
 * each input into a private scratch folder, in /dev/shm when it exists (a
 * tmpfs: no disk traffic, fsync is free) and in /tmp otherwise. The folder is
 * made once per process and removed at exit.
 *
 * Multi-file inputs (an importer's folder, a config plus its data) are one
 * fuzz input cut into sections at each FUZZ_SEP line; section i becomes file i
 * of the harness's list, and a missing section means a missing file. Seeds
 * are written the same way by fuzz_seeds.c.
 *
 * FUZZ_CHECK is the harnesses' invariant check: a decoder that accepted an
 * input must hand back something consistent; if not, abort() so libFuzzer
 * keeps the input as a crash. */
#ifndef FEDMETA_FUZZ_UTIL_H
#define FEDMETA_FUZZ_UTIL_H
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_SEP "\n=====\n" /* section separator of multi-file inputs */
#define FUZZ_MAX_SECTIONS 8

#define FUZZ_CHECK(cond, ...) do { if (!(cond)) { \
  fprintf(stderr, "%s:%d: fuzz invariant failed: %s: ", __FILE__, __LINE__, #cond); \
  fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); abort(); } } while (0)

static char fuzz_dir_[256];

/* Removes every file and folder under path (depth-first), then path itself. */
static inline void fuzz_rm_tree(const char *path) {
  DIR *d = opendir(path);
  if (d) {
    struct dirent *e;
    char sub[1024];
    while ((e = readdir(d)) != NULL) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
      fuzz_rm_tree(sub);
    }
    closedir(d);
    rmdir(path);
  } else {
    unlink(path);
  }
}

static inline void fuzz_cleanup_(void) {
  if (fuzz_dir_[0]) fuzz_rm_tree(fuzz_dir_);
}

/* The process's scratch folder (created on first use). */
static inline const char *fuzz_dir(void) {
  if (fuzz_dir_[0]) return fuzz_dir_;
  struct stat st;
  const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
  snprintf(fuzz_dir_, sizeof fuzz_dir_, "%s/fedmeta-fuzz-XXXXXX", base);
  if (!mkdtemp(fuzz_dir_)) {
    perror("fuzz: mkdtemp");
    abort();
  }
  atexit(fuzz_cleanup_);
  return fuzz_dir_;
}

/* fuzz_dir() + "/" + rel into out. */
static inline void fuzz_path(char *out, size_t n, const char *rel) {
  snprintf(out, n, "%s/%s", fuzz_dir(), rel);
}

/* mkdir -p of the folders leading to file path (not the file itself). */
static inline void fuzz_mkdirs_for(const char *path) {
  char p[1024];
  snprintf(p, sizeof p, "%s", path);
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = '\0';
    mkdir(p, 0777);
    *s = '/';
  }
}

/* Writes len bytes to path (folders created); aborts on an I/O failure, which
 * is the harness's fault, not the decoder's. */
static inline void fuzz_write(const char *path, const void *data, size_t len) {
  fuzz_mkdirs_for(path);
  FILE *f = fopen(path, "wb");
  if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
    perror(path);
    abort();
  }
}

typedef struct fuzz_sections {
  const uint8_t *p[FUZZ_MAX_SECTIONS];
  size_t len[FUZZ_MAX_SECTIONS];
  int n;
} fuzz_sections;

/* Cuts data at each FUZZ_SEP into at most FUZZ_MAX_SECTIONS sections (the
 * last one takes the rest, separators included). */
static inline void fuzz_split(fuzz_sections *s, const uint8_t *data, size_t size) {
  const size_t sl = sizeof FUZZ_SEP - 1;
  s->n = 0;
  size_t start = 0;
  for (size_t i = 0; s->n < FUZZ_MAX_SECTIONS - 1 && i + sl <= size;) {
    if (memcmp(data + i, FUZZ_SEP, sl) == 0) {
      s->p[s->n] = data + start;
      s->len[s->n++] = i - start;
      i += sl;
      start = i;
    } else {
      i++;
    }
  }
  s->p[s->n] = data + start;
  s->len[s->n++] = size - start;
}

/* Writes section i to dir/rel if the input has it; otherwise removes dir/rel. */
static inline void fuzz_put_section(const fuzz_sections *s, int i, const char *rel) {
  char path[1024];
  fuzz_path(path, sizeof path, rel);
  if (i < s->n) fuzz_write(path, s->p[i], s->len[i]);
  else unlink(path);
}

#endif
