/*
 * forward.c - the forward pass: a batch of tokens from any number of
 * sequences, F32 activations, a KV cache in F16 (default) or F32, matrix
 * products on the kernels of kernels.h spread over a thread pool.
 *
 * It computes what llama.cpp's CPU graph computes for llama, qwen2 and
 * phi3 (ggml's rms_norm, rope, soft_max and mul_mat), op for op, so greedy
 * outputs agree:
 *  - every weight matrix product converts the activation to the type
 *    llama.cpp pairs with the weight (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for
 *    Q4_1/Q5_1, Q8_K for the K-quants, F16/BF16 for F16/BF16), except in
 *    the int8 mode, where Q8_0 products follow LLM.int8 (int8.h);
 *  - RoPE angles are built as ggml builds them (theta *= base^(-2/n_rot)
 *    per pair, in float);
 *  - phi3 scales Q by 1/sqrt(head_dim) before Q.K instead of scaling the
 *    scores, as llama.cpp's phi3 graph does;
 *  - with an F16 cache, Q is rounded to F16 before Q.K, as ggml does when
 *    K is F16.
 *
 * Batching: the weights of each layer are read once per batch and applied
 * to every token of it (kernels.h's tile primitive), whatever sequence the
 * token belongs to; only attention looks at a token's own sequence.
 * See docs/internals/engine.md.
 */
#include "lm.h"

#include "alloc.h"
#include "int8.h"
#include "joule_int.h"
#include "kernels.h"
#include "pool.h"

#include <cblas.h>
#include <pthread.h>
#include <math.h>
#include <stdatomic.h>

/* F32 weights meeting at least this many tokens go to OpenBLAS's sgemm
 * (prompt processing); fewer stay on the tile kernels, which stream the
 * weights once for the whole batch. */
#define BLAS_MIN_TOKENS 32

/* Query heads whose attention runs side by side (heads_f16). */
#define ATTN_HEADS 8

struct joule_lm_ctx {
    const struct joule_lm *m;
    struct joule_lm_ctx_params p;
    struct joule_kernels k;
    int nth;                    /* threads of the pool (1 without one) */
    int32_t *seq_len;           /* [n_seq] positions filled */
    size_t kv_elt;              /* bytes per cache element: 2 (F16) or 4 */
    uint8_t *k_cache;           /* [n_layer][n_seq][n_ctx][kv_dim] */
    uint8_t *v_cache;           /* same */
    size_t cache_bytes;
    size_t scratch_bytes;
    /* Scratch for a batch of up to n_batch tokens, one row per token. */
    float *x;                   /* [n_batch][d] residual stream */
    float *xn;                  /* [n_batch][d] normed input of a sub-layer */
    float *qkv;                 /* [n_batch][q_dim + 2 kv_dim] */
    float *att;                 /* [n_batch][q_dim] attention output */
    float *proj;                /* [n_batch][d] sub-layer output */
    float *ff;                  /* [n_batch][2 f] gate, then up */
    float *hid;                 /* [n_batch][f] silu(gate) * up */
    float *rope;                /* [n_batch][n_rot] cos, sin of each pair */
    int32_t *pos;               /* [n_batch] position of each token */
    int32_t *seq;               /* [n_batch] sequence of each token */
    int32_t *out_row;           /* [n_batch] row in logits, or -1 */
    int32_t *out_tok;           /* [n_batch] batch index of each logits row */
    uint8_t *act;               /* [n_batch][act_stride] activations in a weight's vec_dot type */
    size_t act_stride;
    const float *act_src;       /* what act holds: rows of this buffer ... */
    int act_type;               /* ... converted to this type (-1: nothing) */
    float *scores;              /* [nth][n_ctx] attention weights of one head */
    uint16_t *q16;              /* [nth][ATTN_HEADS][head_dim] queries rounded to F16 */
    uint16_t *acc16;            /* [nth][ATTN_HEADS][head_dim] flash attention's F16 sums */
    float *logits;              /* [logits_cap][n_vocab], grown on demand */
    int32_t logits_cap;
    int32_t n_out;              /* logits rows of the last batch */
    int32_t last_out;           /* row of the last token with logits, or -1 */
    bool int8;                  /* Q8_0 products in LLM.int8 mode */
    struct joule_int8 i8;       /* its scratch and counters */
    void *block;                /* the one allocation the scratch points into */
};

/* ---------------------------------------------------------------------------
 * Allocation: one block, carved into aligned arrays.
 */

struct carve {
    size_t off;  /* bytes so far */
    bool ok;     /* no overflow */
};

/* Reserve n elements of size bytes, 64-byte aligned; returns the offset. */
static size_t carve_take(struct carve *cv, size_t n, size_t size)
{
    size_t bytes, start, end;
    if (!cv->ok || !joule_mul_size(n, size, &bytes) || !joule_add_size(cv->off, 63, &start)) {
        cv->ok = false;
        return 0;
    }
    start &= ~(size_t)63;
    if (!joule_add_size(start, bytes, &end)) {
        cv->ok = false;
        return 0;
    }
    cv->off = end;
    return start;
}

void joule_lm_ctx_params_init(struct joule_lm_ctx_params *p)
{
    p->n_ctx = 512;
    p->n_seq = 1;
    p->n_batch = 512;
    p->kv_type = JOULE_LM_KV_F16;
    p->isa = JOULE_ISA_AVX512;
    p->pool = NULL;
    p->int8_threshold = -1.0f;
}

/* Checks that matrix w has a kernel and widens *act_row (bytes) to its
 * activation row. */
static enum joule_status check_matrix(const struct joule_gguf_tensor *w,
                                      const struct joule_kernels *k, size_t *act_row, char *err,
                                      size_t err_size)
{
    size_t bytes;
    if (!w)
        return JOULE_OK;
    if (w->type >= JOULE_QUANT_ID_LIMIT || !k->tile[w->type] ||
        !k->act[joule_kernels_act_type(w->type)] ||
        !joule_kernels_act_row_size(w->type, w->ne[0], &bytes)) {
        joule_fmt(err, err_size, "tensor '%s': no %s kernel for type %s", w->name,
                  joule_isa_name(k->isa), joule_quant_name(w->type));
        return JOULE_ERR_UNSUPPORTED;
    }
    if (bytes > *act_row)
        *act_row = bytes;
    return JOULE_OK;
}

