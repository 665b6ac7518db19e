/* common/source.c: the synthetic market or a prepared folder (see source.h). */
#include "common/source.h"

#include <stdlib.h>
#include <string.h>

#include "common/manifest.h"
#include "common/market.h"

int source_open(source_t *s, const fm_config *c, fm_err *err) {
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

void source_close(source_t *s) {
  if (!s) return;
  if (s->impl && !s->synthetic) manifest_free(s->impl);
  free(s->impl);
  free(s->names);
  memset(s, 0, sizeof *s);
}

int source_find(const source_t *s, const char *name) {
  for (uint32_t i = 0; i < s->n_platforms; i++)
    if (strcmp(s->names[i], name) == 0) return (int)i;
  return -1;
}

int source_load(const source_t *s, uint32_t p, shard_t *out, fm_err *err) {
  if (p >= s->n_platforms) return fm_fail(err, "platform %u does not exist (%u platforms)", p, s->n_platforms);
  if (s->synthetic) return market_platform(out, s->impl, p, err);
  return manifest_shard_open(out, s->impl, s->dir, p, err);
}

int source_heldout(const source_t *s, const char *list, uint8_t *mask, fm_err *err) {
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
