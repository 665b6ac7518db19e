/* common/config.c: the option table and its parser (see config.h). */
#include "common/config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/search.h"

typedef enum { T_STR, T_U32, T_U64, T_F32, T_F64, T_FLAG, T_CHOICE } opt_type;

typedef struct opt {
  const char *name;   /* flag without the leading "--", also the config-file key */
  opt_type type;
  size_t off;         /* offset in fm_config */
  size_t size;        /* for strings: buffer size */
  double min, max;    /* numeric range (inclusive) */
  const char *choices;/* for T_CHOICE: "a|b|c" */
  int cmds;           /* CFG_* mask */
  int results;        /* 1 if the value changes the trained model (config_hash) */
  const char *help;
} opt;

#define F(field) offsetof(fm_config, field), sizeof(((fm_config *)0)->field)
#define ALL (CFG_SYNTH | CFG_TRAIN | CFG_EVAL)
#define TE (CFG_TRAIN | CFG_EVAL)

static const opt OPTS[] = {
  /* data */
  {"synthetic", T_FLAG, F(synthetic), 0, 1, NULL, TE | CFG_RECOMMEND, 0, "use the embedded synthetic market (default)"},
  {"data", T_STR, F(data), 0, 0, NULL, TE | CFG_JOIN | CFG_RECOMMEND, 0, "prepared data folder (manifest + shards) instead of --synthetic"},
  {"market-seed", T_U64, F(market_seed), 0, 1.8e19, NULL, ALL | CFG_RECOMMEND, 1, "seed of the synthetic market"},
  {"industries", T_U32, F(industries), 2, 1024, NULL, ALL | CFG_RECOMMEND, 1, "industries in the synthetic market (beyond 16: a long tail of niche variants)"},
  {"users", T_U32, F(users), 50, 5000000, NULL, ALL | CFG_RECOMMEND, 1, "user population of the synthetic market"},
  {"scale", T_F64, F(scale), 0.05, 100, NULL, ALL | CFG_RECOMMEND, 1, "size multiplier of the synthetic catalogues"},
  {"heldout", T_STR, F(heldout), 0, 0, NULL, CFG_TRAIN, 1, "held-out industries, comma-separated (default: the market's)"},
  {"kshot", T_U32, F(kshot), 1, 1000, NULL, TE, 1, "K: support interactions per held-out user"},
  {"heldout-users", T_U32, F(heldout_users), 0, 5000000, NULL, TE | CFG_BASELINES, 0, "a sparse new industry: keep N of a held-out industry's users with K+1 interactions, chosen by --seed (0 = all)"},
  {"platform", T_STR, F(platform), 0, 0, NULL, CFG_EVAL | CFG_RECOMMEND, 0, "eval, recommend: the industry (platform) to adapt to"},
  {"model", T_STR, F(model_path), 0, 0, NULL, CFG_EVAL | CFG_RECOMMEND, 0, "eval, recommend: meta-model file (meta-model.pb)"},
  {"model-list", T_STR, F(model_list), 0, 0, NULL, CFG_EVAL, 0, "eval, instead of --model: FILE names several meta-model files, one per line (# comments), of the same shape, terms and pop-loo; each is adapted and scored in turn on the same industry, whose inputs are built once: one table row and one JSON line (with \"model_file\") each; popularity and local-only once"},
  /* job */
  {"algo", T_CHOICE, F(algo), 0, 0, "reptile|fedavg|fomaml|local|central", CFG_TRAIN, 1, "federated algorithm (central: pooled data, the privacy-free reference)"},
  {"seed", T_U64, F(seed), 0, 1.8e19, NULL, TE | CFG_RECOMMEND, 1, "training seed"},
  {"rounds", T_U32, F(rounds), 1, 1000000, NULL, CFG_TRAIN, 1, "federated rounds"},
  {"out", T_STR, F(out), 0, 0, NULL, CFG_SYNTH | CFG_TRAIN | CFG_JOIN, 0, "output folder (a party of a pilot: its platforms' private state)"},
  {"eval-every", T_U32, F(eval_every), 0, 1000000, NULL, CFG_TRAIN, 0, "evaluate every n rounds (0 = only at the end)"},
  {"round-timeout", T_F64, F(round_timeout), 0.1, 86400, NULL, CFG_TRAIN, 0, "seconds to wait for a round's messages"},
  {"verbose", T_U32, F(verbose), 0, 3, NULL, ALL | CFG_JOIN | CFG_RECOMMEND, 0, "log level 0..3"},
  {"min-platforms", T_U32, F(min_platforms), 1, 1000000, NULL, CFG_TRAIN, 0, "a round goes on at its deadline when at least this many deltas arrived"},
  {"checkpoint-every", T_U32, F(checkpoint_every), 0, 1000000, NULL, CFG_TRAIN, 0, "write OUT/checkpoint.fmck every n rounds (0 = never)"},
  {"resume", T_STR, F(resume), 0, 0, NULL, CFG_TRAIN, 0, "continue the run in DIR from its checkpoint (reads DIR/config.txt first; flags override)"},
  {"aggregate", T_CHOICE, F(aggregate), 0, 0, "mean|median|trimmed", CFG_TRAIN, 1, "how deltas combine: (weighted) mean, coordinate-wise median or trimmed mean"},
  {"trim", T_F32, F(trim), 0, 0.49, NULL, CFG_TRAIN, 1, "trimmed mean: fraction cut at each end per coordinate"},
  {"inject-stall", T_STR, F(inject_stall), 0, 0, NULL, CFG_TRAIN, 0, "testing only: PLATFORM:ROUND:SECONDS, the platform's rank sleeps before that round's delta"},
  {"inject-poison", T_STR, F(inject_poison), 0, 0, NULL, CFG_TRAIN, 1, "testing only: PLATFORM:FACTOR, the platform sends FACTOR x its clipped delta"},
  {"inject-crash", T_U32, F(inject_crash), 0, 1000000, NULL, CFG_TRAIN, 0, "testing only: the coordinator dies in the middle of this round unless --resume is given"},
  {"inject-wire", T_STR, F(inject_wire), 0, 0, NULL, CFG_TRAIN, 0, "testing only: KIND:PLATFORM:ROUND, KIND tamper|truncate|replay|stale: the platform's sealed delta is damaged or repeated; spoof: another rank sends a delta in the platform's name"},
  /* differential privacy */
  {"dp-noise", T_F64, F(dp_noise), 0, 1000, NULL, CFG_TRAIN, 1, "z: Gaussian noise multiplier of client-level DP (0 = off); noise std = z x clip on the sum"},
  {"dp-delta", T_F64, F(dp_delta), 1e-15, 0.1, NULL, CFG_TRAIN, 1, "delta of the reported (epsilon, delta) guarantee"},
  {"dp-target-epsilon", T_F64, F(dp_target_epsilon), 0, 1e6, NULL, CFG_TRAIN, 1, "stop training before epsilon would exceed this (0 = run every round)"},
  {"dp-sample-rate", T_F64, F(dp_sample_rate), 0, 1, NULL, CFG_TRAIN, 1, "q: each training platform joins a round with probability q (Poisson sampling; 0 = all)"},
  {"dp-test-seed", T_U64, F(dp_test_seed), 0, 1.8e19, NULL, CFG_TRAIN, 1, "testing only: noise from this seed, reproducible and with NO privacy (0 = from the OS)"},
  /* security */
  {"seal", T_CHOICE, F(seal), 0, 0, "on|off", CFG_TRAIN, 0, "seal every message between ranks (XChaCha20-Poly1305, per-pair keys); off only to measure the overhead"},
  {"key", T_STR, F(key), 0, 0, NULL, CFG_TRAIN | CFG_JOIN, 0, "this party's secret key file from fedmeta keygen ({rank} is replaced by the rank); default: a fresh key per run"},
  {"keyring", T_STR, F(keyring), 0, 0, NULL, CFG_TRAIN | CFG_JOIN, 0, "file of every party's public key line; a rank whose key is not in it is refused"},
  /* pilot mode */
  {"federation", T_STR, F(federation), 0, 0, NULL, CFG_COORD | CFG_JOIN, 0, "pilot: parties publish their MPI ports in ompi-server's name service as FEDERATION:NAME (NAME from the key file)"},
  {"host", T_STR, F(host), 0, 0, NULL, CFG_JOIN, 0, "pilot: the platforms this party hosts, comma-separated names (spread over its own ranks)"},
  {"join-timeout", T_F64, F(join_timeout), 1, 604800, NULL, CFG_COORD | CFG_JOIN, 0, "pilot: seconds to wait for every platform's party to join (coordinator) or for the coordinator (party)"},
  {"secagg", T_CHOICE, F(secagg), 0, 0, "on|off", CFG_TRAIN, 0, "secure aggregation: the coordinator learns only the sum of the deltas (Bonawitz et al. 2017)"},
  {"secagg-threshold", T_U32, F(secagg_threshold), 0, 255, NULL, CFG_TRAIN, 0, "t: shares needed to recover a party's masks (0 = the smallest majority of its holders)"},
  {"secagg-neighbours", T_U32, F(secagg_neighbours), 0, 254, NULL, CFG_TRAIN, 0, "SecAgg+: each party masks with this many neighbours (even; 0 = with everyone)"},
  {"out", T_STR, F(out), 0, 0, NULL, CFG_KEYGEN, 0, "secret key file to write (mode 0600; never overwritten)"},
  {"name", T_STR, F(name), 0, 0, NULL, CFG_KEYGEN, 0, "party name in the public key line (default: the file name without .key)"},
  /* model */
  {"dim", T_U32, F(dim), 2, 1024, NULL, TE, 1, "D: embedding width"},
  {"hidden", T_U32, F(hidden), 2, 8192, NULL, TE, 1, "hidden width of the towers"},
  {"buckets-log2", T_U32, F(buckets_log2), 4, 24, NULL, TE, 1, "log2 of the hashed feature buckets"},
  {"hist-len", T_U32, F(hist_len), 1, 1024, NULL, TE, 1, "history items pooled by the user encoder"},
  {"pop-prior", T_CHOICE, F(pop_prior), 0, 0, "on|off", CFG_TRAIN, 1, "add a learned popularity prior to the score: beta x log(1 + the item's count in the platform's training data)"},
  {"spectral", T_U32, F(spectral), 0, 256, NULL, CFG_TRAIN, 1, "r: add a co-occurrence term, the rank-r spectrum of the platform's item co-occurrence weighted by a meta-learned filter (0 = off)"},
  {"time-lags", T_U32, F(time_lags), 0, 256, NULL, CFG_TRAIN, 1, "J: add a time term, the platform's item counts in the time bins within J of the user's last known interaction, weighted by a meta-learned filter over the lags (0 = off; needs real timestamps)"},
  {"spectral-basis", T_U32, F(spectral_basis), 0, 16, NULL, CFG_TRAIN, 1, "M: the co-occurrence filter gamma is a smooth function of the eigenvalue's rank, M meta-learned coefficients of Legendre polynomials in the log rank (at most --spectral), instead of one free weight per rank (0)"},
  {"towers", T_CHOICE, F(towers), 0, 0, "on|off", CFG_TRAIN, 1, "off: score with the other terms alone (--pop-prior, --spectral, --time-lags, --attr, --ease, --trans), their meta-learned filters, without the two towers"},
  {"attr", T_CHOICE, F(attr), 0, 0, "on|off", CFG_TRAIN, 1, "on: add an attribute term, the idf-weighted similarity of an item's attributes (brand, category path, genre...) to the user's history's, weighted by a meta-learned alpha"},
  {"user-ids", T_CHOICE, F(user_ids), 0, 0, "on|off", CFG_TRAIN, 1, "on: a hashed shared user table: each user's global id (the same person on every platform) is one more of its hashed feature tokens, so what the user did on the other platforms reaches a platform through the meta-model (needs the towers, and --secagg on so that the coordinator cannot tell which users a platform has)"},
  {"trans", T_CHOICE, F(trans), 0, 0, "on|off", CFG_TRAIN, 1, "on: add a transition term, how often each item came right after the user's last item among the platform's own users, weighted by a meta-learned kappa"},
  {"ease", T_U32, F(ease), 0, 1000000, NULL, CFG_TRAIN, 1, "lambda: add an EASE term, the platform's own item-item ridge regression (Steck 2019, L2 penalty lambda) of the user's history, weighted by a meta-learned eta (0 = off)"},
  {"time-bin-days", T_U32, F(time_bin_days), 1, 36500, NULL, CFG_TRAIN, 1, "width of the time term's bins, days"},
  /* inner */
  {"inner-steps", T_U32, F(inner_steps), 1, 100000, NULL, CFG_TRAIN, 1, "k: inner steps per round"},
  {"inner-opt", T_CHOICE, F(inner_opt), 0, 0, "sgd|adam", TE | CFG_RECOMMEND, 1, "inner optimiser"},
  {"inner-lr", T_F32, F(inner_lr), 1e-7, 10, NULL, CFG_TRAIN, 1, "inner learning rate (shared parameters)"},
  {"local-lr", T_F32, F(local_lr), 0, 10, NULL, TE | CFG_RECOMMEND, 1, "learning rate of local ID embeddings"},
  {"l2", T_F32, F(l2), 0, 1, NULL, TE | CFG_RECOMMEND, 1, "L2 penalty on touched embedding rows"},
  {"batch", T_U32, F(batch), 1, 65536, NULL, TE | CFG_RECOMMEND, 1, "B: examples per step"},
  {"negatives", T_U32, F(n_neg), 1, 65536, NULL, TE | CFG_RECOMMEND, 1, "N: sampled negatives per step"},
  /* outer */
  {"outer-opt", T_CHOICE, F(outer_opt), 0, 0, "sgd|momentum|adam", CFG_TRAIN, 1, "outer optimiser (coordinator)"},
  {"outer-lr", T_F32, F(outer_lr), 1e-6, 10, NULL, CFG_TRAIN, 1, "epsilon: outer step size (fedavg uses 1)"},
  {"schedule", T_CHOICE, F(schedule), 0, 0, "constant|linear", CFG_TRAIN, 1, "outer step schedule"},
  {"clip", T_F32, F(clip), 1e-6, 1e6, NULL, CFG_TRAIN, 1, "L2 bound C on a platform's delta"},
  {"per-round", T_U32, F(per_round), 0, 1000000, NULL, CFG_TRAIN, 1, "platforms sampled per round (0 = all)"},
  /* evaluation */
  {"ft-steps", T_U32, F(ft_steps), 0, 1000000, NULL, TE | CFG_RECOMMEND, 1, "fine-tune steps on the support split"},
  {"ft-lr", T_F32, F(ft_lr), 1e-7, 10, NULL, TE | CFG_RECOMMEND, 1, "fine-tune learning rate"},
  {"pop-loo", T_CHOICE, F(eval_pop_loo), 0, 0, "model|on|off", CFG_EVAL | CFG_RECOMMEND, 1, "--pop-loo of the fine-tune and local-only (see `fedmeta train --help`); model: the setting the meta-model was trained with, from its settings (off for a model whose settings do not name it: it predates the option)"},
  {"pop-loo", T_CHOICE, F(pop_loo), 0, 0, "on|off", CFG_TRAIN, 1, "on: a training example's popularity input (--pop-prior) leaves out its own user's interactions, as a query's does at inference (a K-shot support's counts are small, and its own interaction inflates its target's), and the towers' item popularity rank token, which cannot leave it out, is off (with --pop-prior on: without it the token is the model's only popularity input and stays); off: the counts include them"},
  {"ft-prox", T_F32, F(ft_prox), 0, 10000, NULL, TE | CFG_RECOMMEND, 1, "lambda: the fine-tune (and local-only) adds a prior (lambda / 2) |theta - theta0|^2 centred on its start theta0, the meta-model (local-only: its hand-set start); 0 = none"},
  {"write-topn", T_STR, F(write_topn), 0, 0, NULL, CFG_EVAL, 0, "FILE: write the adapted meta-model's best --topn items for each query user, tab-separated: user (its global id, users.tsv; else its index), rank, item (its index in the platform, items.tsv), score; the user's known items never among them; written to FILE.tmp and renamed"},
  {"out", T_STR, F(write_topn), 0, 0, NULL, CFG_RECOMMEND, 0, "FILE (required): the recommendations, tab-separated: user (its raw id, users.tsv of fedmeta prepare; else its global id or index), rank, item (its raw id, items.tsv; else its index in the platform), score; written to FILE.tmp and renamed"},
  {"save-model", T_STR, F(save_model), 0, 0, NULL, CFG_RECOMMEND, 0, "FILE: also write the fine-tuned model, in the meta-model's format (written to FILE.tmp and renamed): serve from it later with --model FILE --ft-steps 0 (the same recommendations, no fine-tune), or score it with fedmeta eval; refused with --local-lr > 0 (the platform's ID embeddings are not part of such a file)"},
  {"topn", T_U32, F(topn), 1, 10000, NULL, CFG_EVAL | CFG_RECOMMEND, 0, "N: items per user of --write-topn (eval) and of fedmeta recommend"},
  {"local-steps", T_U32, F(local_steps), 0, 1000000, NULL, TE, 1, "steps of the local-only baseline"},
  {"search-k", T_STR, F(search_k), 0, 0, NULL, CFG_TRAIN, 0, "after the rounds, search a start per K (comma-separated, e.g. 1,5): every training platform scores candidate term weights on a K-shot split of its own data, NDCG@10 with no fine-tune; the mean over all their scored users (the sums securely aggregated with --secagg on) picks the best, written to OUT/meta-model-k<K>.pb (needs --towers off; docs/ARCHITECTURE.md); \"\" = no search"},
  {"search-grid", T_STR, F(search_grid), 0, 0, NULL, CFG_TRAIN, 0, "the search's candidates relative to beta = 1, e.g. \"gamma=0,0.5,1,2 kappa=0,0.05 alpha=0,4,8 eta=0,0.15 tau=0:1,1:4\" (tau: height:width); \"\" = a default axis for every term the model has (common/search.h); the meta-model as trained is always a candidate"},
  {"search-users", T_U32, F(search_users), 0, 5000000, NULL, CFG_TRAIN, 0, "query users of each training platform's K-shot split the search scores, chosen by --seed (0 = all; the inputs are built from every user's support either way)"},
  {"search-refine", T_U32, F(search_refine), 0, 256, NULL, CFG_TRAIN, 0, "T > 0: the search's second pass (one more round) scores the meta-model and each K's T best candidates of the first on every query user, and chooses among them: a sample of users chooses with noise, and this costs far less than every candidate on every user (0 = one pass; none either when the first pass saw every user)"},
  {"query-users", T_U32, F(query_users), 0, 5000000, NULL, CFG_EVAL, 0, "score only this many of the query users, chosen by --seed (0 = all): a quicker, sampled figure; unlike --heldout-users the industry keeps every user's support for its inputs"},
  {"ft-history", T_CHOICE, F(ft_history), 0, 0, "auto|full", TE | CFG_RECOMMEND, 1, "history of a user scored after training on the support: auto = none when no support example had one (K = 1), as in the training; full = always the support (docs/BENCHMARKS.md)"},
  {"config", T_STR, F(config_file), 0, 0, NULL, ALL | CFG_PREPARE | CFG_BASELINES | CFG_RECOMMEND, 0, "read settings from FILE (key = value); flags override"},
  /* prepare */
  {"format", T_CHOICE, F(format), 0, 0, "ciao|amazon|movielens|csv", CFG_PREPARE, 1, "format of the published data set"},
  {"input", T_STR, F(input), 0, 0, NULL, CFG_PREPARE, 1, "the data set: a file (ciao, csv) or a folder (amazon, movielens)"},
  {"columns", T_STR, F(columns), 0, 0, NULL, CFG_PREPARE, 1, "csv: 1-based columns, e.g. user=1,item=2,industry=3,time=4,rating=5"},
  {"delimiter", T_STR, F(delimiter), 0, 0, NULL, CFG_PREPARE, 1, "csv: tab, comma or one character"},
  {"header", T_U32, F(header), 0, 1000, NULL, CFG_PREPARE, 1, "csv: header lines to skip"},
  {"min-rating", T_F32, F(min_rating), 0, 1e9, NULL, CFG_PREPARE, 1, "implicit feedback: keep ratings >= this (always > 0)"},
  {"kcore", T_U32, F(kcore), 0, 1000, NULL, CFG_PREPARE, 1, "global k-core over all industries (0 = off)"},
  {"min-platform", T_U32, F(min_platform), 0, 1000000000, NULL, CFG_PREPARE, 1, "drop industries with fewer interactions"},
  {"strict", T_FLAG, F(strict), 0, 1, NULL, CFG_PREPARE, 0, "a malformed line is an error (default: skip it and count)"},
  {"select", T_STR, F(industries_sel), 0, 0, NULL, CFG_PREPARE, 1, "keep only these industries (comma-separated names)"},
  /* names and items-per-industry do not enter config_hash (results = 0): adding them must
   * not change the hash, and so the seeds, of existing train configurations. */
  {"names", T_STR, F(names), 0, 0, NULL, CFG_PREPARE, 0, "industry names: a file of '<id> <name>' lines (e.g. ciao's catalog_ciao.txt)"},
  {"items-per-industry", T_FLAG, F(items_per_industry), 0, 1, NULL, CFG_PREPARE, 0, "csv: item ids are numbered within each industry (default: one id is one item everywhere)"},
  {"out", T_STR, F(out), 0, 0, NULL, CFG_PREPARE, 0, "output folder"},
  {"verbose", T_U32, F(verbose), 0, 3, NULL, CFG_PREPARE | CFG_BASELINES, 0, "log level 0..3"},
  /* baselines */
  {"data", T_STR, F(data), 0, 0, NULL, CFG_BASELINES, 0, "prepared data folder (manifest + shards)"},
  {"heldout", T_STR, F(heldout), 0, 0, NULL, CFG_BASELINES, 1, "held-out industries, comma-separated"},
  {"ks", T_STR, F(ks), 0, 0, NULL, CFG_BASELINES, 1, "K values (support interactions per user), comma-separated"},
  {"ease-lambda", T_F32, F(ease_lambda), 1e-6, 1e9, NULL, CFG_BASELINES, 1, "EASE L2 penalty"},
  {"knn-topk", T_U32, F(knn_topk), 0, 1000000, NULL, CFG_BASELINES, 1, "ItemKNN neighbours per item (0 = all)"},
  {"boot", T_U32, F(boot), 0, 1000000, NULL, CFG_BASELINES | CFG_EVAL, 1, "bootstrap resamples for the 95% intervals (user level; eval: also paired, of the model against popularity and local-only)"},
  {"seed", T_U64, F(seed), 0, 1.8e19, NULL, CFG_BASELINES, 1, "seed (bootstrap; the users of --heldout-users)"},
  {"no-pooled", T_FLAG, F(no_pooled), 0, 1, NULL, CFG_BASELINES, 0, "skip the privacy-free pooled EASE (the slowest fit)"},
  {"out", T_STR, F(out), 0, 0, NULL, CFG_BASELINES, 0, "CSV file, or an existing folder for FOLDER/p1-baselines.csv; written only when --out is given"},
};
#define N_OPTS (sizeof OPTS / sizeof OPTS[0])

