/* common/msg.c: pack and unpack of the wire messages (see msg.h). */
#include "common/msg.h"

#include <stdio.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fedmeta.pb-c.h"

static int grow(wire_buf *b, size_t n, fm_err *err) {
  if (n <= b->cap) return 0;
  uint8_t *p = realloc(b->data, n);
  if (!p) return fm_fail(err, "out of memory for a %zu-byte message", n);
  b->data = p;
  b->cap = n;
  return 0;
}

static const char *OPT_NAMES[] = {"sgd", "adam"};

/* Unpacking a Delta or a RoundPlan copies its multi-megabyte bytes field into
 * a fresh allocation; this allocator keeps one such block between messages so
 * that every round does not map and fault in new pages for each of them. Small
 * allocations go to malloc. One process-wide block, used by one message at a
 * time (a second large request while it is lent goes to malloc). */
#define BIG_BYTES ((size_t)1 << 16)
static struct {
  void *p;
  size_t cap;
  int lent;
} big;

static void *big_alloc(void *data, size_t n) {
  (void)data;
  if (n < BIG_BYTES || big.lent) return malloc(n ? n : 1);
  if (n > big.cap) {
    free(big.p);
    big.p = malloc(n);
    big.cap = big.p ? n : 0;
    if (!big.p) return NULL;
  }
  big.lent = 1;
  return big.p;
}

static void big_free(void *data, void *p) {
  (void)data;
  if (p && p == big.p) {
    big.lent = 0;
    return;
  }
  free(p);
}

static ProtobufCAllocator big_allocator = {big_alloc, big_free, NULL};

int msg_plan_pack(wire_buf *out, const plan_t *p, const float *theta, size_t d, fm_err *err) {
  Fedmeta__AlgoSettings a;
  fedmeta__algo_settings__init(&a);
  a.algo = (char *)p->rs.algo;
  a.inner_steps = p->rs.inner_steps;
  a.inner_opt = (char *)OPT_NAMES[p->rs.train.opt == OPT_ADAM];
  a.inner_lr = p->rs.train.lr;
  a.local_lr = p->rs.train.lr_local;
  a.batch = p->rs.train.batch;
  a.n_neg = p->rs.train.n_neg;
  a.clip = p->rs.clip;
  a.ft_steps = p->rs.ft_steps;
  a.dp_sigma = p->rs.dp_sigma;
  a.dp_test_seed = p->rs.dp_test_seed;
  a.l2 = p->rs.train.l2;
  Fedmeta__Participant *parts = calloc(p->n_part ? p->n_part : 1, sizeof *parts);
  Fedmeta__Participant **pp = calloc(p->n_part ? p->n_part : 1, sizeof *pp);
  if (!parts || !pp) {
    free(parts);
    free(pp);
    return fm_fail(err, "out of memory");
  }
  for (uint32_t i = 0; i < p->n_part; i++) {
    fedmeta__participant__init(&parts[i]);
    parts[i].platform = p->part_platform[i];
    parts[i].weight = p->part_weight[i];
    pp[i] = &parts[i];
  }
  Fedmeta__RoundPlan m;
  fedmeta__round_plan__init(&m);
  m.job = p->job;
  m.round = p->round;
  m.stage = (Fedmeta__Stage)p->stage;
  m.algo = &a;
  m.n_participants = p->n_part;
  m.participants = pp;
  m.theta.data = (uint8_t *)theta;
  m.theta.len = theta ? d * sizeof(float) : 0;
  m.eval_split = p->final;
  m.fixed_scale = p->scale;
  m.candidates.data = (uint8_t *)p->cand;
  m.candidates.len = p->cand ? p->n_cand_floats * sizeof(float) : 0;
  m.n_search_k = p->n_search_k;
  m.search_k = (uint32_t *)p->search_k;
  m.search_users = p->search_users;
  m.search_norm = p->search_norm;
  size_t n = fedmeta__round_plan__get_packed_size(&m);
  int rc = grow(out, n, err);
  if (!rc) out->len = fedmeta__round_plan__pack(&m, out->data);
  free(parts);
  free(pp);
  return rc;
}

