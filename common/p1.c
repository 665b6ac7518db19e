/* common/p1.c: protocol P1 baselines and the pooled matrix (see p1.h). */
#include "common/p1.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/baselines.h"
#include "common/dataset.h"

/* ---------------- the K list ---------------- */

int p1_parse_ks(uint32_t *ks, uint32_t *n, uint32_t max, const char *list, fm_err *err) {
  *n = 0;
  if (!list || !*list) return fm_fail(err, "--ks: empty list (expected e.g. 1,5,10)");
  const char *p = list;
  for (;;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    while (len && (*p == ' ' || *p == '\t')) p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
    if (len == 0) return fm_fail(err, "--ks '%s': empty value (expected e.g. 1,5,10)", list);
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
      if (p[i] < '0' || p[i] > '9')
        return fm_fail(err, "--ks '%s': '%.*s' is not a positive integer", list, (int)len, p);
      v = v * 10 + (uint64_t)(p[i] - '0');
      if (v > P1_K_MAX) break;
    }
    if (v < 1 || v > P1_K_MAX)
      return fm_fail(err, "--ks '%s': K = %.*s is out of range [1, %u]", list, (int)len, p,
                     P1_K_MAX);
    for (uint32_t i = 0; i < *n; i++)
      if (ks[i] == v) return fm_fail(err, "--ks '%s': K = %u is given twice", list, (unsigned)v);
    if (*n >= max) return fm_fail(err, "--ks '%s': more than %u values", list, max);
    ks[(*n)++] = (uint32_t)v;
    if (!end) break;
    p = end + 1;
  }
  return 0;
}

/* ---------------- pooled matrix ---------------- */

void p1_pooled_free(p1_pooled_t *pm) {
  if (!pm) return;
  free(pm->ptr), free(pm->items), free(pm->gid), free(pm->item_off);
  free(pm->hist_ptr), free(pm->hist);
  memset(pm, 0, sizeof *pm);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Row of gid g in the ascending pm->gid, or UINT32_MAX. */
static uint32_t pooled_row(const p1_pooled_t *pm, uint32_t g) {
  uint32_t lo = 0, hi = pm->n_users;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (pm->gid[mid] < g) lo = mid + 1;
    else hi = mid;
  }
  return lo < pm->n_users && pm->gid[lo] == g ? lo : UINT32_MAX;
}

static int pooled_uses(uint32_t s, uint32_t heldout, const uint8_t *pool) {
  return s == heldout || !pool || pool[s];
}

