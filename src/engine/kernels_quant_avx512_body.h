/*
 * kernels_quant_avx512_body.h - the quantized tiles, written once and
 * compiled twice by kernels_quant_avx512.c: with VNNI (vpdpbusd) and with
 * AVX-512 BW only (vpmaddubsw + vpmaddwd).  Before including, define
 *   SUFFIX(name)  the name of this instance's functions
 *   TARGET        its function attribute (the VNNI target, or nothing)
 *   DP(acc, u, s) acc + the int32 lanes of 4 u8 x s8 products each
 *   DPW(acc, x, y) acc + the int32 lanes of 2 s16 x s16 products each
 *   WITH_PACKED_Q8_0  1 to build the packed Q8_0 tile (its q + 128 times a
 *                 overflows the int16 pairs of vpmaddubsw: VNNI only)
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

/* --- packed tiles (pack.h): 16 rows x up to 4 (Q4_0, Q8_0: 8) columns ------
 *
 * Lane r of every vector is row r of the group.  A 64-byte line of quants
 * holds 4 bytes of each row; 4 activation bytes broadcast to all lanes
 * meet it in one DP, so 16 dot products advance together, and a block's
 * scales (one load, one lane per row) apply to all 16 at once.  Each
 * column's result is computed with the same operations whatever the
 * number of columns beside it. */

/* Q4_0 and Q8_0 (Q8_0 activations): per block d[16], then the 32
 * elements of the 16 rows as 8 vectors of unsigned levels, l[k] holding
 * elements 4k .. 4k + 3: Q4_0's 4 lines of nibbles unpacked (low nibbles
 * elements 4k.., high ones 16 + 4k..), Q8_0's 8 lines of q + 128 as they
 * are (WITH_PACKED_Q8_0).  ofs[j * PSLICE + b] is the zero point (8 or
 * 128) times sum(a) of column j's block b, da its scale; add: accumulate
 * into out (a later slice of the row). */
static inline TARGET __attribute__((always_inline)) void
SUFFIX(pmicro_q8)(int RN, int Q4, int64_t nb, const uint8_t *g, const uint8_t *a, size_t as,
                  const int32_t *ofs, const float *da, float *out, size_t os, int add)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const size_t gb = Q4 ? 16 * 18 : 16 * 34;
    __m512 acc[8];
    for (int j = 0; j < RN; j++)
        acc[j] = add ? _mm512_loadu_ps(out + (size_t)j * os) : _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++, g += gb) {
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)g));
        __m512i l[8];
        for (int k = 0; k < (Q4 ? 4 : 8); k++) {
            const __m512i z = _mm512_loadu_si512((const void *)(g + 32 + 64 * k));
            if (Q4) {
                l[k] = _mm512_and_si512(z, m4);
                l[k + 4] = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
            } else {
                l[k] = z;
            }
        }
        for (int j = 0; j < RN; j++) {
            const uint8_t *q = a + (size_t)j * as + (size_t)b * 34 + 2;
            /* two chains of 4 */
            __m512i s0 = DP(_mm512_setzero_si512(), l[0], bcast4(q));
            __m512i s1 = DP(_mm512_setzero_si512(), l[4], bcast4(q + 16));
            for (int k = 1; k < 4; k++) {
                s0 = DP(s0, l[k], bcast4(q + 4 * k));
                s1 = DP(s1, l[k + 4], bcast4(q + 16 + 4 * k));
            }
            const __m512i s = _mm512_sub_epi32(_mm512_add_epi32(s0, s1),
                                               _mm512_set1_epi32(ofs[j * PSLICE + b]));
            acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
                                     _mm512_mul_ps(dw, _mm512_set1_ps(da[j * PSLICE + b])), acc[j]);
        }
    }
    for (int j = 0; j < RN; j++)
        _mm512_storeu_ps(out + (size_t)j * os, acc[j]);
}

#define PMICRO_Q4_0(RN, ...) SUFFIX(pmicro_q8)(RN, 1, __VA_ARGS__)
#define PMICRO_Q8_0(RN, ...) SUFFIX(pmicro_q8)(RN, 0, __VA_ARGS__)

/* Q4_K: per super-block d[16], dmin[16], the 12 scale bytes transposed,
 * then 32 lines: line 8c + k holds sub-block 2c (low nibbles) and 2c + 1
 * (high) at elements 4k ...  Sub-block sums are scaled in float (d sc as
 * one vector per sub-block); the mins meet the Q8_K bsums pairs with one
 * DPW per sub-block. */
