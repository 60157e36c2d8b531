/*
 * tests/unit/test_daemon_guard.c -- the one decision point (daemon/
 * guard.c): without a policy every verified client is allowed; with one,
 * the first matching rule gives the role, a client no rule matches is
 * denied (403), a permission the role lacks is denied, the role's limits
 * (max_tokens, max_prompt_tokens, concurrent_requests) refuse what is over
 * them and release frees a slot; an awaited audit record without an audit
 * log continues at once with status 0, and with a log (in this process)
 * continues on the loop once durable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/guard.h"

typedef struct fixture {
    uv_loop_t loop;
    gmd_guard g;
    gmd_config cfg;
    char dir[64];
    bool open;
} fixture;

static const char policy_text[] =
    "version: 1\n"
    "roles:\n"
    "  admin:\n"
    "    permissions: [admin]\n"
    "  client:\n"
    "    permissions: [infer, models.list]\n"
    "    limits:\n"
    "      max_tokens: 100\n"
    "      max_prompt_tokens: 50\n"
    "      concurrent_requests: 1\n"
    "rules:\n"
    "  - name: admins\n"
    "    match: {ou: admin}\n"
    "    role: admin\n"
    "  - name: clients\n"
    "    match: {ou: client}\n"
    "    role: client\n";

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    snprintf(f->dir, sizeof(f->dir), "/tmp/gmd-guard-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    gmd_config_defaults(&f->cfg);
    f->cfg.audit_db[0] = '\0';
    f->cfg.policy_file[0] = '\0';
    *state = f;
    return 0;
}

static void open_guard(fixture *f, bool with_policy, bool with_audit)
{
    if (with_policy) {
        snprintf(f->cfg.policy_file, sizeof(f->cfg.policy_file), "%s/policy.yaml", f->dir);
        FILE *fp = fopen(f->cfg.policy_file, "w");
        assert_non_null(fp);
        fputs(policy_text, fp);
        fclose(fp);
    }
    if (with_audit)
        snprintf(f->cfg.audit_db, sizeof(f->cfg.audit_db), "%s/audit.db", f->dir);
    cm_err err = {0};
    int rc = gmd_guard_open(&f->g, &f->cfg, &f->loop, &err);
    if (rc < 0)
        print_error("gmd_guard_open: %s\n", err.msg);
    assert_int_equal(rc, 0);
    f->open = true;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->open) {
        gmd_guard_stop(&f->g, "test over");
        uv_run(&f->loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&f->loop), 0);
        gmd_guard_close(&f->g);
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static cm_identity who(const char *ou)
{
    cm_identity id;
    memset(&id, 0, sizeof(id));
    snprintf(id.subject_dn, sizeof(id.subject_dn), "CN=test,OU=%s", ou);
    snprintf(id.cn, sizeof(id.cn), "test");
    snprintf(id.ou, sizeof(id.ou), "%s", ou);
    /* a verified certificate's fingerprint (rules on the subject need one) */
    snprintf(id.fingerprint_sha256, sizeof(id.fingerprint_sha256), "%064d", 7);
    id.transport = CM_TRANSPORT_TCP;
    return id;
}

/* No policy file: every verified client may do everything. */
static void test_no_policy_allows(void **state)
{
    fixture *f = *state;
    open_guard(f, false, false);
    cm_identity id = who("nobody");
    gmd_guard_decision d;
    gmd_guard_authorize(&f->g, &id, GMD_ACT_MODELS_LOAD, "m", 0, 0, &d);
    assert_true(d.allow);
    assert_int_equal(d.http_status, 200);
    assert_int_equal(f->g.n_allowed, 1);
    assert_int_equal(f->g.n_denied, 0);
}

