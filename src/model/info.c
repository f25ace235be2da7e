/*
 * info.c - joule_model_inspect: what a GGUF model file holds, from its
 * metadata and tensor table alone (no tensor data is read).
 */
#include "model.h"
#include "joule_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *joule_type_name(uint32_t type)
{
    return joule_quant_name(type);
}

/* Copy string key `key` into dst[size] ("" when absent or not a string). */
static void get_str(const struct joule_gguf *g, const char *key, char *dst, size_t size)
{
    const char *s;
    size_t len;
    dst[0] = '\0';
    if (joule_gguf_get_str(g, key, &s, &len) != JOULE_OK)
        return;
    if (len >= size)
        len = size - 1;
    memcpy(dst, s, len);
    dst[len] = '\0';
}

/* A numeric key; for a per-layer array, its first element.  NAN when absent. */
static double get_num(const struct joule_gguf *g, const char *arch, const char *suffix)
{
    char key[160];
    joule_fmt(key, sizeof(key), "%s.%s", arch, suffix);
    int64_t i = joule_gguf_find_key(g, key);
    if (i < 0)
        return NAN;
    const struct joule_gguf_value *v = joule_gguf_kv_value(g, (uint64_t)i);
    struct joule_gguf_value first;
    if (v->type == JOULE_GGUF_TYPE_ARRAY) {
        if (joule_gguf_array_get(v, 0, &first) != JOULE_OK)
            return NAN;
        v = &first;
    }
    double d;
    return joule_gguf_value_number(v, &d) == JOULE_OK ? d : NAN;
}

static uint32_t as_u32(double d)
{
    return isfinite(d) && d >= 0 && d <= 4294967295.0 ? (uint32_t)d : 0;
}

static int64_t get_id(const struct joule_gguf *g, const char *key)
{
    int64_t i = joule_gguf_find_key(g, key);
    uint64_t v;
    if (i < 0 || joule_gguf_value_uint(joule_gguf_kv_value(g, (uint64_t)i), &v) != JOULE_OK ||
        v > INT64_MAX)
        return -1;
    return (int64_t)v;
}

static int32_t get_flag(const struct joule_gguf *g, const char *key)
{
    bool b;
    return joule_gguf_get_bool(g, key, &b) == JOULE_OK ? (b ? 1 : 0) : -1;
}

enum joule_status joule_model_inspect(const char *path, struct joule_model_info *out, char *err,
                                      size_t err_size)
{
    if (!path || !out)
        return JOULE_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    struct joule_gguf *g = NULL;
    enum joule_status s = joule_gguf_open_file(path, &g, err, err_size);
    if (s != JOULE_OK)
        return s;

    get_str(g, "general.architecture", out->arch, sizeof(out->arch));
    get_str(g, "general.name", out->name, sizeof(out->name));
    out->gguf_version = joule_gguf_version(g);
    out->file_bytes = joule_gguf_file_size(g);
    out->file_type = get_id(g, "general.file_type");

    const char *a = out->arch;
    out->n_ctx = as_u32(get_num(g, a, "context_length"));
    out->n_embd = as_u32(get_num(g, a, "embedding_length"));
    out->n_layer = as_u32(get_num(g, a, "block_count"));
    out->n_ff = as_u32(get_num(g, a, "feed_forward_length"));
    out->n_head = as_u32(get_num(g, a, "attention.head_count"));
    double kv = get_num(g, a, "attention.head_count_kv");
    out->n_head_kv = isfinite(kv) ? as_u32(kv) : out->n_head;
    out->head_dim = out->n_head ? out->n_embd / out->n_head : 0;
    double key_len = get_num(g, a, "attention.key_length");
    if (isfinite(key_len))
        out->head_dim = as_u32(key_len);
    double rot = get_num(g, a, "rope.dimension_count");
    out->n_rot = isfinite(rot) ? as_u32(rot) : out->head_dim;
    double base = get_num(g, a, "rope.freq_base");
    out->rope_freq_base = isfinite(base) ? base : 10000.0; /* the GGUF default */
    char key[160];
    joule_fmt(key, sizeof(key), "%s.rope.scaling.type", a);
    get_str(g, key, out->rope_scaling, sizeof(out->rope_scaling));
    if (!out->rope_scaling[0])
        joule_strlcpy(out->rope_scaling, "none", sizeof(out->rope_scaling));
    out->rope_scaling_factor = get_num(g, a, "rope.scaling.factor");
    out->norm_eps = get_num(g, a, "attention.layer_norm_rms_epsilon");
    if (!isfinite(out->norm_eps))
        out->norm_eps = get_num(g, a, "attention.layer_norm_epsilon");

    get_str(g, "tokenizer.ggml.model", out->tokenizer, sizeof(out->tokenizer));
    get_str(g, "tokenizer.ggml.pre", out->tokenizer_pre, sizeof(out->tokenizer_pre));
    int64_t ti = joule_gguf_find_key(g, "tokenizer.ggml.tokens");
    if (ti >= 0) {
        uint64_t n = joule_gguf_array_len(joule_gguf_kv_value(g, (uint64_t)ti));
        out->n_vocab = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    }
    out->bos_id = get_id(g, "tokenizer.ggml.bos_token_id");
    out->eos_id = get_id(g, "tokenizer.ggml.eos_token_id");
    out->unk_id = get_id(g, "tokenizer.ggml.unknown_token_id");
    out->pad_id = get_id(g, "tokenizer.ggml.padding_token_id");
    out->add_bos = get_flag(g, "tokenizer.ggml.add_bos_token");
    out->add_eos = get_flag(g, "tokenizer.ggml.add_eos_token");
    out->has_chat_template = joule_gguf_find_key(g, "tokenizer.chat_template") >= 0;

    uint64_t nt = joule_gguf_tensor_count(g);
    out->n_tensors = nt > UINT32_MAX ? UINT32_MAX : (uint32_t)nt;
    for (uint64_t i = 0; i < nt; i++) {
        const struct joule_gguf_tensor *t = joule_gguf_tensor_at(g, i);
        out->n_params += (uint64_t)t->n_elements;
        out->tensor_bytes += t->nbytes;
        if ((uint32_t)t->type < JOULE_TYPE_LIMIT) {
            out->type_tensors[t->type]++;
            out->type_params[t->type] += (uint64_t)t->n_elements;
            out->type_bytes[t->type] += t->nbytes;
        }
    }
    out->bits_per_weight =
        out->n_params ? 8.0 * (double)out->tensor_bytes / (double)out->n_params : NAN;
    out->tied_output = nt > 0 && !joule_gguf_find_tensor(g, "output.weight");
    joule_gguf_close(g);
    return JOULE_OK;
}
