/*
 * engine/text/vocab.c -- building the Gemma 4 tokenizer's tables from a
 * GGUF file or from memory (docs/architecture.md E12.1, E12.2 fix-ups):
 * token texts and attributes, the merge ranks, special ids, and the
 * end-of-generation set, exactly as llama.cpp's llama_vocab::load does for
 * tokenizer.ggml.model = "gemma4".
 */
#include "engine/text/vocab_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/checked.h"

#define EMPTY_SLOT UINT64_MAX

void gm_vocab_desc_init(gm_vocab_desc *d)
{
    memset(d, 0, sizeof(*d));
    d->bos_id = d->eos_id = d->eot_id = d->eom_id = d->unk_id = d->pad_id = -1;
}

void gm_vocab_free(gm_vocab *v)
{
    if (!v)
        return;
    free(v->text);
    free(v->text_off);
    free(v->attr);
    gm_bytemap_free(&v->tok);
    free(v->pairs);
    gm_bytemap_free(&v->str_merges);
    free(v->suppress);
    free(v->special_lens);
    free(v);
}

/* --- the merge table ------------------------------------------------------ */

static uint64_t pair_hash(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    key *= 0xc4ceb9fe1a85ec53ull;
    key ^= key >> 33;
    return key;
}

static gm_pair_slot *pair_find(const gm_vocab *v, uint64_t key)
{
    for (uint64_t i = pair_hash(key) & v->pair_mask;; i = (i + 1) & v->pair_mask) {
        gm_pair_slot *s = &v->pairs[i];
        if (s->key == key || s->key == EMPTY_SLOT)
            return s;
    }
}

int32_t gm_vocab_merge_rank(const gm_vocab *v, int32_t left_id, const char *left,
                            size_t left_len, int32_t right_id, const char *right,
                            size_t right_len)
{
    if (left_id >= 0 && right_id >= 0) {
        if (!v->pairs)
            return -1;
        uint64_t key = ((uint64_t)(uint32_t)left_id << 32) | (uint32_t)right_id;
        const gm_pair_slot *s = pair_find(v, key);
        return s->key == EMPTY_SLOT ? -1 : (int32_t)s->rank;
    }
    if (gm_bytemap_count(&v->str_merges) == 0 || left_len > UINT32_MAX)
        return -1;
    /* key: u32 left length || left || right */
    size_t klen = 4 + left_len + right_len;
    char small[256];
    char *key = klen <= sizeof(small) ? small : malloc(klen);
    if (!key)
        return -1;
    uint32_t l32 = (uint32_t)left_len;
    memcpy(key, &l32, 4);
    memcpy(key + 4, left, left_len);
    memcpy(key + 4 + left_len, right, right_len);
    int32_t rank = gm_bytemap_get(&v->str_merges, key, klen);
    if (key != small)
        free(key);
    return rank;
}

/* One merge on its way into the tables. */
typedef struct merge_job {
    const char *left, *right;
    size_t left_len, right_len;
    uint32_t left_hash, right_hash;
    int32_t left_id, right_id;
    bool valid;
} merge_job;

#define MERGE_BLOCK 32

static int add_str_merge(gm_vocab *v, const merge_job *j, int32_t rank, cm_err *err)
{
    if (j->left_len > UINT32_MAX)
        return cm_err_set(err, "tokenizer.ggml.merges[%" PRId32 "]: too long", rank);
    size_t klen = 4 + j->left_len + j->right_len;
    char *key = malloc(klen);
    if (!key)
        return cm_err_set(err, "tokenizer.ggml.merges: out of memory");
    uint32_t l32 = (uint32_t)j->left_len;
    memcpy(key, &l32, 4);
    memcpy(key + 4, j->left, j->left_len);
    memcpy(key + 4 + j->left_len, j->right, j->right_len);
    int rc = gm_bytemap_put(&v->str_merges, key, klen, rank, err);
    free(key);
    return rc < 0 ? -1 : 0;
}

