/*
 * kernels_quant_avx512.c - AVX-512 variants of the quantized kernels of
 * kernels.h: the Q8_0 and Q8_K activation quantizers (bit-identical to the
 * twins) and the Q4_0, Q8_0, Q4_K and Q6_K tiles.
 *
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq (CMakeLists.txt).
 * The tiles exist twice (kernels_quant_avx512_body.h): with VNNI's vpdpbusd,
 * marked target("avx512vnni") and chosen only when CPUID reports it, and
 * with vpmaddubsw + vpmaddwd for AVX-512 CPUs without VNNI.  The byte
 * products never saturate the 16-bit sums of the second form: weights are
 * at most 63 (Q6_K levels) or |w| <= 128 against |a| <= 127 (Q8_0), so a
 * pair sums to at most 32512.
 *
 * Weight rows meet activations 64 elements at a time: a weight vector is
 * unpacked once per step and used against every activation row of the
 * micro-tile (up to 4 x 1 for one token, 2 to 4 x 4 for a batch).
 */
#include "kernels.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* --- loads shared by both instances ------------------------------------------ */

/* Scales of blocks p and p + stride (F16) as [d0 x 8 | d1 x 8]. */
static inline __m512 d_pair(const uint8_t *p, size_t stride)
{
    uint16_t d0, d1;
    memcpy(&d0, p, 2);
    memcpy(&d1, p + stride, 2);
    return _mm512_cvtph_ps(_mm256_set_m128i(_mm_set1_epi16((short)d1), _mm_set1_epi16((short)d0)));
}

/* One block's scale as [d0 x 8 | 0 x 8]: the odd last block of a row. */
static inline __m512 d_one(const uint8_t *p)
{
    uint16_t d0;
    memcpy(&d0, p, 2);
    return _mm512_cvtph_ps(_mm256_set_m128i(_mm_setzero_si128(), _mm_set1_epi16((short)d0)));
}

/* Two Q4_0 blocks (18 bytes each) as 64 levels 0..15 in element order. */
static inline __m512i unpack_q4_0_pair(const uint8_t *p)
{
    const __m128i x0 = _mm_loadu_si128((const __m128i *)(const void *)(p + 2));
    const __m128i x1 = _mm_loadu_si128((const __m128i *)(const void *)(p + 20));
    const __m256i y = _mm256_set_m128i(x1, x0);
    const __m256i m = _mm256_set1_epi8(0x0F);
    const __m256i lo = _mm256_and_si256(y, m), hi = _mm256_and_si256(_mm256_srli_epi16(y, 4), m);
    const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); /* lo0 lo1 hi0 hi1 */
    return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));              /* lo0 hi0 lo1 hi1 */
}

static inline __m512i unpack_q4_0_one(const uint8_t *p)
{
    const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + 2));
    const __m128i m = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(x, m), hi = _mm_and_si128(_mm_srli_epi16(x, 4), m);
    return _mm512_zextsi256_si512(_mm256_set_m128i(hi, lo));
}

/* The 64 quants of two Q8_0 blocks (34 bytes each). */
static inline __m512i load_q8_0_pair(const uint8_t *p)
{
    const __m256i q0 = _mm256_loadu_si256((const __m256i *)(const void *)(p + 2));
    const __m256i q1 = _mm256_loadu_si256((const __m256i *)(const void *)(p + 36));
    return _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
}

static inline __m512i load_q8_0_one(const uint8_t *p)
{
    return _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(p + 2)));
}

/* The high 2 bits of half h of a Q6_K block, arranged for q6k_quarter:
 * bytes 0-31 are qh (bits 0-1: elements 0-31, 4-5: 64-95), bytes 32-63 are
 * qh >> 2 (bits 0-1: elements 32-63, 4-5: 96-127). */
static inline __m512i q6k_high(const struct joule_block_q6_k *b, int h)
{
    const __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(b->qh + 32 * h));
    return _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
}

