/* common/error.h: how fedmeta reports errors. Functions return 0 on success and
 * a negative value on failure, with a message in a caller-owned fm_err that
 * names the input (file:line where there is one), what was expected and, where
 * it helps, the fix. Only main() decides to print and exit. */
#ifndef FEDMETA_ERROR_H
#define FEDMETA_ERROR_H

#define FM_ERRLEN 512

typedef struct fm_err {
  char msg[FM_ERRLEN];
} fm_err;

/* Formats the message into e (may be NULL) and returns -1. */
int fm_fail(fm_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes e->msg with more context ("reading shard X: ...") and returns -1. */
int fm_wrap(fm_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
