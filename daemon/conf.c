/*
 * daemon/conf.c -- parse gemmad.yaml (libyaml document API) into a
 * gmd_config, checking every key and value against gemmad.yaml(5).
 *
 * Unknown keys, duplicate keys, wrong node kinds and out-of-range values
 * are all errors, reported as "FILE:LINE: message" (LINE is 1-based).
 */
#include "daemon/conf.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/log.h"
#include "engine/gemma.h"

typedef struct cfg_parser {
    yaml_document_t *doc;
    const char *name;
    cm_err *err;
} cfg_parser;

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

static int line_of(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

static int fail(cfg_parser *p, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(cfg_parser *p, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cm_err_set(p->err, "%s:%d: %s", p->name, n ? line_of(n) : 0, msg);
}

/* A scalar's text, or an error naming the key. */
static int scalar(cfg_parser *p, const yaml_node_t *n, const char *key, const char **out)
{
    if (n->type != YAML_SCALAR_NODE)
        return fail(p, n, "%s must be a single value", key);
    *out = (const char *)n->data.scalar.value;
    return 0;
}

static int get_string(cfg_parser *p, const yaml_node_t *n, const char *key, char *dst,
                      size_t cap)
{
    const char *s = NULL;
    if (scalar(p, n, key, &s) < 0)
        return -1;
    if (strlen(s) >= cap)
        return fail(p, n, "%s is too long", key);
    if (strlen(s) != n->data.scalar.length)
        return fail(p, n, "%s contains a NUL byte", key);
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

static int get_u32(cfg_parser *p, const yaml_node_t *n, const char *key, uint32_t lo,
                   uint32_t hi, uint32_t *out)
{
    const char *s = NULL;
    if (scalar(p, n, key, &s) < 0)
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < lo || v > hi) {
        char range[64];
        snprintf(range, sizeof(range), "%u..%u", lo, hi);
        return fail(p, n, "%s must be an integer in %s", key, range);
    }
    *out = (uint32_t)v;
    return 0;
}

static int get_bool(cfg_parser *p, const yaml_node_t *n, const char *key, bool *out)
{
    const char *s = NULL;
    if (scalar(p, n, key, &s) < 0)
        return -1;
    if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0) {
        *out = false;
        return 0;
    }
    return fail(p, n, "%s must be true or false", key);
}

/* Walk a mapping: for each pair call fn(key text, value node); duplicate
 * keys are rejected. */
typedef int (*pair_fn)(cfg_parser *p, void *ctx, const char *key, yaml_node_t *k,
                       yaml_node_t *v);

static int each_pair(cfg_parser *p, yaml_node_t *map, const char *where, pair_fn fn,
                     void *ctx)
{
    if (map->type != YAML_MAPPING_NODE)
        return fail(p, map, "%s must be a mapping of keys to values", where);
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start;
         a < map->data.mapping.pairs.top; a++) {
        yaml_node_t *k = yaml_document_get_node(p->doc, a->key);
        yaml_node_t *v = yaml_document_get_node(p->doc, a->value);
        if (k == NULL || v == NULL)
            return cm_err_set(p->err, "%s: malformed document", p->name);
        if (k->type != YAML_SCALAR_NODE)
            return fail(p, k, "keys in %s must be plain words", where);
        const char *ks = (const char *)k->data.scalar.value;
        for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++) {
            yaml_node_t *k2 = yaml_document_get_node(p->doc, b->key);
            if (k2 && k2->type == YAML_SCALAR_NODE &&
                strcmp((const char *)k2->data.scalar.value, ks) == 0)
                return fail(p, k, "duplicate key '%s' in %s", ks, where);
        }
        if (fn(p, ctx, ks, k, v) < 0)
            return -1;
    }
    return 0;
}

static int unknown(cfg_parser *p, yaml_node_t *k, const char *key, const char *where)
{
    return fail(p, k, "unknown key '%s' in %s", key, where);
}

