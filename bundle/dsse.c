/*
 * bundle/dsse.c -- the DSSE pre-authentication encoding and the ECDSA
 * signatures over it, plus the OMS public-key hint.
 *
 * PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body,
 * lengths in ASCII decimal. The digest follows the curve: SHA-256 for
 * P-256, SHA-384 for P-384, SHA-512 for P-521; signatures are DER.
 */
#include "bundle/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

int bdl_pae(const unsigned char *payload, size_t len, unsigned char **out, size_t *out_len,
            cm_err *err)
{
    char head[128];
    int h = snprintf(head, sizeof(head), "DSSEv1 %zu %s %zu ", strlen(BDL_PAYLOAD_TYPE),
                     BDL_PAYLOAD_TYPE, len);
    if (h < 0 || (size_t)h >= sizeof(head))
        return cm_err_set(err, "DSSE header does not fit");
    unsigned char *buf = malloc((size_t)h + len + 1);
    if (buf == NULL)
        return cm_err_set(err, "out of memory building the DSSE message");
    memcpy(buf, head, (size_t)h);
    if (len > 0)
        memcpy(buf + h, payload, len);
    *out = buf;
    *out_len = (size_t)h + len;
    return 0;
}

const EVP_MD *bdl_md_for_key(const EVP_PKEY *key)
{
    if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
        return NULL;
    switch (EVP_PKEY_get_bits(key)) {
    case 256:
        return EVP_sha256();
    case 384:
        return EVP_sha384();
    case 521:
        return EVP_sha512();
    default:
        return NULL;
    }
}

int bdl_check_ec_key(const EVP_PKEY *key, cm_err *err)
{
    if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
        return cm_err_set(err, "only elliptic-curve (ECDSA) keys are supported");
    char group[64] = "";
    if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                        NULL))
        return cm_err_set(err, "cannot read the key's curve");
    if (strcmp(group, "prime256v1") != 0 && strcmp(group, "secp384r1") != 0 &&
        strcmp(group, "secp521r1") != 0)
        return cm_err_set(err, "unsupported curve %s (use P-256 or P-384)", group);
    return 0;
}

int bdl_ecdsa_sign(EVP_PKEY *key, const unsigned char *msg, size_t len, unsigned char **sig,
                   size_t *sig_len, cm_err *err)
{
    const EVP_MD *md = bdl_md_for_key(key);
    if (md == NULL)
        return cm_err_set(err, "signing key is not a supported EC key");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = NULL;
    size_t n = 0;
    int rc = -1;
    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, md, NULL, key) != 1 ||
        EVP_DigestSign(ctx, NULL, &n, msg, len) != 1) {
        cm_err_set(err, "cannot start the ECDSA signature");
        goto out;
    }
    buf = malloc(n);
    if (buf == NULL) {
        cm_err_set(err, "out of memory signing");
        goto out;
    }
    if (EVP_DigestSign(ctx, buf, &n, msg, len) != 1) {
        cm_err_set(err, "ECDSA signing failed");
        goto out;
    }
    *sig = buf;
    *sig_len = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    EVP_MD_CTX_free(ctx);
    return rc;
}

int bdl_ecdsa_verify(EVP_PKEY *key, const unsigned char *msg, size_t len, const unsigned char *sig,
                     size_t sig_len, cm_err *err)
{
    const EVP_MD *md = bdl_md_for_key(key);
    if (md == NULL)
        return cm_err_set(err, "public key is not a supported EC key");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) != 1) {
        EVP_MD_CTX_free(ctx);
        return cm_err_set(err, "cannot start ECDSA verification");
    }
    int r = EVP_DigestVerify(ctx, sig, sig_len, msg, len);
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return r == 1 ? 1 : 0;
}

int bdl_key_hint(EVP_PKEY *key, char out[2 * BUNDLE_DIGEST_LEN + 1], cm_err *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_PUBKEY(bio, key) != 1) {
        BIO_free(bio);
        return cm_err_set(err, "cannot encode the public key as PEM");
    }
    char *pem = NULL;
    long n = BIO_get_mem_data(bio, &pem);
    unsigned char d[BUNDLE_DIGEST_LEN];
    int ok = n > 0 && EVP_Digest(pem, (size_t)n, d, NULL, EVP_sha256(), NULL) == 1;
    BIO_free(bio);
    if (!ok)
        return cm_err_set(err, "cannot hash the public key");
    bundle_hex(d, out);
    return 0;
}

EVP_PKEY *bdl_load_pubkey(const unsigned char *data, size_t len, cm_err *err)
{
    BIO *bio = BIO_new_mem_buf(data, (int)(len > 0x7fffffff ? 0x7fffffff : len));
    EVP_PKEY *key = NULL;
    if (bio != NULL)
        key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (key == NULL) {
        const unsigned char *p = data;
        key = d2i_PUBKEY(NULL, &p, (long)(len > 0x7fffffff ? 0x7fffffff : len));
    }
    ERR_clear_error();
    if (key == NULL) {
        cm_err_set(err, "not a PEM or DER public key");
        return NULL;
    }
    if (bdl_check_ec_key(key, err) != 0) {
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}
