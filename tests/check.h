/* tests/check.h: assertion macros for the unit tests. A failed check prints
 * file:line and the values, then exits non-zero so ctest reports it. */
#ifndef FEDMETA_TESTS_CHECK_H
#define FEDMETA_TESTS_CHECK_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond) do { if (!(cond)) { \
  fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); exit(1); } } while (0)
#define CHECK_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); if (_a != _b) { \
  fprintf(stderr, "%s:%d: CHECK_EQ_INT failed: %s = %lld, %s = %lld\n", __FILE__, __LINE__, #a, _a, #b, _b); \
  exit(1); } } while (0)
#define CHECK_NEAR(a, b, tol) do { double _a = (double)(a), _b = (double)(b); \
  if (!(fabs(_a - _b) <= (tol)) ) { \
  fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g, tol %.3g\n", __FILE__, __LINE__, \
          #a, _a, #b, _b, (double)(tol)); exit(1); } } while (0)
#define CHECK_OK(expr) do { int _rc = (expr); if (_rc != 0) { \
  fprintf(stderr, "%s:%d: CHECK_OK failed: %s returned %d\n", __FILE__, __LINE__, #expr, _rc); exit(1); } } while (0)
#endif