int p1_pooled_build(p1_pooled_t *pm, const shard_t *shards, uint32_t n_shards, uint32_t heldout,
                    const uint8_t *pool, const split_t *sp, fm_err *err) {
  memset(pm, 0, sizeof *pm);
  if (heldout >= n_shards)
    return fm_fail(err, "pooled matrix: held-out platform %u of %u", heldout, n_shards);
  const shard_t *h = &shards[heldout];
  if (h->n_inter > 0 && (!sp || !sp->tag))
    return fm_fail(err, "pooled matrix: no split of the held-out shard '%s'", h->name);
  for (uint32_t s = 0; s < n_shards; s++)
    if (pooled_uses(s, heldout, pool) && shards[s].n_users > 0 && !shards[s].user_gid)
      return fm_fail(err,
                     "pooled matrix: shard '%s' (platform %u) has no user_gid, so its users "
                     "cannot be joined with other industries",
                     shards[s].name, s);

  /* Item offsets and entry count, checked against 32-bit ids. */
  uint64_t off = h->n_items, nnz = 0;
  uint64_t *key = NULL;
  uint32_t *tmp = NULL;
  uint8_t *seen = NULL;
  pm->n_shards = n_shards;
  pm->item_off = malloc(((size_t)n_shards + 1) * sizeof *pm->item_off);
  if (!pm->item_off) goto oom;
  for (uint32_t j = 0; j < h->n_inter; j++) nnz += sp->tag[j] == SPLIT_TRAIN;
  for (uint32_t s = 0; s < n_shards; s++) {
    pm->item_off[s] = UINT32_MAX;
    if (s == heldout) pm->item_off[s] = 0;
    if (s == heldout || !pooled_uses(s, heldout, pool)) continue;
    pm->item_off[s] = (uint32_t)(off < UINT32_MAX ? off : UINT32_MAX);
    off += shards[s].n_items;
    nnz += shards[s].n_inter;
  }
  if (off >= UINT32_MAX || nnz >= UINT32_MAX) {
    p1_pooled_free(pm);
    return fm_fail(err, "pooled matrix: %llu items, %llu interactions: more than 32-bit ids allow",
                   (unsigned long long)off, (unsigned long long)nnz);
  }
  pm->n_items = (uint32_t)off;

  /* Entries keyed (gid, sequence): sorting groups them by user and keeps the
   * platform-then-time order inside a user. */
  key = malloc((nnz + 1) * sizeof *key);
  tmp = malloc((nnz + 1) * sizeof *tmp);
  if (!key || !tmp) goto oom;
  uint32_t q = 0;
  for (uint32_t s = 0; s < n_shards; s++) {
    const shard_t *sh = &shards[s];
    if (!pooled_uses(s, heldout, pool)) continue;
    for (uint32_t u = 0; u < sh->n_users; u++)
      for (uint32_t j = sh->user_ptr[u]; j < sh->user_ptr[u + 1]; j++) {
        if (s == heldout && sp->tag[j] != SPLIT_TRAIN) continue;
        key[q] = (uint64_t)sh->user_gid[u] << 32 | q;
        tmp[q++] = pm->item_off[s] + sh->inter_item[j];
      }
  }
  qsort(key, q, sizeof *key, cmp_u64);
  uint32_t n_rows = 0;
  for (uint32_t e = 0; e < q; e++)
    n_rows += e == 0 || (key[e] >> 32) != (key[e - 1] >> 32);
  pm->ptr = malloc(((size_t)n_rows + 1) * sizeof *pm->ptr);
  pm->items = malloc(((size_t)q + 1) * sizeof *pm->items);
  pm->gid = malloc(((size_t)n_rows + 1) * sizeof *pm->gid);
  seen = calloc((size_t)pm->n_items + 1, 1);
  if (!pm->ptr || !pm->items || !pm->gid || !seen) goto oom;
  uint32_t r = 0;
  pm->ptr[0] = 0;
  for (uint32_t e = 0; e < q; e++) {
    uint32_t g = (uint32_t)(key[e] >> 32);
    if (r == 0 || g != pm->gid[r - 1]) {
      pm->ptr[r] = e;
      pm->gid[r++] = g;
    }
    uint32_t it = tmp[key[e] & 0xffffffffu];
    pm->items[e] = it;
    if (!seen[it]) seen[it] = 1, pm->n_active++;
  }
  pm->ptr[n_rows] = q;
  pm->n_users = n_rows;
  free(key), free(tmp), free(seen);
  key = NULL, tmp = NULL, seen = NULL; /* not freed twice by the error path below */

  /* Each held-out user's pooled row, copied out in local user order. */
  pm->n_heldout_users = h->n_users;
  pm->hist_ptr = malloc(((size_t)h->n_users + 1) * sizeof *pm->hist_ptr);
  if (!pm->hist_ptr) goto oom;
  uint64_t nh = 0;
  pm->hist_ptr[0] = 0;
  for (uint32_t u = 0; u < h->n_users; u++) {
    uint32_t row = h->user_gid ? pooled_row(pm, h->user_gid[u]) : UINT32_MAX;
    if (row != UINT32_MAX) nh += pm->ptr[row + 1] - pm->ptr[row];
    if (nh >= UINT32_MAX) {
      p1_pooled_free(pm);
      return fm_fail(err, "pooled matrix: held-out histories exceed 2^32 entries");
    }
    pm->hist_ptr[u + 1] = (uint32_t)nh;
  }
  pm->hist = malloc((nh + 1) * sizeof *pm->hist);
  if (!pm->hist) goto oom;
  for (uint32_t u = 0; u < h->n_users; u++) {
    uint32_t row = h->user_gid ? pooled_row(pm, h->user_gid[u]) : UINT32_MAX;
    if (row == UINT32_MAX) continue;
    memcpy(pm->hist + pm->hist_ptr[u], pm->items + pm->ptr[row],
           (size_t)(pm->ptr[row + 1] - pm->ptr[row]) * sizeof *pm->hist);
  }
  return 0;
oom:
  free(key), free(tmp), free(seen);
  p1_pooled_free(pm);
  return fm_fail(err, "pooled matrix: out of memory (%llu interactions)", (unsigned long long)nnz);
}

