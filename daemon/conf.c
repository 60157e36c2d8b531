/*
 * daemon/conf.c -- parse gemmad.yaml into a gmd_config, checking every
 * key and value against gemmad.yaml(5). The YAML is read by the shared
 * reader (common/yaml_doc.h).
 *
 * Unknown keys, duplicate keys, wrong node kinds and out-of-range values
 * are all errors, reported as "FILE:LINE:COL: KEY: what is wrong"
 * (LINE and COL are 1-based).
 */
#include "daemon/conf.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/yaml_doc.h"
#include "engine/gemma.h"

void gmd_config_defaults(gmd_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->log_level, sizeof(cfg->log_level), "info");
    cfg->unix_mode = 0660;
    snprintf(cfg->tcp_address, sizeof(cfg->tcp_address), "127.0.0.1");
    cfg->tcp_port = 8443;
    cfg->tcp_backlog = 128;
    snprintf(cfg->tls_min_version, sizeof(cfg->tls_min_version), "1.3");
    snprintf(cfg->tls_ciphers, sizeof(cfg->tls_ciphers),
             "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
             "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
             "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256");
    snprintf(cfg->tls_ciphersuites, sizeof(cfg->tls_ciphersuites),
             "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256");
    cfg->handshake_timeout_ms = 10000;
    cfg->max_header_bytes = 16384;
    cfg->max_headers = 64;
    cfg->max_body_bytes = 1048576;
    cfg->max_connections = 256;
    cfg->header_timeout_ms = 10000;
    cfg->idle_timeout_ms = 60000;
    cfg->request_timeout_ms = 300000;
    cfg->queue_depth = 16;
    cfg->engine_threads = 0;
    cfg->drain_timeout_ms = 30000;
    cfg->audit_checkpoint_rows = 1000;
    cfg->audit_checkpoint_seconds = 60;
    cfg->privsep = true;
    cfg->watchdog_ms = 0;
}

/* Every key is read by a `..._pair` function: one `if` per key, calling a
 * typed getter of common/yaml_doc.h with the key's full name (used in
 * "FILE:LINE:COL: KEY: expected ..." messages). */
typedef int (*pair_fn)(void *ctx, const cm_yaml_node *k, const cm_yaml_node *v, cm_err *err);

/* Call fn for each pair of mapping `map` (the reader has already refused
 * duplicate keys). */
static int each_pair(const cm_yaml_node *map, const char *where, pair_fn fn, void *ctx,
                     cm_err *err)
{
    if (cm_yaml_expect(map, CM_YAML_MAPPING, where, err) < 0)
        return -1;
    for (size_t i = 0; i < map->n; i++)
        if (fn(ctx, map->keys[i], map->items[i], err) < 0)
            return -1;
    return 0;
}

static bool is(const cm_yaml_node *k, const char *key)
{
    return strcmp(k->text, key) == 0;
}

/* ---- listen ---- */

static int unix_mode(gmd_config *c, const cm_yaml_node *v, cm_err *err)
{
    const char *s = NULL;
    if (cm_yaml_text(v, "listen.unix.mode", &s, err) < 0)
        return -1;
    char *end;
    errno = 0;
    unsigned long m = strtoul(s, &end, 8);
    if (s[0] < '0' || s[0] > '7' || *end != '\0' || errno != 0 || m > 0777)
        return cm_yaml_fail(v, err, "listen.unix.mode: expected octal permission bits like "
                            "\"0660\", not '%s'", s);
    c->unix_mode = (unsigned)m;
    return 0;
}

static int unix_group(gmd_config *c, const cm_yaml_node *v, cm_err *err)
{
    if (cm_yaml_string(v, "listen.unix.group", c->unix_group, sizeof(c->unix_group), err) < 0)
        return -1;
    struct group *g = getgrnam(c->unix_group);
    if (g == NULL)
        return cm_yaml_fail(v, err, "listen.unix.group: no group named '%s'", c->unix_group);
    c->unix_gid = g->gr_gid;
    c->unix_has_group = true;
    return 0;
}

