/*
 * quant.c - fp16/bf16 conversions, type table and scalar reference kernels.
 *
 * Everything here is a plain loop on purpose: these functions are the ground
 * truth for faster kernels.  Integer products inside a block are summed in
 * int32 (exact); only the per-block scaling is done in float.
 */
#include "quant.h"
#include "alloc.h"
#include "joule_int.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * fp16 and bf16
 */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

uint16_t joule_fp16_from_f32(float f)
{
    uint32_t x = f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t man = x & 0x7fffffu;

    if (exp == 0xffu) {
        /* inf stays inf; NaN keeps its top payload bits and is made quiet */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0u));
    }
    int32_t e = (int32_t)exp - 127 + 15; /* biased fp16 exponent */
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        /* fp16 subnormal: value = m * 2^-24 with m = man24 >> (14 - e) */
        if (e < -10)
            return (uint16_t)sign; /* below half the smallest subnormal */
        uint32_t man24 = man | 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t m = man24 >> shift;
        uint32_t rem = man24 & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (m & 1u)))
            m++; /* may carry into the smallest normal: still the right bits */
        return (uint16_t)(sign | m);
    }
    uint32_t h = sign | ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++; /* a carry rolls into the exponent, and past 65504 into inf */
    return (uint16_t)h;
}

float joule_fp16_to_f32(uint16_t h)
{
    uint32_t sign = ((uint32_t)h & 0x8000u) << 16;
    uint32_t exp = ((uint32_t)h >> 10) & 0x1fu;
    uint32_t man = (uint32_t)h & 0x3ffu;

    if (exp == 0) {
        if (man == 0)
            return bits_f32(sign);
        /* subnormal: normalise into an f32 normal */
        uint32_t e = 127 - 15 + 1;
        while (!(man & 0x400u)) {
            man <<= 1;
            e--;
        }
        man &= 0x3ffu;
        return bits_f32(sign | (e << 23) | (man << 13));
    }
    if (exp == 31)
        return bits_f32(sign | 0x7f800000u | (man << 13));
    return bits_f32(sign | ((exp + 127 - 15) << 23) | (man << 13));
}

uint16_t joule_bf16_from_f32(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u); /* NaN: keep sign, force quiet */
    x += 0x7fffu + ((x >> 16) & 1u);        /* round to nearest, ties to even */
    return (uint16_t)(x >> 16);
}

float joule_bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

/* ---------------------------------------------------------------------------
 * Small helpers
 */

/* Round to nearest, ties to even, for |v| < 2^22 (always true here: callers
 * scale into a few hundred at most).  NaN maps to 0. */
static int nearest_int(float v)
{
    if (!(v == v))
        return 0;
    return (int)lrintf(v);
}

/* (int) truncation of v toward zero, for v that should be in [0, 64]:
 * NaN and out-of-range values clamp instead of being undefined. */
static int trunc_small(float v)
{
    if (!(v >= 0.0f))
        return 0;
    if (v > 64.0f)
        return 64;
    return (int)v;
}

static int imin(int a, int b)
{
    return a < b ? a : b;
}

static int imax(int a, int b)
{
    return a > b ? a : b;
}

static uint32_t load_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static void store_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* ---------------------------------------------------------------------------
 * F16 / BF16 / F32 rows
 */

void joule_quantize_row_f16_ref(const float *x, uint16_t *y, int64_t k)
{
    for (int64_t i = 0; i < k; i++)
        y[i] = joule_fp16_from_f32(x[i]);
}

void joule_dequantize_row_f16_ref(const uint16_t *x, float *y, int64_t k)
{
    for (int64_t i = 0; i < k; i++)
        y[i] = joule_fp16_to_f32(x[i]);
}

void joule_quantize_row_bf16_ref(const float *x, uint16_t *y, int64_t k)
{
    for (int64_t i = 0; i < k; i++)
        y[i] = joule_bf16_from_f32(x[i]);
}

void joule_dequantize_row_bf16_ref(const uint16_t *x, float *y, int64_t k)
{
    for (int64_t i = 0; i < k; i++)
        y[i] = joule_bf16_to_f32(x[i]);
}

float joule_vec_dot_f32_ref(int64_t n, const float *x, const float *y)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i] * (double)y[i];
    return (float)s;
}

float joule_vec_dot_f16_ref(int64_t n, const uint16_t *x, const float *y)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)joule_fp16_to_f32(x[i]) * (double)y[i];
    return (float)s;
}

float joule_vec_dot_bf16_ref(int64_t n, const uint16_t *x, const float *y)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)joule_bf16_to_f32(x[i]) * (double)y[i];
    return (float)s;
}

/* ---------------------------------------------------------------------------
 * Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 (blocks of 32)
 */

/* The element of largest magnitude, with its sign (first one on a tie). */
static float signed_absmax(const float *x, int n, float *amax_out)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        float a = fabsf(x[j]);
        if (amax < a) {
            amax = a;
            max = x[j];
        }
    }
    if (amax_out)
        *amax_out = amax;
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx)
{
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo)
            lo = x[j];
        if (x[j] > hi)
            hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

