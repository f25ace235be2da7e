/*
 * test_kernels_float.c - the float kernels of every ISA level this machine
 * has against the scalar twins: F32, F16 and BF16 tiles on odd sizes and
 * shapes, the F16/BF16 activation converters bit for bit (special values
 * included), and the attention helpers.
 */
#include "kernels_check.h"

static const uint32_t types[] = {JOULE_QUANT_F32, JOULE_QUANT_F16, JOULE_QUANT_BF16};

static void test_tiles(const struct joule_kernels *ref, const struct joule_kernels *k)
{
    static const int64_t ns[] = {1, 7, 16, 17, 33, 64, 255, 2048};
    static const int32_t shapes[][2] = {{1, 1}, {4, 1}, {5, 1}, {17, 1}, {2, 4}, {3, 5},
                                        {7, 9}, {16, 16}, {1, 33}};
    double worst = 0.0;
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
        for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
            for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
                double e = kc_check_tile(ref, k, types[t], ns[i], shapes[s][0], shapes[s][1],
                                         1.0f);
                worst = e > worst ? e : worst;
            }
    printf("%s: float tiles, worst error %.2g of sum |w a|\n", joule_isa_name(k->isa), worst);
}

static void test_converters(const struct joule_kernels *ref, const struct joule_kernels *k)
{
    static const int64_t ns[] = {1, 15, 16, 33, 2048};
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        kc_check_act(ref, k, JOULE_QUANT_F16, ns[i]);
        kc_check_act(ref, k, JOULE_QUANT_BF16, ns[i]);
        kc_check_act(ref, k, JOULE_QUANT_F32, ns[i]);
    }
    /* Special values, bit for bit. */
    const float inf = INFINITY;
    float x[24] = {0.0f, -0.0f, 1e-8f, -1e-8f, 6e-8f, 3e-8f, 65504.0f, 65519.0f, 65520.0f,
                   -65520.0f, inf, -inf, NAN, -NAN, 1.0f / 3.0f, 2.9802322e-8f, 5.96e-8f,
                   1e38f, -1e38f, 1.17549435e-38f, 0.5f, 100000.0f, 6.1035156e-5f, 6.1e-5f};
    uint16_t a[24], b[24];
    ref->f32_to_f16(x, a, 24);
    k->f32_to_f16(x, b, 24);
    CHECK(memcmp(a, b, sizeof(a)) == 0);
    float fa[24], fb[24];
    ref->act[JOULE_QUANT_BF16](x, fa, 24);
    k->act[JOULE_QUANT_BF16](x, fb, 24);
    CHECK(memcmp(fa, fb, sizeof(fa)) == 0);
    ref->act[JOULE_QUANT_F16](x, fa, 24);
    k->act[JOULE_QUANT_F16](x, fb, 24);
    CHECK(memcmp(fa, fb, sizeof(fa)) == 0);
    /* F16 -> F32 is exact on every one of the 65536 values but NaNs' payloads. */
    uint16_t all[1024];
    float f1[1024], f2[1024];
    int same = 1;
    for (uint32_t base = 0; base < 65536; base += 1024) {
        for (uint32_t i = 0; i < 1024; i++)
            all[i] = (uint16_t)(base + i);
        ref->f16_to_f32(all, f1, 1024);
        k->f16_to_f32(all, f2, 1024);
        for (int i = 0; i < 1024; i++)
            same &= (isnan(f1[i]) && isnan(f2[i])) || memcmp(&f1[i], &f2[i], 4) == 0;
    }
    CHECK(same);
}

static void test_attention(const struct joule_kernels *ref, const struct joule_kernels *k)
{
    static const int64_t ns[] = {1, 5, 16, 31, 64, 128, 257};
    for (size_t t = 0; t < sizeof(ns) / sizeof(ns[0]); t++) {
        const int64_t n = ns[t];
        float x[257], y[257], y1[257], y2[257];
        uint16_t hx[257], hy[257], acc1[257], acc2[257];
        double absdot = 0.0;
        for (int64_t i = 0; i < n; i++) {
            x[i] = kc_rand();
            y[i] = kc_rand();
            absdot += fabs((double)x[i] * y[i]);
        }
        ref->f32_to_f16(x, hx, n);
        ref->f32_to_f16(y, hy, n);
        CHECK(fabs(ref->dot_f16(n, hx, hy) - k->dot_f16(n, hx, hy)) <= 1e-5 * absdot + 1e-30);
        CHECK(fabs(ref->dot_f32(n, x, y) - k->dot_f32(n, x, y)) <= 1e-5 * absdot + 1e-30);
        memcpy(y1, y, sizeof(float) * (size_t)n);
        memcpy(y2, y, sizeof(float) * (size_t)n);
        ref->mad_f16(n, 0.37f, hx, y1);
        k->mad_f16(n, 0.37f, hx, y2);
        int close = 1;
        for (int64_t i = 0; i < n; i++)
            close &= fabsf(y1[i] - y2[i]) <= 1e-6f * (fabsf(y1[i]) + 1.0f);
        memcpy(y1, y, sizeof(float) * (size_t)n);
        memcpy(y2, y, sizeof(float) * (size_t)n);
        ref->mad_f32(n, -1.5f, x, y1);
        k->mad_f32(n, -1.5f, x, y2);
        for (int64_t i = 0; i < n; i++)
            close &= fabsf(y1[i] - y2[i]) <= 1e-6f * (fabsf(y1[i]) + 1.0f);
        CHECK(close);
        /* The F16 accumulator updates are bit-identical (one fma, one rounding). */
        memcpy(acc1, hy, sizeof(uint16_t) * (size_t)n);
        memcpy(acc2, hy, sizeof(uint16_t) * (size_t)n);
        ref->mad_f16_f16(n, 0.61f, hx, acc1);
        k->mad_f16_f16(n, 0.61f, hx, acc2);
        ref->scale_f16(n, 0.77f, acc1);
        k->scale_f16(n, 0.77f, acc2);
        CHECK(memcmp(acc1, acc2, sizeof(uint16_t) * (size_t)n) == 0);
    }
}

int main(void)
{
    struct joule_kernels ref, k;
    joule_kernels_select(&ref, JOULE_ISA_SCALAR);
    const enum joule_isa best = joule_cpu_best_isa(&ref.cpu);
    for (int isa = JOULE_ISA_SCALAR; isa <= (int)best; isa++) {
        joule_kernels_select(&k, (enum joule_isa)isa);
        printf("checking %s\n", joule_isa_name(k.isa));

        test_tiles(&ref, &k);
        test_converters(&ref, &k);
        test_attention(&ref, &k);
    }
    TEST_MAIN_END();
}
