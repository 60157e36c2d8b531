/*
 * bundle/bundle.h -- signed model bundles in the OpenSSF Model Signing
 * (OMS) format of sigstore/model-transparency.
 *
 * A bundle is a directory holding the model files and `model.sig`: a
 * Sigstore bundle JSON (application/vnd.dev.sigstore.bundle.v0.3+json)
 * whose DSSE envelope carries an in-toto Statement v1 with predicate type
 * https://model_signing/signature/v1.0. The statement lists every file
 * (POSIX relative path, SHA-256), the ignored paths, and a root digest
 * (SHA-256 over the file digests in path order). It is signed with an
 * ECDSA P-256/P-384 key, either bare (verified against trusted public
 * keys) or with a certificate chain (verified against trusted CAs).
 *
 * Verification hands back an open descriptor per file: the daemon maps
 * the same descriptor that was hashed, so nothing can be swapped between
 * the check and the load.
 */
#ifndef BUNDLE_H
#define BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define BUNDLE_SIG_NAME "model.sig"
/* The one resource of a model signed as a single file (the reference
 * names it relative to itself). */
#define BUNDLE_FILE_RESOURCE "."
#define BUNDLE_DIGEST_LEN 32

typedef enum bundle_method {
    BUNDLE_METHOD_KEY = 0,  /* bare public key (hint or embedded key) */
    BUNDLE_METHOD_CERT = 1, /* X.509 certificate chain */
} bundle_method;

/* Progress of hashing: bytes done out of total, called from any thread
 * (never concurrently: calls are serialised). */
typedef void (*bundle_progress_fn)(uint64_t done, uint64_t total, void *arg);

/* ---- trust configuration ---------------------------------------------- */

typedef struct bundle_trust bundle_trust;

int bundle_trust_new(bundle_trust **out, cm_err *err);
void bundle_trust_free(bundle_trust *t);
/* A PEM (or DER) EC public key that may sign bundles. */
int bundle_trust_add_key_file(bundle_trust *t, const char *path, cm_err *err);
/* PEM certificates (trust anchors) whose chains may sign bundles. */
int bundle_trust_add_ca_file(bundle_trust *t, const char *path, cm_err *err);

/* ---- the statement (what model.sig says) ----------------------------- */

typedef struct bundle_entry {
    char *path;                              /* POSIX, relative */
    unsigned char digest[BUNDLE_DIGEST_LEN]; /* SHA-256 of the contents */
} bundle_entry;

typedef struct bundle_info {
    bundle_method method;
    char *model_name;                             /* subject name */
    unsigned char root_digest[BUNDLE_DIGEST_LEN]; /* subject sha256 */
    size_t n_entries;
    bundle_entry *entries; /* in the order of the statement */
    size_t n_ignore;
    char **ignore_paths;
    bool allow_symlinks;
    char signer[512]; /* "key sha256:HINT" or the leaf's subject */
} bundle_info;

/* Read DIR/model.sig and decode it, WITHOUT checking the signature or
 * the files (for `gemmactl bundle inspect`). */
int bundle_inspect(const char *dir, bundle_info **out, cm_err *err);
void bundle_info_free(bundle_info *info);

/* ---- verification ----------------------------------------------------- */

typedef struct bundle_file {
    char *path; /* POSIX, relative */
    int fd;     /* O_RDONLY, the hashed one */
    uint64_t size;
    unsigned char digest[BUNDLE_DIGEST_LEN];
} bundle_file;

typedef struct bundle_verified {
    bundle_info *info; /* the verified statement */
    size_t n_files;
    bundle_file *files; /* sorted by path (component order) */
} bundle_verified;

typedef struct bundle_verify_opts {
    const char *const *extra_ignore; /* more relative paths to ignore */
    size_t n_extra_ignore;
    unsigned threads; /* hashing threads, 0 = one per CPU */
    bundle_progress_fn progress;
    void *progress_arg;
} bundle_verify_opts;

