/*
 * daemon/bundle_open.h -- open a model that comes as a signed bundle
 * (bundle/bundle.h): verify the bundle's signature against the keys or CAs
 * of the configuration and every file's digest, and hand back the open
 * descriptor of the GGUF file that was hashed, so nothing can be swapped
 * between the check and the load.
 */
#ifndef GMD_BUNDLE_OPEN_H
#define GMD_BUNDLE_OPEN_H

#include "common/err.h"
#include "daemon/conf.h"

/* On success *fd is the verified GGUF (the caller closes it) and
 * root_hex (65 bytes) the bundle's root digest in hex. */
int gmd_bundle_open(const gmd_config *cfg, const gmd_model_config *mc, int *fd,
                    char root_hex[65], cm_err *err);

#endif
