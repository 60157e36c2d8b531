/*
 * engine/grammar/token_index.c -- a vocabulary arranged for masking.
 *
 * The tokens a grammar may produce (NORMAL and BYTE tokens with text) are
 * sorted by their bytes and laid out as a prefix trie in preorder: node k
 * has a byte, a depth, the tokens that end there, and next[k], the first
 * node after its subtree. A mask walks the array once, stepping a matcher
 * state per node and jumping over a whole subtree as soon as its prefix is
 * refused, so tokens that share a prefix share the work.
 *
 * USER_DEFINED tokens (<|"|>, <|tool_call>, ...) have a trie of their own:
 * only grammars of Gemma's tool syntax walk it, so JSON never gets them.
 * In Gemma's strings a '<' may begin the closing <|"|>, so plain text
 * tokens with a '<' are also kept apart for them (lt_bits, safe_lt).
 *
 * Tokens that are plain string text (printable, no quote or backslash,
 * whole UTF-8 characters) are also kept apart, by character count: inside
 * a free string they are all allowed at once, and only the others (the
 * "special" trie) need the walk.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/grammar/grammar_impl.h"

typedef struct tok_ref {
    const char *p;
    uint32_t len;
    int32_t id;
} tok_ref;

static int cmp_tok(const void *x, const void *y)
{
    const tok_ref *a = x, *b = y;
    uint32_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->p, b->p, n);
    if (c != 0)
        return c;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static void flat_free(gm_gtrie_flat *t)
{
    free(t->byte);
    free(t->depth);
    free(t->next);
    free(t->tok_first);
    free(t->tok_n);
    free(t->toks);
    memset(t, 0, sizeof(*t));
}

/* How many leading bytes two tokens share. */
static uint32_t shared_prefix(const tok_ref *a, const tok_ref *b)
{
    uint32_t n = 0;
    while (n < a->len && n < b->len && a->p[n] == b->p[n])
        n++;
    return n;
}

/* Build the preorder trie of refs[0..n), which are sorted. */
static int flat_build(gm_gtrie_flat *t, const tok_ref *refs, size_t n, cm_err *err)
{
    memset(t, 0, sizeof(*t));
    size_t nodes = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t lcp = i > 0 ? shared_prefix(&refs[i - 1], &refs[i]) : 0;
        nodes += refs[i].len - lcp;
        if (refs[i].len > t->max_depth)
            t->max_depth = refs[i].len;
    }
    if (t->max_depth > 65535)
        return cm_err_set(err, "token index: a token of %u bytes is too long", t->max_depth);
    t->byte = malloc(nodes + 1);
    t->depth = malloc((nodes + 1) * sizeof(*t->depth));
    t->next = malloc((nodes + 1) * sizeof(*t->next));
    t->tok_first = malloc((nodes + 1) * sizeof(*t->tok_first));
    t->tok_n = calloc(nodes + 1, sizeof(*t->tok_n));
    t->toks = malloc((n + 1) * sizeof(*t->toks));
    uint32_t *path = malloc((t->max_depth + 1) * sizeof(*path));
    if (!t->byte || !t->depth || !t->next || !t->tok_first || !t->tok_n || !t->toks || !path) {
        free(path);
        flat_free(t);
        return cm_err_set(err, "token index: out of memory");
    }
    uint32_t k = 0, path_len = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t lcp = i > 0 ? shared_prefix(&refs[i - 1], &refs[i]) : 0;
        /* the nodes below the shared prefix end here */
        for (uint32_t d = lcp + 1; d <= path_len; d++)
            t->next[path[d]] = k;
        path_len = lcp;
        for (uint32_t d = lcp + 1; d <= refs[i].len; d++) {
            t->byte[k] = (uint8_t)refs[i].p[d - 1];
            t->depth[k] = (uint16_t)d;
            t->tok_first[k] = (uint32_t)i;
            t->tok_n[k] = 0;
            path[d] = k;
            path_len = d;
            k++;
        }
        uint32_t end = path[refs[i].len];
        if (t->tok_n[end] == 0)
            t->tok_first[end] = (uint32_t)i;
        if (t->tok_n[end] < UINT16_MAX)
            t->tok_n[end]++;
        t->toks[i] = refs[i].id;
    }
    for (uint32_t d = 1; d <= path_len; d++)
        t->next[path[d]] = k;
    t->n_nodes = k;
    free(path);
    return 0;
}

