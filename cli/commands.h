/* cli/commands.h: subcommands implemented outside fedmeta.c. Each takes the
 * whole argv (argv[1] is the command name) and returns the exit code
 * (0 success, 1 runtime error, 2 usage error). */
#ifndef FEDMETA_COMMANDS_H
#define FEDMETA_COMMANDS_H

int cmd_prepare(int argc, char **argv);   /* cli/prepare.c */
int cmd_baselines(int argc, char **argv); /* cli/baselines.c */

#endif
