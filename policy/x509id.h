/*
 * policy/x509id.h -- a cm_identity from a client certificate, the one way
 * gemmad and gemmactl turn certificates into what the policy matches on.
 *
 * subject_dn is RFC 2253 (most specific first: "CN=x,OU=y,O=z"), UTF-8
 * unescaped; serial and fingerprint are lowercase hex without colons.
 * transport is set to TCP; the caller sets transport, peer credentials and
 * peer address.
 */
#ifndef PL_X509ID_H
#define PL_X509ID_H

#include <openssl/x509.h>

#include "common/err.h"
#include "common/identity.h"

int pl_identity_from_x509(X509 *cert, cm_identity *id, cm_err *err);
int pl_identity_from_pem_file(const char *path, cm_identity *id, cm_err *err);

#endif
