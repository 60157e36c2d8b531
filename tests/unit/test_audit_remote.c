/*
 * tests/unit/test_audit_remote.c -- the audit signer and its client
 * (audit/msg.h, audit/signer.h, audit/remote.h): messages survive the
 * wire field for field, malformed requests are refused, an event written
 * through the signer is byte for byte the row the in-process log writes
 * (same hash), many appends in flight share commits, checkpoints and
 * rotations work and a rotation cannot leave the log's directory, and
 * when the signer dies every append fails (fail-closed) or is reported
 * as ignored (fail-open).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/msg.h"
#include "audit/read.h"
#include "audit/remote.h"
#include "audit/signer.h"
#include "tests/unit/fixture_audit.h"

static tdir mkdir_tmp(void)
{
    return fx_audit_dir("test_audit_remote");
}

/* A signer for `cfg` in a child process; returns the connected client. */
static au_remote *start_signer(const au_config *cfg, bool fail_open)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        au_signer_harden();
        _exit(au_signer_serve(sv[1], cfg));
    }
    close(sv[1]);
    au_remote *r = NULL;
    cm_err err = {{0}};
    if (au_remote_connect(sv[0], pid, fail_open, 10000, &r, &err) != 0)
        fail_msg("connect: %s", err.msg);
    assert_int_equal(au_remote_start(r, &err), 0);
    return r;
}

static cm_identity unix_id(void)
{
    cm_identity id;
    memset(&id, 0, sizeof(id));
    snprintf(id.subject_dn, sizeof(id.subject_dn), "CN=docsvc,OU=apps,O=Bank");
    snprintf(id.serial_hex, sizeof(id.serial_hex), "1f2e");
    snprintf(id.fingerprint_sha256, sizeof(id.fingerprint_sha256), "%064x", 7);
    id.transport = CM_TRANSPORT_UNIX;
    id.has_peer_cred = true;
    id.peer_uid = 1234;
    id.peer_pid = 5678;
    return id;
}

static const char PROMPT[] = "line one\0with a NUL, \xc3\xa9t\xc3\xa9 and a bad byte \xff";
static const char OUTPUT[] = "the answer";

static au_event full_event(const cm_identity *id, int64_t t)
{
    au_event ev = AU_EVENT_INIT;
    ev.time_us = t;
    ev.type = AU_EV_RESPONSE;
    ev.request_id = "chatcmpl-42";
    ev.identity = id;
    ev.role = "client";
    ev.rule_index = 3;
    ev.rule_name = "clients";
    ev.route = "POST /v1/chat/completions";
    ev.action = "infer";
    ev.model = "gemma-4-e2b";
    ev.model_digest = "sha256:00ff";
    ev.decision = "allow";
    ev.reason = "allowed";
    ev.http_status = 200;
    ev.prompt_tokens = 12;
    ev.completion_tokens = 34;
    ev.latency_us = 5678;
    ev.prompt = PROMPT;
    ev.prompt_len = sizeof(PROMPT) - 1;
    ev.output = OUTPUT;
    ev.output_len = sizeof(OUTPUT) - 1;
    ev.detail = "detail text";
    return ev;
}

/* ---- messages ---- */

