/*
 * engine/text/sample.c -- choosing the next token from a row of logits
 * (see sample.h for the order of operations).
 *
 * Candidates are kept as (id, logit) pairs in one array of n_vocab. Top-k
 * and top-p only need the best few in order, so they sort a growing prefix
 * (a heap selection of the best m, then a sort of those m) instead of the
 * whole vocabulary. The order is total: higher logit first, then lower id,
 * so results never depend on the sort. The random generator is
 * xoshiro256** seeded through splitmix64, one per sampler.
 */
#include "engine/text/sample.h"

#include "engine/grammar/grammar.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    int32_t id;
    float logit;
} cand;

struct gm_sampler {
    gm_sample_params p;
    uint32_t n_vocab;
    uint64_t rng[4];
    unsigned char *suppressed; /* n_vocab flags */
    bool any_suppressed;
    /* penalties: the last `window` accepted tokens (a ring), their counts */
    int32_t *hist;
    size_t hist_cap, hist_n, hist_head;
    bool unlimited;            /* penalty_last_n < 0: the whole history */
    uint32_t *count;
    uint32_t *stamp;
    uint32_t stamp_now;
    cand *c;
    gm_matcher *grammar;       /* NULL: unconstrained */
    bool sampled;              /* a sample since the last accept */
};

void gm_sample_params_default(gm_sample_params *p)
{
    memset(p, 0, sizeof(*p));
    p->temperature = 0.0f;
    p->top_k = 0;
    p->top_p = 1.0f;
    p->min_p = 0.0f;
    p->repeat_penalty = 1.0f;
    p->frequency_penalty = 0.0f;
    p->presence_penalty = 0.0f;
    p->penalty_last_n = 64;
    p->seed = 0;
}

/* --- random numbers ------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static double next_unit(uint64_t s[4])
{
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* --- life cycle ---------------------------------------------------------------------- */

int gm_sampler_new(const gm_sample_params *params, uint32_t n_vocab, gm_sampler **out,
                   cm_err *err)
{
    *out = NULL;
    if (n_vocab == 0 || n_vocab > (uint32_t)INT32_MAX)
        return cm_err_set(err, "sampler: vocabulary size %u is out of range", n_vocab);
    if (params->repeat_penalty < 0.0f || isnan(params->repeat_penalty))
        return cm_err_set(err, "sampler: repeat_penalty %g must not be negative",
                          (double)params->repeat_penalty);
    gm_sampler *s = calloc(1, sizeof(*s));
    if (!s)
        return cm_err_set(err, "sampler: out of memory");
    s->p = *params;
    if (s->p.repeat_penalty == 0.0f) /* unset: off */
        s->p.repeat_penalty = 1.0f;
    s->n_vocab = n_vocab;
    uint64_t x = params->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
    s->unlimited = params->penalty_last_n < 0;
    s->hist_cap = params->penalty_last_n > 0 ? (size_t)params->penalty_last_n : 64;
    s->suppressed = calloc(n_vocab, 1);
    s->hist = malloc(s->hist_cap * sizeof(*s->hist));
    s->count = calloc(n_vocab, sizeof(*s->count));
    s->stamp = calloc(n_vocab, sizeof(*s->stamp));
    s->c = malloc((size_t)n_vocab * sizeof(*s->c));
    if (!s->suppressed || !s->hist || !s->count || !s->stamp || !s->c) {
        gm_sampler_free(s);
        return cm_err_set(err, "sampler: out of memory for %u tokens", n_vocab);
    }
    *out = s;
    return 0;
}

void gm_sampler_free(gm_sampler *s)
{
    if (!s)
        return;
    free(s->suppressed);
    free(s->hist);
    free(s->count);
    free(s->stamp);
    free(s->c);
    free(s);
}

