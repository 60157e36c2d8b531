/*
 * engine/synth/synth_write.c -- writing a synthetic Gemma 4 model as GGUF:
 * the metadata keys (with the exact types llama.cpp requires,
 * docs/architecture.md E1, E12), then the tensor list of E2 with the
 * tensors that this configuration needs and no others.
 *
 * Weight scales keep activations finite and O(1): norm weights near 1,
 * projections N(0, 1/fan_in), q/k norm weights near d^-1/4 (attention
 * scale is 1), embeddings so that the scaled input and the tied logits
 * have a spread of about 3, a router with logits of about 3 so top-k
 * choices are decisive.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/format/gguf_write.h"
#include "engine/synth/synth.h"
#include "engine/synth/synth_weights.h"

#define TRY(x)           \
    do {                 \
        if ((x) < 0)     \
            goto fail;   \
    } while (0)

/* llama_ftype of a file whose matrices are `type` (general.file_type). */
static uint32_t file_type_of(gm_type type)
{
    switch (type) {
    case GM_TYPE_F32: return 0;
    case GM_TYPE_F16: return 1;
    case GM_TYPE_Q4_0: return 2;
    case GM_TYPE_Q4_1: return 3;
    case GM_TYPE_Q8_0: return 7;
    case GM_TYPE_Q5_0: return 8;
    case GM_TYPE_Q5_1: return 9;
    case GM_TYPE_Q2_K: return 10;
    case GM_TYPE_Q3_K: return 11; /* Q3_K_S */
    case GM_TYPE_Q4_K: return 14; /* Q4_K_S */
    case GM_TYPE_Q5_K: return 16; /* Q5_K_S */
    case GM_TYPE_Q6_K: return 18;
    case GM_TYPE_BF16: return 32;
    default: return 0;
    }
}

typedef struct tensor_list {
    synth_tensor *t;
    size_t n, cap;
} tensor_list;

static int add_tensor(tensor_list *l, const gm_synth_opts *opts, const char *name,
                      uint32_t n_dims, uint64_t ne0, uint64_t ne1, uint64_t ne2, synth_init init,
                      float a, float b, cm_err *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        synth_tensor *t = realloc(l->t, cap * sizeof(*t));
        if (!t)
            return cm_err_set(err, "synthetic model: out of memory for the tensor list");
        l->t = t;
        l->cap = cap;
    }
    synth_tensor *t = &l->t[l->n++];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = ne2;
    t->type = gm_synth_tensor_type(opts->type, name, n_dims, ne0);
    t->init = init;
    t->a = a;
    t->b = b;
    t->seed = opts->seed;
    t->n_threads = opts->n_threads;
    return 0;
}

static float inv_sqrt(uint64_t n)
{
    return 1.0f / sqrtf((float)n);
}