/* ---- listen ---- */

static int unix_pair(cfg_parser *p, void *ctx, const char *key, yaml_node_t *k,
                     yaml_node_t *v)
{
    gmd_config *c = ctx;
    if (strcmp(key, "path") == 0)
        return get_string(p, v, "listen.unix.path", c->unix_path, sizeof(c->unix_path));
    if (strcmp(key, "mode") == 0) {
        const char *s = NULL;
        if (scalar(p, v, "listen.unix.mode", &s) < 0)
            return -1;
        char *end;
        errno = 0;
        unsigned long m = strtoul(s, &end, 8);
        if (s[0] < '0' || s[0] > '7' || *end != '\0' || errno != 0 || m > 0777)
            return fail(p, v, "listen.unix.mode must be octal permission bits like %s", "\"0660\"");
        c->unix_mode = (unsigned)m;
        return 0;
    }
    if (strcmp(key, "group") == 0) {
        if (get_string(p, v, "listen.unix.group", c->unix_group, sizeof(c->unix_group)) < 0)
            return -1;
        struct group *g = getgrnam(c->unix_group);
        if (g == NULL)
            return fail(p, v, "listen.unix.group: no group named '%s'", c->unix_group);
        c->unix_gid = g->gr_gid;
        c->unix_has_group = true;
        return 0;
    }
    return unknown(p, k, key, "listen.unix");
}

static int tcp_pair(cfg_parser *p, void *ctx, const char *key, yaml_node_t *k,
                    yaml_node_t *v)
{
    gmd_config *c = ctx;
    uint32_t u;
    if (strcmp(key, "address") == 0)
        return get_string(p, v, "listen.tcp.address", c->tcp_address,
                          sizeof(c->tcp_address));
    if (strcmp(key, "port") == 0) {
        if (get_u32(p, v, "listen.tcp.port", 0, 65535, &u) < 0)
            return -1;
        c->tcp_port = (uint16_t)u;
        return 0;
    }
    if (strcmp(key, "backlog") == 0) {
        if (get_u32(p, v, "listen.tcp.backlog", 1, 65535, &u) < 0)
            return -1;
        c->tcp_backlog = (int)u;
        return 0;
    }
    return unknown(p, k, key, "listen.tcp");
}

static int listen_pair(cfg_parser *p, void *ctx, const char *key, yaml_node_t *k,
                       yaml_node_t *v)
{
    gmd_config *c = ctx;
    if (strcmp(key, "unix") == 0) {
        c->unix_enabled = true;
        return each_pair(p, v, "listen.unix", unix_pair, c);
    }
    if (strcmp(key, "tcp") == 0) {
        c->tcp_enabled = true;
        return each_pair(p, v, "listen.tcp", tcp_pair, c);
    }
    return unknown(p, k, key, "listen");
}

/* ---- tls ---- */

static int tls_pair(cfg_parser *p, void *ctx, const char *key, yaml_node_t *k,
                    yaml_node_t *v)
{
    gmd_config *c = ctx;
    if (strcmp(key, "certificate") == 0)
        return get_string(p, v, "tls.certificate", c->tls_certificate,
                          sizeof(c->tls_certificate));
    if (strcmp(key, "private_key") == 0)
        return get_string(p, v, "tls.private_key", c->tls_private_key,
                          sizeof(c->tls_private_key));
    if (strcmp(key, "client_ca") == 0)
        return get_string(p, v, "tls.client_ca", c->tls_client_ca, sizeof(c->tls_client_ca));
    if (strcmp(key, "crl") == 0)
        return get_string(p, v, "tls.crl", c->tls_crl, sizeof(c->tls_crl));
    if (strcmp(key, "ciphers") == 0)
        return get_string(p, v, "tls.ciphers", c->tls_ciphers, sizeof(c->tls_ciphers));
    if (strcmp(key, "ciphersuites") == 0)
        return get_string(p, v, "tls.ciphersuites", c->tls_ciphersuites,
                          sizeof(c->tls_ciphersuites));
    if (strcmp(key, "min_version") == 0) {
        if (get_string(p, v, "tls.min_version", c->tls_min_version,
                       sizeof(c->tls_min_version)) < 0)
            return -1;
        if (strcmp(c->tls_min_version, "1.2") != 0 && strcmp(c->tls_min_version, "1.3") != 0)
            return fail(p, v, "tls.min_version must be \"1.2\" or \"1.3\"");
        return 0;
    }
    if (strcmp(key, "handshake_timeout_ms") == 0)
        return get_u32(p, v, "tls.handshake_timeout_ms", 100, 600000,
                       &c->handshake_timeout_ms);
    return unknown(p, k, key, "tls");
}

