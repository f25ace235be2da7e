/*
 * model_int.h - private to src/model: the type recipe shared by synth and
 * quantize, and the threaded row encoder both feed to the GGUF writer.
 */
#ifndef JOULE_MODEL_INT_H
#define JOULE_MODEL_INT_H

#include "model.h"

#include <stdbool.h>
#include <stdint.h>

/* A target file type: "q4_k_m" is Q4_K with some tensors in Q6_K / Q5_K. */
struct model_ftype {
    const char *name;            /* "q4_k_m" (static) */
    enum joule_quant_type base;  /* Q4_K for q4_k_m */
    uint32_t file_type;          /* llama.cpp's general.file_type */
    bool k_mixed;                /* the Q4_K_M recipe */
    bool int8;                   /* LLM.int8 weights: vector-wise Q8_0 matrices,
                                    F16 token embedding and output */
};

/* The file type named `name` (case-insensitive).  JOULE_ERR_NOT_FOUND. */
enum joule_status model_ftype_from_name(const char *name, struct model_ftype *out);

/* Names of every file type, ", "-separated, for messages.  Static. */
const char *model_ftype_names(void);

/* The type tensor `name` of n_dims dimensions and rows of ne0 elements gets
 * in a file of type ft, for a model of n_layer blocks with (has_output) or
 * without a separate output.weight.  See docs/cli/joule-quantize.md. */
enum joule_quant_type model_tensor_type(const struct model_ftype *ft, const char *name,
                                        uint32_t n_dims, int64_t ne0, int64_t n_layer,
                                        bool has_output);

/* Fills out[ne0] with the f32 values of row `row` (any thread). */
typedef void (*model_row_fn)(void *ctx, int64_t row, float *out);

/* Encodes rows made by `fill` as `type`, on n_threads threads. */
struct model_encoder {
    enum joule_quant_type type;
    int64_t ne0;
    size_t row_bytes;
    uint32_t n_threads;
    bool vectorwise;             /* Q8_0 with one scale per row (int8) */
    model_row_fn fill;
    void *ctx;
};

/* A joule_gguf_produce_fn; ctx is a struct model_encoder. */
enum joule_status model_encode_rows(void *ctx, int64_t first_row, int64_t n_rows, void *dst);

#endif /* JOULE_MODEL_INT_H */
