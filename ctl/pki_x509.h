/*
 * ctl/pki_x509.h -- the certificate work behind 'gemmactl pki': keys,
 * the site CA, server and client certificates, the CRL, and PEM files.
 * OpenSSL 3 EVP/X509 APIs only (no openssl(1)).
 */
#ifndef CTL_PKI_X509_H
#define CTL_PKI_X509_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/err.h"

typedef enum pki_kind {
    PKI_KIND_CA = 0,
    PKI_KIND_SERVER = 1,
    PKI_KIND_CLIENT = 2,
} pki_kind;

typedef struct pki_cert_spec {
    pki_kind kind;
    const char *o;  /* site name */
    const char *ou; /* role (clients), "server", or NULL */
    const char *cn;
    int days;
    const char *const *hosts; /* server: extra SAN names or addresses */
    size_t n_hosts;
} pki_cert_spec;

typedef struct pki_revoked {
    const char *serial_hex;
    time_t when;
} pki_revoked;

/* A new P-256 key. */
EVP_PKEY *pki_new_key(cm_err *err);
/* Build and sign a certificate for `key`; `issuer`/`issuer_key` NULL for
 * the self-signed CA. Writes the serial (lowercase hex) to serial_hex. */
X509 *pki_make_cert(const pki_cert_spec *spec, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                    char serial_hex[64], cm_err *err);
/* A v2 CRL signed by the CA listing `revoked`, valid for `days`. */
X509_CRL *pki_make_crl(X509 *ca, EVP_PKEY *ca_key, const pki_revoked *revoked, size_t n,
                       long number, int days, cm_err *err);

/* Is `name` usable as a host name or IP address in a SAN? */
int pki_host_is_valid(const char *name);

/* Files: written atomically (temp + rename); keys get mode 0600. */
int pki_write_key(const char *path, EVP_PKEY *key, cm_err *err);
int pki_write_cert(const char *path, X509 *cert, cm_err *err);
int pki_write_crl(const char *path, X509_CRL *crl, cm_err *err);
int pki_write_text(const char *path, const char *text, int mode, cm_err *err);
X509 *pki_load_cert(const char *path, cm_err *err);
EVP_PKEY *pki_load_key(const char *path, cm_err *err);
/* "YYYY-MM-DDTHH:MM:SSZ" of a certificate's notAfter. */
void pki_not_after(X509 *cert, char out[32]);

#endif
