/*
 * engine/cpu/dot_dispatch.c -- which dot kernel a CPU path runs for a
 * weight format (engine/cpu/dot.h): the path's own kernel where it has
 * one, else the next narrower path's (AVX-512 -> AVX2 -> scalar), and the
 * four-vector and tile kernels that are bit-identical to exactly that one.
 */
#include "engine/cpu/dot.h"

gm_dot_fn gm_dot_for_path(gm_cpu_path path, gm_type type)
{
    gm_dot_fn fn = NULL;
    if (path >= GM_CPU_AVX512)
        fn = gm_dot_avx512(type);
    if (fn == NULL && path >= GM_CPU_AVX2)
        fn = gm_dot_avx2(type);
    return fn != NULL ? fn : gm_dot_scalar(type);
}

gm_dot4_fn gm_dot4_for_path(gm_cpu_path path, gm_type type)
{
    if (path >= GM_CPU_AVX512 && gm_dot_avx512(type) != NULL)
        return gm_dot4_avx512(type);
    if (path >= GM_CPU_AVX2 && gm_dot_avx2(type) != NULL)
        return gm_dot4_avx2(type);
    return NULL;
}

const gm_tiles *gm_tiles_for_path(gm_cpu_path path, gm_type type)
{
    if (path >= GM_CPU_AVX512 && gm_dot_avx512(type) != NULL)
        return gm_tiles_avx512(type);
    if (path >= GM_CPU_AVX2 && gm_dot_avx2(type) != NULL)
        return gm_tiles_avx2(type);
    return NULL;
}

gm_dot_fn gm_dot_best(gm_type type)
{
    return gm_dot_for_path(gm_cpu_active_path(), type);
}
