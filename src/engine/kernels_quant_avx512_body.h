/*
 * kernels_quant_avx512_body.h - the quantized tiles, written once and
 * compiled twice by kernels_quant_avx512.c: with VNNI (vpdpbusd) and with
 * AVX-512 BW only (vpmaddubsw + vpmaddwd).  Before including, define
 *   SUFFIX(name)  the name of this instance's functions
 *   TARGET        its function attribute (the VNNI target, or nothing)
 *   DP(acc, u, s) acc + the int32 lanes of 4 u8 x s8 products each
 *
 * Every micro-kernel computes each (row, column) dot with the same
 * operations in the same order whatever the micro-tile shape, so a token's
 * result does not depend on the batch around it.
 */

/* --- Q4_0 x Q8_0: 2 blocks (64 elements) per step -------------------------- */

static inline TARGET __attribute__((always_inline)) void
SUFFIX(micro_q4_0)(int RM, int RN, int64_t n, const uint8_t *w, size_t ws, const uint8_t *a,
                   size_t as, float *out, size_t os)
{
    const int64_t nb = n / 32;
    const __m512i eights = _mm512_set1_epi8(8);
    __m512 acc[4][4];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b += 2) {
        const int pair = b + 1 < nb;
        __m512i wq[4], aq[4], neg[4];
        __m512 dw[4], da[4];
        for (int i = 0; i < RM; i++) {
            const uint8_t *p = w + (size_t)i * ws + (size_t)b * 18;
            prefetch_next(p, (size_t)RM * ws, 36);
            wq[i] = pair ? unpack_q4_0_pair(p) : unpack_q4_0_one(p);
            dw[i] = pair ? d_pair(p, 18) : d_one(p);
        }
        for (int j = 0; j < RN; j++) {
            const uint8_t *p = a + (size_t)j * as + (size_t)b * 34;
            aq[j] = pair ? load_q8_0_pair(p) : load_q8_0_one(p);
            da[j] = pair ? d_pair(p, 34) : d_one(p);
            /* q4 levels are 0..15 for x = d (q - 8): subtract 8 * sum(a) */
            neg[j] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                      DP(_mm512_setzero_si512(), eights, aq[j]));
        }
        for (int i = 0; i < RM; i++)
            for (int j = 0; j < RN; j++) {
                const __m512i p = DP(neg[j], wq[i], aq[j]);
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dw[i], da[j]),
                                            acc[i][j]);
            }
    }
    for (int j = 0; j < RN; j++)
        for (int i = 0; i < RM; i++)
            out[(size_t)j * os + (size_t)i] = _mm512_reduce_add_ps(acc[i][j]);
}

/* --- Q8_0 x Q8_0: |w| times a with w's sign ------------------------------- */

static inline TARGET __attribute__((always_inline)) void
SUFFIX(micro_q8_0)(int RM, int RN, int64_t n, const uint8_t *w, size_t ws, const uint8_t *a,
                   size_t as, float *out, size_t os)
{
    const int64_t nb = n / 32;
    __m512 acc[4][4];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b += 2) {
        const int pair = b + 1 < nb;
        __m512i wabs[4], aq[4];
        __mmask64 wneg[4];
        __m512 dw[4], da[4];
        for (int i = 0; i < RM; i++) {
            const uint8_t *p = w + (size_t)i * ws + (size_t)b * 34;
            prefetch_next(p, (size_t)RM * ws, 68);
            const __m512i q = pair ? load_q8_0_pair(p) : load_q8_0_one(p);
            wabs[i] = _mm512_abs_epi8(q);
            wneg[i] = _mm512_movepi8_mask(q);
            dw[i] = pair ? d_pair(p, 34) : d_one(p);
        }
        for (int j = 0; j < RN; j++) {
            const uint8_t *p = a + (size_t)j * as + (size_t)b * 34;
            aq[j] = pair ? load_q8_0_pair(p) : load_q8_0_one(p);
            da[j] = pair ? d_pair(p, 34) : d_one(p);
        }
        for (int i = 0; i < RM; i++)
            for (int j = 0; j < RN; j++) {
                const __m512i s =
                    _mm512_mask_sub_epi8(aq[j], wneg[i], _mm512_setzero_si512(), aq[j]);
                const __m512i p = DP(_mm512_setzero_si512(), wabs[i], s);
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dw[i], da[j]),
                                            acc[i][j]);
            }
    }
    for (int j = 0; j < RN; j++)
        for (int i = 0; i < RM; i++)
            out[(size_t)j * os + (size_t)i] = _mm512_reduce_add_ps(acc[i][j]);
}

