/* common/import_clean.c: protocol P1's cleaning of parsed interactions and the
 * construction of one shard per industry.
 *
 * Order of the steps (each counted for the summary):
 *   1. --select keeps the named industries (before anything else is counted);
 *   2. duplicates: a (user, item) pair keeps its earliest copy (time, then file
 *      order), whatever the industry it was filed under. An item key is the
 *      format's item id: global for Ciao and MovieLens (and csv by default),
 *      per category for Amazon (csv: --items-per-industry);
 *   3. the global k-core over all industries together: remove every
 *      interaction of a user or item with fewer than k, repeat until stable;
 *   4. industries with fewer than --min-platform interactions are dropped;
 *      if that removed anything, steps 3-4 run again, so the result is a
 *      fixed point of both rules (with the default --min-platform 1, step 4
 *      never removes anything).
 * The rating filter happens while parsing. Then, per industry: users sorted
 * by global id, items by their raw id (numerically when every id is a
 * number, else in order of first appearance), each user's interactions by
 * time with ties in file order. */
#include <stdlib.h>
#include <string.h>

#include "common/import_build.h"
#include "common/manifest.h"
#include "common/rng.h"

/* Removes records whose keep[] is 0, preserving order; returns the new count. */
static size_t compact(imp_rec *rec, size_t n, const uint8_t *keep) {
  size_t w = 0;
  for (size_t i = 0; i < n; i++)
    if (keep[i]) rec[w++] = rec[i];
  return w;
}

/* --- 1. selection ------------------------------------------------------------ */

static int select_industries(imp_data *d, const char *list, fm_err *err) {
  if (!list || !*list) return 0;
  uint32_t np = d->inds.n;
  uint8_t *want = calloc(np ? np : 1, 1), *keep = calloc(d->n_rec ? d->n_rec : 1, 1);
  if (!want || !keep) {
    free(want);
    free(keep);
    fm_fail(err, "importer: out of memory");
    return IMPORT_EDATA;
  }
  char buf[256];
  snprintf(buf, sizeof buf, "%s", list);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int found = 0;
    for (uint32_t p = 0; p < np; p++)
      if (!strcmp(tok, d->ind_name[p]) || !strcmp(tok, imp_strtab_get(&d->inds, p))) want[p] = 1, found = 1;
    if (!found) {
      char names[300] = "";
      size_t off = 0;
      for (uint32_t p = 0; p < np && off < sizeof names - 70; p++)
        off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", p ? ", " : "", d->ind_name[p]);
      fm_fail(err, "--select: no industry called '%s' in the input (have: %s%s)", tok, names,
              off >= sizeof names - 70 ? ", ..." : "");
      free(want);
      free(keep);
      return IMPORT_EUSAGE;
    }
  }
  for (size_t i = 0; i < d->n_rec; i++) keep[i] = want[d->rec[i].ind];
  size_t n = compact(d->rec, d->n_rec, keep);
  d->st->not_selected += d->n_rec - n;
  d->n_rec = n;
  free(want);
  free(keep);
  return 0;
}

/* --- 2. duplicates --------------------------------------------------------------- */

typedef struct dup_key {
  uint32_t user, item;
  int64_t ts;
  uint64_t idx;
} dup_key;

static int cmp_dup(const void *a, const void *b) {
  const dup_key *x = a, *y = b;
  if (x->user != y->user) return x->user < y->user ? -1 : 1;
  if (x->item != y->item) return x->item < y->item ? -1 : 1;
  if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
  return (x->idx > y->idx) - (x->idx < y->idx);
}

static int drop_duplicates(imp_data *d, fm_err *err) {
  size_t n = d->n_rec;
  dup_key *k = malloc((n ? n : 1) * sizeof *k);
  uint8_t *keep = calloc(n ? n : 1, 1);
  if (!k || !keep) {
    free(k);
    free(keep);
    return fm_fail(err, "importer: out of memory (duplicates)");
  }
  for (size_t i = 0; i < n; i++) k[i] = (dup_key){d->rec[i].user, d->rec[i].item, d->rec[i].ts, i};
  qsort(k, n, sizeof *k, cmp_dup);
  for (size_t i = 0; i < n; i++)
    keep[k[i].idx] = i == 0 || k[i].user != k[i - 1].user || k[i].item != k[i - 1].item;
  size_t m = compact(d->rec, n, keep);
  d->st->duplicates += n - m;
  d->n_rec = m;
  free(k);
  free(keep);
  return 0;
}

/* --- 3-4. k-core and small industries --------------------------------------------- */

