/* common/model.c: the two-tower recommender of model.h: parameter layout and
 * initialisation, inference (user and item vectors), the batch loss and its
 * gradient, and the trainer (sampler + sparse/dense optimiser steps).
 *
 * One batch, top to bottom (shapes with B users, N negatives, C distinct
 * items among the positives and negatives, S >= C distinct items whose
 * input x is needed):
 *   slots     every item of the batch gets one slot, so x_j is computed and
 *             back-propagated once per item: first the negatives (slots
 *             0..Cn), then the other positives (Cn..C), then the history items;
 *   X (S, D)  = bag(E, item tokens) + Q[item]
 *   Z (B, 3D) = [bag(E, user tokens) ; pool(X, history slots) ; P[user]]
 *   wu (B, D) = W_u2 relu(W_u1 Z + b_u1) + b_u2
 *   vi (C, D) = W_i2 relu(W_i1 X[0..C) + b_i1) + b_i2   (once per distinct item)
 *   loss      = sampled softmax over the C columns, each negative column
 *               counted as often as it was drawn (layer_ssmc_forward)
 * and the backward pass in reverse. The embedding gradients (E, P, Q) are
 * scattered into full-size buffers whose rows are zero except the ones
 * recorded in the touched-row sets, which the optimiser consumes and zeroes.
 *
 * Determinism: the same inputs and seed give bit-identical results. The loss
 * and gradient of a batch run their sgemm calls one-threaded whatever the
 * OpenBLAS thread count (a different count changes sgemm in the last bits,
 * see layers.h), so training does not depend on it; inference (user and item
 * vectors) uses the caller's setting. */
#include "common/model.h"
#include "common/spectral.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/layers.h"
#include "common/blas.h"
#include "common/optim.h"
#include "common/rng.h"

/* The sgemm calls of a batch's loss and gradient run one-threaded, whatever
 * OPENBLAS_NUM_THREADS says (blas_one_thread, common/blas.h): they are small
 * (a default step's largest is 128 x 447 x 32, some 20 calls a step) and
 * OpenBLAS's threads made a step slower, not faster (bench/inner_vs_torch.sh,
 * docs/BENCHMARKS.md). With a thread count above 1 the step runs its two
 * towers, two halves of its softmax rows and its two backward branches on two
 * threads of its own instead (fork2), each with the same operations in the
 * same order as one thread: a trained model is the same for any thread count. */

/* --- two-way fork-join: one helper thread per process, started on first use -- */

typedef void (*task_fn)(void *);
static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  task_fn fn;
  void *arg;
  unsigned long posted, done; /* tasks handed to the helper, tasks it finished */
  int ok;                     /* the helper runs */
} g_helper = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0};
static pthread_once_t g_helper_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_helper_busy = PTHREAD_MUTEX_INITIALIZER; /* one batch at a time */

static void *helper_main(void *unused) {
  (void)unused;
  pthread_mutex_lock(&g_helper.mu);
  for (;;) {
    while (g_helper.done == g_helper.posted) pthread_cond_wait(&g_helper.cv, &g_helper.mu);
    task_fn fn = g_helper.fn;
    void *arg = g_helper.arg;
    pthread_mutex_unlock(&g_helper.mu);
    fn(arg);
    pthread_mutex_lock(&g_helper.mu);
    g_helper.done = g_helper.posted;
    pthread_cond_broadcast(&g_helper.cv);
  }
  return NULL;
}

static void helper_start(void) {
  pthread_attr_t a;
  pthread_t t;
  if (pthread_attr_init(&a)) return;
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  g_helper.ok = pthread_create(&t, &a, helper_main, NULL) == 0;
  pthread_attr_destroy(&a);
}

/* 1 if this batch may hand tasks to the helper (then helper_release after);
 * 0 (run everything here) if it could not start or another batch has it. */
static int helper_claim(void) {
  pthread_once(&g_helper_once, helper_start);
  return g_helper.ok && pthread_mutex_trylock(&g_helper_busy) == 0;
}

static void helper_release(void) { pthread_mutex_unlock(&g_helper_busy); }

/* a(x) here and b(y) on the helper (par) or after a (not par): a and b write
 * disjoint memory, so the result is the same either way. Returns when both
 * are done. */
static void fork2(int par, task_fn a, void *x, task_fn b, void *y) {
  if (!par) {
    a(x);
    b(y);
    return;
  }
  pthread_mutex_lock(&g_helper.mu);
  g_helper.fn = b;
  g_helper.arg = y;
  g_helper.posted++;
  pthread_cond_broadcast(&g_helper.cv);
  pthread_mutex_unlock(&g_helper.mu);
  a(x);
  pthread_mutex_lock(&g_helper.mu);
  while (g_helper.done != g_helper.posted) pthread_cond_wait(&g_helper.cv, &g_helper.mu);
  pthread_mutex_unlock(&g_helper.mu);
}

/* Initial scale of the embedding tables E, P and Q. */
#define MODEL_EMB_STD 0.05
#ifndef MODEL_LOCAL_STD
#define MODEL_LOCAL_STD 0.0
#endif
/* Rows per block in the inference functions. */
#define MODEL_INFER_CHUNK 256u
/* Limits that keep every size an int for cblas and catch unit mistakes. */
#define MODEL_MAX_DIM 4096u
#define MODEL_MAX_HIDDEN 65536u
#define MODEL_MAX_BUCKETS (1u << 26)
#define MODEL_MAX_HIST 4096u
#define MODEL_MAX_BATCH (1u << 20)

/* Batches with B x C x (Hd + D) below this run on one thread even when two
 * are allowed: measured on 2 cores (bench/inner_bench, OPENBLAS_NUM_THREADS=2),
 * two threads lost ~5% at the default settings (5.5 M), broke even around
 * 2^24 and won 10-50% from 2^25 (+30% at 44 M, +50% at 287 M). */
#define MODEL_PAR_MIN_WORK (1ull << 25)
static _Atomic uint64_t g_par_min_work = MODEL_PAR_MIN_WORK;

void model_set_parallel_threshold(uint64_t work) { g_par_min_work = work; }

#define NO_ITEM UINT32_MAX
#define NO_SLOT UINT32_MAX

/* --- parameters ------------------------------------------------------------- */

int model_cfg_validate(const model_cfg_t *cfg, fm_err *err) {
  if (cfg->dim == 0 || cfg->dim > MODEL_MAX_DIM)
    return fm_fail(err, "model dim = %u: expected 1..%u", cfg->dim, MODEL_MAX_DIM);
  if (cfg->hidden == 0 || cfg->hidden > MODEL_MAX_HIDDEN)
    return fm_fail(err, "model hidden = %u: expected 1..%u", cfg->hidden, MODEL_MAX_HIDDEN);
  if (cfg->n_buckets == 0 || cfg->n_buckets > MODEL_MAX_BUCKETS)
    return fm_fail(err, "model n_buckets = %u: expected 1..%u", cfg->n_buckets,
                   MODEL_MAX_BUCKETS);
  if (cfg->pop_prior > 1) return fm_fail(err, "model pop_prior = %u: expected 0 or 1", cfg->pop_prior);
  if (cfg->hist_len > MODEL_MAX_HIST)
    return fm_fail(err, "model hist_len = %u: expected 0..%u", cfg->hist_len, MODEL_MAX_HIST);
  if (cfg->spectral > SPECTRAL_MAX_RANK)
    return fm_fail(err, "model spectral = %u: expected 0..%u", cfg->spectral, SPECTRAL_MAX_RANK);
  if (cfg->spectral_basis > MODEL_MAX_SPEC_BASIS)
    return fm_fail(err, "model spectral_basis = %u: expected 0..%u", cfg->spectral_basis, MODEL_MAX_SPEC_BASIS);
  if (cfg->spectral_basis > cfg->spectral)
    return fm_fail(err, "model spectral_basis = %u with spectral %u: the filter's coefficients "
                   "need a co-occurrence term of at least that rank", cfg->spectral_basis, cfg->spectral);
  if (cfg->time_lags > DATASET_TIME_MAX_LAGS)
    return fm_fail(err, "model time_lags = %u: expected 0..%u", cfg->time_lags, DATASET_TIME_MAX_LAGS);
  if (cfg->no_towers > 1) return fm_fail(err, "model no_towers = %u: expected 0 or 1", cfg->no_towers);
  if (cfg->attr > 1) return fm_fail(err, "model attr = %u: expected 0 or 1", cfg->attr);
  if (cfg->ease > MODEL_MAX_EASE_LAMBDA)
    return fm_fail(err, "model ease = %u: expected 0 (none) or a lambda 1..%u", cfg->ease,
                   MODEL_MAX_EASE_LAMBDA);
  if (cfg->trans > 1) return fm_fail(err, "model trans = %u: expected 0 or 1", cfg->trans);
  if (cfg->user_ids > 1) return fm_fail(err, "model user_ids = %u: expected 0 or 1", cfg->user_ids);
  if (cfg->user_ids && cfg->no_towers)
    return fm_fail(err, "model user_ids with no_towers: the users' global-id tokens are read by the "
                   "user tower only; turn the towers on");
  if (cfg->no_towers && !cfg->pop_prior && !cfg->spectral && !cfg->time_lags && !cfg->attr &&
      !cfg->ease && !cfg->trans)
    return fm_fail(err, "a model without towers needs another term to score with (pop_prior, "
                   "spectral, time_lags, attr, ease or trans)");
  if (cfg->time_lags && cfg->time_bin_s == 0)
    return fm_fail(err, "model time_bin_s = 0 with time_lags %u: expected a bin width > 0", cfg->time_lags);
  /* theta is passed to cblas (saxpy, nrm2) as one vector: its length must be an int. */
  size_t n = model_n_shared(cfg);
  if (n > (size_t)INT_MAX)
    return fm_fail(err, "model has %zu shared parameters (n_buckets %u x dim %u ...): at most "
                   "%d; lower n_buckets or dim", n, cfg->n_buckets, cfg->dim, INT_MAX);
  return 0;
}

void model_views(const model_cfg_t *cfg, model_view_t *v) {
  const uint32_t D = cfg->dim, Hd = cfg->hidden;
  const model_view_t shape[MODEL_N_VIEWS] = {
      [MODEL_E] = {"E", 0, cfg->n_buckets, D},
      [MODEL_WI1] = {"W_i1", 0, Hd, D},
      [MODEL_BI1] = {"b_i1", 0, 1, Hd},
      [MODEL_WI2] = {"W_i2", 0, D, Hd},
      [MODEL_BI2] = {"b_i2", 0, 1, D},
      [MODEL_WU1] = {"W_u1", 0, Hd, 3 * D},
      [MODEL_BU1] = {"b_u1", 0, 1, Hd},
      [MODEL_WU2] = {"W_u2", 0, D, Hd},
      [MODEL_BU2] = {"b_u2", 0, 1, D},
      [MODEL_POP] = {"beta", 0, cfg->pop_prior ? 1 : 0, 1},
      [MODEL_SPEC] = cfg->spectral_basis ? (model_view_t){"gamma_c", 0, cfg->spectral_basis, 1}
                                         : (model_view_t){"gamma", 0, cfg->spectral, 1},
      [MODEL_TIME] = {"tau", 0, cfg->time_lags ? 2 * cfg->time_lags + 1 : 0, 1},
      [MODEL_ATTR] = {"alpha", 0, cfg->attr ? 1 : 0, 1},
      [MODEL_EASE] = {"eta", 0, cfg->ease ? 1 : 0, 1},
      [MODEL_TRANS] = {"kappa", 0, cfg->trans ? 1 : 0, 1},
  };
  size_t off = 0;
  for (int k = 0; k < MODEL_N_VIEWS; k++) {
    v[k] = shape[k];
    v[k].offset = off;
    off += (size_t)v[k].rows * v[k].cols;
  }
}

