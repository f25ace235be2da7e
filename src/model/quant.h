/*
 * quant.h - tensor element types with the standard GGUF/ggml block layouts,
 * fp16/bf16 conversions, and scalar reference kernels (quantize a row,
 * dequantize a row, dot product of a weight row with an activation row).
 *
 * The layout of a block *is* the file format: every block struct below has a
 * static_assert on its size, and its fields are stored little-endian
 * exactly as written in a .gguf file.  Scales are raw IEEE fp16 bits
 * (uint16_t), converted with joule_fp16_to_f32().
 *
 * Kernels named *_ref are plain loops: the ground truth that optimised
 * kernels (engine/) are tested against.  They keep no state, allocate
 * nothing and are safe to call from any number of threads at once.
 *
 * Row lengths are in elements (int64_t) and must be a multiple of the
 * type's block size; a caller passing anything else has a bug (asserted).
 * The type-generic entry points (joule_quant_*_row_ref) check instead and
 * return a status.
 *
 * See docs/internals/quant.md for the layouts and the error bounds.
 */
#ifndef JOULE_MODEL_QUANT_H
#define JOULE_MODEL_QUANT_H

#include "joule.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Element types, numbered as ggml/GGUF number them (append-only: the ids
 * are stored in files).  Ids not listed (4, 5: removed Q4_2/Q4_3; 16..29:
 * IQ types and integer types) are not known to joule.
 */
enum joule_quant_type {
    JOULE_QUANT_F32 = 0,
    JOULE_QUANT_F16 = 1,
    JOULE_QUANT_Q4_0 = 2,
    JOULE_QUANT_Q4_1 = 3,
    JOULE_QUANT_Q5_0 = 6,
    JOULE_QUANT_Q5_1 = 7,
    JOULE_QUANT_Q8_0 = 8,
    JOULE_QUANT_Q8_1 = 9,
    JOULE_QUANT_Q2_K = 10,
    JOULE_QUANT_Q3_K = 11,
    JOULE_QUANT_Q4_K = 12,
    JOULE_QUANT_Q5_K = 13,
    JOULE_QUANT_Q6_K = 14,
    JOULE_QUANT_Q8_K = 15,
    JOULE_QUANT_BF16 = 30,
};

#define JOULE_QUANT_ID_LIMIT 31u /* every known id is < this */

/* Elements per block. */
#define JOULE_QK4_0 32
#define JOULE_QK4_1 32
#define JOULE_QK5_0 32
#define JOULE_QK5_1 32
#define JOULE_QK8_0 32
#define JOULE_QK8_1 32
#define JOULE_QK_K 256
#define JOULE_K_SCALE_SIZE 12 /* bytes of packed 6-bit scales and mins (Q4_K, Q5_K) */

/* Q4_0: x = d * (q - 8), q in 0..15.  qs[j] low nibble = element j, high = j + 16. */
struct joule_block_q4_0 {
    uint16_t d;                   /* fp16 scale */
    uint8_t qs[JOULE_QK4_0 / 2];  /* 4-bit quants */
};
_Static_assert(sizeof(struct joule_block_q4_0) == 18, "q4_0 block must be 18 bytes");

/* Q4_1: x = d * q + m, q in 0..15; nibbles as in Q4_0. */
struct joule_block_q4_1 {
    uint16_t d;                   /* fp16 scale */
    uint16_t m;                   /* fp16 minimum */
    uint8_t qs[JOULE_QK4_1 / 2];
};
_Static_assert(sizeof(struct joule_block_q4_1) == 20, "q4_1 block must be 20 bytes");

/* Q5_0: x = d * (q - 16), q in 0..31; bit 4 of element j is bit j of qh (LE u32). */
struct joule_block_q5_0 {
    uint16_t d;                   /* fp16 scale */
    uint8_t qh[4];                /* 5th bits */
    uint8_t qs[JOULE_QK5_0 / 2];  /* low 4 bits, nibbles as in Q4_0 */
};
_Static_assert(sizeof(struct joule_block_q5_0) == 22, "q5_0 block must be 22 bytes");

/* Q5_1: x = d * q + m, q in 0..31; bits as in Q5_0. */
struct joule_block_q5_1 {
    uint16_t d;                   /* fp16 scale */
    uint16_t m;                   /* fp16 minimum */
    uint8_t qh[4];
    uint8_t qs[JOULE_QK5_1 / 2];
};
_Static_assert(sizeof(struct joule_block_q5_1) == 24, "q5_1 block must be 24 bytes");

