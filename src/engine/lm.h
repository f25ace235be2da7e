/*
 * lm.h - a decoder-only language model read from an open GGUF file:
 * hyper-parameters and weight views (architectures llama, qwen2, phi3),
 * a KV cache, a scalar reference forward pass and greedy generation.
 *
 * (The header is lm.h, not model.h: src/model/model.h is the model
 * module's API and both folders are on the include path.)
 *
 * Loading (lm_load.c) checks every tensor the architecture needs: its
 * presence, element type and exact shape, and names the tensor and the
 * expected shape in the message when one is wrong.  Weights are views into
 * the GGUF mapping, except matrices re-laid for the packed tiles (pack.h),
 * which move to a buffer of the model's own.
 *
 * The forward pass (forward.c) runs a batch of tokens from any number of
 * sequences at once, in F32 activations, with the matrix products done by
 * the kernels of kernels.h the way llama.cpp pairs them (activations
 * quantized to Q8_0 / Q8_1 / Q8_K for quantized weights, rounded to F16 /
 * BF16 for F16 / BF16 weights), spread over the threads of a pool.
 * See docs/internals/engine.md.
 *
 * Threads: a loaded struct joule_lm is immutable and may be shared; a
 * struct joule_lm_ctx (KV cache and scratch) is driven by one thread at a
 * time, which lends the work to its pool.
 */
#ifndef JOULE_ENGINE_LM_H
#define JOULE_ENGINE_LM_H

#include "joule.h"
#include "model.h"
#include "vocab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest dimension (n_embd, n_ff, heads, vocab, context) accepted, so that
 * every product of two of them fits in int64 and every buffer size is sane. */
#define JOULE_LM_MAX_DIM (1 << 24)

enum joule_lm_arch {
    JOULE_LM_ARCH_LLAMA = 1,
    JOULE_LM_ARCH_QWEN2 = 2,
    JOULE_LM_ARCH_PHI3 = 3,
};

/* How RoPE pairs the elements of a head. */
enum joule_lm_rope {
    JOULE_LM_ROPE_NORM = 0, /* adjacent pairs (2i, 2i + 1): llama */
    JOULE_LM_ROPE_NEOX = 1, /* pairs (i, i + n_rot / 2): qwen2, phi3 */
};

/* Hyper-parameters, from the "<arch>.*" keys and the tensor shapes. */
struct joule_lm_hparams {
    enum joule_lm_arch arch;
    enum joule_lm_rope rope_type;
    int32_t n_embd;       /* d: width of the residual stream */
    int32_t n_layer;
    int32_t n_head;       /* query heads */
    int32_t n_head_kv;    /* key/value heads; n_head is a multiple of it */
    int32_t head_dim;     /* elements per head (attention.key_length or d / n_head) */
    int32_t n_ff;         /* f: FFN hidden width */
    int32_t n_vocab;      /* V: rows of token_embd */
    int32_t n_ctx_train;  /* context_length */
    int32_t n_rot;        /* rope.dimension_count: leading elements of a head rotated */
    int32_t n_ctx_orig;   /* phi3 rope.scaling.original_context_length, else n_ctx_train */
    float rope_freq_base; /* theta base */
    float rms_eps;        /* attention.layer_norm_rms_epsilon */
};

/* Weights of one block.  Views borrowed from the GGUF reader; NULL when the
 * architecture does not have the tensor. */