size_t model_n_shared(const model_cfg_t *cfg) {
  model_view_t v[MODEL_N_VIEWS];
  model_views(cfg, v);
  return v[MODEL_N_VIEWS - 1].offset + (size_t)v[MODEL_N_VIEWS - 1].rows * v[MODEL_N_VIEWS - 1].cols;
}

void model_gamma_basis(uint32_t r, uint32_t m, float *phi) {
  for (uint32_t k = 0; k < r; k++) {
    const double x = r > 1 ? 2.0 * log1p((double)k) / log((double)r) - 1.0 : 0.0;
    double p0 = 1.0, p1 = x; /* Legendre: (n+1) P_(n+1) = (2n+1) x P_n - n P_(n-1) */
    for (uint32_t j = 0; j < m; j++) {
      phi[(size_t)k * m + j] = (float)(j == 0 ? 1.0 : p1);
      if (j >= 1) {
        const double p2 = ((2.0 * j + 1.0) * x * p1 - j * p0) / (j + 1.0);
        p0 = p1, p1 = p2;
      }
    }
  }
}

/* gamma (r) from its view: the view itself, or with a basis Phi c in a fixed
 * order (the same floats in training, inference and inspect). */
static void gamma_from(uint32_t r, uint32_t m, const float *phi, const float *view, float *gam) {
  if (!m) {
    memcpy(gam, view, r * sizeof *gam);
    return;
  }
  for (uint32_t k = 0; k < r; k++) {
    double g = 0;
    for (uint32_t j = 0; j < m; j++) g += (double)phi[(size_t)k * m + j] * view[j];
    gam[k] = (float)g;
  }
}

int model_gamma(const model_cfg_t *cfg, const float *theta, float *gam) {
  const uint32_t r = cfg->spectral, m = cfg->spectral_basis;
  if (!r) return 0;
  model_view_t v[MODEL_N_VIEWS];
  model_views(cfg, v);
  float *phi = m ? malloc((size_t)r * m * sizeof *phi) : NULL;
  if (m && !phi) return -1;
  if (m) model_gamma_basis(r, m, phi);
  gamma_from(r, m, phi, theta + v[MODEL_SPEC].offset, gam);
  free(phi);
  return 0;
}

static void fill_normal(float *x, size_t n, double std, rng_t *r) {
  for (size_t i = 0; i < n; i++) x[i] = (float)(std * rng_normal(r));
}

void model_shared_init(float *theta, const model_cfg_t *cfg, uint64_t seed) {
  model_view_t v[MODEL_N_VIEWS];
  model_views(cfg, v);
  rng_t r;
  rng_seed(&r, seed, RNG_INIT_SHARED, 0);
  /* First layers feed a relu: He, N(0, 2/fan_in). Output layers are linear:
   * N(0, 1/fan_in). Biases start at zero. Drawn view by view, in order. */
  for (int k = 0; k < MODEL_N_VIEWS; k++) {
    float *p = theta + v[k].offset;
    size_t n = (size_t)v[k].rows * v[k].cols;
    double fan_in = v[k].cols;
    switch (k) {
      case MODEL_E: fill_normal(p, n, MODEL_EMB_STD, &r); break;
      case MODEL_WI1:
      case MODEL_WU1: fill_normal(p, n, sqrt(2.0 / fan_in), &r); break;
      case MODEL_WI2:
      case MODEL_WU2: fill_normal(p, n, sqrt(1.0 / fan_in), &r); break;
      case MODEL_POP: if (n) p[0] = 1.0f; break; /* start from the popularity ranking */
      case MODEL_SPEC: /* the rank-r co-occurrence: gamma_k = 1 (with a basis, P_0 = 1) */
        for (size_t q = 0; q < n; q++) p[q] = cfg->spectral_basis && q ? 0.0f : 1.0f;
        break;
      case MODEL_TIME: /* a kernel around the user's time */
        for (size_t q = 0; q < n; q++)
          p[q] = dataset_time_kernel0((int32_t)q - (int32_t)cfg->time_lags, cfg->time_lags);
        break;
      default: memset(p, 0, n * sizeof *p); break;
    }
  }
}

int model_dataset_inputs(const model_cfg_t *cfg, dataset_t *d, const shard_t *s, uint32_t kcap,
                         int pop_loo, fm_err *err) {
  d->pop_loo = pop_loo != 0;
  /* the towers' popularity rank would keep the leak; without the prior it is
   * the model's only popularity input, and stays */
  if (pop_loo && cfg->pop_prior) dataset_rank_tokens_off(d);
  if (cfg->spectral && dataset_spectral(d, cfg->spectral, kcap, err)) return -1;
  if (cfg->time_lags && dataset_time(d, cfg->time_bin_s, cfg->time_lags, kcap, err)) return -1;
  if (cfg->ease && dataset_ease(d, cfg->ease, kcap, err)) return -1;
  if (cfg->trans && dataset_trans(d, 1, kcap, err)) return -1;
  if (cfg->attr && dataset_attr(d, s, err)) return -1;
  if (cfg->user_ids && dataset_user_id_tokens(d, s, err)) return -1;
  return 0;
}

int model_local_init(model_local_t *l, const model_cfg_t *cfg, uint32_t n_users,
                     uint32_t n_items, uint64_t seed, uint32_t platform, fm_err *err) {
  memset(l, 0, sizeof *l);
  const size_t D = cfg->dim;
  l->user_id = malloc(((size_t)n_users * D + 1) * sizeof *l->user_id);
  l->item_id = malloc(((size_t)n_items * D + 1) * sizeof *l->item_id);
  if (!l->user_id || !l->item_id) {
    model_local_free(l);
    return fm_fail(err, "out of memory for the ID embeddings of platform %u (%u users, %u "
                   "items, dim %u)", platform, n_users, n_items, cfg->dim);
  }
  l->n_users = n_users;
  l->n_items = n_items;
  l->dim = cfg->dim;
  rng_t r;
  rng_seed(&r, seed, RNG_INIT_LOCAL, platform);
  fill_normal(l->user_id, (size_t)n_users * D, MODEL_LOCAL_STD, &r);
  fill_normal(l->item_id, (size_t)n_items * D, MODEL_LOCAL_STD, &r);
  return 0;
}

void model_local_free(model_local_t *l) {
  if (!l) return;
  free(l->user_id);
  free(l->item_id);
  memset(l, 0, sizeof *l);
}

/* Pointers into theta (or into a gradient laid out like theta), llm.c style. */
typedef struct params {
  float *E;   /* (H, D) */
  float *wi1; /* (Hd, D) */
  float *bi1; /* (Hd) */
  float *wi2; /* (D, Hd) */
  float *bi2; /* (D) */
  float *wu1; /* (Hd, 3D) */
  float *bu1; /* (Hd) */
  float *wu2; /* (D, Hd) */
  float *bu2; /* (D) */
  float *pop; /* (1) beta, or NULL without pop_prior */
  float *gam; /* (r) gamma, or NULL without spectral */
  float *tau; /* (2J+1) tau, or NULL without time_lags */
  float *alpha; /* (1) alpha, or NULL without attr */
  float *eta;   /* (1) eta, or NULL without ease */
  float *kappa; /* (1) kappa, or NULL without trans */
} params_t;

/* Read-only use of theta goes through the same struct; nothing writes through
 * a params_t built from a const theta. */
static params_t params_of(const model_cfg_t *cfg, const float *theta) {
  model_view_t v[MODEL_N_VIEWS];
  model_views(cfg, v);
  float *t = (float *)theta;
  return (params_t){t + v[MODEL_E].offset,   t + v[MODEL_WI1].offset, t + v[MODEL_BI1].offset,
                    t + v[MODEL_WI2].offset, t + v[MODEL_BI2].offset, t + v[MODEL_WU1].offset,
                    t + v[MODEL_BU1].offset, t + v[MODEL_WU2].offset, t + v[MODEL_BU2].offset,
                    cfg->pop_prior ? t + v[MODEL_POP].offset : NULL,
                    cfg->spectral ? t + v[MODEL_SPEC].offset : NULL,
                    cfg->time_lags ? t + v[MODEL_TIME].offset : NULL,
                    cfg->attr ? t + v[MODEL_ATTR].offset : NULL,
                    cfg->ease ? t + v[MODEL_EASE].offset : NULL,
                    cfg->trans ? t + v[MODEL_TRANS].offset : NULL};
}

/* --- batch workspace ------------------------------------------------------------ */

typedef struct ws {
  uint32_t D, Hd, H, L;
  uint32_t bmax, nmax, smax;
  uint32_t n_slots;
  uint32_t *slot_of;   /* (n_items) slot of an item, NO_SLOT if none */
  uint32_t *slot_item; /* (smax) item of each slot */
  uint32_t *hslot;     /* (bmax, L) slots of each user's pooled history */
  uint32_t *hcnt;      /* (bmax) history length used */
  uint32_t *cpos;      /* (bmax) slot (= column) of each row's positive */
  float *cnt;          /* (nmax) times each negative column was drawn */
  float *X;            /* (smax, D) item inputs x */
  float *Z;            /* (bmax, 3D) user tower input */
  float *hu;           /* (bmax, Hd) user hidden, after relu */
  float *wu;           /* (bmax, D) user vectors */
  float *hi;           /* (C, Hd) item hidden, after relu; C <= bmax + nmax */
  float *vi;           /* (C, D) item vectors of the distinct positives and negatives */
  float *ppos;         /* (bmax) */
  float *P;            /* (bmax, C) column probabilities, then d loss / d logits */
  /* gradients, same shapes; NULL in a forward-only workspace */
  float *dX, *dZ, *dhu, *dwu, *dhi, *dvi;
  /* With pop_prior, spectral and/or time_lags the scoring vectors have
   * Ds = D + 1 + R + T coordinates, [w_u ; beta ; gamma_k a_uk ; tau_(b-b_u)]
   * (bmax, Ds) and [v_i ; s_i ; lambda_k e_ik ; c_i(b)] (C, Ds), and their
   * gradients; else NULL. When training, the last R + T (a fold block) come
   * once per fold: width Dt. */
  uint32_t R, T, J;    /* spectral rank; time bins and lags (T = 0 without the term) */
  uint32_t NT;         /* no_towers: w_u . v_i is left out (wu, vi stay zero) */
  uint32_t Ds, Dt;     /* scoring width at inference (model_score_dim) and training */
  float *wuA, *viA, *dwuA, *dviA;
  float *au;           /* (bmax, R) the users' pooled eigenvector entries a_u */
  double *gg;          /* (R) gamma's gradient of a step */
  uint32_t M;          /* spectral_basis: gamma = phi c (0: the view is gamma) */
  float *phi;          /* (R, M) the basis, model_gamma_basis */
  float *gam;          /* (R) gamma of theta (ws_gamma, before user_scoring) */
  uint32_t *ub;        /* (bmax) each row's reference time bin b_u, DATASET_NO_BIN if none */
  double *gt;          /* (2J+1) tau's gradient of a step */
  /* With attr: A = the dataset's n_attr; the term is added to the logits,
   * sparse over the items' attributes (not a part of the scoring vectors). */
  uint32_t A;
  float *ad;           /* (A) a dense a_u, zero between uses */
  float *aa;           /* (bmax, C) w_i . a_u of every row and column */
  /* With ease: the term's scores e_ui (bmax, C) of every row and column
   * (training: with the row's user left out of P, see ws_ease_train), and
   * the rows' X items (ymax of them at most). */
  uint32_t EZ, ymax;
  float *ee;
  uint32_t *ey, *eh;   /* (ymax) a row's X items, (L) its history, as rows of P */
  /* With trans: the term's scores t_ui (bmax, C) of every row and column
   * (training: the user's own transitions left out, see ws_trans_train) and
   * a dense row of T (n_items, zero between uses). */
  uint32_t TZ;
  float *tt, *td;
  /* With pop_prior and the dataset's pop_loo: the change of each row's
   * popularity input when its own user's interactions leave the counts,
   * log(1 + c_i - n_ui) - log(1 + c_i), (bmax, C), non-zero only at the
   * user's own items. */
  uint32_t PL;
  float *pc;
} ws_t;