void msg_plan_free(plan_t *p) {
  if (!p) return;
  free(p->part_platform);
  free(p->part_weight);
  free(p->cand);
  p->part_platform = NULL;
  p->part_weight = NULL;
  p->cand = NULL;
  p->n_part = 0;
  p->n_cand_floats = 0;
}

int msg_plan_unpack(plan_t *p, float *theta_out, size_t d, const uint8_t *buf, size_t len, fm_err *err) {
  memset(p, 0, sizeof *p);
  Fedmeta__RoundPlan *m = fedmeta__round_plan__unpack(&big_allocator, len, buf);
  if (!m) return fm_fail(err, "RoundPlan: message does not decode");
  int rc = 0;
  p->job = m->job;
  p->round = m->round;
  p->stage = (int)m->stage;
  p->scale = m->fixed_scale;
  p->final = m->eval_split != 0;
  if (p->stage < MSG_STAGE_TRAIN || p->stage > MSG_STAGE_SEARCH) {
    rc = fm_fail(err, "RoundPlan: unknown stage %d", p->stage);
    goto done;
  }
  if (p->stage == MSG_STAGE_STOP) goto done;
  if (!m->algo) {
    rc = fm_fail(err, "RoundPlan: algorithm settings missing");
    goto done;
  }
  snprintf(p->rs.algo, sizeof p->rs.algo, "%s", m->algo->algo);
  p->rs.inner_steps = m->algo->inner_steps;
  p->rs.train.opt = strcmp(m->algo->inner_opt, "adam") == 0 ? OPT_ADAM : OPT_SGD;
  p->rs.train.lr = m->algo->inner_lr;
  p->rs.train.lr_local = m->algo->local_lr;
  p->rs.train.batch = m->algo->batch;
  p->rs.train.n_neg = m->algo->n_neg;
  p->rs.train.l2 = m->algo->l2;
  p->rs.train.beta1 = 0.9f;
  p->rs.train.beta2 = 0.999f;
  p->rs.train.adam_eps = 1e-8f;
  p->rs.clip = m->algo->clip;
  p->rs.ft_steps = m->algo->ft_steps;
  p->rs.dp_sigma = m->algo->dp_sigma;
  p->rs.dp_test_seed = m->algo->dp_test_seed;
  if (!(p->rs.dp_sigma >= 0) || p->rs.dp_sigma > 1e12) {
    rc = fm_fail(err, "RoundPlan: dp_sigma %g is not a finite non-negative number", p->rs.dp_sigma);
    goto done;
  }
  if (p->rs.train.batch == 0 || p->rs.train.n_neg == 0 || !(p->rs.clip > 0)) {
    rc = fm_fail(err, "RoundPlan: batch, negatives and clip must be positive");
    goto done;
  }
  if (m->theta.len != d * sizeof(float)) {
    rc = fm_fail(err, "RoundPlan: theta has %zu bytes, expected %zu (same --dim/--hidden/--buckets-log2 on every rank?)",
                 m->theta.len, d * sizeof(float));
    goto done;
  }
  /* an empty theta arrives as data == NULL: memcpy(dst, NULL, 0) is undefined */
  if (d) memcpy(theta_out, m->theta.data, d * sizeof(float));
  p->n_part = (uint32_t)m->n_participants;
  p->part_platform = malloc(sizeof(uint32_t) * (p->n_part ? p->n_part : 1));
  p->part_weight = malloc(sizeof(double) * (p->n_part ? p->n_part : 1));
  if (!p->part_platform || !p->part_weight) {
    rc = fm_fail(err, "out of memory");
    goto done;
  }
  for (uint32_t i = 0; i < p->n_part; i++) {
    p->part_platform[i] = m->participants[i]->platform;
    p->part_weight[i] = m->participants[i]->weight;
  }
  if (p->stage == MSG_STAGE_SEARCH) {
    size_t nk = m->n_search_k, nb = m->candidates.len;
    if (nk == 0 || nk > sizeof p->search_k / sizeof p->search_k[0] || nb == 0 || nb % sizeof(float)) {
      rc = fm_fail(err, "RoundPlan: a search plan needs 1 to %zu K values and whole candidates (%zu K, %zu bytes)",
                   sizeof p->search_k / sizeof p->search_k[0], nk, nb);
      goto done;
    }
    p->n_search_k = (uint32_t)nk;
    for (size_t i = 0; i < nk; i++) p->search_k[i] = m->search_k[i];
    p->search_users = m->search_users;
    p->search_norm = m->search_norm;
    if (p->search_norm == 0) {
      rc = fm_fail(err, "RoundPlan: a search plan needs a positive search_norm");
      goto done;
    }
    p->n_cand_floats = nb / sizeof(float);
    p->cand = malloc(nb);
    if (!p->cand) {
      rc = fm_fail(err, "out of memory");
      goto done;
    }
    memcpy(p->cand, m->candidates.data, nb);
  }
done:
  fedmeta__round_plan__free_unpacked(m, &big_allocator);
  if (rc) msg_plan_free(p);
  return rc;
}

