/*
 * audit/canon.c -- the column list and the canonical row encoding that
 * the hash chain is computed over (format described in canon.h).
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "audit/canon.h"

const au_column au_columns[AU_NCOLS] = {
    [AU_C_SEQ] = {"seq", AU_COL_INT},
    [AU_C_TIME_US] = {"time_us", AU_COL_INT},
    [AU_C_EVENT] = {"event", AU_COL_TEXT},
    [AU_C_REQUEST_ID] = {"request_id", AU_COL_TEXT},
    [AU_C_SUBJECT_DN] = {"subject_dn", AU_COL_TEXT},
    [AU_C_CERT_SERIAL] = {"cert_serial", AU_COL_TEXT},
    [AU_C_CERT_FINGERPRINT] = {"cert_fingerprint", AU_COL_TEXT},
    [AU_C_ROLE] = {"role", AU_COL_TEXT},
    [AU_C_RULE_INDEX] = {"rule_index", AU_COL_INT},
    [AU_C_RULE_NAME] = {"rule_name", AU_COL_TEXT},
    [AU_C_TRANSPORT] = {"transport", AU_COL_TEXT},
    [AU_C_PEER_UID] = {"peer_uid", AU_COL_INT},
    [AU_C_PEER_PID] = {"peer_pid", AU_COL_INT},
    [AU_C_PEER_ADDR] = {"peer_addr", AU_COL_TEXT},
    [AU_C_ROUTE] = {"route", AU_COL_TEXT},
    [AU_C_ACTION] = {"action", AU_COL_TEXT},
    [AU_C_MODEL] = {"model", AU_COL_TEXT},
    [AU_C_MODEL_DIGEST] = {"model_digest", AU_COL_TEXT},
    [AU_C_DECISION] = {"decision", AU_COL_TEXT},
    [AU_C_REASON] = {"reason", AU_COL_TEXT},
    [AU_C_HTTP_STATUS] = {"http_status", AU_COL_INT},
    [AU_C_PROMPT_TOKENS] = {"prompt_tokens", AU_COL_INT},
    [AU_C_COMPLETION_TOKENS] = {"completion_tokens", AU_COL_INT},
    [AU_C_LATENCY_US] = {"latency_us", AU_COL_INT},
    [AU_C_PROMPT_HMAC] = {"prompt_hmac", AU_COL_BLOB},
    [AU_C_OUTPUT_HMAC] = {"output_hmac", AU_COL_BLOB},
    [AU_C_PROMPT_TEXT] = {"prompt_text", AU_COL_TEXT},
    [AU_C_OUTPUT_TEXT] = {"output_text", AU_COL_TEXT},
    [AU_C_DETAIL] = {"detail", AU_COL_TEXT},
};

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

int au_row_hash(const unsigned char prev[AU_HASH_LEN], const au_row *row,
                unsigned char out[AU_HASH_LEN], cm_err *err)
{
    size_t len = AU_HASH_LEN;
    for (size_t c = 0; c < AU_NCOLS; c++) {
        const au_value *v = &row->v[c];
        len += 1 + (v->t == AU_V_NULL ? 0 : v->t == AU_V_BYTES ? 4 + v->n : 8);
    }
    unsigned char *buf = malloc(len);
    if (buf == NULL)
        return cm_err_set(err, "audit: out of memory hashing a row");
    unsigned char *p = buf;
    memcpy(p, prev, AU_HASH_LEN);
    p += AU_HASH_LEN;
    for (size_t c = 0; c < AU_NCOLS; c++) {
        const au_value *v = &row->v[c];
        *p++ = (unsigned char)v->t;
        switch (v->t) {
        case AU_V_NULL:
            break;
        case AU_V_INT:
            put_be64(p, (uint64_t)v->i);
            p += 8;
            break;
        case AU_V_REAL: {
            uint64_t bits;
            memcpy(&bits, &v->r, 8);
            put_be64(p, bits);
            p += 8;
            break;
        }
        case AU_V_BYTES:
            p[0] = (unsigned char)(v->n >> 24);
            p[1] = (unsigned char)(v->n >> 16);
            p[2] = (unsigned char)(v->n >> 8);
            p[3] = (unsigned char)v->n;
            p += 4;
            if (v->n > 0)
                memcpy(p, v->p, v->n);
            p += v->n;
            break;
        }
    }
    unsigned int olen = 0;
    int ok = EVP_Digest(buf, len, out, &olen, EVP_sha256(), NULL);
    free(buf);
    if (!ok || olen != AU_HASH_LEN)
        return cm_err_set(err, "audit: SHA-256 failed");
    return 0;
}

void au_checkpoint_message(int64_t seq, const unsigned char head[AU_HASH_LEN], int64_t time_us,
                           unsigned char out[AU_CKPT_MSG_LEN])
{
    memcpy(out, "gemmad-audit-checkpoint-v1", 26);
    put_be64(out + 26, (uint64_t)seq);
    memcpy(out + 34, head, AU_HASH_LEN);
    put_be64(out + 34 + AU_HASH_LEN, (uint64_t)time_us);
}

void au_hex(const unsigned char *p, size_t n, char *out)
{
    cm_hex_encode(p, n, out);
}

int au_unhex(const char *s, unsigned char *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = cm_hex_digit(s[2 * i]), lo = cm_hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}