static void test_msg_roundtrip(void **state)
{
    (void)state;
    cm_identity id = unix_id();
    au_event ev = full_event(&id, 1700000000000001);
    au_frame f;
    cm_err err = {{0}};
    assert_int_equal(au_msg_encode_append(&f, 99, AU_APPEND_REPLY, &ev, &err), 0);
    uint32_t n = (uint32_t)f.p[0] | (uint32_t)f.p[1] << 8 | (uint32_t)f.p[2] << 16 |
                 (uint32_t)f.p[3] << 24;
    assert_int_equal(n, f.len - 4);
    au_request rq;
    if (au_msg_parse_request(f.p + 4, n, &rq, &err) != 0)
        fail_msg("parse: %s", err.msg);
    assert_int_equal(rq.type, AU_MSG_APPEND);
    assert_int_equal(rq.id, 99);
    assert_int_equal(rq.flags, AU_APPEND_REPLY);
    assert_int_equal(rq.ev.time_us, ev.time_us);
    assert_string_equal(rq.ev.type, ev.type);
    assert_string_equal(rq.ev.request_id, ev.request_id);
    assert_non_null(rq.ev.identity);
    assert_string_equal(rq.ev.identity->subject_dn, id.subject_dn);
    assert_string_equal(rq.ev.identity->serial_hex, id.serial_hex);
    assert_string_equal(rq.ev.identity->fingerprint_sha256, id.fingerprint_sha256);
    assert_int_equal(rq.ev.identity->transport, CM_TRANSPORT_UNIX);
    assert_true(rq.ev.identity->has_peer_cred);
    assert_int_equal(rq.ev.identity->peer_uid, 1234);
    assert_int_equal(rq.ev.identity->peer_pid, 5678);
    assert_string_equal(rq.ev.role, "client");
    assert_int_equal(rq.ev.rule_index, 3);
    assert_string_equal(rq.ev.rule_name, "clients");
    assert_string_equal(rq.ev.route, ev.route);
    assert_string_equal(rq.ev.action, "infer");
    assert_string_equal(rq.ev.model, ev.model);
    assert_string_equal(rq.ev.model_digest, ev.model_digest);
    assert_string_equal(rq.ev.decision, "allow");
    assert_string_equal(rq.ev.reason, "allowed");
    assert_int_equal(rq.ev.http_status, 200);
    assert_int_equal(rq.ev.prompt_tokens, 12);
    assert_int_equal(rq.ev.completion_tokens, 34);
    assert_int_equal(rq.ev.latency_us, 5678);
    assert_int_equal(rq.ev.prompt_len, sizeof(PROMPT) - 1);
    assert_memory_equal(rq.ev.prompt, PROMPT, sizeof(PROMPT) - 1);
    assert_int_equal(rq.ev.output_len, sizeof(OUTPUT) - 1);
    assert_memory_equal(rq.ev.output, OUTPUT, sizeof(OUTPUT) - 1);
    assert_string_equal(rq.ev.detail, ev.detail);
    au_msg_request_free(&rq);
    au_frame_free(&f);

    /* Absent fields stay absent. */
    au_event bare = AU_EVENT_INIT;
    bare.type = AU_EV_DAEMON_START;
    assert_int_equal(au_msg_encode_append(&f, 1, 0, &bare, &err), 0);
    assert_int_equal(au_msg_parse_request(f.p + 4, f.len - 4, &rq, &err), 0);
    assert_null(rq.ev.identity);
    assert_null(rq.ev.prompt);
    assert_null(rq.ev.role);
    assert_int_equal(rq.ev.rule_index, -1);
    assert_int_equal(rq.ev.prompt_tokens, -1);
    assert_int_equal(rq.flags, 0);
    au_msg_request_free(&rq);
    au_frame_free(&f);

    /* Replies. */
    au_stats st = {.appended = 5, .failed = 1, .transactions = 2, .checkpoints = 3,
                   .head_seq = 5};
    assert_int_equal(au_msg_encode_reply(&f, 7, -1, 42, &st, "disk full", &err), 0);
    au_reply rep;
    assert_int_equal(au_msg_parse_reply(f.p + 4, f.len - 4, &rep, &err), 0);
    assert_int_equal(rep.id, 7);
    assert_int_equal(rep.status, -1);
    assert_int_equal(rep.seq, 42);
    assert_int_equal(rep.stats.failed, 1);
    assert_int_equal(rep.stats.head_seq, 5);
    assert_string_equal(rep.msg, "disk full");
    assert_int_equal(au_msg_parse_reply(f.p + 4, f.len - 5, &rep, &err), -1);
    au_frame_free(&f);
}

/* Parses `body` (len bytes) and expects a refusal. */
static void refused(const unsigned char *body, size_t len, const char *why)
{
    au_request rq;
    cm_err err = {{0}};
    if (au_msg_parse_request(body, len, &rq, &err) == 0)
        fail_msg("accepted a request that is %s", why);
    assert_true(strstr(err.msg, "audit message") != NULL);
}

