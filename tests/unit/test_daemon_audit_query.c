/*
 * tests/unit/test_daemon_audit_query.c -- the query string of gemmad's
 * audit routes (daemon/audit_query.c): every parameter, percent- and
 * '+'-decoding, the defaults, what each route takes, and the 400 message
 * for what is unknown, repeated, malformed or out of range; and the
 * filter the query becomes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/audit_query.h"

static gmd_audit_query *parse_ok(const char *s, gmd_audit_route route)
{
    static gmd_audit_query q;
    cm_err err;
    int rc = gmd_audit_query_parse(s, route, &q, &err);
    if (rc != 0)
        fail_msg("'%s' refused: %s", s ? s : "(null)", err.msg);
    return &q;
}

/* Refused, with `want` in the message. */
static void parse_bad(const char *s, gmd_audit_route route, const char *want)
{
    gmd_audit_query q;
    cm_err err;
    err.msg[0] = '\0';
    if (gmd_audit_query_parse(s, route, &q, &err) != -1)
        fail_msg("'%s' was accepted", s);
    if (strstr(err.msg, want) == NULL)
        fail_msg("'%s': message '%s' lacks '%s'", s, err.msg, want);
}

static void test_defaults(void **state)
{
    (void)state;
    const char *empty[] = {NULL, "", "&", "&&"};
    for (size_t i = 0; i < 4; i++) {
        gmd_audit_query *q = parse_ok(empty[i], GMD_AUDIT_Q_READ);
        assert_int_equal(q->limit, GMD_AUDIT_LIMIT_DEFAULT);
        assert_false(q->tail || q->has_since || q->has_until || q->has_after || q->has_upto);
        assert_false(q->has_principal || q->has_role || q->has_model || q->has_event ||
                     q->has_decision);
    }
    au_filter f;
    gmd_audit_query_filter(parse_ok("", GMD_AUDIT_Q_READ), &f);
    assert_null(f.principal);
    assert_null(f.role);
    assert_false(f.has_since || f.has_after || f.last);
    assert_int_equal(f.limit, GMD_AUDIT_LIMIT_DEFAULT);
}

static void test_every_parameter(void **state)
{
    (void)state;
    gmd_audit_query *q = parse_ok("since=1700000000000000&until=1800000000000000"
                                  "&principal=CN%3Dalice%2COU%3Dapps&role=client&model=gemma-4-e2b"
                                  "&event=request&decision=allow&after=41&limit=10000&tail=1",
                                  GMD_AUDIT_Q_READ);
    assert_true(q->has_since && q->has_until);
    assert_int_equal(q->since_us, 1700000000000000LL);
    assert_int_equal(q->until_us, 1800000000000000LL);
    assert_string_equal(q->principal, "CN=alice,OU=apps");
    assert_string_equal(q->role, "client");
    assert_string_equal(q->model, "gemma-4-e2b");
    assert_string_equal(q->event, "request");
    assert_string_equal(q->decision, "allow");
    assert_true(q->has_after);
    assert_int_equal(q->after, 41);
    assert_int_equal(q->limit, 10000);
    assert_true(q->tail);
    au_filter f;
    gmd_audit_query_filter(q, &f);
    assert_true(f.has_since && f.has_until && f.has_after && f.last);
    assert_int_equal(f.after_seq, 41);
    assert_string_equal(f.principal, "CN=alice,OU=apps");
    assert_string_equal(f.decision, "allow");
    assert_int_equal(f.limit, 10000);

    /* '+' is a space, %2B a plus; an empty value is a filter on "". */
    q = parse_ok("principal=O%3Dgemmad+tests%2BX&role=&tail=false", GMD_AUDIT_Q_READ);
    assert_string_equal(q->principal, "O=gemmad tests+X");
    assert_true(q->has_role);
    assert_string_equal(q->role, "");
    assert_false(q->tail);
    q = parse_ok("tail=true&limit=1&since=0", GMD_AUDIT_Q_READ);
    assert_true(q->tail);
    assert_int_equal(q->limit, 1);
    assert_true(q->has_since);
    assert_int_equal(q->since_us, 0);
    /* Bytes beyond ASCII pass through (the log stores UTF-8). */
    q = parse_ok("model=%C3%A9t%C3%A9", GMD_AUDIT_Q_READ);
    assert_string_equal(q->model, "\xc3\xa9t\xc3\xa9");
}

static void test_export_route(void **state)
{
    (void)state;
    gmd_audit_query *q = parse_ok("after=0&upto=21003&limit=5000", GMD_AUDIT_Q_EXPORT);
    assert_true(q->has_after && q->has_upto);
    assert_int_equal(q->after, 0);
    assert_int_equal(q->upto, 21003);
    assert_int_equal(q->limit, 5000);
    q = parse_ok("after=7&upto=7", GMD_AUDIT_Q_EXPORT);
    assert_int_equal(q->upto, 7);
    parse_bad("after=8&upto=7", GMD_AUDIT_Q_EXPORT, "'upto' must not be below 'after'");
    /* Filters belong to the read route, upto to the export. */
    parse_bad("role=client", GMD_AUDIT_Q_EXPORT, "unknown query parameter 'role'");
    parse_bad("tail=1", GMD_AUDIT_Q_EXPORT, "after, upto and limit");
    parse_bad("upto=5", GMD_AUDIT_Q_READ, "unknown query parameter 'upto'");
}

static void test_refused(void **state)
{
    (void)state;
    const gmd_audit_route R = GMD_AUDIT_Q_READ;
    parse_bad("bogus=1", R, "unknown query parameter 'bogus'");
    parse_bad("limit", R, "'limit' must be an integer from 1 to 10000");
    parse_bad("limit=0", R, "from 1 to 10000");
    parse_bad("limit=10001", R, "from 1 to 10000");
    parse_bad("limit=-1", R, "from 1 to 10000");
    parse_bad("limit=1e3", R, "from 1 to 10000");
    parse_bad("limit=+5", R, "from 1 to 10000");
    parse_bad("limit=99999999999999999999999", R, "from 1 to 10000");
    parse_bad("since=yesterday", R, "'since' must be a time in UTC microseconds");
    parse_bad("until=-5", R, "'until' must be a time");
    parse_bad("since=", R, "'since' must be a time");
    parse_bad("after=x", R, "'after' must be a row sequence number");
    parse_bad("after=9223372036854775808", R, "'after' must be a row sequence number");
    parse_bad("tail=yes", R, "'tail' must be 1, 0, true or false");
    parse_bad("role=a&role=b", R, "'role' is given twice");
    parse_bad("limit=1&limit=1", R, "'limit' is given twice");
    parse_bad("role=%", R, "not validly percent-encoded");
    parse_bad("role=%4", R, "not validly percent-encoded");
    parse_bad("role=%zz", R, "not validly percent-encoded");
    parse_bad("role=a%00b", R, "not validly percent-encoded");
    parse_bad("Role=client", R, "unknown query parameter 'Role'");
    parse_bad("=client", R, "unknown query parameter ''");
    /* A value as long as the limit allows passes; one byte more does not. */
    char *s = malloc(GMD_AUDIT_TEXT_MAX + 16);
    assert_non_null(s);
    strcpy(s, "model=");
    memset(s + 6, 'm', GMD_AUDIT_TEXT_MAX - 1);
    s[6 + GMD_AUDIT_TEXT_MAX - 1] = '\0';
    assert_int_equal(strlen(parse_ok(s, R)->model), GMD_AUDIT_TEXT_MAX - 1);
    strcat(s, "m");
    parse_bad(s, R, "longer than 1023 bytes");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_parameter),
        cmocka_unit_test(test_export_route),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