/* Q8_0: x = d * q, q in -127..127. */
struct joule_block_q8_0 {
    uint16_t d;                   /* fp16 scale */
    int8_t qs[JOULE_QK8_0];
};
_Static_assert(sizeof(struct joule_block_q8_0) == 34, "q8_0 block must be 34 bytes");

/* Q8_1: Q8_0 plus s = d * sum(qs) (fp16); the activation type of Q4_1 and Q5_1. */
struct joule_block_q8_1 {
    uint16_t d;                   /* fp16 scale */
    uint16_t s;                   /* fp16 d * sum(qs) */
    int8_t qs[JOULE_QK8_1];
};
_Static_assert(sizeof(struct joule_block_q8_1) == 36, "q8_1 block must be 36 bytes");

/* Q2_K (layout only: no kernels yet). */
struct joule_block_q2_k {
    uint8_t scales[JOULE_QK_K / 16]; /* 4-bit scale | 4-bit min << 4, per 16 elements */
    uint8_t qs[JOULE_QK_K / 4];      /* 2-bit quants */
    uint16_t d;                      /* fp16 super-block scale of the scales */
    uint16_t dmin;                   /* fp16 super-block scale of the mins */
};
_Static_assert(sizeof(struct joule_block_q2_k) == 84, "q2_K block must be 84 bytes");

/* Q3_K (layout only: no kernels yet). */
struct joule_block_q3_k {
    uint8_t hmask[JOULE_QK_K / 8];   /* high bits */
    uint8_t qs[JOULE_QK_K / 4];      /* low 2 bits */
    uint8_t scales[12];              /* 6-bit scales */
    uint16_t d;                      /* fp16 super-block scale */
};
_Static_assert(sizeof(struct joule_block_q3_k) == 110, "q3_K block must be 110 bytes");

/*
 * Q4_K: 8 sub-blocks of 32.  x = d * sc[j] * q - dmin * mn[j], q in 0..15,
 * sc/mn 6-bit, packed in scales[12].  qs: 4 chunks of 32 bytes; chunk c holds
 * sub-block 2c in the low nibbles and sub-block 2c + 1 in the high nibbles.
 */
struct joule_block_q4_k {
    uint16_t d;                         /* fp16 scale of the 6-bit scales */
    uint16_t dmin;                      /* fp16 scale of the 6-bit mins */
    uint8_t scales[JOULE_K_SCALE_SIZE]; /* packed 6-bit scales and mins */
    uint8_t qs[JOULE_QK_K / 2];
};
_Static_assert(sizeof(struct joule_block_q4_k) == 144, "q4_K block must be 144 bytes");

/* Q5_K: Q4_K plus a 5th bit: bit (2c) of qh[l] for sub-block 2c, (2c + 1) for 2c + 1. */
struct joule_block_q5_k {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[JOULE_K_SCALE_SIZE];
    uint8_t qh[JOULE_QK_K / 8];         /* 5th bits */
    uint8_t qs[JOULE_QK_K / 2];         /* low 4 bits */
};
_Static_assert(sizeof(struct joule_block_q5_k) == 176, "q5_K block must be 176 bytes");

/*
 * Q6_K: 16 sub-blocks of 16.  x = d * scales[j] * (q - 32), q in 0..63.
 * Per half (128 elements, ql += 64, qh += 32): element l + 32k (k = 0..3,
 * l < 32) has its low 4 bits in ql[l + 32 (k & 1)] (low nibble for k < 2,
 * high for k >= 2) and its high 2 bits at bit 2k of qh[l].
 */
struct joule_block_q6_k {
    uint8_t ql[JOULE_QK_K / 2];      /* low 4 bits */
    uint8_t qh[JOULE_QK_K / 4];      /* high 2 bits */
    int8_t scales[JOULE_QK_K / 16];  /* 8-bit scales */
    uint16_t d;                      /* fp16 super-block scale */
};
_Static_assert(sizeof(struct joule_block_q6_k) == 210, "q6_K block must be 210 bytes");

/* Q8_K: the activation type of the K-quants.  x = d * q. */
struct joule_block_q8_k {
    float d;                         /* f32 scale */
    int8_t qs[JOULE_QK_K];
    int16_t bsums[JOULE_QK_K / 16];  /* sum of qs per 16 elements */
};
_Static_assert(sizeof(struct joule_block_q8_k) == 292, "q8_K block must be 292 bytes");

