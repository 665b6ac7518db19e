/* common/import_movielens.c: a MovieLens 100K folder (GroupLens ml-100k).
 *
 *   u.data   user<TAB>item<TAB>rating<TAB>unix time
 *   u.user   id|age|gender|occupation|zip     -> user tokens age, gender, occupation, zip
 *   u.item   id|title|release date|video release date|url|19 genre flags
 *                                             -> item tokens genre (every flag), year (decade)
 *   u.genre  name|index
 *
 * MovieLens has one domain; its industries here are pseudo-industries: a
 * movie belongs to the genre of its FIRST set flag (in u.genre order), named
 * by the genre (slugged: "childrens", "sci-fi"); a movie without a flag goes
 * to "unknown". User tokens use the synthetic market's field names and age
 * bands where they mean the same (age=25-34, gender=f|m). */
#include <stdlib.h>
#include <string.h>

#include "common/import_build.h"
#include "common/rng.h"

#define ML_MAX_GENRES 64
#define ML_ITEM_FIXED 5 /* id, title, release date, video release date, url */

typedef struct ml_state {
  imp_data *d;
  char genre[ML_MAX_GENRES][SHARD_NAME_MAX]; /* slugged names by index */
  uint32_t n_genres;
  imp_strtab ikeys;   /* movie ids (canonical text) */
  uint32_t *ind_of;   /* (ikeys.n) industry of each movie */
  uint32_t *item_of;  /* (ikeys.n) interned item */
  uint32_t cap;
} ml_state;

static int ml_path(char *out, size_t n, const char *dir, const char *file, fm_err *err) {
  if (imp_join(out, n, dir, file, err)) return -1;
  if (!imp_is_file(out))
    return fm_fail(err, "%s is missing: --format movielens expects a folder with u.data "
                        "(user<TAB>item<TAB>rating<TAB>time), u.item, u.user and u.genre (the ml-100k layout)", out);
  return 0;
}

static const char *age_band(uint64_t age) {
  static const char *const B[] = {"<18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"};
  return age < 18 ? B[0] : age < 25 ? B[1] : age < 35 ? B[2] : age < 45 ? B[3] : age < 55 ? B[4] : age < 65 ? B[5] : B[6];
}

/* u.genre: "name|index"; blank lines ignored. */
static int read_genres(ml_state *s, const char *path, fm_err *err) {
  imp_lines lr;
  if (imp_lines_open(&lr, path, "lines 'genre|index'", err)) return -1;
  int rc = -1, r;
  char *line, *f[3];
  size_t len;
  while ((r = imp_lines_next(&lr, &line, &len, err)) != 0) {
    if (r < 0) goto done;
    int nf = r == 2 ? -1 : imp_split(line, '|', 0, f, 2);
    if (nf == 0 || (nf == 1 && !*f[0])) continue;
    uint64_t idx;
    if (nf != 2 || !*f[0] || imp_parse_u64(f[1], &idx) || idx >= ML_MAX_GENRES) {
      if (imp_bad(s->d, err, "%s:%llu: expected 'genre|index' with an index below %d", path,
                  (unsigned long long)lr.line, ML_MAX_GENRES))
        goto done;
      continue;
    }
    imp_slug(s->genre[idx], SHARD_NAME_MAX, f[0]);
    if (!s->genre[idx][0]) snprintf(s->genre[idx], SHARD_NAME_MAX, "genre%llu", (unsigned long long)idx);
    if (idx + 1 > s->n_genres) s->n_genres = (uint32_t)idx + 1;
  }
  for (uint32_t g = 0; g < s->n_genres; g++)
    if (!s->genre[g][0]) {
      fm_fail(err, "%s: genre index %u is missing (indices must run 0..%u)", path, g, s->n_genres - 1);
      goto done;
    }
  if (s->n_genres == 0) {
    fm_fail(err, "%s: no genres; expected lines 'genre|index'", path);
    goto done;
  }
  /* industries in genre order, so that platform indices follow u.genre */
  for (uint32_t g = 0; g < s->n_genres; g++) {
    uint32_t id;
    if (imp_ind(s->d, s->genre[g], &id, err)) goto done;
  }
  rc = 0;
done:
  imp_lines_close(&lr);
  return rc;
}