/* The k-core to a fixed point (rounds of simultaneous removal). */
static void kcore(imp_data *d, uint32_t k, uint32_t *ucnt, uint32_t *icnt, uint8_t *keep) {
  import_stats_t *st = d->st;
  for (;;) {
    memset(ucnt, 0, (size_t)d->users.n * sizeof *ucnt);
    memset(icnt, 0, (size_t)d->items.n * sizeof *icnt);
    for (size_t i = 0; i < d->n_rec; i++) {
      ucnt[d->rec[i].user]++;
      icnt[d->rec[i].item]++;
    }
    import_round_t round = {0, 0, 0};
    for (uint32_t u = 0; u < d->users.n; u++) round.users += ucnt[u] && ucnt[u] < k;
    for (uint32_t i = 0; i < d->items.n; i++) round.items += icnt[i] && icnt[i] < k;
    if (!round.users && !round.items) return;
    for (size_t i = 0; i < d->n_rec; i++) keep[i] = ucnt[d->rec[i].user] >= k && icnt[d->rec[i].item] >= k;
    size_t m = compact(d->rec, d->n_rec, keep);
    round.inter = d->n_rec - m;
    d->n_rec = m;
    if (st->kcore_rounds < IMPORT_MAX_ROUNDS) st->rounds[st->kcore_rounds] = round;
    st->kcore_rounds++;
    st->kcore_inter += round.inter;
  }
}

/* Drops industries below min interactions; returns how many were dropped. */
static uint32_t drop_small(imp_data *d, uint32_t min, uint8_t *keep, uint64_t *pcnt) {
  if (min <= 1) return 0;
  memset(pcnt, 0, (size_t)d->inds.n * sizeof *pcnt);
  for (size_t i = 0; i < d->n_rec; i++) pcnt[d->rec[i].ind]++;
  import_stats_t *st = d->st;
  uint32_t dropped = 0;
  for (uint32_t p = 0; p < d->inds.n; p++) {
    if (!pcnt[p] || pcnt[p] >= min) continue;
    dropped++;
    st->small_dropped++;
    st->small_inter += pcnt[p];
    size_t off = strlen(st->small_list);
    if (off < sizeof st->small_list - 80)
      snprintf(st->small_list + off, sizeof st->small_list - off, "%s%s (%llu)", off ? ", " : "", d->ind_name[p],
               (unsigned long long)pcnt[p]);
  }
  if (!dropped) return 0;
  if (st->n_notes == 0 || !strstr(st->notes[st->n_notes - 1], "k-core ran again"))
    imp_note(d, "k-core ran again after dropping small industries (rounds listed in order)");
  for (size_t i = 0; i < d->n_rec; i++) keep[i] = pcnt[d->rec[i].ind] >= min;
  d->n_rec = compact(d->rec, d->n_rec, keep);
  return dropped;
}

/* --- building the shards ------------------------------------------------------------ */

typedef struct key_rank {
  uint64_t v;
  uint32_t id;
} key_rank;