void config_defaults(fm_config *c) {
  memset(c, 0, sizeof *c);
  snprintf(c->algo, sizeof c->algo, "reptile");
  c->seed = 1;
  c->rounds = 100;
  snprintf(c->out, sizeof c->out, "out");
  c->eval_every = 20;
  c->round_timeout = 600;
  c->join_timeout = 3600;
  snprintf(c->federation, sizeof c->federation, "fedmeta");
  c->min_platforms = 1;
  c->checkpoint_every = 1;
  snprintf(c->aggregate, sizeof c->aggregate, "mean");
  snprintf(c->seal, sizeof c->seal, "on");
  snprintf(c->secagg, sizeof c->secagg, "off");
  c->dp_delta = 1e-5;
  c->trim = 0.1f;
  c->verbose = 1;
  c->synthetic = 0;
  c->market_seed = 42;
  c->industries = 8;
  c->users = 4000;
  c->scale = 1.0;
  c->kshot = 5;
  c->dim = 32;
  c->hidden = 64;
  c->buckets_log2 = 14;
  c->hist_len = 20;
  snprintf(c->pop_prior, sizeof c->pop_prior, "on");
  snprintf(c->pop_loo, sizeof c->pop_loo, "on");
  snprintf(c->eval_pop_loo, sizeof c->eval_pop_loo, "model");
  c->time_bin_days = 90;
  snprintf(c->towers, sizeof c->towers, "on");
  snprintf(c->attr, sizeof c->attr, "off");
  snprintf(c->trans, sizeof c->trans, "off");
  snprintf(c->user_ids, sizeof c->user_ids, "off");
  c->inner_steps = 20;
  snprintf(c->inner_opt, sizeof c->inner_opt, "adam");
  c->inner_lr = 0.003f;
  c->local_lr = 0.0f; /* ID embeddings off by default: see docs/BENCHMARKS.md */
  c->l2 = 0;
  c->batch = 128;
  c->n_neg = 512;
  snprintf(c->outer_opt, sizeof c->outer_opt, "sgd");
  c->outer_lr = 1.0f;
  snprintf(c->schedule, sizeof c->schedule, "linear");
  c->clip = 10.0f;
  c->per_round = 0;
  c->ft_steps = 40;
  c->ft_lr = 0.003f;
  c->local_steps = 200;
  c->ft_prox = 0;
  c->topn = 20;
  snprintf(c->ft_history, sizeof c->ft_history, "auto");
  c->search_users = 500;
  c->search_refine = 10;
  snprintf(c->delimiter, sizeof c->delimiter, "tab");
  c->min_rating = 1;
  c->kcore = 5;
  c->min_platform = 1;
  snprintf(c->ks, sizeof c->ks, "1,5,10");
  c->ease_lambda = 200;
  c->knn_topk = 0;
  c->boot = 1000;
}

