/*
 * engine/model/ops.h -- the elementwise arithmetic of the forward pass,
 * written to round like llama.cpp's CPU backend (docs/architecture.md E10):
 * RMS norm, NEOX RoPE, softmax, GELU (tanh form) and the logit soft-cap.
 */
#ifndef GM_OPS_H
#define GM_OPS_H

#include <stddef.h>
#include <stdint.h>

/* 1 / sqrt(mean(x^2) + eps), the sum of squares accumulated in double. */
float gm_rms_scale(const float *x, uint32_t n, float eps);
/* y = x / sqrt(mean(x^2) + eps) * w (w may be NULL: no weight). The sum of
 * squares is accumulated in double. x and y may be the same array. */
void gm_rmsnorm(const float *x, const float *w, uint32_t n, float eps, float *y);
/* out = rmsnorm(t) * w + res: a block's post-norm and its residual add in
 * one pass, rounding as the two steps do. out may be t or res. */
void gm_rmsnorm_add(const float *t, const float *w, const float *res, uint32_t n, float eps,
                    float *out);
/* The same on n_rows consecutive rows of n elements. */
void gm_rmsnorm_rows(const float *x, const float *w, uint32_t n_rows, uint32_t n,
                     float eps, float *y);

/* cos/sin table for one position: cs[2i] = cos(theta_i), cs[2i+1] =
 * sin(theta_i) for the n_rot/2 rotated pairs, theta_i = pos * base^(-2i/n_rot)
 * / ff[i] computed as a float running product (ff may be NULL). */
void gm_rope_cache(uint32_t pos, uint32_t n_rot, float base, const float *ff, float *cs);
/* Rotate one head vector in place, NEOX style: pair i is (v[i], v[i+n_rot/2]);
 * dimensions >= n_rot are left as they are. */
void gm_rope_apply(float *v, uint32_t n_rot, const float *cs);

/* In-place softmax (max-subtracted expf, sum in double). */
void gm_softmax(float *x, uint32_t n);

/* The 65536-entry table ggml uses: fp16 GELU of each fp16 value, evaluated
 * in float with tanhf. */
void gm_gelu_table_init(uint16_t *table);
/* GELU of x: through the table when table != NULL (as ggml: 0 below -10,
 * identity above 10), else the exact tanh formula in double. */
float gm_gelu(const uint16_t *table, float x);
/* out[i] = gelu(gate[i]) * up[i] */
void gm_geglu(const uint16_t *table, const float *gate, const float *up, uint32_t n,
              float *out);

/* x = cap * tanh(x * (1 / cap)) for n values (cap > 0), with the tanh of
 * gm_tanhf (softcap.c): eight values at a time where the CPU path has
 * AVX2, the same bits on every path. */
void gm_softcap(float *x, uint32_t n, float cap);
/* The same one value at a time (for tests). */
void gm_softcap_scalar(float *x, uint32_t n, float cap);
/* tanh(x) by the fdlibm method glibc's tanhf uses: its bits (glibc 2.36),
 * on any C library. */
float gm_tanhf(float x);

/* ---- the same over a thread pool (ops_par.c) ----
 * Fixed-size chunks, each element or row computed as above: the same bits
 * on any number of threads. pool may be NULL (the calling thread). */
typedef struct gm_pool gm_pool; /* engine/cpu/pool.h */
/* gm_rmsnorm on n_rows rows of n. */
void gm_rmsnorm_rows_par(gm_pool *pool, const float *x, const float *w, uint32_t n_rows,
                         uint32_t n, float eps, float *y);
/* gm_rmsnorm_add on n_rows rows of n. */
void gm_rmsnorm_add_rows(gm_pool *pool, const float *t, const float *w, const float *res,
                         uint32_t n_rows, uint32_t n, float eps, float *out);
/* gm_geglu on count values. */
void gm_geglu_par(gm_pool *pool, const uint16_t *table, const float *gate, const float *up,
                  size_t count, float *out);
/* gm_softcap on count values. */
void gm_softcap_par(gm_pool *pool, float *x, size_t count, float cap);

#endif
