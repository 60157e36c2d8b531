/*
 * tests/unit/test_policy.c -- unit tests for policy/: rule matching,
 * permissions, parse errors with line numbers, token buckets on a fake
 * clock, concurrency counting, and reloads (holder swap, limiter state
 * surviving a new policy).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

#define MIN_US 60000000ull

static const char base_policy[] =
    "version: 1\n"
    "roles:\n"
    "  admin: {permissions: [admin]}\n"
    "  client:\n"
    "    permissions: [{infer: [gemma-4-e2b, 'gemma-4-e4b*']}, models.list]\n"
    "    limits:\n"
    "      max_tokens: 100\n"
    "      max_prompt_tokens: 1000\n"
    "      requests_per_minute: 3\n"
    "      tokens_per_minute: 600\n"
    "      concurrent_requests: 2\n"
    "  reader: {permissions: [status.read]}\n"
    "rules:\n"
    "  - {name: admins, match: {ou: admin}, role: admin}\n"
    "  - {name: spiffe, match: {san_uri_regex: 'spiffe://x/ns/[a-z]+'}, role: client}\n"
    "  - {name: dns, match: {san_dns: api.example}, role: client}\n"
    "  - {match: {subject: 'CN=r,O=B'}, role: reader}\n"
    "  - name: pinned\n"
    "    match: {fingerprint: 'AA:bb:" /* 64 hex digits with colons */
    "cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99'}\n"
    "    role: admin\n"
    "  - {name: root, match: {transport: unix, uid: 0}, role: admin}\n"
    "  - {name: gid, match: {gid: 50, cn: g}, role: reader}\n";