static void test_msg_refusals(void **state)
{
    (void)state;
    /* type APPEND, id 1, flags 0, then one field. */
    unsigned char b[64] = {AU_MSG_APPEND, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    size_t h = 10;
    refused(b, 5, "truncated in its header");
    b[0] = 9;
    refused(b, h, "of an unknown type");
    b[0] = AU_MSG_APPEND;
    refused(b, h, "without a type field");
    b[2 + 8] = 0x80; /* unknown flag */
    unsigned char t1[] = {AU_MSG_APPEND, 1, 0, 0, 0, 0, 0, 0, 0, 0x80};
    refused(t1, sizeof(t1), "flagged with an unknown flag");
    unsigned char t2[] = {AU_MSG_APPEND, 1, 0, 0, 0, 0, 0, 0, 0, 0, AU_F_TYPE, 2, 0, 0, 0, 'a', 0};
    refused(t2, sizeof(t2), "holding a NUL in text");
    unsigned char t3[] = {AU_MSG_APPEND, 1, 0, 0, 0, 0, 0, 0, 0, 0, AU_F_TYPE, 9, 0, 0, 0, 'a'};
    refused(t3, sizeof(t3), "with a field running past the end");
    unsigned char t4[] = {AU_MSG_APPEND, 1, 0, 0, 0, 0, 0, 0, 0, 0, AU_F_TYPE, 1, 0, 0, 0, 'a',
                          AU_F_TYPE, 1, 0, 0, 0, 'b'};
    refused(t4, sizeof(t4), "with a repeated field");
    unsigned char t5[] = {AU_MSG_APPEND, 1, 0, 0, 0, 0, 0, 0, 0, 0, AU_F_TYPE, 1, 0, 0, 0, 'a',
                          AU_F_HTTP_STATUS, 4, 0, 0, 0, 200, 0, 0, 0};
    refused(t5, sizeof(t5), "with a 4-byte integer");
    unsigned char t6[] = {AU_MSG_APPEND, 1, 0, 0, 0, 0, 0, 0, 0, 0, AU_F_TYPE, 1, 0, 0, 0, 'a',
                          AU_F_PEER_ADDR, 1, 0, 0, 0, 'x'};
    refused(t6, sizeof(t6), "naming a peer without a transport");
    unsigned char t7[] = {AU_MSG_APPEND, 1, 0, 0, 0, 0, 0, 0, 0, 0, AU_F_TYPE, 1, 0, 0, 0, 'a',
                          77, 0, 0, 0, 0};
    refused(t7, sizeof(t7), "with an unknown field");
    unsigned char r1[] = {AU_MSG_ROTATE, 1, 0, 0, 0, 0, 0, 0, 0, '.', '.', '/', 'x'};
    refused(r1, sizeof(r1), "a rotation out of the log's directory");
    unsigned char r2[] = {AU_MSG_ROTATE, 1, 0, 0, 0, 0, 0, 0, 0};
    refused(r2, sizeof(r2), "a rotation without a name");
    unsigned char s1[] = {AU_MSG_STATS, 1, 0, 0, 0, 0, 0, 0, 0, 1};
    refused(s1, sizeof(s1), "STATS with an argument");
    (void)h;
}

/* ---- through the signer ---- */

static void hash_of(const char *db, int64_t seq, unsigned char out[32])
{
    sqlite3 *d;
    assert_int_equal(sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(d, "SELECT hash FROM events WHERE seq = ?1", -1, &st,
                                        NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, seq);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_bytes(st, 0), 32);
    memcpy(out, sqlite3_column_blob(st, 0), 32);
    sqlite3_finalize(st);
    sqlite3_close(d);
}

static void copy_file(const char *from, const char *to)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

/* The same events, written in this process and through the signer with
 * the same keys, give the same rows: the same chain of hashes. */
static void test_faithful_rows(void **state)
{
    (void)state;
    tdir a = mkdir_tmp(), b = mkdir_tmp();
    au_config ca = {.db_path = a.db, .store_raw_text = true};
    au_log *log = NULL;
    cm_err err = {{0}};
    assert_int_equal(au_log_open(&ca, &log, &err), 0);
    char from[256], to[256];
    snprintf(from, sizeof(from), "%s/audit-signing.key", a.dir);
    snprintf(to, sizeof(to), "%s/audit-signing.key", b.dir);
    copy_file(from, to);
    snprintf(from, sizeof(from), "%s/audit-hmac.key", a.dir);
    snprintf(to, sizeof(to), "%s/audit-hmac.key", b.dir);
    copy_file(from, to);
    au_config cb = {.db_path = b.db, .store_raw_text = true};
    au_remote *r = start_signer(&cb, false);

    cm_identity uid = unix_id();
    cm_identity tcp = unix_id();
    tcp.transport = CM_TRANSPORT_TCP;
    tcp.has_peer_cred = false;
    snprintf(tcp.peer_addr, sizeof(tcp.peer_addr), "[::1]:4431");
    au_event evs[3] = {full_event(&uid, 1700000000000001), full_event(&tcp, 1700000000000002),
                       AU_EVENT_INIT};
    evs[2].time_us = 1700000000000003;
    evs[2].type = AU_EV_DAEMON_STOP;
    evs[2].detail = "stopped";
    for (int i = 0; i < 3; i++) {
        int64_t s1 = -1, s2 = -1;
        assert_int_equal(au_log_append(log, &evs[i], &s1, &err), 0);
        if (au_remote_append(r, &evs[i], &s2, &err) != 0)
            fail_msg("remote append: %s", err.msg);
        assert_int_equal(s1, s2);
    }
    au_log_close(log);
    au_remote_close(r); /* waits for the signer's final checkpoint */
    for (int64_t s = 1; s <= 3; s++) {
        unsigned char h1[32], h2[32];
        hash_of(a.db, s, h1);
        hash_of(b.db, s, h2);
        assert_memory_equal(h1, h2, 32);
    }
    au_verify_result vr;
    assert_int_equal(au_verify_db(b.db, NULL, &vr, &err), 0);
    assert_true(vr.ok);
    assert_int_equal(vr.unsealed_rows, 0);
    /* The signer left the public key for verifiers beside the log, and
     * the checkpoint side file. */
    snprintf(to, sizeof(to), "%s/audit-signing.key.pub", b.dir);
    struct stat st;
    assert_int_equal(stat(to, &st), 0);
    snprintf(to, sizeof(to), "%s.checkpoints", b.db);
    assert_int_equal(stat(to, &st), 0);
    assert_true(st.st_size > 0);
    fx_audit_dir_remove(&a);
    fx_audit_dir_remove(&b);
}

typedef struct counter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok, failed, ignored;
    int64_t max_seq;
} counter;

