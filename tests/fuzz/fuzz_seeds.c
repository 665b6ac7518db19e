/* tests/fuzz/fuzz_seeds.c: writes the seed corpora of the fuzz harnesses,
 * `fuzz_seeds DIR` -> DIR/<harness>/<seed> (the committed tests/fuzz/corpus/
 * is its output; `make fuzz-seeds` regenerates it).
 *
 * Every seed comes from the fixtures the unit tests build (tests/unit/
 * test_msg.c, test_shard.c, test_config.c, test_import.c): hand-made
 * messages, a hand-made shard and checkpoint, and the small hand-written
 * importer inputs. No real data set is used (their terms forbid copying them;
 * see README "Data"). The input layouts (selector byte, settings byte,
 * sections) are those documented at the top of each fuzz_<name>.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/checkpoint.h"
#include "common/config.h"
#include "common/fileio.h"
#include "common/manifest.h"
#include "common/msg.h"
#include "common/seal.h"
#include "common/shard.h"
#include "tests/fuzz/fuzz_util.h"

static const char *g_out;

static void die(const char *what, const fm_err *e) {
  fprintf(stderr, "fuzz_seeds: %s: %s\n", what, e ? e->msg : strerror(errno));
  exit(1);
}

/* Writes DIR/harness/name = prefix (plen bytes) + body. */
static void seed(const char *harness, const char *name, const void *prefix, size_t plen, const void *body,
                 size_t blen) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s/%s", g_out, harness, name);
  fuzz_mkdirs_for(path);
  FILE *f = fopen(path, "wb");
  if (!f || (plen && fwrite(prefix, 1, plen, f) != plen) || (blen && fwrite(body, 1, blen, f) != blen) ||
      fclose(f) != 0)
    die(path, NULL);
}

/* Joins up to 8 sections with FUZZ_SEP (a NULL ends the list). */
static char *sections(const char *const *parts) {
  size_t n = 1;
  for (int i = 0; parts[i]; i++) n += strlen(parts[i]) + sizeof FUZZ_SEP;
  char *s = malloc(n);
  if (!s) die("out of memory", NULL);
  s[0] = '\0';
  for (int i = 0; parts[i]; i++) {
    if (i) strcat(s, FUZZ_SEP);
    strcat(s, parts[i]);
  }
  return s;
}

/* A seed for an importer or the config harness: settings byte (or none) + sections. */
static void seed_sections(const char *harness, const char *name, int settings, const char *const *parts) {
  char *s = sections(parts);
  uint8_t b = (uint8_t)settings;
  seed(harness, name, &b, settings >= 0 ? 1 : 0, s, strlen(s));
  free(s);
}

/* --- messages (test_msg.c fixtures) ------------------------------------------- */

/* The packed messages, kept for the sealed-message seeds: kind 0..3 (plan d=7, hello, delta, eval). */
static uint8_t *g_plain[4];
static size_t g_plain_len[4];

static void keep_plain(int kind, const wire_buf *b) {
  if (g_plain[kind]) return;
  g_plain[kind] = malloc(b->len ? b->len : 1);
  if (!g_plain[kind]) die("out of memory", NULL);
  memcpy(g_plain[kind], b->data, b->len);
  g_plain_len[kind] = b->len;
}

static void seed_msg(const char *name, uint8_t sel, const wire_buf *b) {
  seed("msg", name, &sel, 1, b->data, b->len);
  if ((sel & 3) != 0 || ((sel >> 2) & 3) == 2) keep_plain(sel & 3, b);
}

