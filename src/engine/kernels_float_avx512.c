/*
 * kernels_float_avx512.c - AVX-512 variants of the float kernels of
 * kernels.h: F32, F16 and BF16 weight tiles, the packed F16 and BF16
 * tiles (pack.h), and the attention helpers.
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq (CMakeLists.txt);
 * registered only after CPUID says the CPU has them.
 *
 * Tiles keep up to 4 x 4 accumulators in registers: each weight vector is
 * loaded (and converted) once per step and used against every activation
 * row of the micro-tile.  Every (row, column) dot is summed in the same
 * order whatever the tile shape (16 lanes, elements in order, tail masked,
 * one final reduction), so a token's result does not depend on the batch
 * around it.
 */
#include "kernels.h"

#include <immintrin.h>

/* 16 elements of row r at element k, as floats; lanes >= rem are zero. */
static inline __m512 load_f32(const void *r, int64_t k, __mmask16 m)
{
    return _mm512_maskz_loadu_ps(m, (const float *)r + k);
}

static inline __m512 load_f16(const void *r, int64_t k, __mmask16 m)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)r + k));
}

static inline __m512 load_bf16(const void *r, int64_t k, __mmask16 m)
{
    const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)r + k);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

enum elt { ELT_F32, ELT_F16, ELT_BF16 };

static inline __m512 load_elt(enum elt e, const void *r, int64_t k, __mmask16 m)
{
    return e == ELT_F32 ? load_f32(r, k, m) : e == ELT_F16 ? load_f16(r, k, m) : load_bf16(r, k, m);
}

/*
 * The micro-kernel: RM weight rows x RN activation rows.  Always inlined
 * with constant RM, RN and element type, so the loops unroll and the
 * accumulators live in registers.
 */
static inline __attribute__((always_inline)) void
micro(enum elt e, int RM, int RN, int64_t n, const uint8_t *w, size_t ws, const uint8_t *a,
      size_t as, float *out, size_t os)
{
    __m512 acc[4][4];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < n; k += 16) {
        const __mmask16 m = n - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - k)) - 1);
        __m512 vw[4], va[4];
        /* The rows of the next micro-tile, at this offset: rows are often a
         * page long, and the hardware prefetchers stop at page boundaries. */
        const size_t off = (size_t)k * (e == ELT_F32 ? 4 : 2);
        for (int i = 0; i < RM; i++)
            _mm_prefetch((const char *)(w + (size_t)(i + RM) * ws + off), _MM_HINT_T0);
        for (int i = 0; i < RM; i++)
            vw[i] = load_elt(e, w + (size_t)i * ws, k, m);
        for (int j = 0; j < RN; j++)
            va[j] = load_f32(a + (size_t)j * as, k, m); /* activations are F32 */
        for (int i = 0; i < RM; i++)
            for (int j = 0; j < RN; j++)
                acc[i][j] = _mm512_fmadd_ps(vw[i], va[j], acc[i][j]);
    }
    for (int j = 0; j < RN; j++)
        for (int i = 0; i < RM; i++)
            out[(size_t)j * os + (size_t)i] = _mm512_reduce_add_ps(acc[i][j]);
}

/* Dispatches one micro-tile of rm x rn (rm <= 4, rn <= 4) to its
 * specialised micro-kernel. */
#define MICRO_CASE(E, R, C)                                                                      \
    case (R) * 8 + (C):                                                                          \
        micro(E, R, C, n, w, ws, a, as, out, os);                                                \
        break

#define MICRO_SWITCH(E)                                                                          \
    switch (rm * 8 + rn) {                                                                       \
        MICRO_CASE(E, 1, 1); MICRO_CASE(E, 1, 2); MICRO_CASE(E, 1, 3); MICRO_CASE(E, 1, 4);      \
        MICRO_CASE(E, 2, 1); MICRO_CASE(E, 2, 2); MICRO_CASE(E, 2, 3); MICRO_CASE(E, 2, 4);      \
        MICRO_CASE(E, 3, 1); MICRO_CASE(E, 3, 2); MICRO_CASE(E, 3, 3); MICRO_CASE(E, 3, 4);      \
        MICRO_CASE(E, 4, 1); MICRO_CASE(E, 4, 2); MICRO_CASE(E, 4, 3); MICRO_CASE(E, 4, 4);      \
    default: break;                                                                              \
    }

#define DEFINE_MICRO_AT(name, E)                                                                 \
    static void name(int rm, int rn, int64_t n, const uint8_t *w, size_t ws, const uint8_t *a,   \
                     size_t as, float *out, size_t os)                                           \
    {                                                                                            \
        MICRO_SWITCH(E)                                                                          \
    }

DEFINE_MICRO_AT(micro_f32, ELT_F32)
DEFINE_MICRO_AT(micro_f16, ELT_F16)
DEFINE_MICRO_AT(micro_bf16, ELT_BF16)

