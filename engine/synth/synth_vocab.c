/*
 * engine/synth/synth_vocab.c -- the synthetic Gemma 4 vocabulary.
 *
 * Ids 0..493 copy the layout of the real 262144-token vocabulary
 * (docs/architecture.md E12.4): control and user-defined specials,
 * <unusedN> fillers, newline runs (107..137), space runs (138..167), HTML
 * tags (168..237) and byte tokens <0x00>..<0xFF> (238..493), with the
 * token types the converter writes. Then come single characters and
 * tokens learned by a small deterministic BPE trainer from a built-in
 * English corpus (pre-split as llama.cpp's gemma4 tokenizer does: spaces
 * become U+2581, no merge puts U+2581 after another character), then
 * <unusedN> fillers, with the multimodal markers at their real ids when
 * the vocabulary reaches them. Scores are -1000 as in the real file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/synth/synth.h"

#define SPACE_MARK "\xe2\x96\x81" /* U+2581 */
#define MAX_TRAINED 8192          /* tokens before the fillers, bounded by the corpus */

typedef struct fixed_token {
    uint32_t id;
    const char *text;
    int32_t type;
} fixed_token;

static const fixed_token specials[] = {
    {0, "<pad>", GM_SYNTH_TOK_CONTROL},
    {1, "<eos>", GM_SYNTH_TOK_CONTROL},
    {2, "<bos>", GM_SYNTH_TOK_CONTROL},
    {3, "<unk>", GM_SYNTH_TOK_CONTROL},
    {4, "<mask>", GM_SYNTH_TOK_CONTROL},
    {5, "[multimodal]", GM_SYNTH_TOK_NORMAL},
    {46, "<|tool>", GM_SYNTH_TOK_CONTROL},
    {47, "<tool|>", GM_SYNTH_TOK_CONTROL},
    {48, "<|tool_call>", GM_SYNTH_TOK_USER_DEFINED},
    {49, "<tool_call|>", GM_SYNTH_TOK_USER_DEFINED},
    {50, "<|tool_response>", GM_SYNTH_TOK_USER_DEFINED},
    {51, "<tool_response|>", GM_SYNTH_TOK_USER_DEFINED},
    {52, "<|\"|>", GM_SYNTH_TOK_USER_DEFINED},
    {98, "<|think|>", GM_SYNTH_TOK_CONTROL},
    {100, "<|channel>", GM_SYNTH_TOK_USER_DEFINED},
    {101, "<channel|>", GM_SYNTH_TOK_USER_DEFINED},
    {105, "<|turn>", GM_SYNTH_TOK_CONTROL},
    {106, "<turn|>", GM_SYNTH_TOK_CONTROL},
};

/* Above the trained region: only present when the vocabulary is this large. */
static const fixed_token multimodal[] = {
    {255999, "<|image>", GM_SYNTH_TOK_CONTROL},  {256000, "<|audio>", GM_SYNTH_TOK_CONTROL},
    {258880, "<|image|>", GM_SYNTH_TOK_CONTROL}, {258881, "<|audio|>", GM_SYNTH_TOK_CONTROL},
    {258882, "<image|>", GM_SYNTH_TOK_CONTROL},  {258883, "<audio|>", GM_SYNTH_TOK_CONTROL},
    {258884, "<|video|>", GM_SYNTH_TOK_CONTROL},
};

static const char *const html_tags[70] = {
    "<table>", "<caption>", "<thead>", "<tbody>", "<tfoot>", "<tr>", "<th>", "<td>",
    "</table>", "</caption>", "</thead>", "</tbody>", "</tfoot>", "</tr>", "</th>", "</td>",
    "<h1>", "<h2>", "<h3>", "<h4>", "<h5>", "<h6>", "<blockquote>",
    "</h1>", "</h2>", "</h3>", "</h4>", "</h5>", "</h6>", "</blockquote>",
    "<strong>", "<em>", "<b>", "<i>", "<u>", "<s>", "<sub>", "<sup>", "<code>",
    "</strong>", "</em>", "</b>", "</i>", "</u>", "</s>", "</sub>", "</sup>", "</code>",
    "<a>", "<html>", "<body>", "<img>", "<span>", "<bbox>", "<ul>", "<li>", "<div>",
    "<iframe>", "<footer>",
    "</a>", "</html>", "</body>", "</img>", "</span>", "</bbox>", "</ul>", "</li>", "</div>",
    "</iframe>", "</footer>",
};

