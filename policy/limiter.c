/*
 * policy/limiter.c -- per-principal limits: token buckets for requests
 * and tokens per minute, and in-flight counts. The state is keyed by the
 * principal (pl_decision.principal), not by the policy, so it survives
 * policy reloads; bucket sizes follow the role's current limits.
 *
 * Buckets are kept in integer "units": one request or token is 60,000,000
 * units and a bucket of rate R per minute refills R units per microsecond,
 * so refilling is exact integer arithmetic on the caller's clock.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "policy/internal.h"

#define UNIT 60000000ull          /* units per request/token; = us per minute */
#define N_BUCKETS 4096u

typedef struct bucket {
    uint64_t level;               /* units available */
    uint32_t rate;                /* per minute, as last seen */
} bucket;

typedef struct entry {
    struct entry *next;
    char key[PL_PRINCIPAL_MAX];
    bucket req, tok;
    uint64_t last_us;
    uint32_t in_flight;
} entry;

struct pl_limiter {
    pthread_mutex_t mu;
    entry *slots[N_BUCKETS];
    size_t size, max;
};

static uint32_t hash_key(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % N_BUCKETS;
}

int pl_limiter_new(size_t max_principals, pl_limiter **out, cm_err *err)
{
    pl_limiter *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return cm_err_set(err, "limiter: out of memory");
    if (pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l);
        return cm_err_set(err, "limiter: cannot create a mutex");
    }
    l->max = max_principals ? max_principals : 65536;
    *out = l;
    return 0;
}

void pl_limiter_free(pl_limiter *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < N_BUCKETS; i++)
        for (entry *e = l->slots[i], *nx; e != NULL; e = nx) {
            nx = e->next;
            free(e);
        }
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* Brings a bucket to `now` under the current rate (0 = unlimited). */
static void refill(bucket *b, uint32_t rate, uint64_t elapsed_us)
{
    uint64_t cap = (uint64_t)rate * UNIT;
    if (rate != b->rate) {
        if (b->rate == 0)
            b->level = cap;   /* a new limit starts full */
        b->rate = rate;
    }
    if (elapsed_us > UNIT)
        elapsed_us = UNIT;    /* a full refill takes one minute */
    b->level += elapsed_us * rate;
    if (b->level > cap)
        b->level = cap;
}

static bool is_idle(const entry *e)
{
    return e->in_flight == 0 && e->req.level >= (uint64_t)e->req.rate * UNIT &&
           e->tok.level >= (uint64_t)e->tok.rate * UNIT;
}

/* Drops entries that hold no state worth keeping (idle, buckets full). */
static void sweep(pl_limiter *l, uint64_t now_us)
{
    for (size_t i = 0; i < N_BUCKETS; i++) {
        entry **pp = &l->slots[i];
        while (*pp != NULL) {
            entry *e = *pp;
            uint64_t el = now_us > e->last_us ? now_us - e->last_us : 0;
            refill(&e->req, e->req.rate, el);
            refill(&e->tok, e->tok.rate, el);
            e->last_us = now_us;
            if (is_idle(e)) {
                *pp = e->next;
                free(e);
                l->size--;
            } else {
                pp = &e->next;
            }
        }
    }
}

