/* cli/prepare.c: fedmeta prepare: import a published data set (Ciao, Amazon
 * P5, MovieLens 100K, a delimited file) into a folder of one shard per
 * industry plus manifest.txt, cleaned per protocol P1 (docs/DATA.md,
 * "Importers").
 *
 * Nothing is written until the whole input has parsed and cleaned, so a data
 * error leaves --out as it was. Exit codes: 0 success, 1 data or I/O error
 * (a malformed line under --strict, a missing file), 2 usage error. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "common/config.h"
#include "common/importer.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static void usage_head(FILE *f) {
  fprintf(f,
          "usage: fedmeta prepare --format ciao|amazon|movielens|csv --input PATH --out DIR [options]\n\n"
          "  ciao       PATH = the ratings text (userid productid categoryid rating helpfulness time per line)\n"
          "             or the ciao folder holding derived/rating_with_timestamp.tsv; industries c<category>\n"
          "             (--names catalog_ciao.txt for readable names)\n"
          "  amazon     PATH = folder of <category>/{sequential.txt,datamaps.json} (P5), optional\n"
          "             s3rec_attributes/; users joined across categories by reviewerID\n"
          "  movielens  PATH = the ml-100k folder (u.data, u.item, u.user, u.genre); industries = first genre\n"
          "  csv        PATH = a delimited file; --columns user=1,item=2,industry=3[,time=4][,rating=5]\n\n"
          "Cleaning (protocol P1): rating > 0 and >= --min-rating, duplicates keep the earliest, global\n"
          "--kcore over all industries until stable, industries below --min-platform dropped.\n"
          "Writes DIR/pNN-<name>.shard, users.tsv, items.tsv and manifest.txt (each atomically);\n"
          "--out is required (the default listed below does not apply); --header also applies to ciao.\n"
          "exit codes: 0 success, 1 data or I/O error, 2 usage error\n\noptions:\n");
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int cmd_prepare(int argc, char **argv) {
  fm_config c;
  fm_err err = {{0}};
  config_defaults(&c);
  c.out[0] = '\0'; /* required here: no default folder to write data into */
  for (int i = 2; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) usage_head(stdout);
  int r = config_parse(&c, CFG_PREPARE, argc, argv, 2, stdout, &err);
  if (r == 1) return EXIT_OK;
  if (r == 0 && !c.out[0]) r = fm_fail(&err, "--out DIR is required (the folder to write the shards into)");
  if (r) {
    fprintf(stderr, "fedmeta prepare: %s\n", err.msg);
    return EXIT_USAGE;
  }
  double t0 = now();
  if (c.verbose > 0) fprintf(stderr, "fedmeta prepare: reading %s (%s)...\n", c.input, c.format);
  import_result_t res;
  int rc = import_load(&res, &c, &err);
  if (rc) {
    fprintf(stderr, "fedmeta prepare: %s\n", err.msg);
    if (rc == IMPORT_EDATA) fprintf(stderr, "fedmeta prepare: nothing written to %s\n", c.out);
    return rc == IMPORT_EUSAGE ? EXIT_USAGE : EXIT_RUNTIME;
  }
  double t1 = now();
  if (c.verbose > 0) fprintf(stderr, "fedmeta prepare: parsed and cleaned in %.2f s; writing %s...\n", t1 - t0, c.out);
  if (import_write(&res, c.out, &err)) {
    fprintf(stderr, "fedmeta prepare: %s\n", err.msg);
    import_free(&res);
    return EXIT_RUNTIME;
  }
  if (c.verbose > 0) {
    import_print_summary(&res, stdout);
    printf("wrote %u shards, users.tsv, items.tsv and manifest.txt to %s in %.2f s\n", res.n, c.out, now() - t0);
  }
  import_print_json(&res, stdout);
  import_free(&res);
  return EXIT_OK;
}