struct joule_lm_layer {
    const struct joule_gguf_tensor *attn_norm; /* [d] F32 */
    const struct joule_gguf_tensor *wq;        /* [d, q_dim] (llama, qwen2) */
    const struct joule_gguf_tensor *wk;        /* [d, kv_dim] */
    const struct joule_gguf_tensor *wv;        /* [d, kv_dim] */
    const struct joule_gguf_tensor *wqkv;      /* [d, q_dim + 2 kv_dim] (phi3) */
    const struct joule_gguf_tensor *bq;        /* [q_dim] F32 (qwen2) */
    const struct joule_gguf_tensor *bk;        /* [kv_dim] F32 (qwen2) */
    const struct joule_gguf_tensor *bv;        /* [kv_dim] F32 (qwen2) */
    const struct joule_gguf_tensor *wo;        /* [q_dim, d] */
    const struct joule_gguf_tensor *ffn_norm;  /* [d] F32 */
    const struct joule_gguf_tensor *w_gate;    /* [d, f] (llama, qwen2) */
    const struct joule_gguf_tensor *w_up;      /* [d, f], phi3: [d, 2f] = gate rows then up rows */
    const struct joule_gguf_tensor *w_down;    /* [f, d] */
};

/* A loaded model.  Fields are read-only for users. */
struct joule_lm {
    const struct joule_gguf *g;                  /* borrowed: must outlive the model */
    struct joule_lm_hparams hp;
    const struct joule_gguf_tensor *tok_embd;    /* [d, V] */
    const struct joule_gguf_tensor *output_norm; /* [d] F32 */
    const struct joule_gguf_tensor *output;      /* [d, V]; == tok_embd when tied */
    bool tied;                                   /* no output.weight in the file */
    const struct joule_gguf_tensor *rope_short;  /* phi3 rope_factors_short.weight [n_rot/2] or NULL */
    const struct joule_gguf_tensor *rope_long;   /* phi3 rope_factors_long.weight [n_rot/2] or NULL */
    struct joule_lm_layer *layers;               /* [n_layer], owned */
    /* Matrices re-laid for the packed tiles (pack.h): views like the
     * others, their data in pack_buf; the layer and output pointers of
     * those matrices point here. */
    struct joule_gguf_tensor *packed;            /* [n_packed], owned */
    int32_t n_packed;
    void *pack_buf;                              /* anonymous mapping */
    size_t pack_bytes;
};

/* Flags of joule_lm_load_ex. */
#define JOULE_LM_NO_REPACK 1u /* keep every matrix row-major as in the file */

/* "llama", "qwen2", "phi3"; "unknown" otherwise.  Static string. */
const char *joule_lm_arch_name(enum joule_lm_arch arch);

/*
 * Reads the hyper-parameters and weight views of the model in g.
 *
 * g is borrowed and must stay open until joule_lm_free(*out): the weights
 * are views into its mapping.  On success *out is a new model (release
 * with joule_lm_free).  On failure *out is NULL and err[err_size] says
 * what is wrong: JOULE_ERR_UNSUPPORTED (an architecture other than llama,
 * qwen2, phi3, a per-layer array hyper-parameter, a weight type without
 * kernels), JOULE_ERR_FORMAT (a missing or malformed key, a missing
 * tensor, a tensor of the wrong type or shape: "tensor
 * 'blk.0.attn_k.weight' has shape [256, 256] (expected [256, 128])"),
 * JOULE_ERR_NOMEM.
 */
enum joule_status joule_lm_load(const struct joule_gguf *g, struct joule_lm **out, char *err,
                                size_t err_size);

/*
 * joule_lm_load with flags.  Without JOULE_LM_NO_REPACK (joule_lm_load),
 * every matrix of a type the CPU's best kernels read packed (kernels.h,
 * pack_fast) is copied into the packed layout of pack.h, and when g maps a
 * file its source pages are dropped from memory, so packing costs no
 * memory and the model stays as large as the file.  Packed or not, every
 * ISA level computes the same products (the packed tiles have twins).
 */
enum joule_status joule_lm_load_ex(const struct joule_gguf *g, unsigned flags,
                                   struct joule_lm **out, char *err, size_t err_size);

/* Rows of w stored packed (a multiple of 16; the rest row-major), 0 when
 * w is not one of m's packed matrices. */
int64_t joule_lm_packed_rows(const struct joule_lm *m, const struct joule_gguf_tensor *w);

/* Releases the model (not the GGUF reader).  NULL is a no-op. */
void joule_lm_free(struct joule_lm *m);