/* The tensors of s2, in the converter's spirit: globals, then each block. */
static int build_tensors(const gm_synth_config *c, const gm_synth_opts *o, tensor_list *l,
                         cm_err *err)
{
    const uint64_t E = c->n_embd, V = c->n_vocab, P = c->n_embd_per_layer, L = c->n_layer;
    char nm[SYNTH_TENSOR_NAME_MAX];
    float emb = 3.0f * inv_sqrt(E);
    TRY(add_tensor(l, o, "token_embd.weight", 2, E, V, 1, SYNTH_INIT_NORMAL, emb, 0, err));
    if (c->untied)
        TRY(add_tensor(l, o, "output.weight", 2, E, V, 1, SYNTH_INIT_NORMAL, emb, 0, err));
    TRY(add_tensor(l, o, "output_norm.weight", 1, E, 1, 1, SYNTH_INIT_NORM, 1.0f, 0, err));
    bool any_full = false;
    for (uint32_t il = 0; il < c->n_layer; il++)
        any_full |= !c->swa[il];
    if (any_full) {
        TRY(add_tensor(l, o, "rope_freqs.weight", 1, c->head_dim_full / 2, 1, 1,
                       SYNTH_INIT_ROPE_FREQS, 0, 0, err));
        l->t[l->n - 1].n_keep =
            (uint64_t)((float)c->head_dim_full * c->partial_rotary_full / 2.0f);
    }
    if (P > 0) {
        TRY(add_tensor(l, o, "per_layer_token_embd.weight", 2, P * L, V, 1, SYNTH_INIT_NORMAL,
                       inv_sqrt(P), 0, err));
        TRY(add_tensor(l, o, "per_layer_model_proj.weight", 2, E, P * L, 1, SYNTH_INIT_NORMAL,
                       inv_sqrt(E), 0, err));
        TRY(add_tensor(l, o, "per_layer_proj_norm.weight", 1, P, 1, 1, SYNTH_INIT_NORM, 1.0f, 0,
                       err));
    }
#define BLK(suffix) (snprintf(nm, sizeof(nm), "blk.%u.%s", il, suffix), nm)
    for (uint32_t il = 0; il < c->n_layer; il++) {
        const uint64_t d = gm_synth_head_dim(c, il), H = c->n_head,
                       Hkv = gm_synth_n_head_kv(c, il), F = gm_synth_n_ff(c, il);
        const float qk_norm = powf((float)d, -0.25f);
        TRY(add_tensor(l, o, BLK("attn_norm.weight"), 1, E, 1, 1, SYNTH_INIT_NORM, 1, 0, err));
        TRY(add_tensor(l, o, BLK("attn_q.weight"), 2, E, d * H, 1, SYNTH_INIT_NORMAL,
                       inv_sqrt(E), 0, err));
        TRY(add_tensor(l, o, BLK("attn_q_norm.weight"), 1, d, 1, 1, SYNTH_INIT_NORM, qk_norm, 0,
                       err));
        if (gm_synth_has_kv(c, il)) {
            TRY(add_tensor(l, o, BLK("attn_k.weight"), 2, E, d * Hkv, 1, SYNTH_INIT_NORMAL,
                           inv_sqrt(E), 0, err));
            TRY(add_tensor(l, o, BLK("attn_k_norm.weight"), 1, d, 1, 1, SYNTH_INIT_NORM, qk_norm,
                           0, err));
            if (gm_synth_has_v(c, il))
                TRY(add_tensor(l, o, BLK("attn_v.weight"), 2, E, d * Hkv, 1, SYNTH_INIT_NORMAL,
                               inv_sqrt(E), 0, err));
        }
        TRY(add_tensor(l, o, BLK("attn_output.weight"), 2, d * H, E, 1, SYNTH_INIT_NORMAL,
                       inv_sqrt(d * H), 0, err));
        TRY(add_tensor(l, o, BLK("post_attention_norm.weight"), 1, E, 1, 1, SYNTH_INIT_NORM, 1,
                       0, err));
        if (c->layer_output_scale)
            TRY(add_tensor(l, o, BLK("layer_output_scale.weight"), 1, 1, 1, 1,
                           SYNTH_INIT_UNIFORM, 0.5f, 1.0f, err));
        TRY(add_tensor(l, o, BLK("ffn_norm.weight"), 1, E, 1, 1, SYNTH_INIT_NORM, 1, 0, err));
        TRY(add_tensor(l, o, BLK("ffn_gate.weight"), 2, E, F, 1, SYNTH_INIT_NORMAL, inv_sqrt(E),
                       0, err));
        TRY(add_tensor(l, o, BLK("ffn_up.weight"), 2, E, F, 1, SYNTH_INIT_NORMAL, inv_sqrt(E), 0,
                       err));
        TRY(add_tensor(l, o, BLK("ffn_down.weight"), 2, F, E, 1, SYNTH_INIT_NORMAL, inv_sqrt(F),
                       0, err));
        TRY(add_tensor(l, o, BLK("post_ffw_norm.weight"), 1, E, 1, 1, SYNTH_INIT_NORM, 1, 0,
                       err));
        if (c->n_expert > 0) {
            const uint64_t X = c->n_expert, Fe = c->n_ff_exp;
            TRY(add_tensor(l, o, BLK("ffn_gate_inp.weight"), 2, E, X, 1, SYNTH_INIT_NORMAL, 3.0f,
                           0, err));
            TRY(add_tensor(l, o, BLK("ffn_gate_inp.scale"), 1, E, 1, 1, SYNTH_INIT_NORM, 1, 0,
                           err));
            TRY(add_tensor(l, o, BLK("pre_ffw_norm_2.weight"), 1, E, 1, 1, SYNTH_INIT_NORM, 1, 0,
                           err));
            TRY(add_tensor(l, o, BLK("post_ffw_norm_1.weight"), 1, E, 1, 1, SYNTH_INIT_NORM, 1,
                           0, err));
            TRY(add_tensor(l, o, BLK("post_ffw_norm_2.weight"), 1, E, 1, 1, SYNTH_INIT_NORM, 1,
                           0, err));
            if (c->fused_gate_up) {
                TRY(add_tensor(l, o, BLK("ffn_gate_up_exps.weight"), 3, E, 2 * Fe, X,
                               SYNTH_INIT_NORMAL, inv_sqrt(E), 0, err));
            } else {
                TRY(add_tensor(l, o, BLK("ffn_gate_exps.weight"), 3, E, Fe, X, SYNTH_INIT_NORMAL,
                               inv_sqrt(E), 0, err));
                TRY(add_tensor(l, o, BLK("ffn_up_exps.weight"), 3, E, Fe, X, SYNTH_INIT_NORMAL,
                               inv_sqrt(E), 0, err));
            }
            TRY(add_tensor(l, o, BLK("ffn_down_exps.weight"), 3, Fe, E, X, SYNTH_INIT_NORMAL,
                           inv_sqrt(Fe), 0, err));
            TRY(add_tensor(l, o, BLK("ffn_down_exps.scale"), 1, X, 1, 1, SYNTH_INIT_UNIFORM, 0.5f,
                           1.5f, err));
        }
        if (P > 0) {
            TRY(add_tensor(l, o, BLK("inp_gate.weight"), 2, E, P, 1, SYNTH_INIT_NORMAL,
                           inv_sqrt(E), 0, err));
            TRY(add_tensor(l, o, BLK("proj.weight"), 2, P, E, 1, SYNTH_INIT_NORMAL, inv_sqrt(P),
                           0, err));
            TRY(add_tensor(l, o, BLK("post_norm.weight"), 1, E, 1, 1, SYNTH_INIT_NORM, 1, 0,
                           err));
        }
    }
#undef BLK
    return 0;
fail:
    return -1;
}