/* Checks every matrix of m and finds the widest activation row any needs
 * (the activation rows' stride). */
static enum joule_status check_kernels(const struct joule_lm *m, const struct joule_kernels *k,
                                       size_t *act_row, char *err, size_t err_size)
{
    *act_row = 0;
    enum joule_status st = check_matrix(m->output, k, act_row, err, err_size);
    for (int32_t il = 0; il < m->hp.n_layer && st == JOULE_OK; il++) {
        const struct joule_lm_layer *L = &m->layers[il];
        const struct joule_gguf_tensor *mats[] = {L->wq, L->wk, L->wv, L->wqkv,
                                                  L->wo, L->w_gate, L->w_up, L->w_down};
        for (size_t i = 0; i < JOULE_ARRAY_LEN(mats) && st == JOULE_OK; i++)
            st = check_matrix(mats[i], k, act_row, err, err_size);
    }
    *act_row = (*act_row + 63) & ~(size_t)63;
    /* A tile reads the same element of up to 16 activation rows at once.
     * Rows a multiple of 4 KB apart fall in one set of the L1 cache (8
     * ways): they evict each other, and the F16 tile at 16 columns lost a
     * fifth of its speed (92 against 112 GFLOP/s).  One line more apart
     * spreads them over the sets. */
    if (*act_row % 4096 == 0)
        *act_row += 64;
    return st;
}

/* Whether any matrix of m is Q8_0 (what the int8 mode works on). */
static bool has_q8_0(const struct joule_lm *m)
{
    if (m->output->type == JOULE_QUANT_Q8_0)
        return true;
    for (int32_t il = 0; il < m->hp.n_layer; il++) {
        const struct joule_lm_layer *L = &m->layers[il];
        const struct joule_gguf_tensor *mats[] = {L->wq, L->wk, L->wv, L->wqkv,
                                                  L->wo, L->w_gate, L->w_up, L->w_down};
        for (size_t i = 0; i < JOULE_ARRAY_LEN(mats); i++)
            if (mats[i] && mats[i]->type == JOULE_QUANT_Q8_0)
                return true;
    }
    return false;
}

enum joule_status joule_lm_ctx_open(const struct joule_lm *m,
                                    const struct joule_lm_ctx_params *p,
                                    struct joule_lm_ctx **out, char *err, size_t err_size)
{
    JOULE_ASSERT(m && p && out);
    *out = NULL;
    if (p->n_ctx < 1 || p->n_ctx > JOULE_LM_MAX_DIM || p->n_seq < 1 || p->n_seq > 4096 ||
        p->n_batch < 1 || p->n_batch > 65536) {
        joule_fmt(err, err_size,
                  "n_ctx %d, n_seq %d or n_batch %d is out of range (1..%d, 1..4096, 1..65536)",
                  p->n_ctx, p->n_seq, p->n_batch, JOULE_LM_MAX_DIM);
        return JOULE_ERR_INVALID;
    }
    if (p->kv_type != JOULE_LM_KV_F32 && p->kv_type != JOULE_LM_KV_F16) {
        joule_fmt(err, err_size, "unknown KV cache type %d", (int)p->kv_type);
        return JOULE_ERR_INVALID;
    }
    /* OpenBLAS must not start threads of its own (pool.h). */
    openblas_set_num_threads(1);
    struct joule_kernels k;
    int isa = p->isa < JOULE_ISA_SCALAR ? JOULE_ISA_SCALAR : p->isa;
    joule_kernels_select(&k, (enum joule_isa)(isa > JOULE_ISA_AVX512 ? JOULE_ISA_AVX512 : isa));
    size_t act_row;
    enum joule_status st = check_kernels(m, &k, &act_row, err, err_size);
    if (st != JOULE_OK)
        return st;
    const bool int8 = p->int8_threshold >= 0.0f;
    if (int8 && !has_q8_0(m)) {
        joule_fmt(err, err_size,
                  "the int8 mode multiplies Q8_0 weights and this model has none "
                  "(make an int8 copy: joule quantize --type int8)");
        return JOULE_ERR_INVALID;
    }
    if (p->int8_threshold != p->int8_threshold) {
        joule_fmt(err, err_size, "the int8 threshold is not a number");
        return JOULE_ERR_INVALID;
    }

    const struct joule_lm_hparams *hp = &m->hp;
    const size_t B = (size_t)p->n_batch, d = (size_t)hp->n_embd, f = (size_t)hp->n_ff;
    const size_t hd = (size_t)hp->head_dim;
    const size_t q_dim = (size_t)hp->n_head * hd, kv_dim = (size_t)hp->n_head_kv * hd;
    const size_t kv_elt = p->kv_type == JOULE_LM_KV_F16 ? 2 : 4;
    const int nth = p->pool ? joule_pool_size(p->pool) : 1;
    size_t cache_bytes = 0;
    bool ok = joule_mul_size((size_t)hp->n_layer, (size_t)p->n_seq, &cache_bytes) &&
              joule_mul_size(cache_bytes, (size_t)p->n_ctx, &cache_bytes) &&
              joule_mul_size(cache_bytes, kv_dim * kv_elt, &cache_bytes);
    size_t rows_bytes = 0;
    ok = ok && joule_mul_size(B, act_row, &rows_bytes);

