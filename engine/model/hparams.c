/*
 * engine/model/hparams.c -- the gemma4.* hyperparameters of a GGUF file
 * (docs/architecture.md E1): exact key types as llama.cpp requires them, the
 * per-layer arrays, defaults, and the derived per-layer quantities.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model/model.h"

#define ARCH "gemma4"

static const char *key(char *buf, size_t cap, const char *suffix)
{
    snprintf(buf, cap, ARCH ".%s", suffix);
    return buf;
}

/* A u32 scalar; absent: error when required, else *out = def. */
static int get_u32(const gguf_file *f, const char *suffix, bool required, uint32_t def,
                   uint32_t *out, cm_err *err)
{
    char k[128];
    key(k, sizeof(k), suffix);
    if (gguf_find_key(f, k) < 0) {
        if (required)
            return cm_err_set(err, "missing metadata key %s", k);
        *out = def;
        return 0;
    }
    return gguf_get_u32(f, k, out, err);
}

static int get_f32(const gguf_file *f, const char *suffix, bool required, float def,
                   float *out, cm_err *err)
{
    char k[128];
    key(k, sizeof(k), suffix);
    if (gguf_find_key(f, k) < 0) {
        if (required)
            return cm_err_set(err, "missing metadata key %s", k);
        *out = def;
        return 0;
    }
    return gguf_get_f32(f, k, out, err);
}

/* A key that is a u32 scalar (same for every layer) or an integer array of
 * exactly n_layer entries (INT32 or UINT32). */
static int get_layer_u32(const gguf_file *f, const char *suffix, uint32_t n_layer,
                         bool required, uint32_t def, uint32_t *out, cm_err *err)
{
    char k[128];
    key(k, sizeof(k), suffix);
    int64_t i = gguf_find_key(f, k);
    if (i < 0) {
        if (required)
            return cm_err_set(err, "missing metadata key %s", k);
        for (uint32_t l = 0; l < n_layer; l++)
            out[l] = def;
        return 0;
    }
    if (gguf_kv_type(f, i) != GGUF_TYPE_ARRAY) {
        uint32_t v;
        if (gguf_get_u32(f, k, &v, err) < 0)
            return -1;
        for (uint32_t l = 0; l < n_layer; l++)
            out[l] = v;
        return 0;
    }
    gguf_value_type et;
    uint64_t count;
    if (gguf_arr_info(f, i, &et, &count) < 0)
        return cm_err_set(err, "metadata key %s: unreadable array", k);
    if (et != GGUF_TYPE_INT32 && et != GGUF_TYPE_UINT32)
        return cm_err_set(err, "metadata key %s: array of %s, expected int32 or uint32", k,
                          gguf_type_name(et));
    if (count != n_layer)
        return cm_err_set(err, "metadata key %s: array has %llu entries, expected %u (one per layer)",
                          k, (unsigned long long)count, n_layer);
    for (uint32_t l = 0; l < n_layer; l++) {
        int64_t v;
        if (gguf_arr_int(f, i, l, &v) < 0 || v < 0 || v > (int64_t)UINT32_MAX)
            return cm_err_set(err, "metadata key %s: entry %u is out of range", k, l);
        out[l] = (uint32_t)v;
    }
    return 0;
}

/* sliding_window_pattern: an array (bool, int32 or uint32) with at most
 * n_layer entries; missing trailing entries mean full attention. */