/*
 * The merges, rank = index, the first occurrence of a pair winning. Each
 * entry "left right" is split at the first space at byte index >= 1 (one
 * without such a space is llama.cpp's pair ("", ""), which never matches).
 * Half a million merges make three random lookups each, so they go in
 * blocks whose memory is prefetched stage by stage.
 */
static int add_merges(gm_vocab *v, const gm_vocab_desc *d, cm_err *err)
{
    merge_job job[MERGE_BLOCK];
    for (size_t base = 0; base < d->n_merges; base += MERGE_BLOCK) {
        size_t nb = d->n_merges - base < MERGE_BLOCK ? d->n_merges - base : MERGE_BLOCK;
        for (size_t k = 0; k < nb; k++) {
            merge_job *j = &job[k];
            const char *m = d->merges[base + k];
            size_t len = d->merge_lens ? d->merge_lens[base + k] : strlen(m);
            const char *sp = len > 1 ? memchr(m + 1, ' ', len - 1) : NULL;
            j->valid = sp != NULL;
            if (!j->valid)
                continue;
            j->left = m;
            j->left_len = (size_t)(sp - m);
            j->right = sp + 1;
            j->right_len = len - j->left_len - 1;
            j->left_hash = gm_bytemap_hash(j->left, j->left_len);
            j->right_hash = gm_bytemap_hash(j->right, j->right_len);
            gm_bytemap_prefetch_slot(&v->tok, j->left_hash);
            gm_bytemap_prefetch_slot(&v->tok, j->right_hash);
        }
        for (size_t k = 0; k < nb; k++) {
            if (!job[k].valid)
                continue;
            gm_bytemap_prefetch_key(&v->tok, job[k].left_hash);
            gm_bytemap_prefetch_key(&v->tok, job[k].right_hash);
        }
        for (size_t k = 0; k < nb; k++) {
            merge_job *j = &job[k];
            if (!j->valid)
                continue;
            j->left_id = gm_bytemap_get_hashed(&v->tok, j->left_hash, j->left, j->left_len);
            j->right_id = gm_bytemap_get_hashed(&v->tok, j->right_hash, j->right, j->right_len);
            if (j->left_id >= 0 && j->right_id >= 0) {
                uint64_t key = ((uint64_t)(uint32_t)j->left_id << 32) | (uint32_t)j->right_id;
                __builtin_prefetch(&v->pairs[pair_hash(key) & v->pair_mask], 1);
            }
        }
        for (size_t k = 0; k < nb; k++) {
            merge_job *j = &job[k];
            int32_t rank = (int32_t)(base + k);
            if (!j->valid)
                continue;
            if (j->left_id < 0 || j->right_id < 0) {
                if (add_str_merge(v, j, rank, err) < 0)
                    return -1;
                continue;
            }
            uint64_t key = ((uint64_t)(uint32_t)j->left_id << 32) | (uint32_t)j->right_id;
            gm_pair_slot *slot = pair_find(v, key);
            if (slot->key == EMPTY_SLOT) {
                slot->key = key;
                slot->rank = rank;
            }
        }
    }
    return 0;
}

/* --- load-time fix-ups (llama_vocab::impl::load, after the special ids) ---- */

static int32_t find_first_of(gm_vocab *v, const char *const *list)
{
    for (size_t i = 0; list[i]; i++) {
        int32_t id = gm_bytemap_get(&v->tok, list[i], strlen(list[i]));
        if (id >= 0)
            return id;
    }
    return -1;
}

/* Texts llama.cpp recognizes by name (llama-vocab.cpp, "auto-detect special
 * tokens by text"); each found token also gets CONTROL. */
static const char *const eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<\xef\xbd\234end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
    "<end_of_utterance>", NULL};
static const char *const eom_texts[] = {"<|eom_id|>", NULL};
static const char *const fim_pre_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xef\xbd\234fim\xe2\x96\201begin\xef\xbd\x9c>",
    "<PRE>", "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL};
static const char *const fim_suf_texts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xef\xbd\234fim\xe2\x96\x81hole\xef\xbd\x9c>",
    "<SUF>", "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL};
static const char *const fim_mid_texts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xef\xbd\234fim\xe2\x96\201end\xef\xbd\x9c>",
    "<MID>", "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL};
