/*
 * tests/unit/test_bundle_vectors.c -- interoperability of bundle/ with
 * the reference model_signing tool: its signed test vectors (v1.1.0 and
 * v1.0.1, elliptic-key and certificate, in $top_srcdir/../shared/
 * oms-vectors) verify; re-signing them with the same key gives statements
 * of the same structure (files, digests, root digest, ignore list) that
 * verify too; tampering with them is refused. Skips when the vectors are
 * absent.
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

/* Where the vectors are: $top_srcdir/../shared/oms-vectors. */
#define VEC_DECL                                                                                   \
    char vec[1024];                                                                                \
    snprintf(vec, sizeof(vec), "%s/../shared/oms-vectors",                                         \
             getenv("top_srcdir") ? getenv("top_srcdir") : ".")

static int have_vectors(void)
{
    VEC_DECL;
    char p[1100];
    snprintf(p, sizeof(p), "%s/keys/signing-key-pub.pem", vec);
    return access(p, R_OK) == 0;
}

/* main() skips the whole program when the vectors are absent (cmocka's
 * own skip() prints "not ok # SKIP", which the TAP driver counts as a
 * failure); this guards each test in case it is run on its own. */
#define NEED_VECTORS() assert_true(have_vectors())

static bundle_trust *trust_of(const char *kind, const char *file)
{
    VEC_DECL;
    bundle_trust *t = NULL;
    cm_err err;
    char p[1100];
    snprintf(p, sizeof(p), "%s/keys/%s", vec, file);
    assert_int_equal(bundle_trust_new(&t, &err), 0);
    int rc = strcmp(kind, "key") == 0 ? bundle_trust_add_key_file(t, p, &err)
                                      : bundle_trust_add_ca_file(t, p, &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
    return t;
}

static int verify_dir(const char *dir, const char *kind, const char *file, const char *extra_ignore,
                      bundle_verified **out, cm_err *err)
{
    bundle_trust *t = trust_of(kind, file);
    const char *ign[] = {extra_ignore};
    bundle_verify_opts o = {.extra_ignore = ign, .n_extra_ignore = extra_ignore ? 1 : 0};
    bundle_verified *tmp = NULL;
    int rc = bundle_verify(dir, t, &o, out ? out : &tmp, err);
    bundle_verified_free(tmp);
    bundle_trust_free(t);
    return rc;
}

static void check_vector(const char *name, const char *kind, const char *file,
                         const char *extra_ignore, bundle_method method)
{
    VEC_DECL;
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s/%s", vec, name);
    bundle_verified *v = NULL;
    cm_err err;
    if (verify_dir(dir, kind, file, extra_ignore, &v, &err) != 0)
        fail_msg("%s: %s", name, err.msg);
    assert_int_equal(v->info->method, method);
    assert_int_equal(v->n_files, 2);
    assert_string_equal(v->files[0].path, "signme-1");
    assert_string_equal(v->files[1].path, "signme-2");
    assert_null(bundle_verified_find(v, "ignore-me"));
    assert_string_equal(v->info->model_name, name);
    bundle_verified_free(v);
}

static void test_v110_key(void **state)
{
    (void)state;
    NEED_VECTORS();
    check_vector("v1.1.0-elliptic-key", "key", "signing-key-pub.pem", NULL, BUNDLE_METHOD_KEY);
}

static void test_v101_key(void **state)
{
    VEC_DECL;
    (void)state;
    NEED_VECTORS();
    /* v1.0.1 does not record its ignore list: the verifier is told */
    check_vector("v1.0.1-elliptic-key", "key", "signing-key-pub.pem", "ignore-me",
                 BUNDLE_METHOD_KEY);
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s/v1.0.1-elliptic-key", vec);
    cm_err err;
    assert_int_equal(verify_dir(dir, "key", "signing-key-pub.pem", NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "ignore-me is in the directory but not in the signed list"));
}

static void test_v110_cert(void **state)
{
    (void)state;
    NEED_VECTORS();
    check_vector("v1.1.0-certificate", "ca", "ca-cert.pem", NULL, BUNDLE_METHOD_CERT);
}

static void test_v101_cert(void **state)
{
    (void)state;
    NEED_VECTORS();
    check_vector("v1.0.1-certificate", "ca", "ca-cert.pem", "ignore-me", BUNDLE_METHOD_CERT);
}

static void test_untrusted_ca_and_key(void **state)
{
    VEC_DECL;
    (void)state;
    NEED_VECTORS();
    char dir[1100];
    cm_err err;
    /* the intermediate alone is not a trust anchor */
    snprintf(dir, sizeof(dir), "%s/v1.1.0-certificate", vec);
    assert_int_equal(verify_dir(dir, "ca", "int-ca-cert.pem", NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "does not chain to a trusted CA"));
    /* a key bundle is not trusted because of a CA */
    snprintf(dir, sizeof(dir), "%s/v1.1.0-elliptic-key", vec);
    assert_int_equal(verify_dir(dir, "ca", "ca-cert.pem", NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "no trusted key"));
}

static void test_key_hint(void **state)
{
    VEC_DECL;
    (void)state;
    NEED_VECTORS();
    char p[1100];
    snprintf(p, sizeof(p), "%s/keys/signing-key.pem", vec);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    char hint[65];
    assert_int_equal(bdl_key_hint(k, hint, NULL), 0);
    assert_string_equal(hint, "e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e");
    EVP_PKEY_free(k);
}

/* ---- re-signing ---------------------------------------------------------- */

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    assert_non_null(a);
    assert_non_null(b);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), a)) > 0)
        assert_int_equal(fwrite(buf, 1, n, b), n);
    fclose(a);
    assert_int_equal(fclose(b), 0);
}