static int unix_pair(void *ctx, const cm_yaml_node *k, const cm_yaml_node *v, cm_err *err)
{
    gmd_config *c = ctx;
    if (is(k, "path"))
        return cm_yaml_string(v, "listen.unix.path", c->unix_path, sizeof(c->unix_path), err);
    if (is(k, "mode"))
        return unix_mode(c, v, err);
    if (is(k, "group"))
        return unix_group(c, v, err);
    return cm_yaml_unknown_key(k, "in listen.unix", NULL, err);
}

static int tcp_pair(void *ctx, const cm_yaml_node *k, const cm_yaml_node *v, cm_err *err)
{
    gmd_config *c = ctx;
    uint32_t u;
    if (is(k, "address"))
        return cm_yaml_string(v, "listen.tcp.address", c->tcp_address,
                              sizeof(c->tcp_address), err);
    if (is(k, "port")) {
        if (cm_yaml_u32(v, "listen.tcp.port", 0, 65535, &u, err) < 0)
            return -1;
        c->tcp_port = (uint16_t)u;
        return 0;
    }
    if (is(k, "backlog")) {
        if (cm_yaml_u32(v, "listen.tcp.backlog", 1, 65535, &u, err) < 0)
            return -1;
        c->tcp_backlog = (int)u;
        return 0;
    }
    return cm_yaml_unknown_key(k, "in listen.tcp", NULL, err);
}

static int listen_pair(void *ctx, const cm_yaml_node *k, const cm_yaml_node *v, cm_err *err)
{
    gmd_config *c = ctx;
    if (is(k, "unix")) {
        c->unix_enabled = true;
        return each_pair(v, "listen.unix", unix_pair, c, err);
    }
    if (is(k, "tcp")) {
        c->tcp_enabled = true;
        return each_pair(v, "listen.tcp", tcp_pair, c, err);
    }
    return cm_yaml_unknown_key(k, "in listen", NULL, err);
}

/* ---- tls ---- */

static int tls_pair(void *ctx, const cm_yaml_node *k, const cm_yaml_node *v, cm_err *err)
{
    gmd_config *c = ctx;
    if (is(k, "certificate"))
        return cm_yaml_string(v, "tls.certificate", c->tls_certificate,
                              sizeof(c->tls_certificate), err);
    if (is(k, "private_key"))
        return cm_yaml_string(v, "tls.private_key", c->tls_private_key,
                              sizeof(c->tls_private_key), err);
    if (is(k, "client_ca"))
        return cm_yaml_string(v, "tls.client_ca", c->tls_client_ca, sizeof(c->tls_client_ca),
                              err);
    if (is(k, "crl"))
        return cm_yaml_string(v, "tls.crl", c->tls_crl, sizeof(c->tls_crl), err);
    if (is(k, "ciphers"))
        return cm_yaml_string(v, "tls.ciphers", c->tls_ciphers, sizeof(c->tls_ciphers), err);
    if (is(k, "ciphersuites"))
        return cm_yaml_string(v, "tls.ciphersuites", c->tls_ciphersuites,
                              sizeof(c->tls_ciphersuites), err);
    if (is(k, "min_version")) {
        static const cm_yaml_enum versions[] = {{"1.2", 2}, {"1.3", 3}};
        int ver;
        if (cm_yaml_enum_get(v, "tls.min_version", versions, 2, &ver, err) < 0)
            return -1;
        snprintf(c->tls_min_version, sizeof(c->tls_min_version), "1.%d", ver);
        return 0;
    }
    if (is(k, "handshake_timeout_ms"))
        return cm_yaml_u32(v, "tls.handshake_timeout_ms", 100, 600000,
                           &c->handshake_timeout_ms, err);
    return cm_yaml_unknown_key(k, "in tls", NULL, err);
}

/* ---- limits, engine, shutdown, security, systemd ---- */