static void *alloc_n(size_t n, size_t size) { return malloc((n ? n : 1) * size); }

static void ws_free(ws_t *w) {
  if (!w) return;
  free(w->slot_of); free(w->slot_item); free(w->hslot); free(w->hcnt); free(w->cpos);
  free(w->cnt);
  free(w->X); free(w->Z); free(w->hu); free(w->wu); free(w->hi); free(w->vi);
  free(w->ppos); free(w->P);
  free(w->dX); free(w->dZ); free(w->dhu); free(w->dwu); free(w->dhi); free(w->dvi);
  free(w->wuA); free(w->viA); free(w->dwuA); free(w->dviA); free(w->au); free(w->gg);
  free(w->phi); free(w->gam);
  free(w->ub); free(w->gt); free(w->ad); free(w->aa);
  free(w->ee); free(w->ey); free(w->eh);
  free(w->tt); free(w->td);
  free(w->pc);
  memset(w, 0, sizeof *w);
}

static int ws_init(ws_t *w, const model_cfg_t *cfg, const dataset_t *ds, uint32_t bmax,
                   uint32_t nmax, int with_grad, fm_err *err) {
  memset(w, 0, sizeof *w);
  const uint32_t n_items = ds->n_items;
  w->D = cfg->dim; w->Hd = cfg->hidden; w->H = cfg->n_buckets; w->L = cfg->hist_len;
  w->bmax = bmax; w->nmax = nmax;
  size_t s = (size_t)bmax * w->L + bmax + nmax;
  w->smax = (uint32_t)(s < n_items ? s : n_items);
  const size_t D = w->D, Hd = w->Hd, R = (size_t)bmax + nmax;
  w->slot_of = alloc_n(n_items, sizeof *w->slot_of);
  w->slot_item = alloc_n(w->smax, sizeof *w->slot_item);
  w->hslot = alloc_n((size_t)bmax * w->L, sizeof *w->hslot);
  w->hcnt = alloc_n(bmax, sizeof *w->hcnt);
  /* C distinct positives and negatives: at most R = bmax + nmax, at most n_items */
  const size_t C = R < n_items ? R : n_items;
  w->cpos = alloc_n(bmax, sizeof *w->cpos);
  w->cnt = alloc_n(nmax < n_items ? nmax : n_items, sizeof *w->cnt);
  w->X = alloc_n(w->smax * D, sizeof(float));
  w->Z = alloc_n(bmax * 3 * D, sizeof(float));
  w->hu = alloc_n(bmax * Hd, sizeof(float));
  w->wu = alloc_n(bmax * D, sizeof(float));
  w->hi = alloc_n(C * Hd, sizeof(float));
  w->vi = alloc_n(C * D, sizeof(float));
  w->ppos = alloc_n(bmax, sizeof(float));
  w->P = alloc_n((size_t)bmax * C, sizeof(float));
  int ok = w->slot_of && w->slot_item && w->hslot && w->hcnt && w->cpos && w->cnt && w->X &&
           w->Z && w->hu && w->wu && w->hi && w->vi && w->ppos && w->P;
  if (with_grad) {
    w->dX = alloc_n(w->smax * D, sizeof(float));
    w->dZ = alloc_n(bmax * 3 * D, sizeof(float));
    w->dhu = alloc_n(bmax * Hd, sizeof(float));
    w->dwu = alloc_n(bmax * D, sizeof(float));
    w->dhi = alloc_n(C * Hd, sizeof(float));
    w->dvi = alloc_n(C * D, sizeof(float));
    ok = ok && w->dX && w->dZ && w->dhu && w->dwu && w->dhi && w->dvi;
  }
  w->R = cfg->spectral;
  w->NT = cfg->no_towers;
  w->J = cfg->time_lags;
  w->T = w->J ? ds->time_T : 0;
  w->A = cfg->attr ? ds->n_attr : 0;
  w->Ds = model_score_dim(cfg, ds);
  w->Dt = w->Ds + (DATASET_SPEC_FOLDS - 1) * (w->R + w->T);
  if (w->A) {
    w->ad = calloc(w->A, sizeof(float));
    w->aa = alloc_n((size_t)bmax * C, sizeof(float));
    ok = ok && w->ad && w->aa;
  }
  w->EZ = cfg->ease ? 1 : 0;
  if (w->EZ) {
    w->ymax = ds->ease_ymax;
    w->ee = alloc_n((size_t)bmax * C, sizeof(float));
    w->ey = alloc_n(w->ymax, sizeof(uint32_t)); /* a user's X items */
    w->eh = alloc_n(w->L, sizeof(uint32_t));
    ok = ok && w->ee && w->ey && w->eh;
  }
  w->TZ = cfg->trans ? 1 : 0;
  if (w->TZ) {
    w->tt = alloc_n((size_t)bmax * C, sizeof(float));
    w->td = calloc((size_t)n_items + 1, sizeof(float));
    ok = ok && w->tt && w->td;
  }
  w->PL = cfg->pop_prior && ds->pop_loo && nmax > 0; /* training rows only */
  if (w->PL) {
    w->pc = alloc_n((size_t)bmax * C, sizeof(float));
    ok = ok && w->pc;
  }
  if (w->Ds > D) {
    const size_t Ds = w->Dt;
    w->wuA = alloc_n((size_t)bmax * Ds, sizeof(float));
    w->viA = alloc_n(C * Ds, sizeof(float));
    w->au = alloc_n((size_t)bmax * w->R, sizeof(float));
    w->gg = alloc_n(w->R, sizeof(double));
    w->M = cfg->spectral_basis;
    w->gam = alloc_n(w->R, sizeof(float));
    w->phi = alloc_n((size_t)w->R * w->M, sizeof(float));
    ok = ok && w->gam && w->phi;
    if (w->phi) model_gamma_basis(w->R, w->M, w->phi);
    w->ub = alloc_n(bmax, sizeof(uint32_t));
    w->gt = alloc_n(w->J ? 2 * (size_t)w->J + 1 : 0, sizeof(double));
    ok = ok && w->wuA && w->viA && w->au && w->gg && w->ub && w->gt;
    if (with_grad) {
      w->dwuA = alloc_n((size_t)bmax * Ds, sizeof(float));
      w->dviA = alloc_n(C * Ds, sizeof(float));
      ok = ok && w->dwuA && w->dviA;
    }
  }
  if (!ok) {
    ws_free(w);
    return fm_fail(err, "out of memory for a batch workspace (batch %u, negatives %u, dim %zu, "
                   "hidden %zu)", bmax, nmax, D, Hd);
  }
  for (uint32_t i = 0; i < n_items; i++) w->slot_of[i] = NO_SLOT;
  return 0;
}

static void ws_slots_reset(ws_t *w) {
  for (uint32_t s = 0; s < w->n_slots; s++) w->slot_of[w->slot_item[s]] = NO_SLOT;
  w->n_slots = 0;
}

static inline uint32_t ws_slot(ws_t *w, uint32_t item) {
  uint32_t s = w->slot_of[item];
  if (s == NO_SLOT) {
    s = w->n_slots++;
    w->slot_of[item] = s;
    w->slot_item[s] = item;
  }
  return s;
}

/* The user's last L history items, most recent first, skipping every
 * occurrence of target (NO_ITEM at inference). Returns how many. */
static uint32_t hist_collect(const dataset_t *ds, uint32_t u, uint32_t target, uint32_t L,
                             uint32_t *items) {
  uint32_t a = ds->hist_ptr[u], c = 0;
  for (uint32_t k = ds->hist_ptr[u + 1]; k > a && c < L; k--) {
    uint32_t it = ds->hist[k - 1];
    if (it != target) items[c++] = it;
  }
  return c;
}

/* Registers the history slots of users[0..B); targets (B) or NULL. */
static void ws_register_users(ws_t *w, const dataset_t *ds, const uint32_t *users,
                              const uint32_t *targets, uint32_t B) {
  for (uint32_t b = 0; b < B; b++) {
    uint32_t *hs = w->hslot + (size_t)b * w->L;
    uint32_t c = hist_collect(ds, users[b], targets ? targets[b] : NO_ITEM, w->L, hs);
    for (uint32_t k = 0; k < c; k++) hs[k] = ws_slot(w, hs[k]);
    w->hcnt[b] = c;
  }
}

/* X (S, D) = bag(E, item tokens) + Q for every registered slot. */
static void ws_items_x(ws_t *w, const params_t *p, const model_local_t *l,
                       const dataset_t *ds) {
  const uint32_t D = w->D, S = w->n_slots;
  memset(w->X, 0, (size_t)S * D * sizeof(float));
  layer_bag_forward(w->X, D, p->E, w->H, D, ds->itok_ptr, ds->itok, w->slot_item, S);
  layer_gather_forward(w->X, D, l->item_id, D, w->slot_item, S);
}

/* wu (B, D) from Z = [f ; g ; P]; needs ws_items_x done. */
static void ws_user_forward(ws_t *w, const params_t *p, const model_local_t *l,
                            const dataset_t *ds, const uint32_t *users, uint32_t B) {
  const uint32_t D = w->D, Hd = w->Hd;
  float *Z = w->Z;
  memset(Z, 0, (size_t)B * 3 * D * sizeof(float));
  layer_bag_forward(Z, 3 * (size_t)D, p->E, w->H, D, ds->utok_ptr, ds->utok, users, B);
  layer_pool_forward(Z + D, 3 * (size_t)D, w->X, D, w->hslot, w->hcnt, B, w->L);
  layer_gather_forward(Z + 2 * D, 3 * (size_t)D, l->user_id, D, users, B);
  layer_linear_forward(w->hu, Z, p->wu1, p->bu1, (int)B, 3 * (int)D, (int)Hd);
  layer_relu_forward(w->hu, w->hu, (size_t)B * Hd);
  layer_linear_forward(w->wu, w->hu, p->wu2, p->bu2, (int)B, (int)Hd, (int)D);
}

/* vi (C, D) for the items of slots 0..C; needs ws_items_x. */
static void ws_item_forward(ws_t *w, const params_t *p, uint32_t C) {
  const uint32_t D = w->D, Hd = w->Hd;
  layer_linear_forward(w->hi, w->X, p->wi1, p->bi1, (int)C, (int)D, (int)Hd);
  layer_relu_forward(w->hi, w->hi, (size_t)C * Hd);
  layer_linear_forward(w->vi, w->hi, p->wi2, p->bi2, (int)C, (int)Hd, (int)D);
}

/* s_i: the popularity prior's input for item i (its TRAIN count). */
static inline float pop_input(const dataset_t *ds, uint32_t item) { return log1pf(ds->item_pop[item]); }

/* The spectrum a user's scores use: when training, the one of the user's
 * fold's complement (the user's own interactions did not shape it); at
 * inference, the one of all users. */
static inline const float *spec_vec_of(const dataset_t *ds, uint32_t user, int train, uint32_t R) {
  return train ? ds->spec_fvec + (size_t)(user % DATASET_SPEC_FOLDS) * ds->n_items * R : ds->spec_vec;
}