/* Plain string text: whole UTF-8 characters, none of them a control
 * character, quote or backslash. Returns the character count, or -1. */
static int plain_chars(const uint8_t *p, size_t len)
{
    int chars = 0;
    for (size_t i = 0; i < len;) {
        uint8_t c = p[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            if (c < 0x20 || c == '"' || c == '\\')
                return -1;
            need = 0;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return -1;
        }
        for (size_t j = 1; j <= need; j++) {
            if (i + j >= len)
                return -1;
            uint8_t t = p[i + j];
            if (j == 1 ? (t < lo || t > hi) : (t < 0x80 || t > 0xBF))
                return -1;
        }
        i += need + 1;
        chars++;
    }
    return chars;
}

void gm_token_index_free(gm_token_index *ti)
{
    if (!ti)
        return;
    flat_free(&ti->all);
    flat_free(&ti->special);
    flat_free(&ti->user);
    flat_free(&ti->safe_lt);
    free(ti->lt_bits);
    free(ti->safe_bits);
    free(ti->safe_by_len);
    free(ti->eog);
    free(ti->text);
    free(ti->text_off);
    free(ti);
}

uint32_t gm_token_index_n_vocab(const gm_token_index *ti)
{
    return ti->n_vocab;
}

int gm_token_index_new(const gm_vocab *v, uint32_t n_vocab, gm_token_index **out, cm_err *err)
{
    *out = NULL;
    if (n_vocab == 0)
        return cm_err_set(err, "token index: empty vocabulary");
    gm_token_index *ti = calloc(1, sizeof(*ti));
    if (!ti)
        return cm_err_set(err, "token index: out of memory");
    ti->n_vocab = n_vocab;
    ti->n_words = (n_vocab + 31) / 32;
    uint32_t n_tok = gm_vocab_n_tokens(v);
    uint32_t n = n_tok < n_vocab ? n_tok : n_vocab;
    tok_ref *refs = malloc((size_t)(n ? n : 1) * sizeof(*refs));
    tok_ref *spec = malloc((size_t)(n ? n : 1) * sizeof(*spec));
    tok_ref *user = malloc((size_t)(n ? n : 1) * sizeof(*user));
    tok_ref *lt = malloc((size_t)(n ? n : 1) * sizeof(*lt));
    ti->lt_bits = calloc(ti->n_words, sizeof(uint32_t));
    int *chars = malloc((size_t)(n ? n : 1) * sizeof(*chars));
    ti->text_off = calloc((size_t)n_vocab + 1, sizeof(*ti->text_off));
    ti->safe_bits = calloc(ti->n_words, sizeof(uint32_t));
    ti->eog = malloc(64 * sizeof(uint32_t));
    int rc = -1;
    if (!refs || !spec || !user || !lt || !ti->lt_bits || !chars || !ti->text_off || !ti->safe_bits || !ti->eog) {
        cm_err_set(err, "token index: out of memory");
        goto out;
    }
    /* the texts, back to back */
    size_t total = 0;
    char piece[512];
    const uint32_t wanted = GM_TOKEN_ATTR_NORMAL | GM_TOKEN_ATTR_BYTE | GM_TOKEN_ATTR_USER_DEFINED;
    for (uint32_t id = 0; id < n; id++) {
        uint32_t attr = gm_vocab_token_attr(v, (int32_t)id);
        if (!(attr & wanted))
            continue;
        total += gm_token_to_piece(v, (int32_t)id, false, piece, 0);
    }
    ti->text = malloc(total + 1);
    if (!ti->text) {
        cm_err_set(err, "token index: out of memory");
        goto out;
    }
    size_t at = 0, n_refs = 0, n_user = 0;
    for (uint32_t id = 0; id < n_vocab; id++) {
        ti->text_off[id] = at;
        if (id >= n)
            continue;
        uint32_t attr = gm_vocab_token_attr(v, (int32_t)id);
        if (!(attr & wanted) || gm_vocab_is_eog(v, (int32_t)id))
            continue;
        size_t len = gm_token_to_piece(v, (int32_t)id, false, ti->text + at, total - at);
        if (len == 0 || len > 4096 || at + len > total)
            continue;
        tok_ref r = {ti->text + at, (uint32_t)len, (int32_t)id};
        if (attr & GM_TOKEN_ATTR_USER_DEFINED) /* only Gemma's tool syntax uses them */
            user[n_user++] = r;
        else
            refs[n_refs++] = r;
        at += len;
    }
    ti->text_off[n_vocab] = at;
    size_t cap_eog = 64;
    for (uint32_t id = 0; id < n_vocab && id < n_tok; id++) {
        if (!gm_vocab_is_eog(v, (int32_t)id))
            continue;
        if (ti->n_eog == cap_eog) {
            uint32_t *e = realloc(ti->eog, cap_eog * 2 * sizeof(*e));
            if (!e) {
                cm_err_set(err, "token index: out of memory");
                goto out;
            }
            ti->eog = e;
            cap_eog *= 2;
        }
        ti->eog[ti->n_eog++] = id;
    }
    /* plain text tokens by character count; the rest to the special trie */
    size_t n_spec = 0, n_safe = 0, n_lt = 0;
    uint32_t count[66] = {0};
    for (size_t i = 0; i < n_refs; i++) {
        chars[i] = plain_chars((const uint8_t *)refs[i].p, refs[i].len);
        if (chars[i] < 0) {
            spec[n_spec++] = refs[i];
            continue;
        }
        ti->safe_bits[refs[i].id / 32] |= 1u << (refs[i].id % 32);
        if (memchr(refs[i].p, '<', refs[i].len)) {
            ti->lt_bits[refs[i].id / 32] |= 1u << (refs[i].id % 32);
            lt[n_lt++] = refs[i];
        }
        count[chars[i] > 64 ? 65 : chars[i]]++;
        n_safe++;
    }
    ti->safe_by_len = malloc((n_safe ? n_safe : 1) * sizeof(int32_t));
    if (!ti->safe_by_len) {
        cm_err_set(err, "token index: out of memory");
        goto out;
    }
    uint32_t fill[66];
    uint32_t sum = 0;
    for (int c = 0; c < 66; c++) {
        ti->safe_len_start[c] = sum;
        fill[c] = sum;
        sum += count[c];
    }
    ti->safe_len_start[66] = sum;
    for (size_t i = 0; i < n_refs; i++)
        if (chars[i] >= 0)
            ti->safe_by_len[fill[chars[i] > 64 ? 65 : chars[i]]++] = refs[i].id;
    qsort(refs, n_refs, sizeof(*refs), cmp_tok);
    qsort(spec, n_spec, sizeof(*spec), cmp_tok);
    qsort(user, n_user, sizeof(*user), cmp_tok);
    qsort(lt, n_lt, sizeof(*lt), cmp_tok);
    if (flat_build(&ti->all, refs, n_refs, err) < 0 ||
        flat_build(&ti->special, spec, n_spec, err) < 0 ||
        flat_build(&ti->user, user, n_user, err) < 0 ||
        flat_build(&ti->safe_lt, lt, n_lt, err) < 0)
        goto out;
    rc = 0;
out:
    free(refs);
    free(spec);
    free(user);
    free(lt);
    free(chars);
    if (rc < 0)
        gm_token_index_free(ti);
    else
        *out = ti;
    return rc;
}
