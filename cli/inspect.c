/* cli/inspect.c: `fedmeta inspect FILE...` prints what a meta-model holds: how
 * it was trained, its shape and terms, and the learned weights. The scalar
 * weights of the terms (beta, gamma, tau, alpha, eta, kappa) are what
 * transfers between industries whose catalogues do not overlap, so they are
 * printed in full, each beside the value the model starts from; the large
 * tensors are summarised (root mean square, largest magnitude). Reads
 * meta-model.pb files (checkpoint_read: version, shapes and finite values
 * checked), nothing else. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/checkpoint.h"
#include "common/model.h"

/* A term's start, from model_shared_init itself (0 ... n-1 of the view); all
 * the same values (gamma's) are printed once. */
static void print_start(const float *s, size_t n) {
  size_t same = 1;
  while (same < n && s[same] == s[0]) same++;
  printf("   (start:");
  for (size_t q = 0; q < (same == n ? 1 : n); q++) printf(" %.4g", (double)s[q]);
  printf("%s)\n", same == n && n > 1 ? " each" : "");
}

void inspect_print_terms(const model_cfg_t *m, const float *theta, const float *start) {
  model_view_t v[MODEL_N_VIEWS];
  model_views(m, v);
  for (int k = MODEL_POP; k < MODEL_N_VIEWS; k++) {
    size_t n = (size_t)v[k].rows * v[k].cols;
    if (n == 0) continue;
    printf("  %-6s", v[k].name);
    for (size_t i = 0; i < n; i++) printf(" %.4g", (double)theta[v[k].offset + i]);
    if (start) print_start(start + v[k].offset, n);
    else printf("\n");
    if (k == MODEL_SPEC && m->spectral_basis) { /* the filter those coefficients make */
      float *gam = malloc(m->spectral * sizeof *gam);
      if (!gam || model_gamma(m, theta, gam)) {
        printf("  gamma  (out of memory)\n");
      } else {
        printf("  gamma ");
        for (uint32_t i = 0; i < m->spectral; i++) printf(" %.4g", (double)gam[i]);
        printf("\n");
      }
      free(gam);
    }
  }
}

static void print_model(const char *path, const checkpoint_t *ck) {
  const model_cfg_t *m = &ck->model;
  printf("%s: %s, round %u, seed %llu; %zu shared parameters\n", path, ck->algo[0] ? ck->algo : "?", ck->round,
         (unsigned long long)ck->seed, ck->n_theta);
  printf("  shape: dim %u, hidden %u, buckets %u, history %u items\n", m->dim, m->hidden, m->n_buckets, m->hist_len);
  /* the settings' comment lines: what was done to the model since (e.g. a fine-tune by fedmeta recommend) */
  for (const char *l = ck->config; l && *l;) {
    const char *e = strchr(l, '\n');
    int n = e ? (int)(e - l) : (int)strlen(l);
    if (*l == '#') {
      int skip = 1 + (n > 1 && l[1] == ' '); /* "# " */
      printf("  note: %.*s\n", n - skip, l + skip);
    }
    l = e ? e + 1 : NULL;
  }
  printf("  terms: towers %s", m->no_towers ? "off" : "on");
  if (m->pop_prior) printf(", popularity");
  if (m->spectral) printf(", co-occurrence (rank %u%s)", m->spectral, m->spectral_basis ? ", smooth filter" : "");
  if (m->time_lags) printf(", time (%u lags of %.0f days)", m->time_lags, m->time_bin_s / 86400.0);
  if (m->attr) printf(", attributes");
  if (m->ease) printf(", EASE (lambda %u)", m->ease);
  if (m->trans) printf(", transitions");
  if (m->user_ids) printf(", shared user table (global-id tokens)");
  printf("\n");
  model_view_t v[MODEL_N_VIEWS];
  model_views(m, v);
  for (int k = 0; k < MODEL_POP; k++) { /* the large tensors: a summary */
    size_t n = (size_t)v[k].rows * v[k].cols;
    if (n == 0) continue;
    const float *x = ck->theta + v[k].offset;
    double ss = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
      ss += (double)x[i] * x[i];
      if (fabs((double)x[i]) > mx) mx = fabs((double)x[i]);
    }
    /* digest: FNV-1a over the view's bytes, to tell two models' views apart */
    uint32_t h = 2166136261u;
    const unsigned char *b = (const unsigned char *)x;
    for (size_t i = 0; i < n * sizeof *x; i++) h = (h ^ b[i]) * 16777619u;
    printf("  %-6s %u x %u: rms %.4g, max |x| %.4g, digest %08x%s\n", v[k].name, v[k].rows, v[k].cols,
           sqrt(ss / (double)n), mx, h, m->no_towers ? " (unused: towers off)" : "");
  }
  float *start = malloc(ck->n_theta * sizeof *start + 1); /* the starting theta: its terms need no seed */
  if (start) model_shared_init(start, m, ck->seed);
  inspect_print_terms(m, ck->theta, start);
  free(start);
}

int cmd_inspect(int argc, char **argv) {
  if (argc < 3 || !strcmp(argv[2], "--help") || !strcmp(argv[2], "-h")) {
    fprintf(argc < 3 ? stderr : stdout,
            "usage: fedmeta inspect MODEL [MODEL...]\n"
            "  prints what a meta-model (meta-model.pb) holds: how it was trained, its shape and\n"
            "  terms, every learned weight of the terms (beside its start) and a summary of the\n"
            "  large tensors\n");
    return argc < 3 ? 2 : 0;
  }
  int code = 0;
  for (int i = 2; i < argc; i++) {
    checkpoint_t ck;
    fm_err err = {{0}};
    memset(&ck, 0, sizeof ck);
    if (checkpoint_read(&ck, argv[i], &err)) {
      fprintf(stderr, "fedmeta inspect: %s\n", err.msg);
      code = 1;
      continue;
    }
    print_model(argv[i], &ck);
    checkpoint_free(&ck);
  }
  return code;
}