/* ---- limits, engine, shutdown, security, systemd ---- */

static int limits_pair(cfg_parser *p, void *ctx, const char *key, yaml_node_t *k,
                       yaml_node_t *v)
{
    gmd_config *c = ctx;
    static const struct {
        const char *key;
        size_t off;
        uint32_t lo, hi;
    } keys[] = {
        {"max_header_bytes", offsetof(gmd_config, max_header_bytes), 256, 1048576},
        {"max_headers", offsetof(gmd_config, max_headers), 4, 1024},
        {"max_body_bytes", offsetof(gmd_config, max_body_bytes), 64, 268435456},
        {"max_connections", offsetof(gmd_config, max_connections), 1, 100000},
        {"header_timeout_ms", offsetof(gmd_config, header_timeout_ms), 100, 3600000},
        {"idle_timeout_ms", offsetof(gmd_config, idle_timeout_ms), 100, 3600000},
        {"request_timeout_ms", offsetof(gmd_config, request_timeout_ms), 100, 86400000},
        {"queue_depth", offsetof(gmd_config, queue_depth), 1, 100000},
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(key, keys[i].key) == 0) {
            char full[64];
            snprintf(full, sizeof(full), "limits.%s", key);
            return get_u32(p, v, full, keys[i].lo, keys[i].hi,
                           (uint32_t *)((char *)c + keys[i].off));
        }
    }
    return unknown(p, k, key, "limits");
}

static int engine_pair(cfg_parser *p, void *ctx, const char *key, yaml_node_t *k,
                       yaml_node_t *v)
{
    gmd_config *c = ctx;
    uint32_t u;
    if (strcmp(key, "threads") == 0) {
        if (get_u32(p, v, "engine.threads", 0, 1024, &u) < 0)
            return -1;
        c->engine_threads = (int)u;
        return 0;
    }
    if (strcmp(key, "models_memory_mb") == 0)
        return get_u32(p, v, "engine.models_memory_mb", 0, 1u << 30, &c->models_memory_mb);
    return unknown(p, k, key, "engine");
}

static int shutdown_pair(cfg_parser *p, void *ctx, const char *key, yaml_node_t *k,
                         yaml_node_t *v)
{
    gmd_config *c = ctx;
    if (strcmp(key, "drain_timeout_ms") == 0)
        return get_u32(p, v, "shutdown.drain_timeout_ms", 0, 3600000, &c->drain_timeout_ms);
    if (strcmp(key, "drain_grace_ms") == 0)
        return get_u32(p, v, "shutdown.drain_grace_ms", 0, 600000, &c->drain_grace_ms);
    return unknown(p, k, key, "shutdown");
}