static void seeds_msg(void) {
  wire_buf b = {0};
  fm_err err;
  plan_t p;
  memset(&p, 0, sizeof p);
  p.job = 0x1234567890abcdefULL;
  p.round = 17;
  p.stage = MSG_STAGE_TRAIN;
  snprintf(p.rs.algo, sizeof p.rs.algo, "reptile");
  p.rs.inner_steps = 20;
  p.rs.train.opt = OPT_ADAM;
  p.rs.train.lr = 0.003f;
  p.rs.train.lr_local = 0.01f;
  p.rs.train.batch = 128;
  p.rs.train.n_neg = 64;
  p.rs.clip = 5;
  p.rs.ft_steps = 9;
  uint32_t parts[3] = {1, 4, 6};
  double w[3] = {0.5, 0.25, 0.25};
  p.n_part = 3;
  p.part_platform = parts;
  p.part_weight = w;
  p.scale = 1048576.0;
  p.final = 1;
  float theta[33];
  for (int i = 0; i < 33; i++) theta[i] = (float)(i % 5) - 2.5f;
  theta[3] = 1e-7f;
  theta[4] = -1e30f;
  /* selector bits 2-3 pick d: 0, 1, 7, 33 */
  if (msg_plan_pack(&b, &p, theta, 7, &err)) die("plan", &err);
  seed_msg("plan-train-d7", 0 | 2 << 2, &b);
  if (msg_plan_pack(&b, &p, theta, 33, &err)) die("plan", &err);
  seed_msg("plan-train-d33", 0 | 3 << 2, &b);
  p.stage = MSG_STAGE_EVAL;
  p.rs.train.opt = OPT_SGD;
  snprintf(p.rs.algo, sizeof p.rs.algo, "fedavg");
  p.n_part = 0;
  if (msg_plan_pack(&b, &p, theta, 1, &err)) die("plan", &err);
  seed_msg("plan-eval-d1", 0 | 1 << 2, &b);
  p.stage = MSG_STAGE_STOP;
  if (msg_plan_pack(&b, &p, NULL, 0, &err)) die("plan", &err);
  seed_msg("plan-stop-d0", 0, &b);

  hello_t h;
  memset(&h, 0, sizeof h);
  h.job = 9;
  h.platform = 3;
  snprintf(h.name, sizeof h.name, "toys");
  h.heldout = 1;
  h.n_train = 12345;
  h.n_users = 10;
  h.n_items = 20;
  h.n_eval_users = 7;
  if (msg_hello_pack(&b, &h, &err)) die("hello", &err);
  seed_msg("hello", 1, &b);
  snprintf(h.error, sizeof h.error, "some error");
  if (msg_hello_pack(&b, &h, &err)) die("hello", &err);
  seed_msg("hello-error", 1, &b);

  uint32_t words[5] = {1, 0xffffffffu, 7, 0x80000000u, 12};
  delta_msg_t d;
  memset(&d, 0, sizeof d);
  d.job = 9;
  d.round = 4;
  d.platform = 2;
  d.n_examples = 99;
  d.loss = 3.25f;
  d.norm = 0.5f;
  d.clipped = 1;
  d.seconds = 0.125;
  d.fixed = words;
  d.n_fixed = 5;
  if (msg_delta_pack(&b, &d, &err)) die("delta", &err);
  seed_msg("delta", 2, &b);
  uint32_t runs[4] = {2, 2, 7, 3}; /* a sparse delta: words 2..3 and 7..9 */
  d.runs = runs;
  d.n_runs = 4;
  if (msg_delta_pack(&b, &d, &err)) die("delta", &err);
  seed_msg("delta-sparse", 2, &b);
  d.runs = NULL;
  d.n_runs = 0;
  d.fixed = NULL;
  d.n_fixed = 0;
  if (msg_delta_pack(&b, &d, &err)) die("delta", &err);
  seed_msg("delta-empty", 2, &b);

  eval_msg_t e;
  memset(&e, 0, sizeof e);
  e.job = 9;
  e.round = 5;
  e.platform = 1;
  e.heldout = 1;
  e.model = (metrics_t){0.1, 0.2, 0.3, 0.4, 11};
  e.popularity = (metrics_t){0.05, 0.06, 0.07, 0.08, 11};
  e.local_only = (metrics_t){0.01, 0.02, 0.03, 0.04, 11};
  e.has_local_only = 1;
  if (msg_eval_pack(&b, &e, &err)) die("eval", &err);
  seed_msg("eval-local", 3, &b);
  e.has_local_only = 0;
  if (msg_eval_pack(&b, &e, &err)) die("eval", &err);
  seed_msg("eval", 3, &b);
  wire_buf_free(&b);
}

