/*
 * ctl/cmd_pki.c -- 'gemmactl pki': a small site PKI for gemmad's mutual
 * TLS. `init` makes the CA, the server certificate and an admin client
 * certificate plus an empty CRL; `issue` makes client certificates whose
 * OU is the role (the policy maps OU to role); `revoke` adds a serial to
 * the CRL gemmad reads; `list` shows index.json, the record of every
 * certificate issued.
 *
 * Layout of DIR (default /etc/gemmad/pki as root, else
 * ~/.config/gemmactl/pki): ca.crt ca.key server.crt server.key admin.crt
 * admin.key crl.pem index.json clients/NAME.crt clients/NAME.key.
 * Private keys are mode 0600. Exit status: 0 ok, 1 error, 2 usage.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl/ctl.h"
#include "ctl/pki_x509.h"

#define PKI_MAX_HOSTS 32
#define PKI_CA_DAYS 3650
/* The CRL is a local file the operator rewrites with 'revoke', not one
 * fetched from a distribution point, so a long nextUpdate only keeps
 * OpenSSL from rejecting an old but current list ("CRL has expired"),
 * which would lock every client out of gemmad. */
#define PKI_CRL_DAYS 3650

typedef struct pki_args {
    const char *dir;
    const char *site;
    const char *hosts[PKI_MAX_HOSTS];
    size_t n_hosts;
    int days;
    const char *role;
    const char *cn;
    const char *serial;
    int json;
    int help;
} pki_args;

static const char usage_text[] =
    "usage: gemmactl pki COMMAND [OPTIONS]\n\n"
    "  init [--dir DIR] [--site NAME] [--server-name HOST]... [--days N]\n"
    "      make the site CA, the server certificate (SANs localhost, 127.0.0.1,\n"
    "      ::1 and each HOST), an admin client certificate (CN=admin,\n"
    "      OU=admin) and an empty CRL\n"
    "  issue --role ROLE --cn NAME [--days N] [--dir DIR]\n"
    "      make a client certificate; the role is its OU\n"
    "  revoke SERIAL [--dir DIR]\n"
    "      revoke a certificate and rewrite crl.pem\n"
    "  list [--json] [--dir DIR]\n"
    "      show every certificate issued\n\n"
    "DIR defaults to /etc/gemmad/pki as root, else ~/.config/gemmactl/pki.\n"
    "exit status: 0 ok, 1 error, 2 usage\n";

static int parse(int argc, char **argv, pki_args *a, const char *allowed)
{
    memset(a, 0, sizeof(*a));
    a->days = 365;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            a->help = 1;
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0) {
            if (strstr(allowed, " SERIAL ") == NULL || a->serial != NULL) {
                fprintf(stderr, "gemmactl pki: unexpected argument '%s'\n", arg);
                return -1;
            }
            a->serial = arg;
            continue;
        }
        char key[40];
        snprintf(key, sizeof(key), " %s ", arg + 2);
        if (strlen(arg) > 30 || strstr(allowed, key) == NULL) {
            fprintf(stderr, "gemmactl pki: unknown option '%s'\n", arg);
            return -1;
        }
        if (strcmp(arg, "--json") == 0) {
            a->json = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "gemmactl pki: %s needs a value\n", arg);
            return -1;
        }
        const char *val = argv[++i];
        if (strcmp(arg, "--dir") == 0)
            a->dir = val;
        else if (strcmp(arg, "--site") == 0)
            a->site = val;
        else if (strcmp(arg, "--role") == 0)
            a->role = val;
        else if (strcmp(arg, "--cn") == 0)
            a->cn = val;
        else if (strcmp(arg, "--days") == 0) {
            char *end;
            long d = strtol(val, &end, 10);
            if (*end != '\0' || d < 1 || d > 36500) {
                fprintf(stderr, "gemmactl pki: --days must be 1..36500\n");
                return -1;
            }
            a->days = (int)d;
        } else if (strcmp(arg, "--server-name") == 0) {
            if (a->n_hosts == PKI_MAX_HOSTS) {
                fprintf(stderr, "gemmactl pki: too many --server-name options\n");
                return -1;
            }
            a->hosts[a->n_hosts++] = val;
        }
    }
    return 0;
}

/* The PKI directory: --dir, or the default for this user. */
static int pki_dir(const pki_args *a, char *out, size_t len, cm_err *err)
{
    if (a->dir != NULL) {
        snprintf(out, len, "%s", a->dir);
        return 0;
    }
    if (geteuid() == 0) {
        snprintf(out, len, "/etc/gemmad/pki");
        return 0;
    }
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0')
        return cm_err_set(err, "HOME is not set; give --dir");
    snprintf(out, len, "%s/.config/gemmactl/pki", home);
    return 0;
}

