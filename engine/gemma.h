/*
 * engine/gemma.h -- the engine's public face: load a Gemma 4 GGUF model,
 * make a context (KV caches for one or more sequences), and run the
 * forward pass on a batch of tokens.
 *
 * This is the boundary the daemon, gemma-run and the tests use. The
 * backend (CPU now, CUDA later) sits behind it: nothing here names one.
 *
 * Ownership: gm_model owns the mapped file and the weights (used in place
 * from the mmap). gm_context borrows its model, which must outlive it.
 * A gm_context is used by one thread at a time; a gm_model may be shared
 * by several contexts.
 */
#ifndef GM_GEMMA_H
#define GM_GEMMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct gm_model gm_model;
typedef struct gm_context gm_context;
typedef struct gm_vocab gm_vocab; /* engine/text/vocab.h */

typedef struct gm_load_opts {
    int n_threads;      /* 0 = number of online CPUs */
    bool vocab_only;    /* load the tokenizer alone (vocabulary-only GGUFs) */
    bool gelu_exact;    /* GELU by the exact tanh formula instead of ggml's
                           fp16 table (for numerical comparisons) */
    const char *device; /* where the forward pass runs: NULL or "cpu", or
                           "cuda:N" (GPU N; "cuda" is cuda:0). No GPU, no
                           driver or no CUDA build: the load fails saying so */
} gm_load_opts;

/* Parse a device name: "cpu" gives *cuda_index = -1, "cuda:N" (or "cuda")
 * gives N. Anything else is an error naming the accepted forms. */
int gm_device_parse(const char *device, int *cuda_index, cm_err *err);

/* Where a loaded model computes, for status pages and metrics. */
typedef struct gm_device_info {
    char device[16];       /* "cpu" or "cuda:N" */
    char name[128];        /* the GPU's name; "" on the CPU */
    uint64_t mem_total;    /* the GPU's memory, bytes (0 on the CPU) */
    uint64_t mem_free;
    uint64_t model_bytes;  /* the model's weights in that memory */
    uint64_t bytes_per_token; /* weight bytes a decode step reads there
                                 (the HBM roofline's numerator); 0 = unknown */
    int index;             /* the GPU's number (cuda:N); -1 on the CPU */
    uint64_t kv_bytes;     /* a context's KV cache in that memory
                              (gm_context_device_info; 0 from the model's) */
    uint64_t scratch_bytes; /* a context's working buffers there (GPU only) */
} gm_device_info;
void gm_model_device_info(const gm_model *model, gm_device_info *out);

typedef struct gm_model_info {
    char name[128];          /* general.name, or the file name */
    uint32_t n_layer;
    uint32_t n_embd;
    uint32_t n_vocab;
    uint32_t n_ctx_train;
    uint32_t n_expert;       /* 0 for dense models */
    uint32_t n_expert_used;
    uint64_t n_params;
    uint64_t n_bytes;        /* tensor data bytes */
    bool has_ple;
} gm_model_info;

int gm_model_load(const char *path, const gm_load_opts *opts, gm_model **out,
                  cm_err *err);
/* Load from a descriptor that the caller has already verified (bundles). */
int gm_model_load_fd(int fd, const char *display_name, const gm_load_opts *opts,
                     gm_model **out, cm_err *err);
void gm_model_free(gm_model *model);
const gm_model_info *gm_model_get_info(const gm_model *model);
const gm_vocab *gm_model_get_vocab(const gm_model *model);

typedef struct gm_context_opts {
    uint32_t n_ctx;     /* positions per sequence; 0 = min(training ctx, 4096) */
    uint32_t n_seq_max; /* sequences held at once; 0 = 1 */
    int n_threads;      /* 0 = the model's */
} gm_context_opts;

int gm_context_new(gm_model *model, const gm_context_opts *opts,
                   gm_context **out, cm_err *err);
void gm_context_free(gm_context *ctx);
uint32_t gm_context_n_ctx(const gm_context *ctx);
/* The model this context was made for (the generation loop needs its vocab
 * and n_vocab). */
