/*
 * daemon/privsep.c -- starting the audit signer process and confining the
 * network-facing one (privsep.h).
 */
#include "daemon/privsep.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/signer.h"
#include "common/log.h"
#include "daemon/sandbox.h"

#define SIGNER_FD 3
#define HELLO_TIMEOUT_MS 60000

/* The one signer connection of this process, until the guard takes it. */
static au_remote *signer_conn;

au_remote *gmd_privsep_take_remote(void)
{
    au_remote *r = signer_conn;
    signer_conn = NULL;
    return r;
}

/* In the child: the socket becomes fd 3, then gemmad runs again as the
 * signer (a fresh image: nothing of the parent's memory comes along). */
static void exec_signer(int fd, const gmd_config *cfg, const char *log_level)
{
    if (fd != SIGNER_FD && dup2(fd, SIGNER_FD) < 0)
        _exit(127);
    if (fcntl(SIGNER_FD, F_SETFD, 0) < 0) /* keep it across exec */
        _exit(127);
    char rows[16], secs[16], fdnum[8];
    snprintf(fdnum, sizeof(fdnum), "%d", SIGNER_FD);
    snprintf(rows, sizeof(rows), "%u", cfg->audit_checkpoint_rows);
    snprintf(secs, sizeof(secs), "%u", cfg->audit_checkpoint_seconds);
    char *argv[] = {"gemmad", "--audit-signer", fdnum, (char *)cfg->audit_db,
                    cfg->audit_fail_open ? "1" : "0", cfg->audit_raw_text ? "1" : "0",
                    rows, secs, (char *)log_level, NULL};
    execv("/proc/self/exe", argv);
    fprintf(stderr, "gemmad: cannot start the audit signer: /proc/self/exe: %s\n",
            strerror(errno));
    _exit(127);
}

int gmd_privsep_start(const gmd_config *cfg, const char *log_level, cm_err *err)
{
    if (cfg->audit_db[0] == '\0' || !cfg->privsep)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return cm_err_errno(err, "privsep: socketpair");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return cm_err_errno(err, "privsep: cannot start the audit signer");
    }
    if (pid == 0)
        exec_signer(sv[1], cfg, log_level);
    close(sv[1]);
    au_remote *r;
    if (au_remote_connect(sv[0], pid, cfg->audit_fail_open, HELLO_TIMEOUT_MS, &r, err) < 0)
        return cm_err_prefix(err, "security.audit_db");

    /* A stale socket file from an earlier run is replaced now, while this
     * process may still remove files beside the audit log. */
    struct stat st;
    if (cfg->unix_enabled && lstat(cfg->unix_path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(cfg->unix_path);
    cm_err serr;
    int rc = gmd_sandbox_audit(cfg->audit_db, cfg->unix_enabled ? cfg->unix_path : "", &serr);
    if (rc < 0) {
        au_remote_close(r);
        return cm_err_set(err, "%s", serr.msg);
    }
    if (rc == 1)
        cm_log(CM_LOG_WARN, "privsep", "%s: the audit keys are held by the signer process "
               "only, but this process could still open their files", serr.msg);
    gmd_sandbox_probe(cfg->audit_db);
    const char *reread[] = {cfg->source, cfg->tls_certificate, cfg->tls_private_key,
                            cfg->tls_client_ca, cfg->tls_crl, cfg->policy_file,
                            cfg->bundle_keys, cfg->bundle_cas};
    for (size_t i = 0; rc == 0 && i < sizeof(reread) / sizeof(reread[0]); i++)
        if (reread[i][0] != '\0' && gmd_sandbox_in_protected_dir(cfg->audit_db, reread[i]))
            cm_log(CM_LOG_WARN, "privsep", "%s lies in the audit log's directory or in one "
                   "above it: if it is replaced by a new file (mv, sed -i, most editors), gemmad "
                   "cannot read it again until it restarts; keep the audit log out of the "
                   "directories of the files gemmad reads again (gemmad(8), PROCESSES)",
                   reread[i]);
    if (au_remote_start(r, err) < 0) {
        au_remote_close(r);
        return -1;
    }
    cm_log(CM_LOG_NOTICE, "privsep", "audit signer started (pid %d): the audit keys live in "
           "that process only", (int)au_remote_pid(r));
    signer_conn = r;
    return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int gmd_signer_main(int argc, char **argv)
{
    uint32_t fd, rows, secs;
    if (argc != 7 || parse_u32(argv[0], &fd) < 0 || parse_u32(argv[4], &rows) < 0 ||
        parse_u32(argv[5], &secs) < 0 || fd > 1024) {
        fprintf(stderr, "gemmad: --audit-signer is started by gemmad itself\n");
        return 2;
    }
    au_signer_harden();
    cm_log_level lv;
    if (cm_log_parse_level(argv[6], &lv) == 0)
        cm_log_set_level(lv);
    au_config ac = {.db_path = argv[1],
                    .fail_open = strcmp(argv[2], "1") == 0,
                    .store_raw_text = strcmp(argv[3], "1") == 0,
                    .checkpoint_rows = rows,
                    .checkpoint_ms = secs * 1000u};
    return au_signer_serve((int)fd, &ac);
}