static const opt *find_opt(const char *name, int cmd) {
  for (size_t i = 0; i < N_OPTS; i++)
    if (strcmp(OPTS[i].name, name) == 0 && (OPTS[i].cmds & cmd)) return &OPTS[i];
  return NULL;
}

static int set_value(fm_config *c, const opt *o, const char *val, const char *where, fm_err *err) {
  char *base = (char *)c + o->off;
  char *end = NULL;
  errno = 0;
  switch (o->type) {
  case T_FLAG:
    if (val && strcmp(val, "1") && strcmp(val, "true") && strcmp(val, "0") && strcmp(val, "false"))
      return fm_fail(err, "%s--%s: expected true or false, got '%s'", where, o->name, val);
    *(int *)base = (!val || !strcmp(val, "1") || !strcmp(val, "true"));
    return 0;
  case T_STR:
    if (strlen(val) >= o->size)
      return fm_fail(err, "%s--%s: value longer than %zu characters", where, o->name, o->size - 1);
    snprintf(base, o->size, "%s", val);
    return 0;
  case T_CHOICE: {
    size_t n = strlen(val);
    const char *p = o->choices;
    while (p && *p) {
      const char *bar = strchr(p, '|');
      size_t len = bar ? (size_t)(bar - p) : strlen(p);
      if (len == n && strncmp(p, val, n) == 0) {
        snprintf(base, o->size, "%s", val);
        return 0;
      }
      p = bar ? bar + 1 : NULL;
    }
    return fm_fail(err, "%s--%s: '%s' is not one of %s", where, o->name, val, o->choices);
  }
  case T_U32:
  case T_U64: {
    if (val[0] == '-' || val[0] == '\0')
      return fm_fail(err, "%s--%s: expected a non-negative integer in [%.0f, %.0f], got '%s'", where,
                     o->name, o->min, o->max, val);
    unsigned long long v = strtoull(val, &end, 10);
    if (errno || !end || *end)
      return fm_fail(err, "%s--%s: expected an integer in [%.0f, %.0f], got '%s'", where, o->name,
                     o->min, o->max, val);
    if ((double)v < o->min || (double)v > o->max)
      return fm_fail(err, "%s--%s: %llu is out of range [%.0f, %.0f]", where, o->name, v, o->min,
                     o->max);
    if (o->type == T_U32) *(uint32_t *)base = (uint32_t)v;
    else *(uint64_t *)base = (uint64_t)v;
    return 0;
  }
  case T_F32:
  case T_F64: {
    double v = strtod(val, &end);
    if (errno || !end || *end || end == val || !isfinite(v))
      return fm_fail(err, "%s--%s: expected a number in [%g, %g], got '%s'", where, o->name, o->min,
                     o->max, val);
    /* A float setting is checked as the float it will be, so that every stored
     * value (and config.txt, which prints it) is accepted again: 1e-6 is stored
     * as 9.99999997e-07, below the double 1e-6. */
    int out = o->type == T_F32 ? ((float)v < (float)o->min || (float)v > (float)o->max) : (v < o->min || v > o->max);
    if (out) return fm_fail(err, "%s--%s: %g is out of range [%g, %g]", where, o->name, v, o->min, o->max);
    if (o->type == T_F32) *(float *)base = (float)v;
    else *(double *)base = v;
    return 0;
  }
  }
  return fm_fail(err, "internal: unknown option type");
}

