/* common/import_amazon.c: Amazon P5 folders (e.g. the Beauty / Sports / Toys
 * 2014 5-core as distributed with P5, S3-Rec and RDRec).
 *
 *   INPUT/<category>/sequential.txt   "user item item ..." per line, in time order
 *   INPUT/<category>/datamaps.json    {"id2user": {"1": "<reviewerID>"}, "id2item": {"1": "<asin>"}}
 *   INPUT/s3rec_attributes/<Category>_item2attributes.json   optional {"<item>": [attr, ...]}
 *   INPUT/derived/<category>_s3rec_item_to_p5_item.tsv       optional id map for those keys
 *
 * Every sub-folder holding a sequential.txt is an industry, in name order.
 * Users are joined across categories by reviewerID; items are per category
 * (key "<category>\x1f<asin>"). There are no timestamps: an interaction's time
 * is its position in the user's sequence. Attributes (brand and category-path
 * ids, a separate vocabulary per category) become item tokens
 * attr=<category>/<id>. S3-Rec numbers Toys' items differently from P5: its
 * attributes are used only through the derived id map, and skipped (with a
 * note) without it. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "common/import_build.h"
#include "common/rng.h"

#define AMAZON_MAX_CATS 256

/* One category's id maps: P5 ids (as text) -> interned users / items. */
typedef struct amz_cat {
  imp_data *d;
  const char *name, *path; /* category, datamaps.json path */
  int items;               /* reading id2item (else id2user) */
  imp_strtab ukeys, ikeys; /* P5 user / item ids */
  uint32_t *user_of, *item_of;
  uint32_t cap_u, cap_i;
  imp_strtab amap;         /* S3-Rec item id -> P5 item id (text), if a map is used */
  uint32_t *amap_to;       /* (amap.n) index into ikeys */
  uint32_t cap_a;
  int use_map;
  uint64_t attr_unknown;
} amz_cat;

static void amz_cat_free(amz_cat *k) {
  imp_strtab_free(&k->ukeys);
  imp_strtab_free(&k->ikeys);
  imp_strtab_free(&k->amap);
  free(k->user_of);
  free(k->item_of);
  free(k->amap_to);
}

/* Sets (*arr)[i] = v, growing the array. */
static int put_u32(uint32_t **arr, uint32_t *cap, uint32_t i, uint32_t v, fm_err *err) {
  if (i >= *cap) {
    uint32_t nc = *cap ? *cap : 1024;
    while (nc <= i) nc *= 2;
    uint32_t *q = realloc(*arr, (size_t)nc * sizeof *q);
    if (!q) return fm_fail(err, "importer: out of memory");
    *arr = q;
    *cap = nc;
  }
  (*arr)[i] = v;
  return 0;
}

static int on_datamap(void *ctx, const char *key, const char *val, uint64_t line, fm_err *err) {
  amz_cat *k = ctx;
  imp_strtab *keys = k->items ? &k->ikeys : &k->ukeys;
  if (!*val)
    return imp_bad(k->d, err, "%s:%llu: %s \"%s\": expected a non-empty %s", k->path, (unsigned long long)line,
                   k->items ? "id2item" : "id2user", key, k->items ? "asin" : "reviewerID");
  uint32_t before = keys->n, kid, id;
  if (imp_strtab_intern(keys, key, strlen(key), &kid, err)) return -1;
  if (keys->n == before)
    return imp_bad(k->d, err, "%s:%llu: %s: key \"%s\" appears twice", k->path, (unsigned long long)line,
                   k->items ? "id2item" : "id2user", key);
  if (k->items) {
    /* the item key carries its category: items are per category */
    size_t n = strlen(k->name) + strlen(val) + 2;
    char *s = malloc(n);
    if (!s) return fm_fail(err, "importer: out of memory");
    snprintf(s, n, "%s\x1f%s", k->name, val);
    int r = imp_item(k->d, s, &id, err);
    free(s);
    return r ? -1 : put_u32(&k->item_of, &k->cap_i, kid, id, err);
  }
  if (imp_user(k->d, val, &id, err)) return -1;
  return put_u32(&k->user_of, &k->cap_u, kid, id, err);
}