static inline TARGET __attribute__((always_inline)) void
SUFFIX(pmicro_q4_k)(int RN, int64_t nb, const uint8_t *g, const uint8_t *a, size_t as,
                    float *out, size_t os)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m128i m6 = _mm_set1_epi8(0x3F), lo4 = _mm_set1_epi8(0x0F), hi2 = _mm_set1_epi8(0x30);
    __m512 acc[4];
    for (int j = 0; j < RN; j++)
        acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++, g += 16 * 144) {
        const struct joule_block_q8_k *ab[4];
        for (int j = 0; j < RN; j++)
            ab[j] = (const struct joule_block_q8_k *)(const void *)(a + (size_t)j * as) + b;
        const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)g));
        const __m512 dmv =
            _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(g + 32)));
        __m128i S[12];
        for (int i = 0; i < 12; i++)
            S[i] = _mm_loadu_si128((const __m128i *)(const void *)(g + 64 + 16 * i));
        /* joule_quant_get_scale_min_k4, 16 rows at a time */
        __m128i sc8[8], mn8[8];
        for (int s = 0; s < 4; s++) {
            sc8[s] = _mm_and_si128(S[s], m6);
            mn8[s] = _mm_and_si128(S[s + 4], m6);
            sc8[s + 4] = _mm_or_si128(_mm_and_si128(S[s + 8], lo4),
                                      _mm_and_si128(_mm_srli_epi16(S[s], 2), hi2));
            mn8[s + 4] = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(S[s + 8], 4), lo4),
                                      _mm_and_si128(_mm_srli_epi16(S[s + 4], 2), hi2));
        }
        __m512i mi[4];
        for (int j = 0; j < RN; j++)
            mi[j] = _mm512_setzero_si512();
        for (int s = 0; s < 8; s++) {
            const __m512i m32 = _mm512_cvtepu8_epi32(mn8[s]);
            const __m512i mp = _mm512_or_si512(m32, _mm512_slli_epi32(m32, 16));
            for (int j = 0; j < RN; j++)
                mi[j] = DPW(mi[j], mp, bcast4(ab[j]->bsums + 2 * s));
        }
        __m512 t[4];
        for (int j = 0; j < RN; j++)
            t[j] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mi[j]), dmv, _mm512_setzero_ps());
        for (int c = 0; c < 4; c++) {
            const __m512 scl = _mm512_mul_ps(dv, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(sc8[2 * c])));
            const __m512 sch =
                _mm512_mul_ps(dv, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(sc8[2 * c + 1])));
            __m512i il[4], ih[4];
            for (int j = 0; j < RN; j++)
                il[j] = ih[j] = _mm512_setzero_si512();
            for (int k = 0; k < 8; k++) {
                const __m512i z = _mm512_loadu_si512((const void *)(g + 256 + 64 * (8 * c + k)));
                const __m512i lo = _mm512_and_si512(z, m4);
                const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
                for (int j = 0; j < RN; j++) {
                    il[j] = DP(il[j], lo, bcast4(ab[j]->qs + 64 * c + 4 * k));
                    ih[j] = DP(ih[j], hi, bcast4(ab[j]->qs + 64 * c + 32 + 4 * k));
                }
            }
            /* t started at -dmin mins */
            for (int j = 0; j < RN; j++) {
                t[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(il[j]), scl, t[j]);
                t[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ih[j]), sch, t[j]);
            }
        }
        for (int j = 0; j < RN; j++)
            acc[j] = _mm512_fmadd_ps(t[j], _mm512_set1_ps(ab[j]->d), acc[j]);
    }
    for (int j = 0; j < RN; j++)
        _mm512_storeu_ps(out + (size_t)j * os, acc[j]);
}

/* Level lv (0..3) of 4 elements from ql lines x (bytes 64h + l), y
 * (64h + 32 + l) and qh line h (32h + l): (nibble & 0x0F) | (high bits moved to 4-5 & 0x30). */
