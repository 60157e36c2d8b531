/*
 * ctl/models_import.c -- 'gemmactl models import': bring a signed model
 * (a bundle folder with its model.sig, or a GGUF file with its signature
 * file) into gemmad's model store, /var/lib/gemmad/models by default.
 *
 * Nothing unverified lands there: the signature is checked against the
 * trusted keys/CAs first (cheap, before copying gigabytes), the model is
 * copied into a hidden temporary folder inside the destination, the COPY
 * is verified (every digest), and only then renamed into place. Any
 * failure removes the temporary folder, so a bad model leaves nothing.
 *
 * Trust: --key/--ca, else security.bundle_keys / bundle_cas of the
 * installed gemmad.yaml (--config FILE to read another).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "ctl/ctl.h"
#include "ctl/progress.h"
#include "ctl/settings.h"

#ifndef CTL_SYSCONFDIR
#define CTL_SYSCONFDIR "/etc"
#endif
#define IMPORT_DEFAULT_DEST "/var/lib/gemmad/models"
#define IMPORT_MAX_TRUST 16
#define IMPORT_MAX_DEPTH 32

typedef struct import_opts {
    const char *src, *signature, *dest, *config;
    const char *keys[IMPORT_MAX_TRUST], *cas[IMPORT_MAX_TRUST];
    size_t n_keys, n_cas;
    bool force;
    gid_t gid; /* group of the destination, given to what we create */
} import_opts;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gemmactl models import SRC [--signature SIG] [--dest DIR]\n"
            "                              [--key PUB]... [--ca CA]... [--config GEMMAD_YAML]\n"
            "                              [--force]\n\n"
            "Copy a signed model into gemmad's model store and verify the copy:\n"
            "  SRC a folder holding model.sig (gemmactl bundle sign DIR), or a GGUF file\n"
            "  signed on its own (--signature SIG; default SRC.sig).\n"
            "  --dest DIR     the store (default " IMPORT_DEFAULT_DEST ")\n"
            "  --key PUB      trusted signing key (PEM); repeatable\n"
            "  --ca CA        trusted CA certificates (PEM); repeatable\n"
            "  --config FILE  without --key/--ca, trust security.bundle_keys and\n"
            "                 bundle_cas of this gemmad.yaml (default " CTL_SYSCONFDIR
            "/gemmad/gemmad.yaml)\n"
            "  --force        replace a model of the same name already in the store\n"
            "A model that does not verify is refused and nothing is left in DIR.\n");
}

static int parse(int argc, char **argv, import_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->dest = IMPORT_DEFAULT_DEST;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(a, "--force") == 0) {
            o->force = true;
        } else if (strcmp(a, "--signature") == 0 && val) {
            o->signature = argv[++i];
        } else if (strcmp(a, "--dest") == 0 && val) {
            o->dest = argv[++i];
        } else if (strcmp(a, "--config") == 0 && val) {
            o->config = argv[++i];
        } else if ((strcmp(a, "--key") == 0 || strcmp(a, "--ca") == 0) && val) {
            bool key = a[2] == 'k';
            size_t *n = key ? &o->n_keys : &o->n_cas;
            if (*n == IMPORT_MAX_TRUST) {
                fprintf(stderr, "gemmactl models import: too many %s options\n", a);
                return -1;
            }
            (key ? o->keys : o->cas)[(*n)++] = argv[++i];
        } else if (a[0] != '-' && o->src == NULL) {
            o->src = a;
        } else {
            fprintf(stderr, "gemmactl models import: unknown argument or missing value: '%s'\n", a);
            return -1;
        }
    }
    if (o->src == NULL) {
        fprintf(stderr, "gemmactl models import: which model? (gemmactl models import SRC)\n");
        return -1;
    }
    return 0;
}

