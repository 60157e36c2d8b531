/*
 * engine/synth/synth.h -- synthetic Gemma 4 models for tests and benchmarks.
 *
 * A gm_synth_config describes a complete `gemma4` model (layer pattern,
 * head sizes, PLE, shared-KV layers, MoE ...). Presets give small test
 * models ("tiny", "tiny-moe") and the real shapes ("e2b", "e4b",
 * "26b-a4b", "31b", docs/architecture.md E14), which gm_synth_set_layers()
 * and gm_synth_set_vocab() shrink. gm_synth_write() writes the model as a
 * GGUF with every metadata key and tensor llama.cpp's converter writes,
 * a synthetic BPE vocabulary with the real special-token ids, the chat
 * template, and seeded random weights (the same seed gives the same file
 * on every machine). Tensors are produced one at a time while the file is
 * written, so even the full-size real shapes never sit in memory at once.
 */
#ifndef GM_SYNTH_H
#define GM_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/format/tensor_type.h"

#define GM_SYNTH_MAX_LAYERS 512
#define GM_SYNTH_NAME_MAX 32
/* The vocabulary must hold the real special ids up to <0xFF> = 493. */
#define GM_SYNTH_MIN_VOCAB 494

typedef struct gm_synth_config {
    char preset[GM_SYNTH_NAME_MAX];
    uint32_t n_layer;
    uint32_t n_embd;             /* E */
    uint32_t n_vocab;            /* V */
    uint32_t n_ctx_train;        /* gemma4.context_length */
    uint32_t n_head;
    uint32_t n_head_kv_swa;      /* KV heads of sliding layers */
    uint32_t n_head_kv_full;     /* KV heads of full-attention layers */
    uint32_t head_dim_swa;
    uint32_t head_dim_full;
    uint32_t n_ff;               /* dense (or MoE-shared) MLP width */
    bool double_wide_mlp;        /* 2 * n_ff on the KV-shared layers */
    uint32_t n_embd_per_layer;   /* PLE width P; 0 disables PLE */
    uint32_t n_shared_kv;        /* the last n layers reuse earlier K/V */
    uint32_t swa_period;         /* layer il is full iff il % period == period-1 */
    bool swa[GM_SYNTH_MAX_LAYERS]; /* derived: true = sliding layer */
    uint32_t sliding_window;
    float rope_base;             /* full layers */
    float rope_base_swa;         /* sliding layers */
    float partial_rotary_full;   /* fraction of full-layer pairs rotated */
    bool v_on_full;              /* false: K==V on full layers (no attn_v) */
    uint32_t n_expert;           /* 0 = dense */
    uint32_t n_expert_used;
    uint32_t n_ff_exp;
    bool fused_gate_up;          /* ffn_gate_up_exps instead of gate/up */
    float softcap;               /* final logit soft-cap; 0 disables */
    float eps;
    bool layer_output_scale;     /* blk.N.layer_output_scale.weight */
    bool untied;                 /* separate output.weight */
} gm_synth_config;

/* --- configuration -------------------------------------------------- */

size_t gm_synth_preset_count(void);
const char *gm_synth_preset_name(size_t i);
/* Fill cfg with a preset ("tiny", "tiny-moe", "e2b", "e4b", "26b-a4b", "31b"). */
int gm_synth_preset(const char *name, gm_synth_config *cfg, cm_err *err);
/* Change the layer count, keeping the pattern valid: sliding/full by
 * swa_period, last layer full, and (if the model has KV-shared layers)
 * a shared-KV count of about the same proportion whose first shared
 * layer follows a full layer that follows a sliding one. */
int gm_synth_set_layers(gm_synth_config *cfg, uint32_t n_layer, cm_err *err);
/* Set the number of KV-shared layers (0 disables); checked against the pattern. */
int gm_synth_set_shared_kv(gm_synth_config *cfg, uint32_t n_shared, cm_err *err);
/* Set the vocabulary size (>= GM_SYNTH_MIN_VOCAB). */
int gm_synth_set_vocab(gm_synth_config *cfg, uint32_t n_vocab, cm_err *err);
/* Check that the configuration is a model llama.cpp accepts. */
int gm_synth_validate(const gm_synth_config *cfg, cm_err *err);

/* Per-layer quantities (il < n_layer). */
uint32_t gm_synth_head_dim(const gm_synth_config *cfg, uint32_t il);
uint32_t gm_synth_n_head_kv(const gm_synth_config *cfg, uint32_t il);
uint32_t gm_synth_n_ff(const gm_synth_config *cfg, uint32_t il);
bool gm_synth_has_kv(const gm_synth_config *cfg, uint32_t il);
/* Whether blk.il.attn_v.weight exists (KV layers; not full layers without v_on_full). */
bool gm_synth_has_v(const gm_synth_config *cfg, uint32_t il);

/* --- vocabulary ----------------------------------------------------- */

/* Token types as stored in tokenizer.ggml.token_type. */
enum {
    GM_SYNTH_TOK_NORMAL = 1,
    GM_SYNTH_TOK_UNKNOWN = 2,
    GM_SYNTH_TOK_CONTROL = 3,
    GM_SYNTH_TOK_USER_DEFINED = 4,
    GM_SYNTH_TOK_UNUSED = 5,
    GM_SYNTH_TOK_BYTE = 6,
};

typedef struct gm_synth_vocab {
    uint32_t n_tokens;
    char **tokens;      /* UTF-8, NUL-terminated */
    int32_t *types;     /* GM_SYNTH_TOK_* */
    float *scores;
    uint32_t n_merges;
    char **merges;      /* "left right" */
} gm_synth_vocab;

/* Build the synthetic vocabulary of n_vocab tokens: the real Gemma 4
 * special tokens, newline/space runs and byte tokens at their real ids
 * (0..493), then single characters and BPE merges learned from a small
 * built-in English corpus, then <unusedN> fillers (and the multimodal
 * markers at their real ids when the vocabulary is that large). */
int gm_synth_vocab_build(uint32_t n_vocab, gm_synth_vocab *out, cm_err *err);
void gm_synth_vocab_free(gm_synth_vocab *v);

/* The chat template stored as tokenizer.chat_template (jinja; the core of
 * the real Gemma 4 template: system/user/model turns, generation prompt,
 * empty thought channel when thinking is off). */
const char *gm_synth_chat_template(void);

/* --- writing -------------------------------------------------------- */

typedef struct gm_synth_opts {
    gm_type type;               /* type of the weight matrices */
    uint64_t seed;
    const char *chat_template;  /* NULL: gm_synth_chat_template() */
    uint32_t n_threads;         /* encoding threads; 0: one per online CPU */
} gm_synth_opts;

/* The type a tensor gets in a file of type `type`: F32 for 1-D tensors,
 * norms, *.scale and the router; otherwise `type`, with the K-quant
 * fallback when rows (ne0) are not a multiple of 256. */
gm_type gm_synth_tensor_type(gm_type type, const char *name, uint32_t n_dims, uint64_t ne0);

/* Write the model to path. */
int gm_synth_write(const gm_synth_config *cfg, const gm_synth_opts *opts, const char *path,
                   cm_err *err);

#endif
