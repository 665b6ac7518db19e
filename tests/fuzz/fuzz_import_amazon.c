/* tests/fuzz/fuzz_import_amazon.c: libFuzzer harness for `fedmeta prepare
 * --format amazon` (common/import_amazon.c, the JSON reader of
 * common/import_json.c, then the P1 cleaning and shard building).
 *
 * Input: the settings byte (fuzz_import.h), then up to seven sections written
 * as an Amazon P5 folder with two categories (a missing section is a missing
 * file; a category without sequential.txt is not a category):
 *   0 beauty/datamaps.json   1 beauty/sequential.txt
 *   2 s3rec_attributes/Beauty_item2attributes.json
 *   3 toys/datamaps.json     4 toys/sequential.txt
 *   5 derived/toys_s3rec_item_to_p5_item.tsv
 *   6 s3rec_attributes/Toys_and_Games_item2attributes.json */
#include "tests/fuzz/fuzz_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  fm_config c;
  fuzz_import_config(&c, "amazon", data[0]);
  fuzz_sections s;
  fuzz_split(&s, data + 1, size - 1);
  static const char *const FILES[] = {
      "amz/beauty/datamaps.json", "amz/beauty/sequential.txt", "amz/s3rec_attributes/Beauty_item2attributes.json",
      "amz/toys/datamaps.json", "amz/toys/sequential.txt", "amz/derived/toys_s3rec_item_to_p5_item.tsv",
      "amz/s3rec_attributes/Toys_and_Games_item2attributes.json"};
  for (int i = 0; i < 7; i++) fuzz_put_section(&s, i, FILES[i]);
  fuzz_import_run(&c, "amz", NULL);
  return 0;
}
