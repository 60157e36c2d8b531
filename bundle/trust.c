/*
 * bundle/trust.c -- which signers are believed: trusted EC public keys
 * (the public-key method) and trusted CA certificates (the certificate
 * method), and the check of a model.sig signature against them.
 *
 * Rules taken from model_signing: a key bundle names its key by a hint,
 * the SHA-256 of the key's SubjectPublicKeyInfo PEM (older bundles carry
 * no hint: then every trusted key is tried). A certificate bundle's chain
 * (leaf first) must lead to a trusted CA, checked at the leaf's notBefore
 * time (a signature stays valid after the leaf expires), and the leaf
 * must allow digitalSignature, or else have the codeSigning extended key
 * usage.
 */
#include "bundle/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

struct bundle_trust {
    EVP_PKEY **keys;
    char (*hints)[2 * BUNDLE_DIGEST_LEN + 1];
    size_t n_keys;
    X509_STORE *store;
    size_t n_cas;
};

int bundle_trust_new(bundle_trust **out, cm_err *err)
{
    bundle_trust *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return cm_err_set(err, "out of memory");
    *out = t;
    return 0;
}

void bundle_trust_free(bundle_trust *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n_keys; i++)
        EVP_PKEY_free(t->keys[i]);
    free(t->keys);
    free(t->hints);
    X509_STORE_free(t->store);
    free(t);
}

static int read_path(const char *path, char **buf, size_t *len, cm_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return cm_err_errno(err, "open %s", path);
    int rc = bdl_read_fd(fileno(f), 1u << 20, buf, len, err);
    fclose(f);
    if (rc != 0)
        return cm_err_prefix(err, "%s", path);
    return 0;
}

int bundle_trust_add_key_file(bundle_trust *t, const char *path, cm_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    if (read_path(path, &buf, &len, err) != 0)
        return -1;
    EVP_PKEY *key = bdl_load_pubkey((unsigned char *)buf, len, err);
    free(buf);
    if (key == NULL)
        return cm_err_prefix(err, "%s", path);
    EVP_PKEY **nk = realloc(t->keys, (t->n_keys + 1) * sizeof(*nk));
    if (nk != NULL)
        t->keys = nk;
    char(*nh)[2 * BUNDLE_DIGEST_LEN + 1] =
        nk ? realloc(t->hints, (t->n_keys + 1) * sizeof(*nh)) : NULL;
    if (nh == NULL) {
        EVP_PKEY_free(key);
        return cm_err_set(err, "out of memory");
    }
    t->hints = nh;
    if (bdl_key_hint(key, t->hints[t->n_keys], err) != 0) {
        EVP_PKEY_free(key);
        return -1;
    }
    t->keys[t->n_keys++] = key;
    return 0;
}

int bundle_trust_add_ca_file(bundle_trust *t, const char *path, cm_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    if (read_path(path, &buf, &len, err) != 0)
        return -1;
    if (t->store == NULL && (t->store = X509_STORE_new()) == NULL) {
        free(buf);
        return cm_err_set(err, "out of memory");
    }
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    size_t added = 0;
    X509 *x;
    while (bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(t->store, x) == 1)
            added++;
        X509_free(x);
    }
    ERR_clear_error();
    BIO_free(bio);
    free(buf);
    if (added == 0)
        return cm_err_set(err, "%s: no PEM certificate found", path);
    t->n_cas += added;
    return 0;
}

static void subject_of(X509 *x, char *out, size_t len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n = 0;
    if (bio != NULL && X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0)
        n = BIO_get_mem_data(bio, &p);
    snprintf(out, len, "certificate %.*s", (int)(n > 400 ? 400 : n), p ? p : "");
    BIO_free(bio);
}

static int leaf_time(X509 *leaf, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (ASN1_TIME_to_tm(X509_get0_notBefore(leaf), &tm) != 1)
        return -1;
    *out = timegm(&tm);
    return 0;
}