int msg_hello_pack(wire_buf *out, const hello_t *h, fm_err *err) {
  Fedmeta__Hello m;
  fedmeta__hello__init(&m);
  m.job = h->job;
  m.platform = h->platform;
  m.name = (char *)h->name;
  m.heldout = h->heldout;
  m.n_train = h->n_train;
  m.n_users = h->n_users;
  m.n_items = h->n_items;
  m.n_eval_users = h->n_eval_users;
  m.error = (char *)h->error;
  size_t n = fedmeta__hello__get_packed_size(&m);
  if (grow(out, n, err)) return -1;
  out->len = fedmeta__hello__pack(&m, out->data);
  return 0;
}

int msg_hello_unpack(hello_t *h, const uint8_t *buf, size_t len, fm_err *err) {
  memset(h, 0, sizeof *h);
  Fedmeta__Hello *m = fedmeta__hello__unpack(NULL, len, buf);
  if (!m) return fm_fail(err, "Hello: message does not decode");
  h->job = m->job;
  h->platform = m->platform;
  snprintf(h->name, sizeof h->name, "%s", m->name);
  h->heldout = m->heldout;
  h->n_train = m->n_train;
  h->n_users = m->n_users;
  h->n_items = m->n_items;
  h->n_eval_users = m->n_eval_users;
  snprintf(h->error, sizeof h->error, "%s", m->error);
  fedmeta__hello__free_unpacked(m, NULL);
  return 0;
}

static void delta_fill(Fedmeta__Delta *mp, const delta_msg_t *dm) {
  Fedmeta__Delta m;
  fedmeta__delta__init(&m);
  m.job = dm->job;
  m.round = dm->round;
  m.platform = dm->platform;
  m.n_examples = dm->n_examples;
  m.loss = dm->loss;
  m.norm = dm->norm;
  m.clipped = dm->clipped;
  m.compute_seconds = dm->seconds;
  m.fixed.data = (uint8_t *)dm->fixed; /* little-endian hosts only (checked at start-up) */
  m.fixed.len = dm->fixed ? dm->n_fixed * sizeof(uint32_t) : 0;
  m.n_runs = dm->runs ? dm->n_runs : 0;
  m.runs = (uint32_t *)dm->runs;
  *mp = m;
}

int msg_delta_pack(wire_buf *out, const delta_msg_t *dm, fm_err *err) {
  Fedmeta__Delta m;
  delta_fill(&m, dm);
  size_t n = fedmeta__delta__get_packed_size(&m);
  if (grow(out, n, err)) return -1;
  out->len = fedmeta__delta__pack(&m, out->data);
  return 0;
}