/* a_u (B, R) of users[0..B), whose history slots ws_register_users set. */
static void ws_user_spec(ws_t *w, const dataset_t *ds, const uint32_t *users, uint32_t B, int train) {
  const uint32_t R = w->R;
  for (uint32_t b = 0; b < B; b++) {
    float *a = w->au + (size_t)b * R;
    const float *vec = spec_vec_of(ds, users[b], train, R);
    double acc[SPECTRAL_MAX_RANK];
    memset(acc, 0, R * sizeof *acc);
    const uint32_t *hs = w->hslot + (size_t)b * w->L, c = w->hcnt[b];
    for (uint32_t k = 0; k < c; k++) {
      const float *e = vec + (size_t)w->slot_item[hs[k]] * R;
      for (uint32_t q = 0; q < R; q++) acc[q] += e[q];
    }
    double sc = c ? 1.0 / sqrt((double)c) : 0.0;
    for (uint32_t q = 0; q < R; q++) a[q] = (float)(acc[q] * sc);
  }
}

/* b_u of users[0..B): when training (targets not NULL) the reference bin of
 * the example (user, target), see dataset.h pair_tbin (none if the target is
 * not one of the user's training pairs); at inference the bin of the user's
 * last known interaction. */
static void ws_user_time(ws_t *w, const dataset_t *ds, const uint32_t *users,
                         const uint32_t *targets, uint32_t B) {
  for (uint32_t b = 0; b < B; b++) {
    const uint32_t u = users[b];
    if (!targets) {
      w->ub[b] = ds->user_tbin[u];
      continue;
    }
    w->ub[b] = DATASET_NO_BIN; /* the example's first occurrence among the user's pairs */
    for (uint32_t k = ds->pair_ptr[u]; k < ds->pair_ptr[u + 1]; k++)
      if (ds->pair_item[k] == targets[b]) {
        w->ub[b] = ds->pair_tbin[k];
        break;
      }
  }
}

/* w->ad += a_u of row b (its history slots, see model.h), or back to zero. */
static void attr_fill(ws_t *w, const dataset_t *ds, uint32_t b, int clear) {
  const uint32_t *hs = w->hslot + (size_t)b * w->L, c = w->hcnt[b];
  const float sc = c ? 1.0f / sqrtf((float)c) : 0.0f;
  for (uint32_t k = 0; k < c; k++) {
    const uint32_t it = w->slot_item[hs[k]];
    for (uint32_t q = ds->attr_ptr[it]; q < ds->attr_ptr[it + 1]; q++)
      w->ad[ds->attr_id[q]] = clear ? 0.0f : w->ad[ds->attr_id[q]] + sc * ds->attr_w[q];
  }
}

static inline float attr_dot(const ws_t *w, const dataset_t *ds, uint32_t it) {
  float s = 0.0f;
  for (uint32_t q = ds->attr_ptr[it]; q < ds->attr_ptr[it + 1]; q++)
    s += w->ad[ds->attr_id[q]] * ds->attr_w[q];
  return s;
}

/* Training: aa (B, C) = w_i . a_u of every row and column (slots 0..C). */
static void ws_attr_train(ws_t *w, const dataset_t *ds, uint32_t B, uint32_t C) {
  for (uint32_t b = 0; b < B; b++) {
    attr_fill(w, ds, b, 0);
    float *r = w->aa + (size_t)b * C;
    for (uint32_t j = 0; j < C; j++) r[j] = attr_dot(w, ds, w->slot_item[j]);
    attr_fill(w, ds, b, 1);
  }
}

/* The EASE term (model.h) of row b against the columns: with y the user's
 * X items (the first kcap of its hist, the user's share of X^T X), q = P y
 * and c = y' q, Sherman-Morrison gives the inverse without the user,
 * P_-u = P + q q' / (1 - c), and e_ui = -sum_{j in h, j != i} P_-u[j,i] /
 * P_-u[i,i]: what EASE fitted on every other user scores. Items outside X
 * score 0 and add nothing. Sums in double. */
static inline int slot_in(const uint32_t *a, uint32_t n, uint32_t x) {
  for (uint32_t k = 0; k < n; k++)
    if (a[k] == x) return 1;
  return 0;
}

static void ws_ease_train(ws_t *w, const dataset_t *ds, const uint32_t *users, uint32_t B,
                          uint32_t C) {
  const size_t m = ds->ease_m;
  const float *P = ds->ease_P;
  const double sc = ds->ease_scale;
  for (uint32_t b = 0; b < B; b++) {
    float *r = w->ee + (size_t)b * C;
    const uint32_t u = users[b], a = ds->hist_ptr[u];
    uint32_t ny = 0, nh = 0;
    const uint32_t n = dataset_kcapped(ds->hist_ptr[u + 1] - a, ds->ease_kcap);
    for (uint32_t k = a; k < a + n; k++) {
      const uint32_t j = ds->ease_slot[ds->hist[k]];
      if (j != DATASET_NO_SLOT && !slot_in(w->ey, ny, j)) w->ey[ny++] = j;
    }
    const uint32_t *hs = w->hslot + (size_t)b * w->L;
    for (uint32_t k = 0; k < w->hcnt[b]; k++) {
      const uint32_t j = ds->ease_slot[w->slot_item[hs[k]]];
      if (j != DATASET_NO_SLOT && !slot_in(w->eh, nh, j)) w->eh[nh++] = j;
    }
    if (!nh || sc == 0.0) {
      memset(r, 0, (size_t)C * sizeof *r);
      continue;
    }
    double cy = 0, qh = 0; /* c = y' P y, qh = sum_{j in h} q_j */
    for (uint32_t k = 0; k < ny; k++) {
      const float *row = P + w->ey[k] * m;
      for (uint32_t l = 0; l < ny; l++) cy += row[w->ey[l]];
      for (uint32_t l = 0; l < nh; l++) qh += row[w->eh[l]];
    }
    const double g = 1.0 / (1.0 - cy);
    for (uint32_t j = 0; j < C; j++) {
      const uint32_t i = ds->ease_slot[w->slot_item[j]];
      if (i == DATASET_NO_SLOT) {
        r[j] = 0.0f;
        continue;
      }
      double qi = 0, sh = 0;
      for (uint32_t k = 0; k < ny; k++) qi += P[w->ey[k] * m + i];
      for (uint32_t k = 0; k < nh; k++) sh += P[w->eh[k] * m + i];
      const double den = P[i * m + i] + qi * qi * g;
      double num = sh + qi * qh * g;
      if (slot_in(w->eh, nh, i)) num -= den; /* B_ii = 0 */
      r[j] = (float)(-sc * num / den);
    }
  }
}

/* The transition term (model.h) of row b against the columns: l the last
 * item a K-shot support would show before the target (the rule of the time
 * term's reference, dataset.h pair_tbin): with p the target's first position
 * in the user's hist, the item at min(p, kcap) - 1 (none if p = 0 or the
 * target is not in hist: the row scores 0); T without the user's own
 * transitions (the pairs of its first kcap items, as dataset_trans counted
 * them): t_ui = (T[l][i] - own(l, i)) / (rowsum(l) - own(l, .)), times the
 * scale. */
static void ws_trans_train(ws_t *w, const dataset_t *ds, const uint32_t *users,
                           const uint32_t *pos, uint32_t B, uint32_t C) {
  const float sc = ds->trans_scale;
  const uint32_t kc = ds->trans_kcap;
  for (uint32_t b = 0; b < B; b++) {
    float *r = w->tt + (size_t)b * C;
    memset(r, 0, (size_t)C * sizeof *r);
    const uint32_t u = users[b], a = ds->hist_ptr[u], n = ds->hist_ptr[u + 1] - a;
    uint32_t p = 0;
    while (p < n && ds->hist[a + p] != pos[b]) p++;
    if (p == 0 || p == n || sc == 0.0f) continue;
    const uint32_t l = ds->hist[a + dataset_kcapped(p, kc) - 1];
    const uint32_t e = a + dataset_kcapped(n, kc); /* the user's pairs: a..e */
    /* T[l] into td, less the user's own pairs (a subset of T[l]'s entries) */
    for (uint32_t q = ds->trans_ptr[l]; q < ds->trans_ptr[l + 1]; q++)
      w->td[ds->trans_dst[q]] = ds->trans_cnt[q];
    uint32_t np = 0;
    for (uint32_t q = a + 1; q < e; q++)
      if (ds->hist[q - 1] == l && ds->hist[q] != l) w->td[ds->hist[q]] -= 1.0f, np++;
    const float den = ds->trans_row[l] - (float)np;
    if (den > 0.0f)
      for (uint32_t j = 0; j < C; j++) r[j] = sc / den * w->td[w->slot_item[j]];
    for (uint32_t q = ds->trans_ptr[l]; q < ds->trans_ptr[l + 1]; q++) w->td[ds->trans_dst[q]] = 0.0f;
  }
}

/* The popularity input's leave-user-out change of each row (pop_loo; see
 * ws_t pc): the row first counts the user's hist entries (its training
 * interactions, which the counts hold) at the columns among them, then turns
 * each count n into log(1 + c - n) - log(1 + c). */
static void ws_pop_train(ws_t *w, const dataset_t *ds, const uint32_t *users, uint32_t B,
                         uint32_t C) {
  for (uint32_t b = 0; b < B; b++) {
    float *r = w->pc + (size_t)b * C;
    memset(r, 0, (size_t)C * sizeof *r);
    for (uint32_t k = ds->hist_ptr[users[b]]; k < ds->hist_ptr[users[b] + 1]; k++) {
      const uint32_t s = w->slot_of[ds->hist[k]];
      if (s < C) r[s] += 1.0f;
    }
    for (uint32_t j = 0; j < C; j++) {
      if (r[j] == 0.0f) continue;
      const float c = ds->item_pop[w->slot_item[j]], left = c > r[j] ? c - r[j] : 0.0f;
      r[j] = log1pf(left) - log1pf(c);
    }
  }
}

/* w->gam from p's gamma view (call before user_scoring). */
static void ws_gamma(ws_t *w, const params_t *p) {
  if (w->R) gamma_from(w->R, w->M, w->phi, p->gam, w->gam);
}

/* The user scoring vectors out (n, Ds) = [wu (n, D) ; beta ; gamma_k a_uk ;
 * tau_(b - b_u) for b = 0..T) (zero beyond J lags)]. Training (users not
 * NULL): the last R + T (a fold block) sit in the slot of the user's fold,
 * the other folds' slots are zero (see item_scoring). */
static void user_scoring(float *out, const ws_t *w, const float *wu, uint32_t n, uint32_t Ds,
                         const params_t *p, const uint32_t *users) {
  const uint32_t D = w->D, R = w->R, T = w->T, J = w->J;
  for (uint32_t r = 0; r < n; r++) {
    float *o = out + (size_t)r * Ds;
    memcpy(o, wu + (size_t)r * D, D * sizeof(float));
    o += D;
    if (p->pop) *o++ = *p->pop;
    if (users) {
      memset(o, 0, (size_t)DATASET_SPEC_FOLDS * (R + T) * sizeof *o);
      o += (size_t)(users[r] % DATASET_SPEC_FOLDS) * (R + T);
    }
    for (uint32_t k = 0; k < R; k++) o[k] = w->gam[k] * w->au[(size_t)r * R + k];
    if (!T) continue;
    o += R;
    memset(o, 0, T * sizeof *o);
    const uint32_t bu = w->ub[r];
    if (bu == DATASET_NO_BIN) continue;
    for (uint32_t b = bu > J ? bu - J : 0; b < T && b <= bu + J; b++) o[b] = p->tau[J + b - bu];
  }
}

