/*
 * daemon/tls.c -- build the server SSL_CTX from the configuration and
 * read a verified client's identity out of its certificate (see tls.h).
 */
#include "daemon/tls.h"

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

/* Copy an X509_NAME entry (first of `nid`) as UTF-8. */
static void name_entry(X509_NAME *name, int nid, char *dst, size_t cap)
{
    dst[0] = '\0';
    int i = X509_NAME_get_index_by_NID(name, nid, -1);
    if (i < 0)
        return;
    X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (n < 0)
        return;
    snprintf(dst, cap, "%.*s", n, (const char *)utf8);
    OPENSSL_free(utf8);
}

static void copy_ia5(const ASN1_IA5STRING *s, char *dst, size_t cap)
{
    int n = ASN1_STRING_length(s);
    snprintf(dst, cap, "%.*s", n, (const char *)ASN1_STRING_get0_data(s));
}

int gmd_tls_identity(SSL *ssl, cm_identity *id, cm_err *err)
{
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (cert == NULL)
        return cm_err_set(err, "the client sent no certificate");
    X509_NAME *subj = X509_get_subject_name(cert);

    BIO *mem = BIO_new(BIO_s_mem());
    if (mem == NULL)
        return cm_err_set(err, "out of memory reading the client certificate");
    X509_NAME_print_ex(mem, subj, 0, XN_FLAG_RFC2253);
    char *data;
    long n = BIO_get_mem_data(mem, &data);
    snprintf(id->subject_dn, sizeof(id->subject_dn), "%.*s", (int)(n > 0 ? n : 0), data);
    BIO_free(mem);

    name_entry(subj, NID_commonName, id->cn, sizeof(id->cn));
    name_entry(subj, NID_organizationalUnitName, id->ou, sizeof(id->ou));

    id->serial_hex[0] = '\0';
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    if (bn != NULL) {
        char *hex = BN_bn2hex(bn);
        if (hex != NULL) {
            snprintf(id->serial_hex, sizeof(id->serial_hex), "%s", hex);
            for (char *c = id->serial_hex; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            OPENSSL_free(hex);
        }
        BN_free(bn);
    }

    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32)
        return cm_err_set(err, "cannot hash the client certificate");
    for (unsigned i = 0; i < 32; i++)
        snprintf(id->fingerprint_sha256 + 2 * i, 3, "%02x", md[i]);

    id->n_san_dns = 0;
    id->n_san_uri = 0;
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (sans != NULL) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
            if (g->type == GEN_DNS && id->n_san_dns < CM_ID_MAX_SANS)
                copy_ia5(g->d.dNSName, id->san_dns[id->n_san_dns++], sizeof(id->san_dns[0]));
            else if (g->type == GEN_URI && id->n_san_uri < CM_ID_MAX_SANS)
                copy_ia5(g->d.uniformResourceIdentifier, id->san_uri[id->n_san_uri++],
                         sizeof(id->san_uri[0]));
        }
        GENERAL_NAMES_free(sans);
    }
    return 0;
}
