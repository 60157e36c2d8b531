/*
 * engine/synth/synth_rng.h -- the seeded random numbers of synthetic
 * weights (internal to engine/synth/).
 *
 * splitmix64, seeded per tensor row from (seed, tensor name, row), so a
 * tensor's values depend on nothing else. Normal deviates are Irwin-Hall sums of
 * four 16-bit uniforms, rescaled to unit variance (bounded by +-3.46):
 * only integer operations and one exactly rounded float multiply, so the
 * values are bit-identical on every machine and libm (Box-Muller would
 * depend on logf/cosf).
 */
#ifndef GM_SYNTH_RNG_H
#define GM_SYNTH_RNG_H

#include <stdint.h>

typedef struct synth_rng {
    uint64_t state;
} synth_rng;

static inline uint64_t synth_rng_next(synth_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The stream of tensor `name` in a model of seed `seed`. */
static inline synth_rng synth_rng_for(uint64_t seed, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 0x100000001b3ull;
    synth_rng r = {seed ^ h};
    r.state = synth_rng_next(&r);
    return r;
}

/* The stream of row `row` of a tensor whose stream is `t`: rows are
 * independent, so they can be generated in any order or in parallel. */
static inline synth_rng synth_rng_row(synth_rng t, uint64_t row)
{
    synth_rng r = {t.state ^ (row * 0xd1342543de82ef95ull)};
    r.state = synth_rng_next(&r);
    return r;
}

/* Uniform in [0, 1), 24 bits. */
static inline float synth_rng_uniform(synth_rng *r)
{
    return (float)(synth_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

/* Approximately standard normal: mean 0, variance 1 (to 2^-32). */
static inline float synth_rng_normal(synth_rng *r)
{
    uint64_t z = synth_rng_next(r);
    int32_t s = (int32_t)(z & 0xffff) + (int32_t)((z >> 16) & 0xffff) +
                (int32_t)((z >> 32) & 0xffff) + (int32_t)(z >> 48);
    /* sum of 4 uniforms on 0..65535: mean 131070, sd ~ 65536/sqrt(3) */
    return (float)(s - 131070) * (1.7320508075688772f / 65536.0f);
}

#endif
