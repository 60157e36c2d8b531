/*
 * tests/tools/cuda_bandwidth.c -- the memory bandwidth of a CUDA device,
 * measured by a device-to-device copy (engine/cuda gm_cuda_bandwidth), for
 * the HBM roofline of tests/gpu/check.sh. Prints "bandwidth_gbs N" and
 * the device's description; exits 1 with the cause when there is no
 * device.
 *
 * usage: cuda_bandwidth [DEVICE_INDEX [MIB]]
 */
#include <stdio.h>
#include <stdlib.h>

#include "engine/cuda/cuda.h"

int main(int argc, char **argv)
{
    const int dev = argc > 1 ? atoi(argv[1]) : 0;
    const long mib = argc > 2 ? atol(argv[2]) : 1024;
    cm_err err;
    gm_cuda *cu = NULL;
    char desc[256];
    double bw = 0;
    if (mib <= 0 || gm_cuda_open(dev, &cu, &err) < 0 || gm_cuda_describe(dev, desc, sizeof(desc), &err) < 0
        || gm_cuda_bandwidth(cu, (size_t)mib << 20, 5, &bw, &err) < 0) {
        fprintf(stderr, "cuda_bandwidth: %s\n", mib <= 0 ? "bad size" : err.msg);
        gm_cuda_close(cu);
        return 1;
    }
    printf("device %s\n", desc);
    printf("bandwidth_gbs %.1f\n", bw / 1e9);
    gm_cuda_close(cu);
    return 0;
}
