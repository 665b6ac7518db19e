/* tests/fuzz/fuzz_msg_check.h: the checks of the wire message harnesses
 * (fuzz_msg.c, and fuzz_seal.c after a sealed message opened): unpack, and
 * for what is accepted, the promised ranges and a pack/unpack round trip. */
#ifndef FEDMETA_FUZZ_MSG_CHECK_H
#define FEDMETA_FUZZ_MSG_CHECK_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/fixed.h"
#include "common/msg.h"
#include "tests/fuzz/fuzz_util.h"

static const size_t PLAN_D[4] = {0, 1, 7, 33};

/* The same value after a round trip: the same bits (NaN payloads included),
 * except that protobuf-c (proto3) does not send a -0.0 field (it is "zero",
 * the default), which then decodes as +0.0. */
static inline int same_f(float a, float b) { return !memcmp(&a, &b, sizeof a) || (a == 0 && b == 0); }
static inline int same_d(double a, double b) { return !memcmp(&a, &b, sizeof a) || (a == 0 && b == 0); }
static inline int same_metrics(const metrics_t *a, const metrics_t *b) {
  return same_d(a->ndcg10, b->ndcg10) && same_d(a->recall20, b->recall20) && same_d(a->hr10, b->hr10) &&
         same_d(a->mrr, b->mrr) && a->n_users == b->n_users;
}

static inline void fuzz_plan(const uint8_t *buf, size_t len, size_t d) {
  float theta[33], theta2[33];
  memset(theta, 0, sizeof theta);
  plan_t p;
  fm_err err;
  if (msg_plan_unpack(&p, theta, d, buf, len, &err) != 0) {
    FUZZ_CHECK(p.part_platform == NULL && p.part_weight == NULL && p.n_part == 0,
               "a refused plan must leave nothing allocated");
    FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL, "error message not terminated");
    return;
  }
  FUZZ_CHECK(p.stage >= MSG_STAGE_TRAIN && p.stage <= MSG_STAGE_STOP, "stage %d", p.stage);
  if (p.stage == MSG_STAGE_STOP) {
    msg_plan_free(&p);
    return;
  }
  FUZZ_CHECK(p.rs.train.batch > 0 && p.rs.train.n_neg > 0 && p.rs.clip > 0, "settings not positive");
  FUZZ_CHECK(memchr(p.rs.algo, '\0', sizeof p.rs.algo) != NULL, "algo not terminated");
  FUZZ_CHECK(p.part_platform && p.part_weight, "participant arrays missing");
  /* read every participant (ASan checks the arrays' extent) */
  volatile double wsum = 0;
  volatile uint64_t psum = 0;
  for (uint32_t i = 0; i < p.n_part; i++) {
    psum += p.part_platform[i];
    wsum += p.part_weight[i];
  }
  (void)wsum;
  (void)psum;
  /* round trip */
  wire_buf b = {0};
  FUZZ_CHECK(msg_plan_pack(&b, &p, theta, d, &err) == 0, "repack: %s", err.msg);
  plan_t q;
  FUZZ_CHECK(msg_plan_unpack(&q, theta2, d, b.data, b.len, &err) == 0, "re-unpack: %s", err.msg);
  FUZZ_CHECK(q.job == p.job && q.round == p.round && q.stage == p.stage && q.final == p.final,
             "header changed in a round trip");
  FUZZ_CHECK(same_d(q.scale, p.scale), "scale changed");
  FUZZ_CHECK(!strcmp(q.rs.algo, p.rs.algo) && q.rs.inner_steps == p.rs.inner_steps &&
             q.rs.ft_steps == p.rs.ft_steps && q.rs.train.opt == p.rs.train.opt &&
             q.rs.train.batch == p.rs.train.batch && q.rs.train.n_neg == p.rs.train.n_neg,
             "settings changed in a round trip");
  FUZZ_CHECK(same_f(q.rs.clip, p.rs.clip) && same_f(q.rs.train.lr, p.rs.train.lr) &&
             same_f(q.rs.train.lr_local, p.rs.train.lr_local) && same_f(q.rs.train.l2, p.rs.train.l2),
             "rates changed in a round trip");
  FUZZ_CHECK(q.n_part == p.n_part, "participants %u -> %u", p.n_part, q.n_part);
  FUZZ_CHECK(!memcmp(q.part_platform, p.part_platform, p.n_part * sizeof *p.part_platform) &&
             1, "participants changed in a round trip");
  for (uint32_t i = 0; i < p.n_part; i++)
    FUZZ_CHECK(same_d(q.part_weight[i], p.part_weight[i]), "weight %u changed in a round trip", i);
  FUZZ_CHECK(!memcmp(theta, theta2, d * sizeof *theta), "theta changed in a round trip");
  msg_plan_free(&q);
  msg_plan_free(&p);
  wire_buf_free(&b);
}

