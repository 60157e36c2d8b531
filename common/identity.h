/*
 * common/identity.h -- who is calling: the identity of a gemmad client as
 * established by mutual TLS (and, on the Unix socket, by the kernel).
 *
 * The daemon fills it after the TLS handshake; the policy decides on it;
 * the audit log records it. All strings are NUL-terminated and owned by
 * the struct (fixed buffers, truncated names are flagged).
 */
#ifndef CM_IDENTITY_H
#define CM_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CM_ID_MAX_SANS 16

typedef enum cm_transport {
    CM_TRANSPORT_UNIX = 0,
    CM_TRANSPORT_TCP = 1,
} cm_transport;

typedef struct cm_identity {
    /* From the verified client certificate. */
    char subject_dn[512];   /* RFC 2253 form, e.g. "CN=docsvc,OU=apps,O=Bank" */
    char cn[128];           /* first CN of the subject, "" if none */
    char ou[128];           /* first OU of the subject, "" if none */
    char serial_hex[80];    /* certificate serial, lowercase hex */
    char fingerprint_sha256[65]; /* lowercase hex of SHA-256 over the DER cert */
    unsigned n_san_dns;
    char san_dns[CM_ID_MAX_SANS][256];
    unsigned n_san_uri;
    char san_uri[CM_ID_MAX_SANS][256];

    /* How the client reached us. */
    cm_transport transport;
    bool has_peer_cred;     /* Unix socket: SO_PEERCRED was read */
    uid_t peer_uid;
    gid_t peer_gid;
    pid_t peer_pid;
    char peer_addr[64];     /* TCP: "203.0.113.5:51234" or "[::1]:4431" */
} cm_identity;

#endif
