/*
 * tests/unit/fixture_bundle.h -- what the bundle unit tests share
 * (test_bundle.c for folders, test_bundle_file.c for single files): two
 * signing key pairs, reading a file back, a trust store of one key.
 */
#ifndef FIXTURE_BUNDLE_H
#define FIXTURE_BUNDLE_H

#include "bundle/bundle.h"

#define FX_KEY_PATH 128

/* Makes the key pairs ROOT/k1 (P-256) and ROOT/k2 (P-384): their private
 * and public key files in key, pub and key2, pub2 (FX_KEY_PATH bytes each).
 * 0, or -1. */
int fx_bundle_keys(const char *root, char *key, char *pub, char *key2, char *pub2);
/* The whole of a file (up to 16 MiB), NUL-terminated; the caller frees it.
 * A test failure when it cannot be read. */
char *fx_read_text(const char *path);
/* A trust store holding the one public key file pub (a test failure when
 * it cannot be made); the caller frees it with bundle_trust_free. */
bundle_trust *fx_trust_one(const char *pub, cm_err *err);

#endif