static inline TARGET __attribute__((always_inline)) __m512i
SUFFIX(q6k_level)(int lv, __m512i x, __m512i y, __m512i h)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    __m512i nib, hb;
    switch (lv) {
    case 0: nib = x; hb = _mm512_slli_epi16(h, 4); break;
    case 1: nib = y; hb = _mm512_slli_epi16(h, 2); break;
    case 2: nib = _mm512_srli_epi16(x, 4); hb = h; break;
    default: nib = _mm512_srli_epi16(y, 4); hb = _mm512_srli_epi16(h, 2); break;
    }
    /* m4 ? nib : (hb & 0x30), bit by bit */
    return _mm512_ternarylogic_epi32(nib, _mm512_and_si512(hb, m30), m4, 0xE4);
}

/* Q6_K: per super-block d[16], scales[16][16] (int8), then 4 segments of
 * 12 lines (pack.c).  Levels are 0..63 for x = d sc (q - 32): the 32 sc sum(a)
 * comes from the Q8_K bsums by one DPW per pair of scales. */
static inline TARGET __attribute__((always_inline)) void
SUFFIX(pmicro_q6_k)(int RN, int64_t nb, const uint8_t *g, const uint8_t *a, size_t as,
                    float *out, size_t os)
{
    __m512 acc[4];
    for (int j = 0; j < RN; j++)
        acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++, g += 16 * 210) {
        const struct joule_block_q8_k *ab[4];
        for (int j = 0; j < RN; j++)
            ab[j] = (const struct joule_block_q8_k *)(const void *)(a + (size_t)j * as) + b;
        const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)g));
        const uint8_t *S = g + 32;
        __m512i o[4];
        for (int j = 0; j < RN; j++)
            o[j] = _mm512_setzero_si512();
        for (int p = 0; p < 8; p++) {
            const __m512i s0 =
                _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(S + 32 * p)));
            const __m512i s1 = _mm512_cvtepi8_epi32(
                _mm_loadu_si128((const __m128i *)(const void *)(S + 32 * p + 16)));
            const __m512i sp = _mm512_or_si512(_mm512_and_si512(s0, _mm512_set1_epi32(0xFFFF)),
                                               _mm512_slli_epi32(s1, 16));
            for (int j = 0; j < RN; j++)
                o[j] = DPW(o[j], sp, bcast4(ab[j]->bsums + 2 * p));
        }
        __m512 t[4];
        const __m512 d32 = _mm512_mul_ps(dv, _mm512_set1_ps(32.0f));
        for (int j = 0; j < RN; j++)
            t[j] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(o[j]), d32, _mm512_setzero_ps());
        for (int h = 0; h < 2; h++)
            for (int kk = 0; kk < 2; kk++)
                for (int lv = 0; lv < 4; lv++) {
                    const int s = 8 * h + 2 * lv + kk;
                    const __m512 scf = _mm512_mul_ps(
                        dv, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                                _mm_loadu_si128((const __m128i *)(const void *)(S + 16 * s)))));
                    __m512i is[4];
                    for (int j = 0; j < RN; j++)
                        is[j] = _mm512_setzero_si512();
                    /* 12 lines: ql 16h + 4kk + k, ql 16h + 8 + 4kk + k, qh 8h + 4kk + k */
                    const uint8_t *seg = g + 288 + 768 * (2 * h + kk);
                    for (int k = 0; k < 4; k++) {
                        const __m512i x = _mm512_loadu_si512((const void *)(seg + 64 * k));
                        const __m512i y = _mm512_loadu_si512((const void *)(seg + 256 + 64 * k));
                        const __m512i hb = _mm512_loadu_si512((const void *)(seg + 512 + 64 * k));
                        const __m512i L = SUFFIX(q6k_level)(lv, x, y, hb);
                        for (int j = 0; j < RN; j++)
                            is[j] = DP(is[j], L,
                                       bcast4(ab[j]->qs + 128 * h + 32 * lv + 16 * kk + 4 * k));
                    }
                    /* t started at -32 d sum(sc bsums) */
                    for (int j = 0; j < RN; j++)
                        t[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[j]), scf, t[j]);
                }
        for (int j = 0; j < RN; j++)
            acc[j] = _mm512_fmadd_ps(t[j], _mm512_set1_ps(ab[j]->d), acc[j]);
    }
    for (int j = 0; j < RN; j++)
        _mm512_storeu_ps(out + (size_t)j * os, acc[j]);
}

#define PCASE1(F, C, ...)                                                                        \
    case C:                                                                                      \
        F(C, __VA_ARGS__);                                                                       \
        break
