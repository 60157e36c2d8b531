/*
 * bundle/verify.c -- verifying a bundle directory (bundle_verify) and
 * decoding one without trust (bundle_inspect, bundle_parse_sig).
 *
 * Order of checks: read model.sig (O_NOFOLLOW), check the DSSE signature
 * against the trust config, only then parse the statement, list the
 * directory (no symlinks, ignore paths applied), compare the file sets,
 * hash each open descriptor and compare digests.
 */
#include "bundle/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void bundle_info_free(bundle_info *info)
{
    if (info == NULL)
        return;
    free(info->model_name);
    for (size_t i = 0; i < info->n_entries; i++)
        free(info->entries[i].path);
    free(info->entries);
    for (size_t i = 0; i < info->n_ignore; i++)
        free(info->ignore_paths[i]);
    free(info->ignore_paths);
    free(info);
}

void bundle_verified_free(bundle_verified *v)
{
    if (v == NULL)
        return;
    bdl_filelist l = {v->files, v->n_files, v->n_files};
    bdl_filelist_clear(&l);
    bundle_info_free(v->info);
    free(v);
}

int bdl_verify_hash(bdl_filelist *l, const bundle_verify_opts *opts, cm_err *err)
{
    return bdl_hash_files(l->files, l->n, opts ? opts->threads : 0, opts ? opts->progress : NULL,
                          opts ? opts->progress_arg : NULL, err);
}

int bdl_verified_take(bundle_info **info, bdl_filelist *l, bundle_verified **out, cm_err *err)
{
    bundle_verified *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return cm_err_set(err, "out of memory");
    v->info = *info;
    v->files = l->files;
    v->n_files = l->n;
    memset(l, 0, sizeof(*l));
    *info = NULL;
    *out = v;
    return 0;
}

const bundle_file *bundle_verified_find(const bundle_verified *v, const char *path)
{
    for (size_t i = 0; v != NULL && i < v->n_files; i++)
        if (strcmp(v->files[i].path, path) == 0)
            return &v->files[i];
    return NULL;
}

int bundle_verified_take_fd(bundle_verified *v, const char *path)
{
    for (size_t i = 0; v != NULL && i < v->n_files; i++)
        if (strcmp(v->files[i].path, path) == 0) {
            int fd = v->files[i].fd;
            v->files[i].fd = -1;
            return fd;
        }
    return -1;
}

/* Read DIR/model.sig without following a symlink. */
static int read_sig(int dirfd, char **json, size_t *len, cm_err *err)
{
    int fd = openat(dirfd, BUNDLE_SIG_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ELOOP)
            return cm_err_set(err, BUNDLE_SIG_NAME " is a symbolic link");
        return cm_err_errno(err, "open " BUNDLE_SIG_NAME);
    }
    int rc = bdl_read_fd(fd, BDL_SIG_MAX, json, len, err);
    close(fd);
    return rc != 0 ? cm_err_prefix(err, BUNDLE_SIG_NAME) : 0;
}

static int decode(const char *json, size_t len, bdl_sig *sig, bundle_info **out, cm_err *err)
{
    bundle_info *info = calloc(1, sizeof(*info));
    if (info == NULL)
        return cm_err_set(err, "out of memory");
    if (bdl_sig_parse(json, len, sig, err) != 0) {
        free(info);
        return cm_err_prefix(err, BUNDLE_SIG_NAME);
    }
    info->method = sig->method;
    *out = info;
    return 0;
}

static void describe_signer(const bdl_sig *sig, bundle_info *info)
{
    if (sig->method == BUNDLE_METHOD_CERT) {
        X509 *leaf = sk_X509_value(sig->chain, 0);
        char *s = X509_NAME_oneline(X509_get_subject_name(leaf), NULL, 0);
        snprintf(info->signer, sizeof(info->signer), "certificate %s (unverified)", s ? s : "?");
        OPENSSL_free(s);
    } else if (sig->key_hint != NULL) {
        snprintf(info->signer, sizeof(info->signer), "key sha256:%s (unverified)", sig->key_hint);
    } else if (sig->embedded_key != NULL) {
        char hint[65];
        if (bdl_key_hint(sig->embedded_key, hint, NULL) == 0)
            snprintf(info->signer, sizeof(info->signer), "key sha256:%s (embedded, unverified)",
                     hint);
    } else {
        snprintf(info->signer, sizeof(info->signer), "unknown key (no hint)");
    }
}

