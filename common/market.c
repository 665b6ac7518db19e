/* common/market.c: the synthetic market generator (see market.h; the model
 * with its equations and measured figures is in docs/DATA.md).
 *
 * Random streams, all (seed, RNG_MARKET, id):
 *   id 0          shared world: demographic effects, style and price vectors
 *   id 1          the user population (demographics, activity, taste)
 *   id 100 + p    industry p's catalogue (twist, categories, brands, items, popularity)
 *   id 200 + p    industry p's interactions (who joins, how many, which, when)
 *   (industries beyond the 16 named ones use ids 100 << 32 | p and 200 << 32 | p)
 * so platform p depends only on streams 0, 1, 100+p and 200+p: the same
 * shard on every rank, whichever other platforms are built. Results are
 * bit-identical for the same seed on the same libm (exp/log/cos decide a few
 * sampling thresholds). */
#include "common/market.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/manifest.h"
#include "common/rng.h"

/* Per-industry profile at scale 1. */
typedef struct profile {
  const char *name;
  uint32_t n_items, n_cats, n_brands;
  double join;      /* probability that an average user joins the platform */
  double mean;      /* mean interactions of a joined average user */
  double alpha;     /* Zipf exponent of item popularity */
} profile_t;

static const profile_t PROFILES[MARKET_MAX_INDUSTRIES] = {
    {"beauty", 900, 12, 60, 0.30, 12, 1.0},
    {"books", 1500, 20, 150, 0.45, 16, 0.9},
    {"electronics", 1000, 15, 50, 0.30, 8, 1.1},
    {"fashion", 1400, 18, 100, 0.40, 14, 0.9},
    {"food", 600, 10, 40, 0.25, 18, 1.1},
    {"home", 800, 14, 60, 0.20, 7, 1.0},
    {"sports", 700, 12, 45, 0.12, 6, 1.0},
    {"toys", 500, 10, 35, 0.10, 6, 1.0},
    {"garden", 600, 10, 40, 0.15, 7, 1.0},
    {"music", 1200, 16, 120, 0.35, 15, 0.9},
    {"games", 800, 12, 50, 0.25, 10, 1.0},
    {"pets", 500, 8, 30, 0.12, 8, 1.1},
    {"health", 700, 12, 50, 0.20, 8, 1.0},
    {"auto", 600, 10, 40, 0.10, 5, 1.0},
    {"office", 700, 12, 45, 0.15, 6, 1.1},
    {"travel", 500, 8, 30, 0.15, 5, 1.0},
};

/* Industry p: the named profile p, or beyond 16 a niche variant of profile
 * p mod 16 ("beauty-2", ...) whose users join with probability scaled by
 * 16 / (p + 1): a long tail of small platforms, so a market of hundreds of
 * industries keeps realistic activity per user. Industry p's data depends on
 * p alone, never on how many industries the market has. */
static profile_t profile_of(uint32_t p) {
  profile_t pr = PROFILES[p % MARKET_MAX_INDUSTRIES];
  if (p >= MARKET_MAX_INDUSTRIES) pr.join *= (double)MARKET_MAX_INDUSTRIES / (p + 1);
  return pr;
}

/* Stream id of industry p for a purpose base (100: catalogue, 200: users'
 * interactions): base + p for the 16 named industries (as always), and
 * base << 32 | p beyond, so no two industries ever share a stream. */
static uint64_t stream_id(uint64_t base, uint32_t p) {
  return p < MARKET_MAX_INDUSTRIES ? base + p : base << 32 | p;
}

static const char *const STYLES[MARKET_N_STYLES] = {
    "classic", "modern",  "minimal", "luxury",  "budget",   "eco",
    "kids",    "sporty",  "outdoor", "tech",    "vintage",  "cozy",
    "bold",    "elegant", "casual",  "pro",     "handmade", "organic",
    "family",  "gift",    "travel",  "wellness", "gaming",  "artistic"};
