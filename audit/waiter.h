/*
 * audit/waiter.h -- a one-shot completion that a caller's thread waits on:
 * the local log (log.c) and the remote signer's client (remote.c) hand
 * au_waiter_wake as the au_done_fn of a request, then wait for it.
 */
#ifndef AU_WAITER_H
#define AU_WAITER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

typedef struct au_waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;             /* set once, by au_waiter_wake */
    int status;            /* the request's status: 0 or -1 */
    int64_t seq;           /* the row's seq, or -1 */
    char msg[CM_ERR_MAX];  /* the error, where status < 0 */
} au_waiter;

void au_waiter_init(au_waiter *w);
void au_waiter_destroy(au_waiter *w);
/* An au_done_fn: user is the au_waiter; records the result, wakes it. */
void au_waiter_wake(void *user, int status, int64_t seq, const char *msg);
/* Waits (without a time limit) until the waiter was woken. */
void au_waiter_wait(au_waiter *w);
/* The result of a woken waiter: its status (err set from its message where
 * it is < 0); *seq_out receives the seq when seq_out is not NULL. */
int au_waiter_result(const au_waiter *w, int64_t *seq_out, cm_err *err);

#endif