int bundle_parse_sig(const char *json, size_t len, bundle_info **out, cm_err *err)
{
    bdl_sig sig;
    bundle_info *info = NULL;
    if (decode(json, len, &sig, &info, err) != 0)
        return -1;
    int rc = 0;
    if (strcmp(sig.payload_type, BDL_PAYLOAD_TYPE) != 0)
        rc = cm_err_set(err, "payload type is \"%.100s\", expected " BDL_PAYLOAD_TYPE,
                        sig.payload_type);
    if (rc == 0)
        rc = bdl_statement_parse(sig.payload, sig.payload_len, info, err);
    if (rc == 0)
        describe_signer(&sig, info);
    bdl_sig_clear(&sig);
    if (rc != 0) {
        bundle_info_free(info);
        return -1;
    }
    *out = info;
    return 0;
}

int bundle_inspect(const char *dir, bundle_info **out, cm_err *err)
{
    int dfd = bdl_open_dir(dir, err);
    if (dfd < 0)
        return -1;
    char *json = NULL;
    size_t len = 0;
    int rc = read_sig(dfd, &json, &len, err);
    close(dfd);
    if (rc != 0)
        return cm_err_prefix(err, "%s", dir);
    rc = bundle_parse_sig(json, len, out, err);
    free(json);
    return rc != 0 ? cm_err_prefix(err, "%s", dir) : 0;
}

static int cmp_entry(const void *a, const void *b)
{
    return bundle_path_cmp(((const bundle_entry *)a)->path, ((const bundle_entry *)b)->path);
}

/* The directory's files must be exactly the listed ones, with the listed
 * digests. `listed` is sorted like `l`. */
static int match_files(const bdl_filelist *l, const bundle_entry *listed, size_t n, cm_err *err)
{
    size_t i = 0, j = 0;
    while (i < l->n || j < n) {
        int c = i == l->n ? 1 : j == n ? -1 : bundle_path_cmp(l->files[i].path, listed[j].path);
        if (c < 0)
            return cm_err_set(err,
                              "%s is in the directory but not in the signed list "
                              "(added or renamed)",
                              l->files[i].path);
        if (c > 0)
            return cm_err_set(err,
                              "%s is signed but missing from the directory "
                              "(removed or renamed)",
                              listed[j].path);
        i++;
        j++;
    }
    return 0;
}

static int check_digests(const bdl_filelist *l, const bundle_entry *listed, cm_err *err)
{
    for (size_t i = 0; i < l->n; i++)
        if (memcmp(l->files[i].digest, listed[i].digest, BUNDLE_DIGEST_LEN) != 0) {
            char want[65], got[65];
            bundle_hex(listed[i].digest, want);
            bundle_hex(l->files[i].digest, got);
            return cm_err_set(err,
                              "%s: content does not match the signature "
                              "(sha256 %s, signed %s)",
                              l->files[i].path, got, want);
        }
    return 0;
}

/* Statement ignore paths + defaults + the caller's extras, as one list. */
static char **all_ignores(const bundle_info *info, const bundle_verify_opts *o, size_t *n,
                          cm_err *err)
{
    size_t extra = o ? o->n_extra_ignore : 0;
    char **v = calloc(info->n_ignore + bdl_n_default_ignore + extra + 1, sizeof(char *));
    if (v == NULL) {
        cm_err_set(err, "out of memory");
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < info->n_ignore; i++)
        v[k++] = info->ignore_paths[i];
    for (size_t i = 0; i < bdl_n_default_ignore; i++)
        v[k++] = (char *)bdl_default_ignore[i];
    for (size_t i = 0; i < extra; i++) {
        if (!bundle_path_is_safe(o->extra_ignore[i])) {
            free(v);
            cm_err_set(err, "ignore path \"%s\" is not a safe relative path", o->extra_ignore[i]);
            return NULL;
        }
        v[k++] = (char *)o->extra_ignore[i];
    }
    *n = k;
    return v;
}

