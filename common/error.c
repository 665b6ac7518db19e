/* common/error.c: error message helpers (see error.h). */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int fm_fail(fm_err *e, const char *fmt, ...) {
  if (!e) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return -1;
}

int fm_wrap(fm_err *e, const char *fmt, ...) {
  if (!e) return -1;
  char prefix[FM_ERRLEN], old[FM_ERRLEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, e->msg, sizeof old);
  size_t n = strlen(prefix);
  if (n > FM_ERRLEN - 3) n = FM_ERRLEN - 3;
  memcpy(e->msg, prefix, n);
  memcpy(e->msg + n, ": ", 2);
  size_t m = strlen(old);
  if (m > FM_ERRLEN - 1 - n - 2) m = FM_ERRLEN - 1 - n - 2;
  memcpy(e->msg + n + 2, old, m);
  e->msg[n + 2 + m] = '\0';
  return -1;
}
