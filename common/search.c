/* common/search.c: the candidates of the federated start search (search.h). */
#include "common/search.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *name;
  int view;
  const char *dflt;
} AXES[] = {
    {"gamma", MODEL_SPEC, SEARCH_DEFAULT_GAMMA}, {"tau", MODEL_TIME, SEARCH_DEFAULT_TAU},
    {"kappa", MODEL_TRANS, SEARCH_DEFAULT_KAPPA}, {"alpha", MODEL_ATTR, SEARCH_DEFAULT_ALPHA},
    {"eta", MODEL_EASE, SEARCH_DEFAULT_ETA},
};
#define N_AXES (sizeof AXES / sizeof AXES[0])

static const char *axis_name(int view) {
  for (size_t i = 0; i < N_AXES; i++)
    if (AXES[i].view == view) return AXES[i].name;
  return "?";
}

static int view_present(const model_cfg_t *mc, int view) {
  model_view_t v[MODEL_N_VIEWS];
  model_views(mc, v);
  return (size_t)v[view].rows * v[view].cols > 0;
}

static int parse_num(const char *s, const char *end, float *out) {
  char buf[64];
  size_t n = (size_t)(end - s);
  if (n == 0 || n >= sizeof buf) return -1;
  memcpy(buf, s, n);
  buf[n] = 0;
  char *e;
  errno = 0;
  double x = strtod(buf, &e);
  if (*e || errno || !isfinite(x) || fabs(x) > 1e6) return -1;
  *out = (float)x;
  return 0;
}

/* One axis "name=v,v,..." (the text [s, end)). */
static int parse_axis(search_grid_t *g, const char *s, const char *end, const model_cfg_t *mc, fm_err *err) {
  const char *eq = memchr(s, '=', (size_t)(end - s));
  if (!eq) return fm_fail(err, "--search-grid: '%.*s': expected NAME=V,V,... (NAME one of gamma, tau, kappa, alpha, eta)",
                          (int)(end - s), s);
  size_t ax = N_AXES;
  for (size_t i = 0; i < N_AXES; i++)
    if (strlen(AXES[i].name) == (size_t)(eq - s) && !memcmp(AXES[i].name, s, (size_t)(eq - s))) ax = i;
  if (ax == N_AXES)
    return fm_fail(err, "--search-grid: '%.*s' is not a term weight (gamma, tau, kappa, alpha or eta)", (int)(eq - s), s);
  if (!view_present(mc, AXES[ax].view))
    return fm_fail(err, "--search-grid: the model has no %s (its term is off)", AXES[ax].name);
  for (uint32_t i = 0; i < g->n_axes; i++)
    if (g->axis[i].view == AXES[ax].view) return fm_fail(err, "--search-grid: %s given twice", AXES[ax].name);
  search_axis_t *a = &g->axis[g->n_axes];
  memset(a, 0, sizeof *a);
  a->view = AXES[ax].view;
  for (const char *p = eq + 1; p < end;) {
    const char *q = p;
    while (q < end && *q != ',') q++;
    if (a->n == SEARCH_MAX_VALUES)
      return fm_fail(err, "--search-grid: %s has more than %u values", AXES[ax].name, SEARCH_MAX_VALUES);
    int bad;
    if (a->view == MODEL_TIME) {
      const char *colon = memchr(p, ':', (size_t)(q - p));
      bad = !colon || parse_num(p, colon, &a->a[a->n]) || parse_num(colon + 1, q, &a->w[a->n]) || !(a->w[a->n] > 0);
      if (bad)
        return fm_fail(err, "--search-grid: tau value '%.*s': expected HEIGHT:WIDTH, numbers, the width > 0",
                       (int)(q - p), p);
    } else if (parse_num(p, q, &a->a[a->n])) {
      return fm_fail(err, "--search-grid: %s value '%.*s' is not a number", AXES[ax].name, (int)(q - p), p);
    }
    a->n++;
    p = q < end ? q + 1 : q;
  }
  if (a->n == 0) return fm_fail(err, "--search-grid: %s has no values", AXES[ax].name);
  g->n_axes++;
  return 0;
}

int search_grid_parse(search_grid_t *g, const char *spec, const model_cfg_t *mc, fm_err *err) {
  memset(g, 0, sizeof *g);
  if (!mc->pop_prior)
    return fm_fail(err, "--search-k needs --pop-prior on: the candidates' term weights are relative to beta");
  if (!mc->no_towers)
    return fm_fail(err, "--search-k needs --towers off: the candidates set the term weights, which are the whole "
                        "score only without the towers");
  if (spec && spec[0]) {
    const char *p = spec;
    while (*p) {
      while (*p == ' ' || *p == ';') p++;
      if (!*p) break;
      const char *q = p;
      while (*q && *q != ' ' && *q != ';') q++;
      if (parse_axis(g, p, q, mc, err)) return -1;
      p = q;
    }
  } else {
    for (size_t i = 0; i < N_AXES; i++) {
      if (!view_present(mc, AXES[i].view)) continue;
      char one[160];
      snprintf(one, sizeof one, "%s=%s", AXES[i].name, AXES[i].dflt);
      if (parse_axis(g, one, one + strlen(one), mc, err)) return -1;
    }
  }
  if (g->n_axes == 0) return fm_fail(err, "--search-k: the model has no term weight to search (gamma, tau, kappa, alpha, eta)");
  uint64_t n = 1;
  for (uint32_t i = 0; i < g->n_axes; i++) n *= g->axis[i].n;
  if (n + 1 > SEARCH_MAX_CAND)
    return fm_fail(err, "--search-grid: %llu points, at most %u", (unsigned long long)n, SEARCH_MAX_CAND - 1);
  g->n_cand = (uint32_t)n + 1;
  return 0;
}

