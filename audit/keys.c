/*
 * audit/keys.c -- creating, loading and using the audit keys (keys.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/keys.h"

static int ssl_err(cm_err *err, const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return cm_err_set(err, "%s: %s", what, e ? buf : "OpenSSL error");
}

/* Refuses key files that others may read or write. */
static int check_private(int fd, const char *path, cm_err *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cm_err_errno(err, "stat %s", path);
    if (st.st_mode & 077)
        return cm_err_set(err, "%s: key file is accessible by others (mode %03o); chmod 600 it",
                          path, (unsigned)(st.st_mode & 0777));
    return 0;
}

/* Writes data to a new file (O_EXCL) with mode, fsyncs it. */
static int write_new(const char *path, const void *data, size_t len, mode_t mode, cm_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return cm_err_errno(err, "create %s", path);
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            cm_err_errno(err, "write %s", path);
            close(fd);
            unlink(path);
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    if (fsync(fd) < 0) {
        cm_err_errno(err, "fsync %s", path);
        close(fd);
        return -1;
    }
    return close(fd) < 0 ? cm_err_errno(err, "close %s", path) : 0;
}

/* Reads a whole small file that must be private. */
static char *read_private(const char *path, size_t *len, bool *absent, cm_err *err)
{
    *absent = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            *absent = true;
        cm_err_errno(err, "open %s", path);
        return NULL;
    }
    if (check_private(fd, path, err) < 0) {
        close(fd);
        return NULL;
    }
    size_t cap = 16384, n = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        close(fd);
        cm_err_set(err, "%s: out of memory", path);
        return NULL;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            cm_err_errno(err, "read %s", path);
            free(buf);
            close(fd);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            cm_err_set(err, "%s: key file is too large", path);
            free(buf);
            close(fd);
            return NULL;
        }
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
}

char *au_pubkey_pem(EVP_PKEY *key, cm_err *err)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || !PEM_write_bio_PUBKEY(b, key)) {
        BIO_free(b);
        ssl_err(err, "encode public key");
        return NULL;
    }
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *out = malloc((size_t)n + 1);
    if (out != NULL) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    } else {
        cm_err_set(err, "out of memory");
    }
    BIO_free(b);
    return out;
}

static int is_p256(EVP_PKEY *k)
{
    char name[64];
    size_t len = 0;
    return EVP_PKEY_is_a(k, "EC") &&
           EVP_PKEY_get_utf8_string_param(k, "group", name, sizeof(name), &len) &&
           strcmp(name, "prime256v1") == 0;
}

static int create_signing_key(const char *path, EVP_PKEY **out, cm_err *err)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (k == NULL)
        return ssl_err(err, "generate audit signing key");
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) {
        BIO_free(b);
        EVP_PKEY_free(k);
        return ssl_err(err, "encode audit signing key");
    }
    char *data;
    long n = BIO_get_mem_data(b, &data);
    int rc = write_new(path, data, (size_t)n, 0600, err);
    BIO_free(b);
    if (rc == 0) {
        char *pem = au_pubkey_pem(k, err);
        char pubpath[4096];
        snprintf(pubpath, sizeof(pubpath), "%s.pub", path);
        unlink(pubpath);
        rc = pem ? write_new(pubpath, pem, strlen(pem), 0644, err) : -1;
        free(pem);
    }
    if (rc < 0) {
        EVP_PKEY_free(k);
        return -1;
    }
    *out = k;
    return 0;
}

int au_signing_key_load(const char *path, EVP_PKEY **out, cm_err *err)
{
    *out = NULL;
    size_t len;
    bool absent;
    char *pem = read_private(path, &len, &absent, err);
    if (pem == NULL)
        return absent ? create_signing_key(path, out, err) : -1;
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    OPENSSL_cleanse(pem, len);
    free(pem);
    if (k == NULL)
        return ssl_err(err, path);
    if (!is_p256(k)) {
        EVP_PKEY_free(k);
        return cm_err_set(err, "%s: the audit signing key must be ECDSA P-256", path);
    }
    *out = k;
    return 0;
}

