/*
 * engine/cpu/kq_packed.c -- the repacking plumbing shared by the packed
 * K-quant formats (kq_packed.h): checks, allocation (advised onto huge
 * pages), a pool pass calling
 * the format's block packer for every block of every group, and the plain
 * rows left over copied as they are.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine/cpu/kq_packed.h"
#include "engine/cpu/pool.h"
#include "engine/quant/blocks.h"

/* Asks the kernel to back the 2 MiB-aligned pages inside [mem, mem +
 * bytes) with transparent huge pages, before they are first written (the
 * pages at the ends stay small: no memory beyond what is written). The
 * kernels stream each matrix once per token; with 4 KiB pages that is a
 * TLB miss every 4 KiB (a decode-like sequence of E2B-shape Q4_K/Q6_K
 * matmuls, 2 threads, both copies in one process, alternating per token:
 * 51.34 -> 50.75 ms per token on AVX-512, 54.38 -> 53.21 ms on AVX2, on a
 * machine then streaming ~21 GB/s). Where THP is off ("never") the
 * advice does nothing. */
static void gm_kq_advise_huge(void *mem, size_t bytes)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    const uintptr_t first = ((uintptr_t)mem + huge - 1) & ~(huge - 1);
    const uintptr_t last = ((uintptr_t)mem + bytes) & ~(huge - 1);
    if (last > first)
        (void)madvise((void *)first, last - first, MADV_HUGEPAGE); /* advice: failure is harmless */
#else
    (void)mem, (void)bytes;
#endif
}

typedef struct gm_kq_pack_job {
    const gm_kq_format *fmt;
    const uint8_t *w;
    gm_kq_packed *p;
} gm_kq_pack_job;

static void gm_kq_pack_groups(void *ctx, uint64_t begin, uint64_t end, uint32_t worker)
{
    (void)worker;
    const gm_kq_pack_job *job = ctx;
    const gm_kq_packed *p = job->p;
    const uint64_t nb = p->cols / GM_QK_K;
    for (uint64_t k = begin; k < end; k++) {
        const uint8_t *w = job->w + (size_t)k * GM_KQ_PACKED_ROWS * p->row_bytes;
        uint8_t *g = p->data + (size_t)k * p->group_bytes;
        for (uint64_t i = 0; i < nb; i++)
            job->fmt->pack_block(w, p->row_bytes, i, g + (size_t)i * job->fmt->packed_block_bytes);
    }
}

int gm_kq_pack(const gm_kq_format *fmt, gm_pool *pool, const void *w, uint64_t rows,
               uint64_t cols, gm_kq_packed **out, cm_err *err)
{
    *out = NULL;
    if (cols == 0 || cols % GM_QK_K != 0)
        return cm_err_set(err, "repack: %s row length %llu is not a positive multiple of %d",
                          fmt->name, (unsigned long long)cols, GM_QK_K);
    if (rows > 0 && w == NULL)
        return cm_err_set(err, "repack: missing weights");
    const uint64_t nb = cols / GM_QK_K;
    const uint64_t groups = rows / GM_KQ_PACKED_ROWS, rest = rows % GM_KQ_PACKED_ROWS;
    const uint64_t limit = (uint64_t)SIZE_MAX / 4;
    if (nb > limit / fmt->packed_block_bytes || groups > limit / (nb * fmt->packed_block_bytes))
        return cm_err_set(err, "repack: %llu x %llu matrix is too large",
                          (unsigned long long)rows, (unsigned long long)cols);
    gm_kq_packed *p = calloc(1, sizeof *p);
    if (p == NULL)
        return cm_err_set(err, "repack: out of memory");
    p->rows = rows;
    p->cols = cols;
    p->groups = groups;
    p->row_bytes = (size_t)nb * fmt->plain_block_bytes;
    p->group_bytes = (size_t)nb * fmt->packed_block_bytes;
    const size_t packed_bytes = (size_t)groups * p->group_bytes;
    const size_t rest_bytes = (size_t)rest * p->row_bytes;
    p->bytes = (packed_bytes + rest_bytes + 63) & ~(size_t)63;
    if (p->bytes == 0)
        p->bytes = 64;
    void *mem = NULL;
    if (posix_memalign(&mem, 64, p->bytes) != 0) {
        const size_t bytes = p->bytes;
        free(p);
        return cm_err_set(err, "repack: out of memory for a %llu x %llu matrix (%zu bytes)",
                          (unsigned long long)rows, (unsigned long long)cols, bytes);
    }
    p->data = mem;
    gm_kq_advise_huge(mem, p->bytes);
    gm_kq_pack_job job = {fmt, w, p};
    gm_pool_run(pool, groups, 1, gm_kq_pack_groups, &job);
    if (rest > 0) {
        const size_t rest_off = (size_t)groups * GM_KQ_PACKED_ROWS * p->row_bytes;
        memcpy(p->data + packed_bytes, (const uint8_t *)w + rest_off, rest_bytes);
        p->rest = p->data + packed_bytes;
    }
    *out = p;
    return 0;
}

void gm_kq_packed_free(gm_kq_packed *p)
{
    if (p == NULL)
        return;
    free(p->data);
    free(p);
}