#define PSWITCH(F, ...)                                                                          \
    switch (rn) {                                                                                \
        PCASE1(F, 1, __VA_ARGS__); PCASE1(F, 2, __VA_ARGS__); PCASE1(F, 3, __VA_ARGS__);         \
    default: F(4, __VA_ARGS__); break;                                                           \
    }

/* Q4_0 and Q8_0 take up to 8 columns at a time: their lines leave room
 * for 8 accumulators. */
#define PSWITCH8(F, ...)                                                                         \
    switch (rn) {                                                                                \
        PCASE1(F, 1, __VA_ARGS__); PCASE1(F, 2, __VA_ARGS__); PCASE1(F, 3, __VA_ARGS__);         \
        PCASE1(F, 4, __VA_ARGS__); PCASE1(F, 5, __VA_ARGS__); PCASE1(F, 6, __VA_ARGS__);         \
        PCASE1(F, 7, __VA_ARGS__);                                                               \
    default: F(8, __VA_ARGS__); break;                                                           \
    }

/* The Q8_0-activation tiles: per slice of PSLICE blocks, each column's
 * offsets (OFS sum(a): the weights' zero point) and scales first, then
 * every group of rows. */
#define PTILE_Q8(name, micro, BLOCK, OFS)                                                        \
    static TARGET void SUFFIX(name)(int64_t n, const void *w, size_t ws, int32_t nr,             \
                                    const void *a, size_t as, int32_t nc, float *out,            \
                                    size_t os)                                                   \
    {                                                                                            \
        const int64_t nb = n / 32;                                                               \
        int32_t ofs[8 * PSLICE];                                                                 \
        float da[8 * PSLICE];                                                                    \
        for (int32_t j0 = 0; j0 < nc; j0 += 8) {                                                 \
            const int rn = nc - j0 < 8 ? nc - j0 : 8;                                            \
            const uint8_t *aj = (const uint8_t *)a + (size_t)j0 * as;                            \
            for (int64_t b0 = 0; b0 < nb; b0 += PSLICE) {                                        \
                const int64_t nbs = nb - b0 < PSLICE ? nb - b0 : PSLICE;                         \
                for (int j = 0; j < rn; j++)                                                     \
                    q8_0_sums(aj + (size_t)j * as + (size_t)b0 * 34, nbs, OFS,                   \
                              ofs + j * PSLICE, da + j * PSLICE);                                \
                for (int32_t gi = 0; gi < nr / 16; gi++) {                                       \
                    const uint8_t *g =                                                           \
                        (const uint8_t *)w + (size_t)gi * ws + (size_t)b0 * 16 * (BLOCK);        \
                    float *o = out + (size_t)j0 * os + (size_t)gi * 16;                          \
                    PSWITCH8(micro, nbs, g, aj + (size_t)b0 * 34, as, ofs, da, o, os, b0 > 0)    \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    }
PTILE_Q8(ptile_q4_0, PMICRO_Q4_0, 18, 8)
#if WITH_PACKED_Q8_0
PTILE_Q8(ptile_q8_0, PMICRO_Q8_0, 34, 128)
#endif
#undef PTILE_Q8
#undef PMICRO_Q4_0
#undef PMICRO_Q8_0

#define PTILE_K(name, micro)                                                                     \
    static TARGET void SUFFIX(name)(int64_t n, const void *w, size_t ws, int32_t nr,             \
                                    const void *a, size_t as, int32_t nc, float *out,            \
                                    size_t os)                                                   \
    {                                                                                            \
        for (int32_t j0 = 0; j0 < nc; j0 += 4) {                                                 \
            const int rn = nc - j0 < 4 ? nc - j0 : 4;                                            \
            const uint8_t *aj = (const uint8_t *)a + (size_t)j0 * as;                            \
            for (int32_t gi = 0; gi < nr / 16; gi++) {                                           \
                const uint8_t *g = (const uint8_t *)w + (size_t)gi * ws;                         \
                float *o = out + (size_t)j0 * os + (size_t)gi * 16;                              \
                PSWITCH(micro, n / 256, g, aj, as, o, os)                                        \
            }                                                                                    \
        }                                                                                        \
    }
PTILE_K(ptile_q4_k, SUFFIX(pmicro_q4_k))
PTILE_K(ptile_q6_k, SUFFIX(pmicro_q6_k))
#undef PTILE_K
#undef PSWITCH
#undef PSWITCH8
#undef PCASE1

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
