/*
 * daemon/bundle_open.c -- verified opening of signed model bundles (see
 * bundle_open.h): a folder with its model.sig, or a GGUF file signed on
 * its own (models[].signature). Runs in the thread pool, before the
 * engine sees a byte.
 */
#include "daemon/bundle_open.h"

#include <string.h>

#include "bundle/bundle.h"

/* The GGUF file of the bundle: the model's `path`, else its only *.gguf. */
static const char *pick(const bundle_verified *v, const gmd_model_config *mc, cm_err *err)
{
    if (mc->path[0] != '\0') {
        if (bundle_verified_find(v, mc->path) == NULL) {
            cm_err_set(err, "the bundle lists no file '%s'", mc->path);
            return NULL;
        }
        return mc->path;
    }
    const char *found = NULL;
    for (size_t i = 0; i < v->n_files; i++) {
        size_t n = strlen(v->files[i].path);
        if (n >= 5 && strcmp(v->files[i].path + n - 5, ".gguf") == 0) {
            if (found != NULL) {
                cm_err_set(err, "the bundle holds several .gguf files: name one with path");
                return NULL;
            }
            found = v->files[i].path;
        }
    }
    if (found == NULL)
        cm_err_set(err, "the bundle holds no .gguf file");
    return found;
}

int gmd_bundle_open(const gmd_config *cfg, const gmd_model_config *mc, int *fd,
                    char root_hex[65], cm_err *err)
{
    *fd = -1;
    bundle_trust *trust = NULL;
    bundle_verified *v = NULL;
    int rc = -1;
    if (bundle_trust_new(&trust, err) < 0)
        goto out;
    if (cfg->bundle_keys[0] != '\0' && bundle_trust_add_key_file(trust, cfg->bundle_keys, err) < 0)
        goto out;
    if (cfg->bundle_cas[0] != '\0' && bundle_trust_add_ca_file(trust, cfg->bundle_cas, err) < 0)
        goto out;
    const char *name;
    if (mc->signature[0] != '\0') {
        /* A GGUF signed on its own: `path` against `signature`. */
        if (bundle_verify_file(mc->path, mc->signature, trust, NULL, &v, err) < 0)
            goto out;
        name = BUNDLE_FILE_RESOURCE;
    } else {
        if (bundle_verify(mc->bundle, trust, NULL, &v, err) < 0)
            goto out;
        name = pick(v, mc, err);
    }
    if (name == NULL)
        goto out;
    *fd = bundle_verified_take_fd(v, name);
    if (*fd < 0) {
        cm_err_set(err, "no descriptor for '%s'", name);
        goto out;
    }
    bundle_hex(v->info->root_digest, root_hex);
    rc = 0;
out:
    if (rc < 0)
        cm_err_prefix(err, "model %s", mc->name);
    bundle_verified_free(v);
    bundle_trust_free(trust);
    return rc;
}