/* Levels 0..63 of elements 128 h + 64 g .. + 63 of a Q6_K block, hz from
 * q6k_high(b, h): the low nibble of ql (g = 0) or its high one (g = 1),
 * or'ed with the two high bits moved to bits 4-5 (one vpternlogd). */
static inline __m512i q6k_quarter(const struct joule_block_q6_k *b, __m512i hz, int h, int g)
{
    const __m512i ql = _mm512_loadu_si512((const void *)(b->ql + 64 * h));
    const __m512i hi = _mm512_and_si512(g == 0 ? _mm512_slli_epi16(hz, 4) : hz,
                                        _mm512_set1_epi8(0x30));
    const __m512i lo = g == 0 ? ql : _mm512_srli_epi16(ql, 4);
    return _mm512_ternarylogic_epi32(lo, _mm512_set1_epi8(0x0F), hi, 0xEA); /* lo & 0x0F | hi */
}

/* The eight 6-bit scales and mins of a Q4_K super-block (12 packed bytes,
 * joule_quant_get_scale_min_k4's layout), all at once: *sc gets the scales
 * as int16 pairs (s, s) in 8 dword lanes, ready for vpmaddwd against the
 * 16-bit products of a sub-block; *mn the mins as 16 int16 lanes
 * (m0, m0, m1, m1, ...), matching the 16 bsums of a Q8_K block. */
static inline void q4k_scales_mins(const uint8_t *packed, __m256i *sc, __m256i *mn)
{
    uint32_t u[3];
    memcpy(u, packed, 12);
    /* sub-blocks 0-3: the low 6 bits of bytes 0-3 (scales) and 4-7 (mins);
     * 4-7: low / high nibbles of bytes 8-11 and the top 2 bits of 0-3 / 4-7 */
    const uint64_t s = (uint64_t)(u[0] & 0x3f3f3f3fu) |
                       (uint64_t)((u[2] & 0x0f0f0f0fu) | ((u[0] >> 2) & 0x30303030u)) << 32;
    const uint64_t m = (uint64_t)(u[1] & 0x3f3f3f3fu) |
                       (uint64_t)(((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 2) & 0x30303030u)) << 32;
    const __m256i s32 = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)s));
    const __m256i m32 = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m));
    *sc = _mm256_or_si256(s32, _mm256_slli_epi32(s32, 16));
    *mn = _mm256_or_si256(m32, _mm256_slli_epi32(m32, 16));
}

/* The 16 int8 scales of a Q6_K block as int16 pairs (s, s) in 16 dword
 * lanes (vpermd picks a scale's pair for 8 int16 products). */
static inline __m512i q6k_scale_pairs(const struct joule_block_q6_k *b)
{
    const __m512i s32 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)b->scales));
    return _mm512_or_si512(_mm512_and_si512(s32, _mm512_set1_epi32(0xffff)),
                           _mm512_slli_epi32(s32, 16));
}

/* Two F16 values at p as floats in lanes 0 and 1. */
static inline __m128 f16x2(const uint8_t *p)
{
    uint32_t u;
    memcpy(&u, p, 4);
    return _mm_cvtph_ps(_mm_cvtsi32_si128((int)u));
}

/* Prefetches the bytes [p + ahead, p + ahead + n): the same blocks of the
 * next micro-tile's rows (the hardware prefetchers stop at page
 * boundaries, and rows of large matrices span pages one by one). */
static inline void prefetch_next(const uint8_t *p, size_t ahead, size_t n)
{
    for (size_t o = 0; o < n; o += 64)
        _mm_prefetch((const char *)(p + ahead + o), _MM_HINT_T0);
}

/* 4 bytes at p broadcast to the 16 dword lanes (folded into the DP as an
 * embedded broadcast): a slice of an activation block meeting 16 packed
 * rows. */
