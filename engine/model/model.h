/*
 * engine/model/model.h -- the inside of gm_model and gm_context (engine/gemma.h):
 * hyperparameters, weights bound in place in the GGUF mapping, and the
 * functions the forward-pass files share.
 *
 * Reading order: hparams.c (metadata), weights.c (tensor binding),
 * model.c (load/free), context.c (KV cache, scratch), forward.c (one
 * decode call), then ple.c, attention.c, ffn.c, moe.c, and ops.c for the
 * elementwise arithmetic. The spec is docs/architecture.md (E1-E14).
 */
#ifndef GM_MODEL_INTERNAL_H
#define GM_MODEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/cpu/kernels.h"
#include "engine/format/gguf.h"
#include "engine/gemma.h"
#include "engine/model/kv_cache.h"

#define GM_MAX_LAYERS 512
#define GM_MAX_EXPERTS 1024
#define GM_UBATCH 256 /* tokens computed together per step of gm_decode */

/* Hyperparameters of one layer (docs/architecture.md E1, "derived"). */
typedef struct gm_layer_hp {
    bool swa;             /* sliding-window attention layer */
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t head_dim;    /* d: key_length(_swa) */
    uint32_t n_rot;       /* rotated dims */
    float rope_base;
    uint32_t n_ff;        /* dense (or shared) MLP width */
    uint32_t n_expert_used;
    bool has_kv;          /* computes and stores its own K/V */
    uint32_t kv_src;      /* layer whose cache it reads (itself if has_kv) */
} gm_layer_hp;

typedef struct gm_hparams {
    uint32_t n_ctx_train;
    uint32_t n_embd;      /* E */
    uint32_t n_layer;     /* L */
    uint32_t n_vocab;     /* V (rows of token_embd) */
    uint32_t head_dim_full, head_dim_swa;
    uint32_t n_rot_full, n_rot_swa;
    float rope_base_full, rope_base_swa;
    float eps;
    uint32_t swa_window;  /* W */
    uint32_t n_shared_kv;
    uint32_t n_kv_start;  /* first layer without its own KV */
    uint32_t n_embd_ple;  /* P; 0 = no per-layer embeddings */
    float softcap;        /* 0 = none */
    uint32_t n_expert;
    uint32_t n_ff_exp;    /* per-expert width F */
    gm_layer_hp *layer;   /* [n_layer] */
} gm_hparams;

/* Read and check the gemma4.* metadata. */
int gm_hparams_load(const gguf_file *f, gm_hparams *hp, cm_err *err);
void gm_hparams_free(gm_hparams *hp);

/*
 * A weight tensor, used in place from the mapping. ne[0] is the row length
 * (input width), ne[1] the number of rows (output width), ne[2] the number
 * of experts (1 otherwise). data == NULL means the tensor is absent.
 */
typedef struct gm_weight {
    const void *data;
    gm_type type;
    uint64_t ne[3];
    size_t row_bytes;
    char name[64];    /* for messages */
    /* CPU only: a Q4_K weight repacked at load (engine/cpu/q4k_packed.h),
     * one copy per expert ([ne[2]]), used instead of data; NULL if not */
    struct gm_kq_packed **packed;
    /* the same for a Q6_K weight (engine/cpu/q6k_packed.h) */
    struct gm_kq_packed **packed6;
} gm_weight;

typedef struct gm_layer {
    gm_weight attn_norm, wq, wk, wv, wqkv, wo, q_norm, k_norm, attn_post_norm;
    gm_weight ffn_norm, ffn_gate, ffn_up, ffn_down, ffn_post_norm;
    gm_weight out_scale;
    /* MoE (present iff gate_inp is) */
    gm_weight gate_inp, gate_inp_scale, pre_norm_2, post_norm_1, post_norm_2;
    gm_weight gate_up_exps, gate_exps, up_exps, down_exps, down_exps_scale;
    /* per-layer embedding block (P > 0) */
    gm_weight ple_gate, ple_proj, ple_post_norm;
} gm_layer;

struct gm_model {
    gguf_file *file;
    gm_vocab *vocab;
    gm_model_info info;
    gm_hparams hp;
    bool vocab_only;
    int n_threads;
    bool gelu_exact;
    uint16_t *gelu_table; /* [65536] fp16 GELU of every fp16 value (as ggml) */

    gm_weight tok_embd, output, output_norm, rope_freqs;
    gm_weight ple_tok_embd, ple_model_proj, ple_proj_norm;
    gm_layer *layers; /* [n_layer] */

    uint64_t repacked_bytes; /* bytes of the repacked Q4_K copies (repack.c) */

    const struct gm_backend *backend; /* engine/backend.h: CPU or CUDA */
    void *backend_model;              /* the backend's state (device weights) */
};

/* Bind every tensor of the file to the model (weights.c). */
int gm_weights_bind(gm_model *m, cm_err *err);
/* CPU backend: repack the Q4_K and Q6_K matmul weights of 16 rows or more
 * where gm_q4k_repack_wanted() / gm_q6k_repack_wanted(), and give back the
 * mapped pages of the originals (repack.c); free the copies. */
int gm_weights_repack(gm_model *m, cm_err *err);
void gm_weights_repack_free(gm_model *m);