typedef void (*micro_fn)(int rm, int rn, int64_t n, const uint8_t *w, size_t ws,
                         const uint8_t *a, size_t as, float *out, size_t os);

/* Walks the tile in 4 x 4 micro-tiles (4 x 1 when there is one activation
 * row: four weight rows streamed at once keep the memory system busy). */
static void tile_walk(micro_fn fn, int64_t n, const void *w, size_t ws, int32_t nr,
                      const void *a, size_t as, int32_t nc, float *out, size_t os)
{
    const uint8_t *wb = w, *ab = a;
    for (int32_t j = 0; j < nc; j += 4) {
        const int rn = nc - j < 4 ? nc - j : 4;
        for (int32_t i = 0; i < nr; i += 4) {
            const int rm = nr - i < 4 ? nr - i : 4;
            fn(rm, rn, n, wb + (size_t)i * ws, ws, ab + (size_t)j * as, as,
               out + (size_t)j * os + (size_t)i, os);
        }
    }
}

static void tile_f32(int64_t n, const void *w, size_t ws, int32_t nr, const void *a, size_t as,
                     int32_t nc, float *out, size_t os)
{
    tile_walk(micro_f32, n, w, ws, nr, a, as, nc, out, os);
}

static void tile_f16(int64_t n, const void *w, size_t ws, int32_t nr, const void *a, size_t as,
                     int32_t nc, float *out, size_t os)
{
    tile_walk(micro_f16, n, w, ws, nr, a, as, nc, out, os);
}

static void tile_bf16(int64_t n, const void *w, size_t ws, int32_t nr, const void *a, size_t as,
                      int32_t nc, float *out, size_t os)
{
    tile_walk(micro_bf16, n, w, ws, nr, a, as, nc, out, os);
}

/* ---------------------------------------------------------------------------
 * Packed F16 / BF16 tiles (pack.h): element e of a group's 16 rows is one
 * 32-byte vector, so each element is loaded and converted once for 16 rows
 * and then meets RN columns, its activation broadcast from memory: one
 * conversion per RN FMAs (the row-major tile needs one per 4), and one
 * sequential stream.  Each column keeps two sums (even and odd elements:
 * two FMA chains for one column at batch 1), added at the end, whatever
 * RN: a column's result does not depend on the columns beside it.
 *
 * From 4 columns on the tile is bound by its FMAs, not by memory, and the
 * hardware prefetcher then falls behind: one thread at 16 columns ran at
 * 82 GFLOP/s with weights from memory against 116 from cache.  Fetching
 * the line PMICRO_PREFETCH bytes ahead of the one loaded brings it to 112.
 * With fewer columns the tile is a pure stream, which the prefetcher
 * serves better alone (one column: 24 GFLOP/s without, 20 with).
 *
 * The passes over the columns (12 at a time) all meet one group of rows
 * before the next group: the group (64 KB at n = 2048) is still in L2 for
 * the later passes.  Columns outermost re-read whole calls' rows, from
 * memory for the output matrix's 2000-row chunks (99 against 113 GFLOP/s
 * at 4096 rows a call).  (docs/performance.md, 2026-12-06 (evening).)
 */

#define PMICRO_PREFETCH 2048
#define PMICRO_PREFETCH_COLS 4

static inline __m512 load_packed(enum elt e, const uint8_t *g)
{
    const __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)g);
    if (e == ELT_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

static inline __attribute__((always_inline)) void
pmicro(enum elt e, int RN, int64_t n, const uint8_t *g, const uint8_t *a, size_t as, float *out,
       size_t os)
{
    __m512 acc[12][2];
    for (int j = 0; j < RN; j++)
        acc[j][0] = acc[j][1] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 2 <= n; k += 2, g += 64) {
        if (RN >= PMICRO_PREFETCH_COLS) /* known at compile time */
            _mm_prefetch((const char *)g + PMICRO_PREFETCH, _MM_HINT_T0);
        const __m512 w0 = load_packed(e, g), w1 = load_packed(e, g + 32);
        for (int j = 0; j < RN; j++) {
            const float *x = (const float *)(const void *)(a + (size_t)j * as) + k;
            acc[j][0] = _mm512_fmadd_ps(w0, _mm512_set1_ps(x[0]), acc[j][0]);
            acc[j][1] = _mm512_fmadd_ps(w1, _mm512_set1_ps(x[1]), acc[j][1]);
        }
    }
    if (k < n) { /* an odd last element */
        const __m512 w0 = load_packed(e, g);
        for (int j = 0; j < RN; j++) {
            const float *x = (const float *)(const void *)(a + (size_t)j * as) + k;
            acc[j][0] = _mm512_fmadd_ps(w0, _mm512_set1_ps(x[0]), acc[j][0]);
        }
    }
    for (int j = 0; j < RN; j++)
        _mm512_storeu_ps(out + (size_t)j * os, _mm512_add_ps(acc[j][0], acc[j][1]));
}

