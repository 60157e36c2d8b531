/*
 * ctl/settings.c -- gemmactl's settings in layers (file, environment,
 * flags) and the default endpoint read from gemmad.yaml. See settings.h.
 * The YAML is read by the shared reader (common/yaml_doc.h).
 */
#include "ctl/settings.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/yaml_doc.h"

#ifndef CTL_SYSCONFDIR
#define CTL_SYSCONFDIR "/etc"
#endif

/* A gemmactl config or a gemmad.yaml read here is small. */
static const cm_yaml_limits ctl_yaml_limits = {.max_bytes = 1u << 20};

/* Where `key` goes in `out`, and whether a relative path in it is taken
 * relative to the config file's folder; NULL for an unknown key. */
static char *setting_slot(ctl_settings *out, const char *key, bool *relative)
{
    *relative = false;
    if (strcmp(key, "url") == 0)
        return out->url;
    if (strcmp(key, "model") == 0)
        return out->model;
    *relative = true;
    if (strcmp(key, "socket") == 0)
        return out->socket;
    if (strcmp(key, "cert") == 0)
        return out->cert;
    if (strcmp(key, "key") == 0)
        return out->key;
    if (strcmp(key, "ca") == 0)
        return out->ca;
    return NULL;
}

static int set_path(char *dst, const cm_yaml_node *v, const char *base_dir, bool relative_ok,
                    const char *key, cm_err *err)
{
    const char *value;
    if (cm_yaml_text(v, key, &value, err) < 0)
        return -1;
    int n;
    if (relative_ok && base_dir && value[0] != '/' && value[0] != '\0')
        n = snprintf(dst, CTL_SETTING_MAX, "%s/%s", base_dir, value);
    else
        n = snprintf(dst, CTL_SETTING_MAX, "%s", value);
    if (n < 0 || n >= CTL_SETTING_MAX)
        return cm_yaml_fail(v, err, "%s: expected at most %d characters", key,
                            CTL_SETTING_MAX - 1);
    return 0;
}

/* The settings a loaded document says (an empty one says nothing). */
static int settings_from_doc(const cm_yaml_doc *doc, const char *base_dir, ctl_settings *out,
                             cm_err *err)
{
    const cm_yaml_node *root = cm_yaml_root(doc);
    if (root == NULL)
        return 0;
    if (cm_yaml_expect(root, CM_YAML_MAPPING, "the settings (socket, url, cert, key, ca, model)",
                       err) < 0)
        return -1;
    for (size_t i = 0; i < root->n; i++) {
        bool relative;
        char *dst = setting_slot(out, root->keys[i]->text, &relative);
        if (dst == NULL)
            return cm_yaml_fail(root->keys[i], err, "unknown setting '%s' (known: socket, url, "
                                "cert, key, ca, model)", root->keys[i]->text);
        if (set_path(dst, root->items[i], base_dir, relative, root->keys[i]->text, err) < 0)
            return -1;
    }
    return 0;
}

int ctl_settings_parse(const char *text, size_t len, const char *name, const char *base_dir,
                       ctl_settings *out, cm_err *err)
{
    memset(out, 0, sizeof(*out));
    cm_yaml_doc *doc;
    if (cm_yaml_parse(text, len, name, &ctl_yaml_limits, &doc, err) < 0)
        return -1;
    int rc = settings_from_doc(doc, base_dir, out, err);
    cm_yaml_free(doc);
    return rc;
}

int ctl_settings_load(const char *path, ctl_settings *out, int *found, cm_err *err)
{
    memset(out, 0, sizeof(*out));
    cm_yaml_doc *doc;
    *found = 0;
    if (cm_yaml_load(path, &ctl_yaml_limits, true, &doc, err) < 0)
        return -1;
    if (doc == NULL)
        return 0;
    *found = 1;
    char dir[CTL_SETTING_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    int rc = settings_from_doc(doc, dir, out, err);
    cm_yaml_free(doc);
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

/* The text at SECTION.KEY (or SECTION.SUB.KEY) of a gemmad.yaml, copied
 * into out[n]; "" when it is not there. */
static int gemmad_value(const char *gemmad_yaml, const char *const *path, size_t depth,
                        const char *what, char *out, size_t n, int *found, cm_err *err)
{
    out[0] = '\0';
    cm_yaml_doc *doc;
    *found = 0;
    if (cm_yaml_load(gemmad_yaml, &ctl_yaml_limits, true, &doc, err) < 0)
        return -1;
    if (doc == NULL)
        return 0;
    *found = 1;
    const cm_yaml_node *v = cm_yaml_root(doc);
    for (size_t i = 0; i < depth; i++)
        v = cm_yaml_get(v, path[i]);
    int rc = 0;
    if (v != NULL && v->kind == CM_YAML_SCALAR) {
        int w = snprintf(out, n, "%s", v->text);
        if (w < 0 || (size_t)w >= n)
            rc = cm_yaml_fail(v, err, "%s: expected at most %zu characters", what, n - 1);
    }
    cm_yaml_free(doc);
    return rc;
}

int ctl_gemmad_socket(const char *gemmad_yaml, char *out, size_t n, int *found, cm_err *err)
{
    static const char *const path[] = {"listen", "unix", "path"};
    return gemmad_value(gemmad_yaml, path, 3, "listen.unix.path", out, n, found, err);
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
    const char *const path[] = {section, key};
    char what[128];
    snprintf(what, sizeof(what), "%s.%s", section, key);
    return gemmad_value(gemmad_yaml, path, 2, what, out, n, found, err);
}