static int add_metadata(gguf_writer *w, const gm_synth_config *c, const gm_synth_opts *o,
                        cm_err *err)
{
    const uint32_t L = c->n_layer;
    int32_t *ints = malloc(L * sizeof(*ints));
    uint8_t *flags = malloc(L * sizeof(*flags));
    if (!ints || !flags) {
        free(ints);
        free(flags);
        return cm_err_set(err, "synthetic model: out of memory");
    }
    char name[128];
    snprintf(name, sizeof(name), "gemma4-synthetic-%s-%s-seed%llu", c->preset,
             gm_type_name(o->type), (unsigned long long)o->seed);
    TRY(gguf_writer_add_str(w, "general.architecture", "gemma4", err));
    TRY(gguf_writer_add_str(w, "general.type", "model", err));
    TRY(gguf_writer_add_str(w, "general.name", name, err));
    TRY(gguf_writer_add_u32(w, "gemma4.block_count", L, err));
    TRY(gguf_writer_add_u32(w, "gemma4.context_length", c->n_ctx_train, err));
    TRY(gguf_writer_add_u32(w, "gemma4.embedding_length", c->n_embd, err));
    bool ff_varies = false;
    for (uint32_t il = 0; il < L; il++) {
        ints[il] = (int32_t)gm_synth_n_ff(c, il);
        ff_varies |= ints[il] != ints[0];
    }
    if (ff_varies) /* the converter writes the double-wide MLP as a per-layer array */
        TRY(gguf_writer_add_arr(w, "gemma4.feed_forward_length", GGUF_TYPE_INT32, ints, L, err));
    else
        TRY(gguf_writer_add_u32(w, "gemma4.feed_forward_length", c->n_ff, err));
    TRY(gguf_writer_add_u32(w, "gemma4.attention.head_count", c->n_head, err));
    for (uint32_t il = 0; il < L; il++)
        ints[il] = (int32_t)gm_synth_n_head_kv(c, il);
    TRY(gguf_writer_add_arr(w, "gemma4.attention.head_count_kv", GGUF_TYPE_INT32, ints, L, err));
    TRY(gguf_writer_add_f32(w, "gemma4.rope.freq_base", c->rope_base, err));
    TRY(gguf_writer_add_f32(w, "gemma4.rope.freq_base_swa", c->rope_base_swa, err));
    TRY(gguf_writer_add_f32(w, "gemma4.attention.layer_norm_rms_epsilon", c->eps, err));
    if (c->n_expert > 0) {
        TRY(gguf_writer_add_u32(w, "gemma4.expert_count", c->n_expert, err));
        TRY(gguf_writer_add_u32(w, "gemma4.expert_used_count", c->n_expert_used, err));
    }
    TRY(gguf_writer_add_u32(w, "gemma4.attention.key_length", c->head_dim_full, err));
    TRY(gguf_writer_add_u32(w, "gemma4.attention.value_length", c->head_dim_full, err));
    TRY(gguf_writer_add_u32(w, "general.file_type", file_type_of(o->type), err));
    TRY(gguf_writer_add_f32(w, "gemma4.final_logit_softcapping", c->softcap, err));
    TRY(gguf_writer_add_u32(w, "gemma4.attention.sliding_window", c->sliding_window, err));
    TRY(gguf_writer_add_u32(w, "gemma4.attention.shared_kv_layers", c->n_shared_kv, err));
    TRY(gguf_writer_add_u32(w, "gemma4.embedding_length_per_layer_input", c->n_embd_per_layer,
                            err));
    for (uint32_t il = 0; il < L; il++)
        flags[il] = c->swa[il] ? 1 : 0;
    TRY(gguf_writer_add_arr(w, "gemma4.attention.sliding_window_pattern", GGUF_TYPE_BOOL, flags,
                            L, err));
    TRY(gguf_writer_add_u32(w, "gemma4.attention.key_length_swa", c->head_dim_swa, err));
    TRY(gguf_writer_add_u32(w, "gemma4.attention.value_length_swa", c->head_dim_swa, err));
    if (c->n_expert > 0)
        TRY(gguf_writer_add_u32(w, "gemma4.expert_feed_forward_length", c->n_ff_exp, err));
    /* proportional RoPE: full head dim, rope_freqs disables the unrotated pairs */
    TRY(gguf_writer_add_u32(w, "gemma4.rope.dimension_count", c->head_dim_full, err));
    TRY(gguf_writer_add_u32(w, "gemma4.rope.dimension_count_swa", c->head_dim_swa, err));
    TRY(gguf_writer_add_u32(w, "general.quantization_version", 2, err));
    free(ints);
    free(flags);
    return 0;
fail:
    free(ints);
    free(flags);
    return -1;
}

