/*
 * policy/parse.c -- reads a policy YAML file (gemmad-policy.yaml(5)) into
 * a pl_policy. Strict: unknown keys, duplicate keys, aliases, wrong types
 * and dangling role names are errors reported as "FILE:LINE:COLUMN: what".
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "policy/internal.h"

#define PL_MAX_FILE (4u << 20)   /* a policy is small; refuse huge input */
#define PL_MAX_ITEMS 10000       /* roles, rules, models per list */

typedef struct pctx {
    yaml_document_t doc;
    const char *name;
    cm_err *err;
    unsigned char *seen;  /* node index -> visited (aliases are refused) */
    size_t n_nodes;
    pl_policy *p;
} pctx;

static int perr(pctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(pctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[CM_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n != NULL)
        return cm_err_set(c->err, "%s:%zu:%zu: %s", c->name, (size_t)n->start_mark.line + 1,
                          (size_t)n->start_mark.column + 1, msg);
    return cm_err_set(c->err, "%s: %s", c->name, msg);
}

/* Fetches node `id`, refusing a node reached twice (an alias). */
static yaml_node_t *get(pctx *c, int id, const yaml_node_t *parent)
{
    yaml_node_t *n = yaml_document_get_node(&c->doc, id);
    if (n == NULL || id < 1 || (size_t)id > c->n_nodes) {
        perr(c, parent, "malformed document");
        return NULL;
    }
    if (c->seen[id - 1]) {
        perr(c, n, "aliases (*name) are not allowed in a policy");
        return NULL;
    }
    c->seen[id - 1] = 1;
    return n;
}

static const char *kind_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "empty";
    }
}

/* A scalar's text, or NULL with an error. Scalars are NUL-free strings
 * only if libyaml gave no embedded NUL; refuse those. */
static const char *scalar(pctx *c, const yaml_node_t *n, const char *what)
{
    if (n->type != YAML_SCALAR_NODE) {
        perr(c, n, "%s must be a scalar, not %s", what, kind_name(n));
        return NULL;
    }
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length) {
        perr(c, n, "%s contains a NUL byte", what);
        return NULL;
    }
    return s;
}

static char *dup_scalar(pctx *c, const yaml_node_t *n, const char *what, size_t max)
{
    const char *s = scalar(c, n, what);
    if (s == NULL)
        return NULL;
    if (strlen(s) > max) {
        perr(c, n, "%s is longer than %zu characters", what, max);
        return NULL;
    }
    char *d = strdup(s);
    if (d == NULL)
        perr(c, n, "out of memory");
    return d;
}

static int parse_u32(pctx *c, const yaml_node_t *n, const char *what, uint32_t *out)
{
    const char *s = scalar(c, n, what);
    if (s == NULL)
        return -1;
    if (*s == '\0')
        return perr(c, n, "%s must be a whole number", what);
    uint64_t v = 0;
    for (const char *q = s; *q != '\0'; q++) {
        if (!isdigit((unsigned char)*q))
            return perr(c, n, "%s must be a whole number, not '%s'", what, s);
        v = v * 10 + (uint64_t)(*q - '0');
        if (v > UINT32_MAX)
            return perr(c, n, "%s is too large (at most %u)", what, UINT32_MAX);
    }
    *out = (uint32_t)v;
    return 0;
}

/* Iterates a mapping's pairs: checks the key is a unique scalar. */
typedef struct kv {
    yaml_node_t *key;
    const char *k;
    yaml_node_t *val;
} kv;

static int mapping_items(pctx *c, yaml_node_t *m, const char *what, kv **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (m->type != YAML_MAPPING_NODE)
        return perr(c, m, "%s must be a mapping (key: value), not %s", what, kind_name(m));
    size_t n = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
    if (n > PL_MAX_ITEMS)
        return perr(c, m, "%s has more than %u entries", what, PL_MAX_ITEMS);
    kv *items = calloc(n ? n : 1, sizeof(*items));
    if (items == NULL)
        return perr(c, m, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pr = m->data.mapping.pairs.start + i;
        items[i].key = get(c, pr->key, m);
        if (items[i].key == NULL)
            goto fail;
        items[i].k = scalar(c, items[i].key, "a key");
        if (items[i].k == NULL)
            goto fail;
        for (size_t j = 0; j < i; j++)
            if (strcmp(items[j].k, items[i].k) == 0) {
                perr(c, items[i].key, "duplicate key '%s' in %s", items[i].k, what);
                goto fail;
            }
        items[i].val = get(c, pr->value, items[i].key);
        if (items[i].val == NULL)
            goto fail;
    }
    *out = items;
    *n_out = n;
    return 0;
fail:
    free(items);
    return -1;
}