/* The item scoring vectors out (n, Ds) = [vi (n, D) ; s_i ; lambda_k e_ik ;
 * c_i(b)] of items[0..n) (or of items first..first+n if items is NULL).
 * Training (train != 0): one fold block per fold, so that one product serves
 * rows of every fold. */
static void item_scoring(float *out, const ws_t *w, const float *vi, uint32_t n, uint32_t Ds,
                         const params_t *p, const dataset_t *ds, const uint32_t *items,
                         uint32_t first, int train) {
  const uint32_t D = w->D, R = w->R, T = w->T;
  const size_t nv = (size_t)ds->n_items * R, nt = (size_t)ds->n_items * T;
  for (uint32_t r = 0; r < n; r++) {
    uint32_t it = items ? items[r] : first + r;
    float *o = out + (size_t)r * Ds;
    memcpy(o, vi + (size_t)r * D, D * sizeof(float));
    o += D;
    if (p->pop) *o++ = pop_input(ds, it);
    if (!train) {
      for (uint32_t k = 0; k < R; k++) o[k] = ds->spec_val[k] * ds->spec_vec[(size_t)it * R + k];
      if (T) memcpy(o + R, ds->time_cnt + (size_t)it * T, T * sizeof *o);
      continue;
    }
    for (uint32_t f = 0; f < DATASET_SPEC_FOLDS; f++, o += R + T) {
      for (uint32_t k = 0; k < R; k++)
        o[k] = ds->spec_fval[f * R + k] * ds->spec_fvec[f * nv + (size_t)it * R + k];
      if (T) memcpy(o + R, ds->time_fcnt + f * nt + (size_t)it * T, T * sizeof *o);
    }
  }
}

/* One batch's shared state, for the tasks that fork2 runs two at a time. */
typedef struct step_ctx {
  ws_t *w;
  const params_t *p;
  params_t q;
  const model_local_t *l;
  const dataset_t *ds;
  const uint32_t *users;
  uint32_t B, C, Cn, Ds;
  const float *U, *V; /* scoring vectors: wu, vi or with pop_prior wuA, viA */
  double loss[2];     /* the two halves of the rows */
  double gb;          /* beta's gradient (pop_prior) */
} step_ctx_t;

static void task_user_forward(void *a) {
  step_ctx_t *c = a;
  ws_user_forward(c->w, c->p, c->l, c->ds, c->users, c->B);
}

static void task_item_forward(void *a) {
  step_ctx_t *c = a;
  ws_item_forward(c->w, c->p, c->C);
}

/* sum_k x_k y_k, summed in double. */
static double dot_fd(const float *x, const float *y, size_t n) {
  double s = 0;
  for (size_t k = 0; k < n; k++) s += (double)x[k] * y[k];
  return s;
}

/* With attr, ease and / or trans the rows' logits start from alpha (w_i .
 * a_u) + eta e_ui + kappa t_ui. */
static double rows(step_ctx_t *c, uint32_t b0, uint32_t b1) {
  const ws_t *w = c->w;
  const size_t k0 = (size_t)b0 * c->C, k1 = (size_t)b1 * c->C;
  const int seeded = w->A > 0 || w->EZ || w->TZ || w->PL;
  if (seeded) {
    const float al = w->A ? *c->p->alpha : 0.0f, et = w->EZ ? *c->p->eta : 0.0f;
    const float ka = w->TZ ? *c->p->kappa : 0.0f, be = w->PL ? *c->p->pop : 0.0f;
    for (size_t k = k0; k < k1; k++)
      w->P[k] = (w->A ? al * w->aa[k] : 0.0f) + (w->EZ ? et * w->ee[k] : 0.0f) +
                (w->TZ ? ka * w->tt[k] : 0.0f) + (w->PL ? be * w->pc[k] : 0.0f);
  }
  return layer_ssmc_forward_rows(w->ppos, w->P, c->U, c->V, w->cpos, w->cnt, (int)b0, (int)b1,
                                 (int)c->C, (int)c->Cn, (int)c->Ds, seeded);
}

static void task_rows_lo(void *a) {
  step_ctx_t *c = a;
  c->loss[0] = rows(c, 0, c->B / 2);
}

static void task_rows_hi(void *a) {
  step_ctx_t *c = a;
  c->loss[1] = rows(c, c->B / 2, c->B);
}

/* d wu = G V, then the user tower back to dZ (its gradient buffers zeroed). */
static void task_user_backward(void *a) {
  step_ctx_t *c = a;
  ws_t *w = c->w;
  const uint32_t B = c->B, C = c->C, D = w->D, Hd = w->Hd, Ds = c->Ds;
  if (Ds > D) { /* through the extra coordinates: beta's and gamma's gradients, the tower's part */
    layer_ssmc_backward_u(w->dwuA, w->P, c->V, (int)B, (int)C, (int)Ds);
    const uint32_t R = w->R, T = w->T, J = w->J, o = D + (c->p->pop ? 1 : 0);
    double gb = 0;
    memset(w->gg, 0, R * sizeof *w->gg);
    if (J) memset(w->gt, 0, (2 * (size_t)J + 1) * sizeof *w->gt);
    for (uint32_t b = 0; b < B; b++) {
      const float *d = w->dwuA + (size_t)b * Ds;
      memcpy(w->dwu + (size_t)b * D, d, D * sizeof(float));
      if (c->p->pop) gb += d[D];
      const float *dg = d + o + (size_t)(c->users[b] % DATASET_SPEC_FOLDS) * (R + T); /* the row's fold block */
      for (uint32_t k = 0; k < R; k++) w->gg[k] += (double)dg[k] * w->au[(size_t)b * R + k];
      const uint32_t bu = w->ub[b];
      if (!T || bu == DATASET_NO_BIN) continue;
      for (uint32_t q = bu > J ? bu - J : 0; q < T && q <= bu + J; q++) w->gt[J + q - bu] += dg[R + q];
    }
    c->gb = gb;
    if (w->NT) return; /* no towers: nothing flows past the extra coordinates */
  } else {
    layer_ssmc_backward_u(w->dwu, w->P, c->V, (int)B, (int)C, (int)D);
  }
  layer_linear_backward(w->dhu, c->q.wu2, c->q.bu2, w->dwu, w->hu, c->p->wu2, (int)B, (int)Hd,
                        (int)D);
  layer_relu_backward(w->dhu, w->hu, (size_t)B * Hd);
  layer_linear_backward(w->dZ, c->q.wu1, c->q.bu1, w->dhu, w->Z, c->p->wu1, (int)B, 3 * (int)D,
                        (int)Hd);
}

/* d vi = G^T U, then the item tower straight into the columns' slots 0..C of dX. */
static void task_item_backward(void *a) {
  step_ctx_t *c = a;
  ws_t *w = c->w;
  const uint32_t B = c->B, C = c->C, D = w->D, Hd = w->Hd, Ds = c->Ds;
  if (Ds > D) {
    layer_ssmc_backward_v(w->dviA, w->P, c->U, (int)B, (int)C, (int)Ds);
    for (uint32_t j = 0; j < C; j++)
      memcpy(w->dvi + (size_t)j * D, w->dviA + (size_t)j * Ds, D * sizeof(float));
  } else {
    layer_ssmc_backward_v(w->dvi, w->P, c->U, (int)B, (int)C, (int)D);
  }
  layer_linear_backward(w->dhi, c->q.wi2, c->q.bi2, w->dvi, w->hi, c->p->wi2, (int)C, (int)Hd,
                        (int)D);
  layer_relu_backward(w->dhi, w->hi, (size_t)C * Hd);
  layer_linear_backward(w->dX, c->q.wi1, c->q.bi1, w->dhi, w->X, c->p->wi1, (int)C, (int)D,
                        (int)Hd);
}

/* The loss of one batch and, if g is not NULL, its gradient: g laid out like
 * theta, its tower part zeroed by the caller and its E rows accumulated (and
 * recorded in tE if not NULL); gP / gQ (may be NULL) likewise for P and Q.
 * B <= w->bmax, N <= w->nmax. par: the helper thread is ours (fork2); the
 * result does not depend on it. */
static double ws_loss_grad(ws_t *w, const model_cfg_t *cfg, const float *theta,
                           const model_local_t *l, const dataset_t *ds, const uint32_t *users,
                           const uint32_t *pos, uint32_t B, const uint32_t *neg, uint32_t N,
                           float *g, float *gP, float *gQ, layer_rowset_t *tE,
                           layer_rowset_t *tP, layer_rowset_t *tQ, int par) {
  const uint32_t D = w->D, Hd = w->Hd;
  const size_t ldz = 3 * (size_t)D;
  params_t p = params_of(cfg, theta);

  /* forward: the C columns first, the Cn distinct negatives (with the number
   * of times each was drawn) then the other positives; then the histories */
  ws_slots_reset(w);
  for (uint32_t n = 0; n < N; n++) ws_slot(w, neg[n]);
  const uint32_t Cn = w->n_slots;
  memset(w->cnt, 0, (size_t)Cn * sizeof *w->cnt);
  for (uint32_t n = 0; n < N; n++) w->cnt[w->slot_of[neg[n]]] += 1.0f;
  for (uint32_t b = 0; b < B; b++) w->cpos[b] = ws_slot(w, pos[b]);
  const uint32_t C = w->n_slots;
  ws_register_users(w, ds, users, pos, B);
  if (w->R) ws_user_spec(w, ds, users, B, 1);
  if (w->T) ws_user_time(w, ds, users, pos, B);
  if (w->A) ws_attr_train(w, ds, B, C);
  if (w->EZ) ws_ease_train(w, ds, users, B, C);
  if (w->TZ) ws_trans_train(w, ds, users, pos, B, C);
  if (w->PL) ws_pop_train(w, ds, users, B, C);
  /* Two threads only for batches big enough to pay for the hand-offs (three
   * a step): a scheduling choice, the result is the same either way. */
  par = par && (uint64_t)B * C * (Hd + D) >= g_par_min_work;
  step_ctx_t c = {w, &p, {0}, l, ds, users, B, C, Cn, D, w->wu, w->vi, {0, 0}, 0};
  if (w->NT) { /* the score is the extra terms alone */
    memset(w->wu, 0, (size_t)B * D * sizeof(float));
    memset(w->vi, 0, (size_t)C * D * sizeof(float));
  } else {
    ws_items_x(w, &p, l, ds);
    fork2(par, task_user_forward, &c, task_item_forward, &c);
  }
  /* scores: wu . vi, or [wu ; beta ; gamma a_u] . [vi ; s_i ; lambda e_i] */
  if (w->Ds > D) {
    c.Ds = w->Dt;
    ws_gamma(w, &p);
    user_scoring(w->wuA, w, w->wu, B, c.Ds, &p, users);
    item_scoring(w->viA, w, w->vi, C, c.Ds, &p, ds, w->slot_item, 0, 1);
    c.U = w->wuA;
    c.V = w->viA;
  }
  /* the softmax rows in two halves, their losses added in that order */
  fork2(par, task_rows_lo, &c, task_rows_hi, &c);
  double loss = B ? (c.loss[0] + c.loss[1]) / B : 0.0;
  if (!g) return loss;

  /* backward */
  c.q = params_of(cfg, g);
  const uint32_t S = w->n_slots, Ds = c.Ds;
  memset(w->dwu, 0, (size_t)B * D * sizeof(float));
  memset(w->dvi, 0, (size_t)C * D * sizeof(float));
  memset(w->dhu, 0, (size_t)B * Hd * sizeof(float));
  memset(w->dhi, 0, (size_t)C * Hd * sizeof(float));
  memset(w->dZ, 0, (size_t)B * ldz * sizeof(float));
  memset(w->dX, 0, (size_t)S * D * sizeof(float));
  if (Ds > D) {
    memset(w->dwuA, 0, (size_t)B * Ds * sizeof(float));
    memset(w->dviA, 0, (size_t)C * Ds * sizeof(float));
  }
  layer_ssmc_grad_logits(w->P, w->ppos, w->cpos, (int)B, (int)C);
  /* the sparse terms' weights: d loss / d weight = sum of G times the term's scores */
  if (w->A) *c.q.alpha += (float)dot_fd(w->P, w->aa, (size_t)B * C);
  if (w->EZ) *c.q.eta += (float)dot_fd(w->P, w->ee, (size_t)B * C);
  if (w->TZ) *c.q.kappa += (float)dot_fd(w->P, w->tt, (size_t)B * C);
  const double gpl = w->PL ? dot_fd(w->P, w->pc, (size_t)B * C) : 0.0; /* beta's, through pc */
  if (w->NT) {
    if (Ds > D) task_user_backward(&c); /* the extra coordinates only */
  } else {
    fork2(par, task_user_backward, &c, task_item_backward, &c);
  }
  if (p.pop) *c.q.pop += (float)(c.gb + gpl);
  if (!w->M) {
    for (uint32_t k = 0; k < w->R; k++) c.q.gam[k] += (float)w->gg[k];
  } else { /* through gamma = phi c */
    for (uint32_t j = 0; j < w->M; j++) {
      double gj = 0;
      for (uint32_t k = 0; k < w->R; k++) gj += w->gg[k] * w->phi[(size_t)k * w->M + j];
      c.q.gam[j] += (float)gj;
    }
  }
  if (w->T)
    for (uint32_t k = 0; k < 2 * w->J + 1; k++) c.q.tau[k] += (float)w->gt[k];
  if (w->NT) return loss;
  params_t q = c.q;
  /* the pooled histories, into their slots of dX */
  layer_pool_backward(w->dX, w->dZ + D, ldz, D, w->hslot, w->hcnt, B, w->L);
  /* embedding tables: E through user tokens and item tokens, P, Q */
  layer_bag_backward(q.E, tE, w->dZ, ldz, w->H, D, ds->utok_ptr, ds->utok, users, B);
  layer_bag_backward(q.E, tE, w->dX, D, w->H, D, ds->itok_ptr, ds->itok, w->slot_item, S);
  if (gP) layer_gather_backward(gP, tP, w->dZ + 2 * D, ldz, D, users, B);
  if (gQ) layer_gather_backward(gQ, tQ, w->dX, D, D, w->slot_item, S);
  return loss;
}

