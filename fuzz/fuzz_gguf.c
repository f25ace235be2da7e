/*
 * fuzz_gguf.c - libFuzzer target for the GGUF reader.
 *
 * Opens the input with joule_gguf_open_buffer() (no filesystem), and when it
 * is accepted walks every key, every value (arrays recursively, typed
 * getters on each element) and every tensor, dequantizing its first and
 * last rows.  Anything the reader accepted must be safe to walk (ASan and
 * UBSan turn any out-of-bounds read into a crash), and must survive a copy
 * through the writer (joule_gguf_writer_set_value) and a second read.
 *
 * Build (clang): -fsanitize=fuzzer,address,undefined with src/model/gguf.c, quant.c and
 * src/common/{util,alloc,fileio}.c; any driver that calls
 * LLVMFuzzerTestOneInput on the files of fuzz/corpus/gguf/ replays the corpus.
 */
#include "model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads every scalar in v (and its elements) so the sanitizers see each byte. */
static uint64_t walk_value(const struct joule_gguf_value *v, int depth)
{
    uint64_t acc = 0, u = 0;
    double d = 0;
    const char *s = NULL;
    size_t len = 0;
    bool b = false;
    if (depth > JOULE_GGUF_MAX_DEPTH + 1)
        abort(); /* the reader promised a depth limit */
    switch (v->type) {
    case JOULE_GGUF_TYPE_STRING:
        if (joule_gguf_value_str(v, &s, &len) == JOULE_OK)
            for (size_t i = 0; i < len; i++)
                acc += (unsigned char)s[i];
        break;
    case JOULE_GGUF_TYPE_BOOL:
        if (joule_gguf_value_bool(v, &b) == JOULE_OK)
            acc += b;
        break;
    case JOULE_GGUF_TYPE_ARRAY: {
        uint64_t n = joule_gguf_array_len(v);
        for (uint64_t i = 0; i < n; i++) {
            struct joule_gguf_value e;
            if (joule_gguf_array_get(v, i, &e) != JOULE_OK)
                abort();
            acc += walk_value(&e, depth + 1);
        }
        break;
    }
    default:
        if (joule_gguf_value_uint(v, &u) == JOULE_OK)
            acc += u;
        if (joule_gguf_value_number(v, &d) == JOULE_OK && d == d)
            acc += (uint64_t)(d != 0);
        break;
    }
    return acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct joule_gguf *g = NULL;
    char err[512];
    if (joule_gguf_open_buffer(data, size, &g, err, sizeof(err)) != JOULE_OK)
        return 0;
    volatile uint64_t sink = 0;
    for (uint64_t i = 0; i < joule_gguf_kv_count(g); i++) {
        const char *key = joule_gguf_key(g, i);
        if (joule_gguf_find_key(g, key) != (int64_t)i)
            abort(); /* keys are unique and findable */
        sink += walk_value(joule_gguf_kv_value(g, i), 0);
    }
    float row[4096];
    for (uint64_t i = 0; i < joule_gguf_tensor_count(g); i++) {
        const struct joule_gguf_tensor *t = joule_gguf_tensor_at(g, i);
        if (joule_gguf_find_tensor(g, t->name) != t)
            abort();
        if (t->n_rows == 0 || t->ne[0] > 4096)
            continue;
        const uint8_t *p = t->data;
        int64_t last = t->n_rows - 1;
        if (joule_quant_dequantize_row_ref(t->type, p, row, t->ne[0]) == JOULE_OK)
            sink += (uint64_t)(row[0] == row[0]);
        if (joule_quant_dequantize_row_ref(t->type, p + (size_t)last * t->row_bytes, row,
                                           t->ne[0]) == JOULE_OK)
            sink += (uint64_t)(row[0] == row[0]);
    }
    (void)sink;

    /* what was accepted can be copied into a writer and read back (not for
     * huge alignments: the copy would pad its data section to 2 GiB) */
    if (joule_gguf_alignment(g) > 4096) {
        joule_gguf_close(g);
        return 0;
    }
    struct joule_gguf_writer *w = NULL;
    if (joule_gguf_writer_open(&w) != JOULE_OK)
        abort();
    bool ok = true;
    for (uint64_t i = 0; i < joule_gguf_kv_count(g) && ok; i++)
        ok = joule_gguf_writer_set_value(w, joule_gguf_key(g, i), joule_gguf_kv_value(g, i)) ==
             JOULE_OK;
    for (uint64_t i = 0; i < joule_gguf_tensor_count(g) && ok; i++) {
        const struct joule_gguf_tensor *t = joule_gguf_tensor_at(g, i);
        ok = joule_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data,
                                          t->nbytes) == JOULE_OK;
    }
    uint8_t *copy = NULL;
    size_t copy_size = 0;
    if (!ok || joule_gguf_writer_write_buffer(w, &copy, &copy_size) != JOULE_OK)
        abort();
    struct joule_gguf *g2 = NULL;
    enum joule_status st = joule_gguf_open_buffer(copy, copy_size, &g2, err, sizeof(err));
    /* below 4-byte alignment the copy may place an F32 tensor at an odd address */
    if (st != JOULE_OK && joule_gguf_alignment(g) >= 4)
        abort();
    if (g2 && (joule_gguf_kv_count(g2) != joule_gguf_kv_count(g) ||
               joule_gguf_tensor_count(g2) != joule_gguf_tensor_count(g)))
        abort();
    joule_gguf_close(g2);
    free(copy);
    joule_gguf_writer_close(w);
    joule_gguf_close(g);
    return 0;
}