    struct carve cv = {0, ok};
    size_t o_k = carve_take(&cv, cache_bytes, 1);
    size_t o_v = carve_take(&cv, cache_bytes, 1);
    const size_t scratch_start = cv.off;
    size_t o_len = carve_take(&cv, (size_t)p->n_seq, sizeof(int32_t));
    size_t o_x = carve_take(&cv, B * d, sizeof(float));
    size_t o_xn = carve_take(&cv, B * d, sizeof(float));
    size_t o_qkv = carve_take(&cv, B * (q_dim + 2 * kv_dim), sizeof(float));
    size_t o_att = carve_take(&cv, B * q_dim, sizeof(float));
    size_t o_proj = carve_take(&cv, B * d, sizeof(float));
    size_t o_ff = carve_take(&cv, B * 2 * f, sizeof(float));
    size_t o_hid = carve_take(&cv, B * f, sizeof(float));
    size_t o_rope = carve_take(&cv, B * (size_t)hp->n_rot, sizeof(float));
    size_t o_pos = carve_take(&cv, B, sizeof(int32_t));
    size_t o_seq = carve_take(&cv, B, sizeof(int32_t));
    size_t o_orow = carve_take(&cv, B, sizeof(int32_t));
    size_t o_otok = carve_take(&cv, B, sizeof(int32_t));
    size_t o_act = carve_take(&cv, rows_bytes, 1);
    size_t o_sc = carve_take(&cv, (size_t)nth * (size_t)p->n_ctx, sizeof(float));
    size_t o_q16 = carve_take(&cv, (size_t)nth * ATTN_HEADS * hd, sizeof(uint16_t));
    size_t o_acc = carve_take(&cv, (size_t)nth * ATTN_HEADS * hd, sizeof(uint16_t));
    size_t max_in = d > f ? d : f;
    max_in = max_in > q_dim ? max_in : q_dim;
    size_t o_i8 = carve_take(&cv, int8 ? joule_int8_bytes((int64_t)max_in, p->n_batch, nth) : 0,
                             1);
    if (!cv.ok) {
        joule_fmt(err, err_size, "run state for %d sequences of %d positions is too large",
                  p->n_seq, p->n_ctx);
        return JOULE_ERR_INVALID;
    }
    struct joule_lm_ctx *c = calloc(1, sizeof(*c));
    /* The cache is not cleared: positions are written before they are read. */
    uint8_t *b = malloc(cv.off);
    if (!c || !b) {
        free(c);
        free(b);
        joule_fmt(err, err_size, "out of memory for a run state of %zu bytes", cv.off);
        return JOULE_ERR_NOMEM;
    }
    memset(b + scratch_start, 0, cv.off - scratch_start);
    c->m = m;
    c->p = *p;
    c->k = k;
    c->nth = nth;
    c->kv_elt = kv_elt;
    c->block = b;
    c->cache_bytes = 2 * cache_bytes;
    c->scratch_bytes = cv.off - scratch_start;
    c->k_cache = b + o_k;
    c->v_cache = b + o_v;
    c->seq_len = (int32_t *)(void *)(b + o_len);
    c->x = (float *)(void *)(b + o_x);
    c->xn = (float *)(void *)(b + o_xn);
    c->qkv = (float *)(void *)(b + o_qkv);
    c->att = (float *)(void *)(b + o_att);
    c->proj = (float *)(void *)(b + o_proj);
    c->ff = (float *)(void *)(b + o_ff);
    c->hid = (float *)(void *)(b + o_hid);
    c->rope = (float *)(void *)(b + o_rope);
    c->pos = (int32_t *)(void *)(b + o_pos);
    c->seq = (int32_t *)(void *)(b + o_seq);
    c->out_row = (int32_t *)(void *)(b + o_orow);
    c->out_tok = (int32_t *)(void *)(b + o_otok);
    c->act = b + o_act;
    c->act_stride = act_row;
    c->act_type = -1;
    c->scores = (float *)(void *)(b + o_sc);
    c->q16 = (uint16_t *)(void *)(b + o_q16);
    c->acc16 = (uint16_t *)(void *)(b + o_acc);
    c->last_out = -1;
    c->int8 = int8;
    if (int8)
        joule_int8_init(&c->i8, p->int8_threshold, (int64_t)max_in, p->n_batch, b + o_i8);
    *out = c;
    return JOULE_OK;
}

void joule_lm_ctx_free(struct joule_lm_ctx *c)
{
    if (!c)
        return;
    free(c->logits);
    free(c->block);
    free(c);
}

void joule_lm_ctx_reset(struct joule_lm_ctx *c)
{
    for (int32_t s = 0; s < c->p.n_seq; s++)
        c->seq_len[s] = 0;
}

void joule_lm_seq_reset(struct joule_lm_ctx *c, int32_t seq)
{
    JOULE_ASSERT(seq >= 0 && seq < c->p.n_seq);
    c->seq_len[seq] = 0;
}

int32_t joule_lm_seq_len(const struct joule_lm_ctx *c, int32_t seq)
{
    JOULE_ASSERT(seq >= 0 && seq < c->p.n_seq);
    return c->seq_len[seq];
}

int32_t joule_lm_ctx_n_ctx(const struct joule_lm_ctx *c)
{
    return c->p.n_ctx;
}

int32_t joule_lm_ctx_n_seq(const struct joule_lm_ctx *c)
{
    return c->p.n_seq;
}

int32_t joule_lm_ctx_n_batch(const struct joule_lm_ctx *c)
{
    return c->p.n_batch;
}

size_t joule_lm_ctx_bytes(const struct joule_lm_ctx *c)
{
    return c->cache_bytes + c->scratch_bytes +
           (size_t)c->logits_cap * (size_t)c->m->hp.n_vocab * sizeof(float);
}

const char *joule_lm_ctx_isa(const struct joule_lm_ctx *c)
{
    return joule_isa_name(c->k.isa);
}

void joule_lm_ctx_int8_stats(const struct joule_lm_ctx *c, int64_t *columns, int64_t *outliers)
{
    *columns = c->int8 ? c->i8.columns : 0;
    *outliers = c->int8 ? c->i8.outliers : 0;
}

const struct joule_lm *joule_lm_ctx_model(const struct joule_lm_ctx *c)
{
    return c->m;
}

const float *joule_lm_logits(const struct joule_lm_ctx *c, int32_t i)
{
    if (i < 0 || i >= c->p.n_batch || c->out_row[i] < 0)
        return NULL;
    return c->logits + (size_t)c->out_row[i] * (size_t)c->m->hp.n_vocab;
}

const float *joule_lm_ctx_logits(const struct joule_lm_ctx *c)
{
    if (c->last_out < 0)
        return NULL;
    return c->logits + (size_t)c->last_out * (size_t)c->m->hp.n_vocab;
}

/* ---------------------------------------------------------------------------
 * Running work on the pool
 */

static void run(struct joule_lm_ctx *c, joule_pool_fn fn, void *arg)
{
    if (c->p.pool)
        joule_pool_run(c->p.pool, fn, arg);
    else
        fn(arg, 0, 1);
}

/* A job over the n token rows of the batch; small batches stay on the
 * calling thread, where waking the pool would cost more than the work. */
