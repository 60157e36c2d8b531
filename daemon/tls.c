/*
 * daemon/tls.c -- build the server SSL_CTX from the configuration and
 * read a verified client's identity out of its certificate (see tls.h).
 */
#include "daemon/tls.h"
#include "policy/x509id.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

void gmd_tls_error_text(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        snprintf(buf, cap, "no further detail");
    else
        ERR_error_string_n(e, buf, cap);
    ERR_clear_error();
}

static int ssl_fail(cm_err *err, const char *what, const char *path)
{
    char detail[256];
    gmd_tls_error_text(detail, sizeof(detail));
    return cm_err_set(err, "%s %s: %s", what, path, detail);
}

/* Load every CRL in a PEM file into the store. */
static int load_crls(X509_STORE *store, const char *path, cm_err *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return cm_err_errno(err, "cannot open CRL file %s", path);
    int n = 0;
    for (;;) {
        X509_CRL *crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
        if (crl == NULL)
            break;
        int ok = X509_STORE_add_crl(store, crl);
        X509_CRL_free(crl);
        if (!ok) {
            fclose(f);
            return ssl_fail(err, "cannot add CRL from", path);
        }
        n++;
    }
    fclose(f);
    ERR_clear_error(); /* the end-of-file "no start line" */
    if (n == 0)
        return cm_err_set(err, "CRL file %s holds no PEM CRL", path);
    return 0;
}

int gmd_tls_ctx_new(const gmd_config *cfg, SSL_CTX **out, cm_err *err)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return ssl_fail(err, "cannot create a TLS context", "");
    int minv = strcmp(cfg->tls_min_version, "1.2") == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
    SSL_CTX_set_min_proto_version(ctx, minv);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);

    if (SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) != 1) {
        ssl_fail(err, "tls.ciphers: no usable cipher in", cfg->tls_ciphers);
        goto fail;
    }
    if (SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites) != 1) {
        ssl_fail(err, "tls.ciphersuites: no usable suite in", cfg->tls_ciphersuites);
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_certificate) != 1) {
        ssl_fail(err, "cannot load the server certificate", cfg->tls_certificate);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_private_key, SSL_FILETYPE_PEM) != 1) {
        ssl_fail(err, "cannot load the private key", cfg->tls_private_key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_fail(err, "the private key does not match the certificate", cfg->tls_private_key);
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, cfg->tls_client_ca, NULL) != 1) {
        ssl_fail(err, "cannot load the client CA bundle", cfg->tls_client_ca);
        goto fail;
    }
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->tls_client_ca);
    if (names == NULL) {
        ssl_fail(err, "no CA names in", cfg->tls_client_ca);
        goto fail;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_verify_depth(ctx, 8);
    static const unsigned char sid[] = "gemmad";
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);

    if (cfg->tls_crl[0] != '\0') {
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        if (load_crls(store, cfg->tls_crl, err) < 0)
            goto fail;
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
    }
    *out = ctx;
    return 0;
fail:
    SSL_CTX_free(ctx);
    return -1;
}

/*
 * The certificate part of the identity comes from policy/x509id.c, the one
 * function gemmactl (policy test) uses as well, so the daemon and the
 * operator's tool always see the same subject DN, CN, OU, serial,
 * fingerprint and SANs. How the client reached us (transport, peer
 * credentials and address, filled in at accept time) is kept.
 */
int gmd_tls_identity(SSL *ssl, cm_identity *id, cm_err *err)
{
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (cert == NULL)
        return cm_err_set(err, "the client sent no certificate");
    cm_identity from_cert;
    if (pl_identity_from_x509(cert, &from_cert, err) < 0)
        return -1;
    from_cert.transport = id->transport;
    from_cert.has_peer_cred = id->has_peer_cred;
    from_cert.peer_uid = id->peer_uid;
    from_cert.peer_gid = id->peer_gid;
    from_cert.peer_pid = id->peer_pid;
    memcpy(from_cert.peer_addr, id->peer_addr, sizeof(from_cert.peer_addr));
    *id = from_cert;
    return 0;
}
