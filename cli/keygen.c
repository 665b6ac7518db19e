/* cli/keygen.c: fedmeta keygen — a party's secret key file for pilots. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "common/config.h"
#include "common/keys.h"

int cmd_keygen(int argc, char **argv) {
  fm_config c;
  int r = cli_parse(&c, CFG_KEYGEN, argc, argv, 0);
  if (r) return r > 0 ? 0 : 2;
  int given = 0;
  for (int i = 2; i < argc; i++) given |= !strcmp(argv[i], "--out") || !strncmp(argv[i], "--out=", 6);
  if (!given) {
    fprintf(stderr, "fedmeta keygen: --out NAME.key is required (the secret key file to write)\n");
    return 2;
  }
  fm_err err = {{0}};
  if (keys_keygen(c.out, c.name[0] ? c.name : NULL, stdout, &err)) {
    fprintf(stderr, "fedmeta keygen: %s\n", err.msg);
    return 1;
  }
  return 0;
}
