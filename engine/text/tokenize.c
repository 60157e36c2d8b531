/*
 * engine/text/tokenize.c -- text to token ids with the "gemma4" BPE
 * tokenizer, as llama_tokenize() does (docs/architecture.md E12.2):
 *
 *  1. split out special tokens (longest text first, then lowest id; with
 *     parse_special = false only USER_DEFINED ones);
 *  2. in each plain fragment turn spaces into U+2581 and re-encode the
 *     UTF-8 the way llama.cpp does (bad bytes become U+FFFD);
 *  3. split into runs of '\n' and runs of anything else; a run of newlines
 *     that is itself a token is emitted as is;
 *  4. BPE on each run: merge the adjacent pair of lowest rank, leftmost
 *     first; symbols that are no token fall back to <0xXX> byte tokens.
 *
 * Where llama.cpp's result is not defined we choose: special tokens of the
 * same length that overlap in the text are tried lowest id first (llama.cpp
 * sorts them with an unstable sort), and a 4-byte sequence decoding above
 * U+10FFFF becomes U+FFFD (llama.cpp throws and the process ends). The
 * LSTRIP/RSTRIP attributes, which llama.cpp sets only for some other model
 * families by name, are not used.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/text/utf8.h"
#include "engine/text/vocab_impl.h"

/* --- growable id list -------------------------------------------------------- */

typedef struct id_list {
    int32_t *ids;
    size_t n, cap;
    bool oom;
} id_list;

static void push(id_list *l, int32_t id)
{
    if (l->oom)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        int32_t *p = realloc(l->ids, cap * sizeof(*p));
        if (!p) {
            l->oom = true;
            return;
        }
        l->ids = p;
        l->cap = cap;
    }
    l->ids[l->n++] = id;
}

/* --- BPE on one run ------------------------------------------------------------ */

typedef struct symbol {
    size_t start, len; /* bytes of the run; len 0 = merged away */
    int32_t prev, next;
    int32_t id;        /* token id of the text, -1 when it is no token */
} symbol;

typedef struct bigram {
    int32_t rank;
    int32_t left, right;
    size_t left_len, right_len;
} bigram;

typedef struct bpe_work {
    symbol *sym;
    size_t sym_cap;
    bigram *heap;
    size_t n_heap, heap_cap;
    bool oom;
} bpe_work;

static bool bigram_before(const bigram *a, const bigram *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(bpe_work *w, const bigram *b)
{
    if (w->n_heap == w->heap_cap) {
        size_t cap = w->heap_cap ? w->heap_cap * 2 : 64;
        bigram *p = realloc(w->heap, cap * sizeof(*p));
        if (!p) {
            w->oom = true;
            return;
        }
        w->heap = p;
        w->heap_cap = cap;
    }
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!bigram_before(b, &w->heap[parent]))
            break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = *b;
}

static bigram heap_pop(bpe_work *w)
{
    bigram top = w->heap[0];
    bigram last = w->heap[--w->n_heap];
    size_t i = 0, n = w->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && bigram_before(&w->heap[c + 1], &w->heap[c]))
            c++;
        if (!bigram_before(&w->heap[c], &last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n > 0)
        w->heap[i] = last;
    return top;
}

static void add_bigram(const gm_vocab *v, bpe_work *w, const char *s, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return;
    const symbol *l = &w->sym[left], *r = &w->sym[right];
    bigram b;
    b.rank = gm_vocab_merge_rank(v, l->id, s + l->start, l->len, r->id, s + r->start, r->len);
    if (b.rank < 0)
        return;
    b.left = left;
    b.right = right;
    b.left_len = l->len;
    b.right_len = r->len;
    heap_push(w, &b);
}

static void emit_bytes(const gm_vocab *v, const char *s, size_t n, id_list *out)
{
    for (size_t i = 0; i < n; i++) {
        int32_t id = v->byte_ids[(unsigned char)s[i]];
        if (id >= 0)
            push(out, id);
    }
}

