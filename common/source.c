/* common/source.c: the synthetic market or a prepared folder (see source.h). */
#include "common/source.h"

#include <stdlib.h>
#include <string.h>

#include "common/manifest.h"
#include "common/market.h"
#include "common/pool.h"

static int heldout_by_name(const source_t *s, const char *list, uint8_t *mask, fm_err *err);
static int make_pooled(source_t *s, const char *list, fm_err *err);

static int open_base(source_t *s, const fm_config *c, fm_err *err) {
  memset(s, 0, sizeof *s);
  if (c->data[0]) {
    manifest_t *m = calloc(1, sizeof *m);
    if (!m) return fm_fail(err, "out of memory");
    char path[CFG_PATH_MAX + 32];
    if (manifest_path(path, sizeof path, c->data, MANIFEST_FILE, err) || manifest_read(m, path, err)) {
      free(m);
      return fm_wrap(err, "--data %s (expected a folder written by fedmeta synth or fedmeta prepare)", c->data);
    }
    s->impl = m;
    s->n_platforms = m->n;
    snprintf(s->dir, sizeof s->dir, "%s", c->data);
    s->names = calloc(m->n ? m->n : 1, sizeof *s->names);
    if (!s->names) {
      source_close(s);
      return fm_fail(err, "out of memory");
    }
    for (uint32_t i = 0; i < m->n; i++) snprintf(s->names[i], SHARD_NAME_MAX, "%s", m->e[i].name);
    return 0;
  }
  market_cfg_t *mc = calloc(1, sizeof *mc);
  if (!mc) return fm_fail(err, "out of memory");
  market_cfg_default(mc);
  mc->seed = c->market_seed;
  mc->n_industries = c->industries;
  mc->n_users = c->users;
  mc->scale = c->scale;
  if (market_cfg_validate(mc, err)) {
    free(mc);
    return fm_wrap(err, "synthetic market");
  }
  s->synthetic = 1;
  s->impl = mc;
  s->n_platforms = mc->n_industries;
  s->names = calloc(s->n_platforms, sizeof *s->names);
  if (!s->names) {
    source_close(s);
    return fm_fail(err, "out of memory");
  }
  for (uint32_t i = 0; i < s->n_platforms; i++)
    snprintf(s->names[i], SHARD_NAME_MAX, "%s", market_industry_name(i));
  return 0;
}

int source_open(source_t *s, const fm_config *c, fm_err *err) {
  if (open_base(s, c, err)) return -1;
  if (strcmp(c->algo, "central") == 0 && make_pooled(s, c->heldout, err)) {
    source_close(s);
    return -1;
  }
  return 0;
}

/* Platform 0 becomes the pool of the training platforms; the held-out ones
 * follow in their order. */
static int make_pooled(source_t *s, const char *list, fm_err *err) {
  uint32_t nb = s->n_platforms;
  uint8_t *mask = calloc(nb ? nb : 1, 1);
  if (!mask) return fm_fail(err, "out of memory");
  if (heldout_by_name(s, list, mask, err)) {
    free(mask);
    return fm_wrap(err, "--algo central");
  }
  uint32_t n_held = 0;
  for (uint32_t b = 0; b < nb; b++) n_held += mask[b];
  uint32_t n_pool = nb - n_held;
  if (n_pool == 0) {
    free(mask);
    return fm_fail(err, "--algo central: every platform is held out: nothing to pool (check --heldout)");
  }
  for (uint32_t b = 0; b < nb; b++)
    if (mask[b] && strcmp(s->names[b], SOURCE_POOLED_NAME) == 0) {
      free(mask);
      return fm_fail(err, "--algo central: a held-out industry is called '%s', the name of the pooled platform",
                     SOURCE_POOLED_NAME);
    }
  char(*names)[SHARD_NAME_MAX] = calloc((size_t)n_held + 1, sizeof *names);
  uint32_t *base_of = calloc((size_t)n_held + 1, sizeof *base_of);
  uint32_t *parts = calloc(n_pool, sizeof *parts);
  if (!names || !base_of || !parts) {
    free(mask);
    free(names);
    free(base_of);
    free(parts);
    return fm_fail(err, "out of memory");
  }
  snprintf(names[0], SHARD_NAME_MAX, "%s", SOURCE_POOLED_NAME);
  base_of[0] = UINT32_MAX;
  uint32_t n = 1, m = 0;
  for (uint32_t b = 0; b < nb; b++) {
    if (mask[b]) {
      snprintf(names[n], SHARD_NAME_MAX, "%s", s->names[b]);
      base_of[n++] = b;
    } else {
      parts[m++] = b;
    }
  }
  free(mask);
  free(s->names);
  s->names = names;
  s->base_of = base_of;
  s->pool_parts = parts;
  s->n_pool = n_pool;
  s->n_base = nb;
  s->n_platforms = n;
  s->pooled = 1;
  return 0;
}

