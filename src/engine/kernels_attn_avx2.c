/*
 * kernels_attn_avx2.c - AVX2 + F16C variants of the F16-accumulator
 * updates of flash attention (kernels.h).  Bit-identical to the scalar
 * twins: one fused multiply-add (or one multiply) per element in F32, then
 * one rounding to F16, nearest even.
 */
#include "kernels.h"

#include <immintrin.h>

#define TO_F16(v) _mm256_cvtps_ph((v), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

static void scale_f16_avx2(int64_t n, float a, uint16_t *y)
{
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(y + i)));
        _mm_storeu_si128((__m128i *)(void *)(y + i), TO_F16(_mm256_mul_ps(v, va)));
    }
    for (; i < n; i++) {
        __m128 v = _mm_cvtph_ps(_mm_cvtsi32_si128(y[i]));
        v = _mm_mul_ss(v, _mm_set_ss(a));
        y[i] = (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT), 0);
    }
}

static void mad_f16_f16_avx2(int64_t n, float a, const uint16_t *x, uint16_t *y)
{
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 vx = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(x + i)));
        __m256 vy = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(y + i)));
        _mm_storeu_si128((__m128i *)(void *)(y + i), TO_F16(_mm256_fmadd_ps(vx, va, vy)));
    }
    for (; i < n; i++) {
        __m128 vx = _mm_cvtph_ps(_mm_cvtsi32_si128(x[i]));
        __m128 vy = _mm_cvtph_ps(_mm_cvtsi32_si128(y[i]));
        __m128 r = _mm_fmadd_ss(vx, _mm_set_ss(a), vy);
        y[i] = (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT), 0);
    }
}

void joule_kernels_add_attn_avx2(struct joule_kernels *k)
{
    k->scale_f16 = scale_f16_avx2;
    k->mad_f16_f16 = mad_f16_f16_avx2;
}
