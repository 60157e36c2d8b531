/*
 * tests/unit/test_bundle.c -- unit tests for bundle/: path rules, signing
 * and verifying a directory, the descriptors handed back, and every kind
 * of tampering being refused with a clear reason.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>

#include "bundle/bundle.h"
#include "bundle/internal.h"
#include "tests/unit/fixture_bundle.h"
#include "tests/unit/fixture_tmpdir.h"

typedef struct fixture {
    char root[64];  /* temp dir */
    char model[96]; /* root/model-x */
    char key[128], pub[128], key2[128], pub2[128];
} fixture;

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    if (fx_tmpdir_make("test_bundle", fx->root, sizeof(fx->root)) != 0)
        return -1;
    snprintf(fx->model, sizeof(fx->model), "%s/model-x", fx->root);
    mkdir(fx->model, 0755);
    char sub[160];
    snprintf(sub, sizeof(sub), "%s/sub", fx->model);
    mkdir(sub, 0755);
    write_file(fx->model, "weights.gguf", "GGUF pretend weights");
    write_file(fx->model, "tokenizer.json", "{\"vocab\": []}");
    write_file(fx->model, "sub/extra.bin", "extra data");
    write_file(fx->model, "a-c", "sorts after a/ by component");
    if (fx_bundle_keys(fx->root, fx->key, fx->pub, fx->key2, fx->pub2) != 0)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    int rc = fx_tmpdir_remove(fx->root);
    free(fx);
    return rc;
}

