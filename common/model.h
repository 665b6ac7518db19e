/* common/model.h: the recommender: a two-tower model over hashed features,
 * with a user-history encoder, scored by a dot product so that full-ranking
 * evaluation is one sgemm.
 *
 *   item i:  x_i = mean_{t in tokens(i)} E[h(t)] + Q_i            (D)
 *            v_i = W_i2 relu(W_i1 x_i + b_i1) + b_i2               (D)
 *   user u:  f_u = mean_{t in tokens(u)} E[h(t)]                    (D)
 *            g_u = mean of x_j over the user's last L history items,
 *                  leaving out the target item when training        (D)
 *            z_u = [f_u ; g_u ; P_u]                                (3D)
 *            w_u = W_u2 relu(W_u1 z_u + b_u1) + b_u2                (D)
 *   score(u, i) = w_u . v_i + beta s_i        (pop_prior; without it w_u . v_i)
 *                 + sum_k gamma_k a_uk lambda_k e_ik      (spectral = r > 0)
 *                 + sum_{j=-J..J} tau_j c_i(b_u + j)       (time_lags = J > 0)
 *                 + alpha sum_t a_ut w_it                  (attr)
 *                 + eta e_ui                               (ease = lambda > 0)
 *                 + kappa t_ui                             (trans)
 *            s_i = log(1 + TRAIN count of item i in this platform); with the
 *                  dataset's pop_loo a training example's count leaves out its
 *                  own user's interactions, as the other terms' inputs do (and
 *                  the item's popularity rank token, which cannot, is off:
 *                  dataset_rank_tokens_off)
 *            (lambda_k, e_k): the r leading eigenpairs of the platform's item
 *                  co-occurrence matrix (common/spectral.h), from the
 *                  interactions it knows (TRAIN, or a held-out industry's
 *                  support): data, not parameters; they never leave the rank
 *            a_uk = sum_{j in the user's last L history items} e_jk / sqrt(count),
 *                  leaving out the target item when training
 *            c_i(b): the (scaled) number of interactions with item i in time bin b
 *                  (bins of time_bin_s seconds) among those the platform knows
 *                  (dataset_time); b_u: the bin of the user's last known
 *                  interaction (when training, the one a held-out user's
 *                  K-shot support would end with, see dataset.h pair_tbin)
 *            w_i: item i's attribute vector (dataset.h attr_*: idf-weighted,
 *                  unit norm, over the platform's own attribute vocabulary)
 *            a_ut = sum_{j in the user's last L history items} w_jt / sqrt(count),
 *                  leaving out the target item when training
 *            e_ui = -sum_{j in h_u, j != i} P_ji / P_ii, times the dataset's
 *                  scale (dataset_ease): the score EASE (Steck 2019) fitted on
 *                  the platform's X gives, P = (X'X + lambda I)^-1, X the
 *                  binary matrix of each user's first K items (kcap: as
 *                  sparse as a held-out K-shot support), h_u the distinct
 *                  items of the user's last L history items: data, not
 *                  parameters, never sent. When training, the target is left
 *                  out of h_u and the user out of P (exactly, by
 *                  Sherman-Morrison), as a query item is never in the fit
 *            t_ui = T[l][i] / sum_j T[l][j], times the dataset's scale
 *                  (dataset_trans): how often item i came right after item
 *                  l among the first K items of the platform's users, l the
 *                  user's last history item. When training, l is the last
 *                  item a K-shot support would show before the target (the
 *                  item before its first position p in the user's history,
 *                  the K-th if p > K; none if p = 0: 0), as the time term's
 *                  reference, and the user's own transitions are left out of T
 *   The attribute term scores items like the ones the user took (same brand,
 *   same sub-category): a catalogue's attribute vocabulary is its own, but
 *   how much a shared attribute says, alpha, transfers. A held-out industry
 *   with K = 1 has no pair of its own to learn alpha from: only the
 *   meta-model can bring it. alpha starts at 0 (the term off until learned).
 *   It is added to the scores sparsely, through the items' attribute lists
 *   (a dense [alpha a_u] . [w_i] would cost n_attr, up to thousands, more
 *   coordinates in every full-ranking product): to the logits when
 *   training, by model_attr_scores at inference.
 *   The EASE term is the platform's own item-item regression, the best
 *   reference baseline once a user has a few items; what transfers is eta,
 *   how much to trust it beside the other terms. eta starts at 0. It is
 *   added to the scores like the attribute term (model_ease_scores).
 *   The transition term is what follows the user's last item: a K-shot
 *   support is a short sequence in time, and its last item says most about
 *   the next ones. Like eta, kappa (starts at 0) is how much to trust the
 *   platform's own counts; it is added like the EASE term
 *   (model_trans_scores).
 *   The time term is what was popular around the user's own time: on data that
 *   spans years, what a catalogue's users take drifts, and a user's support
 *   says when they are. tau, a shared filter over the lags, learns how fast
 *   popularity drifts and which way (queries come after the support); like
 *   gamma it transfers between industries whose catalogues do not overlap.
 *   The co-occurrence term is the rank-r part of "items bought by the same
 *   users", filtered by gamma: a per-eigenvalue-rank weight that meta-learning
 *   can transfer between industries whose catalogues do not overlap. r free
 *   weights, each tied to one rank of one catalogue's spectrum, transfer
 *   poorly (docs/BENCHMARKS.md, "What a fine-tune keeps"); spectral_basis
 *   makes gamma a smooth function of the log rank with a few coefficients.
 *
 * Shared parameters theta (one contiguous float buffer, the meta-model):
 *   E (H, D) hashed feature embeddings, W_i1 (Hd, D), b_i1 (Hd), W_i2 (D, Hd),
 *   b_i2 (D), W_u1 (Hd, 3D), b_u1 (Hd), W_u2 (D, Hd), b_u2 (D), and with
 *   pop_prior the popularity weight beta (1 float, starts at 1: the model starts
 *   from the popularity ranking and the towers learn what to add to it; in a
 *   new industry whose items share their features it is what orders them),
 *   with spectral the filter gamma (r floats, start at 1; with spectral_basis M
 *   its M coefficients "gamma_c", start 1, 0, ...), and with time_lags
 *   the lag filter tau (2J+1 floats, start at dataset_time_kernel0), with
 *   attr the attribute weight alpha (1 float, starts at 0), with ease and
 *   trans the weights eta and kappa (1 float each, start at 0).
 * Local parameters (never leave the rank): Q (n_items, D) item-ID and
 * P (n_users, D) user-ID embeddings of one platform.
 *
 * Loss: sampled softmax. A step takes B (user, positive item) pairs and N
 * negatives drawn uniformly from the platform's catalogue, shared by the
 * batch; each row is a softmax over [positive, N negatives] (a negative equal
 * to the row's positive is masked out). Sampled softmax rather than BPR
 * because it ranks against many negatives per example for the cost of one
 * gemm, which matches the full-ranking metrics we report. */
