/* tests/fuzz/fuzz_import_movielens.c: libFuzzer harness for `fedmeta prepare
 * --format movielens` (common/import_movielens.c, then the P1 cleaning and
 * shard building).
 *
 * Input: the settings byte (fuzz_import.h), then up to four sections written
 * as the ml-100k files u.data, u.item, u.user and u.genre (a missing section
 * is a missing file). */
#include "tests/fuzz/fuzz_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  fm_config c;
  fuzz_import_config(&c, "movielens", data[0]);
  fuzz_sections s;
  fuzz_split(&s, data + 1, size - 1);
  static const char *const FILES[] = {"ml/u.data", "ml/u.item", "ml/u.user", "ml/u.genre"};
  for (int i = 0; i < 4; i++) fuzz_put_section(&s, i, FILES[i]);
  fuzz_import_run(&c, "ml", NULL);
  return 0;
}
