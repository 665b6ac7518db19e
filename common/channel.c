/* common/channel.c: identities, handshake and sealed messages between ranks (see channel.h). */
#include "common/channel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keys.h"
#include "common/prof.h"

/* --key with "{rank}" replaced by the rank. */
static void key_path(char *out, size_t cap, const char *pattern, int rank) {
  const char *at = strstr(pattern, "{rank}");
  if (!at) {
    snprintf(out, cap, "%s", pattern);
    return;
  }
  snprintf(out, cap, "%.*s%d%s", (int)(at - pattern), pattern, rank, at + 6);
}

int chan_init(chan_t *ch, const fm_config *c, uint64_t job, int rank, int size, fm_err *err) {
  memset(ch, 0, sizeof *ch);
  ch->rank = rank;
  ch->size = size;
  ch->job = job;
  ch->split_tag = -1;
  ch->sealed = strcmp(c->seal, "off") != 0;
  if (!ch->sealed) return 0;
  if (seal_init(err)) return -1;
  ch->sess = calloc((size_t)size, sizeof *ch->sess);
  ch->peer_sign = calloc((size_t)size, sizeof *ch->peer_sign);
  if (!ch->sess || !ch->peer_sign) return fm_fail(err, "out of memory");
  if (c->key[0]) {
    char path[CFG_PATH_MAX + 32], name[128];
    key_path(path, sizeof path, c->key, rank);
    if (keys_read_secret(&ch->id, name, sizeof name, path, err)) return fm_wrap(err, "rank %d: --key", rank);
  } else if (seal_identity_generate(&ch->id, err)) {
    return -1;
  }
  return 0;
}

void chan_free(chan_t *ch) {
  if (!ch) return;
  if (ch->sess)
    for (int i = 0; i < ch->size; i++) seal_session_free(&ch->sess[i]);
  free(ch->sess);
  free(ch->peer_sign);
  seal_identity_free(&ch->id);
  free(ch->box);
  wire_buf_free(&ch->raw);
  memset(ch, 0, sizeof *ch);
}

