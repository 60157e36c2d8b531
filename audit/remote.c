/*
 * audit/remote.c -- the client of the audit signer (remote.h): requests
 * are framed (msg.h) and written under one lock; a reader thread matches
 * each reply to its pending request by id and runs its callback.
 */
#include "audit/remote.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/msg.h"
#include "audit/waiter.h"
#include "common/log.h"

#define REPLY_MAX 4096
#define SEND_TIMEOUT_S 10

typedef struct pending {
    struct pending *prev, *next;
    uint64_t id;
    au_done_fn done;
    void *user;
} pending;

struct au_remote {
    int fd;
    pid_t pid;
    bool fail_open;
    pthread_t reader;
    bool reader_started;
    pthread_mutex_t send_mu;     /* one frame at a time */

    pthread_mutex_t mu;          /* guards what follows */
    pending *head, *tail;        /* oldest first: replies mostly come in order */
    uint64_t next_id;
    bool dead;                   /* the signer has gone: nothing more is sent */
    bool closing;                /* au_remote_close began */
    au_stats last;               /* counters of the latest reply */
    uint64_t local_failed;       /* appends that never reached the signer */
};

static const char *GONE = "the audit signer process has exited: the event cannot be recorded";

pid_t au_remote_pid(const au_remote *r)
{
    return r->pid;
}

/* ---- the pending table (under mu) ---- */

static void pend_add(au_remote *r, pending *p)
{
    p->next = NULL;
    p->prev = r->tail;
    if (r->tail)
        r->tail->next = p;
    else
        r->head = p;
    r->tail = p;
}

static void pend_remove(au_remote *r, pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        r->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        r->tail = p->prev;
    p->prev = p->next = NULL;
}

static pending *pend_find(au_remote *r, uint64_t id)
{
    for (pending *p = r->head; p; p = p->next)
        if (p->id == id)
            return p;
    return NULL;
}

static bool pend_has(au_remote *r, const pending *q)
{
    for (pending *p = r->head; p; p = p->next)
        if (p == q)
            return true;
    return false;
}

/* ---- sending ---- */

static int send_all(au_remote *r, const au_frame *f, cm_err *err)
{
    pthread_mutex_lock(&r->send_mu);
    size_t off = 0;
    int rc = 0;
    while (off < f->len) {
        ssize_t w = send(r->fd, f->p + off, f->len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = cm_err_errno(err, "audit signer: sending");
            /* A frame cut short would garble the stream: stop it here.
             * The reader then sees the end and fails what is pending. */
            shutdown(r->fd, SHUT_RDWR);
            break;
        }
        off += (size_t)w;
    }
    pthread_mutex_unlock(&r->send_mu);
    return rc;
}

/* Sends frame `f` as request `p` (p->id is set here; p == NULL: no
 * answer expected). On -1 the callback of p will not run. */
static int request(au_remote *r, au_frame *f, pending *p, cm_err *err)
{
    pthread_mutex_lock(&r->mu);
    if (r->dead || r->closing) {
        r->local_failed++;
        pthread_mutex_unlock(&r->mu);
        return cm_err_set(err, "%s", GONE);
    }
    uint64_t id = ++r->next_id;
    if (p != NULL) {
        p->id = id;
        pend_add(r, p);
    }
    pthread_mutex_unlock(&r->mu);
    /* The id sits at body offset 1 (after the length and the type). */
    for (int i = 0; i < 8; i++)
        f->p[5 + i] = (unsigned char)(id >> (8 * i));
    if (send_all(r, f, err) == 0)
        return 0;
    pthread_mutex_lock(&r->mu);
    r->local_failed++;
    bool mine = p != NULL && pend_has(r, p);
    if (mine)
        pend_remove(r, p);
    pthread_mutex_unlock(&r->mu);
    /* Not mine any more: the reader failed it already (callback ran). */
    return mine || p == NULL ? -1 : 0;
}

