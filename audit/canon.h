/*
 * audit/canon.h -- the row format of the audit log and its canonical
 * encoding, which the hash chain and every verifier depend on.
 *
 * Canonical encoding of a row (version 1): for each column of au_columns
 * in order (seq first, detail last; the hash column is not encoded):
 *   NULL     -> 0x00
 *   INTEGER  -> 0x01, 8 bytes big-endian two's complement
 *   TEXT or BLOB -> 0x02, 4 bytes big-endian length, the bytes
 *   REAL     -> 0x03, 8 bytes big-endian IEEE 754 (never written by gemmad)
 * Row hash = SHA-256(previous row's hash (32 bytes) || encoding). The
 * first row of a chain links to the chain's "prev hash" (32 zero bytes
 * for a new log; the archived log's head after a rotation).
 *
 * A checkpoint signs, with ECDSA P-256 over SHA-256, the message
 *   "gemmad-audit-checkpoint-v1" (26 bytes) || seq (8 bytes BE)
 *   || head hash (32 bytes) || time_us (8 bytes BE)
 * where seq is the last row covered and head its hash.
 */
#ifndef AU_CANON_H
#define AU_CANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define AU_HASH_LEN 32

typedef enum au_coltype { AU_COL_INT, AU_COL_TEXT, AU_COL_BLOB } au_coltype;

typedef struct au_column {
    const char *name;
    au_coltype type;   /* declared type (export writes BLOBs as hex) */
} au_column;

/* The columns of the events table, in canonical order (without hash). */
enum {
    AU_C_SEQ, AU_C_TIME_US, AU_C_EVENT, AU_C_REQUEST_ID,
    AU_C_SUBJECT_DN, AU_C_CERT_SERIAL, AU_C_CERT_FINGERPRINT,
    AU_C_ROLE, AU_C_RULE_INDEX, AU_C_RULE_NAME,
    AU_C_TRANSPORT, AU_C_PEER_UID, AU_C_PEER_PID, AU_C_PEER_ADDR,
    AU_C_ROUTE, AU_C_ACTION, AU_C_MODEL, AU_C_MODEL_DIGEST,
    AU_C_DECISION, AU_C_REASON, AU_C_HTTP_STATUS,
    AU_C_PROMPT_TOKENS, AU_C_COMPLETION_TOKENS, AU_C_LATENCY_US,
    AU_C_PROMPT_HMAC, AU_C_OUTPUT_HMAC, AU_C_PROMPT_TEXT, AU_C_OUTPUT_TEXT,
    AU_C_DETAIL,
    AU_NCOLS
};

extern const au_column au_columns[AU_NCOLS];

typedef enum au_vtype { AU_V_NULL = 0, AU_V_INT = 1, AU_V_BYTES = 2, AU_V_REAL = 3 } au_vtype;

/* One value; bytes are borrowed (not NUL-terminated necessarily). */
typedef struct au_value {
    au_vtype t;
    int64_t i;
    double r;
    const unsigned char *p;
    size_t n;
} au_value;

typedef struct au_row {
    au_value v[AU_NCOLS];
    unsigned char hash[AU_HASH_LEN]; /* as stored */
    bool has_hash;                   /* stored hash was 32 bytes */
} au_row;

/* out = SHA-256(prev || canonical(row)). Returns -1 on allocation failure. */
int au_row_hash(const unsigned char prev[AU_HASH_LEN], const au_row *row,
                unsigned char out[AU_HASH_LEN], cm_err *err);

#define AU_CKPT_MSG_LEN (26 + 8 + AU_HASH_LEN + 8)
void au_checkpoint_message(int64_t seq, const unsigned char head[AU_HASH_LEN], int64_t time_us,
                           unsigned char out[AU_CKPT_MSG_LEN]);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void au_hex(const unsigned char *p, size_t n, char *out);
/* Parses exactly 2n hex digits; -1 if malformed. */
int au_unhex(const char *s, unsigned char *out, size_t n);

#endif
