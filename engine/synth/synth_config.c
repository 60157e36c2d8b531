/*
 * engine/synth/synth_config.c -- synthetic model configurations: the
 * presets, the sliding/full layer pattern, shared-KV rules, validation.
 *
 * The real shapes follow docs/architecture.md E14. The layer pattern is
 * "swa_period - 1 sliding layers, then one full layer", with the last
 * layer always full (as HF forces it). With KV-shared layers llama.cpp
 * maps shared sliding layers to layer n_kv_start-2 and shared full layers
 * to n_kv_start-1, so those must be sliding and full respectively (s1).
 */
#include <stdio.h>
#include <string.h>

#include "engine/synth/synth.h"

typedef struct synth_preset {
    const char *name;
    gm_synth_config cfg; /* swa[] is derived by gm_synth_set_layers */
} synth_preset;

static const synth_preset presets[] = {
    /* Dense E2B-like model, a few MB: layers S S F | S S F with the last
     * three KV-shared (double-wide MLP there), PLE, E = 256 so most
     * matrices take K-quants while the PLE table (rows 6*32) and the PLE
     * projection (rows 32) exercise the fallback. */
    {"tiny",
     {.preset = "tiny", .n_layer = 6, .n_embd = 256, .n_vocab = 1024, .n_ctx_train = 4096,
      .n_head = 4, .n_head_kv_swa = 2, .n_head_kv_full = 1, .head_dim_swa = 64,
      .head_dim_full = 128, .n_ff = 256, .double_wide_mlp = true, .n_embd_per_layer = 32,
      .n_shared_kv = 3, .swa_period = 3, .sliding_window = 8, .rope_base = 1e6f,
      .rope_base_swa = 1e4f, .partial_rotary_full = 0.25f, .v_on_full = true,
      .fused_gate_up = true, .softcap = 30.0f, .eps = 1e-6f, .layer_output_scale = true}},
    /* 26B-A4B structure scaled down: no PLE, no shared KV, K==V on full
     * layers, shared MLP + 8 experts (top 2), fused gate/up; expert down
     * rows of 64 take the K-quant fallback. */
    {"tiny-moe",
     {.preset = "tiny-moe", .n_layer = 6, .n_embd = 256, .n_vocab = 1024, .n_ctx_train = 4096,
      .n_head = 4, .n_head_kv_swa = 2, .n_head_kv_full = 1, .head_dim_swa = 64,
      .head_dim_full = 128, .n_ff = 256, .swa_period = 3, .sliding_window = 8,
      .rope_base = 1e6f, .rope_base_swa = 1e4f, .partial_rotary_full = 0.25f,
      .v_on_full = false, .n_expert = 8, .n_expert_used = 2, .n_ff_exp = 64,
      .fused_gate_up = true, .softcap = 30.0f, .eps = 1e-6f, .layer_output_scale = true}},
    /* The real shapes (docs/architecture.md E14). */
    {"e2b",
     {.preset = "e2b", .n_layer = 35, .n_embd = 1536, .n_vocab = 262144, .n_ctx_train = 131072,
      .n_head = 8, .n_head_kv_swa = 1, .n_head_kv_full = 1, .head_dim_swa = 256,
      .head_dim_full = 512, .n_ff = 6144, .double_wide_mlp = true, .n_embd_per_layer = 256,
      .n_shared_kv = 20, .swa_period = 5, .sliding_window = 512, .rope_base = 1e6f,
      .rope_base_swa = 1e4f, .partial_rotary_full = 0.25f, .v_on_full = true,
      .fused_gate_up = true, .softcap = 30.0f, .eps = 1e-6f, .layer_output_scale = true}},
    {"e4b",
     {.preset = "e4b", .n_layer = 42, .n_embd = 2560, .n_vocab = 262144, .n_ctx_train = 131072,
      .n_head = 8, .n_head_kv_swa = 2, .n_head_kv_full = 2, .head_dim_swa = 256,
      .head_dim_full = 512, .n_ff = 10240, .n_embd_per_layer = 256, .n_shared_kv = 18,
      .swa_period = 6, .sliding_window = 512, .rope_base = 1e6f, .rope_base_swa = 1e4f,
      .partial_rotary_full = 0.25f, .v_on_full = true, .fused_gate_up = true,
      .softcap = 30.0f, .eps = 1e-6f, .layer_output_scale = true}},
    {"26b-a4b",
     {.preset = "26b-a4b", .n_layer = 30, .n_embd = 2816, .n_vocab = 262144,
      .n_ctx_train = 262144, .n_head = 16, .n_head_kv_swa = 8, .n_head_kv_full = 2,
      .head_dim_swa = 256, .head_dim_full = 512, .n_ff = 2112, .swa_period = 6,
      .sliding_window = 1024, .rope_base = 1e6f, .rope_base_swa = 1e4f,
      .partial_rotary_full = 0.25f, .v_on_full = false, .n_expert = 128, .n_expert_used = 8,
      .n_ff_exp = 704, .fused_gate_up = true, .softcap = 30.0f, .eps = 1e-6f,
      .layer_output_scale = true}},
    {"31b",
     {.preset = "31b", .n_layer = 60, .n_embd = 5376, .n_vocab = 262144, .n_ctx_train = 262144,
      .n_head = 32, .n_head_kv_swa = 16, .n_head_kv_full = 4, .head_dim_swa = 256,
      .head_dim_full = 512, .n_ff = 21504, .swa_period = 6, .sliding_window = 1024,
      .rope_base = 1e6f, .rope_base_swa = 1e4f, .partial_rotary_full = 0.25f,
      .v_on_full = false, .fused_gate_up = true, .softcap = 30.0f, .eps = 1e-6f,
      .layer_output_scale = true}},
};

