/*
 * audit/msg.c -- encoding and parsing the signer's messages (msg.h). The
 * request parser is the signer's only reader of what the network-facing
 * process sends, so it checks every length before it reads.
 */
#include "audit/msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- frames ---- */

void au_frame_free(au_frame *f)
{
    free(f->p);
    *f = (au_frame){0};
}

static void put(au_frame *f, const void *data, size_t n)
{
    if (f->failed)
        return;
    if (f->len + n > (size_t)AU_MSG_MAX + 4) {
        f->failed = true;
        return;
    }
    if (f->len + n > f->cap) {
        size_t cap = f->cap ? f->cap : 256;
        while (cap < f->len + n)
            cap *= 2;
        unsigned char *p = realloc(f->p, cap);
        if (p == NULL) {
            f->failed = true;
            return;
        }
        f->p = p;
        f->cap = cap;
    }
    memcpy(f->p + f->len, data, n);
    f->len += n;
}

static void put_u64(au_frame *f, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(f, b, 8);
}

static void put_u32(au_frame *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(f, b, 4);
}

static void begin(au_frame *f, au_msg_type type, uint64_t id)
{
    *f = (au_frame){0};
    put_u32(f, 0); /* the length, set by finish() */
    unsigned char t = (unsigned char)type;
    put(f, &t, 1);
    put_u64(f, id);
}

static int finish(au_frame *f, cm_err *err)
{
    if (f->failed) {
        au_frame_free(f);
        return cm_err_set(err, "audit message: out of memory or larger than %u bytes",
                          AU_MSG_MAX);
    }
    uint32_t n = (uint32_t)(f->len - 4);
    for (int i = 0; i < 4; i++)
        f->p[i] = (unsigned char)(n >> (8 * i));
    return 0;
}

static void field(au_frame *f, au_msg_field tag, const void *p, size_t n)
{
    unsigned char t = (unsigned char)tag;
    if (n > AU_MSG_MAX) {
        f->failed = true;
        return;
    }
    put(f, &t, 1);
    put_u32(f, (uint32_t)n);
    put(f, p, n);
}

static void field_str(au_frame *f, au_msg_field tag, const char *s)
{
    if (s != NULL)
        field(f, tag, s, strlen(s));
}

static void field_int(au_frame *f, au_msg_field tag, int64_t v)
{
    unsigned char t = (unsigned char)tag;
    put(f, &t, 1);
    put_u32(f, 8);
    put_u64(f, (uint64_t)v);
}

int au_msg_encode_append(au_frame *f, uint64_t id, unsigned flags, const au_event *ev,
                         cm_err *err)
{
    begin(f, AU_MSG_APPEND, id);
    unsigned char fl = (unsigned char)flags;
    put(f, &fl, 1);
    field_int(f, AU_F_TIME_US, ev->time_us);
    field_str(f, AU_F_TYPE, ev->type);
    field_str(f, AU_F_REQUEST_ID, ev->request_id);
    const cm_identity *id_ = ev->identity;
    if (id_ != NULL) {
        field_int(f, AU_F_TRANSPORT, id_->transport == CM_TRANSPORT_UNIX ? 0 : 1);
        if (id_->subject_dn[0] != '\0')
            field_str(f, AU_F_SUBJECT_DN, id_->subject_dn);
        if (id_->serial_hex[0] != '\0')
            field_str(f, AU_F_SERIAL, id_->serial_hex);
        if (id_->fingerprint_sha256[0] != '\0')
            field_str(f, AU_F_FINGERPRINT, id_->fingerprint_sha256);
        if (id_->has_peer_cred) {
            field_int(f, AU_F_PEER_UID, (int64_t)id_->peer_uid);
            field_int(f, AU_F_PEER_PID, (int64_t)id_->peer_pid);
        }
        if (id_->peer_addr[0] != '\0')
            field_str(f, AU_F_PEER_ADDR, id_->peer_addr);
    }
    field_str(f, AU_F_ROLE, ev->role);
    field_int(f, AU_F_RULE_INDEX, ev->rule_index);
    field_str(f, AU_F_RULE_NAME, ev->rule_name);
    field_str(f, AU_F_ROUTE, ev->route);
    field_str(f, AU_F_ACTION, ev->action);
    field_str(f, AU_F_MODEL, ev->model);
    field_str(f, AU_F_MODEL_DIGEST, ev->model_digest);
    field_str(f, AU_F_DECISION, ev->decision);
    field_str(f, AU_F_REASON, ev->reason);
    field_int(f, AU_F_HTTP_STATUS, ev->http_status);
    field_int(f, AU_F_PROMPT_TOKENS, ev->prompt_tokens);
    field_int(f, AU_F_COMPLETION_TOKENS, ev->completion_tokens);
    field_int(f, AU_F_LATENCY_US, ev->latency_us);
    if (ev->prompt != NULL)
        field(f, AU_F_PROMPT, ev->prompt, ev->prompt_len);
    if (ev->output != NULL)
        field(f, AU_F_OUTPUT, ev->output, ev->output_len);
    field_str(f, AU_F_DETAIL, ev->detail);
    return finish(f, err);
}