/* Per-ubatch working memory (context.c). Sizes are for GM_UBATCH tokens. */
typedef struct gm_scratch {
    uint32_t n_max;      /* tokens */
    float *x;            /* [n][E] residual stream */
    float *cur;          /* [n][E] */
    float *attn_out;     /* [n][E] */
    float *tmp;          /* [n][E] */
    float *tmp2;         /* [n][E] */
    float *q;            /* [n][H*d] max over layers */
    float *kv_out;       /* [n][H*d] attention output before attn_output */
    float *qkv;          /* [n][(H+2Hkv)*d] fused projection output */
    float *k_raw, *v_raw;/* [n][Hkv*d] */
    float *kv_k[3], *kv_v[3]; /* batch K/V: [0] ordinary layers, [1]/[2] shared sources */
    float *ff_a, *ff_b;  /* [n][max(n_ff, 2F)] */
    float *ple;          /* [n][L][P] */
    float *ple_a;        /* [n][max(P, L*P)] */
    float *scores;       /* [n_threads][group_max][n_ctx] attention scores per worker
                          * (a decode step split by keys: per (token, KV head)
                          * pair, fewer pairs than threads; attention.c) */
    uint32_t group_max;  /* most query heads per KV head in any layer */
    const float **attn_rows; /* [n_threads][2][n_ctx] K and V rows one KV head reads
                              * (per worker, or per pair as scores) */
    float *rope_cs;      /* [n_threads][rope_cs_len] cos/sin of one position */
    size_t rope_cs_len;  /* max n_rot */
    /* MoE */
    float *router;       /* [n][n_expert] */
    int32_t *sel;        /* [n][k_max] */
    float *sel_w;        /* [n][k_max] */
    float *exp_out;      /* [n][k_max][E] */
    float *gx;           /* [n][E] tokens gathered for one expert */
    float *gy;           /* [n][E] */
    uint32_t *gidx;      /* [n] */
    uint32_t k_max;
    /* batch bookkeeping */
    uint32_t *pos;       /* [n] position of each token */
    uint32_t *seq;       /* [n] */
    uint32_t *seq_p0;    /* [n_seq] first position of the sequence in this ubatch */
    uint32_t *seq_off;   /* [n_seq] offset in tok_of */
    uint32_t *tok_of;    /* [n] token index by (sequence, position) */
    uint32_t *out_rows;  /* [n] the step's tokens that produce logits */
} gm_scratch;

struct gm_context {
    gm_model *model;
    uint32_t n_ctx;
    uint32_t n_seq_max;
    int n_threads;
    gm_pool *pool;
    gm_kv_cache kv;
    gm_scratch s;
    uint32_t *seq_count; /* [n_seq_max] tokens per sequence in the current batch */
    uint32_t *seq_last;  /* [n_seq_max] index of its last token in the batch */
    int kv_slot_of_layer[GM_MAX_LAYERS]; /* index into kv_k/kv_v for each layer */
    void *backend_ctx;                   /* the backend's state (device KV, buffers) */
};

/* One step of the forward pass over n tokens whose tokens, positions and
 * sequences are in ctx->s (forward.c). `out_rows` lists the token indices
 * that want logits; logits receives n_out rows. */
int gm_forward_ubatch(gm_context *ctx, const int32_t *tokens, uint32_t n,
                      const uint32_t *out_rows, uint32_t n_out, float *logits,
                      cm_err *err);

/* y[n][w->ne[1]] = w * x[n][w->ne[0]] through the CPU kernels. */
int gm_mm(gm_context *ctx, const gm_weight *w, const float *x, uint32_t n,
          float *y, cm_err *err);
/* Same for expert `e` of a 3-D weight ([n_expert][rows][cols]). */
int gm_mm_expert(gm_context *ctx, const gm_weight *w, uint32_t e, const float *x,
                 uint32_t n, float *y, cm_err *err);
/* One product of a gm_mm_many() call: expert `expert` of w (0 for a 2-D
 * weight) applied to the shared input, into y ([n][w->ne[1]]). */
typedef struct gm_mm_out {
    const gm_weight *w;
    uint32_t expert;
    float *y;
} gm_mm_out;
#define GM_MM_MANY_MAX 16 /* as gm_matmul_many() takes */
/* Several weights with the same input width applied to the same x in one
 * parallel loop (x converted once): Q/K/V, gate/up. Each output has the
 * bits gm_mm() gives it alone. */
int gm_mm_many(gm_context *ctx, const gm_mm_out *outs, uint32_t n_outs, const float *x,
               uint32_t n, cm_err *err);

/* Blocks of one layer, working on ctx->s (attention.c, ffn.c, moe.c, ple.c):
 * gm_attention reads s.cur and writes s.tmp; gm_ffn_dense and gm_moe write
 * `out`; gm_ple_inputs fills s.ple; gm_ple_block adds to s.x. */
int gm_attention(gm_context *ctx, uint32_t il, uint32_t n, cm_err *err);
int gm_ffn_dense(gm_context *ctx, const gm_weight *gate, const gm_weight *up,
                 const gm_weight *down, const float *in, uint32_t n, float *out,
                 cm_err *err);
int gm_moe(gm_context *ctx, uint32_t il, const float *in, uint32_t n, float *out,
           cm_err *err);
int gm_ple_inputs(gm_context *ctx, const int32_t *tokens, uint32_t n, cm_err *err);
int gm_ple_block(gm_context *ctx, uint32_t il, uint32_t n, cm_err *err);

/* Write the batch K/V of layer il (kept in scratch slot `slot`) to the cache. */
void gm_kv_commit(gm_context *ctx, uint32_t il, uint32_t n);

#endif