int au_remote_append_async(au_remote *r, const au_event *ev, au_done_fn done, void *user,
                           cm_err *err)
{
    au_event e = *ev;
    if (e.time_us == 0)
        e.time_us = au_now_us(); /* when it happened, not when the signer reads it */
    au_frame f;
    if (au_msg_encode_append(&f, 0, done ? AU_APPEND_REPLY : 0, &e, err) < 0) {
        pthread_mutex_lock(&r->mu);
        r->local_failed++;
        pthread_mutex_unlock(&r->mu);
        return -1;
    }
    pending *p = NULL;
    if (done != NULL) {
        p = calloc(1, sizeof(*p));
        if (p == NULL) {
            au_frame_free(&f);
            return cm_err_set(err, "audit: out of memory");
        }
        p->done = done;
        p->user = user;
    }
    int rc = request(r, &f, p, err);
    au_frame_free(&f);
    if (rc < 0)
        free(p);
    return rc;
}

/* ---- waiting ---- */

/* Sends `f` and waits for its reply (timeout_ms < 0: for ever). Returns
 * the reply's status (0 or -1), or -1 when it could not be sent or no
 * reply came in time. */
static int round_trip(au_remote *r, au_frame *f, int timeout_ms, int64_t *seq_out, cm_err *err)
{
    au_waiter w;
    au_waiter_init(&w);
    pending *p = calloc(1, sizeof(*p));
    int rc;
    if (p == NULL) {
        rc = cm_err_set(err, "audit: out of memory");
        goto out;
    }
    p->done = au_waiter_wake;
    p->user = &w;
    if (request(r, f, p, err) < 0) {
        free(p);
        rc = -1;
        goto out;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    if (timeout_ms >= 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&w.mu);
    while (!w.done) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&w.cv, &w.mu);
        } else if (pthread_cond_timedwait(&w.cv, &w.mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&w.mu);
            pthread_mutex_lock(&r->mu);
            bool mine = pend_has(r, p);
            if (mine)
                pend_remove(r, p);
            pthread_mutex_unlock(&r->mu);
            pthread_mutex_lock(&w.mu);
            if (mine) {
                free(p);
                pthread_mutex_unlock(&w.mu);
                rc = cm_err_set(err, "audit signer: no answer within %d ms", timeout_ms);
                goto out;
            }
            /* The reader has it: its answer is on the way. */
            timeout_ms = -1;
        }
    }
    pthread_mutex_unlock(&w.mu);
    rc = au_waiter_result(&w, seq_out, err);
out:
    au_waiter_destroy(&w);
    return rc;
}

int au_remote_append(au_remote *r, const au_event *ev, int64_t *seq_out, cm_err *err)
{
    au_event e = *ev;
    if (e.time_us == 0)
        e.time_us = au_now_us();
    au_frame f;
    if (au_msg_encode_append(&f, 0, AU_APPEND_REPLY, &e, err) < 0)
        return -1;
    int rc = round_trip(r, &f, -1, seq_out, err);
    au_frame_free(&f);
    return rc;
}

static int simple(au_remote *r, au_msg_type type, const char *archive, int timeout_ms,
                  cm_err *err)
{
    au_frame f;
    if (au_msg_encode_simple(&f, type, 0, archive, err) < 0)
        return -1;
    int rc = round_trip(r, &f, timeout_ms, NULL, err);
    au_frame_free(&f);
    return rc;
}

int au_remote_checkpoint(au_remote *r, cm_err *err)
{
    return simple(r, AU_MSG_CHECKPOINT, NULL, -1, err);
}

int au_remote_rotate(au_remote *r, const char *archive_name, cm_err *err)
{
    if (!au_msg_archive_name_ok(archive_name))
        return cm_err_set(err, "audit: '%s' is not a bare archive file name", archive_name);
    return simple(r, AU_MSG_ROTATE, archive_name, -1, err);
}

void au_remote_stats(au_remote *r, au_stats *out)
{
    cm_err err;
    (void)simple(r, AU_MSG_STATS, NULL, 1000, &err); /* refreshes r->last */
    pthread_mutex_lock(&r->mu);
    *out = r->last;
    out->failed += r->local_failed;
    pthread_mutex_unlock(&r->mu);
}

/* ---- receiving ---- */

static int read_reply(int fd, au_reply *rep, cm_err *err)
{
    unsigned char body[REPLY_MAX];
    uint32_t n = 0;
    int rc = au_msg_read_len(fd, &n);
    if (rc <= 0)
        return rc == 0 ? cm_err_set(err, "the audit signer closed the connection")
                       : cm_err_errno(err, "reading from the audit signer");
    if (n == 0 || n > REPLY_MAX)
        return cm_err_set(err, "audit signer: a reply of %u bytes", n);
    if (au_msg_read_full(fd, body, n) != 1)
        return cm_err_set(err, "audit signer: a reply cut short");
    return au_msg_parse_reply(body, n, rep, err);
}

