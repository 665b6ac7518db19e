/* tests/unit/test_aggregate.c: robust aggregation (coordinate-wise median,
 * trimmed mean) on hand-computed cases, independence of the row order, the
 * norm bound check, and the outer optimisers' state names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fixed.h"
#include "coordinator/aggregate.h"
#include "tests/check.h"

int main(void) {
  const double scale = 1024.0;
  /* 5 platforms, 3 coordinates; platform 4 is hostile (huge values) */
  float x[5][3] = {{1, -2, 0.5f}, {2, -1, 0.25f}, {3, 0, 0}, {4, 1, -0.25f}, {1000, 1000, -1000}};
  uint32_t rows[5 * 3];
  for (int i = 0; i < 5; i++) fixed_encode(rows + 3 * i, x[i], 3, scale);
  float out[3];
  int32_t tmp[5];
  agg_median(out, rows, 5, 3, scale, tmp);
  CHECK_NEAR(out[0], 3, 1e-6);
  CHECK_NEAR(out[1], 0, 1e-6);
  CHECK_NEAR(out[2], 0, 1e-6);
  /* even count: mean of the middle two */
  agg_median(out, rows, 4, 3, scale, tmp);
  CHECK_NEAR(out[0], 2.5, 1e-6);
  CHECK_NEAR(out[1], -0.5, 1e-6);
  CHECK_NEAR(out[2], 0.125, 1e-6);
  /* trimmed mean, 20% of 5 = 1 cut at each end */
  agg_trimmed(out, rows, 5, 3, scale, 0.2f, tmp);
  CHECK_NEAR(out[0], 3, 1e-6);          /* (2 + 3 + 4) / 3 */
  CHECK_NEAR(out[1], 0, 1e-6);          /* (-1 + 0 + 1) / 3 */
  CHECK_NEAR(out[2], 0, 1e-6);          /* (-0.25 + 0 + 0.25) / 3 */
  /* trim 0 is the plain mean; the hostile row dominates it */
  agg_trimmed(out, rows, 5, 3, scale, 0.0f, tmp);
  CHECK_NEAR(out[0], 202, 1e-5);
  /* order of the rows does not matter (bit-identical) */
  uint32_t perm[5 * 3];
  int order[5] = {4, 2, 0, 3, 1};
  for (int i = 0; i < 5; i++) memcpy(perm + 3 * i, rows + 3 * order[i], 12);
  float a[3], b[3];
  agg_trimmed(a, rows, 5, 3, scale, 0.2f, tmp);
  agg_trimmed(b, perm, 5, 3, scale, 0.2f, tmp);
  CHECK(memcmp(a, b, sizeof a) == 0);
  agg_median(a, rows, 5, 3, scale, tmp);
  agg_median(b, perm, 5, 3, scale, tmp);
  CHECK(memcmp(a, b, sizeof a) == 0);
  /* one row: median and trimmed mean are that row */
  agg_median(out, rows + 3, 1, 3, scale, tmp);
  CHECK_NEAR(out[0], 2, 1e-6);
  agg_trimmed(out, rows + 3, 1, 3, scale, 0.4f, tmp);
  CHECK_NEAR(out[1], -1, 1e-6);

  /* norm bound: row 0 has norm sqrt(1 + 4 + 0.25) = 2.2913 */
  double norm;
  CHECK_EQ_INT(agg_check_norm((const uint8_t *)rows, 3, scale, 2.3, &norm), 0);
  CHECK_NEAR(norm, 2.29128784747792, 1e-9);
  CHECK_EQ_INT(agg_check_norm((const uint8_t *)rows, 3, scale, 2.29, &norm), 1);
  CHECK_EQ_INT(agg_check_norm((const uint8_t *)(rows + 12), 3, scale, 10, &norm), 1);

  CHECK(!strcmp(outer_kind_name(OUTER_SGD), "sgd"));
  CHECK(!strcmp(outer_kind_name(OUTER_MOMENTUM), "momentum"));
  CHECK(!strcmp(outer_kind_name(OUTER_ADAM), "adam"));
  printf("test_aggregate: ok\n");
  return 0;
}
