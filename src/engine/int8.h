/*
 * int8.h - LLM.int8 mixed-precision decomposition for Q8_0 products.
 *
 * The int8 mode of the engine reproduces what bitsandbytes does for a model
 * loaded in 8 bits (Dettmers et al., "LLM.int8()", 2022), so that its cost
 * can be measured on a CPU:
 *
 *   1. The input columns of a product in which any token has a value of
 *      magnitude >= threshold are the outliers (threshold 0: none).
 *   2. The other columns are quantized to INT8 with one absmax scale per
 *      token (vector-wise), the outliers set to 0, and multiplied with the
 *      INT8 weights (one scale per output row) by the Q8_0 kernels: an
 *      activation row is a Q8_0 row whose blocks share one scale.
 *   3. The outlier columns are multiplied in floating point: activations
 *      rounded to F16 (they "stay in 16-bit"), weights dequantized from
 *      INT8 as bitsandbytes does when the model has no 16-bit weights, the
 *      sum in F32; the result is added to the INT8 product.
 *
 * Steps 1 and 3 are the decomposition overhead the EcoCompute seed reports
 * for bitsandbytes; joule_int8_stats counts how many columns took step 3.
 * The code here is the computation only; forward.c spreads it over the
 * pool.  See docs/internals/engine.md, "int8 mode".
 */
#ifndef JOULE_ENGINE_INT8_H
#define JOULE_ENGINE_INT8_H

#include "model.h"

#include <stddef.h>
#include <stdint.h>

/* Scratch and counters of one run state; sized for products of up to
 * max_in input columns and n_batch tokens, with n_threads workers. */
struct joule_int8 {
    float threshold; /* >= 0 */
    int64_t max_in;
    uint8_t *skip;    /* [max_in] non-zero: column is an outlier */
    int32_t *cols;    /* [max_in] the outlier columns, ascending */
    int32_t *at;      /* [max_in] byte of each in a Q8_0 row (its value) */
    int32_t n_cols;   /* outliers of the current activation */
    float *xo;        /* [n_batch][max_in] outlier values, F16-rounded, packed */
    float *wo;        /* [n_threads][max_in] a weight row's outlier columns */
    int64_t columns;  /* input columns of every INT8 product so far */
    int64_t outliers; /* of which outliers */
};

/* Bytes of scratch joule_int8_init carves for these sizes. */
size_t joule_int8_bytes(int64_t max_in, int32_t n_batch, int n_threads);

/* Points s's arrays into mem (joule_int8_bytes of it, 64-byte aligned). */
void joule_int8_init(struct joule_int8 *s, float threshold, int64_t max_in, int32_t n_batch,
                     void *mem);

/* Step 1 for rows x[t * x_stride .. + k), t < n: marks and lists the
 * outlier columns and packs their values into s->xo. */
void joule_int8_find_outliers(struct joule_int8 *s, const float *x, size_t x_stride, int32_t n,
                              int64_t k);

/* Step 2 for one row: x[k] to Q8_0 blocks sharing one scale, outliers 0. */
void joule_int8_quantize_row(const struct joule_int8 *s, const float *x, void *q8_0_row, int64_t k);

/* Step 3 for weight rows r0 .. r1 of the Q8_0 matrix w, its first
 * packed_rows rows packed (pack.h), using worker ith's scratch:
 * y[t * y_stride + r] += sum over outlier columns j of xo[t][j] * w[r][j]. */
void joule_int8_add_outliers(const struct joule_int8 *s, const struct joule_gguf_tensor *w,
                             int64_t packed_rows, int64_t r0, int64_t r1, int32_t n, float *y,
                             size_t y_stride, int ith);

#endif /* JOULE_ENGINE_INT8_H */
