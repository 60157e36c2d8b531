/*
 * common/hex.h -- hexadecimal digits, the one helper the audit log, the
 * bundle verifier, the tokenizer (<0xXX> byte tokens) and gemma-run share.
 */
#ifndef CM_HEX_H
#define CM_HEX_H

#include <stddef.h>

/* Value of a hex digit (either case), or -1 when c is not one. */
static inline int cm_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Lowercase hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
static inline void cm_hex_encode(const void *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = bytes;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

#endif
