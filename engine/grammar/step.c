/*
 * engine/grammar/step.c -- moving a matcher state (grammar_impl.h) by one
 * byte: each stack's top frame reads the byte, and may finish (pop), hand
 * the byte back to its parent (a number ends at the ',' after it), or open
 * a child value for it (anyOf then opens one stack per alternative).
 *
 * Frame fields by kind:
 *   string   phase (open, text, escape, \u hex, UTF-8 tail), count = chars
 *            (saturating at len_cap), a = bytes still due / hex digits /
 *            format sub-state, b = format flags, val = format digits,
 *            pos = last format byte
 *   number   phase, a = integer digits, b = 1 when negative, count =
 *            fraction digits, val = integer part
 *   literal  pos = trie node
 *   object   phase, count = next property index, pos = key trie node
 *   map      phase
 *   array    phase, count = items so far
 */
#include <string.h>

#include "engine/grammar/grammar_impl.h"

enum { R_REJECT, R_CONSUMED, R_POP, R_POP_REFEED, R_PUSH_REFEED, R_REPLACE_REFEED };

/* phases */
enum { P_OPEN = 0 };
enum { S_TEXT = 1, S_ESC, S_HEX, S_UTF8, S_QUOTE };
enum { N_SIGN = 1, N_INT, N_DOT, N_FRAC };
enum { O_FIRST = 1, O_KEY, O_VALUE, O_AFTER };
enum { M_FIRST = 1, M_COLON, M_VALUE, M_AFTER, M_KEY };
enum { A_FIRST = 1, A_ITEM, A_AFTER };

