/*
 * kernels.c - CPU detection, the scalar reference twins, and the choice of
 * variants (see kernels.h).
 */
#include "kernels.h"

#include "joule_int.h"

#include <math.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define JOULE_X86 1
#endif

/* ---------------------------------------------------------------------------
 * CPU detection
 */

#ifdef JOULE_X86
static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

void joule_cpu_detect(struct joule_cpu *cpu)
{
    memset(cpu, 0, sizeof(*cpu));
#ifdef JOULE_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    const bool osxsave = (c >> 27) & 1;
    if (!osxsave)
        return;
    const uint64_t xcr0 = read_xcr0();
    const bool ymm_ok = (xcr0 & 0x6) == 0x6;    /* SSE and AVX state */
    const bool zmm_ok = (xcr0 & 0xe6) == 0xe6;  /* plus opmask, ZMM_Hi256, Hi16_ZMM */
    const bool avx = (c >> 28) & 1;
    cpu->fma = ymm_ok && ((c >> 12) & 1);
    cpu->f16c = ymm_ok && ((c >> 29) & 1);
    if (!avx || !ymm_ok || __get_cpuid_max(0, NULL) < 7)
        return;
    __cpuid_count(7, 0, a, b, c, d);
    cpu->avx2 = (b >> 5) & 1;
    cpu->avx512f = zmm_ok && ((b >> 16) & 1);
    cpu->avx512dq = zmm_ok && ((b >> 17) & 1);
    cpu->avx512bw = zmm_ok && ((b >> 30) & 1);
    cpu->avx512vl = zmm_ok && ((b >> 31) & 1);
    cpu->avx512vnni = zmm_ok && ((c >> 11) & 1);
    __cpuid_count(7, 1, a, b, c, d);
    cpu->avxvnni = (a >> 4) & 1;
    cpu->avx512bf16 = zmm_ok && ((a >> 5) & 1);
#endif
}

enum joule_isa joule_cpu_best_isa(const struct joule_cpu *cpu)
{
    const bool avx2 = cpu->avx2 && cpu->fma && cpu->f16c;
    if (avx2 && cpu->avx512f && cpu->avx512bw && cpu->avx512vl && cpu->avx512dq)
        return JOULE_ISA_AVX512;
    return avx2 ? JOULE_ISA_AVX2 : JOULE_ISA_SCALAR;
}