static void reap(au_remote *r)
{
    if (r->pid <= 0)
        return;
    int st;
    pid_t got;
    do
        got = waitpid(r->pid, &st, 0);
    while (got < 0 && errno == EINTR);
    pthread_mutex_lock(&r->mu);
    bool closing = r->closing;
    pthread_mutex_unlock(&r->mu);
    if (got == r->pid) {
        bool clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (!clean || !closing) {
            char how[64];
            if (WIFSIGNALED(st))
                snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(st));
            else
                snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(st));
            cm_log(CM_LOG_ERR, "audit", "the audit signer process (pid %d) has ended (%s)%s",
                   (int)r->pid, how, closing ? "" : ": no audit event can be recorded any more");
        }
    }
    r->pid = 0;
}

static void *reader_main(void *arg)
{
    au_remote *r = arg;
    cm_err err;
    for (;;) {
        au_reply rep;
        if (read_reply(r->fd, &rep, &err) < 0)
            break;
        pthread_mutex_lock(&r->mu);
        r->last = rep.stats;
        pending *p = pend_find(r, rep.id);
        if (p != NULL)
            pend_remove(r, p);
        pthread_mutex_unlock(&r->mu);
        if (p != NULL) {
            p->done(p->user, rep.status, rep.seq, rep.msg);
            free(p);
        }
    }
    /* The signer has gone (or was told to go): fail what is pending. */
    pthread_mutex_lock(&r->mu);
    r->dead = true;
    pending *p = r->head;
    r->head = r->tail = NULL;
    pthread_mutex_unlock(&r->mu);
    while (p != NULL) {
        pending *next = p->next;
        p->done(p->user, r->fail_open ? 0 : -1, -1, GONE);
        free(p);
        p = next;
    }
    reap(r);
    return NULL;
}

int au_remote_connect(int fd, pid_t pid, bool fail_open, int timeout_ms, au_remote **out,
                      cm_err *err)
{
    *out = NULL;
    au_remote *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        close(fd);
        return cm_err_set(err, "audit: out of memory");
    }
    r->fd = fd;
    r->pid = pid;
    r->fail_open = fail_open;
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->send_mu, NULL);
    struct timeval tv = {.tv_sec = SEND_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n;
    do
        n = poll(&pfd, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    au_reply hello;
    int rc;
    if (n == 0)
        rc = cm_err_set(err, "the audit signer did not answer within %d ms", timeout_ms);
    else if (n < 0)
        rc = cm_err_errno(err, "waiting for the audit signer");
    else if (read_reply(fd, &hello, err) < 0)
        rc = cm_err_prefix(err, "the audit signer did not start");
    else if (hello.id != AU_MSG_HELLO_ID)
        rc = cm_err_set(err, "the audit signer did not say hello");
    else if (hello.status < 0)
        rc = cm_err_set(err, "%s", hello.msg);
    else
        rc = 0;
    if (rc < 0) {
        r->closing = true;
        if (pid > 0 && n == 0)
            kill(pid, SIGKILL);
        close(fd);
        reap(r);
        pthread_mutex_destroy(&r->mu);
        pthread_mutex_destroy(&r->send_mu);
        free(r);
        return -1;
    }
    r->last = hello.stats;
    *out = r;
    return 0;
}

int au_remote_start(au_remote *r, cm_err *err)
{
    if (pthread_create(&r->reader, NULL, reader_main, r) != 0)
        return cm_err_set(err, "audit: cannot start the signer's reply reader");
    r->reader_started = true;
    return 0;
}

void au_remote_close(au_remote *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->closing = true;
    pthread_mutex_unlock(&r->mu);
    /* The signer reads the end, finishes, checkpoints and exits; the
     * reader then sees the end of its replies and reaps it. */
    shutdown(r->fd, SHUT_WR);
    if (r->reader_started)
        pthread_join(r->reader, NULL);
    else
        reap(r);
    close(r->fd);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->send_mu);
    free(r);
}
