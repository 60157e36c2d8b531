/*
 * engine/model/model.c -- loading a gemma4 GGUF into a gm_model: open and
 * map the file, read the tokenizer and the hyperparameters, bind the
 * weights in place, and build the GELU table (engine/gemma.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/cpu/cpu_path.h"
#include "engine/model/model.h"
#include "engine/model/ops.h"
#include "engine/text/vocab.h"

static void fill_info(gm_model *m, const char *display_name)
{
    gm_model_info *info = &m->info;
    gguf_str name;
    if (gguf_find_key(m->file, "general.name") >= 0
        && gguf_get_str(m->file, "general.name", &name, NULL) == 0 && name.len > 0) {
        size_t n = name.len < sizeof(info->name) - 1 ? name.len : sizeof(info->name) - 1;
        memcpy(info->name, name.ptr, n);
        info->name[n] = '\0';
    } else {
        const char *base = strrchr(display_name, '/');
        snprintf(info->name, sizeof(info->name), "%s", base ? base + 1 : display_name);
    }
    for (int64_t i = 0; i < gguf_n_tensors(m->file); i++) {
        const gguf_tensor *t = gguf_tensor_at(m->file, i);
        info->n_params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        info->n_bytes += t->nbytes;
    }
    if (m->vocab_only)
        return;
    info->n_layer = m->hp.n_layer;
    info->n_embd = m->hp.n_embd;
    info->n_vocab = m->hp.n_vocab;
    info->n_ctx_train = m->hp.n_ctx_train;
    info->n_expert = m->hp.n_expert;
    info->n_expert_used = m->hp.n_expert > 0 ? m->hp.layer[0].n_expert_used : 0;
    info->has_ple = m->hp.n_embd_ple > 0;
}

static int load_open(gm_model *m, const char *display_name, const gm_load_opts *opts,
                     cm_err *err)
{
    m->backend = &gm_backend_cpu;
    m->vocab_only = opts != NULL && opts->vocab_only;
    m->gelu_exact = opts != NULL && opts->gelu_exact;
    m->n_threads = opts != NULL && opts->n_threads > 0 ? opts->n_threads : 0;
    if (m->n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        m->n_threads = n > 0 ? (int)(n > 256 ? 256 : n) : 1;
    }
    if (gm_vocab_load(m->file, &m->vocab, err) < 0)
        return -1;
    if (!m->vocab_only) {
        if (gm_hparams_load(m->file, &m->hp, err) < 0)
            return -1;
        m->layers = calloc(m->hp.n_layer, sizeof(*m->layers));
        if (m->layers == NULL)
            return cm_err_set(err, "out of memory");
        if (gm_weights_bind(m, err) < 0)
            return -1;
        if (gm_vocab_n_tokens(m->vocab) != m->hp.n_vocab)
            return cm_err_set(err, "the tokenizer has %u tokens but token_embd.weight has %u rows",
                              gm_vocab_n_tokens(m->vocab), m->hp.n_vocab);
        if (!m->gelu_exact) {
            m->gelu_table = malloc(65536 * sizeof(*m->gelu_table));
            if (m->gelu_table == NULL)
                return cm_err_set(err, "out of memory");
            gm_gelu_table_init(m->gelu_table);
        }
    }
    fill_info(m, display_name);
    /* the backend last: it may copy the bound weights elsewhere */
    int cuda_index = -1;
    if (gm_device_parse(opts != NULL ? opts->device : NULL, &cuda_index, err) < 0)
        return -1;
    if (cuda_index >= 0 && !m->vocab_only) {
        if (gm_backend_cuda.model_init(m, cuda_index, err) < 0)
            return -1;
        m->backend = &gm_backend_cuda;
    } else if (!m->vocab_only && gm_weights_repack(m, err) < 0) {
        return -1; /* CPU: the Q4_K weights in the kernels' layout */
    }
    return 0;
}

int gm_device_parse(const char *device, int *cuda_index, cm_err *err)
{
    *cuda_index = -1;
    if (device == NULL || device[0] == '\0' || strcmp(device, "cpu") == 0)
        return 0;
    if (strcmp(device, "cuda") == 0) {
        *cuda_index = 0;
        return 0;
    }
    if (strncmp(device, "cuda:", 5) == 0) {
        const char *p = device + 5;
        long v = 0;
        size_t digits = 0;
        for (; p[digits] >= '0' && p[digits] <= '9' && digits < 4; digits++)
            v = v * 10 + (p[digits] - '0');
        if (digits > 0 && p[digits] == '\0') {
            *cuda_index = (int)v;
            return 0;
        }
    }
    return cm_err_set(err, "device '%.32s': expected cpu, cuda or cuda:N (N a GPU number, 0 to 9999)",
                      device);
}

void gm_model_device_info(const gm_model *model, gm_device_info *out)
{
    memset(out, 0, sizeof(*out));
    if (model->backend != NULL && model->backend->device_info != NULL) {
        model->backend->device_info(model, out);
        return;
    }
    snprintf(out->device, sizeof(out->device), "cpu");
    out->index = -1;
    out->model_bytes = model->info.n_bytes;
}

int gm_model_load(const char *path, const gm_load_opts *opts, gm_model **out, cm_err *err)
{
    *out = NULL;
    if (gm_cpu_path_check(err) < 0) /* a bad GEMMA_CPU: refuse before any work */
        return -1;
    gm_model *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return cm_err_set(err, "out of memory");
    if (gguf_open(path, &m->file, err) < 0) { /* the message names the file */
        gm_model_free(m);
        return -1;
    }
    if (load_open(m, path, opts, err) < 0) {
        cm_err_prefix(err, "%s", path);
        gm_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

int gm_model_load_fd(int fd, const char *display_name, const gm_load_opts *opts,
                     gm_model **out, cm_err *err)
{
    *out = NULL;
    if (gm_cpu_path_check(err) < 0) /* a bad GEMMA_CPU: refuse before any work */
        return -1;
    gm_model *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return cm_err_set(err, "out of memory");
    if (gguf_open_fd(fd, display_name, &m->file, err) < 0) {
        gm_model_free(m);
        return -1;
    }
    if (load_open(m, display_name, opts, err) < 0) {
        cm_err_prefix(err, "%s", display_name);
        gm_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

void gm_model_free(gm_model *model)
{
    if (model == NULL)
        return;
    if (model->backend != NULL && model->backend->model_free != NULL)
        model->backend->model_free(model);
    free(model->gelu_table);
    gm_weights_repack_free(model);
    free(model->layers);
    gm_hparams_free(&model->hp);
    if (model->vocab != NULL)
        gm_vocab_free(model->vocab);
    if (model->file != NULL)
        gguf_close(model->file);
    free(model);
}

const gm_model_info *gm_model_get_info(const gm_model *model)
{
    return &model->info;
}

const gm_vocab *gm_model_get_vocab(const gm_model *model)
{
    return model->vocab;
}
