/*
 * daemon/conf.h -- gemmad's configuration (gemmad.yaml(5)): what the
 * file may say, its defaults, and the parser that turns YAML into a
 * gmd_config or one "file:line:col: what is wrong" error.
 *
 * A gmd_config is a plain value (fixed buffers, no pointers), so the
 * daemon can keep the old one while it tries a new one on SIGHUP.
 */
#ifndef GMD_CONFIG_H
#define GMD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define GMD_PATH_MAX 512
#define GMD_NAME_MAX 128
#define GMD_MAX_MODELS 8

typedef struct gmd_model_config {
    char name[GMD_NAME_MAX];   /* the "model" clients ask for */
    char path[GMD_PATH_MAX];   /* GGUF file; with a bundle: its name inside it */
    char bundle[GMD_PATH_MAX]; /* signed bundle directory ("" = none); with
                                  `signature`, the parser sets it to `path`
                                  (the signed file is the bundle) */
    bool load;                 /* load at start-up */
    uint32_t context;          /* positions per sequence, 0 = engine default */
    uint32_t workers;          /* engine threads serving it (one sequence each) */
    uint32_t max_tokens;       /* cap on generated tokens per request */
    /* continuous batching (daemon/sched.c) */
    uint32_t max_batch_sequences; /* requests decoded together */
    uint32_t max_batch_tokens;    /* tokens per forward pass (decodes + prefill chunks) */
    uint32_t kv_budget_mb;        /* KV cache the running requests may reserve */
    uint32_t prefix_cache_mb;     /* KV kept for repeated prompt prefixes, 0 = off */
    uint32_t prefix_cache_min_tokens; /* shortest prefix worth keeping */
    char device[16];           /* "cpu" (default) or "cuda:N" (engine/gemma.h) */
    bool device_fallback_cpu;  /* device_fallback: cpu -- load on the CPU when
                                  `device` cannot be used (default: none, fail) */
    char signature[GMD_PATH_MAX]; /* signature of `path` signed on its own ("" = none) */
} gmd_model_config;

typedef struct gmd_config {
    char source[GMD_PATH_MAX];  /* file the config came from */
    char log_level[16];

    /* listen.unix */
    bool unix_enabled;
    char unix_path[GMD_PATH_MAX];
    unsigned unix_mode;         /* permission bits of the socket file */
    char unix_group[GMD_NAME_MAX];
    bool unix_has_group;
    gid_t unix_gid;

    /* listen.tcp */
    bool tcp_enabled;
    char tcp_address[64];
    uint16_t tcp_port;
    int tcp_backlog;

    /* tls */
    char tls_certificate[GMD_PATH_MAX];
    char tls_private_key[GMD_PATH_MAX];
    char tls_client_ca[GMD_PATH_MAX];
    char tls_crl[GMD_PATH_MAX];       /* "" = no CRL */
    char tls_min_version[8];          /* "1.2" or "1.3" */
    char tls_ciphers[256];            /* TLS 1.2 cipher list */
    char tls_ciphersuites[256];       /* TLS 1.3 suites */
    uint32_t handshake_timeout_ms;

    /* limits */
    uint32_t max_header_bytes;
    uint32_t max_headers;
    uint32_t max_body_bytes;
    uint32_t max_connections;
    uint32_t header_timeout_ms;
    uint32_t idle_timeout_ms;
    uint32_t request_timeout_ms;
    uint32_t queue_depth;

    /* engine */
    int engine_threads;
    uint32_t models_memory_mb;  /* weights + KV and prefix caches of loaded models, 0 = no limit */

    /* shutdown */
    uint32_t drain_timeout_ms;
    uint32_t drain_grace_ms;    /* SIGTERM: not ready but still accepting this long */

    /* security */
    char policy_file[GMD_PATH_MAX];   /* "" = allow every verified client */
    char audit_db[GMD_PATH_MAX];      /* "" = audit events go to the log */
    bool audit_fail_open;             /* serve requests the audit log cannot record */
    bool audit_raw_text;              /* keep prompt and output text, not only HMACs */
    uint32_t audit_checkpoint_rows;   /* signed checkpoint after this many rows */
    uint32_t audit_checkpoint_seconds;/* ... or this many seconds with new rows */
    bool privsep;                     /* audit keys in a separate signer process */
    char bundle_keys[GMD_PATH_MAX];   /* PEM public key(s) that sign bundles */
    char bundle_cas[GMD_PATH_MAX];    /* PEM CAs whose chains sign bundles */

    /* systemd */
    uint32_t watchdog_ms;             /* 0 = use WATCHDOG_USEC when set */

    size_t n_models;
    gmd_model_config models[GMD_MAX_MODELS];
} gmd_config;

/* Fill with the documented defaults (no listener, no TLS files). */
void gmd_config_defaults(gmd_config *cfg);

/* Parse YAML text; `name` is used in messages ("gemmad.yaml:12:3: ..."). */
int gmd_config_parse(const char *text, size_t len, const char *name,
                     gmd_config *out, cm_err *err);

/* Read and parse a file. */
int gmd_config_load(const char *path, gmd_config *out, cm_err *err);

/* Index of the model named `name`, or -1. */
int gmd_config_find_model(const gmd_config *cfg, const char *name);

#endif