static int cmp_rank(const void *a, const void *b) {
  const key_rank *x = a, *y = b;
  if (x->v != y->v) return x->v < y->v ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

/* rank[id] = position of key id among the present ones: by numeric value when
 * every present key is a number, else by id (first appearance). Returns the
 * number present, or -1 (memory). */
static int64_t rank_keys(const imp_strtab *t, const uint8_t *present, uint32_t *rank) {
  key_rank *kr = malloc((t->n ? t->n : 1) * sizeof *kr);
  if (!kr) return -1;
  uint32_t m = 0;
  int numeric = 1;
  for (uint32_t id = 0; id < t->n; id++) {
    if (!present[id]) continue;
    const char *s = imp_strtab_get(t, id), *sep = strchr(s, '\x1f');
    uint64_t v = 0;
    if (numeric && imp_parse_u64(sep ? sep + 1 : s, &v)) numeric = 0;
    kr[m++] = (key_rank){v, id};
  }
  if (numeric) qsort(kr, m, sizeof *kr, cmp_rank);
  for (uint32_t i = 0; i < m; i++) rank[kr[i].id] = i;
  free(kr);
  return m;
}

/* Token lists as CSR by id, in the order added, without repeats per id. */
typedef struct tok_csr {
  size_t *ptr; /* (n+1) */
  uint32_t *tok;
} tok_csr;

static int tok_csr_build(tok_csr *c, const imp_tok *t, size_t nt, uint32_t n, fm_err *err) {
  c->ptr = calloc((size_t)n + 1, sizeof *c->ptr);
  c->tok = malloc((nt ? nt : 1) * sizeof *c->tok);
  if (!c->ptr || !c->tok) return fm_fail(err, "importer: out of memory (tokens)");
  for (size_t i = 0; i < nt; i++) c->ptr[t[i].id + 1]++;
  for (uint32_t i = 0; i < n; i++) c->ptr[i + 1] += c->ptr[i];
  size_t *fill = malloc(((size_t)n + 1) * sizeof *fill);
  if (!fill) return fm_fail(err, "importer: out of memory (tokens)");
  memcpy(fill, c->ptr, ((size_t)n + 1) * sizeof *fill);
  for (size_t i = 0; i < nt; i++) {
    /* skip a token already given to this id */
    int dup = 0;
    for (size_t j = c->ptr[t[i].id]; j < fill[t[i].id] && !dup; j++) dup = c->tok[j] == t[i].tok;
    if (!dup) c->tok[fill[t[i].id]++] = t[i].tok;
  }
  /* close the gaps left by repeats */
  size_t w = 0;
  for (uint32_t i = 0; i < n; i++) {
    size_t b = c->ptr[i], e = fill[i];
    c->ptr[i] = w;
    for (size_t j = b; j < e; j++) c->tok[w++] = c->tok[j];
  }
  c->ptr[n] = w;
  free(fill);
  return 0;
}

static void tok_csr_free(tok_csr *c) {
  free(c->ptr);
  free(c->tok);
}

typedef struct ent {
  uint32_t ul, il;
  int64_t ts;
  uint64_t idx;
} ent;

static int cmp_ent(const void *a, const void *b) {
  const ent *x = a, *y = b;
  if (x->ul != y->ul) return x->ul < y->ul ? -1 : 1;
  if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
  return (x->idx > y->idx) - (x->idx < y->idx);
}

typedef struct by_rank {
  uint32_t rank, id;
} by_rank;

static int cmp_by_rank(const void *a, const void *b) {
  const by_rank *x = a, *y = b;
  return (x->rank > y->rank) - (x->rank < y->rank);
}

/* Appends s (without an industry prefix "...\x1f") to the ids arena. */
static int ids_add(import_result_t *r, size_t *len, size_t *cap, const char *s, size_t *off, fm_err *err) {
  const char *sep = strchr(s, '\x1f');
  if (sep) s = sep + 1;
  size_t n = strlen(s) + 1;
  if (*len + n > *cap) {
    size_t nc = *cap ? *cap : 65536;
    while (nc < *len + n) nc *= 2;
    char *q = realloc(r->ids, nc);
    if (!q) return fm_fail(err, "importer: out of memory (ids)");
    r->ids = q;
    *cap = nc;
  }
  memcpy(r->ids + *len, s, n);
  *off = *len;
  *len += n;
  return 0;
}

/* Builds platform pi (industry ind) from its records rec_idx[0..n). Scratch
 * arrays are sized by the whole key tables; stamp/local are reused across
 * platforms. */
typedef struct build_ctx {
  imp_data *d;
  import_result_t *r;
  const uint32_t *gid, *irank;
  tok_csr ut, it;
  uint32_t *ustamp, *ulocal, *istamp, *ilocal;
  size_t ids_len, ids_cap;
} build_ctx;

static int build_platform(build_ctx *b, uint32_t pi, uint32_t ind, const size_t *rec_idx, size_t n, fm_err *err) {
  imp_data *d = b->d;
  shard_t *s = &b->r->shards[pi];
  by_rank *us = NULL, *is = NULL;
  ent *e = NULL;
  int rc = -1;
  uint32_t nu = 0, ni = 0, stamp = pi + 1;
  us = malloc((n ? n : 1) * sizeof *us);
  is = malloc((n ? n : 1) * sizeof *is);
  e = malloc((n ? n : 1) * sizeof *e);
  if (!us || !is || !e) {
    fm_fail(err, "importer: out of memory (platform %u)", pi);
    goto done;
  }
  for (size_t j = 0; j < n; j++) {
    const imp_rec *x = &d->rec[rec_idx[j]];
    if (b->ustamp[x->user] != stamp) b->ustamp[x->user] = stamp, us[nu++] = (by_rank){b->gid[x->user], x->user};
    if (b->istamp[x->item] != stamp) b->istamp[x->item] = stamp, is[ni++] = (by_rank){b->irank[x->item], x->item};
  }
  qsort(us, nu, sizeof *us, cmp_by_rank);
  qsort(is, ni, sizeof *is, cmp_by_rank);
  size_t nuf = 0, nif = 0;
  for (uint32_t u = 0; u < nu; u++) {
    b->ulocal[us[u].id] = u;
    nuf += b->ut.ptr[us[u].id + 1] - b->ut.ptr[us[u].id];
  }
  for (uint32_t i = 0; i < ni; i++) {
    b->ilocal[is[i].id] = i;
    nif += b->it.ptr[is[i].id + 1] - b->it.ptr[is[i].id] + (d->cat_token ? 1 : 0);
  }
  if (nuf > UINT32_MAX || nif > UINT32_MAX) {
    fm_fail(err, "importer: industry %s has more than 2^32 feature tokens", d->ind_name[ind]);
    goto done;
  }
  for (size_t j = 0; j < n; j++) {
    const imp_rec *x = &d->rec[rec_idx[j]];
    e[j] = (ent){b->ulocal[x->user], b->ilocal[x->item], x->ts, rec_idx[j]};
  }
  qsort(e, n, sizeof *e, cmp_ent);
  if (shard_alloc(s, nu, ni, (uint32_t)n, (uint32_t)nuf, (uint32_t)nif, err)) goto done;
  snprintf(s->name, sizeof s->name, "%s", d->ind_name[ind]);
  s->platform = pi;
  for (size_t j = 0; j < n; j++) {
    s->user_ptr[e[j].ul + 1]++;
    s->inter_item[j] = e[j].il;
    s->inter_ts[j] = e[j].ts;
  }
  for (uint32_t u = 0; u < nu; u++) s->user_ptr[u + 1] += s->user_ptr[u];
  uint32_t w = 0;
  for (uint32_t u = 0; u < nu; u++) {
    uint32_t id = us[u].id;
    s->user_gid[u] = b->gid[id];
    s->ufeat_ptr[u] = w;
    for (size_t k = b->ut.ptr[id]; k < b->ut.ptr[id + 1]; k++) s->ufeat[w++] = b->ut.tok[k];
  }
  s->ufeat_ptr[nu] = w;
  uint32_t cat = fm_hash_feature("cat", d->ind_name[ind]);
  w = 0;
  size_t *raw = malloc((ni ? ni : 1) * sizeof *raw);
  if (!raw) {
    fm_fail(err, "importer: out of memory");
    goto done;
  }
  b->r->item_raw[pi] = raw;
  for (uint32_t i = 0; i < ni; i++) {
    uint32_t id = is[i].id;
    s->ifeat_ptr[i] = w;
    if (d->cat_token) s->ifeat[w++] = cat;
    for (size_t k = b->it.ptr[id]; k < b->it.ptr[id + 1]; k++) s->ifeat[w++] = b->it.tok[k];
    if (ids_add(b->r, &b->ids_len, &b->ids_cap, imp_strtab_get(&d->items, id), &raw[i], err)) goto done;
  }
  s->ifeat_ptr[ni] = w;
  if (shard_validate(s, err)) {
    fm_wrap(err, "importer: built shard %s is inconsistent (a bug)", s->name);
    goto done;
  }
  rc = 0;
done:
  free(us);
  free(is);
  free(e);
  return rc;
}

static int build(import_result_t *r, imp_data *d, fm_err *err) {
  import_stats_t *st = d->st;
  uint32_t nU = d->users.n, nI = d->items.n, nP = d->inds.n;
  build_ctx b;
  memset(&b, 0, sizeof b);
  b.d = d;
  b.r = r;
  uint8_t *upres = calloc(nU ? nU : 1, 1), *ipres = calloc(nI ? nI : 1, 1), *ppres = calloc(nP ? nP : 1, 1);
  uint32_t *gid = calloc(nU ? nU : 1, sizeof *gid), *irank = calloc(nI ? nI : 1, sizeof *irank);
  uint32_t *prank = calloc(nP ? nP : 1, sizeof *prank), *pof = calloc(nP ? nP : 1, sizeof *pof);
  size_t *pstart = calloc((size_t)nP + 2, sizeof *pstart), *ridx = malloc((d->n_rec ? d->n_rec : 1) * sizeof *ridx);
  b.ustamp = calloc(nU ? nU : 1, sizeof *b.ustamp);
  b.ulocal = calloc(nU ? nU : 1, sizeof *b.ulocal);
  b.istamp = calloc(nI ? nI : 1, sizeof *b.istamp);
  b.ilocal = calloc(nI ? nI : 1, sizeof *b.ilocal);
  int rc = -1;
  if (!upres || !ipres || !ppres || !gid || !irank || !prank || !pof || !pstart || !ridx || !b.ustamp ||
      !b.ulocal || !b.istamp || !b.ilocal) {
    fm_fail(err, "importer: out of memory (shards)");
    goto done;
  }
  for (size_t i = 0; i < d->n_rec; i++) {
    upres[d->rec[i].user] = ipres[d->rec[i].item] = ppres[d->rec[i].ind] = 1;
    pstart[d->rec[i].ind + 1]++;
  }
  int64_t n_users = rank_keys(&d->users, upres, gid), n_items = rank_keys(&d->items, ipres, irank);
  int64_t n_plat = rank_keys(&d->inds, ppres, prank);
  if (n_users < 0 || n_items < 0 || n_plat < 0) {
    fm_fail(err, "importer: out of memory (ranks)");
    goto done;
  }
  if (n_plat > MANIFEST_MAX_PLATFORMS) {
    fm_fail(err, "%lld industries, at most %d supported (use --select or --min-platform)", (long long)n_plat,
            MANIFEST_MAX_PLATFORMS);
    goto done;
  }
  b.gid = gid;
  b.irank = irank;
  /* records grouped by industry, file order within each */
  for (uint32_t p = 0; p < nP; p++) pstart[p + 1] += pstart[p];
  {
    size_t *fill = malloc(((size_t)nP + 1) * sizeof *fill);
    if (!fill) {
      fm_fail(err, "importer: out of memory");
      goto done;
    }
    memcpy(fill, pstart, ((size_t)nP + 1) * sizeof *fill);
    for (size_t i = 0; i < d->n_rec; i++) ridx[fill[d->rec[i].ind]++] = i;
    free(fill);
  }
  for (uint32_t p = 0; p < nP; p++)
    if (ppres[p]) pof[prank[p]] = p;
  r->n = (uint32_t)n_plat;
  r->shards = calloc(r->n, sizeof *r->shards);
  r->item_raw = calloc(r->n, sizeof *r->item_raw);
  r->user_raw = malloc((n_users ? (size_t)n_users : 1) * sizeof *r->user_raw);
  if (!r->shards || !r->item_raw || !r->user_raw) {
    fm_fail(err, "importer: out of memory");
    goto done;
  }
  if (tok_csr_build(&b.ut, d->utok, d->n_utok, nU, err) || tok_csr_build(&b.it, d->itok, d->n_itok, nI, err))
    goto done;
  for (uint32_t u = 0; u < nU; u++)
    if (upres[u] && ids_add(r, &b.ids_len, &b.ids_cap, imp_strtab_get(&d->users, u), &r->user_raw[gid[u]], err))
      goto done;
  for (uint32_t pi = 0; pi < r->n; pi++) {
    uint32_t ind = pof[pi];
    if (build_platform(&b, pi, ind, ridx + pstart[ind], pstart[ind + 1] - pstart[ind], err)) goto done;
  }
  st->n_inter = d->n_rec;
  st->n_users = (uint32_t)n_users;
  st->n_items = (uint32_t)n_items;
  rc = 0;
done:
  tok_csr_free(&b.ut);
  tok_csr_free(&b.it);
  free(upres);
  free(ipres);
  free(ppres);
  free(gid);
  free(irank);
  free(prank);
  free(pof);
  free(pstart);
  free(ridx);
  free(b.ustamp);
  free(b.ulocal);
  free(b.istamp);
  free(b.ilocal);
  return rc;
}

int import_clean(import_result_t *r, imp_data *d, const fm_config *c, fm_err *err) {
  int rc = select_industries(d, c->industries_sel, err);
  if (rc) return rc;
  if (drop_duplicates(d, err)) return IMPORT_EDATA;
  uint32_t *ucnt = calloc(d->users.n ? d->users.n : 1, sizeof *ucnt);
  uint32_t *icnt = calloc(d->items.n ? d->items.n : 1, sizeof *icnt);
  uint64_t *pcnt = calloc(d->inds.n ? d->inds.n : 1, sizeof *pcnt);
  uint8_t *keep = calloc(d->n_rec ? d->n_rec : 1, 1);
  rc = IMPORT_EDATA;
  if (!ucnt || !icnt || !pcnt || !keep) {
    fm_fail(err, "importer: out of memory (k-core)");
    goto done;
  }
  do {
    if (c->kcore > 1) kcore(d, c->kcore, ucnt, icnt, keep);
  } while (drop_small(d, c->min_platform, keep, pcnt) && c->kcore > 1);
  if (d->n_rec == 0) {
    fm_fail(err, "nothing left after cleaning: %llu interactions parsed, none passed the filters "
                 "(rating, --select, --kcore %u, --min-platform %u)", (unsigned long long)d->st->parsed,
            c->kcore, c->min_platform);
    goto done;
  }
  if (build(r, d, err)) goto done;
  rc = 0;
done:
  free(ucnt);
  free(icnt);
  free(pcnt);
  free(keep);
  return rc;
}