static const char *const fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
                                            "[PAD]", NULL};
static const char *const fim_rep_texts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                            "<REPO>", "<reponame>", NULL};
static const char *const fim_sep_texts[] = {"<|file_sep|>", NULL};
/* Texts that end generation (and get CONTROL). */
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xef\xbd\234end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "[e~[", NULL};
static const char *const always_rendered_texts[] = {"<|channel|>", "<|message|>", "<|start|>",
                                                    "<|constrain|>", NULL};

static void mark_control(gm_vocab *v, int32_t id)
{
    if (id >= 0)
        v->attr[id] |= GM_TOKEN_ATTR_CONTROL;
}

static void set_eog(gm_vocab *v, int32_t id)
{
    if (gm_vocab_valid_id(v, id))
        v->attr[id] |= GM_TOKEN_ATTR_EOG_INTERNAL;
}

static bool contains_unused(const gm_vocab *v, int32_t id)
{
    size_t len;
    const char *t = gm_vocab_text_of(v, id, &len);
    const char *nul = memchr(t, '\0', len); /* llama.cpp uses strstr() */
    if (nul)
        len = (size_t)(nul - t);
    return len >= 6 && memmem(t, len, "unused", 6) != NULL;
}

static int32_t find_eog_text(const gm_vocab *v, const char *s)
{
    int32_t id = gm_bytemap_get(&v->tok, s, strlen(s));
    return id >= 0 && (v->attr[id] & GM_TOKEN_ATTR_EOG_INTERNAL) ? id : -1;
}

static void apply_fixups(gm_vocab *v, int32_t fim_ids[6])
{
    if (v->eot < 0) {
        v->eot = find_first_of(v, eot_texts);
        mark_control(v, v->eot);
    }
    if (v->eom < 0) {
        v->eom = find_first_of(v, eom_texts);
        mark_control(v, v->eom);
    }
    const char *const *fim_lists[6] = {fim_pre_texts, fim_suf_texts, fim_mid_texts,
                                       fim_pad_texts, fim_rep_texts, fim_sep_texts};
    for (int k = 0; k < 6; k++) {
        if (fim_ids[k] < 0) {
            fim_ids[k] = find_first_of(v, fim_lists[k]);
            mark_control(v, fim_ids[k]);
        }
    }
    for (uint32_t id = 0; id < v->n_tokens; id++)
        if ((v->attr[id] & GM_TOKEN_ATTR_CONTROL) && contains_unused(v, (int32_t)id))
            v->attr[id] |= GM_TOKEN_ATTR_UNUSED;

    for (int k = 3; k < 6; k++) /* fim pad, rep, sep end generation */
        set_eog(v, fim_ids[k]);
    for (size_t i = 0; eog_texts[i]; i++) {
        int32_t id = gm_bytemap_get(&v->tok, eog_texts[i], strlen(eog_texts[i]));
        if (id >= 0)
            v->attr[id] |= GM_TOKEN_ATTR_EOG_INTERNAL | GM_TOKEN_ATTR_CONTROL;
    }
    for (size_t i = 0; always_rendered_texts[i]; i++) {
        int32_t id = gm_bytemap_get(&v->tok, always_rendered_texts[i],
                                    strlen(always_rendered_texts[i]));
        if (id >= 0) /* gpt-oss: always rendered */
            v->attr[id] = GM_TOKEN_ATTR_USER_DEFINED | (v->attr[id] & GM_TOKEN_ATTR_EOG_INTERNAL);
    }
    set_eog(v, v->eos);
    set_eog(v, v->eot);
    set_eog(v, v->eom);

    /* o200k_harmony / solar-open: "<|end|>" is not an end of generation */
    int32_t end_id = find_eog_text(v, "<|end|>");
    bool has_return = find_eog_text(v, "<|return|>") >= 0;
    bool has_call = find_eog_text(v, "<|call|>") >= 0 || find_eog_text(v, "<|calls|>") >= 0;
    bool has_flush = find_eog_text(v, "<|flush|>") >= 0;
    if (end_id >= 0 && ((has_return && has_call) || (has_call && has_flush)))
        v->attr[end_id] = GM_TOKEN_ATTR_USER_DEFINED;

    /* gemma4: "</s>" is not an end of generation when <|tool_response> is */
    int32_t s_id = find_eog_text(v, "</s>");
    if (s_id >= 0 && find_eog_text(v, "<|tool_response>") >= 0)
        v->attr[s_id] = GM_TOKEN_ATTR_NORMAL;
}