/* Reads one sequential.txt: each line a user and their items in time order. */
static int read_sequences(amz_cat *k, const char *path, uint32_t ind, fm_err *err) {
  imp_data *d = k->d;
  imp_lines lr;
  if (imp_lines_open(&lr, path, "lines 'user item item ...' (P5 sequential.txt)", err)) return -1;
  uint32_t *items = NULL, cap = 0;
  int rc = -1, r;
  char *line;
  size_t len;
  while ((r = imp_lines_next(&lr, &line, &len, err)) != 0) {
    if (r < 0) goto done;
    d->st->lines++;
    if (r == 2) {
      if (imp_bad(d, err, "%s:%llu: line longer than %u bytes or containing a NUL byte", path,
                  (unsigned long long)lr.line, IMPORT_MAX_LINE))
        goto done;
      continue;
    }
    uint32_t n = 0, user = 0;
    int field = 0, bad = 0;
    for (char *p = line; *p && !bad;) {
      while (*p == ' ' || *p == '\t') p++;
      if (!*p) break;
      char *tok = p;
      while (*p && *p != ' ' && *p != '\t') p++;
      size_t tl = (size_t)(p - tok);
      imp_strtab *keys = field == 0 ? &k->ukeys : &k->ikeys;
      int64_t kid = imp_strtab_find(keys, tok, tl);
      if (kid < 0) {
        char shown[32];
        snprintf(shown, sizeof shown, "%.*s", (int)(tl < 24 ? tl : 24), tok);
        if (imp_bad(d, err, "%s:%llu: field %d (%s): expected an id listed in %s of datamaps.json, got '%s'",
                    path, (unsigned long long)lr.line, field + 1, field == 0 ? "user" : "item",
                    field == 0 ? "id2user" : "id2item", shown))
          goto done;
        bad = 1;
        break;
      }
      if (field == 0) {
        user = k->user_of[kid];
      } else {
        if (n == cap && put_u32(&items, &cap, n, 0, err)) goto done;
        items[n++] = k->item_of[kid];
      }
      field++;
    }
    if (bad || field == 0) continue; /* a skipped or blank line */
    for (uint32_t i = 0; i < n; i++)
      if (imp_add_rec(d, user, items[i], ind, (int64_t)i, err)) goto done;
  }
  rc = 0;
done:
  free(items);
  imp_lines_close(&lr);
  return rc;
}

/* Reads derived/<cat>_s3rec_item_to_p5_item.tsv: "s3rec_id<TAB>p5_id". */
static int read_attr_map(amz_cat *k, const char *path, fm_err *err) {
  imp_lines lr;
  if (imp_lines_open(&lr, path, "lines 's3rec_item_id<TAB>p5_item_id'", err)) return -1;
  int rc = -1, r;
  char *line, *f[3];
  size_t len;
  while ((r = imp_lines_next(&lr, &line, &len, err)) != 0) {
    if (r < 0) goto done;
    int nf = r == 2 ? -1 : imp_split(line, 0, 0, f, 2);
    if (nf == 0) continue;
    int64_t to = nf == 2 ? imp_strtab_find(&k->ikeys, f[1], strlen(f[1])) : -1;
    if (nf != 2 || to < 0) {
      if (imp_bad(k->d, err, "%s:%llu: expected 's3rec_item_id<TAB>p5_item_id' with an item of id2item", path,
                  (unsigned long long)lr.line))
        goto done;
      continue;
    }
    uint32_t before = k->amap.n, id;
    if (imp_strtab_intern(&k->amap, f[0], strlen(f[0]), &id, err)) goto done;
    if (k->amap.n == before) {
      if (imp_bad(k->d, err, "%s:%llu: item %s mapped twice", path, (unsigned long long)lr.line, f[0])) goto done;
      continue;
    }
    if (put_u32(&k->amap_to, &k->cap_a, id, (uint32_t)to, err)) goto done;
  }
  rc = 0;
done:
  imp_lines_close(&lr);
  return rc;
}

static int on_attrs(void *ctx, const char *key, const char *const *vals, uint32_t n, uint64_t line, fm_err *err) {
  (void)line;
  amz_cat *k = ctx;
  int64_t kid;
  if (k->use_map) {
    int64_t a = imp_strtab_find(&k->amap, key, strlen(key));
    kid = a < 0 ? -1 : (int64_t)k->amap_to[a];
  } else {
    kid = imp_strtab_find(&k->ikeys, key, strlen(key));
  }
  if (kid < 0) {
    k->attr_unknown++; /* an item outside the sequences: nothing to attach to */
    return 0;
  }
  char v[128];
  for (uint32_t i = 0; i < n; i++) {
    snprintf(v, sizeof v, "%s/%.100s", k->name, vals[i]);
    if (imp_add_itok(k->d, k->item_of[kid], fm_hash_feature("attr", v), err)) return -1;
  }
  return 0;
}