static int leaf_may_sign(X509 *leaf)
{
    uint32_t flags = X509_get_extension_flags(leaf);
    if ((flags & EXFLAG_KUSAGE) && (X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE))
        return 1;
    if ((flags & EXFLAG_XKUSAGE) && (X509_get_extended_key_usage(leaf) & XKU_CODE_SIGN))
        return 1;
    return 0;
}

static int check_chain(const bundle_trust *t, STACK_OF(X509) * chain, cm_err *err)
{
    X509 *leaf = sk_X509_value(chain, 0);
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = -1;
    if (untrusted == NULL || ctx == NULL) {
        cm_err_set(err, "out of memory");
        goto out;
    }
    for (int i = 1; i < sk_X509_num(chain); i++)
        if (!sk_X509_push(untrusted, sk_X509_value(chain, i))) {
            cm_err_set(err, "out of memory");
            goto out;
        }
    time_t when;
    if (leaf_time(leaf, &when) != 0) {
        cm_err_set(err, "the signing certificate has an unreadable notBefore time");
        goto out;
    }
    if (X509_STORE_CTX_init(ctx, t->store, leaf, untrusted) != 1) {
        cm_err_set(err, "cannot set up certificate verification");
        goto out;
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), when);
    if (X509_verify_cert(ctx) != 1) {
        cm_err_set(err, "the signing certificate does not chain to a trusted CA: %s",
                   X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto out;
    }
    if (!leaf_may_sign(leaf)) {
        cm_err_set(err, "the signing certificate may not be used for signing "
                        "(no digitalSignature key usage or codeSigning extended key usage)");
        goto out;
    }
    rc = 0;
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    return rc;
}

int bdl_trust_check(const bundle_trust *t, const bdl_sig *sig, const unsigned char *msg,
                    size_t msg_len, char *signer, size_t signer_len, bundle_method *method,
                    cm_err *err)
{
    if (t == NULL || (t->n_keys == 0 && t->n_cas == 0))
        return cm_err_set(err, "no trusted keys or CAs are configured");
    bool hint_matched = false, tried_key = false;
    for (size_t i = 0; i < t->n_keys; i++) {
        if (sig->key_hint != NULL && strcmp(sig->key_hint, t->hints[i]) != 0)
            continue;
        hint_matched = true;
        tried_key = true;
        int r = bdl_ecdsa_verify(t->keys[i], msg, msg_len, sig->sig, sig->sig_len, err);
        if (r < 0)
            return -1;
        if (r == 1) {
            snprintf(signer, signer_len, "key sha256:%s", t->hints[i]);
            *method = BUNDLE_METHOD_KEY;
            return 0;
        }
    }
    if (sig->chain != NULL && t->n_cas > 0) {
        if (check_chain(t, sig->chain, err) != 0)
            return -1;
        X509 *leaf = sk_X509_value(sig->chain, 0);
        EVP_PKEY *key = X509_get0_pubkey(leaf);
        if (bdl_check_ec_key(key, err) != 0)
            return cm_err_prefix(err, "signing certificate");
        int r = bdl_ecdsa_verify(key, msg, msg_len, sig->sig, sig->sig_len, err);
        if (r < 0)
            return -1;
        if (r == 0)
            return cm_err_set(err, "the signature does not verify with the signing "
                                   "certificate's key (payload or signature altered)");
        subject_of(leaf, signer, signer_len);
        *method = BUNDLE_METHOD_CERT;
        return 0;
    }
    if (sig->chain != NULL)
        return cm_err_set(err,
                          "the bundle is signed with a certificate chain but no "
                          "trusted CA is configured%s",
                          tried_key ? " (and no trusted key verifies it)" : "");
    if (t->n_keys == 0)
        return cm_err_set(err, "the bundle is signed with a public key but no trusted "
                               "key is configured");
    if (sig->key_hint != NULL && !hint_matched)
        return cm_err_set(err,
                          "the bundle is signed by key sha256:%s, which is not a "
                          "trusted key",
                          sig->key_hint);
    return cm_err_set(err,
                      "the signature does not verify with the trusted key%s "
                      "(payload or signature altered, or another key)",
                      t->n_keys > 1 ? "s" : "");
}