static int cmp_u32_desc(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int build_special_cache(gm_vocab *v, cm_err *err)
{
    const uint32_t special = GM_TOKEN_ATTR_CONTROL | GM_TOKEN_ATTR_USER_DEFINED |
                             GM_TOKEN_ATTR_UNKNOWN;
    size_t n = 0;
    for (uint32_t id = 0; id < v->n_tokens; id++)
        if (v->attr[id] & special)
            n++;
    v->n_special = n;
    if (n == 0)
        return 0;
    uint32_t *lens = malloc(n * sizeof(*lens));
    if (!lens)
        return cm_err_set(err, "vocab: out of memory for %zu special tokens", n);
    size_t k = 0;
    for (uint32_t id = 0; id < v->n_tokens; id++) {
        if (!(v->attr[id] & special))
            continue;
        size_t len;
        const char *t = gm_vocab_text_of(v, (int32_t)id, &len);
        v->special_first[(unsigned char)t[0]] = true;
        lens[k++] = (uint32_t)len;
    }
    qsort(lens, n, sizeof(*lens), cmp_u32_desc);
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        if (d == 0 || lens[d - 1] != lens[i])
            lens[d++] = lens[i];
    v->special_lens = lens;
    v->n_special_lens = d;
    return 0;
}

static uint32_t attr_of_type(int32_t type)
{
    switch (type) {
    case GM_TOKEN_TYPE_NORMAL: return GM_TOKEN_ATTR_NORMAL;
    case GM_TOKEN_TYPE_UNKNOWN: return GM_TOKEN_ATTR_UNKNOWN;
    case GM_TOKEN_TYPE_CONTROL: return GM_TOKEN_ATTR_CONTROL;
    case GM_TOKEN_TYPE_USER_DEFINED: return GM_TOKEN_ATTR_USER_DEFINED;
    case GM_TOKEN_TYPE_UNUSED: return GM_TOKEN_ATTR_UNUSED;
    case GM_TOKEN_TYPE_BYTE: return GM_TOKEN_ATTR_BYTE;
    default: return 0; /* undefined */
    }
}

static int32_t checked_id(const gm_vocab *v, int32_t id)
{
    return gm_vocab_valid_id(v, id) ? id : -1;
}

static int build(const gm_vocab_desc *d, const int32_t fim_in[6], gm_vocab **out, cm_err *err)
{
    *out = NULL;
    if (d->n_tokens == 0)
        return cm_err_set(err, "vocab: no tokens");
    if (d->n_tokens > (size_t)INT32_MAX - 1)
        return cm_err_set(err, "vocab: %zu tokens is too many", d->n_tokens);
    if (d->n_merges > (size_t)INT32_MAX)
        return cm_err_set(err, "vocab: %zu merges is too many", d->n_merges);
    gm_vocab *v = calloc(1, sizeof(*v));
    if (!v)
        return cm_err_set(err, "vocab: out of memory");
    v->n_tokens = (uint32_t)d->n_tokens;
    char empty_buf[32];

    /* token texts ("[EMPTY_<i>]" for an empty one, as llama.cpp) */
    size_t total = 0;
    for (size_t i = 0; i < d->n_tokens; i++) {
        size_t len = d->token_lens ? d->token_lens[i] : strlen(d->tokens[i]);
        if (len == 0)
            len = (size_t)snprintf(empty_buf, sizeof(empty_buf), "[EMPTY_%zu]", i);
        if (!cm_add_size(total, len, &total))
            goto oom;
    }
    v->text = malloc(total ? total : 1);
    v->text_off = malloc((d->n_tokens + 1) * sizeof(*v->text_off));
    v->attr = malloc(d->n_tokens * sizeof(*v->attr));
    if (!v->text || !v->text_off || !v->attr)
        goto oom;
    if (gm_bytemap_init(&v->tok, d->n_tokens, err) < 0 ||
        gm_bytemap_init(&v->str_merges, 16, err) < 0)
        goto fail;
    size_t off = 0;
    for (size_t i = 0; i < d->n_tokens; i++) {
        const char *t = d->tokens[i];
        size_t len = d->token_lens ? d->token_lens[i] : strlen(t);
        if (len == 0) {
            len = (size_t)snprintf(empty_buf, sizeof(empty_buf), "[EMPTY_%zu]", i);
            t = empty_buf;
        }
        memcpy(v->text + off, t, len);
        v->text_off[i] = off;
        int rc = gm_bytemap_put(&v->tok, v->text + off, len, (int32_t)i, err);
        if (rc < 0)
            goto fail;
        if (rc == 0) {
            cm_err_set(err, "vocab: token %zu ('%.*s') repeats token %" PRId32, i,
                       (int)(len > 40 ? 40 : len), t, gm_bytemap_get(&v->tok, t, len));
            goto fail;
        }
        off += len;
        v->attr[i] = d->token_types ? attr_of_type(d->token_types[i]) : GM_TOKEN_ATTR_NORMAL;
    }
    v->text_off[d->n_tokens] = off;

    /* merges: rank = index, first occurrence wins */
    size_t n_slots = 16;
    while (n_slots < d->n_merges * 2)
        n_slots *= 2;
    v->pairs = malloc(n_slots * sizeof(*v->pairs));
    if (!v->pairs)
        goto oom;
    for (size_t i = 0; i < n_slots; i++)
        v->pairs[i].key = EMPTY_SLOT;
    v->pair_mask = n_slots - 1;
    if (add_merges(v, d, err) < 0)
        goto fail;
    v->n_merges = d->n_merges;

    v->bos = checked_id(v, d->bos_id);
    v->eos = checked_id(v, d->eos_id);
    v->eot = checked_id(v, d->eot_id);
    v->eom = checked_id(v, d->eom_id);
    v->unk = checked_id(v, d->unk_id);
    v->pad = checked_id(v, d->pad_id);
    v->add_bos = true; /* forced for gemma4 */
    v->add_eos = d->add_eos;

    if (d->n_suppress) {
        v->suppress = malloc(d->n_suppress * sizeof(*v->suppress));
        if (!v->suppress)
            goto oom;
        for (size_t i = 0; i < d->n_suppress; i++)
            if (gm_vocab_valid_id(v, d->suppress[i]))
                v->suppress[v->n_suppress++] = d->suppress[i];
    }

    int32_t fim[6];
    for (int k = 0; k < 6; k++)
        fim[k] = checked_id(v, fim_in ? fim_in[k] : -1);
    apply_fixups(v, fim);
    if (build_special_cache(v, err) < 0)
        goto fail;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof(name), "<0x%02X>", b);
        v->byte_ids[b] = gm_bytemap_get(&v->tok, name, 6);
    }
    *out = v;
    return 0;
