/* tests/fuzz/fuzz_import_csv.c: libFuzzer harness for `fedmeta prepare
 * --format csv` (common/import_csv.c, then the P1 cleaning and shard building).
 *
 * Input: the settings byte (fuzz_import.h), then three sections: the --columns
 * value, the --delimiter value, and the delimited file itself. */
#include "tests/fuzz/fuzz_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  fm_config c;
  fuzz_import_config(&c, "csv", data[0]);
  fuzz_sections s;
  fuzz_split(&s, data + 1, size - 1);
  if (s.n < 3) return 0;
  snprintf(c.columns, sizeof c.columns, "%.*s", (int)s.len[0], (const char *)s.p[0]);
  snprintf(c.delimiter, sizeof c.delimiter, "%.*s", (int)s.len[1], (const char *)s.p[1]);
  fuzz_put_section(&s, 2, "csv/in.csv");
  fuzz_import_run(&c, "csv/in.csv", NULL);
  return 0;
}