static int security_pair(cfg_parser *p, void *ctx, const char *key, yaml_node_t *k,
                         yaml_node_t *v)
{
    gmd_config *c = ctx;
    if (strcmp(key, "policy") == 0)
        return get_string(p, v, "security.policy", c->policy_file, sizeof(c->policy_file));
    if (strcmp(key, "audit_db") == 0)
        return get_string(p, v, "security.audit_db", c->audit_db, sizeof(c->audit_db));
    if (strcmp(key, "audit_fail_open") == 0)
        return get_bool(p, v, "security.audit_fail_open", &c->audit_fail_open);
    if (strcmp(key, "audit_raw_text") == 0)
        return get_bool(p, v, "security.audit_raw_text", &c->audit_raw_text);
    if (strcmp(key, "audit_checkpoint_rows") == 0)
        return get_u32(p, v, "security.audit_checkpoint_rows", 1, 1000000,
                       &c->audit_checkpoint_rows);
    if (strcmp(key, "audit_checkpoint_seconds") == 0)
        return get_u32(p, v, "security.audit_checkpoint_seconds", 1, 86400,
                       &c->audit_checkpoint_seconds);
    if (strcmp(key, "privsep") == 0)
        return get_bool(p, v, "security.privsep", &c->privsep);
    if (strcmp(key, "bundle_keys") == 0)
        return get_string(p, v, "security.bundle_keys", c->bundle_keys, sizeof(c->bundle_keys));
    if (strcmp(key, "bundle_cas") == 0)
        return get_string(p, v, "security.bundle_cas", c->bundle_cas, sizeof(c->bundle_cas));
    return unknown(p, k, key, "security");
}

static int systemd_pair(cfg_parser *p, void *ctx, const char *key, yaml_node_t *k,
                        yaml_node_t *v)
{
    gmd_config *c = ctx;
    if (strcmp(key, "watchdog_ms") == 0)
        return get_u32(p, v, "systemd.watchdog_ms", 0, 3600000, &c->watchdog_ms);
    return unknown(p, k, key, "systemd");
}

/* ---- models ---- */

