/*
 * bundle/util.c -- small helpers of the bundle library: base64 and hex
 * (via OpenSSL), reading a descriptor whole, path safety and ordering.
 */
#include "common/hex.h"
#include "bundle/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

const char *const bdl_default_ignore[] = {
    BUNDLE_SIG_NAME, ".git", ".gitattributes", ".github", ".gitignore",
};
const size_t bdl_n_default_ignore = sizeof(bdl_default_ignore) / sizeof(bdl_default_ignore[0]);

/* Standard or URL-safe alphabet, padding optional (as protobuf's JSON
 * mapping accepts for bytes fields). */
int bdl_b64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len, cm_err *err)
{
    if (len > INT_MAX / 2)
        return cm_err_set(err, "base64 text too long");
    size_t pad = 0;
    while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
        pad++;
    size_t body = len - pad;
    if (body % 4 == 1 || (pad > 0 && (body + pad) % 4 != 0))
        return cm_err_set(err, "base64 text has a bad length (%zu)", len);
    size_t full = (body + 3) / 4 * 4;
    char *norm = malloc(full + 1);
    unsigned char *buf = malloc(full / 4 * 3 + 1);
    if (norm == NULL || buf == NULL) {
        free(norm);
        free(buf);
        return cm_err_set(err, "out of memory decoding base64");
    }
    for (size_t i = 0; i < body; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '+' || c == '/')) {
            free(norm);
            free(buf);
            return cm_err_set(err, "invalid base64 character at offset %zu", i);
        }
        norm[i] = (char)c;
    }
    for (size_t i = body; i < full; i++)
        norm[i] = '=';
    int n = full == 0 ? 0 : EVP_DecodeBlock(buf, (const unsigned char *)norm, (int)full);
    free(norm);
    if (n < 0) {
        free(buf);
        return cm_err_set(err, "invalid base64");
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    n -= (int)(full - body);
    *out = buf;
    *out_len = (size_t)n;
    return 0;
}

char *bdl_b64_encode(const unsigned char *in, size_t len, cm_err *err)
{
    if (len > INT_MAX / 2) {
        cm_err_set(err, "data too long for base64");
        return NULL;
    }
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (out == NULL) {
        cm_err_set(err, "out of memory encoding base64");
        return NULL;
    }
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

int bdl_hex_decode(const char *hex, unsigned char out[BUNDLE_DIGEST_LEN])
{
    if (strlen(hex) != 2 * BUNDLE_DIGEST_LEN)
        return -1;
    for (size_t i = 0; i < BUNDLE_DIGEST_LEN; i++) {
        int hi = cm_hex_digit(hex[2 * i]), lo = cm_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

void bundle_hex(const unsigned char *digest, char *out)
{
    cm_hex_encode(digest, BUNDLE_DIGEST_LEN, out);
}

int bdl_read_fd(int fd, size_t max, char **out, size_t *out_len, cm_err *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return cm_err_errno(err, "stat");
    if (!S_ISREG(st.st_mode))
        return cm_err_set(err, "not a regular file");
    if ((uint64_t)st.st_size > max)
        return cm_err_set(err, "file is larger than %zu bytes", max);
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return cm_err_set(err, "out of memory");
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max) {
                free(buf);
                return cm_err_set(err, "file is larger than %zu bytes", max);
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                return cm_err_set(err, "out of memory");
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return cm_err_errno(err, "read");
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}

int bdl_open_dir(const char *dir, cm_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cm_err_errno(err, "open directory %s", dir);
    return fd;
}

bool bundle_path_is_safe(const char *p)
{
    if (p == NULL || p[0] == '\0' || p[0] == '/')
        return false;
    const char *c = p;
    for (;;) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);
        if (len == 0)
            return false;
        if (len == 1 && c[0] == '.')
            return false;
        if (len == 2 && c[0] == '.' && c[1] == '.')
            return false;
        if (slash == NULL)
            return true;
        c = slash + 1;
    }
}

int bundle_path_cmp(const char *a, const char *b)
{
    /* Compare component by component: '/' ends a component and sorts
     * before any byte, so "a/b" < "a-c" as in a list-of-parts compare. */
    for (;;) {
        unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;
        bool enda = ca == '\0' || ca == '/', endb = cb == '\0' || cb == '/';
        if (enda || endb) {
            if (!enda)
                return 1;
            if (!endb)
                return -1;
            /* both components ended */
            if (ca == '\0' && cb == '\0')
                return 0;
            if (ca == '\0')
                return -1; /* a has fewer parts */
            if (cb == '\0')
                return 1;
        } else if (ca != cb) {
            return ca < cb ? -1 : 1;
        }
        a++;
        b++;
    }
}
