/*
 * synth.c - joule_model_synth: a GGUF model of a real shape with seeded
 * random weights and a synthetic vocabulary, written tensor by tensor.
 *
 * Weights: an approximate normal (the sum of four 16-bit uniforms, scaled
 * to std 0.02) from a counter-based generator (splitmix64 of seed, tensor
 * and element index), so any thread can make any row and the result does
 * not depend on the thread count.  Norm weights are 1 + that noise.
 */
#include "model_int.h"

#include "alloc.h"
#include "joule_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEIGHT_STD 0.02
#define MIN_VOCAB 300u

struct shape {
    const char *name, *arch;
    uint32_t embd, layer, head, head_kv, ff, vocab, ctx;
    double rope_base, eps;
    int tied;
    const char *tok, *pre;
};

/* From the published config.json of each model (docs/cli/joule-model.md). */
static const struct shape shapes[] = {
    /* llama2.c's stories15M: small enough for a demo run in seconds. */
    {"stories15m", "llama", 288, 6, 6, 6, 768, 32000, 256, 10000.0, 1e-5, 1, "spm", NULL},
    {"smollm-135m", "llama", 576, 30, 9, 3, 1536, 49152, 2048, 10000.0, 1e-5, 1, "bpe",
     "smollm"},
    {"tinyllama-1.1b", "llama", 2048, 22, 32, 4, 5632, 32000, 2048, 10000.0, 1e-5, 0, "spm",
     NULL},
    {"llama-3.2-1b", "llama", 2048, 16, 32, 8, 8192, 128256, 131072, 500000.0, 1e-5, 1, "bpe",
     "llama-bpe"},
    {"qwen2-1.5b", "qwen2", 1536, 28, 12, 2, 8960, 151936, 131072, 1000000.0, 1e-6, 1, "bpe",
     "qwen2"},
    {"phi-3-mini", "phi3", 3072, 32, 32, 32, 8192, 32064, 4096, 10000.0, 1e-5, 0, "spm", NULL},
    {"qwen2.5-7b", "qwen2", 3584, 28, 28, 4, 18944, 152064, 131072, 1000000.0, 1e-6, 0, "bpe",
     "qwen2"},
    {"mistral-7b", "llama", 4096, 32, 32, 8, 14336, 32000, 32768, 10000.0, 1e-5, 0, "spm", NULL},
    {"llama-3-8b", "llama", 4096, 32, 32, 8, 14336, 128256, 8192, 500000.0, 1e-5, 0, "bpe",
     "llama-bpe"},
};

struct joule_synth_params joule_synth_default_params(void)
{
    struct joule_synth_params p = {
        .arch = "llama", .name = NULL, .n_embd = 288, .n_layer = 6, .n_head = 6,
        .n_head_kv = 6, .n_ff = 768, .n_vocab = 32000, .n_ctx = 256, .rope_freq_base = 10000.0,
        .norm_eps = 1e-5, .tied_output = 1, .tokenizer = "spm", .tokenizer_pre = NULL,
        .type = "f32", .seed = 0, .n_threads = 1,
    };
    return p;
}

const char *joule_synth_shape_name(size_t i)
{
    return i < JOULE_ARRAY_LEN(shapes) ? shapes[i].name : NULL;
}

enum joule_status joule_synth_shape(const char *name, struct joule_synth_params *p)
{
    if (!name || !p)
        return JOULE_ERR_INVALID;
    for (size_t i = 0; i < JOULE_ARRAY_LEN(shapes); i++) {
        const struct shape *s = &shapes[i];
        if (strcmp(s->name, name) != 0)
            continue;
        p->arch = s->arch;
        p->name = s->name;
        p->n_embd = s->embd;
        p->n_layer = s->layer;
        p->n_head = s->head;
        p->n_head_kv = s->head_kv;
        p->n_ff = s->ff;
        p->n_vocab = s->vocab;
        p->n_ctx = s->ctx;
        p->rope_freq_base = s->rope_base;
        p->norm_eps = s->eps;
        p->tied_output = s->tied;
        p->tokenizer = s->tok;
        p->tokenizer_pre = s->pre;
        return JOULE_OK;
    }
    return JOULE_ERR_NOT_FOUND;
}

