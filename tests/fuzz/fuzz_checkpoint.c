/* tests/fuzz/fuzz_checkpoint.c: libFuzzer harness for checkpoint_read
 * (common/checkpoint.h), the meta-model file a user hands to `fedmeta eval`
 * and, later, the resumable checkpoint.
 *
 * Input: the file's bytes. A checkpoint that is accepted must have a valid
 * model shape, exactly model_n_shared() finite parameters and a config string,
 * and writing it back and reading that must give the same checkpoint. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/checkpoint.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
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
  FUZZ_CHECK(model_cfg_validate(&ck.model, &err) == 0, "accepted an invalid shape: %s", err.msg);
  FUZZ_CHECK(ck.n_theta == model_n_shared(&ck.model), "%zu parameters for a shape of %zu", ck.n_theta,
             model_n_shared(&ck.model));
  FUZZ_CHECK(ck.theta && ck.config, "theta or config missing");
  for (size_t i = 0; i < ck.n_theta; i++) FUZZ_CHECK(isfinite(ck.theta[i]), "parameter %zu", i);
  FUZZ_CHECK(memchr(ck.algo, '\0', sizeof ck.algo) != NULL, "algo not terminated");
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