/* --- inference --------------------------------------------------------------------- */

/* The dataset carries what the model's extra terms read (dataset_spectral,
 * dataset_time with the model's settings). */
static int ds_fits(const model_cfg_t *cfg, const dataset_t *ds) {
  if (ds->spec_r != cfg->spectral || ds->time_lags != cfg->time_lags) return 0;
  if (ds->ease_lambda != cfg->ease || (cfg->attr && !ds->attr_ptr)) return 0;
  if (ds->trans_on != cfg->trans) return 0;
  return !cfg->time_lags || (ds->time_T > 0 && ds->time_bin == (int64_t)cfg->time_bin_s);
}

/* Both functions return void (model.h); if their scratch cannot be allocated
 * they fill out with NaN so that the failure shows in every metric. */
void model_user_vectors(const model_cfg_t *cfg, const float *theta, const model_local_t *l,
                        const dataset_t *ds, const uint32_t *users, uint32_t n, float *out) {
  const uint32_t D = cfg->dim;
  ws_t w;
  if (!ds_fits(cfg, ds) || ws_init(&w, cfg, ds, MODEL_INFER_CHUNK, 0, 0, NULL) != 0) {
    for (size_t i = 0; i < (size_t)n * model_score_dim(cfg, ds); i++) out[i] = NAN;
    return;
  }
  params_t p = params_of(cfg, theta);
  ws_gamma(&w, &p); /* theta is fixed here: once for every chunk */
  for (uint32_t c = 0; c < n; c += MODEL_INFER_CHUNK) {
    uint32_t m = n - c < MODEL_INFER_CHUNK ? n - c : MODEL_INFER_CHUNK;
    ws_slots_reset(&w);
    ws_register_users(&w, ds, users + c, NULL, m);
    if (w.R) ws_user_spec(&w, ds, users + c, m, 0);
    if (w.T) ws_user_time(&w, ds, users + c, NULL, m);
    if (w.NT) {
      memset(w.wu, 0, (size_t)m * D * sizeof(float));
    } else {
      ws_items_x(&w, &p, l, ds);
      ws_user_forward(&w, &p, l, ds, users + c, m);
    }
    if (w.Ds > D)
      user_scoring(out + (size_t)c * w.Ds, &w, w.wu, m, w.Ds, &p, NULL);
    else
      memcpy(out + (size_t)c * D, w.wu, (size_t)m * D * sizeof(float));
  }
  ws_free(&w);
}

void model_item_vectors(const model_cfg_t *cfg, const float *theta, const model_local_t *l,
                        const dataset_t *ds, float *out) {
  const uint32_t D = cfg->dim, Hd = cfg->hidden, n = ds->n_items, Ds = model_score_dim(cfg, ds);
  /* item_scoring reads only the widths of a workspace */
  const ws_t w = {.D = D, .R = cfg->spectral, .J = cfg->time_lags, .T = cfg->time_lags ? ds->time_T : 0};
  float *x = malloc((size_t)MODEL_INFER_CHUNK * D * sizeof *x);
  float *h = malloc((size_t)MODEL_INFER_CHUNK * Hd * sizeof *h);
  float *v = Ds > D ? malloc((size_t)MODEL_INFER_CHUNK * D * sizeof *v) : NULL;
  uint32_t *ids = malloc(MODEL_INFER_CHUNK * sizeof *ids);
  if (!x || !h || !ids || (Ds > D && !v) || !ds_fits(cfg, ds)) {
    for (size_t i = 0; i < (size_t)n * Ds; i++) out[i] = NAN;
    free(x); free(h); free(v); free(ids);
    return;
  }
  params_t p = params_of(cfg, theta);
  for (uint32_t c = 0; c < n; c += MODEL_INFER_CHUNK) {
    uint32_t m = n - c < MODEL_INFER_CHUNK ? n - c : MODEL_INFER_CHUNK;
    if (cfg->no_towers && Ds == D) { /* attr / ease / trans alone (model_*_scores) */
      memset(out + (size_t)c * D, 0, (size_t)m * D * sizeof *out);
      continue;
    }
    if (cfg->no_towers) { /* the extra terms alone: no tower to run */
      memset(v, 0, (size_t)m * D * sizeof *v);
      item_scoring(out + (size_t)c * Ds, &w, v, m, Ds, &p, ds, NULL, c, 0);
      continue;
    }
    for (uint32_t r = 0; r < m; r++) ids[r] = c + r;
    memset(x, 0, (size_t)m * D * sizeof *x);
    layer_bag_forward(x, D, p.E, cfg->n_buckets, D, ds->itok_ptr, ds->itok, ids, m);
    layer_gather_forward(x, D, l->item_id, D, ids, m);
    layer_linear_forward(h, x, p.wi1, p.bi1, (int)m, (int)D, (int)Hd);
    layer_relu_forward(h, h, (size_t)m * Hd);
    if (Ds == D) {
      layer_linear_forward(out + (size_t)c * D, h, p.wi2, p.bi2, (int)m, (int)Hd, (int)D);
      continue;
    }
    layer_linear_forward(v, h, p.wi2, p.bi2, (int)m, (int)Hd, (int)D);
    item_scoring(out + (size_t)c * Ds, &w, v, m, Ds, &p, ds, NULL, c, 0);
  }
  free(x); free(h); free(v); free(ids);
}

int model_attr_scores(const model_cfg_t *cfg, const float *theta, const dataset_t *ds,
                      const uint32_t *users, uint32_t n, float *S, size_t ld, fm_err *err) {
  if (!cfg->attr || !n) return 0;
  if (!ds->attr_ptr)
    return fm_fail(err, "the model has the attribute term but the dataset no attribute vectors");
  if (!ds->n_attr) return 0;
  const uint32_t A = ds->n_attr, ni = ds->n_items, L = cfg->hist_len, nnz = ds->attr_ptr[ni];
  const float alpha = *params_of(cfg, theta).alpha;
  /* the items of each coordinate (the transpose of attr_*), in item order */
  uint32_t *pp = calloc((size_t)A + 1, sizeof *pp), *pi = malloc(((size_t)nnz + 1) * sizeof *pi);
  float *pw = malloc(((size_t)nnz + 1) * sizeof *pw), *ad = calloc(A, sizeof *ad);
  uint32_t *hist = malloc(((size_t)L + 1) * sizeof *hist), *touched = malloc((size_t)A * sizeof *touched);
  if (!pp || !pi || !pw || !ad || !hist || !touched) {
    free(pp), free(pi), free(pw), free(ad), free(hist), free(touched);
    return fm_fail(err, "out of memory for the attribute term's index (%u coordinates, %u entries)",
                   A, nnz);
  }
  for (uint32_t q = 0; q < nnz; q++) pp[ds->attr_id[q] + 1]++;
  for (uint32_t t = 0; t < A; t++) pp[t + 1] += pp[t];
  for (uint32_t i = 0; i < ni; i++)
    for (uint32_t q = ds->attr_ptr[i]; q < ds->attr_ptr[i + 1]; q++) {
      uint32_t t = ds->attr_id[q], k = pp[t]++;
      pi[k] = i;
      pw[k] = ds->attr_w[q];
    }
  for (uint32_t t = A; t > 0; t--) pp[t] = pp[t - 1];
  pp[0] = 0;
  for (uint32_t r = 0; r < n; r++) {
    /* a_u over the user's last L history items, as model_user_vectors pools them */
    const uint32_t c = hist_collect(ds, users[r], NO_ITEM, L, hist);
    const float sc = c ? alpha / sqrtf((float)c) : 0.0f;
    uint32_t nt = 0;
    for (uint32_t k = 0; k < c; k++)
      for (uint32_t q = ds->attr_ptr[hist[k]]; q < ds->attr_ptr[hist[k] + 1]; q++) {
        const uint32_t t = ds->attr_id[q];
        if (ad[t] == 0.0f) touched[nt++] = t; /* weights are > 0: touched = non-zero */
        ad[t] += ds->attr_w[q];
      }
    float *row = S + (size_t)r * ld;
    for (uint32_t k = 0; k < nt; k++) {
      const uint32_t t = touched[k];
      const float a = sc * ad[t];
      for (uint32_t j = pp[t]; j < pp[t + 1]; j++) row[pi[j]] += a * pw[j];
      ad[t] = 0.0f;
    }
  }
  free(pp), free(pi), free(pw), free(ad), free(hist), free(touched);
  return 0;
}

int model_ease_scores(const model_cfg_t *cfg, const float *theta, const dataset_t *ds,
                      const uint32_t *users, uint32_t n, float *S, size_t ld, fm_err *err) {
  if (!cfg->ease || !n) return 0;
  if (ds->ease_lambda != cfg->ease)
    return fm_fail(err, "the model's EASE term has lambda %u but the dataset's %u", cfg->ease,
                   ds->ease_lambda);
  const size_t m = ds->ease_m;
  const uint32_t L = cfg->hist_len;
  const float f = *params_of(cfg, theta).eta * ds->ease_scale;
  if (f == 0.0f || m == 0) return 0;
  float *acc = malloc((m + 1) * sizeof *acc), *dg = malloc((m + 1) * sizeof *dg);
  uint32_t *hist = malloc(((size_t)L + 1) * sizeof *hist);
  if (!acc || !dg || !hist) {
    free(acc), free(dg), free(hist);
    return fm_fail(err, "out of memory for the EASE term's scores (%zu items)", m);
  }
  for (size_t i = 0; i < m; i++) dg[i] = f / ds->ease_P[i * m + i];
  for (uint32_t r = 0; r < n; r++) {
    /* e_ui = -sum_{j in h, j != i} P[j,i] / P[i,i], h as model_user_vectors pools it */
    const uint32_t c = hist_collect(ds, users[r], NO_ITEM, L, hist);
    dataset_ease_sum(ds, hist, c, acc);
    float *o = S + (size_t)r * ld;
    for (size_t i = 0; i < m; i++) o[ds->ease_item[i]] -= acc[i] * dg[i];
  }
  free(acc), free(dg), free(hist);
  return 0;
}

