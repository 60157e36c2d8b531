/*
 * policy/internal.h -- the in-memory form of a parsed policy, shared by
 * the parser (parse.c), the matcher (decide.c) and the object's lifetime
 * code (policy.c). Not for use outside policy/.
 */
#ifndef PL_INTERNAL_H
#define PL_INTERNAL_H

#include <regex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "policy/policy.h"

/* One string condition: exact (value) or an anchored POSIX ERE (re). */
typedef struct pl_strmatch {
    bool set;
    bool is_regex;
    char *value;          /* exact value, or the pattern as written */
    regex_t re;           /* compiled "^(pattern)$" when is_regex */
} pl_strmatch;

typedef struct pl_rule {
    char *name;           /* "rule N" when the file gives none */
    size_t role;          /* index into pl_policy.roles */
    pl_strmatch subject, cn, ou, san_dns, san_uri;
    bool has_fingerprint;
    char fingerprint[65]; /* lowercase hex, no colons */
    bool has_uid, has_gid;
    uid_t uid;
    gid_t gid;
    int transport;        /* -1 any, else cm_transport */
} pl_rule;

typedef struct pl_role {
    char *name;
    char *description;
    uint32_t perms;       /* bit (1u << pl_action) */
    bool admin;
    bool infer_all;       /* infer on every model */
    char **models;        /* else: fnmatch(3) patterns of allowed models */
    size_t n_models;
    pl_limits limits;
} pl_role;

struct pl_policy {
    atomic_uint refs;
    char *source;
    pl_role *roles;
    size_t n_roles;
    pl_rule *rules;
    size_t n_rules;
};

/* Frees everything a policy owns (used by unref and by the parser on
 * failure); p itself too. */
void pl_policy_destroy(pl_policy *p);

#endif