int gm_sampler_suppress(gm_sampler *s, const int32_t *ids, size_t n, cm_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (uint32_t)ids[i] >= s->n_vocab)
            return cm_err_set(err, "sampler: cannot suppress token %d (vocabulary of %u)",
                              (int)ids[i], s->n_vocab);
        s->suppressed[ids[i]] = 1;
        s->any_suppressed = true;
    }
    return 0;
}

void gm_sampler_set_grammar(gm_sampler *s, gm_matcher *m)
{
    s->grammar = m;
    s->sampled = false;
}

void gm_sampler_accept(gm_sampler *s, int32_t token)
{
    if (s->grammar && s->sampled)
        gm_matcher_accept_token(s->grammar, token); /* refused: the matcher stays */
    s->sampled = false;
    if (token < 0 || (uint32_t)token >= s->n_vocab)
        return;
    if (s->hist_n == s->hist_cap) {
        if (s->unlimited) {
            int32_t *h = realloc(s->hist, s->hist_cap * 2 * sizeof(*h));
            if (!h)
                return; /* the penalties then see a shorter history */
            /* unroll the ring so that it starts at 0 */
            memmove(h + s->hist_cap, h, s->hist_head * sizeof(*h));
            memmove(h, h + s->hist_head, (s->hist_cap) * sizeof(*h));
            s->hist = h;
            s->hist_head = 0;
            s->hist_cap *= 2;
        } else {
            int32_t old = s->hist[s->hist_head];
            s->count[old]--;
            s->hist[s->hist_head] = token;
            s->hist_head = (s->hist_head + 1) % s->hist_cap;
            s->count[token]++;
            return;
        }
    }
    s->hist[(s->hist_head + s->hist_n) % s->hist_cap] = token;
    s->hist_n++;
    s->count[token]++;
}

void gm_sampler_reset(gm_sampler *s)
{
    for (size_t i = 0; i < s->hist_n; i++)
        s->count[s->hist[(s->hist_head + i) % s->hist_cap]] = 0;
    s->hist_n = 0;
    s->hist_head = 0;
}

/* --- the steps ------------------------------------------------------------------------ */

static void apply_penalties(gm_sampler *s, float *logits)
{
    const gm_sample_params *p = &s->p;
    if (p->repeat_penalty == 1.0f && p->frequency_penalty == 0.0f && p->presence_penalty == 0.0f)
        return;
    if (++s->stamp_now == 0) { /* wrapped: forget old stamps */
        memset(s->stamp, 0, s->n_vocab * sizeof(*s->stamp));
        s->stamp_now = 1;
    }
    for (size_t i = 0; i < s->hist_n; i++) {
        int32_t t = s->hist[(s->hist_head + i) % s->hist_cap];
        if (s->stamp[t] == s->stamp_now)
            continue;
        s->stamp[t] = s->stamp_now;
        uint32_t c = s->count[t];
        if (c == 0)
            continue;
        if (logits[t] <= 0.0f)
            logits[t] *= p->repeat_penalty;
        else
            logits[t] /= p->repeat_penalty;
        logits[t] -= (float)c * p->frequency_penalty + p->presence_penalty;
    }
}

/* Tokens the grammar does not allow now get -inf. */
static void apply_grammar(gm_sampler *s, float *logits)
{
    const uint32_t *bits = gm_matcher_mask(s->grammar);
    uint32_t n_mask = gm_matcher_n_vocab(s->grammar);
    uint32_t nv = s->n_vocab;
    for (uint32_t w = 0; w * 32 < nv; w++) {
        uint32_t word = w * 32 < n_mask ? bits[w] : 0;
        if (word == UINT32_MAX)
            continue;
        uint32_t end = w * 32 + 32 < nv ? w * 32 + 32 : nv;
        for (uint32_t i = w * 32; i < end; i++)
            if (!(word & (1u << (i % 32))))
                logits[i] = -INFINITY;
    }
}

