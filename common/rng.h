/* common/rng.h: seeded streams for simulation randomness (data generation,
 * initialisation, sampling). Never for secrets: crypto randomness comes from
 * libsodium. xoshiro256** seeded through splitmix64; a stream is named by
 * (seed, purpose, id) so that e.g. platform 7's sampler is the same whichever
 * rank hosts it. */
#ifndef FEDMETA_RNG_H
#define FEDMETA_RNG_H
#include <stdint.h>

typedef struct rng {
  uint64_t s[4];
} rng_t;

/* Well-known stream purposes, so two modules never share a stream by accident. */
enum {
  RNG_MARKET = 1,      /* synthetic market generator */
  RNG_INIT_SHARED = 2, /* meta-model initialisation (coordinator) */
  RNG_INIT_LOCAL = 3,  /* a platform's local (ID) embeddings */
  RNG_SAMPLE = 4,      /* a platform's minibatch and negative sampling */
  RNG_EVAL = 5,        /* evaluation-time adaptation */
  RNG_SPLIT = 6,       /* data splits */
  RNG_ROUND = 7,       /* coordinator: choice of participants */
  RNG_SPECTRAL = 8,    /* start block of the co-occurrence eigen-solver (common/spectral.c) */
  RNG_QUERY = 9,       /* a sample of the evaluated users (dataset_sample_eval) */
};

void rng_seed(rng_t *r, uint64_t seed, uint64_t purpose, uint64_t id);
uint64_t rng_next(rng_t *r);
/* Uniform in [0, n), n > 0, without modulo bias. */
uint32_t rng_below(rng_t *r, uint32_t n);
/* Uniform float in [0, 1). */
float rng_uniform(rng_t *r);
/* Uniform double in [0, 1). */
double rng_double(rng_t *r);
/* Standard normal (Box-Muller on doubles, deterministic). */
double rng_normal(rng_t *r);

/* 32-bit FNV-1a hash of a string; used for hashed categorical feature tokens. */
uint32_t fm_hash32(const char *s);
/* Hash of "field=value" formed without allocation. */
uint32_t fm_hash_feature(const char *field, const char *value);

#endif
