/*
 * bench/ref_quantize.c -- quantize a GGUF file with the reference
 * llama.cpp's own quantizer (llama_model_quantize in the prebuilt
 * libllama), so that bench/engine_vs_ref.sh can measure both engines on
 * the very bytes llama.cpp's tools would write (e.g. Q4_K_M, whose mix of
 * Q4_K and Q6_K tensors is llama.cpp's choice, not ours).
 *
 * Built at run time by bench/engine_vs_ref.sh against $GEMMA_REF_DIR
 * (never part of the build).
 *   usage: ref_quantize IN.gguf OUT.gguf TYPE [THREADS]
 * TYPE is q4_k_m, q4_k_s, q6_k, q8_0 or q4_0. Exits 0 on success, 1 when
 * the quantizer fails, 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static int ftype_of(const char *name, enum llama_ftype *out)
{
    static const struct {
        const char *name;
        enum llama_ftype ftype;
    } types[] = {
        {"q4_k_m", LLAMA_FTYPE_MOSTLY_Q4_K_M}, {"q4_k_s", LLAMA_FTYPE_MOSTLY_Q4_K_S},
        {"q6_k", LLAMA_FTYPE_MOSTLY_Q6_K},     {"q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},
        {"q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(name, types[i].name) == 0) {
            *out = types[i].ftype;
            return 0;
        }
    return -1;
}

static void quiet_log(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

int main(int argc, char **argv)
{
    enum llama_ftype ftype;
    if ((argc != 4 && argc != 5) || ftype_of(argv[3], &ftype) < 0) {
        fprintf(stderr, "usage: ref_quantize IN.gguf OUT.gguf q4_k_m|q4_k_s|q6_k|q8_0|q4_0 "
                        "[THREADS]\n");
        return 2;
    }
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.ftype = ftype;
    qp.nthread = argc == 5 ? atoi(argv[4]) : 0;
    const uint32_t rc = llama_model_quantize(argv[1], argv[2], &qp);
    llama_backend_free();
    if (rc != 0) {
        fprintf(stderr, "ref_quantize: llama_model_quantize(%s -> %s, %s) failed (%u)\n", argv[1],
                argv[2], argv[3], rc);
        return 1;
    }
    return 0;
}
