/*
 * kernels_quant_avx512_body.h - the quantized tiles, written once and
 * compiled twice by kernels_quant_avx512.c: with VNNI (vpdpbusd) and with
 * AVX-512 BW only (vpmaddubsw + vpmaddwd).  Before including, define
 *   SUFFIX(name)  the name of this instance's functions
 *   TARGET        its function attribute (the VNNI target, or nothing)
 *   DP(acc, u, s) acc + the int32 lanes of 4 u8 x s8 products each
 *   DPW(acc, x, y) acc + the int32 lanes of 2 s16 x s16 products each
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

/* One 64-element step of the K-quant tiles: isum[i][j] += the int16 sums
 * of 2 products of weights wq[i] (unsigned levels) and the activations at
 * element OFF of ab[j], each times its int16 scale in scv[i].  A macro, not
 * an inline function: passing the register arrays cost 5% (measured). */
#define KQ_STEP(OFF)                                                                             \
    for (int j = 0; j < RN; j++) {                                                               \
        const __m512i aq = _mm512_loadu_si512((const void *)(ab[j]->qs + (OFF)));                \
        for (int i = 0; i < RM; i++)                                                             \
            isum[i][j] = DPW(isum[i][j], _mm512_maddubs_epi16(wq[i], aq), scv[i]);               \
    }

/* --- Q4_K x Q8_K: super-blocks of 256, 8 sub-blocks with 6-bit scales and
 * mins ----------------------------------------------------------------------
 *
 * Per 64 elements (sub-blocks 2c and 2c + 1): vpmaddubsw makes 32 int16
 * sums of 2 products (levels 0..15 times a, |sum| <= 3840), and vpdpwssd
 * (vpmaddwd + vpaddd without VNNI) multiplies them by the sub-block's
 * scale (0..63) into the int32 sums: the scales never leave the integer
 * domain and no vpmulld is needed.  The mins meet the Q8_K block's 16
 * bsums in one vpmaddwd per (row, column) and super-block. */

static inline TARGET __attribute__((always_inline)) void
SUFFIX(micro_q4_k)(int RM, int RN, int64_t n, const uint8_t *w, size_t ws, const uint8_t *a,
                   size_t as, float *out, size_t os)
{
    const int64_t nb = n / 256;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m512 acc[4][4];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const struct joule_block_q4_k *wb[4];
        const struct joule_block_q8_k *ab[4];
        __m256i sc[4], mn[4];
        __m512 dv[4];
        __m256 mv[4];
        __m512i isum[4][4];
        for (int i = 0; i < RM; i++) {
            wb[i] = (const struct joule_block_q4_k *)(const void *)(w + (size_t)i * ws) + b;
            prefetch_next((const uint8_t *)wb[i], (size_t)RM * ws, sizeof(*wb[i]));
            q4k_scales_mins(wb[i]->scales, &sc[i], &mn[i]);
            const __m128 dm = f16x2((const uint8_t *)wb[i]); /* d, dmin */
            dv[i] = _mm512_broadcastss_ps(dm);
            mv[i] = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
        }
        for (int j = 0; j < RN; j++)
            ab[j] = (const struct joule_block_q8_k *)(const void *)(a + (size_t)j * as) + b;
        for (int i = 0; i < RM; i++)
            for (int j = 0; j < RN; j++)
                isum[i][j] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            /* int16 lanes 0-15 take sub-block 2c's scale, 16-31 2c + 1's */
            const __m512i pick = _mm512_inserti64x4(_mm512_set1_epi32(2 * c),
                                                    _mm256_set1_epi32(2 * c + 1), 1);
            __m512i wq[4], scv[4];
            for (int i = 0; i < RM; i++) {
                /* 32 bytes: low nibbles are sub-block 2c, high ones 2c + 1 */
                const __m256i q =
                    _mm256_loadu_si256((const __m256i *)(const void *)(wb[i]->qs + 32 * c));
                wq[i] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(q, low4)),
                                           _mm256_and_si256(_mm256_srli_epi16(q, 4), low4), 1);
                scv[i] = _mm512_permutexvar_epi32(pick, _mm512_castsi256_si512(sc[i]));
            }
            KQ_STEP(64 * c)
        }
        for (int j = 0; j < RN; j++) {
            const __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)ab[j]->bsums);
            const __m512 da = _mm512_set1_ps(ab[j]->d);
            for (int i = 0; i < RM; i++) {
                /* d sum - dmin mins (lanes 0-7), then times the Q8_K scale */
                const __m256 m = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(bs, mn[i])),
                                               mv[i]);
                const __m512 t = _mm512_fmsub_ps(_mm512_cvtepi32_ps(isum[i][j]), dv[i],
                                                 _mm512_zextps256_ps512(m));
                acc[i][j] = _mm512_fmadd_ps(t, da, acc[i][j]);
            }
        }
    }
    for (int j = 0; j < RN; j++)
        for (int i = 0; i < RM; i++)
            out[(size_t)j * os + (size_t)i] = _mm512_reduce_add_ps(acc[i][j]);
}

