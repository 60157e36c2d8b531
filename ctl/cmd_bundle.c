/*
 * ctl/cmd_bundle.c -- 'gemmactl bundle': make signing keys, sign, verify
 * and inspect model bundles (OpenSSF Model Signing, see bundle/bundle.h).
 *
 * Exit status: 0 ok, 1 error or verification failed, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "bundle/bundle.h"
#include "ctl/ctl.h"
#include "ctl/progress.h"

#define MAX_LIST 64

typedef struct bundle_args {
    const char *dir;
    const char *out;
    const char *curve;
    const char *key[MAX_LIST];
    size_t n_key;
    const char *ca[MAX_LIST];
    size_t n_ca;
    const char *cert_chain;
    const char *signature; /* single-file mode: the signature file */
    const char *ignore[MAX_LIST];
    size_t n_ignore;
    int json;
    int help;
} bundle_args;

static const char usage_keygen[] =
    "usage: gemmactl bundle keygen [--curve p256|p384] --out PREFIX\n"
    "  Write PREFIX.key (private, mode 0600) and PREFIX.pub (public).\n";
static const char usage_sign[] =
    "usage: gemmactl bundle sign DIR --key KEY [--cert-chain FILE] [--ignore PATH]...\n"
    "       gemmactl bundle sign FILE --key KEY [--cert-chain FILE] [--signature SIG]\n"
    "  Hash every file of DIR and write DIR/model.sig signed with KEY (EC PEM);\n"
    "  or sign one FILE on its own, writing SIG (default FILE.sig).\n"
    "  --cert-chain FILE  PEM certificates, the signing certificate first\n"
    "  --ignore PATH      leave PATH (relative to DIR) out; repeatable\n";
static const char usage_verify[] =
    "usage: gemmactl bundle verify DIR (--key PUB | --ca CA)... [--ignore PATH]... [--json]\n"
    "       gemmactl bundle verify FILE --signature SIG (--key PUB | --ca CA)... [--json]\n"
    "  Check DIR/model.sig and every file of DIR, or a FILE signed on its own\n"
    "  against its signature file SIG.\n"
    "  --key PUB   trusted public key (PEM); repeatable\n"
    "  --ca CA     trusted CA certificates (PEM); repeatable\n"
    "  --ignore P  also ignore P (for signatures that do not record it)\n"
    "  exit status 0 verified, 1 not verified or error, 2 usage\n";
static const char usage_inspect[] =
    "usage: gemmactl bundle inspect DIR|SIG [--json]\n"
    "  Show what DIR/model.sig (or the signature file SIG) says (method,\n"
    "  signer, files, digests, root digest) without checking it.\n";

/* Is `path` a regular file (after symlinks)? A single-file model then. */
static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void usage_all(FILE *f)
{
    fprintf(f, "usage: gemmactl bundle COMMAND ...\n\ncommands:\n"
               "  keygen   make a signing key pair\n"
               "  sign     sign a model directory, or a single model file\n"
               "  verify   verify a signed model directory, or a file and its signature\n"
               "  inspect  show a directory's signature without checking it\n\n"
               "'gemmactl bundle COMMAND --help' describes each.\n");
}

/* Parse "--name VALUE", "--name=VALUE" and flags. Returns 0, or -1 on a
 * usage error (message printed). */
static int parse(int argc, char **argv, bundle_args *a, const char *allowed)
{
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            a->help = 1;
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0) {
            if (a->dir != NULL) {
                fprintf(stderr, "gemmactl bundle: unexpected argument '%s'\n", arg);
                return -1;
            }
            a->dir = arg;
            continue;
        }
        char name[32];
        const char *val = NULL;
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        if (nlen >= sizeof(name)) {
            fprintf(stderr, "gemmactl bundle: unknown option '%s'\n", arg);
            return -1;
        }
        memcpy(name, arg, nlen);
        name[nlen] = '\0';
        char key[40];
        snprintf(key, sizeof(key), " %s ", name + 2);
        if (strstr(allowed, key) == NULL) {
            fprintf(stderr, "gemmactl bundle: unknown option '%s'\n", name);
            return -1;
        }
        if (strcmp(name, "--json") == 0) {
            a->json = 1;
            continue;
        }
        if (eq != NULL)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            fprintf(stderr, "gemmactl bundle: %s needs a value\n", name);
            return -1;
        }
        const char **list = NULL;
        size_t *n = NULL;
        if (strcmp(name, "--key") == 0) {
            list = a->key;
            n = &a->n_key;
        } else if (strcmp(name, "--ca") == 0) {
            list = a->ca;
            n = &a->n_ca;
        } else if (strcmp(name, "--ignore") == 0) {
            list = a->ignore;
            n = &a->n_ignore;
        } else if (strcmp(name, "--out") == 0) {
            a->out = val;
        } else if (strcmp(name, "--curve") == 0) {
            a->curve = val;
        } else if (strcmp(name, "--cert-chain") == 0) {
            a->cert_chain = val;
        } else if (strcmp(name, "--signature") == 0) {
            a->signature = val;
        }
        if (list != NULL) {
            if (*n == MAX_LIST) {
                fprintf(stderr, "gemmactl bundle: too many %s options\n", name);
                return -1;
            }
            list[(*n)++] = val;
        }
    }
    return 0;
}