static inline __m512i bcast4(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* Blocks of a Q8_0 activation row a packed Q4_0 tile handles per pass:
 * their sums and scales are gathered first (see q8_0_sums). */
#define PSLICE 128

/* For nb Q8_0 blocks at p: ofs[b] = zero_point sum(qs) (8 for Q4_0's
 * levels 0..15, 128 for Q8_0's q + 128; subtracted once per block and 16
 * rows) and da[b] = d. */
static void q8_0_sums(const uint8_t *p, int64_t nb, int16_t zero_point, int32_t *ofs, float *da)
{
    const __m256i ones = _mm256_set1_epi8(1), zp = _mm256_set1_epi16(zero_point);
    for (int64_t b = 0; b < nb; b++, p += 34) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(p + 2));
        const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones, q), zp);
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(1, 0, 3, 2)));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1)));
        ofs[b] = _mm_cvtsi128_si32(h);
        uint16_t d;
        memcpy(&d, p, 2);
        da[b] = _cvtsh_ss(d);
    }
}

typedef void (*qmicro_fn)(int rm, int rn, int64_t n, const uint8_t *w, size_t ws,
                          const uint8_t *a, size_t as, float *out, size_t os);

/* Walks a tile: 4 x 1 micro-tiles for one token, rm_batch x 4 for a batch. */
static void qtile_walk(qmicro_fn fn, int rm_batch, int64_t n, const void *w, size_t ws,
                       int32_t nr, const void *a, size_t as, int32_t nc, float *out, size_t os)
{
    const uint8_t *wb = w, *ab = a;
    const int max_rm = nc == 1 ? 4 : rm_batch;
    for (int32_t j = 0; j < nc; j += 4) {
        const int rn = nc - j < 4 ? nc - j : 4;
        for (int32_t i = 0; i < nr; i += max_rm) {
            const int rm = nr - i < max_rm ? nr - i : max_rm;
            fn(rm, rn, n, wb + (size_t)i * ws, ws, ab + (size_t)j * as, as,
               out + (size_t)j * os + (size_t)i, os);
        }
    }
}

/* --- the two instances of the tiles ---------------------------------------- */

static inline __attribute__((target("avx512vnni"))) __m512i dp_vnni(__m512i acc, __m512i u,
                                                                    __m512i s)
{
    return _mm512_dpbusd_epi32(acc, u, s);
}

static inline __m512i dp_bw(__m512i acc, __m512i u, __m512i s)
{
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s),
                                                   _mm512_set1_epi16(1)));
}

/* acc + the int32 lanes of 2 s16 x s16 products each (vpdpwssd). */
static inline __attribute__((target("avx512vnni"))) __m512i dpw_vnni(__m512i acc, __m512i x,
                                                                     __m512i y)
{
    return _mm512_dpwssd_epi32(acc, x, y);
}

static inline __m512i dpw_bw(__m512i acc, __m512i x, __m512i y)
{
    return _mm512_add_epi32(acc, _mm512_madd_epi16(x, y));
}

#define SUFFIX(name) name##_vnni
#define TARGET __attribute__((target("avx512vnni")))
#define DP dp_vnni
#define DPW dpw_vnni
#define WITH_PACKED_Q8_0 1
#include "kernels_quant_avx512_body.h"
#undef SUFFIX
#undef TARGET
#undef DP
#undef DPW
#undef WITH_PACKED_Q8_0

#define SUFFIX(name) name##_bw
#define TARGET
#define DP dp_bw
#define DPW dpw_bw
#define WITH_PACKED_Q8_0 0
#include "kernels_quant_avx512_body.h"
#undef SUFFIX
#undef TARGET
#undef DP
#undef DPW
#undef WITH_PACKED_Q8_0

/* --- activation quantizers, bit-identical to the twins ----------------------- */

/* |x| with NaN lanes made 0 (the twins' absmax skips NaN). */
static inline __m512 abs_no_nan(__m512 v)
{
    const __m512 a = _mm512_abs_ps(v);
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), a);
}

/* roundf (halves away from zero) for |v| < 2^23; NaN lanes give 0. */
static inline __m512 round_away(__m512 v)
{
    const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
    const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f),
                                    _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
    const __m512 r = _mm512_mask_add_ps(t, up, t, one);
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), r);
}