oom:
    cm_err_set(err, "vocab: out of memory for %zu tokens", d->n_tokens);
fail:
    gm_vocab_free(v);
    return -1;
}

int gm_vocab_build(const gm_vocab_desc *d, gm_vocab **out, cm_err *err)
{
    return build(d, NULL, out, err);
}

/* --- reading tokenizer.* from a GGUF file --------------------------------- */

static int get_str_array(const gguf_file *f, const char *key, bool required, const char ***ptrs,
                         size_t **lens, size_t *n, cm_err *err)
{
    *ptrs = NULL;
    *lens = NULL;
    *n = 0;
    int64_t idx = gguf_find_key(f, key);
    if (idx < 0)
        return required ? cm_err_set(err, "%s: key not found", key) : 0;
    gguf_value_type et;
    uint64_t count;
    if (gguf_arr_info(f, idx, &et, &count) < 0 || et != GGUF_TYPE_STRING)
        return cm_err_set(err, "%s: not an array of strings", key);
    if (count > (uint64_t)INT32_MAX)
        return cm_err_set(err, "%s: %" PRIu64 " entries is too many", key, count);
    *ptrs = malloc((count ? count : 1) * sizeof(**ptrs));
    *lens = malloc((count ? count : 1) * sizeof(**lens));
    if (!*ptrs || !*lens) {
        free(*ptrs);
        free(*lens);
        *ptrs = NULL;
        *lens = NULL;
        return cm_err_set(err, "%s: out of memory", key);
    }
    for (uint64_t j = 0; j < count; j++) {
        gguf_str s = gguf_arr_str(f, idx, j);
        (*ptrs)[j] = s.ptr ? s.ptr : "";
        (*lens)[j] = s.ptr ? (size_t)s.len : 0;
    }
    *n = (size_t)count;
    return 0;
}

