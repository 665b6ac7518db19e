/* common/pool.h: several platforms' shards merged into one (the data of
 * --algo central, the privacy-free reference that pools the training
 * industries in one place).
 *
 * The merged shard is an ordinary shard, so the temporal split, the dataset
 * and the trainer work on it unchanged:
 *   items     every part's catalogue, renumbered part after part (part 0's
 *             items first), so the catalogues stay disjoint per industry even
 *             when two parts happen to use the same raw item; item feature
 *             tokens are kept (they carry the industry, e.g. cat=<name>);
 *   users     linked across parts through user_gid (the global id: ground
 *             truth of the synthetic market, the joined raw id of an import):
 *             one pooled user per global id, numbered in global-id order;
 *             parts without user_gid contribute their users unlinked (after
 *             the linked ones, part by part in local order); the merged
 *             shard has user_gid only when every part had one;
 *   features  a user's tokens come from the first part (in part order) that
 *             has the user;
 *   time      each user's interactions from every part in time order, ties
 *             broken by part order and then by the order inside the part.
 * Parts are loaded one at a time through the callback and freed as soon as
 * they are copied, so the peak is the merged data plus one part. */
#ifndef FEDMETA_POOL_H
#define FEDMETA_POOL_H
#include <stdint.h>

#include "common/error.h"
#include "common/shard.h"

/* Loads part i (0 <= i < n_parts) into *out. */
typedef int (*pool_load_fn)(void *ctx, uint32_t i, shard_t *out, fm_err *err);

/* Merges n_parts (>= 1) shards into *out, named `name`, platform index
 * `platform`. On failure *out is left empty. */
int pool_merge(shard_t *out, const char *name, uint32_t platform, uint32_t n_parts, pool_load_fn load,
               void *ctx, fm_err *err);

#endif
