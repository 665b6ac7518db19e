/* cli/prepare.c: fedmeta prepare (being written). */
#include <stdio.h>

#include "cli/commands.h"

int cmd_prepare(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "fedmeta prepare: not implemented yet\n");
  return 1;
}
