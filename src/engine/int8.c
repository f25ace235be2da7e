/*
 * int8.c - LLM.int8 mixed-precision decomposition (see int8.h).
 */
#include "int8.h"

#include "pack.h"

#include "joule_int.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

static size_t align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

size_t joule_int8_bytes(int64_t max_in, int32_t n_batch, int n_threads)
{
    const size_t k = (size_t)max_in;
    return align64(k) + 2 * align64(k * sizeof(int32_t)) +
           align64((size_t)n_batch * k * sizeof(float)) +
           align64((size_t)n_threads * k * sizeof(float));
}

void joule_int8_init(struct joule_int8 *s, float threshold, int64_t max_in, int32_t n_batch,
                     void *mem)
{
    const size_t k = (size_t)max_in;
    uint8_t *p = mem;
    memset(s, 0, sizeof(*s));
    s->threshold = threshold;
    s->max_in = max_in;
    s->skip = p;
    p += align64(k);
    s->cols = (int32_t *)(void *)p;
    p += align64(k * sizeof(int32_t));
    s->at = (int32_t *)(void *)p;
    p += align64(k * sizeof(int32_t));
    s->xo = (float *)(void *)p;
    p += align64((size_t)n_batch * k * sizeof(float));
    s->wo = (float *)(void *)p;
}

void joule_int8_find_outliers(struct joule_int8 *s, const float *x, size_t x_stride, int32_t n,
                              int64_t k)
{
    JOULE_ASSERT(k <= s->max_in);
    memset(s->skip, 0, (size_t)k);
    s->n_cols = 0;
    /* Threshold 0 is bitsandbytes' "no decomposition": pure INT8. */
    if (s->threshold > 0.0f) {
        for (int32_t t = 0; t < n; t++) {
            const float *row = x + (size_t)t * x_stride;
            for (int64_t j = 0; j < k; j++)
                s->skip[j] |= fabsf(row[j]) >= s->threshold;
        }
        for (int64_t j = 0; j < k; j++) {
            if (!s->skip[j])
                continue;
            const int64_t blk = j / JOULE_QK8_0;
            s->cols[s->n_cols] = (int32_t)j;
            s->at[s->n_cols++] =
                (int32_t)(blk * (int64_t)sizeof(struct joule_block_q8_0) +
                          (int64_t)offsetof(struct joule_block_q8_0, qs) + j % JOULE_QK8_0);
        }
    }
    for (int32_t t = 0; t < n; t++) {
        const float *row = x + (size_t)t * x_stride;
        float *o = s->xo + (size_t)t * (size_t)s->max_in;
        for (int32_t i = 0; i < s->n_cols; i++)
            o[i] = joule_fp16_to_f32(joule_fp16_from_f32(row[s->cols[i]]));
    }
    s->columns += k;
    s->outliers += s->n_cols;
}

void joule_int8_quantize_row(const struct joule_int8 *s, const float *x, void *q8_0_row, int64_t k)
{
    joule_quantize_row_q8_0_vectorwise_ref(x, q8_0_row, k, s->n_cols ? s->skip : NULL);
}

/* Byte `byte` of row r of w, wherever packing (pack.h) put it. */
static uint8_t weight_byte(const struct joule_gguf_tensor *w, int64_t packed_rows, int64_t r,
                           size_t byte)
{
    const uint8_t *data = w->data;
    if (r >= packed_rows)
        return data[(size_t)r * w->row_bytes + byte];
    bool flipped;
    const int64_t r0 = r / JOULE_PACK_ROWS * JOULE_PACK_ROWS;
    const size_t off = joule_pack_locate(w->type, (int)(r - r0), byte, &flipped);
    return data[(size_t)r0 * w->row_bytes + off] ^ (flipped ? 0x80 : 0);
}

void joule_int8_add_outliers(const struct joule_int8 *s, const struct joule_gguf_tensor *w,
                             int64_t packed_rows, int64_t r0, int64_t r1, int32_t n, float *y,
                             size_t y_stride, int ith)
{
    JOULE_ASSERT(w->type == JOULE_QUANT_Q8_0);
    float *wo = s->wo + (size_t)ith * (size_t)s->max_in;
    const int32_t m = s->n_cols;
    for (int64_t r = r0; r < r1; r++) {
        /* The row's outlier weights, dequantized once for every token. */
        for (int32_t i = 0; i < m; i++) {
            const size_t blk = (size_t)s->cols[i] / JOULE_QK8_0 * sizeof(struct joule_block_q8_0);
            const uint16_t d = (uint16_t)(weight_byte(w, packed_rows, r, blk) |
                                          weight_byte(w, packed_rows, r, blk + 1) << 8);
            wo[i] = (float)(int8_t)weight_byte(w, packed_rows, r, s->at[i]) *
                    joule_fp16_to_f32(d);
        }
        for (int32_t t = 0; t < n; t++) {
            const float *o = s->xo + (size_t)t * (size_t)s->max_in;
            /* Four partial sums, so the compiler can keep them in lanes. */
            float acc[4] = {0, 0, 0, 0};
            int32_t i = 0;
            for (; i + 4 <= m; i += 4)
                for (int l = 0; l < 4; l++)
                    acc[l] += o[i + l] * wo[i + l];
            for (; i < m; i++)
                acc[0] += o[i] * wo[i];
            y[(size_t)t * y_stride + (size_t)r] += (acc[0] + acc[1]) + (acc[2] + acc[3]);
        }
    }
}
