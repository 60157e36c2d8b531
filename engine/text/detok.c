/*
 * engine/text/detok.c -- token ids back to text (docs/architecture.md
 * E12.3): one token's piece, as llama_token_to_piece() gives it, and the
 * streaming detokenizer that only lets out complete UTF-8.
 */
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "engine/text/utf8.h"
#include "engine/text/vocab_impl.h"

static size_t copy_out(const char *s, size_t n, char *buf, size_t cap)
{
    if (n <= cap && n > 0)
        memcpy(buf, s, n);
    return n;
}

size_t gm_token_to_piece(const gm_vocab *v, int32_t id, bool special, char *buf, size_t cap)
{
    if (!gm_vocab_valid_id(v, id))
        return 0;
    uint32_t a = v->attr[id];
    size_t len;
    const char *t = gm_vocab_text_of(v, id, &len);
    if (a & (GM_TOKEN_ATTR_UNKNOWN | GM_TOKEN_ATTR_CONTROL)) {
        if (!special)
            return 0;
        return copy_out(t, len, buf, cap);
    }
    if (a & GM_TOKEN_ATTR_USER_DEFINED)
        return copy_out(t, len, buf, cap);
    if (a & GM_TOKEN_ATTR_NORMAL) {
        /* "▁" (e2 96 81) becomes a space */
        size_t n = 0;
        for (size_t i = 0; i < len;) {
            char c;
            if (i + 3 <= len && memcmp(t + i, "\xe2\x96\x81", 3) == 0) {
                c = ' ';
                i += 3;
            } else {
                c = t[i++];
            }
            if (n < cap)
                buf[n] = c;
            n++;
        }
        return n;
    }
    if (a & GM_TOKEN_ATTR_BYTE) {
        /* "<0xXX>": the two characters after "<0x" (strtol-like) */
        int value = 0;
        for (size_t i = 3; i < 5 && i < len; i++) {
            int d = cm_hex_digit(t[i]);
            if (d < 0)
                break;
            value = value * 16 + d;
        }
        char c = (char)value;
        return copy_out(&c, 1, buf, cap);
    }
    return 0; /* unused and undefined tokens have no text */
}

void gm_detok_init(gm_detok *d)
{
    memset(d, 0, sizeof(*d));
}

/* Append n bytes to out if they fit in cap; returns the new length. */
static size_t put(char *out, size_t cap, size_t n_out, const void *p, size_t n)
{
    if (n_out + n > cap)
        return n_out; /* does not fit: dropped (see vocab.h for the size) */
    memcpy(out + n_out, p, n);
    return n_out + n;
}

/* Move the complete UTF-8 at the front of d->pending to out. An invalid
 * byte becomes U+FFFD; an incomplete sequence waits for more bytes, or
 * with `final` becomes one U+FFFD. */
static size_t drain(gm_detok *d, bool final, char *out, size_t cap, size_t n_out)
{
    size_t i = 0;
    while (i < d->n_pending) {
        const unsigned char *p = (const unsigned char *)d->pending + i;
        size_t left = d->n_pending - i;
        size_t l = gm_utf8_strict_len(p, left);
        if (l == 0 && !final)
            break;
        if (l == 0 || l == GM_UTF8_INVALID) {
            n_out = put(out, cap, n_out, "\xef\xbf\xbd", 3);
            i += l == 0 ? left : 1;
            continue;
        }
        n_out = put(out, cap, n_out, p, l);
        i += l;
    }
    memmove(d->pending, d->pending + i, d->n_pending - i);
    d->n_pending -= i;
    return n_out;
}

static size_t push_bytes(gm_detok *d, const char *s, size_t n, char *out, size_t cap)
{
    size_t n_out = 0;
    for (size_t i = 0; i < n; i++) {
        d->pending[d->n_pending++] = s[i];
        if (d->n_pending == sizeof(d->pending) || i + 1 == n)
            n_out = drain(d, false, out, cap, n_out);
    }
    return n_out;
}

size_t gm_detok_push(gm_detok *d, const gm_vocab *v, int32_t id, char *out, size_t cap)
{
    char piece[256];
    size_t n = gm_token_to_piece(v, id, false, piece, sizeof(piece));
    if (n <= sizeof(piece))
        return push_bytes(d, piece, n, out, cap);
    char *big = malloc(n);
    if (!big)
        return 0;
    gm_token_to_piece(v, id, false, big, n);
    size_t n_out = push_bytes(d, big, n, out, cap);
    free(big);
    return n_out;
}

size_t gm_detok_flush(gm_detok *d, char *out, size_t cap)
{
    return drain(d, true, out, cap, 0);
}