/* --- Q6_K x Q8_K: 6-bit levels (ql low 4 bits, qh high 2), 16 scales -----
 *
 * As Q4_K: int16 products (levels 0..63, |sum| <= 16128) times the int8
 * scales by vpdpwssd.  The levels are x = d sc (q - 32): the 32 sc sum(a)
 * to subtract is one vpmaddwd of the Q8_K bsums (one per 16 elements, as
 * the scales) with 32 sc per (row, column) and super-block. */

static inline TARGET __attribute__((always_inline)) void
SUFFIX(micro_q6_k)(int RM, int RN, int64_t n, const uint8_t *w, size_t ws, const uint8_t *a,
                   size_t as, float *out, size_t os)
{
    const int64_t nb = n / 256;
    __m512 acc[4][4];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const struct joule_block_q6_k *wb[4];
        const struct joule_block_q8_k *ab[4];
        __m512i scp[4];
        __m256i sc32[4];
        __m512 dv[4];
        __m512i isum[4][4];
        for (int i = 0; i < RM; i++) {
            wb[i] = (const struct joule_block_q6_k *)(const void *)(w + (size_t)i * ws) + b;
            prefetch_next((const uint8_t *)wb[i], (size_t)RM * ws, sizeof(*wb[i]));
            scp[i] = q6k_scale_pairs(wb[i]);
            sc32[i] = _mm256_slli_epi16(
                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)wb[i]->scales)),
                5);
            dv[i] = _mm512_set1_ps(_cvtsh_ss(wb[i]->d));
        }
        for (int j = 0; j < RN; j++)
            ab[j] = (const struct joule_block_q8_k *)(const void *)(a + (size_t)j * as) + b;
        for (int i = 0; i < RM; i++)
            for (int j = 0; j < RN; j++)
                isum[i][j] = _mm512_setzero_si512();
        /* Four quarters of 64 elements: (half h, pair g of 32-element groups). */
        for (int h = 0; h < 2; h++) {
            __m512i hz[4];
            for (int i = 0; i < RM; i++)
                hz[i] = q6k_high(wb[i], h);
            for (int g = 0; g < 2; g++) {
                const int qtr = 2 * h + g;
                /* int16 lanes 8k .. 8k + 7 take scale 4 qtr + k */
                const __m512i pick = _mm512_setr_epi32(
                    4 * qtr, 4 * qtr, 4 * qtr, 4 * qtr, 4 * qtr + 1, 4 * qtr + 1, 4 * qtr + 1,
                    4 * qtr + 1, 4 * qtr + 2, 4 * qtr + 2, 4 * qtr + 2, 4 * qtr + 2, 4 * qtr + 3,
                    4 * qtr + 3, 4 * qtr + 3, 4 * qtr + 3);
                __m512i wq[4], scv[4];
                for (int i = 0; i < RM; i++) {
                    wq[i] = q6k_quarter(wb[i], hz[i], h, g);
                    scv[i] = _mm512_permutexvar_epi32(pick, scp[i]);
                }
                KQ_STEP(64 * qtr)
            }
        }
        for (int j = 0; j < RN; j++) {
            const __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)ab[j]->bsums);
            const __m512 da = _mm512_set1_ps(ab[j]->d);
            for (int i = 0; i < RM; i++) {
                const __m512i s = _mm512_sub_epi32(
                    isum[i][j], _mm512_zextsi256_si512(_mm256_madd_epi16(bs, sc32[i])));
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dv[i], da),
                                            acc[i][j]);
            }
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

/* Batches: 4 x 4 micro-tiles where the accumulators fit the 32 registers;
 * the K-quants also keep integer sums per super-block: 3 x 4 for Q4_K
 * (15% faster than 2 x 4 and 4 x 4, which spills), 2 x 4 for Q6_K, whose
 * larger unpacking leaves fewer registers. */
QDEFINE(q4_0, SUFFIX(micro_q4_0), 4)
QDEFINE(q8_0, SUFFIX(micro_q8_0), 4)
QDEFINE(q4_k, SUFFIX(micro_q4_k), 3)
QDEFINE(q6_k, SUFFIX(micro_q6_k), 2)

#undef KQ_STEP
#undef QCASE
#undef QSWITCH
#undef QDEFINE