struct rows_job {
    struct joule_lm_ctx *c;
    int32_t n;
    int32_t il;         /* layer, for jobs that need it */
    void (*row)(struct rows_job *j, int32_t t);
};

static void rows_worker(void *arg, int ith, int nth)
{
    struct rows_job *j = arg;
    int64_t lo, hi;
    joule_pool_range(j->n, ith, nth, &lo, &hi);
    for (int64_t t = lo; t < hi; t++)
        j->row(j, (int32_t)t);
}

static void run_rows(struct joule_lm_ctx *c, int32_t n, int32_t il,
                     void (*row)(struct rows_job *j, int32_t t))
{
    struct rows_job j = {c, n, il, row};
    if (n < 2 || !c->p.pool)
        rows_worker(&j, 0, 1);
    else
        run(c, rows_worker, &j);
}

/* ---------------------------------------------------------------------------
 * Matrix products: Y[t] = W x[t] for the n tokens of the batch
 */

/* Converts rows x[0 .. n) (n_in elements, x_stride floats apart) to the
 * activation type of weights of type w_type, unless act holds them already. */
struct act_job {
    struct joule_lm_ctx *c;
    const float *x;
    size_t x_stride;
    int64_t n_in;
    joule_act_fn fn;
    int32_t n;
    const struct joule_int8 *i8; /* not NULL: the int8 mode's rows instead (int8.h) */
};

static void act_worker(void *arg, int ith, int nth)
{
    struct act_job *j = arg;
    int64_t lo, hi;
    joule_pool_range(j->n, ith, nth, &lo, &hi);
    for (int64_t t = lo; t < hi; t++) {
        const float *x = j->x + (size_t)t * j->x_stride;
        uint8_t *y = j->c->act + (size_t)t * j->c->act_stride;
        if (j->i8)
            joule_int8_quantize_row(j->i8, x, y, j->n_in);
        else
            j->fn(x, y, j->n_in);
    }
}

struct mm_job {
    struct joule_lm_ctx *c;
    const struct joule_gguf_tensor *w;
    joule_tile_fn tile;
    joule_tile_fn ptile; /* for rows [0, packed_rows) (pack.h) */
    int64_t packed_rows;
    int32_t n;          /* activation rows (tokens) */
    float *y;
    size_t y_stride;    /* floats between output rows */
    int64_t chunk;      /* weight rows per unit of work */
    atomic_llong next;  /* the next weight row not yet taken */
};

/* Weight rows are dealt in chunks from a shared counter, so a thread slowed
 * by a noisy neighbour takes fewer; each chunk meets every token at once,
 * in blocks of tokens that keep the activations in cache. */
static void mm_worker(void *arg, int ith, int nth)
{
    (void)ith;
    (void)nth;
    struct mm_job *j = arg;
    const struct joule_gguf_tensor *w = j->w;
    const int64_t rows = w->ne[1];
    const int32_t tok_block = 64;
    for (;;) {
        const int64_t r0 = atomic_fetch_add_explicit(&j->next, j->chunk, memory_order_relaxed);
        if (r0 >= rows)
            break;
        const int32_t nr = (int32_t)(rows - r0 < j->chunk ? rows - r0 : j->chunk);
        const uint8_t *wr = (const uint8_t *)w->data + (size_t)r0 * w->row_bytes;
        /* chunks and packed_rows are multiples of 16: a chunk is packed
         * whole or holds the packed rows' end (then the row-major tail) */
        const int32_t np = r0 >= j->packed_rows ? 0
                         : (int32_t)(j->packed_rows - r0 < nr ? j->packed_rows - r0 : nr);
        for (int32_t t0 = 0; t0 < j->n; t0 += tok_block) {
            const int32_t nc = j->n - t0 < tok_block ? j->n - t0 : tok_block;
            const uint8_t *a = j->c->act + (size_t)t0 * j->c->act_stride;
            float *y = j->y + (size_t)t0 * j->y_stride + (size_t)r0;
            if (np > 0)
                j->ptile(w->ne[0], wr, JOULE_PACK_ROWS * w->row_bytes, np, a, j->c->act_stride,
                         nc, y, j->y_stride);
            if (nr > np)
                j->tile(w->ne[0], wr + (size_t)np * w->row_bytes, w->row_bytes, nr - np, a,
                        j->c->act_stride, nc, y + np, j->y_stride);
        }
    }
}

/* Y = X W^T with OpenBLAS, each pool thread on its own slice of W's rows
 * (OpenBLAS runs single-threaded inside: the pool is the only one). */
struct sgemm_job {
    const struct joule_gguf_tensor *w;
    const float *x;
    size_t x_stride;
    int32_t n;
    float *y;
    size_t y_stride;
};

static void sgemm_worker(void *arg, int ith, int nth)
{
    const struct sgemm_job *j = arg;
    const int64_t rows = j->w->ne[1], k = j->w->ne[0];
    int64_t lo, hi;
    joule_pool_range((rows + 15) / 16, ith, nth, &lo, &hi);
    lo *= 16;
    hi = hi * 16 < rows ? hi * 16 : rows;
    if (hi <= lo)
        return;
    /* The serial OpenBLAS (CMakeLists.txt says why that one) is built
     * without USE_LOCKING: two threads inside it at once share its work
     * buffers and corrupt each other's products (greedy tokens of F32
     * models then changed from run to run in test_generate).  So the rows
     * are split across the pool but one block is computed at a time. */
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->n, (int)(hi - lo), (int)k, 1.0f,
                j->x, (int)j->x_stride, (const float *)j->w->data + lo * k, (int)k, 0.0f,
                j->y + lo, (int)j->y_stride);
    pthread_mutex_unlock(&mu);
}

/* The int8 mode's outlier columns (int8.h, step 3) over a share of the
 * weight rows. */
struct i8_out_job {
    struct joule_lm_ctx *c;
    const struct joule_gguf_tensor *w;
    int64_t packed_rows; /* of w (pack.h) */
    int32_t n;
    float *y;
    size_t y_stride;
};

static void i8_out_worker(void *arg, int ith, int nth)
{
    struct i8_out_job *j = arg;
    int64_t lo, hi;
    joule_pool_range(j->w->ne[1], ith, nth, &lo, &hi);
    joule_int8_add_outliers(&j->c->i8, j->w, j->packed_rows, lo, hi, j->n, j->y, j->y_stride,
                            ith);
}