static int sequence_items(pctx *c, yaml_node_t *s, const char *what, yaml_node_t ***out,
                          size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (s->type != YAML_SEQUENCE_NODE)
        return perr(c, s, "%s must be a list, not %s", what, kind_name(s));
    size_t n = (size_t)(s->data.sequence.items.top - s->data.sequence.items.start);
    if (n > PL_MAX_ITEMS)
        return perr(c, s, "%s has more than %u items", what, PL_MAX_ITEMS);
    yaml_node_t **items = calloc(n ? n : 1, sizeof(*items));
    if (items == NULL)
        return perr(c, s, "out of memory");
    for (size_t i = 0; i < n; i++) {
        items[i] = get(c, s->data.sequence.items.start[i], s);
        if (items[i] == NULL) {
            free(items);
            return -1;
        }
    }
    *out = items;
    *n_out = n;
    return 0;
}

static int check_name(pctx *c, const yaml_node_t *n, const char *s, const char *what)
{
    if (*s == '\0' || strlen(s) >= PL_NAME_MAX)
        return perr(c, n, "%s must be 1 to %d characters", what, PL_NAME_MAX - 1);
    for (const char *q = s; *q != '\0'; q++)
        if (!isalnum((unsigned char)*q) && *q != '_' && *q != '-' && *q != '.')
            return perr(c, n, "%s '%s' may only contain letters, digits, '_', '-' and '.'",
                        what, s);
    return 0;
}

/* ---- roles ---- */

static int parse_models(pctx *c, pl_role *r, yaml_node_t *v)
{
    if (v->type == YAML_SCALAR_NODE) {
        const char *s = scalar(c, v, "infer");
        if (s == NULL)
            return -1;
        if (strcmp(s, "*") != 0 && strcmp(s, "all") != 0)
            return perr(c, v, "infer takes a list of model names, or '*' for all models");
        r->infer_all = true;
        return 0;
    }
    yaml_node_t **items;
    size_t n;
    if (sequence_items(c, v, "infer's model list", &items, &n) < 0)
        return -1;
    if (n == 0) {
        free(items);
        return perr(c, v, "infer's model list is empty (leave 'infer' out to deny inference)");
    }
    r->models = calloc(n, sizeof(char *));
    if (r->models == NULL) {
        free(items);
        return perr(c, v, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        r->models[i] = dup_scalar(c, items[i], "a model name", 255);
        if (r->models[i] == NULL) {
            free(items);
            return -1;
        }
        r->n_models++;
        if (r->models[i][0] == '\0') {
            perr(c, items[i], "a model name is empty");
            free(items);
            return -1;
        }
    }
    free(items);
    return 0;
}

static int parse_permission(pctx *c, pl_role *r, yaml_node_t *n)
{
    if (n->type == YAML_MAPPING_NODE) {
        kv *items;
        size_t m;
        if (mapping_items(c, n, "a permission", &items, &m) < 0)
            return -1;
        int rc = 0;
        if (m != 1 || strcmp(items[0].k, "infer") != 0)
            rc = perr(c, n, "a permission with arguments must be 'infer: [MODEL, ...]'");
        else if (r->infer_all || r->n_models > 0)
            rc = perr(c, n, "permission 'infer' is given twice");
        else
            rc = parse_models(c, r, items[0].val);
        if (rc == 0)
            r->perms |= 1u << PL_ACT_INFER;
        free(items);
        return rc;
    }
    const char *s = scalar(c, n, "a permission");
    if (s == NULL)
        return -1;
    if (strcmp(s, "admin") == 0) {
        r->admin = true;
        return 0;
    }
    pl_action a;
    if (pl_action_parse(s, &a, NULL) < 0)
        return perr(c, n,
                    "unknown permission '%s' (expected infer, models.list, models.load, "
                    "models.unload, status.read, metrics.read, audit.read, audit.verify, "
                    "policy.reload or admin)",
                    s);
    if (r->perms & (1u << a))
        return perr(c, n, "permission '%s' is given twice", s);
    if (a == PL_ACT_INFER)
        r->infer_all = true;
    r->perms |= 1u << a;
    return 0;
}

static int parse_limits(pctx *c, pl_role *r, yaml_node_t *m)
{
    kv *items;
    size_t n;
    if (mapping_items(c, m, "limits", &items, &n) < 0)
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
    for (size_t i = 0; i < n; i++) {
        size_t f = 0;
        while (f < sizeof(fields) / sizeof(fields[0]) && strcmp(fields[f].key, items[i].k) != 0)
            f++;
        if (f == sizeof(fields) / sizeof(fields[0])) {
            perr(c, items[i].key,
                 "unknown key '%s' in limits (expected max_tokens, max_prompt_tokens, "
                 "requests_per_minute, tokens_per_minute, concurrent_requests)",
                 items[i].k);
            free(items);
            return -1;
        }
        uint32_t *dst = (uint32_t *)((char *)&r->limits + fields[f].off);
        if (parse_u32(c, items[i].val, items[i].k, dst) < 0) {
            free(items);
            return -1;
        }
    }
    free(items);
    return 0;
}

static int parse_role(pctx *c, pl_role *r, yaml_node_t *m)
{
    kv *items;
    size_t n;
    char what[PL_NAME_MAX + 16];
    snprintf(what, sizeof(what), "role '%s'", r->name);
    if (mapping_items(c, m, what, &items, &n) < 0)
        return -1;
    bool have_perms = false;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (strcmp(items[i].k, "description") == 0) {
            r->description = dup_scalar(c, items[i].val, "description", 1024);
            rc = r->description ? 0 : -1;
        } else if (strcmp(items[i].k, "permissions") == 0) {
            yaml_node_t **perms;
            size_t np;
            have_perms = true;
            rc = sequence_items(c, items[i].val, "permissions", &perms, &np);
            for (size_t j = 0; rc == 0 && j < np; j++)
                rc = parse_permission(c, r, perms[j]);
            free(perms);
        } else if (strcmp(items[i].k, "limits") == 0) {
            rc = parse_limits(c, r, items[i].val);
        } else {
            rc = perr(c, items[i].key,
                      "unknown key '%s' in %s (expected description, permissions, limits)",
                      items[i].k, what);
        }
    }
    if (rc == 0 && !have_perms)
        rc = perr(c, m, "%s has no 'permissions' (give an empty list to allow nothing)", what);
    free(items);
    return rc;
}