static void print_value(const fm_config *c, const opt *o, FILE *f) {
  const char *base = (const char *)c + o->off;
  switch (o->type) {
  case T_FLAG: fprintf(f, "%s", *(const int *)base ? "true" : "false"); break;
  case T_STR:
  case T_CHOICE: fprintf(f, "%s", base); break;
  case T_U32: fprintf(f, "%" PRIu32, *(const uint32_t *)base); break;
  case T_U64: fprintf(f, "%" PRIu64, *(const uint64_t *)base); break;
  case T_F32: fprintf(f, "%.9g", (double)*(const float *)base); break;
  case T_F64: fprintf(f, "%.17g", *(const double *)base); break;
  }
}

static void print_help(const fm_config *defaults, int cmd, FILE *f) {
  for (size_t i = 0; i < N_OPTS; i++) {
    const opt *o = &OPTS[i];
    if (!(o->cmds & cmd)) continue;
    char name[64];
    const char *arg = o->type == T_FLAG ? "" : o->type == T_STR ? " S" : o->type == T_CHOICE ? " C" : " N";
    snprintf(name, sizeof name, "--%s%s", o->name, arg);
    fprintf(f, "  %-22s %s", name, o->help);
    if (o->type == T_CHOICE) fprintf(f, " {%s}", o->choices);
    if (o->type == T_U32 || o->type == T_U64) fprintf(f, " [%.0f..%.0f]", o->min, o->max);
    if (o->type == T_F32 || o->type == T_F64) fprintf(f, " [%g..%g]", o->min, o->max);
    if (o->type != T_FLAG) {
      fprintf(f, " (default ");
      print_value(defaults, o, f);
      fprintf(f, ")");
    }
    fprintf(f, "\n");
  }
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
  return s;
}