size_t msg_delta_packed_size(const delta_msg_t *dm) {
  Fedmeta__Delta m;
  delta_fill(&m, dm);
  return fedmeta__delta__get_packed_size(&m);
}

void msg_delta_pack_into(uint8_t *out, const delta_msg_t *dm) {
  Fedmeta__Delta m;
  delta_fill(&m, dm);
  fedmeta__delta__pack(&m, out);
}

int msg_delta_unpack(delta_msg_t *dm, const uint8_t *buf, size_t len, fm_err *err) {
  memset(dm, 0, sizeof *dm);
  Fedmeta__Delta *m = fedmeta__delta__unpack(&big_allocator, len, buf);
  if (!m) return fm_fail(err, "Delta: message does not decode");
  if (m->fixed.len % sizeof(uint32_t)) {
    size_t bytes = m->fixed.len; /* read before the free below */
    fedmeta__delta__free_unpacked(m, &big_allocator);
    return fm_fail(err, "Delta: payload of %zu bytes is not whole 32-bit words", bytes);
  }
  if (m->n_runs % 2) {
    size_t n = m->n_runs;
    fedmeta__delta__free_unpacked(m, &big_allocator);
    return fm_fail(err, "Delta: %zu run values, expected (offset, length) pairs", n);
  }
  dm->job = m->job;
  dm->round = m->round;
  dm->platform = m->platform;
  dm->n_examples = m->n_examples;
  dm->loss = m->loss;
  dm->norm = m->norm;
  dm->clipped = m->clipped;
  dm->seconds = m->compute_seconds;
  /* protobuf-c's bytes are byte-aligned; the words are read with memcpy by users
   * of fixed (fixed_add_bytes), so no alignment is assumed. */
  dm->fixed = m->fixed.len ? (const uint32_t *)m->fixed.data : NULL;
  dm->n_fixed = m->fixed.len / sizeof(uint32_t);
  dm->runs = m->n_runs ? m->runs : NULL;
  dm->n_runs = m->n_runs;
  dm->impl = m;
  return 0;
}

void msg_delta_release(delta_msg_t *dm) {
  if (dm && dm->impl) fedmeta__delta__free_unpacked(dm->impl, &big_allocator);
  if (dm) dm->impl = NULL;
}

static void metrics_to(Fedmeta__Metrics *o, const metrics_t *m) {
  fedmeta__metrics__init(o);
  o->ndcg10 = m->ndcg10;
  o->recall20 = m->recall20;
  o->hr10 = m->hr10;
  o->mrr = m->mrr;
  o->n_users = m->n_users;
}

static void metrics_from(metrics_t *m, const Fedmeta__Metrics *o) {
  memset(m, 0, sizeof *m);
  if (!o) return;
  m->ndcg10 = o->ndcg10;
  m->recall20 = o->recall20;
  m->hr10 = o->hr10;
  m->mrr = o->mrr;
  m->n_users = o->n_users;
}

int msg_eval_pack(wire_buf *out, const eval_msg_t *em, fm_err *err) {
  Fedmeta__EvalReport m;
  Fedmeta__Metrics a, b, c;
  fedmeta__eval_report__init(&m);
  m.job = em->job;
  m.round = em->round;
  m.platform = em->platform;
  m.heldout = em->heldout;
  metrics_to(&a, &em->model);
  metrics_to(&b, &em->popularity);
  metrics_to(&c, &em->local_only);
  m.model = &a;
  m.popularity = &b;
  m.local_only = em->has_local_only ? &c : NULL;
  m.has_local_only = em->has_local_only;
  size_t n = fedmeta__eval_report__get_packed_size(&m);
  if (grow(out, n, err)) return -1;
  out->len = fedmeta__eval_report__pack(&m, out->data);
  return 0;
}

