/* tests/unit/test_config.c: every flag validated with a message naming the
 * value and the allowed range; config files with file:line errors; the
 * command line overrides the file. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "tests/check.h"

static int parse(fm_config *c, int cmd, const char *const *args, int n, fm_err *err) {
  char *argv[32];
  argv[0] = "fedmeta";
  argv[1] = "train";
  for (int i = 0; i < n; i++) argv[2 + i] = (char *)args[i];
  config_defaults(c);
  return config_parse(c, cmd, n + 2, argv, 2, NULL, err);
}

#define EXPECT_ERR(cmd, substr, ...) do { \
  const char *_a[] = {__VA_ARGS__}; fm_config _c; fm_err _e = {{0}}; \
  CHECK(parse(&_c, cmd, _a, (int)(sizeof _a / sizeof _a[0]), &_e) == -1); \
  if (!strstr(_e.msg, substr)) { fprintf(stderr, "message '%s' lacks '%s'\n", _e.msg, substr); CHECK(0); } \
} while (0)

int main(void) {
  fm_config c;
  fm_err e;
  {
    const char *a[] = {"--rounds", "7", "--algo=fedavg", "--inner-lr", "0.01", "--synthetic", "--seed", "99"};
    CHECK_OK(parse(&c, CFG_TRAIN, a, 8, &e));
    CHECK_EQ_INT(c.rounds, 7);
    CHECK(strcmp(c.algo, "fedavg") == 0);
    CHECK(c.inner_lr == 0.01f);
    CHECK(c.synthetic == 1);
    CHECK(c.seed == 99);
  }
  EXPECT_ERR(CFG_TRAIN, "--bogus", "--bogus", "1");
  EXPECT_ERR(CFG_TRAIN, "out of range", "--rounds", "0");
  EXPECT_ERR(CFG_TRAIN, "expected", "--rounds", "ten");
  EXPECT_ERR(CFG_TRAIN, "expected", "--rounds", "-3");
  EXPECT_ERR(CFG_TRAIN, "not one of", "--algo", "maml2");
  EXPECT_ERR(CFG_TRAIN, "missing value", "--rounds");
  EXPECT_ERR(CFG_TRAIN, "out of range", "--inner-lr", "100");
  EXPECT_ERR(CFG_TRAIN, "expected a number", "--inner-lr", "nan");
  EXPECT_ERR(CFG_TRAIN, "unexpected argument", "stray");
  EXPECT_ERR(CFG_SYNTH, "--algo", "--algo", "reptile"); /* not an option of synth */
  {
    const char *a[] = {"--synthetic", "--data", "x"};
    CHECK_OK(parse(&c, CFG_TRAIN, a, 3, &e));
    CHECK(config_check(&c, CFG_TRAIN, &e) != 0);
    CHECK(strstr(e.msg, "exclusive") != NULL);
  }
  /* config file: values, comments, command line overrides, file:line errors */
  char path[] = "/tmp/fedmeta-test-cfg-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  const char *text = "# a comment\nrounds = 12\n\nalgo = fomaml\ninner-lr = 0.5\n";
  CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
  close(fd);
  {
    const char *a[] = {"--config", path, "--rounds", "3"};
    CHECK_OK(parse(&c, CFG_TRAIN, a, 4, &e));
    CHECK_EQ_INT(c.rounds, 3);
    CHECK(strcmp(c.algo, "fomaml") == 0);
    CHECK(c.inner_lr == 0.5f);
  }
  FILE *f = fopen(path, "w");
  fprintf(f, "rounds = 12\nbatch = big\n");
  fclose(f);
  {
    const char *a[] = {"--config", path};
    CHECK(parse(&c, CFG_TRAIN, a, 2, &e) == -1);
    char want[600];
    snprintf(want, sizeof want, "%s:2:", path);
    CHECK(strstr(e.msg, want) != NULL);
    CHECK(strstr(e.msg, "batch") != NULL);
  }
  f = fopen(path, "w");
  fprintf(f, "rounds 12\n");
  fclose(f);
  {
    const char *a[] = {"--config", path};
    CHECK(parse(&c, CFG_TRAIN, a, 2, &e) == -1);
    CHECK(strstr(e.msg, ":1:") != NULL);
  }
  /* the effective configuration reads back to the same settings */
  {
    const char *a[] = {"--rounds", "5", "--clip", "2.5", "--heldout", "toys,food"};
    CHECK_OK(parse(&c, CFG_TRAIN, a, 6, &e));
    f = fopen(path, "w");
    config_write(&c, CFG_TRAIN, 0, f);
    fclose(f);
    fm_config c2;
    const char *b[] = {"--config", path};
    CHECK_OK(parse(&c2, CFG_TRAIN, b, 2, &e));
    CHECK(config_hash(&c) == config_hash(&c2));
    CHECK(strcmp(c2.heldout, "toys,food") == 0 && c2.clip == 2.5f && c2.rounds == 5);
    c2.rounds = 6;
    CHECK(config_hash(&c) != config_hash(&c2));
  }
  unlink(path);
  { /* config_text_get reads one setting of a model's settings text: the last
     * line naming it, trimmed; a key that only starts like it is another */
    char v[16] = "untouched";
    const char *settings = "pop-loo-x = 1\n  pop-loo\t=  off \r\nrounds = 5\npop-loo = on\n# pop-loo = bad\n";
    CHECK(config_text_get(settings, "pop-loo", v, sizeof v) == 1 && !strcmp(v, "on"));
    CHECK(config_text_get("pop-loo\t=  off \r\n", "pop-loo", v, sizeof v) == 1 && !strcmp(v, "off"));
    CHECK(config_text_get("rounds = 5\npop-loo-x = 1\n", "pop-loo", v, sizeof v) == 0 && !strcmp(v, "off"));
    CHECK(config_text_get("", "pop-loo", v, sizeof v) == 0);
    CHECK(config_text_get("rounds = 5", "rounds", v, sizeof v) == 1 && !strcmp(v, "5"));
    /* the default of eval's --pop-loo is the model's, train's is on */
    const char *none[] = {"--seed", "1"};
    CHECK_OK(parse(&c, CFG_EVAL, none, 2, &e));
    CHECK(!strcmp(c.eval_pop_loo, "model"));
    CHECK_OK(parse(&c, CFG_TRAIN, none, 2, &e));
    CHECK(!strcmp(c.pop_loo, "on"));
    EXPECT_ERR(CFG_TRAIN, "not one of on|off", "--pop-loo", "model");
  }
  printf("test_config: ok\n");
  return 0;
}
