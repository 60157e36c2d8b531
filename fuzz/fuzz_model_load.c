/*
 * fuzz/fuzz_model_load.c -- libFuzzer target for the model loader
 * (engine/model/: hyperparameters, tensor binding and shape checks): the
 * input is handed to gm_model_load_fd() through an in-memory file; when a
 * model is accepted, a small context is made and one token decoded, so a
 * binding that let a bad shape through is caught by AddressSanitizer.
 *
 * Seeds: small models, e.g. `gemma-run synth --preset tiny-moe --layers 2
 * --vocab 494 --type q4_0` and `--preset tiny --layers 4 --vocab 494 --type
 * q4_0` (about 1.1-1.3 MB: run with -max_len=2000000, libFuzzer's default
 * limit of 1 MB would cut them).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/gemma.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz.gguf", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    gm_load_opts lo = {.n_threads = 1};
    gm_model *model = NULL;
    cm_err err;
    if (gm_model_load_fd(fd, "fuzz.gguf", &lo, &model, &err) == 0) {
        gm_context_opts co = {.n_ctx = 4, .n_seq_max = 1, .n_threads = 1};
        gm_context *ctx = NULL;
        if (gm_context_new(model, &co, &ctx, &err) == 0) {
            const gm_model_info *info = gm_model_get_info(model);
            float *logits = malloc((size_t)info->n_vocab * sizeof(float));
            int32_t tok = 0;
            gm_batch b = {.n_tokens = 1, .tokens = &tok};
            if (logits != NULL)
                (void)gm_decode(ctx, &b, logits, &err);
            free(logits);
            gm_context_free(ctx);
        }
        gm_model_free(model);
    }
    close(fd);
    return 0;
}