/* ---------------- the baselines ---------------- */

const char *p1_method_name(int method) {
  static const char *const NAMES[P1_N_METHODS] = {"popularity", "itemknn", "ease", "ease-pooled"};
  return method >= 0 && method < P1_N_METHODS ? NAMES[method] : "?";
}

void p1_opts_default(p1_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->ease_lambda = BASELINE_EASE_LAMBDA;
  o->boot = 1000;
  o->seed = 1;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void result_skip(p1_result_t *r, const char *why) {
  r->done = 0;
  snprintf(r->note, sizeof r->note, "%s", why);
  r->ndcg_lo = r->ndcg_hi = NAN;
}

static void result_finish(p1_result_t *r, const metrics_user_t *per_user, uint32_t n_eval,
                          const p1_opts_t *o, double t0) {
  r->done = 1;
  metrics_bootstrap_ndcg(&r->ndcg_lo, &r->ndcg_hi, per_user, n_eval, o->boot, o->seed);
  r->seconds = now_s() - t0;
}

/* Gram size and memory of a dense EASE fit, for the skip note and the log. */
static double ease_gb(uint32_t m) { return (double)m * m * 4 / 1e9; }

static int run_pooled(p1_result_t *r, p1_info_t *info, metrics_user_t *per_user,
                      const dataset_t *ds, const shard_t *shards, uint32_t n_shards,
                      uint32_t heldout, const split_t *sp, const p1_opts_t *o, fm_err *err) {
  double t0 = now_s();
  for (uint32_t s = 0; s < n_shards; s++)
    if (pooled_uses(s, heldout, o->pool) && shards[s].n_users > 0 && !shards[s].user_gid) {
      char why[200];
      snprintf(why, sizeof why, "not computed: industry %s has no user ids to join across industries",
               shards[s].name);
      result_skip(r, why);
      return 0;
    }
  p1_pooled_t pm;
  if (p1_pooled_build(&pm, shards, n_shards, heldout, o->pool, sp, err)) return -1;
  info->pooled_users = pm.n_users;
  info->pooled_items = pm.n_items;
  info->pooled_active = pm.n_active;
  if (pm.n_active > BASELINE_EASE_MAX_ITEMS) {
    char why[256];
    snprintf(why, sizeof why,
             "not computed: the pooled catalogue has %u items, above the dense EASE limit of %u "
             "(would need %.1f GB)",
             pm.n_active, BASELINE_EASE_MAX_ITEMS, ease_gb(pm.n_active));
    result_skip(r, why);
    p1_pooled_free(&pm);
    return 0;
  }
  if (o->log) {
    fprintf(o->log, "  ease-pooled: %u users x %u items (%.2f GB dense), fitting...\n", pm.n_users,
            pm.n_active, ease_gb(pm.n_active));
    fflush(o->log);
  }
  baseline_ease_t ease;
  int rc = baseline_ease_fit_csr(&ease, pm.n_users, pm.n_items, pm.ptr, pm.items, o->ease_lambda, err);
  if (rc == 0) {
    /* The held-out dataset, with each user's history replaced by the pooled row:
     * exclusions and truth stay the held-out ones. */
    dataset_t view = *ds;
    view.hist_ptr = pm.hist_ptr;
    view.hist = pm.hist;
    rc = baseline_ease_rank(&r->m, per_user, &ease, &view, err);
    if (rc == 0) result_finish(r, per_user, ds->n_eval, o, t0);
  }
  baseline_ease_free(&ease);
  p1_pooled_free(&pm);
  return rc ? fm_wrap(err, "ease-pooled") : 0;
}

int p1_baselines(p1_result_t res[P1_N_METHODS], p1_info_t *info, const shard_t *shards,
                 uint32_t n_shards, uint32_t heldout, uint32_t k, const p1_opts_t *o,
                 fm_err *err) {
  memset(res, 0, P1_N_METHODS * sizeof *res);
  memset(info, 0, sizeof *info);
  for (int m = 0; m < P1_N_METHODS; m++) res[m].ndcg_lo = res[m].ndcg_hi = NAN;
  if (heldout >= n_shards)
    return fm_fail(err, "P1: held-out platform %u of %u", heldout, n_shards);
  const shard_t *h = &shards[heldout];
  split_t sp = {0};
  dataset_t ds = {0};
  metrics_user_t *per_user = NULL;
  int rc = -1;
  if (split_kshot(&sp, h, k, err) || split_keep_users(&sp, h, o->heldout_users, o->seed, err) ||
      dataset_build(&ds, h, &sp, SPLIT_TEST, err))
    goto done;
  info->n_items = ds.n_items;
  info->n_eval = ds.n_eval;
  info->n_support = sp.n_train;
  info->n_query = sp.n_test;
  per_user = malloc(((size_t)ds.n_eval + 1) * sizeof *per_user);
  if (!per_user) {
    fm_fail(err, "P1: out of memory for %u users", ds.n_eval);
    goto done;
  }

  double t0 = now_s();
  if (metrics_rank_popularity(&res[P1_POPULARITY].m, per_user, &ds, err)) goto done;
  result_finish(&res[P1_POPULARITY], per_user, ds.n_eval, o, t0);

  t0 = now_s();
  baseline_knn_t knn;
  if (baseline_knn_fit(&knn, &ds, o->knn_topk, err)) goto done;
  int r2 = baseline_knn_rank(&res[P1_ITEMKNN].m, per_user, &knn, &ds, err);
  baseline_knn_free(&knn);
  if (r2) goto done;
  result_finish(&res[P1_ITEMKNN], per_user, ds.n_eval, o, t0);

  t0 = now_s();
  uint32_t active = 0;
  for (uint32_t i = 0; i < ds.n_items; i++) active += ds.item_pop[i] > 0;
  if (active > BASELINE_EASE_MAX_ITEMS) {
    char why[256];
    snprintf(why, sizeof why,
             "not computed: %u support items, above the dense EASE limit of %u (would need %.1f GB)",
             active, BASELINE_EASE_MAX_ITEMS, ease_gb(active));
    result_skip(&res[P1_EASE], why);
  } else {
    baseline_ease_t ease;
    if (baseline_ease_fit(&ease, &ds, o->ease_lambda, err)) goto done;
    r2 = baseline_ease_rank(&res[P1_EASE].m, per_user, &ease, &ds, err);
    baseline_ease_free(&ease);
    if (r2) goto done;
    result_finish(&res[P1_EASE], per_user, ds.n_eval, o, t0);
  }

  if (o->no_pooled) result_skip(&res[P1_EASE_POOLED], "not asked for");
  else if (run_pooled(&res[P1_EASE_POOLED], info, per_user, &ds, shards, n_shards, heldout, &sp,
                      o, err))
    goto done;
  rc = 0;
done:
  free(per_user);
  dataset_free(&ds);
  split_free(&sp);
  return rc ? fm_wrap(err, "%s, K = %u", h->name, k) : 0;
}
