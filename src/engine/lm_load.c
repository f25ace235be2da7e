/*
 * lm_load.c - hyper-parameters and weight views of a llama / qwen2 / phi3
 * GGUF file, with every tensor's presence, type and shape checked.
 *
 * Key names and tensor shapes follow llama.cpp (llama-model.cpp); see
 * shared/research/gguf-conventions.md.  Shapes are in ggml order
 * ne = [cols, rows].
 */
#define _DEFAULT_SOURCE 1 /* MAP_ANONYMOUS, madvise */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lm.h"

#include "alloc.h"
#include "joule_int.h"
#include "kernels.h"
#include "pack.h"

const char *joule_lm_arch_name(enum joule_lm_arch arch)
{
    switch (arch) {
    case JOULE_LM_ARCH_LLAMA: return "llama";
    case JOULE_LM_ARCH_QWEN2: return "qwen2";
    case JOULE_LM_ARCH_PHI3: return "phi3";
    }
    return "unknown";
}

/* ---------------------------------------------------------------------------
 * Keys
 */

/* "<arch>.<suffix>" into key[size]. */
static void arch_key(char *key, size_t size, enum joule_lm_arch arch, const char *suffix)
{
    joule_fmt(key, size, "%s.%s", joule_lm_arch_name(arch), suffix);
}

/* An integer key in 1 .. JOULE_LM_MAX_DIM.  Absent: *out = def when
 * def > 0, else an error.  Arrays (per-layer values) are unsupported. */
static enum joule_status get_dim(const struct joule_gguf *g, enum joule_lm_arch arch,
                                 const char *suffix, int32_t def, int32_t *out, char *err,
                                 size_t err_size)
{
    char key[128];
    arch_key(key, sizeof(key), arch, suffix);
    int64_t i = joule_gguf_find_key(g, key);
    if (i < 0) {
        if (def > 0) {
            *out = def;
            return JOULE_OK;
        }
        joule_fmt(err, err_size, "key '%s' is missing", key);
        return JOULE_ERR_FORMAT;
    }
    const struct joule_gguf_value *v = joule_gguf_kv_value(g, (uint64_t)i);
    if (v->type == JOULE_GGUF_TYPE_ARRAY) {
        joule_fmt(err, err_size, "key '%s' is a per-layer array (not supported yet)", key);
        return JOULE_ERR_UNSUPPORTED;
    }
    uint64_t u;
    if (joule_gguf_value_uint(v, &u) != JOULE_OK || u < 1 || u > JOULE_LM_MAX_DIM) {
        joule_fmt(err, err_size, "key '%s' is not an integer in 1..%d", key, JOULE_LM_MAX_DIM);
        return JOULE_ERR_FORMAT;
    }
    *out = (int32_t)u;
    return JOULE_OK;
}

/* A positive finite float key, or def when absent. */
static enum joule_status get_pos_float(const struct joule_gguf *g, enum joule_lm_arch arch,
                                       const char *suffix, float def, float *out, char *err,
                                       size_t err_size)
{
    char key[128];
    arch_key(key, sizeof(key), arch, suffix);
    int64_t i = joule_gguf_find_key(g, key);
    if (i < 0) {
        *out = def;
        return JOULE_OK;
    }
    double d;
    if (joule_gguf_value_number(joule_gguf_kv_value(g, (uint64_t)i), &d) != JOULE_OK ||
        !(d > 0.0 && d < 1e30)) {
        joule_fmt(err, err_size, "key '%s' is not a positive number", key);
        return JOULE_ERR_FORMAT;
    }
    *out = (float)d;
    return JOULE_OK;
}