/* The activation type tag of int8-mode rows: no real type has it. */
#define ACT_INT8 ((int)JOULE_QUANT_ID_LIMIT)

/* Marks the activation buffer stale (its source rows changed). */
static void act_invalidate(struct joule_lm_ctx *c)
{
    c->act_type = -1;
    c->act_src = NULL;
}

/*
 * y[t * y_stride + r] = (W x[t])[r] for t < n, x rows x_stride floats
 * apart.  Several products of the same x (Q, K and V; gate and up) convert
 * x once.
 */
static void matmul(struct joule_lm_ctx *c, const struct joule_gguf_tensor *w, const float *x,
                   size_t x_stride, int32_t n, float *y, size_t y_stride)
{
    if (w->type == JOULE_QUANT_F32 && n >= BLAS_MIN_TOKENS && c->k.isa != JOULE_ISA_SCALAR) {
        struct sgemm_job sj = {w, x, x_stride, n, y, y_stride};
        run(c, sgemm_worker, &sj);
        return;
    }
    const enum joule_quant_type at = joule_kernels_act_type(w->type);
    const bool int8 = c->int8 && w->type == JOULE_QUANT_Q8_0;
    if (int8 && (c->act_src != x || c->act_type != ACT_INT8)) {
        /* Q, K and V (gate and up) share one input: one decomposition. */
        joule_int8_find_outliers(&c->i8, x, x_stride, n, w->ne[0]);
        struct act_job aj = {c, x, x_stride, w->ne[0], NULL, n, &c->i8};
        if (n < 4 || !c->p.pool)
            act_worker(&aj, 0, 1);
        else
            run(c, act_worker, &aj);
        c->act_src = x;
        c->act_type = ACT_INT8;
    } else if (int8) {
        /* Counted per product: each one pays for its outlier columns. */
        c->i8.columns += w->ne[0];
        c->i8.outliers += c->i8.n_cols;
    } else if (c->act_src != x || c->act_type != (int)at) {
        struct act_job aj = {c, x, x_stride, w->ne[0], c->k.act[at], n, NULL};
        if (n < 4 || !c->p.pool)
            act_worker(&aj, 0, 1);
        else
            run(c, act_worker, &aj);
        c->act_src = x;
        c->act_type = (int)at;
    }
    struct mm_job j;
    j.c = c;
    j.w = w;
    j.tile = c->k.tile[w->type];
    j.ptile = c->k.ptile[w->type];
    j.packed_rows = joule_lm_packed_rows(c->m, w);
    JOULE_ASSERT(j.packed_rows == 0 || j.ptile);
    j.n = n;
    j.y = y;
    j.y_stride = y_stride;
    /* Several chunks per thread for balance, whole multiples of 16 rows. */
    int64_t chunk = w->ne[1] / ((int64_t)c->nth * 8);
    chunk = chunk < 16 ? 16 : (chunk + 15) / 16 * 16;
    j.chunk = chunk;
    atomic_init(&j.next, 0);
    run(c, mm_worker, &j);
    if (int8 && c->i8.n_cols > 0) {
        struct i8_out_job oj = {c, w, j.packed_rows, n, y, y_stride};
        run(c, i8_out_worker, &oj);
    }
}

/* ---------------------------------------------------------------------------
 * Per-token ops
 */

/* y[n] = x / rms(x) * w, as ggml_rms_norm then ggml_mul (sum of squares in
 * double, the scale in float). */
static void rms_norm(float *y, const float *x, const float *w, int32_t n, float eps)
{
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int32_t i = 0; i < n; i++)
        y[i] = (x[i] * scale) * w[i];
}

static void add_bias(float *y, const struct joule_gguf_tensor *b)
{
    if (!b)
        return;
    const float *bv = b->data;
    for (int64_t i = 0; i < b->ne[0]; i++)
        y[i] += bv[i];
}

/* cos / sin of each rotated pair at position pos, built like ggml's rope
 * cache: theta starts at pos and is multiplied by base^(-2/n_rot) per pair,
 * divided by the pair's frequency factor when the model has them. */
static void rope_angles(const struct joule_lm_ctx *c, int32_t pos, float *cs)
{
    const struct joule_lm *m = c->m;
    const int32_t n_rot = m->hp.n_rot;
    const float theta_scale = powf(m->hp.rope_freq_base, -2.0f / (float)n_rot);
    /* llama.cpp uses the long factors when the context exceeds the original one. */
    const struct joule_gguf_tensor *fft =
        c->p.n_ctx > m->hp.n_ctx_orig && m->rope_long ? m->rope_long : m->rope_short;
    const float *ff = fft ? fft->data : NULL;
    float theta = (float)pos;
    for (int32_t i0 = 0; i0 < n_rot; i0 += 2) {
        const float t = ff ? theta / ff[i0 / 2] : theta;
        cs[i0] = cosf(t);
        cs[i0 + 1] = sinf(t);
        theta *= theta_scale;
    }
}

/* Rotates the first n_rot elements of each of n_heads heads in v. */
static void rope_apply(const struct joule_lm_hparams *hp, const float *cs, float *v,
                       int32_t n_heads)
{
    const int32_t n_rot = hp->n_rot, half = n_rot / 2;
    for (int32_t h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * (size_t)hp->head_dim;
        for (int32_t i0 = 0; i0 < n_rot; i0 += 2) {
            const float co = cs[i0], sn = cs[i0 + 1];
            /* NORM rotates (i0, i0 + 1); NEOX rotates (i0/2, i0/2 + n_rot/2). */
            const int32_t a = hp->rope_type == JOULE_LM_ROPE_NORM ? i0 : i0 / 2;
            const int32_t b = hp->rope_type == JOULE_LM_ROPE_NORM ? i0 + 1 : i0 / 2 + half;
            const float x0 = x[a], x1 = x[b];
            x[a] = x0 * co - x1 * sn;
            x[b] = x0 * sn + x1 * co;
        }
    }
}

static float silu(float x)
{
    return x / (1.0f + expf(-x));
}

static size_t q_dim_of(const struct joule_lm_hparams *hp)
{
    return (size_t)hp->n_head * (size_t)hp->head_dim;
}