void joule_quantize_row_q4_0_ref(const float *x, struct joule_block_q4_0 *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK4_0 == 0);
    for (int64_t i = 0; i < k / JOULE_QK4_0; i++, x += JOULE_QK4_0) {
        /* the signed extreme maps to -8, the one level without a mirror */
        float max = signed_absmax(x, JOULE_QK4_0, NULL);
        float d = max / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = joule_fp16_from_f32(d);
        for (int j = 0; j < JOULE_QK4_0 / 2; j++) {
            int q0 = imin(15, trunc_small(x[j] * id + 8.5f));
            int q1 = imin(15, trunc_small(x[j + 16] * id + 8.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void joule_dequantize_row_q4_0_ref(const struct joule_block_q4_0 *x, float *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK4_0 == 0);
    for (int64_t i = 0; i < k / JOULE_QK4_0; i++, y += JOULE_QK4_0) {
        float d = joule_fp16_to_f32(x[i].d);
        for (int j = 0; j < JOULE_QK4_0 / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 0x0f) - 8) * d;
            y[j + 16] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void joule_quantize_row_q4_1_ref(const float *x, struct joule_block_q4_1 *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK4_1 == 0);
    for (int64_t i = 0; i < k / JOULE_QK4_1; i++, x += JOULE_QK4_1) {
        float lo, hi;
        min_max(x, JOULE_QK4_1, &lo, &hi);
        float d = (hi - lo) / 15.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = joule_fp16_from_f32(d);
        y[i].m = joule_fp16_from_f32(lo);
        for (int j = 0; j < JOULE_QK4_1 / 2; j++) {
            int q0 = imin(15, trunc_small((x[j] - lo) * id + 0.5f));
            int q1 = imin(15, trunc_small((x[j + 16] - lo) * id + 0.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void joule_dequantize_row_q4_1_ref(const struct joule_block_q4_1 *x, float *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK4_1 == 0);
    for (int64_t i = 0; i < k / JOULE_QK4_1; i++, y += JOULE_QK4_1) {
        float d = joule_fp16_to_f32(x[i].d);
        float m = joule_fp16_to_f32(x[i].m);
        for (int j = 0; j < JOULE_QK4_1 / 2; j++) {
            y[j] = (float)(x[i].qs[j] & 0x0f) * d + m;
            y[j + 16] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

void joule_quantize_row_q5_0_ref(const float *x, struct joule_block_q5_0 *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK5_0 == 0);
    for (int64_t i = 0; i < k / JOULE_QK5_0; i++, x += JOULE_QK5_0) {
        float max = signed_absmax(x, JOULE_QK5_0, NULL);
        float d = max / -16.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint32_t qh = 0;
        y[i].d = joule_fp16_from_f32(d);
        for (int j = 0; j < JOULE_QK5_0 / 2; j++) {
            int q0 = imin(31, trunc_small(x[j] * id + 16.5f));
            int q1 = imin(31, trunc_small(x[j + 16] * id + 16.5f));
            y[i].qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j;
            qh |= (uint32_t)((q1 >> 4) & 1) << (j + 16);
        }
        store_u32le(y[i].qh, qh);
    }
}

void joule_dequantize_row_q5_0_ref(const struct joule_block_q5_0 *x, float *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK5_0 == 0);
    for (int64_t i = 0; i < k / JOULE_QK5_0; i++, y += JOULE_QK5_0) {
        float d = joule_fp16_to_f32(x[i].d);
        uint32_t qh = load_u32le(x[i].qh);
        for (int j = 0; j < JOULE_QK5_0 / 2; j++) {
            int h0 = (int)((qh >> j) & 1u) << 4;
            int h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            y[j] = (float)(((x[i].qs[j] & 0x0f) | h0) - 16) * d;
            y[j + 16] = (float)(((x[i].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

void joule_quantize_row_q5_1_ref(const float *x, struct joule_block_q5_1 *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK5_1 == 0);
    for (int64_t i = 0; i < k / JOULE_QK5_1; i++, x += JOULE_QK5_1) {
        float lo, hi;
        min_max(x, JOULE_QK5_1, &lo, &hi);
        float d = (hi - lo) / 31.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint32_t qh = 0;
        y[i].d = joule_fp16_from_f32(d);
        y[i].m = joule_fp16_from_f32(lo);
        for (int j = 0; j < JOULE_QK5_1 / 2; j++) {
            int q0 = imin(31, trunc_small((x[j] - lo) * id + 0.5f));
            int q1 = imin(31, trunc_small((x[j + 16] - lo) * id + 0.5f));
            y[i].qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j;
            qh |= (uint32_t)((q1 >> 4) & 1) << (j + 16);
        }
        store_u32le(y[i].qh, qh);
    }
}

void joule_dequantize_row_q5_1_ref(const struct joule_block_q5_1 *x, float *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK5_1 == 0);
    for (int64_t i = 0; i < k / JOULE_QK5_1; i++, y += JOULE_QK5_1) {
        float d = joule_fp16_to_f32(x[i].d);
        float m = joule_fp16_to_f32(x[i].m);
        uint32_t qh = load_u32le(x[i].qh);
        for (int j = 0; j < JOULE_QK5_1 / 2; j++) {
            int h0 = (int)((qh >> j) & 1u) << 4;
            int h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            y[j] = (float)((x[i].qs[j] & 0x0f) | h0) * d + m;
            y[j + 16] = (float)((x[i].qs[j] >> 4) | h1) * d + m;
        }
    }
}

/* Rounds half away from zero (roundf), as ggml's Q8_0/Q8_1 reference does. */
static int8_t round_q8(float v)
{
    if (!(v == v))
        return 0;
    float r = roundf(v);
    if (r > 127.0f)
        r = 127.0f;
    if (r < -127.0f)
        r = -127.0f;
    return (int8_t)r;
}

void joule_quantize_row_q8_0_ref(const float *x, struct joule_block_q8_0 *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK8_0 == 0);
    for (int64_t i = 0; i < k / JOULE_QK8_0; i++, x += JOULE_QK8_0) {
        float amax;
        signed_absmax(x, JOULE_QK8_0, &amax);
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = joule_fp16_from_f32(d);
        for (int j = 0; j < JOULE_QK8_0; j++)
            y[i].qs[j] = round_q8(x[j] * id);
    }
}

/* LLM.int8's vector-wise absmax: one scale for the whole row (its largest
 * magnitude / 127), written into every block so the row stays a valid Q8_0
 * row that every Q8_0 kernel reads.  Elements with skip[j] set (outlier
 * columns, which the caller multiplies in floating point) are left out of
 * the scale and stored as 0.  The scale is kept in F16, as Q8_0 stores it;
 * the values are rounded with the F32 scale, as bitsandbytes does. */
void joule_quantize_row_q8_0_vectorwise_ref(const float *x, struct joule_block_q8_0 *y,
                                            int64_t k, const uint8_t *skip)
{
    JOULE_ASSERT(k % JOULE_QK8_0 == 0);
    float amax = 0.0f;
    for (int64_t j = 0; j < k; j++) {
        float a = fabsf(x[j]);
        if (!(skip && skip[j]) && amax < a)
            amax = a;
    }
    const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
    const uint16_t d = joule_fp16_from_f32(amax / 127.0f);
    for (int64_t i = 0; i < k / JOULE_QK8_0; i++) {
        y[i].d = d;
        for (int j = 0; j < JOULE_QK8_0; j++) {
            int64_t at = i * JOULE_QK8_0 + j;
            y[i].qs[j] = skip && skip[at] ? 0 : round_q8(x[at] * id);
        }
    }
}

void joule_dequantize_row_q8_0_ref(const struct joule_block_q8_0 *x, float *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK8_0 == 0);
    for (int64_t i = 0; i < k / JOULE_QK8_0; i++, y += JOULE_QK8_0) {
        float d = joule_fp16_to_f32(x[i].d);
        for (int j = 0; j < JOULE_QK8_0; j++)
            y[j] = (float)x[i].qs[j] * d;
    }
}

void joule_quantize_row_q8_1_ref(const float *x, struct joule_block_q8_1 *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK8_1 == 0);
    for (int64_t i = 0; i < k / JOULE_QK8_1; i++, x += JOULE_QK8_1) {
        float amax;
        signed_absmax(x, JOULE_QK8_1, &amax);
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        y[i].d = joule_fp16_from_f32(d);
        for (int j = 0; j < JOULE_QK8_1; j++) {
            y[i].qs[j] = round_q8(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = joule_fp16_from_f32((float)sum * d);
    }
}

void joule_dequantize_row_q8_1_ref(const struct joule_block_q8_1 *x, float *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK8_1 == 0);
    for (int64_t i = 0; i < k / JOULE_QK8_1; i++, y += JOULE_QK8_1) {
        float d = joule_fp16_to_f32(x[i].d);
        for (int j = 0; j < JOULE_QK8_1; j++)
            y[j] = (float)x[i].qs[j] * d;
    }
}

float joule_vec_dot_q4_0_q8_0_ref(int64_t n, const struct joule_block_q4_0 *x,
                                  const struct joule_block_q8_0 *y)
{
    JOULE_ASSERT(n % JOULE_QK8_0 == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / JOULE_QK8_0; i++) {
        int32_t si = 0;
        for (int j = 0; j < 16; j++) {
            si += ((x[i].qs[j] & 0x0f) - 8) * y[i].qs[j];
            si += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        }
        sum += (float)si * joule_fp16_to_f32(x[i].d) * joule_fp16_to_f32(y[i].d);
    }
    return sum;
}

float joule_vec_dot_q4_1_q8_1_ref(int64_t n, const struct joule_block_q4_1 *x,
                                  const struct joule_block_q8_1 *y)
{
    JOULE_ASSERT(n % JOULE_QK8_1 == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / JOULE_QK8_1; i++) {
        int32_t si = 0;
        for (int j = 0; j < 16; j++) {
            si += (x[i].qs[j] & 0x0f) * y[i].qs[j];
            si += (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        }
        /* sum((d q + m) * a) = d da sum(q qa) + m * (da sum(qa)); the last
         * factor is the s the activation block carries */
        sum += (float)si * joule_fp16_to_f32(x[i].d) * joule_fp16_to_f32(y[i].d) +
               joule_fp16_to_f32(x[i].m) * joule_fp16_to_f32(y[i].s);
    }
    return sum;
}

float joule_vec_dot_q5_0_q8_0_ref(int64_t n, const struct joule_block_q5_0 *x,
                                  const struct joule_block_q8_0 *y)
{
    JOULE_ASSERT(n % JOULE_QK8_0 == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / JOULE_QK8_0; i++) {
        uint32_t qh = load_u32le(x[i].qh);
        int32_t si = 0;
        for (int j = 0; j < 16; j++) {
            int h0 = (int)((qh >> j) & 1u) << 4;
            int h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            si += (((x[i].qs[j] & 0x0f) | h0) - 16) * y[i].qs[j];
            si += (((x[i].qs[j] >> 4) | h1) - 16) * y[i].qs[j + 16];
        }
        sum += (float)si * joule_fp16_to_f32(x[i].d) * joule_fp16_to_f32(y[i].d);
    }
    return sum;
}

float joule_vec_dot_q5_1_q8_1_ref(int64_t n, const struct joule_block_q5_1 *x,
                                  const struct joule_block_q8_1 *y)
{
    JOULE_ASSERT(n % JOULE_QK8_1 == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / JOULE_QK8_1; i++) {
        uint32_t qh = load_u32le(x[i].qh);
        int32_t si = 0;
        for (int j = 0; j < 16; j++) {
            int h0 = (int)((qh >> j) & 1u) << 4;
            int h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            si += ((x[i].qs[j] & 0x0f) | h0) * y[i].qs[j];
            si += ((x[i].qs[j] >> 4) | h1) * y[i].qs[j + 16];
        }
        sum += (float)si * joule_fp16_to_f32(x[i].d) * joule_fp16_to_f32(y[i].d) +
               joule_fp16_to_f32(x[i].m) * joule_fp16_to_f32(y[i].s);
    }
    return sum;
}

float joule_vec_dot_q8_0_q8_0_ref(int64_t n, const struct joule_block_q8_0 *x,
                                  const struct joule_block_q8_0 *y)
{
    JOULE_ASSERT(n % JOULE_QK8_0 == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / JOULE_QK8_0; i++) {
        int32_t si = 0;
        for (int j = 0; j < JOULE_QK8_0; j++)
            si += x[i].qs[j] * y[i].qs[j];
        sum += (float)si * joule_fp16_to_f32(x[i].d) * joule_fp16_to_f32(y[i].d);
    }
    return sum;
}

/* ---------------------------------------------------------------------------
 * K-quants (super-blocks of 256)
 */

void joule_quant_get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *mn)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        *mn = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* The inverse of joule_quant_get_scale_min_k4 for all 8 sub-blocks. */
static void pack_scale_min_k4(const uint8_t sc[8], const uint8_t mn[8], uint8_t q[12])
{
    memset(q, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            q[j] |= sc[j] & 63;
            q[j + 4] |= mn[j] & 63;
        } else {
            q[j + 4] = (uint8_t)((sc[j] & 0x0f) | ((mn[j] & 0x0f) << 4));
            q[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            q[j] |= (uint8_t)((mn[j] >> 4) << 6);
        }
    }
}

/*
 * Fit x[0..n) ~ scale * L - min with L in 0..nmax and min >= 0 (the K-quant
 * form: zero is always representable).  Start from the range, then refine
 * scale and min a few times by least squares on the chosen levels.
 */
static void fit_affine(const float *x, int n, int nmax, float *scale, float *min)
{
    float lo, hi;
    min_max(x, n, &lo, &hi);
    if (lo > 0.0f)
        lo = 0.0f;
    if (hi <= lo) {
        *scale = 0.0f;
        *min = -lo;
        return;
    }
    float s = (hi - lo) / (float)nmax, m = -lo;
    for (int it = 0; it < 4; it++) {
        double sl = 0, sll = 0, sx = 0, slx = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(0, imin(nmax, nearest_int((x[i] + m) / s)));
            sl += l;
            sll += (double)l * l;
            sx += x[i];
            slx += (double)l * x[i];
        }
        double det = n * sll - sl * sl;
        if (det <= 0)
            break;
        double ns = (n * slx - sl * sx) / det;
        double nm = -(sx - ns * sl) / n; /* x ~ ns l - nm */
        if (!(ns > 0) || nm < 0)
            break;
        s = (float)ns;
        m = (float)nm;
    }
    *scale = s;
    *min = m;
}

/* Quantize one 256 super-block in Q4_K/Q5_K form: levels L[256], packed
 * scales, fp16 d and dmin. */
static void quantize_k_affine(const float *x, int nmax, uint8_t L[JOULE_QK_K], uint8_t q12[12],
                              uint16_t *d_out, uint16_t *dmin_out)
{
    float scales[8], mins[8], max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        fit_affine(x + 32 * j, 32, nmax, &scales[j], &mins[j]);
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }
    uint8_t sc[8], mn[8];
    float inv_s = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    float inv_m = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < 8; j++) {
        sc[j] = (uint8_t)imin(63, imax(0, nearest_int(inv_s * scales[j])));
        mn[j] = (uint8_t)imin(63, imax(0, nearest_int(inv_m * mins[j])));
    }
    pack_scale_min_k4(sc, mn, q12);
    *d_out = joule_fp16_from_f32(max_scale / 63.0f);
    *dmin_out = joule_fp16_from_f32(max_min / 63.0f);
    /* levels from the scales as they will be decoded */
    float d = joule_fp16_to_f32(*d_out), dmin = joule_fp16_to_f32(*dmin_out);
    for (int j = 0; j < 8; j++) {
        float ds = d * sc[j], dm = dmin * mn[j];
        for (int l = 0; l < 32; l++) {
            int q = ds != 0.0f ? nearest_int((x[32 * j + l] + dm) / ds) : 0;
            L[32 * j + l] = (uint8_t)imax(0, imin(nmax, q));
        }
    }
}

void joule_quantize_row_q4_k_ref(const float *x, struct joule_block_q4_k *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK_K == 0);
    uint8_t L[JOULE_QK_K];
    for (int64_t i = 0; i < k / JOULE_QK_K; i++, x += JOULE_QK_K) {
        quantize_k_affine(x, 15, L, y[i].scales, &y[i].d, &y[i].dmin);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                y[i].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }
}

void joule_dequantize_row_q4_k_ref(const struct joule_block_q4_k *x, float *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK_K == 0);
    for (int64_t i = 0; i < k / JOULE_QK_K; i++) {
        float d = joule_fp16_to_f32(x[i].d), dmin = joule_fp16_to_f32(x[i].dmin);
        for (int c = 0; c < 4; c++) {
            uint8_t sc0, mn0, sc1, mn1;
            joule_quant_get_scale_min_k4(2 * c, x[i].scales, &sc0, &mn0);
            joule_quant_get_scale_min_k4(2 * c + 1, x[i].scales, &sc1, &mn1);
            const uint8_t *q = x[i].qs + 32 * c;
            for (int l = 0; l < 32; l++) {
                *y++ = d * sc0 * (float)(q[l] & 0x0f) - dmin * mn0;
            }
            for (int l = 0; l < 32; l++) {
                *y++ = d * sc1 * (float)(q[l] >> 4) - dmin * mn1;
            }
        }
    }
}

void joule_quantize_row_q5_k_ref(const float *x, struct joule_block_q5_k *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK_K == 0);
    uint8_t L[JOULE_QK_K];
    for (int64_t i = 0; i < k / JOULE_QK_K; i++, x += JOULE_QK_K) {
        quantize_k_affine(x, 31, L, y[i].scales, &y[i].d, &y[i].dmin);
        memset(y[i].qh, 0, sizeof(y[i].qh));
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                uint8_t a = L[64 * c + l], b = L[64 * c + 32 + l];
                y[i].qs[32 * c + l] = (uint8_t)((a & 0x0f) | ((b & 0x0f) << 4));
                y[i].qh[l] |= (uint8_t)(((a >> 4) << (2 * c)) | ((b >> 4) << (2 * c + 1)));
            }
        }
    }
}

void joule_dequantize_row_q5_k_ref(const struct joule_block_q5_k *x, float *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK_K == 0);
    for (int64_t i = 0; i < k / JOULE_QK_K; i++) {
        float d = joule_fp16_to_f32(x[i].d), dmin = joule_fp16_to_f32(x[i].dmin);
        for (int c = 0; c < 4; c++) {
            uint8_t sc0, mn0, sc1, mn1;
            joule_quant_get_scale_min_k4(2 * c, x[i].scales, &sc0, &mn0);
            joule_quant_get_scale_min_k4(2 * c + 1, x[i].scales, &sc1, &mn1);
            const uint8_t *q = x[i].qs + 32 * c;
            for (int l = 0; l < 32; l++) {
                int v = (q[l] & 0x0f) | (((x[i].qh[l] >> (2 * c)) & 1) << 4);
                *y++ = d * sc0 * (float)v - dmin * mn0;
            }
            for (int l = 0; l < 32; l++) {
                int v = (q[l] >> 4) | (((x[i].qh[l] >> (2 * c + 1)) & 1) << 4);
                *y++ = d * sc1 * (float)v - dmin * mn1;
            }
        }
    }
}

/* Level (0..63) of element e (0..255) of a Q6_K block. */
static int q6k_level(const struct joule_block_q6_k *b, int e)
{
    int h = e / 128, r = e % 128, kq = r / 32, l = r % 32;
    const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
    int lo = (kq < 2) ? (ql[l + 32 * (kq & 1)] & 0x0f) : (ql[l + 32 * (kq & 1)] >> 4);
    int hi = (qh[l] >> (2 * kq)) & 3;
    return lo | (hi << 4);
}

void joule_quantize_row_q6_k_ref(const float *x, struct joule_block_q6_k *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK_K == 0);
    uint8_t L[JOULE_QK_K];
    for (int64_t i = 0; i < k / JOULE_QK_K; i++, x += JOULE_QK_K) {
        /* per 16: the signed extreme maps to level -32, as in Q4_0 */
        float scales[16], max_abs = 0.0f, max_scale = 0.0f;
        for (int g = 0; g < 16; g++) {
            float m = signed_absmax(x + 16 * g, 16, NULL);
            scales[g] = m / -32.0f;
            if (fabsf(scales[g]) > max_abs) {
                max_abs = fabsf(scales[g]);
                max_scale = scales[g];
            }
        }
        float d = max_abs > 0.0f ? max_scale / -127.0f : 0.0f;
        y[i].d = joule_fp16_from_f32(d);
        float dd = joule_fp16_to_f32(y[i].d);
        for (int g = 0; g < 16; g++) {
            int s = dd != 0.0f ? nearest_int(scales[g] / dd) : 0;
            y[i].scales[g] = (int8_t)imax(-127, imin(127, s));
            float ds = dd * y[i].scales[g];
            for (int l = 0; l < 16; l++) {
                int q = ds != 0.0f ? nearest_int(x[16 * g + l] / ds) : 0;
                L[16 * g + l] = (uint8_t)(imax(-32, imin(31, q)) + 32);
            }
        }
        for (int h = 0; h < 2; h++) {
            uint8_t *ql = y[i].ql + 64 * h, *qh = y[i].qh + 32 * h;
            const uint8_t *Lh = L + 128 * h;
            for (int l = 0; l < 32; l++) {
                int q1 = Lh[l], q2 = Lh[l + 32], q3 = Lh[l + 64], q4 = Lh[l + 96];
                ql[l] = (uint8_t)((q1 & 0x0f) | ((q3 & 0x0f) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0x0f) | ((q4 & 0x0f) << 4));
                qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) |
                                  ((q4 >> 4) << 6));
            }
        }
    }
}

