/*
 * tests/unit/test_daemon_bundle.c -- gemmad opening a model from a signed
 * bundle: a bundle signed by a trusted key opens and yields the very file
 * that was hashed; a changed file, an untrusted signer, or a file name the
 * bundle does not list are refused. The same for a GGUF signed on its own
 * (models[].path + signature).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bundle/bundle.h"
#include "daemon/bundle_open.h"

typedef struct fixture {
    char root[256];
    char bundle[300];
    char keys[300];
    gmd_config cfg;
    gmd_model_config mc;
} fixture;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    snprintf(fx->root, sizeof(fx->root), "%s/gemmad-bundle-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(fx->root));
    snprintf(fx->bundle, sizeof(fx->bundle), "%s/model", fx->root);
    snprintf(fx->keys, sizeof(fx->keys), "%s/keys", fx->root);
    assert_int_equal(mkdir(fx->bundle, 0700), 0);
    assert_int_equal(mkdir(fx->keys, 0700), 0);
    char p[400];
    snprintf(p, sizeof(p), "%s/tiny.gguf", fx->bundle);
    write_file(p, "GGUF pretend weights\n");
    snprintf(p, sizeof(p), "%s/README", fx->bundle);
    write_file(p, "a model\n");
    cm_err err;
    char prefix[400];
    snprintf(prefix, sizeof(prefix), "%s/signer", fx->keys);
    if (bundle_keygen("p256", prefix, &err) < 0)
        fail_msg("%s", err.msg);
    snprintf(prefix, sizeof(prefix), "%s/stranger", fx->keys);
    if (bundle_keygen("p256", prefix, &err) < 0)
        fail_msg("%s", err.msg);
    char key[400];
    snprintf(key, sizeof(key), "%s/signer.key", fx->keys);
    bundle_sign_opts so = {.key_path = key};
    if (bundle_sign(fx->bundle, &so, &err) < 0)
        fail_msg("%s", err.msg);
    gmd_config_defaults(&fx->cfg);
    snprintf(fx->cfg.bundle_keys, sizeof(fx->cfg.bundle_keys), "%s/signer.pub", fx->keys);
    snprintf(fx->mc.name, sizeof(fx->mc.name), "tiny");
    snprintf(fx->mc.bundle, sizeof(fx->mc.bundle), "%s", fx->bundle);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->root);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not remove %s\n", fx->root);
    free(fx);
    return 0;
}

static void test_trusted_bundle_opens(void **state)
{
    fixture *fx = *state;
    int fd = -1;
    char root[65] = "";
    cm_err err;
    if (gmd_bundle_open(&fx->cfg, &fx->mc, &fd, root, &err) < 0)
        fail_msg("%s", err.msg);
    assert_true(fd >= 0);
    char buf[64] = {0};
    assert_int_equal(pread(fd, buf, sizeof(buf) - 1, 0), 21);
    assert_string_equal(buf, "GGUF pretend weights\n");
    close(fd);
    assert_int_equal(strlen(root), 64);
    /* Naming the file explicitly gives the same. */
    snprintf(fx->mc.path, sizeof(fx->mc.path), "tiny.gguf");
    assert_int_equal(gmd_bundle_open(&fx->cfg, &fx->mc, &fd, root, &err), 0);
    close(fd);
}

static void test_changed_file_refused(void **state)
{
    fixture *fx = *state;
    char p[400];
    snprintf(p, sizeof(p), "%s/tiny.gguf", fx->bundle);
    write_file(p, "GGUF pretend weightz\n");
    int fd = 7;
    char root[65];
    cm_err err;
    assert_int_equal(gmd_bundle_open(&fx->cfg, &fx->mc, &fd, root, &err), -1);
    assert_int_equal(fd, -1);
    assert_non_null(strstr(err.msg, "model tiny: bundle"));
}

static void test_untrusted_signer_refused(void **state)
{
    fixture *fx = *state;
    snprintf(fx->cfg.bundle_keys, sizeof(fx->cfg.bundle_keys), "%s/stranger.pub", fx->keys);
    int fd;
    char root[65];
    cm_err err;
    assert_int_equal(gmd_bundle_open(&fx->cfg, &fx->mc, &fd, root, &err), -1);
    assert_true(strlen(err.msg) > 0);
}

static void test_unlisted_name_refused(void **state)
{
    fixture *fx = *state;
    snprintf(fx->mc.path, sizeof(fx->mc.path), "other.gguf");
    int fd;
    char root[65];
    cm_err err;
    assert_int_equal(gmd_bundle_open(&fx->cfg, &fx->mc, &fd, root, &err), -1);
    assert_non_null(strstr(err.msg, "lists no file 'other.gguf'"));
}

/* A GGUF signed on its own: models[].path + signature (bundle set to the
 * path by the config parser). */
static void sign_single(fixture *fx, char *file, size_t fn, char *sig, size_t sn)
{
    snprintf(file, fn, "%s/single.gguf", fx->root);
    snprintf(sig, sn, "%s/single.gguf.sig", fx->root);
    write_file(file, "GGUF a single signed file\n");
    char key[400];
    snprintf(key, sizeof(key), "%s/signer.key", fx->keys);
    bundle_sign_opts so = {.key_path = key};
    cm_err err;
    if (bundle_sign_file(file, sig, &so, &err) < 0)
        fail_msg("%s", err.msg);
    snprintf(fx->mc.path, sizeof(fx->mc.path), "%s", file);
    snprintf(fx->mc.bundle, sizeof(fx->mc.bundle), "%s", file);
    snprintf(fx->mc.signature, sizeof(fx->mc.signature), "%s", sig);
}

static void test_single_file_opens(void **state)
{
    fixture *fx = *state;
    char file[400], sig[400];
    sign_single(fx, file, sizeof(file), sig, sizeof(sig));
    int fd = -1;
    char root[65] = "";
    cm_err err;
    if (gmd_bundle_open(&fx->cfg, &fx->mc, &fd, root, &err) < 0)
        fail_msg("%s", err.msg);
    char buf[64] = {0};
    assert_int_equal(pread(fd, buf, sizeof(buf) - 1, 0), 26);
    assert_string_equal(buf, "GGUF a single signed file\n");
    close(fd);
    assert_int_equal(strlen(root), 64);
}

static void test_single_file_changed_refused(void **state)
{
    fixture *fx = *state;
    char file[400], sig[400];
    sign_single(fx, file, sizeof(file), sig, sizeof(sig));
    write_file(file, "GGUF a single signed filf\n");
    int fd = 7;
    char root[65];
    cm_err err;
    assert_int_equal(gmd_bundle_open(&fx->cfg, &fx->mc, &fd, root, &err), -1);
    assert_int_equal(fd, -1);
    assert_non_null(strstr(err.msg, "model tiny: "));
    assert_non_null(strstr(err.msg, "content does not match the signature"));
}

static void test_single_file_folder_signature_refused(void **state)
{
    fixture *fx = *state;
    char file[400], sig[400];
    sign_single(fx, file, sizeof(file), sig, sizeof(sig));
    /* the folder's model.sig given as the file's signature */
    snprintf(fx->mc.signature, sizeof(fx->mc.signature), "%s/model.sig", fx->bundle);
    int fd;
    char root[65];
    cm_err err;
    assert_int_equal(gmd_bundle_open(&fx->cfg, &fx->mc, &fd, root, &err), -1);
    assert_non_null(strstr(err.msg, "not for a single file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_trusted_bundle_opens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_file_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_signer_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlisted_name_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_file_opens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_file_changed_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_file_folder_signature_refused, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
