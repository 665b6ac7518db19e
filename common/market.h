/* common/market.h: the embedded synthetic market: industries with their own
 * catalogues, a shared user population with demographics and latent tastes,
 * a taste-to-feature mapping shared across industries with industry-specific
 * twists, power-law popularity, uneven density and timestamps. Deterministic
 * from its seed; the generative model and measured figures are in
 * docs/DATA.md.
 *
 * Every platform (industry) is generated on its own from (seed, platform): a
 * rank builds only the platforms it hosts, and the shared user population is
 * regenerated identically (and cheaply) on every rank. market_platform(p)
 * gives the same shard whether or not other platforms were generated. */
#ifndef FEDMETA_MARKET_H
#define FEDMETA_MARKET_H
#include <stdint.h>

#include "common/error.h"
#include "common/shard.h"

#define MARKET_MAX_INDUSTRIES 16   /* named industry profiles */
#define MARKET_MAX_PLATFORMS 1024  /* industries in a market: beyond 16, a long tail of niche
                                      variants (see market.c profile_of) */
#define MARKET_MAX_DIM 64
#define MARKET_N_STYLES 24 /* shared style-tag vocabulary */
#define MARKET_N_PRICE 5   /* shared price bands */
#define MARKET_N_AGE 6
#define MARKET_N_GENDER 3
#define MARKET_N_REGION 8

typedef struct market_cfg {
  uint64_t seed;
  uint32_t n_industries; /* platforms, 1..MARKET_MAX_PLATFORMS (default 8) */
  uint32_t n_users;      /* shared user population before scale (default 4000) */
  double scale;          /* multiplies users, catalogues and brands (default 1) */
  uint32_t dim;          /* k: latent taste dimension (default 8) */
  double activity;       /* multiplies interactions per user (default 1) */
  double taste_gain;     /* gamma: weight of taste in the utility (default 3) */
  double beta_pop;       /* beta: weight of log popularity in the utility (default 1) */
  double twist;          /* tau: size of each industry's twist of the shared map (default 0.3) */
  double demo_share;     /* rho: share of taste variance explained by demographics (default 0.6) */
} market_cfg_t;

/* The defaults above, seed 42. */
void market_cfg_default(market_cfg_t *cfg);
/* Checks ranges; the message names the field, its value and the allowed range. */
int market_cfg_validate(const market_cfg_t *cfg, fm_err *err);

/* Name of industry p ("beauty", "books", ...); "?" if p is out of range. */
const char *market_industry_name(uint32_t platform);
/* Name of shared style tag s (0..MARKET_N_STYLES-1); "?" if out of range.
 * Item tokens are fm_hash_feature("style", name). */
const char *market_style_name(uint32_t s);
/* The default held-out industry: the one with the fewest expected
 * interactions among the first n_industries (toys at the defaults). */
uint32_t market_default_heldout(const market_cfg_t *cfg);

/* Generates platform p's shard into *out (which it allocates; free with
 * shard_free). The shard passes shard_validate; user_gid holds the global
 * user ids of the shared population. */
int market_platform(shard_t *out, const market_cfg_t *cfg, uint32_t platform, fm_err *err);

/* Writes every platform's shard (dir/pNN-<name>.shard) and dir/manifest.txt;
 * creates dir if it does not exist. */
int market_write(const market_cfg_t *cfg, const char *dir, fm_err *err);

/* --- ground truth ------------------------------------------------------- */

/* The true utility of platform p as a dot product, in the shard's local
 * user and item order:
 *   score(u, i) = user_vec[u] . item_vec[i]
 *              = gamma / sqrt(k) * t_u . a_i + beta * log pop_i
 * (the exact logit of the softmax users choose from, before the Gumbel noise
 * of sampling). user_vec = [gamma/sqrt(k) t_u ; 1], item_vec = [a_i ; beta log pop_i],
 * so dim = k + 1 and metrics_rank_dot can rank with it directly. */
typedef struct market_truth {
  uint32_t n_users, n_items, dim;
  float *user_vec; /* (n_users, dim) */
  float *item_vec; /* (n_items, dim) */
  float *demo_vec; /* (n_users, dim) as user_vec but with t_u replaced by its
                      demographic part A.demo_u: what demographics alone predict */
  float *shared_vec; /* (n_items, dim) as item_vec but with a_i replaced by its
                        untwisted shared part (style and price vectors, the same in
                        every industry): what transfers verbatim across industries */
} market_truth_t;

/* Generates platform p and its ground truth. Either output may be NULL. */
int market_generate(shard_t *out, market_truth_t *truth, const market_cfg_t *cfg,
                    uint32_t platform, fm_err *err);
/* Ground truth of platform p (regenerates the platform). */
int market_truth(market_truth_t *t, const market_cfg_t *cfg, uint32_t platform, fm_err *err);
void market_truth_free(market_truth_t *t);
/* True utility of every item for local user u into out (n_items). */
void market_true_scores(float *out, const market_truth_t *t, uint32_t user);

#endif
