/*
 * recipe.c - which tensor gets which type, and encoding rows on threads.
 */
#include "model_int.h"

#include "joule_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct model_ftype ftypes[] = {
    {"f32", JOULE_QUANT_F32, 0, false, false},
    {"f16", JOULE_QUANT_F16, 1, false, false},
    {"bf16", JOULE_QUANT_BF16, 32, false, false},
    {"q8_0", JOULE_QUANT_Q8_0, 7, false, false},
    {"q4_0", JOULE_QUANT_Q4_0, 2, false, false},
    {"q4_k_m", JOULE_QUANT_Q4_K, 15, true, false},
    {"q6_k", JOULE_QUANT_Q6_K, 18, false, false},
    /* LLM.int8 (bitsandbytes' load_in_8bit): every linear layer INT8 with
     * one absmax scale per output row, stored as Q8_0 blocks that share it
     * (so llama.cpp reads the file as Q8_0); embeddings and the output
     * layer stay 16-bit, as transformers leaves lm_head unquantized. */
    {"int8", JOULE_QUANT_Q8_0, 7, false, true},
};

enum joule_status model_ftype_from_name(const char *name, struct model_ftype *out)
{
    for (size_t i = 0; name && i < JOULE_ARRAY_LEN(ftypes); i++) {
        if (strcasecmp(name, ftypes[i].name) == 0) {
            *out = ftypes[i];
            return JOULE_OK;
        }
    }
    return JOULE_ERR_NOT_FOUND;
}

const char *model_ftype_names(void)
{
    return "f32, f16, bf16, q8_0, q4_0, q4_k_m, q6_k, int8";
}

static bool is_float(enum joule_quant_type t)
{
    return t == JOULE_QUANT_F32 || t == JOULE_QUANT_F16 || t == JOULE_QUANT_BF16;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Block index of "blk.N.*", or -1. */
static int64_t layer_of(const char *name)
{
    if (strncmp(name, "blk.", 4) != 0)
        return -1;
    char *end;
    long long v = strtoll(name + 4, &end, 10);
    return end != name + 4 && *end == '.' && v >= 0 ? (int64_t)v : -1;
}

/* llama.cpp's use_more_bits: the first and last eighth of the blocks and
 * every third one between get more bits. */
static bool more_bits(int64_t i, int64_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

enum joule_quant_type model_tensor_type(const struct model_ftype *ft, const char *name,
                                        uint32_t n_dims, int64_t ne0, int64_t n_layer,
                                        bool has_output)
{
    if (n_dims < 2)
        return JOULE_QUANT_F32; /* norms and biases */
    enum joule_quant_type t = ft->base;
    bool is_output = strcmp(name, "output.weight") == 0 ||
                     (!has_output && strcmp(name, "token_embd.weight") == 0);
    if (ft->int8 && (is_output || strcmp(name, "token_embd.weight") == 0 ||
                     strcmp(name, "output.weight") == 0)) {
        t = JOULE_QUANT_F16;
    } else if (is_output) {
        if (!is_float(t) && t != JOULE_QUANT_Q8_0)
            t = JOULE_QUANT_Q6_K;
    } else if (ft->k_mixed) {
        int64_t layer = layer_of(name);
        if ((ends_with(name, "attn_v.weight") || ends_with(name, "ffn_down.weight")) &&
            layer >= 0 && more_bits(layer, n_layer))
            t = JOULE_QUANT_Q6_K;
        else if (ends_with(name, "attn_qkv.weight"))
            t = JOULE_QUANT_Q5_K;
    }
    /* K-quants need rows of whole 256-element super-blocks. */
    if (ne0 % JOULE_QK_K != 0) {
        if (t == JOULE_QUANT_Q4_K)
            t = JOULE_QUANT_Q5_0;
        else if (t == JOULE_QUANT_Q5_K)
            t = JOULE_QUANT_Q5_1;
        else if (t == JOULE_QUANT_Q6_K)
            t = JOULE_QUANT_Q8_0;
    }
    const struct joule_quant_traits *tr = joule_quant_traits(t);
    if (!tr || ne0 % (int64_t)tr->block_size != 0)
        t = JOULE_QUANT_F32;
    return t;
}

struct encode_job {
    const struct model_encoder *e;
    int64_t first, n;
    uint8_t *dst;
    enum joule_status st;
};

static void *encode_slice(void *arg)
{
    struct encode_job *j = arg;
    const struct model_encoder *e = j->e;
    float *row = malloc((size_t)e->ne0 * sizeof(float) + 1);
    if (!row) {
        j->st = JOULE_ERR_NOMEM;
        return NULL;
    }
    j->st = JOULE_OK;
    for (int64_t r = 0; r < j->n && j->st == JOULE_OK; r++) {
        e->fill(e->ctx, j->first + r, row);
        uint8_t *dst = j->dst + (size_t)r * e->row_bytes;
        if (e->vectorwise && e->type == JOULE_QUANT_Q8_0)
            joule_quantize_row_q8_0_vectorwise_ref(row, (struct joule_block_q8_0 *)dst, e->ne0,
                                                   NULL);
        else
            j->st = joule_quant_quantize_row_ref(e->type, row, dst, e->ne0);
    }
    free(row);
    return NULL;
}

#define MAX_ENCODE_THREADS 64

enum joule_status model_encode_rows(void *ctx, int64_t first_row, int64_t n_rows, void *dst)
{
    const struct model_encoder *e = ctx;
    int64_t nt = e->n_threads ? e->n_threads : 1;
    if (nt > MAX_ENCODE_THREADS)
        nt = MAX_ENCODE_THREADS;
    if (nt > n_rows)
        nt = n_rows > 0 ? n_rows : 1;
    struct encode_job jobs[MAX_ENCODE_THREADS];
    pthread_t tid[MAX_ENCODE_THREADS];
    bool started[MAX_ENCODE_THREADS] = {false};
    int64_t per = n_rows / nt, extra = n_rows % nt, at = 0;
    for (int64_t k = 0; k < nt; k++) {
        int64_t n = per + (k < extra ? 1 : 0);
        jobs[k] = (struct encode_job){e, first_row + at, n, (uint8_t *)dst + (size_t)at * e->row_bytes,
                                      JOULE_OK};
        at += n;
    }
    /* Slices 1.. on threads; slice 0 (and any thread that fails to start)
     * on the caller's thread. */
    for (int64_t k = 1; k < nt; k++)
        started[k] = pthread_create(&tid[k], NULL, encode_slice, &jobs[k]) == 0;
    encode_slice(&jobs[0]);
    enum joule_status st = jobs[0].st;
    for (int64_t k = 1; k < nt; k++) {
        if (started[k])
            pthread_join(tid[k], NULL);
        else
            encode_slice(&jobs[k]);
        if (st == JOULE_OK)
            st = jobs[k].st;
    }
    return st;
}
