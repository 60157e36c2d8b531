/*
 * ctl/settings.c -- gemmactl's settings in layers (file, environment,
 * flags) and the default endpoint read from gemmad.yaml. See settings.h.
 */
#include "ctl/settings.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#ifndef CTL_SYSCONFDIR
#define CTL_SYSCONFDIR "/etc"
#endif

#define CTL_FILE_MAX (1u << 20)

/* Read a whole small file; *found = 0 and no error when it does not exist. */
static int read_file(const char *path, char **text, size_t *len, int *found, cm_err *err)
{
    *text = NULL;
    *len = 0;
    *found = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        return cm_err_errno(err, "cannot open %s", path);
    }
    char *buf = malloc(CTL_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return cm_err_set(err, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, CTL_FILE_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return cm_err_set(err, "cannot read %s", path);
    }
    if (n > CTL_FILE_MAX) {
        free(buf);
        return cm_err_set(err, "%s: larger than 1 MiB", path);
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    *found = 1;
    return 0;
}

static int load_doc(yaml_document_t *doc, const char *text, size_t len, const char *name,
                    cm_err *err)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return cm_err_set(err, "%s: cannot start the YAML parser", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int ok = yaml_parser_load(&parser, doc);
    if (!ok) {
        cm_err_set(err, "%s:%zu: %s", name, parser.problem_mark.line + 1,
                   parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_parser_delete(&parser);
    return 0;
}

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Value of `key` in mapping `map`, or NULL. */
static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *k = scalar(yaml_document_get_node(doc, p->key));
        if (k && strcmp(k, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static int set_path(char *dst, const char *value, const char *base_dir, bool relative_ok,
                    const char *name, size_t line, const char *key, cm_err *err)
{
    int n;
    if (relative_ok && base_dir && value[0] != '/' && value[0] != '\0')
        n = snprintf(dst, CTL_SETTING_MAX, "%s/%s", base_dir, value);
    else
        n = snprintf(dst, CTL_SETTING_MAX, "%s", value);
    if (n < 0 || n >= CTL_SETTING_MAX)
        return cm_err_set(err, "%s:%zu: %s is too long", name, line, key);
    return 0;
}

int ctl_settings_parse(const char *text, size_t len, const char *name, const char *base_dir,
                       ctl_settings *out, cm_err *err)
{
    memset(out, 0, sizeof(*out));
    yaml_document_t doc;
    if (load_doc(&doc, text, len, name, err) < 0)
        return -1;
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL)
        goto out; /* an empty file sets nothing */
    if (root->type != YAML_MAPPING_NODE) {
        rc = cm_err_set(err, "%s:%zu: expected a mapping of settings (socket, url, cert, key, "
                        "ca, model)", name, root->start_mark.line + 1);
        goto out;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(&doc, p->value);
        const char *k = scalar(kn);
        size_t line = kn ? kn->start_mark.line + 1 : 0;
        if (k == NULL) {
            rc = cm_err_set(err, "%s:%zu: keys must be plain names", name, line);
            goto out;
        }
        const char *v = scalar(vn);
        if (v == NULL) {
            rc = cm_err_set(err, "%s:%zu: %s must be a string", name, line, k);
            goto out;
        }
        char *dst = NULL;
        bool rel = false;
        if (strcmp(k, "socket") == 0)
            dst = out->socket, rel = true;
        else if (strcmp(k, "url") == 0)
            dst = out->url;
        else if (strcmp(k, "cert") == 0)
            dst = out->cert, rel = true;
        else if (strcmp(k, "key") == 0)
            dst = out->key, rel = true;
        else if (strcmp(k, "ca") == 0)
            dst = out->ca, rel = true;
        else if (strcmp(k, "model") == 0)
            dst = out->model;
        if (dst == NULL) {
            rc = cm_err_set(err, "%s:%zu: unknown setting '%s' (known: socket, url, cert, key, "
                            "ca, model)", name, line, k);
            goto out;
        }
        if (set_path(dst, v, base_dir, rel, name, line, k, err) < 0) {
            rc = -1;
            goto out;
        }
    }
out:
    yaml_document_delete(&doc);
    return rc;
}

int ctl_settings_load(const char *path, ctl_settings *out, int *found, cm_err *err)
{
    memset(out, 0, sizeof(*out));
    char *text;
    size_t len;
    if (read_file(path, &text, &len, found, err) < 0)
        return -1;
    if (!*found)
        return 0;
    char dir[CTL_SETTING_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    int rc = ctl_settings_parse(text, len, path, dir, out, err);
    free(text);
    return rc;
}

static void env_copy(char *dst, ctl_getenv_fn get, const char *name)
{
    const char *v = get(name);
    snprintf(dst, CTL_SETTING_MAX, "%s", v ? v : "");
}

void ctl_settings_from_env(ctl_settings *out, ctl_getenv_fn get)
{
    env_copy(out->socket, get, "GEMMACTL_SOCKET");
    env_copy(out->url, get, "GEMMACTL_URL");
    env_copy(out->cert, get, "GEMMACTL_CERT");
    env_copy(out->key, get, "GEMMACTL_KEY");
    env_copy(out->ca, get, "GEMMACTL_CA");
    env_copy(out->model, get, "GEMMACTL_MODEL");
}

void ctl_settings_overlay(ctl_settings *base, const ctl_settings *over)
{
    if (over->socket[0] || over->url[0]) {
        memcpy(base->socket, over->socket, sizeof(base->socket));
        memcpy(base->url, over->url, sizeof(base->url));
    }
    if (over->cert[0])
        memcpy(base->cert, over->cert, sizeof(base->cert));
    if (over->key[0])
        memcpy(base->key, over->key, sizeof(base->key));
    if (over->ca[0])
        memcpy(base->ca, over->ca, sizeof(base->ca));
    if (over->model[0])
        memcpy(base->model, over->model, sizeof(base->model));
}

int ctl_settings_user_path(ctl_getenv_fn get, char *out, size_t n, cm_err *err)
{
    const char *v;
    int w;
    if ((v = get("GEMMACTL_CONFIG")) != NULL && v[0])
        w = snprintf(out, n, "%s", v);
    else if ((v = get("XDG_CONFIG_HOME")) != NULL && v[0] == '/')
        w = snprintf(out, n, "%s/gemmactl/config.yaml", v);
    else if ((v = get("HOME")) != NULL && v[0])
        w = snprintf(out, n, "%s/.config/gemmactl/config.yaml", v);
    else
        return cm_err_set(err, "cannot find the config file: neither GEMMACTL_CONFIG nor "
                          "HOME is set");
    if (w < 0 || (size_t)w >= n)
        return cm_err_set(err, "the config file path is too long");
    return 0;
}

int ctl_gemmad_socket(const char *gemmad_yaml, char *out, size_t n, int *found, cm_err *err)
{
    out[0] = '\0';
    char *text;
    size_t len;
    if (read_file(gemmad_yaml, &text, &len, found, err) < 0)
        return -1;
    if (!*found)
        return 0;
    yaml_document_t doc;
    int rc = load_doc(&doc, text, len, gemmad_yaml, err);
    free(text);
    if (rc < 0)
        return -1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    const char *path = scalar(map_get(&doc, map_get(&doc, map_get(&doc, root, "listen"), "unix"),
                                      "path"));
    if (path) {
        int w = snprintf(out, n, "%s", path);
        if (w < 0 || (size_t)w >= n)
            rc = cm_err_set(err, "%s: listen.unix.path is too long", gemmad_yaml);
    }
    yaml_document_delete(&doc);
    return rc;
}

static int one_endpoint(const ctl_settings *s, const char *where, cm_err *err)
{
    if (s->socket[0] && s->url[0])
        return cm_err_set(err, "%s names both a socket (%s) and a URL (%s); give one", where,
                          s->socket, s->url);
    return 0;
}

int ctl_settings_resolve(const ctl_settings *flags, ctl_getenv_fn get, const char *gemmad_yaml,
                         ctl_settings *out, cm_err *err)
{
    memset(out, 0, sizeof(*out));
    char path[CTL_SETTING_MAX];
    ctl_settings layer;
    int found = 0;
    if (ctl_settings_user_path(get, path, sizeof(path), err) == 0) {
        if (ctl_settings_load(path, &layer, &found, err) < 0)
            return -1;
        if (found) {
            if (one_endpoint(&layer, path, err) < 0)
                return -1;
            ctl_settings_overlay(out, &layer);
        }
    }
    memset(&layer, 0, sizeof(layer));
    ctl_settings_from_env(&layer, get);
    if (one_endpoint(&layer, "the environment (GEMMACTL_SOCKET, GEMMACTL_URL)", err) < 0)
        return -1;
    ctl_settings_overlay(out, &layer);
    if (one_endpoint(flags, "the command line (--socket, --url)", err) < 0)
        return -1;
    ctl_settings_overlay(out, flags);
    if (out->socket[0] || out->url[0])
        return 0;
    const char *conf = gemmad_yaml ? gemmad_yaml : CTL_SYSCONFDIR "/gemmad/gemmad.yaml";
    cm_err ignored;
    if (ctl_gemmad_socket(conf, out->socket, sizeof(out->socket), &found, &ignored) < 0 ||
        out->socket[0] == '\0')
        snprintf(out->socket, sizeof(out->socket), "%s", CTL_DEFAULT_SOCKET);
    return 0;
}

int ctl_gemmad_setting(const char *gemmad_yaml, const char *section, const char *key, char *out,
                       size_t n, int *found, cm_err *err)
{
    out[0] = '\0';
    char *text;
    size_t len;
    if (read_file(gemmad_yaml, &text, &len, found, err) < 0)
        return -1;
    if (!*found)
        return 0;
    yaml_document_t doc;
    int rc = load_doc(&doc, text, len, gemmad_yaml, err);
    free(text);
    if (rc < 0)
        return -1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    const char *v = scalar(map_get(&doc, map_get(&doc, root, section), key));
    if (v) {
        int w = snprintf(out, n, "%s", v);
        if (w < 0 || (size_t)w >= n)
            rc = cm_err_set(err, "%s: %s.%s is too long", gemmad_yaml, section, key);
    }
    yaml_document_delete(&doc);
    return rc;
}
