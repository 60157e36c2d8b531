/*
 * tests/unit/fixture_tmpdir.h -- a throwaway directory under /tmp for the
 * unit tests that write files (audit logs, bundles, keys).
 */
#ifndef FIXTURE_TMPDIR_H
#define FIXTURE_TMPDIR_H

#include <stddef.h>

/* Makes a fresh directory /tmp/PREFIX.XXXXXX, its path in dir (cap bytes).
 * 0, or -1 when it cannot be made. */
int fx_tmpdir_make(const char *prefix, char *dir, size_t cap);
/* Removes dir and everything below it. 0, or -1. */
int fx_tmpdir_remove(const char *dir);

#endif