#define N_PRESETS (sizeof(presets) / sizeof(presets[0]))

size_t gm_synth_preset_count(void)
{
    return N_PRESETS;
}

const char *gm_synth_preset_name(size_t i)
{
    return i < N_PRESETS ? presets[i].name : NULL;
}

static void derive_pattern(gm_synth_config *cfg)
{
    for (uint32_t il = 0; il < GM_SYNTH_MAX_LAYERS; il++) {
        bool full = il + 1 == cfg->n_layer ||
                    (cfg->swa_period > 0 && il % cfg->swa_period == cfg->swa_period - 1);
        cfg->swa[il] = il < cfg->n_layer && !full;
    }
}

/* Whether n_kv_start = L - n_shared satisfies llama.cpp's mapping. */
static bool shared_kv_ok(const gm_synth_config *cfg, uint32_t n_shared)
{
    if (n_shared == 0)
        return true;
    if (n_shared >= cfg->n_layer || cfg->n_layer - n_shared < 2)
        return false;
    uint32_t start = cfg->n_layer - n_shared;
    return !cfg->swa[start - 1] && cfg->swa[start - 2];
}

int gm_synth_preset(const char *name, gm_synth_config *cfg, cm_err *err)
{
    for (size_t i = 0; i < N_PRESETS; i++) {
        if (strcmp(presets[i].name, name) == 0) {
            *cfg = presets[i].cfg;
            derive_pattern(cfg);
            return 0;
        }
    }
    char list[256] = "";
    for (size_t i = 0; i < N_PRESETS; i++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", presets[i].name);
    }
    return cm_err_set(err, "unknown preset '%s' (known: %s)", name, list);
}