static int32_t argmax(const float *logits, uint32_t n)
{
    int32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (logits[i] > logits[best] || (isnan(logits[best]) && !isnan(logits[i])))
            best = (int32_t)i;
    return best;
}

/* a comes before b: higher logit, then lower id */
static bool before(const cand *a, const cand *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cmp_cand(const void *x, const void *y)
{
    const cand *a = x, *b = y;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

/* Heap with the worst of the kept candidates on top. */
static void sift_down(cand *h, size_t n, size_t i)
{
    for (;;) {
        size_t w = i, l = 2 * i + 1, r = l + 1;
        if (l < n && before(&h[w], &h[l]))
            w = l;
        if (r < n && before(&h[w], &h[r]))
            w = r;
        if (w == i)
            return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* Rearrange c[0..n) so that c[0..m) holds the best m in order (the rest
 * keeps the others, in some order). */
static void best_sorted(cand *c, size_t n, size_t m)
{
    if (m >= n) {
        qsort(c, n, sizeof(*c), cmp_cand);
        return;
    }
    for (size_t i = m / 2; i-- > 0;)
        sift_down(c, m, i);
    for (size_t i = m; i < n; i++) {
        if (before(&c[i], &c[0])) {
            cand t = c[0];
            c[0] = c[i];
            c[i] = t;
            sift_down(c, m, 0);
        }
    }
    qsort(c, m, sizeof(*c), cmp_cand);
}

int32_t gm_sampler_sample(gm_sampler *s, float *logits)
{
    const gm_sample_params *p = &s->p;
    const uint32_t nv = s->n_vocab;
    s->sampled = true;
    if (s->grammar)
        apply_grammar(s, logits);
    if (s->any_suppressed)
        for (uint32_t i = 0; i < nv; i++)
            if (s->suppressed[i])
                logits[i] = -INFINITY;
    apply_penalties(s, logits);
    if (!(p->temperature > 0.0f))
        return argmax(logits, nv);

    cand *c = s->c;
    size_t n = 0;
    for (uint32_t i = 0; i < nv; i++)
        if (logits[i] > -INFINITY) /* also drops NaN */
            c[n++] = (cand){(int32_t)i, logits[i]};
    if (n == 0)
        return argmax(logits, nv);
    size_t sorted = 0;
    if (p->top_k > 0 && (size_t)p->top_k < n) {
        best_sorted(c, n, (size_t)p->top_k);
        n = sorted = (size_t)p->top_k;
    }
    float maxl = c[0].logit;
    if (sorted == 0)
        for (size_t i = 1; i < n; i++)
            if (c[i].logit > maxl)
                maxl = c[i].logit;

    if (p->top_p < 1.0f) {
        double denom = 0.0;
        for (size_t i = 0; i < n; i++)
            denom += exp((double)c[i].logit - (double)maxl);
        double cum = 0.0;
        size_t i = 0, cut = 0;
        size_t m = 64;
        for (;;) {
            if (sorted < n && i == sorted) {
                m = m > sorted * 4 ? m : sorted * 4;
                if (m > n)
                    m = n;
                best_sorted(c, n, m);
                sorted = m;
            }
            cum += exp((double)c[i].logit - (double)maxl) / denom;
            i++;
            if (cum >= (double)p->top_p || i == n) {
                cut = i;
                break;
            }
        }
        n = cut; /* at least one */
    }
    if (p->min_p > 0.0f) {
        float thr = maxl + logf(p->min_p);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (c[i].logit >= thr)
                c[k++] = c[i];
        n = k; /* the best always stays */
    }

    double total = 0.0;
    const double inv_t = 1.0 / (double)p->temperature;
    for (size_t i = 0; i < n; i++)
        total += exp(((double)c[i].logit - (double)maxl) * inv_t);
    double u = next_unit(s->rng) * total, acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        acc += exp(((double)c[i].logit - (double)maxl) * inv_t);
        if (u < acc)
            return c[i].id;
    }
    return c[n - 1].id;
}