/* Static facts about one type. */
struct joule_quant_traits {
    const char *name;                     /* "Q4_K", "F16" ... (static) */
    uint32_t block_size;                  /* elements per block */
    uint32_t type_size;                   /* bytes per block */
    uint32_t align;                       /* alignment a block needs in memory */
    enum joule_quant_type vec_dot_type;   /* how activations are quantized for a dot */
    bool has_ref;                         /* quantize/dequantize/dot kernels exist */
};

/* Traits of type id `type`, or NULL when the id is not known.  Static. */
const struct joule_quant_traits *joule_quant_traits(uint32_t type);

/* Name of `type` ("Q4_0"), or "unknown" when not known.  Static string. */
const char *joule_quant_name(uint32_t type);

/* The type whose name is `name` (case-insensitive: "q4_k", "Q4_K").
 * JOULE_ERR_NOT_FOUND when no type has that name.  `name` is borrowed. */
enum joule_status joule_quant_from_name(const char *name, enum joule_quant_type *out);

/* Bits per weight: 8 * type_size / block_size (4.5 for Q4_0).  0 if unknown. */
double joule_quant_bits_per_weight(uint32_t type);

/* Bytes of a row of n elements of `type` into *out_bytes.  false (and
 * *out_bytes untouched) when the type is unknown, n < 0, n is not a multiple
 * of the block size or the size overflows size_t. */
bool joule_quant_row_size(uint32_t type, int64_t n, size_t *out_bytes);

/* ---------------------------------------------------------------------------
 * fp16 / bf16.  Conversions from f32 round to nearest, ties to even; inf
 * stays inf, NaN stays NaN (made quiet, sign kept), values too large become
 * inf, fp16 subnormals are produced and read exactly.
 */
uint16_t joule_fp16_from_f32(float f);
float joule_fp16_to_f32(uint16_t h);
uint16_t joule_bf16_from_f32(float f);
float joule_bf16_to_f32(uint16_t h);

/* ---------------------------------------------------------------------------
 * Type-generic reference kernels.  Pointers are borrowed for the call; src
 * and dst must not overlap; n is in elements.  Return JOULE_ERR_INVALID for a
 * NULL pointer, n < 0 or n not a multiple of the block size, and
 * JOULE_ERR_UNSUPPORTED for a type without kernels (Q2_K, Q3_K) or unknown.
 */

/* dst[n] = the values of the row src (row_size(type, n) bytes). */
enum joule_status joule_quant_dequantize_row_ref(uint32_t type, const void *src, float *dst,
                                                 int64_t n);

/* dst (row_size(type, n) bytes) = src[n] quantized. */
enum joule_status joule_quant_quantize_row_ref(uint32_t type, const float *src, void *dst,
                                               int64_t n);

/* *out = dot(w, a) where w is a row of `type` and a a row of
 * traits(type)->vec_dot_type, both of n elements. */
enum joule_status joule_quant_vec_dot_ref(uint32_t type, int64_t n, const void *w, const void *a,
                                          float *out);

/* ---------------------------------------------------------------------------
 * Per-type reference kernels.  k / n: elements, a multiple of the block size
 * (asserted).  x and y are borrowed for the call and must not overlap.
 * Quantizers of Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 and Q8_K give the same
 * bytes as ggml's reference quantizers; those of the K-quants Q4_K, Q5_K and
 * Q6_K are joule's own (same layout, see docs/internals/quant.md).
 */
void joule_quantize_row_f16_ref(const float *x, uint16_t *y, int64_t k);
void joule_dequantize_row_f16_ref(const uint16_t *x, float *y, int64_t k);
void joule_quantize_row_bf16_ref(const float *x, uint16_t *y, int64_t k);
void joule_dequantize_row_bf16_ref(const uint16_t *x, float *y, int64_t k);