static int read_config_stream(fm_config *c, int cmd, FILE *f, const char *path, fm_err *err);

static int read_config_file(fm_config *c, int cmd, const char *path, fm_err *err) {
  FILE *f = fopen(path, "r");
  if (!f) return fm_fail(err, "--config %s: cannot open (%s)", path, strerror(errno));
  return read_config_stream(c, cmd, f, path, err);
}

/* One "key = value" line, in place: 0 for a blank or comment line, 1 with
 * *key and *val trimmed, -1 without '='. The file format's one parser. */
static int split_setting(char *line, char **key, char **val) {
  char *s = trim(line);
  if (!*s || *s == '#') return 0;
  char *eq = strchr(s, '=');
  if (!eq) return -1;
  *eq = 0;
  *key = trim(s), *val = trim(eq + 1);
  return 1;
}

int config_text_get(const char *text, const char *key, char *out, size_t n) {
  int found = 0;
  for (const char *line = text; line && *line;) {
    const char *end = strchr(line, '\n');
    const size_t len = end ? (size_t)(end - line) : strlen(line);
    char *copy = strndup(line, len), *k, *v;
    if (copy && split_setting(copy, &k, &v) == 1 && !strcmp(k, key)) { /* the last line wins, as when parsing */
      if (n) snprintf(out, n, "%s", v);
      found = 1;
    }
    free(copy);
    line = end ? end + 1 : NULL;
  }
  return found;
}

