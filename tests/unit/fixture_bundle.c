/*
 * tests/unit/fixture_bundle.c -- what the bundle unit tests share (see
 * fixture_bundle.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "bundle/internal.h"
#include "tests/unit/fixture_bundle.h"

int fx_bundle_keys(const char *root, char *key, char *pub, char *key2, char *pub2)
{
    char prefix[96];
    cm_err err;
    snprintf(prefix, sizeof(prefix), "%s/k1", root);
    if (bundle_keygen("p256", prefix, &err) != 0)
        return -1;
    snprintf(key, FX_KEY_PATH, "%s.key", prefix);
    snprintf(pub, FX_KEY_PATH, "%s.pub", prefix);
    snprintf(prefix, sizeof(prefix), "%s/k2", root);
    if (bundle_keygen("p384", prefix, &err) != 0)
        return -1;
    snprintf(key2, FX_KEY_PATH, "%s.key", prefix);
    snprintf(pub2, FX_KEY_PATH, "%s.pub", prefix);
    return 0;
}

char *fx_read_text(const char *path)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(bdl_read_fd(fd, 1u << 24, &buf, &len, NULL), 0);
    close(fd);
    return buf;
}

bundle_trust *fx_trust_one(const char *pub, cm_err *err)
{
    bundle_trust *t = NULL;
    assert_int_equal(bundle_trust_new(&t, err), 0);
    assert_int_equal(bundle_trust_add_key_file(t, pub, err), 0);
    return t;
}
