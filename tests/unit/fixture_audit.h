/*
 * tests/unit/fixture_audit.h -- a throwaway directory for an audit log,
 * shared by test_audit.c and test_audit_remote.c.
 */
#ifndef FIXTURE_AUDIT_H
#define FIXTURE_AUDIT_H

typedef struct tdir {
    char dir[64];  /* /tmp/PREFIX.XXXXXX */
    char db[128];  /* dir/audit.db (not made) */
} tdir;

/* Makes the directory; a test failure when it cannot be made. */
tdir fx_audit_dir(const char *prefix);
/* Removes it and everything in it; a test failure when that fails. */
void fx_audit_dir_remove(const tdir *t);

#endif