#ifndef FEDMETA_MODEL_H
#define FEDMETA_MODEL_H
#include <stddef.h>
#include <stdint.h>

#include "common/dataset.h"
#include "common/error.h"

typedef struct model_cfg {
  uint32_t dim;       /* D: embedding and output width */
  uint32_t hidden;    /* Hd: hidden width of both towers */
  uint32_t n_buckets; /* H: rows of the hashed feature table */
  uint32_t hist_len;  /* L: most recent history items pooled by the user encoder */
  uint32_t pop_prior; /* 1: score + beta log(1 + item count) (see above); 0: none */
  uint32_t spectral;  /* r: rank of the co-occurrence term (see above); 0: none.
                       * The dataset needs dataset_spectral(ds, r) first. */
  uint32_t time_lags; /* J: lags of the time term (see above); 0: none. The dataset
                       * needs dataset_time(ds, time_bin_s, J, ...) first. */
  uint32_t time_bin_s;/* width of a time bin, seconds (with time_lags) */
  uint32_t no_towers; /* 1: the score leaves out w_u . v_i and is the other terms alone
                       * (their filters beta, gamma, tau are what is learned; the
                       * towers' parameters stay in theta, untouched) */
  uint32_t attr;      /* 1: add the attribute term alpha sum_t a_ut w_it (see above); 0: none */
  uint32_t ease;      /* lambda of the EASE term eta e_ui (see above); 0: none. The dataset
                       * needs dataset_ease(ds, lambda, kcap) first. */
  uint32_t trans;     /* 1: add the transition term kappa t_ui (see above); 0: none. The
                       * dataset needs dataset_trans(ds, 1, kcap) first. */
  uint32_t spectral_basis; /* M: with spectral, gamma_k = sum_(j<M) c_j P_j(x_k), c the
                       * view "gamma_c" (M floats, start 1, 0, ...), P_j the Legendre
                       * polynomials, x_k = 2 ln(1+k) / ln(r) - 1 (the log rank in
                       * [-1, 1]): a smooth filter, the same function of the rank in
                       * every industry; 0: gamma is r free weights (view "gamma") */
  uint32_t user_ids;  /* 1: every user gets one more token, its global id across platforms
                       * (shard user_gid; dataset_user_id_tokens): the rows of E it hashes
                       * to are a hashed shared user table, trained by every platform the
                       * user is on (docs/ARCHITECTURE.md, "The shared user table"); 0: none */
} model_cfg_t;