static int limits_pair(void *ctx, const cm_yaml_node *k, const cm_yaml_node *v, cm_err *err)
{
    gmd_config *c = ctx;
    if (is(k, "max_header_bytes"))
        return cm_yaml_u32(v, "limits.max_header_bytes", 256, 1048576, &c->max_header_bytes,
                           err);
    if (is(k, "max_headers"))
        return cm_yaml_u32(v, "limits.max_headers", 4, 1024, &c->max_headers, err);
    if (is(k, "max_body_bytes"))
        return cm_yaml_u32(v, "limits.max_body_bytes", 64, 268435456, &c->max_body_bytes, err);
    if (is(k, "max_connections"))
        return cm_yaml_u32(v, "limits.max_connections", 1, 100000, &c->max_connections, err);
    if (is(k, "header_timeout_ms"))
        return cm_yaml_u32(v, "limits.header_timeout_ms", 100, 3600000,
                           &c->header_timeout_ms, err);
    if (is(k, "idle_timeout_ms"))
        return cm_yaml_u32(v, "limits.idle_timeout_ms", 100, 3600000, &c->idle_timeout_ms,
                           err);
    if (is(k, "request_timeout_ms"))
        return cm_yaml_u32(v, "limits.request_timeout_ms", 100, 86400000,
                           &c->request_timeout_ms, err);
    if (is(k, "queue_depth"))
        return cm_yaml_u32(v, "limits.queue_depth", 1, 100000, &c->queue_depth, err);
    return cm_yaml_unknown_key(k, "in limits", NULL, err);
}

static int engine_pair(void *ctx, const cm_yaml_node *k, const cm_yaml_node *v, cm_err *err)
{
    gmd_config *c = ctx;
    if (is(k, "threads")) {
        uint32_t u;
        if (cm_yaml_u32(v, "engine.threads", 0, 1024, &u, err) < 0)
            return -1;
        c->engine_threads = (int)u;
        return 0;
    }
    if (is(k, "models_memory_mb"))
        return cm_yaml_u32(v, "engine.models_memory_mb", 0, 1u << 30, &c->models_memory_mb,
                           err);
    return cm_yaml_unknown_key(k, "in engine", NULL, err);
}

static int shutdown_pair(void *ctx, const cm_yaml_node *k, const cm_yaml_node *v, cm_err *err)
{
    gmd_config *c = ctx;
    if (is(k, "drain_timeout_ms"))
        return cm_yaml_u32(v, "shutdown.drain_timeout_ms", 0, 3600000, &c->drain_timeout_ms,
                           err);
    if (is(k, "drain_grace_ms"))
        return cm_yaml_u32(v, "shutdown.drain_grace_ms", 0, 600000, &c->drain_grace_ms, err);
    return cm_yaml_unknown_key(k, "in shutdown", NULL, err);
}

static int security_pair(void *ctx, const cm_yaml_node *k, const cm_yaml_node *v, cm_err *err)
{
    gmd_config *c = ctx;
    if (is(k, "policy"))
        return cm_yaml_string(v, "security.policy", c->policy_file, sizeof(c->policy_file),
                              err);
    if (is(k, "audit_db"))
        return cm_yaml_string(v, "security.audit_db", c->audit_db, sizeof(c->audit_db), err);
    if (is(k, "audit_fail_open"))
        return cm_yaml_bool(v, "security.audit_fail_open", &c->audit_fail_open, err);
    if (is(k, "audit_raw_text"))
        return cm_yaml_bool(v, "security.audit_raw_text", &c->audit_raw_text, err);
    if (is(k, "audit_checkpoint_rows"))
        return cm_yaml_u32(v, "security.audit_checkpoint_rows", 1, 1000000,
                           &c->audit_checkpoint_rows, err);
    if (is(k, "audit_checkpoint_seconds"))
        return cm_yaml_u32(v, "security.audit_checkpoint_seconds", 1, 86400,
                           &c->audit_checkpoint_seconds, err);
    if (is(k, "privsep"))
        return cm_yaml_bool(v, "security.privsep", &c->privsep, err);
    if (is(k, "bundle_keys"))
        return cm_yaml_string(v, "security.bundle_keys", c->bundle_keys,
                              sizeof(c->bundle_keys), err);
    if (is(k, "bundle_cas"))
        return cm_yaml_string(v, "security.bundle_cas", c->bundle_cas, sizeof(c->bundle_cas),
                              err);
    return cm_yaml_unknown_key(k, "in security", NULL, err);
}