int model_trans_scores(const model_cfg_t *cfg, const float *theta, const dataset_t *ds,
                       const uint32_t *users, uint32_t n, float *S, size_t ld, fm_err *err) {
  if (!cfg->trans || !n) return 0;
  if (!ds->trans_on)
    return fm_fail(err, "the model has the transition term but the dataset no transitions");
  const float f = *params_of(cfg, theta).kappa * ds->trans_scale;
  if (f == 0.0f) return 0;
  for (uint32_t r = 0; r < n; r++) {
    const uint32_t u = users[r], a = ds->hist_ptr[u], b = ds->hist_ptr[u + 1];
    if (a == b) continue;
    const uint32_t l = ds->hist[b - 1]; /* the user's last history item */
    if (ds->trans_row[l] <= 0.0f) continue;
    const float g = f / ds->trans_row[l];
    float *o = S + (size_t)r * ld;
    for (uint32_t q = ds->trans_ptr[l]; q < ds->trans_ptr[l + 1]; q++)
      o[ds->trans_dst[q]] += g * ds->trans_cnt[q];
  }
  return 0;
}

float model_loss_grad(const model_cfg_t *cfg, const float *theta, const model_local_t *l,
                      const dataset_t *ds, const uint32_t *users, const uint32_t *pos,
                      uint32_t B, const uint32_t *neg, uint32_t N, float *grad_theta,
                      float *grad_user, float *grad_item) {
  const size_t D = cfg->dim, n_shared = model_n_shared(cfg);
  int want = grad_theta || grad_user || grad_item;
  ws_t w;
  float *g = grad_theta;
  if (want && !g) g = malloc(n_shared * sizeof *g);
  if ((want && !g) || !ds_fits(cfg, ds) || ws_init(&w, cfg, ds, B, N, want, NULL) != 0) {
    if (g != grad_theta) free(g);
    return NAN;
  }
  if (g) memset(g, 0, n_shared * sizeof *g);
  if (grad_user) memset(grad_user, 0, (size_t)l->n_users * D * sizeof *grad_user);
  if (grad_item) memset(grad_item, 0, (size_t)l->n_items * D * sizeof *grad_item);
  int blas = blas_one_thread(); /* like the trainer: the same result for any thread count */
  double loss = ws_loss_grad(&w, cfg, theta, l, ds, users, pos, B, neg, N, g, grad_user,
                             grad_item, NULL, NULL, NULL, 0);
  blas_restore(blas);
  if (g != grad_theta) free(g);
  ws_free(&w);
  return (float)loss;
}

/* --- trainer ------------------------------------------------------------------------ */

struct trainer {
  model_cfg_t cfg;
  train_cfg_t tc;
  const dataset_t *ds;
  model_local_t *local;
  rng_t rng;          /* (seed, RNG_SAMPLE, platform) */
  size_t n_shared;
  size_t n_emb;       /* H * D: the sparse part of theta, at offset 0 */
  ws_t ws;
  uint32_t *bu, *bp;  /* (B) sampled users and positives */
  uint32_t *bn;       /* (N) sampled negatives */
  float *g;           /* (n_shared) gradient; E rows zero unless in tE */
  float *gP, *gQ;     /* (n_users, D), (n_items, D); zero unless in tP / tQ */
  layer_rowset_t tE, tP, tQ;
  float *m, *v;       /* (n_shared) Adam moments of theta */
  float *mP, *vP;     /* (n_users, D) */
  float *mQ, *vQ;     /* (n_items, D) */
  uint64_t step;      /* optimiser steps since the last reset */
  int borrowed;       /* g, m, v belong to the caller (trainer_init_shared) */
  layer_rowset_t *tR; /* the caller's: every E row a step updated since it was set (trainer_track_rows) */
  const float *prior; /* the caller's: the centre of the tc.prox prior (trainer_set_prior) */
};

static int dataset_check(const dataset_t *ds, const model_local_t *l, const model_cfg_t *cfg,
                         fm_err *err) {
  if (ds->n_pairs == 0) return fm_fail(err, "dataset has no training pairs: nothing to sample");
  if (ds->n_items == 0) return fm_fail(err, "dataset has no items: no negatives to sample");
  if (l->n_users != ds->n_users || l->n_items != ds->n_items || l->dim != cfg->dim)
    return fm_fail(err, "local embeddings (%u users, %u items, dim %u) do not match the "
                   "dataset (%u users, %u items) and model (dim %u)", l->n_users, l->n_items,
                   l->dim, ds->n_users, ds->n_items, cfg->dim);
  for (uint32_t k = 0; k < ds->n_pairs; k++)
    if (ds->pair_user[k] >= ds->n_users || ds->pair_item[k] >= ds->n_items)
      return fm_fail(err, "training pair %u = (user %u, item %u) is out of range (%u users, "
                     "%u items)", k, ds->pair_user[k], ds->pair_item[k], ds->n_users,
                     ds->n_items);
  for (uint32_t k = 0; k < ds->hist_ptr[ds->n_users]; k++)
    if (ds->hist[k] >= ds->n_items)
      return fm_fail(err, "history entry %u = item %u is out of range (%u items)", k,
                     ds->hist[k], ds->n_items);
  if (ds->spec_r != cfg->spectral)
    return fm_fail(err, "the model's co-occurrence term has rank %u but the dataset's spectrum "
                   "%u: call dataset_spectral(ds, %u) after dataset_build", cfg->spectral,
                   ds->spec_r, cfg->spectral);
  if (cfg->attr && !ds->attr_ptr)
    return fm_fail(err, "the model has the attribute term but the dataset no attribute "
                   "vectors: call dataset_attr(ds, shard) after dataset_build");
  if (ds->ease_lambda != cfg->ease)
    return fm_fail(err, "the model's EASE term has lambda %u but the dataset's %u: call "
                   "dataset_ease(ds, %u, kcap) after dataset_build", cfg->ease, ds->ease_lambda,
                   cfg->ease);
  if (ds->trans_on != cfg->trans)
    return fm_fail(err, "the model's transition term is %s but the dataset's %s: call "
                   "dataset_trans(ds, %u, kcap) after dataset_build", cfg->trans ? "on" : "off",
                   ds->trans_on ? "on" : "off", cfg->trans);
  if (!ds_fits(cfg, ds))
    return fm_fail(err, "the model's time term has %u lags of %u s bins but the dataset's %u lags "
                   "of %lld s: call dataset_time(ds, %u, %u, kcap) after dataset_build",
                   cfg->time_lags, cfg->time_bin_s, ds->time_lags, (long long)ds->time_bin,
                   cfg->time_bin_s, cfg->time_lags);
  return 0;
}

static int train_cfg_check(const train_cfg_t *tc, fm_err *err) {
  if (tc->opt != OPT_SGD && tc->opt != OPT_ADAM)
    return fm_fail(err, "optimiser %d: expected OPT_SGD (0) or OPT_ADAM (1)", tc->opt);
  if (tc->batch == 0 || tc->batch > MODEL_MAX_BATCH)
    return fm_fail(err, "batch = %u: expected 1..%u", tc->batch, MODEL_MAX_BATCH);
  if (tc->n_neg == 0 || tc->n_neg > MODEL_MAX_BATCH)
    return fm_fail(err, "n_neg = %u: expected 1..%u", tc->n_neg, MODEL_MAX_BATCH);
  if ((uint64_t)tc->batch * tc->n_neg > (uint64_t)INT_MAX)
    return fm_fail(err, "batch x n_neg = %u x %u is too large (at most %d logits)", tc->batch,
                   tc->n_neg, INT_MAX);
  if (!(tc->lr >= 0.0f) || !isfinite(tc->lr) || !(tc->lr_local >= 0.0f) ||
      !isfinite(tc->lr_local))
    return fm_fail(err, "learning rates lr = %g, lr_local = %g: expected finite and >= 0",
                   (double)tc->lr, (double)tc->lr_local);
  if (!(tc->l2 >= 0.0f) || !isfinite(tc->l2))
    return fm_fail(err, "l2 = %g: expected finite and >= 0", (double)tc->l2);
  if (!(tc->prox >= 0.0f) || !isfinite(tc->prox))
    return fm_fail(err, "prox = %g: expected finite and >= 0", (double)tc->prox);
  if ((double)tc->lr * tc->prox > 1.0) /* beyond a full pull back to the start it overshoots */
    return fm_fail(err, "lr x prox = %g x %g = %g: the prior's pull per step must be at most 1 "
                   "(lower --ft-prox or --ft-lr)", (double)tc->lr, (double)tc->prox,
                   (double)tc->lr * tc->prox);
  if (tc->opt == OPT_ADAM &&
      (!(tc->beta1 >= 0.0f && tc->beta1 < 1.0f) || !(tc->beta2 >= 0.0f && tc->beta2 < 1.0f) ||
       !(tc->adam_eps > 0.0f)))
    return fm_fail(err, "Adam beta1 = %g, beta2 = %g, eps = %g: expected betas in [0, 1) and "
                   "eps > 0 (e.g. 0.9, 0.999, 1e-8)", (double)tc->beta1, (double)tc->beta2,
                   (double)tc->adam_eps);
  return 0;
}

static int trainer_init_with(trainer_t **out, const model_cfg_t *cfg, const train_cfg_t *tc,
                             const dataset_t *ds, model_local_t *local, uint64_t seed, uint32_t platform,
                             float *sg, float *sm, float *sv, fm_err *err);

int trainer_init(trainer_t **out, const model_cfg_t *cfg, const train_cfg_t *tc,
                 const dataset_t *ds, model_local_t *local, uint64_t seed, uint32_t platform,
                 fm_err *err) {
  return trainer_init_with(out, cfg, tc, ds, local, seed, platform, NULL, NULL, NULL, err);
}

int trainer_init_shared(trainer_t **out, const model_cfg_t *cfg, const train_cfg_t *tc,
                        const dataset_t *ds, model_local_t *local, uint64_t seed, uint32_t platform,
                        float *g, float *m, float *v, fm_err *err) {
  if (!g || (tc->opt == OPT_ADAM && (!m || !v)))
    return fm_fail(err, "trainer of platform %u: shared buffers missing", platform);
  return trainer_init_with(out, cfg, tc, ds, local, seed, platform, g, m, v, err);
}

