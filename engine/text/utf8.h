/*
 * engine/text/utf8.h -- the small UTF-8 helpers the tokenizer and the
 * detokenizer need, with llama.cpp's exact rules for bad input: an invalid
 * byte becomes U+FFFD, overlong forms are decoded (and so re-encoded in
 * their short form), and continuation bytes are checked only for their top
 * two bits.
 */
#ifndef GM_UTF8_H
#define GM_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define GM_UTF8_REPLACEMENT 0xFFFDu

/* Length of the sequence a lead byte announces (1 for continuation and
 * ASCII bytes, 2, 3 or 4), as llama.cpp's unicode_len_utf8(). */
size_t gm_utf8_lead_len(unsigned char b);

/* Decode one code point at s[0..n) the way llama.cpp's
 * unicode_cpts_from_utf8() does; *used gets the bytes consumed (>= 1).
 * Invalid input gives U+FFFD and consumes one byte. The result may be a
 * surrogate or, for F5..F7 lead bytes, above U+10FFFF. */
uint32_t gm_utf8_decode_lenient(const unsigned char *s, size_t n, size_t *used);

/* Encode a code point (<= 0x10FFFF) into out[4]; returns its length.
 * Larger values encode U+FFFD. */
size_t gm_utf8_encode(uint32_t cp, char *out);

/* Length (1..4) of the well-formed UTF-8 sequence at s[0..n), n >= 1
 * (strict: no overlong forms, surrogates or values above U+10FFFF).
 * 0 when the bytes are a correct but incomplete start that more bytes
 * could complete; GM_UTF8_INVALID when s[0] cannot start a well-formed
 * sequence with the bytes that follow it. */
#define GM_UTF8_INVALID ((size_t)-1)
size_t gm_utf8_strict_len(const unsigned char *s, size_t n);

#endif
