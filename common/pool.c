/* common/pool.c: merge several shards into one (see pool.h). */
#include "common/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One interaction of a part: its user key (global id, or an unlinked user's
 * key above 2^32), time, renumbered item and its order of arrival. */
typedef struct {
  uint64_t key;
  int64_t ts;
  uint32_t item;
  uint32_t seq;
} rec_t;

/* One (part, user) occurrence: the user's key and tokens in that part. */
typedef struct {
  uint64_t key;
  uint32_t part;
  uint32_t tok_off, tok_n;
} occ_t;

typedef struct {
  void *p;
  size_t n, cap, size;
} vec_t;

static int vec_grow(vec_t *v, size_t extra) {
  if (v->n + extra <= v->cap) return 0;
  size_t cap = v->cap ? v->cap : 1024;
  while (cap < v->n + extra) cap *= 2;
  void *q = realloc(v->p, cap * v->size);
  if (!q) return -1;
  v->p = q;
  v->cap = cap;
  return 0;
}

static int cmp_occ(const void *a, const void *b) {
  const occ_t *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return (x->part > y->part) - (x->part < y->part);
}

/* After the keys became user indices: user, then time, then arrival. */
static int cmp_rec(const void *a, const void *b) {
  const rec_t *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
  return (x->seq > y->seq) - (x->seq < y->seq);
}

static uint32_t find_key(const uint64_t *keys, uint32_t n, uint64_t k) {
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (keys[mid] < k) lo = mid + 1;
    else hi = mid;
  }
  return lo; /* k is always present */
}

