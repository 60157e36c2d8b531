/*
 * bundle/walk.c -- listing the files of a bundle directory safely.
 *
 * Everything is opened relative to a directory descriptor with O_NOFOLLOW,
 * so a symlink anywhere below the bundle root is refused rather than
 * followed, and the descriptor of each regular file is kept open: the same
 * descriptor is hashed and later handed to the loader.
 */
#include "bundle/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BDL_MAX_DEPTH 64
#define BDL_MAX_PATH 4096
#define BDL_MAX_FILES 100000

void bdl_filelist_clear(bdl_filelist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->files[i].path);
        if (l->files[i].fd >= 0)
            close(l->files[i].fd);
    }
    free(l->files);
    memset(l, 0, sizeof(*l));
}

bool bdl_is_ignored(const char *path, char *const *ignore, size_t n_ignore)
{
    for (size_t i = 0; i < n_ignore; i++) {
        size_t n = strlen(ignore[i]);
        if (strncmp(path, ignore[i], n) == 0 && (path[n] == '\0' || path[n] == '/'))
            return true;
    }
    return false;
}

static int push_file(bdl_filelist *l, const char *path, int fd, uint64_t size, cm_err *err)
{
    if (l->n == BDL_MAX_FILES)
        return cm_err_set(err, "more than %d files in the bundle", BDL_MAX_FILES);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        bundle_file *nf = realloc(l->files, cap * sizeof(*nf));
        if (nf == NULL)
            return cm_err_set(err, "out of memory listing files");
        l->files = nf;
        l->cap = cap;
    }
    char *p = strdup(path);
    if (p == NULL)
        return cm_err_set(err, "out of memory listing files");
    bundle_file *f = &l->files[l->n++];
    memset(f, 0, sizeof(*f));
    f->path = p;
    f->fd = fd;
    f->size = size;
    return 0;
}

static int walk_dir(int dfd, const char *prefix, int depth, char *const *ignore, size_t n_ignore,
                    bdl_filelist *out, cm_err *err)
{
    if (depth > BDL_MAX_DEPTH)
        return cm_err_set(err, "%s: directories nested too deeply", prefix);
    int dup_fd = dup(dfd);
    if (dup_fd < 0)
        return cm_err_errno(err, "dup");
    DIR *d = fdopendir(dup_fd);
    if (d == NULL) {
        close(dup_fd);
        return cm_err_errno(err, "read directory %s", prefix[0] ? prefix : ".");
    }
    int rc = 0;
    struct dirent *ent;
    char rel[BDL_MAX_PATH];
    for (;;) {
        errno = 0;
        ent = readdir(d);
        if (ent == NULL) {
            if (errno != 0)
                rc = cm_err_errno(err, "read directory %s", prefix[0] ? prefix : ".");
            break;
        }
        const char *name = ent->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        int n = snprintf(rel, sizeof(rel), "%s%s%s", prefix, prefix[0] ? "/" : "", name);
        if (n < 0 || (size_t)n >= sizeof(rel)) {
            rc = cm_err_set(err, "%s/%s: path too long", prefix, name);
            break;
        }
        if (bdl_is_ignored(rel, ignore, n_ignore))
            continue;
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = cm_err_errno(err, "stat %s", rel);
            break;
        }
        if (S_ISLNK(st.st_mode)) {
            rc = cm_err_set(err, "%s is a symbolic link (not allowed in a bundle)", rel);
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                rc = cm_err_errno(err, "open directory %s", rel);
                break;
            }
            rc = walk_dir(sub, rel, depth + 1, ignore, n_ignore, out, err);
            close(sub);
            if (rc != 0)
                break;
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            rc = cm_err_set(err, "%s is not a regular file or directory", rel);
            break;
        }
        int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0) {
            rc = errno == ELOOP
                     ? cm_err_set(err, "%s is a symbolic link (not allowed in a bundle)", rel)
                     : cm_err_errno(err, "open %s", rel);
            break;
        }
        struct stat fst;
        if (fstat(fd, &fst) != 0 || !S_ISREG(fst.st_mode) || fst.st_ino != st.st_ino ||
            fst.st_dev != st.st_dev) {
            close(fd);
            rc = cm_err_set(err, "%s changed while the bundle was being read", rel);
            break;
        }
        /* Back to blocking reads for the loader. */
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        if (push_file(out, rel, fd, (uint64_t)fst.st_size, err) != 0) {
            close(fd);
            rc = -1;
            break;
        }
    }
    closedir(d);
    return rc;
}

static int cmp_file(const void *a, const void *b)
{
    return bundle_path_cmp(((const bundle_file *)a)->path, ((const bundle_file *)b)->path);
}

int bdl_walk(int dirfd, char *const *ignore, size_t n_ignore, bdl_filelist *out, cm_err *err)
{
    memset(out, 0, sizeof(*out));
    if (walk_dir(dirfd, "", 0, ignore, n_ignore, out, err) != 0) {
        bdl_filelist_clear(out);
        return -1;
    }
    if (out->n > 0)
        qsort(out->files, out->n, sizeof(bundle_file), cmp_file);
    return 0;
}