static enum joule_status read_arch(const struct joule_gguf *g, enum joule_lm_arch *arch,
                                   char *err, size_t err_size)
{
    const char *s;
    size_t len;
    enum joule_status st = joule_gguf_get_str(g, "general.architecture", &s, &len);
    if (st != JOULE_OK) {
        joule_fmt(err, err_size, "key 'general.architecture' is %s",
                  st == JOULE_ERR_NOT_FOUND ? "missing" : "not a string");
        return JOULE_ERR_FORMAT;
    }
    static const enum joule_lm_arch known[] = {JOULE_LM_ARCH_LLAMA, JOULE_LM_ARCH_QWEN2,
                                               JOULE_LM_ARCH_PHI3};
    for (size_t i = 0; i < JOULE_ARRAY_LEN(known); i++) {
        const char *name = joule_lm_arch_name(known[i]);
        if (strlen(name) == len && memcmp(name, s, len) == 0) {
            *arch = known[i];
            return JOULE_OK;
        }
    }
    joule_fmt(err, err_size, "architecture '%.*s' is not supported (supported: llama, qwen2, phi3)",
              (int)(len < 64 ? len : 64), s);
    return JOULE_ERR_UNSUPPORTED;
}

static enum joule_status read_hparams(const struct joule_gguf *g, struct joule_lm_hparams *hp,
                                      char *err, size_t err_size)
{
    enum joule_status st = read_arch(g, &hp->arch, err, err_size);
    if (st != JOULE_OK)
        return st;
    enum joule_lm_arch a = hp->arch;
    hp->rope_type = a == JOULE_LM_ARCH_LLAMA ? JOULE_LM_ROPE_NORM : JOULE_LM_ROPE_NEOX;
    if ((st = get_dim(g, a, "embedding_length", 0, &hp->n_embd, err, err_size)) ||
        (st = get_dim(g, a, "block_count", 0, &hp->n_layer, err, err_size)) ||
        (st = get_dim(g, a, "context_length", 0, &hp->n_ctx_train, err, err_size)) ||
        (st = get_dim(g, a, "feed_forward_length", 0, &hp->n_ff, err, err_size)) ||
        (st = get_dim(g, a, "attention.head_count", 0, &hp->n_head, err, err_size)) ||
        (st = get_dim(g, a, "attention.head_count_kv", hp->n_head, &hp->n_head_kv, err,
                      err_size)))
        return st;
    if (hp->n_embd % hp->n_head != 0) {
        joule_fmt(err, err_size, "n_embd %d is not a multiple of head_count %d", hp->n_embd,
                  hp->n_head);
        return JOULE_ERR_FORMAT;
    }
    if ((st = get_dim(g, a, "attention.key_length", hp->n_embd / hp->n_head, &hp->head_dim,
                      err, err_size)))
        return st;
    int32_t v_len;
    if ((st = get_dim(g, a, "attention.value_length", hp->head_dim, &v_len, err, err_size)))
        return st;
    if (v_len != hp->head_dim) {
        joule_fmt(err, err_size, "value_length %d differs from key_length %d (not supported)",
                  v_len, hp->head_dim);
        return JOULE_ERR_UNSUPPORTED;
    }
    if (hp->n_head % hp->n_head_kv != 0) {
        joule_fmt(err, err_size, "head_count %d is not a multiple of head_count_kv %d",
                  hp->n_head, hp->n_head_kv);
        return JOULE_ERR_FORMAT;
    }
    if ((int64_t)hp->n_head * hp->head_dim > JOULE_LM_MAX_DIM) {
        joule_fmt(err, err_size, "head_count x key_length is too large");
        return JOULE_ERR_FORMAT;
    }
    if ((st = get_dim(g, a, "rope.dimension_count", hp->head_dim, &hp->n_rot, err, err_size)))
        return st;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0 ||
        (a == JOULE_LM_ARCH_LLAMA && hp->n_rot != hp->head_dim)) {
        joule_fmt(err, err_size, "rope.dimension_count %d is not valid for head_dim %d (%s)",
                  hp->n_rot, hp->head_dim,
                  a == JOULE_LM_ARCH_LLAMA ? "llama needs them equal" : "even, <= head_dim");
        return JOULE_ERR_FORMAT;
    }
    if ((st = get_dim(g, a, "rope.scaling.original_context_length", hp->n_ctx_train,
                      &hp->n_ctx_orig, err, err_size)))
        return st;
    if ((st = get_pos_float(g, a, "rope.freq_base", 10000.0f, &hp->rope_freq_base, err,
                            err_size)))
        return st;
    char key[128];
    arch_key(key, sizeof(key), a, "attention.layer_norm_rms_epsilon");
    if (joule_gguf_find_key(g, key) < 0) {
        joule_fmt(err, err_size, "key '%s' is missing", key);
        return JOULE_ERR_FORMAT;
    }
    return get_pos_float(g, a, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->rms_eps, err,
                         err_size);
}