/* --- sealed messages (the identities of fuzz_seal.c) ----------------------------- */

#define SEAL_JOB 0x0123456789abcdefULL

static void le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void seeds_seal(void) {
  fm_err err;
  seal_identity_t id[2];
  seal_session_t sess[2];
  if (seal_init(&err)) die("seal", &err);
  for (int p = 0; p < 2; p++) {
    uint8_t seed_b[SEAL_SIGN_SEEDBYTES], kx[SEAL_KX_SKBYTES];
    for (unsigned i = 0; i < sizeof seed_b; i++) seed_b[i] = (uint8_t)(17 * p + i + 1);
    for (unsigned i = 0; i < sizeof kx; i++) kx[i] = (uint8_t)(91 * p + 3 * i + 5);
    if (seal_identity_from_secret(&id[p], seed_b, kx, &err)) die("seal", &err);
  }
  for (int p = 0; p < 2; p++)
    if (seal_session_init(&sess[p], &id[p], (uint32_t)p, id[1 - p].kx_pk, (uint32_t)(1 - p), SEAL_JOB, &err))
      die("seal", &err);
  static const char *const KIND[4] = {"plan", "hello", "delta", "eval"};
  /* mode 1: round, stage, plaintext (the harness seals it); both directions */
  for (int k = 0; k < 4; k++) {
    for (int dir = 0; dir < 2; dir++) {
      uint8_t head[9];
      head[0] = (uint8_t)(1 | dir << 2 | 2 << 4); /* plans carry 7 floats */
      le32(head + 1, 3);
      le32(head + 5, (uint32_t)k);
      char name[64];
      snprintf(name, sizeof name, "sealed-%s-%s", KIND[k], dir ? "to-platform" : "to-coordinator");
      seed("seal", name, head, 9, g_plain[k], g_plain_len[k]);
    }
  }
  /* mode 3: the same with a byte flipped */
  uint8_t head[10];
  head[0] = 3 | 2 << 4;
  le32(head + 1, 3);
  le32(head + 5, 2);
  head[9] = 40;
  seed("seal", "tampered-delta", head, 10, g_plain[2], g_plain_len[2]);
  /* mode 0: a real sealed Delta from platform 1, round 0, seq 1 */
  size_t n = seal_sealed_len(g_plain_len[2]);
  uint8_t *msg = malloc(n);
  if (!msg) die("out of memory", NULL);
  if (seal_seal(msg, n, &sess[1], 0, 2, g_plain[2], g_plain_len[2], &err)) die("seal", &err);
  uint8_t mode = 0;
  seed("seal", "raw-delta-round0", &mode, 1, msg, n);
  free(msg);
  /* the split layout (mode bit 3): mode 1 with as many clear bytes as the
   * Delta that follows them (the harness sends the first half in the clear),
   * and mode 0 with a real split Delta from platform 1, round 0, seq 1 */
  {
    size_t L = g_plain_len[2];
    uint8_t *both = malloc(2 * L);
    if (!both) die("out of memory", NULL);
    for (size_t i = 0; i < L; i++) both[i] = (uint8_t)(0x5a ^ i);
    memcpy(both + L, g_plain[2], L);
    uint8_t sh[9];
    sh[0] = (uint8_t)(1 | 1 << 3 | 2 << 4);
    le32(sh + 1, 3);
    le32(sh + 5, 2);
    seed("seal", "split-delta-to-coordinator", sh, 9, both, 2 * L);
    size_t sn = seal_split_len(L, L);
    uint8_t *sm = malloc(sn);
    if (!sm) die("out of memory", NULL);
    memcpy(sm + SEAL_SPLIT_CLEAR_OFF, both, L);
    if (seal_seal_split(sm, sn, &sess[1], 0, 2, g_plain[2], L, L, &err)) die("seal", &err);
    mode = 1 << 3;
    seed("seal", "raw-split-delta-round0", &mode, 1, sm, sn);
    free(sm);
    free(both);
  }
  /* mode 2: party 1's handshake */
  uint8_t hs[SEAL_HSBYTES];
  if (seal_handshake_make(hs, &id[1], SEAL_JOB, 1, &err)) die("seal", &err);
  mode = 2;
  seed("seal", "handshake-party1", &mode, 1, hs, sizeof hs);
  for (int p = 0; p < 2; p++) {
    seal_session_free(&sess[p]);
    seal_identity_free(&id[p]);
  }
  for (int k = 0; k < 4; k++) free(g_plain[k]);
}