void joule_dequantize_row_q6_k_ref(const struct joule_block_q6_k *x, float *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK_K == 0);
    for (int64_t i = 0; i < k / JOULE_QK_K; i++, y += JOULE_QK_K) {
        float d = joule_fp16_to_f32(x[i].d);
        for (int e = 0; e < JOULE_QK_K; e++)
            y[e] = d * (float)x[i].scales[e / 16] * (float)(q6k_level(&x[i], e) - 32);
    }
}

void joule_quantize_row_q8_k_ref(const float *x, struct joule_block_q8_k *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK_K == 0);
    for (int64_t i = 0; i < k / JOULE_QK_K; i++, x += JOULE_QK_K) {
        float amax;
        float max = signed_absmax(x, JOULE_QK_K, &amax);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        /* the signed extreme maps to -127 exactly */
        float iscale = -127.0f / max;
        for (int j = 0; j < JOULE_QK_K; j++)
            y[i].qs[j] = (int8_t)imax(-128, imin(127, nearest_int(iscale * x[j])));
        for (int g = 0; g < JOULE_QK_K / 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++)
                s += y[i].qs[16 * g + l];
            y[i].bsums[g] = (int16_t)s;
        }
        y[i].d = 1.0f / iscale;
    }
}

void joule_dequantize_row_q8_k_ref(const struct joule_block_q8_k *x, float *y, int64_t k)
{
    JOULE_ASSERT(k % JOULE_QK_K == 0);
    for (int64_t i = 0; i < k / JOULE_QK_K; i++, y += JOULE_QK_K)
        for (int j = 0; j < JOULE_QK_K; j++)
            y[j] = x[i].d * (float)x[i].qs[j];
}