static int get_swa_pattern(const gguf_file *f, uint32_t n_layer, bool *swa, cm_err *err)
{
    char k[128];
    key(k, sizeof(k), "attention.sliding_window_pattern");
    int64_t i = gguf_find_key(f, k);
    if (i < 0)
        return cm_err_set(err, "missing metadata key %s", k);
    if (gguf_kv_type(f, i) != GGUF_TYPE_ARRAY)
        return cm_err_set(err, "metadata key %s must be an array (one entry per layer), not a %s",
                          k, gguf_type_name(gguf_kv_type(f, i)));
    gguf_value_type et;
    uint64_t count;
    if (gguf_arr_info(f, i, &et, &count) < 0)
        return cm_err_set(err, "metadata key %s: unreadable array", k);
    if (et != GGUF_TYPE_BOOL && et != GGUF_TYPE_INT32 && et != GGUF_TYPE_UINT32)
        return cm_err_set(err, "metadata key %s: array of %s, expected bool, int32 or uint32", k,
                          gguf_type_name(et));
    if (count > n_layer)
        return cm_err_set(err, "metadata key %s: %llu entries for %u layers", k,
                          (unsigned long long)count, n_layer);
    for (uint32_t l = 0; l < n_layer; l++) {
        int64_t v = 0;
        if (l < count && gguf_arr_int(f, i, l, &v) < 0)
            return cm_err_set(err, "metadata key %s: entry %u is unreadable", k, l);
        swa[l] = v != 0;
    }
    return 0;
}