static void act_q8_0(const float *x, void *vy, int64_t n)
{
    struct joule_block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / 32; b++, x += 32) {
        const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(abs_no_nan(v0), abs_no_nan(v1)));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = joule_fp16_from_f32(d);
        const __m512 vid = _mm512_set1_ps(id), lim = _mm512_set1_ps(127.0f);
        for (int h = 0; h < 2; h++) {
            __m512 q = round_away(_mm512_mul_ps(h ? v1 : v0, vid));
            q = _mm512_min_ps(_mm512_max_ps(q, _mm512_sub_ps(_mm512_setzero_ps(), lim)), lim);
            _mm_storeu_si128((__m128i *)(void *)(y[b].qs + 16 * h),
                             _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(q)));
        }
    }
}

static void act_q8_k(const float *x, void *vy, int64_t n)
{
    struct joule_block_q8_k *y = vy;
    for (int64_t b = 0; b < n / 256; b++, x += 256) {
        __m512 m = _mm512_setzero_ps();
        for (int k = 0; k < 256; k += 16)
            m = _mm512_max_ps(abs_no_nan(_mm512_loadu_ps(x + k)), m);
        const float amax = _mm512_reduce_max_ps(m);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof(y[b]));
            continue;
        }
        float max = 0.0f; /* the first element of the largest magnitude, as the twin */
        for (int k = 0; k < 256; k++)
            if (fabsf(x[k]) == amax) {
                max = x[k];
                break;
            }
        const float iscale = -127.0f / max;
        const __m512 vs = _mm512_set1_ps(iscale);
        const __m512i lo = _mm512_set1_epi32(-128), hi = _mm512_set1_epi32(127);
        for (int g = 0; g < 16; g++) {
            const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + 16 * g), vs);
            /* nearest, ties to even (lrintf); NaN lanes 0 */
            __m512i q = _mm512_maskz_cvtps_epi32(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v);
            q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
            _mm_storeu_si128((__m128i *)(void *)(y[b].qs + 16 * g), _mm512_cvtepi32_epi8(q));
            y[b].bsums[g] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        y[b].d = 1.0f / iscale;
    }
}

void joule_kernels_add_quant_avx512(struct joule_kernels *k)
{
    k->act[JOULE_QUANT_Q8_0] = act_q8_0;
    k->act[JOULE_QUANT_Q8_K] = act_q8_k;
    if (k->cpu.avx512vnni) {
        k->tile[JOULE_QUANT_Q4_0] = tile_q4_0_vnni;
        k->tile[JOULE_QUANT_Q8_0] = tile_q8_0_vnni;
        k->tile[JOULE_QUANT_Q4_K] = tile_q4_k_vnni;
        k->tile[JOULE_QUANT_Q6_K] = tile_q6_k_vnni;
        k->ptile[JOULE_QUANT_Q4_0] = ptile_q4_0_vnni;
        k->ptile[JOULE_QUANT_Q4_K] = ptile_q4_k_vnni;
        k->ptile[JOULE_QUANT_Q6_K] = ptile_q6_k_vnni;
        k->ptile[JOULE_QUANT_Q8_0] = ptile_q8_0_vnni;
        k->pack_fast[JOULE_QUANT_Q8_0] = true;
    } else {
        k->tile[JOULE_QUANT_Q4_0] = tile_q4_0_bw;
        k->tile[JOULE_QUANT_Q8_0] = tile_q8_0_bw;
        k->tile[JOULE_QUANT_Q4_K] = tile_q4_k_bw;
        k->tile[JOULE_QUANT_Q6_K] = tile_q6_k_bw;
        k->ptile[JOULE_QUANT_Q4_0] = ptile_q4_0_bw;
        k->ptile[JOULE_QUANT_Q4_K] = ptile_q4_k_bw;
        k->ptile[JOULE_QUANT_Q6_K] = ptile_q6_k_bw;
    }
    k->pack_fast[JOULE_QUANT_Q4_0] = true;
    k->pack_fast[JOULE_QUANT_Q4_K] = true;
    k->pack_fast[JOULE_QUANT_Q6_K] = true;
}