static entry *find(pl_limiter *l, const char *key, bool create, uint64_t now_us)
{
    uint32_t h = hash_key(key);
    for (entry *e = l->slots[h]; e != NULL; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    if (!create)
        return NULL;
    if (l->size >= l->max)
        sweep(l, now_us);
    if (l->size >= l->max)
        return NULL;
    entry *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    strncpy(e->key, key, sizeof(e->key) - 1);
    e->last_us = now_us;
    e->next = l->slots[h];
    l->slots[h] = e;
    l->size++;
    return e;
}

/* Seconds until `need` units are in b (rounded up, at least 1). */
static uint32_t wait_s(const bucket *b, uint64_t need)
{
    uint64_t us = (need - b->level + b->rate - 1) / b->rate;
    uint64_t s = (us + 999999) / 1000000;
    return s == 0 ? 1 : (uint32_t)s;
}

static void deny(pl_decision *d, pl_reason why, int status, uint32_t retry)
{
    d->allow = false;
    d->reason = why;
    d->http_status = status;
    d->retry_after_s = retry;
}

bool pl_limiter_admit(pl_limiter *l, pl_decision *d, const pl_request *rq, uint64_t now_us)
{
    if (!d->allow)
        return false;
    const pl_limits *lim = &d->limits;
    if (lim->requests_per_minute == 0 && lim->tokens_per_minute == 0 &&
        lim->concurrent_requests == 0)
        return true; /* nothing to track */
    pthread_mutex_lock(&l->mu);
    entry *e = find(l, d->principal, true, now_us);
    if (e == NULL) {
        pthread_mutex_unlock(&l->mu);
        deny(d, PL_REASON_LIMITER_FULL, 503, 1);
        return false;
    }
    uint64_t el = now_us > e->last_us ? now_us - e->last_us : 0;
    e->last_us = now_us > e->last_us ? now_us : e->last_us;
    refill(&e->req, lim->requests_per_minute, el);
    refill(&e->tok, lim->tokens_per_minute, el);

    uint64_t completion = rq->action == PL_ACT_INFER ? d->max_tokens : 0;
    uint64_t prompt = rq->action == PL_ACT_INFER ? rq->prompt_tokens : 0;
    uint64_t tokens = prompt + completion;
    if (lim->tokens_per_minute != 0 && tokens > lim->tokens_per_minute) {
        /* Never more than a full bucket, or it could never pass. */
        completion = completion > tokens - lim->tokens_per_minute
                         ? completion - (tokens - lim->tokens_per_minute) : 0;
        tokens = lim->tokens_per_minute;
    }
    bool ok = true;
    if (lim->concurrent_requests != 0 && e->in_flight >= lim->concurrent_requests) {
        deny(d, PL_REASON_CONCURRENCY_LIMITED, 429, 1);
        ok = false;
    } else if (lim->requests_per_minute != 0 && e->req.level < UNIT) {
        deny(d, PL_REASON_RATE_LIMITED, 429, wait_s(&e->req, UNIT));
        ok = false;
    } else if (lim->tokens_per_minute != 0 && e->tok.level < tokens * UNIT) {
        deny(d, PL_REASON_TOKEN_RATE_LIMITED, 429, wait_s(&e->tok, tokens * UNIT));
        ok = false;
    }
    if (ok) {
        if (lim->requests_per_minute != 0)
            e->req.level -= UNIT;
        if (lim->tokens_per_minute != 0) {
            e->tok.level -= tokens * UNIT;
            d->charged_tokens = tokens;
            d->refundable_tokens = completion;
        }
        e->in_flight++;
        d->admitted = true;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

void pl_limiter_release(pl_limiter *l, pl_decision *d, uint32_t used_tokens, uint64_t now_us)
{
    if (!d->admitted)
        return;
    d->admitted = false;
    pthread_mutex_lock(&l->mu);
    entry *e = find(l, d->principal, false, now_us);
    if (e != NULL) {
        if (e->in_flight > 0)
            e->in_flight--;
        if (d->refundable_tokens > used_tokens && e->tok.rate != 0) {
            uint64_t refund = (d->refundable_tokens - used_tokens) * UNIT;
            uint64_t cap = (uint64_t)e->tok.rate * UNIT;
            e->tok.level = e->tok.level + refund > cap ? cap : e->tok.level + refund;
        } else if (used_tokens > d->refundable_tokens && e->tok.rate != 0) {
            /* More than was reserved (no max_tokens limit): charge the rest. */
            uint64_t extra = (uint64_t)(used_tokens - d->refundable_tokens) * UNIT;
            e->tok.level = e->tok.level > extra ? e->tok.level - extra : 0;
        }
    }
    pthread_mutex_unlock(&l->mu);
}

uint32_t pl_limiter_in_flight(pl_limiter *l, const char *principal)
{
    pthread_mutex_lock(&l->mu);
    entry *e = find(l, principal, false, 0);
    uint32_t n = e ? e->in_flight : 0;
    pthread_mutex_unlock(&l->mu);
    return n;
}

size_t pl_limiter_size(pl_limiter *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->size;
    pthread_mutex_unlock(&l->mu);
    return n;
}