#define PCASE(E, C)                                                                              \
    case C:                                                                                      \
        pmicro(E, C, n, g, aj, as, o, os);                                                       \
        break

#define DEFINE_PTILE(name, E)                                                                    \
    static void name(int64_t n, const void *w, size_t ws, int32_t nr, const void *a, size_t as,  \
                     int32_t nc, float *out, size_t os)                                          \
    {                                                                                            \
        for (int32_t gi = 0; gi < nr / 16; gi++) {                                               \
            const uint8_t *g = (const uint8_t *)w + (size_t)gi * ws;                             \
            for (int32_t j0 = 0; j0 < nc; j0 += 12) {                                            \
                const int rn = nc - j0 < 12 ? nc - j0 : 12;                                      \
                const uint8_t *aj = (const uint8_t *)a + (size_t)j0 * as;                        \
                float *o = out + (size_t)j0 * os + (size_t)gi * 16;                              \
                switch (rn) {                                                                    \
                    PCASE(E, 1); PCASE(E, 2); PCASE(E, 3); PCASE(E, 4); PCASE(E, 5);             \
                    PCASE(E, 6); PCASE(E, 7); PCASE(E, 8); PCASE(E, 9); PCASE(E, 10);            \
                    PCASE(E, 11);                                                                \
                default: pmicro(E, 12, n, g, aj, as, o, os); break;                              \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    }

DEFINE_PTILE(ptile_f16, ELT_F16)
DEFINE_PTILE(ptile_bf16, ELT_BF16)
#undef DEFINE_PTILE
#undef PCASE

/* ---------------------------------------------------------------------------
 * Attention helpers
 */

static inline __mmask16 tail_mask(int64_t n, int64_t k)
{
    return n - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - k)) - 1);
}

