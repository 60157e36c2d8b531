/*
 * audit/signer.c -- the audit signer process's service loop (signer.h):
 * one thread reads requests and hands appends to the audit writer
 * (au_log_append_async, so many appends share a commit); the writer
 * thread answers them once durable; checkpoints and rotations run on a
 * thread of their own so appends keep flowing meanwhile.
 */
#include "audit/signer.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/keys.h"
#include "audit/msg.h"
#include "common/log.h"

typedef struct signer {
    int fd;
    au_log *log;
    char dir[4096];              /* the log's directory (archives go there) */
    pthread_mutex_t send_mu;     /* one frame at a time on fd */
    bool send_broken;
    pthread_mutex_t mu;          /* guards n_ctl */
    pthread_cond_t cv;
    unsigned n_ctl;              /* checkpoint/rotate threads running */
} signer;

static void send_frame(signer *s, const au_frame *f)
{
    pthread_mutex_lock(&s->send_mu);
    size_t off = 0;
    while (!s->send_broken && off < f->len) {
        ssize_t w = send(s->fd, f->p + off, f->len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            s->send_broken = true; /* the client is gone; nothing to tell */
        else
            off += (size_t)w;
    }
    pthread_mutex_unlock(&s->send_mu);
}

static void reply(signer *s, uint64_t id, int status, int64_t seq, const char *msg)
{
    au_stats st = {0};
    if (s->log != NULL)
        au_log_stats(s->log, &st);
    au_frame f;
    cm_err err;
    if (au_msg_encode_reply(&f, id, status, seq, &st, msg, &err) < 0) {
        cm_log(CM_LOG_ERR, "audit-signer", "%s", err.msg);
        return;
    }
    send_frame(s, &f);
    au_frame_free(&f);
}

/* ---- appends ---- */

typedef struct append_ctx {
    signer *s;
    uint64_t id;
    bool answer;
} append_ctx;

/* Writer thread: the event's transaction ended. */
static void appended(void *user, int status, int64_t seq, const char *msg)
{
    append_ctx *a = user;
    if (a->answer)
        reply(a->s, a->id, status, seq, msg);
    else if (status < 0 || seq < 0)
        cm_log(CM_LOG_ERR, "audit", "an audit event could not be written%s: %s",
               status < 0 ? "" : " (fail_open: ignored)", msg);
    free(a);
}

static void do_append(signer *s, const au_request *rq, bool fail_open)
{
    bool answer = (rq->flags & AU_APPEND_REPLY) != 0;
    append_ctx *a = malloc(sizeof(*a));
    cm_err err;
    if (a == NULL) {
        cm_err_set(&err, "audit signer: out of memory");
    } else {
        *a = (append_ctx){.s = s, .id = rq->id, .answer = answer};
        if (au_log_append_async(s->log, &rq->ev, appended, a, &err) == 0)
            return;
        free(a);
    }
    /* Not queued: the same answer the writer gives a failed write. */
    cm_log(CM_LOG_ERR, "audit", "cannot queue an audit event: %s", err.msg);
    if (answer)
        reply(s, rq->id, fail_open ? 0 : -1, -1, err.msg);
}

/* ---- checkpoints and rotations, off the reading thread ---- */

typedef struct ctl_ctx {
    signer *s;
    au_msg_type type;
    uint64_t id;
    char archive[4096 + 256];
} ctl_ctx;

static void *ctl_main(void *arg)
{
    ctl_ctx *c = arg;
    signer *s = c->s;
    cm_err err = {{0}};
    int rc = c->type == AU_MSG_CHECKPOINT ? au_log_checkpoint(s->log, &err)
                                          : au_log_rotate(s->log, c->archive, &err);
    reply(s, c->id, rc < 0 ? -1 : 0, -1, rc < 0 ? err.msg : "");
    free(c);
    pthread_mutex_lock(&s->mu);
    s->n_ctl--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void do_control(signer *s, const au_request *rq)
{
    ctl_ctx *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        reply(s, rq->id, -1, -1, "audit signer: out of memory");
        return;
    }
    c->s = s;
    c->type = rq->type;
    c->id = rq->id;
    if (rq->type == AU_MSG_ROTATE)
        snprintf(c->archive, sizeof(c->archive), "%s/%s", s->dir, rq->archive);
    pthread_mutex_lock(&s->mu);
    s->n_ctl++;
    pthread_mutex_unlock(&s->mu);
    pthread_t t;
    if (pthread_create(&t, NULL, ctl_main, c) != 0) {
        pthread_mutex_lock(&s->mu);
        s->n_ctl--;
        pthread_mutex_unlock(&s->mu);
        free(c);
        reply(s, rq->id, -1, -1, "audit signer: cannot start a thread");
        return;
    }
    pthread_detach(t);
}

/* ---- reading ---- */

/* The public key beside the private one, for verifiers that must not read
 * the private key (the network-facing process): written if missing. */
static void ensure_pubkey(const au_config *cfg, const char *dir)
{
    char key[4096 + 64], pub[4096 + 128];
    if (cfg->signing_key_path != NULL)
        snprintf(key, sizeof(key), "%s", cfg->signing_key_path);
    else
        snprintf(key, sizeof(key), "%s/audit-signing.key", dir);
    snprintf(pub, sizeof(pub), "%s.pub", key);
    struct stat st;
    if (stat(pub, &st) == 0)
        return;
    EVP_PKEY *k = NULL;
    cm_err err;
    char *pem = NULL;
    if (au_signing_key_load(key, &k, &err) == 0)
        pem = au_pubkey_pem(k, &err);
    EVP_PKEY_free(k);
    int fd = pem ? open(pub, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644) : -1;
    if (fd >= 0) {
        size_t n = strlen(pem);
        if (write(fd, pem, n) != (ssize_t)n)
            cm_log(CM_LOG_WARN, "audit-signer", "cannot write %s", pub);
        close(fd);
    } else {
        cm_log(CM_LOG_WARN, "audit-signer", "cannot write the public key %s", pub);
    }
    free(pem);
}

int au_signer_serve(int fd, const au_config *cfg)
{
    signer s = {.fd = fd};
    pthread_mutex_init(&s.send_mu, NULL);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", cfg->db_path ? cfg->db_path : "");
    snprintf(s.dir, sizeof(s.dir), "%s", dirname(tmp));
    cm_err err;
    if (au_log_open(cfg, &s.log, &err) < 0) {
        reply(&s, AU_MSG_HELLO_ID, -1, -1, err.msg);
        return 1;
    }
    ensure_pubkey(cfg, s.dir);
    /* The checkpoint side file exists from the start, so that a confined
     * reader that may only read the files present at start can read it. */
    char side[4096 + 32];
    snprintf(side, sizeof(side), "%s.checkpoints", cfg->db_path);
    int sfd = open(side, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (sfd >= 0)
        close(sfd);
    else
        cm_log(CM_LOG_WARN, "audit-signer", "cannot create %s: %s", side, strerror(errno));
    reply(&s, AU_MSG_HELLO_ID, 0, -1, "");
    int rc = 0;
    unsigned char *body = NULL;
    for (;;) {
        uint32_t n = 0;
        int r = au_msg_read_len(fd, &n);
        if (r == 0)
            break; /* gemmad closed its end: an orderly stop */
        if (r < 0 || n == 0 || n > AU_MSG_MAX) {
            cm_log(CM_LOG_ERR, "audit-signer", "bad frame from gemmad (%s); stopping",
                   r < 0 ? "read error" : "length out of range");
            rc = 1;
            break;
        }
        free(body);
        body = malloc(n);
        if (body == NULL || au_msg_read_full(fd, body, n) != 1) {
            cm_log(CM_LOG_ERR, "audit-signer", "cannot read a request from gemmad; stopping");
            rc = 1;
            break;
        }
        au_request rq;
        if (au_msg_parse_request(body, n, &rq, &err) < 0) {
            cm_log(CM_LOG_ERR, "audit-signer", "refusing gemmad's request: %s; stopping",
                   err.msg);
            rc = 1;
            break;
        }
        switch (rq.type) {
        case AU_MSG_APPEND: do_append(&s, &rq, cfg->fail_open); break;
        case AU_MSG_STATS: reply(&s, rq.id, 0, -1, ""); break;
        default: do_control(&s, &rq); break;
        }
        au_msg_request_free(&rq);
    }
    free(body);
    /* No more requests: finish the checkpoints and rotations under way,
     * then close (every queued event is answered, a final checkpoint
     * written). Stop sending first if the frame stream is broken. */
    if (rc != 0)
        shutdown(fd, SHUT_RDWR);
    pthread_mutex_lock(&s.mu);
    while (s.n_ctl > 0)
        pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    au_log_close(s.log);
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.mu);
    pthread_mutex_destroy(&s.send_mu);
    return rc;
}

void au_signer_harden(void)
{
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
}
