/*
 * common/checked.h -- overflow-safe size arithmetic for parsers of
 * untrusted input. Each returns true when the result fits, false (leaving
 * *out unspecified) when it would overflow.
 */
#ifndef CM_CHECKED_H
#define CM_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool cm_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

static inline bool cm_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

static inline bool cm_add_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

static inline bool cm_mul_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* Round v up to a multiple of align (a power of two or any non-zero). */
static inline bool cm_align_up_u64(uint64_t v, uint64_t align, uint64_t *out)
{
    if (align == 0)
        return false;
    uint64_t rem = v % align;
    if (rem == 0) {
        *out = v;
        return true;
    }
    return cm_add_u64(v, align - rem, out);
}

#endif
