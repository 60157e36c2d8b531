/*
 * policy/decide.c -- matching an identity against the rules (first match
 * wins) and checking the matched role's permissions and per-request
 * limits. Pure: reads the policy and the identity, writes the decision.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "policy/internal.h"

static bool str_ok(const pl_strmatch *sm, const char *v)
{
    if (!sm->set)
        return true;
    if (sm->is_regex)
        return regexec(&sm->re, v, 0, NULL, 0) == 0;
    return strcmp(sm->value, v) == 0;
}

static bool any_ok(const pl_strmatch *sm, const char (*vals)[256], unsigned n)
{
    if (!sm->set)
        return true;
    if (n > CM_ID_MAX_SANS)
        n = CM_ID_MAX_SANS;
    for (unsigned i = 0; i < n; i++)
        if (str_ok(sm, vals[i]))
            return true;
    return false;
}

static bool has_cert(const cm_identity *id)
{
    return id->fingerprint_sha256[0] != '\0';
}

static bool rule_matches(const pl_rule *r, const cm_identity *id)
{
    bool wants_cert = r->subject.set || r->cn.set || r->ou.set || r->san_dns.set ||
                      r->san_uri.set || r->has_fingerprint;
    if (wants_cert && !has_cert(id))
        return false;
    if (r->transport >= 0 && (int)id->transport != r->transport)
        return false;
    if (r->has_uid || r->has_gid) {
        if (id->transport != CM_TRANSPORT_UNIX || !id->has_peer_cred)
            return false;
        if (r->has_uid && id->peer_uid != r->uid)
            return false;
        if (r->has_gid && id->peer_gid != r->gid)
            return false;
    }
    if (r->has_fingerprint && strcasecmp(r->fingerprint, id->fingerprint_sha256) != 0)
        return false;
    return str_ok(&r->subject, id->subject_dn) && str_ok(&r->cn, id->cn) &&
           str_ok(&r->ou, id->ou) && any_ok(&r->san_dns, id->san_dns, id->n_san_dns) &&
           any_ok(&r->san_uri, id->san_uri, id->n_san_uri);
}

static bool model_ok(const pl_role *role, const char *model)
{
    if (role->admin || role->infer_all)
        return true;
    if (model == NULL)
        return false;
    for (size_t i = 0; i < role->n_models; i++)
        if (fnmatch(role->models[i], model, 0) == 0)
            return true;
    return false;
}

static void principal_of(const cm_identity *id, char *out, size_t cap)
{
    if (has_cert(id))
        snprintf(out, cap, "sha256:%.64s", id->fingerprint_sha256);
    else if (id->transport == CM_TRANSPORT_UNIX && id->has_peer_cred)
        snprintf(out, cap, "uid:%lu", (unsigned long)id->peer_uid);
    else
        snprintf(out, cap, "addr:%.60s", id->peer_addr);
}

static void deny(pl_decision *d, pl_reason why, int status)
{
    d->allow = false;
    d->reason = why;
    d->http_status = status;
}

void pl_decide(const pl_policy *p, const cm_identity *id, const pl_request *rq,
               pl_decision *d)
{
    memset(d, 0, sizeof(*d));
    d->rule_index = -1;
    principal_of(id, d->principal, sizeof(d->principal));
    const pl_rule *rule = NULL;
    for (size_t i = 0; i < p->n_rules; i++)
        if (rule_matches(&p->rules[i], id)) {
            rule = &p->rules[i];
            d->rule_index = (int)i;
            break;
        }
    if (rule == NULL) {
        deny(d, PL_REASON_NO_MATCHING_RULE, 403);
        return;
    }
    const pl_role *role = &p->roles[rule->role];
    snprintf(d->rule_name, sizeof(d->rule_name), "%s", rule->name);
    snprintf(d->role, sizeof(d->role), "%s", role->name);
    d->limits = role->limits;

    if ((unsigned)rq->action >= PL_ACT_COUNT ||
        (!role->admin && !(role->perms & (1u << rq->action)))) {
        deny(d, PL_REASON_PERMISSION_DENIED, 403);
        return;
    }
    if (rq->action == PL_ACT_INFER && !model_ok(role, rq->model)) {
        deny(d, PL_REASON_MODEL_NOT_ALLOWED, 403);
        return;
    }
    if (rq->action == PL_ACT_INFER) {
        const pl_limits *lim = &role->limits;
        if (lim->max_tokens != 0 && rq->max_tokens > lim->max_tokens) {
            deny(d, PL_REASON_MAX_TOKENS_EXCEEDED, 400);
            return;
        }
        if (lim->max_prompt_tokens != 0 && rq->prompt_tokens > lim->max_prompt_tokens) {
            deny(d, PL_REASON_PROMPT_TOO_LONG, 400);
            return;
        }
        d->max_tokens = rq->max_tokens != 0 ? rq->max_tokens : lim->max_tokens;
    }
    d->allow = true;
    d->reason = PL_REASON_ALLOWED;
    d->http_status = 200;
}