#define MODEL_MAX_EASE_LAMBDA 1000000u
#define MODEL_MAX_SPEC_BASIS 16u

/* A named view into theta (llm.c style): offset and shape. */
typedef struct model_view {
  const char *name;
  size_t offset;
  uint32_t rows, cols;
} model_view_t;

enum { MODEL_E, MODEL_WI1, MODEL_BI1, MODEL_WI2, MODEL_BI2,
       MODEL_WU1, MODEL_BU1, MODEL_WU2, MODEL_BU2, MODEL_POP, MODEL_SPEC, MODEL_TIME,
       MODEL_ATTR, MODEL_EASE, MODEL_TRANS, MODEL_N_VIEWS };

/* Checks the settings (dims > 0, sizes that fit) with a message naming the value. */
int model_cfg_validate(const model_cfg_t *cfg, fm_err *err);
/* Number of floats in theta. */
size_t model_n_shared(const model_cfg_t *cfg);
/* Width of the scoring vectors of model_user_vectors / model_item_vectors:
 * D, + 1 with pop_prior (w_u gets beta, v_i gets s_i), + r with spectral
 * (w_u gets gamma_k a_uk, v_i gets lambda_k e_ik), + the dataset's time bins
 * T with time_lags (w_u gets tau_(b - b_u) in bin b, v_i gets c_i(b)), so that
 * a score is still one dot product and full ranking one sgemm. The attribute
 * term is not in them: model_attr_scores adds it. */
static inline uint32_t model_score_dim(const model_cfg_t *cfg, const dataset_t *ds) {
  return cfg->dim + (cfg->pop_prior ? 1 : 0) + cfg->spectral + (cfg->time_lags ? ds->time_T : 0);
}
/* The basis of spectral_basis: phi (r, m), phi[k m + j] = P_j(x_k) (see model_cfg_t). */
void model_gamma_basis(uint32_t r, uint32_t m, float *phi);
/* The co-occurrence filter gamma (cfg->spectral floats) of theta: the view, or
 * the basis times its coefficients. Returns 0, or -1 out of memory. */
int model_gamma(const model_cfg_t *cfg, const float *theta, float *gam);
/* The views of theta, in order; v must hold MODEL_N_VIEWS entries. */
void model_views(const model_cfg_t *cfg, model_view_t *v);
/* Deterministic initialisation from seed (stream RNG_INIT_SHARED). */
void model_shared_init(float *theta, const model_cfg_t *cfg, uint64_t seed);

typedef struct model_local {
  uint32_t n_users, n_items, dim;
  float *user_id; /* (n_users, D) P */
  float *item_id; /* (n_items, D) Q */
} model_local_t;

/* The inputs cfg's terms read, added to d (built by dataset_build from the
 * shard s): the spectrum, the time counts, EASE's P, the transitions (each
 * over the first kcap items of a user's history, 0 = all) and the attribute
 * vectors, each only when cfg has the term; and pop_loo (--pop-loo; with the
 * popularity prior it also turns the items' rank tokens off,
 * dataset_rank_tokens_off). The one
 * place a platform's dataset is fitted to a model, in training and in
 * `fedmeta eval` alike. Returns 0 or -1. */
int model_dataset_inputs(const model_cfg_t *cfg, dataset_t *d, const shard_t *s, uint32_t kcap,
                         int pop_loo, fm_err *err);

