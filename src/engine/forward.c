/*
 * forward.c - the scalar reference forward pass: one token at a time, one
 * sequence, F32 activations and KV cache.
 *
 * It computes what llama.cpp's CPU graph computes for llama, qwen2 and
 * phi3 (src/models/{llama,qwen2,phi3}.cpp, ggml's rms_norm, rope, soft_max
 * and mul_mat), op for op, so greedy outputs agree:
 *  - every weight matrix-vector product converts the activation to the
 *    type llama.cpp pairs with the weight (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1
 *    for Q4_1/Q5_1, Q8_K for the K-quants, F16/BF16 rounding for F16/BF16)
 *    and uses the model module's reference dot products;
 *  - RoPE angles are built as ggml builds them (theta *= base^(-2/n_rot)
 *    per pair, in float);
 *  - phi3 scales Q by 1/sqrt(head_dim) before Q.K instead of scaling the
 *    scores, as llama.cpp's phi3 graph does.
 * See docs/internals/engine.md.
 */
#include "lm.h"

#include "alloc.h"
#include "joule_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct joule_lm_ctx {
    const struct joule_lm *m;
    int32_t n_ctx;              /* positions the cache holds */
    int32_t n_past;             /* positions filled */
    enum joule_lm_kv_type kv_type;
    float *k_cache;             /* [n_layer][n_ctx][kv_dim] */
    float *v_cache;             /* [n_layer][n_ctx][kv_dim] */
    /* Scratch, one token. */
    float *x;                   /* [d] residual stream */
    float *xn;                  /* [d] normed input of a sub-layer */
    float *qkv;                 /* [q_dim + 2 kv_dim]: q, then k, then v */
    float *att;                 /* [q_dim] attention output */
    float *proj;                /* [d] sub-layer output */
    float *ff;                  /* [2 f] gate, then up */
    float *hid;                 /* [f] silu(gate) * up */
    float *scores;              /* [n_ctx] attention weights of one head */
    float *rope;                /* [n_rot] cos, sin of each pair */
    float *act;                 /* [max(d, f, q_dim)] activation rounded to F16/BF16 */
    float *logits;              /* [n_vocab] */
    void *qact;                 /* activation quantized to Q8_0/Q8_1/Q8_K */
    void *block;                /* the one allocation all of the above point into */
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