float joule_vec_dot_q4_k_q8_k_ref(int64_t n, const struct joule_block_q4_k *x,
                                  const struct joule_block_q8_k *y)
{
    JOULE_ASSERT(n % JOULE_QK_K == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / JOULE_QK_K; i++) {
        int32_t si = 0, smin = 0;
        for (int c = 0; c < 4; c++) {
            uint8_t sc0, mn0, sc1, mn1;
            joule_quant_get_scale_min_k4(2 * c, x[i].scales, &sc0, &mn0);
            joule_quant_get_scale_min_k4(2 * c + 1, x[i].scales, &sc1, &mn1);
            const uint8_t *q = x[i].qs + 32 * c;
            const int8_t *a = y[i].qs + 64 * c;
            int32_t s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                s0 += (q[l] & 0x0f) * a[l];
                s1 += (q[l] >> 4) * a[l + 32];
            }
            si += sc0 * s0 + sc1 * s1;
            /* the min term needs only the activation sums (bsums per 16) */
            smin += mn0 * (y[i].bsums[4 * c] + y[i].bsums[4 * c + 1]);
            smin += mn1 * (y[i].bsums[4 * c + 2] + y[i].bsums[4 * c + 3]);
        }
        sum += y[i].d * (joule_fp16_to_f32(x[i].d) * (float)si -
                         joule_fp16_to_f32(x[i].dmin) * (float)smin);
    }
    return sum;
}