const gm_model *gm_context_get_model(const gm_context *ctx);
uint32_t gm_context_n_seq_max(const gm_context *ctx);
/* Forget everything sequence `seq` has seen (its next position is 0). */
int gm_context_seq_clear(gm_context *ctx, uint32_t seq, cm_err *err);
/* Number of positions sequence `seq` holds. */
uint32_t gm_context_seq_len(const gm_context *ctx, uint32_t seq);
/* Bytes of KV cache allocated and in use (for metrics). */
void gm_context_kv_usage(const gm_context *ctx, uint64_t *used, uint64_t *total);
/* gm_model_device_info of the context's model, with the context's own use
 * of that device: its KV cache (host memory on the CPU) and, on a GPU, its
 * working buffers. */
void gm_context_device_info(const gm_context *ctx, gm_device_info *out);

/* ---- sequences for a batch scheduler and its prefix cache ----
 * A sequence continues from position n only if each sliding layer's ring
 * still holds the window before n; truncate and copy fail (changing
 * nothing) when it has moved on. Snapshots keep every position of every
 * layer instead, so any prefix of one can be restored. */
/* Cut sequence `seq` back to n positions. */
int gm_context_seq_truncate(gm_context *ctx, uint32_t seq, uint32_t n, cm_err *err);
/* Sequence dst holds sequence src's positions [0, n). */
int gm_context_seq_copy(gm_context *ctx, uint32_t src, uint32_t dst, uint32_t n,
                        cm_err *err);
/* KV bytes one sequence of n positions occupies (sliding layers capped). */
uint64_t gm_context_seq_kv_bytes(const gm_context *ctx, uint32_t n);
/* Smallest sliding window (0 = none). A step that adds at most this many
 * positions to a sequence leaves all of them in the cache until the next
 * step, for gm_kv_snapshot_append. */
uint32_t gm_context_min_window(const gm_context *ctx);

typedef struct gm_kv_snapshot gm_kv_snapshot;
/* Room for `cap` positions of this context's layers. */
int gm_kv_snapshot_new(const gm_context *ctx, uint32_t cap, gm_kv_snapshot **out,
                       cm_err *err);
void gm_kv_snapshot_free(gm_kv_snapshot *snap);
/* Append positions [length, to) of sequence seq (which still holds them). */
int gm_kv_snapshot_append(gm_kv_snapshot *snap, const gm_context *ctx, uint32_t seq,
                          uint32_t to, cm_err *err);
/* An empty snapshot takes the first n positions of another. */
int gm_kv_snapshot_copy(gm_kv_snapshot *dst, const gm_kv_snapshot *src, uint32_t n,
                        cm_err *err);
/* Sequence seq holds the snapshot's positions [0, n). */
int gm_kv_snapshot_restore(const gm_kv_snapshot *snap, gm_context *ctx, uint32_t seq,
                           uint32_t n, cm_err *err);
uint32_t gm_kv_snapshot_len(const gm_kv_snapshot *snap);
uint64_t gm_kv_snapshot_bytes(const gm_kv_snapshot *snap);

/*
 * A batch of tokens, each appended to one sequence at that sequence's next
 * position (positions are implicit and consecutive per sequence). Tokens of
 * the same sequence appear in order. want_logits[i] asks for the logits
 * after token i; NULL asks for the last token of each sequence only.
 */
typedef struct gm_batch {
    uint32_t n_tokens;
    const int32_t *tokens;
    const uint32_t *seq;       /* NULL = all in sequence 0 */
    const bool *want_logits;   /* NULL = last token of each sequence */
} gm_batch;

/*
 * Run the forward pass. `logits` receives one row of n_vocab floats per
 * requested output, in batch order; it must hold n_out * n_vocab floats
 * where n_out is gm_batch_n_outputs(batch). Fails without changing any
 * cache when a token id is out of range or a sequence would exceed n_ctx
 * ("context full: sequence 0 holds 4096 of 4096 positions").
 */
int gm_decode(gm_context *ctx, const gm_batch *batch, float *logits, cm_err *err);
uint32_t gm_batch_n_outputs(const gm_batch *batch);

#endif