int au_pubkey_from_pem(const char *pem, size_t len, EVP_PKEY **out, cm_err *err)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    if (k == NULL && b != NULL) {
        ERR_clear_error();
        BIO_reset(b);
        k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    }
    BIO_free(b);
    if (k == NULL)
        return ssl_err(err, "read public key");
    if (!is_p256(k)) {
        EVP_PKEY_free(k);
        return cm_err_set(err, "the audit public key must be ECDSA P-256");
    }
    *out = k;
    return 0;
}

int au_pubkey_load(const char *path, EVP_PKEY **out, cm_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return cm_err_errno(err, "open %s", path);
    char buf[16384];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (au_pubkey_from_pem(buf, n, out, err) < 0)
        return cm_err_prefix(err, "%s", path);
    return 0;
}

int au_key_id(EVP_PKEY *key, char out[AU_KEY_ID_HEX], cm_err *err)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(key, &der);
    if (n <= 0)
        return ssl_err(err, "encode public key");
    unsigned char h[AU_HASH_LEN];
    unsigned int hl = 0;
    int ok = EVP_Digest(der, (size_t)n, h, &hl, EVP_sha256(), NULL);
    OPENSSL_free(der);
    if (!ok)
        return ssl_err(err, "hash public key");
    au_hex(h, AU_HASH_LEN, out);
    return 0;
}

int au_sign(EVP_PKEY *key, const unsigned char *msg, size_t len, unsigned char **sig,
            size_t *sig_len, cm_err *err)
{
    *sig = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = 0;
    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(ctx, NULL, &n, msg, len) != 1) {
        EVP_MD_CTX_free(ctx);
        return ssl_err(err, "sign checkpoint");
    }
    unsigned char *s = malloc(n);
    if (s == NULL || EVP_DigestSign(ctx, s, &n, msg, len) != 1) {
        free(s);
        EVP_MD_CTX_free(ctx);
        return ssl_err(err, "sign checkpoint");
    }
    EVP_MD_CTX_free(ctx);
    *sig = s;
    *sig_len = n;
    return 0;
}

int au_verify_sig(EVP_PKEY *key, const unsigned char *msg, size_t len, const unsigned char *sig,
                  size_t sig_len, cm_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1
                 ? EVP_DigestVerify(ctx, sig, sig_len, msg, len)
                 : -1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    if (rc != 1)
        return cm_err_set(err, "signature does not verify");
    return 0;
}

int au_hmac_key_load(const char *path, unsigned char key[AU_HMAC_KEY_LEN], cm_err *err)
{
    size_t len;
    bool absent;
    char *txt = read_private(path, &len, &absent, err);
    if (txt == NULL) {
        if (!absent)
            return -1;
        if (RAND_bytes(key, AU_HMAC_KEY_LEN) != 1)
            return ssl_err(err, "generate audit HMAC key");
        char hex[2 * AU_HMAC_KEY_LEN + 2];
        au_hex(key, AU_HMAC_KEY_LEN, hex);
        strcat(hex, "\n");
        return write_new(path, hex, strlen(hex), 0600, err);
    }
    while (len > 0 && (txt[len - 1] == '\n' || txt[len - 1] == '\r'))
        txt[--len] = '\0';
    int rc = au_unhex(txt, key, AU_HMAC_KEY_LEN);
    OPENSSL_cleanse(txt, len);
    free(txt);
    if (rc < 0)
        return cm_err_set(err, "%s: the HMAC key file must hold 64 hex digits", path);
    return 0;
}

int au_hmac(const unsigned char key[AU_HMAC_KEY_LEN], const void *data, size_t len,
            unsigned char out[AU_HASH_LEN], cm_err *err)
{
    unsigned int n = 0;
    static const unsigned char empty[1] = {0};
    if (HMAC(EVP_sha256(), key, AU_HMAC_KEY_LEN, len ? data : empty, len, out, &n) == NULL ||
        n != AU_HASH_LEN)
        return ssl_err(err, "HMAC-SHA256");
    return 0;
}