static int parse_roles(pctx *c, yaml_node_t *m)
{
    kv *items;
    size_t n;
    if (mapping_items(c, m, "roles", &items, &n) < 0)
        return -1;
    c->p->roles = calloc(n ? n : 1, sizeof(pl_role));
    if (c->p->roles == NULL) {
        free(items);
        return perr(c, m, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        pl_role *r = &c->p->roles[i];
        if (check_name(c, items[i].key, items[i].k, "role name") < 0)
            goto fail;
        r->name = strdup(items[i].k);
        c->p->n_roles++;
        if (r->name == NULL) {
            perr(c, items[i].key, "out of memory");
            goto fail;
        }
        if (parse_role(c, r, items[i].val) < 0)
            goto fail;
    }
    free(items);
    return 0;
fail:
    free(items);
    return -1;
}

/* ---- rules ---- */

static int set_str(pctx *c, pl_strmatch *sm, yaml_node_t *v, const char *key, bool regex)
{
    if (sm->set)
        return perr(c, v, "'%s' and '%s_regex' cannot both be given", key, key);
    sm->value = dup_scalar(c, v, key, 1024);
    if (sm->value == NULL)
        return -1;
    sm->set = true;
    sm->is_regex = regex;
    if (!regex)
        return 0;
    size_t len = strlen(sm->value) + 5;
    char *anch = malloc(len);
    if (anch == NULL)
        return perr(c, v, "out of memory");
    snprintf(anch, len, "^(%s)$", sm->value);
    int rc = regcomp(&sm->re, anch, REG_EXTENDED | REG_NOSUB);
    free(anch);
    if (rc != 0) {
        char buf[256];
        regerror(rc, &sm->re, buf, sizeof(buf));
        sm->is_regex = false; /* nothing compiled to free */
        return perr(c, v, "bad regular expression '%s': %s", sm->value, buf);
    }
    return 0;
}

static int parse_fingerprint(pctx *c, pl_rule *r, yaml_node_t *v)
{
    const char *s = scalar(c, v, "fingerprint");
    if (s == NULL)
        return -1;
    const char *q = s;
    if (strncasecmp(q, "sha256:", 7) == 0)
        q += 7;
    size_t n = 0;
    for (; *q != '\0'; q++) {
        if (*q == ':')
            continue;
        if (!isxdigit((unsigned char)*q) || n == 64)
            return perr(c, v, "fingerprint must be 64 hex digits (SHA-256; colons allowed)");
        r->fingerprint[n++] = (char)tolower((unsigned char)*q);
    }
    if (n != 64)
        return perr(c, v, "fingerprint must be 64 hex digits (SHA-256; colons allowed)");
    r->fingerprint[64] = '\0';
    r->has_fingerprint = true;
    return 0;
}

static int parse_match(pctx *c, pl_rule *r, yaml_node_t *m)
{
    kv *items;
    size_t n;
    if (mapping_items(c, m, "match", &items, &n) < 0)
        return -1;
    int rc = 0;
    if (n == 0)
        rc = perr(c, m, "match needs at least one condition");
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *k = items[i].k;
        yaml_node_t *v = items[i].val;
        static const struct {
            const char *key;
            size_t off;
        } strs[] = {
            {"subject", offsetof(pl_rule, subject)}, {"cn", offsetof(pl_rule, cn)},
            {"ou", offsetof(pl_rule, ou)},           {"san_dns", offsetof(pl_rule, san_dns)},
            {"san_uri", offsetof(pl_rule, san_uri)},
        };
        bool done = false;
        for (size_t f = 0; f < sizeof(strs) / sizeof(strs[0]) && !done; f++) {
            size_t kl = strlen(strs[f].key);
            pl_strmatch *sm = (pl_strmatch *)((char *)r + strs[f].off);
            if (strcmp(k, strs[f].key) == 0) {
                rc = set_str(c, sm, v, strs[f].key, false);
                done = true;
            } else if (strncmp(k, strs[f].key, kl) == 0 && strcmp(k + kl, "_regex") == 0) {
                rc = set_str(c, sm, v, strs[f].key, true);
                done = true;
            }
        }
        if (done)
            continue;
        if (strcmp(k, "fingerprint") == 0) {
            rc = parse_fingerprint(c, r, v);
        } else if (strcmp(k, "uid") == 0) {
            uint32_t u;
            rc = parse_u32(c, v, "uid", &u);
            r->uid = (uid_t)u;
            r->has_uid = true;
        } else if (strcmp(k, "gid") == 0) {
            uint32_t g;
            rc = parse_u32(c, v, "gid", &g);
            r->gid = (gid_t)g;
            r->has_gid = true;
        } else if (strcmp(k, "transport") == 0) {
            const char *s = scalar(c, v, "transport");
            if (s == NULL)
                rc = -1;
            else if (strcmp(s, "unix") == 0)
                r->transport = CM_TRANSPORT_UNIX;
            else if (strcmp(s, "tcp") == 0)
                r->transport = CM_TRANSPORT_TCP;
            else
                rc = perr(c, v, "transport must be 'unix' or 'tcp', not '%s'", s);
        } else {
            rc = perr(c, items[i].key,
                      "unknown key '%s' in match (expected subject, cn, ou, san_dns, san_uri "
                      "(each also with _regex), fingerprint, uid, gid, transport)",
                      k);
        }
    }
    free(items);
    return rc;
}