const char *joule_isa_name(enum joule_isa isa)
{
    switch (isa) {
    case JOULE_ISA_SCALAR: return "scalar";
    case JOULE_ISA_AVX2: return "avx2";
    case JOULE_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

enum joule_quant_type joule_kernels_act_type(uint32_t w)
{
    if (w == JOULE_QUANT_F16 || w == JOULE_QUANT_BF16)
        return (enum joule_quant_type)w;
    const struct joule_quant_traits *tr = joule_quant_traits(w);
    return tr ? tr->vec_dot_type : JOULE_QUANT_F32;
}

bool joule_kernels_act_row_size(uint32_t w, int64_t n, size_t *bytes)
{
    if (w == JOULE_QUANT_F16 || w == JOULE_QUANT_BF16 || w == JOULE_QUANT_F32)
        return joule_quant_row_size(JOULE_QUANT_F32, n, bytes);
    return joule_quant_row_size(joule_kernels_act_type(w), n, bytes);
}

/* ---------------------------------------------------------------------------
 * Scalar twins
 */

/* Calls the model module's reference dot for one weight type over a tile. */
static void tile_ref(uint32_t type, int64_t n, const void *w, size_t w_stride, int32_t nr,
                     const void *a, size_t a_stride, int32_t nc, float *out, size_t out_stride)
{
    for (int32_t j = 0; j < nc; j++) {
        const uint8_t *aj = (const uint8_t *)a + (size_t)j * a_stride;
        for (int32_t i = 0; i < nr; i++) {
            const uint8_t *wi = (const uint8_t *)w + (size_t)i * w_stride;
            enum joule_status st = joule_quant_vec_dot_ref(type, n, wi, aj,
                                                           &out[(size_t)j * out_stride + i]);
            JOULE_ASSERT(st == JOULE_OK);
            (void)st;
        }
    }
}

#define TILE_REF(name, type)                                                                 \
    static void name(int64_t n, const void *w, size_t ws, int32_t nr, const void *a,          \
                     size_t as, int32_t nc, float *out, size_t os)                            \
    {                                                                                         \
        tile_ref(type, n, w, ws, nr, a, as, nc, out, os);                                     \
    }
TILE_REF(tile_f32_ref, JOULE_QUANT_F32)
TILE_REF(tile_q4_0_ref, JOULE_QUANT_Q4_0)
TILE_REF(tile_q4_1_ref, JOULE_QUANT_Q4_1)
TILE_REF(tile_q5_0_ref, JOULE_QUANT_Q5_0)
TILE_REF(tile_q5_1_ref, JOULE_QUANT_Q5_1)
TILE_REF(tile_q8_0_ref, JOULE_QUANT_Q8_0)
TILE_REF(tile_q4_k_ref, JOULE_QUANT_Q4_K)
TILE_REF(tile_q5_k_ref, JOULE_QUANT_Q5_K)
TILE_REF(tile_q6_k_ref, JOULE_QUANT_Q6_K)
#undef TILE_REF

/* F16 and BF16 weights meet F16- / BF16-rounded activations held as F32:
 * exactly the reference dots of the model module. */
static void tile_f16_ref(int64_t n, const void *w, size_t ws, int32_t nr, const void *a,
                         size_t as, int32_t nc, float *out, size_t os)
{
    for (int32_t j = 0; j < nc; j++)
        for (int32_t i = 0; i < nr; i++)
            out[(size_t)j * os + i] = joule_vec_dot_f16_ref(
                n, (const uint16_t *)(const void *)((const uint8_t *)w + i * ws),
                (const float *)(const void *)((const uint8_t *)a + j * as));
}

static void tile_bf16_ref(int64_t n, const void *w, size_t ws, int32_t nr, const void *a,
                          size_t as, int32_t nc, float *out, size_t os)
{
    for (int32_t j = 0; j < nc; j++)
        for (int32_t i = 0; i < nr; i++)
            out[(size_t)j * os + i] = joule_vec_dot_bf16_ref(
                n, (const uint16_t *)(const void *)((const uint8_t *)w + i * ws),
                (const float *)(const void *)((const uint8_t *)a + j * as));
}

/* The twin of every packed tile: each group unpacked to rows, then the
 * reference tile of the type. */
static void ptile_ref(uint32_t type, joule_tile_fn ref, int64_t n, const void *w, size_t ws,
                      int32_t nr, const void *a, size_t as, int32_t nc, float *out, size_t os)
{
    const size_t row_bytes = ws / JOULE_PACK_ROWS;
    uint8_t *rows = malloc(ws);
    JOULE_ASSERT(rows && nr % JOULE_PACK_ROWS == 0);
    for (int32_t g = 0; g < nr / JOULE_PACK_ROWS; g++) {
        joule_unpack_group(type, n, (const uint8_t *)w + (size_t)g * ws, rows, row_bytes);
        ref(n, rows, row_bytes, JOULE_PACK_ROWS, a, as, nc, out + (size_t)g * JOULE_PACK_ROWS,
            os);
    }
    free(rows);
}

#define PTILE_REF(name, type, ref)                                                           \
    static void name(int64_t n, const void *w, size_t ws, int32_t nr, const void *a,          \
                     size_t as, int32_t nc, float *out, size_t os)                            \
    {                                                                                         \
        ptile_ref(type, ref, n, w, ws, nr, a, as, nc, out, os);                               \
    }
PTILE_REF(ptile_f16_ref, JOULE_QUANT_F16, tile_f16_ref)
PTILE_REF(ptile_bf16_ref, JOULE_QUANT_BF16, tile_bf16_ref)
PTILE_REF(ptile_q4_0_ref, JOULE_QUANT_Q4_0, tile_q4_0_ref)
PTILE_REF(ptile_q8_0_ref, JOULE_QUANT_Q8_0, tile_q8_0_ref)
PTILE_REF(ptile_q4_k_ref, JOULE_QUANT_Q4_K, tile_q4_k_ref)
PTILE_REF(ptile_q6_k_ref, JOULE_QUANT_Q6_K, tile_q6_k_ref)
#undef PTILE_REF

static void act_f32_ref(const float *x, void *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

static void act_f16_ref(const float *x, void *vy, int64_t n)
{
    float *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = joule_fp16_to_f32(joule_fp16_from_f32(x[i]));
}

static void act_bf16_ref(const float *x, void *vy, int64_t n)
{
    float *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = joule_bf16_to_f32(joule_bf16_from_f32(x[i]));
}

static void act_q8_0_ref(const float *x, void *y, int64_t n)
{
    joule_quantize_row_q8_0_ref(x, y, n);
}

static void act_q8_1_ref(const float *x, void *y, int64_t n)
{
    joule_quantize_row_q8_1_ref(x, y, n);
}

static void act_q8_k_ref(const float *x, void *y, int64_t n)
{
    joule_quantize_row_q8_k_ref(x, y, n);
}

static float dot_f16_ref(int64_t n, const uint16_t *x, const uint16_t *y)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)joule_fp16_to_f32(x[i]) * (double)joule_fp16_to_f32(y[i]);
    return (float)s;
}

static void mad_f16_ref(int64_t n, float a, const uint16_t *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * joule_fp16_to_f32(x[i]);
}

static float dot_f32_ref(int64_t n, const float *x, const float *y)
{
    return joule_vec_dot_f32_ref(n, x, y);
}

static void mad_f32_ref(int64_t n, float a, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

static void f32_to_f16_ref(const float *x, uint16_t *y, int64_t n)
{
    joule_quantize_row_f16_ref(x, y, n);
}

static void f16_to_f32_ref(const uint16_t *x, float *y, int64_t n)
{
    joule_dequantize_row_f16_ref(x, y, n);
}

static void scale_f16_ref(int64_t n, float a, uint16_t *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = joule_fp16_from_f32(joule_fp16_to_f32(y[i]) * a);
}

static void mad_f16_f16_ref(int64_t n, float a, const uint16_t *x, uint16_t *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = joule_fp16_from_f32(fmaf(joule_fp16_to_f32(x[i]), a, joule_fp16_to_f32(y[i])));
}

enum joule_isa joule_kernels_select(struct joule_kernels *k, enum joule_isa isa)
{
    memset(k, 0, sizeof(*k));
    joule_cpu_detect(&k->cpu);
    const enum joule_isa best = joule_cpu_best_isa(&k->cpu);
    if (isa > best)
        isa = best;
    k->isa = isa;

    k->tile[JOULE_QUANT_F32] = tile_f32_ref;
    k->tile[JOULE_QUANT_F16] = tile_f16_ref;
    k->tile[JOULE_QUANT_BF16] = tile_bf16_ref;
    k->tile[JOULE_QUANT_Q4_0] = tile_q4_0_ref;
    k->tile[JOULE_QUANT_Q4_1] = tile_q4_1_ref;
    k->tile[JOULE_QUANT_Q5_0] = tile_q5_0_ref;
    k->tile[JOULE_QUANT_Q5_1] = tile_q5_1_ref;
    k->tile[JOULE_QUANT_Q8_0] = tile_q8_0_ref;
    k->tile[JOULE_QUANT_Q4_K] = tile_q4_k_ref;
    k->tile[JOULE_QUANT_Q5_K] = tile_q5_k_ref;
    k->tile[JOULE_QUANT_Q6_K] = tile_q6_k_ref;
    k->ptile[JOULE_QUANT_F16] = ptile_f16_ref;
    k->ptile[JOULE_QUANT_BF16] = ptile_bf16_ref;
    k->ptile[JOULE_QUANT_Q4_0] = ptile_q4_0_ref;
    k->ptile[JOULE_QUANT_Q8_0] = ptile_q8_0_ref;
    k->ptile[JOULE_QUANT_Q4_K] = ptile_q4_k_ref;
    k->ptile[JOULE_QUANT_Q6_K] = ptile_q6_k_ref;
    k->act[JOULE_QUANT_F32] = act_f32_ref;
    k->act[JOULE_QUANT_F16] = act_f16_ref;
    k->act[JOULE_QUANT_BF16] = act_bf16_ref;
    k->act[JOULE_QUANT_Q8_0] = act_q8_0_ref;
    k->act[JOULE_QUANT_Q8_1] = act_q8_1_ref;
    k->act[JOULE_QUANT_Q8_K] = act_q8_k_ref;
    k->dot_f16 = dot_f16_ref;
    k->mad_f16 = mad_f16_ref;
    k->dot_f32 = dot_f32_ref;
    k->mad_f32 = mad_f32_ref;
    k->f32_to_f16 = f32_to_f16_ref;
    k->f16_to_f32 = f16_to_f32_ref;
    k->scale_f16 = scale_f16_ref;
    k->mad_f16_f16 = mad_f16_f16_ref;

#ifdef JOULE_X86
    if (isa >= JOULE_ISA_AVX2) {
        joule_kernels_add_float_avx2(k);
        joule_kernels_add_quant_avx2(k);
        joule_kernels_add_attn_avx2(k);
    }
    if (isa >= JOULE_ISA_AVX512) {
        joule_kernels_add_float_avx512(k);
        joule_kernels_add_quant_avx512(k);
    }
#endif
    return isa;
}
