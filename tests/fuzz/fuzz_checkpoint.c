/* tests/fuzz/fuzz_checkpoint.c: libFuzzer harness for checkpoint_read
 * (common/checkpoint.h), the meta-model file a user hands to `fedmeta eval`,
 * and checkpoint_load_bytes, the resumable checkpoint.fmck that --resume reads.
 *
 * Input: a protobuf Checkpoint message. It is read three ways: as a
 * meta-model.pb file (checkpoint_read), as a checkpoint.fmck image as it is
 * (the magic / length / checksum checks refuse it), and as a checkpoint.fmck
 * image made of the 48-byte header with the correct length and BLAKE2b-256
 * checksum followed by the input, so that mutations reach the decoder behind
 * the checksum. A checkpoint that is accepted must have a valid model shape,
 * exactly model_n_shared() finite parameters and a config string, and writing
 * it back (checkpoint_write / checkpoint_save) and reading that must give the
 * same checkpoint. */
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "common/checkpoint.h"
#include "tests/fuzz/fuzz_util.h"

static void check_accepted(const checkpoint_t *ck) {
  fm_err err;
  FUZZ_CHECK(model_cfg_validate(&ck->model, &err) == 0, "accepted an invalid shape: %s", err.msg);
  FUZZ_CHECK(ck->n_theta == model_n_shared(&ck->model), "%zu parameters for a shape of %zu", ck->n_theta,
             model_n_shared(&ck->model));
  FUZZ_CHECK(ck->theta && ck->config, "theta or config missing");
  for (size_t i = 0; i < ck->n_theta; i++) FUZZ_CHECK(isfinite(ck->theta[i]), "parameter %zu", i);
  FUZZ_CHECK(memchr(ck->algo, '\0', sizeof ck->algo) != NULL, "algo not terminated");
  FUZZ_CHECK(memchr(ck->outer_kind, '\0', sizeof ck->outer_kind) != NULL, "outer_kind not terminated");
}

/* checkpoint.fmck images: the input as it is, and behind a correct header. */
static void fuzz_resumable(const uint8_t *data, size_t size) {
  checkpoint_t ck;
  fm_err err;
  if (checkpoint_load_bytes(&ck, data, size, "raw", &err) == 0) checkpoint_free(&ck);
  uint8_t *img = malloc(CHECKPOINT_HEADER + size);
  if (!img) return;
  memcpy(img, "FMCKPT\0\1", 8);
  for (int i = 0; i < 8; i++) img[8 + i] = (uint8_t)((uint64_t)size >> (8 * i));
  crypto_generichash(img + 16, 32, data, size, NULL, 0);
  if (size) memcpy(img + CHECKPOINT_HEADER, data, size);
  int rc = checkpoint_load_bytes(&ck, img, CHECKPOINT_HEADER + size, "fuzz.fmck", &err);
  free(img);
  if (rc != 0) {
    FUZZ_CHECK(ck.theta == NULL && ck.outer_m == NULL && ck.outer_v == NULL, "a refused checkpoint must hold nothing");
    return;
  }
  check_accepted(&ck);
  FUZZ_CHECK(ck.outer_kind[0], "a resumable checkpoint without outer state was accepted");
  char path[512];
  fuzz_path(path, sizeof path, "checkpoint.fmck");
  FUZZ_CHECK(checkpoint_save(path, &ck, &err) == 0, "save: %s", err.msg);
  checkpoint_t ck2;
  FUZZ_CHECK(checkpoint_load(&ck2, path, &err) == 0, "re-load: %s", err.msg);
  FUZZ_CHECK(ck2.round == ck.round && ck2.n_theta == ck.n_theta &&
             !memcmp(ck2.theta, ck.theta, ck.n_theta * sizeof *ck.theta) &&
             !strcmp(ck2.outer_kind, ck.outer_kind) && ck2.outer_steps == ck.outer_steps &&
             ck2.config_hash == ck.config_hash && (ck2.outer_m == NULL) == (ck.outer_m == NULL) &&
             (ck2.outer_v == NULL) == (ck.outer_v == NULL) &&
             (!ck.outer_m || !memcmp(ck2.outer_m, ck.outer_m, ck.n_theta * sizeof *ck.outer_m)) &&
             (!ck.outer_v || !memcmp(ck2.outer_v, ck.outer_v, ck.n_theta * sizeof *ck.outer_v)),
             "resumable checkpoint changed in a save/load round trip");
  checkpoint_free(&ck2);
  checkpoint_free(&ck);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int sodium_ok = 0;
  if (!sodium_ok) {
    if (sodium_init() < 0) abort();
    sodium_ok = 1;
  }
  fuzz_resumable(data, size);
  char path[512], path2[512];
  fuzz_path(path, sizeof path, "meta-model.pb");
  fuzz_path(path2, sizeof path2, "rewritten.pb");
  fuzz_write(path, data, size);
  checkpoint_t ck;
  fm_err err;
  if (checkpoint_read(&ck, path, &err) != 0) {
    FUZZ_CHECK(ck.theta == NULL && ck.config == NULL, "a refused checkpoint must hold nothing");
    FUZZ_CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL, "error message not terminated");
    return 0;
  }
  check_accepted(&ck);
  /* round trip */
  FUZZ_CHECK(checkpoint_write(path2, &ck, &err) == 0, "rewrite: %s", err.msg);
  checkpoint_t ck2;
  FUZZ_CHECK(checkpoint_read(&ck2, path2, &err) == 0, "re-read: %s", err.msg);
  FUZZ_CHECK(ck2.round == ck.round && ck2.seed == ck.seed && !strcmp(ck2.algo, ck.algo) &&
             !memcmp(&ck2.model, &ck.model, sizeof ck.model) && ck2.n_theta == ck.n_theta &&
             !memcmp(ck2.theta, ck.theta, ck.n_theta * sizeof *ck.theta) &&
             !strcmp(ck2.config, ck.config), "checkpoint changed in a round trip");
  checkpoint_free(&ck2);
  checkpoint_free(&ck);
  return 0;
}