static void sign_with(const fixture *fx, const char *key)
{
    bundle_sign_opts o = {.key_path = key};
    cm_err err;
    int rc = bundle_sign(fx->model, &o, &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
}

/* Verify with one trusted public key; returns rc, fills err. */
static int verify_with(const fixture *fx, const char *pub, bundle_verified **v, cm_err *err)
{
    bundle_trust *t = fx_trust_one(pub, err);
    bundle_verified *tmp = NULL;
    int rc = bundle_verify(fx->model, t, NULL, v ? v : &tmp, err);
    bundle_verified_free(tmp);
    bundle_trust_free(t);
    return rc;
}

static void expect_refused(const fixture *fx, const char *what)
{
    cm_err err;
    if (verify_with(fx, fx->pub, NULL, &err) == 0)
        fail_msg("tampered bundle verified");
    if (strstr(err.msg, what) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", err.msg, what);
}

static void test_path_rules(void **state)
{
    (void)state;
    assert_true(bundle_path_is_safe("a"));
    assert_true(bundle_path_is_safe("a/b.c"));
    assert_true(bundle_path_is_safe("..a/b.."));
    assert_false(bundle_path_is_safe(""));
    assert_false(bundle_path_is_safe("/etc/passwd"));
    assert_false(bundle_path_is_safe("../x"));
    assert_false(bundle_path_is_safe("a/../x"));
    assert_false(bundle_path_is_safe("a/.."));
    assert_false(bundle_path_is_safe("./a"));
    assert_false(bundle_path_is_safe("a//b"));
    assert_false(bundle_path_is_safe("a/"));
}

static void test_path_order(void **state)
{
    (void)state;
    /* component order: "a/b" sorts before "a-c" although '/' > '-' */
    assert_true(bundle_path_cmp("a/b", "a-c") < 0);
    assert_true(strcmp("a/b", "a-c") > 0);
    assert_true(bundle_path_cmp("a", "a/b") < 0);
    assert_true(bundle_path_cmp("a/b", "a") > 0);
    assert_true(bundle_path_cmp("b", "a/z") > 0);
    assert_int_equal(bundle_path_cmp("x/y", "x/y"), 0);
    assert_true(bundle_path_cmp("signme-1", "signme-2") < 0);
}

static void test_ignore_prefix(void **state)
{
    (void)state;
    char *ign[] = {".git", "data/cache"};
    assert_true(bdl_is_ignored(".git", ign, 2));
    assert_true(bdl_is_ignored(".git/config", ign, 2));
    assert_false(bdl_is_ignored(".gitx", ign, 2));
    assert_true(bdl_is_ignored("data/cache/x", ign, 2));
    assert_false(bdl_is_ignored("data/cachet", ign, 2));
    assert_false(bdl_is_ignored("data", ign, 2));
}

static void test_pae(void **state)
{
    (void)state;
    unsigned char *m = NULL;
    size_t n = 0;
    assert_int_equal(bdl_pae((const unsigned char *)"{}", 2, &m, &n, NULL), 0);
    const char *want = "DSSEv1 28 application/vnd.in-toto+json 2 {}";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(m, want, n);
    free(m);
}

static void test_base64(void **state)
{
    (void)state;
    unsigned char *out = NULL;
    size_t n = 0;
    /* "\xfb\xff" is "+/8=" in the standard alphabet, "-_8" URL-safe */
    assert_int_equal(bdl_b64_decode("+/8=", 4, &out, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(out[1], 0xff);
    free(out);
    assert_int_equal(bdl_b64_decode("-_8", 3, &out, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out[1], 0xff);
    free(out);
    assert_int_equal(bdl_b64_decode("aGVsbG8=", 8, &out, &n, NULL), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "hello", 5);
    free(out);
    assert_int_equal(bdl_b64_decode("", 0, &out, &n, NULL), 0);
    assert_int_equal(n, 0);
    free(out);
    cm_err err;
    assert_int_equal(bdl_b64_decode("aGV*", 4, &out, &n, &err), -1);
    assert_int_equal(bdl_b64_decode("a", 1, &out, &n, &err), -1);
    assert_int_equal(bdl_b64_decode("aG=", 3, &out, &n, &err), -1);
    assert_int_equal(bdl_b64_decode("a=b=", 4, &out, &n, &err), -1);
    char *enc = bdl_b64_encode((const unsigned char *)"hello", 5, NULL);
    assert_string_equal(enc, "aGVsbG8=");
    free(enc);
}

static void test_sign_verify_roundtrip(void **state)
{
    fixture *fx = *state;
    sign_with(fx, fx->key);
    bundle_verified *v = NULL;
    cm_err err;
    if (verify_with(fx, fx->pub, &v, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(v->n_files, 4);
    /* component order of the reference implementation */
    assert_string_equal(v->files[0].path, "a-c");
    assert_string_equal(v->files[1].path, "sub/extra.bin");
    assert_string_equal(v->files[2].path, "tokenizer.json");
    assert_string_equal(v->files[3].path, "weights.gguf");
    assert_string_equal(v->info->model_name, "model-x");
    assert_int_equal(v->info->method, BUNDLE_METHOD_KEY);
    assert_non_null(strstr(v->info->signer, "key sha256:"));
    /* the descriptor handed back is the hashed file, offset untouched */
    const bundle_file *f = bundle_verified_find(v, "weights.gguf");
    assert_non_null(f);
    char buf[64] = "";
    assert_int_equal(read(f->fd, buf, sizeof(buf) - 1), 20);
    assert_string_equal(buf, "GGUF pretend weights");
    unsigned char d[32];
    EVP_Digest("GGUF pretend weights", 20, d, NULL, EVP_sha256(), NULL);
    assert_memory_equal(d, f->digest, 32);
    /* taking the fd transfers ownership */
    int fd = bundle_verified_take_fd(v, "weights.gguf");
    assert_true(fd >= 0);
    assert_int_equal(bundle_verified_take_fd(v, "weights.gguf"), -1);
    bundle_verified_free(v);
    assert_int_equal(fcntl(fd, F_GETFD) >= 0, 1);
    close(fd);
    /* root digest = SHA-256 over the digests in order */
    bundle_info *info = NULL;
    assert_int_equal(bundle_inspect(fx->model, &info, &err), 0);
    assert_int_equal(info->n_entries, 4);
    unsigned char r[32];
    assert_int_equal(bdl_root_digest(info->entries[0].digest, 4, sizeof(bundle_entry), r, NULL), 0);
    assert_memory_equal(r, info->root_digest, 32);
    bundle_info_free(info);
}

static void test_tamper_byte_flip(void **state)
{
    fixture *fx = *state;
    sign_with(fx, fx->key);
    write_file(fx->model, "weights.gguf", "GGUF pretend weighTs");
    expect_refused(fx, "weights.gguf: content does not match");
    write_file(fx->model, "weights.gguf", "GGUF pretend weights");
}

static void test_tamper_added_file(void **state)
{
    fixture *fx = *state;
    sign_with(fx, fx->key);
    write_file(fx->model, "sub/evil.bin", "x");
    expect_refused(fx, "sub/evil.bin is in the directory but not in the signed list");
    char p[256];
    snprintf(p, sizeof(p), "%s/sub/evil.bin", fx->model);
    unlink(p);
}

static void test_tamper_removed_file(void **state)
{
    fixture *fx = *state;
    sign_with(fx, fx->key);
    char p[256];
    snprintf(p, sizeof(p), "%s/tokenizer.json", fx->model);
    unlink(p);
    expect_refused(fx, "tokenizer.json is signed but missing");
    write_file(fx->model, "tokenizer.json", "{\"vocab\": []}");
}

static void test_tamper_renamed_file(void **state)
{
    fixture *fx = *state;
    sign_with(fx, fx->key);
    char a[256], b[256];
    snprintf(a, sizeof(a), "%s/a-c", fx->model);
    snprintf(b, sizeof(b), "%s/a-d", fx->model);
    assert_int_equal(rename(a, b), 0);
    expect_refused(fx, "a-c is signed but missing");
    assert_int_equal(rename(b, a), 0);
}

static void test_tamper_symlink(void **state)
{
    fixture *fx = *state;
    sign_with(fx, fx->key);
    char p[256], t[256];
    snprintf(p, sizeof(p), "%s/weights.gguf", fx->model);
    snprintf(t, sizeof(t), "%s/real.gguf", fx->root);
    /* swap the signed file for a symlink to an identical file */
    assert_int_equal(rename(p, t), 0);
    assert_int_equal(symlink(t, p), 0);
    expect_refused(fx, "weights.gguf is a symbolic link");
    unlink(p);
    assert_int_equal(rename(t, p), 0);
    /* a symlinked directory too */
    snprintf(p, sizeof(p), "%s/linkdir", fx->model);
    assert_int_equal(symlink("/etc", p), 0);
    expect_refused(fx, "linkdir is a symbolic link");
    unlink(p);
}

static void test_other_key_refused(void **state)
{
    fixture *fx = *state;
    sign_with(fx, fx->key2);
    expect_refused(fx, "not a trusted key");
    cm_err err;
    assert_int_equal(verify_with(fx, fx->pub2, NULL, &err), 0);
}

static void test_no_trust_refused(void **state)
{
    fixture *fx = *state;
    sign_with(fx, fx->key);
    bundle_trust *t = NULL;
    cm_err err;
    bundle_verified *v = NULL;
    assert_int_equal(bundle_trust_new(&t, &err), 0);
    assert_int_equal(bundle_verify(fx->model, t, NULL, &v, &err), -1);
    assert_null(v);
    assert_non_null(strstr(err.msg, "no trusted keys"));
    bundle_trust_free(t);
}

/* Replace model.sig's payload (and optionally re-sign it with `key`). */
static void rewrite_sig(const fixture *fx, const char *payload, const char *key, int flip_sig)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/model.sig", fx->model);
    char *text = fx_read_text(path);
    json_t *root = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(root);
    json_t *env = json_object_get(root, "dsseEnvelope");
    if (payload != NULL) {
        char *b = bdl_b64_encode((const unsigned char *)payload, strlen(payload), NULL);
        json_object_set_new(env, "payload", json_string(b));
        free(b);
    }
    json_t *s0 = json_array_get(json_object_get(env, "signatures"), 0);
    if (key != NULL) {
        FILE *f = fopen(key, "rb");
        EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        assert_non_null(k);
        unsigned char *m = NULL, *sig = NULL;
        size_t n = 0, sn = 0;
        assert_int_equal(bdl_pae((const unsigned char *)payload, strlen(payload), &m, &n, NULL), 0);
        assert_int_equal(bdl_ecdsa_sign(k, m, n, &sig, &sn, NULL), 0);
        char *b = bdl_b64_encode(sig, sn, NULL);
        json_object_set_new(s0, "sig", json_string(b));
        free(b);
        free(m);
        free(sig);
        EVP_PKEY_free(k);
    }
    if (flip_sig) {
        unsigned char *raw = NULL;
        size_t n = 0;
        const char *b64 = json_string_value(json_object_get(s0, "sig"));
        assert_int_equal(bdl_b64_decode(b64, strlen(b64), &raw, &n, NULL), 0);
        raw[n - 3] ^= 0x01;
        char *b = bdl_b64_encode(raw, n, NULL);
        json_object_set_new(s0, "sig", json_string(b));
        free(b);
        free(raw);
    }
    assert_int_equal(json_dump_file(root, path, JSON_INDENT(2)), 0);
    json_decref(root);
}

/* The statement of the current model.sig, with `from` replaced by `to`. */
static char *edited_statement(const fixture *fx, const char *from, const char *to)
{
    cm_err err;
    char path[256];
    snprintf(path, sizeof(path), "%s/model.sig", fx->model);
    char *text = fx_read_text(path);
    json_t *root = json_loads(text, 0, NULL);
    free(text);
    const char *b64 =
        json_string_value(json_object_get(json_object_get(root, "dsseEnvelope"), "payload"));
    unsigned char *raw = NULL;
    size_t n = 0;
    assert_int_equal(bdl_b64_decode(b64, strlen(b64), &raw, &n, &err), 0);
    json_decref(root);
    char *st = calloc(1, n + strlen(to) + 1);
    memcpy(st, raw, n);
    free(raw);
    char *at = strstr(st, from);
    assert_non_null(at);
    char *out = calloc(1, strlen(st) + strlen(to) + 1);
    memcpy(out, st, (size_t)(at - st));
    strcat(out, to);
    strcat(out, at + strlen(from));
    free(st);
    return out;
}

static void test_tamper_payload(void **state)
{
    fixture *fx = *state;
    sign_with(fx, fx->key);
    /* list a different model name: signature no longer matches */
    char *st = edited_statement(fx, "\"model-x\"", "\"model-y\"");
    rewrite_sig(fx, st, NULL, 0);
    free(st);
    expect_refused(fx, "signature does not verify");
}

static void test_tamper_signature(void **state)
{
    fixture *fx = *state;
    sign_with(fx, fx->key);
    rewrite_sig(fx, NULL, NULL, 1);
    expect_refused(fx, "signature does not verify");
}

static void test_dotdot_path_refused(void **state)
{
    fixture *fx = *state;
    sign_with(fx, fx->key);
    /* a validly signed statement naming "../a-c" must still be refused */
    char *st = edited_statement(fx, "\"name\": \"a-c\"", "\"name\": \"../a-c\"");
    rewrite_sig(fx, st, fx->key, 0);
    free(st);
    expect_refused(fx, "not a safe relative path");
    /* and an absolute one */
    sign_with(fx, fx->key);
    st = edited_statement(fx, "\"name\": \"a-c\"", "\"name\": \"/etc/passwd\"");
    rewrite_sig(fx, st, fx->key, 0);
    free(st);
    expect_refused(fx, "not a safe relative path");
}

static void test_root_digest_mismatch(void **state)
{
    fixture *fx = *state;
    sign_with(fx, fx->key);
    /* a signed statement whose root digest disagrees with its files */
    bundle_info *info = NULL;
    cm_err err;
    assert_int_equal(bundle_inspect(fx->model, &info, &err), 0);
    char hex[65], bad[65];
    bundle_hex(info->root_digest, hex);
    bundle_info_free(info);
    strcpy(bad, hex);
    bad[0] = bad[0] == '0' ? '1' : '0';
    char *st = edited_statement(fx, hex, bad);
    rewrite_sig(fx, st, fx->key, 0);
    free(st);
    expect_refused(fx, "root digest");
}

static void test_ignore_paths_recorded(void **state)
{
    fixture *fx = *state;
    const char *ign[] = {"sub"};
    bundle_sign_opts o = {.key_path = fx->key, .ignore = ign, .n_ignore = 1};
    cm_err err;
    assert_int_equal(bundle_sign(fx->model, &o, &err), 0);
    bundle_verified *v = NULL;
    if (verify_with(fx, fx->pub, &v, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(v->n_files, 3);
    assert_null(bundle_verified_find(v, "sub/extra.bin"));
    int found = 0;
    for (size_t i = 0; i < v->info->n_ignore; i++)
        found += strcmp(v->info->ignore_paths[i], "sub") == 0 ||
                 strcmp(v->info->ignore_paths[i], "model.sig") == 0;
    assert_int_equal(found, 2);
    bundle_verified_free(v);
    /* a file added under the ignored path does not matter */
    write_file(fx->model, "sub/new.txt", "ignored");
    assert_int_equal(verify_with(fx, fx->pub, NULL, &err), 0);
    char p[256];
    snprintf(p, sizeof(p), "%s/sub/new.txt", fx->model);
    unlink(p);
}

static void test_parse_garbage(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "{",
        "[]",
        "{\"mediaType\": 5}",
        "{\"mediaType\": \"application/vnd.dev.sigstore.bundle.v0.3+json\"}",
        "{\"mediaType\": \"application/vnd.dev.sigstore.bundle.v0.3+json\", "
        "\"verificationMaterial\": {\"publicKey\": {\"hint\": \"zz\"}}}",
        "{\"mediaType\": \"application/vnd.dev.sigstore.bundle.v0.3+json\", "
        "\"verificationMaterial\": {\"publicKey\": {}}, \"dsseEnvelope\": "
        "{\"payload\": \"e30=\", \"payloadType\": \"application/vnd.in-toto+json\", "
        "\"signatures\": [{\"sig\": \"AAAA\"}]}}",
        "{\"mediaType\": \"x\", \"mediaType\": \"y\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bundle_info *info = NULL;
        cm_err err;
        err.msg[0] = '\0';
        assert_int_equal(bundle_parse_sig(bad[i], strlen(bad[i]), &info, &err), -1);
        assert_null(info);
        assert_true(strlen(err.msg) > 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_rules),
        cmocka_unit_test(test_path_order),
        cmocka_unit_test(test_ignore_prefix),
        cmocka_unit_test(test_pae),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_parse_garbage),
        cmocka_unit_test_setup_teardown(test_sign_verify_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_byte_flip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_added_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_removed_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_renamed_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_key_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_trust_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_payload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotdot_path_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_digest_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ignore_paths_recorded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
