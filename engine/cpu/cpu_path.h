/*
 * engine/cpu/cpu_path.h -- which set of CPU kernels runs: the portable
 * scalar reference, AVX2 (with FMA and F16C) or AVX-512 (F, BW and VL,
 * using VNNI where the CPU has it).
 *
 * The choice is made once per process, on first use: the best path the
 * CPU supports (read from CPUID, as detected by the compiler runtime at
 * start-up), unless the environment variable GEMMA_CPU names one of
 * "scalar", "avx2" or "avx512". A GEMMA_CPU the CPU cannot run, or an
 * unknown value, is an error: gm_cpu_path_check() reports it and
 * gm_matmul() refuses to run, rather than silently picking another path.
 */
#ifndef GM_CPU_PATH_H
#define GM_CPU_PATH_H

#include <stdbool.h>

#include "common/err.h"

typedef enum gm_cpu_path {
    GM_CPU_SCALAR = 0,
    GM_CPU_AVX2 = 1,
    GM_CPU_AVX512 = 2,
} gm_cpu_path;

/* What this CPU supports (hardware and OS state saving, not GEMMA_CPU). */
bool gm_cpu_has_avx2(void);        /* AVX2, FMA and F16C */
bool gm_cpu_has_avx512(void);      /* AVX-512 F, BW and VL (and AVX2) */
bool gm_cpu_has_avx512_vnni(void); /* the above plus AVX512-VNNI */

/* The path chosen for this process (GM_CPU_SCALAR when GEMMA_CPU is bad;
 * gm_cpu_path_check tells). */
gm_cpu_path gm_cpu_active_path(void);
/* 0 when the chosen path is usable; -1 with a message naming GEMMA_CPU's
 * value when it is unknown or the CPU cannot run it. */
int gm_cpu_path_check(cm_err *err);
/* "scalar", "avx2", "avx512" or "avx512-vnni": the path that runs. */
const char *gm_cpu_path_name(void);
/* Parse a GEMMA_CPU value; -1 when it is not one of the three names. */
int gm_cpu_path_parse(const char *s, gm_cpu_path *out);
/* Whether this CPU can run a path. */
bool gm_cpu_path_supported(gm_cpu_path path);

#endif