static pl_policy *load(const char *text)
{
    pl_policy *p = NULL;
    cm_err err = {{0}};
    int rc = pl_policy_load_buffer(text, strlen(text), "t.yaml", &p, &err);
    if (rc != 0)
        fprintf(stderr, "load: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return p;
}

static void load_err(const char *text, const char *want)
{
    pl_policy *p = NULL;
    cm_err err = {{0}};
    assert_int_equal(pl_policy_load_buffer(text, strlen(text), "t.yaml", &p, &err), -1);
    assert_null(p);
    if (strstr(err.msg, want) == NULL)
        fail_msg("error '%s' does not contain '%s'", err.msg, want);
}

static cm_identity cert_id(const char *dn, const char *cn, const char *ou)
{
    cm_identity id;
    memset(&id, 0, sizeof(id));
    snprintf(id.subject_dn, sizeof(id.subject_dn), "%s", dn);
    snprintf(id.cn, sizeof(id.cn), "%s", cn);
    snprintf(id.ou, sizeof(id.ou), "%s", ou);
    snprintf(id.fingerprint_sha256, sizeof(id.fingerprint_sha256), "%064x", 7);
    id.transport = CM_TRANSPORT_TCP;
    return id;
}

/* CN=w with the SAN api.example: base_policy's rule "dns" makes it a client. */
static cm_identity client_id(void)
{
    cm_identity id = cert_id("CN=w", "w", "");
    id.n_san_dns = 1;
    strcpy(id.san_dns[0], "api.example");
    return id;
}

static pl_limiter *new_limiter(void)
{
    pl_limiter *l = NULL;
    assert_int_equal(pl_limiter_new(0, &l, NULL), 0);
    return l;
}

static pl_decision decide(pl_policy *p, const cm_identity *id, pl_action a, const char *model)
{
    pl_request rq = {.action = a, .model = model};
    pl_decision d;
    pl_decide(p, id, &rq, &d);
    return d;
}

static void test_match_first_rule_wins(void **state)
{
    (void)state;
    pl_policy *p = load(base_policy);
    assert_int_equal(pl_policy_n_rules(p), 7);
    assert_int_equal(pl_policy_n_roles(p), 3);
    cm_identity id = cert_id("CN=a,OU=admin,O=B", "a", "admin");
    id.n_san_dns = 1;
    strcpy(id.san_dns[0], "api.example"); /* would match rule 2 too */
    pl_decision d = decide(p, &id, PL_ACT_POLICY_RELOAD, NULL);
    assert_true(d.allow);
    assert_int_equal(d.rule_index, 0);
    assert_string_equal(d.rule_name, "admins");
    assert_string_equal(d.role, "admin");
    assert_int_equal(d.http_status, 200);
    pl_policy_unref(p);
}

static void test_match_san_regex_anchored(void **state)
{
    (void)state;
    pl_policy *p = load(base_policy);
    cm_identity id = cert_id("CN=w,O=B", "w", "");
    id.n_san_uri = 2;
    strcpy(id.san_uri[0], "https://x/other");
    strcpy(id.san_uri[1], "spiffe://x/ns/prod");
    pl_decision d = decide(p, &id, PL_ACT_INFER, "gemma-4-e2b");
    assert_true(d.allow);
    assert_int_equal(d.rule_index, 1);
    /* Anchored: a longer URI does not match. */
    strcpy(id.san_uri[1], "spiffe://x/ns/prod/sa/y");
    d = decide(p, &id, PL_ACT_INFER, "gemma-4-e2b");
    assert_false(d.allow);
    assert_int_equal(d.reason, PL_REASON_NO_MATCHING_RULE);
    assert_string_equal(pl_reason_name(d.reason), "no_matching_rule");
    assert_int_equal(d.rule_index, -1);
    assert_int_equal(d.http_status, 403);
    /* Nor a prefix before it. */
    strcpy(id.san_uri[1], "xspiffe://x/ns/prod");
    assert_false(decide(p, &id, PL_ACT_INFER, "gemma-4-e2b").allow);
    pl_policy_unref(p);
}

static void test_match_subject_exact_and_fingerprint(void **state)
{
    (void)state;
    pl_policy *p = load(base_policy);
    cm_identity id = cert_id("CN=r,O=B", "r", "");
    pl_decision d = decide(p, &id, PL_ACT_STATUS_READ, NULL);
    assert_true(d.allow);
    assert_int_equal(d.rule_index, 3);
    assert_string_equal(d.rule_name, "rule 3");
    d = decide(p, &id, PL_ACT_INFER, "gemma-4-e2b");
    assert_false(d.allow);
    assert_int_equal(d.reason, PL_REASON_PERMISSION_DENIED);
    id = cert_id("CN=r,O=B2", "r", "");
    assert_int_equal(decide(p, &id, PL_ACT_STATUS_READ, NULL).reason, PL_REASON_NO_MATCHING_RULE);

    id = cert_id("CN=z", "z", "");
    strcpy(id.fingerprint_sha256,
           "aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899");
    d = decide(p, &id, PL_ACT_MODELS_LOAD, "m");
    assert_true(d.allow);
    assert_string_equal(d.rule_name, "pinned");
    id.fingerprint_sha256[63] = '8';
    assert_false(decide(p, &id, PL_ACT_MODELS_LOAD, "m").allow);
    pl_policy_unref(p);
}

static void test_match_unix_peer(void **state)
{
    (void)state;
    pl_policy *p = load(base_policy);
    cm_identity id;
    memset(&id, 0, sizeof(id));
    id.transport = CM_TRANSPORT_UNIX;
    id.has_peer_cred = true;
    id.peer_uid = 0;
    pl_decision d = decide(p, &id, PL_ACT_AUDIT_VERIFY, NULL);
    assert_true(d.allow);
    assert_string_equal(d.rule_name, "root");
    assert_string_equal(d.principal, "uid:0");
    id.peer_uid = 1000;
    assert_false(decide(p, &id, PL_ACT_AUDIT_VERIFY, NULL).allow);
    /* uid rules never match TCP, nor a Unix peer without credentials. */
    id.peer_uid = 0;
    id.has_peer_cred = false;
    assert_false(decide(p, &id, PL_ACT_AUDIT_VERIFY, NULL).allow);
    id.has_peer_cred = true;
    id.transport = CM_TRANSPORT_TCP;
    assert_false(decide(p, &id, PL_ACT_AUDIT_VERIFY, NULL).allow);
    /* gid + cn: both required; cn needs a certificate. */
    cm_identity g = cert_id("CN=g", "g", "");
    g.transport = CM_TRANSPORT_UNIX;
    g.has_peer_cred = true;
    g.peer_uid = 5;
    g.peer_gid = 50;
    d = decide(p, &g, PL_ACT_STATUS_READ, NULL);
    assert_true(d.allow);
    assert_string_equal(d.rule_name, "gid");
    g.peer_gid = 51;
    assert_false(decide(p, &g, PL_ACT_STATUS_READ, NULL).allow);
    g.peer_gid = 50;
    g.fingerprint_sha256[0] = '\0'; /* no certificate */
    assert_false(decide(p, &g, PL_ACT_STATUS_READ, NULL).allow);
    pl_policy_unref(p);
}

static void test_models_and_admin(void **state)
{
    (void)state;
    pl_policy *p = load(base_policy);
    cm_identity id = client_id();
    assert_true(decide(p, &id, PL_ACT_INFER, "gemma-4-e2b").allow);
    assert_true(decide(p, &id, PL_ACT_INFER, "gemma-4-e4b-it").allow); /* glob */
    pl_decision d = decide(p, &id, PL_ACT_INFER, "gemma-4-31b");
    assert_false(d.allow);
    assert_int_equal(d.reason, PL_REASON_MODEL_NOT_ALLOWED);
    assert_int_equal(decide(p, &id, PL_ACT_INFER, NULL).reason, PL_REASON_MODEL_NOT_ALLOWED);
    assert_true(decide(p, &id, PL_ACT_MODELS_LIST, NULL).allow);
    assert_int_equal(decide(p, &id, PL_ACT_MODELS_LOAD, "x").reason, PL_REASON_PERMISSION_DENIED);
    cm_identity a = cert_id("CN=a,OU=admin", "a", "admin");
    for (int act = 0; act < PL_ACT_COUNT; act++)
        assert_true(decide(p, &a, (pl_action)act, "any-model").allow);
    pl_policy_unref(p);
}

static void test_request_token_limits(void **state)
{
    (void)state;
    pl_policy *p = load(base_policy);
    cm_identity id = client_id();
    pl_request rq = {.action = PL_ACT_INFER, .model = "gemma-4-e2b", .max_tokens = 101};
    pl_decision d;
    pl_decide(p, &id, &rq, &d);
    assert_int_equal(d.reason, PL_REASON_MAX_TOKENS_EXCEEDED);
    assert_int_equal(d.http_status, 400);
    rq.max_tokens = 0; /* not given: the role's limit applies */
    rq.prompt_tokens = 1000;
    pl_decide(p, &id, &rq, &d);
    assert_true(d.allow);
    assert_int_equal(d.max_tokens, 100);
    rq.prompt_tokens = 1001;
    pl_decide(p, &id, &rq, &d);
    assert_int_equal(d.reason, PL_REASON_PROMPT_TOO_LONG);
    pl_policy_unref(p);
}

static void test_parse_errors_have_positions(void **state)
{
    (void)state;
    load_err("roles:\n  a:\n    permissions: [infer]\n    limit: {}\nrules: []\n",
             "t.yaml:4:5: unknown key 'limit' in role 'a'");
    load_err("roles:\n  a: {permissions: [infer, model.list]}\nrules: []\n",
             "t.yaml:2:28: unknown permission 'model.list'");
    load_err("roles:\n  a: {permissions: []}\nrules:\n  - {match: {ou: x}, role: b}\n",
             "t.yaml:4:28: rule 0 names role 'b', which is not defined");
    load_err("roles:\n  a: {permissions: []}\nrules:\n  - {match: {cn_regex: '(x'}, role: a}\n",
             "t.yaml:4:24: bad regular expression '(x'");
    load_err("roles:\n  a: {permissions: []}\nrules:\n  - {match: {fingerprint: abc}, role: a}\n",
             "t.yaml:4:27: fingerprint must be 64 hex digits");
    load_err("roles:\n  a:\n    permissions: []\n    limits: {max_tokens: -1}\nrules: []\n",
             "t.yaml:4:26: max_tokens: expected a whole number in 0..4294967295, not '-1'");
    load_err("roles:\n  a:\n    permissions: []\n    limits: {max_tokens: 99999999999}\nrules: []\n",
             "t.yaml:4:26: max_tokens: expected a whole number in 0..4294967295, not "
             "'99999999999'");
    load_err("roles: {a: {permissions: []}}\nrules:\n  - {match: {}, role: a}\n",
             "t.yaml:3:13: match needs at least one condition");
    load_err("roles: {a: {permissions: []}}\nrules: []\nrules: []\n",
             "t.yaml:3:1: duplicate key 'rules' (first given at 2:1)");
    load_err("roles: {a: {permissions: []}}\nrules:\n  - &r {match: {ou: x}, role: a}\n  - *r\n",
             "aliases (*name) are not allowed");
    load_err("roles: {a: {permissions: []}}\nrules: [\n", "t.yaml:3:1: YAML syntax error");
    load_err("version: 2\nroles: {}\nrules: []\n", "t.yaml:1:10: unsupported policy version 2");
    load_err("roles: {a: {permissions: []}}\n", "t.yaml:1:1: the policy has no 'rules'");
    load_err("", "the policy is empty");
    load_err("roles: {a: {permissions: []}}\nrules: []\n---\nx: 1\n", "one YAML document");
    load_err("roles: {a: {permissions: []}}\nrules: []\nextra: 1\n",
             "t.yaml:3:1: unknown key 'extra' at top level");
    load_err("roles: {a: {permissions: []}}\nrules:\n  - {match: {ou: x}, role: a, when: now}\n",
             "t.yaml:3:31: unknown key 'when' in a rule");
    load_err("roles: {a: {permissions: []}}\nrules:\n  - {match: {transport: udp}, role: a}\n",
             "t.yaml:3:25: transport: expected one of unix, tcp, not 'udp'");
    load_err("roles: {'a b': {permissions: []}}\nrules: []\n", "role name 'a b' may only contain");
    /* Found by fuzz_policy: the error is reported before its node is freed. */
    load_err("roles: {a: {permissions: [{infer: [x, '']}]}}\nrules: []\n",
             "t.yaml:1:39: a model name is empty");
}

/* requests_per_minute: 3 -> three pass at once, the fourth waits 20 s. */
static void test_limiter_request_bucket(void **state)
{
    (void)state;
    pl_policy *p = load(base_policy);
    pl_limiter *l = new_limiter();
    cm_identity id = client_id();
    pl_request rq = {.action = PL_ACT_MODELS_LIST};
    uint64_t t = 1000 * MIN_US;
    pl_decision d;
    for (int i = 0; i < 3; i++) {
        pl_decide(p, &id, &rq, &d);
        assert_true(pl_limiter_admit(l, &d, &rq, t));
        pl_limiter_release(l, &d, 0, t);
    }
    pl_decide(p, &id, &rq, &d);
    assert_false(pl_limiter_admit(l, &d, &rq, t));
    assert_int_equal(d.reason, PL_REASON_RATE_LIMITED);
    assert_int_equal(d.http_status, 429);
    assert_int_equal(d.retry_after_s, 20);
    /* 19.9 s later: still not; 20 s: one more. */
    pl_decide(p, &id, &rq, &d);
    assert_false(pl_limiter_admit(l, &d, &rq, t + 19900000));
    assert_int_equal(d.retry_after_s, 1);
    pl_decide(p, &id, &rq, &d);
    assert_true(pl_limiter_admit(l, &d, &rq, t + 20000000));
    pl_limiter_release(l, &d, 0, t + 20000000);
    /* Another principal has its own bucket. */
    cm_identity other = id;
    snprintf(other.fingerprint_sha256, sizeof(other.fingerprint_sha256), "%064x", 8);
    pl_decide(p, &other, &rq, &d);
    assert_true(pl_limiter_admit(l, &d, &rq, t + 20000000));
    pl_limiter_release(l, &d, 0, t);
    pl_limiter_free(l);
    pl_policy_unref(p);
}

/* tokens_per_minute: 600; charge prompt + max_tokens, refund unused. */
static void test_limiter_token_bucket_refund(void **state)
{
    (void)state;
    pl_policy *p = load(base_policy);
    pl_limiter *l = new_limiter();
    cm_identity id = client_id();
    pl_request rq = {.action = PL_ACT_INFER, .model = "gemma-4-e2b", .prompt_tokens = 400,
                     .max_tokens = 100};
    uint64_t t = 5 * MIN_US;
    pl_decision d1, d2;
    pl_decide(p, &id, &rq, &d1);
    assert_true(pl_limiter_admit(l, &d1, &rq, t));
    assert_int_equal(d1.charged_tokens, 500);
    pl_decide(p, &id, &rq, &d2);
    assert_false(pl_limiter_admit(l, &d2, &rq, t)); /* 100 left, 500 needed */
    assert_int_equal(d2.reason, PL_REASON_TOKEN_RATE_LIMITED);
    assert_int_equal(d2.retry_after_s, 40);         /* 400 tokens at 10/s */
    /* Only 10 completion tokens used: 90 come back -> 190 available. */
    pl_limiter_release(l, &d1, 10, t);
    rq.prompt_tokens = 90;
    pl_decide(p, &id, &rq, &d2);
    assert_true(pl_limiter_admit(l, &d2, &rq, t));  /* 190 needed */
    pl_limiter_release(l, &d2, 100, t);
    pl_decide(p, &id, &rq, &d2);
    assert_false(pl_limiter_admit(l, &d2, &rq, t));
    pl_limiter_free(l);
    pl_policy_unref(p);
}

/* Without a max_tokens limit nothing is reserved for the completion: the
 * tokens produced are charged when the request ends. */
static void test_limiter_charges_unreserved_output(void **state)
{
    (void)state;
    pl_policy *p = load("roles:\n  c:\n    permissions: [infer]\n"
                        "    limits: {tokens_per_minute: 100}\n"
                        "rules:\n  - {match: {cn: w}, role: c}\n");
    pl_limiter *l = new_limiter();
    cm_identity id = cert_id("CN=w", "w", "");
    pl_request rq = {.action = PL_ACT_INFER, .model = "m", .prompt_tokens = 10};
    pl_decision d;
    pl_decide(p, &id, &rq, &d);
    assert_int_equal(d.max_tokens, 0);
    assert_true(pl_limiter_admit(l, &d, &rq, MIN_US));
    assert_int_equal(d.charged_tokens, 10);
    pl_limiter_release(l, &d, 80, MIN_US); /* 100 - 10 - 80 = 10 left */
    rq.prompt_tokens = 20;
    pl_decide(p, &id, &rq, &d);
    assert_false(pl_limiter_admit(l, &d, &rq, MIN_US));
    assert_int_equal(d.reason, PL_REASON_TOKEN_RATE_LIMITED);
    assert_int_equal(d.retry_after_s, 6); /* 10 more tokens at 100/min */
    rq.prompt_tokens = 10;
    pl_decide(p, &id, &rq, &d);
    assert_true(pl_limiter_admit(l, &d, &rq, MIN_US));
    pl_limiter_release(l, &d, 0, MIN_US);
    pl_limiter_free(l);
    pl_policy_unref(p);
}

static void test_limiter_concurrency(void **state)
{
    (void)state;
    pl_policy *p = load(base_policy);
    pl_limiter *l = new_limiter();
    cm_identity id = client_id();
    pl_request rq = {.action = PL_ACT_MODELS_LIST};
    pl_decision a, b, c;
    uint64_t t = MIN_US;
    pl_decide(p, &id, &rq, &a);
    pl_decide(p, &id, &rq, &b);
    pl_decide(p, &id, &rq, &c);
    assert_true(pl_limiter_admit(l, &a, &rq, t));
    assert_true(pl_limiter_admit(l, &b, &rq, t));
    assert_int_equal(pl_limiter_in_flight(l, a.principal), 2);
    assert_false(pl_limiter_admit(l, &c, &rq, t));
    assert_int_equal(c.reason, PL_REASON_CONCURRENCY_LIMITED);
    assert_string_equal(pl_reason_name(c.reason), "concurrency_limited");
    assert_int_equal(c.retry_after_s, 1);
    pl_limiter_release(l, &a, 0, t);
    pl_limiter_release(l, &a, 0, t); /* double release is a no-op */
    assert_int_equal(pl_limiter_in_flight(l, a.principal), 1);
    pl_decide(p, &id, &rq, &c);
    assert_true(pl_limiter_admit(l, &c, &rq, t));
    pl_limiter_release(l, &b, 0, t);
    pl_limiter_release(l, &c, 0, t);
    assert_int_equal(pl_limiter_in_flight(l, a.principal), 0);
    /* Idle principals are dropped once their buckets are full again. */
    assert_int_equal(pl_limiter_size(l), 1);
    pl_limiter_free(l);
    pl_policy_unref(p);
}

/* A bounded limiter evicts idle principals and refuses when all are busy. */
static void test_limiter_bounded(void **state)
{
    (void)state;
    pl_policy *p = load(base_policy);
    pl_limiter *l;
    assert_int_equal(pl_limiter_new(2, &l, NULL), 0);
    pl_request rq = {.action = PL_ACT_MODELS_LIST};
    pl_decision d[3];
    cm_identity id = client_id();
    for (int i = 0; i < 3; i++) {
        snprintf(id.fingerprint_sha256, sizeof(id.fingerprint_sha256), "%064x", 100 + i);
        pl_decide(p, &id, &rq, &d[i]);
    }
    assert_true(pl_limiter_admit(l, &d[0], &rq, MIN_US));
    assert_true(pl_limiter_admit(l, &d[1], &rq, MIN_US));
    assert_false(pl_limiter_admit(l, &d[2], &rq, MIN_US));
    assert_int_equal(d[2].reason, PL_REASON_LIMITER_FULL);
    pl_limiter_release(l, &d[0], 0, MIN_US);
    pl_decide(p, &id, &rq, &d[2]);
    /* d[0]'s bucket is full again a minute later: it can be evicted. */
    assert_true(pl_limiter_admit(l, &d[2], &rq, 3 * MIN_US));
    assert_int_equal(pl_limiter_size(l), 2);
    pl_limiter_release(l, &d[1], 0, 3 * MIN_US);
    pl_limiter_release(l, &d[2], 0, 3 * MIN_US);
    pl_limiter_free(l);
    pl_policy_unref(p);
}

/* Reload: the holder hands out the new policy; old references stay valid;
 * limiter state (in flight, bucket levels) carries over. */
static void test_reload_semantics(void **state)
{
    (void)state;
    pl_holder *h;
    assert_int_equal(pl_holder_new(load(base_policy), &h, NULL), 0);
    pl_policy *old = pl_holder_get(h);
    pl_limiter *l = new_limiter();
    cm_identity id = client_id();
    pl_request rq = {.action = PL_ACT_MODELS_LIST};
    pl_decision d1, d2;
    pl_decide(old, &id, &rq, &d1);
    assert_true(pl_limiter_admit(l, &d1, &rq, MIN_US));

    /* A bad file changes nothing. */
    pl_policy *bad = NULL;
    assert_int_equal(pl_policy_load_buffer("roles: [", 8, "new.yaml", &bad, NULL), -1);
    assert_null(bad);

    const char *next_text =
        "roles:\n  client:\n    permissions: [models.list, status.read]\n"
        "    limits: {concurrent_requests: 1}\n"
        "rules:\n  - {name: dns2, match: {san_dns: api.example}, role: client}\n";
    pl_holder_swap(h, load(next_text));
    pl_policy *cur = pl_holder_get(h);
    pl_decide(cur, &id, &rq, &d2);
    assert_true(d2.allow);
    assert_string_equal(d2.rule_name, "dns2");
    /* The request admitted under the old policy still counts. */
    assert_false(pl_limiter_admit(l, &d2, &rq, MIN_US));
    assert_int_equal(d2.reason, PL_REASON_CONCURRENCY_LIMITED);
    /* The old policy is still usable by whoever holds it. */
    pl_decision d3;
    pl_decide(old, &id, &rq, &d3);
    assert_string_equal(d3.rule_name, "dns");
    pl_policy_unref(old);
    pl_limiter_release(l, &d1, 0, MIN_US);
    pl_decide(cur, &id, &rq, &d2);
    assert_true(pl_limiter_admit(l, &d2, &rq, MIN_US));
    pl_limiter_release(l, &d2, 0, MIN_US);
    pl_policy_unref(cur);
    pl_holder_free(h);
    pl_limiter_free(l);
}

static void test_names(void **state)
{
    (void)state;
    pl_action a;
    for (int i = 0; i < PL_ACT_COUNT; i++) {
        assert_int_equal(pl_action_parse(pl_action_name((pl_action)i), &a, NULL), 0);
        assert_int_equal(a, i);
    }
    cm_err err;
    assert_int_equal(pl_action_parse("infer2", &a, &err), -1);
    assert_non_null(strstr(err.msg, "unknown action 'infer2'"));
    assert_null(pl_action_name(PL_ACT_COUNT));
    assert_string_equal(pl_reason_name(PL_REASON_MODEL_NOT_ALLOWED), "model_not_allowed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_first_rule_wins),
        cmocka_unit_test(test_match_san_regex_anchored),
        cmocka_unit_test(test_match_subject_exact_and_fingerprint),
        cmocka_unit_test(test_match_unix_peer),
        cmocka_unit_test(test_models_and_admin),
        cmocka_unit_test(test_request_token_limits),
        cmocka_unit_test(test_parse_errors_have_positions),
        cmocka_unit_test(test_limiter_request_bucket),
        cmocka_unit_test(test_limiter_token_bucket_refund),
        cmocka_unit_test(test_limiter_charges_unreserved_output),
        cmocka_unit_test(test_limiter_concurrency),
        cmocka_unit_test(test_limiter_bounded),
        cmocka_unit_test(test_reload_semantics),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