int gm_synth_set_layers(gm_synth_config *cfg, uint32_t n_layer, cm_err *err)
{
    if (n_layer < 2 || n_layer > GM_SYNTH_MAX_LAYERS)
        return cm_err_set(err,
                          "layer count %u is out of range 2..%d (the last layer is full "
                          "attention and llama.cpp needs a sliding one too)",
                          n_layer, GM_SYNTH_MAX_LAYERS);
    uint32_t old_layers = cfg->n_layer, old_shared = cfg->n_shared_kv;
    /* Scale from the preset's own shape when there is one, so shrinking
     * and growing back gives the real layout again. */
    for (size_t i = 0; i < N_PRESETS; i++) {
        if (strcmp(presets[i].name, cfg->preset) == 0 && old_shared > 0) {
            old_layers = presets[i].cfg.n_layer;
            old_shared = presets[i].cfg.n_shared_kv ? presets[i].cfg.n_shared_kv : old_shared;
        }
    }
    uint32_t prev_layers = cfg->n_layer;
    cfg->n_layer = n_layer;
    derive_pattern(cfg);
    if (old_shared == 0) {
        cfg->n_shared_kv = 0;
        return 0;
    }
    /* Keep about the same share of KV-shared layers, at least one: the
     * valid count nearest to the proportional one (ties: fewer shared). */
    uint32_t target = (uint32_t)(((uint64_t)n_layer * old_shared + old_layers / 2) / old_layers);
    if (target < 1)
        target = 1;
    uint32_t best = 0;
    uint32_t best_dist = UINT32_MAX;
    for (uint32_t s = 1; s + 2 <= n_layer; s++) {
        if (!shared_kv_ok(cfg, s))
            continue;
        uint32_t dist = s > target ? s - target : target - s;
        if (dist < best_dist) {
            best = s;
            best_dist = dist;
        }
    }
    if (best == 0) {
        uint32_t need = 0;
        for (uint32_t l = 3; l <= GM_SYNTH_MAX_LAYERS && need == 0; l++) {
            gm_synth_config probe = *cfg;
            probe.n_layer = l;
            derive_pattern(&probe);
            for (uint32_t s = 1; s + 2 <= l; s++)
                if (shared_kv_ok(&probe, s))
                    need = l;
        }
        cfg->n_layer = prev_layers;
        derive_pattern(cfg);
        return cm_err_set(err,
                          "preset '%s' has KV-shared layers, which need a full layer after a "
                          "sliding one before them: use at least %u layers (got %u)",
                          cfg->preset, need, n_layer);
    }
    cfg->n_shared_kv = best;
    return 0;
}

int gm_synth_set_shared_kv(gm_synth_config *cfg, uint32_t n_shared, cm_err *err)
{
    if (!shared_kv_ok(cfg, n_shared)) {
        if (n_shared >= cfg->n_layer || cfg->n_layer - n_shared < 2)
            return cm_err_set(err, "%u KV-shared layers need at least 2 more layers (have %u)",
                              n_shared, cfg->n_layer);
        uint32_t start = cfg->n_layer - n_shared;
        return cm_err_set(err,
                          "%u KV-shared layers: layer %u must be full attention and layer %u "
                          "sliding, but they are %s and %s",
                          n_shared, start - 1, start - 2, cfg->swa[start - 1] ? "sliding" : "full",
                          cfg->swa[start - 2] ? "sliding" : "full");
    }
    cfg->n_shared_kv = n_shared;
    return 0;
}

int gm_synth_set_vocab(gm_synth_config *cfg, uint32_t n_vocab, cm_err *err)
{
    if (n_vocab < GM_SYNTH_MIN_VOCAB)
        return cm_err_set(err,
                          "vocabulary of %u tokens is too small: the Gemma 4 special tokens "
                          "and byte tokens use ids up to %d, so it needs at least %d",
                          n_vocab, GM_SYNTH_MIN_VOCAB - 1, GM_SYNTH_MIN_VOCAB);
    if (n_vocab > (1u << 24))
        return cm_err_set(err, "vocabulary of %u tokens is too large (at most %u)", n_vocab,
                          1u << 24);
    cfg->n_vocab = n_vocab;
    return 0;
}

