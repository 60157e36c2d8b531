/*
 * policy/policy.h -- the access policy of gemmad: who (a verified client
 * certificate, or a Unix peer) may do what (an action, on which model),
 * and how much (rate, token and concurrency limits).
 *
 * A policy is read from a YAML file (gemmad-policy.yaml(5)) into an
 * immutable, reference-counted pl_policy. Deciding is pure: pl_decide()
 * reads the policy and the caller's cm_identity and never changes either,
 * so any thread may decide on a policy it holds a reference to.
 *
 * Reloading is atomic: load the new file into a new pl_policy (a bad file
 * leaves the old one in force), then swap it into a pl_holder; callers
 * that still hold the old one keep it until they drop their reference.
 *
 * Limits live in a pl_limiter, which is separate from the policy so its
 * state (token buckets, in-flight counts per principal) survives reloads.
 * It is internally locked; time is passed in by the caller (pl_now_us()
 * in production, a fake clock in tests).
 *
 * Typical use in the daemon, per request:
 *
 *     pl_policy *p = pl_holder_get(holder);           // +1 reference
 *     pl_request rq = {.action = PL_ACT_INFER, .model = "gemma-4-e2b",
 *                      .prompt_tokens = n, .max_tokens = m};
 *     pl_decision d;
 *     pl_decide(p, &id, &rq, &d);                     // who, what
 *     if (d.allow)
 *         pl_limiter_admit(lim, &d, &rq, pl_now_us()); // how much
 *     pl_policy_unref(p);
 *     if (!d.allow) answer d.http_status (403, 429 + Retry-After, 400)
 *     ... when the request ends:
 *     pl_limiter_release(lim, &d, completion_tokens, pl_now_us());
 */
#ifndef PL_POLICY_H
#define PL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/identity.h"

/* What a caller asks to do. */
typedef enum pl_action {
    PL_ACT_INFER = 0,       /* "infer": completions, chat (per model) */
    PL_ACT_MODELS_LIST,     /* "models.list" */
    PL_ACT_MODELS_LOAD,     /* "models.load" */
    PL_ACT_MODELS_UNLOAD,   /* "models.unload" */
    PL_ACT_STATUS_READ,     /* "status.read" */
    PL_ACT_METRICS_READ,    /* "metrics.read" */
    PL_ACT_AUDIT_READ,      /* "audit.read" */
    PL_ACT_AUDIT_VERIFY,    /* "audit.verify" */
    PL_ACT_POLICY_RELOAD,   /* "policy.reload" */
    PL_ACT_ADMIN,           /* "admin": what only the admin permission allows
                               (rotating the audit log) */
    PL_ACT_COUNT
} pl_action;

/* "infer", "models.list", ... ; NULL for an out-of-range value. */
const char *pl_action_name(pl_action a);
/* Parse an action name; returns -1 (and fills err) if unknown. */
int pl_action_parse(const char *name, pl_action *out, cm_err *err);

/* Why a decision came out as it did (pl_reason_name gives the code the
 * audit log records and the daemon may show). */
typedef enum pl_reason {
    PL_REASON_ALLOWED = 0,          /* "allowed" */
    PL_REASON_NO_MATCHING_RULE,     /* "no_matching_rule" -> 403 */
    PL_REASON_PERMISSION_DENIED,    /* "permission_denied" -> 403 */
    PL_REASON_MODEL_NOT_ALLOWED,    /* "model_not_allowed" -> 403 */
    PL_REASON_MAX_TOKENS_EXCEEDED,  /* "max_tokens_exceeded" -> 400 */
    PL_REASON_PROMPT_TOO_LONG,      /* "prompt_too_long" -> 400 */
    PL_REASON_RATE_LIMITED,         /* "rate_limited" (requests/min) -> 429 */
    PL_REASON_TOKEN_RATE_LIMITED,   /* "token_rate_limited" (tokens/min) -> 429 */
    PL_REASON_CONCURRENCY_LIMITED,  /* "concurrency_limited" -> 429 */
    PL_REASON_LIMITER_FULL,         /* "limiter_full": too many principals tracked -> 503 */
    PL_REASON_COUNT
} pl_reason;

const char *pl_reason_name(pl_reason r);

/* Limits of a role; 0 means "no limit". */
typedef struct pl_limits {
    uint32_t max_tokens;           /* completion tokens per request */
    uint32_t max_prompt_tokens;    /* prompt tokens per request */
    uint32_t requests_per_minute;  /* token bucket per principal */
    uint32_t tokens_per_minute;    /* prompt + completion, bucket per principal */
    uint32_t concurrent_requests;  /* in flight at once per principal */
} pl_limits;

