/* cli/baselines.c: fedmeta baselines (being written). */
#include <stdio.h>

#include "cli/commands.h"

int cmd_baselines(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "fedmeta baselines: not implemented yet\n");
  return 1;
}
