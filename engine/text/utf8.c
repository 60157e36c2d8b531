/*
 * engine/text/utf8.c -- UTF-8 decoding and encoding for the tokenizer
 * (llama.cpp's lenient rules) and the streaming detokenizer (strict rules).
 */
#include "engine/text/utf8.h"

#include <stdbool.h>

size_t gm_utf8_lead_len(unsigned char b)
{
    static const unsigned char lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[b >> 4];
}

static bool is_cont(unsigned char b)
{
    return (b & 0xC0u) == 0x80u;
}

uint32_t gm_utf8_decode_lenient(const unsigned char *s, size_t n, size_t *used)
{
    unsigned char b0 = s[0];
    *used = 1;
    if (!(b0 & 0x80u))
        return b0;
    if (!(b0 & 0x40u))
        return GM_UTF8_REPLACEMENT;
    if (!(b0 & 0x20u)) {
        if (n < 2 || !is_cont(s[1]))
            return GM_UTF8_REPLACEMENT;
        *used = 2;
        return ((uint32_t)(b0 & 0x1Fu) << 6) | (s[1] & 0x3Fu);
    }
    if (!(b0 & 0x10u)) {
        if (n < 3 || !is_cont(s[1]) || !is_cont(s[2]))
            return GM_UTF8_REPLACEMENT;
        *used = 3;
        return ((uint32_t)(b0 & 0x0Fu) << 12) | ((uint32_t)(s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    }
    if (!(b0 & 0x08u)) {
        if (n < 4 || !is_cont(s[1]) || !is_cont(s[2]) || !is_cont(s[3]))
            return GM_UTF8_REPLACEMENT;
        *used = 4;
        return ((uint32_t)(b0 & 0x07u) << 18) | ((uint32_t)(s[1] & 0x3Fu) << 12) |
               ((uint32_t)(s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    }
    return GM_UTF8_REPLACEMENT;
}

size_t gm_utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80u) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800u) {
        out[0] = (char)(0xC0u | (cp >> 6));
        out[1] = (char)(0x80u | (cp & 0x3Fu));
        return 2;
    }
    if (cp > 0x10FFFFu)
        cp = GM_UTF8_REPLACEMENT;
    if (cp < 0x10000u) {
        out[0] = (char)(0xE0u | (cp >> 12));
        out[1] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
        out[2] = (char)(0x80u | (cp & 0x3Fu));
        return 3;
    }
    out[0] = (char)(0xF0u | (cp >> 18));
    out[1] = (char)(0x80u | ((cp >> 12) & 0x3Fu));
    out[2] = (char)(0x80u | ((cp >> 6) & 0x3Fu));
    out[3] = (char)(0x80u | (cp & 0x3Fu));
    return 4;
}

size_t gm_utf8_strict_len(const unsigned char *s, size_t n)
{
    unsigned char b0 = s[0];
    size_t need;
    unsigned char lo = 0x80u, hi = 0xBFu; /* allowed range of the second byte */
    if (b0 < 0x80u)
        return 1;
    if (b0 < 0xC2u)
        return GM_UTF8_INVALID;
    if (b0 < 0xE0u) {
        need = 2;
    } else if (b0 < 0xF0u) {
        need = 3;
        if (b0 == 0xE0u)
            lo = 0xA0u;
        else if (b0 == 0xEDu)
            hi = 0x9Fu;
    } else if (b0 < 0xF5u) {
        need = 4;
        if (b0 == 0xF0u)
            lo = 0x90u;
        else if (b0 == 0xF4u)
            hi = 0x8Fu;
    } else {
        return GM_UTF8_INVALID;
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= n)
            return 0;
        unsigned char lo_i = i == 1 ? lo : 0x80u, hi_i = i == 1 ? hi : 0xBFu;
        if (s[i] < lo_i || s[i] > hi_i)
            return GM_UTF8_INVALID;
    }
    return need;
}
