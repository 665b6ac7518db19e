/* common/config.h: every setting of fedmeta in one struct, and one table that
 * describes them (name, type, allowed range, help). The same table parses the
 * command line, reads a --config file (key = value lines, the command line
 * overrides), validates every value with a message naming it and the allowed
 * range, prints --help, and writes the effective configuration. */
#ifndef FEDMETA_CONFIG_H
#define FEDMETA_CONFIG_H
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

#define CFG_PATH_MAX 512

typedef struct fm_config {
  /* job */
  char algo[16];          /* reptile | fedavg | fomaml | local */
  uint64_t seed;          /* training seed: init, sampling, participants */
  uint32_t rounds;
  char out[CFG_PATH_MAX]; /* output folder */
  uint32_t eval_every;    /* evaluate every n rounds (and after the last) */
  double round_timeout;   /* seconds the coordinator waits for a round's messages */
  uint32_t verbose;
  uint32_t min_platforms;       /* deltas needed for a round to go on at its deadline */
  uint32_t checkpoint_every;    /* rounds between checkpoints (0 = none) */
  char resume[CFG_PATH_MAX];    /* resume the run in this folder */
  char aggregate[12];           /* mean | median | trimmed */
  float trim;                   /* trimmed mean: fraction cut at each end */
  char inject_stall[64];        /* testing: "PLATFORM:ROUND:SECONDS" */
  char inject_poison[64];       /* testing: "PLATFORM:FACTOR" */
  uint32_t inject_crash;        /* testing: coordinator dies mid-round (first launch only) */
  char inject_wire[64];         /* testing: "KIND:PLATFORM:ROUND", KIND tamper|truncate|replay|stale|spoof */
  /* differential privacy */
  double dp_noise;              /* z: noise multiplier (0 = off) */
  double dp_delta;              /* delta of the reported (epsilon, delta) */
  double dp_target_epsilon;     /* stop before epsilon would exceed this (0 = never) */
  double dp_sample_rate;        /* q: Poisson sampling of platforms per round (0 = every platform) */
  uint64_t dp_test_seed;        /* nonzero: reproducible noise (no privacy; tests) */
  /* security */
  char seal[4];                 /* on | off: seal every message between ranks */
  char key[CFG_PATH_MAX];       /* this party's secret key file ("{rank}" = the rank) */
  char keyring[CFG_PATH_MAX];   /* every party's public keys; unknown keys are refused */
  char name[64];                /* keygen: party name */
  /* pilot mode (fedmeta coordinator / join) */
  char federation[64];          /* pilot: parties publish their ports as "FEDERATION:NAME" */
  char host[1024];              /* join: the platforms this party hosts, comma-separated names */
  double join_timeout;          /* seconds to wait for the parties (coordinator) or the coordinator (party) */
  char secagg[4];               /* on | off: secure aggregation of the deltas */
  uint32_t secagg_threshold;    /* t of Shamir's t-of-n (0 = the smallest majority of holders) */
  uint32_t secagg_neighbours;   /* SecAgg+: neighbours per party (0 = everyone, at most 255 parties) */
  /* data */
  int synthetic;                /* the embedded synthetic market (default) */
  char data[CFG_PATH_MAX];      /* or a prepared folder (manifest + shards) */
  uint64_t market_seed;
  uint32_t industries, users;
  double scale;
  char heldout[256];            /* comma-separated held-out industries; "" = market default */
  uint32_t kshot;               /* K: support interactions per held-out user */
  uint32_t heldout_users;       /* keep this many of a held-out industry's users (0 = all) */
  char platform[64];            /* eval: the platform to adapt to */
  char model_path[CFG_PATH_MAX];/* eval: meta-model file */
  /* model */
  uint32_t dim, hidden, buckets_log2, hist_len;
  char pop_prior[4];            /* on | off: score + beta log(1 + item count) (common/model.h) */
  char pop_loo[4];              /* on | off: training rows' counts leave their user out (dataset.h) */
  char eval_pop_loo[8];         /* eval: model | on | off (model: the meta-model's own pop_loo) */
  uint32_t spectral;            /* r: rank of the co-occurrence term (common/model.h); 0 = off */
  uint32_t spectral_basis;      /* M: gamma from M smooth coefficients (common/model.h); 0 = one per rank */
  uint32_t time_lags;           /* J: lags of the time term (common/model.h); 0 = off */
  uint32_t time_bin_days;       /* width of its bins */
  char towers[4];               /* on | off: off scores with the other terms alone */
  char attr[4];                 /* on | off: on adds the attribute term */
  uint32_t ease;                /* lambda of the EASE term (common/model.h); 0 = off */
  char trans[4];                /* on | off: on adds the transition term */
  char user_ids[4];             /* on | off: on gives each user its global-id token (the shared user table) */
  /* inner loop (platforms) */
  uint32_t inner_steps;
  char inner_opt[8];            /* sgd | adam */
  float inner_lr, local_lr, l2;
  uint32_t batch, n_neg;
  /* outer loop (coordinator) */
  char outer_opt[12];           /* sgd | momentum | adam */
  float outer_lr;               /* epsilon */
  char schedule[12];            /* constant | linear */
  float clip;                   /* L2 bound on a platform's delta */
  uint32_t per_round;           /* platforms sampled per round, 0 = all */
  /* evaluation */
  uint32_t ft_steps;            /* fine-tune steps on the support split */
  float ft_lr;
  float ft_prox;                /* lambda of the fine-tune's prior centred on its start (0 = none) */
  char write_topn[CFG_PATH_MAX]; /* eval --write-topn, recommend --out: the top-N file ("" = none) */
  uint32_t topn;                /* eval: its N */
  char model_list[CFG_PATH_MAX]; /* eval: a file naming several models to score ("" = --model alone) */
  char save_model[CFG_PATH_MAX]; /* recommend: where the fine-tuned model goes ("" = nowhere) */
  uint32_t local_steps;         /* steps of the local-only baseline (from scratch) */
  char ft_history[8];           /* auto | full: history used to score after training on the support (worker/adapt.h) */
  /* the federated start search after the rounds (common/search.h) */
  char search_k[64];            /* K values to search a start for, comma-separated ("" = no search) */
  char search_grid[512];        /* the candidates' grid ("" = a default axis per term the model has) */
  uint32_t search_users;        /* query users of each training platform's K-shot split scored (0 = all) */
  uint32_t search_refine;       /* T > 0: a second pass scores each K's T best on every query user */
  uint32_t query_users;         /* eval: score this many of the query users, chosen by --seed (0 = all) */
  char config_file[CFG_PATH_MAX];
  /* prepare (importers) */
  char format[16];              /* ciao | amazon | movielens | csv */
  char input[CFG_PATH_MAX];     /* file or folder of the published data set */
  char columns[256];            /* csv: column mapping, e.g. "user=1,item=2,industry=3,time=4,rating=5" */
  char delimiter[8];            /* csv: field separator ("tab", "comma" or one character) */
  uint32_t header;              /* csv: header lines to skip */
  float min_rating;             /* implicit feedback: keep rating >= this (and > 0) */
  uint32_t kcore;               /* global k-core filter over all industries */
  uint32_t min_platform;        /* drop industries with fewer interactions */
  int strict;                   /* a malformed line is an error (default: skip and count) */
  char industries_sel[256];     /* keep only these industries (comma-separated), "" = all */
  char names[CFG_PATH_MAX];      /* industry names: file of "<raw id> <name>" lines, "" = none */
  int items_per_industry;       /* csv: item ids are numbered within each industry */
  /* baselines */
  char ks[64];                  /* K values, comma-separated */
  float ease_lambda;
  uint32_t knn_topk;
  uint32_t boot;                /* bootstrap resamples */
  int no_pooled;                /* skip the pooled (privacy-free) EASE reference */
} fm_config;

