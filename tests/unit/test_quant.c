/*
 * test_quant.c - block layouts, fp16/bf16, reference kernels.
 *
 *  - conversions: known values, ties, subnormals, inf/NaN, exhaustive round trips;
 *  - hand-built blocks with known values for every type;
 *  - quantize -> dequantize RMSE on seeded N(0,1) rows against the bounds
 *    below (also in docs/internals/quant.md);
 *  - dot_ref against dequantize-then-dot;
 *  - with $JOULE_SHARED_TESTDATA: our Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/F16/BF16
 *    quantizers reproduce llama-quantize's bytes from llama-tiny-f32.gguf.
 */
#include "model.h"
#include "test.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * RMSE bounds for N(0,1) data (4096-element rows, 64 rows, seed 42).  Each
 * bound is the measured value rounded up by ~10 %, so a change that makes a
 * quantizer worse fails here.  Measured (x86-64, gcc 12): see
 * docs/internals/quant.md.
 */
struct rmse_case {
    enum joule_quant_type type;
    double bound;
};

static const struct rmse_case rmse_cases[] = {
    {JOULE_QUANT_F32, 0.0},
    {JOULE_QUANT_F16, 0.00023},
    {JOULE_QUANT_BF16, 0.0019},
    {JOULE_QUANT_Q8_0, 0.0059},
    {JOULE_QUANT_Q8_1, 0.0059},
    {JOULE_QUANT_Q8_K, 0.0077},
    {JOULE_QUANT_Q6_K, 0.021},
    {JOULE_QUANT_Q5_0, 0.047},
    {JOULE_QUANT_Q5_1, 0.042},
    {JOULE_QUANT_Q5_K, 0.041},
    {JOULE_QUANT_Q4_0, 0.095},
    {JOULE_QUANT_Q4_1, 0.087},
    {JOULE_QUANT_Q4_K, 0.081},
};

/* splitmix64 + Box-Muller: the same numbers on every machine. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static double rng_uniform(void)
{
    return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
}

static float rng_normal(void)
{
    double u1 = rng_uniform(), u2 = rng_uniform();
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void fill_normal(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = rng_normal();
}

static size_t row_size(enum joule_quant_type t, int64_t n)
{
    size_t s = 0;
    CHECK(joule_quant_row_size(t, n, &s));
    return s;
}

/* ------------------------------------------------------------------------- */