static void counter_init(counter *c)
{
    *c = (counter){.max_seq = -1};
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
}

static void counter_destroy(counter *c)
{
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

static void count_done(void *user, int status, int64_t seq, const char *msg)
{
    (void)msg;
    counter *c = user;
    pthread_mutex_lock(&c->mu);
    c->done++;
    if (status < 0)
        c->failed++;
    else if (seq < 0)
        c->ignored++;
    else
        c->ok++;
    if (seq > c->max_seq)
        c->max_seq = seq;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void wait_count(counter *c, int n)
{
    pthread_mutex_lock(&c->mu);
    while (c->done < n)
        pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

/* Many appends in flight at once: all durable, sharing transactions. */
static void test_group_commit(void **state)
{
    (void)state;
    tdir t = mkdir_tmp();
    au_config cfg = {.db_path = t.db};
    au_remote *r = start_signer(&cfg, false);
    counter c;
    counter_init(&c);
    const int N = 2000;
    cm_err err;
    for (int i = 0; i < N; i++) {
        au_event ev = AU_EVENT_INIT;
        ev.type = AU_EV_REQUEST;
        ev.detail = "x";
        assert_int_equal(au_remote_append_async(r, &ev, count_done, &c, &err), 0);
    }
    wait_count(&c, N);
    assert_int_equal(c.ok, N);
    assert_int_equal(c.max_seq, N);
    au_stats st;
    au_remote_stats(r, &st);
    assert_int_equal(st.appended, N);
    assert_int_equal(st.failed, 0);
    assert_true(st.transactions < (uint64_t)N / 4); /* grouped, not one commit each */
    assert_int_equal(st.head_seq, N);
    /* Fire-and-forget appends land too. */
    au_event ev = AU_EVENT_INIT;
    ev.type = AU_EV_DENIED;
    assert_int_equal(au_remote_append_async(r, &ev, NULL, NULL, &err), 0);
    assert_int_equal(au_remote_checkpoint(r, &err), 0);
    au_remote_stats(r, &st);
    assert_int_equal(st.head_seq, N + 1);
    au_remote_close(r);
    counter_destroy(&c);
    fx_audit_dir_remove(&t);
}

static void test_rotate(void **state)
{
    (void)state;
    tdir t = mkdir_tmp();
    au_config cfg = {.db_path = t.db};
    au_remote *r = start_signer(&cfg, false);
    cm_err err = {{0}};
    au_event ev = AU_EVENT_INIT;
    ev.type = AU_EV_REQUEST;
    assert_int_equal(au_remote_append(r, &ev, NULL, &err), 0);
    if (au_remote_rotate(r, "first.archive", &err) != 0)
        fail_msg("rotate: %s", err.msg);
    char arch[256];
    snprintf(arch, sizeof(arch), "%s/first.archive", t.dir);
    au_verify_result vr;
    assert_int_equal(au_verify_db(arch, NULL, &vr, &err), 0);
    assert_true(vr.ok);
    assert_int_equal(vr.rows, 1);
    /* An existing archive is refused by the log; a path is refused here. */
    assert_int_equal(au_remote_rotate(r, "first.archive", &err), -1);
    assert_int_equal(au_remote_rotate(r, "../elsewhere.db", &err), -1);
    assert_int_equal(au_remote_append(r, &ev, NULL, &err), 0);
    au_remote_close(r);
    fx_audit_dir_remove(&t);
}

/* The signer dies: pending and later appends fail (fail-closed), or are
 * reported as not written (fail-open: status 0, seq -1). */
static void signer_death(bool fail_open)
{
    tdir t = mkdir_tmp();
    au_config cfg = {.db_path = t.db, .fail_open = fail_open};
    au_remote *r = start_signer(&cfg, fail_open);
    cm_err err = {{0}};
    au_event ev = AU_EVENT_INIT;
    ev.type = AU_EV_REQUEST;
    assert_int_equal(au_remote_append(r, &ev, NULL, &err), 0);
    assert_int_equal(kill(au_remote_pid(r), SIGKILL), 0);
    counter c;
    counter_init(&c);
    int queued = 0;
    for (int i = 0; i < 50; i++) {
        if (au_remote_append_async(r, &ev, count_done, &c, &err) == 0)
            queued++;
        usleep(2000);
    }
    wait_count(&c, queued);
    assert_int_equal(c.ok, 0);
    if (fail_open)
        assert_int_equal(c.ignored, queued);
    else
        assert_int_equal(c.failed, queued);
    /* Once it is known to be gone, appends fail at once. */
    assert_int_equal(au_remote_append_async(r, &ev, count_done, &c, &err), -1);
    assert_true(strstr(err.msg, "audit signer") != NULL);
    assert_int_equal(au_remote_append(r, &ev, NULL, &err), -1);
    au_stats st;
    au_remote_stats(r, &st);
    assert_true(st.failed >= 2);
    au_remote_close(r);
    counter_destroy(&c);
    fx_audit_dir_remove(&t);
}

static void test_signer_death_fail_closed(void **state)
{
    (void)state;
    signer_death(false);
}

static void test_signer_death_fail_open(void **state)
{
    (void)state;
    signer_death(true);
}

/* A malformed request ends the signer's service (status 1); it does not
 * guess. */
static void test_malformed_request_stops_signer(void **state)
{
    (void)state;
    tdir t = mkdir_tmp();
    au_config cfg = {.db_path = t.db};
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        _exit(au_signer_serve(sv[1], &cfg));
    }
    close(sv[1]);
    unsigned char hello[1024];
    assert_true(read(sv[0], hello, sizeof(hello)) > 0);
    unsigned char bad[] = {10, 0, 0, 0, AU_MSG_ROTATE, 1, 0, 0, 0, 0, 0, 0, 0, '/'};
    assert_int_equal(write(sv[0], bad, sizeof(bad)), (ssize_t)sizeof(bad));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    close(sv[0]);
    fx_audit_dir_remove(&t);
}

/* The log cannot be opened: HELLO carries the reason. */
static void test_hello_reports_open_failure(void **state)
{
    (void)state;
    au_config cfg = {.db_path = "/nonexistent-dir/audit.db"};
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        _exit(au_signer_serve(sv[1], &cfg));
    }
    close(sv[1]);
    au_remote *r = NULL;
    cm_err err = {{0}};
    assert_int_equal(au_remote_connect(sv[0], pid, false, 10000, &r, &err), -1);
    assert_null(r);
    assert_true(strstr(err.msg, "/nonexistent-dir") != NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_roundtrip),
        cmocka_unit_test(test_msg_refusals),
        cmocka_unit_test(test_faithful_rows),
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_rotate),
        cmocka_unit_test(test_signer_death_fail_closed),
        cmocka_unit_test(test_signer_death_fail_open),
        cmocka_unit_test(test_malformed_request_stops_signer),
        cmocka_unit_test(test_hello_reports_open_failure),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