/* Copy a vector folder (model files only) to a new temp dir. */
static void copy_vector(const char *name, char *tmp, size_t tmplen, char *dir, size_t dirlen)
{
    VEC_DECL;
    snprintf(tmp, tmplen, "/tmp/test_bundle_vec.XXXXXX");
    assert_non_null(mkdtemp(tmp));
    snprintf(dir, dirlen, "%s/%s", tmp, name);
    assert_int_equal(mkdir(dir, 0755), 0);
    const char *files[] = {"signme-1", "signme-2", "ignore-me"};
    for (size_t i = 0; i < 3; i++) {
        char a[1200], b[1200];
        snprintf(a, sizeof(a), "%s/%s/%s", vec, name, files[i]);
        snprintf(b, sizeof(b), "%s/%s", dir, files[i]);
        copy_file(a, b);
    }
}

static void remove_tree(const char *tmp)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    assert_int_equal(system(cmd), 0);
}

static json_t *load_json(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (j == NULL)
        fail_msg("%s: %s", path, je.text);
    return j;
}

static json_t *statement_of(const char *dir)
{
    char p[1200];
    snprintf(p, sizeof(p), "%s/model.sig", dir);
    json_t *b = load_json(p);
    const char *b64 =
        json_string_value(json_object_get(json_object_get(b, "dsseEnvelope"), "payload"));
    assert_non_null(b64);
    unsigned char *raw = NULL;
    size_t n = 0;
    assert_int_equal(bdl_b64_decode(b64, strlen(b64), &raw, &n, NULL), 0);
    json_t *st = json_loadb((const char *)raw, n, 0, NULL);
    free(raw);
    json_decref(b);
    assert_non_null(st);
    return st;
}

/* Same member names in two objects. */
static void same_keys(json_t *a, json_t *b, const char *where)
{
    assert_true(json_is_object(a) && json_is_object(b));
    if (json_object_size(a) != json_object_size(b))
        fail_msg("%s: %zu members vs %zu", where, json_object_size(a), json_object_size(b));
    const char *k;
    json_t *v;
    json_object_foreach(a, k, v)
    {
        if (json_object_get(b, k) == NULL)
            fail_msg("%s: member %s missing", where, k);
    }
}

/* resources as a name -> {algorithm, digest} object */
static json_t *resource_map(json_t *st)
{
    json_t *m = json_object();
    json_t *r;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(st, "predicate"), "resources"), i, r)
    {
        json_t *c = json_deep_copy(r);
        json_object_del(c, "name");
        json_object_set_new(m, json_string_value(json_object_get(r, "name")), c);
    }
    return m;
}

static json_t *string_set(json_t *arr)
{
    json_t *m = json_object();
    json_t *v;
    size_t i;
    json_array_foreach(arr, i, v) json_object_set_new(m, json_string_value(v), json_true());
    return m;
}

static void compare_statements(json_t *ours, json_t *ref, int ref_has_ignore)
{
    same_keys(ours, ref, "statement");
    json_t *po = json_object_get(ours, "predicate"), *pr = json_object_get(ref, "predicate");
    same_keys(po, pr, "predicate");
    json_t *so = json_object_get(po, "serialization"), *sr = json_object_get(pr, "serialization");
    if (ref_has_ignore) {
        same_keys(so, sr, "serialization");
        json_t *a = string_set(json_object_get(so, "ignore_paths"));
        json_t *b = string_set(json_object_get(sr, "ignore_paths"));
        assert_true(json_equal(a, b));
        json_decref(a);
        json_decref(b);
    }
    assert_true(json_equal(json_object_get(so, "method"), json_object_get(sr, "method")));
    assert_true(json_equal(json_object_get(so, "hash_type"), json_object_get(sr, "hash_type")));
    assert_true(
        json_equal(json_object_get(so, "allow_symlinks"), json_object_get(sr, "allow_symlinks")));
    json_t *ro = resource_map(ours), *rr = resource_map(ref);
    assert_int_equal(json_object_size(ro), 2);
    assert_true(json_equal(ro, rr));
    json_decref(ro);
    json_decref(rr);
    json_t *s0 = json_array_get(json_object_get(ours, "subject"), 0);
    json_t *s1 = json_array_get(json_object_get(ref, "subject"), 0);
    same_keys(s0, s1, "subject");
    assert_true(json_equal(json_object_get(s0, "digest"), json_object_get(s1, "digest")));
    assert_true(
        json_equal(json_object_get(ours, "predicateType"), json_object_get(ref, "predicateType")));
    assert_true(json_equal(json_object_get(ours, "_type"), json_object_get(ref, "_type")));
}