static void test_fp16_known(void)
{
    CHECK(joule_fp16_from_f32(0.0f) == 0x0000);
    CHECK(joule_fp16_from_f32(-0.0f) == 0x8000);
    CHECK(joule_fp16_from_f32(1.0f) == 0x3c00);
    CHECK(joule_fp16_from_f32(-2.0f) == 0xc000);
    CHECK(joule_fp16_from_f32(0.5f) == 0x3800);
    CHECK(joule_fp16_from_f32(65504.0f) == 0x7bff);
    CHECK(joule_fp16_from_f32(65519.0f) == 0x7bff);  /* below the midpoint */
    CHECK(joule_fp16_from_f32(65520.0f) == 0x7c00);  /* the tie rounds to even: inf */
    CHECK(joule_fp16_from_f32(1e10f) == 0x7c00);
    CHECK(joule_fp16_from_f32(-1e10f) == 0xfc00);
    CHECK(joule_fp16_from_f32(INFINITY) == 0x7c00);
    CHECK(joule_fp16_from_f32(-INFINITY) == 0xfc00);
    uint16_t hn = joule_fp16_from_f32(NAN);
    CHECK((hn & 0x7c00) == 0x7c00 && (hn & 0x03ff) != 0);
    CHECK(isnan(joule_fp16_to_f32(hn)));
    /* ties to even in the normal range: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 */
    CHECK(joule_fp16_from_f32(1.0f + ldexpf(1.0f, -11)) == 0x3c00);
    CHECK(joule_fp16_from_f32(1.0f + 3 * ldexpf(1.0f, -11)) == 0x3c02);
    /* subnormals: 2^-24 is the smallest, 2^-25 ties to 0, a bit more rounds up */
    CHECK(joule_fp16_from_f32(ldexpf(1.0f, -24)) == 0x0001);
    CHECK(joule_fp16_from_f32(ldexpf(1.0f, -25)) == 0x0000);
    CHECK(joule_fp16_from_f32(ldexpf(1.5f, -25)) == 0x0001);
    CHECK(joule_fp16_from_f32(ldexpf(3.0f, -25)) == 0x0002); /* 1.5 ulp ties to even 2 */
    CHECK(joule_fp16_from_f32(ldexpf(1.0f, -14)) == 0x0400); /* smallest normal */
    CHECK(joule_fp16_from_f32(ldexpf(1023.5f, -24)) == 0x0400); /* carries into normal */
    CHECK(joule_fp16_to_f32(0x0001) == ldexpf(1.0f, -24));
    CHECK(joule_fp16_to_f32(0x03ff) == ldexpf(1023.0f, -24));
    CHECK(joule_fp16_to_f32(0x7bff) == 65504.0f);
    CHECK(isinf(joule_fp16_to_f32(0x7c00)));

    /* every half survives a round trip through f32 */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = joule_fp16_to_f32((uint16_t)h);
        uint16_t back = joule_fp16_from_f32(f);
        if (isnan(f) ? !((back & 0x7c00) == 0x7c00 && (back & 0x3ff)) : back != h)
            bad++;
    }
    CHECK(bad == 0);

    /* random floats round to a nearest neighbour */
    rng_state = 7;
    bad = 0;
    for (int i = 0; i < 200000; i++) {
        float f = (float)((rng_uniform() * 2 - 1) * ldexp(1.0, (int)(rng_next() % 40) - 26));
        uint16_t h = joule_fp16_from_f32(f);
        double v = joule_fp16_to_f32(h), e = fabs(v - f);
        uint16_t up = (uint16_t)(h + 1), dn = (uint16_t)(h - 1);
        if ((h & 0x7fff) != 0x7c00 && (up & 0x7c00) != 0x7c00 &&
            fabs((double)joule_fp16_to_f32(up) - f) < e)
            bad++;
        if ((h & 0x7fff) != 0 && fabs((double)joule_fp16_to_f32(dn) - f) < e)
            bad++;
    }
    CHECK(bad == 0);
}

static void test_bf16_known(void)
{
    CHECK(joule_bf16_from_f32(1.0f) == 0x3f80);
    CHECK(joule_bf16_from_f32(-1.0f) == 0xbf80);
    CHECK(joule_bf16_from_f32(1.0f + ldexpf(1.0f, -8)) == 0x3f80);     /* tie to even */
    CHECK(joule_bf16_from_f32(1.0f + 3 * ldexpf(1.0f, -8)) == 0x3f82); /* tie to even, up */
    CHECK(joule_bf16_from_f32(INFINITY) == 0x7f80);
    CHECK(joule_bf16_from_f32(FLT_MAX) == 0x7f80); /* rounds past the largest bf16 */
    uint16_t n = joule_bf16_from_f32(-NAN);
    CHECK((n & 0x7f80) == 0x7f80 && (n & 0x7f) != 0 && (n & 0x8000));
    CHECK(joule_bf16_from_f32(ldexpf(1.0f, -133)) == 0x0001); /* f32 subnormal, exact */
    CHECK(joule_bf16_from_f32(ldexpf(1.0f, -140)) == 0x0000); /* rounds to zero */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = joule_bf16_to_f32((uint16_t)h);
        uint16_t back = joule_bf16_from_f32(f);
        if (isnan(f) ? !isnan(joule_bf16_to_f32(back)) : back != h)
            bad++;
    }
    CHECK(bad == 0);
}

