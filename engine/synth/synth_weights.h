/*
 * engine/synth/synth_weights.h -- seeded tensor contents of synthetic
 * models (internal to engine/synth/).
 *
 * A synth_tensor describes one tensor and how its values are drawn; its
 * fill function (a gguf_fill_fn) generates the values row by row from the
 * tensor's own random stream and encodes them in the tensor's type, so a
 * model's values are the same whatever the file type.
 */
#ifndef GM_SYNTH_WEIGHTS_H
#define GM_SYNTH_WEIGHTS_H

#include <stdint.h>

#include "common/err.h"
#include "engine/format/tensor_type.h"

#define SYNTH_TENSOR_NAME_MAX 64

typedef enum synth_init {
    SYNTH_INIT_NORMAL,     /* a * N(0, 1) */
    SYNTH_INIT_NORM,       /* a * (1 + 0.1 N(0, 1)): RMS-norm weights */
    SYNTH_INIT_UNIFORM,    /* uniform in [a, b) */
    SYNTH_INIT_ROPE_FREQS, /* 1.0 for the first n_keep pairs, 1e30 after */
} synth_init;

typedef struct synth_tensor {
    char name[SYNTH_TENSOR_NAME_MAX];
    uint32_t n_dims;
    uint64_t ne[3];
    gm_type type;
    synth_init init;
    float a, b;
    uint64_t n_keep;
    uint64_t seed;
    uint32_t n_threads; /* rows are generated and encoded in parallel */
} synth_tensor;

/* gguf_fill_fn for a synth_tensor (`user`). */
int synth_tensor_fill(void *user, void *dst, uint64_t nbytes, cm_err *err);

#endif