int au_msg_encode_simple(au_frame *f, au_msg_type type, uint64_t id, const char *archive,
                         cm_err *err)
{
    begin(f, type, id);
    if (type == AU_MSG_ROTATE && archive != NULL)
        put(f, archive, strlen(archive));
    return finish(f, err);
}

int au_msg_encode_reply(au_frame *f, uint64_t id, int status, int64_t seq,
                        const au_stats *st, const char *msg, cm_err *err)
{
    begin(f, AU_MSG_REPLY, id);
    put_u32(f, (uint32_t)status);
    put_u64(f, (uint64_t)seq);
    au_stats zero = {0};
    if (st == NULL)
        st = &zero;
    put_u64(f, st->appended);
    put_u64(f, st->failed);
    put_u64(f, st->transactions);
    put_u64(f, st->checkpoints);
    put_u64(f, (uint64_t)st->head_seq);
    size_t n = msg ? strnlen(msg, CM_ERR_MAX - 1) : 0;
    unsigned char l[2] = {(unsigned char)n, (unsigned char)(n >> 8)};
    put(f, l, 2);
    put(f, msg ? msg : "", n);
    return finish(f, err);
}

/* ---- parsing ---- */

typedef struct reader {
    const unsigned char *p;
    size_t left;
} reader;

static bool get(reader *r, void *out, size_t n)
{
    if (r->left < n)
        return false;
    memcpy(out, r->p, n);
    r->p += n;
    r->left -= n;
    return true;
}

static bool get_u64(reader *r, uint64_t *v)
{
    unsigned char b[8];
    if (!get(r, b, 8))
        return false;
    *v = 0;
    for (int i = 7; i >= 0; i--)
        *v = *v << 8 | b[i];
    return true;
}

static bool get_u32(reader *r, uint32_t *v)
{
    unsigned char b[4];
    if (!get(r, b, 4))
        return false;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return true;
}

/* Copies a text field into an identity buffer of `cap` bytes. */
static int id_text(char *dst, size_t cap, const unsigned char *p, size_t n, const char *what,
                   cm_err *err)
{
    if (n >= cap)
        return cm_err_set(err, "audit message: %s is longer than %zu bytes", what, cap - 1);
    memcpy(dst, p, n);
    dst[n] = '\0';
    return 0;
}

