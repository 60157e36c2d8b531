/*
 * bundle/file.c -- models signed as a single file rather than a folder.
 *
 * The reference tool (`model_signing sign key model.gguf --signature S`)
 * serialises a file model exactly like a folder whose only member is the
 * model path itself: each resource is named relative to the model path,
 * so the one resource is "."; the subject name is the file's name; the
 * root digest is SHA-256 over that one digest; the signature is written
 * to a separate file. What it records as ignore_paths for a file is the
 * git names (".git", ".gitattributes", ".github", ".gitignore"): the
 * signature path is dropped, not being below the model. We write the same
 * and, verifying, accept any safe ignore list (a file has nothing in it to
 * ignore).
 *
 * As for folders, the descriptor that was hashed is the one handed back
 * for loading.
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

/* What the reference records as ignored for a file model. */
static const char *const file_ignore[] = {".git", ".gitattributes", ".github", ".gitignore"};

/* Open `file` (following a symlink at the top only, as a bundle folder's
 * root is) as a regular file, into a one-entry list named ".". */
static int open_model_file(const char *file, bdl_filelist *l, cm_err *err)
{
    memset(l, 0, sizeof(*l));
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return cm_err_errno(err, "open %s", file);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return cm_err_errno(err, "stat %s", file);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return cm_err_set(err, "%s is not a regular file", file);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    l->files = calloc(1, sizeof(bundle_file));
    char *p = strdup(BUNDLE_FILE_RESOURCE);
    if (l->files == NULL || p == NULL) {
        free(l->files);
        free(p);
        l->files = NULL;
        close(fd);
        return cm_err_set(err, "out of memory");
    }
    l->files[0].path = p;
    l->files[0].fd = fd;
    l->files[0].size = (uint64_t)st.st_size;
    l->n = l->cap = 1;
    return 0;
}

static int read_sig_file(const char *sig_path, char **json, size_t *len, cm_err *err)
{
    int fd = open(sig_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return cm_err_errno(err, "open signature %s", sig_path);
    int rc = bdl_read_fd(fd, BDL_SIG_MAX, json, len, err);
    close(fd);
    return rc != 0 ? cm_err_prefix(err, "signature %s", sig_path) : 0;
}

/* The statement must describe one file: exactly the resource ".". */
static int check_single(const bundle_info *info, cm_err *err)
{
    if (info->n_entries == 1 && strcmp(info->entries[0].path, BUNDLE_FILE_RESOURCE) == 0)
        return 0;
    if (info->n_entries == 1)
        return cm_err_set(err,
                          "the signature is for a folder holding '%s', not for a single file: "
                          "verify the folder it came with",
                          info->entries[0].path);
    return cm_err_set(err,
                      "the signature is for a folder of %zu files, not for a single file: "
                      "verify the folder it came with",
                      info->n_entries);
}

int bundle_verify_file(const char *file, const char *sig_path, const bundle_trust *trust,
                       const bundle_verify_opts *opts, bundle_verified **out, cm_err *err)
{
    *out = NULL;
    char *json = NULL;
    size_t len = 0;
    bundle_info *info = NULL;
    bdl_filelist l = {0};
    int rc = -1;
    if (read_sig_file(sig_path, &json, &len, err) != 0)
        goto out;
    if (bdl_verify_sig_text(json, len, trust, &info, err) != 0) {
        cm_err_prefix(err, "signature %s", sig_path);
        goto out;
    }
    if (check_single(info, err) != 0 || open_model_file(file, &l, err) != 0)
        goto out;
    if (bdl_verify_hash(&l, opts, err) != 0)
        goto out;
    if (memcmp(l.files[0].digest, info->entries[0].digest, BUNDLE_DIGEST_LEN) != 0) {
        char want[65], got[65];
        bundle_hex(info->entries[0].digest, want);
        bundle_hex(l.files[0].digest, got);
        cm_err_set(err, "content does not match the signature (sha256 %s, signed %s)", got, want);
        goto out;
    }
    if (bdl_verified_take(&info, &l, out, err) != 0)
        goto out;
    rc = 0;
out:
    free(json);
    bdl_filelist_clear(&l);
    bundle_info_free(info);
    return rc != 0 ? cm_err_prefix(err, "%s", file) : 0;
}

int bundle_inspect_file(const char *sig_path, bundle_info **out, cm_err *err)
{
    char *json = NULL;
    size_t len = 0;
    if (read_sig_file(sig_path, &json, &len, err) != 0)
        return -1;
    int rc = bundle_parse_sig(json, len, out, err);
    free(json);
    return rc != 0 ? cm_err_prefix(err, "signature %s", sig_path) : 0;
}

/* Write `text` and a newline to `path` through a temporary file beside it,
 * renamed into place. */
static int write_atomic(const char *path, const char *text, cm_err *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
        return cm_err_set(err, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return cm_err_errno(err, "create a temporary file beside %s", path);
    size_t len = strlen(text), off = 0;
    int rc = fchmod(fd, 0644) == 0 ? 0 : cm_err_errno(err, "chmod %s", tmp);
    while (rc == 0 && off <= len) {
        ssize_t w = off < len ? write(fd, text + off, len - off) : write(fd, "\n", 1);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = cm_err_errno(err, "write %s", tmp);
        else
            off += (size_t)w;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = cm_err_errno(err, "write %s", tmp);
    if (close(fd) != 0 && rc == 0)
        rc = cm_err_errno(err, "write %s", tmp);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = cm_err_errno(err, "rename %s to %s", tmp, path);
    if (rc != 0)
        unlink(tmp);
    return rc;
}

int bundle_sign_file(const char *file, const char *sig_path, const bundle_sign_opts *opts,
                     cm_err *err)
{
    if (opts == NULL || opts->key_path == NULL)
        return cm_err_set(err, "no signing key given");
    if (opts->n_ignore != 0)
        return cm_err_set(err, "sign %s: a single file has nothing to ignore", file);
    bdl_filelist l;
    if (open_model_file(file, &l, err) != 0)
        return cm_err_prefix(err, "sign");
    int rc = -1;
    char *text = NULL;
    struct stat fst, sst;
    if (stat(sig_path, &sst) == 0 && fstat(l.files[0].fd, &fst) == 0 && sst.st_dev == fst.st_dev &&
        sst.st_ino == fst.st_ino) {
        cm_err_set(err, "the signature path %s is the model file itself", sig_path);
        goto out;
    }
    if (bdl_hash_files(l.files, 1, opts->threads, opts->progress, opts->progress_arg, err) != 0)
        goto out;
    char copy[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s", file);
    const char *name = basename(copy);
    text = bdl_sign_payload(opts, name, l.files, 1, (char *const *)file_ignore,
                            sizeof(file_ignore) / sizeof(file_ignore[0]), err);
    if (text == NULL || write_atomic(sig_path, text, err) != 0)
        goto out;
    rc = 0;
out:
    free(text);
    bdl_filelist_clear(&l);
    return rc != 0 ? cm_err_prefix(err, "sign %s", file) : 0;
}

int bundle_check_signature(const char *sig_path, const bundle_trust *trust, bundle_info **out,
                           cm_err *err)
{
    *out = NULL;
    char *json = NULL;
    size_t len = 0;
    if (read_sig_file(sig_path, &json, &len, err) != 0)
        return -1;
    int rc = bdl_verify_sig_text(json, len, trust, out, err);
    free(json);
    return rc != 0 ? cm_err_prefix(err, "signature %s", sig_path) : 0;
}
