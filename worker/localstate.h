/* worker/localstate.h: a platform's private state between rounds, saved on
 * its own rank's disk so that a resumed run continues exactly. Only runs
 * whose platforms keep state have any: local ID embeddings that learn
 * (--local-lr > 0), and --algo local (its own model and optimiser). Every
 * other random stream is derived from (seed, platform, round).
 *
 * File OUT/local/NAME.rROUND.fmls, written at the coordinator's checkpoint
 * rounds after the platform trained and before its delta is sent (so the
 * state of round R exists whenever checkpoint R does); the last two are kept:
 *   "FMLS" | u32 version | u32 platform | u32 round | u32 n_users | u32 n_items
 *   | u32 dim | u32 0 | u64 n_phi | u64 n_opt | P | Q | phi | opt | BLAKE2b-256 */
#ifndef FEDMETA_LOCALSTATE_H
#define FEDMETA_LOCALSTATE_H
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/msg.h"
#include "worker/platform.h"

/* 1 if platforms of this run keep state between rounds. */
int localstate_needed(const fm_config *c);
/* Saves p's state after round `round` (and removes the file of round - 2 x --checkpoint-every). */
int localstate_save(const fm_config *c, const platform_t *p, size_t d, uint32_t round, fm_err *err);
/* Restores p's state after round `round`; a missing, damaged or mismatched file is an error. */
int localstate_load(const fm_config *c, platform_t *p, const model_cfg_t *mc, const round_settings_t *rs, size_t d,
                    uint32_t round, fm_err *err);

#endif