static int parse_append(reader *r, au_request *out, cm_err *err)
{
    unsigned char fl;
    if (!get(r, &fl, 1))
        return cm_err_set(err, "audit message: APPEND without flags");
    if (fl & ~AU_APPEND_REPLY)
        return cm_err_set(err, "audit message: unknown APPEND flags 0x%02x", fl);
    out->flags = fl;
    /* Text and bytes are copied, NUL-terminated, into one arena no
     * larger than the body plus one NUL per possible field. */
    out->arena = malloc(r->left + AU_F_MAX_ + 1);
    if (out->arena == NULL)
        return cm_err_set(err, "audit message: out of memory");
    size_t used = 0;
    bool seen[AU_F_MAX_] = {false};
    bool has_identity = false;
    au_event *ev = &out->ev;
    cm_identity *id = &out->identity;
    while (r->left > 0) {
        unsigned char tag;
        uint32_t n;
        if (!get(r, &tag, 1) || !get_u32(r, &n))
            return cm_err_set(err, "audit message: truncated field header");
        if (tag == 0 || tag >= AU_F_MAX_)
            return cm_err_set(err, "audit message: unknown field %u", tag);
        if (seen[tag])
            return cm_err_set(err, "audit message: field %u repeated", tag);
        seen[tag] = true;
        if (n > r->left)
            return cm_err_set(err, "audit message: field %u runs past the end", tag);
        const unsigned char *p = r->p;
        r->p += n;
        r->left -= n;
        bool is_int = tag == AU_F_TIME_US || tag == AU_F_TRANSPORT || tag == AU_F_PEER_UID ||
                      tag == AU_F_PEER_PID || tag == AU_F_RULE_INDEX ||
                      tag == AU_F_HTTP_STATUS || tag == AU_F_PROMPT_TOKENS ||
                      tag == AU_F_COMPLETION_TOKENS || tag == AU_F_LATENCY_US;
        bool is_bytes = tag == AU_F_PROMPT || tag == AU_F_OUTPUT;
        int64_t iv = 0;
        char *s = NULL;
        if (is_int) {
            if (n != 8)
                return cm_err_set(err, "audit message: integer field %u has %u bytes", tag, n);
            uint64_t u = 0;
            for (int i = 7; i >= 0; i--)
                u = u << 8 | p[i];
            iv = (int64_t)u;
        } else {
            if (!is_bytes && memchr(p, '\0', n) != NULL)
                return cm_err_set(err, "audit message: text field %u holds a NUL byte", tag);
            s = out->arena + used;
            memcpy(s, p, n);
            s[n] = '\0';
            used += n + 1;
        }
        switch ((au_msg_field)tag) {
        case AU_F_TIME_US: ev->time_us = iv; break;
        case AU_F_TYPE: ev->type = s; break;
        case AU_F_REQUEST_ID: ev->request_id = s; break;
        case AU_F_SUBJECT_DN:
            if (id_text(id->subject_dn, sizeof(id->subject_dn), p, n, "subject", err) < 0)
                return -1;
            break;
        case AU_F_SERIAL:
            if (id_text(id->serial_hex, sizeof(id->serial_hex), p, n, "serial", err) < 0)
                return -1;
            break;
        case AU_F_FINGERPRINT:
            if (id_text(id->fingerprint_sha256, sizeof(id->fingerprint_sha256), p, n,
                        "fingerprint", err) < 0)
                return -1;
            break;
        case AU_F_TRANSPORT:
            if (iv != 0 && iv != 1)
                return cm_err_set(err, "audit message: transport %lld", (long long)iv);
            id->transport = iv == 0 ? CM_TRANSPORT_UNIX : CM_TRANSPORT_TCP;
            has_identity = true;
            break;
        case AU_F_PEER_UID:
            id->peer_uid = (uid_t)iv;
            id->has_peer_cred = true;
            break;
        case AU_F_PEER_PID: id->peer_pid = (pid_t)iv; break;
        case AU_F_PEER_ADDR:
            if (id_text(id->peer_addr, sizeof(id->peer_addr), p, n, "peer address", err) < 0)
                return -1;
            break;
        case AU_F_ROLE: ev->role = s; break;
        case AU_F_RULE_INDEX:
            if (iv < -1 || iv > INT32_MAX)
                return cm_err_set(err, "audit message: rule index %lld", (long long)iv);
            ev->rule_index = (int)iv;
            break;
        case AU_F_RULE_NAME: ev->rule_name = s; break;
        case AU_F_ROUTE: ev->route = s; break;
        case AU_F_ACTION: ev->action = s; break;
        case AU_F_MODEL: ev->model = s; break;
        case AU_F_MODEL_DIGEST: ev->model_digest = s; break;
        case AU_F_DECISION: ev->decision = s; break;
        case AU_F_REASON: ev->reason = s; break;
        case AU_F_HTTP_STATUS:
            if (iv < 0 || iv > 999)
                return cm_err_set(err, "audit message: HTTP status %lld", (long long)iv);
            ev->http_status = (int)iv;
            break;
        case AU_F_PROMPT_TOKENS: ev->prompt_tokens = iv; break;
        case AU_F_COMPLETION_TOKENS: ev->completion_tokens = iv; break;
        case AU_F_LATENCY_US: ev->latency_us = iv; break;
        case AU_F_PROMPT:
            ev->prompt = s;
            ev->prompt_len = n;
            break;
        case AU_F_OUTPUT:
            ev->output = s;
            ev->output_len = n;
            break;
        case AU_F_DETAIL: ev->detail = s; break;
        case AU_F_MAX_: break;
        }
    }
    if ((seen[AU_F_PEER_UID] || seen[AU_F_PEER_PID] || seen[AU_F_SUBJECT_DN] ||
         seen[AU_F_SERIAL] || seen[AU_F_FINGERPRINT] || seen[AU_F_PEER_ADDR]) &&
        !has_identity)
        return cm_err_set(err, "audit message: identity fields without a transport");
    if (seen[AU_F_PEER_UID] != seen[AU_F_PEER_PID])
        return cm_err_set(err, "audit message: peer uid and pid come together");
    if (ev->type == NULL || ev->type[0] == '\0')
        return cm_err_set(err, "audit message: an event needs a type");
    if (has_identity)
        ev->identity = id;
    return 0;
}