static int check_arch(const gguf_file *f, cm_err *err)
{
    gguf_str arch;
    if (gguf_find_key(f, "general.architecture") < 0)
        return cm_err_set(err, "missing metadata key general.architecture");
    if (gguf_get_str(f, "general.architecture", &arch, err) < 0)
        return -1;
    if (arch.len != strlen(ARCH) || memcmp(arch.ptr, ARCH, arch.len) != 0)
        return cm_err_set(err, "general.architecture is '%.*s', expected '" ARCH "'",
                          (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
    return 0;
}

/* Keys that are only accepted with their no-op value. */
static int check_unsupported(const gguf_file *f, cm_err *err)
{
    uint32_t nextn;
    if (get_u32(f, "nextn_predict_layers", false, 0, &nextn, err) < 0)
        return -1;
    if (nextn != 0)
        return cm_err_set(err, ARCH ".nextn_predict_layers is %u: multi-token prediction models are not supported",
                          nextn);
    char k[128];
    key(k, sizeof(k), "attention.causal");
    if (gguf_find_key(f, k) >= 0) {
        bool causal;
        if (gguf_get_bool(f, k, &causal, err) < 0)
            return -1;
        if (!causal)
            return cm_err_set(err, "%s is false: non-causal attention is not supported", k);
    }
    float factor;
    if (get_f32(f, "rope.scaling.factor", false, 1.0f, &factor, err) < 0)
        return -1;
    if (factor != 1.0f && factor != 0.0f)
        return cm_err_set(err, ARCH ".rope.scaling.factor is %g: RoPE scaling is not supported",
                          (double)factor);
    return 0;
}

int gm_hparams_load(const gguf_file *f, gm_hparams *hp, cm_err *err)
{
    memset(hp, 0, sizeof(*hp));
    uint32_t *n_head = NULL, *n_head_kv = NULL, *n_ff = NULL, *n_used = NULL, *n_ff_exp = NULL;
    bool *swa = NULL;
    int rc = -1;

    if (check_arch(f, err) < 0 || check_unsupported(f, err) < 0)
        return -1;
    if (get_u32(f, "context_length", true, 0, &hp->n_ctx_train, err) < 0
        || get_u32(f, "embedding_length", true, 0, &hp->n_embd, err) < 0
        || get_u32(f, "block_count", true, 0, &hp->n_layer, err) < 0)
        return -1;
    const uint32_t L = hp->n_layer, E = hp->n_embd;
    if (L == 0 || L > GM_MAX_LAYERS)
        return cm_err_set(err, ARCH ".block_count is %u, expected 1..%d", L, GM_MAX_LAYERS);
    if (E == 0 || E > (1u << 20))
        return cm_err_set(err, ARCH ".embedding_length is %u, out of range", E);

    n_head = calloc(L, sizeof(*n_head));
    n_head_kv = calloc(L, sizeof(*n_head_kv));
    n_ff = calloc(L, sizeof(*n_ff));
    n_used = calloc(L, sizeof(*n_used));
    n_ff_exp = calloc(L, sizeof(*n_ff_exp));
    swa = calloc(L, sizeof(*swa));
    hp->layer = calloc(L, sizeof(*hp->layer));
    if (!n_head || !n_head_kv || !n_ff || !n_used || !n_ff_exp || !swa || !hp->layer) {
        cm_err_set(err, "hyperparameters: out of memory");
        goto out;
    }

    if (get_layer_u32(f, "attention.head_count", L, true, 0, n_head, err) < 0
        || get_layer_u32(f, "feed_forward_length", L, true, 0, n_ff, err) < 0)
        goto out;
    for (uint32_t l = 0; l < L; l++)
        if (n_head[l] == 0 || n_head[l] > 4096) {
            cm_err_set(err, ARCH ".attention.head_count of layer %u is %u, expected 1..4096", l,
                       n_head[l]);
            goto out;
        }
    /* head_count_kv defaults to head_count, layer by layer */
    {
        char k[128];
        if (gguf_find_key(f, key(k, sizeof(k), "attention.head_count_kv")) < 0)
            memcpy(n_head_kv, n_head, L * sizeof(*n_head));
        else if (get_layer_u32(f, "attention.head_count_kv", L, true, 0, n_head_kv, err) < 0)
            goto out;
    }

    uint32_t vlen, vlen_swa;
    if (get_u32(f, "attention.key_length", false, E / n_head[0], &hp->head_dim_full, err) < 0
        || get_u32(f, "attention.value_length", false, hp->head_dim_full, &vlen, err) < 0
        || get_u32(f, "attention.key_length_swa", true, 0, &hp->head_dim_swa, err) < 0
        || get_u32(f, "attention.value_length_swa", true, 0, &vlen_swa, err) < 0)
        goto out;
    if (vlen != hp->head_dim_full || vlen_swa != hp->head_dim_swa) {
        cm_err_set(err, "value_length (%u, swa %u) must equal key_length (%u, swa %u)", vlen,
                   vlen_swa, hp->head_dim_full, hp->head_dim_swa);
        goto out;
    }
    if (get_u32(f, "rope.dimension_count", false, hp->head_dim_full, &hp->n_rot_full, err) < 0
        || get_u32(f, "rope.dimension_count_swa", false, hp->n_rot_full, &hp->n_rot_swa, err) < 0
        || get_f32(f, "rope.freq_base", false, 10000.0f, &hp->rope_base_full, err) < 0
        || get_f32(f, "rope.freq_base_swa", false, 10000.0f, &hp->rope_base_swa, err) < 0
        || get_f32(f, "attention.layer_norm_rms_epsilon", true, 0, &hp->eps, err) < 0
        || get_u32(f, "attention.sliding_window", true, 0, &hp->swa_window, err) < 0
        || get_swa_pattern(f, L, swa, err) < 0
        || get_u32(f, "attention.shared_kv_layers", false, 0, &hp->n_shared_kv, err) < 0
        || get_u32(f, "embedding_length_per_layer_input", true, 0, &hp->n_embd_ple, err) < 0
        || get_f32(f, "final_logit_softcapping", false, 30.0f, &hp->softcap, err) < 0
        || get_u32(f, "expert_count", false, 0, &hp->n_expert, err) < 0)
        goto out;

    if (hp->n_expert > GM_MAX_EXPERTS) {
        cm_err_set(err, ARCH ".expert_count is %u, at most %d", hp->n_expert, GM_MAX_EXPERTS);
        goto out;
    }
    if (get_layer_u32(f, "expert_used_count", L, hp->n_expert > 0, 0, n_used, err) < 0
        || get_layer_u32(f, "expert_feed_forward_length", L, false, 0, n_ff_exp, err) < 0)
        goto out;
    hp->n_ff_exp = n_ff_exp[0];

    const uint32_t dims[2] = {hp->head_dim_full, hp->head_dim_swa};
    const uint32_t rots[2] = {hp->n_rot_full, hp->n_rot_swa};
    for (int t = 0; t < 2; t++) {
        const char *what = t ? "sliding" : "full";
        if (dims[t] == 0 || dims[t] > 4096 || dims[t] % 2 != 0) {
            cm_err_set(err, "head dimension of %s layers is %u, expected an even number in 2..4096",
                       what, dims[t]);
            goto out;
        }
        if (rots[t] == 0 || rots[t] % 2 != 0 || rots[t] > dims[t]) {
            cm_err_set(err, "RoPE dimension count of %s layers is %u, expected an even number <= the head dimension %u",
                       what, rots[t], dims[t]);
            goto out;
        }
    }
    if (!(hp->eps >= 0.0f) || hp->eps > 1.0f) {
        cm_err_set(err, ARCH ".attention.layer_norm_rms_epsilon is %g, out of range", (double)hp->eps);
        goto out;
    }
    if (hp->swa_window == 0) {
        cm_err_set(err, ARCH ".attention.sliding_window is 0");
        goto out;
    }
    if (!(hp->softcap >= 0.0f)) {
        cm_err_set(err, ARCH ".final_logit_softcapping is %g, expected >= 0", (double)hp->softcap);
        goto out;
    }
    if (hp->n_shared_kv >= L) {
        cm_err_set(err, ARCH ".attention.shared_kv_layers is %u for %u layers", hp->n_shared_kv, L);
        goto out;
    }
    if (hp->n_embd_ple > (1u << 16)) {
        cm_err_set(err, ARCH ".embedding_length_per_layer_input is %u, out of range", hp->n_embd_ple);
        goto out;
    }
    hp->n_kv_start = L - hp->n_shared_kv;

    for (uint32_t l = 0; l < L; l++) {
        gm_layer_hp *lh = &hp->layer[l];
        lh->swa = swa[l];
        lh->n_head = n_head[l];
        lh->n_head_kv = n_head_kv[l];
        lh->head_dim = swa[l] ? hp->head_dim_swa : hp->head_dim_full;
        lh->n_rot = swa[l] ? hp->n_rot_swa : hp->n_rot_full;
        lh->rope_base = swa[l] ? hp->rope_base_swa : hp->rope_base_full;
        lh->n_ff = n_ff[l];
        lh->n_expert_used = n_used[l];
        lh->has_kv = l < hp->n_kv_start;
        lh->kv_src = l;
        if (lh->n_head_kv == 0 || lh->n_head % lh->n_head_kv != 0) {
            cm_err_set(err, "layer %u: %u attention heads cannot share %u KV heads", l, lh->n_head,
                       lh->n_head_kv);
            goto out;
        }
        if (lh->n_ff == 0 || lh->n_ff > (1u << 22)) {
            cm_err_set(err, "layer %u: feed_forward_length %u out of range", l, lh->n_ff);
            goto out;
        }
        if (hp->n_expert > 0 && (lh->n_expert_used == 0 || lh->n_expert_used > hp->n_expert)) {
            cm_err_set(err, "layer %u: expert_used_count %u, expected 1..%u", l, lh->n_expert_used,
                       hp->n_expert);
            goto out;
        }
        if (!lh->has_kv) {
            /* all shared sliding layers read layer n_kv_start-2, all shared
             * full layers layer n_kv_start-1 (section 6.3) */
            if (hp->n_kv_start < 2) {
                cm_err_set(err, "%u shared-KV layers leave fewer than 2 layers with their own KV",
                           hp->n_shared_kv);
                goto out;
            }
            uint32_t src = lh->swa ? hp->n_kv_start - 2 : hp->n_kv_start - 1;
            if (swa[src] != lh->swa || n_head_kv[src] != lh->n_head_kv) {
                cm_err_set(err, "layer %u (%s, %u KV heads) would share the KV cache of layer %u (%s, %u KV heads)",
                           l, lh->swa ? "sliding" : "full", lh->n_head_kv, src,
                           swa[src] ? "sliding" : "full", n_head_kv[src]);
                goto out;
            }
            lh->kv_src = src;
        }
    }
    rc = 0;
out:
    free(n_head);
    free(n_head_kv);
    free(n_ff);
    free(n_used);
    free(n_ff_exp);
    free(swa);
    if (rc < 0)
        gm_hparams_free(hp);
    return rc;
}

void gm_hparams_free(gm_hparams *hp)
{
    free(hp->layer);
    hp->layer = NULL;
}