int gm_synth_validate(const gm_synth_config *cfg, cm_err *err)
{
    if (cfg->n_layer < 1 || cfg->n_layer > GM_SYNTH_MAX_LAYERS)
        return cm_err_set(err, "layer count %u is out of range 1..%d", cfg->n_layer,
                          GM_SYNTH_MAX_LAYERS);
    if (cfg->swa[cfg->n_layer - 1])
        return cm_err_set(err, "the last layer (%u) must be full attention", cfg->n_layer - 1);
    bool any_swa = false;
    for (uint32_t il = 0; il < cfg->n_layer; il++)
        any_swa |= cfg->swa[il];
    if (!any_swa) /* llama.cpp asserts hparams.is_swa_any() for gemma4 */
        return cm_err_set(err, "%u layer(s), all full attention: llama.cpp needs at least one "
                          "sliding layer, so use at least 2 layers", cfg->n_layer);
    if (cfg->n_vocab < GM_SYNTH_MIN_VOCAB)
        return cm_err_set(err, "vocabulary of %u tokens is smaller than %d", cfg->n_vocab,
                          GM_SYNTH_MIN_VOCAB);
    if (cfg->n_embd == 0 || cfg->n_embd % 32 != 0)
        return cm_err_set(err, "embedding length %u is not a positive multiple of 32",
                          cfg->n_embd);
    if (cfg->n_head == 0 || cfg->n_head_kv_swa == 0 || cfg->n_head_kv_full == 0 ||
        cfg->n_head % cfg->n_head_kv_swa != 0 || cfg->n_head % cfg->n_head_kv_full != 0)
        return cm_err_set(err, "head counts %u/%u/%u: KV heads must divide the query heads",
                          cfg->n_head, cfg->n_head_kv_swa, cfg->n_head_kv_full);
    if (cfg->head_dim_swa == 0 || cfg->head_dim_swa % 32 != 0 || cfg->head_dim_full == 0 ||
        cfg->head_dim_full % 32 != 0)
        return cm_err_set(err, "head dims %u/%u must be positive multiples of 32",
                          cfg->head_dim_swa, cfg->head_dim_full);
    if (cfg->n_ff == 0 || cfg->n_ff % 32 != 0)
        return cm_err_set(err, "feed-forward length %u is not a positive multiple of 32",
                          cfg->n_ff);
    if (cfg->n_embd_per_layer % 32 != 0)
        return cm_err_set(err, "per-layer embedding length %u is not a multiple of 32",
                          cfg->n_embd_per_layer);
    if (cfg->sliding_window == 0)
        return cm_err_set(err, "sliding window must be at least 1");
    if (cfg->n_ctx_train == 0)
        return cm_err_set(err, "context length must be at least 1");
    if (!shared_kv_ok(cfg, cfg->n_shared_kv))
        return cm_err_set(err, "%u KV-shared layers do not fit the layer pattern",
                          cfg->n_shared_kv);
    if (cfg->n_expert > 0) {
        if (cfg->n_expert > 1024 || cfg->n_expert_used == 0 ||
            cfg->n_expert_used > cfg->n_expert)
            return cm_err_set(err, "experts %u used of %u is invalid", cfg->n_expert_used,
                              cfg->n_expert);
        if (cfg->n_ff_exp == 0 || cfg->n_ff_exp % 32 != 0)
            return cm_err_set(err, "expert feed-forward length %u is not a positive multiple "
                              "of 32", cfg->n_ff_exp);
    }
    if (cfg->partial_rotary_full <= 0.0f || cfg->partial_rotary_full > 1.0f)
        return cm_err_set(err, "partial rotary factor %g is out of range (0, 1]",
                          (double)cfg->partial_rotary_full);
    return 0;
}

uint32_t gm_synth_head_dim(const gm_synth_config *cfg, uint32_t il)
{
    return cfg->swa[il] ? cfg->head_dim_swa : cfg->head_dim_full;
}

uint32_t gm_synth_n_head_kv(const gm_synth_config *cfg, uint32_t il)
{
    return cfg->swa[il] ? cfg->n_head_kv_swa : cfg->n_head_kv_full;
}

bool gm_synth_has_kv(const gm_synth_config *cfg, uint32_t il)
{
    return il < cfg->n_layer - cfg->n_shared_kv;
}

uint32_t gm_synth_n_ff(const gm_synth_config *cfg, uint32_t il)
{
    return cfg->double_wide_mlp && !gm_synth_has_kv(cfg, il) ? 2 * cfg->n_ff : cfg->n_ff;
}

bool gm_synth_has_v(const gm_synth_config *cfg, uint32_t il)
{
    return gm_synth_has_kv(cfg, il) && (cfg->swa[il] || cfg->v_on_full);
}
