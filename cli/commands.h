/* cli/commands.h: subcommands implemented outside fedmeta.c. Each takes the
 * whole argv (argv[1] is the command name) and returns the exit code
 * (0 success, 1 runtime error, 2 usage error). */
#ifndef FEDMETA_COMMANDS_H
#define FEDMETA_COMMANDS_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "common/checkpoint.h"
#include "common/config.h"
#include "common/model.h"
#include "worker/adapt.h"

/* Defaults, then --config and the flags of subcommand cmd (CFG_*), then the
 * cross-field checks. Returns 0, 1 if --help was printed, -1 after printing
 * "fedmeta COMMAND: cause" to stderr (unless quiet). cli/fedmeta.c. */
int cli_parse(fm_config *c, int cmd, int argc, char **argv, int quiet);
/* The opening of the MPI commands (train, coordinator, join): MPI_Init, then
 * cli_parse on every rank, only rank 0 of MPI_COMM_WORLD printing. Returns -1
 * to go on, with *rank and *size of MPI_COMM_WORLD; otherwise MPI is finalized
 * and it returns the exit code (0 after --help, 2 after a usage error).
 * cli/fedmeta.c. */
int cli_mpi_start(fm_config *c, int cmd, int *argc, char ***argv, int *rank, int *size);

/* The training job on communicator comm (rank 0 coordinates, the others
 * host platforms; hosts as in worker_run). Every rank of comm calls it;
 * returns the largest exit code of all ranks. cli/fedmeta.c. */
int train_job(const fm_config *c, MPI_Comm comm, const int *hosts);
/* The id every message of the run is bound to: the settings that change
 * results, and the seed. */
uint64_t train_job_id(const fm_config *c);

/* One OpenBLAS thread unless OPENBLAS_NUM_THREADS says otherwise; returns the
 * count. cli/fedmeta.c. */
int cli_blas_threads(void);
/* The --pop-loo an adaptation of ck uses ("on" or "off" into out): the flag's,
 * or with "model" the setting ck was trained with. cli/fedmeta.c. */
int cli_pop_loo(const fm_config *c, const checkpoint_t *ck, const char *path, char out[8], fm_err *err);

/* The lines "user  rank  item  score" of t (ds->eval_user order, best first),
 * the user as user_ids[global id] and the item as item_ids[index] where those
 * are given and not NULL (the published ids), else as numbers: the global id
 * (the user's index without one) and the platform's item index. Returns the
 * lines written. cli/fedmeta.c. */
uint64_t cli_write_topn_rows(FILE *f, const adapt_topn_t *t, const dataset_t *ds, const shard_t *sh,
                             char *const *user_ids, uint32_t n_user_ids, char *const *item_ids, uint32_t n_item_ids);

int cmd_prepare(int argc, char **argv);   /* cli/prepare.c */
int cmd_recommend(int argc, char **argv); /* cli/recommend.c */
int cmd_baselines(int argc, char **argv); /* cli/baselines.c */
int cmd_keygen(int argc, char **argv);    /* cli/keygen.c */
int cmd_coordinator(int argc, char **argv); /* cli/pilot.c */
int cmd_join(int argc, char **argv);      /* cli/pilot.c */
int cmd_inspect(int argc, char **argv);   /* cli/inspect.c */
/* Every weight of the terms of theta (beta, gamma, tau, alpha, eta, kappa), a
 * line per term, each beside start's (when not NULL). cli/inspect.c. */
void inspect_print_terms(const model_cfg_t *m, const float *theta, const float *start);

#endif
