/*
 * tests/unit/test_bundle_file.c -- unit tests for models signed as a
 * single file (bundle/file.c): the statement the reference tool writes
 * for a file (one resource named ".", the file's name as subject), a
 * hand-built reference-shaped signature being accepted, and tampering,
 * foreign keys and folder/file mix-ups being refused with a clear reason.
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
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "bundle/bundle.h"
#include "bundle/internal.h"
#include "tests/unit/fixture_bundle.h"
#include "tests/unit/fixture_tmpdir.h"

#define CONTENT "GGUF pretend weights of a single-file model"

typedef struct fixture {
    char root[64];
    char model[128], sig[160];
    char key[128], pub[128], key2[128], pub2[128];
} fixture;

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    if (fx_tmpdir_make("test_bundle_file", fx->root, sizeof(fx->root)) != 0)
        return -1;
    snprintf(fx->model, sizeof(fx->model), "%s/gemma-x.gguf", fx->root);
    snprintf(fx->sig, sizeof(fx->sig), "%s.sig", fx->model);
    write_text(fx->model, CONTENT);
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

static void sign_file(const fixture *fx, const char *key)
{
    bundle_sign_opts o = {.key_path = key};
    cm_err err;
    if (bundle_sign_file(fx->model, fx->sig, &o, &err) != 0)
        fail_msg("%s", err.msg);
}

static int verify_file(const fixture *fx, const char *pub, bundle_verified **v, cm_err *err)
{
    bundle_trust *t = fx_trust_one(pub, err);
    bundle_verified *tmp = NULL;
    int rc = bundle_verify_file(fx->model, fx->sig, t, NULL, v ? v : &tmp, err);
    bundle_verified_free(tmp);
    bundle_trust_free(t);
    return rc;
}

static void expect_refused(const fixture *fx, const char *what)
{
    cm_err err;
    if (verify_file(fx, fx->pub, NULL, &err) == 0)
        fail_msg("a bad single-file signature verified");
    if (strstr(err.msg, what) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", err.msg, what);
}

static void sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char d[32];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(data, len, d, &n, EVP_sha256(), NULL), 1);
    bundle_hex(d, hex);
}

/* The statement inside the signature file. */
static json_t *statement_of(const char *sig_path)
{
    char *text = fx_read_text(sig_path);
    json_t *root = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(root);
    const char *b64 =
        json_string_value(json_object_get(json_object_get(root, "dsseEnvelope"), "payload"));
    assert_non_null(b64);
    unsigned char *raw = NULL;
    size_t n = 0;
    assert_int_equal(bdl_b64_decode(b64, strlen(b64), &raw, &n, NULL), 0);
    json_decref(root);
    json_t *st = json_loadb((const char *)raw, n, 0, NULL);
    free(raw);
    assert_non_null(st);
    return st;
}