static int read_items(ml_state *s, const char *path, fm_err *err) {
  imp_data *d = s->d;
  imp_lines lr;
  if (imp_lines_open(&lr, path, "lines 'id|title|release date|video date|url|genre flags...'", err)) return -1;
  uint32_t want = ML_ITEM_FIXED + s->n_genres;
  int rc = -1, r;
  char *line, *f[ML_ITEM_FIXED + ML_MAX_GENRES + 1];
  size_t len;
  while ((r = imp_lines_next(&lr, &line, &len, err)) != 0) {
    if (r < 0) goto done;
    int nf = r == 2 ? -2 : imp_split(line, '|', 0, f, (int)want);
    if (nf == 0) continue;
    uint64_t id;
    const char *why = nf != (int)want ? "field count" : imp_parse_u64(f[0], &id) ? "movie id" : NULL;
    int first = -1;
    for (uint32_t g = 0; !why && g < s->n_genres; g++) {
      const char *v = f[ML_ITEM_FIXED + g];
      if (strcmp(v, "0") && strcmp(v, "1")) why = "genre flag";
      else if (v[0] == '1' && first < 0) first = (int)g;
    }
    if (why) {
      if (imp_bad(d, err, "%s:%llu: %s: expected %u '|'-separated fields (id|title|release date|video date|url|%u "
                  "genre flags of 0 or 1) with an integer movie id",
                  path, (unsigned long long)lr.line, why, want, s->n_genres))
        goto done;
      continue;
    }
    char key[32];
    snprintf(key, sizeof key, "%llu", (unsigned long long)id);
    uint32_t before = s->ikeys.n, kid, item, ind;
    if (imp_strtab_intern(&s->ikeys, key, strlen(key), &kid, err)) goto done;
    if (s->ikeys.n == before) {
      if (imp_bad(d, err, "%s:%llu: movie id %s listed twice", path, (unsigned long long)lr.line, key)) goto done;
      continue;
    }
    if (kid >= s->cap) {
      uint32_t nc = s->cap ? s->cap * 2 : 1024;
      uint32_t *a = realloc(s->ind_of, (size_t)nc * sizeof *a);
      if (a) s->ind_of = a;
      uint32_t *b = a ? realloc(s->item_of, (size_t)nc * sizeof *b) : NULL;
      if (!b) {
        fm_fail(err, "importer: out of memory");
        goto done;
      }
      s->item_of = b;
      s->cap = nc;
    }
    if (imp_ind(d, first >= 0 ? s->genre[first] : "unknown", &ind, err) || imp_item(d, key, &item, err)) goto done;
    s->ind_of[kid] = ind;
    s->item_of[kid] = item;
    for (uint32_t g = 0; g < s->n_genres; g++)
      if (f[ML_ITEM_FIXED + g][0] == '1' && imp_add_itok(d, item, fm_hash_feature("genre", s->genre[g]), err))
        goto done;
    /* release date "01-Jan-1995": the decade as a band */
    const char *date = f[2], *dash = strrchr(date, '-');
    uint64_t year;
    if (dash && !imp_parse_u64(dash + 1, &year) && year >= 1000 && year <= 9999) {
      char v[24];
      snprintf(v, sizeof v, "%llus", (unsigned long long)(year / 10 * 10));
      if (imp_add_itok(d, item, fm_hash_feature("year", v), err)) goto done;
    }
  }
  rc = 0;
done:
  imp_lines_close(&lr);
  return rc;
}

static int read_users(ml_state *s, const char *path, fm_err *err) {
  imp_data *d = s->d;
  imp_lines lr;
  if (imp_lines_open(&lr, path, "lines 'id|age|gender|occupation|zip'", err)) return -1;
  int rc = -1, r;
  char *line, *f[6];
  size_t len;
  while ((r = imp_lines_next(&lr, &line, &len, err)) != 0) {
    if (r < 0) goto done;
    int nf = r == 2 ? -2 : imp_split(line, '|', 0, f, 5);
    if (nf == 0) continue;
    uint64_t id, age;
    if (nf != 5 || imp_parse_u64(f[0], &id) || imp_parse_u64(f[1], &age)) {
      if (imp_bad(d, err, "%s:%llu: expected 'id|age|gender|occupation|zip' with integer id and age", path,
                  (unsigned long long)lr.line))
        goto done;
      continue;
    }
    char key[32];
    snprintf(key, sizeof key, "%llu", (unsigned long long)id);
    uint32_t u;
    if (imp_user(d, key, &u, err)) goto done;
    const char *g = (f[2][0] == 'F' || f[2][0] == 'f') && !f[2][1] ? "f"
                  : (f[2][0] == 'M' || f[2][0] == 'm') && !f[2][1] ? "m" : "x";
    char occ[SHARD_NAME_MAX], zip[2] = {f[4][0], 0};
    imp_slug(occ, sizeof occ, f[3]);
    if (imp_add_utok(d, u, fm_hash_feature("age", age_band(age)), err) ||
        imp_add_utok(d, u, fm_hash_feature("gender", g), err) ||
        (occ[0] && imp_add_utok(d, u, fm_hash_feature("occupation", occ), err)) ||
        (zip[0] && imp_add_utok(d, u, fm_hash_feature("zip", zip), err)))
      goto done;
  }
  rc = 0;
done:
  imp_lines_close(&lr);
  return rc;
}