int config_parse_text(fm_config *c, int cmd, const char *text, const char *origin, fm_err *err) {
  size_t n = strlen(text);
  if (!n) return 0;
  FILE *f = fmemopen((void *)text, n, "r");
  if (!f) return fm_fail(err, "%s: cannot read the settings (%s)", origin, strerror(errno));
  return read_config_stream(c, cmd, f, origin, err);
}

/* Reads "key = value" lines from f (closed here); path names them in errors. */
static int read_config_stream(fm_config *c, int cmd, FILE *f, const char *path, fm_err *err) {
  char line[1024];
  int ln = 0, rc = 0;
  while (fgets(line, sizeof line, f)) {
    ln++;
    if (!strchr(line, '\n') && !feof(f)) {
      rc = fm_fail(err, "%s:%d: line longer than %zu characters", path, ln, sizeof line - 2);
      break;
    }
    char *key, *val;
    const int kind = split_setting(line, &key, &val);
    if (kind == 0) continue;
    if (kind < 0) {
      rc = fm_fail(err, "%s:%d: expected 'key = value', got '%s'", path, ln, trim(line));
      break;
    }
    const opt *o = find_opt(key, cmd);
    if (!o || strcmp(key, "config") == 0) {
      rc = fm_fail(err, "%s:%d: unknown setting '%s' for this command (see --help)", path, ln, key);
      break;
    }
    char where[CFG_PATH_MAX + 32];
    snprintf(where, sizeof where, "%s:%d: ", path, ln);
    if (set_value(c, o, val, where, err)) {
      rc = -1;
      break;
    }
  }
  fclose(f);
  return rc;
}