int bdl_verify_sig_text(const char *json, size_t len, const bundle_trust *trust,
                        bundle_info **out, cm_err *err)
{
    *out = NULL;
    bdl_sig sig;
    bundle_info *info = NULL;
    if (decode(json, len, &sig, &info, err) != 0)
        return -1;
    unsigned char *pae = NULL;
    size_t pae_len = 0;
    int rc = -1;
    if (bdl_pae(sig.payload, sig.payload_len, &pae, &pae_len, err) != 0 ||
        bdl_trust_check(trust, &sig, pae, pae_len, info->signer, sizeof(info->signer),
                        &info->method, err) != 0)
        goto out;
    if (strcmp(sig.payload_type, BDL_PAYLOAD_TYPE) != 0) {
        cm_err_set(err, "payload type is \"%.100s\", expected " BDL_PAYLOAD_TYPE, sig.payload_type);
        goto out;
    }
    if (bdl_statement_parse(sig.payload, sig.payload_len, info, err) != 0)
        goto out;
    if (info->n_entries == 0) {
        cm_err_set(err, "the signature lists no files");
        goto out;
    }
    *out = info;
    info = NULL;
    rc = 0;
out:
    free(pae);
    bdl_sig_clear(&sig);
    bundle_info_free(info);
    return rc;
}

static int verify_at(int dfd, const bundle_trust *trust, const bundle_verify_opts *opts,
                     bundle_verified **out, cm_err *err)
{
    char *json = NULL;
    size_t len = 0;
    if (read_sig(dfd, &json, &len, err) != 0)
        return -1;
    bundle_info *info = NULL;
    int rc = bdl_verify_sig_text(json, len, trust, &info, err);
    free(json);
    if (rc != 0)
        return -1;

    bdl_filelist files = {0};
    bundle_entry *sorted = NULL;
    char **ign = NULL;
    size_t n_ign = 0;
    rc = -1;
    for (size_t i = 0; i < info->n_entries; i++)
        if (strcmp(info->entries[i].path, BUNDLE_FILE_RESOURCE) == 0) {
            cm_err_set(err, "this signature is for a single file, not a directory: verify the "
                            "file with its signature (gemmactl bundle verify FILE --signature SIG)");
            goto out;
        }
    if ((ign = all_ignores(info, opts, &n_ign, err)) == NULL)
        goto out;
    if (bdl_walk(dfd, ign, n_ign, &files, err) != 0)
        goto out;
    sorted = malloc(info->n_entries * sizeof(*sorted));
    if (sorted == NULL) {
        cm_err_set(err, "out of memory");
        goto out;
    }
    memcpy(sorted, info->entries, info->n_entries * sizeof(*sorted));
    qsort(sorted, info->n_entries, sizeof(*sorted), cmp_entry);
    if (match_files(&files, sorted, info->n_entries, err) != 0)
        goto out;
    if (bdl_verify_hash(&files, opts, err) != 0 || check_digests(&files, sorted, err) != 0 ||
        bdl_verified_take(&info, &files, out, err) != 0)
        goto out;
    rc = 0;
out:
    free(ign);
    free(sorted);
    bdl_filelist_clear(&files);
    bundle_info_free(info);
    return rc;
}

int bundle_verify(const char *dir, const bundle_trust *trust, const bundle_verify_opts *opts,
                  bundle_verified **out, cm_err *err)
{
    *out = NULL;
    int dfd = bdl_open_dir(dir, err);
    if (dfd < 0)
        return -1;
    int rc = verify_at(dfd, trust, opts, out, err);
    close(dfd);
    return rc != 0 ? cm_err_prefix(err, "bundle %s", dir) : 0;
}