/* The trust: flags, else the installed gemmad.yaml's security section. */
static int load_trust(const import_opts *o, bundle_trust **out, cm_err *err)
{
    bundle_trust *t = NULL;
    if (bundle_trust_new(&t, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < o->n_keys; i++)
        rc = bundle_trust_add_key_file(t, o->keys[i], err);
    for (size_t i = 0; rc == 0 && i < o->n_cas; i++)
        rc = bundle_trust_add_ca_file(t, o->cas[i], err);
    if (rc == 0 && o->n_keys + o->n_cas == 0) {
        const char *conf = o->config ? o->config : CTL_SYSCONFDIR "/gemmad/gemmad.yaml";
        char keys[CTL_SETTING_MAX], cas[CTL_SETTING_MAX];
        int found = 0;
        rc = ctl_gemmad_setting(conf, "security", "bundle_keys", keys, sizeof(keys), &found, err);
        if (rc == 0)
            rc = ctl_gemmad_setting(conf, "security", "bundle_cas", cas, sizeof(cas), &found, err);
        if (rc == 0 && keys[0] == '\0' && cas[0] == '\0')
            rc = cm_err_set(err,
                            "no trusted signers: give --key PUB or --ca CA, or set "
                            "security.bundle_keys or bundle_cas in %s%s",
                            conf, found ? "" : " (not found)");
        if (rc == 0 && keys[0] != '\0')
            rc = bundle_trust_add_key_file(t, keys, err);
        if (rc == 0 && cas[0] != '\0')
            rc = bundle_trust_add_ca_file(t, cas, err);
    }
    if (rc != 0) {
        bundle_trust_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

/* out = a + b + c, or an error when it does not fit. */
static int join3(char *out, size_t n, const char *a, const char *b, const char *c, cm_err *err)
{
    int w = snprintf(out, n, "%s%s%s", a, b, c);
    return w < 0 || (size_t)w >= n ? cm_err_set(err, "%s%s: path too long", a, b) : 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path);
    return unlink(path);
}

/* Remove a tree we made (no symlinks followed). */
static void remove_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Copy the open regular file `in` to a new file at
 * dirfd/name, mode 0640, group o->gid. */
static int copy_fd(int in, int dirfd, const char *name, const import_opts *o, cm_err *err)
{
    int out = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (out < 0)
        return cm_err_errno(err, "create %s", name);
    if (fchown(out, (uid_t)-1, o->gid) != 0) {
        /* not a member of the store's group: keep ours */
    }
    enum { COPY_BLOCK = 1 << 20 };
    char *buf = malloc(COPY_BLOCK);
    if (buf == NULL) {
        close(out);
        return cm_err_set(err, "out of memory copying %s", name);
    }
    int rc = 0;
    for (;;) {
        ssize_t r = read(in, buf, COPY_BLOCK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = cm_err_errno(err, "read %s", name);
            break;
        }
        if (r == 0)
            break;
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(out, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = cm_err_errno(err, "write %s", name);
                break;
            }
            off += w;
        }
        if (rc != 0)
            break;
    }
    free(buf);
    if (rc == 0 && fsync(out) != 0)
        rc = cm_err_errno(err, "write %s", name);
    if (close(out) != 0 && rc == 0)
        rc = cm_err_errno(err, "write %s", name);
    return rc;
}

static int copy_path(const char *from, int dirfd, const char *name, const import_opts *o,
                     cm_err *err)
{
    int in = open(from, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (in < 0)
        return cm_err_errno(err, "open %s", from);
    int rc = copy_fd(in, dirfd, name, o, err);
    close(in);
    return rc;
}

/* Copy folder `src` (descriptor) into dst (descriptor): directories and
 * regular files only; a symlink or device is refused. */
static int copy_tree(int src, int dst, const char *where, int depth, const import_opts *o,
                     cm_err *err)
{
    if (depth > IMPORT_MAX_DEPTH)
        return cm_err_set(err, "%s: folders nested too deeply", where);
    int dfd = dup(src);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (d == NULL) {
        if (dfd >= 0)
            close(dfd);
        return cm_err_errno(err, "read %s", where);
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char sub[PATH_MAX];
        if (join3(sub, sizeof(sub), where, "/", e->d_name, err) != 0) {
            rc = -1;
            break;
        }
        struct stat st;
        if (fstatat(src, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = cm_err_errno(err, "stat %s", sub);
        } else if (S_ISDIR(st.st_mode)) {
            int in = openat(src, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int out = -1;
            if (in < 0)
                rc = cm_err_errno(err, "open %s", sub);
            else if (mkdirat(dst, e->d_name, 0750) != 0)
                rc = cm_err_errno(err, "create %s", e->d_name);
            else if ((out = openat(dst, e->d_name,
                                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
                rc = cm_err_errno(err, "open %s", e->d_name);
            else {
                if (fchown(out, (uid_t)-1, o->gid) != 0) {
                    /* keep our group */
                }
                rc = copy_tree(in, out, sub, depth + 1, o, err);
            }
            if (in >= 0)
                close(in);
            if (out >= 0)
                close(out);
        } else if (S_ISREG(st.st_mode)) {
            int in = openat(src, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
            if (in < 0)
                rc = cm_err_errno(err, "open %s", sub);
            else {
                rc = copy_fd(in, dst, e->d_name, o, err);
                close(in);
            }
        } else {
            rc = cm_err_set(err,
                            "%s is a symbolic link or special file (not allowed in a "
                            "bundle)",
                            sub);
        }
    }
    closedir(d);
    return rc;
}

static const char *base_of(const char *path, char *buf, size_t n)
{
    snprintf(buf, n, "%s", path);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
    return basename(buf);
}

static int import_model(const import_opts *o, const char *sig, bool single, char *final,
                        size_t final_n, char *root_hex, char *signer, size_t signer_n, cm_err *err)
{
    char nb[PATH_MAX];
    const char *name = base_of(o->src, nb, sizeof(nb));
    if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL)
        return cm_err_set(err, "%s: cannot take a model name from this path", o->src);

    bundle_trust *trust = NULL;
    if (load_trust(o, &trust, err) < 0)
        return -1;
    /* 1. The signature alone, before copying anything. */
    bundle_info *info = NULL;
    char dir_sig[PATH_MAX];
    if (join3(dir_sig, sizeof(dir_sig), o->src, "/", BUNDLE_SIG_NAME, err) != 0) {
        bundle_trust_free(trust);
        return -1;
    }
    if (bundle_check_signature(single ? sig : dir_sig, trust, &info, err) < 0) {
        bundle_trust_free(trust);
        return -1;
    }
    bundle_info_free(info);

    char tmp[PATH_MAX], copy[PATH_MAX], copy_sig[PATH_MAX], final_sig[PATH_MAX];
    if (join3(final, final_n, o->dest, "/", name, err) != 0 ||
        join3(final_sig, sizeof(final_sig), final, ".sig", "", err) != 0) {
        bundle_trust_free(trust);
        return -1;
    }
    struct stat st;
    if (!o->force && (lstat(final, &st) == 0 || (single && lstat(final_sig, &st) == 0))) {
        bundle_trust_free(trust);
        return cm_err_set(err, "%s already exists (--force replaces it)",
                          lstat(final, &st) == 0 ? final : final_sig);
    }
    if (snprintf(tmp, sizeof(tmp), "%s/.import-XXXXXX", o->dest) >= (int)sizeof(tmp) ||
        mkdtemp(tmp) == NULL) {
        bundle_trust_free(trust);
        return cm_err_errno(err, "create a temporary folder in %s", o->dest);
    }
    int rc = -1;
    int tfd = -1;
    if (join3(copy, sizeof(copy), tmp, "/", name, err) != 0 ||
        join3(copy_sig, sizeof(copy_sig), copy, ".sig", "", err) != 0)
        goto out;
    tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tfd < 0) {
        cm_err_errno(err, "open %s", tmp);
        goto out;
    }
    /* 2. Copy. */
    if (single) {
        if (copy_path(o->src, tfd, name, o, err) != 0)
            goto out;
        char sn[PATH_MAX];
        if (join3(sn, sizeof(sn), name, ".sig", "", err) != 0 ||
            copy_path(sig, tfd, sn, o, err) != 0)
            goto out;
    } else {
        int sfd = open(o->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int dfd = -1;
        if (sfd < 0) {
            cm_err_errno(err, "open %s", o->src);
            goto out;
        }
        if (mkdirat(tfd, name, 0750) != 0 ||
            (dfd = openat(tfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
            cm_err_errno(err, "create %s", copy);
            close(sfd);
            goto out;
        }
        if (fchown(dfd, (uid_t)-1, o->gid) != 0) {
            /* keep our group */
        }
        int c = copy_tree(sfd, dfd, o->src, 0, o, err);
        close(sfd);
        close(dfd);
        if (c != 0)
            goto out;
    }
    /* 3. Verify the copy: every digest, against the same trust. */
    ctl_progress prog;
    ctl_progress_init(&prog, "verifying");
    bundle_verify_opts vo = {.progress = ctl_progress_cb, .progress_arg = &prog};
    bundle_verified *v = NULL;
    int vr = single ? bundle_verify_file(copy, copy_sig, trust, &vo, &v, err)
                    : bundle_verify(copy, trust, &vo, &v, err);
    ctl_progress_done(&prog);
    if (vr != 0) {
        cm_err_prefix(err, "the copy does not verify");
        goto out;
    }
    bundle_hex(v->info->root_digest, root_hex);
    snprintf(signer, signer_n, "%s", v->info->signer);
    bundle_verified_free(v);
    /* 4. Into place: the signature first, so a model is never beside a
     * stale signature that would pass. */
    if (!single && o->force && lstat(final, &st) == 0) {
        char old[PATH_MAX];
        if (join3(old, sizeof(old), tmp, "/old", "", err) != 0)
            goto out;
        if (rename(final, old) != 0) {
            cm_err_errno(err, "move the old %s aside", final);
            goto out;
        }
    }
    if (single && rename(copy_sig, final_sig) != 0) {
        cm_err_errno(err, "rename into %s", final_sig);
        goto out;
    }
    if (rename(copy, final) != 0) {
        cm_err_errno(err, "rename into %s", final);
        if (single)
            unlink(final_sig);
        goto out;
    }
    rc = 0;
out:
    if (tfd >= 0)
        close(tfd);
    remove_tree(tmp);
    bundle_trust_free(trust);
    return rc;
}

int ctl_models_import(int argc, char **argv)
{
    import_opts o;
    int p = parse(argc, argv, &o);
    if (p != 0) {
        if (p < 0)
            usage(stderr);
        return p > 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    struct stat st;
    if (stat(o.src, &st) != 0) {
        fprintf(stderr, "gemmactl models import: %s: %s\n", o.src, strerror(errno));
        return CTL_EXIT_ERROR;
    }
    bool single = S_ISREG(st.st_mode);
    if (!single && !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "gemmactl models import: %s is neither a file nor a folder\n", o.src);
        return CTL_EXIT_ERROR;
    }
    if (!single && o.signature) {
        fprintf(stderr,
                "gemmactl models import: %s is a folder: its signature is %s/%s "
                "(--signature is for single files)\n",
                o.src, o.src, BUNDLE_SIG_NAME);
        return CTL_EXIT_USAGE;
    }
    char sig[PATH_MAX];
    if (single)
        snprintf(sig, sizeof(sig), "%s", o.signature ? o.signature : o.src);
    if (single && o.signature == NULL)
        strncat(sig, ".sig", sizeof(sig) - strlen(sig) - 1);
    struct stat dst;
    if (stat(o.dest, &dst) != 0 || !S_ISDIR(dst.st_mode)) {
        fprintf(stderr, "gemmactl models import: the store %s is not a folder\n", o.dest);
        return CTL_EXIT_ERROR;
    }
    o.gid = dst.st_gid;
    char dest_abs[PATH_MAX];
    if (realpath(o.dest, dest_abs) != NULL)
        o.dest = dest_abs;
    char final[PATH_MAX], root[65] = "", signer[512] = "";
    cm_err err;
    if (import_model(&o, sig, single, final, sizeof(final), root, signer, sizeof(signer), &err) !=
        0) {
        fprintf(stderr, "gemmactl models import: REFUSED %s: %s\n", o.src, err.msg);
        return CTL_EXIT_ERROR;
    }
    printf("imported %s into %s (verified: %s, root sha256:%s)\n", o.src, final, signer, root);
    char nb[PATH_MAX];
    const char *name = base_of(o.src, nb, sizeof(nb));
    char model[PATH_MAX];
    snprintf(model, sizeof(model), "%s", name);
    size_t ml = strlen(model);
    if (ml > 5 && strcmp(model + ml - 5, ".gguf") == 0)
        model[ml - 5] = '\0';
    printf("serve it with these lines under models: in gemmad.yaml, then restart gemmad "
           "(models change at the next start):\n  - name: %s\n",
           model);
    if (single)
        printf("    path: %s\n    signature: %s.sig\n", final, final);
    else
        printf("    bundle: %s\n", final);
    return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_ERROR;
}