static int read_ratings(ml_state *s, const char *path, const fm_config *c, fm_err *err) {
  imp_data *d = s->d;
  imp_lines lr;
  if (imp_lines_open(&lr, path, "lines 'user<TAB>item<TAB>rating<TAB>time'", err)) return -1;
  uint32_t known_users = d->users.n;
  uint64_t no_demo = 0;
  int rc = -1, r;
  char *line, *f[5];
  size_t len;
  while ((r = imp_lines_next(&lr, &line, &len, err)) != 0) {
    if (r < 0) goto done;
    d->st->lines++;
    int nf = r == 2 ? -2 : imp_split(line, 0, 0, f, 4);
    if (nf == 0) continue;
    uint64_t uid, iid;
    int64_t ts = 0;
    double rating = 0;
    const char *why = nf != 4 ? "expected 4 fields user<TAB>item<TAB>rating<TAB>time"
                    : imp_parse_u64(f[0], &uid) ? "column 1 (user): expected an integer id"
                    : imp_parse_u64(f[1], &iid) ? "column 2 (item): expected an integer id"
                    : imp_parse_f64(f[2], &rating) ? "column 3 (rating): expected a number"
                    : imp_parse_i64(f[3], &ts) ? "column 4 (time): expected integer seconds since 1970" : NULL;
    char key[32];
    int64_t kid = -1;
    if (!why) {
      snprintf(key, sizeof key, "%llu", (unsigned long long)iid);
      kid = imp_strtab_find(&s->ikeys, key, strlen(key));
      if (kid < 0) why = "column 2 (item): expected a movie listed in u.item";
    }
    if (why) {
      if (imp_bad(d, err, "%s:%llu: %s", path, (unsigned long long)lr.line, why)) goto done;
      continue;
    }
    if (!(rating > 0)) {
      d->st->rating_zero++;
      continue;
    }
    if (rating < c->min_rating) {
      d->st->rating_low++;
      continue;
    }
    snprintf(key, sizeof key, "%llu", (unsigned long long)uid);
    uint32_t u;
    if (imp_user(d, key, &u, err)) goto done;
    if (u >= known_users) {
      known_users = u + 1;
      no_demo++;
    }
    if (imp_add_rec(d, u, s->item_of[kid], s->ind_of[kid], ts, err)) goto done;
  }
  if (no_demo) imp_note(d, "%llu users of u.data are not in u.user (no user tokens)", (unsigned long long)no_demo);
  rc = 0;
done:
  imp_lines_close(&lr);
  return rc;
}

int import_read_movielens(imp_data *d, const fm_config *c, fm_err *err) {
  if (!imp_is_dir(c->input)) {
    fm_fail(err, "--input %s: not a folder; --format movielens expects the ml-100k folder "
                 "(u.data, u.item, u.user, u.genre)", c->input);
    return IMPORT_EDATA;
  }
  char pdata[CFG_PATH_MAX + 16], pitem[CFG_PATH_MAX + 16], puser[CFG_PATH_MAX + 16], pgenre[CFG_PATH_MAX + 16];
  if (ml_path(pdata, sizeof pdata, c->input, "u.data", err) || ml_path(pitem, sizeof pitem, c->input, "u.item", err) ||
      ml_path(puser, sizeof puser, c->input, "u.user", err) || ml_path(pgenre, sizeof pgenre, c->input, "u.genre", err))
    return IMPORT_EDATA;
  ml_state s;
  memset(&s, 0, sizeof s);
  s.d = d;
  int rc = IMPORT_EDATA;
  if (read_genres(&s, pgenre, err) || read_items(&s, pitem, err) || read_users(&s, puser, err) ||
      read_ratings(&s, pdata, c, err))
    goto done;
  imp_note(d, "industries are pseudo-industries: the first genre flag of each movie");
  rc = 0;
done:
  imp_strtab_free(&s.ikeys);
  free(s.ind_of);
  free(s.item_of);
  return rc;
}
