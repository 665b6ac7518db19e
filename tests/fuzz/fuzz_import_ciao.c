/* tests/fuzz/fuzz_import_ciao.c: libFuzzer harness for `fedmeta prepare
 * --format ciao` (common/import_csv.c in Ciao mode, the --names reader of
 * common/import_util.c, then the P1 cleaning and shard building).
 *
 * Input: the settings byte (fuzz_import.h), then the ratings text (written as
 * ciao/derived/rating_with_timestamp.tsv, found from the folder as the
 * importer does) and, optionally after a FUZZ_SEP line, a --names file. */
#include "tests/fuzz/fuzz_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  fm_config c;
  fuzz_import_config(&c, "ciao", data[0]);
  fuzz_sections s;
  fuzz_split(&s, data + 1, size - 1);
  fuzz_put_section(&s, 0, "ciao/derived/rating_with_timestamp.tsv");
  fuzz_put_section(&s, 1, "ciao/catalog.txt");
  fuzz_import_run(&c, "ciao", s.n > 1 ? "ciao/catalog.txt" : NULL);
  return 0;
}