size_t search_tail_offset(const model_cfg_t *mc) {
  model_view_t v[MODEL_N_VIEWS];
  model_views(mc, v);
  return v[MODEL_POP].offset;
}

size_t search_tail_len(const model_cfg_t *mc) { return model_n_shared(mc) - search_tail_offset(mc); }

int search_candidates(const search_grid_t *g, const model_cfg_t *mc, const float *theta, float *out, fm_err *err) {
  model_view_t v[MODEL_N_VIEWS];
  model_views(mc, v);
  const size_t off = v[MODEL_POP].offset, n = search_tail_len(mc);
  const float beta = theta[off];
  if (!(beta > 0))
    return fm_fail(err, "--search-k: the meta-model's popularity weight beta is %g, not > 0 (the candidates' weights "
                        "are relative to it)", beta);
  memcpy(out, theta + off, sizeof(float) * n); /* the meta-model as it is, bit for bit */
  for (uint32_t c = 1; c < g->n_cand; c++) {
    float *t = out + (size_t)c * n;
    for (size_t j = 0; j < n; j++) t[j] = theta[off + j] / beta; /* beta = 1, the same ranking */
    uint32_t rest = c - 1;
    for (int ax = (int)g->n_axes - 1; ax >= 0; ax--) { /* the last axis fastest */
      const search_axis_t *a = &g->axis[ax];
      uint32_t k = rest % a->n;
      rest /= a->n;
      const model_view_t *vw = &v[a->view];
      float *w = t + (vw->offset - off);
      size_t len = (size_t)vw->rows * vw->cols;
      if (a->view == MODEL_TIME) {
        const uint32_t J = mc->time_lags;
        for (size_t j = 0; j < len; j++)
          w[j] = (float)(a->a[k] * exp(-fabs((double)j - J) / a->w[k]));
      } else if (a->view == MODEL_SPEC && mc->spectral_basis) {
        for (size_t j = 0; j < len; j++) w[j] = j == 0 ? a->a[k] : 0.0f; /* P_0 = 1: a flat filter */
      } else {
        for (size_t j = 0; j < len; j++) w[j] = a->a[k];
      }
    }
  }
  return 0;
}

void search_label(const search_grid_t *g, uint32_t c, char *buf, size_t cap) {
  if (c == 0) {
    snprintf(buf, cap, "as trained");
    return;
  }
  uint32_t idx[5] = {0}, rest = c - 1;
  for (int ax = (int)g->n_axes - 1; ax >= 0; ax--) {
    idx[ax] = rest % g->axis[ax].n;
    rest /= g->axis[ax].n;
  }
  size_t off = 0;
  buf[0] = 0;
  for (uint32_t ax = 0; ax < g->n_axes && off < cap; ax++) {
    const search_axis_t *a = &g->axis[ax];
    const char *name = axis_name(a->view);
    int w = a->view == MODEL_TIME ? snprintf(buf + off, cap - off, "%s%s=%g:%g", ax ? " " : "", name, a->a[idx[ax]], a->w[idx[ax]])
                                  : snprintf(buf + off, cap - off, "%s%s=%g", ax ? " " : "", name, a->a[idx[ax]]);
    if (w < 0) break;
    off += (size_t)w;
  }
}

int search_ks_parse(const char *s, uint32_t *ks, uint32_t *n, fm_err *err) {
  *n = 0;
  if (!s || !s[0]) return 0;
  for (const char *p = s; *p;) {
    char *e;
    errno = 0;
    unsigned long k = strtoul(p, &e, 10);
    if (e == p || errno || k < 1 || k > 1000 || (*e && *e != ','))
      return fm_fail(err, "--search-k '%s': expected K values 1..1000, comma-separated", s);
    if (*n == SEARCH_MAX_K) return fm_fail(err, "--search-k '%s': at most %u values", s, SEARCH_MAX_K);
    for (uint32_t i = 0; i < *n; i++)
      if (ks[i] == k) return fm_fail(err, "--search-k '%s': %lu given twice", s, k);
    ks[(*n)++] = (uint32_t)k;
    p = *e ? e + 1 : e;
    if (*e && !*p) return fm_fail(err, "--search-k '%s': expected K values 1..1000, comma-separated", s);
  }
  return 0;
}
