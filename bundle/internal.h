/*
 * bundle/internal.h -- pieces of the bundle library shared between its
 * files (not part of the public API in bundle/bundle.h).
 */
#ifndef BUNDLE_INTERNAL_H
#define BUNDLE_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "bundle/bundle.h"

#define BDL_MEDIA_TYPE "application/vnd.dev.sigstore.bundle.v0.3+json"
#define BDL_PAYLOAD_TYPE "application/vnd.in-toto+json"
#define BDL_STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define BDL_PREDICATE_TYPE "https://model_signing/signature/v1.0"
#define BDL_SIG_MAX (64u << 20) /* largest model.sig we read */

/* model.sig, decoded but not yet checked (sigfile.c). */
typedef struct bdl_sig {
    bundle_method method;
    char *payload_type;
    unsigned char *payload;
    size_t payload_len;
    unsigned char *sig;
    size_t sig_len;
    char *key_hint;         /* publicKey.hint, NULL when absent */
    EVP_PKEY *embedded_key; /* publicKey.rawBytes (older layout), or NULL */
    STACK_OF(X509) * chain; /* certificate method: leaf first, else NULL */
} bdl_sig;

int bdl_sig_parse(const char *json, size_t len, bdl_sig *out, cm_err *err);
void bdl_sig_clear(bdl_sig *s);
/* The bundle JSON for a signed payload; `chain` NULL for the key method
 * (then `hint` is written). Returns a malloc'd string. */
char *bdl_sig_build(const unsigned char *payload, size_t payload_len, const unsigned char *sig,
                    size_t sig_len, const char *hint, STACK_OF(X509) * chain, cm_err *err);

/* Sign the statement for `files` (sorted) with the key (and chain) of
 * `o`; the Sigstore bundle JSON, malloc'd, or NULL (sign.c). */
char *bdl_sign_payload(const bundle_sign_opts *o, const char *name, const bundle_file *files,
                       size_t n_files, char *const *ignore, size_t n_ignore, cm_err *err);

/* Check a signature file's bytes against `trust` and only then parse its
 * statement into *out (verify.c). */
int bdl_verify_sig_text(const char *json, size_t len, const bundle_trust *trust,
                        bundle_info **out, cm_err *err);

/* The in-toto statement (statement.c). Fills model_name, root_digest,
 * entries, ignore_paths, allow_symlinks of `info`. */
int bdl_statement_parse(const unsigned char *payload, size_t len, bundle_info *info, cm_err *err);
/* Build the statement for files sorted by path; malloc'd JSON text. */
char *bdl_statement_build(const char *model_name, const bundle_file *files, size_t n_files,
                          char *const *ignore, size_t n_ignore, cm_err *err);
/* SHA-256 over the concatenated digests, in the given order. */
int bdl_root_digest(const void *first, size_t n, size_t stride,
                    unsigned char out[BUNDLE_DIGEST_LEN], cm_err *err);

/* DSSE and ECDSA (dsse.c). */
int bdl_pae(const unsigned char *payload, size_t len, unsigned char **out, size_t *out_len,
            cm_err *err);
const EVP_MD *bdl_md_for_key(const EVP_PKEY *key);
int bdl_check_ec_key(const EVP_PKEY *key, cm_err *err);
int bdl_ecdsa_sign(EVP_PKEY *key, const unsigned char *msg, size_t len, unsigned char **sig,
                   size_t *sig_len, cm_err *err);
/* 1 valid, 0 invalid, -1 error. */
int bdl_ecdsa_verify(EVP_PKEY *key, const unsigned char *msg, size_t len, const unsigned char *sig,
                     size_t sig_len, cm_err *err);
/* Hex SHA-256 of the key's SubjectPublicKeyInfo PEM (the OMS key hint). */
int bdl_key_hint(EVP_PKEY *key, char out[2 * BUNDLE_DIGEST_LEN + 1], cm_err *err);
EVP_PKEY *bdl_load_pubkey(const unsigned char *data, size_t len, cm_err *err);

/* Trust decisions (trust.c): is the signature on `msg` made by a trusted
 * key or chain? Fills `signer` with who signed. */
int bdl_trust_check(const bundle_trust *t, const bdl_sig *sig, const unsigned char *msg,
                    size_t msg_len, char *signer, size_t signer_len, bundle_method *method,
                    cm_err *err);

/* Directory walk and hashing (walk.c, hash.c). */
typedef struct bdl_filelist {
    bundle_file *files;
    size_t n, cap;
} bdl_filelist;

/* Every regular file under dirfd not covered by an ignore path, opened
 * O_NOFOLLOW, sorted by path. Fails on symlinks and special files. */
int bdl_walk(int dirfd, char *const *ignore, size_t n_ignore, bdl_filelist *out, cm_err *err);
void bdl_filelist_clear(bdl_filelist *l);
/* Is `path` at or below one of the ignore paths? */
bool bdl_is_ignored(const char *path, char *const *ignore, size_t n_ignore);
int bdl_hash_files(bundle_file *files, size_t n, unsigned threads, bundle_progress_fn progress,
                   void *arg, cm_err *err);

/* The end of a verification (verify.c): the files hashed with the
 * options' threads and progress (opts may be NULL), then the statement and
 * the files moved into a bundle_verified (*info left NULL, *l empty). */
int bdl_verify_hash(bdl_filelist *l, const bundle_verify_opts *opts, cm_err *err);
int bdl_verified_take(bundle_info **info, bdl_filelist *l, bundle_verified **out, cm_err *err);

/* Utilities (util.c). */
int bdl_b64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len, cm_err *err);
char *bdl_b64_encode(const unsigned char *in, size_t len, cm_err *err);
int bdl_hex_decode(const char *hex, unsigned char out[BUNDLE_DIGEST_LEN]);
int bdl_read_fd(int fd, size_t max, char **out, size_t *out_len, cm_err *err);
/* Open `dir` (following a symlink at the top only) as a directory fd. */
int bdl_open_dir(const char *dir, cm_err *err);

/* The paths always ignored: the signature and git metadata. */
extern const char *const bdl_default_ignore[];
extern const size_t bdl_n_default_ignore;

#endif