/* ---------------------------------------------------------------------------
 * Random numbers
 */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

/* How a tensor's values are made. */
struct gen {
    uint64_t seed;   /* of this tensor */
    int64_t ne0;
    float mean;      /* 1 for norm weights, else 0 */
    float scale;     /* std / std of the sum of four uniforms */
};

static void gen_row(void *ctx, int64_t row, float *out)
{
    const struct gen *g = ctx;
    uint64_t base = g->seed + (uint64_t)row * (uint64_t)g->ne0;
    for (int64_t i = 0; i < g->ne0; i++) {
        uint64_t r = splitmix64(base + (uint64_t)i);
        /* four 16-bit uniforms: mean 4 * 32767.5, std 65536 / sqrt(3) */
        int64_t s = (int64_t)(r & 0xffff) + (int64_t)((r >> 16) & 0xffff) +
                    (int64_t)((r >> 32) & 0xffff) + (int64_t)(r >> 48) - 131070;
        out[i] = g->mean + (float)s * g->scale;
    }
}

/* ---------------------------------------------------------------------------
 * Vocabulary
 */

enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_BYTE = 6 };

struct vocab_build {
    char **tokens;     /* n NUL-terminated strings, one allocation each */
    float *scores;
    int32_t *types;
    char **merges;     /* BPE */
    size_t n, n_merges;
    uint32_t bos, eos, unk;
    bool has_unk;
};

