/*
 * daemon/tls.h -- gemmad's TLS server settings (OpenSSL 3) and the
 * identity of a verified client.
 *
 * One SSL_CTX holds the server certificate, the client CA bundle and the
 * CRL; a new one is built on SIGHUP and swapped in (connections keep a
 * reference to the one they started with). Clients must present a
 * certificate that chains to the CA and is not revoked; TLS 1.3 only
 * unless the configuration allows 1.2; no renegotiation, no compression,
 * no session resumption (every connection is checked against the current
 * CRL).
 */
#ifndef GMD_TLS_H
#define GMD_TLS_H

#include <openssl/ssl.h>

#include "common/err.h"
#include "common/identity.h"
#include "daemon/conf.h"

int gmd_tls_ctx_new(const gmd_config *cfg, SSL_CTX **out, cm_err *err);

/* Fill the certificate part of `id` from the verified peer of `ssl`. */
int gmd_tls_identity(SSL *ssl, cm_identity *id, cm_err *err);

/* The first queued OpenSSL error as text (for logs), and clear the queue. */
void gmd_tls_error_text(char *buf, size_t cap);

#endif