static int add_tokenizer(gguf_writer *w, const gm_synth_config *c, const gm_synth_opts *o,
                         cm_err *err)
{
    gm_synth_vocab v;
    if (gm_synth_vocab_build(c->n_vocab, &v, err) < 0)
        return -1;
    TRY(gguf_writer_add_str(w, "tokenizer.ggml.model", "gemma4", err));
    TRY(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.tokens,
                                v.n_tokens, err));
    TRY(gguf_writer_add_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, v.scores, v.n_tokens,
                            err));
    TRY(gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v.types,
                            v.n_tokens, err));
    TRY(gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v.merges,
                                v.n_merges, err));
    TRY(gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 2, err));
    TRY(gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 1, err));
    TRY(gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 3, err));
    TRY(gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", 0, err));
    TRY(gguf_writer_add_u32(w, "tokenizer.ggml.mask_token_id", 4, err));
    TRY(gguf_writer_add_str(w, "tokenizer.chat_template",
                            o->chat_template ? o->chat_template : gm_synth_chat_template(), err));
    TRY(gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", false, err));
    TRY(gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true, err));
    gm_synth_vocab_free(&v);
    return 0;
fail:
    gm_synth_vocab_free(&v);
    return -1;
}

int gm_synth_write(const gm_synth_config *cfg, const gm_synth_opts *opts, const char *path,
                   cm_err *err)
{
    if (gm_synth_validate(cfg, err) < 0)
        return cm_err_prefix(err, "synthetic model '%s'", cfg->preset);
    if (!gm_type_supported(opts->type))
        return cm_err_set(err, "synthetic model: tensor type %d is not supported",
                          (int)opts->type);
    gm_synth_opts o = *opts;
    if (o.n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.n_threads = n > 0 ? (uint32_t)n : 1;
    }
    opts = &o;
    gguf_writer *w = NULL;
    tensor_list tl = {NULL, 0, 0};
    TRY(gguf_writer_new(&w, err));
    TRY(add_metadata(w, cfg, opts, err));
    TRY(add_tokenizer(w, cfg, opts, err));
    TRY(build_tensors(cfg, opts, &tl, err));
    for (size_t i = 0; i < tl.n; i++)
        TRY(gguf_writer_add_tensor(w, tl.t[i].name, tl.t[i].type, tl.t[i].n_dims, tl.t[i].ne,
                                   synth_tensor_fill, &tl.t[i], err));
    TRY(gguf_writer_write(w, path, err));
    gguf_writer_free(w);
    free(tl.t);
    return 0;
fail:
    gguf_writer_free(w);
    free(tl.t);
    return -1;
}