float joule_vec_dot_q5_k_q8_k_ref(int64_t n, const struct joule_block_q5_k *x,
                                  const struct joule_block_q8_k *y)
{
    JOULE_ASSERT(n % JOULE_QK_K == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / JOULE_QK_K; i++) {
        int32_t si = 0, smin = 0;
        for (int c = 0; c < 4; c++) {
            uint8_t sc0, mn0, sc1, mn1;
            joule_quant_get_scale_min_k4(2 * c, x[i].scales, &sc0, &mn0);
            joule_quant_get_scale_min_k4(2 * c + 1, x[i].scales, &sc1, &mn1);
            const uint8_t *q = x[i].qs + 32 * c;
            const int8_t *a = y[i].qs + 64 * c;
            int32_t s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                int v0 = (q[l] & 0x0f) | (((x[i].qh[l] >> (2 * c)) & 1) << 4);
                int v1 = (q[l] >> 4) | (((x[i].qh[l] >> (2 * c + 1)) & 1) << 4);
                s0 += v0 * a[l];
                s1 += v1 * a[l + 32];
            }
            si += sc0 * s0 + sc1 * s1;
            smin += mn0 * (y[i].bsums[4 * c] + y[i].bsums[4 * c + 1]);
            smin += mn1 * (y[i].bsums[4 * c + 2] + y[i].bsums[4 * c + 3]);
        }
        sum += y[i].d * (joule_fp16_to_f32(x[i].d) * (float)si -
                         joule_fp16_to_f32(x[i].dmin) * (float)smin);
    }
    return sum;
}

