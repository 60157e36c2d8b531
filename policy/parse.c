/*
 * policy/parse.c -- reads a policy YAML file (gemmad-policy.yaml(5)) into
 * a pl_policy. Strict: unknown keys, duplicate keys, aliases, wrong types
 * and dangling role names are errors reported as "FILE:LINE:COLUMN: what".
 * The YAML is read by the shared reader (common/yaml_doc.h), which refuses
 * duplicate keys, aliases and oversized input itself.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/yaml_doc.h"
#include "policy/internal.h"

#define PL_MAX_FILE (4u << 20)   /* a policy is small; refuse huge input */
#define PL_MAX_ITEMS 10000       /* roles, rules, models per list */

typedef const cm_yaml_node node;

typedef struct pctx {
    cm_err *err;
    pl_policy *p;
} pctx;

/* Mapping `m` (`what` names it in messages), at most PL_MAX_ITEMS pairs. */
static int mapping(pctx *c, node *m, const char *what)
{
    if (cm_yaml_expect(m, CM_YAML_MAPPING, what, c->err) < 0)
        return -1;
    if (m->n > PL_MAX_ITEMS)
        return cm_yaml_fail(m, c->err, "%s has more than %u entries", what, PL_MAX_ITEMS);
    return 0;
}

/* List `s`, at most PL_MAX_ITEMS items. */
static int sequence(pctx *c, node *s, const char *what)
{
    if (cm_yaml_expect(s, CM_YAML_SEQUENCE, what, c->err) < 0)
        return -1;
    if (s->n > PL_MAX_ITEMS)
        return cm_yaml_fail(s, c->err, "%s has more than %u items", what, PL_MAX_ITEMS);
    return 0;
}

static bool is(node *k, const char *key)
{
    return strcmp(k->text, key) == 0;
}

static int parse_u32(pctx *c, node *n, const char *what, uint32_t *out)
{
    return cm_yaml_u32(n, what, 0, UINT32_MAX, out, c->err);
}

static int check_name(pctx *c, node *n, const char *what)
{
    const char *s = n->text;
    if (*s == '\0' || n->len >= PL_NAME_MAX)
        return cm_yaml_fail(n, c->err, "%s must be 1 to %d characters", what, PL_NAME_MAX - 1);
    for (const char *q = s; *q != '\0'; q++)
        if (!isalnum((unsigned char)*q) && *q != '_' && *q != '-' && *q != '.')
            return cm_yaml_fail(n, c->err,
                                "%s '%s' may only contain letters, digits, '_', '-' and '.'",
                                what, s);
    return 0;
}

/* ---- roles ---- */

static int parse_models(pctx *c, pl_role *r, node *v)
{
    if (v->kind == CM_YAML_SCALAR) {
        if (strcmp(v->text, "*") != 0 && strcmp(v->text, "all") != 0)
            return cm_yaml_fail(v, c->err,
                                "infer takes a list of model names, or '*' for all models");
        r->infer_all = true;
        return 0;
    }
    if (sequence(c, v, "infer's model list") < 0)
        return -1;
    if (v->n == 0)
        return cm_yaml_fail(v, c->err,
                            "infer's model list is empty (leave 'infer' out to deny inference)");
    r->models = calloc(v->n, sizeof(char *));
    if (r->models == NULL)
        return cm_yaml_fail(v, c->err, "out of memory");
    for (size_t i = 0; i < v->n; i++) {
        if (cm_yaml_strdup(v->items[i], "a model name", 255, &r->models[i], c->err) < 0)
            return -1;
        r->n_models++;
        if (r->models[i][0] == '\0')
            return cm_yaml_fail(v->items[i], c->err, "a model name is empty");
    }
    return 0;
}

static int parse_permission(pctx *c, pl_role *r, node *n)
{
    if (n->kind == CM_YAML_MAPPING) {
        if (n->n != 1 || !is(n->keys[0], "infer"))
            return cm_yaml_fail(n, c->err,
                                "a permission with arguments must be 'infer: [MODEL, ...]'");
        if (r->infer_all || r->n_models > 0)
            return cm_yaml_fail(n, c->err, "permission 'infer' is given twice");
        if (parse_models(c, r, n->items[0]) < 0)
            return -1;
        r->perms |= 1u << PL_ACT_INFER;
        return 0;
    }
    const char *s;
    if (cm_yaml_text(n, "a permission", &s, c->err) < 0)
        return -1;
    if (strcmp(s, "admin") == 0) {
        r->admin = true;
        return 0;
    }
    pl_action a;
    if (pl_action_parse(s, &a, NULL) < 0)
        return cm_yaml_fail(n, c->err,
                            "unknown permission '%s' (expected infer, models.list, models.load, "
                            "models.unload, status.read, metrics.read, audit.read, "
                            "audit.verify, policy.reload or admin)",
                            s);
    if (r->perms & (1u << a))
        return cm_yaml_fail(n, c->err, "permission '%s' is given twice", s);
    if (a == PL_ACT_INFER)
        r->infer_all = true;
    r->perms |= 1u << a;
    return 0;
}

