/*
 * policy/policy.c -- lifetime of a policy (reference counting, the
 * holder the daemon swaps on reload) and the names of actions and
 * reasons.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/internal.h"

static const char *const action_names[PL_ACT_COUNT] = {
    [PL_ACT_INFER] = "infer",
    [PL_ACT_MODELS_LIST] = "models.list",
    [PL_ACT_MODELS_LOAD] = "models.load",
    [PL_ACT_MODELS_UNLOAD] = "models.unload",
    [PL_ACT_STATUS_READ] = "status.read",
    [PL_ACT_METRICS_READ] = "metrics.read",
    [PL_ACT_AUDIT_READ] = "audit.read",
    [PL_ACT_AUDIT_VERIFY] = "audit.verify",
    [PL_ACT_POLICY_RELOAD] = "policy.reload",
    [PL_ACT_ADMIN] = "admin",
};

static const char *const reason_names[PL_REASON_COUNT] = {
    [PL_REASON_ALLOWED] = "allowed",
    [PL_REASON_NO_MATCHING_RULE] = "no_matching_rule",
    [PL_REASON_PERMISSION_DENIED] = "permission_denied",
    [PL_REASON_MODEL_NOT_ALLOWED] = "model_not_allowed",
    [PL_REASON_MAX_TOKENS_EXCEEDED] = "max_tokens_exceeded",
    [PL_REASON_PROMPT_TOO_LONG] = "prompt_too_long",
    [PL_REASON_RATE_LIMITED] = "rate_limited",
    [PL_REASON_TOKEN_RATE_LIMITED] = "token_rate_limited",
    [PL_REASON_CONCURRENCY_LIMITED] = "concurrency_limited",
    [PL_REASON_LIMITER_FULL] = "limiter_full",
};

const char *pl_action_name(pl_action a)
{
    return (unsigned)a < PL_ACT_COUNT ? action_names[a] : NULL;
}

int pl_action_parse(const char *name, pl_action *out, cm_err *err)
{
    for (unsigned i = 0; i < PL_ACT_COUNT; i++)
        if (strcmp(name, action_names[i]) == 0) {
            *out = (pl_action)i;
            return 0;
        }
    return cm_err_set(err,
                      "unknown action '%s' (expected infer, models.list, models.load, "
                      "models.unload, status.read, metrics.read, audit.read, audit.verify, "
                      "policy.reload, admin)",
                      name);
}

const char *pl_reason_name(pl_reason r)
{
    return (unsigned)r < PL_REASON_COUNT ? reason_names[r] : "unknown";
}

static void free_strmatch(pl_strmatch *sm)
{
    if (sm->set && sm->is_regex)
        regfree(&sm->re);
    free(sm->value);
}

void pl_policy_destroy(pl_policy *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_roles; i++) {
        pl_role *r = &p->roles[i];
        free(r->name);
        free(r->description);
        for (size_t j = 0; j < r->n_models; j++)
            free(r->models[j]);
        free(r->models);
    }
    free(p->roles);
    for (size_t i = 0; i < p->n_rules; i++) {
        pl_rule *r = &p->rules[i];
        free(r->name);
        free_strmatch(&r->subject);
        free_strmatch(&r->cn);
        free_strmatch(&r->ou);
        free_strmatch(&r->san_dns);
        free_strmatch(&r->san_uri);
    }
    free(p->rules);
    free(p->source);
    free(p);
}

pl_policy *pl_policy_ref(pl_policy *p)
{
    if (p != NULL)
        atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void pl_policy_unref(pl_policy *p)
{
    if (p != NULL && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        pl_policy_destroy(p);
}

size_t pl_policy_n_rules(const pl_policy *p) { return p->n_rules; }
size_t pl_policy_n_roles(const pl_policy *p) { return p->n_roles; }
const char *pl_policy_source(const pl_policy *p) { return p->source; }

struct pl_holder {
    pthread_mutex_t mu;
    pl_policy *cur;
};

int pl_holder_new(pl_policy *initial, pl_holder **out, cm_err *err)
{
    pl_holder *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return cm_err_set(err, "policy holder: out of memory");
    if (pthread_mutex_init(&h->mu, NULL) != 0) {
        free(h);
        return cm_err_set(err, "policy holder: cannot create a mutex");
    }
    h->cur = initial;
    *out = h;
    return 0;
}

void pl_holder_free(pl_holder *h)
{
    if (h == NULL)
        return;
    pl_policy_unref(h->cur);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

pl_policy *pl_holder_get(pl_holder *h)
{
    pthread_mutex_lock(&h->mu);
    pl_policy *p = pl_policy_ref(h->cur);
    pthread_mutex_unlock(&h->mu);
    return p;
}

void pl_holder_swap(pl_holder *h, pl_policy *next)
{
    pthread_mutex_lock(&h->mu);
    pl_policy *old = h->cur;
    h->cur = next;
    pthread_mutex_unlock(&h->mu);
    pl_policy_unref(old);
}

uint64_t pl_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