/* ---------------------------------------------------------------------------
 * Tensors
 */

enum tensor_kind {
    TENSOR_VECTOR, /* norms, biases, rope factors: F32 */
    TENSOR_MATRIX, /* weights: any type with reference kernels */
};

static void fmt_shape(char *buf, size_t size, uint32_t n_dims, const int64_t *ne)
{
    if (n_dims == 1)
        joule_fmt(buf, size, "[%" PRId64 "]", ne[0]);
    else if (n_dims == 2)
        joule_fmt(buf, size, "[%" PRId64 ", %" PRId64 "]", ne[0], ne[1]);
    else if (n_dims == 3)
        joule_fmt(buf, size, "[%" PRId64 ", %" PRId64 ", %" PRId64 "]", ne[0], ne[1], ne[2]);
    else
        joule_fmt(buf, size, "[%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "]", ne[0],
                  ne[1], ne[2], ne[3]);
}

/*
 * The tensor `name` (ne0 columns, ne1 rows; ne1 == 0 for a vector) checked
 * for type and shape.  Absent: *out = NULL, an error unless optional.
 */
static enum joule_status get_tensor(const struct joule_gguf *g, const char *name,
                                    enum tensor_kind kind, int64_t ne0, int64_t ne1,
                                    bool optional, const struct joule_gguf_tensor **out,
                                    char *err, size_t err_size)
{
    const struct joule_gguf_tensor *t = joule_gguf_find_tensor(g, name);
    *out = NULL;
    const int64_t want[2] = {ne0, ne1};
    uint32_t want_dims = kind == TENSOR_VECTOR ? 1 : 2;
    char want_s[96], have_s[96];
    fmt_shape(want_s, sizeof(want_s), want_dims, want);
    if (!t) {
        if (optional)
            return JOULE_OK;
        joule_fmt(err, err_size, "tensor '%s' is missing (expected shape %s)", name, want_s);
        return JOULE_ERR_FORMAT;
    }
    if (t->n_dims != want_dims || t->ne[0] != ne0 || (want_dims == 2 && t->ne[1] != ne1)) {
        fmt_shape(have_s, sizeof(have_s), t->n_dims, t->ne);
        joule_fmt(err, err_size, "tensor '%s' has shape %s (expected %s)", name, have_s, want_s);
        return JOULE_ERR_FORMAT;
    }
    if (kind == TENSOR_VECTOR && t->type != JOULE_QUANT_F32) {
        joule_fmt(err, err_size, "tensor '%s' has type %s (expected F32)", name,
                  joule_quant_name(t->type));
        return JOULE_ERR_FORMAT;
    }
    const struct joule_quant_traits *tr = joule_quant_traits(t->type);
    if (kind == TENSOR_MATRIX &&
        (!tr || !tr->has_ref || t->type == JOULE_QUANT_Q8_1 || t->type == JOULE_QUANT_Q8_K)) {
        joule_fmt(err, err_size,
                  "tensor '%s' has type %s, which the engine cannot multiply yet "
                  "(supported: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K)",
                  name, joule_quant_name(t->type));
        return JOULE_ERR_UNSUPPORTED;
    }
    if (!t->data) {
        joule_fmt(err, err_size, "tensor '%s' has no data", name);
        return JOULE_ERR_FORMAT;
    }
    *out = t;
    return JOULE_OK;
}