static int parse_rule(pctx *c, pl_rule *r, size_t idx, yaml_node_t *m)
{
    kv *items;
    size_t n;
    r->transport = -1;
    if (mapping_items(c, m, "a rule", &items, &n) < 0)
        return -1;
    int rc = 0;
    yaml_node_t *role_node = NULL, *match_node = NULL;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (strcmp(items[i].k, "name") == 0) {
            r->name = dup_scalar(c, items[i].val, "name", PL_NAME_MAX - 1);
            rc = r->name ? 0 : -1;
        } else if (strcmp(items[i].k, "role") == 0) {
            role_node = items[i].val;
        } else if (strcmp(items[i].k, "match") == 0) {
            match_node = items[i].val;
            rc = parse_match(c, r, items[i].val);
        } else {
            rc = perr(c, items[i].key, "unknown key '%s' in a rule (expected name, match, role)",
                      items[i].k);
        }
    }
    if (rc == 0 && match_node == NULL)
        rc = perr(c, m, "rule %zu has no 'match'", idx);
    if (rc == 0 && role_node == NULL)
        rc = perr(c, m, "rule %zu has no 'role'", idx);
    if (rc == 0) {
        const char *rn = scalar(c, role_node, "role");
        if (rn == NULL)
            rc = -1;
        else {
            size_t k = 0;
            while (k < c->p->n_roles && strcmp(c->p->roles[k].name, rn) != 0)
                k++;
            if (k == c->p->n_roles)
                rc = perr(c, role_node, "rule %zu names role '%s', which is not defined in 'roles'",
                          idx, rn);
            r->role = k;
        }
    }
    if (rc == 0 && r->name == NULL) {
        char buf[32];
        snprintf(buf, sizeof(buf), "rule %zu", idx);
        r->name = strdup(buf);
        if (r->name == NULL)
            rc = perr(c, m, "out of memory");
    }
    free(items);
    return rc;
}