static int model_pair(cfg_parser *p, void *ctx, const char *key, yaml_node_t *k,
                      yaml_node_t *v)
{
    gmd_model_config *m = ctx;
    if (strcmp(key, "name") == 0) {
        if (get_string(p, v, "models[].name", m->name, sizeof(m->name)) < 0)
            return -1;
        for (const char *s = m->name; *s; s++)
            if (!(*s == '-' || *s == '_' || *s == '.' || *s == ':' ||
                  (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
                  (*s >= 'A' && *s <= 'Z')))
                return fail(p, v, "models[].name '%s' may hold only letters, digits and "
                            "-_.:", m->name);
        return 0;
    }
    if (strcmp(key, "path") == 0)
        return get_string(p, v, "models[].path", m->path, sizeof(m->path));
    if (strcmp(key, "bundle") == 0)
        return get_string(p, v, "models[].bundle", m->bundle, sizeof(m->bundle));
    if (strcmp(key, "signature") == 0)
        return get_string(p, v, "models[].signature", m->signature, sizeof(m->signature));
    if (strcmp(key, "load") == 0)
        return get_bool(p, v, "models[].load", &m->load);
    if (strcmp(key, "context") == 0)
        return get_u32(p, v, "models[].context", 0, 1048576, &m->context);
    if (strcmp(key, "workers") == 0)
        return get_u32(p, v, "models[].workers", 1, 64, &m->workers);
    if (strcmp(key, "max_tokens") == 0)
        return get_u32(p, v, "models[].max_tokens", 1, 1048576, &m->max_tokens);
    if (strcmp(key, "max_batch_sequences") == 0)
        return get_u32(p, v, "models[].max_batch_sequences", 1, 64, &m->max_batch_sequences);
    if (strcmp(key, "max_batch_tokens") == 0)
        return get_u32(p, v, "models[].max_batch_tokens", 1, 65536, &m->max_batch_tokens);
    if (strcmp(key, "kv_budget_mb") == 0)
        return get_u32(p, v, "models[].kv_budget_mb", 1, 1048576, &m->kv_budget_mb);
    if (strcmp(key, "prefix_cache_mb") == 0)
        return get_u32(p, v, "models[].prefix_cache_mb", 0, 1048576, &m->prefix_cache_mb);
    if (strcmp(key, "prefix_cache_min_tokens") == 0)
        return get_u32(p, v, "models[].prefix_cache_min_tokens", 1, 1048576,
                       &m->prefix_cache_min_tokens);
    if (strcmp(key, "device") == 0) {
        int index;
        cm_err derr;
        if (get_string(p, v, "models[].device", m->device, sizeof(m->device)) < 0)
            return -1;
        if (gm_device_parse(m->device, &index, &derr) < 0)
            return fail(p, v, "models[].device: %s", derr.msg);
        return 0;
    }
    if (strcmp(key, "device_fallback") == 0) {
        char fb[16];
        if (get_string(p, v, "models[].device_fallback", fb, sizeof(fb)) < 0)
            return -1;
        if (strcmp(fb, "cpu") != 0 && strcmp(fb, "none") != 0)
            return fail(p, v, "models[].device_fallback: expected cpu or none");
        m->device_fallback_cpu = strcmp(fb, "cpu") == 0;
        return 0;
    }
    return unknown(p, k, key, "models[]");
}

static int parse_models(cfg_parser *p, gmd_config *c, yaml_node_t *seq)
{
    if (seq->type != YAML_SEQUENCE_NODE)
        return fail(p, seq, "models must be a list");
    for (yaml_node_item_t *it = seq->data.sequence.items.start;
         it < seq->data.sequence.items.top; it++) {
        yaml_node_t *n = yaml_document_get_node(p->doc, *it);
        if (n == NULL)
            return cm_err_set(p->err, "%s: malformed document", p->name);
        if (c->n_models >= GMD_MAX_MODELS) {
            char max[16];
            snprintf(max, sizeof(max), "%d", GMD_MAX_MODELS);
            return fail(p, n, "too many models (at most %s)", max);
        }
        gmd_model_config *m = &c->models[c->n_models];
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
        if (each_pair(p, n, "models[]", model_pair, m) < 0)
            return -1;
        if (m->name[0] == '\0')
            return fail(p, n, "a model needs a name");
        if (m->path[0] == '\0' && m->bundle[0] == '\0')
            return fail(p, n, "model '%s' needs a path or a bundle", m->name);
        if (m->signature[0] != '\0' && (m->bundle[0] != '\0' || m->path[0] == '\0'))
            return fail(p, n, "model '%s': signature goes with path (a GGUF file signed on its "
                        "own), not with bundle (a folder carries its own model.sig)", m->name);
        /* A file signed on its own is loaded like a bundle (verified, then
         * the hashed descriptor loaded): the loader takes that route for a
         * model with a bundle, and daemon/bundle_open.c, seeing the
         * signature, verifies the file `path` against it. */
        if (m->signature[0] != '\0')
            memcpy(m->bundle, m->path, sizeof(m->bundle));
        for (size_t j = 0; j < c->n_models; j++)
            if (strcmp(c->models[j].name, m->name) == 0)
                return fail(p, n, "model '%s' is listed twice", m->name);
        c->n_models++;
    }
    return 0;
}

static int top_pair(cfg_parser *p, void *ctx, const char *key, yaml_node_t *k,
                    yaml_node_t *v)
{
    gmd_config *c = ctx;
    if (strcmp(key, "log_level") == 0) {
        if (get_string(p, v, "log_level", c->log_level, sizeof(c->log_level)) < 0)
            return -1;
        cm_log_level lv;
        if (cm_log_parse_level(c->log_level, &lv) < 0)
            return fail(p, v, "log_level must be error, warn, notice, info or debug");
        return 0;
    }
    if (strcmp(key, "listen") == 0)
        return each_pair(p, v, "listen", listen_pair, c);
    if (strcmp(key, "tls") == 0)
        return each_pair(p, v, "tls", tls_pair, c);
    if (strcmp(key, "limits") == 0)
        return each_pair(p, v, "limits", limits_pair, c);
    if (strcmp(key, "engine") == 0)
        return each_pair(p, v, "engine", engine_pair, c);
    if (strcmp(key, "shutdown") == 0)
        return each_pair(p, v, "shutdown", shutdown_pair, c);
    if (strcmp(key, "security") == 0)
        return each_pair(p, v, "security", security_pair, c);
    if (strcmp(key, "systemd") == 0)
        return each_pair(p, v, "systemd", systemd_pair, c);
    if (strcmp(key, "models") == 0)
        return parse_models(p, c, v);
    return unknown(p, k, key, "the top level");
}

/* Checks that span several keys. */
static int validate(cfg_parser *p, yaml_node_t *root, gmd_config *c)
{
    if (!c->unix_enabled && !c->tcp_enabled)
        return fail(p, root, "listen must name a unix socket, a tcp address, or both");
    if (c->unix_enabled && c->unix_path[0] == '\0')
        return fail(p, root, "listen.unix.path is required");
    if (c->unix_enabled && c->unix_path[0] != '/')
        return fail(p, root, "listen.unix.path must be absolute");
    if (c->unix_enabled && strlen(c->unix_path) >= 108)
        return fail(p, root, "listen.unix.path is longer than a socket address allows");
    static const char *const need[] = {"tls.certificate", "tls.private_key", "tls.client_ca"};
    const char *have[] = {c->tls_certificate, c->tls_private_key, c->tls_client_ca};
    for (size_t i = 0; i < 3; i++)
        if (have[i][0] == '\0')
            return fail(p, root, "%s is required (clients are always authenticated)",
                        need[i]);
    for (size_t i = 0; i < c->n_models; i++) {
        const gmd_model_config *m = &c->models[i];
        if (m->bundle[0] != '\0' && c->bundle_keys[0] == '\0' && c->bundle_cas[0] == '\0')
            return fail(p, root, "model '%s' is a signed bundle: security.bundle_keys or "
                        "security.bundle_cas must say whose signatures to trust", m->name);
        if (m->bundle[0] != '\0' && m->signature[0] == '\0' && m->path[0] == '/')
            return fail(p, root, "model '%s': with a bundle, path names the GGUF file "
                        "inside it (relative)", m->name);
    }
    return 0;
}

int gmd_config_parse(const char *text, size_t len, const char *name, gmd_config *out,
                     cm_err *err)
{
    gmd_config *c = malloc(sizeof(*c));
    if (c == NULL)
        return cm_err_set(err, "%s: out of memory", name);
    gmd_config_defaults(c);
    snprintf(c->source, sizeof(c->source), "%s", name);

    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        free(c);
        return cm_err_set(err, "%s: cannot start the YAML parser", name);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc)) {
        cm_err_set(err, "%s:%zu: %s", name, parser.problem_mark.line + 1,
                   parser.problem ? parser.problem : "YAML syntax error");
        yaml_parser_delete(&parser);
        free(c);
        return -1;
    }
    cfg_parser p = {.doc = &doc, .name = name, .err = err};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL)
        cm_err_set(err, "%s:1: the file is empty", name);
    else if (each_pair(&p, root, "the top level", top_pair, c) == 0 &&
             validate(&p, root, c) == 0)
        rc = 0;
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc == 0)
        *out = *c;
    free(c);
    return rc;
}

int gmd_config_load(const char *path, gmd_config *out, cm_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return cm_err_errno(err, "cannot open %s", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int rc = -1;
    if (buf == NULL) {
        cm_err_set(err, "%s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= (1u << 24)) {
                cm_err_set(err, "%s: larger than 16 MiB", path);
                goto out;
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                cm_err_set(err, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        cm_err_errno(err, "cannot read %s", path);
        goto out;
    }
    rc = gmd_config_parse(buf, n, path, out, err);
out:
    free(buf);
    fclose(f);
    return rc;
}

int gmd_config_find_model(const gmd_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_models; i++)
        if (strcmp(cfg->models[i].name, name) == 0)
            return (int)i;
    return -1;
}
