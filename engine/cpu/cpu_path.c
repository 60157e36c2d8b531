/*
 * engine/cpu/cpu_path.c -- choose the CPU kernel path once per process
 * (engine/cpu/cpu_path.h): CPUID features as the compiler runtime detected
 * them at start-up (__builtin_cpu_supports: no CPUID instruction per call,
 * which is slow under virtualization; libgcc also checks that the OS saves
 * the AVX/AVX-512 register state), then the GEMMA_CPU override.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/cpu_path.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GM_X86 1
#endif

bool gm_cpu_has_avx2(void)
{
#ifdef GM_X86
    /* Not every clang knows "f16c" here; every CPU with AVX2 and FMA has it. */
#if defined(__clang__)
    const bool f16c = true;
#else
    const bool f16c = __builtin_cpu_supports("f16c");
#endif
    return f16c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

bool gm_cpu_has_avx512(void)
{
#ifdef GM_X86
    return gm_cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
}

bool gm_cpu_has_avx512_vnni(void)
{
#ifdef GM_X86
    return gm_cpu_has_avx512() && __builtin_cpu_supports("avx512vnni");
#else
    return false;
#endif
}

bool gm_cpu_path_supported(gm_cpu_path path)
{
    switch (path) {
    case GM_CPU_SCALAR:
        return true;
    case GM_CPU_AVX2:
        return gm_cpu_has_avx2();
    case GM_CPU_AVX512:
        return gm_cpu_has_avx512();
    }
    return false;
}

int gm_cpu_path_parse(const char *s, gm_cpu_path *out)
{
    static const struct {
        const char *name;
        gm_cpu_path path;
    } names[] = {{"scalar", GM_CPU_SCALAR}, {"avx2", GM_CPU_AVX2}, {"avx512", GM_CPU_AVX512}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (s != NULL && strcmp(s, names[i].name) == 0) {
            *out = names[i].path;
            return 0;
        }
    return -1;
}

/* Set once by gm_cpu_path_init (pthread_once), read-only afterwards. */
static gm_cpu_path gm_chosen_path = GM_CPU_SCALAR;
static char gm_path_error[200];
static pthread_once_t gm_path_once = PTHREAD_ONCE_INIT;

static void gm_cpu_path_init(void)
{
    const char *env = getenv("GEMMA_CPU");
    gm_cpu_path want;
    if (env == NULL || env[0] == '\0') {
        gm_chosen_path = gm_cpu_has_avx512()  ? GM_CPU_AVX512
                         : gm_cpu_has_avx2() ? GM_CPU_AVX2
                                             : GM_CPU_SCALAR;
        return;
    }
    if (gm_cpu_path_parse(env, &want) < 0) {
        snprintf(gm_path_error, sizeof(gm_path_error),
                 "GEMMA_CPU='%.40s' is not a CPU path: use avx512, avx2 or scalar", env);
        return;
    }
    if (!gm_cpu_path_supported(want)) {
        snprintf(gm_path_error, sizeof(gm_path_error),
                 "GEMMA_CPU=%s: this CPU does not support it (%s)", env,
                 want == GM_CPU_AVX512 ? "needs AVX-512 F, BW and VL" : "needs AVX2, FMA and F16C");
        return;
    }
    gm_chosen_path = want;
}

gm_cpu_path gm_cpu_active_path(void)
{
    (void)pthread_once(&gm_path_once, gm_cpu_path_init);
    return gm_chosen_path;
}

int gm_cpu_path_check(cm_err *err)
{
    (void)pthread_once(&gm_path_once, gm_cpu_path_init);
    if (gm_path_error[0] != '\0')
        return cm_err_set(err, "%s", gm_path_error);
    return 0;
}

const char *gm_cpu_path_name(void)
{
    switch (gm_cpu_active_path()) {
    case GM_CPU_AVX512:
        return gm_cpu_has_avx512_vnni() ? "avx512-vnni" : "avx512";
    case GM_CPU_AVX2:
        return "avx2";
    case GM_CPU_SCALAR:
        break;
    }
    return "scalar";
}
