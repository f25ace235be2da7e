/*
 * quantize.c - joule_model_quantize: re-encode a GGUF model's tensors as
 * another type, keeping its metadata.  Rows are decoded to f32 and encoded
 * again with the reference kernels, tensor by tensor while the output is
 * written.
 */
#include "model_int.h"

#include "alloc.h"
#include "joule_int.h"

#include <stdlib.h>
#include <string.h>

struct source {
    const struct joule_gguf_tensor *t;
};

static void decode_row(void *ctx, int64_t row, float *out)
{
    const struct source *s = ctx;
    const uint8_t *p = (const uint8_t *)s->t->data + (size_t)row * s->t->row_bytes;
    /* The type was checked to have kernels before the write started. */
    enum joule_status st = joule_quant_dequantize_row_ref(s->t->type, p, out, s->t->ne[0]);
    JOULE_ASSERT(st == JOULE_OK);
}

/* The block count the recipe needs: <arch>.block_count, else 0. */
static int64_t block_count(const struct joule_gguf *g)
{
    const char *arch;
    size_t len;
    uint32_t n = 0;
    char key[96];
    if (joule_gguf_get_str(g, "general.architecture", &arch, &len) != JOULE_OK || len > 64)
        return 0;
    joule_fmt(key, sizeof(key), "%.*s.block_count", (int)len, arch);
    return joule_gguf_get_u32(g, key, &n) == JOULE_OK ? n : 0;
}

enum joule_status joule_model_quantize(const char *in_path, const char *out_path,
                                       const char *type, uint32_t n_threads, char *err,
                                       size_t err_size)
{
    if (!in_path || !out_path || !type) {
        joule_fmt(err, err_size, "no input, output or type");
        return JOULE_ERR_INVALID;
    }
    struct model_ftype ft;
    if (model_ftype_from_name(type, &ft) != JOULE_OK) {
        joule_fmt(err, err_size, "unknown type '%s' (expected %s)", type, model_ftype_names());
        return JOULE_ERR_INVALID;
    }
    struct joule_gguf *g = NULL;
    enum joule_status st = joule_gguf_open_file(in_path, &g, err, err_size);
    if (st != JOULE_OK)
        return st;
    uint64_t n_t = joule_gguf_tensor_count(g);
    struct source *src = joule_calloc(n_t ? n_t : 1, sizeof(*src));
    struct model_encoder *enc = joule_calloc(n_t ? n_t : 1, sizeof(*enc));
    struct joule_gguf_writer *w = NULL;
    if (!src || !enc || joule_gguf_writer_open(&w) != JOULE_OK) {
        joule_fmt(err, err_size, "%s: out of memory", in_path);
        st = JOULE_ERR_NOMEM;
        goto done;
    }
    /* Keys in their order; general.file_type gets the new type in place. */
    for (uint64_t i = 0; st == JOULE_OK && i < joule_gguf_kv_count(g); i++) {
        const char *key = joule_gguf_key(g, i);
        if (strcmp(key, "general.file_type") == 0)
            st = joule_gguf_writer_set_u32(w, key, ft.file_type);
        else
            st = joule_gguf_writer_set_value(w, key, joule_gguf_kv_value(g, i));
    }
    if (st == JOULE_OK && joule_gguf_find_key(g, "general.file_type") < 0)
        st = joule_gguf_writer_set_u32(w, "general.file_type", ft.file_type);
    if (st == JOULE_OK && joule_gguf_find_key(g, "general.quantization_version") < 0)
        st = joule_gguf_writer_set_u32(w, "general.quantization_version", 2);
    if (st != JOULE_OK) {
        joule_fmt(err, err_size, "%s: %s", out_path, joule_gguf_writer_errmsg(w));
        goto done;
    }
    int64_t n_layer = block_count(g);
    bool has_output = joule_gguf_find_tensor(g, "output.weight") != NULL;
    for (uint64_t i = 0; i < n_t; i++) {
        const struct joule_gguf_tensor *t = joule_gguf_tensor_at(g, i);
        const struct joule_quant_traits *tr = joule_quant_traits(t->type);
        if (!tr || !tr->has_ref) {
            joule_fmt(err, err_size, "%s: tensor '%s' has type %s, which joule cannot decode",
                      in_path, t->name, joule_quant_name(t->type));
            st = JOULE_ERR_UNSUPPORTED;
            goto done;
        }
        /* A matrix is any tensor with more than one row. */
        uint32_t dims = t->n_rows > 1 ? 2 : 1;
        enum joule_quant_type to = model_tensor_type(&ft, t->name, dims, t->ne[0], n_layer,
                                                     has_output);
        size_t row_bytes = 0;
        joule_quant_row_size(to, t->ne[0], &row_bytes);
        src[i].t = t;
        enc[i] = (struct model_encoder){to, t->ne[0], row_bytes, n_threads, ft.int8,
                                        decode_row, &src[i]};
        st = joule_gguf_writer_add_tensor_fn(w, t->name, to, t->n_dims, t->ne, model_encode_rows,
                                             &enc[i]);
        if (st != JOULE_OK) {
            joule_fmt(err, err_size, "%s: %s", out_path, joule_gguf_writer_errmsg(w));
            goto done;
        }
    }
    st = joule_gguf_writer_write(w, out_path, err, err_size);
done:
    joule_gguf_writer_close(w);
    free(enc);
    free(src);
    joule_gguf_close(g);
    return st;
}