static void test_traits(void)
{
    CHECK_STR(joule_quant_name(JOULE_QUANT_Q4_K), "Q4_K");
    CHECK_STR(joule_quant_name(JOULE_QUANT_BF16), "BF16");
    CHECK_STR(joule_quant_name(4), "unknown");
    CHECK_STR(joule_quant_name(99), "unknown");
    CHECK(joule_quant_traits(5) == NULL);
    CHECK(joule_quant_traits(JOULE_QUANT_ID_LIMIT) == NULL);
    enum joule_quant_type t;
    CHECK(joule_quant_from_name("q6_k", &t) == JOULE_OK && t == JOULE_QUANT_Q6_K);
    CHECK(joule_quant_from_name("Q4_0", &t) == JOULE_OK && t == JOULE_QUANT_Q4_0);
    CHECK(joule_quant_from_name("Q4", &t) == JOULE_ERR_NOT_FOUND);
    CHECK(joule_quant_bits_per_weight(JOULE_QUANT_Q4_0) == 4.5);
    CHECK(joule_quant_bits_per_weight(JOULE_QUANT_Q4_K) == 4.5);
    CHECK(joule_quant_bits_per_weight(JOULE_QUANT_Q5_K) == 5.5);
    CHECK(joule_quant_bits_per_weight(JOULE_QUANT_Q6_K) == 6.5625);
    CHECK(joule_quant_bits_per_weight(JOULE_QUANT_Q8_0) == 8.5);
    CHECK(joule_quant_bits_per_weight(JOULE_QUANT_F16) == 16.0);
    const uint32_t bs[][3] = {{0, 1, 4},    {1, 1, 2},     {2, 32, 18},   {3, 32, 20},
                              {6, 32, 22},  {7, 32, 24},   {8, 32, 34},   {9, 32, 36},
                              {10, 256, 84}, {11, 256, 110}, {12, 256, 144}, {13, 256, 176},
                              {14, 256, 210}, {15, 256, 292}, {30, 1, 2}};
    for (size_t i = 0; i < sizeof(bs) / sizeof(bs[0]); i++) {
        const struct joule_quant_traits *tr = joule_quant_traits(bs[i][0]);
        CHECK(tr && tr->block_size == bs[i][1] && tr->type_size == bs[i][2]);
    }
    size_t s = 0;
    CHECK(joule_quant_row_size(JOULE_QUANT_Q4_0, 64, &s) && s == 36);
    CHECK(!joule_quant_row_size(JOULE_QUANT_Q4_0, 33, &s));
    CHECK(!joule_quant_row_size(JOULE_QUANT_Q4_0, -32, &s));
    CHECK(!joule_quant_row_size(JOULE_QUANT_F32, INT64_MAX, &s)); /* 4 * 2^63 overflows */
    CHECK(!joule_quant_row_size(4, 32, &s));
    CHECK(joule_quant_row_size(JOULE_QUANT_Q6_K, 0, &s) && s == 0);
    float f[32] = {0};
    uint8_t b[64];
    CHECK(joule_quant_quantize_row_ref(JOULE_QUANT_Q2_K, f, b, 256) == JOULE_ERR_UNSUPPORTED);
    CHECK(joule_quant_dequantize_row_ref(JOULE_QUANT_Q4_0, b, f, 31) == JOULE_ERR_INVALID);
    CHECK(joule_quant_dequantize_row_ref(77, b, f, 32) == JOULE_ERR_UNSUPPORTED);
}