static size_t kv_dim_of(const struct joule_lm_hparams *hp)
{
    return (size_t)hp->n_head_kv * (size_t)hp->head_dim;
}

/* Byte offset of position pos of sequence seq in layer il of a cache. */
static size_t cache_off(const struct joule_lm_ctx *c, int32_t il, int32_t seq, int32_t pos)
{
    const size_t row = ((size_t)il * (size_t)c->p.n_seq + (size_t)seq) * (size_t)c->p.n_ctx +
                       (size_t)pos;
    return row * kv_dim_of(&c->m->hp) * c->kv_elt;
}

static void row_attn_norm(struct rows_job *j, int32_t t)
{
    const struct joule_lm_ctx *c = j->c;
    const struct joule_lm_hparams *hp = &c->m->hp;
    const size_t d = (size_t)hp->n_embd;
    rms_norm(c->xn + t * d, c->x + t * d, c->m->layers[j->il].attn_norm->data, hp->n_embd,
             hp->rms_eps);
}

static void row_ffn_norm(struct rows_job *j, int32_t t)
{
    const struct joule_lm_ctx *c = j->c;
    const struct joule_lm_hparams *hp = &c->m->hp;
    const size_t d = (size_t)hp->n_embd;
    rms_norm(c->xn + t * d, c->x + t * d, c->m->layers[j->il].ffn_norm->data, hp->n_embd,
             hp->rms_eps);
}

/* Biases, RoPE, phi3's query scale, and the token's K and V into the cache. */
static void row_qkv_post(struct rows_job *j, int32_t t)
{
    struct joule_lm_ctx *c = j->c;
    const struct joule_lm_hparams *hp = &c->m->hp;
    const struct joule_lm_layer *L = &c->m->layers[j->il];
    const size_t q_dim = q_dim_of(hp), kv_dim = kv_dim_of(hp);
    float *q = c->qkv + (size_t)t * (q_dim + 2 * kv_dim), *k = q + q_dim, *v = k + kv_dim;
    add_bias(q, L->bq);
    add_bias(k, L->bk);
    add_bias(v, L->bv);
    const float *cs = c->rope + (size_t)t * (size_t)hp->n_rot;
    rope_apply(hp, cs, q, hp->n_head);
    rope_apply(hp, cs, k, hp->n_head_kv);
    if (hp->arch == JOULE_LM_ARCH_PHI3) {
        const float s = 1.0f / sqrtf((float)hp->head_dim);
        for (size_t i = 0; i < q_dim; i++)
            q[i] *= s;
    }
    const size_t off = cache_off(c, j->il, c->seq[t], c->pos[t]);
    if (c->kv_elt == 2) {
        c->k.f32_to_f16(k, (uint16_t *)(void *)(c->k_cache + off), (int64_t)kv_dim);
        c->k.f32_to_f16(v, (uint16_t *)(void *)(c->v_cache + off), (int64_t)kv_dim);
    } else {
        memcpy(c->k_cache + off, k, kv_dim * sizeof(float));
        memcpy(c->v_cache + off, v, kv_dim * sizeof(float));
    }
}

/*
 * Attention of one query head over positions 0 .. n_kv - 1 of a cache.
 *
 * F32 cache: two passes, as ggml's soft_max then mul_mat (llama.cpp
 * without flash attention): scores, softmax with the sum in double, then
 * the weighted sum of V in F32.
 *
 * F16 cache: one pass with a running maximum, as llama.cpp's CPU flash
 * attention (its default): Q rounded to F16, the output accumulated in
 * F16 and rescaled whenever the maximum grows, divided by the sum at the
 * end.  The F16 rounding is llama.cpp's; reproducing it keeps greedy
 * outputs equal to its own on the same file.
 */
struct head_job {
    const struct joule_kernels *k;
    const uint8_t *kb, *vb;     /* position 0 of this head's K and V */
    size_t pos_bytes;           /* bytes between positions */
    int32_t n_kv;
    int32_t hd;
    float kq_scale;
};

static void head_f32(const struct head_job *j, const float *q, float *scores, float *out)
{
    float mx = -INFINITY;
    for (int32_t p = 0; p < j->n_kv; p++) {
        const float *kp = (const float *)(const void *)(j->kb + (size_t)p * j->pos_bytes);
        const float s = j->k->dot_f32(j->hd, kp, q) * j->kq_scale;
        scores[p] = s;
        mx = s > mx ? s : mx;
    }
    double sum = 0.0;
    for (int32_t p = 0; p < j->n_kv; p++) {
        scores[p] = expf(scores[p] - mx);
        sum += scores[p];
    }
    const float inv = (float)(1.0 / sum);
    memset(out, 0, (size_t)j->hd * sizeof(float));
    for (int32_t p = 0; p < j->n_kv; p++)
        j->k->mad_f32(j->hd, scores[p] * inv,
                      (const float *)(const void *)(j->vb + (size_t)p * j->pos_bytes), out);
}

/* Flash attention over the F16 cache for nh query heads that share this
 * KV head (queries q and outputs out: nh rows of hd one after the other).
 * Each head is computed exactly as alone, but position by position with
 * the heads side by side: a head's update of its F16 accumulator reads
 * what its previous update stored (a chain through memory), and the other
 * heads' updates now overlap that wait.  One head at a time, the updates
 * took 11% of a batch-16 F16 decode; side by side, under 2.5%. */
static void heads_f16(const struct head_job *j, int32_t nh, const float *q, uint16_t *q16,
                      uint16_t *acc, float *out)
{
    const size_t hd = (size_t)j->hd;
    float m[ATTN_HEADS], sum[ATTN_HEADS];
    for (int32_t h = 0; h < nh; h++) {
        j->k->f32_to_f16(q + h * hd, q16 + h * hd, j->hd);
        m[h] = -INFINITY;
        sum[h] = 0.0f;
    }
    memset(acc, 0, (size_t)nh * hd * sizeof(uint16_t));
    for (int32_t p = 0; p < j->n_kv; p++) {
        const uint16_t *kp = (const uint16_t *)(const void *)(j->kb + (size_t)p * j->pos_bytes);
        const uint16_t *vp = (const uint16_t *)(const void *)(j->vb + (size_t)p * j->pos_bytes);
        for (int32_t h = 0; h < nh; h++) {
            uint16_t *a = acc + h * hd;
            const float s = j->k->dot_f16(j->hd, kp, q16 + h * hd) * j->kq_scale;
            float ms = 1.0f, vs = 1.0f;
            if (s > m[h]) {
                const float m_old = m[h];
                m[h] = s;
                ms = expf(m_old - s);
                j->k->scale_f16(j->hd, ms, a);
            } else {
                vs = expf(s - m[h]);
            }
            j->k->mad_f16_f16(j->hd, vs, vp, a);
            sum[h] = sum[h] * ms + vs;
        }
    }
    for (int32_t h = 0; h < nh; h++) {
        float *o = out + h * hd;
        j->k->f16_to_f32(acc + h * hd, o, j->hd);
        const float inv = sum[h] == 0.0f ? 0.0f : 1.0f / sum[h];
        for (size_t i = 0; i < hd; i++)
            o[i] *= inv;
    }
}