static int parse_limits(pctx *c, pl_role *r, node *m)
{
    if (mapping(c, m, "limits") < 0)
        return -1;
    static const struct {
        const char *key;
        size_t off;
    } fields[] = {
        {"max_tokens", offsetof(pl_limits, max_tokens)},
        {"max_prompt_tokens", offsetof(pl_limits, max_prompt_tokens)},
        {"requests_per_minute", offsetof(pl_limits, requests_per_minute)},
        {"tokens_per_minute", offsetof(pl_limits, tokens_per_minute)},
        {"concurrent_requests", offsetof(pl_limits, concurrent_requests)},
    };
    const size_t n_fields = sizeof(fields) / sizeof(fields[0]);
    for (size_t i = 0; i < m->n; i++) {
        size_t f = 0;
        while (f < n_fields && !is(m->keys[i], fields[f].key))
            f++;
        if (f == n_fields)
            return cm_yaml_unknown_key(m->keys[i], "in limits",
                                       "max_tokens, max_prompt_tokens, requests_per_minute, "
                                       "tokens_per_minute, concurrent_requests",
                                       c->err);
        uint32_t *dst = (uint32_t *)((char *)&r->limits + fields[f].off);
        if (parse_u32(c, m->items[i], fields[f].key, dst) < 0)
            return -1;
    }
    return 0;
}

static int parse_permissions(pctx *c, pl_role *r, node *list)
{
    if (sequence(c, list, "permissions") < 0)
        return -1;
    for (size_t j = 0; j < list->n; j++)
        if (parse_permission(c, r, list->items[j]) < 0)
            return -1;
    return 0;
}

static int parse_role(pctx *c, pl_role *r, node *m)
{
    char what[PL_NAME_MAX + 16];
    snprintf(what, sizeof(what), "role '%s'", r->name);
    if (mapping(c, m, what) < 0)
        return -1;
    bool have_perms = false;
    for (size_t i = 0; i < m->n; i++) {
        node *k = m->keys[i], *v = m->items[i];
        int rc;
        if (is(k, "description")) {
            rc = cm_yaml_strdup(v, "description", 1024, &r->description, c->err);
        } else if (is(k, "permissions")) {
            have_perms = true;
            rc = parse_permissions(c, r, v);
        } else if (is(k, "limits")) {
            rc = parse_limits(c, r, v);
        } else {
            char where[PL_NAME_MAX + 20];
            snprintf(where, sizeof(where), "in %s", what);
            rc = cm_yaml_unknown_key(k, where, "description, permissions, limits", c->err);
        }
        if (rc < 0)
            return -1;
    }
    if (!have_perms)
        return cm_yaml_fail(m, c->err,
                            "%s has no 'permissions' (give an empty list to allow nothing)",
                            what);
    return 0;
}

static int parse_roles(pctx *c, node *m)
{
    if (mapping(c, m, "roles") < 0)
        return -1;
    c->p->roles = calloc(m->n ? m->n : 1, sizeof(pl_role));
    if (c->p->roles == NULL)
        return cm_yaml_fail(m, c->err, "out of memory");
    for (size_t i = 0; i < m->n; i++) {
        pl_role *r = &c->p->roles[i];
        if (check_name(c, m->keys[i], "role name") < 0)
            return -1;
        r->name = strdup(m->keys[i]->text);
        c->p->n_roles++;
        if (r->name == NULL)
            return cm_yaml_fail(m->keys[i], c->err, "out of memory");
        if (parse_role(c, r, m->items[i]) < 0)
            return -1;
    }
    return 0;
}

/* ---- rules ---- */

static int set_str(pctx *c, pl_strmatch *sm, node *v, const char *key, bool regex)
{
    if (sm->set)
        return cm_yaml_fail(v, c->err, "'%s' and '%s_regex' cannot both be given", key, key);
    if (cm_yaml_strdup(v, key, 1024, &sm->value, c->err) < 0)
        return -1;
    sm->set = true;
    sm->is_regex = regex;
    if (!regex)
        return 0;
    size_t len = strlen(sm->value) + 5;
    char *anch = malloc(len);
    if (anch == NULL)
        return cm_yaml_fail(v, c->err, "out of memory");
    snprintf(anch, len, "^(%s)$", sm->value);
    int rc = regcomp(&sm->re, anch, REG_EXTENDED | REG_NOSUB);
    free(anch);
    if (rc != 0) {
        char buf[256];
        regerror(rc, &sm->re, buf, sizeof(buf));
        sm->is_regex = false; /* nothing compiled to free */
        return cm_yaml_fail(v, c->err, "bad regular expression '%s': %s", sm->value, buf);
    }
    return 0;
}