int config_parse(fm_config *c, int cmd, int argc, char **argv, int first, FILE *help_out,
                 fm_err *err) {
  /* --help wins, and --config is applied before the other flags. */
  for (int i = first; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fm_config d;
      config_defaults(&d);
      if (help_out) print_help(&d, cmd, help_out);
      return 1;
    }
  }
  /* --resume DIR: the run's own settings (DIR/config.txt) come first. */
  if (cmd & CFG_TRAIN)
    for (int i = first; i < argc; i++) {
      const char *dir = NULL;
      if (!strcmp(argv[i], "--resume")) {
        if (i + 1 >= argc) return fm_fail(err, "--resume: missing folder name");
        dir = argv[i + 1];
      } else if (!strncmp(argv[i], "--resume=", 9)) {
        dir = argv[i] + 9;
      }
      if (!dir) continue;
      char path[CFG_PATH_MAX + 16];
      snprintf(path, sizeof path, "%s/config.txt", dir);
      if (read_config_file(c, cmd, path, err)) return fm_wrap(err, "--resume %s", dir);
      /* the folder may have moved since: outputs go where the checkpoint is */
      if (strlen(dir) >= sizeof c->out) return fm_fail(err, "--resume: folder name too long");
      snprintf(c->out, sizeof c->out, "%s", dir);
    }
  for (int i = first; i < argc; i++) {
    if (!strcmp(argv[i], "--config")) {
      if (i + 1 >= argc) return fm_fail(err, "--config: missing file name");
      snprintf(c->config_file, sizeof c->config_file, "%s", argv[i + 1]);
      if (read_config_file(c, cmd, argv[i + 1], err)) return -1;
    }
  }
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "--", 2) != 0)
      return fm_fail(err, "unexpected argument '%s' (options start with --; see --help)", a);
    char name[64];
    const char *eq = strchr(a + 2, '=');
    size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (n >= sizeof name) return fm_fail(err, "unknown option '%s' (see --help)", a);
    memcpy(name, a + 2, n);
    name[n] = 0;
    const opt *o = find_opt(name, cmd);
    if (!o) return fm_fail(err, "unknown option '--%s' for this command (see --help)", name);
    const char *val = NULL;
    if (eq) val = eq + 1;
    else if (o->type != T_FLAG) {
      if (i + 1 >= argc) return fm_fail(err, "--%s: missing value", name);
      val = argv[++i];
    }
    if (!strcmp(name, "config")) continue; /* already applied */
    if (set_value(c, o, val, "", err)) return -1;
  }
  return 0;
}