/* Attention of the batch: one unit of work per token and run of query
 * heads sharing a KV head, up to ATTN_HEADS of them with the F16 cache,
 * one with the F32 cache (so the two caches, compared by test_engine, also
 * share no grouping). */
struct attn_job {
    struct joule_lm_ctx *c;
    int32_t il;
    int32_t n;
};

static void attn_worker(void *arg, int ith, int nth)
{
    struct attn_job *j = arg;
    struct joule_lm_ctx *c = j->c;
    const struct joule_lm_hparams *hp = &c->m->hp;
    const size_t hd = (size_t)hp->head_dim, q_dim = q_dim_of(hp), kv_dim = kv_dim_of(hp);
    const int32_t group = hp->n_head / hp->n_head_kv;
    const int32_t run_max = c->kv_elt == 2 ? ATTN_HEADS : 1;
    const int32_t runs = (group + run_max - 1) / run_max; /* per KV head */
    float *scores = c->scores + (size_t)ith * (size_t)c->p.n_ctx;
    uint16_t *q16 = c->q16 + (size_t)ith * ATTN_HEADS * hd;
    uint16_t *acc = c->acc16 + (size_t)ith * ATTN_HEADS * hd;
    struct head_job h = {&c->k, NULL, NULL, kv_dim * c->kv_elt, 0, hp->head_dim,
                         hp->arch == JOULE_LM_ARCH_PHI3 ? 1.0f : 1.0f / sqrtf((float)hd)};
    int64_t lo, hi;
    joule_pool_range((int64_t)j->n * hp->n_head_kv * runs, ith, nth, &lo, &hi);
    for (int64_t item = lo; item < hi; item++) {
        const int32_t t = (int32_t)(item / (hp->n_head_kv * runs));
        const int32_t u = (int32_t)(item % (hp->n_head_kv * runs));
        const int32_t kvh = u / runs, first = u % runs * run_max; /* within the group */
        const int32_t nh = group - first < run_max ? group - first : run_max;
        const size_t head_off = (size_t)kvh * hd * c->kv_elt;
        h.kb = c->k_cache + cache_off(c, j->il, c->seq[t], 0) + head_off;
        h.vb = c->v_cache + cache_off(c, j->il, c->seq[t], 0) + head_off;
        h.n_kv = c->pos[t] + 1; /* causal: positions 0 .. pos */
        const size_t head = (size_t)(kvh * group + first);
        const float *q = c->qkv + (size_t)t * (q_dim + 2 * kv_dim) + head * hd;
        float *out = c->att + (size_t)t * q_dim + head * hd;
        if (c->kv_elt == 2)
            heads_f16(&h, nh, q, q16, acc, out);
        else
            head_f32(&h, q, scores, out);
    }
}

static void row_add_proj(struct rows_job *j, int32_t t)
{
    const struct joule_lm_ctx *c = j->c;
    const size_t d = (size_t)c->m->hp.n_embd;
    float *x = c->x + (size_t)t * d;
    const float *p = c->proj + (size_t)t * d;
    for (size_t i = 0; i < d; i++)
        x[i] += p[i];
}

static void row_swiglu(struct rows_job *j, int32_t t)
{
    const struct joule_lm_ctx *c = j->c;
    const size_t f = (size_t)c->m->hp.n_ff;
    const float *gate = c->ff + (size_t)t * 2 * f, *up = gate + f;
    float *h = c->hid + (size_t)t * f;
    for (size_t i = 0; i < f; i++)
        h[i] = silu(gate[i]) * up[i];
}

/* ---------------------------------------------------------------------------
 * The layers
 */

static void attn_block(struct joule_lm_ctx *c, int32_t il, int32_t n)
{
    const struct joule_lm_hparams *hp = &c->m->hp;
    const struct joule_lm_layer *L = &c->m->layers[il];
    const size_t d = (size_t)hp->n_embd, q_dim = q_dim_of(hp), kv_dim = kv_dim_of(hp);
    const size_t qkv_stride = q_dim + 2 * kv_dim;

    run_rows(c, n, il, row_attn_norm);
    act_invalidate(c);
    if (L->wqkv) {
        matmul(c, L->wqkv, c->xn, d, n, c->qkv, qkv_stride);
    } else {
        matmul(c, L->wq, c->xn, d, n, c->qkv, qkv_stride);
        matmul(c, L->wk, c->xn, d, n, c->qkv + q_dim, qkv_stride);
        matmul(c, L->wv, c->xn, d, n, c->qkv + q_dim + kv_dim, qkv_stride);
    }
    run_rows(c, n, il, row_qkv_post);
    struct attn_job aj = {c, il, n};
    if (n * hp->n_head < 4 || !c->p.pool) /* too little to share */
        attn_worker(&aj, 0, 1);
    else
        run(c, attn_worker, &aj);
    act_invalidate(c);
    matmul(c, L->wo, c->att, q_dim, n, c->proj, d);
    run_rows(c, n, il, row_add_proj);
}