/* Allocates and initialises local parameters from (seed, RNG_INIT_LOCAL, platform). */
int model_local_init(model_local_t *l, const model_cfg_t *cfg, uint32_t n_users,
                     uint32_t n_items, uint64_t seed, uint32_t platform, fm_err *err);
void model_local_free(model_local_t *l);

/* Inference: user vectors w_u for users[0..n) (history = dataset hist, nothing
 * left out) into out (n, model_score_dim); item vectors v_i for every item into
 * out (n_items, model_score_dim). */
void model_user_vectors(const model_cfg_t *cfg, const float *theta, const model_local_t *l,
                        const dataset_t *ds, const uint32_t *users, uint32_t n, float *out);
void model_item_vectors(const model_cfg_t *cfg, const float *theta, const model_local_t *l,
                        const dataset_t *ds, float *out);
/* The attribute term (attr): S[r * ld + i] += alpha a_u . w_i for users[r],
 * r < n, and every item i (history as in model_user_vectors). Scores are
 * model_user_vectors . model_item_vectors + this. Nothing without attr. */
int model_attr_scores(const model_cfg_t *cfg, const float *theta, const dataset_t *ds,
                      const uint32_t *users, uint32_t n, float *S, size_t ld, fm_err *err);

/* The EASE term (ease): S[r * ld + i] += eta e_ui for users[r], r < n, and
 * every item i (history as in model_user_vectors). Nothing without ease. */
int model_ease_scores(const model_cfg_t *cfg, const float *theta, const dataset_t *ds,
                      const uint32_t *users, uint32_t n, float *S, size_t ld, fm_err *err);

/* The transition term (trans): S[r * ld + i] += kappa t_ui for users[r], r <
 * n, and every item i. Nothing without trans. */
int model_trans_scores(const model_cfg_t *cfg, const float *theta, const dataset_t *ds,
                       const uint32_t *users, uint32_t n, float *S, size_t ld, fm_err *err);

/* --- training ------------------------------------------------------------ */

enum { OPT_SGD = 0, OPT_ADAM = 1 };

typedef struct train_cfg {
  int opt;           /* OPT_SGD or OPT_ADAM (inner optimiser) */
  float lr;          /* learning rate for shared parameters */
  float lr_local;    /* learning rate for local ID embeddings */
  float l2;          /* L2 penalty on the embeddings touched by a step (0 = none) */
  float prox;        /* lambda of a prior centred on the start point: (lambda / 2) |theta - theta0|^2
                        on every shared parameter, theta0 set by trainer_set_prior (0 = none) */
  uint32_t batch;    /* B */
  uint32_t n_neg;    /* N */
  float beta1, beta2, adam_eps;
} train_cfg_t;

/* A trainer owns everything one platform's training step needs: the workspace,
 * gradient buffers and optimiser state (allocated once; a step allocates
 * nothing), and the sampler stream (seed, RNG_SAMPLE, platform) that persists
 * across rounds. It borrows cfg, ds and local, which must outlive it. */
typedef struct trainer trainer_t;

int trainer_init(trainer_t **t, const model_cfg_t *cfg, const train_cfg_t *tc,
                 const dataset_t *ds, model_local_t *local, uint64_t seed,
                 uint32_t platform, fm_err *err);
/* The same, using g, m and v (each model_n_shared floats, the caller's) instead
 * of its own: for trainers that never run at the same time and whose optimiser
 * state does not persist between rounds (a worker rank's platforms, reset every
 * round), so a rank holds these 3 d floats once instead of once per platform,
 * and they are never allocated and zeroed only to be freed. The caller
 * guarantees g is all zero (it is left all zero after every step, as a fresh
 * one is); m and v (Adam; may be NULL for SGD) are cleared by trainer_reset_opt
 * or known zero (trainer_reset_opt_local). */
int trainer_init_shared(trainer_t **t, const model_cfg_t *cfg, const train_cfg_t *tc,
                        const dataset_t *ds, model_local_t *local, uint64_t seed,
                        uint32_t platform, float *g, float *m, float *v, fm_err *err);