static void bpe_run(const gm_vocab *v, bpe_work *w, const char *s, size_t n, id_list *out)
{
    /* a run of newlines that is a token is emitted directly */
    if (s[0] == '\n') {
        int32_t id = gm_bytemap_get(&v->tok, s, n);
        if (id >= 0) {
            push(out, id);
            return;
        }
    }
    if (n > w->sym_cap) {
        symbol *p = realloc(w->sym, n * sizeof(*p));
        if (!p) {
            w->oom = true;
            return;
        }
        w->sym = p;
        w->sym_cap = n;
    }
    int32_t n_sym = 0;
    for (size_t off = 0; off < n;) {
        size_t clen = gm_utf8_lead_len((unsigned char)s[off]);
        if (clen > n - off)
            clen = n - off;
        symbol *y = &w->sym[n_sym];
        y->start = off;
        y->len = clen;
        y->prev = n_sym - 1;
        off += clen;
        y->next = off == n ? -1 : n_sym + 1;
        y->id = gm_bytemap_get(&v->tok, s + y->start, clen);
        n_sym++;
    }
    w->n_heap = 0;
    for (int32_t i = 1; i < n_sym; i++)
        add_bigram(v, w, s, i - 1, i);
    while (w->n_heap > 0 && !w->oom) {
        bigram b = heap_pop(w);
        symbol *l = &w->sym[b.left], *r = &w->sym[b.right];
        /* outdated when either side has changed since it was queued */
        if (l->len == 0 || r->len == 0 || l->len != b.left_len || r->len != b.right_len)
            continue;
        l->len += r->len; /* the two are adjacent in the run */
        l->id = gm_bytemap_get(&v->tok, s + l->start, l->len);
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0)
            w->sym[r->next].prev = b.left;
        add_bigram(v, w, s, l->prev, b.left);
        add_bigram(v, w, s, b.left, l->next);
    }
    for (int32_t i = 0; i != -1; i = w->sym[i].next) {
        const symbol *y = &w->sym[i];
        if (y->len == 0)
            continue;
        if (y->id >= 0)
            push(out, y->id);
        else
            emit_bytes(v, s + y->start, y->len, out);
    }
}

/* Spaces to U+2581 and llama.cpp's UTF-8 re-encoding; out holds 3 * n. */
static size_t normalize(const char *in, size_t n, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] == ' ') {
            memcpy(out + o, "\xe2\x96\x81", 3);
            o += 3;
            i++;
            continue;
        }
        size_t used;
        uint32_t cp = gm_utf8_decode_lenient(s + i, n - i, &used);
        i += used;
        o += gm_utf8_encode(cp, out + o);
    }
    return o;
}

static void tokenize_text(const gm_vocab *v, bpe_work *w, const char *text, size_t n,
                          id_list *out)
{
    char *buf = malloc(3 * n);
    if (!buf) {
        w->oom = true;
        return;
    }
    size_t m = normalize(text, n, buf);
    for (size_t i = 0; i < m;) {
        bool nl = buf[i] == '\n';
        size_t j = i + 1;
        while (j < m && (buf[j] == '\n') == nl)
            j++;
        bpe_run(v, w, buf + i, j - i, out);
        i = j;
    }
    free(buf);
}

/* --- special tokens ------------------------------------------------------------- */

typedef struct span {
    size_t pos, len;
    int32_t id;
} span;