#define ID_NEWLINES 107 /* "\n" x 1..31 */
#define ID_SPACES 138   /* U+2581 x 2..31 */
#define ID_HTML 168
#define ID_BYTES 238
#define ID_FIRST_FREE 494
#define MAX_RUN 31

/* The training text. Lines are trained separately (llama.cpp never merges
 * across a newline). */
static const char corpus[] =
    "Hello world! Hello, how are you today? I am fine, thank you.\n"
    "Why is the sky blue? The sky is blue because the air scatters blue light more than red light.\n"
    "The quick brown fox jumps over the lazy dog. The dog sleeps in the sun.\n"
    "In the beginning there was the word, and the word was with the model.\n"
    "Gemma is a family of open models; this is a tiny synthetic test model.\n"
    "Once upon a time, there was a little model that wanted to predict the next token.\n"
    "It read the text again and again, and then it learned the most common pairs of letters.\n"
    "The user asks a question and the model answers it with a short and helpful answer.\n"
    "You are a helpful assistant. Answer the question of the user in one sentence.\n"
    "What is the capital of France? The capital of France is Paris.\n"
    "What time is it? It is ten past nine in the morning.\n"
    "Please write a short story about a robot who learns to paint.\n"
    "Let me think about this step by step before I give the final answer.\n"
    "The thought process is hidden, and only the answer is shown to the user.\n"
    "This system runs on a single machine without any network connection.\n"
    "Every request is written to the audit log with the name of the client.\n"
    "For example, the function returns zero on success and minus one on error.\n"
    "The weather is nice and the sun is shining, so we went for a walk in the park.\n"
    "She said that they would come back tomorrow with their friends and family.\n"
    "He has been working on this project for three years, and it is almost finished.\n"
    "We should not forget that the number of people who use these tools is growing.\n"
    "There are many different ways to solve this problem, but some are better than others.\n"
    "The results of the test show that the new method is faster and more accurate.\n"
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 12 16 20 32 64 100 128 256 512 1024 2024 2025.\n"
    "1234567890 + 42 = 1234567932. (a, b) [c] {d} <e> \"f\" 'g' !? x = y * 2 - 1;\n"
    "def main(): return print(\"hello\") if x > 0 else None\n"
    "int main(void) { printf(\"%d\\n\", x); return 0; }\n"
    "user model system thought tool call response image audio video\n"
    "Thank you very much for your help, it was very useful.\n"
    "I do not know the answer, but I can try to find out more about it.\n"
    "Can you explain how this works in simple words for a child?\n"
    "The model generates one token at a time until it reaches the end of the turn.\n"
    "\tA line that starts with a tab, and     a run of spaces.\n";

/* --- a small string -> id hash table for the trained region ---------- */

typedef struct tok_table {
    uint32_t cap;   /* power of two */
    int32_t *slots; /* token id or -1 */
} tok_table;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int32_t table_find(const tok_table *t, char *const *tokens, const char *s)
{
    uint32_t i = (uint32_t)hash_str(s) & (t->cap - 1);
    while (t->slots[i] >= 0) {
        if (strcmp(tokens[t->slots[i]], s) == 0)
            return t->slots[i];
        i = (i + 1) & (t->cap - 1);
    }
    return -1;
}

static void table_put(tok_table *t, const char *s, int32_t id)
{
    uint32_t i = (uint32_t)hash_str(s) & (t->cap - 1);
    while (t->slots[i] >= 0)
        i = (i + 1) & (t->cap - 1);
    t->slots[i] = id;
}

/* --- building ------------------------------------------------------- */

typedef struct builder {
    gm_synth_vocab *v;
    uint32_t cap_merges;
    tok_table table;
    cm_err *err;
} builder;