/* ---------------------------------------------------------------------------
 * Run state: a KV cache of n_seq sequences and the scratch of a batch.
 */

/* Element type of the KV cache. */
enum joule_lm_kv_type {
    JOULE_LM_KV_F32 = 0, /* exact; twice the memory */
    JOULE_LM_KV_F16 = 1, /* the default, as llama.cpp */
};

struct joule_pool;
struct joule_lm_ctx; /* opaque */

struct joule_lm_ctx_params {
    int32_t n_ctx;                 /* positions each sequence can hold */
    int32_t n_seq;                 /* sequences (cache slots) */
    int32_t n_batch;               /* tokens one joule_lm_forward may carry */
    enum joule_lm_kv_type kv_type;
    int isa;                       /* highest enum joule_isa to use (kernels.h) */
    struct joule_pool *pool;       /* borrowed; NULL: the calling thread alone */
    /* >= 0: Q8_0 products in LLM.int8 mode (int8.h), activation columns
     * with a magnitude >= this multiplied in floating point, 0 meaning
     * pure INT8; < 0 (default): off, activations meet Q8_0 weights as
     * Q8_0 blocks, as llama.cpp does. */
    float int8_threshold;
};

/* Defaults: n_ctx 512, n_seq 1, n_batch 512, F16 cache, the best ISA the
 * CPU has, no pool, int8 mode off. */
void joule_lm_ctx_params_init(struct joule_lm_ctx_params *p);

/*
 * A run state for model m.  m and p->pool are borrowed and must outlive
 * the state.  On success *out is a new state with every sequence empty
 * (release with joule_lm_ctx_free).  On failure *out is NULL:
 * JOULE_ERR_INVALID (a size out of range, too large a cache),
 * JOULE_ERR_NOMEM; the message is in err[err_size].
 */
enum joule_status joule_lm_ctx_open(const struct joule_lm *m,
                                    const struct joule_lm_ctx_params *p,
                                    struct joule_lm_ctx **out, char *err, size_t err_size);

/* Releases the state.  NULL is a no-op. */
void joule_lm_ctx_free(struct joule_lm_ctx *c);

/* Empties every sequence. */
void joule_lm_ctx_reset(struct joule_lm_ctx *c);

/* Empties sequence seq (0 .. n_seq - 1): its next token is at position 0. */
void joule_lm_seq_reset(struct joule_lm_ctx *c, int32_t seq);

/* Positions held by sequence seq (the position of its next token). */
int32_t joule_lm_seq_len(const struct joule_lm_ctx *c, int32_t seq);

/* The sizes the state was opened with. */
int32_t joule_lm_ctx_n_ctx(const struct joule_lm_ctx *c);
int32_t joule_lm_ctx_n_seq(const struct joule_lm_ctx *c);
int32_t joule_lm_ctx_n_batch(const struct joule_lm_ctx *c);

/* Bytes of the KV cache and of the scratch buffers. */
size_t joule_lm_ctx_bytes(const struct joule_lm_ctx *c);

/* Name of the kernel level in use ("avx512", "avx2", "scalar"). */
const char *joule_lm_ctx_isa(const struct joule_lm_ctx *c);

/* The int8 mode's counters since c was opened: input columns of its INT8
 * products, and how many of them were outliers (both 0 when it is off). */
void joule_lm_ctx_int8_stats(const struct joule_lm_ctx *c, int64_t *columns, int64_t *outliers);

/* The model c runs (borrowed, as given to joule_lm_ctx_open). */
const struct joule_lm *joule_lm_ctx_model(const struct joule_lm_ctx *c);

/*
 * A batch: n tokens, each appended to its sequence.  Tokens of one
 * sequence come in order and continue it: the first at
 * joule_lm_seq_len(seq), the next one after it, and so on.  A token sees
 * its own sequence only (positions 0 .. its own), so independent sequences
 * of any lengths share one forward pass and one read of the weights.
 */