float joule_vec_dot_q6_k_q8_k_ref(int64_t n, const struct joule_block_q6_k *x,
                                  const struct joule_block_q8_k *y)
{
    JOULE_ASSERT(n % JOULE_QK_K == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / JOULE_QK_K; i++) {
        int32_t si = 0;
        for (int g = 0; g < 16; g++) {
            int32_t s = 0;
            for (int l = 0; l < 16; l++)
                s += (q6k_level(&x[i], 16 * g + l) - 32) * y[i].qs[16 * g + l];
            si += x[i].scales[g] * s;
        }
        sum += joule_fp16_to_f32(x[i].d) * y[i].d * (float)si;
    }
    return sum;
}

float joule_vec_dot_q8_k_q8_k_ref(int64_t n, const struct joule_block_q8_k *x,
                                  const struct joule_block_q8_k *y)
{
    JOULE_ASSERT(n % JOULE_QK_K == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / JOULE_QK_K; i++) {
        int32_t si = 0;
        for (int j = 0; j < JOULE_QK_K; j++)
            si += x[i].qs[j] * y[i].qs[j];
        sum += x[i].d * y[i].d * (float)si;
    }
    return sum;
}

/* ---------------------------------------------------------------------------
 * The type table and generic entry points
 */

typedef void (*quantize_fn)(const float *x, void *y, int64_t k);
typedef void (*dequantize_fn)(const void *x, float *y, int64_t k);
typedef float (*vec_dot_fn)(int64_t n, const void *x, const void *y);