static int set_token(builder *b, uint32_t id, const char *text, int32_t type)
{
    gm_synth_vocab *v = b->v;
    v->tokens[id] = strdup(text);
    if (!v->tokens[id])
        return cm_err_set(b->err, "synthetic vocabulary: out of memory");
    v->types[id] = type;
    v->scores[id] = -1000.0f;
    if (id < MAX_TRAINED)
        table_put(&b->table, text, (int32_t)id);
    return 0;
}

static int add_merge(builder *b, const char *left, const char *right)
{
    gm_synth_vocab *v = b->v;
    if (v->n_merges == b->cap_merges) {
        uint32_t cap = b->cap_merges ? 2 * b->cap_merges : 1024;
        char **m = realloc(v->merges, cap * sizeof(*m));
        if (!m)
            return cm_err_set(b->err, "synthetic vocabulary: out of memory");
        v->merges = m;
        b->cap_merges = cap;
    }
    size_t n = strlen(left) + strlen(right) + 2;
    char *s = malloc(n);
    if (!s)
        return cm_err_set(b->err, "synthetic vocabulary: out of memory");
    snprintf(s, n, "%s %s", left, right);
    v->merges[v->n_merges++] = s;
    return 0;
}

static void repeat(char *dst, const char *unit, uint32_t n)
{
    dst[0] = '\0';
    for (uint32_t i = 0; i < n; i++)
        strcat(dst, unit);
}

/* Ids 0..493 (and every filler) as in the real vocabulary. */
static int fill_fixed(builder *b, uint32_t *unused_counter)
{
    gm_synth_vocab *v = b->v;
    char buf[MAX_RUN * 3 + 1];
    for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++)
        if (set_token(b, specials[i].id, specials[i].text, specials[i].type) < 0)
            return -1;
    for (uint32_t id = 0; id < ID_NEWLINES; id++) {
        if (v->tokens[id])
            continue;
        snprintf(buf, sizeof(buf), "<unused%u>", (*unused_counter)++);
        if (set_token(b, id, buf, GM_SYNTH_TOK_NORMAL) < 0)
            return -1;
    }
    for (uint32_t n = 1; n <= MAX_RUN; n++) {
        repeat(buf, "\n", n);
        if (set_token(b, ID_NEWLINES + n - 1, buf, GM_SYNTH_TOK_NORMAL) < 0)
            return -1;
    }
    for (uint32_t n = 2; n <= MAX_RUN; n++) {
        repeat(buf, SPACE_MARK, n);
        if (set_token(b, ID_SPACES + n - 2, buf, GM_SYNTH_TOK_NORMAL) < 0)
            return -1;
    }
    for (uint32_t i = 0; i < 70; i++)
        if (set_token(b, ID_HTML + i, html_tags[i], GM_SYNTH_TOK_NORMAL) < 0)
            return -1;
    for (uint32_t i = 0; i < 256; i++) {
        snprintf(buf, sizeof(buf), "<0x%02X>", i);
        if (set_token(b, ID_BYTES + i, buf, GM_SYNTH_TOK_BYTE) < 0)
            return -1;
    }
    return 0;
}

/* Single characters, most useful first (so a small vocabulary keeps letters). */
static int fill_chars(builder *b, uint32_t *next)
{
    char order[128];
    size_t n = 0;
    for (char c = 'a'; c <= 'z'; c++)
        order[n++] = c;
    for (char c = 'A'; c <= 'Z'; c++)
        order[n++] = c;
    for (char c = '0'; c <= '9'; c++)
        order[n++] = c;
    for (int c = 0x21; c < 0x7f; c++)
        if (!memchr(order, c, n))
            order[n++] = (char)c;
    order[n++] = '\t';
    if (*next < b->v->n_tokens) {
        if (set_token(b, (*next)++, SPACE_MARK, GM_SYNTH_TOK_NORMAL) < 0)
            return -1;
    }
    for (size_t i = 0; i < n && *next < b->v->n_tokens; i++) {
        char s[2] = {order[i], '\0'};
        if (set_token(b, (*next)++, s, GM_SYNTH_TOK_NORMAL) < 0)
            return -1;
    }
    return 0;
}