/* Verify directory `dir` against `trust`: the signature, that the key or
 * chain is trusted, that the files present (less ignored paths) are
 * exactly those listed, that each hashes to its listed digest, and that no
 * path is absolute, has "..", or is a symlink. On success *out holds one
 * open descriptor per file (the caller owns it: bundle_verified_free
 * closes what was not taken). `opts` may be NULL. */
int bundle_verify(const char *dir, const bundle_trust *trust, const bundle_verify_opts *opts,
                  bundle_verified **out, cm_err *err);
void bundle_verified_free(bundle_verified *v);
/* The file listed as `path`, or NULL. */
const bundle_file *bundle_verified_find(const bundle_verified *v, const char *path);
/* Take ownership of a file's descriptor (it is no longer closed by
 * bundle_verified_free). Returns the fd, or -1 when there is none. */
int bundle_verified_take_fd(bundle_verified *v, const char *path);

/* ---- signing ---------------------------------------------------------- */

typedef struct bundle_sign_opts {
    const char *key_path;        /* PEM EC private key (P-256 or P-384) */
    const char *cert_chain_path; /* NULL, or PEM: leaf first, then CAs */
    const char *const *ignore;   /* relative paths to leave out */
    size_t n_ignore;
    unsigned threads;
    bundle_progress_fn progress;
    void *progress_arg;
} bundle_sign_opts;

/* Hash every file of `dir` and write `dir`/model.sig. */
int bundle_sign(const char *dir, const bundle_sign_opts *opts, cm_err *err);

/* New EC key pair: `prefix`.key (private, PKCS#8 PEM, mode 0600) and
 * `prefix`.pub (SubjectPublicKeyInfo PEM). `curve` is "p256" or "p384". */
int bundle_keygen(const char *curve, const char *prefix, cm_err *err);

/* ---- single files ------------------------------------------------------ */

/* A model signed on its own, as one file rather than a folder (what the
 * reference `model_signing sign ... model.gguf` writes): the statement
 * lists one resource named "." with the file's SHA-256, the subject name
 * is the file's name, and the signature lives in a separate file.
 *
 * Verify `file` against the signature file `sig_path`: the signature and
 * trust as for a folder, then that the statement lists exactly the one
 * resource "." and that the file hashes to it. On success *out holds one
 * open descriptor, listed as BUNDLE_FILE_RESOURCE. */
int bundle_verify_file(const char *file, const char *sig_path, const bundle_trust *trust,
                       const bundle_verify_opts *opts, bundle_verified **out, cm_err *err);

/* Hash `file` and write its signature to `sig_path` (atomically, never
 * over `file` itself). opts->ignore must be empty: a file has nothing
 * to leave out. */
int bundle_sign_file(const char *file, const char *sig_path, const bundle_sign_opts *opts,
                     cm_err *err);

/* Check only the signature file `sig_path` against `trust` (no model file
 * is read): a quick first check before copying a large model. On success
 * *out is the signed statement (bundle_info_free). */
int bundle_check_signature(const char *sig_path, const bundle_trust *trust, bundle_info **out,
                           cm_err *err);

/* Read the signature file `sig_path` and decode it without checking it. */
int bundle_inspect_file(const char *sig_path, bundle_info **out, cm_err *err);

/* ---- helpers shared with tests and tools ------------------------------- */

/* Parse model.sig bytes (untrusted) into an info record without any
 * cryptographic check. Used by inspect and by the fuzzer. */
int bundle_parse_sig(const char *json, size_t len, bundle_info **out, cm_err *err);

/* Is `p` a safe relative POSIX path: not empty, not absolute, no "" / "."
 * / ".." component, no NUL? */
bool bundle_path_is_safe(const char *p);

/* Compare two relative paths component by component (the order of the
 * reference implementation's sorted PurePosixPath keys). */
int bundle_path_cmp(const char *a, const char *b);

/* Lowercase hex of a digest into out[2*BUNDLE_DIGEST_LEN+1]. */
void bundle_hex(const unsigned char *digest, char *out);

#endif
