/*
 * bundle/sign.c -- signing a bundle directory (bundle_sign) and making
 * a signing key pair (bundle_keygen).
 *
 * Signing lists and hashes the files exactly as verification does, builds
 * the statement, signs PAE(statement) with the EC key, and writes
 * model.sig atomically (temporary file in the directory, then rename).
 */
#include "bundle/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#define BDL_TMP_SIG ".model.sig.tmp"

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static EVP_PKEY *load_private_key(const char *path, cm_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        cm_err_errno(err, "open %s", path);
        return NULL;
    }
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
    fclose(f);
    ERR_clear_error();
    if (key == NULL) {
        cm_err_set(err, "%s: not a PEM private key (encrypted keys are not supported)", path);
        return NULL;
    }
    if (bdl_check_ec_key(key, err) != 0) {
        EVP_PKEY_free(key);
        cm_err_prefix(err, "%s", path);
        return NULL;
    }
    return key;
}

static STACK_OF(X509) * load_chain(const char *path, EVP_PKEY *key, cm_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        cm_err_errno(err, "open %s", path);
        return NULL;
    }
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *x;
    while (chain != NULL && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(chain, x))
            X509_free(x);
    fclose(f);
    ERR_clear_error();
    if (chain == NULL || sk_X509_num(chain) == 0) {
        sk_X509_free(chain);
        cm_err_set(err, "%s: no PEM certificate found", path);
        return NULL;
    }
    if (EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(chain, 0)), key) != 1) {
        sk_X509_pop_free(chain, X509_free);
        cm_err_set(err,
                   "%s: the first certificate's public key does not match the "
                   "signing key",
                   path);
        return NULL;
    }
    return chain;
}

/* The directory's own name, for the statement's subject. */
static int model_name(const char *dir, char *out, size_t len, cm_err *err)
{
    char real[PATH_MAX];
    if (realpath(dir, real) == NULL)
        return cm_err_errno(err, "resolve %s", dir);
    snprintf(out, len, "%s", basename(real));
    return 0;
}