static inline void fuzz_hello(const uint8_t *buf, size_t len) {
  hello_t h, h2;
  fm_err err;
  if (msg_hello_unpack(&h, buf, len, &err) != 0) return;
  FUZZ_CHECK(memchr(h.name, '\0', sizeof h.name) && memchr(h.error, '\0', sizeof h.error),
             "strings not terminated");
  wire_buf b = {0};
  FUZZ_CHECK(msg_hello_pack(&b, &h, &err) == 0, "repack: %s", err.msg);
  FUZZ_CHECK(msg_hello_unpack(&h2, b.data, b.len, &err) == 0, "re-unpack: %s", err.msg);
  FUZZ_CHECK(!memcmp(&h, &h2, sizeof h), "Hello changed in a round trip");
  wire_buf_free(&b);
}

static inline void fuzz_delta(const uint8_t *buf, size_t len) {
  delta_msg_t m, m2;
  fm_err err;
  if (msg_delta_unpack(&m, buf, len, &err) != 0) {
    FUZZ_CHECK(m.impl == NULL, "a refused Delta must hold nothing");
    return;
  }
  FUZZ_CHECK((m.fixed == NULL) == (m.n_fixed == 0), "payload pointer and size disagree");
  /* read every word, unaligned, as fixed_add_bytes does */
  volatile uint32_t acc = 0;
  for (size_t i = 0; i < m.n_fixed; i++) {
    uint32_t w;
    memcpy(&w, (const uint8_t *)m.fixed + 4 * i, 4);
    acc += w;
  }
  (void)acc;
  wire_buf b = {0};
  FUZZ_CHECK(msg_delta_pack(&b, &m, &err) == 0, "repack: %s", err.msg);
  FUZZ_CHECK(msg_delta_unpack(&m2, b.data, b.len, &err) == 0, "re-unpack: %s", err.msg);
  FUZZ_CHECK(m2.job == m.job && m2.round == m.round && m2.platform == m.platform &&
             m2.n_examples == m.n_examples && m2.clipped == m.clipped && m2.n_fixed == m.n_fixed,
             "Delta header changed in a round trip");
  FUZZ_CHECK(same_f(m2.loss, m.loss) && same_f(m2.norm, m.norm) && same_d(m2.seconds, m.seconds),
             "Delta values changed");
  FUZZ_CHECK(m.n_fixed == 0 || !memcmp(m2.fixed, m.fixed, 4 * m.n_fixed), "payload changed");
  FUZZ_CHECK(m.n_runs % 2 == 0 && (m.runs == NULL) == (m.n_runs == 0), "runs: pointer, count or parity wrong");
  FUZZ_CHECK(m2.n_runs == m.n_runs && (m.n_runs == 0 || !memcmp(m2.runs, m.runs, 4 * m.n_runs)),
             "runs changed in a round trip");
  if (m.n_runs && m.n_fixed <= 4096 &&
      fixed_runs_check(m.runs, m.n_runs, 4096, m.n_fixed) == 0) { /* as the coordinator would, d = 4096 */
    static uint32_t dense[4096];
    fixed_expand_runs(dense, 4096, m.fixed, m.runs, m.n_runs);
    fixed_add_runs_bytes(dense, m.fixed, m.runs, m.n_runs);
  }
  msg_delta_release(&m2);
  msg_delta_release(&m);
  FUZZ_CHECK(m.impl == NULL, "release must clear impl");
  wire_buf_free(&b);
}

static inline void fuzz_eval(const uint8_t *buf, size_t len) {
  eval_msg_t e, e2;
  fm_err err;
  if (msg_eval_unpack(&e, buf, len, &err) != 0) return;
  wire_buf b = {0};
  FUZZ_CHECK(msg_eval_pack(&b, &e, &err) == 0, "repack: %s", err.msg);
  FUZZ_CHECK(msg_eval_unpack(&e2, b.data, b.len, &err) == 0, "re-unpack: %s", err.msg);
  FUZZ_CHECK(e2.job == e.job && e2.round == e.round && e2.platform == e.platform && e2.heldout == e.heldout &&
             e2.has_local_only == e.has_local_only, "EvalReport header changed in a round trip");
  FUZZ_CHECK(same_metrics(&e2.model, &e.model) && same_metrics(&e2.popularity, &e.popularity),
             "EvalReport metrics changed in a round trip");
  /* local_only is only meaningful (and only sent) when has_local_only */
  FUZZ_CHECK(!e.has_local_only || same_metrics(&e2.local_only, &e.local_only), "local-only metrics changed");
  wire_buf_free(&b);
}

/* Unpacks buf as message kind 0 plan (receiver expecting d floats), 1 hello,
 * 2 delta, 3 eval, and checks it. */
static inline void fuzz_msg_check(int kind, const uint8_t *buf, size_t len, size_t d) {
  switch (kind & 3) {
  case 0: fuzz_plan(buf, len, d); break;
  case 1: fuzz_hello(buf, len); break;
  case 2: fuzz_delta(buf, len); break;
  case 3: fuzz_eval(buf, len); break;
  }
}

#endif