int au_msg_parse_request(const unsigned char *body, size_t len, au_request *out, cm_err *err)
{
    memset(out, 0, sizeof(*out));
    out->ev = (au_event)AU_EVENT_INIT;
    reader r = {body, len};
    unsigned char type;
    if (len > AU_MSG_MAX)
        return cm_err_set(err, "audit message: %zu bytes is too large", len);
    if (!get(&r, &type, 1) || !get_u64(&r, &out->id))
        return cm_err_set(err, "audit message: truncated header");
    out->type = (au_msg_type)type;
    int rc = 0;
    switch (type) {
    case AU_MSG_APPEND:
        rc = parse_append(&r, out, err);
        break;
    case AU_MSG_CHECKPOINT:
    case AU_MSG_STATS:
        if (r.left != 0)
            rc = cm_err_set(err, "audit message: %u takes no arguments", type);
        break;
    case AU_MSG_ROTATE:
        out->arena = malloc(r.left + 1);
        if (out->arena == NULL) {
            rc = cm_err_set(err, "audit message: out of memory");
            break;
        }
        memcpy(out->arena, r.p, r.left);
        out->arena[r.left] = '\0';
        if (memchr(r.p, '\0', r.left) != NULL || !au_msg_archive_name_ok(out->arena))
            rc = cm_err_set(err, "audit message: ROTATE needs a bare archive file name");
        out->archive = out->arena;
        break;
    default:
        rc = cm_err_set(err, "audit message: unknown type %u", type);
    }
    if (rc < 0)
        au_msg_request_free(out);
    return rc;
}

void au_msg_request_free(au_request *r)
{
    free(r->arena);
    r->arena = NULL;
}

int au_msg_parse_reply(const unsigned char *body, size_t len, au_reply *out, cm_err *err)
{
    memset(out, 0, sizeof(*out));
    reader r = {body, len};
    unsigned char type;
    uint32_t status;
    uint64_t seq, head;
    unsigned char l[2];
    if (!get(&r, &type, 1) || type != AU_MSG_REPLY || !get_u64(&r, &out->id) ||
        !get_u32(&r, &status) || !get_u64(&r, &seq) || !get_u64(&r, &out->stats.appended) ||
        !get_u64(&r, &out->stats.failed) || !get_u64(&r, &out->stats.transactions) ||
        !get_u64(&r, &out->stats.checkpoints) || !get_u64(&r, &head) || !get(&r, l, 2))
        return cm_err_set(err, "audit signer: malformed reply");
    size_t n = (size_t)l[0] | (size_t)l[1] << 8;
    if (n != r.left || n >= sizeof(out->msg))
        return cm_err_set(err, "audit signer: malformed reply message");
    memcpy(out->msg, r.p, n);
    out->msg[n] = '\0';
    out->status = (int32_t)status == 0 ? 0 : -1;
    out->seq = (int64_t)seq;
    out->stats.head_seq = (int64_t)head;
    return 0;
}

bool au_msg_archive_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 200 || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

/* ---- reading frames ---- */

int au_msg_read_full(int fd, void *buf, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t got = read(fd, (char *)buf + off, n - off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got == 0 && off == 0)
            return 0;
        if (got <= 0)
            return -1;
        off += (size_t)got;
    }
    return 1;
}

int au_msg_read_len(int fd, uint32_t *len)
{
    unsigned char h[4];
    int rc = au_msg_read_full(fd, h, 4);
    if (rc == 1)
        *len = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
    return rc;
}