/* One request, as the daemon knows it before running it. */
typedef struct pl_request {
    pl_action action;
    const char *model;        /* for PL_ACT_INFER/LOAD/UNLOAD; NULL = none */
    uint32_t prompt_tokens;   /* 0 if unknown or not an inference */
    uint32_t max_tokens;      /* requested completion tokens, 0 = not given */
} pl_request;

#define PL_NAME_MAX 128
#define PL_PRINCIPAL_MAX 80

/* The outcome. Plain data: copy it, keep it after the policy is gone. */
typedef struct pl_decision {
    bool allow;
    pl_reason reason;
    int http_status;            /* 200 when allowed, else 400/403/429/503 */
    uint32_t retry_after_s;     /* for 429: seconds until a retry can pass */
    char role[PL_NAME_MAX];     /* "" when no rule matched */
    int rule_index;             /* 0-based index in `rules:`, -1 = none */
    char rule_name[PL_NAME_MAX];/* the rule's name (or "rule N") */
    pl_limits limits;           /* the role's limits */
    uint32_t max_tokens;        /* effective completion budget: the request's
                                   max_tokens, or the role's limit when not
                                   given (0 = unlimited) */
    /* Filled by pl_decide, used by the limiter: */
    char principal[PL_PRINCIPAL_MAX]; /* "sha256:<fp>", "uid:N" or "addr:..." */
    bool admitted;              /* set by pl_limiter_admit; release it later */
    uint64_t charged_tokens;    /* tokens taken from the bucket at admit */
    uint64_t refundable_tokens; /* the completion part of charged_tokens */
} pl_decision;

/* ---- the policy ---- */

typedef struct pl_policy pl_policy;

/* Parse a policy file. On error, err says "FILE:LINE:COLUMN: what". */
int pl_policy_load_file(const char *path, pl_policy **out, cm_err *err);
/* Parse from memory; `name` is used in error messages. */
int pl_policy_load_buffer(const char *data, size_t len, const char *name,
                          pl_policy **out, cm_err *err);

/* Reference counting (atomic; any thread). unref(NULL) is a no-op. */
pl_policy *pl_policy_ref(pl_policy *p);
void pl_policy_unref(pl_policy *p);

/* Introspection, for gemmactl and status pages. */
size_t pl_policy_n_rules(const pl_policy *p);
size_t pl_policy_n_roles(const pl_policy *p);
const char *pl_policy_source(const pl_policy *p); /* file name given at load */

/* Decide who and what (no limits): match the rules in order against `id`
 * (first match wins), then check the matched role's permissions for
 * rq->action and rq->model, and the per-request token limits. Always
 * fills *out. Pure and thread-safe. */
void pl_decide(const pl_policy *p, const cm_identity *id, const pl_request *rq,
               pl_decision *out);

/* ---- atomic swapping (the daemon's current policy) ---- */

typedef struct pl_holder pl_holder;

/* Takes over the caller's reference to `initial` (may be NULL). */
int pl_holder_new(pl_policy *initial, pl_holder **out, cm_err *err);
void pl_holder_free(pl_holder *h);
/* Returns a new reference to the current policy (NULL if none). */
pl_policy *pl_holder_get(pl_holder *h);
/* Installs `next` (taking over the caller's reference) and drops the
 * holder's reference to the previous one. */
void pl_holder_swap(pl_holder *h, pl_policy *next);

/* ---- limits ---- */

typedef struct pl_limiter pl_limiter;

/* max_principals bounds memory (0 = default 65536). */
int pl_limiter_new(size_t max_principals, pl_limiter **out, cm_err *err);
void pl_limiter_free(pl_limiter *l);

/* For an allowed decision: charge the principal's buckets (one request;
 * prompt_tokens + max_tokens tokens) and count it in flight. If a limit is
 * hit, turns the decision into a denial (429, with retry_after_s) and
 * charges nothing. No-op on a denied decision. Returns d->allow. */
bool pl_limiter_admit(pl_limiter *l, pl_decision *d, const pl_request *rq,
                      uint64_t now_us);

/* When an admitted request ends: drop it from in-flight and refund the
 * unused part of the tokens charged at admit (used_tokens = completion
 * tokens actually produced). No-op unless d->admitted; clears it. */
void pl_limiter_release(pl_limiter *l, pl_decision *d, uint32_t used_tokens,
                        uint64_t now_us);

/* In flight now for a principal (for tests and status). */
uint32_t pl_limiter_in_flight(pl_limiter *l, const char *principal);
/* Principals currently tracked. */
size_t pl_limiter_size(pl_limiter *l);

/* CLOCK_MONOTONIC in microseconds. */
uint64_t pl_now_us(void);

#endif
