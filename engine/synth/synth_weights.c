/*
 * engine/synth/synth_weights.c -- generating and encoding the tensors of
 * synthetic models, and the per-tensor type rule of the converter.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/quant/quant.h"
#include "engine/synth/synth.h"
#include "engine/synth/synth_rng.h"
#include "engine/synth/synth_weights.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

gm_type gm_synth_tensor_type(gm_type type, const char *name, uint32_t n_dims, uint64_t ne0)
{
    if (n_dims <= 1 || ends_with(name, "norm.weight") || ends_with(name, ".scale") ||
        ends_with(name, "ffn_gate_inp.weight"))
        return GM_TYPE_F32;
    return gm_quant_fallback(type, ne0);
}

static void generate_row(const synth_tensor *t, synth_rng *rng, uint64_t row, float *out)
{
    uint64_t n = t->ne[0];
    switch (t->init) {
    case SYNTH_INIT_NORMAL:
        for (uint64_t i = 0; i < n; i++)
            out[i] = t->a * synth_rng_normal(rng);
        break;
    case SYNTH_INIT_NORM:
        for (uint64_t i = 0; i < n; i++)
            out[i] = t->a * (1.0f + 0.1f * synth_rng_normal(rng));
        break;
    case SYNTH_INIT_UNIFORM:
        for (uint64_t i = 0; i < n; i++)
            out[i] = t->a + (t->b - t->a) * synth_rng_uniform(rng);
        break;
    case SYNTH_INIT_ROPE_FREQS:
        for (uint64_t i = 0; i < n; i++)
            out[i] = row * n + i < t->n_keep ? 1.0f : 1e30f;
        break;
    }
}

/* One thread's share of a tensor: rows [row0, row1). */
typedef struct fill_job {
    const synth_tensor *t;
    unsigned char *dst; /* row row0 */
    uint64_t row0, row1, row_bytes;
    int rc;
    cm_err err;
} fill_job;

static int encode_rows(fill_job *j)
{
    const synth_tensor *t = j->t;
    float *row = malloc(t->ne[0] * sizeof(*row));
    if (!row)
        return cm_err_set(&j->err, "tensor %s: out of memory for a row of %llu elements",
                          t->name, (unsigned long long)t->ne[0]);
    synth_rng base = synth_rng_for(t->seed, t->name);
    unsigned char *out = j->dst;
    int rc = 0;
    for (uint64_t r = j->row0; r < j->row1 && rc == 0; r++, out += j->row_bytes) {
        synth_rng rng = synth_rng_row(base, r);
        generate_row(t, &rng, r, row);
        switch (t->type) {
        case GM_TYPE_F32:
            memcpy(out, row, t->ne[0] * sizeof(*row));
            break;
        case GM_TYPE_F16:
        case GM_TYPE_BF16:
            for (uint64_t i = 0; i < t->ne[0]; i++) {
                uint16_t h = t->type == GM_TYPE_F16 ? gm_fp32_to_fp16(row[i])
                                                    : gm_fp32_to_bf16(row[i]);
                memcpy(out + 2 * i, &h, sizeof(h));
            }
            break;
        default:
            if (gm_quantize_row(t->type, row, out, t->ne[0]) < 0)
                rc = cm_err_set(&j->err, "tensor %s: cannot encode row %llu as %s", t->name,
                                (unsigned long long)r, gm_type_name(t->type));
            break;
        }
    }
    free(row);
    return rc;
}

static void *encode_thread(void *arg)
{
    fill_job *j = arg;
    j->rc = encode_rows(j);
    return NULL;
}

#define MAX_THREADS 64
#define MIN_ELEMS_PER_THREAD (1u << 18)

int synth_tensor_fill(void *user, void *dst, uint64_t nbytes, cm_err *err)
{
    const synth_tensor *t = user;
    uint64_t row_bytes;
    if (!gm_type_row_bytes(t->type, t->ne[0], &row_bytes))
        return cm_err_set(err, "tensor %s: rows of %llu elements do not fit type %s", t->name,
                          (unsigned long long)t->ne[0], gm_type_name(t->type));
    uint64_t rows = 1;
    for (uint32_t d = 1; d < t->n_dims; d++)
        rows *= t->ne[d];
    if (rows * row_bytes != nbytes)
        return cm_err_set(err, "tensor %s: writer asks for %llu bytes, expected %llu", t->name,
                          (unsigned long long)nbytes, (unsigned long long)(rows * row_bytes));
    uint64_t n_threads = t->n_threads ? t->n_threads : 1;
    if (n_threads > MAX_THREADS)
        n_threads = MAX_THREADS;
    if (n_threads > rows)
        n_threads = rows;
    while (n_threads > 1 && rows * t->ne[0] / n_threads < MIN_ELEMS_PER_THREAD)
        n_threads--;
    fill_job jobs[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    for (uint64_t i = 0; i < n_threads; i++) {
        jobs[i].t = t;
        jobs[i].row0 = rows * i / n_threads;
        jobs[i].row1 = rows * (i + 1) / n_threads;
        jobs[i].row_bytes = row_bytes;
        jobs[i].dst = (unsigned char *)dst + jobs[i].row0 * row_bytes;
        jobs[i].rc = 0;
        jobs[i].err.msg[0] = '\0';
    }
    /* Job 0 runs here; a thread that cannot start is run here too. */
    for (uint64_t i = 1; i < n_threads; i++)
        started[i] = pthread_create(&tids[i], NULL, encode_thread, &jobs[i]) == 0;
    encode_thread(&jobs[0]);
    int rc = 0;
    for (uint64_t i = 0; i < n_threads; i++) {
        if (i > 0 && started[i])
            pthread_join(tids[i], NULL);
        else if (i > 0)
            encode_thread(&jobs[i]);
        if (jobs[i].rc < 0 && rc == 0) {
            rc = -1;
            if (err)
                *err = jobs[i].err;
        }
    }
    return rc;
}