static void hex8(char *out, const uint8_t *pk) {
  for (int i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02x", pk[i]);
}

/* Verifies party `party`'s blob, pinned to the keyring when there is one. */
static int check_blob(chan_t *ch, const keys_keyring_t *kr, const char *keyring, const uint8_t *blob, size_t len,
                      uint32_t party, uint8_t kx_pk[SEAL_KX_PKBYTES], fm_err *err) {
  const uint8_t *pin_sign = NULL, *pin_kx = NULL;
  if (kr) {
    if (len != SEAL_HSBYTES) return fm_fail(err, "rank %u: handshake of %zu bytes, expected %u (refused)", party, len, SEAL_HSBYTES);
    const uint8_t *sign_pk = blob + 20; /* "FMHS" | version | job | party | sign_pk */
    const keys_entry_t *e = keys_keyring_find_sign(kr, sign_pk);
    if (!e) {
      char h[17];
      hex8(h, sign_pk);
      return fm_fail(err, "rank %u: its signing key (%s...) is not in the keyring %s: refused at the handshake",
                     party, h, keyring);
    }
    pin_sign = e->sign_pk;
    pin_kx = e->kx_pk;
  }
  uint8_t sign_pk[SEAL_SIGN_PKBYTES];
  if (seal_handshake_verify(sign_pk, kx_pk, blob, len, ch->job, party, pin_sign, pin_kx, err))
    return fm_wrap(err, "rank %u: handshake refused", party);
  memcpy(ch->peer_sign[party], sign_pk, sizeof sign_pk);
  return 0;
}

int chan_handshake(chan_t *ch, const fm_config *c, double timeout_s, fm_err *err) {
  if (!ch->sealed) return 0;
  keys_keyring_t kr = {0}, *krp = NULL;
  if (c->keyring[0]) {
    if (keys_read_keyring(&kr, c->keyring, err)) return fm_wrap(err, "--keyring");
    krp = &kr;
  }
  int rc = -1;
  size_t dir_len = (size_t)ch->size * SEAL_HSBYTES;
  uint8_t *dir = calloc(dir_len, 1);
  uint8_t (*kx)[SEAL_KX_PKBYTES] = calloc((size_t)ch->size, SEAL_KX_PKBYTES);
  wire_buf in = {0};
  if (!dir || !kx) {
    fm_fail(err, "out of memory");
    goto done;
  }
  if (seal_handshake_make(dir + (size_t)ch->rank * SEAL_HSBYTES, &ch->id, ch->job, (uint32_t)ch->rank, err))
    goto done;
  memcpy(kx[ch->rank], ch->id.kx_pk, SEAL_KX_PKBYTES);
  memcpy(ch->peer_sign[ch->rank], ch->id.sign_pk, SEAL_SIGN_PKBYTES);
  if (ch->rank == 0) {
    /* hear every worker's blob, check it, then send everyone the directory */
    int heard = 0;
    uint8_t *seen = calloc((size_t)ch->size, 1);
    if (!seen) {
      fm_fail(err, "out of memory");
      goto done;
    }
    double deadline = wire_now() + timeout_s;
    while (heard < ch->size - 1) {
      int from, r = wire_recv(&in, &from, WIRE_ANY_SOURCE, WIRE_TAG_HANDSHAKE, deadline - wire_now(), err);
      if (r) {
        if (r > 0) fm_fail(err, "only %d of %d worker ranks sent their handshake within %.0f s", heard, ch->size - 1, timeout_s);
        free(seen);
        goto done;
      }
      if (from <= 0 || from >= ch->size || seen[from]) continue;
      if (check_blob(ch, krp, c->keyring, in.data, in.len, (uint32_t)from, kx[from], err)) {
        free(seen);
        goto done;
      }
      memcpy(dir + (size_t)from * SEAL_HSBYTES, in.data, SEAL_HSBYTES);
      seen[from] = 1;
      heard++;
    }
    free(seen);
    for (int w = 1; w < ch->size; w++)
      if (wire_send(dir, dir_len, w, WIRE_TAG_DIRECTORY, err)) goto done;
  } else {
    if (wire_send(dir + (size_t)ch->rank * SEAL_HSBYTES, SEAL_HSBYTES, 0, WIRE_TAG_HANDSHAKE, err)) goto done;
    int from, r = wire_recv(&in, &from, 0, WIRE_TAG_DIRECTORY, timeout_s, err);
    if (r) {
      if (r > 0) fm_fail(err, "no handshake directory from the coordinator within %.0f s", timeout_s);
      goto done;
    }
    if (in.len != dir_len) {
      fm_fail(err, "handshake directory of %zu bytes, expected %zu", in.len, dir_len);
      goto done;
    }
    for (int p = 0; p < ch->size; p++) {
      if (p == ch->rank) continue;
      if (check_blob(ch, krp, c->keyring, in.data + (size_t)p * SEAL_HSBYTES, SEAL_HSBYTES, (uint32_t)p, kx[p], err))
        goto done;
    }
  }
  /* sessions: the coordinator with every worker; a worker with every rank */
  for (int p = 0; p < ch->size; p++) {
    if (p == ch->rank || (ch->rank == 0 && p == 0)) continue;
    if (seal_session_init(&ch->sess[p], &ch->id, (uint32_t)ch->rank, kx[p], (uint32_t)p, ch->job, err)) goto done;
    seal_session_set_round(&ch->sess[p], 0, SEAL_ROUND_FORWARD);
  }
  ch->ready = 1;
  rc = 0;
done:
  if (krp) keys_keyring_free(&kr);
  free(dir);
  free(kx);
  wire_buf_free(&in);
  return rc;
}

static int seal_into_box(chan_t *ch, int dest, int tag, uint32_t round, const void *buf, size_t len, fm_err *err) {
  size_t need = seal_sealed_len(len);
  if (need > ch->box_cap) {
    uint8_t *p = realloc(ch->box, need);
    if (!p) return fm_fail(err, "out of memory for a %zu-byte message", need);
    ch->box = p;
    ch->box_cap = need;
  }
  prof_t t0 = prof_now();
  int rc = seal_seal(ch->box, ch->box_cap, &ch->sess[dest], round, (uint32_t)tag, buf, len, err);
  prof_add(PROF_SEAL, t0);
  return rc;
}

int chan_seal(chan_t *ch, int dest, int tag, uint32_t round, const void *buf, size_t len, const uint8_t **out,
              size_t *out_len, fm_err *err) {
  if (!ch->ready) {
    *out = buf;
    *out_len = len;
    return 0;
  }
  if (seal_into_box(ch, dest, tag, round, buf, len, err)) return -1;
  *out = ch->box;
  *out_len = seal_sealed_len(len);
  return 0;
}

int chan_open(chan_t *ch, int peer, int tag, const uint8_t *msg, size_t len, uint8_t *plain, size_t cap,
              size_t *plain_len, fm_err *err) {
  if (!ch->ready || peer < 0 || peer >= ch->size || !ch->sess[peer].keys) {
    fm_fail(err, "no sealed session with rank %d", peer);
    return SEAL_EHEADER;
  }
  seal_hdr_t h;
  return seal_open(plain, cap, plain_len, &h, &ch->sess[peer], (uint32_t)tag, msg, len, err);
}

int chan_send(chan_t *ch, int dest, int tag, uint32_t round, const void *buf, size_t len, fm_err *err) {
  return chan_post(ch, &dest, 1, tag, round, buf, len, err);
}

int chan_post(chan_t *ch, const int *dests, int n, int tag, uint32_t round, const void *buf, size_t len,
              fm_err *err) {
  prof_t t0 = prof_now();
  if (!ch->ready) {
    int rc = wire_post(buf, len, dests, n, tag, err);
    prof_add(PROF_POST, t0);
    return rc;
  }
  size_t sealed = seal_sealed_len(len);
  for (int i = 0; i < n; i++) {
    /* sealed straight into the outgoing buffer: no copy of a large message */
    uint8_t *b = wire_post_begin(sealed, err);
    if (!b) return -1;
    t0 = prof_now();
    int rc = seal_seal(b, sealed, &ch->sess[dests[i]], round, (uint32_t)tag, buf, len, err);
    prof_add(PROF_SEAL, t0);
    t0 = prof_now();
    if (rc || wire_post_commit(&dests[i], 1, tag, err)) return -1;
    prof_add(PROF_POST, t0);
  }
  return 0;
}

uint8_t *chan_begin(chan_t *ch, size_t len, fm_err *err) {
  if (!ch->ready) return wire_post_begin(len, err);
  uint8_t *b = wire_post_begin(seal_sealed_len(len), err);
  return b ? b + SEAL_HDRBYTES + SEAL_NONCEBYTES : NULL;
}

int chan_commit(chan_t *ch, int dest, int tag, uint32_t round, size_t len, fm_err *err) {
  prof_t t0 = prof_now();
  if (ch->ready) {
    size_t sealed = seal_sealed_len(len);
    uint8_t *b = wire_post_current();
    if (!b) return fm_fail(err, "chan_commit without chan_begin");
    if (seal_seal(b, sealed, &ch->sess[dest], round, (uint32_t)tag, b + SEAL_HDRBYTES + SEAL_NONCEBYTES, len, err))
      return -1;
    prof_add(PROF_SEAL, t0);
    t0 = prof_now();
  }
  int rc = wire_post_commit(&dest, 1, tag, err);
  prof_add(PROF_POST, t0);
  return rc;
}

size_t chan_sealed_len(const chan_t *ch, size_t len) { return ch->ready ? seal_sealed_len(len) : len; }

size_t chan_payload_offset(const chan_t *ch) { return ch->ready ? SEAL_HDRBYTES + SEAL_NONCEBYTES : 0; }

int chan_seal_at(chan_t *ch, int dest, int tag, uint32_t round, uint8_t *buf, size_t len, fm_err *err) {
  if (!ch->ready) return 0;
  return seal_seal(buf, seal_sealed_len(len), &ch->sess[dest], round, (uint32_t)tag, buf + SEAL_HDRBYTES + SEAL_NONCEBYTES,
                   len, err);
}

void chan_set_split(chan_t *ch, int tag) { ch->split_tag = tag; }

size_t chan_split_len(size_t plain_len, size_t clear_len) { return seal_split_len(plain_len, clear_len); }

size_t chan_split_plain_offset(size_t clear_len) { return SEAL_SPLIT_CLEAR_OFF + clear_len; }

int chan_seal_split_at(chan_t *ch, int dest, int tag, uint32_t round, uint8_t *buf, size_t plain_len,
                       size_t clear_len, fm_err *err) {
  if (!ch->ready) return fm_fail(err, "a split message needs sealing (--seal on)");
  return seal_seal_split(buf, seal_split_len(plain_len, clear_len), &ch->sess[dest], round, (uint32_t)tag,
                         buf + SEAL_SPLIT_CLEAR_OFF + clear_len, plain_len, clear_len, err);
}

uint8_t *chan_begin_split(chan_t *ch, size_t plain_len, size_t clear_len, uint8_t **clear, fm_err *err) {
  if (!ch->ready) {
    fm_fail(err, "a split message needs sealing (--seal on)");
    return NULL;
  }
  uint8_t *b = wire_post_begin(seal_split_len(plain_len, clear_len), err);
  if (!b) return NULL;
  *clear = b + SEAL_SPLIT_CLEAR_OFF;
  return b + SEAL_SPLIT_CLEAR_OFF + clear_len;
}

int chan_commit_split(chan_t *ch, int dest, int tag, uint32_t round, size_t plain_len, size_t clear_len, fm_err *err) {
  uint8_t *b = wire_post_current();
  if (!b) return fm_fail(err, "chan_commit_split without chan_begin_split");
  prof_t t0 = prof_now();
  if (chan_seal_split_at(ch, dest, tag, round, b, plain_len, clear_len, err)) return -1;
  prof_add(PROF_SEAL, t0);
  t0 = prof_now();
  int rc = wire_post_commit(&dest, 1, tag, err);
  prof_add(PROF_POST, t0);
  return rc;
}

int chan_post_sealed(chan_t *ch, int dest, int tag, uint8_t *buf, size_t cap, size_t sealed_len, fm_err *err) {
  (void)ch;
  prof_t t0 = prof_now();
  int rc = wire_post_given(buf, cap, sealed_len, &dest, 1, tag, err);
  prof_add(PROF_POST, t0);
  return rc;
}

int chan_recv(chan_t *ch, wire_buf *out, int *from, int src, int tag, double timeout_s, int *reject,
              fm_err *err) {
  *reject = 0;
  prof_t t0 = prof_now();
  if (!ch->ready) {
    int r = wire_recv(out, from, src, tag, timeout_s, err);
    prof_add(PROF_WAIT, t0);
    return r;
  }
  ch->clear = NULL; /* the last split message's clear part goes with ch->raw */
  ch->clear_len = 0;
  int r = wire_recv(&ch->raw, from, src, tag, timeout_s, err);
  prof_add(PROF_WAIT, t0);
  if (r) return r;
  out->tag = ch->raw.tag;
  int peer = *from;
  if (peer < 0 || peer >= ch->size || peer == ch->rank || !ch->sess[peer].keys) {
    *reject = SEAL_EHEADER;
    fm_fail(err, "message from rank %d, which has no session", peer);
    return 2;
  }
  size_t cap = ch->raw.len > SEAL_OVERHEAD ? ch->raw.len - SEAL_OVERHEAD : 0;
  if (cap + 1 > out->cap) {
    uint8_t *p = realloc(out->data, cap + 1);
    if (!p) return fm_fail(err, "out of memory");
    out->data = p;
    out->cap = cap + 1;
  }
  seal_hdr_t h;
  size_t n = 0;
  t0 = prof_now();
  int code = ch->raw.tag == ch->split_tag
                 ? seal_open_split(out->data, out->cap, &n, &ch->clear, &ch->clear_len, &h, &ch->sess[peer],
                                   (uint32_t)ch->raw.tag, ch->raw.data, ch->raw.len, err)
                 : seal_open(out->data, out->cap, &n, &h, &ch->sess[peer], (uint32_t)ch->raw.tag, ch->raw.data,
                             ch->raw.len, err);
  prof_add(PROF_OPEN, t0);
  if (code) {
    *reject = code;
    return 2;
  }
  out->len = n;
  return 0;
}

void chan_set_round(chan_t *ch, uint32_t round) {
  if (!ch->ready) return;
  for (int p = 0; p < ch->size; p++)
    if (ch->sess[p].keys) seal_session_set_round(&ch->sess[p], round, SEAL_ROUND_FORWARD);
}