/* --- Q4_K x Q8_K: super-blocks of 256, 8 sub-blocks with 6-bit scales and
 * mins ---------------------------------------------------------------------- */

static inline TARGET __attribute__((always_inline)) void
SUFFIX(micro_q4_k)(int RM, int RN, int64_t n, const uint8_t *w, size_t ws, const uint8_t *a,
                   size_t as, float *out, size_t os)
{
    const int64_t nb = n / 256;
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    __m512 acc[4][4];
    float mins[4][4];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) {
            acc[i][j] = _mm512_setzero_ps();
            mins[i][j] = 0.0f;
        }
    for (int64_t b = 0; b < nb; b++) {
        const struct joule_block_q4_k *wb[4];
        const struct joule_block_q8_k *ab[4];
        uint8_t sc[4][8], mn[4][8];
        __m512i isum[4][4];
        for (int i = 0; i < RM; i++) {
            wb[i] = (const struct joule_block_q4_k *)(const void *)(w + (size_t)i * ws) + b;
            prefetch_next((const uint8_t *)wb[i], (size_t)RM * ws, sizeof(*wb[i]));
            for (int s = 0; s < 8; s++)
                joule_quant_get_scale_min_k4(s, wb[i]->scales, &sc[i][s], &mn[i][s]);
        }
        for (int j = 0; j < RN; j++)
            ab[j] = (const struct joule_block_q8_k *)(const void *)(a + (size_t)j * as) + b;
        for (int i = 0; i < RM; i++)
            for (int j = 0; j < RN; j++)
                isum[i][j] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            __m512i wq[4], scv[4], aq[4];
            for (int i = 0; i < RM; i++) {
                /* 32 bytes: low nibbles are sub-block 2c, high ones 2c + 1 */
                const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(wb[i]->qs + 32 * c));
                const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(q),
                                                     _mm256_srli_epi16(q, 4), 1);
                wq[i] = _mm512_and_si512(z, low4);
                scv[i] = _mm512_inserti64x4(_mm512_set1_epi32(sc[i][2 * c]),
                                            _mm256_set1_epi32(sc[i][2 * c + 1]), 1);
            }
            for (int j = 0; j < RN; j++)
                aq[j] = _mm512_loadu_si512((const void *)(ab[j]->qs + 64 * c));
            for (int i = 0; i < RM; i++)
                for (int j = 0; j < RN; j++)
                    isum[i][j] = _mm512_add_epi32(
                        isum[i][j],
                        _mm512_mullo_epi32(DP(_mm512_setzero_si512(), wq[i], aq[j]), scv[i]));
        }
        for (int i = 0; i < RM; i++) {
            const float d = joule_fp16_to_f32(wb[i]->d), dmin = joule_fp16_to_f32(wb[i]->dmin);
            for (int j = 0; j < RN; j++) {
                int32_t smin = 0;
                for (int s = 0; s < 8; s++)
                    smin += mn[i][s] * (ab[j]->bsums[2 * s] + ab[j]->bsums[2 * s + 1]);
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[i][j]),
                                            _mm512_set1_ps(d * ab[j]->d), acc[i][j]);
                mins[i][j] += ab[j]->d * dmin * (float)smin;
            }
        }
    }
    for (int j = 0; j < RN; j++)
        for (int i = 0; i < RM; i++)
            out[(size_t)j * os + (size_t)i] = _mm512_reduce_add_ps(acc[i][j]) - mins[i][j];
}

/* --- Q6_K x Q8_K: 6-bit levels (ql low 4 bits, qh high 2), 16 scales ----- */