void source_close(source_t *s) {
  if (!s) return;
  if (s->impl && !s->synthetic) manifest_free(s->impl);
  free(s->impl);
  free(s->names);
  free(s->base_of);
  free(s->pool_parts);
  memset(s, 0, sizeof *s);
}

int source_find(const source_t *s, const char *name) {
  for (uint32_t i = 0; i < s->n_platforms; i++)
    if (strcmp(s->names[i], name) == 0) return (int)i;
  return -1;
}

/* Platform b of the underlying market or folder. */
static int load_base(const source_t *s, uint32_t b, shard_t *out, fm_err *err) {
  if (s->synthetic) return market_platform(out, s->impl, b, err);
  return manifest_shard_open(out, s->impl, s->dir, b, err);
}

static int load_part(void *ctx, uint32_t i, shard_t *out, fm_err *err) {
  const source_t *s = ctx;
  return load_base(s, s->pool_parts[i], out, err);
}

int source_load(const source_t *s, uint32_t p, shard_t *out, fm_err *err) {
  if (p >= s->n_platforms) return fm_fail(err, "platform %u does not exist (%u platforms)", p, s->n_platforms);
  if (!s->pooled) return load_base(s, p, out, err);
  if (s->base_of[p] == UINT32_MAX)
    return pool_merge(out, SOURCE_POOLED_NAME, p, s->n_pool, load_part, (void *)s, err);
  if (load_base(s, s->base_of[p], out, err)) return -1;
  out->platform = p;
  return 0;
}

int source_heldout(const source_t *s, const char *list, uint8_t *mask, fm_err *err) {
  if (!s->pooled) return heldout_by_name(s, list, mask, err);
  /* the held-out set was fixed at source_open: a list may only repeat it */
  if (list && *list) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      int p = source_find(s, tok);
      if (p <= 0)
        return fm_fail(err, "--heldout: '%s' is not one of the held-out industries of this pooled source", tok);
    }
  }
  for (uint32_t p = 0; p < s->n_platforms; p++) mask[p] = s->base_of[p] != UINT32_MAX;
  return 0;
}

static int heldout_by_name(const source_t *s, const char *list, uint8_t *mask, fm_err *err) {
  memset(mask, 0, s->n_platforms);
  if (!list || !*list) {
    if (s->synthetic) {
      mask[market_default_heldout(s->impl)] = 1;
      return 0;
    }
    return fm_fail(err, "--heldout: name the held-out industries of %s (one or more of its platforms)", s->dir);
  }
  char buf[256];
  snprintf(buf, sizeof buf, "%s", list);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int p = source_find(s, tok);
    if (p < 0) {
      char names[512] = "";
      size_t off = 0;
      for (uint32_t i = 0; i < s->n_platforms && off < sizeof names - 70; i++)
        off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", i ? ", " : "", s->names[i]);
      return fm_fail(err, "--heldout: no industry called '%s' (have: %s)", tok, names);
    }
    mask[p] = 1;
  }
  return 0;
}
