/*
 * audit/keys.h -- the audit log's keys: the ECDSA P-256 checkpoint signing
 * key and the HMAC-SHA256 key for prompts and outputs. Both are created
 * on first use (mode 0600) and refused when others may read them.
 */
#ifndef AU_KEYS_H
#define AU_KEYS_H

#include <openssl/evp.h>
#include <stddef.h>

#include "audit/canon.h"
#include "common/err.h"

#define AU_HMAC_KEY_LEN 32
#define AU_KEY_ID_HEX 65

/* Loads the PEM private key at path, or creates it (and "<path>.pub"). */
int au_signing_key_load(const char *path, EVP_PKEY **out, cm_err *err);
/* Loads a PEM public key (or a private key, whose public half is used). */
int au_pubkey_load(const char *path, EVP_PKEY **out, cm_err *err);
int au_pubkey_from_pem(const char *pem, size_t len, EVP_PKEY **out, cm_err *err);
/* PEM text of the public key (caller frees). */
char *au_pubkey_pem(EVP_PKEY *key, cm_err *err);
/* Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo. */
int au_key_id(EVP_PKEY *key, char out[AU_KEY_ID_HEX], cm_err *err);

/* DER ECDSA signature over SHA-256(msg); *sig is malloc'd. */
int au_sign(EVP_PKEY *key, const unsigned char *msg, size_t len, unsigned char **sig,
            size_t *sig_len, cm_err *err);
/* 0 if valid, -1 (with err) if not. */
int au_verify_sig(EVP_PKEY *key, const unsigned char *msg, size_t len, const unsigned char *sig,
                  size_t sig_len, cm_err *err);

/* Loads (64 hex digits) or creates the HMAC key file. */
int au_hmac_key_load(const char *path, unsigned char key[AU_HMAC_KEY_LEN], cm_err *err);
int au_hmac(const unsigned char key[AU_HMAC_KEY_LEN], const void *data, size_t len,
            unsigned char out[AU_HASH_LEN], cm_err *err);

#endif