static int mkdir_p(const char *path, mode_t mode, cm_err *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return cm_err_set(err, "%s: path too long", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return cm_err_errno(err, "create %s", buf);
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return cm_err_errno(err, "create %s", buf);
    return 0;
}

/* A name usable as a file name and in a subject: [A-Za-z0-9._@-], not
 * starting with '.'. */
static int safe_name(const char *s)
{
    if (s == NULL || s[0] == '\0' || s[0] == '.' || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-' && *s != '@')
            return 0;
    return 1;
}

static void path_in(char *out, size_t len, const char *dir, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

/* ---- index.json ---------------------------------------------------------- */

static json_t *index_load(const char *dir, cm_err *err)
{
    char p[4200];
    path_in(p, sizeof(p), dir, "index.json");
    json_error_t je;
    json_t *idx = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
    if (idx == NULL) {
        if (access(p, F_OK) != 0)
            cm_err_set(err, "%s: no PKI here (run 'gemmactl pki init' first)", dir);
        else
            cm_err_set(err, "%s: %s (line %d)", p, je.text, je.line);
        return NULL;
    }
    if (!json_is_object(idx) || !json_is_array(json_object_get(idx, "certs"))) {
        json_decref(idx);
        cm_err_set(err, "%s: not a gemmactl PKI index", p);
        return NULL;
    }
    return idx;
}

static int index_save(const char *dir, json_t *idx, cm_err *err)
{
    char p[4200];
    path_in(p, sizeof(p), dir, "index.json");
    char *text = json_dumps(idx, JSON_INDENT(2));
    if (text == NULL)
        return cm_err_set(err, "cannot serialise the index");
    size_t n = strlen(text);
    char *withnl = realloc(text, n + 2);
    if (withnl == NULL) {
        free(text);
        return cm_err_set(err, "out of memory");
    }
    withnl[n] = '\n';
    withnl[n + 1] = '\0';
    int rc = pki_write_text(p, withnl, 0644, err);
    free(withnl);
    return rc;
}

static int index_add(json_t *idx, const char *serial, pki_kind kind, const char *cn,
                     const char *role, X509 *cert, const char *file)
{
    static const char *const kinds[] = {"ca", "server", "client"};
    char after[32];
    pki_not_after(cert, after);
    json_t *e =
        json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:s}", "serial", serial, "kind", kinds[kind],
                  "cn", cn, "role", role, "not_after", after, "status", "valid", "cert", file);
    return e != NULL ? json_array_append_new(json_object_get(idx, "certs"), e) : -1;
}

/* Lowercase hex without colons or leading zeros, for comparisons. */
static void norm_serial(const char *in, char *out, size_t len)
{
    size_t n = 0;
    if (strncmp(in, "0x", 2) == 0 || strncmp(in, "0X", 2) == 0)
        in += 2;
    while (*in == '0' || *in == ':')
        in++;
    for (; *in && n + 1 < len; in++)
        if (*in != ':')
            out[n++] = (char)tolower((unsigned char)*in);
    out[n] = '\0';
}

/* Rewrite crl.pem from the index's revoked entries. */
static int write_crl(const char *dir, json_t *idx, X509 *ca, EVP_PKEY *ca_key, cm_err *err)
{
    json_t *certs = json_object_get(idx, "certs");
    size_t n = json_array_size(certs), k = 0;
    pki_revoked *rev = calloc(n + 1, sizeof(*rev));
    if (rev == NULL)
        return cm_err_set(err, "out of memory");
    json_t *e;
    size_t i;
    json_array_foreach(certs, i, e)
    {
        const char *st = json_string_value(json_object_get(e, "status"));
        if (st == NULL || strcmp(st, "revoked") != 0)
            continue;
        rev[k].serial_hex = json_string_value(json_object_get(e, "serial"));
        rev[k].when = (time_t)json_integer_value(json_object_get(e, "revoked_at"));
        if (rev[k].serial_hex != NULL)
            k++;
    }
    json_int_t number = json_integer_value(json_object_get(idx, "crl_number")) + 1;
    json_object_set_new(idx, "crl_number", json_integer(number));
    X509_CRL *crl = pki_make_crl(ca, ca_key, rev, k, (long)number, PKI_CRL_DAYS, err);
    free(rev);
    if (crl == NULL)
        return -1;
    char p[4200];
    path_in(p, sizeof(p), dir, "crl.pem");
    int rc = pki_write_crl(p, crl, err);
    X509_CRL_free(crl);
    return rc;
}

/* Make key + certificate and write NAME.crt / NAME.key under dir. */
static int issue_pair(const char *dir, const char *name, const pki_cert_spec *spec, X509 *ca,
                      EVP_PKEY *ca_key, json_t *idx, X509 **cert_out, EVP_PKEY **key_out,
                      cm_err *err)
{
    EVP_PKEY *key = pki_new_key(err);
    if (key == NULL)
        return -1;
    char serial[64], cp[4200], kp[4200], rel[300];
    X509 *cert = pki_make_cert(spec, key, ca, ca_key, serial, err);
    if (cert == NULL) {
        EVP_PKEY_free(key);
        return -1;
    }
    snprintf(rel, sizeof(rel), "%s.crt", name);
    path_in(cp, sizeof(cp), dir, rel);
    snprintf(rel, sizeof(rel), "%s.key", name);
    path_in(kp, sizeof(kp), dir, rel);
    int rc = pki_write_key(kp, key, err);
    if (rc == 0)
        rc = pki_write_cert(cp, cert, err);
    snprintf(rel, sizeof(rel), "%s.crt", name);
    if (rc == 0 && index_add(idx, serial, spec->kind, spec->cn,
                             spec->kind == PKI_KIND_CLIENT ? spec->ou : NULL, cert, rel) != 0)
        rc = cm_err_set(err, "cannot record %s in the index", name);
    if (rc == 0 && cert_out != NULL) {
        *cert_out = cert;
        cert = NULL;
    }
    if (rc == 0 && key_out != NULL) {
        *key_out = key;
        key = NULL;
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

/* ---- commands ------------------------------------------------------------ */

static int cmd_init(const pki_args *a, const char *dir)
{
    cm_err err;
    char p[4200];
    path_in(p, sizeof(p), dir, "ca.key");
    if (access(p, F_OK) == 0) {
        fprintf(stderr, "gemmactl pki init: %s already exists; not replacing a CA\n", p);
        return CTL_EXIT_ERROR;
    }
    const char *site = a->site ? a->site : "gemmad";
    char ca_cn[200], clients[4200];
    snprintf(ca_cn, sizeof(ca_cn), "%s CA", site);
    path_in(clients, sizeof(clients), dir, "clients");
    if (mkdir_p(dir, 0700, &err) != 0 || mkdir_p(clients, 0700, &err) != 0) {
        fprintf(stderr, "gemmactl pki init: %s\n", err.msg);
        return CTL_EXIT_ERROR;
    }
    for (size_t i = 0; i < a->n_hosts; i++)
        if (!pki_host_is_valid(a->hosts[i])) {
            fprintf(stderr, "gemmactl pki init: '%s' is not a valid host name or address\n",
                    a->hosts[i]);
            return CTL_EXIT_USAGE;
        }
    json_t *idx = json_pack("{s:s, s:i, s:[]}", "site", site, "crl_number", 0, "certs");
    EVP_PKEY *ca_key = pki_new_key(&err);
    X509 *ca = NULL;
    char serial[64];
    int rc = -1;
    pki_cert_spec cas = {.kind = PKI_KIND_CA,
                         .o = site,
                         .cn = ca_cn,
                         .days = a->days > PKI_CA_DAYS ? a->days : PKI_CA_DAYS};
    const char *server_cn = a->n_hosts > 0 ? a->hosts[0] : "localhost";
    pki_cert_spec srv = {.kind = PKI_KIND_SERVER,
                         .o = site,
                         .ou = "server",
                         .cn = server_cn,
                         .days = a->days,
                         .hosts = a->hosts,
                         .n_hosts = a->n_hosts};
    pki_cert_spec adm = {
        .kind = PKI_KIND_CLIENT, .o = site, .ou = "admin", .cn = "admin", .days = a->days};
    if (idx == NULL || ca_key == NULL)
        goto out;
    if ((ca = pki_make_cert(&cas, ca_key, NULL, NULL, serial, &err)) == NULL)
        goto out;
    if (pki_write_key(p, ca_key, &err) != 0)
        goto out;
    path_in(p, sizeof(p), dir, "ca.crt");
    if (pki_write_cert(p, ca, &err) != 0 ||
        index_add(idx, serial, PKI_KIND_CA, ca_cn, NULL, ca, "ca.crt") != 0)
        goto out;
    if (issue_pair(dir, "server", &srv, ca, ca_key, idx, NULL, NULL, &err) != 0 ||
        issue_pair(dir, "admin", &adm, ca, ca_key, idx, NULL, NULL, &err) != 0 ||
        write_crl(dir, idx, ca, ca_key, &err) != 0 || index_save(dir, idx, &err) != 0)
        goto out;
    rc = 0;
    printf("site PKI for \"%s\" in %s:\n"
           "  ca.crt ca.key          site CA (trust anchor for clients and servers)\n"
           "  server.crt server.key  gemmad's certificate (SANs localhost, 127.0.0.1, ::1",
           site, dir);
    for (size_t i = 0; i < a->n_hosts; i++)
        printf(", %s", a->hosts[i]);
    printf(")\n  admin.crt admin.key    client certificate CN=admin, OU=admin\n"
           "  crl.pem                revocation list (empty)\n"
           "gemmad.yaml:\n  tls:\n    certificate: %s/server.crt\n    private_key: %s/server.key\n"
           "    client_ca: %s/ca.crt\n    crl: %s/crl.pem\n",
           dir, dir, dir, dir);
out:
    if (rc != 0) {
        if (idx == NULL)
            cm_err_set(&err, "out of memory");
        fprintf(stderr, "gemmactl pki init: %s\n", err.msg);
    }
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    json_decref(idx);
    return rc == 0 ? CTL_EXIT_OK : CTL_EXIT_ERROR;
}

static int load_ca(const char *dir, X509 **ca, EVP_PKEY **key, cm_err *err)
{
    char p[4200];
    path_in(p, sizeof(p), dir, "ca.crt");
    if ((*ca = pki_load_cert(p, err)) == NULL)
        return -1;
    path_in(p, sizeof(p), dir, "ca.key");
    if ((*key = pki_load_key(p, err)) == NULL) {
        X509_free(*ca);
        *ca = NULL;
        return -1;
    }
    if (X509_check_private_key(*ca, *key) != 1) {
        X509_free(*ca);
        EVP_PKEY_free(*key);
        *ca = NULL;
        *key = NULL;
        return cm_err_set(err, "%s/ca.key does not match ca.crt", dir);
    }
    return 0;
}

/* The end of a subcommand that loaded the CA and the index: the error on
 * stderr where rc != 0, all of them freed; the exit status. */
static int pki_finish(const char *sub, int rc, const cm_err *err, X509 *ca, EVP_PKEY *ca_key,
                      json_t *idx)
{
    if (rc != 0)
        fprintf(stderr, "gemmactl pki %s: %s\n", sub, err->msg);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    json_decref(idx);
    return rc == 0 ? CTL_EXIT_OK : CTL_EXIT_ERROR;
}

static int cmd_issue(const pki_args *a, const char *dir)
{
    if (!safe_name(a->role) || !safe_name(a->cn)) {
        fprintf(stderr, "gemmactl pki issue: --role and --cn are required, letters, digits "
                        "and . _ - @ only\n");
        return CTL_EXIT_USAGE;
    }
    cm_err err;
    X509 *ca = NULL;
    EVP_PKEY *ca_key = NULL;
    json_t *idx = index_load(dir, &err);
    int rc = -1;
    if (idx == NULL || load_ca(dir, &ca, &ca_key, &err) != 0)
        goto out;
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(idx, "certs"), i, e)
    {
        const char *kind = json_string_value(json_object_get(e, "kind"));
        const char *cn = json_string_value(json_object_get(e, "cn"));
        const char *st = json_string_value(json_object_get(e, "status"));
        if (kind && cn && st && strcmp(kind, "client") == 0 && strcmp(cn, a->cn) == 0 &&
            strcmp(st, "valid") == 0) {
            cm_err_set(&err, "%s already has a valid certificate (serial %s); revoke it first",
                       a->cn, json_string_value(json_object_get(e, "serial")));
            goto out;
        }
    }
    const char *site = json_string_value(json_object_get(idx, "site"));
    pki_cert_spec spec = {
        .kind = PKI_KIND_CLIENT, .o = site, .ou = a->role, .cn = a->cn, .days = a->days};
    char name[128];
    snprintf(name, sizeof(name), "clients/%s", a->cn);
    if (issue_pair(dir, name, &spec, ca, ca_key, idx, NULL, NULL, &err) != 0 ||
        index_save(dir, idx, &err) != 0)
        goto out;
    json_t *last = json_array_get(json_object_get(idx, "certs"),
                                  json_array_size(json_object_get(idx, "certs")) - 1);
    printf("issued %s/%s.crt and %s/%s.key (CN=%s, OU=%s, serial %s)\n", dir, name, dir, name,
           a->cn, a->role, json_string_value(json_object_get(last, "serial")));
    rc = 0;
out:
    return pki_finish("issue", rc, &err, ca, ca_key, idx);
}

static int cmd_revoke(const pki_args *a, const char *dir)
{
    if (a->serial == NULL) {
        fputs(usage_text, stderr);
        return CTL_EXIT_USAGE;
    }
    cm_err err;
    X509 *ca = NULL;
    EVP_PKEY *ca_key = NULL;
    json_t *idx = index_load(dir, &err);
    int rc = -1;
    char want[80], have[80];
    norm_serial(a->serial, want, sizeof(want));
    if (idx == NULL || load_ca(dir, &ca, &ca_key, &err) != 0)
        goto out;
    json_t *e, *found = NULL;
    size_t i;
    json_array_foreach(json_object_get(idx, "certs"), i, e)
    {
        const char *s = json_string_value(json_object_get(e, "serial"));
        if (s == NULL)
            continue;
        norm_serial(s, have, sizeof(have));
        if (want[0] != '\0' && strcmp(have, want) == 0)
            found = e;
    }
    if (found == NULL) {
        cm_err_set(&err, "no certificate with serial %s in %s/index.json", a->serial, dir);
        goto out;
    }
    const char *kind = json_string_value(json_object_get(found, "kind"));
    if (kind != NULL && strcmp(kind, "ca") == 0) {
        cm_err_set(&err, "serial %s is the CA itself; make a new PKI instead", a->serial);
        goto out;
    }
    const char *st = json_string_value(json_object_get(found, "status"));
    if (st != NULL && strcmp(st, "revoked") == 0) {
        cm_err_set(&err, "serial %s is already revoked", a->serial);
        goto out;
    }
    json_object_set_new(found, "status", json_string("revoked"));
    json_object_set_new(found, "revoked_at", json_integer((json_int_t)time(NULL)));
    if (write_crl(dir, idx, ca, ca_key, &err) != 0 || index_save(dir, idx, &err) != 0)
        goto out;
    printf("revoked %s (CN=%s); %s/crl.pem updated (reload gemmad to apply)\n", a->serial,
           json_string_value(json_object_get(found, "cn")), dir);
    rc = 0;
out:
    return pki_finish("revoke", rc, &err, ca, ca_key, idx);
}

static int cmd_list(const pki_args *a, const char *dir)
{
    cm_err err;
    json_t *idx = index_load(dir, &err);
    if (idx == NULL) {
        fprintf(stderr, "gemmactl pki list: %s\n", err.msg);
        return CTL_EXIT_ERROR;
    }
    if (a->json) {
        char *s = json_dumps(idx, JSON_INDENT(2));
        if (s != NULL)
            printf("%s\n", s);
        free(s);
    } else {
        printf("%-34s %-7s %-8s %-10s %-20s %s\n", "SERIAL", "STATUS", "KIND", "ROLE", "NOT AFTER",
               "CN");
        json_t *e;
        size_t i;
        json_array_foreach(json_object_get(idx, "certs"), i, e)
        {
            const char *role = json_string_value(json_object_get(e, "role"));
            printf("%-34s %-7s %-8s %-10s %-20s %s\n",
                   json_string_value(json_object_get(e, "serial")),
                   json_string_value(json_object_get(e, "status")),
                   json_string_value(json_object_get(e, "kind")), role ? role : "-",
                   json_string_value(json_object_get(e, "not_after")),
                   json_string_value(json_object_get(e, "cn")));
        }
    }
    json_decref(idx);
    return CTL_EXIT_OK;
}

int ctl_cmd_pki(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return CTL_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        fputs(usage_text, stdout);
        return CTL_EXIT_OK;
    }
    static const struct {
        const char *name, *allowed;
        int (*run)(const pki_args *, const char *);
    } cmds[] = {
        {"init", " dir site server-name days ", cmd_init},
        {"issue", " dir role cn days ", cmd_issue},
        {"revoke", " dir SERIAL ", cmd_revoke},
        {"list", " dir json ", cmd_list},
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(sub, cmds[i].name) != 0)
            continue;
        pki_args a;
        if (parse(argc - 1, argv + 1, &a, cmds[i].allowed) != 0) {
            fputs(usage_text, stderr);
            return CTL_EXIT_USAGE;
        }
        if (a.help) {
            fputs(usage_text, stdout);
            return CTL_EXIT_OK;
        }
        char dir[4096];
        cm_err err;
        if (pki_dir(&a, dir, sizeof(dir), &err) != 0) {
            fprintf(stderr, "gemmactl pki %s: %s\n", sub, err.msg);
            return CTL_EXIT_ERROR;
        }
        return cmds[i].run(&a, dir);
    }
    fprintf(stderr, "gemmactl pki: unknown command '%s'\n", sub);
    fputs(usage_text, stderr);
    return CTL_EXIT_USAGE;
}
