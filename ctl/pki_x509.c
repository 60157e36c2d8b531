/*
 * ctl/pki_x509.c -- keys, certificates and CRLs for 'gemmactl pki'
 * (see pki_x509.h). Every certificate gets a random 127-bit serial,
 * SHA-256 signatures, subject/authority key identifiers, and the
 * extensions of its kind:
 *   CA      basicConstraints critical CA:TRUE, pathlen:0;
 *           keyUsage critical keyCertSign, cRLSign
 *   server  CA:FALSE; keyUsage critical digitalSignature; EKU serverAuth;
 *           SAN DNS:localhost, IP:127.0.0.1, IP:::1 and the names given
 *   client  CA:FALSE; keyUsage critical digitalSignature; EKU clientAuth
 */
#include "ctl/pki_x509.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

EVP_PKEY *pki_new_key(cm_err *err)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (key == NULL) {
        ERR_clear_error();
        cm_err_set(err, "cannot generate a P-256 key");
    }
    return key;
}

int pki_host_is_valid(const char *name)
{
    unsigned char buf[16];
    if (inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1)
        return 1;
    size_t n = strlen(name);
    if (n == 0 || n > 253)
        return 0;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' && *c != '*')
            return 0;
    return 1;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value, cm_err *err)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) {
        ERR_clear_error();
        return cm_err_set(err, "cannot make extension %s = %s", OBJ_nid2sn(nid), value);
    }
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : cm_err_set(err, "cannot add extension %s", OBJ_nid2sn(nid));
}

static int random_serial(X509 *cert, char serial_hex[64], cm_err *err)
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return cm_err_set(err, "no random bytes for the serial number");
    raw[0] &= 0x7f; /* positive */
    raw[0] |= 0x40; /* and 16 bytes long, so no leading zero */
    BIGNUM *bn = BN_bin2bn(raw, sizeof(raw), NULL);
    ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    int rc = -1;
    if (ai != NULL && hex != NULL && X509_set_serialNumber(cert, ai) == 1 && strlen(hex) < 64) {
        for (size_t i = 0; hex[i]; i++)
            serial_hex[i] = (char)tolower((unsigned char)hex[i]);
        serial_hex[strlen(hex)] = '\0';
        rc = 0;
    } else {
        cm_err_set(err, "cannot set the serial number");
    }
    OPENSSL_free(hex);
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return rc;
}

static int set_subject(X509 *cert, const pki_cert_spec *s, cm_err *err)
{
    X509_NAME *name = X509_get_subject_name(cert);
    if ((s->o && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)s->o,
                                            -1, -1, 0) != 1) ||
        (s->ou && X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8,
                                             (const unsigned char *)s->ou, -1, -1, 0) != 1) ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)s->cn, -1, -1,
                                   0) != 1) {
        ERR_clear_error();
        return cm_err_set(err, "cannot set the subject name (CN %s)", s->cn);
    }
    return 0;
}

static int server_sans(X509 *cert, X509 *issuer, const pki_cert_spec *s, cm_err *err)
{
    size_t cap = 64;
    for (size_t i = 0; i < s->n_hosts; i++)
        cap += strlen(s->hosts[i]) + 8;
    char *san = malloc(cap);
    if (san == NULL)
        return cm_err_set(err, "out of memory");
    strcpy(san, "DNS:localhost,IP:127.0.0.1,IP:::1");
    for (size_t i = 0; i < s->n_hosts; i++) {
        const char *h = s->hosts[i];
        unsigned char buf[16];
        if (!pki_host_is_valid(h)) {
            free(san);
            return cm_err_set(err, "\"%s\" is not a valid host name or address", h);
        }
        int ip = inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
        strcat(san, ip ? ",IP:" : ",DNS:");
        strcat(san, h);
    }
    int rc = add_ext(cert, issuer, NID_subject_alt_name, san, err);
    free(san);
    return rc;
}

X509 *pki_make_cert(const pki_cert_spec *s, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                    char serial_hex[64], cm_err *err)
{
    X509 *cert = X509_new();
    if (cert == NULL) {
        cm_err_set(err, "out of memory");
        return NULL;
    }
    if (X509_set_version(cert, 2) != 1 || random_serial(cert, serial_hex, err) != 0 ||
        set_subject(cert, s, err) != 0)
        goto fail;
    X509_set_issuer_name(cert,
                         issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(cert));
    if (X509_gmtime_adj(X509_getm_notBefore(cert), -300) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(cert), s->days, 0, NULL) == NULL ||
        X509_set_pubkey(cert, key) != 1) {
        cm_err_set(err, "cannot set validity or public key");
        goto fail;
    }
    int rc = add_ext(cert, issuer, NID_subject_key_identifier, "hash", err);
    if (rc == 0)
        rc = add_ext(cert, issuer, NID_authority_key_identifier, "keyid:always", err);
    if (rc == 0 && s->kind == PKI_KIND_CA) {
        rc = add_ext(cert, issuer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0", err);
        if (rc == 0)
            rc = add_ext(cert, issuer, NID_key_usage, "critical,keyCertSign,cRLSign", err);
    } else if (rc == 0) {
        rc = add_ext(cert, issuer, NID_basic_constraints, "critical,CA:FALSE", err);
        if (rc == 0)
            rc = add_ext(cert, issuer, NID_key_usage, "critical,digitalSignature", err);
        if (rc == 0)
            rc = add_ext(cert, issuer, NID_ext_key_usage,
                         s->kind == PKI_KIND_SERVER ? "serverAuth" : "clientAuth", err);
        if (rc == 0 && s->kind == PKI_KIND_SERVER)
            rc = server_sans(cert, issuer, s, err);
    }
    if (rc != 0)
        goto fail;
    if (X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) <= 0) {
        cm_err_set(err, "cannot sign the certificate for %s", s->cn);
        goto fail;
    }
    return cert;