static inline TARGET __attribute__((always_inline)) void
SUFFIX(micro_q6_k)(int RM, int RN, int64_t n, const uint8_t *w, size_t ws, const uint8_t *a,
                   size_t as, float *out, size_t os)
{
    const int64_t nb = n / 256;
    const __m512i thirty2 = _mm512_set1_epi8(32);
    __m512 acc[4][4];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const struct joule_block_q6_k *wb[4];
        const struct joule_block_q8_k *ab[4];
        __m512i isum[4][4];
        for (int i = 0; i < RM; i++) {
            wb[i] = (const struct joule_block_q6_k *)(const void *)(w + (size_t)i * ws) + b;
            prefetch_next((const uint8_t *)wb[i], (size_t)RM * ws, sizeof(*wb[i]));
        }
        for (int j = 0; j < RN; j++)
            ab[j] = (const struct joule_block_q8_k *)(const void *)(a + (size_t)j * as) + b;
        for (int i = 0; i < RM; i++)
            for (int j = 0; j < RN; j++)
                isum[i][j] = _mm512_setzero_si512();
        /* Four quarters of 64 elements: (half h, pair g of 32-element groups). */
        for (int qtr = 0; qtr < 4; qtr++) {
            const int h = qtr / 2, g = qtr % 2;
            __m512i wq[4], scv[4], aq[4], neg[4];
            for (int i = 0; i < RM; i++) {
                wq[i] = q6k_quarter(wb[i], h, g);
                scv[i] = q6k_scales(wb[i], 8 * h + 4 * g);
            }
            for (int j = 0; j < RN; j++) {
                aq[j] = _mm512_loadu_si512((const void *)(ab[j]->qs + 64 * qtr));
                /* levels are 0..63 for x = d sc (q - 32): subtract 32 * sum(a) */
                neg[j] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                          DP(_mm512_setzero_si512(), thirty2, aq[j]));
            }
            for (int i = 0; i < RM; i++)
                for (int j = 0; j < RN; j++)
                    isum[i][j] = _mm512_add_epi32(
                        isum[i][j], _mm512_mullo_epi32(DP(neg[j], wq[i], aq[j]), scv[i]));
        }
        for (int i = 0; i < RM; i++) {
            const float d = joule_fp16_to_f32(wb[i]->d);
            for (int j = 0; j < RN; j++)
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[i][j]),
                                            _mm512_set1_ps(d * ab[j]->d), acc[i][j]);
        }
    }
    for (int j = 0; j < RN; j++)
        for (int i = 0; i < RM; i++)
            out[(size_t)j * os + (size_t)i] = _mm512_reduce_add_ps(acc[i][j]);
}

/* --- dispatch of micro-tile shapes ------------------------------------------ */

#define QCASE(F, R, C)                                                                           \
    case (R) * 8 + (C):                                                                          \
        F(R, C, n, w, ws, a, as, out, os);                                                       \
        break

#define QSWITCH(F)                                                                               \
    switch (rm * 8 + rn) {                                                                       \
        QCASE(F, 1, 1); QCASE(F, 1, 2); QCASE(F, 1, 3); QCASE(F, 1, 4);                          \
        QCASE(F, 2, 1); QCASE(F, 2, 2); QCASE(F, 2, 3); QCASE(F, 2, 4);                          \
        QCASE(F, 3, 1); QCASE(F, 3, 2); QCASE(F, 3, 3); QCASE(F, 3, 4);                          \
        QCASE(F, 4, 1); QCASE(F, 4, 2); QCASE(F, 4, 3); QCASE(F, 4, 4);                          \
    default: break;                                                                              \
    }

#define QDEFINE(name, F, RM_BATCH)                                                                         \
    static TARGET void SUFFIX(name)(int rm, int rn, int64_t n, const uint8_t *w, size_t ws,      \
                                    const uint8_t *a, size_t as, float *out, size_t os)          \
    {                                                                                            \
        QSWITCH(F)                                                                               \
    }                                                                                            \
    static void SUFFIX(tile_##name)(int64_t n, const void *w, size_t ws, int32_t nr,             \
                                    const void *a, size_t as, int32_t nc, float *out,            \
                                    size_t os)                                                   \
    {                                                                                            \
        qtile_walk(SUFFIX(name), RM_BATCH, n, w, ws, nr, a, as, nc, out, os);                    \
    }

/* Batches: 4 x 4 micro-tiles where the accumulators fit the 32 registers,
 * 2 x 4 for the K-quants (which also keep integer sums). */
QDEFINE(q4_0, SUFFIX(micro_q4_0), 4)
QDEFINE(q8_0, SUFFIX(micro_q8_0), 4)
QDEFINE(q4_k, SUFFIX(micro_q4_k), 2)
QDEFINE(q6_k, SUFFIX(micro_q6_k), 2)

#undef QCASE
#undef QSWITCH
#undef QDEFINE