static void test_hand_blocks(void)
{
    float y[256];

    /* Q8_0, d = 0.5, qs = 1..32: exactly 0.5, 1.0, ... 16.0 */
    struct joule_block_q8_0 b8;
    b8.d = joule_fp16_from_f32(0.5f);
    for (int j = 0; j < 32; j++)
        b8.qs[j] = (int8_t)(j + 1);
    joule_dequantize_row_q8_0_ref(&b8, y, 32);
    int bad = 0;
    for (int j = 0; j < 32; j++)
        bad += y[j] != 0.5f * (float)(j + 1);
    CHECK(bad == 0);

    /* Q4_0, d = 2: element j is (j % 16) - 8 (low nibbles), 16 + j is (15 - j) - 8 */
    struct joule_block_q4_0 b4;
    b4.d = joule_fp16_from_f32(2.0f);
    for (int j = 0; j < 16; j++)
        b4.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    joule_dequantize_row_q4_0_ref(&b4, y, 32);
    bad = 0;
    for (int j = 0; j < 16; j++)
        bad += y[j] != 2.0f * (float)(j - 8) || y[j + 16] != 2.0f * (float)(7 - j);
    CHECK(bad == 0);

    /* Q4_1, d = 0.25, m = -1: q * 0.25 - 1 */
    struct joule_block_q4_1 b41;
    b41.d = joule_fp16_from_f32(0.25f);
    b41.m = joule_fp16_from_f32(-1.0f);
    for (int j = 0; j < 16; j++)
        b41.qs[j] = (uint8_t)(j | (j << 4));
    joule_dequantize_row_q4_1_ref(&b41, y, 32);
    bad = 0;
    for (int j = 0; j < 16; j++)
        bad += y[j] != 0.25f * (float)j - 1.0f || y[j + 16] != 0.25f * (float)j - 1.0f;
    CHECK(bad == 0);

    /* Q5_0, d = 1: the 5th bit comes from qh bit j: qh = 0xffff0000 sets it for 16..31 */
    struct joule_block_q5_0 b5;
    b5.d = joule_fp16_from_f32(1.0f);
    b5.qh[0] = 0x00;
    b5.qh[1] = 0x00;
    b5.qh[2] = 0xff;
    b5.qh[3] = 0xff;
    for (int j = 0; j < 16; j++)
        b5.qs[j] = (uint8_t)(j | (j << 4));
    joule_dequantize_row_q5_0_ref(&b5, y, 32);
    bad = 0;
    for (int j = 0; j < 16; j++)
        bad += y[j] != (float)(j - 16) || y[j + 16] != (float)(j + 16 - 16);
    CHECK(bad == 0);

    /* Q5_1, d = 0.5, m = 3, qh bit 0 only */
    struct joule_block_q5_1 b51;
    b51.d = joule_fp16_from_f32(0.5f);
    b51.m = joule_fp16_from_f32(3.0f);
    memset(b51.qh, 0, 4);
    b51.qh[0] = 1;
    memset(b51.qs, 0x21, 16); /* low 1, high 2 */
    joule_dequantize_row_q5_1_ref(&b51, y, 32);
    CHECK(y[0] == 0.5f * 17 + 3.0f);
    CHECK(y[1] == 0.5f * 1 + 3.0f);
    CHECK(y[16] == 0.5f * 2 + 3.0f);

    /* Q4_K: d = 1, dmin = 0.5; sub-block j has scale j + 1 and min j; all q = 3 */
    struct joule_block_q4_k bk;
    memset(&bk, 0, sizeof(bk));
    bk.d = joule_fp16_from_f32(1.0f);
    bk.dmin = joule_fp16_from_f32(0.5f);
    for (int j = 0; j < 4; j++) {
        bk.scales[j] = (uint8_t)(j + 1);  /* scale j + 1 (< 16, no high bits) */
        bk.scales[j + 4] = (uint8_t)j;    /* min j */
    }
    for (int j = 4; j < 8; j++)
        bk.scales[j + 4] = (uint8_t)((j + 1) | (j << 4)); /* low nibbles of scale and min */
    memset(bk.qs, 0x33, sizeof(bk.qs));
    joule_dequantize_row_q4_k_ref(&bk, y, 256);
    bad = 0;
    for (int e = 0; e < 256; e++) {
        int j = e / 32;
        bad += y[e] != (float)(j + 1) * 3.0f - 0.5f * (float)j;
    }
    CHECK(bad == 0);
    /* the 6-bit high parts: scale 0x2a for sub-block 5 (low 0xa in scales[9], high 2 in scales[1]) */
    uint8_t sc, mn, q12[12] = {0};
    q12[9] = 0x0a | (0x05 << 4);
    q12[1] = (uint8_t)(2 << 6);
    q12[5] = (uint8_t)(3 << 6);
    joule_quant_get_scale_min_k4(5, q12, &sc, &mn);
    CHECK(sc == 0x2a && mn == 0x35);

    /* Q6_K: d = 0.5, scales g + 1, all levels 40 (q - 32 = 8): 0.5 * (g + 1) * 8 */
    struct joule_block_q6_k b6;
    b6.d = joule_fp16_from_f32(0.5f);
    for (int g = 0; g < 16; g++)
        b6.scales[g] = (int8_t)(g + 1);
    /* 40 = 0b10_1000: low nibble 8 everywhere, high bits 2 in every 2-bit field */
    memset(b6.ql, 0x88, sizeof(b6.ql));
    memset(b6.qh, 0xaa, sizeof(b6.qh));
    joule_dequantize_row_q6_k_ref(&b6, y, 256);
    bad = 0;
    for (int e = 0; e < 256; e++)
        bad += y[e] != 0.5f * (float)(e / 16 + 1) * 8.0f;
    CHECK(bad == 0);

    /* Q8_K: d = 0.25, qs = e - 128 */
    struct joule_block_q8_k bq;
    bq.d = 0.25f;
    for (int e = 0; e < 256; e++)
        bq.qs[e] = (int8_t)(e - 128);
    joule_dequantize_row_q8_k_ref(&bq, y, 256);
    bad = 0;
    for (int e = 0; e < 256; e++)
        bad += y[e] != 0.25f * (float)(e - 128);
    CHECK(bad == 0);

    /* quantizing values on the grid is exact for Q8_0: 0..31 scaled by 127/31 */
    float x[32];
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16) / 16.0f * 127.0f / 8.0f;
    joule_quantize_row_q8_0_ref(x, &b8, 32);
    CHECK(b8.qs[0] == -127 && b8.qs[16] == 0);
}