int pool_merge(shard_t *out, const char *name, uint32_t platform, uint32_t n_parts, pool_load_fn load,
               void *ctx, fm_err *err) {
  memset(out, 0, sizeof *out);
  if (n_parts == 0) return fm_fail(err, "pool: no platforms to pool");
  vec_t recs = {NULL, 0, 0, sizeof(rec_t)}, occs = {NULL, 0, 0, sizeof(occ_t)};
  vec_t utok = {NULL, 0, 0, sizeof(uint32_t)}, ifeat = {NULL, 0, 0, sizeof(uint32_t)};
  vec_t iptr = {NULL, 0, 0, sizeof(uint32_t)};
  uint64_t *keys = NULL;
  uint32_t *first = NULL;
  shard_t part;
  memset(&part, 0, sizeof part);
  int all_gid = 1;
  uint64_t n_items = 0, unlinked = 0;

  if (vec_grow(&iptr, 1)) goto oom;
  ((uint32_t *)iptr.p)[iptr.n++] = 0;
  for (uint32_t i = 0; i < n_parts; i++) {
    if (load(ctx, i, &part, err)) {
      fm_wrap(err, "pool: part %u", i);
      goto fail;
    }
    if (n_items + part.n_items > UINT32_MAX || recs.n + part.n_inter > UINT32_MAX ||
        ifeat.n + part.ifeat_ptr[part.n_items] > UINT32_MAX ||
        utok.n + part.ufeat_ptr[part.n_users] > UINT32_MAX) {
      fm_fail(err, "pool: more than 2^32 items, interactions or tokens after platform %s", part.name);
      goto fail;
    }
    if (!part.user_gid) all_gid = 0;
    /* items: features appended, ids shifted by the items before this part */
    uint32_t base = (uint32_t)n_items;
    uint32_t nf = part.ifeat_ptr[part.n_items];
    if (vec_grow(&ifeat, nf) || vec_grow(&iptr, part.n_items)) goto oom;
    if (nf) memcpy((uint32_t *)ifeat.p + ifeat.n, part.ifeat, sizeof(uint32_t) * nf);
    for (uint32_t it = 0; it < part.n_items; it++)
      ((uint32_t *)iptr.p)[iptr.n++] = (uint32_t)ifeat.n + part.ifeat_ptr[it + 1];
    ifeat.n += nf;
    n_items += part.n_items;
    /* users and interactions */
    if (vec_grow(&occs, part.n_users) || vec_grow(&recs, part.n_inter) ||
        vec_grow(&utok, part.ufeat_ptr[part.n_users]))
      goto oom;
    for (uint32_t u = 0; u < part.n_users; u++) {
      uint64_t key = part.user_gid ? part.user_gid[u] : (1ull << 32) + unlinked++;
      occ_t *o = (occ_t *)occs.p + occs.n++;
      o->key = key;
      o->part = i;
      o->tok_off = (uint32_t)utok.n;
      o->tok_n = part.ufeat_ptr[u + 1] - part.ufeat_ptr[u];
      if (o->tok_n)
        memcpy((uint32_t *)utok.p + utok.n, part.ufeat + part.ufeat_ptr[u], sizeof(uint32_t) * o->tok_n);
      utok.n += o->tok_n;
      for (uint32_t j = part.user_ptr[u]; j < part.user_ptr[u + 1]; j++) {
        rec_t *r = (rec_t *)recs.p + recs.n;
        r->key = key;
        r->ts = part.inter_ts[j];
        r->item = base + part.inter_item[j];
        r->seq = (uint32_t)recs.n++;
      }
    }
    shard_free(&part);
  }

  /* Users: one per key, in key order; features from the first part. */
  if (occs.n) qsort(occs.p, occs.n, sizeof(occ_t), cmp_occ);
  const occ_t *oc = occs.p;
  keys = malloc(sizeof *keys * (occs.n ? occs.n : 1));
  first = malloc(sizeof *first * (occs.n ? occs.n : 1));
  if (!keys || !first) goto oom;
  uint32_t n_users = 0;
  uint64_t n_ufeat = 0;
  for (size_t j = 0; j < occs.n; j++) {
    if (j && oc[j].key == oc[j - 1].key) continue;
    keys[n_users] = oc[j].key;
    first[n_users++] = (uint32_t)j;
    n_ufeat += oc[j].tok_n;
  }
  rec_t *rc = recs.p;
  for (size_t j = 0; j < recs.n; j++) rc[j].key = find_key(keys, n_users, rc[j].key);
  if (recs.n) qsort(recs.p, recs.n, sizeof(rec_t), cmp_rec);

  if (shard_alloc(out, n_users, (uint32_t)n_items, (uint32_t)recs.n, (uint32_t)n_ufeat, (uint32_t)ifeat.n, err))
    goto fail;
  snprintf(out->name, sizeof out->name, "%s", name);
  out->platform = platform;
  uint32_t k = 0;
  for (uint32_t u = 0; u < n_users; u++) {
    const occ_t *o = &oc[first[u]];
    if (o->tok_n) memcpy(out->ufeat + k, (uint32_t *)utok.p + o->tok_off, sizeof(uint32_t) * o->tok_n);
    k += o->tok_n;
    out->ufeat_ptr[u + 1] = k;
    out->user_gid[u] = all_gid ? (uint32_t)keys[u] : 0;
  }
  if (!all_gid) {
    free(out->user_gid);
    out->user_gid = NULL;
  }
  for (uint32_t j = 0; j < recs.n; j++) {
    out->inter_item[j] = rc[j].item;
    out->inter_ts[j] = rc[j].ts;
    out->user_ptr[rc[j].key + 1] = j + 1;
  }
  for (uint32_t u = 0; u < n_users; u++) /* users are never empty, but stay safe */
    if (out->user_ptr[u + 1] < out->user_ptr[u]) out->user_ptr[u + 1] = out->user_ptr[u];
  memcpy(out->ifeat_ptr, iptr.p, sizeof(uint32_t) * ((size_t)n_items + 1));
  if (ifeat.n) memcpy(out->ifeat, ifeat.p, sizeof(uint32_t) * ifeat.n);
  free(recs.p);
  free(occs.p);
  free(utok.p);
  free(ifeat.p);
  free(iptr.p);
  free(keys);
  free(first);
  if (shard_validate(out, err)) {
    shard_free(out);
    return fm_wrap(err, "pool: merged shard");
  }
  return 0;

oom:
  fm_fail(err, "pool: out of memory merging %u platforms", n_parts);
fail:
  shard_free(&part);
  shard_free(out);
  free(recs.p);
  free(occs.p);
  free(utok.p);
  free(ifeat.p);
  free(iptr.p);
  free(keys);
  free(first);
  return -1;
}