static void test_roundtrip(void **state)
{
    fixture *fx = *state;
    sign_file(fx, fx->key);
    bundle_verified *v = NULL;
    cm_err err;
    if (verify_file(fx, fx->pub, &v, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(v->n_files, 1);
    assert_string_equal(v->files[0].path, BUNDLE_FILE_RESOURCE);
    assert_string_equal(v->info->model_name, "gemma-x.gguf");
    assert_int_equal(v->files[0].size, strlen(CONTENT));
    char want[65], got[65];
    sha256_hex(CONTENT, strlen(CONTENT), want);
    bundle_hex(v->files[0].digest, got);
    assert_string_equal(got, want);
    /* root digest: SHA-256 over the one file digest */
    sha256_hex(v->files[0].digest, 32, want);
    bundle_hex(v->info->root_digest, got);
    assert_string_equal(got, want);
    /* the descriptor handed back is the file's, at offset 0 */
    int fd = bundle_verified_take_fd(v, BUNDLE_FILE_RESOURCE);
    assert_true(fd >= 0);
    char buf[128] = {0};
    assert_int_equal(read(fd, buf, sizeof(buf) - 1), (ssize_t)strlen(CONTENT));
    assert_string_equal(buf, CONTENT);
    close(fd);
    bundle_verified_free(v);
}

/* What we write has the reference's shape for a file model. */
static void test_statement_shape(void **state)
{
    fixture *fx = *state;
    sign_file(fx, fx->key);
    json_t *st = statement_of(fx->sig);
    assert_string_equal(json_string_value(json_object_get(st, "_type")),
                        "https://in-toto.io/Statement/v1");
    assert_string_equal(json_string_value(json_object_get(st, "predicateType")),
                        "https://model_signing/signature/v1.0");
    json_t *subj = json_object_get(st, "subject");
    assert_int_equal(json_array_size(subj), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(subj, 0), "name")),
                        "gemma-x.gguf");
    json_t *pred = json_object_get(st, "predicate");
    json_t *res = json_object_get(pred, "resources");
    assert_int_equal(json_array_size(res), 1);
    json_t *r0 = json_array_get(res, 0);
    assert_string_equal(json_string_value(json_object_get(r0, "name")), ".");
    assert_string_equal(json_string_value(json_object_get(r0, "algorithm")), "sha256");
    char want[65];
    sha256_hex(CONTENT, strlen(CONTENT), want);
    assert_string_equal(json_string_value(json_object_get(r0, "digest")), want);
    json_t *ser = json_object_get(pred, "serialization");
    assert_string_equal(json_string_value(json_object_get(ser, "method")), "files");
    assert_string_equal(json_string_value(json_object_get(ser, "hash_type")), "sha256");
    assert_true(json_is_false(json_object_get(ser, "allow_symlinks")));
    json_t *ign = json_object_get(ser, "ignore_paths");
    assert_int_equal(json_array_size(ign), 4);
    const char *names[] = {".git", ".gitattributes", ".github", ".gitignore"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(json_string_value(json_array_get(ign, i)), names[i]);
    json_decref(st);
}

/* A signature built by hand in the reference's layout (its key order, its
 * unsorted ignore list, tlogEntries, publicKey.hint), not by our signer. */
static void test_reference_shaped_accepted(void **state)
{
    fixture *fx = *state;
    char digest[65], root[65];
    unsigned char raw[32];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(CONTENT, strlen(CONTENT), raw, &n, EVP_sha256(), NULL), 1);
    bundle_hex(raw, digest);
    sha256_hex(raw, 32, root);
    char statement[2048];
    snprintf(statement, sizeof(statement),
             "{\"_type\": \"https://in-toto.io/Statement/v1\", \"subject\": [{\"name\": "
             "\"renamed-at-signing.gguf\", \"digest\": {\"sha256\": \"%s\"}}], "
             "\"predicateType\": \"https://model_signing/signature/v1.0\", \"predicate\": "
             "{\"resources\": [{\"algorithm\": \"sha256\", \"name\": \".\", \"digest\": "
             "\"%s\"}], \"serialization\": {\"allow_symlinks\": false, \"method\": \"files\", "
             "\"hash_type\": \"sha256\", \"ignore_paths\": [\".gitignore\", \".github\", "
             "\".git\", \".gitattributes\"]}}}",
             root, digest);
    FILE *f = fopen(fx->key, "rb");
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    unsigned char *pae = NULL, *sig = NULL;
    size_t pae_len = 0, sig_len = 0;
    assert_int_equal(bdl_pae((unsigned char *)statement, strlen(statement), &pae, &pae_len, NULL),
                     0);
    assert_int_equal(bdl_ecdsa_sign(k, pae, pae_len, &sig, &sig_len, NULL), 0);
    char hint[65];
    assert_int_equal(bdl_key_hint(k, hint, NULL), 0);
    char *pb = bdl_b64_encode((unsigned char *)statement, strlen(statement), NULL);
    char *sb = bdl_b64_encode(sig, sig_len, NULL);
    json_t *bundle =
        json_pack("{s:s, s:{s:{s:s}, s:[]}, s:{s:s, s:s, s:[{s:s}]}}", "mediaType",
                  "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial",
                  "publicKey", "hint", hint, "tlogEntries", "dsseEnvelope", "payload", pb,
                  "payloadType", "application/vnd.in-toto+json", "signatures", "sig", sb);
    assert_non_null(bundle);
    assert_int_equal(json_dump_file(bundle, fx->sig, 0), 0);
    json_decref(bundle);
    free(pb);
    free(sb);
    free(pae);
    free(sig);
    EVP_PKEY_free(k);
    bundle_verified *v = NULL;
    cm_err err;
    if (verify_file(fx, fx->pub, &v, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(v->info->model_name, "renamed-at-signing.gguf");
    assert_int_equal(v->info->n_ignore, 4);
    bundle_verified_free(v);
}

static void test_tamper_flip(void **state)
{
    fixture *fx = *state;
    sign_file(fx, fx->key);
    int fd = open(fx->model, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "g", 1, 0), 1);
    close(fd);
    expect_refused(fx, "does not match the signature");
}

static void test_tamper_append(void **state)
{
    fixture *fx = *state;
    sign_file(fx, fx->key);
    FILE *f = fopen(fx->model, "ab");
    fputs("x", f);
    fclose(f);
    expect_refused(fx, "does not match the signature");
}

static void test_tamper_signature_file(void **state)
{
    fixture *fx = *state;
    sign_file(fx, fx->key);
    char *text = fx_read_text(fx->sig);
    char *p = strstr(text, "\"sig\": \"");
    assert_non_null(p);
    p += 8;
    *p = *p == 'A' ? 'B' : 'A';
    write_text(fx->sig, text);
    free(text);
    cm_err err;
    assert_int_not_equal(verify_file(fx, fx->pub, NULL, &err), 0);
}

static void test_other_key_refused(void **state)
{
    fixture *fx = *state;
    sign_file(fx, fx->key2);
    expect_refused(fx, "not a trusted key");
}

static void test_missing_signature(void **state)
{
    fixture *fx = *state;
    expect_refused(fx, "signature");
}

/* A folder's model.sig is not a file's signature, and the other way. */
static void test_folder_file_mixups(void **state)
{
    fixture *fx = *state;
    char dir[160], p[224];
    snprintf(dir, sizeof(dir), "%s/folder", fx->root);
    mkdir(dir, 0755);
    snprintf(p, sizeof(p), "%s/gemma-x.gguf", dir);
    write_text(p, CONTENT);
    bundle_sign_opts o = {.key_path = fx->key};
    cm_err err;
    assert_int_equal(bundle_sign(dir, &o, &err), 0);
    snprintf(p, sizeof(p), "%s/model.sig", dir);
    char *text = fx_read_text(p);
    write_text(fx->sig, text);
    free(text);
    expect_refused(fx, "not for a single file");

    /* the file's signature as the folder's model.sig */
    sign_file(fx, fx->key);
    text = fx_read_text(fx->sig);
    write_text(p, text);
    free(text);
    bundle_trust *t = NULL;
    assert_int_equal(bundle_trust_new(&t, &err), 0);
    assert_int_equal(bundle_trust_add_key_file(t, fx->pub, &err), 0);
    bundle_verified *v = NULL;
    assert_int_not_equal(bundle_verify(dir, t, NULL, &v, &err), 0);
    assert_non_null(strstr(err.msg, "single file"));
    /* and a folder given as the file */
    snprintf(p, sizeof(p), "%s/model.sig", dir);
    assert_int_not_equal(bundle_verify_file(dir, fx->sig, t, NULL, &v, &err), 0);
    assert_non_null(strstr(err.msg, "not a regular file"));
    bundle_trust_free(t);
}

static void test_sign_rules(void **state)
{
    fixture *fx = *state;
    cm_err err;
    const char *ign[] = {"x"};
    bundle_sign_opts o = {.key_path = fx->key, .ignore = ign, .n_ignore = 1};
    assert_int_not_equal(bundle_sign_file(fx->model, fx->sig, &o, &err), 0);
    assert_non_null(strstr(err.msg, "nothing to ignore"));
    bundle_sign_opts plain = {.key_path = fx->key};
    assert_int_not_equal(bundle_sign_file(fx->model, fx->model, &plain, &err), 0);
    assert_non_null(strstr(err.msg, "the model file itself"));
    /* the model is untouched by the refused attempt */
    char *text = fx_read_text(fx->model);
    assert_string_equal(text, CONTENT);
    free(text);
    assert_int_not_equal(bundle_sign_file(fx->root, fx->sig, &plain, &err), 0);
    assert_non_null(strstr(err.msg, "not a regular file"));
}

static void test_check_signature_only(void **state)
{
    fixture *fx = *state;
    sign_file(fx, fx->key);
    bundle_trust *t = NULL;
    cm_err err;
    assert_int_equal(bundle_trust_new(&t, &err), 0);
    assert_int_equal(bundle_trust_add_key_file(t, fx->pub, &err), 0);
    bundle_info *info = NULL;
    assert_int_equal(bundle_check_signature(fx->sig, t, &info, &err), 0);
    assert_int_equal(info->n_entries, 1);
    bundle_info_free(info);
    bundle_trust_free(t);
    assert_int_equal(bundle_trust_new(&t, &err), 0);
    assert_int_equal(bundle_trust_add_key_file(t, fx->pub2, &err), 0);
    info = NULL;
    assert_int_not_equal(bundle_check_signature(fx->sig, t, &info, &err), 0);
    assert_null(info);
    bundle_trust_free(t);
}

/* "." may appear only as the one resource of a file signature. */
static void test_dot_resource_rules(void **state)
{
    (void)state;
    const char *two =
        "{\"_type\": \"https://in-toto.io/Statement/v1\", \"subject\": [{\"name\": \"m\", "
        "\"digest\": {\"sha256\": "
        "\"0000000000000000000000000000000000000000000000000000000000000000\"}}], "
        "\"predicateType\": \"https://model_signing/signature/v1.0\", \"predicate\": "
        "{\"serialization\": {\"method\": \"files\", \"hash_type\": \"sha256\"}, \"resources\": "
        "[{\"algorithm\": \"sha256\", \"name\": \"./x\", \"digest\": "
        "\"0000000000000000000000000000000000000000000000000000000000000000\"}]}}";
    bundle_info *info = calloc(1, sizeof(*info));
    cm_err err;
    assert_int_not_equal(bdl_statement_parse((const unsigned char *)two, strlen(two), info, &err),
                         0);
    assert_non_null(strstr(err.msg, "safe relative path"));
    bundle_info_free(info);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statement_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reference_shaped_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_flip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_signature_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_key_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folder_file_mixups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_signature_only, setup, teardown),
        cmocka_unit_test(test_dot_resource_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