int msg_eval_unpack(eval_msg_t *em, const uint8_t *buf, size_t len, fm_err *err) {
  memset(em, 0, sizeof *em);
  Fedmeta__EvalReport *m = fedmeta__eval_report__unpack(NULL, len, buf);
  if (!m) return fm_fail(err, "EvalReport: message does not decode");
  em->job = m->job;
  em->round = m->round;
  em->platform = m->platform;
  em->heldout = m->heldout;
  metrics_from(&em->model, m->model);
  metrics_from(&em->popularity, m->popularity);
  metrics_from(&em->local_only, m->local_only);
  em->has_local_only = m->has_local_only && m->local_only;
  fedmeta__eval_report__free_unpacked(m, NULL);
  return 0;
}

int msg_secagg_pack(wire_buf *out, const sa_msg_t *m, fm_err *err) {
  Fedmeta__SecaggMsg msg;
  fedmeta__secagg_msg__init(&msg);
  msg.job = m->job;
  msg.round = m->round;
  msg.stage = (Fedmeta__SecaggStage)m->stage;
  Fedmeta__SecaggItem *it = calloc(m->n_items ? m->n_items : 1, sizeof *it);
  Fedmeta__SecaggItem **ip = calloc(m->n_items ? m->n_items : 1, sizeof *ip);
  if (!it || !ip) {
    free(it);
    free(ip);
    return fm_fail(err, "out of memory");
  }
  for (size_t i = 0; i < m->n_items; i++) {
    fedmeta__secagg_item__init(&it[i]);
    it[i].from_slot = m->items[i].from;
    it[i].to_slot = m->items[i].to;
    it[i].data.data = (uint8_t *)m->items[i].data;
    it[i].data.len = m->items[i].len;
    ip[i] = &it[i];
  }
  msg.n_items = m->n_items;
  msg.items = ip;
  msg.state.data = (uint8_t *)m->state;
  msg.state.len = m->n_state;
  size_t n = fedmeta__secagg_msg__get_packed_size(&msg);
  int rc = grow(out, n, err);
  if (!rc) out->len = fedmeta__secagg_msg__pack(&msg, out->data);
  free(it);
  free(ip);
  return rc;
}

int msg_secagg_unpack(sa_msg_t *m, const uint8_t *buf, size_t len, fm_err *err) {
  memset(m, 0, sizeof *m);
  Fedmeta__SecaggMsg *p = fedmeta__secagg_msg__unpack(NULL, len, buf);
  if (!p) return fm_fail(err, "SecaggMsg: message does not decode");
  if ((int)p->stage < MSG_SA_ADVERTISE || (int)p->stage > MSG_SA_REVEAL_B) {
    fedmeta__secagg_msg__free_unpacked(p, NULL);
    return fm_fail(err, "SecaggMsg: unknown stage %d", (int)p->stage);
  }
  m->items = calloc(p->n_items ? p->n_items : 1, sizeof *m->items);
  if (!m->items) {
    fedmeta__secagg_msg__free_unpacked(p, NULL);
    return fm_fail(err, "out of memory");
  }
  m->job = p->job;
  m->round = p->round;
  m->stage = (uint32_t)p->stage;
  m->n_items = p->n_items;
  for (size_t i = 0; i < p->n_items; i++) {
    m->items[i].from = p->items[i]->from_slot;
    m->items[i].to = p->items[i]->to_slot;
    m->items[i].data = p->items[i]->data.data;
    m->items[i].len = p->items[i]->data.len;
  }
  m->state = p->state.data;
  m->n_state = p->state.len;
  m->impl = p;
  return 0;
}

void msg_secagg_release(sa_msg_t *m) {
  if (!m) return;
  /* the payloads are protobuf-c's copies: opened shares in a REVEAL / REVEAL_B */
  for (size_t i = 0; m->impl && i < m->n_items; i++)
    if (m->items[i].data && m->items[i].len) sodium_memzero((void *)m->items[i].data, m->items[i].len);
  if (m->impl) fedmeta__secagg_msg__free_unpacked(m->impl, NULL);
  free(m->items);
  m->items = NULL;
  m->impl = NULL;
}