void joule_quantize_row_q4_0_ref(const float *x, struct joule_block_q4_0 *y, int64_t k);
void joule_dequantize_row_q4_0_ref(const struct joule_block_q4_0 *x, float *y, int64_t k);
void joule_quantize_row_q4_1_ref(const float *x, struct joule_block_q4_1 *y, int64_t k);
void joule_dequantize_row_q4_1_ref(const struct joule_block_q4_1 *x, float *y, int64_t k);
void joule_quantize_row_q5_0_ref(const float *x, struct joule_block_q5_0 *y, int64_t k);
void joule_dequantize_row_q5_0_ref(const struct joule_block_q5_0 *x, float *y, int64_t k);
void joule_quantize_row_q5_1_ref(const float *x, struct joule_block_q5_1 *y, int64_t k);
void joule_dequantize_row_q5_1_ref(const struct joule_block_q5_1 *x, float *y, int64_t k);
void joule_quantize_row_q8_0_ref(const float *x, struct joule_block_q8_0 *y, int64_t k);
void joule_dequantize_row_q8_0_ref(const struct joule_block_q8_0 *x, float *y, int64_t k);
/* Q8_0 blocks sharing one scale per row (LLM.int8's vector-wise
 * quantization); skip (may be NULL) marks elements left out as 0. */
void joule_quantize_row_q8_0_vectorwise_ref(const float *x, struct joule_block_q8_0 *y,
                                            int64_t k, const uint8_t *skip);
void joule_quantize_row_q8_1_ref(const float *x, struct joule_block_q8_1 *y, int64_t k);
void joule_dequantize_row_q8_1_ref(const struct joule_block_q8_1 *x, float *y, int64_t k);
void joule_quantize_row_q4_k_ref(const float *x, struct joule_block_q4_k *y, int64_t k);
void joule_dequantize_row_q4_k_ref(const struct joule_block_q4_k *x, float *y, int64_t k);
void joule_quantize_row_q5_k_ref(const float *x, struct joule_block_q5_k *y, int64_t k);
void joule_dequantize_row_q5_k_ref(const struct joule_block_q5_k *x, float *y, int64_t k);
void joule_quantize_row_q6_k_ref(const float *x, struct joule_block_q6_k *y, int64_t k);
void joule_dequantize_row_q6_k_ref(const struct joule_block_q6_k *x, float *y, int64_t k);
void joule_quantize_row_q8_k_ref(const float *x, struct joule_block_q8_k *y, int64_t k);
void joule_dequantize_row_q8_k_ref(const struct joule_block_q8_k *x, float *y, int64_t k);

/* Dot products, weight row x activation row, as llama.cpp pairs them:
 * F32/F16/BF16 with F32 (accumulated in double), Q4_0/Q5_0/Q8_0 with Q8_0,
 * Q4_1/Q5_1 with Q8_1, Q4_K/Q5_K/Q6_K (and Q8_K) with Q8_K.  Integer
 * products are summed exactly per block; returns the dot product. */
float joule_vec_dot_f32_ref(int64_t n, const float *x, const float *y);
float joule_vec_dot_f16_ref(int64_t n, const uint16_t *x, const float *y);
float joule_vec_dot_bf16_ref(int64_t n, const uint16_t *x, const float *y);
float joule_vec_dot_q4_0_q8_0_ref(int64_t n, const struct joule_block_q4_0 *x,
                                  const struct joule_block_q8_0 *y);
float joule_vec_dot_q4_1_q8_1_ref(int64_t n, const struct joule_block_q4_1 *x,
                                  const struct joule_block_q8_1 *y);
float joule_vec_dot_q5_0_q8_0_ref(int64_t n, const struct joule_block_q5_0 *x,
                                  const struct joule_block_q8_0 *y);
float joule_vec_dot_q5_1_q8_1_ref(int64_t n, const struct joule_block_q5_1 *x,
                                  const struct joule_block_q8_1 *y);
float joule_vec_dot_q8_0_q8_0_ref(int64_t n, const struct joule_block_q8_0 *x,
                                  const struct joule_block_q8_0 *y);
float joule_vec_dot_q4_k_q8_k_ref(int64_t n, const struct joule_block_q4_k *x,
                                  const struct joule_block_q8_k *y);
float joule_vec_dot_q5_k_q8_k_ref(int64_t n, const struct joule_block_q5_k *x,
                                  const struct joule_block_q8_k *y);
float joule_vec_dot_q6_k_q8_k_ref(int64_t n, const struct joule_block_q6_k *x,
                                  const struct joule_block_q8_k *y);
float joule_vec_dot_q8_k_q8_k_ref(int64_t n, const struct joule_block_q8_k *x,
                                  const struct joule_block_q8_k *y);

/* Unpack sub-block j (0..7) of a Q4_K/Q5_K scales[12] into a 6-bit scale
 * and min.  `q` is borrowed for the call. */
void joule_quant_get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *mn);

#endif /* JOULE_MODEL_QUANT_H */
