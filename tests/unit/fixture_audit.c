/*
 * tests/unit/fixture_audit.c -- a throwaway directory for an audit log
 * (see fixture_audit.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "tests/unit/fixture_audit.h"
#include "tests/unit/fixture_tmpdir.h"

tdir fx_audit_dir(const char *prefix)
{
    tdir t;
    assert_int_equal(fx_tmpdir_make(prefix, t.dir, sizeof(t.dir)), 0);
    snprintf(t.db, sizeof(t.db), "%s/audit.db", t.dir);
    return t;
}

void fx_audit_dir_remove(const tdir *t)
{
    assert_int_equal(fx_tmpdir_remove(t->dir), 0);
}
