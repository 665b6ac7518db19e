/* worker/secagg_worker.h: a worker rank's side of secure aggregation for one
 * training round (--secagg on): for each participant it hosts, advertise a
 * signed mask key, Shamir-share the mask secrets to the holders (sealed rank
 * to rank, relayed by the coordinator), hold the shares it receives, train,
 * send the masked delta, and reveal the shares the coordinator needs to
 * unmask the sum. The stages are listed in coordinator/secagg_round.c. */
#ifndef FEDMETA_SECAGG_WORKER_H
#define FEDMETA_SECAGG_WORKER_H
#include <stddef.h>
#include <stdint.h>

#include "common/channel.h"
#include "common/msg.h"
#include "worker/platform.h"

typedef struct sa_party {
  uint32_t slot;     /* index in the plan's participants */
  platform_t *pl;
} sa_party_t;

/* Trains party i and writes its Delta (meta fields) and its fixed-point
 * input: d words at *fixed, in the rank's scratch, valid until the next call.
 * keep: the caller only reads them (the scratch then stays clean outside the
 * delta's rows, and the next party restores only those), and dm may carry the
 * same input in sparse form: dm->n_runs > 0 runs (offset, length) over the
 * dm->n_fixed words at dm->fixed, every other word 0. !keep: the caller may
 * write the words (masks in place); dm->fixed = *fixed, n_fixed = d, no runs,
 * and the next party clears the scratch whole. */
typedef int (*sa_compute_fn)(void *ctx, const sa_party_t *party, int keep, delta_msg_t *dm, uint32_t **fixed,
                             fm_err *err);

/* Runs the round. Returns 0, 1 if the round was abandoned (the coordinator
 * moved on: a newer plan is waiting, or no answer in time), -1 on error.
 * tamper: a test-only fault (--inject-wire tamper, parsed by the caller): the
 * platform whose Delta of this round leaves with one bit of its clear words
 * flipped, as a network attacker would (SA_NO_TAMPER: none). */
#define SA_NO_TAMPER UINT32_MAX
int sa_worker_round(chan_t *ch, const fm_config *c, const plan_t *plan, uint64_t job, int size, const int *hosts, sa_party_t *parties,
                    uint32_t n_parties, size_t d, sa_compute_fn compute, void *ctx, uint32_t tamper, fm_err *err);

/* Decides, once at start-up, whether this rank makes its masks on a helper
 * thread beside the training (FEDMETA_SECAGG_THREAD=auto|on|off; the rule is
 * in secagg_worker.c) and returns 1 if so. Collective over the job's
 * communicator: every rank calls it (train_job, when --secagg is on); rank 0
 * prints how many worker ranks will use the thread (verbose > 0). */
int sa_worker_thread_setup(const fm_config *c, int rank, int size, int blas_threads);

/* Frees the mask buffers kept from round to round (at the end of the run). */
void sa_worker_release(void);

#endif