struct type_entry {
    struct joule_quant_traits traits;
    quantize_fn quantize;
    dequantize_fn dequantize;
    vec_dot_fn vec_dot;
};

/* Wrappers with void pointers, so the table holds one function type. */
#define JOULE_Q_WRAP(t, blk, dot_blk)                                                 \
    static void q_##t(const float *x, void *y, int64_t k)                             \
    {                                                                                 \
        joule_quantize_row_##t##_ref(x, (blk *)y, k);                                 \
    }                                                                                 \
    static void dq_##t(const void *x, float *y, int64_t k)                            \
    {                                                                                 \
        joule_dequantize_row_##t##_ref((const blk *)x, y, k);                         \
    }

JOULE_Q_WRAP(f16, uint16_t, float)
JOULE_Q_WRAP(bf16, uint16_t, float)
JOULE_Q_WRAP(q4_0, struct joule_block_q4_0, struct joule_block_q8_0)
JOULE_Q_WRAP(q4_1, struct joule_block_q4_1, struct joule_block_q8_1)
JOULE_Q_WRAP(q5_0, struct joule_block_q5_0, struct joule_block_q8_0)
JOULE_Q_WRAP(q5_1, struct joule_block_q5_1, struct joule_block_q8_1)
JOULE_Q_WRAP(q8_0, struct joule_block_q8_0, struct joule_block_q8_0)
JOULE_Q_WRAP(q8_1, struct joule_block_q8_1, struct joule_block_q8_1)
JOULE_Q_WRAP(q4_k, struct joule_block_q4_k, struct joule_block_q8_k)
JOULE_Q_WRAP(q5_k, struct joule_block_q5_k, struct joule_block_q8_k)
JOULE_Q_WRAP(q6_k, struct joule_block_q6_k, struct joule_block_q8_k)
JOULE_Q_WRAP(q8_k, struct joule_block_q8_k, struct joule_block_q8_k)

#define JOULE_DOT_WRAP(name, xt, yt)                                                  \
    static float dot_##name(int64_t n, const void *x, const void *y)                  \
    {                                                                                 \
        return joule_vec_dot_##name##_ref(n, (const xt *)x, (const yt *)y);           \
    }

JOULE_DOT_WRAP(f32, float, float)
JOULE_DOT_WRAP(f16, uint16_t, float)
JOULE_DOT_WRAP(bf16, uint16_t, float)
JOULE_DOT_WRAP(q4_0_q8_0, struct joule_block_q4_0, struct joule_block_q8_0)
JOULE_DOT_WRAP(q4_1_q8_1, struct joule_block_q4_1, struct joule_block_q8_1)
JOULE_DOT_WRAP(q5_0_q8_0, struct joule_block_q5_0, struct joule_block_q8_0)
JOULE_DOT_WRAP(q5_1_q8_1, struct joule_block_q5_1, struct joule_block_q8_1)
JOULE_DOT_WRAP(q8_0_q8_0, struct joule_block_q8_0, struct joule_block_q8_0)
JOULE_DOT_WRAP(q4_k_q8_k, struct joule_block_q4_k, struct joule_block_q8_k)
JOULE_DOT_WRAP(q5_k_q8_k, struct joule_block_q5_k, struct joule_block_q8_k)
JOULE_DOT_WRAP(q6_k_q8_k, struct joule_block_q6_k, struct joule_block_q8_k)
JOULE_DOT_WRAP(q8_k_q8_k, struct joule_block_q8_k, struct joule_block_q8_k)

/* Q8_1 against Q8_1 is not a pairing llama.cpp uses; its dot is the Q8_0 one
 * on the shared layout prefix, so it is left out (NULL) instead. */

static void q_f32(const float *x, void *y, int64_t k)
{
    memcpy(y, x, (size_t)k * sizeof(float));
}

static void dq_f32(const void *x, float *y, int64_t k)
{
    memcpy(y, x, (size_t)k * sizeof(float));
}