static int get_i32_array(const gguf_file *f, const char *key, int32_t **out, size_t *n,
                         cm_err *err)
{
    *out = NULL;
    *n = 0;
    int64_t idx = gguf_find_key(f, key);
    if (idx < 0)
        return 0;
    gguf_value_type et;
    uint64_t count;
    if (gguf_arr_info(f, idx, &et, &count) < 0 || et != GGUF_TYPE_INT32)
        return cm_err_set(err, "%s: invalid type (want an array of int32)", key);
    if (count > (uint64_t)INT32_MAX)
        return cm_err_set(err, "%s: %" PRIu64 " entries is too many", key, count);
    *out = malloc((count ? count : 1) * sizeof(**out));
    if (!*out)
        return cm_err_set(err, "%s: out of memory", key);
    for (uint64_t j = 0; j < count; j++) {
        int64_t x = 0;
        if (gguf_arr_int(f, idx, j, &x) < 0) {
            free(*out);
            *out = NULL;
            return cm_err_set(err, "%s: cannot read entry %" PRIu64, key, j);
        }
        (*out)[j] = (int32_t)x;
    }
    *n = (size_t)count;
    return 0;
}

/* An optional special id: -1 when absent or out of int32 range. */
static int get_id(const gguf_file *f, const char *key, int32_t *out, cm_err *err)
{
    *out = -1;
    if (gguf_find_key(f, key) < 0)
        return 0;
    int64_t x;
    if (gguf_get_int(f, key, &x, err) < 0)
        return -1;
    if (x >= 0 && x <= INT32_MAX)
        *out = (int32_t)x;
    return 0;
}

static int get_opt_bool(const gguf_file *f, const char *key, bool *out, cm_err *err)
{
    if (gguf_find_key(f, key) < 0)
        return 0;
    return gguf_get_bool(f, key, out, err);
}

