/* common/importer.h: turn a published data set (Ciao, Amazon P5, MovieLens,
 * a generic delimited file) into one shard per industry plus a manifest.
 *
 * import_load parses the input, cleans it (protocol P1 of
 * BENCHMARK-PROTOCOL.md: implicit feedback, duplicates keep the earliest,
 * time order, global k-core, small industries dropped) and builds the shards
 * in memory; import_write then writes them, with the manifest last, into a
 * folder. Nothing touches the output folder before everything has parsed,
 * so a data error leaves it as it was. Formats, cleaning rules and naming are
 * documented in docs/DATA.md section "Importers". */
#ifndef FEDMETA_IMPORTER_H
#define FEDMETA_IMPORTER_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/config.h"
#include "common/error.h"
#include "common/shard.h"

/* Return values of import_load besides 0: a data or I/O error (exit code 1)
 * and a usage error (a bad flag value, e.g. --columns; exit code 2). */
#define IMPORT_EDATA (-1)
#define IMPORT_EUSAGE (-2)

#define IMPORT_MAX_MSGS 8    /* malformed-line messages kept for the summary */
#define IMPORT_MAX_NOTES 8   /* per-format notes (e.g. "no attributes for toys") */
#define IMPORT_MAX_ROUNDS 64 /* k-core rounds recorded for the summary */
#define IMPORT_MAX_LINE (1u << 20) /* longest accepted input line, bytes */

typedef struct import_round {
  uint64_t inter;        /* interactions removed in this round */
  uint32_t users, items; /* users / items that fell below k in this round */
} import_round_t;

/* What happened to the input, for the summary. */
typedef struct import_stats {
  uint64_t lines;       /* data lines (or sequence entries) read, headers excluded */
  uint64_t malformed;   /* lines skipped as malformed (lenient mode) */
  uint32_t n_msgs;      /* the first IMPORT_MAX_MSGS of their messages */
  char msgs[IMPORT_MAX_MSGS][FM_ERRLEN];
  uint64_t parsed;      /* interactions parsed */
  uint64_t rating_zero; /* dropped: rating <= 0 */
  uint64_t rating_low;  /* dropped: 0 < rating < --min-rating */
  uint64_t not_selected;/* dropped: industry not in --select */
  uint64_t duplicates;  /* dropped: a later copy of a (user, item) pair */
  uint32_t kcore_rounds;/* rounds that removed something */
  import_round_t rounds[IMPORT_MAX_ROUNDS];
  uint64_t kcore_inter; /* interactions removed by the k-core in total */
  uint32_t small_dropped;   /* industries dropped by --min-platform */
  uint64_t small_inter;     /* their interactions */
  char small_list[512];     /* "name (n), ..." */
  uint32_t n_notes;
  char notes[IMPORT_MAX_NOTES][256];
  uint64_t n_inter;     /* kept */
  uint32_t n_users;     /* distinct users kept (global ids 0..n_users-1) */
  uint32_t n_items;     /* distinct items kept (an item listed in two industries counts once) */
} import_stats_t;

/* The imported data set. shards[p] is platform p (name, platform index,
 * user_gid set); the raw ids let import_write record where every local id
 * came from. */
typedef struct import_result {
  uint32_t n;                /* platforms */
  shard_t *shards;           /* (n) */
  char *ids;                 /* NUL-separated raw ids (one arena) */
  size_t *user_raw;          /* (st.n_users) offset in ids of global user g's raw id */
  size_t **item_raw;         /* (n) per platform: (n_items) offsets of raw item ids */
  uint32_t *users_elsewhere; /* (n) per platform: its users who also interacted on another
                                platform (joined by the global user id) */
  import_stats_t st;
  char format[16];           /* the settings that produced it, for the summary */
  char input[CFG_PATH_MAX];
  uint32_t kcore, min_platform;
  double min_rating;
  char comment[512];         /* one line for the manifest: format, input, settings */
} import_result_t;

/* Parses and cleans the data set described by c (format, input, columns,
 * delimiter, header, min_rating, kcore, min_platform, strict, select, names,
 * items_per_industry). On success *r holds the shards (free with
 * import_free). On failure returns IMPORT_EDATA or IMPORT_EUSAGE with a
 * message naming the file:line, the field and what was expected, and *r is
 * left empty. */
int import_load(import_result_t *r, const fm_config *c, fm_err *err);

/* Writes r into dir (created if missing, other files in it left alone):
 * dir/pNN-<name>.shard for every platform, dir/users.tsv (global id -> raw
 * user id), dir/items.tsv (platform, local item -> raw item id) and, last,
 * dir/manifest.txt; each file atomically (tmp + fsync + rename). */
int import_write(const import_result_t *r, const char *dir, fm_err *err);

/* The human summary (what was dropped and why, per-platform counts) and one
 * JSON line with the totals. */
void import_print_summary(const import_result_t *r, FILE *f);
void import_print_json(const import_result_t *r, FILE *f);

/* Frees everything; accepts NULL and a zeroed or half-built result. */
void import_free(import_result_t *r);

#endif
