/* tests/fuzz/fuzz_config.c: libFuzzer harness for the settings parser
 * (common/config.h): config_parse with --config FILE, and the flags after it.
 *
 * Input: section 0 is the config file ("key = value" lines); an optional
 * section 1 (after a FUZZ_SEP line) holds extra command-line words separated
 * by spaces or new lines. Each input is parsed for every subcommand.
 *
 * A train configuration that is accepted must round-trip: config_write's
 * output (the config.txt `fedmeta train` writes next to its results, which
 * --config and --resume read back) must parse again to the same settings.
 * (Only train writes a config.txt; for the other subcommands config_write
 * prints unset choices such as "format = " that the parser would refuse.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "tests/fuzz/fuzz_util.h"

#define MAX_WORDS 16

static const int CMDS[] = {CFG_SYNTH, CFG_TRAIN, CFG_EVAL, CFG_PREPARE, CFG_BASELINES};

static int parse_file(fm_config *c, int cmd, const char *path, char **extra, int n_extra, fm_err *err) {
  char *argv[3 + MAX_WORDS];
  argv[0] = (char *)"fedmeta";
  argv[1] = (char *)"--config";
  argv[2] = (char *)path;
  for (int i = 0; i < n_extra; i++) argv[3 + i] = extra[i];
  config_defaults(c);
  return config_parse(c, cmd, 3 + n_extra, argv, 1, NULL, err);
}

/* A float setting used to be range-checked as the double it was written as,
 * then stored as a float that could lie outside the range (clip = 1e-6 became
 * 9.99999997e-07), so config.txt was refused when read back; fixed in
 * config.c (the input is in tests/fuzz/regress/config/). Strict by default;
 * FEDMETA_FUZZ_STRICT=0 tolerates an "out of range" on re-reading. */
static int strict = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (strict < 0) strict = !(getenv("FEDMETA_FUZZ_STRICT") && !strcmp(getenv("FEDMETA_FUZZ_STRICT"), "0"));
  fuzz_sections s;
  fuzz_split(&s, data, size);
  char path[512], again[512];
  fuzz_path(path, sizeof path, "fuzz.conf");
  fuzz_path(again, sizeof again, "rewritten.conf");
  fuzz_write(path, s.p[0], s.len[0]);
  /* extra command-line words: NUL-terminated copies */
  char words[1024];
  char *extra[MAX_WORDS];
  int n_extra = 0;
  if (s.n > 1) {
    size_t n = s.len[1] < sizeof words - 1 ? s.len[1] : sizeof words - 1;
    memcpy(words, s.p[1], n);
    words[n] = '\0';
    char *save = NULL;
    for (char *w = strtok_r(words, " \n", &save); w && n_extra < MAX_WORDS; w = strtok_r(NULL, " \n", &save))
      /* no other files (--config /dev/stdin would block): only the fuzzed one */
      if (strncmp(w, "--config", 8) != 0 && strncmp(w, "--resume", 8) != 0) extra[n_extra++] = w;
  }
  for (size_t k = 0; k < sizeof CMDS / sizeof CMDS[0]; k++) {
    const int cmd = CMDS[k];
    fm_config c, c2;
    memset(&c2, 0, sizeof c2);
    fm_err err;
    int rc = parse_file(&c, cmd, path, extra, n_extra, &err);
    if (rc != 0) {
      FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL, "error message not terminated");
      continue;
    }
    if (config_check(&c, cmd, &err) != 0) continue;
    (void)config_hash(&c);
    if (cmd != CFG_TRAIN) continue;
    /* round trip through the written configuration: the text written from
     * the re-read settings must be the text they were read from (strings are
     * compared as printed: bytes after a string's NUL do not matter) */
    char text[2][16384];
    for (int pass = 0; pass < 2; pass++) {
      FILE *f = fopen(again, "w");
      FUZZ_CHECK(f != NULL, "cannot write %s", again);
      config_write(pass ? &c2 : &c, cmd, 0, f);
      fclose(f);
      FILE *g = fopen(again, "r");
      size_t n = g ? fread(text[pass], 1, sizeof text[pass] - 1, g) : 0;
      if (g) fclose(g);
      text[pass][n] = '\0';
      if (pass == 0) {
        rc = parse_file(&c2, cmd, again, NULL, 0, &err);
        if (rc != 0 && !strict && strstr(err.msg, "is out of range [")) return 0; /* pending P1 */
        FUZZ_CHECK(rc == 0, "cmd %d: config_write's output does not parse again: %s\n--- written:\n%s", cmd,
                   err.msg, text[0]);
      }
    }
    FUZZ_CHECK(!strcmp(text[0], text[1]), "cmd %d: settings changed in a write/read round trip:\n%s\n---\n%s",
               cmd, text[0], text[1]);
    FUZZ_CHECK(config_hash(&c) == config_hash(&c2), "cmd %d: config_hash changed", cmd);
  }
  return 0;
}