static int cmd_keygen(int argc, char **argv)
{
    bundle_args a;
    if (parse(argc, argv, &a, " curve out ") != 0 || (!a.help && (a.out == NULL || a.dir))) {
        fputs(usage_keygen, stderr);
        return CTL_EXIT_USAGE;
    }
    if (a.help) {
        fputs(usage_keygen, stdout);
        return CTL_EXIT_OK;
    }
    if (a.curve != NULL && strcmp(a.curve, "p256") != 0 && strcmp(a.curve, "p384") != 0) {
        fprintf(stderr, "gemmactl bundle keygen: --curve must be p256 or p384\n");
        return CTL_EXIT_USAGE;
    }
    cm_err err;
    if (bundle_keygen(a.curve, a.out, &err) != 0) {
        fprintf(stderr, "gemmactl bundle keygen: %s\n", err.msg);
        return CTL_EXIT_ERROR;
    }
    printf("wrote %s.key (private, mode 0600) and %s.pub\n", a.out, a.out);
    return CTL_EXIT_OK;
}

static int cmd_sign(int argc, char **argv)
{
    bundle_args a;
    if (parse(argc, argv, &a, " key cert-chain ignore signature ") != 0 ||
        (!a.help && (a.dir == NULL || a.n_key != 1))) {
        fputs(usage_sign, stderr);
        return CTL_EXIT_USAGE;
    }
    if (a.help) {
        fputs(usage_sign, stdout);
        return CTL_EXIT_OK;
    }
    ctl_progress prog;
    ctl_progress_init(&prog, "hashing");
    bundle_sign_opts o = {
        .key_path = a.key[0],
        .cert_chain_path = a.cert_chain,
        .ignore = a.ignore,
        .n_ignore = a.n_ignore,
        .progress = ctl_progress_cb,
        .progress_arg = &prog,
    };
    cm_err err;
    int single = is_file(a.dir);
    if (!single && a.signature != NULL) {
        ctl_progress_done(&prog);
        fprintf(stderr, "gemmactl bundle sign: %s is not a file: a folder's signature is "
                        "always DIR/%s (--signature is for single files)\n",
                a.dir, BUNDLE_SIG_NAME);
        return CTL_EXIT_USAGE;
    }
    if (single && a.n_ignore != 0) {
        ctl_progress_done(&prog);
        fprintf(stderr, "gemmactl bundle sign: %s is a single file: --ignore is for folders\n",
                a.dir);
        return CTL_EXIT_USAGE;
    }
    char sig_default[4096];
    const char *sig = a.signature;
    if (single && sig == NULL) {
        if (snprintf(sig_default, sizeof(sig_default), "%s.sig", a.dir) >=
            (int)sizeof(sig_default)) {
            ctl_progress_done(&prog);
            fprintf(stderr, "gemmactl bundle sign: path too long\n");
            return CTL_EXIT_USAGE;
        }
        sig = sig_default;
    }
    int rc = single ? bundle_sign_file(a.dir, sig, &o, &err) : bundle_sign(a.dir, &o, &err);
    ctl_progress_done(&prog);
    if (rc != 0) {
        fprintf(stderr, "gemmactl bundle sign: %s\n", err.msg);
        return CTL_EXIT_ERROR;
    }
    if (single)
        printf("signed %s (signature %s)\n", a.dir, sig);
    else
        printf("signed %s (%s/%s)\n", a.dir, a.dir, BUNDLE_SIG_NAME);
    return CTL_EXIT_OK;
}

static const char *method_name(bundle_method m)
{
    return m == BUNDLE_METHOD_CERT ? "certificate" : "key";
}

static json_t *info_json(const bundle_info *info)
{
    char hex[65];
    bundle_hex(info->root_digest, hex);
    json_t *files = json_array();
    for (size_t i = 0; i < info->n_entries; i++) {
        char d[65];
        bundle_hex(info->entries[i].digest, d);
        json_array_append_new(files,
                              json_pack("{s:s, s:s}", "path", info->entries[i].path, "sha256", d));
    }
    json_t *ign = json_array();
    for (size_t i = 0; i < info->n_ignore; i++)
        json_array_append_new(ign, json_string(info->ignore_paths[i]));
    return json_pack("{s:s, s:s, s:s?, s:s, s:o, s:o}", "method", method_name(info->method),
                     "signer", info->signer, "model_name", info->model_name, "root_digest", hex,
                     "ignore_paths", ign, "files", files);
}

static void print_json(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    if (s != NULL)
        printf("%s\n", s);
    free(s);
    json_decref(j);
}