/* Bytes of the largest quantized activation row of n elements. */
static size_t qact_bytes(int64_t n)
{
    static const enum joule_quant_type act_types[] = {JOULE_QUANT_Q8_0, JOULE_QUANT_Q8_1,
                                                      JOULE_QUANT_Q8_K};
    size_t best = 0, b;
    for (size_t i = 0; i < JOULE_ARRAY_LEN(act_types); i++)
        if (joule_quant_row_size(act_types[i], n, &b) && b > best)
            best = b;
    return best;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

enum joule_status joule_lm_ctx_open(const struct joule_lm *m, int32_t n_ctx,
                                    enum joule_lm_kv_type kv, struct joule_lm_ctx **out,
                                    char *err, size_t err_size)
{
    JOULE_ASSERT(m && out);
    *out = NULL;
    if (n_ctx < 1 || n_ctx > JOULE_LM_MAX_DIM) {
        joule_fmt(err, err_size, "n_ctx %d is out of range (1..%d)", n_ctx, JOULE_LM_MAX_DIM);
        return JOULE_ERR_INVALID;
    }
    if (kv != JOULE_LM_KV_F32) {
        joule_fmt(err, err_size, "only an F32 KV cache is implemented");
        return JOULE_ERR_UNSUPPORTED;
    }
    const struct joule_lm_hparams *hp = &m->hp;
    const size_t d = (size_t)hp->n_embd, f = (size_t)hp->n_ff;
    const size_t q_dim = (size_t)hp->n_head * (size_t)hp->head_dim;
    const size_t kv_dim = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
    const size_t n_act = (size_t)max64(max64((int64_t)d, (int64_t)f), (int64_t)q_dim);
    size_t cache_elems = 0;
    bool ok = joule_mul_size((size_t)hp->n_layer, (size_t)n_ctx, &cache_elems) &&
              joule_mul_size(cache_elems, kv_dim, &cache_elems);

    struct carve cv = {0, ok};
    size_t o_k = carve_take(&cv, cache_elems, sizeof(float));
    size_t o_v = carve_take(&cv, cache_elems, sizeof(float));
    size_t o_x = carve_take(&cv, d, sizeof(float));
    size_t o_xn = carve_take(&cv, d, sizeof(float));
    size_t o_qkv = carve_take(&cv, q_dim + 2 * kv_dim, sizeof(float));
    size_t o_att = carve_take(&cv, q_dim, sizeof(float));
    size_t o_proj = carve_take(&cv, d, sizeof(float));
    size_t o_ff = carve_take(&cv, 2 * f, sizeof(float));
    size_t o_hid = carve_take(&cv, f, sizeof(float));
    size_t o_sc = carve_take(&cv, (size_t)n_ctx, sizeof(float));
    size_t o_rope = carve_take(&cv, (size_t)hp->n_rot, sizeof(float));
    size_t o_act = carve_take(&cv, n_act, sizeof(float));
    size_t o_log = carve_take(&cv, (size_t)hp->n_vocab, sizeof(float));
    size_t n_qact = qact_bytes((int64_t)d);
    n_qact = qact_bytes((int64_t)f) > n_qact ? qact_bytes((int64_t)f) : n_qact;
    n_qact = qact_bytes((int64_t)q_dim) > n_qact ? qact_bytes((int64_t)q_dim) : n_qact;
    size_t o_q = carve_take(&cv, n_qact + 1, 1);
    if (!cv.ok) {
        joule_fmt(err, err_size, "run state for n_ctx %d is too large", n_ctx);
        return JOULE_ERR_INVALID;
    }
    struct joule_lm_ctx *c = calloc(1, sizeof(*c));
    uint8_t *b = calloc(1, cv.off);
    if (!c || !b) {
        free(c);
        free(b);
        joule_fmt(err, err_size, "out of memory for a run state of %zu bytes", cv.off);
        return JOULE_ERR_NOMEM;
    }
    c->m = m;
    c->n_ctx = n_ctx;
    c->kv_type = kv;
    c->block = b;
    c->k_cache = (float *)(void *)(b + o_k);
    c->v_cache = (float *)(void *)(b + o_v);
    c->x = (float *)(void *)(b + o_x);
    c->xn = (float *)(void *)(b + o_xn);
    c->qkv = (float *)(void *)(b + o_qkv);
    c->att = (float *)(void *)(b + o_att);
    c->proj = (float *)(void *)(b + o_proj);
    c->ff = (float *)(void *)(b + o_ff);
    c->hid = (float *)(void *)(b + o_hid);
    c->scores = (float *)(void *)(b + o_sc);
    c->rope = (float *)(void *)(b + o_rope);
    c->act = (float *)(void *)(b + o_act);
    c->logits = (float *)(void *)(b + o_log);
    c->qact = b + o_q;
    *out = c;
    return JOULE_OK;
}

void joule_lm_ctx_free(struct joule_lm_ctx *c)
{
    if (!c)
        return;
    free(c->block);
    free(c);
}

void joule_lm_ctx_reset(struct joule_lm_ctx *c)
{
    c->n_past = 0;
}

int32_t joule_lm_ctx_n_past(const struct joule_lm_ctx *c)
{
    return c->n_past;
}

int32_t joule_lm_ctx_n_ctx(const struct joule_lm_ctx *c)
{
    return c->n_ctx;
}

const struct joule_lm *joule_lm_ctx_model(const struct joule_lm_ctx *c)
{
    return c->m;
}

const float *joule_lm_ctx_logits(const struct joule_lm_ctx *c)
{
    return c->logits;
}

/* ---------------------------------------------------------------------------
 * Ops
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

/*
 * y[rows] = W x for a weight tensor W [n, rows] and x[n].  The activation
 * is converted first to the type llama.cpp pairs with W's type; the dot
 * products are the model module's reference kernels.
 */
static enum joule_status matvec(struct joule_lm_ctx *c, const struct joule_gguf_tensor *w,
                                const float *x, float *y)
{
    const int64_t n = w->ne[0];
    const void *a = x;
    switch (w->type) {
    case JOULE_QUANT_F32:
        break;
    case JOULE_QUANT_F16: /* ggml converts the activation to F16 (vec_dot_type F16) */
        for (int64_t i = 0; i < n; i++)
            c->act[i] = joule_fp16_to_f32(joule_fp16_from_f32(x[i]));
        a = c->act;
        break;
    case JOULE_QUANT_BF16: /* ... and to BF16 for BF16 weights */
        for (int64_t i = 0; i < n; i++)
            c->act[i] = joule_bf16_to_f32(joule_bf16_from_f32(x[i]));
        a = c->act;
        break;
    default: {
        const struct joule_quant_traits *tr = joule_quant_traits(w->type);
        if (!tr || joule_quant_quantize_row_ref(tr->vec_dot_type, x, c->qact, n) != JOULE_OK)
            return JOULE_ERR_FORMAT;
        a = c->qact;
        break;
    }
    }
    const uint8_t *row = w->data;
    for (int64_t r = 0; r < w->ne[1]; r++, row += w->row_bytes)
        if (joule_quant_vec_dot_ref(w->type, n, row, a, &y[r]) != JOULE_OK)
            return JOULE_ERR_FORMAT;
    return JOULE_OK;
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
static void rope_angles(struct joule_lm_ctx *c, int32_t pos)
{
    const struct joule_lm *m = c->m;
    const int32_t n_rot = m->hp.n_rot;
    const float theta_scale = powf(m->hp.rope_freq_base, -2.0f / (float)n_rot);
    /* llama.cpp uses the long factors when the context exceeds the original one. */
    const struct joule_gguf_tensor *fft =
        c->n_ctx > m->hp.n_ctx_orig && m->rope_long ? m->rope_long : m->rope_short;
    const float *ff = fft ? fft->data : NULL;
    float theta = (float)pos;
    for (int32_t i0 = 0; i0 < n_rot; i0 += 2) {
        const float t = ff ? theta / ff[i0 / 2] : theta;
        c->rope[i0] = cosf(t);
        c->rope[i0 + 1] = sinf(t);
        theta *= theta_scale;
    }
}

/* Rotates the first n_rot elements of each of n_heads heads in v. */
static void rope_apply(const struct joule_lm_ctx *c, float *v, int32_t n_heads)
{
    const struct joule_lm_hparams *hp = &c->m->hp;
    const int32_t n_rot = hp->n_rot, half = n_rot / 2;
    for (int32_t h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * (size_t)hp->head_dim;
        for (int32_t i0 = 0; i0 < n_rot; i0 += 2) {
            const float cs = c->rope[i0], sn = c->rope[i0 + 1];
            /* NORM rotates (i0, i0 + 1); NEOX rotates (i0/2, i0/2 + n_rot/2). */
            const int32_t a = hp->rope_type == JOULE_LM_ROPE_NORM ? i0 : i0 / 2;
            const int32_t b = hp->rope_type == JOULE_LM_ROPE_NORM ? i0 + 1 : i0 / 2 + half;
            const float x0 = x[a], x1 = x[b];
            x[a] = x0 * cs - x1 * sn;
            x[b] = x0 * sn + x1 * cs;
        }
    }
}

/* att[q_dim] = causal softmax(scale q.K) V over positions 0..pos of layer
 * il, with grouped-query heads (query head h reads KV head h / group). */
static void attention(struct joule_lm_ctx *c, int32_t il, int32_t pos, const float *q,
                      float kq_scale)
{
    const struct joule_lm_hparams *hp = &c->m->hp;
    const size_t hd = (size_t)hp->head_dim;
    const size_t kv_dim = (size_t)hp->n_head_kv * hd;
    const int32_t group = hp->n_head / hp->n_head_kv;
    const size_t layer_off = (size_t)il * (size_t)c->n_ctx * kv_dim;
    for (int32_t h = 0; h < hp->n_head; h++) {
        const float *qh = q + (size_t)h * hd;
        const size_t kv_off = layer_off + (size_t)(h / group) * hd;
        float mx = -INFINITY;
        for (int32_t t = 0; t <= pos; t++) {
            const float *kt = c->k_cache + kv_off + (size_t)t * kv_dim;
            float s = joule_vec_dot_f32_ref((int64_t)hd, qh, kt) * kq_scale;
            c->scores[t] = s;
            mx = s > mx ? s : mx;
        }
        double sum = 0.0;
        for (int32_t t = 0; t <= pos; t++) {
            c->scores[t] = expf(c->scores[t] - mx);
            sum += c->scores[t];
        }
        const float inv = (float)(1.0 / sum);
        float *out = c->att + (size_t)h * hd;
        memset(out, 0, hd * sizeof(float));
        for (int32_t t = 0; t <= pos; t++) {
            const float p = c->scores[t] * inv;
            const float *vt = c->v_cache + kv_off + (size_t)t * kv_dim;
            for (size_t i = 0; i < hd; i++)
                out[i] += p * vt[i];
        }
    }
}

static float silu(float x)
{
    return x / (1.0f + expf(-x));
}

/* The attention sub-layer of block il at position pos: c->x += attn(norm(x)). */
static enum joule_status attn_block(struct joule_lm_ctx *c, int32_t il, int32_t pos)
{
    const struct joule_lm *m = c->m;
    const struct joule_lm_hparams *hp = &m->hp;
    const struct joule_lm_layer *L = &m->layers[il];
    const size_t q_dim = (size_t)hp->n_head * (size_t)hp->head_dim;
    const size_t kv_dim = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
    float *q = c->qkv, *k = c->qkv + q_dim, *v = c->qkv + q_dim + kv_dim;
    enum joule_status st;

    rms_norm(c->xn, c->x, L->attn_norm->data, hp->n_embd, hp->rms_eps);
    if (L->wqkv) {
        if ((st = matvec(c, L->wqkv, c->xn, c->qkv)))
            return st;
    } else {
        if ((st = matvec(c, L->wq, c->xn, q)) || (st = matvec(c, L->wk, c->xn, k)) ||
            (st = matvec(c, L->wv, c->xn, v)))
            return st;
        add_bias(q, L->bq);
        add_bias(k, L->bk);
        add_bias(v, L->bv);
    }
    rope_apply(c, q, hp->n_head);
    rope_apply(c, k, hp->n_head_kv);
    float kq_scale = 1.0f / sqrtf((float)hp->head_dim);
    if (hp->arch == JOULE_LM_ARCH_PHI3) {
        for (size_t i = 0; i < q_dim; i++)
            q[i] *= kq_scale;
        kq_scale = 1.0f;
    }
    const size_t slot = ((size_t)il * (size_t)c->n_ctx + (size_t)pos) * kv_dim;
    memcpy(c->k_cache + slot, k, kv_dim * sizeof(float));
    memcpy(c->v_cache + slot, v, kv_dim * sizeof(float));
    attention(c, il, pos, q, kq_scale);
    if ((st = matvec(c, L->wo, c->att, c->proj)))
        return st;
    for (int32_t i = 0; i < hp->n_embd; i++)
        c->x[i] += c->proj[i];
    return JOULE_OK;
}

/* The SwiGLU FFN sub-layer of block il: c->x += down(silu(gate) * up). */
static enum joule_status ffn_block(struct joule_lm_ctx *c, int32_t il)
{
    const struct joule_lm_hparams *hp = &c->m->hp;
    const struct joule_lm_layer *L = &c->m->layers[il];
    const int32_t f = hp->n_ff;
    float *gate = c->ff, *up = c->ff + f;
    enum joule_status st;

    rms_norm(c->xn, c->x, L->ffn_norm->data, hp->n_embd, hp->rms_eps);
    if (L->w_gate) {
        if ((st = matvec(c, L->w_gate, c->xn, gate)) || (st = matvec(c, L->w_up, c->xn, up)))
            return st;
    } else if ((st = matvec(c, L->w_up, c->xn, c->ff))) { /* phi3: rows [gate | up] */
        return st;
    }
    for (int32_t i = 0; i < f; i++)
        c->hid[i] = silu(gate[i]) * up[i];
    if ((st = matvec(c, L->w_down, c->hid, c->proj)))
        return st;
    for (int32_t i = 0; i < hp->n_embd; i++)
        c->x[i] += c->proj[i];
    return JOULE_OK;
}

enum joule_status joule_lm_decode(struct joule_lm_ctx *c, int32_t token, bool want_logits)
{
    JOULE_ASSERT(c);
    const struct joule_lm *m = c->m;
    const struct joule_lm_hparams *hp = &m->hp;
    if (token < 0 || token >= hp->n_vocab || c->n_past >= c->n_ctx)
        return JOULE_ERR_INVALID;
    const int32_t pos = c->n_past;
    const struct joule_gguf_tensor *te = m->tok_embd;
    const uint8_t *row = (const uint8_t *)te->data + (size_t)token * te->row_bytes;
    if (joule_quant_dequantize_row_ref(te->type, row, c->x, hp->n_embd) != JOULE_OK)
        return JOULE_ERR_FORMAT;
    rope_angles(c, pos);
    enum joule_status st;
    for (int32_t il = 0; il < hp->n_layer; il++)
        if ((st = attn_block(c, il, pos)) || (st = ffn_block(c, il)))
            return st;
    c->n_past = pos + 1;
    if (!want_logits)
        return JOULE_OK;
    rms_norm(c->xn, c->x, m->output_norm->data, hp->n_embd, hp->rms_eps);
    if ((st = matvec(c, m->output, c->xn, c->logits)))
        return st;
    return JOULE_OK;
}

enum joule_status joule_lm_prefill(struct joule_lm_ctx *c, const int32_t *tokens, size_t n)
{
    JOULE_ASSERT(c);
    if (!tokens || n == 0 || n > (size_t)(c->n_ctx - c->n_past))
        return JOULE_ERR_INVALID;
    for (size_t i = 0; i < n; i++) {
        enum joule_status st = joule_lm_decode(c, tokens[i], i + 1 == n);
        if (st != JOULE_OK)
            return st;
    }
    return JOULE_OK;
}