static const struct type_entry types[JOULE_QUANT_ID_LIMIT] = {
    [JOULE_QUANT_F32] = {{"F32", 1, 4, 4, JOULE_QUANT_F32, true}, q_f32, dq_f32, dot_f32},
    [JOULE_QUANT_F16] = {{"F16", 1, 2, 2, JOULE_QUANT_F32, true}, q_f16, dq_f16, dot_f16},
    [JOULE_QUANT_BF16] = {{"BF16", 1, 2, 2, JOULE_QUANT_F32, true}, q_bf16, dq_bf16, dot_bf16},
    [JOULE_QUANT_Q4_0] = {{"Q4_0", 32, 18, 2, JOULE_QUANT_Q8_0, true}, q_q4_0, dq_q4_0,
                          dot_q4_0_q8_0},
    [JOULE_QUANT_Q4_1] = {{"Q4_1", 32, 20, 2, JOULE_QUANT_Q8_1, true}, q_q4_1, dq_q4_1,
                          dot_q4_1_q8_1},
    [JOULE_QUANT_Q5_0] = {{"Q5_0", 32, 22, 2, JOULE_QUANT_Q8_0, true}, q_q5_0, dq_q5_0,
                          dot_q5_0_q8_0},
    [JOULE_QUANT_Q5_1] = {{"Q5_1", 32, 24, 2, JOULE_QUANT_Q8_1, true}, q_q5_1, dq_q5_1,
                          dot_q5_1_q8_1},
    [JOULE_QUANT_Q8_0] = {{"Q8_0", 32, 34, 2, JOULE_QUANT_Q8_0, true}, q_q8_0, dq_q8_0,
                          dot_q8_0_q8_0},
    [JOULE_QUANT_Q8_1] = {{"Q8_1", 32, 36, 2, JOULE_QUANT_Q8_1, true}, q_q8_1, dq_q8_1, NULL},
    [JOULE_QUANT_Q2_K] = {{"Q2_K", 256, 84, 2, JOULE_QUANT_Q8_K, false}, NULL, NULL, NULL},
    [JOULE_QUANT_Q3_K] = {{"Q3_K", 256, 110, 2, JOULE_QUANT_Q8_K, false}, NULL, NULL, NULL},
    [JOULE_QUANT_Q4_K] = {{"Q4_K", 256, 144, 2, JOULE_QUANT_Q8_K, true}, q_q4_k, dq_q4_k,
                          dot_q4_k_q8_k},
    [JOULE_QUANT_Q5_K] = {{"Q5_K", 256, 176, 2, JOULE_QUANT_Q8_K, true}, q_q5_k, dq_q5_k,
                          dot_q5_k_q8_k},
    [JOULE_QUANT_Q6_K] = {{"Q6_K", 256, 210, 2, JOULE_QUANT_Q8_K, true}, q_q6_k, dq_q6_k,
                          dot_q6_k_q8_k},
    [JOULE_QUANT_Q8_K] = {{"Q8_K", 256, 292, 4, JOULE_QUANT_Q8_K, true}, q_q8_k, dq_q8_k,
                          dot_q8_k_q8_k},
};

static const struct type_entry *entry(uint32_t type)
{
    if (type >= JOULE_QUANT_ID_LIMIT || types[type].traits.name == NULL)
        return NULL;
    return &types[type];
}

const struct joule_quant_traits *joule_quant_traits(uint32_t type)
{
    const struct type_entry *e = entry(type);
    return e ? &e->traits : NULL;
}

const char *joule_quant_name(uint32_t type)
{
    const struct type_entry *e = entry(type);
    return e ? e->traits.name : "unknown";
}

enum joule_status joule_quant_from_name(const char *name, enum joule_quant_type *out)
{
    if (!name || !out)
        return JOULE_ERR_INVALID;
    for (uint32_t t = 0; t < JOULE_QUANT_ID_LIMIT; t++) {
        const char *n = types[t].traits.name;
        if (!n)
            continue;
        size_t i = 0;
        while (n[i] && name[i] &&
               toupper((unsigned char)n[i]) == toupper((unsigned char)name[i]))
            i++;
        if (n[i] == '\0' && name[i] == '\0') {
            *out = (enum joule_quant_type)t;
            return JOULE_OK;
        }
    }
    return JOULE_ERR_NOT_FOUND;
}

double joule_quant_bits_per_weight(uint32_t type)
{
    const struct type_entry *e = entry(type);
    return e ? 8.0 * e->traits.type_size / e->traits.block_size : 0.0;
}

bool joule_quant_row_size(uint32_t type, int64_t n, size_t *out_bytes)
{
    const struct type_entry *e = entry(type);
    if (!e || n < 0 || n % e->traits.block_size != 0)
        return false;
    if ((uint64_t)n > SIZE_MAX)
        return false;
    return joule_mul_size((size_t)n / e->traits.block_size, e->traits.type_size, out_bytes);
}

static enum joule_status check_kernel(const struct type_entry *e, int64_t n)
{
    if (!e || !e->traits.has_ref)
        return JOULE_ERR_UNSUPPORTED;
    if (n < 0 || n % e->traits.block_size != 0)
        return JOULE_ERR_INVALID;
    return JOULE_OK;
}

enum joule_status joule_quant_dequantize_row_ref(uint32_t type, const void *src, float *dst,
                                                 int64_t n)
{
    const struct type_entry *e = entry(type);
    enum joule_status st = check_kernel(e, n);
    if (st != JOULE_OK)
        return st;
    if (!src || !dst)
        return JOULE_ERR_INVALID;
    e->dequantize(src, dst, n);
    return JOULE_OK;
}

enum joule_status joule_quant_quantize_row_ref(uint32_t type, const float *src, void *dst,
                                               int64_t n)
{
    const struct type_entry *e = entry(type);
    enum joule_status st = check_kernel(e, n);
    if (st != JOULE_OK)
        return st;
    if (!src || !dst)
        return JOULE_ERR_INVALID;
    e->quantize(src, dst, n);
    return JOULE_OK;
}

enum joule_status joule_quant_vec_dot_ref(uint32_t type, int64_t n, const void *w, const void *a,
                                          float *out)
{
    const struct type_entry *e = entry(type);
    enum joule_status st = check_kernel(e, n);
    if (st != JOULE_OK)
        return st;
    if (!e->vec_dot)
        return JOULE_ERR_UNSUPPORTED;
    if (!w || !a || !out)
        return JOULE_ERR_INVALID;
    *out = e->vec_dot(n, w, a);
    return JOULE_OK;
}