/* get_tensor for "blk.<il>.<suffix>". */
static enum joule_status get_blk(const struct joule_gguf *g, int32_t il, const char *suffix,
                                 enum tensor_kind kind, int64_t ne0, int64_t ne1,
                                 bool optional, const struct joule_gguf_tensor **out, char *err,
                                 size_t err_size)
{
    char name[JOULE_GGUF_NAME_MAX + 1];
    joule_fmt(name, sizeof(name), "blk.%d.%s", (int)il, suffix);
    return get_tensor(g, name, kind, ne0, ne1, optional, out, err, err_size);
}

static enum joule_status load_layer(const struct joule_gguf *g, const struct joule_lm_hparams *hp,
                                    int32_t il, struct joule_lm_layer *L, char *err,
                                    size_t err_size)
{
    const int64_t d = hp->n_embd, f = hp->n_ff;
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim;
    const int64_t kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    enum joule_status st;
    if ((st = get_blk(g, il, "attn_norm.weight", TENSOR_VECTOR, d, 0, false, &L->attn_norm, err,
                      err_size)) ||
        (st = get_blk(g, il, "attn_output.weight", TENSOR_MATRIX, q_dim, d, false, &L->wo, err,
                      err_size)) ||
        (st = get_blk(g, il, "ffn_norm.weight", TENSOR_VECTOR, d, 0, false, &L->ffn_norm, err,
                      err_size)) ||
        (st = get_blk(g, il, "ffn_down.weight", TENSOR_MATRIX, f, d, false, &L->w_down, err,
                      err_size)))
        return st;
    if (hp->arch == JOULE_LM_ARCH_PHI3) {
        if ((st = get_blk(g, il, "attn_qkv.weight", TENSOR_MATRIX, d, q_dim + 2 * kv_dim, false,
                          &L->wqkv, err, err_size)) ||
            (st = get_blk(g, il, "ffn_up.weight", TENSOR_MATRIX, d, 2 * f, false, &L->w_up, err,
                          err_size)))
            return st;
        return JOULE_OK;
    }
    if ((st = get_blk(g, il, "attn_q.weight", TENSOR_MATRIX, d, q_dim, false, &L->wq, err,
                      err_size)) ||
        (st = get_blk(g, il, "attn_k.weight", TENSOR_MATRIX, d, kv_dim, false, &L->wk, err,
                      err_size)) ||
        (st = get_blk(g, il, "attn_v.weight", TENSOR_MATRIX, d, kv_dim, false, &L->wv, err,
                      err_size)) ||
        (st = get_blk(g, il, "ffn_gate.weight", TENSOR_MATRIX, d, f, false, &L->w_gate, err,
                      err_size)) ||
        (st = get_blk(g, il, "ffn_up.weight", TENSOR_MATRIX, d, f, false, &L->w_up, err,
                      err_size)))
        return st;
    if (hp->arch == JOULE_LM_ARCH_QWEN2) {
        /* Optional in llama.cpp; real Qwen2 files have all three. */
        if ((st = get_blk(g, il, "attn_q.bias", TENSOR_VECTOR, q_dim, 0, true, &L->bq, err,
                          err_size)) ||
            (st = get_blk(g, il, "attn_k.bias", TENSOR_VECTOR, kv_dim, 0, true, &L->bk, err,
                          err_size)) ||
            (st = get_blk(g, il, "attn_v.bias", TENSOR_VECTOR, kv_dim, 0, true, &L->bv, err,
                          err_size)))
            return st;
    }
    return JOULE_OK;
}