/* --- checkpoint (test_msg.c fixture, and a smaller model) ------------------------ */

static void seed_checkpoint(const char *name, model_cfg_t mc, const char *config) {
  size_t n = model_n_shared(&mc);
  checkpoint_t ck;
  memset(&ck, 0, sizeof ck);
  ck.round = 3;
  snprintf(ck.algo, sizeof ck.algo, "reptile");
  ck.seed = 5;
  ck.model = mc;
  ck.theta = malloc(sizeof(float) * n);
  if (!ck.theta) die("out of memory", NULL);
  ck.n_theta = n;
  model_shared_init(ck.theta, &mc, 5);
  ck.config = (char *)config;
  char path[1024];
  snprintf(path, sizeof path, "%s/checkpoint/%s", g_out, name);
  fuzz_mkdirs_for(path);
  fm_err err;
  if (checkpoint_write(path, &ck, &err)) die("checkpoint", &err);
  free(ck.theta);
}

/* A resumable checkpoint (checkpoint_save), without its 48-byte header. */
static void seed_resumable(const char *name, model_cfg_t mc, const char *outer, int moments) {
  size_t n = model_n_shared(&mc);
  checkpoint_t ck;
  memset(&ck, 0, sizeof ck);
  ck.round = 7;
  snprintf(ck.algo, sizeof ck.algo, "reptile");
  ck.seed = 5;
  ck.model = mc;
  ck.theta = calloc(n, sizeof(float));
  ck.outer_m = moments ? calloc(n, sizeof(float)) : NULL;
  ck.outer_v = moments ? calloc(n, sizeof(float)) : NULL;
  if (!ck.theta || (moments && (!ck.outer_m || !ck.outer_v))) die("out of memory", NULL);
  ck.n_theta = n;
  model_shared_init(ck.theta, &mc, 5);
  for (size_t i = 0; moments && i < n; i++) {
    ck.outer_m[i] = 0.01f * (float)i;
    ck.outer_v[i] = 0.001f * (float)i;
  }
  ck.config = (char *)"rounds = 10\n";
  snprintf(ck.outer_kind, sizeof ck.outer_kind, "%s", outer);
  ck.outer_steps = 7;
  ck.config_hash = 0x1234;
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s/.ckpt.tmp-seed", g_out);
  fm_err err;
  if (checkpoint_save(tmp, &ck, &err)) die("checkpoint_save", &err);
  uint8_t *d;
  size_t len;
  if (fm_read_file(tmp, &d, &len, 1 << 24, &err)) die("checkpoint", &err);
  remove(tmp);
  seed("checkpoint", name, NULL, 0, d + CHECKPOINT_HEADER, len - CHECKPOINT_HEADER);
  free(d);
  free(ck.theta);
  free(ck.outer_m);
  free(ck.outer_v);
}