static int parse_rules(pctx *c, yaml_node_t *s)
{
    yaml_node_t **items;
    size_t n;
    if (sequence_items(c, s, "rules", &items, &n) < 0)
        return -1;
    c->p->rules = calloc(n ? n : 1, sizeof(pl_rule));
    if (c->p->rules == NULL) {
        free(items);
        return perr(c, s, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        c->p->n_rules++;
        if (parse_rule(c, &c->p->rules[i], i, items[i]) < 0) {
            free(items);
            return -1;
        }
    }
    free(items);
    return 0;
}

static int parse_root(pctx *c, yaml_node_t *root)
{
    kv *items;
    size_t n;
    if (mapping_items(c, root, "the policy", &items, &n) < 0)
        return -1;
    int rc = 0;
    yaml_node_t *roles = NULL, *rules = NULL;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (strcmp(items[i].k, "version") == 0) {
            uint32_t v;
            rc = parse_u32(c, items[i].val, "version", &v);
            if (rc == 0 && v != 1)
                rc = perr(c, items[i].val, "unsupported policy version %u (this gemmad reads 1)", v);
        } else if (strcmp(items[i].k, "roles") == 0) {
            roles = items[i].val;
        } else if (strcmp(items[i].k, "rules") == 0) {
            rules = items[i].val;
        } else {
            rc = perr(c, items[i].key, "unknown key '%s' at top level (expected version, roles, rules)",
                      items[i].k);
        }
    }
    free(items);
    if (rc < 0)
        return -1;
    if (roles == NULL)
        return perr(c, root, "the policy has no 'roles'");
    if (parse_roles(c, roles) < 0)
        return -1;
    if (rules == NULL)
        return perr(c, root, "the policy has no 'rules' (give an empty list to deny everyone)");
    return parse_rules(c, rules);
}

int pl_policy_load_buffer(const char *data, size_t len, const char *name, pl_policy **out,
                          cm_err *err)
{
    *out = NULL;
    if (name == NULL)
        name = "<policy>";
    if (len > PL_MAX_FILE)
        return cm_err_set(err, "%s: policy is larger than %u bytes", name, PL_MAX_FILE);
    pctx c = {.name = name, .err = err};
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return cm_err_set(err, "%s: out of memory", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &c.doc)) {
        cm_err_set(err, "%s:%zu:%zu: YAML syntax error: %s%s%s", name,
                   (size_t)parser.problem_mark.line + 1, (size_t)parser.problem_mark.column + 1,
                   parser.problem ? parser.problem : "unknown",
                   parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return -1;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&c.doc);
    if (root == NULL) {
        rc = cm_err_set(err, "%s: the policy is empty", name);
        goto out_doc;
    }
    {
        yaml_document_t second;
        if (!yaml_parser_load(&parser, &second)) {
            rc = cm_err_set(err, "%s:%zu:%zu: YAML syntax error: %s", name,
                            (size_t)parser.problem_mark.line + 1,
                            (size_t)parser.problem_mark.column + 1,
                            parser.problem ? parser.problem : "unknown");
            goto out_doc;
        }
        bool more = yaml_document_get_root_node(&second) != NULL;
        yaml_document_delete(&second);
        if (more) {
            rc = cm_err_set(err, "%s: a policy file holds one YAML document, not several", name);
            goto out_doc;
        }
    }
    c.n_nodes = (size_t)(c.doc.nodes.top - c.doc.nodes.start);
    c.seen = calloc(c.n_nodes ? c.n_nodes : 1, 1);
    c.p = calloc(1, sizeof(*c.p));
    if (c.seen == NULL || c.p == NULL) {
        rc = cm_err_set(err, "%s: out of memory", name);
        goto out_p;
    }
    atomic_init(&c.p->refs, 1);
    c.p->source = strdup(name);
    if (c.p->source == NULL) {
        rc = cm_err_set(err, "%s: out of memory", name);
        goto out_p;
    }
    c.seen[0] = 1; /* the root */
    rc = parse_root(&c, root);
out_p:
    free(c.seen);
    if (rc == 0)
        *out = c.p;
    else
        pl_policy_destroy(c.p);
out_doc:
    yaml_document_delete(&c.doc);
    yaml_parser_delete(&parser);
    return rc;
}

int pl_policy_load_file(const char *path, pl_policy **out, cm_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return cm_err_errno(err, "cannot open policy %s", path);
    char *buf = malloc(PL_MAX_FILE + 1);
    if (buf == NULL) {
        fclose(f);
        return cm_err_set(err, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, PL_MAX_FILE + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return cm_err_set(err, "cannot read policy %s", path);
    }
    int rc = pl_policy_load_buffer(buf, n, path, out, err);
    free(buf);
    return rc;
}