static int systemd_pair(void *ctx, const cm_yaml_node *k, const cm_yaml_node *v, cm_err *err)
{
    gmd_config *c = ctx;
    if (is(k, "watchdog_ms"))
        return cm_yaml_u32(v, "systemd.watchdog_ms", 0, 3600000, &c->watchdog_ms, err);
    return cm_yaml_unknown_key(k, "in systemd", NULL, err);
}

/* ---- models ---- */

static int model_name(gmd_model_config *m, const cm_yaml_node *v, cm_err *err)
{
    if (cm_yaml_string(v, "models[].name", m->name, sizeof(m->name), err) < 0)
        return -1;
    for (const char *s = m->name; *s; s++)
        if (!(*s == '-' || *s == '_' || *s == '.' || *s == ':' || (*s >= '0' && *s <= '9') ||
              (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
            return cm_yaml_fail(v, err, "models[].name: expected only letters, digits and "
                                "-_.:, not '%s'", m->name);
    return 0;
}

static int model_device(gmd_model_config *m, const cm_yaml_node *v, cm_err *err)
{
    int index;
    cm_err derr;
    if (cm_yaml_string(v, "models[].device", m->device, sizeof(m->device), err) < 0)
        return -1;
    if (gm_device_parse(m->device, &index, &derr) < 0)
        return cm_yaml_fail(v, err, "models[].device: %s", derr.msg);
    return 0;
}

static int model_pair(void *ctx, const cm_yaml_node *k, const cm_yaml_node *v, cm_err *err)
{
    gmd_model_config *m = ctx;
    if (is(k, "name"))
        return model_name(m, v, err);
    if (is(k, "path"))
        return cm_yaml_string(v, "models[].path", m->path, sizeof(m->path), err);
    if (is(k, "bundle"))
        return cm_yaml_string(v, "models[].bundle", m->bundle, sizeof(m->bundle), err);
    if (is(k, "signature"))
        return cm_yaml_string(v, "models[].signature", m->signature, sizeof(m->signature),
                              err);
    if (is(k, "load"))
        return cm_yaml_bool(v, "models[].load", &m->load, err);
    if (is(k, "context"))
        return cm_yaml_u32(v, "models[].context", 0, 1048576, &m->context, err);
    if (is(k, "workers"))
        return cm_yaml_u32(v, "models[].workers", 1, 64, &m->workers, err);
    if (is(k, "max_tokens"))
        return cm_yaml_u32(v, "models[].max_tokens", 1, 1048576, &m->max_tokens, err);
    if (is(k, "max_batch_sequences"))
        return cm_yaml_u32(v, "models[].max_batch_sequences", 1, 64, &m->max_batch_sequences,
                           err);
    if (is(k, "max_batch_tokens"))
        return cm_yaml_u32(v, "models[].max_batch_tokens", 1, 65536, &m->max_batch_tokens,
                           err);
    if (is(k, "kv_budget_mb"))
        return cm_yaml_u32(v, "models[].kv_budget_mb", 1, 1048576, &m->kv_budget_mb, err);
    if (is(k, "prefix_cache_mb"))
        return cm_yaml_u32(v, "models[].prefix_cache_mb", 0, 1048576, &m->prefix_cache_mb,
                           err);
    if (is(k, "prefix_cache_min_tokens"))
        return cm_yaml_u32(v, "models[].prefix_cache_min_tokens", 1, 1048576,
                           &m->prefix_cache_min_tokens, err);
    if (is(k, "device"))
        return model_device(m, v, err);
    if (is(k, "device_fallback")) {
        static const cm_yaml_enum fallbacks[] = {{"none", 0}, {"cpu", 1}};
        int fb;
        if (cm_yaml_enum_get(v, "models[].device_fallback", fallbacks, 2, &fb, err) < 0)
            return -1;
        m->device_fallback_cpu = fb == 1;
        return 0;
    }
    return cm_yaml_unknown_key(k, "in models[]", NULL, err);
}

static void model_defaults(gmd_model_config *m)
{
    memset(m, 0, sizeof(*m));
    m->load = true;
    m->workers = 1;
    m->max_tokens = 4096;
    m->max_batch_sequences = 8;
    m->max_batch_tokens = 512;
    m->kv_budget_mb = 1024;
    m->prefix_cache_mb = 256;
    m->prefix_cache_min_tokens = 32;
    snprintf(m->device, sizeof(m->device), "cpu");
}

/* Checks of one model that span its keys. */
static int model_check(gmd_config *c, gmd_model_config *m, const cm_yaml_node *n, cm_err *err)
{
    if (m->name[0] == '\0')
        return cm_yaml_fail(n, err, "a model needs a name");
    if (m->path[0] == '\0' && m->bundle[0] == '\0')
        return cm_yaml_fail(n, err, "model '%s' needs a path or a bundle", m->name);
    if (m->signature[0] != '\0' && (m->bundle[0] != '\0' || m->path[0] == '\0'))
        return cm_yaml_fail(n, err, "model '%s': signature goes with path (a GGUF file signed "
                            "on its own), not with bundle (a folder carries its own "
                            "model.sig)", m->name);
    /* A file signed on its own is loaded like a bundle (verified, then
     * the hashed descriptor loaded): the loader takes that route for a
     * model with a bundle, and daemon/bundle_open.c, seeing the
     * signature, verifies the file `path` against it. */
    if (m->signature[0] != '\0')
        memcpy(m->bundle, m->path, sizeof(m->bundle));
    for (size_t j = 0; j < c->n_models; j++)
        if (strcmp(c->models[j].name, m->name) == 0)
            return cm_yaml_fail(n, err, "model '%s' is listed twice", m->name);
    return 0;
}

static int parse_models(gmd_config *c, const cm_yaml_node *seq, cm_err *err)
{
    if (cm_yaml_expect(seq, CM_YAML_SEQUENCE, "models", err) < 0)
        return -1;
    for (size_t i = 0; i < seq->n; i++) {
        const cm_yaml_node *n = seq->items[i];
        if (c->n_models >= GMD_MAX_MODELS)
            return cm_yaml_fail(n, err, "too many models (at most %d)", GMD_MAX_MODELS);
        gmd_model_config *m = &c->models[c->n_models];
        model_defaults(m);
        if (each_pair(n, "models[]", model_pair, m, err) < 0 || model_check(c, m, n, err) < 0)
            return -1;
        c->n_models++;
    }
    return 0;
}

static int top_pair(void *ctx, const cm_yaml_node *k, const cm_yaml_node *v, cm_err *err)
{
    gmd_config *c = ctx;
    if (is(k, "log_level")) {
        cm_log_level lv;
        if (cm_yaml_string(v, "log_level", c->log_level, sizeof(c->log_level), err) < 0)
            return -1;
        if (cm_log_parse_level(c->log_level, &lv) < 0)
            return cm_yaml_fail(v, err, "log_level: expected error, warn, notice, info or "
                                "debug, not '%s'", c->log_level);
        return 0;
    }
    if (is(k, "listen"))
        return each_pair(v, "listen", listen_pair, c, err);
    if (is(k, "tls"))
        return each_pair(v, "tls", tls_pair, c, err);
    if (is(k, "limits"))
        return each_pair(v, "limits", limits_pair, c, err);
    if (is(k, "engine"))
        return each_pair(v, "engine", engine_pair, c, err);
    if (is(k, "shutdown"))
        return each_pair(v, "shutdown", shutdown_pair, c, err);
    if (is(k, "security"))
        return each_pair(v, "security", security_pair, c, err);
    if (is(k, "systemd"))
        return each_pair(v, "systemd", systemd_pair, c, err);
    if (is(k, "models"))
        return parse_models(c, v, err);
    return cm_yaml_unknown_key(k, "at the top level", NULL, err);
}

/* Checks that span several keys. */
static int validate(const cm_yaml_node *root, gmd_config *c, cm_err *err)
{
    if (!c->unix_enabled && !c->tcp_enabled)
        return cm_yaml_fail(root, err, "listen must name a unix socket, a tcp address, or both");
    if (c->unix_enabled && c->unix_path[0] == '\0')
        return cm_yaml_fail(root, err, "listen.unix.path is required");
    if (c->unix_enabled && c->unix_path[0] != '/')
        return cm_yaml_fail(root, err, "listen.unix.path must be absolute");
    if (c->unix_enabled && strlen(c->unix_path) >= 108)
        return cm_yaml_fail(root, err, "listen.unix.path is longer than a socket address allows");
    static const char *const need[] = {"tls.certificate", "tls.private_key", "tls.client_ca"};
    const char *have[] = {c->tls_certificate, c->tls_private_key, c->tls_client_ca};
    for (size_t i = 0; i < 3; i++)
        if (have[i][0] == '\0')
            return cm_yaml_fail(root, err, "%s is required (clients are always authenticated)",
                                need[i]);
    for (size_t i = 0; i < c->n_models; i++) {
        const gmd_model_config *m = &c->models[i];
        if (m->bundle[0] != '\0' && c->bundle_keys[0] == '\0' && c->bundle_cas[0] == '\0')
            return cm_yaml_fail(root, err, "model '%s' is a signed bundle: security.bundle_keys "
                                "or security.bundle_cas must say whose signatures to trust",
                                m->name);
        if (m->bundle[0] != '\0' && m->signature[0] == '\0' && m->path[0] == '/')
            return cm_yaml_fail(root, err, "model '%s': with a bundle, path names the GGUF file "
                                "inside it (relative)", m->name);
    }
    return 0;
}

/* The config a loaded document says, or an error. */
static int from_doc(const cm_yaml_doc *doc, const char *name, gmd_config *out, cm_err *err)
{
    const cm_yaml_node *root = cm_yaml_root(doc);
    if (root == NULL)
        return cm_err_set(err, "%s:1:1: the file is empty", name);
    gmd_config *c = malloc(sizeof(*c));
    if (c == NULL)
        return cm_err_set(err, "%s: out of memory", name);
    gmd_config_defaults(c);
    snprintf(c->source, sizeof(c->source), "%s", name);
    int rc = -1;
    if (each_pair(root, "the top level", top_pair, c, err) == 0 && validate(root, c, err) == 0) {
        *out = *c;
        rc = 0;
    }
    free(c);
    return rc;
}

int gmd_config_parse(const char *text, size_t len, const char *name, gmd_config *out,
                     cm_err *err)
{
    cm_yaml_doc *doc;
    if (cm_yaml_parse(text, len, name, NULL, &doc, err) < 0)
        return -1;
    int rc = from_doc(doc, name, out, err);
    cm_yaml_free(doc);
    return rc;
}

int gmd_config_load(const char *path, gmd_config *out, cm_err *err)
{
    cm_yaml_doc *doc;
    if (cm_yaml_load(path, NULL, false, &doc, err) < 0)
        return -1;
    int rc = from_doc(doc, path, out, err);
    cm_yaml_free(doc);
    return rc;
}

int gmd_config_find_model(const gmd_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_models; i++)
        if (strcmp(cfg->models[i].name, name) == 0)
            return (int)i;
    return -1;
}