static float dot_f16(int64_t n, const uint16_t *x, const uint16_t *y)
{
    __m512 acc = _mm512_setzero_ps();
    for (int64_t k = 0; k < n; k += 16) {
        const __mmask16 m = tail_mask(n, k);
        acc = _mm512_fmadd_ps(load_f16(x, k, m), load_f16(y, k, m), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

static float dot_f32(int64_t n, const float *x, const float *y)
{
    __m512 acc = _mm512_setzero_ps();
    for (int64_t k = 0; k < n; k += 16) {
        const __mmask16 m = tail_mask(n, k);
        acc = _mm512_fmadd_ps(load_f32(x, k, m), load_f32(y, k, m), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

static void mad_f16(int64_t n, float a, const uint16_t *x, float *y)
{
    const __m512 va = _mm512_set1_ps(a);
    for (int64_t k = 0; k < n; k += 16) {
        const __mmask16 m = tail_mask(n, k);
        const __m512 r = _mm512_fmadd_ps(load_f16(x, k, m), va, load_f32(y, k, m));
        _mm512_mask_storeu_ps(y + k, m, r);
    }
}

static void mad_f32(int64_t n, float a, const float *x, float *y)
{
    const __m512 va = _mm512_set1_ps(a);
    for (int64_t k = 0; k < n; k += 16) {
        const __mmask16 m = tail_mask(n, k);
        const __m512 r = _mm512_fmadd_ps(load_f32(x, k, m), va, load_f32(y, k, m));
        _mm512_mask_storeu_ps(y + k, m, r);
    }
}

/* The F16 accumulator updates of flash attention, bit-identical to the
 * twins (one multiply or fma in F32, one rounding to F16, nearest even):
 * 16 elements at a time, a head of 64 in 4 steps (the AVX2 ones take 8);
 * whole steps with plain loads and stores, a tail with masks (masked
 * throughout, mad_f16_f16 took 1.1-1.8% of a batch-16 F16 decode against
 * 0.8-1.1%).  A head's next update reads what this one stored: forward.c
 * runs several heads side by side so that these chains overlap
 * (heads_f16). */
static inline __m512 f16x16(const uint16_t *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
}

static inline void store_f16x16(uint16_t *p, __m512 v)
{
    _mm256_storeu_si256((__m256i *)(void *)p,
                        _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

static inline void store_f16_tail(uint16_t *p, __mmask16 m, __m512 v)
{
    const __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_mask_storeu_epi16(p, m, h);
}

static void scale_f16(int64_t n, float a, uint16_t *y)
{
    const __m512 va = _mm512_set1_ps(a);
    int64_t k = 0;
    for (; k + 16 <= n; k += 16)
        store_f16x16(y + k, _mm512_mul_ps(f16x16(y + k), va));
    if (k < n) {
        const __mmask16 m = tail_mask(n, k);
        store_f16_tail(y + k, m, _mm512_mul_ps(load_f16(y, k, m), va));
    }
}

static void mad_f16_f16(int64_t n, float a, const uint16_t *x, uint16_t *y)
{
    const __m512 va = _mm512_set1_ps(a);
    int64_t k = 0;
    for (; k + 16 <= n; k += 16)
        store_f16x16(y + k, _mm512_fmadd_ps(f16x16(x + k), va, f16x16(y + k)));
    if (k < n) {
        const __mmask16 m = tail_mask(n, k);
        store_f16_tail(y + k, m, _mm512_fmadd_ps(load_f16(x, k, m), va, load_f16(y, k, m)));
    }
}

static void f16_to_f32(const uint16_t *x, float *y, int64_t n)
{
    for (int64_t k = 0; k < n; k += 16) {
        const __mmask16 m = tail_mask(n, k);
        _mm512_mask_storeu_ps(y + k, m, load_f16(x, k, m));
    }
}

/* F32 -> F16, nearest even (vcvtps2ph), as the twin; a chunk holding a NaN
 * goes through the twin, so NaN payloads are the twin's too. */
static void f32_to_f16(const float *x, uint16_t *y, int64_t n)
{
    for (int64_t k = 0; k < n; k += 16) {
        const __mmask16 m = tail_mask(n, k);
        const __m512 v = load_f32(x, k, m);
        if (_mm512_mask_cmp_ps_mask(m, v, v, _CMP_UNORD_Q)) {
            joule_quantize_row_f16_ref(x + k, y + k, n - k < 16 ? n - k : 16);
            continue;
        }
        _mm256_mask_storeu_epi16(y + k, m, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    }
}

/* F32 -> BF16, nearest even by integer rounding, as the twin; NaN chunks
 * through the twin. */
static void f32_to_bf16(const float *x, uint16_t *y, int64_t n)
{
    const __m512i bias = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1);
    for (int64_t k = 0; k < n; k += 16) {
        const __mmask16 m = tail_mask(n, k);
        const __m512 v = load_f32(x, k, m);
        if (_mm512_mask_cmp_ps_mask(m, v, v, _CMP_UNORD_Q)) {
            joule_quantize_row_bf16_ref(x + k, y + k, n - k < 16 ? n - k : 16);
            continue;
        }
        __m512i b = _mm512_castps_si512(v);
        b = _mm512_add_epi32(b, _mm512_add_epi32(bias, _mm512_and_si512(_mm512_srli_epi32(b, 16), one)));
        _mm256_mask_storeu_epi16(y + k, m, _mm512_cvtepi32_epi16(_mm512_srli_epi32(b, 16)));
    }
}

/* Activations for F16 / BF16 weights: rounded, held as F32 (kernels.h). */
static void act_f16(const float *x, void *vy, int64_t n)
{
    float *y = vy;
    uint16_t h[64];
    for (int64_t k = 0; k < n; k += 64) {
        const int64_t c = n - k < 64 ? n - k : 64;
        f32_to_f16(x + k, h, c);
        f16_to_f32(h, y + k, c);
    }
}

static void act_bf16(const float *x, void *vy, int64_t n)
{
    float *y = vy;
    uint16_t h[64];
    for (int64_t k = 0; k < n; k += 64) {
        const int64_t c = n - k < 64 ? n - k : 64;
        f32_to_bf16(x + k, h, c);
        for (int64_t i = 0; i < c; i += 16) {
            const __mmask16 m = tail_mask(c, i);
            _mm512_mask_storeu_ps(y + k + i, m, load_bf16(h, i, m));
        }
    }
}

void joule_kernels_add_float_avx512(struct joule_kernels *k)
{
    k->tile[JOULE_QUANT_F32] = tile_f32;
    k->tile[JOULE_QUANT_F16] = tile_f16;
    k->tile[JOULE_QUANT_BF16] = tile_bf16;
    k->ptile[JOULE_QUANT_F16] = ptile_f16;
    k->ptile[JOULE_QUANT_BF16] = ptile_bf16;
    k->pack_fast[JOULE_QUANT_F16] = true;
    k->pack_fast[JOULE_QUANT_BF16] = true;
    k->dot_f16 = dot_f16;
    k->dot_f32 = dot_f32;
    k->mad_f16 = mad_f16;
    k->mad_f32 = mad_f32;
    k->scale_f16 = scale_f16;
    k->mad_f16_f16 = mad_f16_f16;
    k->f16_to_f32 = f16_to_f32;
    k->f32_to_f16 = f32_to_f16;
    k->act[JOULE_QUANT_F16] = act_f16;
    k->act[JOULE_QUANT_BF16] = act_bf16;
}