static double rmse_of(enum joule_quant_type type, int64_t n, int rows)
{
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    void *q = malloc(row_size(type, n) + 1);
    double se = 0.0;
    rng_state = 42;
    for (int r = 0; r < rows; r++) {
        fill_normal(x, n);
        CHECK(joule_quant_quantize_row_ref(type, x, q, n) == JOULE_OK);
        CHECK(joule_quant_dequantize_row_ref(type, q, y, n) == JOULE_OK);
        for (int64_t i = 0; i < n; i++)
            se += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    }
    free(x);
    free(y);
    free(q);
    return sqrt(se / ((double)n * rows));
}

static void test_rmse(void)
{
    for (size_t i = 0; i < sizeof(rmse_cases) / sizeof(rmse_cases[0]); i++) {
        const struct rmse_case *c = &rmse_cases[i];
        double e = rmse_of(c->type, 4096, 64);
        printf("rmse %-5s %.6f (bound %.6f, %.4g bits/weight)\n", joule_quant_name(c->type), e,
               c->bound, joule_quant_bits_per_weight(c->type));
        CHECK(e <= c->bound);
    }
}

/* dot_ref(w, a) against sum(dequant(w) * dequant(a)) in double */
static void test_dot(void)
{
    static const enum joule_quant_type types[] = {
        JOULE_QUANT_F32,  JOULE_QUANT_F16,  JOULE_QUANT_BF16, JOULE_QUANT_Q4_0, JOULE_QUANT_Q4_1,
        JOULE_QUANT_Q5_0, JOULE_QUANT_Q5_1, JOULE_QUANT_Q8_0, JOULE_QUANT_Q4_K, JOULE_QUANT_Q5_K,
        JOULE_QUANT_Q6_K, JOULE_QUANT_Q8_K,
    };
    const int64_t n = 1024;
    float *x = malloc(sizeof(float) * n), *a = malloc(sizeof(float) * n);
    float *wd = malloc(sizeof(float) * n), *ad = malloc(sizeof(float) * n);
    uint8_t *wq = malloc(8 * n), *aq = malloc(8 * n);
    rng_state = 1234;
    for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ti++) {
        enum joule_quant_type t = types[ti];
        enum joule_quant_type at = joule_quant_traits(t)->vec_dot_type;
        double worst = 0.0;
        for (int rep = 0; rep < 8; rep++) {
            fill_normal(x, n);
            fill_normal(a, n);
            if (rep == 1) /* an offset row exercises the min terms */
                for (int64_t i = 0; i < n; i++)
                    x[i] += 3.0f;
            CHECK(joule_quant_quantize_row_ref(t, x, wq, n) == JOULE_OK);
            CHECK(joule_quant_quantize_row_ref(at, a, aq, n) == JOULE_OK);
            CHECK(joule_quant_dequantize_row_ref(t, wq, wd, n) == JOULE_OK);
            CHECK(joule_quant_dequantize_row_ref(at, aq, ad, n) == JOULE_OK);
            double ref = 0.0, mag = 0.0;
            for (int64_t i = 0; i < n; i++) {
                ref += (double)wd[i] * ad[i];
                mag += fabs((double)wd[i] * ad[i]);
            }
            float got = NAN;
            CHECK(joule_quant_vec_dot_ref(t, n, wq, aq, &got) == JOULE_OK);
            double rel = fabs(got - ref) / (mag + 1e-30);
            if (rel > worst)
                worst = rel;
        }
        /* Q4_1/Q5_1 use the activation sum s stored as fp16: 2^-11 relative */
        double tol = (t == JOULE_QUANT_Q4_1 || t == JOULE_QUANT_Q5_1) ? 2e-3 : 2e-6;
        if (worst > tol)
            fprintf(stderr, "dot %s: relative error %.3g > %.3g\n", joule_quant_name(t), worst,
                    tol);
        CHECK(worst <= tol);
    }
    float out;
    CHECK(joule_quant_vec_dot_ref(JOULE_QUANT_Q8_1, 32, wq, aq, &out) == JOULE_ERR_UNSUPPORTED);
    free(x);
    free(a);
    free(wd);
    free(ad);
    free(wq);
    free(aq);
}