static int lower_prefix(const char *s, const char *prefix) {
  for (; *prefix; s++, prefix++) {
    char a = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
    char b = *prefix >= 'A' && *prefix <= 'Z' ? (char)(*prefix - 'A' + 'a') : *prefix;
    if (a != b) return 0;
  }
  return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* INPUT/s3rec_attributes/<Name>_item2attributes.json whose name starts with cat (any case). */
static int find_attr_file(char *out, size_t n, const char *input, const char *cat, fm_err *err) {
  char dir[CFG_PATH_MAX + 64];
  if (imp_join(dir, sizeof dir, input, "s3rec_attributes", err)) return -1;
  DIR *dh = opendir(dir);
  if (!dh) return 0;
  const char *suffix = "_item2attributes.json";
  char best[256] = "";
  struct dirent *e;
  while ((e = readdir(dh)) != NULL) {
    size_t l = strlen(e->d_name), ls = strlen(suffix);
    if (l > ls && l < sizeof best && !strcmp(e->d_name + l - ls, suffix) && lower_prefix(e->d_name, cat) &&
        (!best[0] || strcmp(e->d_name, best) < 0))
      snprintf(best, sizeof best, "%s", e->d_name);
  }
  closedir(dh);
  if (!best[0]) return 0;
  return imp_join(out, n, dir, best, err) ? -1 : 1;
}

static int read_category(imp_data *d, const char *input, const char *cat, fm_err *err) {
  amz_cat k;
  memset(&k, 0, sizeof k);
  k.d = d;
  k.name = cat;
  char seq[CFG_PATH_MAX + 512], maps[CFG_PATH_MAX + 512], attr[CFG_PATH_MAX + 512], amap[CFG_PATH_MAX + 512];
  char sub[300];
  int rc = -1;
  uint32_t ind;
  snprintf(sub, sizeof sub, "%s/sequential.txt", cat);
  if (imp_join(seq, sizeof seq, input, sub, err)) goto done;
  snprintf(sub, sizeof sub, "%s/datamaps.json", cat);
  if (imp_join(maps, sizeof maps, input, sub, err)) goto done;
  if (!imp_is_file(maps)) {
    fm_fail(err, "%s is missing: each category folder needs sequential.txt and datamaps.json "
                 "({\"id2user\": {...}, \"id2item\": {...}})", maps);
    goto done;
  }
  k.path = maps;
  if (imp_json_read_members(maps, "id2user", on_datamap, &k, err)) goto done;
  k.items = 1;
  if (imp_json_read_members(maps, "id2item", on_datamap, &k, err)) goto done;
  if (imp_ind(d, cat, &ind, err) || read_sequences(&k, seq, ind, err)) goto done;
  int has = find_attr_file(attr, sizeof attr, input, cat, err);
  if (has < 0) goto done;
  snprintf(sub, sizeof sub, "derived/%s_s3rec_item_to_p5_item.tsv", cat);
  if (imp_join(amap, sizeof amap, input, sub, err)) goto done;
  k.use_map = imp_is_file(amap);
  if (!has) {
    imp_note(d, "%s: no s3rec_attributes/<%s>_item2attributes.json, no attribute tokens", cat, cat);
  } else if (!k.use_map && !strcmp(cat, "toys")) {
    imp_note(d, "toys: attributes skipped (S3-Rec numbers Toys' items differently; needs %s)", amap);
  } else {
    if (k.use_map && read_attr_map(&k, amap, err)) goto done;
    if (imp_json_read_arrays(attr, on_attrs, &k, err)) goto done;
    if (k.attr_unknown)
      imp_note(d, "%s: %llu attribute entries name no item of the sequences (ignored)", cat,
               (unsigned long long)k.attr_unknown);
  }
  rc = 0;
done:
  amz_cat_free(&k);
  return rc;
}

int import_read_amazon(imp_data *d, const fm_config *c, fm_err *err) {
  const char *layout = "a folder with one sub-folder per category, each holding sequential.txt and datamaps.json "
                       "(optional: s3rec_attributes/<Category>_item2attributes.json)";
  DIR *dh = imp_is_dir(c->input) ? opendir(c->input) : NULL;
  if (!dh) {
    fm_fail(err, "--input %s: not a readable folder; expected %s", c->input, layout);
    return IMPORT_EDATA;
  }
  char *cats[AMAZON_MAX_CATS];
  uint32_t n = 0;
  int rc = IMPORT_EDATA;
  struct dirent *e;
  char path[CFG_PATH_MAX + 512];
  while ((e = readdir(dh)) != NULL) {
    if (e->d_name[0] == '.' || strlen(e->d_name) > 200) continue;
    snprintf(path, sizeof path, "%s/%s/sequential.txt", c->input, e->d_name);
    if (!imp_is_file(path)) continue;
    if (n == AMAZON_MAX_CATS) {
      fm_fail(err, "--input %s: more than %d category folders", c->input, AMAZON_MAX_CATS);
      goto done;
    }
    if (!(cats[n] = strdup(e->d_name))) {
      fm_fail(err, "importer: out of memory");
      goto done;
    }
    n++;
  }
  if (n == 0) {
    fm_fail(err, "--input %s: no <category>/sequential.txt found; expected %s", c->input, layout);
    goto done;
  }
  qsort(cats, n, sizeof *cats, cmp_str);
  d->cat_token = 1;
  for (uint32_t i = 0; i < n; i++)
    if (read_category(d, c->input, cats[i], err)) goto done;
  imp_note(d, "no timestamps: the time of an interaction is its position in the user's sequence");
  rc = 0;
done:
  closedir(dh);
  for (uint32_t i = 0; i < n; i++) free(cats[i]);
  return rc;
}
