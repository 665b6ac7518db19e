/* worker/localstate.c: a platform's private state between rounds (see localstate.h). */
#include "worker/localstate.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/le.h"
#include "common/fileio.h"

#define LS_HEADER 48

int localstate_needed(const fm_config *c) { return c->local_lr > 0 || !strcmp(c->algo, "local"); }

static void path_of(char *out, size_t cap, const fm_config *c, const platform_t *p, uint32_t round) {
  snprintf(out, cap, "%s/local/%s.r%u.fmls", c->out, p->name, round);
}


int localstate_save(const fm_config *c, const platform_t *p, size_t d, uint32_t round, fm_err *err) {
  const model_local_t *l = &p->local;
  size_t nP = (size_t)l->n_users * l->dim, nQ = (size_t)l->n_items * l->dim;
  size_t n_phi = p->phi ? d : 0, n_opt = (!strcmp(c->algo, "local") && p->tr) ? trainer_opt_floats(p->tr) : 0;
  size_t floats = nP + nQ + n_phi + n_opt, len = LS_HEADER + floats * sizeof(float) + 32;
  uint8_t *buf = malloc(len);
  if (!buf) return fm_fail(err, "out of memory for the local state of %s", p->name);
  memcpy(buf, "FMLS", 4);
  le_put32(buf + 4, 1);
  le_put32(buf + 8, p->id);
  le_put32(buf + 12, round);
  le_put32(buf + 16, l->n_users);
  le_put32(buf + 20, l->n_items);
  le_put32(buf + 24, l->dim);
  le_put32(buf + 28, 0);
  le_put64(buf + 32, n_phi);
  le_put64(buf + 40, n_opt);
  float *f = (float *)(void *)(buf + LS_HEADER); /* 48 is a multiple of 4; malloc is aligned */
  memcpy(f, l->user_id, nP * sizeof *f);
  memcpy(f + nP, l->item_id, nQ * sizeof *f);
  if (n_phi) memcpy(f + nP + nQ, p->phi, n_phi * sizeof *f);
  if (n_opt) trainer_opt_save(p->tr, f + nP + nQ + n_phi);
  crypto_generichash(buf + len - 32, 32, buf, len - 32, NULL, 0);
  char dir[CFG_PATH_MAX + 16], path[CFG_PATH_MAX + 128];
  snprintf(dir, sizeof dir, "%s/local", c->out);
  int rc = fm_mkdir_p(dir, err);
  path_of(path, sizeof path, c, p, round);
  if (!rc) rc = fm_write_atomic(path, buf, len, err);
  free(buf);
  if (rc) return fm_wrap(err, "local state of %s", p->name);
  uint32_t every = c->checkpoint_every ? c->checkpoint_every : 1;
  if (round > 2 * every) { /* keep this one and the previous */
    path_of(path, sizeof path, c, p, round - 2 * every);
    unlink(path);
  }
  return 0;
}

int localstate_load(const fm_config *c, platform_t *p, const model_cfg_t *mc, const round_settings_t *rs, size_t d,
                    uint32_t round, fm_err *err) {
  char path[CFG_PATH_MAX + 128];
  path_of(path, sizeof path, c, p, round);
  uint8_t *buf;
  size_t len;
  if (fm_read_file(path, &buf, &len, (size_t)1 << 36, err))
    return fm_wrap(err, "--resume: the local state of %s after round %u", p->name, round);
  int rc = 0;
  model_local_t *l = &p->local;
  size_t nP = (size_t)l->n_users * l->dim, nQ = (size_t)l->n_items * l->dim;
  uint8_t h[32];
  if (len < LS_HEADER + 32 || memcmp(buf, "FMLS", 4) || le_get32(buf + 4) != 1) {
    rc = fm_fail(err, "%s: not a fedmeta local state file (magic or version)", path);
    goto done;
  }
  crypto_generichash(h, 32, buf, len - 32, NULL, 0);
  if (sodium_memcmp(h, buf + len - 32, 32)) {
    rc = fm_fail(err, "%s: checksum mismatch: the file is damaged", path);
    goto done;
  }
  size_t n_phi = le_get64(buf + 32), n_opt = le_get64(buf + 40);
  if (le_get32(buf + 8) != p->id || le_get32(buf + 12) != round || le_get32(buf + 16) != l->n_users ||
      le_get32(buf + 20) != l->n_items || le_get32(buf + 24) != l->dim || (n_phi && n_phi != d) ||
      len != LS_HEADER + (nP + nQ + n_phi + n_opt) * sizeof(float) + 32) {
    rc = fm_fail(err, "%s: made for another platform, round or model shape", path);
    goto done;
  }
  const float *f = (const float *)(const void *)(buf + LS_HEADER);
  memcpy(l->user_id, f, nP * sizeof *f);
  memcpy(l->item_id, f + nP, nQ * sizeof *f);
  if (n_phi) {
    if (!p->phi && !(p->phi = malloc(sizeof(float) * d))) {
      rc = fm_fail(err, "out of memory");
      goto done;
    }
    memcpy(p->phi, f + nP + nQ, n_phi * sizeof *f);
  }
  if (n_opt) {
    if (!p->tr && trainer_init(&p->tr, mc, &rs->train, &p->ds, &p->local, c->seed, p->id, err)) {
      rc = -1;
      goto done;
    }
    if (trainer_opt_floats(p->tr) != n_opt) {
      rc = fm_fail(err, "%s: optimiser state of %zu floats, this run's has %zu", path, n_opt, trainer_opt_floats(p->tr));
      goto done;
    }
    trainer_opt_load(p->tr, f + nP + nQ + n_phi);
  }
done:
  free(buf);
  return rc;
}
