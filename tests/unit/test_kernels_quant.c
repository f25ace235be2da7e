/*
 * test_kernels_quant.c - the quantized kernels of every ISA level this
 * machine has against the scalar twins: the Q8_0 / Q8_1 / Q8_K activation
 * quantizers bit for bit, and every quantized tile on many shapes, sizes
 * and strides, and the packed tiles (pack.h).  On a VNNI machine the AVX-512 tiles without VNNI are
 * checked too.
 */
#include "kernels_check.h"

static const uint32_t wtypes[] = {JOULE_QUANT_Q4_0, JOULE_QUANT_Q4_1, JOULE_QUANT_Q5_0,
                                  JOULE_QUANT_Q5_1, JOULE_QUANT_Q8_0, JOULE_QUANT_Q4_K,
                                  JOULE_QUANT_Q5_K, JOULE_QUANT_Q6_K};

static void test_tiles(const struct joule_kernels *ref, const struct joule_kernels *k,
                       const char *label)
{
    static const int64_t ns[] = {32, 64, 96, 256, 512, 2048};
    static const int32_t shapes[][2] = {{1, 1}, {4, 1}, {3, 1}, {5, 1}, {17, 1}, {2, 4},
                                        {3, 5}, {7, 9}, {16, 16}, {1, 33}};
    for (size_t t = 0; t < sizeof(wtypes) / sizeof(wtypes[0]); t++) {
        const struct joule_quant_traits *tr = joule_quant_traits(wtypes[t]);
        double worst = 0.0;
        for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
            if (ns[i] % tr->block_size)
                continue;
            for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
                double e = kc_check_tile(ref, k, wtypes[t], ns[i], shapes[s][0], shapes[s][1],
                                         1.0f);
                worst = e > worst ? e : worst;
            }
        }
        /* rows of tiny and huge scales */
        worst = fmax(worst, kc_check_tile(ref, k, wtypes[t], 256, 5, 3, 1e-4f));
        worst = fmax(worst, kc_check_tile(ref, k, wtypes[t], 256, 5, 3, 1e4f));
        printf("%s: %s tiles, worst error %.2g of sum |w a|\n", label, tr->name, worst);
    }
}

/* The packed tiles (pack.h) against the reference tile on the unpacked
 * rows; n = 9600 takes Q4_0 and Q8_0 through several slices of activation
 * sums. */
static void test_ptiles(const struct joule_kernels *ref, const struct joule_kernels *k,
                        const char *label)
{
    static const uint32_t ptypes[] = {JOULE_QUANT_F16,  JOULE_QUANT_BF16, JOULE_QUANT_Q4_0,
                                      JOULE_QUANT_Q8_0, JOULE_QUANT_Q4_K, JOULE_QUANT_Q6_K};
    static const int64_t ns[] = {7, 32, 256, 512, 2048, 5632, 9600};
    static const int32_t shapes[][2] = {{16, 1}, {32, 1}, {16, 2}, {16, 3}, {48, 4}, {16, 5},
                                        {32, 7}, {16, 9}, {16, 12}, {16, 13}, {32, 27}};
    for (size_t t = 0; t < sizeof(ptypes) / sizeof(ptypes[0]); t++) {
        const struct joule_quant_traits *tr = joule_quant_traits(ptypes[t]);
        CHECK(k->ptile[ptypes[t]] != NULL && joule_pack_has_layout(ptypes[t]));
        double worst = 0.0;
        for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
            if (ns[i] % tr->block_size)
                continue;
            for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
                worst = fmax(worst, kc_check_tile_as(ref, k, ptypes[t], ns[i], shapes[s][0],
                                                     shapes[s][1], 1.0f, true));
        }
        worst = fmax(worst, kc_check_tile_as(ref, k, ptypes[t], 512, 16, 3, 1e-4f, true));
        worst = fmax(worst, kc_check_tile_as(ref, k, ptypes[t], 512, 16, 3, 1e4f, true));
        printf("%s: packed %s tiles, worst error %.2g of sum |w a|\n", label, tr->name, worst);
    }
}

static void test_act(const struct joule_kernels *ref, const struct joule_kernels *k)
{
    static const int64_t ns[] = {32, 256, 512, 2048, 5632};
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        kc_check_act(ref, k, JOULE_QUANT_Q4_0, ns[i]); /* Q8_0 activations */
        kc_check_act(ref, k, JOULE_QUANT_Q4_1, ns[i]); /* Q8_1 */
        if (ns[i] % 256 == 0)
            kc_check_act(ref, k, JOULE_QUANT_Q4_K, ns[i]); /* Q8_K */
    }
    /* NaN, infinities and a block of zeros next to a normal one. */
    float x[512];
    for (int i = 0; i < 512; i++)
        x[i] = kc_rand();
    for (int i = 256; i < 288; i++)
        x[i] = 0.0f;
    x[3] = NAN;
    x[300] = -NAN;
    x[40] = 0.5f * 127.0f / 127.0f; /* a value on a grid point */
    uint8_t b1[2 * 292], b2[2 * 292];
    static const uint32_t ats[] = {JOULE_QUANT_Q8_0, JOULE_QUANT_Q8_K};
    for (size_t t = 0; t < 2; t++) {
        size_t bytes = kc_row_bytes(ats[t], 512);
        memset(b1, 0, sizeof(b1));
        memset(b2, 0, sizeof(b2));
        ref->act[ats[t]](x, b1, 512);
        k->act[ats[t]](x, b2, 512);
        CHECK(memcmp(b1, b2, bytes) == 0);
    }
}

int main(void)
{
    struct joule_kernels ref, k;
    joule_kernels_select(&ref, JOULE_ISA_SCALAR);
    const enum joule_isa best = joule_cpu_best_isa(&ref.cpu);
    for (int isa = JOULE_ISA_SCALAR; isa <= (int)best; isa++) {
        joule_kernels_select(&k, (enum joule_isa)isa);
        char label[64];
        snprintf(label, sizeof(label), "%s%s", joule_isa_name(k.isa),
                 isa == JOULE_ISA_AVX512 && k.cpu.avx512vnni ? " (vnni)" : "");
        test_tiles(&ref, &k, label);
        test_ptiles(&ref, &k, label);
        test_act(&ref, &k);
    }
    if (best == JOULE_ISA_AVX512 && ref.cpu.avx512vnni) {
        /* The same CPU without VNNI: the vpmaddubsw tiles. */
        joule_kernels_select(&k, JOULE_ISA_AVX2);
        k.cpu.avx512vnni = false;
        joule_kernels_add_float_avx512(&k);
        joule_kernels_add_quant_avx512(&k);
        k.isa = JOULE_ISA_AVX512;
        test_tiles(&ref, &k, "avx512 (no vnni)");
        test_ptiles(&ref, &k, "avx512 (no vnni)");
    }
    TEST_MAIN_END();
}