static void test_policy_roles_and_denials(void **state)
{
    fixture *f = *state;
    open_guard(f, true, false);
    gmd_guard_decision d;
    cm_identity admin = who("admin"), client = who("client"), stranger = who("stranger");
    gmd_guard_authorize(&f->g, &admin, GMD_ACT_AUDIT_ROTATE, NULL, 0, 0, &d);
    assert_true(d.allow);
    assert_string_equal(d.role, "admin");
    gmd_guard_authorize(&f->g, &stranger, GMD_ACT_MODELS_LIST, NULL, 0, 0, &d);
    assert_false(d.allow);
    assert_int_equal(d.http_status, 403);
    gmd_guard_authorize(&f->g, &client, GMD_ACT_MODELS_LOAD, "m", 0, 0, &d);
    assert_false(d.allow); /* not among the role's permissions */
    assert_int_equal(d.http_status, 403);
    assert_string_equal(d.role, "client");
    assert_int_equal(f->g.n_denied, 2);
}

static void test_limits_hold_and_release(void **state)
{
    fixture *f = *state;
    open_guard(f, true, false);
    cm_identity client = who("client");
    gmd_guard_decision d, second;
    gmd_guard_authorize(&f->g, &client, GMD_ACT_INFER, "m", 10, 200, &d);
    assert_false(d.allow); /* max_tokens 200 > 100 */
    gmd_guard_authorize(&f->g, &client, GMD_ACT_INFER, "m", 60, 10, &d);
    assert_false(d.allow); /* prompt 60 > max_prompt_tokens 50 */
    gmd_guard_authorize(&f->g, &client, GMD_ACT_INFER, "m", 10, 10, &d);
    assert_true(d.allow);
    gmd_guard_authorize(&f->g, &client, GMD_ACT_INFER, "m", 10, 10, &second);
    assert_false(second.allow); /* concurrent_requests 1, held by d */
    assert_int_equal(second.http_status, 429);
    gmd_guard_release(&f->g, &d, 5);
    gmd_guard_authorize(&f->g, &client, GMD_ACT_INFER, "m", 10, 10, &second);
    assert_true(second.allow); /* released */
    gmd_guard_release(&f->g, &second, 0);
}

static int n_cont, cont_status;

static void cont(void *arg, int status, const char *msg)
{
    (void)msg;
    (void)arg;
    n_cont++;
    cont_status = status;
}

/* Without an audit log, an awaited record continues at once (status 0). */
static void test_record_without_log(void **state)
{
    fixture *f = *state;
    open_guard(f, false, false);
    assert_false(gmd_guard_has_log(&f->g));
    n_cont = 0;
    cont_status = -5;
    au_event ev;
    gmd_guard_event(&ev, AU_EV_REQUEST, NULL, NULL, GMD_ACT_INFER, "m");
    assert_int_equal(gmd_guard_record(&f->g, &ev, cont, NULL), 0);
    assert_int_equal(n_cont, 1);
    assert_int_equal(cont_status, 0);
}

/* With an audit log in this process: the continuation runs on the loop
 * (not before gmd_guard_record returns), once, with status 0. */
static void test_record_with_log(void **state)
{
    fixture *f = *state;
    f->cfg.privsep = false;
    open_guard(f, false, true);
    assert_true(gmd_guard_has_log(&f->g));
    n_cont = 0;
    cont_status = -5;
    au_event ev;
    cm_identity id = who("client");
    gmd_guard_event(&ev, AU_EV_REQUEST, &id, NULL, GMD_ACT_INFER, "m");
    ev.route = "POST /v1/completions";
    ev.prompt = "hello";
    ev.prompt_len = 5;
    assert_int_equal(gmd_guard_record(&f->g, &ev, cont, NULL), 0);
    for (int i = 0; i < 500 && n_cont == 0; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(2000);
    }
    assert_int_equal(n_cont, 1);
    assert_int_equal(cont_status, 0);
    assert_int_equal(gmd_guard_audit_failures(&f->g), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_policy_allows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_roles_and_denials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_hold_and_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_without_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_with_log, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
