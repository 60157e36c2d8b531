/*
 * tests/unit/fixture_tmpdir.c -- a throwaway directory under /tmp for the
 * unit tests that write files (see fixture_tmpdir.h).
 */
#include "tests/unit/fixture_tmpdir.h"

#include <stdio.h>
#include <stdlib.h>

int fx_tmpdir_make(const char *prefix, char *dir, size_t cap)
{
    int n = snprintf(dir, cap, "/tmp/%s.XXXXXX", prefix);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    return mkdtemp(dir) != NULL ? 0 : -1;
}

int fx_tmpdir_remove(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}