/* Merges that build the newline and space runs, longest runs first (as the
 * real file orders them). */
static int add_run_merges(builder *b)
{
    char l[MAX_RUN * 3 + 1], r[MAX_RUN * 3 + 1];
    bool have_space = table_find(&b->table, b->v->tokens, SPACE_MARK) >= 0;
    for (uint32_t n = MAX_RUN; n >= 2; n--) {
        for (uint32_t a = n - 1; a >= 1; a--) {
            repeat(l, "\n", a);
            repeat(r, "\n", n - a);
            if (add_merge(b, l, r) < 0)
                return -1;
            if (have_space) {
                repeat(l, SPACE_MARK, a);
                repeat(r, SPACE_MARK, n - a);
                if (add_merge(b, l, r) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

static bool all_spaces(const char *s)
{
    size_t k = strlen(SPACE_MARK);
    if (!*s)
        return false;
    for (; *s; s += k)
        if (strncmp(s, SPACE_MARK, k) != 0)
            return false;
    return true;
}

typedef struct pair {
    int32_t a, b;
} pair;

static int cmp_pair(const void *x, const void *y)
{
    const pair *p = x, *q = y;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    if (p->b != q->b)
        return p->b < q->b ? -1 : 1;
    return 0;
}

/* The corpus as symbol ids, lines separated by -1; characters without a
 * token (small vocabularies) are -1 too, so no pair crosses them. */
static int corpus_symbols(builder *b, int32_t **out, size_t *n_out)
{
    size_t cap = sizeof(corpus) + 1, n = 0;
    int32_t *sym = malloc(cap * sizeof(*sym));
    if (!sym)
        return cm_err_set(b->err, "synthetic vocabulary: out of memory");
    for (const char *p = corpus; *p;) {
        if (*p == '\n') {
            sym[n++] = -1;
            p++;
            continue;
        }
        char ch[4] = {*p, '\0'};
        const char *s = *p == ' ' ? SPACE_MARK : ch;
        sym[n++] = table_find(&b->table, b->v->tokens, s);
        p++;
    }
    *out = sym;
    *n_out = n;
    return 0;
}

/* Learn merges until the vocabulary is full or no pair is left. */
static int train(builder *b, uint32_t *next)
{
    gm_synth_vocab *v = b->v;
    int32_t *sym = NULL;
    size_t n = 0;
    if (corpus_symbols(b, &sym, &n) < 0)
        return -1;
    pair *pairs = malloc(n * sizeof(*pairs));
    if (!pairs) {
        free(sym);
        return cm_err_set(b->err, "synthetic vocabulary: out of memory");
    }
    int rc = 0;
    while (*next < v->n_tokens && *next < MAX_TRAINED) {
        size_t np = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            if (sym[i] < 0 || sym[i + 1] < 0)
                continue;
            const char *l = v->tokens[sym[i]], *r = v->tokens[sym[i + 1]];
            bool r_space = strncmp(r, SPACE_MARK, strlen(SPACE_MARK)) == 0;
            if (r_space && (!all_spaces(l) || all_spaces(r)))
                continue; /* U+2581 only as a word prefix; runs have their own merges */
            pairs[np++] = (pair){sym[i], sym[i + 1]};
        }
        if (np == 0)
            break;
        qsort(pairs, np, sizeof(*pairs), cmp_pair);
        /* Most frequent pair; ties by the text of left, then right. */
        size_t best = 0, best_count = 0;
        for (size_t i = 0; i < np;) {
            size_t j = i;
            while (j < np && cmp_pair(&pairs[i], &pairs[j]) == 0)
                j++;
            size_t count = j - i;
            int c = 0;
            if (count == best_count) {
                c = strcmp(v->tokens[pairs[i].a], v->tokens[pairs[best].a]);
                if (c == 0)
                    c = strcmp(v->tokens[pairs[i].b], v->tokens[pairs[best].b]);
            }
            if (count > best_count || (count == best_count && c < 0)) {
                best = i;
                best_count = count;
            }
            i = j;
        }
        pair p = pairs[best];
        const char *l = v->tokens[p.a], *r = v->tokens[p.b];
        size_t len = strlen(l) + strlen(r) + 1;
        char *joined = malloc(len);
        if (!joined) {
            rc = cm_err_set(b->err, "synthetic vocabulary: out of memory");
            break;
        }
        snprintf(joined, len, "%s%s", l, r);
        int32_t id = table_find(&b->table, v->tokens, joined);
        if (id < 0) {
            id = (int32_t)*next;
            rc = set_token(b, (*next)++, joined, GM_SYNTH_TOK_NORMAL);
        }
        free(joined);
        if (rc < 0 || add_merge(b, l, r) < 0) {
            rc = -1;
            break;
        }
        /* Apply the merge, left to right. */
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
            if (i + 1 < n && sym[i] == p.a && sym[i + 1] == p.b) {
                sym[w++] = id;
                i++;
            } else {
                sym[w++] = sym[i];
            }
        }
        n = w;
    }
    free(pairs);
    free(sym);
    return rc;
}

static int fill_rest(builder *b, uint32_t next, uint32_t *unused_counter)
{
    gm_synth_vocab *v = b->v;
    char buf[32];
    for (size_t i = 0; i < sizeof(multimodal) / sizeof(multimodal[0]); i++)
        if (multimodal[i].id < v->n_tokens &&
            set_token(b, multimodal[i].id, multimodal[i].text, multimodal[i].type) < 0)
            return -1;
    for (uint32_t id = next; id < v->n_tokens; id++) {
        if (v->tokens[id])
            continue;
        snprintf(buf, sizeof(buf), "<unused%u>", (*unused_counter)++);
        if (set_token(b, id, buf, GM_SYNTH_TOK_NORMAL) < 0)
            return -1;
    }
    return 0;
}

int gm_synth_vocab_build(uint32_t n_vocab, gm_synth_vocab *out, cm_err *err)
{
    memset(out, 0, sizeof(*out));
    if (n_vocab < GM_SYNTH_MIN_VOCAB)
        return cm_err_set(err,
                          "vocabulary of %u tokens is too small: the Gemma 4 special tokens "
                          "and byte tokens use ids up to %d, so it needs at least %d",
                          n_vocab, GM_SYNTH_MIN_VOCAB - 1, GM_SYNTH_MIN_VOCAB);
    builder b = {out, 0, {2 * MAX_TRAINED, NULL}, err};
    out->n_tokens = n_vocab;
    out->tokens = calloc(n_vocab, sizeof(*out->tokens));
    out->types = calloc(n_vocab, sizeof(*out->types));
    out->scores = calloc(n_vocab, sizeof(*out->scores));
    b.table.slots = malloc(b.table.cap * sizeof(*b.table.slots));
    if (!out->tokens || !out->types || !out->scores || !b.table.slots) {
        free(b.table.slots);
        gm_synth_vocab_free(out);
        return cm_err_set(err, "synthetic vocabulary of %u tokens: out of memory", n_vocab);
    }
    memset(b.table.slots, 0xff, b.table.cap * sizeof(*b.table.slots));
    uint32_t unused = 0, next = ID_FIRST_FREE;
    int rc = fill_fixed(&b, &unused);
    if (rc == 0)
        rc = fill_chars(&b, &next);
    if (rc == 0)
        rc = add_run_merges(&b);
    if (rc == 0)
        rc = train(&b, &next);
    if (rc == 0)
        rc = fill_rest(&b, next, &unused);
    free(b.table.slots);
    if (rc < 0)
        gm_synth_vocab_free(out);
    return rc;
}

void gm_synth_vocab_free(gm_synth_vocab *v)
{
    if (!v)
        return;
    if (v->tokens)
        for (uint32_t i = 0; i < v->n_tokens; i++)
            free(v->tokens[i]);
    for (uint32_t i = 0; i < v->n_merges; i++)
        free(v->merges[i]);
    free(v->tokens);
    free(v->types);
    free(v->scores);
    free(v->merges);
    memset(v, 0, sizeof(*v));
}