static int span_by_priority(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int span_by_pos(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * llama.cpp takes the special tokens one by one, longest first, and splits
 * every still-unsplit fragment at each occurrence, left to right. The same
 * result: find every occurrence of every candidate, then accept them in
 * (longest, lowest id, leftmost) order unless they overlap one accepted
 * before. Returns the accepted spans sorted by position.
 */
static span *find_specials(const gm_vocab *v, const char *text, size_t n, bool parse_special,
                           size_t *n_out, bool *oom)
{
    *n_out = 0;
    const uint32_t special = GM_TOKEN_ATTR_CONTROL | GM_TOKEN_ATTR_USER_DEFINED |
                             GM_TOKEN_ATTR_UNKNOWN;
    span *occ = NULL;
    size_t n_occ = 0, cap = 0;
    for (size_t i = 0; i < n; i++) {
        if (!v->special_first[(unsigned char)text[i]])
            continue;
        for (size_t k = 0; k < v->n_special_lens; k++) {
            size_t len = v->special_lens[k];
            if (len > n - i)
                continue;
            int32_t id = gm_bytemap_get(&v->tok, text + i, len);
            if (id < 0)
                continue;
            uint32_t a = v->attr[id];
            if (!(a & special))
                continue;
            if (!parse_special && (a & (GM_TOKEN_ATTR_CONTROL | GM_TOKEN_ATTR_UNKNOWN)))
                continue;
            if (n_occ == cap) {
                cap = cap ? cap * 2 : 16;
                span *p = realloc(occ, cap * sizeof(*p));
                if (!p) {
                    free(occ);
                    *oom = true;
                    return NULL;
                }
                occ = p;
            }
            occ[n_occ++] = (span){i, len, id};
        }
    }
    if (n_occ == 0)
        return NULL;
    unsigned char *covered = calloc(n, 1);
    if (!covered) {
        free(occ);
        *oom = true;
        return NULL;
    }
    qsort(occ, n_occ, sizeof(*occ), span_by_priority);
    size_t n_acc = 0;
    for (size_t k = 0; k < n_occ; k++) {
        const span *o = &occ[k];
        bool free_run = true;
        for (size_t j = 0; j < o->len && free_run; j++)
            free_run = !covered[o->pos + j];
        if (!free_run)
            continue;
        memset(covered + o->pos, 1, o->len);
        occ[n_acc++] = *o;
    }
    free(covered);
    qsort(occ, n_acc, sizeof(*occ), span_by_pos);
    *n_out = n_acc;
    return occ;
}

/* Which special tokens are matched in the text. */
typedef enum special_mode {
    SPECIAL_NONE,         /* none at all: gm_tokenize_plain */
    SPECIAL_USER_DEFINED, /* parse_special = false: USER_DEFINED only */
    SPECIAL_ALL,          /* parse_special = true */
} special_mode;

static int tokenize_mode(const gm_vocab *v, const char *text, size_t len, bool add_special,
                         special_mode mode, int32_t **out, size_t *n_out, cm_err *err);

int gm_tokenize(const gm_vocab *v, const char *text, size_t len, bool add_special,
                bool parse_special, int32_t **out, size_t *n_out, cm_err *err)
{
    return tokenize_mode(v, text, len, add_special,
                         parse_special ? SPECIAL_ALL : SPECIAL_USER_DEFINED, out, n_out, err);
}

int gm_tokenize_plain(const gm_vocab *v, const char *text, size_t len, int32_t **out,
                      size_t *n_out, cm_err *err)
{
    return tokenize_mode(v, text, len, false, SPECIAL_NONE, out, n_out, err);
}

static int tokenize_mode(const gm_vocab *v, const char *text, size_t len, bool add_special,
                         special_mode mode, int32_t **out, size_t *n_out, cm_err *err)
{
    *out = NULL;
    *n_out = 0;
    if (len > 0 && !text)
        return cm_err_set(err, "tokenize: no text");
    if (len > GM_TOKENIZE_MAX_BYTES) /* keeps symbol indexes in int32 */
        return cm_err_set(err, "tokenize: a text of %zu bytes is too long (at most %u)", len,
                          (unsigned)GM_TOKENIZE_MAX_BYTES);
    if (add_special && v->add_bos && v->bos < 0)
        return cm_err_set(err, "tokenize: the vocabulary has no BOS token "
                               "(tokenizer.ggml.bos_token_id) but BOS must be added");
    if (add_special && v->add_eos && v->eos < 0)
        return cm_err_set(err, "tokenize: the vocabulary has no EOS token "
                               "(tokenizer.ggml.eos_token_id) but EOS must be added");
    id_list ids = {0};
    bpe_work w = {0};
    bool oom = false;
    if (add_special && v->add_bos)
        push(&ids, v->bos);
    size_t n_spans = 0;
    span *spans = len > 0 && v->n_special > 0 && mode != SPECIAL_NONE
                      ? find_specials(v, text, len, mode == SPECIAL_ALL, &n_spans, &oom)
                      : NULL;
    size_t at = 0;
    for (size_t k = 0; k <= n_spans && !oom; k++) {
        size_t end = k < n_spans ? spans[k].pos : len;
        if (end > at)
            tokenize_text(v, &w, text + at, end - at, &ids);
        if (k < n_spans) {
            push(&ids, spans[k].id);
            at = spans[k].pos + spans[k].len;
        }
    }
    if (add_special && v->add_eos)
        push(&ids, v->eos);
    free(spans);
    free(w.sym);
    free(w.heap);
    if (oom || w.oom || ids.oom) {
        free(ids.ids);
        return cm_err_set(err, "tokenize: out of memory for a text of %zu bytes", len);
    }
    if (ids.n == 0) { /* give the caller a valid pointer to free */
        free(ids.ids);
        ids.ids = malloc(sizeof(int32_t));
        if (!ids.ids)
            return cm_err_set(err, "tokenize: out of memory");
    }
    *out = ids.ids;
    *n_out = ids.n;
    return 0;
}