static int write_sig(int dfd, const char *text, cm_err *err)
{
    unlinkat(dfd, BDL_TMP_SIG, 0);
    int fd = openat(dfd, BDL_TMP_SIG, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return cm_err_errno(err, "create " BDL_TMP_SIG);
    size_t len = strlen(text), off = 0;
    while (off <= len) {
        /* the JSON, then a final newline */
        ssize_t w = off < len ? write(fd, text + off, len - off) : write(fd, "\n", 1);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            cm_err_errno(err, "write " BDL_TMP_SIG);
            close(fd);
            unlinkat(dfd, BDL_TMP_SIG, 0);
            return -1;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        cm_err_errno(err, "write " BDL_TMP_SIG);
        unlinkat(dfd, BDL_TMP_SIG, 0);
        return -1;
    }
    if (renameat(dfd, BDL_TMP_SIG, dfd, BUNDLE_SIG_NAME) != 0) {
        cm_err_errno(err, "rename " BDL_TMP_SIG " to " BUNDLE_SIG_NAME);
        unlinkat(dfd, BDL_TMP_SIG, 0);
        return -1;
    }
    return 0;
}

char *bdl_sign_payload(const bundle_sign_opts *o, const char *name, const bundle_file *files,
                       size_t n_files, char *const *ignore, size_t n_ignore, cm_err *err)
{
    EVP_PKEY *key = load_private_key(o->key_path, err);
    if (key == NULL)
        return NULL;
    STACK_OF(X509) *chain = NULL;
    char *statement = NULL, *text = NULL;
    unsigned char *pae = NULL, *sig = NULL;
    size_t pae_len = 0, sig_len = 0;
    char hint[65] = "";
    if (o->cert_chain_path != NULL && (chain = load_chain(o->cert_chain_path, key, err)) == NULL)
        goto out;
    if ((statement = bdl_statement_build(name, files, n_files, ignore, n_ignore, err)) == NULL)
        goto out;
    if (bdl_pae((unsigned char *)statement, strlen(statement), &pae, &pae_len, err) != 0 ||
        bdl_ecdsa_sign(key, pae, pae_len, &sig, &sig_len, err) != 0)
        goto out;
    if (chain == NULL && bdl_key_hint(key, hint, err) != 0)
        goto out;
    text = bdl_sig_build((unsigned char *)statement, strlen(statement), sig, sig_len, hint, chain,
                         err);
out:
    free(sig);
    free(pae);
    free(statement);
    if (chain != NULL)
        sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    return text;
}

static int sign_at(int dfd, const char *dir, const bundle_sign_opts *o, cm_err *err)
{
    bdl_filelist files = {0};
    char *text = NULL;
    char **ign = NULL;
    size_t n_ign = 0;
    int rc = -1;
    char name[256];

    ign = calloc(o->n_ignore + bdl_n_default_ignore + 2, sizeof(char *));
    if (ign == NULL) {
        cm_err_set(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < bdl_n_default_ignore; i++)
        ign[n_ign++] = (char *)bdl_default_ignore[i];
    ign[n_ign++] = BDL_TMP_SIG;
    for (size_t i = 0; i < o->n_ignore; i++) {
        if (!bundle_path_is_safe(o->ignore[i])) {
            cm_err_set(err, "ignore path \"%s\" is not a safe relative path", o->ignore[i]);
            goto out;
        }
        ign[n_ign++] = (char *)o->ignore[i];
    }
    if (bdl_walk(dfd, ign, n_ign, &files, err) != 0)
        goto out;
    if (files.n == 0) {
        cm_err_set(err, "no files to sign (after ignored paths)");
        goto out;
    }
    if (bdl_hash_files(files.files, files.n, o->threads, o->progress, o->progress_arg, err) != 0)
        goto out;
    if (model_name(dir, name, sizeof(name), err) != 0)
        goto out;
    /* The statement records the ignore list without our temporary file. */
    char **rec = ign;
    size_t n_rec = 0;
    for (size_t i = 0; i < n_ign; i++)
        if (strcmp(ign[i], BDL_TMP_SIG) != 0)
            rec[n_rec++] = ign[i];
    text = bdl_sign_payload(o, name, files.files, files.n, rec, n_rec, err);
    if (text == NULL || write_sig(dfd, text, err) != 0)
        goto out;
    rc = 0;
out:
    free(text);
    free(ign);
    bdl_filelist_clear(&files);
    return rc;
}

int bundle_sign(const char *dir, const bundle_sign_opts *opts, cm_err *err)
{
    if (opts == NULL || opts->key_path == NULL)
        return cm_err_set(err, "no signing key given");
    int dfd = bdl_open_dir(dir, err);
    if (dfd < 0)
        return -1;
    int rc = sign_at(dfd, dir, opts, err);
    close(dfd);
    return rc != 0 ? cm_err_prefix(err, "sign %s", dir) : 0;
}

static int write_pem_file(const char *path, mode_t mode, EVP_PKEY *key, int private_part,
                          cm_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return cm_err_errno(err, "create %s", path);
    if (fchmod(fd, mode) != 0) {
        close(fd);
        return cm_err_errno(err, "chmod %s", path);
    }
    FILE *f = fdopen(fd, "wb");
    if (f == NULL) {
        close(fd);
        return cm_err_errno(err, "open %s", path);
    }
    int ok = private_part ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
                          : PEM_write_PUBKEY(f, key);
    if (fclose(f) != 0 || ok != 1) {
        ERR_clear_error();
        return cm_err_set(err, "cannot write %s", path);
    }
    return 0;
}

int bundle_keygen(const char *curve, const char *prefix, cm_err *err)
{
    const char *group;
    if (curve == NULL || strcmp(curve, "p256") == 0)
        group = "P-256";
    else if (strcmp(curve, "p384") == 0)
        group = "P-384";
    else
        return cm_err_set(err, "unknown curve \"%s\" (p256 or p384)", curve);
    char kpath[PATH_MAX], ppath[PATH_MAX];
    if (snprintf(kpath, sizeof(kpath), "%s.key", prefix) >= (int)sizeof(kpath) ||
        snprintf(ppath, sizeof(ppath), "%s.pub", prefix) >= (int)sizeof(ppath))
        return cm_err_set(err, "key path prefix too long");
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
    if (key == NULL) {
        ERR_clear_error();
        return cm_err_set(err, "cannot generate a %s key", group);
    }
    int rc = write_pem_file(kpath, 0600, key, 1, err);
    if (rc == 0 && (rc = write_pem_file(ppath, 0644, key, 0, err)) != 0)
        unlink(kpath);
    EVP_PKEY_free(key);
    return rc;
}