struct joule_lm_batch {
    int32_t n;              /* tokens, 1 .. n_batch */
    const int32_t *token;   /* [n] ids */
    const int32_t *seq;     /* [n] sequence of each token */
    const uint8_t *logits;  /* [n] non-zero: compute this token's logits; NULL: the last only */
};

/*
 * Runs a batch.  JOULE_ERR_INVALID when a token id, a sequence index or the
 * size is out of range or a sequence would overflow n_ctx: nothing has
 * changed then.  JOULE_ERR_FORMAT if a kernel rejects a tensor (cannot
 * happen for a model that loaded).  The message is in err[err_size].
 */
enum joule_status joule_lm_forward(struct joule_lm_ctx *c, const struct joule_lm_batch *b,
                                   char *err, size_t err_size);

/* The logits [n_vocab] of token i of the last batch, or NULL when they were
 * not asked for.  Borrowed from c: overwritten by the next forward. */
const float *joule_lm_logits(const struct joule_lm_ctx *c, int32_t i);

/* The logits of the last token of the last forward that computed any. */
const float *joule_lm_ctx_logits(const struct joule_lm_ctx *c);

/* One token of sequence 0, for the single-sequence callers and tests:
 * errors as joule_lm_forward (without the message). */
enum joule_status joule_lm_decode(struct joule_lm_ctx *c, int32_t token, bool want_logits);

/*
 * Runs tokens[0 .. n) on sequence 0 in batches of n_batch, computing the
 * logits of the last one only.  On error the batches before the bad one
 * stay in the cache.
 */
enum joule_status joule_lm_prefill(struct joule_lm_ctx *c, const int32_t *tokens, size_t n);

/* ---------------------------------------------------------------------------
 * Greedy generation (generate.c)
 */

/* Index of the largest logit, the lowest on ties; n >= 1. */
int32_t joule_lm_argmax(const float *logits, int32_t n);

/* Called after each generation step with the logits [n_vocab] that chose
 * `token` (borrowed for the call). */
typedef void (*joule_lm_step_fn)(void *user, int32_t step, const float *logits,
                                 int32_t n_vocab, int32_t token);

struct joule_lm_generate_params {
    int32_t n_predict;       /* tokens to generate at most (>= 0) */
    unsigned tokenize_flags; /* default JOULE_TOKENIZE_ADD_SPECIAL | JOULE_TOKENIZE_PARSE_SPECIAL */
    joule_lm_step_fn on_step; /* may be NULL */
    void *user;              /* passed to on_step */
};

/* Defaults: n_predict 16, add_special + parse_special, no callback. */
void joule_lm_generate_params_init(struct joule_lm_generate_params *p);

/*
 * Greedy generation from an empty cache: tokenizes prompt[0 .. len) with v,
 * prefills it, then generates up to p->n_predict tokens by argmax, stopping
 * after the vocabulary's EOS.  The prompt ids go to prompt_ids[0 ..
 * prompt_cap) with their count in *n_prompt, the generated ids to
 * out[0 .. out_cap) (out_cap >= n_predict) with their count in *n_out.
 * c's cache is reset first and holds the prompt and the generated tokens
 * (but the last) afterwards.  All pointers are borrowed for the call.
 * JOULE_ERR_INVALID: an empty prompt after tokenizing, a buffer too small
 * (*n_prompt says how many ids were needed), a prompt plus generation
 * longer than the cache; plus what joule_tokenize and joule_lm_decode
 * return.  The message is in err[err_size].
 */
enum joule_status joule_lm_generate(struct joule_lm_ctx *c, const struct joule_vocab *v,
                                    const char *prompt, size_t len,
                                    const struct joule_lm_generate_params *p,
                                    int32_t *prompt_ids, size_t prompt_cap, size_t *n_prompt,
                                    int32_t *out, size_t out_cap, size_t *n_out, char *err,
                                    size_t err_size);

#endif /* JOULE_ENGINE_LM_H */