static void print_info(const bundle_info *info)
{
    char hex[65];
    bundle_hex(info->root_digest, hex);
    printf("method:      %s\n",
           info->method == BUNDLE_METHOD_CERT ? "certificate chain" : "public key");
    printf("signer:      %s\n", info->signer);
    printf("model name:  %s\n", info->model_name ? info->model_name : "");
    printf("root digest: sha256:%s\n", hex);
    printf("ignored:    ");
    for (size_t i = 0; i < info->n_ignore; i++)
        printf(" %s", info->ignore_paths[i]);
    printf("%s\nfiles (%zu):\n", info->n_ignore ? "" : " (none recorded)", info->n_entries);
    for (size_t i = 0; i < info->n_entries; i++) {
        char d[65];
        bundle_hex(info->entries[i].digest, d);
        printf("  %s  %s\n", d, info->entries[i].path);
    }
}

static int cmd_inspect(int argc, char **argv)
{
    bundle_args a;
    if (parse(argc, argv, &a, " json ") != 0 || (!a.help && a.dir == NULL)) {
        fputs(usage_inspect, stderr);
        return CTL_EXIT_USAGE;
    }
    if (a.help) {
        fputs(usage_inspect, stdout);
        return CTL_EXIT_OK;
    }
    bundle_info *info = NULL;
    cm_err err;
    int rc = is_file(a.dir) ? bundle_inspect_file(a.dir, &info, &err)
                            : bundle_inspect(a.dir, &info, &err);
    if (rc != 0) {
        if (a.json)
            print_json(json_pack("{s:b, s:s}", "ok", 0, "error", err.msg));
        fprintf(stderr, "gemmactl bundle inspect: %s\n", err.msg);
        return CTL_EXIT_ERROR;
    }
    if (a.json)
        print_json(info_json(info));
    else
        print_info(info);
    bundle_info_free(info);
    return CTL_EXIT_OK;
}

static int cmd_verify(int argc, char **argv)
{
    bundle_args a;
    if (parse(argc, argv, &a, " key ca ignore json signature ") != 0 ||
        (!a.help && (a.dir == NULL || a.n_key + a.n_ca == 0))) {
        fputs(usage_verify, stderr);
        return CTL_EXIT_USAGE;
    }
    if (a.help) {
        fputs(usage_verify, stdout);
        return CTL_EXIT_OK;
    }
    if (a.signature != NULL && a.n_ignore != 0) {
        fprintf(stderr, "gemmactl bundle verify: --ignore is for folders, not single files\n");
        return CTL_EXIT_USAGE;
    }
    if (a.signature == NULL && is_file(a.dir)) {
        fprintf(stderr, "gemmactl bundle verify: %s is a single file: give its signature "
                        "with --signature SIG\n", a.dir);
        return CTL_EXIT_USAGE;
    }
    cm_err err;
    bundle_trust *trust = NULL;
    bundle_verified *v = NULL;
    int rc = bundle_trust_new(&trust, &err);
    for (size_t i = 0; rc == 0 && i < a.n_key; i++)
        rc = bundle_trust_add_key_file(trust, a.key[i], &err);
    for (size_t i = 0; rc == 0 && i < a.n_ca; i++)
        rc = bundle_trust_add_ca_file(trust, a.ca[i], &err);
    if (rc == 0) {
        ctl_progress prog;
        ctl_progress_init(&prog, "hashing");
        bundle_verify_opts o = {
            .extra_ignore = a.ignore,
            .n_extra_ignore = a.n_ignore,
            .progress = ctl_progress_cb,
            .progress_arg = &prog,
        };
        rc = a.signature != NULL ? bundle_verify_file(a.dir, a.signature, trust, &o, &v, &err)
                                 : bundle_verify(a.dir, trust, &o, &v, &err);
        ctl_progress_done(&prog);
    }
    bundle_trust_free(trust);
    if (rc != 0) {
        if (a.json)
            print_json(json_pack("{s:b, s:s, s:s}", "ok", 0, "dir", a.dir, "error", err.msg));
        fprintf(stderr, "gemmactl bundle verify: FAILED: %s\n", err.msg);
        return CTL_EXIT_ERROR;
    }
    if (a.json) {
        json_t *j = info_json(v->info);
        json_t *files = json_array();
        for (size_t i = 0; i < v->n_files; i++) {
            char d[65];
            bundle_hex(v->files[i].digest, d);
            json_array_append_new(files,
                                  json_pack("{s:s, s:s, s:I}", "path", v->files[i].path, "sha256",
                                            d, "size", (json_int_t)v->files[i].size));
        }
        json_object_set_new(j, "files", files);
        json_object_set_new(j, "ok", json_true());
        json_object_set_new(j, "dir", json_string(a.dir));
        print_json(j);
    } else {
        char hex[65];
        bundle_hex(v->info->root_digest, hex);
        printf("%s: verified (%s, %zu files, root sha256:%s)\n", a.dir, v->info->signer, v->n_files,
               hex);
    }
    bundle_verified_free(v);
    return CTL_EXIT_OK;
}

int ctl_cmd_bundle(int argc, char **argv)
{
    static const ctl_subcmd cmds[] = {
        {"keygen", cmd_keygen},
        {"sign", cmd_sign},
        {"verify", cmd_verify},
        {"inspect", cmd_inspect},
    };
    return ctl_run_subcmd("bundle", cmds, sizeof(cmds) / sizeof(cmds[0]), usage_all, true, argc,
                          argv);
}