fail:
    ERR_clear_error();
    X509_free(cert);
    return NULL;
}

static int crl_add(X509_CRL *crl, const pki_revoked *r, cm_err *err)
{
    BIGNUM *bn = NULL;
    if (BN_hex2bn(&bn, r->serial_hex) == 0)
        return cm_err_set(err, "bad serial %s in the index", r->serial_hex);
    X509_REVOKED *rev = X509_REVOKED_new();
    ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
    ASN1_TIME *t = ASN1_TIME_set(NULL, r->when);
    int ok = rev && ai && t && X509_REVOKED_set_serialNumber(rev, ai) == 1 &&
             X509_REVOKED_set_revocationDate(rev, t) == 1 && X509_CRL_add0_revoked(crl, rev) == 1;
    ASN1_TIME_free(t);
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    if (!ok) {
        X509_REVOKED_free(rev);
        return cm_err_set(err, "cannot add serial %s to the CRL", r->serial_hex);
    }
    return 0;
}

X509_CRL *pki_make_crl(X509 *ca, EVP_PKEY *ca_key, const pki_revoked *revoked, size_t n,
                       long number, int days, cm_err *err)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *last = ASN1_TIME_set(NULL, time(NULL));
    ASN1_TIME *next = X509_time_adj_ex(NULL, days, 0, NULL);
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    int ok = crl && last && next && num && X509_CRL_set_version(crl, 1) == 1 &&
             X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) == 1 &&
             X509_CRL_set1_lastUpdate(crl, last) == 1 && X509_CRL_set1_nextUpdate(crl, next) == 1 &&
             ASN1_INTEGER_set(num, number) == 1 &&
             X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) == 1;
    ASN1_TIME_free(last);
    ASN1_TIME_free(next);
    ASN1_INTEGER_free(num);
    if (!ok) {
        cm_err_set(err, "cannot build the CRL");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        if (crl_add(crl, &revoked[i], err) != 0)
            goto fail;
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
    X509_EXTENSION *aki =
        X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
    ok = aki != NULL && X509_CRL_add_ext(crl, aki, -1) == 1;
    X509_EXTENSION_free(aki);
    if (!ok || X509_CRL_sort(crl) != 1 || X509_CRL_sign(crl, ca_key, EVP_sha256()) <= 0) {
        cm_err_set(err, "cannot sign the CRL");
        goto fail;
    }
    return crl;
fail:
    ERR_clear_error();
    X509_CRL_free(crl);
    return NULL;
}

/* Write through a temporary file beside `path`, then rename. */
static int write_atomic(const char *path, int mode, int (*emit)(FILE *, const void *),
                        const void *obj, cm_err *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return cm_err_set(err, "%s: path too long", path);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return cm_err_errno(err, "create %s", tmp);
    if (fchmod(fd, (mode_t)mode) != 0) {
        close(fd);
        unlink(tmp);
        return cm_err_errno(err, "chmod %s", tmp);
    }
    FILE *f = fdopen(fd, "wb");
    if (f == NULL) {
        close(fd);
        unlink(tmp);
        return cm_err_errno(err, "open %s", tmp);
    }
    int ok = emit(f, obj) == 1;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    ERR_clear_error();
    if (!ok) {
        unlink(tmp);
        return cm_err_set(err, "cannot write %s", path);
    }
    if (rename(tmp, path) != 0) {
        cm_err_errno(err, "rename %s to %s", tmp, path);
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int emit_key(FILE *f, const void *o)
{
    return PEM_write_PrivateKey(f, (EVP_PKEY *)o, NULL, NULL, 0, NULL, NULL);
}

static int emit_cert(FILE *f, const void *o)
{
    return PEM_write_X509(f, (X509 *)o);
}

static int emit_crl(FILE *f, const void *o)
{
    return PEM_write_X509_CRL(f, (X509_CRL *)o);
}

static int emit_text(FILE *f, const void *o)
{
    return fputs((const char *)o, f) >= 0 ? 1 : 0;
}

int pki_write_key(const char *path, EVP_PKEY *key, cm_err *err)
{
    return write_atomic(path, 0600, emit_key, key, err);
}

int pki_write_cert(const char *path, X509 *cert, cm_err *err)
{
    return write_atomic(path, 0644, emit_cert, cert, err);
}

int pki_write_crl(const char *path, X509_CRL *crl, cm_err *err)
{
    return write_atomic(path, 0644, emit_crl, crl, err);
}

int pki_write_text(const char *path, const char *text, int mode, cm_err *err)
{
    return write_atomic(path, mode, emit_text, text, err);
}

X509 *pki_load_cert(const char *path, cm_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        cm_err_errno(err, "open %s", path);
        return NULL;
    }
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ERR_clear_error();
    if (x == NULL)
        cm_err_set(err, "%s: not a PEM certificate", path);
    return x;
}

EVP_PKEY *pki_load_key(const char *path, cm_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        cm_err_errno(err, "open %s", path);
        return NULL;
    }
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    ERR_clear_error();
    if (k == NULL)
        cm_err_set(err, "%s: not a PEM private key", path);
    return k;
}

void pki_not_after(X509 *cert, char out[32])
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    else
        snprintf(out, 32, "?");
}