static void seeds_checkpoint(void) {
  seed_resumable("resumable-sgd", (model_cfg_t){2, 2, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "sgd", 0);
  seed_resumable("resumable-adam", (model_cfg_t){2, 3, 8, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0}, "adam", 1);
  seed_checkpoint("tiny", (model_cfg_t){2, 2, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "");
  seed_checkpoint("small", (model_cfg_t){2, 3, 8, 0, 1, 2, 0, 0, 0, 0, 200, 0, 0, 0}, "algo = reptile\nrounds = 3\n");
  seed_checkpoint("test-msg", (model_cfg_t){8, 16, 64, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "a = 1\n");
  seed_checkpoint("smooth-filter", (model_cfg_t){2, 3, 8, 0, 1, 4, 0, 0, 0, 0, 0, 0, 2, 0}, "algo = reptile\nspectral-basis = 2\n");
}

/* --- shards (test_shard.c fixture) -------------------------------------------- */

/* 3 users, 4 items; user 1 has no interactions. */
static void make_shard(shard_t *s, int with_gid, uint32_t platform, const char *name) {
  fm_err err;
  if (shard_alloc(s, 3, 4, 5, 4, 6, &err)) die("shard", &err);
  snprintf(s->name, sizeof s->name, "%s", name);
  s->platform = platform;
  uint32_t up[] = {0, 3, 3, 5}, it[] = {2, 0, 2, 3, 1};
  int64_t ts[] = {100, 100, 250, -5, 1700000000000LL};
  memcpy(s->user_ptr, up, sizeof up);
  memcpy(s->inter_item, it, sizeof it);
  memcpy(s->inter_ts, ts, sizeof ts);
  uint32_t ufp[] = {0, 2, 3, 4}, uf[] = {11, 12, 13, 0xffffffffu};
  memcpy(s->ufeat_ptr, ufp, sizeof ufp);
  memcpy(s->ufeat, uf, sizeof uf);
  uint32_t ifp[] = {0, 1, 3, 3, 6}, ifs[] = {21, 22, 23, 24, 25, 26};
  memcpy(s->ifeat_ptr, ifp, sizeof ifp);
  memcpy(s->ifeat, ifs, sizeof ifs);
  if (with_gid) {
    uint32_t g[] = {5, 9, 4000000000u};
    memcpy(s->user_gid, g, sizeof g);
  } else {
    free(s->user_gid);
    s->user_gid = NULL;
  }
}

/* The shard harness takes a file without its 32-byte checksum. */
static void seed_shard(const char *name, const shard_t *s) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s/.shard.tmp-seed", g_out);
  fm_err err;
  if (shard_write(s, tmp, &err)) die("shard", &err);
  uint8_t *d;
  size_t n;
  if (fm_read_file(tmp, &d, &n, 1 << 20, &err)) die("shard", &err);
  remove(tmp);
  seed("shard", name, NULL, 0, d, n - 32);
  free(d);
}

static void seeds_shard(void) {
  shard_t s;
  fm_err err;
  make_shard(&s, 1, 7, "hand");
  seed_shard("hand-gid", &s);
  shard_free(&s);
  make_shard(&s, 0, 0, "hand");
  seed_shard("hand", &s);
  shard_free(&s);
  /* a user with enough interactions for the temporal and 2-shot splits */
  if (shard_alloc(&s, 2, 3, 6, 0, 3, &err)) die("shard", &err);
  snprintf(s.name, sizeof s.name, "long");
  uint32_t up[] = {0, 5, 6}, it[] = {0, 1, 2, 1, 0, 2}, ifp[] = {0, 1, 2, 3}, ifs[] = {7, 8, 9};
  int64_t ts[] = {1, 2, 2, 3, 10, 0};
  memcpy(s.user_ptr, up, sizeof up);
  memcpy(s.inter_item, it, sizeof it);
  memcpy(s.inter_ts, ts, sizeof ts);
  memcpy(s.ifeat_ptr, ifp, sizeof ifp);
  memcpy(s.ifeat, ifs, sizeof ifs);
  seed_shard("long-user", &s);
  shard_free(&s);
  if (shard_alloc(&s, 0, 0, 0, 0, 0, &err)) die("shard", &err);
  snprintf(s.name, sizeof s.name, "empty");
  free(s.user_gid);
  s.user_gid = NULL;
  seed_shard("empty", &s);
  shard_free(&s);
}

/* --- manifest (the hand shard of fuzz_manifest.c) --------------------------------- */

static void seeds_manifest(void) {
  const char *one = "fedmeta-manifest 1\n# platform name file n_users n_items n_inter\n"
                    "0 hand p00-hand.shard 3 4 5\n";
  seed("manifest", "hand", NULL, 0, one, strlen(one));
  const char *two = "fedmeta-manifest 1\n# fedmeta prepare: format=csv\r\n\n"
                    "  0 hand p00-hand.shard 3 4 5\n1\tother p01-other.shard 10 20 30\r\n";
  seed("manifest", "two", NULL, 0, two, strlen(two));
  const char *bad = "fedmeta-manifest 1\n0 hand p00-hand.shard 3 4 6\n1 hand ../x 1 1 1\n";
  seed("manifest", "mismatch", NULL, 0, bad, strlen(bad));
}

/* --- config (test_config.c fixtures and config_write's output) --------------------- */

static void seeds_config(void) {
  const char *t1[] = {"# a comment\nrounds = 12\n\nalgo = fomaml\ninner-lr = 0.5\n", "--rounds 3", NULL};
  seed_sections("config", "test-config", -1, t1);
  const char *t2[] = {"rounds = 12\nbatch = big\n", NULL};
  seed_sections("config", "bad-value", -1, t2);
  const char *t3[] = {"  clip = 2e-6 \r\nseed=18000000000000000000\nsynthetic = true\ndata = \n", NULL};
  seed_sections("config", "edges", -1, t3);
  const char *t4[] = {"format = csv\ncolumns = user=1,item=2,industry=3\ndelimiter = comma\nkcore = 2\n"
                      "strict = 1\nselect = a,b\n", "--header=1 --items-per-industry", NULL};
  seed_sections("config", "prepare", -1, t4);
  const int cmds[] = {CFG_SYNTH, CFG_TRAIN, CFG_EVAL, CFG_PREPARE, CFG_BASELINES};
  const char *names[] = {"written-synth", "written-train", "written-eval", "written-prepare",
                         "written-baselines"};
  for (int i = 0; i < 5; i++) {
    fm_config c;
    config_defaults(&c);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) die("open_memstream", NULL);
    config_write(&c, cmds[i], 0, f);
    fclose(f);
    seed("config", names[i], NULL, 0, text, len);
    free(text);
  }
}

/* --- importers (test_import.c fixtures) -------------------------------------------- */

/* settings byte: bit 0 strict, bits 1-2 kcore, bit 3 items-per-industry, bits 4-5 header,
 * bit 6 min-rating 3, bit 7 min-platform 3 */
#define KCORE(k) ((k) << 1)
#define HEADER(h) ((h) << 4)

static const char *CSV =
    "user,item,industry,time,rating\n"
    "u1,i1,A,10,5\n"
    "u1,i2,A,20,4\n"
    "u2,i1,A,15,3\n"
    "u2,i2,A,5,1\n"
    "u1,i1,A,30,2\n"
    "u3,i1,A,1,0\n"
    "u1,i3,B,12,5\n"
    "u2,i3,B,11,5\n"
    "u1,x\n"
    "u2,i4,B,abc,5\n"
    "u4,i3,B,50,5\n"
    "\"u5\",i2,\"A\",40,5\n";

static void seeds_import(void) {
  const char *csv1[] = {"user=1,item=2,industry=3,time=4,rating=5", "comma", CSV, NULL};
  seed_sections("import_csv", "test-import", KCORE(2) | HEADER(1), csv1);
  seed_sections("import_csv", "items-per-industry", KCORE(1) | HEADER(1) | 8, csv1);
  const char *csv2[] = {"industry=1,user=2,item=3", "tab", "A\tu1\ti1\nA\tu2\ti1\nB\tu1\ti2\n\nB\tu2\ti2\n", NULL};
  seed_sections("import_csv", "no-time", KCORE(1), csv2);
  const char *csv3[] = {"user=1,item=2,industry=3,time=4", ";", "a;b;x;1.5\n\"a\"\"q\";c;x;-7\nb;b;y;2e3\n", NULL};
  seed_sections("import_csv", "semicolon-quotes", 0, csv3);

  const char *ciao_ratings =
      "2\t11\t3\t5\t0\t50\n"
      "2\t10\t3\t5\t0\t60\n"
      "1\t11\t3\t4\t0\t100\n"
      "1\t10\t3\t5\t0\t100\n"
      "1\t20\t6\t5\t1\t10\n"
      "2\t20\t6\t4\t2\t20\n"
      "3\t10\t3\t0\t0\t5\n"
      "1\t10\t6\t5\t0\t200\n"
      "1 21 6 5 0\n"
      "4\t20\t6\t5\t0\t30\n"
      "x\t20\t6\t5\t0\t30\n";
  const char *ciao1[] = {ciao_ratings, NULL};
  seed_sections("import_ciao", "test-import", KCORE(2), ciao1);
  const char *ciao2[] = {ciao_ratings, "3 Beauty\r\n6 Food & Drink\r\n7 Unused\r\n", NULL};
  seed_sections("import_ciao", "names", KCORE(2), ciao2);
  const char *ciao3[] = {ciao_ratings, "3 Beauty\n6\n", NULL};
  seed_sections("import_ciao", "bad-names", KCORE(1), ciao3);

  const char *ml[] = {
      "1\t1\t5\t100\n1\t2\t4\t101\n2\t1\t3\t102\n2\t2\t5\t103\n3\t3\t0\t104\n3\t1\t5\t105\n"
      "1\t3\t2\t106\n2\t3\t1\t107\n9\t9\t5\t108\n",
      "1|Toy|01-Jan-1995||http://x|0|0|1\n2|Gold|01-Jan-1995||http://y|0|1|1\n"
      "3|Old|01-Jan-1970||http://z|0|1|0\n4|None|||http://w|0|0|0\n",
      "1|24|M|technician|85711\n2|53|F|other|94043\n3|15|M|student|12345\n",
      "unknown|0\nAction|1\nComedy|2\n\n",
      NULL};
  seed_sections("import_movielens", "test-import", KCORE(2), ml);
  seed_sections("import_movielens", "kcore1", KCORE(1), ml);

  const char *amz[] = {
      "{\n  \"id2user\": {\"1\": \"RA\", \"2\": \"RB\",\n    \"3\": \"RC\"},\n"
      "  \"id2item\": {\"1\": \"A1\", \"2\": \"A2\", \"3\": \"A3\"},\n  \"extra\": [1, {\"x\": null}, true]\n}\n",
      "1 1 2 3\n2 2 1\n3 3\n4 1 2\n",
      "{\"1\": [1, 2], \"2\": [3, 3], \"3\": [1], \"99\": [4]}",
      "{\"id2user\": {\"1\": \"RA\", \"2\": \"RB\"}, \"id2item\": {\"1\": \"T1\", \"2\": \"T2\"}}",
      "1 1 2\n2 1 2\n",
      "7\t2\n8\t1\n",
      "{\"7\": [5], \"8\": [6]}",
      NULL};
  seed_sections("import_amazon", "test-import", KCORE(2), amz);
  const char *amz2[] = {amz[0], amz[1], amz[2], amz[3], amz[4], NULL};
  seed_sections("import_amazon", "toys-no-map", KCORE(1), amz2);
  const char *amz3[] = {"{\"id2user\": {\"1\": \"RB\",\n\"2\" \"RD\"}}", "1 1\n", NULL};
  seed_sections("import_amazon", "broken-json", 0, amz3);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fuzz_seeds DIR   (writes DIR/<harness>/<seed>)\n");
    return 2;
  }
  g_out = argv[1];
  seeds_msg();
  seeds_seal();
  seeds_checkpoint();
  seeds_shard();
  seeds_manifest();
  seeds_config();
  seeds_import();
  return 0;
}
