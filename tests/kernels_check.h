/*
 * kernels_check.h - comparing a kernel table with the scalar twins (for
 * test_kernels_float.c and test_kernels_quant.c).
 *
 * A tile entry must give every (row, column) dot within 1e-5 of
 * sum |w_k a_k| of the scalar twin's value, write nothing outside the tile,
 * and give the same value for a (row, column) whatever the tile around it.
 */
#ifndef JOULE_TEST_KERNELS_CHECK_H
#define JOULE_TEST_KERNELS_CHECK_H

#include "kernels.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t kc_state = 88172645463325252ull;

static float kc_rand(void) /* uniform in [-1, 1) */
{
    kc_state ^= kc_state << 13;
    kc_state ^= kc_state >> 7;
    kc_state ^= kc_state << 17;
    return (float)((kc_state >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

static size_t kc_row_bytes(uint32_t type, int64_t n)
{
    size_t b = 0;
    joule_quant_row_size(type, n, &b);
    return b;
}

static size_t kc_act_bytes(uint32_t wtype, int64_t n)
{
    size_t b = 0;
    joule_kernels_act_row_size(wtype, n, &b);
    return b;
}

/* The type to dequantize an activation row with (F16 / BF16 weights meet
 * rounded activations held as F32). */
static uint32_t kc_act_storage(uint32_t wtype)
{
    if (wtype == JOULE_QUANT_F16 || wtype == JOULE_QUANT_BF16)
        return JOULE_QUANT_F32;
    return joule_kernels_act_type(wtype);
}

/* Dequantized row of any weight or activation type. */
static void kc_dequant(uint32_t type, const void *row, float *out, int64_t n)
{
    if (type == JOULE_QUANT_F16)
        joule_dequantize_row_f16_ref(row, out, n);
    else if (type == JOULE_QUANT_BF16)
        joule_dequantize_row_bf16_ref(row, out, n);
    else if (type == JOULE_QUANT_F32)
        memcpy(out, row, (size_t)n * sizeof(float));
    else
        joule_quant_dequantize_row_ref(type, row, out, n);
}

/*
 * Checks k->tile[wtype] against ref->tile[wtype] on nr x nc random rows of n
 * elements, with padded strides and a sentinel around the output.  Returns
 * the worst error relative to sum |w a| (also counted by CHECK).  packed:
 * k->ptile on the same rows packed (pack.h; nr a multiple of 16), checking
 * too that the groups unpack to the very bytes.
 */
static double kc_check_tile_as(const struct joule_kernels *ref, const struct joule_kernels *k,
                               uint32_t wtype, int64_t n, int32_t nr, int32_t nc, float scale,
                               bool packed)
{
    const uint32_t at = joule_kernels_act_type(wtype);
    const size_t wrow = kc_row_bytes(wtype, n), arow = kc_act_bytes(wtype, n);
    /* Padded strides: rows no longer contiguous, but each as aligned as its
     * blocks require (2 bytes for F16 and the Q-blocks, 4 for F32 and Q8_K),
     * as GGUF rows and the engine's activation rows are.  Packed rows are
     * contiguous, as in a tensor. */
    const size_t ws = packed ? wrow : wrow + 8, as = arow + 68;
    const size_t gs = JOULE_PACK_ROWS * ws; /* a packed group */
    uint8_t *wp = NULL;
    const size_t os = (size_t)nr + 3;
    uint8_t *w = calloc((size_t)nr, ws), *a = calloc((size_t)nc, as);
    float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
    float *o1 = malloc((size_t)nc * os * sizeof(float)), *o2 = malloc((size_t)nc * os * sizeof(float));
    float *one = malloc(sizeof(float) * JOULE_PACK_ROWS);
    double worst = 0.0;
    if (!w || !a || !x || !y || !o1 || !o2 || !one) {
        CHECK(0);
        goto out;
    }
    for (int32_t i = 0; i < nr; i++) {
        for (int64_t e = 0; e < n; e++)
            x[e] = kc_rand() * scale;
        if (wtype == JOULE_QUANT_F16)
            joule_quantize_row_f16_ref(x, (uint16_t *)(void *)(w + (size_t)i * ws), n);
        else if (wtype == JOULE_QUANT_BF16)
            joule_quantize_row_bf16_ref(x, (uint16_t *)(void *)(w + (size_t)i * ws), n);
        else if (wtype == JOULE_QUANT_F32)
            memcpy(w + (size_t)i * ws, x, (size_t)n * sizeof(float));
        else
            joule_quant_quantize_row_ref(wtype, x, w + (size_t)i * ws, n);
    }
    for (int32_t j = 0; j < nc; j++) {
        for (int64_t e = 0; e < n; e++)
            x[e] = kc_rand() * 3.0f;
        ref->act[at](x, a + (size_t)j * as, n);
    }
    if (packed) {
        /* the packed copy, which must unpack to the very bytes */
        CHECK(nr % JOULE_PACK_ROWS == 0);
        wp = malloc((size_t)nr * ws);
        uint8_t *back = malloc(gs);
        if (!wp || !back) {
            CHECK(0);
            free(back);
            goto out;
        }
        int same = 1;
        for (int32_t g = 0; g < nr / JOULE_PACK_ROWS; g++) {
            joule_pack_group(wtype, n, w + g * gs, ws, wp + g * gs);
            joule_unpack_group(wtype, n, wp + g * gs, back, ws);
            same &= memcmp(back, w + g * gs, gs) == 0 && memcmp(back, wp + g * gs, gs) != 0;
        }
        free(back);
        CHECK(same);
    }
    for (size_t i = 0; i < (size_t)nc * os; i++)
        o1[i] = o2[i] = -12345.0f;
    ref->tile[wtype](n, w, ws, nr, a, as, nc, o1, os);
    if (packed)
        k->ptile[wtype](n, wp, gs, nr, a, as, nc, o2, os);
    else
        k->tile[wtype](n, w, ws, nr, a, as, nc, o2, os);
    int outside_ok = 1, same_alone = 1;
    for (int32_t j = 0; j < nc; j++) {
        kc_dequant(kc_act_storage(wtype), a + (size_t)j * as, y, n);
        for (size_t i = 0; i < os; i++) {
            const float v1 = o1[(size_t)j * os + i], v2 = o2[(size_t)j * os + i];
            if (i >= (size_t)nr) {
                outside_ok &= v2 == -12345.0f;
                continue;
            }
            kc_dequant(wtype, w + i * ws, x, n);
            double absdot = 0.0;
            for (int64_t e = 0; e < n; e++)
                absdot += fabs((double)x[e] * y[e]);
            const double err = fabs((double)v1 - v2) / (absdot + 1e-30);
            worst = err > worst ? err : worst;
            /* The same dot computed as a 1 x 1 tile: bit for bit. */
            if ((i == 0 || i + 1 == (size_t)nr) && (j == 0 || j + 1 == nc)) {
                if (packed) { /* its group of 16 rows alone: lane i % 16 */
                    const size_t g = i / JOULE_PACK_ROWS;
                    k->ptile[wtype](n, wp + g * gs, gs, JOULE_PACK_ROWS, a + (size_t)j * as, as,
                                    1, one, JOULE_PACK_ROWS);
                    same_alone &= one[i % JOULE_PACK_ROWS] == v2;
                } else {
                    k->tile[wtype](n, w + i * ws, ws, 1, a + (size_t)j * as, as, 1, one, 1);
                    same_alone &= one[0] == v2;
                }
            }
        }
    }
    CHECK(outside_ok);
    CHECK(same_alone);
    CHECK(worst <= 1e-5);
    if (worst > 1e-5 || !outside_ok || !same_alone)
        fprintf(stderr, "  %s %s%s n=%lld nr=%d nc=%d: rel err %.3g%s%s\n",
                joule_isa_name(k->isa), packed ? "packed " : "", joule_quant_name(wtype),
                (long long)n, nr, nc, worst,
                outside_ok ? "" : ", wrote outside the tile",
                same_alone ? "" : ", differs from the same dot alone");
out:
    free(w);
    free(wp);
    free(a);
    free(x);
    free(y);
    free(o1);
    free(o2);
    free(one);
    return worst;
}

static double kc_check_tile(const struct joule_kernels *ref, const struct joule_kernels *k,
                            uint32_t wtype, int64_t n, int32_t nr, int32_t nc, float scale)
{
    return kc_check_tile_as(ref, k, wtype, n, nr, nc, scale, false);
}

/* The activation converter for weights of type wtype: bit-identical to
 * the twin on rows of several scales, zeros and exact halves. */
static void kc_check_act(const struct joule_kernels *ref, const struct joule_kernels *k,
                         uint32_t wtype, int64_t n)
{
    const uint32_t at = joule_kernels_act_type(wtype);
    const size_t bytes = kc_act_bytes(wtype, n);
    float *x = malloc((size_t)n * sizeof(float));
    uint8_t *b1 = malloc(bytes), *b2 = malloc(bytes);
    if (!x || !b1 || !b2) {
        CHECK(0);
        free(x);
        free(b1);
        free(b2);
        return;
    }
    static const float scales[] = {1.0f, 1e-3f, 1e4f, 0.0f, 127.0f};
    int same = 1;
    for (size_t s = 0; s < sizeof(scales) / sizeof(scales[0]); s++) {
        for (int64_t e = 0; e < n; e++)
            x[e] = kc_rand() * scales[s];
        if (s == 4) /* values that scale to exact halves */
            for (int64_t e = 0; e < n; e++)
                x[e] = (float)((int)(x[e] * 2.0f)) * 0.5f;
        memset(b1, 0xAB, bytes);
        memset(b2, 0xAB, bytes);
        ref->act[at](x, b1, n);
        k->act[at](x, b2, n);
        same &= memcmp(b1, b2, bytes) == 0;
    }
    CHECK(same);
    if (!same)
        fprintf(stderr, "  %s act %s n=%lld differs from the twin\n", joule_isa_name(k->isa),
                joule_quant_name(at), (long long)n);
    free(x);
    free(b1);
    free(b2);
}

#endif /* JOULE_TEST_KERNELS_CHECK_H */