static const char *const AGES[MARKET_N_AGE] = {"18-24", "25-34", "35-44", "45-54", "55-64", "65+"};
static const char *const GENDERS[MARKET_N_GENDER] = {"f", "m", "x"};
static const double AGE_W[MARKET_N_AGE] = {0.14, 0.24, 0.22, 0.18, 0.13, 0.09};
static const double GENDER_W[MARKET_N_GENDER] = {0.48, 0.48, 0.04};
static const double REGION_W[MARKET_N_REGION] = {0.20, 0.16, 0.14, 0.12, 0.12, 0.10, 0.08, 0.08};

/* Component variances of the item latent (per dimension): shared style part,
 * price, industry category, brand, item noise. The shared (transferable)
 * part carries about two thirds. */
#define VAR_STYLE 0.50
#define VAR_PRICE_DIR 0.25 /* price band b contributes (b-2)/2 * price direction */
#define VAR_PRICE 0.05
#define VAR_CAT 0.25
#define VAR_BRAND 0.08
#define VAR_ITEM 0.04
#define MIN_INTER 3
#define MAX_INTER 300
#define T0 1577836800LL /* 2020-01-01T00:00:00Z */
#define DAY 86400.0

void market_cfg_default(market_cfg_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->seed = 42;
  cfg->n_industries = 8;
  cfg->n_users = 4000;
  cfg->scale = 1.0;
  cfg->dim = 8;
  cfg->activity = 1.0;
  cfg->taste_gain = 3.0;
  cfg->beta_pop = 1.0;
  cfg->twist = 0.3;
  cfg->demo_share = 0.6;
}

int market_cfg_validate(const market_cfg_t *c, fm_err *err) {
  if (c->n_industries < 1 || c->n_industries > MARKET_MAX_PLATFORMS)
    return fm_fail(err, "market: n_industries = %u, expected 1..%d", c->n_industries,
                   MARKET_MAX_PLATFORMS);
  if (!(c->scale > 0.0 && c->scale <= 1000.0))
    return fm_fail(err, "market: scale = %g, expected > 0 and <= 1000", c->scale);
  double users = (double)c->n_users * c->scale;
  if (c->n_users < 1 || users < 1.0 || users > 5e7)
    return fm_fail(err, "market: n_users * scale = %u * %g, expected 1..5e7", c->n_users,
                   c->scale);
  if (c->dim < 1 || c->dim > MARKET_MAX_DIM)
    return fm_fail(err, "market: dim = %u, expected 1..%d", c->dim, MARKET_MAX_DIM);
  if (!(c->activity > 0.0 && c->activity <= 100.0))
    return fm_fail(err, "market: activity = %g, expected > 0 and <= 100", c->activity);
  if (!(c->taste_gain >= 0.0 && c->taste_gain <= 100.0))
    return fm_fail(err, "market: taste_gain = %g, expected 0..100", c->taste_gain);
  if (!(c->beta_pop >= 0.0 && c->beta_pop <= 100.0))
    return fm_fail(err, "market: beta_pop = %g, expected 0..100", c->beta_pop);
  if (!(c->twist >= 0.0 && c->twist <= 100.0))
    return fm_fail(err, "market: twist = %g, expected 0..100", c->twist);
  if (!(c->demo_share >= 0.0 && c->demo_share <= 1.0))
    return fm_fail(err, "market: demo_share = %g, expected 0..1", c->demo_share);
  return 0;
}

const char *market_industry_name(uint32_t p) {
  static char names[MARKET_MAX_PLATFORMS][24]; /* built on first use; deterministic */
  if (p >= MARKET_MAX_PLATFORMS) return "?";
  if (p < MARKET_MAX_INDUSTRIES) return PROFILES[p].name;
  if (!names[p][0])
    snprintf(names[p], sizeof names[p], "%s-%u", PROFILES[p % MARKET_MAX_INDUSTRIES].name,
             p / MARKET_MAX_INDUSTRIES + 1);
  return names[p];
}

const char *market_style_name(uint32_t s) { return s < MARKET_N_STYLES ? STYLES[s] : "?"; }

uint32_t market_default_heldout(const market_cfg_t *cfg) {
  uint32_t n = cfg->n_industries, best = 0;
  if (n > MARKET_MAX_INDUSTRIES) n = MARKET_MAX_INDUSTRIES; /* a named industry */
  for (uint32_t p = 1; p < n; p++)
    if (PROFILES[p].join * PROFILES[p].mean < PROFILES[best].join * PROFILES[best].mean) best = p;
  return best;
}