static int trainer_init_with(trainer_t **out, const model_cfg_t *cfg, const train_cfg_t *tc,
                             const dataset_t *ds, model_local_t *local, uint64_t seed, uint32_t platform,
                             float *sg, float *sm, float *sv, fm_err *err) {
  *out = NULL;
  if (model_cfg_validate(cfg, err) || train_cfg_check(tc, err) ||
      dataset_check(ds, local, cfg, err))
    return fm_wrap(err, "trainer of platform %u", platform);
  trainer_t *t = calloc(1, sizeof *t);
  if (!t) return fm_fail(err, "out of memory for the trainer of platform %u", platform);
  t->cfg = *cfg;
  t->tc = *tc;
  t->ds = ds;
  t->local = local;
  rng_seed(&t->rng, seed, RNG_SAMPLE, platform);
  t->n_shared = model_n_shared(cfg);
  t->n_emb = (size_t)cfg->n_buckets * cfg->dim;
  const size_t D = cfg->dim, nu = ds->n_users, ni = ds->n_items;
  if (ws_init(&t->ws, cfg, ds, tc->batch, tc->n_neg, 1, err) ||
      layer_rowset_init(&t->tE, cfg->n_buckets, err) ||
      layer_rowset_init(&t->tP, ds->n_users, err) ||
      layer_rowset_init(&t->tQ, ds->n_items, err))
    goto fail;
  t->bu = alloc_n(tc->batch, sizeof *t->bu);
  t->bp = alloc_n(tc->batch, sizeof *t->bp);
  t->bn = alloc_n(tc->n_neg, sizeof *t->bn);
  if (sg) { /* borrowed (trainer_init_shared): not allocated only to be freed */
    t->borrowed = 1;
    t->g = sg;
  } else {
    t->g = calloc(t->n_shared, sizeof *t->g);
  }
  t->gP = calloc(nu * D + 1, sizeof *t->gP);
  t->gQ = calloc(ni * D + 1, sizeof *t->gQ);
  if (!t->bu || !t->bp || !t->bn || !t->g || !t->gP || !t->gQ) goto oom;
  if (tc->opt == OPT_ADAM) {
    t->m = sg ? sm : calloc(t->n_shared, sizeof *t->m);
    t->v = sg ? sv : calloc(t->n_shared, sizeof *t->v);
    t->mP = calloc(nu * D + 1, sizeof *t->mP);
    t->vP = calloc(nu * D + 1, sizeof *t->vP);
    t->mQ = calloc(ni * D + 1, sizeof *t->mQ);
    t->vQ = calloc(ni * D + 1, sizeof *t->vQ);
    if (!t->m || !t->v || !t->mP || !t->vP || !t->mQ || !t->vQ) goto oom;
  }
  *out = t;
  return 0;
oom:
  fm_fail(err, "out of memory for gradients and optimiser state");
fail:
  trainer_free(t);
  return fm_wrap(err, "trainer of platform %u", platform);
}

void trainer_free(trainer_t *t) {
  if (!t) return;
  ws_free(&t->ws);
  layer_rowset_free(&t->tE);
  layer_rowset_free(&t->tP);
  layer_rowset_free(&t->tQ);
  free(t->bu); free(t->bp); free(t->bn);
  if (!t->borrowed) {
    free(t->g);
    free(t->m);
    free(t->v);
  }
  free(t->gP); free(t->gQ);
  free(t->mP); free(t->vP); free(t->mQ); free(t->vQ);
  free(t);
}

void trainer_seed_round(trainer_t *t, uint64_t seed, uint32_t platform, uint32_t round) {
  rng_seed(&t->rng, seed, RNG_SAMPLE, (uint64_t)round << 32 | platform);
}

size_t trainer_opt_floats(const trainer_t *t) {
  if (t->tc.opt != OPT_ADAM) return 0;
  const size_t D = t->cfg.dim, nu = t->ds->n_users, ni = t->ds->n_items;
  return 2 * t->n_shared + 2 * nu * D + 2 * ni * D + 2; /* + the step count as two floats' bytes */
}

void trainer_opt_save(const trainer_t *t, float *out) {
  if (t->tc.opt != OPT_ADAM) return;
  const size_t D = t->cfg.dim, nu = t->ds->n_users, ni = t->ds->n_items;
  float *o = out;
  memcpy(o, t->m, t->n_shared * sizeof *o), o += t->n_shared;
  memcpy(o, t->v, t->n_shared * sizeof *o), o += t->n_shared;
  memcpy(o, t->mP, nu * D * sizeof *o), o += nu * D;
  memcpy(o, t->vP, nu * D * sizeof *o), o += nu * D;
  memcpy(o, t->mQ, ni * D * sizeof *o), o += ni * D;
  memcpy(o, t->vQ, ni * D * sizeof *o), o += ni * D;
  memcpy(o, &t->step, sizeof t->step);
}

void trainer_opt_load(trainer_t *t, const float *in) {
  if (t->tc.opt != OPT_ADAM) return;
  const size_t D = t->cfg.dim, nu = t->ds->n_users, ni = t->ds->n_items;
  const float *i = in;
  memcpy(t->m, i, t->n_shared * sizeof *i), i += t->n_shared;
  memcpy(t->v, i, t->n_shared * sizeof *i), i += t->n_shared;
  memcpy(t->mP, i, nu * D * sizeof *i), i += nu * D;
  memcpy(t->vP, i, nu * D * sizeof *i), i += nu * D;
  memcpy(t->mQ, i, ni * D * sizeof *i), i += ni * D;
  memcpy(t->vQ, i, ni * D * sizeof *i), i += ni * D;
  memcpy(&t->step, i, sizeof t->step);
}

void trainer_track_rows(trainer_t *t, struct layer_rowset *rows) { t->tR = rows; }

size_t trainer_n_emb(const trainer_t *t) { return t->n_emb; }

void trainer_reset_opt(trainer_t *t) {
  trainer_reset_opt_local(t);
  if (t->tc.opt != OPT_ADAM) return;
  memset(t->m, 0, t->n_shared * sizeof *t->m);
  memset(t->v, 0, t->n_shared * sizeof *t->v);
}

void trainer_reset_opt_local(trainer_t *t) {
  t->step = 0;
  if (t->tc.opt != OPT_ADAM) return;
  const size_t D = t->cfg.dim, nu = t->ds->n_users, ni = t->ds->n_items;
  memset(t->mP, 0, nu * D * sizeof *t->mP);
  memset(t->vP, 0, nu * D * sizeof *t->vP);
  memset(t->mQ, 0, ni * D * sizeof *t->mQ);
  memset(t->vQ, 0, ni * D * sizeof *t->vQ);
}

/* B pairs uniformly with replacement, then N negatives uniform over the items. */
static void trainer_sample(trainer_t *t) {
  const dataset_t *ds = t->ds;
  for (uint32_t b = 0; b < t->tc.batch; b++) {
    uint32_t k = rng_below(&t->rng, ds->n_pairs);
    t->bu[b] = ds->pair_user[k];
    t->bp[b] = ds->pair_item[k];
  }
  for (uint32_t n = 0; n < t->tc.n_neg; n++) t->bn[n] = rng_below(&t->rng, ds->n_items);
}

/* Samples a batch and leaves its gradient in t->g (tower part dense, E rows
 * in tE) and, if local, in gP / gQ (rows in tP / tQ). */
static double trainer_batch_grad(trainer_t *t, const float *theta, int local) {
  trainer_sample(t);
  memset(t->g + t->n_emb, 0, (t->n_shared - t->n_emb) * sizeof *t->g);
  int blas = blas_one_thread();
  int par = blas > 1 && helper_claim();
  double loss = ws_loss_grad(&t->ws, &t->cfg, theta, t->local, t->ds, t->bu, t->bp,
                             t->tc.batch, t->bn, t->tc.n_neg, t->g, local ? t->gP : NULL,
                             local ? t->gQ : NULL, &t->tE, local ? &t->tP : NULL,
                             local ? &t->tQ : NULL, par);
  if (par) helper_release();
  blas_restore(blas);
  return loss;
}

void trainer_set_prior(trainer_t *t, const float *theta0) { t->prior = theta0; }

/* The prior's pull on every shared parameter, taken at the point the batch's
 * gradient was (so that for SGD the step is one along the whole objective's
 * gradient); before the optimiser's update, which reads only t->g. */
static void trainer_pull(trainer_t *t, float *theta) {
  if (!t->prior || t->tc.prox == 0.0f) return;
  const float a = t->tc.lr * t->tc.prox;
  const float *c = t->prior;
  for (size_t i = 0; i < t->n_shared; i++) theta[i] -= a * (theta[i] - c[i]);
}

float trainer_step(trainer_t *t, float *theta) {
  /* lr_local = 0 (the default): P and Q would not move, so their gradients
   * and moments are not computed (the row sets stay empty: no update) */
  double loss = trainer_batch_grad(t, theta, t->tc.lr_local > 0.0f);
  const train_cfg_t *tc = &t->tc;
  trainer_pull(t, theta);
  const uint32_t D = t->cfg.dim;
  model_local_t *l = t->local;
  float *tower = theta + t->n_emb, *gtower = t->g + t->n_emb;
  size_t n_tower = t->n_shared - t->n_emb;
  t->step++;
  if (tc->opt == OPT_SGD) {
    optim_sgd_rows(theta, t->g, t->tE.rows, t->tE.n, D, tc->lr, tc->l2);
    optim_sgd(tower, gtower, n_tower, tc->lr);
    optim_sgd_rows(l->user_id, t->gP, t->tP.rows, t->tP.n, D, tc->lr_local, tc->l2);
    optim_sgd_rows(l->item_id, t->gQ, t->tQ.rows, t->tQ.n, D, tc->lr_local, tc->l2);
  } else {
    optim_adam_t as, al;
    optim_adam_prepare(&as, tc->lr, tc->beta1, tc->beta2, tc->adam_eps, t->step);
    optim_adam_prepare(&al, tc->lr_local, tc->beta1, tc->beta2, tc->adam_eps, t->step);
    optim_adam_rows(theta, t->m, t->v, t->g, t->tE.rows, t->tE.n, D, tc->l2, &as);
    optim_adam(tower, t->m + t->n_emb, t->v + t->n_emb, gtower, n_tower, &as);
    optim_adam_rows(l->user_id, t->mP, t->vP, t->gP, t->tP.rows, t->tP.n, D, tc->l2, &al);
    optim_adam_rows(l->item_id, t->mQ, t->vQ, t->gQ, t->tQ.rows, t->tQ.n, D, tc->l2, &al);
  }
  if (t->tR)
    for (uint32_t k = 0; k < t->tE.n; k++) layer_rowset_add(t->tR, t->tE.rows[k]);
  layer_rowset_clear(&t->tE);
  layer_rowset_clear(&t->tP);
  layer_rowset_clear(&t->tQ);
  return (float)loss;
}

/* The gradient includes the L2 term l2 * E[row] of the touched E rows and the
 * prior's prox * (theta - theta0), so that it is the gradient of the objective
 * trainer_step descends. */
float trainer_grad(trainer_t *t, const float *theta, float *grad) {
  double loss = trainer_batch_grad(t, theta, 0);
  const uint32_t D = t->cfg.dim;
  const float l2 = t->tc.l2;
  memset(grad, 0, t->n_emb * sizeof *grad);
  for (uint32_t k = 0; k < t->tE.n; k++) {
    size_t off = (size_t)t->tE.rows[k] * D;
    for (uint32_t d = 0; d < D; d++) grad[off + d] = t->g[off + d] + l2 * theta[off + d];
    memset(t->g + off, 0, D * sizeof *t->g);
  }
  memcpy(grad + t->n_emb, t->g + t->n_emb, (t->n_shared - t->n_emb) * sizeof *grad);
  if (t->prior && t->tc.prox != 0.0f)
    for (size_t i = 0; i < t->n_shared; i++) grad[i] += t->tc.prox * (theta[i] - t->prior[i]);
  layer_rowset_clear(&t->tE);
  return (float)loss;
}

void trainer_last_batch(const trainer_t *t, const uint32_t **users, const uint32_t **pos,
                        const uint32_t **neg) {
  if (users) *users = t->bu;
  if (pos) *pos = t->bp;
  if (neg) *neg = t->bn;
}