static int parse_fingerprint(pctx *c, pl_rule *r, node *v)
{
    const char *s;
    if (cm_yaml_text(v, "fingerprint", &s, c->err) < 0)
        return -1;
    const char *q = s;
    if (strncasecmp(q, "sha256:", 7) == 0)
        q += 7;
    size_t n = 0;
    for (; *q != '\0'; q++) {
        if (*q == ':')
            continue;
        if (!isxdigit((unsigned char)*q) || n == 64)
            return cm_yaml_fail(v, c->err,
                                "fingerprint must be 64 hex digits (SHA-256; colons allowed)");
        r->fingerprint[n++] = (char)tolower((unsigned char)*q);
    }
    if (n != 64)
        return cm_yaml_fail(v, c->err,
                            "fingerprint must be 64 hex digits (SHA-256; colons allowed)");
    r->fingerprint[64] = '\0';
    r->has_fingerprint = true;
    return 0;
}

/* subject, cn, ou, san_dns, san_uri, each also with _regex: 1 when `k`
 * is one of those (*rc then says how it went), 0 when not. */
static int match_string(pctx *c, pl_rule *r, node *k, node *v, int *rc)
{
    static const struct {
        const char *key;
        size_t off;
    } strs[] = {
        {"subject", offsetof(pl_rule, subject)}, {"cn", offsetof(pl_rule, cn)},
        {"ou", offsetof(pl_rule, ou)},           {"san_dns", offsetof(pl_rule, san_dns)},
        {"san_uri", offsetof(pl_rule, san_uri)},
    };
    for (size_t f = 0; f < sizeof(strs) / sizeof(strs[0]); f++) {
        size_t kl = strlen(strs[f].key);
        pl_strmatch *sm = (pl_strmatch *)((char *)r + strs[f].off);
        if (is(k, strs[f].key)) {
            *rc = set_str(c, sm, v, strs[f].key, false);
            return 1;
        }
        if (strncmp(k->text, strs[f].key, kl) == 0 && strcmp(k->text + kl, "_regex") == 0) {
            *rc = set_str(c, sm, v, strs[f].key, true);
            return 1;
        }
    }
    return 0;
}