static enum joule_status load_tensors(const struct joule_gguf *g, struct joule_lm *m, char *err,
                                      size_t err_size)
{
    struct joule_lm_hparams *hp = &m->hp;
    const int64_t d = hp->n_embd;
    enum joule_status st;
    const struct joule_gguf_tensor *te = joule_gguf_find_tensor(g, "token_embd.weight");
    if (!te || te->n_dims != 2 || te->ne[1] < 1 || te->ne[1] > JOULE_LM_MAX_DIM) {
        joule_fmt(err, err_size, "tensor 'token_embd.weight' is %s (expected shape [%" PRId64
                  ", n_vocab])", te ? "malformed" : "missing", d);
        return JOULE_ERR_FORMAT;
    }
    hp->n_vocab = (int32_t)te->ne[1];
    /* <arch>.vocab_size is optional in llama.cpp; token_embd decides. */
    if ((st = get_tensor(g, "token_embd.weight", TENSOR_MATRIX, d, hp->n_vocab, false,
                         &m->tok_embd, err, err_size)) ||
        (st = get_tensor(g, "output_norm.weight", TENSOR_VECTOR, d, 0, false, &m->output_norm,
                         err, err_size)) ||
        (st = get_tensor(g, "output.weight", TENSOR_MATRIX, d, hp->n_vocab, true, &m->output,
                         err, err_size)))
        return st;
    m->tied = m->output == NULL;
    if (m->tied)
        m->output = m->tok_embd;
    if (hp->arch == JOULE_LM_ARCH_PHI3) {
        if ((st = get_tensor(g, "rope_factors_short.weight", TENSOR_VECTOR, hp->n_rot / 2, 0,
                             true, &m->rope_short, err, err_size)) ||
            (st = get_tensor(g, "rope_factors_long.weight", TENSOR_VECTOR, hp->n_rot / 2, 0,
                             true, &m->rope_long, err, err_size)))
            return st;
    }
    m->layers = joule_calloc((size_t)hp->n_layer, sizeof(*m->layers));
    if (!m->layers) {
        joule_fmt(err, err_size, "out of memory for %d layers", hp->n_layer);
        return JOULE_ERR_NOMEM;
    }
    for (int32_t il = 0; il < hp->n_layer; il++)
        if ((st = load_layer(g, hp, il, &m->layers[il], err, err_size)))
            return st;
    return JOULE_OK;
}

/* ---------------------------------------------------------------------------
 * Packing (pack.h)
 */

/* The matrices worth packing: types the best kernels read packed, at least
 * one group of rows.  The tied output is token_embd, whose rows the
 * embedding lookup reads row-major: never packed. */
static bool worth_packing(const struct joule_gguf_tensor *w, const struct joule_kernels *k)
{
    return w && w->type < JOULE_QUANT_ID_LIMIT && k->pack_fast[w->type] &&
           joule_pack_has_layout(w->type) && w->ne[1] >= JOULE_PACK_ROWS;
}

/* Every matrix slot of m a product reads (not token_embd). */
static size_t matrix_slots(struct joule_lm *m, const struct joule_gguf_tensor ***slots)
{
    size_t n = 0;
    if (!m->tied)
        slots[n++] = &m->output;
    for (int32_t il = 0; il < m->hp.n_layer; il++) {
        struct joule_lm_layer *L = &m->layers[il];
        const struct joule_gguf_tensor **mats[] = {&L->wq, &L->wk, &L->wv, &L->wqkv,
                                                   &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < JOULE_ARRAY_LEN(mats); i++)
            slots[n++] = mats[i];
    }
    return n;
}

/* Drops the whole pages of [p, p + n) of a private file mapping from this
 * process (they are read again from the file if ever touched). */
