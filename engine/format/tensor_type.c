/*
 * engine/format/tensor_type.c -- the table of tensor element formats: ggml's
 * ids, names, block sizes and block bytes (checked against ggml.c's
 * type_traits and the static_asserts of ggml-common.h), and which of them
 * the engine computes with.
 */
#include "engine/format/tensor_type.h"

#include <strings.h>

#include "common/checked.h"

typedef struct gm_type_info {
    const char *name; /* NULL: no format with this id */
    uint32_t block_elems;
    uint32_t block_bytes;
    bool supported;
} gm_type_info;

static const gm_type_info type_table[GM_TYPE_COUNT_MAX] = {
    [GM_TYPE_F32] = {"f32", 1, 4, true},
    [GM_TYPE_F16] = {"f16", 1, 2, true},
    [GM_TYPE_Q4_0] = {"q4_0", 32, 18, true},
    [GM_TYPE_Q4_1] = {"q4_1", 32, 20, false},
    [GM_TYPE_Q5_0] = {"q5_0", 32, 22, true},
    [GM_TYPE_Q5_1] = {"q5_1", 32, 24, false},
    [GM_TYPE_Q8_0] = {"q8_0", 32, 34, true},
    [GM_TYPE_Q8_1] = {"q8_1", 32, 36, false},
    [GM_TYPE_Q2_K] = {"q2_K", 256, 84, false},
    [GM_TYPE_Q3_K] = {"q3_K", 256, 110, false},
    [GM_TYPE_Q4_K] = {"q4_K", 256, 144, true},
    [GM_TYPE_Q5_K] = {"q5_K", 256, 176, true},
    [GM_TYPE_Q6_K] = {"q6_K", 256, 210, true},
    [GM_TYPE_Q8_K] = {"q8_K", 256, 292, true},
    [GM_TYPE_IQ2_XXS] = {"iq2_xxs", 256, 66, false},
    [GM_TYPE_IQ2_XS] = {"iq2_xs", 256, 74, false},
    [GM_TYPE_IQ3_XXS] = {"iq3_xxs", 256, 98, false},
    [GM_TYPE_IQ1_S] = {"iq1_s", 256, 50, false},
    [GM_TYPE_IQ4_NL] = {"iq4_nl", 32, 18, false},
    [GM_TYPE_IQ3_S] = {"iq3_s", 256, 110, false},
    [GM_TYPE_IQ2_S] = {"iq2_s", 256, 82, false},
    [GM_TYPE_IQ4_XS] = {"iq4_xs", 256, 136, false},
    [GM_TYPE_I8] = {"i8", 1, 1, false},
    [GM_TYPE_I16] = {"i16", 1, 2, false},
    [GM_TYPE_I32] = {"i32", 1, 4, false},
    [GM_TYPE_I64] = {"i64", 1, 8, false},
    [GM_TYPE_F64] = {"f64", 1, 8, false},
    [GM_TYPE_IQ1_M] = {"iq1_m", 256, 56, false},
    [GM_TYPE_BF16] = {"bf16", 1, 2, true},
    [GM_TYPE_TQ1_0] = {"tq1_0", 256, 54, false},
    [GM_TYPE_TQ2_0] = {"tq2_0", 256, 66, false},
    [GM_TYPE_MXFP4] = {"mxfp4", 32, 17, false},
    [GM_TYPE_NVFP4] = {"nvfp4", 64, 36, false},
    [GM_TYPE_Q1_0] = {"q1_0", 128, 18, false},
    [GM_TYPE_Q2_0] = {"q2_0", 64, 18, false},
};

static const gm_type_info *type_info(uint32_t type)
{
    if (type >= GM_TYPE_COUNT_MAX || type_table[type].name == NULL)
        return NULL;
    return &type_table[type];
}

bool gm_type_known(uint32_t type)
{
    return type_info(type) != NULL;
}

bool gm_type_supported(uint32_t type)
{
    const gm_type_info *ti = type_info(type);
    return ti != NULL && ti->supported;
}

const char *gm_type_name(gm_type type)
{
    const gm_type_info *ti = type_info((uint32_t)type);
    return ti != NULL ? ti->name : "unknown";
}

int gm_type_from_name(const char *name, gm_type *out)
{
    if (name == NULL)
        return -1;
    for (uint32_t t = 0; t < GM_TYPE_COUNT_MAX; t++) {
        if (type_table[t].name != NULL && strcasecmp(type_table[t].name, name) == 0) {
            *out = (gm_type)t;
            return 0;
        }
    }
    return -1;
}

uint32_t gm_type_block_elems(gm_type type)
{
    const gm_type_info *ti = type_info((uint32_t)type);
    return ti != NULL ? ti->block_elems : 0;
}

uint32_t gm_type_block_bytes(gm_type type)
{
    const gm_type_info *ti = type_info((uint32_t)type);
    return ti != NULL ? ti->block_bytes : 0;
}

bool gm_type_row_bytes(gm_type type, uint64_t n, uint64_t *out)
{
    const gm_type_info *ti = type_info((uint32_t)type);
    if (ti == NULL || n % ti->block_elems != 0)
        return false;
    return cm_mul_u64(n / ti->block_elems, ti->block_bytes, out);
}
