/*
 * kernels.h - the engine's compute kernels, chosen at run time by CPUID.
 *
 * Every kernel exists as a scalar reference twin built on the model
 * module's *_ref functions (src/model/quant.h); AVX2 and AVX-512 variants
 * override entries of the table when the CPU has the instructions.  A
 * variant must compute what its twin computes: quantizers bit for bit,
 * dot products within a relative error of 1e-5 of sum |w_i a_i| (F32
 * accumulation, another summation order).  tests/unit/test_kernels_*.c
 * check every entry of every ISA level the machine has against the twin.
 *
 * There is no global table: a struct joule_kernels is filled by
 * joule_kernels_select() and carried by whoever runs the model, so tests
 * can run each ISA level side by side in one process.
 *
 * Activation formats.  A weight of type W is multiplied with an activation
 * row in the format of joule_kernels_act_type(W): Q8_0 blocks for
 * Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants -- what
 * llama.cpp pairs with each weight type, so outputs agree with it.  F16 and
 * BF16 weights meet the activation rounded to F16 / BF16 (as llama.cpp
 * rounds it) but stored as F32 (every such value is a float), so tiles load
 * it without converting it again for every weight row; F32 weights meet
 * F32.  joule_kernels_act_row_size() gives the bytes of a row.
 */
#ifndef JOULE_ENGINE_KERNELS_H
#define JOULE_ENGINE_KERNELS_H

#include "pack.h"
#include "quant.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Instruction-set levels, each a superset of the one before. */
enum joule_isa {
    JOULE_ISA_SCALAR = 0, /* portable C: the reference twins */
    JOULE_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    JOULE_ISA_AVX512 = 2, /* AVX-512 F, BW, VL, DQ (VNNI and BF16 used when present) */
};

/* What the running CPU (and the OS, through XCR0) supports. */
struct joule_cpu {
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq;
    bool avx512vnni; /* vpdpbusd on zmm */
    bool avx512bf16; /* vdpbf16ps */
    bool avxvnni;    /* vpdpbusd on ymm (VEX) */
};

/* Reads CPUID and XGETBV into *cpu (all false on other architectures). */
void joule_cpu_detect(struct joule_cpu *cpu);

/* The highest level *cpu supports. */
enum joule_isa joule_cpu_best_isa(const struct joule_cpu *cpu);

/* "scalar", "avx2", "avx512". */
const char *joule_isa_name(enum joule_isa isa);

/*
 * A tile of dot products between nr weight rows and nc activation rows,
 * n elements each:
 *
 *     out[j * out_stride + i] = dot(w + i * w_stride, a + j * a_stride)
 *                                                 for i < nr, j < nc
 *
 * w rows are in the weight type, a rows in its vec_dot_type; strides are in
 * bytes (out_stride in floats).  n is a multiple of the block size.  This
 * is the one primitive of every matrix product: a variant keeps a few
 * weight rows in registers and streams several activation rows past them,
 * so one read of the weights serves a whole batch of tokens.
 */
typedef void (*joule_tile_fn)(int64_t n, const void *w, size_t w_stride, int32_t nr,
                              const void *a, size_t a_stride, int32_t nc, float *out,
                              size_t out_stride);

/* The activation format weights of type w meet (see above): the index of
 * its converter in struct joule_kernels.act. */
enum joule_quant_type joule_kernels_act_type(uint32_t w);

/* Bytes of an activation row of n elements for weights of type w into
 * *bytes; false when n does not fit the format's blocks. */
bool joule_kernels_act_row_size(uint32_t w, int64_t n, size_t *bytes);

/* Converts x[n] (F32) to an activation row y in one vec_dot_type format.
 * n is a multiple of the format's block size. */
typedef void (*joule_act_fn)(const float *x, void *y, int64_t n);

struct joule_kernels {
    enum joule_isa isa;                  /* the level selected */
    struct joule_cpu cpu;                /* what the CPU has */
    joule_tile_fn tile[JOULE_QUANT_ID_LIMIT]; /* by weight type; NULL: no kernel */
    /* Tiles over packed weights (pack.h), by weight type; NULL: no packed
     * layout.  w points at a group, w_stride is the bytes of a group (16
     * rows) and nr a multiple of 16.  Every level has them for every
     * packable type (the scalar twin unpacks a group and calls the
     * reference tile); pack_fast says which this level implements itself:
     * the loader packs a type only when the best level does. */
    joule_tile_fn ptile[JOULE_QUANT_ID_LIMIT];
    bool pack_fast[JOULE_QUANT_ID_LIMIT];
    joule_act_fn act[JOULE_QUANT_ID_LIMIT];   /* by activation (vec_dot) type */

    /* Attention over a KV cache.  x, y: n elements. */
    float (*dot_f16)(int64_t n, const uint16_t *x, const uint16_t *y); /* both F16 */
    void (*mad_f16)(int64_t n, float a, const uint16_t *x, float *y);   /* y += a * x */
    float (*dot_f32)(int64_t n, const float *x, const float *y);
    void (*mad_f32)(int64_t n, float a, const float *x, float *y);     /* y += a * x */
    void (*f32_to_f16)(const float *x, uint16_t *y, int64_t n);         /* nearest even */
    void (*f16_to_f32)(const uint16_t *x, float *y, int64_t n);
    /* The F16 accumulator of llama.cpp's CPU flash attention (an F16 V
     * cache): every update is rounded back to F16, exactly as it does, so
     * the default configuration agrees with llama.cpp's defaults. */
    void (*scale_f16)(int64_t n, float a, uint16_t *y);                   /* y = f16(y * a) */
    void (*mad_f16_f16)(int64_t n, float a, const uint16_t *x, uint16_t *y); /* y = f16(fma(x, a, y)) */
};

/*
 * Fills *k with the kernels of level `isa`, or of the highest level the CPU
 * has when it has less.  JOULE_ISA_SCALAR gives the reference twins alone.
 * Returns the level selected (also in k->isa).
 */
enum joule_isa joule_kernels_select(struct joule_kernels *k, enum joule_isa isa);

/* Registration of the variants, one per source file (kernels_*.c); each
 * overrides the entries it implements and may consult k->cpu. */
void joule_kernels_add_float_avx2(struct joule_kernels *k);
void joule_kernels_add_float_avx512(struct joule_kernels *k);
void joule_kernels_add_quant_avx2(struct joule_kernels *k);
void joule_kernels_add_quant_avx512(struct joule_kernels *k);
void joule_kernels_add_attn_avx2(struct joule_kernels *k);

#endif /* JOULE_ENGINE_KERNELS_H */