static void ffn_block(struct joule_lm_ctx *c, int32_t il, int32_t n)
{
    const struct joule_lm_hparams *hp = &c->m->hp;
    const struct joule_lm_layer *L = &c->m->layers[il];
    const size_t d = (size_t)hp->n_embd, f = (size_t)hp->n_ff;

    run_rows(c, n, il, row_ffn_norm);
    act_invalidate(c);
    if (L->w_gate) {
        matmul(c, L->w_gate, c->xn, d, n, c->ff, 2 * f);
        matmul(c, L->w_up, c->xn, d, n, c->ff + f, 2 * f);
    } else { /* phi3: one product, rows [gate | up] */
        matmul(c, L->w_up, c->xn, d, n, c->ff, 2 * f);
    }
    run_rows(c, n, il, row_swiglu);
    act_invalidate(c);
    matmul(c, L->w_down, c->hid, f, n, c->proj, d);
    run_rows(c, n, il, row_add_proj);
}

static enum joule_status check_batch(const struct joule_lm_ctx *c, const struct joule_lm_batch *b,
                                     char *err, size_t err_size)
{
    if (!b || b->n < 1 || b->n > c->p.n_batch || !b->token || !b->seq) {
        joule_fmt(err, err_size, "a batch needs 1..%d tokens with their sequences",
                  c->p.n_batch);
        return JOULE_ERR_INVALID;
    }
    for (int32_t i = 0; i < b->n; i++) {
        if (b->token[i] < 0 || b->token[i] >= c->m->hp.n_vocab) {
            joule_fmt(err, err_size, "token %d of the batch: id %d is outside the vocabulary (0..%d)",
                      i, b->token[i], c->m->hp.n_vocab - 1);
            return JOULE_ERR_INVALID;
        }
        if (b->seq[i] < 0 || b->seq[i] >= c->p.n_seq) {
            joule_fmt(err, err_size, "token %d of the batch: sequence %d is out of range (0..%d)",
                      i, b->seq[i], c->p.n_seq - 1);
            return JOULE_ERR_INVALID;
        }
    }
    return JOULE_OK;
}

enum joule_status joule_lm_forward(struct joule_lm_ctx *c, const struct joule_lm_batch *b,
                                   char *err, size_t err_size)
{
    JOULE_ASSERT(c);
    enum joule_status st = check_batch(c, b, err, err_size);
    if (st != JOULE_OK)
        return st;
    const struct joule_lm *m = c->m;
    const struct joule_lm_hparams *hp = &m->hp;
    const int32_t n = b->n;
    const size_t d = (size_t)hp->n_embd, V = (size_t)hp->n_vocab;

    /* Positions: each token continues its sequence (checked before anything
     * changes, so a batch that does not fit leaves the state as it was). */
    int32_t n_out = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t pos = c->seq_len[b->seq[i]];
        for (int32_t k = 0; k < i; k++)
            pos += b->seq[k] == b->seq[i];
        if (pos >= c->p.n_ctx) {
            joule_fmt(err, err_size, "sequence %d is full (%d positions)", b->seq[i],
                      c->p.n_ctx);
            return JOULE_ERR_INVALID;
        }
        c->pos[i] = pos;
        c->seq[i] = b->seq[i];
        const bool want = b->logits ? b->logits[i] != 0 : i == n - 1;
        c->out_row[i] = want ? n_out : -1;
        if (want)
            c->out_tok[n_out++] = i;
    }
    if (n_out > c->logits_cap) {
        float *nl = joule_realloc_array(c->logits, (size_t)n_out * V, sizeof(float));
        if (!nl) {
            joule_fmt(err, err_size, "out of memory for the logits of %d tokens", n_out);
            for (int32_t i = 0; i < n; i++)
                c->out_row[i] = -1;
            return JOULE_ERR_NOMEM;
        }
        c->logits = nl;
        c->logits_cap = n_out;
    }

    for (int32_t i = 0; i < n; i++) {
        const struct joule_gguf_tensor *te = m->tok_embd;
        const uint8_t *row = (const uint8_t *)te->data + (size_t)b->token[i] * te->row_bytes;
        if (joule_quant_dequantize_row_ref(te->type, row, c->x + (size_t)i * d, hp->n_embd) !=
            JOULE_OK) {
            joule_fmt(err, err_size, "token_embd.weight: cannot read type %s",
                      joule_quant_name(te->type));
            return JOULE_ERR_FORMAT;
        }
        rope_angles(c, c->pos[i], c->rope + (size_t)i * (size_t)hp->n_rot);
    }
    for (int32_t il = 0; il < hp->n_layer; il++) {
        attn_block(c, il, n);
        ffn_block(c, il, n);
    }
    for (int32_t i = 0; i < n; i++)
        c->seq_len[b->seq[i]]++;

    c->n_out = n_out;
    c->last_out = n_out > 0 ? n_out - 1 : -1;
    if (n_out == 0)
        return JOULE_OK;
    /* The final norm and the LM head, for the tokens that want logits only:
     * gathered into consecutive rows of xn. */
    for (int32_t r = 0; r < n_out; r++)
        rms_norm(c->xn + (size_t)r * d, c->x + (size_t)c->out_tok[r] * d,
                 m->output_norm->data, hp->n_embd, hp->rms_eps);
    act_invalidate(c);
    matmul(c, m->output, c->xn, d, n_out, c->logits, V);
    return JOULE_OK;
}

enum joule_status joule_lm_decode(struct joule_lm_ctx *c, int32_t token, bool want_logits)
{
    const int32_t seq = 0;
    const uint8_t want = want_logits;
    const struct joule_lm_batch b = {1, &token, &seq, &want};
    char err[160];
    return joule_lm_forward(c, &b, err, sizeof(err));
}

enum joule_status joule_lm_prefill(struct joule_lm_ctx *c, const int32_t *tokens, size_t n)
{
    JOULE_ASSERT(c);
    if (!tokens || n == 0 || n > (size_t)(c->p.n_ctx - c->seq_len[0]))
        return JOULE_ERR_INVALID;
    enum { SEQ_CHUNK = 4096 };
    static const int32_t zeros[SEQ_CHUNK];
    const size_t chunk = (size_t)(c->p.n_batch < SEQ_CHUNK ? c->p.n_batch : SEQ_CHUNK);
    for (size_t i = 0; i < n; i += chunk) {
        const size_t k = n - i < chunk ? n - i : chunk;
        const struct joule_lm_batch b = {(int32_t)k, tokens + i, zeros, NULL};
        char err[160];
        enum joule_status st = joule_lm_forward(c, &b, err, sizeof(err));
        if (st != JOULE_OK)
            return st;
    }
    return JOULE_OK;
}