/* Our legacy quantizers against llama-quantize's output (same f32 source). */
static void test_reference_pack(void)
{
    const char *root = getenv("JOULE_SHARED_TESTDATA");
    char path[1024];
    if (!root || !*root) {
        printf("skipped: reference pack (JOULE_SHARED_TESTDATA not set)\n");
        return;
    }
    snprintf(path, sizeof(path), "%s/models/llama-tiny-f32.gguf", root);
    struct joule_gguf *src = NULL;
    char err[512];
    if (joule_gguf_open_file(path, &src, err, sizeof(err)) != JOULE_OK) {
        printf("skipped: reference pack (%s)\n", err);
        return;
    }
    static const struct {
        const char *file;
        enum joule_quant_type type;
    } files[] = {
        {"llama-tiny-f16.gguf", JOULE_QUANT_F16},   {"llama-tiny-bf16.gguf", JOULE_QUANT_BF16},
        {"llama-tiny-q8_0.gguf", JOULE_QUANT_Q8_0}, {"llama-tiny-q4_0.gguf", JOULE_QUANT_Q4_0},
        {"llama-tiny-q4_1.gguf", JOULE_QUANT_Q4_1}, {"llama-tiny-q5_0.gguf", JOULE_QUANT_Q5_0},
        {"llama-tiny-q5_1.gguf", JOULE_QUANT_Q5_1},
    };
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        struct joule_gguf *q = NULL;
        snprintf(path, sizeof(path), "%s/models/%s", root, files[f].file);
        if (joule_gguf_open_file(path, &q, err, sizeof(err)) != JOULE_OK) {
            fprintf(stderr, "%s\n", err);
            CHECK(0);
            continue;
        }
        int n_cmp = 0, n_same = 0;
        for (uint64_t i = 0; i < joule_gguf_tensor_count(q); i++) {
            const struct joule_gguf_tensor *tq = joule_gguf_tensor_at(q, i);
            if (tq->type != files[f].type)
                continue;
            const struct joule_gguf_tensor *ts = joule_gguf_find_tensor(src, tq->name);
            CHECK(ts && ts->type == JOULE_QUANT_F32 && ts->n_elements == tq->n_elements);
            if (!ts)
                continue;
            uint8_t *buf = malloc(tq->nbytes);
            for (int64_t r = 0; r < tq->n_rows; r++)
                joule_quant_quantize_row_ref(tq->type, (const float *)ts->data + r * ts->ne[0],
                                             buf + (size_t)r * tq->row_bytes, tq->ne[0]);
            n_cmp++;
            n_same += memcmp(buf, tq->data, tq->nbytes) == 0;
            free(buf);
        }
        printf("reference pack: %s: %d/%d tensors byte-identical to llama-quantize\n",
               files[f].file, n_same, n_cmp);
        CHECK(n_cmp == 16 && n_same == n_cmp);
        joule_gguf_close(q);
    }
    joule_gguf_close(src);
}

