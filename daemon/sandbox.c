/*
 * daemon/sandbox.c -- Landlock confinement of the network-facing process
 * (sandbox.h): everything but the audit keys and the audit directory's
 * write access, written as allow rules (Landlock has no deny rules).
 */
#include "daemon/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

/* Rights of a newer kernel, when the headers are older (Debian 12). */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

#define RIGHTS_V1                                                                           \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | \
     LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |                          \
     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |                        \
     LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | \
     LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)
/* What a rule on a file (not a directory) may grant. */
#define FILE_RIGHTS                                                                         \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | \
     LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)

#define MAX_SPECIAL 8

/* A file with rights of its own: the keys (none), the log's files (read). */
typedef struct special {
    char path[2 * PATH_MAX + 64];
    uint64_t rights;
} special;

typedef struct sandbox {
    int ruleset;
    uint64_t handled;            /* every right this kernel knows */
    special sp[MAX_SPECIAL];
    size_t n_sp;
    char sock_dir[PATH_MAX];     /* "" = no socket in a protected directory */
    unsigned n_rules, n_skipped;
} sandbox;

static long ll_create(const struct landlock_ruleset_attr *a, size_t size, uint32_t flags)
{
    return syscall(__NR_landlock_create_ruleset, a, size, flags);
}

static int add_rule(sandbox *sb, const char *path, uint64_t rights, bool follow)
{
    int fd = open(path, O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
    if (fd < 0) {
        sb->n_skipped++;
        return 0; /* gone meanwhile, or not ours to see: no rule, no access */
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
        rights &= FILE_RIGHTS;
    rights &= sb->handled;
    struct landlock_path_beneath_attr pb = {.allowed_access = rights, .parent_fd = fd};
    long rc = rights ? syscall(__NR_landlock_add_rule, sb->ruleset, LANDLOCK_RULE_PATH_BENEATH,
                               &pb, 0)
                     : 0;
    close(fd);
    if (rc < 0) {
        sb->n_skipped++;
        cm_log(CM_LOG_DEBUG, "sandbox", "no rule for %s: %s", path, strerror(errno));
        return 0;
    }
    sb->n_rules++;
    return 0;
}

/* Is `dir` a proper ancestor of `path`? ("/" is everyone's.) */
static bool is_ancestor(const char *dir, const char *path)
{
    if (strcmp(dir, "/") == 0)
        return path[0] == '/' && path[1] != '\0';
    size_t n = strlen(dir);
    return strncmp(dir, path, n) == 0 && path[n] == '/';
}

static bool leads_to_special(const sandbox *sb, const char *dir)
{
    for (size_t i = 0; i < sb->n_sp; i++)
        if (is_ancestor(dir, sb->sp[i].path))
            return true;
    return false;
}

static const special *find_special(const sandbox *sb, const char *path)
{
    for (size_t i = 0; i < sb->n_sp; i++)
        if (strcmp(sb->sp[i].path, path) == 0)
            return &sb->sp[i];
    return NULL;
}

/* Grant everything under `dir` except the way to the special files. */
static int grant_dir(sandbox *sb, const char *dir, cm_err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return cm_err_errno(err, "sandbox: cannot list %s", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char full[PATH_MAX];
        int n = snprintf(full, sizeof(full), "%s/%s", strcmp(dir, "/") == 0 ? "" : dir,
                         e->d_name);
        if (n < 0 || (size_t)n >= sizeof(full))
            continue;
        const special *s = find_special(sb, full);
        if (s != NULL) {
            add_rule(sb, full, s->rights, false);
        } else if (leads_to_special(sb, full)) {
            if (grant_dir(sb, full, err) < 0) {
                closedir(d);
                return -1;
            }
        } else {
            struct stat st;
            if (lstat(full, &st) == 0 && !S_ISLNK(st.st_mode))
                add_rule(sb, full, sb->handled, false);
            /* A symbolic link needs no rule: access is checked where it
             * leads. */
        }
    }
    closedir(d);
    return 0;
}

/* "<real dir of db>/<name>" */
static void beside(const char *real_dir, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", strcmp(real_dir, "/") == 0 ? "" : real_dir, name);
}

static void add_special(sandbox *sb, const char *path, uint64_t rights)
{
    if (sb->n_sp == MAX_SPECIAL)
        return;
    special *s = &sb->sp[sb->n_sp++];
    /* The file itself, where a symbolic link leads (a key may be a link
     * to elsewhere); a file not there yet keeps its name. */
    if (realpath(path, s->path) == NULL)
        snprintf(s->path, sizeof(s->path), "%s", path);
    s->rights = rights;
}

int gmd_sandbox_audit(const char *audit_db, const char *unix_path, cm_err *err)
{
    long abi = ll_create(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1) {
        cm_err_set(err, "this kernel offers no Landlock (%s)",
                   errno == ENOSYS       ? "not built in"
                   : errno == EOPNOTSUPP ? "disabled at boot"
                   : errno == EPERM      ? "blocked by a system call filter: systemd's "
                                           "SystemCallFilter= must allow landlock_*"
                                         : strerror(errno));
        return 1;
    }
    sandbox sb = {.ruleset = -1};
    sb.handled = RIGHTS_V1;
    if (abi >= 2)
        sb.handled |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        sb.handled |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5)
        sb.handled |= LANDLOCK_ACCESS_FS_IOCTL_DEV;

    char tmp[PATH_MAX], dir[PATH_MAX], base[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", audit_db);
    if (realpath(dirname(tmp), dir) == NULL)
        return cm_err_errno(err, "sandbox: the audit directory of %s", audit_db);
    snprintf(tmp, sizeof(tmp), "%s", audit_db);
    snprintf(base, sizeof(base), "%s", basename(tmp));
    char p[2 * PATH_MAX + 64], n[PATH_MAX + 32];
    beside(dir, "audit-signing.key", p, sizeof(p));
    add_special(&sb, p, 0);
    beside(dir, "audit-hmac.key", p, sizeof(p));
    add_special(&sb, p, 0);
    beside(dir, "audit-signing.key.pub", p, sizeof(p));
    add_special(&sb, p, LANDLOCK_ACCESS_FS_READ_FILE);
    const char *suffixes[] = {"", "-wal", "-shm", ".checkpoints"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(n, sizeof(n), "%s%s", base, suffixes[i]);
        beside(dir, n, p, sizeof(p));
        add_special(&sb, p, LANDLOCK_ACCESS_FS_READ_FILE);
    }

    struct landlock_ruleset_attr attr = {.handled_access_fs = sb.handled};
    sb.ruleset = (int)ll_create(&attr, sizeof(attr), 0);
    if (sb.ruleset < 0)
        return cm_err_errno(err, "sandbox: landlock_create_ruleset");
    int rc = grant_dir(&sb, "/", err);
    /* Listing directories reveals names, not contents: allowed everywhere. */
    if (rc == 0)
        add_rule(&sb, "/", LANDLOCK_ACCESS_FS_READ_DIR, true);
    /* The listener socket may live in a protected directory: it may be
     * created there (it is not removed at exit then; gemmad replaces a
     * stale one at start, before confining itself). */
    if (rc == 0 && unix_path != NULL && unix_path[0] != '\0') {
        snprintf(tmp, sizeof(tmp), "%s", unix_path);
        char sdir[PATH_MAX];
        if (realpath(dirname(tmp), sdir) != NULL && (leads_to_special(&sb, sdir) ||
                                                     strcmp(sdir, dir) == 0)) {
            add_rule(&sb, sdir, LANDLOCK_ACCESS_FS_MAKE_SOCK, true);
            cm_log(CM_LOG_WARN, "sandbox", "the Unix socket %s lies in the audit log's "
                   "directory or in one above it: gemmad cannot remove it at exit (it replaces "
                   "it at the next start)", unix_path);
        }
    }
    if (rc == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        rc = cm_err_errno(err, "sandbox: PR_SET_NO_NEW_PRIVS");
    if (rc == 0 && syscall(__NR_landlock_restrict_self, sb.ruleset, 0) < 0)
        rc = cm_err_errno(err, "sandbox: landlock_restrict_self");
    close(sb.ruleset);
    if (rc == 0)
        cm_log(CM_LOG_INFO, "sandbox", "Landlock ABI %ld: %u rules; the audit keys in %s are "
               "out of reach of this process, the audit directory is read-only to it", abi,
               sb.n_rules, dir);
    return rc;
}

bool gmd_sandbox_in_protected_dir(const char *audit_db, const char *path)
{
    char tmp[PATH_MAX], adir[PATH_MAX], pdir[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", audit_db);
    if (realpath(dirname(tmp), adir) == NULL)
        return false;
    snprintf(tmp, sizeof(tmp), "%s", path);
    if (realpath(dirname(tmp), pdir) == NULL)
        return false;
    return strcmp(adir, pdir) == 0 || is_ancestor(pdir, adir);
}

static int probe_one(const char *path, int flags, const char *what)
{
    const char *how = flags == O_RDONLY ? "" : " for writing";
    int fd = open(path, flags | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        cm_log(CM_LOG_WARN, "privsep", "the network process CAN open %s %s%s", what, path, how);
        return 1;
    }
    cm_log(CM_LOG_NOTICE, "privsep", "the network process cannot open %s %s%s: %s", what, path,
           how, strerror(errno));
    return 0;
}

int gmd_sandbox_probe(const char *audit_db)
{
    char tmp[PATH_MAX], p[PATH_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s", audit_db);
    const char *dir = dirname(tmp);
    int n = 0;
    snprintf(p, sizeof(p), "%s/audit-signing.key", dir);
    n += probe_one(p, O_RDONLY, "the audit signing key");
    snprintf(p, sizeof(p), "%s/audit-hmac.key", dir);
    n += probe_one(p, O_RDONLY, "the audit HMAC key");
    n += probe_one(audit_db, O_RDWR, "the audit database");
    return n;
}