int gm_vocab_load(const gguf_file *f, gm_vocab **out, cm_err *err)
{
    *out = NULL;
    gguf_str model;
    if (gguf_get_str(f, "tokenizer.ggml.model", &model, err) < 0)
        return cm_err_prefix(err, "tokenizer");
    if (model.len != 6 || memcmp(model.ptr, "gemma4", 6) != 0)
        return cm_err_set(err, "tokenizer.ggml.model is '%.*s'; only 'gemma4' is supported",
                          (int)(model.len > 40 ? 40 : model.len), model.ptr);

    gm_vocab_desc d;
    gm_vocab_desc_init(&d);
    const char **tok = NULL, **mer = NULL;
    size_t *tok_len = NULL, *mer_len = NULL, n_types = 0;
    int32_t *types = NULL, *suppress = NULL;
    int32_t fim[6], dep[3];
    int rc = -1;
    if (get_str_array(f, "tokenizer.ggml.tokens", true, &tok, &tok_len, &d.n_tokens, err) < 0 ||
        get_str_array(f, "tokenizer.ggml.merges", true, &mer, &mer_len, &d.n_merges, err) < 0 ||
        get_i32_array(f, "tokenizer.ggml.token_type", &types, &n_types, err) < 0 ||
        get_i32_array(f, "tokenizer.ggml.suppress_tokens", &suppress, &d.n_suppress, err) < 0)
        goto out;
    if (types && n_types < d.n_tokens) {
        cm_err_set(err, "tokenizer.ggml.token_type: %zu entries for %zu tokens", n_types,
                   d.n_tokens);
        goto out;
    }
    if (get_id(f, "tokenizer.ggml.bos_token_id", &d.bos_id, err) < 0 ||
        get_id(f, "tokenizer.ggml.eos_token_id", &d.eos_id, err) < 0 ||
        get_id(f, "tokenizer.ggml.eot_token_id", &d.eot_id, err) < 0 ||
        get_id(f, "tokenizer.ggml.eom_token_id", &d.eom_id, err) < 0 ||
        get_id(f, "tokenizer.ggml.unknown_token_id", &d.unk_id, err) < 0 ||
        get_id(f, "tokenizer.ggml.padding_token_id", &d.pad_id, err) < 0 ||
        get_id(f, "tokenizer.ggml.fim_pre_token_id", &fim[0], err) < 0 ||
        get_id(f, "tokenizer.ggml.fim_suf_token_id", &fim[1], err) < 0 ||
        get_id(f, "tokenizer.ggml.fim_mid_token_id", &fim[2], err) < 0 ||
        get_id(f, "tokenizer.ggml.fim_pad_token_id", &fim[3], err) < 0 ||
        get_id(f, "tokenizer.ggml.fim_rep_token_id", &fim[4], err) < 0 ||
        get_id(f, "tokenizer.ggml.fim_sep_token_id", &fim[5], err) < 0 ||
        get_id(f, "tokenizer.ggml.prefix_token_id", &dep[0], err) < 0 ||
        get_id(f, "tokenizer.ggml.suffix_token_id", &dep[1], err) < 0 ||
        get_id(f, "tokenizer.ggml.middle_token_id", &dep[2], err) < 0)
        goto out;
    for (int k = 0; k < 3; k++) /* the deprecated keys are read last and win */
        if (dep[k] >= 0 && (size_t)dep[k] < d.n_tokens)
            fim[k] = dep[k];
    bool add_bos = true;
    if (get_opt_bool(f, "tokenizer.ggml.add_bos_token", &add_bos, err) < 0 ||
        get_opt_bool(f, "tokenizer.ggml.add_eos_token", &d.add_eos, err) < 0)
        goto out;
    d.tokens = tok;
    d.token_lens = tok_len;
    d.token_types = types;
    d.merges = mer;
    d.merge_lens = mer_len;
    d.suppress = suppress;
    rc = build(&d, fim, out, err);
out:
    free(tok);
    free(tok_len);
    free(mer);
    free(mer_len);
    free(types);
    free(suppress);
    return rc;
}

/* --- accessors --------------------------------------------------------------- */

uint32_t gm_vocab_n_tokens(const gm_vocab *v)
{
    return v->n_tokens;
}

int32_t gm_vocab_bos(const gm_vocab *v)
{
    return v->bos;
}

int32_t gm_vocab_eos(const gm_vocab *v)
{
    return v->eos;
}

bool gm_vocab_is_eog(const gm_vocab *v, int32_t id)
{
    return gm_vocab_valid_id(v, id) && (v->attr[id] & GM_TOKEN_ATTR_EOG_INTERNAL);
}

int32_t gm_vocab_find(const gm_vocab *v, const char *text)
{
    return gm_bytemap_get(&v->tok, text, strlen(text));
}

size_t gm_vocab_suppressed(const gm_vocab *v, const int32_t **ids)
{
    *ids = v->suppress;
    return v->n_suppress;
}

uint32_t gm_vocab_token_attr(const gm_vocab *v, int32_t id)
{
    return gm_vocab_valid_id(v, id) ? v->attr[id] & ~GM_TOKEN_ATTR_EOG_INTERNAL : 0;
}

const char *gm_vocab_token_text(const gm_vocab *v, int32_t id, size_t *len)
{
    if (!gm_vocab_valid_id(v, id)) {
        *len = 0;
        return NULL;
    }
    return gm_vocab_text_of(v, id, len);
}

size_t gm_vocab_n_merges(const gm_vocab *v)
{
    return v->n_merges;
}