#define FRAC_DIGITS 6

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(uint8_t c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_alnum(uint8_t c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ---- numbers ---- */

static const int64_t pow10_tab[19] = {
    1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL, 100000000LL,
    1000000000LL, 10000000000LL, 100000000000LL, 1000000000000LL, 10000000000000LL,
    100000000000000LL, 1000000000000000LL, 10000000000000000LL, 100000000000000000LL,
    1000000000000000000LL};

/* Some integer in [lo, hi] starts with these digits (v, nd digits, sign).
 * A leading 0 takes no more digits. */
static bool int_feasible(const gm_gnode *n, bool neg, int64_t v, int nd)
{
    int max_extra = (v == 0 && nd == 1) ? 0 : 18 - nd;
    for (int k = 0; k <= max_extra; k++) {
        int64_t low = v * pow10_tab[k], high = low + pow10_tab[k] - 1;
        int64_t a = neg ? -high : low, b = neg ? -low : high;
        if (a <= n->hi && b >= n->lo)
            return true;
    }
    return false;
}

/* A fraction may follow integer part v: the whole interval stays in range. */
static bool frac_ok(const gm_gnode *n, bool neg, int64_t v)
{
    if (n->integer)
        return false;
    double lo = neg ? -(double)v - 1.0 : (double)v;
    double hi = neg ? -(double)v : (double)v + 1.0;
    bool lo_in = n->min_excl ? lo > n->min : lo >= n->min;
    bool hi_in = n->max_excl ? hi < n->max : hi <= n->max;
    return lo_in && hi_in;
}

static bool number_complete(const gm_gnode *n, const gm_frame *f)
{
    if (f->phase == N_FRAC)
        return f->count > 0;
    if (f->phase != N_INT)
        return false;
    int64_t x = f->b ? -f->val : f->val;
    return x >= n->lo && x <= n->hi;
}

static int step_number(const gm_gnode *n, gm_frame *f, uint8_t c)
{
    switch (f->phase) {
    case P_OPEN:
        if (c == '-') {
            for (int d = 0; d <= 9; d++)
                if (int_feasible(n, true, d, 1)) {
                    f->phase = N_SIGN;
                    f->b = 1;
                    return R_CONSUMED;
                }
            return R_REJECT;
        }
        if (!is_digit(c) || !int_feasible(n, false, c - '0', 1))
            return R_REJECT;
        f->phase = N_INT;
        f->a = 1;
        f->val = c - '0';
        return R_CONSUMED;
    case N_SIGN:
        if (!is_digit(c) || !int_feasible(n, true, c - '0', 1))
            return R_REJECT;
        f->phase = N_INT;
        f->a = 1;
        f->val = c - '0';
        return R_CONSUMED;
    case N_INT:
        if (is_digit(c) && !(f->val == 0 && f->a == 1) && f->a < 18 &&
            int_feasible(n, f->b, f->val * 10 + (c - '0'), f->a + 1)) {
            f->val = f->val * 10 + (c - '0');
            f->a++;
            return R_CONSUMED;
        }
        if (c == '.' && frac_ok(n, f->b, f->val)) {
            f->phase = N_DOT;
            return R_CONSUMED;
        }
        return number_complete(n, f) ? R_POP_REFEED : R_REJECT;
    case N_DOT:
        if (!is_digit(c))
            return R_REJECT;
        f->phase = N_FRAC;
        f->count = 1;
        return R_CONSUMED;
    case N_FRAC:
        if (is_digit(c) && f->count < FRAC_DIGITS) {
            f->count++;
            return R_CONSUMED;
        }
        return R_POP_REFEED;
    }
    return R_REJECT;
}

/* ---- string formats ---- */

static int days_in_month(int64_t y, int64_t m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

/* One character of "YYYY-MM-DD" at position p (0..9); digits so far in
 * *val. Years 1000 to 2999. */
static bool date_char(int p, uint8_t c, int64_t *val)
{
    if (p == 4 || p == 7)
        return c == '-';
    if (!is_digit(c))
        return false;
    int d = c - '0';
    int64_t v = *val;
    switch (p) {
    case 0: if (d < 1 || d > 2) return false; break;
    case 5: if (d > 1) return false; break;
    case 6: { int m = (int)(v % 10) * 10 + d; if (m < 1 || m > 12) return false; break; }
    case 8: {
        int64_t y = v / 100, m = v % 100;
        if (d * 10 > days_in_month(y, m))
            return false;
        break;
    }
    case 9: {
        int64_t y = v / 1000, m = (v / 10) % 100, d1 = v % 10;
        int day = (int)d1 * 10 + d;
        if (day < 1 || day > days_in_month(y, m))
            return false;
        break;
    }
    default: break;
    }
    *val = v * 10 + d;
    return true;
}

/* "HH:MM:SS" or "HH:MM" at position p; the previous digit in *prev. */
static bool time_char(int p, uint8_t c, int *prev)
{
    if (p == 2 || p == 5)
        return c == ':';
    if (!is_digit(c))
        return false;
    int d = c - '0';
    bool ok = true;
    switch (p) {
    case 0: ok = d <= 2; break;
    case 1: ok = *prev < 2 || d <= 3; break;
    case 3: case 6: ok = d <= 5; break;
    default: break;
    }
    *prev = d;
    return ok;
}

/* Format sub-states in f->a; f->count is the position in the string. */
enum { DT_MAIN = 0, DT_SUFFIX, DT_FRAC, DT_OFFSET, DT_DONE };
enum { EM_LOCAL0 = 0, EM_LOCAL, EM_LABEL0, EM_LABEL };

static bool format_char(const gm_gnode *n, gm_frame *f, uint8_t c)
{
    uint32_t p = f->count;
    int prev = (int)f->pos;
    switch (n->format) {
    case GF_DATE:
        return p < 10 && date_char((int)p, c, &f->val);
    case GF_UUID:
        if (p >= 36)
            return false;
        return (p == 8 || p == 13 || p == 18 || p == 23) ? c == '-' : is_hex(c);
    case GF_DATE_TIME:
        switch (f->a) {
        case DT_MAIN:
            if (p < 10)
                return date_char((int)p, c, &f->val);
            if (p == 10)
                return c == 'T';
            if (!time_char((int)p - 11, c, &prev))
                return false;
            f->pos = (uint32_t)prev;
            if (p == 18)
                f->a = DT_SUFFIX;
            return true;
        case DT_SUFFIX:
        case DT_FRAC:
            if (c == 'Z') {
                if (f->a == DT_FRAC && f->b == 0)
                    return false;
                f->a = DT_DONE;
                return true;
            }
            if (c == '+' || c == '-') {
                if (f->a == DT_FRAC && f->b == 0)
                    return false;
                f->a = DT_OFFSET;
                f->b = 0;
                return true;
            }
            if (f->a == DT_SUFFIX && c == '.') {
                f->a = DT_FRAC;
                f->b = 0;
                return true;
            }
            if (f->a == DT_FRAC && is_digit(c) && f->b < 6) {
                f->b++;
                return true;
            }
            return false;
        case DT_OFFSET:
            if (f->b >= 5 || !time_char(f->b, c, &prev))
                return false;
            f->pos = (uint32_t)prev;
            f->b++;
            if (f->b == 5)
                f->a = DT_DONE;
            return true;
        default:
            return false;
        }
    case GF_EMAIL:
        switch (f->a) {
        case EM_LOCAL0:
            if (is_alnum(c) || c == '_' || c == '+' || c == '-') {
                f->a = EM_LOCAL;
                return true;
            }
            return false;
        case EM_LOCAL:
            if (c == '@') {
                f->a = EM_LABEL0;
                return true;
            }
            return is_alnum(c) || c == '_' || c == '+' || c == '-' || c == '.';
        case EM_LABEL0:
            if (!is_alnum(c))
                return false;
            f->a = EM_LABEL;
            f->pos = c;
            return true;
        case EM_LABEL:
            if (c == '.') {
                if (f->pos == '-')
                    return false;
                f->a = EM_LABEL0;
                f->b = 1; /* a dot in the domain */
                return true;
            }
            if (!is_alnum(c) && c != '-')
                return false;
            f->pos = c;
            return true;
        }
        return false;
    case GF_NONE:
        return true;
    }
    return false;
}

/* Characters an e-mail address still needs at the least ("@a.b" from the
 * local part, one after a dot or '@' or '-', ".b" before the first dot). */
static uint32_t email_need(const gm_frame *f)
{
    switch (f->a) {
    case EM_LOCAL0: return 5;
    case EM_LOCAL: return 4;
    case EM_LABEL0: return f->b ? 1 : 3;
    case EM_LABEL: /* a label ends in a letter or digit; then ".b" if no dot yet */
        return (f->pos == '-' ? 1u : 0u) + (f->b ? 0u : 2u);
    }
    return 0;
}

/* The numbers of characters a date-time in state f may still take to be
 * complete, as a bitmap (bit k: k more characters). Not an interval: a
 * fraction is ".d" to ".dddddd" (0 or 2..7) and the end "Z" or "+hh:mm"
 * (1 or 6). */
static uint64_t date_time_rest(const gm_frame *f)
{
    const uint64_t end = (1u << 1) | (1u << 6);
    uint64_t r = 0;
    switch (f->a) {
    case DT_DONE: return 1;
    case DT_OFFSET: return (uint64_t)1 << (5u - f->b);
    case DT_FRAC:
        for (uint32_t k = f->b == 0 ? 1 : 0; k + f->b <= 6; k++)
            r |= end << k;
        return r;
    default: { /* DT_MAIN, DT_SUFFIX: the rest of HH:MM:SS, a fraction, the end */
        uint32_t main_left = f->a == DT_MAIN && f->count < 19 ? 19 - f->count : 0;
        r = end;
        for (uint32_t k = 2; k <= 7; k++)
            r |= end << k;
        return r << main_left;
    }
    }
}

/* After a format character (state f, count updated): the string can still
 * be completed within minLength..maxLength. */
static bool format_fits(const gm_gnode *n, const gm_frame *f)
{
    uint64_t lo = n->min_len, hi = n->max_len; /* UINT32_MAX: no maximum */
    uint64_t at = f->count;
    switch (n->format) {
    case GF_NONE: return true;
    case GF_DATE:
    case GF_UUID: { /* fixed length, checked at compile time */
        uint64_t total = n->format == GF_DATE ? 10 : 36;
        return total >= lo && total <= hi;
    }
    case GF_EMAIL: /* any length from the least it needs up */
        return at + email_need(f) <= hi;
    case GF_DATE_TIME: {
        uint64_t rest = date_time_rest(f);
        for (uint64_t k = 0; k < 64; k++)
            if ((rest >> k & 1) && at + k >= lo && at + k <= hi)
                return true;
        return false;
    }
    }
    return false;
}

static bool format_complete(const gm_gnode *n, const gm_frame *f)
{
    switch (n->format) {
    case GF_NONE: return true;
    case GF_DATE: return f->count == 10;
    case GF_UUID: return f->count == 36;
    case GF_DATE_TIME: return f->a == DT_DONE;
    case GF_EMAIL: return f->a == EM_LABEL && f->b == 1 && f->pos != '-';
    }
    return false;
}

/* ---- strings ---- */

static void count_char(const gm_gnode *n, gm_frame *f)
{
    if (n->format != GF_NONE || f->count < n->len_cap)
        f->count++;
}

static bool room_for_char(const gm_gnode *n, const gm_frame *f)
{
    return n->max_len == UINT32_MAX || f->count < n->max_len;
}

/* A byte of a string with a format (date, uuid, ...): ASCII only, checked
 * on a copy of the frame so that a refused byte leaves it as it was. */
static int format_text_byte(const gm_gnode *n, gm_frame *f, uint8_t c)
{
    gm_frame next = *f;
    if (c >= 0x80 || !format_char(n, &next, c))
        return R_REJECT;
    next.count++;
    if (!format_fits(n, &next))
        return R_REJECT;
    *f = next;
    return R_CONSUMED;
}

/* A text byte of a string without a format, control bytes already refused:
 * ASCII counts a character; a UTF-8 lead byte keeps the tail bytes it
 * wants in a and itself in pos (for the second byte's range). */
static int plain_text_byte(const gm_gnode *n, gm_frame *f, uint8_t c)
{
    if (c < 0x80) {
        count_char(n, f);
        return R_CONSUMED;
    }
    if (c >= 0xC2 && c <= 0xDF)
        f->a = 1;
    else if (c >= 0xE0 && c <= 0xEF)
        f->a = 2;
    else if (c >= 0xF0 && c <= 0xF4)
        f->a = 3;
    else
        return R_REJECT;
    f->pos = c;
    f->phase = S_UTF8;
    count_char(n, f);
    return R_CONSUMED;
}

/* A UTF-8 tail byte (phase S_UTF8): the second byte's range depends on the
 * lead in pos (no overlong form, no surrogate, nothing past U+10FFFF). */
static int utf8_tail_byte(gm_frame *f, uint8_t c)
{
    uint8_t lo = 0x80, hi = 0xBF;
    if (f->pos == 0xE0) lo = 0xA0;
    else if (f->pos == 0xED) hi = 0x9F;
    else if (f->pos == 0xF0) lo = 0x90;
    else if (f->pos == 0xF4) hi = 0x8F;
    if (c < lo || c > hi)
        return R_REJECT;
    f->pos = 0; /* later tail bytes take the whole range */
    if (--f->a == 0)
        f->phase = S_TEXT;
    return R_CONSUMED;
}

/* A content byte of a Gemma string (raw text, no escapes); -1 refused. */
static int gemma_text_byte(const gm_gnode *n, gm_frame *f, uint8_t c)
{
    if (!room_for_char(n, f))
        return R_REJECT;
    if (n->format != GF_NONE)
        return format_text_byte(n, f, c);
    if (c < 0x20 && c != '\n' && c != '\t')
        return R_REJECT;
    return plain_text_byte(n, f, c);
}

/* Gemma's strings: <|"|>raw text<|"|>. The quotes are matched byte by
 * byte (val counts them: the opening one in P_OPEN, the closing one in
 * S_QUOTE). A format string's '<' can only start the closing quote. */
static int step_gemma_string(const gm_gnode *n, gm_frame *f, uint8_t c)
{
    static const char quote[] = GM_GEMMA_QUOTE;
    switch (f->phase) {
    case P_OPEN:
        if (c != (uint8_t)quote[f->val])
            return R_REJECT;
        if (++f->val == GM_GEMMA_QUOTE_LEN) {
            f->val = 0;
            f->phase = S_TEXT;
        }
        return R_CONSUMED;
    case S_UTF8:
        return utf8_tail_byte(f, c);
    case S_TEXT:
        if (c == (uint8_t)quote[0]) {
            if (n->format != GF_NONE && !format_complete(n, f))
                return R_REJECT;
            f->phase = S_QUOTE;
            f->val = 1;
            return R_CONSUMED;
        }
        return gemma_text_byte(n, f, c);
    case S_QUOTE:
        if (c == (uint8_t)quote[f->val]) {
            if (++f->val < GM_GEMMA_QUOTE_LEN)
                return R_CONSUMED;
            return f->count >= n->min_len ? R_POP : R_REJECT;
        }
        if (n->format != GF_NONE)
            return R_REJECT;
        /* the partial quote was text after all */
        f->phase = S_TEXT;
        for (int64_t i = 0, k = f->val; i < k; i++)
            if (gemma_text_byte(n, f, (uint8_t)quote[i]) != R_CONSUMED)
                return R_REJECT;
        f->val = 0;
        if (c == (uint8_t)quote[0]) {
            f->phase = S_QUOTE;
            f->val = 1;
            return R_CONSUMED;
        }
        return gemma_text_byte(n, f, c);
    }
    return R_REJECT;
}

static int step_string(const gm_gnode *n, gm_frame *f, uint8_t c)
{
    switch (f->phase) {
    case P_OPEN:
        if (c != '"')
            return R_REJECT;
        f->phase = S_TEXT;
        return R_CONSUMED;
    case S_TEXT:
        if (c == '"') {
            if (f->count < n->min_len || !format_complete(n, f))
                return R_REJECT;
            return R_POP;
        }
        if (!room_for_char(n, f) || c < 0x20)
            return R_REJECT;
        if (n->format != GF_NONE)
            return c == '\\' ? R_REJECT : format_text_byte(n, f, c);
        if (c == '\\') {
            f->phase = S_ESC;
            return R_CONSUMED;
        }
        return plain_text_byte(n, f, c);
    case S_UTF8:
        return utf8_tail_byte(f, c);
    case S_ESC:
        if (c == 'u') {
            f->phase = S_HEX;
            f->a = 0;
            return R_CONSUMED;
        }
        if (!strchr("\"\\/bfnrt", c) || c == 0)
            return R_REJECT;
        f->phase = S_TEXT;
        count_char(n, f);
        return R_CONSUMED;
    case S_HEX: {
        if (!is_hex(c))
            return R_REJECT;
        int64_t v = f->val * 16 + (is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
        /* no lone surrogate (\uD800-\uDFFF) and no \u0000: parsers refuse them */
        if ((f->a == 1 && v >= 0xD8 && v <= 0xDF) || (f->a == 3 && v == 0))
            return R_REJECT;
        f->val = v;
        if (++f->a == 4) {
            f->a = 0;
            f->val = 0;
            f->phase = S_TEXT;
            count_char(n, f);
        }
        return R_CONSUMED;
    }
    }
    return R_REJECT;
}

/* ---- literals ---- */

static int step_literal(const gm_grammar *g, gm_frame *f, uint8_t c)
{
    const gm_gtrie *t = g->trie;
    for (uint32_t ch = t[f->pos].child; ch != GM_G_NONE; ch = t[ch].sibling) {
        if (t[ch].byte == c) {
            f->pos = ch;
            return t[ch].value >= 0 && t[ch].child == GM_G_NONE ? R_POP : R_CONSUMED;
        }
    }
    return t[f->pos].value >= 0 ? R_POP_REFEED : R_REJECT;
}

/* ---- containers ---- */

/* An object at stack depth `depth` may take a key only when its value
 * then fits under the nesting cap (trie_need: the least any key below a
 * trie node needs), so that a key is never written without a value. */
static bool key_fits(const gm_grammar *g, uint32_t depth, uint32_t trie_node)
{
    return depth + g->trie_need[trie_node] <= GM_G_MAX_DEPTH;
}

static int step_object(const gm_grammar *g, const gm_gnode *n, gm_frame *f, uint8_t c,
                       uint32_t *child, uint32_t depth)
{
    const bool *req_from = g->req_from + n->min_items;
    switch (f->phase) {
    case P_OPEN:
        if (c != '{')
            return R_REJECT;
        f->phase = O_FIRST;
        return R_CONSUMED;
    case O_FIRST:
    case O_AFTER:
        if (c == '}')
            return req_from[f->count] ? R_REJECT : R_POP;
        if (f->phase == O_AFTER) {
            if (c != ',' || g->u32[n->first_root + f->count] == GM_G_NONE ||
                !key_fits(g, depth, g->u32[n->first_root + f->count]))
                return R_REJECT;
            f->phase = O_KEY;
            f->pos = g->u32[n->first_root + f->count];
            return R_CONSUMED;
        }
        f->phase = O_KEY;
        f->pos = g->u32[n->first_root + f->count];
        /* c is the key's first byte */
        /* fall through */
    case O_KEY: {
        const gm_gtrie *t = g->trie;
        for (uint32_t ch = t[f->pos].child; ch != GM_G_NONE; ch = t[ch].sibling) {
            if (t[ch].byte != c || !key_fits(g, depth, ch))
                continue;
            if (t[ch].value >= 0) {
                f->count = (uint32_t)t[ch].value + 1;
                f->phase = O_VALUE;
                f->pos = 0;
            } else {
                f->pos = ch;
            }
            return R_CONSUMED;
        }
        return R_REJECT;
    }
    case O_VALUE:
        f->phase = O_AFTER;
        *child = g->props[n->first + f->count - 1].value;
        return R_PUSH_REFEED;
    }
    return R_REJECT;
}

static int step_map(const gm_grammar *g, const gm_gnode *n, gm_frame *f, uint8_t c,
                    uint32_t *child, uint32_t depth)
{
    /* a key is opened only when the value after it fits as well */
    bool fits = depth + (g->need[n->items] > 1 ? g->need[n->items] : 1u) <= GM_G_MAX_DEPTH;
    switch (f->phase) {
    case P_OPEN:
        if (c != '{')
            return R_REJECT;
        f->phase = M_FIRST;
        return R_CONSUMED;
    case M_FIRST:
        if (c == '}')
            return R_POP;
        if (!fits)
            return R_REJECT;
        /* fall through */
    case M_KEY:
        f->phase = M_COLON;
        *child = g->any_string;
        return R_PUSH_REFEED;
    case M_COLON:
        if (c != ':')
            return R_REJECT;
        f->phase = M_VALUE;
        return R_CONSUMED;
    case M_VALUE:
        f->phase = M_AFTER;
        *child = n->items;
        return R_PUSH_REFEED;
    case M_AFTER:
        if (c == '}')
            return R_POP;
        if (c != ',' || !fits)
            return R_REJECT;
        f->phase = M_KEY;
        return R_CONSUMED;
    }
    return R_REJECT;
}

static int step_array(const gm_gnode *n, gm_frame *f, uint8_t c, uint32_t *child)
{
    switch (f->phase) {
    case P_OPEN:
        if (c != '[')
            return R_REJECT;
        f->phase = A_FIRST;
        return R_CONSUMED;
    case A_FIRST:
        if (c == ']')
            return n->min_items == 0 ? R_POP : R_REJECT;
        if (n->max_items == 0)
            return R_REJECT;
        /* c starts the first item */
        /* fall through */
    case A_ITEM:
        f->phase = A_AFTER;
        f->count++;
        *child = n->items;
        return R_PUSH_REFEED;
    case A_AFTER:
        if (c == ']')
            return f->count >= n->min_items ? R_POP : R_REJECT;
        if (c != ',' || f->count >= n->max_items)
            return R_REJECT;
        f->phase = A_ITEM;
        return R_CONSUMED;
    }
    return R_REJECT;
}

/* Any value: the first byte says which kind; the frame becomes that. */
static int step_any(const gm_grammar *g, uint8_t c, uint32_t *child)
{
    if (c == '{')
        *child = g->any_map;
    else if (c == '[')
        *child = g->any_array;
    else if (c == '"')
        *child = g->any_string;
    else if (c == '-' || is_digit(c))
        *child = g->any_number;
    else if (c == 't' || c == 'f' || c == 'n')
        *child = g->any_words;
    else
        return R_REJECT;
    return R_REPLACE_REFEED;
}

/* A sequence opens its parts one after the other; the last one takes
 * its place, so that the sequence ends when its last part does. */
static int step_seq(const gm_grammar *g, const gm_gnode *n, gm_frame *f, uint32_t *child)
{
    if (f->count >= n->n)
        return R_POP_REFEED;
    *child = g->u32[n->first + f->count];
    if (++f->count == n->n)
        return R_REPLACE_REFEED;
    return R_PUSH_REFEED;
}

static int step_frame(const gm_grammar *g, gm_frame *f, uint8_t c, uint32_t *child,
                      uint32_t depth)
{
    const gm_gnode *n = &g->nodes[f->node];
    if (n->kind == GK_STRING && g->gemma)
        return step_gemma_string(n, f, c);
    switch (n->kind) {
    case GK_SEQ: return step_seq(g, n, f, child);
    case GK_ANY: return step_any(g, c, child);
    case GK_MAP: return step_map(g, n, f, c, child, depth);
    case GK_OBJECT: return step_object(g, n, f, c, child, depth);
    case GK_ARRAY: return step_array(n, f, c, child);
    case GK_STRING: return step_string(n, f, c);
    case GK_NUMBER: return step_number(n, f, c);
    case GK_LITERAL: return step_literal(g, f, c);
    case GK_ANYOF: return R_REJECT; /* never on a stack */
    }
    return R_REJECT;
}

/* ---- stacks and states ---- */

static void frame_init(const gm_grammar *g, gm_frame *f, uint32_t node)
{
    memset(f, 0, sizeof(*f));
    f->node = node;
    if (g->nodes[node].kind == GK_LITERAL)
        f->pos = g->nodes[node].root;
}

/* Add stack st to out unless out has it already (or is full). */
static void emit(gm_gstate *out, const gm_gstack *st)
{
    size_t at = 0;
    for (uint16_t i = 0; i < out->n; i++) {
        if (out->len[i] == st->depth &&
            memcmp(&out->fr[at], st->fr, st->depth * sizeof(gm_frame)) == 0)
            return;
        at += out->len[i];
    }
    if (out->n >= GM_G_MAX_STACKS || out->n_frames + st->depth > GM_G_MAX_FRAMES)
        return;
    memcpy(&out->fr[out->n_frames], st->fr, st->depth * sizeof(gm_frame));
    out->len[out->n++] = (uint16_t)st->depth;
    out->n_frames = (uint16_t)(out->n_frames + st->depth);
}

static void feed(const gm_grammar *g, gm_gstack *st, uint8_t c, gm_gstate *out, int *budget);

/* Open `node` on st and give it byte c; anyOf opens each alternative on
 * its own copy of the stack. */
/* The anyOf nodes being expanded for one byte, innermost first: an anyOf
 * that comes back to itself through its alternatives (left recursion)
 * adds no reading, and following it would spend the budget before the
 * other alternatives are tried. */
typedef struct anyof_chain {
    uint32_t node;
    const struct anyof_chain *up;
} anyof_chain;

static void feed_alts(const gm_grammar *g, gm_gstack *st, uint32_t node, uint8_t c,
                      gm_gstate *out, int *budget, const anyof_chain *up);

static void feed_push(const gm_grammar *g, gm_gstack *st, uint32_t node, uint8_t c,
                      gm_gstate *out, int *budget)
{
    feed_alts(g, st, node, c, out, budget, NULL);
}

static void feed_alts(const gm_grammar *g, gm_gstack *st, uint32_t node, uint8_t c,
                      gm_gstate *out, int *budget, const anyof_chain *up)
{
    if (--*budget <= 0)
        return;
    const gm_gnode *n = &g->nodes[node];
    if (n->kind == GK_ANYOF) {
        for (const anyof_chain *a = up; a; a = a->up)
            if (a->node == node)
                return;
        anyof_chain here = {node, up};
        for (uint32_t i = 0; i < n->n; i++) {
            gm_gstack copy;
            copy.depth = st->depth;
            memcpy(copy.fr, st->fr, st->depth * sizeof(gm_frame));
            feed_alts(g, &copy, g->u32[n->first + i], c, out, budget, &here);
        }
        return;
    }
    /* open a value only where it can be completed under the cap: no
     * reading may run into a dead end */
    if (st->depth + g->need[node] > GM_G_MAX_DEPTH)
        return;
    frame_init(g, &st->fr[st->depth++], node);
    feed(g, st, c, out, budget);
}

static void feed(const gm_grammar *g, gm_gstack *st, uint8_t c, gm_gstate *out, int *budget)
{
    for (;;) {
        if (st->depth == 0)
            return;
        gm_frame *f = &st->fr[st->depth - 1];
        uint32_t child = GM_G_NONE;
        switch (step_frame(g, f, c, &child, st->depth)) {
        case R_REJECT:
            return;
        case R_CONSUMED:
            emit(out, st);
            return;
        case R_POP:
            st->depth--;
            emit(out, st);
            return;
        case R_POP_REFEED:
            st->depth--;
            continue;
        case R_REPLACE_REFEED:
            st->depth--;
            /* fall through */
        case R_PUSH_REFEED:
            feed_push(g, st, child, c, out, budget);
            return;
        }
    }
}

void gm_gstate_init(const gm_grammar *g, gm_gstate *s)
{
    memset(s, 0, offsetof(gm_gstate, fr));
    /* The root opens on the first byte: a frame of a map-less "any"
     * holder is not needed, anyOf is opened per alternative. */
    gm_gstack st;
    st.depth = 0;
    /* expand anyOf alternatives of the root without a byte */
    uint32_t todo[64], n_todo = 0;
    todo[n_todo++] = g->root;
    int guard = 0;
    while (n_todo > 0 && guard++ < 1024) {
        uint32_t id = todo[--n_todo];
        const gm_gnode *n = &g->nodes[id];
        if (n->kind == GK_ANYOF) {
            for (uint32_t i = n->n; i-- > 0;)
                if (n_todo < 64)
                    todo[n_todo++] = g->u32[n->first + i];
            continue;
        }
        if (g->need[id] > GM_G_MAX_DEPTH)
            continue;
        frame_init(g, &st.fr[0], id);
        st.depth = 1;
        emit(s, &st);
    }
}

bool gm_gstate_step(const gm_grammar *g, const gm_gstate *in, uint8_t c, gm_gstate *out)
{
    out->n = 0;
    out->n_frames = 0;
    size_t at = 0;
    gm_gstack st;
    for (uint16_t i = 0; i < in->n; i++) {
        st.depth = in->len[i];
        memcpy(st.fr, &in->fr[at], st.depth * sizeof(gm_frame));
        at += in->len[i];
        int budget = 4096; /* pushes per reading: anyOf cycles end here */
        feed(g, &st, c, out, &budget);
    }
    return out->n > 0;
}

/* A frame that may end where it is (its parent then reads on). */
static bool frame_can_end(const gm_grammar *g, const gm_frame *f)
{
    const gm_gnode *n = &g->nodes[f->node];
    if (n->kind == GK_NUMBER)
        return number_complete(n, f) || (f->phase == N_FRAC && f->count > 0);
    if (n->kind == GK_LITERAL)
        return g->trie[f->pos].value >= 0 && f->pos != n->root;
    return false;
}

bool gm_gstate_can_end(const gm_grammar *g, const gm_gstate *s)
{
    size_t at = 0;
    for (uint16_t i = 0; i < s->n; i++) {
        if (s->len[i] == 0)
            return true;
        if (s->len[i] == 1 && frame_can_end(g, &s->fr[at]))
            return true;
        at += s->len[i];
    }
    return false;
}

bool gm_gstate_can_continue(const gm_grammar *g, const gm_gstate *s)
{
    (void)g;
    /* any open frame may take more bytes (a complete number more digits) */
    for (uint16_t i = 0; i < s->n; i++)
        if (s->len[i] > 0)
            return true;
    return false;
}

bool gm_gstate_in_free_string(const gm_grammar *g, const gm_gstate *s, uint32_t *room)
{
    if (s->n != 1 || s->len[0] == 0)
        return false;
    const gm_frame *f = &s->fr[s->len[0] - 1];
    const gm_gnode *n = &g->nodes[f->node];
    if (n->kind != GK_STRING || n->format != GF_NONE || f->phase != S_TEXT)
        return false;
    *room = n->max_len == UINT32_MAX ? UINT32_MAX : n->max_len - f->count;
    return true;
}