static void resign(const char *name, int with_cert)
{
    VEC_DECL;
    char tmp[64], dir[256], key[1100], chain[1200];
    copy_vector(name, tmp, sizeof(tmp), dir, sizeof(dir));
    snprintf(key, sizeof(key), "%s/keys/signing-key.pem", vec);
    const char *ign[] = {"ignore-me"};
    bundle_sign_opts o = {.key_path = key, .ignore = ign, .n_ignore = 1};
    if (with_cert) {
        /* chain file: the signing certificate, then the intermediate */
        char a[1100];
        snprintf(chain, sizeof(chain), "%s/chain.pem", tmp);
        snprintf(a, sizeof(a), "%s/keys/signing-key-cert.pem", vec);
        copy_file(a, chain);
        FILE *out = fopen(chain, "ab");
        snprintf(a, sizeof(a), "%s/keys/int-ca-cert.pem", vec);
        FILE *in = fopen(a, "rb");
        assert_non_null(out);
        assert_non_null(in);
        int c;
        while ((c = fgetc(in)) != EOF)
            fputc(c, out);
        fclose(in);
        fclose(out);
        o.cert_chain_path = chain;
    }
    cm_err err;
    if (bundle_sign(dir, &o, &err) != 0)
        fail_msg("%s", err.msg);
    /* our bundle verifies, by key and (certificate method) by CA */
    bundle_verified *v = NULL;
    if (verify_dir(dir, "key", "signing-key-pub.pem", NULL, &v, &err) != 0)
        fail_msg("re-signed %s: %s", name, err.msg);
    assert_int_equal(v->n_files, 2);
    bundle_verified_free(v);
    if (with_cert) {
        if (verify_dir(dir, "ca", "ca-cert.pem", NULL, &v, &err) != 0)
            fail_msg("re-signed %s by CA: %s", name, err.msg);
        assert_int_equal(v->info->method, BUNDLE_METHOD_CERT);
        bundle_verified_free(v);
        /* same certificates in the chain as the reference's bundle */
        char p[1200];
        snprintf(p, sizeof(p), "%s/model.sig", dir);
        json_t *ob = load_json(p);
        snprintf(p, sizeof(p), "%s/%s/model.sig", vec, name);
        json_t *rb = load_json(p);
        json_t *oc =
            json_object_get(json_object_get(ob, "verificationMaterial"), "x509CertificateChain");
        json_t *rc =
            json_object_get(json_object_get(rb, "verificationMaterial"), "x509CertificateChain");
        assert_true(json_equal(oc, rc));
        json_decref(ob);
        json_decref(rb);
    }
    /* same statement structure as the reference's */
    char refdir[1100];
    snprintf(refdir, sizeof(refdir), "%s/%s", vec, name);
    json_t *ours = statement_of(dir), *ref = statement_of(refdir);
    compare_statements(ours, ref, strncmp(name, "v1.1.0", 6) == 0);
    json_decref(ours);
    json_decref(ref);
    /* a flipped byte in a model file of the re-signed copy is refused */
    char p[400];
    snprintf(p, sizeof(p), "%s/signme-1", dir);
    FILE *f = fopen(p, "r+b");
    assert_non_null(f);
    int c = fgetc(f);
    fseek(f, 0, SEEK_SET);
    fputc(c ^ 0x20, f);
    fclose(f);
    assert_int_equal(verify_dir(dir, "key", "signing-key-pub.pem", NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "signme-1: content does not match"));
    remove_tree(tmp);
}

static void test_resign_v110_key(void **state)
{
    (void)state;
    NEED_VECTORS();
    resign("v1.1.0-elliptic-key", 0);
}

static void test_resign_v101_key(void **state)
{
    (void)state;
    NEED_VECTORS();
    resign("v1.0.1-elliptic-key", 0);
}

static void test_resign_v110_cert(void **state)
{
    (void)state;
    NEED_VECTORS();
    resign("v1.1.0-certificate", 1);
}

static void test_resign_v101_cert(void **state)
{
    (void)state;
    NEED_VECTORS();
    resign("v1.0.1-certificate", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v110_key),
        cmocka_unit_test(test_v101_key),
        cmocka_unit_test(test_v110_cert),
        cmocka_unit_test(test_v101_cert),
        cmocka_unit_test(test_untrusted_ca_and_key),
        cmocka_unit_test(test_key_hint),
        cmocka_unit_test(test_resign_v110_key),
        cmocka_unit_test(test_resign_v101_key),
        cmocka_unit_test(test_resign_v110_cert),
        cmocka_unit_test(test_resign_v101_cert),
    };
    if (!have_vectors()) {
        printf("1..0 # SKIP oms-vectors not found in $top_srcdir/../shared\n");
        return 0;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