static int parse_match(pctx *c, pl_rule *r, node *m)
{
    static const cm_yaml_enum transports[] = {
        {"unix", CM_TRANSPORT_UNIX},
        {"tcp", CM_TRANSPORT_TCP},
    };
    if (mapping(c, m, "match") < 0)
        return -1;
    if (m->n == 0)
        return cm_yaml_fail(m, c->err, "match needs at least one condition");
    for (size_t i = 0; i < m->n; i++) {
        node *k = m->keys[i], *v = m->items[i];
        int rc = 0;
        uint32_t u;
        if (match_string(c, r, k, v, &rc)) {
            /* rc says */
        } else if (is(k, "fingerprint")) {
            rc = parse_fingerprint(c, r, v);
        } else if (is(k, "uid")) {
            rc = parse_u32(c, v, "uid", &u);
            r->uid = (uid_t)u;
            r->has_uid = true;
        } else if (is(k, "gid")) {
            rc = parse_u32(c, v, "gid", &u);
            r->gid = (gid_t)u;
            r->has_gid = true;
        } else if (is(k, "transport")) {
            rc = cm_yaml_enum_get(v, "transport", transports, 2, &r->transport, c->err);
        } else {
            rc = cm_yaml_unknown_key(k, "in match",
                                     "subject, cn, ou, san_dns, san_uri (each also with "
                                     "_regex), fingerprint, uid, gid, transport",
                                     c->err);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* The index of the role that `role_node` names. */
static int find_role(pctx *c, pl_rule *r, size_t idx, node *role_node)
{
    const char *rn;
    if (cm_yaml_text(role_node, "role", &rn, c->err) < 0)
        return -1;
    size_t k = 0;
    while (k < c->p->n_roles && strcmp(c->p->roles[k].name, rn) != 0)
        k++;
    if (k == c->p->n_roles)
        return cm_yaml_fail(role_node, c->err,
                            "rule %zu names role '%s', which is not defined in 'roles'", idx, rn);
    r->role = k;
    return 0;
}

static int parse_rule(pctx *c, pl_rule *r, size_t idx, node *m)
{
    r->transport = -1;
    if (mapping(c, m, "a rule") < 0)
        return -1;
    node *role_node = NULL, *match_node = NULL;
    for (size_t i = 0; i < m->n; i++) {
        node *k = m->keys[i], *v = m->items[i];
        int rc = 0;
        if (is(k, "name")) {
            rc = cm_yaml_strdup(v, "name", PL_NAME_MAX - 1, &r->name, c->err);
        } else if (is(k, "role")) {
            role_node = v;
        } else if (is(k, "match")) {
            match_node = v;
            rc = parse_match(c, r, v);
        } else {
            rc = cm_yaml_unknown_key(k, "in a rule", "name, match, role", c->err);
        }
        if (rc < 0)
            return -1;
    }
    if (match_node == NULL)
        return cm_yaml_fail(m, c->err, "rule %zu has no 'match'", idx);
    if (role_node == NULL)
        return cm_yaml_fail(m, c->err, "rule %zu has no 'role'", idx);
    if (find_role(c, r, idx, role_node) < 0)
        return -1;
    if (r->name == NULL) {
        char buf[32];
        snprintf(buf, sizeof(buf), "rule %zu", idx);
        r->name = strdup(buf);
        if (r->name == NULL)
            return cm_yaml_fail(m, c->err, "out of memory");
    }
    return 0;
}

static int parse_rules(pctx *c, node *s)
{
    if (sequence(c, s, "rules") < 0)
        return -1;
    c->p->rules = calloc(s->n ? s->n : 1, sizeof(pl_rule));
    if (c->p->rules == NULL)
        return cm_yaml_fail(s, c->err, "out of memory");
    for (size_t i = 0; i < s->n; i++) {
        c->p->n_rules++;
        if (parse_rule(c, &c->p->rules[i], i, s->items[i]) < 0)
            return -1;
    }
    return 0;
}

static int parse_root(pctx *c, node *root)
{
    if (mapping(c, root, "the policy") < 0)
        return -1;
    node *roles = NULL, *rules = NULL;
    for (size_t i = 0; i < root->n; i++) {
        node *k = root->keys[i], *v = root->items[i];
        if (is(k, "version")) {
            uint32_t ver;
            if (parse_u32(c, v, "version", &ver) < 0)
                return -1;
            if (ver != 1)
                return cm_yaml_fail(v, c->err,
                                    "unsupported policy version %u (this gemmad reads 1)", ver);
        } else if (is(k, "roles")) {
            roles = v;
        } else if (is(k, "rules")) {
            rules = v;
        } else {
            return cm_yaml_unknown_key(k, "at top level", "version, roles, rules", c->err);
        }
    }
    if (roles == NULL)
        return cm_yaml_fail(root, c->err, "the policy has no 'roles'");
    if (parse_roles(c, roles) < 0)
        return -1;
    if (rules == NULL)
        return cm_yaml_fail(root, c->err,
                            "the policy has no 'rules' (give an empty list to deny everyone)");
    return parse_rules(c, rules);
}

static const cm_yaml_limits policy_limits = {.max_bytes = PL_MAX_FILE};

/* The policy a loaded document says. */
static int policy_from_doc(const cm_yaml_doc *doc, const char *name, pl_policy **out,
                           cm_err *err)
{
    node *root = cm_yaml_root(doc);
    if (root == NULL)
        return cm_err_set(err, "%s: the policy is empty", name);
    pctx c = {.err = err, .p = calloc(1, sizeof(pl_policy))};
    if (c.p == NULL)
        return cm_err_set(err, "%s: out of memory", name);
    atomic_init(&c.p->refs, 1);
    c.p->source = strdup(name);
    int rc;
    if (c.p->source == NULL)
        rc = cm_err_set(err, "%s: out of memory", name);
    else
        rc = parse_root(&c, root);
    if (rc == 0)
        *out = c.p;
    else
        pl_policy_destroy(c.p);
    return rc;
}

int pl_policy_load_buffer(const char *data, size_t len, const char *name, pl_policy **out,
                          cm_err *err)
{
    *out = NULL;
    if (name == NULL)
        name = "<policy>";
    cm_yaml_doc *doc;
    if (cm_yaml_parse(data, len, name, &policy_limits, &doc, err) < 0)
        return -1;
    int rc = policy_from_doc(doc, name, out, err);
    cm_yaml_free(doc);
    return rc;
}

int pl_policy_load_file(const char *path, pl_policy **out, cm_err *err)
{
    *out = NULL;
    cm_yaml_doc *doc;
    if (cm_yaml_load(path, &policy_limits, false, &doc, err) < 0)
        return -1;
    int rc = policy_from_doc(doc, path, out, err);
    cm_yaml_free(doc);
    return rc;
}