static void vocab_build_free(struct vocab_build *v)
{
    for (size_t i = 0; v->tokens && i < v->n; i++)
        free(v->tokens[i]);
    for (size_t i = 0; v->merges && i < v->n_merges; i++)
        free(v->merges[i]);
    free(v->tokens);
    free(v->scores);
    free(v->types);
    free(v->merges);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static bool add_token(struct vocab_build *v, const char *text, int32_t type)
{
    char *t = dup_str(text);
    if (!t)
        return false;
    v->tokens[v->n] = t;
    v->types[v->n] = type;
    v->scores[v->n] = -(float)v->n;
    v->n++;
    return true;
}

/* Word number k over 'a'..'z' of length len, into w (len + 1 bytes). */
static void word(uint64_t k, unsigned len, char *w)
{
    for (unsigned i = len; i-- > 0; k /= 26)
        w[i] = (char)('a' + k % 26);
    w[len] = '\0';
}

/* SentencePiece: <unk> <s> </s>, 256 byte tokens, then letters and words,
 * each also with the "▁" (U+2581) word-start marker. */
static bool build_spm(struct vocab_build *v, size_t n_vocab)
{
    static const char *const special[] = {"<unk>", "<s>", "</s>"};
    for (size_t i = 0; i < 3; i++)
        if (!add_token(v, special[i], i == 0 ? TOK_UNKNOWN : TOK_CONTROL))
            return false;
    char buf[64];
    for (unsigned b = 0; b < 256; b++) {
        joule_fmt(buf, sizeof(buf), "<0x%02X>", b);
        if (!add_token(v, buf, TOK_BYTE))
            return false;
    }
    if (!add_token(v, "\xe2\x96\x81", TOK_NORMAL))
        return false;
    char w[16];
    for (unsigned len = 1; v->n < n_vocab && len < 8; len++) {
        uint64_t count = 1;
        for (unsigned i = 0; i < len; i++)
            count *= 26;
        for (uint64_t k = 0; k < count && v->n < n_vocab; k++) {
            word(k, len, w);
            joule_fmt(buf, sizeof(buf), "\xe2\x96\x81%s", w);
            if (!add_token(v, w, TOK_NORMAL) || (v->n < n_vocab && !add_token(v, buf, TOK_NORMAL)))
                return false;
        }
    }
    v->unk = 0;
    v->bos = 1;
    v->eos = 2;
    v->has_unk = true;
    return true;
}

/* GPT-2's byte-to-character map: printable Latin-1 bytes stand for
 * themselves, the others for U+0100 upwards.  Writes UTF-8 into out[3]. */
static void byte_char(unsigned b, char *out)
{
    bool self = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
    unsigned cp;
    if (self) {
        cp = b;
    } else {
        unsigned k = 0; /* rank of b among the bytes that are not themselves */
        for (unsigned x = 0; x < b; x++)
            if (!((x >= 0x21 && x <= 0x7e) || (x >= 0xa1 && x <= 0xac) || (x >= 0xae)))
                k++;
        cp = 0x100 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = '\0';
    } else {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        out[2] = '\0';
    }
}

static bool add_merge(struct vocab_build *v, const char *left, const char *right)
{
    char buf[80];
    joule_fmt(buf, sizeof(buf), "%s %s", left, right);
    char *m = dup_str(buf);
    if (!m)
        return false;
    v->merges[v->n_merges++] = m;
    return true;
}

/* Byte-level BPE: the 256 byte characters, then words built one letter at
 * a time by merges (with and without the leading "Ġ" space), then three
 * special tokens at the end. */
static bool build_bpe(struct vocab_build *v, size_t n_vocab)
{
    static const char *const special[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    size_t n_normal = n_vocab - JOULE_ARRAY_LEN(special);
    char c[4], w[16], left[32], tok[32];
    for (unsigned b = 0; b < 256; b++) {
        byte_char(b, c);
        if (!add_token(v, c, TOK_NORMAL))
            return false;
    }
    const char *space = "\xc4\xa0"; /* Ġ, the byte 0x20 */
    for (unsigned len = 1; v->n < n_normal && len < 8; len++) {
        uint64_t count = 1;
        for (unsigned i = 0; i < len; i++)
            count *= 26;
        for (uint64_t k = 0; k < count && v->n < n_normal; k++) {
            word(k, len, w);
            char last[2] = {w[len - 1], '\0'};
            if (len >= 2) { /* "ab" from "a" + "b" */
                memcpy(left, w, len - 1);
                left[len - 1] = '\0';
                if (!add_merge(v, left, last) || !add_token(v, w, TOK_NORMAL))
                    return false;
            }
            if (v->n >= n_normal)
                break;
            /* "Ġab" from "Ġa" + "b" */
            joule_fmt(left, sizeof(left), "%s%.*s", space, (int)(len - 1), w);
            joule_fmt(tok, sizeof(tok), "%s%s", space, w);
            if (!add_merge(v, left, last) || !add_token(v, tok, TOK_NORMAL))
                return false;
        }
    }
    for (size_t i = 0; i < JOULE_ARRAY_LEN(special); i++)
        if (!add_token(v, special[i], TOK_CONTROL))
            return false;
    v->bos = v->eos = (uint32_t)n_normal;
    v->has_unk = false;
    return true;
}

static enum joule_status build_vocab(struct vocab_build *v, bool bpe, size_t n_vocab)
{
    memset(v, 0, sizeof(*v));
    v->tokens = joule_calloc(n_vocab, sizeof(char *));
    v->scores = joule_calloc(n_vocab, sizeof(float));
    v->types = joule_calloc(n_vocab, sizeof(int32_t));
    v->merges = bpe ? joule_calloc(n_vocab, sizeof(char *)) : NULL;
    if (!v->tokens || !v->scores || !v->types || (bpe && !v->merges))
        return JOULE_ERR_NOMEM;
    bool ok = bpe ? build_bpe(v, n_vocab) : build_spm(v, n_vocab);
    if (!ok)
        return JOULE_ERR_NOMEM;
    JOULE_ASSERT(v->n == n_vocab);
    return JOULE_OK;
}

/* ---------------------------------------------------------------------------
 * The model
 */

struct synth_tensor {
    char name[64];
    uint32_t n_dims;
    int64_t ne[2];
    struct gen gen;
    struct model_encoder enc;
};

struct synth {
    const struct joule_synth_params *p;
    struct model_ftype ft;
    struct synth_tensor *t;
    size_t n_t;
};

static void add_synth_tensor(struct synth *s, const char *name, int64_t ne0, int64_t ne1,
                             float mean)
{
    struct synth_tensor *t = &s->t[s->n_t++];
    joule_strlcpy(t->name, name, sizeof(t->name));
    t->n_dims = ne1 > 1 ? 2 : 1;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->gen.seed = splitmix64(s->p->seed ^ hash_name(name));
    t->gen.ne0 = ne0;
    t->gen.mean = mean;
    t->gen.scale = (float)(WEIGHT_STD * sqrt(3.0) / 65536.0);
    enum joule_quant_type type = model_tensor_type(&s->ft, name, t->n_dims, ne0,
                                                   s->p->n_layer, !s->p->tied_output);
    size_t row_bytes = 0;
    joule_quant_row_size(type, ne0, &row_bytes);
    t->enc = (struct model_encoder){type, ne0, row_bytes, s->p->n_threads, s->ft.int8, gen_row, &t->gen};
}

static void layer_tensors(struct synth *s, uint32_t l)
{
    const struct joule_synth_params *p = s->p;
    int64_t d = p->n_embd, f = p->n_ff, kv = (int64_t)p->n_embd / p->n_head * p->n_head_kv;
    bool phi3 = strcmp(p->arch, "phi3") == 0, qwen2 = strcmp(p->arch, "qwen2") == 0;
    char n[64];
#define T(suffix, ne0, ne1, mean)                                 \
    do {                                                          \
        joule_fmt(n, sizeof(n), "blk.%u.%s", (unsigned)l, suffix); \
        add_synth_tensor(s, n, ne0, ne1, mean);                   \
    } while (0)
    T("attn_norm.weight", d, 1, 1.0f);
    if (phi3) {
        T("attn_qkv.weight", d, d + 2 * kv, 0.0f);
    } else {
        T("attn_q.weight", d, d, 0.0f);
        T("attn_k.weight", d, kv, 0.0f);
        T("attn_v.weight", d, kv, 0.0f);
        if (qwen2) {
            T("attn_q.bias", d, 1, 0.0f);
            T("attn_k.bias", kv, 1, 0.0f);
            T("attn_v.bias", kv, 1, 0.0f);
        }
    }
    T("attn_output.weight", d, d, 0.0f);
    T("ffn_norm.weight", d, 1, 1.0f);
    if (phi3) {
        T("ffn_up.weight", d, 2 * f, 0.0f);
    } else {
        T("ffn_gate.weight", d, f, 0.0f);
        T("ffn_up.weight", d, f, 0.0f);
    }
    T("ffn_down.weight", f, d, 0.0f);
#undef T
}

static enum joule_status check_params(const struct joule_synth_params *p, struct model_ftype *ft,
                                      char *err, size_t err_size)
{
    if (!p->arch || (strcmp(p->arch, "llama") != 0 && strcmp(p->arch, "qwen2") != 0 &&
                     strcmp(p->arch, "phi3") != 0)) {
        joule_fmt(err, err_size, "unknown architecture '%s' (expected llama, qwen2 or phi3)",
                  p->arch ? p->arch : "(null)");
        return JOULE_ERR_INVALID;
    }
    if (!p->type || model_ftype_from_name(p->type, ft) != JOULE_OK) {
        joule_fmt(err, err_size, "unknown type '%s' (expected %s)", p->type ? p->type : "(null)",
                  model_ftype_names());
        return JOULE_ERR_INVALID;
    }
    if (!p->tokenizer || (strcmp(p->tokenizer, "spm") != 0 && strcmp(p->tokenizer, "bpe") != 0)) {
        joule_fmt(err, err_size, "unknown tokenizer '%s' (expected spm or bpe)",
                  p->tokenizer ? p->tokenizer : "(null)");
        return JOULE_ERR_INVALID;
    }
    if (p->n_embd == 0 || p->n_embd % 32 != 0 || p->n_embd > 65536 || p->n_head == 0 ||
        p->n_embd % p->n_head != 0 || p->n_head_kv == 0 || p->n_head % p->n_head_kv != 0 ||
        (p->n_embd / p->n_head) % 2 != 0) {
        joule_fmt(err, err_size, "dim %u, heads %u, kv-heads %u: dim must be a multiple of 32 "
                  "and of heads (even head size), heads a multiple of kv-heads",
                  p->n_embd, p->n_head, p->n_head_kv);
        return JOULE_ERR_INVALID;
    }
    if (p->n_ff == 0 || p->n_ff % 32 != 0 || p->n_ff > 1u << 20) {
        joule_fmt(err, err_size, "ffn %u: must be a positive multiple of 32", p->n_ff);
        return JOULE_ERR_INVALID;
    }
    if (p->n_layer == 0 || p->n_layer > 1024 || p->n_ctx == 0) {
        joule_fmt(err, err_size, "layers %u, ctx %u: both must be positive (layers <= 1024)",
                  p->n_layer, p->n_ctx);
        return JOULE_ERR_INVALID;
    }
    if (p->n_vocab < MIN_VOCAB || p->n_vocab > 1u << 22) {
        joule_fmt(err, err_size, "vocab %u: must be %u .. %u", p->n_vocab, MIN_VOCAB, 1u << 22);
        return JOULE_ERR_INVALID;
    }
    if (!(p->norm_eps > 0) || !(p->rope_freq_base > 0)) {
        joule_fmt(err, err_size, "norm epsilon and RoPE base must be positive");
        return JOULE_ERR_INVALID;
    }
    return JOULE_OK;
}

static const char *default_pre(const char *arch)
{
    if (strcmp(arch, "qwen2") == 0)
        return "qwen2";
    if (strcmp(arch, "llama") == 0)
        return "llama-bpe";
    return "gpt-2";
}

/* Metadata: general.*, <arch>.*, tokenizer.ggml.*. */
static enum joule_status put_metadata(struct joule_gguf_writer *w,
                                      const struct joule_synth_params *p,
                                      const struct model_ftype *ft, const struct vocab_build *v)
{
    char key[96], name[128];
    const char *a = p->arch;
    bool bpe = strcmp(p->tokenizer, "bpe") == 0;
    enum joule_status st = JOULE_OK;
#define KEY(suffix) (joule_fmt(key, sizeof(key), "%s.%s", a, suffix), key)
#define PUT(call)                   \
    do {                            \
        if (st == JOULE_OK)         \
            st = (call);            \
    } while (0)
    if (p->name)
        joule_fmt(name, sizeof(name), "synthetic %s", p->name);
    else
        joule_fmt(name, sizeof(name), "synthetic %s", a);
    PUT(joule_gguf_writer_set_str(w, "general.architecture", a));
    PUT(joule_gguf_writer_set_str(w, "general.name", name));
    PUT(joule_gguf_writer_set_str(w, "general.description",
                                  "random weights (seeded normal, std 0.02; norms near 1) made by "
                                  "joule model synth: for benchmarking a shape, not for use"));
    PUT(joule_gguf_writer_set_u32(w, "general.file_type", ft->file_type));
    PUT(joule_gguf_writer_set_u32(w, "general.quantization_version", 2));
    PUT(joule_gguf_writer_set_u32(w, KEY("context_length"), p->n_ctx));
    PUT(joule_gguf_writer_set_u32(w, KEY("embedding_length"), p->n_embd));
    PUT(joule_gguf_writer_set_u32(w, KEY("block_count"), p->n_layer));
    PUT(joule_gguf_writer_set_u32(w, KEY("feed_forward_length"), p->n_ff));
    PUT(joule_gguf_writer_set_u32(w, KEY("attention.head_count"), p->n_head));
    PUT(joule_gguf_writer_set_u32(w, KEY("attention.head_count_kv"), p->n_head_kv));
    PUT(joule_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"),
                                  (float)p->norm_eps));
    PUT(joule_gguf_writer_set_u32(w, KEY("rope.dimension_count"), p->n_embd / p->n_head));
    PUT(joule_gguf_writer_set_f32(w, KEY("rope.freq_base"), (float)p->rope_freq_base));
    PUT(joule_gguf_writer_set_u32(w, KEY("vocab_size"), p->n_vocab));
    const char *pre = bpe ? (p->tokenizer_pre ? p->tokenizer_pre : default_pre(a)) : "default";
    PUT(joule_gguf_writer_set_str(w, "tokenizer.ggml.model", bpe ? "gpt2" : "llama"));
    PUT(joule_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre));
    PUT(joule_gguf_writer_set_array(w, "tokenizer.ggml.tokens", JOULE_GGUF_TYPE_STRING,
                                    v->tokens, v->n));
    if (!bpe)
        PUT(joule_gguf_writer_set_array(w, "tokenizer.ggml.scores", JOULE_GGUF_TYPE_FLOAT32,
                                        v->scores, v->n));
    PUT(joule_gguf_writer_set_array(w, "tokenizer.ggml.token_type", JOULE_GGUF_TYPE_INT32,
                                    v->types, v->n));
    if (bpe)
        PUT(joule_gguf_writer_set_array(w, "tokenizer.ggml.merges", JOULE_GGUF_TYPE_STRING,
                                        v->merges, v->n_merges));
    PUT(joule_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", v->bos));
    PUT(joule_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", v->eos));
    if (v->has_unk)
        PUT(joule_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", v->unk));
    bool add_bos = !bpe || strcmp(pre, "llama-bpe") == 0;
    PUT(joule_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", add_bos));
    PUT(joule_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false));
#undef PUT
#undef KEY
    return st;
}

enum joule_status joule_model_synth(const struct joule_synth_params *p, const char *path,
                                    char *err, size_t err_size)
{
    if (!p || !path) {
        joule_fmt(err, err_size, "no parameters or no output path");
        return JOULE_ERR_INVALID;
    }
    struct synth s = {p, {0}, NULL, 0};
    enum joule_status st = check_params(p, &s.ft, err, err_size);
    if (st != JOULE_OK)
        return st;
    size_t per_layer = 12, total = 4 + (size_t)p->n_layer * per_layer;
    s.t = joule_calloc(total, sizeof(*s.t));
    struct vocab_build v = {0};
    struct joule_gguf_writer *w = NULL;
    if (!s.t) {
        joule_fmt(err, err_size, "%s: out of memory", path);
        st = JOULE_ERR_NOMEM;
        goto done;
    }
    int64_t d = p->n_embd;
    add_synth_tensor(&s, "token_embd.weight", d, p->n_vocab, 0.0f);
    for (uint32_t l = 0; l < p->n_layer; l++)
        layer_tensors(&s, l);
    add_synth_tensor(&s, "output_norm.weight", d, 1, 1.0f);
    if (!p->tied_output)
        add_synth_tensor(&s, "output.weight", d, p->n_vocab, 0.0f);
    JOULE_ASSERT(s.n_t <= total);

    st = build_vocab(&v, strcmp(p->tokenizer, "bpe") == 0, p->n_vocab);
    if (st == JOULE_OK)
        st = joule_gguf_writer_open(&w);
    if (st == JOULE_OK)
        st = put_metadata(w, p, &s.ft, &v);
    for (size_t i = 0; st == JOULE_OK && i < s.n_t; i++) {
        struct synth_tensor *t = &s.t[i];
        st = joule_gguf_writer_add_tensor_fn(w, t->name, t->enc.type, t->n_dims, t->ne,
                                             model_encode_rows, &t->enc);
    }
    if (st != JOULE_OK) {
        joule_fmt(err, err_size, "%s: %s", path,
                  w && *joule_gguf_writer_errmsg(w) ? joule_gguf_writer_errmsg(w)
                                                    : joule_status_str(st));
        goto done;
    }
    st = joule_gguf_writer_write(w, path, err, err_size);
done:
    joule_gguf_writer_close(w);
    vocab_build_free(&v);
    free(s.t);
    return st;
}