/* --- random helpers ------------------------------------------------------ */

static uint32_t pick_weighted(rng_t *r, const double *w, uint32_t n) {
  double tot = 0, x;
  for (uint32_t i = 0; i < n; i++) tot += w[i];
  x = rng_double(r) * tot;
  for (uint32_t i = 0; i < n; i++) {
    if (x < w[i]) return i;
    x -= w[i];
  }
  return n - 1;
}

static void fill_normal(rng_t *r, double *v, size_t n, double sd) {
  for (size_t i = 0; i < n; i++) v[i] = sd * rng_normal(r);
}

/* Standard Gumbel draw from a uniform strictly inside (0, 1). */
static double gumbel(rng_t *r) {
  double u = ((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  return -log(-log(u));
}

/* --- the shared world and user population -------------------------------- */

typedef struct world {
  uint32_t k, n_users;
  double *eff_age, *eff_gender, *eff_region; /* (levels, k) demographic effects */
  double *style;                             /* (MARKET_N_STYLES, k) */
  double *price;                             /* (MARKET_N_PRICE, k) */
  uint8_t *age, *gender, *region;            /* (n_users) */
  double *act;                               /* (n_users) activity, lognormal mean 1 */
  double *taste;                             /* (n_users, k) t_u */
  double *demo;                              /* (n_users, k) demographic part of t_u */
} world_t;

static void world_free(world_t *w) {
  free(w->eff_age);
  free(w->eff_gender);
  free(w->eff_region);
  free(w->style);
  free(w->price);
  free(w->age);
  free(w->gender);
  free(w->region);
  free(w->act);
  free(w->taste);
  free(w->demo);
  memset(w, 0, sizeof *w);
}

static uint32_t scaled_users(const market_cfg_t *c) {
  double n = floor((double)c->n_users * c->scale + 0.5);
  return n < 1 ? 1 : (uint32_t)n;
}

static int world_build(world_t *w, const market_cfg_t *c, fm_err *err) {
  memset(w, 0, sizeof *w);
  uint32_t k = c->dim, n = scaled_users(c);
  w->k = k;
  w->n_users = n;
  w->eff_age = malloc(MARKET_N_AGE * k * sizeof(double));
  w->eff_gender = malloc(MARKET_N_GENDER * k * sizeof(double));
  w->eff_region = malloc(MARKET_N_REGION * k * sizeof(double));
  w->style = malloc(MARKET_N_STYLES * k * sizeof(double));
  w->price = malloc(MARKET_N_PRICE * k * sizeof(double));
  w->age = malloc(n);
  w->gender = malloc(n);
  w->region = malloc(n);
  w->act = malloc(n * sizeof(double));
  w->taste = malloc((size_t)n * k * sizeof(double));
  w->demo = malloc((size_t)n * k * sizeof(double));
  if (!w->eff_age || !w->eff_gender || !w->eff_region || !w->style || !w->price || !w->age ||
      !w->gender || !w->region || !w->act || !w->taste || !w->demo) {
    world_free(w);
    return fm_fail(err, "market: out of memory for %u users", n);
  }
  rng_t r;
  rng_seed(&r, c->seed, RNG_MARKET, 0);
  /* Demographic effects split the demographic share of the taste variance:
   * age 50%, region 30%, gender 20%. */
  double rho = c->demo_share;
  fill_normal(&r, w->eff_age, MARKET_N_AGE * k, sqrt(0.5 * rho));
  fill_normal(&r, w->eff_gender, MARKET_N_GENDER * k, sqrt(0.2 * rho));
  fill_normal(&r, w->eff_region, MARKET_N_REGION * k, sqrt(0.3 * rho));
  fill_normal(&r, w->style, MARKET_N_STYLES * k, sqrt(VAR_STYLE));
  double pdir[MARKET_MAX_DIM];
  fill_normal(&r, pdir, k, sqrt(VAR_PRICE_DIR));
  for (uint32_t b = 0; b < MARKET_N_PRICE; b++)
    for (uint32_t d = 0; d < k; d++)
      w->price[b * k + d] = (b - 2.0) / 2.0 * pdir[d] + sqrt(VAR_PRICE) * rng_normal(&r);

  rng_seed(&r, c->seed, RNG_MARKET, 1);
  double sd_noise = sqrt(1.0 - rho);
  for (uint32_t u = 0; u < n; u++) {
    w->age[u] = (uint8_t)pick_weighted(&r, AGE_W, MARKET_N_AGE);
    w->gender[u] = (uint8_t)pick_weighted(&r, GENDER_W, MARKET_N_GENDER);
    w->region[u] = (uint8_t)pick_weighted(&r, REGION_W, MARKET_N_REGION);
    w->act[u] = exp(0.5 * rng_normal(&r) - 0.125);
    for (uint32_t d = 0; d < k; d++) {
      double dm = w->eff_age[w->age[u] * k + d] + w->eff_gender[w->gender[u] * k + d] +
                  w->eff_region[w->region[u] * k + d];
      w->demo[(size_t)u * k + d] = dm;
      w->taste[(size_t)u * k + d] = dm + sd_noise * rng_normal(&r);
    }
  }
  return 0;
}

/* --- an industry's catalogue --------------------------------------------- */

typedef struct industry {
  uint32_t n_items, n_cats, n_brands;
  uint32_t *cat, *brand, *price; /* (n_items) */
  int32_t *style1, *style2;      /* (n_items) style tags; style2 = -1 if none */
  double *a;                     /* (n_items, k) item latent a_i */
  double *shared;                /* (n_items, k) its untwisted shared part */
  double *logpop;                /* (n_items) log pop_i (Zipf) */
} industry_t;

static void industry_free(industry_t *in) {
  free(in->cat);
  free(in->brand);
  free(in->price);
  free(in->style1);
  free(in->style2);
  free(in->a);
  free(in->shared);
  free(in->logpop);
  memset(in, 0, sizeof *in);
}

static uint32_t scaled(uint32_t base, double scale, uint32_t lo) {
  double n = floor(base * scale + 0.5);
  return n < lo ? lo : (uint32_t)n;
}

static int industry_build(industry_t *in, const market_cfg_t *c, const world_t *w, uint32_t p,
                          fm_err *err) {
  memset(in, 0, sizeof *in);
  const profile_t prof = profile_of(p), *pr = &prof;
  uint32_t k = w->k, ni = scaled(pr->n_items, c->scale, 20), nc = pr->n_cats;
  uint32_t nb = scaled(pr->n_brands, c->scale, nc);
  in->n_items = ni;
  in->n_cats = nc;
  in->n_brands = nb;
  in->cat = malloc(ni * sizeof(uint32_t));
  in->brand = malloc(ni * sizeof(uint32_t));
  in->price = malloc(ni * sizeof(uint32_t));
  in->style1 = malloc(ni * sizeof(int32_t));
  in->style2 = malloc(ni * sizeof(int32_t));
  in->a = malloc((size_t)ni * k * sizeof(double));
  in->shared = malloc((size_t)ni * k * sizeof(double));
  in->logpop = malloc(ni * sizeof(double));
  double *twist = malloc((size_t)k * k * sizeof(double));
  double *catv = malloc((size_t)nc * k * sizeof(double));
  double *brandv = malloc((size_t)nb * k * sizeof(double));
  uint32_t *perm = malloc(ni * sizeof(uint32_t));
  uint32_t(*pref)[3] = malloc(nc * sizeof *pref);
  double *pmean = malloc(nc * sizeof(double));
  if (!in->cat || !in->brand || !in->price || !in->style1 || !in->style2 || !in->a ||
      !in->shared || !in->logpop || !twist || !catv || !brandv || !perm || !pref || !pmean) {
    free(twist), free(catv), free(brandv), free(perm), free(pref), free(pmean);
    industry_free(in);
    return fm_fail(err, "market: out of memory for industry %s (%u items)", pr->name, ni);
  }
  rng_t r;
  rng_seed(&r, c->seed, RNG_MARKET, stream_id(100, p));
  /* Twist M = I + tau G / sqrt(k): the shared map, bent a little per industry. */
  for (uint32_t i = 0; i < k; i++)
    for (uint32_t j = 0; j < k; j++)
      twist[i * k + j] = (i == j) + c->twist * rng_normal(&r) / sqrt((double)k);
  fill_normal(&r, catv, (size_t)nc * k, sqrt(VAR_CAT));
  fill_normal(&r, brandv, (size_t)nb * k, sqrt(VAR_BRAND));
  /* Each category leans to three styles and a price level. */
  for (uint32_t cc = 0; cc < nc; cc++) {
    for (int j = 0; j < 3; j++) {
      uint32_t s;
      int dup;
      do {
        s = rng_below(&r, MARKET_N_STYLES);
        dup = 0;
        for (int q = 0; q < j; q++) dup |= pref[cc][q] == s;
      } while (dup);
      pref[cc][j] = s;
    }
    pmean[cc] = 0.5 + 3.0 * rng_double(&r);
  }
  for (uint32_t i = 0; i < ni; i++) {
    uint32_t cc = rng_below(&r, nc);
    uint32_t per_cat = (nb - cc + nc - 1) / nc; /* brands b with b % nc == cc */
    uint32_t b = cc + nc * rng_below(&r, per_cat);
    long pb = lround(pmean[cc] + 0.8 * rng_normal(&r));
    uint32_t pband = pb < 0 ? 0 : pb > MARKET_N_PRICE - 1 ? MARKET_N_PRICE - 1 : (uint32_t)pb;
    int32_t s1 = rng_double(&r) < 0.75 ? (int32_t)pref[cc][rng_below(&r, 3)]
                                       : (int32_t)rng_below(&r, MARKET_N_STYLES);
    int32_t s2 = -1;
    if (rng_double(&r) < 0.5) {
      s2 = (int32_t)rng_below(&r, MARKET_N_STYLES - 1);
      if (s2 >= s1) s2++;
    }
    in->cat[i] = cc;
    in->brand[i] = b;
    in->price[i] = pband;
    in->style1[i] = s1;
    in->style2[i] = s2;
    /* a_i = M (styles / sqrt(#styles) + price_b) + cat_c + brand_b + noise */
    double inv = s2 >= 0 ? 1.0 / sqrt(2.0) : 1.0;
    double *shared = in->shared + (size_t)i * k;
    for (uint32_t d = 0; d < k; d++) {
      double v = w->style[s1 * k + d];
      if (s2 >= 0) v += w->style[s2 * k + d];
      shared[d] = v * inv + w->price[pband * k + d];
    }
    double *ai = in->a + (size_t)i * k;
    for (uint32_t d = 0; d < k; d++) {
      double v = 0;
      for (uint32_t j = 0; j < k; j++) v += twist[d * k + j] * shared[j];
      ai[d] = v + catv[cc * k + d] + brandv[b * k + d] + sqrt(VAR_ITEM) * rng_normal(&r);
    }
  }
  /* Zipf popularity over a random ranking of the items. */
  for (uint32_t i = 0; i < ni; i++) perm[i] = i;
  for (uint32_t i = ni - 1; i > 0; i--) {
    uint32_t j = rng_below(&r, i + 1), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  for (uint32_t rank = 0; rank < ni; rank++)
    in->logpop[perm[rank]] = -pr->alpha * log(rank + 1.0);
  free(twist), free(catv), free(brandv), free(perm), free(pref), free(pmean);
  return 0;
}

/* --- interactions --------------------------------------------------------- */

typedef struct keyed {
  double key;
  uint32_t item;
} keyed_t;

/* Min-heap on (key, then larger item id is "smaller") so the kept set is the
 * top n by key with ties to the lower id, independent of visiting order. */
static int kless(const keyed_t *a, const keyed_t *b) {
  return a->key < b->key || (a->key == b->key && a->item > b->item);
}
static void heap_down(keyed_t *h, uint32_t n, uint32_t i) {
  for (;;) {
    uint32_t l = 2 * i + 1, m = i;
    if (l < n && kless(&h[l], &h[m])) m = l;
    if (l + 1 < n && kless(&h[l + 1], &h[m])) m = l + 1;
    if (m == i) return;
    keyed_t t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

typedef struct growu32 {
  uint32_t *v;
  size_t n, cap;
} growu32_t;

static int grow_push(growu32_t *g, uint32_t x) {
  if (g->n == g->cap) {
    size_t nc = g->cap ? 2 * g->cap : 1024;
    uint32_t *nv = realloc(g->v, nc * sizeof *nv);
    if (!nv) return -1;
    g->v = nv;
    g->cap = nc;
  }
  g->v[g->n++] = x;
  return 0;
}

int market_generate(shard_t *out, market_truth_t *truth, const market_cfg_t *c, uint32_t p,
                    fm_err *err) {
  if (out) memset(out, 0, sizeof *out);
  if (truth) memset(truth, 0, sizeof *truth);
  if (market_cfg_validate(c, err)) return -1;
  if (p >= c->n_industries)
    return fm_fail(err, "market: platform %u out of range (the market has %u industries)", p,
                   c->n_industries);
  const profile_t prof = profile_of(p), *pr = &prof;
  world_t w;
  industry_t in;
  if (world_build(&w, c, err)) return -1;
  if (industry_build(&in, c, &w, p, err)) {
    world_free(&w);
    return -1;
  }
  uint32_t k = w.k, ni = in.n_items, nu_all = w.n_users;
  uint32_t cap = ni / 3 < MAX_INTER ? ni / 3 : MAX_INTER;
  if (cap < MIN_INTER) cap = MIN_INTER;
  double gain = c->taste_gain / sqrt((double)k);
  growu32_t users = {0}, items = {0}, offs = {0};
  int64_t *ts = NULL;
  size_t ts_cap = 0;
  keyed_t *heap = malloc((cap + 1) * sizeof *heap);
  double *tu = malloc(k * sizeof(double));
  int rc = -1;
  if (!heap || !tu || grow_push(&offs, 0)) goto oom;

  rng_t r;
  rng_seed(&r, c->seed, RNG_MARKET, stream_id(200, p));
  for (uint32_t g = 0; g < nu_all; g++) {
    double act = w.act[g];
    double pj = pr->join * act;
    if (pj > 0.95) pj = 0.95;
    double uj = rng_double(&r);
    if (uj >= pj) continue;
    double mean = pr->mean * c->activity * sqrt(act);
    double sig = 0.8, mu = log(mean) - 0.5 * sig * sig;
    double nf = floor(exp(mu + sig * rng_normal(&r)) + 0.5);
    uint32_t n = nf < MIN_INTER ? MIN_INTER : nf > cap ? cap : (uint32_t)nf;
    if (n > ni) n = ni;
    /* Sequential sampling without replacement from softmax(utility) is the
     * top n of utility + Gumbel noise (the Gumbel-top-k trick). */
    for (uint32_t d = 0; d < k; d++) tu[d] = gain * w.taste[(size_t)g * k + d];
    uint32_t hn = 0;
    for (uint32_t i = 0; i < ni; i++) {
      const double *ai = in.a + (size_t)i * k;
      double util = c->beta_pop * in.logpop[i];
      for (uint32_t d = 0; d < k; d++) util += tu[d] * ai[d];
      keyed_t kv = {util + gumbel(&r), i};
      if (hn < n) {
        heap[hn++] = kv;
        if (hn == n)
          for (uint32_t q = n / 2 + 1; q-- > 0;) heap_down(heap, n, q);
      } else if (kless(&heap[0], &kv)) {
        heap[0] = kv;
        heap_down(heap, n, 0);
      }
    }
    /* The set is the user's choice; its order in time is a random
     * permutation, so a temporal split holds out an exchangeable sample. */
    for (uint32_t q = n - 1; q > 0; q--) {
      uint32_t j = rng_below(&r, q + 1);
      keyed_t t = heap[q];
      heap[q] = heap[j];
      heap[j] = t;
    }
    if (items.n + n > ts_cap) {
      size_t nc = ts_cap ? 2 * ts_cap : 4096;
      while (nc < items.n + n) nc *= 2;
      int64_t *nt = realloc(ts, nc * sizeof *nt);
      if (!nt) goto oom;
      ts = nt;
      ts_cap = nc;
    }
    /* Timestamps: a start in the first year, then gaps of about two days. */
    double t = (double)T0 + 365.0 * DAY * rng_double(&r);
    for (uint32_t q = 0; q < n; q++) {
      t += 1.0 + floor(-log(1.0 - rng_double(&r)) * 2.0 * DAY);
      ts[items.n] = (int64_t)t;
      if (grow_push(&items, heap[q].item)) goto oom;
    }
    if (grow_push(&users, g) || grow_push(&offs, (uint32_t)items.n)) goto oom;
  }
  if (items.n > UINT32_MAX) {
    fm_fail(err, "market: industry %s has more than 2^32 interactions; lower scale", pr->name);
    goto done;
  }

  uint32_t nu = (uint32_t)users.n, nx = (uint32_t)items.n;
  if (out) {
    uint32_t n_ifeat = 0;
    for (uint32_t i = 0; i < ni; i++) n_ifeat += 4 + (in.style2[i] >= 0);
    if (shard_alloc(out, nu, ni, nx, 3 * nu, n_ifeat, err)) goto done;
    snprintf(out->name, sizeof out->name, "%s", pr->name);
    out->platform = p;
    memcpy(out->user_ptr, offs.v, ((size_t)nu + 1) * sizeof(uint32_t));
    if (nx) {
      memcpy(out->inter_item, items.v, (size_t)nx * sizeof(uint32_t));
      memcpy(out->inter_ts, ts, (size_t)nx * sizeof(int64_t));
    }
    char v[96];
    for (uint32_t u = 0; u < nu; u++) {
      uint32_t g = users.v[u], *f = out->ufeat + 3 * u;
      out->user_gid[u] = g;
      f[0] = fm_hash_feature("age", AGES[w.age[g]]);
      f[1] = fm_hash_feature("gender", GENDERS[w.gender[g]]);
      snprintf(v, sizeof v, "r%u", (unsigned)w.region[g]);
      f[2] = fm_hash_feature("region", v);
      out->ufeat_ptr[u + 1] = 3 * (u + 1);
    }
    uint32_t j = 0;
    for (uint32_t i = 0; i < ni; i++) {
      snprintf(v, sizeof v, "%s/%u", pr->name, in.cat[i]);
      out->ifeat[j++] = fm_hash_feature("cat", v);
      snprintf(v, sizeof v, "%s/b%u", pr->name, in.brand[i]);
      out->ifeat[j++] = fm_hash_feature("brand", v);
      snprintf(v, sizeof v, "%u", in.price[i]);
      out->ifeat[j++] = fm_hash_feature("price", v);
      out->ifeat[j++] = fm_hash_feature("style", STYLES[in.style1[i]]);
      if (in.style2[i] >= 0) out->ifeat[j++] = fm_hash_feature("style", STYLES[in.style2[i]]);
      out->ifeat_ptr[i + 1] = j;
    }
    if (shard_validate(out, err)) {
      fm_wrap(err, "market: generated shard %s is inconsistent (bug)", pr->name);
      shard_free(out);
      goto done;
    }
  }
  if (truth) {
    uint32_t dim = k + 1;
    truth->n_users = nu;
    truth->n_items = ni;
    truth->dim = dim;
    truth->user_vec = malloc(((size_t)nu * dim + 1) * sizeof(float));
    truth->demo_vec = malloc(((size_t)nu * dim + 1) * sizeof(float));
    truth->item_vec = malloc(((size_t)ni * dim + 1) * sizeof(float));
    truth->shared_vec = malloc(((size_t)ni * dim + 1) * sizeof(float));
    if (!truth->user_vec || !truth->demo_vec || !truth->item_vec || !truth->shared_vec) {
      market_truth_free(truth);
      if (out) shard_free(out);
      goto oom;
    }
    for (uint32_t u = 0; u < nu; u++) {
      uint32_t g = users.v[u];
      for (uint32_t d = 0; d < k; d++) {
        truth->user_vec[(size_t)u * dim + d] = (float)(gain * w.taste[(size_t)g * k + d]);
        truth->demo_vec[(size_t)u * dim + d] = (float)(gain * w.demo[(size_t)g * k + d]);
      }
      truth->user_vec[(size_t)u * dim + k] = 1.0f;
      truth->demo_vec[(size_t)u * dim + k] = 1.0f;
    }
    for (uint32_t i = 0; i < ni; i++) {
      for (uint32_t d = 0; d < k; d++) {
        truth->item_vec[(size_t)i * dim + d] = (float)in.a[(size_t)i * k + d];
        truth->shared_vec[(size_t)i * dim + d] = (float)in.shared[(size_t)i * k + d];
      }
      truth->item_vec[(size_t)i * dim + k] = (float)(c->beta_pop * in.logpop[i]);
      truth->shared_vec[(size_t)i * dim + k] = (float)(c->beta_pop * in.logpop[i]);
    }
  }
  rc = 0;
  goto done;
oom:
  fm_fail(err, "market: out of memory generating industry %s", pr->name);
done:
  free(heap);
  free(tu);
  free(ts);
  free(users.v);
  free(items.v);
  free(offs.v);
  industry_free(&in);
  world_free(&w);
  return rc;
}

int market_platform(shard_t *out, const market_cfg_t *cfg, uint32_t platform, fm_err *err) {
  return market_generate(out, NULL, cfg, platform, err);
}

int market_truth(market_truth_t *t, const market_cfg_t *cfg, uint32_t platform, fm_err *err) {
  return market_generate(NULL, t, cfg, platform, err);
}

void market_truth_free(market_truth_t *t) {
  if (!t) return;
  free(t->user_vec);
  free(t->item_vec);
  free(t->demo_vec);
  free(t->shared_vec);
  memset(t, 0, sizeof *t);
}

void market_true_scores(float *out, const market_truth_t *t, uint32_t user) {
  const float *uv = t->user_vec + (size_t)user * t->dim;
  for (uint32_t i = 0; i < t->n_items; i++) {
    const float *iv = t->item_vec + (size_t)i * t->dim;
    float s = 0;
    for (uint32_t d = 0; d < t->dim; d++) s += uv[d] * iv[d];
    out[i] = s;
  }
}

int market_write(const market_cfg_t *cfg, const char *dir, fm_err *err) {
  if (market_cfg_validate(cfg, err)) return -1;
  if (fm_mkdir_p(dir, err)) return fm_wrap(err, "market");
  manifest_t m;
  if (manifest_init(&m, cfg->n_industries, err)) return -1;
  char path[4096];
  for (uint32_t p = 0; p < cfg->n_industries; p++) {
    manifest_entry_t *e = &m.e[p];
    snprintf(e->name, sizeof e->name, "%s", market_industry_name(p));
    snprintf(e->file, sizeof e->file, "p%02u-%s.shard", p, e->name);
    shard_t s;
    if (market_platform(&s, cfg, p, err)) goto fail;
    e->n_users = s.n_users;
    e->n_items = s.n_items;
    e->n_inter = s.n_inter;
    int bad = manifest_path(path, sizeof path, dir, e->file, err) || shard_write(&s, path, err);
    shard_free(&s);
    if (bad) goto fail;
  }
  char comment[256];
  snprintf(comment, sizeof comment,
           "synthetic market: seed=%llu n_industries=%u n_users=%u scale=%g dim=%u activity=%g "
           "taste_gain=%g beta_pop=%g twist=%g demo_share=%g",
           (unsigned long long)cfg->seed, cfg->n_industries, cfg->n_users, cfg->scale, cfg->dim,
           cfg->activity, cfg->taste_gain, cfg->beta_pop, cfg->twist, cfg->demo_share);
  if (manifest_path(path, sizeof path, dir, MANIFEST_FILE, err) ||
      manifest_write(&m, path, comment, err))
    goto fail;
  manifest_free(&m);
  return 0;
fail:
  manifest_free(&m);
  return -1;
}
