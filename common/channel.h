/* common/channel.h: the sealed channel between ranks — identities, the
 * start-up handshake, and every message after it sealed (authenticated and
 * encrypted, common/seal.h) under a per-pair session key.
 *
 *   start-up   every rank has an identity: generated (simulation) or read from
 *              --key FILE ("{rank}" in FILE is replaced by the rank). Worker
 *              ranks send their signed handshake blob to rank 0; rank 0 checks
 *              each (with --keyring: the signing key must be listed, refused
 *              otherwise) and answers every worker with the directory: its own
 *              blob and every worker's. Workers check the coordinator's the
 *              same way. Then each pair has its session keys (crypto_kx).
 *   after      chan_send / chan_post seal with the pair's session: associated
 *              data = job, round, stage (= the MPI tag), sender, receiver and a
 *              sequence number; chan_recv opens and rejects what is tampered,
 *              truncated, replayed, reordered or of an earlier round, with a
 *              reason the caller counts.
 *
 * With --seal off the same calls move plain bytes (benchmarks of the overhead). */
#ifndef FEDMETA_CHANNEL_H
#define FEDMETA_CHANNEL_H
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/error.h"
#include "common/seal.h"
#include "common/wire.h"

enum { WIRE_TAG_HANDSHAKE = 16, WIRE_TAG_DIRECTORY = 17, WIRE_TAG_SECAGG = 18 };

typedef struct chan {
  int rank, size;
  int sealed;             /* --seal on */
  int ready;              /* handshake done: messages are sealed from now on */
  uint64_t job;
  seal_identity_t id;
  seal_session_t *sess;   /* (size) by peer rank; rank 0 <-> every worker, worker <-> every rank */
  uint8_t (*peer_sign)[SEAL_SIGN_PKBYTES]; /* (size) verified signing keys */
  uint8_t *box;           /* sealing buffer */
  size_t box_cap;
  wire_buf raw;           /* sealed bytes as received */
  int split_tag;          /* messages of this tag are split (seal_seal_split); -1: none */
  const uint8_t *clear;   /* the clear, authenticated part of the last split message */
  size_t clear_len;       /* received (inside raw: valid until the next chan_recv) */
} chan_t;

/* Loads or makes this rank's identity (not yet any session). */
int chan_init(chan_t *ch, const fm_config *c, uint64_t job, int rank, int size, fm_err *err);
void chan_free(chan_t *ch);

/* The start-up exchange described above; every rank calls it. On a refused
 * key or signature it fails with a message naming the rank and the cause
 * (the caller ends the job). */
int chan_handshake(chan_t *ch, const fm_config *c, double timeout_s, fm_err *err);

/* Seals buf for dest into the channel's buffer and points *out at it (valid
 * until the next call); for fault-injection tests that damage or repeat it.
 * Without sealing *out is buf itself. */
int chan_seal(chan_t *ch, int dest, int tag, uint32_t round, const void *buf, size_t len, const uint8_t **out,
              size_t *out_len, fm_err *err);
/* Opens a message sealed by rank `peer` for this rank (relayed by another,
 * e.g. key shares through the coordinator). plain needs len bytes. Returns 0
 * or a SEAL_E* code. */
int chan_open(chan_t *ch, int peer, int tag, const uint8_t *msg, size_t len, uint8_t *plain, size_t cap,
              size_t *plain_len, fm_err *err);
/* Seals buf for each of dests and posts the messages: sealed straight into
 * the outbox (wire_post_begin), sent in the background; never blocks, buf may
 * be reused at once. Messages to one rank arrive in the order they were
 * posted (MPI's order per source, tag and communicator), as the replay check
 * needs. wire_flush before the end waits for them to leave. */
int chan_post(chan_t *ch, const int *dests, int n, int tag, uint32_t round, const void *buf, size_t len,
              fm_err *err);
/* chan_post to one rank: a worker goes on (trains its next platform) while its
 * delta travels and the coordinator opens the previous one. */
int chan_send(chan_t *ch, int dest, int tag, uint32_t round, const void *buf, size_t len, fm_err *err);

/* chan_send without a copy of a large message: chan_begin returns room for
 * len bytes of plaintext inside the outgoing buffer (after the sealed header
 * and nonce); the caller writes the message there and chan_commit seals it in
 * place and posts it to dest. NULL on error. */
uint8_t *chan_begin(chan_t *ch, size_t len, fm_err *err);
int chan_commit(chan_t *ch, int dest, int tag, uint32_t round, size_t len, fm_err *err);

/* Sealing apart from posting, so that another thread can seal (a worker's mask
 * helper): chan_sealed_len is the size of the sealed form of len bytes and
 * chan_payload_offset where the plaintext goes in a buffer of that size;
 * chan_seal_at seals the len bytes at buf + chan_payload_offset in place (no
 * MPI call: any thread, but only one thread at a time may seal to dest, and
 * the messages must then be posted in the order they were sealed);
 * chan_post_sealed posts such a buffer, which must come from wire_buf_take
 * (cap: its size): the outbox sends it without a copy and owns it from then
 * on, also on error. Without sealing (handshake not done) the plaintext is
 * the whole buffer. */
size_t chan_sealed_len(const chan_t *ch, size_t len);
size_t chan_payload_offset(const chan_t *ch);
int chan_seal_at(chan_t *ch, int dest, int tag, uint32_t round, uint8_t *buf, size_t len, fm_err *err);
int chan_post_sealed(chan_t *ch, int dest, int tag, uint8_t *buf, size_t cap, size_t sealed_len, fm_err *err);

/* Receives like wire_recv (tag may be WIRE_ANY_TAG; out->tag is set) and opens it.
 * Returns 0 (plaintext in out), 1 timeout, -1 error, or 2: rejected, with the
 * seal code in *reject (SEAL_E*) and the message in err. */
int chan_recv(chan_t *ch, wire_buf *out, int *from, int src, int tag, double timeout_s, int *reject,
              fm_err *err);

/* Split messages (seal.h: a clear but authenticated part, for masked
 * secure-aggregation inputs, and the rest encrypted). chan_set_split makes
 * every message of `tag` split, on both sides (-1: none); chan_recv then
 * opens such a message's encrypted part into out and leaves the clear part in
 * ch->clear / ch->clear_len (inside the received bytes: valid until the next
 * chan_recv). Needs sealing: a split message exists only once the handshake
 * is done.
 *
 * chan_split_len is the size of a split message; the caller writes the clear
 * bytes at buf + SEAL_SPLIT_CLEAR_OFF and the plaintext right after them (at
 * chan_split_plain_offset), then chan_seal_split_at seals it in place (the
 * same threading rules as chan_seal_at) for chan_post_sealed.
 * chan_begin_split / chan_commit_split do the same inside the outbox, like
 * chan_begin / chan_commit. */
void chan_set_split(chan_t *ch, int tag);
size_t chan_split_len(size_t plain_len, size_t clear_len);
size_t chan_split_plain_offset(size_t clear_len);
int chan_seal_split_at(chan_t *ch, int dest, int tag, uint32_t round, uint8_t *buf, size_t plain_len,
                       size_t clear_len, fm_err *err);
uint8_t *chan_begin_split(chan_t *ch, size_t plain_len, size_t clear_len, uint8_t **clear, fm_err *err);
int chan_commit_split(chan_t *ch, int dest, int tag, uint32_t round, size_t plain_len, size_t clear_len, fm_err *err);

/* From now on messages of rounds before `round` are rejected (SEAL_EROUND). */
void chan_set_round(chan_t *ch, uint32_t round);

#endif
