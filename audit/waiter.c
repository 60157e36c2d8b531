/*
 * audit/waiter.c -- a one-shot completion that a caller's thread waits on
 * (see waiter.h).
 */
#include "audit/waiter.h"

#include <stdio.h>

void au_waiter_init(au_waiter *w)
{
    w->done = false;
    w->status = 0;
    w->seq = 0;
    w->msg[0] = '\0';
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

void au_waiter_destroy(au_waiter *w)
{
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

void au_waiter_wake(void *user, int status, int64_t seq, const char *msg)
{
    au_waiter *w = user;
    pthread_mutex_lock(&w->mu);
    w->status = status;
    w->seq = seq;
    snprintf(w->msg, sizeof(w->msg), "%s", msg ? msg : "");
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void au_waiter_wait(au_waiter *w)
{
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

int au_waiter_result(const au_waiter *w, int64_t *seq_out, cm_err *err)
{
    if (w->status < 0)
        cm_err_set(err, "%s", w->msg);
    if (seq_out != NULL)
        *seq_out = w->seq;
    return w->status;
}