static void drop_pages(const void *p, size_t n)
{
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    const uintptr_t hi = ((uintptr_t)p + n) & ~(page - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static enum joule_status repack(struct joule_lm *m, char *err, size_t err_size)
{
    struct joule_kernels k;
    joule_kernels_select(&k, JOULE_ISA_AVX512);
    const size_t n_slots = 1 + 8 * (size_t)m->hp.n_layer;
    const struct joule_gguf_tensor ***slots = joule_calloc(n_slots, sizeof(*slots));
    if (!slots) {
        joule_fmt(err, err_size, "out of memory");
        return JOULE_ERR_NOMEM;
    }
    const size_t n = matrix_slots(m, slots);
    size_t bytes = 0;
    int32_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (worth_packing(*slots[i], &k)) {
            bytes += ((*slots[i])->nbytes + 63) & ~(size_t)63;
            count++;
        }
    if (count == 0) {
        free(slots);
        return JOULE_OK;
    }
    m->packed = joule_calloc((size_t)count, sizeof(*m->packed));
    void *buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!m->packed || buf == MAP_FAILED) {
        free(slots);
        joule_fmt(err, err_size, "out of memory for %zu bytes of packed weights", bytes);
        return JOULE_ERR_NOMEM;
    }
#ifdef MADV_HUGEPAGE
    madvise(buf, bytes, MADV_HUGEPAGE); /* fewer TLB misses streaming the weights */
#endif
    m->pack_buf = buf;
    m->pack_bytes = bytes;
    uint8_t *dst = buf;
    const bool drop = joule_gguf_is_file_mapped(m->g);
    for (size_t i = 0; i < n; i++) {
        const struct joule_gguf_tensor *w = *slots[i];
        if (!worth_packing(w, &k))
            continue;
        struct joule_gguf_tensor *t = &m->packed[m->n_packed++];
        *t = *w;
        const int64_t groups = w->ne[1] / JOULE_PACK_ROWS;
        const size_t group_bytes = JOULE_PACK_ROWS * w->row_bytes;
        for (int64_t gi = 0; gi < groups; gi++)
            joule_pack_group(w->type, w->ne[0], (const uint8_t *)w->data + gi * group_bytes,
                             w->row_bytes, dst + gi * group_bytes);
        memcpy(dst + groups * group_bytes, (const uint8_t *)w->data + groups * group_bytes,
               w->nbytes - groups * group_bytes);
        t->data = dst;
        if (drop)
            drop_pages(w->data, w->nbytes);
        dst += (w->nbytes + 63) & ~(size_t)63;
        *slots[i] = t;
    }
    free(slots);
    return JOULE_OK;
}

int64_t joule_lm_packed_rows(const struct joule_lm *m, const struct joule_gguf_tensor *w)
{
    if (m->n_packed == 0 || w < m->packed || w >= m->packed + m->n_packed)
        return 0;
    return w->ne[1] / JOULE_PACK_ROWS * JOULE_PACK_ROWS;
}

enum joule_status joule_lm_load(const struct joule_gguf *g, struct joule_lm **out, char *err,
                                size_t err_size)
{
    return joule_lm_load_ex(g, 0, out, err, err_size);
}

enum joule_status joule_lm_load_ex(const struct joule_gguf *g, unsigned flags,
                                   struct joule_lm **out, char *err, size_t err_size)
{
    JOULE_ASSERT(g && out);
    *out = NULL;
    struct joule_lm *m = calloc(1, sizeof(*m));
    if (!m) {
        joule_fmt(err, err_size, "out of memory");
        return JOULE_ERR_NOMEM;
    }
    m->g = g;
    enum joule_status st = read_hparams(g, &m->hp, err, err_size);
    if (st == JOULE_OK)
        st = load_tensors(g, m, err, err_size);
    if (st == JOULE_OK && !(flags & JOULE_LM_NO_REPACK))
        st = repack(m, err, err_size);
    if (st != JOULE_OK) {
        joule_lm_free(m);
        return st;
    }
    *out = m;
    return JOULE_OK;
}

void joule_lm_free(struct joule_lm *m)
{
    if (!m)
        return;
    free(m->layers);
    free(m->packed);
    if (m->pack_buf)
        munmap(m->pack_buf, m->pack_bytes);
    free(m);
}