/*
 * llama-quantize's files decode close to the f32 source: this checks our
 * reading of every layout (a wrong bit order decodes to noise, relative
 * error ~1).  Bounds: relative RMSE (rmse / rms of the source) per file,
 * the value measured on these N(0, s) weights plus ~10 %.
 * Our own quantizer's relative RMSE on the same tensors is printed beside.
 */
static void test_reference_dequant(void)
{
    const char *root = getenv("JOULE_SHARED_TESTDATA");
    char path[1024], err[512];
    if (!root || !*root) {
        printf("skipped: reference dequantization (JOULE_SHARED_TESTDATA not set)\n");
        return;
    }
    snprintf(path, sizeof(path), "%s/models/llama-tiny-f32.gguf", root);
    struct joule_gguf *src = NULL;
    if (joule_gguf_open_file(path, &src, err, sizeof(err)) != JOULE_OK) {
        printf("skipped: reference dequantization (%s)\n", err);
        return;
    }
    static const struct {
        const char *file;
        double bound;
    } files[] = {
        {"llama-tiny-f16.gguf", 0.00025},  {"llama-tiny-bf16.gguf", 0.0019},
        {"llama-tiny-q8_0.gguf", 0.0059},  {"llama-tiny-q6_k.gguf", 0.0195},
        {"llama-tiny-q5_1.gguf", 0.042},  {"llama-tiny-q5_0.gguf", 0.047},
        {"llama-tiny-q5_k.gguf", 0.040},  {"llama-tiny-q4_1.gguf", 0.086},
        {"llama-tiny-q4_0.gguf", 0.095},  {"llama-tiny-q4_k.gguf", 0.079},
        {"llama-tiny-q4_k_m.gguf", 0.076},
    };
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        struct joule_gguf *q = NULL;
        snprintf(path, sizeof(path), "%s/models/%s", root, files[f].file);
        if (joule_gguf_open_file(path, &q, err, sizeof(err)) != JOULE_OK) {
            fprintf(stderr, "%s\n", err);
            CHECK(0);
            continue;
        }
        double se = 0, ss = 0, se_own = 0;
        for (uint64_t i = 0; i < joule_gguf_tensor_count(q); i++) {
            const struct joule_gguf_tensor *tq = joule_gguf_tensor_at(q, i);
            const struct joule_gguf_tensor *ts = joule_gguf_find_tensor(src, tq->name);
            if (tq->type == JOULE_QUANT_F32 || !ts || ts->n_elements != tq->n_elements)
                continue;
            float *row = malloc(sizeof(float) * (size_t)tq->ne[0]);
            float *own = malloc(sizeof(float) * (size_t)tq->ne[0]);
            uint8_t *qb = malloc(tq->row_bytes);
            for (int64_t r = 0; r < tq->n_rows; r++) {
                const float *x = (const float *)ts->data + r * ts->ne[0];
                CHECK(joule_quant_dequantize_row_ref(tq->type, (const uint8_t *)tq->data +
                                                     (size_t)r * tq->row_bytes, row,
                                                     tq->ne[0]) == JOULE_OK);
                joule_quant_quantize_row_ref(tq->type, x, qb, tq->ne[0]);
                joule_quant_dequantize_row_ref(tq->type, qb, own, tq->ne[0]);
                for (int64_t k = 0; k < tq->ne[0]; k++) {
                    se += ((double)row[k] - x[k]) * ((double)row[k] - x[k]);
                    se_own += ((double)own[k] - x[k]) * ((double)own[k] - x[k]);
                    ss += (double)x[k] * x[k];
                }
            }
            free(row);
            free(own);
            free(qb);
        }
        double rel = sqrt(se / ss), rel_own = sqrt(se_own / ss);
        printf("reference dequantization: %-24s relative rmse %.5f (bound %.4f), joule's "
               "quantizer %.5f\n", files[f].file, rel, files[f].bound, rel_own);
        CHECK(ss > 0 && rel <= files[f].bound);
        joule_gguf_close(q);
    }
    joule_gguf_close(src);
}

int main(void)
{
    RUN(test_fp16_known);
    RUN(test_bf16_known);
    RUN(test_traits);
    RUN(test_hand_blocks);
    RUN(test_rmse);
    RUN(test_dot);
    RUN(test_reference_pack);
    RUN(test_reference_dequant);
    TEST_MAIN_END();
}