/* Which subcommand a setting belongs to (bit mask). */
/* CFG_COORD: the extra settings of `fedmeta coordinator` (which also takes every
 * CFG_TRAIN one); CFG_JOIN: the settings a party of a pilot gives `fedmeta join`
 * (the rest comes from the coordinator). */
enum { CFG_SYNTH = 1, CFG_TRAIN = 2, CFG_EVAL = 4, CFG_PREPARE = 8, CFG_BASELINES = 16, CFG_KEYGEN = 32,
       CFG_COORD = 64, CFG_JOIN = 128, CFG_RECOMMEND = 256 };

void config_defaults(fm_config *c);

/* Parses argv[first..argc) for subcommand `cmd` (CFG_*): reads --config FILE
 * first if given, then the flags. Returns 0, 1 if --help was asked (help
 * printed to `help_out`), or -1 with a message naming the flag, the value and
 * what is allowed. */
int config_parse(fm_config *c, int cmd, int argc, char **argv, int first, FILE *help_out,
                 fm_err *err);

/* Applies "key = value" lines (the config file format) from text; origin
 * names them in error messages ("ORIGIN:LINE: ..."). */
int config_parse_text(fm_config *c, int cmd, const char *text, const char *origin, fm_err *err);

/* The value of the last "key = value" line of text naming key (a model's
 * settings, checkpoint.h config), trimmed, into out (n bytes). Returns 1 if
 * a line names it, else 0 (out untouched). */
int config_text_get(const char *text, const char *key, char *out, size_t n);

/* Cross-field checks (e.g. --data and --synthetic together). */
int config_check(const fm_config *c, int cmd, fm_err *err);

/* Writes every setting of `cmd` as "key = value" lines (the config file format);
 * with results_only, only those that change the trained model (not --out,
 * --verbose, ...), so that a model file does not depend on where it was written. */
void config_write(const fm_config *c, int cmd, int results_only, FILE *f);

/* A short stable hash of the settings that change results (for checkpoints). */
uint64_t config_hash(const fm_config *c);

#endif
