/*
 * policy/x509id.c -- fills a cm_identity from a verified X.509 client
 * certificate: subject DN in RFC 2253 form, first CN and OU, serial,
 * SHA-256 fingerprint, SAN DNS names and URIs. The daemon and gemmactl
 * use the same function, so a rule tested with 'gemmactl policy test'
 * sees exactly what gemmad will see.
 */
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "policy/x509id.h"

static void copy_entry(X509_NAME *name, int nid, char *out, size_t cap)
{
    out[0] = '\0';
    int i = X509_NAME_get_index_by_NID(name, nid, -1);
    if (i < 0)
        return;
    ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n < 0)
        return;
    snprintf(out, cap, "%.*s", n, (const char *)utf8);
    OPENSSL_free(utf8);
}

static void copy_ia5(const ASN1_IA5STRING *s, char *out, size_t cap)
{
    int n = ASN1_STRING_length(s);
    snprintf(out, cap, "%.*s", n, (const char *)ASN1_STRING_get0_data(s));
}

int pl_identity_from_x509(X509 *cert, cm_identity *id, cm_err *err)
{
    memset(id, 0, sizeof(*id));
    X509_NAME *subj = X509_get_subject_name(cert);
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || X509_NAME_print_ex(b, subj, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
        BIO_free(b);
        return cm_err_set(err, "certificate: cannot print the subject name");
    }
    char *data;
    long n = BIO_get_mem_data(b, &data);
    if ((size_t)n >= sizeof(id->subject_dn)) {
        BIO_free(b);
        return cm_err_set(err, "certificate: subject name longer than %zu bytes",
                          sizeof(id->subject_dn) - 1);
    }
    memcpy(id->subject_dn, data, (size_t)n);
    id->subject_dn[n] = '\0';
    BIO_free(b);
    copy_entry(subj, NID_commonName, id->cn, sizeof(id->cn));
    copy_entry(subj, NID_organizationalUnitName, id->ou, sizeof(id->ou));

    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    BN_free(bn);
    if (hex == NULL)
        return cm_err_set(err, "certificate: cannot read the serial number");
    snprintf(id->serial_hex, sizeof(id->serial_hex), "%s", hex);
    OPENSSL_free(hex);
    for (char *p = id->serial_hex; *p; p++)
        *p = (char)tolower((unsigned char)*p);

    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!X509_digest(cert, EVP_sha256(), md, &mdlen) || mdlen != 32)
        return cm_err_set(err, "certificate: cannot compute the SHA-256 fingerprint");
    for (unsigned i = 0; i < 32; i++)
        snprintf(id->fingerprint_sha256 + 2 * i, 3, "%02x", md[i]);

    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type == GEN_DNS && id->n_san_dns < CM_ID_MAX_SANS)
            copy_ia5(g->d.dNSName, id->san_dns[id->n_san_dns++], sizeof(id->san_dns[0]));
        else if (g->type == GEN_URI && id->n_san_uri < CM_ID_MAX_SANS)
            copy_ia5(g->d.uniformResourceIdentifier, id->san_uri[id->n_san_uri++],
                     sizeof(id->san_uri[0]));
    }
    GENERAL_NAMES_free(sans);
    id->transport = CM_TRANSPORT_TCP;
    return 0;
}

int pl_identity_from_pem_file(const char *path, cm_identity *id, cm_err *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return cm_err_errno(err, "open %s", path);
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (cert == NULL)
        return cm_err_set(err, "%s: not a PEM certificate", path);
    int rc = pl_identity_from_x509(cert, id, err);
    X509_free(cert);
    return rc < 0 ? cm_err_prefix(err, "%s", path) : 0;
}