void trainer_free(trainer_t *t);
/* Restarts the sampler on the stream of (seed, platform, round), so a round's
 * batches do not depend on earlier rounds: a resumed run or a platform that
 * missed rounds samples exactly what an uninterrupted one does. */
void trainer_seed_round(trainer_t *t, uint64_t seed, uint32_t platform, uint32_t round);
/* The optimiser state (Adam moments of theta, P and Q, and the step count)
 * as one float array, for a platform's local checkpoint: trainer_opt_floats
 * floats; save copies out, load copies in. SGD has no state (0 floats). */
size_t trainer_opt_floats(const trainer_t *t);
void trainer_opt_save(const trainer_t *t, float *out);
void trainer_opt_load(trainer_t *t, const float *in);
/* Clears optimiser state (moments, step count) of shared and local parameters. */
void trainer_reset_opt(trainer_t *t);
/* The same except the Adam moments of theta, which the caller knows to be all
 * zero (a rank's shared m and v, whose touched rows it zeroed after the last
 * platform's round): the step count and the moments of P and Q. */
void trainer_reset_opt_local(trainer_t *t);
/* From now on every trainer_step adds the E rows it updated (rows of the
 * hashed-feature table, D floats at offset row * D of theta) to `rows`, the
 * caller's set for a table of model_cfg n_buckets rows (NULL: stop). A step
 * changes theta only in these rows and in the dense part after them
 * (trainer_n_emb on): a reptile delta is zero everywhere else. */
struct layer_rowset;
void trainer_track_rows(trainer_t *t, struct layer_rowset *rows);
/* n_buckets x dim: where the dense part of theta starts. */
size_t trainer_n_emb(const trainer_t *t);
/* One minibatch step: samples a batch, computes the loss and gradients and
 * updates theta (shared, in place) and the local embeddings. Returns the batch loss.
 * With lr_local = 0 the local embeddings stay as they are and their gradient
 * and optimiser state are not computed (their Adam moments stay zero). */
float trainer_step(trainer_t *t, float *theta);
/* Centres the prior of tc->prox on theta0 (model_n_shared floats, the caller's, which
 * must outlive the trainer; NULL: no prior). Each step first pulls every shared
 * parameter, theta -= lr * prox * (theta - theta0), then updates with the batch's
 * gradient taken before the pull: with SGD (and l2 = 0) exactly a step along the
 * gradient of loss + prior that trainer_grad returns; with Adam the prior stays out
 * of the moments, as AdamW's weight decay does. It is the fine-tune's iMAML-style
 * prior (Rajeswaran et al. 2019): with a long fine-tune on much data the start
 * point alone is forgotten, the prior is not. */
void trainer_set_prior(trainer_t *t, const float *theta0);
/* A step with B x C x (hidden + dim) multiply-adds (C distinct items among its
 * positives and negatives) at least `work` runs on two threads when OpenBLAS
 * is set to more than one (default 2^25); below, on one. The result is the
 * same either way, and for any OpenBLAS thread count. For tests and benchmarks. */
void model_set_parallel_threshold(uint64_t work);
/* FOMAML: samples a fresh batch, returns its loss and writes the gradient with
 * respect to theta (dense, model_n_shared floats) into grad without updating. */
float trainer_grad(trainer_t *t, const float *theta, float *grad);

/* --- exposed for the gradient checks ------------------------------------- */

/* Loss of an explicit batch: users/pos (B), neg (N). If grad_theta is not NULL
 * it receives d loss / d theta (dense, overwritten); if grad_user / grad_item
 * are not NULL they receive dense gradients of P and Q (n_users*D, n_items*D,
 * overwritten). Allocates its own workspace; for tests, not for the hot loop. */
float model_loss_grad(const model_cfg_t *cfg, const float *theta, const model_local_t *l,
                      const dataset_t *ds, const uint32_t *users, const uint32_t *pos,
                      uint32_t B, const uint32_t *neg, uint32_t N, float *grad_theta,
                      float *grad_user, float *grad_item);

/* The batch that the last trainer_step or trainer_grad sampled: users and pos
 * (B = tc->batch), neg (N = tc->n_neg). The arrays belong to the trainer and
 * are overwritten by the next step; for tests and diagnostics. */
void trainer_last_batch(const trainer_t *t, const uint32_t **users, const uint32_t **pos,
                        const uint32_t **neg);

#endif