int config_check(const fm_config *c, int cmd, fm_err *err) {
  if ((cmd & (CFG_TRAIN | CFG_EVAL)) && c->synthetic && c->data[0])
    return fm_fail(err, "--synthetic and --data are exclusive: choose one data source");
  if ((cmd & (CFG_SYNTH | CFG_TRAIN)) && !c->out[0]) return fm_fail(err, "--out: empty folder name");
  if ((cmd & CFG_TRAIN) && c->keyring[0] && !c->key[0])
    return fm_fail(err, "--keyring needs --key: a pinned federation identifies each party by its key file");
  if ((cmd & CFG_TRAIN) && (c->key[0] || c->keyring[0]) && !strcmp(c->seal, "off"))
    return fm_fail(err, "--key / --keyring with --seal off: keys are only used by sealed channels");
  if ((cmd & CFG_TRAIN) && !strcmp(c->secagg, "on")) {
    if (!strcmp(c->seal, "off"))
      return fm_fail(err, "--secagg on needs --seal on: key shares travel sealed between the platforms");
    if (strcmp(c->aggregate, "mean"))
      return fm_fail(err, "--secagg on with --aggregate %s: median and trimmed mean need each delta, which secure "
                          "aggregation hides; use --aggregate mean", c->aggregate);
    if (!strcmp(c->algo, "local"))
      return fm_fail(err, "--secagg on with --algo local: nothing is aggregated");
    if (c->secagg_neighbours % 2)
      return fm_fail(err, "--secagg-neighbours %u: must be even (a Harary graph), or 0 for everyone", c->secagg_neighbours);
  }
  if ((cmd & CFG_TRAIN) && !strcmp(c->user_ids, "on") && strcmp(c->secagg, "on") && strcmp(c->algo, "central") &&
      strcmp(c->algo, "local"))
    return fm_fail(err, "--user-ids on needs --secagg on: without it the coordinator sees each platform's delta, so "
                        "which users' rows of the shared table (which people) it touched (--algo central and local, "
                        "which send no delta of a platform's own, are exempt)");
  if ((cmd & CFG_TRAIN) && c->dp_noise > 0 && (strcmp(c->aggregate, "mean") || !strcmp(c->algo, "local")))
    return fm_fail(err, "--dp-noise works with --aggregate mean and a federated --algo (the noise calibrates a sum)");
  if ((cmd & CFG_TRAIN) && (c->dp_sample_rate > 0 || c->dp_target_epsilon > 0) && !(c->dp_noise > 0))
    return fm_fail(err, "--dp-sample-rate / --dp-target-epsilon need --dp-noise > 0");
  if ((cmd & CFG_TRAIN) && c->dp_noise > 0 && c->per_round)
    return fm_fail(err, "--dp-noise with --per-round: the accountant assumes Poisson sampling; use --dp-sample-rate");
  if ((cmd & CFG_TRAIN) && c->search_k[0]) {
    uint32_t ks[SEARCH_MAX_K], nk;
    if (search_ks_parse(c->search_k, ks, &nk, err)) return -1;
    if (!strcmp(c->algo, "local")) return fm_fail(err, "--search-k with --algo local: there is no meta-model to start from");
    if (strcmp(c->aggregate, "mean"))
      return fm_fail(err, "--search-k with --aggregate %s: the search's scores are sums and user counts, whose ratio "
                          "is the mean over users; use --aggregate mean", c->aggregate);
    if (c->dp_noise > 0)
      return fm_fail(err, "--search-k with --dp-noise: the search's scores are one more release that the privacy "
                          "accountant does not count yet; search without DP or not at all");
    if (!strcmp(c->towers, "on"))
      return fm_fail(err, "--search-k needs --towers off: the candidates set the term weights, which are the whole "
                          "score only without the towers");
    if (!strcmp(c->pop_prior, "off"))
      return fm_fail(err, "--search-k needs --pop-prior on: the candidates' term weights are relative to beta");
  }
  if (cmd & (CFG_EVAL | CFG_RECOMMEND)) {
    if (c->model_path[0] && c->model_list[0]) return fm_fail(err, "--model and --model-list: give one of them");
    if (!c->model_path[0] && !c->model_list[0])
      return fm_fail(err, "--model FILE is required (a meta-model.pb written by fedmeta train)");
    if (c->model_list[0] && c->write_topn[0])
      return fm_fail(err, "--write-topn with --model-list: the top-N file is one model's; use --model");
  }
  if ((cmd & CFG_RECOMMEND) && !c->write_topn[0])
    return fm_fail(err, "--out FILE is required (where the recommendations go)");
  if ((cmd & CFG_RECOMMEND) && !c->platform[0])
    return fm_fail(err, "--platform NAME is required (the platform to recommend for)");
  if ((cmd & CFG_RECOMMEND) && c->save_model[0] && !strcmp(c->save_model, c->write_topn))
    return fm_fail(err, "--save-model and --out are the same file (%s)", c->save_model);
  if ((cmd & CFG_RECOMMEND) && c->save_model[0] && c->local_lr > 0)
    return fm_fail(err, "--save-model with --local-lr %g: a model file holds the shared parameters only, not the "
                   "platform's ID embeddings the fine-tune would train; use --local-lr 0", c->local_lr);
  if (c->hist_len > 0 && c->dim * 3ull * c->hidden > (1ull << 31))
    return fm_fail(err, "--dim %u with --hidden %u gives a layer too large", c->dim, c->hidden);
  return 0;
}

void config_write(const fm_config *c, int cmd, int results_only, FILE *f) {
  for (size_t i = 0; i < N_OPTS; i++) {
    const opt *o = &OPTS[i];
    if (!(o->cmds & cmd) || !strcmp(o->name, "config")) continue;
    if (results_only && !o->results) continue;
    fprintf(f, "%s = ", o->name);
    print_value(c, o, f);
    fprintf(f, "\n");
  }
}

uint64_t config_hash(const fm_config *c) {
  /* FNV-1a over the printed values of the settings that change results. */
  uint64_t h = 1469598103934665603ULL;
  char buf[CFG_PATH_MAX + 64];
  for (size_t i = 0; i < N_OPTS; i++) {
    const opt *o = &OPTS[i];
    if (!o->results) continue;
    FILE *m = fmemopen(buf, sizeof buf, "w");
    if (!m) continue;
    fprintf(m, "%s=", o->name);
    print_value(c, o, m);
    fputc(0, m);
    fclose(m);
    for (const char *p = buf; *p; p++) {
      h ^= (uint8_t)*p;
      h *= 1099511628211ULL;
    }
  }
  return h;
}
